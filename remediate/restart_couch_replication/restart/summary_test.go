package restart

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/registry-checks/registry-checks/lib/nagios"
	"github.com/registry-checks/registry-checks/lib/replication"
)

func TestSummarize(t *testing.T) {
	down := replication.Cause{What: replication.CauseSourceUnreachable, Server: "http://db1:5984", Detail: "connection closed"}
	obs := func(id string, c replication.Cause) *Observed {
		return &Observed{Replication: Replication{Key: "_replicator/" + id, State: "crashing", Cause: c}, Source: "http://db1:5984/" + id, Target: Target{DocID: id}}
	}
	many := func(kind outcomeKind, n int, c replication.Cause, a Action) []outcome {
		var out []outcome
		for i := range n {
			out = append(out, newOutcome(kind, obs(fmt.Sprintf("small-%03d", i), c), a, "clause"))
		}
		return out
	}
	filter := replication.Cause{What: replication.CauseFilterMissing, Detail: "_design/nosuch not found"}
	human := newOutcome(outHuman, obs("bad-filter", filter), Action{Kind: Human, Code: "not_restartable"}, "bad-filter error (...): needs a human")
	gone := newOutcome(outHuman, obs("missing-source", replication.Cause{What: replication.CauseSourceUnreachable, Server: "http://db1:5984"}), Action{Kind: Human, Code: "source_gone"}, "missing-source: the source database is gone")

	tests := []struct {
		name string
		outs []outcome
		want string
	}{
		{"the issue's outage", append(many(outRestarted, 202, down, Action{Kind: Restart}), human),
			"restarted 202 replications from http://db1:5984 (source back; small-000, small-001 and 200 more); 1 needs a human (bad-filter: filter missing on source)"},
		{"waiting for the source", append(many(outWaiting, 204, down, Action{Kind: Wait, Code: "source_down"}), human),
			"1 needs a human (bad-filter: filter missing on source); 204 waiting for http://db1:5984 (source still down; small-000, small-001 and 202 more)"},
		{"dry run", many(outWouldRestart, 3, down, Action{Kind: Restart}),
			"would restart 3 replications from http://db1:5984 (source back; small-000, small-001 and 1 more)"},
		{"restarts failed, with their cause", append(many(outRestartFailed, 3, down, Action{Kind: Restart, Code: "restart_failed", Why: "restart of x failed: DELETE http://db2:5984/_replicator/x: connection refused"}), human),
			"3 restarts failed (connection refused; small-000, small-001 and 1 more); 1 needs a human (bad-filter: filter missing on source)"},
		{"first failures", many(outNextRun, 200, down, Action{Kind: Wait, Code: "first_failure"}),
			"200 to restart if still failing next run (source unreachable; small-000, small-001 and 198 more)"},
		{"each alone: the clause as it was", []outcome{human}, "bad-filter error (...): needs a human"},
		{"people, each with a reason", []outcome{human, gone}, "2 need a human (bad-filter: filter missing on source, missing-source: source database missing)"},
		{"source gone is named for what the source check found", append(many(outRestarted, 2, down, Action{Kind: Restart}), gone),
			"restarted 2 replications from http://db1:5984 (source back; small-000, small-001); 1 needs a human (missing-source: source database missing)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := summarize(tt.outs)
			assert.Equal(t, tt.want, got)
			assert.LessOrEqual(t, len(got), nagios.GroupBudget)
		})
	}
}

// A thousand replications from 300 sources, every kind of outcome: the
// first line keeps its bound.
func TestSummarizeBounded(t *testing.T) {
	var outs []outcome
	for i := range 1000 {
		c := replication.Cause{What: replication.CauseSourceUnreachable, Server: fmt.Sprintf("http://db%d.example.org:5984", i%300), Detail: "connection refused"}
		o := &Observed{Replication: Replication{Key: fmt.Sprintf("_replicator/r-%04d", i), Cause: c}, Source: c.Server + "/x", Target: Target{DocID: fmt.Sprintf("r-%04d", i)}}
		outs = append(outs, newOutcome(outcomeKind(i%5), o, Action{Code: "rate_limited"}, "a clause that is long enough to matter when there are a thousand of them"))
	}
	got := summarize(outs)
	assert.LessOrEqual(t, len(got), nagios.GroupBudget, got)
	assert.Contains(t, got, "more (")
}
