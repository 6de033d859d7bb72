// Package restart is the logic of restart_couch_replication: a pure
// decision (Decide) of what to do about each replication, an executor that
// restarts one (Couch, or DryRun), and the run that ties them to the state
// file, the lock and the decision log.
package restart

import (
	"fmt"
	"strings"
	"time"

	"github.com/registry-checks/registry-checks/lib/nagios"
	"github.com/registry-checks/registry-checks/lib/replication"
)

// Mode is how the handler was started.
type Mode string

const (
	// ModeHandler: run by Nagios as an event handler; Nagios counts the
	// failures and says which attempt this is.
	ModeHandler Mode = "handler"
	// ModeStandalone: run by cron or a person; the state file counts the
	// consecutive failures.
	ModeStandalone Mode = "standalone"
)

// NagiosEvent is what Nagios passes an event handler: $SERVICESTATE$,
// $SERVICESTATETYPE$ and $SERVICEATTEMPT$.
type NagiosEvent struct {
	State   nagios.Status
	Type    string // SOFT or HARD
	Attempt int
}

func (e NagiosEvent) String() string {
	return fmt.Sprintf("%s %s %d", e.State, e.Type, e.Attempt)
}

// SourceCheck is what a look at the replication's source found just
// before a restart.
type SourceCheck int

const (
	SourceUnchecked SourceCheck = iota // not looked at yet
	SourceUp                           // the source database answered
	SourceDown                         // refused, timed out, 5xx: a restart would crash again
	SourceGone                         // the source database does not exist (404)
	SourceRefused                      // 401/403 with the replication's own credentials
)

func (s SourceCheck) String() string {
	return [...]string{"unchecked", "up", "down", "gone", "refused"}[s]
}

// Replication is what the check logic (lib/replication) says about one
// replication, reduced to what a decision needs.
type Replication struct {
	Key   string // stable name, e.g. "_replicator/registry-from-primary"
	State string // normalized state, as the check shows it
	// Class is what a restart would be fixing: failed, crashing, stalled
	// (running or triggered but CRITICAL by its lag), vanished (a
	// transient job gone from the node); "" when nothing a restart fixes.
	Class       string
	Status      nagios.Status
	Reason      string
	Cause       replication.Cause // what Reason says, for grouping and for the decision
	SourceGone  bool              // the check saw the source database missing
	Restartable bool              // a doc definition or a transient spec exists to restart from
}

// Event is one question to Decide: the gate of a run (Replication nil) or
// one replication of it.
type Event struct {
	Mode        Mode
	Nagios      NagiosEvent // ModeHandler only
	Replication *Replication
	Source      SourceCheck
	SourceWhy   string // what the source check saw, for the message
	Now         time.Time
}

// History is what the state file remembers about one replication.
type History struct {
	// ConsecutiveFailures counts the standalone runs in a row, before this
	// one, that saw the replication failing.
	ConsecutiveFailures int `json:"consecutive_failures,omitempty"`
	// Restarts are the times of the restarts done, newest last, pruned to
	// the rate-limit window.
	Restarts []time.Time `json:"restarts,omitempty"`
	// ActedThisProblem is set by a restart in handler mode and cleared when
	// Nagios reports OK or a new problem (SOFT attempt 1): once per problem.
	ActedThisProblem bool `json:"acted_this_problem,omitempty"`
	// RestartCause is the cause (Cause.What) the newest restart was for.
	// A restart that did not help is known by it: the same cause again
	// within the rate window, even after a moment of OK (a new job runs
	// until it meets the same missing database or stall) and across
	// Nagios problems, which clear ActedThisProblem.
	RestartCause string `json:"restart_cause,omitempty"`
}

// Policy tunes Decide.
type Policy struct {
	// Failures is the number of consecutive failed standalone runs that
	// triggers a restart (2: the second failure in a row).
	Failures int
	// HandlerAttempt is the SOFT attempt a handler acts on (2).
	HandlerAttempt int
	// MaxRestarts restarts of one replication per Window, then a human.
	MaxRestarts int
	Window      time.Duration
	// States are the normalized states a restart can fix.
	States []string
}

// DefaultPolicy is the policy: restart on the second failure, at
// most 3 times an hour, only failed, crashing or stalled replications.
func DefaultPolicy() Policy {
	return Policy{Failures: 2, HandlerAttempt: 2, MaxRestarts: 3, Window: time.Hour, States: []string{"failed", "crashing", "stalled", "vanished"}}
}

// Kind is what to do.
type Kind string

const (
	Nothing     Kind = "nothing"      // healthy, or an event that calls for nothing
	Wait        Kind = "wait"         // failing, but not yet: a later run may act
	Assess      Kind = "assess"       // the gate is open: look at the replications
	CheckSource Kind = "check_source" // would restart: first see that the source answers
	Restart     Kind = "restart"
	Human       Kind = "human" // a restart will not help, or already did not: needs a person
)

