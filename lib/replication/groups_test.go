package replication

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/registry-checks/registry-checks/lib/nagios"
)

// TestOutageLineOrderedByCount is issue 27's first line of the check
// during an outage of 606 replications on a node at max_jobs 500: 500
// source unreachable, 40 recovering from a crash (WARNING), three broken
// on their own, the rest running or queued. The old line put the 40 last
// because they were only WARNING, and hid them in "1 other cause".
func TestOutageLineOrderedByCount(t *testing.T) {
	var rs []Replication
	add := func(n int, state string, st nagios.Status, c Cause) {
		for range n {
			id := fmt.Sprintf("small-%03d", len(rs))
			rs = append(rs, Replication{Key: "_replicator/" + id, DocID: id, Database: "_replicator", State: state, Status: st, Cause: c, Reason: c.String()})
		}
	}
	add(500, Crashing, nagios.CRITICAL, Cause{What: CauseSourceUnreachable, Server: "http://db1:5984", Detail: "connection refused"})
	add(1, Error, nagios.CRITICAL, Cause{What: CauseFilterMissing})
	add(1, Crashing, nagios.CRITICAL, Cause{What: CauseSourceDBMissing})
	add(1, Crashing, nagios.CRITICAL, Cause{What: CauseSourceAuth})
	add(40, Running, nagios.WARNING, Cause{What: "recovering from a crash", Server: "http://db1:5984", Detail: CauseSourceUnreachable})
	add(63, Pending, nagios.OK, Cause{})
	rep := Report{Replications: rs, Scheduler: true, th: Thresholds{}.withDefaults()}

	line := nagios.Render("COUCH_REPLICATION", rep.Result(), nagios.RenderOptions{})
	first, _, _ := strings.Cut(line, "\n")
	t.Log(first)
	assert.Less(t, len(first), 300, first)
	summary, _, _ := strings.Cut(first, " | ")
	assert.True(t, strings.HasPrefix(summary, "COUCH_REPLICATION CRITICAL - 543 of 606 replications failing: 500 source unreachable"), summary)
	// The second largest cause is said second, with its count.
	assert.Contains(t, summary, "failing: 500 source unreachable, 40 recovering from a crash, ")
	assert.NotContains(t, summary, "other cause", "every cause fits: each is named")
	for _, c := range []string{CauseFilterMissing, CauseSourceDBMissing, CauseSourceAuth} {
		assert.Contains(t, summary, c)
	}
}

// TestGroupsNeverPerReplication: 300 replications each failing for a
// cause with its own server still make a line under 300 bytes, and "and N
// more" counts replications.
func TestGroupsNeverPerReplication(t *testing.T) {
	var rs []Replication
	for i := range 300 {
		id := fmt.Sprintf("r-%03d", i)
		c := Cause{What: CauseSourceUnreachable, Server: fmt.Sprintf("http://db%d.example.org:5984", i)}
		if i%3 == 0 {
			c = Cause{What: CauseSourceAuth, Server: fmt.Sprintf("http://db%d.example.org:5984", i)}
		}
		rs = append(rs, Replication{Key: "_replicator/" + id, DocID: id, Database: "_replicator", State: Crashing, Status: nagios.CRITICAL, Cause: c, Reason: c.String()})
	}
	rep := Report{Replications: rs, Scheduler: true, th: Thresholds{}.withDefaults()}
	first, _, _ := strings.Cut(nagios.Render("COUCH_REPLICATION", rep.Result(), nagios.RenderOptions{}), "\n")
	t.Log(first)
	assert.Less(t, len(first), 300)
	assert.Contains(t, first, "300 of 300 replications failing: 200 source unreachable (200 servers")
	assert.NotContains(t, first, "servers...")
}

// TestQueuedSaidNotAlarmed: 102 of 606 replications pending on a node at
// max_jobs 500 are said and counted, OK; one pending longer than the
// rotation explains is WARNING.
func TestQueuedSaidNotAlarmed(t *testing.T) {
	now := time.Date(2026, 11, 26, 3, 0, 0, 0, time.UTC)
	l := Limits{MaxJobs: 500, MaxChurn: 20, Interval: time.Minute, FromConfig: true, Running: 500, Pending: 102, Total: 602}
	th := Thresholds{}.withDefaults()
	th.PendingAge = l.Rotation(102) // 8m
	var rs []Replication
	for i := range 606 {
		r := Replication{Key: fmt.Sprintf("_replicator/r-%03d", i), DocID: fmt.Sprintf("r-%03d", i), State: Running, Since: now.Add(-time.Hour)}
		if i >= 504 {
			r.State, r.Since = Pending, now.Add(-2*time.Minute)
		}
		rs = append(rs, r)
	}
	rep := Report{Replications: rs, Scheduler: true, Queued: 102, Limits: &l, th: th}
	for i := range rep.Replications {
		judgeState(&rep.Replications[i], th, now)
	}
	out := nagios.Render("COUCH_REPLICATION", rep.Result(), nagios.RenderOptions{})
	first, _, _ := strings.Cut(out, "\n")
	assert.True(t, strings.HasPrefix(first, "COUCH_REPLICATION OK - 606 replications OK, 102 queued behind max_jobs 500 | queued=102;;;0 "), first)
	assert.Contains(t, out, "102 replications queued behind max_jobs 500 (node: 500 running, 102 pending); the scheduler starts up to 20 every 1m00s: WARNING after 8m00s pending")

	rep.Replications[600].Since = now.Add(-9 * time.Minute)
	judgeState(&rep.Replications[600], th, now)
	assert.Equal(t, nagios.WARNING, rep.Replications[600].Status)
	assert.Equal(t, "pending for 9m00s, longer than the scheduler's rotation explains (8m00s)", rep.Replications[600].Reason)
}
