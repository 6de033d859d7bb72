package restart

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/registry-checks/registry-checks/lib/httpclient"
	"github.com/registry-checks/registry-checks/lib/nagios"
	"github.com/registry-checks/registry-checks/lib/notify"
)

// fakes for one run

type recExec struct {
	mu      sync.Mutex
	targets []Target
	calls   int
	err     error
}

func (e *recExec) Restart(_ context.Context, ts []Target) []Outcome {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.calls++
	out := make([]Outcome, len(ts))
	for i, t := range ts {
		e.targets = append(e.targets, t)
		if e.err != nil {
			out[i] = Outcome{Err: e.err}
			continue
		}
		out[i] = Outcome{Detail: "recreated " + t.where() + ", new job running", Backup: "/backup/x.json"}
	}
	return out
}

type memLog struct{ lines []string }

func (l *memLog) Log(s string) error { l.lines = append(l.lines, s); return nil }
func (l *memLog) Close() error       { return nil }

type world struct {
	obs    []Observed
	source SourceCheck
	exec   *recExec
	log    *memLog
	store  *Store
	now    time.Time
	mu     sync.Mutex
	checks int
	// checked are the sources looked at
	checked []string
}

func newWorld(t *testing.T, obs ...Observed) *world {
	return &world{obs: obs, source: SourceUp, exec: &recExec{}, log: &memLog{}, store: &Store{Dir: t.TempDir(), Node: "127.0.0.1_25984"}, now: t0}
}

func (w *world) run(cfg Config) nagios.Result {
	if cfg.Policy.Failures == 0 {
		cfg.Policy = DefaultPolicy()
	}
	cfg.Node = "http://127.0.0.1:25984"
	return Run(context.Background(), cfg, Deps{
		Assess: func(context.Context) ([]Observed, error) { return w.obs, nil },
		CheckSource: func(_ context.Context, o Observed) (SourceCheck, string) {
			w.mu.Lock()
			defer w.mu.Unlock()
			w.checks++
			w.checked = append(w.checked, o.Source)
			return w.source, "GET http://db1:5984/registry: connection refused"
		},
		Exec: w.exec, Store: w.store, Log: w.log, Now: func() time.Time { return w.now },
	})
}

func obsCrashing() Observed {
	return Observed{
		Replication: Replication{Key: "_replicator/registry-from-primary", State: "crashing", Class: "crashing", Status: nagios.CRITICAL, Reason: "source unreachable (connection refused)", Restartable: true},
		Target:      Target{Key: "_replicator/registry-from-primary", DocID: "registry-from-primary", Database: "_replicator"},
		Source:      "http://db1:5984/registry",
	}
}

func obsHealthy(key string) Observed {
	return Observed{Replication: Replication{Key: key, State: "running", Status: nagios.OK, Restartable: true}, Target: Target{Key: key, DocID: key, Database: "_replicator"}}
}

func handler(state nagios.Status, typ string, attempt int) Config {
	return Config{Mode: ModeHandler, Event: NagiosEvent{State: state, Type: typ, Attempt: attempt}}
}

func TestRunNagiosProblem(t *testing.T) {
	// A whole Nagios problem with max_check_attempts 3: the handler acts
	// exactly once, at CRITICAL SOFT 2.
	w := newWorld(t, obsCrashing(), obsHealthy("_replicator/other"))

	res := w.run(handler(nagios.CRITICAL, "SOFT", 1))
	assert.Equal(t, nagios.OK, res.Status)
	assert.Contains(t, res.Summary, "CRITICAL SOFT 1: waiting for attempt 2")
	assert.Empty(t, w.exec.targets)

	res = w.run(handler(nagios.CRITICAL, "SOFT", 2))
	assert.Equal(t, nagios.OK, res.Status, res.Summary)
	assert.Equal(t, "restarted registry-from-primary (crashing: source unreachable (connection refused))", res.Summary)
	require.Len(t, w.exec.targets, 1)
	assert.Equal(t, "registry-from-primary", w.exec.targets[0].DocID)
	assert.Equal(t, "source unreachable (connection refused)", w.exec.targets[0].Reason)

	w.now = t0.Add(2 * time.Second)
	res = w.run(handler(nagios.CRITICAL, "HARD", 3))
	assert.Len(t, w.exec.targets, 1, "once per problem")
	assert.Equal(t, nagios.CRITICAL, res.Status)
	assert.Contains(t, res.Summary, "already restarted once in this problem")

	w.obs = []Observed{obsHealthy("_replicator/registry-from-primary")}
	res = w.run(handler(nagios.OK, "HARD", 1))
	assert.Equal(t, nagios.OK, res.Status)
	assert.Contains(t, res.Summary, "service is OK (recovery HARD): nothing to do")

	// The next problem may act again.
	w.obs = []Observed{obsCrashing()}
	w.now = t0.Add(10 * time.Minute)
	w.run(handler(nagios.CRITICAL, "SOFT", 1))
	w.run(handler(nagios.CRITICAL, "SOFT", 2))
	assert.Len(t, w.exec.targets, 2)

	// Every decision is one log line.
	assert.Len(t, w.log.lines, 6)
	assert.Contains(t, w.log.lines[1], `node=http://127.0.0.1:25984 replication=_replicator/registry-from-primary mode=handler event="CRITICAL SOFT 2" action=restarted code=restart`)
	assert.Contains(t, w.log.lines[2], "action=human code=already_acted")
}

