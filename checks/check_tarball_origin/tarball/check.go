// Package tarball is the logic of check_tarball_origin: fetch the tarballs
// the registry lists from each origin and from the CouchDB attachment,
// verify status, length and digests while streaming, and tell the
// filesystem from the CouchDB fallback.
package tarball

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	kivik "github.com/go-kivik/kivik/v4"
	"github.com/registry-checks/registry-checks/lib/httpclient"
	"github.com/registry-checks/registry-checks/lib/httpprobe"
	"github.com/registry-checks/registry-checks/lib/nagios"
	"github.com/registry-checks/registry-checks/lib/secret"
)

// Values of the source header the shipped nginx example sets.
const (
	SourceFilesystem = "filesystem"
	SourceCouchDB    = "couchdb"
)

// Config is what the operator asked for.
type Config struct {
	Origins      []string // origin base URLs (the nginx pair)
	Host         string   // Host header for the origins; "" sends the origin URL's
	Packages     []string // "name" or "name@version"
	Recent       int      // also test the latest publish of the N most recently changed packages
	MaxBytes     int64    // bound on each tarball read
	SourceHeader string   // response header naming the source; "" does not look
	FallbackOK   bool     // a tarball served by the CouchDB fallback is OK, not WARNING
	Attachment   bool     // also fetch each tarball from the CouchDB attachment
	Parallel     int      // fetches in flight at once
	Time         nagios.Thresholds
}

// Registry is the write primary's registry database.
type Registry interface {
	// Where names the database in messages ("http://db1:5984/registry").
	Where() string
	Packument(ctx context.Context, name string) (*Packument, error)
	// Recent returns the ids of the documents changed last, newest first:
	// at least the n packages wanted when the feed has them, and possibly
	// documents that are no package (the check skips those).
	Recent(ctx context.Context, n int) ([]string, error)
	// Attachment streams the tarball attachment of t into w, reading at
	// most maxBytes (Truncated set when there was more).
	Attachment(ctx context.Context, t Target, w io.Writer, maxBytes int64) (*httpprobe.Response, error)
}

// Prober sends one timed HTTP request (httpprobe.Prober).
type Prober interface {
	Do(ctx context.Context, r httpprobe.Request) (*httpprobe.Response, error)
}

// Deps are the check's connections to the world.
type Deps struct {
	Registry Registry
	Probe    Prober
	// Problem maps an error to its state and message (plugin.Env.Problem:
	// --timeout-state applies).
	Problem func(error) (nagios.Status, string)
	// Step names what the check waits for, for the -t message.
	Step func(string)
}

// outcome is what one fetch of a tarball says about its source.
type outcome int

const (
	fetchOK outcome = iota
	fetchFallback
	fetchUnverified // bigger than --max-bytes, or no source header
	fetchFailed
	fetchCorrupt
)

// fetch is one tarball from one source, judged.
type fetch struct {
	res       nagios.Result
	outcome   outcome
	fail      nagios.Status // state of the failure, for "every origin failing"
	cause     string        // a failure's short cause, for the tarball's summary
	kind      string        // the digest that did not match: sha512 or sha1
	truncated bool          // unverified: larger than --max-bytes
	slow      bool          // outside the time thresholds
}

