package promotion_test

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/registry-checks/registry-checks/lib/couch"
	"github.com/registry-checks/registry-checks/lib/fsstat"
	"github.com/registry-checks/registry-checks/lib/httpclient"
	"github.com/registry-checks/registry-checks/lib/nagios"
	"github.com/registry-checks/registry-checks/lib/promotion"
	"github.com/registry-checks/registry-checks/lib/replication/replicationtest"
	"github.com/registry-checks/registry-checks/lib/secret"
)

func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "couchdb-3.4.3", name))
	require.NoError(t, err)
	return b
}

// Answers the captures do not hold: the 3.4.3 fixtures have no _security,
// no design-document listing and no admins section. These are written in
// 3.4.3's shapes (README of the fixtures: registry has _design/app; the
// server admin is "admin").
const (
	designApp     = `{"total_rows":51,"offset":0,"rows":[{"id":"_design/app","key":"_design/app","value":{"rev":"1-0a0b0c"}}]}`
	securityEmpty = `{}`
	adminsOne     = `{"admin":"-pbkdf2-0123456789abcdef,0123456789abcdef,10"}`
)

// dbsInfo answers POST /_dbs_info with the rows of the keys asked, in
// their order, as CouchDB does (the captures are of GET /_dbs_info: every
// database).
func dbsInfo(t *testing.T, all []byte) func(w http.ResponseWriter, r *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		var rows []map[string]any
		require.NoError(t, json.Unmarshal(all, &rows))
		rd := io.Reader(r.Body)
		if r.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(r.Body)
			require.NoError(t, err)
			rd = zr
		}
		var req struct {
			Keys []string `json:"keys"`
		}
		require.NoError(t, json.NewDecoder(rd).Decode(&req))
		out := []map[string]any{}
		for _, k := range req.Keys {
			row := map[string]any{"key": k, "error": "not_found"}
			for _, r := range rows {
				if r["key"] == k {
					row = r
				}
			}
			out = append(out, row)
		}
		b, _ := json.Marshal(out)
		body(string(b))(w, r)
	}
}

type handlers map[string]func(w http.ResponseWriter, r *http.Request)

func body(s string) func(w http.ResponseWriter, r *http.Request) {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(s))
	}
}

func status(code int, s string) func(w http.ResponseWriter, r *http.Request) {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		w.Write([]byte(s))
	}
}

// primary serves node1's captured answers (the write primary).
func primary(t *testing.T, extra handlers) *httptest.Server {
	h := handlers{
		"GET /_all_dbs":                          body(string(fixture(t, "node1.all-dbs.json"))),
		"POST /_dbs_info":                        dbsInfo(t, fixture(t, "node1.dbs-info.json")),
		"GET /registry/_all_docs":                body(designApp),
		"GET /registry/_security":                body(securityEmpty),
		"GET /_node/_local/_config/admins":       body(adminsOne),
		"GET /registry_checks_probe/promo-probe": status(404, `{"error":"not_found","reason":"missing"}`),
	}
	for k, v := range extra {
		h[k] = v
	}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if f := h[r.Method+" "+r.URL.Path]; f != nil {
			f(w, r)
			return
		}
		status(404, `{"error":"not_found","reason":"missing"}`)(w, r)
	}))
	t.Cleanup(ts.Close)
	return ts
}

// replica serves node2's captured answers of a situation, plus what a
// write probe needs.
func replica(t *testing.T, situation string, extra handlers) *httptest.Server {
	h := map[string]func(w http.ResponseWriter, r *http.Request){
		"GET /_all_dbs":                           body(string(fixture(t, "node2.all-dbs.json"))),
		"POST /_dbs_info":                         dbsInfo(t, fixture(t, "node2.dbs-info.json")),
		"GET /registry/_all_docs":                 body(designApp),
		"GET /registry/_security":                 body(securityEmpty),
		"GET /_node/_local/_config/admins":        body(adminsOne),
		"PUT /registry_checks_probe":              status(412, `{"error":"file_exists","reason":"The database could not be created, the file already exists."}`),
		"HEAD /registry_checks_probe/promo-probe": status(404, ``),
		"GET /registry_checks_probe/promo-probe":  status(404, `{"error":"not_found","reason":"missing"}`),
		"PUT /registry_checks_probe/promo-probe":  status(201, `{"ok":true,"id":"promo-probe","rev":"1-abc"}`),
		"DELETE /registry_checks_probe/promo-probe": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("ETag", `"2-def"`) // as CouchDB answers a DELETE
			status(200, `{"ok":true,"id":"promo-probe","rev":"2-def"}`)(w, r)
		},
	}
	for k, v := range extra {
		h[k] = v
	}
	return replicationtest.Node(t, "node2", situation, h)
}

