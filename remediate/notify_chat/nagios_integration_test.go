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

	"github.com/registry-checks/registry-checks/lib/notify/notifytest"
	"github.com/registry-checks/registry-checks/test/stackenv"
)

// TestNagiosNotifiesIntegration runs the real thing: the stack's Nagios 4
// checks a service whose state the test sets, and notifies a contact
// through the shipped notification commands (nrpe/nagios/registry-checks.cfg,
// pointed at this test's binaries, queue and receivers). The service goes
// CRITICAL HARD and recovers twice: first with chat and PagerDuty up, then
// with both down when the trigger is sent and back before the recovery.
// Each time the chat receiver gets both messages and the PagerDuty
// receiver a trigger and a resolve with one dedup key, in that order.
func TestNagiosNotifiesIntegration(t *testing.T) {
	env := stackenv.Need(t, "NAGIOS_DIR", "NAGIOS_STATUS_FILE", "NAGIOS_LOG_FILE", "NAGIOS_CMD_FILE")
	nagiosBin := "/usr/sbin/nagios4"
	if _, err := os.Stat(nagiosBin); err != nil {
		t.Skipf("no %s: the stack's Nagios is not installed", nagiosBin)
	}
	pid := stackenv.NagiosPID(t, env["NAGIOS_DIR"])
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	for _, p := range []string{"notify_chat", "notify_pagerduty"} {
		out, err := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-o", filepath.Join(bin, p), "../"+p).CombinedOutput()
		require.NoError(t, err, "go build %s: %s", p, out)
	}
	chat := notifytest.New(t, notifytest.Chat)
	pd := notifytest.New(t, notifytest.PagerDuty)
	hookFile, keyFile := filepath.Join(dir, "chat-webhook"), filepath.Join(dir, "routing-key")
	require.NoError(t, os.WriteFile(hookFile, []byte(chat.URL()+"/hooks/T0/B0/nagiosS3cret\n"), 0o600))
	require.NoError(t, os.WriteFile(keyFile, []byte("N4giosR0utingKeyN4giosR0utingKey\n"), 0o600))
	queue := filepath.Join(dir, "queue")
	stateFile := filepath.Join(dir, "state")
	setState := func(s int) { require.NoError(t, os.WriteFile(stateFile, []byte(strconv.Itoa(s)+"\n"), 0o644)) }
	setState(0)
	check := filepath.Join(dir, "check.sh")
	require.NoError(t, os.WriteFile(check, []byte("#!/bin/sh\nread s < "+stateFile+"\nif [ \"$s\" = 0 ]; then echo 'DUMMY OK - all good'; else echo 'DUMMY CRITICAL - broken <!channel> @here'; fi\nexit $s\n"), 0o755))

	// The shipped service notification commands, as they are, with this
	// test's binaries and the options that point them here.
	shipped, err := os.ReadFile("../../nrpe/nagios/registry-checks.cfg")
	require.NoError(t, err)
	cmd := func(name string) string {
		m := regexp.MustCompile(`(?s)command_name ` + name + `\n\s*command_line (.*?)\n`).FindStringSubmatch(string(shipped))
		require.NotNil(t, m, "shipped command %s", name)
		return m[1]
	}
	svc := "notify-e2e-" + strconv.Itoa(os.Getpid())
	chatLine := strings.NewReplacer("$USER1$/", bin+"/", "$_CONTACTCHAT_WEBHOOK_FILE$", hookFile).Replace(cmd("notify-service-by-chat")) + " --queue-dir " + queue
	pdLine := strings.NewReplacer("$USER1$/", bin+"/", "$_CONTACTPAGERDUTY_ROUTING_KEY_FILE$", keyFile).Replace(cmd("notify-service-by-pagerduty")) + " --queue-dir " + queue + " --events-url " + pd.URL() + "/v2/enqueue"
	cfg := fmt.Sprintf(`# written by %[1]s; removed when it ends
define command {
    command_name %[2]s-check
    command_line %[3]s
}
define command {
    command_name %[2]s-chat
    command_line %[4]s
}
define command {
    command_name %[2]s-pagerduty
    command_line %[5]s
}
define contact {
    contact_name                  %[2]s-contact
    host_notifications_enabled    0
    service_notifications_enabled 1
    host_notification_period      24x7
    service_notification_period   24x7
    host_notification_options     n
    service_notification_options  w,u,c,r
    host_notification_commands    stack-notify-none
    service_notification_commands %[2]s-chat,%[2]s-pagerduty
}
define service {
    use                   stack-service
    host_name             registry-stack
    service_description   %[2]s
    check_command         %[2]s-check
    max_check_attempts    2
    check_interval        2
    retry_interval        1
    contacts              %[2]s-contact
    notifications_enabled 1
    notification_interval 0
}
`, t.Name(), svc, check, chatLine, pdLine)
	cfgFile := filepath.Join(env["NAGIOS_DIR"], "conf.d", "zz-"+svc+".cfg")
	require.NoError(t, os.WriteFile(cfgFile, []byte(cfg), 0o644))
	t.Cleanup(func() {
		os.Remove(cfgFile)
		stackenv.ReloadNagios(t, nagiosBin, env["NAGIOS_DIR"], pid)
		// The reload reads enable_notifications=0 from nagios.cfg again
		// (no retained state); say it too, for a Nagios that keeps state.
		_ = stackenv.NagiosCommand(env["NAGIOS_CMD_FILE"], "DISABLE_NOTIFICATIONS")
	})
	stackenv.ReloadNagios(t, nagiosBin, env["NAGIOS_DIR"], pid)
	// The stack's Nagios notifies nobody (enable_notifications=0): turn
	// notifications on for the length of this test; every other service
	// of the stack has notifications_enabled 0.
	require.NoError(t, stackenv.NagiosCommand(env["NAGIOS_CMD_FILE"], "ENABLE_NOTIFICATIONS"))
	require.Eventually(t, func() bool {
		for _, b := range stackenv.NagiosBlocks(readFile(env["NAGIOS_STATUS_FILE"]), "programstatus") {
			return b["enable_notifications"] == "1"
		}
		return false
	}, 30*time.Second, 100*time.Millisecond, "Nagios did not enable notifications")

	waitState := func(state string) {
		t.Helper()
		var s map[string]string
		require.Eventually(t, func() bool {
			s = stackenv.NagiosService(env["NAGIOS_STATUS_FILE"], "registry-stack", svc)
			return s["current_state"] == state && s["state_type"] == "1"
		}, 90*time.Second, 200*time.Millisecond, "%s never HARD %s: %v; log: %s", svc, state, s, logOf(env["NAGIOS_LOG_FILE"], svc))
	}
	notified := func(state string, n int) {
		t.Helper()
		require.Eventually(t, func() bool {
			return strings.Count(logOf(env["NAGIOS_LOG_FILE"], svc), "SERVICE NOTIFICATION: "+svc+"-contact;registry-stack;"+svc+";"+state+";") >= n
		}, 90*time.Second, 200*time.Millisecond, "Nagios did not notify %s %s (x%d): %s", svc, state, n, logOf(env["NAGIOS_LOG_FILE"], svc))
	}
	waitState("0")

	for round, down := range []bool{false, true} {
		chat0, pd0 := len(chat.Accepted()), len(pd.Accepted())
		if down {
			chat.Down()
			pd.Down()
		}
		setState(2)
		waitState("2")
		notified("CRITICAL", 2*(round+1)) // one line per notification command
		if down {
			// Both commands ran with their receiver down: each kept the
			// trigger in its queue.
			require.Eventually(t, func() bool {
				q, _ := filepath.Glob(filepath.Join(queue, "*", "*.json"))
				return len(q) >= 2
			}, 30*time.Second, 100*time.Millisecond, "the triggers were not queued")
			assert.Empty(t, chat.Accepted()[chat0:])
			chat.Up()
			pd.Up()
		}
		setState(0)
		waitState("0")
		notified("OK", 2*(round+1))
		require.Eventually(t, func() bool {
			return len(chat.Accepted()) >= chat0+2 && len(pd.Accepted()) >= pd0+2
		}, 30*time.Second, 100*time.Millisecond, "round %d: chat got %d, PagerDuty %d", round, len(chat.Accepted())-chat0, len(pd.Accepted())-pd0)

		var texts []string
		for _, b := range chat.Accepted()[chat0:] {
			texts = append(texts, notifytest.Text(t, b))
		}
		t.Logf("round %d (receivers down for the trigger: %v): chat got:\n%s", round, down, strings.Join(texts, "\n"))
		require.Len(t, texts, 2)
		assert.Contains(t, texts[0], "CRITICAL: "+svc+" on registry-stack is CRITICAL (HARD attempt 2)")
		assert.Contains(t, texts[0], "`DUMMY CRITICAL - broken")
		assert.NotContains(t, texts[0], "@here")
		assert.Contains(t, texts[1], "RECOVERED: "+svc+" on registry-stack is OK again")
		var ev []notifytest.PDEvent
		for _, b := range pd.Accepted()[pd0:] {
			ev = append(ev, notifytest.Decode(t, b))
		}
		require.Len(t, ev, 2)
		assert.Equal(t, "trigger", ev[0].EventAction)
		assert.Equal(t, "resolve", ev[1].EventAction)
		assert.Equal(t, "registry-stack/"+svc, ev[0].DedupKey)
		assert.Equal(t, ev[0].DedupKey, ev[1].DedupKey)
		assert.Equal(t, "critical", ev[0].Payload.Severity)
		assert.Empty(t, pd.Invalid())
		assert.Empty(t, chat.Invalid())
	}
	q, _ := filepath.Glob(filepath.Join(queue, "*", "*.json"))
	assert.Empty(t, q, "nothing left in the queues")
}

func logOf(path, svc string) string {
	var out []string
	for _, l := range strings.Split(readFile(path), "\n") {
		if strings.Contains(l, svc) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func readFile(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}
