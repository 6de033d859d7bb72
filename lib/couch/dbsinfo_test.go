package couch

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/registry-checks/registry-checks/lib/nagios"
	"github.com/registry-checks/registry-checks/lib/secret"
)

// oneByOneServer is a server without /_dbs_info (1.x, PouchDB): it answers
// 404 to POST /_dbs_info and serves GET /{db}. Each GET waits until
// `gather` requests are in flight (or a bound passes), so the test sees the
// largest number of requests the client runs at once.
type oneByOneServer struct {
	gather  int
	missing map[string]bool
	failing map[string]bool

	mu       sync.Mutex
	inFlight int
	maxSeen  int
	gets     int
}

func (s *oneByOneServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost {
		writeJSON(w, 404, []byte(`{"error":"not_found","reason":"Database does not exist."}`))
		return
	}
	db := strings.TrimPrefix(r.URL.Path, "/")
	s.mu.Lock()
	s.inFlight++
	s.gets++
	s.maxSeen = max(s.maxSeen, s.inFlight)
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.inFlight--
		s.mu.Unlock()
	}()
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); {
		s.mu.Lock()
		enough := s.maxSeen >= s.gather
		s.mu.Unlock()
		if enough || r.Context().Err() != nil {
			break
		}
		time.Sleep(time.Millisecond) // polling the condition, bounded above
	}
	switch {
	case s.missing[db]:
		writeJSON(w, 404, []byte(`{"error":"not_found","reason":"no_db_file"}`))
	case s.failing[db]:
		writeJSON(w, 500, []byte(`{"error":"unknown_error","reason":"eacces"}`))
	default:
		body, _ := json.Marshal(map[string]any{"db_name": db, "update_seq": 7, "disk_size": 4096, "data_size": 1024})
		writeJSON(w, 200, body)
	}
}

func TestDBsInfoFallbackIsConcurrentBoundedAndOrdered(t *testing.T) {
	names := make([]string, 40)
	for i := range names {
		names[i] = "db" + string(rune('a'+i%26)) + strings.Repeat("x", i/26)
	}
	for _, conc := range []int{1, 3, 8} {
		srv := &oneByOneServer{gather: conc, missing: map[string]bool{names[5]: true}}
		ts := httptest.NewServer(srv)
		c := newTestClient(t, ts.URL, secret.Credentials{})
		c.DBInfoConcurrency = conc
		rows, err := c.DBsInfo(context.Background(), names)
		ts.Close()
		require.NoError(t, err)
		require.Len(t, rows, len(names))
		for i, r := range rows {
			assert.Equal(t, names[i], r.Key, "row %d keeps the order asked for", i)
			if i == 5 {
				assert.Equal(t, "not_found", r.Error)
				assert.Nil(t, r.Info)
				continue
			}
			require.NotNil(t, r.Info, names[i])
			assert.Equal(t, int64(4096), r.Info.FileSize())
			assert.Equal(t, int64(1024), r.Info.ActiveSize())
		}
		assert.Equal(t, conc, srv.maxSeen, "at most and at least DBInfoConcurrency GETs in flight")
		assert.Equal(t, len(names), srv.gets)
	}
}

func TestDBsInfoFallbackStopsAtFirstFailure(t *testing.T) {
	names := []string{"a", "b", "c", "d", "e", "f"}
	srv := &oneByOneServer{gather: 1, failing: map[string]bool{"c": true}}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	c := newTestClient(t, ts.URL, secret.Credentials{})
	c.DBInfoConcurrency = 1
	_, err := c.DBsInfo(context.Background(), names)
	p := problemOf(t, err)
	assert.Equal(t, nagios.CRITICAL, p.Status)
	assert.Contains(t, p.Msg, "/c")
	assert.Contains(t, p.Msg, "500")
	assert.LessOrEqual(t, srv.gets, 3, "no request after the failure with one worker")
}

