package restart

import (
	"context"
	"strings"
	"testing"
	"time"

	flags "github.com/jessevdk/go-flags"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/registry-checks/registry-checks/checks/check_couch_replication/replcheck"
	"github.com/registry-checks/registry-checks/lib/couch"
	"github.com/registry-checks/registry-checks/lib/httpclient"
	"github.com/registry-checks/registry-checks/lib/nagios"
	"github.com/registry-checks/registry-checks/lib/replication"
	"github.com/registry-checks/registry-checks/lib/replication/replicationtest"
	"github.com/registry-checks/registry-checks/lib/secret"
)

// timelineRun is what one step of the replay gave.
type timelineRun struct {
	check, handler           string // first lines, as Nagios gets them
	checkState, handlerState nagios.Status
	checkOut, handlerOut     string // the whole outputs
	restarted                []string
}

// timeline runs, at each step of a replay, the check and then the
// handler (standalone, as cron would run it, with the default policy:
// restart on the second failed run in a row), both with the check's
// default options and the clock at the step's capture time.
type timeline struct {
	t      *testing.T
	tl     *replicationtest.Timeline
	client *couch.Client
	hc     *httpclient.Client
	creds  secret.Credentials
	opts   struct {
		Select replication.SelectOptions `group:"select"`
		Judge  replication.JudgeOptions  `group:"judge"`
	}
	store   *Store
	verbose int // -v for the check's output
}

func newTimeline(t *testing.T, node string) *timeline {
	tt := &timeline{t: t, tl: replicationtest.NewTimeline(t, node), creds: secret.Credentials{User: "admin", Password: "secret"}}
	_, err := flags.NewParser(&tt.opts, flags.None).ParseArgs(nil)
	require.NoError(t, err)
	tt.hc, err = httpclient.New(httpclient.Options{}, httpclient.Config{})
	require.NoError(t, err)
	tt.client, err = couch.New(tt.tl.Node.URL, tt.creds, tt.hc)
	require.NoError(t, err)
	tt.store = &Store{Dir: t.TempDir(), Node: NodeName(tt.tl.Node.URL)}
	return tt
}

func (tt *timeline) run(s replicationtest.Step) timelineRun {
	t := tt.t
	tt.tl.SetStep(s)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	now := func() time.Time { return s.At }
	th := tt.opts.Judge.Thresholds(false)
	probes, err := tt.opts.Judge.Probes(tt.hc, tt.creds, nil, nil)
	require.NoError(t, err)

	var out timelineRun
	res := replcheck.Check(ctx, replcheck.Config{Selection: tt.opts.Select.Selection(), Thresholds: th, Probes: probes},
		replcheck.Deps{Client: tt.client, Now: now, Problem: func(err error) (nagios.Status, string) {
			p := nagios.AsProblem(err)
			return p.Status, p.Msg
		}})
	out.checkOut = nagios.Render("COUCH_REPLICATION", res, nagios.RenderOptions{Verbose: tt.verbose})
	out.check, out.checkState = firstLine(out.checkOut), res.Status

	before := tt.tl.Restarted()
	exec := &Couch{Client: tt.client, HTTP: tt.hc, Creds: tt.creds, BackupDir: tt.store.BackupDir(), By: "timeline test",
		ConfirmWithin: 5 * time.Second, Now: now,
		Confirm: AssessConfirmer(tt.client, th, now)}
	checker := SourceChecker{HTTP: tt.hc, NodeCreds: tt.creds}
	hres := Run(ctx, Config{Mode: ModeStandalone, Policy: DefaultPolicy(), Node: tt.tl.Node.URL}, Deps{
		Assess: func(ctx context.Context) ([]Observed, error) {
			rep, err := replication.AssessWith(ctx, tt.client, tt.opts.Select.Selection(), th, probes, s.At)
			if err != nil {
				return nil, err
			}
			return Observe(rep, nil), nil
		},
		CheckSource: checker.Check,
		Exec:        exec,
		Store:       tt.store,
		Now:         now,
	})
	hout := nagios.Render("RESTART_COUCH_REPLICATION", hres, nagios.RenderOptions{})
	out.handler, out.handlerOut = firstLine(hout), hout
	out.handlerState = hres.Status
	seen := map[string]bool{}
	for _, id := range before {
		seen[id] = true
	}
	for _, id := range tt.tl.Restarted() {
		if !seen[id] {
			out.restarted = append(out.restarted, id)
		}
	}
	return out
}

func firstLine(out string) string {
	line, _, _ := strings.Cut(out, "\n")
	return line
}

// summary is the first line without its perfdata.
func summary(line string) string {
	s, _, _ := strings.Cut(line, " | ")
	return s
}

