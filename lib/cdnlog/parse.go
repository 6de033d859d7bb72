// Package cdnlog turns CDN access logs into request statistics and package
// download counts: parse.go reads one line, position.go and read.go follow
// a log file across runs and rotations, state.go keeps the positions,
// aggregate.go counts, result.go judges and renders.
package cdnlog

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Cache is the cache outcome of a request, when the log says it.
type Cache uint8

// The cache outcomes. Synthetic answers (errors made at the edge) count as
// neither a hit nor a miss.
const (
	CacheUnknown Cache = iota
	CacheHit
	CacheMiss
	CachePass
	CacheSynth
)

// Record is one parsed log line. The parser reuses it: URL points into the
// line's bytes and is valid only until the next line.
type Record struct {
	Time   time.Time
	Method string
	URL    []byte // path and query as logged; may be an absolute URL (varnishncsa)
	Status int
	Bytes  int64 // -1 when the log has none ("-")
	Cache  Cache
	TTS    time.Duration // time to serve; valid when HasTTS
	HasTTS bool
}

// Format names a log format (--format).
type Format string

// The formats. Auto reads each line as what it looks like: a JSON object
// as FastlyJSON (with the --field names), anything else as NCSA.
const (
	Auto       Format = "auto"
	NCSA       Format = "ncsa"        // varnishncsa's default: NCSA combined, optional trailing cache status and %D
	Fastly     Format = "fastly"      // Fastly's Apache-style line (common or combined), optional syslog prefix
	FastlyJSON Format = "fastly-json" // Fastly's JSON-lines example format
	JSON       Format = "json"        // JSON lines with the keys given by --field
)

// Formats lists the valid --format values.
var Formats = []Format{Auto, NCSA, Fastly, FastlyJSON, JSON}

// Fields maps the record's parts to JSON keys (--field part=key). The
// parts: time, url, status, bytes, cache, method, tts (seconds), tts_us
// and tts_ms. A key may name a nested field with dots ("response.status").
type Fields map[string]string

// fastlyFields are the keys of Fastly's JSON logging example, the format
// most Fastly services stream.
var fastlyFields = Fields{
	"time": "timestamp", "url": "url", "status": "status", "bytes": "response_body_size",
	"cache": "cache_status", "method": "request", "tts_us": "time_elapsed",
}

var fieldParts = []string{"time", "url", "status", "bytes", "cache", "method", "tts", "tts_us", "tts_ms"}

// ParseFieldSpec parses "part=key" as given to --field.
func ParseFieldSpec(spec string) (part, key string, err error) {
	part, key, ok := strings.Cut(spec, "=")
	part, key = strings.TrimSpace(part), strings.TrimSpace(key)
	if !ok || key == "" {
		return "", "", fmt.Errorf("--field %q: want part=key, e.g. status=status_code", spec)
	}
	for _, p := range fieldParts {
		if p == part {
			return part, key, nil
		}
	}
	return "", "", fmt.Errorf("--field %q: unknown part %q (one of %s)", spec, part, strings.Join(fieldParts, ", "))
}

// Parser reads lines of one format.
type Parser struct {
	format Format
	fields Fields // JSON keys, Fastly's overridden by --field
	wanted map[string]struct{}
	nested bool // some key has a dot: no flat fast path
	obj    map[string]any
}

// NewParser returns the parser of format; fields override the JSON keys
// (for json, url and status are required).
func NewParser(format Format, fields Fields) (*Parser, error) {
	p := &Parser{format: format, fields: Fields{}}
	switch format {
	case Auto, NCSA, Fastly, FastlyJSON, JSON:
	case "":
		p.format = Auto
	default:
		return nil, fmt.Errorf("--format %q: one of auto, ncsa, fastly, fastly-json, json", string(format))
	}
	if p.format != JSON {
		for k, v := range fastlyFields {
			p.fields[k] = v
		}
	}
	for k, v := range fields {
		p.fields[k] = v
	}
	if p.format == JSON && (p.fields["url"] == "" || p.fields["status"] == "") {
		return nil, errors.New("--format json needs at least --field url=KEY and --field status=KEY")
	}
	p.wanted, p.obj = map[string]struct{}{}, map[string]any{}
	for _, key := range p.fields {
		p.wanted[key] = struct{}{}
		p.nested = p.nested || strings.Contains(key, ".")
	}
	return p, nil
}

