package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/registry-checks/registry-checks/test/stackenv"
)

// stackNode is one node of the stack, spoken to with the admin's
// credentials.
type stackNode struct {
	url, user, pass string
}

func (n stackNode) do(method, path string, body any, out any) (int, error) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, n.url+path, rd)
	if err != nil {
		return 0, err
	}
	req.SetBasicAuth(n.user, n.pass)
	req.Header.Set("Content-Type", "application/json")
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil {
		_ = json.Unmarshal(b, out)
	}
	return resp.StatusCode, nil
}

// replicatorDocs are a node's replication documents without what
// changes on every write: _rev, the replicator's own fields and the
// runbook's audit field.
func replicatorDocs(t *testing.T, n stackNode) map[string]map[string]any {
	var all struct {
		Rows []struct {
			ID  string         `json:"id"`
			Doc map[string]any `json:"doc"`
		} `json:"rows"`
	}
	code, err := n.do("GET", "/_replicator/_all_docs?include_docs=true", nil, &all)
	require.NoError(t, err)
	require.Equal(t, 200, code)
	out := map[string]map[string]any{}
	for _, r := range all.Rows {
		if strings.HasPrefix(r.ID, "_design/") {
			continue
		}
		for k := range r.Doc {
			if k == "_rev" || strings.HasPrefix(k, "_replication_") || k == "registry_checks" {
				delete(r.Doc, k)
			}
		}
		out[r.ID] = r.Doc
	}
	return out
}

// present is how many of ids node has.
func present(n stackNode, ids []string) (int, []string) {
	var res struct {
		Rows []struct {
			ID    string `json:"id"`
			Key   string `json:"key"`
			Error string `json:"error"`
			Value struct {
				Deleted bool `json:"deleted"`
			} `json:"value"`
		} `json:"rows"`
	}
	if _, err := n.do("POST", "/"+rehearsalDB+"/_all_docs", map[string]any{"keys": ids}, &res); err != nil {
		return 0, ids
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
	return len(ids) - len(missing), missing
}

func buildCheck(t *testing.T) string {
	bin := filepath.Join(t.TempDir(), "check_couch_promotion")
	cmd := exec.Command("go", "build", "-o", bin, "../../checks/check_couch_promotion")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, string(out))
	return bin
}

var stepLine = regexp.MustCompile(`^(OK|WARNING|CRITICAL|UNKNOWN) (R?[0-9]+ [a-z_]+): .*\(([0-9.]+)s\)$`)

