package couch

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseBytes(t *testing.T) {
	tests := []struct {
		in   string
		want Bytes
		err  string
	}{
		{"0", 0, ""},
		{"10485760", 10 << 20, ""},
		{"10M", 10 << 20, ""},
		{"10MiB", 10 << 20, ""},
		{"10 MiB", 10 << 20, ""},
		{"10mb", 10_000_000, ""},
		{"1.5G", 3 << 29, ""},
		{"2T", 2 << 40, ""},
		{"512k", 512 << 10, ""},
		{"7B", 7, ""},
		{"", 0, "not a size"},
		{"M", 0, "not a size"},
		{"-5", 0, "unknown unit"},
		{"10X", 0, "unknown unit"},
		{"1.2.3M", 0, "not a size"},
		{"99999999999T", 0, "too large"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseBytes(tt.in)
			if tt.err != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestFormatBytes(t *testing.T) {
	tests := []struct {
		in   int64
		want string
	}{
		{0, "0 B"},
		{1023, "1023 B"},
		{1024, "1.0 KiB"},
		{15724982, "15.0 MiB"},
		{7635394, "7.3 MiB"},
		{3 << 40, "3.0 TiB"},
		{-2048, "-2.0 KiB"},
		{math.MaxInt64, "8192.0 PiB"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, FormatBytes(tt.in), "%d", tt.in)
	}
}
