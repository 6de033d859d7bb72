package main

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/registry-checks/registry-checks/test/stackenv"
)

const (
	testUser     = "monitor"
	testPassword = "s3cret-Pa55-word"
)

func testdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	return b
}

// The design documents of the capture's node1/registry, as _all_docs
// with include_docs returns them.
const designDocs = `{"total_rows":20054,"offset":0,"rows":[
{"id":"_design/app","key":"_design/app","value":{"rev":"1-a"},"doc":{"_id":"_design/app","_rev":"1-a","language":"javascript","views":{"by_name":{"map":"function (doc) { if (doc.name) emit(doc.name, null); }"},"by_author":{"map":"function (doc) { if (doc.author) emit(doc.author.name, 1); }","reduce":"_count"}}}},
{"id":"_design/search","key":"_design/search","value":{"rev":"1-b"},"doc":{"_id":"_design/search","_rev":"1-b","language":"javascript","views":{"by_keyword":{"map":"function (doc) { (doc.keywords || []).forEach(function (k) { emit(k, 1); }); }","reduce":"_count"}}}}
]}`

// fake3x is node1 of the capture after the bulk load, while _design/search
// is being built; brokenView answers 500 like a crashed query server.
type fake3x struct {
	t          testing.TB
	brokenView string
	mu         sync.Mutex
	queries    []string
}

func (f *fake3x) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	if u, p, ok := r.BasicAuth(); !ok || u != testUser || p != testPassword {
		w.WriteHeader(401)
		_, _ = w.Write([]byte(`{"error":"unauthorized","reason":"Name or password is incorrect."}`))
		return
	}
	send := func(code int, body []byte) {
		w.WriteHeader(code)
		_, _ = w.Write(body)
	}
	switch p := r.URL.Path; {
	case p == "/registry":
		send(200, testdata(f.t, "node1.db-info.registry.after-bulk-load.json"))
	case p == "/registry/_all_docs":
		assert.Equal(f.t, `"_design/"`, r.URL.Query().Get("startkey"))
		assert.Equal(f.t, `"_design0"`, r.URL.Query().Get("endkey"))
		send(200, []byte(designDocs))
	case p == "/registry/_design/app/_info":
		send(200, testdata(f.t, "node1.view-info.registry-app.after-bulk-load.json"))
	case p == "/registry/_design/search/_info":
		send(200, testdata(f.t, "node1.view-info.registry-search.building.json"))
	case strings.Contains(p, "/_view/"):
		f.mu.Lock()
		f.queries = append(f.queries, p+"?"+r.URL.RawQuery)
		f.mu.Unlock()
		if strings.HasSuffix(p, "/"+f.brokenView) && f.brokenView != "" {
			send(500, []byte(`{"error":"os_process_error","reason":"{exit_status,1}"}`))
			return
		}
		send(200, testdata(f.t, "node1.view-query.registry-search.update-false.json"))
	default:
		send(404, []byte(`{"error":"not_found","reason":"missing"}`))
	}
}

// head is the first line without its perfdata.
func head(out string) string {
	line, _, _ := strings.Cut(out, "\n")
	line, _, _ = strings.Cut(line, " | ")
	return line
}

func credentialsFile(t testing.TB, user, password string) string {
	p := filepath.Join(t.TempDir(), "couch.cred")
	require.NoError(t, os.WriteFile(p, []byte(user+":"+password+"\n"), 0o600))
	return p
}

func runCheck(t testing.TB, args ...string) (int, string) {
	var buf bytes.Buffer
	code := run(append(args, "--spool-dir", t.TempDir()), &buf)
	return code, buf.String()
}

func TestRun3x(t *testing.T) {
	f := &fake3x{t: t}
	ts := httptest.NewServer(f)
	defer ts.Close()
	code, out := runCheck(t, "-u", ts.URL, "--credentials-file", credentialsFile(t, testUser, testPassword), "-d", "registry", "--warning-lag", "10000", "--critical-lag", "50000")
	assert.Equal(t, 1, code, out)
	// Only the figure that crossed, once; the rest in the long output.
	assert.Equal(t, "COUCH_VIEWS WARNING - 2 of 2 design documents failing: _design/app 19500 changes behind, _design/search 11568 changes behind", head(out))
	assert.Contains(t, out, "\nWARNING _design/search: 11568 changes behind\n  index: 59% fragmented (716.6 KiB of 1.2 MiB), updater running, 2 clients waiting\n")
	assert.Contains(t, out, "lag: updates_pending.total")
	assert.Contains(t, out, "'search lag'=11568;10000;50000")
	assert.Contains(t, out, "'search updater_running'=1")
	assert.ElementsMatch(t, []string{
		"/registry/_design/app/_view/by_author?limit=1&reduce=false&update=false",
		"/registry/_design/app/_view/by_name?limit=1&update=false",
		"/registry/_design/search/_view/by_keyword?limit=1&reduce=false&update=false",
	}, f.queries)
	assert.NotContains(t, out, testPassword)
}

