package replication

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/registry-checks/registry-checks/lib/couch"
	"github.com/registry-checks/registry-checks/lib/httpclient"
	"github.com/registry-checks/registry-checks/lib/nagios"
	"github.com/registry-checks/registry-checks/lib/secret"
)

// Probes are the requests beyond the node's own endpoints that measure
// lag. The zero value measures nothing.
type Probes struct {
	// HTTP is the client for requests to sources and targets; nil
	// disables every probe.
	HTTP *httpclient.Client
	// NodeCredentials authenticate requests to the targets (the node
	// checked, for pull replications) and, unless SourceCredentials is
	// set, to the sources: CouchDB strips credentials from _scheduler
	// output, and reading every replication document for its own would
	// cost a request as big as _scheduler/docs on every run.
	NodeCredentials secret.Credentials
	// SourceCredentials, when set, authenticate every request to a source.
	SourceCredentials *secret.Credentials

	SeqLag        bool // GET each source database for its update_seq
	CheckpointAge bool // GET the target's checkpoint document while changes are pending

	// HeartbeatDB names the source database the heartbeat is written to;
	// every selected replication of a database of that name gets a
	// heartbeat lag. Empty: no heartbeat. The database is never created:
	// it must exist on the source and be replicated.
	HeartbeatDB string
	// HeartbeatID is the heartbeat document's id; DefaultHeartbeatID()
	// when empty (one document per checking host, so that concurrent
	// checkers never conflict).
	HeartbeatID string
	// HeartbeatWait bounds the wait for the heartbeat on the target
	// (default 10s); the context's deadline bounds it too.
	HeartbeatWait time.Duration
	// Poll is the interval between two reads of the target (default 100ms).
	Poll time.Duration
	// Parallel bounds concurrent requests (default 16).
	Parallel int
	// Step, if set, is told what the probes wait for (plugin.Env.Step).
	Step func(format string, args ...any)
}

// DefaultHeartbeatWait is the default bound of the heartbeat wait.
const DefaultHeartbeatWait = 10 * time.Second

// DefaultHeartbeatID is "heartbeat-<hostname>".
func DefaultHeartbeatID() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		h = "unknown-host"
	}
	var b strings.Builder
	for _, r := range strings.ToLower(h) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '.' || r == '_' {
			b.WriteRune(r)
		} else {
			b.WriteRune('-')
		}
	}
	return "heartbeat-" + b.String()
}

func (p Probes) enabled() bool {
	return p.HTTP != nil && (p.SeqLag || p.CheckpointAge || p.HeartbeatDB != "")
}

func (p Probes) step(format string, args ...any) {
	if p.Step != nil {
		p.Step(format, args...)
	}
}

func (p Probes) parallel() int {
	if p.Parallel <= 0 {
		return 16
	}
	return p.Parallel
}

// alive reports the states in which a replication is supposed to move
// data, so that its lag means something.
func alive(r *Replication) bool {
	switch r.State {
	case Running, Pending, Initializing, Triggered:
		return true
	}
	return false
}

func isHTTP(u string) bool {
	return strings.HasPrefix(u, "http://") || strings.HasPrefix(u, "https://")
}

func (p Probes) sourceCreds(*Replication) secret.Credentials {
	if p.SourceCredentials != nil {
		return *p.SourceCredentials
	}
	return p.NodeCredentials
}

func (p Probes) targetCreds(*Replication) secret.Credentials { return p.NodeCredentials }

// run measures the lags of rep's replications in place.
func (p Probes) run(ctx context.Context, c *couch.Client, rep *Report, now time.Time) {
	reps := rep.Replications
	// The sources are read before the heartbeat is written: the heartbeat
	// is a change of the run's own making, and counted as pending it made
	// an idle node checked less often than CouchDB checkpoints look
	// behind ("no checkpoint for 1m15s while changes are pending").
	// Nothing is lost in time: the heartbeat's wait comes after both.
	if p.SeqLag || p.CheckpointAge {
		p.seqLags(ctx, reps, now)
	}
	var hb *heartbeat
	if p.HeartbeatDB != "" {
		hb = p.startHeartbeat(ctx, reps, rep)
	}
	if hb != nil {
		hb.finish(ctx, reps)
	}
}

