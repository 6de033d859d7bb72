// Package couch connects to one CouchDB node (options, credentials, the
// kivik client) and reads its monitoring endpoints into typed views. Every
// failure comes back as a *nagios.Problem in httpclient's vocabulary.
package couch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"time"

	kivik "github.com/go-kivik/kivik/v4"
	"github.com/go-kivik/kivik/v4/couchdb"
	"github.com/go-kivik/kivik/v4/couchdb/chttp"

	"github.com/registry-checks/registry-checks/lib/httpclient"
	"github.com/registry-checks/registry-checks/lib/nagios"
	"github.com/registry-checks/registry-checks/lib/secret"
)

// Environment variables read when neither --credentials-file nor the URL
// give credentials.
const (
	EnvUser     = "COUCHDB_USER"
	EnvPassword = "COUCHDB_PASSWORD"
)

// DefaultURL is the node a check talks to when -u is not given.
const DefaultURL = "http://127.0.0.1:5984"

// Options are the flags of every binary that talks to one CouchDB node.
//
// Credentials come from, highest precedence first: --credentials-file,
// user:password@ in --url, COUCHDB_USER/COUCHDB_PASSWORD. A lower source
// only fills what a higher one lacks, and never for a different user (see
// secret.Credentials.Or): --url http://admin@db2:5984 with COUCHDB_PASSWORD
// set works; a file for "monitor" ignores COUCHDB_USER=admin's password.
type Options struct {
	URL             string `short:"u" long:"url" value-name:"URL" default:"http://127.0.0.1:5984" description:"CouchDB node URL; user:password@ in it is accepted and never printed"`
	CredentialsFile string `long:"credentials-file" value-name:"PATH" description:"file with user:password, or user=/password= lines (mode 600 or 640); else COUCHDB_USER/COUCHDB_PASSWORD"`
	// Flag is the option errors name the URL by (default "--url"): a
	// second node given by another option (check_couch_promotion's
	// --primary) is named by it.
	Flag string `no-flag:"true"`
}

