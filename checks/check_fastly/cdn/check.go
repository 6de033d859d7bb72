// Package cdn is the logic of check_fastly: GET URLs through the CDN with
// per-phase timings, judge the status, the headers, the CDN's own facts
// (X-Cache per hop, X-Served-By, X-Cache-Hits, Age, Fastly-Debug), the TLS
// certificate, and how stale a cached packument is against the origin
// CouchDB.
package cdn

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/registry-checks/registry-checks/lib/httpclient"
	"github.com/registry-checks/registry-checks/lib/httpprobe"
	"github.com/registry-checks/registry-checks/lib/nagios"
	"github.com/registry-checks/registry-checks/lib/secret"
)

// HeaderRule is one header assertion.
type HeaderRule struct {
	Name  string
	Kind  string // "present", "equals", "matches"
	Value string // for equals
	Re    *regexp.Regexp
}

// Config is what the operator asked for.
type Config struct {
	URLs        []string // probed, nothing more
	Packuments  []string // probed, and compared with the origin CouchDB
	Expect      []int    // accepted statuses
	Headers     []HeaderRule
	FastlyDebug bool
	MaxBytes    int64 // bound on each body read
	Insecure    bool  // --insecure: an unverified chain is expected, not a fault
	Time        nagios.Thresholds
	CertDays    nagios.Thresholds
	Stale       nagios.Thresholds
	Resolved    map[string]string // --resolve rules, for naming the edge in output
}

// Origin is the origin CouchDB's registry database.
type Origin interface {
	Where() string
	// Revision returns the document's _rev and time.modified.
	Revision(ctx context.Context, id string) (rev string, modified time.Time, err error)
}

// Prober sends one timed HTTP request (httpprobe.Prober).
type Prober interface {
	Do(ctx context.Context, r httpprobe.Request) (*httpprobe.Response, error)
}

// Deps are the check's connections to the world.
type Deps struct {
	Probe   Prober
	Origin  Origin // nil: no freshness comparison (Packuments are then only probed)
	Problem func(error) (nagios.Status, string)
	Step    func(string)
	Now     func() time.Time
	// Sightings remembers stale copies across runs; nil: the staleness
	// bound is only what this run sees.
	Sightings Sightings
}

// cdnHeaders are the headers only the CDN adds; an answer with none of
// them did not come through it.
var cdnHeaders = []string{"X-Served-By", "X-Cache", "X-Cache-Hits", "X-Timer", "Fastly-Debug-Path", "Fastly-Debug-TTL"}

// Check probes every URL concurrently and aggregates one result per URL.
func Check(ctx context.Context, cfg Config, deps Deps) nagios.Result {
	if deps.Now == nil {
		deps.Now = time.Now
	}
	type job struct {
		url       string
		packument bool
	}
	var jobs []job
	for _, u := range cfg.URLs {
		jobs = append(jobs, job{u, false})
	}
	for _, u := range cfg.Packuments {
		jobs = append(jobs, job{u, true})
	}
	if len(jobs) == 0 {
		return nagios.Result{Status: nagios.UNKNOWN, Summary: "no URL to check: give -u URL or --packument URL"}
	}
	names := labels(jobs, func(j job) string { return j.url })
	subs := make([]nagios.Result, len(jobs))
	var wg sync.WaitGroup
	for i, j := range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			subs[i] = checkURL(ctx, cfg, deps, names[i], j.url, j.packument)
		}()
	}
	wg.Wait()
	top := nagios.Aggregate("URLs", subs)
	if len(subs) == 1 {
		top.Summary = subs[0].Name + " " + subs[0].Summary
	}
	return top
}

// labels names each URL by its path, or host and path when the paths alone
// would collide.
func labels[T any](items []T, url func(T) string) []string {
	out := make([]string, len(items))
	seen := map[string]int{}
	for i, it := range items {
		out[i] = pathOf(url(it))
		seen[out[i]]++
	}
	for i, it := range items {
		if seen[out[i]] > 1 {
			out[i] = hostPath(url(it))
		}
	}
	return out
}

func pathOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return secret.RedactURL(raw)
	}
	p := u.EscapedPath()
	if p == "" {
		p = "/"
	}
	return p
}

