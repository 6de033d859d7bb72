// Package hostile is a misbehaving HTTP server on loopback for the tests of
// every binary: point a binary's URL options at it and check that the
// verdict is right and the text clean.
//
// One server plays one case, chosen by name:
//
//	srv := hostile.New(t, "null")         // closed at t's cleanup
//	run([]string{"-u", srv.URL, ...})      // every path answers `null`
//
//	for _, c := range hostile.Cases() {   // every case, for table tests
//		srv := hostile.New(t, c.Name)
//		... c.Want is the verdict a binary should give by default
//	}
//
// Outside tests (bench/compare), Start(name) returns a *Server to Close.
//
// Table runs a binary's run(args, stdout) against every case in parallel
// (skipped under -short), giving it credentials User:Password from a mode
// 600 file, and checks the exit code against the case's Verdict (or the
// binary's override), the "NAME STATE - " first line, and that no output
// line matches BadText (%!, <nil>, Go type names):
//
//	hostile.Table(t, hostile.Binary{Name: "COUCH_DISK", Run: run,
//		Args: func(base, creds string) []string {
//			return []string{"-u", base, "--credentials-file", creds}
//		}})
//
// The echo cases send User, Password and their base64 form back in every
// field: a test of redaction looks for them in the output.
//
// The cases (Cases lists them with what each does):
//
//   - transport: refused, blackholed (accepts, never answers), trickle
//     (one byte every 100 ms), self-signed-tls, close-mid-body (a
//     Content-Length the body never reaches), redirect-loop;
//   - statuses: 401, 403, 404, 500, 503, each with a CouchDB error body;
//   - shapes (200, complete, wrong): null, empty-object, wrong-array,
//     all-null (every top-level key null), null-fields (every leaf null),
//     wrong-types (strings and numbers swapped, arrays and objects too),
//     truncated-json (a complete answer whose JSON stops halfway),
//     not-json (an HTML page), empty-body;
//   - size: huge (200 MB of valid JSON), gzip-bomb (1 GiB after
//     decompression, 1 MB on the wire), both generated, never stored;
//   - echo: well-shaped CouchDB answers (healthy, with one replication
//     crashing) whose document ids, error reasons, header values and
//     bodies carry the request's Authorization header, the user:password
//     it encodes, and the request URL (see EchoText); echo-401 and
//     echo-500 put the same text in error reasons; echo-forge adds line
//     breaks and a forged Nagios line.
//
// Every answer carries a CDN edge's headers (X-Served-By, X-Cache,
// X-Timer). Every 200 answer is CouchDB-shaped for the path asked: "/", "/_up",
// "/_scheduler/docs[/...]", "/_scheduler/jobs[/...]", "/_active_tasks",
// "/_all_dbs", "/_dbs_info" (GET and POST), "/_node/_local/_system",
// "/{db}" (db info), "/{db}/_all_docs" (replicator docs),
// "/{db}/_all_docs?startkey="_design/"&..." (one design document with one
// view), "/{db}/_changes", "/{db}/_design/{ddoc}/_info",
// "/{db}/_design/{ddoc}/_view/{view}", "/{db}/{id}"
// (a packument, or a replicator document under "_replicator"), tarballs
// (any path ending in .tgz: "/{pkg}/-/{file}.tgz", or an attachment), and
// any write (PUT, POST, DELETE) answers
// {"ok":true,...}. The shape cases (null, all-null, huge...) transform
// that answer, so every endpoint a binary reads gets them.
package hostile

