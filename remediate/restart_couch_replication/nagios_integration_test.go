package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/registry-checks/registry-checks/test/stackenv"
)

// TestNagiosEventHandlerIntegration runs the real thing: the stack's
// Nagios 4 checks a replica's replication with check_couch_replication
// every second or two (max_check_attempts 3) with this handler as the
// service's event handler. The replication is broken (its source stopped
// and revived: pouchdb-server stays stuck, CouchDB's job crashes and waits
// out its backoff; see breakIt) and everything asserted comes
// from Nagios's own nagios.log and status.dat, plus the handler's
// decision log: the handler acted exactly once, at CRITICAL SOFT 2, the
// replication resumed, and the service went back to OK without reaching
// HARD (so no notification).
func TestNagiosEventHandlerIntegration(t *testing.T) {
	t.Parallel() // see "Parallel tests" in integration_test.go
	nagiosEventHandler(t, 1)
}

// TestNagiosEventHandler200Integration is the same with issue 13's
// outage: 200 replications of one source. The source stays down until
// Nagios has logged CRITICAL SOFT 1 (the handler waits), then comes back;
// at CRITICAL SOFT 2 one handler run restarts all 200, and the SOFT 3
// check is OK. The check's first lines (from nagios.log), the handler's
// first line and its wall time are logged: the figures issue 13 asks for.
func TestNagiosEventHandler200Integration(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: 200 replications through Nagios take about 3 minutes")
	}
	nagiosEventHandler(t, 200)
}

