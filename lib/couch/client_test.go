package couch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/registry-checks/registry-checks/lib/httpclient"
	"github.com/registry-checks/registry-checks/lib/nagios"
	"github.com/registry-checks/registry-checks/lib/secret"
)

const testPassword = "wr0ng-Passw0rd-xyz"

func testdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "couchdb-3.4.3", name))
	require.NoError(t, err)
	return b
}

func newTestClient(t *testing.T, url string, creds secret.Credentials) *Client {
	t.Helper()
	hc, err := httpclient.New(httpclient.Options{}, httpclient.Config{})
	require.NoError(t, err)
	c, err := New(url, creds, hc)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func writeJSON(w http.ResponseWriter, code int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(body)
}

func problemOf(t *testing.T, err error) *nagios.Problem {
	t.Helper()
	require.Error(t, err)
	var p *nagios.Problem
	require.True(t, errors.As(err, &p), "want *nagios.Problem, got %T: %v", err, err)
	return p
}

// pagedServer serves the 203 jobs of the real limit-1000 capture, cut to
// the limit and skip of each request, and records the requests.
type pagedServer struct {
	mu       sync.Mutex
	requests []string
	all      SchedulerJobs
	raw      []json.RawMessage
}

func (s *pagedServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.requests = append(s.requests, r.URL.RequestURI())
	s.mu.Unlock()
	limit := 100 // CouchDB's default for _scheduler/jobs
	if v := r.URL.Query().Get("limit"); v != "" {
		limit, _ = strconv.Atoi(v)
	}
	skip, _ := strconv.Atoi(r.URL.Query().Get("skip"))
	lo, hi := min(skip, len(s.raw)), min(skip+limit, len(s.raw))
	body, _ := json.Marshal(map[string]any{"total_rows": len(s.raw), "offset": skip, "jobs": s.raw[lo:hi]})
	writeJSON(w, http.StatusOK, body)
}

func TestSchedulerJobsFetchesEveryPage(t *testing.T) {
	var capture struct {
		TotalRows int               `json:"total_rows"`
		Jobs      []json.RawMessage `json:"jobs"`
	}
	require.NoError(t, json.Unmarshal(testdata(t, "node2.scheduler-jobs.200-replications.limit-1000.json"), &capture))
	require.Equal(t, 203, capture.TotalRows)
	require.Len(t, capture.Jobs, 203)
	// What one decode of the whole answer gives: every page size must
	// give exactly this, so no row keeps a field of another.
	var whole SchedulerJobs
	require.NoError(t, json.Unmarshal(testdata(t, "node2.scheduler-jobs.200-replications.limit-1000.json"), &whole))

	srv := &pagedServer{raw: capture.Jobs}
	ts := httptest.NewServer(srv)
	defer ts.Close()

	tests := []struct {
		pageSize  int
		wantPages []string
	}{
		{7, nil},
		{50, []string{"limit=50&skip=0", "limit=50&skip=50", "limit=50&skip=100", "limit=50&skip=150", "limit=50&skip=200"}},
		{100, []string{"limit=100&skip=0", "limit=100&skip=100", "limit=100&skip=200"}},
		{203, []string{"limit=203&skip=0"}},
		{1000, []string{"limit=1000&skip=0"}},
	}
	for _, tt := range tests {
		t.Run(strconv.Itoa(tt.pageSize), func(t *testing.T) {
			srv.requests = nil
			c := newTestClient(t, ts.URL, secret.Credentials{})
			c.PageSize = tt.pageSize
			jobs, err := c.SchedulerJobs(context.Background())
			require.NoError(t, err)
			assert.Equal(t, 203, jobs.TotalRows)
			require.Len(t, jobs.Jobs, 203)
			if tt.wantPages != nil {
				var want []string
				for _, q := range tt.wantPages {
					want = append(want, "/_scheduler/jobs?"+q)
				}
				assert.Equal(t, want, srv.requests)
			} else {
				assert.Len(t, srv.requests, (203+tt.pageSize-1)/tt.pageSize)
			}
			assert.Equal(t, whole.Jobs, jobs.Jobs)
			ids := map[string]bool{}
			for _, j := range jobs.Jobs {
				ids[j.ID] = true
			}
			assert.Len(t, ids, 203, "every job once")
		})
	}
}

func TestAppendPage(t *testing.T) {
	t.Run("the first page reserves room for total rows", func(t *testing.T) {
		all := appendPage(nil, []int{1, 2}, 10)
		assert.Equal(t, []int{1, 2}, all)
		assert.Equal(t, 10, cap(all))
	})
	t.Run("a page decoded into the spare capacity is taken in place", func(t *testing.T) {
		all := appendPage(nil, []int{1, 2}, 10)
		page := pageTail(all)
		require.NoError(t, json.Unmarshal([]byte(`[3,4,5]`), &page))
		next := appendPage(all, page, 10)
		assert.Equal(t, []int{1, 2, 3, 4, 5}, next)
		assert.Same(t, &all[0], &next[0], "no copy")
	})
	t.Run("a page that outgrew the reservation is copied", func(t *testing.T) {
		all := appendPage(nil, []int{1, 2}, 3)
		page := pageTail(all)
		require.NoError(t, json.Unmarshal([]byte(`[3,4,5]`), &page))
		assert.Equal(t, []int{1, 2, 3, 4, 5}, appendPage(all, page, 3))
		assert.Equal(t, []int{1, 2}, all, "the rows read before are untouched")
	})
	t.Run("a total_rows beyond reason reserves a bounded room", func(t *testing.T) {
		all := appendPage(nil, []int{1}, 1<<40)
		assert.Equal(t, maxPreallocRows, cap(all))
	})
	t.Run("an empty or null page adds nothing", func(t *testing.T) {
		all := appendPage(nil, []int{1}, 5)
		assert.Equal(t, []int{1}, appendPage(all, nil, 5))
		assert.Equal(t, []int{1}, appendPage(all, pageTail(all), 5))
	})
}

func TestSchedulerDocsPagedAndDecoded(t *testing.T) {
	var requests []string
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests = append(requests, r.URL.RequestURI())
		var all SchedulerDocs
		_ = json.Unmarshal(testdata(t, "node2.scheduler-docs.more-docs-75s.json"), &all)
		skip, _ := strconv.Atoi(r.URL.Query().Get("skip"))
		limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
		raw := testdata(t, "node2.scheduler-docs.more-docs-75s.json")
		var docs struct{ Docs []json.RawMessage }
		_ = json.Unmarshal(raw, &docs)
		lo, hi := min(skip, len(docs.Docs)), min(skip+limit, len(docs.Docs))
		body, _ := json.Marshal(map[string]any{"total_rows": len(docs.Docs), "offset": skip, "docs": docs.Docs[lo:hi]})
		writeJSON(w, 200, body)
	}))
	defer ts.Close()
	c := newTestClient(t, ts.URL, secret.Credentials{})
	c.PageSize = 2
	docs, err := c.SchedulerDocs(context.Background())
	require.NoError(t, err)
	assert.Equal(t, []string{"/_scheduler/docs?limit=2&skip=0", "/_scheduler/docs?limit=2&skip=2", "/_scheduler/docs?limit=2&skip=4"}, requests)
	require.Len(t, docs.Docs, 5)
	states := map[string]string{}
	for _, d := range docs.Docs {
		states[d.DocID] = d.State
	}
	assert.Equal(t, map[string]string{"bad-filter": "error", "missing-source-db": "crashing", "one-shot": "completed", "registry-from-node1": "running", "wrong-password": "crashing"}, states)
	wp := docs.Docs[4]
	assert.Equal(t, "{replication_auth_error, {session_request_unauthorized,\"http://127.0.0.1:15984/_session\",\"mirror\"}}", wp.Info.Error.Line())
	assert.Contains(t, string(wp.Info.Error), "\n", "the raw Erlang term is kept")
	through, err := docs.Docs[3].Info.ThroughSeq.Number()
	require.NoError(t, err)
	assert.Equal(t, int64(52), through)
	assert.Nil(t, docs.Docs[3].Info.ChangesPending)
}

