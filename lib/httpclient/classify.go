package httpclient

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/registry-checks/registry-checks/lib/nagios"
	"github.com/registry-checks/registry-checks/lib/secret"
)

// StatusError is the cause (Problem.Err) of a Problem made from an HTTP
// status, for callers that judge a status differently than Classify:
//
//	var se *httpclient.StatusError
//	if errors.As(err, &se) && se.Code == http.StatusNotFound { ... }
type StatusError struct {
	Method   string
	URL      string // redacted
	Code     int
	User     string // the basic-auth user of the request, if any
	Reason   string // CouchDB's "error: reason" from the body, if any
	Location string // of a redirect
}

func (e *StatusError) Error() string { return StatusProblem(e).Msg }

// HTTPStatus makes StatusError a kivik-style status coder.
func (e *StatusError) HTTPStatus() int { return e.Code }

// RedirectError is the cause of a redirect that was not followed.
type RedirectError struct {
	Code     int
	Location string
}

func (e *RedirectError) Error() string {
	return fmt.Sprintf("redirected (%d) to %s", e.Code, secret.RedactURL(e.Location))
}

func redirectError(next *http.Request) error {
	// next.URL is the Location already resolved against the request URL.
	e := &RedirectError{Location: next.URL.String()}
	if next.Response != nil {
		e.Code = next.Response.StatusCode
	}
	return e
}

// Classify turns the outcome of one HTTP exchange into a Problem in the
// suite's vocabulary, or nil for a 2xx response. Every message is one line
// starting with "METHOD URL: " (URL redacted):
//
//	connection refused, DNS failure, connection reset, TLS failure  CRITICAL
//	5xx                                                            CRITICAL
//	401, 403: "authentication failed for user X" / "access denied"  UNKNOWN
//	401 "You are not a server admin.": "user X is not a server admin:
//	     _scheduler needs one" (the password was right)                  UNKNOWN
//	404 (wrong URL or missing database, the caller may know better) UNKNOWN
//	other 4xx, redirects, undecodable or oversized answers          UNKNOWN
//	deadline exceeded: Timeout set, "timeout waiting for GET URL"   (--timeout-state)
//
// A response body is read (a few KiB at most) for CouchDB's error reason;
// the caller still closes it.
func Classify(method, rawURL string, resp *http.Response, err error) *nagios.Problem {
	return ClassifyAfter(0, method, rawURL, resp, err)
}

// ClassifyAfter is Classify knowing how long the request ran, so that a
// timeout says "timeout after 10s waiting for GET URL".
func ClassifyAfter(elapsed time.Duration, method, rawURL string, resp *http.Response, err error) *nagios.Problem {
	where := method + " " + secret.RedactURL(rawURL)
	if err != nil {
		return transportProblem(elapsed, where, err)
	}
	return classify(nil, method, rawURL, resp)
}

// classify is Classify of a response, the reason in its body redacted
// with red before it is cut.
func classify(red *secret.Redactor, method, rawURL string, resp *http.Response) *nagios.Problem {
	if resp == nil || (resp.StatusCode >= 200 && resp.StatusCode < 300) {
		return nil
	}
	se := &StatusError{Method: method, URL: secret.RedactURL(rawURL), Code: resp.StatusCode, Reason: readReason(resp, red)}
	if resp.Request != nil {
		se.User, _, _ = resp.Request.BasicAuth()
	}
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		se.Location = resp.Header.Get("Location")
		if loc, lerr := resp.Location(); lerr == nil {
			se.Location = loc.String()
		}
	}
	return StatusProblem(se)
}

