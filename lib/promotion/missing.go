package promotion

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	kivik "github.com/go-kivik/kivik/v4"
	"github.com/go-kivik/kivik/v4/couchdb"

	"github.com/registry-checks/registry-checks/lib/couch"
)

// ChangesPage is how many changes one page of _changes carries, and so
// how many documents one POST _revs_diff asks about: a page of a
// registry's feed is a few hundred kilobytes, whatever the database's
// size (a whole feed of millions of documents is far over any sane body
// limit, and over the memory of a check).
const ChangesPage = 1000

// Scan is what EachMissing saw of a database.
type Scan struct {
	Changes int    // documents read from the feed
	Pages   int    // pages of _changes read
	Missing int    // documents to lacks (at least one leaf revision)
	LastSeq string // the feed's last sequence, opaque
}

// EachMissing pages through db's changes feed on from (style=all_docs:
// every leaf revision, deletions included; since/limit, ChangesPage at a
// time) and asks to with one _revs_diff per page which of those
// revisions it lacks; f gets each page's missing revisions (id -> revs)
// and may copy them. Memory is one page whatever the size of the
// database. It is the exact answer to "would a promotion of to lose
// anything of db?", where document counts and replication checkpoints are
// only estimates; it reads the whole feed, so use it once the cheap
// figures agree, not on every check.
func EachMissing(ctx context.Context, from, to *couch.Client, db string, f func(missing map[string][]string) error) (Scan, error) {
	path := "/" + url.PathEscape(db)
	var scan Scan
	since := ""
	for {
		start := time.Now()
		params := map[string]any{"style": "all_docs", "limit": ChangesPage}
		if since != "" {
			params["since"] = since
		}
		ch := from.Kivik().DB(db).Changes(ctx, kivik.Params(params))
		page := map[string][]string{}
		rows := 0
		for ch.Next() {
			rows++
			page[ch.ID()] = ch.Changes()
		}
		if err := ch.Err(); err != nil {
			ch.Close()
			return scan, from.Problem(http.MethodGet, path+"/_changes", start, err)
		}
		meta, err := ch.Metadata()
		ch.Close()
		if err != nil {
			return scan, from.Problem(http.MethodGet, path+"/_changes", start, err)
		}
		scan.Pages++
		scan.Changes += rows
		if meta.LastSeq != "" {
			scan.LastSeq = meta.LastSeq
		}
		if len(page) > 0 {
			missing, err := revsDiff(ctx, to, db, page)
			if err != nil {
				return scan, err
			}
			if len(missing) > 0 {
				scan.Missing += len(missing)
				if err := f(missing); err != nil {
					return scan, err
				}
			}
		}
		// A short page is the end of the feed; so is a page whose
		// last_seq does not move (a server that ignores limit answers
		// everything at once, then nothing new).
		if rows < ChangesPage || meta.LastSeq == "" || meta.LastSeq == since {
			return scan, nil
		}
		since = meta.LastSeq
	}
}

// revsDiff asks to which of page's revisions it lacks.
func revsDiff(ctx context.Context, to *couch.Client, db string, page map[string][]string) (map[string][]string, error) {
	start := time.Now()
	path := "/" + url.PathEscape(db) + "/_revs_diff"
	rs := to.Kivik().DB(db).RevsDiff(ctx, page)
	defer rs.Close()
	missing := map[string][]string{}
	for rs.Next() {
		id, err := rs.ID()
		if err != nil {
			return nil, to.Problem(http.MethodPost, path, start, err)
		}
		var d kivik.RevDiff
		if err := rs.ScanValue(&d); err == nil && len(d.Missing) > 0 {
			missing[id] = d.Missing
		}
	}
	if err := rs.Err(); err != nil {
		return nil, to.Problem(http.MethodPost, path, start, err)
	}
	return missing, nil
}

// Missing are the ids of the documents of db on from that to lacks, with
// the revisions it lacks (EachMissing, collected): for a database that
// may lack many, MissingSample bounds the memory.
func Missing(ctx context.Context, from, to *couch.Client, db string) (map[string][]string, error) {
	all := map[string][]string{}
	_, err := EachMissing(ctx, from, to, db, func(m map[string][]string) error {
		for id, revs := range m {
			all[id] = revs
		}
		return nil
	})
	return all, err
}