func hostPath(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return secret.RedactURL(raw)
	}
	return u.Host + pathOf(raw)
}

func checkURL(ctx context.Context, cfg Config, deps Deps, name, rawURL string, packument bool) nagios.Result {
	res := nagios.Result{Name: name, Measurement: "cdn_url", Tags: map[string]string{"url": secret.RedactURL(rawURL)}}
	if edge := edgeOf(cfg.Resolved, rawURL); edge != "" {
		res.Tags["edge"] = edge
	}
	req := httpprobe.Request{URL: rawURL, Fresh: true, MaxBytes: cfg.MaxBytes, Step: deps.Step, Header: http.Header{}}
	if cfg.FastlyDebug {
		req.Header.Set("Fastly-Debug", "1")
	}
	var served *servedPackument
	if packument {
		served = decodeWhileRead(&req)
		req.Header.Set("Accept", "application/json")
	}
	resp, err := deps.Probe.Do(ctx, req)
	if served != nil {
		served.wait(err)
	}
	res.Status = nagios.OK
	// problems and facts make the summary, the line Nagios, pagers and
	// chat show: what is wrong, once, without URLs or server text. Those,
	// and the CDN's headers in full, go in res.Long.
	var problems, facts []string

	// Timings and the certificate are reported even for a failed request:
	// an expired certificate still has its days left.
	expired := false
	if resp != nil {
		res.Perf = append(res.Perf, timingPerf(cfg, name, resp)...)
		if resp.TLS != nil {
			days := resp.TLS.DaysLeft(deps.Now())
			res.Perf = append(res.Perf, cfg.CertDays.Apply(nagios.Perf{Label: name + " cert_days", Field: "cert_days", Value: round(days, 2)}))
			if st := cfg.CertDays.Status(days); st != nagios.OK {
				res.Status = nagios.Worse(res.Status, st)
				what := fmt.Sprintf("certificate expires in %.1f days (%s)", days, resp.TLS.NotAfter.UTC().Format(time.DateOnly))
				if days < 0 {
					what = fmt.Sprintf("certificate expired %.1f days ago (%s)", -days, resp.TLS.NotAfter.UTC().Format(time.DateOnly))
					expired = true
				}
				problems = append(problems, what)
			} else {
				facts = append(facts, fmt.Sprintf("cert %.0f days", days))
			}
			if !resp.TLS.Verified && cfg.Insecure && err == nil {
				facts = append(facts, "chain not verified (--insecure)")
			}
		}
	}
	if err != nil {
		st, msg := deps.Problem(err)
		res.Status = nagios.Worse(res.Status, st)
		res.Long = append(res.Long, msg)
		// An expired certificate fails verification: said once, by its date.
		if !expired || !strings.Contains(msg, "TLS certificate verification failed") {
			problems = append([]string{httpclient.Cause(err)}, problems...)
		}
		res.Summary = strings.Join(problems, "; ")
		return res
	}

	res.Perf = append(res.Perf, nagios.Perf{Label: name + " status", Field: "http_status", Value: float64(resp.Status), Integer: true})
	if !slices.Contains(cfg.Expect, resp.Status) {
		res.Status = nagios.Worse(res.Status, nagios.CRITICAL)
		problems = append(problems, fmt.Sprintf("status %d %s, expected %s", resp.Status, http.StatusText(resp.Status), joinInts(cfg.Expect)))
	}
	if st := cfg.Time.Status(resp.Timings.Total.Seconds()); st != nagios.OK {
		res.Status = nagios.Worse(res.Status, st)
		problems = append(problems, fmt.Sprintf("took %s (thresholds %s/%s s)", ms(resp.Timings.Total), cfg.Time.WarnText(), cfg.Time.CritText()))
	}
	if resp.Truncated {
		facts = append(facts, fmt.Sprintf("body read up to --max-bytes %d", cfg.MaxBytes))
	}

	cdn := cdnFacts(resp.Header)
	res.Long = append(res.Long, fmt.Sprintf("%d %s, %s total", resp.Status, cdn.String(), ms(resp.Timings.Total)))
	if !cdn.present {
		res.Status = nagios.Worse(res.Status, nagios.CRITICAL)
		problems = append(problems, "not served through the CDN (no CDN headers)")
		res.Long = append(res.Long, "no "+strings.Join(cdnHeaders, ", ")+" header: the answer did not come through the CDN (DNS or --resolve pointing around it?)")
	}
	res.Perf = append(res.Perf, cdn.perf(name)...)
	if cfg.FastlyDebug {
		res.Long = append(res.Long, fastlyDebug(resp.Header))
	}

	for _, rule := range cfg.Headers {
		if msg := rule.check(resp.Header); msg != "" {
			res.Status = nagios.Worse(res.Status, nagios.CRITICAL)
			problems = append(problems, msg)
		}
	}

	if packument && deps.Origin != nil && resp.Status == http.StatusOK {
		st, msg, long, perf := freshness(ctx, cfg, deps, name, rawURL, served, resp.Truncated, cdn.age)
		res.Status = nagios.Worse(res.Status, st)
		res.Perf = append(res.Perf, perf...)
		res.Long = append(res.Long, long...)
		if st != nagios.OK {
			problems = append(problems, msg)
		} else if msg != "" {
			facts = append(facts, msg)
		}
	}

	if len(problems) > 0 {
		res.Summary = strings.Join(problems, "; ")
		return res
	}
	head := strconv.Itoa(resp.Status)
	if len(cdn.cache) > 0 {
		// The edge's verdict: the one the client got.
		head += " " + cdn.cache[len(cdn.cache)-1]
	}
	res.Summary = strings.Join(append([]string{head, ms(resp.Timings.Total)}, facts...), ", ")
	return res
}

