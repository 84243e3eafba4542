#!/bin/sh
# trainer_cli.sh -- digits-trainer's command line refuses bad input in words:
# every flag that takes a value, given without one, exits 2 with a message
# naming the flag (it once crashed for a few: the missing value was read as a
# string); unknown flags exit 2; --help exits 0. Then the failures a user
# must hear about: an unwritable --out before any training, output that
# could not be written, a FIFO or a folder where a file belongs, dumps that
# would overwrite their inputs. The last checks use MNIST when it is there
# (DIGITS_DATA) and are skipped, saying so, when it is not.
#
# Exit 0 (pass) or 1 (fail).
set -u
cd "$(dirname "$0")/../.." || exit 1
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
    --lr-schedule --lr-min --dropout --seed --threads --val-split --max-thicken; do
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
expect 2 "--faint is part of the mnist pipeline" predict some.png --pipeline naive --faint
expect 2 "none, preprocess or full" train --augment most
expect 2 "--epochs" train --epochs 0
for cmd in train predict eval variants; do
    "$trainer" "$cmd" --help > "$tmp/out" 2>&1 ||
        { echo "FAIL: digits-trainer $cmd --help exits $?" >&2; failures=$((failures + 1)); }
done
# --data and --out point nowhere that matters: were the check to go, the
# command must fail on the data, not train and overwrite the shipped model.
expect 2 "--deskew needs --augment" train --deskew --data "$tmp/none" --out "$tmp/m.bin"
expect 2 "--max-thicken needs --augment full" train --max-thicken 3 --augment preprocess \
    --data "$tmp/none" --out "$tmp/m.bin"
expect 2 "--max-thicken needs --augment full" train --max-thicken 2 --augment preprocess \
    --data "$tmp/none" --out "$tmp/m.bin"
expect 2 "--max-thicken '5'" train --max-thicken 5 --augment full --data "$tmp/none" \
    --out "$tmp/m.bin"
expect 2 "--lr-min needs --lr-schedule cosine" train --lr-min 0.1 --data "$tmp/none" \
    --out "$tmp/m.bin"
expect 2 "--momentum needs --optimizer sgd" train --momentum 0.5 --data "$tmp/none" \
    --out "$tmp/m.bin"
expect 2 "--seed ' -1'" train --seed " -1" --data "$tmp/none" --out "$tmp/m.bin"
expect 2 "--seed '+1'" variants --out "$tmp/v" --seed "+1" --data "$tmp/none"
expect 2 "--count ' +3'" variants --out "$tmp/v" --count " +3" --data "$tmp/none"

# Failures that are not the command line's fault: exit 1, saying where.
expect 1 "--out: cannot write" train --out "$tmp/no/such/folder/m.bin" --data "$tmp/none"
expect 1 "exists and is not a file" train --out "$tmp" --data "$tmp/none"
mkfifo "$tmp/fifo"
timeout 20 "$trainer" predict --labels "$tmp/fifo" > /dev/null 2> "$tmp/err"
got=$?
if [ "$got" -ne 1 ] || ! grep -q "not a regular file" "$tmp/err"; then
    echo "FAIL: predict --labels FIFO: exit $got (want 1 at once), stderr: $(head -c 200 "$tmp/err")" >&2
    failures=$((failures + 1))
fi
expect 1 "not a regular file" predict --labels "$tmp"
if [ -w /dev/full ]; then
    for args in "eval --help" "--help" "--version"; do
        # shellcheck disable=SC2086  # the words are the arguments
        "$trainer" $args > /dev/full 2> "$tmp/err"
        got=$?
        if [ "$got" -ne 1 ] || ! grep -q "standard output" "$tmp/err"; then
            echo "FAIL: $args > /dev/full: exit $got (want 1)" >&2
            failures=$((failures + 1))
        fi
    done
fi
mkdir "$tmp/in"
cp tests/data/png/one_dark_on_white.png "$tmp/in/one.png"
expect 2 "holds input images" predict --dump "$tmp/in" "$tmp/in/one.png"
cmp -s tests/data/png/one_dark_on_white.png "$tmp/in/one.png" ||
    { echo "FAIL: predict --dump overwrote its input" >&2; failures=$((failures + 1)); }
# Nor files of a folder it did not make: a data set's own 28x28 pictures.
mkdir "$tmp/set28"
cp tests/data/png/one_dark_on_white.png "$tmp/set28/one.png"
expect 2 "holds files no dump wrote" predict --dump "$tmp/set28" "$tmp/in/one.png"
cmp -s tests/data/png/one_dark_on_white.png "$tmp/set28/one.png" ||
    { echo "FAIL: predict --dump overwrote a file it did not write" >&2; failures=$((failures + 1)); }