// MissingSample counts the documents of db on from that to lacks and
// keeps the first max ids (sorted within a page): a bounded answer for a
// check's output, whatever the size of the divergence.
func MissingSample(ctx context.Context, from, to *couch.Client, db string, max int) (int, []string, error) {
	var sample []string
	scan, err := EachMissing(ctx, from, to, db, func(m map[string][]string) error {
		if len(sample) >= max {
			return nil
		}
		ids := make([]string, 0, len(m))
		for id := range m {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		sample = append(sample, ids[:min(len(ids), max-len(sample))]...)
		return nil
	})
	return scan.Missing, sample, err
}

// copyBatch is how many document revisions one _bulk_get and _bulk_docs
// carry: with their attachments inline (tarballs), a few megabytes.
const copyBatch = 50

// Copy writes the given revisions (id -> revs, as Missing returns them)
// of db from one node to the other, with their history and attachments,
// as a replicator does (_bulk_get with revs and attachments, then
// _bulk_docs with new_edits false), without a checkpoint to trust. A
// server without _bulk_get (CouchDB 1.6 and older) is read one revision
// at a time (GET ?rev=&revs=true&attachments=true), as CouchDB's own
// replicator does there. It returns how many revisions were written.
func Copy(ctx context.Context, from, to *couch.Client, db string, revs map[string][]string) (int, error) {
	var refs []kivik.BulkGetReference
	for id, rs := range revs {
		for _, r := range rs {
			refs = append(refs, kivik.BulkGetReference{ID: id, Rev: r})
		}
	}
	path := "/" + url.PathEscape(db)
	written := 0
	bulkGet := true
	for lo := 0; lo < len(refs); lo += copyBatch {
		batch := refs[lo:min(lo+copyBatch, len(refs))]
		var docs []any
		var err error
		if bulkGet {
			docs, err = readBulk(ctx, from, db, batch)
			if err != nil && noBulkGet(err) {
				bulkGet = false
			}
		}
		if !bulkGet {
			docs, err = readOneByOne(ctx, from, db, batch)
		}
		if err != nil {
			return written, err
		}
		if len(docs) == 0 {
			continue
		}
		// new_edits goes in the body, where every server reads it (kivik
		// sends options as query parameters, which PouchDB Server ignores
		// here: the revisions were not written).
		var results []struct {
			ID     string `json:"id"`
			Error  string `json:"error"`
			Reason string `json:"reason"`
		}
		if err := to.PostJSON(ctx, path+"/_bulk_docs", map[string]any{"docs": docs, "new_edits": false}, &results); err != nil {
			return written, err
		}
		for _, r := range results {
			if r.Error != "" {
				return written, fmt.Errorf("POST %s%s/_bulk_docs: %s: %s %s", to.URL(), path, r.ID, r.Error, couch.OneLine(r.Reason))
			}
		}
		written += len(docs)
	}
	return written, nil
}

// readBulk reads a batch of revisions in one POST _bulk_get. A revision
// gone since (compacted: a row "not_found", "missing") is skipped, there
// is nothing to copy; any other row error (forbidden, an undecodable row)
// fails the copy rather than pass for a revision that was gone.
func readBulk(ctx context.Context, from *couch.Client, db string, batch []kivik.BulkGetReference) ([]any, error) {
	start := time.Now()
	rs := from.Kivik().DB(db).BulkGet(ctx, batch, kivik.Params(map[string]any{"revs": true, "attachments": true}))
	defer rs.Close()
	var docs []any
	for rs.Next() {
		var doc map[string]any
		if err := rs.ScanDoc(&doc); err != nil {
			if revisionGone(err) {
				continue
			}
			return nil, from.Problem(http.MethodPost, "/"+url.PathEscape(db)+"/_bulk_get", start, err)
		}
		docs = append(docs, doc)
	}
	if err := rs.Err(); err != nil {
		return nil, from.Problem(http.MethodPost, "/"+url.PathEscape(db)+"/_bulk_get", start, err)
	}
	return docs, nil
}

// noBulkGet reports whether a _bulk_get failed because the server has no
// such endpoint: CouchDB 1.6 takes "_bulk_get" for a document and answers
// 404 or 405 (a POST to a document), or 400 for the body; some proxies
// say 501. The status is the one couch.Client.Problem keeps (its
// *httpclient.StatusError); a transport failure has none of these.
func noBulkGet(err error) bool {
	switch kivik.HTTPStatus(err) {
	case http.StatusBadRequest, http.StatusNotFound, http.StatusMethodNotAllowed, http.StatusNotImplemented:
		return true
	}
	return false
}

// readOneByOne reads a batch one revision at a time. A revision that is
// gone (404 "missing" or "deleted") is skipped, as in readBulk; any other
// failure, a missing database included, is the copy's error.
func readOneByOne(ctx context.Context, from *couch.Client, db string, batch []kivik.BulkGetReference) ([]any, error) {
	var docs []any
	for _, ref := range batch {
		start := time.Now()
		var doc map[string]any
		// JSON with the attachments inline, as _bulk_get gives them
		// (kivik would otherwise ask for multipart/related).
		err := from.Kivik().DB(db).Get(ctx, ref.ID, kivik.Params(map[string]any{"rev": ref.Rev, "revs": true, "attachments": true}),
			couchdb.OptionNoMultipartGet()).ScanDoc(&doc)
		if err != nil {
			if revisionGone(err) {
				continue
			}
			return nil, from.Problem(http.MethodGet, "/"+url.PathEscape(db)+"/"+url.PathEscape(ref.ID), start, err)
		}
		docs = append(docs, doc)
	}
	return docs, nil
}

// revisionGone tells an answer about the revision (not_found, reason
// "missing" or "deleted") from one about the database ("no_db_file" on
// 1.x, "Database does not exist." on 2.x and later) and from every other
// error. A GET gives it as a 404; a _bulk_get row as its own error object
// (kivik keeps no status there, only "not_found: missing").
func revisionGone(err error) bool {
	msg := strings.ToLower(err.Error())
	notFound := kivik.HTTPStatus(err) == http.StatusNotFound || strings.HasPrefix(msg, "not_found")
	return notFound && (strings.Contains(msg, "missing") || strings.Contains(msg, "deleted"))
}
