// Command promote_couch_replica is the runbook that makes a CouchDB
// replica the write primary, as data: --plan prints its steps for the
// topology, --execute runs them, --rehearse runs them, verifies and rolls
// back to the original topology, reporting the time of each step.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/registry-checks/registry-checks/lib/couch"
	"github.com/registry-checks/registry-checks/lib/flagtype"
	"github.com/registry-checks/registry-checks/lib/nagios"
	"github.com/registry-checks/registry-checks/lib/notify"
	"github.com/registry-checks/registry-checks/lib/plugin"
	"github.com/registry-checks/registry-checks/lib/promotion"
	"github.com/registry-checks/registry-checks/remediate/promote_couch_replica/promote"
	"github.com/registry-checks/registry-checks/remediate/restart_couch_replication/restart"
)

type options struct {
	plugin.Common

	Nodes struct {
		NewPrimary      string   `long:"new-primary" value-name:"URL" required:"true" description:"the replica to promote; user:password@ in it is accepted and never printed"`
		OldPrimary      string   `long:"old-primary" value-name:"URL" required:"true" description:"the write primary now; fenced first, if it answers"`
		Replicas        []string `long:"replica" value-name:"URL" description:"another replica to rewire to the new primary (repeatable)"`
		CredentialsFile string   `long:"credentials-file" value-name:"PATH" description:"file with user:password (mode 600 or 640) for every node; else COUCHDB_USER/COUCHDB_PASSWORD"`
		Aliases         []string `long:"primary-alias" value-name:"URL" description:"another URL under which replication documents name the old primary (repeatable)"`
	} `group:"Nodes"`

	Mode struct {
		Plan     bool `long:"plan" description:"print the ordered steps for this topology, change nothing (the default)"`
		Execute  bool `long:"execute" description:"run the steps"`
		Rehearse bool `long:"rehearse" description:"run the steps, verify, then roll back to the original topology from the backups"`
		Resume   bool `long:"resume" description:"go on with a run that stopped (see the state file)"`
		Rollback bool `long:"rollback" description:"undo the steps a stopped run did"`
	} `group:"What to do"`

	Steps struct {
		DB             []string          `long:"db" value-name:"PATTERN" description:"database name or glob on the old primary (repeatable); default every database but the system ones"`
		Exclude        []string          `long:"exclude" value-name:"PATTERN" description:"database name or glob to leave out (repeatable)"`
		FenceCommand   string            `long:"fence-command" value-name:"CMD" description:"fence at the load balancer instead of with a design document (run with sh -c)"`
		UnfenceCommand string            `long:"unfence-command" value-name:"CMD" description:"undo --fence-command on rollback"`
		ConfigCommand  string            `long:"config-command" value-name:"CMD" description:"the site's configuration change (DNS, nginx upstream, Ansible), run with PROMOTE_NEW_PRIMARY_URL (no credentials), PROMOTE_OLD_PRIMARY_URL and PROMOTE_ROLLBACK=0|1"`
		DemoteOld      bool              `long:"demote-old" description:"make the old primary pull every database from the new one"`
		CatchUpTimeout flagtype.Duration `long:"catch-up-timeout" value-name:"DURATION" default:"60s" description:"bound on the wait for the new primary to catch up (and on the copy back of a rollback)"`
		VerifyTimeout  flagtype.Duration `long:"verify-timeout" value-name:"DURATION" default:"30s" description:"bound on the wait for the heartbeat on every node"`
		HeartbeatDB    string            `long:"heartbeat-db" value-name:"DB" description:"database the verification heartbeat is written to (default: the first selected)"`
	} `group:"Steps"`

	Out struct {
		StateDir       string `long:"state-dir" default:"/var/lib/registry-checks" value-name:"DIR" description:"state file, lock and document backups (falls back to a per-user temp folder when the default is not writable)"`
		LogFile        string `long:"log-file" default:"syslog" value-name:"PATH" description:"where each step is logged: syslog, a file, or - for stderr"`
		WebhookURLFile string `long:"webhook-url-file" value-name:"FILE" description:"file (mode 600 or 640) with a chat incoming-webhook URL; the outcome is posted as {\"text\": ...}"`
	} `group:"Logging and state"`
}