// Without --warning-lag/--critical-lag an index far behind the database
// is not OK: the defaults (10000, 50000 changes) apply. 49,500 changes is
// the case of issue 17, a lag an updating query would wait on for
// minutes with packument-sized documents.
func TestRunDefaultLagThresholds(t *testing.T) {
	for _, tt := range []struct {
		lag  int
		code int
	}{{0, 0}, {9999, 0}, {10001, 1}, {49500, 1}, {50001, 2}} {
		t.Run(fmt.Sprint(tt.lag), func(t *testing.T) {
			info := fmt.Sprintf(`{"name":"app","view_index":{"updates_pending":{"minimum":%d,"preferred":%d,"total":%d},"waiting_clients":0,"updater_running":false,"update_seq":1,"sizes":{"file":49558,"external":24065,"active":25912},"language":"javascript","compact_running":false}}`, tt.lag, tt.lag, tt.lag)
			f := &fake3x{t: t}
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				switch r.URL.Path {
				case "/registry/_design/app/_info":
					w.Header().Set("Content-Type", "application/json")
					_, _ = w.Write([]byte(info))
				case "/registry/_design/search/_info":
					w.Header().Set("Content-Type", "application/json")
					_, _ = w.Write(testdata(t, "node1.view-info.registry-search.built.json"))
				default:
					f.ServeHTTP(w, r)
				}
			}))
			defer ts.Close()
			code, out := runCheck(t, "-u", ts.URL, "--credentials-file", credentialsFile(t, testUser, testPassword), "-d", "registry")
			assert.Equal(t, tt.code, code, out)
			assert.Contains(t, out, fmt.Sprintf("'app lag'=%d;10000;50000", tt.lag))
		})
	}
}

func TestRunBrokenViewAndLineProtocol(t *testing.T) {
	f := &fake3x{t: t, brokenView: "by_keyword"}
	ts := httptest.NewServer(f)
	defer ts.Close()
	cred := credentialsFile(t, testUser, testPassword)
	code, out := runCheck(t, "-u", ts.URL, "--credentials-file", cred, "-d", "registry", "--ddoc", "search")
	assert.Equal(t, 2, code, out)
	// 11568 changes behind: WARNING under the default --warning-lag 10000.
	assert.Equal(t, "COUCH_VIEWS CRITICAL - _design/search view by_keyword failing (500 Internal Server Error), 11568 changes behind", head(out))
	assert.Contains(t, out, "\n  CRITICAL by_keyword: GET "+ts.URL+
		"/registry/_design/search/_view/by_keyword?limit=1&reduce=false&update=false: server error 500 Internal Server Error ({exit_status,1})\n")
	assert.Contains(t, out, "'search/by_keyword ms'=U")

	// 19500 changes behind: WARNING under the default --warning-lag 10000.
	code, out = runCheck(t, "-u", ts.URL, "--credentials-file", cred, "-d", "registry", "--ddoc", "app", "--output", "influx")
	assert.Equal(t, 1, code, out)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 3, out)
	assert.True(t, strings.HasPrefix(lines[0], "couch_view_index,db=registry,ddoc=app,url=http://127.0.0.1:"), lines[0])
	for _, field := range []string{"lag=19500i", "file_bytes=49558i", "active_bytes=25912i", "fragmentation_pct=47.7", "updater_running=0i", "compact_running=0i", "waiting_clients=0i", "state=1i"} {
		assert.Contains(t, lines[0], field)
	}
	assert.True(t, strings.HasPrefix(lines[1], "couch_view,db=registry,ddoc=app,url=http://127.0.0.1:"), lines[1])
	assert.Contains(t, lines[1], ",view=by_author ")
	assert.Contains(t, lines[1], "query_ms=")
	assert.Contains(t, lines[1], "rows=0i")
}