// forEach runs f over the indices in idx with at most Parallel at once.
func (p Probes) forEach(idx []int, f func(i int)) {
	sem := make(chan struct{}, p.parallel())
	var wg sync.WaitGroup
	for _, i := range idx {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			f(i)
		}()
	}
	wg.Wait()
}

// seqLags GETs each distinct source database once and sets SeqLag (and
// CheckpointAge while changes are pending).
func (p Probes) seqLags(ctx context.Context, reps []Replication, now time.Time) {
	type source struct {
		url   string
		creds secret.Credentials
		seq   int64
		err   error
		users []int
	}
	bySource := map[string]*source{}
	var order []*source
	for i := range reps {
		r := &reps[i]
		if !alive(r) {
			r.SeqLag = unknownLag("not measured while " + r.State)
			continue
		}
		if r.through.IsZero() {
			r.SeqLag = unknownLag("the server reports no written sequence")
			continue
		}
		if !isHTTP(r.sourceURL) {
			r.SeqLag = unknownLag("source is not an http(s) URL")
			continue
		}
		creds := p.sourceCreds(r)
		key := r.sourceURL + "\x00" + creds.User
		s := bySource[key]
		if s == nil {
			s = &source{url: r.sourceURL, creds: creds}
			bySource[key] = s
			order = append(order, s)
		}
		s.users = append(s.users, i)
	}
	idx := make([]int, len(order))
	for i := range idx {
		idx[i] = i
	}
	// Sources that share a server are asked for in batches: one POST
	// /_dbs_info for up to 100 databases instead of a GET each, which on
	// a node with thousands of replications of one primary is the
	// difference between a few requests and thousands over the WAN.
	var batches []dbsInfoBatch
	byServer := map[string]int{}
	for i, s := range order {
		server, db, ok := serverAndDB(s.url)
		if !ok {
			continue
		}
		key := server + "\x00" + s.creds.User
		b, seen := byServer[key]
		if !seen || len(batches[b].sources) == dbsInfoBatchSize {
			b = len(batches)
			byServer[key] = b
			batches = append(batches, dbsInfoBatch{key: key, server: server, creds: s.creds, first: !seen})
		}
		batches[b].sources = append(batches[b].sources, i)
		batches[b].dbs = append(batches[b].dbs, db)
	}
	// A batch of one is a GET like any other. A server's first batch goes
	// first: if the server cannot answer it, its other batches are not
	// tried either.
	done := make([]bool, len(order))
	var firsts, others []int
	for b := range batches {
		switch {
		case len(batches[b].sources) < 2:
		case batches[b].first:
			firsts = append(firsts, b)
		default:
			others = append(others, b)
		}
	}
	if len(firsts) > 0 {
		p.step("POST %s/_dbs_info (source update_seq, %d sources in %d batches)", batches[firsts[0]].server, len(order), len(firsts)+len(others))
	}
	var mu sync.Mutex
	failed := map[string]bool{}
	post := func(b int) {
		batch := &batches[b]
		seqs, ok := p.dbsInfo(ctx, batch)
		if !ok {
			mu.Lock()
			failed[batch.key] = true
			mu.Unlock()
			return
		}
		for k, i := range batch.sources {
			if seq, ok := seqs[batch.dbs[k]]; ok {
				order[i].seq, order[i].err = seq.Number()
				done[i] = true
			}
		}
	}
	p.forEach(firsts, post)
	others = slices.DeleteFunc(others, func(b int) bool { return failed[batches[b].key] })
	p.forEach(others, post)
	// Whatever no batch answered (a server without POST /_dbs_info, a
	// user not allowed it, a missing database) is read the plain way, so
	// that every failure is reported as the GET of its database.
	idx = idx[:0]
	for i := range order {
		if !done[i] {
			idx = append(idx, i)
		}
	}
	if len(idx) > 0 {
		p.step("GET %s (source update_seq, %d sources)", order[idx[0]].url, len(idx))
	}
	p.forEach(idx, func(k int) {
		s := order[k]
		var info couch.DBInfo
		if err := p.HTTP.GetJSON(ctx, s.url, s.creds, &info); err != nil {
			s.err = err
			return
		}
		s.seq, s.err = info.UpdateSeq.Number()
	})
	var pending []int
	sourceOf := map[int]*source{}
	for _, s := range order {
		for _, i := range s.users {
			r := &reps[i]
			sourceOf[i] = s
			if s.err != nil {
				msg := nagios.AsProblem(s.err).Msg
				r.SeqLag = unknownLag(msg)
				if transportFailure(s.err) {
					r.sourceUnreachable = msg
				}
				continue
			}
			through, err := r.through.Number()
			if err != nil {
				r.SeqLag = unknownLag(err.Error())
				continue
			}
			r.SeqLag = knownLag(float64(max(s.seq-through, 0)))
			if r.SeqLag.Value > 0 {
				pending = append(pending, i)
			}
		}
	}
	// A clustered sequence's number counts every update of the database,
	// _security's too, which no replication ever carries: on CouchDB 2+
	// each replication said behind is asked how many changes really come
	// after what it wrote (_changes?since=<through_seq>&limit=0 answers
	// "pending"), so that an edited _security is no pending work.
	if len(pending) > 0 {
		p.step("GET %s/_changes?since=...&limit=0 (changes pending after %d replications' written sequence)", reps[pending[0]].sourceURL, len(pending))
	}
	p.forEach(pending, func(i int) {
		r := &reps[i]
		if !strings.Contains(r.through.String(), "-") {
			return // a plain number (CouchDB 1.x, PouchDB): exact already
		}
		var ch struct {
			Pending *int64 `json:"pending"`
		}
		q := url.Values{"since": {r.through.String()}, "limit": {"0"}}
		if err := p.HTTP.GetJSON(ctx, r.sourceURL+"/_changes?"+q.Encode(), sourceOf[i].creds, &ch); err == nil && ch.Pending != nil {
			r.SeqLag = knownLag(float64(max(*ch.Pending, 0)))
		}
	})
	pending = slices.DeleteFunc(pending, func(i int) bool { return reps[i].SeqLag.Value == 0 })
	for _, s := range order {
		for _, i := range s.users {
			if r := &reps[i]; s.err == nil && r.SeqLag.Known && r.SeqLag.Value == 0 {
				r.CheckpointAge = knownLag(0)
			}
		}
	}
	if !p.CheckpointAge {
		for _, i := range pending {
			reps[i].CheckpointAge = unknownLag("not measured")
		}
		return
	}
	if len(pending) > 0 {
		p.step("GET %s/_local/... (checkpoints of %d replications with changes pending)", reps[pending[0]].targetURL, len(pending))
	}
	p.forEach(pending, func(i int) {
		reps[i].CheckpointAge = p.checkpointAge(ctx, &reps[i], now)
	})
}

