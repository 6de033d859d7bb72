package main

import "github.com/registry-checks/registry-checks/lib/plugin"

var help = plugin.Help{
	Description: "check_couch_disk reports the database file sizes and fragmentation of a CouchDB node, the free space of its data directory, and whether the largest database could still be compacted there. " +
		"Run it on the CouchDB host (through NRPE): the free space comes from statfs on --data-dir.",
	Thresholds: "-w/-c (--warning-fragmentation/--critical-fragmentation) compare each database's fragmentation in percent, --warning-slack/--critical-slack its reclaimable bytes (databases under --min-size never alert); " +
		"--warning-free/--critical-free the free space of --data-dir in percent, --warning-headroom/--critical-headroom what is left after compacting the largest database. Nagios ranges (10: alerts below 10).",
	Examples: []plugin.Example{
		{Command: "check_couch_disk -u http://127.0.0.1:5984 --credentials-file /etc/registry-checks/couch.cred --data-dir /opt/couchdb/data",
			Output: "COUCH_DISK OK - 5 databases, 98.0 MiB on disk, 2.4 MiB reclaimable; /opt/couchdb/data 83% free | databases=5 file=102725694B active=100186193B external=189578068B slack=2539501B\n/opt/couchdb/data: 83% free (75.2 GiB of 252.0 GiB), inodes 97% free\ncompaction headroom: compacting the largest database registry needs up to 95.5 MiB, 75.2 GiB free"},
	},
	Perfdata: []string{
		"databases, compacting: counts",
		"file, active, external, slack, largest_need (B)",
		"fragmentation (%)",
		"with --data-dir: free, headroom (B), free_pct, inodes_free_pct (%)",
	},
	Measurements: []string{
		"couch_disk: tag url; fields databases, file_bytes, active_bytes, external_bytes, slack_bytes, fragmentation_pct, compacting, largest_need_bytes, fs_free_bytes, fs_free_pct, fs_inodes_free_pct, compaction_headroom_bytes, state",
		"couch_database: tags url, db; fields file_bytes, active_bytes, fragmentation_pct, state",
	},
}
