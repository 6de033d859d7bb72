package restart

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/registry-checks/registry-checks/lib/nagios"
	"github.com/registry-checks/registry-checks/lib/notify"
	"github.com/registry-checks/registry-checks/lib/secret"
)

// Measurement is the line-protocol measurement of decision events.
const Measurement = "couch_replication_restart"

// Observed is one replication as the check logic sees it, with what a
// restart would need.
type Observed struct {
	Replication
	Target Target
	// Source is the source database URL without credentials, for the
	// source check ("" when unknown: then the source cannot be checked
	// and counts as answering, since the check saw it fail for another
	// reason than a dead source).
	Source      string
	SourceCreds secret.Credentials // the replication's own, zero when none
}

// Config is one run.
type Config struct {
	Mode   Mode
	Event  NagiosEvent
	Policy Policy
	DryRun bool
	Node   string // target node URL, no credentials
}

// Deps are the run's side effects.
type Deps struct {
	// Assess runs the check logic and returns every selected replication.
	Assess func(ctx context.Context) ([]Observed, error)
	// CheckSource looks at a replication's source just before a restart.
	CheckSource func(ctx context.Context, o Observed) (SourceCheck, string)
	Exec        Executor
	// Problem turns an error into its state and message, applying
	// --timeout-state to a timeout (plugin.Env.Problem); nil: the
	// Problem's own state.
	Problem func(error) (nagios.Status, string)
	Store   *Store
	Log     Logger          // nil: no decision log
	Webhook *notify.Webhook // nil: no chat message
	Step    func(format string, args ...any)
	Now     func() time.Time
	// Secrets is the run's redactor: every text that leaves by the
	// decision log, the chat webhook or the state file is redacted with
	// it (nil: the patterns of secret.ScrubPatterns only) and made one
	// line first. The output and line protocol get the run path's.
	Secrets *secret.Redactor
}

// Run decides about every replication, acts, records and logs, and
// returns the handler's result: one sub-result (one line-protocol point)
// per decision.
func Run(ctx context.Context, cfg Config, d Deps) nagios.Result {
	r := runner{cfg: cfg, d: d, now: d.Now()}
	return r.run(ctx)
}

type runner struct {
	cfg   Config
	d     Deps
	now   time.Time
	subs  []nagios.Result
	notes []string
	// top carries the point of a decision about the whole run (no
	// replication): the top-level result's Measurement and Tags.
	top *nagios.Result
	// chat holds the run's chat-worthy decisions, posted together as one
	// message when the run ends.
	chat []string
}

func (r *runner) step(format string, args ...any) {
	if r.d.Step != nil {
		r.d.Step(format, args...)
	}
}

