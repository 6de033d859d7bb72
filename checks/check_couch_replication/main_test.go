package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The captured CouchDB 3.4.3 answers live with the model that reads them.
const fixtureDir = "../../lib/replication/testdata/couchdb-3.4.3"

const (
	capturedSource = "http://127.0.0.1:15984"
	capturedNode2  = "http://127.0.0.1:25984"
	testPassword   = "secret" // the captured docs' password; must never be printed
)

// fakeCouch is a CouchDB-protocol server: fixed answers by "METHOD /path"
// plus a small document store (for heartbeats).
type fakeCouch struct {
	t      *testing.T
	srv    *httptest.Server
	mu     sync.Mutex
	fixed  map[string]func() (int, []byte)
	docs   map[string]map[string]json.RawMessage // db -> id -> doc
	onPut  func(db, id string, doc json.RawMessage)
	puts   int
	rewrap func([]byte) []byte
	// conflicts is how many PUTs to answer 409, as when another run wrote
	// the document between this run's read and write
	conflicts int
}

func newFake(t *testing.T) *fakeCouch {
	f := &fakeCouch{t: t, fixed: map[string]func() (int, []byte){}, docs: map[string]map[string]json.RawMessage{}}
	f.srv = httptest.NewServer(f)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeCouch) URL() string { return f.srv.URL }

func (f *fakeCouch) set(route string, code int, body string) {
	f.fixed[route] = func() (int, []byte) { return code, []byte(body) }
}

func (f *fakeCouch) file(route, name string) {
	b, err := os.ReadFile(filepath.Join(fixtureDir, name))
	require.NoError(f.t, err)
	f.fixed[route] = func() (int, []byte) {
		if f.rewrap != nil {
			return 200, f.rewrap(b)
		}
		return 200, b
	}
}

func (f *fakeCouch) store(db, id string, doc json.RawMessage) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.docs[db] == nil {
		f.docs[db] = map[string]json.RawMessage{}
	}
	f.docs[db][id] = doc
}

func (f *fakeCouch) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	if user, pass, ok := r.BasicAuth(); !ok || user != "admin" || pass != testPassword {
		w.WriteHeader(401)
		w.Write([]byte(`{"error":"unauthorized","reason":"Name or password is incorrect."}`))
		return
	}
	skip := r.URL.Query().Get("skip")
	if h := f.fixed[r.Method+" "+r.URL.Path]; h != nil && (skip == "" || skip == "0") {
		code, body := h()
		w.WriteHeader(code)
		w.Write(body)
		return
	}
	if skip != "" && skip != "0" {
		w.Write([]byte(`{"total_rows":0,"offset":0,"docs":[],"jobs":[]}`))
		return
	}
	parts := strings.SplitN(strings.TrimPrefix(r.URL.Path, "/"), "/", 2)
	if len(parts) == 2 {
		db, id := parts[0], parts[1]
		f.mu.Lock()
		defer f.mu.Unlock()
		switch r.Method {
		case http.MethodGet:
			if doc, ok := f.docs[db][id]; ok {
				w.Write(doc)
				return
			}
		case http.MethodPut:
			if f.conflicts > 0 {
				f.conflicts--
				w.WriteHeader(http.StatusConflict)
				w.Write([]byte(`{"error":"conflict","reason":"Document update conflict."}`))
				return
			}
			var doc map[string]any
			require.NoError(f.t, json.NewDecoder(r.Body).Decode(&doc))
			f.puts++
			doc["_rev"] = fmt.Sprintf("%d-x", f.puts)
			b, _ := json.Marshal(doc)
			if f.docs[db] == nil {
				f.docs[db] = map[string]json.RawMessage{}
			}
			f.docs[db][id] = b
			if f.onPut != nil {
				f.onPut(db, id, b)
			}
			w.WriteHeader(201)
			fmt.Fprintf(w, `{"ok":true,"id":%q,"rev":%q}`, id, doc["_rev"])
			return
		}
	}
	w.WriteHeader(404)
	w.Write([]byte(`{"error":"not_found","reason":"missing"}`))
}

