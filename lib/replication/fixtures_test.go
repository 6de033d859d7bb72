package replication

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/registry-checks/registry-checks/lib/couch"
	"github.com/registry-checks/registry-checks/lib/httpclient"
	"github.com/registry-checks/registry-checks/lib/secret"
)

const fixtureDir = "testdata/couchdb-3.4.3"

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

func capturedAt(t testing.TB, situation string) time.Time {
	t.Helper()
	hms, ok := captured[situation]
	require.True(t, ok, situation)
	tm, err := time.Parse(time.RFC3339, "2026-11-26T"+hms+"Z")
	require.NoError(t, err)
	return tm
}

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixtureDir, name))
	require.NoError(t, err)
	return b
}

// allDocsOf builds the _replicator/_all_docs?include_docs=true answer from
// the captured documents of a node and situation (404s left out).
func allDocsOf(t testing.TB, node, situation string) []byte {
	t.Helper()
	matches, err := filepath.Glob(filepath.Join(fixtureDir, node+".replicator-doc.*."+situation+".json"))
	require.NoError(t, err)
	type row struct {
		ID  string          `json:"id"`
		Key string          `json:"key"`
		Doc json.RawMessage `json:"doc"`
	}
	var rows []row
	for _, m := range matches {
		b, err := os.ReadFile(m)
		require.NoError(t, err)
		var head struct {
			ID    string `json:"_id"`
			Error string `json:"error"`
		}
		require.NoError(t, json.Unmarshal(b, &head))
		if head.Error != "" {
			continue
		}
		rows = append(rows, row{ID: head.ID, Key: head.ID, Doc: b})
	}
	out, err := json.Marshal(map[string]any{"total_rows": len(rows), "offset": 0, "rows": rows})
	require.NoError(t, err)
	return out
}

// fixtureServer serves one node's captured answers for one situation.
func fixtureServer(t testing.TB, node, situation string, extra map[string]func(w http.ResponseWriter, r *http.Request)) *httptest.Server {
	t.Helper()
	docs := readFixture(t, node+".scheduler-docs."+situation+".json")
	jobsName := node + ".scheduler-jobs." + situation + ".json"
	if situation == "200-replications" {
		jobsName = node + ".scheduler-jobs.200-replications.limit-1000.json"
	}
	jobs := readFixture(t, jobsName)
	all := allDocsOf(t, node, situation)
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

func testClient(t testing.TB, url string) (*couch.Client, *httpclient.Client) {
	t.Helper()
	hc, err := httpclient.New(httpclient.Options{}, httpclient.Config{})
	require.NoError(t, err)
	c, err := couch.New(url, secret.Credentials{User: "admin", Password: "secret"}, hc)
	require.NoError(t, err)
	return c, hc
}

func byKey(rep Report) map[string]Replication {
	m := map[string]Replication{}
	for _, r := range rep.Replications {
		m[r.Key] = r
	}
	return m
}

func assessFixture(t testing.TB, node, situation string, sel Selection, th Thresholds) Report {
	t.Helper()
	ts := fixtureServer(t, node, situation, nil)
	c, _ := testClient(t, ts.URL)
	rep, err := Assess(context.Background(), c, sel, th, capturedAt(t, strings.TrimSuffix(situation, "")))
	require.NoError(t, err)
	return rep
}

func fixtureExists(name string) bool {
	_, err := os.Stat(filepath.Join(fixtureDir, name))
	return err == nil
}

// filterKeys answers POST _all_docs {"keys": [...]} with the rows of those
// keys (a missing one as CouchDB does), GET with every row.
func filterKeys(t testing.TB, r *http.Request, all []byte) []byte {
	if r.Method != http.MethodPost {
		return all
	}
	var body struct {
		Keys []string `json:"keys"`
	}
	rd := io.Reader(r.Body)
	if r.Header.Get("Content-Encoding") == "gzip" { // kivik compresses request bodies
		zr, err := gzip.NewReader(r.Body)
		require.NoError(t, err)
		rd = zr
	}
	require.NoError(t, json.NewDecoder(rd).Decode(&body))
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
