// Package plugin is the one run path every binary of the suite goes
// through: options, the -t deadline, panics, printing, metric delivery and
// the exit code.
package plugin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	flags "github.com/jessevdk/go-flags"

	"github.com/registry-checks/registry-checks/lib/couch"
	"github.com/registry-checks/registry-checks/lib/flagtype"
	"github.com/registry-checks/registry-checks/lib/httpclient"
	"github.com/registry-checks/registry-checks/lib/metrics"
	"github.com/registry-checks/registry-checks/lib/nagios"
	"github.com/registry-checks/registry-checks/lib/secret"
	"github.com/registry-checks/registry-checks/lib/version"
)

// Common holds the options every binary accepts. A binary's options struct
// embeds it; go-flags reads the embedded struct's fields as the binary's own.
type Common struct {
	Verbose      []bool            `short:"v" long:"verbose" description:"more detail in the long output (repeat up to -vvv)"`
	Timeout      flagtype.Duration `short:"t" long:"timeout" default:"10s" value-name:"SECONDS" description:"bound on the whole run, metric writes included (seconds, or a duration like 1m)"`
	TimeoutState string            `long:"timeout-state" default:"critical" choice:"ok" choice:"warning" choice:"critical" choice:"unknown" description:"state to report when -t runs out"`
	Version      bool              `short:"V" long:"version" description:"print the version and exit (UNKNOWN, 3)"`
	Output       string            `long:"output" default:"nagios" choice:"nagios" choice:"influx" description:"nagios: the plugin output; influx: line protocol alone on stdout (Telegraf's exec input), exit code unchanged"`
	OutputLimit  int               `long:"output-limit" default:"4096" value-name:"BYTES" description:"bound on the printed output; what does not fit is counted as (+N more)"`

	Metrics metrics.Options    `group:"Metrics (InfluxDB line protocol)"`
	TLS     httpclient.Options `group:"TLS (every HTTP request of the run)"`
}

func (c *Common) common() *Common { return c }

// Commoner is a pointer to an options struct that embeds Common.
type Commoner interface{ common() *Common }

// Spec describes one binary.
type Spec struct {
	Name    string   // first word of the output, e.g. COUCH_REPLICATION
	Binary  string   // program name in --help and --version, e.g. check_couch_replication
	Options Commoner // pointer to the binary's options; filled by Run before Check
	Args    string   // positional-argument text for the usage line, if any
	// Help is what --help and the man page say besides the options; nil
	// gives the options and EXIT STATUS alone.
	Help *Help
	// Check runs the check. It gets a context whose deadline leaves room for
	// the metric writes inside -t, and returns a Result; it neither prints
	// nor exits.
	Check func(ctx context.Context, env *Env) nagios.Result
}

// Env is what the run path gives a check besides its options.
type Env struct {
	Verbose int
	Secrets *secret.Redactor   // every secret the run loaded; all output passes through it
	HTTP    *httpclient.Client // the one HTTP client of the run (TLS options applied)

	timeout      time.Duration
	timeoutState nagios.Status
	step         atomic.Pointer[string]

	mu       sync.Mutex
	sealed   bool
	extra    []metrics.Point
	afterAll []func(delivered bool) []string

	sinks sinks
}

// Deliver sends points to the run's sinks now, while the check goes on,
// redacted like every point (the spool keeps what InfluxDB does not take),
// and says whether they are safe (delivered, spooled, or there is no
// sink) and whether some went to the spool: InfluxDB is not taking
// points, and a check with more to send had better stop than fill the
// spool past its bound, which drops the oldest.
// A check that reads more than it may hold in memory at once
// (check_cdn_log over a backlog) delivers in batches and commits its
// position after each; the points of its Result still leave at the end.
// After -t stopped the check it delivers nothing and returns false.
func (e *Env) Deliver(ctx context.Context, points []metrics.Point) (notes []string, delivered, spooled bool) {
	e.mu.Lock()
	sealed := e.sealed
	e.mu.Unlock()
	if sealed {
		return nil, false, false
	}
	if !e.sinks.any() || len(points) == 0 {
		return nil, true, false
	}
	return e.sinks.deliverSpooled(ctx, redactPoints(points, e.Secrets))
}

// Emit adds points with their own timestamps to the run's metrics, after
// the Result's. Points emitted by a check that -t stopped are dropped.
func (e *Env) Emit(points ...metrics.Point) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.sealed {
		e.extra = append(e.extra, points...)
	}
}