// Parse reads line (without its newline) into r.
func (p *Parser) Parse(line []byte, r *Record) error {
	*r = Record{Bytes: -1}
	line = bytes.TrimRight(line, "\r")
	switch p.format {
	case NCSA, Fastly:
		return parseNCSA(line, r)
	case FastlyJSON, JSON:
		return p.parseJSON(line, r)
	}
	if t := bytes.TrimLeft(line, " \t"); len(t) > 0 && t[0] == '{' {
		return p.parseJSON(t, r)
	}
	return parseNCSA(line, r)
}

var errNoRequest = errors.New(`no "request" in quotes`)

// parseNCSA reads `host ident user [time] "request" status bytes` and what
// may follow: "referer" "user-agent" (combined), then varnishncsa -F extras
// (a cache word hit/miss/pass/synth, a number of microseconds, %D). A
// syslog prefix (`<134>2026-... host service[pid]: `, as Fastly's syslog
// streaming sends) is skipped.
func parseNCSA(line []byte, r *Record) error {
	if len(line) > 0 && line[0] == '<' {
		if i := bytes.Index(line, []byte("]: ")); i > 0 && i < 200 {
			line = line[i+3:]
		} else if i := bytes.Index(line, []byte(": ")); i > 0 && i < 200 {
			line = line[i+2:]
		}
	}
	lb := bytes.IndexByte(line, '[')
	if lb < 0 {
		return errors.New("no [time]")
	}
	rb := bytes.IndexByte(line[lb:], ']')
	if rb < 0 {
		return errors.New("no [time]")
	}
	t, err := parseCLFTime(line[lb+1 : lb+rb])
	if err != nil {
		return err
	}
	r.Time = t
	rest := line[lb+rb+1:]
	q1 := bytes.IndexByte(rest, '"')
	if q1 < 0 {
		return errNoRequest
	}
	q2 := bytes.IndexByte(rest[q1+1:], '"')
	if q2 < 0 {
		return errNoRequest
	}
	req := rest[q1+1 : q1+1+q2]
	rest = rest[q1+q2+2:]
	sp := bytes.IndexByte(req, ' ')
	if sp <= 0 {
		return errors.New("request without a method and URL")
	}
	r.Method = method(req[:sp])
	url := req[sp+1:]
	if e := bytes.LastIndexByte(url, ' '); e > 0 && bytes.HasPrefix(url[e+1:], []byte("HTTP/")) {
		url = url[:e]
	}
	if len(url) == 0 {
		return errors.New("request without a URL")
	}
	r.URL = url

	f1, rest := nextField(rest)
	status, ok := atoi(f1)
	if !ok || status < 100 || status > 999 {
		return fmt.Errorf("status %q is not a number", clip(f1))
	}
	r.Status = status
	f2, rest := nextField(rest)
	if string(f2) != "-" {
		n, ok := atoi(f2)
		if !ok {
			return fmt.Errorf("bytes %q is not a number", clip(f2))
		}
		r.Bytes = int64(n)
	}
	// Quoted fields (referer, user agent) are skipped whole; what is left
	// are the extras.
	for {
		rest = bytes.TrimLeft(rest, " ")
		if len(rest) == 0 {
			return nil
		}
		if rest[0] == '"' {
			end := bytes.IndexByte(rest[1:], '"')
			if end < 0 {
				return errors.New("unterminated quoted field (a torn line?)")
			}
			rest = rest[end+2:]
			continue
		}
		var f []byte
		f, rest = nextField(rest)
		if c, ok := cacheWord(f); ok {
			r.Cache = c
		} else if n, ok := atoi(f); ok {
			r.TTS, r.HasTTS = time.Duration(n)*time.Microsecond, true
		}
	}
}

func nextField(b []byte) (field, rest []byte) {
	b = bytes.TrimLeft(b, " ")
	if i := bytes.IndexByte(b, ' '); i >= 0 {
		return b[:i], b[i+1:]
	}
	return b, nil
}

