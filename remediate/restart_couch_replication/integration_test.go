package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/registry-checks/registry-checks/lib/secret"
	"github.com/registry-checks/registry-checks/test/stackenv"
)

// The integration tests break a replication of their own, never the
// stack's: a private source of the stack's server (a real CouchDB node, or
// pouchdb-server on a stack without a CouchDB release;
// test/stack/fault/couch-source.sh) that they stop and revive, and a
// _replicator document on replica 2 that pulls from it. Stopping the shared primary would fail the other suites'
// tests running at the same time.

// Parallel tests: the tests that break one replication of their own
// (TestBouncedSourceHealsItselfIntegration,
// TestStandaloneRestartsStuckReplicationIntegration,
// TestNagiosEventHandlerIntegration) run in parallel, after the
// package's sequential tests: each has its own source, port, _replicator
// document and target, selects its replication by --doc-id, and spends
// its two minutes waiting on CouchDB (a dead source noticed after about
// 30 s, a crash backoff of 30 s and more). The 200-replication Nagios
// test and the max_jobs scale test stay sequential: one lowers the
// replica's max_jobs, and both fill its scheduler.

const faultScript = "../../test/stack/fault/couch-source.sh"

// brokenReplication is one private source, its database and a replication
// of it on a stack replica.
type brokenReplication struct {
	t       *testing.T
	name    string
	port    int
	source  string // http://127.0.0.1:port
	db      string // source database, also the heartbeat database
	replica string // replica URL
	docID   string // _replicator document on the replica
	target  string // target database on the replica
	creds   secret.Credentials
	credsF  string
	// docIDs and targets: every replication of the source (docID and
	// target are the first); targetDocs: each document's "target" field
	docIDs, targets []string
	targetDocs      []string
	couchdb         bool // the stack runs Apache CouchDB
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func newBrokenReplication(t *testing.T, env map[string]string) *brokenReplication {
	t.Helper()
	return newBrokenReplications(t, env, 1)
}

// newBrokenReplications is n replications of one private source database
// on replica 2, each into its own target (<name>-000, ...; the name alone
// for one), created one at a time.
//
// On Apache CouchDB the documents name the target by its full URL (CouchDB
// 3 refuses a local name: "local_endpoints_not_supported"), with the
// credentials in it, and go in with one _bulk_docs; the test waits until
// the scheduler runs every one. A stopped source crashes the job, which
// CouchDB retries only after a backoff of a minute or more: broken for the
// handler to repair.
//
// On PouchDB Server each document says "retry": false (PouchDB Server
// passes a replicator document's fields to PouchDB.replicate; CouchDB
// ignores the field, so it is left out there). PouchDB Server retries by
// default, and what a source outage does then depends on the instant it
// starts: a replication waiting on its changes feed hangs for good, one
// caught in the middle of a batch (a heartbeat just written, its
// checkpoint) backs off and comes back by itself seconds after the source
// does. Of 200 the split was random, and on some runs all 200 came back
// before Nagios checked again (no outage for the handler to repair); a
// single one can come back too. Without retries the second kind fails too
// (_replication_state "error"), so every run breaks every replication.
func newBrokenReplications(t *testing.T, env map[string]string, n int) *brokenReplication {
	t.Helper()
	creds, err := secret.LoadFile(env["COUCH_CREDENTIALS_FILE"])
	require.NoError(t, err)
	suffix := fmt.Sprintf("%d-%d", os.Getpid(), time.Now().UnixNano()%1e6)
	b := &brokenReplication{t: t, name: "restart-it-" + suffix, port: freePort(t), db: "restart-it-src",
		replica: env["COUCH_REPLICA2_URL"], docID: "restart-it-" + suffix, target: "restart-it-" + suffix,
		creds: creds, credsF: env["COUCH_CREDENTIALS_FILE"], couchdb: stackenv.RealCouchDB(env)}
	b.source = fmt.Sprintf("http://127.0.0.1:%d", b.port)
	for i := range n {
		id := b.docID
		if n > 1 {
			id = fmt.Sprintf("%s-%03d", b.docID, i)
		}
		b.docIDs, b.targets = append(b.docIDs, id), append(b.targets, id)
		target := id
		if b.couchdb {
			target = strings.Replace(b.replica, "://", "://"+creds.User+":"+creds.Password+"@", 1) + "/" + id
		}
		b.targetDocs = append(b.targetDocs, target)
	}
	b.docID, b.target = b.docIDs[0], b.targets[0]
	t.Cleanup(func() {
		var all struct {
			Rows []struct {
				ID    string `json:"id"`
				Value struct {
					Rev string `json:"rev"`
				} `json:"value"`
			} `json:"rows"`
		}
		if b.do(http.MethodPost, b.replica+"/_replicator/_all_docs", map[string]any{"keys": b.docIDs}, &all) == nil {
			var del []map[string]any
			for _, r := range all.Rows {
				if r.ID != "" && r.Value.Rev != "" {
					del = append(del, map[string]any{"_id": r.ID, "_rev": r.Value.Rev, "_deleted": true})
				}
			}
			if len(del) > 0 {
				b.do(http.MethodPost, b.replica+"/_replicator/_bulk_docs", map[string]any{"docs": del}, nil)
			}
		}
		for _, target := range b.targets {
			b.do(http.MethodDelete, b.replica+"/"+target, nil, nil)
		}
		b.fault("clean")
	})
	b.fault("start")
	require.NoError(t, b.do(http.MethodPut, b.source+"/"+b.db, nil, nil))
	docs := make([]map[string]any, len(b.docIDs))
	for i, id := range b.docIDs {
		docs[i] = map[string]any{
			"_id":           id,
			"source":        fmt.Sprintf("http://%s:%s@127.0.0.1:%d/%s", creds.User, creds.Password, b.port, b.db),
			"target":        b.targetDocs[i],
			"continuous":    true,
			"create_target": true,
		}
		if !b.couchdb {
			docs[i]["retry"] = false
		}
	}
	if b.couchdb {
		require.NoError(t, b.do(http.MethodPost, b.replica+"/_replicator/_bulk_docs", map[string]any{"docs": docs}, nil))
		require.Eventually(t, func() bool {
			var sd struct {
				Docs []struct {
					DocID string `json:"doc_id"`
					State string `json:"state"`
				} `json:"docs"`
			}
			if b.do(http.MethodGet, b.replica+"/_scheduler/docs/_replicator?limit=100000", nil, &sd) != nil {
				return false
			}
			running := map[string]bool{}
			for _, d := range sd.Docs {
				running[d.DocID] = d.State == "running"
			}
			for _, id := range b.docIDs {
				if !running[id] {
					return false
				}
			}
			return true
		}, 60*time.Second, 100*time.Millisecond, "the scheduler never ran all of %s", b.docIDs[0])
	}
	// PouchDB Server: one at a time, each once its replicator has taken it
	// up: it mixes up its own writes when many documents change at once
	// (restart.PouchDBSettle).
	for _, doc := range docs {
		if b.couchdb {
			break
		}
		id := doc["_id"].(string)
		require.NoError(t, b.do(http.MethodPut, b.replica+"/_replicator/"+id, doc, nil))
		require.Eventually(t, func() bool {
			var d struct {
				State string `json:"_replication_state"`
			}
			return b.do(http.MethodGet, b.replica+"/_replicator/"+id, nil, &d) == nil && d.State != ""
		}, 10*time.Second, 20*time.Millisecond, "the replicator never took up %s", id)
	}
	b.write("first")
	b.waitArrived("first", 30*time.Second+time.Duration(n)*300*time.Millisecond)
	return b
}

func (b *brokenReplication) fault(cmd string) {
	b.t.Helper()
	out, err := exec.Command(faultScript, cmd, b.name, fmt.Sprint(b.port)).CombinedOutput()
	require.NoError(b.t, err, "%s %s: %s", faultScript, cmd, out)
}

// do is an admin request; v receives the JSON answer.
func (b *brokenReplication) do(method, url string, body, v any) error {
	var rd io.Reader
	if body != nil {
		j, _ := json.Marshal(body)
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return err
	}
	req.SetBasicAuth(b.creds.User, b.creds.Password)
	req.Header.Set("Content-Type", "application/json")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		msg, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("%s %s: %d %s", method, secret.RedactURL(url), resp.StatusCode, msg)
	}
	if v != nil {
		return json.NewDecoder(resp.Body).Decode(v)
	}
	return nil
}

