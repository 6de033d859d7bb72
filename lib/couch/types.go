package couch

import (
	"encoding/json"
	"strconv"
	"strings"

	"github.com/registry-checks/registry-checks/lib/secret"
)

// The typed views of the CouchDB monitoring endpoints. They decode what
// 1.x to 3.x answer (and PouchDB where it differs): fields a version lacks
// stay zero, and fields whose shape changed between versions use Seq,
// ErrorText or Timestamp.

// Root is GET /.
type Root struct {
	CouchDB  string   `json:"couchdb"` // "Welcome"
	Version  string   `json:"version"`
	GitSHA   string   `json:"git_sha,omitempty"`
	UUID     string   `json:"uuid,omitempty"`
	Features []string `json:"features,omitempty"`
	Vendor   Vendor   `json:"vendor"`
}

// Vendor is Root.vendor; 1.x also gives its version.
type Vendor struct {
	Name    string `json:"name"`
	Version string `json:"version,omitempty"`
}

// Major is the major version, 0 when Version does not start with one.
func (r Root) Major() int {
	n, _ := strconv.Atoi(strings.SplitN(r.Version, ".", 2)[0])
	return n
}

// Up is GET /_up (2.0+): "ok", or "maintenance_mode" with status 404.
type Up struct {
	Status string          `json:"status"`
	Seeds  json.RawMessage `json:"seeds,omitempty"`
}

// SchedulerJobs is GET /_scheduler/jobs (2.1+).
type SchedulerJobs struct {
	TotalRows int            `json:"total_rows"`
	Offset    int            `json:"offset"`
	Jobs      []SchedulerJob `json:"jobs"`
}

// SchedulerJob is one running or pending replication job. Database and
// DocID are empty for a transient (POST /_replicate) job; User is set only
// for those.
type SchedulerJob struct {
	Database  string           `json:"database"`
	ID        string           `json:"id"`
	PID       string           `json:"pid"`
	Source    string           `json:"source"` // credentials already stripped by CouchDB; print with secret.RedactURL anyway
	Target    string           `json:"target"`
	User      string           `json:"user"`
	DocID     string           `json:"doc_id"`
	Info      *ReplicationInfo `json:"info"` // null right after a (re)start
	History   []JobEvent       `json:"history"`
	Node      string           `json:"node"`
	StartTime Timestamp        `json:"start_time"`
}

// JobEvent is one history entry of a job, newest first: added, started,
// crashed (with Reason), ...
type JobEvent struct {
	Timestamp Timestamp `json:"timestamp"`
	Type      string    `json:"type"`
	Reason    ErrorText `json:"reason,omitempty"`
}

// ReplicationInfo is the info object of a scheduler job or doc and the
// _replication_stats of a 1.x/2.x _replicator doc. A running or completed
// replication has the counters; crashing, error and failed ones have Error.
type ReplicationInfo struct {
	RevisionsChecked      int64     `json:"revisions_checked"`
	MissingRevisionsFound int64     `json:"missing_revisions_found"`
	DocsRead              int64     `json:"docs_read"`
	DocsWritten           int64     `json:"docs_written"`
	ChangesPending        *int64    `json:"changes_pending"` // null after a (re)start; 0 even while a continuous job lags
	DocWriteFailures      int64     `json:"doc_write_failures"`
	BulkGetDocs           int64     `json:"bulk_get_docs"`
	BulkGetAttempts       int64     `json:"bulk_get_attempts"`
	CheckpointedSourceSeq Seq       `json:"checkpointed_source_seq,omitempty"`
	SourceSeq             Seq       `json:"source_seq,omitempty"`
	ThroughSeq            Seq       `json:"through_seq,omitempty"`
	StartTime             Timestamp `json:"start_time,omitzero"` // in _replication_stats only
	Error                 ErrorText `json:"error,omitempty"`
}

// SchedulerDocs is GET /_scheduler/docs (2.1+).
type SchedulerDocs struct {
	TotalRows int            `json:"total_rows"`
	Offset    int            `json:"offset"`
	Docs      []SchedulerDoc `json:"docs"`
}