// Check tests every tarball named or sampled and returns one sub-result per
// tarball, each with one sub-result per origin and one for the attachment.
func Check(ctx context.Context, cfg Config, deps Deps) nagios.Result {
	if cfg.Parallel < 1 {
		cfg.Parallel = 1
	}
	step := deps.Step
	if step == nil {
		step = func(string) {}
	}
	specs := append([]string(nil), cfg.Packages...)
	var notes []string
	// Packuments already read while picking the sample, so that each is
	// read once.
	cache := map[string]*Packument{}
	var recentNames []string
	if cfg.Recent > 0 {
		step("GET the changes feed of " + deps.Registry.Where())
		names, err := deps.Registry.Recent(ctx, cfg.Recent)
		recentNames = names
		if err != nil {
			st, msg := deps.Problem(err)
			return nagios.Result{Status: st, Summary: "cannot read the recent publishes: " + msg}
		}
		picked, skipNotes, res, ok := pickPackages(ctx, cfg, deps, step, names, cache)
		if !ok {
			return res
		}
		notes = append(notes, skipNotes...)
		if len(picked) == 0 {
			notes = append(notes, "the changes feed of "+deps.Registry.Where()+" has no package yet")
		}
		specs = append(specs, picked...)
	}
	specs = dedupe(specs)
	if len(specs) == 0 && cfg.Recent > 0 {
		return nagios.Result{Status: nagios.UNKNOWN, Summary: fmt.Sprintf("no tarball to test: none of the %d documents changed last in %s is a package (--recent %d)", len(recentNames), deps.Registry.Where(), cfg.Recent),
			Long: notes}
	}
	if len(specs) == 0 {
		return nagios.Result{Status: nagios.UNKNOWN, Summary: "no tarball to test: name packages or give --recent N"}
	}

	sem := make(chan struct{}, cfg.Parallel)
	all := make([]nagios.Result, len(specs))
	skipped := make([]bool, len(specs))
	var wg sync.WaitGroup
	for i, spec := range specs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			all[i], skipped[i] = checkTarball(ctx, cfg, deps, step, spec, sem, cache[spec])
		}()
	}
	wg.Wait()
	var subs []nagios.Result
	for i, r := range all {
		if skipped[i] {
			notes = append(notes, "skipped "+specs[i]+" from the changes feed: "+r.Summary)
			continue
		}
		subs = append(subs, r)
	}

	top := nagios.Aggregate("tarballs", subs)
	if len(subs) == 1 && top.Status != nagios.OK {
		// "1 of 1 tarballs failing:" says nothing the name does not.
		top.Summary = subs[0].Name + " " + subs[0].Summary
	}
	if top.Status == nagios.OK {
		where := fmt.Sprintf("%d origins", len(cfg.Origins))
		if len(cfg.Origins) == 1 {
			where = "1 origin"
		}
		if cfg.Attachment {
			where += " and CouchDB"
		}
		top.Summary = fmt.Sprintf("%d tarballs OK on %s", len(subs), where)
		if len(subs) == 1 {
			top.Summary = fmt.Sprintf("%s OK on %s", subs[0].Name, where)
		}
	}
	top.Long = append(top.Long, notes...)
	return top
}

// pickPackages walks the changes-feed candidates newest first and keeps the
// first cfg.Recent that are packages (a document with versions), skipping
// the rest with a note: a registry database also holds test documents,
// heartbeats and unpublished names, and a burst of them must not leave the
// sample empty. The packuments read are kept in cache. A named package is
// not picked again. ok is false when reading failed (res says how).
func pickPackages(ctx context.Context, cfg Config, deps Deps, step func(string), names []string, cache map[string]*Packument) (picked, notes []string, res nagios.Result, ok bool) {
	// Every document of the sample that is no package costs a GET: after
	// maxSkips of them the sample ends, said in a note.
	maxSkips, skips := 20+2*cfg.Recent, 0
	for _, name := range names {
		if len(picked) == cfg.Recent {
			break
		}
		if skips == maxSkips {
			notes = append(notes, fmt.Sprintf("stopped after %d documents from the changes feed that are no package", skips))
			break
		}
		if contains(cfg.Packages, name) {
			continue
		}
		step("GET the packument of " + name + " from " + deps.Registry.Where())
		doc, err := deps.Registry.Packument(ctx, name)
		if err != nil {
			if kivik.HTTPStatus(err) == http.StatusNotFound {
				notes = append(notes, "skipped "+name+" from the changes feed: deleted meanwhile")
				continue
			}
			st, msg := deps.Problem(err)
			return nil, nil, nagios.Result{Status: st, Summary: "cannot read the packument of " + name + ": " + msg}, false
		}
		if doc.Type == "heartbeat" && len(doc.Versions) == 0 {
			skips++
			continue // check_couch_replication's: not worth a word
		}
		if len(doc.Versions) == 0 {
			skips++
			if skips <= 5 {
				notes = append(notes, "skipped "+name+" from the changes feed: not a package (no versions)")
			}
			continue
		}
		cache[name] = doc
		picked = append(picked, name)
	}
	return picked, notes, res, true
}

