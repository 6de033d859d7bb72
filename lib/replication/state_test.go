package replication

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/registry-checks/registry-checks/lib/couch"
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
	wrongPW := want{state: Crashing, status: nagios.CRITICAL, reason: "authentication refused by source (user mirror), 3 errors", errorCount: 3}
	badFilter := want{state: Error, status: nagios.CRITICAL, reason: "filter missing on source (no such filter in _design/app)", errorCount: 2}
	oneShot := want{state: Completed, status: nagios.OK}
	dup := want{state: Failed, status: nagios.CRITICAL, reason: "duplicate replication (same as registry-from-node1: delete one); will not retry", errorCount: 1}

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
		{"node2", "source-down-30s", map[string]want{reg: {state: Running, status: nagios.WARNING, reason: "CouchDB retried it 1s ago after a crash: source unreachable (timed out)", sourceDown: true}}, 1},
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
			"_replicator/wrong-password":    {state: Crashing, status: nagios.CRITICAL, reason: "authentication refused by source (user mirror), 1 error", errorCount: 1},
		}, 3},
		{"node2", "bad-docs-200s", map[string]want{reg: recovered, "_replicator/missing-source-db": missingDB, "_replicator/wrong-password": wrongPW}, 3},
		{"node2", "more-docs-75s", map[string]want{reg: recovered, "_replicator/bad-filter": badFilter, "_replicator/one-shot": oneShot, "_replicator/missing-source-db": missingDB, "_replicator/wrong-password": wrongPW}, 5},
		{"node2", "duplicate-doc", map[string]want{reg: recovered, "_replicator/duplicate-of-registry": dup, "_replicator/one-shot": oneShot}, 6},
		{"node2", "replication-lagging", map[string]want{reg: recovered}, 6},
		{"node3", "running", map[string]want{reg: ok, "transient:cfa1b65b7a103bafa28027a854623d52+continuous+create_target": ok}, 2},
		// The transient job vanished with its source: only --expect can tell.
		{"node3", "source-down-30s", map[string]want{reg: {state: Running, status: nagios.WARNING, reason: "CouchDB retried it 1s ago after a crash", sourceDown: true}}, 1},
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

// TestSchedulerStatesNotCaptured covers what the 3.4.3 capture never
// showed: pending (max_jobs never reached), initializing for long, a
// pending job whose history ends in a crash, --continuous.
func TestSchedulerStatesNotCaptured(t *testing.T) {
	now := time.Date(2026, 11, 26, 3, 0, 0, 0, time.UTC)
	ts := func(ago time.Duration) couch.Timestamp { return couch.Timestamp{Time: now.Add(-ago)} }
	doc := func(state string, ago time.Duration) couch.SchedulerDoc {
		return couch.SchedulerDoc{Database: "_replicator", DocID: "d", ID: "abc+continuous", State: state, LastUpdated: ts(ago),
			Source: "http://db1:5984/registry/", Target: "http://db2:5984/registry/"}
	}
	job := func(events ...couch.JobEvent) []couch.SchedulerJob {
		return []couch.SchedulerJob{{Database: "_replicator", DocID: "d", ID: "abc+continuous", History: events}}
	}
	crashed := couch.JobEvent{Type: "crashed", Timestamp: ts(10 * time.Second), Reason: "{replication_auth_error,{session_request_failed,\"http://db1:5984/_session\",\"admin\",{conn_failed,{error,econnrefused}}}}"}
	started := couch.JobEvent{Type: "started", Timestamp: ts(time.Hour)}
	tests := []struct {
		name   string
		doc    couch.SchedulerDoc
		jobs   []couch.SchedulerJob
		th     Thresholds
		state  string
		status nagios.Status
		reason string
	}{
		{"pending briefly", doc("pending", time.Minute), nil, Thresholds{}, Pending, nagios.OK, ""},
		{"pending too long", doc("pending", 20*time.Minute), nil, Thresholds{}, Pending, nagios.WARNING, "pending for 20m00s"},
		{"pending but crashed", doc("pending", time.Minute), job(crashed, started), Thresholds{}, Crashing, nagios.CRITICAL, "source unreachable (connection refused)"},
		{"initializing briefly", doc("initializing", 30*time.Second), nil, Thresholds{}, Initializing, nagios.OK, ""},
		{"initializing too long", doc("initializing", 3*time.Minute), nil, Thresholds{InitializingAge: time.Minute}, Initializing, nagios.WARNING, "initializing for 3m00s"},
		{"completed one-shot (id null, as 3.4.3 shows it)", func() couch.SchedulerDoc { d := doc("completed", time.Minute); d.ID = ""; return d }(), nil, Thresholds{}, Completed, nagios.OK, ""},
		{"completed, but its id says continuous", doc("completed", time.Minute), nil, Thresholds{}, Completed, nagios.CRITICAL, "should be continuous"},
		{"completed, all must be continuous", func() couch.SchedulerDoc { d := doc("completed", time.Minute); d.ID = ""; return d }(), nil, Thresholds{Continuous: true}, Completed, nagios.CRITICAL, "should be continuous"},
		{"a state this check does not know", doc("paused", time.Minute), nil, Thresholds{}, "paused", nagios.UNKNOWN, `state "paused"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			all := fromScheduler([]couch.SchedulerDoc{tt.doc}, tt.jobs)
			require.Len(t, all, 1)
			judgeState(&all[0], tt.th.withDefaults(), now)
			assert.Equal(t, tt.state, all[0].State)
			assert.Equal(t, tt.status, all[0].Status, all[0].Reason)
			if tt.reason == "" {
				assert.Empty(t, all[0].Reason)
			} else {
				assert.Contains(t, all[0].Reason, tt.reason)
			}
		})
	}
}

// A state CouchDB knows is folded to lower case; any other text the
// server sent stays as sent, so that the run's redactor still finds a
// password in it.
func TestStateNameKeepsServerText(t *testing.T) {
	assert.Equal(t, Crashing, stateName("CRASHING"))
	assert.Equal(t, Running, stateName("running"))
	assert.Equal(t, "echo-Sup3rSecret", stateName("echo-Sup3rSecret"))
}
