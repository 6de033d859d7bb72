package replication

import (
	"context"
	"encoding/json"

	"github.com/registry-checks/registry-checks/lib/couch"
)

// Document is a replication document as stored, with what a caller that
// rewrites replications needs of it.
type Document struct {
	ID      string
	Raw     json.RawMessage // as stored, credentials included: never print it
	Source  string          // URL without credentials and trailing slash
	Target  string          // likewise (or a local database name)
	Secrets []string        // every secret value of the document, for the run's Redactor
}

// Documents are every replication document of a replicator database
// (design documents left out), in one _all_docs; none when the database
// does not exist.
func Documents(ctx context.Context, c *couch.Client, db string) ([]Document, error) {
	docs, err := fetchDocs(ctx, c, db)
	if err != nil {
		return nil, err
	}
	out := make([]Document, len(docs))
	for i, d := range docs {
		out[i] = Document{ID: d.id, Raw: d.raw, Source: d.sourceURL, Target: d.targetURL, Secrets: d.secrets}
	}
	return out, nil
}
