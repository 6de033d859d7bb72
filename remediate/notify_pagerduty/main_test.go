package main

import (
	"bytes"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/registry-checks/registry-checks/lib/notify/notifytest"
)

const testKey = "R0UT1NGk3yR0UT1NGk3yR0UT1NGk3y12"

type world struct {
	t     *testing.T
	pd    *notifytest.Receiver
	key   string
	queue string
}

func newWorld(t *testing.T) *world {
	dir := t.TempDir()
	key := filepath.Join(dir, "routing-key")
	require.NoError(t, os.WriteFile(key, []byte(testKey+"\n"), 0o600))
	return &world{t: t, pd: notifytest.New(t, notifytest.PagerDuty), key: key, queue: filepath.Join(dir, "queue")}
}

// notify runs notify_pagerduty as Nagios would, with extra options.
func (w *world) notify(kind, state string, extra ...string) (string, int) {
	args := []string{"-t", "10", "--routing-key-file", w.key, "--events-url", w.pd.URL() + "/v2/enqueue", "--queue-dir", w.queue,
		"--notification-type", kind, "--host", "db2", "--service", "couch replication", "--state", state, "--state-type", "HARD", "--attempt", "3",
		"--plugin-output", "COUCH_REPLICATION " + state + " - 1 of 3 replications crashing", "--timestamp", "1764126000"}
	return w.run(append(args, extra...)...)
}

func (w *world) run(args ...string) (string, int) {
	var out bytes.Buffer
	code := run(args, &out)
	s := out.String()
	assert.NotContains(w.t, s, testKey, "the routing key in the output")
	assert.Regexp(w.t, `^NOTIFY_PAGERDUTY (OK|WARNING|CRITICAL|UNKNOWN) - `, s)
	return s, code
}

func (w *world) flush(args ...string) (string, int) {
	return w.run(append([]string{"-t", "10", "--flush", "--routing-key-file", w.key, "--events-url", w.pd.URL() + "/v2/enqueue", "--queue-dir", w.queue}, args...)...)
}

func (w *world) events() []notifytest.PDEvent {
	var out []notifytest.PDEvent
	for _, b := range w.pd.Accepted() {
		out = append(out, notifytest.Decode(w.t, b))
	}
	return out
}

// queued is every file of the queue, read: no routing key, mode 600.
func (w *world) queued() []string {
	var out []string
	_ = filepath.Walk(w.queue, func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			b, _ := os.ReadFile(p)
			assert.NotContains(w.t, string(b), testKey, "routing key in queue file %s", p)
			assert.Equal(w.t, os.FileMode(0o600), fi.Mode().Perm(), p)
			if strings.HasSuffix(p, ".json") {
				out = append(out, string(b))
			}
		}
		return nil
	})
	return out
}

func TestTriggerAcknowledgeResolve(t *testing.T) {
	w := newWorld(t)
	out, code := w.notify("PROBLEM", "CRITICAL", "--long-plugin-output", `replication registry-from-primary: crashing\nsource http://db1:5984/registry unreachable`)
	assert.Equal(t, 0, code, out)
	assert.True(t, strings.HasPrefix(out, "NOTIFY_PAGERDUTY OK - trigger db2/couch replication sent"), out)
	out, code = w.notify("ACKNOWLEDGEMENT", "CRITICAL", "--author", "ana", "--comment", "on it")
	assert.Equal(t, 0, code, out)
	out, code = w.notify("RECOVERY", "OK")
	assert.Equal(t, 0, code, out)
	assert.Empty(t, w.pd.Invalid())

	ev := w.events()
	require.Len(t, ev, 3)
	assert.Equal(t, []string{"trigger", "acknowledge", "resolve"}, []string{ev[0].EventAction, ev[1].EventAction, ev[2].EventAction})
	for _, e := range ev {
		assert.Equal(t, "db2/couch replication", e.DedupKey, "one incident per host and service")
		assert.Equal(t, testKey, e.RoutingKey)
	}
	p := ev[0].Payload
	require.NotNil(t, p)
	assert.Equal(t, "critical", p.Severity)
	assert.Equal(t, "db2", p.Source)
	assert.Equal(t, "couch replication", p.Component)
	assert.Equal(t, "CRITICAL: couch replication on db2: COUCH_REPLICATION CRITICAL - 1 of 3 replications crashing", p.Summary)
	assert.Equal(t, "2025-11-26T03:00:00Z", p.Timestamp)
	assert.Equal(t, "replication registry-from-primary: crashing\nsource http://db1:5984/registry unreachable", p.CustomDetails["long_output"])
	assert.Empty(t, w.queued(), "nothing left in the queue")
}

