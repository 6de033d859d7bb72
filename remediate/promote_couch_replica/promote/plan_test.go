package promote

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/registry-checks/registry-checks/lib/nagios"
)

func topo() Topology {
	return Topology{
		Old: "http://db1:5984", New: "http://db3:5984", Replicas: []string{"http://db2:5984"},
		DBs:          []string{"registry", "small-000"},
		NewPulls:     []Pull{{Node: "http://db3:5984", ReplicatorDB: "_replicator", ID: "registry-from-db1", DB: "registry"}},
		ReplicaPulls: []Pull{{Node: "http://db2:5984", ReplicatorDB: "_replicator", ID: "registry-from-db1", DB: "registry"}},
	}
}

func kinds(steps []Step) []Kind {
	out := make([]Kind, len(steps))
	for i, s := range steps {
		out[i] = s.Kind
	}
	return out
}

func TestPlan(t *testing.T) {
	base := Options{CatchUpTimeout: time.Minute, VerifyTimeout: 30 * time.Second}
	tests := []struct {
		name string
		opts func(o *Options)
		want []Kind
	}{
		{"defaults", func(*Options) {}, []Kind{Fence, CatchUp, Stop, Unfence, Rewire, Switch, Verify}},
		{"demote after the switch", func(o *Options) { o.DemoteOld = true }, []Kind{Fence, CatchUp, Stop, Unfence, Rewire, Switch, Demote, Verify}},
		{"fence at the load balancer: no fence document to remove", func(o *Options) { o.FenceCommand = "lb-drain db1" },
			[]Kind{Fence, CatchUp, Stop, Rewire, Switch, Verify}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := base
			tc.opts(&o)
			steps := Plan(topo(), o)
			assert.Equal(t, tc.want, kinds(steps))
			for i, s := range steps {
				assert.Equal(t, i+1, s.N)
			}
		})
	}
}

func TestPlanNamesEveryDocumentAndCommand(t *testing.T) {
	steps := Plan(topo(), Options{ConfigCommand: "ansible-playbook switch.yml", FenceCommand: "lb-drain"})
	assert.Equal(t, "lb-drain", steps[0].Command)
	assert.Equal(t, []string{"_replicator/registry-from-db1"}, steps[2].Docs)
	assert.Equal(t, []string{"_replicator/registry-from-db1", "registry/_design/registry-checks-fence", "small-000/_design/registry-checks-fence"}, steps[3].Docs)
	assert.Equal(t, "ansible-playbook switch.yml", steps[4].Command)
	assert.Contains(t, steps[4].Text, "PROMOTE_NEW_PRIMARY_URL=http://db3:5984")
	assert.Equal(t, []string{"registry/" + HeartbeatID}, steps[5].Docs, "the heartbeat goes to the first database")
}

func TestRollbackUndoesOnlyWhatWasDone(t *testing.T) {
	o := Options{ConfigCommand: "switch", DemoteOld: true}
	tests := []struct {
		name string
		done []Kind
		want []Kind
	}{
		{"nothing done", nil, []Kind{UndoNothing}},
		{"fenced only", []Kind{Fence}, []Kind{UnfenceOld, VerifyBack}},
		{"stopped after the stop", []Kind{Fence, CatchUp, Stop}, []Kind{UnfenceOld, Restore, VerifyBack}},
		{"everything: the new primary is fenced and copied back before the old one takes writes, and unfenced before its pulls are restored",
			[]Kind{Fence, CatchUp, Stop, Unfence, Rewire, Switch, Demote, Verify},
			[]Kind{Undemote, FenceNew, UnfenceOld, Backfill, SwitchBack, UnfenceNew, Restore, Restore, VerifyBack}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, kinds(Rollback(topo(), o, tc.done)))
		})
	}
}

// fakeDoer records the steps and fails the ones named.
type fakeDoer struct {
	did  []Kind
	fail map[Kind]int // fail this many times
}

func (f *fakeDoer) Do(_ context.Context, s Step) (string, error) {
	f.did = append(f.did, s.Kind)
	if f.fail[s.Kind] > 0 {
		f.fail[s.Kind]--
		return "", errors.New("GET http://db2:5984/_replicator/registry-from-db1: connection refused")
	}
	return "ok", nil
}

func deps(t *testing.T, f *fakeDoer) (Deps, *[]string) {
	var lines []string
	return Deps{
		Discover: func(context.Context) (Topology, error) { return topo(), nil },
		Exec:     func(Topology, Options, map[string]string) Doer { return f },
		State:    StateFile{Path: filepath.Join(t.TempDir(), "state.json")},
		Log:      func(l string) { lines = append(lines, l) },
	}, &lines
}