var months = map[string]time.Month{"Jan": 1, "Feb": 2, "Mar": 3, "Apr": 4, "May": 5, "Jun": 6, "Jul": 7, "Aug": 8, "Sep": 9, "Oct": 10, "Nov": 11, "Dec": 12}

// parseCLFTime reads 30/Nov/2026:11:55:04 +0000 without time.Parse, which
// is most of the cost of a line.
func parseCLFTime(b []byte) (time.Time, error) {
	// 02/Jan/2006:15:04:05 -0700
	if len(b) != 26 || b[2] != '/' || b[6] != '/' || b[11] != ':' || b[14] != ':' || b[17] != ':' || b[20] != ' ' {
		return time.Time{}, fmt.Errorf("time %q is not dd/Mon/yyyy:hh:mm:ss +zzzz", clip(b))
	}
	num := func(s []byte) int {
		n, ok := atoi(s)
		if !ok {
			return -1
		}
		return n
	}
	day, year, hh, mm, ss := num(b[0:2]), num(b[7:11]), num(b[12:14]), num(b[15:17]), num(b[18:20])
	mon, ok := months[string(b[3:6])]
	zh, zm := num(b[22:24]), num(b[24:26])
	if !ok || day < 1 || day > 31 || year < 0 || hh < 0 || hh > 23 || mm < 0 || mm > 59 || ss < 0 || ss > 60 || zh < 0 || zm < 0 || (b[21] != '+' && b[21] != '-') {
		return time.Time{}, fmt.Errorf("time %q is not dd/Mon/yyyy:hh:mm:ss +zzzz", clip(b))
	}
	off := (zh*60 + zm) * 60
	if b[21] == '-' {
		off = -off
	}
	t := time.Date(year, mon, day, hh, mm, ss, 0, time.UTC)
	return t.Add(-time.Duration(off) * time.Second), nil
}

func (p *Parser) parseJSON(line []byte, r *Record) error {
	obj := p.obj
	clear(obj)
	// The fast path keeps only the wanted keys; nested ones (a.b) and
	// anything odd go through encoding/json.
	ok := !p.nested && scanFlat(line, func(key, val []byte, str, esc bool) {
		if _, want := p.wanted[string(key)]; want {
			if v, good := jsonValue(val, str, esc); good {
				obj[string(key)] = v
			}
		}
	})
	if !ok {
		obj = map[string]any{}
		if err := json.Unmarshal(line, &obj); err != nil {
			return errors.New("not a JSON object")
		}
	}
	get := func(part string) (any, bool) {
		key := p.fields[part]
		if key == "" {
			return nil, false
		}
		var cur any = obj
		for _, k := range strings.Split(key, ".") {
			m, ok := cur.(map[string]any)
			if !ok {
				return nil, false
			}
			if cur, ok = m[k]; !ok {
				return nil, false
			}
		}
		return cur, cur != nil
	}
	url, ok := get("url")
	us, isStr := url.(string)
	if !ok || !isStr || us == "" {
		return fmt.Errorf("no %q string", p.fields["url"])
	}
	r.URL = []byte(us)
	st, ok := get("status")
	n, isNum := number(st)
	if !ok || !isNum || n < 100 || n > 999 {
		return fmt.Errorf("no %q status number", p.fields["status"])
	}
	r.Status = int(n)
	r.Method = "GET"
	if m, ok := get("method"); ok {
		if s, ok := m.(string); ok && s != "" {
			r.Method = method([]byte(s))
		}
	}
	if t, ok := get("time"); ok {
		tt, err := jsonTime(t)
		if err != nil {
			return err
		}
		r.Time = tt
	} else {
		return fmt.Errorf("no %q time", p.fields["time"])
	}
	if b, ok := get("bytes"); ok {
		if n, ok := number(b); ok {
			r.Bytes = int64(n)
		}
	}
	if c, ok := get("cache"); ok {
		if s, ok := c.(string); ok {
			r.Cache, _ = cacheWord([]byte(s))
		}
	}
	for _, u := range []struct {
		part string
		unit float64
	}{{"tts", 1e9}, {"tts_ms", 1e6}, {"tts_us", 1e3}} {
		if v, ok := get(u.part); ok {
			if n, ok := number(v); ok && n >= 0 {
				r.TTS, r.HasTTS = time.Duration(n*u.unit), true
				break
			}
		}
	}
	return nil
}

