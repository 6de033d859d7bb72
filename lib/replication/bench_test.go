package replication

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/registry-checks/registry-checks/lib/nagios"
	"github.com/registry-checks/registry-checks/lib/replication/internal/synthnode"
	"github.com/registry-checks/registry-checks/lib/replication/replicationtest"
)

// BenchmarkAssess5000 is the scale goal: a node with 5,000
// replications checked in under 1 s and 64 MiB. B/op (everything
// allocated, an upper bound of the live heap) is the memory figure.
func BenchmarkAssess5000(b *testing.B) {
	for _, bc := range []struct {
		name      string
		seqLag    bool
		noDBsInfo bool
	}{
		{"states", false, false},
		{"states+seqlag-5000-sources", true, false},
		// A source server without POST /_dbs_info: a GET per source.
		{"states+seqlag-5000-sources-no-dbs-info", true, true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			srv := httptest.NewUnstartedServer(nil)
			srv.Start()
			defer srv.Close()
			node := synthnode.New(5000, 0, 500, srv.URL)
			node.NoDBsInfo = bc.noDBsInfo
			srv.Config.Handler = node
			c, hc := testClient(b, srv.URL)
			th := Thresholds{SeqLag: mustThresholdsB(b, "1000", "10000")}
			p := Probes{HTTP: hc, SeqLag: bc.seqLag}
			b.ReportAllocs()
			base := replicationtest.HeapNow()
			peak := replicationtest.SamplePeakHeap()
			b.ResetTimer()
			for b.Loop() {
				rep, err := AssessWith(context.Background(), c, Selection{}, th, p, time.Now())
				require.NoError(b, err)
				res := rep.Result()
				out := nagios.Render("COUCH_REPLICATION", res, nagios.RenderOptions{})
				if len(rep.Replications) != 5000 || res.Status != nagios.CRITICAL || !strings.Contains(out, "50 of 5000 replications failing") {
					b.Fatalf("unexpected: %d replications, %v, %.200s", len(rep.Replications), res.Status, out)
				}
				if bc.seqLag && !rep.Replications[0].SeqLag.Known {
					b.Fatalf("seq lag not measured: %+v", rep.Replications[0].SeqLag)
				}
				_ = nagios.Points(res, time.Now())
			}
			b.StopTimer()
			top := peak()
			b.ReportMetric(float64(top)/(1<<20), "peak-heap-MiB")
			b.ReportMetric(float64(top-min(base, top))/(1<<20), "check-heap-MiB")
		})
	}
}

func mustThresholdsB(b testing.TB, w, c string) nagios.Thresholds {
	th, err := nagios.ParseThresholds(w, c)
	require.NoError(b, err)
	return th
}
