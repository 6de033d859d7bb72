package main

import (
	"bytes"
	"crypto/sha1" //nolint:gosec // npm's shasum
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const password = "tarball-Secret-99"

type pkgVersion struct {
	name, version string
	body          []byte
	published     time.Time
}

func tgz(name, version string) []byte {
	return bytes.Repeat([]byte(name+"@"+version+"\n"), 400)
}

var seed = []pkgVersion{
	{"left-pad-lite", "1.0.0", tgz("left-pad-lite", "1.0.0"), time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)},
	{"left-pad-lite", "1.2.0", tgz("left-pad-lite", "1.2.0"), time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)},
	{"is-odd-number", "2.0.0", tgz("is-odd-number", "2.0.0"), time.Date(2024, 2, 1, 0, 0, 0, 0, time.UTC)},
	{"@scope/tiny", "0.1.0", tgz("@scope/tiny", "0.1.0"), time.Date(2024, 4, 1, 0, 0, 0, 0, time.UTC)},
}

func tarballPath(name, version string) string {
	base := name
	if i := strings.LastIndex(name, "/"); i >= 0 {
		base = name[i+1:]
	}
	return "/" + name + "/-/" + base + "-" + version + ".tgz"
}

func sri(b []byte) string {
	s := sha512.Sum512(b)
	return "sha512-" + base64.StdEncoding.EncodeToString(s[:])
}

func shasum(b []byte) string {
	s := sha1.Sum(b) //nolint:gosec // npm's shasum
	return hex.EncodeToString(s[:])
}

// packuments builds the registry documents of seed, npm-shaped, with the
// tarballs as attachment stubs.
func packuments() map[string]map[string]any {
	docs := map[string]map[string]any{}
	for _, pv := range seed {
		d, ok := docs[pv.name]
		if !ok {
			d = map[string]any{"_id": pv.name, "_rev": "1-abc", "name": pv.name, "dist-tags": map[string]string{},
				"versions": map[string]any{}, "time": map[string]string{"created": "2023-01-01T00:00:00.000Z"}, "_attachments": map[string]any{}}
			docs[pv.name] = d
		}
		d["dist-tags"].(map[string]string)["latest"] = pv.version
		p := tarballPath(pv.name, pv.version)
		d["versions"].(map[string]any)[pv.version] = map[string]any{"name": pv.name, "version": pv.version,
			"dist": map[string]string{"tarball": "https://registry.example.com" + p, "shasum": shasum(pv.body), "integrity": sri(pv.body)}}
		d["time"].(map[string]string)[pv.version] = pv.published.Format(time.RFC3339Nano)
		d["time"].(map[string]string)["modified"] = pv.published.Format(time.RFC3339Nano)
		d["_attachments"].(map[string]any)[p[strings.LastIndex(p, "/")+1:]] = map[string]any{"content_type": "application/octet-stream", "length": len(pv.body), "stub": true, "digest": "md5-x"}
	}
	return docs
}

func findBody(path string) []byte {
	for _, pv := range seed {
		if tarballPath(pv.name, pv.version) == path {
			return pv.body
		}
	}
	return nil
}

// fakeCouch serves the registry database; attachmentHandler overrides the
// attachment answer when set.
type fakeCouch struct {
	attachmentStatus int
	sawAuth          atomic.Bool
	// unpublished: tombstones changed after every package (a spam
	// cleanup), listed first in the descending feed; limits asked: the
	// limit of each _changes request
	unpublished int
	mu          sync.Mutex
	limitsAsked []string
	notPackages int // documents with no versions, changed last
}

