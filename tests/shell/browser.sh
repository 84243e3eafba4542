#!/bin/sh
# browser.sh -- the drawing page (GET /) in a real browser: Debian's chromium
# driven by playwright-core (tests/browser/page.js) against the real
# digits-server on a free loopback port. It draws digits with mouse, pen and
# touch strokes at several pen widths, checks the predictions, the bar chart,
# Undo, Clear, the upload button, errors, the keyboard and the phone layout;
# then, against a second server started with --cors-origin, calls from a
# page of another origin (tests/browser/cors.js).
# Screenshots and results.json land in $DIGITS_BUILD/browser/.
#
# Exit 0 (pass), 1 (fail) or 77 (skipped, saying why: no chromium, no node or
# npm tools, no model). `make test` installs chromium (scripts/deps.sh
# --test); this script runs `npm ci` when playwright-core is missing.
set -u
cd "$(dirname "$0")/../.."
root=$PWD
build=${DIGITS_BUILD:-build}
model=${DIGITS_MODEL:-models/mnist-mlp.bin}
chromium=${CHROMIUM:-/usr/bin/chromium}
server="$root/$build/digits-server"
out="$root/$build/browser"
case $build in /*) server="$build/digits-server"; out="$build/browser" ;; esac
case $model in /*) ;; *) model="$root/$model" ;; esac

skip() { echo "SKIP: $*" >&2; exit 77; }

[ -x "$server" ] || { echo "FAIL: $server is not built (run make)" >&2; exit 1; }
[ -f "$model" ] || skip "no model at $model (set DIGITS_MODEL or train one)"
[ -x "$chromium" ] || skip "no browser at $chromium (apt-get install chromium, or make test-deps)"
command -v node >/dev/null 2>&1 || skip "node is not installed (apt-get install nodejs npm)"
if [ ! -f node_modules/playwright-core/package.json ] || [ ! -f node_modules/yaml/package.json ]; then
    command -v npm >/dev/null 2>&1 || skip "playwright-core is missing and there is no npm to install it"
    echo "installing the test's npm tools (npm ci)" >&2
    npm ci --no-audit --no-fund --silent >&2 || skip "npm ci failed: playwright-core is not available"
fi

tmp=$(mktemp -d)
pid=""
cors_pid=""
cleanup() {
    for p in $pid $cors_pid; do
        if kill -0 "$p" 2>/dev/null; then
            kill -KILL "$p" 2>/dev/null
            wait "$p" 2>/dev/null
        fi
    done
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

# wait_port PID LOG: the port a digits-server started with --port 0 listens on.
wait_port() {
    p=""
    i=0
    while [ -z "$p" ] && [ $i -lt 100 ]; do
        p=$(sed -n 's/.*listening on 127\.0\.0\.1 port \([0-9]*\).*/\1/p' "$2" | head -1)
        kill -0 "$1" 2>/dev/null || break
        [ -n "$p" ] || sleep 0.1
        i=$((i + 1))
    done
    if [ -z "$p" ]; then
        echo "FAIL: the server did not start:" >&2
        cat "$2" >&2
        exit 1
    fi
    echo "$p"
}

"$server" --model "$model" --port 0 --bind 127.0.0.1 --threads 2 2> "$tmp/server.log" &
pid=$!
port=$(wait_port "$pid" "$tmp/server.log") || exit 1
echo "ok: digits-server on 127.0.0.1 port $port"

rm -rf "$out"
mkdir -p "$out"
CHROMIUM="$chromium" node tests/browser/page.js "http://127.0.0.1:$port" "$out"
rc=$?

# Cross-origin calls: a second server that lets the first one's page in
# (tests/browser/cors.js).
"$server" --model "$model" --port 0 --bind 127.0.0.1 --threads 1 \
    --cors-origin "http://127.0.0.1:$port" 2> "$tmp/cors-server.log" &
cors_pid=$!
cors_port=$(wait_port "$cors_pid" "$tmp/cors-server.log") || exit 1
CHROMIUM="$chromium" node tests/browser/cors.js "http://127.0.0.1:$cors_port" \
    "http://127.0.0.1:$port" tests/data/png/seven_canvas_rgba.png || rc=1
# The blocked calls were blocked for want of CORS, not for anything else:
# each preflight reached its server and was refused there.
if grep -q 'method=OPTIONS path=/predict status=204' "$tmp/cors-server.log" \
    && grep -q 'method=OPTIONS path=/predict status=405' "$tmp/cors-server.log" \
    && grep -q 'method=OPTIONS path=/predict status=405' "$tmp/server.log"; then
    echo "ok: the servers' logs show the preflights: 204 for the listed origin, 405 for the others"
else
    echo "FAIL: the preflights are not in the servers' logs as expected" >&2
    rc=1
fi
cp "$tmp/cors-server.log" "$out/cors-server.log"
kill -TERM "$cors_pid"
wait "$cors_pid"
cors_pid=""
cp "$tmp/server.log" "$out/server.log"

kill -TERM "$pid"
wait "$pid"
src=$?
pid=""
if [ $src != 0 ]; then
    echo "FAIL: the server exited $src after the browser test" >&2
    rc=1
fi
if [ $rc = 0 ]; then
    echo "browser: screenshots in $out"
    exit 0
fi
echo "browser: failed (screenshots, results.json and server.log in $out)" >&2
exit 1
