package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/registry-checks/registry-checks/lib/couch"
	"github.com/registry-checks/registry-checks/lib/flagtype"
	"github.com/registry-checks/registry-checks/lib/nagios"
	"github.com/registry-checks/registry-checks/lib/notify"
	"github.com/registry-checks/registry-checks/lib/plugin"
	"github.com/registry-checks/registry-checks/lib/replication"
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
	Select replication.SelectOptions `group:"Which replications (as check_couch_replication)"`
	Judge  replication.JudgeOptions  `group:"Failing and stalled replications (as check_couch_replication)"`

	Policy struct {
		Failures       int               `long:"failures" default:"2" value-name:"N" description:"standalone: restart on the Nth consecutive failed run"`
		MaxRestarts    int               `long:"max-restarts" default:"3" value-name:"N" description:"restarts of one replication per --rate-window, then it stops and asks for a human"`
		RateWindow     flagtype.Duration `long:"rate-window" default:"1h" value-name:"DURATION" description:"window of --max-restarts"`
		ConfirmTimeout flagtype.Duration `long:"confirm-timeout" default:"5s" value-name:"SECONDS" description:"bound on the wait for the new job to run after a restart"`
		DryRun         bool              `long:"dry-run" description:"decide and log, but restart nothing (its state is kept apart from real runs')"`
		TransientSpec  string            `long:"transient-spec" value-name:"FILE" description:"JSON body of a transient POST /_replicate to keep running (mode 600: it holds credentials)"`
	} `group:"Restart policy"`

	Out struct {
		StateDir       string `long:"state-dir" default:"/var/lib/registry-checks" value-name:"DIR" description:"state files, locks and document backups (falls back to a per-user temp folder when the default is not writable)"`
		LogFile        string `long:"log-file" default:"syslog" value-name:"PATH" description:"where each decision is logged: syslog, a file, or - for stderr (without a syslog daemon: decisions.log in the state dir)"`
		WebhookURLFile string `long:"webhook-url-file" value-name:"FILE" description:"file (mode 600 or 640) with a chat incoming-webhook URL; restarts and problems are posted as {\"text\": ...}"`
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

	var hook *notify.Webhook
	if o.Out.WebhookURLFile != "" {
		if hook, err = notify.LoadWebhook(o.Out.WebhookURLFile, env.Secrets, env.HTTP); err != nil {
			return nagios.Result{Status: nagios.UNKNOWN, Summary: err.Error()}
		}
	}

	// A missing replication is never restarted: --expect is accepted for
	// the check's command line and ignored.
	sel := o.Select.Selection()
	sel.Expect = 0
	th := o.Judge.Thresholds(o.Select.Continuous)
	probes, err := o.Judge.Probes(env.HTTP, creds, env.Secrets, env.Step)
	if err != nil {
		return env.Fail(err)
	}
	// Its own heartbeat document: the check on this host may run at the
	// same time and must not see its write conflict.
	if probes.HeartbeatID == "" {
		probes.HeartbeatID = replication.DefaultHeartbeatID()
	}
	probes.HeartbeatID += "-restart"
	checker := restart.SourceChecker{HTTP: env.HTTP, NodeCreds: creds, SourceCreds: probes.SourceCredentials}

	host, _ := os.Hostname()
	var exec restart.Executor = restart.DryRun{}
	var couchExec *restart.Couch
	if !o.Policy.DryRun {
		couchExec = &restart.Couch{Client: client, HTTP: env.HTTP, Creds: creds, BackupDir: store.BackupDir(),
			By: "restart_couch_replication@" + host, ConfirmWithin: o.Policy.ConfirmTimeout.D(),
			Confirm: restart.AssessConfirmer(client, th, time.Now)}
		exec = couchExec
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
			if couchExec != nil && strings.HasPrefix(rep.Server, "PouchDB") {
				couchExec.Settle, couchExec.OneByOne = restart.PouchDBSettle, true
			}
			return restart.Observe(rep, spec), nil
		},
		CheckSource: checker.Check,
		Exec:        exec,
		Store:       store,
		Log:         logger,
		Webhook:     hook,
		Step:        env.Step,
		Problem:     env.Problem,
		Now:         time.Now,
		Secrets:     env.Secrets,
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