func (f *fakeCouch) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if u, p, ok := r.BasicAuth(); ok && u == "monitor" && p == password {
		f.sawAuth.Store(true)
	}
	docs := packuments()
	docs["converge-1"] = map[string]any{"_id": "converge-1", "_rev": "1-a", "n": 1}
	// check_couch_replication's, when --heartbeat-db names the registry
	docs["heartbeat-vm"] = map[string]any{"_id": "heartbeat-vm", "_rev": "1-a", "type": "heartbeat", "host": "vm", "written": "2026-11-30T12:00:00Z", "nonce": "ab"}
	path := strings.TrimPrefix(r.URL.EscapedPath(), "/registry/")
	w.Header().Set("Content-Type", "application/json")
	if path == "_changes" {
		rows := []map[string]any{
			{"seq": "11-x", "id": "heartbeat-vm", "changes": []map[string]string{{"rev": "1-a"}}},
			{"seq": "10-x", "id": "converge-1", "changes": []map[string]string{{"rev": "1-a"}}},
			{"seq": "9-x", "id": "@scope/tiny", "changes": []map[string]string{{"rev": "1-a"}}},
			{"seq": "8-x", "id": "_design/app", "changes": []map[string]string{{"rev": "1-a"}}},
			{"seq": "7-x", "id": "gone", "deleted": true, "changes": []map[string]string{{"rev": "2-a"}}},
			{"seq": "6-x", "id": "left-pad-lite", "changes": []map[string]string{{"rev": "1-a"}}},
			{"seq": "5-x", "id": "is-odd-number", "changes": []map[string]string{{"rev": "1-a"}}},
		}
		var burst []map[string]any
		for i := range f.notPackages {
			burst = append(burst, map[string]any{"seq": fmt.Sprintf("%d-y", 100000-i), "id": fmt.Sprintf("test-doc-%05d", i), "changes": []map[string]string{{"rev": "1-a"}}})
		}
		for i := range f.unpublished {
			burst = append(burst, map[string]any{"seq": fmt.Sprintf("%d-z", 50000-i), "id": fmt.Sprintf("spam-%05d", i), "deleted": true, "changes": []map[string]string{{"rev": "2-a"}}})
		}
		rows = append(burst, rows...)
		f.mu.Lock()
		f.limitsAsked = append(f.limitsAsked, r.URL.Query().Get("limit"))
		f.mu.Unlock()
		if l, err := strconv.Atoi(r.URL.Query().Get("limit")); err == nil && l < len(rows) {
			rows = rows[:l]
		}
		json.NewEncoder(w).Encode(map[string]any{"results": rows, "last_seq": "9-x", "pending": 0})
		return
	}
	parts := strings.Split(path, "/")
	for i := range parts {
		parts[i] = unescape(parts[i])
	}
	switch len(parts) {
	case 1:
		if d, ok := docs[parts[0]]; ok {
			json.NewEncoder(w).Encode(d)
			return
		}
		if strings.HasPrefix(parts[0], "test-doc-") {
			json.NewEncoder(w).Encode(map[string]any{"_id": parts[0], "_rev": "1-a", "writer": "a test"})
			return
		}
	case 2:
		if _, ok := docs[parts[0]]; ok {
			if f.attachmentStatus != 0 {
				w.WriteHeader(f.attachmentStatus)
				fmt.Fprintf(w, `{"error":"not_found","reason":"Document is missing attachment"}`)
				return
			}
			ver := strings.TrimSuffix(parts[1][strings.LastIndex(parts[1], "-")+1:], ".tgz")
			if b := findBody(tarballPath(parts[0], ver)); b != nil {
				w.Header().Set("Content-Type", "application/octet-stream")
				w.Header().Set("ETag", `"`+shasum(b)+`"`)
				w.Write(b)
				return
			}
		}
	}
	w.WriteHeader(http.StatusNotFound)
	fmt.Fprint(w, `{"error":"not_found","reason":"missing"}`)
}

func unescape(s string) string {
	u, _ := url.PathUnescape(s)
	return u
}

// origin is one nginx-like origin.
type origin struct {
	source  string // X-Tarball-Source value; "" sends none
	corrupt bool
	status  int
	host    atomic.Value
}

func (o *origin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	o.host.Store(r.Host)
	b := findBody(r.URL.Path)
	if o.status != 0 {
		w.WriteHeader(o.status)
		return
	}
	if b == nil {
		http.NotFound(w, r)
		return
	}
	if o.corrupt {
		b = append([]byte(nil), b...)
		b[100] ^= 0xff
	}
	if o.source != "" {
		w.Header().Set("X-Tarball-Source", o.source)
	}
	w.Write(b)
}

func credsFile(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "creds")
	require.NoError(t, os.WriteFile(p, []byte("monitor:"+password+"\n"), 0o600))
	return p
}

func runCheck(t *testing.T, args ...string) (int, string) {
	t.Helper()
	var buf bytes.Buffer
	code := run(append(args, "--spool-dir="+t.TempDir()), &buf)
	out := buf.String()
	assert.NotContains(t, out, password)
	return code, out
}

