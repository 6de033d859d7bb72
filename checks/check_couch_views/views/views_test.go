package views

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/registry-checks/registry-checks/lib/couch"
	"github.com/registry-checks/registry-checks/lib/httpclient"
	"github.com/registry-checks/registry-checks/lib/nagios"
)

func load(t *testing.T, name string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", name))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, v))
}

func dbInfo(t *testing.T, name string) *couch.DBInfo {
	var d couch.DBInfo
	load(t, name, &d)
	return &d
}

func viewInfo(t *testing.T, name string) *couch.ViewInfo {
	var v couch.ViewInfo
	load(t, name, &v)
	return &v
}

func raw(t *testing.T, s string) *couch.DBInfo {
	var d couch.DBInfo
	require.NoError(t, json.Unmarshal([]byte(s), &d))
	return &d
}

func rawView(t *testing.T, s string) couch.ViewIndex {
	var v couch.ViewInfo
	require.NoError(t, json.Unmarshal([]byte(s), &v))
	return v.ViewIndex
}

func TestIndexLag(t *testing.T) {
	tests := []struct {
		name    string
		db      *couch.DBInfo
		index   couch.ViewIndex
		lag     int64
		how     string
		wantErr string
	}{
		{"3.x built", dbInfo(t, "node1.db-info.registry.json"), viewInfo(t, "node1.view-info.registry-app.built.json").ViewIndex, 0, "updates_pending.total", ""},
		{"3.x built by ken on node2", dbInfo(t, "node2.db-info.registry.json"), viewInfo(t, "node2.view-info.registry-app.built-by-ken.json").ViewIndex, 0, "updates_pending.total", ""},
		{"3.x after the bulk load", dbInfo(t, "node1.db-info.registry.after-bulk-load.json"), viewInfo(t, "node1.view-info.registry-app.after-bulk-load.json").ViewIndex, 19500, "updates_pending.total", ""},
		{"3.x index being built", dbInfo(t, "node1.db-info.registry.after-bulk-load.json"), viewInfo(t, "node1.view-info.registry-search.building.json").ViewIndex, 11568, "updates_pending.total", ""},
		{"3.x design doc just created", dbInfo(t, "node1.db-info.registry.after-bulk-load.json"), viewInfo(t, "node1.view-info.registry-search.just-created.json").ViewIndex, 20053, "updates_pending.total", ""},
		// 2.x: no updates_pending; the same captures with it removed
		// give the same numbers from the sequences.
		{"2.x-shaped after the bulk load", dbInfo(t, "node1.db-info.registry.after-bulk-load.json"),
			rawView(t, `{"name":"app","view_index":{"update_seq":552,"sizes":{"file":49558,"external":24065,"active":25912},"updater_running":false}}`),
			19500, "database update_seq 20052 - index update_seq 552", ""},
		{"2.x-shaped, index read after more writes", dbInfo(t, "node1.db-info.registry.json"),
			rawView(t, `{"name":"app","view_index":{"update_seq":60}}`), 0, "database update_seq 52 - index update_seq 60", ""},
		{"early 2.0 array sequence", raw(t, `{"update_seq":[120,"g1AAAA"]}`), rawView(t, `{"view_index":{"update_seq":100}}`), 20, "database update_seq 120 - index update_seq 100", ""},
		{"1.x integers", raw(t, `{"update_seq":1234,"disk_size":100}`), rawView(t, `{"view_index":{"update_seq":1200,"disk_size":10,"data_size":5}}`), 34, "database update_seq 1234 - index update_seq 1200", ""},
		{"unreadable database sequence", raw(t, `{"update_seq":"opaque"}`), rawView(t, `{"view_index":{"update_seq":1}}`), 0, "", "database update_seq"},
		{"no index sequence", raw(t, `{"update_seq":5}`), rawView(t, `{"view_index":{}}`), 0, "", "index update_seq"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lag, how, err := IndexLag(tt.db, tt.index)
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.lag, lag)
			assert.Equal(t, tt.how, how)
		})
	}
}

func TestModeFor(t *testing.T) {
	assert.Equal(t, ModeUpdateFalse, modeFor(dbInfo(t, "node1.db-info.registry.json").UpdateSeq))
	assert.Equal(t, ModeUpdateFalse, modeFor(raw(t, `{"update_seq":[1,"x"]}`).UpdateSeq))
	assert.Equal(t, ModeStaleOK, modeFor(raw(t, `{"update_seq":1234}`).UpdateSeq))
}

