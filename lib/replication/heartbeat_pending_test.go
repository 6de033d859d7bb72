package replication

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/registry-checks/registry-checks/lib/nagios"
)

// idleHeartbeatNode is one server that is the node checked, the source
// (database heartbeat) and the target (heartbeat-copy) of one continuous
// replication that is caught up: through_seq is the source's update_seq.
// A write on the source arrives on the target at once; the newest
// checkpoint is checkpointAge old, as on an idle node checked less often
// than CouchDB checkpoints. others is the number of changes on the source
// that are not the checker's and not replicated yet.
type idleHeartbeatNode struct {
	mu     sync.Mutex
	seq    int // the source's update_seq
	others int
	// security is how many times the source's _security was edited: each
	// edit adds to update_seq and to no changes feed.
	security int
	doc      map[string]any // the heartbeat on the source (and, at once, the target)
	age      time.Duration
}

func (n *idleHeartbeatNode) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n.mu.Lock()
	defer n.mu.Unlock()
	base := "http://" + r.Host
	w.Header().Set("Content-Type", "application/json")
	through := fmt.Sprintf("%d-g1AAAA", n.seq-n.others)
	info := fmt.Sprintf(`{"revisions_checked":%[1]d,"missing_revisions_found":%[1]d,"docs_read":%[1]d,"docs_written":%[1]d,"changes_pending":0,"doc_write_failures":0,"checkpointed_source_seq":%[2]q,"source_seq":%[2]q,"through_seq":%[2]q}`, n.seq-n.others, through)
	start := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	switch {
	case r.URL.Path == "/_scheduler/docs":
		fmt.Fprintf(w, `{"total_rows":1,"offset":0,"docs":[{"database":"_replicator","doc_id":"heartbeat-from-primary","id":"4a1f+continuous","node":"couchdb@127.0.0.1","source":"%[1]s/heartbeat/","target":"%[1]s/heartbeat-copy/","state":"running","info":%[2]s,"error_count":0,"last_updated":%[3]q,"start_time":%[3]q}]}`, base, info, start)
	case r.URL.Path == "/_scheduler/jobs":
		fmt.Fprintf(w, `{"total_rows":1,"offset":0,"jobs":[{"database":"_replicator","id":"4a1f+continuous","pid":"<0.1.0>","source":"%[1]s/heartbeat/","target":"%[1]s/heartbeat-copy/","user":null,"doc_id":"heartbeat-from-primary","info":%[2]s,"history":[{"timestamp":%[3]q,"type":"started"},{"timestamp":%[3]q,"type":"added"}],"node":"couchdb@127.0.0.1","start_time":%[3]q}]}`, base, info, start)
	case r.URL.Path == "/heartbeat":
		fmt.Fprintf(w, `{"db_name":"heartbeat","update_seq":"%d-g1AAAA"}`, n.seq+n.security)
	case r.URL.Path == "/heartbeat/_changes" && r.URL.Query().Get("limit") == "0":
		// CouchDB 2+: pending counts the changes after since, which
		// _security edits are not.
		since := r.URL.Query().Get("since")
		fmt.Fprintf(w, `{"results":[],"last_seq":%q,"pending":%d}`, since, n.seq-seqNum(since))
	case r.URL.Path == "/heartbeat-copy/_local/4a1f":
		fmt.Fprintf(w, `{"_id":"_local/4a1f","history":[{"end_time":%q}]}`, time.Now().Add(-n.age).UTC().Format(http.TimeFormat))
	case strings.HasPrefix(r.URL.Path, "/heartbeat/") && r.Method == http.MethodPut:
		b, _ := io.ReadAll(r.Body)
		var d map[string]any
		if json.Unmarshal(b, &d) != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		n.doc = d
		n.seq++ // the checker's own change
		fmt.Fprint(w, `{"ok":true,"id":"x","rev":"2-b"}`)
	case strings.HasPrefix(r.URL.Path, "/heartbeat/") || strings.HasPrefix(r.URL.Path, "/heartbeat-copy/"):
		if n.doc == nil {
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"error":"not_found","reason":"missing"}`)
			return
		}
		_ = json.NewEncoder(w).Encode(n.doc)
	case r.URL.Path == "/_replicator/_all_docs":
		fmt.Fprint(w, `{"total_rows":0,"offset":0,"rows":[]}`)
	default:
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `{"error":"not_found","reason":"missing"}`)
	}
}

// TestOwnHeartbeatIsNotPendingWork: on an idle node checked every 80 s
// with --warning-checkpoint-age 60, the only change the source has that
// the target lacks is the heartbeat this very run writes. It is not work
// pending: the check is OK, seq lag 0. The same node with one change that
// is not the checker's is WARNING (no checkpoint for 1m15s while changes
// are pending), so the age is still judged.
func TestOwnHeartbeatIsNotPendingWork(t *testing.T) {
	warn, err := nagios.ParseThresholds("60", "")
	require.NoError(t, err)
	th := Thresholds{CheckpointAge: warn}
	for _, tt := range []struct {
		name   string
		others int
		status nagios.Status
		lag    float64
		reason string
	}{
		{"only the checker's own heartbeat", 0, nagios.OK, 0, ""},
		{"one change that is not ours", 1, nagios.WARNING, 1, "no checkpoint for 1m15s while changes are pending"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			node := &idleHeartbeatNode{seq: 40 + tt.others, others: tt.others, age: 75 * time.Second}
			srv := httptest.NewServer(node)
			defer srv.Close()
			c, hc := testClient(t, srv.URL)
			p := Probes{HTTP: hc, SeqLag: true, CheckpointAge: true, HeartbeatDB: "heartbeat", HeartbeatID: "heartbeat-test", HeartbeatWait: 5 * time.Second, Poll: 10 * time.Millisecond}
			rep, err := AssessWith(context.Background(), c, Selection{}, th, p, time.Now())
			require.NoError(t, err)
			require.Len(t, rep.Replications, 1)
			r := rep.Replications[0]
			assert.Equal(t, tt.status, r.Status, r.Reason)
			assert.Equal(t, knownLag(tt.lag), r.SeqLag)
			assert.Equal(t, tt.reason, r.Reason)
			assert.True(t, r.HeartbeatLag.Known && !r.HeartbeatLag.AtLeast, "the heartbeat arrived: %+v", r.HeartbeatLag)
			assert.Equal(t, 41+tt.others, node.seq, "the heartbeat was written once")
		})
	}
}

func seqNum(s string) int {
	var n int
	fmt.Sscanf(s, "%d-", &n)
	return n
}

// TestSecurityEditsAreNoPendingWork: on CouchDB 3.4.3 every PUT of a
// database's _security adds one to its update_seq and nothing to its
// changes feed, so a replication that has written everything stays
// "behind" by the number of edits: seen on the real-CouchDB stack as
// "CRITICAL - running (no checkpoint for 1h13m while changes are
// pending)" on an idle, caught-up replication. The check asks the source
// for the changes after the job's through_seq instead.
func TestSecurityEditsAreNoPendingWork(t *testing.T) {
	warn, err := nagios.ParseThresholds("60", "")
	require.NoError(t, err)
	th := Thresholds{CheckpointAge: warn}
	for _, tt := range []struct {
		name   string
		others int
		status nagios.Status
		lag    float64
	}{
		{"four _security edits, nothing else", 0, nagios.OK, 0},
		{"four _security edits and one change that is not ours", 1, nagios.WARNING, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			node := &idleHeartbeatNode{seq: 40 + tt.others, others: tt.others, security: 4, age: 75 * time.Minute}
			srv := httptest.NewServer(node)
			defer srv.Close()
			c, hc := testClient(t, srv.URL)
			p := Probes{HTTP: hc, SeqLag: true, CheckpointAge: true}
			rep, err := AssessWith(context.Background(), c, Selection{}, th, p, time.Now())
			require.NoError(t, err)
			require.Len(t, rep.Replications, 1)
			r := rep.Replications[0]
			assert.Equal(t, tt.status, r.Status, r.Reason)
			assert.Equal(t, knownLag(tt.lag), r.SeqLag)
		})
	}
}
