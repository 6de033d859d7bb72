#!/usr/bin/env bash
# ensure.sh PACKAGE...: apt-installs the Debian packages that are not
# installed yet, for tests that need a real program (icinga2, rpm) which the
# stack itself does not run. Called by Go tests only under
# REGISTRY_CHECKS_REQUIRE_STACK=1 (make test, CI); a plain `go test` skips
# when the program is absent instead. Package scripts must not start daemons
# (icinga2's would): lib.sh's apt_install, as the stack's apt_ensure.
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
# apt_install waits (bounded) for another apt run: a parallel test, the stack.
apt_install "$aptlog" "${missing[@]}" || die "apt-get install ${missing[*]} failed (see $aptlog)"
log "installed ${missing[*]}"