// StatusProblem is the Problem for an HTTP status; Classify uses it, and
// so does lib/couch for the statuses kivik reports.
func StatusProblem(e *StatusError) *nagios.Problem {
	where := e.Method + " " + secret.RedactURL(e.URL)
	status := fmt.Sprintf("%d %s", e.Code, http.StatusText(e.Code))
	if e.Reason != "" {
		status += " (" + e.Reason + ")"
	}
	p := &nagios.Problem{Status: nagios.UNKNOWN, Err: e}
	switch {
	case e.Code >= 500:
		p.Status = nagios.CRITICAL
		p.Msg = where + ": server error " + status
	case e.Code == http.StatusUnauthorized && strings.Contains(strings.ToLower(e.Reason), "not a server admin"):
		// CouchDB's answer to a user it knows, or to no user at all, on
		// an endpoint only a server admin may read (_scheduler, _all_dbs,
		// _replicator on 3.x): the password is not the problem.
		what := adminResource(e.URL)
		if e.User != "" {
			p.Msg = fmt.Sprintf("%s: user %s is not a server admin: %s needs one (%d %s)", where, e.User, what, e.Code, http.StatusText(e.Code))
		} else {
			p.Msg = fmt.Sprintf("%s: no credentials given, and %s needs a server admin (%d %s)", where, what, e.Code, http.StatusText(e.Code))
		}
	case e.Code == http.StatusUnauthorized:
		if e.User != "" {
			p.Msg = fmt.Sprintf("%s: authentication failed for user %s: %s", where, e.User, status)
		} else {
			p.Msg = fmt.Sprintf("%s: authentication required and no credentials were given: %s", where, status)
		}
	case e.Code == http.StatusForbidden:
		if e.User != "" {
			p.Msg = fmt.Sprintf("%s: access denied for user %s: %s", where, e.User, status)
		} else {
			p.Msg = fmt.Sprintf("%s: access denied without credentials: %s", where, status)
		}
	case e.Code == http.StatusNotFound:
		p.Msg = where + ": not found: " + status
	case e.Code >= 300 && e.Code < 400:
		loc := e.Location
		if loc == "" {
			loc = "(no Location header)"
		}
		p.Msg = fmt.Sprintf("%s: redirected (%d) to %s; point the URL at the final location", where, e.Code, secret.RedactURL(loc))
	default:
		p.Msg = where + ": unexpected answer " + status
	}
	p.Msg = oneLine(p.Msg)
	return p
}

// adminResource names what a request read, for "_scheduler needs one": the
// first segment of the URL's path (_scheduler, _replicator, _all_dbs), or
// for a node-local endpoint its name (_stats of /_node/_local/_stats/...).
func adminResource(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "this endpoint"
	}
	segs := strings.Split(strings.Trim(u.Path, "/"), "/")
	switch {
	case len(segs) >= 3 && segs[0] == "_node":
		return segs[2]
	case segs[0] != "":
		return segs[0]
	}
	return "this endpoint"
}

// ReasonLimit bounds the server's reason quoted in a message, in bytes.
const ReasonLimit = 200

// readReason returns CouchDB's {"error","reason"} of an error answer as
// "error: reason", short and on one line. It is server text: redacted
// whole (with red, the run's) before it is cut, and sanitized.
func readReason(resp *http.Response, red *secret.Redactor) string {
	if resp.Body == nil || resp.Body == http.NoBody {
		return ""
	}
	if ct, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); ct != "application/json" && ct != "text/plain" {
		return ""
	}
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	var body struct {
		Error  string `json:"error"`
		Reason string `json:"reason"`
	}
	if json.Unmarshal(data, &body) != nil {
		return ""
	}
	r := body.Error
	if body.Reason != "" && body.Reason != body.Error {
		if r != "" {
			r += ": "
		}
		r += body.Reason
	}
	return ServerReason(red, r)
}

// ServerReason makes the reason an error answer gave (server text, here
// or through kivik) fit for a message: redacted whole with red (the
// run's; nil only scrubs patterns), made one line, sanitized, then cut to
// ReasonLimit.
func ServerReason(red *secret.Redactor, r string) string {
	return secret.Cut(secret.Sanitize(oneLine(red.Redact(r))), ReasonLimit)
}