func TestCheck(t *testing.T) {
	fs := func() *origin { return &origin{source: "filesystem"} }
	tests := []struct {
		name       string
		o1, o2     *origin
		down       int // origins to close before the run: 1 or 2
		couch      *fakeCouch
		args       []string
		wantCode   int
		wantLine1  []string
		line1      string // regular expression of the whole first line, perfdata cut
		wantOutput []string
	}{
		{name: "both origins serve from the filesystem", o1: fs(), o2: fs(), args: []string{"-p", "left-pad-lite"},
			wantCode: 0, wantLine1: []string{"TARBALL_ORIGIN OK - left-pad-lite@1.2.0 OK on 2 origins and CouchDB |"}},
		{name: "named version", o1: fs(), o2: fs(), args: []string{"-p", "left-pad-lite@1.0.0", "-p", "@scope/tiny@0.1.0"},
			wantCode: 0, wantLine1: []string{"2 tarballs OK on 2 origins and CouchDB"}},
		{name: "fallback is WARNING", o1: &origin{source: "couchdb"}, o2: fs(), args: []string{"-p", "is-odd-number"},
			wantCode: 1, line1: `^TARBALL_ORIGIN WARNING - is-odd-number@2\.0\.0 served by the CouchDB fallback at H \(the filesystem lacks it\)$`},
		{name: "fallback told fine", o1: &origin{source: "couchdb"}, o2: fs(), args: []string{"-p", "is-odd-number", "--fallback-ok"},
			wantCode: 0},
		{name: "no source header", o1: &origin{}, o2: fs(), args: []string{"-p", "is-odd-number"},
			wantCode: 1, line1: `^TARBALL_ORIGIN WARNING - is-odd-number@2\.0\.0 source unknown at H \(no or unexpected X-Tarball-Source header\)$`,
			wantOutput: []string{"no X-Tarball-Source header: cannot tell the filesystem from the fallback"}},
		{name: "source header not looked at", o1: &origin{}, o2: &origin{}, args: []string{"-p", "is-odd-number", "--source-header="},
			wantCode: 0},
		{name: "corrupt tarball is CRITICAL naming everything", o1: fs(), o2: &origin{source: "filesystem", corrupt: true}, args: []string{"-p", "left-pad-lite@1.0.0"},
			wantCode: 2, line1: `^TARBALL_ORIGIN CRITICAL - left-pad-lite@1\.0\.0 corrupt at H \(sha512 mismatch\)$`,
			wantOutput: []string{"\n  CRITICAL 127.0.0.1:", ": corrupt: GET http://127.0.0.1:", "/left-pad-lite/-/left-pad-lite-1.0.0.tgz, 8000 bytes: sha512 expected " + sri(seed[0].body) + " got sha512-", "sha1 expected " + shasum(seed[0].body) + " got "}},
		{name: "one origin 404", o1: &origin{status: 404}, o2: fs(), args: []string{"-p", "left-pad-lite"},
			wantCode: 1, line1: `^TARBALL_ORIGIN WARNING - left-pad-lite@1\.2\.0 not served by H \(404 Not Found\)$`,
			wantOutput: []string{"/left-pad-lite/-/left-pad-lite-1.2.0.tgz: 404 Not Found"}},
		{name: "one origin down", o1: fs(), o2: fs(), down: 1, args: []string{"-p", "left-pad-lite"},
			wantCode: 1, line1: `^TARBALL_ORIGIN WARNING - left-pad-lite@1\.2\.0 not served by H \(connection refused\)$`},
		{name: "both origins down", o1: fs(), o2: fs(), down: 2, args: []string{"-p", "left-pad-lite"},
			wantCode: 2, line1: `^TARBALL_ORIGIN CRITICAL - left-pad-lite@1\.2\.0 not served by H and H \(connection refused\)$`},
		{name: "broken attachment is WARNING", o1: fs(), o2: fs(), couch: &fakeCouch{attachmentStatus: 404}, args: []string{"-p", "left-pad-lite"},
			wantCode: 1, line1: `^TARBALL_ORIGIN WARNING - left-pad-lite@1\.2\.0 CouchDB attachment failing \(404 Not Found\): the origins' fallback would fail too$`,
			wantOutput: []string{"CouchDB attachment: GET http://127.0.0.1:", "/registry/left-pad-lite/left-pad-lite-1.2.0.tgz: not found: 404 Not Found"}},
		{name: "recent publishes from the changes feed", o1: fs(), o2: fs(), args: []string{"--recent", "3", "-v"},
			wantCode: 0, wantLine1: []string{"3 tarballs OK"}, wantOutput: []string{"@scope/tiny@0.1.0", "left-pad-lite@1.2.0", "is-odd-number@", "skipped converge-1 from the changes feed: not a package (no versions)"}},
		{name: "unknown package", o1: fs(), o2: fs(), args: []string{"-p", "nope"},
			wantCode: 3, line1: `^TARBALL_ORIGIN UNKNOWN - nope not in the registry database$`,
			wantOutput: []string{"/registry/nope: not found"}},
		{name: "unknown version", o1: fs(), o2: fs(), args: []string{"-p", "left-pad-lite@9.9.9"},
			wantCode: 3, line1: `^TARBALL_ORIGIN UNKNOWN - left-pad-lite@9\.9\.9 not in the packument$`},
		{name: "bigger than --max-bytes", o1: fs(), o2: fs(), args: []string{"-p", "left-pad-lite", "--max-bytes", "100"},
			wantCode: 3, line1: `^TARBALL_ORIGIN UNKNOWN - left-pad-lite@1\.2\.0 not verified at H, H and the CouchDB attachment \(larger than --max-bytes 100\)$`,
			wantOutput: []string{"larger than --max-bytes 100; integrity not verified"}},
		{name: "nothing to test", o1: fs(), o2: fs(), args: nil,
			wantCode: 3, wantLine1: []string{"no tarball to test"}},
		{name: "slow", o1: fs(), o2: fs(), args: []string{"-p", "left-pad-lite", "-w", "@0:1000"},
			wantCode: 1, line1: `^TARBALL_ORIGIN WARNING - left-pad-lite@1\.2\.0 slow at H, H and the CouchDB attachment \(-w @0:1000 s\)$`},
		{name: "time thresholds in perfdata", o1: fs(), o2: fs(), args: []string{"-p", "left-pad-lite", "-w", "5", "-c", "10"},
			wantCode: 0, wantOutput: []string{"'left-pad-lite@1.2.0 127.0.0.1:", " time'=", "s;5;10;0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.couch == nil {
				tt.couch = &fakeCouch{}
			}
			couchSrv := httptest.NewServer(tt.couch)
			defer couchSrv.Close()
			s1, s2 := httptest.NewServer(tt.o1), httptest.NewServer(tt.o2)
			defer s1.Close()
			defer s2.Close()
			if tt.down >= 1 {
				s1.Close()
			}
			if tt.down >= 2 {
				s2.Close()
			}
			args := append([]string{"--url", couchSrv.URL, "--credentials-file", credsFile(t), "--origin", s1.URL, "--origin", s2.URL}, tt.args...)
			code, out := runCheck(t, args...)
			line1 := strings.SplitN(out, "\n", 2)[0]
			assert.Equal(t, tt.wantCode, code, out)
			if tt.line1 != "" {
				head, _, _ := strings.Cut(line1, " | ")
				assert.Regexp(t, strings.ReplaceAll(tt.line1, "H", `127\.0\.0\.1:\d+`), head)
			}
			for _, w := range tt.wantLine1 {
				assert.Contains(t, line1, w)
			}
			for _, w := range tt.wantOutput {
				assert.Contains(t, out, w)
			}
			assert.NotContains(t, out, "heartbeat-vm", "a heartbeat document is skipped without a word")
			if tt.wantCode != 3 || strings.Contains(tt.name, "max-bytes") {
				assert.True(t, tt.couch.sawAuth.Load(), "the credentials file is used")
			}
		})
	}
}