func TestRunSourceStillDown(t *testing.T) {
	w := newWorld(t, obsCrashing())
	w.source = SourceDown
	res := w.run(handler(nagios.CRITICAL, "SOFT", 2))
	assert.Equal(t, nagios.WARNING, res.Status)
	assert.Equal(t, "_replicator/registry-from-primary: source still down", res.Summary)
	assert.Empty(t, w.exec.targets)
	assert.Contains(t, w.log.lines[0], "code=source_down")
	assert.Contains(t, w.log.lines[0], "connection refused")

	// The source is back by the first HARD: act then.
	w.source = SourceUp
	res = w.run(handler(nagios.CRITICAL, "HARD", 3))
	assert.Equal(t, nagios.OK, res.Status, res.Summary)
	assert.Len(t, w.exec.targets, 1)
}

func TestRunStandaloneSecondFailure(t *testing.T) {
	w := newWorld(t, obsCrashing(), obsHealthy("_replicator/other"))
	cfg := Config{Mode: ModeStandalone}

	res := w.run(cfg)
	assert.Equal(t, nagios.OK, res.Status)
	assert.Contains(t, res.Summary, "nothing to restart yet")
	assert.Contains(t, res.Summary, "failure 1 of 2")
	assert.Empty(t, w.exec.targets)
	assert.Zero(t, w.checks, "no source check before it matters")

	w.now = t0.Add(time.Minute)
	res = w.run(cfg)
	assert.Equal(t, "restarted registry-from-primary (crashing: source unreachable (connection refused))", res.Summary)
	assert.Len(t, w.exec.targets, 1)

	// Still failing on the next two runs: the second one restarts again,
	// until the rate limit says a human is needed.
	for i := 2; i < 8; i++ {
		w.now = t0.Add(time.Duration(i) * time.Minute)
		res = w.run(cfg)
	}
	assert.Len(t, w.exec.targets, 3, "3 restarts an hour")
	assert.Equal(t, nagios.CRITICAL, res.Status)
	assert.Contains(t, res.Summary, "3 restarts in the last 1h already; not restarting again (needs a human)")

	// Healthy resets the streak and keeps the rate limit.
	w.obs = []Observed{obsHealthy("_replicator/registry-from-primary")}
	res = w.run(cfg)
	assert.Equal(t, "nothing to restart: 1 of 1 replications healthy", res.Summary)
	st, err := w.store.Load()
	require.NoError(t, err)
	assert.Zero(t, st.Replications["_replicator/registry-from-primary"].ConsecutiveFailures)
	assert.Len(t, st.Replications["_replicator/registry-from-primary"].Restarts, 3)
}

func TestRunRestartFails(t *testing.T) {
	w := newWorld(t, obsCrashing())
	w.exec.err = &nagios.Problem{Status: nagios.CRITICAL, Msg: "DELETE http://127.0.0.1:25984/_replicator/registry-from-primary: connection refused"}
	res := w.run(handler(nagios.CRITICAL, "SOFT", 2))
	assert.Equal(t, nagios.CRITICAL, res.Status)
	assert.Equal(t, "restart of _replicator/registry-from-primary failed: DELETE http://127.0.0.1:25984/_replicator/registry-from-primary: connection refused", res.Summary)
	assert.Contains(t, w.log.lines[0], "action=restart_failed")
}

func TestRunNeverRestartsHealthy(t *testing.T) {
	w := newWorld(t, obsHealthy("_replicator/a"), obsHealthy("_replicator/b"))
	for _, cfg := range []Config{handler(nagios.CRITICAL, "SOFT", 2), handler(nagios.CRITICAL, "HARD", 3), {Mode: ModeStandalone}, {Mode: ModeStandalone}} {
		res := w.run(cfg)
		assert.Equal(t, nagios.OK, res.Status)
		assert.Equal(t, "nothing to restart: 2 of 2 replications healthy", res.Summary)
	}
	assert.Empty(t, w.exec.targets)
	assert.Zero(t, w.checks)
}