// AfterDelivery registers f to run once the run's points were delivered,
// before the output is printed. delivered says that every sink took them
// or the spool keeps them (or that there is no sink): a check that must
// not lose or repeat what it reports (check_cdn_log's positions) commits
// its state there. The lines f returns join the long output. f does not
// run when -t stopped the check.
func (e *Env) AfterDelivery(f func(delivered bool) []string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.sealed {
		e.afterAll = append(e.afterAll, f)
	}
}

// seal ends Emit and AfterDelivery, and returns what they gathered when
// the check finished (nothing when -t stopped it).
func (e *Env) seal(finished bool) ([]metrics.Point, []func(bool) []string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.sealed = true
	if !finished {
		return nil, nil
	}
	return e.extra, e.afterAll
}

// Step records what the check is doing now ("GET http://db2:5984/_scheduler/docs"),
// so that a check stopped by -t is reported as "timeout after 10s waiting for ...".
func (e *Env) Step(format string, args ...any) {
	s := fmt.Sprintf(format, args...)
	e.step.Store(&s)
}

// Problem turns an error into its state and one-line message, applying
// --timeout-state to a timeout.
func (e *Env) Problem(err error) (nagios.Status, string) {
	p := nagios.AsProblem(err)
	if p.Timeout || errors.Is(err, context.DeadlineExceeded) {
		msg := p.Msg
		if !strings.Contains(msg, "timeout") {
			msg = e.timeoutMessage()
		}
		return e.timeoutState, msg
	}
	return p.Status, p.Msg
}

// Fail is the Result of a check that could not go on.
func (e *Env) Fail(err error) nagios.Result {
	st, msg := e.Problem(err)
	return nagios.Result{Status: st, Summary: msg}
}

func (e *Env) timeoutMessage() string {
	msg := fmt.Sprintf("timeout after %s", e.timeout)
	if s := e.step.Load(); s != nil {
		msg += " waiting for " + *s
	}
	return msg
}

// ManPageEnv, when set in the environment, makes Run write the binary's man
// page (roff, from its options) to stdout instead of running the check.
const ManPageEnv = "REGISTRY_CHECKS_MAN_PAGE"

