package hostile_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/registry-checks/registry-checks/test/hostile"
)

// get GETs path of srv as user:password with a short deadline and returns
// the status, the body read (up to limit bytes) and the read error.
func get(t *testing.T, srv *hostile.Server, path string, limit int64) (*http.Response, []byte, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+path, nil)
	require.NoError(t, err)
	req.SetBasicAuth("monitor", "Sup3rSecret")
	hc := &http.Client{
		Transport:     &http.Transport{TLSClientConfig: &tls.Config{}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit))
	return resp, b, err
}

func TestCases(t *testing.T) {
	for _, c := range hostile.Cases() {
		t.Run(c.Name, func(t *testing.T) {
			srv := hostile.New(t, c.Name)
			resp, body, err := get(t, srv, "/_scheduler/docs?limit=1000", 4<<20)
			switch c.Name {
			case "refused", "self-signed-tls", "blackholed":
				require.Error(t, err)
				return
			case "trickle":
				require.Error(t, err)
				assert.True(t, errors.Is(err, context.DeadlineExceeded), "%v", err)
				return
			case "close-mid-body":
				require.ErrorIs(t, err, io.ErrUnexpectedEOF)
				return
			case "redirect-loop":
				require.NoError(t, err)
				assert.Equal(t, http.StatusFound, resp.StatusCode)
				assert.Equal(t, "/_scheduler/docs?limit=1000", resp.Header.Get("Location"))
				return
			case "huge", "gzip-bomb":
				require.NoError(t, err)
				assert.Len(t, body, 4<<20, "the body goes past the limit")
				return
			}
			require.NoError(t, err)
			var v any
			jerr := json.Unmarshal(body, &v)
			switch c.Name {
			case "401", "403", "404", "500", "503", "echo-401", "echo-500":
				assert.Equal(t, c.Name[len(c.Name)-3:], resp.Status[:3])
				require.NoError(t, jerr)
			case "null":
				assert.Equal(t, "null", string(body))
			case "empty-object":
				assert.Equal(t, "{}", string(body))
			case "truncated-json", "not-json", "empty-body":
				assert.Error(t, jerr)
			case "all-null":
				assert.Equal(t, map[string]any{"docs": nil, "offset": nil, "total_rows": nil}, v)
			default:
				require.NoError(t, jerr)
			}
			if strings.HasPrefix(c.Name, "echo") {
				assert.Contains(t, string(body), "monitor:Sup3rSecret")
				assert.Contains(t, string(body), "Basic bW9uaXRvcjpTdXAzclNlY3JldA==")
			}
		})
	}
}

// Every endpoint a binary reads answers in CouchDB's shape.
func TestEchoShapes(t *testing.T) {
	srv := hostile.New(t, "echo")
	for _, path := range []string{"/", "/_up", "/_scheduler/docs", "/_scheduler/jobs", "/_active_tasks",
		"/_all_dbs", "/_dbs_info", "/registry", "/_replicator/_all_docs?include_docs=true",
		"/registry/_design/app/_info", "/registry/left-pad", "/registry/_changes?descending=true&limit=1"} {
		resp, body, err := get(t, srv, path, 1<<20)
		require.NoError(t, err, path)
		assert.Equal(t, http.StatusOK, resp.StatusCode, path)
		var v any
		require.NoError(t, json.Unmarshal(body, &v), path)
		assert.Contains(t, string(body), "Sup3rSecret", path)
		assert.Contains(t, resp.Header.Get("X-Echo"), "Sup3rSecret", path)
	}
	var p struct {
		Versions map[string]struct {
			Dist struct{ Tarball string }
		}
	}
	_, body, err := get(t, srv, "/registry/left-pad", 1<<20)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(body, &p))
	tb := p.Versions["1.0.0"].Dist.Tarball
	require.True(t, strings.HasPrefix(tb, srv.URL+"/"), tb)
	resp, body, err := get(t, srv, strings.TrimPrefix(tb, srv.URL), 1<<20)
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "tarball of the hostile server\n", string(body))
	assert.Contains(t, resp.Header.Get("X-Tarball-Source"), "Sup3rSecret")
}

func TestUnknownCase(t *testing.T) {
	_, err := hostile.Start("no-such-case")
	assert.Error(t, err)
}
