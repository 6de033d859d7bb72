package promotion_test

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/registry-checks/registry-checks/lib/promotion"
	"github.com/registry-checks/registry-checks/lib/replication/replicationtest"
)

// synthDB is a database of n documents generated on the fly: the source's
// _changes (since/limit, seq "N-x") and _bulk_get, the target's
// _revs_diff (lacking every doc whose index is a multiple of every) and
// _bulk_docs (counted, discarded). Nothing is kept per document.
func synthDB(b *testing.B, n, every int) (src, tgt *httptest.Server, written *int) {
	id := func(i int) string { return fmt.Sprintf("pkg-%07d", i) }
	decode := func(r *http.Request, v any) {
		var rd io.Reader = r.Body
		if r.Header.Get("Content-Encoding") == "gzip" {
			z, err := gzip.NewReader(r.Body)
			require.NoError(b, err)
			rd = z
		}
		require.NoError(b, json.NewDecoder(rd).Decode(v))
	}
	src = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch {
		case strings.HasSuffix(r.URL.Path, "/_changes"):
			q := r.URL.Query()
			since, _ := strconv.Atoi(strings.SplitN(q.Get("since"), "-", 2)[0])
			limit, _ := strconv.Atoi(q.Get("limit"))
			if limit == 0 {
				limit = n
			}
			end := min(since+limit, n)
			io.WriteString(w, `{"results":[`)
			for i := since; i < end; i++ {
				if i > since {
					io.WriteString(w, ",")
				}
				fmt.Fprintf(w, `{"seq":"%d-g1AAAA","id":"%s","changes":[{"rev":"1-%032x"}]}`, i+1, id(i), i)
			}
			fmt.Fprintf(w, `],"last_seq":"%d-g1AAAA","pending":%d}`, end, n-end)
		case strings.HasSuffix(r.URL.Path, "/_bulk_get"):
			var req struct{ Docs []struct{ ID, Rev string } }
			decode(r, &req)
			io.WriteString(w, `{"results":[`)
			for k, d := range req.Docs {
				if k > 0 {
					io.WriteString(w, ",")
				}
				fmt.Fprintf(w, `{"id":"%s","docs":[{"ok":{"_id":"%s","_rev":"%s","_revisions":{"start":1,"ids":["%s"]},"name":"%s","description":"%s"}}]}`,
					d.ID, d.ID, d.Rev, strings.TrimPrefix(d.Rev, "1-"), d.ID, strings.Repeat("y", 200))
			}
			io.WriteString(w, `]}`)
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	written = new(int)
	tgt = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch {
		case strings.HasSuffix(r.URL.Path, "/_revs_diff"):
			var req map[string][]string
			decode(r, &req)
			out := map[string]any{}
			for k, revs := range req {
				i, _ := strconv.Atoi(strings.TrimPrefix(k, "pkg-"))
				if i%every == 0 {
					out[k] = map[string]any{"missing": revs}
				}
			}
			json.NewEncoder(w).Encode(out)
		case strings.HasSuffix(r.URL.Path, "/_bulk_docs"):
			var req struct{ Docs []json.RawMessage }
			decode(r, &req)
			*written += len(req.Docs)
			io.WriteString(w, "[]")
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	b.Cleanup(src.Close)
	b.Cleanup(tgt.Close)
	return src, tgt, written
}

// BenchmarkTopUp1M is the top-up of a 1,000,000-document database whose
// target lacks 1,000 of them: the changes feed read page by page, a
// _revs_diff per page, each page's missing documents copied at once
// (_bulk_get, _bulk_docs). The goal is memory bounded whatever the size:
// at most 64 MiB of peak heap (objects, garbage included, sampled every
// millisecond; the synthetic servers keep nothing).
func BenchmarkTopUp1M(b *testing.B) {
	const n, every = 1_000_000, 1000
	src, tgt, written := synthDB(b, n, every)
	from, to := client(b, src.URL), client(b, tgt.URL)
	for b.Loop() {
		*written = 0
		base := replicationtest.HeapNow()
		peak := replicationtest.SamplePeakHeap()
		scan, err := promotion.EachMissing(context.Background(), from, to, "registry", func(m map[string][]string) error {
			_, err := promotion.Copy(context.Background(), from, to, "registry", m)
			return err
		})
		p := peak()
		require.NoError(b, err)
		require.Equal(b, n, scan.Changes)
		require.Equal(b, n/every, scan.Missing)
		require.Equal(b, n/every, *written)
		b.ReportMetric(float64(p)/(1<<20), "peak-heap-MiB")
		b.ReportMetric(float64(p-min(p, base))/(1<<20), "heap-over-base-MiB")
		b.ReportMetric(float64(scan.Pages), "pages")
		if p > 64<<20 {
			b.Fatalf("peak heap %.1f MiB: over the 64 MiB goal", float64(p)/(1<<20))
		}
	}
}