// fakeCouch serves one database; queries take `took` on the fake clock
// unless queryErr names an error for the view. Check calls it from several
// goroutines at once, hence mu.
type fakeCouch struct {
	mu       sync.Mutex
	db       *couch.DBInfo
	dbErr    error
	ddocs    []DesignDoc
	infos    map[string]*couch.ViewInfo
	infoErr  map[string]error
	took     map[string]time.Duration
	queryErr map[string]error
	clock    time.Time
	calls    []string
}

func (f *fakeCouch) now() time.Time { return f.clock }

func (f *fakeCouch) record(call string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, call)
}

func (f *fakeCouch) DBInfo(context.Context, string) (*couch.DBInfo, error) {
	f.record("db")
	return f.db, f.dbErr
}

func (f *fakeCouch) DesignDocs(context.Context, string) ([]DesignDoc, error) {
	f.record("ddocs")
	return f.ddocs, nil
}

func (f *fakeCouch) ViewInfo(_ context.Context, _, ddoc string) (*couch.ViewInfo, error) {
	f.record("info " + ddoc)
	if err := f.infoErr[ddoc]; err != nil {
		return nil, err
	}
	return f.infos[ddoc], nil
}

func (f *fakeCouch) Query(_ context.Context, _, ddoc, view string, params map[string]any) (int, error) {
	key := ddoc + "/" + view
	var ps []string
	for _, k := range []string{"limit", "reduce", "update", "stale"} {
		if v, ok := params[k]; ok {
			ps = append(ps, fmt.Sprintf("%s=%v", k, v))
		}
	}
	f.record("query " + key + "?" + strings.Join(ps, "&"))
	f.clock = f.clock.Add(f.took[key])
	if err := f.queryErr[key]; err != nil {
		return 0, err
	}
	return 1, nil
}

var (
	appDoc    = DesignDoc{ID: "_design/app", Language: "javascript", Views: []View{{Name: "by_author", Reduce: true}, {Name: "by_name"}}}
	searchDoc = DesignDoc{ID: "_design/search", Language: "javascript", Views: []View{{Name: "by_keyword", Reduce: true}}}
	mangoDoc  = DesignDoc{ID: "_design/a1b2c3", Language: "query", Views: []View{{Name: "foo-json-index"}}}
	vduDoc    = DesignDoc{ID: "_design/validate", Language: "javascript"}
)

func newFake(t *testing.T) *fakeCouch {
	return &fakeCouch{
		db:    dbInfo(t, "node1.db-info.registry.after-bulk-load.json"),
		ddocs: []DesignDoc{appDoc, mangoDoc, searchDoc, vduDoc},
		infos: map[string]*couch.ViewInfo{
			"app":    viewInfo(t, "node1.view-info.registry-app.after-bulk-load.json"),
			"search": viewInfo(t, "node1.view-info.registry-search.building.json"),
		},
		took:  map[string]time.Duration{"app/by_author": 3 * time.Millisecond, "app/by_name": 2500 * time.Microsecond, "search/by_keyword": 40 * time.Millisecond},
		clock: time.Unix(1795660000, 0),
	}
}

func rng(t *testing.T, s string) *nagios.Range {
	if s == "" {
		return nil
	}
	r, err := nagios.ParseRange(s)
	require.NoError(t, err)
	return &r
}

func th(t *testing.T, w, c string) nagios.Thresholds {
	return nagios.Thresholds{Warn: rng(t, w), Crit: rng(t, c)}
}

func depsOf(f *fakeCouch) Deps {
	return Deps{Couch: f, Now: f.now, Step: func(string, ...any) {}, Problem: func(err error) (nagios.Status, string) {
		p := nagios.AsProblem(err)
		if p.Timeout {
			return nagios.WARNING, p.Msg // as --timeout-state=warning would
		}
		return p.Status, p.Msg
	}}
}

func baseConfig(t *testing.T) Config {
	return Config{URL: "http://db1:5984", DB: "registry", Fragmentation: th(t, "70", ""), MinSize: 10 << 20,
		QueryTime: th(t, "1000", "5000"), QueryMode: ModeAuto}
}

