package promotion

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"time"

	kivik "github.com/go-kivik/kivik/v4"

	"github.com/registry-checks/registry-checks/lib/couch"
	"github.com/registry-checks/registry-checks/lib/httpclient"
)

// The fence of a database has two parts. The design document FenceID
// holds a validate_doc_update that refuses a write only when the
// database's _security carries FenceMarker; the marker is set in the
// _security of the one node fenced. _security does not replicate, so the
// design document, which does, refuses nothing on any other node,
// whatever order a sharded changes feed delivers documents in: CouchDB 3
// runs validate_doc_update on replicated writes too, counts a refusal in
// the job's doc_write_failures and skips the document for good.
//
// Fencing writes the design document first and then the marker;
// unfencing removes the marker first (writes are accepted at once) and
// then deletes the design document, whose tombstone replicates like it.
// Design documents (written by admins) and _local documents are never
// validated by CouchDB: the fence stops clients' document writes.

// Security is a database's _security object as stored, every field kept
// (kivik's Security keeps admins and members only).
func Security(ctx context.Context, c *couch.Client, db string) (map[string]any, error) {
	var sec map[string]any
	if err := c.GetJSON(ctx, "/"+url.PathEscape(db)+"/_security", nil, &sec); err != nil {
		return nil, err
	}
	if sec == nil {
		sec = map[string]any{}
	}
	return sec, nil
}

// Fenced reports whether db on c carries the fence marker: whether it
// refuses writes.
func Fenced(ctx context.Context, c *couch.Client, db string) (bool, error) {
	sec, err := Security(ctx, c, db)
	if err != nil {
		return false, err
	}
	_, ok := sec[FenceMarker]
	return ok, nil
}

// FenceDB fences db on c: the design document (kept when it is already
// there), then the marker with by and at. changed is whether anything
// was written.
func FenceDB(ctx context.Context, c *couch.Client, db, by, at string) (changed bool, err error) {
	wrote, err := putFenceDoc(ctx, c, db, by, at)
	if err != nil {
		return false, err
	}
	sec, err := Security(ctx, c, db)
	if err != nil {
		return wrote, err
	}
	if _, ok := sec[FenceMarker]; ok {
		return wrote, nil
	}
	sec[FenceMarker] = map[string]string{"by": by, "at": at}
	if err := c.PutJSON(ctx, "/"+url.PathEscape(db)+"/_security", sec, nil); err != nil {
		return wrote, err
	}
	return true, nil
}

// UnfenceDB removes the marker from db's _security on c, the rest of the
// object as it was, then deletes the fence design document there.
// changed is whether anything was written.
func UnfenceDB(ctx context.Context, c *couch.Client, db string) (changed bool, err error) {
	sec, err := Security(ctx, c, db)
	if err != nil {
		return false, err
	}
	if _, ok := sec[FenceMarker]; ok {
		delete(sec, FenceMarker)
		if err := c.PutJSON(ctx, "/"+url.PathEscape(db)+"/_security", sec, nil); err != nil {
			return false, err
		}
		changed = true
	}
	deleted, err := DeleteDoc(ctx, c, db, FenceID)
	return changed || deleted, err
}

// putFenceDoc writes the fence design document unless it is there with
// the current function.
func putFenceDoc(ctx context.Context, c *couch.Client, db, by, at string) (bool, error) {
	var cur map[string]any
	rev := ""
	if err := c.Doc(ctx, db, FenceID, &cur); err == nil {
		if cur["validate_doc_update"] == FenceFunction {
			return false, nil
		}
		rev, _ = cur["_rev"].(string)
	} else if !NotFound(err) {
		return false, err
	}
	body := FenceDoc(by, at)
	if rev != "" {
		body["_rev"] = rev
	}
	start := time.Now()
	if _, err := c.Kivik().DB(db).Put(ctx, FenceID, body); err != nil {
		return false, c.Problem(http.MethodPut, "/"+url.PathEscape(db)+"/"+FenceID, start, err)
	}
	return true, nil
}

// deleteAttempts bounds DeleteDoc's retries of a conflict.
const deleteAttempts = 5

// DeleteDoc deletes a document if it exists: true when it did. A
// conflict (409: a replication wrote a revision between the read and the
// delete, such as the same deletion arriving from another node) is read
// again and retried: a document deleted meanwhile is done.
func DeleteDoc(ctx context.Context, c *couch.Client, db, id string) (bool, error) {
	var err error
	for attempt := 0; attempt < deleteAttempts; attempt++ {
		var cur struct {
			Rev string `json:"_rev"`
		}
		if err := c.Doc(ctx, db, id, &cur); err != nil {
			if NotFound(err) {
				return false, nil
			}
			return false, err
		}
		start := time.Now()
		_, err = c.Kivik().DB(db).Delete(ctx, id, cur.Rev)
		switch kivik.HTTPStatus(err) {
		case 0:
			if err == nil {
				return true, nil
			}
		case http.StatusNotFound:
			return false, nil
		case http.StatusConflict:
			continue
		}
		return false, c.Problem(http.MethodDelete, "/"+url.PathEscape(db)+"/"+url.PathEscape(id), start, err)
	}
	return false, c.Problem(http.MethodDelete, "/"+url.PathEscape(db)+"/"+url.PathEscape(id), time.Now(), err)
}

// NotFound reports whether err is a 404.
func NotFound(err error) bool {
	var se *httpclient.StatusError
	return errors.As(err, &se) && se.Code == http.StatusNotFound || kivik.HTTPStatus(err) == http.StatusNotFound
}

// ChangesAfter reports whether db on c has any change after since, an
// opaque sequence (CouchDB's clustered ones are never compared here):
// GET _changes?since=&limit=1, the one use CouchDB makes of a sequence.
// A replication whose through_seq has no change after it on the source
// has written everything the source had.
func ChangesAfter(ctx context.Context, c *couch.Client, db string, since couch.Seq) (bool, error) {
	start := time.Now()
	ch := c.Kivik().DB(db).Changes(ctx, kivik.Params(map[string]any{"since": since.String(), "limit": 1}))
	defer ch.Close()
	rows := 0
	for ch.Next() {
		rows++
	}
	if err := ch.Err(); err != nil {
		return false, c.Problem(http.MethodGet, "/"+url.PathEscape(db)+"/_changes", start, err)
	}
	return rows > 0, nil
}

// ChangesPending is how many changes the primary's db has after since
// (_changes?since=&limit=0 answers "pending"; CouchDB 2+): unlike the
// difference of update_seq numbers it does not count _security edits,
// which add to update_seq and to no changes feed. False when the server
// gives no count.
func ChangesPending(ctx context.Context, c *couch.Client, db string, since couch.Seq) (int64, bool, error) {
	start := time.Now()
	ch := c.Kivik().DB(db).Changes(ctx, kivik.Params(map[string]any{"since": since.String(), "limit": 0}))
	defer ch.Close()
	for ch.Next() {
	}
	if err := ch.Err(); err != nil {
		return 0, false, c.Problem(http.MethodGet, "/"+url.PathEscape(db)+"/_changes", start, err)
	}
	md, err := ch.Metadata()
	if err != nil || md == nil {
		return 0, false, nil
	}
	return md.Pending, true, nil
}
