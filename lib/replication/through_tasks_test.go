package replication

import (
	"context"
	"encoding/json"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// nullInfo returns a captured _scheduler answer (docs or jobs) with every
// info object null, as CouchDB 3.4.3 answers right after a restart for a
// job with nothing new to replicate
// (node2.scheduler-doc.small-007.running-info-null-after-restart.json).
func nullInfo(t *testing.T, name, list string) []byte {
	t.Helper()
	var v map[string]any
	require.NoError(t, json.Unmarshal(readFixture(t, name), &v))
	for _, x := range v[list].([]any) {
		x.(map[string]any)["info"] = nil
	}
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return b
}

// A running job without stats takes its written sequence from its task
// in _active_tasks (there through_seq is set while the job's source_seq
// is still "0"); without such jobs _active_tasks is not asked.
func TestThroughSeqFromActiveTasksAfterRestart(t *testing.T) {
	tasks := readFixture(t, "node3.active-tasks.source-recovered.json")
	var want []struct {
		ThroughSeq string `json:"through_seq"`
	}
	require.NoError(t, json.Unmarshal(tasks, &want))
	require.Len(t, want, 1)

	for _, null := range []bool{true, false} {
		var asked atomic.Int32
		extra := map[string]func(http.ResponseWriter, *http.Request){
			"GET /_active_tasks": func(w http.ResponseWriter, r *http.Request) {
				asked.Add(1)
				w.Write(tasks)
			},
		}
		if null {
			docs := nullInfo(t, "node3.scheduler-docs.source-recovered.json", "docs")
			jobs := nullInfo(t, "node3.scheduler-jobs.source-recovered.json", "jobs")
			extra["GET /_scheduler/docs"] = func(w http.ResponseWriter, r *http.Request) { w.Write(docs) }
			extra["GET /_scheduler/jobs"] = func(w http.ResponseWriter, r *http.Request) { w.Write(jobs) }
		}
		ts := fixtureServer(t, "node3", "source-recovered", extra)
		c, _ := testClient(t, ts.URL)
		rep, err := Assess(context.Background(), c, Selection{}, Thresholds{}, capturedAt(t, "source-recovered"))
		require.NoError(t, err)
		require.Len(t, rep.Replications, 1)
		r := rep.Replications[0]
		assert.Equal(t, Running, r.State)
		assert.Equal(t, want[0].ThroughSeq, r.ThroughSeq().String(), "null info: %v", null)
		if null {
			assert.EqualValues(t, 1, asked.Load())
		} else {
			assert.EqualValues(t, 0, asked.Load(), "every job had stats")
		}
		assert.Empty(t, rep.Notes)
	}
}
