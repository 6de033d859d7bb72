package nagios

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func TestWorse(t *testing.T) {
	order := []Status{OK, UNKNOWN, WARNING, CRITICAL} // least to most bad
	for i, a := range order {
		for j, b := range order {
			want := order[max(i, j)]
			assert.Equal(t, want, Worse(a, b), "Worse(%v, %v)", a, b)
		}
	}
	assert.Equal(t, UNKNOWN, Worse(OK, Status(7)), "a value that is no state counts as UNKNOWN")
	assert.Equal(t, UNKNOWN, Worse(Status(-1), OK))
	assert.Equal(t, WARNING, Worse(Status(7), WARNING))
}

// replication builds one sub the way a replication check would.
func replication(target string, st Status, summary string, lag float64, errors int) Result {
	return Result{
		Name:        "registry->" + target,
		Status:      st,
		Summary:     summary,
		Measurement: "couchdb_replication",
		Tags:        map[string]string{"source": "registry", "target": target},
		Perf: []Perf{
			{Label: target + "_lag", Field: "lag", Value: lag, UOM: "s", Warn: "60", Crit: "300", Min: fp(0)},
			{Label: target + "_errors", Field: "errors", Value: float64(errors), Integer: true, UOM: "c"},
		},
	}
}

func fourteen(failing ...Result) []Result {
	var subs []Result
	for i := 1; len(subs)+len(failing) < 14; i++ {
		r := replication(fmt.Sprintf("mirror%d", i), OK, "running", float64(i), 0)
		r.Long = []string{"checkpointed 2s ago"} // shown with -v only
		subs = append(subs, r)
	}
	// The failing ones in the middle: the summary must still name them first.
	return append(subs[:5], append(failing, subs[5:]...)...)
}

func TestAggregate(t *testing.T) {
	db2 := replication("db2", CRITICAL, "crashing (source unreachable, 5 errors)", 900, 5)
	db3 := replication("db3", WARNING, "lagging (lag 120s)", 120, 0)
	db4 := replication("db4", UNKNOWN, "state not reported", 0, 0)
	db5 := replication("db5", CRITICAL, "error (no such database)", 0, 1)
	tests := []struct {
		name    string
		subs    []Result
		status  Status
		summary string
	}{
		{"all OK", fourteen(), OK, "14 replications OK"},
		{"one warning", fourteen(db3), WARNING, "1 of 14 replications failing: registry->db3 lagging (lag 120s)"},
		{"worst first", fourteen(db3, db2), CRITICAL,
			"2 of 14 replications failing: registry->db2 crashing (source unreachable, 5 errors), registry->db3 lagging (lag 120s)"},
		{"warning beats unknown", fourteen(db4, db3), WARNING,
			"2 of 14 replications failing: registry->db3 lagging (lag 120s), registry->db4 state not reported"},
		{"bounded", fourteen(db4, db3, db5, db2), CRITICAL,
			"4 of 14 replications failing: registry->db5 error (no such database), registry->db2 crashing (source unreachable, 5 errors), registry->db3 lagging (lag 120s) and 1 more"},
		{"none", nil, UNKNOWN, "no replications found"},
		{"no summary", []Result{{Name: "x", Status: CRITICAL}}, CRITICAL, "1 of 1 replications failing: x CRITICAL"},
		// Raw: Render redacts, then makes it one line ("a/b c").
		{"no name", []Result{{Summary: "a|b\nc", Status: WARNING}}, WARNING, "1 of 1 replications failing: a|b\nc"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := fmt.Sprint(tt.subs)
			r := Aggregate("replications", tt.subs)
			assert.Equal(t, tt.status, r.Status)
			assert.Equal(t, tt.summary, r.Summary)
			assert.Equal(t, len(tt.subs), len(r.Subs))
			assert.Equal(t, before, fmt.Sprint(tt.subs), "subs must not be reordered")
			assert.Equal(t, before, fmt.Sprint(r.Subs), "Subs keeps the given order")
			first, _, _ := strings.Cut(Render("X", r, RenderOptions{}), "\n")
			assert.Contains(t, first, strings.NewReplacer("|", "/", "\n", " ").Replace(tt.summary), "rendered on one line")
		})
	}
}

