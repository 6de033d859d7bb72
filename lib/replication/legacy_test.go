package replication

import (
	"context"
	"encoding/json"
	"fmt"
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
	"github.com/registry-checks/registry-checks/test/barrier"
)

const (
	root1x    = `{"couchdb":"Welcome","uuid":"85fb71bf700c17267fef77535820e371","version":"1.6.1","vendor":{"name":"The Apache Software Foundation","version":"1.6.1"}}`
	rootPouch = `{"express-pouchdb":"Welcome!","version":"4.2.0","pouchdb-adapters":["leveldb"],"vendor":{"name":"PouchDB authors","version":"4.2.0"},"uuid":"605dd641"}`
	// What 1.x and PouchDB Server answer for /_scheduler/docs.
	noScheduler1x    = `{"error":"illegal_database_name","reason":"Name: '_scheduler'. Only lowercase characters (a-z), digits (0-9), and any of the characters _, $, (, ), +, -, and / are allowed. Must begin with a letter."}`
	noSchedulerPouch = `{"error":"not_found","reason":"no_db_file"}`
)

// legacyServer answers like a node without _scheduler.
type legacyServer struct {
	mu     sync.Mutex
	root   string
	noSch  int
	noBody string
	docs   []string // _replicator docs (JSON)
	tasks  string
	store  map[string]json.RawMessage // path -> doc, for heartbeats
}

func (l *legacyServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	switch p := r.URL.Path; {
	case p == "/":
		w.Write([]byte(l.root))
	case strings.HasPrefix(p, "/_scheduler/"):
		w.WriteHeader(l.noSch)
		w.Write([]byte(l.noBody))
	case p == "/_replicator/_all_docs":
		var rows []string
		for _, d := range l.docs {
			var head struct {
				ID string `json:"_id"`
			}
			_ = json.Unmarshal([]byte(d), &head)
			rows = append(rows, fmt.Sprintf(`{"id":%q,"key":%q,"value":{"rev":"1-a"},"doc":%s}`, head.ID, head.ID, d))
		}
		fmt.Fprintf(w, `{"total_rows":%d,"offset":0,"rows":[%s]}`, len(rows), strings.Join(rows, ","))
	case p == "/_active_tasks":
		w.Write([]byte(l.tasks))
	default:
		l.mu.Lock()
		defer l.mu.Unlock()
		if doc, ok := l.store[p]; ok && r.Method == http.MethodGet {
			w.Write(doc)
			return
		}
		w.WriteHeader(404)
		w.Write([]byte(`{"error":"not_found","reason":"missing"}`))
	}
}

func serveLegacy(t *testing.T, l *legacyServer) string {
	ts := httptest.NewServer(l)
	t.Cleanup(ts.Close)
	return ts.URL
}

