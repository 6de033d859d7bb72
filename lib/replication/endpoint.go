package replication

import (
	"encoding/json"
	"github.com/registry-checks/registry-checks/lib/couch"

	"github.com/registry-checks/registry-checks/lib/secret"
)

// SourceEndpoint is the source database URL (absolute, without
// credentials) and the credentials its _replicator document gives for it
// (zero when it gives none; CouchDB strips them from _scheduler output).
// A restart handler needs both to see whether the source answers before
// restarting. Never print the credentials.
func (r Replication) SourceEndpoint() (string, secret.Credentials) {
	return r.sourceURL, r.sourceAuth
}

// ParseEndpoint reads the source or target of a replication document or
// of a POST /_replicate body (a URL string with userinfo, or an object
// with url, headers and auth.basic): the URL without credentials and
// without a trailing slash, the credentials, and every secret value seen
// (to register with the run's Redactor).
func ParseEndpoint(raw json.RawMessage) (url string, creds secret.Credentials, secrets []string) {
	return endpointOf(raw)
}

// ThroughSeq is the furthest sequence of the source known written to the
// target (through_seq, else checkpointed_source_seq); zero when the node
// does not say. A promotion check compares it with the source's update_seq.
func (r Replication) ThroughSeq() couch.Seq { return r.through }
