#!/usr/bin/env bash
# ensure.sh PACKAGE...: apt-installs the Debian packages that are not
# installed yet, for tests that need a real program (icinga2, rpm) which the
# stack itself does not run. Called by Go tests only under
# REGISTRY_CHECKS_REQUIRE_STACK=1 (make test, CI); a plain `go test` skips
# when the program is absent instead. Package scripts must not start daemons
# (icinga2's would), hence the same policy-rc.d as the stack's apt_ensure.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"

[ $# -gt 0 ] || die "usage: $(basename "$0") PACKAGE..."
missing=()
for p in "$@"; do
	if [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" != "install ok installed" ]; then
		missing+=("$p")
	fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

mkdir -p "$STACK_DIR"
aptlog="$STACK_DIR/apt-tools.log"
log "installing ${missing[*]} (apt-get; needed by a test)"
made_policy=
if [ ! -e /usr/sbin/policy-rc.d ]; then
	printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
	chmod 755 /usr/sbin/policy-rc.d
	made_policy=1
fi
trap '[ -n "$made_policy" ] && rm -f /usr/sbin/policy-rc.d' EXIT
export DEBIAN_FRONTEND=noninteractive
# Another apt run (a parallel test, the stack) may hold the lock: wait for it.
apt_opts=(-y --no-install-recommends -o DPkg::Lock::Timeout=120)
if ! apt-get install "${apt_opts[@]}" "${missing[@]}" >"$aptlog" 2>&1; then
	apt-get update -qq >>"$aptlog" 2>&1 || true
	apt-get install "${apt_opts[@]}" "${missing[@]}" >>"$aptlog" 2>&1 ||
		die "apt-get install ${missing[*]} failed (see $aptlog)"
fi
log "installed ${missing[*]}"
