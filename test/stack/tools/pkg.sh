#!/usr/bin/env bash
# pkg.sh COMMAND ARG...: runs apt-get or dpkg through lib.sh's pkg_run, so
# that it waits (up to REGISTRY_CHECKS_PKG_LOCK_TIMEOUT seconds, says once
# for which process) when another package manager holds the dpkg/apt locks
# instead of failing at once. COMMAND's output is printed when it is done;
# the wait is told on stderr. For the Go tests that install packages
# (packaging, docs/quickstart_test.go) and the quick start's apt-get.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"

[ $# -gt 0 ] || die "usage: $(basename "$0") COMMAND ARG..."
out="$(mktemp "${TMPDIR:-/tmp}/registry-checks-pkg.XXXXXX")"
trap 'rm -f "$out"' EXIT
rc=0
pkg_run "$out" "$@" || rc=$?
cat "$out"
exit "$rc"
