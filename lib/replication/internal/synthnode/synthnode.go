// Package synthnode is a synthetic CouchDB 2.1+ node with thousands of
// continuous replications, answering paged like CouchDB, for the scale
// benchmark of lib/replication and for timing the built
// check_couch_replication against it (see ./serve).
package synthnode

import (
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// Node is a 2.1+ node with N continuous replications. Replication i reads
// source database src-(i mod Sources) on the same server and writes
// dst-i; every 100th (i%100 == 7) is crashing with the source refusing
// connections (see SetCrashing), until a restart rewrites its document
// (write.go). _scheduler/jobs defaults to 100 rows per page, like CouchDB.
// Every answer of a page size is rendered once (again after a write), so
// that a client timed against it measures the client.
type Node struct {
	N, Sources int
	// NoDBsInfo makes POST /_dbs_info answer 404, like a server before
	// CouchDB 2.2 or PouchDB Server.
	NoDBsInfo bool
	// Missing are source databases that do not exist (by name, src-00003).
	Missing map[string]bool

	base     string
	doc, job func(i int) string
	docs     map[string][]byte // by "limit,skip"
	jobs     map[string][]byte // by "limit,skip"
	allDocs  []byte
	dbInfo   []byte
	rows     map[string]string // by doc id

	mu       sync.Mutex
	requests map[string]int // by request kind, see Requests

	// The write side (write.go): replication documents rewritten since
	// New, and the jobs they restarted.
	crash   func(i int) bool
	written map[string]*writtenDoc // by doc id
	running map[int]bool           // recreated, so its new job runs
}

const seq = `"1500-g1AAAACfeJzLYWBgYMpgTmEQSs4vTc5ISTJ0MDQy1zMAQsMckFwiQ1L9____szKYE6VzgQLsZsmGaUZGiVh14DMojwVIMjQAqf9Q8yTB5qWmGhkZW1hi1ZgFAMJVKUk"`

// New renders a node of n replications from sources distinct source
// databases (n when sources <= 0) for pages of pageSize; base is the URL
// the node is served at (it appears in the replications' endpoints).
func New(n, sources, pageSize int, base string) *Node {
	if sources <= 0 || sources > n {
		sources = n
	}
	s := &Node{N: n, Sources: sources, base: base, docs: map[string][]byte{}, jobs: map[string][]byte{}, rows: map[string]string{}, requests: map[string]int{}}
	doc := func(i int) string {
		id := fmt.Sprintf("rep-%05d", i)
		state, info := "running", `{"revisions_checked":1500,"missing_revisions_found":1500,"docs_read":1500,"docs_written":1500,"changes_pending":0,"doc_write_failures":0,"bulk_get_docs":1500,"bulk_get_attempts":1500,"checkpointed_source_seq":`+seq+`,"source_seq":`+seq+`,"through_seq":`+seq+`}`
		if s.crashing(i) {
			state, info = "crashing", `{"error":"{replication_auth_error,\n    {session_request_failed,\"http://db1:5984/_session\",\"admin\",\n        {conn_failed,{error,econnrefused}}}}"}`
		}
		return fmt.Sprintf(`{"database":"_replicator","doc_id":%q,"id":"%032x+continuous","node":"couchdb@db2","source":"%s/src-%05d/","target":"%s/dst-%05d/","state":%q,"info":%s,"error_count":0,"last_updated":"2026-11-26T02:42:26Z","start_time":"2026-11-26T02:42:26Z","source_proxy":null,"target_proxy":null}`,
			id, i, base, i%sources, base, i, state, info)
	}
	job := func(i int) string {
		return fmt.Sprintf(`{"database":"_replicator","id":"%032x+continuous","pid":"<0.1.0>","source":"%s/src-%05d/","target":"%s/dst-%05d/","user":null,"doc_id":"rep-%05d","info":null,"history":[{"timestamp":"2026-11-26T02:42:26Z","type":"started"},{"timestamp":"2026-11-26T02:42:26Z","type":"added"}],"node":"couchdb@db2","start_time":"2026-11-26T02:42:26Z"}`,
			i, base, i%sources, base, i, i)
	}
	s.doc, s.job = doc, job
	s.render(pageSize) // other page sizes when first asked for
	host := strings.TrimPrefix(base, "http://")
	rows := make([]string, n)
	for i := range n {
		rows[i] = fmt.Sprintf(`{"id":"rep-%05d","key":"rep-%05d","value":{"rev":"1-a"},"doc":{"_id":"rep-%05d","_rev":"1-a","source":"http://admin:pw-%05d@%s/src-%05d","target":"http://admin:pw@%s/dst-%05d","continuous":true,"owner":"admin"}}`,
			i, i, i, i, host, i%sources, host, i)
		s.rows[fmt.Sprintf("rep-%05d", i)] = rows[i]
	}
	s.allDocs = []byte(fmt.Sprintf(`{"total_rows":%d,"offset":0,"rows":[%s]}`, n, strings.Join(rows, ",")))
	s.dbInfo = []byte(`{"db_name":"src","update_seq":` + seq + `,"doc_count":3}`)
	return s
}

// render fills the pages of a page size; the caller holds mu or owns s.
func (s *Node) render(pageSize int) {
	if _, done := s.docs[fmt.Sprintf("%d,0", pageSize)]; done || pageSize <= 0 {
		return
	}
	page := func(key string, skip int, item func(int) string) []byte {
		var b strings.Builder
		fmt.Fprintf(&b, `{"total_rows":%d,"offset":%d,%q:[`, s.N, skip, key)
		for i := skip; i < min(skip+pageSize, s.N); i++ {
			if i > skip {
				b.WriteByte(',')
			}
			b.WriteString(item(i))
		}
		b.WriteString("]}")
		return []byte(b.String())
	}
	for skip := 0; skip < s.N; skip += pageSize {
		k := fmt.Sprintf("%d,%d", pageSize, skip)
		s.docs[k] = page("docs", skip, s.doc)
		s.jobs[k] = page("jobs", skip, s.job)
	}
}

func (s *Node) count(kind string) {
	s.mu.Lock()
	s.requests[kind]++
	s.mu.Unlock()
}

// Requests returns the requests served so far by kind ("GET
// /_scheduler/docs", "GET /{source db}", "POST /_replicator/_all_docs",
// ...) and, with reset, starts counting again.
func (s *Node) Requests(reset bool) map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.requests))
	for k, v := range s.requests {
		out[k] = v
	}
	if reset {
		s.requests = map[string]int{}
	}
	return out
}

