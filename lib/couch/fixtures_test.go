package couch

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// sharedFixtures finds ../shared/fixtures/couchdb-3.4.3 beside the module
// root, or "" when this checkout has no shared folder next to it.
func sharedFixtures(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	require.NoError(t, err)
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
	p := filepath.Join(filepath.Dir(dir), "shared", "fixtures", "couchdb-3.4.3")
	if _, err := os.Stat(p); err != nil {
		return ""
	}
	return p
}

// kindOf is the endpoint part of a fixture name: node2.scheduler-jobs.x.json
// -> scheduler-jobs; replicate.transient-continuous... -> replicate.
func kindOf(name string) string {
	parts := strings.Split(name, ".")
	if strings.HasPrefix(parts[0], "node") && len(parts) > 1 {
		return parts[1]
	}
	return parts[0]
}

// fixtureTypes maps each kind of captured response to the type that must
// decode it, strictly (no field of the answer left unmodelled), and to a
// check of a few values every file of that kind must show. A kind missing
// here fails the test: a new capture needs a decision.
var fixtureTypes = map[string]struct {
	strict bool
	decode func(t *testing.T, data []byte, strict bool)
}{
	"root": {true, check(func(t *testing.T, r *Root) {
		assert.Equal(t, "3.4.3", r.Version)
		assert.Equal(t, 3, r.Major())
		assert.NotEmpty(t, r.Vendor.Name)
	})},
	"up": {true, check(func(t *testing.T, u *Up) {
		assert.Contains(t, []string{"ok", "maintenance_mode"}, u.Status)
	})},
	"scheduler-jobs": {true, check(func(t *testing.T, j *SchedulerJobs) {
		assert.GreaterOrEqual(t, j.TotalRows, len(j.Jobs))
		for _, job := range j.Jobs {
			checkJob(t, &job)
		}
	})},
	"scheduler-job": {false, check(func(t *testing.T, j *SchedulerJob) {})}, // one is a not_found error body
	"scheduler-docs": {true, check(func(t *testing.T, d *SchedulerDocs) {
		assert.GreaterOrEqual(t, d.TotalRows, len(d.Docs))
		for _, doc := range d.Docs {
			checkDoc(t, &doc)
		}
	})},
	"scheduler-doc": {false, check(func(t *testing.T, d *SchedulerDoc) {
		if d.DocID != "" {
			checkDoc(t, d)
		}
	})},
	"active-tasks": {true, check(func(t *testing.T, tasks *[]ActiveTask) {
		for _, task := range *tasks {
			assert.Contains(t, []string{"replication", "indexer", "database_compaction", "view_compaction"}, task.Type)
			assert.False(t, task.StartedOn.IsZero())
			assert.False(t, task.UpdatedOn.IsZero())
			assert.NotEmpty(t, task.ProcessStatus)
			if task.Type == "replication" {
				_, err := task.ThroughSeq.Number()
				assert.NoError(t, err)
			}
		}
	})},
	"db-info": {true, check(func(t *testing.T, d *DBInfo) {
		assert.NotEmpty(t, d.DBName)
		require.NotNil(t, d.Sizes)
		assert.Positive(t, d.FileSize())
		assert.Positive(t, d.ActiveSize())
		n, err := d.UpdateSeq.Number()
		require.NoError(t, err)
		assert.Positive(t, n)
	})},
	"dbs-info": {true, check(func(t *testing.T, rows *[]DBsInfoRow) {
		require.NotEmpty(t, *rows)
		for _, r := range *rows {
			require.NotNil(t, r.Info, r.Key)
			assert.Equal(t, r.Key, r.Info.DBName)
		}
	})},
	"view-info": {true, check(func(t *testing.T, v *ViewInfo) {
		assert.NotEmpty(t, v.Name)
		require.NotNil(t, v.ViewIndex.UpdatesPending)
		require.NotNil(t, v.ViewIndex.Sizes)
		_, err := v.ViewIndex.UpdateSeq.Number()
		assert.NoError(t, err)
	})},
	"system": {true, check(func(t *testing.T, s *System) {
		assert.Positive(t, s.Uptime)
		assert.Positive(t, s.ProcessCount)
		assert.Contains(t, s.MessageQueues, "couch_file")
		assert.Contains(t, s.MessageQueues, "couch_server")
	})},
	"replicator-doc": {false, func(t *testing.T, data []byte, _ bool) { // some are not_found error bodies
		var d ReplicatorDoc
		require.NoError(t, json.Unmarshal(data, &d))
		out, err := json.Marshal(d)
		require.NoError(t, err)
		assert.NotContains(t, string(out), "secret", "the replication password is dropped at decode")
		if d.ID != "" {
			assert.True(t, strings.HasPrefix(d.Source.URL, "http://127.0.0.1:15984/"), d.Source.URL)
			assert.Contains(t, []string{"admin", "mirror"}, d.Source.User)
		}
	}},
	"versions": {true, check(func(t *testing.T, v *Versions) { assert.NotEmpty(t, v.Erlang.Version) })},
	"all-dbs":  {true, check(func(t *testing.T, v *[]string) { assert.Contains(t, *v, "_replicator") })},
	// Captured for reference; no check reads them through a typed view.
	"config-couchdb":          {false, check(func(t *testing.T, v *map[string]string) {})},
	"config-replicator":       {false, check(func(t *testing.T, v *map[string]string) {})},
	"stats-couchdb":           {false, check(func(t *testing.T, v *map[string]json.RawMessage) {})},
	"stats-couch_replicator":  {false, check(func(t *testing.T, v *map[string]json.RawMessage) {})},
	"compact-response":        {false, check(func(t *testing.T, v *map[string]json.RawMessage) {})},
	"replicate":               {false, check(func(t *testing.T, v *map[string]json.RawMessage) {})},
	"replicator-put-response": {false, check(func(t *testing.T, v *map[string]json.RawMessage) {})},
	"view-query":              {false, check(func(t *testing.T, v *map[string]json.RawMessage) {})},
}

