#!/bin/sh
# trainer_cli.sh -- digits-trainer's command line refuses bad input in words:
# every flag that takes a value, given without one, exits 2 with a message
# naming the flag (it once crashed for a few: the missing value was read as a
# string); unknown flags exit 2; --help exits 0. Nothing here needs MNIST.
#
# Exit 0 (pass) or 1 (fail).
set -u
cd "$(dirname "$0")/../.."
build=${DIGITS_BUILD:-build}
trainer=$build/digits-trainer
[ -x "$trainer" ] || { echo "FAIL: $trainer is not built (run make)" >&2; exit 1; }

failures=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# expect STATUS TEXT ARGS...: exit status STATUS and TEXT somewhere in stderr.
expect() {
    want=$1; text=$2; shift 2
    "$trainer" "$@" > "$tmp/out" 2> "$tmp/err"
    got=$?
    if [ "$got" -ne "$want" ] || ! grep -q -- "$text" "$tmp/err"; then
        echo "FAIL: digits-trainer $*: exit $got (want $want), stderr: $(head -c 200 "$tmp/err")" >&2
        failures=$((failures + 1))
    fi
}

for flag in --data --out --arch --augment --epochs --batch --optimizer --lr --momentum \
    --lr-schedule --lr-min --dropout --seed --threads --val-split; do
    expect 2 "$flag needs a value" train "$flag"
done
for flag in --model --labels --dump --threads --weights --pipeline; do
    expect 2 "$flag needs a value" predict some.png "$flag"
done
for flag in --model --data --threads; do
    expect 2 "$flag needs a value" eval "$flag"
done
for flag in --data --out --count --seed; do
    expect 2 "$flag needs a value" variants "$flag"
done

expect 2 "--frobnicate" train --frobnicate
expect 2 "--frobnicate" predict some.png --frobnicate
expect 2 "auto, int8, bf16 or f32" predict some.png --weights fp16
expect 2 "none, preprocess or full" train --augment most
expect 2 "--epochs" train --epochs 0
for cmd in train predict eval variants; do
    "$trainer" "$cmd" --help > "$tmp/out" 2>&1 ||
        { echo "FAIL: digits-trainer $cmd --help exits $?" >&2; failures=$((failures + 1)); }
done

if [ "$failures" -ne 0 ]; then
    echo "trainer_cli: $failures failure(s)" >&2
    exit 1
fi
echo "trainer_cli: all passed"