func TestSeverityAndNothingForFlapping(t *testing.T) {
	w := newWorld(t)
	for state, sev := range map[string]string{"WARNING": "warning", "UNKNOWN": "error", "CRITICAL": "critical"} {
		_, code := w.notify("PROBLEM", state)
		require.Equal(t, 0, code)
		ev := w.events()
		assert.Equal(t, sev, ev[len(ev)-1].Payload.Severity, state)
	}
	n := len(w.pd.Accepted())
	for _, kind := range []string{"FLAPPINGSTART", "FLAPPINGSTOP", "DOWNTIMESTART", "DOWNTIMEEND", "CUSTOM"} {
		out, code := w.notify(kind, "CRITICAL")
		assert.Equal(t, 0, code, out)
		assert.Contains(t, out, "nothing for PagerDuty", kind)
	}
	assert.Equal(t, n, w.pd.Tries(), "no post for flapping, downtime or custom notifications")
	// A host notification: dedup key of the host alone, severity from DOWN.
	out, code := w.run("--routing-key-file", w.key, "--events-url", w.pd.URL(), "--queue-dir", w.queue, "--notification-type", "PROBLEM", "--host", "db9", "--state", "DOWN", "--plugin-output", "PING CRITICAL - 100% packet loss")
	require.Equal(t, 0, code, out)
	ev := w.events()
	assert.Equal(t, "db9/", ev[len(ev)-1].DedupKey)
	assert.Equal(t, "critical", ev[len(ev)-1].Payload.Severity)
}

func TestBoundsAndRedaction(t *testing.T) {
	w := newWorld(t)
	long := strings.Repeat("replication x crashing, key "+testKey+"\\n", 5000)
	out, code := w.notify("PROBLEM", "CRITICAL", "--plugin-output", "CHECK CRITICAL - "+strings.Repeat("é", 2000)+" "+testKey, "--long-plugin-output", long)
	require.Equal(t, 0, code, out)
	require.Empty(t, w.pd.Invalid())
	ev := w.events()[0]
	assert.LessOrEqual(t, len(ev.Payload.Summary), 1024)
	assert.True(t, strings.HasSuffix(ev.Payload.Summary, "..."), "a cut is marked")
	lo := ev.Payload.CustomDetails["long_output"].(string)
	assert.LessOrEqual(t, len(lo), 16<<10)
	for _, b := range w.pd.Accepted() {
		// The key is in routing_key only, never in the texts.
		assert.Equal(t, 1, strings.Count(string(b), testKey))
	}
}

// PagerDuty down for the trigger: it waits in the queue (WARNING), and
// when PagerDuty is back the resolve run sends the trigger first, then
// the resolve, with one dedup key.
func TestDownForTheTriggerThenBack(t *testing.T) {
	w := newWorld(t)
	w.pd.Down()
	out, code := w.notify("PROBLEM", "CRITICAL")
	assert.Equal(t, 1, code, out)
	assert.Contains(t, out, "NOTIFY_PAGERDUTY WARNING - trigger db2/couch replication queued (1 waiting): PagerDuty: POST http://127.0.0.1:")
	assert.Contains(t, out, "connection refused")
	q := w.queued()
	require.Len(t, q, 1)
	assert.Contains(t, q[0], `"dedup_key":"db2/couch replication"`)
	w.pd.Up()
	out, code = w.notify("RECOVERY", "OK")
	assert.Equal(t, 0, code, out)
	assert.Contains(t, out, "resolve db2/couch replication sent after 1 queued earlier")
	ev := w.events()
	require.Len(t, ev, 2)
	assert.Equal(t, "trigger", ev[0].EventAction, "a resolve never overtakes its trigger")
	assert.Equal(t, "resolve", ev[1].EventAction)
	assert.Equal(t, ev[0].DedupKey, ev[1].DedupKey)
	assert.Empty(t, w.queued())
}

// Down for the trigger and the resolve: both wait, in order, and a flush
// (cron) sends them when PagerDuty is back.
func TestFlushAfterAQuietOutage(t *testing.T) {
	w := newWorld(t)
	w.pd.Status(http.StatusServiceUnavailable, nil, "upstream down")
	_, code := w.notify("PROBLEM", "CRITICAL")
	assert.Equal(t, 1, code)
	out, code := w.notify("RECOVERY", "OK")
	assert.Equal(t, 1, code, out)
	assert.Contains(t, out, "queued (2 waiting)")
	assert.Contains(t, out, "503 Service Unavailable")
	out, code = w.flush()
	assert.Equal(t, 1, code, out)
	assert.Contains(t, out, "NOTIFY_PAGERDUTY WARNING - 2 waiting in the queue (0 delivered)")
	w.pd.Respond(nil)
	out, code = w.flush()
	assert.Equal(t, 0, code, out)
	assert.True(t, strings.HasPrefix(out, "NOTIFY_PAGERDUTY OK - queue empty: 2 delivered |"), out)
	ev := w.events()
	require.Len(t, ev, 2)
	assert.Equal(t, "trigger", ev[0].EventAction)
	assert.Equal(t, "resolve", ev[1].EventAction)
}

