#!/bin/sh
# realworld.sh -- does the shipped model still read real handwriting and
# user-style pictures as well as it did?
#
# Measures, with the server's own pipeline (digits-trainer predict):
#   - each source of the real non-MNIST handwriting in $DIGITS_SHARED/realdigits
#     (skipped, saying so, when that folder is absent);
#   - each style of user-style variants of MNIST test digits, generated into
#     $DIGITS_BUILD/variants (1000 per style, seed 1);
#   - MNIST test accuracy (digits-trainer eval --json).
# and compares every figure with its floor in tests/realworld-floors.txt
# ("name floor_percent" lines). Fails naming every figure under its floor.
#
# Exit 0 pass, 77 skipped (nothing could be measured), anything else fail.
# Environment: DIGITS_BUILD, DIGITS_MODEL, DIGITS_DATA, DIGITS_SHARED (set by
# scripts/run-tests.sh), DIGITS_TRAINER (default $DIGITS_BUILD/digits-trainer),
# REALWORLD_FLOORS (default tests/realworld-floors.txt).
set -u
cd "$(dirname "$0")/../.." || exit 1

build=${DIGITS_BUILD:-build}
model=${DIGITS_MODEL:-models/mnist-mlp.bin}
data=${DIGITS_DATA:-data/mnist}
shared=${DIGITS_SHARED:-../shared}
trainer=${DIGITS_TRAINER:-$build/digits-trainer}
floors=${REALWORLD_FLOORS:-tests/realworld-floors.txt}
me=realworld.sh

[ -x "$trainer" ] || { echo "$me: no trainer at $trainer (build first)" >&2; exit 1; }
[ -f "$model" ] || { echo "$me: no model at $model" >&2; exit 1; }
[ -f "$floors" ] || { echo "$me: no floors file $floors" >&2; exit 1; }
if ! "$trainer" predict --help >/dev/null 2>&1; then
    # Only until trainer/main.c dispatches predict and variants.
    echo "SKIPPED: $trainer has no 'predict' command (trainer/main.c does not dispatch it)"
    exit 77
fi

tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM
measured=$tmp/measured      # lines: name percent
: > "$measured"
ran=""                      # which parts were measured
errors=0

# json_rows PREFIX_FOR_OVERALL < predict --labels --json output: prints
# "name percent" per source, the overall row renamed to PREFIX-overall. It
# relies on predict's layout of one source per line.
json_rows() {
    awk -v overall="$1" '
        /"accuracy": / {
            line = $0
            if (match(line, /^ *"[^"]*"/) == 0) next
            name = substr(line, RSTART, RLENGTH)
            sub(/^ *"/, "", name); sub(/"$/, "", name)
            if (name == "overall") name = overall "-overall"
            acc = line
            sub(/.*"accuracy": /, "", acc); sub(/[},].*/, "", acc)
            printf "%s %.2f\n", name, acc * 100
        }'
}

# --- MNIST test accuracy --------------------------------------------------
if [ -f "$data/t10k-images-idx3-ubyte" ]; then
    if "$trainer" eval --model "$model" --data "$data" --json > "$tmp/eval.json"; then
        sed -n 's/.*"test_accuracy": *\([0-9.eE+-]*\).*/\1/p' "$tmp/eval.json" |
            awk '{ printf "mnist-test %.2f\n", $1 * 100 }' >> "$measured"
        ran="$ran mnist"
    else
        echo "$me: digits-trainer eval failed" >&2
        errors=1
    fi
else
    echo "SKIPPED (part): MNIST not found in $data; no MNIST or variants figures (run make data)"
fi

# --- real handwriting -----------------------------------------------------
labels=$shared/realdigits/labels.csv
if [ -f "$labels" ]; then
    if "$trainer" predict --model "$model" --labels "$labels" --json > "$tmp/real.json"; then
        json_rows realdigits < "$tmp/real.json" >> "$measured"
        ran="$ran realdigits"
    else
        echo "$me: predict --labels $labels failed" >&2
        errors=1
    fi
else
    echo "SKIPPED (part): $labels not found; the real-handwriting floors were not checked"
fi

# --- user-style variants of MNIST test digits -----------------------------
if [ -f "$data/t10k-images-idx3-ubyte" ]; then
    out=$build/variants
    rm -rf "$out"
    if "$trainer" variants --data "$data" --out "$out" --count 1000 --seed 1 > /dev/null &&
        "$trainer" predict --model "$model" --labels "$out/labels.csv" --json > "$tmp/var.json"
    then
        json_rows variants < "$tmp/var.json" >> "$measured"
        ran="$ran variants"
    else
        echo "$me: generating or measuring the variants failed" >&2
        errors=1
    fi
fi

if [ -z "$ran" ] && [ "$errors" = 0 ]; then
    echo "SKIPPED: neither MNIST nor $shared/realdigits is available; nothing was measured"
    exit 77
fi

# --- compare with the floors ----------------------------------------------
# Part of each name: mnist-test -> mnist, the realdigits sources and
# realdigits-overall -> realdigits, everything else -> variants. A floor
# whose part did not run is skipped; one whose part ran but produced no
# figure is a failure (a source or style has gone missing).
awk -v ran=" $ran " -v floors="$floors" '
    FNR == NR { value[$1] = $2; seen[$1] = 0; next }
    {
        sub(/#.*/, "")
        if (NF == 0) next
        if (NF != 2 || $2 !~ /^[0-9]+(\.[0-9]+)?$/) {
            printf "%s:%d: want \"name floor_percent\", got \"%s\"\n", floors, FNR, $0
            bad++
            next
        }
        name = $1; floor = $2 + 0
        part = name == "mnist-test" ? "mnist" : "variants"
        if (name ~ /^(usps|semeion|pendigits|unipen|realdigits-overall)$/) part = "realdigits"
        if (index(ran, " " part " ") == 0) { printf "  %-20s  (not measured)  floor %6.2f%%\n", name, floor; next }
        if (!(name in value)) {
            printf "  %-20s  MISSING         floor %6.2f%%  <- no figure for it\n", name, floor
            missing = missing " " name
            next
        }
        seen[name] = 1
        flag = value[name] + 0 < floor ? "  <- BELOW FLOOR" : ""
        if (flag != "") below = below " " name
        printf "  %-20s  %6.2f%%         floor %6.2f%%%s\n", name, value[name], floor, flag
    }
    END {
        for (n in seen)
            if (!seen[n]) printf "  %-20s  %6.2f%%         (no floor set)\n", n, value[n]
        if (bad) exit 2
        if (below != "") printf "FAIL: below floor:%s\n", below
        if (missing != "") printf "FAIL: no figure for:%s\n", missing
        exit below != "" || missing != ""
    }' "$measured" "$floors"
rc=$?
[ "$rc" = 0 ] && [ "$errors" = 0 ] && echo "realworld: every figure is at or above its floor"
[ "$rc" = 0 ] && exit "$errors"
exit 1
