#!/bin/sh
# test_runner.sh -- scripts/run-tests.sh itself: `make test` (and so CI)
# must fail when a test fails, skip what says 77, and pass only when nothing
# failed. (It once lost its final status line and passed everything.)
set -u
cd "$(dirname "$0")/../.."
runner=$PWD/scripts/run-tests.sh
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/tests/shell"
printf '#!/bin/sh\nexit 0\n' > "$tmp/pass"
printf '#!/bin/sh\nexit 1\n' > "$tmp/fail"
printf '#!/bin/sh\nexit 77\n' > "$tmp/skip"
chmod +x "$tmp/pass" "$tmp/fail" "$tmp/skip"
failures=0
check() {   # check WANT_STATUS WANT_SUMMARY TEST...
    want=$1 summary=$2; shift 2
    out=$(cd "$tmp" && sh "$runner" build "$@" 2>&1); rc=$?
    if [ $rc -eq "$want" ] && echo "$out" | grep -q "^tests: $summary\$"; then
        echo "ok: $* -> exit $rc, $summary"
    else
        echo "FAIL: $* -> exit $rc (want $want), summary: $(echo "$out" | tail -1)" >&2
        failures=$((failures + 1))
    fi
}
check 0 "1 passed, 0 failed, 0 skipped" ./pass
check 1 "1 passed, 1 failed, 0 skipped" ./pass ./fail
check 0 "1 passed, 0 failed, 1 skipped" ./pass ./skip
# the shell tests are counted the same way
cp "$tmp/fail" "$tmp/tests/shell/broken.sh"
check 1 "1 passed, 1 failed, 0 skipped" ./pass
[ $failures -eq 0 ] && echo "test_runner: all passed"
[ $failures -eq 0 ]