func client(t testing.TB, u string) *couch.Client {
	hc, err := httpclient.New(httpclient.Options{}, httpclient.Config{})
	require.NoError(t, err)
	c, err := couch.New(u, secret.Credentials{User: "admin", Password: "secret"}, hc)
	require.NoError(t, err)
	return c
}

func config() promotion.Config {
	w, _ := nagios.ParseRange("100")
	c, _ := nagios.ParseRange("1000")
	return promotion.Config{
		// The captured replications name the nodes by their capture ports.
		PrimaryAliases: []string{"http://127.0.0.1:15984"},
		Lag:            nagios.Thresholds{Warn: &w, Crit: &c},
		DocDiff:        nagios.Thresholds{Warn: &w, Crit: &c},
		WriteProbe:     true,
		ProbeID:        "promo-probe",
	}
}

func compare(t *testing.T, p, r *httptest.Server, cfg promotion.Config) (promotion.Report, nagios.Result) {
	t.Helper()
	rep, err := promotion.Compare(context.Background(), promotion.Nodes{Primary: client(t, p.URL), Replica: client(t, r.URL)}, cfg)
	require.NoError(t, err)
	return rep, rep.Result()
}

func perf(res nagios.Result, label string) nagios.Perf {
	for _, p := range res.Perf {
		if p.Label == label {
			return p
		}
	}
	return nagios.Perf{Label: "absent " + label}
}

// The captured normal state: node2 pulls node1/registry, caught up
// (through_seq 52 = update_seq 52), 51 documents on both.
func TestCaughtUpReplicaCouldTakeOver(t *testing.T) {
	var startkeys []string
	listing := func(w http.ResponseWriter, r *http.Request) {
		startkeys = append(startkeys, r.URL.Query().Get("startkey")+" "+r.URL.Query().Get("endkey"))
		body(designApp)(w, r)
	}
	rep, res := compare(t, primary(t, handlers{"GET /registry/_all_docs": listing}), replica(t, "running", handlers{"GET /registry/_all_docs": listing}), config())
	assert.Equal(t, []string{`"_design/" "_design0"`, `"_design/" "_design0"`}, startkeys, "the keys JSON-encoded once")
	assert.Equal(t, nagios.OK, res.Status, res.Summary)
	assert.Contains(t, res.Summary, "could take over from 127.0.0.1:")
	assert.Contains(t, res.Summary, "1 database, 0 changes behind")
	assert.Contains(t, res.Summary, "not checked: disk headroom")
	require.Len(t, rep.DBs, 1, "the system databases are left out")
	assert.Equal(t, "registry", rep.DBs[0].Name)
	assert.Equal(t, "registry-from-node1", rep.DBs[0].Replication)
	assert.True(t, rep.DBs[0].SeqLagKnown)
	assert.Equal(t, 0.0, perf(res, "worst_lag").Value)
	assert.False(t, perf(res, "worst_lag").Unknown)
	assert.Equal(t, 1.0, perf(res, "databases").Value)
	assert.NotNil(t, rep.WriteMillis)
}

// laggingDBsInfo is node1's _dbs_info answer with registry's update_seq
// the source_seq the captured lagging replication had read.
func laggingDBsInfo(t *testing.T) []byte {
	var docs struct {
		Docs []struct {
			DocID string `json:"doc_id"`
			Info  struct {
				SourceSeq string `json:"source_seq"`
			} `json:"info"`
		} `json:"docs"`
	}
	require.NoError(t, json.Unmarshal(replicationtest.Read(t, "node2.scheduler-docs.replication-lagging.json"), &docs))
	var sourceSeq string
	for _, d := range docs.Docs {
		if d.DocID == "registry-from-node1" {
			sourceSeq = d.Info.SourceSeq
		}
	}
	require.NotEmpty(t, sourceSeq)
	var info []map[string]any
	require.NoError(t, json.Unmarshal(fixture(t, "node1.dbs-info.json"), &info))
	for _, row := range info {
		if row["key"] == "registry" {
			row["info"].(map[string]any)["update_seq"] = sourceSeq
		}
	}
	b, _ := json.Marshal(info)
	return b
}

