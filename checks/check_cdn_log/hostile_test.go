package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/registry-checks/registry-checks/lib/cdnlog/cdnlogtest"
	"github.com/registry-checks/registry-checks/test/hostile"
)

// check_cdn_log reads files; its one HTTP peer is InfluxDB (--influx-url).
// A hostile InfluxDB never changes the state (metrics never do), and no
// line shows Go internals.
func TestHostile(t *testing.T) {
	dir := t.TempDir()
	logPath := filepath.Join(dir, "access.log")
	gen := cdnlogtest.New(3, time.Now().Add(-2*time.Minute), 10)
	var b strings.Builder
	for range 300 {
		b.WriteString(gen.Line())
	}
	require.NoError(t, os.WriteFile(logPath, []byte(b.String()), 0o644))
	anyState := map[string]hostile.Verdict{}
	for _, c := range hostile.Cases() {
		anyState[c.Name] = hostile.Any
	}
	hostile.Table(t, hostile.Binary{Name: "CDN_LOG", Run: run, Want: anyState,
		Args: func(base, creds string) []string {
			state, err := os.MkdirTemp(dir, "state-")
			require.NoError(t, err)
			return []string{"--log", logPath, "--from-start", "--state-dir", state, "--spool-dir", filepath.Join(state, "spool"),
				"--influx-url", base, "--influx-credentials-file", creds}
		},
	})
}
