package replication

import (
	"strings"

	"github.com/registry-checks/registry-checks/lib/flagtype"
	"github.com/registry-checks/registry-checks/lib/httpclient"
	"github.com/registry-checks/registry-checks/lib/nagios"
	"github.com/registry-checks/registry-checks/lib/secret"
)

// SelectOptions choose the replications, for check_couch_replication and
// restart_couch_replication alike: the handler is given the check's
// arguments and must look at the same replications.
type SelectOptions struct {
	DocIDs        []string `long:"doc-id" value-name:"ID" description:"only this _replicator document (repeatable, or comma-separated); a missing one is CRITICAL"`
	Source        string   `long:"source" value-name:"GLOB" description:"only replications whose source matches: a URL glob (* matches anything, / included) or, without ://, a database name glob"`
	Target        string   `long:"target" value-name:"GLOB" description:"only replications whose target matches (same form as --source)"`
	Expect        int      `long:"expect" value-name:"N" default:"0" description:"CRITICAL when fewer than N selected replications exist (a deleted replication document is otherwise silent); the handler never restarts a missing one"`
	ReplicatorDBs []string `long:"replicator-db" value-name:"DB" default:"_replicator" description:"replicator database (repeatable)"`
	NoTransient   bool     `long:"no-transient" description:"leave out transient (POST /_replicate) replications"`
	Continuous    bool     `long:"continuous" description:"every selected replication must be continuous: a completed one is CRITICAL"`
}

// Selection is the selection the options describe.
func (o SelectOptions) Selection() Selection {
	var ids []string
	for _, id := range o.DocIDs {
		for _, part := range strings.Split(id, ",") {
			if part = strings.TrimSpace(part); part != "" {
				ids = append(ids, part)
			}
		}
	}
	return Selection{DocIDs: ids, Source: o.Source, Target: o.Target, Expect: o.Expect,
		ReplicatorDBs: o.ReplicatorDBs, NoTransient: o.NoTransient}
}

// JudgeOptions are the thresholds and lag probes, shared likewise so that
// the handler judges as the check did.
type JudgeOptions struct {
	WarnSeqLag        *nagios.Range     `long:"warning-seq-lag" value-name:"RANGE" default:"10000" description:"changes behind the source (source update_seq minus through_seq)"`
	CritSeqLag        *nagios.Range     `long:"critical-seq-lag" value-name:"RANGE" default:"100000" description:"changes behind the source"`
	WarnCheckpointAge *nagios.Range     `long:"warning-checkpoint-age" value-name:"RANGE" default:"600" description:"seconds since the last checkpoint, counted only while changes are pending"`
	CritCheckpointAge *nagios.Range     `long:"critical-checkpoint-age" value-name:"RANGE" default:"1800" description:"seconds since the last checkpoint while changes are pending"`
	WarnHeartbeatLag  *nagios.Range     `long:"warning-heartbeat-lag" value-name:"RANGE" default:"60" description:"seconds from the heartbeat write on the source to its arrival on the target"`
	CritHeartbeatLag  *nagios.Range     `long:"critical-heartbeat-lag" value-name:"RANGE" default:"300" description:"seconds of heartbeat lag"`
	WarnWriteFailures *nagios.Range     `long:"warning-write-failures" value-name:"RANGE" default:"0" description:"documents the target refused (doc_write_failures, cumulative): CouchDB skips a refused document for good"`
	CritWriteFailures *nagios.Range     `long:"critical-write-failures" value-name:"RANGE" description:"documents the target refused; default none"`
	PendingAge        flagtype.Duration `long:"pending-age" value-name:"DURATION" description:"WARNING when a replication is pending (queued behind max_jobs) longer; default: as long as the node's scheduler rotation explains, interval x (ceil(pending/max_churn) + 2), 8m for 105 pending at CouchDB's defaults (interval 60s, max_churn 20), 15m when the node's limits cannot be read"`
	InitializingAge   flagtype.Duration `long:"initializing-age" value-name:"DURATION" default:"2m" description:"WARNING when a replication is initializing longer"`
	CrashGrace        flagtype.Duration `long:"crash-grace" value-name:"DURATION" default:"60s" description:"a job running again after a crash is WARNING until it has run this long"`

	NoSeqLag              bool              `long:"no-seq-lag" description:"do not read the source databases (no sequence lag, no checkpoint age)"`
	NoCheckpointAge       bool              `long:"no-checkpoint-age" description:"do not read the checkpoint documents on the targets"`
	SourceCredentialsFile string            `long:"source-credentials-file" value-name:"PATH" description:"credentials for every request to a source (mode 600 or 640); default: the node's"`
	HeartbeatDB           string            `long:"heartbeat-db" value-name:"DB" description:"write a heartbeat document into this source database and time its arrival on the target of every selected replication of it; never created"`
	HeartbeatID           string            `long:"heartbeat-id" value-name:"ID" description:"heartbeat document id (default heartbeat-<hostname>: one per checking host; the handler appends -restart)"`
	HeartbeatWait         flagtype.Duration `long:"heartbeat-wait" value-name:"DURATION" default:"5s" description:"how long to wait for the heartbeat on the target (bounded by -t)"`
	Parallel              int               `long:"parallel" value-name:"N" default:"16" description:"requests to sources and targets in flight at once"`
}

// Thresholds are the verdict thresholds the options describe.
func (o JudgeOptions) Thresholds(continuous bool) Thresholds {
	return Thresholds{
		SeqLag:          nagios.Thresholds{Warn: o.WarnSeqLag, Crit: o.CritSeqLag},
		CheckpointAge:   nagios.Thresholds{Warn: o.WarnCheckpointAge, Crit: o.CritCheckpointAge},
		HeartbeatLag:    nagios.Thresholds{Warn: o.WarnHeartbeatLag, Crit: o.CritHeartbeatLag},
		WriteFailures:   nagios.Thresholds{Warn: o.WarnWriteFailures, Crit: o.CritWriteFailures},
		PendingAge:      o.PendingAge.D(),
		InitializingAge: o.InitializingAge.D(),
		CrashGrace:      o.CrashGrace.D(),
		Continuous:      continuous,
	}
}

// Probes are the lag probes the options ask for, through hc with the node's
// credentials; --source-credentials-file is loaded here and registered with
// red, so it is never printed.
func (o JudgeOptions) Probes(hc *httpclient.Client, node secret.Credentials, red *secret.Redactor, step func(string, ...any)) (Probes, error) {
	p := Probes{
		HTTP: hc, NodeCredentials: node, Step: step,
		SeqLag: !o.NoSeqLag, CheckpointAge: !o.NoSeqLag && !o.NoCheckpointAge,
		HeartbeatDB: o.HeartbeatDB, HeartbeatID: o.HeartbeatID, HeartbeatWait: o.HeartbeatWait.D(),
		Parallel: o.Parallel,
	}
	if o.SourceCredentialsFile != "" {
		sc, err := secret.LoadFile(o.SourceCredentialsFile)
		if err != nil {
			return p, &nagios.Problem{Status: nagios.UNKNOWN, Msg: "--source-credentials-file: " + err.Error(), Err: err}
		}
		red.AddCredentials(sc)
		p.SourceCredentials = &sc
	}
	return p, nil
}
