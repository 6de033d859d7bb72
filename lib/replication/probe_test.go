package replication

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/registry-checks/registry-checks/lib/replication/internal/synthnode"
)

// TestSeqLagRequests counts what the sequence lag costs: one update_seq
// per distinct source database, asked for in POST /_dbs_info batches of
// 100 where the server has it, else one GET per database.
func TestSeqLagRequests(t *testing.T) {
	tests := []struct {
		name         string
		n, sources   int
		noDBsInfo    bool
		missing      []string
		wantRequests map[string]int
	}{
		{name: "1,000 replications of 1,000 sources", n: 1000, wantRequests: map[string]int{
			// 10 of them are crashing: their lag is not measured.
			"POST /_dbs_info": 10,
		}},
		{name: "250 replications of 7 sources", n: 250, sources: 7, wantRequests: map[string]int{
			"POST /_dbs_info": 1,
		}},
		{name: "server without _dbs_info", n: 250, sources: 7, noDBsInfo: true, wantRequests: map[string]int{
			"POST /_dbs_info": 1, "GET /{source db}": 7,
		}},
		{name: "1,000 sources, server without _dbs_info", n: 1000, noDBsInfo: true, wantRequests: map[string]int{
			// The first batch tells: the other nine are not tried.
			"POST /_dbs_info": 1, "GET /{source db}": 990,
		}},
		{name: "a missing source is read with a GET", n: 250, sources: 7, missing: []string{"src-00003"}, wantRequests: map[string]int{
			"POST /_dbs_info": 1, "GET /{source db}": 1,
		}},
		{name: "one source, no batch", n: 20, sources: 1, wantRequests: map[string]int{
			"GET /{source db}": 1,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewUnstartedServer(nil)
			srv.Start()
			defer srv.Close()
			node := synthnode.New(tt.n, tt.sources, 500, srv.URL)
			node.NoDBsInfo = tt.noDBsInfo
			node.Missing = map[string]bool{}
			for _, m := range tt.missing {
				node.Missing[m] = true
			}
			srv.Config.Handler = node
			c, hc := testClient(t, srv.URL)
			rep, err := AssessWith(context.Background(), c, Selection{}, Thresholds{}, Probes{HTTP: hc, SeqLag: true}, time.Now())
			require.NoError(t, err)
			require.Len(t, rep.Replications, tt.n)

			got := node.Requests(false)
			pages := (tt.n + 499) / 500
			want := map[string]int{"GET /_scheduler/docs": pages, "GET /_scheduler/jobs": pages, "POST /_replicator/_all_docs": 1}
			for k, v := range tt.wantRequests {
				want[k] = v
			}
			assert.Equal(t, want, got)

			for _, r := range rep.Replications {
				switch {
				case r.State == Crashing:
					assert.False(t, r.SeqLag.Known, r.Key)
				case node.Missing[dbOf(r.sourceURL)]:
					assert.False(t, r.SeqLag.Known, r.Key)
					assert.Contains(t, r.SeqLag.Note, "GET "+r.sourceURL+": ", r.Key)
					assert.Contains(t, r.SeqLag.Note, "404", r.Key)
				default:
					assert.Equal(t, knownLag(0), r.SeqLag, r.Key)
				}
			}
		})
	}
}

func TestServerAndDB(t *testing.T) {
	tests := []struct {
		url, server, db string
		ok              bool
	}{
		{"http://db1:5984/registry", "http://db1:5984", "registry", true},
		{"https://db1/couch/registry", "https://db1/couch", "registry", true},
		{"http://db1:5984/a%2Fb", "http://db1:5984", "a/b", true},
		{"http://db1:5984/with%20space", "http://db1:5984", "with space", true},
		{"http://db1:5984/", "", "", false},
		{"http://db1:5984", "", "", false},
		{"http://db1:5984/_users", "", "", false},
		{"http://db1:5984/registry?x=1", "", "", false},
		{"http://u:p@db1:5984/registry", "", "", false},
		{"registry", "", "", false},
		{"ftp://db1/registry", "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			server, db, ok := serverAndDB(tt.url)
			assert.Equal(t, tt.ok, ok)
			assert.Equal(t, tt.server, server)
			assert.Equal(t, tt.db, db)
		})
	}
}
