package replcheck

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/registry-checks/registry-checks/lib/couch"
	"github.com/registry-checks/registry-checks/lib/nagios"
	"github.com/registry-checks/registry-checks/lib/replication"
)

func TestCheck(t *testing.T) {
	fail := &nagios.Problem{Status: nagios.CRITICAL, Msg: "GET http://db2:5984/_scheduler/docs: connection refused"}
	tests := []struct {
		name    string
		rep     replication.Report
		err     error
		status  nagios.Status
		summary string
	}{
		{"node unreachable", replication.Report{}, fail, nagios.CRITICAL, fail.Msg},
		{"nothing there", replication.Report{}, nil, nagios.UNKNOWN, "no replications found"},
		{"secrets registered even on error", replication.Report{Secrets: []string{"pw-1"}}, errors.New("boom"), nagios.UNKNOWN, "boom"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var secrets []string
			var gotNow time.Time
			now := time.Date(2026, 11, 26, 3, 0, 0, 0, time.UTC)
			res := Check(context.Background(), Config{}, Deps{
				Assess: func(_ context.Context, _ *couch.Client, _ replication.Selection, _ replication.Thresholds, _ replication.Probes, n time.Time) (replication.Report, error) {
					gotNow = n
					return tt.rep, tt.err
				},
				Now:     func() time.Time { return now },
				Problem: func(err error) (nagios.Status, string) { p := nagios.AsProblem(err); return p.Status, p.Msg },
				Secret:  func(s string) { secrets = append(secrets, s) },
			})
			assert.Equal(t, tt.status, res.Status)
			assert.Equal(t, tt.summary, res.Summary)
			assert.Equal(t, now, gotNow)
			assert.Equal(t, tt.rep.Secrets, secrets)
		})
	}
}
