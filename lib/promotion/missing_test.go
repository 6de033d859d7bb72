package promotion_test

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/registry-checks/registry-checks/lib/promotion"
)

// copyServers are a source and a target for Copy. The source answers
// POST /registry/_bulk_get with bulkGet (status 0: it has _bulk_get) and
// each GET of a revision from revisions; the target records the
// documents of POST /registry/_bulk_docs.
type copyServers struct {
	mu       sync.Mutex
	requests []string
	written  []map[string]any
	body     []map[string]any // the last _bulk_docs body
}

func newCopyServers(t *testing.T, bulkGet int, bulkGetBody string, revisions map[string]string) (*copyServers, *httptest.Server, *httptest.Server) {
	cs := &copyServers{}
	src := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cs.mu.Lock()
		cs.requests = append(cs.requests, r.Method+" "+r.URL.Path+"?"+r.URL.RawQuery+" accept="+r.Header.Get("Accept"))
		cs.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.Method == http.MethodPost && r.URL.Path == "/registry/_bulk_get":
			if bulkGet != 0 {
				w.WriteHeader(bulkGet)
				w.Write([]byte(bulkGetBody))
				return
			}
			var req struct {
				Docs []struct{ ID, Rev string }
			}
			if !assert.NoError(t, json.NewDecoder(requestBody(t, r)).Decode(&req)) {
				w.WriteHeader(http.StatusBadRequest)
				return
			}
			var results []string
			for _, d := range req.Docs {
				doc, ok := revisions[d.ID+"@"+d.Rev]
				switch {
				case !ok:
					// CouchDB's row for a revision it does not have.
					results = append(results, `{"id":"`+d.ID+`","docs":[{"error":{"id":"`+d.ID+`","rev":"`+d.Rev+`","error":"not_found","reason":"missing"}}]}`)
				case strings.HasPrefix(doc, `{"error"`):
					results = append(results, `{"id":"`+d.ID+`","docs":[{"error":{"id":"`+d.ID+`","rev":"`+d.Rev+`",`+strings.TrimPrefix(doc, "{")+`}]}`)
				default:
					results = append(results, `{"id":"`+d.ID+`","docs":[{"ok":`+doc+`}]}`)
				}
			}
			w.Write([]byte(`{"results":[` + strings.Join(results, ",") + `]}`))
		case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/registry/"):
			doc, ok := revisions[strings.TrimPrefix(r.URL.Path, "/registry/")+"@"+r.URL.Query().Get("rev")]
			if !ok {
				w.WriteHeader(http.StatusNotFound)
				w.Write([]byte(`{"error":"not_found","reason":"missing"}`))
				return
			}
			if strings.HasPrefix(doc, `{"error"`) {
				w.WriteHeader(http.StatusNotFound)
			}
			w.Write([]byte(doc))
		default:
			w.WriteHeader(http.StatusNotFound)
			w.Write([]byte(`{"error":"not_found","reason":"missing"}`))
		}
	}))
	t.Cleanup(src.Close)
	tgt := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/registry/_bulk_docs" {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		var req struct {
			Docs     []map[string]any `json:"docs"`
			NewEdits *bool            `json:"new_edits"`
		}
		if !assert.NoError(t, json.NewDecoder(requestBody(t, r)).Decode(&req)) || !assert.NotNil(t, req.NewEdits) {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		assert.False(t, *req.NewEdits)
		cs.mu.Lock()
		cs.written = append(cs.written, req.Docs...)
		cs.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`[]`))
	}))
	t.Cleanup(tgt.Close)
	return cs, src, tgt
}

// requestBody is the body of r, gunzipped when the client compressed it.
func requestBody(t *testing.T, r *http.Request) io.Reader {
	if r.Header.Get("Content-Encoding") != "gzip" {
		return r.Body
	}
	zr, err := gzip.NewReader(r.Body)
	assert.NoError(t, err)
	return zr
}

const (
	pkgRev2   = `{"_id":"pkg","_rev":"2-b","_revisions":{"start":2,"ids":["b","a"]},"name":"pkg","_attachments":{"pkg-1.0.0.tgz":{"content_type":"application/octet-stream","revpos":2,"digest":"md5-x","data":"dGFyYmFsbA=="}}}`
	otherRev1 = `{"_id":"other","_rev":"1-c","_revisions":{"start":1,"ids":["c"]}}`
)

