package main

import "github.com/registry-checks/registry-checks/lib/plugin"

var help = plugin.Help{
	Description: "restart_couch_replication restarts a failed CouchDB replication on its second failure in a row, so that nobody is woken up for a failure that automation handles. " +
		"As a Nagios event handler it acts only on a confirmed CRITICAL (SOFT attempt 2, or HARD when attempt 2 was missed), never on UNKNOWN; run without --state (cron, the systemd timer) it keeps its own count of failed runs and restarts on the Nth in a row (--failures, default 2). " +
		"It holds a lock, keeps state in /var/lib/registry-checks and logs every decision.",
	Examples: []plugin.Example{
		{Note: "What the handler would do now, changing nothing:",
			Command: "restart_couch_replication -u http://127.0.0.1:5984 --credentials-file /etc/registry-checks/couch.cred --state CRITICAL --state-type SOFT --attempt 2 --dry-run",
			Output:  "RESTART_COUCH_REPLICATION OK - nothing to restart: 1 of 1 replications healthy"},
	},
	Perfdata: []string{"'<replication> restarted': 1 when restarted by this run, else 0"},
	Measurements: []string{
		"couch_replication_restart: tags node, replication, mode, action, code (dry_run); fields state, restarted",
	},
	Files: []string{
		"/var/lib/registry-checks/restart_couch_replication: state, lock, decision log and document backups",
		"/etc/cron.d/registry-checks, registry-checks-restart.timer: the standalone schedule, shipped disabled",
	},
	SeeAlso: []string{"check_couch_replication(1)"},
}