func TestLegacyMapping(t *testing.T) {
	const (
		triggered = `{"_id":"registry-from-primary","_rev":"4-b","source":"http://admin:s3cret-pw@db1:5984/registry","target":"registry","continuous":true,"_replication_state":"triggered","_replication_state_time":"2015-06-01T12:00:00+02:00","_replication_id":"c0ebe9256695ff083347cbf95f93e280"}`
		errDoc    = `{"_id":"bad","_rev":"3-aaa","source":"http://db9:5984/x","target":"x","_replication_state":"error","_replication_state_time":1433167045,"_replication_state_reason":"{db_not_found,<<\"could not open http://db9:5984/x/\">>}"}`
		downDoc   = `{"_id":"down","_rev":"3-aaa","source":"http://db9:5984/y","target":"y","continuous":true,"_replication_state":"error","_replication_state_reason":"{checkpoint_commit_failure,{conn_failed,{error,econnrefused}}}"}`
		oneShot   = `{"_id":"once","_rev":"2-a","source":"http://db1:5984/registry","target":"copy","_replication_state":"completed","_replication_state_time":"2015-06-01T12:00:00Z"}`
		stopped   = `{"_id":"stopped","_rev":"2-a","source":"http://db1:5984/registry","target":"copy2","continuous":true,"_replication_state":"completed"}`
		fresh     = `{"_id":"fresh","_rev":"1-a","source":"http://db1:5984/registry","target":"copy3","continuous":true}`
		task      = `{"pid":"<0.1292.0>","checkpointed_source_seq":68585,"continuous":true,"doc_id":"registry-from-primary","doc_write_failures":1,"docs_read":4524,"docs_written":4524,"replication_id":"c0ebe9256695ff083347cbf95f93e280+continuous","source":"http://admin:*****@db1:5984/registry","source_seq":154419,"started_on":1376116644,"target":"registry","type":"replication","updated_on":1376116651}`
		transient = `{"pid":"<0.99.0>","checkpointed_source_seq":5,"continuous":true,"docs_written":5,"replication_id":"aaaa+continuous","source":"http://db1:5984/registry","target":"transient-copy","type":"replication","started_on":1376116644,"updated_on":1376116651}`
		indexer   = `{"type":"indexer","database":"registry","design_document":"_design/app","progress":50}`
	)
	type want struct {
		state      string
		status     nagios.Status
		reason     string
		sourceDown bool
	}
	tests := []struct {
		name  string
		root  string
		docs  []string
		tasks string
		want  map[string]want
	}{
		{"1.x triggered with its task runs", root1x, []string{triggered}, "[" + task + "," + indexer + "]",
			map[string]want{"_replicator/registry-from-primary": {Running, nagios.OK, "", false}}},
		{"1.x triggered without a task", root1x, []string{triggered}, "[]",
			map[string]want{"_replicator/registry-from-primary": {Triggered, nagios.WARNING, "triggered, but no replication task runs for it", false}}},
		{"1.x error states", root1x, []string{errDoc, downDoc}, "[]", map[string]want{
			"_replicator/bad":  {Error, nagios.CRITICAL, "source database missing", false},
			"_replicator/down": {Error, nagios.CRITICAL, "source unreachable (connection refused)", true},
		}},
		{"1.x completed: one-shot OK, continuous CRITICAL", root1x, []string{oneShot, stopped}, "[]", map[string]want{
			"_replicator/once":    {Completed, nagios.OK, "", false},
			"_replicator/stopped": {Completed, nagios.CRITICAL, "completed, but should be continuous: restart needed", false},
		}},
		{"1.x not yet picked up", root1x, []string{fresh}, "[]", map[string]want{
			"_replicator/fresh": {Initializing, nagios.OK, "", false},
		}},
		{"1.x transient task", root1x, nil, "[" + transient + "]", map[string]want{
			"transient:aaaa+continuous": {Running, nagios.OK, "", false},
		}},
		// PouchDB Server lists no tasks at all: triggered is all it says.
		{"PouchDB triggered", rootPouch, []string{triggered}, "[]",
			map[string]want{"_replicator/registry-from-primary": {Triggered, nagios.OK, "", false}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := &legacyServer{root: tt.root, noSch: 400, noBody: noScheduler1x, docs: tt.docs, tasks: tt.tasks}
			if tt.root == rootPouch {
				l.noSch, l.noBody = 404, noSchedulerPouch
			}
			c, _ := testClient(t, serveLegacy(t, l))
			rep, err := Assess(context.Background(), c, Selection{}, Thresholds{}, time.Now())
			require.NoError(t, err)
			assert.False(t, rep.Scheduler)
			got := byKey(rep)
			require.Len(t, got, len(tt.want))
			for key, w := range tt.want {
				r, ok := got[key]
				require.True(t, ok, "%s not in %v", key, got)
				assert.Equal(t, w.state, r.State, key)
				assert.Equal(t, w.status, r.Status, "%s: %s", key, r.Reason)
				if w.reason == "" {
					assert.Empty(t, r.Reason, key)
				} else {
					assert.Contains(t, r.Reason, w.reason, key)
				}
				assert.Equal(t, w.sourceDown, r.SourceDown, key)
			}
			out, _ := json.Marshal(rep.Result())
			assert.NotContains(t, string(out), "s3cret-pw")
		})
	}
}

