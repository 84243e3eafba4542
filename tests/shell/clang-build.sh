#!/bin/sh
# clang-build.sh -- the whole tree (programs and every test binary) must
# build warning-free with clang as well as gcc (-Wall -Wextra -Werror ...),
# in build-clang/. Building is the test; the gcc builds run the suites.
#
# Exit 0 (pass), 1 (fail) or 77 (skipped: no clang).
set -u
cd "$(dirname "$0")/../.."
command -v clang >/dev/null 2>&1 || { echo "SKIP: clang is not installed (apt-get install clang)"; exit 77; }
tests=""
for c in tests/check_*.c; do
    n=${c#tests/}
    tests="$tests build-clang/tests/${n%.c}"
done
# shellcheck disable=SC2086
if make --no-print-directory -s CC=clang BUILD=build-clang all $tests; then
    echo "clang-build: the programs and $(echo $tests | wc -w) test binaries build warning-free"
    exit 0
fi
echo "clang-build: FAILED (see the compiler messages above)"
exit 1
