package replication

import (
	"regexp"
	"slices"
	"strings"
)

// matcher is a compiled Selection.
type matcher struct {
	docIDs         map[string]bool
	source, target *regexp.Regexp
	dbs            []string
	noTransient    bool
}

func (s Selection) compile() matcher {
	m := matcher{dbs: s.replicatorDBs(), noTransient: s.NoTransient || len(s.DocIDs) > 0}
	if len(s.DocIDs) > 0 {
		m.docIDs = make(map[string]bool, len(s.DocIDs))
		for _, id := range s.DocIDs {
			m.docIDs[id] = true
		}
	}
	m.source = globRegexp(s.Source)
	m.target = globRegexp(s.Target)
	return m
}

func (s Selection) replicatorDBs() []string {
	if len(s.ReplicatorDBs) == 0 {
		return []string{DefaultReplicatorDB}
	}
	return s.ReplicatorDBs
}

// globRegexp compiles a glob ('*' any run, '?' one character, '/'
// included) into an anchored regexp; nil for the empty pattern.
func globRegexp(glob string) *regexp.Regexp {
	if glob == "" {
		return nil
	}
	var b strings.Builder
	b.WriteString("^")
	for _, r := range glob {
		switch r {
		case '*':
			b.WriteString(".*")
		case '?':
			b.WriteString(".")
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	b.WriteString("$")
	return regexp.MustCompile(b.String())
}

// matchEndpoint matches a URL (without credentials and trailing slash)
// against a pattern: the whole URL when the pattern has "://", else the
// database name alone.
func matchEndpoint(re *regexp.Regexp, pattern, u string) bool {
	if re == nil {
		return true
	}
	if strings.Contains(pattern, "://") {
		return re.MatchString(u)
	}
	return re.MatchString(dbOf(u)) || re.MatchString(u)
}

// selected reports whether a replication is in the selection.
func (m matcher) selected(r *Replication, sel Selection) bool {
	if r.Transient {
		if m.noTransient {
			return false
		}
	} else {
		if !slices.Contains(m.dbs, r.Database) {
			return false
		}
		if m.docIDs != nil && !m.docIDs[r.DocID] {
			return false
		}
	}
	return matchEndpoint(m.source, sel.Source, r.sourceURL) && matchEndpoint(m.target, sel.Target, r.targetURL)
}

// selectReplications keeps the selected replications and adds a Missing
// one for each named doc id the node does not have.
func selectReplications(all []Replication, sel Selection) []Replication {
	m := sel.compile()
	out := all[:0]
	have := map[string]bool{}
	for i := range all {
		if m.selected(&all[i], sel) {
			out = append(out, all[i])
			if !all[i].Transient {
				have[all[i].DocID] = true
			}
		}
	}
	db := m.dbs[0]
	for _, id := range sel.DocIDs {
		if have[id] {
			continue
		}
		have[id] = true
		out = append(out, Replication{
			Key: db + "/" + id, DocID: id, Database: db, State: Missing,
			Reason: "no replication document " + id + " in " + strings.Join(m.dbs, ", ") + " (deleted?)",
		})
	}
	return out
}