func check[T any](f func(t *testing.T, v *T)) func(t *testing.T, data []byte, strict bool) {
	return func(t *testing.T, data []byte, strict bool) {
		var v T
		dec := json.NewDecoder(bytes.NewReader(data))
		if strict {
			dec.DisallowUnknownFields()
		}
		require.NoError(t, dec.Decode(&v))
		f(t, &v)
	}
}

func checkJob(t *testing.T, j *SchedulerJob) {
	assert.NotEmpty(t, j.ID)
	assert.NotEmpty(t, j.History)
	assert.False(t, j.StartTime.IsZero())
	for _, h := range j.History {
		assert.False(t, h.Timestamp.IsZero())
		assert.NotContains(t, h.Reason.Line(), "\n")
	}
	if j.Info != nil && j.Info.Error == "" {
		_, err := j.Info.CheckpointedSourceSeq.Number()
		assert.NoError(t, err)
	}
}

func checkDoc(t *testing.T, d *SchedulerDoc) {
	assert.Equal(t, "_replicator", d.Database)
	assert.Contains(t, []string{"running", "crashing", "error", "failed", "completed", "pending", "initializing"}, d.State)
	assert.False(t, d.LastUpdated.IsZero())
	switch d.State {
	case "crashing", "error", "failed":
		require.NotNil(t, d.Info)
		assert.NotEmpty(t, d.Info.Error)
		assert.NotContains(t, d.Info.Error.Line(), "\n")
	case "running":
		if d.Info != nil { // null right after a restart
			_, err := d.Info.ThroughSeq.Number()
			assert.NoError(t, err)
		}
	}
}

// TestDecodeEveryCapturedResponse decodes every real CouchDB 3.4.3 answer
// in ../shared/fixtures into its typed view.
func TestDecodeEveryCapturedResponse(t *testing.T) {
	dir := sharedFixtures(t)
	if dir == "" {
		t.Skip("../shared/fixtures/couchdb-3.4.3 is not beside this checkout")
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	sort.Strings(files)
	seen := map[string]int{}
	for _, f := range files {
		name := filepath.Base(f)
		kind := kindOf(name)
		t.Run(name, func(t *testing.T) {
			ft, ok := fixtureTypes[kind]
			require.True(t, ok, "no type decides how %q answers decode; add one to fixtureTypes", kind)
			data, err := os.ReadFile(f)
			require.NoError(t, err)
			ft.decode(t, data, ft.strict)
		})
		seen[kind]++
	}
	for _, k := range []string{"root", "up", "scheduler-jobs", "scheduler-docs", "active-tasks", "db-info", "dbs-info", "view-info", "system", "replicator-doc"} {
		assert.Positive(t, seen[k], "no %s fixture decoded", k)
	}
}
