package disk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/registry-checks/registry-checks/lib/couch"
	"github.com/registry-checks/registry-checks/lib/nagios"
)

// fakeCouch answers from a list of databases and their infos.
type fakeCouch struct {
	names []string
	infos map[string]*couch.DBInfo
	err   error
	asked [][]string
}

func (f *fakeCouch) AllDBs(context.Context) ([]string, error) {
	if f.err != nil {
		return nil, f.err
	}
	return f.names, nil
}

func (f *fakeCouch) DBsInfo(_ context.Context, dbs []string) ([]couch.DBsInfoRow, error) {
	f.asked = append(f.asked, dbs)
	rows := make([]couch.DBsInfoRow, 0, len(dbs))
	for _, n := range dbs {
		if info, ok := f.infos[n]; ok {
			rows = append(rows, couch.DBsInfoRow{Key: n, Info: info})
		} else {
			rows = append(rows, couch.DBsInfoRow{Key: n, Error: "not_found"})
		}
	}
	return rows, nil
}

func (f *fakeCouch) add(name string, info *couch.DBInfo) *fakeCouch {
	if f.infos == nil {
		f.infos = map[string]*couch.DBInfo{}
	}
	f.names = append(f.names, name)
	f.infos[name] = info
	return f
}

func fixture(t *testing.T, name string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", name))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, v))
}

func dbInfo(t *testing.T, name string) *couch.DBInfo {
	t.Helper()
	var d couch.DBInfo
	fixture(t, name, &d)
	return &d
}

// fixtureServer is node1 (_replicator, _users, registry) with registry
// replaced by the given capture.
func fixtureServer(t *testing.T, registry string) *fakeCouch {
	t.Helper()
	var rows []couch.DBsInfoRow
	fixture(t, "node1.dbs-info.json", &rows)
	f := &fakeCouch{}
	for _, r := range rows {
		info := r.Info
		if r.Key == "registry" && registry != "" {
			info = dbInfo(t, registry)
		}
		f.add(r.Key, info)
	}
	return f
}

func rng(t *testing.T, s string) *nagios.Range {
	t.Helper()
	if s == "" {
		return nil
	}
	r, err := nagios.ParseRange(s)
	require.NoError(t, err)
	return &r
}

func th(t *testing.T, warn, crit string) nagios.Thresholds {
	return nagios.Thresholds{Warn: rng(t, warn), Crit: rng(t, crit)}
}

func deps(c Couch, fs func(string) (FS, error)) Deps {
	return Deps{Couch: c, Statfs: fs, Step: func(string, ...any) {},
		Problem: func(err error) (nagios.Status, string) { p := nagios.AsProblem(err); return p.Status, p.Msg }}
}

func baseConfig(t *testing.T) Config {
	return Config{URL: "http://db1:5984", Fragmentation: th(t, "70", ""), MinSize: 10 << 20}
}

func perf(r nagios.Result, label string) (nagios.Perf, bool) {
	for _, p := range r.Perf {
		if p.Label == label {
			return p, true
		}
	}
	return nagios.Perf{}, false
}