// The drill of issue 15 on the stack: a writer puts documents into the
// primary at a steady rate; promote_couch_replica --rehearse promotes
// replica1, rewires replica2 to pull from it, verifies, and rolls back;
// check_couch_promotion runs before and after. Reported: the time of each
// step and in total, and the documents written against the documents
// present on every node at the end. Required: every document acknowledged
// by either primary is on every node after the rollback, and the
// _replicator documents equal those before but for audit fields. (The
// goal of under 60 s is reported, not asserted: speed is for benchmarks.)
// `make rehearse` runs this test alone, verbosely.
func TestRehearseIntegration(t *testing.T) {
	env := stackenv.Need(t, "COUCH_PRIMARY_URL", "COUCH_REPLICA1_URL", "COUCH_REPLICA2_URL", "COUCH_CREDENTIALS_FILE", "COUCH_ADMIN_USER", "COUCH_ADMIN_PASSWORD")
	if stackenv.RealCouchDB(env) && os.Getenv("REGISTRY_CHECKS_REHEARSALS") == "" {
		// Within CI's 20 minutes: the same drill, stricter, runs on
		// CouchDB in make test, and this one in make rehearse.
		t.Skip("on CouchDB make test rehearses with TestRehearseRegistryIntegration (this drill with the writer in registry itself, 100,001 documents, and doc_write_failures checked); make rehearse runs both")
	}
	user, pass := env["COUCH_ADMIN_USER"], env["COUCH_ADMIN_PASSWORD"]
	primary := stackNode{env["COUCH_PRIMARY_URL"], user, pass}
	replica1 := stackNode{env["COUCH_REPLICA1_URL"], user, pass}
	replica2 := stackNode{env["COUCH_REPLICA2_URL"], user, pass}
	nodes := []stackNode{primary, replica1, replica2}
	creds := env["COUCH_CREDENTIALS_FILE"]
	check := buildCheck(t)
	runCheck := func(replica string) (int, string) {
		out, err := exec.Command(check, "-u", replica, "--primary", primary.url, "--credentials-file", creds, "-t", "30").Output()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
		first, _, _ := strings.Cut(string(out), "\n")
		return code, first
	}
	// The writer's documents go to a database of their own, replicated
	// like registry and promoted with it: in registry they would push the
	// packages out of the changes-feed window check_tarball_origin
	// --recent samples. It is set up here and removed at the end.
	require.NoError(t, setUpRehearsalDB(t, primary, replica1, replica2))
	for _, r := range []string{replica1.url, replica2.url} {
		code, first := runCheck(r)
		t.Logf("before: %s", first)
		require.Equal(t, 0, code, "the stack must be ready for a promotion before the drill: %s", first)
	}
	before := map[string]map[string]map[string]any{}
	for _, n := range nodes {
		before[n.url] = replicatorDocs(t, n)
	}

	// The writer follows the switch: --config-command writes the new
	// primary's URL into this file, the writer reads it before each write.
	dir := t.TempDir()
	current := filepath.Join(dir, "primary")
	require.NoError(t, os.WriteFile(current, []byte(primary.url), 0o600))
	run := time.Now().UTC().Format("150405")
	var mu sync.Mutex
	var acked []string
	attempts, refused := 0, 0
	stop := make(chan struct{})
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		tick := time.NewTicker(50 * time.Millisecond) // 20 documents a second
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			b, _ := os.ReadFile(current)
			target := stackNode{strings.TrimSpace(string(b)), user, pass}
			id := fmt.Sprintf("rehearse-%s-%05d", run, i)
			code, err := target.do("PUT", "/"+rehearsalDB+"/"+id, map[string]any{"writer": "make rehearse", "n": i}, nil)
			mu.Lock()
			attempts++
			if err == nil && (code == 201 || code == 202) {
				acked = append(acked, id)
			} else {
				refused++ // fenced, or between two primaries: not acknowledged, not counted
			}
			mu.Unlock()
		}
	}()
	time.Sleep(time.Second) // a steady state of writes before the drill

	// The state and the backups outlive a failed drill, for --rollback by
	// hand: in the stack's folder, not the test's.
	stateDir := filepath.Join(stackenv.Dir(), "promotion-rehearsal")
	require.NoError(t, os.MkdirAll(stateDir, 0o700))
	var out bytes.Buffer
	start := time.Now()
	code := run2(t, []string{"--old-primary", primary.url, "--new-primary", replica1.url, "--replica", replica2.url,
		"--credentials-file", creds, "--rehearse", "-t", "120", "--heartbeat-db", rehearsalDB, "--catch-up-timeout", "20s", "--verify-timeout", "30s",
		"--config-command", `printf %s "$PROMOTE_NEW_PRIMARY_URL" > ` + current,
		"--state-dir", stateDir, "--log-file", filepath.Join(stateDir, "steps.log"), "-v", "--output-limit", "16384"}, &out)
	wall := time.Since(start)
	time.Sleep(time.Second) // writes after the drill, to the old primary again
	close(stop)
	<-writerDone
	assert.Equal(t, 0, code, out.String())
	assert.NotContains(t, out.String(), pass)
	b, _ := os.ReadFile(current)
	assert.Equal(t, primary.url, string(b), "traffic is switched back")

	t.Log("promote_couch_replica --rehearse:")
	var steps []string
	for _, l := range strings.Split(out.String(), "\n") {
		if m := stepLine.FindStringSubmatch(l); m != nil {
			steps = append(steps, fmt.Sprintf("  %-16s %6ss  %s", m[2], m[3], m[1]))
		}
	}
	sort.SliceStable(steps, func(i, j int) bool { return stepOrder(steps[i]) < stepOrder(steps[j]) })
	for _, s := range steps {
		t.Log(s)
	}
	first, _, _ := strings.Cut(out.String(), "\n")
	t.Logf("  %s", first)
	t.Logf("  wall time of the rehearsal: %.1fs (goal < 60s)", wall.Seconds())

	// Every acknowledged document on every node (replication is
	// asynchronous: wait for it, bounded).
	mu.Lock()
	ids := append([]string{}, acked...)
	mu.Unlock()
	deadline := time.Now().Add(30 * time.Second)
	counts := make([]int, len(nodes))
	var missing [][]string
	for {
		missing = missing[:0]
		done := true
		for i, n := range nodes {
			c, m := present(n, ids)
			counts[i] = c
			missing = append(missing, m)
			done = done && len(m) == 0
		}
		if done || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	lost := map[string]bool{}
	for _, m := range missing {
		for _, id := range m {
			lost[id] = true
		}
	}
	t.Logf("writer: %d writes tried, %d acknowledged, %d refused (fenced or switching)", attempts, len(ids), refused)
	for i, n := range nodes {
		t.Logf("  %s: %d of %d acknowledged documents present", n.url, counts[i], len(ids))
	}
	t.Logf("documents lost: %d", len(lost))
	assert.Empty(t, lost, "every document acknowledged by either primary is on every node")
	assert.NotEmpty(t, ids)

	for _, n := range nodes {
		assert.Equal(t, before[n.url], replicatorDocs(t, n), "%s: _replicator documents as before, but for audit fields", n.url)
	}
	for _, r := range []string{replica1.url, replica2.url} {
		code, first := runCheck(r)
		t.Logf("after: %s", first)
		assert.Equal(t, 0, code, first)
	}
}

func stepOrder(s string) int {
	f := strings.Fields(s)
	n := 0
	fmt.Sscanf(strings.TrimPrefix(f[0], "R"), "%d", &n)
	if strings.HasPrefix(f[0], "R") {
		n += 100
	}
	return n
}

func run2(t *testing.T, args []string, out *bytes.Buffer) int {
	t.Helper()
	return run(append(args, "--spool-dir", t.TempDir()), out)
}