// FormatRequests prints counts one kind a line, sorted.
func FormatRequests(counts map[string]int) string {
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%6d %s\n", counts[k], k)
	}
	return b.String()
}

func (s *Node) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	q := r.URL.Query()
	limit, skip := q.Get("limit"), q.Get("skip")
	if skip == "" {
		skip = "0"
	}
	p := r.URL.Path
	switch {
	case strings.HasPrefix(p, "/src-"):
		s.count(r.Method + " /{source db}")
	case strings.HasPrefix(p, "/_replicator/") && !strings.HasPrefix(p, "/_replicator/_"):
		s.count(r.Method + " /_replicator/{doc}")
	default:
		s.count(r.Method + " " + p)
	}
	switch {
	case p == "/_dbs_info" && r.Method == http.MethodPost && !s.NoDBsInfo:
		s.serveDBsInfo(w, r)
	case p == "/_scheduler/docs" || p == "/_scheduler/jobs":
		if limit == "" && p == "/_scheduler/jobs" {
			limit = "100"
		} else if limit == "" {
			limit = strconv.Itoa(s.N) // _scheduler/docs answers everything
		}
		n, _ := strconv.Atoi(limit)
		s.mu.Lock()
		s.render(n)
		pages := s.jobs
		if p == "/_scheduler/docs" {
			pages = s.docs
		}
		body, ok := pages[limit+","+skip]
		s.mu.Unlock()
		if !ok {
			sk, _ := strconv.Atoi(skip)
			body = []byte(fmt.Sprintf(`{"total_rows":%d,"offset":%d,%q:[]}`, s.N, sk, strings.TrimPrefix(p, "/_scheduler/")))
		}
		w.Write(body)
	case s.serveWrite(w, r):
	case p == "/_replicator/_all_docs" && r.Method == http.MethodPost:
		body, ok := keys(w, r)
		if !ok {
			return
		}
		rows := make([]string, 0, len(body.Keys))
		for _, k := range body.Keys {
			if row, ok := s.row(k); ok {
				rows = append(rows, row)
			} else {
				rows = append(rows, fmt.Sprintf(`{"key":%q,"error":"not_found"}`, k))
			}
		}
		fmt.Fprintf(w, `{"total_rows":%d,"offset":0,"rows":[%s]}`, s.N, strings.Join(rows, ","))
	case p == "/_replicator/_all_docs":
		w.Write(s.allDocsBody())
	case strings.HasPrefix(p, "/src-") && s.isSource(strings.TrimPrefix(p, "/")):
		w.Write(s.dbInfo)
	default:
		w.WriteHeader(http.StatusNotFound)
		w.Write([]byte(`{"error":"not_found","reason":"missing"}`))
	}
}

// keys reads the {"keys": [...]} of a POST, gzipped (kivik) or not.
func keys(w http.ResponseWriter, r *http.Request) (body struct {
	Keys []string `json:"keys"`
}, ok bool) {
	return body, decode(w, r, &body)
}

// serveDBsInfo answers like CouchDB 3.x: at most 100 keys, a row per key,
// the source databases src-00000... exist, nothing else does.
func (s *Node) serveDBsInfo(w http.ResponseWriter, r *http.Request) {
	body, ok := keys(w, r)
	if !ok {
		return
	}
	if len(body.Keys) == 0 || len(body.Keys) > 100 {
		w.WriteHeader(http.StatusBadRequest)
		w.Write([]byte(`{"error":"bad_request","reason":"` + "`keys`" + ` member must exist and hold at most 100 names."}`))
		return
	}
	var b strings.Builder
	b.WriteByte('[')
	for i, k := range body.Keys {
		if i > 0 {
			b.WriteByte(',')
		}
		if !s.isSource(k) {
			fmt.Fprintf(&b, `{"key":%q,"error":"not_found"}`, k)
			continue
		}
		fmt.Fprintf(&b, `{"key":%q,"info":%s}`, k, s.dbInfo)
	}
	b.WriteByte(']')
	w.Write([]byte(b.String()))
}

func (s *Node) isSource(db string) bool {
	n, err := strconv.Atoi(strings.TrimPrefix(db, "src-"))
	return strings.HasPrefix(db, "src-") && err == nil && n >= 0 && n < s.Sources && !s.Missing[db]
}
