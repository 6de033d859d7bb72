// Package httpclient is the suite's one HTTP client: TLS options shared by
// every binary, a User-Agent, a cap on response bodies, JSON requests, and
// the one place where HTTP failures become Nagios states (Classify).
package httpclient

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/registry-checks/registry-checks/lib/nagios"
	"github.com/registry-checks/registry-checks/lib/secret"
	"github.com/registry-checks/registry-checks/lib/version"
)

// Options are the TLS flags every HTTP-speaking binary accepts.
type Options struct {
	CAFile   string `long:"ca-file" value-name:"PATH" description:"PEM file of CA certificates to trust for HTTPS, in addition to the system roots"`
	CertFile string `long:"cert-file" value-name:"PATH" description:"PEM client certificate for HTTPS servers that require one (needs --key-file)"`
	KeyFile  string `long:"key-file" value-name:"PATH" description:"PEM private key of --cert-file"`
	Insecure bool   `long:"insecure" description:"do not verify the server's TLS certificate (for tests; prefer --ca-file)"`
}

// DefaultMaxBody is the response body cap when Config.MaxBody is 0. The
// biggest answer a check reads, _scheduler/docs of a node with a thousand
// replications, is about 1 MB.
const DefaultMaxBody = 16 << 20

// DefaultMaxJSON is the cap on a JSON answer when Config.MaxJSON is 0:
// the biggest a check reads are a _scheduler/docs page of 500
// replications (under 1 MB), GET /_dbs_info of 10,000 databases (about
// 6 MB) and a packument. Smaller than the body cap, because a JSON answer
// is decoded, and decoding costs memory that a streamed body does not.
const DefaultMaxJSON = 8 << 20

// Timeouts for the phases before a request is on the wire. The overall
// deadline always comes from the context (-t); these only keep a
// black-holed address from eating all of it silently.
const (
	DialTimeout         = 10 * time.Second
	TLSHandshakeTimeout = 10 * time.Second
)

// Config tunes a Client; the zero value is the default.
type Config struct {
	// MaxBody caps every response body (after gzip decoding); a larger
	// body is an UNKNOWN problem. 0 means DefaultMaxBody.
	MaxBody int64
	// MaxJSON caps every JSON answer (one whose Content-Type is JSON, and
	// every answer JSON decodes whatever its type) after gzip decoding;
	// 0 means DefaultMaxJSON. It is never more than MaxBody.
	MaxJSON int64
	// RawBodies is for a client that reads bodies as bytes (a probe of
	// CDN URLs): a JSON answer gets MaxBody and no token guard, as any
	// other body. JSON() still decodes under MaxJSON.
	RawBodies bool
	// UserAgent is sent with every request; empty means version.UserAgent().
	UserAgent string
	// FollowRedirects is how many redirects a request follows. The default
	// 0 reports a redirect as a problem naming the Location: a monitoring
	// target that redirects is misconfigured, and following it silently
	// would check something else than the operator named.
	FollowRedirects int
	// Resolve maps "host:port" of a URL to the address to connect to
	// instead, like curl's --resolve: the URL, the Host header and the TLS
	// server name stay the URL's, only the TCP connection goes elsewhere
	// (one edge node of a CDN, an origin behind a load balancer).
	// ParseResolve reads curl's syntax.
	Resolve map[string]string
	// Redactor is the run's: server text the client quotes (an error's
	// reason) is redacted with it before it is cut. nil knows no secret.
	Redactor *secret.Redactor
}

// Client wraps the one *http.Client of a run.
type Client struct {
	hc      *http.Client
	maxBody int64
	opts    Options
	cfg     Config
}

