package main

import (
	"testing"

	"github.com/registry-checks/registry-checks/test/hostile"
)

// Every hostile server case: the verdict of docs/design.md, a first line
// naming the state, and no Go internals in any line.
func TestHostile(t *testing.T) {
	dir := t.TempDir()
	// A named database that is missing is CRITICAL (docs/check_couch_views.md).
	hostile.Table(t, hostile.Binary{Name: "COUCH_VIEWS", Run: run, Want: map[string]hostile.Verdict{"404": hostile.Critical},
		Args: func(base, creds string) []string {
			return []string{"-u", base, "--credentials-file", creds, "--spool-dir", dir, "-d", "registry"}
		},
	})
}

// The database answers well and its design documents' _info and view
// queries are the hostile ones. A view query that fails in any way is the
// view's failure, CRITICAL, but for a refused login
// (docs/check_couch_views.md); a wrong-shaped _info is UNKNOWN.
func TestHostileViews(t *testing.T) {
	dir := t.TempDir()
	query := map[string]hostile.Verdict{}
	for _, c := range hostile.Cases() {
		if c.Want == hostile.Unknown {
			query[c.Name] = hostile.Critical
		}
	}
	for _, c := range []string{"401", "403", "echo-401"} {
		query[c] = hostile.Unknown
	}
	// A row of nulls is a row: keys and values may be null, and the
	// query is timed, not read.
	query["null-fields"] = hostile.Any
	for only, want := range map[string]map[string]hostile.Verdict{"_info": nil, "_view": query} {
		t.Run(only, func(t *testing.T) {
			hostile.Table(t, hostile.Binary{Name: "COUCH_VIEWS", Run: run, Only: "/" + only, Want: want,
				Args: func(base, creds string) []string {
					return []string{"-u", base, "--credentials-file", creds, "--spool-dir", dir, "-d", "registry"}
				},
			})
		})
	}
}
