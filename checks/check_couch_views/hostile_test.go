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