func TestAggregateBudget(t *testing.T) {
	// Long sub summaries stop the list before the count does.
	long := strings.Repeat("x", 150)
	subs := []Result{
		{Name: "a", Status: CRITICAL, Summary: long},
		{Name: "b", Status: CRITICAL, Summary: long},
		{Name: "c", Status: CRITICAL, Summary: long},
	}
	r := Aggregate("origins", subs)
	assert.Equal(t, "3 of 3 origins failing: a "+long+" and 2 more", r.Summary)
}

func goldenCases() map[string]struct {
	name string
	r    Result
	opts RenderOptions
} {
	db2 := replication("db2", CRITICAL, "crashing (source unreachable, 5 errors)", 900, 5)
	db2.Long = []string{"last error: GET http://db1:5984/registry/: connection refused", "retrying since 2024-05-01T03:12:44Z"}
	db3 := replication("db3", WARNING, "lagging (lag 120s)", 120, 0)
	agg := Aggregate("replications", fourteen(db3, db2))
	agg.Perf = []Perf{
		{Label: "replications", Value: 14, Integer: true},
		{Label: "failing", Value: 2, Integer: true, Crit: "0"},
	}

	many := make([]Result, 0, 200)
	for i := range 200 {
		st := OK
		if i%50 == 7 {
			st = CRITICAL
		}
		many = append(many, replication(fmt.Sprintf("mirror%03d", i), st, "running", float64(i), 0))
	}

	nodes := Aggregate("nodes", []Result{
		func() Result {
			r := Aggregate("databases", []Result{
				{Name: "registry", Status: OK, Summary: "12 GB, 3% fragmented"},
				{Name: "_users", Status: WARNING, Summary: "41% fragmented", Long: []string{"compaction last ran 9 days ago"}},
			})
			r.Name = "db1"
			return r
		}(),
		func() Result {
			r := Aggregate("databases", []Result{
				{Name: "registry", Status: OK, Summary: "12 GB, 2% fragmented", Long: []string{"hidden unless -v"}},
			})
			r.Name = "db2"
			return r
		}(),
	})

	return map[string]struct {
		name string
		r    Result
		opts RenderOptions
	}{
		"simple": {"COUCHDB_UP", Result{
			Status: OK, Summary: "CouchDB 3.4.3 answered in 0.012s",
			Long: []string{"vendor: The Apache Software Foundation"},
			Perf: []Perf{{Label: "time", Value: 0.012, UOM: "s", Warn: "1", Crit: "5", Min: fp(0)}},
		}, RenderOptions{}},
		"no_perf":           {"COUCHDB_UP", Result{Status: CRITICAL, Summary: "GET http://db1:5984/_up: connection refused"}, RenderOptions{}},
		"aggregate":         {"COUCHDB_REPLICATION", agg, RenderOptions{}},
		"aggregate_verbose": {"COUCHDB_REPLICATION", agg, RenderOptions{Verbose: 1}},
		"all_ok":            {"COUCHDB_REPLICATION", Aggregate("replications", fourteen()), RenderOptions{}},
		"nested":            {"COUCHDB_DATABASES", nodes, RenderOptions{}},
		"nested_verbose":    {"COUCHDB_DATABASES", nodes, RenderOptions{Verbose: 1}},
		"pipes_newlines": {"CHECK|X", Result{
			Status: WARNING, Summary: "answer was a|b\nand more\r\nlines",
			Long: []string{"line with | pipe", "two\nlines"},
			Perf: []Perf{{Label: "a|b", Value: 1}},
		}, RenderOptions{}},
		"duplicate_labels": {"CHECK", Result{
			Status: OK, Summary: "duplicates renamed",
			Perf: []Perf{{Label: "lag", Value: 1}, {Label: "lag", Value: 2}, {Label: "lag_2", Value: 3}, {Label: "a=b", Value: 4}, {Label: "a_b", Value: 5}},
			Subs: []Result{{Status: OK, Summary: "sub", Perf: []Perf{{Label: "lag", Value: 6}}}},
		}, RenderOptions{}},
		"limit": {"COUCHDB_REPLICATION", Aggregate("replications", many), RenderOptions{Limit: 1024}},
		"limit_default": {"COUCHDB_REPLICATION", func() Result {
			r := Aggregate("replications", many)
			return r
		}(), RenderOptions{Verbose: 1}},
		"tiny_limit":     {"COUCHDB_REPLICATION", agg, RenderOptions{Limit: 60}},
		"unknown_status": {"X", Result{Status: Status(9), Summary: "bad status value"}, RenderOptions{}},
	}
}