// Action is Decide's answer.
type Action struct {
	Kind Kind
	// Code names the reason in a word, for line-protocol tags and tests:
	// event_ok, first_failure, source_down, rate_limited, ...
	Code   string
	Why    string        // for the operator
	Status nagios.Status // how the run reports it
}

// Decide says what to do. With ev.Replication nil it judges the run as a
// whole (the Nagios event); with a replication it judges that one, and
// asks for a source check (CheckSource) before it ever says Restart.
func Decide(ev Event, h History, p Policy) Action {
	if ev.Replication == nil {
		return gate(ev, p)
	}
	r := ev.Replication
	if r.Status == nagios.OK {
		return Action{Nothing, "healthy", fmt.Sprintf("%s: nothing to do", state(r)), nagios.OK}
	}
	if r.Status != nagios.CRITICAL {
		return Action{Nothing, "not_critical", fmt.Sprintf("%s is %s, not CRITICAL: a restart is only for a confirmed failure", state(r), r.Status), nagios.OK}
	}
	if r.Cause.What == replication.CauseDuplicate {
		// CouchDB keeps the one that started first; a restart makes the
		// two race again.
		return Action{Human, "duplicate", fmt.Sprintf("%s: two documents describe the same replication; delete one (needs a human)", state(r)), nagios.CRITICAL}
	}
	if !p.restartable(r.Class) {
		return Action{Human, "not_restartable", fmt.Sprintf("%s: a restart does not fix this state; needs a human", state(r)), nagios.CRITICAL}
	}
	if r.SourceGone || ev.Source == SourceGone || r.Cause.What == replication.CauseSourceDBMissing {
		return Action{Human, "source_gone", fmt.Sprintf("%s: the source database is gone; not restarting (needs a human)", state(r)), nagios.CRITICAL}
	}
	if r.Cause.What == replication.CauseTargetDBMissing {
		// The new job would crash on the same missing database; creating
		// it (or create_target) is a person's choice.
		return Action{Human, "target_gone", fmt.Sprintf("%s: the target database is gone; not restarting (needs a human)", state(r)), nagios.CRITICAL}
	}
	if !r.Restartable {
		return Action{Human, "no_definition", fmt.Sprintf("%s: no replication document or --transient-spec to restart it from; needs a human", state(r)), nagios.CRITICAL}
	}

	switch ev.Mode {
	case ModeStandalone:
		if n := h.ConsecutiveFailures + 1; n < p.Failures {
			return Action{Wait, "first_failure", fmt.Sprintf("%s: failure %d of %d in a row; restarting on failure %d", state(r), n, p.Failures, p.Failures), nagios.OK}
		}
	default:
		if h.ActedThisProblem {
			return Action{Human, "already_acted", fmt.Sprintf("%s: already restarted once in this problem and still failing; needs a human", state(r)), nagios.CRITICAL}
		}
	}

	if last, ok := h.lastRestart(); ok && h.RestartCause != "" && h.RestartCause == r.Cause.What && !transientCause(r.Cause.What) && ev.Now.Sub(last) < p.Window {
		return Action{Human, "restart_did_not_help", fmt.Sprintf("%s: restarted %s ago for the same cause and failing again; another restart will not help (needs a human)", state(r), ev.Now.Sub(last).Round(time.Second)), nagios.CRITICAL}
	}
	if n := h.RestartsWithin(ev.Now, p.Window); n >= p.MaxRestarts {
		return Action{Human, "rate_limited", fmt.Sprintf("%s: %d restarts in the last %s already; not restarting again (needs a human)", state(r), n, window(p.Window)), nagios.CRITICAL}
	}

	switch ev.Source {
	case SourceUnchecked:
		return Action{CheckSource, "check_source", fmt.Sprintf("%s: checking that the source answers before restarting", state(r)), nagios.OK}
	case SourceDown:
		return Action{Wait, "source_down", fmt.Sprintf("%s: source still down%s; not restarting now, a later attempt will", state(r), because(ev.SourceWhy)), nagios.WARNING}
	case SourceRefused:
		return Action{Human, "source_refused", fmt.Sprintf("%s: the source refuses the replication's credentials%s; a restart will not help (needs a human)", state(r), because(ev.SourceWhy)), nagios.CRITICAL}
	}
	return Action{Restart, "restart", state(r), nagios.OK}
}