func TestLegacyStatsAndSecrets(t *testing.T) {
	l := &legacyServer{root: root1x, noSch: 400, noBody: noScheduler1x, tasks: `[{"type":"replication","doc_id":"r","docs_written":7,"doc_write_failures":2,"checkpointed_source_seq":40,"replication_id":"abc+continuous","continuous":true}]`,
		docs: []string{`{"_id":"r","source":{"url":"http://db1:5984/registry","headers":{"Authorization":"Basic YWRtaW46aGVhZGVyLXB3"}},"target":"registry","_replication_state":"triggered"}`}}
	c, _ := testClient(t, serveLegacy(t, l))
	rep, err := Assess(context.Background(), c, Selection{}, Thresholds{}, time.Now())
	require.NoError(t, err)
	require.Len(t, rep.Replications, 1)
	r := rep.Replications[0]
	assert.Equal(t, "CouchDB 1.6.1", rep.Server)
	assert.True(t, r.HasStats)
	assert.Equal(t, int64(7), r.DocsWritten)
	assert.Equal(t, int64(2), r.DocWriteFailures)
	assert.True(t, r.Continuous)
	assert.Equal(t, "abc+continuous", r.ID)
	assert.Equal(t, secret.Credentials{User: "admin", Password: "header-pw"}, r.sourceAuth)
	assert.Contains(t, rep.Secrets, "header-pw")
	assert.Equal(t, c.URL()+"/registry", r.Target, "a local target name is a database on the node")
}

// pouchPair is a PouchDB Server replica and its source, with a switch for
// whether the replication moves the heartbeat.
func TestPouchHeartbeat(t *testing.T) {
	tests := []struct {
		name       string
		sourceUp   bool
		replicates bool
		status     nagios.Status
		reason     string
		sourceDown bool
	}{
		{"alive", true, true, nagios.OK, "", false},
		{"triggered but stuck", true, false, nagios.CRITICAL, "triggered but heartbeat not arriving", false},
		{"source down", false, false, nagios.CRITICAL, "source unreachable", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			node := &legacyServer{root: rootPouch, noSch: 404, noBody: noSchedulerPouch, tasks: "[]", store: map[string]json.RawMessage{}}
			nodeURL := serveLegacy(t, node)
			var srcMu sync.Mutex
			srcDocs := map[string]json.RawMessage{}
			src := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				srcMu.Lock()
				defer srcMu.Unlock()
				switch {
				case r.URL.Path == "/registry":
					w.Write([]byte(`{"db_name":"registry","update_seq":22}`))
				case r.Method == http.MethodGet:
					if d, ok := srcDocs[r.URL.Path]; ok {
						w.Write(d)
						return
					}
					w.WriteHeader(404)
					w.Write([]byte(`{"error":"not_found","reason":"missing"}`))
				case r.Method == http.MethodPut:
					var doc map[string]any
					require.NoError(t, json.NewDecoder(r.Body).Decode(&doc))
					doc["_rev"] = "2-b"
					b, _ := json.Marshal(doc)
					srcDocs[r.URL.Path] = b
					if tt.replicates {
						node.mu.Lock()
						node.store[r.URL.Path] = b
						node.mu.Unlock()
					}
					w.WriteHeader(201)
					w.Write([]byte(`{"ok":true,"rev":"2-b"}`))
				}
			}))
			t.Cleanup(src.Close)
			srcURL := src.URL
			if !tt.sourceUp {
				src.Close()
			}
			node.docs = []string{`{"_id":"registry-from-primary","source":"` + strings.Replace(srcURL, "http://", "http://admin:pw-in-doc@", 1) + `/registry","target":"registry","continuous":true,"_replication_state":"triggered","_replication_id":"a61c459b"}`}
			c, hc := testClient(t, nodeURL)
			p := Probes{HTTP: hc, SeqLag: true, CheckpointAge: true, HeartbeatDB: "registry", HeartbeatID: "heartbeat-test", HeartbeatWait: 300 * time.Millisecond, Poll: 20 * time.Millisecond}
			th := Thresholds{HeartbeatLag: mustThresholds(t, "60", "300")}
			rep, err := AssessWith(context.Background(), c, Selection{}, th, p, time.Now())
			require.NoError(t, err)
			require.Len(t, rep.Replications, 1)
			r := rep.Replications[0]
			assert.Equal(t, "PouchDB Server 4.2.0", rep.Server)
			assert.Equal(t, Triggered, r.State)
			assert.Equal(t, tt.status, r.Status, r.Reason)
			assert.Equal(t, tt.sourceDown, r.SourceDown)
			if tt.reason == "" {
				assert.Empty(t, r.Reason)
				assert.True(t, r.HeartbeatLag.Known && !r.HeartbeatLag.AtLeast, "%+v", r.HeartbeatLag)
				assert.Less(t, r.HeartbeatLag.Value, 1.0)
			} else {
				assert.Contains(t, r.Reason, tt.reason)
			}
			assert.False(t, r.SeqLag.Known, "PouchDB Server reports no written sequence")
			out, _ := json.Marshal(rep.Result())
			assert.NotContains(t, string(out), "pw-in-doc")
			assert.Contains(t, rep.Secrets, "pw-in-doc")
		})
	}
}