func (b *brokenReplication) write(id string) {
	b.t.Helper()
	require.NoError(b.t, b.do(http.MethodPut, b.source+"/"+b.db+"/"+id, map[string]any{"at": time.Now().String()}, nil))
}

// arrived reports whether document id reached every target.
func (b *brokenReplication) arrived(id string) bool {
	for _, target := range b.targets {
		if b.do(http.MethodGet, b.replica+"/"+target+"/"+id, nil, nil) != nil {
			return false
		}
	}
	return true
}

func (b *brokenReplication) waitArrived(id string, bound time.Duration) {
	b.t.Helper()
	require.Eventually(b.t, func() bool { return b.arrived(id) }, bound, 100*time.Millisecond, "document %s never reached %s/%s", id, b.replica, b.target)
}

// breakIt stops the source and starts it again, leaving the replications
// broken for the handler. pouchdb-server's replication stays stuck after
// its source comes back. Apache CouchDB notices a dead source only when a
// job's changes reader times out (about 30 s), restarts a job that had run
// well at once, and after a second crash waits out a backoff (a minute and
// more, growing with each crash) even once the source is back: breakIt
// waits for that second crash of every replication before it starts the
// source again. A source bounced quicker is one CouchDB repairs itself
// (TestBouncedSourceHealsItselfIntegration).
func (b *brokenReplication) breakIt() {
	b.t.Helper()
	b.fault("stop")
	if b.couchdb {
		b.waitCrashed(2, 4*time.Minute)
	}
	b.fault("start")
	b.write("after-outage")
}

