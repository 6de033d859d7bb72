package nagios

import (
	"math"
	"strings"
	"testing"

	"github.com/jessevdk/go-flags"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseRange(t *testing.T) {
	inf := math.Inf(1)
	tests := []struct {
		in          string
		start, end  float64
		inside      bool
		alert, okay []float64
	}{
		// The vectors of monitoring-plugins lib/tests/test_utils.c.
		{in: "6", start: 0, end: 6, alert: []float64{-1, 7, -0.001, 6.001}, okay: []float64{0, 3, 6}},
		{in: "1:12", start: 1, end: 12, alert: []float64{0, 0.999, 12.5, -1}, okay: []float64{1, 6, 12}},
		{in: "-7:23", start: -7, end: 23, alert: []float64{-8, -7.01, 23.01, 100}, okay: []float64{-7, 0, 23}},
		{in: ":5.75", start: 0, end: 5.75, alert: []float64{-0.1, 5.76}, okay: []float64{0, 5.75}},
		{in: "~:-95.99", start: math.Inf(-1), end: -95.99, alert: []float64{-95.98, 0, 100}, okay: []float64{-95.99, -96, -1e9}},
		{in: "12345678901234567890:", start: 12345678901234567890, end: inf,
			alert: []float64{12345678901234567890 / 1.1}, okay: []float64{12345678901234567890, 12345678901234567890 * 2}},
		{in: "~:0", start: math.Inf(-1), end: 0, alert: []float64{0.5}, okay: []float64{-10, 0}},
		{in: "@0:657.8210567", start: 0, end: 657.8210567, inside: true,
			alert: []float64{32.88, 657.8210567, 0}, okay: []float64{-2, 657.83}},
		{in: "1:1", start: 1, end: 1, alert: []float64{0.5, 5.2}, okay: []float64{1}},
		// The table of NAGIOS.md.
		{in: "10", start: 0, end: 10, alert: []float64{-1, 11}, okay: []float64{0, 10}},
		{in: "10:", start: 10, end: inf, alert: []float64{9.99, -5}, okay: []float64{10, 1e12}},
		{in: "~:10", start: math.Inf(-1), end: 10, alert: []float64{10.5}, okay: []float64{-1e12, 10}},
		{in: "10:20", start: 10, end: 20, alert: []float64{9, 21}, okay: []float64{10, 15, 20}},
		{in: "@10:20", start: 10, end: 20, inside: true, alert: []float64{10, 15, 20}, okay: []float64{9, 21}},
		// Decimals and negatives in every position.
		{in: "-10:-5", start: -10, end: -5, alert: []float64{-11, -4}, okay: []float64{-10, -7.5, -5}},
		{in: "@~:-0.5", start: math.Inf(-1), end: -0.5, inside: true, alert: []float64{-1e9, -0.5}, okay: []float64{-0.4, 0}},
		{in: "@5:", start: 5, end: inf, inside: true, alert: []float64{5, 1e9}, okay: []float64{4.9}},
		{in: ".5:1.", start: 0.5, end: 1, alert: []float64{0.4}, okay: []float64{0.5, 1}},
		{in: "0", start: 0, end: 0, alert: []float64{-0.1, 0.1}, okay: []float64{0}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			r, err := ParseRange(tt.in)
			require.NoError(t, err)
			assert.Equal(t, tt.start, r.Start(), "start")
			assert.Equal(t, tt.end, r.End(), "end")
			assert.Equal(t, tt.inside, r.Inside(), "inside")
			assert.Equal(t, tt.in, r.String())
			for _, v := range tt.alert {
				assert.True(t, r.Alert(v), "%v should alert", v)
			}
			for _, v := range tt.okay {
				assert.False(t, r.Alert(v), "%v should not alert", v)
			}
		})
	}
}

func TestParseRangeErrors(t *testing.T) {
	tests := []struct {
		in, reason string
	}{
		{"", "empty range"},
		{"@", "no bounds after @"},
		{":", "no start and no end"},
		{"@:", "no start and no end"},
		{"~:", "no finite bound"},
		{"~", "only as the start"},
		{"5:~", "only as the start"},
		{"10:5", "start 10 is greater than end 5"},
		{"2:1", "start 2 is greater than end 1"},     // test_utils.c: rejected
		{"-1:-2", "start -1 is greater than end -2"}, // negatives compare as numbers
		{"abc", `"abc" is not a plain decimal number`},
		{"1e3", `"1e3" is not a plain decimal number`},
		{"1:12%", `"12%" is not a plain decimal number`}, // utils_base ignores the %; perfdata cannot carry it
		{"+5", `"+5" is not a plain decimal number`},
		{"0x10", "not a plain decimal number"},
		{"inf", "not a plain decimal number"},
		{"NaN", "not a plain decimal number"},
		{" 10", "not a plain decimal number"},
		{"10 ", "not a plain decimal number"},
		{"1:2:3", `"2:3" is not a plain decimal number`},
		{"@@1", "not a plain decimal number"},
		{"-", "not a plain decimal number"},
		{".", "not a plain decimal number"},
		{"1..2", "not a plain decimal number"},
		{"1.2.3", "not a plain decimal number"},
		{"--1", "not a plain decimal number"},
		{"1" + strings.Repeat("0", 400), "too large"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			r, err := ParseRange(tt.in)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.reason)
			assert.Contains(t, err.Error(), "invalid range")
			var re *RangeError
			require.ErrorAs(t, err, &re)
			assert.Equal(t, tt.in, re.Text)
			assert.Equal(t, Range{}, r)
		})
	}
}

