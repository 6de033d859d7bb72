// Command restart_couch_replication restarts failed, crashing or stalled
// CouchDB replications: as a Nagios event handler on the second CRITICAL
// of check_couch_replication, or standalone from cron.
package main

import (
	"context"
	"io"
	"os"

	"github.com/registry-checks/registry-checks/lib/nagios"
	"github.com/registry-checks/registry-checks/lib/plugin"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout)) }

func run(args []string, stdout io.Writer) int {
	var opts options
	return plugin.Run(plugin.Spec{Name: "RESTART_COUCH_REPLICATION", Binary: "restart_couch_replication", Options: &opts, Help: &help,
		Check: func(ctx context.Context, env *plugin.Env) nagios.Result { return handle(ctx, &opts, env) }}, args, stdout)
}
