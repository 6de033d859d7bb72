package notify

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Kind is a notification's type, as Nagios spells $NOTIFICATIONTYPE$.
type Kind string

// The notification types of Nagios 4 ($NOTIFICATIONTYPE$); Icinga 2's
// $notification.type$ (Problem, FlappingEnd, DowntimeRemoved...) reads as
// the same ones (ParseKind).
const (
	Problem           Kind = "PROBLEM"
	Recovery          Kind = "RECOVERY"
	Acknowledgement   Kind = "ACKNOWLEDGEMENT"
	FlappingStart     Kind = "FLAPPINGSTART"
	FlappingStop      Kind = "FLAPPINGSTOP"
	FlappingDisabled  Kind = "FLAPPINGDISABLED"
	DowntimeStart     Kind = "DOWNTIMESTART"
	DowntimeEnd       Kind = "DOWNTIMEEND"
	DowntimeCancelled Kind = "DOWNTIMECANCELLED"
	Custom            Kind = "CUSTOM"
)

var kinds = map[string]Kind{
	"problem": Problem, "recovery": Recovery, "acknowledgement": Acknowledgement,
	"flappingstart": FlappingStart, "flappingstop": FlappingStop, "flappingend": FlappingStop, "flappingdisabled": FlappingDisabled,
	"downtimestart": DowntimeStart, "downtimeend": DowntimeEnd, "downtimecancelled": DowntimeCancelled, "downtimeremoved": DowntimeCancelled,
	"custom": Custom,
}

// ParseKind reads a notification type in Nagios's spelling (PROBLEM,
// FLAPPINGSTART) or Icinga 2's (Problem, FlappingStart, FlappingEnd,
// DowntimeRemoved).
func ParseKind(s string) (Kind, error) {
	k := strings.ToLower(strings.NewReplacer("_", "", "-", "", " ", "").Replace(strings.TrimSpace(s)))
	if kind, ok := kinds[k]; ok {
		return kind, nil
	}
	return "", fmt.Errorf("--notification-type %q: want PROBLEM, RECOVERY, ACKNOWLEDGEMENT, FLAPPINGSTART, FLAPPINGSTOP, FLAPPINGDISABLED, DOWNTIMESTART, DOWNTIMEEND, DOWNTIMECANCELLED or CUSTOM ($NOTIFICATIONTYPE$)", s)
}

var (
	serviceStates = map[string]bool{"OK": true, "WARNING": true, "CRITICAL": true, "UNKNOWN": true}
	hostStates    = map[string]bool{"UP": true, "DOWN": true, "UNREACHABLE": true}
)

// Event is one notification, from the macros Nagios or Icinga 2 pass.
// Every text in it comes from plugin output or an operator and is
// untrusted: it is redacted, made one line and inert before it leaves.
type Event struct {
	Kind       Kind
	Host       string
	Service    string // "" for a host notification
	State      string // OK WARNING CRITICAL UNKNOWN, or UP DOWN UNREACHABLE
	StateType  string // SOFT or HARD; "" when not given
	Attempt    int    // 0 when not given
	Output     string // the first line of the plugin output
	LongOutput string // the lines after it
	Time       time.Time
	Since      time.Time // last state change; zero when not given
	Author     string    // acknowledgement, downtime or custom notification
	Comment    string
}

// What names the alerting object for people: "http on web1", or "host web1".
func (e Event) What() string {
	if e.Service == "" {
		return "host " + e.Host
	}
	return e.Service + " on " + e.Host
}

// Options are the notification macros, as options of a notification
// command (go-flags tags; value names are the Nagios macros).
type Options struct {
	Type       string `long:"notification-type" value-name:"$NOTIFICATIONTYPE$" description:"PROBLEM, RECOVERY, ACKNOWLEDGEMENT, FLAPPINGSTART, FLAPPINGSTOP, FLAPPINGDISABLED, DOWNTIMESTART, DOWNTIMEEND, DOWNTIMECANCELLED or CUSTOM (Icinga 2's Problem, FlappingEnd, DowntimeRemoved... too)"`
	Host       string `long:"host" value-name:"$HOSTNAME$" description:"the host's name"`
	Service    string `long:"service" value-name:"$SERVICEDESC$" description:"the service's name; empty or left out for a host notification"`
	State      string `long:"state" value-name:"$SERVICESTATE$" description:"the state: OK, WARNING, CRITICAL, UNKNOWN, or $HOSTSTATE$ UP, DOWN, UNREACHABLE"`
	StateType  string `long:"state-type" value-name:"$SERVICESTATETYPE$" description:"SOFT or HARD"`
	Attempt    string `long:"attempt" value-name:"$SERVICEATTEMPT$" description:"the check attempt"`
	Output     string `long:"plugin-output" value-name:"$SERVICEOUTPUT$" description:"the plugin output (its first line; further lines are taken as long output)"`
	LongOutput string `long:"long-plugin-output" value-name:"$LONGSERVICEOUTPUT$" description:"the plugin's long output (Nagios writes its line breaks as \\n)"`
	Timestamp  string `long:"timestamp" value-name:"$TIMET$" description:"when the notification happened: Unix seconds or RFC 3339 (default: now)"`
	Since      string `long:"last-state-change" value-name:"$LASTSERVICESTATECHANGE$" description:"when the state began: Unix seconds or RFC 3339"`
	Author     string `long:"author" value-name:"$NOTIFICATIONAUTHOR$" description:"who acknowledged, scheduled the downtime or sent the custom notification"`
	Comment    string `long:"comment" value-name:"$NOTIFICATIONCOMMENT$" description:"their comment"`
}