func TestZeroRangeNeverAlerts(t *testing.T) {
	var r Range
	for _, v := range []float64{-1, 0, 1, math.NaN()} {
		assert.False(t, r.Alert(v), "%v", v)
	}
}

func TestAlertNaN(t *testing.T) {
	// NaN is outside every range: a plain range alerts, an @ range does not.
	assert.True(t, mustRange(t, "10").Alert(math.NaN()))
	assert.False(t, mustRange(t, "@10").Alert(math.NaN()))
}

func TestThresholdsStatus(t *testing.T) {
	tests := []struct {
		name       string
		warn, crit string
		v          float64
		want       Status
	}{
		// test_utils.c: _set_thresholds("30", "60") and get_status.
		{"utils ok", "30", "60", 15.3, OK},
		{"utils warning", "30", "60", 30.0001, WARNING},
		{"utils critical", "30", "60", 69, CRITICAL},
		{"neither set", "", "", 1e9, OK},
		{"only critical", "", "80", 81, CRITICAL},
		{"only critical, ok", "", "80", 79, OK},
		{"only warning", "5:33", "", 4, WARNING},
		// Critical is checked first even when both alert.
		{"both alert", "10", "20", 25, CRITICAL},
		// Inverted: warn range alerts, crit range does not.
		{"crit inside", "10", "@100:200", 50, WARNING},
		{"crit inside hit", "10", "@100:200", 150, CRITICAL},
		{"NaN", "10", "20", math.NaN(), UNKNOWN},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			th, err := ParseThresholds(tt.warn, tt.crit)
			require.NoError(t, err)
			assert.Equal(t, tt.want, th.Status(tt.v))
		})
	}
}

func TestParseThresholdsErrors(t *testing.T) {
	_, err := ParseThresholds("10", "20:10")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "critical threshold")
	assert.Contains(t, err.Error(), `"20:10"`)

	_, err = ParseThresholds("x", "")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "warning threshold")
}

func TestThresholdsApply(t *testing.T) {
	th, err := ParseThresholds("@~:0.5", "10:")
	require.NoError(t, err)
	p := th.Apply(Perf{Label: "lag", Value: 3, Warn: "old", Crit: "old"})
	assert.Equal(t, "@~:0.5", p.Warn)
	assert.Equal(t, "10:", p.Crit)
	assert.Equal(t, "lag", p.Label)

	p = Thresholds{}.Apply(Perf{Label: "lag", Warn: "old", Crit: "old"})
	assert.Empty(t, p.Warn)
	assert.Empty(t, p.Crit)
}

type rangeOpts struct {
	Warning  *Range `short:"w" long:"warning" description:"warning range"`
	Critical *Range `short:"c" long:"critical" description:"critical range"`
	Lag      Range  `long:"warning-lag" default:"~:60" description:"lag range"`
	Preset   *Range `long:"preset" description:"preset range"`
}

func TestRangeGoFlags(t *testing.T) {
	var o rangeOpts
	_, err := flags.NewParser(&o, flags.None).ParseArgs([]string{"-w", "10:20", "--critical=@5"})
	require.NoError(t, err)
	require.NotNil(t, o.Warning)
	require.NotNil(t, o.Critical)
	assert.Equal(t, "10:20", o.Warning.String())
	assert.True(t, o.Critical.Inside())
	assert.Equal(t, "~:60", o.Lag.String())
	assert.True(t, o.Lag.Alert(61))
	th := Thresholds{Warn: o.Warning, Crit: o.Critical}
	assert.Equal(t, CRITICAL, th.Status(3))
	assert.Equal(t, WARNING, th.Status(9))
	assert.Equal(t, OK, th.Status(15))

	var o2 rangeOpts
	_, err = flags.NewParser(&o2, flags.None).ParseArgs(nil)
	require.NoError(t, err)
	assert.Nil(t, o2.Warning, "unset options stay nil and never alert")
	assert.Equal(t, OK, Thresholds{Warn: o2.Warning, Crit: o2.Critical}.Status(1e9))

	var o3 rangeOpts
	_, err = flags.NewParser(&o3, flags.None).ParseArgs([]string{"-c", "10:5"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "--critical")
	assert.Contains(t, err.Error(), `invalid range "10:5": start 10 is greater than end 5`)
}

func TestRangeGoFlagsHelp(t *testing.T) {
	// go-flags renders defaults through MarshalFlag, and must not call it
	// through the nil *Range of an unset option.
	preset := mustRange(t, "@1:2")
	o := rangeOpts{Preset: &preset}
	p := flags.NewParser(&o, flags.None)
	_, err := p.ParseArgs(nil)
	require.NoError(t, err)
	var buf strings.Builder
	p.WriteHelp(&buf)
	assert.Contains(t, buf.String(), "(default: ~:60)")
	assert.Contains(t, buf.String(), "(default: @1:2)")
}

func mustRange(t *testing.T, s string) Range {
	t.Helper()
	r, err := ParseRange(s)
	require.NoError(t, err)
	return r
}
