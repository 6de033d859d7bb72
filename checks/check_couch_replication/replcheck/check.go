// Package replcheck is the logic of check_couch_replication: assess the
// node's replications with lib/replication and turn the report into the
// Nagios result.
package replcheck

import (
	"context"
	"time"

	"github.com/registry-checks/registry-checks/lib/couch"
	"github.com/registry-checks/registry-checks/lib/nagios"
	"github.com/registry-checks/registry-checks/lib/replication"
)

// Config is what the options decided.
type Config struct {
	Selection  replication.Selection
	Thresholds replication.Thresholds
	Probes     replication.Probes
}

// AssessFunc is replication.AssessWith; tests pass fakes.
type AssessFunc func(ctx context.Context, c *couch.Client, sel replication.Selection, th replication.Thresholds, p replication.Probes, now time.Time) (replication.Report, error)

// Deps are the check's collaborators.
type Deps struct {
	Client  *couch.Client
	Assess  AssessFunc                          // nil: replication.AssessWith
	Now     func() time.Time                    // nil: time.Now
	Problem func(error) (nagios.Status, string) // plugin.Env.Problem
	Secret  func(string)                        // registers a secret with the run's redactor
}

// Check assesses the replications and returns the result.
func Check(ctx context.Context, cfg Config, deps Deps) nagios.Result {
	assess := deps.Assess
	if assess == nil {
		assess = replication.AssessWith
	}
	now := time.Now
	if deps.Now != nil {
		now = deps.Now
	}
	rep, err := assess(ctx, deps.Client, cfg.Selection, cfg.Thresholds, cfg.Probes, now())
	// The documents' passwords are registered before anything is
	// rendered, error messages included.
	if deps.Secret != nil {
		for _, s := range rep.Secrets {
			deps.Secret(s)
		}
	}
	if err != nil {
		st, msg := deps.Problem(err)
		return nagios.Result{Status: st, Summary: msg}
	}
	return rep.Result()
}
