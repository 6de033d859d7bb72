package hostile

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// Binary describes one binary of the suite for Table.
type Binary struct {
	// Name is the first word of its output, e.g. "COUCH_REPLICATION".
	Name string
	// Run is the binary's run(args, stdout) exit code function.
	Run func(args []string, stdout io.Writer) int
	// Args returns the arguments that point every URL option of the
	// binary at base (a hostile server) and give it credentials from
	// credsFile, a mode 600 file holding User:Password.
	Args func(base, credsFile string) []string
	// Want overrides Case.Want for the cases this binary judges otherwise
	// (check_fastly does not decode a ping answer, for one).
	Want map[string]Verdict
	// Only limits the cases to the paths containing it (StartOn); the
	// cases that are not PerPath are left out.
	Only string
}

// User and Password are the credentials Table gives every binary: the
// echo cases send them back.
const (
	User     = "monitor"
	Password = "Sup3rSecret-hostile"
)

// TimeoutState is the --timeout-state Table passes, so that a timeout
// (WARNING) is told apart from the CRITICAL of a broken server.
const TimeoutState = "warning"

// Exit codes of the Nagios states.
var stateCodes = map[Verdict]int{Critical: 2, Unknown: 3, Timeout: 1}

var stateNames = []string{"OK", "WARNING", "CRITICAL", "UNKNOWN"}

// BadText matches what no message may show: fmt's complaints (%!q(...)),
// <nil>, and Go's names for types and values.
var BadText = regexp.MustCompile(`%!|<nil>|\binterface \{\}|\bmap\[[a-z]|\bstruct \{|\[\](?:string|byte|int|interface)|\b(?:float64|int64|uint64|int32|json\.Number)\b|Go value|Go struct|\b(?:couchdb|chttp|kivik|json|http|httpclient|couch|nagios|secret|replication|restart|tarball|cdn|views|disk|url|net|io|os|syscall|tls|x509|main)\.[A-Za-z_]+[A-Z][A-Za-z_]*\b|\*[a-z]+\.[A-Z][A-Za-z]+`)

// Table runs b against every case, one server each, in parallel, and
// checks the exit code against the case's verdict (or b.Want's), that the
// first line is "NAME STATE - ..." for that code, and that no line of the
// output matches BadText. It returns the number of cases run.
//
// Under -short it skips: it starts a server per case, and waits out -t on
// the blackholed and trickling ones.
func Table(t *testing.T, b Binary) int {
	t.Helper()
	if testing.Short() {
		t.Skip("hostile.Table starts a server per case and waits out -t on two")
	}
	creds := filepath.Join(t.TempDir(), "creds")
	if err := os.WriteFile(creds, []byte(User+":"+Password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, c := range Cases() {
		if b.Only != "" && !PerPath(c.Name) {
			continue
		}
		want := c.Want
		if w, ok := b.Want[c.Name]; ok {
			want = w
		}
		n++
		t.Run(c.Name, func(t *testing.T) {
			t.Parallel()
			srv, err := StartOn(c.Name, b.Only)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(srv.Close)
			// -t leaves room for the cases that read a lot (64 MiB of tarball)
			// on a loaded machine: a timeout there would read as WARNING.
			args := append(b.Args(srv.URL, creds), "-t", "5s", "--timeout-state", TimeoutState)
			var out bytes.Buffer
			code := b.Run(args, &out)
			text := out.String()
			first, _, _ := strings.Cut(text, "\n")
			if code < 0 || code > 3 {
				t.Fatalf("exit %d outside 0-3: %s", code, text)
			}
			if !strings.HasPrefix(first, b.Name+" "+stateNames[code]+" - ") {
				t.Errorf("first line does not say %s %s: %q", b.Name, stateNames[code], first)
			}
			if w, ok := stateCodes[want]; ok && code != w {
				t.Errorf("case %s (%s): exit %d (%s), want %s\n%s", c.Name, c.What, code, stateNames[code], want, text)
			}
			for _, line := range strings.Split(text, "\n") {
				if m := BadText.FindString(line); m != "" {
					t.Errorf("output shows %q: %s", m, line)
				}
			}
			t.Logf("%s: %s", c.Name, first)
		})
	}
	return n
}
