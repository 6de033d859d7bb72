package replication

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/registry-checks/registry-checks/lib/couch"
	"github.com/registry-checks/registry-checks/lib/nagios"
)

// Rewrite replaces a replication document by body under the same id: it
// deletes revision rev (none when rev is "") and writes body again. A
// replicator ends the old job on the delete and starts one for the new
// body; CouchDB 2+ would accept an update in place, but PouchDB Server
// refuses edits of a triggered document, and a delete and a write work on
// every server. body must differ from every earlier body of the id (an
// audit field with the time does): PouchDB Server takes a recreated
// document identical to a deleted one for the replication it already had.
//
// The error of a failed write after the delete says the replication is
// gone; the caller names where its backup is.
func Rewrite(ctx context.Context, c *couch.Client, db, id, rev string, body map[string]any) error {
	kdb := c.Kivik().DB(db)
	path := "/" + url.PathEscape(db) + "/" + url.PathEscape(id)
	start := time.Now()
	if rev != "" {
		if _, err := kdb.Delete(ctx, id, rev); err != nil {
			return c.Problem(http.MethodDelete, path, start, err)
		}
	}
	var err error
	for range 3 {
		start = time.Now()
		if _, err = kdb.Put(ctx, id, body); err == nil || ctx.Err() != nil {
			break
		}
	}
	if err != nil {
		p := nagios.AsProblem(c.Problem(http.MethodPut, path, start, err))
		return &nagios.Problem{Status: nagios.CRITICAL, Err: p, Msg: fmt.Sprintf("deleted %s%s but could not write it again: %s", c.URL(), path, p.Msg)}
	}
	return nil
}