func sub(t *testing.T, r nagios.Result, name string) nagios.Result {
	t.Helper()
	for _, s := range r.Subs {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no sub %q", name)
	return nagios.Result{}
}

func perfOf(r nagios.Result, field string) (nagios.Perf, bool) {
	for _, p := range r.Perf {
		if p.Field == field {
			return p, true
		}
	}
	return nagios.Perf{}, false
}

func TestCheckCapturedIndexes(t *testing.T) {
	tests := []struct {
		name           string
		search         string
		cfg            func(*Config)
		status         nagios.Status
		summary        string
		searchStatus   nagios.Status
		searchContains []string
	}{
		{"index being built, no lag threshold", "node1.view-info.registry-search.building.json", nil,
			nagios.OK, "2 design documents of registry OK", nagios.OK,
			[]string{"11568 changes behind", "updater running", "2 clients waiting"}},
		{"index being built, lag thresholds", "node1.view-info.registry-search.building.json", func(c *Config) { c.Lag = th(t, "1000", "15000") },
			nagios.CRITICAL, "2 of 2 design documents failing: _design/app 19500 changes behind, _design/search 11568 changes behind", nagios.WARNING,
			[]string{"11568 changes behind"}},
		// The clients are the problem, not the lag: the first line says so.
		{"index being built, waiting clients threshold", "node1.view-info.registry-search.building.json", func(c *Config) { c.WaitingClients = th(t, "1", "5") },
			nagios.WARNING, "1 of 2 design documents failing: _design/search 2 clients waiting", nagios.WARNING,
			[]string{"2 clients waiting"}},
		{"built", "node1.view-info.registry-search.built.json", func(c *Config) { c.Lag = th(t, "1000", "") },
			nagios.WARNING, "1 of 2 design documents failing: _design/app 19500 changes behind", nagios.OK,
			[]string{"0 changes behind", "11% fragmented (136.1 KiB of 1.2 MiB)"}},
		{"compacting", "node1.view-info.registry-search.compacting.json", nil,
			nagios.OK, "2 design documents of registry OK", nagios.OK,
			[]string{"compaction running", "13% fragmented"}},
		{"fragmentation counted from the minimum size", "node1.view-info.registry-search.compacting.json", func(c *Config) { c.Fragmentation = th(t, "10", ""); c.MinSize = 1 << 20 },
			nagios.WARNING, "1 of 2 design documents failing: _design/search 13% fragmented", nagios.WARNING, nil},
		{"just created, below the minimum size", "node1.view-info.registry-search.just-created.json", func(c *Config) { c.Fragmentation = th(t, "10", "") },
			nagios.OK, "2 design documents of registry OK", nagios.OK,
			[]string{"20053 changes behind", "100% fragmented (102 B of 102 B) (below --min-size 10.0 MiB: not alerted on)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t)
			f.infos["search"] = viewInfo(t, tt.search)
			cfg := baseConfig(t)
			if tt.cfg != nil {
				tt.cfg(&cfg)
			}
			res := Check(context.Background(), cfg, depsOf(f))
			assert.Equal(t, tt.status, res.Status, res.Summary)
			assert.Equal(t, tt.summary, res.Summary)
			s := sub(t, res, "_design/search")
			assert.Equal(t, tt.searchStatus, s.Status, s.Summary)
			for _, c := range tt.searchContains {
				assert.Contains(t, s.Summary, c)
			}
			assert.Contains(t, res.Long, "database registry: update_seq 20052, 20051 docs; queries timed with update=false")
			assert.Contains(t, res.Long, "not checked: _design/a1b2c3, _design/validate (Mango indexes or no views)")
		})
	}
}

func TestQueriesDoNotBuildTheIndex(t *testing.T) {
	for _, tt := range []struct {
		name, db, mode string
		want           []string
	}{
		{"3.x: update=false", "", ModeAuto, []string{"query app/by_author?limit=1&reduce=false&update=false", "query app/by_name?limit=1&update=false", "query search/by_keyword?limit=1&reduce=false&update=false"}},
		{"1.x: stale=ok", `{"update_seq":20052,"doc_count":20051}`, ModeAuto, []string{"query app/by_author?limit=1&reduce=false&stale=ok", "query app/by_name?limit=1&stale=ok", "query search/by_keyword?limit=1&reduce=false&stale=ok"}},
		{"forced stale=ok on 3.x", "", ModeStaleOK, []string{"query app/by_author?limit=1&reduce=false&stale=ok", "query app/by_name?limit=1&stale=ok", "query search/by_keyword?limit=1&reduce=false&stale=ok"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t)
			if tt.db != "" {
				f.db = raw(t, tt.db)
			}
			cfg := baseConfig(t)
			cfg.QueryMode = tt.mode
			Check(context.Background(), cfg, depsOf(f))
			var queries []string
			for _, c := range f.calls {
				if strings.HasPrefix(c, "query ") {
					queries = append(queries, c)
				}
			}
			assert.Equal(t, tt.want, queries)
		})
	}
}

