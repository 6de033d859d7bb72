#!/bin/sh
# registry-checks postremove. dpkg purge removes the state and the metric
# spool; a plain remove (and rpm -e) keeps them with the NRPE conffile.
# /etc/registry-checks holds the operator's credentials: removed only when
# empty.
set -e
if [ "$1" = purge ]; then
	rm -rf /var/lib/registry-checks /var/spool/registry-checks
	rmdir /etc/registry-checks 2>/dev/null || true
fi
exit 0