func (r *runner) run(ctx context.Context) nagios.Result {
	gateEv := Event{Mode: r.cfg.Mode, Nagios: r.cfg.Event, Now: r.now}
	gate := Decide(gateEv, History{}, r.cfg.Policy)

	r.step("lock %s", r.d.Store.LockFile())
	if err := r.d.Store.Lock(ctx); err != nil {
		// Another run acts on this node now; it will have done what this
		// one would.
		res := nagios.Result{Status: nagios.UNKNOWN, Summary: err.Error()}
		r.decision(ctx, "", Action{Kind: Nothing, Code: "locked", Why: err.Error(), Status: nagios.UNKNOWN}, "skipped", nil)
		return r.result(ctx, res)
	}
	defer r.d.Store.Unlock()

	st, err := r.d.Store.Load()
	if err != nil {
		r.notes = append(r.notes, err.Error())
	}
	if r.cfg.Mode == ModeHandler && NewProblem(r.cfg.Event) {
		for k, h := range st.Replications {
			h.ActedThisProblem = false
			st.Replications[k] = h
		}
	}
	st.Node = r.cfg.Node

	if gate.Kind != Assess {
		r.decision(ctx, "", gate, string(gate.Kind), nil)
		r.save(st)
		return r.result(ctx, nagios.Result{Status: gate.Status, Summary: gate.Why})
	}

	r.step("assessing the replications of %s", r.cfg.Node)
	obs, err := r.d.Assess(ctx)
	if err != nil {
		p := nagios.AsProblem(err)
		a := Action{Kind: Nothing, Code: "assess_failed", Why: "cannot see the replications, not acting: " + p.Msg, Status: p.Status}
		switch {
		case r.d.Problem != nil && (p.Timeout || errors.Is(err, context.DeadlineExceeded)):
			// --timeout-state, as every check: the operator's word.
			st, msg := r.d.Problem(err)
			a.Status, a.Why = st, "cannot see the replications, not acting: "+msg
		case p.Status == nagios.OK || p.Status == nagios.WARNING:
			a.Status = nagios.UNKNOWN
		}
		r.decision(ctx, "", a, "skipped", nil)
		r.save(st)
		return r.result(ctx, nagios.Result{Status: a.Status, Summary: a.Why})
	}

	seen := map[string]bool{}
	healthy := 0
	var outs []outcome
	// Decide about every replication, look at each source that a restart
	// needs once, then restart all the replications to restart together:
	// in a primary outage they are hundreds, with a handful of sources.
	evs := make([]Event, len(obs))
	acts := make([]Action, len(obs))
	// The state file is written text too: a replication is filed under
	// its key as it may be printed (redacted, one line).
	stateKeys := make([]string, len(obs))
	var toCheck []int
	for i := range obs {
		o := &obs[i]
		stateKeys[i] = r.text(o.Key)
		seen[stateKeys[i]] = true
		evs[i] = Event{Mode: r.cfg.Mode, Nagios: r.cfg.Event, Replication: &o.Replication, Now: r.now}
		acts[i] = Decide(evs[i], st.Replications[stateKeys[i]], r.cfg.Policy)
		if acts[i].Kind == CheckSource {
			toCheck = append(toCheck, i)
		}
	}
	r.checkSources(ctx, obs, evs, toCheck)
	for _, i := range toCheck {
		acts[i] = Decide(evs[i], st.Replications[stateKeys[i]], r.cfg.Policy)
	}
	var targets []Target
	var restartOf []int
	for i := range obs {
		if acts[i].Kind != Restart {
			continue
		}
		t := obs[i].Target
		t.Reason = obs[i].Reason
		if t.Reason == "" {
			t.Reason = obs[i].State
		}
		targets = append(targets, t)
		restartOf = append(restartOf, i)
	}
	outcomes := map[int]Outcome{}
	if len(targets) > 0 {
		r.step("restarting %d replications (%s ...)", len(targets), targets[0].where())
		for k, out := range r.d.Exec.Restart(ctx, targets) {
			outcomes[restartOf[k]] = out
		}
	}
	for i := range obs {
		o, ev, a := &obs[i], evs[i], acts[i]
		stateKey := stateKeys[i]
		h := st.Replications[stateKey]
		restarted := false
		action := string(a.Kind)
		switch a.Kind {
		case Nothing:
			if a.Code == "healthy" {
				healthy++
				st.Replications[stateKey] = Record(h, ev, a, false, r.cfg.Policy)
				continue // a healthy replication is no decision worth a line
			}
		case Restart:
			out := outcomes[i]
			switch {
			case out.Err != nil:
				p := nagios.AsProblem(out.Err)
				// Redacted now: newOutcome keeps only the end of it.
				a = Action{Kind: Restart, Code: "restart_failed", Why: r.text(fmt.Sprintf("restart of %s failed: %s", o.Key, p.Msg)), Status: nagios.CRITICAL}
				action = "restart_failed"
				oc := newOutcome(outRestartFailed, o, a, a.Why)
				if out.Cause != "" {
					// The same words for every replication it happened
					// to: one group, however many.
					oc.why = r.text(out.Cause)
				}
				outs = append(outs, oc)
				// A delete that went through counts against the rate
				// limit: the replication was touched.
				restarted = out.Backup != ""
			case r.cfg.DryRun:
				action = "would_restart"
				a.Why = fmt.Sprintf("%s: %s", out.Detail, summaryOf(o))
				outs = append(outs, newOutcome(outWouldRestart, o, a, "would restart "+summaryOf(o)))
			default:
				action = "restarted"
				restarted = true
				a.Why = fmt.Sprintf("restarted %s: %s", summaryOf(o), out.Detail)
				if out.Backup != "" {
					a.Why += "; backup " + out.Backup
				}
				oc := newOutcome(outRestarted, o, a, "restarted "+summaryOf(o))
				if out.Queued {
					// Started and waiting for a slot: what CouchDB does
					// with a job beyond max_jobs, not a failure.
					oc.queued, oc.limit = true, out.Limit
					oc.clause += ", queued behind " + out.Limit
				}
				outs = append(outs, oc)
			}
		case Wait:
			if a.Code == "source_down" {
				outs = append(outs, newOutcome(outWaiting, o, a, sourceDownClause(o)))
			}
			if a.Code == "first_failure" {
				outs = append(outs, newOutcome(outNextRun, o, a, "nothing to restart yet: "+a.Why))
			}
		case Human:
			outs = append(outs, newOutcome(outHuman, o, a, a.Why))
		}
		st.Replications[stateKey] = Record(h, ev, a, restarted, r.cfg.Policy)
		r.decision(ctx, o.Key, a, action, &o.Replication)
	}
	// Replications no longer reported (healthy again elsewhere, or their
	// doc was removed) end their streak.
	for k, h := range st.Replications {
		if !seen[k] {
			st.Replications[k] = Record(h, Event{Mode: r.cfg.Mode, Nagios: r.cfg.Event, Now: r.now}, Action{Kind: Nothing}, false, r.cfg.Policy)
		}
	}
	r.save(st)

	res := nagios.Result{Status: nagios.OK}
	for _, s := range r.subs {
		res.Status = nagios.Worse(res.Status, s.Status)
	}
	if len(r.subs) > 0 {
		// The run's own point says what it did as a whole.
		r.top = &nagios.Result{Measurement: Measurement, Tags: map[string]string{"node": r.cfg.Node, "mode": string(r.cfg.Mode), "action": "assessed", "code": "assessed"}}
	}
	if len(outs) == 0 {
		res.Summary = fmt.Sprintf("nothing to restart: %d of %d replications healthy", healthy, len(obs))
		if len(r.subs) > 0 {
			res.Summary = fmt.Sprintf("nothing to restart yet: %s", r.subs[0].Summary)
		}
		if len(obs) == 0 {
			res.Summary = "nothing to restart: no replication selected"
		}
		if len(r.subs) == 0 {
			r.decision(ctx, "", Action{Kind: Nothing, Code: "all_healthy", Why: res.Summary, Status: nagios.OK}, string(Nothing), nil)
		}
	} else {
		// summarize cuts names and clauses to fit the first line (which
		// the chat message repeats): redacted first, so that no prefix
		// of a secret is left for the redactor to miss.
		for i := range outs {
			o := &outs[i]
			o.name, o.server, o.why, o.clause = r.text(o.name), r.text(o.server), r.text(o.why), r.text(o.clause)
		}
		res.Summary = summarize(outs)
	}
	return r.result(ctx, res)
}

