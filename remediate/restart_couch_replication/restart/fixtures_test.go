package restart

import (
	"context"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/registry-checks/registry-checks/lib/couch"
	"github.com/registry-checks/registry-checks/lib/httpclient"
	"github.com/registry-checks/registry-checks/lib/nagios"
	"github.com/registry-checks/registry-checks/lib/replication"
	"github.com/registry-checks/registry-checks/lib/replication/replicationtest"
	"github.com/registry-checks/registry-checks/lib/secret"
)

// fixtureNode serves node2's captured answers for one situation.
func fixtureNode(t *testing.T, situation string) *httptest.Server {
	return replicationtest.Node(t, "node2", situation, nil)
}

// TestDecideOverCapturedSituations runs the handler's decision (Nagios
// CRITICAL SOFT 2) over every captured CouchDB 3.4.3 situation of node2,
// with a source check that answers as node1 did at the time.
func TestDecideOverCapturedSituations(t *testing.T) {
	sourceDown := map[string]bool{"source-down-8s": true, "source-down-30s": true, "source-down-75s": true, "source-down-150s": true, "source-down-300s": true}
	tests := []struct {
		situation string
		restart   []string // doc ids restarted
		wait      []string // source still down
		human     []string
	}{
		{situation: "running-just-started"},
		{situation: "running"},
		// Still "running" 6 s after node1 stopped: nothing to see yet.
		{situation: "source-down-8s"},
		// Restarted after its first crash: WARNING, not acted on.
		{situation: "source-down-30s"},
		{situation: "source-down-75s", wait: []string{"registry-from-node1"}},
		{situation: "source-down-150s", wait: []string{"registry-from-node1"}},
		{situation: "source-down-300s", wait: []string{"registry-from-node1"}},
		// node1 is back but the job sits in its backoff: the handler's case.
		{situation: "source-restarted-5s", restart: []string{"registry-from-node1"}},
		{situation: "source-restarted-65s", restart: []string{"registry-from-node1"}},
		{situation: "source-recovered"},
		// missing-source-db: the source check finds no database (404);
		// wrong-password: the source refuses the document's credentials.
		{situation: "bad-docs-10s", human: []string{"missing-source-db", "wrong-password"}},
		{situation: "bad-docs-70s", human: []string{"missing-source-db", "wrong-password"}},
		{situation: "bad-docs-200s", human: []string{"missing-source-db", "wrong-password"}},
		// bad-filter is "error" on a scheduler node: not a restart's job.
		{situation: "more-docs-15s", human: []string{"bad-filter", "missing-source-db", "wrong-password"}},
		{situation: "more-docs-75s", human: []string{"bad-filter", "missing-source-db", "wrong-password"}},
		// A failed duplicate is not restarted: the two documents would
		// race again. Deleting one is a person's choice.
		{situation: "duplicate-doc", human: []string{"bad-filter", "duplicate-of-registry", "missing-source-db", "wrong-password"}},
	}
	for _, tt := range tests {
		t.Run(tt.situation, func(t *testing.T) {
			ts := fixtureNode(t, tt.situation)
			hc, err := httpclient.New(httpclient.Options{}, httpclient.Config{})
			require.NoError(t, err)
			c, err := couch.New(ts.URL, secret.Credentials{User: "admin", Password: "secret"}, hc)
			require.NoError(t, err)
			now := replicationtest.CapturedAt(t, tt.situation)
			rep, err := replication.Assess(context.Background(), c, replication.Selection{}, replication.Thresholds{}, now)
			require.NoError(t, err)

			check := func(o Observed) SourceCheck {
				switch {
				case strings.HasSuffix(o.Source, "/no-such-db"):
					return SourceGone
				case o.Target.DocID == "wrong-password":
					return SourceRefused
				case sourceDown[tt.situation]:
					return SourceDown
				}
				return SourceUp
			}
			var restart, wait, human []string
			for _, o := range Observe(rep, nil) {
				ev := Event{Mode: ModeHandler, Nagios: NagiosEvent{nagios.CRITICAL, "SOFT", 2}, Replication: &o.Replication, Now: now}
				a := Decide(ev, History{}, DefaultPolicy())
				if a.Kind == CheckSource {
					ev.Source = check(o)
					a = Decide(ev, History{}, DefaultPolicy())
				}
				switch {
				case a.Kind == Restart:
					restart = append(restart, o.Target.DocID)
				case a.Code == "source_down":
					wait = append(wait, o.Target.DocID)
				case a.Kind == Human:
					human = append(human, o.Target.DocID)
				}
			}
			sort.Strings(human)
			assert.Equal(t, tt.restart, restart, "restarted")
			assert.Equal(t, tt.wait, wait, "source still down")
			assert.Equal(t, tt.human, human, "needs a human")
		})
	}
}
