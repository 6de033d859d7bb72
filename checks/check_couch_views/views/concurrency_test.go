package views

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/registry-checks/registry-checks/lib/couch"
	"github.com/registry-checks/registry-checks/lib/httpclient"
	"github.com/registry-checks/registry-checks/lib/nagios"
	"github.com/registry-checks/registry-checks/test/barrier"
)

// barrierCouch answers like fakeCouch, but the database's info and the
// design documents wait for each other, and the _info requests wait until
// `gather` of them are in flight. It records the most requests in flight
// at once, and how many were in flight when each query started.
type barrierCouch struct {
	*fakeCouch
	first        *barrier.Barrier
	infos        *barrier.Barrier
	dbErr        error
	ddErr        error
	ddocCanceled chan bool

	mu          sync.Mutex
	inFlight    int
	maxInfos    int
	infosInFly  int
	infosDone   int
	queriesSeen []string // "name: others in flight, infos done"
}

func (b *barrierCouch) enter() func() {
	b.mu.Lock()
	b.inFlight++
	b.mu.Unlock()
	return func() {
		b.mu.Lock()
		b.inFlight--
		b.mu.Unlock()
	}
}

var errAlone = errors.New("the requests came one at a time")

func (b *barrierCouch) DBInfo(ctx context.Context, db string) (*couch.DBInfo, error) {
	defer b.enter()()
	if !b.first.Wait("GET /" + db) {
		return nil, fmt.Errorf("GET /%s: %w", db, errAlone)
	}
	if b.dbErr != nil {
		return nil, b.dbErr
	}
	return b.fakeCouch.DBInfo(ctx, db)
}

func (b *barrierCouch) DesignDocs(ctx context.Context, db string) ([]DesignDoc, error) {
	defer b.enter()()
	if !b.first.Wait("GET /" + db + "/_all_docs") {
		return nil, fmt.Errorf("GET /%s/_all_docs: %w", db, errAlone)
	}
	if b.ddocCanceled != nil {
		// Hangs until the check gives up on it.
		select {
		case <-ctx.Done():
			b.ddocCanceled <- true
			return nil, ctx.Err()
		case <-time.After(barrier.Bound):
			b.ddocCanceled <- false
			return nil, errors.New("not cancelled")
		}
	}
	if b.ddErr != nil {
		return nil, b.ddErr
	}
	return b.fakeCouch.DesignDocs(ctx, db)
}

func (b *barrierCouch) ViewInfo(ctx context.Context, db, ddoc string) (*couch.ViewInfo, error) {
	defer b.enter()()
	b.mu.Lock()
	b.infosInFly++
	b.maxInfos = max(b.maxInfos, b.infosInFly)
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		b.infosInFly--
		b.infosDone++
		b.mu.Unlock()
	}()
	if !b.infos.Wait("GET _info of " + ddoc) {
		return nil, fmt.Errorf("GET /%s/_design/%s/_info: %w", db, ddoc, errAlone)
	}
	return b.fakeCouch.ViewInfo(ctx, db, ddoc)
}

func (b *barrierCouch) Query(ctx context.Context, db, ddoc, view string, params map[string]any) (int, error) {
	defer b.enter()()
	b.mu.Lock()
	b.queriesSeen = append(b.queriesSeen, fmt.Sprintf("%s/%s: %d others in flight, %d _info done", ddoc, view, b.inFlight-1, b.infosDone))
	b.mu.Unlock()
	return b.fakeCouch.Query(ctx, db, ddoc, view, params)
}

// manyDDocs is newFake's database with n design documents of one view.
func manyDDocs(t *testing.T, n int) *fakeCouch {
	f := newFake(t)
	f.ddocs = nil
	for i := range n {
		name := fmt.Sprintf("d%d", i)
		f.ddocs = append(f.ddocs, DesignDoc{ID: "_design/" + name, Language: "javascript", Views: []View{{Name: "v"}}})
		f.infos[name] = f.infos["app"]
	}
	return f
}

