package couch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	kivik "github.com/go-kivik/kivik/v4"
	"github.com/go-kivik/kivik/v4/couchdb/chttp"

	"github.com/registry-checks/registry-checks/lib/httpclient"
	"github.com/registry-checks/registry-checks/lib/nagios"
	"github.com/registry-checks/registry-checks/lib/secret"
)

// Root is GET /.
//
// On 3.x GET / pings the search node (dreyfus:available()) and can take
// seconds when Erlang distribution is misconfigured; use Up for liveness.
func (c *Client) Root(ctx context.Context) (*Root, error) {
	var r Root
	if err := c.getJSON(ctx, "/", nil, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// Up is GET /_up (2.0+). A node in maintenance mode answers 404 with
// status "maintenance_mode": that comes back as an Up, not an error, for
// the caller to judge. A 404 without a status (1.x has no /_up) is a
// Problem.
func (c *Client) Up(ctx context.Context) (*Up, error) {
	var u Up
	u2 := c.url("/_up", nil)
	code, err := c.hc.JSON(ctx, http.MethodGet, u2, c.creds, nil, &u, http.StatusNotFound)
	if err != nil {
		return nil, err
	}
	if code != http.StatusNotFound && u.Status == "" {
		return nil, httpclient.ShapeProblem(http.MethodGet, u2, errors.New("no status"))
	}
	if code == http.StatusNotFound && u.Status == "" {
		return nil, &nagios.Problem{Status: nagios.UNKNOWN, Msg: "GET " + secret.RedactURL(u2) + ": not found: 404 Not Found (CouchDB before 2.0 has no /_up)",
			Err: &httpclient.StatusError{Method: http.MethodGet, URL: secret.RedactURL(u2), Code: code}}
	}
	return &u, nil
}

// maxPages bounds a paged fetch against a server whose total_rows keeps
// growing faster than we read.
const maxPages = 1000

// SchedulerJobs is GET /_scheduler/jobs, every page of it: CouchDB returns
// only 100 jobs unless asked for more, so the fetch passes limit and skip
// and goes on until total_rows jobs are read (or a page comes back
// empty). Jobs that come or go between pages can be missed or seen twice;
// one check run accepts that.
func (c *Client) SchedulerJobs(ctx context.Context) (*SchedulerJobs, error) {
	all := &SchedulerJobs{}
	err := c.paged(ctx, "/_scheduler/jobs", func(q url.Values) (int, int, error) {
		p := SchedulerJobs{Jobs: pageTail(all.Jobs)}
		if err := c.getJSON(ctx, "/_scheduler/jobs", q, &p); err != nil {
			return 0, 0, err
		}
		all.TotalRows = p.TotalRows
		all.Jobs = appendPage(all.Jobs, p.Jobs, p.TotalRows)
		return len(p.Jobs), p.TotalRows, nil
	})
	if err != nil {
		return nil, err
	}
	return all, nil
}

// SchedulerDocs is GET /_scheduler/docs, paged like SchedulerJobs (it
// returns every doc by default, but a thousand replications make a
// megabyte).
func (c *Client) SchedulerDocs(ctx context.Context) (*SchedulerDocs, error) {
	all := &SchedulerDocs{}
	err := c.paged(ctx, "/_scheduler/docs", func(q url.Values) (int, int, error) {
		p := SchedulerDocs{Docs: pageTail(all.Docs)}
		if err := c.getJSON(ctx, "/_scheduler/docs", q, &p); err != nil {
			return 0, 0, err
		}
		all.TotalRows = p.TotalRows
		all.Docs = appendPage(all.Docs, p.Docs, p.TotalRows)
		return len(p.Docs), p.TotalRows, nil
	})
	if err != nil {
		return nil, err
	}
	return all, nil
}

// maxPreallocRows bounds what a server's total_rows can make us reserve
// before the rows arrive.
const maxPreallocRows = 100_000

// pageTail is the spare capacity of all, empty: encoding/json decodes an
// array into a slice by appending, so a page decoded into it lands in
// place, and appendPage then only extends all. The spare capacity is
// always zeroed memory (make, then only ever extended over), so no row
// inherits fields from an earlier one.
func pageTail[T any](all []T) []T {
	return all[len(all):len(all):cap(all)]
}

// appendPage adds a decoded page to all: in place when the decoder used
// all's spare capacity, else by copying (the page outgrew it, or this is
// the first page, after which room for total rows is reserved).
func appendPage[T any](all, page []T, total int) []T {
	n := len(all)
	if len(page) > 0 && cap(all)-n >= len(page) && &all[:n+1][n] == &page[0] {
		return all[:n+len(page)]
	}
	if all == nil && total > len(page) {
		all = make([]T, 0, min(total, maxPreallocRows))
	}
	return append(all, page...)
}

// paged GETs path with limit/skip until total rows are read; get GETs
// and decodes the page of query q and returns its row count and
// total_rows. Each page is decoded once, straight into its rows.
func (c *Client) paged(ctx context.Context, path string, get func(q url.Values) (rows, total int, err error)) error {
	limit := c.PageSize
	if limit <= 0 {
		limit = 500
	}
	skip := 0
	for range maxPages {
		q := url.Values{"limit": {strconv.Itoa(limit)}, "skip": {strconv.Itoa(skip)}}
		rows, total, err := get(q)
		if err != nil {
			return err
		}
		skip += rows
		if rows == 0 || skip >= total {
			return nil
		}
	}
	return &nagios.Problem{Status: nagios.UNKNOWN, Msg: fmt.Sprintf("GET %s: still more rows after %d pages of %d", secret.RedactURL(c.base+path), maxPages, limit)}
}

// SchedulerJob is GET /_scheduler/jobs/{id}; an unknown id is a Problem
// whose Err is an *httpclient.StatusError with Code 404.
func (c *Client) SchedulerJob(ctx context.Context, id string) (*SchedulerJob, error) {
	var j SchedulerJob
	if err := c.getJSON(ctx, "/_scheduler/jobs/"+url.PathEscape(id), nil, &j); err != nil {
		return nil, err
	}
	return &j, nil
}

// SchedulerDoc is GET /_scheduler/docs/{db}/{docid}; db is usually
// "_replicator" (a db name with a slash is escaped as CouchDB wants).
func (c *Client) SchedulerDoc(ctx context.Context, db, docID string) (*SchedulerDoc, error) {
	var d SchedulerDoc
	if err := c.getJSON(ctx, "/_scheduler/docs/"+url.PathEscape(db)+"/"+url.PathEscape(docID), nil, &d); err != nil {
		return nil, err
	}
	return &d, nil
}

// ActiveTasks is GET /_active_tasks.
func (c *Client) ActiveTasks(ctx context.Context) ([]ActiveTask, error) {
	var t activeTasks
	if err := c.getJSON(ctx, "/_active_tasks", nil, &t); err != nil {
		return nil, err
	}
	return t, nil
}

// System is GET /_node/_local/_system (2.0+).
func (c *Client) System(ctx context.Context) (*System, error) {
	var s System
	if err := c.getJSON(ctx, "/_node/_local/_system", nil, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// ViewInfo is GET /{db}/_design/{ddoc}/_info; ddoc without "_design/".
// A server that answers view_index with a string (pouchdb-server says
// "Not implemented.") gets a ViewInfo with that text in Unsupported and a
// zero ViewIndex, for the caller to report as not measurable. No
// view_index, or one without its update_seq, is a wrong-shaped answer.
func (c *Client) ViewInfo(ctx context.Context, db, ddoc string) (*ViewInfo, error) {
	ddoc = strings.TrimPrefix(ddoc, "_design/")
	path := "/" + url.PathEscape(db) + "/_design/" + url.PathEscape(ddoc) + "/_info"
	var raw struct {
		Name      string          `json:"name"`
		ViewIndex json.RawMessage `json:"view_index"`
	}
	start := time.Now()
	if err := c.getJSON(ctx, path, nil, &raw); err != nil {
		return nil, err
	}
	v := &ViewInfo{Name: raw.Name}
	vi := bytes.TrimSpace(raw.ViewIndex)
	switch {
	case len(vi) > 0 && vi[0] == '"':
		if err := json.Unmarshal(vi, &v.Unsupported); err != nil || v.Unsupported == "" {
			v.Unsupported = "view_index is a string"
		}
	case len(vi) == 0 || string(vi) == "null":
		// CouchDB 1.x-3.x always send it, PouchDB Server as a string.
		return nil, httpclient.ShapeProblem(http.MethodGet, c.url(path, nil), errors.New("no view_index"))
	default:
		if err := json.Unmarshal(vi, &v.ViewIndex); err != nil {
			return nil, httpclient.ClassifyAfter(time.Since(start), http.MethodGet, c.url(path, nil), nil, err)
		}
		if v.ViewIndex.UpdateSeq.IsZero() {
			return nil, httpclient.ShapeProblem(http.MethodGet, c.url(path, nil), errors.New("view_index has no update_seq"))
		}
	}
	return v, nil
}

// DBInfo is GET /{db}, decoded as a stream with its shape checked (a
// db_name). Not through kivik: its Stats holds the whole answer twice
// (decoded, and RawResponse), flattens update_seq to a string and drops
// sizes.external. A missing database is a Problem whose Err is an
// *httpclient.StatusError with Code 404.
func (c *Client) DBInfo(ctx context.Context, db string) (*DBInfo, error) {
	var info DBInfo
	if err := c.getJSON(ctx, "/"+url.PathEscape(db), nil, &info); err != nil {
		return nil, err
	}
	return &info, nil
}

// AllDBs is GET /_all_dbs, through kivik. The answer's headers tell
// whether the server has POST /_dbs_info; DBsInfo remembers it.
func (c *Client) AllDBs(ctx context.Context) ([]string, error) {
	start := time.Now()
	var header http.Header
	ctx = chttp.WithClientTrace(ctx, &chttp.ClientTrace{HTTPResponse: func(r *http.Response) { header = r.Header }})
	dbs, err := c.kv.AllDBs(ctx)
	if err != nil {
		return nil, c.Problem(http.MethodGet, "/_all_dbs", start, err)
	}
	// kivik gives nil for null ([] is an empty list), and "" for a null
	// element.
	if dbs == nil {
		return nil, httpclient.ShapeProblem(http.MethodGet, c.url("/_all_dbs", nil), errors.New("not a list of databases"))
	}
	if i := slices.Index(dbs, ""); i >= 0 {
		return nil, httpclient.ShapeProblem(http.MethodGet, c.url("/_all_dbs", nil), fmt.Errorf("database %d has no name", i))
	}
	if lacksDBsInfo(header) {
		c.noDBsInfo.Store(true)
	}
	return dbs, nil
}

// lacksDBsInfo reports whether an answer's headers name a server known to
// have no POST /_dbs_info: CouchDB before 2.2 ("Server: CouchDB/1.6.1
// (Erlang OTP/R16B03)", "CouchDB/2.1.2 (Erlang OTP/19)"), or
// pouchdb-server (no Server header, "X-Powered-By: Express").
//
// This saves the probe's round trip on those servers without a request of
// its own. Asking GET / alongside _all_dbs would cost one more request on
// every server, and on 3.x GET / waits for the search node (see Root).
// Anything else is probed as before: 2.2+ and 3.x, an unreadable version,
// and a proxy that replaces the Server header (nginx does by default),
// even in front of pouchdb-server. A wrong guess costs requests only:
// POST /_dbs_info and one GET /{db} per database read the same infos.
func lacksDBsInfo(h http.Header) bool {
	server := h.Get("Server")
	if v, ok := strings.CutPrefix(server, "CouchDB/"); ok {
		var major, minor int
		if _, err := fmt.Sscanf(v, "%d.%d", &major, &minor); err != nil {
			return false
		}
		return major < 2 || major == 2 && minor < 2
	}
	return server == "" && strings.EqualFold(h.Get("X-Powered-By"), "Express")
}

// DBsInfo returns the info of the named databases, in their order, a
// missing one with Error "not_found". It POSTs /_dbs_info (2.2+) in
// batches of DBsInfoBatch and falls back to one GET /{db} per database on
// servers without it (1.x, 2.0, 2.1, PouchDB). When an earlier AllDBs
// already said the server lacks it, it does not POST at all.
//
// The first batch goes alone (its answer says whether the server has
// _dbs_info), the others DBInfoConcurrency at a time, like the GETs: over
// a WAN, 10,000 databases one batch after another would be 100 round
// trips.
//
// Not through kivik: kivik 4.5.2's couchdb driver sends POST /_dbs_info
// with context.Background(), so a hung server would outlive the -t
// deadline.
func (c *Client) DBsInfo(ctx context.Context, dbs []string) ([]DBsInfoRow, error) {
	batch := c.DBsInfoBatch
	if batch <= 0 {
		batch = 100
	}
	if c.noDBsInfo.Load() {
		return c.dbsInfoOneByOne(ctx, dbs)
	}
	if len(dbs) == 0 {
		return []DBsInfoRow{}, nil
	}
	first, err := c.dbsInfoBatch(ctx, dbs[:min(batch, len(dbs))])
	if notSupported(err) {
		return c.dbsInfoOneByOne(ctx, dbs)
	}
	if err != nil {
		return nil, err
	}
	rest := make([][]DBsInfoRow, (len(dbs)-1)/batch)
	err = c.bounded(ctx, len(rest), func(ctx context.Context, k int) error {
		lo := (k + 1) * batch
		var err error
		rest[k], err = c.dbsInfoBatch(ctx, dbs[lo:min(lo+batch, len(dbs))])
		return err
	})
	if err != nil {
		return nil, err
	}
	out := make([]DBsInfoRow, 0, len(dbs))
	out = append(out, first...)
	for _, rows := range rest {
		out = append(out, rows...)
	}
	return out, nil
}

// dbsInfoBatch is one POST /_dbs_info.
func (c *Client) dbsInfoBatch(ctx context.Context, keys []string) ([]DBsInfoRow, error) {
	var rows dbsInfoRows
	_, err := c.hc.JSON(ctx, http.MethodPost, c.url("/_dbs_info", nil), c.creds, map[string][]string{"keys": keys}, &rows)
	return rows, err
}

// AllDBsInfo is GET /_dbs_info (3.2+): the info of every database. On
// older servers it falls back to AllDBs and DBsInfo.
func (c *Client) AllDBsInfo(ctx context.Context) ([]DBsInfoRow, error) {
	var rows dbsInfoRows
	err := c.getJSON(ctx, "/_dbs_info", nil, &rows)
	if notSupported(err) {
		dbs, err := c.AllDBs(ctx)
		if err != nil {
			return nil, err
		}
		return c.DBsInfo(ctx, dbs)
	}
	if err != nil {
		return nil, err
	}
	return rows, nil
}

// notSupported reports the answers of a server that lacks an endpoint:
// 400 or 404 (1.x takes /_dbs_info for a database with an illegal name),
// 405 (2.2 to 3.1 have only POST /_dbs_info), 501.
func notSupported(err error) bool {
	var se *httpclient.StatusError
	if !errors.As(err, &se) {
		return false
	}
	switch se.Code {
	case http.StatusNotFound, http.StatusMethodNotAllowed, http.StatusBadRequest, http.StatusNotImplemented:
		return true
	}
	return false
}

func (c *Client) dbsInfoOneByOne(ctx context.Context, dbs []string) ([]DBsInfoRow, error) {
	out := make([]DBsInfoRow, len(dbs))
	err := c.bounded(ctx, len(dbs), func(ctx context.Context, i int) error {
		info, err := c.DBInfo(ctx, dbs[i])
		var se *httpclient.StatusError
		switch {
		case errors.As(err, &se) && se.Code == http.StatusNotFound:
			out[i] = DBsInfoRow{Key: dbs[i], Error: "not_found"}
		case err != nil:
			return err
		default:
			out[i] = DBsInfoRow{Key: dbs[i], Info: info}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// bounded calls f for 0..n-1, DBInfoConcurrency calls at a time: one at a
// time would take minutes for thousands of databases, all at once would
// hurt the node being monitored. It returns the first error and stops
// starting new calls after it; if ctx ends first, ctx's error, so that a
// caller never takes the calls not made for done.
func (c *Client) bounded(parent context.Context, n int, f func(ctx context.Context, i int) error) error {
	workers := min(max(c.DBInfoConcurrency, 1), n)
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	var (
		next     atomic.Int64
		done     atomic.Int64
		wg       sync.WaitGroup
		once     sync.Once
		firstErr error
	)
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				if err := f(ctx, i); err != nil {
					// The first failure is the one to report; the others
					// are mostly its echo through the cancelled context.
					once.Do(func() { firstErr = err; cancel() })
					return
				}
				done.Add(1)
			}
		})
	}
	wg.Wait()
	if firstErr == nil && int(done.Load()) < n {
		return parent.Err()
	}
	return firstErr
}

// ReplicatorDocs returns the replication documents of a replicator
// database (usually "_replicator"), design documents left out, through
// kivik's _all_docs?include_docs=true.
func (c *Client) ReplicatorDocs(ctx context.Context, db string) ([]ReplicatorDoc, error) {
	start := time.Now()
	path := "/" + url.PathEscape(db) + "/_all_docs"
	rows := c.kv.DB(db).AllDocs(ctx, kivik.Param("include_docs", true))
	defer rows.Close()
	var docs []ReplicatorDoc
	for rows.Next() {
		id, err := rows.ID()
		if err != nil {
			return nil, c.Problem(http.MethodGet, path, start, err)
		}
		if strings.HasPrefix(id, "_design/") {
			continue
		}
		var d ReplicatorDoc
		if err := rows.ScanDoc(&d); err != nil {
			return nil, c.Problem(http.MethodGet, path, start, err)
		}
		docs = append(docs, d)
	}
	if err := rows.Err(); err != nil {
		return nil, c.Problem(http.MethodGet, path, start, err)
	}
	return docs, nil
}

// ReplicatorDoc is one replication document, through kivik.
func (c *Client) ReplicatorDoc(ctx context.Context, db, id string) (*ReplicatorDoc, error) {
	var d ReplicatorDoc
	if err := c.Doc(ctx, db, id, &d); err != nil {
		return nil, err
	}
	return &d, nil
}

// LargeDoc reads a document that can be large (a packument: every
// version's metadata) into v, decoded as a stream (httpclient.DecodeStream)
// under the client's JSON cap, and checked when v is httpclient.Shaped.
// Not through kivik: its Get holds the whole document in memory, under
// the cap of whatever client it was given (check_tarball_origin's is
// sized for tarballs). A missing document is a Problem whose Err is an
// *httpclient.StatusError with Code 404.
func (c *Client) LargeDoc(ctx context.Context, db, id string, v any) error {
	path := "/" + url.PathEscape(db) + "/"
	if rest, ok := strings.CutPrefix(id, "_design/"); ok {
		path += "_design/" + url.PathEscape(rest)
	} else {
		path += url.PathEscape(id)
	}
	return c.getJSON(ctx, path, nil, v)
}

// Doc reads a document into v through kivik; a missing one is a Problem
// whose Err is an *httpclient.StatusError with Code 404.
func (c *Client) Doc(ctx context.Context, db, id string, v any) error {
	start := time.Now()
	if err := c.kv.DB(db).Get(ctx, id).ScanDoc(v); err != nil {
		return c.Problem(http.MethodGet, "/"+url.PathEscape(db)+"/"+url.PathEscape(id), start, err)
	}
	return nil
}

// LastSeq is the last_seq of GET /{db}/_changes?descending=true&limit=1,
// through kivik: the source's current position for lag estimates on
// servers whose db info update_seq is unusable.
func (c *Client) LastSeq(ctx context.Context, db string) (Seq, error) {
	start := time.Now()
	path := "/" + url.PathEscape(db) + "/_changes"
	ch := c.kv.DB(db).Changes(ctx, kivik.Params(map[string]any{"descending": true, "limit": 1}))
	defer ch.Close()
	for ch.Next() { //nolint:revive // drain the one row so the metadata is read
	}
	if err := ch.Err(); err != nil {
		return nil, c.Problem(http.MethodGet, path, start, err)
	}
	meta, err := ch.Metadata()
	if err != nil {
		return nil, c.Problem(http.MethodGet, path, start, err)
	}
	b, _ := json.Marshal(meta.LastSeq)
	return Seq(b), nil
}
