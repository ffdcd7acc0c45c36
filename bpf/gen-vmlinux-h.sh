#!/bin/sh
# Writes vmlinux.h for the CO-RE programs: from the running kernel's BTF when
# the build machine has it, else the checked-in x86_64 copy. CO-RE relocates
# field offsets at load time, so either works on any BTF kernel.
set -eu
bpftool=$1 out=$2 fallback=$3
if [ -r /sys/kernel/btf/vmlinux ] &&
	"$bpftool" btf dump file /sys/kernel/btf/vmlinux format c >"$out.tmp" 2>/dev/null; then
	mv "$out.tmp" "$out"
else
	rm -f "$out.tmp"
	cp "$fallback" "$out"
fi
