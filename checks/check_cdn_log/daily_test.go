package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/registry-checks/registry-checks/lib/cdnlog/cdnlogtest"
	"github.com/registry-checks/registry-checks/test/stackenv"
)

// docsStatements are the InfluxQL statements of the docs page's
// "Downloads per day", in order, for database db.
func docsStatements(t *testing.T, db string) []string {
	page, err := os.ReadFile(docsPage)
	require.NoError(t, err)
	var out []string
	for _, block := range regexp.MustCompile("(?s)```influxql\n(.*?)```").FindAllStringSubmatch(string(page), -1) {
		for _, l := range strings.Split(strings.TrimSpace(block[1]), "\n") {
			require.Contains(t, l, `"registry_checks"`, "a statement for another database: %s", l)
			out = append(out, strings.ReplaceAll(l, `"registry_checks"`, `"`+db+`"`))
		}
	}
	require.Len(t, out, 6, "two retention policies, the continuous query, the backfill, point and range")
	return out
}

// fill puts dates and a package into a statement of the docs page, in
// place of its examples (which must be there: a changed example fails
// here rather than go untested).
func fill(t *testing.T, stmt string, from, to time.Time, pkg string) string {
	t.Helper()
	for _, example := range []string{"'2026-11-01T00:00:00Z'", "'2026-11-0"} {
		require.Contains(t, stmt, example)
	}
	stmt = regexp.MustCompile(`'2026-11-0[78]T00:00:00Z'`).ReplaceAllString(stmt, "'TO'")
	stmt = strings.Replace(stmt, "'2026-11-01T00:00:00Z'", "'"+from.Format(time.RFC3339)+"'", 1)
	stmt = strings.Replace(stmt, "'TO'", "'"+to.Format(time.RFC3339)+"'", 1)
	if pkg == "" {
		return strings.Replace(stmt, `"package" = 'left-pad' AND `, "", 1)
	}
	require.Contains(t, stmt, "'left-pad'")
	return strings.Replace(stmt, "'left-pad'", "'"+strings.ReplaceAll(pkg, "'", `\'`)+"'", 1)
}

