package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
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
