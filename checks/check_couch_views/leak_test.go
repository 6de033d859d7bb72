package main

import (
	"testing"

	"github.com/registry-checks/registry-checks/test/hostile"
)

// TestEchoLeaks: against servers that echo the request's credentials and
// URL into every string they serve (and forge Nagios lines), nothing that
// leaves check_couch_views by any output path holds a piece of the password or of
// its base64 user:password form, or a forged line.
func TestEchoLeaks(t *testing.T) {
	n := hostile.LeakTable(t, hostile.Binary{Name: "COUCH_VIEWS", Run: run,
		Args: func(base, creds string) []string {
			return []string{"-u", base, "--credentials-file", creds, "--db", "registry", "--min-size", "0"}
		}}, hostile.PluginPaths())
	t.Cleanup(func() { t.Logf("check_couch_views echo cases: %s", n) })
}
