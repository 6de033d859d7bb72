package main

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/registry-checks/registry-checks/test/stackenv"
)

// stack runs test/stack/stack with args (fault injection, stop/start).
func stack(t *testing.T, args ...string) {
	t.Helper()
	out, err := exec.Command(filepath.Join("..", "..", "test", "stack", "stack"), args...).CombinedOutput()
	require.NoError(t, err, "stack %s: %s", strings.Join(args, " "), out)
}

// TestStackIntegration drives the real nginx origins of the local stack:
// a file lost from one origin (fallback), a corrupt file (integrity), one
// origin stopped, both stopped. Each case restores what it broke. On Apache
// CouchDB it reads the registry as the stack's non-admin reader, the user
// docs/quickstart.md names for it.
func TestStackIntegration(t *testing.T) {
	env := stackenv.Need(t, "COUCH_PRIMARY_URL", "COUCH_CREDENTIALS_FILE", "ORIGIN1_URL", "ORIGIN2_URL", "ORIGIN1_ROOT", "ORIGIN2_ROOT")
	const name, version = "left-pad-lite", "1.0.0"
	creds := env["COUCH_CREDENTIALS_FILE"]
	if stackenv.RealCouchDB(env) {
		creds = env["COUCH_READER_CREDENTIALS_FILE"]
		require.NotEmpty(t, creds, "the stack names its reader in COUCH_READER_CREDENTIALS_FILE")
	}
	base := []string{"-t", "20s", "--url", env["COUCH_PRIMARY_URL"], "--credentials-file", creds,
		"--origin", env["ORIGIN1_URL"], "--origin", env["ORIGIN2_URL"], "-p", name + "@" + version}
	origin1 := strings.TrimPrefix(env["ORIGIN1_URL"], "http://")

	tests := []struct {
		name     string
		breakIt  [][]string
		restore  [][]string
		wantCode int
		line1    string // the first line before its perfdata
		want     []string
	}{
		{name: "healthy", wantCode: 0, line1: "TARBALL_ORIGIN OK - left-pad-lite@1.0.0 OK on 2 origins and CouchDB"},
		{name: "file lost on origin1: CouchDB fallback",
			breakIt: [][]string{{"fault", "origin", "lose", "1", name, version}}, restore: [][]string{{"fault", "origin", "restore", "1"}},
			wantCode: 1, line1: "TARBALL_ORIGIN WARNING - left-pad-lite@1.0.0 served by the CouchDB fallback at " + origin1 + " (the filesystem lacks it)"},
		{name: "file corrupt on origin1",
			breakIt: [][]string{{"fault", "origin", "corrupt", "1", name, version}}, restore: [][]string{{"fault", "origin", "restore", "1"}},
			wantCode: 2, line1: "TARBALL_ORIGIN CRITICAL - left-pad-lite@1.0.0 corrupt at " + origin1 + " (sha512 mismatch)",
			want: []string{"\n  CRITICAL " + origin1 + ": corrupt: GET " + env["ORIGIN1_URL"] + "/left-pad-lite/-/left-pad-lite-1.0.0.tgz, ", " bytes: sha512 expected sha512-", "sha1 expected "}},
		{name: "origin1 stopped",
			breakIt: [][]string{{"stop", "origin1"}}, restore: [][]string{{"start", "origin1"}},
			wantCode: 1, line1: "TARBALL_ORIGIN WARNING - left-pad-lite@1.0.0 not served by " + origin1 + " (connection refused)",
			want: []string{origin1 + ": GET " + env["ORIGIN1_URL"] + "/left-pad-lite/-/left-pad-lite-1.0.0.tgz: connection refused"}},
		{name: "both origins stopped",
			breakIt: [][]string{{"stop", "origin1"}, {"stop", "origin2"}}, restore: [][]string{{"start", "origin1"}, {"start", "origin2"}},
			wantCode: 2, line1: "TARBALL_ORIGIN CRITICAL - left-pad-lite@1.0.0 not served by " + origin1 + " and " + strings.TrimPrefix(env["ORIGIN2_URL"], "http://") + " (connection refused)",
			want: []string{"origins_ok'=0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Cleanup(func() {
				for _, r := range tt.restore {
					stack(t, r...)
				}
			})
			for _, b := range tt.breakIt {
				stack(t, b...)
			}
			code, out := runCheck(t, base...)
			assert.Equal(t, tt.wantCode, code, out)
			head, _, _ := strings.Cut(strings.SplitN(out, "\n", 2)[0], " | ")
			assert.Equal(t, tt.line1, head)
			for _, w := range tt.want {
				assert.Contains(t, out, w)
			}
		})
	}

	// The changes-feed sample reads real publishes and skips what is no package.
	code, out := runCheck(t, append(base[:len(base)-2], "--recent", "3")...)
	assert.Contains(t, []int{0, 1}, code, out)
	assert.Contains(t, out, "TARBALL_ORIGIN ")
}