// New builds the client from the TLS options. The errors name the file at
// fault; they are usage errors (UNKNOWN) for the caller.
func New(opts Options, cfg Config) (*Client, error) {
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = DefaultMaxBody
	}
	if cfg.MaxJSON <= 0 {
		cfg.MaxJSON = DefaultMaxJSON
	}
	cfg.MaxJSON = min(cfg.MaxJSON, cfg.MaxBody)
	if cfg.UserAgent == "" {
		cfg.UserAgent = version.UserAgent()
	}
	tlsConf, err := tlsConfig(opts)
	if err != nil {
		return nil, err
	}
	dial := (&net.Dialer{
		Timeout:   DialTimeout,
		KeepAlive: 30 * time.Second,
	}).DialContext
	if len(cfg.Resolve) > 0 {
		dial = resolvingDialer(cfg.Resolve, dial)
	}
	base := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           dial,
		TLSClientConfig:       tlsConf,
		TLSHandshakeTimeout:   TLSHandshakeTimeout,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          32,
		MaxIdleConnsPerHost:   8,
		IdleConnTimeout:       90 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	follow := cfg.FollowRedirects
	hc := &http.Client{
		Transport: &transport{base: base, userAgent: cfg.UserAgent, maxBody: cfg.MaxBody, maxJSON: cfg.MaxJSON, raw: cfg.RawBodies},
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) > follow {
				return redirectError(req)
			}
			return nil
		},
	}
	return &Client{hc: hc, maxBody: cfg.MaxBody, opts: opts, cfg: cfg}, nil
}

// With builds another client from c's TLS options and c's Config changed
// by mod, for the part of a check that needs a different policy (--resolve,
// a body cap fitting tarballs). It goes through New, so it has everything
// the run's client has; it shares no connections with c.
func (c *Client) With(mod func(*Config)) (*Client, error) {
	cfg := c.cfg
	cfg.Resolve = maps.Clone(c.cfg.Resolve)
	mod(&cfg)
	return New(c.opts, cfg)
}

// ParseResolve reads curl's --resolve rules, "host:port:address" (an IPv6
// address may be in brackets; of a comma-separated list of addresses the
// first is used), into a Config.Resolve map. Errors name the rule.
func ParseResolve(rules []string) (map[string]string, error) {
	out := make(map[string]string, len(rules))
	for _, r := range rules {
		host, rest, ok1 := strings.Cut(r, ":")
		port, addr, ok2 := strings.Cut(rest, ":")
		addr, _, _ = strings.Cut(addr, ",")
		addr = strings.TrimSuffix(strings.TrimPrefix(addr, "["), "]")
		if !ok1 || !ok2 || host == "" || addr == "" {
			return nil, fmt.Errorf("--resolve %q: want host:port:address", r)
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("--resolve %q: port %q is not a port number", r, port)
		}
		out[net.JoinHostPort(strings.ToLower(host), port)] = net.JoinHostPort(addr, port)
	}
	return out, nil
}

// resolvingDialer connects to the address rules give for "host:port",
// and to the address asked for otherwise.
func resolvingDialer(rules map[string]string, dial func(ctx context.Context, network, addr string) (net.Conn, error)) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		if host, port, err := net.SplitHostPort(addr); err == nil {
			if to, ok := rules[net.JoinHostPort(strings.ToLower(host), port)]; ok {
				addr = to
			}
		}
		return dial(ctx, network, addr)
	}
}

func tlsConfig(opts Options) (*tls.Config, error) {
	conf := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: opts.Insecure} //nolint:gosec // --insecure is the operator's explicit choice
	if opts.CAFile != "" {
		// Reading a FIFO would block until -t.
		if fi, err := os.Stat(opts.CAFile); err == nil && !fi.Mode().IsRegular() {
			return nil, fmt.Errorf("--ca-file %s is not a regular file", opts.CAFile)
		}
		pem, err := os.ReadFile(opts.CAFile)
		if err != nil {
			return nil, fmt.Errorf("--ca-file %s: %w", opts.CAFile, unwrapPath(err))
		}
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--ca-file %s: no PEM certificate found in it", opts.CAFile)
		}
		conf.RootCAs = pool
	}
	switch {
	case opts.CertFile != "" && opts.KeyFile != "":
		cert, err := tls.LoadX509KeyPair(opts.CertFile, opts.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("--cert-file %s / --key-file %s: %v", opts.CertFile, opts.KeyFile, unwrapPath(err))
		}
		conf.Certificates = []tls.Certificate{cert}
	case opts.CertFile != "":
		return nil, errors.New("--cert-file needs --key-file")
	case opts.KeyFile != "":
		return nil, errors.New("--key-file needs --cert-file")
	}
	return conf, nil
}

func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// HTTP returns the shared *http.Client for code that needs one (metric
// sinks, kivik). Its transport sets the User-Agent and caps bodies; its
// redirect policy is Config.FollowRedirects. It has no Timeout: deadlines
// come from each request's context.
func (c *Client) HTTP() *http.Client { return c.hc }

