package main

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"
)

// countingProxy is a reverse proxy on loopback in front of one stack
// endpoint. It counts the HTTP requests that reach it and the TCP
// connections opened to it, which is what the server side sees of a check
// run: requests per run, and whether they share connections.
type countingProxy struct {
	name     string
	upstream *url.URL
	ln       net.Listener
	srv      *http.Server
	busy     *busyPeriods
	delay    time.Duration // added before each request is forwarded

	mu       sync.Mutex
	requests []string // "GET /path" in arrival order
	conns    int
}

// busyPeriods counts the stretches of time during which at least one
// request is in flight, over every proxy of a run: requests sent one after
// another make one period each, requests sent together share one. It is
// the run's sequential round trips as the servers see them, what a WAN's
// latency multiplies.
type busyPeriods struct {
	mu       sync.Mutex
	inFlight int
	periods  int
}

func (b *busyPeriods) begin() {
	b.mu.Lock()
	if b.inFlight == 0 {
		b.periods++
	}
	b.inFlight++
	b.mu.Unlock()
}

func (b *busyPeriods) end() {
	b.mu.Lock()
	b.inFlight--
	b.mu.Unlock()
}

// take returns the periods counted since the last call and resets them.
func (b *busyPeriods) take() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := b.periods
	b.periods = 0
	return n
}

func newCountingProxy(name, upstream string, busy *busyPeriods, delay time.Duration) (*countingProxy, error) {
	u, err := url.Parse(upstream)
	if err != nil {
		return nil, fmt.Errorf("%s: upstream %q: %v", name, upstream, err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("%s: proxy listener: %v", name, err)
	}
	p := &countingProxy{name: name, upstream: u, ln: ln, busy: busy, delay: delay}
	rp := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		// SetURL also sends the upstream's Host, so nginx and Varnish
		// see the request as they would without the proxy.
		r.SetURL(u)
	}}
	p.srv = &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p.mu.Lock()
			p.requests = append(p.requests, r.Method+" "+r.URL.Path)
			p.mu.Unlock()
			p.busy.begin()
			defer p.busy.end()
			// A WAN's round trip: requests sent together wait it
			// together, requests sent in turn once each.
			time.Sleep(p.delay)
			rp.ServeHTTP(w, r)
		}),
		ConnState: func(_ net.Conn, s http.ConnState) {
			if s == http.StateNew {
				p.mu.Lock()
				p.conns++
				p.mu.Unlock()
			}
		},
	}
	go func() { _ = p.srv.Serve(ln) }()
	return p, nil
}

func (p *countingProxy) URL() string  { return "http://" + p.ln.Addr().String() }
func (p *countingProxy) Port() string { return fmt.Sprint(p.ln.Addr().(*net.TCPAddr).Port) }

// take returns what was counted since the last call and resets it.
func (p *countingProxy) take() (requests []string, conns int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	requests, conns = p.requests, p.conns
	p.requests, p.conns = nil, 0
	return requests, conns
}

func (p *countingProxy) Close() { _ = p.srv.Close() }

// summarize folds "GET /a", "GET /a", "GET /b" into "2× GET /a, GET /b"
// (sorted), for the report's list of what a run asked for.
func summarize(reqs []string) string {
	n := map[string]int{}
	for _, r := range reqs {
		n[r]++
	}
	keys := make([]string, 0, len(n))
	for k := range n {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		if n[k] > 1 {
			parts[i] = fmt.Sprintf("%d× %s", n[k], k)
		} else {
			parts[i] = k
		}
	}
	return strings.Join(parts, ", ")
}
