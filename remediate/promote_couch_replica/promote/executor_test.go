package promote

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
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

	"github.com/registry-checks/registry-checks/lib/couch"
	"github.com/registry-checks/registry-checks/lib/httpclient"
	"github.com/registry-checks/registry-checks/lib/nagios"
	"github.com/registry-checks/registry-checks/lib/promotion"
	"github.com/registry-checks/registry-checks/lib/secret"
)

// docStore is a node that keeps documents by path: GET, PUT and DELETE.
func docStore(t *testing.T, docs map[string]map[string]any) *httptest.Server {
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		p := r.URL.Path
		doc, ok := docs[p]
		switch {
		case r.Method == http.MethodGet && ok:
			json.NewEncoder(w).Encode(doc)
		case r.Method == http.MethodGet && strings.HasSuffix(p, "/_security"):
			w.Write([]byte(`{}`)) // never set: CouchDB answers {}
		case r.Method == http.MethodPut:
			var in io.Reader = r.Body
			if r.Header.Get("Content-Encoding") == "gzip" { // kivik's
				z, err := gzip.NewReader(r.Body)
				if !assert.NoError(t, err) {
					return
				}
				in = z
			}
			var body map[string]any
			if !assert.NoError(t, json.NewDecoder(in).Decode(&body)) {
				return
			}
			if strings.HasSuffix(p, "/_security") {
				docs[p] = body
				w.Write([]byte(`{"ok":true}`))
				return
			}
			body["_rev"] = "1-fence"
			docs[p] = body
			w.Header().Set("ETag", `"1-fence"`)
			w.WriteHeader(http.StatusCreated)
			w.Write([]byte(`{"ok":true,"id":"` + strings.TrimPrefix(p, "/") + `","rev":"1-fence"}`))
		case r.Method == http.MethodDelete && ok:
			delete(docs, p)
			w.Header().Set("ETag", `"2-gone"`)
			w.Write([]byte(`{"ok":true,"id":"` + strings.TrimPrefix(p, "/") + `","rev":"2-gone"}`))
		default:
			w.WriteHeader(http.StatusNotFound)
			w.Write([]byte(`{"error":"not_found","reason":"missing"}`))
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// fence writes the fence design document where it is missing (or
// another document has its id) and the marker into _security, keeping
// what else _security holds, and counts the databases it changed;
// unfence removes both wherever either is.
func TestFenceAndUnfenceCount(t *testing.T) {
	fenceAt := func(db string) string { return "/" + db + "/" + promotion.FenceID }
	secAt := func(db string) string { return "/" + db + "/_security" }
	docs := map[string]map[string]any{
		fenceAt("a"): {"_rev": "1-x", "validate_doc_update": promotion.FenceFunction},
		secAt("a"):   {"members": map[string]any{"names": []any{"alice"}}, promotion.FenceMarker: map[string]any{"by": "earlier"}},
		fenceAt("b"): {"_rev": "1-y", "validate_doc_update": "function(){}"},
		secAt("b"):   {"members": map[string]any{"roles": []any{"_admin"}}},
	}
	srv := docStore(t, docs)
	hc, err := httpclient.New(httpclient.Options{}, httpclient.Config{})
	require.NoError(t, err)
	c, err := couch.New(srv.URL, secret.Credentials{User: "admin", Password: "secret"}, hc)
	require.NoError(t, err)
	e := &Executor{Clients: map[string]*couch.Client{c.URL(): c}, Topology: Topology{DBs: []string{"a", "b", "c", "d"}}, By: "test"}

	out, err := e.fence(context.Background(), c.URL())
	require.NoError(t, err)
	assert.Equal(t, "fenced 3 of 4 databases on "+promotion.Node(c.URL())+" (_design/registry-checks-fence and the registry_checks_fence marker in _security)", out)
	for _, db := range e.Topology.DBs {
		assert.Equal(t, promotion.FenceFunction, docs[fenceAt(db)]["validate_doc_update"], db)
		assert.Contains(t, docs[secAt(db)], promotion.FenceMarker, db)
	}
	assert.Equal(t, map[string]any{"roles": []any{"_admin"}}, docs[secAt("b")]["members"], "the rest of _security is kept")
	delete(docs, fenceAt("c"))

	out, err = e.unfence(context.Background(), c.URL())
	require.NoError(t, err)
	assert.Equal(t, "fence removed from 4 databases on "+promotion.Node(c.URL()), out)
	for _, db := range e.Topology.DBs {
		assert.NotContains(t, docs, fenceAt(db))
		assert.NotContains(t, docs[secAt(db)], promotion.FenceMarker, db)
	}
	assert.Equal(t, map[string]any{"members": map[string]any{"names": []any{"alice"}}}, docs[secAt("a")])

	_, err = e.fence(context.Background(), "http://elsewhere")
	assert.ErrorContains(t, err, "no client for http://elsewhere")
}

// A backup is named as restart_couch_replication names its own (the
// server's ids are untrusted: only [A-Za-z0-9._-] reach the file name),
// mode 600, once per document.
func TestBackupNames(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 11, 30, 14, 0, 0, 0, time.UTC)
	e := &Executor{BackupDir: dir, Backups: map[string]string{}, Now: func() time.Time { return now }}
	p := Pull{Node: "http://127.0.0.1:15984", ReplicatorDB: "_replicator", ID: "pull registry\n*from* node1"}
	name, err := e.backup(p, json.RawMessage(`{"_id":"x"}`))
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(dir, "127.0.0.1_15984", "_replicator", "pull_registry_from_node1.20261130T140000.000000000Z.json"), name)
	fi, err := os.Stat(name)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	again, err := e.backup(p, json.RawMessage(`{"_id":"y"}`))
	require.NoError(t, err)
	assert.Equal(t, name, again, "the first backup is kept")
}