func mustThresholds(t *testing.T, w, c string) nagios.Thresholds {
	th, err := nagios.ParseThresholds(w, c)
	require.NoError(t, err)
	return th
}

// A URL that is not a CouchDB node (a web server's 404 or a TLS port
// answering 400) fails /_scheduler/docs and then GET /: the message must
// say why it asked for / at all.
func TestNotACouchNode(t *testing.T) {
	for _, tt := range []struct {
		name string
		code int
		want string
	}{
		{"404 everywhere", http.StatusNotFound, ": not found: 404 Not Found (no /_scheduler/docs either: is the URL a CouchDB node?)"},
		{"400 everywhere", http.StatusBadRequest, ": unexpected answer 400 Bad Request (no /_scheduler/docs either: is the URL a CouchDB node?)"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/plain")
				w.WriteHeader(tt.code)
			}))
			t.Cleanup(ts.Close)
			c, _ := testClient(t, ts.URL)
			_, err := Assess(context.Background(), c, Selection{}, Thresholds{}, time.Now())
			var p *nagios.Problem
			require.ErrorAs(t, err, &p)
			assert.Equal(t, nagios.UNKNOWN, p.Status)
			assert.Equal(t, "GET "+ts.URL+"/"+tt.want, p.Msg)
		})
	}
}

// hold holds a request at b; one that waits in vain fails the test and
// gets a 503.
func hold(t *testing.T, b *barrier.Barrier, n int, w http.ResponseWriter, r *http.Request) bool {
	if b.Wait(r.URL.Path) {
		return true
	}
	t.Errorf("GET %s waited %s with only %v in flight of %d: the legacy requests came one at a time", r.URL.Path, barrier.Bound, b.Arrived(), n)
	w.WriteHeader(http.StatusServiceUnavailable)
	_, _ = w.Write([]byte(`{"error":"one_at_a_time","reason":"barrier not reached"}`))
	return false
}