func TestRenderGolden(t *testing.T) {
	for name, c := range goldenCases() {
		t.Run(name, func(t *testing.T) {
			got := Render(c.name, c.r, c.opts)
			limit := c.opts.Limit
			if limit == 0 {
				limit = DefaultLimit
			}
			assert.LessOrEqual(t, len(got), limit)
			path := filepath.Join("testdata", "render", name+".golden")
			if *update {
				require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
				require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
			}
			want, err := os.ReadFile(path)
			require.NoError(t, err, "run go test -update to create it")
			assert.Equal(t, string(want), got)
		})
	}
}

func TestRenderLine1(t *testing.T) {
	db2 := replication("db2", CRITICAL, "crashing", 900, 5)
	r := Aggregate("replications", fourteen(db2))
	out := Render("COUCHDB_REPLICATION", r, RenderOptions{})
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	first := lines[0]
	assert.True(t, strings.HasPrefix(first, "COUCHDB_REPLICATION CRITICAL - 1 of 14 replications failing: registry->db2 crashing | "), first)
	_, perf1, _ := strings.Cut(first, " | ")
	assert.LessOrEqual(t, len(perf1), line1PerfBudget)
	assert.Equal(t, "CRITICAL registry->db2: crashing", lines[1], "worst sub first")
	last := lines[len(lines)-1]
	assert.True(t, strings.HasPrefix(last, "| "), last)
	// Every perf item of the tree appears exactly once, in tree order.
	var all []string
	for _, p := range flattenPerf(r, nil) {
		all = append(all, p.String())
	}
	shown := append(strings.Fields(perf1), strings.Fields(strings.TrimPrefix(last, "| "))...)
	assert.Equal(t, all, shown)
}

// TestRenderLimit renders the same tree under every limit and checks that
// the output fits, that nothing but line 1 is ever cut, and that what is
// dropped is a tail of the lines and of the perfdata, announced by a note.
func TestRenderLimit(t *testing.T) {
	many := make([]Result, 0, 60)
	for i := range 60 {
		st := OK
		if i%7 == 3 {
			st = WARNING
		}
		many = append(many, replication(fmt.Sprintf("m%02d", i), st, "running", float64(i), i))
	}
	r := Aggregate("replications", many)
	r.Long = []string{"checked at 2024-05-01T03:12:44Z"}
	t.Run("60 subs, every limit", func(t *testing.T) { checkRenderLimits(t, r, 1, 7, 1<<30) })

	// Render formats only the perfdata that can fit: the items it leaves
	// out must still be counted, and the renaming of duplicate labels
	// (every name here is used three times) must not depend on them.
	dups := make([]Result, 0, 900)
	for i := range 900 {
		st := OK
		if i%97 == 5 {
			st = CRITICAL
		}
		dups = append(dups, replication(fmt.Sprintf("d%03d", i%300), st, "running", float64(i), i%4))
	}
	big := Aggregate("replications", dups)
	big.Perf = []Perf{{Label: "d000_lag", Value: 1}}
	t.Run("900 subs with duplicate labels", func(t *testing.T) { checkRenderLimits(t, big, 1, 11, 3*DefaultLimit) })
}

