package replicationtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Step is one capture of the outage-200 timeline.
type Step struct {
	Name     string
	At       time.Time // capture time (UTC, the capture machine's clock)
	SourceUp bool      // node1, the source, answered at that time
}

// OutageSteps are the steps of outage-200 (its README): node1 stopped at
// 11:27:58 and started again at 11:30:01.
func OutageSteps() []Step {
	at := func(hms string) time.Time {
		t, err := time.Parse(time.RFC3339, "2026-11-30T"+hms+"Z")
		if err != nil {
			panic(err)
		}
		return t
	}
	return []Step{
		{"before-outage", at("11:27:56"), true},
		{"outage-t1s", at("11:28:00"), false},
		{"outage-t5s", at("11:28:04"), false},
		{"outage-t15s", at("11:28:14"), false},
		{"outage-t30s", at("11:28:29"), false},
		{"outage-t60s", at("11:28:59"), false},
		{"outage-t120s", at("11:29:59"), false},
		{"restarted-t2s", at("11:30:03"), true},
		{"restarted-t10s", at("11:30:11"), true},
		{"restarted-t30s", at("11:30:31"), true},
		{"restarted-t60s", at("11:31:01"), true},
		{"restarted-t120s", at("11:32:01"), true},
		{"restarted-t200s", at("11:33:21"), true},
	}
}

// The captured servers' addresses, replaced by the replay's own.
const (
	capturedSource = "http://127.0.0.1:15984"
	capturedNode2  = "http://127.0.0.1:25984"
	capturedNode3  = "http://127.0.0.1:35984"
)

// Timeline replays outage-200 for one replica (node2 or node3): Node
// answers _scheduler/docs and _scheduler/jobs as the replica did at the
// current step, and keeps a _replicator database (built from the
// before-outage answer) that a restart reads, deletes and writes again
// (by document or _bulk_docs); Source is node1, which answers only when
// the step says it did (otherwise it closes every connection, as a dead
// node's address does once its port is gone).
//
// A replication restarted through the _replicator database runs from
// then on: its doc is "running" with no error and its job has a fresh
// history, which is what a restart achieves on a real node whose source
// answers. The steps' captures know nothing of it: CouchDB alone waited
// out its backoff.
//
// The source has every database the replications read, at the sequence
// the replica had reached before the outage (no lag), except no_such_db
// (404); a request with the user "mirror" gets 401.
type Timeline struct {
	Node   *httptest.Server
	Source *httptest.Server

	t    testing.TB
	node string

	mu        sync.Mutex
	step      Step
	docs      map[string]map[string]any // _replicator, by id
	revs      map[string]int
	restarted map[string]time.Time // doc id -> when it was written again
	seqs      map[string]string    // source db -> update_seq
	Requests  map[string]int       // "METHOD /path" -> count, for the tests
}

// NewTimeline starts the replay of node ("node2" or "node3") at its
// first step.
func NewTimeline(t testing.TB, node string) *Timeline {
	t.Helper()
	tl := &Timeline{t: t, node: node, docs: map[string]map[string]any{}, revs: map[string]int{},
		restarted: map[string]time.Time{}, seqs: map[string]string{}, Requests: map[string]int{}}
	tl.Source = httptest.NewServer(http.HandlerFunc(tl.serveSource))
	tl.Node = httptest.NewServer(http.HandlerFunc(tl.serveNode))
	t.Cleanup(tl.Node.Close)
	t.Cleanup(tl.Source.Close)
	tl.step = OutageSteps()[0]
	tl.seed()
	return tl
}

// SetStep moves the replay to the named step.
func (tl *Timeline) SetStep(s Step) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	tl.step = s
}

