package cdnlog

import (
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/registry-checks/registry-checks/lib/secret"
)

// Other is the package and version of the downloads beyond --max-packages
// (and the URL of the 5xx beyond --max-urls): counted, never dropped.
// Parentheses cannot appear in an npm package name.
const Other = "(other)"

// Limits bound the memory of one run's aggregation.
type Limits struct {
	MaxPackages int // distinct package versions kept by name; 0: 10,000
	MaxURLs     int // distinct URLs kept for the 5xx list; 0: 1,000
	Samples     int // unparsable lines kept as samples; 0: 3
	MaxPoints   int // per-minute points of one batch (minutes plus downloads cells); 0: 10,000
	// Redactor is the run's (plugin.Env.Secrets): an unparsable line and
	// its reason pass it whole before they are cut to a sample. nil
	// still scrubs the patterns (secret.ScrubPatterns).
	Redactor *secret.Redactor
}

// Counts are the request numbers of a run or of one minute.
type Counts struct {
	Requests int64
	Status   [6]int64 // by class: [1]..[5] = 1xx..5xx, [0] anything else
	Hits     int64
	Misses   int64
	Passes   int64
	Synth    int64
	Bytes    int64
	TTS      *Histogram // nil when no line had a time to serve

	Downloads int64 // 2xx but 206 GET of a tarball
	Partial   int64 // 206 GET of a tarball
}

func (c *Counts) add(r *Record) {
	c.Requests++
	cls := r.Status / 100
	if cls < 1 || cls > 5 {
		cls = 0
	}
	c.Status[cls]++
	switch r.Cache {
	case CacheHit:
		c.Hits++
	case CacheMiss:
		c.Misses++
	case CachePass:
		c.Passes++
	case CacheSynth:
		c.Synth++
	}
	if r.Bytes > 0 {
		c.Bytes += r.Bytes
	}
	if r.HasTTS {
		if c.TTS == nil {
			c.TTS = &Histogram{}
		}
		c.TTS.Add(r.TTS)
	}
}

// Ratio is part/whole in percent; NaN when whole is 0.
func Ratio(part, whole int64) float64 {
	if whole == 0 {
		return math.NaN()
	}
	return 100 * float64(part) / float64(whole)
}

// HitRatio is hits among the requests whose cache outcome the log gives
// (synthetic answers left out); NaN without any.
func (c *Counts) HitRatio() float64 {
	return Ratio(c.Hits, c.Hits+c.Misses+c.Passes)
}

// DL is the download count of one package version in one minute.
type DL struct {
	Count, Partial int64
}

type cell struct {
	key    int32 // index in Aggregate.keys
	minute int64 // Unix minute
}

// Aggregate counts one run's lines.
type Aggregate struct {
	Limits     Limits
	Total      Counts
	Unparsable int64
	Samples    []Sample
	First      time.Time // earliest and latest line time
	Last       time.Time

	Minutes map[int64]*Counts // by Unix minute, of the batch being read

	batchLast int64 // latest minute of the batch

	keyIndex map[string]int32
	keys     []string // "package\x00version"; keys[0] is Other
	keyTotal []DL
	cells    map[cell]*DL // of the batch being read
	keyBuf   []byte

	urls5xx   map[string]*int64
	other5xx  int64
	otherKeys bool
}

// Sample is an unparsable line (cut, with its query strings removed) and
// why it did not parse.
type Sample struct {
	Line   string
	Reason string
}

// NewAggregate returns an empty aggregation.
func NewAggregate(l Limits) *Aggregate {
	if l.MaxPackages <= 0 {
		l.MaxPackages = 10000
	}
	if l.MaxURLs <= 0 {
		l.MaxURLs = 1000
	}
	if l.Samples <= 0 {
		l.Samples = 3
	}
	if l.MaxPoints <= 0 {
		l.MaxPoints = 10000
	}
	return &Aggregate{
		Limits:   l,
		Minutes:  map[int64]*Counts{},
		keyIndex: map[string]int32{Other + "\x00" + Other: 0},
		keys:     []string{Other + "\x00" + Other},
		keyTotal: []DL{{}},
		cells:    map[cell]*DL{},
		urls5xx:  map[string]*int64{},

		batchLast: math.MinInt64,
	}
}

// Cut says whether the batch must end before r, which is then read
// again in the next batch: when r would take the batch past --max-points
// per-minute points, or when the batch is three quarters full and r
// starts a minute later than any of it, so that batches end on completed
// minutes (of a log in time order) and a minute's counts are seldom split
// between two batches (two parts of one minute still add up: see
// State.Seq). It bounds the memory of a run whatever the backlog (hours
// of a busy log after an outage, a first run over a day's log).
func (a *Aggregate) Cut(r *Record) bool {
	n := len(a.cells) + len(a.Minutes)
	if n == 0 {
		return false
	}
	minute := minuteOf(r.Time)
	if n >= a.Limits.MaxPoints*3/4 && minute > a.batchLast {
		return true
	}
	if n+2 <= a.Limits.MaxPoints {
		return false // r adds two points at most
	}
	return n+a.adds(r, minute) > a.Limits.MaxPoints
}

