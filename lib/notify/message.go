package notify

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/registry-checks/registry-checks/lib/secret"
)

// Bounds of what leaves for chat and PagerDuty, in bytes.
const (
	// ChatLimit bounds a chat message: Slack truncates a text past 40,000
	// characters, and a message longer than a screen is not read.
	ChatLimit = 2000
	// SummaryLimit is PagerDuty's bound on payload.summary (Events API v2).
	SummaryLimit = 1024
	// DetailsLimit bounds the long output in custom_details (PagerDuty
	// takes events up to 512 KB; a page is read on a phone).
	DetailsLimit = 16 << 10
	// dedupLimit is PagerDuty's bound on dedup_key.
	dedupLimit = 255
)

// clean is untrusted text made fit to leave: every registered secret
// redacted (before any cut, so no secret is cut into an unredacted
// half), control characters and line breaks replaced (lines keeps them),
// then bounded.
func clean(red *secret.Redactor, s string, limit int, lines bool) string {
	s = red.Redact(s)
	if lines {
		var ls []string
		for _, l := range strings.Split(s, "\n") {
			ls = append(ls, secret.Sanitize(strings.TrimRight(l, " \t\r")))
		}
		s = strings.Join(ls, "\n")
	} else {
		s = secret.Sanitize(oneLine(s))
	}
	return secret.Cut(s, limit)
}

// inertCode is text for a chat code span: Slack and Mattermost make no
// link and no mention inside one, and a backquote of the text cannot end
// it early.
func inertCode(s string) string {
	if s == "" {
		return ""
	}
	return "`" + strings.ReplaceAll(s, "`", "'") + "`"
}

// ChatText is the chat message of e: a summary line of ours (no link, no
// text of the plugin's in it but names) and the plugin output's first line
// in a code span, redacted with red and made inert (Body escapes it
// again for the webhook). Each kind of notification reads differently.
func ChatText(e Event, red *secret.Redactor) string {
	what := clean(red, e.What(), 300, false)
	out := inertCode(clean(red, e.Output, 1000, false))
	by := clean(red, e.Author, 100, false)
	comment := clean(red, e.Comment, 500, false)
	state := e.State
	var head string
	switch e.Kind {
	case Problem:
		head = fmt.Sprintf("%s %s: %s is %s", mark(e.State), state, what, state)
		if e.StateType != "" || e.Attempt > 0 {
			head += " (" + strings.TrimSpace(fmt.Sprintf("%s %s", e.StateType, attempt(e.Attempt))) + ")"
		}
		if !e.Since.IsZero() {
			head += " since " + e.Since.UTC().Format("2006-01-02 15:04 UTC")
		}
	case Recovery:
		head = fmt.Sprintf("%s RECOVERED: %s is %s again", mark(e.State), what, state)
	case Acknowledgement:
		head = fmt.Sprintf(":eyes: ACKNOWLEDGED: %s (%s)", what, state)
		if by != "" {
			head += " by " + by
		}
		if comment != "" {
			head += ": " + comment
		}
	case FlappingStart:
		head = fmt.Sprintf(":warning: FLAPPING: %s keeps changing state (now %s); notifications held until it settles", what, state)
	case FlappingStop:
		head = fmt.Sprintf(":information_source: Flapping over: %s has settled (%s)", what, state)
	case FlappingDisabled:
		head = fmt.Sprintf(":information_source: Flap detection disabled for %s (%s)", what, state)
	case DowntimeStart:
		head = fmt.Sprintf(":zzz: DOWNTIME started: %s; its notifications are off until it ends", what)
	case DowntimeEnd:
		head = fmt.Sprintf(":alarm_clock: DOWNTIME ended: %s notifies again (%s)", what, state)
	case DowntimeCancelled:
		head = fmt.Sprintf(":alarm_clock: DOWNTIME cancelled: %s notifies again (%s)", what, state)
	default:
		head = fmt.Sprintf(":speech_balloon: NOTE on %s (%s)", what, state)
		if by != "" {
			head += " from " + by
		}
		if comment != "" {
			head += ": " + comment
		}
	}
	if (e.Kind == DowntimeStart || e.Kind == DowntimeEnd || e.Kind == DowntimeCancelled) && (by != "" || comment != "") {
		head += strings.TrimRight(" ("+strings.TrimSpace(by+": "+comment), ": ") + ")"
	}
	text := head
	if out != "" && e.Kind != DowntimeStart {
		text += "\n" + out
	}
	return secret.Cut(text, ChatLimit)
}

func attempt(n int) string {
	if n <= 0 {
		return ""
	}
	return fmt.Sprintf("attempt %d", n)
}

