package replication

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/registry-checks/registry-checks/lib/nagios"
)

// TestStateMappingOverCapturedSituations walks every captured 3.4.3
// situation and checks what the model says about each replication in it.
func TestStateMappingOverCapturedSituations(t *testing.T) {
	type want struct {
		state      string
		status     nagios.Status
		reason     string // substring; "" means the reason must be empty
		sourceDown bool
		errorCount int
	}
	const reg = "_replicator/registry-from-node1"
	ok := want{state: Running, status: nagios.OK}
	down := func(n int) want {
		return want{state: Crashing, status: nagios.CRITICAL, reason: "source unreachable (connection refused), " + map[int]string{1: "1 error", 2: "2 errors", 3: "3 errors"}[n], sourceDown: true, errorCount: n}
	}
	recovered := want{state: Running, status: nagios.OK, errorCount: 3}
	missingDB := want{state: Crashing, status: nagios.CRITICAL, reason: "source database missing, 3 errors", errorCount: 3}
	wrongPW := want{state: Crashing, status: nagios.CRITICAL, reason: "authentication failed at source for user mirror, 3 errors", errorCount: 3}
	badFilter := want{state: Error, status: nagios.CRITICAL, reason: "filter not found or broken on source", errorCount: 2}
	oneShot := want{state: Completed, status: nagios.OK}
	dup := want{state: Failed, status: nagios.CRITICAL, reason: "duplicate of replication doc registry-from-node1: delete one of them; will not retry: restart needed", errorCount: 1}

	tests := []struct {
		node, situation string
		want            map[string]want
		count           int
	}{
		{"node2", "running-just-started", map[string]want{reg: ok}, 1},
		{"node2", "running", map[string]want{reg: ok}, 1},
		{"node2", "source-down-8s", map[string]want{reg: ok}, 1},
		// The changes reader died 1 s ago and the job was restarted at
		// once: running, but not to be trusted yet.
		{"node2", "source-down-30s", map[string]want{reg: {state: Running, status: nagios.WARNING, reason: "restarted 1s ago after a crash: changes feed from source died (timeout)", sourceDown: true}}, 1},
		{"node2", "source-down-75s", map[string]want{reg: down(1)}, 1},
		{"node2", "source-down-150s", map[string]want{reg: down(2)}, 1},
		{"node2", "source-down-300s", map[string]want{reg: down(3)}, 1},
		// The source is back, but the job waits for its backoff: still
		// crashing, as CouchDB says.
		{"node2", "source-restarted-5s", map[string]want{reg: down(3)}, 1},
		{"node2", "source-restarted-65s", map[string]want{reg: down(3)}, 1},
		// error_count stays 3 after the recovery; the history decides.
		{"node2", "source-recovered", map[string]want{reg: recovered}, 1},
		{"node2", "bad-docs-10s", map[string]want{
			reg:                             recovered,
			"_replicator/missing-source-db": {state: Crashing, status: nagios.CRITICAL, reason: "source database missing, 1 error", errorCount: 1},
			"_replicator/wrong-password":    {state: Crashing, status: nagios.CRITICAL, reason: "authentication failed at source for user mirror, 1 error", errorCount: 1},
		}, 3},
		{"node2", "bad-docs-200s", map[string]want{reg: recovered, "_replicator/missing-source-db": missingDB, "_replicator/wrong-password": wrongPW}, 3},
		{"node2", "more-docs-75s", map[string]want{reg: recovered, "_replicator/bad-filter": badFilter, "_replicator/one-shot": oneShot, "_replicator/missing-source-db": missingDB, "_replicator/wrong-password": wrongPW}, 5},
		{"node2", "duplicate-doc", map[string]want{reg: recovered, "_replicator/duplicate-of-registry": dup, "_replicator/one-shot": oneShot}, 6},
		{"node2", "replication-lagging", map[string]want{reg: recovered}, 6},
		{"node3", "running", map[string]want{reg: ok, "transient:cfa1b65b7a103bafa28027a854623d52+continuous+create_target": ok}, 2},
		// The transient job vanished with its source: only --expect can tell.
		{"node3", "source-down-30s", map[string]want{reg: {state: Running, status: nagios.WARNING, reason: "restarted 1s ago after a crash", sourceDown: true}}, 1},
		{"node3", "source-down-300s", map[string]want{reg: down(3)}, 1},
		{"node3", "source-recovered", map[string]want{reg: recovered}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.node+"/"+tt.situation, func(t *testing.T) {
			rep := assessFixture(t, tt.node, tt.situation, Selection{}, Thresholds{})
			require.True(t, rep.Scheduler)
			assert.Len(t, rep.Replications, tt.count)
			got := byKey(rep)
			for key, w := range tt.want {
				r, ok := got[key]
				require.True(t, ok, "no %s in %v", key, got)
				assert.Equal(t, w.state, r.State, key)
				assert.Equal(t, w.status, r.Status, "%s: %s", key, r.Reason)
				if w.reason == "" {
					assert.Empty(t, r.Reason, key)
				} else {
					assert.Contains(t, r.Reason, w.reason, key)
				}
				assert.Equal(t, w.sourceDown, r.SourceDown, key)
				assert.Equal(t, w.errorCount, r.ErrorCount, key)
				switch {
				case r.Transient:
				case r.Status == nagios.OK && r.State != Completed:
					assert.Nil(t, r.Doc, "%s: a healthy replication costs no document read", key)
				case fixtureExists(tt.node + ".replicator-doc." + r.DocID + "." + tt.situation + ".json"):
					assert.NotEmpty(t, r.Doc, "%s: the handler needs the document", key)
					assert.Equal(t, w.state != Completed, r.Continuous, key)
				}
			}
		})
	}
}

func TestRunningInfoNullAfterRestart(t *testing.T) {
	rep := assessFixture(t, "node2", "200-replications.after-restart", Selection{DocIDs: []string{"small-007"}}, Thresholds{})
	require.Len(t, rep.Replications, 1)
	r := rep.Replications[0]
	assert.Equal(t, Running, r.State)
	assert.Equal(t, nagios.OK, r.Status)
	assert.False(t, r.HasStats, "info is null until the first checkpoint")
}

func TestTwoHundredReplicationsAllPagesRead(t *testing.T) {
	rep := assessFixture(t, "node2", "200-replications", Selection{}, Thresholds{})
	assert.Equal(t, 206, rep.Found)
	var running, critical int
	for _, r := range rep.Replications {
		if r.State == Running {
			running++
		}
		if r.Status == nagios.CRITICAL {
			critical++
		}
	}
	assert.Equal(t, 201, running)
	assert.Equal(t, 4, critical, "missing-source-db, wrong-password, bad-filter, duplicate")
}
