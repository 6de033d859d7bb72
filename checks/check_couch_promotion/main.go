// check_couch_promotion tells in one Nagios line whether a CouchDB replica
// could become the write primary now, and lose nothing.
package main

import (
	"context"
	"io"
	"os"

	"github.com/registry-checks/registry-checks/checks/check_couch_promotion/promocheck"
	"github.com/registry-checks/registry-checks/lib/couch"
	"github.com/registry-checks/registry-checks/lib/fsstat"
	"github.com/registry-checks/registry-checks/lib/nagios"
	"github.com/registry-checks/registry-checks/lib/plugin"
	"github.com/registry-checks/registry-checks/lib/promotion"
)

type options struct {
	plugin.Common
	couch.Options
	Primary PrimaryOptions `group:"The primary"`
	Compare CompareOptions `group:"What is compared"`
}

// PrimaryOptions name the write primary the replica is compared with.
type PrimaryOptions struct {
	URL             string   `long:"primary" value-name:"URL" required:"true" description:"the write primary's URL; user:password@ in it is accepted and never printed"`
	CredentialsFile string   `long:"primary-credentials-file" value-name:"PATH" description:"credentials for the primary (mode 600 or 640); default: the replica's --credentials-file"`
	Aliases         []string `long:"primary-alias" value-name:"URL" description:"another URL under which the replica's replication documents name the primary (repeatable)"`
}

// CompareOptions choose the databases and the limits.
type CompareOptions struct {
	DB          []string      `long:"db" value-name:"PATTERN" description:"database name or glob pattern on the primary (repeatable); default every database but the system ones (_users, _replicator...) and the probe database"`
	Exclude     []string      `long:"exclude" value-name:"PATTERN" description:"database name or glob pattern to leave out (repeatable)"`
	WarnLag     *nagios.Range `short:"w" long:"warning-lag" value-name:"RANGE" default:"100" description:"changes behind in the worst database (primary update_seq minus the replication's through_seq)"`
	CritLag     *nagios.Range `short:"c" long:"critical-lag" value-name:"RANGE" default:"1000" description:"changes behind in the worst database"`
	WarnDocDiff *nagios.Range `long:"warning-doc-diff" value-name:"RANGE" default:"100" description:"documents behind in the worst database (doc_count + doc_del_count)"`
	CritDocDiff *nagios.Range `long:"critical-doc-diff" value-name:"RANGE" default:"1000" description:"documents behind in the worst database"`
	ProbeDB     string        `long:"probe-db" value-name:"DB" default:"registry_checks_probe" description:"database on the replica the write probe writes to and deletes from (created if missing)"`
	NoProbe     bool          `long:"no-write-probe" description:"do not write to the replica (then its writability is not checked)"`
	DataDir     string        `long:"data-dir" value-name:"PATH" description:"the replica's data directory, when run on its host (NRPE): could it compact its largest database?"`
	NotChecked  string        `long:"not-checked-state" default:"ok" choice:"ok" choice:"warning" choice:"critical" choice:"unknown" description:"state when everything checked is fine but something could not be checked (always named on line 1)"`
	Concurrency int           `long:"concurrency" value-name:"N" default:"8" description:"per-database requests in flight on each node"`
}

func main() { os.Exit(run(os.Args[1:], os.Stdout)) }

func run(args []string, stdout io.Writer) int {
	var opts options
	return plugin.Run(plugin.Spec{Name: "PROMOTION", Binary: "check_couch_promotion", Options: &opts, Help: &help,
		Check: func(ctx context.Context, env *plugin.Env) nagios.Result {
			replica, err := env.Couch(opts.Options)
			if err != nil {
				return env.Fail(err)
			}
			defer replica.Close()
			pcf := opts.Primary.CredentialsFile
			if pcf == "" {
				pcf = opts.CredentialsFile
			}
			primary, err := env.Couch(couch.Options{URL: opts.Primary.URL, CredentialsFile: pcf, Flag: "--primary"})
			if err != nil {
				return env.Fail(err)
			}
			defer primary.Close()
			for _, c := range []*couch.Client{replica, primary} {
				c.DBInfoConcurrency = max(opts.Compare.Concurrency, 1)
			}
			return promocheck.Check(ctx, opts.config(), promocheck.Deps{
				Nodes:   promotion.Nodes{Primary: primary, Replica: replica, Step: env.Step},
				Problem: env.Problem, Secret: env.Secrets.Add,
			})
		}}, args, stdout)
}

func (o *options) config() promotion.Config {
	host, _ := os.Hostname()
	c := o.Compare
	return promotion.Config{
		Selection:      promotion.Selection{Include: c.DB, Exclude: c.Exclude, ProbeDB: c.ProbeDB},
		PrimaryAliases: o.Primary.Aliases,
		Lag:            nagios.Thresholds{Warn: c.WarnLag, Crit: c.CritLag},
		DocDiff:        nagios.Thresholds{Warn: c.WarnDocDiff, Crit: c.CritDocDiff},
		WriteProbe:     !c.NoProbe,
		// One id per checking host: the probe database keeps one
		// document's history, not a tombstone per run; runs on one host
		// (Nagios and Telegraf) retry a conflicting write.
		ProbeID:    "promotion-probe-" + host,
		DataDir:    c.DataDir,
		Statfs:     fsstat.Statfs,
		NotChecked: plugin.ParseState(c.NotChecked),
	}
}
