#!/usr/bin/env bash
# couch.sh install|start|stop|status primary|replica1|replica2
# couch.sh snapshot
#
# The stack's three CouchDB nodes. Which server runs them is decided once per
# stack (couch_select in lib.sh, recorded in $STACK_DIR/couch-server.env):
#
#   Apache CouchDB  from $COUCHDB_HOME (an installed CouchDB, e.g. the
#                   official package's /opt/couchdb, never written to), else
#                   the release tarball in ../shared/couchdb-3.4.3/ unpacked
#                   once into $STACK_CACHE. Each node gets its own vm.args,
#                   local.ini and data under $STACK_DIR/couch-<node>/; default
#                   sharding (q=2), n=1, a server admin and a non-admin
#                   reader. The primary's registry holds a seeded registry of
#                   realistic size (seed/seed.js, SEED_DOCS documents); the
#                   three data directories are kept as a snapshot under
#                   $STACK_CACHE after the first seeding and restored on
#                   later "up"s, so a seeded start takes seconds.
#   PouchDB Server  4.2.0 on LevelDB (pinned by test/stack/couch/package-lock.json,
#                   installed with --omit=optional), the fallback when no
#                   CouchDB release is found, with the small seed.
#
# The primary holds the seeded "registry" database and the "heartbeat"
# database the checks write their heartbeats into (never the registry, whose
# changes feed is public); each replica pulls both through continuous
# replications defined in its own _replicator database.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"

cmd="${1:?usage: couch.sh install|start|stop|status primary|replica1|replica2, or couch.sh snapshot}"

# How many documents the real-CouchDB registry holds (the packuments of
# seed/packages.txt plus synthetic ones); part of the snapshot's key.
SEED_DOCS="${REGISTRY_CHECKS_SEED_DOCS:-100000}"
READER_USER=monitor

node_vars() {
	inst="$1"
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
}

npm_prefix="$STACK_CACHE/npm"
pouchdb_server="$npm_prefix/node_modules/pouchdb-server/bin/pouchdb-server"

