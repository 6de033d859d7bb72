package promotion

import (
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/registry-checks/registry-checks/lib/nagios"
)

// Measurement is the line-protocol measurement of a comparison.
const Measurement = "couch_promotion"

// classText is how a summary names a class: the phrase for n objects.
var classText = map[string]func(n int, names string) string{
	ClassUnreachable: func(int, string) string { return "replica not readable" },
	ClassMissing:     func(n int, names string) string { return plural(n, "database") + " missing" + names },
	ClassNoReplication: func(n int, names string) string {
		return plural(n, "database") + " without a running replication from the primary" + names
	},
	ClassBehind: func(n int, names string) string { return plural(n, "database") + " behind" + names },
	ClassDiverged: func(n int, names string) string {
		return "documents missing for good in " + plural(n, "database") + names
	},
	ClassDocDiff:  func(n int, names string) string { return "document counts differ in " + plural(n, "database") + names },
	ClassDesign:   func(n int, names string) string { return "design documents differ in " + plural(n, "database") + names },
	ClassSecurity: func(n int, names string) string { return "_security differs in " + plural(n, "database") + names },
	ClassFenced:   func(n int, names string) string { return "fenced on the replica in " + plural(n, "database") + names },
	ClassWrite:    func(int, string) string { return "the replica refuses writes" },
	ClassHeadroom: func(int, string) string { return "no room to compact the largest database" },
	ClassAdmins:   func(int, string) string { return "server admins differ" },
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}

// requestPrefix is "METHOD URL: " at the start of a problem's message.
var requestPrefix = regexp.MustCompile(`^[A-Z]+ [a-z]+://[^ ]+: `)

// Cause is a problem's message without the request it names ("POST
// http://db2:5984/_dbs_info: connection refused" -> "connection
// refused"), for a first line; the whole message goes in the long output.
func Cause(msg string) string {
	return requestPrefix.ReplaceAllString(msg, "")
}

// Node is how output names a node: its host (and port).
func Node(u string) string {
	p, err := url.Parse(u)
	if err != nil || p.Host == "" {
		return u
	}
	return p.Host
}

