package restart

import (
	"fmt"
	"slices"
	"strings"

	"github.com/registry-checks/registry-checks/lib/nagios"
	"github.com/registry-checks/registry-checks/lib/replication"
)

// outcome is what a run did about one replication, as its first line
// counts it. The replication's own line (its decision) is in the long
// output.
type outcome struct {
	kind   outcomeKind
	name   string // doc id, or the key of a transient replication
	server string // the source server, scheme://host:port ("" when unknown)
	why    string // restarted: what the restart fixed; human: why a person is needed
	clause string // the clause when each outcome is said alone
	// queued: restarted, and the new job waits for a slot behind the
	// node's limit (limit, e.g. "max_jobs 500").
	queued bool
	limit  string
}

type outcomeKind int

// In the order the first line says them: what went wrong first.
const (
	outRestartFailed outcomeKind = iota
	outRestarted
	outWouldRestart
	outHuman
	outWaiting
	outNextRun // failing for the first time: restarted if still failing on the next run
)

// newOutcome describes the decision a about o.
func newOutcome(kind outcomeKind, o *Observed, a Action, clause string) outcome {
	out := outcome{kind: kind, name: o.Key, server: o.Cause.Server, clause: clause}
	if o.Target.DocID != "" {
		out.name = o.Target.DocID
	}
	if out.server == "" || !o.Cause.SourceDown() {
		out.server = replication.ServerOf(o.Source)
	}
	switch kind {
	case outRestarted, outWouldRestart:
		out.why = fixed(o)
	case outHuman:
		out.why = humanWhy(o, a)
	case outWaiting:
		out.why = "source still down"
	case outRestartFailed:
		// The cause ends the message: "DELETE http://...: connection refused".
		msg := a.Why
		if i := strings.LastIndex(msg, ": "); i >= 0 {
			msg = msg[i+2:]
		}
		out.why = msg
	case outNextRun:
		out.why = o.Cause.What
	}
	return out
}

// fixed is what a restart fixes, said in a few words.
func fixed(o *Observed) string {
	switch {
	case o.Cause.SourceDown(), o.Cause.Detail == replication.CauseSourceUnreachable:
		return "source back"
	case o.Cause.What != "":
		return o.Cause.What
	}
	return o.State
}

// humanWhy is why a person is needed, in a few words.
func humanWhy(o *Observed, a Action) string {
	switch a.Code {
	case "source_gone":
		return replication.CauseSourceDBMissing
	case "target_gone":
		return replication.CauseTargetDBMissing
	case "source_refused":
		return "source refuses the credentials"
	case "rate_limited":
		return "restart limit reached"
	case "already_acted", "restart_did_not_help":
		return "still failing after a restart"
	case "no_definition":
		return "nothing to restart it from"
	}
	if o.Cause.What != "" {
		return o.Cause.What
	}
	return o.State
}

// summarize is the run's first line: one clause per outcome when there
// are few, each with its details; otherwise one clause per kind of
// outcome and cause, counted, within nagios.GroupBudget:
//
//	restarted 202 replications from http://db1:5984 (source back); 1 needs a human (bad-filter: filter missing on source)
//	restarted 500 replications from http://db1:5984 (source back), 105 queued behind max_jobs 500; 3 need a human (...)
//
// Groups are said in the order of their kinds (what went wrong first),
// the largest first within a kind.
func summarize(outs []outcome) string {
	if len(outs) == 0 {
		return ""
	}
	// People read one "need a human" clause: when their reasons differ,
	// each name carries its own.
	whys := map[string]bool{}
	for _, o := range outs {
		if o.kind == outHuman {
			whys[o.why] = true
		}
	}
	if len(whys) > 1 {
		outs = slices.Clone(outs)
		for i := range outs {
			if outs[i].kind == outHuman {
				outs[i].name += ": " + outs[i].why
				outs[i].why = ""
			}
		}
	}
	var groups []nagios.Group
	index := map[groupKey]int{}
	queued := map[int]int{}
	limit := map[int]string{}
	shared := false
	for _, o := range outs {
		k := keyOf(o)
		i, ok := index[k]
		if !ok {
			i = len(groups)
			index[k] = i
			groups = append(groups, nagios.Group{})
		}
		groups[i].Count++
		groups[i].Names = append(groups[i].Names, o.name)
		if groups[i].Count > 1 {
			shared = true
		}
		if o.queued {
			queued[i]++
			limit[i] = o.limit
		}
	}
	for k, i := range index {
		g := &groups[i]
		n := g.Count
		replications := "replications"
		if n == 1 {
			replications = "replication"
		}
		from := ""
		if k.server != "" {
			from = " from " + k.server
		}
		switch k.kind {
		case outRestartFailed:
			g.What = "restarts failed"
			if n == 1 {
				g.What = "restart failed"
			}
			if k.why != "" {
				g.Quals = []string{k.why}
			}
		case outNextRun:
			g.What = "to restart if still failing next run"
			if k.why != "" {
				g.Quals = []string{k.why}
			}
		case outRestarted, outWouldRestart:
			g.Lead = "restarted"
			if k.kind == outWouldRestart {
				g.Lead = "would restart"
			}
			g.What = replications + from
			g.Quals = []string{k.why}
			if q := queued[i]; q > 0 {
				g.Tail = fmt.Sprintf(", %d queued behind %s", q, limit[i])
			}
		case outHuman:
			g.What = "need a human"
			if n == 1 {
				g.What = "needs a human"
			}
			if k.why != "" {
				g.Quals, g.NamesFirst = []string{k.why}, true
			}
		case outWaiting:
			g.What = "waiting"
			if k.server != "" {
				g.What += " for " + k.server
			}
			g.Quals = []string{k.why}
		}
	}
	// Groups in the order of their kind, then of their first outcome.
	ordered := make([]nagios.Group, 0, len(groups))
	kinds := make([]outcomeKind, 0, len(groups))
	for kind := outRestartFailed; kind <= outNextRun; kind++ {
		for _, o := range outs {
			k := keyOf(o)
			if i, ok := index[k]; ok && o.kind == kind {
				ordered = append(ordered, groups[i])
				kinds = append(kinds, kind)
				delete(index, k)
			}
		}
	}
	// Within a kind the largest first: a clause per replication is what
	// the line must never become, and a group cut must be a small one.
	for lo := 0; lo < len(ordered); {
		hi := lo + 1
		for hi < len(ordered) && kinds[hi] == kinds[lo] {
			hi++
		}
		slices.SortStableFunc(ordered[lo:hi], func(a, b nagios.Group) int { return b.Count - a.Count })
		lo = hi
	}
	if !shared {
		clauses := make([]string, 0, len(outs))
		for kind := outRestartFailed; kind <= outNextRun; kind++ {
			for _, o := range outs {
				if o.kind == kind {
					clauses = append(clauses, o.clause)
				}
			}
		}
		if s := strings.Join(clauses, "; "); len(s) <= nagios.GroupBudget {
			return s
		}
	}
	return nagios.Grouped("", "; ", ordered, nagios.GroupBudget)
}

// groupKey is what outcomes said together share.
type groupKey struct {
	kind        outcomeKind
	server, why string
}

// keyOf groups restarts and waits by source server and cause; for the
// others the reason is the point, not the server.
func keyOf(o outcome) groupKey {
	k := groupKey{o.kind, o.server, o.why}
	if o.kind != outRestarted && o.kind != outWouldRestart && o.kind != outWaiting {
		k.server = ""
	}
	return k
}

// sourceDownClause is a replication waiting for its source, said alone.
func sourceDownClause(o *Observed) string {
	return fmt.Sprintf("%s: source still down", o.Key)
}
