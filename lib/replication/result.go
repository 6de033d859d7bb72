package replication

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/registry-checks/registry-checks/lib/couch"
	"github.com/registry-checks/registry-checks/lib/nagios"
)

// judgeLags makes the verdict worse when a lag crosses its thresholds or a
// probe showed what the state hides: a source the checker cannot reach, a
// heartbeat that does not arrive.
func judgeLags(r *Replication, th Thresholds) {
	worsen := func(st nagios.Status, cause Cause, reason string) {
		if st == nagios.OK {
			return
		}
		switch {
		case nagios.Worse(r.Status, st) != r.Status || r.Status == nagios.OK:
			r.Status, r.Reason, r.Cause = st, reason, cause
		case st == r.Status && reason != "" && !strings.Contains(r.Reason, reason):
			if r.Reason == "" {
				r.Reason = reason
			} else {
				r.Reason += "; " + reason
			}
		}
	}
	if !alive(r) {
		return
	}
	if r.sourceUnreachable != "" {
		// The request and its address are in the lag notes; the summary
		// keeps to the cause.
		cause := transportCause(strings.ToLower(r.sourceUnreachable))
		if r.heartbeatOnly {
			// PouchDB Server says "triggered" whatever happens: a source
			// nobody can reach is all there is to know.
			r.SourceDown = true
			c := Cause{What: CauseSourceUnreachable, Server: serverOf(r.sourceURL), Detail: cause}
			worsen(nagios.CRITICAL, c, c.String())
		} else {
			worsen(nagios.WARNING, Cause{What: "source unreachable from the checker", Server: serverOf(r.sourceURL), Detail: cause}, "source unreachable from the checker ("+cause+")")
		}
	}
	if r.HasStats && r.DocWriteFailures > 0 {
		// Before the lags: a refused document is lost on the target,
		// a lag only late; the first line names it.
		what := fmt.Sprintf("%d %s refused by the target", r.DocWriteFailures, plural(int(r.DocWriteFailures), "document", "documents"))
		worsen(th.WriteFailures.Status(float64(r.DocWriteFailures)), Cause{What: CauseRefused, Detail: what}, what)
	}
	if r.SeqLag.Known {
		worsen(th.SeqLag.Status(r.SeqLag.Value), Cause{What: "behind the source"}, fmt.Sprintf("%d changes behind", int64(r.SeqLag.Value)))
	}
	if r.CheckpointAge.Known && r.SeqLag.Known && r.SeqLag.Value > 0 {
		worsen(th.CheckpointAge.Status(r.CheckpointAge.Value), Cause{What: "no checkpoint while behind"}, fmt.Sprintf("no checkpoint for %s while changes are pending", age(secs(r.CheckpointAge.Value))))
	}
	if h := r.HeartbeatLag; h.Known {
		st := th.HeartbeatLag.Status(h.Value)
		if h.AtLeast {
			reason := fmt.Sprintf("heartbeat not arriving (none for %s)", age(secs(h.Value)))
			if r.State == Triggered {
				// Nothing but the heartbeat says whether a triggered
				// replication moves data, and it does not.
				reason = "triggered but " + reason
				st = nagios.CRITICAL
			}
			worsen(nagios.Worse(st, nagios.WARNING), Cause{What: "heartbeat not arriving"}, reason)
		} else {
			worsen(st, Cause{What: "heartbeat late"}, fmt.Sprintf("heartbeat lag %s", seconds(h.Value)))
		}
	}
}

// stateCodes number the normalized states for perfdata and line protocol.
var stateCodes = map[string]int{
	Running: 0, Completed: 1, Triggered: 2, Pending: 3, Initializing: 4,
	Crashing: 5, Error: 6, Failed: 7, Missing: 8, Unknown: 9,
}

// maxStateCode is the largest StateCode, the job_state perfdata's max.
var maxStateCode = 9.0

// StateCode is the number a state is graphed as: 0 running, 1 completed,
// 2 triggered, 3 pending, 4 initializing, 5 crashing, 6 error, 7 failed,
// 8 missing, 9 anything else.
func StateCode(state string) int {
	if c, ok := stateCodes[state]; ok {
		return c
	}
	return 9
}

// Name is how a replication is named in output: its doc id, or for a
// transient one "transient <source db>-><target db>".
func (r Replication) Name() string {
	if !r.Transient {
		return r.DocID
	}
	return "transient " + dbOf(r.sourceURL) + "->" + dbOf(r.targetURL)
}

// Summary is the one-line verdict: the state, then the reason.
func (r Replication) Summary() string {
	s := r.State
	if r.Reason != "" {
		s += " (" + r.Reason + ")"
	}
	return s
}