func TestRunErrors(t *testing.T) {
	ts := httptest.NewServer(&fake3x{t: t})
	defer ts.Close()
	code, out := runCheck(t, "-u", ts.URL, "--credentials-file", credentialsFile(t, testUser, "wrong-"+testPassword), "-d", "registry")
	assert.Equal(t, 3, code)
	assert.Contains(t, out, "COUCH_VIEWS UNKNOWN - GET "+ts.URL+"/registry: authentication failed for user monitor")
	assert.NotContains(t, out, testPassword)

	code, out = runCheck(t, "-u", ts.URL, "--credentials-file", credentialsFile(t, testUser, testPassword), "-d", "npm")
	assert.Equal(t, 2, code)
	assert.Equal(t, "COUCH_VIEWS CRITICAL - database npm not found\nGET "+ts.URL+"/npm: not found: 404 Not Found (not_found: missing)\n", out)

	code, out = runCheck(t, "-u", ts.URL)
	assert.Equal(t, 3, code)
	assert.Contains(t, out, "COUCH_VIEWS UNKNOWN - bad arguments: the required flag `-d, --db' was not specified")

	code, out = runCheck(t, "-d", "registry", "--query-mode", "never")
	assert.Equal(t, 3, code)
	assert.Contains(t, out, "--query-mode")
}

// Against the stack's primary, with the user docs/quickstart.md names for
// this check: on Apache CouchDB a plain member of the database (the
// stack's non-admin reader; its registry is public to read, as npm's is),
// whose design-document _info gives the index's lag, size and
// fragmentation (the seeded index is compacted), with the views queried
// with update=false. pouchdb-server has no design-document _info
// (view_index "Not implemented."), so the index figures are U and said to
// be unmeasurable, while both views of _design/app are queried with
// stale=ok.
func TestCheckViewsIntegration(t *testing.T) {
	env := stackenv.Need(t, "COUCH_PRIMARY_URL", "COUCH_CREDENTIALS_FILE")
	creds := env["COUCH_CREDENTIALS_FILE"]
	if stackenv.RealCouchDB(env) {
		creds = env["COUCH_READER_CREDENTIALS_FILE"]
		require.NotEmpty(t, creds, "the stack names its reader in COUCH_READER_CREDENTIALS_FILE")
	}
	code, out := runCheck(t, "-u", env["COUCH_PRIMARY_URL"], "--credentials-file", creds, "-d", "registry", "--ddoc", "app", "-v")
	assert.Equal(t, 0, code, out)
	if stackenv.RealCouchDB(env) {
		assert.Regexp(t, `^COUCH_VIEWS OK - 1 design document of registry OK \| 'app lag'=[0-9]+;`, out)
		assert.Regexp(t, `'app fragmentation'=[0-9.]+%`, out)
		assert.Regexp(t, `OK by_name: [0-9.]+ ms \(update=false\)`, out)
		assert.Regexp(t, `OK by_author: [0-9.]+ ms \(update=false\)`, out)
	} else {
		assert.True(t, strings.HasPrefix(out, "COUCH_VIEWS OK - 1 design document of registry OK | 'app lag'=U"), out)
		assert.Contains(t, out, `the server has no design-document _info (view_index: "Not implemented."; pouchdb-server)`)
		assert.Regexp(t, `OK by_name: [0-9.]+ ms \(stale=ok\)`, out)
		assert.Regexp(t, `OK by_author: [0-9.]+ ms \(stale=ok\)`, out)
	}
	assert.Regexp(t, `'app/by_name rows'=1\b`, out, "the seeded registry has packages to read")
	assert.NotContains(t, out, env["COUCH_ADMIN_PASSWORD"])
	assert.NotContains(t, out, env["COUCH_READER_PASSWORD"])

	code, out = runCheck(t, "-u", env["COUCH_PRIMARY_URL"], "--credentials-file", creds, "-d", "registry", "--ddoc", "no-such-ddoc")
	assert.Equal(t, 2, code, out)
	assert.Contains(t, out, "_design/no-such-ddoc design document not found")

	code, out = runCheck(t, "-u", env["COUCH_PRIMARY_URL"], "--credentials-file", creds, "-d", "registry", "--ddoc", "app", "--update-query", "--no-query")
	assert.Equal(t, 0, code, out)
	assert.Regexp(t, `updating query [0-9.]+ ms`, out)
}
