#!/bin/sh
# coverage.sh -- how much of the code the fuzz corpora reach, per source
# file, measured with clang's source-based coverage (not libFuzzer's edge
# counter): each target is rebuilt with -fprofile-instr-generate, every
# input of its corpora is run once through tests/fuzz/replay.c, and
# llvm-cov reports line, function and branch coverage for the files that
# target exists to test.
#
#   sh tests/fuzz/coverage.sh [TARGET...]     (default: every target)
#
# Corpora: tests/fuzz/corpus/T, tests/fuzz/regressions/T and, when present,
# build-fuzz/corpus/T (what `make fuzz` has found so far). Output in
# build-fuzz/coverage/. Needs clang, llvm-profdata and llvm-cov (14).
set -eu
cd "$(dirname "$0")/../.."
cc=${FUZZ_CC:-clang-14}
profdata=${LLVM_PROFDATA:-llvm-profdata-14}
llvmcov=${LLVM_COV:-llvm-cov-14}
out=build-fuzz/coverage
mkdir -p "$out"
for tool in "$cc" "$profdata" "$llvmcov"; do
    command -v "$tool" >/dev/null 2>&1 || { echo "coverage: $tool is needed" >&2; exit 77; }
done
make --no-print-directory -s build/gen/page_data.c >/dev/null 2>&1 || true

pkgs="libmicrohttpd libcjson libpng"
flags="-O1 -g -fprofile-instr-generate -fcoverage-mapping -std=c17 -D_POSIX_C_SOURCE=200809L -pthread
       -Icommon -Iserver $(pkg-config --cflags $pkgs)"
srcs="$(ls common/*.c) $(ls server/*.c | grep -v server/main.c)"
[ -f build/gen/page_data.c ] && srcs="$srcs build/gen/page_data.c"

files_for() {
    case $1 in
        png) echo "common/png_io.c common/image.c $(ls common/preprocess*.c) common/arena.c common/histogram.c" ;;
        model) echo "common/model.c common/mlp.c" ;;
        idx) echo "common/idx.c" ;;
        multipart) echo "server/multipart.c server/routes.c server/inference.c" ;;
        request) echo "server/http.c server/routes.c server/multipart.c server/inference.c server/strbuf.c server/log.c" ;;
        *) echo "" ;;
    esac
}

targets=${*:-$(ls tests/fuzz/fuzz_*.c | sed 's|tests/fuzz/fuzz_||; s|\.c$||')}
for t in $targets; do
    # shellcheck disable=SC2086
    "$cc" $flags -Wno-unused-command-line-argument tests/fuzz/fuzz_$t.c tests/fuzz/replay.c $srcs \
        -o "$out/$t" $(pkg-config --libs $pkgs) -lm
    dirs=""
    for d in tests/fuzz/corpus/$t tests/fuzz/regressions/$t build-fuzz/corpus/$t; do
        [ -d "$d" ] && dirs="$dirs $d"
    done
    rm -f "$out/$t".profraw
    # shellcheck disable=SC2086
    LLVM_PROFILE_FILE="$out/$t.profraw" DIGITS_MODEL="${DIGITS_MODEL:-models/mnist-mlp.bin}" \
        "$out/$t" $dirs > "$out/$t.replay.txt" 2>&1 || { cat "$out/$t.replay.txt" >&2; exit 1; }
    "$profdata" merge -sparse -o "$out/$t.profdata" "$out/$t.profraw"
    echo "== $t: $(tail -1 "$out/$t.replay.txt")"
    # shellcheck disable=SC2046
    "$llvmcov" report "$out/$t" -instr-profile="$out/$t.profdata" $(files_for "$t") \
        | tee "$out/$t.report.txt"
done
