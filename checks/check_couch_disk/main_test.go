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
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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

func writeJSON(w http.ResponseWriter, code int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(body)
}

// server3x answers as node1 of the capture (3.4.3): _all_dbs, and
// POST /_dbs_info from node1.dbs-info.json with registry's info replaced
// by the capture named registry.
type server3x struct {
	t        testing.TB
	infos    map[string]json.RawMessage
	names    []string
	posts    atomic.Int32
	perDBGet atomic.Int32
}

func newServer3x(t testing.TB, registry string) *server3x {
	var rows []struct {
		Key  string          `json:"key"`
		Info json.RawMessage `json:"info"`
	}
	require.NoError(t, json.Unmarshal(testdata(t, "node1.dbs-info.json"), &rows))
	s := &server3x{t: t, infos: map[string]json.RawMessage{}}
	for _, r := range rows {
		s.names = append(s.names, r.Key)
		s.infos[r.Key] = r.Info
	}
	if registry != "" {
		s.infos["registry"] = testdata(t, registry)
	}
	return s
}

func (s *server3x) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if u, p, ok := r.BasicAuth(); !ok || u != testUser || p != testPassword {
		writeJSON(w, 401, []byte(`{"error":"unauthorized","reason":"Name or password is incorrect."}`))
		return
	}
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/_all_dbs":
		b, _ := json.Marshal(s.names)
		writeJSON(w, 200, b)
	case r.Method == http.MethodPost && r.URL.Path == "/_dbs_info":
		s.posts.Add(1)
		var in struct{ Keys []string }
		require.NoError(s.t, json.NewDecoder(r.Body).Decode(&in))
		var out bytes.Buffer
		out.WriteByte('[')
		for i, k := range in.Keys {
			if i > 0 {
				out.WriteByte(',')
			}
			if info, ok := s.infos[k]; ok {
				fmt.Fprintf(&out, `{"key":%q,"info":%s}`, k, info)
			} else {
				fmt.Fprintf(&out, `{"key":%q,"error":"not_found"}`, k)
			}
		}
		out.WriteByte(']')
		writeJSON(w, 200, out.Bytes())
	default:
		s.perDBGet.Add(1)
		writeJSON(w, 404, []byte(`{"error":"not_found","reason":"Database does not exist."}`))
	}
}

// server1x answers as CouchDB 1.x (and, with pouch set, as pouchdb-server):
// no /_dbs_info, one GET per database.
type server1x struct {
	pouch bool
	dbs   map[string][2]int64 // disk_size, data_size
	gets  atomic.Int32
}

func (s *server1x) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, "/")
	switch {
	case r.Method == http.MethodGet && name == "_all_dbs":
		var names []string
		for n := range s.dbs {
			names = append(names, n)
		}
		b, _ := json.Marshal(names)
		writeJSON(w, 200, b)
	case r.Method == http.MethodPost && name == "_dbs_info":
		if s.pouch {
			writeJSON(w, 404, []byte(`{"error":"not_found","reason":"missing"}`))
		} else {
			// 1.x reads it as a database name, which is illegal.
			writeJSON(w, 400, []byte(`{"error":"illegal_database_name","reason":"Name: '_dbs_info'. Only lowercase characters (a-z), digits (0-9), and any of the characters _, $, (, ), +, -, and / are allowed. Must begin with a letter."}`))
		}
	case r.Method == http.MethodGet:
		s.gets.Add(1)
		sz, ok := s.dbs[name]
		if !ok {
			writeJSON(w, 404, []byte(`{"error":"not_found","reason":"no_db_file"}`))
			return
		}
		var body string
		if s.pouch {
			body = fmt.Sprintf(`{"doc_count":51,"update_seq":52,"idb_attachment_format":"binary","db_name":%q,"auto_compaction":false,"adapter":"leveldb","disk_size":%d,"instance_start_time":"1700000000000"}`, name, sz[0])
		} else {
			body = fmt.Sprintf(`{"db_name":%q,"doc_count":5,"doc_del_count":0,"update_seq":1234,"purge_seq":0,"compact_running":false,"disk_size":%d,"data_size":%d,"instance_start_time":"1400000000000000","disk_format_version":6,"committed_update_seq":1234}`, name, sz[0], sz[1])
		}
		writeJSON(w, 200, []byte(body))
	default:
		writeJSON(w, 405, []byte(`{"error":"method_not_allowed"}`))
	}
}

func credentialsFile(t testing.TB) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "couch.cred")
	require.NoError(t, os.WriteFile(p, []byte(testUser+":"+testPassword+"\n"), 0o600))
	return p
}

func runCheck(t testing.TB, args ...string) (int, string) {
	t.Helper()
	var buf bytes.Buffer
	code := run(append(args, "--spool-dir", t.TempDir()), &buf)
	return code, buf.String()
}

