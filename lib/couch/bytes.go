package couch

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Bytes is a size option such as --min-size: plain bytes ("10485760") or a
// number with a unit. K, M, G, T (and KiB, MiB, GiB, TiB) are powers of
// 1024, as df -h and CouchDB's own sizes are read; KB, MB, GB, TB are
// powers of 1000 for those who mean them. Threshold ranges stay plain
// bytes: they go verbatim into perfdata, whose grammar has no units there.
type Bytes int64

var byteUnits = map[string]float64{
	"": 1, "b": 1,
	"k": 1 << 10, "kib": 1 << 10, "kb": 1e3,
	"m": 1 << 20, "mib": 1 << 20, "mb": 1e6,
	"g": 1 << 30, "gib": 1 << 30, "gb": 1e9,
	"t": 1 << 40, "tib": 1 << 40, "tb": 1e12,
}

// ParseBytes parses a size as Bytes.UnmarshalFlag does.
func ParseBytes(s string) (Bytes, error) {
	t := strings.TrimSpace(s)
	i := strings.IndexFunc(t, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	num, unit := t, ""
	if i >= 0 {
		num, unit = t[:i], strings.ToLower(strings.TrimSpace(t[i:]))
	}
	mult, ok := byteUnits[unit]
	if !ok {
		return 0, fmt.Errorf("%q: unknown unit %q (use bytes or K, M, G, T)", s, t[i:])
	}
	v, err := strconv.ParseFloat(num, 64)
	if num == "" || err != nil {
		return 0, fmt.Errorf("%q is not a size (bytes, or a number with K, M, G, T)", s)
	}
	v *= mult
	if v >= math.MaxInt64 {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return Bytes(math.Round(v)), nil
}

// UnmarshalFlag implements go-flags' Unmarshaler.
func (b *Bytes) UnmarshalFlag(s string) error {
	v, err := ParseBytes(s)
	if err != nil {
		return err
	}
	*b = v
	return nil
}

// MarshalFlag shows the default in --help.
func (b Bytes) MarshalFlag() (string, error) { return strconv.FormatInt(int64(b), 10), nil }

// String is the size for people, as FormatBytes.
func (b Bytes) String() string { return FormatBytes(int64(b)) }

// FormatBytes writes a byte count for an operator: "812 B", "7.3 MiB",
// "1.2 TiB" (powers of 1024, one decimal from KiB on).
func FormatBytes(n int64) string {
	if n < 0 {
		return "-" + FormatBytes(-n)
	}
	if n < 1024 {
		return strconv.FormatInt(n, 10) + " B"
	}
	v := float64(n)
	for _, u := range []string{"KiB", "MiB", "GiB", "TiB", "PiB"} {
		v /= 1024
		if v < 1024 || u == "PiB" {
			return strconv.FormatFloat(v, 'f', 1, 64) + " " + u
		}
	}
	return "" // not reached
}
