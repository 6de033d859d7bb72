#!/bin/sh
# registry-checks postremove.
#   deb: $1 = remove | purge | upgrade | ...; rpm: $1 = 0 erase, 1 upgrade.
# dpkg purge and rpm -e (RPM has no separate purge) remove the handler's
# state and the metric spool; dpkg -r keeps them with the conffiles.
# /etc/registry-checks holds the operator's credentials: removed only when
# empty (rpm -e keeps an edited couch.cred as couch.cred.rpmsave).
set -e
case "$1" in
purge | 0)
	rm -rf /var/lib/registry-checks /var/spool/registry-checks
	rmdir /etc/registry-checks 2>/dev/null || true
	;;
esac
exit 0