// node1 mid bulk load: the captured lagging replication's through_seq is
// 1841 changes behind the source_seq it had read (the primary's update_seq
// at that moment).
func TestLaggingReplicaIsCritical(t *testing.T) {
	b := laggingDBsInfo(t)
	_, res := compare(t, primary(t, handlers{"POST /_dbs_info": dbsInfo(t, b)}), replica(t, "replication-lagging", nil), config())
	assert.Equal(t, nagios.CRITICAL, res.Status, res.Summary)
	assert.Contains(t, res.Summary, "1 database behind (registry)")
	assert.Equal(t, 1841.0, perf(res, "worst_lag").Value)
}

// CouchDB 3.4.3 adds every _security edit to update_seq and to no changes
// feed (a fence adds two): a replica that has written every change is not
// behind by the edits. Seen on the real-CouchDB stack after 20 drills as
// "37 changes behind" on an idle heartbeat database. The changes after
// through_seq ("pending" of _changes?limit=0) are the lag.
func TestSecurityEditsAreNoLag(t *testing.T) {
	b := laggingDBsInfo(t)
	for _, tc := range []struct {
		pending int
		status  nagios.Status
	}{{0, nagios.OK}, {1841, nagios.CRITICAL}} {
		changes := func(w http.ResponseWriter, r *http.Request) {
			assert.Equal(t, "0", r.URL.Query().Get("limit"))
			body(fmt.Sprintf(`{"results":[],"last_seq":%q,"pending":%d}`, r.URL.Query().Get("since"), tc.pending))(w, r)
		}
		_, res := compare(t, primary(t, handlers{"POST /_dbs_info": dbsInfo(t, b), "GET /registry/_changes": changes, "POST /registry/_changes": changes}),
			replica(t, "replication-lagging", nil), config())
		assert.Equal(t, tc.status, res.Status, res.Summary)
		assert.Equal(t, float64(tc.pending), perf(res, "worst_lag").Value)
	}
}

// node1 stopped: node2's replication is crashing, so nothing keeps the
// database fresh.
func TestCrashingReplicationIsNoFeed(t *testing.T) {
	_, res := compare(t, primary(t, nil), replica(t, "source-down-300s", nil), config())
	assert.Equal(t, nagios.CRITICAL, res.Status, res.Summary)
	assert.Contains(t, res.Summary, "1 database without a running replication from the primary (registry)")
	assert.Contains(t, strings.Join(res.Long, "\n"), "replication registry-from-node1 is crashing")
	assert.Equal(t, 1.0, perf(res, "no_replication").Value)
}

func TestMissingDatabasesAreCountedAndNamed(t *testing.T) {
	all := `["_replicator","_users","registry","small-000","small-001","small-002"]`
	var rows []map[string]any
	require.NoError(t, json.Unmarshal(fixture(t, "node1.dbs-info.json"), &rows))
	for _, n := range []string{"small-000", "small-001", "small-002"} {
		rows = append(rows, map[string]any{"key": n, "info": map[string]any{"db_name": n, "doc_count": 3, "doc_del_count": 0, "update_seq": "3-g1AAAA"}})
	}
	b, _ := json.Marshal(rows)
	var rrows []map[string]any
	require.NoError(t, json.Unmarshal(fixture(t, "node2.dbs-info.json"), &rrows))
	for _, n := range []string{"small-000", "small-001", "small-002"} {
		rrows = append(rrows, map[string]any{"key": n, "error": "not_found"})
	}
	rb, _ := json.Marshal(rrows)
	_, res := compare(t, primary(t, handlers{"GET /_all_dbs": body(all), "POST /_dbs_info": dbsInfo(t, b)}),
		replica(t, "running", handlers{"POST /_dbs_info": dbsInfo(t, rb)}), config())
	assert.Equal(t, nagios.CRITICAL, res.Status)
	assert.Contains(t, res.Summary, "3 databases missing (small-000, small-001, +1)")
	assert.Equal(t, 3.0, perf(res, "missing").Value)
	assert.Equal(t, 4.0, perf(res, "databases").Value)
}