func sub(t *testing.T, r nagios.Result, name string) nagios.Result {
	t.Helper()
	for _, s := range r.Subs {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no sub-result %q in %+v", name, r.Subs)
	return nagios.Result{}
}

func TestCheckCapturedDatabases(t *testing.T) {
	tests := []struct {
		name        string
		registry    string
		cfg         func(*Config)
		status      nagios.Status
		regStatus   nagios.Status
		regSummary  string
		summary     string
		compacting  float64
		fragmentPct float64
	}{
		{
			name: "normal state: registry 64% fragmented but 70 KiB, far below the minimum", registry: "",
			status: nagios.OK, regStatus: nagios.OK, regSummary: "64% fragmented (43.9 KiB reclaimable)",
			summary: "3 databases, 89.1 KiB on disk, 62.3 KiB reclaimable", fragmentPct: 69.9,
		},
		{
			name: "same, minimum lowered: a warning", registry: "",
			cfg:    func(c *Config) { c.MinSize = 0; c.Fragmentation = th(t, "60", "") },
			status: nagios.WARNING, regStatus: nagios.WARNING, regSummary: "64% fragmented",
			summary: "3 of 3 databases failing: registry 64% fragmented (43.9 KiB reclaimable), _users 81% fragmented (10.1 KiB reclaimable), _replicator 100% fragmented (8.3 KiB reclaimable)", fragmentPct: 69.9,
		},
		{
			name: "before compaction: 47% of 15 MiB is garbage", registry: "node1.db-info.registry.before-compaction.json",
			cfg:    func(c *Config) { c.Fragmentation = th(t, "40", "60") },
			status: nagios.WARNING, regStatus: nagios.WARNING, regSummary: "47% fragmented (7.1 MiB reclaimable)",
			summary: "1 of 3 databases failing: registry 47% fragmented (7.1 MiB reclaimable)", fragmentPct: 47.2,
		},
		{
			name: "before compaction, slack threshold in bytes", registry: "node1.db-info.registry.before-compaction.json",
			cfg:    func(c *Config) { c.Fragmentation = nagios.Thresholds{}; c.Slack = th(t, "1000000", "5000000") },
			status: nagios.CRITICAL, regStatus: nagios.CRITICAL, regSummary: "7.1 MiB reclaimable",
			summary: "1 of 3 databases failing: registry 47% fragmented (7.1 MiB reclaimable)", fragmentPct: 47.2,
		},
		{
			name: "compacting: still judged, and said", registry: "node1.db-info.registry.compacting.json",
			cfg:    func(c *Config) { c.Fragmentation = th(t, "40", "") },
			status: nagios.WARNING, regStatus: nagios.WARNING, regSummary: "47% fragmented (7.1 MiB reclaimable), compaction running",
			summary: "1 of 3 databases failing: registry 47% fragmented (7.1 MiB reclaimable), compaction running", compacting: 1, fragmentPct: 47.2,
		},
		{
			name: "after compaction", registry: "node1.db-info.registry.after-compaction.json",
			cfg:    func(c *Config) { c.Fragmentation = th(t, "40", "") },
			status: nagios.OK, regStatus: nagios.OK, regSummary: "0.5% fragmented (34.3 KiB reclaimable)",
			summary: "3 databases, 7.3 MiB on disk, 52.7 KiB reclaimable", fragmentPct: 0.7,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := baseConfig(t)
			if tt.cfg != nil {
				tt.cfg(&cfg)
			}
			res := Check(context.Background(), cfg, deps(fixtureServer(t, tt.registry), nil))
			assert.Equal(t, tt.status, res.Status, res.Summary)
			assert.Contains(t, res.Summary, tt.summary)
			reg := sub(t, res, "registry")
			assert.Equal(t, tt.regStatus, reg.Status)
			assert.Contains(t, reg.Summary, tt.regSummary)
			p, ok := perf(res, "compacting")
			require.True(t, ok)
			assert.Equal(t, tt.compacting, p.Value)
			p, ok = perf(res, "fragmentation")
			require.True(t, ok)
			assert.InDelta(t, tt.fragmentPct, p.Value, 0.05)
			assert.Equal(t, MeasurementTotals, res.Measurement)
			assert.Equal(t, map[string]string{"url": "http://db1:5984"}, res.Tags)
			for _, s := range res.Subs {
				assert.Empty(t, s.Perf, "no per-database perfdata without --db-metrics")
				assert.Empty(t, s.Measurement)
			}
		})
	}
}

