// Package promote is the runbook of promote_couch_replica as data: Plan
// and Rollback decide the ordered steps for a topology (pure, table
// tested), the executor acts on the nodes, the log records every step,
// and the state file makes a run resumable.
package promote

import (
	"fmt"
	"strings"
	"time"

	"github.com/registry-checks/registry-checks/lib/promotion"
)

// Kind is what a step does.
type Kind string

// The forward steps, in the runbook's order, then the rollback's.
const (
	Fence   Kind = "fence"    // fence the old primary (design doc, or --fence-command)
	CatchUp Kind = "catch_up" // wait until the new primary has every change
	Stop    Kind = "stop"     // back up and delete the new primary's pulls from the old
	Unfence Kind = "unfence"  // remove the fence that replicated to the new primary
	Rewire  Kind = "rewire"   // back up and rewrite a replica's pulls to the new primary
	Demote  Kind = "demote"   // the old primary pulls from the new one (--demote-old)
	Switch  Kind = "switch"   // --config-command with the new primary's URL
	Verify  Kind = "verify"   // heartbeat everywhere, no fence, the promotion model agrees

	FenceNew     Kind = "fence_new"     // rollback: fence the new primary
	Backfill     Kind = "backfill"      // rollback: one-shot copy new -> old of every database
	UnfenceOld   Kind = "unfence_old"   // rollback: remove the fence from the old primary
	SwitchBack   Kind = "switch_back"   // rollback: --config-command with the old primary's URL
	Undemote     Kind = "undemote"      // rollback: delete the demotion documents
	Restore      Kind = "restore"       // rollback: write the backed-up documents again
	UnfenceNew   Kind = "unfence_new"   // rollback: remove the fence from the new primary
	VerifyBack   Kind = "verify_back"   // rollback: heartbeat from the old primary everywhere
	FenceCmdUndo Kind = "unfence_cmd"   // rollback of --fence-command: --unfence-command
	UndoNothing  Kind = "nothing_to_do" // a rollback of a run that changed nothing
)

// Pull is a replication document that pulls a database from the old
// primary.
type Pull struct {
	Node         string // URL without credentials of the node holding the document
	ReplicatorDB string
	ID           string
	DB           string // the source database
}

// Ref is how output names the document.
func (p Pull) Ref() string { return p.ReplicatorDB + "/" + p.ID }

// Topology is what a run found before acting: stored in the state file, so
// that a resumed run or a rollback knows the documents it already deleted.
type Topology struct {
	Old      string   `json:"old_primary"`
	New      string   `json:"new_primary"`
	Replicas []string `json:"replicas"`
	DBs      []string `json:"databases"`
	// NewPulls are the new primary's pulls from the old one; ReplicaPulls
	// those of the other replicas.
	NewPulls     []Pull `json:"new_primary_pulls"`
	ReplicaPulls []Pull `json:"replica_pulls"`
}

// Options are the choices of the run that shape the plan.
type Options struct {
	FenceCommand   string
	UnfenceCommand string
	ConfigCommand  string
	DemoteOld      bool
	CatchUpTimeout time.Duration
	VerifyTimeout  time.Duration
	HeartbeatDB    string
}

// WithDefaults fills what depends on the topology: the heartbeat goes to
// the first selected database unless --heartbeat-db names one.
func (o Options) WithDefaults(t Topology) Options {
	if o.HeartbeatDB == "" && len(t.DBs) > 0 {
		o.HeartbeatDB = t.DBs[0]
	}
	return o
}

// Step is one step of the runbook: what it does, where, to which
// documents, with which command.
type Step struct {
	N       int      `json:"n"`
	Kind    Kind     `json:"kind"`
	Node    string   `json:"node,omitempty"`
	Text    string   `json:"text"`
	Docs    []string `json:"docs,omitempty"`    // every document it touches, "db/id"
	Command string   `json:"command,omitempty"` // the command it runs
	Pulls   []Pull   `json:"pulls,omitempty"`   // the replication documents it changes
}

// DemoteID is the demotion document's id for a database.
func DemoteID(db string) string { return "registry-checks-demote-" + db }