func nagiosEventHandler(t *testing.T, n int) {
	env := stackenv.Need(t, "COUCH_REPLICA2_URL", "COUCH_CREDENTIALS_FILE", "NAGIOS_DIR", "NAGIOS_STATUS_FILE", "NAGIOS_LOG_FILE", "NAGIOS_CMD_FILE")
	nagiosBin := "/usr/sbin/nagios4"
	if _, err := os.Stat(nagiosBin); err != nil {
		t.Skipf("no %s: the stack's Nagios is not installed", nagiosBin)
	}
	pid := stackenv.NagiosPID(t, env["NAGIOS_DIR"])
	bin := t.TempDir()
	for _, p := range []string{"checks/check_couch_replication", "remediate/restart_couch_replication"} {
		out, err := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-o", filepath.Join(bin, filepath.Base(p)), "../../"+p).CombinedOutput()
		require.NoError(t, err, "go build %s: %s", p, out)
	}

	setup := time.Now()
	b := newBrokenReplications(t, env, n)
	t.Logf("%d replications set up in %s", n, time.Since(setup).Round(time.Millisecond))
	state := t.TempDir()
	svc := b.name
	sel, retry, checkWait, handlerWait, bound := "--doc-id "+b.docID, 6, "2s", "1s", 1
	if n > 1 {
		// 200 replications on one pouchdb-server (a single Node.js
		// process, which also serves every other suite's tests on this
		// 2-core machine) take seconds to carry a heartbeat to all their
		// targets, and the handler seconds to restart them.
		sel, retry, checkWait, handlerWait, bound = "--target "+b.name+"-*", 40, "10s", "3s", 3
		if b.couchdb {
			// CouchDB serves them in parallel; a retry within the
			// backoff that keeps its crashed jobs waiting (a minute
			// after their second crash) leaves the repair to the handler.
			retry = 15
		}
	}
	common := fmt.Sprintf("-u %s --credentials-file %s %s --heartbeat-db %s --no-seq-lag", b.replica, b.credsF, sel, b.db)
	// The handler runs under time(1), which appends its wall time to a
	// file, and its output (which Nagios does not keep for a handler) is
	// appended to another: the figures issue 13 asks for.
	timer := ""
	if _, err := os.Stat("/usr/bin/time"); err == nil {
		timer = "/usr/bin/time -a -o " + filepath.Join(state, "handler-wall") + " -f %e "
	}
	handlerOut := filepath.Join(state, "handler-out")
	// retry_interval leaves the handler, which Nagios runs asynchronously
	// after the SOFT 2 result, time to restart the replication before the
	// SOFT 3 check on a slow machine; the check itself runs every 2 s.
	cfg := fmt.Sprintf(`# written by %s; removed when it ends
define command {
    command_name %[2]s-check
    command_line %[3]s/check_couch_replication -t 20 %[4]s --heartbeat-wait %[8]s
}
define command {
    command_name %[2]s-handler
    command_line %[6]s%[3]s/restart_couch_replication -t 25 %[4]s --heartbeat-wait %[9]s --state-dir %[5]s --log-file %[5]s/decisions.log --state $SERVICESTATE$ --state-type $SERVICESTATETYPE$ --attempt $SERVICEATTEMPT$ >>%[10]s 2>&1
}
define service {
    use                   stack-service
    host_name             registry-stack
    service_description   %[2]s
    check_command         %[2]s-check
    event_handler         %[2]s-handler
    event_handler_enabled 1
    max_check_attempts    3
    check_interval        2
    retry_interval        %[7]d
}
`, t.Name(), svc, bin, common, state, timer, retry, checkWait, handlerWait, handlerOut)
	cfgFile := filepath.Join(env["NAGIOS_DIR"], "conf.d", "zz-"+svc+".cfg")
	require.NoError(t, os.WriteFile(cfgFile, []byte(cfg), 0o644))
	t.Cleanup(func() {
		os.Remove(cfgFile)
		stackenv.ReloadNagios(t, nagiosBin, env["NAGIOS_DIR"], pid)
	})
	stackenv.ReloadNagios(t, nagiosBin, env["NAGIOS_DIR"], pid)

	var first map[string]string
	if !assert.Eventually(t, func() bool {
		first = serviceStatus(env["NAGIOS_STATUS_FILE"], svc)
		return first["has_been_checked"] == "1" && first["current_state"] == "0"
	}, time.Duration(bound)*90*time.Second, 200*time.Millisecond) {
		t.Fatalf("Nagios never saw %s OK: state %s, output %.300s; its log: %s", svc, first["current_state"], first["plugin_output"], logTail(env["NAGIOS_LOG_FILE"], svc))
	}
	start := time.Now().Add(-time.Second)

	if b.couchdb {
		// A job whose source died reads "running" on CouchDB for about
		// 30 s (until its changes reader times out) and the check says
		// WARNING meanwhile (the source unreachable from the checker):
		// at this test's 2-second interval Nagios would count that to
		// HARD before CouchDB noticed, which at a production interval of
		// minutes it does not. So Nagios does not check while the outage
		// runs its course; the sequence under test starts with what the
		// handler repairs: every job crashing with its source back,
		// waiting out CouchDB's backoff.
		svcRef := "registry-stack;" + svc
		require.NoError(t, stackenv.NagiosCommand(env["NAGIOS_CMD_FILE"], "DISABLE_SVC_CHECK;"+svcRef))
		b.breakIt()
		start = undoCheckInFlight(t, env, svcRef, svc, state, handlerOut, start)
		require.NoError(t, stackenv.NagiosCommand(env["NAGIOS_CMD_FILE"], "ENABLE_SVC_CHECK;"+svcRef))
		require.NoError(t, stackenv.NagiosCommand(env["NAGIOS_CMD_FILE"], fmt.Sprintf("SCHEDULE_FORCED_SVC_CHECK;%s;%d", svcRef, time.Now().Unix())))
	} else if n == 1 {
		b.breakIt()
	} else {
		// An outage as Nagios sees one: the source is down for at least
		// one check.
		b.fault("stop")
		if !assert.Eventually(t, func() bool {
			return len(logLines(env["NAGIOS_LOG_FILE"], svc, start, "SERVICE ALERT")) > 0
		}, 60*time.Second, 200*time.Millisecond) {
			b.fault("start")
			t.Fatalf("Nagios never saw %s fail with its source down; its log: %s", svc, logTail(env["NAGIOS_LOG_FILE"], svc))
		}
		b.fault("start")
		b.write("after-outage")
	}

	// Nagios has to see it CRITICAL, act, and see it OK again.
	var alerts []string
	if !assert.Eventually(t, func() bool {
		alerts = logLines(env["NAGIOS_LOG_FILE"], svc, start, "SERVICE ALERT")
		return len(alerts) > 0 && strings.Contains(alerts[len(alerts)-1], ";OK;")
	}, time.Duration(bound)*120*time.Second, 250*time.Millisecond) {
		t.Fatalf("no recovery of %s in nagios.log: %s\nhandler wall times (s): %s\ndecisions (first 20 lines): %s", svc, strings.Join(alerts, "\n"),
			strings.Join(strings.Fields(readFile(filepath.Join(state, "handler-wall"))), " "), firstN(readFile(filepath.Join(state, "decisions.log")), 20))
	}
	handlers := logLines(env["NAGIOS_LOG_FILE"], svc, start, "SERVICE EVENT HANDLER")
	t.Logf("alerts:\n%s\nevent handlers:\n%s", strings.Join(alerts, "\n"), strings.Join(handlers, "\n"))

	for _, a := range alerts {
		assert.NotContains(t, a, ";HARD;", "the service reached HARD: the handler did not fix it in time")
	}
	// With one replication pouchdb-server always leaves it stuck, and
	// every one of the 200 fails (newBrokenReplications): CRITICAL SOFT 1,
	// the handler acts at SOFT 2, OK at SOFT 3.
	require.Len(t, alerts, 3, "CRITICAL SOFT 1, CRITICAL SOFT 2, OK")
	assert.Contains(t, alerts[0], ";CRITICAL;SOFT;1;")
	assert.Contains(t, alerts[1], ";CRITICAL;SOFT;2;")
	assert.Contains(t, alerts[2], ";OK;SOFT;3;")
	assert.Contains(t, strings.Join(handlers, "\n"), ";CRITICAL;SOFT;2;"+svc+"-handler", "Nagios ran the handler at SOFT 2")
	// The first lines, of the check as Nagios logged them and of every
	// handler run. Nagios runs the handler for the recovery after logging
	// the OK alert, asynchronously: wait for its output.
	firstLines := []string{}
	for _, a := range alerts {
		firstLines = append(firstLines, a[strings.LastIndex(a, ";")+1:])
	}
	var out string
	var handlerLines []string
	assert.Eventually(t, func() bool {
		out, handlerLines = readFile(handlerOut), nil
		for _, l := range strings.Split(out, "\n") {
			if strings.HasPrefix(l, "RESTART_COUCH_REPLICATION ") {
				handlerLines = append(handlerLines, l)
			}
		}
		return len(handlerLines) >= 3
	}, 30*time.Second, 100*time.Millisecond, "3 handler runs; handler output:\n%s", out)
	firstLines = append(firstLines, handlerLines...)
	t.Logf("first lines:\n%s", strings.Join(firstLines, "\n"))
	assert.Len(t, firstLines, 6, "3 check results and 3 handler runs; handler output:\n%s", out)
	for _, l := range firstLines {
		assert.Less(t, len(l), 300, l)
		assert.NotContains(t, l, "{", l)
	}
	assert.NotContains(t, out, b.creds.Password)

	// Nagios runs the handler for the recovery after logging the OK alert,
	// asynchronously: wait for its line before reading the log.
	okLine := regexp.MustCompile(`event="OK SOFT \d+" action=nothing code=event_ok`)
	var decisions string
	assert.Eventually(t, func() bool {
		decisions = readFile(filepath.Join(state, "decisions.log"))
		return okLine.MatchString(decisions)
	}, 30*time.Second, 100*time.Millisecond, "the handler ran on the recovery and did nothing")
	if n == 1 {
		t.Logf("decisions:\n%s", decisions)
	}
	restarted := strings.Count(decisions, "action=restarted")
	t.Logf("%d of %d replications restarted; handler wall times (s), one per run: %s", restarted, n,
		strings.Join(strings.Fields(readFile(filepath.Join(state, "handler-wall"))), " "))
	assert.Equal(t, n, restarted, "every replication restarted, once")
	assert.NotContains(t, decisions, "action=restart_failed", "every restart confirmed")
	for _, l := range strings.Split(decisions, "\n") {
		if strings.Contains(l, "action=restarted") {
			assert.Contains(t, l, `event="CRITICAL SOFT 2"`)
		}
	}
	assert.Contains(t, decisions, `event="CRITICAL SOFT 1" action=wait code=first_failure`)
	assert.NotContains(t, decisions, b.creds.Password)

	assert.True(t, b.arrived("after-outage"), "every replication resumed")
	// status.dat lags nagios.log by up to status_update_interval.
	var s map[string]string
	require.Eventually(t, func() bool {
		s = serviceStatus(env["NAGIOS_STATUS_FILE"], svc)
		return s["current_state"] == "0" && s["last_check"] >= strconv.FormatInt(start.Unix(), 10)
	}, 10*time.Second, 100*time.Millisecond, "status.dat never showed %s OK again", svc)
	// status.dat cannot prove "never HARD": Nagios 4.4 copies a SOFT
	// problem into last_hard_state and stamps last_hard_state_change on a
	// SOFT recovery. nagios.log can: every state change is a SERVICE ALERT
	// line with its type (asserted above), and a HARD problem would have
	// counted a notification (disabled or not).
	assert.Equal(t, "0", s["current_notification_number"], "no notification")
	assert.Empty(t, logLines(env["NAGIOS_LOG_FILE"], svc, start, "SERVICE NOTIFICATION"))
}

