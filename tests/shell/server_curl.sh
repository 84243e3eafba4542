#!/bin/sh
# server_curl.sh -- digits-server as a user meets it: the real binary on a
# free loopback port, driven with the README's curl commands, its /metrics
# checked by promtool, openapi.yaml validated as OpenAPI 3.1 and every live
# answer checked against the schema openapi.yaml gives for it, then SIGHUP
# and SIGTERM.
#
# Exit 0 (pass), 1 (fail) or 77 (skipped, saying why: no curl, no model, or
# no promtool / node tools, in which case the parts that could run still ran).
set -u
cd "$(dirname "$0")/../.."
root=$PWD
build=${DIGITS_BUILD:-build}
model=${DIGITS_MODEL:-models/mnist-mlp.bin}
server="$root/$build/digits-server"
case $build in /*) server="$build/digits-server" ;; esac
case $model in /*) ;; *) model="$root/$model" ;; esac

failures=0
skipped=""
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
pass() { echo "ok: $*"; }
skip() { echo "SKIP: $*" >&2; skipped="$skipped $1"; }

command -v curl >/dev/null 2>&1 || { echo "SKIP: curl is not installed (apt-get install curl)" >&2; exit 77; }
[ -x "$server" ] || { echo "FAIL: $server is not built (run make)" >&2; exit 1; }
[ -f "$model" ] || { echo "SKIP: no model at $model (set DIGITS_MODEL or train one)" >&2; exit 77; }

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

# A handwritten 7 (MNIST's first test digit, drawn dark on white) and a blank
# page, as the PNG files a user would have.
echo 'iVBORw0KGgoAAAANSUhEUgAAABwAAAAcCAAAAABXZoBIAAAA20lEQVQokWP8z4AbMOGRG3ySLBBqzWwpjmgJFTRJRog/lR4wMDDwakMFZcpMkHXOvqh17fyBE7KPGRhYRJ8zyJkg62RgYGBgeH/e5DQDA4ea5rspWRCR/xhgDZPeWwgLU/KlGMMaKBPTK1NfC6rD2Ogaj7AxHvyPS+e2386WDDh0fjNiPwrnoEs2Mnr+xyW5hYX/GC7JN0qMkf9xSP4xYVS5g0vyJiPjpv84JB/IM/b8Q5ZE9uesRwz2jCieRqg7xMvIePo/Dp1HvjAo86BoZEHm6O8VQpFkxJcdAPRoNF2tjKg3AAAAAElFTkSuQmCC' \
    | base64 -d > "$tmp/digit.png"
echo 'iVBORw0KGgoAAAANSUhEUgAAABwAAAAcCAAAAABXZoBIAAAAFklEQVQokWP8z4AbMOGRG5UclRxhkgCD/gE3w0CtKAAAAABJRU5ErkJggg==' \
    | base64 -d > "$tmp/blank.png"

# --- start-up --------------------------------------------------------------

# A bad model is a clear message and a non-zero exit, never a half-alive server.
echo "not a model" > "$tmp/bad.bin"
if "$server" --model "$tmp/bad.bin" --port 0 --bind 127.0.0.1 2> "$tmp/bad.log"; then
    fail "the server started with a bad model"
elif grep -q "cannot load the model" "$tmp/bad.log"; then
    pass "a bad model stops start-up: $(head -1 "$tmp/bad.log" | sed 's/.*msg=//')"
else
    fail "no clear message for a bad model: $(cat "$tmp/bad.log")"
fi

cp "$model" "$tmp/model.bin"
# Started as README "Endpoints" starts one for a web app on another origin.
"$server" --model "$tmp/model.bin" --port 0 --bind 127.0.0.1 --threads 2 \
    --cors-origin https://app.example.com 2> "$tmp/server.log" &
pid=$!
port=""
i=0
while [ -z "$port" ] && [ $i -lt 100 ]; do
    port=$(sed -n 's/.*listening on 127\.0\.0\.1 port \([0-9]*\).*/\1/p' "$tmp/server.log" | head -1)
    kill -0 "$pid" 2>/dev/null || break
    [ -n "$port" ] || sleep 0.1
    i=$((i + 1))
done
if [ -z "$port" ]; then
    echo "FAIL: the server did not start:" >&2
    cat "$tmp/server.log" >&2
    exit 1
fi
pass "listening on port $port"

# --- the README's commands, exactly (on this test's port) ----------------------

cd "$tmp"
curl --data-binary @digit.png -H 'Content-Type: image/png' localhost:$port/predict > raw.json 2> curl.err
echo >> raw.json
curl -F image=@digit.png localhost:$port/predict > form.json 2> curl.err
echo >> form.json
cd "$root"
for f in raw form; do
    if grep -q '"digit":7,' "$tmp/$f.json" && grep -q '"probabilities":\[' "$tmp/$f.json" \
        && grep -q '"model_id":' "$tmp/$f.json"; then
        pass "README $f curl: $(cut -c1-60 "$tmp/$f.json")..."
    else
        fail "README $f curl answered: $(cat "$tmp/$f.json")"
    fi
