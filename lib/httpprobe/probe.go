// Package httpprobe makes one timed HTTP request through the suite's client:
// the phases of net/http/httptrace (DNS, connect, TLS, first byte, total),
// the facts of the TLS connection, and the body streamed to the caller's
// writer under a byte bound, so a 50 MB tarball is hashed without being held.
//
// The caller owns the deadline (the run's context); a request stopped by it
// comes back as a timeout Problem naming the phase it was in ("timeout after
// 2s waiting for the body of GET http://origin1/x.tgz (1024 bytes read)").
package httpprobe

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/registry-checks/registry-checks/lib/httpclient"
	"github.com/registry-checks/registry-checks/lib/nagios"
	"github.com/registry-checks/registry-checks/lib/secret"
)

// Request is one probe.
type Request struct {
	Method string // GET when empty
	URL    string
	// Host is sent as the Host header instead of the URL's, for origins
	// that are virtual hosts of the public name. TLS still uses the URL's
	// host as server name, as curl -H Host does.
	Host   string
	Header http.Header
	// MaxBytes bounds how much of the body is read; the rest is left
	// unread and Response.Truncated set. 0 reads no body at all. The
	// client's own body cap (httpclient.Config.MaxBody) must be larger.
	MaxBytes int64
	// Body receives the body as it streams (a hash, a JSON buffer); nil
	// discards it.
	Body io.Writer
	// Fresh closes the connection after the request, so that the next
	// probe dials again and its DNS, connect and TLS phases are measured
	// rather than hidden by a reused connection.
	Fresh bool
	// Step, when set, is told what the probe waits for before each wait
	// (the run's -t message names it).
	Step func(string)
}

// Timings are the phases of one request. A phase that did not happen (no
// DNS lookup for an IP address, no TLS for http, nothing on a reused
// connection) is zero.
type Timings struct {
	DNS       time.Duration
	Connect   time.Duration
	TLS       time.Duration
	FirstByte time.Duration // from the start to the first byte of the answer
	Total     time.Duration // from the start to the end of the body read
	Reused    bool          // an idle connection was reused
}

// TLSFacts describe the certificate the server presented.
type TLSFacts struct {
	Version    string
	ServerName string
	Subject    string
	Issuer     string
	NotAfter   time.Time // of the leaf certificate
	// Verified is true when the chain was verified against the trusted
	// roots; false under --insecure or when verification failed.
	Verified bool
	// VerifyError is why verification failed ("" when it did not run or
	// passed).
	VerifyError string
}

// DaysLeft is the time until the leaf certificate expires, in days,
// negative once expired.
func (t *TLSFacts) DaysLeft(now time.Time) float64 {
	return t.NotAfter.Sub(now).Hours() / 24
}

// Response is what a probe saw, as far as it got.
type Response struct {
	Status        int // 0 when no answer came
	Proto         string
	Header        http.Header
	ContentLength int64 // from the Content-Length header, -1 when not sent
	Bytes         int64 // body bytes read
	Truncated     bool  // the body was longer than MaxBytes; reading stopped there
	Timings       Timings
	TLS           *TLSFacts // nil for plain HTTP or when no certificate was seen
}

// Prober sends probes through one client of the suite.
type Prober struct {
	hc  *httpclient.Client
	now func() time.Time
}

// New returns a Prober using hc (the run's client, or one derived from it
// with httpclient.Client.With).
func New(hc *httpclient.Client) *Prober { return &Prober{hc: hc, now: time.Now} }

// phases records what the request is waiting for, written from httptrace
// callbacks on the transport's goroutines.
type phases struct {
	mu   sync.Mutex
	now  func() time.Time
	what string

	dnsStart, connStart, tlsStart time.Time
	t                             Timings
	tls                           *tls.ConnectionState
}

func (p *phases) set(what string) {
	p.mu.Lock()
	p.what = what
	p.mu.Unlock()
}

func (p *phases) get() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.what
}

func (p *phases) trace(where string) *httptrace.ClientTrace {
	return &httptrace.ClientTrace{
		GotConn: func(info httptrace.GotConnInfo) {
			p.mu.Lock()
			p.t.Reused = info.Reused
			p.what = "response headers of " + where
			p.mu.Unlock()
		},
		DNSStart: func(info httptrace.DNSStartInfo) {
			p.mu.Lock()
			p.dnsStart = p.now()
			p.what = "DNS lookup of " + info.Host + " for " + where
			p.mu.Unlock()
		},
		DNSDone: func(httptrace.DNSDoneInfo) {
			p.mu.Lock()
			p.t.DNS = p.now().Sub(p.dnsStart)
			p.mu.Unlock()
		},
		ConnectStart: func(_, addr string) {
			p.mu.Lock()
			if p.connStart.IsZero() {
				p.connStart = p.now()
			}
			p.what = "TCP connection to " + addr + " for " + where
			p.mu.Unlock()
		},
		ConnectDone: func(_, _ string, err error) {
			p.mu.Lock()
			if err == nil {
				p.t.Connect = p.now().Sub(p.connStart)
			}
			p.mu.Unlock()
		},
		TLSHandshakeStart: func() {
			p.mu.Lock()
			p.tlsStart = p.now()
			p.what = "TLS handshake for " + where
			p.mu.Unlock()
		},
		TLSHandshakeDone: func(cs tls.ConnectionState, err error) {
			p.mu.Lock()
			p.t.TLS = p.now().Sub(p.tlsStart)
			if err == nil {
				p.tls = &cs
			}
			p.mu.Unlock()
		},
		WroteRequest: func(httptrace.WroteRequestInfo) {
			p.set("response headers of " + where)
		},
	}
}

