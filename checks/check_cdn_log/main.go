// check_cdn_log reads what the CDN access logs gained since its last run
// and tells in one Nagios line the requests, error ratios, cache hit ratio
// and tarball downloads; per-minute counts and downloads per package
// version go to InfluxDB exactly once.
package main

import (
	"context"
	"io"
	"os"

	"github.com/registry-checks/registry-checks/checks/check_cdn_log/cdncheck"
	"github.com/registry-checks/registry-checks/lib/nagios"
	"github.com/registry-checks/registry-checks/lib/plugin"
)

type options struct {
	plugin.Common
	Logs  cdncheck.Options      `group:"Logs"`
	Judge cdncheck.JudgeOptions `group:"Thresholds and bounds"`
}

func main() { os.Exit(run(os.Args[1:], os.Stdout)) }

func run(args []string, stdout io.Writer) int {
	var opts options
	return plugin.Run(plugin.Spec{Name: "CDN_LOG", Binary: "check_cdn_log", Options: &opts, Help: &help,
		Check: func(ctx context.Context, env *plugin.Env) nagios.Result {
			cfg, err := cdncheck.NewConfig(opts.Logs, opts.Judge, env.Verbose)
			if err != nil {
				return nagios.Result{Status: nagios.UNKNOWN, Summary: err.Error()}
			}
			cfg.Limits.Redactor = env.Secrets // samples are redacted before they are cut
			return cdncheck.Check(ctx, cfg, cdncheck.Deps{Deliver: env.Deliver, Problem: env.Problem})
		}}, args, stdout)
}