done

# --- every endpoint and error, recorded for the schema check ----------------

# record NAME METHOD PATH [curl args...]: saves the body and notes
# "NAME METHOD PATH STATUS CONTENT-TYPE" in the manifest.
record() {
    name=$1; method=$2; path=$3; shift 3
    meta=$(curl -s -o "$tmp/$name.body" -w '%{http_code} %{content_type}' -X "$method" "$@" \
        "http://127.0.0.1:$port$path")
    echo "$name $method $path $meta" >> "$tmp/manifest"
    echo "$meta" | cut -d' ' -f1
}
expect() {   # expect NAME WANTED GOT
    if [ "$3" = "$2" ]; then pass "$1 -> $3"; else fail "$1: wanted $2, got $3: $(cat "$tmp/$1.body")"; fi
}
: > "$tmp/manifest"
expect predict_raw 200 "$(record predict_raw POST /predict --data-binary @"$tmp/digit.png" -H 'Content-Type: image/png')"
expect predict_form 200 "$(record predict_form POST /predict -F image=@"$tmp/digit.png")"
# curl --data-binary without -H sends application/x-www-form-urlencoded
expect predict_curl_default 200 "$(record predict_curl_default POST /predict --data-binary @"$tmp/digit.png")"
expect predict_batch 200 "$(record predict_batch POST /predict -F image=@"$tmp/digit.png" -F image=@"$tmp/digit.png" -F note=hi)"
expect predict_explain 200 "$(record predict_explain POST '/predict?explain=1' --data-binary @"$tmp/digit.png" -H 'Content-Type: image/png')"
expect not_png 400 "$(record not_png POST /predict --data-binary 'hello' -H 'Content-Type: image/png')"
expect empty 400 "$(record empty POST /predict --data-binary '' -H 'Content-Type: image/png')"
expect no_image_part 400 "$(record no_image_part POST /predict -F file=@"$tmp/digit.png")"
head -c 5000000 /dev/zero > "$tmp/big.bin"
expect too_large 413 "$(record too_large POST /predict --data-binary @"$tmp/big.bin" -H 'Content-Type: image/png')"
expect wrong_type 415 "$(record wrong_type POST /predict --data-binary @"$tmp/digit.png" -H 'Content-Type: image/jpeg')"
expect no_ink 422 "$(record no_ink POST /predict --data-binary @"$tmp/blank.png" -H 'Content-Type: image/png')"
expect get_predict 405 "$(record get_predict GET /predict)"
expect unknown 404 "$(record unknown GET /no/such/thing)"
expect model 200 "$(record model GET /model)"
expect healthz 200 "$(record healthz GET /healthz)"
expect readyz 200 "$(record readyz GET /readyz)"
expect metrics 200 "$(record metrics GET /metrics)"

headers=$(curl -s -D - -o /dev/null "http://127.0.0.1:$port/predict")
echo "$headers" | grep -qi '^Allow: POST' && pass "405 carries Allow: POST" || fail "no Allow header: $headers"
echo "$headers" | grep -qi '^X-Content-Type-Options: nosniff' && pass "nosniff header" || fail "no nosniff header"
echo "$headers" | grep -qi "^Content-Security-Policy: default-src 'none'" && pass "CSP header" || fail "no CSP header"
echo "$headers" | grep -qi '^X-Request-Id: [0-9a-f]\{32\}' && pass "a request ID is made up" || fail "no X-Request-Id: $headers"
headers=$(curl -s -D - -o /dev/null -H 'X-Request-Id: my-trace-1' "http://127.0.0.1:$port/healthz")
echo "$headers" | grep -qi '^X-Request-Id: my-trace-1' && pass "the client's request ID is echoed" \
    || fail "X-Request-Id not echoed: $headers"
echo "$headers" | grep -qi '^Access-Control' && fail "CORS headers without an Origin: $headers"

# README "Endpoints": the browser's preflight from the listed origin, exactly.
cd "$tmp"
curl -si -X OPTIONS -H 'Origin: https://app.example.com' \
     -H 'Access-Control-Request-Method: POST' localhost:$port/predict > preflight.txt 2> curl.err
cd "$root"
if head -1 "$tmp/preflight.txt" | grep -q ' 204' \
    && grep -qi '^Access-Control-Allow-Origin: https://app.example.com' "$tmp/preflight.txt" \
    && grep -qi '^Access-Control-Allow-Methods: POST' "$tmp/preflight.txt"; then
    pass "README preflight curl: 204 for https://app.example.com"
