package secret

import (
	"encoding/base64"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// MinSecretLen is the shortest secret a Redactor replaces. Scrubbing one-
// or two-character strings from all output would mangle it ("OK" contains
// every one-letter password) while protecting nothing: a secret that short
// is guessed, not leaked. Such a password still never appears through the
// redacted formats of Credentials and RedactURL.
const MinSecretLen = 3

// Redactor replaces every registered secret in the text it is given. It is
// the last line of defense: the run path registers every loaded secret and
// passes all output through Redact. Safe for concurrent use; the zero value
// is ready.
type Redactor struct {
	mu       sync.RWMutex
	secrets  map[string]struct{}
	replacer *strings.Replacer
}

// Add registers a secret. Besides the secret itself its URL-escaped,
// JSON-escaped and base64 forms are registered, since a secret reaches
// output through URLs, JSON and Authorization headers as often as raw.
// Secrets shorter than MinSecretLen are ignored.
func (r *Redactor) Add(secret string) {
	if len(secret) < MinSecretLen {
		return
	}
	forms := []string{
		secret,
		url.QueryEscape(secret),
		url.PathEscape(secret),
		strings.TrimPrefix(url.UserPassword("u", secret).String(), "u:"), // userinfo escaping differs from both
		strings.Trim(strconv.Quote(secret), `"`),
		base64.StdEncoding.EncodeToString([]byte(secret)),
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.secrets == nil {
		r.secrets = map[string]struct{}{}
	}
	changed := false
	for _, f := range forms {
		if _, ok := r.secrets[f]; !ok {
			r.secrets[f] = struct{}{}
			changed = true
		}
	}
	if changed {
		r.rebuild()
	}
}

// AddCredentials registers the password and token of c.
func (r *Redactor) AddCredentials(c Credentials) {
	for _, s := range c.Secrets() {
		r.Add(s)
	}
	// The base64 of user:password is what an Authorization header carries.
	if c.User != "" && c.Password != "" {
		r.Add(base64.StdEncoding.EncodeToString([]byte(c.User + ":" + c.Password)))
	}
}

func (r *Redactor) rebuild() {
	list := make([]string, 0, len(r.secrets))
	for s := range r.secrets {
		list = append(list, s)
	}
	// Longest first: strings.Replacer tries the old strings in argument
	// order, and a secret that contains another must be replaced whole.
	sort.Slice(list, func(i, j int) bool {
		if len(list[i]) != len(list[j]) {
			return len(list[i]) > len(list[j])
		}
		return list[i] < list[j]
	})
	pairs := make([]string, 0, 2*len(list))
	for _, s := range list {
		pairs = append(pairs, s, Mask)
	}
	r.replacer = strings.NewReplacer(pairs...)
}

// Redact returns s with every registered secret replaced by xxxxx.
func (r *Redactor) Redact(s string) string {
	r.mu.RLock()
	rep := r.replacer
	r.mu.RUnlock()
	if rep == nil {
		return s
	}
	return rep.Replace(s)
}
