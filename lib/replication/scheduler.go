package replication

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/go-kivik/kivik/v4"

	"github.com/registry-checks/registry-checks/lib/couch"
	"github.com/registry-checks/registry-checks/lib/nagios"
)

// CouchDB 3.x's scheduler defaults ([replicator] in default.ini is all
// comments: GET /_node/_local/_config/replicator answers {} and the
// values live in code).
const (
	DefaultMaxJobs  = 500
	DefaultMaxChurn = 20
	DefaultInterval = 60 * time.Second
)

// Limits are a 2.1+ node's scheduler limits and its job counts.
//
// CouchDB runs at most MaxJobs replication jobs; a job added while the
// node has more jobs than that is not started but queued ("pending").
// Every Interval the scheduler stops up to MaxChurn running jobs and
// starts as many pending ones, those that have waited longest first: a
// queue of P pending jobs is worked through in ceil(P/MaxChurn)
// intervals.
type Limits struct {
	MaxJobs  int
	MaxChurn int
	Interval time.Duration
	// FromConfig: the three values above come from the node's config
	// (its defaults when it answered {}); false: the config could not
	// be read (it needs a server admin), the defaults are assumed and
	// MaxJobs is inferred from the job counts when they show a queue.
	FromConfig bool

	// Gauges of /_node/_local/_stats/couch_replicator (-1: unknown).
	Running, Pending, Total int
}

// Saturated reports whether a new job would wait for a slot: the node
// runs or holds more jobs than MaxJobs, or (limits not readable) already
// queues some.
func (l Limits) Saturated() bool {
	switch {
	case l.Total > l.MaxJobs:
		// couch_replicator_scheduler starts a job added only while the
		// node holds at most max_jobs jobs; the others wait for the next
		// rescheduling.
		return true
	case l.Running >= 0 && l.Running >= l.MaxJobs:
		return true
	}
	return !l.FromConfig && l.Pending > 0
}

// Rotation is how long a job can stay pending on a saturated node before
// the scheduler's rotation reaches it, with pending jobs in the queue:
// ceil(pending/max_churn) intervals, plus two (the one under way when it
// was queued, and one of slack for a loaded node).
func (l Limits) Rotation(pending int) time.Duration {
	churn := max(l.MaxChurn, 1)
	rounds := (max(pending, 1) + churn - 1) / churn
	return time.Duration(rounds+2) * l.Interval
}

// String says the limits as the output does: "max_jobs 500".
func (l Limits) String() string {
	if !l.FromConfig {
		return fmt.Sprintf("max_jobs %d (inferred)", l.MaxJobs)
	}
	return fmt.Sprintf("max_jobs %d", l.MaxJobs)
}

// ReadLimits reads the node's [replicator] config (kivik) and its
// couch_replicator stats (two GETs). A config it may not read (401/403:
// only server admins may) is no error: the defaults are assumed and
// MaxJobs inferred from the stats. An error of the stats is returned.
func ReadLimits(ctx context.Context, c *couch.Client) (Limits, error) {
	l := Limits{MaxJobs: DefaultMaxJobs, MaxChurn: DefaultMaxChurn, Interval: DefaultInterval, Running: -1, Pending: -1, Total: -1}
	start := time.Now()
	sec, err := c.Kivik().ConfigSection(ctx, "_local", "replicator")
	switch code := kivik.HTTPStatus(err); {
	case err == nil:
		l.FromConfig = true
		l.MaxJobs = positive(sec["max_jobs"], l.MaxJobs)
		l.MaxChurn = positive(sec["max_churn"], l.MaxChurn)
		if ms := positive(sec["interval"], 0); ms > 0 {
			l.Interval = time.Duration(ms) * time.Millisecond
		}
	case code != http.StatusUnauthorized && code != http.StatusForbidden:
		return l, c.Problem(http.MethodGet, "/_node/_local/_config/replicator", start, err)
	}
	var stats struct {
		Jobs map[string]struct {
			Value *float64 `json:"value"`
		} `json:"jobs"`
	}
	if err := c.GetJSON(ctx, "/_node/_local/_stats/couch_replicator", nil, &stats); err != nil {
		return l, err
	}
	gauge := func(name string) int {
		if g, ok := stats.Jobs[name]; ok && g.Value != nil {
			return int(*g.Value)
		}
		return -1
	}
	l.Running, l.Pending, l.Total = gauge("running"), gauge("pending"), gauge("total")
	if !l.FromConfig && l.Pending > 0 && l.Running > 0 {
		// Jobs queue only once every slot is taken.
		l.MaxJobs = l.Running
	}
	return l, nil
}

func positive(s string, def int) int {
	if n, err := strconv.Atoi(s); err == nil && n > 0 {
		return n
	}
	return def
}

// queue counts the selected replications pending (queued behind
// max_jobs) and, when there are any, reads the node's limits: how many
// wait for a slot, and how long the scheduler's rotation explains a wait
// (th.PendingAge when not set). It returns th with PendingAge set.
func (rep *Report) queue(ctx context.Context, c *couch.Client, all []Replication, th Thresholds, p Probes) Thresholds {
	rep.Queued = 0
	for i := range all {
		if all[i].State == Pending {
			rep.Queued++
		}
	}
	if rep.Queued == 0 {
		return th
	}
	p.step("GET %s/_node/_local/_config/replicator and /_stats/couch_replicator", c.URL())
	l, err := ReadLimits(ctx, c)
	if err != nil {
		rep.Notes = append(rep.Notes, "scheduler limits not read: "+nagios.AsProblem(err).Msg)
		if th.PendingAge <= 0 {
			th.PendingAge = DefaultPendingAge
		}
		return th
	}
	rep.Limits = &l
	if th.PendingAge <= 0 {
		th.PendingAge = l.Rotation(max(l.Pending, rep.Queued))
	}
	rep.th.PendingAge = th.PendingAge
	return th
}
