package restart

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
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
	putFails int // PUTs to answer 500 before one succeeds
	posts    []map[string]any
}

func newFakeCouch(doc map[string]any) *fakeCouch {
	f := &fakeCouch{docs: map[string]map[string]any{}, revs: map[string]int{}}
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

func running(context.Context, Target) (string, bool, error) { return "running", true, nil }

func TestCouchRestartDoc(t *testing.T) {
	f := newFakeCouch(storedDoc())
	c, _ := newExec(t, f, running)
	out, err := c.Restart(context.Background(), Target{Key: "_replicator/registry-from-primary", DocID: "registry-from-primary", Database: "_replicator", Reason: "crashing: source unreachable"})
	require.NoError(t, err)
	assert.Equal(t, []string{"GET /_replicator/registry-from-primary", "DELETE /_replicator/registry-from-primary", "PUT /_replicator/registry-from-primary"}, f.requests,
		"only the replication document is deleted, once")
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
		_, err := c.Restart(context.Background(), Target{DocID: "nope", Database: "_replicator"})
		require.Error(t, err)
		assert.Contains(t, err.Error(), "/_replicator/nope")
		assert.Equal(t, []string{"GET /_replicator/nope"}, f.requests, "nothing is deleted")
	})
	t.Run("PUT fails after the delete: says where the backup is", func(t *testing.T) {
		f := newFakeCouch(storedDoc())
		f.putFails = 5
		c, _ := newExec(t, f, running)
		out, err := c.Restart(context.Background(), Target{DocID: "registry-from-primary", Database: "_replicator"})
		require.Error(t, err)
		assert.Contains(t, err.Error(), "deleted _replicator/registry-from-primary but could not write it again")
		assert.Contains(t, err.Error(), out.Backup)
		assert.NotContains(t, err.Error(), srcPassword)
	})
	t.Run("PUT fails once: retried", func(t *testing.T) {
		f := newFakeCouch(storedDoc())
		f.putFails = 1
		c, _ := newExec(t, f, running)
		_, err := c.Restart(context.Background(), Target{DocID: "registry-from-primary", Database: "_replicator"})
		require.NoError(t, err)
		assert.NotNil(t, f.docs["registry-from-primary"])
	})
	t.Run("new job never runs", func(t *testing.T) {
		f := newFakeCouch(storedDoc())
		c, _ := newExec(t, f, func(context.Context, Target) (string, bool, error) { return "initializing", false, nil })
		c.ConfirmWithin = 300 * time.Millisecond
		out, err := c.Restart(context.Background(), Target{DocID: "registry-from-primary", Database: "_replicator"})
		require.Error(t, err)
		assert.Contains(t, err.Error(), "no running job within 300ms (state initializing)")
		assert.NotEmpty(t, out.Backup)
	})
}

func TestCouchRestartTransient(t *testing.T) {
	f := newFakeCouch(nil)
	c, _ := newExec(t, f, nil)
	spec := json.RawMessage(`{"source":"http://admin:` + srcPassword + `@db1:5984/registry","target":"registry-transient","continuous":true}`)
	out, err := c.Restart(context.Background(), Target{Key: "transient:x", Transient: true, Spec: spec})
	require.NoError(t, err)
	require.Len(t, f.posts, 2)
	assert.Equal(t, true, f.posts[0]["cancel"], "the old job is cancelled first")
	assert.NotContains(t, f.posts[1], "cancel")
	assert.Equal(t, "registry-transient", f.posts[1]["target"])
	assert.Contains(t, out.Detail, "re-posted transient replication transient:x (job abc+continuous)")

	_, err = c.Restart(context.Background(), Target{Key: "transient:x", Transient: true})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "--transient-spec")
}

func TestDryRun(t *testing.T) {
	out, err := DryRun{}.Restart(context.Background(), Target{DocID: "r", Database: "_replicator"})
	require.NoError(t, err)
	assert.Equal(t, "dry run: would delete and recreate _replicator/r", out.Detail)
}