else
    fail "README preflight curl answered: $(cat "$tmp/preflight.txt")"
fi
other=$(curl -s -o /dev/null -w '%{http_code}' -X OPTIONS -H 'Origin: https://elsewhere.example' \
    -H 'Access-Control-Request-Method: POST' "http://127.0.0.1:$port/predict")
[ "$other" = 405 ] && pass "a preflight from an origin not listed -> 405" || fail "unlisted preflight: $other"

# --- /metrics through promtool ------------------------------------------------

if command -v promtool >/dev/null 2>&1; then
    if promtool check metrics < "$tmp/metrics.body" > "$tmp/promtool.out" 2>&1; then
        pass "promtool check metrics"
    else
        fail "promtool check metrics: $(cat "$tmp/promtool.out")"
    fi
else
    skip promtool "promtool is not installed (apt-get install prometheus)"
fi
# Every family README's metrics table names is served, under that name (the
# table's first column: one name, or several in backquotes on the process_
# row), whether or not promtool is here.
families=$(sed -n '/^### Metrics/,/^### /p' README.md | grep '^| `[a-z]' | cut -d'|' -f2 |
    grep -o '`[a-z_]*' | tr -d '`')
[ "$(echo "$families" | wc -w)" -ge 15 ] || fail "README's metrics table: only $(echo "$families" | wc -w) names read"
for family in $families; do
    grep -q "^$family[{ _]" "$tmp/metrics.body" || fail "metric $family (in README) missing"
done

# --- OpenAPI: the document, and the live answers against it -----------------

node_ready() {
    command -v node >/dev/null 2>&1 || return 1
    if [ ! -d node_modules/@seriousme/openapi-schema-validator ] || [ ! -d node_modules/ajv ] \
        || [ ! -d node_modules/yaml ]; then
        command -v npm >/dev/null 2>&1 || return 1
        echo "installing the test's npm tools (npm ci)" >&2
        npm ci --no-audit --no-fund --silent >&2 || return 1
    fi
}

if node_ready; then
    # Runs from the repository root so that the imports find node_modules/.
    if node --input-type=module - "$tmp/manifest" "$tmp" > "$tmp/node.out" 2>&1 <<'JS'
import { readFileSync } from "node:fs";
import { Validator } from "@seriousme/openapi-schema-validator";
import Ajv2020 from "ajv/dist/2020.js";
import addFormats from "ajv-formats";
import YAML from "yaml";

const [manifest, dir] = process.argv.slice(2);
let failed = 0;
const fail = (msg) => { console.log("FAIL: " + msg); failed++; };

const validator = new Validator();
const result = await validator.validate("openapi.yaml");
if (!result.valid || validator.version !== "3.1")
    fail(`openapi.yaml is not valid OpenAPI 3.1 (${validator.version}): ${JSON.stringify(result.errors)}`);
else
    console.log("ok: openapi.yaml is valid OpenAPI " + validator.version);