// Given reports whether any notification option was set: --flush takes none.
func (o Options) Given() bool { return o != Options{} }

// Event checks the options and makes the Event; now stamps one without
// --timestamp. Errors name the option and the macro that feeds it.
func (o Options) Event(now time.Time) (Event, error) {
	var e Event
	var err error
	if strings.TrimSpace(o.Type) == "" {
		return e, fmt.Errorf("--notification-type is required ($NOTIFICATIONTYPE$)")
	}
	if e.Kind, err = ParseKind(o.Type); err != nil {
		return e, err
	}
	e.Host, e.Service = strings.TrimSpace(o.Host), strings.TrimSpace(o.Service)
	if e.Host == "" {
		return e, fmt.Errorf("--host is required ($HOSTNAME$)")
	}
	e.State = strings.ToUpper(strings.TrimSpace(o.State))
	switch {
	case e.State == "":
		return e, fmt.Errorf("--state is required ($SERVICESTATE$ or $HOSTSTATE$)")
	case e.Service != "" && !serviceStates[e.State]:
		return e, fmt.Errorf("--state %q: a service is OK, WARNING, CRITICAL or UNKNOWN ($SERVICESTATE$)", o.State)
	case e.Service == "" && !hostStates[e.State]:
		return e, fmt.Errorf("--state %q: a host is UP, DOWN or UNREACHABLE ($HOSTSTATE$); give --service for a service notification", o.State)
	}
	e.StateType = strings.ToUpper(strings.TrimSpace(o.StateType))
	if e.StateType != "" && e.StateType != "SOFT" && e.StateType != "HARD" {
		return e, fmt.Errorf("--state-type %q: want SOFT or HARD ($SERVICESTATETYPE$)", o.StateType)
	}
	if a := strings.TrimSpace(o.Attempt); a != "" {
		if e.Attempt, err = strconv.Atoi(a); err != nil || e.Attempt < 0 {
			return e, fmt.Errorf("--attempt %q: want the check attempt, a number ($SERVICEATTEMPT$)", o.Attempt)
		}
	}
	// Icinga 2's $service.output$ is the whole output; Nagios's
	// $LONGSERVICEOUTPUT$ has its line breaks written as \n.
	out := strings.ReplaceAll(strings.TrimSpace(o.Output), "\r", "")
	first, rest, _ := strings.Cut(out, "\n")
	e.Output = strings.TrimSpace(first)
	long := strings.ReplaceAll(strings.TrimSpace(o.LongOutput), `\n`, "\n")
	e.LongOutput = strings.TrimSpace(strings.Join(nonEmpty(rest, long), "\n"))
	e.Time = now
	if o.Timestamp != "" {
		if e.Time, err = parseTime(o.Timestamp); err != nil {
			return e, fmt.Errorf("--timestamp %q: %v ($TIMET$)", o.Timestamp, err)
		}
	}
	if o.Since != "" {
		if e.Since, err = parseTime(o.Since); err != nil {
			return e, fmt.Errorf("--last-state-change %q: %v ($LASTSERVICESTATECHANGE$)", o.Since, err)
		}
	}
	e.Author, e.Comment = strings.TrimSpace(o.Author), strings.TrimSpace(o.Comment)
	return e, nil
}

func nonEmpty(s ...string) []string {
	var out []string
	for _, x := range s {
		if x = strings.TrimSpace(x); x != "" {
			out = append(out, x)
		}
	}
	return out
}

// parseTime reads Unix seconds (Nagios's $TIMET$, $LASTSERVICESTATECHANGE$,
// Icinga's $icinga.timet$; a fraction is allowed) or RFC 3339. Nagios
// passes 0 for a state that never changed: that is no time.
func parseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		if f <= 0 {
			return time.Time{}, nil
		}
		sec := int64(f)
		return time.Unix(sec, int64((f-float64(sec))*1e9)).UTC(), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("want Unix seconds or RFC 3339")
	}
	return t.UTC(), nil
}