// serveFiles answers each path with a testdata file or a literal body.
func serveFiles(t *testing.T, routes map[string]func() (int, []byte)) *httptest.Server {
	t.Helper()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, ok := routes[r.Method+" "+r.URL.Path]
		if !ok {
			writeJSON(w, 404, []byte(`{"error":"not_found","reason":"missing"}`))
			return
		}
		code, body := f()
		writeJSON(w, code, body)
	}))
	t.Cleanup(ts.Close)
	return ts
}

func file(t *testing.T, name string) func() (int, []byte) {
	return func() (int, []byte) { return 200, testdata(t, name) }
}

func literal(code int, body string) func() (int, []byte) {
	return func() (int, []byte) { return code, []byte(body) }
}

func TestEndpoints3x(t *testing.T) {
	ts := serveFiles(t, map[string]func() (int, []byte){
		"GET /":                                file(t, "node1.root.json"),
		"GET /_up":                             file(t, "node1.up.json"),
		"GET /registry":                        file(t, "node1.db-info.registry.json"),
		"GET /registry/_design/search/_info":   file(t, "node1.view-info.registry-search.building.json"),
		"GET /_active_tasks":                   file(t, "node1.active-tasks.compaction-and-indexing.json"),
		"GET /_node/_local/_system":            file(t, "node1.system.json"),
		"GET /_dbs_info":                       file(t, "node1.dbs-info.json"),
		"POST /_dbs_info":                      file(t, "node1.dbs-info.json"),
		"GET /_replicator/one-shot":            file(t, "node2.replicator-doc.one-shot.more-docs-75s.json"),
		"GET /_replicator/registry-from-node1": file(t, "node3.replicator-doc.registry-from-node1.running.json"),
	})
	c := newTestClient(t, ts.URL, secret.Credentials{User: "admin", Password: testPassword})
	ctx := context.Background()

	root, err := c.Root(ctx)
	require.NoError(t, err)
	assert.Equal(t, "3.4.3", root.Version)
	assert.Equal(t, "The Apache Software Foundation", root.Vendor.Name)

	up, err := c.Up(ctx)
	require.NoError(t, err)
	assert.Equal(t, "ok", up.Status)

	db, err := c.DBInfo(ctx, "registry")
	require.NoError(t, err)
	assert.Equal(t, int64(70052), db.FileSize())
	assert.Equal(t, int64(25127), db.ActiveSize())
	assert.Equal(t, &Cluster{Q: 2, N: 1, W: 1, R: 1}, db.Cluster)
	n, err := db.UpdateSeq.Number()
	require.NoError(t, err)
	assert.Equal(t, int64(52), n)

	vi, err := c.ViewInfo(ctx, "registry", "_design/search")
	require.NoError(t, err)
	assert.True(t, vi.ViewIndex.UpdaterRunning)
	assert.Equal(t, 2, vi.ViewIndex.WaitingClients)
	assert.Equal(t, &UpdatesPending{Minimum: 11568, Preferred: 11568, Total: 11568}, vi.ViewIndex.UpdatesPending)
	vseq, err := vi.ViewIndex.UpdateSeq.Number()
	require.NoError(t, err)
	assert.Equal(t, int64(8485), vseq)

	tasks, err := c.ActiveTasks(ctx)
	require.NoError(t, err)
	types := map[string]int{}
	for _, task := range tasks {
		types[task.Type]++
	}
	assert.Positive(t, types["database_compaction"])
	assert.Positive(t, types["indexer"])

	sys, err := c.System(ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(4), sys.MessageQueues["couch_file"].Count)
	assert.Equal(t, MessageQueue{Count: 1}, sys.MessageQueues["couch_server"])

	all, err := c.AllDBsInfo(ctx)
	require.NoError(t, err)
	require.Len(t, all, 3)
	assert.Equal(t, "registry", all[2].Info.DBName)

	rows, err := c.DBsInfo(ctx, []string{"_replicator", "_users", "registry"})
	require.NoError(t, err)
	assert.Len(t, rows, 3)

	doc, err := c.ReplicatorDoc(ctx, "_replicator", "one-shot")
	require.NoError(t, err)
	assert.Equal(t, "completed", doc.ReplicationState)
	assert.Equal(t, "http://127.0.0.1:15984/registry", doc.Source.URL)
	assert.Equal(t, "admin", doc.Source.User)
	require.NotNil(t, doc.ReplicationStats)
	assert.Equal(t, int64(51), doc.ReplicationStats.DocsWritten)

	doc, err = c.ReplicatorDoc(ctx, "_replicator", "registry-from-node1")
	require.NoError(t, err)
	assert.Equal(t, Endpoint{URL: "http://127.0.0.1:15984/registry", User: "admin"}, doc.Source)
	out, _ := json.Marshal(doc)
	assert.NotContains(t, string(out), `"secret"`)
	assert.NotContains(t, fmt.Sprintf("%+v", doc), "secret")
}

