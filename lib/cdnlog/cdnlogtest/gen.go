// Package cdnlogtest writes CDN access logs of known content for the
// tests and the benchmark of check_cdn_log, and counts what it wrote
// itself, without parsing it: the recount the check's numbers are
// compared with.
package cdnlogtest

import (
	"fmt"
	"math/rand"
	"strings"
	"time"
)

// Generator makes log lines in varnishncsa's, Fastly's Apache-style and
// Fastly's JSON formats, mixed, about 250 bytes each.
type Generator struct {
	r        *rand.Rand
	t        time.Time
	packages []pv
	ua       string

	Downloads map[string]int64 // "package@version" -> 2xx (not 206) GETs of its tarball
	// Daily is Downloads by UTC day: "YYYY-MM-DD" -> "package@version" -> count.
	Daily     map[string]map[string]int64
	Partial   map[string]int64 // "package@version" -> 206 GETs
	Requests  int64            // lines that parse
	Garbage   int64            // lines that do not
	Status5xx int64

	// MaxStep bounds the time between two lines (drawn uniformly below
	// it); 300ms when zero.
	MaxStep time.Duration

	last lastLine
}

// lastLine is what the last line added to the counts.
type lastLine struct {
	key, day                           string
	request, download, partial, fivexx bool
}

type pv struct{ scope, name, version string }

func (p pv) pkg() string {
	if p.scope != "" {
		return p.scope + "/" + p.name
	}
	return p.name
}

// New returns a generator whose lines start at start; packages is the
// number of distinct package versions.
func New(seed int64, start time.Time, packages int) *Generator {
	g := &Generator{r: rand.New(rand.NewSource(seed)), t: start.UTC(),
		Downloads: map[string]int64{}, Partial: map[string]int64{}, Daily: map[string]map[string]int64{},
		ua: "npm/10.2.4 node/v20.11.1 linux x64 workspaces/false ci/github-actions " + strings.Repeat("x", 40)}
	for i := 0; i < packages; i++ {
		p := pv{name: fmt.Sprintf("pkg-%d", i/3), version: fmt.Sprintf("%d.%d.%d", i%3+1, i%7, i%11)}
		if i%5 == 0 {
			p.scope = fmt.Sprintf("@scope%d", i%4)
		}
		g.packages = append(g.packages, p)
	}
	return g
}

// Line returns the next line with its newline.
func (g *Generator) Line() string {
	step := g.MaxStep
	if step <= 0 {
		step = 300 * time.Millisecond
	}
	g.t = g.t.Add(time.Duration(g.r.Int63n(int64(step))))
	n := g.r.Intn(1000)
	g.last = lastLine{}
	if n < 5 {
		g.Garbage++
		return fmt.Sprintf("garbage %d from a broken log stream ?token=%d\n", g.r.Int63(), g.r.Int63())
	}
	p := g.packages[g.r.Intn(len(g.packages))]
	method, status := "GET", 200
	var url string
	switch {
	case n < 750:
		name := p.pkg()
		if p.scope != "" && g.r.Intn(4) == 0 {
			name = p.scope + "%2f" + p.name
		}
		url = "/" + name + "/-/" + p.name + "-" + p.version + ".tgz"
		if g.r.Intn(10) == 0 {
			url += "?cache-bust=1"
		}
		switch s := g.r.Intn(100); {
		case s < 4:
			status = 206
		case s < 8:
			status = 304
		case s < 11:
			status = 503
		case s < 13:
			method = "HEAD"
		case s < 15:
			status = 404
		}
	case n < 900:
		url = "/" + p.pkg()
		if g.r.Intn(30) == 0 {
			status = 500
		}
	default:
		url = "/-/v1/search?text=" + p.name
		if g.r.Intn(10) == 0 {
			status = 404
		}
	}
	g.Requests++
	key := p.pkg() + "@" + p.version
	g.last = lastLine{key: key, request: true}
	if method == "GET" && strings.HasSuffix(strings.SplitN(url, "?", 2)[0], ".tgz") {
		switch {
		case status == 206:
			g.Partial[key]++
			g.last.partial = true
		case status >= 200 && status < 300:
			g.Downloads[key]++
			day := g.t.Format(time.DateOnly)
			if g.Daily[day] == nil {
				g.Daily[day] = map[string]int64{}
			}
			g.Daily[day][key]++
			g.last.download, g.last.day = true, day
		}
	}
	if status >= 500 {
		g.Status5xx++
		g.last.fivexx = true
	}
	size := 1000 + g.r.Intn(100000)
	cache := []string{"hit", "miss", "pass"}[g.r.Intn(3)]
	usec := 100 + g.r.Intn(50000)
	switch g.r.Intn(3) {
	case 0: // varnishncsa -F with %{Varnish:hitmiss}x %D appended
		return fmt.Sprintf("127.0.0.1 - - [%s] \"%s http://registry.example.com%s HTTP/1.1\" %d %d \"-\" \"%s\" %s %d\n",
			g.t.Format("02/Jan/2006:15:04:05 -0700"), method, url, status, size, g.ua, cache, usec)
	case 1: // Fastly Apache-style over syslog
		return fmt.Sprintf("<134>%s cache-fra19123 registry[1234]: 192.0.2.%d - - [%s] \"%s %s HTTP/2\" %d %d \"-\" \"%s\"\n",
			g.t.Format(time.RFC3339), g.r.Intn(255), g.t.In(time.FixedZone("", 3600)).Format("02/Jan/2006:15:04:05 -0700"), method, url, status, size, g.ua)
	default: // Fastly JSON
		return fmt.Sprintf("{\"timestamp\":\"%s\",\"client_ip\":\"192.0.2.%d\",\"request\":\"%s\",\"url\":\"%s\",\"status\":\"%d\",\"cache_status\":\"%s\",\"time_elapsed\":%d,\"response_body_size\":%d,\"user_agent\":\"%s\"}\n",
			g.t.Format("2006-01-02T15:04:05"), g.r.Intn(255), method, url, status, strings.ToUpper(cache), usec, size, g.ua[:40])
	}
}

// Time is the time of the last line.
func (g *Generator) Time() time.Time { return g.t }

// AbandonLast takes the last line back out of the counts: its writer was
// cut off and it stays torn, unparsable, in a rotated file.
func (g *Generator) AbandonLast() {
	if g.last.key == "" && !g.last.request {
		return
	}
	l := g.last
	if l.request {
		g.Requests--
		g.Garbage++ // it is still read, as an unparsable line
	}
	if l.download {
		g.Downloads[l.key]--
		g.Daily[l.day][l.key]--
	}
	if l.partial {
		g.Partial[l.key]--
	}
	if l.fivexx {
		g.Status5xx--
	}
	g.last = lastLine{}
}
