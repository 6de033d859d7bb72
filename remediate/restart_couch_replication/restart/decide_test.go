package restart

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/registry-checks/registry-checks/lib/nagios"
	"github.com/registry-checks/registry-checks/lib/replication"
)

var t0 = time.Date(2025, 11, 26, 3, 0, 0, 0, time.UTC)

func crashing() *Replication {
	return &Replication{Key: "registry-from-primary", State: "crashing", Class: "crashing", Status: nagios.CRITICAL, Reason: "source unreachable", Restartable: true}
}

func with(r *Replication, f func(*Replication)) *Replication { f(r); return r }

func ev(mode Mode, e NagiosEvent, r *Replication, src SourceCheck) Event {
	return Event{Mode: mode, Nagios: e, Replication: r, Source: src, Now: t0}
}

func soft(n int) NagiosEvent { return NagiosEvent{State: nagios.CRITICAL, Type: "SOFT", Attempt: n} }
func hard(n int) NagiosEvent { return NagiosEvent{State: nagios.CRITICAL, Type: "HARD", Attempt: n} }

func TestDecideGate(t *testing.T) {
	p := DefaultPolicy()
	tests := []struct {
		name string
		mode Mode
		e    NagiosEvent
		kind Kind
		code string
	}{
		{"standalone always assesses", ModeStandalone, NagiosEvent{}, Assess, "standalone"},
		{"OK recovery from HARD", ModeHandler, NagiosEvent{nagios.OK, "HARD", 1}, Nothing, "event_ok"},
		{"OK recovery from SOFT", ModeHandler, NagiosEvent{nagios.OK, "SOFT", 1}, Nothing, "event_ok"},
		{"WARNING SOFT 2", ModeHandler, NagiosEvent{nagios.WARNING, "SOFT", 2}, Nothing, "event_warning"},
		{"WARNING HARD 3", ModeHandler, NagiosEvent{nagios.WARNING, "HARD", 3}, Nothing, "event_warning"},
		{"UNKNOWN SOFT 2 is never acted on", ModeHandler, NagiosEvent{nagios.UNKNOWN, "SOFT", 2}, Nothing, "event_unknown"},
		{"UNKNOWN HARD 3", ModeHandler, NagiosEvent{nagios.UNKNOWN, "HARD", 3}, Nothing, "event_unknown"},
		{"CRITICAL SOFT 1 waits for confirmation", ModeHandler, soft(1), Wait, "first_failure"},
		{"CRITICAL SOFT 2 acts", ModeHandler, soft(2), Assess, "event_soft"},
		{"CRITICAL SOFT 3 (max_check_attempts > 3) acts if 2 was missed", ModeHandler, soft(3), Assess, "event_soft_late"},
		{"CRITICAL HARD 3 acts if 2 was missed", ModeHandler, hard(3), Assess, "event_hard"},
		{"CRITICAL HARD 1 (max_check_attempts 1)", ModeHandler, hard(1), Assess, "event_hard"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := Decide(ev(tt.mode, tt.e, nil, SourceUnchecked), History{}, p)
			assert.Equal(t, tt.kind, a.Kind, a.Why)
			assert.Equal(t, tt.code, a.Code)
			assert.NotEmpty(t, a.Why)
			assert.Equal(t, nagios.OK, a.Status, "a gate decision is never a failure of the handler")
		})
	}
}

