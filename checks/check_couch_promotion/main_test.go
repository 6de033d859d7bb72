package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const password = "s3cr3t-pw" // must never be printed

func TestArgumentsAndVersionAreUnknown(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"-V"}, {"-u", "http://127.0.0.1:1"}, {"--primary", "http://x", "--warning-lag", "bad"}, {"--primary", "ftp://x"}} {
		var out bytes.Buffer
		code := run(args, &out)
		assert.Equal(t, 3, code, "%v: %s", args, out.String())
		if args[0] != "--help" {
			assert.LessOrEqual(t, strings.Count(out.String(), "\n"), 3, "%v: a short answer, not the help", args)
		}
	}
}

// A node that answers nothing useful: the primary's /_all_dbs is refused
// with 401, whose message names the user and never the password.
func TestUnreadablePrimaryNamesTheUserNotThePassword(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		w.Write([]byte(`{"error":"unauthorized","reason":"Name or password is incorrect."}`))
	}))
	defer ts.Close()
	creds := filepath.Join(t.TempDir(), "creds")
	require.NoError(t, os.WriteFile(creds, []byte("monitor:"+password+"\n"), 0o600))
	u := strings.Replace(ts.URL, "http://", "http://monitor:"+password+"@", 1)
	var out bytes.Buffer
	code := run([]string{"-u", u, "--primary", u, "--credentials-file", creds}, &out)
	assert.Equal(t, 3, code, out.String())
	first, _, _ := strings.Cut(out.String(), "\n")
	assert.True(t, strings.HasPrefix(first, "PROMOTION UNKNOWN - primary 127.0.0.1:"), first)
	assert.Contains(t, first, "monitor")
	assert.NotContains(t, out.String(), password)
}
