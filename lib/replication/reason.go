package replication

import (
	"net/url"
	"regexp"
	"strings"
	"sync"

	"github.com/registry-checks/registry-checks/lib/couch"
	"github.com/registry-checks/registry-checks/lib/secret"
)

// Causes: the kinds of failure an operator tells apart and groups by.
// Every error form CouchDB (1.x-3.x) and PouchDB Server are known to give
// maps to one of them; CauseOther is the rest.
const (
	CauseSourceUnreachable = "source unreachable"
	CauseTargetUnreachable = "target unreachable"
	CauseSourceServerError = "source server error"
	CauseSourceRead        = "reading the source failed"
	CauseTargetServerError = "target server error"
	CauseSourceDBMissing   = "source database missing"
	CauseTargetDBMissing   = "target database missing"
	CauseSourceAuth        = "authentication refused by source"
	CauseTargetAuth        = "authentication refused by target"
	CauseSourceDenied      = "access denied by source"
	CauseTargetDenied      = "access denied by target"
	CauseFilterMissing     = "filter missing on source"
	CauseFilterBroken      = "filter broken on source"
	CauseDuplicate         = "duplicate replication"
	CauseTargetWrite       = "target rejects writes"
	CauseRefused           = "with documents refused by the target" // doc_write_failures
	CauseTLS               = "TLS failure"
	CauseOther             = "other error"
)

// Cause is why a replication is not OK, in the words an operator groups
// failures by: What is the kind (one of the Cause constants, or a state
// such as "behind the source"), Server the server it is about
// (scheme://host:port, no credentials) when the kind is about a server,
// and Detail the particular ("connection closed", "user mirror"). It
// never holds server text: no Erlang term, no raw error.
type Cause struct {
	What   string
	Server string
	Detail string
}

// String is the reason as one replication's summary says it:
// "source unreachable (connection closed)".
func (c Cause) String() string {
	if c.Detail == "" {
		return c.What
	}
	return c.What + " (" + c.Detail + ")"
}

// SourceDown reports whether the cause is that the source does not answer.
func (c Cause) SourceDown() bool { return c.What == CauseSourceUnreachable }

// transportWords are the Erlang and PouchDB spellings of "nobody answered".
var transportWords = []string{
	"econnrefused", "nxdomain", "ehostunreach", "enetunreach", "econnreset", "etimedout",
	"conn_failed", "connection_closing", "req_timedout", "ibrowse_stream_cleanup",
	"sel_conn_closed", "conn_closed", "{error,closed}", "{error,timeout}", "retry_later",
	"connection refused", "getaddrinfo enotfound", "enotfound", "eai_again", "socket hang up",
	"network error", "econnaborted",
	// what lib/httpclient says (the checker's own probes)
	"closed the connection", "connection reset by peer", "no such host", "i/o timeout",
	"host unreachable", "network unreachable", "dns lookup", "timeout after",
}

// tlsWords are TLS failures (a certificate, a handshake).
var tlsWords = []string{"tls_alert", "bad_cert", "unknown_ca", "certificate", "handshake_failure", "ssl_error", "cacertfile"}

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
	// Couldn't open document `_design/nosuch` from source database `http://...`: {error,<<"not_found">>}
	filterDocMissing = lazyRegexp("(?i)couldn't open document `(_design/[^`]*)`[^:]*:.*not_found")
	// Couldn't parse filter code from document app on `http://...` Error: {not_found,<<"missing json key: filters">>}
	filterCode = lazyRegexp("(?i)couldn't parse filter code from document (\\S+)")
	// {revs_diff_failed,404,{[{<<"error">>,<<"not_found">>},...]}} (the
	// target), {changes_req_failed,404,#Fun<...>} (the source): a request
	// of the replicator that got an HTTP status; the request names the side.
	requestFailed = lazyRegexp(`\{([a-z_]+)_failed,\s*(\d{3})\b`)
	// {http_request_failed,"GET","http://db1:5984/x/",{error,{code,503}}}; {code,500}
	httpCode = lazyRegexp(`\{code,\s*(\d{3})\}`)
	anyURL   = lazyRegexp(`https?://[^\s"'<>,}\x60]+`)
	// the first Erlang atom or word of an error, to name an unknown one
	firstAtom = lazyRegexp(`[a-zA-Z][a-zA-Z0-9_]{2,40}`)
)

