package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
)

// headered sets the headers a real server sends with every answer and
// records the requests.
type headered struct {
	header map[string]string
	next   http.Handler

	mu       sync.Mutex
	requests []string
}

func (h *headered) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	h.requests = append(h.requests, r.Method+" "+r.URL.Path)
	h.mu.Unlock()
	for k, v := range h.header {
		w.Header().Set(k, v)
	}
	h.next.ServeHTTP(w, r)
}

// The requests of one run, as the server counts them: a server whose
// _all_dbs answer says it has no POST /_dbs_info (pouchdb-server, CouchDB
// before 2.2) is not asked for it, which saves a round trip; 3.x gets
// the same two requests as before.
func TestRunRequestsPerServer(t *testing.T) {
	dbs := map[string][2]int64{"registry": {100 << 20, 20 << 20}, "_users": {8192, 4096}, "_replicator": {8192, 2048}}
	perDB := []string{"GET /_replicator", "GET /_users", "GET /registry"}
	tests := []struct {
		name    string
		server  http.Handler
		header  map[string]string
		want    []string
		code    int
		summary string
	}{
		{"pouchdb-server", &server1x{pouch: true, dbs: dbs}, map[string]string{"X-Powered-By": "Express"},
			append([]string{"GET /_all_dbs"}, perDB...), 0, "COUCH_DISK OK - 3 databases, 100.0 MiB on disk"},
		{"CouchDB 1.6", &server1x{dbs: dbs}, map[string]string{"Server": "CouchDB/1.6.1 (Erlang OTP/R16B03)"},
			append([]string{"GET /_all_dbs"}, perDB...), 1, "COUCH_DISK WARNING - 1 of 3 databases failing: registry 80% fragmented"},
		{"CouchDB 1.6 behind a proxy that hides its Server header: probed", &server1x{dbs: dbs}, map[string]string{"Server": "nginx"},
			append([]string{"GET /_all_dbs", "POST /_dbs_info"}, perDB...), 1, "COUCH_DISK WARNING - 1 of 3 databases failing: registry 80% fragmented"},
		{"CouchDB 3.4", newServer3x(t, ""), map[string]string{"Server": "CouchDB/3.4.3 (Erlang OTP/26)"},
			[]string{"GET /_all_dbs", "POST /_dbs_info"}, 0, "COUCH_DISK OK - "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &headered{header: tt.header, next: tt.server}
			ts := httptest.NewServer(h)
			defer ts.Close()
			code, out := runCheck(t, "-u", ts.URL, "--credentials-file", credentialsFile(t))
			assert.Equal(t, tt.code, code, out)
			assert.True(t, strings.HasPrefix(out, tt.summary), out)
			assert.ElementsMatch(t, tt.want, h.requests)
		})
	}
}