// gate judges the Nagios event (or lets a standalone run through).
func gate(ev Event, p Policy) Action {
	if ev.Mode == ModeStandalone {
		return Action{Assess, "standalone", "standalone run: assessing the replications", nagios.OK}
	}
	e := ev.Nagios
	switch e.State {
	case nagios.OK:
		what := "recovery"
		if e.Type == "" {
			what = "OK"
		}
		return Action{Nothing, "event_ok", fmt.Sprintf("service is OK (%s %s): nothing to do", strings.ToLower(what), e.Type), nagios.OK}
	case nagios.WARNING:
		return Action{Nothing, "event_warning", fmt.Sprintf("service is WARNING (%s %d): only CRITICAL is acted on; nothing to do", e.Type, e.Attempt), nagios.OK}
	case nagios.CRITICAL:
	default:
		return Action{Nothing, "event_unknown", fmt.Sprintf("service is UNKNOWN (%s %d): the check could not tell, never acting on UNKNOWN; nothing to do", e.Type, e.Attempt), nagios.OK}
	}
	switch {
	case e.Type == "HARD":
		// Only reached without a restart this problem (History says, per
		// replication): attempt 2 was missed or its source was still down.
		return Action{Assess, "event_hard", fmt.Sprintf("CRITICAL HARD %d: acting on replications not yet restarted in this problem", e.Attempt), nagios.OK}
	case e.Attempt < p.HandlerAttempt:
		return Action{Wait, "first_failure", fmt.Sprintf("CRITICAL SOFT %d: waiting for attempt %d to confirm", e.Attempt, p.HandlerAttempt), nagios.OK}
	case e.Attempt == p.HandlerAttempt:
		return Action{Assess, "event_soft", fmt.Sprintf("CRITICAL SOFT %d: confirmed failure, acting", e.Attempt), nagios.OK}
	default:
		return Action{Assess, "event_soft_late", fmt.Sprintf("CRITICAL SOFT %d: acting on replications not yet restarted in this problem", e.Attempt), nagios.OK}
	}
}

// NewProblem reports whether the event starts a new problem (or ends
// one), which clears every ActedThisProblem.
func NewProblem(e NagiosEvent) bool {
	return e.State == nagios.OK || (e.Type == "SOFT" && e.Attempt <= 1)
}

// RestartsWithin counts the restarts in the window before now.
func (h History) RestartsWithin(now time.Time, w time.Duration) int {
	n := 0
	for _, t := range h.Restarts {
		if now.Sub(t) < w {
			n++
		}
	}
	return n
}

// Record is h after a run that saw r (nil: not seen, i.e. healthy or
// gone), took action a and, when a was Restart, restarted it or not.
func Record(h History, ev Event, a Action, restarted bool, p Policy) History {
	out := History{ActedThisProblem: h.ActedThisProblem, RestartCause: h.RestartCause}
	for _, t := range h.Restarts {
		if ev.Now.Sub(t) < p.Window {
			out.Restarts = append(out.Restarts, t)
		}
	}
	r := ev.Replication
	failing := r != nil && r.Status == nagios.CRITICAL
	if ev.Mode == ModeStandalone && failing {
		out.ConsecutiveFailures = h.ConsecutiveFailures + 1
	}
	if len(out.Restarts) == 0 {
		out.RestartCause = ""
	}
	if a.Kind == Restart && restarted {
		// The failure count is not reset: a restart is judged by what
		// follows it, and a failure right after it is the same streak.
		out.Restarts = append(out.Restarts, ev.Now)
		out.ActedThisProblem = ev.Mode == ModeHandler
		if r != nil {
			out.RestartCause = r.Cause.What
		}
	}
	if ev.Mode == ModeStandalone && !failing {
		// A standalone run has no Nagios problem to scope "once" to: the
		// problem ends when the replication is seen healthy.
		out.ActedThisProblem = false
	}
	return out
}

// IsZero reports whether h is worth keeping in the state file.
func (h History) IsZero() bool {
	return h.ConsecutiveFailures == 0 && len(h.Restarts) == 0 && !h.ActedThisProblem
}

func (h History) lastRestart() (time.Time, bool) {
	if len(h.Restarts) == 0 {
		return time.Time{}, false
	}
	return h.Restarts[len(h.Restarts)-1], true
}

// transientCause reports causes that come and go with the network: a
// source back after a blip can drop again, and that is a new failure a
// restart may well fix (the source is checked before each), not the
// old one a restart did not fix.
func transientCause(what string) bool {
	switch what {
	case replication.CauseSourceUnreachable, replication.CauseTargetUnreachable,
		replication.CauseSourceServerError, replication.CauseTargetServerError, replication.CauseSourceRead:
		return true
	}
	return false
}

func (p Policy) restartable(st string) bool {
	for _, s := range p.States {
		if st != "" && strings.EqualFold(s, st) {
			return true
		}
	}
	return false
}

// state is "registry-from-primary crashing (source unreachable)".
func state(r *Replication) string {
	s := r.Key + " " + r.State
	if r.Reason != "" {
		s += " (" + r.Reason + ")"
	}
	return s
}

func because(why string) string {
	if why == "" {
		return ""
	}
	return " (" + why + ")"
}

func window(d time.Duration) string {
	if d%time.Hour == 0 {
		return fmt.Sprintf("%dh", int(d/time.Hour))
	}
	return d.String()
}
