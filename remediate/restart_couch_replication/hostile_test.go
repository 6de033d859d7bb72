package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/registry-checks/registry-checks/test/hostile"
)

// Every hostile server case: the verdict of docs/design.md, a first line
// naming the state, and no Go internals in any line of the output or of
// the decision log.
func TestHostile(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "decisions.log")
	t.Run("cases", func(t *testing.T) {
		hostile.Table(t, hostile.Binary{Name: "RESTART_COUCH_REPLICATION", Run: run,
			Args: func(base, creds string) []string {
				return []string{"-u", base, "--credentials-file", creds, "--spool-dir", dir, "--state-dir", dir, "--log-file", log}
			},
		})
	})
	if testing.Short() {
		return
	}
	b, err := os.ReadFile(log)
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	assert.GreaterOrEqual(t, len(lines), len(hostile.Cases()), "one decision per run at least")
	for _, line := range lines {
		assert.Empty(t, hostile.BadText.FindString(line), line)
	}
}
