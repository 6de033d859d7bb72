// check_fastly GETs URLs through the CDN and reports the phases, the CDN's
// cache facts, the TLS certificate and the freshness of cached packuments.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/registry-checks/registry-checks/checks/check_fastly/cdn"
	"github.com/registry-checks/registry-checks/lib/couch"
	"github.com/registry-checks/registry-checks/lib/httpclient"
	"github.com/registry-checks/registry-checks/lib/httpprobe"
	"github.com/registry-checks/registry-checks/lib/nagios"
	"github.com/registry-checks/registry-checks/lib/plugin"
)

type options struct {
	plugin.Common

	URLs          []string      `short:"u" long:"url" value-name:"URL" description:"URL to GET through the CDN (repeatable): the ping endpoint, a tarball"`
	Packuments    []string      `long:"packument" value-name:"URL" description:"CDN URL of a packument (repeatable): probed like --url, and compared with the origin CouchDB when --couch-url is given"`
	Expect        string        `short:"e" long:"expect" value-name:"CODES" default:"200" description:"expected status codes, comma-separated"`
	HeaderPresent []string      `long:"header-present" value-name:"NAME" description:"the answer must carry this header (repeatable)"`
	HeaderEquals  []string      `long:"header-equals" value-name:"'NAME: VALUE'" description:"the header must equal VALUE (repeatable)"`
	HeaderMatches []string      `long:"header-matches" value-name:"'NAME: REGEX'" description:"the header must match the Go regular expression (repeatable)"`
	FastlyDebug   bool          `long:"fastly-debug" description:"send Fastly-Debug: 1 and show Fastly-Debug-TTL and Fastly-Debug-Path"`
	Resolve       []string      `long:"resolve" value-name:"HOST:PORT:ADDRESS" description:"connect to ADDRESS for HOST:PORT, like curl (one edge node, or bypass DNS); repeatable"`
	MaxBytes      int64         `long:"max-bytes" value-name:"BYTES" default:"16777216" description:"bound on each body read"`
	Warning       *nagios.Range `short:"w" long:"warning" value-name:"RANGE" description:"total time of each GET, seconds"`
	Critical      *nagios.Range `short:"c" long:"critical" value-name:"RANGE" description:"total time of each GET, seconds"`
	CertWarning   *nagios.Range `long:"cert-warning" value-name:"RANGE" default:"14:" description:"days until the served certificate expires"`
	CertCritical  *nagios.Range `long:"cert-critical" value-name:"RANGE" default:"7:" description:"days until the served certificate expires"`

	CouchURL             string        `long:"couch-url" value-name:"URL" description:"origin CouchDB (the write primary) to compare --packument answers with"`
	CouchCredentialsFile string        `long:"couch-credentials-file" value-name:"PATH" description:"credentials for --couch-url (user:password, mode 600); else COUCHDB_USER/COUCHDB_PASSWORD"`
	DB                   string        `long:"db" value-name:"NAME" default:"registry" description:"registry database on --couch-url"`
	StaleWarning         *nagios.Range `long:"stale-warning" value-name:"RANGE" default:"300" description:"seconds the CDN may serve a packument older than the origin's"`
	StaleCritical        *nagios.Range `long:"stale-critical" value-name:"RANGE" description:"seconds the CDN may serve a packument older than the origin's"`
	StateDir             string        `long:"state-dir" value-name:"DIR" default:"/var/lib/registry-checks" description:"where --packument runs remember since when the CDN serves a stale copy, in check_fastly/ (falls back to a per-user temp folder when the default is not writable)"`
}

func main() { os.Exit(run(os.Args[1:], os.Stdout)) }