// Redactor is the run's redactor (nil when none was given).
func (c *Client) Redactor() *secret.Redactor { return c.cfg.Redactor }

// MaxBody is the body cap in bytes.
func (c *Client) MaxBody() int64 { return c.maxBody }

// MaxJSON is the cap on JSON answers in bytes.
func (c *Client) MaxJSON() int64 { return c.cfg.MaxJSON }

// Do sends req under ctx. A transport failure (refused, DNS, TLS, timeout,
// redirect not followed) comes back as a *nagios.Problem; any HTTP status,
// error statuses included, comes back as a response for the caller to
// judge (Classify does it the suite's way). The body is capped: reading
// past the cap fails with *BodyTooLargeError.
func (c *Client) Do(ctx context.Context, req *http.Request) (*http.Response, error) {
	start := time.Now()
	req = req.WithContext(ctx)
	resp, err := c.hc.Do(req)
	if err != nil {
		if resp != nil && resp.Body != nil {
			resp.Body.Close()
		}
		return nil, ClassifyAfter(time.Since(start), req.Method, req.URL.String(), nil, err)
	}
	return resp, nil
}

// GetJSON GETs url and decodes the JSON answer into v. See JSON.
func (c *Client) GetJSON(ctx context.Context, url string, creds secret.Credentials, v any) error {
	_, err := c.JSON(ctx, http.MethodGet, url, creds, nil, v)
	return err
}