func TestUpMaintenanceMode(t *testing.T) {
	ts := serveFiles(t, map[string]func() (int, []byte){
		"GET /_up": func() (int, []byte) { return 404, testdata(t, "node3.up.maintenance-mode.json") },
	})
	c := newTestClient(t, ts.URL, secret.Credentials{})
	up, err := c.Up(context.Background())
	require.NoError(t, err)
	assert.Equal(t, "maintenance_mode", up.Status)

	// 1.x: no /_up at all.
	old := serveFiles(t, map[string]func() (int, []byte){})
	_, err = newTestClient(t, old.URL, secret.Credentials{}).Up(context.Background())
	p := problemOf(t, err)
	assert.Equal(t, nagios.UNKNOWN, p.Status)
	assert.Equal(t, "GET "+old.URL+"/_up: not found: 404 Not Found (CouchDB before 2.0 has no /_up)", p.Msg)
}

// The answers of CouchDB 1.x (1.6/1.7), written by hand after its
// documentation: no sizes object but disk_size/data_size, integer
// update_seq and purge_seq, instance_start_time in microseconds, no
// /_dbs_info, and _replicator docs that carry the live state
// (_replication_state triggered/error/completed, _replication_id,
// _replication_state_time).
const (
	db1x = `{"db_name":"registry","doc_count":51,"doc_del_count":0,"update_seq":1234,
		"purge_seq":0,"compact_running":false,"disk_size":8282214,"data_size":1795438,
		"instance_start_time":"1433167045612930","disk_format_version":6,"committed_update_seq":1234}`
	root1x = `{"couchdb":"Welcome","uuid":"85fb71bf700c17267fef77535820e371",
		"version":"1.6.1","vendor":{"name":"The Apache Software Foundation","version":"1.6.1"}}`
	replicatorDoc1x = `{"_id":"registry-from-primary","_rev":"4-b8e5bc8b2b6b5e6c1c0e0d5d3f1e2a9c",
		"source":"http://admin:` + testPassword + `@db1:5984/registry","target":"registry",
		"continuous":true,"user_ctx":{"name":"admin","roles":["_admin"]},
		"_replication_state":"triggered","_replication_state_time":"2015-06-01T12:00:00+02:00",
		"_replication_id":"c0ebe9256695ff083347cbf95f93e280"}`
	replicatorDoc1xError = `{"_id":"bad","_rev":"3-aaa","source":"http://db9:5984/x","target":"x",
		"_replication_state":"error","_replication_state_time":1433167045,
		"_replication_state_reason":"{db_not_found,<<\"could not open http://db9:5984/x/\">>}"}`
	activeTasks1x = `[{"pid":"<0.1292.0>","checkpointed_source_seq":68585,"continuous":true,
		"doc_id":"registry-from-primary","doc_write_failures":0,"docs_read":4524,"docs_written":4524,
		"missing_revisions_found":4524,"progress":44,"replication_id":"c0ebe9256695ff083347cbf95f93e280+continuous",
		"revisions_checked":4524,"source":"http://admin:*****@db1:5984/registry","source_seq":154419,
		"started_on":1376116644,"target":"registry","type":"replication","updated_on":1376116651}]`
	viewInfo1x = `{"name":"app","view_index":{"signature":"a1b2","language":"javascript","disk_size":4208,
		"data_size":1234,"update_seq":1234,"purge_seq":0,"updater_running":false,"compact_running":false,
		"waiting_commit":false,"waiting_clients":0}}`
)

