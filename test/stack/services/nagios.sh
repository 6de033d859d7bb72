#!/usr/bin/env bash
# nagios.sh install|start|stop|status
#
# Nagios 4 with the stack's own config (test/stack/nagios) under
# $STACK_DIR/nagios: interval_length=1, its own status.dat, log, command
# file, query socket and check results. It runs as root (nagios_user=root,
# which Nagios 4.4 accepts), so that event handlers and the suite's checks
# can read the 0600 credentials files the stack writes.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"

name=nagios
dir="$STACK_DIR/$name"
pidfile="$dir/var/nagios.lock" # Nagios writes its PID into its lock file

install() {
	apt_ensure /usr/sbin/nagios4 nagios4-core
	apt_ensure /usr/lib/nagios/plugins/check_curl monitoring-plugins-basic monitoring-plugins-standard liburiparser1
	apt_ensure /usr/lib/nagios/plugins/check_nrpe nagios-nrpe-plugin
}

# shipped_objects prints the Nagios objects the project ships
# (nrpe/nagios/registry-checks.cfg), with the suite's binaries taken from
# the repository's build/ ($USER2$) instead of the plugin directory: the
# stack's Nagios runs the shipped commands and templates, not copies.
shipped_objects() {
	sed -E 's#\$USER1\$/(check_couch_|check_tarball_origin|check_fastly|check_cdn_log|restart_couch_)#$USER2$/\1#' \
		"$REPO_ROOT/nrpe/nagios/registry-checks.cfg"
}

# stack_services prints services on the stack built from the shipped
# templates. With interval_length=1 their intervals are seconds. No
# replication service: the handler it carries would restart the
# replications that tests break on purpose (the handler's own end-to-end
# test adds one for a replication of its own).
stack_services() {
	couch_credentials
	cat <<EOF
define host {
    use                 registry-couch-node,stack-host
    host_name           registry-primary
    alias               the stack's CouchDB write primary
    address             127.0.0.1
    check_command       check_dummy!0!loopback
    _COUCH_URL          http://127.0.0.1:$COUCH_PRIMARY_PORT
    _COUCH_CREDENTIALS  $COUCH_CREDENTIALS_FILE
}

define service {
    use                 registry-couch-disk,stack-service
    host_name           registry-primary
    service_description couch-disk
    check_command       check_couch_disk!--data-dir $STACK_DIR --spool-dir $STACK_DIR/spool
}

define service {
    use                 registry-couch-views,stack-service
    host_name           registry-primary
    service_description couch-views
    check_command       check_couch_views!-d registry --spool-dir $STACK_DIR/spool
}

define service {
    use                 registry-tarball-origin,stack-service
    host_name           registry-primary
    service_description tarball-origin
    check_command       check_tarball_origin!--origin http://127.0.0.1:$ORIGIN1_PORT --origin http://127.0.0.1:$ORIGIN2_PORT -p left-pad-lite --spool-dir $STACK_DIR/spool
}

define host {
    use                 registry-couch-node,stack-host
    host_name           registry-replica1
    alias               the stack's first CouchDB replica
    address             127.0.0.1
    check_command       check_dummy!0!loopback
    _COUCH_URL          http://127.0.0.1:$COUCH_REPLICA1_PORT
    _COUCH_CREDENTIALS  $COUCH_CREDENTIALS_FILE
    _COUCH_PRIMARY_URL  http://127.0.0.1:$COUCH_PRIMARY_PORT
}

define host {
    use                 registry-couch-node,stack-host
    host_name           registry-replica2
    alias               the stack's second CouchDB replica
    address             127.0.0.1
    check_command       check_dummy!0!loopback
    _COUCH_URL          http://127.0.0.1:$COUCH_REPLICA2_PORT
    _COUCH_CREDENTIALS  $COUCH_CREDENTIALS_FILE
    _COUCH_PRIMARY_URL  http://127.0.0.1:$COUCH_PRIMARY_PORT
}

define service {
    use                 registry-couch-promotion,stack-service
    host_name           registry-replica1,registry-replica2
    service_description couch-promotion
    check_command       check_couch_promotion!--data-dir $STACK_DIR --spool-dir $STACK_DIR/spool
}

define service {
    use                 registry-fastly,stack-service
    host_name           registry-primary
    service_description fastly
    check_command       check_fastly!-u http://127.0.0.1:$CDN_PORT/_ping --spool-dir $STACK_DIR/spool
}

define service {
    use                 registry-cdn-log,stack-service
    host_name           registry-primary
    service_description cdn-log
    check_command       check_cdn_log!--log $STACK_DIR/varnishncsa/access.log --state-dir $STACK_DIR/nagios --spool-dir $STACK_DIR/spool
}
EOF
}

start() {
	install
	if pid_alive "$pidfile"; then
		log "$name already running (pid $(cat "$pidfile"))"
	else
		mkdir -p "$dir/var/rw" "$dir/var/checkresults" "$dir/var/archives" "$dir/tmp" "$dir/conf.d"
		rm -f "$dir/conf.d/"*.cfg "$dir/var/rw/"*
		render "$STACK_SRC/nagios/nagios.cfg.in" "$dir/nagios.cfg" "DIR=$dir" USER=root GROUP=root
		echo "query_socket=$dir/var/rw/nagios.qh" >>"$dir/nagios.cfg"
		cp "$STACK_SRC/nagios/conf.d/"*.cfg "$dir/conf.d/"
		shipped_objects >"$dir/conf.d/registry-checks.cfg"
		stack_services >"$dir/conf.d/stack-registry.cfg"
		printf '$USER1$=/usr/lib/nagios/plugins\n$USER2$=%s\n$USER3$=%s\n$USER4$=%s\n' \
			"$REPO_ROOT/build" "$NRPE_PORT" "$STACK_DIR" >"$dir/resource.cfg"
		chmod 600 "$dir/resource.cfg"
		/usr/sbin/nagios4 -v "$dir/nagios.cfg" >"$dir/verify.log" 2>&1 ||
			die "$name: config check failed: $(grep -E 'Error|Warning' "$dir/verify.log" | head -5)"
		/usr/sbin/nagios4 -d "$dir/nagios.cfg" || die "$name failed to start (see $dir/var/nagios.log)"
		# Ready when the first status.dat is written.
		wait_until 30 "$name status file $dir/var/status.dat" test -s "$dir/var/status.dat" ||
			die "$name wrote no status file (see $dir/var/nagios.log)"
		log "$name ready (pid $(cat "$pidfile")), status $dir/var/status.dat"
	fi
	printf 'NAGIOS_DIR=%s\nNAGIOS_STATUS_FILE=%s\nNAGIOS_LOG_FILE=%s\nNAGIOS_CMD_FILE=%s\n' \
		"$dir" "$dir/var/status.dat" "$dir/var/nagios.log" "$dir/var/rw/nagios.cmd" >"$STACK_DIR/$name.env"
}

stop() {
	stop_pidfile "$name" "$pidfile"
	rm -f "$STACK_DIR/$name.env"
}

status() {
	if pid_alive "$pidfile"; then
		echo "$name: up, pid $(cat "$pidfile"), status $dir/var/status.dat"
	else
		echo "$name: down"
		return 1
	fi
}

mkdir -p "$STACK_DIR"
case "${1:-}" in install | start | stop | status) "$1" ;; *) die "usage: $(basename "$0") install|start|stop|status" ;; esac
