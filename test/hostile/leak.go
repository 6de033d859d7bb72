package hostile

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
)

// EchoCases are the cases whose answers carry the request's credentials.
var EchoCases = []string{"echo", "echo-401", "echo-500", "echo-forge"}

// An OutputPath is one way text leaves a binary: the arguments that open
// it and what left by it.
type OutputPath struct {
	Name string
	// Args are added to the binary's arguments; dir is an empty folder of
	// the run's own, for the files the path writes.
	Args func(dir string) []string
	// Text is what left by this path, given what the run printed; it
	// reads the files the run wrote under dir.
	Text func(t *testing.T, dir, stdout string) string
}

// Stdout is the plugin output, default options.
var Stdout = OutputPath{Name: "stdout", Args: none, Text: printed}

// Verbose is the plugin output with -vvv.
var Verbose = OutputPath{Name: "verbose", Args: func(string) []string { return []string{"-vvv"} }, Text: printed}

// Limited is the plugin output cut at n bytes (--output-limit): the cut
// must not leave a piece of a secret.
func Limited(n int) OutputPath {
	return OutputPath{Name: fmt.Sprintf("output-limit-%d", n), Args: func(string) []string { return []string{"--output-limit", fmt.Sprint(n)} }, Text: printed}
}

// Influx is line protocol on stdout (--output=influx).
var Influx = OutputPath{Name: "influx", Args: func(string) []string { return []string{"--output=influx"} }, Text: printed}

// InfluxFile is line protocol appended to --influx-file.
var InfluxFile = OutputPath{Name: "influx-file", Args: func(dir string) []string {
	return []string{"--influx-file", filepath.Join(dir, "metrics.lp")}
}, Text: files}

// Spool is the spool of points an unreachable --influx-url leaves (the
// note the run prints about it is checked with every run's output).
var Spool = OutputPath{Name: "spool", Args: func(dir string) []string {
	return []string{"--influx-url", refusedURL(), "--spool-dir", filepath.Join(dir, "spool")}
}, Text: files}

// PluginPaths are the paths every binary has.
func PluginPaths() []OutputPath {
	return []OutputPath{Stdout, Verbose, Limited(60), Limited(120), Limited(200), Influx, InfluxFile, Spool}
}

func none(string) []string { return nil }

func printed(_ *testing.T, _, stdout string) string { return stdout }

// files is the content of every file under dir.
func files(t *testing.T, dir, stdout string) string { return FilesUnder(nil)(t, dir, stdout) }

// FilesUnder is an OutputPath's Text for the files a run writes under
// dir, leaving out the files skip accepts (paths relative to dir).
func FilesUnder(skip func(rel string) bool) func(t *testing.T, dir, stdout string) string {
	return func(t *testing.T, dir, _ string) string {
		var b strings.Builder
		err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			rel, _ := filepath.Rel(dir, p)
			if skip != nil && skip(rel) {
				return nil
			}
			data, err := os.ReadFile(p)
			b.Write(data)
			return err
		})
		if err != nil {
			t.Errorf("reading what the run wrote under %s: %v", dir, err)
		}
		return b.String()
	}
}

// refusedURL is an address nothing listens on.
func refusedURL() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "http://127.0.0.1:9"
	}
	defer l.Close()
	return "http://" + l.Addr().String()
}

// Capture is an HTTP server that keeps every request body it gets (a chat
// webhook, an InfluxDB): what the run posted is what left by it.
type Capture struct {
	URL   string
	mu    sync.Mutex
	posts []post
}

type post struct{ uri, body string }

// NewCapture starts a Capture answering status, closed at t's cleanup.
func NewCapture(t testing.TB, status int) *Capture {
	c := &Capture{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		c.mu.Lock()
		c.posts = append(c.posts, post{r.URL.RequestURI(), string(body)})
		c.mu.Unlock()
		w.WriteHeader(status)
	}))
	t.Cleanup(srv.Close)
	c.URL = srv.URL
	return c
}