func TestTotalsOfTheCapture(t *testing.T) {
	res := Check(context.Background(), baseConfig(t), deps(fixtureServer(t, "node1.db-info.registry.before-compaction.json"), nil))
	want := map[string]float64{
		"databases":    3,
		"file":         8524 + 12658 + 15724982,
		"active":       0 + 2342 + 8304352,
		"external":     0 + 5387 + 20718855,
		"slack":        8524 + (12658 - 2342) + (15724982 - 8304352),
		"compacting":   0,
		"largest_need": 8304352,
	}
	for label, v := range want {
		p, ok := perf(res, label)
		require.True(t, ok, label)
		assert.False(t, p.Unknown, label)
		assert.Equal(t, v, p.Value, label)
	}
	pts := nagios.Points(res, time.Unix(0, 0))
	require.Len(t, pts, 1, "totals only: one point")
	assert.Equal(t, MeasurementTotals, pts[0].Measurement)
	assert.Equal(t, int64(15724982+8524+12658), pts[0].Fields["file_bytes"])
	assert.Equal(t, int64(0), pts[0].Fields["state"])
}

func TestOneXAndPouchDBShapes(t *testing.T) {
	oneX := func(disk, data int64) *couch.DBInfo {
		var d couch.DBInfo
		require.NoError(t, json.Unmarshal(fmt.Appendf(nil, `{"db_name":"x","doc_count":5,"update_seq":1234,"purge_seq":0,"compact_running":false,"disk_size":%d,"data_size":%d,"instance_start_time":"1400000000000000","disk_format_version":6,"committed_update_seq":1234}`, disk, data), &d))
		return &d
	}
	pouch := func(disk int64) *couch.DBInfo {
		var d couch.DBInfo
		require.NoError(t, json.Unmarshal(fmt.Appendf(nil, `{"doc_count":51,"update_seq":52,"idb_attachment_format":"binary","db_name":"registry","auto_compaction":false,"adapter":"leveldb","disk_size":%d,"instance_start_time":"1700000000000"}`, disk), &d))
		return &d
	}
	t.Run("1.x disk_size/data_size, an empty database with data_size 0", func(t *testing.T) {
		f := (&fakeCouch{}).add("registry", oneX(100<<20, 20<<20)).add("empty", oneX(4096, 0))
		res := Check(context.Background(), baseConfig(t), deps(f, nil))
		assert.Equal(t, nagios.WARNING, res.Status)
		assert.Contains(t, res.Summary, "registry 80% fragmented (80.0 MiB reclaimable)")
		assert.Contains(t, sub(t, res, "empty").Summary, "100% fragmented", "data_size 0 is a size when the server reports it")
		p, _ := perf(res, "external")
		assert.True(t, p.Unknown, "1.x has no external size")
		p, _ = perf(res, "slack")
		assert.Equal(t, float64(80<<20+4096), p.Value)
		for _, l := range res.Long {
			assert.NotContains(t, l, "not measurable")
		}
	})
	t.Run("pouchdb-server: disk_size only", func(t *testing.T) {
		f := (&fakeCouch{}).add("registry", pouch(300<<20)).add("_users", pouch(8192))
		res := Check(context.Background(), baseConfig(t), deps(f, nil))
		assert.Equal(t, nagios.OK, res.Status, "what cannot be measured is said, not alerted on")
		assert.Equal(t, "2 databases, 300.0 MiB on disk", res.Summary)
		assert.Contains(t, strings.Join(res.Long, "\n"), "fragmentation and slack not measurable for 2 of 2 databases")
		assert.Contains(t, sub(t, res, "registry").Summary, "300.0 MiB on disk, fragmentation unknown (no active size)")
		for _, l := range []string{"active", "slack", "fragmentation", "external"} {
			p, ok := perf(res, l)
			require.True(t, ok, l)
			assert.True(t, p.Unknown, "%s is U", l)
		}
		p, _ := perf(res, "largest_need")
		assert.Equal(t, float64(300<<20), p.Value, "without an active size, compaction may need the whole file")
	})
}