// The legacy path asks /, each replicator database and _active_tasks at
// once: 2 round trips (with _scheduler) instead of 4 over a WAN.
func TestLegacyRequestsConcurrent(t *testing.T) {
	const doc = `{"_id":"r","source":"http://db1:5984/registry","target":"registry","continuous":true,"_replication_state":"triggered"}`
	legacy := &legacyServer{root: root1x, noSch: 400, noBody: noScheduler1x, docs: []string{doc},
		tasks: `[{"type":"replication","doc_id":"r","docs_written":7,"checkpointed_source_seq":40,"replication_id":"abc+continuous","continuous":true}]`}
	held := map[string]bool{"/": true, "/_replicator/_all_docs": true, "/other/_all_docs": true, "/_active_tasks": true}
	b := barrier.New(len(held))
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if held[r.URL.Path] && !hold(t, b, len(held), w, r) {
			return
		}
		legacy.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	c, _ := testClient(t, ts.URL)
	var steps []string
	p := Probes{Step: func(format string, args ...any) { steps = append(steps, fmt.Sprintf(format, args...)) }}
	rep, err := AssessWith(context.Background(), c, Selection{ReplicatorDBs: []string{"_replicator", "other"}}, Thresholds{}, p, time.Now())
	require.NoError(t, err)
	assert.Equal(t, "CouchDB 1.6.1", rep.Server)
	require.Len(t, rep.Replications, 1)
	assert.Equal(t, Running, rep.Replications[0].State)
	assert.Equal(t, []string{
		"GET " + ts.URL + "/_scheduler/docs and /_scheduler/jobs",
		"GET " + ts.URL + "/, GET " + ts.URL + "/_replicator/_all_docs, GET " + ts.URL + "/other/_all_docs and GET " + ts.URL + "/_active_tasks",
	}, steps, "one step names every request in flight")
}

// When several of the concurrent requests fail, the error is the one the
// requests asked in turn (/, the databases in order, _active_tasks) would
// have met first, even when it is the last to be answered.
func TestLegacyErrorPrecedence(t *testing.T) {
	const (
		docsMsg  = "?include_docs=true: server error 500 Internal Server Error (function_clause)"
		otherMsg = ": server error 500 Internal Server Error (unknown_error: function_clause)"
	)
	tests := []struct {
		name   string
		failed []string // answered 500, in the order of the asking
		want   string   // the path whose error is reported
		msg    string   // its message after "GET <node><path>"
	}{
		{"all three", []string{"/", "/_replicator/_all_docs", "/other/_all_docs", "/_active_tasks"}, "/", otherMsg + " (no /_scheduler/docs either: is the URL a CouchDB node?)"},
		{"both databases and tasks", []string{"/_replicator/_all_docs", "/other/_all_docs", "/_active_tasks"}, "/_replicator/_all_docs", docsMsg},
		{"second database and tasks", []string{"/other/_all_docs", "/_active_tasks"}, "/other/_all_docs", docsMsg},
		{"tasks alone", []string{"/_active_tasks"}, "/_active_tasks", otherMsg},
		{"root alone", []string{"/"}, "/", otherMsg + " (no /_scheduler/docs either: is the URL a CouchDB node?)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			legacy := &legacyServer{root: root1x, noSch: 400, noBody: noScheduler1x, tasks: "[]"}
			// The reported failure answers only after the others have, so
			// the order of the answers cannot be what picks it.
			var others sync.WaitGroup
			others.Add(len(tt.failed) - 1)
			othersDone := make(chan struct{})
			go func() { others.Wait(); close(othersDone) }()
			failed := map[string]bool{}
			for _, f := range tt.failed {
				failed[f] = true
			}
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				switch p := r.URL.Path; {
				case p == tt.want:
					select {
					case <-othersDone:
					case <-time.After(3 * time.Second):
						t.Errorf("the other failures never arrived: %v", tt.failed)
					}
				case failed[p]:
					defer others.Done()
				default:
					legacy.ServeHTTP(w, r)
					return
				}
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusInternalServerError)
				w.Write([]byte(`{"error":"unknown_error","reason":"function_clause"}`))
			}))
			t.Cleanup(ts.Close)
			c, _ := testClient(t, ts.URL)
			_, err := Assess(context.Background(), c, Selection{ReplicatorDBs: []string{"_replicator", "other"}}, Thresholds{}, time.Now())
			var p *nagios.Problem
			require.ErrorAs(t, err, &p)
			assert.Equal(t, "GET "+ts.URL+tt.want+tt.msg, p.Msg)
		})
	}
}
