// check_tarball_origin fetches tarballs the registry lists from each origin
// and from the CouchDB attachment, and verifies them against the packument.
package main

import (
	"context"
	"io"
	"os"

	"github.com/registry-checks/registry-checks/checks/check_tarball_origin/tarball"
	"github.com/registry-checks/registry-checks/lib/couch"
	"github.com/registry-checks/registry-checks/lib/httpclient"
	"github.com/registry-checks/registry-checks/lib/httpprobe"
	"github.com/registry-checks/registry-checks/lib/nagios"
	"github.com/registry-checks/registry-checks/lib/plugin"
)

type options struct {
	plugin.Common
	couch.Options

	Origins      []string      `long:"origin" value-name:"URL" required:"true" description:"tarball origin base URL, fetched directly (repeat for each origin)"`
	Host         string        `long:"host-header" value-name:"NAME" description:"Host header for the origins when they are virtual hosts of the public name (default: the origin URL's host)"`
	DB           string        `long:"db" value-name:"NAME" default:"registry" description:"registry database on the CouchDB write primary (--url)"`
	Packages     []string      `short:"p" long:"package" value-name:"NAME[@VERSION]" description:"package to test (repeatable); without @VERSION its dist-tags.latest"`
	Recent       int           `long:"recent" value-name:"N" default:"0" description:"also test the latest publish of the N packages changed last (the changes feed)"`
	MaxBytes     int64         `long:"max-bytes" value-name:"BYTES" default:"67108864" description:"bound on each tarball read; a bigger tarball is UNKNOWN, not verified"`
	SourceHeader string        `long:"source-header" value-name:"NAME" default:"X-Tarball-Source" description:"response header naming the source (filesystem or couchdb); empty: do not look"`
	FallbackOK   bool          `long:"fallback-ok" description:"a tarball served by the CouchDB fallback is OK (default WARNING: the filesystem is behind)"`
	NoAttachment bool          `long:"no-attachment" description:"do not fetch the tarball from the CouchDB attachment itself"`
	Parallel     int           `long:"parallel" value-name:"N" default:"4" description:"fetches in flight at once"`
	Warning      *nagios.Range `short:"w" long:"warning" value-name:"RANGE" description:"total time of each fetch, seconds"`
	Critical     *nagios.Range `short:"c" long:"critical" value-name:"RANGE" description:"total time of each fetch, seconds"`
}

func main() { os.Exit(run(os.Args[1:], os.Stdout)) }

func run(args []string, stdout io.Writer) int {
	var opts options
	return plugin.Run(plugin.Spec{Name: "TARBALL_ORIGIN", Binary: "check_tarball_origin", Options: &opts,
		Check: func(ctx context.Context, env *plugin.Env) nagios.Result {
			if opts.MaxBytes < 1 {
				return nagios.Result{Status: nagios.UNKNOWN, Summary: "--max-bytes must be at least 1"}
			}
			for _, o := range opts.Origins {
				if err := httpclient.CheckURL("--origin", o); err != nil {
					return nagios.Result{Status: nagios.UNKNOWN, Summary: err.Error()}
				}
			}
			// Tarballs can be larger than the run client's body cap, which
			// fits JSON answers: derive a client through the same builder.
			hc := env.HTTP
			if opts.MaxBytes+1 > hc.MaxBody() {
				var err error
				if hc, err = env.HTTP.With(func(c *httpclient.Config) { c.MaxBody = opts.MaxBytes + 1 }); err != nil {
					return env.Fail(err)
				}
			}
			cc, err := env.CouchWith(hc, opts.Options)
			if err != nil {
				return env.Fail(err)
			}
			defer cc.Close()
			docs, err := env.Couch(opts.Options)
			if err != nil {
				return env.Fail(err)
			}
			defer docs.Close()
			cfg := tarball.Config{
				Origins: opts.Origins, Host: opts.Host, Packages: opts.Packages, Recent: opts.Recent,
				MaxBytes: opts.MaxBytes, SourceHeader: opts.SourceHeader, FallbackOK: opts.FallbackOK,
				Attachment: !opts.NoAttachment, Parallel: opts.Parallel,
				Time: nagios.Thresholds{Warn: opts.Warning, Crit: opts.Critical},
			}
			return tarball.Check(ctx, cfg, tarball.Deps{
				Registry: &tarball.CouchRegistry{Client: cc, Docs: docs, DB: opts.DB},
				Probe:    httpprobe.New(hc),
				Problem:  env.Problem,
				Step:     func(s string) { env.Step("%s", s) },
			})
		}}, args, stdout)
}
