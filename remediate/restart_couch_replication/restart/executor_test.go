package restart

import (
	"cmp"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/registry-checks/registry-checks/lib/couch"
	"github.com/registry-checks/registry-checks/lib/httpclient"
	"github.com/registry-checks/registry-checks/lib/secret"
)

// fakeCouch is the part of a CouchDB node a restart touches: documents of
// one replicator database (GET, DELETE with rev, PUT) and POST /_replicate.
type fakeCouch struct {
	mu       sync.Mutex
	docs     map[string]map[string]any
	revs     map[string]int
	requests []string
	putFails int // writes to answer 500 before one succeeds
	posts    []map[string]any
	// per document: bulk deletes and creates to answer 500
	deleteFails, createFails map[string]int
	// onBulk sees each _bulk_docs request (deleting: its first document
	// is a deletion)
	onBulk func(deleting bool)
	// replicator: a created document gets a _replication_state at once,
	// as PouchDB Server's replicator writes one
	replicator bool
	// reason of a failed bulk write ("boom" when empty)
	failReason string
}

func newFakeCouch(doc map[string]any) *fakeCouch {
	f := &fakeCouch{docs: map[string]map[string]any{}, revs: map[string]int{}, deleteFails: map[string]int{}, createFails: map[string]int{}}
	if doc != nil {
		id := doc["_id"].(string)
		f.revs[id] = 3
		doc["_rev"] = "3-abc"
		f.docs[id] = doc
	}
	return f
}

func (f *fakeCouch) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests = append(f.requests, r.Method+" "+r.URL.Path)
	w.Header().Set("Content-Type", "application/json")
	if r.URL.Path == "/_replicate" {
		var body map[string]any
		_ = json.NewDecoder(r.Body).Decode(&body)
		f.posts = append(f.posts, body)
		if body["cancel"] == true {
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, `{"error":"not_found","reason":"replication not running"}`)
			return
		}
		w.WriteHeader(http.StatusAccepted)
		io.WriteString(w, `{"ok":true,"_local_id":"abc+continuous"}`)
		return
	}
	id := strings.TrimPrefix(r.URL.Path, "/_replicator/")
	switch {
	case id == "_all_docs" && r.Method == http.MethodPost:
		var body struct {
			Keys []string `json:"keys"`
		}
		_ = json.NewDecoder(gunzip(r)).Decode(&body)
		rows := []any{}
		for _, k := range body.Keys {
			if d, ok := f.docs[k]; ok {
				rows = append(rows, map[string]any{"id": k, "key": k, "value": map[string]any{"rev": d["_rev"]}, "doc": d})
			} else {
				rows = append(rows, map[string]any{"key": k, "error": "not_found"})
			}
		}
		json.NewEncoder(w).Encode(map[string]any{"total_rows": len(f.docs), "offset": 0, "rows": rows})
		return
	case id == "_bulk_docs" && r.Method == http.MethodPost:
		var body struct {
			Docs []map[string]any `json:"docs"`
		}
		if err := json.NewDecoder(gunzip(r)).Decode(&body); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		if f.onBulk != nil && len(body.Docs) > 0 {
			f.onBulk(body.Docs[0]["_deleted"] == true)
		}
		res := []any{}
		for _, d := range body.Docs {
			res = append(res, f.write(d))
		}
		w.WriteHeader(http.StatusCreated)
		json.NewEncoder(w).Encode(res)
		return
	}
	switch r.Method {
	case http.MethodGet:
		d, ok := f.docs[id]
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, `{"error":"not_found","reason":"deleted"}`)
			return
		}
		json.NewEncoder(w).Encode(d)
	case http.MethodDelete:
		d, ok := f.docs[id]
		if !ok || r.URL.Query().Get("rev") != d["_rev"] {
			w.WriteHeader(http.StatusConflict)
			io.WriteString(w, `{"error":"conflict","reason":"Document update conflict."}`)
			return
		}
		delete(f.docs, id)
		f.revs[id]++
		w.Header().Set("ETag", fmt.Sprintf(`"%d-del"`, f.revs[id]))
		fmt.Fprintf(w, `{"ok":true,"id":%q,"rev":"%d-del"}`, id, f.revs[id])
	case http.MethodPut:
		if f.putFails > 0 {
			f.putFails--
			w.WriteHeader(http.StatusInternalServerError)
			io.WriteString(w, `{"error":"unknown_error","reason":"boom"}`)
			return
		}
		if _, ok := f.docs[id]; ok {
			w.WriteHeader(http.StatusConflict)
			io.WriteString(w, `{"error":"conflict","reason":"Document update conflict."}`)
			return
		}
		var rd io.Reader = r.Body
		if r.Header.Get("Content-Encoding") == "gzip" { // kivik compresses what it writes
			zr, err := gzip.NewReader(r.Body)
			if err != nil {
				w.WriteHeader(http.StatusBadRequest)
				return
			}
			rd = zr
		}
		var body map[string]any
		if err := json.NewDecoder(rd).Decode(&body); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		f.revs[id]++
		body["_id"] = id
		body["_rev"] = fmt.Sprintf("%d-new", f.revs[id])
		f.docs[id] = body
		w.Header().Set("ETag", fmt.Sprintf("%q", body["_rev"]))
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, `{"ok":true,"id":%q,"rev":%q}`, id, body["_rev"])
	default:
		w.WriteHeader(http.StatusMethodNotAllowed)
	}
}

