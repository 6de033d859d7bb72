// Package promotion is the model of a CouchDB replica taking over as write
// primary, shared by check_couch_promotion and promote_couch_replica: it
// compares a replica with its primary database by database (presence, lag,
// document counts, design documents, _security, the replication feeding
// it) and the replica itself (a write, disk headroom, server admins), and
// names every blocker class once, counted.
//
// What a server cannot answer (PouchDB Server has no _scheduler, 3.x no
// /_config/admins without the node-local path, ...) is NotChecked, never OK.
package promotion

import (
	"path"
	"slices"
	"strings"

	"github.com/registry-checks/registry-checks/lib/fsstat"
	"github.com/registry-checks/registry-checks/lib/nagios"
)

// FenceID is the design document whose validate_doc_update fences a
// database: it refuses a write only where the database's _security
// carries FenceMarker (see fence.go).
const FenceID = "_design/registry-checks-fence"

// FenceMarker is the _security field that turns the fence on. _security
// does not replicate, and CouchDB hands it to validate_doc_update as its
// fourth argument: the fence design document replicates everywhere and
// refuses nothing but on the one node whose _security has the marker.
const FenceMarker = "registry_checks_fence"

// FenceFunction is the fence's validate_doc_update.
const FenceFunction = `function (newDoc, oldDoc, userCtx, secObj) { if (secObj && secObj.` + FenceMarker + `) { throw({forbidden: 'this database is fenced by promote_couch_replica: writes go to the new primary'}); } }`

// FenceDoc is the body of the fence design document; by names the run.
func FenceDoc(by, at string) map[string]any {
	return map[string]any{"validate_doc_update": FenceFunction, "registry_checks": map[string]string{"written_by": by, "written_at": at}}
}

// DefaultProbeDB is where the write probe writes.
const DefaultProbeDB = "registry_checks_probe"

// Selection chooses the databases compared: path.Match patterns over the
// primary's database names. System databases (a leading "_") and the probe
// database are left out unless named literally.
type Selection struct {
	Include []string // default: every database
	Exclude []string
	ProbeDB string
}

// Select applies the selection to the primary's databases, keeping their
// order; missing are the literal names included that the primary lacks.
func (s Selection) Select(all []string) (names, missing []string) {
	match := func(patterns []string, name string) bool {
		for _, p := range patterns {
			if ok, _ := path.Match(p, name); ok {
				return true
			}
		}
		return false
	}
	for _, n := range all {
		literal := slices.Contains(s.Include, n)
		if !literal && (strings.HasPrefix(n, "_") || n == s.ProbeDB) {
			continue
		}
		if (len(s.Include) == 0 || match(s.Include, n)) && !match(s.Exclude, n) {
			names = append(names, n)
		}
	}
	for _, p := range s.Include {
		if !strings.ContainsAny(p, `*?[\`) && !slices.Contains(all, p) && !match(s.Exclude, p) {
			missing = append(missing, p)
		}
	}
	return names, missing
}

// Config is one comparison.
type Config struct {
	Selection
	// PrimaryAliases are other URLs under which the replica's replication
	// documents name the primary (a private hostname, say).
	PrimaryAliases []string
	Lag            nagios.Thresholds // changes behind (update_seq minus through_seq), worst database
	DocDiff        nagios.Thresholds // documents behind (doc_count + doc_del_count), worst database
	WriteProbe     bool              // write and delete a document in ProbeDB on the replica
	ProbeID        string            // the probe document's id, unique to the run
	DataDir        string            // the replica's data directory, when run on its host
	Statfs         func(string) (fsstat.FS, error)
	NotChecked     nagios.Status // the state of a run where something could not be checked (default OK)
	MaxNames       int           // names listed per blocker class in the summary (default 2)
}

// Blocker classes, in the order a summary names them.
const (
	ClassUnreachable   = "replica_unreachable"
	ClassMissing       = "missing"
	ClassNoReplication = "no_replication"
	ClassBehind        = "behind"
	ClassDiverged      = "diverged"
	ClassDocDiff       = "doc_count"
	ClassDesign        = "design"
	ClassSecurity      = "security"
	ClassFenced        = "fenced"
	ClassWrite         = "write"
	ClassHeadroom      = "headroom"
	ClassAdmins        = "admins"
)

// Classes lists every blocker class, in summary order.
var Classes = []string{ClassUnreachable, ClassMissing, ClassNoReplication, ClassDiverged, ClassBehind, ClassDocDiff, ClassDesign, ClassSecurity, ClassFenced, ClassWrite, ClassHeadroom, ClassAdmins}

// Finding is one blocker: a class, the state it weighs, the object (a
// database name, or "" for the replica itself) and the detail for the long
// output.
type Finding struct {
	Class  string
	Status nagios.Status
	Object string
	Detail string
}

// DB is the comparison of one database.
type DB struct {
	Name         string
	OnReplica    bool
	Replication  string // the doc id (or key) of the replication feeding it, "" when none runs
	SeqLag       int64
	SeqLagKnown  bool
	DocDiff      int64 // primary's doc_count + doc_del_count minus the replica's
	DocDiffKnown bool
	MissingDocs  int // documents the replica lacks for good (_revs_diff), when diverged
}

// Report is the outcome of one Compare.
type Report struct {
	Primary, Replica string // URLs without credentials
	DBs              []DB
	Findings         []Finding
	NotChecked       []string // what could not be checked, with why ("_security: 404 ...")
	Headroom         *int64   // bytes left after compacting the replica's largest database
	WriteMillis      *float64 // the write probe's round trip
	Notes            []string
	Secrets          []string // passwords read from replication documents

	cfg Config
}

// Count is the number of findings of a class.
func (r Report) Count(class string) int {
	n := 0
	for _, f := range r.Findings {
		if f.Class == class {
			n++
		}
	}
	return n
}

// MissingDocs is the number of documents the replicas lack for good,
// over every database found diverged.
func (r Report) MissingDocs() int {
	n := 0
	for _, d := range r.DBs {
		n += d.MissingDocs
	}
	return n
}

// WorstLag is the largest known sequence lag, and whether any is known.
func (r Report) WorstLag() (int64, bool) {
	var worst int64
	known := false
	for _, d := range r.DBs {
		if d.SeqLagKnown {
			worst, known = max(worst, d.SeqLag), true
		}
	}
	return worst, known
}

// WorstDocDiff is the largest known document count difference.
func (r Report) WorstDocDiff() (int64, bool) {
	var worst int64
	known := false
	for _, d := range r.DBs {
		if d.DocDiffKnown {
			worst, known = max(worst, d.DocDiff), true
		}
	}
	return worst, known
}

// Blocked reports whether a CRITICAL finding stands.
func (r Report) Blocked() bool {
	for _, f := range r.Findings {
		if f.Status == nagios.CRITICAL {
			return true
		}
	}
	return false
}
