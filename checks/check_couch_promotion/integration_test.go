package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/registry-checks/registry-checks/test/stackenv"
)

func runCheck(t testing.TB, args ...string) (int, string) {
	t.Helper()
	var buf bytes.Buffer
	code := run(append(args, "--spool-dir", t.TempDir()), &buf)
	return code, buf.String()
}

// Both replicas of the stack pull registry from the primary. Apache
// CouchDB's scheduler gives each job's through_seq, so the lag is counted
// in changes (the heartbeats the other tests write may be in flight).
// PouchDB Server gives no through_seq: the sequence lag is "not checked"
// and named on line 1, the document counts are compared instead. The write
// probe and the headroom (the temp folder's filesystem) are real.
func TestPromotionIntegration(t *testing.T) {
	env := stackenv.Need(t, "COUCH_PRIMARY_URL", "COUCH_REPLICA1_URL", "COUCH_REPLICA2_URL", "COUCH_CREDENTIALS_FILE")
	for _, replica := range []string{env["COUCH_REPLICA1_URL"], env["COUCH_REPLICA2_URL"]} {
		code, out := runCheck(t, "-u", replica, "--primary", env["COUCH_PRIMARY_URL"], "--credentials-file", env["COUCH_CREDENTIALS_FILE"], "--data-dir", t.TempDir(), "-t", "30")
		assert.Equal(t, 0, code, out)
		first, _, _ := strings.Cut(out, "\n")
		host := strings.TrimPrefix(replica, "http://")
		if stackenv.RealCouchDB(env) {
			assert.Regexp(t, `^PROMOTION OK - `+host+` could take over from 127.0.0.1:15984: [0-9]+ databases?, [0-9]+ changes? behind \|`, first)
			assert.Regexp(t, ` worst_lag=[0-9]+;`, first)
		} else {
			assert.Regexp(t, `^PROMOTION OK - `+host+` could take over from 127.0.0.1:15984: [0-9]+ databases?, 0 documents behind; not checked: sequence lag \|`, first)
		}
		assert.Contains(t, out, "write_time=")
		assert.NotContains(t, out, "headroom=U", "statfs of a real directory")
		assert.NotContains(t, out, env["COUCH_ADMIN_PASSWORD"])
	}

	// The primary compared with itself is fed by nothing.
	code, out := runCheck(t, "-u", env["COUCH_PRIMARY_URL"], "--primary", env["COUCH_PRIMARY_URL"], "--credentials-file", env["COUCH_CREDENTIALS_FILE"], "--no-write-probe", "-t", "30")
	assert.Equal(t, 2, code, out)
	assert.Regexp(t, `without a running replication from the primary \([^)]*registry`, out)

	code, out = runCheck(t, "-u", env["COUCH_REPLICA1_URL"], "--primary", env["COUCH_PRIMARY_URL"], "--credentials-file", env["COUCH_CREDENTIALS_FILE"], "--output", "influx", "-t", "30")
	assert.Equal(t, 0, code, out)
	assert.True(t, strings.HasPrefix(out, "couch_promotion,"), out)
	assert.Contains(t, out, "databases=")
}