func TestDesignDocumentsAndSecurityDiffer(t *testing.T) {
	other := strings.Replace(designApp, "1-0a0b0c", "2-ffffff", 1)
	_, res := compare(t, primary(t, handlers{"GET /registry/_security": body(`{"members":{"roles":["publishers"]}}`)}),
		replica(t, "running", handlers{"GET /registry/_all_docs": body(other)}), config())
	assert.Equal(t, nagios.CRITICAL, res.Status)
	assert.Contains(t, res.Summary, "design documents differ in 1 database (registry)")
	assert.Contains(t, res.Summary, "_security differs in 1 database (registry)")
	assert.Contains(t, strings.Join(res.Long, "\n"), "registry: design documents differ (_design/app)")
}

// A replica whose _security carries the fence marker refuses every
// write: it blocks. The fence design document alone is inert (it refuses
// only where the marker is), and it replicates: neither a blocker nor a
// design difference.
func TestAFenceOnTheReplicaBlocks(t *testing.T) {
	sec := `{"members":{"roles":["_admin"]},"admins":{"roles":["_admin"]}}`
	marked := `{"members":{"roles":["_admin"]},"admins":{"roles":["_admin"]},"` + promotion.FenceMarker + `":{"by":"x"}}`
	fenceDoc := `{"rows":[{"id":"_design/app","key":"_design/app","value":{"rev":"1-0a0b0c"}},{"id":"` + promotion.FenceID + `","value":{"rev":"1-f"}}]}`
	_, res := compare(t, primary(t, handlers{"GET /registry/_security": body(sec)}),
		replica(t, "running", handlers{"GET /registry/_security": body(marked)}), config())
	assert.Equal(t, nagios.CRITICAL, res.Status)
	assert.Contains(t, res.Summary, "fenced on the replica in 1 database (registry)")
	assert.NotContains(t, res.Summary, "_security differs", "the marker is not an access difference")

	_, res = compare(t, primary(t, handlers{"GET /registry/_security": body(sec)}),
		replica(t, "running", handlers{"GET /registry/_all_docs": body(fenceDoc), "GET /registry/_security": body(sec)}), config())
	assert.Equal(t, nagios.OK, res.Status, res.Summary)
}

func TestRefusedWriteIsCritical(t *testing.T) {
	_, res := compare(t, primary(t, nil), replica(t, "running", handlers{
		"PUT /registry_checks_probe/promo-probe": status(403, `{"error":"forbidden","reason":"read-only"}`),
	}), config())
	assert.Equal(t, nagios.CRITICAL, res.Status)
	assert.Contains(t, res.Summary, "the replica refuses writes")
	assert.Equal(t, 1.0, perf(res, "write_failed").Value)
	assert.True(t, perf(res, "write_time").Unknown)
}

func TestAdminsDifferIsAWarning(t *testing.T) {
	_, res := compare(t, primary(t, handlers{"GET /_node/_local/_config/admins": body(`{"admin":"-pbkdf2-x","ops":"-pbkdf2-y"}`)}),
		replica(t, "running", nil), config())
	assert.Equal(t, nagios.WARNING, res.Status, res.Summary)
	assert.Contains(t, res.Summary, "not on the replica: ops")
	assert.NotContains(t, strings.Join(res.Long, "\n"), "pbkdf2", "hashes are never shown")
}

// What a server cannot answer is "not checked", never OK: a replica
// without _security, admins or design listing answers 404 everywhere.
func TestUnansweredIsNotChecked(t *testing.T) {
	cfg := config()
	cfg.NotChecked = nagios.WARNING
	nf := status(404, `{"error":"not_found","reason":"missing"}`)
	rep, res := compare(t, primary(t, nil), replica(t, "running", handlers{
		"GET /registry/_security": nf, "GET /_node/_local/_config/admins": nf, "GET /_config/admins": nf,
	}), cfg)
	assert.Equal(t, nagios.WARNING, res.Status, "--not-checked-state applies")
	assert.Contains(t, res.Summary, "not checked: _security, disk headroom, server admins")
	assert.Len(t, rep.NotChecked, 3)
	assert.Equal(t, 3.0, perf(res, "not_checked").Value)
}

