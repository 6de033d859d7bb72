package nagios

import (
	"slices"
	"strconv"
	"strings"
)

// GroupBudget bounds a grouped summary in bytes. With the name and state
// before it ("RESTART_COUCH_REPLICATION CRITICAL - ", 37 bytes) and the
// perfdata Render puts on line 1 (at most 80 bytes and " | "), line 1
// stays under 300 bytes whatever the number of objects (37 + 179 + 3 +
// 80 = 299).
const GroupBudget = 179

const (
	groupNamed    = 2  // names listed per group at most
	groupNameSize = 60 // bytes of one name at most
)

// Group is one cause shared by several objects, for a grouped summary.
type Group struct {
	Lead  string   // before the count, e.g. "restarted"; usually empty
	Count int      // objects in the group
	What  string   // after the count: "source unreachable", "replications from http://db1:5984"
	Quals []string // what the whole group shares: the server, the error kinds
	Names []string // the objects, in order; the first few are named
	// NamesFirst puts the names before the qualifiers, as in
	// "1 needs a human (bad-filter: filter missing on source)".
	NamesFirst bool
	// Tail follows the group at every level of detail, after its
	// parenthesis: ", 105 queued behind max_jobs 500".
	Tail string
}

// text is the group at a level of detail: 0 the count and what, 1 with
// its first qualifier (the server), 2 with all of them, 3 with the first
// names too:
//
//	202 source unreachable (http://db1:5984, connection closed; small-000, small-001 and 200 more)
//	1 filter missing on source (bad-filter)
func (g Group) text(level int) string {
	var b strings.Builder
	if g.Lead != "" {
		b.WriteString(g.Lead)
		b.WriteByte(' ')
	}
	b.WriteString(strconv.Itoa(g.Count))
	b.WriteByte(' ')
	b.WriteString(g.What)
	quals := g.Quals
	switch {
	case level == 0:
		quals = nil
	case level == 1 && len(quals) > 1:
		quals = quals[:1]
	}
	named := 0
	if level >= 3 {
		named = min(len(g.Names), groupNamed)
	}
	if len(quals) == 0 && named == 0 {
		b.WriteString(g.Tail)
		return b.String()
	}
	q := strings.Join(quals, ", ")
	var names strings.Builder
	for i, n := range g.Names[:named] {
		if i > 0 {
			names.WriteString(", ")
		}
		names.WriteString(clipTo(oneLine(n), groupNameSize))
	}
	if more := g.Count - named; named > 0 && more > 0 {
		names.WriteString(" and " + strconv.Itoa(more) + " more")
	}
	b.WriteString(" (")
	switch {
	case named == 0:
		b.WriteString(q)
	case q == "":
		b.WriteString(names.String())
	case g.NamesFirst:
		b.WriteString(names.String() + ": " + q)
	default:
		b.WriteString(q + "; " + names.String())
	}
	b.WriteByte(')')
	b.WriteString(g.Tail)
	return b.String()
}

// Grouped is head followed by the groups, most important first, joined
// by sep (", " or "; "), in at most budget bytes:
//
//	204 of 206 replications failing: 202 source unreachable (http://db1:5984, connection closed), 1 source database missing (missing-source), 1 filter missing on source (bad-filter)
//
// Every group is said once with its count. Causes come before details:
// as many groups as fit are said bare, then each gets its server, its
// other qualifiers, and names (smallest groups first: one name says more
// about a group of one than about a group of 200) while they fit. Groups
// that do not fit are counted at the end, by the objects in them, and
// their causes named first when they fit: "and 12 more (filter missing on
// source, source database missing)", else "and 12 more (3 other causes)".
// The result never exceeds budget unless head alone does. Names and Quals
// must come redacted (as lib/replication and the restart handler pass
// them): Grouped cuts them, and a cut secret is one the redactor no longer
// recognises.
func Grouped(head, sep string, groups []Group, budget int) string {
	level := make([]int, len(groups))
	body := func(shown int) string {
		var b strings.Builder
		b.WriteString(head)
		for i, g := range groups[:shown] {
			if i > 0 {
				b.WriteString(sep)
			}
			b.WriteString(g.text(level[i]))
		}
		return b.String()
	}
	build := func(shown int) string {
		s := body(shown)
		return s + moreText(groups[shown:], budget-len(s))
	}
	shown := len(groups)
	for shown > 0 && len(build(shown)) > budget {
		shown--
	}
	if shown == 0 {
		return clipTo(build(0), max(budget, len(head)))
	}
	// The causes left out are named, when they can be, before any group
	// said gets its details: what is wrong before where and how.
	tail := moreText(groups[shown:], budget-len(body(shown)))
	order := make([]int, shown)
	for i := range order {
		order[i] = i
	}
	bySize := slices.Clone(order)
	slices.SortStableFunc(bySize, func(a, b int) int { return groups[a].Count - groups[b].Count })
	for l := 1; l <= 3; l++ {
		idx := order
		if l == 3 {
			idx = bySize
		}
		for _, i := range idx {
			if level[i] != l-1 {
				continue // a lesser detail did not fit already
			}
			level[i] = l
			if len(body(shown))+len(tail) > budget {
				level[i] = l - 1
			}
		}
	}
	return body(shown) + tail
}

// moreText counts the objects of the groups left out, "and N more",
// then names their causes in the given order, as many as fit in room
// bytes: "and 3 more (filter missing on source, source database
// missing, authentication refused by source)", "and 42 more
// (recovering from a crash and 2 other causes)", else only how many:
// "and 42 more (3 other causes)". N counts objects, never groups: a
// reader adds it to the counts said before it.
func moreText(rest []Group, room int) string {
	if len(rest) == 0 {
		return ""
	}
	n := 0
	for _, g := range rest {
		n += g.Count
	}
	lead := " and " + strconv.Itoa(n) + " more ("
	others := func(k int) string {
		if k == 1 {
			return "1 other cause"
		}
		return strconv.Itoa(k) + " other causes"
	}
	named := make([]string, len(rest))
	for i, g := range rest {
		named[i] = clipTo(oneLine(strings.TrimSpace(g.Lead+" "+g.What)), groupNameSize)
	}
	for k := len(named); k > 0; k-- {
		s := lead + strings.Join(named[:k], ", ")
		if k < len(named) {
			s += " and " + others(len(named)-k)
		}
		if s += ")"; len(s) <= room {
			return s
		}
	}
	return lead + others(len(rest)) + ")"
}

// clipTo is s, cut to n bytes with a mark when longer.
func clipTo(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return truncate(s, n)
}