func TestHostHeader(t *testing.T) {
	couchSrv := httptest.NewServer(&fakeCouch{})
	defer couchSrv.Close()
	o := &origin{source: "filesystem"}
	srv := httptest.NewServer(o)
	defer srv.Close()
	code, out := runCheck(t, "--url", couchSrv.URL, "--origin", srv.URL, "--host-header", "registry.example.com", "-p", "left-pad-lite", "--no-attachment")
	assert.Equal(t, 0, code, out)
	assert.Equal(t, "registry.example.com", o.host.Load())
	assert.Contains(t, out, "left-pad-lite@1.2.0 OK on 1 origin |")
}

// A slow origin ends at -t with the step named: headers that never come,
// or a body that trickles.
func TestSlowOriginTimeout(t *testing.T) {
	tests := []struct {
		name    string
		handler http.HandlerFunc
		want    string
	}{
		{name: "headers never finish", handler: func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() },
			want: "waiting for response headers of GET http://127.0.0.1:"},
		{name: "body trickles", handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "100000")
			for {
				if _, err := w.Write([]byte("x")); err != nil {
					return
				}
				w.(http.Flusher).Flush()
				select {
				case <-r.Context().Done():
					return
				case <-time.After(50 * time.Millisecond):
				}
			}
		}, want: "waiting for the body of GET http://127.0.0.1:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			couchSrv := httptest.NewServer(&fakeCouch{})
			defer couchSrv.Close()
			slow := httptest.NewServer(tt.handler)
			defer slow.Close()
			fast := httptest.NewServer(&origin{source: "filesystem"})
			defer fast.Close()
			code, out := runCheck(t, "-t", "1s", "--url", couchSrv.URL, "--origin", fast.URL, "--origin", slow.URL, "-p", "left-pad-lite")
			assert.Equal(t, 1, code, "one origin failing is WARNING: %s", out)
			assert.Contains(t, out, "timeout after ")
			assert.Contains(t, out, tt.want)
			assert.Contains(t, out, "/left-pad-lite/-/left-pad-lite-1.2.0.tgz")

			code, out = runCheck(t, "-t", "1s", "--timeout-state", "unknown", "--url", couchSrv.URL, "--origin", slow.URL, "-p", "left-pad-lite", "--no-attachment")
			assert.Equal(t, 3, code, "every origin timing out takes --timeout-state: %s", out)
			assert.Contains(t, out, tt.want)
		})
	}
}