// Run parses args into spec.Options, runs the check under the -t deadline,
// prints the result to stdout and delivers the metrics, and returns the
// exit code (0-3). It never panics and never exits.
func Run(spec Spec, args []string, stdout io.Writer) (code int) {
	start := time.Now()
	redactor := &secret.Redactor{}
	defer func() {
		// A panic outside the check (rendering, delivery) is still UNKNOWN:
		// a Go panic would exit 2, which pages someone as CRITICAL.
		if r := recover(); r != nil {
			fmt.Fprintln(stdout, secret.Sanitize(redactor.Redact(fmt.Sprintf("%s UNKNOWN - internal error: %v", spec.Name, r))))
			code = int(nagios.UNKNOWN)
		}
	}()

	// Every credential is registered the moment it is learned: those of
	// the command line (any URL option's userinfo and secret query
	// values) and of the environment before anything can be printed,
	// those of files and documents by the code that reads them.
	registerArgs(redactor, args)
	registerEnv(redactor, os.LookupEnv)

	parser := flags.NewParser(spec.Options, flags.HelpFlag|flags.PassDoubleDash)
	parser.Name = spec.Binary
	if spec.Args != "" {
		parser.Usage = "[OPTIONS] " + spec.Args
	}
	// The options structs live in package main, so the packaging's man page
	// generator can only reach them through the binary itself. An environment
	// variable, not an option: parsing would fail first on required options.
	if os.Getenv(ManPageEnv) != "" {
		writeManPage(stdout, spec, parser)
		return int(nagios.UNKNOWN)
	}
	rest, err := parser.ParseArgs(args)
	if err == nil && len(rest) > 0 && spec.Args == "" {
		// Dropping it would run the check with other settings than written.
		err = fmt.Errorf("unexpected argument %q (every value follows its option)", rest[0])
	}
	if err == nil {
		err = emptyURLOption(parser.Command.Group)
	}
	if err != nil {
		var ferr *flags.Error
		if errors.As(err, &ferr) && ferr.Type == flags.ErrHelp {
			writeHelp(stdout, spec, parser, helpWidth(stdout))
			return int(nagios.UNKNOWN)
		}
		// go-flags checks required options after parsing them all: -V
		// alone must still answer, like --help.
		if errors.As(err, &ferr) && ferr.Type == flags.ErrRequired && spec.Options.common().Version {
			fmt.Fprintf(stdout, "%s (registry-checks) %s\n", spec.Binary, version.String())
			return int(nagios.UNKNOWN)
		}
		msg := err.Error()
		if errors.As(err, &ferr) && ferr.Type == flags.ErrMarshal {
			// go-flags adds the Go type the value failed to parse into.
			if loc := goFlagsType().FindStringIndex(msg); loc != nil {
				msg = msg[:loc[0]] + msg[loc[1]:]
			}
		}
		// The usage line, not the whole help: Nagios keeps this as the
		// service output, which the contract bounds to a few KiB.
		usage := parser.Usage
		if usage == "" {
			usage = "[OPTIONS]"
		}
		early(stdout, spec.Name, redactor, "bad arguments: "+msg, "Usage: "+spec.Binary+" "+usage, "Run "+spec.Binary+" --help for every option.")
		return int(nagios.UNKNOWN)
	}
	c := spec.Options.common()
	if c.Version {
		fmt.Fprintf(stdout, "%s (registry-checks) %s\n", spec.Binary, version.String())
		return int(nagios.UNKNOWN)
	}

	env := &Env{Verbose: len(c.Verbose), Secrets: redactor, timeout: c.Timeout.D(), timeoutState: parseState(c.TimeoutState)}
	hc, err := httpclient.New(c.TLS, httpclient.Config{Redactor: redactor})
	if err != nil {
		early(stdout, spec.Name, redactor, err.Error())
		return int(nagios.UNKNOWN)
	}
	env.HTTP = hc
	sinks, err := buildSinks(c, hc, redactor, stdout)
	if err != nil {
		early(stdout, spec.Name, redactor, err.Error())
		return int(nagios.UNKNOWN)
	}

	env.sinks = sinks
	deadline := start.Add(c.Timeout.D())
	ctx, cancel := context.WithDeadline(context.Background(), deadline.Add(-writeReserve(c.Timeout.D(), sinks.remote())))
	res, finished := runCheck(ctx, spec, env)
	cancel()
	extra, afterAll := env.seal(finished)
	// A state outside 0-3 would be an exit code Nagios cannot read.
	res.Status = nagios.Worse(res.Status, nagios.OK)
	now := time.Now()

	var notes []string
	delivered := true
	if sinks.any() {
		if points := redactPoints(append(nagios.Points(res, now), extra...), redactor); len(points) > 0 {
			wctx, wcancel := context.WithDeadline(context.Background(), deadline)
			notes, delivered = sinks.deliver(wctx, points)
			wcancel()
		}
	}
	for _, f := range afterAll {
		notes = append(notes, f(delivered)...)
	}
	if c.Output == "influx" {
		return int(res.Status)
	}
	res.Long = append(res.Long, notes...)
	io.WriteString(stdout, render(spec.Name, res, env.Verbose, c.OutputLimit, redactor))
	return int(res.Status)
}

// render is the printed output of res: every text redacted before any cut
// (inside Render), then the whole once more.
func render(name string, res nagios.Result, verbose, limit int, red *secret.Redactor) string {
	out := nagios.Render(name, res, nagios.RenderOptions{Verbose: verbose, Limit: limit, Redact: red.Redact})
	out = red.Redact(out)
	if !strings.HasSuffix(out, "\n") {
		out += "\n"
	}
	return out
}

// runCheck runs the check with its panics recovered and stops waiting for
// it at the deadline: a check stuck in a call that ignores its context must
// not hold the run past -t.
func runCheck(ctx context.Context, spec Spec, env *Env) (nagios.Result, bool) {
	done := make(chan nagios.Result, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				res := nagios.Result{Status: nagios.UNKNOWN, Summary: fmt.Sprintf("internal error: %v (a bug in %s; run with -vvv and report it)", r, spec.Binary)}
				if env.Verbose >= 3 {
					res.Long = strings.Split(strings.TrimSpace(string(debug.Stack())), "\n")
				}
				done <- res
			}
		}()
		done <- spec.Check(ctx, env)
	}()
	select {
	case res := <-done:
		return res, true
	case <-ctx.Done():
		// Give a check that honours ctx a moment to return its own, more
		// precise timeout result before reporting a generic one.
		select {
		case res := <-done:
			return res, true
		case <-time.After(100 * time.Millisecond):
			return nagios.Result{Status: env.timeoutState, Summary: env.timeoutMessage()}, false
		}
	}
}

// writeReserve is the part of -t kept for metric writes to remote sinks.
func writeReserve(timeout time.Duration, remote bool) time.Duration {
	if !remote {
		return 0
	}
	r := timeout / 5
	if r > 2*time.Second {
		r = 2 * time.Second
	}
	return r
}

