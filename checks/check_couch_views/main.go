// check_couch_views reports, per design document of a CouchDB database,
// the view index's size, fragmentation, state and lag behind the
// database, and how long one small query per view takes.
package main

import (
	"context"
	"io"
	"os"
	"time"

	"github.com/registry-checks/registry-checks/checks/check_couch_views/views"
	"github.com/registry-checks/registry-checks/lib/couch"
	"github.com/registry-checks/registry-checks/lib/nagios"
	"github.com/registry-checks/registry-checks/lib/plugin"
)

type options struct {
	plugin.Common
	couch.Options

	DB   string   `short:"d" long:"db" value-name:"NAME" required:"true" description:"database whose design documents to check"`
	DDoc []string `long:"ddoc" value-name:"NAME" description:"design document to check (with or without _design/); repeatable; default all with views. A named one that is missing is CRITICAL"`

	WarnLag    *nagios.Range `long:"warning-lag" value-name:"RANGE" default:"10000" description:"database changes the index has not processed yet (an updating query waits for them)"`
	CritLag    *nagios.Range `long:"critical-lag" value-name:"RANGE" default:"50000" description:"database changes the index has not processed yet"`
	WarnFrag   *nagios.Range `long:"warning-fragmentation" value-name:"RANGE" default:"70" description:"percent of an index file that compaction would reclaim"`
	CritFrag   *nagios.Range `long:"critical-fragmentation" value-name:"RANGE" description:"percent of an index file that compaction would reclaim"`
	MinSize    couch.Bytes   `long:"min-size" value-name:"SIZE" default:"10M" description:"never alert on the fragmentation of an index whose file is smaller (bytes, or K, M, G)"`
	WarnWait   *nagios.Range `long:"warning-waiting-clients" value-name:"RANGE" description:"clients waiting for an index update"`
	CritWait   *nagios.Range `long:"critical-waiting-clients" value-name:"RANGE" description:"clients waiting for an index update"`
	WarnTime   *nagios.Range `short:"w" long:"warning-time" value-name:"RANGE" default:"1000" description:"milliseconds of the query that does not build the index"`
	CritTime   *nagios.Range `short:"c" long:"critical-time" value-name:"RANGE" default:"5000" description:"milliseconds of the query that does not build the index"`
	QueryMode  string        `long:"query-mode" default:"auto" choice:"auto" choice:"update-false" choice:"stale-ok" description:"how queries ask not to build the index; auto: update=false when the database's update_seq is a string (2.x, 3.x), stale=ok when it is an integer (1.x, PouchDB)"`
	NoQuery    bool          `long:"no-query" description:"do not query the views; only _info"`
	Update     bool          `long:"update-query" description:"also time one query per design document that waits for the index to catch up (it may build the index)"`
	WarnUpdate *nagios.Range `long:"warning-update-time" value-name:"RANGE" description:"milliseconds of the --update-query query"`
	CritUpdate *nagios.Range `long:"critical-update-time" value-name:"RANGE" description:"milliseconds of the --update-query query"`
}

func main() { os.Exit(run(os.Args[1:], os.Stdout)) }

func run(args []string, stdout io.Writer) int {
	var opts options
	return plugin.Run(plugin.Spec{Name: "COUCH_VIEWS", Binary: "check_couch_views", Options: &opts,
		Check: func(ctx context.Context, env *plugin.Env) nagios.Result {
			c, err := env.Couch(opts.Options)
			if err != nil {
				return env.Fail(err)
			}
			defer c.Close()
			return views.Check(ctx, opts.config(c.URL()), views.Deps{Couch: views.NewCouch(c), Now: time.Now, Step: env.Step, Problem: env.Problem})
		}}, args, stdout)
}

func (o *options) config(url string) views.Config {
	return views.Config{
		URL:            url,
		DB:             o.DB,
		DDocs:          o.DDoc,
		Lag:            nagios.Thresholds{Warn: o.WarnLag, Crit: o.CritLag},
		Fragmentation:  nagios.Thresholds{Warn: o.WarnFrag, Crit: o.CritFrag},
		MinSize:        int64(o.MinSize),
		WaitingClients: nagios.Thresholds{Warn: o.WarnWait, Crit: o.CritWait},
		QueryTime:      nagios.Thresholds{Warn: o.WarnTime, Crit: o.CritTime},
		QueryMode:      o.QueryMode,
		NoQuery:        o.NoQuery,
		UpdateQuery:    o.Update,
		UpdateTime:     nagios.Thresholds{Warn: o.WarnUpdate, Crit: o.CritUpdate},
	}
}