func TestViewInfoShapes(t *testing.T) {
	tests := []struct {
		name        string
		body        string
		unsupported string
		updateSeq   int64
		problem     nagios.Status
	}{
		{"3.x", string(testdata(t, "node1.view-info.registry-search.building.json")), "", 8485, nagios.OK},
		{"1.x", `{"name":"app","view_index":{"signature":"x","language":"javascript","disk_size":8290,"data_size":1024,"updater_running":false,"compact_running":false,"waiting_commit":false,"waiting_clients":0,"update_seq":51,"purge_seq":0}}`, "", 51, nagios.OK},
		{"pouchdb-server", `{"view_index":"Not implemented."}`, "Not implemented.", 0, nagios.OK},
		{"no view_index", `{"name":"app"}`, "", 0, nagios.UNKNOWN},
		{"null view_index", `{"name":"app","view_index":null}`, "", 0, nagios.UNKNOWN},
		{"view_index of null fields", `{"name":"app","view_index":{"signature":null,"update_seq":null}}`, "", 0, nagios.UNKNOWN},
		{"view_index of the wrong shape", `{"name":"app","view_index":[1,2]}`, "", 0, nagios.UNKNOWN},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				assert.Equal(t, "/registry/_design/app/_info", r.URL.Path)
				writeJSON(w, 200, []byte(tt.body))
			}))
			defer ts.Close()
			c := newTestClient(t, ts.URL, secret.Credentials{})
			vi, err := c.ViewInfo(context.Background(), "registry", "_design/app")
			if tt.problem != nagios.OK {
				p := problemOf(t, err)
				assert.Equal(t, tt.problem, p.Status)
				assert.Contains(t, p.Msg, "/registry/_design/app/_info")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.unsupported, vi.Unsupported)
			if tt.unsupported == "" {
				n, err := vi.ViewIndex.UpdateSeq.Number()
				require.NoError(t, err)
				assert.Equal(t, tt.updateSeq, n)
			}
		})
	}
}

func TestLacksDBsInfo(t *testing.T) {
	tests := []struct {
		name       string
		server, by string
		lacks      bool
	}{
		{"CouchDB 1.6", "CouchDB/1.6.1 (Erlang OTP/R16B03)", "", true},
		{"CouchDB 1.2 development build", "CouchDB/1.2.0a-fec96b1-git (Erlang OTP/R15B)", "", true},
		{"CouchDB 2.0", "CouchDB/2.0.0 (Erlang OTP/17)", "", true},
		{"CouchDB 2.1", "CouchDB/2.1.2 (Erlang OTP/19)", "", true},
		{"CouchDB 2.2", "CouchDB/2.2.0 (Erlang OTP/19)", "", false},
		{"CouchDB 3.4", "CouchDB/3.4.3 (Erlang OTP/26)", "", false},
		{"CouchDB 10", "CouchDB/10.0.0", "", false},
		{"CouchDB behind an Express proxy", "CouchDB/3.4.3 (Erlang OTP/26)", "Express", false},
		{"unreadable version", "CouchDB/unknown", "", false},
		{"pouchdb-server", "", "Express", true},
		{"pouchdb-server behind nginx: probed", "nginx/1.24.0", "Express", false},
		{"CouchDB behind nginx: probed", "nginx/1.24.0", "", false},
		{"nothing said", "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			if tt.server != "" {
				h.Set("Server", tt.server)
			}
			if tt.by != "" {
				h.Set("X-Powered-By", tt.by)
			}
			assert.Equal(t, tt.lacks, lacksDBsInfo(h))
		})
	}
}

// After AllDBs, DBsInfo does not POST /_dbs_info to a server whose
// answer said it has none, and still does to every other.
func TestDBsInfoSkipsTheProbeWhenTheServerSaidItLacksIt(t *testing.T) {
	tests := []struct {
		name   string
		header map[string]string
		lacks  bool // the server answers POST /_dbs_info 404
		posts  int
	}{
		{"pouchdb-server", map[string]string{"X-Powered-By": "Express"}, true, 0},
		{"CouchDB 1.6", map[string]string{"Server": "CouchDB/1.6.1 (Erlang OTP/R16B03)"}, true, 0},
		{"CouchDB 2.1", map[string]string{"Server": "CouchDB/2.1.2 (Erlang OTP/19)"}, true, 0},
		{"CouchDB 3.4", map[string]string{"Server": "CouchDB/3.4.3 (Erlang OTP/26)"}, false, 1},
		{"an old server behind a proxy: probed", map[string]string{"Server": "nginx"}, true, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mu sync.Mutex
			var requests []string
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				requests = append(requests, r.Method+" "+r.URL.Path)
				mu.Unlock()
				for k, v := range tt.header {
					w.Header().Set(k, v)
				}
				switch {
				case r.URL.Path == "/_all_dbs":
					writeJSON(w, 200, []byte(`["a","b"]`))
				case r.Method == http.MethodPost && tt.lacks:
					writeJSON(w, 404, []byte(`{"error":"not_found","reason":"missing"}`))
				case r.Method == http.MethodPost:
					writeJSON(w, 200, []byte(`[{"key":"a","info":{"db_name":"a","sizes":{"file":10,"active":5}}},{"key":"b","info":{"db_name":"b","sizes":{"file":20,"active":5}}}]`))
				default:
					db := strings.TrimPrefix(r.URL.Path, "/")
					writeJSON(w, 200, []byte(`{"db_name":"`+db+`","sizes":{"file":`+map[string]string{"a": "10", "b": "20"}[db]+`,"active":5}}`))
				}
			}))
			defer ts.Close()
			c := newTestClient(t, ts.URL, secret.Credentials{})
			dbs, err := c.AllDBs(context.Background())
			require.NoError(t, err)
			rows, err := c.DBsInfo(context.Background(), dbs)
			require.NoError(t, err)
			require.Len(t, rows, 2)
			assert.Equal(t, int64(10), rows[0].Info.FileSize())
			assert.Equal(t, int64(20), rows[1].Info.FileSize())
			posts := 0
			for _, r := range requests {
				if r == "POST /_dbs_info" {
					posts++
				}
			}
			assert.Equal(t, tt.posts, posts, "%v", requests)
		})
	}
}

