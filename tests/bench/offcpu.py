#!/usr/bin/env python3
"""Off-CPU sampling: BPF cost per context switch and agent CPU under a
switch-heavy load, with the defaults and with every switch recorded,
beside bpftrace counting sched_switch stacks in the same run.

The load is the pingpong workload (pairs of threads passing a byte
through pipes: two switches per round trip; one pair makes some 200,000
switches a second on the 2-CPU development VM). Each variant runs the load
for --seconds with a fresh daemon, and reports:

  switches/s        from /proc/stat's ctxt, over the load
  BPF ns/switch     run_time_ns / run_cnt of the sched_switch program
                    (kernel.bpf_stats_enabled through BPF_ENABLE_STATS),
                    so it is the cost of every switch, recorded or not
  BPF %CPU          that program's run time over the load's wall time, in
                    % of one CPU
  agent %CPU        the daemon's user + system time over the load, % of
                    one CPU (draining, symbolizing: no profile is open, so
                    drained buckets are counted and discarded, as between
                    requests)
  total %CPU        both: what leaving it on costs at that switch rate

and, with the defaults, after the measurement (it symbolizes): the share
of the load's CPU samples and of its off-CPU time whose stacks are whole
(reach the thread's root: _start, clone3), from a CPU and an off-CPU
profile of one more run taken at once.

Variants: off (the agent without --off-cpu: its CPU sampler only),
empty (a tp_btf/sched_switch program that returns at once, built with
clang and attached through libbpf by this script: what any eBPF off-CPU
profiler pays here before doing anything, as bpf_stats counts it),
floor (--off-cpu-one-in 1000000: what every switch pays, recorded or
not), defaults (--off-cpu: one switch in 100), all (--off-cpu-one-in 1),
and bpftrace 'tracepoint:sched:sched_switch { @[kstack, ustack] =
count(); }' (its program's run time and its own CPU), the peer, where
it runs (not on the development VM: no tracefs, so bpftrace finds no
tracepoint, and perf sched record neither).
"""

import argparse
import ctypes
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.dont_write_bytecode = True  # no __pycache__ next to the scripts
sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import (  # noqa: E402
    DEFAULT_BRASA, BenchError, BpfProgWatcher, BpfStatsFd, BrasaDaemon, ensure_tool,
    first_built, fmt, http_get, log, proc_cpu_seconds, prog_deltas, run_bench, write_json)

SWITCH_PROG = "handle_switch"
BPFTRACE = "tracepoint:sched:sched_switch { @[kstack, ustack] = count(); }"
ROOT = Path(__file__).resolve().parents[2]


def ctxt():
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("ctxt "):
                return int(line.split()[1])
    raise BenchError("no ctxt line in /proc/stat")


def measure(pid, watcher, pingpong, seconds, prog_name):
    """Runs the load for seconds while pid (the daemon or bpftrace) runs:
    its CPU and its programs' deltas over the load."""
    watcher.poll(pid)
    progs0 = watcher.read()
    cpu0 = sum(proc_cpu_seconds(pid))
    c0, t0 = ctxt(), time.monotonic()
    subprocess.run([pingpong, str(seconds), "1"], check=True, stdout=subprocess.DEVNULL)
    c1, wall = ctxt(), time.monotonic() - t0
    cpu = sum(proc_cpu_seconds(pid)) - cpu0
    watcher.poll(pid)
    deltas = prog_deltas(progs0, watcher.read())
    mine = [p for p in deltas if prog_name is None or p["name"] == prog_name]
    run_ns = sum(p["run_time_ns"] for p in mine)
    runs = sum(p["run_cnt"] for p in mine)
    return {"switches_per_s": (c1 - c0) / wall, "wall_s": wall,
            "bpf_ns_per_switch": run_ns / runs if runs else None,
            "bpf_runs": runs, "bpf_cpu_pct": 100 * run_ns / 1e9 / wall,
            "agent_cpu_pct": 100 * cpu / wall,
            "total_cpu_pct": 100 * (cpu + run_ns / 1e9) / wall}


# where a whole user stack of the workload starts: its main thread's entry,
# or a thread's (glibc's clone3 on this machine, clone elsewhere)
THREAD_ROOTS = ("_start", "clone3", "clone", "start_thread")


