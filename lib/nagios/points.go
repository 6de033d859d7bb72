package nagios

import (
	"maps"
	"math"
	"strconv"
	"time"

	"github.com/registry-checks/registry-checks/lib/metrics"
)

// stateField is the field every point carries: the state as its exit code.
const stateField = "state"

// Points turns every Result of the tree that has a Measurement into one
// line-protocol point at t, parents before their subs: its Tags, one field
// per Perf (key Field, or Label when Field is empty; int64 for Integer
// items, float64 otherwise) and the state as the int64 field "state".
// A value Nagios would print as U is left out, since line protocol has no
// "unknown". A key used twice in one Result (or a perf item named "state")
// gets a _2, _3... suffix, the same way on every run, rather than silently
// overwriting a number. Perf of a Result without a Measurement reaches no
// point: give every Result that carries numbers a Measurement.
func Points(r Result, t time.Time) []metrics.Point {
	return appendPoints(nil, r, t)
}

func appendPoints(out []metrics.Point, r Result, t time.Time) []metrics.Point {
	if r.Measurement != "" {
		fields := make(map[string]any, len(r.Perf)+1)
		fields[stateField] = int64(normalize(r.Status))
		for _, p := range r.Perf {
			v, ok := fieldValue(p)
			if !ok {
				continue
			}
			key := p.Field
			if key == "" {
				key = p.Label
			}
			if key == "" {
				key = "value"
			}
			if _, taken := fields[key]; taken {
				base := key
				for n := 2; taken; n++ {
					key = base + "_" + strconv.Itoa(n)
					_, taken = fields[key]
				}
			}
			fields[key] = v
		}
		var tags map[string]string
		if len(r.Tags) > 0 {
			tags = maps.Clone(r.Tags)
		}
		out = append(out, metrics.Point{Measurement: r.Measurement, Tags: tags, Fields: fields, Time: t})
	}
	for _, s := range r.Subs {
		out = appendPoints(out, s, t)
	}
	return out
}

// fieldValue is the line-protocol value of p, false when p has none.
// An Integer item too large for int64 stays a float rather than wrap.
func fieldValue(p Perf) (any, bool) {
	if p.Unknown || math.IsNaN(p.Value) || math.IsInf(p.Value, 0) {
		return nil, false
	}
	if p.Integer {
		if v := math.Round(p.Value); v >= math.MinInt64 && v < math.MaxInt64 {
			return int64(v), true
		}
	}
	return p.Value, true
}
