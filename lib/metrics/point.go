// Package metrics turns check results into InfluxDB line protocol and
// delivers it: to an InfluxDB server, to a file Telegraf tails, or to stdout.
package metrics

import (
	"context"
	"time"
)

// Point is one line of line protocol before encoding. Field values are
// int64 (written with the "i" suffix), uint64, float64, bool or string.
type Point struct {
	Measurement string
	Tags        map[string]string
	Fields      map[string]any
	Time        time.Time
}

// Sink receives the points of one run. A sink must return when ctx is done.
type Sink interface {
	Write(ctx context.Context, points []Point) error
}