import (
	"bytes"
	"compress/gzip"
	"crypto/sha1" //nolint:gosec // npm's shasum is SHA-1
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Verdict is what a binary should answer by default to a case, in the
// suite's vocabulary (docs/design.md): a case can override it per binary.
type Verdict int

const (
	// Critical: the service is down or broken (refused, 5xx, TLS failure,
	// connection closed before a complete answer).
	Critical Verdict = iota
	// Unknown: an answer the binary cannot interpret (wrong shape, too
	// big, redirect, 401/403/404).
	Unknown
	// Timeout: the run's --timeout-state (CRITICAL by default).
	Timeout
	// Any: a well-shaped answer carrying hostile text: any state, but the
	// output must be clean (no secret, no forged line).
	Any
)

func (v Verdict) String() string {
	return [...]string{"CRITICAL", "UNKNOWN", "timeout", "any"}[v]
}

// Case is one behaviour of the server.
type Case struct {
	Name string
	What string
	Want Verdict
}

// HugeSize is the body size of the huge case; GzipBombSize is the size of
// the gzip-bomb answer after decompression.
const (
	HugeSize     = 200 << 20
	GzipBombSize = 1 << 30
)

// TrickleInterval is the pause between two bytes of the trickle case.
const TrickleInterval = 100 * time.Millisecond

var cases = []Case{
	{"refused", "nothing listens on the port", Critical},
	{"blackholed", "accepts the connection, never answers", Timeout},
	{"trickle", "a well-shaped answer, one byte every 100 ms", Timeout},
	{"self-signed-tls", "HTTPS with a certificate no system trusts", Critical},
	{"close-mid-body", "announces a Content-Length, sends half the body, closes", Critical},
	{"redirect-loop", "302 to itself, forever", Unknown},
	{"401", "401 Unauthorized with a CouchDB error body", Unknown},
	{"403", "403 Forbidden with a CouchDB error body", Unknown},
	{"404", "404 Not Found with a CouchDB error body", Unknown},
	{"500", "500 Internal Server Error with a CouchDB error body", Critical},
	{"503", "503 Service Unavailable with a CouchDB error body", Critical},
	{"null", "200 with the JSON null", Unknown},
	{"empty-object", "200 with {}", Unknown},
	{"wrong-array", `200 with [null,1,"x",{}]`, Unknown},
	{"all-null", "200 with the endpoint's keys, every one null", Unknown},
	{"null-fields", "200 with the endpoint's shape, every leaf null", Unknown},
	{"wrong-types", "200 with the endpoint's shape, strings and numbers swapped, arrays and objects swapped", Unknown},
	{"truncated-json", "200, a complete answer whose JSON stops halfway", Unknown},
	{"not-json", "200 with an HTML page", Unknown},
	{"empty-body", "200 with an empty body", Unknown},
	{"huge", "200 with 200 MB of valid JSON (a padding array before the real keys)", Unknown},
	{"gzip-bomb", "200, Content-Encoding gzip, 1 GiB once decompressed", Unknown},
	{"echo", "well-shaped answers carrying the request's credentials and URL", Any},
	{"echo-401", "401 whose reason carries the request's credentials and URL", Unknown},
	{"echo-500", "500 whose reason carries the request's credentials and URL", Critical},
	{"echo-forge", "echo, with line breaks and a forged Nagios line in every string", Any},
}

// Cases returns every case, in a stable order.
func Cases() []Case { return append([]Case(nil), cases...) }

// Lookup returns the case called name.
func Lookup(name string) (Case, bool) {
	for _, c := range cases {
		if c.Name == name {
			return c, true
		}
	}
	return Case{}, false
}

// Server is one running hostile server.
type Server struct {
	// URL is the base URL, "http://127.0.0.1:PORT" (https for
	// self-signed-tls), with no trailing slash.
	URL  string
	Case Case

	close func()
	once  sync.Once
}

// Close stops the server and drops its connections.
func (s *Server) Close() { s.once.Do(s.close) }

// New starts the server for case name and closes it at t's cleanup.
func New(t testing.TB, name string) *Server {
	t.Helper()
	s, err := Start(name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// Start starts the server for case name.
func Start(name string) (*Server, error) { return StartOn(name, "") }

// PerPath says whether a case can be limited to some paths (StartOn):
// refused, blackholed and self-signed-tls are the whole server's.
func PerPath(name string) bool {
	switch name {
	case "refused", "blackholed", "self-signed-tls":
		return false
	}
	return true
}

// StartOn starts the server for case name on the paths whose escaped
// form contains only (every path when only is ""); the other paths get
// the echo case's well-shaped answers. It reaches the endpoints a binary
// reads after others: check_couch_views' _info and view queries, behind
// the database info. A case that is not PerPath ignores only.
func StartOn(name, only string) (*Server, error) {
	c, ok := Lookup(name)
	if !ok {
		return nil, fmt.Errorf("hostile: no case %q", name)
	}
	s := &Server{Case: c}
	switch name {
	case "refused":
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		s.URL = "http://" + l.Addr().String()
		l.Close()
		s.close = func() {}
	case "blackholed":
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		s.URL = "http://" + l.Addr().String()
		s.close = blackhole(l)
	case "self-signed-tls":
		ts := httptest.NewUnstartedServer(handler("echo"))
		ts.Config.ErrorLog = quiet
		ts.StartTLS()
		s.URL, s.close = ts.URL, ts.Close
	default:
		h := handler(name)
		if only != "" {
			hostile, echo := h, handler("echo")
			h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if strings.Contains(r.URL.EscapedPath(), only) {
					hostile.ServeHTTP(w, r)
				} else {
					echo.ServeHTTP(w, r)
				}
			})
		}
		ts := httptest.NewUnstartedServer(h)
		ts.Config.ErrorLog = quiet
		ts.Start()
		s.URL = ts.URL
		s.close = func() {
			ts.CloseClientConnections()
			ts.Close()
		}
	}
	return s, nil
}

// quiet drops the server's own complaints (handshakes the client refused,
// writes to a client that went away): they are the point of the cases.
var quiet = log.New(io.Discard, "", 0)

// blackhole accepts connections and never answers; close drops them.
func blackhole(l net.Listener) func() {
	var (
		mu    sync.Mutex
		conns []net.Conn
	)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	return func() {
		l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	}
}

// EchoText is the text the echo cases put in every string they serve for
// request r: "echo-" followed by the user:password of its basic auth (or
// its bearer token), the Authorization header as sent, and the request
// URL. A test looks for the secrets it gave in the output.
func EchoText(r *http.Request) string {
	auth := r.Header.Get("Authorization")
	var plain string
	if u, p, ok := r.BasicAuth(); ok {
		plain = u + ":" + p
	} else if tok, ok := strings.CutPrefix(auth, "Bearer "); ok {
		plain = tok
	}
	return fmt.Sprintf("echo-%s auth=[%s] url=[%s]", plain, auth, r.URL.RequestURI())
}

// forged is what echo-forge adds: a line break and a line Nagios would
// take for a plugin's output.
const forged = "\nOK - forged line | forged=1\r\n"

func handler(name string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		echo := EchoText(r)
		text := echo
		if name == "echo-forge" {
			text += forged
		}
		h := w.Header()
		// Every answer looks as if a CDN edge had served it, so that
		// check_fastly goes on to judge the answer itself.
		h.Set("X-Served-By", "cache-hostile-LCY")
		h.Set("X-Cache", "MISS")
		h.Set("X-Timer", "S1764504000.000000,VS0,VE1")
		switch name {
		case "echo", "echo-forge", "echo-401", "echo-500":
			hv := headerSafe(echo)
			h.Set("Server", "CouchDB/3.4.3 "+hv)
			h.Set("X-Echo", hv)
			h.Set("X-Couch-Request-ID", hv)
			h.Set("X-Cache", "HIT, "+hv)
			h.Set("X-Served-By", hv)
			h.Set("X-Tarball-Source", hv)
			h.Set("Fastly-Debug-Path", hv)
			h.Set("Via", "1.1 "+hv)
		}
		switch name {
		case "401", "403", "404", "500", "503":
			code, _ := strconv.Atoi(name)
			writeError(w, code, errorName(code), "the hostile server says "+http.StatusText(code))
			return
		case "echo-401":
			writeError(w, http.StatusUnauthorized, "unauthorized", text)
			return
		case "echo-500":
			writeError(w, http.StatusInternalServerError, text, text)
			return
		case "redirect-loop":
			http.Redirect(w, r, r.URL.RequestURI(), http.StatusFound)
			return
		}
		if isTarball(r) {
			serveTarball(w, r, name, text)
			return
		}
		body := shape(r, text, baseURL(r))
		switch name {
		case "null":
			writeRaw(w, []byte("null"))
		case "empty-object":
			writeRaw(w, []byte("{}"))
		case "wrong-array":
			writeRaw(w, []byte(`[null,1,"x",{}]`))
		case "all-null":
			writeJSON(w, allNull(body))
		case "null-fields":
			writeJSON(w, nullLeaves(body))
		case "wrong-types":
			writeJSON(w, wrongTypes(body))
		case "truncated-json":
			b := marshal(body)
			writeRaw(w, b[:len(b)/2])
		case "not-json":
			h.Set("Content-Type", "text/html")
			_, _ = w.Write([]byte("<html><body><h1>502 Bad Gateway</h1></body></html>\n"))
		case "empty-body":
			h.Set("Content-Type", "application/json")
			h.Set("Content-Length", "0")
			w.WriteHeader(http.StatusOK)
		case "close-mid-body":
			closeMidBody(w, marshal(body))
		case "trickle":
			trickle(w, r, marshal(body))
		case "huge":
			writeHuge(w, marshal(body))
		case "gzip-bomb":
			writeGzipBomb(w, marshal(body))
		default: // echo, echo-forge, self-signed-tls
			writeJSON(w, body)
		}
	})
}

