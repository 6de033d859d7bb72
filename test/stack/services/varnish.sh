#!/usr/bin/env bash
# varnish.sh install|start|stop|status
#
# The CDN: varnishd on 127.0.0.1:18080 running packaging/examples/fastly-like.vcl
# (rendered with sed; the shipped example is what runs). Fault injection
# (test/stack/fault/cdn.sh) switches VCLs through varnishadm on
# 127.0.0.1:18089.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"

name=varnish
dir="$STACK_DIR/$name"
pidfile="$dir/$name.pid"
url="http://127.0.0.1:$CDN_PORT"

install() { apt_ensure /usr/sbin/varnishd varnish; }

# render_vcl OUT META_TTL: the one template, with the given packument TTL
# (the "stale" fault loads a copy with a day-long TTL).
render_vcl() {
	render "$EXAMPLES/fastly-like.vcl" "$1" \
		ORIGIN1_HOST=127.0.0.1 "ORIGIN1_PORT=$ORIGIN1_PORT" ORIGIN2_HOST=127.0.0.1 "ORIGIN2_PORT=$ORIGIN2_PORT" \
		COUCH_HOST=127.0.0.1 "COUCH_PORT=$COUCH_PRIMARY_PORT" COUCH_DB=registry POP=LCL \
		"META_TTL=$2" TARBALL_TTL=365d
}

start() {
	install
	if pid_alive "$pidfile"; then
		log "$name already running (pid $(cat "$pidfile")) on $url"
	else
		reclaim_port "$CDN_PORT" varnishd
		reclaim_port "$CDN_ADMIN_PORT" varnishd
		mkdir -p "$dir/work"
		render_vcl "$dir/main.vcl" 10s
		render_vcl "$dir/stale.vcl" 1d
		cp "$STACK_SRC/fault/cdn-errors.vcl" "$dir/errors.vcl"
		[ -s "$dir/secret" ] || (umask 077 && head -c 32 /dev/urandom | base64 >"$dir/secret")
		# As root varnishd drops its worker to the "vcache" user: the work
		# dir must be reachable by it, which the default 0755 dirs are.
		/usr/sbin/varnishd -a "127.0.0.1:$CDN_PORT" -T "127.0.0.1:$CDN_ADMIN_PORT" -S "$dir/secret" \
			-n "$dir/work" -P "$pidfile" -f "$dir/main.vcl" -s malloc,64m -i lcl-stack1 \
			-p default_grace=0s >"$dir/varnishd.log" 2>&1 ||
			die "$name: varnishd failed to start: $(tail -5 "$dir/varnishd.log")"
		wait_until 30 "$name at $url/_ping" http_ok "$url/_ping" ||
			die "$name did not answer GET $url/_ping (see $dir/varnishd.log)"
		log "$name ready on $url (pid $(cat "$pidfile"))"
	fi
	printf 'CDN_URL=%s\nCDN_ADMIN=127.0.0.1:%s\nCDN_ADMIN_SECRET_FILE=%s\nCDN_WORKDIR=%s\n' \
		"$url" "$CDN_ADMIN_PORT" "$dir/secret" "$dir/work" >"$STACK_DIR/$name.env"
}

stop() {
	stop_pidfile "$name" "$pidfile"
	rm -f "$STACK_DIR/$name.env"
}

status() {
	if pid_alive "$pidfile" && http_ok "$url/_ping"; then
		echo "$name: up, $url (admin 127.0.0.1:$CDN_ADMIN_PORT), pid $(cat "$pidfile")"
	else
		echo "$name: down"
		return 1
	fi
}

mkdir -p "$STACK_DIR"
case "${1:-}" in install | start | stop | status) "$1" ;; *) die "usage: $(basename "$0") install|start|stop|status" ;; esac
