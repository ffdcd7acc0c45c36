#!/usr/bin/env python3
"""The history store on a synthetic busy host (tests/tools/history-bench.c):
bytes per host-hour, write cost per window (CPU and latency), the time to
merge 1 h and 24 h of windows into one pprof, the time to prune the store
to 90 % of its size (drops and a sweep of the dictionary), the tool's
RSS. The record
codecs are compared on one hour each (zstd, the store's, against deflate
and raw), on the same load.

Not a timed test: it prints figures and PASS/MISS against the targets of
issue 12 (a day under 200 MB, 1 h merged under 1 s); it exits 0 unless
something failed to run. It needs no root and no agent: the load is made
in the tool (tests/tools/history-bench.c says what it is: 300 processes of
40 programs with a long tail of activity, about 4,000 distinct stacks of
depth 10-40, 6,000 samples per 15 s window, a process restart per window
and 0.2 % of stacks replaced per window).

    tests/bench/history.py [--tool build/tests/tools/history-bench]
        [--hours 24] [--processes 300] [--stacks 4000] [--samples 6000]
        [--churn 2] [--thread-labels] [--no-codecs] [--json FILE] [--keep]

A day of windows (5,760) takes about 15 minutes on 2 shared CPUs.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402

DAY_TARGET_MB = 200
MERGE_1H_TARGET_S = 1.0


def run_tool(args, path, windows, codec="zstd"):
    argv = [args.tool, "--path", path, "--windows", str(windows),
            "--processes", str(args.processes), "--stacks", str(args.stacks),
            "--samples", str(args.samples), "--churn", str(args.churn), "--codec", codec]
    if args.thread_labels:
        argv.append("--thread-labels")
    benchlib.log(" ".join(argv))
    t = time.monotonic()
    out = subprocess.run(argv, check=True, capture_output=True, text=True).stdout
    figures = {}
    for line in out.splitlines():
        name, value = line.split()
        figures[name] = float(value)
    figures["run_seconds"] = time.monotonic() - t
    return figures


def thread_cpu_seconds(pid, name):
    """CPU seconds of the process's threads called name (comm)."""
    total = 0.0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                if f.read().strip() != name:
                    continue
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                rest = f.read().rsplit(")", 1)[1].split()
            total += (int(rest[11]) + int(rest[12])) / os.sysconf("SC_CLK_TCK")
        except OSError:
            pass
    return total