func TestDecideReplication(t *testing.T) {
	p := DefaultPolicy()
	recent := History{Restarts: []time.Time{t0.Add(-50 * time.Minute), t0.Add(-20 * time.Minute), t0.Add(-time.Minute)}}
	old := History{Restarts: []time.Time{t0.Add(-3 * time.Hour), t0.Add(-61 * time.Minute), t0.Add(-time.Minute), t0.Add(-2 * time.Minute)}}
	tests := []struct {
		name   string
		ev     Event
		h      History
		kind   Kind
		code   string
		status nagios.Status
		why    string
	}{
		// What the check logic says decides whether to look further.
		{"healthy running is never restarted", ev(ModeHandler, soft(2), &Replication{Key: "r", State: "running", Status: nagios.OK, Restartable: true}, SourceUp), History{}, Nothing, "healthy", nagios.OK, "r running"},
		{"healthy in standalone", ev(ModeStandalone, NagiosEvent{}, &Replication{Key: "r", State: "running", Status: nagios.OK, Restartable: true}, SourceUp), History{ConsecutiveFailures: 5}, Nothing, "healthy", nagios.OK, ""},
		{"WARNING (initializing too long) is not acted on", ev(ModeHandler, soft(2), &Replication{Key: "r", State: "initializing", Status: nagios.WARNING, Restartable: true}, SourceUp), History{}, Nothing, "not_critical", nagios.OK, "not CRITICAL"},
		{"UNKNOWN replication is not acted on", ev(ModeHandler, soft(2), &Replication{Key: "r", State: "unknown", Status: nagios.UNKNOWN, Restartable: true}, SourceUp), History{}, Nothing, "not_critical", nagios.OK, ""},
		{"error (missing filter) is not restartable", ev(ModeHandler, soft(2), &Replication{Key: "bad-filter", State: "error", Status: nagios.CRITICAL, Reason: "filter not found", Restartable: true}, SourceUp), History{}, Human, "not_restartable", nagios.CRITICAL, "bad-filter error (filter not found)"},
		{"a failed duplicate is for a human", ev(ModeHandler, soft(2), &Replication{Key: "dup", State: "failed", Class: "failed", Status: nagios.CRITICAL, Cause: replication.Cause{What: replication.CauseDuplicate}, Restartable: true}, SourceUnchecked), History{}, Human, "duplicate", nagios.CRITICAL, "delete one"},
		{"continuous completed is not restartable", ev(ModeHandler, soft(2), &Replication{Key: "r", State: "completed", Status: nagios.CRITICAL, Restartable: true}, SourceUp), History{}, Human, "not_restartable", nagios.CRITICAL, ""},
		{"missing replication doc", ev(ModeHandler, soft(2), &Replication{Key: "r", State: "missing", Status: nagios.CRITICAL}, SourceUnchecked), History{}, Human, "not_restartable", nagios.CRITICAL, ""},
		{"failed with source db gone (check saw it)", ev(ModeHandler, soft(2), &Replication{Key: "missing-source-db", State: "failed", Class: "failed", Status: nagios.CRITICAL, Reason: "db_not_found", SourceGone: true, Restartable: true}, SourceUnchecked), History{}, Human, "source_gone", nagios.CRITICAL, "source database is gone"},
		{"crashing, target database missing (revs_diff_failed 404), source up: a human, never a restart", ev(ModeHandler, soft(2), with(crashing(), func(r *Replication) {
			r.Cause = replication.Cause{What: replication.CauseTargetDBMissing, Detail: "HTTP 404"}
		}), SourceUp), History{}, Human, "target_gone", nagios.CRITICAL, "the target database is gone"},
		{"crashing, target database missing, standalone second failure", ev(ModeStandalone, NagiosEvent{}, with(crashing(), func(r *Replication) {
			r.Cause = replication.Cause{What: replication.CauseTargetDBMissing}
		}), SourceUnchecked), History{ConsecutiveFailures: 1}, Human, "target_gone", nagios.CRITICAL, "needs a human"},
		{"crashing, source database missing by the check's cause", ev(ModeHandler, soft(2), with(crashing(), func(r *Replication) {
			r.Cause = replication.Cause{What: replication.CauseSourceDBMissing}
		}), SourceUnchecked), History{}, Human, "source_gone", nagios.CRITICAL, "source database is gone"},
		{"crashing with source db gone (probe saw it)", ev(ModeStandalone, NagiosEvent{}, crashing(), SourceGone), History{ConsecutiveFailures: 1}, Human, "source_gone", nagios.CRITICAL, "not restarting"},
		{"vanished transient with spec: check source", ev(ModeHandler, soft(2), &Replication{Key: "transient:a->b", State: "missing", Class: "vanished", Status: nagios.CRITICAL, Restartable: true}, SourceUnchecked), History{}, CheckSource, "check_source", nagios.OK, ""},
		{"transient without spec", ev(ModeHandler, soft(2), with(crashing(), func(r *Replication) { r.Restartable = false }), SourceUnchecked), History{}, Human, "no_definition", nagios.CRITICAL, "--transient-spec"},

		// Handler mode: once per problem.
		{"SOFT 2 crashing: check source first", ev(ModeHandler, soft(2), crashing(), SourceUnchecked), History{}, CheckSource, "check_source", nagios.OK, ""},
		{"SOFT 2 crashing, source up: restart", ev(ModeHandler, soft(2), crashing(), SourceUp), History{}, Restart, "restart", nagios.OK, "registry-from-primary crashing (source unreachable)"},
		{"SOFT 2 failed (duplicate), source up: restart", ev(ModeHandler, soft(2), &Replication{Key: "r", State: "failed", Class: "failed", Status: nagios.CRITICAL, Restartable: true}, SourceUp), History{}, Restart, "restart", nagios.OK, ""},
		{"SOFT 2 stalled, source up: restart", ev(ModeHandler, soft(2), &Replication{Key: "r", State: "triggered", Class: "stalled", Status: nagios.CRITICAL, Reason: "heartbeat 120s old", Restartable: true}, SourceUp), History{}, Restart, "restart", nagios.OK, ""},
		{"SOFT 2 source still down: wait, report", ev(ModeHandler, soft(2), crashing(), SourceDown), History{}, Wait, "source_down", nagios.WARNING, "source still down"},
		{"HARD 3 after a missed SOFT 2: restart", ev(ModeHandler, hard(3), crashing(), SourceUp), History{}, Restart, "restart", nagios.OK, ""},
		{"HARD 3 after restart at SOFT 2: not again", ev(ModeHandler, hard(3), crashing(), SourceUnchecked), History{ActedThisProblem: true, Restarts: []time.Time{t0.Add(-2 * time.Second)}}, Human, "already_acted", nagios.CRITICAL, "already restarted once"},
		{"SOFT 3 after restart at SOFT 2: not again", ev(ModeHandler, soft(3), crashing(), SourceUp), History{ActedThisProblem: true}, Human, "already_acted", nagios.CRITICAL, ""},
		{"source refuses the doc's credentials", ev(ModeHandler, soft(2), crashing(), SourceRefused), History{}, Human, "source_refused", nagios.CRITICAL, "credentials"},

		// Standalone: the second consecutive failure.
		{"standalone first failure waits", ev(ModeStandalone, NagiosEvent{}, crashing(), SourceUnchecked), History{}, Wait, "first_failure", nagios.OK, "failure 1 of 2"},
		{"standalone second failure: check source", ev(ModeStandalone, NagiosEvent{}, crashing(), SourceUnchecked), History{ConsecutiveFailures: 1}, CheckSource, "check_source", nagios.OK, ""},
		{"standalone second failure, source up: restart", ev(ModeStandalone, NagiosEvent{}, crashing(), SourceUp), History{ConsecutiveFailures: 1}, Restart, "restart", nagios.OK, ""},
		{"standalone fifth failure, source down", ev(ModeStandalone, NagiosEvent{}, crashing(), SourceDown), History{ConsecutiveFailures: 4}, Wait, "source_down", nagios.WARNING, ""},
		{"standalone ignores ActedThisProblem (rate limit bounds it)", ev(ModeStandalone, NagiosEvent{}, crashing(), SourceUp), History{ConsecutiveFailures: 1, ActedThisProblem: true}, Restart, "restart", nagios.OK, ""},

		// Rate limit, before any source check.
		{"3 restarts in the hour: needs a human", ev(ModeStandalone, NagiosEvent{}, crashing(), SourceUnchecked), with2(recent, 1), Human, "rate_limited", nagios.CRITICAL, "3 restarts in the last 1h"},
		{"3 restarts in the hour, handler", ev(ModeHandler, soft(2), crashing(), SourceUp), recent, Human, "rate_limited", nagios.CRITICAL, "needs a human"},
		{"older restarts do not count", ev(ModeHandler, soft(2), crashing(), SourceUp), old, Restart, "restart", nagios.OK, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := Decide(tt.ev, tt.h, p)
			assert.Equal(t, tt.kind, a.Kind, a.Why)
			assert.Equal(t, tt.code, a.Code)
			assert.Equal(t, tt.status, a.Status)
			assert.Contains(t, a.Why, tt.why)
		})
	}
}