// A hung PagerDuty costs no more than -t, and the event is kept.
func TestHangBoundedByTimeout(t *testing.T) {
	w := newWorld(t)
	w.pd.Hang()
	start := time.Now()
	out, code := w.notify("PROBLEM", "CRITICAL", "-t", "2")
	took := time.Since(start)
	assert.Equal(t, 1, code, out)
	assert.Contains(t, out, "queued (1 waiting): PagerDuty: timeout after")
	assert.Less(t, took, 2*time.Second+time.Second/2, "-t 2 bounds the run")
	w.pd.Respond(nil)
	out, code = w.flush()
	assert.Equal(t, 0, code, out)
	assert.Len(t, w.events(), 1)
}

// 429: a short Retry-After is waited for within -t; a long one leaves
// the event queued, and no run posts before it has passed.
func TestTooManyRequests(t *testing.T) {
	w := newWorld(t)
	n := 0
	w.pd.Respond(func(rw http.ResponseWriter, r *http.Request) bool {
		n++
		if n == 1 {
			rw.Header().Set("Retry-After", "1")
			rw.WriteHeader(http.StatusTooManyRequests)
			return true
		}
		return false
	})
	out, code := w.notify("PROBLEM", "CRITICAL")
	assert.Equal(t, 0, code, out)
	assert.Equal(t, 2, w.pd.Tries())
	require.Len(t, w.events(), 1)

	w2 := newWorld(t)
	w2.pd.Status(http.StatusTooManyRequests, map[string]string{"Retry-After": "3600"}, `{"status":"throttle event","message":"Requests for this service are arriving too quickly."}`)
	out, code = w2.notify("PROBLEM", "CRITICAL")
	assert.Equal(t, 1, code, out)
	assert.Contains(t, out, "429 Too Many Requests")
	w2.pd.Respond(nil)
	tries := w2.pd.Tries()
	out, code = w2.notify("RECOVERY", "OK")
	assert.Equal(t, 1, code, out)
	assert.Contains(t, out, "resolve db2/couch replication queued (2 waiting): the receiver asked to wait until")
	assert.Equal(t, tries, w2.pd.Tries(), "nothing posted before Retry-After has passed")
}

// A 4xx other than 429 is a clear CRITICAL and is not kept: it would be
// refused again forever and hold every later event back.
func TestRefusedForGood(t *testing.T) {
	w := newWorld(t)
	w.pd.Status(http.StatusBadRequest, map[string]string{"Content-Type": "application/json"}, `{"status":"invalid event","message":"Event object is invalid","errors":["Length of 'routing_key' is incorrect (should be 32 characters)"]}`)
	out, code := w.notify("PROBLEM", "CRITICAL")
	assert.Equal(t, 2, code, out)
	assert.Contains(t, out, "NOTIFY_PAGERDUTY CRITICAL - trigger db2/couch replication refused: PagerDuty: POST http://127.0.0.1:")
	assert.Contains(t, out, "400 Bad Request (Event object is invalid: Length of 'routing_key' is incorrect")
	assert.Empty(t, w.queued())
	w.pd.Respond(nil)
	out, code = w.notify("RECOVERY", "OK")
	assert.Equal(t, 0, code, out)
	assert.Len(t, w.events(), 1)
}

func TestContract(t *testing.T) {
	w := newWorld(t)
	for name, args := range map[string][]string{
		"help":        {"--help"},
		"version":     {"--version"},
		"no type":     {"--routing-key-file", w.key, "--host", "db2", "--state", "CRITICAL"},
		"bad state":   {"--routing-key-file", w.key, "--notification-type", "PROBLEM", "--host", "db2", "--service", "s", "--state", "DOWN"},
		"flush+event": {"--flush", "--routing-key-file", w.key, "--notification-type", "PROBLEM"},
		"no key file": {"--notification-type", "PROBLEM", "--host", "db2", "--state", "DOWN"},
		"empty url":   {"--events-url", "", "--notification-type", "PROBLEM", "--host", "db2", "--state", "DOWN"},
	} {
		var out bytes.Buffer
		assert.Equal(t, 3, run(args, &out), name)
	}
	open := filepath.Join(t.TempDir(), "key")
	require.NoError(t, os.WriteFile(open, []byte(testKey), 0o644))
	var out bytes.Buffer
	assert.Equal(t, 3, run([]string{"--routing-key-file", open, "--notification-type", "PROBLEM", "--host", "db2", "--state", "DOWN"}, &out))
	assert.Contains(t, out.String(), "refusing to use it")
	assert.NotContains(t, out.String(), testKey)
}
