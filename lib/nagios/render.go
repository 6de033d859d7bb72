package nagios

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/registry-checks/registry-checks/lib/secret"
)

// DefaultLimit bounds the whole output: NRPE and consul-style runners cut
// plugin output at about 4 KiB, and a cut we do ourselves can say so.
const DefaultLimit = 4096

const (
	// line1PerfBudget keeps line 1 readable in the Nagios status view;
	// the rest of the perfdata follows the long output.
	line1PerfBudget = 80
	// aggregateNamed and aggregateBudget bound the names an aggregated
	// summary lists, so that line 1 stays short with hundreds of subs.
	aggregateNamed  = 3
	aggregateBudget = 120
)

// severity orders states as monitoring-plugins' max_state_alt does:
// CRITICAL > WARNING > UNKNOWN > OK. A value that is no state counts as
// UNKNOWN, as its String says.
func severity(s Status) int {
	switch s {
	case OK:
		return 0
	case WARNING:
		return 2
	case CRITICAL:
		return 3
	default:
		return 1
	}
}

// normalize maps a value that is no state to UNKNOWN, so that an exit
// code is always 0..3.
func normalize(s Status) Status {
	if severity(s) == 1 {
		return UNKNOWN
	}
	return s
}

// Worse returns the worse of two states: CRITICAL > WARNING > UNKNOWN >
// OK. A WARNING about a threshold beats an UNKNOWN about one object, since
// it is a confirmed problem.
func Worse(a, b Status) Status {
	if severity(b) > severity(a) {
		return normalize(b)
	}
	return normalize(a)
}

// worstFirst returns subs' indices ordered worst state first, keeping the
// given order among equals.
func worstFirst(subs []Result) []int {
	idx := make([]int, len(subs))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int {
		return severity(subs[b].Status) - severity(subs[a].Status)
	})
	return idx
}

