package main

import (
	"bytes"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/registry-checks/registry-checks/lib/promotion"
	"github.com/registry-checks/registry-checks/test/stackenv"
)

// drillDBs are the databases the registry drills promote.
var drillDBs = []string{"registry", "heartbeat"}

// drillRuns is how many rehearsals TestRehearseRegistryIntegration runs in
// a row: REGISTRY_CHECKS_REHEARSALS, default 1 (make test, which also
// runs TestExecuteAndBackRegistryIntegration's two promotions, within
// CI's 20 minutes); make rehearse runs issue 22's 20.
func drillRuns(t *testing.T) int {
	if v := os.Getenv("REGISTRY_CHECKS_REHEARSALS"); v != "" {
		n, err := strconv.Atoi(v)
		require.NoError(t, err, "REGISTRY_CHECKS_REHEARSALS")
		require.Positive(t, n, "REGISTRY_CHECKS_REHEARSALS")
		return n
	}
	return 1
}

// registryWriter PUTs a document into registry itself every 50 ms, to the
// node named in the file current (the --config-command writes it), and
// keeps the ids acknowledged.
type registryWriter struct {
	user, pass, current, prefix string

	mu                sync.Mutex
	acked             []string
	attempts, refused int
	stop, done        chan struct{}
}

func startWriter(t *testing.T, user, pass, current, prefix string) *registryWriter {
	w := &registryWriter{user: user, pass: pass, current: current, prefix: prefix, stop: make(chan struct{}), done: make(chan struct{})}
	t.Cleanup(func() { w.remove(t) })
	go func() {
		defer close(w.done)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-w.stop:
				return
			case <-tick.C:
			}
			b, _ := os.ReadFile(w.current)
			target := stackNode{strings.TrimSpace(string(b)), w.user, w.pass}
			id := fmt.Sprintf("%s-%05d", w.prefix, i)
			code, err := target.do("PUT", "/registry/"+id, map[string]any{"name": id, "writer": "registry drill", "n": i}, nil)
			w.mu.Lock()
			w.attempts++
			if err == nil && (code == 201 || code == 202) {
				w.acked = append(w.acked, id)
			} else {
				w.refused++ // fenced, or between two primaries: never acknowledged
			}
			w.mu.Unlock()
		}
	}()
	return w
}

// remove deletes the writer's documents from registry on the primary it
// last wrote to (they replicate): the stack's registry is left with
// packages as its latest changes, which check_tarball_origin --recent
// samples, and tombstones, which it skips.
func (w *registryWriter) remove(t *testing.T) {
	b, _ := os.ReadFile(w.current)
	n := stackNode{strings.TrimSpace(string(b)), w.user, w.pass}
	var all struct {
		Rows []struct {
			ID    string `json:"id"`
			Value struct {
				Rev string `json:"rev"`
			} `json:"value"`
		} `json:"rows"`
	}
	q := url.Values{"startkey": {`"` + w.prefix + `"`}, "endkey": {`"` + w.prefix + "\ufff0" + `"`}}
	if _, err := n.do("GET", "/registry/_all_docs?"+q.Encode(), nil, &all); err != nil {
		t.Logf("the writer's documents stay in registry: %v", err)
		return
	}
	var del []map[string]any
	for _, r := range all.Rows {
		del = append(del, map[string]any{"_id": r.ID, "_rev": r.Value.Rev, "_deleted": true})
	}
	if len(del) > 0 {
		if code, err := n.do("POST", "/registry/_bulk_docs", map[string]any{"docs": del}, nil); err != nil || code != 201 {
			t.Logf("the writer's %d documents stay in registry: %d %v", len(del), code, err)
		}
	}
}

func (w *registryWriter) finish() []string {
	close(w.stop)
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string{}, w.acked...)
}

// presentIn is how many of ids db on n has, live, and which it lacks.
func presentIn(n stackNode, db string, ids []string) []string {
	var res struct {
		Rows []struct {
			ID    string `json:"id"`
			Error string `json:"error"`
			Value struct {
				Deleted bool `json:"deleted"`
			} `json:"value"`
		} `json:"rows"`
	}
	if _, err := n.do("POST", "/"+db+"/_all_docs", map[string]any{"keys": ids}, &res); err != nil {
		return ids
	}
	have := map[string]bool{}
	for _, r := range res.Rows {
		if r.Error == "" && r.ID != "" && !r.Value.Deleted {
			have[r.ID] = true
		}
	}
	var missing []string
	for _, id := range ids {
		if !have[id] {
			missing = append(missing, id)
		}
	}
	return missing
}

