#!/bin/sh
# valgrind.sh -- digits-server under valgrind memcheck for a short mixed
# workload: every endpoint, good and bad uploads (raw, multipart, chunked,
# too large, too many pixels, not PNG, truncated), a burst of concurrent
# clients, a good and a bad SIGHUP reload, then SIGTERM. Passes only with
# zero memcheck errors and zero leaked bytes (definite, indirect and
# possible) and a clean exit.
#
# valgrind does not know every AVX-512 instruction -march=native may emit,
# so the server is built separately for plain x86-64 into build-vg/.
#
# Exit 0 (pass), 1 (fail) or 77 (skipped: no valgrind, curl or model).
set -u
cd "$(dirname "$0")/../.."
root=$PWD
model=${DIGITS_MODEL:-models/mnist-mlp.bin}
case $model in /*) ;; *) model="$root/$model" ;; esac
vgbuild=${DIGITS_VG_BUILD:-build-vg}

command -v valgrind >/dev/null 2>&1 || { echo "SKIP: valgrind is not installed (apt-get install valgrind)" >&2; exit 77; }
command -v curl >/dev/null 2>&1 || { echo "SKIP: curl is not installed (apt-get install curl)" >&2; exit 77; }
[ -f "$model" ] || { echo "SKIP: no model at $model" >&2; exit 77; }

t0=$(date +%s)
tmp=$(mktemp -d)
pid=""
cleanup() {
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

# CFLAGS from the environment: the Makefile appends its own flags to it.
if ! CFLAGS="-O1 -g -fno-omit-frame-pointer" make --no-print-directory BUILD="$vgbuild" ARCH=x86-64 \
    "$vgbuild/digits-server" > "$tmp/make.log" 2>&1; then
    cat "$tmp/make.log" >&2
    echo "FAIL: cannot build $vgbuild/digits-server" >&2
    exit 1
fi

failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
pass() { echo "ok: $*"; }

# A handwritten 7 and a blank page (as in server_curl.sh).
echo 'iVBORw0KGgoAAAANSUhEUgAAABwAAAAcCAAAAABXZoBIAAAA20lEQVQokWP8z4AbMOGRG3ySLBBqzWwpjmgJFTRJRog/lR4wMDDwakMFZcpMkHXOvqh17fyBE7KPGRhYRJ8zyJkg62RgYGBgeH/e5DQDA4ea5rspWRCR/xhgDZPeWwgLU/KlGMMaKBPTK1NfC6rD2Ogaj7AxHvyPS+e2386WDDh0fjNiPwrnoEs2Mnr+xyW5hYX/GC7JN0qMkf9xSP4xYVS5g0vyJiPjpv84JB/IM/b8Q5ZE9uesRwz2jCieRqg7xMvIePo/Dp1HvjAo86BoZEHm6O8VQpFkxJcdAPRoNF2tjKg3AAAAAElFTkSuQmCC' \
    | base64 -d > "$tmp/digit.png"
echo 'iVBORw0KGgoAAAANSUhEUgAAABwAAAAcCAAAAABXZoBIAAAAFklEQVQokWP8z4AbMOGRG5UclRxhkgCD/gE3w0CtKAAAAABJRU5ErkJggg==' \
    | base64 -d > "$tmp/blank.png"
# the first 60 bytes of the 7 (truncated), and a header claiming 100000x100000
head -c 60 "$tmp/digit.png" > "$tmp/truncated.png"
echo 'iVBORw0KGgoAAAANSUhEUgABhqAAAYagCAAAAACNOVQUAAAADUlEQVR4nGNgGAXEAgABLAABB4rGLgAAAABJRU5ErkJggg==' \
    | base64 -d > "$tmp/huge.png"
head -c 3000000 /dev/zero > "$tmp/zeros.bin"

cp "$model" "$tmp/model.bin"
valgrind --tool=memcheck --leak-check=full --show-leak-kinds=definite,indirect,possible \
    --errors-for-leak-kinds=definite,indirect,possible --error-exitcode=99 \
    --track-origins=yes --num-callers=30 --log-file="$tmp/valgrind.log" \
    "$vgbuild/digits-server" --model "$tmp/model.bin" --port 0 --bind 127.0.0.1 --threads 2 \
    --timeout 10 --max-upload 2M 2> "$tmp/server.log" &
pid=$!
port=""
i=0
while [ -z "$port" ] && [ $i -lt 600 ]; do
    port=$(sed -n 's/.*listening on 127\.0\.0\.1 port \([0-9]*\).*/\1/p' "$tmp/server.log" | head -1)
    kill -0 "$pid" 2>/dev/null || break
    [ -n "$port" ] || sleep 0.1
    i=$((i + 1))
done
if [ -z "$port" ]; then
    echo "FAIL: the server did not start under valgrind:" >&2
    cat "$tmp/server.log" "$tmp/valgrind.log" >&2
    exit 1
fi
pass "listening on port $port under valgrind"
url="http://127.0.0.1:$port"

# status METHOD PATH [curl args...]
status() {
    method=$1; path=$2; shift 2
    curl -s -o "$tmp/body" -w '%{http_code}' --max-time 60 -X "$method" "$@" "$url$path"
}
check() {   # check WHAT WANTED GOT
    if [ "$3" = "$2" ]; then pass "$1 -> $3"; else fail "$1: wanted $2, got $3: $(head -c 300 "$tmp/body")"; fi
}