// adds is the number of per-minute points r would add to the batch.
func (a *Aggregate) adds(r *Record, minute int64) int {
	n := 0
	if a.Minutes[minute] == nil {
		n++
	}
	if r.Method != "GET" || r.Status < 200 || r.Status > 299 {
		return n
	}
	key, ok := appendTarballKey(nil, Path(r.URL))
	if !ok {
		return n
	}
	k, known := a.keyIndex[string(key)]
	if !known {
		if len(a.keys)-1 < a.Limits.MaxPackages {
			return n + 1
		}
		k = 0
	}
	if a.cells[cell{k, minute}] == nil {
		n++
	}
	return n
}

// NextBatch starts a new batch once the points of the last one are safe:
// the per-minute counts are forgotten, the run's totals (Total, the top
// packages, the worst URLs) are kept for the run's result.
func (a *Aggregate) NextBatch() {
	clear(a.Minutes)
	clear(a.cells)
	a.batchLast = math.MinInt64
}

// BatchPoints is the number of per-minute points the batch holds.
func (a *Aggregate) BatchPoints() int { return len(a.cells) + len(a.Minutes) }

func minuteOf(t time.Time) int64 {
	minute := t.Unix() / 60
	if t.Unix() < 0 && t.Unix()%60 != 0 {
		minute--
	}
	return minute
}

// Bad counts a line that did not parse.
func (a *Aggregate) Bad(line []byte, err error) {
	a.Unparsable++
	if len(a.Samples) < a.Limits.Samples {
		red := a.Limits.Redactor
		a.Samples = append(a.Samples, Sample{Line: sampleText(red.Redact(string(line))), Reason: red.Clip(err.Error(), maxReason)})
	}
}

// Add counts one parsed line.
func (a *Aggregate) Add(r *Record) {
	if a.First.IsZero() || r.Time.Before(a.First) {
		a.First = r.Time
	}
	if r.Time.After(a.Last) {
		a.Last = r.Time
	}
	minute := minuteOf(r.Time)
	a.batchLast = max(a.batchLast, minute)
	m := a.Minutes[minute]
	if m == nil {
		m = &Counts{}
		a.Minutes[minute] = m
	}
	a.Total.add(r)
	m.add(r)

	path := Path(r.URL)
	if r.Status >= 500 && r.Status <= 599 {
		if n := a.urls5xx[string(path)]; n != nil {
			*n++
		} else if len(a.urls5xx) < a.Limits.MaxURLs {
			v := int64(1)
			a.urls5xx[string(path)] = &v
		} else {
			a.other5xx++
		}
	}
	if r.Method != "GET" || r.Status < 200 || r.Status > 299 {
		return
	}
	var ok bool
	a.keyBuf, ok = appendTarballKey(a.keyBuf[:0], path)
	if !ok {
		return
	}
	k, known := a.keyIndex[string(a.keyBuf)]
	if !known {
		if len(a.keys)-1 < a.Limits.MaxPackages {
			k = int32(len(a.keys))
			key := string(a.keyBuf)
			a.keyIndex[key] = k
			a.keys = append(a.keys, key)
			a.keyTotal = append(a.keyTotal, DL{})
		} else {
			k = 0
			a.otherKeys = true
		}
	}
	c := a.cells[cell{k, minute}]
	if c == nil {
		c = &DL{}
		a.cells[cell{k, minute}] = c
	}
	if r.Status == 206 {
		c.Partial++
		a.keyTotal[k].Partial++
		a.Total.Partial++
		m.Partial++
	} else {
		c.Count++
		a.keyTotal[k].Count++
		a.Total.Downloads++
		m.Downloads++
	}
}

// Download is the count of one package version in one minute.
type Download struct {
	Package, Version string
	Minute           time.Time
	DL
}

// Downloads lists the counts per package version and minute, in a stable
// order (minute, then package, then version).
func (a *Aggregate) Downloads() []Download {
	out := make([]Download, 0, len(a.cells))
	for c, dl := range a.cells {
		pkg, ver, _ := strings.Cut(a.keys[c.key], "\x00")
		out = append(out, Download{Package: pkg, Version: ver, Minute: time.Unix(c.minute*60, 0).UTC(), DL: *dl})
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Minute.Equal(out[j].Minute) {
			return out[i].Minute.Before(out[j].Minute)
		}
		if out[i].Package != out[j].Package {
			return out[i].Package < out[j].Package
		}
		return out[i].Version < out[j].Version
	})
	return out
}

// PackageCount is a package's downloads in the run, with its versions.
type PackageCount struct {
	Package  string
	DL       DL
	Versions []VersionCount // most downloaded first
}

// VersionCount is one version's downloads in the run.
type VersionCount struct {
	Version string
	DL      DL
}