// batchServer answers POST /_dbs_info (2.2+). Every batch after the first
// waits until `gather` batches are in flight (or a bound passes), so the
// test sees the largest number the client sends at once; it also records
// how many were in flight while the first one was being answered.
type batchServer struct {
	gather  int
	failKey string // a batch holding this database gets a 500

	mu            sync.Mutex
	inFlight      int
	maxSeen       int
	posts         int
	withFirstSeen int
}

func (s *batchServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Keys []string `json:"keys"`
	}
	if r.Method != http.MethodPost || json.NewDecoder(r.Body).Decode(&req) != nil {
		writeJSON(w, 400, []byte(`{"error":"bad_request"}`))
		return
	}
	s.mu.Lock()
	s.posts++
	first := s.posts == 1
	s.inFlight++
	s.maxSeen = max(s.maxSeen, s.inFlight)
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.inFlight--
		s.mu.Unlock()
	}()
	if first {
		// Give a client that does not wait for the first answer the
		// time to send another batch before this one is answered.
		for deadline := time.Now().Add(200 * time.Millisecond); time.Now().Before(deadline); {
			time.Sleep(time.Millisecond) // bounded; only a wrong client is seen here
		}
		s.mu.Lock()
		s.withFirstSeen = s.maxSeen
		s.mu.Unlock()
	} else {
		for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); {
			s.mu.Lock()
			enough := s.maxSeen >= s.gather
			s.mu.Unlock()
			if enough || r.Context().Err() != nil {
				break
			}
			time.Sleep(time.Millisecond) // polling the condition, bounded above
		}
	}
	rows := make([]map[string]any, len(req.Keys))
	for i, k := range req.Keys {
		if k == s.failKey {
			writeJSON(w, 500, []byte(`{"error":"unknown_error","reason":"eacces"}`))
			return
		}
		rows[i] = map[string]any{"key": k, "info": map[string]any{"db_name": k, "update_seq": 7, "sizes": map[string]any{"file": 4096, "active": 1024}}}
	}
	body, _ := json.Marshal(rows)
	writeJSON(w, 200, body)
}

// Over a WAN, one batch after another is one round trip per 100
// databases: the first batch goes alone (it finds out whether the server
// has _dbs_info), the others DBInfoConcurrency at a time, in order.
func TestDBsInfoBatchesAfterTheFirstAreConcurrentBoundedAndOrdered(t *testing.T) {
	names := make([]string, 95)
	for i := range names {
		names[i] = "db" + strings.Repeat("x", i)
	}
	for _, conc := range []int{1, 3, 8} {
		srv := &batchServer{gather: conc}
		ts := httptest.NewServer(srv)
		c := newTestClient(t, ts.URL, secret.Credentials{})
		c.DBsInfoBatch, c.DBInfoConcurrency = 10, conc
		rows, err := c.DBsInfo(context.Background(), names)
		ts.Close()
		require.NoError(t, err)
		require.Len(t, rows, len(names))
		for i, r := range rows {
			assert.Equal(t, names[i], r.Key, "row %d keeps the order asked for", i)
			require.NotNil(t, r.Info, names[i])
		}
		assert.Equal(t, 10, srv.posts, "95 databases in batches of 10")
		assert.Equal(t, 1, srv.withFirstSeen, "the first batch is answered before another is sent")
		assert.Equal(t, conc, srv.maxSeen, "at most and at least DBInfoConcurrency batches in flight")
	}
}

func TestDBsInfoReportsAFailedLaterBatch(t *testing.T) {
	names := make([]string, 30)
	for i := range names {
		names[i] = "db" + strings.Repeat("x", i)
	}
	srv := &batchServer{gather: 1, failKey: names[25]}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	c := newTestClient(t, ts.URL, secret.Credentials{})
	c.DBsInfoBatch, c.DBInfoConcurrency = 10, 2
	rows, err := c.DBsInfo(context.Background(), names)
	assert.Nil(t, rows)
	p := problemOf(t, err)
	assert.Contains(t, p.Msg, "/_dbs_info")
	assert.Contains(t, p.Msg, "500")
}