func gunzip(r *http.Request) io.Reader {
	if r.Header.Get("Content-Encoding") == "gzip" { // kivik compresses what it writes
		if zr, err := gzip.NewReader(r.Body); err == nil {
			return zr
		}
	}
	return r.Body
}

// write is one document of a _bulk_docs request: a deletion with the
// current rev, or a creation over a deleted or missing document; f.mu is
// held.
func (f *fakeCouch) write(d map[string]any) map[string]any {
	id, _ := d["_id"].(string)
	conflict := map[string]any{"id": id, "error": "conflict", "reason": "Document update conflict."}
	cur, exists := f.docs[id]
	if d["_deleted"] == true {
		if !exists || d["_rev"] != cur["_rev"] {
			return conflict
		}
		if f.deleteFails[id] > 0 {
			f.deleteFails[id]--
			return map[string]any{"id": id, "error": "unknown_error", "reason": "boom"}
		}
		delete(f.docs, id)
		f.revs[id]++
		return map[string]any{"ok": true, "id": id, "rev": fmt.Sprintf("%d-del", f.revs[id])}
	}
	if exists {
		return conflict
	}
	if f.putFails > 0 || f.createFails[id] > 0 {
		if f.createFails[id] > 0 {
			f.createFails[id]--
		} else {
			f.putFails--
		}
		return map[string]any{"id": id, "error": "unknown_error", "reason": cmp.Or(f.failReason, "boom")}
	}
	f.revs[id]++
	d["_rev"] = fmt.Sprintf("%d-new", f.revs[id])
	f.docs[id] = d
	if f.replicator {
		stored := maps.Clone(d)
		stored["_replication_state"] = "triggered"
		f.docs[id] = stored
	}
	return map[string]any{"ok": true, "id": id, "rev": d["_rev"]}
}

const srcPassword = "s3cret-source-pw"

func storedDoc() map[string]any {
	return map[string]any{
		"_id":                     "registry-from-primary",
		"source":                  "http://admin:" + srcPassword + "@db1:5984/registry",
		"target":                  "registry",
		"continuous":              true,
		"create_target":           true,
		"owner":                   "admin",
		"_replication_state":      "error",
		"_replication_state_time": "2025-11-26T02:45:00Z",
		"_replication_id":         "abc",
		"restarted_by":            map[string]any{"at": "2025-11-26T01:00:00Z", "by": "earlier", "reason": "old"},
	}
}

func newExec(t *testing.T, f *fakeCouch, confirm Confirmer) (*Couch, *httptest.Server) {
	t.Helper()
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	hc, err := httpclient.New(httpclient.Options{}, httpclient.Config{})
	require.NoError(t, err)
	creds := secret.Credentials{User: "admin", Password: "node-pw"}
	c, err := couch.New(srv.URL, creds, hc)
	require.NoError(t, err)
	return &Couch{Client: c, HTTP: hc, Creds: creds, BackupDir: t.TempDir(), By: "restart_couch_replication@test",
		Confirm: confirm, ConfirmWithin: 2 * time.Second, Now: func() time.Time { return t0 }}, srv
}

func running(_ context.Context, ts []Target) (map[string]JobState, error) {
	out := map[string]JobState{}
	for _, t := range ts {
		out[t.where()] = JobState{State: "running", Running: true}
	}
	return out, nil
}

// restartOne restarts one target through the batch interface.
func restartOne(c Executor, t Target) (Outcome, error) {
	out := c.Restart(context.Background(), []Target{t})
	return out[0], out[0].Err
}