func dedupe(specs []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range specs {
		s = strings.TrimSpace(s)
		if s == "" || seen[s] {
			continue
		}
		seen[s] = true
		out = append(out, s)
	}
	return out
}

// checkTarball reads the packument and fetches the tarball from every
// source concurrently (bounded by sem).
//
// A document of the changes-feed sample that is no package (no versions:
// a test document, an unpublished name) is skipped, not judged.
func checkTarball(ctx context.Context, cfg Config, deps Deps, step func(string), spec string, sem chan struct{}, doc *Packument) (nagios.Result, bool) {
	name, version := ParseSpec(spec)
	res := nagios.Result{Name: spec, Measurement: "tarball", Tags: map[string]string{"package": name}}
	if version != "" {
		res.Tags["version"] = version
	}
	if doc == nil {
		sem <- struct{}{}
		step("GET the packument of " + name + " from " + deps.Registry.Where())
		var err error
		doc, err = deps.Registry.Packument(ctx, name)
		<-sem
		if err != nil {
			var msg string
			res.Status, msg = deps.Problem(err)
			res.Long = append(res.Long, msg)
			res.Summary = "packument unreadable (" + httpclient.Cause(err) + ")"
			if kivik.HTTPStatus(err) == http.StatusNotFound {
				res.Summary = "not in the registry database"
			}
			return res, false
		}
	}
	sampled := version == "" && cfg.Recent > 0 && !contains(cfg.Packages, spec)
	if sampled {
		if len(doc.Versions) == 0 {
			res.Summary = "not a package (no versions)"
			return res, true
		}
		version = doc.latestPublished()
	}
	target, err := doc.Target(name, version)
	if err != nil {
		res.Status, res.Summary = nagios.UNKNOWN, err.Error()
		if _, ok := doc.Versions[version]; version != "" && !ok {
			res.Summary = "not in the packument"
		} else {
			// The sub is named by the package already: the message need
			// not name it again.
			for _, p := range []string{"package " + name + " ", name + "@" + version + ": ", name + "@" + version + " "} {
				res.Summary = strings.TrimPrefix(res.Summary, p)
			}
		}
		return res, false
	}
	res.Name = target.String()
	res.Tags["version"] = target.Version

	n := len(cfg.Origins)
	if cfg.Attachment {
		n++
	}
	// Sized before any goroutine starts: they write their own element only.
	fetches := make([]fetch, n)
	var wg sync.WaitGroup
	for i, origin := range cfg.Origins {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			fetches[i] = fetchOrigin(ctx, cfg, deps, target, origin)
		}()
	}
	if cfg.Attachment {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			fetches[len(fetches)-1] = fetchAttachment(ctx, cfg, deps, target)
		}()
	}
	wg.Wait()
	return judgeTarball(cfg, target, res, fetches), false
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if strings.TrimSpace(x) == s {
			return true
		}
	}
	return false
}