// mark is the emoji code (text, so it is read out the same everywhere) of a state.
func mark(state string) string {
	switch state {
	case "OK", "UP":
		return ":large_green_circle:"
	case "WARNING":
		return ":large_yellow_circle:"
	case "UNKNOWN", "UNREACHABLE":
		return ":large_purple_circle:"
	}
	return ":red_circle:"
}

// PDEvent is a PagerDuty Events API v2 event
// (https://developer.pagerduty.com/api-reference/368ae3d938c9e-send-an-event-to-pager-duty).
// RoutingKey is left empty in what is queued on disk and filled in when
// it is sent: the routing key is a secret and never reaches the queue.
type PDEvent struct {
	RoutingKey  string     `json:"routing_key"`
	EventAction string     `json:"event_action"` // trigger, acknowledge, resolve
	DedupKey    string     `json:"dedup_key"`
	Payload     *PDPayload `json:"payload,omitempty"` // trigger only
	Client      string     `json:"client,omitempty"`
}

// PDPayload is a trigger's payload.
type PDPayload struct {
	Summary       string         `json:"summary"`
	Source        string         `json:"source"`
	Severity      string         `json:"severity"` // critical, error, warning, info
	Timestamp     string         `json:"timestamp,omitempty"`
	Component     string         `json:"component,omitempty"`
	Class         string         `json:"class,omitempty"`
	CustomDetails map[string]any `json:"custom_details,omitempty"`
}

// DedupKey is the PagerDuty incident key of a host or service: the same
// for every notification about it, so a trigger, its acknowledgement and
// its resolve are one incident. Longer than PagerDuty's 255 characters,
// it keeps its start and ends in a hash of the whole.
func DedupKey(host, service string) string {
	k := host + "/" + service
	if len(k) <= dedupLimit {
		return k
	}
	sum := sha256.Sum256([]byte(k))
	h := hex.EncodeToString(sum[:8])
	return k[:dedupLimit-len(h)-1] + "~" + h
}

// Severity is PagerDuty's severity of a state.
func Severity(state string) string {
	switch state {
	case "CRITICAL", "DOWN":
		return "critical"
	case "WARNING":
		return "warning"
	case "UNKNOWN", "UNREACHABLE":
		return "error"
	}
	return "info"
}

// PagerDuty is the event e sends, or ok false for a notification that
// PagerDuty has no action for (flapping, downtime, custom; a PROBLEM of
// an OK state). Texts are redacted with red and bounded.
func PagerDuty(e Event, red *secret.Redactor, client string) (ev PDEvent, ok bool) {
	ev = PDEvent{DedupKey: DedupKey(e.Host, e.Service), Client: client}
	switch e.Kind {
	case Acknowledgement:
		ev.EventAction = "acknowledge"
		return ev, true
	case Recovery:
		ev.EventAction = "resolve"
		return ev, true
	case Problem:
		if e.State == "OK" || e.State == "UP" {
			return ev, false
		}
	default:
		return ev, false
	}
	ev.EventAction = "trigger"
	summary := e.State + ": " + e.What()
	if e.Output != "" {
		summary += ": " + e.Output
	}
	details := map[string]any{"state": e.State, "notification_type": string(e.Kind)}
	if e.Output != "" {
		details["output"] = clean(red, e.Output, SummaryLimit*4, false)
	}
	if e.LongOutput != "" {
		details["long_output"] = clean(red, e.LongOutput, DetailsLimit, true)
	}
	if e.StateType != "" {
		details["state_type"] = e.StateType
	}
	if e.Attempt > 0 {
		details["attempt"] = e.Attempt
	}
	if !e.Since.IsZero() {
		details["state_since"] = e.Since.UTC().Format(time.RFC3339)
	}
	ev.Payload = &PDPayload{
		Summary:       clean(red, summary, SummaryLimit, false),
		Source:        clean(red, e.Host, 255, false),
		Severity:      Severity(e.State),
		Component:     clean(red, e.Service, 255, false),
		Class:         "nagios",
		CustomDetails: details,
	}
	if !e.Time.IsZero() {
		ev.Payload.Timestamp = e.Time.UTC().Format(time.RFC3339)
	}
	return ev, true
}

// WithRoutingKey is the queued event body (JSON of a PDEvent without its
// key) as it is sent: with key.
func WithRoutingKey(body []byte, key string) ([]byte, error) {
	var ev PDEvent
	if err := json.Unmarshal(body, &ev); err != nil {
		return nil, fmt.Errorf("queued PagerDuty event is not JSON: %v", err)
	}
	ev.RoutingKey = key
	return json.Marshal(ev)
}
