package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/registry-checks/registry-checks/test/barrier"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// barrierServer is fake3x whose GET /registry and GET
// /registry/_all_docs wait for each other, and whose two _info requests
// wait for each other; it notes what else was in flight when each view
// query arrived.
type barrierServer struct {
	t     *testing.T
	inner *fake3x
	first *barrier.Barrier
	infos *barrier.Barrier

	mu       sync.Mutex
	inFlight int
	queries  []string // "path: N others in flight"
}

func (s *barrierServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.inFlight++
	others := s.inFlight - 1
	if strings.Contains(r.URL.Path, "/_view/") {
		s.queries = append(s.queries, fmt.Sprintf("%s: %d others in flight", r.URL.Path, others))
	}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.inFlight--
		s.mu.Unlock()
	}()
	var b *barrier.Barrier
	switch p := r.URL.Path; {
	case p == "/registry" || p == "/registry/_all_docs":
		b = s.first
	case strings.HasSuffix(p, "/_info"):
		b = s.infos
	}
	if b != nil && !b.Wait(r.URL.Path) {
		s.t.Errorf("%s %s waited %s for the requests it does not depend on: they came one at a time", r.Method, r.URL.Path, barrier.Bound)
		writeBarrierError(w)
		return
	}
	s.inner.ServeHTTP(w, r)
}

func writeBarrierError(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusServiceUnavailable)
	_, _ = w.Write([]byte(`{"error":"barrier","reason":"the requests came one at a time"}`))
}

// Over HTTP, through kivik and the shared client: the database's info and
// its design documents are one round trip, the two _info requests one
// more, and each view query then runs alone.
func TestRunRequestsTogetherQueriesAlone(t *testing.T) {
	srv := &barrierServer{t: t, inner: &fake3x{t: t}, first: barrier.New(2), infos: barrier.New(2)}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	code, out := runCheck(t, "-u", ts.URL, "--credentials-file", credentialsFile(t, testUser, testPassword), "-d", "registry", "--warning-lag", "10000", "--critical-lag", "50000")
	assert.Equal(t, 1, code, out)
	require.True(t, strings.HasPrefix(out, "COUCH_VIEWS WARNING - 2 of 2 design documents failing: _design/app 19500 changes behind"), out)
	assert.Equal(t, []string{
		"/registry/_design/app/_view/by_author: 0 others in flight",
		"/registry/_design/app/_view/by_name: 0 others in flight",
		"/registry/_design/search/_view/by_keyword: 0 others in flight",
	}, srv.queries, "the queries are timed one at a time, with nothing else of ours in flight")
}