// Aggregate derives one Result from one Result per object (noun is their
// plural, e.g. "replications"): the worst state of subs, and a summary that
// counts and names the worst first,
//
//	2 of 14 replications failing: registry->db2 crashing (source unreachable), registry->db3 error (...)
//	14 replications OK
//
// naming at most a few, then "and N more". An empty subs is UNKNOWN: the
// check found nothing to judge. subs is not reordered; Subs holds a copy,
// and Render lists them worst first, one line each.
func Aggregate(noun string, subs []Result) Result {
	r := Result{Subs: slices.Clone(subs)}
	if len(subs) == 0 {
		r.Status = UNKNOWN
		r.Summary = "no " + noun + " found"
		return r
	}
	r.Status = OK
	var failing []int
	for _, i := range worstFirst(subs) {
		r.Status = Worse(r.Status, subs[i].Status)
		if severity(subs[i].Status) > 0 {
			failing = append(failing, i)
		}
	}
	if len(failing) == 0 {
		r.Summary = fmt.Sprintf("%d %s OK", len(subs), countNoun(len(subs), noun))
		return r
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d of %d %s failing: ", len(failing), len(subs), noun)
	start := b.Len()
	named := 0
	for _, i := range failing {
		if named == aggregateNamed || (named > 0 && b.Len()-start > aggregateBudget) {
			break
		}
		if named > 0 {
			b.WriteString(", ")
		}
		b.WriteString(describe(subs[i]))
		named++
	}
	if more := len(failing) - named; more > 0 {
		fmt.Fprintf(&b, " and %d more", more)
	}
	r.Summary = b.String()
	return r
}

// countNoun makes the plural noun agree with a count of one ("1 replication
// OK", "1 design document OK"); every noun the checks pass is a regular plural.
func countNoun(n int, plural string) string {
	if n == 1 {
		return strings.TrimSuffix(plural, "s")
	}
	return plural
}

// describe names a sub in an aggregated summary: its name and summary.
// The text stays raw: Render redacts it before it makes it one line (a
// '|' or a tab changed first would hide a secret from the redactor).
func describe(s Result) string {
	name, summary := s.Name, s.Summary
	switch {
	case name == "":
		return summary
	case summary == "":
		return name + " " + normalize(s.Status).String()
	default:
		return name + " " + summary
	}
}

// oneLine makes text safe for a line of plugin output: a newline (or any
// control character, see secret.Sanitize) would start long output early
// or forge a line, and a '|' would start perfdata.
func oneLine(s string) string {
	s = secret.Sanitize(strings.ReplaceAll(s, "\r\n", " "))
	if !strings.Contains(s, "|") {
		return s
	}
	return strings.ReplaceAll(s, "|", "/")
}

// RenderOptions control Render.
type RenderOptions struct {
	// Verbose is the -v count. At 0 every sub gets its one line but only
	// the subs that are not OK show their long output and their own subs;
	// from 1 on all of them do.
	Verbose int
	// Limit bounds the output in bytes, trailing newline included;
	// 0 means DefaultLimit.
	Limit int
	// Redact is applied to every text of the tree (names, summaries, long
	// lines, perfdata labels) before anything is cut: a cut must never
	// leave a prefix of a secret, which the redactor would no longer
	// recognise. nil redacts nothing.
	Redact func(string) string
}

// Render formats r as Nagios reads plugin output:
//
//	NAME STATE - summary | first perfdata
//	long output (r.Long, then one line per sub, worst first, recursively)
//	| the rest of the perfdata
//
// Perfdata is that of the whole tree, r.Perf then each sub's in order,
// with duplicate labels made unique by a _2, _3... suffix. The output never
// exceeds the limit: trailing long-output lines and perfdata items are
// dropped whole and a last long-output line says how many, rather than
// letting NRPE cut a line in half. The text ends with a newline.
func Render(name string, r Result, opts RenderOptions) string {
	limit := opts.Limit
	if limit <= 0 {
		limit = DefaultLimit
	}
	redact := opts.Redact
	if redact == nil {
		redact = func(s string) string { return s }
	}

	head := normalize(r.Status).String()
	if n := oneLine(redact(name)); n != "" {
		head = n + " " + head
	}
	if s := oneLine(redact(r.Summary)); s != "" {
		head += " - " + s
	}

	// Only the perfdata that can be shown is formatted: with 5,000
	// replications 40,000 items would be formatted to print about a
	// hundred. The rest is counted for the note.
	perfN := countPerf(r)
	perf := formatPerf(r, limit+line1PerfBudget, redact)
	k1, size := 0, 0
	for k1 < len(perf) && size+len(perf[k1])+1 <= line1PerfBudget+1 {
		size += len(perf[k1]) + 1
		k1++
	}
	line1 := func(k int) string {
		if k == 0 {
			return head
		}
		return head + " | " + strings.Join(perf[:k], " ")
	}
	for k1 > 0 && len(line1(k1))+1 > limit {
		k1--
	}
	first := line1(k1)
	if len(first)+1 > limit {
		first = truncate(first, limit-1)
	}

	long := longLines(r, 0, opts.Verbose, nil)
	// Lines are redacted, then made one line, before they are measured
	// and cut; only as many as could fit (fit takes a prefix of them),
	// since with thousands of subs the rest is only counted.
	for i, size := 0, 0; i < len(long) && size <= limit; i++ {
		long[i] = oneLine(redact(long[i]))
		size += len(long[i]) + 1
	}
	rest, restN := perf[k1:], perfN-k1
	room := limit - len(first) - 1

	nLines, nPerf := len(long), restN
	// Perfdata left unformatted is more than the limit by itself, so it
	// does not fit either.
	if len(rest) < restN || linesSize(long)+perfSize(rest) > room {
		nLines, nPerf = fit(long, rest, restN, room, limit)
	}

	var b strings.Builder
	b.WriteString(first)
	b.WriteByte('\n')
	for _, l := range long[:nLines] {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	free := limit - b.Len() - perfSize(rest[:nPerf])
	if n := overflowNote(len(long)-nLines, restN-nPerf, limit, free); n != "" {
		b.WriteString(n)
		b.WriteByte('\n')
	}
	if nPerf > 0 {
		b.WriteString("| ")
		b.WriteString(strings.Join(rest[:nPerf], " "))
		b.WriteByte('\n')
	}
	return b.String()
}

// fit chooses how many long lines and perf items fit in room bytes,
// leaving space for the note that says what was left out. Perfdata may
// take half the room, or more when the lines need less: the lines say what
// is wrong, and every number also reaches line protocol in full. rest is
// the formatted head of restN items: at least room bytes of them, or all.
func fit(long, rest []string, restN, room, limit int) (nLines, nPerf int) {
	if note := overflowNote(len(long), restN, limit, room); note != "" {
		room -= len(note) + 1
	}
	perfRoom := max(room/2, room-linesSize(long))
	size := 0
	for nPerf < len(rest) {
		add := len(rest[nPerf]) + 1 // the separating space, or the newline
		if nPerf == 0 {
			add += 2 // "| "
		}
		if size+add > perfRoom {
			break
		}
		size += add
		nPerf++
	}
	lineRoom := room - size
	size = 0
	for nLines < len(long) && size+len(long[nLines])+1 <= lineRoom {
		size += len(long[nLines]) + 1
		nLines++
	}
	return nLines, nPerf
}

// overflowNote says what was left out, in the longest form that fits in
// room bytes with its newline: the counts and the limit, or just "(+N more)",
// or nothing when not even that fits. It carries no '|' or '=' so that
// nothing reads it as perfdata.
func overflowNote(lines, perf, limit, room int) string {
	var parts []string
	if lines > 0 {
		parts = append(parts, "+"+strconv.Itoa(lines)+" more lines")
	}
	if perf > 0 {
		parts = append(parts, "+"+strconv.Itoa(perf)+" more perfdata items")
	}
	if len(parts) == 0 {
		return ""
	}
	for _, n := range []string{
		"(" + strings.Join(parts, ", ") + " not shown: output limit " + strconv.Itoa(limit) + " bytes)",
		"(+" + strconv.Itoa(lines+perf) + " more)",
	} {
		if len(n)+1 <= room {
			return n
		}
	}
	return ""
}

func linesSize(lines []string) int {
	n := 0
	for _, l := range lines {
		n += len(l) + 1
	}
	return n
}

func perfSize(items []string) int {
	if len(items) == 0 {
		return 0
	}
	n := 2 // "| "
	for _, p := range items {
		n += len(p) + 1
	}
	return n
}

// truncate cuts s (redacted already) to at most n bytes at a rune
// boundary and marks the cut. Only line 1 is ever cut: it is the one line
// Nagios must get.
func truncate(s string, n int) string { return secret.Cut(s, n) }

// longLines lists r.Long and then one line per sub, worst first, each
// followed by that sub's own lines when it is not OK or verbose is set.
//
// The lines are raw: Render redacts them and makes each one line.
func longLines(r Result, depth, verbose int, out []string) []string {
	indent := strings.Repeat("  ", depth)
	for _, l := range r.Long {
		out = append(out, indent+l)
	}
	if verbose > 0 {
		for _, l := range r.Verbose {
			out = append(out, indent+l)
		}
	}
	for _, i := range worstFirst(r.Subs) {
		s := r.Subs[i]
		line := indent + normalize(s.Status).String()
		name, summary := s.Name, s.Summary
		switch {
		case name != "" && summary != "":
			line += " " + name + ": " + summary
		case name != "":
			line += " " + name
		case summary != "":
			line += " " + summary
		}
		out = append(out, line)
		if verbose > 0 || severity(s.Status) > 0 {
			out = longLines(s, depth+1, verbose, out)
		}
	}
	return out
}

// countPerf is the number of perfdata items of the tree.
func countPerf(r Result) int {
	n := len(r.Perf)
	for i := range r.Subs {
		n += countPerf(r.Subs[i])
	}
	return n
}

// formatPerf formats the perfdata of the tree, r's, then each sub's in
// the given order, until the items formatted take more than bound bytes
// (each with its separator); the rest could not be printed anyway. A label
// already taken (as printed) is renamed with a _2, _3... suffix.
// Duplicates are a bug in the check, but Nagios graphs would silently
// merge them, so they are kept apart, the same way on every run: the
// renaming of an item depends only on the items before it.
func formatPerf(r Result, bound int, redact func(string) string) []string {
	f := perfFormatter{bound: bound, seen: map[string]bool{}, redact: redact}
	f.add(&r)
	return f.out
}

type perfFormatter struct {
	out         []string
	seen        map[string]bool
	size, bound int
	redact      func(string) string
}

// add formats r's items and its subs'; false once the bound is passed.
func (f *perfFormatter) add(r *Result) bool {
	for _, p := range r.Perf {
		if f.size > f.bound {
			return false
		}
		p.Label = f.redact(p.Label)
		s := p.String()
		key := perfLabel(p.Label)
		if f.seen[key] {
			base := p.Label
			for n := 2; f.seen[key]; n++ {
				p.Label = base + "_" + strconv.Itoa(n)
				key = perfLabel(p.Label)
			}
			s = p.String()
		}
		f.seen[key] = true
		f.out = append(f.out, s)
		f.size += len(s) + 1
	}
	for i := range r.Subs {
		if !f.add(&r.Subs[i]) {
			return false
		}
	}
	return true
}
