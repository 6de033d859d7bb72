// Package nrpetest holds what the tests of nrpe/ and packaging/ share: the
// shipped NRPE file parsed and rendered for the local stack, installing a
// rendered file into the stack's running NRPE, check_nrpe, the suite's
// binaries built where the nagios user can run them, and real programs
// (nagios4, icinga2, rpm) installed on demand under make test.
package nrpetest

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Binaries are every binary of the suite, by package path.
var Binaries = []string{
	"checks/check_couch_replication",
	"checks/check_couch_disk",
	"checks/check_couch_views",
	"checks/check_tarball_origin",
	"checks/check_fastly",
	"checks/check_cdn_log",
	"remediate/restart_couch_replication",
	"checks/check_couch_promotion",
	"remediate/promote_couch_replica",
	"remediate/notify_chat",
	"remediate/notify_pagerduty",
}

// Notifiers are the binaries of Binaries that Nagios runs on its own host
// as notification commands: they have no NRPE command.
var Notifiers = []string{"remediate/notify_chat", "remediate/notify_pagerduty"}

// IsNotifier reports whether the binary of package path p is a notifier.
func IsNotifier(p string) bool { return slices.Contains(Notifiers, p) }

// PluginDir is where the Debian package and the shipped NRPE file put the binaries.
const PluginDir = "/usr/lib/nagios/plugins"

// RepoRoot is the folder of go.mod above the test's working directory.
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	require.NoError(t, err)
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		require.NotEqual(t, parent, dir, "no go.mod above the test's folder")
		dir = parent
	}
}

// requireStack is make test's promise that every program a test needs is
// there, or installed: a skip would let CI pass without testing.
func requireStack() bool { return os.Getenv("REGISTRY_CHECKS_REQUIRE_STACK") == "1" }

// NeedProgram skips under -short and when path is missing; under make test
// (REGISTRY_CHECKS_REQUIRE_STACK=1) it first installs the Debian packages
// with test/stack/tools/ensure.sh, and a program still missing fails.
func NeedProgram(t testing.TB, path string, packages ...string) {
	t.Helper()
	if testing.Short() {
		t.Skip("runs real programs: skipped under -short")
	}
	if _, err := exec.LookPath(path); err == nil {
		return
	}
	if !requireStack() {
		t.Skipf("%s is not installed (apt-get install %s; make test installs it)", path, strings.Join(packages, " "))
	}
	out, err := exec.Command(filepath.Join(RepoRoot(t), "test/stack/tools/ensure.sh"), packages...).CombinedOutput()
	require.NoError(t, err, "test/stack/tools/ensure.sh %s: %s", strings.Join(packages, " "), out)
	_, err = exec.LookPath(path)
	require.NoError(t, err, "%s still missing after installing %v", path, packages)
}

// BuildBinaries builds every binary of the suite as make build does (static,
// stripped: what the packages ship and lintian inspects) into a folder the
// nagios user (NRPE) can read, and returns it.
func BuildBinaries(t testing.TB) string {
	t.Helper()
	root := RepoRoot(t)
	dir := PublicTempDir(t)
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	for _, p := range Binaries {
		cmd := exec.Command(goBin, "build", "-trimpath", "-ldflags=-s -w", "-o", filepath.Join(dir, filepath.Base(p)), "./"+p)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "go build ./%s: %s", p, out)
	}
	return dir
}

// PublicTempDir is a t.TempDir that other users can read: NRPE runs the
// binaries as nagios, and icinga2 drops to it before reading its config.
func PublicTempDir(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	for d := dir; d != os.TempDir() && d != "/"; d = filepath.Dir(d) {
		require.NoError(t, os.Chmod(d, 0o755))
	}
	return dir
}

// Command is one command[NAME]=LINE of an NRPE file.
type Command struct {
	Name      string
	Line      string
	Commented bool // a #command[...] example
}

var commandLine = regexp.MustCompile(`^(#?)command\[([^\]]+)\]=(.+)$`)

// ParseNRPE returns the command definitions of an NRPE file, the commented
// examples included.
func ParseNRPE(data []byte) []Command {
	var out []Command
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		m := commandLine.FindStringSubmatch(strings.TrimSpace(sc.Text()))
		if m != nil {
			out = append(out, Command{Name: m[2], Line: m[3], Commented: m[1] == "#"})
		}
	}
	return out
}

// Site maps the shipped file's site values to an installation's, word by
// word; Local is the CouchDB node on "this host", which in the stack depends
// on the command (the replication lives on a replica).
type Site struct {
	Words map[string]string
	Local map[string]string // command name -> URL of http://127.0.0.1:5984
}