func main() { os.Exit(run(os.Args[1:], os.Stdout)) }

func run(args []string, stdout io.Writer) int {
	var opts options
	return plugin.Run(plugin.Spec{Name: "PROMOTE_COUCH_REPLICA", Binary: "promote_couch_replica", Options: &opts, Help: &help,
		Check: func(ctx context.Context, env *plugin.Env) nagios.Result { return promoteRun(ctx, &opts, env) }}, args, stdout)
}

// mode is the one mode the options name.
func (o *options) mode() (string, error) {
	m := o.Mode
	n := 0
	mode := promote.ModePlan
	for _, x := range []struct {
		on   bool
		name string
	}{{m.Plan, promote.ModePlan}, {m.Execute, promote.ModeExecute}, {m.Rehearse, promote.ModeRehearse}} {
		if x.on {
			n++
			mode = x.name
		}
	}
	if n > 1 {
		return "", fmt.Errorf("--plan, --execute and --rehearse exclude each other")
	}
	if m.Resume && m.Rollback {
		return "", fmt.Errorf("--resume and --rollback exclude each other")
	}
	if (m.Resume || m.Rollback) && mode == promote.ModePlan && m.Plan {
		return "", fmt.Errorf("--resume and --rollback act: not with --plan")
	}
	if (m.Resume || m.Rollback) && mode == promote.ModePlan {
		mode = promote.ModeExecute
	}
	if mode != promote.ModePlan {
		need := o.Steps.CatchUpTimeout.D() + o.Steps.VerifyTimeout.D()
		if mode == promote.ModeRehearse {
			need *= 2
		}
		if o.Timeout.D() < need {
			return "", fmt.Errorf("-t %s is shorter than the waits it must hold (%s: --catch-up-timeout and --verify-timeout%s); give -t %d or more",
				o.Timeout.D(), need, map[bool]string{true: ", twice for a rehearsal", false: ""}[mode == promote.ModeRehearse], int((need + 10*time.Second).Seconds()))
		}
	}
	return mode, nil
}

