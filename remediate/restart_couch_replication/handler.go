package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/registry-checks/registry-checks/lib/couch"
	"github.com/registry-checks/registry-checks/lib/nagios"
	"github.com/registry-checks/registry-checks/lib/plugin"
	"github.com/registry-checks/registry-checks/lib/replication"
	"github.com/registry-checks/registry-checks/lib/secret"
	"github.com/registry-checks/registry-checks/remediate/restart_couch_replication/restart"
)

type options struct {
	plugin.Common
	couch.Options

	Event struct {
		State     string `long:"state" value-name:"$SERVICESTATE$" description:"Nagios event handler mode: the service state (OK, WARNING, CRITICAL, UNKNOWN); without it the handler runs standalone"`
		StateType string `long:"state-type" value-name:"$SERVICESTATETYPE$" description:"SOFT or HARD (with --state)"`
		Attempt   int    `long:"attempt" value-name:"$SERVICEATTEMPT$" description:"the check attempt (with --state)"`
	} `group:"Nagios event handler"`

	// The check's options, same names and defaults, so that the handler
	// is given the check's arguments and judges as the check did.
	Select struct {
		DocIDs        []string `long:"doc-id" value-name:"ID" description:"only this _replicator document (repeatable, or comma-separated)"`
		Source        string   `long:"source" value-name:"GLOB" description:"only replications whose source matches: a URL glob or, without ://, a database name glob"`
		Target        string   `long:"target" value-name:"GLOB" description:"only replications whose target matches (same form as --source)"`
		Expect        int      `long:"expect" value-name:"N" default:"0" description:"accepted for the check's command line; a missing replication is never restarted"`
		ReplicatorDBs []string `long:"replicator-db" value-name:"DB" default:"_replicator" description:"replicator database (repeatable)"`
		NoTransient   bool     `long:"no-transient" description:"leave out transient (POST /_replicate) replications"`
		Continuous    bool     `long:"continuous" description:"every selected replication must be continuous: a completed one is restarted"`
	} `group:"Which replications (as check_couch_replication)"`

	Lag struct {
		WarnSeqLag            *nagios.Range   `long:"warning-seq-lag" value-name:"RANGE" default:"10000" description:"changes behind the source"`
		CritSeqLag            *nagios.Range   `long:"critical-seq-lag" value-name:"RANGE" default:"100000" description:"changes behind the source; CRITICAL counts as stalled"`
		WarnCheckpointAge     *nagios.Range   `long:"warning-checkpoint-age" value-name:"RANGE" default:"600" description:"seconds since the last checkpoint while changes are pending"`
		CritCheckpointAge     *nagios.Range   `long:"critical-checkpoint-age" value-name:"RANGE" default:"1800" description:"seconds since the last checkpoint while changes are pending; CRITICAL counts as stalled"`
		WarnHeartbeatLag      *nagios.Range   `long:"warning-heartbeat-lag" value-name:"RANGE" default:"60" description:"seconds of heartbeat lag"`
		CritHeartbeatLag      *nagios.Range   `long:"critical-heartbeat-lag" value-name:"RANGE" default:"300" description:"seconds of heartbeat lag; CRITICAL counts as stalled"`
		PendingAge            plugin.Duration `long:"pending-age" value-name:"DURATION" default:"15m" description:"WARNING when pending longer"`
		InitializingAge       plugin.Duration `long:"initializing-age" value-name:"DURATION" default:"2m" description:"WARNING when initializing longer"`
		CrashGrace            plugin.Duration `long:"crash-grace" value-name:"DURATION" default:"60s" description:"a job running again after a crash is WARNING until it has run this long"`
		NoSeqLag              bool            `long:"no-seq-lag" description:"do not GET the source databases (no sequence lag, no checkpoint age)"`
		NoCheckpointAge       bool            `long:"no-checkpoint-age" description:"do not read the checkpoint documents on the targets"`
		SourceCredentialsFile string          `long:"source-credentials-file" value-name:"PATH" description:"credentials for every request to a source, the source check before a restart included (mode 600)"`
		HeartbeatDB           string          `long:"heartbeat-db" value-name:"DB" description:"source database of the heartbeat; on PouchDB Server the only way to see a stalled replication"`
		HeartbeatID           string          `long:"heartbeat-id" value-name:"ID" description:"heartbeat document id; the handler appends -restart so it never conflicts with the check (default heartbeat-<hostname>-restart)"`
		HeartbeatWait         plugin.Duration `long:"heartbeat-wait" value-name:"DURATION" default:"5s" description:"how long to wait for the heartbeat on the target (bounded by -t)"`
		Parallel              int             `long:"parallel" value-name:"N" default:"16" description:"requests to sources and targets in flight at once"`
	} `group:"Failing and stalled replications (as check_couch_replication)"`

	Policy struct {
		Failures       int             `long:"failures" default:"2" value-name:"N" description:"standalone: restart on the Nth consecutive failed run"`
		MaxRestarts    int             `long:"max-restarts" default:"3" value-name:"N" description:"restarts of one replication per --rate-window, then it stops and asks for a human"`
		RateWindow     plugin.Duration `long:"rate-window" default:"1h" value-name:"DURATION" description:"window of --max-restarts"`
		ConfirmTimeout plugin.Duration `long:"confirm-timeout" default:"5s" value-name:"SECONDS" description:"bound on the wait for the new job to run after a restart"`
		DryRun         bool            `long:"dry-run" description:"decide and log, but restart nothing (its state is kept apart from real runs')"`
		TransientSpec  string          `long:"transient-spec" value-name:"FILE" description:"JSON body of a transient POST /_replicate to keep running (mode 600: it holds credentials)"`
	} `group:"Restart policy"`

	Out struct {
		StateDir       string `long:"state-dir" default:"/var/lib/registry-checks" value-name:"DIR" description:"state files, locks and document backups (falls back to a per-user temp folder when the default is not writable)"`
		LogFile        string `long:"log-file" default:"syslog" value-name:"PATH" description:"where each decision is logged: syslog, a file, or - for stderr (without a syslog daemon: decisions.log in the state dir)"`
		WebhookURLFile string `long:"webhook-url-file" value-name:"FILE" description:"file (mode 600) with a chat incoming-webhook URL; restarts and problems are posted as {\"text\": ...}"`
	} `group:"Logging and state"`
}