func TestRunEventsThatDoNothing(t *testing.T) {
	for _, cfg := range []Config{handler(nagios.OK, "SOFT", 1), handler(nagios.WARNING, "SOFT", 2), handler(nagios.UNKNOWN, "SOFT", 2), handler(nagios.UNKNOWN, "HARD", 3)} {
		w := newWorld(t, obsCrashing())
		res := w.run(cfg)
		assert.Equal(t, nagios.OK, res.Status)
		assert.Contains(t, res.Summary, "nothing to do")
		assert.Empty(t, w.exec.targets)
		require.Len(t, w.log.lines, 1)
		assert.Equal(t, Measurement, res.Measurement, "the decision is a line-protocol point too")
		assert.Equal(t, "nothing", res.Tags["action"])
	}
}

func TestRunAssessFails(t *testing.T) {
	w := newWorld(t)
	res := Run(context.Background(), Config{Mode: ModeHandler, Event: NagiosEvent{nagios.CRITICAL, "SOFT", 2}, Policy: DefaultPolicy(), Node: "http://db2:5984"}, Deps{
		Assess: func(context.Context) ([]Observed, error) {
			return nil, &nagios.Problem{Status: nagios.CRITICAL, Msg: "GET http://db2:5984/_scheduler/docs: connection refused"}
		},
		Exec: w.exec, Store: w.store, Log: w.log, Now: time.Now,
	})
	assert.Equal(t, nagios.CRITICAL, res.Status)
	assert.Equal(t, "cannot see the replications, not acting: GET http://db2:5984/_scheduler/docs: connection refused", res.Summary)
}

// A timeout while assessing takes --timeout-state (Deps.Problem), as in
// every check; it used to be UNKNOWN whatever the option said.
func TestRunAssessTimeoutState(t *testing.T) {
	for _, want := range []nagios.Status{nagios.OK, nagios.WARNING, nagios.CRITICAL, nagios.UNKNOWN} {
		w := newWorld(t)
		res := Run(context.Background(), Config{Mode: ModeStandalone, Policy: DefaultPolicy(), Node: "http://db2:5984"}, Deps{
			Assess: func(context.Context) ([]Observed, error) {
				return nil, &nagios.Problem{Status: nagios.UNKNOWN, Timeout: true, Msg: "timeout after 3s waiting for GET http://db2:5984/_scheduler/docs"}
			},
			Problem: func(err error) (nagios.Status, string) { return want, nagios.AsProblem(err).Msg },
			Exec:    w.exec, Store: w.store, Log: w.log, Now: time.Now,
		})
		assert.Equal(t, want, res.Status)
		assert.Equal(t, "cannot see the replications, not acting: timeout after 3s waiting for GET http://db2:5984/_scheduler/docs", res.Summary)
		assert.Empty(t, w.exec.targets)
	}
}

func TestRunLocked(t *testing.T) {
	w := newWorld(t, obsCrashing())
	other := &Store{Dir: w.store.Dir, Node: w.store.Node}
	require.NoError(t, other.Lock(context.Background()))
	defer other.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	res := Run(ctx, Config{Mode: ModeHandler, Event: NagiosEvent{nagios.CRITICAL, "SOFT", 2}, Policy: DefaultPolicy(), Node: "n"}, Deps{
		Assess: func(context.Context) ([]Observed, error) { return []Observed{obsCrashing()}, nil },
		Exec:   w.exec, Store: w.store, Log: w.log, Now: time.Now,
	})
	assert.Equal(t, nagios.UNKNOWN, res.Status)
	assert.Contains(t, res.Summary, "is held by another restart_couch_replication run for this node")
	assert.Empty(t, w.exec.targets, "no double restart")
}

func TestRunDryRunSummary(t *testing.T) {
	w := newWorld(t, obsCrashing())
	res := Run(context.Background(), Config{Mode: ModeHandler, Event: NagiosEvent{nagios.CRITICAL, "SOFT", 2}, Policy: DefaultPolicy(), Node: "n", DryRun: true}, Deps{
		Assess:      func(context.Context) ([]Observed, error) { return w.obs, nil },
		CheckSource: func(context.Context, Observed) (SourceCheck, string) { return SourceUp, "" },
		Exec:        DryRun{}, Store: w.store, Log: w.log, Now: time.Now,
	})
	assert.Equal(t, "would restart registry-from-primary (crashing: source unreachable (connection refused))", res.Summary)
	assert.Contains(t, w.log.lines[0], "action=would_restart")
	assert.Contains(t, w.log.lines[0], "dry_run=true")
}

