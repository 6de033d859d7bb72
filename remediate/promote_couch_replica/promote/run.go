package promote

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/registry-checks/registry-checks/lib/couch"
	"github.com/registry-checks/registry-checks/lib/nagios"
	"github.com/registry-checks/registry-checks/lib/promotion"
)

// Modes of a run.
const (
	ModePlan     = "plan"
	ModeExecute  = "execute"
	ModeRehearse = "rehearse"
)

// Measurements of the line protocol.
const (
	MeasurementRun  = "couch_promotion_run"
	MeasurementStep = "couch_promotion_step"
)

// Config is one run.
type Config struct {
	Mode     string
	Resume   bool
	Rollback bool
	Options  Options
}

// Doer runs a step; *Executor is one.
type Doer interface {
	Do(ctx context.Context, s Step) (string, error)
}

// Deps are the run's side effects.
type Deps struct {
	// Discover reads the topology of a fresh run.
	Discover func(ctx context.Context) (Topology, error)
	// Exec builds the executor for a topology and the backups known.
	Exec  func(t Topology, o Options, backups map[string]string) Doer
	State StateFile
	// Lock takes the lock of the old primary (nil: none); the returned
	// func releases it.
	Lock func(ctx context.Context) (func(), error)
	// Log records a line (logfmt), nil: none. Notify posts to chat, nil:
	// none. Both get text already redacted by the caller's wrapper.
	Log    func(line string)
	Notify func(ctx context.Context, text string)
	Step   func(format string, args ...any)
	Now    func() time.Time
	// Redact scrubs the run's secrets from text that came from a server
	// before it is kept in the state file (nil: kept as is).
	Redact func(string) string
}

func (d Deps) redact(s string) string {
	if d.Redact == nil {
		return s
	}
	return d.Redact(s)
}

func (d Deps) now() time.Time {
	if d.Now != nil {
		return d.Now()
	}
	return time.Now()
}

func (d Deps) log(line string) {
	if d.Log != nil {
		d.Log(line)
	}
}

func (d Deps) step(format string, args ...any) {
	if d.Step != nil {
		d.Step(format, args...)
	}
}

// Line is a logged step as one logfmt line.
func Line(run, phase string, r Record) string {
	kv := []string{"run=" + run, "phase=" + phase, "step=" + strconv.Itoa(r.N), "kind=" + string(r.Kind), "status=" + r.Status}
	if r.Node != "" {
		kv = append(kv, "node="+r.Node)
	}
	if r.Status != "running" {
		kv = append(kv, fmt.Sprintf("seconds=%.3f", r.Seconds))
	}
	msg := r.Text
	if r.Detail != "" {
		msg += ": " + r.Detail
	}
	if r.Error != "" {
		msg += ": " + r.Error
	}
	kv = append(kv, "msg="+strconv.Quote(couch.OneLine(msg)))
	return strings.Join(kv, " ")
}

// Run plans, executes or rehearses, and returns the result: one
// sub-result (and line-protocol point) per step run.
func Run(ctx context.Context, cfg Config, d Deps) nagios.Result {
	if cfg.Mode == ModePlan {
		return plan(ctx, cfg, d)
	}
	if d.Lock != nil {
		d.step("lock")
		unlock, err := d.Lock(ctx)
		if err != nil {
			return nagios.Result{Status: nagios.UNKNOWN, Summary: err.Error()}
		}
		defer unlock()
	}
	st, err := d.State.Load()
	if err != nil {
		return nagios.Result{Status: nagios.UNKNOWN, Summary: err.Error()}
	}
	switch {
	case st.Unfinished() && !cfg.Resume && !cfg.Rollback:
		return stoppedResult(st)
	case !st.Unfinished() && (cfg.Resume || cfg.Rollback):
		return nagios.Result{Status: nagios.UNKNOWN, Summary: "nothing to resume or roll back: no stopped run in " + d.State.Path}
	case st.Unfinished() && cfg.Rollback:
		return rollback(ctx, st, d, nil)
	case st.Unfinished():
		if st.Phase == PhaseRollback {
			return rollback(ctx, st, d, nil)
		}
		return forward(ctx, st, d)
	}
	d.step("reading the topology")
	t, err := d.Discover(ctx)
	if err != nil {
		st, msg := nagios.AsProblem(err).Status, nagios.AsProblem(err).Msg
		return nagios.Result{Status: nagios.Worse(st, nagios.CRITICAL), Summary: "topology not read, nothing changed: " + msg}
	}
	st = &State{Run: d.now().UTC().Format(time.RFC3339), Mode: cfg.Mode, Phase: PhaseForward, Topology: t, Options: cfg.Options, Backups: map[string]string{}}
	for _, s := range Plan(t, cfg.Options) {
		st.Forward = append(st.Forward, Record{Step: s, Status: "pending"})
	}
	return forward(ctx, st, d)
}