install_pouchdb() {
	local stamp="$npm_prefix/.installed-lock.sha256" want
	want="$(sha256sum "$STACK_SRC/couch/package-lock.json" | cut -d' ' -f1)"
	if [ -x "$pouchdb_server" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
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

install() {
	couch_select
	if [ "$COUCH_SERVER" = pouchdb ]; then
		install_pouchdb
	fi
	# CouchDB: couch_select has found (or unpacked) the release already.
}

# api METHOD PATH [JSON]: an admin request to this node; prints the body.
api() {
	local data=()
	[ $# -ge 3 ] && data=(-H 'Content-Type: application/json' --data-binary "$3")
	curl -sS -m 60 -u "$COUCH_ADMIN_USER:$COUCH_ADMIN_PASSWORD" -X "$1" "${data[@]}" "$url$2"
}

# api_at URL METHOD PATH [JSON]: the same against another node.
api_at() {
	local url="$1"
	shift
	api "$@"
}

# ensure_replication [DB]: the continuous replication DB-from-primary
# (default registry) pulling the primary's DB into this node's DB.
ensure_replication() {
	local doc target primary="127.0.0.1:$COUCH_PRIMARY_PORT" db="${1:-registry}" extra=
	# Unauthenticated writes make pouchdb-server hang instead of answering
	# 401, so every call here carries the admin credentials.
	api PUT /_replicator >/dev/null
	if api GET "/_replicator/$db-from-primary" | grep -q '"source"'; then
		return 0
	fi
	# Credentials in the source URL, as CouchDB 1.x/2.x registries commonly
	# store them: the checks must redact them wherever they print a source.
	# On PouchDB Server, "created_at" makes each doc unique: pouchdb-replicator
	# keeps the body of a deleted doc's replication as a live signature and
	# silently ignores a recreated doc with the same body. CouchDB keys its
	# checkpoints by source, target and options, so its documents carry
	# nothing extra: a restored snapshot's checkpoints are found again.
	# CouchDB 3 takes only full URLs: the target is this node, with the
	# credentials as an "auth" object, the form its docs recommend.
	if [ "$COUCH_SERVER" = pouchdb ]; then
		extra=",\"created_at\":\"$(date -u +%FT%T.%NZ)\""
		target="\"$db\""
	else
		target=$(printf '{"url":"%s/%s","auth":{"basic":{"username":"%s","password":"%s"}}}' \
			"$url" "$db" "$COUCH_ADMIN_USER" "$COUCH_ADMIN_PASSWORD")
	fi
	doc=$(printf '{"source":"http://%s:%s@%s/%s","target":%s,"continuous":true,"create_target":true%s}' \
		"$COUCH_ADMIN_USER" "$COUCH_ADMIN_PASSWORD" "$primary" "$db" "$target" "$extra")
	api PUT "/_replicator/$db-from-primary" "$doc" | grep -q '"ok":true' ||
		die "$name: could not create _replicator/$db-from-primary at $url"
}

# ensure_db DB: creates DB on this node (412 when it exists).
ensure_db() {
	api PUT "/$1" | grep -q -e '"ok":true' -e file_exists ||
		die "$name: could not create the $1 database at $url"
}

# ---- PouchDB Server --------------------------------------------------------

pouchdb_ready() {
	http_ok "$url/" && return 0
	# wait_until silences this function's output: fd 3 is start's stderr.
	pid_alive "$pidfile" || die "$name (pid $(cat "$pidfile")) exited while starting; last lines of $dir/stdout.log:
$(tail -n 15 "$dir/stdout.log" 2>/dev/null)" 2>&3
	return 1
}

start_pouchdb() {
	mkdir -p "$dir/data"
	if pid_alive "$pidfile"; then
		log "$name already running (pid $(cat "$pidfile")) on $url"
		return 0
	fi
	reclaim_port "$port" node
	if [ ! -s "$dir/config.json" ]; then
		# pouchdb-server hashes the plain password on first start, as CouchDB does.
		printf '{"admins":{"%s":"%s"},"log":{"file":"%s/log.txt","level":"info"}}\n' \
			"$COUCH_ADMIN_USER" "$COUCH_ADMIN_PASSWORD" "$dir" >"$dir/config.json"
		chmod 600 "$dir/config.json"
	fi
	# --unhandled-rejections=warn: deleting a _replicator doc whose
	# replication is retrying would otherwise crash the node.
	NODE_OPTIONS=--unhandled-rejections=warn setsid nohup node "$pouchdb_server" \
		-p "$port" -o 127.0.0.1 -d "$dir/data" -c "$dir/config.json" -n --no-color \
		>"$dir/stdout.log" 2>&1 </dev/null 3>&- &
	echo $! >"$pidfile"
	# Ready = GET / answers 200 (pouchdb-server has no /_up); stop
	# waiting early if the process died.
	wait_until 60 "$name at $url/" pouchdb_ready ||
		die "$name did not answer GET $url/ within 60s; last lines of $dir/stdout.log:
$(tail -n 15 "$dir/stdout.log" 2>/dev/null)"
	log "$name ready on $url (pid $(cat "$pidfile")), PouchDB Server"
}

# ---- Apache CouchDB ---------------------------------------------------------

# The snapshot of the three seeded data directories: its key changes with
# the seed, the document count, the CouchDB release and SNAPSHOT_LAYOUT,
# which says how couchdb_start lays a node out (node names, uuids, config):
# bump it when that changes, or a restored node will not find its shards or
# its checkpoints.
SNAPSHOT_LAYOUT=1
snapshot_dir() {
	local k
	k="$({
		cat "$STACK_SRC/seed/seed.js" "$STACK_SRC/seed/packages.txt"
		echo "$SEED_DOCS $COUCH_SERVER_VERSION $COUCHDB_HOME layout $SNAPSHOT_LAYOUT"
	} | sha256sum | cut -c1-16)"
	echo "$STACK_CACHE/couchdb-snapshot/$k"
}

start_couchdb() {
	local snap
	if pid_alive "$pidfile"; then
		log "$name already running (pid $(cat "$pidfile")) on $url"
		return 0
	fi
	snap="$(snapshot_dir)"
	if [ ! -d "$dir/data" ] && [ -f "$snap/.complete" ]; then
		mkdir -p "$dir"
		cp -a "$snap/$inst" "$dir/data"
		log "$name: data restored from the seeded snapshot $snap"
	fi
	couchdb_start "$name" "$dir" "$port"
}

# ensure_reader: the non-admin user "monitor" (password generated per stack)
# exists on this node, with that password.
ensure_reader() {
	local rev doc
	# A new single node creates _users and _replicator just after /_up answers.
	wait_until 60 "$name to create _users" http_ok "$url/_users" -u "$COUCH_ADMIN_USER:$COUCH_ADMIN_PASSWORD" ||
		die "$name: no _users database at $url"
	rev="$(api GET "/_users/org.couchdb.user:$READER_USER" | sed -n 's/.*"_rev":"\([^"]*\)".*/\1/p')"
	doc=$(printf '{"name":"%s","password":"%s","roles":[],"type":"user"%s}' \
		"$READER_USER" "$COUCH_READER_PASSWORD" "${rev:+,\"_rev\":\"$rev\"}")
	api PUT "/_users/org.couchdb.user:$READER_USER" "$doc" | grep -q '"ok":true' ||
		die "$name: could not create the reader $READER_USER at $url"
}

# ensure_security: the registry is public to read, as npm's is (the CDN
# fetches packuments without credentials); heartbeat belongs to the reader,
# who writes the checks' heartbeats. The same on every node: _security does
# not replicate, and check_couch_promotion compares it.
ensure_security() {
	set_security registry '{"admins":{"names":[],"roles":[]},"members":{"names":[],"roles":[]}}'
	set_security heartbeat "$(printf '{"admins":{"names":[],"roles":[]},"members":{"names":["%s"],"roles":[]}}' "$READER_USER")"
}

# set_security DB JSON: PUTs DB's _security unless it is JSON already. Each
# PUT adds to the database's update_seq a change that no replication ever
# carries (_security does not replicate), which a sequence lag counted
# from update_seq would take for pending work.
set_security() {
	[ "$(api GET "/$1/_security" | tr -d ' \n')" = "$2" ] && return 0
	api PUT "/$1/_security" "$2" | grep -q '"ok":true' || die "$name: could not set $1/_security at $url"
}

# db_counts URL DB: "doc_count doc_del_count" of DB at URL.
db_counts() {
	local url="$1"
	api GET "/$2" | sed -n 's/.*"doc_del_count":\([0-9]*\).*"doc_count":\([0-9]*\).*/\2 \1/p;s/.*"doc_count":\([0-9]*\).*"doc_del_count":\([0-9]*\).*/\1 \2/p' | head -n1
}

caught_up() {
	local want have
	want="$(db_counts "http://127.0.0.1:$COUCH_PRIMARY_PORT" "$1")"
	have="$(db_counts "$url" "$1")"
	[ -n "$want" ] && [ "$want" = "$have" ]
}

# wait_caught_up DB SECONDS: the replica's DB has as many live and deleted
# documents as the primary's ("replicas hold a full copy at start").
# replication_running DB: the scheduler runs DB-from-primary.
replication_running() {
	api GET "/_scheduler/docs/_replicator/$1-from-primary" | grep -q '"state":"running"'
}

wait_caught_up() {
	local db="$1" secs="$2" t0
	t0=$(now_ms)
	wait_until "$secs" "$name/$db to catch up with the primary ($(db_counts "http://127.0.0.1:$COUCH_PRIMARY_PORT" "$db"))" caught_up "$db" ||
		die "$name: $db did not catch up with the primary within ${secs}s (primary: $(db_counts "http://127.0.0.1:$COUCH_PRIMARY_PORT" "$db"), $name: $(db_counts "$url" "$db"))"
	log "$name/$db caught up with the primary ($(db_counts "$url" "$db") live and deleted documents) in $(((($(now_ms) - t0)) / 1000))s"
}

seed_couchdb() {
	local t0
	t0=$(now_ms)
	SEED_DOCS="$SEED_DOCS" "$STACK_SRC/seed/seed.sh" couch
	log "$name: seeded in $(((($(now_ms) - t0)) / 1000))s"
}

# view_built VIEW: one query of VIEW answers (a query that waits for an
# index longer than CouchDB's fabric request_timeout, 60 s, gets a 500
# timeout while the index goes on building).
view_built() {
	curl -fsS -m 120 -o /dev/null -u "$COUCH_ADMIN_USER:$COUCH_ADMIN_PASSWORD" \
		"$url/registry/_design/app/_view/$1?limit=1"
}

# build_views: queries every view of registry until it answers, so the index
# is built now (and lands in the snapshot) rather than under a test's timeout.
build_views() {
	local v
	for v in by_name by_author; do
		wait_until 1800 "$name to build view $v" view_built "$v" || die "$name: building view $v failed"
	done
}

compacted() { api GET "$1" | grep -q '"compact_running":false'; }

# compact: compacts registry and its view index, as a node that has run a
# while has them (smoosh would, in its own time): a freshly built index is
# mostly garbage, which check_couch_views rightly reports as fragmentation.
compact() {
	api POST /registry/_compact/app '{}' | grep -q '"ok":true' || die "$name: POST /registry/_compact/app failed"
	api POST /registry/_compact '{}' | grep -q '"ok":true' || die "$name: POST /registry/_compact failed"
	wait_until 900 "$name to compact registry" compacted /registry
	wait_until 900 "$name to compact registry's views" view_compacted
	log "$name: registry and its views compacted"
}

view_compacted() { api GET /registry/_design/app/_info | grep -q '"compact_running":false'; }

# snapshot: once all three nodes are up and seeded and no snapshot of this
# seed exists, stops them, copies their data directories into the cache and
# starts them again. The replicas' _replicator documents are deleted first
# (they carry this stack's password); their checkpoints stay.
snapshot() {
	local snap i tmp
	couch_select
	[ "$COUCH_SERVER" = couchdb ] || return 0
	snap="$(snapshot_dir)"
	[ -f "$snap/.complete" ] && return 0
	for i in primary replica1 replica2; do
		node_vars "$i"
		pid_alive "$pidfile" || return 0
	done
	couch_credentials
	log "taking the seeded snapshot $snap (once per seed)"
	for i in primary replica1 replica2; do
		node_vars "$i"
		build_views
		compact
	done
	for i in replica1 replica2; do
		node_vars "$i"
		for db in registry heartbeat; do
			rev="$(api GET "/_replicator/$db-from-primary" | sed -n 's/.*"_rev":"\([^"]*\)".*/\1/p')"
			[ -n "$rev" ] && api DELETE "/_replicator/$db-from-primary?rev=$rev" >/dev/null
		done
	done
	for i in replica2 replica1 primary; do
		node_vars "$i"
		stop_pidfile "$name" "$pidfile"
	done
	rm -rf "$STACK_CACHE/couchdb-snapshot"
	tmp="$snap.tmp"
	mkdir -p "$tmp"
	for i in primary replica1 replica2; do
		cp -a "$STACK_DIR/couch-$i/data" "$tmp/$i"
	done
	touch "$tmp/.complete"
	mv "$tmp" "$snap"
	log "snapshot taken: $(du -sh "$snap" | cut -f1)"
	for i in primary replica1 replica2; do
		"$0" start "$i"
	done
}

start() {
	exec 3>&2
	couch_select
	install
	couch_credentials
	couch_reader_credentials
	if [ "$COUCH_SERVER" = pouchdb ]; then
		start_pouchdb
	else
		start_couchdb
	fi
	case "$inst" in
	primary)
		if [ "$COUCH_SERVER" = couchdb ]; then
			ensure_reader
			SEED_DOCS="$SEED_DOCS" "$STACK_SRC/seed/seed.sh" couch
			ensure_db heartbeat
			ensure_security
		else
			SEED_DOCS=0 "$STACK_SRC/seed/seed.sh" couch
			ensure_db heartbeat
		fi
		;;
	*)
		if [ "$COUCH_SERVER" = couchdb ]; then
			ensure_reader
			ensure_db registry
			ensure_db heartbeat
			ensure_security
		fi
		ensure_replication registry
		ensure_replication heartbeat
		if [ "$COUCH_SERVER" = couchdb ]; then
			wait_caught_up registry 1800
			wait_caught_up heartbeat 120
			# Restored from the snapshot, the documents are there before
			# the scheduler runs the jobs: a check right after up read
			# "2 databases without a running replication".
			for db in registry heartbeat; do
				wait_until 120 "$name/_replicator/$db-from-primary to run" replication_running "$db" ||
					die "$name: _replicator/$db-from-primary is not running after 120s: $(api GET "/_scheduler/docs/_replicator/$db-from-primary")"
			done
		fi
		;;
	esac
	{
		echo "$key=$url"
		if [ "$inst" = primary ]; then
			echo "COUCH_ADMIN_USER=$COUCH_ADMIN_USER"
			echo "COUCH_ADMIN_PASSWORD=$COUCH_ADMIN_PASSWORD"
			echo "COUCH_CREDENTIALS_FILE=$COUCH_CREDENTIALS_FILE"
			echo "COUCH_READER_USER=$READER_USER"
			echo "COUCH_READER_PASSWORD=$COUCH_READER_PASSWORD"
			echo "COUCH_READER_CREDENTIALS_FILE=$COUCH_READER_CREDENTIALS_FILE"
			echo "COUCH_SERVER=$COUCH_SERVER"
			echo "COUCH_SERVER_VERSION=$COUCH_SERVER_VERSION"
		fi
	} >"$STACK_DIR/$name.env"
	chmod 600 "$STACK_DIR/$name.env"
}

stop() {
	stop_pidfile "$name" "$pidfile"
	rm -f "$STACK_DIR/$name.env"
}

status() {
	local what ready=/
	# A stack that never started a node has chosen no server yet: status
	# must not choose (and record) one for it.
	if [ ! -s "$STACK_DIR/couch-server.env" ]; then
		echo "$name: down"
		return 1
	fi
	couch_select
	what="PouchDB Server $COUCH_SERVER_VERSION"
	if [ "$COUCH_SERVER" = couchdb ]; then
		what="CouchDB $COUCH_SERVER_VERSION"
		ready=/_up
	fi
	if pid_alive "$pidfile" && http_ok "$url$ready"; then
		echo "$name: up, $url, pid $(cat "$pidfile"), $what"
	elif pid_alive "$pidfile"; then
		echo "$name: running (pid $(cat "$pidfile")) but GET $url$ready fails ($what)"
		return 1
	else
		echo "$name: down ($what)"
		return 1
	fi
}

mkdir -p "$STACK_DIR"
case "$cmd" in
snapshot) snapshot ;;
install | start | stop | status)
	node_vars "${2:?usage: couch.sh $cmd primary|replica1|replica2}"
	"$cmd"
	;;
*) die "usage: $(basename "$0") install|start|stop|status primary|replica1|replica2, or snapshot" ;;
esac