// dbsInfoBatchSize is CouchDB's default max_db_number_for_dbs_info_req.
const dbsInfoBatchSize = 100

// dbsInfoBatch is up to dbsInfoBatchSize source databases of one server.
type dbsInfoBatch struct {
	key     string // server and user
	first   bool   // the server's first batch
	server  string
	creds   secret.Credentials
	dbs     []string // database names, unescaped
	sources []int    // their index in the source list
}

// dbsInfo POSTs the batch to the server's /_dbs_info (CouchDB 2.2+) and
// returns the update_seq of each database it answered for. False when the
// server cannot answer (older servers, PouchDB Server, a user who may not):
// the caller then GETs each database.
func (p Probes) dbsInfo(ctx context.Context, b *dbsInfoBatch) (map[string]couch.Seq, bool) {
	var rows []struct {
		Key  string `json:"key"`
		Info *struct {
			UpdateSeq couch.Seq `json:"update_seq"`
		} `json:"info"`
	}
	if _, err := p.HTTP.JSON(ctx, http.MethodPost, b.server+"/_dbs_info", b.creds, map[string][]string{"keys": b.dbs}, &rows); err != nil {
		return nil, false
	}
	seqs := make(map[string]couch.Seq, len(rows))
	for _, r := range rows {
		if r.Info != nil && !r.Info.UpdateSeq.IsZero() {
			seqs[r.Key] = r.Info.UpdateSeq
		}
	}
	return seqs, true
}

