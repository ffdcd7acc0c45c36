#!/usr/bin/env python3
"""Resident memory of `brasa run` over time under a realistic node load.

The load (issue 9, acceptance 1): one `xz -9` loop that never stops, a few
short processes a second (gzip, ls, python3: new images, new mappings,
new objects to symbolize), and a client that scrapes a 15 s whole-host
profile in a loop, as a continuous-profiling scraper would. The agent's
RSS (anonymous and file-backed), the symbolizer's cache and the kernel
memory of its BPF maps are sampled every few seconds.

With --soak the load adds what a hostile tenant on the node does
(issue 9, acceptance 4): heavy process churn, many live processes, JIT
processes owned by `nobody` with oversized perf maps (a million entries,
a map without newlines, a FIFO, a symlink to a root-only file) and large
binaries mapped by many processes.

Not a timed test: prints figures and PASS/MISS against the bound; exits 0
when it ran, whatever the figures, and 1 only when something failed to run.

    sudo tests/bench/memory.py [--minutes 30] [--warmup 5] [--bound-mib 64]
        [--soak] [--brasa build/agent/brasa] [--json FILE]
"""

import argparse
import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.dont_write_bytecode = True  # no __pycache__ next to the scripts
sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import (  # noqa: E402
    DEFAULT_BRASA, BenchError, BrasaDaemon, Pprof, bpf_maps, http_get,
    kill_sessions, log, proc_cpu_seconds, proc_status_kib, workload, xz_loop)

HERE = Path(__file__).resolve().parent
STATUS_KEYS = ("VmRSS", "RssAnon", "RssFile", "VmHWM")
AGENT_STOP_TIMEOUT_S = 20


def named_frames(body):
    """(frames with a function name, frames) of a gzipped pprof, each frame
    counted once per sample it carries (the sample's first value). How
    complete symbols are, whatever the stacks."""
    p = Pprof(body)
    samples = [(s.locations, s.values[0] if s.values else 0)
               for s in p.samples]
    named = sum(n * sum(1 for l in locs if p.named.get(l)) for locs, n in samples)
    total = sum(n * len(locs) for locs, n in samples)
    return named, total


def cpu_seconds(pid):
    return sum(proc_cpu_seconds(pid))


def bpf_map_bytes(pid):
    """Kernel memory of the BPF maps pid holds (bpftool's memlock)."""
    return sum(int(m.get("bytes_memlock", 0)) for m in bpf_maps(pid))


class Load:
    """Background processes and threads that make up the load."""

    def __init__(self, tmp, port, soak):
        self.tmp = tmp
        self.port = port
        self.soak = soak
        self.stop = threading.Event()
        self.procs = []
        self.threads = []
        self.scrapes = 0
        self.scrape_failures = 0
        self.frames_named = 0
        self.frames = 0
        self.spawned = 0
        self.data = os.path.join(tmp, "data")
        with open(self.data, "wb") as f:
            f.write(os.urandom(4 << 20))

    def start(self):
        self.procs.append(subprocess.Popen(xz_loop(self.data),
                                           start_new_session=True))
        self.threads.append(threading.Thread(target=self.churn, daemon=True))
        self.threads.append(threading.Thread(target=self.scrape, daemon=True))
        if self.soak:
            self.start_hostile()
        for t in self.threads:
            t.start()

    def churn(self):
        """A few short processes a second: new images every time."""
        cmds = [["gzip", "-c", self.data], ["ls", "-lR", "/usr/lib/x86_64-linux-gnu"],
                ["python3", "-c", "sum(range(300000))"]]
        if self.soak:
            cmds += [["sh", "-c", "for i in 1 2 3 4 5 6 7 8; do /bin/true; done"],
                     ["perl", "-e", "my $x; $x += $_ for 1..200000"],
                     ["bzip2", "-c", self.data], ["sha256sum", self.data]]
        i = 0
        while not self.stop.is_set():
            cmd = cmds[i % len(cmds)]
            i += 1
            if shutil.which(cmd[0]):
                subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                self.spawned += 1
            self.stop.wait(0.3 if not self.soak else 0.05)

    def scrape(self):
        while not self.stop.is_set():
            try:
                status, body = http_get(
                    self.port, "/debug/pprof/profile?seconds=15", 60)
                if status != 200:
                    raise OSError(f"the profile request answered {status}")
                named, total = named_frames(body)
                self.scrapes += 1
                self.frames_named += named
                self.frames += total
            except (OSError, http.client.HTTPException):
                self.scrape_failures += 1
                self.stop.wait(1)

    def start_hostile(self):
        """What an unprivileged tenant can do to an agent's memory."""
        hostile = HERE / "hostile-tenant.py"
        jit = workload("jit_spin")
        p = subprocess.Popen(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                              sys.executable, str(hostile), jit, "20"], start_new_session=True,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.procs.append(p)
        # many live processes mapping a large binary each
        big = shutil.which("python3")
        for _ in range(40):
            self.procs.append(subprocess.Popen([big, "-c", "import time\nwhile True: time.sleep(0.5)"],
                                               start_new_session=True))

    def finish(self):
        self.stop.set()
        kill_sessions(self.procs)
        for t in self.threads:
            t.join(timeout=70)


