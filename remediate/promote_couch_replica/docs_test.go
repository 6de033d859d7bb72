package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/registry-checks/registry-checks/lib/plugin"
	"github.com/registry-checks/registry-checks/test/docexamples"
)

// Every example of docs/promote_couch_replica.md parses: against closed
// ports the topology cannot be read (CRITICAL), or there is nothing to roll
// back (UNKNOWN), never "bad arguments".
func TestDocExamplesParse(t *testing.T) {
	creds := filepath.Join(t.TempDir(), "creds")
	require.NoError(t, os.WriteFile(creds, []byte("admin:pw\n"), 0o600))
	ports := map[string]string{}
	replace := func(w string) string {
		switch {
		case strings.HasPrefix(w, "http://"):
			if ports[w] == "" {
				ports[w] = "http://127.0.0.1:" + []string{"1", "2", "3", "4"}[len(ports)%4]
			}
			return ports[w]
		case w == "/etc/registry-checks/couch.cred":
			return creds
		}
		return w
	}
	state := t.TempDir()
	for _, args := range docexamples.Examples(t, "../../docs/promote_couch_replica.md", "promote_couch_replica", replace) {
		var out bytes.Buffer
		code := run(append(args, "--state-dir", state, "--log-file", filepath.Join(state, "log")), &out)
		assert.Contains(t, []int{2, 3}, code, "%v: %s", args, out.String())
		assert.NotContains(t, out.String(), "bad arguments", "%v", args)
	}
}

// Every option of the binary (the common ones aside) is named in its docs
// page.
func TestDocsNameEveryOption(t *testing.T) {
	assert.Empty(t, docexamples.Undocumented(t, "../../docs/promote_couch_replica.md", &options{}, plugin.Common{}))
}