// Resolve returns the node URL without credentials (no trailing slash) and
// the credentials to use, looking environment variables up with lookup
// (os.LookupEnv in production).
func (o Options) Resolve(lookup func(string) (string, bool)) (base string, creds secret.Credentials, err error) {
	flag := o.Flag
	if flag == "" {
		flag = "--url"
	}
	raw := strings.TrimSpace(o.URL)
	if raw == "" {
		raw = DefaultURL
	}
	if !strings.Contains(raw, "://") {
		raw = "http://" + raw // "db2:5984" is what people type
	}
	clean, urlCreds, err := secret.SplitURL(raw)
	if err != nil {
		return "", secret.Credentials{}, fmt.Errorf("%s: %w", flag, err)
	}
	u, err := url.Parse(clean)
	if err != nil {
		return "", secret.Credentials{}, fmt.Errorf("%s %s: %v", flag, secret.RedactURL(raw), err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", secret.Credentials{}, fmt.Errorf("%s %s: scheme must be http or https", flag, secret.RedactURL(raw))
	}
	if u.Host == "" {
		return "", secret.Credentials{}, fmt.Errorf("%s %s: no host", flag, secret.RedactURL(raw))
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return "", secret.Credentials{}, fmt.Errorf("%s %s: must not have a query or fragment", flag, secret.RedactURL(raw))
	}
	var fileCreds secret.Credentials
	if o.CredentialsFile != "" {
		if fileCreds, err = secret.LoadFile(o.CredentialsFile); err != nil {
			return "", secret.Credentials{}, err
		}
	}
	envCreds := secret.FromLookup(lookup, EnvUser, EnvPassword, "")
	creds = fileCreds.Or(urlCreds).Or(envCreds)
	return strings.TrimSuffix(clean, "/"), creds, nil
}

// Client is a connection to one CouchDB node.
type Client struct {
	kv    *kivik.Client
	hc    *httpclient.Client
	base  string
	creds secret.Credentials

	// PageSize is the limit of each request of a paged endpoint
	// (_scheduler/jobs, _scheduler/docs). CouchDB returns 100 jobs when
	// no limit is given, whatever total_rows says.
	PageSize int
	// DBsInfoBatch is how many databases one POST /_dbs_info asks for;
	// CouchDB refuses more than max_db_number_for_dbs_info_req (100).
	DBsInfoBatch int
	// DBInfoConcurrency bounds the requests DBsInfo has in flight: POST
	// /_dbs_info batches after the first, or GET /{db} on a server without
	// it (see bounded).
	DBInfoConcurrency int

	// noDBsInfo is set once an answer's headers said the server is one
	// without POST /_dbs_info (see lacksDBsInfo), so that DBsInfo goes
	// straight to GET /{db} instead of asking to learn it.
	noDBsInfo atomic.Bool
}

// Connect resolves opts (environment from os.LookupEnv) and builds the
// client. Its errors are usage errors for the caller to report as UNKNOWN.
func Connect(opts Options, hc *httpclient.Client) (*Client, error) {
	base, creds, err := opts.Resolve(os.LookupEnv)
	if err != nil {
		return nil, err
	}
	return New(base, creds, hc)
}

// New builds the client for base (a URL without credentials) with creds.
// kivik gets the shared *http.Client (TLS, User-Agent, body cap, redirect
// policy) and basic auth; cookie auth is avoided because every check run is
// one short session and a _session round trip would double the requests.
func New(base string, creds secret.Credentials, hc *httpclient.Client) (*Client, error) {
	base = strings.TrimSuffix(base, "/")
	opts := []kivik.Option{couchdb.OptionHTTPClient(hc.HTTP())}
	if creds.User != "" || creds.Password != "" {
		opts = append(opts, couchdb.BasicAuth(creds.User, creds.Password))
	} else if creds.Token != "" {
		opts = append(opts, couchdb.JWTAuth(creds.Token))
	}
	kv, err := kivik.New("couch", base, opts...)
	if err != nil {
		return nil, fmt.Errorf("CouchDB client for %s: %v", secret.RedactURL(base), err)
	}
	return &Client{kv: kv, hc: hc, base: base, creds: creds, PageSize: 500, DBsInfoBatch: 100, DBInfoConcurrency: 8}, nil
}

// Kivik is the kivik client, for calls this package has no method for.
// Turn its errors into Problems with Problem.
func (c *Client) Kivik() *kivik.Client { return c.kv }

// URL is the node's base URL, without credentials or trailing slash.
func (c *Client) URL() string { return c.base }

// Credentials are the node's credentials, for requests this client does not
// make itself (a replication's source, when it shares the node's).
func (c *Client) Credentials() secret.Credentials { return c.creds }

// User is the user requests authenticate as ("" when anonymous).
func (c *Client) User() string { return c.creds.User }

// Redactor is the run's redactor, the HTTP client's (nil when none).
func (c *Client) Redactor() *secret.Redactor { return c.hc.Redactor() }

// Secrets are the values the run's Redactor must register.
func (c *Client) Secrets() []string { return c.creds.Secrets() }

// Close releases the kivik client.
func (c *Client) Close() error { return c.kv.Close() }

func (c *Client) url(path string, query url.Values) string {
	u := c.base + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	return u
}

// getJSON GETs a path of the node into v.
func (c *Client) getJSON(ctx context.Context, path string, query url.Values, v any) error {
	return c.hc.GetJSON(ctx, c.url(path, query), c.creds, v)
}

// Problem turns an error of a kivik call into a *nagios.Problem with the
// vocabulary of httpclient.Classify. method and path name the request in
// the message (kivik's errors do not always say), start is when the call
// began (for "timeout after Xs"). A Problem passes through unchanged.
func (c *Client) Problem(method, path string, start time.Time, err error) error {
	if err == nil {
		return nil
	}
	var p *nagios.Problem
	if errors.As(err, &p) {
		return p
	}
	where := c.base + path
	var he *chttp.HTTPError
	if errors.As(err, &he) && he.Response != nil {
		se := &httpclient.StatusError{Method: method, URL: where, Code: he.Response.StatusCode, Reason: httpclient.ServerReason(c.Redactor(), he.Reason), User: c.creds.User}
		if req := he.Response.Request; req != nil {
			se.Method = req.Method
			se.URL = req.URL.String()
		}
		if se.Code >= 300 && se.Code < 400 {
			se.Location = he.Response.Header.Get("Location")
		}
		return httpclient.StatusProblem(se)
	}
	// An EOF outside a *url.Error comes from kivik decoding a 2xx body:
	// the answer stopped short, which GetJSON reports the same way; a
	// server hanging up before its headers arrives inside a *url.Error.
	var closed *httpclient.ClosedEarlyError
	if errors.As(err, &closed) {
		return httpclient.ClassifyAfter(time.Since(start), method, where, nil, err)
	}
	var netErr net.Error
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) || (errors.As(err, &netErr) && netErr.Timeout()) {
		return httpclient.ClassifyAfter(time.Since(start), method, where, nil, err)
	}
	if what, ok := kivikDecodeText(err.Error()); ok {
		return httpclient.ShapeProblem(method, where, errors.New(what))
	}
	var ue *url.Error
	if (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)) && !errors.As(err, &ue) {
		return &nagios.Problem{Status: nagios.UNKNOWN, Err: err, Msg: method + " " + secret.RedactURL(where) + ": truncated or empty JSON answer"}
	}
	// kivik refuses a 2xx answer that is not JSON with a bare error
	// naming the Content-Type; an operator needs that type, not kivik's name.
	const badType = "kivik: invalid content type in response: "
	if i := strings.Index(err.Error(), badType); i >= 0 {
		// Server text: redacted whole before the cut.
		ct := c.Redactor().Clip(OneLine(err.Error()[i+len(badType):]), 103)
		return &nagios.Problem{Status: nagios.UNKNOWN, Err: err, Msg: method + " " + secret.RedactURL(where) + ": the answer is " + ct + ", not JSON (is the URL a CouchDB node?)"}
	}
	// Transport failures (wrapped by kivik), JSON decode errors and the
	// body cap are recognised by httpclient; anything else is UNKNOWN.
	return httpclient.ClassifyAfter(time.Since(start), method, where, nil, err)
}

