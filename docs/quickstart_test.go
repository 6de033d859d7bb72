package docs_test

import (
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/registry-checks/registry-checks/nrpe/nrpetest"
	"github.com/registry-checks/registry-checks/test/stackenv"
)

// systemctlShim stands in for systemctl on a machine without an init system
// (CI, containers): "restart" of the two stock services starts the daemon as
// its Debian unit does, with the stock configuration, and records its pid
// so that the test stops exactly what it started.
const systemctlShim = `#!/bin/sh
set -e
pids="$SHIM_DIR/pids"
stop() { # pidfile
	if [ -f "$1" ] && grep -qx "$(cat "$1")" "$pids" 2>/dev/null; then
		kill "$(cat "$1")" 2>/dev/null || true
		i=0; while kill -0 "$(cat "$1")" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
	fi
}
case "$1 $2" in
"restart nagios-nrpe-server")
	stop /run/nagios/nrpe.pid
	install -d -o nagios -g nagios /run/nagios
	/usr/sbin/nrpe -c /etc/nagios/nrpe.cfg -d
	i=0; while [ ! -s /run/nagios/nrpe.pid ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
	cat /run/nagios/nrpe.pid >>"$pids"
	;;
"restart nagios4")
	stop /run/nagios4/nagios4.pid
	install -d -o nagios -g nagios /run/nagios4
	rm -f /var/lib/nagios4/rw/nagios.cmd
	/usr/sbin/nagios4 -d /etc/nagios4/nagios.cfg
	# systemd waits for the daemon; the command pipe is what the next step uses.
	i=0; while [ ! -p /var/lib/nagios4/rw/nagios.cmd ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done
	cat /run/nagios4/nagios4.pid >>"$pids"
	;;
*)
	echo "systemctl (test stand-in): $* not supported" >&2
	exit 1
	;;
esac
`

