package metrics

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	testPassword = "s3cret-pass"
	testToken    = "tok-abcdef123456"
)

var testPoints = []Point{
	{Measurement: "couch", Tags: map[string]string{"node": "db1"}, Fields: map[string]any{"up": true}, Time: time.Unix(1700000000, 5)},
	{Measurement: "couch", Tags: map[string]string{"node": "db2"}, Fields: map[string]any{"up": false}, Time: time.Unix(1700000000, 6)},
}

const testBody = "couch,node=db1 up=true 1700000000000000005\ncouch,node=db2 up=false 1700000000000000006\n"

// seenRequest is what the fake InfluxDB received.
type seenRequest struct {
	method, path string
	query        map[string][]string
	header       http.Header
	body         string
}

func fakeInflux(t *testing.T, status int, answer string, seen *seenRequest) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		*seen = seenRequest{method: r.Method, path: r.URL.Path, query: r.URL.Query(), header: r.Header.Clone(), body: string(b)}
		if answer != "" {
			w.Header().Set("Content-Type", "application/json")
		}
		w.WriteHeader(status)
		io.WriteString(w, answer)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestHTTPSinkRequest(t *testing.T) {
	tests := []struct {
		name       string
		cfg        HTTPConfig
		urlSuffix  string
		userinfo   string
		wantPath   string
		wantQuery  map[string][]string
		wantAuth   string // exact Authorization header
		wantNoAuth bool
	}{
		{name: "1.x no auth", cfg: HTTPConfig{DB: "registry_checks"},
			wantPath:   "/write",
			wantQuery:  map[string][]string{"db": {"registry_checks"}, "precision": {"ns"}},
			wantNoAuth: true},
		{name: "1.x basic auth and retention policy", cfg: HTTPConfig{DB: "rc", RP: "week", Username: "nagios", Password: testPassword},
			wantPath:  "/write",
			wantQuery: map[string][]string{"db": {"rc"}, "rp": {"week"}, "precision": {"ns"}},
			wantAuth:  "Basic bmFnaW9zOnMzY3JldC1wYXNz"},
		{name: "1.x credentials from the URL move to basic auth", cfg: HTTPConfig{DB: "rc"}, userinfo: "nagios:" + testPassword + "@",
			wantPath:  "/write",
			wantQuery: map[string][]string{"db": {"rc"}, "precision": {"ns"}},
			wantAuth:  "Basic bmFnaW9zOnMzY3JldC1wYXNz"},
		{name: "1.x behind a path prefix", cfg: HTTPConfig{DB: "rc"}, urlSuffix: "/influx/",
			wantPath:   "/influx/write",
			wantQuery:  map[string][]string{"db": {"rc"}, "precision": {"ns"}},
			wantNoAuth: true},
		{name: "2.x token", cfg: HTTPConfig{DB: "ignored", Org: "registry ops", Bucket: "checks/autogen", Token: testToken},
			wantPath:  "/api/v2/write",
			wantQuery: map[string][]string{"org": {"registry ops"}, "bucket": {"checks/autogen"}, "precision": {"ns"}},
			wantAuth:  "Token " + testToken},
		{name: "token beats username", cfg: HTTPConfig{DB: "rc", Username: "u", Password: "p", Token: testToken},
			wantPath:  "/write",
			wantQuery: map[string][]string{"db": {"rc"}, "precision": {"ns"}},
			wantAuth:  "Token " + testToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var seen seenRequest
			srv := fakeInflux(t, http.StatusNoContent, "", &seen)
			cfg := tt.cfg
			cfg.URL = strings.Replace(srv.URL, "http://", "http://"+tt.userinfo, 1) + tt.urlSuffix
			sink, err := NewHTTPSink(srv.Client(), cfg)
			require.NoError(t, err)
			assert.NotContains(t, sink.Endpoint(), testPassword)

			require.NoError(t, sink.Write(context.Background(), testPoints))

			assert.Equal(t, http.MethodPost, seen.method)
			assert.Equal(t, tt.wantPath, seen.path)
			assert.Equal(t, tt.wantQuery, seen.query)
			assert.Equal(t, "text/plain; charset=utf-8", seen.header.Get("Content-Type"))
			assert.True(t, strings.HasPrefix(seen.header.Get("User-Agent"), "registry-checks/"), seen.header.Get("User-Agent"))
			if tt.wantNoAuth {
				assert.Empty(t, seen.header.Values("Authorization"))
			} else {
				assert.Equal(t, tt.wantAuth, seen.header.Get("Authorization"))
			}
			assert.Equal(t, testBody, seen.body)
		})
	}
}

