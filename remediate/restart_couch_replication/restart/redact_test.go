package restart

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/registry-checks/registry-checks/lib/httpclient"
	"github.com/registry-checks/registry-checks/lib/notify"
	"github.com/registry-checks/registry-checks/lib/secret"
)

// What a server controls (the replication's key, its reason) reaches the
// decision log, the chat webhook and the state file redacted and on one
// line; the same replication keeps its history from run to run.
func TestRunRedactsLogWebhookAndState(t *testing.T) {
	const pass = "Sup3rSecret-doc"
	red := &secret.Redactor{}
	red.Add(pass)
	hook, posts := chatHook(t)

	o := obsCrashing()
	o.Key = "_replicator/echo-" + pass + "\nnode=forged action=restarted"
	o.Reason = "source unreachable: Basic " + "bW9uaXRvcjpTdXAzclNlY3JldC1kb2M=" + " " + pass + "\r\nOK - forged | x=1"
	w := newWorld(t, o)
	run := func() {
		cfg := handler(2, "SOFT", 2)
		cfg.Policy = DefaultPolicy()
		cfg.Node = "http://127.0.0.1:25984"
		Run(context.Background(), cfg, Deps{
			Assess:      func(context.Context) ([]Observed, error) { return w.obs, nil },
			CheckSource: func(context.Context, Observed) (SourceCheck, string) { return SourceUp, "" },
			Exec:        w.exec, Store: w.store, Log: w.log, Now: func() time.Time { return w.now },
			Webhook: hook,
			Secrets: red,
		})
	}
	run()
	require.Len(t, w.exec.targets, 1, "restarted")
	state, err := os.ReadFile(w.store.File())
	require.NoError(t, err)
	posted := posts()
	all := strings.Join(w.log.lines, "\n") + "\n" + strings.Join(posted, "\n") + "\n" + string(state)
	assert.NotContains(t, all, "Sup3rS")
	assert.NotContains(t, all, "bW9uaXRvcjpTdXAzclNlY3JldC1kb2M")
	for _, l := range w.log.lines {
		assert.NotContains(t, l, "\n")
		assert.Contains(t, l, `replication="_replicator/echo-xxxxx node=forged action=restarted"`, "the forged fields stay inside the quoted value")
	}
	for _, p := range posted {
		assert.False(t, strings.ContainsAny(p, "\r\n"), "one line: %q", p)
	}

	// The next run finds the history under the same (redacted) key.
	w.now = w.now.Add(1)
	run()
	st, err := w.store.Load()
	require.NoError(t, err)
	require.Len(t, st.Replications, 1)
	for k, h := range st.Replications {
		assert.NotContains(t, k, pass)
		assert.Len(t, h.Restarts, 1, "acted once in this problem")
	}
}

// The run's first line (and the chat message that repeats it) is cut to
// fit: names to 60 bytes, groups to the budget. A secret in a document id
// is redacted before that cut, never a prefix of it left to leak.
func TestRunRedactsBeforeSummaryCut(t *testing.T) {
	const pass = "Sup3rSecret-doc"
	red := &secret.Redactor{}
	red.Add(pass)
	hook, posts := chatHook(t)

	var obs []Observed
	for _, n := range []string{"1", "2"} {
		o := obsCrashing()
		id := strings.Repeat("a", 50) + pass + n
		o.Key, o.Target.Key, o.Target.DocID = "_replicator/"+id, "_replicator/"+id, id
		o.Source = "http://db" + n + ":5984/registry" // two groups of one: the first is named
		obs = append(obs, o)
	}
	w := newWorld(t, obs...)
	cfg := handler(2, "SOFT", 2)
	cfg.Policy = DefaultPolicy()
	cfg.Node = "http://127.0.0.1:25984"
	res := Run(context.Background(), cfg, Deps{
		Assess:      func(context.Context) ([]Observed, error) { return w.obs, nil },
		CheckSource: func(context.Context, Observed) (SourceCheck, string) { return SourceUp, "" },
		Exec:        w.exec, Store: w.store, Log: w.log, Now: func() time.Time { return w.now },
		Webhook: hook,
		Secrets: red,
	})
	require.Len(t, w.exec.targets, 2, "restarted")
	assert.Contains(t, res.Summary, "restarted 1 replication from http://db1:5984 (crashing; aaaa")
	assert.NotContains(t, res.Summary, "Sup3rS")
	posted := posts()
	require.Len(t, posted, 1)
	assert.NotContains(t, posted[0], "Sup3rS")
}

// A failed restart is summed up by the end of its error ("...: connection
// refused"): the error is redacted before that cut, so a secret holding
// ": " does not leave its tail in the first line.
func TestRunRedactsRestartErrorBeforeCut(t *testing.T) {
	const pass = "tok: Zq9xSecretTail"
	red := &secret.Redactor{}
	red.Add(pass)
	a, b := obsCrashing(), obsCrashing()
	b.Key, b.Target.Key, b.Target.DocID = "_replicator/other", "_replicator/other", "other"
	w := newWorld(t, a, b)
	w.exec.err = errors.New("DELETE http://db1:5984/_replicator/x: the server said " + pass)
	cfg := handler(2, "SOFT", 2)
	cfg.Policy = DefaultPolicy()
	res := Run(context.Background(), cfg, Deps{
		Assess:      func(context.Context) ([]Observed, error) { return w.obs, nil },
		CheckSource: func(context.Context, Observed) (SourceCheck, string) { return SourceUp, "" },
		Exec:        w.exec, Store: w.store, Log: w.log, Now: func() time.Time { return w.now },
		Secrets: red,
	})
	require.Len(t, w.exec.targets, 2, "restarts tried")
	assert.Contains(t, res.Summary, "2 restarts failed")
	assert.NotContains(t, res.Summary, "Zq9x")
}

// chatHook is a chat webhook that records the texts posted to it.
func chatHook(t *testing.T) (*notify.Webhook, func() []string) {
	var mu sync.Mutex
	var posted []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct{ Text string }
		_ = json.NewDecoder(r.Body).Decode(&body)
		mu.Lock()
		posted = append(posted, body.Text)
		mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	hc, err := httpclient.New(httpclient.Options{}, httpclient.Config{})
	require.NoError(t, err)
	return &notify.Webhook{URL: srv.URL + "/hook", From: "test", HTTP: hc}, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(posted)
	}
}
