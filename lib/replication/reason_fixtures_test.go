package replication

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/registry-checks/registry-checks/lib/couch"
	"github.com/registry-checks/registry-checks/lib/nagios"
)

// fixtureError is one error a captured CouchDB answer gives for a
// replication, with the endpoints of the replication it belongs to.
type fixtureError struct {
	raw, source, target string
	file, field         string
}

// fixtureErrors reads every captured answer under dir and returns every
// replication error in it: info.error (_scheduler/docs, _scheduler/jobs,
// a single scheduler doc or job), history[].reason of a job, and
// _replication_state_reason of a _replicator document. The top-level
// "error"/"reason" of a 4xx body is an HTTP error, not a replication's,
// and the couch client reports those.
func fixtureErrors(t *testing.T, dir string) (errs []fixtureError, files int) {
	t.Helper()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".json") {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		var v any
		if err := json.Unmarshal(b, &v); err != nil {
			return nil // not JSON (a text capture)
		}
		files++
		rel, _ := filepath.Rel(dir, path)
		var walk func(v any, source, target string)
		walk = func(v any, source, target string) {
			switch v := v.(type) {
			case []any:
				for _, x := range v {
					walk(x, source, target)
				}
			case map[string]any:
				// The nearest object with endpoints is the replication.
				if s := endpoint(v["source"]); s != "" {
					source = s
				}
				if s := endpoint(v["target"]); s != "" {
					target = s
				}
				if info, ok := v["info"].(map[string]any); ok {
					if e, ok := info["error"].(string); ok {
						errs = append(errs, fixtureError{e, source, target, rel, "info.error"})
					}
				}
				if hist, ok := v["history"].([]any); ok {
					for _, h := range hist {
						if e, ok := h.(map[string]any)["reason"].(string); ok {
							errs = append(errs, fixtureError{e, source, target, rel, "history[].reason"})
						}
					}
				}
				if e, ok := v["_replication_state_reason"].(string); ok {
					errs = append(errs, fixtureError{e, source, target, rel, "_replication_state_reason"})
				}
				for k, x := range v {
					if k != "info" && k != "history" {
						walk(x, source, target)
					}
				}
			}
		}
		walk(v, "", "")
		return nil
	})
	require.NoError(t, err)
	return errs, files
}

func endpoint(v any) string {
	if v == nil {
		return ""
	}
	b, _ := json.Marshal(v)
	u, _, _ := ParseEndpoint(b)
	return u
}

// TestEveryCapturedErrorHasAReason reads every replication error of every
// captured CouchDB 3.4.3 answer (the earlier fixtures and the outage-200
// timeline) and asserts that each gets an operator's reason: a known cause,
// not "other", and no Erlang term in the line.
func TestEveryCapturedErrorHasAReason(t *testing.T) {
	errs, files := fixtureErrors(t, fixtureDir)
	require.Greater(t, files, 100)
	require.NotEmpty(t, errs)
	forms := map[string]string{}
	for _, e := range errs {
		c := classify(e.raw, e.source, e.target)
		line := c.String()
		key := couch.OneLine(e.raw)
		if prev, ok := forms[key]; ok && prev == line {
			continue
		}
		forms[key] = line
		assert.NotEqual(t, CauseOther, c.What, "%s %s: %q", e.file, e.field, key)
		assert.NotContains(t, line, "{", "%s: %q -> %q", e.file, key, line)
		assert.NotContains(t, line, "<<", "%s: %q -> %q", e.file, key, line)
		assert.NotContains(t, line, "`", "%s: %q -> %q", e.file, key, line)
		assert.NotContains(t, line, "_session", "%s: %q -> %q", e.file, key, line)
	}
	var lines []string
	for raw, reason := range forms {
		lines = append(lines, reason+"  <=  "+raw)
	}
	sort.Strings(lines)
	t.Logf("%d files, %d errors, %d distinct forms:\n%s", files, len(errs), len(forms), strings.Join(lines, "\n"))
}

// The reasons table of docs/check_couch_replication.md names every cause.
func TestDocsListEveryCause(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "check_couch_replication.md"))
	require.NoError(t, err)
	_, table, ok := strings.Cut(string(b), "## Reasons\n")
	require.True(t, ok)
	table, _, _ = strings.Cut(table, "\n## ")
	for _, c := range []string{CauseSourceUnreachable, CauseTargetUnreachable, CauseSourceServerError, CauseTargetServerError,
		CauseSourceDBMissing, CauseTargetDBMissing, CauseSourceAuth, CauseTargetAuth[len("authentication refused "):],
		CauseSourceDenied, CauseTargetDenied[len("access denied "):], CauseFilterMissing, CauseFilterBroken, CauseDuplicate, CauseSourceRead,
		CauseTargetWrite, CauseTLS, CauseOther} {
		assert.Contains(t, table, c)
	}
}

// However many replications fail, and for however many causes and
// servers, the first line stays under 300 bytes and the output within
// its bound.
func TestFirstLineBounded(t *testing.T) {
	forms := []string{
		"{changes_req_failed,sel_conn_closed}",
		"db_not_found: could not open http://db%d.example.org:5984/x/",
		"{replication_auth_error,{session_request_unauthorized,\"http://db%d.example.org:5984/_session\",\"mirror\"}}",
		"Couldn't open document `_design/f%d` from source database `http://db%d.example.org:5984/x/`: {error,<<\"not_found\">>}",
	}
	for _, n := range []int{1, 3, 10, 206, 1000, 5000} {
		rep := Report{}
		for i := range n {
			r := Replication{Key: fmt.Sprintf("_replicator/replication-with-a-long-name-%05d", i), DocID: fmt.Sprintf("replication-with-a-long-name-%05d", i), State: Crashing, ErrorCount: 3}
			r.setEndpoints(fmt.Sprintf("http://db%d.example.org:5984/x", i%300), "http://replica:5984/x")
			r.LastError = strings.ReplaceAll(forms[i%len(forms)], "%d", fmt.Sprint(i%300))
			judgeState(&r, Thresholds{}.withDefaults(), time.Now())
			rep.Replications = append(rep.Replications, r)
		}
		out := nagios.Render("COUCH_REPLICATION", rep.Result(), nagios.RenderOptions{Verbose: 1})
		first, _, _ := strings.Cut(out, "\n")
		assert.Less(t, len(first), 300, first)
		assert.NotContains(t, first, "{")
		assert.LessOrEqual(t, len(out), nagios.DefaultLimit)
		if n == 5000 {
			t.Log(first)
		}
	}
}