// judgeTarball derives the tarball's state from its fetches: a corrupt copy
// anywhere is CRITICAL; every origin failing is CRITICAL (or the state of
// its failures, a timeout's --timeout-state), one failing WARNING; a broken
// attachment or a fallback is WARNING.
//
// The summary is what an aggregated first line shows after the tarball's
// name: what is wrong and where, each source named once, with a short
// cause ("corrupt at 127.0.0.1:8081 (sha512 mismatch)"). URLs, digests,
// byte counts and server text are in each fetch's own line, the long
// output.
func judgeTarball(cfg Config, t Target, res nagios.Result, fetches []fetch) nagios.Result {
	res.Status = nagios.OK
	var corrupt, unverified, fallback, noSource, slow []string
	var failed, broken causes
	corruptKind := ""
	originsFailed, originsOK := 0, 0
	allFail := nagios.OK
	for i, f := range fetches {
		isOrigin := i < len(cfg.Origins)
		where := f.res.Name
		if !isOrigin {
			where = "the CouchDB attachment"
		}
		res.Subs = append(res.Subs, f.res)
		switch f.outcome {
		case fetchCorrupt:
			corrupt = append(corrupt, where)
			if corruptKind == "" || f.kind == "sha512" {
				corruptKind = f.kind
			}
		case fetchFailed:
			if isOrigin {
				failed.add(where, f.cause)
				originsFailed++
				allFail = nagios.Worse(allFail, f.fail)
			} else {
				broken.add("", f.cause)
			}
		case fetchFallback:
			fallback = append(fallback, where)
		case fetchUnverified:
			if f.truncated {
				unverified = append(unverified, where)
			} else {
				noSource = append(noSource, where)
			}
		}
		if f.slow {
			slow = append(slow, where)
		}
		if isOrigin && f.outcome != fetchFailed && f.outcome != fetchCorrupt {
			originsOK++
		}
		// Threshold and unverified states of single fetches count as they are.
		if f.outcome == fetchOK || f.outcome == fetchUnverified {
			res.Status = nagios.Worse(res.Status, f.res.Status)
		}
	}
	var parts []string
	switch {
	case len(corrupt) > 0:
		res.Status = nagios.CRITICAL
		parts = append(parts, fmt.Sprintf("corrupt at %s (%s mismatch)", joinAnd(corrupt), corruptKind))
	case originsFailed > 0 && originsFailed == len(cfg.Origins):
		// Nothing serves it: the failures' own state, CRITICAL for a
		// refusal, --timeout-state for a timeout.
		res.Status = nagios.Worse(res.Status, allFail)
	case originsFailed > 0:
		res.Status = nagios.Worse(res.Status, nagios.WARNING)
	}
	if len(failed) > 0 {
		parts = append(parts, "not served by "+failed.String())
	}
	if len(broken) > 0 {
		if originsFailed < len(cfg.Origins) {
			res.Status = nagios.Worse(res.Status, nagios.WARNING)
		}
		parts = append(parts, "CouchDB attachment failing "+broken.String()+": the origins' fallback would fail too")
	}
	if len(unverified) > 0 {
		parts = append(parts, fmt.Sprintf("not verified at %s (larger than --max-bytes %d)", joinAnd(unverified), cfg.MaxBytes))
	}
	if len(fallback) > 0 && !cfg.FallbackOK {
		res.Status = nagios.Worse(res.Status, nagios.WARNING)
		parts = append(parts, "served by the CouchDB fallback at "+joinAnd(fallback)+" (the filesystem lacks it)")
	}
	if len(noSource) > 0 {
		parts = append(parts, fmt.Sprintf("source unknown at %s (no or unexpected %s header)", joinAnd(noSource), cfg.SourceHeader))
	}
	if len(slow) > 0 {
		var th []string
		if cfg.Time.Warn != nil {
			th = append(th, "-w "+cfg.Time.WarnText())
		}
		if cfg.Time.Crit != nil {
			th = append(th, "-c "+cfg.Time.CritText())
		}
		parts = append(parts, fmt.Sprintf("slow at %s (%s s)", joinAnd(slow), strings.Join(th, ", ")))
	}
	res.Summary = strings.Join(parts, "; ")
	if res.Status == nagios.OK {
		res.Summary = fmt.Sprintf("OK on %d of %d origins", originsOK, len(cfg.Origins))
	}
	res.Perf = []nagios.Perf{
		{Label: t.String() + " origins_ok", Field: "origins_ok", Value: float64(originsOK), Integer: true, Min: zero(), Max: ptr(float64(len(cfg.Origins)))},
		{Label: t.String() + " corrupt", Field: "corrupt", Value: float64(len(corrupt)), Integer: true, Min: zero()},
	}
	return res
}

// causes groups the sources that failed by their short cause, in order:
// "127.0.0.1:8081, 127.0.0.1:8082 (connection refused)".
type causes []struct {
	cause string
	where []string
}

func (c *causes) add(where, cause string) {
	for i := range *c {
		if (*c)[i].cause == cause {
			(*c)[i].where = append((*c)[i].where, where)
			return
		}
	}
	*c = append(*c, struct {
		cause string
		where []string
	}{cause, []string{where}})
}

func (c causes) String() string {
	parts := make([]string, len(c))
	for i, g := range c {
		parts[i] = strings.TrimSpace(joinAnd(g.where) + " (" + g.cause + ")")
	}
	return strings.Join(parts, ", ")
}

