package replication

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestExplain(t *testing.T) {
	const src, tgt = "http://127.0.0.1:15984/registry", "http://127.0.0.1:25984/registry"
	tests := []struct {
		raw    string
		reason string
		down   bool
	}{
		{"{replication_auth_error,\n    {session_request_failed,\"http://127.0.0.1:15984/_session\",\"admin\",\n        {conn_failed,{error,econnrefused}}}}", "source unreachable (connection refused)", true},
		{"{replication_auth_error,{session_request_failed,\"http://127.0.0.1:25984/_session\",\"admin\",{conn_failed,{error,nxdomain}}}}", "target unreachable (host not found)", false},
		{"{replication_auth_error,\n    {session_request_unauthorized,\"http://127.0.0.1:15984/_session\",\"mirror\"}}", "authentication failed at source for user mirror", false},
		{"db_not_found: could not open http://127.0.0.1:15984/no-such-db/", "source database missing", false},
		{"db_not_found: could not open http://127.0.0.1:25984/registry/", "target database missing", false},
		{`{db_not_found,<<"could not open http://127.0.0.1:15984/x/">>}`, "source database missing", false},
		{"Replication `6afa+continuous` specified by document `dup` already started, triggered by document `registry-from-node1` from db `_replicator`", "duplicate of replication doc registry-from-node1: delete one of them", false},
		{"Couldn't parse filter code from document app on `http://127.0.0.1:15984/registry/`  Error: {not_found,<<\"missing json key: filters\">>}", "filter not found or broken on source: Couldn't parse filter code", false},
		{"{changes_reader_died,{timeout,ibrowse_stream_cleanup}}", "changes feed from source died (timeout)", true},
		{"{http_request_failed,\"GET\",\"http://127.0.0.1:15984/registry/\",{error,{error,etimedout}}}", "source unreachable (timeout)", true},
		{"{unauthorized,<<\"unauthorized to access or create database http://127.0.0.1:25984/registry/\">>}", "not authorized at target", false},
		{"something\n   new", "something new", false},
	}
	for _, tt := range tests {
		t.Run(tt.reason, func(t *testing.T) {
			reason, down := explain(tt.raw, src, tgt)
			assert.Contains(t, reason, tt.reason)
			assert.Equal(t, tt.down, down)
		})
	}
}

func TestSelection(t *testing.T) {
	mk := func(db, id, src, tgt string, transient bool) Replication {
		r := Replication{Key: db + "/" + id, DocID: id, Database: db, Transient: transient}
		r.setEndpoints(src, tgt)
		return r
	}
	all := func() []Replication {
		return []Replication{
			mk("_replicator", "registry-from-db1", "http://db1:5984/registry/", "http://db2:5984/registry/", false),
			mk("_replicator", "small-001", "http://db1:5984/small-001", "http://db2:5984/small-001", false),
			mk("other/_replicator", "x", "http://db1:5984/registry", "http://db3:5984/registry", false),
			{Key: "transient:abc", Transient: true, sourceURL: "http://db1:5984/registry", targetURL: "http://db2:5984/registry-transient"},
		}
	}
	tests := []struct {
		name string
		sel  Selection
		keys []string
	}{
		{"default: _replicator and transient", Selection{}, []string{"_replicator/registry-from-db1", "_replicator/small-001", "transient:abc"}},
		{"no transient", Selection{NoTransient: true}, []string{"_replicator/registry-from-db1", "_replicator/small-001"}},
		{"db name glob", Selection{Source: "small-*"}, []string{"_replicator/small-001"}},
		{"URL glob spans slashes", Selection{Target: "http://db2:*/registry*"}, []string{"_replicator/registry-from-db1", "transient:abc"}},
		{"other replicator db", Selection{ReplicatorDBs: []string{"other/_replicator"}, NoTransient: true}, []string{"other/_replicator/x"}},
		{"doc ids, one missing", Selection{DocIDs: []string{"small-001", "gone"}}, []string{"_replicator/small-001", "_replicator/gone"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var keys []string
			for _, r := range selectReplications(all(), tt.sel) {
				keys = append(keys, r.Key)
			}
			assert.Equal(t, tt.keys, keys)
		})
	}
}

func TestDefinitionDropsServerFields(t *testing.T) {
	doc := json.RawMessage(`{"_id":"a","_rev":"2-x","source":"http://u:p@db1/r","target":"r","continuous":true,"owner":"admin",
		"_replication_state":"failed","_replication_state_time":"2026-11-26T02:57:06Z","_replication_state_reason":"dup","_replication_id":"x","_replication_stats":{}}`)
	def, err := Definition(doc)
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"source": "http://u:p@db1/r", "target": "r", "continuous": true, "owner": "admin"}, def)
}