func TestCouchRestartDoc(t *testing.T) {
	f := newFakeCouch(storedDoc())
	c, _ := newExec(t, f, running)
	out, err := restartOne(c, Target{Key: "_replicator/registry-from-primary", DocID: "registry-from-primary", Database: "_replicator", Reason: "crashing: source unreachable"})
	require.NoError(t, err)
	assert.Equal(t, []string{"POST /_replicator/_all_docs", "POST /_replicator/_bulk_docs", "POST /_replicator/_bulk_docs"}, f.requests,
		"read, deleted and written again in bulk")
	assert.Contains(t, out.Detail, "recreated _replicator/registry-from-primary, new job running")

	d := f.docs["registry-from-primary"]
	require.NotNil(t, d)
	for k := range d {
		assert.False(t, strings.HasPrefix(k, "_replication_"), "server-owned field %s kept", k)
	}
	assert.Equal(t, "http://admin:"+srcPassword+"@db1:5984/registry", d["source"], "the definition is kept, credentials included")
	assert.Equal(t, "registry", d["target"])
	assert.Equal(t, true, d["continuous"])
	assert.Equal(t, "admin", d["owner"])
	assert.Equal(t, map[string]any{"at": "2025-11-26T03:00:00Z", "by": "restart_couch_replication@test", "reason": "crashing: source unreachable"}, d[RestartedBy])

	// The backup is the document as it was, rev and state included, 0600.
	fi, err := os.Stat(out.Backup)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	var b map[string]any
	raw, _ := os.ReadFile(out.Backup)
	require.NoError(t, json.Unmarshal(raw, &b))
	assert.Equal(t, "3-abc", b["_rev"])
	assert.Equal(t, "error", b["_replication_state"])
}

func TestCouchRestartDocFailures(t *testing.T) {
	t.Run("document gone", func(t *testing.T) {
		f := newFakeCouch(nil)
		c, _ := newExec(t, f, running)
		_, err := restartOne(c, Target{DocID: "nope", Database: "_replicator"})
		require.Error(t, err)
		assert.Contains(t, err.Error(), "/_replicator/nope")
		assert.Equal(t, []string{"POST /_replicator/_all_docs"}, f.requests, "nothing is deleted")
	})
	t.Run("PUT fails after the delete: says where the backup is", func(t *testing.T) {
		f := newFakeCouch(storedDoc())
		f.putFails = 5
		c, _ := newExec(t, f, running)
		out, err := restartOne(c, Target{DocID: "registry-from-primary", Database: "_replicator"})
		require.Error(t, err)
		assert.Contains(t, err.Error(), "deleted _replicator/registry-from-primary but could not write it again")
		assert.Contains(t, err.Error(), out.Backup)
		assert.NotContains(t, err.Error(), srcPassword)
	})
	t.Run("the server's reason is hostile text: bounded and made one line", func(t *testing.T) {
		f := newFakeCouch(storedDoc())
		f.putFails = 5
		f.failReason = "\x1b[31mred\nsecond line " + strings.Repeat("x", 5000)
		c, _ := newExec(t, f, running)
		_, err := restartOne(c, Target{DocID: "registry-from-primary", Database: "_replicator"})
		require.Error(t, err)
		assert.NotContains(t, err.Error(), "\x1b")
		assert.NotContains(t, err.Error(), "\n")
		assert.Less(t, len(err.Error()), 1500, "the reason is cut (httpclient.ReasonLimit)")
	})
	t.Run("PUT fails once: retried", func(t *testing.T) {
		f := newFakeCouch(storedDoc())
		f.putFails = 1
		c, _ := newExec(t, f, running)
		_, err := restartOne(c, Target{DocID: "registry-from-primary", Database: "_replicator"})
		require.NoError(t, err)
		assert.NotNil(t, f.docs["registry-from-primary"])
	})
	t.Run("new job never runs", func(t *testing.T) {
		f := newFakeCouch(storedDoc())
		c, _ := newExec(t, f, func(_ context.Context, ts []Target) (map[string]JobState, error) {
			return map[string]JobState{ts[0].where(): {State: "initializing"}}, nil
		})
		c.ConfirmWithin = 300 * time.Millisecond
		out, err := restartOne(c, Target{DocID: "registry-from-primary", Database: "_replicator"})
		require.Error(t, err)
		assert.Contains(t, err.Error(), "no running job within 300ms (state initializing)")
		assert.NotEmpty(t, out.Backup)
	})
}