// SchedulerDoc is the live state of one _replicator document. State is
// initializing, running, pending, crashing, error, failed or completed;
// the keys present depend on it (failed has ID "" and no Node, error has
// no Source/Target).
type SchedulerDoc struct {
	Database    string           `json:"database"`
	DocID       string           `json:"doc_id"`
	ID          string           `json:"id"`
	Node        string           `json:"node"`
	Source      string           `json:"source"`
	Target      string           `json:"target"`
	State       string           `json:"state"`
	Info        *ReplicationInfo `json:"info"`
	ErrorCount  int              `json:"error_count"` // does not reset on recovery: judge by State
	LastUpdated Timestamp        `json:"last_updated"`
	StartTime   Timestamp        `json:"start_time"`
	SourceProxy string           `json:"source_proxy"`
	TargetProxy string           `json:"target_proxy"`
}

// ActiveTask is one entry of GET /_active_tasks. The fields of every task
// type are in one struct; Type says which apply: replication, indexer,
// database_compaction, view_compaction (and others, e.g. search_indexer).
// Indexer and compaction tasks are per shard in 2.x+.
type ActiveTask struct {
	Type          string    `json:"type"`
	Node          string    `json:"node"`
	PID           string    `json:"pid"`
	ProcessStatus string    `json:"process_status"`
	StartedOn     Timestamp `json:"started_on"` // epoch seconds on the wire
	UpdatedOn     Timestamp `json:"updated_on"`

	// indexer, compactions
	Database       string `json:"database"` // a shard path ("shards/00000000-7fffffff/registry.1795660941") in 2.x+
	DesignDocument string `json:"design_document"`
	IndexerPID     string `json:"indexer_pid"`
	Phase          string `json:"phase"`
	View           string `json:"view"`
	Progress       int    `json:"progress"` // percent; may read 100 while ChangesDone > TotalChanges
	ChangesDone    int64  `json:"changes_done"`
	TotalChanges   int64  `json:"total_changes"`

	// replication
	ReplicationID         string `json:"replication_id"`
	DocID                 string `json:"doc_id"`
	User                  string `json:"user"`
	Source                string `json:"source"` // 1.x masks the password as *****; print with secret.RedactURL
	Target                string `json:"target"`
	Continuous            bool   `json:"continuous"`
	CheckpointInterval    int64  `json:"checkpoint_interval"`
	RevisionsChecked      int64  `json:"revisions_checked"`
	MissingRevisionsFound int64  `json:"missing_revisions_found"`
	DocsRead              int64  `json:"docs_read"`
	DocsWritten           int64  `json:"docs_written"`
	DocWriteFailures      int64  `json:"doc_write_failures"`
	BulkGetDocs           int64  `json:"bulk_get_docs"`
	BulkGetAttempts       int64  `json:"bulk_get_attempts"`
	ChangesPending        *int64 `json:"changes_pending"`
	CheckpointedSourceSeq Seq    `json:"checkpointed_source_seq,omitempty"`
	SourceSeq             Seq    `json:"source_seq,omitempty"`
	ThroughSeq            Seq    `json:"through_seq,omitempty"`
}

// DBInfo is GET /{db}. 2.x+ report sizes{file,external,active}; 1.x
// reports disk_size and data_size (2.x reports both). update_seq is an
// integer in 1.x and PouchDB, an opaque string in 2.x/3.x.
type DBInfo struct {
	DBName            string          `json:"db_name"`
	DocCount          int64           `json:"doc_count"`
	DocDelCount       int64           `json:"doc_del_count"`
	UpdateSeq         Seq             `json:"update_seq"`
	PurgeSeq          Seq             `json:"purge_seq,omitempty"`
	CompactRunning    bool            `json:"compact_running"`
	Sizes             *Sizes          `json:"sizes,omitempty"`
	DiskSize          int64           `json:"disk_size,omitempty"`
	DataSize          int64           `json:"data_size,omitempty"`
	DiskFormatVersion int             `json:"disk_format_version,omitempty"`
	InstanceStartTime string          `json:"instance_start_time,omitempty"`
	Cluster           *Cluster        `json:"cluster,omitempty"`
	Props             json.RawMessage `json:"props,omitempty"`
}

// Sizes are the byte counts of a database or view index (2.x+): File on
// disk, Active live data in it, External uncompressed user data.
type Sizes struct {
	File     int64 `json:"file"`
	External int64 `json:"external"`
	Active   int64 `json:"active"`
}

