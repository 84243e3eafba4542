#!/bin/sh
# container.sh -- the container image and the deployment files, for real.
#
#   tests/container.sh              both parts (make test runs it through
#                                   tests/shell/container.sh)
#   DIGITS_CONTAINER=skip ...       part 1 only; part 2 says SKIP
#   DIGITS_BUILD_ARGS="ARCH=x86-64-v3" ...   --build-arg for each word
#
# Part 1, the files in docker/: yamllint, `promtool check config`, dclint
# (the Compose schema and its lint rules) and docker/tools/check-deploy.mjs
# (every Kubernetes manifest against its schema and, through tsc, against the
# Kubernetes types for unknown fields; then what this project needs of them).
# The npm tools are pinned in docker/tools/package*.json and installed with
# `npm ci` into $DIGITS_BUILD/container-tools/.
#
# Part 2, the Dockerfile with podman (no Docker engine runs here and image
# registries cannot be reached), as root:
#   - installs podman, runc and debootstrap with apt-get when missing;
#   - makes the base image debian:bookworm-slim locally when podman does not
#     have one: debootstrap --variant=minbase from this machine's Debian
#     mirror, trimmed as the official slim image is, tarred once into
#     $DIGITS_CONTAINER_CACHE (default /var/cache/digits-container) and
#     `podman import`ed;
#   - checks the build context (.dockerignore) holds no data or build output;
#   - builds the image (the build stage runs the unit tests), checks its
#     configuration and size, and that it holds no compiler;
#   - runs it read-only, without capabilities, on a loopback port: /healthz,
#     /readyz, real PNGs to /predict, /model, /metrics (promtool, and a real
#     Prometheus scraping it with docker/prometheus.yml), JSON logs, the
#     image's HEALTHCHECK through `podman healthcheck run`, a bad variable,
#     then SIGTERM during an upload: the request is answered and the exit
#     code is 0;
#   - always removes its containers. The image (DIGITS_IMAGE, default
#     localhost/digits:test), the last layer of its build stage (untagged,
#     label digits.stage=build) and the base image stay, as the cache of the
#     next run; each run removes those the previous one left. `podman rmi
#     localhost/digits:test debian:bookworm-slim && podman image prune -f
#     --filter label=digits.stage=build` removes them all.
#
# Exit 0 (pass), 1 (fail) or 77 (skipped, saying why; the parts that could
# run still ran).
set -u
cd "$(dirname "$0")/.." || exit 1
root=$PWD
build=${DIGITS_BUILD:-build}
case $build in /*) ;; *) build="$root/$build" ;; esac
image=${DIGITS_IMAGE:-localhost/digits:test}
cache=${DIGITS_CONTAINER_CACHE:-/var/cache/digits-container}
suite=bookworm

failures=0
skipped=""
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
pass() { echo "ok: $*"; }
skip() { echo "SKIP: $*" >&2; skipped="$skipped $1"; }
now() { date +%s; }

tmp=$(mktemp -d)
containers=""
prom_pid=""
curl_pid=""
cleanup() {
    for c in $containers; do podman rm -f -t 0 "$c" >/dev/null 2>&1; done
    for p in $prom_pid $curl_pid; do
        kill "$p" 2>/dev/null && wait "$p" 2>/dev/null
    done
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

finish() {
    if [ $failures -gt 0 ]; then
        echo "container: $failures failures" >&2
        exit 1
    fi
    if [ -n "$skipped" ]; then
        echo "container: passed what could run; skipped:$skipped" >&2
        exit 77
    fi
    echo "container: all passed"
    exit 0
}

# =============================================================================
# Part 1: docker/ checked with real tools
# =============================================================================

if command -v yamllint >/dev/null 2>&1; then
    if yamllint --strict -c docker/yamllint.yaml docker/ > "$tmp/yamllint.out" 2>&1; then
        pass "yamllint --strict docker/ ($(find docker -name '*.yaml' -o -name '*.yml' | wc -l) files)"
    else
        fail "yamllint: $(cat "$tmp/yamllint.out")"
    fi
else
    skip yamllint "yamllint is not installed (apt-get install yamllint)"
fi

if command -v promtool >/dev/null 2>&1; then
    if promtool check config docker/prometheus.yml > "$tmp/promtool.out" 2>&1; then
        pass "promtool check config docker/prometheus.yml"
    else
        fail "promtool check config: $(cat "$tmp/promtool.out")"
    fi
else
    skip promtool "promtool is not installed (apt-get install prometheus)"
fi

# The npm tools, in their own folder under the build directory.
tools="$build/container-tools"
tools_ready() {
    command -v node >/dev/null 2>&1 || return 1
    mkdir -p "$tools" || return 1
    if [ ! -x "$tools/node_modules/.bin/dclint" ] || [ ! -x "$tools/node_modules/.bin/tsc" ] \
        || ! cmp -s docker/tools/package-lock.json "$tools/package-lock.json"; then
        command -v npm >/dev/null 2>&1 || return 1
        echo "installing docker/tools' npm packages (npm ci) into $tools" >&2
        cp docker/tools/package.json docker/tools/package-lock.json "$tools/" || return 1
        (cd "$tools" && npm ci --no-audit --no-fund --silent) >&2 || return 1
    fi
    cp docker/tools/check-deploy.mjs "$tools/"
}
if tools_ready; then
    if "$tools/node_modules/.bin/dclint" --max-warnings 0 --color false docker/compose.yaml \
        > "$tmp/dclint.out" 2>&1; then
        pass "dclint docker/compose.yaml (Compose schema and lint rules)"
    else
        fail "dclint docker/compose.yaml: $(cat "$tmp/dclint.out")"
    fi
    if node "$tools/check-deploy.mjs" "$root" > "$tmp/deploy.out" 2>&1; then
        cat "$tmp/deploy.out"
    else
        cat "$tmp/deploy.out" >&2
        fail "docker/k8s and docker/compose.yaml (check-deploy.mjs, above)"
    fi
else
    skip deploy-schemas "node and the npm tools (npm ci in $tools) are not available"
fi

# =============================================================================
# Part 2: build and run the image with podman
# =============================================================================

case ${DIGITS_CONTAINER:-} in
    skip|0|no|false)
        skip image "DIGITS_CONTAINER=${DIGITS_CONTAINER}: the image was not built or run"
        finish ;;
esac
if [ "$(id -u)" != 0 ]; then
    skip image "the image is built with rootful podman: run as root (or with sudo) to build and run it"
    finish
fi
command -v curl >/dev/null 2>&1 || { skip image "curl is not installed (apt-get install curl)"; finish; }

have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]; }
missing=""
for p in podman runc debootstrap; do have "$p" || missing="$missing $p"; done
if [ -n "$missing" ]; then
    if command -v apt-get >/dev/null 2>&1; then
        echo "container: installing$missing (apt-get)" >&2
        export DEBIAN_FRONTEND=noninteractive
        # shellcheck disable=SC2086
        apt-get install -y -qq --no-install-recommends $missing > "$tmp/apt.log" 2>&1 \
            || { apt-get update -qq > "$tmp/apt.log" 2>&1 \
                 && apt-get install -y -qq --no-install-recommends $missing > "$tmp/apt.log" 2>&1; } \
            || { tail -5 "$tmp/apt.log" >&2; }
    fi
    missing=""
    for p in podman runc debootstrap; do have "$p" || missing="$missing $p"; done
    if [ -n "$missing" ]; then
        skip image "cannot install$missing (apt-get install podman runc debootstrap): the image was not built"
        finish
    fi
fi
PATH="$PATH:/usr/sbin:/sbin"
# crun, podman's other runtime, refuses this machine's hybrid cgroups.
pm() { podman --runtime runc "$@"; }
pass "$(podman --version), $(runc --version | head -1)"

# --- the base image -----------------------------------------------------------

# The Debian mirror this machine's apt uses (deb822 .sources or one-line
# .list), for debootstrap and for apt inside the image.
apt_uri() {   # apt_uri SUITE: the first URI that serves SUITE
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        awk -v want="$1" '
            BEGIN { RS = ""; FS = "\n" }
            {
                uris = ""; suites = ""; types = ""; enabled = "yes"
                for (i = 1; i <= NF; i++) {
                    line = $i
                    if (line ~ /^#/) continue
                    split(line, kv, ":[ \t]*")
                    key = tolower(kv[1]); val = substr(line, length(kv[1]) + 2); sub(/^[ \t]+/, "", val)
                    if (key == "uris") uris = val
                    else if (key == "suites") suites = val
                    else if (key == "types") types = val
                    else if (key == "enabled") enabled = tolower(val)
                }
                if (enabled == "no" || types !~ /(^|[ \t])deb([ \t]|$)/) next
                n = split(suites, s, /[ \t]+/)
                for (j = 1; j <= n; j++) if (s[j] == want) { split(uris, u, /[ \t]+/); print u[1]; exit }
            }' "$f"
    done
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] || continue
        awk -v want="$1" '
            $1 == "deb" {
                for (i = 2; i <= NF; i++) if ($i ~ /^[a-z+]+:\/\//) { if ($(i + 1) == want) { print $i; exit } break }
            }' "$f"
    done
}

make_base() {
    tarball="$cache/debian-$suite-slim-$(dpkg --print-architecture).tar"
    if [ ! -s "$tarball" ]; then
        mirror=${DIGITS_DEBIAN_MIRROR:-$(apt_uri $suite | head -1)}
        mirror=${mirror:-http://deb.debian.org/debian}
        security=$(apt_uri $suite-security | head -1)
        echo "container: making debian:$suite-slim with debootstrap from $mirror (once; cached in $cache)" >&2
        mkdir -p "$cache" || return 1
        rootfs=$(mktemp -d "$cache/rootfs.XXXXXX") || return 1
        t0=$(now)
        if ! debootstrap --variant=minbase $suite "$rootfs" "$mirror" > "$tmp/debootstrap.log" 2>&1; then
            tail -20 "$tmp/debootstrap.log" >&2
            remove_rootfs "$rootfs"
            return 1
        fi
        slim_rootfs "$rootfs" "$mirror" "$security"
        # /dev, /proc and /sys are the runtime's to fill; nothing mounted is read.
        tar --numeric-owner --one-file-system --exclude=./dev/* --exclude=./proc/* --exclude=./sys/* \
            -C "$rootfs" -cf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball"
        rc=$?
        remove_rootfs "$rootfs"
        [ $rc = 0 ] || return 1
        pass "debootstrap $suite from $mirror in $(( $(now) - t0 )) s: $(du -m "$tarball" | cut -f1) MB"
    fi
    pm import --change 'CMD ["bash"]' "$tarball" "debian:$suite-slim" > "$tmp/import.log" 2>&1 \
        || { cat "$tmp/import.log" >&2; return 1; }
    pass "imported $tarball as debian:$suite-slim"
}

# Unmounts whatever debootstrap may have left mounted inside (deepest first)
# before removing the folder, and never crosses into another file system.
remove_rootfs() {
    case $1 in "$cache"/rootfs.*) ;; *) return 1 ;; esac
    awk -v r="$1/" 'index($2, r) == 1 { print $2 }' /proc/mounts | sort -r | while read -r m; do
        umount -l "$m"
    done
    rm -rf --one-file-system "$1"
}

# As the official slim images: no documentation, man pages or translations,
# now or in packages installed later, and apt keeps no package files.
slim_rootfs() {
    r=${1:?}
    cat > "$r/etc/dpkg/dpkg.cfg.d/docker-slim" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
EOF
    cat > "$r/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
    echo 'Acquire::Languages "none";' > "$r/etc/apt/apt.conf.d/docker-no-languages"
    find "$r/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete 2>/dev/null
    find "$r/usr/share/doc" -mindepth 1 -type d -empty -delete 2>/dev/null
    rm -rf "$r/usr/share/man/"* "$r/usr/share/groff/"* "$r/usr/share/info/"* "$r/usr/share/lintian/"* \
        "$r/usr/share/locale/"* "$r/var/lib/apt/lists/"* "$r/var/cache/apt/"*.bin \
        "$r/var/cache/apt/archives/"*.deb "$r/var/cache/debconf/"*-old "$r/var/log/"*.log \
        "$r/var/log/apt/"* "$r/tmp/"* 2>/dev/null
    rm -f "$r/etc/apt/sources.list"
    {
        printf 'Types: deb\nURIs: %s\nSuites: %s %s-updates\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
            "$2" "$suite" "$suite"
        [ -n "$3" ] && printf '\nTypes: deb\nURIs: %s\nSuites: %s-security\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
            "$3" "$suite"
    } > "$r/etc/apt/sources.list.d/debian.sources"
    : > "$r/etc/resolv.conf"
    echo localhost > "$r/etc/hostname"
}

if pm image exists "debian:$suite-slim"; then
    pass "base image debian:$suite-slim is in podman's store"
elif ! make_base; then
    skip image "could not make the base image debian:$suite-slim (debootstrap or podman import, log above): the image was not built"
    finish
fi

# podman's default ulimits are not permitted on this machine; the same
# hardening as the Kubernetes manifests: read-only root, no capabilities.
run_opts="--ulimit nofile=20000:20000 --ulimit nproc=32768:32768 --read-only --cap-drop ALL --security-opt no-new-privileges"
# One-off runs skip the HEALTHCHECK: podman would try to give it a systemd timer.
once_opts="--rm --no-healthcheck $run_opts"

# A machine where podman cannot start any container is not this project's
# failure: say so and skip.
# shellcheck disable=SC2086
if ! pm run $once_opts --network none "debian:$suite-slim" true > "$tmp/smoke.log" 2>&1; then
    skip image "podman cannot run a container on this machine: $(tail -1 "$tmp/smoke.log")"
    finish
fi

# --- the build context ------------------------------------------------------

# What `COPY . /ctx` receives under .dockerignore: none of MNIST, the build
# folders, node_modules or .git, and a few MB at most.
cat > "$tmp/Containerfile.context" <<EOF
FROM debian:$suite-slim
COPY . /ctx
RUN cd /ctx && echo "context-kb \$(du -sk . | cut -f1)" && find . -type f | sed 's/^/context-file /'
EOF
if pm build --format docker --pull=never --network none --layers=false --ignorefile .dockerignore \
        -f "$tmp/Containerfile.context" -t localhost/digits-context-check:test . > "$tmp/context.log" 2>&1; then
    pm rmi -f localhost/digits-context-check:test > /dev/null 2>&1
    kb=$(sed -n 's/^context-kb //p' "$tmp/context.log")
    nfiles=$(grep -c '^context-file ' "$tmp/context.log")
    bad=$(sed -n 's/^context-file \.\///p' "$tmp/context.log" \
        | grep -E '^(data|build[^/]*|node_modules|\.git)/|/(node_modules|\.git)/|idx[13]-ubyte|\.o$' | head -5)
    if [ -n "$bad" ]; then
        fail "the build context holds what .dockerignore should keep out: $bad"
    elif [ "${kb:-99999}" -gt 16384 ]; then
        # The shipped model alone is about 7 MB.
        fail "the build context is ${kb} KB (over 16 MB): what does .dockerignore let in?"
    else
        pass "build context: $nfiles files, $kb KB, no data or build output"
    fi
else
    tail -20 "$tmp/context.log" >&2
    fail "could not build the context check"
fi

# --- the image ------------------------------------------------------------------

# DIGITS_BUILD_ARGS="ARCH=x86-64-v3 UNIT_TESTS=..." passes --build-arg each.
build_args=""
for a in ${DIGITS_BUILD_ARGS:-}; do build_args="$build_args --build-arg $a"; done
old_id=$(pm image inspect --format '{{.Id}}' "$image" 2>/dev/null)
t0=$(now)
# shellcheck disable=SC2086
if pm build --format docker --pull=never --network host $build_args -t "$image" -f Dockerfile . \
        > "$tmp/build.log" 2>&1; then
    build_s=$(( $(now) - t0 ))
    tests_run=$(grep -c '^100%: Checks:' "$tmp/build.log")
    cached=$(grep -c -- '--> Using cache' "$tmp/build.log")
    if [ "$tests_run" -gt 0 ]; then
        pass "podman build in ${build_s} s ($cached steps from cache; $tests_run unit-test suites passed in the build stage)"
    else
        pass "podman build in ${build_s} s (all $cached steps from cache: the sources and their unit tests are unchanged)"
    fi
    grep -E '^== check_|^[0-9]+%: Checks:' "$tmp/build.log" | sed 's/^/    /'
    # The build stage's last layer (untagged, labelled digits.stage=build) is
    # the cache of the next run: keep this build's, remove those of earlier
    # builds and the image this one replaced, with their untagged layers.
    stage_id=$(sed -n '/^\[2\/2\]/q; s/^--> \([0-9a-f]\{10,\}\)$/\1/p' "$tmp/build.log" | tail -1)
    if [ -n "$stage_id" ]; then
        for id in $(pm images --filter dangling=true --filter label=digits.stage=build --format '{{.ID}}'); do
            case $id in "$stage_id"*) ;; *) pm rmi "$id" > /dev/null 2>&1 ;; esac
        done
    fi
    new_id=$(pm image inspect --format '{{.Id}}' "$image")
    [ -n "$old_id" ] && [ "$old_id" != "$new_id" ] && pm rmi "$old_id" > /dev/null 2>&1
else
    tail -40 "$tmp/build.log" >&2
    fail "podman build failed (last lines above)"
    finish
fi

# Its configuration, as `docker inspect` would show it.
cfg=$(pm image inspect --format '{{.Config.User}}|{{json .Config.ExposedPorts}}|{{.Config.StopSignal}}|{{json .Config.Entrypoint}}|{{json .Config.Env}}' "$image")
hc=$(pm image inspect --format '{{json .HealthCheck}}' "$image")
case $cfg in 10001:10001\|*8080/tcp*\|SIGTERM\|*digits-server*) pass "image: user 10001, EXPOSE 8080, STOPSIGNAL SIGTERM, ENTRYPOINT digits-server" ;;
    *) fail "image config: $cfg" ;; esac
case $cfg in *DIGITS_MODEL=*DIGITS_PORT=8080*) pass "image: DIGITS_* defaults in its environment" ;;
    *) fail "image environment: $cfg" ;; esac
case $hc in *digits-server*--healthcheck*) pass "image: HEALTHCHECK $hc" ;;
    *) fail "image has no HEALTHCHECK running digits-server --healthcheck: $hc" ;; esac
size=$(pm image inspect --format '{{.Size}}' "$image")
base_size=$(pm image inspect --format '{{.Size}}' "debian:$suite-slim")
size_mb=$(( size / 1000000 )); added_mb=$(( (size - base_size) / 1000000 ))
if [ "$added_mb" -le 30 ]; then
    pass "image size ${size_mb} MB (${added_mb} MB over debian:$suite-slim)"
else
    fail "image size ${size_mb} MB: ${added_mb} MB over the base, expected at most 30"
fi
# shellcheck disable=SC2086
if pm run $once_opts --entrypoint /bin/sh "$image" -c \
        'for t in cc gcc make pkg-config; do command -v $t; done; dpkg-query -W -f "\${Package}\n" | grep -E -- "-dev$|^check$"; ls /usr/local/bin' \
        > "$tmp/contents.out" 2>&1 \
    && [ "$(cat "$tmp/contents.out")" = digits-server ]; then
    pass "image: no compiler or -dev package; /usr/local/bin holds digits-server only"
else
    fail "image contents: $(cat "$tmp/contents.out")"
fi

# --- run it ---------------------------------------------------------------------

# Configuration by environment: a bad value stops start-up with exit 2.
# shellcheck disable=SC2086
pm run $once_opts -e DIGITS_PORT=eighty "$image" > "$tmp/badenv.log" 2>&1
rc=$?
if [ $rc = 2 ] && grep -q DIGITS_PORT "$tmp/badenv.log"; then
    pass "DIGITS_PORT=eighty: exit 2, $(grep DIGITS_PORT "$tmp/badenv.log" | head -1)"
else
    fail "DIGITS_PORT=eighty: exit $rc: $(cat "$tmp/badenv.log")"
fi

name="digits-test-$$"
containers="$name"
t0=$(now)
# shellcheck disable=SC2086
if ! pm run -d --name "$name" $run_opts -e DIGITS_THREADS=2 -p 127.0.0.1::8080 -p 127.0.0.1::8081 "$image" > "$tmp/run.out" 2>&1; then
    fail "podman run: $(cat "$tmp/run.out")"
    finish
fi
addr=$(pm port "$name" 8080/tcp | head -1)
admin_addr=$(pm port "$name" 8081/tcp | head -1)
url="http://$addr"
i=0
until curl -fsS -o /dev/null "$url/healthz" 2>/dev/null; do
    i=$((i + 1))
    if [ $i -gt 100 ] || [ "$(pm inspect --format '{{.State.Running}}' "$name")" != true ]; then
        pm logs "$name" >&2
        fail "the container did not answer /healthz on $url"
        finish
    fi
    sleep 0.2
done
pass "container $name up, /healthz 200 on $url after $(( $(now) - t0 )) s"

uid=$(pm exec "$name" id -u 2>&1)
[ "$uid" = 10001 ] && pass "runs as uid 10001" || fail "runs as uid $uid"
code=$(curl -s -o "$tmp/readyz" -w '%{http_code}' "$url/readyz")
[ "$code" = 200 ] && pass "/readyz 200" || fail "/readyz $code: $(cat "$tmp/readyz")"

# Real PNGs: the container must answer what the same model answers on this
# machine (digits-trainer predict runs the server's pipeline), which is what
# deploying it must not change. How often that answer is right is the
# realworld suite's business; the fixture's name is shown for reference.
# Faint pencil (*_faint_*) is read as asked for: ?faint=1, predict --faint.
trainer=${DIGITS_BUILD:-build}/digits-trainer
n=0
for f in tests/data/png/*.png; do
    word=$(basename "$f" | cut -d_ -f1)
    label=$(echo "zero one two three four five six seven eight nine" | tr ' ' '\n' | grep -n -x "$word" | cut -d: -f1)
    [ -n "$label" ] || continue
    label=$((label - 1))
    query=""; flag=""
    case $(basename "$f") in *_faint_*) query="?faint=1"; flag="--faint" ;; esac
    want=$label
    if [ -x "$trainer" ]; then
        # shellcheck disable=SC2086  # $flag is empty or one word
        want=$("$trainer" predict $flag --model models/mnist-mlp.bin "$f" | awk '{ print $2 }')
    fi
    answer=$(curl -s --data-binary @"$f" -H 'Content-Type: image/png' "$url/predict$query")
    if echo "$answer" | grep -q "\"digit\":$want,"; then
        pass "POST $(basename "$f") (drawn as $label) -> $(echo "$answer" | cut -c1-40)..., as on the host"
    else
        fail "POST $f: the host's model says $want, the container says $answer"
    fi
    n=$((n + 1))
done
[ $n -ge 1 ] || fail "no PNG fixtures in tests/data/png"
f=$(ls tests/data/png/seven*.png 2>/dev/null | head -1)
if [ -n "$f" ]; then
    answer=$(curl -s -F image=@"$f" "$url/predict")
    echo "$answer" | grep -q '"digit":7,' && pass "multipart POST -> digit 7" || fail "multipart POST: $answer"
    n=$((n + 1))
fi

model=$(curl -s "$url/model")
echo "$model" | grep -q '"id":"mlp-' && pass "/model: $(echo "$model" | cut -c1-60)..." || fail "/model: $model"

curl -s "$url/metrics" > "$tmp/metrics"
if grep -q "^digits_http_requests_total{handler=\"/predict\",code=\"200\"} $n\$" "$tmp/metrics" \
    && grep -q '^digits_model_info{' "$tmp/metrics"; then
    pass "/metrics counts the $n predictions"
else
    fail "/metrics: $(grep -E '^digits_(http_requests_total|model_info)' "$tmp/metrics")"
fi
if command -v promtool >/dev/null 2>&1; then
    promtool check metrics < "$tmp/metrics" > "$tmp/promtool.out" 2>&1 \
        && pass "promtool check metrics on the container's /metrics" \
        || fail "promtool check metrics: $(cat "$tmp/promtool.out")"
fi

pm logs "$name" > "$tmp/logs" 2>&1
grep -q '"msg":"request","method":"POST","path":"/predict","status":200' "$tmp/logs" \
    && pass "JSON request logs on stderr (DIGITS_LOG_FORMAT=json)" || fail "no JSON request log: $(tail -3 "$tmp/logs")"

# The image's HEALTHCHECK, as the engine runs it (podman's timer needs systemd).
if pm healthcheck run "$name" > "$tmp/hc.out" 2>&1; then
    status=$(pm inspect --format '{{.State.Health.Status}}' "$name" 2>/dev/null \
        || pm inspect --format '{{.State.Healthcheck.Status}}' "$name")
    [ "$status" = healthy ] && pass "podman healthcheck run: healthy" || fail "health status after a passing check: $status"
else
    fail "podman healthcheck run: $(cat "$tmp/hc.out")"
fi
if pm exec "$name" /usr/local/bin/digits-server --healthcheck http://127.0.0.1:1/healthz > /dev/null 2>&1; then
    fail "--healthcheck against a closed port exited 0"
else
    pass "--healthcheck against a closed port exits 1"
fi

# Prometheus with docker/prometheus.yml, its target pointed at the container.
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null \
        || echo $(( 20000 + $$ % 20000 ))
}
if command -v prometheus >/dev/null 2>&1; then
    pport=$(free_port)
    sed -e "s/digits:8081/$admin_addr/" -e "s/localhost:9090/127.0.0.1:$pport/" \
        -e 's/scrape_interval: 15s/scrape_interval: 1s/' -e 's/scrape_timeout: 5s/scrape_timeout: 1s/' \
        docker/prometheus.yml > "$tmp/prometheus.yml"
    prometheus --config.file="$tmp/prometheus.yml" --storage.tsdb.path="$tmp/prometheus-data" \
        --web.listen-address="127.0.0.1:$pport" > "$tmp/prometheus.log" 2>&1 &
    prom_pid=$!
    q="http://127.0.0.1:$pport/api/v1/query"
    i=0; up=""
    while [ $i -lt 60 ] && kill -0 "$prom_pid" 2>/dev/null; do
        up=$(curl -s -G "$q" --data-urlencode 'query=up{job="digits"}' 2>/dev/null)
        case $up in *'"value":['*',"1"]'*) break ;; esac
        sleep 0.5; i=$((i + 1))
    done
    info=$(curl -s -G "$q" --data-urlencode 'query=digits_model_info{job="digits"}' 2>/dev/null)
    case $up$info in
        *'"value":['*',"1"]'*'"__name__":"digits_model_info"'*)
            pass "Prometheus with docker/prometheus.yml scrapes the container: up{job=\"digits\"} 1, digits_model_info present" ;;
        *) fail "Prometheus did not scrape the container: $up $info $(tail -3 "$tmp/prometheus.log")" ;;
    esac
    kill "$prom_pid" 2>/dev/null; wait "$prom_pid" 2>/dev/null; prom_pid=""
else
    skip prometheus-scrape "prometheus is not installed (apt-get install prometheus): no real scrape"
fi

# SIGTERM (podman stop sends the image's STOPSIGNAL) while an upload is in
# flight: the request is answered, then the server exits 0 well inside the
# stop timeout.
head -c 400000 /dev/zero | tr '\0' 'x' > "$tmp/note.txt"
curl -s -o "$tmp/inflight.json" -w '%{http_code}' --limit-rate 200k \
    -F image=@"${f:-tests/data/png/seven_canvas_rgba.png}" -F note=@"$tmp/note.txt" "$url/predict" \
    > "$tmp/inflight.code" 2>&1 &
curl_pid=$!
sleep 0.7
t0=$(now)
pm stop -t 30 "$name" > /dev/null 2>&1
stop_s=$(( $(now) - t0 ))
wait "$curl_pid"; curl_pid=""
rc=$(pm inspect --format '{{.State.ExitCode}}' "$name")
pm logs "$name" > "$tmp/logs" 2>&1
if [ "$rc" = 0 ] && grep -q '"msg":"draining: .* [1-9][0-9]* requests* in flight' "$tmp/logs" \
        && grep -q '"msg":"stopped"' "$tmp/logs"; then
    pass "SIGTERM: drained the request in flight and exited 0 in ${stop_s} s"
else
    fail "SIGTERM: exit code $rc after ${stop_s} s: $(tail -3 "$tmp/logs")"
fi
if [ "$(cat "$tmp/inflight.code")" = 200 ] && grep -q '"digit":7,' "$tmp/inflight.json"; then
    pass "the upload in flight at SIGTERM was answered: 200, digit 7"
else
    fail "the upload in flight at SIGTERM: $(cat "$tmp/inflight.code") $(cat "$tmp/inflight.json")"
fi

pm rm -f "$name" > /dev/null 2>&1 && containers=""
left=$(pm ps -a --filter "name=digits-test-$$" --format '{{.Names}}')
[ -z "$left" ] && pass "container removed" || fail "containers left: $left"

finish