// node2 serves node2's captured answers of a situation, with the captured
// addresses rewritten to the fake source and the fake node itself.
func node2(t *testing.T, situation string, source *fakeCouch) *fakeCouch {
	n := newFake(t)
	n.rewrap = func(b []byte) []byte {
		b = bytes.ReplaceAll(b, []byte(capturedSource), []byte(source.URL()))
		return bytes.ReplaceAll(b, []byte(capturedNode2), []byte(n.URL()))
	}
	n.file("GET /_scheduler/docs", "node2.scheduler-docs."+situation+".json")
	n.file("GET /_scheduler/jobs", "node2.scheduler-jobs."+situation+".json")
	matches, _ := filepath.Glob(filepath.Join(fixtureDir, "node2.replicator-doc.*."+situation+".json"))
	var rows []string
	for _, m := range matches {
		b, err := os.ReadFile(m)
		require.NoError(t, err)
		if bytes.Contains(b, []byte(`"error"`)) {
			continue
		}
		var head struct {
			ID string `json:"_id"`
		}
		require.NoError(t, json.Unmarshal(b, &head))
		rows = append(rows, fmt.Sprintf(`{"id":%q,"key":%q,"value":{"rev":"1-x"},"doc":%s}`, head.ID, head.ID, b))
	}
	all := []byte(fmt.Sprintf(`{"total_rows":%d,"offset":0,"rows":[%s]}`, len(rows), strings.Join(rows, ",")))
	n.fixed["GET /_replicator/_all_docs"] = func() (int, []byte) { return 200, n.rewrap(all) }
	// The check reads the documents of failing replications only (POST
	// with keys); extra rows do no harm.
	n.fixed["POST /_replicator/_all_docs"] = n.fixed["GET /_replicator/_all_docs"]
	return n
}

func credFile(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "creds")
	require.NoError(t, os.WriteFile(p, []byte("admin:"+testPassword+"\n"), 0o600))
	return p
}

func runCheck(t *testing.T, args ...string) (int, string) {
	var out bytes.Buffer
	code := run(args, &out)
	s := out.String()
	assert.NotContains(t, s, testPassword, "a password was printed")
	return code, s
}

func TestRunHealthy(t *testing.T) {
	src := newFake(t)
	src.file("GET /registry", "node1.db-info.registry.json")
	n := node2(t, "running", src)
	code, out := runCheck(t, "-u", n.URL(), "--credentials-file", credFile(t))
	assert.Equal(t, 0, code, out)
	assert.Contains(t, out, "COUCH_REPLICATION OK - 1 replication OK")
	assert.Contains(t, out, "'registry-from-node1 seq_lag'=0;10000;100000;0")
	assert.Contains(t, out, "'registry-from-node1 docs_written'=51c")
	assert.Contains(t, out, "'registry-from-node1 heartbeat_lag'=U")
}

// The replication's scheduler state is graphed as job_state, never as
// "state": an OK line with 'x state'=2 (triggered) reads as CRITICAL in
// every graphing add-on. In line protocol "state" is the Nagios state.
func TestRunJobStateIsNotNagiosState(t *testing.T) {
	src := newFake(t)
	src.file("GET /registry", "node1.db-info.registry.json")
	n := node2(t, "running", src)
	code, out := runCheck(t, "-u", n.URL(), "--credentials-file", credFile(t))
	assert.Equal(t, 0, code, out)
	assert.Contains(t, out, "'registry-from-node1 job_state'=0;;;0;9")
	assert.NotContains(t, out, " state'=")

	n = node2(t, "source-down-300s", newFake(t))
	code, out = runCheck(t, "-u", n.URL(), "--credentials-file", credFile(t), "--output", "influx")
	assert.Equal(t, 2, code, out)
	assert.Regexp(t, `(?m)^couch_replication,.* .*\bjob_state=5i\b`, out, "crashing")
	assert.Regexp(t, `(?m)^couch_replication,.* .*\bstate=2i\b`, out, "the Nagios state")
	assert.NotContains(t, out, "state_code")
}

func TestRunSourceDown(t *testing.T) {
	src := newFake(t)
	n := node2(t, "source-down-300s", src)
	code, out := runCheck(t, "-u", n.URL(), "--credentials-file", credFile(t))
	assert.Equal(t, 2, code, out)
	first := strings.SplitN(out, "\n", 2)[0]
	assert.Contains(t, first, "COUCH_REPLICATION CRITICAL - 1 of 1 replications failing: registry-from-node1 crashing (source unreachable (connection refused), 3 errors)")
	assert.Contains(t, out, "'registry-from-node1 error_count'=3")
}