// Do sends the probe under ctx and reads the body as Request says. The
// Response is never nil: on failure it holds what was seen before (the
// timings so far, the certificate of a failed verification). The error is
// a *nagios.Problem in httpclient's vocabulary; a timeout names the phase.
// Any HTTP status is a Response, not an error: judging it is the caller's
// job. A redirect is returned as its 3xx Response, never followed.
func (p *Prober) Do(ctx context.Context, r Request) (*Response, error) {
	method := r.Method
	if method == "" {
		method = http.MethodGet
	}
	where := method + " " + secret.RedactURL(r.URL)
	out := &Response{ContentLength: -1}
	ph := &phases{now: p.now, what: where}
	step := func(s string) {
		ph.set(s)
		if r.Step != nil {
			r.Step(s)
		}
	}

	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, ph.trace(where)), method, r.URL, nil)
	if err != nil {
		return out, &nagios.Problem{Status: nagios.UNKNOWN, Msg: oneLine(fmt.Sprintf("%s: invalid request: %v", where, err)), Err: err}
	}
	for k, vs := range r.Header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	if r.Host != "" {
		req.Host = r.Host
	}
	req.Close = r.Fresh

	start := p.now()
	step(where)
	resp, err := p.hc.HTTP().Do(req)
	var redirect *httpclient.RedirectError
	if err != nil && resp != nil && errors.As(err, &redirect) {
		// The client does not follow redirects; for a probe the 3xx is
		// the answer (its body is already closed).
		err = nil
		resp.Body = http.NoBody
	}
	ph.mu.Lock()
	out.Timings = ph.t
	ph.mu.Unlock()
	if err != nil {
		out.Timings.Total = p.now().Sub(start)
		out.TLS = factsFromError(err)
		return out, p.problem(ctx, start, method, r.URL, ph.get(), err)
	}
	defer resp.Body.Close()
	out.Timings.FirstByte = p.now().Sub(start)
	out.Status = resp.StatusCode
	out.Proto = resp.Proto
	out.Header = resp.Header
	out.ContentLength = resp.ContentLength
	if resp.TLS != nil {
		out.TLS = facts(resp.TLS)
	}

	if r.MaxBytes > 0 {
		bodyStep := "the body of " + where
		step(bodyStep)
		dst := r.Body
		if dst == nil {
			dst = io.Discard
		}
		n, err := io.Copy(dst, io.LimitReader(resp.Body, r.MaxBytes))
		out.Bytes = n
		if err == nil && n == r.MaxBytes {
			// One byte more tells a body of exactly MaxBytes from a longer one.
			var one [1]byte
			m, rerr := io.ReadFull(resp.Body, one[:])
			if m > 0 {
				out.Truncated = true
			} else if rerr != nil && !errors.Is(rerr, io.EOF) && !errors.Is(rerr, io.ErrUnexpectedEOF) {
				err = rerr
			}
		}
		if err != nil {
			out.Timings.Total = p.now().Sub(start)
			prob := p.problem(ctx, start, method, r.URL, fmt.Sprintf("%s (%d bytes read)", bodyStep, n), err)
			var closed *httpclient.ClosedEarlyError
			if !prob.Timeout && !errors.As(err, &closed) { // that one says it already
				prob.Msg += fmt.Sprintf(" (after %d bytes of the body)", n)
			}
			return out, prob
		}
	}
	out.Timings.Total = p.now().Sub(start)
	return out, nil
}

// problem classifies a failure; a timeout names the phase it stopped.
func (p *Prober) problem(ctx context.Context, start time.Time, method, rawURL, phase string, err error) *nagios.Problem {
	elapsed := p.now().Sub(start)
	prob := httpclient.ClassifyAfter(elapsed, method, rawURL, nil, err)
	if prob.Timeout || errors.Is(ctx.Err(), context.DeadlineExceeded) {
		prob.Timeout = true
		prob.Msg = fmt.Sprintf("timeout after %s waiting for %s", seconds(elapsed), phase)
	}
	return prob
}

func facts(cs *tls.ConnectionState) *TLSFacts {
	if len(cs.PeerCertificates) == 0 {
		return nil
	}
	f := certFacts(cs.PeerCertificates[0])
	f.Version = tls.VersionName(cs.Version)
	f.ServerName = cs.ServerName
	f.Verified = len(cs.VerifiedChains) > 0
	return f
}

// factsFromError recovers the certificate of a failed verification, so an
// expired certificate still reports its days left.
func factsFromError(err error) *TLSFacts {
	var ve *tls.CertificateVerificationError
	if !errors.As(err, &ve) || len(ve.UnverifiedCertificates) == 0 {
		return nil
	}
	f := certFacts(ve.UnverifiedCertificates[0])
	if ve.Err != nil {
		f.VerifyError = ve.Err.Error()
	}
	return f
}

func certFacts(c *x509.Certificate) *TLSFacts {
	return &TLSFacts{Subject: c.Subject.String(), Issuer: c.Issuer.String(), NotAfter: c.NotAfter}
}

func seconds(d time.Duration) string {
	// A deadline of 1s ends a hair early or late: say "1s", as the
	// operator wrote it, not "0.998s".
	if d < 100*time.Millisecond {
		d = d.Round(time.Millisecond)
	} else {
		d = d.Round(100 * time.Millisecond)
	}
	return strconv.FormatFloat(d.Seconds(), 'f', -1, 64) + "s"
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
