package stack

import (
	"encoding/json"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/registry-checks/registry-checks/test/stackenv"
)

// TestRealCouchDBIntegration: on a stack with a CouchDB release, the three
// nodes are Apache CouchDB with what operators run: its version, default
// sharding (q=2), a registry of realistic size on every node (replicas hold
// a full copy when "up" returns), and a reader who is no server admin but
// reads the registry and writes heartbeats; the release itself is never
// written to. On PouchDB Server there is
// nothing of this to check.
func TestRealCouchDBIntegration(t *testing.T) {
	env := stackenv.Need(t, "COUCH_PRIMARY_URL", "COUCH_REPLICA1_URL", "COUCH_REPLICA2_URL",
		"COUCH_ADMIN_USER", "COUCH_ADMIN_PASSWORD", "COUCH_SERVER", "COUCH_SERVER_VERSION")
	if !stackenv.RealCouchDB(env) {
		t.Skipf("the stack runs PouchDB Server %s: no CouchDB release found (COUCHDB_HOME or ../shared/couchdb-3.4.3)", env["COUCH_SERVER_VERSION"])
	}
	require.NotEmpty(t, env["COUCH_READER_USER"])
	for _, url := range []string{env["COUCH_PRIMARY_URL"], env["COUCH_REPLICA1_URL"], env["COUCH_REPLICA2_URL"]} {
		admin := couch{url: url, user: env["COUCH_ADMIN_USER"], password: env["COUCH_ADMIN_PASSWORD"]}
		reader := couch{url: url, user: env["COUCH_READER_USER"], password: env["COUCH_READER_PASSWORD"]}

		code, body := admin.do(t, http.MethodGet, "/", nil)
		require.Equal(t, http.StatusOK, code, string(body))
		var root struct{ Couchdb, Version string }
		require.NoError(t, json.Unmarshal(body, &root))
		assert.Equal(t, "Welcome", root.Couchdb, url)
		assert.Equal(t, env["COUCH_SERVER_VERSION"], root.Version, url)

		code, body = admin.do(t, http.MethodGet, "/registry", nil)
		require.Equal(t, http.StatusOK, code, string(body))
		var info struct {
			DocCount int `json:"doc_count"`
			Cluster  struct{ Q, N int }
		}
		require.NoError(t, json.Unmarshal(body, &info))
		assert.GreaterOrEqual(t, info.DocCount, 100000, "%s/registry: a registry of realistic size", url)
		assert.Equal(t, 2, info.Cluster.Q, "%s/registry: CouchDB's default sharding", url)
		assert.Equal(t, 1, info.Cluster.N, url)

		// The reader is no server admin: the scheduler is closed to it.
		code, body = reader.do(t, http.MethodGet, "/_scheduler/docs", nil)
		assert.Equal(t, http.StatusUnauthorized, code, "%s/_scheduler/docs as %s: %s", url, reader.user, body)
		assert.Contains(t, string(body), "You are not a server admin.")
		code, body = reader.do(t, http.MethodGet, "/registry/left-pad-lite", nil)
		assert.Equal(t, http.StatusOK, code, "%s/registry as the reader: %s", url, body)
		code, body = reader.do(t, http.MethodGet, "/heartbeat", nil)
		assert.Equal(t, http.StatusOK, code, "%s/heartbeat as the reader: %s", url, body)
	}
	// The release the nodes run from is never written to: each node's
	// config, logs and data live under the stack's folder.
	home := env["COUCHDB_HOME"]
	require.NotEmpty(t, home)
	since, err := os.Stat(filepath.Join(stackenv.Dir(), "couch-server.env"))
	require.NoError(t, err)
	var written []string
	require.NoError(t, filepath.WalkDir(home, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if info, err := d.Info(); err == nil && info.ModTime().After(since.ModTime()) {
			written = append(written, path)
		}
		return nil
	}))
	assert.Empty(t, written, "files of COUCHDB_HOME %s written since the stack chose it", home)

	// The reader writes heartbeats into the primary's heartbeat database.
	reader := couch{url: env["COUCH_PRIMARY_URL"], user: env["COUCH_READER_USER"], password: env["COUCH_READER_PASSWORD"]}
	code, body := reader.do(t, http.MethodPut, "/heartbeat/stack-test-reader", map[string]any{"at": "now"})
	require.Contains(t, []int{http.StatusCreated, http.StatusConflict}, code, string(body))
	admin := primaryFrom(env)
	code, body = admin.do(t, http.MethodGet, "/heartbeat/stack-test-reader", nil)
	require.Equal(t, http.StatusOK, code, string(body))
	var doc struct {
		Rev string `json:"_rev"`
	}
	require.NoError(t, json.Unmarshal(body, &doc))
	code, body = admin.do(t, http.MethodDelete, "/heartbeat/stack-test-reader?rev="+doc.Rev, nil)
	assert.Equal(t, http.StatusOK, code, string(body))
}