// joinAnd is "a", "a and b", "a, b and c".
func joinAnd(s []string) string {
	if len(s) <= 1 {
		return strings.Join(s, "")
	}
	return strings.Join(s[:len(s)-1], ", ") + " and " + s[len(s)-1]
}

// originName is how an origin is named in output and tags: its host:port.
func originName(origin string) string {
	if u, err := url.Parse(origin); err == nil && u.Host != "" {
		return u.Host
	}
	return secret.RedactURL(origin)
}

func fetchOrigin(ctx context.Context, cfg Config, deps Deps, t Target, origin string) fetch {
	u := strings.TrimSuffix(origin, "/") + t.Path
	dig := newDigests(t.Dist)
	req := httpprobe.Request{URL: u, Host: cfg.Host, MaxBytes: cfg.MaxBytes, Body: dig, Step: deps.Step}
	resp, err := deps.Probe.Do(ctx, req)
	name := originName(origin)
	res := nagios.Result{Name: name, Measurement: "tarball_origin",
		Tags: map[string]string{"package": t.Package, "version": t.Version, "origin": name, "kind": "origin"}}
	source := ""
	if resp != nil && cfg.SourceHeader != "" && resp.Header != nil {
		source = sourceValue(resp.Header.Get(cfg.SourceHeader))
	}
	f := judgeFetch(cfg, deps, t, secret.RedactURL(u), resp, err, dig, res)
	if f.outcome == fetchOK || f.outcome == fetchUnverified {
		f = judgeSource(cfg, f, source)
	}
	fallback := 0.0
	if source == SourceCouchDB {
		fallback = 1
	}
	if source != "" {
		f.res.Tags["source"] = source
	}
	if resp != nil && resp.Status != 0 {
		f.res.Perf = append(f.res.Perf, nagios.Perf{Label: perfLabel(t, name, "fallback"), Field: "fallback", Value: fallback, Integer: true, Min: zero(), Max: ptr(1)})
	}
	return f
}

// sourceValue is the source header's value: one of the known sources
// whatever its case, else the server's text as sent. Server text is never
// folded to lower case: a password in it would no longer be recognised by
// the run's redactor.
func sourceValue(h string) string {
	h = strings.TrimSpace(h)
	for _, known := range []string{SourceFilesystem, SourceCouchDB} {
		if strings.EqualFold(h, known) {
			return known
		}
	}
	return h
}

// judgeSource applies the source header to a fetch whose bytes were right.
func judgeSource(cfg Config, f fetch, source string) fetch {
	switch {
	case cfg.SourceHeader == "" || source == SourceFilesystem:
	case source == SourceCouchDB:
		f.outcome = fetchFallback
		if !cfg.FallbackOK {
			f.res.Status = nagios.Worse(f.res.Status, nagios.WARNING)
		}
		f.res.Summary += ", served by the CouchDB fallback"
	case source == "":
		f.outcome = fetchUnverified
		f.res.Status = nagios.Worse(f.res.Status, nagios.WARNING)
		f.res.Summary += fmt.Sprintf(", no %s header: cannot tell the filesystem from the fallback (see the nginx example, or --source-header '')", cfg.SourceHeader)
	default:
		f.outcome = fetchUnverified
		f.res.Status = nagios.Worse(f.res.Status, nagios.WARNING)
		f.res.Summary += fmt.Sprintf(", unexpected %s: %q (want %s or %s)", cfg.SourceHeader, source, SourceFilesystem, SourceCouchDB)
	}
	return f
}

func fetchAttachment(ctx context.Context, cfg Config, deps Deps, t Target) fetch {
	dig := newDigests(t.Dist)
	resp, err := deps.Registry.Attachment(ctx, t, dig, cfg.MaxBytes)
	res := nagios.Result{Name: "CouchDB attachment", Measurement: "tarball_origin",
		Tags: map[string]string{"package": t.Package, "version": t.Version, "origin": "couchdb", "kind": "couchdb", "source": SourceCouchDB}}
	where := deps.Registry.Where() + "/" + url.PathEscape(t.Package) + "/" + url.PathEscape(t.File)
	f := judgeFetch(cfg, deps, t, where, resp, err, dig, res)
	if f.outcome == fetchFailed {
		// The fallback the origins need is broken: seen now, before a
		// filesystem miss needs it.
		f.res.Summary += " (the origins' fallback would fail too)"
	}
	return f
}

