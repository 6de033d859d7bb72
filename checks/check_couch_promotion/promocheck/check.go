// Package promocheck is the logic of check_couch_promotion: compare the
// replica with its primary through lib/promotion and turn the report into
// the Nagios result.
package promocheck

import (
	"context"

	"github.com/registry-checks/registry-checks/lib/nagios"
	"github.com/registry-checks/registry-checks/lib/promotion"
)

// CompareFunc is promotion.Compare; tests pass fakes.
type CompareFunc func(ctx context.Context, n promotion.Nodes, cfg promotion.Config) (promotion.Report, error)

// Deps are the check's collaborators.
type Deps struct {
	Nodes   promotion.Nodes
	Compare CompareFunc                         // nil: promotion.Compare
	Problem func(error) (nagios.Status, string) // plugin.Env.Problem
	Secret  func(string)                        // registers a secret with the run's redactor
}

// Check compares and returns the result.
func Check(ctx context.Context, cfg promotion.Config, deps Deps) nagios.Result {
	compare := deps.Compare
	if compare == nil {
		compare = promotion.Compare
	}
	rep, err := compare(ctx, deps.Nodes, cfg)
	// Replication documents' passwords are registered before anything is
	// rendered, error messages included.
	if deps.Secret != nil {
		for _, s := range rep.Secrets {
			deps.Secret(s)
		}
	}
	if err != nil {
		st, msg := deps.Problem(err)
		return nagios.Result{Status: st, Summary: "primary " + promotion.Node(deps.Nodes.Primary.URL()) + ": " + msg}
	}
	return rep.Result()
}
