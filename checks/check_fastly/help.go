package main

import "github.com/registry-checks/registry-checks/lib/plugin"

var help = plugin.Help{
	Description: "check_fastly checks the registry the way users reach it: through the CDN. " +
		"For every -u URL and --packument it reports the status, the cache (X-Cache, X-Served-By, Age), the time of each phase, the certificate's remaining days, " +
		"and with --couch-url how stale the CDN's packument is against the CouchDB write primary.",
	Thresholds: "-w/-c compare each fetch's total time in seconds, --cert-warning/--cert-critical the days until the certificate expires (14: alerts below 14), --stale-warning/--stale-critical the seconds the CDN's packument is older than the origin's; Nagios ranges.",
	Examples: []plugin.Example{
		{Command: "check_fastly -u https://registry.example.com/left-pad/-/left-pad-1.3.0.tgz --packument https://registry.example.com/left-pad --couch-url http://db1:5984 --couch-credentials-file /etc/registry-checks/couch.cred",
			Output: "FASTLY OK - 2 URLs OK | '/left-pad/-/left-pad-1.3.0.tgz dns'=0s;;;0 ...\nOK /left-pad/-/left-pad-1.3.0.tgz: 200 ...\nOK /left-pad: 200 ..."},
	},
	Perfdata: []string{
		"'<path> dns', 'connect', 'tls', 'ttfb', 'time', 'age', 'stale' (s)",
		"'<path> status', 'cache_hit' (0/1), 'hops', 'cache_hits', 'cert_days'",
	},
	Measurements: []string{
		"cdn_url: tags url, edge; fields dns, connect, tls, first_byte, total, http_status, cache_hit, hops, cache_hits, age, cert_days, stale, state",
	},
}
