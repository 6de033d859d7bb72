package replication

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestLimitsSaturatedAndRotation(t *testing.T) {
	def := Limits{MaxJobs: DefaultMaxJobs, MaxChurn: DefaultMaxChurn, Interval: DefaultInterval, FromConfig: true}
	tests := []struct {
		name                  string
		running, pending, tot int
		fromConfig, saturated bool
	}{
		{"below the limit", 200, 0, 203, true, false},
		{"every slot taken", 500, 105, 605, true, true},
		{"more jobs than slots, some crashed", 480, 20, 520, true, true},
		{"gauges unknown", -1, -1, -1, true, false},
		{"config unreadable, a queue seen", 100, 30, 130, false, true},
		{"config unreadable, no queue", 100, 0, 100, false, false},
	}
	for _, tt := range tests {
		l := def
		l.Running, l.Pending, l.Total, l.FromConfig = tt.running, tt.pending, tt.tot, tt.fromConfig
		assert.Equal(t, tt.saturated, l.Saturated(), tt.name)
	}
	// 105 pending, 20 a minute: 6 rotations, and two of slack.
	assert.Equal(t, 8*time.Minute, def.Rotation(105))
	assert.Equal(t, 3*time.Minute, def.Rotation(0))
	assert.Equal(t, "max_jobs 500", def.String())
}
