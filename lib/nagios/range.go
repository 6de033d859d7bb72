package nagios

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Range is a Nagios threshold range, `[@]start:end`, as monitoring-plugins'
// lib/utils_base.c parses and checks it. The zero Range is not a range (it
// never alerts); build one with ParseRange or through go-flags.
type Range struct {
	start  float64 // -Inf for `~`
	end    float64 // +Inf when the end is left empty
	inside bool    // `@`: alert when the value is inside [start, end]
	text   string  // as given, for perfdata and messages
}

// ParseRange parses a Nagios range.
//
// It follows utils_base.c (`10`, `10:`, `~:10`, `10:20`, `@10:20`, `:5.75`,
// decimals, negatives; endpoints are inside the range; start > end is an
// error) but is stricter where utils_base.c silently reads garbage as 0:
// numbers are plain decimals (`-?digits[.digits]`), so `1e3`, `+5`, `0x10`,
// `inf`, `12%`, spaces and trailing text are rejected. The text goes
// verbatim into the warn/crit fields of perfdata, whose grammar allows no
// exponent or unit there. A range that names no bound at all (`:`, `~:`,
// `@`) is rejected too: it either never or always alerts, which is a typo
// rather than a threshold.
func ParseRange(s string) (Range, error) {
	r := Range{start: 0, end: math.Inf(1), text: s}
	fail := func(reason string) (Range, error) {
		return Range{}, &RangeError{Text: s, Reason: reason}
	}
	if s == "" {
		return fail("empty range")
	}
	body := s
	if body[0] == '@' {
		r.inside = true
		body = body[1:]
	}
	startText, endText, hasColon := strings.Cut(body, ":")
	if !hasColon {
		// A lone number is an end; the start is 0.
		startText, endText = "", body
	}
	if !hasColon && endText == "" {
		return fail("no bounds after @")
	}
	if startText == "" && endText == "" {
		return fail("no start and no end")
	}
	switch startText {
	case "":
	case "~":
		r.start = math.Inf(-1)
		if endText == "" {
			return fail("~: has no finite bound")
		}
	default:
		v, err := parseBound(startText)
		if err != nil {
			return fail("start: " + err.Error())
		}
		r.start = v
	}
	if endText != "" {
		if endText == "~" {
			return fail("~ means -infinity and is allowed only as the start")
		}
		v, err := parseBound(endText)
		if err != nil {
			return fail("end: " + err.Error())
		}
		r.end = v
	}
	if r.start > r.end {
		return fail(fmt.Sprintf("start %s is greater than end %s", startText, endText))
	}
	return r, nil
}

// RangeError says why a range was refused. go-flags puts the option name
// in front of it, so it names only the text and the reason.
type RangeError struct {
	Text   string
	Reason string
}

func (e *RangeError) Error() string {
	return fmt.Sprintf("invalid range %q: %s (format [@]start:end, e.g. 10, 10:, ~:10, 10:20, @10:20)", e.Text, e.Reason)
}

// parseBound accepts only what perfdata allows: an optional minus, digits
// and at most one decimal point, with at least one digit.
func parseBound(s string) (float64, error) {
	digits, dots := 0, 0
	for i, c := range s {
		switch {
		case c >= '0' && c <= '9':
			digits++
		case c == '.':
			dots++
		case c == '-' && i == 0:
		default:
			return 0, fmt.Errorf("%q is not a plain decimal number (unexpected %q)", s, c)
		}
	}
	if digits == 0 || dots > 1 {
		return 0, fmt.Errorf("%q is not a plain decimal number", s)
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		if errors.Is(err, strconv.ErrRange) {
			return 0, fmt.Errorf("%q is too large", s)
		}
		return 0, fmt.Errorf("%q is not a number", s)
	}
	return v, nil
}

// Alert reports whether v raises an alert: v outside [start, end], or
// inside it for an `@` range. NaN is outside every range.
func (r Range) Alert(v float64) bool {
	if r.text == "" {
		return false
	}
	in := v >= r.start && v <= r.end
	return in == r.inside
}

// String returns the range as it was given.
func (r Range) String() string { return r.text }

// Start is the lower bound, -Inf for `~`.
func (r Range) Start() float64 { return r.start }

// End is the upper bound, +Inf when it was left empty.
func (r Range) End() float64 { return r.end }

// Inside reports an `@` range, which alerts inside [Start, End].
func (r Range) Inside() bool { return r.inside }

// UnmarshalFlag lets go-flags parse `-w 10:20` into a Range (or *Range);
// go-flags names the option in front of the error.
func (r *Range) UnmarshalFlag(s string) error {
	v, err := ParseRange(s)
	if err != nil {
		return err
	}
	*r = v
	return nil
}

// MarshalFlag shows the range as the default in --help. go-flags calls it
// only on set values, never through a nil *Range.
func (r Range) MarshalFlag() (string, error) { return r.text, nil }

// Thresholds are a warning and a critical range; nil means not set.
type Thresholds struct {
	Warn, Crit *Range
}

// ParseThresholds parses optional warning and critical ranges ("" means
// not set). Options declared as *Range get the same through go-flags.
func ParseThresholds(warn, crit string) (Thresholds, error) {
	var t Thresholds
	for _, x := range []struct {
		text string
		dst  **Range
		what string
	}{{warn, &t.Warn, "warning"}, {crit, &t.Crit, "critical"}} {
		if x.text == "" {
			continue
		}
		r, err := ParseRange(x.text)
		if err != nil {
			return Thresholds{}, fmt.Errorf("%s threshold: %w", x.what, err)
		}
		*x.dst = &r
	}
	return t, nil
}

// Status is get_status of utils_base.c: CRITICAL when the critical range
// alerts, else WARNING when the warning range alerts, else OK. A NaN value
// could not be determined, so it is UNKNOWN rather than a guess.
func (t Thresholds) Status(v float64) Status {
	if math.IsNaN(v) {
		return UNKNOWN
	}
	if t.Crit != nil && t.Crit.Alert(v) {
		return CRITICAL
	}
	if t.Warn != nil && t.Warn.Alert(v) {
		return WARNING
	}
	return OK
}

// WarnText is the warning range as given, "" when not set.
func (t Thresholds) WarnText() string { return rangeText(t.Warn) }

// CritText is the critical range as given, "" when not set.
func (t Thresholds) CritText() string { return rangeText(t.Crit) }

// Apply returns p with its Warn and Crit fields set from t, so that the
// perfdata shows the thresholds the state was computed with.
func (t Thresholds) Apply(p Perf) Perf {
	p.Warn = t.WarnText()
	p.Crit = t.CritText()
	return p
}

func rangeText(r *Range) string {
	if r == nil {
		return ""
	}
	return r.text
}