check healthz 200 "$(status GET /healthz)"
check readyz 200 "$(status GET /readyz)"
check model 200 "$(status GET /model)"
check metrics 200 "$(status GET /metrics)"
code=$(status GET /)
case $code in 200|404) pass "GET / -> $code" ;; *) fail "GET /: $code" ;; esac
check predict_raw 200 "$(status POST /predict --data-binary @"$tmp/digit.png" -H 'Content-Type: image/png')"
check predict_explain 200 "$(status POST '/predict?explain=1' --data-binary @"$tmp/digit.png" -H 'Content-Type: image/png')"
check predict_form 200 "$(status POST /predict -F image=@"$tmp/digit.png" -F image=@"$tmp/digit.png" -F note=x)"
check predict_chunked 200 "$(status POST /predict -H 'Transfer-Encoding: chunked' -H 'Content-Type: image/png' --data-binary @"$tmp/digit.png")"
check no_ink 422 "$(status POST /predict --data-binary @"$tmp/blank.png" -H 'Content-Type: image/png')"
check truncated 400 "$(status POST /predict --data-binary @"$tmp/truncated.png" -H 'Content-Type: image/png')"
check huge_header 413 "$(status POST /predict --data-binary @"$tmp/huge.png" -H 'Content-Type: image/png')"
check not_png 400 "$(status POST /predict --data-binary 'GIF89a' -H 'Content-Type: image/png')"
check empty 400 "$(status POST /predict --data-binary '' -H 'Content-Type: image/png')"
check no_image_part 400 "$(status POST /predict -F file=@"$tmp/digit.png")"
check bad_boundary 400 "$(status POST /predict --data-binary 'x' -H 'Content-Type: multipart/form-data; boundary="x')"
check wrong_type 415 "$(status POST /predict --data-binary @"$tmp/digit.png" -H 'Content-Type: text/plain')"
check too_large 413 "$(status POST /predict --data-binary @"$tmp/zeros.bin" -H 'Content-Type: image/png')"
code=$(status POST /predict --data-binary @"$tmp/zeros.bin" -H 'Content-Type: image/png' -H 'Transfer-Encoding: chunked')
# curl sends Expect: 100-continue, so a connection closed mid-upload leaves
# it with the interim 100 as its last status.
case $code in 000|100|413) pass "chunked over the limit -> closed ($code)" ;; *) fail "chunked over the limit: $code" ;; esac
check get_predict 405 "$(status GET /predict)"
check not_found 404 "$(status GET /nope)"

# a burst: four clients at once, keep-alive, mixed good and bad
for c in 1 2 3 4; do
    (
        args=""
        for k in 1 2 3 4 5; do
            args="$args -o /dev/null --data-binary @$tmp/digit.png -H Content-Type:image/png $url/predict"
            args="$args -o /dev/null --data-binary @$tmp/truncated.png -H Content-Type:image/png $url/predict"
        done
        # shellcheck disable=SC2086
        curl -s --max-time 120 $args
    ) &
done
wait_burst=0
while [ "$(jobs -p | wc -l)" -gt 1 ] && [ $wait_burst -lt 1200 ]; do sleep 0.1; wait_burst=$((wait_burst + 1)); done
sleep 0.5
check after_burst 200 "$(status GET /healthz)"

# reloads: a good one, then a bad file (the old model keeps serving)
kill -HUP "$pid"
i=0
while ! grep -q "model reloaded" "$tmp/server.log" && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
grep -q "model reloaded" "$tmp/server.log" && pass "SIGHUP reload" || fail "no reload after SIGHUP"
head -c 1000 "$model" > "$tmp/model.bin"
kill -HUP "$pid"
i=0
while ! grep -q "reload rejected" "$tmp/server.log" && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
grep -q "reload rejected" "$tmp/server.log" && pass "bad reload rejected" || fail "bad reload not rejected"
check after_bad_reload 200 "$(status POST /predict --data-binary @"$tmp/digit.png" -H 'Content-Type: image/png')"

kill -TERM "$pid"
wait "$pid"
rc=$?
pid=""
errors=$(sed -n 's/.*ERROR SUMMARY: \([0-9]*\) errors.*/\1/p' "$tmp/valgrind.log" | tail -1)
definite=$(sed -n 's/.*definitely lost: \([0-9,]*\) bytes.*/\1/p' "$tmp/valgrind.log" | tail -1)
indirect=$(sed -n 's/.*indirectly lost: \([0-9,]*\) bytes.*/\1/p' "$tmp/valgrind.log" | tail -1)
possible=$(sed -n 's/.*possibly lost: \([0-9,]*\) bytes.*/\1/p' "$tmp/valgrind.log" | tail -1)
inuse=$(sed -n 's/.*in use at exit: \([0-9,]*\) bytes.*/\1/p' "$tmp/valgrind.log" | tail -1)
requests=$(grep -c 'msg=request' "$tmp/server.log")
echo "valgrind: $requests requests, exit $rc, ${errors:-?} errors, lost: definite ${definite:-0}," \
     "indirect ${indirect:-0}, possible ${possible:-0}; in use at exit ${inuse:-0} bytes;" \
     "$(( $(date +%s) - t0 )) s"
if [ "$rc" != 0 ] || [ "${errors:-x}" != 0 ] || [ "${definite:-0}" != 0 ] || [ "${indirect:-0}" != 0 ] \
    || [ "${possible:-0}" != 0 ]; then
    fail "memcheck: exit $rc (99 = errors found), see the report below"
    grep -v '^==[0-9]*== *$' "$tmp/valgrind.log" | tail -80 >&2
fi

if [ $failures -gt 0 ]; then
    echo "valgrind: $failures failures" >&2
    exit 1
fi
echo "valgrind: all passed"