// JSON sends method url with body (marshalled as JSON when not nil) and
// decodes the answer into v (skipped when v is nil). Credentials go as
// basic auth when a user or password is set, else a token goes as a bearer
// token.
//
// A 2xx answer is decoded. So is an answer whose status is in accept, for
// endpoints whose error statuses carry information (/_up answers 404 in
// maintenance mode). Every other status becomes the *nagios.Problem of
// Classify, whose Err is a *StatusError for callers that judge a status
// differently. An answer that is not valid JSON, or bigger than the cap,
// is UNKNOWN, naming the URL and the decoder's reason, never the body.
// The status is returned whenever a response came.
func (c *Client) JSON(ctx context.Context, method, url string, creds secret.Credentials, body, v any, accept ...int) (int, error) {
	start := time.Now()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, &nagios.Problem{Status: nagios.UNKNOWN, Msg: fmt.Sprintf("%s %s: cannot encode the request body: %v", method, secret.RedactURL(url), err), Err: err}
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return 0, &nagios.Problem{Status: nagios.UNKNOWN, Msg: oneLine(fmt.Sprintf("%s %s: invalid request: %v", method, secret.RedactURL(url), unwrapURLError(err))), Err: err}
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	switch {
	case creds.User != "" || creds.Password != "":
		req.SetBasicAuth(creds.User, creds.Password)
	case creds.Token != "":
		req.Header.Set("Authorization", "Bearer "+creds.Token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		if resp != nil && resp.Body != nil {
			resp.Body.Close()
		}
		return 0, ClassifyAfter(time.Since(start), method, url, nil, err)
	}
	defer drainClose(resp.Body)
	ok := resp.StatusCode >= 200 && resp.StatusCode < 300
	for _, a := range accept {
		ok = ok || resp.StatusCode == a
	}
	if !ok {
		return resp.StatusCode, classify(c.cfg.Redactor, method, url, resp)
	}
	if v == nil {
		return resp.StatusCode, nil
	}
	// The transport capped a JSON Content-Type at MaxJSON; an answer of
	// another type decoded as JSON gets the same cap here.
	answer := io.Reader(resp.Body)
	if _, ok := resp.Body.(*guardedBody); !ok {
		answer = &cappedBody{rc: resp.Body, left: c.cfg.MaxJSON, limit: c.cfg.MaxJSON}
	}
	if err := DecodeStream(answer, v); err != nil {
		return resp.StatusCode, decodeProblem(time.Since(start), method, url, resp, err)
	}
	if err := CheckShape(v); err != nil {
		return resp.StatusCode, ShapeProblem(method, url, err)
	}
	return resp.StatusCode, nil
}

// Shaped is a decoded answer that can tell whether it has the shape of
// the endpoint's answer: JSON decodes null, {} or a document of all-null
// fields into zero values without complaint, and a zero value would read
// as "nothing there" (no replication, no database) rather than garbage.
type Shaped interface {
	// CheckShape says what is wrong with the answer ("no docs list",
	// "docs[3] has no state"), or nil.
	CheckShape() error
}

// CheckShape is v.CheckShape() when v is Shaped, else nil.
func CheckShape(v any) error {
	if s, ok := v.(Shaped); ok {
		return s.CheckShape()
	}
	return nil
}

// ShapeProblem is the UNKNOWN of a decoded answer of the wrong shape.
func ShapeProblem(method, rawURL string, err error) *nagios.Problem {
	return &nagios.Problem{Status: nagios.UNKNOWN, Err: err,
		Msg: oneLine(method + " " + secret.RedactURL(rawURL) + ": not the answer CouchDB gives: " + err.Error())}
}

// drainClose reads a little of what is left so the connection can be
// reused, then closes.
func drainClose(rc io.ReadCloser) {
	_, _ = io.Copy(io.Discard, io.LimitReader(rc, 64<<10))
	_ = rc.Close()
}

// transport sets the User-Agent on every request (overriding kivik's) and
// caps every response body, so that kivik and the sinks get both too.
type transport struct {
	base      http.RoundTripper
	userAgent string
	maxBody   int64
	maxJSON   int64
	raw       bool
}

// isJSON says whether a Content-Type is JSON (application/json, or a
// +json type).
func isJSON(ct string) bool {
	mt, _, _ := mime.ParseMediaType(ct)
	return mt == "application/json" || strings.HasSuffix(mt, "+json")
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	r := req.Clone(req.Context()) // a RoundTripper must not modify the request
	r.Header.Set("User-Agent", t.userAgent)
	resp, err := t.base.RoundTrip(r)
	if err != nil || resp.Body == nil {
		return resp, err
	}
	if !t.raw && isJSON(resp.Header.Get("Content-Type")) {
		// kivik decodes JSON answers whole: the token guard bounds what
		// one string of them can cost.
		capped := &cappedBody{rc: resp.Body, left: t.maxJSON, limit: t.maxJSON}
		resp.Body = &guardedBody{Reader: GuardJSON(capped, 0), capped: capped}
		return resp, nil
	}
	resp.Body = &cappedBody{rc: resp.Body, left: t.maxBody, limit: t.maxBody}
	return resp, nil
}

// ClosedEarlyError is the read error of a body the server stopped sending
// before its end (short of its Content-Length, or inside a chunk): the
// connection broke, which is CRITICAL like a refused one. A complete body
// whose JSON stops short is another thing: a malformed answer, UNKNOWN.
type ClosedEarlyError struct {
	Read int64 // bytes of the body read before
	Err  error
}

func (e *ClosedEarlyError) Error() string {
	return fmt.Sprintf("the server closed the connection before a complete answer (after %d bytes of the body)", e.Read)
}

func (e *ClosedEarlyError) Unwrap() error { return e.Err }

// closedEarly tells a broken connection from the other read errors: a
// timeout stays a timeout.
func closedEarly(err error) bool {
	return errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, net.ErrClosed)
}

// BodyTooLargeError is the read error past the body cap.
type BodyTooLargeError struct{ Limit int64 }

func (e *BodyTooLargeError) Error() string {
	return "response body is larger than the " + sizeString(e.Limit) + " limit"
}

func sizeString(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

type cappedBody struct {
	rc    io.ReadCloser
	left  int64
	limit int64
}

func (b *cappedBody) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if b.left <= 0 {
		// Exactly limit bytes is fine; one more is not.
		var one [1]byte
		n, err := b.rc.Read(one[:])
		if n > 0 {
			return 0, &BodyTooLargeError{Limit: b.limit}
		}
		return 0, err
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	if err != nil && err != io.EOF && closedEarly(err) {
		err = &ClosedEarlyError{Read: b.limit - b.left, Err: err}
	}
	return n, err
}

func (b *cappedBody) Close() error { return b.rc.Close() }

// guardedBody is a JSON answer's body: capped at MaxJSON, token-guarded.
type guardedBody struct {
	io.Reader
	capped *cappedBody
}

func (b *guardedBody) Close() error { return b.capped.Close() }