// Posted is the bodies posted so far to the paths that start with prefix,
// one per line.
func (c *Capture) Posted(prefix string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var b strings.Builder
	for _, p := range c.posts {
		if strings.HasPrefix(p.uri, prefix) {
			b.WriteString(p.body)
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// SecretForms are the forms of the credentials Table gives that must never
// leave: the password, and the base64 of user:password an Authorization
// header carries.
func SecretForms() []string {
	return []string{Password, base64.StdEncoding.EncodeToString([]byte(User + ":" + Password))}
}

// Leak reports the first 6-byte piece of a form of the credentials in text
// ("" when none), and the first line of text a server forged (echo-forge's
// "OK - forged line | forged=1" on a line of its own, or its perfdata on
// a line of its own). Inside a line, the text is only text.
func Leak(text string) (piece, forgedLine string) {
	for _, f := range SecretForms() {
		for i := 0; i+6 <= len(f); i++ {
			if strings.Contains(text, f[i:i+6]) {
				return f[i : i+6], ""
			}
		}
	}
	for _, line := range strings.Split(text, "\n") {
		l := strings.TrimSpace(line)
		if strings.HasPrefix(l, "OK - forged") || strings.HasPrefix(l, "| forged=1") {
			return "", line
		}
	}
	return "", ""
}

// ForgedPerfdata reports whether Nagios plugin output carries the forged
// perfdata: in the plugin output a '|' of the server's would start it.
func ForgedPerfdata(stdout string) bool { return strings.Contains(stdout, "| forged=1") }

// CredentialsFile writes User:Password to a mode 600 file under t's temp
// dir and returns its path.
func CredentialsFile(t testing.TB) string {
	p := filepath.Join(t.TempDir(), "creds")
	if err := os.WriteFile(p, []byte(User+":"+Password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// WithUserinfo is base with User:Password in its userinfo, for the URL
// options that take credentials there (-u of check_fastly, --packument).
func WithUserinfo(base string) string {
	scheme, rest, _ := strings.Cut(base, "://")
	return scheme + "://" + User + ":" + Password + "@" + rest
}

// LeakCount is what LeakTable ran: runs per path, and of those the runs
// where the path carried any text (a failed check writes no point, so its
// line-protocol paths stay empty).
type LeakCount struct {
	Runs    map[string]int
	Carried map[string]int
}

func (c LeakCount) String() string {
	var parts []string
	total, carried := 0, 0
	for name, n := range c.Runs {
		total += n
		carried += c.Carried[name]
		parts = append(parts, fmt.Sprintf("%s %d/%d", name, c.Carried[name], n))
	}
	sort.Strings(parts)
	return fmt.Sprintf("%d runs, %d carried text (per path, carried/runs: %s)", total, carried, strings.Join(parts, ", "))
}

// LeakTable runs b against every echo case through every path, one server
// and one folder each, in parallel, and fails when what left by the path
// holds a piece of the credentials or a forged line. The exit code must
// be 0-3; the verdict is Table's business. The plugin output (the paths
// whose Text is what was printed) must never be empty. The counts are
// complete once t's subtests have finished: read them in t.Cleanup.
func LeakTable(t *testing.T, b Binary, paths []OutputPath) *LeakCount {
	t.Helper()
	creds := CredentialsFile(t)
	count := &LeakCount{Runs: map[string]int{}, Carried: map[string]int{}}
	var mu sync.Mutex
	for _, name := range EchoCases {
		for _, p := range paths {
			count.Runs[p.Name]++
			t.Run(name+"/"+p.Name, func(t *testing.T) {
				t.Parallel()
				srv := New(t, name)
				dir := t.TempDir()
				args := append(b.Args(srv.URL, creds), "-t", "5s")
				args = append(args, p.Args(dir)...)
				var out bytes.Buffer
				code := b.Run(args, &out)
				if code < 0 || code > 3 {
					t.Fatalf("exit %d outside 0-3: %s", code, out.String())
				}
				text := p.Text(t, dir, out.String())
				if strings.TrimSpace(text) == "" {
					t.Logf("nothing left by %s (exit %d): %s", p.Name, code, out.String())
				} else {
					mu.Lock()
					count.Carried[p.Name]++
					mu.Unlock()
				}
				if strings.TrimSpace(out.String()) == "" && p.Args(dir) == nil {
					t.Errorf("no plugin output (exit %d)", code)
				}
				if ForgedPerfdata(out.String()) && !strings.Contains(strings.Join(args, " "), "--output=influx") {
					t.Errorf("the plugin output carries the server's perfdata:\n%s", out.String())
				}
				if piece, forged := Leak(text); piece != "" || forged != "" {
					t.Errorf("%s leaks %q / forges %q:\n%s", p.Name, piece, forged, text)
				}
				if piece, forged := Leak(out.String()); piece != "" || forged != "" {
					t.Errorf("the output leaks %q / forges %q:\n%s", piece, forged, out.String())
				}
			})
		}
	}
	return count
}