// Result is the Nagios result of the comparison: every blocker class named
// once and counted on line 1, the details in the long output, a count per
// class, the worst lag and the number of databases compared as perfdata
// and line protocol.
func (r Report) Result() nagios.Result {
	cfg := r.cfg
	maxNames := cfg.MaxNames
	if maxNames <= 0 {
		maxNames = 2
	}
	res := nagios.Result{Status: nagios.OK, Measurement: Measurement,
		Tags: map[string]string{"url": r.Replica, "primary": r.Primary}}
	var parts []string
	for _, class := range Classes {
		var names []string
		st := nagios.OK
		n := 0
		for _, f := range r.Findings {
			if f.Class != class {
				continue
			}
			n++
			st = nagios.Worse(st, f.Status)
			if f.Object != "" {
				names = append(names, f.Object)
			}
			res.Long = append(res.Long, f.Status.String()+": "+f.Detail)
		}
		if n == 0 {
			continue
		}
		res.Status = nagios.Worse(res.Status, st)
		list := ""
		if len(names) > 0 {
			shown := names[:min(len(names), maxNames)]
			list = " (" + strings.Join(shown, ", ")
			if len(names) > len(shown) {
				list += fmt.Sprintf(", +%d", len(names)-len(shown))
			}
			list += ")"
		}
		text := classText[class](n, list)
		if class == ClassUnreachable {
			// The cause, not only the fact: refused, 500, 401 call
			// for different people. The request stays in the long
			// output.
			for _, f := range r.Findings {
				if f.Class == class {
					text += ": " + Cause(f.Detail)
					break
				}
			}
		}
		if class == ClassHeadroom || class == ClassAdmins {
			// One finding, its detail is the news.
			for _, f := range r.Findings {
				if f.Class == class {
					text = f.Detail
					break
				}
			}
		}
		parts = append(parts, text)
	}

	worst, lagKnown := r.WorstLag()
	diff, diffKnown := r.WorstDocDiff()
	replica, primary := Node(r.Replica), Node(r.Primary)
	behind := "lag not known"
	switch {
	case lagKnown:
		behind = plural(int(worst), "change") + " behind"
	case diffKnown:
		behind = plural(int(max(diff, 0)), "document") + " behind"
	}
	switch {
	case res.Status == nagios.OK:
		res.Summary = fmt.Sprintf("%s could take over from %s: %s, %s", replica, primary, plural(len(r.DBs), "database"), behind)
	case res.Status == nagios.WARNING:
		res.Summary = fmt.Sprintf("%s could take over from %s, but %s", replica, primary, strings.Join(parts, "; "))
	default:
		res.Summary = fmt.Sprintf("%s cannot take over from %s: %s", replica, primary, strings.Join(parts, "; "))
	}
	if len(r.NotChecked) > 0 {
		var short []string
		for _, n := range r.NotChecked {
			s, _, _ := strings.Cut(n, ":")
			s, _, _ = strings.Cut(s, " (")
			short = append(short, s)
		}
		res.Summary += "; not checked: " + strings.Join(short, ", ")
		for _, n := range r.NotChecked {
			res.Long = append(res.Long, "not checked: "+n)
		}
		if res.Status == nagios.OK && cfg.NotChecked != nagios.OK {
			res.Status = cfg.NotChecked
		}
	}
	for _, d := range r.DBs {
		if d.Replication != "" {
			line := "database " + d.Name + ": fed by " + d.Replication
			if d.SeqLagKnown {
				line += fmt.Sprintf(", %d changes behind", d.SeqLag)
			}
			if d.DocDiffKnown {
				if d.DocDiff >= 0 {
					line += ", " + plural(int(d.DocDiff), "document") + " behind"
				} else {
					line += ", " + plural(int(-d.DocDiff), "document") + " more than on the primary"
				}
			}
			res.Long = append(res.Long, line)
		}
	}
	res.Long = append(res.Long, r.Notes...)

	zero := 0.0
	count := func(label, class string) nagios.Perf {
		return nagios.Perf{Label: label, Value: float64(r.Count(class)), Integer: true, Min: &zero}
	}
	res.Perf = []nagios.Perf{
		{Label: "databases", Value: float64(len(r.DBs)), Integer: true, Min: &zero},
		cfg.Lag.Apply(nagios.Perf{Label: "worst_lag", Value: float64(worst), Unknown: !lagKnown, Integer: true}),
		cfg.DocDiff.Apply(nagios.Perf{Label: "worst_doc_diff", Value: float64(diff), Unknown: !diffKnown, Integer: true}),
		count("missing", ClassMissing),
		count("no_replication", ClassNoReplication),
		count("diverged", ClassDiverged),
		{Label: "missing_docs", Value: float64(r.MissingDocs()), Integer: true, Min: &zero},
		count("behind", ClassBehind),
		count("doc_count_differ", ClassDocDiff),
		count("design_differ", ClassDesign),
		count("security_differ", ClassSecurity),
		count("fenced", ClassFenced),
		count("write_failed", ClassWrite),
		count("admins_differ", ClassAdmins),
		{Label: "not_checked", Value: float64(len(r.NotChecked)), Integer: true, Min: &zero},
	}
	hr := nagios.Perf{Label: "headroom", Field: "compaction_headroom_bytes", UOM: "B", Integer: true, Unknown: r.Headroom == nil}
	if r.Headroom != nil {
		hr.Value = float64(*r.Headroom)
	}
	wm := nagios.Perf{Label: "write_time", Field: "write_ms", UOM: "ms", Unknown: r.WriteMillis == nil}
	if r.WriteMillis != nil {
		wm.Value = *r.WriteMillis
	}
	res.Perf = append(res.Perf, hr, wm)
	return res
}
