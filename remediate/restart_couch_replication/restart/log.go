package restart

import (
	"fmt"
	"io"
	"log/syslog"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
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

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