func timingPerf(cfg Config, name string, resp *httpprobe.Response) []nagios.Perf {
	t := resp.Timings
	// A request that got no answer may have stopped before a phase ended:
	// its zero would read as "instant", so it is unknown instead.
	failed := resp.Status == 0
	p := []nagios.Perf{
		{Label: name + " dns", Field: "dns", Value: t.DNS.Seconds(), UOM: "s", Min: zero(), Unknown: failed && t.DNS == 0},
		{Label: name + " connect", Field: "connect", Value: t.Connect.Seconds(), UOM: "s", Min: zero(), Unknown: failed && t.Connect == 0},
	}
	if resp.TLS != nil || t.TLS > 0 {
		p = append(p, nagios.Perf{Label: name + " tls", Field: "tls", Value: t.TLS.Seconds(), UOM: "s", Min: zero()})
	}
	if resp.Status != 0 {
		p = append(p, nagios.Perf{Label: name + " ttfb", Field: "first_byte", Value: t.FirstByte.Seconds(), UOM: "s", Min: zero()})
	}
	p = append(p, cfg.Time.Apply(nagios.Perf{Label: name + " time", Field: "total", Value: t.Total.Seconds(), UOM: "s", Min: zero()}))
	return p
}

// cdnInfo are the CDN's headers, per hop where it gives one per hop.
type cdnInfo struct {
	present  bool
	cache    []string // X-Cache, shield first, edge last
	servedBy []string
	hits     []string
	age      string
}

func cdnFacts(h http.Header) cdnInfo {
	c := cdnInfo{age: strings.TrimSpace(h.Get("Age"))}
	for _, name := range cdnHeaders {
		if len(h.Values(name)) > 0 {
			c.present = true
		}
	}
	c.cache = list(h, "X-Cache")
	c.servedBy = list(h, "X-Served-By")
	c.hits = list(h, "X-Cache-Hits")
	return c
}