func plan(ctx context.Context, cfg Config, d Deps) nagios.Result {
	d.step("reading the topology")
	t, err := d.Discover(ctx)
	if err != nil {
		p := nagios.AsProblem(err)
		return nagios.Result{Status: p.Status, Summary: "topology not read: " + p.Msg}
	}
	steps := Plan(t, cfg.Options)
	var done []Kind
	for _, s := range steps {
		done = append(done, s.Kind)
	}
	back := Rollback(t, cfg.Options, done)
	res := nagios.Result{Status: nagios.OK,
		Summary: fmt.Sprintf("plan: %d steps to promote %s over %s (%s, %s); nothing changed", len(steps), promotion.Node(t.New), promotion.Node(t.Old), docCount(len(t.DBs), "database"), docCount(len(t.Replicas), "other replica"))}
	res.Long = append(res.Long, planLines(steps, "")...)
	res.Long = append(res.Long, fmt.Sprintf("--rehearse then rolls back in %d steps:", len(back)))
	res.Long = append(res.Long, planLines(back, "R")...)
	if st, err := d.State.Load(); err == nil && st.Unfinished() {
		r := st.Stopped()
		res.Long = append([]string{fmt.Sprintf("a run of %s stopped at step %d (%s): --resume or --rollback", st.Run, r.N, r.Kind)}, res.Long...)
	}
	return res
}

func planLines(steps []Step, prefix string) []string {
	var out []string
	for _, s := range steps {
		out = append(out, fmt.Sprintf("%s%d. %s", prefix, s.N, s.Text))
		for _, doc := range s.Docs {
			out = append(out, "   document "+doc+" on "+promotion.Node(s.Node))
		}
		if s.Command != "" {
			out = append(out, "   command: "+s.Command)
		}
	}
	return out
}

// runSteps runs recs from the first not done, saving the state before and
// after each; false when a step failed.
func runSteps(ctx context.Context, st *State, recs []Record, phase string, d Deps) bool {
	ex := d.Exec(st.Topology, st.Options, st.Backups)
	for i := range recs {
		r := &recs[i]
		if r.Status == "done" {
			continue
		}
		if ctx.Err() != nil {
			r.Status, r.Error = "failed", "not started: "+context.Cause(ctx).Error()
			d.State.Save(st)
			return false
		}
		r.Status, r.Started, r.Error, r.Detail = "running", d.now(), "", ""
		if err := d.State.Save(st); err != nil {
			r.Status, r.Error = "failed", "state not saved, not acting: "+err.Error()
			return false
		}
		d.log(Line(st.Run, phase, *r))
		d.step("step %d (%s): %s", r.N, r.Kind, r.Text)
		detail, err := ex.Do(ctx, r.Step)
		r.Seconds = d.now().Sub(r.Started).Seconds()
		r.Detail = d.redact(detail)
		if err != nil {
			r.Status = "failed"
			r.Error = d.redact(nagios.AsProblem(err).Msg)
		} else {
			r.Status = "done"
		}
		saveErr := d.State.Save(st)
		d.log(Line(st.Run, phase, *r))
		if err != nil {
			return false
		}
		if saveErr != nil {
			r.Status, r.Error = "failed", "state not saved: "+saveErr.Error()
			return false
		}
	}
	return true
}

func forward(ctx context.Context, st *State, d Deps) nagios.Result {
	ok := runSteps(ctx, st, st.Forward, PhaseForward, d)
	if !ok {
		stopped := st.Stopped()
		if st.Mode == ModeRehearse {
			// A drill never leaves the registry half promoted: roll back
			// what was done, and report the failure. The rollback posts
			// the one chat message, once its outcome is known.
			return rollback(context.WithoutCancel(ctx), st, d, stopped)
		}
		d.State.Save(st)
		res := stoppedResult(st)
		if d.Notify != nil {
			d.Notify(ctx, "promote_couch_replica: "+res.Summary)
		}
		return res
	}
	if st.Mode == ModeRehearse {
		return rollback(ctx, st, d, nil)
	}
	st.Phase = PhaseDone
	d.State.Save(st)
	res := result(st)
	res.Summary = fmt.Sprintf("promoted %s over %s: %d steps in %.1fs", promotion.Node(st.Topology.New), promotion.Node(st.Topology.Old), len(st.Forward), total(st.Forward))
	if d.Notify != nil {
		d.Notify(ctx, "promote_couch_replica: "+res.Summary)
	}
	return res
}