func TestCouchDB1xShapes(t *testing.T) {
	ts := serveFiles(t, map[string]func() (int, []byte){
		"GET /":                           literal(200, root1x),
		"GET /registry":                   literal(200, db1x),
		"GET /_all_dbs":                   literal(200, `["_replicator","_users","registry"]`),
		"GET /_users":                     literal(200, `{"db_name":"_users","doc_count":1,"update_seq":3,"disk_size":100,"data_size":50}`),
		"GET /_replicator":                literal(200, `{"db_name":"_replicator","doc_count":2,"update_seq":9,"disk_size":200,"data_size":80}`),
		"GET /_active_tasks":              literal(200, activeTasks1x),
		"GET /registry/_design/app/_info": literal(200, viewInfo1x),
		"GET /_replicator/_all_docs": literal(200, `{"total_rows":3,"offset":0,"rows":[
			{"id":"_design/_replicator","key":"_design/_replicator","value":{"rev":"1-x"},"doc":{"_id":"_design/_replicator","_rev":"1-x","language":"javascript"}},
			{"id":"bad","key":"bad","value":{"rev":"3-aaa"},"doc":`+replicatorDoc1xError+`},
			{"id":"registry-from-primary","key":"registry-from-primary","value":{"rev":"4-b"},"doc":`+replicatorDoc1x+`}]}`),
		// 1.x takes /_dbs_info for a database name and refuses it.
		"GET /_dbs_info":  literal(400, `{"error":"illegal_database_name","reason":"Name: '_dbs_info'. Only lowercase characters (a-z), digits (0-9), and any of the characters _, $, (, ), +, -, and / are allowed. Must begin with a letter."}`),
		"POST /_dbs_info": literal(405, `{"error":"method_not_allowed","reason":"Only GET,HEAD,PUT,DELETE allowed"}`),
	})
	c := newTestClient(t, ts.URL, secret.Credentials{User: "admin", Password: testPassword})
	ctx := context.Background()

	root, err := c.Root(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, root.Major())
	assert.Equal(t, "1.6.1", root.Vendor.Version)

	db, err := c.DBInfo(ctx, "registry")
	require.NoError(t, err)
	assert.Nil(t, db.Sizes)
	assert.Equal(t, int64(8282214), db.FileSize())
	assert.Equal(t, int64(1795438), db.ActiveSize())
	n, err := db.UpdateSeq.Number()
	require.NoError(t, err)
	assert.Equal(t, int64(1234), n)

	all, err := c.AllDBsInfo(ctx)
	require.NoError(t, err, "falls back to _all_dbs + GET /{db}")
	require.Len(t, all, 3)
	assert.Equal(t, int64(100), all[1].Info.FileSize())

	rows, err := c.DBsInfo(ctx, []string{"registry", "gone"})
	require.NoError(t, err)
	assert.Equal(t, "registry", rows[0].Info.DBName)
	assert.Equal(t, DBsInfoRow{Key: "gone", Error: "not_found"}, rows[1])

	tasks, err := c.ActiveTasks(ctx)
	require.NoError(t, err)
	require.Len(t, tasks, 1)
	src, err := tasks[0].SourceSeq.Number()
	require.NoError(t, err)
	assert.Equal(t, int64(154419), src)
	assert.Equal(t, int64(1376116644), tasks[0].StartedOn.Unix())

	vi, err := c.ViewInfo(ctx, "registry", "app")
	require.NoError(t, err)
	assert.Nil(t, vi.ViewIndex.UpdatesPending)
	assert.Equal(t, int64(4208), vi.ViewIndex.DiskSize)

	docs, err := c.ReplicatorDocs(ctx, "_replicator")
	require.NoError(t, err)
	require.Len(t, docs, 2, "design docs left out")
	assert.Equal(t, "error", docs[0].ReplicationState)
	assert.Equal(t, int64(1433167045), docs[0].ReplicationStateTime.Unix())
	assert.Equal(t, `{db_not_found,<<"could not open http://db9:5984/x/">>}`, docs[0].ReplicationStateReason.Line())
	assert.Equal(t, "triggered", docs[1].ReplicationState)
	assert.Equal(t, "c0ebe9256695ff083347cbf95f93e280", docs[1].ReplicationID)
	assert.Equal(t, Endpoint{URL: "http://db1:5984/registry", User: "admin"}, docs[1].Source)
	assert.Equal(t, Endpoint{URL: "registry"}, docs[1].Target)
	assert.Equal(t, 2015, docs[1].ReplicationStateTime.Year())
	out, _ := json.Marshal(docs)
	assert.NotContains(t, string(out), testPassword)
}