def fit_slope(points):
    """Least-squares slope of (t, y) points, y per second."""
    n = len(points)
    if n < 2:
        return 0.0
    mt = sum(t for t, _ in points) / n
    my = sum(y for _, y in points) / n
    den = sum((t - mt) ** 2 for t, _ in points)
    return sum((t - mt) * (y - my) for t, y in points) / den if den else 0.0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=30.0)
    ap.add_argument("--warmup", type=float, default=5.0, help="minutes before the bound applies")
    ap.add_argument("--bound-mib", type=float, default=64.0)
    ap.add_argument("--interval", type=float, default=10.0, help="seconds between samples")
    ap.add_argument("--soak", action="store_true", help="add the hostile tenant and process churn")
    ap.add_argument("--brasa", default=DEFAULT_BRASA)
    ap.add_argument("--json")
    ap.add_argument("agent_args", nargs="*", help="extra `brasa run` arguments (after --)")
    args = ap.parse_args()
    if os.geteuid() != 0:
        log("needs root")
        return 1

    tmp = tempfile.mkdtemp(prefix="brasa-mem-")
    os.chmod(tmp, 0o755)
    load = None
    samples = []
    healthz_failures = 0
    with BrasaDaemon(args.brasa, os.path.join(tmp, "agent.log"), None,
                     args.agent_args) as agent:
        try:
            agent.wait_healthy()
            load = Load(tmp, agent.port, args.soak)
            load.start()
            pid = agent.proc.pid
            t0 = time.time()
            cpu0 = cpu_seconds(pid)
            end = t0 + args.minutes * 60
            print(f"{'min':>6} {'rss':>7} {'anon':>7} {'file':>7} {'hwm':>7} {'maps':>7} {'objs':>5} "
                  f"{'sym_bytes':>9} {'cpu%':>5}  (MiB unless noted)", flush=True)
            last_cpu, last_t = cpu0, t0
            while time.time() < end:
                time.sleep(args.interval)
                if agent.proc.poll() is not None:
                    raise BenchError(f"the agent exited {agent.proc.returncode}")
                now = time.time()
                st = proc_status_kib(pid, STATUS_KEYS)
                try:
                    m = agent.metrics()
                except (OSError, http.client.HTTPException, BenchError):
                    m = {}
                if not agent.healthy(5):
                    healthz_failures += 1
                cpu = cpu_seconds(pid)
                s = {
                    "t": now - t0,
                    "rss": st["VmRSS"] / 1024, "anon": st["RssAnon"] / 1024, "file": st["RssFile"] / 1024,
                    "hwm": st["VmHWM"] / 1024,
                    "maps": bpf_map_bytes(pid) / (1 << 20),
                    "objects": m.get("brasa_symbolizer_objects", -1),
                    "sym_bytes": m.get("brasa_symbolizer_bytes", -1),
                    "cpu_pct": 100.0 * (cpu - last_cpu) / (now - last_t),
                }
                last_cpu, last_t = cpu, now
                samples.append(s)
                print(f"{s['t'] / 60:6.1f} {s['rss']:7.1f} {s['anon']:7.1f} {s['file']:7.1f} {s['hwm']:7.1f} "
                      f"{s['maps']:7.1f} {int(s['objects']):5d} {s['sym_bytes'] / (1 << 20):9.1f} "
                      f"{s['cpu_pct']:5.1f}", flush=True)
            cpu_total = cpu_seconds(pid) - cpu0
        finally:
            if load:
                load.finish()
            rc = agent.stop(AGENT_STOP_TIMEOUT_S)
            log(f"agent exit: "
                f"{f'killed after {AGENT_STOP_TIMEOUT_S} s' if rc is None else rc}")

    after = [s for s in samples if s["t"] >= args.warmup * 60]
    if not after:
        log("no samples after the warm-up: run longer than --warmup")
        return 1
    peak = max(s["rss"] for s in after)
    slope = fit_slope([(s["t"], s["rss"]) for s in after]) * 3600
    first, last = after[0]["rss"], after[-1]["rss"]
    result = {
        "minutes": args.minutes, "soak": args.soak, "bound_mib": args.bound_mib,
        "peak_rss_after_warmup_mib": peak, "rss_first_last_mib": [first, last],
        "rss_slope_mib_per_hour": slope, "hwm_mib": samples[-1]["hwm"],
        "kernel_map_mib": max(s["maps"] for s in samples),
        "cpu_seconds": cpu_total, "scrapes": load.scrapes, "scrape_failures": load.scrape_failures,
        "processes_spawned": load.spawned, "healthz_failures": healthz_failures,
        "frames_named": load.frames_named, "frames": load.frames,
        "samples": samples,
    }
    verdict = "PASS" if peak <= args.bound_mib and slope < 0.1 * args.bound_mib else "MISS"
    print(f"\nafter {args.warmup:g} min of warm-up: peak RSS {peak:.1f} MiB (bound {args.bound_mib:g}), "
          f"{first:.1f} -> {last:.1f} MiB, trend {slope:+.1f} MiB/h; peak kernel maps "
          f"{result['kernel_map_mib']:.1f} MiB; agent CPU {cpu_total:.0f} s "
          f"({100 * cpu_total / (args.minutes * 60):.1f} % of one CPU); {load.scrapes} scrapes "
          f"({load.scrape_failures} failed, {100 * load.frames_named / max(load.frames, 1):.1f} % of "
          f"their {load.frames} frames named), {load.spawned} processes, "
          f"{healthz_failures} /healthz failures: {verdict}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