// serverAndDB splits a database URL (without credentials) into the server
// URL and the database name, unescaped. False for a URL that is not plainly
// server/db (a query, a fragment, no database): it is read with a GET.
func serverAndDB(dbURL string) (server, db string, ok bool) {
	u, err := url.Parse(dbURL)
	if err != nil || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || !isHTTP(dbURL) {
		return "", "", false
	}
	p := u.EscapedPath()
	i := strings.LastIndex(p, "/")
	if i < 0 || i == len(p)-1 {
		return "", "", false
	}
	db, err = url.PathUnescape(p[i+1:])
	if err != nil || db == "" || strings.HasPrefix(db, "_") {
		return "", "", false
	}
	u.RawPath, u.Path = "", ""
	return strings.TrimSuffix(u.String(), "/") + p[:i], db, true
}

// checkpointAge reads the replication's checkpoint document on the target
// (_local/<replication id without its +options>) and returns the age of
// its newest history entry. end_time is on the target's clock: on a pull
// replication the node checked, usually the checker's own host.
func (p Probes) checkpointAge(ctx context.Context, r *Replication, now time.Time) Lag {
	base, _, _ := strings.Cut(r.ID, "+")
	if base == "" || !isHTTP(r.targetURL) {
		return unknownLag("no replication id or target URL to find the checkpoint")
	}
	var doc struct {
		History []struct {
			EndTime string `json:"end_time"`
		} `json:"history"`
	}
	u := r.targetURL + "/_local/" + url.PathEscape(base)
	if err := p.HTTP.GetJSON(ctx, u, p.targetCreds(r), &doc); err != nil {
		return unknownLag(nagios.AsProblem(err).Msg)
	}
	if len(doc.History) == 0 {
		return unknownLag("checkpoint document has no history")
	}
	t, err := http.ParseTime(doc.History[0].EndTime)
	if err != nil {
		if t, err = time.Parse(time.RFC3339, doc.History[0].EndTime); err != nil {
			return unknownLag(fmt.Sprintf("checkpoint end_time %q is not a date", doc.History[0].EndTime))
		}
	}
	return knownLag(max(now.Sub(t).Seconds(), 0))
}

// transportFailure reports an error where nobody answered (refused, DNS,
// unreachable, timeout), as opposed to an answer we did not like.
func transportFailure(err error) bool {
	var se *httpclient.StatusError
	if errors.As(err, &se) {
		return false
	}
	p := nagios.AsProblem(err)
	return p.Status == nagios.CRITICAL || p.Timeout
}

// heartbeat is one run's heartbeat writes and watches.
type heartbeat struct {
	p     Probes
	id    string
	nonce string
	// host and start: a heartbeat of this id written by this host since
	// start counts as this run's (see watch).
	host    string
	start   time.Time
	writes  map[string]*hbWrite // by source URL
	targets map[int]*hbWrite    // replication index -> its source's write
	wait    time.Duration
}

type hbWrite struct {
	url   string // source database URL
	creds secret.Credentials
	at    time.Time // when the PUT was sent, checker clock
	err   error
}

