package restart

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/registry-checks/registry-checks/lib/couch"
	"github.com/registry-checks/registry-checks/lib/nagios"
)

// atLimit is issue 27's node: maxJobs jobs running, the rest of the
// recreated ones pending. It serves the documents (fakeCouch), the
// scheduler's config and gauges, and confirms the first maxJobs
// restarted replications running and the others pending.
type atLimit struct {
	*fakeCouch
	config  string // the answer of _config/replicator
	running int
	pending int
}

func (a *atLimit) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/_node/_local/_config/replicator":
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, a.config)
	case "/_node/_local/_stats/couch_replicator":
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"jobs":{"running":{"value":%d,"type":"gauge"},"pending":{"value":%d,"type":"gauge"},"total":{"value":%d,"type":"gauge"},"crashed":{"value":0,"type":"gauge"}}}`,
			a.running, a.pending, a.running+a.pending)
	default:
		a.fakeCouch.ServeHTTP(w, r)
	}
}

// limitRun restarts n crashing replications of one source on a node
// that confirms the first started ones running and the rest pending, and
// returns the handler's first line and result.
func limitRun(t *testing.T, n, started int, config string, running, pending int) (string, nagios.Result) {
	f := newFakeCouch(nil)
	var obs []Observed
	for i := range n {
		id := fmt.Sprintf("small-%03d", i)
		d := storedDoc()
		d["_id"], d["_rev"] = id, "3-abc"
		f.docs[id], f.revs[id] = d, 3
		o := obsCrashing()
		o.Key, o.Target.Key, o.Target.DocID = "_replicator/"+id, "_replicator/"+id, id
		obs = append(obs, o)
	}
	node := &atLimit{fakeCouch: f, config: config, running: running, pending: pending}
	srv := httptest.NewServer(node)
	t.Cleanup(srv.Close)
	c, _ := newExec(t, f, func(_ context.Context, ts []Target) (map[string]JobState, error) {
		out := map[string]JobState{}
		for _, tg := range ts {
			var k int
			fmt.Sscanf(tg.DocID, "small-%03d", &k)
			if k < started {
				out[tg.where()] = JobState{State: "running", Running: true}
			} else {
				out[tg.where()] = JobState{State: "pending"}
			}
		}
		return out, nil
	})
	cc, err := couch.New(srv.URL, c.Creds, c.HTTP)
	require.NoError(t, err)
	c.Client, c.ConfirmWithin = cc, time.Second
	w := newWorld(t, obs...)
	res := Run(context.Background(), Config{Mode: ModeHandler, Event: NagiosEvent{State: nagios.CRITICAL, Type: "SOFT", Attempt: 2}, Policy: DefaultPolicy(), Node: srv.URL}, Deps{
		Assess:      func(context.Context) ([]Observed, error) { return obs, nil },
		CheckSource: func(context.Context, Observed) (SourceCheck, string) { return SourceUp, "" },
		Exec:        c, Store: w.store, Log: w.log, Now: func() time.Time { return t0 },
	})
	first, _, _ := strings.Cut(nagios.Render("RESTART_COUCH_REPLICATION", res, nagios.RenderOptions{}), "\n")
	t.Log(first)
	assert.Less(t, len(first), 300, first)
	return first, res
}

// TestRestartQueuedBehindMaxJobs is issue 27's handler: 130 replications
// restarted on a node at max_jobs 100 (the config says so), 100 running
// and 30 pending. The 30 are started and queued, not failed: the run is
// OK, and says so in one clause. The old handler waited for them, then
// said "1 restart failed" once per replication.
func TestRestartQueuedBehindMaxJobs(t *testing.T) {
	first, res := limitRun(t, 130, 100, `{"max_jobs":"100"}`, 100, 30)
	assert.Equal(t, nagios.OK, res.Status, first)
	assert.Contains(t, first, "RESTART_COUCH_REPLICATION OK - restarted 130 replications from http://db1:5984 (crashing")
	assert.Contains(t, first, "), 30 queued behind max_jobs 100")
	assert.NotContains(t, first, "failed")
}

// TestRestartQueuedDefaultMaxJobs: the node's config answers {} (every
// value a default): max_jobs is 500, and 600 jobs exceed it.
func TestRestartQueuedDefaultMaxJobs(t *testing.T) {
	first, res := limitRun(t, 105, 0, `{}`, 500, 105)
	assert.Equal(t, nagios.OK, res.Status, first)
	assert.Contains(t, first, "), 105 queued behind max_jobs 500")
}

// TestRestartPendingBelowLimitFailsOnce: pending on a node that is not at
// its limit is a job that did not start, a failure; 30 such failures are
// one clause with their shared cause, never one per replication (the
// old handler's "1 restart failed; 1 restart failed; ...").
func TestRestartPendingBelowLimitFailsOnce(t *testing.T) {
	first, res := limitRun(t, 130, 100, `{"max_jobs":"500"}`, 100, 30)
	assert.Equal(t, nagios.CRITICAL, res.Status, first)
	assert.Contains(t, first, "RESTART_COUCH_REPLICATION CRITICAL - 30 restarts failed (no running job within 1s (state pending)")
	assert.Equal(t, 1, strings.Count(first, "restarts failed"), first)
	assert.NotContains(t, first, "restart failed;")
	assert.Contains(t, first, "restarted 100 replications from http://db1:5984")
}