// Plan is the ordered forward steps for t.
func Plan(t Topology, o Options) []Step {
	o = o.WithDefaults(t)
	old, nw := promotion.Node(t.Old), promotion.Node(t.New)
	fenceDocs := docsIn(t.DBs, promotion.FenceID)
	var steps []Step
	add := func(s Step) { s.N = len(steps) + 1; steps = append(steps, s) }

	if o.FenceCommand != "" {
		add(Step{Kind: Fence, Node: t.Old, Command: o.FenceCommand, Text: "fence " + old + ": run --fence-command"})
	} else {
		add(Step{Kind: Fence, Node: t.Old, Docs: fenceDocs,
			Text: fmt.Sprintf("fence %s: write %s into %s, then the %s marker into their _security there, which does not replicate: clients' writes are refused on %s only", old, promotion.FenceID, dbList(t.DBs), promotion.FenceMarker, old)})
	}
	add(Step{Kind: CatchUp, Node: t.New,
		Text: fmt.Sprintf("wait until %s's pulls have processed every change of %s on %s through the fence (no change after their through_seq) and _revs_diff finds nothing missing (at most %s)", nw, dbList(t.DBs), old, o.CatchUpTimeout)})
	add(Step{Kind: Stop, Node: t.New, Pulls: t.NewPulls, Docs: refs(t.NewPulls),
		Text: fmt.Sprintf("stop %s's pulls from %s: back up and delete %s", nw, old, docCount(len(t.NewPulls), "replication document"))})
	if o.FenceCommand == "" {
		add(Step{Kind: Unfence, Node: t.New, Docs: fenceDocs,
			Text: fmt.Sprintf("unfence %s: delete %s where it arrived by replication (inert there), then copy any revision of the old primary it still lacks (_revs_diff, paged)", nw, promotion.FenceID)})
	}
	for _, r := range t.Replicas {
		pulls := pullsOf(t.ReplicaPulls, r)
		add(Step{Kind: Rewire, Node: r, Pulls: pulls,
			Docs: append(refs(pulls), fenceDocs...),
			Text: fmt.Sprintf("rewire %s: delete the fence that arrived by replication, back up %s and rewrite them with source %s (same ids)", promotion.Node(r), docCount(len(pulls), "replication document"), nw)})
	}
	if o.ConfigCommand != "" {
		add(Step{Kind: Switch, Node: t.New, Command: o.ConfigCommand,
			Text: fmt.Sprintf("switch traffic to %s: run --config-command with PROMOTE_NEW_PRIMARY_URL=%s", nw, t.New)})
	} else {
		add(Step{Kind: Switch, Node: t.New, Text: fmt.Sprintf("switch traffic to %s: no --config-command, nothing run (switch by hand)", nw)})
	}
	if o.DemoteOld {
		var docs []string
		for _, db := range t.DBs {
			docs = append(docs, "_replicator/"+DemoteID(db))
		}
		add(Step{Kind: Demote, Node: t.Old, Docs: docs,
			Text: fmt.Sprintf("demote %s: delete its fence (it is a replica now: the fence would refuse the replicated writes), create %s pulling from %s", old, docCount(len(docs), "replication document"), nw)})
	}
	to := append([]string{}, t.Replicas...)
	if o.DemoteOld {
		to = append(to, t.Old)
	}
	add(Step{Kind: Verify, Node: t.New, Docs: []string{o.HeartbeatDB + "/" + HeartbeatID},
		Text: fmt.Sprintf("verify: a heartbeat written on %s arrives on %s within %s; no fence on %s; check_couch_promotion's model agrees", nw, nodeList(to), o.VerifyTimeout, nw)})
	return steps
}