// TestDownloadsPerDayIntegration loads a generated log of four UTC days
// (three whole ones and today so far) with known downloads per day
// through check_cdn_log into InfluxDB 1.x, set up with the retention
// policies and continuous query of docs/check_cdn_log.md. It counts the
// days with the page's backfill statement (the continuous query's own
// SELECT, which InfluxDB would run only at its next 10 minutes), then asks
// the page's point and range queries for every period the downloads API
// takes, for a plain package, a scoped one and all packages together, and
// compares each answer with the generator's own count.
func TestDownloadsPerDayIntegration(t *testing.T) {
	env := stackenv.Need(t, "INFLUX_URL")
	base := env["INFLUX_URL"]
	db := fmt.Sprintf("cdnlog_days_%d", time.Now().UnixNano())
	influxQuery(t, base, "", "CREATE DATABASE "+db)
	t.Cleanup(func() { influxQuery(t, base, "", "DROP DATABASE "+db) })
	stmts := docsStatements(t, db)
	for _, s := range stmts[:3] {
		influxQuery(t, base, db, s)
	}
	r, err := stackenv.InfluxQuery(base, "", "SHOW CONTINUOUS QUERIES")
	require.NoError(t, err)
	found := false
	for _, s := range r.Results[0].Series {
		if s.Name == db {
			for _, v := range s.Values {
				found = found || v[0] == "cdn_downloads_daily"
			}
		}
	}
	assert.True(t, found, "the continuous query is in place")

	now := time.Now().UTC()
	today := now.Truncate(24 * time.Hour)
	dir := t.TempDir()
	logPath := filepath.Join(dir, "access.log")
	gen := cdnlogtest.New(time.Now().UnixNano(), today.AddDate(0, 0, -3), 40)
	gen.MaxStep = 40 * time.Second
	var b strings.Builder
	for gen.Time().Before(now.Add(-2 * gen.MaxStep)) {
		b.WriteString(gen.Line())
	}
	require.NoError(t, os.WriteFile(logPath, []byte(b.String()), 0o644))
	out, code := runArgs("--log", logPath, "--from-start", "--state-file", filepath.Join(dir, "state.json"), "--spool-dir", filepath.Join(dir, "spool"),
		"--influx-url", base, "--influx-db", db, "--max-lines", "1000000", "-t", "120", "--source", "daily-test")
	require.Less(t, code, 3, out)
	require.NotContains(t, out, "spooled", out)
	require.NotContains(t, out, "refused", out)
	t.Logf("%s", strings.SplitN(out, "\n", 2)[0])

	influxQuery(t, base, db, fill(t, stmts[3], today.AddDate(0, 0, -3), today.AddDate(0, 0, 1), ""))

	// The generator's count, by package (versions summed) and day.
	want := map[string]map[string]int64{} // day -> package ("" for all) -> downloads
	packages := map[string]bool{}
	for day, keys := range gen.Daily {
		want[day] = map[string]int64{}
		for key, n := range keys {
			pkg := key[:strings.LastIndex(key, "@")]
			want[day][pkg] += n
			want[day][""] += n
			packages[pkg] = true
		}
	}
	require.Len(t, want, 4, "four UTC days of log")
	var plain, scoped string
	for p := range packages {
		if strings.HasPrefix(p, "@") && (scoped == "" || p < scoped) {
			scoped = p
		}
		if !strings.HasPrefix(p, "@") && (plain == "" || p < plain) {
			plain = p
		}
	}
	require.NotEmpty(t, scoped)

	// Every daily point: the generator's count per package version and day.
	got := map[string]map[string]int64{}
	rows, err := stackenv.InfluxQuery(base, db, `SELECT "count" FROM "days"."cdn_downloads_daily" GROUP BY "package", "version"`)
	require.NoError(t, err)
	for _, s := range rows.Results[0].Series {
		for _, v := range s.Values {
			ns, _ := v[0].(interface{ Int64() (int64, error) }).Int64()
			n, _ := v[1].(interface{ Int64() (int64, error) }).Int64()
			day := time.Unix(0, ns).UTC().Format(time.DateOnly)
			if got[day] == nil {
				got[day] = map[string]int64{}
			}
			got[day][s.Tags["package"]+"@"+s.Tags["version"]] = n
		}
	}
	wantDaily := map[string]map[string]int64{}
	for day, keys := range gen.Daily {
		wantDaily[day] = nonZero(keys)
	}
	assert.Equal(t, wantDaily, got, "cdn_downloads_daily per day and package version")

	day := func(d int) time.Time { return today.AddDate(0, 0, d) }
	periods := []struct {
		name     string
		from, to time.Time
	}{
		{"last-day", day(-1), day(-1)},
		{"last-week", day(-7), day(-1)},
		{"last-month", day(-30), day(-1)},
		{day(-2).Format(time.DateOnly), day(-2), day(-2)},
		{day(-3).Format(time.DateOnly) + ":" + day(-2).Format(time.DateOnly), day(-3), day(-2)},
		{"today so far", day(0), day(0)},
	}
	checked := 0
	for _, pkg := range []string{plain, scoped, ""} {
		for _, p := range periods {
			var sum int64
			var perDay []int64
			for d := p.from; !d.After(p.to); d = d.AddDate(0, 0, 1) {
				sum += want[d.Format(time.DateOnly)][pkg]
				perDay = append(perDay, want[d.Format(time.DateOnly)][pkg])
			}
			rows := influxQuery(t, base, db, fill(t, stmts[4], p.from, p.to, pkg))
			var point int64
			if len(rows) == 1 && rows[0][2] != nil {
				point = int64(rows[0][2].(float64))
			}
			assert.Equal(t, sum, point, "point %s %q", p.name, pkg)

			var days []int64
			var stamps []string
			for _, row := range influxQuery(t, base, db, fill(t, stmts[5], p.from, p.to, pkg)) {
				days = append(days, int64(row[2].(float64)))
				stamps = append(stamps, row[1].(string))
			}
			assert.Equal(t, perDay, days, "range %s %q (days %v)", p.name, pkg, stamps)
			if len(stamps) > 0 {
				assert.Equal(t, p.from.Format(time.RFC3339), stamps[0], "range %s: the first day", p.name)
			}
			checked++
		}
	}
	// The dashboard's "Top packages today": per package, its last day
	// bucket is today's count (00:00 UTC on).
	dash, err := os.ReadFile("../../packaging/grafana/registry-checks.json")
	require.NoError(t, err)
	var d struct {
		Panels []struct {
			Title   string
			Targets []struct{ Query string }
		}
	}
	require.NoError(t, json.Unmarshal(dash, &d))
	var panelQuery string
	for _, p := range d.Panels {
		if p.Title == "Top packages today" {
			panelQuery = p.Targets[0].Query
		}
	}
	require.NotEmpty(t, panelQuery)
	todays := map[string]int64{}
	r, err = stackenv.InfluxQuery(base, db, panelQuery)
	require.NoError(t, err)
	for _, s := range r.Results[0].Series {
		last := s.Values[len(s.Values)-1]
		ns, _ := last[0].(interface{ Int64() (int64, error) }).Int64()
		assert.Equal(t, today, time.Unix(0, ns).UTC(), "the last bucket starts at 00:00 UTC today")
		n, _ := last[1].(interface{ Int64() (int64, error) }).Int64()
		if n != 0 {
			todays[s.Tags["package"]] = n
		}
	}
	wantToday := map[string]int64{}
	for pkg, n := range want[today.Format(time.DateOnly)] {
		if pkg != "" && n != 0 {
			wantToday[pkg] = n
		}
	}
	assert.Equal(t, wantToday, todays, "Top packages today")

	keys := make([]string, 0, len(want))
	for d := range want {
		keys = append(keys, d)
	}
	sort.Strings(keys)
	for _, d := range keys {
		t.Logf("%s: %d downloads (%s %d, %s %d)", d, want[d][""], plain, want[d][plain], scoped, want[d][scoped])
	}
	assert.Equal(t, 18, checked)
}
