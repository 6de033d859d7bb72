#!/bin/sh
# registry-checks postinstall (deb: configure; rpm: $1 = 1 install, 2 upgrade).
# The handler's state (/var/lib/registry-checks: state files, locks, backups
# of replication documents) and the metric spool (/var/spool/registry-checks)
# belong to the user that runs the checks: nagios (Nagios, and NRPE on
# Debian), else nrpe (NRPE on RPM systems), else icinga. Idempotent.
set -e

owner=
for u in nagios nrpe icinga; do
	if getent passwd "$u" >/dev/null 2>&1; then
		owner="$u"
		break
	fi
done
if [ -n "$owner" ]; then
	group="$(id -gn "$owner")"
else
	owner=root
	group=root
	echo "registry-checks: no nagios, nrpe or icinga user: /var/lib/registry-checks and /var/spool/registry-checks are owned by root; chown them to the user that runs the checks" >&2
fi

install -d -m 0750 -o "$owner" -g "$group" /var/lib/registry-checks /var/spool/registry-checks
# A check or handler run by hand as root leaves root-owned state, spool
# and log files that the monitoring user then cannot write: take them back.
chown -R "$owner:$group" /var/lib/registry-checks /var/spool/registry-checks
# Credentials files (user:password, mode 600, owned by $owner) go here.
if [ ! -d /etc/registry-checks ]; then
	install -d -m 0750 -o root -g "$group" /etc/registry-checks
fi
exit 0