// An origin without http(s):// is a bad argument named by its option, not
// a failing tarball of "unsupported protocol scheme".
func TestBadOriginIsBadArgument(t *testing.T) {
	var buf bytes.Buffer
	code := run([]string{"--origin", "origin1:8080", "-p", "debug-mini", "--spool-dir=" + t.TempDir()}, &buf)
	assert.Equal(t, 3, code, buf.String())
	assert.Equal(t, `TARBALL_ORIGIN UNKNOWN - --origin "origin1:8080": not an http:// or https:// URL with a host`, strings.SplitN(buf.String(), "\n", 2)[0])
}

// --recent after a burst of unpublishes: the feed is read again with ten
// times the rows (ids only) until it holds candidates, bounded; after a
// burst of documents that are no package the sample ends with a clear
// UNKNOWN, after a bounded number of GETs.
func TestRecentLooksPastBursts(t *testing.T) {
	for _, c := range []struct {
		name   string
		couch  *fakeCouch
		code   int
		line1  string
		limits []string
	}{
		{"600 unpublishes", &fakeCouch{unpublished: 600}, 0, "3 tarballs OK", []string{"50", "500", "5000"}},
		{"20,000 unpublishes", &fakeCouch{unpublished: 20000}, 3, "no tarball to test: none of the 0 documents changed last in ", []string{"50", "500", "5000", "10000"}},
		{"500 documents that are no package", &fakeCouch{notPackages: 500}, 3, "no tarball to test: none of the 50 documents changed last in ", []string{"50"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			couchSrv := httptest.NewServer(c.couch)
			defer couchSrv.Close()
			s1 := httptest.NewServer(&origin{source: "filesystem"})
			defer s1.Close()
			code, out := runCheck(t, "--url", couchSrv.URL, "--credentials-file", credsFile(t), "--origin", s1.URL, "--recent", "3")
			assert.Equal(t, c.code, code, out)
			first, _, _ := strings.Cut(out, "\n")
			assert.Contains(t, first, c.line1)
			assert.Equal(t, c.limits, c.couch.limitsAsked)
			if c.couch.notPackages > 0 {
				assert.Contains(t, out, "stopped after 26 documents from the changes feed that are no package")
			}
		})
	}
}
