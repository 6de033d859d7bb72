package replication

import (
	"context"
	"net/http/httptest"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/registry-checks/registry-checks/lib/nagios"
	"github.com/registry-checks/registry-checks/lib/replication/internal/synthnode"
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
			base := heapNow()
			peak := samplePeakHeap(b)
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

// heapNow is the live heap after a collection: what the synthetic server
// holds before the check runs.
func heapNow() uint64 {
	runtime.GC()
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// samplePeakHeap samples the heap (objects, garbage not yet collected
// included) every millisecond until the returned function is called,
// which gives the peak seen. The heap also holds the synthetic server's
// pre-rendered answers (about 10 MiB for 5,000 replications): peak minus
// heapNow before the run (check-heap-MiB) is the check's share.
func samplePeakHeap(b *testing.B) func() uint64 {
	var peak atomic.Uint64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(s)
			if v := s[0].Value.Uint64(); v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 {
		close(stop)
		<-done
		return peak.Load()
	}
}

func mustThresholdsB(b testing.TB, w, c string) nagios.Thresholds {
	th, err := nagios.ParseThresholds(w, c)
	require.NoError(b, err)
	return th
}