func with2(h History, failures int) History { h.ConsecutiveFailures = failures; return h }

func TestDecideNeverRestartsHealthy(t *testing.T) {
	// Whatever the event, history or source: a replication the check
	// logic does not see CRITICAL in a restartable state is never restarted.
	p := DefaultPolicy()
	states := []struct {
		state  string
		status nagios.Status
	}{{"running", nagios.OK}, {"pending", nagios.OK}, {"pending", nagios.WARNING}, {"initializing", nagios.WARNING}, {"completed", nagios.OK}, {"error", nagios.CRITICAL}, {"crashing", nagios.UNKNOWN}, {"crashing", nagios.WARNING}}
	events := []NagiosEvent{soft(1), soft(2), soft(3), hard(3), {nagios.OK, "HARD", 1}}
	for _, s := range states {
		for _, e := range events {
			for _, mode := range []Mode{ModeHandler, ModeStandalone} {
				for _, src := range []SourceCheck{SourceUnchecked, SourceUp, SourceDown} {
					r := &Replication{Key: "r", State: s.state, Status: s.status, Restartable: true}
					a := Decide(ev(mode, e, r, src), History{ConsecutiveFailures: 9}, p)
					assert.NotEqual(t, Restart, a.Kind, "%s %s %s %s %s", s.state, s.status, e, mode, src)
					assert.NotEqual(t, CheckSource, a.Kind)
				}
			}
		}
	}
}