// TopPackages returns the n most downloaded packages (full downloads,
// then partial), Other last if it has any.
func (a *Aggregate) TopPackages(n int) []PackageCount {
	byPkg := map[string]*PackageCount{}
	var list []*PackageCount
	for i, key := range a.keys {
		t := a.keyTotal[i]
		if i == 0 || (t.Count == 0 && t.Partial == 0) {
			continue
		}
		pkg, ver, _ := strings.Cut(key, "\x00")
		p := byPkg[pkg]
		if p == nil {
			p = &PackageCount{Package: pkg}
			byPkg[pkg] = p
			list = append(list, p)
		}
		p.DL.Count += t.Count
		p.DL.Partial += t.Partial
		p.Versions = append(p.Versions, VersionCount{ver, t})
	}
	less := func(x, y DL, xn, yn string) bool {
		if x.Count != y.Count {
			return x.Count > y.Count
		}
		if x.Partial != y.Partial {
			return x.Partial > y.Partial
		}
		return xn < yn
	}
	sort.Slice(list, func(i, j int) bool { return less(list[i].DL, list[j].DL, list[i].Package, list[j].Package) })
	var out []PackageCount
	for _, p := range list {
		if len(out) == n {
			break
		}
		sort.Slice(p.Versions, func(i, j int) bool {
			return less(p.Versions[i].DL, p.Versions[j].DL, p.Versions[i].Version, p.Versions[j].Version)
		})
		out = append(out, *p)
	}
	if o := a.keyTotal[0]; o.Count > 0 || o.Partial > 0 {
		out = append(out, PackageCount{Package: Other, DL: o})
	}
	return out
}

// Packages is the number of distinct package versions counted by name.
func (a *Aggregate) Packages() int { return len(a.keys) - 1 }

// OtherUsed says whether --max-packages sent downloads to Other.
func (a *Aggregate) OtherUsed() bool { return a.otherKeys }

// URLCount is a URL path's 5xx answers in the run.
type URLCount struct {
	URL   string
	Count int64
}

// Worst5xx returns the n URL paths with the most 5xx answers, Other last
// if the --max-urls bound was reached.
func (a *Aggregate) Worst5xx(n int) []URLCount {
	list := make([]URLCount, 0, len(a.urls5xx))
	for u, c := range a.urls5xx {
		list = append(list, URLCount{u, *c})
	}
	sort.Slice(list, func(i, j int) bool {
		if list[i].Count != list[j].Count {
			return list[i].Count > list[j].Count
		}
		return list[i].URL < list[j].URL
	})
	if len(list) > n {
		list = list[:n]
	}
	if a.other5xx > 0 {
		list = append(list, URLCount{Other, a.other5xx})
	}
	return list
}

// maxReason bounds the reason printed with a sample (after redaction).
const maxReason = 160

// sampleText is a bounded, printable copy of an unparsable line, already
// redacted whole (a cut must not leave the prefix of a secret the
// redactor would no longer recognise), with the query strings' values
// removed (they may carry tokens nobody registered).
func sampleText(line string) string {
	const max = 160
	var b strings.Builder
	inQuery := false
	i := 0
	for i < len(line) && b.Len() < max {
		r, size := utf8.DecodeRuneInString(line[i:])
		i += size
		switch {
		case r == '?':
			inQuery = true
			b.WriteString("?…")
			continue
		case r == ' ' || r == '"' || r == '\t':
			inQuery = false
		case inQuery:
			continue
		}
		if r == utf8.RuneError || r < 0x20 || r == 0x7f {
			b.WriteString(strconv.QuoteRune(r)[1 : len(strconv.QuoteRune(r))-1])
			continue
		}
		b.WriteRune(r)
	}
	if strings.TrimSpace(line[i:]) != "" {
		b.WriteString("…")
	}
	return b.String()
}

// Histogram counts durations in buckets 5% wide, from 10µs to about an
// hour: a percentile is within 5% of the true value in constant memory.
type Histogram struct {
	Buckets [histBuckets]uint32
	N       int64
}

const (
	histBuckets = 400
	histMin     = 10 * time.Microsecond
	histGrowth  = 1.05
)

var histLogGrowth = math.Log(histGrowth)

// Add counts d.
func (h *Histogram) Add(d time.Duration) {
	i := 0
	if d > histMin {
		i = int(math.Ceil(math.Log(float64(d)/float64(histMin)) / histLogGrowth))
	}
	if i >= histBuckets {
		i = histBuckets - 1
	}
	h.Buckets[i]++
	h.N++
}

// Quantile returns the upper bound of the bucket holding quantile q (0..1).
func (h *Histogram) Quantile(q float64) time.Duration {
	if h == nil || h.N == 0 {
		return -1
	}
	rank := int64(math.Ceil(q * float64(h.N)))
	if rank < 1 {
		rank = 1
	}
	var seen int64
	for i, c := range h.Buckets {
		seen += int64(c)
		if seen >= rank {
			return time.Duration(float64(histMin) * math.Pow(histGrowth, float64(i)))
		}
	}
	return -1
}
