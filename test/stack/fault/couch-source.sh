#!/usr/bin/env bash
# couch-source.sh start|stop|clean|status NAME PORT
#
# A private CouchDB-protocol source for tests that must kill and revive a
# replication's source without touching the shared primary other tests rely
# on: the same server as the stack's nodes (Apache CouchDB, or
# pouchdb-server on a stack without a CouchDB release). Same admin credentials as the stack;
# data under $STACK_DIR/fault-NAME/ survives stop/start (a source that comes
# back with its data, as after an outage); "clean" stops it and removes it.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"

cmd="${1:?usage: couch-source.sh start|stop|clean|status NAME PORT}"
name="fault-${2:?usage: couch-source.sh $cmd NAME PORT}"
port="${3:?usage: couch-source.sh $cmd NAME PORT}"
dir="$STACK_DIR/$name"
pidfile="$dir/$name.pid"
url="http://127.0.0.1:$port"
server="$STACK_CACHE/npm/node_modules/pouchdb-server/bin/pouchdb-server"

start() {
	couch_select
	if [ "$COUCH_SERVER" = couchdb ]; then
		couchdb_start "$name" "$dir" "$port"
		return 0
	fi
	[ -x "$server" ] || die "$server is missing: run test/stack/stack up first"
	couch_credentials
	mkdir -p "$dir/data"
	if pid_alive "$pidfile"; then
		log "$name already running (pid $(cat "$pidfile")) on $url"
		return 0
	fi
	if [ ! -s "$dir/config.json" ]; then
		printf '{"admins":{"%s":"%s"},"log":{"file":"%s/log.txt","level":"info"}}\n' \
			"$COUCH_ADMIN_USER" "$COUCH_ADMIN_PASSWORD" "$dir" >"$dir/config.json"
		chmod 600 "$dir/config.json"
	fi
	NODE_OPTIONS=--unhandled-rejections=warn setsid nohup node "$server" \
		-p "$port" -o 127.0.0.1 -d "$dir/data" -c "$dir/config.json" -n --no-color \
		>"$dir/stdout.log" 2>&1 </dev/null &
	echo $! >"$pidfile"
	wait_until 60 "$name at $url/" http_ok "$url/" || die "$name did not answer GET $url/ (see $dir/stdout.log)"
	log "$name ready on $url (pid $(cat "$pidfile"))"
}

stop() { stop_pidfile "$name" "$pidfile"; }

clean() {
	stop
	rm -rf "$dir"
}

status() {
	if pid_alive "$pidfile" && { http_ok "$url/_up" || http_ok "$url/"; }; then
		echo "$name: up, $url, pid $(cat "$pidfile")"
	else
		echo "$name: down"
		return 1
	fi
}

"$cmd"