// classify turns an error CouchDB reported for a replication (a printed
// Erlang term, possibly multi-line, or a PouchDB message) into its Cause.
// source and target are the replication's URLs without credentials; they
// say which side a URL in the error is.
//
// A source that is down shows up in many forms, several during one outage
// (outage-200 in the fixtures): the changes feed failing
// ({changes_req_failed,sel_conn_closed}, ... econnrefused), the changes
// reader timing out ({changes_reader_died,{timeout,ibrowse_stream_cleanup}}),
// a commit failing ("Failure on source commit: ... econnrefused") and, on
// every restart, an authentication error: the _session auth plugin is the
// first thing to contact the source, so 3.x reports
// {replication_auth_error,{session_request_failed,".../_session","admin",
// sel_conn_closed}}. All of these are "source unreachable", not a wrong
// password.
func classify(raw, source, target string) Cause {
	line := couch.OneLine(raw)
	lower := strings.ToLower(line)
	side := func(u string) string { return sideOf(u, source, target) }
	server := func(s string) string {
		if s == "target" {
			return serverOf(target)
		}
		return serverOf(source)
	}
	unreach := func(s string) Cause {
		w := CauseSourceUnreachable
		if s == "target" {
			w = CauseTargetUnreachable
		}
		return Cause{What: w, Server: server(s), Detail: transportCause(lower)}
	}
	// urlSide is the side of the first URL in the error, or def.
	urlSide := func(def string) string {
		if m := anyURL().FindString(line); m != "" {
			return side(m)
		}
		return def
	}
	unreachable := containsAny(lower, transportWords)
	switch {
	case sessionUnauthorized().MatchString(line):
		m := sessionUnauthorized().FindStringSubmatch(line)
		if side(m[1]) == "target" {
			return Cause{What: CauseTargetAuth, Detail: "user " + m[2]}
		}
		return Cause{What: CauseSourceAuth, Detail: "user " + m[2]}
	case sessionFailed().MatchString(line) && unreachable:
		return unreach(side(sessionFailed().FindStringSubmatch(line)[1]))
	case dbNotFound().MatchString(line):
		if side(dbNotFound().FindStringSubmatch(line)[1]) == "target" {
			return Cause{What: CauseTargetDBMissing}
		}
		return Cause{What: CauseSourceDBMissing}
	case requestFailed().MatchString(line):
		m := requestFailed().FindStringSubmatch(line)
		return statusCause(requestSide(m[1], urlSide), m[2], server)
	case strings.Contains(lower, "already started") && duplicateOf().MatchString(line):
		return Cause{What: CauseDuplicate, Detail: "same as " + duplicateOf().FindStringSubmatch(line)[1] + ": delete one"}
	case filterDocMissing().MatchString(line):
		return Cause{What: CauseFilterMissing, Detail: filterDocMissing().FindStringSubmatch(line)[1] + " not found"}
	case filterCode().MatchString(line):
		doc := strings.Trim(filterCode().FindStringSubmatch(line)[1], "`'\"")
		if !strings.HasPrefix(doc, "_design/") {
			doc = "_design/" + doc
		}
		if strings.Contains(lower, "missing json key") || strings.Contains(lower, "not_found") {
			return Cause{What: CauseFilterMissing, Detail: "no such filter in " + doc}
		}
		return Cause{What: CauseFilterBroken, Detail: doc}
	case containsAny(lower, tlsWords):
		s := urlSide("source")
		return Cause{What: CauseTLS, Server: server(s), Detail: "at " + s}
	case unreachable:
		// The changes feed and the source commit are the source's; a
		// URL in the error names the side.
		s := "source"
		switch {
		case strings.Contains(lower, "target commit"), strings.Contains(lower, "bulk_docs"):
			s = "target"
		case strings.Contains(lower, "changes_"), strings.Contains(lower, "source commit"):
		default:
			s = urlSide("source")
		}
		return unreach(s)
	case strings.Contains(lower, "unauthorized") || strings.Contains(lower, "forbidden") || strings.Contains(lower, "{code,401}") || strings.Contains(lower, "{code,403}"):
		if urlSide("target") == "target" && !strings.Contains(lower, "source") {
			return Cause{What: CauseTargetDenied}
		}
		return Cause{What: CauseSourceDenied}
	case httpCode().MatchString(line):
		code := httpCode().FindStringSubmatch(line)[1]
		s := urlSide("source")
		if code == "404" {
			if s == "target" {
				return Cause{What: CauseTargetDBMissing, Detail: "HTTP 404"}
			}
			return Cause{What: CauseSourceDBMissing, Detail: "HTTP 404"}
		}
		w := CauseSourceServerError
		if s == "target" {
			w = CauseTargetServerError
		}
		return Cause{What: w, Server: server(s), Detail: "HTTP " + code}
	case strings.Contains(lower, "database does not exist") || strings.Contains(lower, "no_db_file") || strings.Contains(lower, "database not found"):
		// PouchDB Server
		if urlSide("source") == "target" {
			return Cause{What: CauseTargetDBMissing}
		}
		return Cause{What: CauseSourceDBMissing}
	case strings.Contains(lower, "there was a problem getting docs"):
		// PouchDB Server: fetching a batch's documents from the source
		// failed, for a reason it does not keep (a source that went away
		// mid-batch, or one that answered with an error).
		return Cause{What: CauseSourceRead, Server: server("source"), Detail: "documents not fetched"}
	case strings.Contains(lower, "doc_write_failure") || strings.Contains(lower, "write_failed") || strings.Contains(lower, "too_large") || strings.Contains(lower, "validate_doc_update"):
		return Cause{What: CauseTargetWrite}
	case strings.Contains(lower, "timeout") || strings.Contains(lower, "timedout"):
		return unreach(urlSide("source"))
	}
	c := Cause{What: CauseOther}
	if a := firstAtom().FindString(line); a != "" {
		c.Detail = a
	}
	return c
}