func errorName(code int) string {
	switch code {
	case 401:
		return "unauthorized"
	case 403:
		return "forbidden"
	case 404:
		return "not_found"
	}
	return "unknown_error"
}

func writeError(w http.ResponseWriter, code int, errName, reason string) {
	w.Header().Set("Content-Type", "application/json")
	if code == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="server"`)
	}
	w.WriteHeader(code)
	_, _ = w.Write(marshal(map[string]any{"error": errName, "reason": reason}))
}

func headerSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}

func baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

func marshal(v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic(err) // the shapes are plain maps and slices
	}
	return buf.Bytes()
}

func writeRaw(w http.ResponseWriter, b []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}

func writeJSON(w http.ResponseWriter, v any) { writeRaw(w, marshal(v)) }

// closeMidBody announces the whole body and sends half of it.
func closeMidBody(w http.ResponseWriter, b []byte) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic("hostile: close-mid-body needs HTTP/1")
	}
	conn, buf, err := hj.Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	fmt.Fprintf(buf, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", len(b))
	_, _ = buf.Write(b[:len(b)/2])
	_ = buf.Flush()
}

func trickle(w http.ResponseWriter, r *http.Request, b []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusOK)
	fl, _ := w.(http.Flusher)
	t := time.NewTicker(TrickleInterval)
	defer t.Stop()
	for i := range b {
		if _, err := w.Write(b[i : i+1]); err != nil {
			return
		}
		if fl != nil {
			fl.Flush()
		}
		select {
		case <-r.Context().Done():
			return
		case <-t.C:
		}
	}
}

// pad1k is one element of the huge answer's padding array.
var pad1k = []byte(`"` + strings.Repeat("x", 1022) + `",`)

// writeHuge sends HugeSize bytes of valid JSON: a padding array first,
// then the real answer's keys (or elements), so that only a cap stops it.
func writeHuge(w http.ResponseWriter, b []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	b = bytes.TrimSpace(b)
	open, rest := padOpen(b)
	if _, err := w.Write(open); err != nil {
		return
	}
	chunk := bytes.Repeat(pad1k, 64)
	for n := 0; n < HugeSize; n += len(chunk) {
		if _, err := w.Write(chunk); err != nil {
			return
		}
	}
	_, _ = w.Write(rest)
}

// padOpen splits a JSON answer around the place where padding goes: the
// padding is a list of strings ending with a comma.
func padOpen(b []byte) (open, rest []byte) {
	switch {
	case bytes.HasPrefix(b, []byte("{")) && len(b) > 2:
		return []byte(`{"padding":[`), append([]byte(`0],`), b[1:]...)
	case bytes.HasPrefix(b, []byte("{")):
		return []byte(`{"padding":[`), []byte(`0]}`)
	case bytes.HasPrefix(b, []byte("[")) && len(b) > 2:
		return []byte(`[`), b[1:]
	}
	return []byte(`[`), []byte(`0]`)
}

var (
	bombOnce   sync.Once
	bombMember []byte // gzip of 1 MiB of 'x'
)

// writeGzipBomb sends a multi-member gzip stream (RFC 1952 allows
// concatenated members; Go's reader and curl's read them all): a member
// opening a padding string, 1024 members of 1 MiB of 'x' each, and a
// member closing the string before the real answer.
func writeGzipBomb(w http.ResponseWriter, b []byte) {
	bombOnce.Do(func() { bombMember = gz(bytes.Repeat([]byte("x"), 1<<20)) })
	b = bytes.TrimSpace(b)
	var head, tail []byte
	switch {
	case bytes.HasPrefix(b, []byte("{")) && len(b) > 2:
		head, tail = []byte(`{"padding":"`), append([]byte(`",`), b[1:]...)
	case bytes.HasPrefix(b, []byte("[")) && len(b) > 2:
		head, tail = []byte(`["`), append([]byte(`",`), b[1:]...)
	default:
		head, tail = []byte(`["`), []byte(`"]`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Encoding", "gzip")
	w.WriteHeader(http.StatusOK)
	if _, err := w.Write(gz(head)); err != nil {
		return
	}
	for n := 0; n < GzipBombSize; n += 1 << 20 {
		if _, err := w.Write(bombMember); err != nil {
			return
		}
	}
	_, _ = w.Write(gz(tail))
}

func gz(b []byte) []byte {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	_, _ = zw.Write(b)
	_ = zw.Close()
	return buf.Bytes()
}

func isTarball(r *http.Request) bool {
	// An origin's /{pkg}/-/{file}.tgz, or a CouchDB attachment
	// /{db}/{pkg}/{file}.tgz.
	return r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, ".tgz")
}

// tarballBytes is what every tarball path serves: the same bytes for
// every request, so that a packument of one server (its digests) matches
// a tarball of another. The echo is in the tarball's headers.
func tarballBytes(string) []byte { return []byte("tarball of the hostile server\n") }

func serveTarball(w http.ResponseWriter, r *http.Request, name, text string) {
	b := tarballBytes(text)
	h := w.Header()
	if h.Get("X-Tarball-Source") == "" {
		h.Set("X-Tarball-Source", "filesystem") // as the registry's nginx says
	}
	switch name {
	case "huge":
		h.Set("Content-Type", "application/octet-stream")
		w.WriteHeader(http.StatusOK)
		chunk := bytes.Repeat([]byte{0}, 64<<10)
		for n := 0; n < HugeSize; n += len(chunk) {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	case "gzip-bomb":
		bombOnce.Do(func() { bombMember = gz(bytes.Repeat([]byte("x"), 1<<20)) })
		h.Set("Content-Type", "application/octet-stream")
		h.Set("Content-Encoding", "gzip")
		w.WriteHeader(http.StatusOK)
		for n := 0; n < GzipBombSize; n += 1 << 20 {
			if _, err := w.Write(bombMember); err != nil {
				return
			}
		}
	case "close-mid-body":
		hj, _ := w.(http.Hijacker)
		conn, buf, err := hj.Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		fmt.Fprintf(buf, "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n", len(b)*2)
		_, _ = buf.Write(b)
		_ = buf.Flush()
	case "trickle":
		trickle(w, r, make([]byte, 1000)) // 100 s at 10 bytes a second
	case "truncated-json", "empty-body":
		h.Set("Content-Type", "application/octet-stream")
		h.Set("Content-Length", "0")
		w.WriteHeader(http.StatusOK)
	case "not-json":
		h.Set("Content-Type", "text/html")
		_, _ = w.Write([]byte("<html><body><h1>502 Bad Gateway</h1></body></html>\n"))
	default:
		// The shape cases only bend JSON: the tarball itself is fine.
		h.Set("Content-Type", "application/octet-stream")
		h.Set("Content-Length", strconv.Itoa(len(b)))
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(b)
	}
}

// shape is the well-formed CouchDB answer to r, with text in every string
// a server controls.
func shape(r *http.Request, text, base string) any {
	// Split the escaped path: a document or view name may hold a "/"
	// (the echo text does), escaped as %2F.
	path := strings.Trim(r.URL.EscapedPath(), "/")
	var parts []string
	if path != "" {
		for _, p := range strings.Split(path, "/") {
			if u, err := url.PathUnescape(p); err == nil {
				p = u
			}
			parts = append(parts, p)
		}
	}
	now := "2026-11-30T12:00:00Z"
	if r.Method != http.MethodGet && r.Method != http.MethodHead && !(len(parts) == 1 && parts[0] == "_dbs_info") {
		return obj{"ok": true, "id": text, "rev": "2-" + text}
	}
	dbInfo := func(name string) obj {
		return obj{
			"db_name": name, "update_seq": "7-" + text, "purge_seq": "0-" + text,
			"sizes":     obj{"file": 409600, "external": 102400, "active": 204800},
			"doc_count": 5, "doc_del_count": 1, "disk_format_version": 8,
			"compact_running": false, "instance_start_time": "0",
			"cluster": obj{"q": 2, "n": 1, "w": 1, "r": 1},
			"props":   obj{},
		}
	}
	replDoc := func(id string) obj {
		return obj{
			"_id": id, "_rev": "1-" + text,
			"source": base + "/registry-" + text, "target": base + "/copy-" + text,
			"continuous": true, "_replication_state": "error",
			"_replication_state_reason": text,
		}
	}
	switch {
	case len(parts) == 0:
		return obj{"couchdb": "Welcome", "version": "3.4.3", "git_sha": text, "uuid": text,
			"features": list{"access-ready", "scheduler", text}, "vendor": obj{"name": text}}
	case parts[0] == "_up":
		return obj{"status": "ok", "seeds": obj{text: obj{}}}
	case parts[0] == "_session":
		return obj{"ok": true, "userCtx": obj{"name": text, "roles": list{"_admin"}}}
	case parts[0] == "_scheduler" && len(parts) >= 2 && parts[1] == "docs":
		doc := obj{
			"database": "_replicator", "doc_id": text, "id": text + "+continuous",
			"node": "couchdb@" + text, "source": base + "/registry-" + text + "/",
			"target": base + "/copy-" + text + "/", "state": "crashing",
			"info":        obj{"error": text},
			"error_count": 3, "last_updated": now, "start_time": now,
		}
		if len(parts) > 2 {
			return doc
		}
		return obj{"total_rows": 1, "offset": 0, "docs": list{doc}}
	case parts[0] == "_scheduler" && len(parts) >= 2 && parts[1] == "jobs":
		job := obj{
			"database": "_replicator", "id": text + "+continuous", "pid": "<0.1.0>",
			"source": base + "/registry-" + text + "/", "target": base + "/copy-" + text + "/",
			"user": nil, "doc_id": text, "node": "couchdb@" + text, "start_time": now,
			"info": obj{"revisions_checked": 3, "changes_pending": 1, "doc_write_failures": 0,
				"source_seq": "3-" + text, "through_seq": "2-" + text, "checkpointed_source_seq": "2-" + text},
			"history": list{obj{"timestamp": now, "type": "crashed", "reason": text},
				obj{"timestamp": now, "type": "started"}},
		}
		if len(parts) > 2 {
			return job
		}
		return obj{"total_rows": 1, "offset": 0, "jobs": list{job}}
	case parts[0] == "_active_tasks":
		return list{
			obj{"type": "replication", "pid": "<0.2.0>", "node": "couchdb@" + text,
				"replication_id": text + "+continuous", "doc_id": text, "database": "shards/" + text,
				"source": base + "/registry-" + text + "/", "target": base + "/copy-" + text + "/",
				"continuous": true, "changes_pending": 12, "docs_read": 1, "docs_written": 1,
				"doc_write_failures": 0, "revisions_checked": 1, "missing_revisions_found": 1,
				"source_seq": "9-" + text, "through_seq": "7-" + text, "checkpointed_source_seq": "7-" + text,
				"started_on": 1764500000, "updated_on": 1764504000, "user": nil},
			obj{"type": "indexer", "pid": "<0.3.0>", "node": "couchdb@" + text,
				"database": "shards/00000000-7fffffff/registry." + text, "design_document": "_design/" + text,
				"changes_done": 5, "total_changes": 10, "progress": 50,
				"started_on": 1764500000, "updated_on": 1764504000},
			obj{"type": "database_compaction", "pid": "<0.4.0>", "node": "couchdb@" + text,
				"database": "shards/00000000-7fffffff/" + text, "changes_done": 5, "total_changes": 10,
				"progress": 50, "started_on": 1764500000, "updated_on": 1764504000},
		}
	case parts[0] == "_all_dbs":
		return list{"_replicator", "registry", text}
	case parts[0] == "_dbs_info":
		return list{obj{"key": "registry", "info": dbInfo("registry")},
			obj{"key": text, "info": dbInfo(text)},
			obj{"key": "missing-" + text, "error": "not_found"}}
	case parts[0] == "_node":
		return obj{"uptime": 3600, "memory": obj{"other": 1, "processes": 2},
			"run_queue": 0, "process_count": 100, "message_queues": obj{text: 1}}
	case len(parts) == 1:
		return dbInfo(parts[0])
	case parts[1] == "_all_docs" && strings.HasPrefix(r.URL.Query().Get("startkey"), `"_design/`):
		// The design documents of a database: one, with one view, both
		// named after the echo.
		id := "_design/" + text
		row := obj{"id": id, "key": id, "value": obj{"rev": "1-" + text}}
		if r.URL.Query().Get("include_docs") == "true" {
			row["doc"] = obj{"_id": id, "_rev": "1-" + text, "language": "javascript",
				"views": obj{"v-" + text: obj{"map": "function (doc) { emit(doc._id, 1) }"}}}
		}
		return obj{"total_rows": 1, "offset": 0, "rows": list{row}}
	case parts[1] == "_design" && len(parts) >= 5 && parts[3] == "_view":
		return obj{"total_rows": 1, "offset": 0, "rows": list{obj{"id": text, "key": text, "value": 1}}}
	case parts[1] == "_all_docs":
		rows := list{}
		for _, id := range []string{text, "_design/" + text} {
			row := obj{"id": id, "key": id, "value": obj{"rev": "1-" + text}}
			if r.URL.Query().Get("include_docs") == "true" {
				row["doc"] = replDoc(id)
			}
			rows = append(rows, row)
		}
		return obj{"total_rows": len(rows), "offset": 0, "rows": rows}
	case parts[1] == "_changes":
		return obj{"results": list{obj{"seq": "9-" + text, "id": text, "changes": list{obj{"rev": "1-" + text}}}},
			"last_seq": "9-" + text, "pending": 0}
	case parts[1] == "_design" && len(parts) >= 4 && parts[3] == "_info":
		return obj{"name": parts[2], "view_index": obj{
			"signature": text, "language": "javascript", "update_seq": 7, "purge_seq": 0,
			"updater_running": true, "compact_running": false, "waiting_clients": 1, "waiting_commit": false,
			"sizes": obj{"file": 4096, "external": 1024, "active": 2048}}}
	case parts[0] == "_replicator":
		return replDoc(strings.Join(parts[1:], "/"))
	}
	return packument(strings.Join(parts[1:], "/"), text, base, now)
}

func packument(name, text, base, now string) obj {
	tb := tarballBytes(text)
	sum1 := sha1.Sum(tb) //nolint:gosec // npm's shasum is SHA-1
	sum512 := sha512.Sum512(tb)
	file := lastPart(name) + "-1.0.0.tgz"
	return obj{
		"_id": name, "_rev": "3-" + text, "name": name,
		"description": text,
		"dist-tags":   obj{"latest": "1.0.0", text: "1.0.0"},
		"versions": obj{"1.0.0": obj{
			"name": name, "version": "1.0.0", "description": text,
			"dist": obj{
				"tarball":   base + "/" + name + "/-/" + file,
				"shasum":    hex.EncodeToString(sum1[:]),
				"integrity": "sha512-" + base64.StdEncoding.EncodeToString(sum512[:]),
			},
		}},
		"time":         obj{"created": now, "modified": now, "1.0.0": now},
		"_attachments": obj{file: obj{"content_type": "application/octet-stream", "revpos": 1, "digest": "md5-" + text, "length": len(tb), "stub": true}},
	}
}

func lastPart(name string) string {
	if i := strings.LastIndex(name, "/"); i >= 0 {
		return name[i+1:]
	}
	return name
}

type (
	obj  = map[string]any
	list = []any
)

// allNull keeps the top-level keys of an object and nulls their values;
// an array becomes [null].
func allNull(v any) any {
	switch v := v.(type) {
	case obj:
		out := obj{}
		for k := range v {
			out[k] = nil
		}
		return out
	case list:
		return list{nil}
	}
	return nil
}

// nullLeaves keeps the shape and nulls every number, string and bool.
func nullLeaves(v any) any {
	if out, ok := mapChildren(v, nullLeaves); ok {
		return out
	}
	return nil
}

// wrongTypes swaps strings and numbers, and turns booleans into strings,
// lists into objects and nested objects into lists: the top level keeps
// its kind, so that the damage is inside.
func wrongTypes(v any) any {
	if out, ok := mapChildren(v, wrongInner); ok {
		return out
	}
	return wrongInner(v)
}

// mapChildren returns a copy of an object or list with f applied to each
// member, keeping its kind; ok is false for any other value.
func mapChildren(v any, f func(any) any) (out any, ok bool) {
	switch v := v.(type) {
	case obj:
		o := obj{}
		for k, e := range v {
			o[k] = f(e)
		}
		return o, true
	case list:
		l := list{}
		for _, e := range v {
			l = append(l, f(e))
		}
		return l, true
	}
	return nil, false
}

func wrongInner(v any) any {
	switch v := v.(type) {
	case obj:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		out := list{}
		for _, k := range keys {
			out = append(out, wrongInner(v[k]))
		}
		return out
	case list:
		out := obj{}
		for i, e := range v {
			out[strconv.Itoa(i)] = wrongInner(e)
		}
		return out
	case string:
		return 5
	case bool:
		return "true"
	case nil:
		return obj{}
	}
	return "5" // numbers
}