func TestQueryTimesAndErrors(t *testing.T) {
	f := newFake(t)
	f.took["app/by_name"] = 1500 * time.Millisecond
	f.queryErr = map[string]error{"search/by_keyword": &nagios.Problem{Status: nagios.CRITICAL,
		Msg: "GET http://db1:5984/registry/_design/search/_view/by_keyword?limit=1&reduce=false&update=false: server error 500 Internal Server Error (os_process_error: {exit_status,1})",
		Err: &httpclient.StatusError{Code: 500}}}
	res := Check(context.Background(), baseConfig(t), depsOf(f))
	assert.Equal(t, nagios.CRITICAL, res.Status)
	assert.Equal(t, "2 of 2 design documents failing: _design/search view by_keyword failing (500 Internal Server Error), _design/app view by_name slow (1500 ms)", res.Summary)
	app := sub(t, res, "_design/app")
	assert.Equal(t, nagios.WARNING, app.Status)
	byName := sub(t, app, "by_name")
	assert.Equal(t, nagios.WARNING, byName.Status)
	assert.Equal(t, "1500 ms (update=false)", byName.Summary)
	p, _ := perfOf(byName, "query_ms")
	assert.Equal(t, 1500.0, p.Value)
	assert.Equal(t, "ms", p.UOM)
	assert.Equal(t, "1000", p.Warn)
	assert.Equal(t, "app/by_name ms", p.Label)
	kw := sub(t, sub(t, res, "_design/search"), "by_keyword")
	assert.Equal(t, nagios.CRITICAL, kw.Status)
	assert.Contains(t, kw.Summary, "os_process_error")
	p, _ = perfOf(kw, "query_ms")
	assert.True(t, p.Unknown)

	// A 404 (view removed) is the view's error too; a refused login is
	// the check's own problem, and a timeout follows --timeout-state.
	for _, tt := range []struct {
		err  error
		want nagios.Status
	}{
		{&nagios.Problem{Status: nagios.UNKNOWN, Msg: "GET ...: not found: 404 Not Found (not_found: missing_named_view)", Err: &httpclient.StatusError{Code: 404}}, nagios.CRITICAL},
		{&nagios.Problem{Status: nagios.UNKNOWN, Msg: "GET ...: authentication failed for user monitor", Err: &httpclient.StatusError{Code: 401}}, nagios.UNKNOWN},
		{&nagios.Problem{Status: nagios.CRITICAL, Msg: "timeout after 10s waiting for GET ...", Timeout: true}, nagios.WARNING},
	} {
		f := newFake(t)
		f.queryErr = map[string]error{"app/by_name": tt.err}
		res := Check(context.Background(), baseConfig(t), depsOf(f))
		assert.Equal(t, tt.want, sub(t, sub(t, res, "_design/app"), "by_name").Status, tt.err.Error())
	}
}

func TestPouchDBHasNoInfo(t *testing.T) {
	f := newFake(t)
	f.db = raw(t, `{"doc_count":21,"update_seq":21,"db_name":"registry","adapter":"leveldb","disk_size":56835}`)
	f.ddocs = []DesignDoc{appDoc}
	f.infos = map[string]*couch.ViewInfo{"app": {Unsupported: "Not implemented."}}
	res := Check(context.Background(), baseConfig(t), depsOf(f))
	assert.Equal(t, nagios.OK, res.Status, "what cannot be measured is said, not alerted on")
	app := sub(t, res, "_design/app")
	assert.Equal(t, "index state not measurable", app.Summary)
	assert.Contains(t, app.Long[0], `the server has no design-document _info (view_index: "Not implemented."; pouchdb-server)`)
	for _, field := range []string{"lag", "file_bytes", "active_bytes", "fragmentation_pct", "updater_running", "compact_running", "waiting_clients"} {
		p, ok := perfOf(app, field)
		require.True(t, ok, field)
		assert.True(t, p.Unknown, field)
	}
	require.Len(t, app.Subs, 2, "the queries are still timed")
	assert.Equal(t, "2.5 ms (stale=ok)", sub(t, app, "by_name").Summary)
	out := nagios.Render("COUCH_VIEWS", res, nagios.RenderOptions{})
	assert.Contains(t, out, "'app lag'=U")
}