// Cluster is the q/n/w/r of a 2.x+ database.
type Cluster struct {
	Q int `json:"q"`
	N int `json:"n"`
	W int `json:"w"`
	R int `json:"r"`
}

// FileSize is the size on disk whatever the version: sizes.file or 1.x
// disk_size.
func (d DBInfo) FileSize() int64 {
	if d.Sizes != nil && d.Sizes.File > 0 {
		return d.Sizes.File
	}
	return d.DiskSize
}

// ActiveSize is the live data size whatever the version: sizes.active or
// 1.x data_size. FileSize - ActiveSize is what compaction would reclaim.
func (d DBInfo) ActiveSize() int64 {
	if d.Sizes != nil && d.Sizes.Active > 0 {
		return d.Sizes.Active
	}
	return d.DataSize
}

// DBsInfoRow is one entry of /_dbs_info; a missing database has Error
// "not_found" and no Info.
type DBsInfoRow struct {
	Key   string  `json:"key"`
	Info  *DBInfo `json:"info,omitempty"`
	Error string  `json:"error,omitempty"`
}

// ViewInfo is GET /{db}/_design/{ddoc}/_info.
type ViewInfo struct {
	Name      string    `json:"name"`
	ViewIndex ViewIndex `json:"view_index"`
	// Unsupported is set (and ViewIndex zero) when the server has no real
	// _info: pouchdb-server answers view_index "Not implemented.".
	Unsupported string `json:"-"`
}

// ViewIndex is the view_index of ViewInfo. UpdateSeq is an integer even in
// 3.x (the sum over shards). UpdatesPending is 3.x only.
type ViewIndex struct {
	Signature        string          `json:"signature"`
	Language         string          `json:"language"`
	Sizes            *Sizes          `json:"sizes,omitempty"`
	DiskSize         int64           `json:"disk_size,omitempty"` // 1.x
	DataSize         int64           `json:"data_size,omitempty"` // 1.x
	UpdaterRunning   bool            `json:"updater_running"`
	CompactRunning   bool            `json:"compact_running"`
	WaitingCommit    bool            `json:"waiting_commit"`
	WaitingClients   int             `json:"waiting_clients"`
	UpdateSeq        Seq             `json:"update_seq"`
	PurgeSeq         Seq             `json:"purge_seq,omitempty"`
	UpdatesPending   *UpdatesPending `json:"updates_pending,omitempty"`
	CollatorVersions []string        `json:"collator_versions,omitempty"`
}

// UpdatesPending is how far a view index is behind its database.
type UpdatesPending struct {
	Minimum   int64 `json:"minimum"`
	Preferred int64 `json:"preferred"`
	Total     int64 `json:"total"`
}

// System is GET /_node/_local/_system (2.0+): Erlang VM figures.
type System struct {
	Uptime                  int64                   `json:"uptime"`
	Memory                  map[string]int64        `json:"memory"`
	RunQueue                int64                   `json:"run_queue"`
	RunQueueDirtyCPU        int64                   `json:"run_queue_dirty_cpu"`
	EtsTableCount           int64                   `json:"ets_table_count"`
	ContextSwitches         int64                   `json:"context_switches"`
	Reductions              int64                   `json:"reductions"`
	GarbageCollectionCount  int64                   `json:"garbage_collection_count"`
	WordsReclaimed          int64                   `json:"words_reclaimed"`
	IOInput                 int64                   `json:"io_input"`
	IOOutput                int64                   `json:"io_output"`
	OSProcCount             int64                   `json:"os_proc_count"`
	StaleProcCount          int64                   `json:"stale_proc_count"`
	ProcessCount            int64                   `json:"process_count"`
	ProcessLimit            int64                   `json:"process_limit"`
	MessageQueues           map[string]MessageQueue `json:"message_queues"`
	InternalReplicationJobs int64                   `json:"internal_replication_jobs"`
	Distribution            json.RawMessage         `json:"distribution,omitempty"`
	DistributionEvents      json.RawMessage         `json:"distribution_events,omitempty"`
}

