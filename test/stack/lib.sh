# Shared helpers for test/stack/stack and test/stack/services/*.sh (sourced, not run).
# Every service lives under $STACK_DIR/<service>/ and is started directly (no
# systemd on CI machines), with its PID in $STACK_DIR/<service>/<service>.pid.

STACK_DIR="${REGISTRY_CHECKS_STACK_DIR:-${TMPDIR:-/tmp}/registry-checks-stack}"
# Installs that must survive "stack down" (which removes $STACK_DIR) so that
# the second "up" is fast: the npm prefix of the CouchDB-protocol servers.
STACK_CACHE="${REGISTRY_CHECKS_CACHE_DIR:-/var/cache/registry-checks}"
STACK_SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$STACK_SRC/../.." && pwd)"
EXAMPLES="$REPO_ROOT/packaging/examples"

# Fixed loopback ports (see /work/brief/STACK.md and the README).
COUCH_PRIMARY_PORT=15984
COUCH_REPLICA1_PORT=25984
COUCH_REPLICA2_PORT=35984
ORIGIN1_PORT=18081
ORIGIN2_PORT=18082
CDN_PORT=18080
CDN_ADMIN_PORT=18089
NRPE_PORT=15666

log() { printf '%s [stack] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# now_ms prints the wall clock in milliseconds, for the timings "up" prints.
now_ms() { date +%s%3N; }

# How long one apt-get or dpkg run waits for another package manager
# (unattended-upgrades, a parallel test, an operator) to let go of the
# dpkg/apt locks before giving up, in seconds.
PKG_LOCK_TIMEOUT="${REGISTRY_CHECKS_PKG_LOCK_TIMEOUT:-600}"

# lock_holder FILE...: for the first FILE some process holds a lock on (an
# fcntl lock, as apt and dpkg take, or a flock), prints "FILE PID COMM" as
# /proc/locks and /proc/PID/comm tell; false when none of them is held.
# PID is "?" for a lock whose holder is not visible here (an OFD lock, a
# process in another PID namespace).
lock_holder() {
	local f st dev ino key pid comm
	for f in "$@"; do
		st="$(stat -c '%d %i' "$f" 2>/dev/null)" || continue
		dev="${st% *}" ino="${st#* }"
		# /proc/locks names a file MAJOR:MINOR:INODE, the numbers in hex.
		key="$(printf '%02x:%02x:%d' $(((dev >> 8) & 0xfff)) $(((dev & 0xff) | ((dev >> 12) & 0xfff00))) "$ino")"
		# "N: POSIX ADVISORY WRITE PID KEY START END"; a waiter's line has
		# "->" after "N:" and is not a holder.
		pid="$(awk -v k="$key" '$2 != "->" && $(NF-2) == k { print $(NF-3); exit }' /proc/locks)"
		[ -n "$pid" ] || continue
		comm=
		if [[ "$pid" =~ ^[0-9]+$ ]] && [ "$pid" -gt 0 ]; then
			comm="$(cat "/proc/$pid/comm" 2>/dev/null)" || comm=
		else
			pid='?'
		fi
		echo "$f $pid ${comm:-?}"
		return 0
	done
	return 1
}

# pkg_run LOG COMMAND ARG...: runs apt-get or dpkg with its output appended to
# LOG, waiting up to $PKG_LOCK_TIMEOUT seconds for another package manager
# to let go of the locks COMMAND takes. It says once that it waits and for
# which process, and returns 75 with an ERROR line naming the lock and its
# holder when the bound passed; otherwise COMMAND's status. apt-get gets
# -o DPkg::Lock::Timeout for the rest of the bound too (it covers a lock
# taken between the check here and apt's own; apt 2.6 waits so only for the
# dpkg locks, not for /var/lib/apt/lists/lock nor /var/cache/apt/archives/lock,
# whose "Could not get lock" error is retried here instead). npm has no such
# lock (docs/stack.md): npm runs go straight through.
pkg_run() {
	local logf="$1" name locks=() is_apt= arg start deadline now held said= from rc
	shift
	name="$(basename "$1")"
	case "$name" in
	apt-get | apt)
		is_apt=1
		locks=(/var/lib/dpkg/lock-frontend /var/lib/dpkg/lock /var/cache/apt/archives/lock)
		for arg in "$@"; do
			if [ "$arg" = update ]; then
				locks=(/var/lib/apt/lists/lock)
				break
			fi
		done
		;;
	dpkg) locks=(/var/lib/dpkg/lock-frontend /var/lib/dpkg/lock) ;;
	esac
	start=$(now_ms)
	deadline=$((start + PKG_LOCK_TIMEOUT * 1000))
	touch "$logf"
	while :; do
		now=$(now_ms)
		if [ ${#locks[@]} -gt 0 ] && held="$(lock_holder "${locks[@]}")"; then
			read -r -a held <<<"$held"
			if [ "$now" -ge "$deadline" ]; then
				log "ERROR: gave up on $name ${*:2} after waiting ${PKG_LOCK_TIMEOUT}s for ${held[0]}, still held by process ${held[1]} (${held[2]}) (REGISTRY_CHECKS_PKG_LOCK_TIMEOUT=${PKG_LOCK_TIMEOUT})"
				echo "registry-checks: gave up after ${PKG_LOCK_TIMEOUT}s: ${held[0]} held by process ${held[1]} (${held[2]})" >>"$logf"
				return 75
			fi
			if [ -z "$said" ]; then
				log "waiting for ${held[0]}, held by process ${held[1]} (${held[2]}), before $name ${*:2} (up to ${PKG_LOCK_TIMEOUT}s, REGISTRY_CHECKS_PKG_LOCK_TIMEOUT)"
				said=1
			fi
			sleep 0.5
			continue
		fi
		[ -n "$said" ] && log "the package locks are free after $(((now - start) / 1000))s: running $name"
		said=
		from=$(($(stat -c %s "$logf") + 1))
		rc=0
		if [ -n "$is_apt" ]; then
			"$1" -o "DPkg::Lock::Timeout=$((deadline > now ? (deadline - now + 999) / 1000 : 0))" "${@:2}" >>"$logf" 2>&1 || rc=$?
		else
			"$@" >>"$logf" 2>&1 || rc=$?
		fi
		[ "$rc" = 0 ] && return 0
		# Refused for a lock (taken between the check above and the
		# command's own): wait again while the bound lasts.
		if tail -c "+$from" "$logf" | grep -Eq 'Could not get lock|Unable to acquire the dpkg frontend lock|lock was locked by another process'; then
			if [ "$(now_ms)" -ge "$deadline" ]; then
				log "ERROR: gave up on $name ${*:2} after ${PKG_LOCK_TIMEOUT}s: another package manager still holds its lock (REGISTRY_CHECKS_PKG_LOCK_TIMEOUT=${PKG_LOCK_TIMEOUT}; see $logf)"
				return 75
			fi
			sleep 0.5
			continue
		fi
		return "$rc"
	done
}

# apt_install LOG PACKAGE...: apt-get install of the Debian packages (an
# update and a second try when the first fails for another reason than a
# lock), output in LOG. Package scripts must not start daemons here (no
# systemd, and the stack starts its own copies on its own ports), hence the
# policy-rc.d. Returns non-zero when the install failed.
apt_install() {
	local logf="$1" made_policy= rc=0
	shift
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
		chmod 755 /usr/sbin/policy-rc.d
		made_policy=1
	fi
	: >"$logf"
	export DEBIAN_FRONTEND=noninteractive
	pkg_run "$logf" apt-get install -y --no-install-recommends "$@" || rc=$?
	if [ "$rc" != 0 ] && [ "$rc" != 75 ]; then
		rc=0
		pkg_run "$logf" apt-get update -qq || rc=$?
		if [ "$rc" != 75 ]; then
			rc=0
			pkg_run "$logf" apt-get install -y --no-install-recommends "$@" || rc=$?
		fi
	fi
	[ -n "$made_policy" ] && rm -f /usr/sbin/policy-rc.d
	return "$rc"
}

# apt_ensure BINARY PACKAGE...: installs the Debian packages unless BINARY
# already exists.
apt_ensure() {
	local bin="$1"
	shift
	if [ -x "$bin" ] || command -v "$bin" >/dev/null 2>&1; then
		return 0
	fi
	log "installing $* (apt-get; needed for $bin)"
	apt_install "$STACK_DIR/apt.log" "$@" || die "apt-get install $* failed (see $STACK_DIR/apt.log)"
}

# proc_alive PID: a process that has not exited. A zombie does not count: a
# container's init may never reap the daemons this script detached.
proc_alive() {
	local stat
	stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
	stat="${stat##*) }"
	[ "${stat%% *}" != Z ]
}

# pid_alive PIDFILE: true when the file names a live process.
pid_alive() {
	local pid
	[ -s "$1" ] || return 1
	pid="$(cat "$1" 2>/dev/null)"
	[[ "$pid" =~ ^[0-9]+$ ]] && proc_alive "$pid"
}

# stop_pidfile NAME PIDFILE: TERM, wait (bounded), then KILL; removes the file.
stop_pidfile() {
	local name="$1" pidfile="$2" pid i
	if ! pid_alive "$pidfile"; then
		rm -f "$pidfile"
		return 0
	fi
	pid="$(cat "$pidfile")"
	kill -TERM "$pid" 2>/dev/null || true
	for i in $(seq 100); do
		proc_alive "$pid" || break
		sleep 0.1
	done
	if proc_alive "$pid"; then
		log "$name (pid $pid) ignored TERM for 10s: killing"
		kill -KILL "$pid" 2>/dev/null || true
	fi
	rm -f "$pidfile"
	log "stopped $name (pid $pid)"
}

# wait_until SECONDS DESCRIPTION COMMAND...: polls COMMAND until it succeeds.
wait_until() {
	local secs="$1" what="$2" deadline
	shift 2
	deadline=$(($(date +%s) + secs))
	until "$@" >/dev/null 2>&1; do
		if [ "$(date +%s)" -ge "$deadline" ]; then
			log "timed out after ${secs}s waiting for $what"
			return 1
		fi
		sleep 0.1
	done
}

# port_free PORT: nothing listens on 127.0.0.1:PORT.
port_free() { ! ss -ltnH "sport = :$1" 2>/dev/null | grep -q .; }

# reclaim_port PORT COMM: a process named COMM still listening on one of the
# stack's fixed ports while its service's PID file names no live process is
# a leftover of an earlier stack (an nginx worker whose master was killed
# when a session ended, say): stop it, so that "up" can bind. Anything else
# on the port is reported and left alone.
reclaim_port() {
	local port="$1" comm="$2" p c
	for p in $(ss -ltnpH "sport = :$port" 2>/dev/null | grep -o 'pid=[0-9]*' | cut -d= -f2 | sort -u); do
		c="$(cat "/proc/$p/comm" 2>/dev/null)"
		[ "$c" = "$comm" ] || die "port $port is taken by ${c:-?} (pid $p), not a leftover of the stack: stop it first"
		log "port $port: stopping leftover $comm (pid $p) of an earlier stack"
		kill -9 "$p" 2>/dev/null || true
	done
	wait_until 10 "port $port to be free" port_free "$port" || die "port $port is still taken"
}

# http_ok URL [CURL ARGS...]: true on a 2xx answer.
http_ok() {
	local url="$1"
	shift
	curl -fsS -o /dev/null -m 2 "$@" "$url"
}

# render TEMPLATE OUT KEY=VALUE...: replaces @@KEY@@ placeholders, so the
# stack runs the very files shipped in packaging/examples.
render() {
	local tpl="$1" out="$2" kv k v script=""
	shift 2
	for kv in "$@"; do
		k="${kv%%=*}"
		v="${kv#*=}"
		v="${v//\\/\\\\}"
		v="${v//|/\\|}"
		v="${v//&/\\&}"
		script+="s|@@${k}@@|${v}|g;"
	done
	sed "$script" "$tpl" >"$out"
	if grep -n '@@[A-Z0-9_]*@@' "$out" >&2; then
		die "$out: placeholders left unreplaced (from $tpl)"
	fi
}

# couch_credentials: creates (once) and reads the admin "user:password" file.
couch_credentials() {
	local f="$STACK_DIR/couch-credentials"
	if [ ! -s "$f" ]; then
		(
			umask 077
			printf 'admin:%s\n' "$(head -c 18 /dev/urandom | base64 | tr -d '/+=\n')" >"$f"
		)
	fi
	chmod 600 "$f"
	COUCH_CREDENTIALS_FILE="$f"
	COUCH_ADMIN_USER="$(cut -d: -f1 "$f")"
	COUCH_ADMIN_PASSWORD="$(cut -d: -f2- "$f" | tr -d '\n')"
}

# couch_reader_credentials: creates (once) and reads the non-admin reader's
# "monitor:password" file.
couch_reader_credentials() {
	local f="$STACK_DIR/couch-reader-credentials"
	if [ ! -s "$f" ]; then
		(
			umask 077
			printf 'monitor:%s\n' "$(head -c 18 /dev/urandom | base64 | tr -d '/+=\n')" >"$f"
		)
	fi
	chmod 600 "$f"
	COUCH_READER_CREDENTIALS_FILE="$f"
	COUCH_READER_PASSWORD="$(cut -d: -f2- "$f" | tr -d '\n')"
}

# The CouchDB release tarball the stack unpacks when COUCHDB_HOME is not set.
COUCHDB_TARBALL="${REGISTRY_CHECKS_COUCHDB_TARBALL:-$REPO_ROOT/../shared/couchdb-3.4.3/couchdb-3.4.3-bookworm-amd64.tar.gz}"

# couch_select: which server runs the stack's CouchDB nodes, decided once
# per stack and kept in $STACK_DIR/couch-server.env, so that a node stopped
# and started again is the same server. Sets COUCH_SERVER (couchdb or
# pouchdb), COUCH_SERVER_VERSION and, for couchdb, COUCHDB_HOME:
#   REGISTRY_CHECKS_COUCH_SERVER=pouchdb  PouchDB Server, whatever is found
#   COUCHDB_HOME=DIR                      that CouchDB (bin/couchdb), read only
#   the release tarball                   unpacked once under $STACK_CACHE
#   nothing found                         PouchDB Server
couch_select() {
	local f="$STACK_DIR/couch-server.env" sum dest
	if [ -s "$f" ]; then
		. "$f"
		return 0
	fi
	COUCH_SERVER=pouchdb
	if [ "${REGISTRY_CHECKS_COUCH_SERVER:-}" = pouchdb ]; then
		:
	elif [ -n "${COUCHDB_HOME:-}" ]; then
		[ -x "$COUCHDB_HOME/bin/couchdb" ] || die "COUCHDB_HOME=$COUCHDB_HOME has no bin/couchdb"
		COUCH_SERVER=couchdb
	elif [ -f "$COUCHDB_TARBALL" ]; then
		sum="$(sha256sum "$COUCHDB_TARBALL" | cut -c1-16)"
		dest="$STACK_CACHE/couchdb-$sum"
		if [ ! -x "$dest/couchdb/bin/couchdb" ]; then
			log "unpacking $(basename "$COUCHDB_TARBALL") into $dest"
			rm -rf "$dest.tmp"
			mkdir -p "$dest.tmp"
			tar -xzf "$COUCHDB_TARBALL" -C "$dest.tmp" || die "unpacking $COUCHDB_TARBALL failed"
			rm -rf "$dest"
			mv "$dest.tmp" "$dest"
		fi
		COUCHDB_HOME="$dest/couchdb"
		COUCH_SERVER=couchdb
	fi
	if [ "$COUCH_SERVER" = couchdb ]; then
		# The release's version is the couch application's (lib/couch-3.4.3).
		COUCH_SERVER_VERSION="$(cd "$COUCHDB_HOME/lib" && ls -d couch-[0-9]* 2>/dev/null | sed 's/^couch-//' | sort -V | tail -n1)"
		[ -n "$COUCH_SERVER_VERSION" ] || COUCH_SERVER_VERSION=unknown
	else
		COUCH_SERVER_VERSION="$(grep -A1 '"node_modules/pouchdb-server": {' "$STACK_SRC/couch/package-lock.json" | sed -n 's/.*"version": *"\([^"]*\)".*/\1/p')"
		[ -n "$COUCH_SERVER_VERSION" ] || COUCH_SERVER_VERSION=4.2.0
	fi
	mkdir -p "$STACK_DIR"
	printf 'COUCH_SERVER=%s\nCOUCH_SERVER_VERSION=%s\nCOUCHDB_HOME=%s\n' \
		"$COUCH_SERVER" "$COUCH_SERVER_VERSION" "${COUCHDB_HOME:-}" >"$f"
}

# couchdb_start NAME DIR PORT: starts an Apache CouchDB node ($COUCHDB_HOME,
# see couch_select) named NAME on 127.0.0.1:PORT, with its config under
# DIR/etc and its data under DIR/data (kept when present), the stack's
# admin in [admins], PID in DIR/NAME.pid; waits for /_up. The Erlang node
# name is fixed by NAME, because a database's shard map names the node that
# holds it and a restored data directory must find its shards; so is the
# server uuid, because CouchDB keys a replication's checkpoints by the uuid
# of the node that runs it (a restored replica resumes instead of diffing
# the whole registry again). Default sharding (q=2), n=1.
couchdb_start() {
	local name="$1" dir="$2" port="$3" pidfile="$2/$1.pid"
	couch_credentials
	if pid_alive "$pidfile"; then
		log "$name already running (pid $(cat "$pidfile")) on http://127.0.0.1:$port"
		return 0
	fi
	reclaim_port "$port" beam.smp
	mkdir -p "$dir/data" "$dir/etc"
	sed -e "s/^-name .*/-name registry-checks-${name#couch-}@127.0.0.1/" "$COUCHDB_HOME/etc/vm.args" >"$dir/etc/vm.args"
	# Rewritten on every start (the admin password is the stack's); CouchDB
	# hashes the plain password in it when it starts.
	(
		umask 077
		cat >"$dir/etc/local.ini" <<EOF2
; written by test/stack for $name; CouchDB rewrites it
[couchdb]
single_node = true
uuid = $(printf 'registry-checks-%s' "${name#couch-}" | md5sum | cut -c1-32)
database_dir = $dir/data
view_index_dir = $dir/data
[cluster]
n = 1
[chttpd]
port = $port
bind_address = 127.0.0.1
[log]
writer = file
file = $dir/couchdb.log
level = notice
[admins]
$COUCH_ADMIN_USER = $COUCH_ADMIN_PASSWORD
EOF2
	)
	# ERL_EPMD_ADDRESS keeps the Erlang port mapper (started by the first
	# node, shared by all) on loopback.
	ERL_EPMD_ADDRESS=127.0.0.1 COUCHDB_ARGS_FILE="$dir/etc/vm.args" \
		COUCHDB_INI_FILES="$COUCHDB_HOME/etc/default.ini $dir/etc/local.ini" \
		setsid nohup "$COUCHDB_HOME/bin/couchdb" >"$dir/stdout.log" 2>&1 </dev/null 3>&- &
	echo $! >"$pidfile"
	local i
	for ((i = 0; i < 600; i++)); do
		curl -fsS -m 2 -o /dev/null "http://127.0.0.1:$port/_up" 2>/dev/null && break
		pid_alive "$pidfile" || die "$name (pid $(cat "$pidfile")) exited while starting; last lines of $dir/stdout.log and $dir/couchdb.log:
$(tail -n 10 "$dir/stdout.log" 2>/dev/null)
$(tail -n 10 "$dir/couchdb.log" 2>/dev/null)"
		sleep 0.1
	done
	curl -fsS -m 2 -o /dev/null "http://127.0.0.1:$port/_up" ||
		die "$name did not answer GET http://127.0.0.1:$port/_up within 60s; last lines of $dir/couchdb.log:
$(tail -n 15 "$dir/couchdb.log" 2>/dev/null)"
	couchdb_record_epmd "$pidfile"
	log "$name ready on http://127.0.0.1:$port (pid $(cat "$pidfile")), CouchDB $COUCH_SERVER_VERSION"
}

# couchdb_record_epmd PIDFILE: the port mapper the stack's first node
# started is the stack's to stop ("stack down" stops every *.pid under
# $STACK_DIR); one that ran before that node is left alone.
couchdb_record_epmd() {
	local f="$STACK_DIR/epmd/epmd.pid" p
	{ [ -e "$STACK_DIR/epmd/foreign" ] || [ -s "$f" ]; } && return 0
	mkdir -p "$STACK_DIR/epmd"
	p="$(pgrep -x epmd | head -n1 || true)"
	[ -n "$p" ] || return 0
	if [ "$(stat -c %Y "/proc/$p")" -lt "$(stat -c %Y "$1")" ]; then
		touch "$STACK_DIR/epmd/foreign"
	else
		echo "$p" >"$f"
	fi
}
