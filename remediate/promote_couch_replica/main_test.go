package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBadArgumentsAreUnknownAndChangeNothing(t *testing.T) {
	base := []string{"--new-primary", "http://127.0.0.1:1", "--old-primary", "http://127.0.0.1:2"}
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--execute", "--rehearse"}, "exclude each other"},
		{[]string{"--resume", "--rollback"}, "exclude each other"},
		{[]string{"--execute"}, "-t 10s is shorter than the waits it must hold (1m30s"},
		{[]string{"--rehearse", "-t", "100"}, "twice for a rehearsal"},
		{[]string{"--plan", "--rollback"}, "not with --plan"},
	}
	for _, tc := range tests {
		var out bytes.Buffer
		code := run(append(append([]string{}, base...), tc.args...), &out)
		assert.Equal(t, 3, code, "%v: %s", tc.args, out.String())
		assert.Contains(t, out.String(), tc.want, "%v", tc.args)
	}
	var out bytes.Buffer
	assert.Equal(t, 3, run([]string{"--new-primary", "http://127.0.0.1:1", "--old-primary", "http://127.0.0.1:1/"}, &out))
	assert.Contains(t, out.String(), "the same node")
	out.Reset()
	assert.Equal(t, 3, run([]string{"--old-primary", "http://x"}, &out), "--new-primary is required")
	assert.True(t, strings.HasPrefix(out.String(), "PROMOTE_COUCH_REPLICA UNKNOWN - bad arguments"), out.String())
}

// --plan against nodes that do not answer: CRITICAL, nothing changed, the
// password of the URL never printed.
func TestPlanOfUnreachableNodes(t *testing.T) {
	var out bytes.Buffer
	code := run([]string{"--new-primary", "http://admin:hunter2@127.0.0.1:1", "--old-primary", "http://admin:hunter2@127.0.0.1:2", "--state-dir", t.TempDir()}, &out)
	assert.Equal(t, 2, code, out.String())
	assert.Contains(t, out.String(), "topology not read")
	assert.NotContains(t, out.String(), "hunter2")
}

func TestLockHeldNamesThisProgram(t *testing.T) {
	// Another promotion of the same old primary holds the lock: the run
	// waits at most -t, says so naming itself, and changes nothing.
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "promote_couch_replica"), 0o750))
	held, err := os.OpenFile(filepath.Join(dir, "promote_couch_replica", "127.0.0.1_2.lock"), os.O_CREATE|os.O_RDWR, 0o640)
	require.NoError(t, err)
	defer held.Close()
	require.NoError(t, syscall.Flock(int(held.Fd()), syscall.LOCK_EX|syscall.LOCK_NB))

	var out bytes.Buffer
	code := run([]string{"-t", "3", "--catch-up-timeout", "1", "--verify-timeout", "1", "--execute", "--new-primary", "http://admin:hunter2@127.0.0.1:1", "--old-primary", "http://admin:hunter2@127.0.0.1:2", "--state-dir", dir}, &out)
	assert.Equal(t, 3, code, out.String())
	assert.Contains(t, out.String(), "is held by another promote_couch_replica run for this node")
	assert.NotContains(t, out.String(), "restart_couch_replication run")
	assert.NotContains(t, out.String(), "hunter2")
}
