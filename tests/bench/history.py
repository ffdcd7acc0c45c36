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


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--tool", default="build/tests/tools/history-bench")
    p.add_argument("--hours", type=float, default=24)
    p.add_argument("--processes", type=int, default=300)
    p.add_argument("--stacks", type=int, default=4000)
    p.add_argument("--samples", type=int, default=6000)
    p.add_argument("--churn", type=int, default=2, help="stacks replaced per window, per mille")
    p.add_argument("--thread-labels", action="store_true")
    p.add_argument("--no-codecs", action="store_true", help="skip the codec comparison")
    p.add_argument("--json")
    p.add_argument("--keep", action="store_true")
    args = p.parse_args()
    if not os.access(args.tool, os.X_OK):
        print(f"history.py: no history-bench at '{args.tool}' (ninja -C build)", file=sys.stderr)
        return 1
    tmpdir = tempfile.mkdtemp(prefix="history-bench-")
    figures = {}
    try:
        windows = int(args.hours * 240)
        day = run_tool(args, os.path.join(tmpdir, "day", "history.db"), windows)
        figures["day"] = day
        if not args.no_codecs:
            for codec in ("zstd", "deflate", "raw"):
                figures[codec] = run_tool(args, os.path.join(tmpdir, codec, "history.db"), 240,
                                          codec)
    except subprocess.CalledProcessError as e:
        print(f"history.py: {e}: {e.stderr}", file=sys.stderr)
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
    print(f"{'PASS' if day_mb < DAY_TARGET_MB else 'MISS'}: a day {day_mb:.0f} MB "
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
