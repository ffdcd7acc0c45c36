#!/bin/sh
# Independent readers of brasa's pprof output: protoc --decode against
# proto/profile.proto, and go tool pprof (-raw, -top, -traces). A profile
# written by `test-pprof --write-profile` must decode with the function
# names, counts and labels build_sample_profile() put in.
#
#   pprof-decode.sh TEST_PPROF_BINARY PROFILE_PROTO
#
# Exit 0 pass, 1 fail, 77 skip when a reader is missing (the readers that
# are present still run, and any failure among them fails the test).
set -u

test_pprof=$1
proto=$2
failures=0
missing=0

tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT

fail() {
	echo "FAIL: $*" >&2
	failures=$((failures + 1))
}

# expect FILE DESCRIPTION GREP_ARGS...: the file has a line matching
expect() {
	file=$1 what=$2
	shift 2
	if ! grep -q "$@" "$file"; then
		fail "$what: no line matching '$*' in $(basename "$file")"
	fi
}

"$test_pprof" --write-profile "$tmp/profile.pb.gz" || { echo "test-pprof --write-profile failed" >&2; exit 1; }

if ! command -v gzip >/dev/null; then
	echo "gzip missing" >&2
	exit 77
fi

if command -v protoc >/dev/null; then
	if gzip -dc "$tmp/profile.pb.gz" |
		protoc --decode perftools.profiles.Profile \
			--proto_path="$(dirname "$proto")" "$proto" >"$tmp/decoded.txt" 2>"$tmp/protoc.err"; then
		out=$tmp/decoded.txt
		# string_table[0] == "": the first string_table line is the empty string
		first=$(grep -m1 '^string_table:' "$out")
		[ "$first" = 'string_table: ""' ] || fail "protoc: first string_table entry is '$first'"
		for name in main work compute_inner do_syscall_64 entry_SYSCALL_64 \
			app pid bytes comm samples count cpu nanoseconds /usr/bin/app; do
			expect "$out" "protoc string" -Fx "string_table: \"$name\""
		done
		n=$(grep -c '^sample {' "$out")
		[ "$n" = 6 ] || fail "protoc: $n samples, want 6"
		# values [n, n * period], the merged sample first
		tr -d '\n' <"$out" | grep -q 'value: 5  value: 50000000' ||
			fail "protoc: merged sample value [5, 50000000] missing"
		total=$(awk '/^  value:/ { if (++i % 2) s += $2 } END { print s }' "$out")
		[ "$total" = 14 ] || fail "protoc: total sample count $total, want 14"
		expect "$out" "protoc period" -x 'period: 10000000'
		expect "$out" "protoc duration" -x 'duration_nanos: 10000000000'
		expect "$out" "protoc time" -x 'time_nanos: 1700000000000000000'
		expect "$out" "protoc label num" -x '    num: 43'
		expect "$out" "protoc has_inline_frames" -x '  has_inline_frames: true'
	else
		fail "protoc could not decode the profile: $(cat "$tmp/protoc.err")"
	fi
else
	echo "protoc missing, skipping its checks" >&2
	missing=1
fi

if command -v go >/dev/null && go tool -n pprof >/dev/null 2>&1; then
	# go wants writable HOME and caches; pprof keeps fetched profiles in
	# PPROF_TMPDIR
	export HOME="$tmp/home" GOCACHE="$tmp/gocache" GOPATH="$tmp/gopath" \
		PPROF_TMPDIR="$tmp/pprof"
	mkdir -p "$HOME"
	for mode in raw top traces; do
		if ! go tool pprof "-$mode" "$tmp/profile.pb.gz" >"$tmp/$mode.txt" 2>"$tmp/$mode.err"; then
			fail "go tool pprof -$mode: $(cat "$tmp/$mode.err")"
		fi
	done

	out=$tmp/raw.txt
	expect "$out" "pprof -raw period type" -x 'PeriodType: cpu nanoseconds'
	expect "$out" "pprof -raw period" -x 'Period: 10000000'
	expect "$out" "pprof -raw sample types" 'samples/count cpu/nanoseconds'
	expect "$out" "pprof -raw merged sample" -E '^ +5 +50000000: [0-9]+ [0-9]+ $'
	expect "$out" "pprof -raw pid 43 sample" -E '^ +4 +40000000: [0-9]+ [0-9]+ $'
	expect "$out" "pprof -raw str label" -F 'comm:[app]'
	expect "$out" "pprof -raw num labels" -F 'bytes:[4096 bytes] pid:[42]'
	expect "$out" "pprof -raw inlined callee" -E ' compute_inner app\.c:30 '
	expect "$out" "pprof -raw inlined caller" -E '^ +work app\.c:40 '
	expect "$out" "pprof -raw mapping flags" -F '/usr/bin/app abcdef0123456789 [FN][FL][LN][IN]'
	total=$(awk '/^Samples:/ { on = 1; next } /^Locations/ { on = 0 }
		on && $2 ~ /:$/ { s += $1 } END { print s }' "$out")
	[ "$total" = 14 ] || fail "pprof -raw: total sample count $total, want 14"

	out=$tmp/top.txt
	expect "$out" "pprof -top total" -F 'Total samples = 140ms'
	expect "$out" "pprof -top compute_inner" -E '^ +90ms .* 100ms .* compute_inner \(inline\)$'
	expect "$out" "pprof -top main" -E '^ +30ms .* 140ms +100% +main$'
	expect "$out" "pprof -top kernel leaf" -E '^ +10ms .* do_syscall_64$'
	expect "$out" "pprof -top kernel entry" -E ' entry_SYSCALL_64$'
	expect "$out" "pprof -top work" -E '^ +0 .* 100ms .* work$'
	expect "$out" "pprof -top unsymbolized" -F '[libc.so.6]'

	out=$tmp/traces.txt
	expect "$out" "pprof -traces comm" -E '^ +comm: +my prog;x$'
	expect "$out" "pprof -traces pid" -E '^ +pid: +43$'
	expect "$out" "pprof -traces num unit" -E '^ +bytes: +4kB$'
else
	echo "go tool pprof missing, skipping its checks" >&2
	missing=1
fi

if [ "$failures" -gt 0 ]; then
	echo "$failures check(s) failed; decoded outputs:" >&2
	for f in "$tmp"/*.txt; do
		[ -f "$f" ] && { echo "== $(basename "$f")" >&2; cat "$f" >&2; }
	done
	exit 1
fi
[ "$missing" -eq 0 ] || exit 77
echo "pprof-decode: all checks passed"
exit 0