// Result is the Nagios result of the report: one sub-result per
// replication (worst first in the summary), CRITICAL when fewer than
// Expect replications exist.
func (rep Report) Result() nagios.Result {
	th := rep.th
	subs := make([]nagios.Result, 0, len(rep.Replications))
	for i := range rep.Replications {
		subs = append(subs, rep.Replications[i].result(th, rep.Node))
	}
	res := nagios.Aggregate("replications", subs)
	groups, failing := rep.groups()
	if rep.Queued > 0 {
		// Pending is how CouchDB runs more replications than max_jobs:
		// said, counted, not alarmed (judgeState alarms a wait longer
		// than the rotation explains).
		behind := "max_jobs"
		if l := rep.Limits; l != nil {
			behind = l.String()
			res.Long = append(res.Long, fmt.Sprintf("%d %s queued behind %s (node: %d running, %d pending); the scheduler starts up to %d every %s: WARNING after %s pending",
				rep.Queued, plural(rep.Queued, "replication", "replications"), behind, l.Running, l.Pending, l.MaxChurn, age(l.Interval), age(rep.th.PendingAge)))
		}
		if failing == 0 {
			res.Summary += fmt.Sprintf(", %d queued behind %s", rep.Queued, behind)
		}
		zero := 0.0
		res.Perf = append(res.Perf, nagios.Perf{Label: "queued", Field: "queued", Value: float64(rep.Queued), Integer: true, Min: &zero})
	}
	res.Long = append(res.Long, rep.Notes...)
	if rep.Server != "" {
		res.Long = append(res.Long, "server: "+rep.Server)
	}
	var pre []string
	if rep.Expect > 0 && rep.Found < rep.Expect {
		res.Status = nagios.CRITICAL
		pre = append(pre, fmt.Sprintf("only %d of %d expected replications", rep.Found, rep.Expect))
	}
	if rep.heartbeatUnmatched {
		res.Status = nagios.Worse(res.Status, nagios.UNKNOWN)
		pre = append(pre, "no selected replication reads the heartbeat database")
	}
	head := ""
	if len(pre) > 0 {
		head = strings.Join(pre, "; ")
		if len(subs) > 0 {
			head += "; "
		}
	}
	switch {
	case failing > 0 && (len(groups) < failing || len(head)+len(res.Summary) > nagios.GroupBudget || strings.HasSuffix(res.Summary, " more")):
		// Several replications share a cause, or they do not all fit:
		// one clause per cause.
		head += fmt.Sprintf("%d of %d replications failing: ", failing, len(subs))
		res.Summary = nagios.Grouped(head, ", ", groups, nagios.GroupBudget)
	case len(subs) == 0 && head != "":
		res.Summary = strings.TrimSuffix(head, "; ")
	default:
		// Each failing replication has a cause of its own: name each,
		// with its numbers.
		res.Summary = head + res.Summary
	}
	if rep.Expect > 0 {
		zero := 0.0
		res.Perf = append(res.Perf, nagios.Perf{Label: "replications", Field: "replications", Value: float64(rep.Found), Integer: true, Crit: strconv.Itoa(rep.Expect) + ":", Min: &zero})
		res.Measurement = "couch_replications"
		res.Tags = map[string]string{"node": rep.Node}
	}
	return res
}

func (r Replication) result(th Thresholds, node string) nagios.Result {
	name := r.Name()
	res := nagios.Result{
		Name:        name,
		Status:      r.Status,
		Summary:     r.Summary(),
		Measurement: "couch_replication",
		Tags: map[string]string{
			"node":      node,
			"key":       r.Key,
			"source":    r.Source,
			"target":    r.Target,
			"transient": strconv.FormatBool(r.Transient),
		},
	}
	if r.DocID != "" {
		res.Tags["doc_id"] = r.DocID
		res.Tags["replicator_db"] = r.Database
	}
	for k, v := range res.Tags {
		if v == "" {
			delete(res.Tags, k)
		}
	}
	if r.Source != "" || r.Target != "" {
		res.Long = append(res.Long, r.Source+" -> "+r.Target)
	}
	if r.LastError != "" {
		// The raw error is for the one who reads on at -v; the summary
		// and the groups say what it means.
		res.Verbose = append(res.Verbose, fmt.Sprintf("last error (error_count %d): %s", r.ErrorCount, clip(couch.OneLine(r.red.Redact(r.LastError)), 300)))
	}
	for _, l := range []struct {
		what string
		lag  Lag
	}{{"seq lag", r.SeqLag}, {"checkpoint age", r.CheckpointAge}, {"heartbeat lag", r.HeartbeatLag}} {
		if l.lag.Note != "" {
			res.Long = append(res.Long, l.what+": "+l.lag.Note)
		}
	}
	res.Long = append(res.Long, r.Notes...)

	label := func(what string) string { return name + " " + what }
	zero := new(float64) // one Min for all eight items
	res.Perf = make([]nagios.Perf, 0, 8)
	res.Perf = append(res.Perf,
		// job_state, not state: next to Nagios states (0 OK, 2 CRITICAL)
		// a "state" of 2 (triggered) would read as CRITICAL in graphs. In
		// line protocol "state" is the Nagios state every point carries.
		nagios.Perf{Label: label("job_state"), Field: "job_state", Value: float64(StateCode(r.State)), Integer: true, Min: zero, Max: &maxStateCode},
		nagios.Perf{Label: label("error_count"), Field: "error_count", Value: float64(r.ErrorCount), Integer: true, Min: zero},
	)
	pending := nagios.Perf{Label: label("changes_pending"), Field: "changes_pending", Integer: true, Min: zero, Unknown: r.ChangesPending == nil}
	if r.ChangesPending != nil {
		pending.Value = float64(*r.ChangesPending)
	}
	res.Perf = append(res.Perf, pending,
		th.SeqLag.Apply(lagPerf(label("seq_lag"), "seq_lag", "", r.SeqLag, true, zero)),
		th.CheckpointAge.Apply(lagPerf(label("checkpoint_age"), "checkpoint_age", "s", r.CheckpointAge, false, zero)),
		th.HeartbeatLag.Apply(lagPerf(label("heartbeat_lag"), "heartbeat_lag", "s", r.HeartbeatLag, false, zero)),
		nagios.Perf{Label: label("docs_written"), Field: "docs_written", Value: float64(r.DocsWritten), UOM: "c", Integer: true, Unknown: !r.HasStats},
		th.WriteFailures.Apply(nagios.Perf{Label: label("doc_write_failures"), Field: "doc_write_failures", Value: float64(r.DocWriteFailures), UOM: "c", Integer: true, Unknown: !r.HasStats}),
	)
	return res
}