// number reads a JSON number, or a string holding one (Fastly's example
// format quotes "%>s").
func number(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
		return f, err == nil
	}
	return 0, false
}

// jsonTime reads RFC 3339, Fastly's %Y-%m-%dT%H:%M:%S (UTC), CLF, or
// epoch seconds.
func jsonTime(v any) (time.Time, error) {
	switch x := v.(type) {
	case float64:
		sec := int64(x)
		return time.Unix(sec, int64((x-float64(sec))*1e9)).UTC(), nil
	case string:
		if t, ok := isoSeconds(x); ok {
			return t, nil
		}
		for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02 15:04:05"} {
			if t, err := time.Parse(layout, x); err == nil {
				return t.UTC(), nil
			}
		}
		if t, err := parseCLFTime([]byte(strings.Trim(x, "[]"))); err == nil {
			return t, nil
		}
		if f, err := strconv.ParseFloat(x, 64); err == nil {
			return jsonTime(f)
		}
		return time.Time{}, fmt.Errorf("time %q not understood", clip([]byte(x)))
	}
	return time.Time{}, errors.New("time is not a string or number")
}

// isoSeconds reads 2006-01-02T15:04:05 with an optional Z, the common
// case, without time.Parse.
func isoSeconds(s string) (time.Time, bool) {
	if len(s) == 20 && s[19] == 'Z' {
		s = s[:19]
	}
	if len(s) != 19 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != ' ') || s[13] != ':' || s[16] != ':' {
		return time.Time{}, false
	}
	n := func(a, b int) int {
		v, ok := atoi([]byte(s[a:b]))
		if !ok {
			return -1
		}
		return v
	}
	y, mo, d, h, mi, se := n(0, 4), n(5, 7), n(8, 10), n(11, 13), n(14, 16), n(17, 19)
	if y < 0 || mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h > 23 || mi < 0 || mi > 59 || se < 0 || se > 60 {
		return time.Time{}, false
	}
	return time.Date(y, time.Month(mo), d, h, mi, se, 0, time.UTC), true
}

// cacheWord reads varnishncsa's %{Varnish:hitmiss}x / %{Varnish:handling}x
// and Fastly's cache status (HIT, MISS, PASS, HIT-SYNTH, ERROR...).
func cacheWord(b []byte) (Cache, bool) {
	switch {
	case bytes.EqualFold(b, []byte("hit")), hasPrefixFold(b, "HIT-STALE"), bytes.EqualFold(b, []byte("HIT-CLUSTER")):
		return CacheHit, true
	case hasPrefixFold(b, "HIT-SYNTH"), bytes.EqualFold(b, []byte("synth")), bytes.EqualFold(b, []byte("error")):
		return CacheSynth, true
	case hasPrefixFold(b, "hitpass"), hasPrefixFold(b, "hitmiss"), bytes.EqualFold(b, []byte("pass")), bytes.EqualFold(b, []byte("pipe")):
		return CachePass, true
	case bytes.EqualFold(b, []byte("miss")), hasPrefixFold(b, "MISS-"):
		return CacheMiss, true
	case hasPrefixFold(b, "HIT"):
		return CacheHit, true
	}
	return CacheUnknown, false
}

func hasPrefixFold(b []byte, p string) bool {
	return len(b) >= len(p) && bytes.EqualFold(b[:len(p)], []byte(p))
}

// method interns the common methods, so a line costs no allocation.
func method(b []byte) string {
	switch string(b) {
	case "GET":
		return "GET"
	case "HEAD":
		return "HEAD"
	case "POST":
		return "POST"
	case "PUT":
		return "PUT"
	}
	return strings.ToUpper(string(b))
}

func atoi(b []byte) (int, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// clip is a field quoted in an error (by %q). It is not cut here: the
// reason is redacted whole and only then cut (Aggregate.Bad).
func clip(b []byte) string { return string(b) }
