package main

import (
	"bytes"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/registry-checks/registry-checks/lib/notify/notifytest"
)

type world struct {
	t     *testing.T
	chat  *notifytest.Receiver
	file  string
	path  string // the webhook's secret path
	queue string
}

func newWorld(t *testing.T) *world {
	dir := t.TempDir()
	w := &world{t: t, chat: notifytest.New(t, notifytest.Chat), file: filepath.Join(dir, "chat-webhook"), path: "/hooks/T000/B000/s3cretP4th", queue: filepath.Join(dir, "queue")}
	require.NoError(t, os.WriteFile(w.file, []byte("# the team channel\n"+w.chat.URL()+w.path+"\n"), 0o640))
	return w
}

func (w *world) run(args ...string) (string, int) {
	var out bytes.Buffer
	code := run(args, &out)
	s := out.String()
	assert.NotContains(w.t, s, "s3cretP4th", "the webhook's path in the output")
	assert.Regexp(w.t, `^NOTIFY_CHAT (OK|WARNING|CRITICAL|UNKNOWN) - `, s)
	return s, code
}

func (w *world) notify(kind, state, output string, extra ...string) (string, int) {
	args := []string{"-t", "10", "--webhook-url-file", w.file, "--queue-dir", w.queue,
		"--notification-type", kind, "--host", "db2", "--service", "couch replication", "--state", state, "--state-type", "HARD", "--attempt", "3",
		"--plugin-output", output, "--last-state-change", "1764126000"}
	return w.run(append(args, extra...)...)
}

func (w *world) texts() []string {
	var out []string
	for _, b := range w.chat.Accepted() {
		out = append(out, notifytest.Text(w.t, b))
	}
	return out
}

func TestEachKindReadsDifferently(t *testing.T) {
	w := newWorld(t)
	out := "COUCH_REPLICATION CRITICAL - 1 of 3 replications crashing"
	cases := []struct{ kind, state, want string }{
		{"PROBLEM", "CRITICAL", ":red_circle: CRITICAL: couch replication on db2 is CRITICAL (HARD attempt 3) since 2025-11-26 03:00 UTC\n`COUCH_REPLICATION CRITICAL - 1 of 3 replications crashing`"},
		{"ACKNOWLEDGEMENT", "CRITICAL", ":eyes: ACKNOWLEDGED: couch replication on db2 (CRITICAL) by ana: restarting it\n`COUCH_REPLICATION CRITICAL - 1 of 3 replications crashing`"},
		{"RECOVERY", "OK", ":large_green_circle: RECOVERED: couch replication on db2 is OK again\n`COUCH_REPLICATION OK - 3 replications running`"},
		{"FLAPPINGSTART", "WARNING", ":warning: FLAPPING: couch replication on db2 keeps changing state (now WARNING); notifications held until it settles"},
		{"FlappingEnd", "OK", ":information_source: Flapping over: couch replication on db2 has settled (OK)"},
		{"DOWNTIMESTART", "OK", ":zzz: DOWNTIME started: couch replication on db2; its notifications are off until it ends (ana: restarting it)"},
		{"DowntimeRemoved", "OK", ":alarm_clock: DOWNTIME cancelled: couch replication on db2 notifies again (OK) (ana: restarting it)"},
	}
	for _, c := range cases {
		o := out
		if c.state != "CRITICAL" {
			o = "COUCH_REPLICATION " + c.state + " - 3 replications running"
		}
		res, code := w.notify(c.kind, c.state, o, "--author", "ana", "--comment", "restarting it")
		require.Equal(t, 0, code, res)
		texts := w.texts()
		require.NotEmpty(t, texts)
		got := texts[len(texts)-1]
		if strings.HasPrefix(c.kind, "FLAPPING") || c.kind == "FlappingEnd" || c.kind == "DowntimeRemoved" {
			got, _, _ = strings.Cut(got, "\n")
		}
		assert.Equal(t, c.want, got, c.kind)
	}
	assert.Len(t, w.chat.Accepted(), len(cases), "one message per notification")
	assert.Empty(t, w.chat.Invalid())
}

