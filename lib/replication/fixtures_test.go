package replication

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/registry-checks/registry-checks/lib/couch"
	"github.com/registry-checks/registry-checks/lib/httpclient"
	"github.com/registry-checks/registry-checks/lib/replication/replicationtest"
	"github.com/registry-checks/registry-checks/lib/secret"
)

// The captured answers and the node serving them live in replicationtest,
// shared with the restart handler's tests.
var (
	capturedAt  = replicationtest.CapturedAt
	readFixture = replicationtest.Read
	fixtureDir  = replicationtest.Dir()
)

func fixtureServer(t testing.TB, node, situation string, extra map[string]func(w http.ResponseWriter, r *http.Request)) *httptest.Server {
	return replicationtest.Node(t, node, situation, extra)
}

func testClient(t testing.TB, url string) (*couch.Client, *httpclient.Client) {
	t.Helper()
	hc, err := httpclient.New(httpclient.Options{}, httpclient.Config{})
	require.NoError(t, err)
	c, err := couch.New(url, secret.Credentials{User: "admin", Password: "secret"}, hc)
	require.NoError(t, err)
	return c, hc
}

func byKey(rep Report) map[string]Replication {
	m := map[string]Replication{}
	for _, r := range rep.Replications {
		m[r.Key] = r
	}
	return m
}

func assessFixture(t testing.TB, node, situation string, sel Selection, th Thresholds) Report {
	t.Helper()
	ts := fixtureServer(t, node, situation, nil)
	c, _ := testClient(t, ts.URL)
	rep, err := Assess(context.Background(), c, sel, th, capturedAt(t, strings.TrimSuffix(situation, "")))
	require.NoError(t, err)
	return rep
}

func fixtureExists(name string) bool {
	_, err := os.Stat(filepath.Join(fixtureDir, name))
	return err == nil
}

// filterKeys answers POST _all_docs {"keys": [...]} with the rows of those
// keys (a missing one as CouchDB does), GET with every row.