func TestWrongPasswordNamesUserNotPassword(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, ok := r.BasicAuth()
		if !ok || user != "admin" || pass != "the-right-one" {
			writeJSON(w, 401, []byte(`{"error":"unauthorized","reason":"Name or password is incorrect."}`))
			return
		}
		writeJSON(w, 200, []byte(`{}`))
	}))
	defer ts.Close()
	c := newTestClient(t, ts.URL, secret.Credentials{User: "admin", Password: testPassword})
	ctx := context.Background()

	calls := map[string]func() error{
		"httpclient (/_scheduler/jobs)": func() error { _, err := c.SchedulerJobs(ctx); return err },
		"httpclient (/)":                func() error { _, err := c.Root(ctx); return err },
		"kivik (db info)":               func() error { _, err := c.DBInfo(ctx, "registry"); return err },
		"kivik (doc)":                   func() error { return c.Doc(ctx, "_replicator", "x", &map[string]any{}) },
		"kivik (all dbs)":               func() error { _, err := c.AllDBs(ctx); return err },
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			p := problemOf(t, call())
			assert.Equal(t, nagios.UNKNOWN, p.Status)
			assert.Contains(t, p.Msg, "authentication failed for user admin")
			assert.Contains(t, p.Msg, ts.URL+"/")
			assert.Contains(t, p.Msg, "Name or password is incorrect.")
			assert.NotContains(t, p.Msg, testPassword)
			assert.NotContains(t, fmt.Sprintf("%v %+v", p, p.Err), testPassword)
			var se *httpclient.StatusError
			require.True(t, errors.As(p, &se))
			assert.Equal(t, 401, se.Code)
		})
	}
}

