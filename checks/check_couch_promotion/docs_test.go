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

// Every example of docs/check_couch_promotion.md parses and runs: against
// a closed port it is CRITICAL, never "bad arguments".
func TestDocExamplesParse(t *testing.T) {
	creds := filepath.Join(t.TempDir(), "creds")
	require.NoError(t, os.WriteFile(creds, []byte("monitor:pw\n"), 0o600))
	data := t.TempDir()
	replace := func(w string) string {
		switch {
		case strings.HasPrefix(w, "http://"):
			return "http://127.0.0.1:1"
		case w == "/etc/registry-checks/couch.cred":
			return creds
		case w == "/opt/couchdb/data":
			return data
		}
		return w
	}
	for _, args := range docexamples.Examples(t, "../../docs/check_couch_promotion.md", "check_couch_promotion", replace) {
		var out bytes.Buffer
		code := run(append(args, "-t", "2"), &out)
		assert.Equal(t, 2, code, "%v: %s", args, out.String())
		assert.NotContains(t, out.String(), "bad arguments")
	}
}

// Every option of the binary (the common ones aside) is named in its docs
// page.
func TestDocsNameEveryOption(t *testing.T) {
	assert.Empty(t, docexamples.Undocumented(t, "../../docs/check_couch_promotion.md", &options{}, plugin.Common{}))
}
