package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/registry-checks/registry-checks/test/stackenv"
)

// --execute on the stack with a --config-command that fails: the run stops
// at the switch (CRITICAL), the next run without --resume or --rollback
// changes nothing and says where it stopped, and --rollback brings back the
// original topology: the _replicator documents as before and both replicas
// able to take over again.
func TestExecuteStopsThenRollsBackIntegration(t *testing.T) {
	env := stackenv.Need(t, "COUCH_PRIMARY_URL", "COUCH_REPLICA1_URL", "COUCH_REPLICA2_URL", "COUCH_CREDENTIALS_FILE", "COUCH_ADMIN_USER", "COUCH_ADMIN_PASSWORD")
	user, pass := env["COUCH_ADMIN_USER"], env["COUCH_ADMIN_PASSWORD"]
	nodes := []stackNode{{env["COUCH_PRIMARY_URL"], user, pass}, {env["COUCH_REPLICA1_URL"], user, pass}, {env["COUCH_REPLICA2_URL"], user, pass}}
	before := map[string]map[string]map[string]any{}
	for _, n := range nodes {
		before[n.url] = replicatorDocs(t, n)
	}
	state := filepath.Join(stackenv.Dir(), "promotion-stopped")
	require.NoError(t, os.RemoveAll(state))
	args := []string{"--old-primary", nodes[0].url, "--new-primary", nodes[1].url, "--replica", nodes[2].url,
		"--credentials-file", env["COUCH_CREDENTIALS_FILE"], "--db", "registry", "-t", "120", "--catch-up-timeout", "20s", "--verify-timeout", "30s",
		"--state-dir", state, "--log-file", filepath.Join(state, "steps.log"), "--spool-dir", t.TempDir()}
	runArgs := func(extra ...string) (int, string) {
		var out bytes.Buffer
		code := run(append(append([]string{}, args...), extra...), &out)
		return code, out.String()
	}

	code, out := runArgs("--execute", "--config-command", "echo the load balancer is not answering >&2; exit 1")
	assert.Equal(t, 2, code, out)
	assert.Contains(t, out, "stopped at step 6 (switch)")
	assert.Contains(t, out, "the load balancer is not answering")
	assert.NotContains(t, out, pass)

	code, out = runArgs("--execute")
	assert.Equal(t, 2, code, out)
	assert.Contains(t, out, "stopped at step 6 (switch)", "the next run says where the last one stopped")

	code, out = runArgs("--rollback")
	assert.Equal(t, 0, code, out)
	assert.Contains(t, out, "rolled back: "+nodes[0].url[len("http://"):]+" is the primary again")
	for _, n := range nodes {
		assert.Equal(t, before[n.url], replicatorDocs(t, n), "%s: _replicator documents as before, but for audit fields", n.url)
	}
	logged, err := os.ReadFile(filepath.Join(state, "steps.log"))
	require.NoError(t, err)
	assert.Contains(t, string(logged), "kind=switch status=failed")
	assert.NotContains(t, string(logged), pass)
}
