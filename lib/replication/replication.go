// Package replication is the model of CouchDB replications shared by
// check_couch_replication and restart_couch_replication: it reads what a
// node says about its replications (the _scheduler endpoints on 2.1+, the
// _replicator documents and _active_tasks on 1.x, 2.0 and PouchDB Server),
// normalizes the state, measures lag three ways and gives each replication
// a verdict with a one-line reason.
package replication

import (
	"encoding/json"
	"math"
	"time"

	"github.com/registry-checks/registry-checks/lib/couch"
	"github.com/registry-checks/registry-checks/lib/nagios"
	"github.com/registry-checks/registry-checks/lib/secret"
)

// Normalized states. The first seven are CouchDB 2.1+'s _scheduler/docs
// states; Triggered is a 1.x/2.0/PouchDB _replicator doc that the server
// believes runs; Missing is a replication the selection named or expected
// that the node does not have.
const (
	Running      = "running"
	Pending      = "pending"
	Initializing = "initializing"
	Crashing     = "crashing"
	Error        = "error"
	Failed       = "failed"
	Completed    = "completed"
	Triggered    = "triggered"
	Missing      = "missing"
	Unknown      = "unknown"
)

// DefaultReplicatorDB is the replicator database when Selection names none.
const DefaultReplicatorDB = "_replicator"

// Selection says which replications a run judges.
//
// Source and Target are glob patterns matched against the whole URL without
// credentials and without a trailing slash ("http://db1:5984/registry"):
// '*' matches any run of characters, '/' included, '?' one character; a
// pattern without "://" is matched against the database name alone
// ("registry", "small-*"). An empty pattern matches everything.
type Selection struct {
	DocIDs        []string // only these _replicator doc ids; each one missing is CRITICAL
	Source        string   // glob over the source URL or database name
	Target        string   // glob over the target URL or database name
	Expect        int      // at least this many selected replications must exist (0: no expectation)
	ReplicatorDBs []string // default ["_replicator"]
	// NoTransient leaves out transient (POST /_replicate) replications,
	// which have no doc id. DocIDs leaves them out too.
	NoTransient bool
}

// Thresholds are the limits a replication is judged by. Nil ranges do not
// alert. Durations of 0 take the defaults below.
type Thresholds struct {
	SeqLag        nagios.Thresholds // changes behind the source (update_seq minus through_seq)
	CheckpointAge nagios.Thresholds // seconds since the last checkpoint, only while changes are pending
	HeartbeatLag  nagios.Thresholds // seconds from the heartbeat write on the source to its arrival on the target
	// WriteFailures: documents the target refused (doc_write_failures,
	// cumulative). CouchDB skips a refused document for good, its
	// checkpoint moves past it: the target lacks it until it is edited
	// again.
	WriteFailures nagios.Thresholds

	// PendingAge: pending longer than this is WARNING. 0: what the
	// node's scheduler explains (Limits.Rotation of its queue), or
	// DefaultPendingAge when its limits cannot be read.
	PendingAge      time.Duration
	InitializingAge time.Duration // initializing longer than this is WARNING (default 2m)
	// CrashGrace: a job running again after a crash is WARNING until it
	// has run this long without crashing again (default 60s). CouchDB shows
	// a job whose source just died as running for up to ~30 s.
	CrashGrace time.Duration
	// Continuous: every selected replication should be continuous, so a
	// completed one is CRITICAL. Without it a completed replication is
	// CRITICAL only when its document says continuous.
	Continuous bool
}

// Defaults of the duration limits.
const (
	DefaultPendingAge      = 15 * time.Minute
	DefaultInitializingAge = 2 * time.Minute
	DefaultCrashGrace      = 60 * time.Second
)

func (t Thresholds) withDefaults() Thresholds {
	if t.InitializingAge <= 0 {
		t.InitializingAge = DefaultInitializingAge
	}
	if t.CrashGrace <= 0 {
		t.CrashGrace = DefaultCrashGrace
	}
	return t
}

