#!/bin/sh
# fuzz-smoke.sh -- the libFuzzer targets (tests/fuzz/fuzz_*.c: PNG decoding
# and preprocessing, the model loader, the IDX reader, the /predict handler,
# and raw HTTP into the live server) built with clang + ASan + UBSan,
# every committed corpus and regression input replayed, then each target
# fuzzed for FUZZ_SECONDS (default 60; two targets at a time, FUZZ_JOBS).
# FUZZ_SECONDS=0 only replays.
#
# Without clang or its libFuzzer runtime the committed inputs are still
# replayed (through tests/fuzz/replay.c with the default compiler) and the
# test says SKIP (77) for the fuzzing part.
#
# Exit 0 (pass), 1 (a crash, leak, hang or failed property) or 77.
set -u
cd "$(dirname "$0")/../.."
seconds=${FUZZ_SECONDS:-60}
targets=$(ls tests/fuzz/fuzz_*.c | sed 's|tests/fuzz/fuzz_||; s|\.c$||' | tr '\n' ' ')
t0=$(date +%s)

fuzz_cc=""
for c in clang-14 clang; do
    if command -v "$c" >/dev/null 2>&1; then fuzz_cc=$c; break; fi
done
probe=$(mktemp -d)
trap 'rm -rf "$probe"' EXIT
usable=0
if [ -n "$fuzz_cc" ]; then
    printf '#include <stdint.h>\n#include <stddef.h>\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }\n' \
        > "$probe/p.c"
    "$fuzz_cc" -fsanitize=fuzzer,address,undefined "$probe/p.c" -o "$probe/p" > "$probe/log" 2>&1 && usable=1
fi

if [ $usable = 0 ]; then
    echo "fuzz-smoke: no usable libFuzzer (clang ${fuzz_cc:-missing}; Debian: apt-get install clang-14 libclang-rt-14-dev);" \
         "replaying the committed inputs only" >&2
    if ! make --no-print-directory fuzz-replay; then
        echo "FAIL: a committed fuzz input fails" >&2
        exit 1
    fi
    echo "SKIP: fuzzing (replay passed)" >&2
    exit 77
fi

if ! make --no-print-directory FUZZ_CC="$fuzz_cc" fuzz-build > "$probe/build.log" 2>&1; then
    cat "$probe/build.log" >&2
    echo "FAIL: cannot build the fuzz targets" >&2
    exit 1
fi
echo "fuzz-smoke: targets built with $fuzz_cc in $(( $(date +%s) - t0 )) s; ${seconds}s per target:" \
     "$targets"
# shellcheck disable=SC2086
FUZZ_SECONDS=$seconds sh tests/fuzz/run.sh build-fuzz $targets
rc=$?
echo "fuzz-smoke: $(( $(date +%s) - t0 )) s in all"
if [ $rc != 0 ]; then
    echo "FAIL: fuzzing found a problem; the input is in build-fuzz/crashes/<target>/." \
         "Reproduce with build-fuzz/fuzz_<target> FILE, fix, then commit it to" \
         "tests/fuzz/regressions/<target>/" >&2
    exit 1
fi
exit 0