func TestSelection(t *testing.T) {
	mk := func() *fakeCouch {
		f := &fakeCouch{}
		for _, n := range []string{"_replicator", "_users", "registry", "registry-archive", "logs-2024", "logs-2025"} {
			f.add(n, &couch.DBInfo{Sizes: &couch.Sizes{File: 1000, Active: 900}})
		}
		return f
	}
	tests := []struct {
		name             string
		include, exclude []string
		asked            []string
		status           nagios.Status
		summary          string
	}{
		{"all", nil, nil, []string{"_replicator", "_users", "registry", "registry-archive", "logs-2024", "logs-2025"}, nagios.OK, "6 databases"},
		{"glob and exclusion", []string{"registry*", "logs-*"}, []string{"logs-2024"}, []string{"registry", "registry-archive", "logs-2025"}, nagios.OK, "3 databases"},
		{"system databases left out", nil, []string{"_*"}, []string{"registry", "registry-archive", "logs-2024", "logs-2025"}, nagios.OK, "4 databases"},
		{"a named database that is missing", []string{"registry", "npm"}, nil, []string{"registry"}, nagios.CRITICAL, "1 of 2 databases failing: npm not found on the server"},
		{"a pattern that matches nothing", []string{"npm*"}, nil, nil, nagios.UNKNOWN, "no database matches --db npm* (6 on the server)"},
		{"everything excluded", nil, []string{"*"}, nil, nagios.UNKNOWN, "all 6 databases excluded by --exclude"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := mk()
			cfg := baseConfig(t)
			cfg.Include, cfg.Exclude = tt.include, tt.exclude
			res := Check(context.Background(), cfg, deps(f, nil))
			assert.Equal(t, tt.status, res.Status)
			assert.Contains(t, res.Summary, tt.summary)
			if tt.asked == nil {
				assert.Empty(t, f.asked, "no info asked for")
			} else {
				require.Len(t, f.asked, 1)
				assert.Equal(t, tt.asked, f.asked[0])
			}
		})
	}
}

func TestDatabaseDeletedWhileChecking(t *testing.T) {
	f := fixtureServer(t, "")
	f.names = append(f.names, "gone")
	res := Check(context.Background(), baseConfig(t), deps(f, nil))
	assert.Equal(t, nagios.OK, res.Status)
	assert.Contains(t, strings.Join(res.Long, "\n"), "1 databases deleted while the check ran: gone")
}

func TestLongOutputIsBoundedWorstFirst(t *testing.T) {
	f := &fakeCouch{}
	for i := range 50 {
		// db-00 is the largest and most fragmented; db-07 and db-30 warn.
		file := int64(100-i) << 20
		active := file / 2
		if i == 7 || i == 30 {
			active = file / 10
		}
		f.add(fmt.Sprintf("db-%02d", i), &couch.DBInfo{Sizes: &couch.Sizes{File: file, Active: active, External: active}})
	}
	cfg := baseConfig(t)
	cfg.MaxListed = 5
	res := Check(context.Background(), cfg, deps(f, nil))
	assert.Equal(t, nagios.WARNING, res.Status)
	assert.Equal(t, "2 of 50 databases failing: db-07 90% fragmented (83.7 MiB reclaimable), db-30 90% fragmented (63.0 MiB reclaimable)", res.Summary)
	var names []string
	for _, s := range res.Subs {
		names = append(names, s.Name)
	}
	assert.Equal(t, []string{"db-07", "db-30", "db-00", "db-01", "db-02"}, names, "warnings first, then the most reclaimable")
	assert.Contains(t, res.Long, "45 more databases not listed: 45 OK (the worst 5 are, most reclaimable first; --max-listed)")
	out := nagios.Render("COUCH_DISK", res, nagios.RenderOptions{})
	assert.Less(t, len(out), nagios.DefaultLimit)
	assert.Equal(t, 1+1+5+1, strings.Count(out, "\n"), "line 1, the note, 5 databases, the perfdata line:\n%s", out)

	cfg.PerDBMetrics = true
	res = Check(context.Background(), cfg, deps(f, nil))
	assert.Len(t, res.Subs, 50, "--db-metrics keeps every database")
	pts := nagios.Points(res, time.Unix(0, 0))
	require.Len(t, pts, 51)
	db07 := sub(t, res, "db-07")
	assert.Equal(t, MeasurementDatabase, db07.Measurement)
	assert.Equal(t, map[string]string{"url": "http://db1:5984", "db": "db-07"}, db07.Tags)
	p, ok := perf(db07, "db-07 fragmentation")
	require.True(t, ok)
	assert.Equal(t, 90.0, p.Value)
	assert.Equal(t, "70", p.Warn)
}