func TestMissingDatabaseAndDesignDocs(t *testing.T) {
	f := newFake(t)
	f.dbErr = &nagios.Problem{Status: nagios.UNKNOWN, Msg: "GET http://db1:5984/registry: not found: 404 Not Found (not_found: Database does not exist.)", Err: &httpclient.StatusError{Code: 404}}
	res := Check(context.Background(), baseConfig(t), depsOf(f))
	assert.Equal(t, nagios.CRITICAL, res.Status)
	assert.Equal(t, "database registry not found", res.Summary)
	assert.Equal(t, []string{"GET http://db1:5984/registry: not found: 404 Not Found (not_found: Database does not exist.)"}, res.Long)

	f = newFake(t)
	cfg := baseConfig(t)
	cfg.DDocs = []string{"_design/app", "npm", "a1b2c3"}
	res = Check(context.Background(), cfg, depsOf(f))
	assert.Equal(t, nagios.CRITICAL, res.Status)
	assert.Equal(t, "1 of 2 design documents failing: _design/npm design document not found", res.Summary)
	require.Len(t, f.calls, 5)
	assert.ElementsMatch(t, []string{"db", "ddocs"}, f.calls[:2], "read together, in either order")
	assert.Equal(t, []string{"info app", "query app/by_author?limit=1&reduce=false&update=false", "query app/by_name?limit=1&update=false"}, f.calls[2:])

	f = newFake(t)
	f.infoErr = map[string]error{"search": &nagios.Problem{Status: nagios.CRITICAL, Msg: "GET http://db1:5984/registry/_design/search/_info: server error 500 Internal Server Error", Err: &httpclient.StatusError{Code: 500}}}
	res = Check(context.Background(), baseConfig(t), depsOf(f))
	assert.Equal(t, nagios.CRITICAL, res.Status)
	assert.Equal(t, "_info failing (500 Internal Server Error)", sub(t, res, "_design/search").Summary)
	assert.Contains(t, sub(t, res, "_design/search").Long, "index: _info: GET http://db1:5984/registry/_design/search/_info: server error 500 Internal Server Error")
}

// A database without views is UNKNOWN, naming the database and the likely
// causes: a check pointed at it expects views, and OK would hide design
// documents that were deleted. A validate_doc_update-only design document
// has no views either.
func TestDatabaseWithoutViews(t *testing.T) {
	f := newFake(t)
	f.ddocs = []DesignDoc{vduDoc}
	res := Check(context.Background(), baseConfig(t), depsOf(f))
	assert.Equal(t, nagios.UNKNOWN, res.Status)
	assert.Equal(t, "no views to check in registry (wrong --db, or design documents deleted?)", res.Summary)
}

func TestUpdateQueryRunsLast(t *testing.T) {
	f := newFake(t)
	f.took["app/by_author"] = 12 * time.Second // the first query of app's update also hits this key
	cfg := baseConfig(t)
	cfg.UpdateQuery = true
	cfg.UpdateTime = th(t, "10000", "")
	cfg.NoQuery = true
	res := Check(context.Background(), cfg, depsOf(f))
	require.Len(t, f.calls, 6)
	assert.ElementsMatch(t, []string{"db", "ddocs"}, f.calls[:2], "read together, in either order")
	assert.ElementsMatch(t, []string{"info app", "info search"}, f.calls[2:4], "read together, in either order")
	assert.Equal(t, []string{"query app/by_author?limit=1&reduce=false", "query search/by_keyword?limit=1&reduce=false"}, f.calls[4:],
		"every _info first, then one updating query per design document, without update=false")
	app := sub(t, res, "_design/app")
	assert.Equal(t, nagios.WARNING, app.Status)
	assert.Equal(t, "updating query 12000 ms", app.Summary)
	assert.Contains(t, app.Long, "index: 19500 changes behind, 48% fragmented (23.1 KiB of 48.4 KiB)")
	p, ok := perfOf(app, "update_query_ms")
	require.True(t, ok)
	assert.Equal(t, 12000.0, p.Value)
	assert.Equal(t, "10000", p.Warn)
	assert.Empty(t, app.Subs, "--no-query")
}

func TestPointsPerDesignDocAndView(t *testing.T) {
	f := newFake(t)
	res := Check(context.Background(), baseConfig(t), depsOf(f))
	pts := nagios.Points(res, time.Unix(0, 0))
	require.Len(t, pts, 2+3, "one couch_view_index per design document, one couch_view per view")
	byMeasurement := map[string]int{}
	for _, p := range pts {
		byMeasurement[p.Measurement]++
		assert.Equal(t, "registry", p.Tags["db"])
		assert.Equal(t, "http://db1:5984", p.Tags["url"])
	}
	assert.Equal(t, map[string]int{MeasurementIndex: 2, MeasurementView: 3}, byMeasurement)
	assert.Equal(t, map[string]string{"url": "http://db1:5984", "db": "registry", "ddoc": "search"}, pts[3].Tags)
	assert.Equal(t, int64(11568), pts[3].Fields["lag"])
	assert.Equal(t, int64(1), pts[3].Fields["updater_running"])
	assert.Equal(t, int64(2), pts[3].Fields["waiting_clients"])
	assert.Equal(t, "by_keyword", pts[4].Tags["view"])
	assert.Equal(t, 40.0, pts[4].Fields["query_ms"])
}
