package metrics

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/registry-checks/registry-checks/lib/secret"
	"github.com/registry-checks/registry-checks/lib/version"
)

// maxResponseBytes caps how much of an InfluxDB answer is read: a write
// answers 204 with no body, errors are one short JSON object.
const maxResponseBytes = 64 << 10

// HTTPConfig says where and how HTTPSink writes.
//
// A Bucket (or Org) selects the InfluxDB 2.x API, POST {URL}/api/v2/write,
// and DB and RP are then ignored; otherwise DB selects the 1.x API, POST
// {URL}/write. Token is sent as "Authorization: Token ..." (2.x, and the 1.x
// compatibility API of 2.x); otherwise Username and Password go as HTTP basic
// auth, never in the query string where proxies would log them.
type HTTPConfig struct {
	URL      string // base URL, e.g. http://influx:8086 or https://host/influx; userinfo is moved to basic auth
	DB       string // 1.x database
	RP       string // 1.x retention policy; empty for the default one
	Org      string // 2.x organisation name
	Bucket   string // 2.x bucket
	Username string
	Password string
	Token    string
	// Redactor is the run's: the server's error text is redacted with it
	// (and with Password and Token, registered there) before it is cut.
	// nil: a redactor of the sink's own.
	Redactor *secret.Redactor
}

// HTTPSink writes points to InfluxDB over its HTTP API.
type HTTPSink struct {
	client   *http.Client
	endpoint string // full write URL, no credentials: safe to print
	username string
	password string
	token    string
	red      *secret.Redactor
}

// NewHTTPSink checks cfg and returns a sink using client, the suite's shared
// HTTP client (it carries the TLS settings and timeouts); a nil client means
// http.DefaultClient.
func NewHTTPSink(client *http.Client, cfg HTTPConfig) (*HTTPSink, error) {
	if client == nil {
		client = http.DefaultClient
	}
	u, err := url.Parse(cfg.URL)
	if err != nil {
		// url.Parse's error quotes the whole URL, which may hold a password.
		return nil, fmt.Errorf("InfluxDB URL %q is not a valid URL", secret.RedactURL(cfg.URL))
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("InfluxDB URL %q: scheme must be http or https", secret.RedactURL(cfg.URL))
	}
	if u.Host == "" {
		return nil, fmt.Errorf("InfluxDB URL %q has no host", secret.RedactURL(cfg.URL))
	}
	s := &HTTPSink{client: client, username: cfg.Username, password: cfg.Password, token: cfg.Token, red: cfg.Redactor}
	if s.red == nil {
		s.red = &secret.Redactor{}
	}
	s.red.AddCredentials(secret.Credentials{User: cfg.Username, Password: cfg.Password, Token: cfg.Token})
	if u.User != nil {
		if s.username == "" {
			s.username = u.User.Username()
			s.password, _ = u.User.Password()
		}
		u.User = nil
	}
	base := strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	u.Fragment = ""
	q := url.Values{}
	switch {
	case cfg.Bucket != "" || cfg.Org != "":
		if cfg.Bucket == "" || cfg.Org == "" {
			return nil, fmt.Errorf("InfluxDB %s: the 2.x API needs both an org and a bucket (got org %q, bucket %q)", u.Redacted(), cfg.Org, cfg.Bucket)
		}
		u.Path = base + "/api/v2/write"
		q.Set("org", cfg.Org)
		q.Set("bucket", cfg.Bucket)
	case cfg.DB != "":
		u.Path = base + "/write"
		q.Set("db", cfg.DB)
		if cfg.RP != "" {
			q.Set("rp", cfg.RP)
		}
	default:
		return nil, fmt.Errorf("InfluxDB %s: no database (1.x) or org and bucket (2.x) given", u.Redacted())
	}
	q.Set("precision", "ns")
	u.RawQuery = q.Encode()
	s.endpoint = u.String()
	return s, nil
}

// Endpoint is the write URL (without credentials), for messages.
func (s *HTTPSink) Endpoint() string { return s.endpoint }

// Write sends points in one request. Points that cannot be encoded are
// reported in the error after the others have been sent.
func (s *HTTPSink) Write(ctx context.Context, points []Point) error {
	body, encErr := Encode(nil, points)
	if len(body) == 0 {
		return encErr
	}
	return errors.Join(s.post(ctx, body), encErr)
}

func (s *HTTPSink) post(ctx context.Context, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.endpoint, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("POST %s: %w", s.endpoint, err)
	}
	req.Header.Set("Content-Type", "text/plain; charset=utf-8")
	req.Header.Set("User-Agent", version.UserAgent())
	switch {
	case s.token != "":
		req.Header.Set("Authorization", "Token "+s.token)
	case s.username != "":
		req.SetBasicAuth(s.username, s.password)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		// *url.Error repeats the URL in quotes; say it once, our way, and keep
		// the cause for errors.Is (context.DeadlineExceeded, ECONNREFUSED).
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("POST %s: %w", s.endpoint, err)
	}
	defer resp.Body.Close()
	msg, readErr := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	// Only 204: a 200 comes from something that is not InfluxDB's write
	// endpoint (a proxy's login page), and taking it as success loses points.
	if resp.StatusCode == http.StatusNoContent {
		return nil
	}
	we := &WriteError{
		URL:        s.endpoint,
		StatusCode: resp.StatusCode,
		Message:    s.red.Clip(influxMessage(s.red.Redact(string(msg))), messageLimit),
	}
	if readErr != nil && we.Message == "" {
		we.Message = "reading the answer: " + readErr.Error()
	}
	return we
}

// WriteError is an answer other than 204 from InfluxDB.
type WriteError struct {
	URL        string // the write URL, without credentials
	StatusCode int
	Message    string // InfluxDB's error message, or the start of the body
}

func (e *WriteError) Error() string {
	s := fmt.Sprintf("POST %s: %d %s", e.URL, e.StatusCode, http.StatusText(e.StatusCode))
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// Permanent reports whether sending the same points again can never
// succeed: InfluxDB refused the data itself (a field type conflict, a point
// outside the retention period, unparsable line protocol). Authentication
// and missing-database errors are not permanent: the operator fixes the
// configuration and the spooled points go through.
func (e *WriteError) Permanent() bool {
	return e.StatusCode == http.StatusBadRequest || e.StatusCode == http.StatusUnprocessableEntity
}

// IsPermanent reports whether err says the points were refused for good, so
// spooling them would only block the points behind them.
func IsPermanent(err error) bool {
	var p interface{ Permanent() bool }
	return errors.As(err, &p) && p.Permanent()
}

// influxMessage pulls the message out of 1.x {"error":"..."} and
// 2.x {"code":"...","message":"..."} answers, falling back to the body's
// first line.
//
// The body is redacted before (a proxy or a future InfluxDB may echo the
// request), the message cut after, at messageLimit bytes.
func influxMessage(body string) string {
	var m struct {
		Error   string `json:"error"`
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	if json.Unmarshal([]byte(body), &m) == nil {
		switch {
		case m.Error != "":
			return firstLine(m.Error)
		case m.Message != "":
			return firstLine(m.Message)
		}
	}
	return firstLine(body)
}

// messageLimit bounds the server's message in an error, in bytes.
const messageLimit = 303

// firstLine keeps the first line of a message, as plain text.
func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = s[:i]
	}
	return secret.Sanitize(s)
}