def agent_run(args, tmpdir, on):
    """brasa run under the bench load (fp_chain, an xz loop, a python loop)
    for args.agent_seconds, its history on or off: what the store holds
    then, what writing it cost, the agent's CPU and memory, and a merge of
    the whole span through the endpoint."""
    xz_input = benchlib.make_xz_input(tmpdir)
    loop = [sys.executable, "-c", "while True:\n sum(i * i for i in range(10000))"]
    load = benchlib.Load([benchlib.workload("fp_chain", tmpdir), "3600"],
                         benchlib.xz_loop(xz_input), loop)
    extra = [] if on else ["--history-retention", "0"]
    tag = "on" if on else "off"
    log_path = os.path.join(tmpdir, f"brasa-{tag}.log")
    with load, benchlib.BrasaDaemon(args.brasa, log_path, unwind="auto", extra_args=extra) as d:
        d.wait_healthy()
        t0 = time.monotonic()
        cpu0 = sum(benchlib.proc_cpu_seconds(d.proc.pid))
        benchlib.log(f"history {tag}: {args.agent_seconds} s under the bench load")
        rss, sizes = [], []
        while time.monotonic() - t0 < args.agent_seconds:
            time.sleep(5)
            rss.append(benchlib.proc_status_kib(d.proc.pid, ["VmRSS"])["VmRSS"])
            if on:
                sizes.append((time.monotonic() - t0, d.metrics().get("brasa_history_bytes", 0)))
        elapsed = time.monotonic() - t0
        out = {"seconds": elapsed, "cpu_seconds": sum(benchlib.proc_cpu_seconds(d.proc.pid)) - cpu0,
               "rss_mib_last": rss[-1] / 1024,
               "hwm_mib": benchlib.proc_status_kib(d.proc.pid, ["VmHWM"])["VmHWM"] / 1024}
        # the window thread writes the history (no remote here)
        out["store_cpu_seconds"] = thread_cpu_seconds(d.proc.pid, "brasa-windows")
        if on and len(sizes) >= 4:
            # the growth over the second half: past the dictionary's fill
            (ta, ba), (tb, bb) = sizes[len(sizes) // 2], sizes[-1]
            out["bytes_per_hour_late"] = (bb - ba) / (tb - ta) * 3600 if tb > ta else 0
        if on:
            m = d.metrics()
            out.update({k: m.get(k, 0) for k in (
                "brasa_history_bytes", "brasa_history_windows", "brasa_history_writes_total",
                "brasa_history_write_seconds_total")})
            t = time.monotonic()
            st, body = benchlib.http_get(d.port, f"/debug/pprof/profile?since={int(elapsed) + 30}s",
                                         120)
            out["merge_seconds"] = time.monotonic() - t
            if st != 200:
                raise benchlib.BenchError(f"the range answered {st}: {body[:200]!r}")
            out["merge_bytes"] = len(body)
        d.stop_clean()
    return out


def print_agent(on, off):
    hours = on["seconds"] / 3600
    writes = max(on["brasa_history_writes_total"], 1)
    print(f"\nbrasa run, bench load, {on['seconds']:.0f} s, windows of 15 s "
          f"({on['brasa_history_windows']:.0f} stored):")
    print(f"  store {on['brasa_history_bytes'] / 1e6:.2f} MB after {on['seconds']:.0f} s; growing "
          f"{on.get('bytes_per_hour_late', 0) / 1e6:.1f} MB per host-hour over the second half "
          f"(the first minutes fill the dictionary)")
    print(f"  write per window: {on['brasa_history_write_seconds_total'] / writes * 1e3:.1f} ms "
          f"wall (fsync included)")
    cpu_on, cpu_off = on["cpu_seconds"] / on["seconds"], off["cpu_seconds"] / off["seconds"]
    share = on["store_cpu_seconds"] / on["cpu_seconds"] if on["cpu_seconds"] else 0
    print(f"  agent CPU: {cpu_on * 100:.2f} % of a CPU with the history, {cpu_off * 100:.2f} % "
          f"without (the difference also holds the windows the history needs: every sample "
          f"symbolized into one)")
    print(f"  the store's own work (its writer thread): {on['store_cpu_seconds']:.2f} CPU s, "
          f"{share * 100:.1f} % of the agent's CPU, "
          f"{on['store_cpu_seconds'] / writes * 1e3:.1f} ms per window")
    print(f"  agent RSS: {on['rss_mib_last']:.1f} MiB (peak {on['hwm_mib']:.1f}) with, "
          f"{off['rss_mib_last']:.1f} MiB (peak {off['hwm_mib']:.1f}) without")
    print(f"  the whole span merged through /debug/pprof/profile?since=: "
          f"{on['merge_seconds']:.2f} s, {on['merge_bytes'] / 1024:.0f} KiB of pprof")
    print(f"{'PASS' if share < 0.10 else 'MISS'}: store work {share * 100:.1f} % of the agent's "
          f"CPU (target < 10 %)")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--tool", default="build/tests/tools/history-bench")
    p.add_argument("--hours", type=float, default=24, help="synthetic windows (at least 1; 0 skips)")
    p.add_argument("--processes", type=int, default=300)
    p.add_argument("--stacks", type=int, default=4000)
    p.add_argument("--samples", type=int, default=6000)
    p.add_argument("--churn", type=int, default=2, help="stacks replaced per window, per mille")
    p.add_argument("--thread-labels", action="store_true")
    p.add_argument("--no-codecs", action="store_true", help="skip the codec comparison")
    p.add_argument("--agent-seconds", type=int, default=600,
                   help="brasa run under the bench load, history on then off (0: skip)")
    p.add_argument("--brasa", default="build/agent/brasa")
    p.add_argument("--json")
    p.add_argument("--keep", action="store_true")
    args = p.parse_args()
    if not os.access(args.tool, os.X_OK):
        print(f"history.py: no history-bench at '{args.tool}' (ninja -C build)", file=sys.stderr)
        return 1
    tmpdir = tempfile.mkdtemp(prefix="history-bench-")
    figures = {}
    try:
        if args.agent_seconds:
            figures["agent_on"] = agent_run(args, tmpdir, True)
            figures["agent_off"] = agent_run(args, tmpdir, False)
            # printed now: the synthetic part below takes long
            print_agent(figures["agent_on"], figures["agent_off"])
        # the tool merges the last hour: at least an hour of windows
        windows = max(240, int(args.hours * 240)) if args.hours else 0
        if not windows:
            return 0
        day = run_tool(args, os.path.join(tmpdir, "day", "history.db"), windows)
        figures["day"] = day
        if not args.no_codecs:
            for codec in ("zstd", "deflate", "raw"):
                figures[codec] = run_tool(args, os.path.join(tmpdir, codec, "history.db"), 240,
                                          codec)
    except subprocess.CalledProcessError as e:
        print(f"history.py: {e}: {e.stderr}", file=sys.stderr)
        return 1
    except benchlib.BenchError as e:
        print(f"history.py: {e}", file=sys.stderr)
        return 1
    finally:
        if args.keep:
            benchlib.log(f"kept {tmpdir}")
        else:
            shutil.rmtree(tmpdir, ignore_errors=True)

    hours = windows / 240
    mb = day["bytes"] / 1e6
    print(f"load: {args.processes} processes, ~{args.stacks} stacks, {args.samples} samples "
          f"per 15 s window, churn {args.churn} per mille; {windows} windows ({hours:g} h), "
          f"{day['series']:.0f} series kept")
    print(f"store on disk after {hours:g} h: {mb:.1f} MB ({mb / hours:.1f} MB per host-hour; "
          f"first hour {day['bytes_first_hour'] / 1e6:.1f} MB)")
    print("dictionary rows: " + ", ".join(
        f"{k[5:]} {day[k]:.0f}" for k in day if k.startswith("dict_")))
    print(f"write per window: CPU {day['put_cpu_ms_mean']:.1f} ms, latency mean "
          f"{day['put_wall_ms_mean']:.1f} ms, max {day['put_wall_ms_max']:.1f} ms "
          f"(one fsync per window); writer caches {day['cache_bytes'] / 1e6:.1f} MB")
    for r in ("1h", "24h"):
        if f"merge_{r}_seconds" in day:
            print(f"merge {r}: {day[f'merge_{r}_seconds']:.2f} s "
                  f"(CPU {day[f'merge_{r}_cpu_seconds']:.2f} s), "
                  f"{day[f'merge_{r}_windows']:.0f} windows, "
                  f"{day[f'merge_{r}_samples']:.0f} samples -> "
                  f"{day[f'merge_{r}_pprof_samples']:.0f} pprof samples, "
                  f"{day[f'merge_{r}_pprof_locations']:.0f} locations")
    print(f"pruned to 90 % of its size: {day['prune_seconds']:.2f} s, "
          f"{day['prune_windows_dropped']:.0f} windows dropped, {day['sweeps']:.0f} sweeps "
          f"({day['sweep_seconds']:.2f} s, {day['sweep_rows']:.0f} rows deleted), "
          f"{day['prune_bytes_after'] / 1e6:.1f} MB after")
    print(f"RSS: {day['rss_kib_after_puts'] / 1024:.1f} MiB after the puts, peak "
          f"{day['rss_kib_peak'] / 1024:.1f} MiB (the tool: load generation, store, merges)")
    if not args.no_codecs:
        for codec in ("zstd", "deflate", "raw"):
            f = figures[codec]
            print(f"codec {codec:8s} 1 h: {f['bytes'] / 1e6:.2f} MB on disk, "
                  f"put CPU {f['put_cpu_ms_mean']:.1f} ms, merge 1 h {f['merge_1h_seconds']:.2f} s")
    day_mb = mb / hours * 24
    what = "a day" if hours >= 24 else f"a day extrapolated from {hours:g} h (an overestimate: " \
        "the first hour fills the dictionary; --hours 24 measures it)"
    print(f"{'PASS' if day_mb < DAY_TARGET_MB else 'MISS'}: {what} {day_mb:.0f} MB "
          f"(target < {DAY_TARGET_MB} MB)")
    if "merge_1h_seconds" in day:
        m = day["merge_1h_seconds"]
        print(f"{'PASS' if m < MERGE_1H_TARGET_S else 'MISS'}: 1 h merged in {m:.2f} s "
              f"(target < {MERGE_1H_TARGET_S:g} s)")
    if args.json:
        benchlib.write_json(args.json, figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
