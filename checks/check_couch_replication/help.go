package main

import "github.com/registry-checks/registry-checks/lib/plugin"

var help = plugin.Help{
	Description: "check_couch_replication tells in one Nagios line whether every replication of a CouchDB node is alive and how far behind it is. " +
		"It reads the replicator (_scheduler/docs on CouchDB 2.1 and later, _replicator and _active_tasks before), measures each replication's sequence lag and checkpoint age against its source, " +
		"and with --heartbeat-db times a document written on the source until it arrives. A failed or crashing replication is CRITICAL; restart_couch_replication restarts it.",
	Thresholds: "--warning-seq-lag/--critical-seq-lag (changes behind the source), --warning-checkpoint-age/--critical-checkpoint-age (seconds) and --warning-heartbeat-lag/--critical-heartbeat-lag (seconds) and --warning-write-failures/--critical-write-failures (documents the target refused, doc_write_failures) are Nagios ranges: a plain number N alerts above N, @A:B inside A..B. " +
		"A refused document is skipped for good (CouchDB runs validate_doc_update on replicated writes): by default any is WARNING, and the first line says \"N documents refused by the target\". " +
		"--expect N is CRITICAL when fewer than N replications are found.",
	Examples: []plugin.Example{
		{Note: "Every replication of the local node, at least one expected (sources not read, so no lag):",
			Command: "check_couch_replication -u http://127.0.0.1:5984 --credentials-file /etc/registry-checks/couch.cred --expect 1 --no-seq-lag",
			Output:  "COUCH_REPLICATION OK - 1 replication OK | replications=1;;1:;0 'registry-from-node1 job_state'=0;;;0;9\nserver: CouchDB 2.1+ (_scheduler)\nOK registry-from-node1: running"},
		{Note: "A replication missing (here one of two expected):",
			Command: "check_couch_replication -u http://127.0.0.1:5984 --credentials-file /etc/registry-checks/couch.cred --expect 2 --no-seq-lag",
			Output:  "COUCH_REPLICATION CRITICAL - only 1 of 2 expected replications; 1 replication OK | replications=1;;2:;0 ..."},
	},
	Perfdata: []string{
		"'<replication> job_state': 0 running, 1 completed, 2 triggered, 3 pending, 4 initializing, 5 crashing, 6 error, 7 failed, 8 missing, 9 other",
		"'<replication> error_count', 'changes_pending', 'seq_lag' (changes)",
		"'<replication> checkpoint_age', 'heartbeat_lag' (s)",
		"'<replication> docs_written', 'doc_write_failures' (c, cumulative)",
		"replications: the number found (with --expect)",
	},
	Measurements: []string{
		"couch_replication: tags node, key, doc_id, replicator_db, source, target, transient; fields job_state, error_count, changes_pending, seq_lag, checkpoint_age, heartbeat_lag, docs_written, doc_write_failures, state",
		"couch_replications (with --expect): tag node; fields replications, state",
	},
	SeeAlso: []string{"restart_couch_replication(1)"},
}