// rollback runs (or goes on with) the rollback of the forward steps done.
// failed is the forward step that made a rehearsal roll back, if any.
func rollback(ctx context.Context, st *State, d Deps, failed *Record) nagios.Result {
	if st.Phase != PhaseRollback {
		st.Phase = PhaseRollback
		st.Rollback = nil
		for _, s := range Rollback(st.Topology, st.Options, st.DoneKinds()) {
			st.Rollback = append(st.Rollback, Record{Step: s, Status: "pending"})
		}
	}
	ok := runSteps(ctx, st, st.Rollback, PhaseRollback, d)
	if !ok {
		d.State.Save(st)
		res := stoppedResult(st)
		if d.Notify != nil {
			d.Notify(ctx, "promote_couch_replica: "+res.Summary)
		}
		return res
	}
	st.Phase = PhaseRolledBack
	d.State.Save(st)
	res := result(st)
	fw, rb := total(st.Forward), total(st.Rollback)
	res.Status = nagios.OK
	switch {
	case failed != nil:
		res.Status = nagios.CRITICAL
		res.Summary = fmt.Sprintf("rehearsal failed at step %d (%s): %s; rolled back in %.1fs", failed.N, failed.Kind, failed.Error, rb)
	case st.Mode == ModeRehearse && len(st.DoneKinds()) == len(st.Forward):
		res.Summary = fmt.Sprintf("rehearsed: %s took over from %s and handed back; promotion %d steps %.1fs, rollback %d steps %.1fs, total %.1fs",
			promotion.Node(st.Topology.New), promotion.Node(st.Topology.Old), len(st.Forward), fw, len(st.Rollback), rb, fw+rb)
	default:
		res.Summary = fmt.Sprintf("rolled back: %s is the primary again; %d steps in %.1fs", promotion.Node(st.Topology.Old), len(st.Rollback), rb)
		for _, r := range st.Forward {
			if r.Status != "done" {
				res.Summary += fmt.Sprintf(" (the %s had stopped at step %d, %s)", map[bool]string{true: "rehearsal", false: "promotion"}[st.Mode == ModeRehearse], r.N, r.Kind)
				break
			}
		}
	}
	if d.Notify != nil {
		d.Notify(ctx, "promote_couch_replica: "+res.Summary)
	}
	return res
}

func total(recs []Record) float64 {
	var s float64
	for _, r := range recs {
		s += r.Seconds
	}
	return s
}

func stoppedResult(st *State) nagios.Result {
	res := result(st)
	r := st.Stopped()
	what := "promotion"
	if st.Phase == PhaseRollback {
		what = "rollback"
	}
	res.Status = nagios.CRITICAL
	if r == nil {
		res.Summary = fmt.Sprintf("the %s of %s over %s (run %s) did not finish: run with --resume or --rollback", what, promotion.Node(st.Topology.New), promotion.Node(st.Topology.Old), st.Run)
		return res
	}
	why := r.Error
	if r.Status == "running" {
		why = "interrupted"
	}
	res.Summary = fmt.Sprintf("the %s of %s over %s (run %s) stopped at step %d (%s): %s; run with --resume to go on or --rollback to undo",
		what, promotion.Node(st.Topology.New), promotion.Node(st.Topology.Old), st.Run, r.N, r.Kind, why)
	return res
}

// result is the steps as sub-results with their timings.
func result(st *State) nagios.Result {
	res := nagios.Result{Status: nagios.OK, Measurement: MeasurementRun,
		Tags: map[string]string{"old_primary": st.Topology.Old, "new_primary": st.Topology.New, "mode": st.Mode}}
	zero := 0.0
	add := func(recs []Record, phase, prefix string) {
		for _, r := range recs {
			status := nagios.OK
			switch r.Status {
			case "failed", "running":
				status = nagios.CRITICAL
			case "pending":
				status = nagios.UNKNOWN
			}
			summary := r.Text
			if r.Detail != "" {
				summary += " -- " + r.Detail
			}
			if r.Error != "" {
				summary += " -- FAILED: " + r.Error
			}
			if r.Status != "pending" {
				summary += fmt.Sprintf(" (%.2fs)", r.Seconds)
			} else {
				summary += " (not run)"
			}
			sub := nagios.Result{Name: fmt.Sprintf("%s%d %s", prefix, r.N, r.Kind), Status: status, Summary: summary,
				Measurement: MeasurementStep, Tags: map[string]string{"phase": phase, "step": string(r.Kind), "n": strconv.Itoa(r.N), "new_primary": st.Topology.New}}
			if r.Status != "pending" {
				sub.Perf = []nagios.Perf{{Label: fmt.Sprintf("%s%d_%s", prefix, r.N, r.Kind), Field: "seconds", Value: round3(r.Seconds), UOM: "s", Min: &zero}}
			}
			res.Subs = append(res.Subs, sub)
			res.Status = nagios.Worse(res.Status, status)
		}
	}
	add(st.Forward, PhaseForward, "")
	add(st.Rollback, PhaseRollback, "R")
	fw, rb := total(st.Forward), total(st.Rollback)
	res.Perf = []nagios.Perf{
		{Label: "promotion", Field: "promotion_seconds", Value: round3(fw), UOM: "s", Min: &zero},
		{Label: "rollback", Field: "rollback_seconds", Value: round3(rb), UOM: "s", Min: &zero},
		{Label: "total", Field: "total_seconds", Value: round3(fw + rb), UOM: "s", Min: &zero},
	}
	return res
}

func round3(v float64) float64 { return float64(int64(v*1000+0.5)) / 1000 }