// hbDoc is the heartbeat document.
type hbDoc struct {
	ID      string `json:"_id"`
	Rev     string `json:"_rev,omitempty"`
	Type    string `json:"type"`
	Host    string `json:"host"`
	Written string `json:"written"` // RFC 3339 with nanoseconds, checker clock
	Nonce   string `json:"nonce"`
}

// startHeartbeat writes the heartbeat document on every source database
// named HeartbeatDB that a selected replication reads.
func (p Probes) startHeartbeat(ctx context.Context, reps []Replication, rep *Report) *heartbeat {
	hb := &heartbeat{p: p, id: p.HeartbeatID, writes: map[string]*hbWrite{}, targets: map[int]*hbWrite{}, wait: p.HeartbeatWait}
	if hb.id == "" {
		hb.id = DefaultHeartbeatID()
	}
	if hb.wait <= 0 {
		hb.wait = DefaultHeartbeatWait
	}
	hb.start = time.Now()
	var nb [8]byte
	_, _ = rand.Read(nb[:])
	hb.nonce = hex.EncodeToString(nb[:])
	var order []*hbWrite
	for i := range reps {
		r := &reps[i]
		if r.State == Missing || dbOf(r.sourceURL) != p.HeartbeatDB {
			r.HeartbeatLag = unknownLag("not a replication of the heartbeat database")
			continue
		}
		if !isHTTP(r.sourceURL) || !isHTTP(r.targetURL) {
			r.HeartbeatLag = unknownLag("source or target is not an http(s) URL")
			continue
		}
		w := hb.writes[r.sourceURL]
		if w == nil {
			w = &hbWrite{url: r.sourceURL, creds: p.sourceCreds(r)}
			hb.writes[r.sourceURL] = w
			order = append(order, w)
		}
		hb.targets[i] = w
	}
	if len(order) == 0 {
		rep.Notes = append(rep.Notes, fmt.Sprintf("no selected replication reads a database named %q: no heartbeat lag", p.HeartbeatDB))
		rep.heartbeatUnmatched = true
		return nil
	}
	hb.host, _ = os.Hostname()
	idx := make([]int, len(order))
	for i := range idx {
		idx[i] = i
	}
	p.step("PUT %s/%s (heartbeat)", order[0].url, hb.id)
	p.forEach(idx, func(k int) {
		w := order[k]
		docURL := w.url + "/" + url.PathEscape(hb.id)
		// Another run on this host (the NRPE check, the Telegraf input, the
		// handler) may write the same document between our read and our
		// write: a conflict is read again and retried.
		for attempt := 1; ; attempt++ {
			var old hbDoc
			if _, err := p.HTTP.JSON(ctx, http.MethodGet, docURL, w.creds, nil, &old, http.StatusNotFound); err != nil {
				w.err = err
				return
			}
			w.at = time.Now()
			doc := hbDoc{ID: hb.id, Rev: old.Rev, Type: "heartbeat", Host: hb.host, Written: w.at.UTC().Format(time.RFC3339Nano), Nonce: hb.nonce}
			_, err := p.HTTP.JSON(ctx, http.MethodPut, docURL, w.creds, doc, nil)
			var se *httpclient.StatusError
			if err == nil || !errors.As(err, &se) || se.Code != http.StatusConflict || attempt == hbWriteAttempts || ctx.Err() != nil {
				w.err = err
				return
			}
		}
	})
	return hb
}

// hbReadsPerSecond bounds the reads of the targets while waiting for the
// heartbeat: each target is read every 100 ms, or less often beyond 20
// targets.
const hbReadsPerSecond = 200

// hbWriteAttempts bounds the writes of one heartbeat that conflict with
// other runs' writes of the same document.
const hbWriteAttempts = 8

