#!/usr/bin/env bash
# Fault injection for tests and the demo (run through "test/stack/stack fault").
#
#   replication pause|resume replica1|replica2
#       pause: delete the replica's _replicator/registry-from-primary and
#       heartbeat-from-primary docs; resume: create them again (same docs as
#       "stack up" makes)
#   origin lose N NAME VERSION       move the tarball away from origin N's root
#   origin corrupt N NAME VERSION    overwrite it with other bytes (same size)
#   origin restore N                 put back every lost or corrupted tarball
#   cdn errors on|off                the CDN answers 503 (all but /_ping)
#   cdn stale on|off                 packuments cached for a day (publishes not seen)
#
# Stopping a node is "stack stop NAME" / "stack start NAME". A primary that
# is stopped and started again leaves the replicas' replications stuck (a
# pouchdb-server quirk): "replication pause" then "resume" restarts them.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"

usage() { sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

replication() {
	local action="${1:-}" inst="${2:-}" port
	case "$inst" in
	replica1) port=$COUCH_REPLICA1_PORT ;;
	replica2) port=$COUCH_REPLICA2_PORT ;;
	*) usage ;;
	esac
	couch_credentials
	local url rev db
	case "$action" in
	pause)
		for db in registry heartbeat; do
			url="http://127.0.0.1:$port/_replicator/$db-from-primary"
			rev="$(curl -sS -m 60 -u "$COUCH_ADMIN_USER:$COUCH_ADMIN_PASSWORD" "$url" |
				sed -n 's/.*"_rev":"\([^"]*\)".*/\1/p')"
			if [ -z "$rev" ]; then
				log "no replication doc at $url: already paused"
				continue
			fi
			curl -sS -m 60 -u "$COUCH_ADMIN_USER:$COUCH_ADMIN_PASSWORD" -X DELETE "$url?rev=$rev" | grep -q '"ok":true' ||
				die "DELETE $url failed"
			log "paused: deleted $url"
		done
		;;
	resume)
		"$STACK_SRC/services/couch-$inst.sh" start
		log "resumed: the replications of $inst"
		;;
	*) usage ;;
	esac
}

origin() {
	local action="${1:-}" n="${2:-}" name="${3:-}" version="${4:-}"
	[[ "$n" =~ ^[12]$ ]] || usage
	local root="$STACK_DIR/origin$n/root" saved="$STACK_DIR/origin$n/saved"
	local rel="$name/-/$name-$version.tgz"
	case "$action" in
	lose | corrupt)
		[ -n "$name" ] && [ -n "$version" ] || usage
		mkdir -p "$saved/$name/-"
		if [ ! -e "$saved/$rel" ]; then
			[ -f "$root/$rel" ] || die "origin$n has no $root/$rel"
			cp -p "$root/$rel" "$saved/$rel"
		fi
		if [ "$action" = lose ]; then
			rm -f "$root/$rel"
			log "origin$n lost $rel (kept in $saved)"
		else
			# Same length, different bytes: only a checksum can tell.
			head -c "$(stat -c %s "$saved/$rel")" /dev/zero | tr '\0' 'X' >"$root/$rel"
			log "origin$n: $rel corrupted (original in $saved)"
		fi
		;;
	restore)
		[ -d "$saved" ] || { log "origin$n: nothing to restore"; return 0; }
		cp -a "$saved/." "$root/"
		rm -rf "$saved"
		log "origin$n: restored its tarballs"
		;;
	*) usage ;;
	esac
}

cdn() {
	local what="${1:-}" onoff="${2:-}" dir="$STACK_DIR/varnish" vcl
	local adm=(varnishadm -T "127.0.0.1:$CDN_ADMIN_PORT" -S "$dir/secret")
	case "$what:$onoff" in
	errors:on) vcl=errors ;;
	stale:on) vcl=stale ;;
	errors:off | stale:off) vcl=boot ;;
	*) usage ;;
	esac
	if [ "$vcl" != boot ] && ! "${adm[@]}" vcl.list | grep -qw "$vcl"; then
		"${adm[@]}" vcl.load "$vcl" "$dir/$vcl.vcl" >/dev/null || die "varnishadm vcl.load $vcl failed"
	fi
	"${adm[@]}" vcl.use "$vcl" >/dev/null || die "varnishadm vcl.use $vcl failed"
	if [ "$what:$onoff" = stale:off ]; then
		# Objects fetched under the stale VCL carry a day-long TTL: drop them.
		"${adm[@]}" ban req.url '~' . >/dev/null || die "varnishadm ban failed"
	fi
	log "cdn: active VCL is now $vcl"
}

case "${1:-}" in
replication | origin | cdn) "$1" "${@:2}" ;;
*) usage ;;
esac