func promoteRun(ctx context.Context, o *options, env *plugin.Env) nagios.Result {
	mode, err := o.mode()
	if err != nil {
		return nagios.Result{Status: nagios.UNKNOWN, Summary: "bad arguments: " + err.Error()}
	}
	clients := map[string]*couch.Client{}
	connect := func(flag, raw string) (string, error) {
		c, err := env.Couch(couch.Options{URL: raw, CredentialsFile: o.Nodes.CredentialsFile})
		if err != nil {
			return "", fmt.Errorf("%s: %w", flag, err)
		}
		clients[c.URL()] = c
		return c.URL(), nil
	}
	defer func() {
		for _, c := range clients {
			c.Close()
		}
	}()
	old, err := connect("--old-primary", o.Nodes.OldPrimary)
	if err != nil {
		return env.Fail(err)
	}
	nw, err := connect("--new-primary", o.Nodes.NewPrimary)
	if err != nil {
		return env.Fail(err)
	}
	if old == nw {
		return nagios.Result{Status: nagios.UNKNOWN, Summary: "bad arguments: --new-primary and --old-primary are the same node"}
	}
	var replicas []string
	for _, r := range o.Nodes.Replicas {
		u, err := connect("--replica", r)
		if err != nil {
			return env.Fail(err)
		}
		if u == old || u == nw {
			return nagios.Result{Status: nagios.UNKNOWN, Summary: "bad arguments: --replica " + u + " is a primary"}
		}
		replicas = append(replicas, u)
	}
	sel := promotion.Selection{Include: o.Steps.DB, Exclude: o.Steps.Exclude, ProbeDB: promotion.DefaultProbeDB}
	popts := promote.Options{FenceCommand: o.Steps.FenceCommand, UnfenceCommand: o.Steps.UnfenceCommand, ConfigCommand: o.Steps.ConfigCommand,
		DemoteOld: o.Steps.DemoteOld, CatchUpTimeout: o.Steps.CatchUpTimeout.D(), VerifyTimeout: o.Steps.VerifyTimeout.D(), HeartbeatDB: o.Steps.HeartbeatDB}

	dir, err := restart.StateDir(o.Out.StateDir, o.Out.StateDir != restart.DefaultStateDir)
	if err != nil {
		return nagios.Result{Status: nagios.UNKNOWN, Summary: err.Error()}
	}
	dir = filepath.Join(dir, "promote_couch_replica")
	store := &restart.Store{Dir: dir, Node: restart.NodeName(old), Program: "promote_couch_replica"}

	deps := promote.Deps{
		Discover: func(ctx context.Context) (promote.Topology, error) {
			t, secrets, err := promote.Discover(ctx, clients, old, nw, replicas, sel, o.Nodes.Aliases)
			for _, s := range secrets {
				env.Secrets.Add(s)
			}
			if err == nil && len(t.DBs) == 0 {
				err = &nagios.Problem{Status: nagios.UNKNOWN, Msg: "no database of " + promotion.Node(old) + " is selected"}
			}
			return t, err
		},
		State:  promote.StateFile{Path: filepath.Join(dir, restart.NodeName(old)+".json")},
		Step:   env.Step,
		Now:    time.Now,
		Redact: env.Secrets.Redact,
	}
	host, _ := os.Hostname()
	deps.Exec = func(t promote.Topology, o promote.Options, backups map[string]string) promote.Doer {
		return &promote.Executor{Clients: clients, Topology: t, Options: o.WithDefaults(t), BackupDir: store.BackupDir(), By: "promote_couch_replica@" + host,
			Backups: backups, Shell: promote.RunShell(env.Secrets), Agree: agree}
	}
	if mode == promote.ModePlan {
		return promote.Run(ctx, promote.Config{Mode: mode, Options: popts}, deps)
	}

	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nagios.Result{Status: nagios.UNKNOWN, Summary: fmt.Sprintf("state dir %s: %v", dir, err)}
	}
	logger, _, err := restart.OpenLoggerAs("promote_couch_replica", o.Out.LogFile, filepath.Join(dir, "steps.log"), time.Now)
	if err != nil {
		return nagios.Result{Status: nagios.UNKNOWN, Summary: err.Error()}
	}
	defer logger.Close()
	deps.Log = func(line string) { logger.Log(env.Secrets.Redact(line)) }
	if o.Out.WebhookURLFile != "" {
		hook, err := notify.LoadWebhook(o.Out.WebhookURLFile, env.Secrets, env.HTTP)
		if err != nil {
			return nagios.Result{Status: nagios.UNKNOWN, Summary: err.Error()}
		}
		deps.Notify = func(ctx context.Context, text string) {
			if err := hook.Post(ctx, env.Secrets.Redact(text)); err != nil {
				logger.Log(env.Secrets.Redact(err.Error()))
			}
		}
	}
	deps.Lock = func(ctx context.Context) (func(), error) {
		if err := store.Lock(ctx); err != nil {
			return nil, err
		}
		return store.Unlock, nil
	}
	return promote.Run(ctx, promote.Config{Mode: mode, Resume: o.Mode.Resume, Rollback: o.Mode.Rollback, Options: popts}, deps)
}

// agree is check_couch_promotion's model on the new topology: the replica
// could take over from the new primary as far as databases, replications,
// design documents, _security and fences go (lag and counts are left to
// the heartbeat: writes go on during a promotion).
func agree(ctx context.Context, primary, replica *couch.Client, dbs []string) error {
	// The run's databases only: one the run left out (--db, --exclude)
	// still pulls from the old primary, rightly.
	rep, err := promotion.Compare(ctx, promotion.Nodes{Primary: primary, Replica: replica}, promotion.Config{Selection: promotion.Selection{Include: dbs}})
	if err != nil {
		return err
	}
	var blockers []string
	for _, f := range rep.Findings {
		if f.Status == nagios.CRITICAL {
			blockers = append(blockers, f.Detail)
		}
	}
	if len(blockers) > 0 {
		return fmt.Errorf("%s", strings.Join(blockers, "; "))
	}
	return nil
}
