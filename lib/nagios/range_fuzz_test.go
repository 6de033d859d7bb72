package nagios

import (
	"math"
	"strings"
	"testing"
)

func FuzzParseRange(f *testing.F) {
	for _, s := range []string{
		"6", "1:12", "-7:23", ":5.75", "~:-95.99", "12345678901234567890:", "~:0",
		"@0:657.8210567", "1:1", "2:1", "10", "10:", "~:10", "10:20", "@10:20",
		"", ":", "@", "~:", "10:5", "abc", "1e3", "1:12%", "-.5:.5", "@~:-0",
		"1" + strings.Repeat("0", 400),
	} {
		f.Add(s, 0.0)
		f.Add(s, -1.5)
		f.Add(s, 1e300)
	}
	f.Fuzz(func(t *testing.T, s string, v float64) {
		r, err := ParseRange(s)
		if err != nil {
			if !strings.Contains(err.Error(), "invalid range") {
				t.Fatalf("ParseRange(%q): error does not say what it is: %v", s, err)
			}
			return
		}
		if r.String() != s {
			t.Fatalf("ParseRange(%q).String() = %q", s, r.String())
		}
		start, end := r.Start(), r.End()
		if math.IsNaN(start) || math.IsNaN(end) || start > end {
			t.Fatalf("ParseRange(%q): bad bounds [%v, %v]", s, start, end)
		}
		if math.IsInf(start, 1) || math.IsInf(end, -1) {
			t.Fatalf("ParseRange(%q): infinite bound on the wrong side [%v, %v]", s, start, end)
		}
		if strings.ContainsAny(s, " ;|'=eE") {
			t.Fatalf("ParseRange(%q) accepted text that cannot go into perfdata", s)
		}
		in := v >= start && v <= end
		if got := r.Alert(v); got != (in == r.Inside()) {
			t.Fatalf("ParseRange(%q).Alert(%v) = %v, inside=%v [%v, %v]", s, v, got, r.Inside(), start, end)
		}
		// The endpoints belong to the range.
		for _, b := range []float64{start, end} {
			if !math.IsInf(b, 0) && r.Alert(b) != r.Inside() {
				t.Fatalf("ParseRange(%q): endpoint %v treated as outside", s, b)
			}
		}
		// Just outside a finite endpoint is outside.
		if !math.IsInf(start, 0) {
			if out := math.Nextafter(start, math.Inf(-1)); r.Alert(out) == r.Inside() {
				t.Fatalf("ParseRange(%q): %v below start treated as inside", s, out)
			}
		}
		if !math.IsInf(end, 0) {
			if out := math.Nextafter(end, math.Inf(1)); r.Alert(out) == r.Inside() {
				t.Fatalf("ParseRange(%q): %v above end treated as inside", s, out)
			}
		}
		// Parsing through go-flags gives the same range.
		var viaFlag Range
		if err := viaFlag.UnmarshalFlag(s); err != nil || viaFlag != r {
			t.Fatalf("UnmarshalFlag(%q) = %v, %v; want %v", s, viaFlag, err, r)
		}
	})
}
