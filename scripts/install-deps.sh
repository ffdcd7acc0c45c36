#!/bin/sh
# Installs the Debian packages brasa needs to build, run and test.
# Idempotent and quiet when everything is present: dpkg-query decides what
# is missing, and apt-get runs only for that.
set -eu

BUILD_PKGS="meson ninja-build pkg-config gcc clang llvm bpftool
libbpf-dev libelf-dev libdw-dev libcurl4-openssl-dev libprotobuf-c-dev
protobuf-c-compiler libzstd-dev libsystemd-dev libmicrohttpd-dev libyaml-dev
libjson-c-dev zlib1g-dev libpcre2-dev libgnutls28-dev libsqlite3-dev
libiberty-dev libdebuginfod-dev"
# Peers and independent readers used by the test suite; libclang-rt-14-dev
# is libFuzzer and clang's sanitizer runtimes for build-fuzz/ (gcc's,
# for build-san/, come with gcc). chromium, chromium-driver and
# python3-selenium: the web page's tests drive a real headless Chromium
# (tests/integration/browser.py). nodejs runs the page's script
# (tests/web); npm fetches the npm packages whose schemas tests validate
# against (speedscope's file format) with python3-jsonschema.
TEST_PKGS="protobuf-compiler golang-go linux-perf elfutils binutils xz-utils
curl python3 libclang-rt-14-dev prometheus lld chromium chromium-driver
python3-selenium python3-jsonschema debuginfod"
# node and npm by command: a NodeSource nodejs (which carries npm and
# conflicts with Debian's npm package) serves as well as Debian's
NODE_PKGS=""
command -v node >/dev/null 2>&1 || NODE_PKGS="nodejs"
command -v npm >/dev/null 2>&1 || NODE_PKGS="$NODE_PKGS npm"

want="$BUILD_PKGS"
[ "${1:-}" = "--test" ] && want="$BUILD_PKGS $TEST_PKGS $NODE_PKGS"

missing=""
for p in $want; do
	st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
	[ "$st" = "installed" ] || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: missing packages:$missing" >&2
	echo "install-deps: run as root, or: sudo apt-get install$missing" >&2
	exit 1
fi
echo "install-deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
