#!/bin/sh
# Runs one libFuzzer target as a test: every seed (tests/fuzz/corpus/NAME/
# and the extra seed files) once, then FUZZ_SECONDS (default 5) of
# fuzzing, with a per-input time limit and a memory limit. A crash, a
# sanitizer report, a leak, a timeout or an out-of-memory fails the test
# and prints the reproducer's path and the command that replays it.
#
#   run-fuzzer.sh NAME FUZZER SEED_DIR TIMEOUT_S RSS_MB [SEED_FILE...]
#
# Inputs found go to a corpus in $BRASA_BUILD_ROOT/fuzz/NAME/: a fresh one
# each run, so a test's time does not grow with what earlier runs found,
# or with FUZZ_KEEP_CORPUS=1 (make fuzz) one kept from run to run, which
# a long run starts from. Reproducers go to $BRASA_BUILD_ROOT/fuzz/NAME/
# artifacts; one worth keeping as a regression input belongs in SEED_DIR.
set -u
name=$1 fuzzer=$(realpath "$2") seeds=$3 timeout=$4 rss_mb=$5
shift 5
seconds=${FUZZ_SECONDS:-5}
work=${BRASA_BUILD_ROOT:-.}/fuzz/$name
log=$work/last-run.log
corpus=$work/corpus
if [ "${FUZZ_KEEP_CORPUS:-0}" != 1 ]; then
	corpus=$work/run-corpus
	rm -rf "$corpus"
fi
mkdir -p "$corpus" "$work/artifacts" || exit 1
for f in "$@"; do
	cp -f "$f" "$corpus/seed-$(basename "$f")" || exit 1
done
[ -d "$seeds" ] || { echo "fuzz-$name: no seed corpus at $seeds"; exit 1; }

# -timeout: one input taking longer is a finding (a crafted .eh_frame once
# took 8-18 s); -rss_limit_mb and -malloc_limit_mb: so is a memory blowup.
"$fuzzer" -max_total_time="$seconds" -timeout="$timeout" \
	-rss_limit_mb="$rss_mb" -malloc_limit_mb="$rss_mb" \
	-artifact_prefix="$work/artifacts/" -print_final_stats=1 \
	"$corpus" "$seeds" >"$log" 2>&1
rc=$?

runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
inputs=$(ls "$corpus" | wc -l)
if [ $rc -eq 0 ]; then
	echo "fuzz-$name: ${runs:-?} inputs run in ${seconds} s, no finding;" \
	     "corpus $inputs inputs + $(ls "$seeds" | wc -l) seeds"
	exit 0
fi
# the sanitizer's or libFuzzer's report, then where the input is
grep -v -E '^#[0-9]+[[:space:]]+(NEW|REDUCE|pulse|INITED|RELOAD)' "$log" | tail -n 60
repro=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
echo "fuzz-$name: FAILED (libFuzzer exit $rc)"
if [ -n "$repro" ]; then
	echo "reproducer: $repro"
	echo "replay:     ASAN_OPTIONS='${ASAN_OPTIONS:-}' LSAN_OPTIONS='${LSAN_OPTIONS:-}' $fuzzer $repro"
else
	echo "no reproducer written; full log: $log"
fi
exit 1
