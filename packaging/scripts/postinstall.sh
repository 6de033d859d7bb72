#!/bin/sh
# registry-checks postinstall (deb: configure; rpm: $1 = 1 install, 2 upgrade).
# The handler's state (/var/lib/registry-checks: state files, locks, backups
# of replication documents) and the metric spool (/var/spool/registry-checks)
# belong to the user that runs the checks: nagios (Nagios, and NRPE on
# Debian), else nrpe (NRPE on EL), else icinga. Idempotent.
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
# A check or handler run by hand as root leaves root-owned state, spool and
# log files that the monitoring user then cannot write: take those back.
# Only root's own folders and singly-linked files: a hard link the monitoring
# user planted to a file elsewhere must not be handed to it (hence no chown -R).
if [ "$owner" != root ]; then
	find /var/lib/registry-checks /var/spool/registry-checks -xdev -user root \
		\( -type d -o \( -type f -links 1 \) \) -exec chown "$owner:$group" {} +
fi
# /etc/registry-checks holds the credentials files: world-searchable so that
# each reader (nagios, telegraf, root's cron) reaches its own file; each file
# is 0640 root:<the reading user's group> (0600 works too). The sample
# couch.cred goes to the checks' group.
if [ ! -d /etc/registry-checks ]; then
	install -d -m 0755 -o root -g root /etc/registry-checks
fi
cred=/etc/registry-checks/couch.cred
if [ -f "$cred" ] && [ "$(stat -c %U:%G "$cred")" = root:root ] && [ "$group" != root ]; then
	chgrp "$group" "$cred"
	chmod 0640 "$cred"
fi
exit 0