// undoCheckInFlight undoes a check that was running when
// DISABLE_SVC_CHECK arrived: Nagios still takes its result. Seen with 200
// replications: such a check logged WARNING SOFT 1 (heartbeat not
// arriving, the source just stopped); after the outage the forced check
// was CRITICAL SOFT 2 and a retry due at the same instant CRITICAL HARD 3,
// before the handler's restarts (at SOFT 2) could take effect. A passive
// OK puts the service back to OK; once the handler's run for that
// recovery has ended (its decision logged, its output and wall time
// appended) its files are emptied and the sequence under test starts in
// the next second. The outage itself lasts a minute and more (breakIt),
// so any such check has long ended. Returns the new start.
func undoCheckInFlight(t *testing.T, env map[string]string, svcRef, svc, state, handlerOut string, start time.Time) time.Time {
	t.Helper()
	if s := serviceStatus(env["NAGIOS_STATUS_FILE"], svc); s["current_state"] == "0" {
		return start
	}
	t.Logf("a check in flight at DISABLE_SVC_CHECK changed the state: %s", strings.Join(logLines(env["NAGIOS_LOG_FILE"], svc, start, "SERVICE ALERT"), "\n"))
	require.NoError(t, stackenv.NagiosCommand(env["NAGIOS_CMD_FILE"], fmt.Sprintf("PROCESS_SERVICE_CHECK_RESULT;%s;0;OK - reset by %s", svcRef, t.Name())))
	wall, decisionsFile := filepath.Join(state, "handler-wall"), filepath.Join(state, "decisions.log")
	okLine := regexp.MustCompile(`event="OK SOFT \d+" action=nothing code=event_ok`)
	var okSec int64
	require.Eventually(t, func() bool {
		if serviceStatus(env["NAGIOS_STATUS_FILE"], svc)["current_state"] != "0" || !okLine.MatchString(readFile(decisionsFile)) {
			return false
		}
		runs := strings.Count(readFile(handlerOut), "RESTART_COUCH_REPLICATION ")
		if _, err := os.Stat("/usr/bin/time"); err == nil && len(strings.Fields(readFile(wall))) < runs {
			return false
		}
		alerts := logLines(env["NAGIOS_LOG_FILE"], svc, start, "SERVICE ALERT")
		if len(alerts) == 0 || !strings.Contains(alerts[len(alerts)-1], ";OK;") {
			return false
		}
		okSec, _ = strconv.ParseInt(logStamp.FindStringSubmatch(alerts[len(alerts)-1])[1], 10, 64)
		return strings.Contains(readFile(handlerOut), "service is OK")
	}, 30*time.Second, 100*time.Millisecond, "the passive OK and its handler run")
	for _, f := range []string{wall, decisionsFile, handlerOut} {
		require.NoError(t, os.WriteFile(f, nil, 0o644))
	}
	for time.Now().Unix() <= okSec {
		time.Sleep(20 * time.Millisecond)
	}
	return time.Unix(okSec+1, 0)
}

func serviceStatus(path, svc string) map[string]string {
	return stackenv.NagiosService(path, "", svc)
}

var logStamp = regexp.MustCompile(`^\[(\d+)\] `)

// logLines are the nagios.log lines of kind about svc since start.
func logLines(path, svc string, start time.Time, kind string) []string {
	var out []string
	for _, l := range strings.Split(readFile(path), "\n") {
		m := logStamp.FindStringSubmatch(l)
		if m == nil || !strings.Contains(l, kind+": registry-stack;"+svc+";") {
			continue
		}
		if ts, _ := strconv.ParseInt(m[1], 10, 64); ts < start.Unix() {
			continue
		}
		out = append(out, l)
	}
	return out
}

func logTail(path, svc string) string {
	var out []string
	for _, l := range strings.Split(readFile(path), "\n") {
		if strings.Contains(l, svc) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func firstN(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	return strings.Join(lines[:min(n, len(lines))], "\n")
}

func readFile(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}