func TestKivikTransportErrorsAreProblems(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	url := ts.URL
	ts.Close() // now refused
	c := newTestClient(t, url, secret.Credentials{User: "admin", Password: testPassword})
	p := problemOf(t, func() error { _, err := c.DBInfo(context.Background(), "registry"); return err }())
	assert.Equal(t, nagios.CRITICAL, p.Status)
	assert.Equal(t, "GET "+url+"/registry: connection refused", p.Msg)

	five := serveFiles(t, map[string]func() (int, []byte){
		"GET /registry": literal(503, `{"error":"service_unavailable","reason":"maintenance"}`),
	})
	c = newTestClient(t, five.URL, secret.Credentials{})
	_, err := c.DBInfo(context.Background(), "registry")
	p = problemOf(t, err)
	assert.Equal(t, nagios.CRITICAL, p.Status)
	assert.Equal(t, "GET "+five.URL+"/registry: server error 503 Service Unavailable (service_unavailable: maintenance)", p.Msg)
	_, err = c.DBInfo(context.Background(), "nosuchdb")
	p = problemOf(t, err)
	assert.Equal(t, nagios.UNKNOWN, p.Status)
	assert.Equal(t, "GET "+five.URL+"/nosuchdb: not found: 404 Not Found (not_found: missing)", p.Msg)
}

func TestResolve(t *testing.T) {
	dir := t.TempDir()
	credFile := filepath.Join(dir, "creds")
	require.NoError(t, os.WriteFile(credFile, []byte("monitor:from-file-pw\n"), 0o600))
	env := func(m map[string]string) func(string) (string, bool) {
		return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
	}
	full := map[string]string{EnvUser: "envuser", EnvPassword: "env-pw"}
	tests := []struct {
		name      string
		opts      Options
		env       map[string]string
		wantBase  string
		wantCreds secret.Credentials
		wantErr   string
	}{
		{"default", Options{}, nil, DefaultURL, secret.Credentials{}, ""},
		{"env only", Options{URL: "http://db2:5984/"}, full, "http://db2:5984", secret.Credentials{User: "envuser", Password: "env-pw"}, ""},
		{"URL beats env", Options{URL: "http://admin:url-pw@db2:5984"}, full, "http://db2:5984", secret.Credentials{User: "admin", Password: "url-pw"}, ""},
		{"file beats URL and env", Options{URL: "http://admin:url-pw@db2:5984", CredentialsFile: credFile}, full, "http://db2:5984", secret.Credentials{User: "monitor", Password: "from-file-pw"}, ""},
		{"URL user, env password", Options{URL: "https://admin@db2:6984"}, map[string]string{EnvPassword: "env-pw"}, "https://db2:6984", secret.Credentials{User: "admin", Password: "env-pw"}, ""},
		{"no scheme", Options{URL: "db2:5984"}, nil, "http://db2:5984", secret.Credentials{}, ""},
		{"bad scheme", Options{URL: "ftp://admin:url-pw@db2"}, nil, "", secret.Credentials{}, "--url ftp://admin:xxxxx@db2: scheme must be http or https"},
		{"query", Options{URL: "http://db2:5984/?x=1"}, nil, "", secret.Credentials{}, "must not have a query"},
		{"bad file", Options{CredentialsFile: filepath.Join(dir, "none")}, nil, "", secret.Credentials{}, "credentials file " + filepath.Join(dir, "none")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base, creds, err := tt.opts.Resolve(env(tt.env))
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				assert.NotContains(t, err.Error(), "url-pw")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.wantBase, base)
			assert.Equal(t, tt.wantCreds, creds)
		})
	}
}

