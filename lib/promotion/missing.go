package promotion

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"time"

	kivik "github.com/go-kivik/kivik/v4"

	"github.com/registry-checks/registry-checks/lib/couch"
)

// revsDiffBatch is how many documents one POST _revs_diff asks about.
const revsDiffBatch = 500

// Missing are the ids of the documents of db on from (every leaf
// revision, deletions included, from _changes?style=all_docs) that to
// lacks, asked with _revs_diff: the exact answer to "would a promotion of
// to lose anything of db?", where document counts and replication
// checkpoints are only estimates. It reads the whole changes feed: use it
// once the cheap figures agree, not on every check.
func Missing(ctx context.Context, from, to *couch.Client, db string) (map[string][]string, error) {
	start := time.Now()
	path := "/" + url.PathEscape(db)
	ch := from.Kivik().DB(db).Changes(ctx, kivik.Param("style", "all_docs"))
	defer ch.Close()
	leaves := map[string][]string{}
	var order []string
	for ch.Next() {
		id := ch.ID()
		if _, seen := leaves[id]; !seen {
			order = append(order, id)
		}
		leaves[id] = ch.Changes()
	}
	if err := ch.Err(); err != nil {
		return nil, from.Problem(http.MethodGet, path+"/_changes", start, err)
	}
	missing := map[string][]string{}
	for lo := 0; lo < len(order); lo += revsDiffBatch {
		batch := map[string][]string{}
		for _, id := range order[lo:min(lo+revsDiffBatch, len(order))] {
			batch[id] = leaves[id]
		}
		start := time.Now()
		rs := to.Kivik().DB(db).RevsDiff(ctx, batch)
		for rs.Next() {
			id, err := rs.ID()
			if err != nil {
				rs.Close()
				return nil, to.Problem(http.MethodPost, path+"/_revs_diff", start, err)
			}
			var d kivik.RevDiff
			if err := rs.ScanValue(&d); err == nil && len(d.Missing) > 0 {
				missing[id] = d.Missing
			}
		}
		if err := rs.Err(); err != nil {
			rs.Close()
			return nil, to.Problem(http.MethodPost, path+"/_revs_diff", start, err)
		}
		rs.Close()
	}
	return missing, nil
}

// copyBatch is how many document revisions one _bulk_get and _bulk_docs
// carry: with their attachments inline (tarballs), a few megabytes.
const copyBatch = 50

// Copy writes the given revisions (id -> revs, as Missing returns them)
// of db from one node to the other, with their history and attachments,
// as a replicator does (_bulk_get with revs and attachments, then
// _bulk_docs with new_edits false), without a checkpoint to trust. It
// returns how many revisions were written.
func Copy(ctx context.Context, from, to *couch.Client, db string, revs map[string][]string) (int, error) {
	var refs []kivik.BulkGetReference
	for id, rs := range revs {
		for _, r := range rs {
			refs = append(refs, kivik.BulkGetReference{ID: id, Rev: r})
		}
	}
	path := "/" + url.PathEscape(db)
	written := 0
	for lo := 0; lo < len(refs); lo += copyBatch {
		batch := refs[lo:min(lo+copyBatch, len(refs))]
		start := time.Now()
		rs := from.Kivik().DB(db).BulkGet(ctx, batch, kivik.Params(map[string]any{"revs": true, "attachments": true}))
		var docs []any
		for rs.Next() {
			var doc map[string]any
			if err := rs.ScanDoc(&doc); err != nil {
				continue // a revision gone since (compacted): nothing to copy
			}
			docs = append(docs, doc)
		}
		if err := rs.Err(); err != nil {
			rs.Close()
			return written, from.Problem(http.MethodPost, path+"/_bulk_get", start, err)
		}
		rs.Close()
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
