package main

import "github.com/registry-checks/registry-checks/lib/plugin"

var help = plugin.Help{
	Description: "check_cdn_log reads the lines CDN access logs (--log, repeatable) gained since its last run, in the manner of check_logfiles, and reports what users got: requests, status classes, the 5xx and 4xx ratios, the cache hit ratio, bytes, time to serve, and tarball downloads per package and version. " +
		"Rotation (rename and copytruncate, PATH.1 and PATH.1.gz) is followed, and the per-minute counts reach InfluxDB exactly once: a run killed at any moment neither loses nor counts a line twice. The lines are read in batches of --max-points per-minute points, each delivered and committed before the next, so memory does not grow with the backlog. The first run starts at the end of the log unless --from-start.",
	Thresholds: "--warning-5xx-ratio/--critical-5xx-ratio and --warning-4xx-ratio/--critical-4xx-ratio are Nagios ranges on the run's ratio in percent, judged only when the run saw at least --min-requests requests (a quiet log is not an error); --critical-no-lines DURATION is CRITICAL when no line arrived for that long (the log stream is broken); --warning-lag-bytes/--critical-lag-bytes and --warning-lag-seconds/--critical-lag-seconds are Nagios ranges on how far behind the logs' ends the run finished (not judged unless given).",
	Examples: []plugin.Example{
		{Note: "The first run saves the positions at the ends of the logs and counts nothing:",
			Command: "check_cdn_log --log /var/log/varnish/varnishncsa.log --state-dir /var/lib/registry-checks --critical-no-lines 15m --influx-url http://influx:8086",
			Output:  "CDN_LOG OK - first run: positions saved at the end of the logs, counting starts with the next run | requests=0;;;0 ratio_5xx=U;1;5;0;100 ratio_4xx=U;;;0;100 hit_ratio=U;;;0;100\nlog /var/log/varnish/varnishncsa.log: 0 lines, 0 bytes (first run: position saved at the end)"},
		{Note: "Every later run counts the lines the logs gained since:",
			Command: "check_cdn_log --log /var/log/varnish/varnishncsa.log --state-dir /var/lib/registry-checks --critical-no-lines 15m --influx-url http://influx:8086",
			Output:  "CDN_LOG OK - 12,408 requests in 61s, 0.02% 5xx, 91.3% hit, 3,112 tarball downloads | requests=12408;;;0 ratio_5xx=0.02%;1;5;0;100 ...\nlog /var/log/varnish/varnishncsa.log: 12,408 lines, 3,010,552 bytes"},
	},
	Perfdata: []string{
		"requests, downloads, downloads_partial, unparsable, status_1xx ... status_5xx: counts",
		"ratio_5xx, ratio_4xx, hit_ratio (%), bytes (B), tts_p50, tts_p95, tts_p99 (s), quiet (s since a line arrived)",
		"lag_bytes (B), lag_seconds (s of log time): how far behind the logs' ends the run finished",
	},
	Measurements: []string{
		"cdn_log (per run): tag source; the perfdata fields and state",
		"cdn_requests (per minute, stamped with the minute): tag source; requests, status classes, hits, misses, passes, bytes, downloads, ratios, tts percentiles",
		"cdn_downloads (per package version and minute): tags package, version, source; fields count, partial",
	},
}
