package docexamples

import (
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"
)

// MatchOutput compares an example's output, as a page or --help shows it,
// with what the binary printed against the local stack. The wording must
// be the product's: every word and every separator of the example, in
// order, with only what differs between the example's world and the
// stack's left open: a number (with its unit: 74.9 KiB, 61s, 84%, a
// version's 1.3.0), a host:port, and a trailing "s" (1 database, 3
// databases). A line ending in "..." is a prefix of the printed line;
// the printed output may have more lines than the example.
//
// Perfdata is compared item by item: the label exactly, then the value
// (any number, or U), its unit and the warn;crit;min;max fields exactly.
// "..." after the last item shown allows more.
func MatchOutput(example, printed string) error {
	want := strings.Split(strings.TrimRight(example, "\n"), "\n")
	got := strings.Split(strings.TrimRight(printed, "\n"), "\n")
	if len(got) < len(want) {
		return fmt.Errorf("the example shows %d lines, the binary printed %d:\n%s", len(want), len(got), printed)
	}
	for i, w := range want {
		g := got[i]
		wText, wPerf, wHasPerf := strings.Cut(w, " | ")
		if i == 0 && wHasPerf {
			gText, gPerf, ok := strings.Cut(g, " | ")
			if !ok {
				return fmt.Errorf("line 1: the example has perfdata, the binary printed none: %q", g)
			}
			if err := matchText(wText, gText); err != nil {
				return fmt.Errorf("line 1: %w", err)
			}
			if err := matchPerf(wPerf, gPerf); err != nil {
				return fmt.Errorf("line 1 perfdata: %w", err)
			}
			continue
		}
		if err := matchText(w, g); err != nil {
			return fmt.Errorf("line %d: %w", i+1, err)
		}
	}
	return nil
}

var (
	// a number with its unit or the rest of a version or duration:
	// 12,408 0.02% 61s 1m2s 76.7 GiB 1.3.0 0.6ms
	numberTok = regexp.MustCompile(`^[0-9][0-9,.]*(?:[a-zµ%]+[0-9.]*)*(?: (?:B|KiB|MiB|GiB|TiB))?`)
	hostTok   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9.-]*:[0-9]+`)
	wordTok   = regexp.MustCompile(`^[A-Za-z][A-Za-z_-]*`)
)

const (
	numberRe = `[0-9][0-9,.]*(?:[a-zµ%]+[0-9.]*)*(?: (?:B|KiB|MiB|GiB|TiB))?`
	hostRe   = `[A-Za-z0-9][A-Za-z0-9.-]*:[0-9]+`
)

// pattern turns an example's text into the regular expression its
// printed form must match (see MatchOutput).
func pattern(text string) string {
	var b strings.Builder
	for text != "" {
		if m := hostTok.FindString(text); m != "" {
			b.WriteString(hostRe)
			text = text[len(m):]
			continue
		}
		if m := numberTok.FindString(text); m != "" {
			b.WriteString(numberRe)
			text = text[len(m):]
			continue
		}
		if m := wordTok.FindString(text); m != "" {
			stem := m
			if len(m) > 3 && strings.HasSuffix(m, "s") && !strings.HasSuffix(m, "ss") {
				stem = m[:len(m)-1]
			}
			b.WriteString(regexp.QuoteMeta(stem) + "s?")
			text = text[len(m):]
			continue
		}
		_, size := utf8.DecodeRuneInString(text)
		b.WriteString(regexp.QuoteMeta(text[:size]))
		text = text[size:]
	}
	return b.String()
}

func matchText(want, got string) error {
	p, prefix := strings.CutSuffix(want, "...")
	if prefix {
		p = strings.TrimRight(p, " ")
	}
	re := "^" + pattern(p)
	if !prefix {
		re += "$"
	}
	if !regexp.MustCompile(re).MatchString(got) {
		return fmt.Errorf("the example shows %q, the binary printed %q", want, got)
	}
	return nil
}

// perfItems splits perfdata at spaces outside quoted labels.
func perfItems(s string) []string {
	var out []string
	var cur strings.Builder
	quoted := false
	for _, r := range strings.TrimSpace(s) {
		switch {
		case r == '\'':
			quoted = !quoted
			cur.WriteRune(r)
		case r == ' ' && !quoted:
			if cur.Len() > 0 {
				out = append(out, cur.String())
				cur.Reset()
			}
		default:
			cur.WriteRune(r)
		}
	}
	if cur.Len() > 0 {
		out = append(out, cur.String())
	}
	return out
}

var perfValue = regexp.MustCompile(`^(-?[0-9.]+(?:[eE][-+]?[0-9]+)?|U)([A-Za-z%]*)$`)

func matchPerf(want, got string) error {
	w, g := perfItems(want), perfItems(got)
	more := len(w) > 0 && w[len(w)-1] == "..."
	if more {
		w = w[:len(w)-1]
	}
	if len(g) < len(w) || (!more && len(g) != len(w)) {
		return fmt.Errorf("the example shows %d items%s, the binary printed %d: %q", len(w), map[bool]string{true: " and more"}[more], len(g), got)
	}
	for i := range w {
		wl, wv, _ := strings.Cut(w[i], "=")
		gl, gv, _ := strings.Cut(g[i], "=")
		if wl != gl {
			return fmt.Errorf("item %d: the example's label is %s, the binary's %s", i+1, wl, gl)
		}
		wf, gf := strings.Split(wv, ";"), strings.Split(gv, ";")
		wm, gm := perfValue.FindStringSubmatch(wf[0]), perfValue.FindStringSubmatch(gf[0])
		if wm == nil || gm == nil {
			return fmt.Errorf("item %d (%s): value %q or %q is not a number", i+1, wl, wf[0], gf[0])
		}
		if wm[2] != gm[2] && wm[1] != "U" && gm[1] != "U" {
			return fmt.Errorf("item %d (%s): unit %q in the example, %q printed", i+1, wl, wm[2], gm[2])
		}
		if strings.Join(wf[1:], ";") != strings.Join(gf[1:], ";") {
			return fmt.Errorf("item %d (%s): thresholds and range %q in the example, %q printed", i+1, wl, strings.Join(wf[1:], ";"), strings.Join(gf[1:], ";"))
		}
	}
	return nil
}

// PerfLabels are the perfdata labels of an output, each by its last word
// ('registry-from-node1 job_state' reads job_state): the metric, without
// the instance an example's world and the stack's name differently. The
// perfdata of the first line after " | " and of every later line that
// starts with "| " (Nagios's long perfdata) count.
func PerfLabels(out string) map[string]bool {
	labels := map[string]bool{}
	for i, l := range strings.Split(out, "\n") {
		var perf string
		switch {
		case i == 0:
			_, perf, _ = strings.Cut(l, " | ")
		case strings.HasPrefix(l, "| "):
			perf = strings.TrimPrefix(l, "| ")
		default:
			continue
		}
		for _, item := range perfItems(perf) {
			label, _, ok := strings.Cut(item, "=")
			if !ok {
				continue
			}
			label = strings.Trim(label, "'")
			if f := strings.Fields(label); len(f) > 0 {
				labels[f[len(f)-1]] = true
			}
		}
	}
	return labels
}