func TestCouchRestartTransient(t *testing.T) {
	f := newFakeCouch(nil)
	c, _ := newExec(t, f, nil)
	spec := json.RawMessage(`{"source":"http://admin:` + srcPassword + `@db1:5984/registry","target":"registry-transient","continuous":true}`)
	out, err := restartOne(c, Target{Key: "transient:x", Transient: true, Spec: spec})
	require.NoError(t, err)
	require.Len(t, f.posts, 2)
	assert.Equal(t, true, f.posts[0]["cancel"], "the old job is cancelled first")
	assert.NotContains(t, f.posts[1], "cancel")
	assert.Equal(t, "registry-transient", f.posts[1]["target"])
	assert.Contains(t, out.Detail, "re-posted transient replication transient:x (job abc+continuous)")

	_, err = restartOne(c, Target{Key: "transient:x", Transient: true})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "--transient-spec")
}

func TestDryRun(t *testing.T) {
	out, err := restartOne(DryRun{}, Target{DocID: "r", Database: "_replicator"})
	require.NoError(t, err)
	assert.Equal(t, "dry run: would delete and recreate _replicator/r", out.Detail)
}

func TestCouchRestartBulk(t *testing.T) {
	f := newFakeCouch(nil)
	for _, id := range []string{"ok", "flaky-delete", "changed", "unwritable", "flaky-create"} {
		d := storedDoc()
		d["_id"] = id
		f.revs[id] = 3
		d["_rev"] = "3-abc"
		f.docs[id] = d
	}
	f.deleteFails["flaky-delete"] = 1
	f.createFails["flaky-create"] = 2
	f.createFails["unwritable"] = 99
	var polls [][]string
	c, _ := newExec(t, f, func(ctx context.Context, ts []Target) (map[string]JobState, error) {
		var ids []string
		for _, t := range ts {
			ids = append(ids, t.DocID)
		}
		polls = append(polls, ids)
		return running(ctx, ts)
	})
	ts := []Target{}
	for _, id := range []string{"ok", "flaky-delete", "changed", "gone", "unwritable", "flaky-create"} {
		ts = append(ts, Target{Key: "_replicator/" + id, DocID: id, Database: "_replicator", Reason: "crashing"})
	}
	// "changed" is edited by someone between the read and the delete.
	mutate := &editBetween{fakeCouch: f, id: "changed"}
	srv := httptest.NewServer(mutate)
	t.Cleanup(srv.Close)
	cc, err := couch.New(srv.URL, c.Creds, c.HTTP)
	require.NoError(t, err)
	c.Client = cc

	out := c.Restart(context.Background(), ts)
	require.Len(t, out, len(ts))
	byID := map[string]Outcome{}
	for i, o := range out {
		byID[ts[i].DocID] = o
	}
	for _, id := range []string{"ok", "flaky-delete", "flaky-create"} {
		assert.NoError(t, byID[id].Err, id)
		assert.Equal(t, "recreated _replicator/"+id+", new job running", byID[id].Detail, id)
		assert.FileExists(t, byID[id].Backup, "backed up first")
		assert.Contains(t, f.docs[id], RestartedBy, "%s written again with a changed body", id)
	}
	assert.Equal(t, "delete", byID["changed"].Stage)
	assert.Contains(t, byID["changed"].Err.Error(), "_replicator/changed changed since it was read (conflict)")
	assert.Equal(t, "read", byID["gone"].Stage)
	assert.Contains(t, byID["gone"].Err.Error(), "/_replicator/gone")
	assert.Equal(t, "recreate", byID["unwritable"].Stage)
	assert.Contains(t, byID["unwritable"].Err.Error(), "deleted _replicator/unwritable but could not write it again")
	assert.Contains(t, byID["unwritable"].Err.Error(), byID["unwritable"].Backup, "names the backup to restore from")
	assert.NotContains(t, byID["unwritable"].Err.Error(), srcPassword)

	bulk := 0
	for _, r := range f.requests {
		assert.NotContains(t, r, "GET /_replicator/", "no document read one by one")
		if r == "POST /_replicator/_bulk_docs" {
			bulk++
		}
	}
	// deletes: 1 + 1 retry (flaky-delete); creates: 1 + 2 retries
	// (flaky-create, unwritable has 3 attempts in all).
	assert.Equal(t, 5, bulk, f.requests)
	require.Len(t, polls, 1, "one poll confirms every new job")
	assert.ElementsMatch(t, []string{"ok", "flaky-delete", "flaky-create"}, polls[0])
}