// TestTimelineOutage200 replays the captured primary outage, step by step,
// for node2 (206 replications, 200 of them small) and node3 (2): at each
// step the check's verdict and first line, and the handler's decision and
// first line. The handler waits while the source is down, restarts every
// replication it can at the first step where the source answers, and
// leaves the rest to a person; the replications it restarted run from
// then on, while CouchDB alone took until restarted-t200s.
func TestTimelineOutage200(t *testing.T) {
	const (
		node2Failing = "3 of 206 replications failing: 2 source unreachable (SRC, connection closed), 1 filter missing on source (_design/nosuch not found; bad-filter)"
		node2Human   = "1 needs a human (bad-filter: filter missing on source)"
		node2People  = "3 need a human (bad-filter: filter missing on source, missing-source: source database missing and 1 more)"
		node2Down    = "205 of 206 replications failing: 204 source unreachable (SRC, connection closed, connection refused), 1 filter missing on source (_design/nosuch not found)"
	)
	type want struct {
		check      nagios.Status
		summary    string // the check's, SRC for the source server
		handler    nagios.Status
		decision   string // the handler's
		restarted  int
		restartAll bool // every restartable replication restarted at this step
	}
	tests := map[string]map[string]want{
		"node2": {
			// missing-source and wrong-password still show the previous
			// outage's error; their first failure in a row.
			"before-outage": {nagios.CRITICAL, node2Failing, nagios.CRITICAL,
				node2Human + "; 2 to restart if still failing next run (source unreachable; missing-source, wrong-password)", 0, false},
			// The checker sees the source gone before CouchDB does.
			"outage-t1s": {nagios.CRITICAL, "205 of 206 replications failing: 202 source unreachable from the checker (SRC), 2 source unreachable (SRC), 1 filter missing on source", nagios.CRITICAL,
				node2Human + "; 2 waiting for SRC (source still down; missing-source, wrong-password)", 0, false},
			"outage-t5s": {nagios.CRITICAL, "205 of 206 replications failing: 197 source unreachable from the checker (SRC), 7 source unreachable (SRC), 1 filter missing on source", nagios.CRITICAL,
				node2Human + "; 2 waiting for SRC (source still down); 5 to restart if still failing next run (source unreachable)", 0, false},
			"outage-t15s": {nagios.CRITICAL, "205 of 206 replications failing: 177 source unreachable (SRC), 27 source unreachable from the checker (SRC), 1 filter missing on source", nagios.CRITICAL,
				node2Human + "; 7 waiting for SRC (source still down); 170 to restart if still failing next run (source unreachable)", 0, false},
			"outage-t30s": {nagios.CRITICAL, "205 of 206 replications failing: 201 source unreachable (SRC), 3 recovering from a crash (SRC), 1 filter missing on source", nagios.CRITICAL,
				node2Human + "; 177 waiting for SRC (source still down); 24 to restart if still failing next run (source unreachable)", 0, false},
			"outage-t60s": {nagios.CRITICAL, "205 of 206 replications failing: 204 source unreachable (SRC), 1 filter missing on source (_design/nosuch not found; bad-filter)", nagios.CRITICAL,
				node2Human + "; 201 waiting for SRC (source still down); 3 to restart if still failing next run (source unreachable)", 0, false},
			"outage-t120s": {nagios.CRITICAL, node2Down, nagios.CRITICAL,
				node2Human + "; 204 waiting for SRC (source still down; heartbeat-from-node1, missing-source and 202 more)", 0, false},
			// node1 is back: CouchDB still waits out its backoff; the
			// handler does not.
			"restarted-t2s":   {nagios.CRITICAL, node2Down, nagios.CRITICAL, "restarted 202 replications from SRC (source back); " + node2People, 202, true},
			"restarted-t10s":  {nagios.CRITICAL, node2Failing, nagios.CRITICAL, node2People, 0, false},
			"restarted-t30s":  {nagios.CRITICAL, node2Failing, nagios.CRITICAL, node2People, 0, false},
			"restarted-t60s":  {nagios.CRITICAL, node2Failing, nagios.CRITICAL, node2People, 0, false},
			"restarted-t120s": {nagios.CRITICAL, node2Failing, nagios.CRITICAL, node2People, 0, false},
			"restarted-t200s": {nagios.CRITICAL, node2Failing, nagios.CRITICAL, node2People, 0, false},
		},
		"node3": {
			"before-outage": {nagios.OK, "2 replications OK", nagios.OK, "nothing to restart: 2 of 2 replications healthy", 0, false},
			"outage-t1s": {nagios.WARNING, "2 of 2 replications failing: 2 source unreachable from the checker (SRC, connection closed; heartbeat-from-node1, registry-from-node1)", nagios.OK,
				"nothing to restart yet: _replicator/heartbeat-from-node1 running (source unreachable from the checker (connection closed)) is WARNING, not CRITICAL: a restart is only for a confirmed failure", 0, false},
			"outage-t5s": {nagios.WARNING, "2 of 2 replications failing: 2 source unreachable from the checker (SRC, connection closed; heartbeat-from-node1, registry-from-node1)", nagios.OK,
				"nothing to restart yet: _replicator/heartbeat-from-node1 running (source unreachable from the checker (connection closed)) is WARNING, not CRITICAL: a restart is only for a confirmed failure", 0, false},
			"outage-t15s": {nagios.WARNING, "2 of 2 replications failing: 2 source unreachable from the checker (SRC, connection closed; heartbeat-from-node1, registry-from-node1)", nagios.OK,
				"nothing to restart yet: _replicator/heartbeat-from-node1 running (source unreachable from the checker (connection closed)) is WARNING, not CRITICAL: a restart is only for a confirmed failure", 0, false},
			"outage-t30s": {nagios.CRITICAL, "2 of 2 replications failing: 2 source unreachable (SRC, connection refused, connection closed; heartbeat-from-node1, registry-from-node1)", nagios.OK,
				"2 to restart if still failing next run (source unreachable; heartbeat-from-node1, registry-from-node1)", 0, false},
			"outage-t60s": {nagios.CRITICAL, "2 of 2 replications failing: 2 source unreachable (SRC, connection refused, connection closed; heartbeat-from-node1, registry-from-node1)", nagios.WARNING,
				"2 waiting for SRC (source still down; heartbeat-from-node1, registry-from-node1)", 0, false},
			"outage-t120s": {nagios.CRITICAL, "2 of 2 replications failing: 2 source unreachable (SRC, connection refused; heartbeat-from-node1, registry-from-node1)", nagios.WARNING,
				"2 waiting for SRC (source still down; heartbeat-from-node1, registry-from-node1)", 0, false},
			"restarted-t2s": {nagios.CRITICAL, "2 of 2 replications failing: 2 source unreachable (SRC, connection refused; heartbeat-from-node1, registry-from-node1)", nagios.OK,
				"restarted 2 replications from SRC (source back; heartbeat-from-node1, registry-from-node1)", 2, true},
			"restarted-t10s":  {nagios.OK, "2 replications OK", nagios.OK, "nothing to restart: 2 of 2 replications healthy", 0, false},
			"restarted-t30s":  {nagios.OK, "2 replications OK", nagios.OK, "nothing to restart: 2 of 2 replications healthy", 0, false},
			"restarted-t60s":  {nagios.OK, "2 replications OK", nagios.OK, "nothing to restart: 2 of 2 replications healthy", 0, false},
			"restarted-t120s": {nagios.OK, "2 replications OK", nagios.OK, "nothing to restart: 2 of 2 replications healthy", 0, false},
			"restarted-t200s": {nagios.OK, "2 replications OK", nagios.OK, "nothing to restart: 2 of 2 replications healthy", 0, false},
		},
	}
	for _, node := range []string{"node2", "node3"} {
		t.Run(node, func(t *testing.T) {
			tt := newTimeline(t, node)
			src := tt.tl.Source.URL
			for _, s := range replicationtest.OutageSteps() {
				w, ok := tests[node][s.Name]
				require.True(t, ok, s.Name)
				r := tt.run(s)
				for _, line := range []string{r.check, r.handler} {
					assert.Less(t, len(line), 300, "%s: %s", s.Name, line)
					assert.NotContains(t, line, "{", "%s: no Erlang term in a first line", s.Name)
					assert.NotContains(t, line, "<<", s.Name)
				}
				check := strings.ReplaceAll(summary(r.check), src, "SRC")
				handler := strings.ReplaceAll(summary(r.handler), src, "SRC")
				assert.Equal(t, w.check, r.checkState, "%s check: %s", s.Name, check)
				assert.Equal(t, "COUCH_REPLICATION "+w.check.String()+" - "+w.summary, check, s.Name)
				assert.Equal(t, w.handler, r.handlerState, "%s handler: %s", s.Name, handler)
				assert.Equal(t, "RESTART_COUCH_REPLICATION "+w.handler.String()+" - "+w.decision, handler, s.Name)
				assert.Len(t, r.restarted, w.restarted, s.Name)
				for _, out := range []string{r.checkOut, r.handlerOut} {
					assert.LessOrEqual(t, len(out), nagios.DefaultLimit, s.Name)
				}
				if w.restarted > 0 {
					// Each decision is a line of the long output.
					assert.Contains(t, r.handlerOut, "\nOK _replicator/"+r.restarted[0]+": restarted "+r.restarted[0]+" (crashing: source unreachable", s.Name)
				}
				if !s.SourceUp {
					assert.Empty(t, r.restarted, "%s: the source is down: the handler must wait", s.Name)
				}
			}
		})
	}
}

// At -v the check's output keeps CouchDB's own words for each failing
// replication; the first line never has them.
func TestTimelineRawErrorAtVerbose(t *testing.T) {
	tt := newTimeline(t, "node3")
	var s replicationtest.Step
	for _, s = range replicationtest.OutageSteps() {
		if s.Name == "outage-t60s" {
			break
		}
	}
	r := tt.run(s)
	assert.NotContains(t, r.checkOut, "{replication_auth_error")
	tt.verbose = 1
	r = tt.run(s)
	assert.NotContains(t, r.check, "{")
	assert.Contains(t, r.checkOut, "last error (error_count 1): {replication_auth_error, {session_request_failed,")
}
