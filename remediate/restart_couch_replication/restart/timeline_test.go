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
	checkOut                 string // the whole check output
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
	store *Store
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
	out.checkOut = nagios.Render("COUCH_REPLICATION", res, nagios.RenderOptions{})
	out.check, out.checkState = firstLine(out.checkOut), res.Status

	before := tt.tl.Restarted()
	exec := &Couch{Client: tt.client, HTTP: tt.hc, Creds: tt.creds, BackupDir: tt.store.BackupDir(), By: "timeline test",
		ConfirmWithin: 5 * time.Second, Now: now,
		Confirm: func(ctx context.Context, tg Target) (string, bool, error) {
			one := replication.Selection{DocIDs: []string{tg.DocID}, ReplicatorDBs: []string{tg.Database}}
			rep, err := replication.Assess(ctx, tt.client, one, th, s.At)
			if err != nil {
				return "", false, err
			}
			for _, r := range rep.Replications {
				if r.DocID == tg.DocID {
					return r.State, r.State == replication.Running, nil
				}
			}
			return replication.Missing, false, nil
		}}
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
	if testing.Verbose() && s.Name == "restarted-t2s" {
		t.Log(hout[:min(len(hout), 1500)])
	}
	out.handler = firstLine(hout)
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

func TestTimelineOutage200Print(t *testing.T) {
	if testing.Short() && false {
		t.Skip()
	}
	tt := newTimeline(t, "node2")
	for _, s := range replicationtest.OutageSteps() {
		r := tt.run(s)
		t.Logf("%-16s restarted %d\n  %s\n  %s", s.Name, len(r.restarted), summary(r.check), summary(r.handler))
		assert.Less(t, len(r.check), 300)
		assert.Less(t, len(r.handler), 300)
	}
}