func run(args []string, stdout io.Writer) int {
	var opts options
	return plugin.Run(plugin.Spec{Name: "FASTLY", Binary: "check_fastly", Options: &opts,
		Check: func(ctx context.Context, env *plugin.Env) nagios.Result {
			cfg, err := config(opts)
			if err != nil {
				return nagios.Result{Status: nagios.UNKNOWN, Summary: err.Error()}
			}
			hc := env.HTTP
			// The probe reads bodies raw, up to --max-bytes, whatever
			// their Content-Type.
			if hc, err = env.HTTP.With(func(c *httpclient.Config) {
				c.Resolve = cfg.Resolved
				c.MaxBody = max(c.MaxBody, opts.MaxBytes+1)
				c.RawBodies = true
			}); err != nil {
				return env.Fail(err)
			}
			deps := cdn.Deps{Probe: httpprobe.New(hc), Problem: env.Problem, Step: func(s string) { env.Step("%s", s) }}
			var stateNote string
			if opts.CouchURL != "" {
				// The origin is reached directly, not through --resolve.
				cc, err := env.Couch(couch.Options{URL: opts.CouchURL, CredentialsFile: opts.CouchCredentialsFile})
				if err != nil {
					st, msg := env.Problem(err)
					return nagios.Result{Status: st, Summary: "origin CouchDB (--couch-url, --couch-credentials-file): " + msg}
				}
				defer cc.Close()
				deps.Origin = &cdn.CouchOrigin{Client: cc, DB: opts.DB}
				explicit := opts.StateDir != plugin.DefaultStateDir
				dir, err := plugin.UsableDir(opts.StateDir, "registry-checks", explicit)
				switch {
				case err == nil:
					deps.Sightings = &cdn.FileSightings{Dir: filepath.Join(dir, "check_fastly"), Redact: env.Secrets.Redact}
				case explicit:
					return nagios.Result{Status: nagios.UNKNOWN, Summary: "--state-dir: " + err.Error()}
				default:
					// Memory between runs only sharpens the staleness bound:
					// without it the check still runs, and says so.
					stateNote = "state: " + err.Error() + "; the staleness bound is only what this run sees"
				}
			}
			res := cdn.Check(ctx, cfg, deps)
			if stateNote != "" {
				res.Long = append(res.Long, stateNote)
			}
			return res
		}}, args, stdout)
}

func config(opts options) (cdn.Config, error) {
	cfg := cdn.Config{
		URLs: opts.URLs, Packuments: opts.Packuments, FastlyDebug: opts.FastlyDebug, MaxBytes: opts.MaxBytes,
		Insecure: opts.TLS.Insecure,
		Time:     nagios.Thresholds{Warn: opts.Warning, Crit: opts.Critical},
		CertDays: nagios.Thresholds{Warn: opts.CertWarning, Crit: opts.CertCritical},
		Stale:    nagios.Thresholds{Warn: opts.StaleWarning, Crit: opts.StaleCritical},
	}
	if opts.MaxBytes < 1 {
		return cfg, fmt.Errorf("--max-bytes must be at least 1")
	}
	for _, o := range []struct {
		name string
		urls []string
	}{{"--url", opts.URLs}, {"--packument", opts.Packuments}} {
		for _, u := range o.urls {
			if err := httpclient.CheckURL(o.name, u); err != nil {
				return cfg, err
			}
		}
	}
	for _, s := range strings.Split(opts.Expect, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 100 || n > 599 {
			return cfg, fmt.Errorf("--expect %q: %q is not an HTTP status code", opts.Expect, s)
		}
		cfg.Expect = append(cfg.Expect, n)
	}
	for _, h := range []struct {
		kind  string
		specs []string
	}{{"present", opts.HeaderPresent}, {"equals", opts.HeaderEquals}, {"matches", opts.HeaderMatches}} {
		for _, spec := range h.specs {
			r, err := cdn.ParseHeaderRule(h.kind, spec)
			if err != nil {
				return cfg, err
			}
			cfg.Headers = append(cfg.Headers, r)
		}
	}
	if len(opts.Resolve) > 0 {
		rules, err := httpclient.ParseResolve(opts.Resolve)
		if err != nil {
			return cfg, err
		}
		cfg.Resolved = rules
	}
	return cfg, nil
}
