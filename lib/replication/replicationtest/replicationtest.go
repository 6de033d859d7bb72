// Package replicationtest serves the CouchDB 3.4.3 answers captured in
// lib/replication/testdata (copied from the shared fixtures) as the node
// gave them in each captured situation, for the tests of the replication
// model and of the restart handler alike.
package replicationtest

import (
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Dir is the folder of the captured answers.
func Dir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "testdata", "couchdb-3.4.3")
}

// captured is the capture time of each situation (README of the fixtures).
var captured = map[string]string{
	"running-just-started": "02:42:43", "running": "02:44:00",
	"source-down-8s": "02:44:27", "source-down-30s": "02:44:49", "source-down-75s": "02:45:34",
	"source-down-150s": "02:46:49", "source-down-300s": "02:49:19",
	"source-restarted-5s": "02:49:25", "source-restarted-65s": "02:50:25", "source-recovered": "02:51:59",
	"bad-docs-10s": "02:52:12", "bad-docs-70s": "02:53:12", "bad-docs-200s": "02:55:22",
	"more-docs-15s": "02:55:53", "more-docs-75s": "02:56:53", "duplicate-doc": "02:57:18",
	"replication-lagging": "02:58:53", "200-replications": "02:59:49", "200-replications.after-restart": "03:03:20",
}

// CapturedAt is when a situation was captured, on the capture machine's
// clock: the "now" that makes the captured timestamps mean what they meant.
func CapturedAt(t testing.TB, situation string) time.Time {
	t.Helper()
	hms, ok := captured[situation]
	require.True(t, ok, situation)
	tm, err := time.Parse(time.RFC3339, "2026-11-26T"+hms+"Z")
	require.NoError(t, err)
	return tm
}

// Read returns one captured file.
func Read(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(Dir(), name))
	require.NoError(t, err)
	return b
}

// AllDocs builds the _replicator/_all_docs?include_docs=true answer from the
// captured documents of a node and situation (docs rejected at PUT, whose
// captures are 404 answers, left out).
func AllDocs(t testing.TB, node, situation string) []byte {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(Dir(), node+".replicator-doc.*."+situation+".json"))
	require.NoError(t, err)
	if situation == "duplicate-doc" {
		// Captured once, after it failed.
		files = append(files, filepath.Join(Dir(), node+".replicator-doc.duplicate-of-registry.failed.json"))
	}
	type row struct {
		ID  string          `json:"id"`
		Key string          `json:"key"`
		Doc json.RawMessage `json:"doc"`
	}
	var rows []row
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		var head struct {
			ID    string `json:"_id"`
			Error string `json:"error"`
		}
		require.NoError(t, json.Unmarshal(b, &head))
		if head.Error != "" || head.ID == "" {
			continue
		}
		rows = append(rows, row{ID: head.ID, Key: head.ID, Doc: b})
	}
	out, err := json.Marshal(map[string]any{"total_rows": len(rows), "offset": 0, "rows": rows})
	require.NoError(t, err)
	return out
}

// Node serves one node's captured answers for one situation: the
// _scheduler endpoints (one page), _replicator/_all_docs (honouring the
// keys of a POST) and 404 for the rest. extra handlers, keyed "METHOD
// /path", come first.
func Node(t testing.TB, node, situation string, extra map[string]func(w http.ResponseWriter, r *http.Request)) *httptest.Server {
	t.Helper()
	docs := Read(t, node+".scheduler-docs."+situation+".json")
	jobsName := node + ".scheduler-jobs." + situation + ".json"
	if situation == "200-replications" {
		jobsName = node + ".scheduler-jobs.200-replications.limit-1000.json"
	}
	jobs := Read(t, jobsName)
	all := AllDocs(t, node, situation)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h := extra[r.Method+" "+r.URL.Path]; h != nil {
			h(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		first := r.URL.Query().Get("skip") == "" || r.URL.Query().Get("skip") == "0"
		switch r.URL.Path {
		case "/_scheduler/docs":
			if first {
				w.Write(docs)
			} else {
				w.Write([]byte(`{"total_rows":0,"offset":0,"docs":[]}`))
			}
		case "/_scheduler/jobs":
			if first {
				w.Write(jobs)
			} else {
				w.Write([]byte(`{"total_rows":0,"offset":0,"jobs":[]}`))
			}
		case "/_replicator/_all_docs":
			w.Write(filterKeys(t, r, all))
		default:
			w.WriteHeader(http.StatusNotFound)
			w.Write([]byte(`{"error":"not_found","reason":"missing"}`))
		}
	}))
	t.Cleanup(ts.Close)
	return ts
}

// filterKeys answers a POST _all_docs with only the rows of its keys, and
// a not_found row for each key that has none, as CouchDB does.
func filterKeys(t testing.TB, r *http.Request, all []byte) []byte {
	if r.Method != http.MethodPost {
		return all
	}
	var body struct {
		Keys []string `json:"keys"`
	}
	require.NoError(t, json.NewDecoder(readBody(t, r)).Decode(&body))
	var resp struct {
		Rows []json.RawMessage `json:"rows"`
	}
	require.NoError(t, json.Unmarshal(all, &resp))
	byID := map[string]json.RawMessage{}
	for _, row := range resp.Rows {
		var head struct {
			ID string `json:"id"`
		}
		require.NoError(t, json.Unmarshal(row, &head))
		byID[head.ID] = row
	}
	var rows []json.RawMessage
	for _, k := range body.Keys {
		if row, ok := byID[k]; ok {
			rows = append(rows, row)
		} else {
			rows = append(rows, json.RawMessage(`{"key":"`+k+`","error":"not_found"}`))
		}
	}
	out, err := json.Marshal(map[string]any{"total_rows": len(resp.Rows), "offset": 0, "rows": rows})
	require.NoError(t, err)
	return out
}

// readBody is the request's body, uncompressed: kivik compresses request
// bodies.
func readBody(t testing.TB, r *http.Request) io.Reader {
	if r.Header.Get("Content-Encoding") != "gzip" {
		return r.Body
	}
	zr, err := gzip.NewReader(r.Body)
	require.NoError(t, err)
	return zr
}
