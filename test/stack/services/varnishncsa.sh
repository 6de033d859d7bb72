#!/usr/bin/env bash
# varnishncsa.sh install|start|stop|status
#
# The CDN's access log: varnishncsa reading the stack Varnish's shared
# memory log (its -n work dir) and appending one line per client request to
# $STACK_DIR/varnishncsa/access.log, in NCSA combined (varnishncsa's
# default) followed by the cache outcome and the time to serve:
#   %{Varnish:hitmiss}x %D
# which is what check_cdn_log reads (docs/check_cdn_log.md). Starts after
# varnish; stop it before rotating the log by hand, or send it SIGHUP after
# a rename so it reopens the file (what logrotate's postrotate does).
set -euo pipefail
. "$(dirname "$0")/../lib.sh"

name=varnishncsa
dir="$STACK_DIR/$name"
pidfile="$dir/$name.pid"
logfile="$dir/access.log"
workdir="$STACK_DIR/varnish/work"
format='%h %l %u %t "%r" %s %b "%{Referer}i" "%{User-agent}i" %{Varnish:hitmiss}x %D'

install() { apt_ensure /usr/bin/varnishncsa varnish; }

start() {
	install
	if pid_alive "$pidfile"; then
		log "$name already running (pid $(cat "$pidfile")), writing $logfile"
	else
		[ -d "$workdir" ] || die "$name: no Varnish work dir $workdir (start varnish first)"
		mkdir -p "$dir"
		touch "$logfile"
		# -a appends, -D daemonises (the pid in -P), -t off waits for varnishd
		# rather than giving up when it restarts.
		/usr/bin/varnishncsa -n "$workdir" -a -w "$logfile" -D -P "$pidfile" -t off -F "$format" \
			>"$dir/$name.out" 2>&1 || die "$name failed to start: $(tail -5 "$dir/$name.out")"
		wait_until 10 "$name pid file" pid_alive "$pidfile" || die "$name did not start (see $dir/$name.out)"
		# It attaches to the shared memory log a moment after it starts:
		# ready is when a request of ours shows up in the file.
		wait_until 15 "$name to log a request" logged || die "$name logs nothing to $logfile (see $dir/$name.out)"
		log "$name ready, writing $logfile (pid $(cat "$pidfile"))"
	fi
	printf 'CDN_ACCESS_LOG=%s\n' "$logfile" >"$STACK_DIR/$name.env"
}

# logged: a probe request through Varnish appears in the log.
logged() {
	local probe="/_ping?varnishncsa-ready=$$"
	curl -s -o /dev/null -m 2 "http://127.0.0.1:$CDN_PORT$probe" || true
	sleep 0.2
	grep -qF "varnishncsa-ready=$$" "$logfile"
}

stop() {
	stop_pidfile "$name" "$pidfile"
	rm -f "$STACK_DIR/$name.env"
}

status() {
	if pid_alive "$pidfile"; then
		echo "$name: up, writing $logfile, pid $(cat "$pidfile")"
	else
		echo "$name: down"
		return 1
	fi
}

mkdir -p "$STACK_DIR"
case "${1:-}" in install | start | stop | status) "$1" ;; *) die "usage: $(basename "$0") install|start|stop|status" ;; esac
