package synthnode

import (
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// The write side of the node: what a restart does to _replicator (GET,
// DELETE and PUT of one document, POST _bulk_docs). A document written
// again after its deletion starts a new job, which _scheduler/docs shows
// running from then on, as CouchDB does once the new job has started.

type writtenDoc struct {
	rev     int
	body    map[string]json.RawMessage // without _id and _rev; nil when deleted
	deleted bool
}

// SetCrashing replaces which replications crash (i%100 == 7 by default)
// and forgets every restart, e.g. to make all of them crash.
func (s *Node) SetCrashing(crash func(i int) bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.crash = crash
	s.written = nil
	s.running = nil
	s.invalidate()
}

// Restarted is the number of replications whose document was deleted and
// written again since New or SetCrashing.
func (s *Node) Restarted() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.running)
}

// crashing: the caller holds mu or owns s.
func (s *Node) crashing(i int) bool {
	if s.running[i] {
		return false
	}
	if s.crash != nil {
		return s.crash(i)
	}
	return i%100 == 7
}

// invalidate drops the rendered pages after a change; the caller holds mu.
func (s *Node) invalidate() {
	s.docs = map[string][]byte{}
	s.jobs = map[string][]byte{}
}

func docIndex(id string) (int, bool) {
	n, err := strconv.Atoi(strings.TrimPrefix(id, "rep-"))
	return n, strings.HasPrefix(id, "rep-") && err == nil
}

// row is the _all_docs row of a document.
func (s *Node) row(id string) (string, bool) {
	s.mu.Lock()
	d := s.written[id]
	s.mu.Unlock()
	if d == nil {
		r, ok := s.rows[id]
		return r, ok
	}
	if d.deleted {
		return fmt.Sprintf(`{"id":%q,"key":%q,"value":{"rev":"%d-s","deleted":true},"doc":null}`, id, id, d.rev), true
	}
	return fmt.Sprintf(`{"id":%q,"key":%q,"value":{"rev":"%d-s"},"doc":%s}`, id, id, d.rev, d.render(id)), true
}

func (d *writtenDoc) render(id string) []byte {
	m := make(map[string]json.RawMessage, len(d.body)+2)
	for k, v := range d.body {
		m[k] = v
	}
	m["_id"], _ = json.Marshal(id)
	m["_rev"], _ = json.Marshal(fmt.Sprintf("%d-s", d.rev))
	b, _ := json.Marshal(m)
	return b
}

func (s *Node) allDocsBody() []byte {
	s.mu.Lock()
	pristine := len(s.written) == 0
	s.mu.Unlock()
	if pristine {
		return s.allDocs
	}
	rows := make([]string, 0, s.N)
	for i := range s.N {
		id := fmt.Sprintf("rep-%05d", i)
		if r, ok := s.row(id); ok && !strings.Contains(r, `"deleted":true`) {
			rows = append(rows, r)
		}
	}
	return []byte(fmt.Sprintf(`{"total_rows":%d,"offset":0,"rows":[%s]}`, len(rows), strings.Join(rows, ",")))
}

// current is a document's rev ("" when it does not exist) and body; the
// caller holds mu.
func (s *Node) current(id string) (rev string, exists bool) {
	if d := s.written[id]; d != nil {
		return fmt.Sprintf("%d-s", d.rev), !d.deleted
	}
	if _, ok := s.rows[id]; ok {
		return "1-a", true
	}
	return "", false
}

