package cdn

import (
	"context"
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

// Revision reads the packument's _rev and time.modified.
func (o *CouchOrigin) Revision(ctx context.Context, id string) (string, time.Time, error) {
	var doc struct {
		Rev  string            `json:"_rev"`
		Time map[string]string `json:"time"`
	}
	if err := o.Client.Doc(ctx, o.DB, id, &doc); err != nil {
		return "", time.Time{}, err
	}
	modified, _ := time.Parse(time.RFC3339Nano, doc.Time["modified"])
	return doc.Rev, modified, nil
}
