#!/bin/sh
# container.sh -- make test's entry to tests/container.sh: docker/ checked with
# yamllint, promtool, dclint and the Kubernetes schemas, then the Dockerfile
# built and run for real with podman (as root; otherwise that part says SKIP).
# Exit 0 (pass), 1 (fail) or 77 (skipped, having said why).
cd "$(dirname "$0")/../.." || exit 1
exec sh tests/container.sh "$@"
