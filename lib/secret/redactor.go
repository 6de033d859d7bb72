package secret

import (
	"encoding/base64"
	"encoding/json"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
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
	// stale: secrets were added since replacer was built. The replacer is
	// built when text is next redacted, not on every Add: a handler run
	// registers the passwords of 1,000 _replicator documents one by one,
	// and a rebuild per Add cost 1.3 GB of allocation (BENCHMARKS.md).
	stale bool
}

// Add registers a secret. Besides the secret itself its URL-escaped,
// JSON-escaped and base64 forms are registered, since a secret reaches
// output through URLs, JSON and Authorization headers as often as raw.
// Secrets shorter than MinSecretLen are ignored.
func (r *Redactor) Add(secret string) {
	if len(secret) < MinSecretLen {
		return
	}
	r.add(Forms(secret))
}

func (r *Redactor) add(forms []string) {
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
		r.stale = true
	}
}

// Forms are the spellings of secret that reach output: raw, URL-escaped
// (query, path and userinfo escaping, with upper- and lower-case hex),
// JSON-escaped (strconv's and encoding/json's, which also escapes <, >
// and &) and base64 (padded and not, standard and URL alphabets).
func Forms(secret string) []string {
	j, _ := json.Marshal(secret)
	forms := []string{
		secret,
		url.QueryEscape(secret),
		url.PathEscape(secret),
		strings.TrimPrefix(url.UserPassword("u", secret).String(), "u:"), // userinfo escaping differs from both
		strings.Trim(strconv.Quote(secret), `"`),
		strings.Trim(string(j), `"`),
	}
	for _, f := range forms[1:4] {
		forms = append(forms, lowerHex(f))
	}
	// The unpadded forms are prefixes of the padded ones: a padded form is
	// still replaced whole (longest first), an unpadded one no longer slips by.
	return append(forms, base64Forms(secret)...)
}

var base64Encodings = []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding}

func base64Forms(s string) []string {
	forms := make([]string, len(base64Encodings))
	for i, enc := range base64Encodings {
		forms[i] = enc.EncodeToString([]byte(s))
	}
	return forms
}

// lowerHex spells the %XX escapes of s in lower case, as some servers echo them.
func lowerHex(s string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	b := []byte(s)
	for i := 0; i+2 < len(b); i++ {
		if b[i] == '%' {
			b[i+1], b[i+2] = toLowerASCII(b[i+1]), toLowerASCII(b[i+2])
			i += 2
		}
	}
	return string(b)
}

func toLowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// AddCredentials registers the password and token of c, and the base64
// of user:password, which is what an Authorization header carries.
func (r *Redactor) AddCredentials(c Credentials) {
	for _, s := range c.Secrets() {
		r.Add(s)
	}
	if c.User != "" && c.Password != "" {
		// Not user:password itself: the user alone is no secret, and
		// messages name it ("authentication failed for user monitor").
		r.add(base64Forms(c.User + ":" + c.Password))
	}
}

// AddURL registers the secrets a URL carries: the password of its
// userinfo (and user:password, whose base64 Go's client sends as basic
// auth) and the values of query parameters named like secrets (token=,
// password=, sig=...; see RedactURL). Text that is not a URL registers
// nothing.
func (r *Redactor) AddURL(raw string) {
	if !strings.Contains(raw, "://") {
		return
	}
	_, creds, err := SplitURL(raw)
	if err == nil {
		r.AddCredentials(creds)
	} else if m := brokenUserinfo().FindStringSubmatch(raw); m != nil {
		// A URL too broken to parse is still echoed by some message.
		r.AddCredentials(Credentials{User: m[1], Password: m[2]})
	}
	if _, q, ok := strings.Cut(raw, "?"); ok {
		q, _, _ = strings.Cut(q, "#")
		for _, p := range strings.Split(q, "&") {
			name, value, ok := strings.Cut(p, "=")
			if n, err := url.QueryUnescape(name); err == nil {
				name = n
			}
			if !ok || !secretParam(name) {
				continue
			}
			r.Add(value)
			if v, err := url.QueryUnescape(value); err == nil {
				r.Add(v)
			}
		}
	}
}

// current is the replacer for every secret registered so far, built
// again first when secrets were added since.
func (r *Redactor) current() *strings.Replacer {
	r.mu.RLock()
	rep, stale := r.replacer, r.stale
	r.mu.RUnlock()
	if !stale {
		return rep
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stale {
		r.rebuild()
		r.stale = false
	}
	return r.replacer
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

// Redact returns s with every registered secret replaced by xxxxx, then
// the credentials it recognises without knowing them masked too (see
// ScrubPatterns). A nil Redactor knows no secret but still scrubs.
func (r *Redactor) Redact(s string) string {
	var rep *strings.Replacer
	if r != nil {
		rep = r.current()
	}
	if rep != nil {
		s = rep.Replace(s)
	}
	return ScrubPatterns(s)
}

// Clip is the one way to shorten text that leaves the program: s is
// redacted whole first, then cut to at most n bytes at a rune boundary,
// "..." marking the cut (within the n bytes). A cut therefore never ends
// inside a secret or one of its forms, which the redactor would no longer
// recognise. A nil Redactor only scrubs patterns before the cut.
func (r *Redactor) Clip(s string, n int) string {
	return Cut(r.Redact(s), n)
}

// Cut cuts already redacted text to at most n bytes at a rune boundary,
// "..." marking the cut. Use Clip on anything not yet redacted.
func Cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const mark = "..."
	if n <= len(mark) {
		return strings.Repeat(".", max(n, 0))
	}
	cut := n - len(mark)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + mark
}