func transportProblem(elapsed time.Duration, where string, err error) *nagios.Problem {
	p := &nagios.Problem{Status: nagios.CRITICAL, Err: err}
	var (
		redirect  *RedirectError
		tooLarge  *BodyTooLargeError
		dnsErr    *net.DNSError
		unknownCA x509.UnknownAuthorityError
		hostErr   x509.HostnameError
		invalid   x509.CertificateInvalidError
		verifyErr *tls.CertificateVerificationError
		recordErr tls.RecordHeaderError
		syntax    *json.SyntaxError
		typeErr   *json.UnmarshalTypeError
		netErr    net.Error
		closed    *ClosedEarlyError
		tokenErr  *TokenTooLargeError
	)
	switch {
	case errors.As(err, &redirect):
		p.Status = nagios.UNKNOWN
		p.Msg = fmt.Sprintf("%s: %s; point the URL at the final location", where, redirect)
	case errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &netErr) && netErr.Timeout()):
		p.Status = nagios.UNKNOWN
		p.Timeout = true
		if elapsed > 0 {
			p.Msg = fmt.Sprintf("timeout after %s waiting for %s", seconds(elapsed), where)
		} else {
			p.Msg = "timeout waiting for " + where
		}
	case errors.Is(err, context.Canceled):
		p.Status = nagios.UNKNOWN
		p.Msg = where + ": canceled"
	case errors.As(err, &tooLarge):
		p.Status = nagios.UNKNOWN
		p.Msg = where + ": " + tooLarge.Error()
	case errors.As(err, &tokenErr):
		p.Status = nagios.UNKNOWN
		p.Msg = where + ": " + tokenErr.Error()
	case errors.As(err, &syntax):
		p.Status = nagios.UNKNOWN
		p.Msg = fmt.Sprintf("%s: invalid JSON at byte %d: %s", where, syntax.Offset, strings.TrimPrefix(syntax.Error(), "json: "))
	case errors.As(err, &typeErr):
		p.Status = nagios.UNKNOWN
		p.Msg = fmt.Sprintf("%s: unexpected JSON at byte %d: %s", where, typeErr.Offset, TypeErrorText(typeErr))
	case errors.As(err, &unknownCA), errors.As(err, &hostErr), errors.As(err, &invalid), errors.As(err, &verifyErr):
		p.Msg = fmt.Sprintf("%s: TLS certificate verification failed: %s (use --ca-file or --insecure)", where, certReason(err))
	case errors.As(err, &recordErr), strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
		// net/http turns the tls.RecordHeaderError into a plain error.
		p.Status = nagios.UNKNOWN
		p.Msg = where + ": TLS handshake failed: the server speaks plain HTTP on this port (use http://)"
	case errors.As(err, &dnsErr):
		reason := dnsErr.Err
		if dnsErr.IsNotFound {
			reason = "no such host"
		}
		p.Msg = fmt.Sprintf("%s: DNS lookup of %s failed: %s", where, dnsErr.Name, reason)
	case errors.Is(err, syscall.ECONNREFUSED):
		p.Msg = where + ": connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		p.Msg = where + ": connection reset by peer"
	case errors.Is(err, syscall.EHOSTUNREACH):
		p.Msg = where + ": host unreachable"
	case errors.Is(err, syscall.ENETUNREACH):
		p.Msg = where + ": network unreachable"
	case errors.As(err, &closed):
		p.Msg = where + ": " + closed.Error()
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		p.Msg = where + ": the server closed the connection before a complete answer"
	default:
		// Unknown failures are UNKNOWN: the plugin cannot say what they mean.
		p.Status = nagios.UNKNOWN
		p.Msg = where + ": " + unwrapURLError(err).Error()
	}
	p.Msg = oneLine(p.Msg)
	return p
}