// statfsOf is a filesystem of size bytes with avail free to CouchDB.
func statfsOf(size, avail, inodes, freeInodes uint64) func(string) (FS, error) {
	return func(string) (FS, error) {
		return FS{Size: size, Used: size - avail, Avail: avail, Inodes: inodes, FreeInodes: freeInodes}, nil
	}
}

func TestDataDirAndHeadroom(t *testing.T) {
	const mib = 1 << 20
	// registry before compaction: 15 MiB file, 7.9 MiB active.
	need := uint64(8304352)
	tests := []struct {
		name     string
		fs       func(string) (FS, error)
		cfg      func(*Config)
		status   nagios.Status
		summary  string
		headroom string
	}{
		{"plenty of space", statfsOf(1000*mib, 500*mib, 1000, 900), nil,
			nagios.OK, "3 databases, 15.0 MiB on disk, 7.1 MiB reclaimable; /data 50% free", fmt.Sprint(500*mib - need)},
		{"exactly enough", statfsOf(1000*mib, need, 1000, 900), nil,
			nagios.CRITICAL, "/data 0.8% free", "0"},
		{"one byte short", statfsOf(1000*mib, need-1, 1000, 900), nil,
			nagios.CRITICAL, "largest database registry could not be compacted (needs up to 7.9 MiB, 7.9 MiB free); /data 0.8% free", "-1"},
		{"enough for compaction but below the percent", statfsOf(1000*mib, 80*mib, 1000, 900), nil,
			nagios.WARNING, "/data 8.0% free", fmt.Sprint(80*mib - need)},
		{"headroom threshold", statfsOf(100*mib, 50*mib, 1000, 900), func(c *Config) { c.Headroom = th(t, "50000000:", "") },
			nagios.WARNING, "42.1 MiB left after compacting the largest database registry", fmt.Sprint(50*mib - need)},
		// The inodes are the problem, not the bytes: only they are named.
		{"inodes running out", statfsOf(1000*mib, 500*mib, 1000, 30), nil,
			nagios.CRITICAL, "/data inodes 3.0% free", fmt.Sprint(500*mib - need)},
		{"no inode counts (btrfs)", statfsOf(1000*mib, 500*mib, 0, 0), nil,
			nagios.OK, "3 databases, 15.0 MiB on disk, 7.1 MiB reclaimable; /data 50% free", fmt.Sprint(500*mib - need)},
		{"free bytes threshold", statfsOf(1000*mib, 500*mib, 1000, 900), func(c *Config) { c.FreeBytes = th(t, "", "1000000000:") },
			nagios.CRITICAL, "/data 50% free", fmt.Sprint(500*mib - need)},
		// NRPE's nagios on a 0770 couchdb:couchdb data directory: the
		// message says what to do.
		{"statfs permission denied", func(string) (FS, error) {
			return FS{}, fmt.Errorf("statfs /data: %w", syscall.EACCES)
		}, nil, nagios.UNKNOWN, "--data-dir: statfs /data: permission denied: this user may not reach the data directory", "U"},
		{"statfs fails", func(string) (FS, error) { return FS{}, errors.New("statfs /data: no such file or directory") }, nil,
			nagios.UNKNOWN, "--data-dir: statfs /data: no such file or directory", "U"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := baseConfig(t)
			cfg.DataDir = "/data"
			cfg.Free, cfg.FreeInodes = th(t, "10:", "5:"), th(t, "10:", "5:")
			if tt.cfg != nil {
				tt.cfg(&cfg)
			}
			res := Check(context.Background(), cfg, deps(fixtureServer(t, "node1.db-info.registry.before-compaction.json"), tt.fs))
			assert.Equal(t, tt.status, res.Status, res.Summary)
			assert.Equal(t, tt.summary, res.Summary)
			if tt.name == "statfs permission denied" {
				assert.Contains(t, strings.Join(res.Long, "\n"), "usermod -aG couchdb nagios")
			}
			if !strings.HasPrefix(tt.name, "statfs") {
				// The bytes behind line 1's percent, in the long output.
				assert.Contains(t, strings.Join(res.Long, "\n"), "/data: ")
				assert.Contains(t, strings.Join(res.Long, "\n"), "compaction headroom: compacting the largest database registry needs up to 7.9 MiB, ")
			}
			p, ok := perf(res, "headroom")
			require.True(t, ok)
			got := "U"
			if !p.Unknown {
				got = fmt.Sprint(int64(p.Value))
			}
			assert.Equal(t, tt.headroom, got)
			pts := nagios.Points(res, time.Unix(0, 0))
			require.Len(t, pts, 1)
			if !p.Unknown {
				assert.Equal(t, int64(p.Value), pts[0].Fields["compaction_headroom_bytes"])
				assert.Contains(t, pts[0].Fields, "fs_free_bytes")
				assert.Contains(t, pts[0].Fields, "fs_free_pct")
			}
		})
	}
}