// list splits a header that may be sent once per hop or comma-joined.
func list(h http.Header, name string) []string {
	var out []string
	for _, v := range h.Values(name) {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

func (c cdnInfo) edgeHit() bool {
	return len(c.cache) > 0 && strings.HasPrefix(strings.ToUpper(c.cache[len(c.cache)-1]), "HIT")
}

func (c cdnInfo) String() string {
	if !c.present {
		return "no CDN"
	}
	var parts []string
	if len(c.cache) > 0 {
		parts = append(parts, strings.Join(c.cache, ", "))
	}
	if len(c.servedBy) > 0 {
		parts = append(parts, "via "+strings.Join(c.servedBy, ", "))
	}
	if len(c.hits) > 0 {
		parts = append(parts, "hits "+strings.Join(c.hits, ", "))
	}
	if c.age != "" {
		parts = append(parts, "Age "+c.age)
	}
	return strings.Join(parts, " ")
}

func (c cdnInfo) perf(name string) []nagios.Perf {
	hit := 0.0
	if c.edgeHit() {
		hit = 1
	}
	p := []nagios.Perf{
		{Label: name + " cache_hit", Field: "cache_hit", Value: hit, Integer: true, Min: zero(), Max: ptr(1)},
		{Label: name + " hops", Field: "hops", Value: float64(len(c.servedBy)), Integer: true, Min: zero()},
	}
	if len(c.hits) > 0 {
		if n, err := strconv.ParseInt(c.hits[len(c.hits)-1], 10, 64); err == nil {
			p = append(p, nagios.Perf{Label: name + " cache_hits", Field: "cache_hits", Value: float64(n), Integer: true, Min: zero()})
		}
	}
	if age, err := strconv.ParseInt(c.age, 10, 64); err == nil {
		p = append(p, nagios.Perf{Label: name + " age", Field: "age", Value: float64(age), UOM: "s", Integer: true, Min: zero()})
	}
	return p
}

func fastlyDebug(h http.Header) string {
	ttl, path := h.Get("Fastly-Debug-TTL"), h.Get("Fastly-Debug-Path")
	if ttl == "" && path == "" {
		return "Fastly-Debug: no Fastly-Debug-TTL or Fastly-Debug-Path in the answer (debugging not enabled on this service?)"
	}
	return fmt.Sprintf("Fastly-Debug-TTL: %s; Fastly-Debug-Path: %s", oneLine(ttl), oneLine(path))
}

func (r HeaderRule) check(h http.Header) string {
	vals := h.Values(r.Name)
	switch r.Kind {
	case "present":
		if len(vals) == 0 {
			return "header " + r.Name + " missing"
		}
	case "equals":
		if len(vals) == 0 {
			return fmt.Sprintf("header %s missing, expected %q", r.Name, r.Value)
		}
		if got := strings.Join(vals, ", "); got != r.Value {
			return fmt.Sprintf("header %s is %q, expected %q", r.Name, oneLine(got), r.Value)
		}
	case "matches":
		if len(vals) == 0 {
			return fmt.Sprintf("header %s missing, expected to match %s", r.Name, r.Re)
		}
		if got := strings.Join(vals, ", "); !r.Re.MatchString(got) {
			return fmt.Sprintf("header %s is %q, does not match %s", r.Name, oneLine(got), r.Re)
		}
	}
	return ""
}

// ParseHeaderRule reads "Name", "Name: value" or "Name: regex" for kind.
func ParseHeaderRule(kind, spec string) (HeaderRule, error) {
	name, value, hasValue := strings.Cut(spec, ":")
	name, value = strings.TrimSpace(name), strings.TrimSpace(value)
	r := HeaderRule{Name: http.CanonicalHeaderKey(name), Kind: kind, Value: value}
	if name == "" || strings.ContainsAny(name, " \t") {
		return r, fmt.Errorf("--header-%s %q: no header name", kind, spec)
	}
	switch kind {
	case "present":
		if hasValue {
			return r, fmt.Errorf("--header-present %q: give the name alone (use --header-equals or --header-matches for a value)", spec)
		}
	case "equals", "matches":
		if !hasValue {
			return r, fmt.Errorf("--header-%s %q: want 'Name: value'", kind, spec)
		}
		if kind == "matches" {
			re, err := regexp.Compile(value)
			if err != nil {
				return r, fmt.Errorf("--header-matches %q: %v", spec, err)
			}
			r.Re = re
		}
	}
	return r, nil
}

// freshness compares the packument the CDN served with the origin's. The
// CDN's copy is stale when its _rev differs from the origin's (without
// _rev on both sides: when its time.modified is older).
//
// How long it has been stale is never dated from the origin's
// time.modified alone: dist-tag moves, deprecations, owner changes and
// hand fixes change a packument without touching it. The figure is a
// lower bound, the largest of what is known:
//   - the origin's time.modified, when it is newer than the served copy's:
//     a change after the served copy was made then, or later;
//   - the first time this check saw the CDN serve this same copy while
//     the origin had another (Deps.Sightings, kept across runs): it has
//     been stale since then at least, and the bound grows run by run.
//
// The CDN's Age says how long it has held its copy: when the CDN fetches
// from this origin, the copy was fresh then, so Age is an upper bound. It
// is reported, not used, since a CDN backed by a lagging replica fetches
// copies that are stale already.
func freshness(ctx context.Context, cfg Config, deps Deps, name, rawURL string, served *servedPackument, truncated bool, age string) (nagios.Status, string, []string, []nagios.Perf) {
	id, err := docID(rawURL)
	if err != nil {
		return nagios.UNKNOWN, err.Error(), nil, nil
	}
	if truncated {
		return nagios.UNKNOWN, fmt.Sprintf("packument larger than --max-bytes %d: freshness not compared", cfg.MaxBytes), nil, nil
	}
	if err := served.err; err != nil {
		return nagios.UNKNOWN, "the CDN's answer is not a packument", []string{fmt.Sprintf("GET %s: not a packument: %s", secret.RedactURL(rawURL), httpclient.JSONErrorText(err))}, nil
	}
	if deps.Step != nil {
		deps.Step("GET " + id + " from " + deps.Origin.Where())
	}
	originRev, originModified, err := deps.Origin.Revision(ctx, id)
	if err != nil {
		st, msg := deps.Problem(err)
		return st, "origin packument unreadable", []string{"origin packument: " + msg}, nil
	}
	servedModified, _ := time.Parse(time.RFC3339Nano, served.Time.Modified)
	long := []string{fmt.Sprintf("packument %s: CDN _rev %s, time.modified %s; origin _rev %s, time.modified %s",
		id, orNone(served.Rev), timeText(servedModified), orNone(originRev), timeText(originModified))}
	var fresh bool
	var servedKey string
	switch {
	case served.Rev != "" && originRev != "":
		fresh, servedKey = served.Rev == originRev, served.Rev
	case !servedModified.IsZero() && !originModified.IsZero():
		fresh, servedKey = !servedModified.Before(originModified), servedModified.UTC().Format(time.RFC3339Nano)
	default:
		return nagios.UNKNOWN, "freshness not comparable", append(long, "neither _rev nor time.modified on both sides to compare"), nil
	}
	now := deps.Now()
	where := deps.Origin.Where()
	if fresh {
		if deps.Sightings != nil {
			if err := deps.Sightings.Forget(rawURL, where); err != nil {
				long = append(long, err.Error())
			}
		}
		perf := []nagios.Perf{cfg.Stale.Apply(nagios.Perf{Label: name + " stale", Field: "stale", Value: 0, UOM: "s", Min: zero()})}
		return nagios.OK, "fresh", long, perf
	}

	var bound time.Duration
	var since []string
	if !originModified.IsZero() && originModified.After(servedModified) {
		bound = max(now.Sub(originModified), 0)
		since = append(since, fmt.Sprintf("the origin's time.modified, newer than the served copy's, is %s ago", dur(bound)))
	}
	if deps.Sightings != nil {
		s, err := deps.Sightings.Sight(Sighting{Packument: secret.RedactURL(rawURL), Origin: where, Served: servedKey, OriginRev: originRev, FirstSeen: now.UTC()})
		if err != nil {
			long = append(long, err.Error()+": the bound does not grow across runs")
		}
		seen := max(now.Sub(s.FirstSeen), 0)
		if s.FirstSeen.Before(now) {
			since = append(since, fmt.Sprintf("this check first saw the CDN serve this copy while the origin had another %s ago (%s, %s)",
				dur(seen), s.FirstSeen.UTC().Format(time.RFC3339), deps.Sightings.Where(rawURL, where)))
		} else {
			since = append(since, "this check sees the difference for the first time (recorded in "+deps.Sightings.Where(rawURL, where)+")")
		}
		bound = max(bound, seen)
	}
	if len(since) == 0 {
		since = append(since, "nothing dates the change: both copies carry the same time.modified")
	}
	long = append(long, fmt.Sprintf("stale for at least %s: %s", dur(bound), strings.Join(since, "; ")))
	if a, err := strconv.ParseInt(age, 10, 64); err == nil {
		held := time.Duration(a) * time.Second
		// Age is whole seconds, cut: the copy is up to 1s older.
		if held+time.Second <= bound {
			long = append(long, fmt.Sprintf("the CDN fetched its copy %s ago (Age), when the origin had changed already: its backend served it out of date (a replica behind the origin?)", dur(held)))
		} else {
			long = append(long, fmt.Sprintf("the CDN fetched its copy %s ago (Age): stale for less than %s if it fetches from this origin", dur(held), dur(held+time.Second)))
		}
	}
	stale := round(bound.Seconds(), 3)
	perf := []nagios.Perf{cfg.Stale.Apply(nagios.Perf{Label: name + " stale", Field: "stale", Value: stale, UOM: "s", Min: zero()})}
	return cfg.Stale.Status(stale), "stale for at least " + dur(bound), long, perf
}

// dur prints a duration cut rather than rounded (the durations printed
// are lower bounds, and rounding up would overstate them): to the second,
// or to the tenth below 10s, so that a bound just above a 0 threshold
// does not read "at least 0s".
func dur(d time.Duration) string {
	if d < 10*time.Second {
		return d.Truncate(100 * time.Millisecond).String()
	}
	return d.Truncate(time.Second).String()
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func timeText(t time.Time) string {
	if t.IsZero() {
		return "none"
	}
	return t.UTC().Format(time.RFC3339)
}

// servedPackument is what freshness reads of the packument the CDN
// served: decoded while the probe reads it (decodeWhileRead), never held
// whole: a packument can be as big as --max-bytes.
type servedPackument struct {
	Rev  string       `json:"_rev"`
	Time modifiedTime `json:"time"`

	err  error
	pw   *io.PipeWriter
	done chan struct{}
}

// decodeWhileRead makes req's body a pipe into a stream decoder of the
// packument.
func decodeWhileRead(req *httpprobe.Request) *servedPackument {
	pr, pw := io.Pipe()
	s := &servedPackument{pw: pw, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		s.err = httpclient.DecodeStream(pr, s)
		// The probe goes on writing (and counting) what is left.
		_, _ = io.Copy(io.Discard, pr)
	}()
	req.Body = pw
	return s
}

// wait ends the body and waits for the decoder.
func (s *servedPackument) wait(readErr error) {
	if readErr != nil {
		s.pw.CloseWithError(readErr)
	} else {
		s.pw.Close()
	}
	<-s.done
}

// docID is the package name of a packument URL: its path, unescaped
// ("/@scope%2fname" is "@scope/name").
func docID(rawURL string) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", fmt.Errorf("--packument %s: %v", secret.RedactURL(rawURL), err)
	}
	id := strings.TrimPrefix(u.Path, "/")
	if id == "" {
		return "", fmt.Errorf("--packument %s: no package name in the path", secret.RedactURL(rawURL))
	}
	return id, nil
}

// edgeOf names the address --resolve sends a URL to.
func edgeOf(rules map[string]string, rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil || len(rules) == 0 {
		return ""
	}
	port := u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "https" {
			port = "443"
		}
	}
	return rules[net.JoinHostPort(strings.ToLower(u.Hostname()), port)]
}

func joinInts(xs []int) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, " or ")
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1fms", float64(d.Microseconds())/1000) }

func round(v float64, places int) float64 {
	p := 1.0
	for range places {
		p *= 10
	}
	return float64(int64(v*p)) / p
}

// oneLine folds a header value to one line. Only blanks are folded: a
// password with two spaces in it, folded, would no longer be recognised
// by the run's redactor; the run path makes the rest one line after
// redacting.
func oneLine(s string) string {
	return strings.TrimSpace(strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ").Replace(s))
}

func zero() *float64         { return ptr(0) }
func ptr(v float64) *float64 { return &v }
