package main

import "github.com/registry-checks/registry-checks/lib/plugin"

var help = plugin.Help{
	Description: "check_couch_views reports, for every design document of a database (-d), the view index size and fragmentation, how many changes the index is behind the database, and how long a query takes. " +
		"Queries use stale=ok unless --update-query is given, so the check never builds an index itself.",
	Thresholds: "--warning-lag/--critical-lag compare the changes not yet indexed, -w/-c (--warning-time/--critical-time) each view query's time, --warning-fragmentation/--critical-fragmentation the index fragmentation in percent; Nagios ranges.",
	Examples: []plugin.Example{
		{Command: "check_couch_views -u http://127.0.0.1:5984 --credentials-file /etc/registry-checks/couch.cred -d registry",
			Output: "COUCH_VIEWS OK - 1 design document of registry OK | 'app lag'=0;10000;50000 'app file'=7475628B 'app active'=7460021B\ndatabase registry: update_seq 100003, 100001 docs; queries timed with update=false\nOK _design/app: 0 changes behind, 0.2% fragmented (15.2 KiB of 7.1 MiB)"},
	},
	Perfdata: []string{
		"'<ddoc> lag', 'updater_running', 'compact_running', 'waiting_clients': counts",
		"'<ddoc> file', 'active' (B), 'fragmentation' (%)",
		"'<ddoc>/<view> ms' (ms), '<ddoc>/<view> rows'",
	},
	Measurements: []string{
		"couch_view_index: tags url, db, ddoc; fields lag, file_bytes, active_bytes, fragmentation_pct, updater_running, compact_running, waiting_clients, update_query_ms, state",
		"couch_view (per view queried): tags url, db, ddoc, view; fields query_ms, rows, state",
	},
}
