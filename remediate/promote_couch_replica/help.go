package main

import "github.com/registry-checks/registry-checks/lib/plugin"

var help = plugin.Help{
	Description: "promote_couch_replica makes a CouchDB replica (--new-primary) the write primary, as a runbook of steps: " +
		"fence the old primary, wait for catch-up, stop the new primary's pulls, rewire the other replicas (--replica), switch traffic (--config-command), optionally demote the old primary, verify. " +
		"--plan (the default) prints the steps and changes nothing; --execute runs them; --rehearse runs them, verifies and rolls back. " +
		"Every replication document changed is backed up first; a state file makes a stopped run resumable (--resume) or undoable (--rollback).",
	Examples: []plugin.Example{
		{Command: "promote_couch_replica --plan --new-primary http://127.0.0.1:5984 --old-primary http://db1:5984 --credentials-file /etc/registry-checks/couch.cred",
			Output: "PROMOTE_COUCH_REPLICA OK - plan: 7 steps to promote 127.0.0.1:5984 over db1:5984 (3 databases, 0 other replicas); nothing changed"},
	},
	Perfdata: []string{
		"promotion, rollback, total (s): the time of the steps",
		"<n>_<step>, R<n>_<step> (s): the time of each step",
	},
	Measurements: []string{
		"couch_promotion_run: tags old_primary, new_primary, mode; fields promotion_seconds, rollback_seconds, total_seconds, state",
		"couch_promotion_step: tags phase, step, n, new_primary; fields seconds, state",
	},
	Files:   []string{"/var/lib/registry-checks/promote_couch_replica/<old primary>.json: the state file; backups/: the replication documents as they were (mode 600)"},
	SeeAlso: []string{"check_couch_promotion(1)", "restart_couch_replication(1)"},
}