// TestQuickstartIntegration follows docs/quickstart.md on this machine:
// make package, apt-get install of the .deb with the stock nagios4-core and
// nagios-nrpe-server, every shell block of the page in order (with the
// stack's replica as the CouchDB node and its admin as the user), then
// waits for the page's Nagios service to be checked and OK. It installs
// packages and starts the stock daemons (NRPE on 5666, Nagios with
// /etc/nagios4): only under REGISTRY_CHECKS_REQUIRE_STACK=1 (make test), as
// root, in the stack's network namespace or on a CI machine. It stops what
// it started, purges the package and removes the files it added; the stack's
// own Nagios and NRPE (their own directories and ports) are not touched.
func TestQuickstartIntegration(t *testing.T) {
	if testing.Short() || os.Getenv("REGISTRY_CHECKS_REQUIRE_STACK") != "1" {
		t.Skip("installs packages and starts the stock Nagios and NRPE: only under REGISTRY_CHECKS_REQUIRE_STACK=1 (make test)")
	}
	if os.Geteuid() != 0 {
		t.Skip("apt-get install needs root")
	}
	env := stackenv.Need(t, "COUCH_REPLICA1_URL", "COUCH_ADMIN_USER", "COUCH_ADMIN_PASSWORD")
	nrpetest.NeedProgram(t, "/usr/sbin/nagios4", "nagios4-core")
	nrpetest.NeedProgram(t, "/usr/sbin/nrpe", "nagios-nrpe-server")
	if s := nrpetest.DebStatus("registry-checks"); s != "" && !strings.Contains(s, "not-installed") {
		t.Fatalf("registry-checks is already installed (%s): this test installs and purges it; remove it first (dpkg -P registry-checks)", s)
	}
	for _, p := range []string{"/run/nagios/nrpe.pid", "/run/nagios4/nagios4.pid"} {
		if pid := readPid(p); pid > 0 && syscall.Kill(pid, 0) == nil {
			t.Skipf("the stock daemon of %s runs (pid %d): this test would replace it", p, pid)
		}
	}

	root, err := filepath.Abs("..")
	require.NoError(t, err)
	page, err := os.ReadFile("quickstart.md")
	require.NoError(t, err)
	var script strings.Builder
	script.WriteString("set -euo pipefail\n")
	site := map[string]string{
		"COUCH":          env["COUCH_REPLICA1_URL"],
		"COUCH_USER":     env["COUCH_ADMIN_USER"],
		"COUCH_PASSWORD": env["COUCH_ADMIN_PASSWORD"],
	}
	assign := regexp.MustCompile(`^([A-Z_]+)=\S*$`)
	set := map[string]bool{}
	for _, b := range blocks(t, "quickstart.md") {
		if b.lang != "sh" {
			continue
		}
		for _, l := range strings.Split(strings.TrimRight(b.text, "\n"), "\n") {
			// The page's site values become the stack's.
			if m := assign.FindStringSubmatch(l); m != nil {
				if v, ok := site[m[1]]; ok {
					l = m[1] + "=" + shellQuote(v)
					set[m[1]] = true
				}
			}
			script.WriteString(l + "\n")
		}
	}
	require.Len(t, set, len(site), "quickstart.md must set COUCH, COUCH_USER and COUCH_PASSWORD in a shell block:\n%s", page)

	pkgSh := filepath.Join(root, "test/stack/tools/pkg.sh")
	shim := nrpetest.PublicTempDir(t)
	require.NoError(t, os.WriteFile(filepath.Join(shim, "systemctl"), []byte(systemctlShim), 0o755))

	before := snapshot("/etc/nagios4/conf.d", "/var/lib/nagios4", "/var/log/nagios4", "/run/nagios", "/run/nagios4")
	t.Cleanup(func() {
		// Stop exactly the daemons the shim started.
		b, _ := os.ReadFile(filepath.Join(shim, "pids"))
		for _, f := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(f); err == nil && pid > 1 {
				_ = syscall.Kill(pid, syscall.SIGTERM)
				for i := 0; i < 100 && syscall.Kill(pid, 0) == nil; i++ {
					time.Sleep(100 * time.Millisecond)
				}
			}
		}
		// Another dpkg run (a parallel test, unattended-upgrades) may hold
		// the lock for a while: pkg.sh waits for it, bounded.
		if nrpetest.DebStatus("registry-checks") != "" {
			if out, err := exec.Command(pkgSh, "dpkg", "-P", "registry-checks").CombinedOutput(); err != nil {
				t.Errorf("dpkg -P registry-checks: %v: %s", err, out)
			}
		}
		// Files the page and the daemons added; what was there stays.
		for _, p := range added(before, "/etc/nagios4/conf.d", "/var/lib/nagios4", "/var/log/nagios4", "/run/nagios", "/run/nagios4") {
			_ = os.Remove(p)
		}
	})

	// The page's apt-get waits for another apt or dpkg run (a parallel
	// test, unattended-upgrades) instead of failing: it runs through
	// pkg.sh, as every install of the project.
	aptGet, err := exec.LookPath("apt-get")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(shim, "apt-get"), []byte("#!/bin/sh\nexec "+shellQuote(pkgSh)+" "+shellQuote(aptGet)+` "$@"`+"\n"), 0o755))
	cmd := exec.Command("bash", "-c", script.String())
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "PATH="+shim+":"+os.Getenv("PATH"), "SHIM_DIR="+shim, "DEBIAN_FRONTEND=noninteractive")
	out, err := cmd.CombinedOutput()
	shown := strings.ReplaceAll(string(out), env["COUCH_ADMIN_PASSWORD"], "xxxxx")
	t.Logf("docs/quickstart.md, every shell block:\n%s", shown)
	require.NoError(t, err, "a step of docs/quickstart.md failed")
	assert.NotContains(t, string(out), env["COUCH_ADMIN_PASSWORD"], "the password was printed")

	// The page's service, checked by the stock Nagios through the stock NRPE.
	var svc map[string]string
	deadline := time.Now().Add(3 * time.Minute)
	for time.Now().Before(deadline) {
		svc = stackenv.NagiosService("/var/lib/nagios4/status.dat", "localhost", "couch replication")
		if svc["has_been_checked"] == "1" && svc["current_state"] == "0" {
			break
		}
		// Ask again: the first forced check may have run before NRPE or the replication were ready.
		now := time.Now().Unix()
		_ = os.WriteFile("/var/lib/nagios4/rw/nagios.cmd", []byte(fmt.Sprintf("[%d] SCHEDULE_FORCED_SVC_CHECK;localhost;couch replication;%d\n", now, now)), 0o644)
		time.Sleep(3 * time.Second)
	}
	t.Logf("Nagios: couch replication on localhost: state %s, %q", svc["current_state"], svc["plugin_output"])
	require.Equal(t, "1", svc["has_been_checked"], "Nagios never checked the service: %v", svc)
	assert.Equal(t, "0", svc["current_state"], "the service is not OK: %v", svc)
	assert.True(t, strings.HasPrefix(svc["plugin_output"], "COUCH_REPLICATION OK - "), "plugin output: %q", svc["plugin_output"])
}

func readPid(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// snapshot is every path under dirs.
func snapshot(dirs ...string) map[string]bool {
	out := map[string]bool{}
	for _, d := range dirs {
		_ = filepath.WalkDir(d, func(p string, _ fs.DirEntry, err error) error {
			if err == nil {
				out[p] = true
			}
			return nil
		})
	}
	return out
}

// added is every path under dirs not in before, deepest first (so that
// os.Remove empties a new folder before removing it).
func added(before map[string]bool, dirs ...string) []string {
	var out []string
	for p := range snapshot(dirs...) {
		if !before[p] {
			out = append(out, p)
		}
	}
	// Longer paths first: children before their folders.
	for i := 0; i < len(out); i++ {
		for j := i + 1; j < len(out); j++ {
			if len(out[j]) > len(out[i]) {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}
