package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// synthServer is a node with n databases. In 3.x mode it answers
// /_all_dbs and POST /_dbs_info (batches of at most 100 keys, as CouchDB
// enforces) with infos shaped like the captured 3.4.3 ones (q=8-length
// opaque sequences); in 1.x mode it has no /_dbs_info and answers one
// GET /{db} per database.
type synthServer struct {
	n     int
	oneX  bool
	names []byte
}

func newSynth(n int, oneX bool) *synthServer {
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("pkg-%05d", i)
	}
	b, _ := json.Marshal(names)
	return &synthServer{n: n, oneX: oneX, names: b}
}

// seq is as long as a q=8 database's update_seq: the part that makes 3.x
// infos big.
var seq = "40053-g1AAAACleJzLYWBgYMpgTmEQSs4vTc5ISTJ0MDQy1zMAQsMckFweC5BkaABS_4EgK4M5iYHBzzIXKMaemmpkZGxhiVUvPiMTGZLqEWbZgM0ySzZMMzJKxKopCwBK6ioo" + strings.Repeat("AbCdEfGh", 40)

func (s *synthServer) info(buf *bytes.Buffer, name string) {
	i, _ := strconv.Atoi(strings.TrimPrefix(name, "pkg-"))
	file := int64(1<<20 + i*4096)
	active := file / int64(2+i%5)
	if s.oneX {
		fmt.Fprintf(buf, `{"db_name":%q,"doc_count":5,"doc_del_count":0,"update_seq":1234,"purge_seq":0,"compact_running":false,"disk_size":%d,"data_size":%d,"instance_start_time":"1400000000000000","disk_format_version":6,"committed_update_seq":1234}`, name, file, active)
		return
	}
	fmt.Fprintf(buf, `{"instance_start_time":"1795660941","db_name":%q,"purge_seq":"0-g1AAAABZeJzLYWBgYMpgTmEQSs4vTc5ISTJ0MDQy1zMAQsMckFweC5BkaABS_4EgK5EBn-JEhqR6iKosANziGKg","update_seq":%q,"sizes":{"file":%d,"external":%d,"active":%d},"props":{},"doc_del_count":0,"doc_count":20052,"disk_format_version":8,"compact_running":false,"cluster":{"q":8,"n":3,"w":2,"r":2}}`,
		name, seq, file, active*2, active)
}

func (s *synthServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	path := strings.TrimPrefix(r.URL.Path, "/")
	var buf bytes.Buffer
	switch {
	case path == "_all_dbs":
		_, _ = w.Write(s.names)
		return
	case path == "_dbs_info" && r.Method == http.MethodPost && !s.oneX:
		var in struct{ Keys []string }
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil || len(in.Keys) > 100 {
			w.WriteHeader(400)
			_, _ = w.Write([]byte(`{"error":"bad_request","reason":"too many keys"}`))
			return
		}
		buf.WriteByte('[')
		for i, k := range in.Keys {
			if i > 0 {
				buf.WriteByte(',')
			}
			fmt.Fprintf(&buf, `{"key":%q,"info":`, k)
			s.info(&buf, k)
			buf.WriteByte('}')
		}
		buf.WriteByte(']')
	case path == "_dbs_info":
		w.WriteHeader(400)
		_, _ = w.Write([]byte(`{"error":"illegal_database_name","reason":"Name: '_dbs_info'."}`))
		return
	case strings.HasPrefix(path, "pkg-") && s.oneX:
		s.info(&buf, path)
	default:
		w.WriteHeader(404)
		_, _ = w.Write([]byte(`{"error":"not_found","reason":"Database does not exist."}`))
		return
	}
	_, _ = w.Write(buf.Bytes())
}

// BenchmarkCheck10000Databases runs the whole check (run(), as main does)
// against a synthetic node of 10,000 databases. The goal: under 5 s.
func BenchmarkCheck10000Databases(b *testing.B) {
	for _, oneX := range []bool{false, true} {
		name := map[bool]string{false: "3.x-dbs_info-batches", true: "1.x-get-per-db"}[oneX]
		b.Run(name, func(b *testing.B) {
			ts := httptest.NewServer(newSynth(10000, oneX))
			defer ts.Close()
			spool := b.TempDir()
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				var out bytes.Buffer
				code := run([]string{"-u", ts.URL, "-t", "30", "--spool-dir", spool, "-w", "70"}, &out)
				if code != 1 || !strings.Contains(out.String(), "of 10000 databases failing") {
					b.Fatalf("exit %d:\n%s", code, out.String())
				}
			}
		})
	}
}

// BenchmarkBinary10000DatabasesRSS runs the built binary, as NRPE would,
// against the synthetic node and reports its wall time and peak resident
// memory. The goal: under 5 s and 64 MiB. The peak comes from GNU time
// (%M): the rusage Go gets for its own child is useless here, since Linux
// carries the parent's high-water mark across the vfork+exec.
func BenchmarkBinary10000DatabasesRSS(b *testing.B) {
	gnuTime, err := exec.LookPath("/usr/bin/time")
	if err != nil {
		b.Skip("needs GNU time (apt-get install time) to read the peak RSS")
	}
	bin := filepath.Join(b.TempDir(), "check_couch_disk")
	goTool := filepath.Join(runtime.GOROOT(), "bin", "go")
	out, err := exec.Command(goTool, "build", "-trimpath", "-ldflags", "-s -w", "-o", bin, ".").CombinedOutput()
	require.NoError(b, err, "%s", out)
	for _, oneX := range []bool{false, true} {
		name := map[bool]string{false: "3.x-dbs_info-batches", true: "1.x-get-per-db"}[oneX]
		b.Run(name, func(b *testing.B) {
			ts := httptest.NewServer(newSynth(10000, oneX))
			defer ts.Close()
			spool := b.TempDir()
			var maxRSS int64
			var wall time.Duration
			for b.Loop() {
				cmd := exec.Command(gnuTime, "-f", "maxrss_kib=%M", bin, "-u", ts.URL, "-t", "30", "--spool-dir", spool)
				var stdout, stderr bytes.Buffer
				cmd.Stdout, cmd.Stderr = &stdout, &stderr
				start := time.Now()
				err := cmd.Run()
				wall += time.Since(start)
				if code := cmd.ProcessState.ExitCode(); code != 1 || !strings.Contains(stdout.String(), "of 10000 databases failing") {
					b.Fatalf("exit %d (%v):\n%s\n%s", code, err, stdout.String(), stderr.String())
				}
				_, kib, ok := strings.Cut(strings.TrimSpace(stderr.String()), "maxrss_kib=")
				require.True(b, ok, "GNU time output: %s", stderr.String())
				v, err := strconv.ParseInt(strings.TrimSpace(kib), 10, 64)
				require.NoError(b, err)
				maxRSS = max(maxRSS, v)
			}
			b.ReportMetric(float64(maxRSS)/1024, "maxrss-MiB")
			b.ReportMetric(float64(wall.Milliseconds())/float64(b.N), "wall-ms/run")
		})
	}
}
