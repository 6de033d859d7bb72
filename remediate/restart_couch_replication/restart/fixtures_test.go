package restart

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/registry-checks/registry-checks/lib/couch"
	"github.com/registry-checks/registry-checks/lib/httpclient"
	"github.com/registry-checks/registry-checks/lib/nagios"
	"github.com/registry-checks/registry-checks/lib/replication"
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
}

// fixtureNode serves node2's captured answers for one situation.
func fixtureNode(t *testing.T, situation string) *httptest.Server {
	t.Helper()
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(fixtureDir, name))
		require.NoError(t, err)
		return b
	}
	docs, jobs := read("node2.scheduler-docs."+situation+".json"), read("node2.scheduler-jobs."+situation+".json")
	files, err := filepath.Glob(filepath.Join(fixtureDir, "node2.replicator-doc.*."+situation+".json"))
	require.NoError(t, err)
	if situation == "duplicate-doc" {
		files = append(files, filepath.Join(fixtureDir, "node2.replicator-doc.duplicate-of-registry.failed.json"))
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
			ID string `json:"_id"`
		}
		require.NoError(t, json.Unmarshal(b, &head))
		if head.ID != "" { // rejected docs are 404 answers
			rows = append(rows, row{head.ID, head.ID, b})
		}
	}
	all, err := json.Marshal(map[string]any{"total_rows": len(rows), "offset": 0, "rows": rows})
	require.NoError(t, err)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		first := r.URL.Query().Get("skip") == "" || r.URL.Query().Get("skip") == "0"
		switch {
		case r.URL.Path == "/_scheduler/docs" && first:
			w.Write(docs)
		case r.URL.Path == "/_scheduler/jobs" && first:
			w.Write(jobs)
		case r.URL.Path == "/_scheduler/docs":
			w.Write([]byte(`{"total_rows":0,"offset":0,"docs":[]}`))
		case r.URL.Path == "/_scheduler/jobs":
			w.Write([]byte(`{"total_rows":0,"offset":0,"jobs":[]}`))
		case r.URL.Path == "/_replicator/_all_docs":
			w.Write(all)
		default:
			w.WriteHeader(http.StatusNotFound)
			w.Write([]byte(`{"error":"not_found","reason":"missing"}`))
		}
	}))
	t.Cleanup(ts.Close)
	return ts
}

// TestDecideOverCapturedSituations runs the handler's decision (Nagios
// CRITICAL SOFT 2) over every captured CouchDB 3.4.3 situation of node2,
// with a source check that answers as node1 did at the time.
func TestDecideOverCapturedSituations(t *testing.T) {
	sourceDown := map[string]bool{"source-down-8s": true, "source-down-30s": true, "source-down-75s": true, "source-down-150s": true, "source-down-300s": true}
	tests := []struct {
		situation string
		restart   []string // doc ids restarted
		wait      []string // source still down
		human     []string
	}{
		{situation: "running-just-started"},
		{situation: "running"},
		// Still "running" 6 s after node1 stopped: nothing to see yet.
		{situation: "source-down-8s"},
		// Restarted after its first crash: WARNING, not acted on.
		{situation: "source-down-30s"},
		{situation: "source-down-75s", wait: []string{"registry-from-node1"}},
		{situation: "source-down-150s", wait: []string{"registry-from-node1"}},
		{situation: "source-down-300s", wait: []string{"registry-from-node1"}},
		// node1 is back but the job sits in its backoff: the handler's case.
		{situation: "source-restarted-5s", restart: []string{"registry-from-node1"}},
		{situation: "source-restarted-65s", restart: []string{"registry-from-node1"}},
		{situation: "source-recovered"},
		// missing-source-db: the source check finds no database (404);
		// wrong-password: the source refuses the document's credentials.
		{situation: "bad-docs-10s", human: []string{"missing-source-db", "wrong-password"}},
		{situation: "bad-docs-70s", human: []string{"missing-source-db", "wrong-password"}},
		{situation: "bad-docs-200s", human: []string{"missing-source-db", "wrong-password"}},
		// bad-filter is "error" on a scheduler node: not a restart's job.
		{situation: "more-docs-15s", human: []string{"bad-filter", "missing-source-db", "wrong-password"}},
		{situation: "more-docs-75s", human: []string{"bad-filter", "missing-source-db", "wrong-password"}},
		// A failed duplicate is restarted like any failed replication (and
		// the rate limit stops it): the model has no "duplicate" verdict.
		{situation: "duplicate-doc", restart: []string{"duplicate-of-registry"}, human: []string{"bad-filter", "missing-source-db", "wrong-password"}},
	}
	for _, tt := range tests {
		t.Run(tt.situation, func(t *testing.T) {
			ts := fixtureNode(t, tt.situation)
			hc, err := httpclient.New(httpclient.Options{}, httpclient.Config{})
			require.NoError(t, err)
			c, err := couch.New(ts.URL, secret.Credentials{User: "admin", Password: "secret"}, hc)
			require.NoError(t, err)
			now, err := time.Parse(time.RFC3339, "2026-11-26T"+captured[tt.situation]+"Z")
			require.NoError(t, err)
			rep, err := replication.Assess(context.Background(), c, replication.Selection{}, replication.Thresholds{}, now)
			require.NoError(t, err)

			check := func(o Observed) SourceCheck {
				switch {
				case strings.HasSuffix(o.Source, "/no-such-db"):
					return SourceGone
				case o.Target.DocID == "wrong-password":
					return SourceRefused
				case sourceDown[tt.situation]:
					return SourceDown
				}
				return SourceUp
			}
			var restart, wait, human []string
			for _, o := range Observe(rep, nil) {
				ev := Event{Mode: ModeHandler, Nagios: NagiosEvent{nagios.CRITICAL, "SOFT", 2}, Replication: &o.Replication, Now: now}
				a := Decide(ev, History{}, DefaultPolicy())
				if a.Kind == CheckSource {
					ev.Source = check(o)
					a = Decide(ev, History{}, DefaultPolicy())
				}
				switch {
				case a.Kind == Restart:
					restart = append(restart, o.Target.DocID)
				case a.Code == "source_down":
					wait = append(wait, o.Target.DocID)
				case a.Kind == Human:
					human = append(human, o.Target.DocID)
				}
			}
			sort.Strings(human)
			assert.Equal(t, tt.restart, restart, "restarted")
			assert.Equal(t, tt.wait, wait, "source still down")
			assert.Equal(t, tt.human, human, "needs a human")
		})
	}
}