func TestExecuteStopsThenResumes(t *testing.T) {
	f := &fakeDoer{fail: map[Kind]int{Rewire: 1}}
	d, lines := deps(t, f)
	d.Redact = func(s string) string { return strings.ReplaceAll(s, "db2:5984", "<redacted>") }
	res := Run(context.Background(), Config{Mode: ModeExecute}, d)
	assert.Equal(t, nagios.CRITICAL, res.Status)
	assert.Contains(t, res.Summary, "stopped at step 5 (rewire): GET http://<redacted>/_replicator/registry-from-db1: connection refused; run with --resume to go on or --rollback to undo")
	b, err := os.ReadFile(d.State.Path)
	require.NoError(t, err)
	assert.NotContains(t, string(b), "db2:5984/_replicator", "the state file keeps server text redacted")
	assert.Equal(t, []Kind{Fence, CatchUp, Stop, Unfence, Rewire}, f.did)
	assert.Contains(t, strings.Join(*lines, "\n"), "step=5 kind=rewire status=failed")

	// The next run without --resume or --rollback says where it stopped
	// and does nothing.
	f.did = nil
	res = Run(context.Background(), Config{Mode: ModeExecute}, d)
	assert.Equal(t, nagios.CRITICAL, res.Status)
	assert.Contains(t, res.Summary, "stopped at step 5 (rewire)")
	assert.Empty(t, f.did)

	res = Run(context.Background(), Config{Mode: ModeExecute, Resume: true}, d)
	assert.Equal(t, nagios.OK, res.Status, res.Summary)
	assert.Equal(t, []Kind{Rewire, Switch, Verify}, f.did, "only the steps not done")
	assert.Contains(t, res.Summary, "promoted db3:5984 over db1:5984: 7 steps")

	res = Run(context.Background(), Config{Mode: ModeExecute, Resume: true}, d)
	assert.Equal(t, nagios.UNKNOWN, res.Status, "nothing left to resume")
}

func TestRollbackOfAStoppedRun(t *testing.T) {
	f := &fakeDoer{fail: map[Kind]int{Switch: 1}}
	d, _ := deps(t, f)
	Run(context.Background(), Config{Mode: ModeExecute}, d)
	f.did = nil
	res := Run(context.Background(), Config{Mode: ModeExecute, Rollback: true}, d)
	assert.Equal(t, nagios.OK, res.Status, res.Summary)
	assert.Equal(t, []Kind{UnfenceOld, UnfenceNew, Restore, Restore, VerifyBack}, f.did)
	assert.Contains(t, res.Summary, "rolled back: db1:5984 is the primary again")
	assert.Contains(t, res.Summary, "(the promotion had stopped at step 6, switch)")
}

func TestRehearsalRollsBackAndTimesEachStep(t *testing.T) {
	f := &fakeDoer{}
	d, _ := deps(t, f)
	clock := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	d.Now = func() time.Time { clock = clock.Add(250 * time.Millisecond); return clock }
	res := Run(context.Background(), Config{Mode: ModeRehearse}, d)
	assert.Equal(t, nagios.OK, res.Status, res.Summary)
	assert.Equal(t, []Kind{Fence, CatchUp, Stop, Unfence, Rewire, Switch, Verify, FenceNew, UnfenceOld, Backfill, SwitchBack, UnfenceNew, Restore, Restore, VerifyBack}, f.did)
	assert.Contains(t, res.Summary, "rehearsed: db3:5984 took over from db1:5984 and handed back; promotion 7 steps 1.8s, rollback 8 steps 2.0s, total 3.8s")
	require.Len(t, res.Subs, 15)
	assert.Equal(t, "seconds", res.Subs[0].Perf[0].Field)
	assert.Equal(t, MeasurementStep, res.Subs[0].Measurement)
}

// A drill never leaves the registry half promoted.
func TestFailedRehearsalRollsBack(t *testing.T) {
	f := &fakeDoer{fail: map[Kind]int{Verify: 1}}
	d, _ := deps(t, f)
	var posts []string
	d.Notify = func(_ context.Context, text string) { posts = append(posts, text) }
	res := Run(context.Background(), Config{Mode: ModeRehearse}, d)
	assert.Equal(t, nagios.CRITICAL, res.Status)
	assert.Contains(t, res.Summary, "rehearsal failed at step 7 (verify)")
	assert.Contains(t, res.Summary, "rolled back in")
	// One chat message, after the rollback: not "rolled back" before it ran.
	require.Len(t, posts, 1, "%q", posts)
	assert.Contains(t, posts[0], "rolled back in")
	assert.Equal(t, VerifyBack, f.did[len(f.did)-1])
	st, err := d.State.Load()
	require.NoError(t, err)
	assert.Equal(t, PhaseRolledBack, st.Phase)
}

func TestRewriteSourceKeepsCredentialsAndDatabase(t *testing.T) {
	body := map[string]any{"source": "http://mirror:pw@db1:5984/registry", "target": "registry"}
	require.NoError(t, rewriteSource(body, "http://db3:5984"))
	assert.Equal(t, "http://mirror:pw@db3:5984/registry", body["source"])

	obj := map[string]any{"source": map[string]any{"url": "https://db1.example/couch/a%2Fb", "auth": map[string]any{"basic": map[string]any{"username": "u", "password": "p"}}}}
	require.NoError(t, rewriteSource(obj, "https://db3.example/couch"))
	assert.Equal(t, "https://db3.example/couch/a%2Fb", obj["source"].(map[string]any)["url"])
	assert.NotNil(t, obj["source"].(map[string]any)["auth"])
}
