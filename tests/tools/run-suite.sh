#!/bin/sh
# Runs the whole test suite and ends with one line:
# "N passed, N failed, N skipped".
#
#   run-suite.sh BUILD [SAN_BUILD FUZZ_BUILD] [meson test args...]
#
# BUILD is the plain build: unit tests, then the privileged eBPF
# integration tests. With SAN_BUILD (gcc, -Db_sanitize=address,undefined)
# and FUZZ_BUILD (clang, the same sanitizers and -Dfuzzing=true), as
# `make test` passes them, also: the unit tests under the sanitizers,
# every fuzz target for FUZZ_SECONDS (5) on its corpus, and the
# integration tests split between the plain agent (suite bpf-plain, the
# measurements) and the sanitized one (bpf-sanitized, the rest); with
# BPF_BOTH=1 every integration test runs against both. Each phase prints
# a line per finished test as it goes, and the logs of failures.
#
# Under CI=true a skipped test of a privileged suite counts as a failure:
# CI runs as root on a machine that can load BPF, so a skip there hides a
# broken test.
set -u
build=${1:-build}
[ $# -gt 0 ] && shift
san= fuzz=
if [ $# -ge 2 ] && [ -f "$1/build.ninja" ] && [ -f "$2/build.ninja" ]; then
	san=$1 fuzz=$2
	shift 2
fi
: >"$build/suite.log"
logs=

# phase LABEL DIR LOGBASE JOBS MESON_TEST_ARGS...: one `meson test` run
# of up to JOBS tests at a time, streamed, its results in
# DIR/meson-logs/LOGBASE.json.
phase() {
	label=$1 dir=$2 logbase=$3 jobs=$4
	shift 4
	echo "== $label ($dir)"
	t0=$(date +%s)
	rm -f "$dir/meson-logs/$logbase.json"
	meson test -C "$dir" --no-rebuild --print-errorlogs --num-processes "$jobs" \
		--logbase "$logbase" "$@" 2>&1 | tee -a "$build/suite.log" |
		grep --line-buffered -vE '^[[:space:]]*$|^(Ok|Expected Fail|Fail|Unexpected Pass|Skipped|Timeout): |^Full log written'
	echo "== $label: $(($(date +%s) - t0)) s"
	logs="$logs $dir/meson-logs/$logbase.json"
}

# (grep --line-buffered above: piped to a file, as in CI, grep would hold
# a phase's lines until it ends)

# compile DIR [TARGET...]: ninja's output to the log, its progress here
# every tenth of the way (a clean build takes minutes on 2 CPUs)
compile() {
	echo "== build $1"
	rcfile="$build/.compile-rc"
	{
		ninja -C "$@" 2>&1
		echo $? >"$rcfile"
	} | tee -a "$build/suite.log" | awk -F'[][/]' '
		/^\[[0-9]+\/[0-9]+\]/ && $3 > 0 {
			p = int($2 * 10 / $3)
			if (p != last) { printf "   %d/%d built\n", $2, $3; last = p; fflush() }
		}'
	if [ "$(cat "$rcfile")" != 0 ]; then
		tail -n 40 "$build/suite.log"
		echo "0 passed, 1 failed, 0 skipped"
		exit 1
	fi
}

compile "$build"
if [ -n "$san" ]; then
	compile "$san"
	compile "$fuzz" fuzzers # the fuzz targets and their seeds only
fi
# unit tests: 4 at a time on 2 CPUs, the long ones (uploader, remote,
# k8s, http_server) mostly wait on timers and child processes; fuzzers: 2
phase "unit tests" "$build" unit 4 --suite unit "$@"
if [ -n "$san" ]; then
	phase "unit tests, ASan+UBSan" "$san" unit 4 --suite unit "$@"
	export FUZZ_SECONDS="${FUZZ_SECONDS:-5}"
	phase "fuzzers, $FUZZ_SECONDS s each" "$fuzz" fuzz 2 --suite fuzz "$@"
fi
# with a sanitized build, each integration test runs once: suite
# bpf-plain against the plain agent, bpf-sanitized against the sanitized
# one (tests/integration/meson.build says which and why); BPF_BOTH=1: all in both
plain_bpf=bpf san_bpf=bpf
if [ -n "$san" ] && [ "${BPF_BOTH:-0}" != 1 ]; then
	plain_bpf=bpf-plain san_bpf=bpf-sanitized
fi
phase "integration tests (eBPF)" "$build" bpf 2 --suite "$plain_bpf" "$@"
if [ -n "$san" ]; then
	phase "integration tests (eBPF), sanitized agent" "$san" bpf 2 \
		--suite "$san_bpf" "$@"
fi

# shellcheck disable=SC2086
python3 - $logs <<'PY'
import json, os, sys
passed = failed = skipped = 0
ci = os.environ.get("CI") == "true"
for path in sys.argv[1:]:
    if not os.path.exists(path):
        print(f"FAIL: no test log {path}")
        failed += 1
        continue
    seen = {}
    for line in open(path):
        t = json.loads(line)
        seen[t["name"]] = t
    for name, t in sorted(seen.items()):
        r = t["result"]
        privileged = any(s.endswith("bpf") for s in t.get("suite", []))
        if r in ("OK", "EXPECTEDFAIL"):
            passed += 1
        elif r == "SKIP":
            if ci and privileged:
                print(f"FAIL (skipped under CI): {name} ({path})")
                failed += 1
            else:
                skipped += 1
        else:
            # again at the end, where a CI log's tail shows it: what the
            # test printed last (its full log is in the phase above)
            out = ((t.get("stdout") or "") + (t.get("stderr") or "")).rstrip().splitlines()
            fails, case = [], None
            for l in out:
                if l.startswith("== case"):
                    case = l
                elif "FAIL" in l or ") failed" in l:
                    if case:
                        fails.append(case)
                        case = None
                    fails.append(l)
            fails = fails[:16]
            print(f"{r}: {name} ({path}), its failed checks and last lines:")
            for line in fails + ["    ..."] + out[-12:]:
                print(f"    {line}")
            failed += 1
print(f"{passed} passed, {failed} failed, {skipped} skipped")
sys.exit(1 if failed or passed == 0 else 0)
PY