// lostOnAnyNode waits (bounded: replication is asynchronous) until every
// id is on every node, and returns those still missing somewhere.
func lostOnAnyNode(nodes []stackNode, ids []string) map[string][]string {
	deadline := time.Now().Add(60 * time.Second)
	for {
		lost := map[string][]string{}
		for _, n := range nodes {
			if m := presentIn(n, "registry", ids); len(m) > 0 {
				lost[n.url] = m
			}
		}
		if len(lost) == 0 || time.Now().After(deadline) {
			return lost
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// writeFailures is doc_write_failures of every replication of n, by
// document id, from _scheduler/docs.
func writeFailures(t *testing.T, n stackNode) map[string]int64 {
	var res struct {
		Docs []struct {
			DocID string `json:"doc_id"`
			Info  *struct {
				DocWriteFailures int64 `json:"doc_write_failures"`
			} `json:"info"`
		} `json:"docs"`
	}
	code, err := n.do("GET", "/_scheduler/docs", nil, &res)
	require.NoError(t, err)
	require.Equal(t, 200, code, "%s/_scheduler/docs: the drill needs CouchDB 2.1+", n.url)
	out := map[string]int64{}
	for _, d := range res.Docs {
		if d.Info != nil && d.Info.DocWriteFailures > 0 {
			out[d.DocID] = d.Info.DocWriteFailures
		}
	}
	return out
}

// fencesLeft names every fence marker in a _security and every live
// fence design document, on every node, in the drill's databases.
func fencesLeft(t *testing.T, nodes []stackNode) []string {
	var left []string
	for _, n := range nodes {
		for _, db := range drillDBs {
			var sec map[string]any
			code, err := n.do("GET", "/"+db+"/_security", nil, &sec)
			require.NoError(t, err)
			require.Equal(t, 200, code)
			if _, ok := sec[promotion.FenceMarker]; ok {
				left = append(left, n.url+"/"+db+"/_security")
			}
			code, err = n.do("GET", "/"+db+"/"+promotion.FenceID, nil, nil)
			require.NoError(t, err)
			if code != 404 {
				left = append(left, fmt.Sprintf("%s/%s/%s (%d)", n.url, db, promotion.FenceID, code))
			}
		}
	}
	return left
}

// Issue 22: on a sharded CouchDB (3.x, q=2), a writer PUTs into registry
// itself while promote_couch_replica --rehearse promotes replica1,
// rewires replica2 and rolls back, REGISTRY_CHECKS_REHEARSALS times in a
// row (default 20). Each run must end OK with every acknowledged write on
// every node, no doc_write_failures on any replication, the _replicator
// documents as before but for audit fields, no fence left anywhere, and
// check_couch_promotion OK before and after for both replicas.
func TestRehearseRegistryIntegration(t *testing.T) {
	env := stackenv.Need(t, "COUCH_PRIMARY_URL", "COUCH_REPLICA1_URL", "COUCH_REPLICA2_URL", "COUCH_CREDENTIALS_FILE", "COUCH_ADMIN_USER", "COUCH_ADMIN_PASSWORD")
	if !stackenv.RealCouchDB(env) {
		t.Skip("the registry drill judges catch-up by the scheduler's through_seq (CouchDB 2.1+): PouchDB Server has no _scheduler; TestRehearseIntegration rehearses there")
	}
	user, pass := env["COUCH_ADMIN_USER"], env["COUCH_ADMIN_PASSWORD"]
	primary := stackNode{env["COUCH_PRIMARY_URL"], user, pass}
	replica1 := stackNode{env["COUCH_REPLICA1_URL"], user, pass}
	replica2 := stackNode{env["COUCH_REPLICA2_URL"], user, pass}
	nodes := []stackNode{primary, replica1, replica2}
	creds := env["COUCH_CREDENTIALS_FILE"]
	check := buildCheck(t)
	runCheck := func(replica, primaryURL string) (int, string) {
		args := []string{"-u", replica, "--primary", primaryURL, "--credentials-file", creds, "-t", "60"}
		for _, db := range drillDBs {
			args = append(args, "--db", db)
		}
		out, err := exec.Command(check, args...).Output()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
		// The whole output: a failure's cause is in the long output.
		return code, string(out)
	}
	before := map[string]map[string]map[string]any{}
	for _, n := range nodes {
		before[n.url] = replicatorDocs(t, n)
		require.Empty(t, writeFailures(t, n), "%s: replications with refused documents before the drill", n.url)
	}
	require.Empty(t, fencesLeft(t, nodes), "a fence before the drill")

	dir := t.TempDir()
	current := filepath.Join(dir, "primary")
	stateDir := filepath.Join(stackenv.Dir(), "promotion-registry-drill")
	require.NoError(t, os.MkdirAll(stateDir, 0o700))
	runs := drillRuns(t)
	t.Logf("%-4s %-6s %9s %9s %7s %5s %8s %5s", "run", "state", "promotion", "rollback", "acked", "lost", "refused", "wall")
	for i := 1; i <= runs; i++ {
		for _, r := range []stackNode{replica1, replica2} {
			code, first := runCheck(r.url, primary.url)
			require.Equal(t, 0, code, "run %d, before: %s", i, first)
		}
		require.NoError(t, os.WriteFile(current, []byte(primary.url), 0o600))
		w := startWriter(t, user, pass, current, fmt.Sprintf("drill-%s-%02d", time.Now().UTC().Format("150405"), i))
		time.Sleep(time.Second) // writes before the drill
		var out bytes.Buffer
		start := time.Now()
		args := []string{"--old-primary", primary.url, "--new-primary", replica1.url, "--replica", replica2.url,
			"--credentials-file", creds, "--rehearse", "-t", "600", "--catch-up-timeout", "120s", "--verify-timeout", "60s",
			"--heartbeat-db", "heartbeat", "--config-command", `printf %s "$PROMOTE_NEW_PRIMARY_URL" > ` + current,
			"--state-dir", stateDir, "--log-file", filepath.Join(stateDir, "steps.log"), "--output-limit", "16384"}
		for _, db := range drillDBs {
			args = append(args, "--db", db)
		}
		code := run2(t, args, &out)
		wall := time.Since(start)
		time.Sleep(time.Second) // writes after, to the old primary again
		acked := w.finish()
		first, _, _ := strings.Cut(out.String(), "\n")
		lost := lostOnAnyNode(nodes, acked)
		nlost := 0
		for _, m := range lost {
			nlost = max(nlost, len(m))
		}
		t.Logf("%-4d %-6s %9s %9s %7d %5d %8d %4.0fs", i, map[int]string{0: "OK", 1: "WARN", 2: "CRIT", 3: "UNKN"}[code],
			field(first, "promotion"), field(first, "rollback"), len(acked), nlost, w.refused, wall.Seconds())
		require.Equal(t, 0, code, "run %d: %s", i, out.String())
		assert.NotContains(t, out.String(), pass)
		assert.Empty(t, lost, "run %d: acknowledged writes missing", i)
		for _, n := range nodes {
			assert.Empty(t, writeFailures(t, n), "run %d: %s: documents refused by a replication", i, n.url)
			assert.Equal(t, before[n.url], replicatorDocs(t, n), "run %d: %s: _replicator as before but for audit fields", i, n.url)
		}
		assert.Empty(t, fencesLeft(t, nodes), "run %d: fence left", i)
		for _, r := range []stackNode{replica1, replica2} {
			code, first := runCheck(r.url, primary.url)
			assert.Equal(t, 0, code, "run %d, after: %s", i, first)
		}
		if t.Failed() {
			return
		}
	}
}

// field is "1.2s" from "promotion 7 steps 1.2s" in a first line.
func field(first, name string) string {
	i := strings.Index(first, name+" ")
	if i < 0 {
		return "-"
	}
	f := strings.Fields(first[i:])
	if len(f) < 4 {
		return "-"
	}
	return strings.TrimSuffix(f[3], ",")
}

// Issue 22, second half: --execute with a writer into registry (the old
// primary demoted, pulling from the new one), then a promotion back the
// same way. Nothing acknowledged is lost, no replication refuses a
// document, no fence is left, check_couch_promotion is OK for both
// replicas after each; at the end replica1's original pulls are written
// back, so the stack is as before.
func TestExecuteAndBackRegistryIntegration(t *testing.T) {
	env := stackenv.Need(t, "COUCH_PRIMARY_URL", "COUCH_REPLICA1_URL", "COUCH_REPLICA2_URL", "COUCH_CREDENTIALS_FILE", "COUCH_ADMIN_USER", "COUCH_ADMIN_PASSWORD")
	if !stackenv.RealCouchDB(env) {
		t.Skip("the registry drill judges catch-up by the scheduler's through_seq (CouchDB 2.1+): PouchDB Server has no _scheduler; TestRehearseIntegration rehearses there")
	}
	user, pass := env["COUCH_ADMIN_USER"], env["COUCH_ADMIN_PASSWORD"]
	primary := stackNode{env["COUCH_PRIMARY_URL"], user, pass}
	replica1 := stackNode{env["COUCH_REPLICA1_URL"], user, pass}
	replica2 := stackNode{env["COUCH_REPLICA2_URL"], user, pass}
	nodes := []stackNode{primary, replica1, replica2}
	creds := env["COUCH_CREDENTIALS_FILE"]
	check := buildCheck(t)
	runCheck := func(replica, primaryURL string) (int, string) {
		args := []string{"-u", replica, "--primary", primaryURL, "--credentials-file", creds, "-t", "60", "--db", "registry", "--db", "heartbeat"}
		out, err := exec.Command(check, args...).Output()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
		// The whole output: a failure's cause is in the long output.
		return code, string(out)
	}
	before := map[string]map[string]map[string]any{}
	var raw1 struct {
		Rows []struct {
			ID  string         `json:"id"`
			Doc map[string]any `json:"doc"`
		} `json:"rows"`
	}
	for _, n := range nodes {
		before[n.url] = replicatorDocs(t, n)
	}
	_, err := replica1.do("GET", "/_replicator/_all_docs?include_docs=true", nil, &raw1)
	require.NoError(t, err)
	dir := t.TempDir()
	current := filepath.Join(dir, "primary")
	require.NoError(t, os.WriteFile(current, []byte(primary.url), 0o600))
	stateDir := filepath.Join(stackenv.Dir(), "promotion-registry-execute")
	require.NoError(t, os.RemoveAll(stateDir))
	require.NoError(t, os.MkdirAll(stateDir, 0o700))

	switched := false
	promote := func(old, nw, other stackNode, tag string) {
		switched = false
		w := startWriter(t, user, pass, current, "execute-"+tag+"-"+time.Now().UTC().Format("150405"))
		time.Sleep(time.Second)
		var out bytes.Buffer
		args := []string{"--old-primary", old.url, "--new-primary", nw.url, "--replica", other.url,
			"--credentials-file", creds, "--execute", "--demote-old", "-t", "600", "--catch-up-timeout", "120s", "--verify-timeout", "60s",
			"--heartbeat-db", "heartbeat", "--db", "registry", "--db", "heartbeat",
			"--config-command", `printf %s "$PROMOTE_NEW_PRIMARY_URL" > ` + current,
			"--state-dir", stateDir, "--log-file", filepath.Join(stateDir, "steps.log"), "--output-limit", "16384"}
		code := run2(t, args, &out)
		time.Sleep(time.Second)
		acked := w.finish()
		first, _, _ := strings.Cut(out.String(), "\n")
		t.Logf("%s: %s", tag, first)
		require.Equal(t, 0, code, out.String())
		switched = true
		b, _ := os.ReadFile(current)
		assert.Equal(t, nw.url, string(b), "traffic follows the switch")
		lost := lostOnAnyNode(nodes, acked)
		t.Logf("%s: writer %d acknowledged, %d refused; missing on some node: %d", tag, len(acked), w.refused, len(lost))
		assert.Empty(t, lost)
		for _, n := range nodes {
			assert.Empty(t, writeFailures(t, n), "%s: %s", tag, n.url)
		}
		assert.Empty(t, fencesLeft(t, nodes), tag)
		for _, r := range []stackNode{old, other} {
			code, first := runCheck(r.url, nw.url)
			assert.Equal(t, 0, code, "%s, after: %s", tag, first)
		}
	}
	promote(primary, replica1, replica2, "forward")
	if !switched {
		return
	}
	// Back even when a check after the forward promotion failed: the
	// stack must end as it began for the tests after this one.
	promote(replica1, primary, replica2, "back")

	// replica1 pulls through its demotion documents now: its original
	// pulls come back, the demotion documents go.
	for _, db := range drillDBs {
		var cur struct {
			Rev string `json:"_rev"`
		}
		id := "registry-checks-demote-" + db
		if code, _ := replica1.do("GET", "/_replicator/"+id, nil, &cur); code == 200 {
			replica1.do("DELETE", "/_replicator/"+id+"?rev="+cur.Rev, nil, nil)
		}
	}
	for _, r := range raw1.Rows {
		if strings.HasPrefix(r.ID, "_design/") {
			continue
		}
		doc := map[string]any{}
		for k, v := range r.Doc {
			if k != "_rev" && k != "_id" && !strings.HasPrefix(k, "_replication_") {
				doc[k] = v
			}
		}
		doc["registry_checks"] = map[string]string{"action": "restored by TestExecuteAndBackRegistryIntegration"}
		var cur struct {
			Rev string `json:"_rev"`
		}
		if code, _ := replica1.do("GET", "/_replicator/"+r.ID, nil, &cur); code == 200 {
			doc["_rev"] = cur.Rev
		}
		code, err := replica1.do("PUT", "/_replicator/"+r.ID, doc, nil)
		require.NoError(t, err)
		require.Contains(t, []int{201, 202}, code, r.ID)
	}
	for _, n := range nodes {
		assert.Equal(t, before[n.url], replicatorDocs(t, n), "%s: _replicator as before but for audit fields", n.url)
	}
}