const doc = YAML.parse(readFileSync("openapi.yaml", "utf8"));
const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats(ajv);
ajv.addSchema(doc, "openapi");
const ptr = (...parts) => parts.map((p) => String(p).replace(/~/g, "~0").replace(/\//g, "~1")).join("/");

function responseFor(path, method, status) {
    const item = doc.paths[path.split("?")[0]];
    if (!item) return status === "404" ? { content: { "application/json": { ref: "#/components/schemas/Error" } } } : null;
    const op = item[method.toLowerCase()];
    if (!op) {   /* a method the path does not have: the shared 405 answer */
        if (status !== "405") return null;
        const resp = doc.components.responses.MethodNotAllowed;
        return { op: { responses: { "405": { $ref: "#/components/responses/MethodNotAllowed" } } }, resp };
    }
    let resp = op.responses[status];
    if (resp && resp.$ref) resp = doc.components.responses[resp.$ref.split("/").pop()];
    return resp ? { op, resp } : null;
}

for (const line of readFileSync(manifest, "utf8").trim().split("\n")) {
    const [name, method, path, status, ...ctParts] = line.split(" ");
    const contentType = ctParts.join(" ");
    const found = responseFor(path, method, status);
    if (!found) { fail(`${name}: ${method} ${path} answered ${status}, which openapi.yaml does not declare`); continue; }
    const body = readFileSync(`${dir}/${name}.body`, "utf8");
    let schemaRef;
    if (found.content) {
        schemaRef = found.content["application/json"].ref;
        if (contentType !== "application/json") fail(`${name}: content type ${contentType}`);
    } else {
        const content = found.resp.content || {};
        if (!(contentType in content)) { fail(`${name}: content type '${contentType}' is not declared for ${status}`); continue; }
        const where = found.resp === found.op.responses[status]
            ? ["paths", path.split("?")[0], method.toLowerCase(), "responses", status]
            : ["components", "responses", found.op.responses[status].$ref.split("/").pop()];
        schemaRef = "openapi#/" + ptr(...where, "content", contentType, "schema");
    }
    if (contentType.startsWith("text/plain")) { console.log(`ok: ${name} ${status} is text`); continue; }
    let json;
    try { json = JSON.parse(body); } catch (e) { fail(`${name}: not JSON: ${body.slice(0, 200)}`); continue; }
    const validate = ajv.compile({ $ref: schemaRef.startsWith("#") ? "openapi" + schemaRef : schemaRef });
    if (validate(json)) console.log(`ok: ${name} ${status} matches its schema`);
    else fail(`${name} ${status}: ${ajv.errorsText(validate.errors)}\n  ${body.slice(0, 300)}`);
}
process.exit(failed ? 1 : 0);
JS
    then
        cat "$tmp/node.out"
    else
        cat "$tmp/node.out" >&2
        fail "OpenAPI validation"
    fi
else
    skip openapi "node and the npm tools (npm ci) are not available"
fi

# --- the container health check ---------------------------------------------

if "$server" --healthcheck "http://127.0.0.1:$port/healthz"; then
    pass "--healthcheck URL exits 0"
else
    fail "--healthcheck against a live server"
fi
if DIGITS_PORT=$port DIGITS_BIND=127.0.0.1 "$server" --healthcheck; then
    pass "--healthcheck with the default URL exits 0"
else
    fail "--healthcheck with the default URL"
fi
# With --port 0 there is no default URL to ask: a usage error saying so.
"$server" --port 0 --healthcheck 2> "$tmp/hc0.err"; rc=$?
if [ $rc -eq 2 ] && grep -q "give the URL" "$tmp/hc0.err"; then
    pass "--healthcheck with --port 0 asks for the URL"
else
    fail "--healthcheck with --port 0: exit $rc, $(cat "$tmp/hc0.err")"
fi
# A URL it cannot ask is a usage error that names the scheme, not an
# "unknown option" and not a failed check.
"$server" --healthcheck "https://127.0.0.1:$port/healthz" 2> "$tmp/hcs.err"; rc=$?
if [ $rc -eq 2 ] && grep -q "only http://" "$tmp/hcs.err"; then
    pass "--healthcheck https://... is a usage error"
else
    fail "--healthcheck https://...: exit $rc, $(cat "$tmp/hcs.err")"
fi
# A flag wins over its variable, so a stale one in the environment cannot
# stop a command line that sets the same thing, nor --help.
if DIGITS_PORT=nonsense DIGITS_BIND=127.0.0.1 "$server" --port "$port" --healthcheck; then
    pass "--port wins over a bad DIGITS_PORT"
else
    fail "a bad DIGITS_PORT beat --port"
fi
if DIGITS_PORT=nonsense "$server" --help | grep -q "^Usage:"; then
    pass "--help whatever the environment"
else
    fail "--help refused because of DIGITS_PORT"
fi

# --- SIGHUP reloads, SIGTERM drains and exits 0 -------------------------------

kill -HUP "$pid"
i=0
while ! grep -q "model reloaded" "$tmp/server.log" && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
grep -q "model reloaded" "$tmp/server.log" && pass "SIGHUP reloads the model" || fail "no reload after SIGHUP"
echo "garbage" > "$tmp/model.bin"
kill -HUP "$pid"
i=0
while ! grep -q "reload rejected" "$tmp/server.log" && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
grep -q "reload rejected" "$tmp/server.log" && pass "a bad reload is rejected" || fail "bad reload not logged"
code=$(curl -s -o /dev/null -w '%{http_code}' --data-binary @"$tmp/digit.png" -H 'Content-Type: image/png' \
    "http://127.0.0.1:$port/predict")
expect after_bad_reload 200 "$code"
curl -s "http://127.0.0.1:$port/metrics" | grep -q 'digits_model_reloads_total{result="failure"} 1' \
    && pass "the failed reload is counted" || fail "reload failure not in /metrics"

kill -TERM "$pid"
wait "$pid"
rc=$?
pid=""
[ $rc = 0 ] && pass "SIGTERM: exit 0" || fail "SIGTERM: exit $rc"
grep -q "draining" "$tmp/server.log" && grep -q "stopped" "$tmp/server.log" \
    && pass "drained and stopped" || fail "no drain in the log"
grep -q 'method=POST path=/predict status=200 .* digit=[0-9]' "$tmp/server.log" \
    && pass "one log line per request" || fail "no request log line with the digit"

if [ $failures -gt 0 ]; then
    echo "server_curl: $failures failures" >&2
    exit 1
fi
if [ -n "$skipped" ]; then
    echo "server_curl: passed what could run; skipped:$skipped" >&2
    exit 77
fi
echo "server_curl: all passed"