func parseState(s string) nagios.Status {
	switch strings.ToLower(s) {
	case "ok":
		return nagios.OK
	case "warning":
		return nagios.WARNING
	case "unknown":
		return nagios.UNKNOWN
	}
	return nagios.CRITICAL
}

// goFlagsType matches " (expected *nagios.Range)" in go-flags' ErrMarshal text.
// Compiled on first use: only a bad argument needs it.
var goFlagsType = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(` \(expected [^()]*\)`) })

// early prints the UNKNOWN of a run that ends before its check (bad
// arguments, an unusable TLS or metrics option) through nagios.Render, as
// every other result: redacted, one line with no | (which Nagios would
// read as the start of perfdata; an argument is the user's text) and
// bounded.
func early(stdout io.Writer, name string, red *secret.Redactor, summary string, long ...string) {
	fmt.Fprint(stdout, nagios.Render(name, nagios.Result{Status: nagios.UNKNOWN, Summary: summary, Long: long}, nagios.RenderOptions{Redact: red.Redact}))
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// redactPoints scrubs every registered secret from the tag keys and
// values, field keys and string fields of points, and makes them one line
// of plain text (secret.Sanitize): line protocol leaves the host like the
// printed output, through the spool files too, and gets the same
// treatment. A tag value with a control character would otherwise make the
// encoder drop the point.
func redactPoints(points []metrics.Point, r *secret.Redactor) []metrics.Point {
	clean := func(s string) string { return secret.Sanitize(r.Redact(s)) }
	for i := range points {
		p := &points[i]
		p.Measurement = clean(p.Measurement)
		p.Tags = redactMap(p.Tags, clean, func(v string) string { return clean(v) })
		p.Fields = redactMap(p.Fields, clean, func(v any) any {
			if s, ok := v.(string); ok {
				return clean(s)
			}
			return v
		})
	}
	return points
}

// redactMap cleans m's keys and values. It changes the values in place
// and builds a new map only when a key changes: a batch of check_cdn_log
// is thousands of points, and two new maps for each were a tenth of its
// time.
func redactMap[V comparable](m map[string]V, key func(string) string, value func(V) V) map[string]V {
	for k, v := range m {
		if key(k) != k {
			out := make(map[string]V, len(m))
			for k, v := range m {
				out[key(k)] = value(v)
			}
			return out
		}
		if c := value(v); c != v {
			m[k] = c
		}
	}
	return m
}

// registerArgs registers the credentials of every URL on the command line,
// whatever option it belongs to (-u, --packument, --origin, --influx-url,
// --couch-url...): a server that echoes them, or the Authorization header
// Go derives from them, must get them back redacted, in the bad-arguments
// message as in the output of the check.
func registerArgs(r *secret.Redactor, args []string) {
	for _, a := range args {
		if _, v, ok := strings.Cut(a, "="); ok && strings.HasPrefix(a, "-") {
			a = v
		}
		r.AddURL(a)
	}
}

// registerEnv registers the secrets of the environment variables the
// suite reads (CouchDB's and the InfluxDB sink's), whether or not this
// run uses them.
func registerEnv(r *secret.Redactor, lookup func(string) (string, bool)) {
	r.AddCredentials(secret.FromLookup(lookup, couch.EnvUser, couch.EnvPassword, ""))
	r.AddCredentials(secret.FromLookup(lookup, influxEnvUser, influxEnvPassword, influxEnvToken))
}

// emptyURLOption refuses a URL option given an empty value: an empty -u is what
// an unset $ARG1$ of a Nagios command expands to, and taking it for "not
// given" would check the default node (or nothing) instead of failing.
// URL options are those whose value name is URL.
func emptyURLOption(g *flags.Group) error {
	for _, o := range g.Options() {
		if o.ValueName != "URL" || !o.IsSet() {
			continue
		}
		empty := false
		switch v := o.Value().(type) {
		case string:
			empty = strings.TrimSpace(v) == ""
		case []string:
			for _, s := range v {
				empty = empty || strings.TrimSpace(s) == ""
			}
		}
		if empty {
			name := "--" + o.LongNameWithNamespace()
			if o.LongName == "" {
				name = "-" + string(o.ShortName)
			}
			return fmt.Errorf("%s is empty (an unset $ARGn$ macro in the Nagios command?)", name)
		}
	}
	for _, sub := range g.Groups() {
		if err := emptyURLOption(sub); err != nil {
			return err
		}
	}
	return nil
}