// waitCrashed waits until the scheduler shows every replication of b
// crashing with at least n errors.
func (b *brokenReplication) waitCrashed(n int, bound time.Duration) {
	b.t.Helper()
	var last string
	ok := assert.Eventually(b.t, func() bool {
		var sd struct {
			Docs []struct {
				DocID      string `json:"doc_id"`
				State      string `json:"state"`
				ErrorCount int    `json:"error_count"`
			} `json:"docs"`
		}
		if err := b.do(http.MethodGet, b.replica+"/_scheduler/docs/_replicator?limit=100000", nil, &sd); err != nil {
			last = err.Error()
			return false
		}
		crashed := map[string]bool{}
		for _, d := range sd.Docs {
			crashed[d.DocID] = d.State == "crashing" && d.ErrorCount >= n
			if d.DocID == b.docID {
				last = fmt.Sprintf("%s %s, %d errors", d.DocID, d.State, d.ErrorCount)
			}
		}
		for _, id := range b.docIDs {
			if !crashed[id] {
				return false
			}
		}
		return true
	}, bound, 250*time.Millisecond)
	if !ok {
		b.fault("start")
		b.t.Fatalf("CouchDB never showed all %d replications crashing with %d errors after their source stopped: %s", len(b.docIDs), n, last)
	}
}

func (b *brokenReplication) args(stateDir string, extra ...string) []string {
	return append([]string{"-t", "25", "-u", b.replica, "--credentials-file", b.credsF, "--doc-id", b.docID,
		"--heartbeat-db", b.db, "--heartbeat-wait", "3s", "--state-dir", stateDir,
		"--log-file", filepath.Join(stateDir, "decisions.log")}, extra...)
}

