package replication

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"time"

	kivik "github.com/go-kivik/kivik/v4"

	"github.com/registry-checks/registry-checks/lib/couch"
	"github.com/registry-checks/registry-checks/lib/secret"
)

// replDoc is what the package reads from a _replicator document besides
// keeping it raw.
type replDoc struct {
	db, id     string
	raw        json.RawMessage
	parsed     couch.ReplicatorDoc
	sourceURL  string
	targetURL  string
	sourceAuth secret.Credentials
	secrets    []string
}

// fetchDocs reads the documents of a replicator database (design docs
// left out) in one _all_docs?include_docs=true: all of them, or those of
// ids (a POST). A missing database yields no documents: a node without
// replications is for the selection to judge.
func fetchDocs(ctx context.Context, c *couch.Client, db string, ids ...string) ([]replDoc, error) {
	start := time.Now()
	path := "/" + url.PathEscape(db) + "/_all_docs"
	method := http.MethodGet
	opts := kivik.Params(map[string]any{"include_docs": true})
	if len(ids) > 0 {
		method = http.MethodPost
		opts = kivik.Params(map[string]any{"include_docs": true, "keys": ids})
	}
	rows := c.Kivik().DB(db).AllDocs(ctx, opts)
	defer rows.Close()
	var out []replDoc
	for rows.Next() {
		id, err := rows.ID()
		if err != nil || id == "" {
			continue // a key without a document (deleted since)
		}
		if strings.HasPrefix(id, "_design/") {
			continue
		}
		var raw json.RawMessage
		if err := rows.ScanDoc(&raw); err != nil || len(raw) == 0 || string(raw) == "null" {
			continue
		}
		out = append(out, parseDoc(db, id, raw))
	}
	if err := rows.Err(); err != nil {
		if kivik.HTTPStatus(err) == http.StatusNotFound {
			return nil, nil
		}
		return nil, c.Problem(method, path, start, err)
	}
	return out, nil
}

func parseDoc(db, id string, raw json.RawMessage) replDoc {
	d := replDoc{db: db, id: id, raw: raw}
	_ = json.Unmarshal(raw, &d.parsed) // a malformed doc still has an id; its state says the rest
	var ends struct {
		Source json.RawMessage `json:"source"`
		Target json.RawMessage `json:"target"`
	}
	_ = json.Unmarshal(raw, &ends)
	var s1, s2 []string
	d.sourceURL, d.sourceAuth, s1 = endpointOf(ends.Source)
	d.targetURL, _, s2 = endpointOf(ends.Target)
	d.secrets = append(s1, s2...)
	return d
}

// endpointOf reads a source or target: a URL string with userinfo, or
// {"url", "headers": {"Authorization": "Basic ..."}, "auth": {"basic":
// {"username", "password"}}}. It returns the URL without credentials, the
// credentials and every secret value seen.
func endpointOf(raw json.RawMessage) (string, secret.Credentials, []string) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		clean, creds, err := secret.SplitURL(s)
		if err != nil {
			return secret.RedactURL(s), secret.Credentials{}, nil
		}
		return strings.TrimSuffix(clean, "/"), creds, secret.CredentialSecrets(creds)
	}
	var obj struct {
		URL     string            `json:"url"`
		Headers map[string]string `json:"headers"`
		Auth    struct {
			Basic struct {
				Username string `json:"username"`
				Password string `json:"password"`
			} `json:"basic"`
		} `json:"auth"`
	}
	if json.Unmarshal(raw, &obj) != nil {
		return "", secret.Credentials{}, nil
	}
	clean, creds, err := secret.SplitURL(obj.URL)
	if err != nil {
		clean = secret.RedactURL(obj.URL)
	}
	var secrets []string
	for k, v := range obj.Headers {
		if !strings.EqualFold(k, "Authorization") {
			continue
		}
		secrets = append(secrets, v, strings.TrimSpace(v[min(len(v), strings.IndexByte(v, ' ')+1):]))
		if b, ok := strings.CutPrefix(v, "Basic "); ok {
			if dec, err := base64.StdEncoding.DecodeString(strings.TrimSpace(b)); err == nil {
				if u, p, ok := strings.Cut(string(dec), ":"); ok {
					creds = secret.Credentials{User: u, Password: p}.Or(creds)
				}
			}
		}
	}
	if b := obj.Auth.Basic; b.Username != "" || b.Password != "" {
		creds = secret.Credentials{User: b.Username, Password: b.Password}
	}
	secrets = append(secrets, secret.CredentialSecrets(creds)...)
	return strings.TrimSuffix(clean, "/"), creds, secrets
}

// Definition is a replication document made ready to be written again:
// the document without _id, _rev and the fields the replicator adds
// (_replication_state, _replication_state_time, _replication_state_reason,
// _replication_id, _replication_stats). It holds the credentials of the
// original: never print it.
func Definition(doc json.RawMessage) (map[string]any, error) {
	var m map[string]any
	if err := json.Unmarshal(doc, &m); err != nil {
		return nil, err
	}
	for k := range m {
		if k == "_id" || k == "_rev" || strings.HasPrefix(k, "_replication_") {
			delete(m, k)
		}
	}
	return m, nil
}