func certReason(err error) string {
	var verifyErr *tls.CertificateVerificationError
	if errors.As(err, &verifyErr) && verifyErr.Err != nil {
		err = verifyErr.Err
	}
	return unwrapURLError(err).Error()
}

// unwrapURLError drops *url.Error, whose text repeats the URL unredacted.
func unwrapURLError(err error) error {
	var ue *url.Error
	for errors.As(err, &ue) {
		err = ue.Err
	}
	return err
}

// decodeProblem explains a failed decode of a 2xx answer.
func decodeProblem(elapsed time.Duration, method, rawURL string, resp *http.Response, err error) *nagios.Problem {
	var (
		syntax *json.SyntaxError
		closed *ClosedEarlyError
	)
	if !errors.As(err, &closed) && (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)) {
		where := method + " " + secret.RedactURL(rawURL)
		return &nagios.Problem{Status: nagios.UNKNOWN, Err: err, Msg: where + ": truncated or empty JSON answer" + contentTypeHint(resp)}
	}
	p := transportProblem(elapsed, method+" "+secret.RedactURL(rawURL), err)
	if errors.As(err, &syntax) {
		p.Msg += contentTypeHint(resp)
	}
	return p
}

func contentTypeHint(resp *http.Response) string {
	ct := resp.Header.Get("Content-Type")
	if mt, _, _ := mime.ParseMediaType(ct); mt == "application/json" {
		return ""
	}
	if ct == "" {
		return " (no Content-Type)"
	}
	return " (Content-Type " + oneLine(ct) + ")"
}

func seconds(d time.Duration) string {
	d = d.Round(100 * time.Millisecond)
	return strconv.FormatFloat(d.Seconds(), 'f', -1, 64) + "s"
}

// oneLine folds every run of whitespace containing a line break into one
// space: Nagios reads the first line only.
func oneLine(s string) string {
	if !strings.ContainsAny(s, "\r\n") {
		return s
	}
	return strings.Join(strings.Fields(s), " ")
}

// TypeErrorText says what a *json.UnmarshalTypeError found, in JSON's
// words rather than Go's ("cannot unmarshal array into Go value of type
// couch.SchedulerDocs" names our types, not the answer's fault):
// `docs: a list where an object belongs`.
func TypeErrorText(e *json.UnmarshalTypeError) string {
	got := map[string]string{"array": "a list", "object": "an object", "number": "a number", "string": "a string", "bool": "true or false"}[e.Value]
	if got == "" {
		if strings.HasPrefix(e.Value, "number") {
			got = "a number out of range"
		} else {
			got = "a value"
		}
	}
	want := "a value of another type"
	if e.Type != nil {
		switch e.Type.Kind() {
		case reflect.Slice, reflect.Array:
			want = "a list"
		case reflect.Struct, reflect.Map:
			want = "an object"
		case reflect.String:
			want = "a string"
		case reflect.Bool:
			want = "true or false"
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
			reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
			want = "an integer"
		case reflect.Float32, reflect.Float64:
			want = "a number"
		}
	}
	text := got + " where " + want + " belongs"
	if e.Field != "" {
		text = e.Field + ": " + text
	}
	return text
}

// JSONErrorText says why JSON did not decode, in JSON's words: "invalid
// JSON at byte 1: invalid character '<' looking for beginning of value",
// "unexpected JSON at byte 9: docs: an object where a list belongs",
// "truncated JSON". Never a Go type name.
func JSONErrorText(err error) string {
	var (
		syntax  *json.SyntaxError
		typeErr *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &syntax):
		return fmt.Sprintf("invalid JSON at byte %d: %s", syntax.Offset, strings.TrimPrefix(syntax.Error(), "json: "))
	case errors.As(err, &typeErr):
		return fmt.Sprintf("unexpected JSON at byte %d: %s", typeErr.Offset, TypeErrorText(typeErr))
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "truncated or empty JSON"
	}
	return oneLine(strings.TrimPrefix(err.Error(), "json: "))
}
