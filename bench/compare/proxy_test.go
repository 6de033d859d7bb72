package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestBusyPeriodsCountRequestsSentTogetherOnce(t *testing.T) {
	tests := []struct {
		name   string
		events string // b: a request starts, e: one ends
		want   int
	}{
		{"none", "", 0},
		{"one request", "be", 1},
		{"two in turn", "bebe", 2},
		{"two together", "bbee", 1},
		{"overlapping chain", "bbebee", 1},
		{"together, then one more", "bbeebe", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b busyPeriods
			for _, ev := range tt.events {
				if ev == 'b' {
					b.begin()
				} else {
					b.end()
				}
			}
			assert.Equal(t, tt.want, b.take())
			assert.Equal(t, 0, b.take(), "take resets the count")
		})
	}
}
