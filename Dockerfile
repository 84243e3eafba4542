# digits-server as a container image.
#
#   docker build -t digits .            (or: podman build --format docker -t digits .)
#   docker run --rm -p 8080:8080 digits
#
# Two stages: "build" compiles both programs with the project's Makefile and
# runs the unit tests that need no MNIST; the runtime stage is
# debian:bookworm-slim with the two runtime libraries, the server binary and
# the shipped model, run as an unprivileged user. tests/container.sh builds
# and runs this file for real in `make test`.

# --- build -------------------------------------------------------------------
FROM debian:bookworm-slim AS build
# Lets tests/container.sh find this stage's layers (its build cache).
LABEL digits.stage=build

WORKDIR /src
# The same dependency list a person and CI use (scripts/deps.sh installs it
# with apt-get as root), in its own layer so that source edits reuse it.
COPY scripts/deps.sh scripts/deps.sh
RUN sh scripts/deps.sh && rm -rf /var/lib/apt/lists/*

# Everything else the Makefile may use (.dockerignore keeps out data, build
# outputs and node_modules).
COPY . .

# The Makefile's default -march=native would tie the image to the CPU it was
# built on. Empty ARCH picks a portable baseline for the build platform;
# pass --build-arg ARCH=... to choose another.
ARG ARCH=
# Unit tests that need neither MNIST nor the network (the others say MNIST is
# missing and fail; they run in `make test` outside the image). Space- or
# comma-separated.
ARG UNIT_TESTS="check_server_units check_server check_png_preprocess check_preprocess_steps check_report check_variants"
RUN set -eu; \
    if [ -z "$ARCH" ]; then \
        case "$(dpkg --print-architecture)" in \
            amd64) ARCH=x86-64-v2 ;; \
            arm64) ARCH=armv8-a ;; \
            *) echo "no portable ARCH known for $(dpkg --print-architecture): pass --build-arg ARCH=..." >&2; exit 1 ;; \
        esac; \
    fi; \
    tests=""; for t in $(echo "$UNIT_TESTS" | tr , ' '); do tests="$tests build/tests/$t"; done; \
    make -j"$(nproc)" ARCH="$ARCH" all $tests; \
    strip build/digits-server build/digits-trainer
RUN set -eu; \
    export DIGITS_DATA=/nonexistent DIGITS_SHARED=/nonexistent CK_DEFAULT_TIMEOUT=300; \
    for t in $(echo "$UNIT_TESTS" | tr , ' '); do echo "== $t"; "build/tests/$t"; done

# --- runtime -----------------------------------------------------------------
FROM debian:bookworm-slim

# Runtime libraries only (libmicrohttpd, libpng; zlib and GnuTLS come with
# them: the server writes its JSON itself, and the linker's --as-needed drops
# cJSON, which only the tests use), and a fixed numeric user so that
# Kubernetes' runAsNonRoot can verify it without a passwd lookup.
RUN set -eu; \
    apt-get update -qq; \
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        libmicrohttpd12 libpng16-16 >/dev/null; \
    rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/apt /var/log/dpkg.log; \
    echo 'digits:x:10001:10001:digits-server:/nonexistent:/usr/sbin/nologin' >> /etc/passwd; \
    echo 'digits:x:10001:' >> /etc/group

COPY --from=build /src/build/digits-server /usr/local/bin/digits-server
COPY --from=build /src/models/mnist-mlp.bin /usr/local/share/digits/mnist-mlp.bin

# Configuration is by environment variable (README, "The server", lists them
# all). Arguments after the image name are the server's flags, and a flag
# wins over its variable; but give the port and address as variables
# (-e DIGITS_PORT=9000): the HEALTHCHECK runs as another process, which sees
# this environment and not the server's flags.
ENV DIGITS_MODEL=/usr/local/share/digits/mnist-mlp.bin \
    DIGITS_BIND=0.0.0.0 \
    DIGITS_PORT=8080 \
    DIGITS_THREADS=0 \
    DIGITS_DRAIN_TIMEOUT=8 \
    DIGITS_LOG_FORMAT=json \
    DIGITS_ADMIN_PORT=8081

LABEL org.opencontainers.image.title="digits-server" \
      org.opencontainers.image.description="Handwritten-digit recognition over HTTP (POST a PNG to /predict)"

USER 10001:10001
EXPOSE 8080 8081
# SIGTERM drains: readiness fails (new connections are closed at once),
# requests in flight finish (at most DIGITS_DRAIN_TIMEOUT seconds), exit 0.
# The runtime's stop timeout must be longer, or a full drain ends in
# SIGKILL: 8 s fits under a plain `docker stop` (10 s); raise both together
# (docker stop -t, compose stop_grace_period, Kubernetes
# terminationGracePeriodSeconds).
STOPSIGNAL SIGTERM
# The server's own check mode: GET http://127.0.0.1:$DIGITS_ADMIN_PORT/healthz
# (the admin port: /healthz, /readyz and /metrics on a thread of their own,
# answered while every worker is busy with uploads), exit 0 on 200, else 1.
# No curl or shell in the check.
HEALTHCHECK --interval=10s --timeout=5s --start-period=5s --retries=3 \
    CMD ["/usr/local/bin/digits-server", "--healthcheck"]
ENTRYPOINT ["/usr/local/bin/digits-server"]