// rehearsalDB holds the writer's documents.
const rehearsalDB = "rehearsal"

// setUpRehearsalDB creates the writer's database on the primary and a
// continuous pull of it on each replica, waits until both replicate, and
// removes all of it when the test ends.
func setUpRehearsalDB(t *testing.T, primary stackNode, replicas ...stackNode) error {
	if code, err := primary.do("PUT", "/"+rehearsalDB, nil, nil); err != nil || (code != 201 && code != 412) {
		return fmt.Errorf("PUT %s/%s: %d %v", primary.url, rehearsalDB, code, err)
	}
	id := rehearsalDB + "-from-primary"
	for _, r := range replicas {
		src := strings.Replace(primary.url, "://", "://"+primary.user+":"+primary.pass+"@", 1) + "/" + rehearsalDB
		// created_at makes the body unique: PouchDB Server ignores a
		// recreated replication document identical to a deleted one.
		// CouchDB 3 takes only a full URL as target
		// (local_endpoints_not_supported); PouchDB Server a name too.
		target := any(rehearsalDB)
		if stackenv.RealCouchDB(stackenv.Read()) {
			target = strings.Replace(r.url, "://", "://"+r.user+":"+r.pass+"@", 1) + "/" + rehearsalDB
		}
		doc := map[string]any{"source": src, "target": target, "continuous": true, "create_target": true,
			"created_at": time.Now().UTC().Format(time.RFC3339Nano)}
		var cur struct {
			Rev string `json:"_rev"`
		}
		if code, _ := r.do("GET", "/_replicator/"+id, nil, &cur); code == 200 {
			continue
		}
		if code, err := r.do("PUT", "/_replicator/"+id, doc, nil); err != nil || code != 201 {
			return fmt.Errorf("PUT %s/_replicator/%s: %d %v", r.url, id, code, err)
		}
	}
	t.Cleanup(func() {
		for _, r := range replicas {
			var cur struct {
				Rev string `json:"_rev"`
			}
			if code, _ := r.do("GET", "/_replicator/"+id, nil, &cur); code == 200 {
				r.do("DELETE", "/_replicator/"+id+"?rev="+cur.Rev, nil, nil)
			}
		}
		for _, n := range append([]stackNode{primary}, replicas...) {
			n.do("DELETE", "/"+rehearsalDB, nil, nil)
		}
	})
	// Both replicas pull it before the drill starts.
	probe := fmt.Sprintf("ready-%d", time.Now().UnixNano())
	if code, err := primary.do("PUT", "/"+rehearsalDB+"/"+probe, map[string]any{}, nil); err != nil || code != 201 {
		return fmt.Errorf("PUT %s/%s/%s: %d %v", primary.url, rehearsalDB, probe, code, err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for _, r := range replicas {
		for {
			code, _ := r.do("GET", "/"+rehearsalDB+"/"+probe, nil, nil)
			if code == 200 {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%s does not replicate %s within 30s", r.url, rehearsalDB)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	return nil
}

// The rehearsal with --demote-old: the old primary is unfenced and pulls
// from the new one while demoted; the rollback ends the demotion first (or
// the new primary's fence would reach the old one and refuse the copy
// back). The topology is as before afterwards.
func TestRehearseWithDemotionIntegration(t *testing.T) {
	env := stackenv.Need(t, "COUCH_PRIMARY_URL", "COUCH_REPLICA1_URL", "COUCH_REPLICA2_URL", "COUCH_CREDENTIALS_FILE", "COUCH_ADMIN_USER", "COUCH_ADMIN_PASSWORD")
	user, pass := env["COUCH_ADMIN_USER"], env["COUCH_ADMIN_PASSWORD"]
	nodes := []stackNode{{env["COUCH_PRIMARY_URL"], user, pass}, {env["COUCH_REPLICA1_URL"], user, pass}, {env["COUCH_REPLICA2_URL"], user, pass}}
	before := map[string]map[string]map[string]any{}
	for _, n := range nodes {
		before[n.url] = replicatorDocs(t, n)
	}
	state := filepath.Join(stackenv.Dir(), "promotion-demotion")
	require.NoError(t, os.RemoveAll(state))
	var out bytes.Buffer
	code := run2(t, []string{"--old-primary", nodes[0].url, "--new-primary", nodes[1].url, "--replica", nodes[2].url,
		"--credentials-file", env["COUCH_CREDENTIALS_FILE"], "--db", "registry", "--rehearse", "--demote-old",
		"-t", "120", "--catch-up-timeout", "20s", "--verify-timeout", "30s", "--state-dir", state, "--log-file", filepath.Join(state, "steps.log")}, &out)
	first, _, _ := strings.Cut(out.String(), "\n")
	t.Log(first)
	assert.Equal(t, 0, code, out.String())
	assert.Contains(t, out.String(), "OK 7 demote: ")
	assert.Contains(t, out.String(), "OK R1 undemote: ")
	for _, n := range nodes {
		assert.Equal(t, before[n.url], replicatorDocs(t, n), "%s: _replicator documents as before, but for audit fields", n.url)
	}
}