// Restarted lists the doc ids written again, sorted.
func (tl *Timeline) Restarted() []string {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	var ids []string
	for id := range tl.restarted {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// read returns a captured file of the current node with the captured
// addresses replaced by the replay's.
func (tl *Timeline) read(endpoint, step string) []byte {
	b := Read(tl.t, filepath.Join("outage-200", tl.node+"."+endpoint+"."+step+".json"))
	s := strings.NewReplacer(capturedSource, tl.Source.URL, capturedNode2, tl.Node.URL, capturedNode3, tl.Node.URL).Replace(string(b))
	return []byte(s)
}

// seed builds the _replicator documents and the source's sequences from
// the before-outage answer. Credentials are the node's, except for
// wrong-password (user mirror, refused by the source); bad-filter, whose
// scheduler entry has no endpoints, gets a filter that does not exist.
func (tl *Timeline) seed() {
	var docs struct {
		Docs []struct {
			DocID  string `json:"doc_id"`
			ID     string `json:"id"`
			Source string `json:"source"`
			Target string `json:"target"`
			Info   *struct {
				ThroughSeq string `json:"through_seq"`
			} `json:"info"`
		} `json:"docs"`
	}
	require.NoError(tl.t, json.Unmarshal(tl.read("scheduler-docs", "before-outage"), &docs))
	for _, d := range docs.Docs {
		doc := map[string]any{"_id": d.DocID, "source": d.Source, "target": d.Target, "continuous": true, "create_target": true}
		switch {
		case d.DocID == "bad-filter":
			doc["source"], doc["target"], doc["filter"] = tl.Source.URL+"/registry", tl.Node.URL+"/registry_filtered", "nosuch/by_name"
		case d.DocID == "wrong-password":
			doc["source"] = map[string]any{"url": d.Source, "auth": map[string]any{"basic": map[string]any{"username": "mirror", "password": "not-the-password"}}}
		case d.ID == "" || !strings.Contains(d.ID, "+continuous"):
			delete(doc, "continuous")
		}
		tl.revs[d.DocID] = 1
		doc["_rev"] = "1-seed"
		tl.docs[d.DocID] = doc
		if d.Info != nil && d.Info.ThroughSeq != "" {
			tl.seqs[dbName(d.Source)] = d.Info.ThroughSeq
		}
	}
}

func dbName(u string) string {
	u = strings.TrimSuffix(u, "/")
	return u[strings.LastIndexByte(u, '/')+1:]
}

func (tl *Timeline) serveSource(w http.ResponseWriter, r *http.Request) {
	tl.mu.Lock()
	up := tl.step.SourceUp
	seq, known := tl.seqs[strings.Trim(r.URL.Path, "/")]
	tl.mu.Unlock()
	if !up {
		// A stopped node: the connection closes without an answer.
		if hj, ok := w.(http.Hijacker); ok {
			if c, _, err := hj.Hijack(); err == nil {
				c.Close()
				return
			}
		}
		panic(http.ErrAbortHandler)
	}
	w.Header().Set("Content-Type", "application/json")
	if user, _, _ := r.BasicAuth(); user == "mirror" {
		w.WriteHeader(http.StatusUnauthorized)
		w.Write([]byte(`{"error":"unauthorized","reason":"Name or password is incorrect."}`))
		return
	}
	db := strings.Trim(r.URL.Path, "/")
	switch {
	case r.URL.Path == "/":
		w.Write([]byte(`{"couchdb":"Welcome","version":"3.4.3"}`))
	case r.Method == http.MethodGet && !strings.Contains(db, "/") && db != "no_such_db":
		if !known {
			seq = "0"
		}
		fmt.Fprintf(w, `{"db_name":%q,"update_seq":%q,"doc_count":1}`, db, seq)
	default:
		w.WriteHeader(http.StatusNotFound)
		w.Write([]byte(`{"error":"not_found","reason":"Database does not exist."}`))
	}
}

func (tl *Timeline) serveNode(w http.ResponseWriter, r *http.Request) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	tl.Requests[r.Method+" "+r.URL.Path]++
	w.Header().Set("Content-Type", "application/json")
	first := r.URL.Query().Get("skip") == "" || r.URL.Query().Get("skip") == "0"
	path := strings.TrimPrefix(r.URL.Path, "/_replicator/")
	switch {
	case r.URL.Path == "/":
		w.Write([]byte(`{"couchdb":"Welcome","version":"3.4.3"}`))
	case r.URL.Path == "/_scheduler/docs":
		if !first {
			w.Write([]byte(`{"total_rows":0,"offset":0,"docs":[]}`))
			return
		}
		w.Write(tl.overlay(tl.read("scheduler-docs", tl.step.Name), "docs"))
	case r.URL.Path == "/_scheduler/jobs":
		if !first {
			w.Write([]byte(`{"total_rows":0,"offset":0,"jobs":[]}`))
			return
		}
		w.Write(tl.overlay(tl.read("scheduler-jobs", tl.step.Name), "jobs"))
	case r.URL.Path == "/_replicator/_all_docs":
		w.Write(filterKeys(tl.t, r, tl.allDocs()))
	case r.URL.Path == "/_replicator/_bulk_docs" && r.Method == http.MethodPost:
		tl.bulkDocs(w, r)
	case strings.HasPrefix(r.URL.Path, "/_replicator/") && !strings.Contains(path, "/"):
		tl.doc(w, r, path)
	default:
		w.WriteHeader(http.StatusNotFound)
		w.Write([]byte(`{"error":"not_found","reason":"missing"}`))
	}
}

// overlay makes every restarted replication run in a captured answer.
func (tl *Timeline) overlay(body []byte, list string) []byte {
	if len(tl.restarted) == 0 {
		return body
	}
	var v map[string]any
	require.NoError(tl.t, json.Unmarshal(body, &v))
	items, _ := v[list].([]any)
	for _, it := range items {
		m := it.(map[string]any)
		id, _ := m["doc_id"].(string)
		at, ok := tl.restarted[id]
		if !ok || at.After(tl.step.At) {
			continue
		}
		ts := at.UTC().Format(time.RFC3339)
		m["info"], m["start_time"] = nil, ts
		if list == "docs" {
			m["state"], m["error_count"], m["last_updated"] = "running", 0, ts
		} else {
			m["history"] = []any{map[string]any{"timestamp": ts, "type": "started"}, map[string]any{"timestamp": ts, "type": "added"}}
		}
	}
	out, err := json.Marshal(v)
	require.NoError(tl.t, err)
	return out
}

func (tl *Timeline) allDocs() []byte {
	type row struct {
		ID  string         `json:"id"`
		Key string         `json:"key"`
		Doc map[string]any `json:"doc"`
	}
	ids := make([]string, 0, len(tl.docs))
	for id := range tl.docs {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	rows := make([]row, 0, len(ids))
	for _, id := range ids {
		rows = append(rows, row{ID: id, Key: id, Doc: tl.docs[id]})
	}
	out, err := json.Marshal(map[string]any{"total_rows": len(rows), "offset": 0, "rows": rows})
	require.NoError(tl.t, err)
	return out
}

// doc answers GET, PUT and DELETE of one _replicator document.
func (tl *Timeline) doc(w http.ResponseWriter, r *http.Request, id string) {
	cur, exists := tl.docs[id]
	conflict := func() {
		w.WriteHeader(http.StatusConflict)
		w.Write([]byte(`{"error":"conflict","reason":"Document update conflict."}`))
	}
	switch r.Method {
	case http.MethodGet:
		if !exists {
			w.WriteHeader(http.StatusNotFound)
			w.Write([]byte(`{"error":"not_found","reason":"deleted"}`))
			return
		}
		json.NewEncoder(w).Encode(cur)
	case http.MethodDelete:
		if !exists || r.URL.Query().Get("rev") != cur["_rev"] {
			conflict()
			return
		}
		delete(tl.docs, id)
		tl.revs[id]++
		rev := strconv.Itoa(tl.revs[id]) + "-del"
		w.Header().Set("ETag", `"`+rev+`"`) // as CouchDB; kivik reads the revision there
		fmt.Fprintf(w, `{"ok":true,"id":%q,"rev":%q}`, id, rev)
	case http.MethodPut:
		var body map[string]any
		require.NoError(tl.t, json.NewDecoder(readBody(tl.t, r)).Decode(&body))
		if exists && body["_rev"] != cur["_rev"] {
			conflict()
			return
		}
		rev := tl.write(id, body)
		w.Header().Set("ETag", `"`+rev+`"`)
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, `{"ok":true,"id":%q,"rev":%q}`, id, rev)
	default:
		w.WriteHeader(http.StatusMethodNotAllowed)
	}
}

// bulkDocs answers POST _bulk_docs: deletions and writes, each checked
// against the current revision as CouchDB does.
func (tl *Timeline) bulkDocs(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Docs []map[string]any `json:"docs"`
	}
	require.NoError(tl.t, json.NewDecoder(readBody(tl.t, r)).Decode(&body))
	var out []map[string]any
	for _, d := range body.Docs {
		id, _ := d["_id"].(string)
		cur, exists := tl.docs[id]
		var curRev any
		if exists {
			curRev = cur["_rev"]
		}
		if d["_rev"] != curRev {
			out = append(out, map[string]any{"id": id, "error": "conflict", "reason": "Document update conflict."})
			continue
		}
		if del, _ := d["_deleted"].(bool); del {
			delete(tl.docs, id)
			tl.revs[id]++
			out = append(out, map[string]any{"ok": true, "id": id, "rev": strconv.Itoa(tl.revs[id]) + "-del"})
			continue
		}
		out = append(out, map[string]any{"ok": true, "id": id, "rev": tl.write(id, d)})
	}
	w.WriteHeader(http.StatusCreated)
	json.NewEncoder(w).Encode(out)
}

// write stores a document and starts its replication.
func (tl *Timeline) write(id string, doc map[string]any) string {
	tl.revs[id]++
	rev := strconv.Itoa(tl.revs[id]) + "-w"
	doc["_id"], doc["_rev"] = id, rev
	tl.docs[id] = doc
	tl.restarted[id] = tl.step.At
	return rev
}