// sourceChecks is how many sources are looked at together.
const sourceChecks = 8

// checkSources looks at the source of each obs[idx] once per distinct
// source (URL and credentials), sourceChecks at a time, and sets the
// events' Source and SourceWhy.
func (r *runner) checkSources(ctx context.Context, obs []Observed, evs []Event, idx []int) {
	type key struct {
		url   string
		creds secret.Credentials
	}
	type result struct {
		check SourceCheck
		why   string
	}
	first := map[key]int{} // source -> an observation of it
	var order []key
	for _, i := range idx {
		k := key{obs[i].Source, obs[i].SourceCreds}
		if _, ok := first[k]; !ok {
			first[k] = i
			order = append(order, k)
		}
	}
	results := make([]result, len(order))
	sem := make(chan struct{}, sourceChecks)
	var wg sync.WaitGroup
	for n, k := range order {
		o := obs[first[k]]
		r.step("checking the source %s of %s", o.Source, o.Key)
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			c, why := r.d.CheckSource(ctx, o)
			results[n] = result{c, why}
		}()
	}
	wg.Wait()
	byKey := make(map[key]result, len(order))
	for n, k := range order {
		byKey[k] = results[n]
	}
	for _, i := range idx {
		res := byKey[key{obs[i].Source, obs[i].SourceCreds}]
		evs[i].Source, evs[i].SourceWhy = res.check, res.why
	}
}