func TestRun3x(t *testing.T) {
	tests := []struct {
		name     string
		registry string
		args     []string
		code     int
		line1    string
		contains []string
	}{
		{"normal state", "", nil, 0,
			"COUCH_DISK OK - 3 databases, 89.1 KiB on disk, 62.3 KiB reclaimable | databases=3 file=91234B active=27469B external=21417B",
			[]string{"OK registry: 64% fragmented (43.9 KiB reclaimable)", "slack=63765B", "| fragmentation=69.9% compacting=0 largest_need=25127B"}},
		{"before compaction, warning at 40%", "node1.db-info.registry.before-compaction.json", []string{"-w", "40", "-c", "60"}, 1,
			"COUCH_DISK WARNING - 1 of 3 databases failing: registry 47% fragmented (7.1 MiB reclaimable) | databases=3",
			[]string{"WARNING registry: 47% fragmented"}},
		{"compacting, only registry", "node1.db-info.registry.compacting.json", []string{"--db", "registry", "-w", "40"}, 1,
			"COUCH_DISK WARNING - registry 47% fragmented (7.1 MiB reclaimable), compaction running | databases=1",
			[]string{"compacting=1"}},
		{"after compaction", "node1.db-info.registry.after-compaction.json", []string{"-w", "40"}, 0,
			"COUCH_DISK OK - 3 databases, 7.3 MiB on disk, 52.7 KiB reclaimable |", nil},
		{"a named database that does not exist", "", []string{"--db", "registry", "--db", "npm"}, 2,
			"COUCH_DISK CRITICAL - 1 of 2 databases failing: npm not found on the server |", []string{"CRITICAL npm: not found on the server"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer3x(t, tt.registry)
			ts := httptest.NewServer(srv)
			defer ts.Close()
			code, out := runCheck(t, append([]string{"-u", ts.URL, "--credentials-file", credentialsFile(t)}, tt.args...)...)
			assert.Equal(t, tt.code, code, out)
			line1, _, _ := strings.Cut(out, "\n")
			assert.True(t, strings.HasPrefix(line1, tt.line1), "line 1:\n%s\nwant prefix:\n%s", line1, tt.line1)
			for _, c := range tt.contains {
				assert.Contains(t, out, c)
			}
			assert.Equal(t, int32(1), srv.posts.Load(), "one POST /_dbs_info for a few databases")
			assert.Zero(t, srv.perDBGet.Load(), "no GET per database where /_dbs_info exists")
			assert.NotContains(t, out, testPassword)
		})
	}
}

func TestRunLineProtocol(t *testing.T) {
	ts := httptest.NewServer(newServer3x(t, "node1.db-info.registry.before-compaction.json"))
	defer ts.Close()
	dir := t.TempDir()
	code, out := runCheck(t, "-u", ts.URL, "--credentials-file", credentialsFile(t), "--output", "influx", "--data-dir", dir)
	assert.Equal(t, 0, code, out)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 1, out)
	l := lines[0]
	assert.True(t, strings.HasPrefix(l, `couch_disk,url=http://127.0.0.1:`), l)
	for _, f := range []string{"databases=3i", "file_bytes=15746164i", "active_bytes=8306694i", "slack_bytes=7439470i", "largest_need_bytes=8304352i",
		"compaction_headroom_bytes=", "fs_free_bytes=", "fs_free_pct=", "state=0i"} {
		assert.Contains(t, l, f)
	}

	code, out = runCheck(t, "-u", ts.URL, "--credentials-file", credentialsFile(t), "--output", "influx", "--db-metrics")
	assert.Equal(t, 0, code, out)
	lines = strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 4, "totals and one point per database:\n%s", out)
	assert.Contains(t, out, "couch_database,db=registry,url=http://127.0.0.1:")
	assert.Contains(t, out, "fragmentation_pct=47.2")
}

func TestRunOneXAndPouchDB(t *testing.T) {
	for _, pouch := range []bool{false, true} {
		t.Run(map[bool]string{false: "1.x", true: "pouchdb-server"}[pouch], func(t *testing.T) {
			srv := &server1x{pouch: pouch, dbs: map[string][2]int64{"registry": {100 << 20, 20 << 20}, "_users": {8192, 4096}, "_replicator": {8192, 2048}}}
			ts := httptest.NewServer(srv)
			defer ts.Close()
			code, out := runCheck(t, "-u", ts.URL)
			assert.Equal(t, int32(3), srv.gets.Load(), "one GET per database")
			if pouch {
				assert.Equal(t, 0, code, out)
				assert.Contains(t, out, "COUCH_DISK OK - 3 databases, 100.0 MiB on disk | databases=3 file=104873984B active=U external=U slack=U fragmentation=U")
				assert.Contains(t, out, "fragmentation and slack not measurable for 3 of 3 databases")
			} else {
				assert.Equal(t, 1, code, out)
				assert.Contains(t, out, "COUCH_DISK WARNING - 1 of 3 databases failing: registry 80% fragmented (80.0 MiB reclaimable) |")
				assert.Contains(t, out, "external=U")
			}
		})
	}
}

func TestRunErrors(t *testing.T) {
	ts := httptest.NewServer(newServer3x(t, ""))
	defer ts.Close()
	u := strings.Replace(ts.URL, "http://", "http://"+testUser+":wrong-"+testPassword+"@", 1)
	code, out := runCheck(t, "-u", u)
	assert.Equal(t, 3, code)
	assert.Contains(t, out, "COUCH_DISK UNKNOWN - GET "+ts.URL+"/_all_dbs: authentication failed for user monitor")
	assert.NotContains(t, out, testPassword)

	ts.Close()
	code, out = runCheck(t, "-u", ts.URL, "--data-dir", t.TempDir(), "--warning-free", "0:", "--critical-free", "0:", "--warning-free-inodes", "0:", "--critical-free-inodes", "0:")
	assert.Equal(t, 2, code)
	// The temporary directory has room: not news beside the refusal, but
	// in the long output.
	assert.Regexp(t, `^COUCH_DISK CRITICAL - GET http://127\.0\.0\.1:\d+/_all_dbs: connection refused \| `, out)
	assert.Regexp(t, `\n/tmp/\S+: [0-9.]+% free \([0-9.]+ [KMGT]?i?B of [0-9.]+ [KMGT]?i?B\)`, out)

	code, out = runCheck(t, "--warning-slack", "10k")
	assert.Equal(t, 3, code)
	assert.Contains(t, out, "COUCH_DISK UNKNOWN - bad arguments: invalid argument for flag `--warning-slack'")
	code, out = runCheck(t, "--min-size", "ten")
	assert.Equal(t, 3, code)
	assert.Contains(t, out, "--min-size")
}
