package nagios

import (
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func fp(v float64) *float64 { return &v }

func TestPerfString(t *testing.T) {
	tests := []struct {
		name string
		p    Perf
		want string
	}{
		{"bare", Perf{Label: "time", Value: 0.25, UOM: "s"}, "time=0.25s"},
		{"all fields", Perf{Label: "lag", Value: 12.5, UOM: "s", Warn: "60", Crit: "300", Min: fp(0), Max: fp(3600)},
			"lag=12.5s;60;300;0;3600"},
		{"only min", Perf{Label: "docs", Value: 7, Integer: true, Min: fp(0)}, "docs=7;;;0"},
		{"only crit", Perf{Label: "x", Value: 1, Crit: "@0:2"}, "x=1;;@0:2"},
		{"max without min", Perf{Label: "pct", Value: 99.5, UOM: "%", Max: fp(100)}, "pct=99.5%;;;;100"},
		{"space quoted", Perf{Label: "registry db2 lag", Value: 3}, "'registry db2 lag'=3"},
		{"quote doubled", Perf{Label: "it's", Value: 3}, "'it''s'=3"},
		{"equals replaced", Perf{Label: "a=b", Value: 1}, "a_b=1"},
		{"pipe and newline replaced", Perf{Label: "a|b\nc", Value: 1}, "a_b_c=1"},
		{"arrow kept", Perf{Label: "registry->db2_lag", Value: 1}, "registry->db2_lag=1"},
		{"empty label", Perf{Value: 1}, "_=1"},
		{"unknown", Perf{Label: "lag", Value: 5, Unknown: true, UOM: "s", Warn: "60"}, "lag=U;60"},
		{"NaN", Perf{Label: "lag", Value: math.NaN(), UOM: "s"}, "lag=U"},
		{"+Inf", Perf{Label: "lag", Value: math.Inf(1)}, "lag=U"},
		{"-Inf", Perf{Label: "lag", Value: math.Inf(-1)}, "lag=U"},
		{"integer", Perf{Label: "errors", Value: 5, Integer: true, UOM: "c"}, "errors=5c"},
		{"integer rounds", Perf{Label: "n", Value: 2.5, Integer: true}, "n=3"},
		{"integer bounds", Perf{Label: "n", Value: 2, Integer: true, Min: fp(0.4), Max: fp(9.6)}, "n=2;;;0;10"},
		{"negative", Perf{Label: "skew", Value: -0.125, UOM: "s"}, "skew=-0.125s"},
		{"negative zero", Perf{Label: "z", Value: math.Copysign(0, -1)}, "z=0"},
		{"large no exponent", Perf{Label: "big", Value: 1e21, UOM: "B"}, "big=1000000000000000000000B"},
		{"small no exponent", Perf{Label: "tiny", Value: 1.5e-7, UOM: "s"}, "tiny=0.00000015s"},
		{"large integer", Perf{Label: "bytes", Value: 123456789012, Integer: true, UOM: "B"}, "bytes=123456789012B"},
		{"NaN max dropped", Perf{Label: "x", Value: 1, Min: fp(0), Max: fp(math.NaN())}, "x=1;;;0"},
		{"UOM sanitised", Perf{Label: "x", Value: 1, UOM: "m s;1"}, "x=1ms"},
		{"range sanitised", Perf{Label: "x", Value: 1, Warn: "10; 20", Crit: "1e3"}, "x=1;1020;13"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, tt.p.String())
		})
	}
}

func TestPerfNumbersNeverExponent(t *testing.T) {
	for _, v := range []float64{math.MaxFloat64, -math.MaxFloat64, math.SmallestNonzeroFloat64, 1e-300, 6.02e23, 1.0 / 3} {
		for _, integer := range []bool{false, true} {
			s := Perf{Label: "x", Value: v, Integer: integer, Min: fp(v), Max: fp(v)}.String()
			assert.NotContains(t, s, "e", "%v integer=%v", v, integer)
			assert.NotContains(t, s, "E", "%v integer=%v", v, integer)
			value := strings.TrimPrefix(strings.Split(s, ";")[0], "x=")
			assert.Empty(t, strings.Trim(value, "-0123456789."), "%v: %q", v, value)
		}
	}
}