// TestBouncedSourceHealsItselfIntegration: on Apache CouchDB a source
// stopped and started again at once needs no handler. The job reads
// "running" until its changes reader times out (the check: WARNING,
// heartbeat not arriving; the handler: nothing to restart, a restart is
// only for a confirmed failure), then crashes and, having run well, is
// restarted by CouchDB at once: the document written after the outage
// arrives with no restart. pouchdb-server leaves such a replication stuck
// for good (TestStandaloneRestartsStuckReplicationIntegration).
func TestBouncedSourceHealsItselfIntegration(t *testing.T) {
	t.Parallel() // its own source and replication; see "Parallel tests" above
	env := stackenv.Need(t, "COUCH_REPLICA2_URL", "COUCH_CREDENTIALS_FILE")
	if !stackenv.RealCouchDB(env) {
		t.Skip("PouchDB Server never resumes a replication whose source was bounced")
	}
	b := newBrokenReplication(t, env)
	dir := t.TempDir()
	b.fault("stop")
	b.fault("start")
	b.write("after-outage")

	var out bytes.Buffer
	code := run(b.args(dir), &out)
	t.Log(out.String())
	assert.Equal(t, 0, code, out.String())
	assert.NotContains(t, out.String(), "restarted "+b.docID)
	b.waitArrived("after-outage", 4*time.Minute)
	log, err := os.ReadFile(filepath.Join(dir, "decisions.log"))
	require.NoError(t, err)
	assert.NotContains(t, string(log), "action=restarted", "CouchDB repaired it; the handler had nothing to do")
}

func TestStandaloneRestartsStuckReplicationIntegration(t *testing.T) {
	t.Parallel() // its own source and replication; see "Parallel tests" above
	env := stackenv.Need(t, "COUCH_REPLICA2_URL", "COUCH_CREDENTIALS_FILE")
	b := newBrokenReplication(t, env)
	dir := t.TempDir()

	var out bytes.Buffer
	code := run(b.args(dir), &out)
	assert.Equal(t, 0, code, out.String())
	assert.Contains(t, out.String(), "RESTART_COUCH_REPLICATION OK - nothing to restart: 1 of 1 replications healthy")

	b.breakIt()

	out.Reset()
	code = run(b.args(dir), &out)
	t.Log(out.String())
	require.Equal(t, 0, code, out.String())
	assert.Contains(t, out.String(), "nothing to restart yet")
	assert.Contains(t, out.String(), "failure 1 of 2")
	assert.False(t, b.arrived("after-outage"), "the replication was not stuck: the test proves nothing")

	out.Reset()
	code = run(b.args(dir), &out)
	t.Log(out.String())
	require.Equal(t, 0, code, out.String())
	assert.Contains(t, out.String(), "RESTART_COUCH_REPLICATION OK - restarted "+b.docID)
	b.waitArrived("after-outage", 30*time.Second)

	// The recreated document keeps the definition and records the restart.
	var doc map[string]any
	require.NoError(t, b.do(http.MethodGet, b.replica+"/_replicator/"+b.docID, nil, &doc))
	assert.Equal(t, b.targetDocs[0], doc["target"])
	assert.Equal(t, true, doc["continuous"])
	rb, _ := doc["restarted_by"].(map[string]any)
	require.NotNil(t, rb, "restarted_by missing from %v", doc["_id"])
	assert.Contains(t, rb["by"], "restart_couch_replication@")

	// Healthy again: the next run does nothing. The log has every decision.
	out.Reset()
	code = run(b.args(dir), &out)
	assert.Equal(t, 0, code, out.String())
	assert.Contains(t, out.String(), "nothing to restart: 1 of 1 replications healthy")
	log, err := os.ReadFile(filepath.Join(dir, "decisions.log"))
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(string(log)), "\n")
	require.Len(t, lines, 4, string(log))
	assert.Contains(t, lines[1], "action=wait code=first_failure")
	assert.Contains(t, lines[2], "action=restarted code=restart")
	assert.NotContains(t, string(log), b.creds.Password)
	assert.NotContains(t, out.String(), b.creds.Password)
}