func TestRequestsThatDoNotDependOnEachOtherRunTogether(t *testing.T) {
	for _, tt := range []struct {
		name   string
		ddocs  int
		gather int // _info requests that must be in flight at once
	}{
		{"two design documents", 2, 2},
		{"four", 4, 4},
		{"nine, at most four at a time", 9, infoConcurrency},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := manyDDocs(t, tt.ddocs)
			b := &barrierCouch{fakeCouch: f, first: barrier.New(2), infos: barrier.New(tt.gather)}
			var steps []string
			deps := depsOf(f)
			deps.Couch = b
			deps.Step = func(format string, args ...any) { steps = append(steps, fmt.Sprintf(format, args...)) }
			res := Check(context.Background(), baseConfig(t), deps)

			require.NotContains(t, res.Summary, errAlone.Error(), "database info and design documents, then the _info requests, must be made together")
			for _, s := range res.Subs {
				require.NotContains(t, s.Summary, errAlone.Error(), "the _info requests must be made together")
			}
			assert.Equal(t, tt.gather, b.maxInfos, "_info requests in flight at once")
			assert.Equal(t, "GET http://db1:5984/registry and GET http://db1:5984/registry/_all_docs (design documents)", steps[0])
			var infos []string
			for i := range tt.ddocs {
				infos = append(infos, fmt.Sprintf("GET http://db1:5984/registry/_design/d%d/_info", i))
			}
			assert.Equal(t, strings.Join(infos[:tt.ddocs-1], ", ")+" and "+infos[tt.ddocs-1], steps[1], "one step names every _info")

			// The queries are measurements: one at a time, alone, after
			// every _info.
			require.Len(t, b.queriesSeen, tt.ddocs)
			for i, q := range b.queriesSeen {
				assert.Equal(t, fmt.Sprintf("d%d/v: 0 others in flight, %d _info done", i, tt.ddocs), q)
			}
			assert.Equal(t, nagios.OK, res.Status, res.Summary)
		})
	}
}

func TestConcurrentFailuresReportTheFirstInTheOldOrder(t *testing.T) {
	dbGone := &nagios.Problem{Status: nagios.UNKNOWN, Msg: "GET http://db1:5984/registry: not found: 404 Not Found (not_found: Database does not exist.)", Err: &httpclient.StatusError{Code: 404}}
	ddGone := &nagios.Problem{Status: nagios.UNKNOWN, Msg: "GET http://db1:5984/registry/_all_docs: not found: 404 Not Found (not_found: Database does not exist.)", Err: &httpclient.StatusError{Code: 404}}
	ddBroken := &nagios.Problem{Status: nagios.CRITICAL, Msg: "GET http://db1:5984/registry/_all_docs: server error 500 Internal Server Error"}

	for _, tt := range []struct {
		name         string
		dbErr, ddErr error
		status       nagios.Status
		summary      string
	}{
		{"both fail: the database's error", dbGone, ddGone, nagios.CRITICAL, "database registry not found"},
		{"only the design documents fail", nil, ddBroken, nagios.CRITICAL, ddBroken.Msg},
		{"a missing database is not the design documents' 404", nil, ddGone, nagios.UNKNOWN, ddGone.Msg},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t)
			b := &barrierCouch{fakeCouch: f, first: barrier.New(2), infos: barrier.New(1), dbErr: tt.dbErr, ddErr: tt.ddErr}
			deps := depsOf(f)
			deps.Couch = b
			res := Check(context.Background(), baseConfig(t), deps)
			assert.Equal(t, tt.status, res.Status)
			assert.Equal(t, tt.summary, res.Summary)
		})
	}

	t.Run("a failed database read cancels the design documents' request", func(t *testing.T) {
		f := newFake(t)
		b := &barrierCouch{fakeCouch: f, first: barrier.New(2), infos: barrier.New(1), dbErr: dbGone, ddocCanceled: make(chan bool, 1)}
		deps := depsOf(f)
		deps.Couch = b
		res := Check(context.Background(), baseConfig(t), deps)
		assert.Equal(t, "database registry not found", res.Summary)
		assert.Equal(t, []string{dbGone.Msg}, res.Long)
		select {
		case canceled := <-b.ddocCanceled:
			assert.True(t, canceled, "the design documents' request was not cancelled: the run waited for an answer it could not use")
		case <-time.After(2 * barrier.Bound):
			t.Error("the design documents were not requested together with the database's info")
		}
	})
}