// Rollback is the steps that undo the forward steps done, in order: the
// new primary is fenced and copied back before the old one takes writes
// again, so that nothing acknowledged by either primary is lost.
func Rollback(t Topology, o Options, done []Kind) []Step {
	o = o.WithDefaults(t)
	has := map[Kind]bool{}
	for _, k := range done {
		has[k] = true
	}
	old, nw := promotion.Node(t.Old), promotion.Node(t.New)
	fenceDocs := docsIn(t.DBs, promotion.FenceID)
	var steps []Step
	add := func(s Step) { s.N = len(steps) + 1; steps = append(steps, s) }
	switched := has[Switch]
	// First: a demoted old primary still pulls from the new one, and would
	// take the new primary's fence (and refuse the copy back).
	if has[Demote] {
		var docs []string
		for _, db := range t.DBs {
			docs = append(docs, "_replicator/"+DemoteID(db))
		}
		add(Step{Kind: Undemote, Node: t.Old, Docs: docs, Text: fmt.Sprintf("undo the demotion of %s: delete %s", old, docCount(len(docs), "replication document"))})
	}
	if switched {
		add(Step{Kind: FenceNew, Node: t.New, Docs: fenceDocs, Text: fmt.Sprintf("fence %s: write %s into %s and the %s marker into their _security", nw, promotion.FenceID, dbList(t.DBs), promotion.FenceMarker)})
	}
	if has[Fence] {
		if o.FenceCommand != "" {
			if o.UnfenceCommand != "" {
				add(Step{Kind: FenceCmdUndo, Node: t.Old, Command: o.UnfenceCommand, Text: "unfence " + old + ": run --unfence-command"})
			} else {
				add(Step{Kind: FenceCmdUndo, Node: t.Old, Text: "unfence " + old + ": no --unfence-command, undo --fence-command by hand"})
			}
		} else {
			add(Step{Kind: UnfenceOld, Node: t.Old, Docs: fenceDocs, Text: fmt.Sprintf("unfence %s: remove the %s marker from _security, delete %s", old, promotion.FenceMarker, promotion.FenceID)})
		}
	}
	if switched {
		// After the unfence: the old primary's fence would refuse the
		// copies (validate_doc_update runs on replicated writes too).
		add(Step{Kind: Backfill, Node: t.Old, Text: fmt.Sprintf("copy back to %s every revision %s took while primary, compared with _revs_diff, for %s (at most %s)", old, nw, dbList(t.DBs), o.CatchUpTimeout)})
	}
	if switched {
		text := fmt.Sprintf("switch traffic back to %s: run --config-command with PROMOTE_NEW_PRIMARY_URL=%s PROMOTE_ROLLBACK=1", old, t.Old)
		if o.ConfigCommand == "" {
			text = fmt.Sprintf("switch traffic back to %s: no --config-command, nothing run (switch by hand)", old)
		}
		add(Step{Kind: SwitchBack, Node: t.Old, Command: o.ConfigCommand, Text: text})
	}
	if switched || has[Unfence] {
		// Before the pulls are restored: the new primary's marker would
		// refuse the replicated writes of its restored pulls. Its fence
		// design document reached the replicas that pulled from it, on a
		// branch of its own, which no tombstone from the old primary ends.
		add(Step{Kind: UnfenceNew, Node: t.New, Docs: fenceDocs, Text: fmt.Sprintf("unfence %s: remove the %s marker, delete %s there and on %s", nw, promotion.FenceMarker, promotion.FenceID, nodeList(t.Replicas))})
	}
	if has[Rewire] {
		for _, r := range t.Replicas {
			pulls := pullsOf(t.ReplicaPulls, r)
			add(Step{Kind: Restore, Node: r, Pulls: pulls, Docs: refs(pulls),
				Text: fmt.Sprintf("restore %s: write back %s from the backups", promotion.Node(r), docCount(len(pulls), "replication document"))})
		}
	}
	if has[Stop] {
		add(Step{Kind: Restore, Node: t.New, Pulls: t.NewPulls, Docs: refs(t.NewPulls),
			Text: fmt.Sprintf("restore %s's pulls from %s: write back %s from the backups", nw, old, docCount(len(t.NewPulls), "replication document"))})
	}
	if len(steps) == 0 {
		add(Step{Kind: UndoNothing, Text: "nothing to undo: no step changed anything"})
		return steps
	}
	to := append([]string{t.New}, t.Replicas...)
	add(Step{Kind: VerifyBack, Node: t.Old, Docs: []string{o.HeartbeatDB + "/" + HeartbeatID},
		Text: fmt.Sprintf("verify: a heartbeat written on %s arrives on %s within %s", old, nodeList(to), o.VerifyTimeout)})
	return steps
}

// HeartbeatID is the verification heartbeat's document id.
const HeartbeatID = "registry-checks-promotion-heartbeat"

func docsIn(dbs []string, id string) []string {
	out := make([]string, len(dbs))
	for i, db := range dbs {
		out[i] = db + "/" + id
	}
	return out
}

func refs(pulls []Pull) []string {
	out := make([]string, len(pulls))
	for i, p := range pulls {
		out[i] = p.Ref()
	}
	return out
}

func pullsOf(all []Pull, node string) []Pull {
	var out []Pull
	for _, p := range all {
		if p.Node == node {
			out = append(out, p)
		}
	}
	return out
}

func docCount(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func dbList(dbs []string) string {
	s := docCount(len(dbs), "database")
	if len(dbs) == 0 {
		return s
	}
	shown := dbs[:min(len(dbs), 3)]
	s += " (" + strings.Join(shown, ", ")
	if len(dbs) > len(shown) {
		s += fmt.Sprintf(", +%d", len(dbs)-len(shown))
	}
	return s + ")"
}

func nodeList(urls []string) string {
	if len(urls) == 0 {
		return "no other node"
	}
	names := make([]string, len(urls))
	for i, u := range urls {
		names[i] = promotion.Node(u)
	}
	return strings.Join(names, ", ")
}
