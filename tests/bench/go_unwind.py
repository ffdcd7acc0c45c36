#!/usr/bin/env python3
"""What unwinding Go code from .gopclntab costs (unwind/go_rows.h): BPF run
time per sample of brasa on a Go load (tests/integration/workloads/go_cgo.go)
built stripped (-ldflags='-s -w': tables from .gopclntab's pcsp), built
with DWARF (tables from .debug_frame, with the Go rows' stack switches),
and walked by frame pointers (--unwind fp); the share of the Go program's
samples that reach the end of a Go stack in each; table bytes per Go
function; the time to build the tables of a generated ~100 MB Go binary
(built once, cached under /var/cache/brasa-tests/go-unwind).

Not a timed test: it prints figures; it exits 0 unless something failed
to run. See tests/bench/README.md.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.dont_write_bytecode = True  # no __pycache__ next to the scripts
sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import (  # noqa: E402
    DEFAULT_BRASA, REPO_ROOT, BenchError, Load, ensure_tool, fmt, log, log_tail,
    run_bench, run_child_bpf, sample_prog_runs, write_json)

UNWIND_DUMP = REPO_ROOT / "build" / "tests" / "tools" / "unwind-dump"
SOURCE = REPO_ROOT / "tests" / "integration" / "workloads" / "go_cgo.go"
CACHE = Path("/var/cache/brasa-tests/go-unwind")
# where a Go stack ends (unwind/go_rows.h)
GO_ROOTS = ("runtime.goexit", "runtime.mstart", "runtime.mcall", "runtime.morestack",
            "runtime.rt0_go")
# the generated binary: functions of STMTS statements (about 28 KB of
# code each), enough of them for about 100 MB
BIG_FUNCS = 3600
BIG_STMTS = 1000
BIG_PER_PKG = 100


def go_build(src_dir, out, *flags):
    env = dict(os.environ, GOCACHE=str(CACHE / "gocache"), GOPATH=str(CACHE / "gopath"),
               GOFLAGS="-mod=mod", GOPROXY="off", HOME=str(CACHE))
    r = subprocess.run(["go", "build", *flags, "-o", str(out), "."], cwd=src_dir,
                       capture_output=True, text=True, env=env)
    if r.returncode != 0:
        raise BenchError(f"go build {' '.join(flags)} in {src_dir} failed: {r.stderr[-2000:]}")


def module_dir(name, files, module=None):
    """A Go module (module, default name) in directory name under CACHE,
    holding files {path: text}."""
    module = module or name
    d = CACHE / name
    d.mkdir(parents=True, exist_ok=True)
    (d / "go.mod").write_text(f"module {module}\n\ngo 1.19\n")
    for fname, text in files.items():
        p = d / fname
        p.parent.mkdir(parents=True, exist_ok=True)
        if not p.exists() or p.read_text() != text:
            p.write_text(text)
    return d


def build_load():
    """go_cgo stripped and with DWARF: {build: path}."""
    d = module_dir("go_cgo", {"main.go": SOURCE.read_text()})
    out = {}
    for build, flags in (("stripped", ("-ldflags=-s -w",)), ("dwarf", ())):
        out[build] = d / f"go_cgo_{build}"
        go_build(d, out[build], *flags)
    return out


def big_source():
    """{file: text} of the generated program: BIG_FUNCS functions of
    BIG_STMTS arithmetic statements, each calling the next now and then,
    in packages of BIG_PER_PKG (one package of them all takes the compiler
    past the memory of a 2-CPU VM), all reachable from main through a
    table."""
    files = {}
    npkg = (BIG_FUNCS + BIG_PER_PKG - 1) // BIG_PER_PKG
    main = ["package main\n\nimport (\n\t\"os\"\n"]
    main += [f"\t\"big/p{k}\"\n" for k in range(npkg)]
    main += [")\n\nfunc main() {\n",
             "\tn := len(os.Args)\n\tos.Exit(int(table[n%len(table)](uint64(n)) & 1))\n}\n",
             "\nvar table = []func(uint64) uint64{\n"]
    main += [f"\tp{i // BIG_PER_PKG}.F{i},\n" for i in range(BIG_FUNCS)]
    main.append("}\n")
    files["main.go"] = "".join(main)
    for k in range(npkg):
        first, last = k * BIG_PER_PKG, min(BIG_FUNCS, (k + 1) * BIG_PER_PKG)
        text = [f"package p{k}\n\n"]
        for i in range(first, last):
            text.append(f"//go:noinline\nfunc F{i}(x uint64) uint64 {{\n\tvar a [8]uint64\n")
            for j in range(BIG_STMTS):
                text.append(f"\ta[{j % 8}] = a[{(j * 3) % 8}]*{j * 2 + 3} + x>>{j % 13} ^ "
                            f"{i * 7919 + j}\n")
                if j % 50 == 49:
                    callee = first + (i + 1 - first) % (last - first)
                    text.append(f"\tif a[{j % 8}] == {i + j} {{\n\t\tx += F{callee}(x)\n\t}}\n")
            text.append("\treturn a[0] + a[7]\n}\n\n")
        files[f"p{k}/f.go"] = "".join(text)
    return files


def build_big():
    """The ~100 MB program, stripped, built once (several minutes)."""
    d = module_dir(f"go_big_{BIG_FUNCS}_{BIG_STMTS}_{BIG_PER_PKG}", big_source(), "big")
    out = d / "go_big"
    if not out.exists():
        log(f"building a Go program of {BIG_FUNCS} functions into {out} (once; minutes)")
        go_build(d, out, "-ldflags=-s -w")
    return out


def unwind_dump(args, *argv):
    """The '# ...' figures of unwind-dump --table --quiet: {key: value}."""
    r = subprocess.run([args.unwind_dump, "--table", "--quiet", *argv], capture_output=True,
                       text=True)
    if r.returncode != 0:
        raise BenchError(f"unwind-dump {' '.join(argv)} failed: {r.stderr[-500:]}")
    out = {}
    for line in r.stdout.splitlines():
        for k, v in re.findall(r"(\w+) ([\d.]+)", line):
            out.setdefault(k, float(v))
    return out


def go_completeness(path, comm):
    """(samples of comm, of which reach a Go root) in a folded file."""
    total = reached = 0
    with open(path, errors="replace") as f:
        for line in f:
            stack, _, count = line.rstrip("\n").rpartition(" ")
            frames = stack.split(";")
            if not count.isdigit() or frames[0] != comm[:15]:
                continue
            total += int(count)
            user = [x.removesuffix(".abi0") for x in frames[1:] if not x.endswith("_[k]")]
            if user and user[0] in GO_ROOTS:
                reached += int(count)
    return total, reached


def run_mode(args, tmpdir, binary, mode, label):
    out = Path(tmpdir) / f"{label}.folded"
    errlog = Path(tmpdir) / f"{label}.log"
    # two copies of the load: both CPUs busy with Go code
    load = Load([str(binary), str(args.seconds + 30)], [str(binary), str(args.seconds + 30)])
    with open(errlog, "w") as err:
        status, _, _, progs = run_child_bpf(
            [args.brasa, "capture", "--seconds", str(args.seconds), "--format", "folded",
             "-o", str(out), "--unwind", mode], load, stderr=err)
    if status != 0:
        raise BenchError(f"brasa capture ({label}) exited {status}:\n{log_tail(errlog)}")
    ns, cnt = sample_prog_runs(progs, "brasa")
    total, reached = go_completeness(out, binary.name)
    return {"label": label, "bpf_ns_per_sample": ns / cnt if cnt else None,
            "bpf_run_cnt": cnt, "go_samples": total, "go_complete": reached,
            "go_complete_share": reached / total if total else None}


def bench(args, tmpdir):
    ensure_tool("go", "golang-go")
    ensure_tool("bpftool", "bpftool")
    if not os.access(args.unwind_dump, os.X_OK):
        raise BenchError(f"no unwind-dump at {args.unwind_dump} (ninja -C build)")
    CACHE.mkdir(parents=True, exist_ok=True)
    builds = build_load()
    r = {"loadavg_before": os.getloadavg(), "runs": []}
    for i in range(args.repeat):
        for label, build, mode in (("gopclntab", "stripped", "dwarf"),
                                   ("debug_frame", "dwarf", "dwarf"),
                                   ("fp", "stripped", "fp")):
            log(f"{label}: brasa capture --unwind {mode} of go_cgo_{build} for "
                f"{args.seconds} s ({i + 1}/{args.repeat})")
            r["runs"].append(run_mode(args, tmpdir, builds[build], mode, label))
    r["tables"] = {}
    for label, argv in (("gopclntab", ("--go", builds["stripped"])),
                        ("debug_frame+go", ("--go", builds["dwarf"])),
                        ("debug_frame", (builds["dwarf"],))):
        t = unwind_dump(args, *map(str, argv))
        r["tables"][label] = t
    if not args.no_big:
        big = build_big()
        r["big_bytes"] = big.stat().st_size
        r["big"] = [unwind_dump(args, "--go", str(big)) for _ in range(3)]
    report(r)
    if args.json:
        write_json(args.json, {"seconds": args.seconds, **r})


def report(r):
    print(f"load average before: {' '.join(f'{x:.2f}' for x in r['loadavg_before'])}")
    print("\nBPF run time of profile_sample per sample, two go_cgo processes:")
    # a capture's first samples, before the agent has read the processes
    # and loaded their tables, are walked by frame pointers: under load
    # that takes seconds (test_go.py measures the walk alone)
    print(f"  {'tables':<12} {'ns/sample':>10} {'samples':>8} {'Go stacks complete':>20}"
          "  (first samples, before the tables load, included)")
    for x in r["runs"]:
        print(f"  {x['label']:<12} {fmt(x['bpf_ns_per_sample'], ',.0f'):>10} "
              f"{x['bpf_run_cnt']:>8} {fmt(x['go_complete_share'], '.1%'):>20}"
              f"  ({x['go_complete']}/{x['go_samples']})")
    print("\nunwind tables of go_cgo (unwind-dump --table):")
    for label, t in r["tables"].items():
        funcs = t.get("go_funcs") or t.get("fdes") or 0
        print(f"  {label:<15} rows {t.get('rows', 0):>8.0f}  bytes {t.get('bytes', 0):>9.0f}  "
              f"functions {funcs:>6.0f}  bytes/function {t.get('bytes', 0) / max(funcs, 1):.1f}  "
              f"build {t.get('build_ms', 0):.1f} ms")
    if "big" in r:
        b = r["big"]
        ms = sorted(x["build_ms"] for x in b)
        print(f"\ngenerated Go binary: {r['big_bytes'] / 1e6:.1f} MB, "
              f"{b[0]['go_funcs']:.0f} Go functions, {b[0]['rows']:.0f} rows, "
              f"table {b[0]['bytes'] / 1e6:.2f} MB "
              f"({b[0]['bytes'] / max(b[0]['go_funcs'], 1):.1f} bytes/function); "
              f"rows and table built in {', '.join(f'{x:.0f}' for x in ms)} ms "
              f"(peak {b[0]['peak_bytes'] / 1e6:.1f} MB held)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=int, default=10, help="sampling time per run (default 10)")
    ap.add_argument("--repeat", type=int, default=1,
                    help="rounds of the three runs, interleaved (default 1)")
    ap.add_argument("--no-big", action="store_true",
                    help="skip the ~100 MB binary (its first build takes minutes)")
    ap.add_argument("--brasa", default=DEFAULT_BRASA)
    ap.add_argument("--unwind-dump", default=str(UNWIND_DUMP))
    ap.add_argument("--json", metavar="FILE", help="write the figures here")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = ap.parse_args()
    if args.seconds <= 0 or args.repeat <= 0:
        ap.error("--seconds and --repeat must be positive")
    return run_bench("go_unwind", "BPF, sysctl", args, "brasa-bench-go-", bench)


if __name__ == "__main__":
    sys.exit(main())