// GetJSON GETs a path of the node (query may be nil) into v, for the
// endpoints kivik has no call for (/_config on 1.x and PouchDB Server).
func (c *Client) GetJSON(ctx context.Context, path string, query url.Values, v any) error {
	return c.getJSON(ctx, path, query, v)
}

// ForEach calls f for 0..n-1, DBInfoConcurrency calls at a time, and
// returns the first error (see bounded): per-database requests of a
// caller, as gentle on the node as DBsInfo's.
func (c *Client) ForEach(ctx context.Context, n int, f func(ctx context.Context, i int) error) error {
	if n == 0 {
		return nil
	}
	return c.bounded(ctx, n, f)
}

// PostJSON POSTs body as JSON to a path of the node and decodes the answer
// into v (nil: discarded), for the endpoints kivik has no call for
// (POST /_replicate).
func (c *Client) PostJSON(ctx context.Context, path string, body, v any) error {
	_, err := c.hc.JSON(ctx, "POST", c.url(path, nil), c.creds, body, v)
	return err
}

// PutJSON PUTs body as JSON to a path of the node, for what kivik's types
// cannot carry: a _security object with fields of its own (kivik's
// Security keeps admins and members only).
func (c *Client) PutJSON(ctx context.Context, path string, body, v any) error {
	_, err := c.hc.JSON(ctx, "PUT", c.url(path, nil), c.creds, body, v)
	return err
}

// kivikDecodeText rewords kivik's complaints about an answer it could not
// walk, which print Go values ("found %!q(float64=5) in place of _rev
// value", "unexpected JSON token <nil>: <nil>", "unexpected JSON token:
// (json.Delim) }"), as what was wrong with the answer.
func kivikDecodeText(msg string) (string, bool) {
	switch {
	case strings.Contains(msg, "unable to determine document revision"):
		return "not a document with a string _rev", true
	case strings.Contains(msg, "unexpected JSON token"), strings.Contains(msg, "expected '{' token"),
		strings.Contains(msg, "json.Delim"), strings.Contains(msg, "%!"), strings.Contains(msg, "<nil>"):
		return "not the JSON object CouchDB sends (null, a list or a value of another type where an object belongs)", true
	}
	return "", false
}
