#!/bin/sh
# Regenerates the small real ELF objects of the elf and unwind fuzz
# corpora from seeds-src/tiny.c with this machine's gcc and binutils:
#
#   tests/fuzz/make-elf-seeds.sh
#
# Linked without page alignment so each is a few KiB (libFuzzer mutates
# small inputs far faster); the meson-built fixtures are added as seeds
# too (tests/fuzz/meson.build, 'seeds').
set -eu
here=$(cd "$(dirname "$0")" && pwd)
src=$here/seeds-src/tiny.c
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
small="-nostdlib -Wl,-z,noseparate-code -Wl,-z,max-page-size=0x10 -Wl,-z,norelro"
exe="-static -fno-pie -no-pie"

cd "$tmp"
gcc -O1 -g $small $exe -Wl,--build-id=sha1 -o static-dwarf "$src"
gcc -O2 -g -gdwarf-4 $small -shared -fPIC -Wl,--build-id=md5 -o lib-dwarf4.so "$src"
gcc -O2 $small -shared -fPIC -o lib-stripped.so "$src"
strip lib-stripped.so
gcc -O1 -g $small $exe -Wl,--compress-debug-sections=zlib -o zdebug "$src"
# unwind: .debug_frame only; .eh_frame with and without .eh_frame_hdr
gcc -O2 -g $small $exe -fno-asynchronous-unwind-tables -o debug-frame "$src"
gcc -O2 $small $exe -o eh-frame "$src"
strip --strip-unneeded eh-frame
gcc -O2 $small $exe -Wl,--eh-frame-hdr -o eh-frame-hdr "$src"
strip --strip-unneeded eh-frame-hdr
for f in *; do
	objcopy --remove-section=.comment "$f"
done
for f in static-dwarf lib-dwarf4.so lib-stripped.so zdebug debug-frame; do
	cp "$f" "$here/corpus/elf/tiny-$f"
done
for f in debug-frame eh-frame eh-frame-hdr lib-dwarf4.so; do
	cp "$f" "$here/corpus/unwind/tiny-$f"
done
