#!/usr/bin/env python3
"""The hostile tenant of tests/bench/memory.py --soak, run as an
unprivileged user: JIT processes whose perf maps are what an attacker
would leave (a million entries, 255 MiB without a newline, a FIFO, a
symlink to a file it cannot read), restarted every round so the agent
meets them again and again, and a burst of short processes each round.

    hostile-tenant.py JIT_SPIN_BINARY SECONDS_PER_ROUND

Runs until killed. Prints nothing; every file it makes is under /tmp and
removed at the next round.
"""
import os
import signal
import subprocess
import sys
import time


def write_map(path, kind, addr, symlink_to="/etc/shadow"):
    """A hostile perf map for the JIT code at addr (tests/integration/test_hostile.py
    writes its maps with this too): a FIFO, a symlink to a file the
    tenant cannot read, a million entries with the JIT's own code last
    (the agent reads on until its bound stops it), or 255 MiB without a
    newline."""
    if kind == "fifo":
        os.mkfifo(path, 0o644)
    elif kind == "symlink":
        os.symlink(symlink_to, path)
    elif kind == "huge":
        with open(path, "w") as f:
            f.writelines(f"{0x100000000 + i * 0x40:x} 40 hostile_function_{i}\n"
                         for i in range(1_000_000))
            f.write(f"{addr:x} 100 jit_code\n")
    elif kind == "nonewline":
        with open(path, "wb") as f:
            chunk = b"x" * (1 << 20)
            for _ in range(255):
                f.write(chunk)


def main():
    jit, period = sys.argv[1], float(sys.argv[2])
    kinds = ["huge", "huge", "huge", "huge", "nonewline", "fifo", "symlink"]
    while True:
        procs = []
        for kind in kinds:
            p = subprocess.Popen([jit, str(period)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 text=True)
            addr = int(p.stdout.readline().split()[1], 16)
            path = f"/tmp/perf-{p.pid}.map"
            try:
                write_map(path, kind, addr)
            except OSError:
                pass
            p.stdin.write("go\n")
            p.stdin.flush()
            procs.append((p, path))
        end = time.time() + period
        while time.time() < end:
            # a burst of short processes: new images, new mappings
            for _ in range(20):
                subprocess.run(["/bin/true"])
            time.sleep(0.5)
        for p, path in procs:
            p.send_signal(signal.SIGKILL)
            p.wait()
            try:
                os.unlink(path)
            except OSError:
                pass


if __name__ == "__main__":
    main()