// MessageQueue is one entry of System.message_queues: either the queue
// length of one named process (a bare number on the wire; then Count is 1
// and every statistic is that length) or statistics over a group of
// processes. Max is the figure to alert on either way.
type MessageQueue struct {
	Count  int64 `json:"count"`
	Min    int64 `json:"min"`
	Max    int64 `json:"max"`
	Median int64 `json:"50"`
	P90    int64 `json:"90"`
	P99    int64 `json:"99"`
}

// UnmarshalJSON accepts a number or the statistics object.
func (q *MessageQueue) UnmarshalJSON(b []byte) error {
	var n int64
	if err := json.Unmarshal(b, &n); err == nil {
		*q = MessageQueue{Count: 1, Min: n, Max: n, Median: n, P90: n, P99: n}
		return nil
	}
	type plain MessageQueue
	return json.Unmarshal(b, (*plain)(q))
}

// ReplicatorDoc is a document of a _replicator database. 1.x records the
// live state in the document (_replication_state triggered/error/
// completed, _replication_state_time, _replication_id); 2.x+ record only
// terminal states (completed adds _replication_stats, failed adds
// _replication_state_reason); live state is in _scheduler/docs.
type ReplicatorDoc struct {
	ID                     string           `json:"_id"`
	Rev                    string           `json:"_rev"`
	Source                 Endpoint         `json:"source"`
	Target                 Endpoint         `json:"target"`
	Continuous             bool             `json:"continuous"`
	CreateTarget           bool             `json:"create_target"`
	Filter                 string           `json:"filter,omitempty"`
	DocIDs                 []string         `json:"doc_ids,omitempty"`
	Selector               json.RawMessage  `json:"selector,omitempty"`
	Owner                  string           `json:"owner,omitempty"`
	ReplicationState       string           `json:"_replication_state,omitempty"`
	ReplicationStateTime   Timestamp        `json:"_replication_state_time,omitzero"`
	ReplicationStateReason ErrorText        `json:"_replication_state_reason,omitempty"`
	ReplicationID          string           `json:"_replication_id,omitempty"`
	ReplicationStats       *ReplicationInfo `json:"_replication_stats,omitempty"`
}

// Endpoint is the source or target of a replication: a URL string with
// credentials in it, or {"url", "headers", "auth": {"basic": {...}}}.
// Only the URL without credentials and the user are kept: a replication
// password has no use in a check and must not be printable.
type Endpoint struct {
	URL  string `json:"url"`            // userinfo removed
	User string `json:"user,omitempty"` // from the URL or auth.basic.username
}

// String is the URL, safe to print.
func (e Endpoint) String() string { return secret.RedactURL(e.URL) }

// UnmarshalJSON accepts both forms and drops every credential.
func (e *Endpoint) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*e = endpointFromURL(s)
		return nil
	}
	var obj struct {
		URL  string `json:"url"`
		Auth struct {
			Basic struct {
				Username string `json:"username"`
			} `json:"basic"`
		} `json:"auth"`
	}
	if err := json.Unmarshal(b, &obj); err != nil {
		return err
	}
	*e = endpointFromURL(obj.URL)
	if obj.Auth.Basic.Username != "" {
		e.User = obj.Auth.Basic.Username
	}
	return nil
}

func endpointFromURL(raw string) Endpoint {
	clean, creds, err := secret.SplitURL(raw)
	if err != nil {
		// Not a URL (1.x allows a local database name); keep it redacted.
		return Endpoint{URL: secret.RedactURL(raw)}
	}
	return Endpoint{URL: clean, User: creds.User}
}

// Versions is GET /_node/_local/_versions (3.2+).
type Versions struct {
	JavaScriptEngine struct {
		Name string `json:"name"`
	} `json:"javascript_engine"`
	Erlang struct {
		Version         string   `json:"version"`
		SupportedHashes []string `json:"supported_hashes"`
	} `json:"erlang"`
	CollationDriver struct {
		Name                      string `json:"name"`
		LibraryVersion            string `json:"library_version"`
		CollatorVersion           string `json:"collator_version"`
		CollationAlgorithmVersion string `json:"collation_algorithm_version"`
	} `json:"collation_driver"`
}

// ErrorBody is CouchDB's error answer.
type ErrorBody struct {
	Error  string `json:"error"`
	Reason string `json:"reason"`
}
