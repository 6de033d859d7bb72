package main

import (
	"testing"

	"github.com/registry-checks/registry-checks/test/hostile"
)

// Every hostile server case: the verdict of docs/design.md, a first line
// naming the state, and no Go internals in any line.
func TestHostile(t *testing.T) {
	dir := t.TempDir()
	// A status other than --expect through the CDN is what users get:
	// CRITICAL, whatever the status (docs/check_fastly.md).
	critical := map[string]hostile.Verdict{}
	for _, c := range []string{"401", "403", "404", "echo-401", "redirect-loop"} {
		critical[c] = hostile.Critical
	}
	hostile.Table(t, hostile.Binary{Name: "FASTLY", Run: run, Want: critical,
		Args: func(base, creds string) []string {
			return []string{"-u", base + "/-/ping", "--packument", base + "/left-pad", "--couch-url", base, "--couch-credentials-file", creds, "--spool-dir", dir}
		},
	})
}