// finish watches every target for the heartbeat until it arrives or the
// wait ends, and sets HeartbeatLag. Lag is arrival minus write, both on
// the checker's clock; one that has not arrived is at least the age of the
// newest heartbeat the target has (the time waited included).
func (hb *heartbeat) finish(ctx context.Context, reps []Replication) {
	deadline := time.Now().Add(hb.wait)
	if d, ok := ctx.Deadline(); ok && d.Add(-300*time.Millisecond).Before(deadline) {
		deadline = d.Add(-300 * time.Millisecond)
	}
	var idx []int
	for i, w := range hb.targets {
		r := &reps[i]
		if w.err != nil {
			msg := nagios.AsProblem(w.err).Msg
			r.HeartbeatLag = unknownLag("heartbeat not written: " + msg)
			if transportFailure(w.err) {
				r.sourceUnreachable = msg
			}
			continue
		}
		idx = append(idx, i)
	}
	poll := hb.p.Poll
	if poll <= 0 {
		// At most hbReadsPerSecond reads in all: hundreds of targets
		// polled every 100 ms would slow the very node whose
		// replications are timed (issue 13's 200 replications).
		poll = max(100*time.Millisecond, time.Duration(len(idx))*time.Second/hbReadsPerSecond)
	}
	if len(idx) > 0 {
		hb.p.step("GET %s/%s (waiting up to %s for the heartbeat)", reps[idx[0]].targetURL, hb.id, hb.wait)
	}
	var mu sync.Mutex
	// Every watch must run at once: a bounded pool would make the last
	// targets wait for the first ones' timeouts.
	var wg sync.WaitGroup
	for _, i := range idx {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lag := hb.watch(ctx, &reps[i], hb.targets[i], deadline, poll)
			mu.Lock()
			reps[i].HeartbeatLag = lag
			mu.Unlock()
		}()
	}
	wg.Wait()
}

func (hb *heartbeat) watch(ctx context.Context, r *Replication, w *hbWrite, deadline time.Time, poll time.Duration) Lag {
	docURL := r.targetURL + "/" + url.PathEscape(hb.id)
	creds := hb.p.targetCreds(r)
	var newest time.Time
	var lastErr error
	for {
		sent := time.Now()
		var doc hbDoc
		code, err := hb.p.HTTP.JSON(ctx, http.MethodGet, docURL, creds, nil, &doc, http.StatusNotFound)
		switch {
		case err != nil:
			lastErr = err
		case code == http.StatusOK && doc.Nonce == hb.nonce:
			return knownLag(max(sent.Sub(w.at).Seconds(), 0))
		case code == http.StatusOK:
			t, err := time.Parse(time.RFC3339Nano, doc.Written)
			if err != nil {
				break
			}
			if doc.Host == hb.host && !t.Before(hb.start) {
				// Another run on this host wrote the document after this
				// run started (on the same clock): its arrival proves the
				// replication moved data since, as ours would have. Its
				// write replaced ours on the source, so ours may never
				// arrive.
				return knownLag(max(sent.Sub(t).Seconds(), 0))
			}
			if t.After(newest) {
				newest = t
			}
		}
		next := time.Now().Add(poll)
		if next.After(deadline) || ctx.Err() != nil {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Until(next)):
		}
	}
	now := time.Now()
	since := w.at
	if !newest.IsZero() && newest.Before(since) {
		since = newest
	}
	l := Lag{Value: max(now.Sub(since).Seconds(), 0), Known: true, AtLeast: true}
	switch {
	case lastErr != nil:
		l.Note = "reading the heartbeat on the target: " + nagios.AsProblem(lastErr).Msg
	case newest.IsZero():
		l.Note = fmt.Sprintf("heartbeat not arrived after %s; the target has none", age(now.Sub(w.at)))
	default:
		l.Note = fmt.Sprintf("heartbeat not arrived after %s; the newest on the target was written %s ago", age(now.Sub(w.at)), age(now.Sub(newest)))
	}
	return l
}
