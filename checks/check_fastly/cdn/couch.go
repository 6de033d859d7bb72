package cdn

import (
	"context"
	"errors"
	"net/url"
	"time"

	"github.com/registry-checks/registry-checks/lib/couch"
)

// CouchOrigin is the Origin of a CouchDB database, through kivik.
type CouchOrigin struct {
	Client *couch.Client
	DB     string
}

// Where is the database URL (no credentials).
func (o *CouchOrigin) Where() string { return o.Client.URL() + "/" + url.PathEscape(o.DB) }

// originDoc is what Revision reads of a packument.
type originDoc struct {
	Rev  string       `json:"_rev"`
	Time modifiedTime `json:"time"`
}

// modifiedTime is the one key of a packument's time object the check
// reads: the stream decoder skips the others (one per version, thousands
// in a big packument) instead of building a map of them.
type modifiedTime struct {
	Modified string `json:"modified"`
}

// CheckShape requires the _rev.
func (d *originDoc) CheckShape() error {
	if d.Rev == "" {
		return errors.New("not a document (no _rev)")
	}
	return nil
}

// Revision reads the packument's _rev and time.modified, decoding the
// packument as a stream (couch.Client.LargeDoc): all of it but two keys is
// skipped.
func (o *CouchOrigin) Revision(ctx context.Context, id string) (string, time.Time, error) {
	var doc originDoc
	if err := o.Client.LargeDoc(ctx, o.DB, id, &doc); err != nil {
		return "", time.Time{}, err
	}
	modified, _ := time.Parse(time.RFC3339Nano, doc.Time.Modified)
	return doc.Rev, modified, nil
}