def completeness(d, pingpong, seconds=5):
    """Share of the workload's weight whose stack reaches a thread root,
    for its CPU samples and its off-CPU time, from one run of the load with
    a CPU and an off-CPU profile of it taken at once (folded, by pid)."""
    w = subprocess.Popen([pingpong, str(seconds + 2), "1"], stdout=subprocess.DEVNULL)
    answers = {}

    def fetch(kind):
        answers[kind] = http_get(d.port, f"/api/flamegraph?seconds={seconds}&pid={w.pid}"
                                 f"&type={kind}&format=folded", seconds + 60)

    threads = [threading.Thread(target=fetch, args=(k,)) for k in ("cpu", "off_cpu")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    w.wait()
    shares = {}
    for kind, (status, body) in answers.items():
        if status != 200:
            raise BenchError(f"type={kind} profile answered {status}: {body[:200]!r}")
        whole = total = 0
        for line in body.decode().splitlines():
            stack, _, n = line.rpartition(" ")
            frames = stack.split(";")
            total += int(n)
            # frames[0] is the process name (comm)
            whole += int(n) if len(frames) > 1 and frames[1] in THREAD_ROOTS else 0
        shares[kind] = 100 * whole / total if total else None
    return shares


def brasa_variant(args, tmpdir, name, extra, pingpong):
    watcher = BpfProgWatcher()
    try:
        with BrasaDaemon(args.brasa, os.path.join(tmpdir, f"{name}.log"), unwind=None,
                         extra_args=extra) as d:
            d.wait_healthy(watcher)
            time.sleep(args.warmup)
            fig = measure(d.proc.pid, watcher, pingpong, args.seconds,
                          SWITCH_PROG if "--off-cpu" in extra else None)
            m = d.metrics()
            fig["recorded"] = m.get("brasa_offcpu_switches_recorded_total")
            fig["sampled_out"] = m.get("brasa_offcpu_switches_sampled_out_total")
            fig["lost"] = sum(v for k, v in m.items() if k.startswith("brasa_bpf_lost_total"))
            if "--off-cpu" not in extra:  # the CPU sampler's share only
                fig["bpf_ns_per_switch"] = None
            if name == "defaults":  # after the measurement: it symbolizes
                fig["whole_stacks_pct"] = completeness(d, pingpong)
            return fig
    finally:
        watcher.close()


def bpftrace_variant(args, tmpdir, pingpong):
    watcher = BpfProgWatcher()
    out = open(os.path.join(tmpdir, "bpftrace.out"), "w")
    proc = subprocess.Popen(["bpftrace", "-e", BPFTRACE], stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not watcher.fds:
            if proc.poll() is not None:
                out.flush()
                raise BenchError(f"bpftrace exited {proc.returncode}: " +
                                 Path(out.name).read_text(errors="replace")[-300:])
            watcher.poll(proc.pid)
            time.sleep(0.2)
        time.sleep(args.warmup)
        return measure(proc.pid, watcher, pingpong, args.seconds, None)
    finally:
        proc.terminate()  # prints its map: not measured
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        watcher.close()
        out.close()


# The floor of any eBPF off-CPU profiler on this kernel: a sched_switch
# program that does nothing, loaded and attached by this script through
# libbpf (bpftool 7.1 cannot attach a tp_btf program).
EMPTY_BPF = """
#define SEC(name) __attribute__((section(name), used))
SEC("tp_btf/sched_switch") int empty_switch(void *ctx) { return 0; }
char LICENSE[] SEC("license") = "GPL";
"""


def empty_variant(args, tmpdir, pingpong):
    src, obj_path = os.path.join(tmpdir, "empty.bpf.c"), os.path.join(tmpdir, "empty.bpf.o")
    Path(src).write_text(EMPTY_BPF)
    r = subprocess.run(["clang", "-O2", "-g", "-target", "bpf", "-c", src, "-o", obj_path],
                       capture_output=True, text=True)
    if r.returncode:
        raise BenchError(f"clang could not build the empty program: {r.stderr[-300:]}")
    lib = ctypes.CDLL("libbpf.so.1", use_errno=True)
    for fn, res, argt in (("bpf_object__open_file", ctypes.c_void_p, [ctypes.c_char_p, ctypes.c_void_p]),
                          ("bpf_object__load", ctypes.c_int, [ctypes.c_void_p]),
                          ("bpf_object__find_program_by_name", ctypes.c_void_p,
                           [ctypes.c_void_p, ctypes.c_char_p]),
                          ("bpf_program__attach", ctypes.c_void_p, [ctypes.c_void_p]),
                          ("bpf_link__destroy", ctypes.c_int, [ctypes.c_void_p]),
                          ("bpf_object__close", None, [ctypes.c_void_p])):
        getattr(lib, fn).restype = res
        getattr(lib, fn).argtypes = argt
    obj = lib.bpf_object__open_file(obj_path.encode(), None)
    if not obj:
        raise BenchError(f"libbpf could not open {obj_path}: errno {ctypes.get_errno()}")
    link, watcher = None, BpfProgWatcher()
    try:
        if lib.bpf_object__load(obj):
            raise BenchError("libbpf could not load the empty program")
        link = lib.bpf_program__attach(lib.bpf_object__find_program_by_name(obj, b"empty_switch"))
        if not link:
            raise BenchError(f"could not attach the empty program: errno {ctypes.get_errno()}")
        watcher.poll(os.getpid())
        time.sleep(args.warmup)
        return measure(os.getpid(), watcher, pingpong, args.seconds, "empty_switch")
    finally:
        if link:
            lib.bpf_link__destroy(link)
        lib.bpf_object__close(obj)
        watcher.close()


def bench(args, tmpdir):
    ensure_tool("bpftool", "bpftool")
    pingpong = first_built(ROOT / "build/tests/integration/workloads/pingpong")
    if not pingpong:
        raise BenchError("no pingpong workload: build brasa first (ninja -C build)")
    figures = {}
    with BpfStatsFd():
        figures["off"] = brasa_variant(args, tmpdir, "off", [], pingpong)
        try:
            ensure_tool("clang", "clang")
            figures["empty"] = empty_variant(args, tmpdir, pingpong)
        except BenchError as e:
            log(f"the empty program left out: {e}")
        # what every switch pays whether recorded or not (one in 10^6)
        figures["floor"] = brasa_variant(args, tmpdir, "floor",
                                         ["--off-cpu", "--off-cpu-one-in", "1000000"], pingpong)
        figures["defaults"] = brasa_variant(args, tmpdir, "defaults", ["--off-cpu"], pingpong)
        figures["all"] = brasa_variant(args, tmpdir, "all",
                                       ["--off-cpu", "--off-cpu-one-in", "1"], pingpong)
        try:
            ensure_tool("bpftrace", "bpftrace")
            figures["bpftrace"] = bpftrace_variant(args, tmpdir, pingpong)
        except BenchError as e:
            log(f"bpftrace left out: {e}")
    print(f"{'variant':<10} {'switches/s':>11} {'BPF ns/sw':>10} {'BPF %CPU':>9} "
          f"{'agent %CPU':>11} {'total %CPU':>11} {'recorded':>9}")
    for name, f in figures.items():
        print(f"{name:<10} {f['switches_per_s']:>11.0f} {fmt(f['bpf_ns_per_switch'], '.0f'):>10} "
              f"{f['bpf_cpu_pct']:>9.2f} {f['agent_cpu_pct']:>11.2f} {f['total_cpu_pct']:>11.2f} "
              f"{fmt(f.get('recorded'), '.0f'):>9}")
    off, d = figures["off"], figures["defaults"]
    # the off-CPU sampler's own cost: defaults less the CPU-only agent
    extra = d["total_cpu_pct"] - off["total_cpu_pct"]
    per100k = extra * 100000 / d["switches_per_s"]
    print(f"off-CPU sampling with the defaults: {extra:.2f} % of one CPU at "
          f"{d['switches_per_s']:.0f} switches/s, {per100k:.2f} % per 100,000 switches/s "
          f"(target < 1 %)")
    whole = d.get("whole_stacks_pct") or {}
    print(f"whole stacks of the load with the defaults (from its thread's root down): "
          f"CPU samples {fmt(whole.get('cpu'), '.1f')} %, off-CPU time {fmt(whole.get('off_cpu'), '.1f')} %")
    if "empty" in figures and figures["empty"]["bpf_ns_per_switch"]:
        e = figures["empty"]
        print(f"an empty sched_switch program (the floor of any eBPF off-CPU profiler here, "
              f"as bpf_stats counts it): {e['bpf_ns_per_switch']:.0f} ns per switch, "
              f"{e['bpf_cpu_pct'] * 100000 / e['switches_per_s']:.2f} % per 100,000 switches/s; "
              f"brasa's defaults add {d['bpf_ns_per_switch'] - e['bpf_ns_per_switch']:.0f} ns to it")
    if "bpftrace" in figures and figures["all"]["bpf_ns_per_switch"]:
        b = figures["bpftrace"]
        print(f"BPF ns per switch, every switch recorded: brasa {figures['all']['bpf_ns_per_switch']:.0f} "
              f"vs bpftrace {fmt(b['bpf_ns_per_switch'], '.0f')}; total %CPU brasa "
              f"{figures['all']['total_cpu_pct']:.2f} vs bpftrace {b['total_cpu_pct']:.2f}")
    if args.json:
        write_json(args.json, figures)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=int, default=10, help="load per variant (default 10)")
    ap.add_argument("--warmup", type=int, default=3, help="idle seconds after start (default 3)")
    ap.add_argument("--brasa", default=DEFAULT_BRASA,
                    help="brasa binary (default build/agent/brasa)")
    ap.add_argument("--json", metavar="FILE", help="write the figures here")
    ap.add_argument("--keep", action="store_true",
                    help="keep the temporary directory (logs)")
    args = ap.parse_args()
    if args.seconds <= 0 or args.warmup < 0:
        ap.error("--seconds must be positive")
    return run_bench("offcpu", "BPF", args, "brasa-offcpu-", bench)


if __name__ == "__main__":
    sys.exit(main())