func TestStateFileSurvivesGarbage(t *testing.T) {
	s := &Store{Dir: t.TempDir(), Node: "n"}
	require.NoError(t, os.WriteFile(s.File(), []byte("{not json"), 0o640))
	st, err := s.Load()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "move it away")
	assert.NotNil(t, st.Replications)
	st.Replications["k"] = History{ConsecutiveFailures: 1}
	st.Replications["empty"] = History{}
	require.NoError(t, s.Save(st))
	st, err = s.Load()
	require.NoError(t, err)
	assert.Equal(t, map[string]History{"k": {ConsecutiveFailures: 1}}, st.Replications)
}

func TestWebhook(t *testing.T) {
	var mu sync.Mutex
	var got []map[string]string
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if r.URL.Path != "/hooks/T000/s3cret-path" || r.Header.Get("Content-Type") != "application/json" {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		var m map[string]string
		_ = json.NewDecoder(r.Body).Decode(&m)
		got = append(got, m)
		w.Write([]byte("ok"))
	}))
	defer recv.Close()
	hc, err := httpclient.New(httpclient.Options{}, httpclient.Config{})
	require.NoError(t, err)

	w := newWorld(t, obsCrashing())
	run := func(hookURL string, cfg Config) nagios.Result {
		cfg.Policy = DefaultPolicy()
		cfg.Node = "http://127.0.0.1:25984"
		return Run(context.Background(), cfg, Deps{
			Assess:      func(context.Context) ([]Observed, error) { return w.obs, nil },
			CheckSource: func(context.Context, Observed) (SourceCheck, string) { return SourceUp, "" },
			Exec:        w.exec, Store: w.store, Log: w.log, Now: time.Now,
			Webhook: &notify.Webhook{URL: hookURL, From: "/etc/registry-checks/webhook", HTTP: hc},
		})
	}
	run(recv.URL+"/hooks/T000/s3cret-path", handler(nagios.CRITICAL, "SOFT", 1)) // quiet: no message
	res := run(recv.URL+"/hooks/T000/s3cret-path", handler(nagios.CRITICAL, "SOFT", 2))
	assert.Equal(t, nagios.OK, res.Status)
	require.Len(t, got, 1)
	assert.Equal(t, "restart_couch_replication on http://127.0.0.1:25984: restarted registry-from-primary (crashing: source unreachable (connection refused)): recreated _replicator/registry-from-primary, new job running; backup /backup/x.json (Nagios CRITICAL SOFT 2)", got[0]["text"])

	// A failing webhook is a note; it changes no decision and never shows
	// the URL's secret path.
	w.obs = []Observed{obsCrashing()}
	res = run(recv.URL+"/hooks/T000/wrong-s3cret", handler(nagios.CRITICAL, "HARD", 3))
	require.NotEmpty(t, res.Long)
	note := strings.Join(res.Long, "\n")
	assert.Contains(t, note, "chat webhook (URL in /etc/registry-checks/webhook)")
	assert.Contains(t, note, "404")
	assert.NotContains(t, note, "wrong-s3cret")
	assert.NotContains(t, note, "/hooks/")
}

func TestOpenLoggerFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "decisions.log")
	l, where, err := OpenLogger(p, "", func() time.Time { return t0 })
	require.NoError(t, err)
	assert.Equal(t, p, where)
	require.NoError(t, l.Log(Decision{Node: "http://db2:5984", Key: "_replicator/r", Mode: ModeHandler, Event: "CRITICAL SOFT 2", Action: "restarted", Code: "restart", Message: "restarted r\n(crashing)"}.Line()))
	require.NoError(t, l.Close())
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	assert.Regexp(t, `^2025-11-26T03:00:00Z restart_couch_replication\[\d+\]: node=http://db2:5984 replication=_replicator/r mode=handler event="CRITICAL SOFT 2" action=restarted code=restart msg="restarted r \(crashing\)"\n$`, string(b))

	_, _, err = OpenLogger(filepath.Join(t.TempDir(), "no", "such", "dir", "x.log"), "", time.Now)
	require.Error(t, err)
	assert.True(t, errors.Is(err, os.ErrNotExist), err.Error())
}