func lagPerf(label, field, uom string, l Lag, integer bool, zero *float64) nagios.Perf {
	return nagios.Perf{Label: label, Field: field, Value: l.Value, Unknown: !l.Known, UOM: uom, Integer: integer, Min: zero}
}

// groups sorts the replications that are not OK by cause, the largest
// group first, then the worst state, then the order of the server's answer:
// a primary outage is one group of hundreds, said once. A group is one
// state and one kind of cause; its qualifiers are the servers concerned
// (named when one or two, counted beyond) and the details seen, most
// frequent first.
func (rep Report) groups() ([]nagios.Group, int) {
	type group struct {
		status  nagios.Status
		what    string
		servers counter
		details counter
		names   []string
	}
	var gs []*group
	byKey := map[string]*group{}
	failing := 0
	for _, r := range rep.Replications {
		if r.Status == nagios.OK {
			continue
		}
		failing++
		c := r.Cause
		if c.What == "" {
			c.What = r.State // a verdict set without a cause: the state says most
		}
		key := r.Status.String() + "\x00" + c.What
		g := byKey[key]
		if g == nil {
			g = &group{status: r.Status, what: c.What}
			byKey[key] = g
			gs = append(gs, g)
		}
		// Redacted here: Grouped clips names to fit, and a cut secret
		// is one the redactor no longer recognises.
		g.servers.add(r.red.Redact(c.Server))
		g.details.add(r.red.Redact(c.Detail))
		g.names = append(g.names, r.red.Redact(r.Name()))
	}
	// The largest first, whatever its state: in an outage of 500 the
	// 40 recovering from a crash say more than the one bad filter, and
	// a group cut from the line must be a small one. The worse state
	// breaks a tie, then the order of the server's answer.
	sort.SliceStable(gs, func(a, b int) bool {
		if len(gs[a].names) != len(gs[b].names) {
			return len(gs[a].names) > len(gs[b].names)
		}
		return gs[a].status != gs[b].status && nagios.Worse(gs[a].status, gs[b].status) == gs[a].status
	})
	out := make([]nagios.Group, 0, len(gs))
	for _, g := range gs {
		servers := g.servers.top(2)
		if len(g.servers.order) > 2 {
			servers = []string{fmt.Sprintf("%d servers", len(g.servers.order))}
		}
		out = append(out, nagios.Group{Count: len(g.names), What: g.what, Quals: append(servers, g.details.top(3)...), Names: g.names})
	}
	return out, failing
}

// counter counts distinct non-empty strings in the order first seen.
type counter struct {
	n     map[string]int
	order []string
}

func (c *counter) add(s string) {
	if s == "" {
		return
	}
	if c.n == nil {
		c.n = map[string]int{}
	}
	if c.n[s] == 0 {
		c.order = append(c.order, s)
	}
	c.n[s]++
}

// top is up to k strings, most frequent first, then "..." if there are more.
func (c *counter) top(k int) []string {
	out := slices.Clone(c.order)
	sort.SliceStable(out, func(a, b int) bool { return c.n[out[a]] > c.n[out[b]] })
	if len(out) > k {
		out = append(out[:k], "...")
	}
	return out
}