// judgeFetch judges status, length, digests and time of one fetch.
func judgeFetch(cfg Config, deps Deps, t Target, where string, resp *httpprobe.Response, err error, dig *digests, res nagios.Result) fetch {
	label := res.Tags["origin"]
	f := fetch{res: res}
	if resp != nil && resp.Status != 0 {
		f.res.Perf = append(f.res.Perf,
			nagios.Perf{Label: perfLabel(t, label, "status"), Field: "http_status", Value: float64(resp.Status), Integer: true},
			nagios.Perf{Label: perfLabel(t, label, "bytes"), Field: "bytes", Value: float64(resp.Bytes), UOM: "B", Integer: true, Min: zero()},
			nagios.Perf{Label: perfLabel(t, label, "ttfb"), Field: "first_byte", Value: resp.Timings.FirstByte.Seconds(), UOM: "s", Min: zero()},
			cfg.Time.Apply(nagios.Perf{Label: perfLabel(t, label, "time"), Field: "total", Value: resp.Timings.Total.Seconds(), UOM: "s", Min: zero()}),
		)
	}
	integrity := func(ok bool) {
		v := 0.0
		if ok {
			v = 1
		}
		f.res.Perf = append(f.res.Perf, nagios.Perf{Label: perfLabel(t, label, "integrity"), Field: "integrity_ok", Value: v, Integer: true, Min: zero(), Max: ptr(1)})
	}
	switch {
	case err != nil:
		f.outcome = fetchFailed
		f.fail, f.res.Summary = deps.Problem(err)
		f.res.Status = f.fail
		f.cause = httpclient.Cause(err)
		return f
	case resp.Status != http.StatusOK:
		f.outcome = fetchFailed
		f.fail = nagios.CRITICAL
		f.res.Status = nagios.CRITICAL
		f.cause = fmt.Sprintf("%d %s", resp.Status, http.StatusText(resp.Status))
		f.res.Summary = fmt.Sprintf("GET %s: %s", where, f.cause)
		if src := resp.Header.Get(cfg.SourceHeader); cfg.SourceHeader != "" && src != "" {
			f.res.Summary += fmt.Sprintf(" (%s: %s)", cfg.SourceHeader, src)
		}
		return f
	case resp.Truncated:
		f.outcome = fetchUnverified
		f.truncated = true
		f.res.Status = nagios.UNKNOWN
		f.res.Summary = fmt.Sprintf("GET %s: larger than --max-bytes %d; integrity not verified", where, cfg.MaxBytes)
		return f
	}
	if m, kind := dig.mismatch(t.Dist); m != "" {
		f.outcome = fetchCorrupt
		f.kind = kind
		f.res.Status = nagios.CRITICAL
		f.res.Summary = fmt.Sprintf("corrupt: GET %s, %d bytes: %s", where, resp.Bytes, m)
		if t.Length >= 0 && resp.Bytes != t.Length {
			f.res.Summary += fmt.Sprintf("; length %d, the attachment has %d", resp.Bytes, t.Length)
		}
		integrity(false)
		return f
	}
	integrity(true)
	f.res.Status = cfg.Time.Status(resp.Timings.Total.Seconds())
	f.slow = f.res.Status != nagios.OK
	f.res.Summary = fmt.Sprintf("%d, %d bytes, integrity ok, first byte %s, total %s", resp.Status, resp.Bytes, ms(resp.Timings.FirstByte), ms(resp.Timings.Total))
	if f.res.Status != nagios.OK {
		f.res.Summary += fmt.Sprintf(" (time thresholds %s/%s s)", cfg.Time.WarnText(), cfg.Time.CritText())
	}
	return f
}

func perfLabel(t Target, source, what string) string {
	return t.String() + " " + source + " " + what
}

func ms(d time.Duration) string {
	return fmt.Sprintf("%.1fms", float64(d.Microseconds())/1000)
}

func zero() *float64         { return ptr(0) }
func ptr(v float64) *float64 { return &v }
