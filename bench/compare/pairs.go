package main

import (
	"os"
	"path/filepath"
)

// side is one program of a pair with its arguments; ${VAR} is expanded
// from stack.env, plus BUILD, PLUGINS, SPOOL and <ENDPOINT>_PORT.
type side struct {
	name string
	argv []string
	ours bool
	// floor marks the Go floors (gofloor, rawfloor): references, not
	// standards.
	floor bool
}

// pair is one binary of the suite and the standard plugins doing the
// closest job on the same endpoint.
type pair struct {
	name     string
	endpoint string // the stack service it talks to (endpoints)
	couch    bool   // a CouchDB check: the goal is 20 ms wall, not the ratio
	floor    bool   // a reference row with no goal of its own
	expect   int    // exit code of every side on a healthy stack
	ours     []string
	std      []string // arguments of check_http and check_curl (same syntax)
	stdBins  []string // the standard plugins; default check_http and check_curl
	min      int      // the fewest HTTP requests the binary's job needs
	minWhy   string
	note     string
}

// The floors' names in the report.
const (
	floorName    = "go floor"
	rawFloorName = "raw-socket floor"
)

// sides are ours, the standard plugins found in plugins, and the two Go
// floors with the standard plugins' arguments.
func (p pair) sides(plugins string) []side {
	out := []side{{name: filepath.Base(p.ours[0]), argv: p.ours, ours: true}}
	bins := p.stdBins
	if bins == nil {
		bins = []string{"check_http", "check_curl"}
	}
	for _, std := range bins {
		bin := filepath.Join(plugins, std)
		if _, err := os.Stat(bin); err != nil {
			continue
		}
		out = append(out, side{name: std, argv: append([]string{"${PLUGINS}/" + std}, p.std...)})
	}
	if len(out) > 1 {
		out = append(out,
			side{name: floorName, argv: append([]string{"${GOFLOOR}"}, p.std...), floor: true},
			side{name: rawFloorName, argv: append([]string{"${RAWFLOOR}"}, p.std...), floor: true})
	}
	return out
}

const tarball = "/left-pad-lite/-/left-pad-lite-1.2.0.tgz"

// ourCommon keeps metrics out of the measure (no --influx-url: the
// standard plugins send none either) and the spool in a scratch folder.
var ourCommon = []string{"-t", "10", "--spool-dir", "${SPOOL}"}

func ours(bin string, args ...string) []string {
	return append(append([]string{"${BUILD}/" + bin}, args...), ourCommon...)
}

var couchAuth = []string{"-a", "${COUCH_ADMIN_USER}:${COUCH_ADMIN_PASSWORD}"}

func stdArgs(port, path string, auth bool) []string {
	a := []string{"-I", "127.0.0.1", "-p", "${" + port + "_PORT}", "-u", path, "-t", "10"}
	if auth {
		a = append(a, couchAuth...)
	}
	return a
}

func pairs() []pair {
	return []pair{
		{
			// No network: what starting the process costs, the floor
			// under every other row.
			name: "startup floor: --version", endpoint: "CDN", expect: 3, floor: true,
			ours:    []string{"${BUILD}/check_fastly", "--version"},
			std:     []string{"3", "version"},
			stdBins: []string{"check_dummy"},
			min:     0, minWhy: "no request",
			note: "check_dummy prints its argument and exits: the C floor; ours parses its options, prints the version and exits UNKNOWN",
		},
		{
			name: "check_fastly: CDN ping", endpoint: "CDN",
			ours: ours("check_fastly", "-u", "${CDN_URL}/_ping"),
			std:  stdArgs("CDN", "/_ping", false),
			min:  1, minWhy: "one GET of the URL",
		},
		{
			name: "check_fastly: CDN tarball", endpoint: "CDN",
			ours: ours("check_fastly", "-u", "${CDN_URL}"+tarball),
			std:  stdArgs("CDN", tarball, false),
			min:  1, minWhy: "one GET of the URL",
		},
		{
			name: "check_tarball_origin: 1 package, 1 origin", endpoint: "ORIGIN1",
			ours: ours("check_tarball_origin", "-u", "${COUCH_PRIMARY_URL}", "--credentials-file", "${COUCH_CREDENTIALS_FILE}",
				"--origin", "${ORIGIN1_URL}", "-p", "left-pad-lite"),
			std: stdArgs("ORIGIN1", tarball, false),
			min: 3, minWhy: "packument (which version, its integrity), the tarball from the origin, the attachment from CouchDB (the copy to compare with)",
			note: "check_http fetches only the origin's tarball: ours also reads the packument and CouchDB's copy, so the pair is not like for like",
		},
		{
			name: "check_couch_disk", endpoint: "COUCH_PRIMARY", couch: true,
			ours: ours("check_couch_disk", "-u", "${COUCH_PRIMARY_URL}", "--credentials-file", "${COUCH_CREDENTIALS_FILE}"),
			std:  stdArgs("COUCH_PRIMARY", "/_all_dbs", true),
			min:  4, minWhy: "_all_dbs, then one GET /{db} for each of the 3 databases (PouchDB Server has no _dbs_info, which the _all_dbs answer's headers tell)",
		},
		{
			name: "check_couch_views: registry", endpoint: "COUCH_PRIMARY", couch: true,
			ours: ours("check_couch_views", "-u", "${COUCH_PRIMARY_URL}", "--credentials-file", "${COUCH_CREDENTIALS_FILE}", "-d", "registry"),
			std:  stdArgs("COUCH_PRIMARY", "/registry", true),
			min:  5, minWhy: "database info, design documents, _info of the 1 design document, one query per view (2)",
		},
		{
			name: "check_couch_replication: replica 1", endpoint: "COUCH_REPLICA1", couch: true,
			ours: ours("check_couch_replication", "-u", "${COUCH_REPLICA1_URL}", "--credentials-file", "${COUCH_CREDENTIALS_FILE}"),
			std:  stdArgs("COUCH_REPLICA1", "/_active_tasks", true),
			min:  3, minWhy: "server version (scheduler or not), the replication documents, the running replications (_active_tasks on PouchDB Server)",
			note: "requests to the source named in the replication documents (the primary) go there directly and are not counted",
		},
	}
}
