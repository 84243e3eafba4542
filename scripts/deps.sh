#!/bin/sh
# deps.sh -- find missing dependencies and install them on Debian/Ubuntu.
#
#   scripts/deps.sh          build dependencies (pkg-config modules + compiler)
#   scripts/deps.sh --test   also the tools the test suite runs
#
# Packages are installed only as root on a system with apt-get; anyone else
# gets the exact command to run. apt-get update runs at most once per call.
set -eu

BUILD_PKGS="build-essential pkg-config libmicrohttpd-dev libcjson-dev libpng-dev check"
# Tools the tests use, one package per line so that each addition is a
# one-line change: name of the command or file it provides, then the package.
TEST_TOOLS="
curl:curl
clang:clang
npm:npm
promtool:prometheus
/usr/bin/chromium:chromium
/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf:fonts-dejavu-core
yamllint:yamllint
clang-14:clang-14
/usr/lib/llvm-14/lib/clang/14.0.6/lib/linux/libclang_rt.fuzzer-x86_64.a:libclang-rt-14-dev
valgrind:valgrind
"

missing=""
command -v pkg-config >/dev/null 2>&1 || missing="$missing pkg-config"
command -v cc >/dev/null 2>&1 || missing="$missing build-essential"
for mod in libmicrohttpd:libmicrohttpd-dev libcjson:libcjson-dev libpng:libpng-dev check:check; do
    name=${mod%%:*}; pkg=${mod#*:}
    if ! pkg-config --exists "$name" 2>/dev/null; then missing="$missing $pkg"; fi
done

if [ "${1:-}" = "--test" ]; then
    for entry in $TEST_TOOLS; do
        tool=${entry%%:*}; pkg=${entry#*:}
        case $tool in
            /*) [ -e "$tool" ] || missing="$missing $pkg" ;;
            *)  command -v "$tool" >/dev/null 2>&1 || missing="$missing $pkg" ;;
        esac
    done
fi

[ -z "$missing" ] && exit 0
missing=$(echo $missing | tr ' ' '\n' | sort -u | tr '\n' ' ')

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "deps: installing:$missing" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $missing >/dev/null
    exit 0
fi

echo "deps: missing packages:$missing" >&2
echo "deps: install them with:  sudo apt-get update && sudo apt-get install -y$missing" >&2
exit 1
