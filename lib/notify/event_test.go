package notify

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseKind(t *testing.T) {
	for in, want := range map[string]Kind{
		"PROBLEM": Problem, "Problem": Problem, "RECOVERY": Recovery, "ACKNOWLEDGEMENT": Acknowledgement,
		"FLAPPINGSTART": FlappingStart, "FlappingEnd": FlappingStop, "FLAPPINGSTOP": FlappingStop, "FLAPPINGDISABLED": FlappingDisabled,
		"DOWNTIMESTART": DowntimeStart, "DowntimeEnd": DowntimeEnd, "DowntimeRemoved": DowntimeCancelled, "DOWNTIMECANCELLED": DowntimeCancelled,
		"Custom": Custom,
	} {
		got, err := ParseKind(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	_, err := ParseKind("PROBLEMS")
	assert.ErrorContains(t, err, `--notification-type "PROBLEMS"`)
}

func TestOptionsEvent(t *testing.T) {
	now := time.Date(2025, 11, 26, 3, 0, 0, 0, time.UTC)
	// Icinga 2's $service.output$ carries the long output after the first line.
	e, err := Options{Type: "Problem", Host: "db2", Service: "disk", State: "Critical", Output: "DISK CRITICAL - 95%\n/data 95%\n/var 40%"}.Event(now)
	require.NoError(t, err)
	assert.Equal(t, "DISK CRITICAL - 95%", e.Output)
	assert.Equal(t, "/data 95%\n/var 40%", e.LongOutput)
	assert.Equal(t, "CRITICAL", e.State)
	assert.Equal(t, now, e.Time)
	// Nagios's $LONGSERVICEOUTPUT$ writes line breaks as \n; unset macros are empty.
	e, err = Options{Type: "PROBLEM", Host: "db2", Service: "disk", State: "WARNING", Output: "DISK WARNING", LongOutput: `a\nb`, Timestamp: "1764126000", Since: "0", Attempt: ""}.Event(now)
	require.NoError(t, err)
	assert.Equal(t, "a\nb", e.LongOutput)
	assert.Equal(t, now, e.Time)
	assert.True(t, e.Since.IsZero())
	for _, bad := range []Options{
		{Host: "db2", State: "DOWN"},
		{Type: "PROBLEM", State: "DOWN"},
		{Type: "PROBLEM", Host: "db2", Service: "s", State: "DOWN"},
		{Type: "PROBLEM", Host: "db2", State: "CRITICAL"},
		{Type: "PROBLEM", Host: "db2", State: "DOWN", StateType: "MEDIUM"},
		{Type: "PROBLEM", Host: "db2", State: "DOWN", Attempt: "x"},
		{Type: "PROBLEM", Host: "db2", State: "DOWN", Timestamp: "yesterday"},
	} {
		_, err := bad.Event(now)
		assert.Error(t, err, "%+v", bad)
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2025, 11, 26, 3, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Duration{
		"":                              0,
		"30":                            30 * time.Second,
		" 2 ":                           2 * time.Second,
		"-5":                            0,
		"999999":                        24 * time.Hour,
		"Wed, 26 Nov 2025 03:01:00 GMT": time.Minute,
		"Wed, 26 Nov 2025 02:00:00 GMT": 0,
		"soon":                          0,
	} {
		assert.Equal(t, want, RetryAfter(in, now), "%q", in)
	}
}

func TestDedupKey(t *testing.T) {
	assert.Equal(t, "db2/couch replication", DedupKey("db2", "couch replication"))
	assert.Equal(t, "db2/", DedupKey("db2", ""))
	long := DedupKey("db2", strings.Repeat("s", 400))
	assert.Len(t, long, 255)
	assert.NotEqual(t, long, DedupKey("db2", strings.Repeat("s", 399)+"t"), "a long key keeps a hash of the whole")
	assert.Equal(t, long, DedupKey("db2", strings.Repeat("s", 400)), "stable")
}
