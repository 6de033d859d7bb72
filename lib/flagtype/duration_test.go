package flagtype

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDurationOption(t *testing.T) {
	for in, want := range map[string]time.Duration{"10": 10 * time.Second, "2.5": 2500 * time.Millisecond, "1m30s": 90 * time.Second, "500ms": 500 * time.Millisecond} {
		var d Duration
		require.NoError(t, d.UnmarshalFlag(in), in)
		assert.Equal(t, want, d.D(), in)
	}
	for _, in := range []string{"", "0", "-1", "soon", "10 s"} {
		var d Duration
		assert.Error(t, d.UnmarshalFlag(in), in)
	}
}

// Seconds past what a time.Duration holds wrapped to a negative value
// and were reported as "must be more than zero".
func TestDurationTooLarge(t *testing.T) {
	for _, in := range []string{"99999999999999", "1e300"} {
		var d Duration
		err := d.UnmarshalFlag(in)
		require.Error(t, err, in)
		assert.Equal(t, fmt.Sprintf("%q: too large", in), err.Error())
	}
}
