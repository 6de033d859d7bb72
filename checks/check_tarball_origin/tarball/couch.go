package tarball

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	kivik "github.com/go-kivik/kivik/v4"

	"github.com/registry-checks/registry-checks/lib/couch"
	"github.com/registry-checks/registry-checks/lib/httpprobe"
)

// CouchRegistry is the Registry of a CouchDB database, through kivik.
type CouchRegistry struct {
	Client *couch.Client // the changes feed and attachments (tarball body cap)
	Docs   *couch.Client // packuments (the run's client: JSON cap)
	DB     string
}

// Where is the database URL (no credentials).
func (r *CouchRegistry) Where() string { return r.Client.URL() + "/" + url.PathEscape(r.DB) }

func (r *CouchRegistry) path(parts ...string) string {
	p := "/" + url.PathEscape(r.DB)
	for _, s := range parts {
		p += "/" + url.PathEscape(s)
	}
	return p
}

// Packument reads the package document (attachment stubs included),
// through Docs: a packument is JSON, capped and decoded as a stream, not
// read under the tarball cap of Client.
func (r *CouchRegistry) Packument(ctx context.Context, name string) (*Packument, error) {
	var p Packument
	if err := r.Docs.LargeDoc(ctx, r.DB, name, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// Recent reads the changes feed newest first and returns the ids of the
// documents changed last, newest first, skipping design documents and
// deletions: candidates, of which the check keeps the first n packages.
func (r *CouchRegistry) Recent(ctx context.Context, n int) ([]string, error) {
	// Design documents and deletions are skipped, so ask for many more
	// rows than packages wanted. The changes feed has no cheap way to page
	// backwards on every CouchDB version, so when a page holds too few
	// candidates (a burst of unpublishes, a spam cleanup, test documents)
	// the next request asks for ten times the rows, ids only, up to
	// maxRecentRows: a bounded read, however long the burst.
	limit := max(50, 10*n)
	for {
		names, rows, err := r.recent(ctx, limit)
		if err != nil || len(names) >= 10*n || rows < limit || limit >= maxRecentRows {
			return names, err
		}
		limit = min(10*limit, maxRecentRows)
	}
}

// maxRecentRows bounds the rows of the changes feed --recent reads: about
// 1.5 MB of ids and sequences.
const maxRecentRows = 10000

// recent reads the limit changes made last: the candidate ids (no
// deletion, no design document, each once) and the rows read.
func (r *CouchRegistry) recent(ctx context.Context, limit int) ([]string, int, error) {
	start := time.Now()
	ch := r.Client.Kivik().DB(r.DB).Changes(ctx, kivik.Params(map[string]any{"descending": true, "limit": limit}))
	defer ch.Close()
	var names []string
	seen := map[string]bool{}
	rows := 0
	for ch.Next() {
		rows++
		id := ch.ID()
		if ch.Deleted() || strings.HasPrefix(id, "_design/") || seen[id] {
			continue
		}
		seen[id] = true
		names = append(names, id)
	}
	if err := ch.Err(); err != nil {
		return nil, rows, r.Client.Problem(http.MethodGet, r.path("_changes"), start, err)
	}
	return names, rows, nil
}

// Attachment streams the tarball attachment into w. The time to the
// answer's headers stands for the first byte: kivik returns then.
func (r *CouchRegistry) Attachment(ctx context.Context, t Target, w io.Writer, maxBytes int64) (*httpprobe.Response, error) {
	start := time.Now()
	out := &httpprobe.Response{ContentLength: -1}
	path := r.path(t.Package, t.File)
	att, err := r.Client.Kivik().DB(r.DB).GetAttachment(ctx, t.Package, t.File)
	out.Timings.FirstByte = time.Since(start)
	if err != nil {
		out.Timings.Total = out.Timings.FirstByte
		return out, r.Client.Problem(http.MethodGet, path, start, err)
	}
	defer att.Content.Close()
	out.Status = http.StatusOK
	out.ContentLength = att.Size
	n, err := io.Copy(w, io.LimitReader(att.Content, maxBytes))
	out.Bytes = n
	if err == nil && n == maxBytes {
		var one [1]byte
		if m, _ := io.ReadFull(att.Content, one[:]); m > 0 {
			out.Truncated = true
		}
	}
	out.Timings.Total = time.Since(start)
	if err != nil && !errors.Is(err, io.EOF) {
		return out, r.Client.Problem(http.MethodGet, path, start, err)
	}
	return out, nil
}