func TestConnectUsesURLCredentialsWithoutShowingThem(t *testing.T) {
	var gotUser, gotPass, gotUA string
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotUser, gotPass, _ = r.BasicAuth()
		gotUA = r.Header.Get("User-Agent")
		writeJSON(w, 200, []byte(`{"db_name":"registry","update_seq":"1-x","sizes":{"file":1,"external":1,"active":1}}`))
	}))
	defer ts.Close()
	hc, err := httpclient.New(httpclient.Options{}, httpclient.Config{UserAgent: "registry-checks/test"})
	require.NoError(t, err)
	u := "http://admin:" + testPassword + "@" + ts.Listener.Addr().String()
	c, err := Connect(Options{URL: u}, hc)
	require.NoError(t, err)
	defer c.Close()
	assert.Equal(t, ts.URL, c.URL())
	assert.Equal(t, "admin", c.User())
	assert.Equal(t, []string{testPassword}, c.Secrets())
	_, err = c.DBInfo(context.Background(), "registry")
	require.NoError(t, err)
	assert.Equal(t, "admin", gotUser)
	assert.Equal(t, testPassword, gotPass)
	assert.Equal(t, "registry-checks/test", gotUA, "kivik requests carry the suite's User-Agent")
}

func TestDBsInfoBatches(t *testing.T) {
	var (
		mu      sync.Mutex
		batches [][]string
	)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in struct{ Keys []string }
		require.NoError(t, json.NewDecoder(r.Body).Decode(&in))
		mu.Lock()
		batches = append(batches, in.Keys)
		mu.Unlock()
		var rows []DBsInfoRow
		for _, k := range in.Keys {
			rows = append(rows, DBsInfoRow{Key: k, Info: &DBInfo{DBName: k}})
		}
		body, _ := json.Marshal(rows)
		writeJSON(w, 200, body)
	}))
	defer ts.Close()
	c := newTestClient(t, ts.URL, secret.Credentials{})
	c.DBsInfoBatch = 2
	rows, err := c.DBsInfo(context.Background(), []string{"a", "b", "c", "d", "e"})
	require.NoError(t, err)
	// The batches after the first go concurrently: their order varies.
	slices.SortFunc(batches[1:], func(a, b []string) int { return strings.Compare(a[0], b[0]) })
	assert.Equal(t, [][]string{{"a", "b"}, {"c", "d"}, {"e"}}, batches)
	require.Len(t, rows, 5)
	assert.Equal(t, "e", rows[4].Info.DBName)
}

func TestLastSeq(t *testing.T) {
	tests := []struct {
		name, body string
		want       int64
	}{
		{"3.x", `{"results":[{"seq":"52-g1AAAA","id":"x","changes":[{"rev":"1-a"}]}],"last_seq":"52-g1AAAA","pending":51}`, 52},
		{"1.x", `{"results":[{"seq":1234,"id":"x","changes":[{"rev":"1-a"}]}],"last_seq":1234}`, 1234},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var query string
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				query = r.URL.RawQuery
				writeJSON(w, 200, []byte(tt.body))
			}))
			defer ts.Close()
			seq, err := newTestClient(t, ts.URL, secret.Credentials{}).LastSeq(context.Background(), "registry")
			require.NoError(t, err)
			n, err := seq.Number()
			require.NoError(t, err)
			assert.Equal(t, tt.want, n)
			assert.Contains(t, query, "descending=true")
			assert.Contains(t, query, "limit=1")
		})
	}
}

