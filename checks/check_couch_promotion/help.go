package main

import "github.com/registry-checks/registry-checks/lib/plugin"

var help = plugin.Help{
	Description: "check_couch_promotion tells whether a CouchDB replica (-u) could become the write primary (--primary) now, and lose nothing: " +
		"every selected database is there, caught up, fed by a running replication from the primary that has refused no document, with the same design documents and _security; " +
		"a replica lacking documents for good (doc_write_failures, or nothing pending yet fewer documents) is CRITICAL with the documents named (_revs_diff over the paged changes feed); " +
		"the replica accepts a write, has the primary's server admins and, with --data-dir, room to compact its largest database. " +
		"What a server cannot answer is named as not checked, never as OK.",
	Thresholds: "-w/-c (--warning-lag/--critical-lag) compare the changes the worst database is behind (the primary's update_seq minus the replication's through_seq); " +
		"--warning-doc-diff/--critical-doc-diff the documents it is behind (doc_count + doc_del_count). Nagios ranges (100 alerts above 100).",
	Examples: []plugin.Example{
		{Command: "check_couch_promotion -u http://127.0.0.1:5984 --primary http://db1:5984 --credentials-file /etc/registry-checks/couch.cred --data-dir /opt/couchdb/data",
			Output: "PROMOTION OK - 127.0.0.1:5984 could take over from db1:5984: 2 databases, 0 changes behind | databases=2;;;0 worst_lag=0;100;1000 worst_doc_diff=0;100;1000 missing=0;;;0 ...\ndatabase heartbeat: fed by heartbeat-from-primary, 0 changes behind, 0 documents behind\ndatabase registry: fed by registry-from-primary, 0 changes behind, 0 documents behind"},
	},
	Perfdata: []string{
		"databases, missing, no_replication, diverged, missing_docs, behind, doc_count_differ, design_differ, security_differ, fenced, write_failed, admins_differ, not_checked: counts",
		"worst_lag (changes), worst_doc_diff (documents)",
		"headroom (B), write_time (ms)",
	},
	Measurements: []string{
		"couch_promotion: tags url, primary; fields databases, worst_lag, worst_doc_diff, one count per blocker class, missing_docs, not_checked, compaction_headroom_bytes, write_ms, state",
	},
	SeeAlso: []string{"promote_couch_replica(1)", "check_couch_replication(1)", "check_couch_disk(1)"},
}
