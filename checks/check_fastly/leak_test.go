package main

import (
	"testing"

	"github.com/registry-checks/registry-checks/test/hostile"
)

// TestEchoLeaks: against servers that echo the request's credentials and
// URL into every string they serve (and forge Nagios lines), nothing that
// leaves check_fastly by any output path holds a piece of the password or
// of its base64 user:password form, or a forged line. The credentials are
// in the URLs only: with the origin CouchDB (whose client registers its
// own) and without it, where nothing but the URL options tell the run the
// password.
func TestEchoLeaks(t *testing.T) {
	for _, v := range []struct {
		name  string
		extra func(base string) []string
	}{
		{"cdn-only", func(string) []string { return nil }},
		{"with-origin", func(base string) []string { return []string{"--couch-url", hostile.WithUserinfo(base)} }},
	} {
		t.Run(v.name, func(t *testing.T) {
			n := hostile.LeakTable(t, hostile.Binary{Name: "FASTLY", Run: run,
				Args: func(base, _ string) []string {
					return append([]string{"-u", hostile.WithUserinfo(base) + "/-/ping", "--packument", hostile.WithUserinfo(base) + "/registry/left-pad",
						"--header-equals", "X-Cache: MISS", "--fastly-debug"}, v.extra(base)...)
				}}, hostile.PluginPaths())
			t.Cleanup(func() { t.Logf("check_fastly (%s) echo cases: %s", v.name, n) })
		})
	}
}