func TestUnreadableReplicaIsCritical(t *testing.T) {
	r := replica(t, "running", nil)
	r.Close()
	_, res := compare(t, primary(t, nil), r, config())
	assert.Equal(t, nagios.CRITICAL, res.Status)
	assert.Contains(t, res.Summary, "cannot take over")
	assert.Contains(t, res.Summary, "replica not readable")
}

func TestHeadroomFromTheDataDirectory(t *testing.T) {
	cfg := config()
	cfg.DataDir = "/var/lib/couchdb"
	var mu sync.Mutex
	avail := uint64(1 << 30)
	cfg.Statfs = func(string) (fsstat.FS, error) {
		mu.Lock()
		defer mu.Unlock()
		return fsstat.FS{Size: 2 << 30, Used: 1 << 30, Avail: avail}, nil
	}
	rep, res := compare(t, primary(t, nil), replica(t, "running", nil), cfg)
	assert.Equal(t, nagios.OK, res.Status, res.Summary)
	require.NotNil(t, rep.Headroom)
	assert.Greater(t, *rep.Headroom, int64(0))

	avail = 10
	_, res = compare(t, primary(t, nil), replica(t, "running", nil), cfg)
	assert.Equal(t, nagios.CRITICAL, res.Status)
	assert.Contains(t, res.Summary, "could not be compacted on the replica")
}

func TestSelection(t *testing.T) {
	all := []string{"_replicator", "_users", "registry", "registry_checks_probe", "small-000", "small-001"}
	s := promotion.Selection{ProbeDB: "registry_checks_probe"}
	names, missing := s.Select(all)
	assert.Equal(t, []string{"registry", "small-000", "small-001"}, names)
	assert.Empty(t, missing)
	s = promotion.Selection{Include: []string{"small-*", "_users", "nope"}, Exclude: []string{"small-001"}}
	names, missing = s.Select(all)
	assert.Equal(t, []string{"_users", "small-000"}, names)
	assert.Equal(t, []string{"nope"}, missing)
}

// A replication of the database from another host than the primary does
// not feed it for a promotion, and the finding says where it comes from.
func TestReplicationFromAnotherHostIsNamed(t *testing.T) {
	cfg := config()
	cfg.PrimaryAliases = nil // the capture's source, 127.0.0.1:15984, is not this primary
	_, res := compare(t, primary(t, nil), replica(t, "running", nil), cfg)
	assert.Equal(t, nagios.CRITICAL, res.Status)
	assert.Contains(t, strings.Join(res.Long, "\n"), "registry: no replication from the primary feeds it (one from 127.0.0.1:15984 does: --primary-alias if that is the primary)")
}

// Every number of the perfdata is a field of the couch_promotion point,
// under the name docs/check_couch_promotion.md gives.
func TestPerfdataIsLineProtocol(t *testing.T) {
	cfg := config()
	cfg.DataDir = "/var/lib/couchdb"
	cfg.Statfs = func(string) (fsstat.FS, error) { return fsstat.FS{Size: 2 << 30, Used: 1 << 30, Avail: 1 << 30}, nil }
	_, res := compare(t, primary(t, nil), replica(t, "running", nil), cfg)
	pts := nagios.Points(res, time.Unix(0, 0))
	require.Len(t, pts, 1)
	assert.Equal(t, promotion.Measurement, pts[0].Measurement)
	var want []string
	for _, p := range res.Perf {
		require.False(t, p.Unknown, p.Label)
		key := p.Field
		if key == "" {
			key = p.Label
		}
		want = append(want, key)
		assert.EqualValues(t, p.Value, pts[0].Fields[key], key)
	}
	assert.ElementsMatch(t, append(want, "state"), slices.Collect(maps.Keys(pts[0].Fields)))
	assert.ElementsMatch(t, []string{"databases", "worst_lag", "worst_doc_diff", "missing", "no_replication", "diverged", "missing_docs", "behind",
		"doc_count_differ", "design_differ", "security_differ", "fenced", "write_failed", "admins_differ", "not_checked",
		"compaction_headroom_bytes", "write_ms"}, want)
}

