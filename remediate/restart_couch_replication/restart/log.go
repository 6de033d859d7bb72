package restart

import (
	"context"
	"fmt"
	"io"
	"log/syslog"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/registry-checks/registry-checks/lib/httpclient"
	"github.com/registry-checks/registry-checks/lib/nagios"
	"github.com/registry-checks/registry-checks/lib/secret"
)

// Decision is one logged decision: acted, skipped, and why.
type Decision struct {
	Node    string // target node URL, no credentials
	Key     string // replication key, "" for a decision about the whole run
	Mode    Mode
	Event   string // "CRITICAL SOFT 2" in handler mode
	Action  string // restarted, would_restart, restart_failed, or the Kind
	Code    string
	Message string
	DryRun  bool
}

// Line is the decision as one key=value line (logfmt), for syslog and log
// files: grep-able by node, replication and action.
func (d Decision) Line() string {
	var b strings.Builder
	kv := func(k, v string) {
		if v == "" {
			return
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(k)
		b.WriteByte('=')
		// Quoted (escaping line breaks and every other unprintable
		// character) when it would not read back as one value.
		if strings.ContainsAny(v, " \"=\\") || strings.ContainsFunc(v, func(r rune) bool { return !unicode.IsPrint(r) }) {
			v = strconv.Quote(v)
		}
		b.WriteString(v)
	}
	kv("node", d.Node)
	kv("replication", d.Key)
	kv("mode", string(d.Mode))
	kv("event", d.Event)
	kv("action", d.Action)
	kv("code", d.Code)
	if d.DryRun {
		kv("dry_run", "true")
	}
	kv("msg", oneLine(d.Message))
	return b.String()
}

// Logger writes decision lines somewhere durable.
type Logger interface {
	Log(line string) error
	Close() error
}

// OpenLogger opens where decisions go: a file path (appended to), "-"
// for stderr, "syslog" for the local syslog (facility daemon, tag
// restart_couch_replication). With "syslog" and no syslog daemon, lines go
// to fallback, a file in the state dir, so a decision is never lost to a
// box without /dev/log.
func OpenLogger(dest, fallback string, now func() time.Time) (Logger, string, error) {
	return OpenLoggerAs("restart_couch_replication", dest, fallback, now)
}

// OpenLoggerAs is OpenLogger for another program of the suite: its name is
// the syslog tag and the prefix of each line.
func OpenLoggerAs(program, dest, fallback string, now func() time.Time) (Logger, string, error) {
	switch dest {
	case "-":
		return &writerLog{w: os.Stderr, now: now, program: program}, "stderr", nil
	case "", "syslog":
		w, err := syslog.New(syslog.LOG_DAEMON|syslog.LOG_NOTICE, program)
		if err == nil {
			return &syslogLog{w: w}, "syslog", nil
		}
		dest = fallback
	}
	f, err := os.OpenFile(dest, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return nil, dest, fmt.Errorf("log file %s: %w", dest, unwrapPath(err))
	}
	return &writerLog{w: f, c: f, now: now, program: program}, dest, nil
}

type syslogLog struct{ w *syslog.Writer }

func (s *syslogLog) Log(line string) error { return s.w.Notice(line) }
func (s *syslogLog) Close() error          { return s.w.Close() }

// writerLog writes "time program[pid]: line". A line is written with one
// write on an O_APPEND file, so lines of concurrent runs do not mix.
type writerLog struct {
	mu      sync.Mutex
	w       io.Writer
	c       io.Closer
	now     func() time.Time
	program string
}

func (l *writerLog) Log(line string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, err := fmt.Fprintf(l.w, "%s %s[%d]: %s\n", l.now().UTC().Format(time.RFC3339), l.program, os.Getpid(), line)
	return err
}

func (l *writerLog) Close() error {
	if l.c != nil {
		return l.c.Close()
	}
	return nil
}

// Webhook posts decisions to a chat incoming webhook as {"text": ...}
// (Slack, Mattermost and Rocket.Chat accept that body).
type Webhook struct {
	URL  string // a secret: the path is the credential; never print it
	From string // where the URL came from, for messages: "--webhook-url-file /etc/..."
	HTTP *httpclient.Client
}

// LoadWebhook reads the chat webhook URL from file (mode 600 or 640, as
// secret.LoadValueFile enforces) and registers it with red: the whole URL
// and its path, which is the credential.
func LoadWebhook(file string, red *secret.Redactor, hc *httpclient.Client) (*Webhook, error) {
	u, err := secret.LoadValueFile(file)
	if err != nil {
		return nil, fmt.Errorf("--webhook-url-file: %w", err)
	}
	red.Add(u)
	if i := strings.Index(u, "://"); i >= 0 {
		if j := strings.IndexByte(u[i+3:], '/'); j >= 0 {
			red.Add(u[i+3+j:]) // the path is the credential
		}
	}
	return &Webhook{URL: u, From: file, HTTP: hc}, nil
}

// Post sends text, made inert for chat (ChatSafe). The error names the
// file the URL came from, never the URL.
func (w *Webhook) Post(ctx context.Context, text string) error {
	_, err := w.HTTP.JSON(ctx, http.MethodPost, w.URL, secretNone, map[string]string{"text": ChatSafe(text)}, nil)
	if err == nil {
		return nil
	}
	p := nagios.AsProblem(err)
	msg := strings.ReplaceAll(p.Msg, w.URL, "<webhook>")
	if host := hostPart(w.URL); host != "" {
		// Classify prints the URL redacted, which keeps the path: cut
		// everything after the host.
		msg = cutAfterHost(msg, host)
	}
	return fmt.Errorf("chat webhook (URL in %s): %s", w.From, msg)
}

// chatEscapes are the three characters Slack's message format gives a
// meaning (documented escapes; Mattermost and Rocket.Chat render the
// entities as the characters).
var chatEscapes = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// chatMentions are the words after an @ that notify a whole channel in
// Mattermost and Rocket.Chat.
var chatMentions = regexp.MustCompile(`(?i)@(channel|here|all|everyone)\b`)

// ChatSafe makes text inert in a chat message: a document id or an error
// the server sent can say "<!channel>" (Slack) or "@here" (Mattermost,
// Rocket.Chat), and a replication's name must not page a whole channel.
// Slack's &, < and > are escaped, and a zero-width space after the @
// breaks the others; the text reads the same.
func ChatSafe(text string) string {
	return chatMentions.ReplaceAllString(chatEscapes.Replace(text), "@\u200b$1")
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

var secretNone = secret.Credentials{}

func hostPart(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Host
}

// cutAfterHost replaces the path of every URL of host in msg by "/...".
func cutAfterHost(msg, host string) string {
	re := regexp.MustCompile(`(https?://` + regexp.QuoteMeta(host) + `)/\S*?(:?)(\s|$)`)
	return re.ReplaceAllString(msg, "$1/...$2$3")
}
