#!/usr/bin/env bash
# seed.sh tarballs|couch|origin DIR
#   tarballs   builds the seed tarballs (deterministic, real .tgz files) into
#              $STACK_DIR/seed/tarballs/<name>/-/<name>-<version>.tgz
#   couch      loads packuments + attachments + _design/app into the primary
#   origin DIR copies the tarballs into an origin's filesystem root
set -euo pipefail
. "$(dirname "$0")/../lib.sh"

out="$STACK_DIR/seed/tarballs"

tarballs() {
	[ -f "$out/.done" ] && return 0
	local tmp name version author
	tmp="$(mktemp -d)"
	grep -v '^#' "$STACK_SRC/seed/packages.txt" | while read -r name version author; do
		[ -n "$name" ] || continue
		mkdir -p "$tmp/$name-$version/package" "$out/$name/-"
		printf '{\n  "name": "%s",\n  "version": "%s",\n  "description": "%s: seed package of the registry-checks local stack",\n  "main": "index.js",\n  "author": "%s",\n  "license": "MIT"\n}\n' \
			"$name" "$version" "$name" "$author" >"$tmp/$name-$version/package/package.json"
		printf 'module.exports = function () { return "%s@%s"; };\n' "$name" "$version" >"$tmp/$name-$version/package/index.js"
		# Same bytes on every machine: the checksums in the packuments are
		# those of these files.
		tar -C "$tmp/$name-$version" --sort=name --mtime=@1700000000 --owner=0 --group=0 --numeric-owner -cf - package |
			gzip -n -9 >"$out/$name/-/$name-$version.tgz"
	done
	rm -rf "$tmp"
	touch "$out/.done"
}

couch() {
	tarballs
	couch_credentials
	local url="http://127.0.0.1:$COUCH_PRIMARY_PORT"
	COUCH_URL="$url" TARBALL_DIR="$out" PACKAGES="$STACK_SRC/seed/packages.txt" \
		TARBALL_BASE="http://127.0.0.1:$CDN_PORT" COUCH_CREDENTIALS_FILE="$COUCH_CREDENTIALS_FILE" \
		node "$STACK_SRC/seed/seed.js"
}

origin() {
	local root="${1:?usage: seed.sh origin DIR}"
	tarballs
	mkdir -p "$root"
	cp -a "$out/." "$root/"
	rm -f "$root/.done"
}

mkdir -p "$STACK_DIR"
"${1:?usage: seed.sh tarballs|couch|origin DIR}" "${@:2}"