func handle(ctx context.Context, o *options, env *plugin.Env) nagios.Result {
	cfg, err := config(o)
	if err != nil {
		return nagios.Result{Status: nagios.UNKNOWN, Summary: "bad arguments: " + err.Error()}
	}
	client, err := env.Couch(o.Options)
	if err != nil {
		return env.Fail(err)
	}
	defer client.Close()
	cfg.Node = client.URL()
	creds := client.Credentials()

	var spec *restart.TransientSpec
	if o.Policy.TransientSpec != "" {
		if spec, err = restart.LoadTransientSpec(o.Policy.TransientSpec); err != nil {
			return nagios.Result{Status: nagios.UNKNOWN, Summary: err.Error()}
		}
		for _, s := range spec.Secrets {
			env.Secrets.Add(s)
		}
	}

	dir, err := restart.StateDir(o.Out.StateDir, o.Out.StateDir != restart.DefaultStateDir)
	if err != nil {
		return nagios.Result{Status: nagios.UNKNOWN, Summary: err.Error()}
	}
	dir = filepath.Join(dir, "restart_couch_replication")
	store := &restart.Store{Dir: dir, Node: restart.NodeName(client.URL())}
	if o.Policy.DryRun {
		store.Suffix = ".dry-run"
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nagios.Result{Status: nagios.UNKNOWN, Summary: fmt.Sprintf("state dir %s: %v", dir, err)}
	}
	logger, _, err := restart.OpenLogger(o.Out.LogFile, filepath.Join(dir, "decisions.log"), time.Now)
	if err != nil {
		return nagios.Result{Status: nagios.UNKNOWN, Summary: err.Error()}
	}
	defer logger.Close()

	var hook *restart.Webhook
	if o.Out.WebhookURLFile != "" {
		u, err := secret.LoadValueFile(o.Out.WebhookURLFile)
		if err != nil {
			return nagios.Result{Status: nagios.UNKNOWN, Summary: "--webhook-url-file: " + err.Error()}
		}
		env.Secrets.Add(u)
		if i := strings.Index(u, "://"); i >= 0 {
			if j := strings.IndexByte(u[i+3:], '/'); j >= 0 {
				env.Secrets.Add(u[i+3+j:]) // the path is the credential
			}
		}
		hook = &restart.Webhook{URL: u, From: o.Out.WebhookURLFile, HTTP: env.HTTP}
	}

	var docIDs []string
	for _, id := range o.Select.DocIDs {
		for _, part := range strings.Split(id, ",") {
			if part = strings.TrimSpace(part); part != "" {
				docIDs = append(docIDs, part)
			}
		}
	}
	sel := replication.Selection{DocIDs: docIDs, Source: o.Select.Source, Target: o.Select.Target,
		ReplicatorDBs: o.Select.ReplicatorDBs, NoTransient: o.Select.NoTransient}
	l := o.Lag
	th := replication.Thresholds{
		SeqLag:          nagios.Thresholds{Warn: l.WarnSeqLag, Crit: l.CritSeqLag},
		CheckpointAge:   nagios.Thresholds{Warn: l.WarnCheckpointAge, Crit: l.CritCheckpointAge},
		HeartbeatLag:    nagios.Thresholds{Warn: l.WarnHeartbeatLag, Crit: l.CritHeartbeatLag},
		PendingAge:      l.PendingAge.D(),
		InitializingAge: l.InitializingAge.D(),
		CrashGrace:      l.CrashGrace.D(),
		Continuous:      o.Select.Continuous,
	}
	hbID := l.HeartbeatID
	if hbID == "" {
		hbID = replication.DefaultHeartbeatID()
	}
	probes := replication.Probes{HTTP: env.HTTP, NodeCredentials: creds, Step: env.Step,
		SeqLag: !l.NoSeqLag, CheckpointAge: !l.NoSeqLag && !l.NoCheckpointAge,
		HeartbeatDB: l.HeartbeatDB, HeartbeatWait: l.HeartbeatWait.D(), Parallel: l.Parallel,
		// Its own heartbeat document: the check on this host may run at
		// the same time and must not see its write conflict.
		HeartbeatID: hbID + "-restart"}
	checker := restart.SourceChecker{HTTP: env.HTTP, NodeCreds: creds}
	if l.SourceCredentialsFile != "" {
		sc, err := secret.LoadFile(l.SourceCredentialsFile)
		if err != nil {
			return nagios.Result{Status: nagios.UNKNOWN, Summary: "--source-credentials-file: " + err.Error()}
		}
		env.Secrets.AddCredentials(sc)
		probes.SourceCredentials = &sc
		checker.SourceCreds = &sc
	}

	host, _ := os.Hostname()
	var exec restart.Executor = restart.DryRun{}
	if !o.Policy.DryRun {
		exec = &restart.Couch{Client: client, HTTP: env.HTTP, Creds: creds, BackupDir: store.BackupDir(),
			By: "restart_couch_replication@" + host, ConfirmWithin: o.Policy.ConfirmTimeout.D(),
			Confirm: func(ctx context.Context, t restart.Target) (string, bool, error) {
				one := replication.Selection{DocIDs: []string{t.DocID}, ReplicatorDBs: []string{t.Database}}
				rep, err := replication.Assess(ctx, client, one, th, time.Now())
				if err != nil {
					return "", false, err
				}
				for _, r := range rep.Replications {
					if r.DocID == t.DocID {
						return r.State, r.State == replication.Running || r.State == replication.Triggered, nil
					}
				}
				return replication.Missing, false, nil
			}}
	}

	deps := restart.Deps{
		Assess: func(ctx context.Context) ([]restart.Observed, error) {
			rep, err := replication.AssessWith(ctx, client, sel, th, probes, time.Now())
			for _, s := range rep.Secrets {
				env.Secrets.Add(s)
			}
			if err != nil {
				return nil, err
			}
			return restart.Observe(rep, spec), nil
		},
		CheckSource: checker.Check,
		Exec:        exec,
		Store:       store,
		Log:         logger,
		Webhook:     hook,
		Step:        env.Step,
		Now:         time.Now,
	}
	return restart.Run(ctx, cfg, deps)
}