func TestWriteProbeCreatesItsDatabaseOnlyWhenMissing(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	puts := 0
	_, res := compare(t, primary(t, nil), replica(t, "running", handlers{
		"PUT /registry_checks_probe": func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			seen = append(seen, "create")
			mu.Unlock()
			status(201, `{"ok":true}`)(w, r)
		},
		"PUT /registry_checks_probe/promo-probe": func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			puts++
			first := puts == 1
			seen = append(seen, "put")
			mu.Unlock()
			if first {
				status(404, `{"error":"not_found","reason":"Database does not exist."}`)(w, r)
				return
			}
			status(201, `{"ok":true,"id":"promo-probe","rev":"1-abc"}`)(w, r)
		},
	}), config())
	assert.Equal(t, nagios.OK, res.Status, res.Summary)
	assert.Equal(t, []string{"put", "create", "put"}, seen)
	assert.False(t, perf(res, "write_time").Unknown)
}

func TestWriteProbeRetriesAConflict(t *testing.T) {
	// Another run on the host (Nagios and Telegraf) wrote the same id, or
	// a run was killed between write and delete: read the _rev, write on
	// top. A delete that conflicts is another run's write, not a refusal.
	var mu sync.Mutex
	var revs []string
	_, res := compare(t, primary(t, nil), replica(t, "running", handlers{
		"GET /registry_checks_probe/promo-probe": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("ETag", `"1-other"`)
			status(200, `{"_id":"promo-probe","_rev":"1-other"}`)(w, r)
		},
		"PUT /registry_checks_probe/promo-probe": func(w http.ResponseWriter, r *http.Request) {
			var doc map[string]any
			_ = json.NewDecoder(requestBody(t, r)).Decode(&doc)
			rev, _ := doc["_rev"].(string)
			mu.Lock()
			revs = append(revs, rev)
			mu.Unlock()
			if rev == "" {
				status(409, `{"error":"conflict","reason":"Document update conflict."}`)(w, r)
				return
			}
			status(201, `{"ok":true,"id":"promo-probe","rev":"2-abc"}`)(w, r)
		},
		"DELETE /registry_checks_probe/promo-probe": status(409, `{"error":"conflict","reason":"Document update conflict."}`),
	}), config())
	assert.Equal(t, nagios.OK, res.Status, res.Summary)
	assert.Equal(t, []string{"", "1-other"}, revs)
	assert.Equal(t, 0.0, perf(res, "write_failed").Value)
}

func TestWriteProbeContendedIsWritable(t *testing.T) {
	// Two runs on one host write and delete the same id in turn: every
	// PUT conflicts and every read finds the document deleted. Seen on
	// real CouchDB: the old code kept the stale _rev, gave up after four
	// tries and called the replica one that refuses writes. A 409 is an
	// answer of a writable node.
	var mu sync.Mutex
	var revs []string
	_, res := compare(t, primary(t, nil), replica(t, "running", handlers{
		"GET /registry_checks_probe/promo-probe": status(404, `{"error":"not_found","reason":"deleted"}`),
		"PUT /registry_checks_probe/promo-probe": func(w http.ResponseWriter, r *http.Request) {
			var doc map[string]any
			_ = json.NewDecoder(requestBody(t, r)).Decode(&doc)
			rev, _ := doc["_rev"].(string)
			mu.Lock()
			revs = append(revs, rev)
			mu.Unlock()
			status(409, `{"error":"conflict","reason":"Document update conflict."}`)(w, r)
		},
	}), config())
	assert.Equal(t, nagios.OK, res.Status, res.Summary)
	assert.Equal(t, 0.0, perf(res, "write_failed").Value)
	assert.False(t, perf(res, "write_time").Unknown)
	for _, rev := range revs {
		assert.Empty(t, rev, "a deleted document is written without a revision")
	}
}

func TestWriteProbeRefusedPasswordIsUnknown(t *testing.T) {
	// 401 says the monitoring user's password is wrong, not that the
	// replica refuses writes.
	_, res := compare(t, primary(t, nil), replica(t, "running", handlers{
		"PUT /registry_checks_probe/promo-probe": status(401, `{"error":"unauthorized","reason":"Name or password is incorrect."}`),
	}), config())
	assert.Equal(t, nagios.UNKNOWN, res.Status, res.Summary)
	assert.Contains(t, strings.Join(res.Long, "\n"), "authentication failed")
}

