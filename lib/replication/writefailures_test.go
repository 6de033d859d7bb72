package replication

import (
	"bytes"
	"context"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/registry-checks/registry-checks/lib/nagios"
)

// A document the target refused (validate_doc_update on a replicated
// write, CouchDB 3) is skipped for good: node3's running replication as
// captured, with doc_write_failures raised, is WARNING by default and the
// first line says how many documents were refused; the ranges move it.
func TestWriteFailures(t *testing.T) {
	docs := readFixture(t, "node3.scheduler-docs.running.json")
	jobs := readFixture(t, "node3.scheduler-jobs.running.json")
	serve := func(body []byte, n string) func(w http.ResponseWriter, r *http.Request) {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			if r.URL.Query().Get("skip") != "" && r.URL.Query().Get("skip") != "0" {
				w.Write([]byte(`{"total_rows":0,"offset":0,"docs":[],"jobs":[]}`))
				return
			}
			w.Write(bytes.ReplaceAll(body, []byte(`"doc_write_failures": 0`), []byte(`"doc_write_failures": `+n)))
		}
	}
	warn := func(s string) *nagios.Range { r, err := nagios.ParseRange(s); require.NoError(t, err); return &r }
	for _, tc := range []struct {
		name, failures string
		th             nagios.Thresholds
		want           nagios.Status
		first          string
	}{
		{"none", "0", nagios.Thresholds{Warn: warn("0")}, nagios.OK, "1 replication OK"},
		{"one, default", "1", nagios.Thresholds{Warn: warn("0")}, nagios.WARNING, "1 document refused by the target"},
		{"many, critical", "52", nagios.Thresholds{Warn: warn("0"), Crit: warn("10")}, nagios.CRITICAL, "52 documents refused by the target"},
		{"tolerated", "3", nagios.Thresholds{Warn: warn("5")}, nagios.OK, "1 replication OK"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := fixtureServer(t, "node3", "running", map[string]func(w http.ResponseWriter, r *http.Request){
				"GET /_scheduler/docs": serve(docs, tc.failures),
				"GET /_scheduler/jobs": serve(jobs, tc.failures),
			})
			c, _ := testClient(t, ts.URL)
			rep, err := Assess(context.Background(), c, Selection{DocIDs: []string{"registry-from-node1"}}, Thresholds{WriteFailures: tc.th}, capturedAt(t, "running"))
			require.NoError(t, err)
			res := rep.Result()
			assert.Equal(t, tc.want, res.Status, res.Summary)
			assert.Contains(t, res.Summary, tc.first)
			out := nagios.Render("COUCH_REPLICATION", res, nagios.RenderOptions{})
			assert.Contains(t, out, "'registry-from-node1 doc_write_failures'="+tc.failures+"c;")
		})
	}
}