func TestCopyWithoutBulkGet(t *testing.T) {
	// CouchDB 1.6 has no _bulk_get: it takes the name for a document id
	// and refuses it. Copy then reads each revision, as JSON with its
	// attachments inline, and skips one that is gone.
	cs, src, tgt := newCopyServers(t, http.StatusBadRequest, `{"error":"bad_request","reason":"Only reserved document ids may start with underscore."}`,
		map[string]string{"pkg@2-b": pkgRev2, "other@1-c": otherRev1})
	n, err := promotion.Copy(context.Background(), client(t, src.URL), client(t, tgt.URL), "registry",
		map[string][]string{"pkg": {"2-b"}, "other": {"1-c"}, "gone": {"3-z"}})
	require.NoError(t, err)
	assert.Equal(t, 2, n)
	ids := []string{}
	for _, d := range cs.written {
		ids = append(ids, d["_id"].(string))
	}
	assert.ElementsMatch(t, []string{"pkg", "other"}, ids)
	for _, d := range cs.written {
		if d["_id"] == "pkg" {
			assert.Equal(t, "dGFyYmFsbA==", d["_attachments"].(map[string]any)["pkg-1.0.0.tgz"].(map[string]any)["data"], "the attachment inline")
			assert.NotNil(t, d["_revisions"], "the history")
		}
	}
	gets := 0
	for _, r := range cs.requests {
		if strings.HasPrefix(r, "GET ") {
			gets++
			assert.Contains(t, r, "revs=true")
			assert.Contains(t, r, "attachments=true")
			assert.Contains(t, r, "accept=application/json")
			assert.NotContains(t, r, "multipart")
		}
	}
	assert.Equal(t, 3, gets, "one GET per revision: %v", cs.requests)
	assert.Equal(t, 1, strings.Count(strings.Join(cs.requests, "\n"), "POST /registry/_bulk_get"), "asked once, not again per batch")
}

func TestCopyWithBulkGet(t *testing.T) {
	cs, src, tgt := newCopyServers(t, 0, "", map[string]string{"pkg@2-b": pkgRev2, "other@1-c": otherRev1})
	n, err := promotion.Copy(context.Background(), client(t, src.URL), client(t, tgt.URL), "registry",
		map[string][]string{"pkg": {"2-b"}, "other": {"1-c"}, "gone": {"3-z"}})
	require.NoError(t, err)
	assert.Equal(t, 2, n)
	assert.Len(t, cs.written, 2)
	for _, r := range cs.requests {
		assert.True(t, strings.HasPrefix(r, "POST /registry/_bulk_get"), "no per-revision GET: %s", r)
	}
}

func TestCopyWithoutBulkGetNoDatabase(t *testing.T) {
	// A 404 about the database is an error, never "nothing to copy".
	_, src, tgt := newCopyServers(t, http.StatusNotFound, `{"error":"not_found","reason":"no_db_file"}`,
		map[string]string{"pkg@2-b": `{"error":"not_found","reason":"no_db_file"}`})
	n, err := promotion.Copy(context.Background(), client(t, src.URL), client(t, tgt.URL), "registry",
		map[string][]string{"pkg": {"2-b"}})
	require.Error(t, err)
	assert.Zero(t, n)
	assert.Contains(t, err.Error(), "/registry/pkg")
}

func TestCopyBulkGetServerError(t *testing.T) {
	// A server that has _bulk_get and fails is an error, not a reason to
	// read one revision at a time.
	cs, src, tgt := newCopyServers(t, http.StatusInternalServerError, `{"error":"unknown_error","reason":"function_clause"}`,
		map[string]string{"pkg@2-b": pkgRev2})
	_, err := promotion.Copy(context.Background(), client(t, src.URL), client(t, tgt.URL), "registry",
		map[string][]string{"pkg": {"2-b"}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "_bulk_get")
	assert.Empty(t, cs.written)
}

func TestCopyBulkGetRowError(t *testing.T) {
	// A row the source refuses is an error of the copy, never a revision
	// skipped as if compacted away.
	cs, src, tgt := newCopyServers(t, 0, "", map[string]string{"pkg@2-b": `{"error":"forbidden","reason":"not for you"}`, "other@1-c": otherRev1})
	_, err := promotion.Copy(context.Background(), client(t, src.URL), client(t, tgt.URL), "registry",
		map[string][]string{"pkg": {"2-b"}, "other": {"1-c"}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "_bulk_get")
	assert.Empty(t, cs.written)
}