// checkRenderLimits renders r under the limits from, from+step, ... up to
// max (or just past the unlimited output's size).
func checkRenderLimits(t *testing.T, r Result, from, step, maxLimit int) {
	full := Render("X", r, RenderOptions{Limit: 1 << 30})
	fullLines := strings.Split(strings.TrimSuffix(full, "\n"), "\n")
	fullLong := fullLines[1 : len(fullLines)-1]
	_, fullPerf1, _ := strings.Cut(fullLines[0], " | ")
	allPerf := append(strings.Fields(fullPerf1), strings.Fields(strings.TrimPrefix(fullLines[len(fullLines)-1], "| "))...)

	for limit := from; limit <= min(len(full)+10, maxLimit); limit += step {
		out := Render("X", r, RenderOptions{Limit: limit})
		require.LessOrEqual(t, len(out), limit, "limit %d", limit)
		if limit >= len(full) {
			require.Equal(t, full, out, "limit %d", limit)
			continue
		}
		lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
		if strings.HasSuffix(lines[0], "...") || strings.Trim(lines[0], ".") == "" {
			require.Len(t, lines, 1, "limit %d: line 1 was cut, so nothing else fits", limit)
			require.Equal(t, limit, len(out), "limit %d: a cut line 1 uses the whole limit", limit)
			continue
		}
		_, perf1, _ := strings.Cut(lines[0], " | ")
		perf := strings.Fields(perf1)
		rest := lines[1:]
		if n := len(rest); n > 0 && strings.HasPrefix(rest[n-1], "| ") {
			perf = append(perf, strings.Fields(strings.TrimPrefix(rest[n-1], "| "))...)
			rest = rest[:n-1]
		}
		note := ""
		if n := len(rest); n > 0 && strings.HasPrefix(rest[n-1], "(+") {
			note = rest[n-1]
			rest = rest[:n-1]
		}
		require.Equal(t, fullLong[:len(rest)], rest, "limit %d: long output is a prefix", limit)
		require.Equal(t, allPerf[:len(perf)], perf, "limit %d: perfdata is a prefix", limit)
		dropped := len(fullLong) - len(rest) + len(allPerf) - len(perf)
		require.Positive(t, dropped, "limit %d", limit)
		if note == "" {
			// Only when not even the short note fits.
			short := fmt.Sprintf("(+%d more)\n", dropped)
			require.Greater(t, len(out)+len(short), limit, "limit %d: output shortened without a note:\n%s", limit, out)
			continue
		}
		if note == fmt.Sprintf("(+%d more)", dropped) {
			continue
		}
		want := []string{}
		if n := len(fullLong) - len(rest); n > 0 {
			want = append(want, fmt.Sprintf("+%d more lines", n))
		}
		if n := len(allPerf) - len(perf); n > 0 {
			want = append(want, fmt.Sprintf("+%d more perfdata items", n))
		}
		require.Equal(t, fmt.Sprintf("(%s not shown: output limit %d bytes)", strings.Join(want, ", "), limit), note, "limit %d", limit)
	}
}

func TestRenderNote(t *testing.T) {
	out := Render("COUCHDB_REPLICATION", goldenCases()["limit"].r, RenderOptions{Limit: 1024})
	assert.Regexp(t, `\n\(\+\d+ more lines, \+\d+ more perfdata items not shown: output limit 1024 bytes\)\n`, out)
}

// flattenPerf lists the perfdata of the tree: r's, then each sub's in the
// given order (what Render prints, before renaming duplicates).
func flattenPerf(r Result, out []Perf) []Perf {
	out = append(out, r.Perf...)
	for _, s := range r.Subs {
		out = flattenPerf(s, out)
	}
	return out
}

// A verbose line is redacted before it is made one line, as every other
// text is: making it one line first turns a | in a secret into a / the
// redactor no longer recognises.
func TestVerboseRedactedBeforeOneLine(t *testing.T) {
	const secret = "hunt|er22pw"
	redact := func(s string) string { return strings.ReplaceAll(s, secret, "xxxxx") }
	out := Render("TEST", Result{Status: OK, Summary: "fine", Verbose: []string{"last error: token " + secret}}, RenderOptions{Verbose: 1, Redact: redact})
	assert.Contains(t, out, "last error: token xxxxx")
	assert.NotContains(t, out, "hunt")
}