expect 2 "not a folder" predict --dump "$tmp/in/one.png" tests/data/png/one_dark_on_white.png
# A phone photo is not read, and the answer says what it is and what to do.
"$trainer" predict tests/data/photo/seven_exif6.jpg > "$tmp/out" 2> "$tmp/err"
got=$?
if [ "$got" -ne 1 ] || ! grep -q "seven_exif6.jpg error a JPEG, not a PNG: convert it" "$tmp/out"; then
    echo "FAIL: predict of a JPEG: exit $got, said: $(cat "$tmp/out" "$tmp/err" | head -c 200)" >&2
    failures=$((failures + 1))
fi
# A dump's own folder takes a second run; a dump there that has become a
# symbolic link is not written through.
"$trainer" predict --dump "$tmp/dumps" "$tmp/in/one.png" > /dev/null 2>&1 ||
    { echo "FAIL: predict --dump into a new folder failed" >&2; failures=$((failures + 1)); }
"$trainer" predict --dump "$tmp/dumps" "$tmp/in/one.png" > /dev/null 2>&1 ||
    { echo "FAIL: predict --dump into its own folder again failed" >&2; failures=$((failures + 1)); }
rm -f "$tmp/dumps/one.png"
ln -s "$tmp/in/one.png" "$tmp/dumps/one.png"
"$trainer" predict --dump "$tmp/dumps" "$tmp/in/one.png" > /dev/null 2>&1
cmp -s tests/data/png/one_dark_on_white.png "$tmp/in/one.png" ||
    { echo "FAIL: predict --dump wrote through a symbolic link" >&2; failures=$((failures + 1)); }
# A test set with no images is nothing to report an accuracy of.
mkdir "$tmp/empty"
printf '\000\000\010\003\000\000\000\000\000\000\000\034\000\000\000\034' > "$tmp/empty/t10k-images-idx3-ubyte"
printf '\000\000\010\001\000\000\000\000' > "$tmp/empty/t10k-labels-idx1-ubyte"
expect 1 "no test images" eval --data "$tmp/empty"

data=${DIGITS_DATA:-data/mnist}
if [ -f "$data/train-images-idx3-ubyte" ]; then
    # SGD at a learning rate of 10 turns the weights to NaN within an epoch.
    expect 1 "training diverged" train --data "$data" --arch 784-512-512-10 --optimizer sgd \
        --lr 10 --momentum 0.9999 --batch 1 --epochs 1 --threads 1 --val-split 0.9 --quiet \
        --out "$tmp/nan.bin"
    [ ! -e "$tmp/nan.bin" ] ||
        { echo "FAIL: a diverged model was written" >&2; failures=$((failures + 1)); }
    # Reports are named after --out with only a final .bin taken off, so a
    # sweep's runs keep theirs apart; the command recorded is one a shell
    # can run again.
    mkdir "$tmp/sweep"
    for run in run.1 run.2; do
        "$trainer" train --data "$data" --arch 784-8-10 --epochs 1 --val-split 0.9 --quiet \
            --out "$tmp/sweep/$run" --seed 7 > /dev/null 2>&1 ||
            { echo "FAIL: a tiny training run to $run failed" >&2; failures=$((failures + 1)); }
        if [ ! -f "$tmp/sweep/$run.history.csv" ] || [ ! -f "$tmp/sweep/$run.curves.png" ]; then
            echo "FAIL: no $run.history.csv or $run.curves.png beside $run" >&2
            failures=$((failures + 1))
        fi
    done
    # A rerun that fails leaves no labels.csv describing the earlier images.
    "$trainer" variants --data "$data" --out "$tmp/set" --count 2 > /dev/null
    rm -r "$tmp/set/thin-pen" && echo x > "$tmp/set/thin-pen"
    expect 1 "thin-pen" variants --data "$data" --out "$tmp/set" --count 2 --seed 2
    if [ -e "$tmp/set/labels.csv" ] || [ -e "$tmp/set/mnist/labels.csv" ]; then
        echo "FAIL: a failed variants rerun left a labels.csv" >&2
        failures=$((failures + 1))
    fi
else
    echo "SKIPPED (part): no MNIST in $data; divergence and variants-rerun checks not run"
fi

if [ "$failures" -ne 0 ]; then
    echo "trainer_cli: $failures failure(s)" >&2
    exit 1
fi
echo "trainer_cli: all passed"