func TestRunBadDocsWorstFirst(t *testing.T) {
	src := newFake(t)
	src.file("GET /registry", "node1.db-info.registry.json")
	n := node2(t, "bad-docs-200s", src)
	code, out := runCheck(t, "-u", n.URL(), "--credentials-file", credFile(t))
	assert.Equal(t, 2, code, out)
	first := strings.SplitN(out, "\n", 2)[0]
	// The doc id equals the document's source password, and a password
	// is never printed, not even where it is also a name.
	assert.Contains(t, first, "2 of 3 replications failing: missing-source-db crashing (source database missing, 3 errors), xxxxx crashing (authentication refused by source (user mirror), 3 errors)")
}

func TestRunSeqLagAndCheckpointAge(t *testing.T) {
	src := newFake(t)
	// through_seq is 50465: the source is 2000 changes ahead.
	src.set("GET /registry", 200, `{"db_name":"registry","update_seq":"52465-g1AAAAxyz","doc_count":1}`)
	n := node2(t, "replication-lagging", src)
	end := time.Now().Add(-100 * time.Second).UTC().Format(http.TimeFormat)
	n.set("GET /registry/_local/6afa3c59b1f4c25f6c29c6f966b4996f", 200, `{"history":[{"end_time":"`+end+`"},{"end_time":"Thu, 01 Jan 2026 00:00:00 GMT"}]}`)
	code, out := runCheck(t, "-u", n.URL(), "--credentials-file", credFile(t), "--doc-id", "registry-from-node1",
		"--warning-seq-lag", "1000", "--critical-seq-lag", "5000", "--warning-checkpoint-age", "60")
	assert.Equal(t, 1, code, out)
	assert.Contains(t, out, "registry-from-node1 running (2000 changes behind; no checkpoint for 1m4")
	assert.Contains(t, out, "'registry-from-node1 seq_lag'=2000;1000;5000;0")
	assert.Regexp(t, `'registry-from-node1 checkpoint_age'=1\d\d(\.\d+)?s;60;1800;0`, out)
}

func TestRunSelectionAndExpect(t *testing.T) {
	src := newFake(t)
	src.file("GET /registry", "node1.db-info.registry.json")
	n := node2(t, "running", src)
	tests := []struct {
		name  string
		args  []string
		code  int
		first string
	}{
		{"expect more than exist", []string{"--expect", "2"}, 2, "CRITICAL - only 1 of 2 expected replications; 1 replication OK"},
		{"named doc missing", []string{"--doc-id", "registry-from-node1,gone"}, 2, `1 of 2 replications failing: gone missing \(no replication document gone in _replicator \(deleted\?\)\)`},
		{"source glob by db name", []string{"--source", "regi*", "--expect", "1"}, 0, "OK - 1 replication OK"},
		{"source glob excludes", []string{"--source", "other", "--expect", "1"}, 2, `CRITICAL - only 0 of 1 expected replications`},
		{"target URL glob", []string{"--target", "http://127.0.0.1:*/registry"}, 0, "OK - 1 replication OK"},
		{"nothing selected", []string{"--target", "nope"}, 3, `UNKNOWN - no replications found`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out := runCheck(t, append([]string{"-u", n.URL(), "--credentials-file", credFile(t)}, tt.args...)...)
			assert.Equal(t, tt.code, code, out)
			assert.Regexp(t, tt.first, strings.SplitN(out, "\n", 2)[0])
		})
	}
}

