package stackenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// NagiosBlocks parses the "kind {" ... "}" blocks of a Nagios status.dat
// text (servicestatus, programstatus, ...) into key=value maps.
func NagiosBlocks(status, kind string) []map[string]string {
	var out []map[string]string
	var cur map[string]string
	for _, line := range strings.Split(status, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == kind+" {":
			cur = map[string]string{}
		case line == "}" && cur != nil:
			out = append(out, cur)
			cur = nil
		case cur != nil:
			if k, v, ok := strings.Cut(line, "="); ok {
				cur[k] = v
			}
		}
	}
	return out
}

// NagiosService is the servicestatus block of service svc on host (any
// host when host is "") in the status.dat at path; nil when Nagios has not
// written it (yet).
func NagiosService(path, host, svc string) map[string]string {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	for _, blk := range NagiosBlocks(string(b), "servicestatus") {
		if blk["service_description"] == svc && (host == "" || blk["host_name"] == host) {
			return blk
		}
	}
	return nil
}

// NagiosCommand writes one external command (e.g.
// "SCHEDULE_FORCED_SVC_CHECK;host;service;TIME") into Nagios's command
// file, NAGIOS_CMD_FILE of the stack's env.
func NagiosCommand(file, cmd string) error {
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = fmt.Fprintf(f, "[%d] %s\n", time.Now().Unix(), cmd)
	return err
}

// NagiosPID is the pid of the stack's Nagios (from its lock file in dir);
// the test skips when Nagios is not running.
func NagiosPID(t *testing.T, dir string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "var", "nagios.lock"))
	if err != nil {
		t.Skipf("the stack's Nagios is not running (no lock file in %s): %v", dir, err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	require.NoError(t, err, "nagios.lock")
	require.NoError(t, syscall.Kill(pid, 0), "Nagios pid %d from its lock file", pid)
	return pid
}

// ReloadNagios verifies the configuration first (a SIGHUP with a broken
// one stops the shared Nagios), then sends SIGHUP and waits for Nagios to
// have read it again (status.dat's program_start changes).
func ReloadNagios(t *testing.T, bin, dir string, pid int) {
	t.Helper()
	out, err := exec.Command(bin, "-v", filepath.Join(dir, "nagios.cfg")).CombinedOutput()
	require.NoError(t, err, "nagios -v: %s", out)
	status := filepath.Join(dir, "var", "status.dat")
	before := programStart(status)
	require.NoError(t, syscall.Kill(pid, syscall.SIGHUP))
	require.Eventually(t, func() bool { s := programStart(status); return s != "" && s != before },
		30*time.Second, 100*time.Millisecond, "Nagios did not restart after SIGHUP")
}

func programStart(path string) string {
	b, _ := os.ReadFile(path)
	for _, blk := range NagiosBlocks(string(b), "programstatus") {
		return blk["program_start"]
	}
	return ""
}
