// check_couch_replication tells in one Nagios line whether every
// replication of a CouchDB node is alive and how far behind it is.
package main

import (
	"context"
	"io"
	"os"
	"strings"

	"github.com/registry-checks/registry-checks/checks/check_couch_replication/replcheck"
	"github.com/registry-checks/registry-checks/lib/couch"
	"github.com/registry-checks/registry-checks/lib/nagios"
	"github.com/registry-checks/registry-checks/lib/plugin"
	"github.com/registry-checks/registry-checks/lib/replication"
	"github.com/registry-checks/registry-checks/lib/secret"
)

type options struct {
	plugin.Common
	couch.Options

	DocIDs        []string `long:"doc-id" value-name:"ID" description:"check only this _replicator document (repeatable); a missing one is CRITICAL"`
	Source        string   `long:"source" value-name:"GLOB" description:"only replications whose source matches: a URL glob (* matches anything, / included) or, without ://, a database name glob"`
	Target        string   `long:"target" value-name:"GLOB" description:"only replications whose target matches (same form as --source)"`
	Expect        int      `long:"expect" value-name:"N" default:"0" description:"CRITICAL when fewer than N selected replications exist (a deleted replication document is otherwise silent)"`
	ReplicatorDBs []string `long:"replicator-db" value-name:"DB" default:"_replicator" description:"replicator database (repeatable)"`
	NoTransient   bool     `long:"no-transient" description:"leave out transient (POST /_replicate) replications"`
	Continuous    bool     `long:"continuous" description:"every selected replication must be continuous: a completed one is CRITICAL"`

	WarnSeqLag        *nagios.Range   `long:"warning-seq-lag" value-name:"RANGE" default:"10000" description:"changes behind the source (source update_seq minus through_seq)"`
	CritSeqLag        *nagios.Range   `long:"critical-seq-lag" value-name:"RANGE" default:"100000" description:"changes behind the source"`
	WarnCheckpointAge *nagios.Range   `long:"warning-checkpoint-age" value-name:"RANGE" default:"600" description:"seconds since the last checkpoint, counted only while changes are pending"`
	CritCheckpointAge *nagios.Range   `long:"critical-checkpoint-age" value-name:"RANGE" default:"1800" description:"seconds since the last checkpoint while changes are pending"`
	WarnHeartbeatLag  *nagios.Range   `long:"warning-heartbeat-lag" value-name:"RANGE" default:"60" description:"seconds from the heartbeat write on the source to its arrival on the target"`
	CritHeartbeatLag  *nagios.Range   `long:"critical-heartbeat-lag" value-name:"RANGE" default:"300" description:"seconds of heartbeat lag"`
	PendingAge        plugin.Duration `long:"pending-age" value-name:"DURATION" default:"15m" description:"WARNING when a replication is pending longer (more jobs than max_jobs)"`
	InitializingAge   plugin.Duration `long:"initializing-age" value-name:"DURATION" default:"2m" description:"WARNING when a replication is initializing longer"`
	CrashGrace        plugin.Duration `long:"crash-grace" value-name:"DURATION" default:"60s" description:"a job running again after a crash is WARNING until it has run this long"`

	NoSeqLag              bool            `long:"no-seq-lag" description:"do not GET the source databases (no sequence lag, no checkpoint age)"`
	NoCheckpointAge       bool            `long:"no-checkpoint-age" description:"do not read the checkpoint documents on the targets"`
	SourceCredentialsFile string          `long:"source-credentials-file" value-name:"PATH" description:"credentials for every request to a source (mode 600); default: each replication document's own source credentials, else the node's"`
	HeartbeatDB           string          `long:"heartbeat-db" value-name:"DB" description:"write a heartbeat document into this source database and time its arrival on the target of every selected replication of it; never created"`
	HeartbeatID           string          `long:"heartbeat-id" value-name:"ID" description:"heartbeat document id (default heartbeat-<hostname>: one per checking host)"`
	HeartbeatWait         plugin.Duration `long:"heartbeat-wait" value-name:"DURATION" default:"5s" description:"how long to wait for the heartbeat on the target (bounded by -t)"`
	Parallel              int             `long:"parallel" value-name:"N" default:"16" description:"requests to sources and targets in flight at once"`
}

func main() { os.Exit(run(os.Args[1:], os.Stdout)) }

func run(args []string, stdout io.Writer) int {
	var opts options
	return plugin.Run(plugin.Spec{Name: "COUCH_REPLICATION", Binary: "check_couch_replication", Options: &opts,
		Check: func(ctx context.Context, env *plugin.Env) nagios.Result {
			cc, err := env.Couch(opts.Options)
			if err != nil {
				return env.Fail(err)
			}
			defer cc.Close()
			probes := replication.Probes{
				HTTP: env.HTTP, NodeCredentials: cc.Credentials(),
				SeqLag: !opts.NoSeqLag, CheckpointAge: !opts.NoSeqLag && !opts.NoCheckpointAge,
				HeartbeatDB: opts.HeartbeatDB, HeartbeatID: opts.HeartbeatID, HeartbeatWait: opts.HeartbeatWait.D(),
				Parallel: opts.Parallel, Step: env.Step,
			}
			if opts.SourceCredentialsFile != "" {
				sc, err := secret.LoadFile(opts.SourceCredentialsFile)
				if err != nil {
					return nagios.Result{Status: nagios.UNKNOWN, Summary: "--source-credentials-file: " + err.Error()}
				}
				env.Secrets.AddCredentials(sc)
				probes.SourceCredentials = &sc
			}
			var docIDs []string
			for _, id := range opts.DocIDs {
				for _, part := range strings.Split(id, ",") {
					if part = strings.TrimSpace(part); part != "" {
						docIDs = append(docIDs, part)
					}
				}
			}
			cfg := replcheck.Config{
				Selection: replication.Selection{DocIDs: docIDs, Source: opts.Source, Target: opts.Target,
					Expect: opts.Expect, ReplicatorDBs: opts.ReplicatorDBs, NoTransient: opts.NoTransient},
				Thresholds: replication.Thresholds{
					SeqLag:          nagios.Thresholds{Warn: opts.WarnSeqLag, Crit: opts.CritSeqLag},
					CheckpointAge:   nagios.Thresholds{Warn: opts.WarnCheckpointAge, Crit: opts.CritCheckpointAge},
					HeartbeatLag:    nagios.Thresholds{Warn: opts.WarnHeartbeatLag, Crit: opts.CritHeartbeatLag},
					PendingAge:      opts.PendingAge.D(),
					InitializingAge: opts.InitializingAge.D(),
					CrashGrace:      opts.CrashGrace.D(),
					Continuous:      opts.Continuous,
				},
				Probes: probes,
			}
			return replcheck.Check(ctx, cfg, replcheck.Deps{Client: cc, Problem: env.Problem, Secret: env.Secrets.Add})
		}}, args, stdout)
}
