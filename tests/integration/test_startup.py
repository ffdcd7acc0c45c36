"""No gap at a process's start: hundreds of short processes (startup_spin,
~50 ms each, half in their own code and half in a shared library's, no
frame pointers) are whole-stacked and named from their first samples,
library frames included, although each has exited long before the drain
that reads its samples. Prints how long after its exec each process's
code had its tables (from the agent's debug log)."""
import os
import re
import subprocess
import time

from harness import (BRASA, TMP, WORKLOADS, check, complete_from_main, integration_test, parse_folded,
                     print_top)

PROCESSES = 300
OWN = ["main", "startup_own_spin"]
LIB = ["main", "startup_lib_spin"]


def percentiles(values):
    v = sorted(values)
    if not v:
        return "none"
    pick = lambda q: v[min(len(v) - 1, int(q * len(v)))]
    return (f"n={len(v)} min {v[0]:.1f} p50 {pick(0.5):.1f} p90 {pick(0.9):.1f} "
            f"p99 {pick(0.99):.1f} max {v[-1]:.1f} ms")


def load_latencies(log, pids):
    """Per process: ms from its exec to its first mapping table, and to
    the first one with as many mappings as it ever had (its libraries)."""
    loads = {}
    for m in re.finditer(r"process (\d+): (\d+) executable mappings loaded ([\d.]+) ms", log):
        pid, n, ms = int(m.group(1)), int(m.group(2)), float(m.group(3))
        if pid in pids:
            loads.setdefault(pid, []).append((n, ms))
    first = [l[0][1] for l in loads.values()]
    full = [next(ms for n, ms in l if n == max(k for k, _ in l)) for l in loads.values()]
    return first, full, len(loads)


@integration_test(plain=True, timeout=240)
def t_startup_short_processes():
    out = os.path.join(TMP, "startup.folded")
    err_path = os.path.join(TMP, "startup.log")
    spin = os.path.join(WORKLOADS, "startup_spin")
    with open(err_path, "w") as err:
        cap = subprocess.Popen([BRASA, "capture", "--seconds", "40", "--format", "folded",
                                "--log-level", "debug", "-o", out], stdout=err, stderr=err)
        # loading and verifying the BPF programs
        time.sleep(3)
        pids, t0 = set(), time.time()
        for _ in range(PROCESSES):
            p = subprocess.Popen([spin, "50"])
            pids.add(p.pid)
            p.wait()
        spent = time.time() - t0
        cap.wait(timeout=120)
    log = open(err_path).read()
    check(cap.returncode == 0, f"capture succeeded ({log[-500:]})")
    stacks = [(f, c) for f, c in parse_folded(open(out).read()) if f[0] == "startup_spin"]
    total = sum(c for _, c in stacks)
    whole = sum(c for f, c in stacks if complete_from_main(f) in (OWN, LIB))
    lib = sum(c for f, c in stacks if "startup_lib_spin" in f)
    lib_whole = sum(c for f, c in stacks if complete_from_main(f) == LIB)
    # a library frame left unnamed shows as its address (or the library's name)
    unnamed = sum(c for f, c in stacks
                  if any(re.match(r"^(0x[0-9a-f]+|.*\.so[.\d]*(\+0x[0-9a-f]+)?)$", x) for x in f[1:]))
    print(f"{PROCESSES} processes in {spent:.1f} s; {total} samples, "
          f"{whole} whole ({100 * whole / max(total, 1):.1f} %), "
          f"{lib} in the library ({lib_whole} whole), {unnamed} with an unnamed frame")
    bad = [(f, c) for f, c in stacks if complete_from_main(f) not in (OWN, LIB)]
    print("not whole:")
    print_top(bad, 8)
    print("with an unnamed frame:")
    print_top([(f, c) for f, c in stacks
               if any(re.match(r"^(0x[0-9a-f]+|.*\.so[.\d]*(\+0x[0-9a-f]+)?)$", x) for x in f[1:])], 8)
    for what in ("queued", "ran", "completed"):
        v = [float(x) for x in re.findall(what + r" ([\d.]+) ms", log)]
        print(f"reads of processes, {what}: {percentiles(v)}")
    first, full, seen = load_latencies(log, pids)
    print(f"processes with a logged table: {seen}/{PROCESSES}")
    print(f"exec -> first mapping table (program, ld.so): {percentiles(first)}")
    print(f"exec -> mapping table with every library: {percentiles(full)}")
    check(total >= PROCESSES * 2, f"enough samples ({total}, ~5 a process)")
    check(lib >= 0.3 * total, f"about half of them in the library ({lib}/{total})")
    check(unnamed == 0, f"every library frame named ({unnamed} samples with an unnamed frame)")
    check(whole >= 0.99 * total,
          f"at least 99 % whole from _start to the leaf ({whole}/{total}, "
          f"{100 * whole / max(total, 1):.1f} %)")
