package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/registry-checks/registry-checks/lib/replication/replicationtest"
)

// TestHelpExamplesAreTheProductsOutput runs every example of --help (and
// so of the man page, made from the same Help) against captured CouchDB
// 3.4.3 answers (node2, all replications running) and compares the
// output shown with the output printed: a line of the example ending in
// "..." is a prefix of the printed line, any other line is equal to it.
// Perfdata labels included: no example output is typed by hand.
func TestHelpExamplesAreTheProductsOutput(t *testing.T) {
	node := replicationtest.Node(t, "node2", "running", nil)
	creds := filepath.Join(t.TempDir(), "couch.cred")
	require.NoError(t, os.WriteFile(creds, []byte("admin:secret\n"), 0o600))
	require.NotEmpty(t, help.Examples)
	for _, e := range help.Examples {
		t.Run(e.Command, func(t *testing.T) {
			words := strings.Fields(e.Command)
			require.Equal(t, "check_couch_replication", words[0])
			args := words[1:]
			for i, w := range args {
				switch {
				case strings.HasPrefix(w, "http://"):
					args[i] = node.URL
				case w == "/etc/registry-checks/couch.cred":
					args[i] = creds
				}
			}
			var out bytes.Buffer
			run(args, &out)
			got := strings.Split(out.String(), "\n")
			for i, want := range strings.Split(e.Output, "\n") {
				require.Less(t, i, len(got), "the example shows more lines than printed:\n%s", out.String())
				if p, ok := strings.CutSuffix(want, "..."); ok {
					assert.True(t, strings.HasPrefix(got[i], p), "line %d of the example:\n%s\nprinted:\n%s", i+1, want, got[i])
				} else {
					assert.Equal(t, want, got[i], "line %d of the example", i+1)
				}
			}
		})
	}
}