func TestRecord(t *testing.T) {
	p := DefaultPolicy()
	restart := Action{Kind: Restart}
	wait := Action{Kind: Wait}
	tests := []struct {
		name      string
		h         History
		ev        Event
		a         Action
		restarted bool
		want      History
	}{
		{"standalone failure counts", History{}, ev(ModeStandalone, NagiosEvent{}, crashing(), SourceUnchecked), wait, false, History{ConsecutiveFailures: 1}},
		{"standalone source down keeps counting", History{ConsecutiveFailures: 3}, ev(ModeStandalone, NagiosEvent{}, crashing(), SourceDown), wait, false, History{ConsecutiveFailures: 4}},
		{"standalone restart keeps the count (a restart is judged by what follows)", History{ConsecutiveFailures: 1}, ev(ModeStandalone, NagiosEvent{}, crashing(), SourceUp), restart, true, History{ConsecutiveFailures: 2, Restarts: []time.Time{t0}, ActedThisProblem: false}},
		{"standalone failed restart keeps counting", History{ConsecutiveFailures: 1}, ev(ModeStandalone, NagiosEvent{}, crashing(), SourceUp), restart, false, History{ConsecutiveFailures: 2}},
		{"standalone healthy resets", History{ConsecutiveFailures: 3, Restarts: []time.Time{t0.Add(-time.Minute)}, ActedThisProblem: true}, ev(ModeStandalone, NagiosEvent{}, nil, SourceUnchecked), Action{Kind: Nothing}, false, History{Restarts: []time.Time{t0.Add(-time.Minute)}}},
		{"handler restart marks the problem", History{}, ev(ModeHandler, soft(2), crashing(), SourceUp), restart, true, History{Restarts: []time.Time{t0}, ActedThisProblem: true}},
		{"handler does not count failures", History{}, ev(ModeHandler, soft(2), crashing(), SourceDown), wait, false, History{}},
		{"old restarts are pruned", History{Restarts: []time.Time{t0.Add(-2 * time.Hour), t0.Add(-time.Minute)}}, ev(ModeHandler, hard(3), crashing(), SourceUp), Action{Kind: Human}, false, History{Restarts: []time.Time{t0.Add(-time.Minute)}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Record(tt.h, tt.ev, tt.a, tt.restarted, p)
			if tt.want.Restarts == nil {
				assert.Empty(t, got.Restarts)
				got.Restarts = nil
			}
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestNewProblem(t *testing.T) {
	assert.True(t, NewProblem(NagiosEvent{nagios.OK, "HARD", 1}))
	assert.True(t, NewProblem(NagiosEvent{nagios.OK, "SOFT", 1}))
	assert.True(t, NewProblem(soft(1)))
	assert.True(t, NewProblem(NagiosEvent{nagios.WARNING, "SOFT", 1}))
	assert.False(t, NewProblem(soft(2)))
	assert.False(t, NewProblem(hard(3)))
	assert.False(t, NewProblem(NagiosEvent{nagios.WARNING, "HARD", 3}))
}

// A restart that did not help is not repeated until the rate limit: the
// next failure for the same cause, within the window, needs a human, in
// handler mode even after the moment of OK a new job gives (the recovery
// clears ActedThisProblem) and in standalone mode (the failure count is
// not reset by the restart).
func TestRestartThatDidNotHelpNeedsAHuman(t *testing.T) {
	p := DefaultPolicy()
	stalled := func() *Replication {
		return &Replication{Key: "registry-from-primary", State: "running", Class: "stalled", Status: nagios.CRITICAL,
			Reason: "heartbeat not arriving", Cause: replication.Cause{What: "heartbeat not arriving"}, Restartable: true}
	}
	healthy := &Replication{Key: "registry-from-primary", State: "running", Status: nagios.OK, Restartable: true}
	type step struct {
		mode  Mode
		e     NagiosEvent
		r     *Replication
		after time.Duration
		kind  Kind
		code  string
	}
	for _, tt := range []struct {
		name  string
		steps []step
	}{
		{"handler: restart, a moment of OK, the same stall again", []step{
			{ModeHandler, soft(1), stalled(), 0, Wait, "first_failure"},
			{ModeHandler, soft(2), stalled(), time.Minute, Restart, "restart"},
			{ModeHandler, NagiosEvent{nagios.OK, "SOFT", 1}, healthy, 2 * time.Minute, Nothing, "event_ok"},
			{ModeHandler, soft(1), stalled(), 5 * time.Minute, Wait, "first_failure"},
			{ModeHandler, soft(2), stalled(), 6 * time.Minute, Human, "restart_did_not_help"},
		}},
		{"standalone: restart, then the same stall", []step{
			{ModeStandalone, NagiosEvent{}, stalled(), 0, Wait, "first_failure"},
			{ModeStandalone, NagiosEvent{}, stalled(), 5 * time.Minute, Restart, "restart"},
			{ModeStandalone, NagiosEvent{}, stalled(), 10 * time.Minute, Human, "restart_did_not_help"},
		}},
		{"a source that drops again is a new blip: restarted again", []step{
			{ModeStandalone, NagiosEvent{}, crashingFrom(replication.CauseSourceUnreachable), 0, Wait, "first_failure"},
			{ModeStandalone, NagiosEvent{}, crashingFrom(replication.CauseSourceUnreachable), 5 * time.Minute, Restart, "restart"},
			{ModeStandalone, NagiosEvent{}, crashingFrom(replication.CauseSourceUnreachable), 10 * time.Minute, Restart, "restart"},
		}},
		{"the same stall after the window: restarted", []step{
			{ModeStandalone, NagiosEvent{}, stalled(), 0, Wait, "first_failure"},
			{ModeStandalone, NagiosEvent{}, stalled(), 5 * time.Minute, Restart, "restart"},
			{ModeStandalone, NagiosEvent{}, healthy, 10 * time.Minute, Nothing, "healthy"},
			{ModeStandalone, NagiosEvent{}, stalled(), 2 * time.Hour, Wait, "first_failure"},
			{ModeStandalone, NagiosEvent{}, stalled(), 2*time.Hour + 5*time.Minute, Restart, "restart"},
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var h History
			for i, s := range tt.steps {
				e := Event{Mode: s.mode, Nagios: s.e, Now: t0.Add(s.after)}
				if s.mode == ModeHandler && NewProblem(s.e) {
					h.ActedThisProblem = false
				}
				gate := Decide(e, h, p)
				a := gate
				if gate.Kind == Assess {
					e.Replication = s.r
					e.Source = SourceUp
					a = Decide(e, h, p)
					h = Record(h, e, a, a.Kind == Restart, p)
				}
				assert.Equal(t, s.kind, a.Kind, "step %d: %s", i, a.Why)
				assert.Equal(t, s.code, a.Code, "step %d", i)
			}
		})
	}
}

func crashingFrom(what string) *Replication {
	return with(crashing(), func(r *Replication) { r.Cause = replication.Cause{What: what} })
}
