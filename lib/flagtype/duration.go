// Package flagtype holds the option value types that lib/plugin (the
// plugin contract) and the domain packages under lib/ (replication, ...)
// both need: a domain package must not import lib/plugin.
package flagtype

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Duration is an option value given as plain seconds ("10", "2.5", the
// monitoring-plugins habit) or as a Go duration ("1m30s", "500ms").
type Duration time.Duration

// UnmarshalFlag implements go-flags' Unmarshaler.
func (d *Duration) UnmarshalFlag(s string) error {
	s = strings.TrimSpace(s)
	if s == "" {
		return fmt.Errorf("empty duration")
	}
	var v time.Duration
	if secs, err := strconv.ParseFloat(s, 64); err == nil {
		// The conversion of a float past int64 wraps (to a negative value).
		if secs*float64(time.Second) >= math.MaxInt64 {
			return fmt.Errorf("%q: too large", s)
		}
		v = time.Duration(secs * float64(time.Second))
	} else {
		parsed, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("%q is neither seconds nor a duration like 30s or 1m", s)
		}
		v = parsed
	}
	if v <= 0 {
		return fmt.Errorf("%q: must be more than zero", s)
	}
	*d = Duration(v)
	return nil
}

// MarshalFlag implements go-flags' Marshaler, for defaults in --help.
func (d Duration) MarshalFlag() (string, error) { return time.Duration(d).String(), nil }

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }
