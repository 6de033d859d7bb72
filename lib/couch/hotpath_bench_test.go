package couch

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/registry-checks/registry-checks/lib/httpclient"
	"github.com/registry-checks/registry-checks/lib/secret"
)

// The hot paths of the scale goals (issue 8): decoding 5,000 replications
// of _scheduler/docs and 10,000 databases of _dbs_info, alone (the JSON
// decode) and through the client (paging, batching, HTTP). Shapes follow
// the captured 3.4.3 answers in testdata, with q=8-length sequences.

const benchSeq = `"1500-g1AAAACfeJzLYWBgYMpgTmEQSs4vTc5ISTJ0MDQy1zMAQsMckFwiQ1L9____szKYE6VzgQLsZsmGaUZGiVh14DMojwVIMjQAqf9Q8yTB5qWmGhkZW1hi1ZgFAMJVKUk"`

func benchSchedulerDoc(buf *bytes.Buffer, i int) {
	state, info := "running", `{"revisions_checked":1500,"missing_revisions_found":1500,"docs_read":1500,"docs_written":1500,"changes_pending":0,"doc_write_failures":0,"bulk_get_docs":1500,"bulk_get_attempts":1500,"checkpointed_source_seq":`+benchSeq+`,"source_seq":`+benchSeq+`,"through_seq":`+benchSeq+`}`
	if i%100 == 7 {
		state, info = "crashing", `{"error":"db_not_found: could not open http://127.0.0.1:15984/no-such-db/"}`
	}
	fmt.Fprintf(buf, `{"database":"_replicator","doc_id":"rep-%05d","id":"%032x+continuous","node":"couchdb@db2","source":"http://db1:5984/src-%05d/","target":"http://db2:5984/dst-%05d/","state":%q,"info":%s,"error_count":0,"last_updated":"2026-11-26T02:42:26Z","start_time":"2026-11-26T02:42:26Z","source_proxy":null,"target_proxy":null}`,
		i, i, i, i, state, info)
}

// benchSchedulerDocs is one _scheduler/docs answer holding docs [from, to)
// of n.
func benchSchedulerDocs(n, from, to int) []byte {
	var buf bytes.Buffer
	fmt.Fprintf(&buf, `{"total_rows":%d,"offset":%d,"docs":[`, n, from)
	for i := from; i < min(to, n); i++ {
		if i > from {
			buf.WriteByte(',')
		}
		benchSchedulerDoc(&buf, i)
	}
	buf.WriteString("]}")
	return buf.Bytes()
}

func benchDBsInfoRow(buf *bytes.Buffer, i int) {
	name := fmt.Sprintf("pkg-%05d", i)
	file := int64(1<<20 + i*4096)
	active := file / int64(2+i%5)
	fmt.Fprintf(buf, `{"key":%q,"info":{"instance_start_time":"1795660941","db_name":%q,"purge_seq":"0-g1AAAABZeJzLYWBgYMpgTmEQSs4vTc5ISTJ0MDQy1zMAQsMckFweC5BkaABS_4EgK5EBn-JEhqR6iKosANziGKg","update_seq":%s,"sizes":{"file":%d,"external":%d,"active":%d},"props":{},"doc_del_count":0,"doc_count":20052,"disk_format_version":8,"compact_running":false,"cluster":{"q":8,"n":3,"w":2,"r":2}}}`,
		name, name, benchSeq, file, active*2, active)
}

func benchDBsInfo(from, to int) []byte {
	var buf bytes.Buffer
	buf.WriteByte('[')
	for i := from; i < to; i++ {
		if i > from {
			buf.WriteByte(',')
		}
		benchDBsInfoRow(&buf, i)
	}
	buf.WriteByte(']')
	return buf.Bytes()
}

// BenchmarkDecodeSchedulerDocs5000 is the JSON decode alone of a
// 5,000-replication _scheduler/docs answer (about 4 MiB), as one body.
func BenchmarkDecodeSchedulerDocs5000(b *testing.B) {
	body := benchSchedulerDocs(5000, 0, 5000)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		var d SchedulerDocs
		if err := json.Unmarshal(body, &d); err != nil || len(d.Docs) != 5000 {
			b.Fatal(err, len(d.Docs))
		}
	}
}

// BenchmarkDecodeDBsInfo10000 is the JSON decode alone of 10,000 rows of
// _dbs_info (about 6 MiB), as one body (GET /_dbs_info on 3.2+).
func BenchmarkDecodeDBsInfo10000(b *testing.B) {
	body := benchDBsInfo(0, 10000)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		var rows []DBsInfoRow
		if err := json.Unmarshal(body, &rows); err != nil || len(rows) != 10000 {
			b.Fatal(err, len(rows))
		}
	}
}

func benchClient(b *testing.B, url string) *Client {
	hc, err := httpclient.New(httpclient.Options{}, httpclient.Config{})
	require.NoError(b, err)
	c, err := New(url, secret.Credentials{User: "admin", Password: "secret"}, hc)
	require.NoError(b, err)
	return c
}

// BenchmarkClientSchedulerDocs5000 fetches the 5,000 replications through
// the client: pages of PageSize over HTTP, each decoded and appended.
func BenchmarkClientSchedulerDocs5000(b *testing.B) {
	const n, page = 5000, 500
	pages := map[int][]byte{}
	for skip := 0; skip < n; skip += page {
		pages[skip] = benchSchedulerDocs(n, skip, skip+page)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		skip, _ := strconv.Atoi(r.URL.Query().Get("skip"))
		body, ok := pages[skip]
		if !ok || r.URL.Query().Get("limit") != strconv.Itoa(page) {
			http.Error(w, `{"error":"bad_request"}`, 400)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}))
	defer srv.Close()
	c := benchClient(b, srv.URL)
	c.PageSize = page
	b.ReportAllocs()
	for b.Loop() {
		d, err := c.SchedulerDocs(context.Background())
		if err != nil || len(d.Docs) != n {
			b.Fatal(err)
		}
	}
}

// BenchmarkClientDBsInfo10000 asks for 10,000 databases through the
// client: POST /_dbs_info in batches of DBsInfoBatch (CouchDB refuses more
// than 100 keys by default), each answer decoded and appended.
func BenchmarkClientDBsInfo10000(b *testing.B) {
	const n = 10000
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("pkg-%05d", i)
	}
	batches := map[string][]byte{}
	for i := 0; i < n; i += 100 {
		batches[names[i]] = benchDBsInfo(i, min(i+100, n))
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in struct{ Keys []string }
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil || len(in.Keys) == 0 || len(in.Keys) > 100 {
			http.Error(w, `{"error":"bad_request"}`, 400)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(batches[in.Keys[0]])
	}))
	defer srv.Close()
	c := benchClient(b, srv.URL)
	b.ReportAllocs()
	for b.Loop() {
		rows, err := c.DBsInfo(context.Background(), names)
		if err != nil || len(rows) != n || !strings.HasPrefix(rows[n-1].Key, "pkg-09999") {
			b.Fatal(err, len(rows))
		}
	}
}
