#!/bin/sh
# run.sh BUILD TARGET... -- replay, then fuzz, each libFuzzer target.
#
# For each target BUILD/fuzz_TARGET:
#   1. replay every committed input once: tests/fuzz/corpus/TARGET (seeds)
#      and tests/fuzz/regressions/TARGET (inputs that once crashed or hung);
#   2. fuzz for FUZZ_SECONDS (default 60) from those inputs plus the working
#      corpus BUILD/corpus/TARGET, which keeps what earlier runs found.
# Crashes, leaks and hangs land in BUILD/crashes/TARGET/; each one should be
# fixed and then copied into tests/fuzz/regressions/TARGET/. Logs are in
# BUILD/logs/. Targets run FUZZ_JOBS (default 2) at a time.
#
# The last lines are one summary per target: executions, executions per
# second, coverage (libFuzzer's edge count) and corpus size. Exit 0 when
# every replay and every fuzzing run ended cleanly.
set -u
build=$1; shift
seconds=${FUZZ_SECONDS:-60}
jobs=${FUZZ_JOBS:-2}
here=tests/fuzz
mkdir -p "$build/logs"

# Options per target: the request targets need room for bodies over the
# 4 KiB upload limit their servers use.
options() {
    case $1 in
        request|multipart) echo "-max_len=8192" ;;
        model) echo "-max_len=16384" ;;
        *) echo "-max_len=4096" ;;
    esac
}

inputs() {
    for d in "$here/corpus/$1" "$here/regressions/$1"; do
        [ -d "$d" ] && [ -n "$(ls -A "$d" 2>/dev/null)" ] && printf '%s ' "$d"
    done
}

run_one() {
    t=$1
    bin=$build/fuzz_$t
    log=$build/logs/$t.log
    dict=""
    [ -f "$here/$t.dict" ] && dict="-dict=$here/$t.dict"
    mkdir -p "$build/corpus/$t" "$build/crashes/$t"
    # shellcheck disable=SC2046
    if ! "$bin" -runs=0 $(options "$t") $(inputs "$t") > "$build/logs/$t.replay.log" 2>&1; then
        echo "fuzz $t: FAILED replaying committed inputs (log: $build/logs/$t.replay.log)"
        grep -E "ERROR|SUMMARY|Running:|abort|==[0-9]+==" "$build/logs/$t.replay.log" | head -20
        return 1
    fi
    [ "$seconds" = 0 ] && { echo "fuzz $t: committed inputs replayed cleanly"; return 0; }
    # shellcheck disable=SC2046
    "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$build/crashes/$t/" $dict $(options "$t") \
        "$build/corpus/$t" $(inputs "$t") > "$log" 2>&1
    rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    last=$(grep -E '^#[0-9]+' "$log" | tail -1)
    cov=$(echo "$last" | sed -n 's/.*cov: \([0-9]*\).*/\1/p')
    ft=$(echo "$last" | sed -n 's/.* ft: \([0-9]*\).*/\1/p')
    corp=$(echo "$last" | sed -n 's/.* corp: \([0-9]*\)\/.*/\1/p')
    total=$(sed -n 's/^INFO: Loaded 1 modules *(\([0-9]*\) inline 8-bit counters.*/\1/p' "$log" | head -1)
    if [ $rc -ne 0 ]; then
        echo "fuzz $t: FAILED after ${execs:-?} executions (log: $log)"
        grep -E "ERROR|SUMMARY|Test unit written|fuzz_[a-z]*: " "$log" | head -20
        ls "$build/crashes/$t/" 2>/dev/null | sed "s|^|    $build/crashes/$t/|"
        return 1
    fi
    echo "fuzz $t: ${execs:-0} executions in ${seconds}s (${rate:-0}/s), cov ${cov:-?} of ${total:-?} edges, ft ${ft:-?}, corpus ${corp:-?}"
    return 0
}

status=0
running=0
pids=""
results=$(mktemp -d)
for t in "$@"; do
    ( run_one "$t" > "$results/$t" 2>&1 ) &
    pids="$pids $!"
    running=$((running + 1))
    if [ $running -ge "$jobs" ]; then
        for p in $pids; do wait "$p" || status=1; done
        pids=""
        running=0
    fi
done
for p in $pids; do wait "$p" || status=1; done
for t in "$@"; do cat "$results/$t"; done
rm -rf "$results"
exit $status