func TestRunHeartbeat(t *testing.T) {
	tests := []struct {
		name      string
		replicate bool
		old       string // an older heartbeat already on the target
		args      []string
		code      int
		want      string
	}{
		{"arrives", true, "", nil, 0, "1 replication OK"},
		{"never arrives, nothing on target", false, "", []string{"--heartbeat-wait", "300ms"}, 1, "heartbeat not arriving (none for 0s)"},
		{"never arrives, old heartbeat on target", false, "2020-01-01T00:00:00Z", []string{"--heartbeat-wait", "300ms"}, 2, "heartbeat not arriving (none for "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := newFake(t)
			src.file("GET /registry", "node1.db-info.registry.json")
			n := node2(t, "running", src)
			if tt.old != "" {
				n.store("registry", "hb-test", json.RawMessage(`{"_id":"hb-test","_rev":"1-a","written":"`+tt.old+`","nonce":"old"}`))
			}
			if tt.replicate {
				src.onPut = func(db, id string, doc json.RawMessage) { n.store(db, id, doc) }
			}
			code, out := runCheck(t, append([]string{"-u", n.URL(), "--credentials-file", credFile(t), "--heartbeat-db", "registry", "--heartbeat-id", "hb-test"}, tt.args...)...)
			assert.Equal(t, tt.code, code, out)
			assert.Contains(t, strings.SplitN(out, "\n", 2)[0], tt.want)
			assert.Equal(t, 1, src.puts, "one heartbeat write per source")
			if tt.replicate {
				assert.Regexp(t, `'registry-from-node1 heartbeat_lag'=0(\.\d+)?s;60;300;0`, out)
			}
		})
	}
}

// TestRunHeartbeatOtherRuns: checkers on one host share the document
// heartbeat-<hostname>. A run whose write was replaced by another run's
// (written after it started, by this host) takes that one's arrival as
// its own; another host's heartbeat, or an older one, does not count.
// A write that conflicts with another run's is read again and retried.
func TestRunHeartbeatOtherRuns(t *testing.T) {
	host, _ := os.Hostname()
	tests := []struct {
		name      string
		host      string
		conflicts int
		code      int
		want      string
	}{
		{"another run on this host replaced ours", host, 0, 0, "1 replication OK"},
		{"another host's heartbeat", "elsewhere", 0, 1, "heartbeat not arriving"},
		{"write conflicts twice", host, 2, 0, "1 replication OK"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := newFake(t)
			src.file("GET /registry", "node1.db-info.registry.json")
			src.conflicts = tt.conflicts
			n := node2(t, "running", src)
			src.onPut = func(db, id string, _ json.RawMessage) {
				// What reaches the target is the other run's write, made
				// just after ours.
				other := fmt.Sprintf(`{"_id":%q,"_rev":"9-z","type":"heartbeat","host":%q,"written":%q,"nonce":"other-run"}`,
					id, tt.host, time.Now().UTC().Format(time.RFC3339Nano))
				n.store(db, id, json.RawMessage(other))
			}
			code, out := runCheck(t, "-u", n.URL(), "--credentials-file", credFile(t), "--heartbeat-db", "registry", "--heartbeat-id", "hb-test", "--heartbeat-wait", "300ms")
			assert.Equal(t, tt.code, code, out)
			assert.Contains(t, strings.SplitN(out, "\n", 2)[0], tt.want)
			assert.Equal(t, 1, src.puts, "one heartbeat written")
			if tt.code == 0 {
				assert.Regexp(t, `'registry-from-node1 heartbeat_lag'=0(\.\d+)?s;60;300;0`, out)
			}
		})
	}
}

func TestRunHeartbeatDBNotReplicated(t *testing.T) {
	src := newFake(t)
	src.file("GET /registry", "node1.db-info.registry.json")
	n := node2(t, "running", src)
	code, out := runCheck(t, "-u", n.URL(), "--credentials-file", credFile(t), "--heartbeat-db", "heartbeat")
	assert.Equal(t, 3, code, out)
	assert.Contains(t, out, "no selected replication reads the heartbeat database")
	assert.Equal(t, 0, src.puts)
}

func TestRunNodeDown(t *testing.T) {
	ts := httptest.NewServer(http.NotFoundHandler())
	url := ts.URL
	ts.Close()
	code, out := runCheck(t, "-u", url, "--credentials-file", credFile(t))
	assert.Equal(t, 2, code, out)
	assert.Contains(t, out, "/_scheduler/docs")
	assert.Contains(t, out, "connection refused")
}

func TestRunBadRange(t *testing.T) {
	code, out := runCheck(t, "--warning-seq-lag", "abc")
	assert.Equal(t, 3, code)
	assert.Contains(t, out, "warning-seq-lag")
}
