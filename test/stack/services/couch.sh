#!/usr/bin/env bash
# couch.sh install|start|stop|status primary|replica1|replica2
#
# CouchDB-protocol nodes: pouchdb-server 4.2.0 on LevelDB (pinned by
# test/stack/couch/package-lock.json, installed with --omit=optional so the
# sqlite3 adapter, which has to be compiled here, is left out). The primary
# holds the seeded "registry" database and the "heartbeat" database the
# checks write their heartbeats into (never the registry, whose changes feed
# is public); each replica pulls both through continuous replications
# defined in its own _replicator database.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"

cmd="${1:?usage: couch.sh install|start|stop|status primary|replica1|replica2}"
inst="${2:?usage: couch.sh $cmd primary|replica1|replica2}"
case "$inst" in
primary) port=$COUCH_PRIMARY_PORT key=COUCH_PRIMARY_URL ;;
replica1) port=$COUCH_REPLICA1_PORT key=COUCH_REPLICA1_URL ;;
replica2) port=$COUCH_REPLICA2_PORT key=COUCH_REPLICA2_URL ;;
*) die "couch.sh: unknown instance $inst (primary, replica1, replica2)" ;;
esac
name="couch-$inst"
dir="$STACK_DIR/$name"
pidfile="$dir/$name.pid"
url="http://127.0.0.1:$port"
npm_prefix="$STACK_CACHE/npm"
server="$npm_prefix/node_modules/pouchdb-server/bin/pouchdb-server"

install() {
	local stamp="$npm_prefix/.installed-lock.sha256" want
	want="$(sha256sum "$STACK_SRC/couch/package-lock.json" | cut -d' ' -f1)"
	if [ -x "$server" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
		return 0
	fi
	command -v npm >/dev/null || die "npm is missing: install node 20 and npm first"
	log "installing pouchdb-server into $npm_prefix (npm ci, pinned by test/stack/couch/package-lock.json)"
	mkdir -p "$npm_prefix"
	cp "$STACK_SRC/couch/package.json" "$STACK_SRC/couch/package-lock.json" "$npm_prefix/"
	(cd "$npm_prefix" && npm ci --omit=optional --no-audit --no-fund --loglevel=error >"$npm_prefix/npm-ci.log" 2>&1) ||
		die "npm ci in $npm_prefix failed (see $npm_prefix/npm-ci.log)"
	echo "$want" >"$stamp"
}

# api METHOD PATH [JSON]: an admin request to this node; prints the body.
api() {
	local data=()
	[ $# -ge 3 ] && data=(-H 'Content-Type: application/json' --data-binary "$3")
	curl -sS -m 10 -u "$COUCH_ADMIN_USER:$COUCH_ADMIN_PASSWORD" -X "$1" "${data[@]}" "$url$2"
}

# ensure_replication [DB]: the continuous replication DB-from-primary
# (default registry) pulling the primary's DB into this node's DB.
ensure_replication() {
	local doc primary="127.0.0.1:$COUCH_PRIMARY_PORT" db="${1:-registry}"
	# Unauthenticated writes make pouchdb-server hang instead of answering
	# 401, so every call here carries the admin credentials.
	api PUT /_replicator >/dev/null
	if api GET "/_replicator/$db-from-primary" | grep -q '"source"'; then
		return 0
	fi
	# Credentials in the source URL, as CouchDB 1.x/2.x registries commonly
	# store them: the checks must redact them wherever they print a source.
	# "created_at" makes each doc unique: pouchdb-replicator keeps the body
	# of a deleted doc's replication as a live signature and silently ignores
	# a recreated doc with the same body (it never starts replicating again).
	doc=$(printf '{"source":"http://%s:%s@%s/%s","target":"%s","continuous":true,"create_target":true,"created_at":"%s"}' \
		"$COUCH_ADMIN_USER" "$COUCH_ADMIN_PASSWORD" "$primary" "$db" "$db" "$(date -u +%FT%T.%NZ)")
	api PUT "/_replicator/$db-from-primary" "$doc" | grep -q '"ok":true' ||
		die "$name: could not create _replicator/$db-from-primary at $url"
}

# ensure_heartbeat_db: the primary's heartbeat database (412 when it exists).
ensure_heartbeat_db() {
	api PUT /heartbeat | grep -q -e '"ok":true' -e file_exists ||
		die "$name: could not create the heartbeat database at $url"
}

ready_or_dead() {
	http_ok "$url/" && return 0
	# wait_until silences this function's output: fd 3 is start's stderr.
	pid_alive "$pidfile" || die "$name (pid $(cat "$pidfile")) exited while starting; last lines of $dir/stdout.log:
$(tail -n 15 "$dir/stdout.log" 2>/dev/null)" 2>&3
	return 1
}

start() {
	exec 3>&2
	install
	mkdir -p "$dir/data"
	couch_credentials
	if pid_alive "$pidfile"; then
		log "$name already running (pid $(cat "$pidfile")) on $url"
	else
		reclaim_port "$port" node
		if [ ! -s "$dir/config.json" ]; then
			# pouchdb-server hashes the plain password on first start, as CouchDB does.
			printf '{"admins":{"%s":"%s"},"log":{"file":"%s/log.txt","level":"info"}}\n' \
				"$COUCH_ADMIN_USER" "$COUCH_ADMIN_PASSWORD" "$dir" >"$dir/config.json"
			chmod 600 "$dir/config.json"
		fi
		# --unhandled-rejections=warn: deleting a _replicator doc whose
		# replication is retrying would otherwise crash the node.
		NODE_OPTIONS=--unhandled-rejections=warn setsid nohup node "$server" \
			-p "$port" -o 127.0.0.1 -d "$dir/data" -c "$dir/config.json" -n --no-color \
			>"$dir/stdout.log" 2>&1 </dev/null 3>&- &
		echo $! >"$pidfile"
		# Ready = GET / answers 200 (pouchdb-server has no /_up); stop
		# waiting early if the process died.
		wait_until 60 "$name at $url/" ready_or_dead ||
			die "$name did not answer GET $url/ within 60s; last lines of $dir/stdout.log:
$(tail -n 15 "$dir/stdout.log" 2>/dev/null)"
		log "$name ready on $url (pid $(cat "$pidfile"))"
	fi
	case "$inst" in
	primary)
		"$STACK_SRC/seed/seed.sh" couch
		ensure_heartbeat_db
		;;
	*)
		ensure_replication registry
		ensure_replication heartbeat
		;;
	esac
	{
		echo "$key=$url"
		if [ "$inst" = primary ]; then
			echo "COUCH_ADMIN_USER=$COUCH_ADMIN_USER"
			echo "COUCH_ADMIN_PASSWORD=$COUCH_ADMIN_PASSWORD"
			echo "COUCH_CREDENTIALS_FILE=$COUCH_CREDENTIALS_FILE"
		fi
	} >"$STACK_DIR/$name.env"
	chmod 600 "$STACK_DIR/$name.env"
}

stop() {
	stop_pidfile "$name" "$pidfile"
	rm -f "$STACK_DIR/$name.env"
}

status() {
	if pid_alive "$pidfile" && http_ok "$url/"; then
		echo "$name: up, $url, pid $(cat "$pidfile")"
	elif pid_alive "$pidfile"; then
		echo "$name: running (pid $(cat "$pidfile")) but GET $url/ fails"
		return 1
	else
		echo "$name: down"
		return 1
	fi
}

mkdir -p "$STACK_DIR"
case "${1:-}" in install | start | stop | status) "$1" ;; *) die "usage: $(basename "$0") install|start|stop|status" ;; esac