// update applies one document write (a deletion when del) like CouchDB:
// the rev must match an existing document, and a new document (or one
// written over a deletion) needs none. It returns the new rev or the
// error and reason of a _bulk_docs row. The caller holds mu.
func (s *Node) update(id, rev string, del bool, body map[string]json.RawMessage) (string, int, string) {
	cur, exists := s.current(id)
	if exists && rev != cur || !exists && del {
		return "", http.StatusConflict, "conflict"
	}
	if s.written == nil {
		s.written = map[string]*writtenDoc{}
	}
	d := s.written[id]
	if d == nil {
		d = &writtenDoc{rev: 1}
		s.written[id] = d
	}
	d.rev++
	d.deleted, d.body = del, body
	if !del {
		if i, ok := docIndex(id); ok && i < s.N {
			if s.running == nil {
				s.running = map[int]bool{}
			}
			s.running[i] = true
			s.invalidate()
		}
	}
	return fmt.Sprintf("%d-s", d.rev), 0, ""
}

// serveWrite answers the write requests and reports whether r was one.
func (s *Node) serveWrite(w http.ResponseWriter, r *http.Request) bool {
	p := r.URL.Path
	if !strings.HasPrefix(p, "/_replicator/") {
		return false
	}
	id := strings.TrimPrefix(p, "/_replicator/")
	switch {
	case id == "_bulk_docs" && r.Method == http.MethodPost:
		var req struct {
			Docs []map[string]json.RawMessage `json:"docs"`
		}
		if !decode(w, r, &req) {
			return true
		}
		s.mu.Lock()
		out := make([]string, len(req.Docs))
		for k, doc := range req.Docs {
			var did, rev string
			var del bool
			_ = json.Unmarshal(doc["_id"], &did)
			_ = json.Unmarshal(doc["_rev"], &rev)
			_ = json.Unmarshal(doc["_deleted"], &del)
			delete(doc, "_id")
			delete(doc, "_rev")
			delete(doc, "_deleted")
			if del {
				doc = nil
			}
			newRev, code, reason := s.update(did, rev, del, doc)
			if code != 0 {
				out[k] = fmt.Sprintf(`{"id":%q,"error":%q,"reason":"Document update conflict."}`, did, reason)
				continue
			}
			out[k] = fmt.Sprintf(`{"ok":true,"id":%q,"rev":%q}`, did, newRev)
		}
		s.mu.Unlock()
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, "[%s]", strings.Join(out, ","))
	case strings.HasPrefix(id, "_"):
		return false
	case r.Method == http.MethodGet:
		row, ok := s.row(id)
		if !ok || strings.Contains(row, `"deleted":true`) {
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, `{"error":"not_found","reason":"deleted"}`)
			return true
		}
		var v struct {
			Doc json.RawMessage `json:"doc"`
		}
		_ = json.Unmarshal([]byte(row), &v)
		w.Write(v.Doc)
	case r.Method == http.MethodDelete, r.Method == http.MethodPut:
		var body map[string]json.RawMessage
		rev := r.URL.Query().Get("rev")
		if r.Method == http.MethodPut {
			if !decode(w, r, &body) {
				return true
			}
			_ = json.Unmarshal(body["_rev"], &rev)
			delete(body, "_id")
			delete(body, "_rev")
		}
		s.mu.Lock()
		newRev, code, reason := s.update(id, rev, r.Method == http.MethodDelete, body)
		s.mu.Unlock()
		if code != 0 {
			w.WriteHeader(code)
			fmt.Fprintf(w, `{"error":%q,"reason":"Document update conflict."}`, reason)
			return true
		}
		w.Header().Set("ETag", strconv.Quote(newRev))
		if r.Method == http.MethodPut {
			w.WriteHeader(http.StatusCreated)
		}
		fmt.Fprintf(w, `{"ok":true,"id":%q,"rev":%q}`, id, newRev)
	default:
		return false
	}
	return true
}

// decode reads a JSON body, gzipped (kivik compresses what it writes) or
// not, and answers 400 when it cannot.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	var rd io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, `{"error":"bad_request","reason":"gzip"}`, http.StatusBadRequest)
			return false
		}
		rd = zr
	}
	if err := json.NewDecoder(rd).Decode(v); err != nil {
		http.Error(w, `{"error":"bad_request","reason":"invalid JSON"}`, http.StatusBadRequest)
		return false
	}
	return true
}