func TestRunChecksEachSourceOnceAndRestartsTogether(t *testing.T) {
	// A primary outage: many replications of one source, and one of
	// another. Each source is looked at once, and every restart goes to
	// the executor in one call.
	var obs []Observed
	for _, id := range []string{"a", "b", "c"} {
		o := obsCrashing()
		o.Key, o.Target.Key, o.Target.DocID = "_replicator/"+id, "_replicator/"+id, id
		obs = append(obs, o)
	}
	other := obsCrashing()
	other.Key, other.Target.Key, other.Target.DocID, other.Source = "_replicator/d", "_replicator/d", "d", "http://db9:5984/other"
	obs = append(obs, other)
	w := newWorld(t, obs...)

	res := w.run(handler(nagios.CRITICAL, "SOFT", 2))
	assert.Equal(t, nagios.OK, res.Status, res.Summary)
	assert.ElementsMatch(t, []string{"http://db1:5984/registry", "http://db9:5984/other"}, w.checked, "one check per distinct source")
	assert.Equal(t, 1, w.exec.calls, "one executor call for every restart")
	require.Len(t, w.exec.targets, 4)
	assert.Equal(t, "a", w.exec.targets[0].DocID, "in the order of the assessment")
	assert.Equal(t, 4, strings.Count(strings.Join(w.log.lines, "\n"), "action=restarted"))
}

func TestWebhookOnePostPerRun(t *testing.T) {
	// A primary outage restarted in one run is one chat message: the
	// run's grouped first line, the first few replications under it and
	// a count of the rest, not one post per replication.
	var mu sync.Mutex
	var got []string
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m map[string]string
		_ = json.NewDecoder(r.Body).Decode(&m)
		mu.Lock()
		got = append(got, m["text"])
		mu.Unlock()
		w.Write([]byte("ok"))
	}))
	defer recv.Close()
	hc, err := httpclient.New(httpclient.Options{}, httpclient.Config{})
	require.NoError(t, err)

	var obs []Observed
	for i := 0; i < 25; i++ {
		o := obsCrashing()
		id := fmt.Sprintf("small-%03d", i)
		o.Key, o.Target.Key, o.Target.DocID = "_replicator/"+id, "_replicator/"+id, id
		obs = append(obs, o)
	}
	w := newWorld(t, obs...)
	cfg := handler(nagios.CRITICAL, "SOFT", 2)
	cfg.Policy, cfg.Node = DefaultPolicy(), "http://127.0.0.1:25984"
	res := Run(context.Background(), cfg, Deps{
		Assess:      func(context.Context) ([]Observed, error) { return w.obs, nil },
		CheckSource: func(context.Context, Observed) (SourceCheck, string) { return SourceUp, "" },
		Exec:        w.exec, Store: w.store, Log: w.log, Now: time.Now,
		Webhook: &notify.Webhook{URL: recv.URL + "/hooks/x", From: "test", HTTP: hc},
	})
	require.Len(t, got, 1, "one post for the whole run")
	lines := strings.Split(got[0], "\n")
	assert.Equal(t, "restart_couch_replication on http://127.0.0.1:25984: "+res.Summary+" (Nagios CRITICAL SOFT 2)", lines[0])
	require.Len(t, lines, 1+chatLines+1)
	assert.Contains(t, lines[1], "- restarted small-000")
	assert.Equal(t, "(+15 more in the decision log)", lines[len(lines)-1])
	assert.Len(t, w.log.lines, 25, "the decision log keeps one line per replication")
}

func TestWebhookTextIsInert(t *testing.T) {
	// Text a server sent (a document id, an error) reaches the chat
	// message: it must not notify a whole channel, in Slack's format or in
	// Mattermost's.
	var got string
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m map[string]string
		_ = json.NewDecoder(r.Body).Decode(&m)
		got = m["text"]
	}))
	defer recv.Close()
	hc, err := httpclient.New(httpclient.Options{}, httpclient.Config{})
	require.NoError(t, err)
	hook := &notify.Webhook{URL: recv.URL + "/hooks/x", From: "f", HTTP: hc}
	require.NoError(t, hook.Post(context.Background(), "restarted <!channel> and <@U123|x>, @here @Channel @all @everyone a&b; mail me@allison.example"))
	assert.Equal(t, "restarted &lt;!channel&gt; and &lt;@U123|x&gt;, @\u200bhere @\u200bChannel @\u200ball @\u200beveryone a&amp;b; mail me@allison.example", got)
	for _, w := range []string{"<!", "<@", "@here", "@Channel", "@all ", "@everyone"} {
		assert.NotContains(t, got, w)
	}
}
