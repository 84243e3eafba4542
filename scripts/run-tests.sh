#!/bin/sh
# run-tests.sh BUILD TEST... -- run the Check binaries, then the shell tests.
#
# Check binaries print their own "N%: Checks: ..." summary. Shell tests live in
# tests/shell/*.sh. Each test, binary or script, exits 0 (pass), 77 (skipped,
# having said why) or anything else (fail). The last line is the plain
# "N passed, N failed, N skipped" summary.
set -u
build=$1; shift
passed=0; failed=0; skipped=0; failures=""

export DIGITS_BUILD="$build"
export DIGITS_DATA="${DIGITS_DATA:-data/mnist}"
export DIGITS_MODEL="${DIGITS_MODEL:-models/mnist-mlp.bin}"
export DIGITS_SHARED="${DIGITS_SHARED:-../shared}"
export CK_DEFAULT_TIMEOUT="${CK_DEFAULT_TIMEOUT:-600}"

count() {   # count TEST STATUS
    case $2 in
        0) passed=$((passed + 1)) ;;
        77) skipped=$((skipped + 1)); echo "SKIPPED: $1" ;;
        *) failed=$((failed + 1)); failures="$failures $1" ;;
    esac
}
for t in "$@"; do
    echo "== $t"
    "$t"; count "$t" $?
done
for t in tests/shell/*.sh; do
    [ -e "$t" ] || continue
    echo "== $t"
    sh "$t"; count "$t" $?
done
[ -n "$failures" ] && echo "failed:$failures"
echo "tests: $passed passed, $failed failed, $skipped skipped"
[ "$failed" = 0 ]