// A logged step is one logfmt line whatever the server's text holds.
func TestLineIsOneLine(t *testing.T) {
	r := Record{Step: Step{N: 3, Kind: Fence, Text: "fence", Node: "http://db1:5984"}, Status: "failed", Seconds: 1.5,
		Error: "{forbidden,\n    <<\"no\">>}"}
	assert.Equal(t, `run=R phase=forward step=3 kind=fence status=failed node=http://db1:5984 seconds=1.500 msg="fence: {forbidden, <<\"no\">>}"`,
		Line("R", PhaseForward, r))
}

// Every number of a run's perfdata is a field: the run's on
// couch_promotion_run, each step's seconds on its couch_promotion_step.
func TestPerfdataIsLineProtocol(t *testing.T) {
	st := &State{Run: "R", Mode: ModeRehearse, Phase: PhaseRolledBack, Topology: Topology{Old: "http://db1:5984", New: "http://db3:5984"},
		Forward:  []Record{{Step: Step{N: 1, Kind: Fence}, Status: "done", Seconds: 0.25}, {Step: Step{N: 2, Kind: CatchUp}, Status: "done", Seconds: 1}},
		Rollback: []Record{{Step: Step{N: 1, Kind: UnfenceOld}, Status: "done", Seconds: 0.5}}}
	res := result(st)
	pts := nagios.Points(res, time.Unix(0, 0))
	require.Len(t, pts, 4)
	assert.Equal(t, MeasurementRun, pts[0].Measurement)
	assert.Equal(t, map[string]any{"promotion_seconds": 1.25, "rollback_seconds": 0.5, "total_seconds": 1.75, "state": int64(0)}, pts[0].Fields)
	subs := 0
	for i, sub := range res.Subs {
		for _, p := range sub.Perf {
			subs++
			assert.Equal(t, MeasurementStep, pts[i+1].Measurement)
			assert.Equal(t, p.Value, pts[i+1].Fields["seconds"], p.Label)
		}
	}
	assert.Equal(t, 3, subs)
}

// A site command's output is redacted before it is cut for the log: a
// secret straddling the 1 KiB cut leaves none of itself behind.
func TestRunShellRedactsBeforeTheCut(t *testing.T) {
	const pw = "Sup3rSecretPassw0rd"
	red := &secret.Redactor{}
	red.Add(pw)
	shell := RunShell(red)
	for _, pad := range []int{1010, 1015, 1020} {
		out, err := shell(context.Background(), `printf '%s' "$PAD$PW"`, []string{"PAD=" + strings.Repeat("a", pad), "PW=" + pw})
		require.NoError(t, err)
		assert.LessOrEqual(t, len(out), 1024)
		for i := 0; i+6 <= len(pw); i++ {
			assert.NotContains(t, out, pw[i:i+6], "pad %d", pad)
		}
	}
}

func TestRunShellSanitizes(t *testing.T) {
	// A site command's output reaches the state file, the log and chat:
	// no escape sequence or bidi override survives.
	out, err := RunShell(&secret.Redactor{})(context.Background(), `printf '\033[31mred\342\200\256txet'`, nil)
	require.NoError(t, err)
	assert.NotContains(t, out, "\x1b")
	assert.NotContains(t, out, "\u202e")
	assert.Contains(t, out, "red")
}