// editBetween serves f, and changes the document id right after the
// first POST _all_docs (someone edits it while the run works).
type editBetween struct {
	*fakeCouch
	id   string
	done bool
}

func (e *editBetween) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	e.fakeCouch.ServeHTTP(w, r)
	if !e.done && r.URL.Path == "/_replicator/_all_docs" {
		e.done = true
		e.mu.Lock()
		e.docs[e.id]["_rev"] = "4-edited"
		e.mu.Unlock()
	}
}

func TestCouchRestartPouchDB(t *testing.T) {
	// PouchDB Server ends a deleted document's job late and then marks
	// whatever document has that id "completed", and mixes up its own
	// writes when many documents change at once: the rewrites wait, and
	// go one at a time.
	f := newFakeCouch(nil)
	var ts []Target
	for _, id := range []string{"a", "b", "c"} {
		d := storedDoc()
		d["_id"], d["_rev"] = id, "3-abc"
		f.docs[id], f.revs[id] = d, 3
		ts = append(ts, Target{DocID: id, Database: "_replicator"})
	}
	c, _ := newExec(t, f, running)
	c.Settle, c.OneByOne = 300*time.Millisecond, true
	var deletedAt time.Time
	var deletes, writes int
	f.onBulk = func(deleting bool) {
		if deleting {
			deletes++
			deletedAt = time.Now()
			return
		}
		writes++
		assert.GreaterOrEqual(t, time.Since(deletedAt), c.Settle, "rewritten before the old jobs ended")
	}
	f.replicator = true
	for _, out := range c.Restart(context.Background(), ts) {
		require.NoError(t, out.Err)
	}
	assert.Equal(t, 1, deletes, "deleted together")
	assert.Equal(t, 3, writes, "written one by one")
}

func TestCouchRestartPouchDBCompletedIsRewritten(t *testing.T) {
	// A document PouchDB Server marked "completed" right after its
	// rewrite is rewritten once more; twice is a failure.
	for _, tt := range []struct {
		name      string
		completed int // polls that see "b" completed
		wantErr   string
	}{
		{"once", 1, ""},
		{"twice", 2, "recreated twice, but PouchDB Server marked it completed both times"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeCouch(nil)
			f.replicator = true
			var ts []Target
			for _, id := range []string{"a", "b"} {
				d := storedDoc()
				d["_id"], d["_rev"] = id, "3-abc"
				f.docs[id], f.revs[id] = d, 3
				ts = append(ts, Target{DocID: id, Database: "_replicator"})
			}
			left := tt.completed
			c, _ := newExec(t, f, func(ctx context.Context, ts []Target) (map[string]JobState, error) {
				out, _ := running(ctx, ts)
				if _, ok := out["_replicator/b"]; ok && left > 0 {
					left--
					out["_replicator/b"] = JobState{State: "completed"}
				}
				return out, nil
			})
			c.OneByOne = true
			out := c.Restart(context.Background(), ts)
			require.NoError(t, out[0].Err)
			if tt.wantErr == "" {
				require.NoError(t, out[1].Err)
				assert.Equal(t, "recreated _replicator/b, new job running", out[1].Detail)
				return
			}
			require.Error(t, out[1].Err)
			assert.Contains(t, out[1].Err.Error(), tt.wantErr)
		})
	}
}

func TestCouchRestartPouchDBOutOfTime(t *testing.T) {
	// One at a time takes a while on PouchDB Server; near the end of the
	// run the rest is written at once, never left deleted.
	f := newFakeCouch(nil) // no replicator: each wait for it runs out
	var ts []Target
	for _, id := range []string{"a", "b", "c", "d"} {
		d := storedDoc()
		d["_id"], d["_rev"] = id, "3-abc"
		f.docs[id], f.revs[id] = d, 3
		ts = append(ts, Target{DocID: id, Database: "_replicator"})
	}
	var writes []int
	f.onBulk = func(deleting bool) {
		if !deleting {
			writes = append(writes, 0)
		}
	}
	c, _ := newExec(t, f, running)
	c.OneByOne = true
	ctx, cancel := context.WithTimeout(context.Background(), oneByOneReserve+time.Second)
	defer cancel()
	for _, out := range c.Restart(ctx, ts) {
		require.NoError(t, out.Err)
	}
	for _, id := range []string{"a", "b", "c", "d"} {
		assert.Contains(t, f.docs, id, "%s written again", id)
	}
	assert.Len(t, writes, 2, "a alone, then b, c and d at once")
}
