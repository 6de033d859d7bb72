package replication

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/registry-checks/registry-checks/lib/nagios"
)

// syntheticNode is a 2.1+ node with n continuous replications, each from
// its own source database on the same server, answering paged like
// CouchDB (limit/skip; _scheduler/jobs defaults to 100). Every answer is
// rendered once, so the benchmark measures the client.
type syntheticNode struct {
	docs, jobs map[string][]byte // by "limit,skip"
	allDocs    []byte
	dbInfo     []byte
	rows       map[string]string // by doc id
	n          int
	tb         testing.TB
}

func newSyntheticNode(b testing.TB, n, pageSize int, base string) *syntheticNode {
	s := &syntheticNode{docs: map[string][]byte{}, jobs: map[string][]byte{}, rows: map[string]string{}, n: n, tb: b}
	seq := `"1500-g1AAAACfeJzLYWBgYMpgTmEQSs4vTc5ISTJ0MDQy1zMAQsMckFwiQ1L9____szKYE6VzgQLsZsmGaUZGiVh14DMojwVIMjQAqf9Q8yTB5qWmGhkZW1hi1ZgFAMJVKUk"`
	doc := func(i int) string {
		id := fmt.Sprintf("rep-%05d", i)
		state, info := "running", `{"revisions_checked":1500,"missing_revisions_found":1500,"docs_read":1500,"docs_written":1500,"changes_pending":0,"doc_write_failures":0,"bulk_get_docs":1500,"bulk_get_attempts":1500,"checkpointed_source_seq":`+seq+`,"source_seq":`+seq+`,"through_seq":`+seq+`}`
		if i%100 == 7 {
			state, info = "crashing", `{"error":"{replication_auth_error,\n    {session_request_failed,\"http://db1:5984/_session\",\"admin\",\n        {conn_failed,{error,econnrefused}}}}"}`
		}
		return fmt.Sprintf(`{"database":"_replicator","doc_id":%q,"id":"%032x+continuous","node":"couchdb@db2","source":"%s/src-%05d/","target":"%s/dst-%05d/","state":%q,"info":%s,"error_count":0,"last_updated":"2026-11-26T02:42:26Z","start_time":"2026-11-26T02:42:26Z","source_proxy":null,"target_proxy":null}`,
			id, i, base, i, base, i, state, info)
	}
	job := func(i int) string {
		return fmt.Sprintf(`{"database":"_replicator","id":"%032x+continuous","pid":"<0.1.0>","source":"%s/src-%05d/","target":"%s/dst-%05d/","user":null,"doc_id":"rep-%05d","info":null,"history":[{"timestamp":"2026-11-26T02:42:26Z","type":"started"},{"timestamp":"2026-11-26T02:42:26Z","type":"added"}],"node":"couchdb@db2","start_time":"2026-11-26T02:42:26Z"}`,
			i, base, i, base, i, i)
	}
	page := func(key string, limit, skip int, item func(int) string) []byte {
		var parts []string
		for i := skip; i < min(skip+limit, n); i++ {
			parts = append(parts, item(i))
		}
		return []byte(fmt.Sprintf(`{"total_rows":%d,"offset":%d,%q:[%s]}`, n, skip, key, strings.Join(parts, ",")))
	}
	for skip := 0; skip < n; skip += pageSize {
		k := fmt.Sprintf("%d,%d", pageSize, skip)
		s.docs[k] = page("docs", pageSize, skip, doc)
		s.jobs[k] = page("jobs", pageSize, skip, job)
	}
	var rows []string
	for i := range n {
		rows = append(rows, "")
		rows[i] = fmt.Sprintf(`{"id":"rep-%05d","key":"rep-%05d","value":{"rev":"1-a"},"doc":{"_id":"rep-%05d","_rev":"1-a","source":"http://admin:pw-%05d@%s/src-%05d","target":"http://admin:pw@%s/dst-%05d","continuous":true,"owner":"admin"}}`,
			i, i, i, i, strings.TrimPrefix(base, "http://"), i, strings.TrimPrefix(base, "http://"), i)
		s.rows[fmt.Sprintf("rep-%05d", i)] = rows[i]
	}
	s.allDocs = []byte(fmt.Sprintf(`{"total_rows":%d,"offset":0,"rows":[%s]}`, n, strings.Join(rows, ",")))
	s.dbInfo = []byte(`{"db_name":"src","update_seq":"1500-g1AAAACfeJzLYWBgYMpgTmEQSs4vTc5ISTJ0MDQy1zMAQsMckFwiQ1L9____szKYE6VzgQLsZsmGaUZGiVh14DMojwVIMjQAqf9Q8yTB5qWmGhkZW1hi1ZgFAMJVKUk","doc_count":3}`)
	return s
}

func (s *syntheticNode) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	q := r.URL.Query()
	limit, skip := q.Get("limit"), q.Get("skip")
	if skip == "" {
		skip = "0"
	}
	switch p := r.URL.Path; {
	case p == "/_scheduler/docs":
		w.Write(s.docs[limit+","+skip])
	case p == "/_scheduler/jobs":
		if limit == "" {
			limit = "100"
		}
		body, ok := s.jobs[limit+","+skip]
		if !ok {
			sk, _ := strconv.Atoi(skip)
			body = []byte(fmt.Sprintf(`{"total_rows":%d,"offset":%d,"jobs":[]}`, s.n, sk))
		}
		w.Write(body)
	case p == "/_replicator/_all_docs" && r.Method == http.MethodPost:
		zr, err := gzip.NewReader(r.Body)
		require.NoError(s.tb, err)
		var body struct {
			Keys []string `json:"keys"`
		}
		require.NoError(s.tb, json.NewDecoder(zr).Decode(&body))
		rows := make([]string, 0, len(body.Keys))
		for _, k := range body.Keys {
			rows = append(rows, s.rows[k])
		}
		fmt.Fprintf(w, `{"total_rows":%d,"offset":0,"rows":[%s]}`, s.n, strings.Join(rows, ","))
	case p == "/_replicator/_all_docs":
		w.Write(s.allDocs)
	case strings.HasPrefix(p, "/src-"):
		w.Write(s.dbInfo)
	default:
		w.WriteHeader(404)
		w.Write([]byte(`{"error":"not_found","reason":"missing"}`))
	}
}

// BenchmarkAssess5000 is the scale goal: a node with 5,000
// replications checked in under 1 s and 64 MiB. B/op (everything
// allocated, an upper bound of the live heap) is the memory figure.
func BenchmarkAssess5000(b *testing.B) {
	for _, bc := range []struct {
		name   string
		seqLag bool
	}{{"states", false}, {"states+seqlag-5000-sources", true}} {
		b.Run(bc.name, func(b *testing.B) {
			srv := httptest.NewUnstartedServer(nil)
			srv.Start()
			defer srv.Close()
			node := newSyntheticNode(b, 5000, 500, srv.URL)
			srv.Config.Handler = node
			c, hc := testClient(b, srv.URL)
			th := Thresholds{SeqLag: mustThresholdsB(b, "1000", "10000")}
			p := Probes{HTTP: hc, SeqLag: bc.seqLag}
			b.ReportAllocs()
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
			b.ReportMetric(float64(peak())/(1<<20), "peak-heap-MiB")
		})
	}
}

// samplePeakHeap samples the live heap (objects) every millisecond until
// the returned function is called, which gives the peak seen. The heap
// also holds the synthetic server's pre-rendered answers (about 20 MiB
// for 5,000 replications), so the figure is an upper bound for the check.
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
