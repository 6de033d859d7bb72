package main

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/registry-checks/registry-checks/test/stackenv"
)

// The stack's dedicated heartbeat database and the replication of it
// that replica 1 runs (test/stack/services/couch.sh).
const (
	stackHeartbeatDB  = "heartbeat"
	stackHeartbeatRep = "heartbeat-from-primary"
)

// TestConcurrentHeartbeatsIntegration is issue 13's proof that checkers
// on one host never make each other's heartbeat miss: 8 checkers with
// the default heartbeat id (heartbeat-<hostname>, all the same) run at
// once against replica 1, 50 rounds, and every run is OK. Before the
// fix, one run's write replaced another's nonce and about 1 run in 4 was
// a false CRITICAL.
func TestConcurrentHeartbeatsIntegration(t *testing.T) {
	env := stackenv.Need(t, "COUCH_PRIMARY_URL", "COUCH_REPLICA1_URL", "COUCH_CREDENTIALS_FILE")
	bin := filepath.Join(t.TempDir(), "check_couch_replication")
	out, err := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, "go build: %s", out)
	args := []string{"-u", env["COUCH_REPLICA1_URL"], "--credentials-file", env["COUCH_CREDENTIALS_FILE"],
		"--doc-id", stackHeartbeatRep, "--expect", "1", "--heartbeat-db", stackHeartbeatDB, "--no-seq-lag", "-t", "20"}

	const checkers, rounds = 8, 50
	var bad []string
	for round := range rounds {
		outs := make([]string, checkers)
		codes := make([]int, checkers)
		var wg sync.WaitGroup
		for i := range checkers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				b, err := exec.Command(bin, args...).Output()
				outs[i], codes[i] = string(b), 0
				if ee, ok := err.(*exec.ExitError); ok {
					codes[i] = ee.ExitCode()
				} else if err != nil {
					codes[i], outs[i] = -1, err.Error()
				}
			}()
		}
		wg.Wait()
		for i := range checkers {
			if codes[i] != 0 {
				bad = append(bad, fmt.Sprintf("round %d checker %d: exit %d: %s", round, i, codes[i], firstLines(outs[i], 3)))
			}
		}
		if len(bad) > 0 && round >= 4 {
			break // enough to show it; no need to run 400 checks to fail
		}
	}
	assert.Empty(t, bad, "false non-OK results:\n%s", strings.Join(bad, "\n"))
	if len(bad) == 0 {
		t.Logf("%d rounds of %d concurrent checkers: all %d runs OK", rounds, checkers, rounds*checkers)
	}
}

func firstLines(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	return strings.Join(lines[:min(n, len(lines))], " / ")
}