// A 200 whose JSON stops short is an answer the plugin cannot read
// (UNKNOWN, as GetJSON says it), not a server that hung up (CRITICAL):
// kivik's decode error carries no *url.Error, a dropped connection does.
func TestKivikTruncatedJSONIsUnknown(t *testing.T) {
	ts := serveFiles(t, map[string]func() (int, []byte){
		"GET /_all_dbs":     literal(200, `["_replicator", "regis`),
		"GET /registry":     literal(200, `{"db_name": "registry", "doc_count": `),
		"GET /registry/pkg": literal(200, `{"_id": "pkg", "_rev": "1-a", "name": `),
	})
	c := newTestClient(t, ts.URL, secret.Credentials{User: "admin", Password: testPassword})
	var doc map[string]any
	tests := []struct {
		name string
		call func() error
		msg  string
	}{
		{"all dbs", func() error { _, err := c.AllDBs(context.Background()); return err }, "GET " + ts.URL + "/_all_dbs: truncated or empty JSON answer"},
		{"db info", func() error { _, err := c.DBInfo(context.Background(), "registry"); return err }, "GET " + ts.URL + "/registry: truncated or empty JSON answer"},
		{"doc", func() error { return c.Doc(context.Background(), "registry", "pkg", &doc) }, "GET " + ts.URL + "/registry/pkg: truncated or empty JSON answer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := problemOf(t, tt.call())
			assert.Equal(t, nagios.UNKNOWN, p.Status)
			assert.Equal(t, tt.msg, p.Msg)
			assert.NotContains(t, p.Msg, testPassword)
		})
	}
}

// An HTML page (a proxy's error page, the wrong port) where CouchDB's
// JSON should be names what came back, without kivik's jargon.
func TestKivikNonJSONAnswerNamesContentType(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = w.Write([]byte("<html><title>Welcome to nginx!</title></html>"))
	}))
	t.Cleanup(ts.Close)
	c := newTestClient(t, ts.URL, secret.Credentials{})
	var doc map[string]any
	p := problemOf(t, c.Doc(context.Background(), "registry", "pkg", &doc))
	assert.Equal(t, nagios.UNKNOWN, p.Status)
	assert.Equal(t, "GET "+ts.URL+"/registry/pkg: the answer is text/html, not JSON (is the URL a CouchDB node?)", p.Msg)
}

// null and null elements in _all_dbs are wrong-shaped answers, not "no
// databases"; [] is an empty list.
func TestAllDBsShape(t *testing.T) {
	for body, want := range map[string]string{
		`null`:           "not the answer CouchDB gives: not a list of databases",
		`["a",null]`:     "not the answer CouchDB gives: database 1 has no name",
		`[]`:             "",
		`["_users","a"]`: "",
	} {
		ts := serveFiles(t, map[string]func() (int, []byte){"GET /_all_dbs": literal(200, body)})
		c := newTestClient(t, ts.URL, secret.Credentials{})
		dbs, err := c.AllDBs(context.Background())
		if want == "" {
			require.NoError(t, err, body)
			assert.NotNil(t, dbs, body)
			continue
		}
		p := problemOf(t, err)
		assert.Equal(t, nagios.UNKNOWN, p.Status, body)
		assert.Equal(t, "GET "+ts.URL+"/_all_dbs: "+want, p.Msg, body)
	}
}

// The reason a server gives with an error status is hostile text: through
// kivik as through httpclient it is redacted, sanitized and cut to
// httpclient.ReasonLimit (httpclient.ServerReason).
func TestServerReasonBoundedThroughKivikAndHTTPClient(t *testing.T) {
	reason := "bad\x1b[31m\u202edb " + strings.Repeat("r", 900)
	body, err := json.Marshal(map[string]string{"error": "internal_server_error", "reason": reason})
	require.NoError(t, err)
	ts := serveFiles(t, map[string]func() (int, []byte){
		"GET /_all_dbs":        literal(500, string(body)),
		"GET /_scheduler/jobs": literal(500, string(body)),
	})
	c := newTestClient(t, ts.URL, secret.Credentials{})
	_, err = c.AllDBs(context.Background())
	viaKivik := problemOf(t, err)
	_, err = c.SchedulerJobs(context.Background())
	viaHTTP := problemOf(t, err)

	// kivik keeps only the reason, httpclient "error: reason".
	for _, p := range []*nagios.Problem{viaKivik, viaHTTP} {
		var se *httpclient.StatusError
		require.True(t, errors.As(p, &se))
		assert.Equal(t, 500, se.Code)
		assert.LessOrEqual(t, len(se.Reason), httpclient.ReasonLimit)
		assert.True(t, strings.HasSuffix(se.Reason, "r..."), se.Reason)
		assert.Contains(t, se.Reason, "bad [31m db rrr")
		assert.NotContains(t, p.Msg, "\x1b")
		assert.NotContains(t, p.Msg, "\u202e")
	}
}
