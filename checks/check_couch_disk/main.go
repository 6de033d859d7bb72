// check_couch_disk reports the size and fragmentation of a CouchDB node's
// databases and, run on the node's host, the free space of its data
// directory and whether the largest database could still be compacted.
package main

import (
	"context"
	"io"
	"os"

	"github.com/registry-checks/registry-checks/checks/check_couch_disk/disk"
	"github.com/registry-checks/registry-checks/lib/couch"
	"github.com/registry-checks/registry-checks/lib/nagios"
	"github.com/registry-checks/registry-checks/lib/plugin"
)

type options struct {
	plugin.Common
	couch.Options

	DB      []string `long:"db" value-name:"PATTERN" description:"database name or glob pattern (*, ?, [a-z]) to check; repeatable; default all databases. A name without glob characters that the server lacks is CRITICAL"`
	Exclude []string `long:"exclude" value-name:"PATTERN" description:"database name or glob pattern to leave out; repeatable"`

	WarnFrag  *nagios.Range `short:"w" long:"warning-fragmentation" value-name:"RANGE" default:"70" description:"percent of a database file that compaction would reclaim"`
	CritFrag  *nagios.Range `short:"c" long:"critical-fragmentation" value-name:"RANGE" description:"percent of a database file that compaction would reclaim"`
	WarnSlack *nagios.Range `long:"warning-slack" value-name:"RANGE" description:"bytes of a database file that compaction would reclaim"`
	CritSlack *nagios.Range `long:"critical-slack" value-name:"RANGE" description:"bytes of a database file that compaction would reclaim"`
	MinSize   couch.Bytes   `long:"min-size" value-name:"SIZE" default:"10M" description:"never alert on fragmentation or slack of a database whose file is smaller (bytes, or K, M, G)"`

	DataDir       string        `long:"data-dir" value-name:"PATH" description:"CouchDB's data directory, when run on its host (NRPE): free space, free inodes and compaction headroom of its filesystem"`
	WarnFree      *nagios.Range `long:"warning-free" value-name:"RANGE" default:"10:" description:"percent of the data filesystem free"`
	CritFree      *nagios.Range `long:"critical-free" value-name:"RANGE" default:"5:" description:"percent of the data filesystem free"`
	WarnFreeBytes *nagios.Range `long:"warning-free-bytes" value-name:"RANGE" description:"bytes free on the data filesystem"`
	CritFreeBytes *nagios.Range `long:"critical-free-bytes" value-name:"RANGE" description:"bytes free on the data filesystem"`
	WarnInodes    *nagios.Range `long:"warning-free-inodes" value-name:"RANGE" default:"10:" description:"percent of the data filesystem's inodes free"`
	CritInodes    *nagios.Range `long:"critical-free-inodes" value-name:"RANGE" default:"5:" description:"percent of the data filesystem's inodes free"`
	WarnHeadroom  *nagios.Range `long:"warning-headroom" value-name:"RANGE" description:"bytes that would be left free after compacting the largest database (it is CRITICAL anyway when that does not fit)"`
	CritHeadroom  *nagios.Range `long:"critical-headroom" value-name:"RANGE" description:"bytes that would be left free after compacting the largest database"`

	Concurrency int  `long:"concurrency" value-name:"N" default:"8" description:"requests in flight while reading database infos: POST /_dbs_info batches of 100 after the first, or GET /{db} on servers without it (1.x, 2.0, 2.1, PouchDB)"`
	MaxListed   int  `long:"max-listed" value-name:"N" default:"20" description:"per-database lines in the long output, worst first"`
	DBMetrics   bool `long:"db-metrics" description:"also perfdata and a couch_database point per database (every database is then listed)"`
}

func main() { os.Exit(run(os.Args[1:], os.Stdout)) }

func run(args []string, stdout io.Writer) int {
	var opts options
	return plugin.Run(plugin.Spec{Name: "COUCH_DISK", Binary: "check_couch_disk", Options: &opts, Help: &help,
		Check: func(ctx context.Context, env *plugin.Env) nagios.Result {
			c, err := env.Couch(opts.Options)
			if err != nil {
				return env.Fail(err)
			}
			defer c.Close()
			c.DBInfoConcurrency = max(opts.Concurrency, 1)
			return disk.Check(ctx, opts.config(c.URL()), disk.Deps{Couch: c, Statfs: disk.Statfs, Step: env.Step, Problem: env.Problem})
		}}, args, stdout)
}

func (o *options) config(url string) disk.Config {
	return disk.Config{
		URL:           url,
		Include:       o.DB,
		Exclude:       o.Exclude,
		Fragmentation: nagios.Thresholds{Warn: o.WarnFrag, Crit: o.CritFrag},
		Slack:         nagios.Thresholds{Warn: o.WarnSlack, Crit: o.CritSlack},
		MinSize:       int64(o.MinSize),
		DataDir:       o.DataDir,
		Free:          nagios.Thresholds{Warn: o.WarnFree, Crit: o.CritFree},
		FreeBytes:     nagios.Thresholds{Warn: o.WarnFreeBytes, Crit: o.CritFreeBytes},
		FreeInodes:    nagios.Thresholds{Warn: o.WarnInodes, Crit: o.CritInodes},
		Headroom:      nagios.Thresholds{Warn: o.WarnHeadroom, Crit: o.CritHeadroom},
		MaxListed:     o.MaxListed,
		PerDBMetrics:  o.DBMetrics,
	}
}
