package nagios

import (
	"math"
	"strconv"
	"strings"
)

// String formats p as one perfdata item,
// `'label'=value[UOM];[warn];[crit];[min];[max]`, with the empty fields at
// the end left off.
//
// The label is quoted only when it holds a space or a quote (a quote
// inside is doubled); '=' (which ends the label), '|' (which starts
// perfdata) and control characters become '_'. Numbers are plain decimals,
// never exponent notation, whatever their size; a value that is Unknown,
// NaN or infinite is U (a NaN or infinite min/max is left out). An Integer
// item is rounded and printed without decimals. The UOM keeps only letters
// and '%', and warn/crit only range characters, so a careless caller cannot
// break the line Nagios parses.
func (p Perf) String() string {
	var b strings.Builder
	b.WriteString(perfLabel(p.Label))
	b.WriteByte('=')
	if v, ok := perfNumber(p.Value, p.Integer); ok && !p.Unknown {
		b.WriteString(v)
		b.WriteString(keepOnly(p.UOM, isUOMChar))
	} else {
		b.WriteByte('U')
	}
	fields := []string{
		keepOnly(p.Warn, isRangeChar),
		keepOnly(p.Crit, isRangeChar),
		perfBound(p.Min, p.Integer),
		perfBound(p.Max, p.Integer),
	}
	last := len(fields)
	for last > 0 && fields[last-1] == "" {
		last--
	}
	for _, f := range fields[:last] {
		b.WriteByte(';')
		b.WriteString(f)
	}
	return b.String()
}

// perfLabel sanitises and quotes a label. An empty label would make the
// item unparsable, so it becomes "_".
func perfLabel(label string) string {
	var b strings.Builder
	quote := false
	for _, c := range label {
		switch {
		case c == '=' || c == '|' || c < 0x20 || c == 0x7f:
			b.WriteByte('_')
		case c == '\'':
			quote = true
			b.WriteString("''")
		case c == ' ':
			quote = true
			b.WriteRune(c)
		default:
			b.WriteRune(c)
		}
	}
	s := b.String()
	if s == "" {
		return "_"
	}
	if quote {
		return "'" + s + "'"
	}
	return s
}

// perfNumber formats v with [-0-9.] only; false when v has no such form.
func perfNumber(v float64, integer bool) (string, bool) {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "", false
	}
	if integer {
		v = math.Round(v)
	}
	if v == 0 {
		v = 0 // no "-0"
	}
	return strconv.FormatFloat(v, 'f', -1, 64), true
}

func perfBound(v *float64, integer bool) string {
	if v == nil {
		return ""
	}
	s, _ := perfNumber(*v, integer)
	return s
}

func isUOMChar(c rune) bool {
	return c == '%' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

func isRangeChar(c rune) bool {
	return (c >= '0' && c <= '9') || strings.ContainsRune("-.:~@", c)
}

func keepOnly(s string, ok func(rune) bool) string {
	if strings.IndexFunc(s, func(c rune) bool { return !ok(c) }) < 0 {
		return s
	}
	var b strings.Builder
	for _, c := range s {
		if ok(c) {
			b.WriteRune(c)
		}
	}
	return b.String()
}
