package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/registry-checks/registry-checks/test/hostile"
)

// TestEchoLeaks: against servers that echo the request's credentials and
// URL into every string they serve (document ids, reasons, headers) and
// forge Nagios lines, nothing the handler writes holds a piece of the
// password or of its base64 user:password form, or a forged line: not its
// output, its line protocol and spool, its decision log (a file, or "-"
// on stderr), its chat webhook posts, nor its state files. The document
// backups (mode 600) are left out: they keep the replication documents
// whole, credentials included, by design (docs/design.md, Security).
func TestEchoLeaks(t *testing.T) {
	hook := hostile.NewCapture(t, 200)
	log := func(dir string) string { return filepath.Join(dir, "decisions.log") }
	paths := append(hostile.PluginPaths(),
		hostile.OutputPath{Name: "decision-log", Args: func(dir string) []string {
			return []string{"--log-file", log(dir)}
		}, Text: func(t *testing.T, dir, _ string) string {
			b, err := os.ReadFile(log(dir))
			if err != nil {
				t.Errorf("decision log: %v", err)
			}
			assertLogLines(t, string(b))
			return string(b)
		}},
		hostile.OutputPath{Name: "webhook", Args: func(dir string) []string {
			f := filepath.Join(dir, "webhook")
			url := hook.URL + "/hooks/" + filepath.Base(dir) + "/T0pSecretHookPath"
			if err := os.WriteFile(f, []byte(url+"\n"), 0o600); err != nil {
				panic(err)
			}
			return []string{"--webhook-url-file", f}
		}, Text: func(t *testing.T, dir, stdout string) string {
			posted := hook.Posted("/hooks/" + filepath.Base(dir) + "/")
			if strings.Contains(stdout+posted, "T0pSecretHookPath") {
				t.Errorf("the webhook URL's path is printed")
			}
			return posted
		}},
		hostile.OutputPath{Name: "state-dir", Args: func(dir string) []string {
			return []string{"--state-dir", filepath.Join(dir, "state")}
		}, Text: hostile.FilesUnder(func(rel string) bool { return strings.Contains(rel, "/backups/") })},
	)
	n := hostile.LeakTable(t, hostile.Binary{Name: "RESTART_COUCH_REPLICATION", Run: run,
		Args: func(base, creds string) []string {
			return []string{"-u", base, "--credentials-file", creds,
				"--state", "CRITICAL", "--state-type", "SOFT", "--attempt", "2",
				"--confirm-timeout", "1s", "--log-file", os.DevNull, "--state-dir", t.TempDir()}
		}}, paths)
	t.Cleanup(func() { t.Logf("restart_couch_replication echo cases: %s", n) })
}

// assertLogLines: every line of the decision log is one decision, "time
// program[pid]: key=value...": a server's line break forges none.
func assertLogLines(t *testing.T, log string) {
	t.Helper()
	for _, line := range strings.Split(strings.TrimSuffix(log, "\n"), "\n") {
		if line == "" {
			continue
		}
		if _, rest, ok := strings.Cut(line, " restart_couch_replication["); !ok || !strings.Contains(rest, "]: node=") {
			t.Errorf("decision log line that is no decision: %q", line)
		}
	}
}

// TestEchoLeaksStderrLog: with --log-file - the decisions go to stderr.
// The handler runs in a child process (this test binary, see
// TestHelperHandler) so that its stderr is its own.
func TestEchoLeaksStderrLog(t *testing.T) {
	creds := hostile.CredentialsFile(t)
	for _, name := range hostile.EchoCases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			srv := hostile.New(t, name)
			args := []string{"-u", srv.URL, "--credentials-file", creds, "--state", "CRITICAL", "--state-type", "SOFT", "--attempt", "2",
				"--confirm-timeout", "1s", "--state-dir", t.TempDir(), "--log-file", "-", "-t", "5s"}
			cmd := exec.Command(os.Args[0], "-test.run=^TestHelperHandler$")
			js, _ := json.Marshal(args)
			cmd.Env = append(os.Environ(), "HANDLER_HELPER_ARGS="+string(js))
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			var ee *exec.ExitError
			if err != nil && !errors.As(err, &ee) {
				t.Fatal(err)
			}
			if strings.TrimSpace(stderr.String()) == "" {
				t.Fatalf("no decision on stderr; stdout: %s", stdout.String())
			}
			assertLogLines(t, stderr.String())
			for _, text := range []string{stdout.String(), stderr.String()} {
				if piece, forged := hostile.Leak(text); piece != "" || forged != "" {
					t.Errorf("leaks %q / forges %q:\n%s", piece, forged, text)
				}
			}
		})
	}
}

func TestHelperHandler(t *testing.T) {
	args := os.Getenv("HANDLER_HELPER_ARGS")
	if args == "" {
		t.Skip("helper process for TestEchoLeaksStderrLog")
	}
	var list []string
	if err := json.Unmarshal([]byte(args), &list); err != nil {
		t.Fatal(err)
	}
	os.Exit(run(list, os.Stdout))
}
