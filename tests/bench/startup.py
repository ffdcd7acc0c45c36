#!/usr/bin/env python3
"""Short processes from their first sample: startup_spin (50 ms of CPU,
half in a shared library, neither with frame pointers; built by meson in
build/tests/integration/workloads) started one after another for the
whole run, profiled by `brasa capture --unwind dwarf` and by `perf record
--call-graph dwarf` (perf's way: every sample's stack copied, unwound
afterwards) in one invocation on the same load. Prints, for each tool, the
share of the program's samples whose stack reaches __libc_start_call_main
(the same test for both: samples inside execve or ld.so before main reach
it in neither), CPU per sample all in, and brasa's BPF run time per
sample; for brasa also the samples whose user-space walk stopped short
(its debug log: those sent whole because their process's tables were not
in yet, docs/unwinding.md "When tables load").

Not a timed test: it prints figures; it exits 0 unless something failed
to run. See tests/bench/README.md.
"""

import argparse
import os
import re
import sys
from pathlib import Path

sys.dont_write_bytecode = True  # no __pycache__ next to the scripts
sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import (  # noqa: E402
    DEFAULT_BRASA, BenchError, Load, cpu_seconds, ensure_tool, fmt, log, log_tail,
    run_bench, run_child_bpf, run_perf, sample_prog_runs, workload, write_json)
from unwinding import folded_completeness, perf_script_completeness  # noqa: E402

COMM = "startup_spin"


def spawn_loop(spin):
    """argv of startup_spin 50 restarting for as long as the run lasts."""
    return ["sh", "-c", f'while :; do "{spin}" 50; done']


def run_brasa(args, tmpdir, spin):
    out = Path(tmpdir) / "brasa.folded"
    errlog = Path(tmpdir) / "brasa.log"
    with open(errlog, "w") as err:
        status, ru, wall, progs = run_child_bpf(
            [args.brasa, "capture", "--seconds", str(args.seconds), "--format", "folded",
             "--unwind", "dwarf", "--log-level", "debug", "-o", str(out)],
            Load(spawn_loop(spin)), stderr=err)
    if status != 0:
        raise BenchError(f"brasa capture exited with status {status}:\n{log_tail(errlog)}")
    ns, cnt = sample_prog_runs(progs, "brasa")
    total, reached = folded_completeness(out, COMM)
    stopped = len(re.findall(r"a sample sent whole walked \d+ frames, then stopped",
                             errlog.read_text(errors="replace")))
    return {"wall_s": wall, "cpu_s": cpu_seconds(ru), "samples": cnt,
            "cpu_us_per_sample": cpu_seconds(ru) / cnt * 1e6 if cnt else None,
            "bpf_ns_per_sample": ns / cnt if cnt else None,
            "program_samples": total, "program_reaching_main": reached,
            "program_whole_share": reached / total if total else None,
            "whole_sample_walks_stopped_short": stopped}


def run_perf_dwarf(args, tmpdir, spin):
    data = str(Path(tmpdir) / "perf.data")
    wall, ru_rec, ru_scr, samples, lost = run_perf(
        Load(spawn_loop(spin)), data, args.seconds, ["--call-graph", "dwarf"])
    total, reached, _ = perf_script_completeness(data, COMM)
    cpu = cpu_seconds(ru_rec) + cpu_seconds(ru_scr)
    return {"wall_s": wall, "samples": samples, "lost_events": lost,
            "cpu_us_per_sample": cpu / samples * 1e6,
            "data_bytes_per_sample": os.path.getsize(data) / samples,
            "program_samples": total, "program_reaching_main": reached,
            "program_whole_share": reached / total if total else None}


def body(args, tmpdir):
    ensure_tool("perf", "linux-perf")
    spin = workload("startup_spin")
    # the shared library beside it (tests/integration/workloads/meson.build)
    os.environ["LD_LIBRARY_PATH"] = str(Path(spin).parent)
    log(f"brasa capture --unwind dwarf, {args.seconds} s of startup_spin restarting")
    brasa = run_brasa(args, tmpdir, spin)
    log(f"perf record --call-graph dwarf, the same")
    perf = run_perf_dwarf(args, tmpdir, spin)
    pct = lambda v: fmt(v, ".1f", 100, " %")
    print(f"{'':34} {'brasa (dwarf)':>16} {'perf (dwarf)':>16}")
    print(f"{'program samples':34} {brasa['program_samples']:>16} {perf['program_samples']:>16}")
    print(f"{'  reaching __libc_start_call_main':34} {pct(brasa['program_whole_share']):>16} "
          f"{pct(perf['program_whole_share']):>16}")
    print(f"{'CPU per sample, all in':34} {fmt(brasa['cpu_us_per_sample'], '.1f', unit=' us'):>16} "
          f"{fmt(perf['cpu_us_per_sample'], '.1f', unit=' us'):>16}")
    print(f"{'BPF run time per sample':34} {fmt(brasa['bpf_ns_per_sample'], '.0f', unit=' ns'):>16} "
          f"{'-':>16}")
    print(f"{'walks of samples sent whole cut':34} {brasa['whole_sample_walks_stopped_short']:>16} "
          f"{'-':>16}")
    if brasa["program_whole_share"] and perf["program_whole_share"]:
        print(f"completeness brasa / perf: {brasa['program_whole_share'] / perf['program_whole_share']:.3f}")
    if args.json:
        write_json(args.json, {"brasa": brasa, "perf": perf})


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=int, default=20)
    ap.add_argument("--brasa", default=str(DEFAULT_BRASA))
    ap.add_argument("--json", help="also write the figures there")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = ap.parse_args()
    return run_bench("startup.py", "perf_event and BPF", args, "brasa-bench-startup-", body)


if __name__ == "__main__":
    sys.exit(main())
