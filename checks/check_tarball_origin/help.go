package main

import "github.com/registry-checks/registry-checks/lib/plugin"

var help = plugin.Help{
	Description: "check_tarball_origin checks that each nginx origin serves each tarball intact, from its own filesystem rather than by falling back to CouchDB. " +
		"The tarballs are the packages given with -p and the most recently published ones (--recent); each download is compared with the integrity hash of the packument in CouchDB.",
	Thresholds: "A corrupt tarball is CRITICAL, one served by the CouchDB fallback instead of the filesystem WARNING; -w/-c compare each fetch's total time in seconds (Nagios ranges); --fallback-ok accepts the fallback.",
	Examples: []plugin.Example{
		{Command: "check_tarball_origin -u http://127.0.0.1:5984 --credentials-file /etc/registry-checks/couch.cred --origin http://origin1:8081 --origin http://origin2:8081 -p left-pad",
			Output: "TARBALL_ORIGIN OK - left-pad@1.3.0 OK on 2 origins and CouchDB | 'left-pad@1.3.0 origins_ok'=2;;;0;2 'left-pad@1.3.0 corrupt'=0;;;0\nOK left-pad@1.3.0: OK on 2 of 2 origins"},
	},
	Perfdata: []string{
		"'<package>@<version> origins_ok', 'corrupt'",
		"'<package>@<version> <origin> status', 'bytes' (B), 'ttfb', 'time' (s), 'integrity', 'fallback' (0/1)",
	},
	Measurements: []string{
		"tarball: tags package, version; fields origins_ok, corrupt, state",
		"tarball_origin: tags package, version, origin, kind, source; fields http_status, bytes, first_byte, total, integrity_ok, fallback, state",
	},
}
