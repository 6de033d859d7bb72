package main

import (
	"bytes"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/registry-checks/registry-checks/lib/replication/replicationtest"
)

// BenchmarkRestart1000 is issue 13's scale goal: a node whose 1,000
// replications all crash (a primary outage) is restarted by one handler
// run at CRITICAL SOFT 2, every restart confirmed, in under 10 s and
// 64 MiB. The whole handler runs in-process against the synthetic node
// (1,000 distinct sources, every one answering the source check).
func BenchmarkRestart1000(b *testing.B) {
	const n = 1000
	srv := httptest.NewServer(nil)
	defer srv.Close()
	node := replicationtest.NewSynthNode(n, 0, 500, srv.URL)
	srv.Config.Handler = node
	dir := b.TempDir()
	creds := filepath.Join(dir, "couch.cred")
	if err := os.WriteFile(creds, []byte("admin:pw\n"), 0o600); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	base := replicationtest.HeapNow()
	peak := replicationtest.SamplePeakHeap()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		node.SetCrashing(func(int) bool { return true })
		state := filepath.Join(dir, fmt.Sprint("state-", i))
		b.StartTimer()
		var out bytes.Buffer
		code := run([]string{"-t", "60", "-u", srv.URL, "--credentials-file", creds, "--state-dir", state,
			"--log-file", filepath.Join(state, "decisions.log"), "--confirm-timeout", "30s",
			"--state", "CRITICAL", "--state-type", "SOFT", "--attempt", "2"}, &out)
		if code != 0 || node.Restarted() != n {
			b.Fatalf("exit %d, %d of %d restarted: %.600s", code, node.Restarted(), n, out.String())
		}
		b.StopTimer()
		log, _ := os.ReadFile(filepath.Join(state, "decisions.log"))
		if got := strings.Count(string(log), "new job running"); got != n {
			b.Fatalf("%d of %d restarts confirmed: %.600s", got, n, out.String())
		}
		b.StartTimer()
	}
	b.StopTimer()
	top := peak()
	b.ReportMetric(float64(top)/(1<<20), "peak-heap-MiB")
	b.ReportMetric(float64(top-min(base, top))/(1<<20), "handler-heap-MiB")
}
