#!/bin/sh
# sanitizers.sh -- the unit and integration suites again, built with
# AddressSanitizer + UndefinedBehaviorSanitizer (`make SAN=1`, in
# build-san/): every Check binary (tests/check_*.c, including the hostile
# suite, which then attacks the sanitized server binary), every committed
# fuzz corpus and regression input, and server_curl.sh against the
# sanitized server. Any ASan report, UB, or leak (LeakSanitizer runs when
# each process exits, Check's forked test children included) fails it.
#
# Exit 0 (pass), 1 (fail) or 77 (skipped: no sanitizer runtime).
set -u
cd "$(dirname "$0")/../.."
san=build-san

if [ "${DIGITS_SANITIZERS_RUNNING:-}" = 1 ]; then
    echo "SKIP: sanitizers.sh does not run inside itself" >&2
    exit 77
fi
export DIGITS_SANITIZERS_RUNNING=1

t0=$(date +%s)
tests=""
for c in tests/check_*.c; do
    n=${c#tests/}
    tests="$tests $san/tests/${n%.c}"
done
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! make --no-print-directory SAN=1 all $tests fuzz-replay-build > "$log" 2>&1; then
    if grep -q "cannot find -lasan\|cannot find -lubsan\|libasan" "$log"; then
        echo "SKIP: the compiler has no ASan/UBSan runtime (apt-get install libasan8 libubsan1)" >&2
        exit 77
    fi
    cat "$log" >&2
    echo "FAIL: make SAN=1 failed" >&2
    exit 1
fi
echo "sanitizers: built $san/ in $(( $(date +%s) - t0 )) s"

export DIGITS_BUILD=$san
export DIGITS_DATA="${DIGITS_DATA:-data/mnist}"
export DIGITS_MODEL="${DIGITS_MODEL:-models/mnist-mlp.bin}"
export CK_DEFAULT_TIMEOUT="${CK_DEFAULT_TIMEOUT:-900}"
# halt_on_error: the first report fails the process (UBSan is built with
# -fno-sanitize-recover already); leaks are reported at every exit.
export ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:strict_string_checks=1:check_initialization_order=1:detect_invalid_pointer_pairs=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
export LSAN_OPTIONS="${LSAN_OPTIONS:-}"

failed=""
timing=""
run() {   # run NAME COMMAND...
    name=$1; shift
    s=$(date +%s)
    echo "== sanitized: $name"
    "$@"
    rc=$?
    timing="$timing $name:$(( $(date +%s) - s ))s"
    case $rc in
        0) ;;
        77) echo "(skipped parts: $name)" ;;
        *) failed="$failed $name" ;;
    esac
}

for t in $tests; do
    run "${t#$san/tests/}" "$t"
done
run fuzz-replay make --no-print-directory SAN=1 fuzz-replay
run server_curl.sh sh tests/shell/server_curl.sh

echo "sanitizers: timings:$timing; total $(( $(date +%s) - t0 )) s"
if [ -n "$failed" ]; then
    echo "FAIL: under ASan+UBSan:$failed" >&2
    exit 1
fi
echo "sanitizers: all suites clean under ASan+UBSan"