// changesFeed serves a primary's changes feed of docs (each at rev 1-a),
// empty after any since given with limit=1 (nothing pending).
func changesFeed(docs []string) func(w http.ResponseWriter, r *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		var rows []string
		if r.URL.Query().Get("since") == "" || r.URL.Query().Get("limit") != "1" {
			for i, id := range docs {
				rows = append(rows, `{"seq":"`+strings.Repeat("1", i+1)+`-x","id":"`+id+`","changes":[{"rev":"1-a"}]}`)
			}
		}
		w.Write([]byte(`{"results":[` + strings.Join(rows, ",") + `],"last_seq":"9-x","pending":0}`))
	}
}

// revsDiffLacking is a replica's _revs_diff that lacks the ids given.
func revsDiffLacking(t *testing.T, lacking ...string) func(w http.ResponseWriter, r *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		rd := io.Reader(r.Body)
		if r.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(r.Body)
			require.NoError(t, err)
			rd = zr
		}
		var req map[string][]string
		require.NoError(t, json.NewDecoder(rd).Decode(&req))
		out := map[string]any{}
		for _, id := range lacking {
			if revs, ok := req[id]; ok {
				out[id] = map[string]any{"missing": revs}
			}
		}
		b, _ := json.Marshal(out)
		body(string(b))(w, r)
	}
}

// Issue 22: a replica whose replication has nothing pending (no change
// after its through_seq on the primary) but has fewer documents has lost
// them for good: CRITICAL, with the missing documents named, not "0
// changes behind" and a count difference under the threshold.
func TestDivergenceIsCriticalAndNamed(t *testing.T) {
	feed := changesFeed([]string{"left-pad", "lodash", "pkg-00001"})
	one := `[{"key":"registry","info":{"db_name":"registry","doc_count":51,"doc_del_count":0,"update_seq":"60-x"}}]`
	fewer := `[{"key":"registry","info":{"db_name":"registry","doc_count":50,"doc_del_count":0,"update_seq":"59-x"}}]`
	_, res := compare(t, primary(t, handlers{"GET /registry/_changes": feed, "POST /registry/_changes": feed, "POST /_dbs_info": body(one)}),
		replica(t, "running", handlers{"POST /registry/_revs_diff": revsDiffLacking(t, "lodash"), "POST /_dbs_info": body(fewer)}), config())
	assert.Equal(t, nagios.CRITICAL, res.Status, res.Summary)
	assert.Contains(t, res.Summary, "documents missing for good in 1 database (registry: 1 missing: lodash)")
	assert.Contains(t, strings.Join(res.Long, "\n"), "1 document missing on the replica: lodash")
	assert.Equal(t, 1.0, perf(res, "missing_docs").Value)
}

// The replica that cannot be read says why on line 1.
func TestUnreadableReplicaSaysWhy(t *testing.T) {
	for _, tc := range []struct {
		name string
		h    func(w http.ResponseWriter, r *http.Request)
		want string
	}{
		{"500", status(500, `{"error":"internal","reason":"boom"}`), "replica not readable: server error 500"},
		{"401", status(401, `{"error":"unauthorized","reason":"Name or password is incorrect."}`), "replica not readable: authentication failed for user admin"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, res := compare(t, primary(t, nil), replica(t, "running", handlers{"POST /_dbs_info": tc.h}), config())
			assert.Equal(t, nagios.CRITICAL, res.Status)
			assert.Contains(t, res.Summary, tc.want)
		})
	}
}

func TestWriteProbeRetriesADroppedConnection(t *testing.T) {
	// The node closes the connection under the probe's PUT without an
	// answer (seen on real CouchDB 3.4.3 as "write: broken pipe" on a
	// kept-alive connection it had closed after a 404): asked again on a
	// new connection, not "the replica refuses writes".
	var mu sync.Mutex
	puts := 0
	_, res := compare(t, primary(t, nil), replica(t, "running", handlers{
		"PUT /registry_checks_probe/promo-probe": func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			puts++
			first := puts == 1
			mu.Unlock()
			if first {
				conn, _, err := w.(http.Hijacker).Hijack()
				require.NoError(t, err)
				conn.Close()
				return
			}
			status(201, `{"ok":true,"id":"promo-probe","rev":"1-abc"}`)(w, r)
		},
	}), config())
	assert.Equal(t, nagios.OK, res.Status, res.Summary, res.Long)
	assert.Equal(t, 2, puts)
	assert.Equal(t, 0.0, perf(res, "write_failed").Value)
}
