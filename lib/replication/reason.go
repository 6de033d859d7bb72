package replication

import (
	"net/url"
	"regexp"
	"strings"
	"sync"

	"github.com/registry-checks/registry-checks/lib/couch"
	"github.com/registry-checks/registry-checks/lib/secret"
)

// transportWords are the Erlang and PouchDB spellings of "nobody answered".
var transportWords = []string{
	"econnrefused", "nxdomain", "ehostunreach", "enetunreach", "econnreset", "etimedout",
	"conn_failed", "connection_closing", "req_timedout", "ibrowse_stream_cleanup",
	"connection refused", "getaddrinfo enotfound", "socket hang up",
}

// lazyRegexp compiles expr on first use: a run whose replications are all
// healthy never reads an error text, and start-up is most of a check's
// time (BENCHMARKS.md).
func lazyRegexp(expr string) func() *regexp.Regexp {
	return sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(expr) })
}

var (
	// {session_request_unauthorized,"http://db1:5984/_session","mirror"}
	sessionUnauthorized = lazyRegexp(`session_request_unauthorized,\s*"([^"]*)",\s*"([^"]*)"`)
	// {session_request_failed,"http://db1:5984/_session","admin",{conn_failed,...}}
	sessionFailed = lazyRegexp(`session_request_failed,\s*"([^"]*)",\s*"([^"]*)"`)
	// db_not_found: could not open http://db1:5984/no-such-db/ (3.x)
	// {db_not_found,<<"could not open http://db1:5984/x/">>} (1.x)
	dbNotFound = lazyRegexp(`db_not_found\W+could not open ([^\s">]+)`)
	// ... already started, triggered by document `registry-from-node1` from db `_replicator`
	duplicateOf = lazyRegexp("triggered by document `([^`]*)`")
	anyURL      = lazyRegexp(`https?://[^\s"'<>,}]+`)
)

// explain turns an error CouchDB reported for a replication (a printed
// Erlang term, possibly multi-line) into a one-line reason for an operator
// and says whether it means the source does not answer.
//
// A source that is down shows up as an authentication error: the _session
// auth plugin is the first thing to contact the source, so 3.x reports
// {replication_auth_error,{session_request_failed,".../_session","admin",
// {conn_failed,{error,econnrefused}}}}. That is "source unreachable", not a
// wrong password.
func explain(raw, source, target string) (reason string, sourceDown bool) {
	line := couch.OneLine(raw)
	lower := strings.ToLower(line)
	side := func(u string) string { return sideOf(u, source, target) }
	unreachable := false
	for _, w := range transportWords {
		if strings.Contains(lower, w) {
			unreachable = true
			break
		}
	}
	switch {
	case sessionFailed().MatchString(line) && unreachable:
		m := sessionFailed().FindStringSubmatch(line)
		s := side(m[1])
		return s + " unreachable (" + transportCause(lower) + ")", s == "source"
	case sessionUnauthorized().MatchString(line):
		m := sessionUnauthorized().FindStringSubmatch(line)
		return "authentication failed at " + side(m[1]) + " for user " + m[2], false
	case dbNotFound().MatchString(line):
		m := dbNotFound().FindStringSubmatch(line)
		return side(m[1]) + " database missing", false
	case strings.Contains(lower, "already started") && duplicateOf().MatchString(line):
		return "duplicate of replication doc " + duplicateOf().FindStringSubmatch(line)[1] + ": delete one of them", false
	case strings.Contains(lower, "filter"):
		return "filter not found or broken on source: " + clip(line, 100), false
	case strings.Contains(lower, "changes_reader_died"):
		return "changes feed from source died (" + transportCause(lower) + ")", unreachable
	case unreachable:
		s := "source"
		if m := anyURL().FindString(line); m != "" {
			s = side(m)
		}
		return s + " unreachable (" + transportCause(lower) + ")", s == "source"
	case strings.Contains(lower, "unauthorized") || strings.Contains(lower, "forbidden"):
		s := "source"
		if m := anyURL().FindString(line); m != "" {
			s = side(m)
		}
		return "not authorized at " + s + ": " + clip(line, 100), false
	}
	return clip(line, 120), false
}

// transportCause names the transport failure in the error.
func transportCause(lower string) string {
	switch {
	case strings.Contains(lower, "econnrefused") || strings.Contains(lower, "connection refused"):
		return "connection refused"
	case strings.Contains(lower, "nxdomain") || strings.Contains(lower, "enotfound"):
		return "host not found"
	case strings.Contains(lower, "ehostunreach") || strings.Contains(lower, "enetunreach"):
		return "no route to host"
	case strings.Contains(lower, "timeout") || strings.Contains(lower, "timedout"):
		return "timeout"
	case strings.Contains(lower, "econnreset") || strings.Contains(lower, "hang up") || strings.Contains(lower, "closing"):
		return "connection reset"
	}
	return "connection failed"
}

// sideOf says whether u points at the replication's source or target
// server, comparing host and port; "source" when it cannot tell, since the
// replicator contacts the source first.
func sideOf(u, source, target string) string {
	h := hostOf(u)
	if h == "" {
		return "source"
	}
	if h == hostOf(source) {
		if h == hostOf(target) {
			// Same server for both: the database name decides.
			if dbOf(u) != "" && dbOf(u) == dbOf(target) && dbOf(u) != dbOf(source) {
				return "target"
			}
		}
		return "source"
	}
	if h == hostOf(target) {
		return "target"
	}
	return "source"
}

func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return ""
	}
	return strings.ToLower(u.Host)
}

// dbOf is the database name of a database URL ("" for a server URL or
// a _session URL).
func dbOf(raw string) string {
	u, err := url.Parse(strings.TrimSuffix(raw, "/"))
	if err != nil {
		return ""
	}
	p := u.EscapedPath()
	if u.Host == "" {
		p = strings.TrimSuffix(raw, "/") // a local database name (1.x)
	}
	i := strings.LastIndex(p, "/")
	name := p[i+1:]
	if n, err := url.PathUnescape(name); err == nil {
		name = n
	}
	if strings.HasPrefix(name, "_") {
		return ""
	}
	return name
}

// clip cuts text already redacted (Replication.red): a cut of text not
// redacted yet could leave a prefix of a secret no redactor recognises.
func clip(s string, n int) string { return secret.Cut(s, n+len("...")) }
