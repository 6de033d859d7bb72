package replication

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/registry-checks/registry-checks/lib/couch"
)

func TestClassify(t *testing.T) {
	const src, tgt = "http://127.0.0.1:15984/registry", "http://127.0.0.1:25984/registry"
	const srv1, srv2 = "http://127.0.0.1:15984", "http://127.0.0.1:25984"
	tests := []struct {
		raw  string
		want Cause
	}{
		// The five forms of a dead source in outage-200, and the commit one.
		{"{replication_auth_error,\n    {session_request_failed,\"http://127.0.0.1:15984/_session\",\"admin\",\n        {conn_failed,{error,econnrefused}}}}", Cause{CauseSourceUnreachable, srv1, "connection refused"}},
		{"{replication_auth_error,\n    {session_request_failed,\"http://127.0.0.1:15984/_session\",\"admin\",\n        sel_conn_closed}}", Cause{CauseSourceUnreachable, srv1, "connection closed"}},
		{"{changes_req_failed,{error,{conn_failed,{error,econnrefused}}}}", Cause{CauseSourceUnreachable, srv1, "connection refused"}},
		{"{changes_req_failed,sel_conn_closed}", Cause{CauseSourceUnreachable, srv1, "connection closed"}},
		{"{changes_reader_died,{timeout,ibrowse_stream_cleanup}}", Cause{CauseSourceUnreachable, srv1, "timed out"}},
		{"Failure on source commit: {'EXIT',\n {http_request_failed,\"POST\",\n \"http://127.0.0.1:15984/registry/_ensure_full_commit\",\n {error,{error,{conn_failed,{error,econnrefused}}}}}}", Cause{CauseSourceUnreachable, srv1, "connection refused"}},
		// The target's side, DNS, a timeout, 1.x and PouchDB spellings.
		{"{replication_auth_error,{session_request_failed,\"http://127.0.0.1:25984/_session\",\"admin\",{conn_failed,{error,nxdomain}}}}", Cause{CauseTargetUnreachable, srv2, "host not found"}},
		{"Failure on target commit: {'EXIT',{http_request_failed,\"POST\",\"http://127.0.0.1:25984/registry/_ensure_full_commit\",{error,{error,{conn_failed,{error,econnrefused}}}}}}", Cause{CauseTargetUnreachable, srv2, "connection refused"}},
		{"{http_request_failed,\"GET\",\"http://127.0.0.1:15984/registry/\",{error,{error,etimedout}}}", Cause{CauseSourceUnreachable, srv1, "timed out"}},
		{"{checkpoint_commit_failure,{conn_failed,{error,econnrefused}}}", Cause{CauseSourceUnreachable, srv1, "connection refused"}},
		{"connect ECONNREFUSED 127.0.0.1:15984", Cause{CauseSourceUnreachable, srv1, "connection refused"}},
		{"getaddrinfo ENOTFOUND db1", Cause{CauseSourceUnreachable, srv1, "host not found"}},
		{"socket hang up", Cause{CauseSourceUnreachable, srv1, "connection reset"}},
		{"GET http://127.0.0.1:15984/registry: the server closed the connection before a complete answer", Cause{CauseSourceUnreachable, srv1, "connection closed"}},
		{"GET http://127.0.0.1:15984/registry: host unreachable", Cause{CauseSourceUnreachable, srv1, "no route to host"}},
		{"GET http://db1.example.org:5984/registry: DNS lookup of db1.example.org failed: no such host", Cause{CauseSourceUnreachable, srv1, "host not found"}},
		{"timeout after 2.0s waiting for GET http://127.0.0.1:15984/registry", Cause{CauseSourceUnreachable, srv1, "timed out"}},
		// Not the network.
		{"{replication_auth_error,\n    {session_request_unauthorized,\"http://127.0.0.1:15984/_session\",\"mirror\"}}", Cause{What: CauseSourceAuth, Detail: "user mirror"}},
		{"{replication_auth_error,{session_request_unauthorized,\"http://127.0.0.1:25984/_session\",\"writer\"}}", Cause{What: CauseTargetAuth, Detail: "user writer"}},
		// A database deleted while its replication runs, as CouchDB 3.4.3
		// says it (captured on a real node): revs_diff goes to the target,
		// the changes feed to the source. Neither error has a URL.
		{"{revs_diff_failed,404,\n                  {[{<<\"error\">>,<<\"not_found\">>},\n                    {<<\"reason\">>,<<\"Database does not exist.\">>}]}}", Cause{What: CauseTargetDBMissing, Detail: "HTTP 404"}},
		{"{changes_req_failed,404,#Fun<couch_replicator_httpc.0.11803075>}", Cause{What: CauseSourceDBMissing, Detail: "HTTP 404"}},
		{"{revs_diff_failed,401,{[{<<\"error\">>,<<\"unauthorized\">>}]}}", Cause{What: CauseTargetAuth, Detail: "HTTP 401"}},
		{"{bulk_docs_failed,403,{[{<<\"error\">>,<<\"forbidden\">>}]}}", Cause{What: CauseTargetDenied, Detail: "HTTP 403"}},
		{"{revs_diff_failed,500,{[{<<\"error\">>,<<\"unknown_error\">>}]}}", Cause{CauseTargetServerError, srv2, "HTTP 500"}},
		{"db_not_found: could not open http://127.0.0.1:15984/no-such-db/", Cause{What: CauseSourceDBMissing}},
		{"db_not_found: could not open http://127.0.0.1:25984/registry/", Cause{What: CauseTargetDBMissing}},
		{`{db_not_found,<<"could not open http://127.0.0.1:15984/x/">>}`, Cause{What: CauseSourceDBMissing}},
		{"Replication `6afa+continuous` specified by document `dup` already started, triggered by document `registry-from-node1` from db `_replicator`", Cause{What: CauseDuplicate, Detail: "same as registry-from-node1: delete one"}},
		{"Couldn't open document `_design/nosuch` from source database `http://127.0.0.1:15984/registry/`: {error,<<\"not_found\">>}", Cause{What: CauseFilterMissing, Detail: "_design/nosuch not found"}},
		{"Couldn't parse filter code from document app on `http://127.0.0.1:15984/registry/`  Error: {not_found,<<\"missing json key: filters\">>}", Cause{What: CauseFilterMissing, Detail: "no such filter in _design/app"}},
		{"Couldn't parse filter code from document app on `http://127.0.0.1:15984/registry/` Error: {compilation_error,<<\"SyntaxError\">>}", Cause{What: CauseFilterBroken, Detail: "_design/app"}},
		{"{unauthorized,<<\"unauthorized to access or create database http://127.0.0.1:25984/registry/\">>}", Cause{What: CauseTargetDenied}},
		{"{http_request_failed,\"GET\",\"http://127.0.0.1:15984/registry/\",{error,{code,503}}}", Cause{CauseSourceServerError, srv1, "HTTP 503"}},
		{"There was a problem getting docs.", Cause{CauseSourceRead, srv1, "documents not fetched"}},
		{"{tls_alert,{unknown_ca,\"TLS client: In state certify received SERVER ALERT: Fatal - Unknown CA\"}}", Cause{CauseTLS, srv1, "at source"}},
		// Something new: named by its first word, never printed raw.
		{"{something_new,\n   {<<\"x\">>}}", Cause{What: CauseOther, Detail: "something_new"}},
	}
	for _, tt := range tests {
		t.Run(tt.want.String(), func(t *testing.T) {
			c := classify(tt.raw, src, tgt)
			assert.Equal(t, tt.want, c, couch.OneLine(tt.raw))
			assert.NotContains(t, c.String(), "{")
			assert.Equal(t, tt.want.What == CauseSourceUnreachable, c.SourceDown())
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