// config checks the options that go-flags cannot.
func config(o *options) (restart.Config, error) {
	p := restart.DefaultPolicy()
	p.Failures, p.MaxRestarts, p.Window = o.Policy.Failures, o.Policy.MaxRestarts, o.Policy.RateWindow.D()
	if p.Failures < 1 {
		return restart.Config{}, fmt.Errorf("--failures must be at least 1, not %d", p.Failures)
	}
	if p.MaxRestarts < 1 {
		return restart.Config{}, fmt.Errorf("--max-restarts must be at least 1, not %d", p.MaxRestarts)
	}
	cfg := restart.Config{Mode: restart.ModeStandalone, Policy: p, DryRun: o.Policy.DryRun}
	e := o.Event
	if e.State == "" {
		if e.StateType != "" || e.Attempt != 0 {
			return cfg, fmt.Errorf("--state-type and --attempt need --state (Nagios event handler mode)")
		}
		return cfg, nil
	}
	cfg.Mode = restart.ModeHandler
	st, ok := map[string]nagios.Status{"OK": nagios.OK, "WARNING": nagios.WARNING, "CRITICAL": nagios.CRITICAL, "UNKNOWN": nagios.UNKNOWN}[strings.ToUpper(e.State)]
	if !ok {
		return cfg, fmt.Errorf("--state %q: want OK, WARNING, CRITICAL or UNKNOWN ($SERVICESTATE$)", e.State)
	}
	typ := strings.ToUpper(e.StateType)
	if typ != "SOFT" && typ != "HARD" {
		return cfg, fmt.Errorf("--state-type %q: want SOFT or HARD ($SERVICESTATETYPE$)", e.StateType)
	}
	if e.Attempt < 1 {
		return cfg, fmt.Errorf("--attempt %d: want the check attempt, 1 or more ($SERVICEATTEMPT$)", e.Attempt)
	}
	cfg.Event = restart.NagiosEvent{State: st, Type: typ, Attempt: e.Attempt}
	return cfg, nil
}
