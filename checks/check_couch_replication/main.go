// check_couch_replication tells in one Nagios line whether every
// replication of a CouchDB node is alive and how far behind it is.
package main

import (
	"context"
	"io"
	"os"

	"github.com/registry-checks/registry-checks/checks/check_couch_replication/replcheck"
	"github.com/registry-checks/registry-checks/lib/couch"
	"github.com/registry-checks/registry-checks/lib/nagios"
	"github.com/registry-checks/registry-checks/lib/plugin"
	"github.com/registry-checks/registry-checks/lib/replication"
)

type options struct {
	plugin.Common
	couch.Options
	Select replication.SelectOptions `group:"Which replications"`
	Judge  replication.JudgeOptions  `group:"Lag and thresholds"`
}

func main() { os.Exit(run(os.Args[1:], os.Stdout)) }

func run(args []string, stdout io.Writer) int {
	var opts options
	return plugin.Run(plugin.Spec{Name: "COUCH_REPLICATION", Binary: "check_couch_replication", Options: &opts, Help: &help,
		Check: func(ctx context.Context, env *plugin.Env) nagios.Result {
			cc, err := env.Couch(opts.Options)
			if err != nil {
				return env.Fail(err)
			}
			defer cc.Close()
			probes, err := opts.Judge.Probes(env.HTTP, cc.Credentials(), env.Secrets, env.Step)
			if err != nil {
				return env.Fail(err)
			}
			cfg := replcheck.Config{
				Selection:  opts.Select.Selection(),
				Thresholds: opts.Judge.Thresholds(opts.Select.Continuous),
				Probes:     probes,
			}
			return replcheck.Check(ctx, cfg, replcheck.Deps{Client: cc, Problem: env.Problem, Secret: env.Secrets.Add})
		}}, args, stdout)
}
