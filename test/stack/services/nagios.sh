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