func TestHTTPSinkSendsNothingForNoPoints(t *testing.T) {
	var seen seenRequest
	srv := fakeInflux(t, http.StatusNoContent, "", &seen)
	sink, err := NewHTTPSink(srv.Client(), HTTPConfig{URL: srv.URL, DB: "rc"})
	require.NoError(t, err)
	require.NoError(t, sink.Write(context.Background(), []Point{{Measurement: "m"}}))
	assert.Empty(t, seen.method, "no request expected")
}

func TestHTTPSinkErrors(t *testing.T) {
	tests := []struct {
		name      string
		cfg       HTTPConfig
		status    int
		answer    string
		wantMsg   string // after "POST <endpoint>: "
		permanent bool
	}{
		{name: "1.x auth failure", cfg: HTTPConfig{DB: "rc", Username: "nagios", Password: testPassword},
			status: 401, answer: `{"error":"authorization failed"}`,
			wantMsg: "401 Unauthorized: authorization failed"},
		{name: "1.x missing database", cfg: HTTPConfig{DB: "rc"},
			status: 404, answer: `{"error":"database not found: \"rc\""}`,
			wantMsg: `404 Not Found: database not found: "rc"`},
		{name: "1.x partial write is permanent", cfg: HTTPConfig{DB: "rc"},
			status: 400, answer: `{"error":"partial write: field type conflict: input field \"up\" on measurement \"couch\" is type boolean, already exists as type float dropped=1"}`,
			wantMsg:   `400 Bad Request: partial write: field type conflict: input field "up" on measurement "couch" is type boolean, already exists as type float dropped=1`,
			permanent: true},
		{name: "2.x unprocessable is permanent", cfg: HTTPConfig{Org: "o", Bucket: "b", Token: testToken},
			status: 422, answer: `{"code":"unprocessable entity","message":"failure writing points to database: partial write: points beyond retention policy dropped=2"}`,
			wantMsg:   "422 Unprocessable Entity: failure writing points to database: partial write: points beyond retention policy dropped=2",
			permanent: true},
		{name: "2.x bad token", cfg: HTTPConfig{Org: "o", Bucket: "b", Token: testToken},
			status: 401, answer: `{"code":"unauthorized","message":"unauthorized access"}`,
			wantMsg: "401 Unauthorized: unauthorized access"},
		{name: "5xx with a proxy's HTML", cfg: HTTPConfig{DB: "rc"},
			status: 502, answer: "<html>\n<body>Bad Gateway</body></html>",
			wantMsg: "502 Bad Gateway: <html>"},
		{name: "503 with no body", cfg: HTTPConfig{DB: "rc"},
			status: 503, wantMsg: "503 Service Unavailable"},
		{name: "200 is not success", cfg: HTTPConfig{DB: "rc"},
			status: 200, answer: "welcome to the login page", wantMsg: "200 OK: welcome to the login page"},
		{name: "a server echoing the secret is redacted", cfg: HTTPConfig{DB: "rc", Username: "nagios", Password: testPassword},
			status: 403, answer: `{"error":"user nagios with password ` + testPassword + ` may not write"}`,
			wantMsg: "403 Forbidden: user nagios with password xxxxx may not write"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var seen seenRequest
			srv := fakeInflux(t, tt.status, tt.answer, &seen)
			cfg := tt.cfg
			cfg.URL = srv.URL
			sink, err := NewHTTPSink(srv.Client(), cfg)
			require.NoError(t, err)
			err = sink.Write(context.Background(), testPoints)
			require.Error(t, err)
			assert.Equal(t, "POST "+sink.Endpoint()+": "+tt.wantMsg, err.Error())
			assert.Equal(t, tt.permanent, IsPermanent(err))
			var we *WriteError
			require.ErrorAs(t, err, &we)
			assert.Equal(t, tt.status, we.StatusCode)
			assert.NotContains(t, err.Error(), testPassword)
			assert.NotContains(t, err.Error(), testToken)
		})
	}
}