// Plugin output is untrusted: it cannot page a channel, make a link, or
// carry a secret of the run out (the webhook URL).
func TestOutputIsInertAndRedacted(t *testing.T) {
	w := newWorld(t)
	evil := "CHECK CRITICAL - <!channel> <@U123|x> @here @everyone see <http://evil.example|click> ` " + w.chat.URL() + w.path
	_, code := w.notify("PROBLEM", "CRITICAL", evil, "--host", "db2 @channel")
	require.Equal(t, 0, code)
	text := w.texts()[0]
	for _, bad := range []string{"<!", "<@", "<http", "@here", "@everyone", "@channel", "s3cretP4th"} {
		assert.NotContains(t, text, bad)
	}
	line := strings.Split(text, "\n")[1]
	assert.True(t, strings.HasPrefix(line, "`") && strings.HasSuffix(line, "`") && strings.Count(line, "`") == 2, "the output is one code span: %s", line)
}

// The chat down (refused, 5xx, hung): messages wait in the queue, in
// order, and go out first when it is back.
func TestDownThenBackInOrder(t *testing.T) {
	w := newWorld(t)
	w.chat.Down()
	res, code := w.notify("PROBLEM", "CRITICAL", "COUCH_REPLICATION CRITICAL - crashing")
	assert.Equal(t, 1, code, res)
	assert.Contains(t, res, "NOTIFY_CHAT WARNING - PROBLEM couch replication on db2 CRITICAL queued (1 waiting): chat webhook (URL in "+w.file+"): POST http://127.0.0.1:")
	assert.Contains(t, res, "/...: connection refused")
	w.chat.Up()
	w.chat.Status(http.StatusInternalServerError, nil, "oops")
	res, code = w.notify("ACKNOWLEDGEMENT", "CRITICAL", "COUCH_REPLICATION CRITICAL - crashing", "--author", "ana")
	assert.Equal(t, 1, code, res)
	assert.Contains(t, res, "queued (2 waiting)")
	w.chat.Respond(nil)
	res, code = w.notify("RECOVERY", "OK", "COUCH_REPLICATION OK - running")
	assert.Equal(t, 0, code, res)
	assert.Contains(t, res, "RECOVERY couch replication on db2 OK sent after 2 queued earlier")
	texts := w.texts()
	require.Len(t, texts, 3)
	assert.Contains(t, texts[0], "CRITICAL: couch replication on db2")
	assert.Contains(t, texts[1], "ACKNOWLEDGED")
	assert.Contains(t, texts[2], "RECOVERED")
}

func TestRevokedWebhookIsCritical(t *testing.T) {
	w := newWorld(t)
	w.chat.Status(http.StatusForbidden, map[string]string{"Content-Type": "text/plain"}, "invalid_token")
	res, code := w.notify("PROBLEM", "CRITICAL", "X CRITICAL - y")
	assert.Equal(t, 2, code, res)
	assert.Contains(t, res, "NOTIFY_CHAT CRITICAL - PROBLEM couch replication on db2 CRITICAL refused: chat webhook (URL in "+w.file+"): POST http://127.0.0.1:")
	assert.Contains(t, res, "403 Forbidden (invalid_token)")
	w.chat.Respond(nil)
	res, code = w.run("--flush", "--webhook-url-file", w.file, "--queue-dir", w.queue)
	assert.Equal(t, 0, code, res)
	assert.Contains(t, res, "queue empty: 0 delivered", "a refused message is not kept")
}

func TestDryRunNeedsNoFile(t *testing.T) {
	var out bytes.Buffer
	code := run([]string{"--dry-run", "--notification-type", "PROBLEM", "--host", "db2", "--state", "DOWN", "--plugin-output", "PING CRITICAL - 100% packet loss"}, &out)
	assert.Equal(t, 0, code, out.String())
	assert.Equal(t, "NOTIFY_CHAT OK - dry run: would post PROBLEM host db2 DOWN\n:red_circle: DOWN: host db2 is DOWN\n`PING CRITICAL - 100% packet loss`\n", out.String())
	out.Reset()
	assert.Equal(t, 3, run([]string{"--dry-run", "--flush"}, &out), out.String())
}
