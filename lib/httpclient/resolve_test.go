package httpclient

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseResolve(t *testing.T) {
	tests := []struct {
		rule    string
		want    map[string]string
		wantErr string
	}{
		{rule: "registry.example.com:443:127.0.0.1", want: map[string]string{"registry.example.com:443": "127.0.0.1:443"}},
		{rule: "Registry.Example.com:80:10.0.0.1,10.0.0.2", want: map[string]string{"registry.example.com:80": "10.0.0.1:80"}},
		{rule: "cdn:8443:[::1]", want: map[string]string{"cdn:8443": "[::1]:8443"}},
		{rule: "cdn:8443", wantErr: `--resolve "cdn:8443": want host:port:address`},
		{rule: "cdn:http:127.0.0.1", wantErr: `port "http" is not a port number`},
		{rule: ":443:127.0.0.1", wantErr: "want host:port:address"},
		{rule: "cdn:443:", wantErr: "want host:port:address"},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			got, err := ParseResolve([]string{tt.rule})
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestWithResolveConnectsElsewhereKeepingHost(t *testing.T) {
	var gotHost string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotHost = r.Host
		io.WriteString(w, strings.Repeat("x", 100))
	}))
	defer srv.Close()
	_, port, err := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))
	require.NoError(t, err)

	base := newClient(t, Options{}, Config{})
	rules, err := ParseResolve([]string{"registry.invalid:" + port + ":127.0.0.1"})
	require.NoError(t, err)
	c, err := base.With(func(cfg *Config) { cfg.Resolve = rules; cfg.MaxBody = 50 })
	require.NoError(t, err)
	assert.Equal(t, int64(50), c.MaxBody())
	assert.Equal(t, int64(DefaultMaxBody), base.MaxBody(), "the run's client is unchanged")

	req, err := http.NewRequest(http.MethodGet, "http://registry.invalid:"+port+"/ping", nil)
	require.NoError(t, err)
	resp, err := c.Do(context.Background(), req)
	require.NoError(t, err)
	_, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	var tooLarge *BodyTooLargeError
	assert.ErrorAs(t, err, &tooLarge, "the derived client has its own body cap")
	assert.Equal(t, "registry.invalid:"+port, gotHost)

	// The run's client has no rule: the name does not resolve.
	_, err = base.Do(context.Background(), req)
	p := problemOf(t, err)
	assert.Contains(t, p.Msg, "registry.invalid")
}
