// Package notify sends alerts and the suite's own actions out of the
// monitoring host: chat incoming webhooks and PagerDuty's Events API v2.
// One way to post (Post, with the suite's HTTP client and redactor), the
// notification as Nagios and Icinga 2 describe it (Event), what chat and
// PagerDuty get from it (ChatText, PagerDuty), and a queue on disk that
// keeps what a receiver could not take and sends it first, in order, on
// the next run (Queue).
package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/registry-checks/registry-checks/lib/httpclient"
	"github.com/registry-checks/registry-checks/lib/nagios"
	"github.com/registry-checks/registry-checks/lib/secret"
)

// PostError is a post a receiver did not take: what was answered (or that
// nothing was), and whether sending the same body again can help.
type PostError struct {
	Code       int           // HTTP status; 0 when no answer came (refused, reset, timeout)
	RetryAfter time.Duration // from a 429's (or 503's) Retry-After; 0 when none
	Permanent  bool          // a 4xx other than 408 and 429: the body is refused as it is
	Timeout    bool
	Msg        string // one line, redacted, without the URL's secret parts
}

func (e *PostError) Error() string { return e.Msg }

// AsPostError returns err as a *PostError, or nil.
func AsPostError(err error) *PostError {
	var pe *PostError
	if errors.As(err, &pe) {
		return pe
	}
	return nil
}

// Permanent reports whether err says the receiver refused the body for
// good (so keeping it to send again would only repeat the refusal).
func Permanent(err error) bool {
	pe := AsPostError(err)
	return pe != nil && pe.Permanent
}

// reasonLimit bounds the receiver's text quoted in a message.
const reasonLimit = 200

// Post sends body (JSON) to rawURL with hc and returns nil for a 2xx
// answer, else a *PostError. where names the receiver in messages
// ("chat webhook (URL in /etc/registry-checks/chat-webhook)"); when
// hidePath is set the URL's path (a webhook's credential) is never
// quoted, only its scheme and host.
func Post(ctx context.Context, hc *httpclient.Client, rawURL string, body []byte, where string, hidePath bool) error {
	start := time.Now()
	shown := secret.RedactURL(rawURL)
	if hidePath {
		shown = hostOnly(rawURL)
	}
	clean := func(msg string) string {
		msg = strings.ReplaceAll(msg, rawURL, shown)
		if hidePath {
			if h := hostPart(rawURL); h != "" {
				// Classify prints the URL redacted, which keeps the path:
				// cut everything after the host.
				msg = cutAfterHost(msg, h)
			}
		}
		if red := hc.Redactor(); red != nil {
			msg = red.Redact(msg)
		}
		msg = secret.Sanitize(oneLine(msg))
		if where != "" {
			msg = where + ": " + msg
		}
		return msg
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, rawURL, bytes.NewReader(body))
	if err != nil {
		return &PostError{Permanent: true, Msg: clean(fmt.Sprintf("POST %s: invalid request: %v", shown, errors.Unwrap(err)))}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := hc.Do(ctx, req)
	if err != nil {
		p := nagios.AsProblem(err)
		if p.Msg == "" || p.Timeout || errors.Is(err, context.DeadlineExceeded) {
			return &PostError{Timeout: true, Msg: clean(fmt.Sprintf("timeout after %s waiting for POST %s", time.Since(start).Round(100*time.Millisecond), shown))}
		}
		return &PostError{Msg: clean(p.Msg)}
	}
	defer func() {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
	}()
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	e := &PostError{Code: resp.StatusCode}
	e.Permanent = resp.StatusCode >= 400 && resp.StatusCode < 500 && resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode != http.StatusRequestTimeout
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
		e.RetryAfter = RetryAfter(resp.Header.Get("Retry-After"), time.Now())
	}
	msg := fmt.Sprintf("POST %s: %d %s", shown, resp.StatusCode, http.StatusText(resp.StatusCode))
	if r := reason(resp.Body, hc.Redactor()); r != "" {
		msg += " (" + r + ")"
	}
	if e.RetryAfter > 0 {
		msg += fmt.Sprintf("; Retry-After %s", e.RetryAfter.Round(time.Second))
	}
	e.Msg = clean(msg)
	return e
}

// RetryAfter reads a Retry-After header: delay-seconds or an HTTP date
// (RFC 9110). 0 when absent or unreadable; never negative, at most a day
// (a receiver asking for more is not believed).
func RetryAfter(h string, now time.Time) time.Duration {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0
	}
	var d time.Duration
	if n, err := strconv.ParseInt(h, 10, 64); err == nil {
		d = time.Duration(min(n, 86400)) * time.Second
	} else if t, err := http.ParseTime(h); err == nil {
		d = t.Sub(now)
	}
	return min(max(d, 0), 24*time.Hour)
}

// reason is what an error answer says, for the message: PagerDuty's
// {"message": ..., "errors": [...]}, Slack's plain text ("invalid_token",
// "no_text"), anything else's first line; redacted and bounded.
func reason(body io.Reader, red *secret.Redactor) string {
	data, _ := io.ReadAll(io.LimitReader(body, 4<<10))
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return ""
	}
	var pd struct {
		Message string   `json:"message"`
		Errors  []string `json:"errors"`
		Error   any      `json:"error"`
	}
	r := ""
	if json.Unmarshal(data, &pd) == nil {
		r = pd.Message
		if len(pd.Errors) > 0 {
			r = strings.TrimPrefix(r+": "+strings.Join(pd.Errors, "; "), ": ")
		}
		if r == "" && pd.Error != nil {
			r = fmt.Sprint(pd.Error)
		}
	} else {
		r, _, _ = strings.Cut(string(data), "\n")
	}
	return httpclient.ServerReason(red, secret.Cut(r, reasonLimit))
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func hostPart(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Host
}

// hostOnly is raw without what follows its host: "https://hooks.slack.com/...".
func hostOnly(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "<webhook>"
	}
	return u.Scheme + "://" + u.Host + "/..."
}

// cutAfterHost replaces the path of every URL of host in msg by "/...".
func cutAfterHost(msg, host string) string {
	re := regexp.MustCompile(`(https?://` + regexp.QuoteMeta(host) + `)/[^\s/.][^\s]*?(:?)(\s|$)`)
	return re.ReplaceAllString(msg, "$1/...$2$3")
}