func summaryOf(o *Observed) string {
	s := o.Key
	if o.Target.DocID != "" {
		s = o.Target.DocID
	}
	if o.Reason != "" {
		return fmt.Sprintf("%s (%s: %s)", s, o.State, o.Reason)
	}
	return fmt.Sprintf("%s (%s)", s, o.State)
}

// text makes text that may hold what a server sent (document ids,
// reasons) fit to leave by the log, the webhook or the state file:
// redacted with the run's redactor, then one line of plain text.
func (r *runner) text(s string) string { return secret.Sanitize(r.d.Secrets.Redact(s)) }

// decision logs one decision three ways (log line, line-protocol point
// through a sub-result, chat message) and keeps it for the output.
func (r *runner) decision(ctx context.Context, key string, a Action, action string, rep *Replication) {
	d := Decision{Node: r.text(r.cfg.Node), Key: r.text(key), Mode: r.cfg.Mode, Action: action, Code: a.Code, Message: r.text(a.Why), DryRun: r.cfg.DryRun}
	if r.cfg.Mode == ModeHandler {
		d.Event = r.cfg.Event.String()
	}
	if r.d.Log != nil {
		if err := r.d.Log.Log(d.Line()); err != nil {
			r.notes = append(r.notes, "decision log: "+err.Error())
		}
	}
	tags := map[string]string{"node": r.cfg.Node, "mode": string(r.cfg.Mode), "action": action, "code": a.Code}
	if key != "" {
		tags["replication"] = key
	}
	if r.cfg.DryRun {
		tags["dry_run"] = "true"
	}
	sub := nagios.Result{Name: key, Status: a.Status, Summary: a.Why, Measurement: Measurement, Tags: tags}
	if key != "" {
		did := 0.0
		if action == "restarted" {
			did = 1
		}
		sub.Perf = []nagios.Perf{{Label: key + " restarted", Field: "restarted", Value: did, Integer: true}}
	}
	if key == "" {
		r.top = &sub
	} else {
		r.subs = append(r.subs, sub)
	}
	if r.d.Webhook != nil && chatWorthy(a, action) {
		r.chat = append(r.chat, d.Message)
	}
}

// chatLines is how many decisions one chat message lists under the run's
// summary; the rest are counted (the decision log has every one).
const chatLines = 10

// postChat sends the run's chat-worthy decisions as one message: a big
// outage is one post saying what the run did as a whole (its grouped
// first line), with the first few replications under it, not one post per
// replication.
func (r *runner) postChat(ctx context.Context, summary string) {
	if r.d.Webhook == nil || len(r.chat) == 0 {
		return
	}
	head := r.chat[0]
	if len(r.chat) > 1 {
		head = r.text(summary)
	}
	text := fmt.Sprintf("restart_couch_replication on %s: %s", r.text(r.cfg.Node), head)
	if r.cfg.Mode == ModeHandler {
		text += " (Nagios " + r.cfg.Event.String() + ")"
	}
	if len(r.chat) > 1 {
		for i, line := range r.chat {
			if i == chatLines {
				text += fmt.Sprintf("\n(+%d more in the decision log)", len(r.chat)-chatLines)
				break
			}
			text += "\n- " + line
		}
	}
	r.step("POST chat webhook")
	if err := r.d.Webhook.Post(ctx, text); err != nil {
		r.notes = append(r.notes, err.Error())
	}
}

// chatWorthy: the chat channel gets what an operator would act on or
// want on record (restarts, failures, a human needed, a source still
// down), not the quiet decisions of every event.
func chatWorthy(a Action, action string) bool {
	switch a.Kind {
	case Restart, Human:
		return true
	case Wait:
		return a.Code == "source_down"
	}
	return false
}

func (r *runner) save(st State) {
	if err := r.d.Store.Save(st); err != nil {
		r.notes = append(r.notes, "state file not saved (the rate limit may not count this run): "+err.Error())
	}
}

// result posts the chat message and adds the decisions and notes to res.
func (r *runner) result(ctx context.Context, res nagios.Result) nagios.Result {
	r.postChat(ctx, res.Summary)
	res.Subs = r.subs
	if r.top != nil {
		res.Measurement, res.Tags = r.top.Measurement, r.top.Tags
	}
	res.Long = append(res.Long, r.notes...)
	return res
}
