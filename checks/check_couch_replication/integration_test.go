package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/registry-checks/registry-checks/lib/httpclient"
	"github.com/registry-checks/registry-checks/lib/secret"
	"github.com/registry-checks/registry-checks/test/stackenv"
)

// The stack's replica 1 pulls the primary's "registry" through the
// continuous _replicator/registry-from-primary (Apache CouchDB's scheduler,
// or pouchdb-server on a stack without a CouchDB release). The
// heartbeat goes through that replication, so it is written into the
// primary's registry database under an id of this test run, and deleted
// at the end.

const stackScript = "../../test/stack/stack"

var heartbeatLag = regexp.MustCompile(`'registry-from-primary heartbeat_lag'=([0-9.]+)s`)

func stackArgs(env map[string]string, hbID string, extra ...string) []string {
	return append([]string{"-u", env["COUCH_REPLICA1_URL"], "--credentials-file", env["COUCH_CREDENTIALS_FILE"],
		"--doc-id", "registry-from-primary", "--expect", "1",
		"--heartbeat-db", "registry", "--heartbeat-id", hbID, "-t", "20"}, extra...)
}

// deleteHeartbeat removes the test's heartbeat document from the primary
// (the deletion replicates like the writes did).
func deleteHeartbeat(t *testing.T, env map[string]string, id string) {
	creds, err := secret.LoadFile(env["COUCH_CREDENTIALS_FILE"])
	require.NoError(t, err)
	hc, err := httpclient.New(httpclient.Options{}, httpclient.Config{})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	u := env["COUCH_PRIMARY_URL"] + "/registry/" + id
	var doc struct {
		Rev string `json:"_rev"`
	}
	code, err := hc.JSON(ctx, http.MethodGet, u, creds, nil, &doc, http.StatusNotFound)
	if err != nil || code == http.StatusNotFound {
		return
	}
	_, err = hc.JSON(ctx, http.MethodDelete, u+"?rev="+doc.Rev, creds, nil, nil)
	assert.NoError(t, err, "deleting the test heartbeat %s from the primary", id)
}

// stack runs test/stack/stack. Its output goes to a file, not a pipe: a
// node it starts keeps the inherited descriptors, and Wait would wait for
// that node to exit.
func stack(t *testing.T, args ...string) {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "stack-*.log")
	require.NoError(t, err)
	defer f.Close()
	cmd := exec.Command(stackScript, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.WaitDelay = 5 * time.Second
	err = cmd.Run()
	out, _ := os.ReadFile(f.Name())
	require.NoError(t, err, "stack %s: %s", strings.Join(args, " "), out)
}

// untilOK runs the check until it is OK, within bound.
func untilOK(t *testing.T, args []string, bound time.Duration) (int, string) {
	t.Helper()
	deadline := time.Now().Add(bound)
	for {
		code, out := runCheck(t, args...)
		if code == 0 || time.Now().After(deadline) {
			return code, out
		}
	}
}

func TestHealthyReplicaIntegration(t *testing.T) {
	env := stackenv.Need(t, "COUCH_PRIMARY_URL", "COUCH_REPLICA1_URL", "COUCH_CREDENTIALS_FILE")
	hbID := fmt.Sprintf("heartbeat-it-%d", os.Getpid())
	t.Cleanup(func() { deleteHeartbeat(t, env, hbID) })

	code, out := runCheck(t, stackArgs(env, hbID, "--heartbeat-wait", "5s")...)
	t.Log(out)
	require.Equal(t, 0, code, out)
	assert.Regexp(t, `COUCH_REPLICATION OK - 1 replications? OK`, out)
	if stackenv.RealCouchDB(env) {
		assert.Contains(t, out, "server: CouchDB 2.1+ (_scheduler)")
	} else {
		assert.Contains(t, out, "server: PouchDB Server")
	}
	m := heartbeatLag.FindStringSubmatch(out)
	require.NotNil(t, m, out)
	lag, err := strconv.ParseFloat(m[1], 64)
	require.NoError(t, err)
	assert.Less(t, lag, 1.0, "heartbeat lag through a healthy local replication")
}