func containsAny(s string, words []string) bool {
	for _, w := range words {
		if strings.Contains(s, w) {
			return true
		}
	}
	return false
}

// requestSide is the side a replicator request of the kind op (the atom
// before _failed) goes to: the changes feed and document reads are the
// source's, revs_diff and writes the target's. Another request is the side
// of the URL in the error.
func requestSide(op string, urlSide func(def string) string) string {
	switch op {
	case "changes_req", "open_doc", "open_revs", "bulk_get", "get_doc":
		return "source"
	case "revs_diff", "bulk_docs", "update_doc", "update_docs", "bulk_save":
		return "target"
	}
	return urlSide("source")
}

// statusCause is the cause of an HTTP status code a replicator request to
// side got.
func statusCause(side, code string, server func(string) string) Cause {
	pick := func(source, target string) string {
		if side == "target" {
			return target
		}
		return source
	}
	switch {
	case code == "404":
		return Cause{What: pick(CauseSourceDBMissing, CauseTargetDBMissing), Detail: "HTTP 404"}
	case code == "401":
		return Cause{What: pick(CauseSourceAuth, CauseTargetAuth), Detail: "HTTP 401"}
	case code == "403":
		return Cause{What: pick(CauseSourceDenied, CauseTargetDenied), Detail: "HTTP 403"}
	case code >= "500":
		return Cause{What: pick(CauseSourceServerError, CauseTargetServerError), Server: server(side), Detail: "HTTP " + code}
	}
	return Cause{What: CauseOther, Server: server(side), Detail: "HTTP " + code + " at the " + side}
}

// transportCause names the transport failure in the error.
func transportCause(lower string) string {
	switch {
	case strings.Contains(lower, "econnrefused") || strings.Contains(lower, "connection refused"):
		return "connection refused"
	case strings.Contains(lower, "nxdomain") || strings.Contains(lower, "enotfound") || strings.Contains(lower, "eai_again") || strings.Contains(lower, "no such host") || strings.Contains(lower, "dns lookup"):
		return "host not found"
	case strings.Contains(lower, "ehostunreach") || strings.Contains(lower, "enetunreach") || strings.Contains(lower, "host unreachable") || strings.Contains(lower, "network unreachable"):
		return "no route to host"
	case strings.Contains(lower, "timeout") || strings.Contains(lower, "timedout"):
		return "timed out"
	case strings.Contains(lower, "conn_closed") || strings.Contains(lower, "{error,closed}") || strings.Contains(lower, "closing") || strings.Contains(lower, "closed the connection"):
		return "connection closed"
	case strings.Contains(lower, "econnreset") || strings.Contains(lower, "hang up") || strings.Contains(lower, "econnaborted"):
		return "connection reset"
	}
	return "connection failed"
}

// ServerOf is the scheme://host:port of a URL, "" when it has none (a
// local database name): what groups replications by server.
func ServerOf(raw string) string { return serverOf(raw) }

func serverOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return ""
	}
	return u.Scheme + "://" + u.Host
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