func TestHTTPSinkCapsTheAnswer(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(500)
		// Far more than the cap; the write must still end with a short message.
		chunk := strings.Repeat("x", 1<<20)
		for range 64 {
			if _, err := io.WriteString(w, chunk); err != nil {
				return
			}
		}
	}))
	defer srv.Close()
	sink, err := NewHTTPSink(srv.Client(), HTTPConfig{URL: srv.URL, DB: "rc"})
	require.NoError(t, err)
	err = sink.Write(context.Background(), testPoints)
	require.Error(t, err)
	assert.Less(t, len(err.Error()), 500)
	assert.Contains(t, err.Error(), "500 Internal Server Error: xxx")
}

func TestHTTPSinkHonoursContext(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release // hang until the test ends: only the context can end the write
	}))
	defer srv.Close()
	defer close(release)
	sink, err := NewHTTPSink(srv.Client(), HTTPConfig{URL: srv.URL, DB: "rc"})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err = sink.Write(ctx, testPoints)
	require.Error(t, err)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Equal(t, "POST "+sink.Endpoint()+": context deadline exceeded", err.Error())
	assert.False(t, IsPermanent(err))
}

func TestHTTPSinkConnectionRefused(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens there any more
	sink, err := NewHTTPSink(nil, HTTPConfig{URL: "http://nagios:" + testPassword + "@" + strings.TrimPrefix(url, "http://"), DB: "rc"})
	require.NoError(t, err)
	err = sink.Write(context.Background(), testPoints)
	require.Error(t, err)
	assert.ErrorIs(t, err, syscall.ECONNREFUSED)
	assert.True(t, strings.HasPrefix(err.Error(), "POST "+url+"/write?db=rc&precision=ns: "), err.Error())
	assert.NotContains(t, err.Error(), testPassword)
	assert.False(t, IsPermanent(err))
}

func TestNewHTTPSinkRejectsBadConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  HTTPConfig
		want string
	}{
		{"no database", HTTPConfig{URL: "http://influx:8086"},
			"InfluxDB http://influx:8086: no database (1.x) or org and bucket (2.x) given"},
		{"bucket without org", HTTPConfig{URL: "http://influx:8086", Bucket: "b"},
			`InfluxDB http://influx:8086: the 2.x API needs both an org and a bucket (got org "", bucket "b")`},
		{"not a URL, password redacted", HTTPConfig{URL: "http://u:" + testPassword + "@host:99999999999/\x7f", DB: "rc"},
			`InfluxDB URL "http://u:xxxxx@host:99999999999/\x7f" is not a valid URL`},
		{"wrong scheme", HTTPConfig{URL: "udp://u:" + testPassword + "@influx:8089", DB: "rc"},
			`InfluxDB URL "udp://u:xxxxx@influx:8089": scheme must be http or https`},
		{"no host", HTTPConfig{URL: "http:///write", DB: "rc"},
			`InfluxDB URL "http:///write" has no host`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewHTTPSink(nil, tt.cfg)
			require.Error(t, err)
			assert.Equal(t, tt.want, err.Error())
			assert.NotContains(t, err.Error(), testPassword)
		})
	}
}

func TestIsPermanent(t *testing.T) {
	assert.False(t, IsPermanent(nil))
	assert.False(t, IsPermanent(errors.New("x")))
	assert.True(t, IsPermanent(errors.Join(errors.New("x"), &WriteError{StatusCode: 400})))
	assert.False(t, IsPermanent(&WriteError{StatusCode: 413}))
	assert.False(t, IsPermanent(&WriteError{StatusCode: 500}))
}