// TestPrimaryStoppedIntegration stops the shared primary: both replicas'
// replications break. The cleanup starts the primary and restarts both
// replicas' replications (stack fault replication pause/resume), then
// waits until replica 1 is OK again.
//
// Apache CouchDB keeps the job "running" for about half a minute after its
// source died (the changes reader times out first), then "crashing" with
// retries whose errors read like an authentication failure
// ({session_request_failed,...,{conn_failed,{error,econnrefused}}}): the
// check must say what the checker sees meanwhile (the source unreachable
// from here, WARNING) and then name the cause CouchDB recorded as the
// source being unreachable, not as a refused password. A source that is
// back leaves the job crashing until CouchDB's next retry (a minute or
// more): still CRITICAL. pouchdb-server fails the job at once and never
// resumes it.
func TestPrimaryStoppedIntegration(t *testing.T) {
	env := stackenv.Need(t, "COUCH_PRIMARY_URL", "COUCH_REPLICA1_URL", "COUCH_REPLICA2_URL", "COUCH_CREDENTIALS_FILE")
	hbID := fmt.Sprintf("heartbeat-it-%d", os.Getpid())
	args := stackArgs(env, hbID, "--heartbeat-wait", "3s", "--critical-heartbeat-lag", "2")

	code, out := untilOK(t, args, 20*time.Second)
	require.Equal(t, 0, code, "replica 1 must be healthy before the test: %s", out)

	t.Cleanup(func() {
		stack(t, "start", "couch-primary")
		for _, r := range []string{"replica1", "replica2"} {
			stack(t, "fault", "replication", "pause", r)
			stack(t, "fault", "replication", "resume", r)
		}
		code, out := untilOK(t, args, 60*time.Second)
		assert.Equal(t, 0, code, "replica 1 did not recover after the restore: %s", out)
		deleteHeartbeat(t, env, hbID)
	})

	stack(t, "stop", "couch-primary")
	code, out = runCheck(t, args...)
	t.Log(out)
	first := strings.SplitN(out, "\n", 2)[0]
	if stackenv.RealCouchDB(env) {
		if code == 1 {
			assert.Regexp(t, `registry-from-primary running \(source unreachable from the checker \(connection refused\)\)`, first)
		}
		// Wait for CouchDB to notice (its changes reader times out):
		// then the job is crashing, and the cause is the source. A run
		// may meanwhile end at -t (the replica busy tearing the job
		// down): only the crash ends the wait.
		deadline := time.Now().Add(3 * time.Minute)
		for !strings.Contains(strings.SplitN(out, "\n", 2)[0], "crashing") && time.Now().Before(deadline) {
			code, out = runCheck(t, args...)
		}
		t.Log(out)
		first = strings.SplitN(out, "\n", 2)[0]
		require.Equal(t, 2, code, out)
		assert.Contains(t, first, "source unreachable", "a refused connection is no authentication failure")
		assert.NotContains(t, first, "authentication")
	} else {
		assert.Equal(t, 2, code, out)
		// PouchDB Server words a stopped source "connection refused" or,
		// when the stop caught a request in flight, "connection failed".
		assert.Regexp(t, `registry-from-primary triggered \(source unreachable \(connection (refused|failed)\)\)`, first)
	}

	stack(t, "start", "couch-primary")
	code, out = runCheck(t, args...)
	t.Log(out)
	first = strings.SplitN(out, "\n", 2)[0]
	assert.Equal(t, 2, code, out)
	if stackenv.RealCouchDB(env) {
		assert.Regexp(t, `registry-from-primary crashing`, first)
	} else {
		assert.Contains(t, first, "registry-from-primary triggered (triggered but heartbeat not arriving")
	}
}