func TestCouchDownStillReportsTheDisk(t *testing.T) {
	f := &fakeCouch{err: &nagios.Problem{Status: nagios.CRITICAL, Msg: "GET http://db1:5984/_all_dbs: connection refused"}}
	cfg := baseConfig(t)
	cfg.DataDir = "/data"
	cfg.Free = th(t, "10:", "5:")
	res := Check(context.Background(), cfg, deps(f, statfsOf(1000, 20, 0, 0)))
	assert.Equal(t, nagios.CRITICAL, res.Status)
	assert.Equal(t, "GET http://db1:5984/_all_dbs: connection refused; /data 2.0% free", res.Summary,
		"a full disk may be why CouchDB is down: both are said")
	assert.Contains(t, res.Long, "/data: 2.0% free (20 B of 1000 B)")

	// A disk with room is not news when CouchDB is down: the long output has it.
	res = Check(context.Background(), cfg, deps(f, statfsOf(1000, 500, 0, 0)))
	assert.Equal(t, "GET http://db1:5984/_all_dbs: connection refused", res.Summary)
	assert.Contains(t, res.Long, "/data: 50% free (500 B of 1000 B)")
	p, _ := perf(res, "headroom")
	assert.True(t, p.Unknown)
}

func TestHeadroomComesFirstInTheSummary(t *testing.T) {
	cfg := baseConfig(t)
	cfg.DataDir = "/opt/couchdb/data"
	cfg.Free = th(t, "10:", "5:")
	cfg.Fragmentation = th(t, "40", "")
	const mib = 1 << 20
	res := Check(context.Background(), cfg, deps(fixtureServer(t, "node1.db-info.registry.before-compaction.json"), statfsOf(128*mib, 4*mib, 0, 0)))
	assert.Equal(t, nagios.CRITICAL, res.Status)
	// "4.0 MiB free" once: the filesystem's part says its percent only.
	assert.Equal(t, "largest database registry could not be compacted (needs up to 7.9 MiB, 4.0 MiB free); /opt/couchdb/data 3.1% free; 1 of 3 databases failing: registry 47% fragmented (7.1 MiB reclaimable)", res.Summary)
}