// Lag is one lag measurement. Known is false when it could not be
// measured (Note says why); AtLeast marks a lower bound (a heartbeat that
// has not arrived yet).
type Lag struct {
	Value   float64
	Known   bool
	AtLeast bool
	Note    string
}

// knownLag rounds to milliseconds: perfdata needs no more.
func knownLag(v float64) Lag     { return Lag{Value: math.Round(v*1000) / 1000, Known: true} }
func unknownLag(note string) Lag { return Lag{Note: note} }
func (l Lag) valueOr(d float64) float64 {
	if !l.Known {
		return d
	}
	return l.Value
}

// Replication is one replication as the node reports it, with its verdict.
type Replication struct {
	// Key is stable across runs: "<db>/<doc id>" for a _replicator
	// document, "transient:<replication id>" for a POST /_replicate job.
	Key        string
	DocID      string // "" for a transient replication
	Database   string // the replicator database, "" for a transient one
	ID         string // CouchDB's replication id ("" when the server gives none)
	Transient  bool
	Continuous bool
	Source     string // URL without credentials, for display
	Target     string // URL without credentials (or a local db name on 1.x), for display

	State      string        // normalized, one of the constants above
	Status     nagios.Status // the verdict
	Reason     string        // one line, e.g. "source unreachable (connection refused), 3 errors"
	Cause      Cause         // what Reason says, for grouping: set whenever Status is not OK
	ErrorCount int           // CouchDB's error_count; it never resets, so it decides nothing
	LastError  string        // the newest error CouchDB reported, on one line
	SourceDown bool          // the reason is that the source does not answer
	Since      time.Time     // when the current state began (last_updated), zero when unknown
	LastStart  time.Time     // the newest "started" of the job's history, zero when unknown

	HasStats         bool   // the counters below are known
	DocsWritten      int64  // cumulative across restarts
	DocWriteFailures int64  // cumulative across restarts
	ChangesPending   *int64 // as CouchDB reports it: null or 0 for continuous jobs even while behind

	SeqLag        Lag // changes
	CheckpointAge Lag // seconds
	HeartbeatLag  Lag // seconds

	// Doc is the _replicator document as stored (credentials included,
	// never print it). On 2.1+ it is read only for replications that are
	// not OK (and completed ones, to learn whether they were continuous):
	// a healthy node costs no document reads. Nil for a transient
	// replication or when the document could not be read. Definition
	// strips it for a rewrite.
	Doc json.RawMessage

	Notes []string // extra long-output lines (-v)

	// what the probes need; not for display
	sourceURL  string             // without credentials
	targetURL  string             // without credentials, absolute
	sourceAuth secret.Credentials // from the document
	secrets    []string           // every secret value of the document
	// red is the run's redactor (nil: none): server text (an error) is
	// redacted with it before it is explained and cut.
	red     *secret.Redactor
	through couch.Seq // the furthest sequence known written to the target

	recentCrash   string    // the crash before the newest start
	recentCrashAt time.Time // zero when the newest start followed no crash
	noTask        bool      // 1.x: triggered, but _active_tasks has no task for it
	heartbeatOnly bool      // PouchDB Server: "triggered" is all the server says

	sourceUnreachable string // a probe could not reach the source: the message
}

// Report is the outcome of one Assess.
type Report struct {
	Replications []Replication // the selected ones (and the missing ones), in the server's order
	Server       string        // what answered, e.g. "CouchDB 2.1+ (_scheduler)", "PouchDB Server 4.2.0"
	Scheduler    bool          // states came from _scheduler/docs and _scheduler/jobs
	Found        int           // selected replications that exist
	Expect       int           // Selection.Expect
	Secrets      []string      // passwords read from replication documents: register them with the run's Redactor
	Notes        []string      // run-wide long-output lines

	Node string // the node's URL, without credentials

	// Queued are the selected replications pending: waiting for a slot
	// behind max_jobs. Limits are the node's, read when Queued > 0.
	Queued int
	Limits *Limits

	th                 Thresholds
	heartbeatUnmatched bool
}
