package promote

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/registry-checks/registry-checks/lib/couch"
	"github.com/registry-checks/registry-checks/lib/httpclient"
	"github.com/registry-checks/registry-checks/lib/nagios"
	"github.com/registry-checks/registry-checks/lib/promotion"
	"github.com/registry-checks/registry-checks/lib/replication/replicationtest"
	"github.com/registry-checks/registry-checks/lib/secret"
)

func serve(b []byte) func(w http.ResponseWriter, r *http.Request) {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(b)
	}
}

// The topology of the captured 3.4.3 nodes: node1 is the primary (its
// _all_dbs), node2 pulls registry from it with credentials in the source
// URL (its _replicator documents, the failing ones included). Only the
// replication of a selected database from the old primary is a pull to
// stop; the password of every document is handed back for the redactor.
func TestDiscoverOnCapturedNodes(t *testing.T) {
	old := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/_all_dbs" {
			serve([]byte(`["_replicator","_users","registry"]`))(w, r)
			return
		}
		w.WriteHeader(http.StatusNotFound)
	}))
	defer old.Close()
	doc := replicationtest.Read(t, "node2.replicator-doc.registry-from-node1.running.json")
	nw := replicationtest.Node(t, "node2", "bad-docs-70s", map[string]func(http.ResponseWriter, *http.Request){
		"GET /_replicator/registry-from-node1": serve(doc),
		"GET /registry":                        serve(replicationtest.Read(t, "node1.db-info.registry.json")),
	})
	hc, err := httpclient.New(httpclient.Options{}, httpclient.Config{})
	require.NoError(t, err)
	clients := map[string]*couch.Client{}
	for _, u := range []string{old.URL, nw.URL} {
		c, err := couch.New(u, secret.Credentials{User: "admin", Password: "secret"}, hc)
		require.NoError(t, err)
		clients[u] = c
	}
	topo, secrets, err := Discover(context.Background(), clients, old.URL, nw.URL, nil,
		promotion.Selection{ProbeDB: promotion.DefaultProbeDB}, []string{"http://127.0.0.1:15984"})
	require.NoError(t, err)
	assert.Equal(t, []string{"registry"}, topo.DBs)
	require.NotEmpty(t, topo.NewPulls)
	var ids []string
	for _, p := range topo.NewPulls {
		ids = append(ids, p.ID)
		assert.Equal(t, "registry", p.DB)
	}
	assert.Contains(t, ids, "registry-from-node1")
	assert.NotContains(t, ids, "missing-source-db", "its source database is not a selected one")
	assert.Contains(t, secrets, "secret")
}

// Issue 22: a node that answers 404 to everything (a wrong port, a
// proxy's default site) has no replication documents either: --plan must
// not call that "nothing to rewire". Discover fails, naming the node.
func TestDiscoverRefusesANodeThatIsNotCouchDB(t *testing.T) {
	old := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/_all_dbs":
			serve([]byte(`["_replicator","_users","registry"]`))(w, r)
		case "/registry":
			serve(replicationtest.Read(t, "node1.db-info.registry.json"))(w, r)
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	defer old.Close()
	notCouch := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNotFound)
		w.Write([]byte("<html>Not Found</html>"))
	}))
	defer notCouch.Close()
	hc, err := httpclient.New(httpclient.Options{}, httpclient.Config{})
	require.NoError(t, err)
	clients := map[string]*couch.Client{}
	for _, u := range []string{old.URL, notCouch.URL} {
		c, err := couch.New(u, secret.Credentials{User: "admin", Password: "secret"}, hc)
		require.NoError(t, err)
		clients[u] = c
	}
	for _, tc := range []struct{ name, nw, replica string }{{"new primary", notCouch.URL, ""}, {"replica", old.URL, notCouch.URL}} {
		t.Run(tc.name, func(t *testing.T) {
			var reps []string
			if tc.replica != "" {
				reps = []string{tc.replica}
			}
			_, _, err := Discover(context.Background(), clients, old.URL, tc.nw, reps, promotion.Selection{ProbeDB: promotion.DefaultProbeDB}, nil)
			require.Error(t, err)
			assert.Contains(t, err.Error()+nagiosMsg(err), promotion.Node(notCouch.URL))
		})
	}
}

func nagiosMsg(err error) string {
	if p, ok := err.(*nagios.Problem); ok {
		return p.Msg
	}
	return ""
}