// StackSite is the local stack in the shipped file's terms (documented at
// the top of nrpe/nrpe.d/registry-checks.cfg).
func StackSite(env map[string]string) Site {
	return Site{
		Words: map[string]string{
			"/etc/registry-checks/couch.cred":          env["COUCH_CREDENTIALS_FILE"],
			"/opt/couchdb/data":                        env["STACK_DIR"],
			"http://couchdb-primary.example.com:5984":  env["COUCH_PRIMARY_URL"],
			"http://couchdb-replica2.example.com:5984": env["COUCH_REPLICA2_URL"],
			"http://127.0.0.1:8081":                    env["ORIGIN1_URL"],
			"https://registry.example.com/-/ping":      env["CDN_URL"] + "/_ping",
			"https://registry.example.com/left-pad":    env["CDN_URL"] + "/left-pad-lite",
			"/var/log/varnish/varnishncsa.log":         env["CDN_ACCESS_LOG"],
			"/var/lib/telegraf/check_cdn_log.state":    filepath.Join(env["STACK_DIR"], "telegraf-check_cdn_log.state"),
		},
		Local: map[string]string{
			"check_couch_replication":   env["COUCH_REPLICA1_URL"],
			"restart_couch_replication": env["COUCH_REPLICA1_URL"],
			"check_couch_disk":          env["COUCH_PRIMARY_URL"],
			"check_couch_promotion":     env["COUCH_REPLICA1_URL"],
			"promote_couch_replica":     env["COUCH_REPLICA1_URL"],
			"check_couch_views":         env["COUCH_PRIMARY_URL"],
		},
	}
}

// Render rewrites the active commands for site, with the binaries taken
// from pluginDir, and returns an NRPE file of them.
func Render(t testing.TB, cmds []Command, site Site, pluginDir string) string {
	t.Helper()
	var b strings.Builder
	for _, c := range cmds {
		if c.Commented {
			continue
		}
		words := strings.Fields(c.Line)
		for i, w := range words {
			switch {
			case w == "http://127.0.0.1:5984":
				u, ok := site.Local[c.Name]
				require.True(t, ok, "command %s uses the local CouchDB node, which the site does not map", c.Name)
				words[i] = u
			case site.Words[w] != "":
				words[i] = site.Words[w]
			case strings.HasPrefix(w, PluginDir+"/"):
				words[i] = filepath.Join(pluginDir, strings.TrimPrefix(w, PluginDir+"/"))
			}
		}
		fmt.Fprintf(&b, "command[%s]=%s\n", c.Name, strings.Join(words, " "))
	}
	return b.String()
}

// InstallNRPE puts content into the stack NRPE's include folder as
// zz-<name>.cfg, makes NRPE read it (SIGHUP), and waits until it serves
// every command in it. Cleanup removes it and reloads NRPE again.
func InstallNRPE(t testing.TB, env map[string]string, name, content string) {
	t.Helper()
	dir := filepath.Join(env["STACK_DIR"], "nrpe")
	path := filepath.Join(dir, "nrpe.d", "zz-"+name+".cfg")
	require.NoError(t, os.WriteFile(path, []byte(content), 0o644))
	t.Cleanup(func() {
		os.Remove(path)
		reloadNRPE(t, dir)
	})
	reloadNRPE(t, dir)
	for _, c := range ParseNRPE([]byte(content)) {
		var out string
		require.Eventually(t, func() bool {
			_, out = CheckNRPE(env, c.Name, 10)
			return !strings.Contains(out, "not defined") && !strings.Contains(out, "Connection refused") && !strings.Contains(out, "Could not connect")
		}, 30*time.Second, 100*time.Millisecond, "NRPE never served %s from %s: %s", c.Name, path, out)
	}
}

func reloadNRPE(t testing.TB, dir string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "nrpe.pid"))
	require.NoError(t, err, "the stack's NRPE pid file")
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	require.NoError(t, err, "the stack's NRPE pid file")
	require.NoError(t, syscall.Kill(pid, syscall.SIGHUP), "SIGHUP to NRPE (pid %d)", pid)
}

// CheckNRPE runs check_nrpe -c command against the stack's NRPE and
// returns its exit code and output.
func CheckNRPE(env map[string]string, command string, timeout int) (int, string) {
	cmd := exec.Command(env["CHECK_NRPE"], "-H", env["NRPE_HOST"], "-p", env["NRPE_PORT"], "-t", strconv.Itoa(timeout), "-c", command)
	out, err := cmd.Output()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			return -1, err.Error()
		}
		code = ee.ExitCode()
	}
	return code, string(out)
}

// ExpectState runs command through the stack's NRPE until it reports want,
// within bound: other tests stop and start stack nodes briefly.
func ExpectState(t testing.TB, env map[string]string, command string, want int, bound time.Duration) string {
	t.Helper()
	var code int
	var out string
	deadline := time.Now().Add(bound)
	for {
		code, out = CheckNRPE(env, command, 60)
		if code == want || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Second)
	}
	require.Equal(t, want, code, "check_nrpe -c %s: %s", command, out)
	return out
}

var telegrafCommand = regexp.MustCompile(`(?m)^\s*"(/[^"]+)",?\s*$`)

// TelegrafCommands returns the command lines of the [[inputs.exec]]
// commands arrays of a Telegraf sample (one quoted command per line).
func TelegrafCommands(conf string) []string {
	var out []string
	for _, m := range telegrafCommand.FindAllStringSubmatch(conf, -1) {
		out = append(out, m[1])
	}
	return out
}

// RenderLine rewrites one command line for site, as Render does for an NRPE
// command named name.
func RenderLine(t testing.TB, name, line string, site Site, pluginDir string) string {
	t.Helper()
	r := Render(t, []Command{{Name: name, Line: line}}, site, pluginDir)
	_, rest, _ := strings.Cut(strings.TrimSpace(r), "=")
	return rest
}

// DebStatus is dpkg's status of pkg ("install ok installed"), empty when
// dpkg knows nothing of it.
func DebStatus(pkg string) string {
	out, _ := exec.Command("dpkg-query", "-W", "-f=${Status}", pkg).Output()
	return string(out)
}
