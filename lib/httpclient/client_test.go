package httpclient

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/registry-checks/registry-checks/lib/nagios"
	"github.com/registry-checks/registry-checks/lib/secret"
	"github.com/registry-checks/registry-checks/lib/version"
)

const password = "s3cret-Pa55word"

func newClient(t *testing.T, opts Options, cfg Config) *Client {
	t.Helper()
	c, err := New(opts, cfg)
	require.NoError(t, err)
	return c
}

func problemOf(t *testing.T, err error) *nagios.Problem {
	t.Helper()
	require.Error(t, err)
	var p *nagios.Problem
	require.True(t, errors.As(err, &p), "want a *nagios.Problem, got %T: %v", err, err)
	assert.NotContains(t, p.Msg, "\n", "one line")
	assert.NotContains(t, p.Msg, password, "no secret in messages")
	return p
}

func TestGetJSONStatuses(t *testing.T) {
	tests := []struct {
		name       string
		handler    http.HandlerFunc
		creds      secret.Credentials
		wantStatus nagios.Status
		wantMsg    string
		wantCode   int
	}{
		{
			name: "401 names the user, not the password",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusUnauthorized)
				fmt.Fprint(w, `{"error":"unauthorized","reason":"Name or password is incorrect."}`)
			},
			creds:      secret.Credentials{User: "admin", Password: password},
			wantStatus: nagios.UNKNOWN,
			wantMsg:    "/_scheduler/docs: authentication failed for user admin: 401 Unauthorized (unauthorized: Name or password is incorrect.)",
			wantCode:   401,
		},
		{
			// CouchDB 3.4.3's answer to a right password of a user who is
			// not a server admin (seen on a real node, user monitor).
			name: "401 not a server admin: authenticated, not authorized",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusUnauthorized)
				fmt.Fprint(w, `{"error":"unauthorized","reason":"You are not a server admin."}`)
			},
			creds:      secret.Credentials{User: "monitor", Password: password},
			wantStatus: nagios.UNKNOWN,
			wantMsg:    "/_scheduler/docs: user monitor is not a server admin: _scheduler needs one (401 Unauthorized)",
			wantCode:   401,
		},
		{
			// The same answer without credentials.
			name: "401 not a server admin without credentials",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusUnauthorized)
				fmt.Fprint(w, `{"error":"unauthorized","reason":"You are not a server admin."}`)
			},
			wantStatus: nagios.UNKNOWN,
			wantMsg:    "/_scheduler/docs: no credentials given, and _scheduler needs a server admin (401 Unauthorized)",
			wantCode:   401,
		},
		{
			name: "401 without credentials",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(http.StatusUnauthorized)
			},
			wantStatus: nagios.UNKNOWN,
			wantMsg:    "authentication required and no credentials were given: 401 Unauthorized",
			wantCode:   401,
		},
		{
			name: "403",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusForbidden)
				fmt.Fprint(w, `{"error":"forbidden","reason":"You are not a server admin."}`)
			},
			creds:      secret.Credentials{User: "reader", Password: password},
			wantStatus: nagios.UNKNOWN,
			wantMsg:    "access denied for user reader: 403 Forbidden (forbidden: You are not a server admin.)",
			wantCode:   403,
		},
		{
			name: "500 is CRITICAL",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusInternalServerError)
				fmt.Fprint(w, `{"error":"unknown_error","reason":"function_clause\n  in couch_db"}`)
			},
			wantStatus: nagios.CRITICAL,
			wantMsg:    "server error 500 Internal Server Error (unknown_error: function_clause in couch_db)",
			wantCode:   500,
		},
		{
			name: "503 is CRITICAL",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(http.StatusServiceUnavailable)
			},
			wantStatus: nagios.CRITICAL,
			wantMsg:    "server error 503 Service Unavailable",
			wantCode:   503,
		},
		{
			name: "404 is UNKNOWN: wrong URL or missing database",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusNotFound)
				fmt.Fprint(w, `{"error":"not_found","reason":"Database does not exist."}`)
			},
			wantStatus: nagios.UNKNOWN,
			wantMsg:    "not found: 404 Not Found (not_found: Database does not exist.)",
			wantCode:   404,
		},
		{
			name: "redirect is reported with its Location",
			handler: func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, "/elsewhere?token="+password, http.StatusFound)
			},
			wantStatus: nagios.UNKNOWN,
			wantMsg:    "redirected (302) to http://127.0.0.1",
		},
		{
			name: "malformed JSON names the offset, not the body",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/html")
				fmt.Fprint(w, `<html>body-with-`+password+`</html>`)
			},
			wantStatus: nagios.UNKNOWN,
			wantMsg:    "invalid JSON at byte 1: invalid character '<' looking for beginning of value (Content-Type text/html)",
		},
		{
			name: "truncated JSON",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				fmt.Fprint(w, `{"status": "ok", "see`)
			},
			wantStatus: nagios.UNKNOWN,
			wantMsg:    "truncated or empty JSON answer",
		},
		{
			name: "wrong JSON type",
			handler: func(w http.ResponseWriter, r *http.Request) {
				fmt.Fprint(w, `{"status": 42}`)
			},
			wantStatus: nagios.UNKNOWN,
			wantMsg:    "unexpected JSON at byte 13: status: a number where a string belongs",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := httptest.NewServer(tt.handler)
			defer ts.Close()
			c := newClient(t, Options{}, Config{})
			var v struct {
				Status string `json:"status"`
			}
			err := c.GetJSON(context.Background(), ts.URL+"/_scheduler/docs", tt.creds, &v)
			p := problemOf(t, err)
			assert.Equal(t, tt.wantStatus, p.Status, p.Msg)
			assert.Contains(t, p.Msg, tt.wantMsg)
			assert.True(t, strings.HasPrefix(p.Msg, "GET "+ts.URL+"/_scheduler/docs: "), p.Msg)
			assert.False(t, p.Timeout)
			if tt.wantCode != 0 {
				var se *StatusError
				require.True(t, errors.As(err, &se))
				assert.Equal(t, tt.wantCode, se.Code)
			}
		})
	}
}

func TestGetJSONOK(t *testing.T) {
	var gotUA, gotUser, gotPass, gotAccept string
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotUA = r.Header.Get("User-Agent")
		gotUser, gotPass, _ = r.BasicAuth()
		gotAccept = r.Header.Get("Accept")
		fmt.Fprint(w, `{"status":"ok","seeds":{}}`)
	}))
	defer ts.Close()

	var v struct{ Status string }
	c := newClient(t, Options{}, Config{})
	require.NoError(t, c.GetJSON(context.Background(), ts.URL+"/_up", secret.Credentials{User: "admin", Password: password}, &v))
	assert.Equal(t, "ok", v.Status)
	assert.Equal(t, version.UserAgent(), gotUA)
	assert.True(t, strings.HasPrefix(gotUA, "registry-checks/"))
	assert.Equal(t, "admin", gotUser)
	assert.Equal(t, password, gotPass)
	assert.Equal(t, "application/json", gotAccept)

	c = newClient(t, Options{}, Config{UserAgent: "custom/1"})
	require.NoError(t, c.GetJSON(context.Background(), ts.URL+"/_up", secret.Credentials{}, &v))
	assert.Equal(t, "custom/1", gotUA)
	assert.Empty(t, gotUser)

	// The shared *http.Client sends it too (sinks, kivik).
	resp, err := c.HTTP().Get(ts.URL)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, "custom/1", gotUA)
}

func TestJSONAcceptsListedStatus(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `{"status":"maintenance_mode"}`)
	}))
	defer ts.Close()
	c := newClient(t, Options{}, Config{})
	var v struct{ Status string }
	code, err := c.JSON(context.Background(), http.MethodGet, ts.URL+"/_up", secret.Credentials{}, nil, &v, http.StatusNotFound)
	require.NoError(t, err)
	assert.Equal(t, 404, code)
	assert.Equal(t, "maintenance_mode", v.Status)
}

func TestJSONPostsBody(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		assert.Equal(t, http.MethodPost, r.Method)
		assert.Equal(t, "application/json", r.Header.Get("Content-Type"))
		var in struct{ Keys []string }
		assert.NoError(t, json.NewDecoder(r.Body).Decode(&in))
		fmt.Fprintf(w, `{"n":%d}`, len(in.Keys))
	}))
	defer ts.Close()
	c := newClient(t, Options{}, Config{})
	var out struct{ N int }
	_, err := c.JSON(context.Background(), http.MethodPost, ts.URL, secret.Credentials{}, map[string][]string{"keys": {"a", "b"}}, &out)
	require.NoError(t, err)
	assert.Equal(t, 2, out.N)
}

func TestRedirectFollowedWhenAllowed(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/old", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/new", http.StatusMovedPermanently) })
	mux.HandleFunc("/new", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, `{"status":"ok"}`) })
	ts := httptest.NewServer(mux)
	defer ts.Close()

	var v struct{ Status string }
	err := newClient(t, Options{}, Config{}).GetJSON(context.Background(), ts.URL+"/old", secret.Credentials{}, &v)
	p := problemOf(t, err)
	assert.Equal(t, "GET "+ts.URL+"/old: redirected (301) to "+ts.URL+"/new; point the URL at the final location", p.Msg)

	require.NoError(t, newClient(t, Options{}, Config{FollowRedirects: 1}).GetJSON(context.Background(), ts.URL+"/old", secret.Credentials{}, &v))
	assert.Equal(t, "ok", v.Status)
}

func TestConnectionRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())

	c := newClient(t, Options{}, Config{})
	u := "http://admin:" + password + "@" + addr + "/_scheduler/docs"
	err = c.GetJSON(context.Background(), u, secret.Credentials{}, &struct{}{})
	p := problemOf(t, err)
	assert.Equal(t, nagios.CRITICAL, p.Status)
	assert.Equal(t, "GET http://admin:xxxxx@"+addr+"/_scheduler/docs: connection refused", p.Msg)

	req, err := http.NewRequest(http.MethodGet, "http://"+addr+"/", nil)
	require.NoError(t, err)
	_, err = c.Do(context.Background(), req)
	p = problemOf(t, err)
	assert.Equal(t, "GET http://"+addr+"/: connection refused", p.Msg)
}

func TestBodyCap(t *testing.T) {
	huge := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"status":"%s"}`, strings.Repeat("x", 4096))
	}))
	defer huge.Close()
	endless := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"status":[`))
		chunk := []byte(`"` + strings.Repeat("y", 32<<10) + `",`)
		for r.Context().Err() == nil {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}))
	defer endless.Close()

	c := newClient(t, Options{}, Config{MaxBody: 1 << 10})
	var v struct{ Status string }
	for _, u := range []string{huge.URL, endless.URL} {
		p := problemOf(t, c.GetJSON(context.Background(), u+"/big", secret.Credentials{}, &v))
		assert.Equal(t, nagios.UNKNOWN, p.Status)
		assert.Equal(t, "GET "+u+"/big: response body is larger than the 1 KiB limit", p.Msg)
	}

	// Exactly the cap is fine.
	exact := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"status":"%s"}`, strings.Repeat("x", 1024-len(`{"status":""}`)))
	}))
	defer exact.Close()
	require.NoError(t, c.GetJSON(context.Background(), exact.URL, secret.Credentials{}, &v))

	// An endless body under a big cap ends at the context deadline.
	big := newClient(t, Options{}, Config{MaxBody: 1 << 40, MaxJSON: 1 << 40})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	p := problemOf(t, big.GetJSON(ctx, endless.URL+"/stream", secret.Credentials{}, &v))
	assert.True(t, p.Timeout, p.Msg)
	assert.Regexp(t, `^timeout after [0-9.]+s waiting for GET `+endless.URL+`/stream$`, p.Msg)
}

// JSON answers have their own, smaller cap: a JSON Content-Type at the
// transport (kivik's reads too), and anything JSON decodes, whatever its
// type; other bodies get MaxBody.
func TestJSONCap(t *testing.T) {
	body := `{"status":"` + strings.Repeat("x", 4096) + `"}`
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", r.URL.Query().Get("type"))
		fmt.Fprint(w, body)
	}))
	defer ts.Close()
	c := newClient(t, Options{}, Config{MaxBody: 1 << 20, MaxJSON: 1 << 10})
	assert.EqualValues(t, 1<<10, c.MaxJSON())
	var v struct{ Status string }
	for _, typ := range []string{"application/json", "text/plain", "application/octet-stream"} {
		u := ts.URL + "/?type=" + url.QueryEscape(typ)
		p := problemOf(t, c.GetJSON(context.Background(), u, secret.Credentials{}, &v))
		assert.Equal(t, nagios.UNKNOWN, p.Status, typ)
		assert.Equal(t, "GET "+u+": response body is larger than the 1 KiB limit", p.Msg, typ)
	}
	for typ, wantErr := range map[string]bool{"application/json": true, "application/vnd.api+json": true, "application/octet-stream": false} {
		req, err := http.NewRequest(http.MethodGet, ts.URL+"/?type="+url.QueryEscape(typ), nil)
		require.NoError(t, err)
		resp, err := c.Do(context.Background(), req)
		require.NoError(t, err)
		_, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		var tl *BodyTooLargeError
		assert.Equal(t, wantErr, errors.As(err, &tl), typ)
	}
	// A raw client (a probe) caps a JSON answer at MaxBody like any body.
	raw := newClient(t, Options{}, Config{MaxBody: 1 << 20, MaxJSON: 1 << 10, RawBodies: true})
	req, err := http.NewRequest(http.MethodGet, ts.URL+"/?type=application/json", nil)
	require.NoError(t, err)
	resp, err := raw.Do(context.Background(), req)
	require.NoError(t, err)
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	assert.Equal(t, body, string(got))
	// MaxJSON is never above MaxBody.
	assert.EqualValues(t, 512, newClient(t, Options{}, Config{MaxBody: 512}).MaxJSON())
}

func TestSlowServerTimeout(t *testing.T) {
	release := make(chan struct{})
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select { // headers never come
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer ts.Close()
	defer close(release)

	c := newClient(t, Options{}, Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	p := problemOf(t, c.GetJSON(ctx, ts.URL+"/_scheduler/jobs", secret.Credentials{}, &struct{}{}))
	assert.True(t, p.Timeout)
	assert.Equal(t, nagios.UNKNOWN, p.Status, "the run path applies --timeout-state")
	assert.Regexp(t, `^timeout after [0-9.]+s waiting for GET `+ts.URL+`/_scheduler/jobs$`, p.Msg)
	assert.True(t, errors.Is(p, context.DeadlineExceeded))
}

func TestTLS(t *testing.T) {
	certPEM, keyPEM := selfSigned(t)
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	require.NoError(t, err)
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"status":"ok"}`)
	}))
	ts.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	ts.Config.ErrorLog = log.New(io.Discard, "", 0) // the failed handshakes are expected
	ts.StartTLS()
	defer ts.Close()

	dir := t.TempDir()
	caFile := filepath.Join(dir, "ca.pem")
	require.NoError(t, os.WriteFile(caFile, certPEM, 0o600))

	var v struct{ Status string }
	p := problemOf(t, newClient(t, Options{}, Config{}).GetJSON(context.Background(), ts.URL+"/_up", secret.Credentials{}, &v))
	assert.Equal(t, nagios.CRITICAL, p.Status)
	assert.Contains(t, p.Msg, "GET "+ts.URL+"/_up: TLS certificate verification failed: ")
	assert.Contains(t, p.Msg, "certificate")
	assert.True(t, strings.HasSuffix(p.Msg, "(use --ca-file or --insecure)"), p.Msg)

	require.NoError(t, newClient(t, Options{CAFile: caFile}, Config{}).GetJSON(context.Background(), ts.URL+"/_up", secret.Credentials{}, &v))
	assert.Equal(t, "ok", v.Status)
	v.Status = ""
	require.NoError(t, newClient(t, Options{Insecure: true}, Config{}).GetJSON(context.Background(), ts.URL+"/_up", secret.Credentials{}, &v))
	assert.Equal(t, "ok", v.Status)

	// Plain HTTP spoken to an https:// URL of a TLS port, and the reverse.
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer plain.Close()
	p = problemOf(t, newClient(t, Options{}, Config{}).GetJSON(context.Background(), strings.Replace(plain.URL, "http:", "https:", 1), secret.Credentials{}, &v))
	assert.Contains(t, p.Msg, "TLS handshake failed")
}

func TestNewOptionErrors(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "x.pem")
	require.NoError(t, os.WriteFile(notPEM, []byte("hello"), 0o600))
	tests := []struct {
		opts Options
		want string
	}{
		{Options{CAFile: filepath.Join(dir, "missing.pem")}, "--ca-file " + filepath.Join(dir, "missing.pem") + ": no such file or directory"},
		{Options{CAFile: notPEM}, "--ca-file " + notPEM + ": no PEM certificate found in it"},
		{Options{CertFile: notPEM}, "--cert-file needs --key-file"},
		{Options{KeyFile: notPEM}, "--key-file needs --cert-file"},
		{Options{CertFile: notPEM, KeyFile: notPEM}, "--cert-file " + notPEM + " / --key-file " + notPEM + ": "},
	}
	for _, tt := range tests {
		_, err := New(tt.opts, Config{})
		require.Error(t, err)
		assert.Contains(t, err.Error(), tt.want)
	}
}

func TestClassifyErrors(t *testing.T) {
	u := "http://admin:" + password + "@db2:5984/_scheduler/docs"
	wrap := func(err error) error { return &url.Error{Op: "Get", URL: u, Err: err} }
	tests := []struct {
		name    string
		err     error
		status  nagios.Status
		timeout bool
		msg     string
	}{
		{"dns", wrap(&net.OpError{Op: "dial", Err: &net.DNSError{Err: "no such host", Name: "db2", IsNotFound: true}}), nagios.CRITICAL, false,
			"GET http://admin:xxxxx@db2:5984/_scheduler/docs: DNS lookup of db2 failed: no such host"},
		{"refused", wrap(&net.OpError{Op: "dial", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}), nagios.CRITICAL, false,
			"GET http://admin:xxxxx@db2:5984/_scheduler/docs: connection refused"},
		{"reset", wrap(&net.OpError{Op: "read", Err: os.NewSyscallError("read", syscall.ECONNRESET)}), nagios.CRITICAL, false,
			"GET http://admin:xxxxx@db2:5984/_scheduler/docs: connection reset by peer"},
		{"eof", wrap(errors.New("EOF: " + "x")), nagios.UNKNOWN, false,
			"GET http://admin:xxxxx@db2:5984/_scheduler/docs: EOF: x"},
		{"unexpected eof", wrap(fmt.Errorf("read: %w", io.ErrUnexpectedEOF)), nagios.CRITICAL, false,
			"GET http://admin:xxxxx@db2:5984/_scheduler/docs: the server closed the connection before a complete answer"},
		{"unknown CA", wrap(&tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}), nagios.CRITICAL, false,
			"GET http://admin:xxxxx@db2:5984/_scheduler/docs: TLS certificate verification failed: x509: certificate signed by unknown authority (use --ca-file or --insecure)"},
		{"deadline", wrap(context.DeadlineExceeded), nagios.UNKNOWN, true,
			"timeout waiting for GET http://admin:xxxxx@db2:5984/_scheduler/docs"},
		{"canceled", wrap(context.Canceled), nagios.UNKNOWN, false,
			"GET http://admin:xxxxx@db2:5984/_scheduler/docs: canceled"},
		{"other, multi-line, URL repeated by url.Error", wrap(errors.New("weird\n  failure")), nagios.UNKNOWN, false,
			"GET http://admin:xxxxx@db2:5984/_scheduler/docs: weird failure"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := Classify(http.MethodGet, u, nil, tt.err)
			require.NotNil(t, p)
			assert.Equal(t, tt.status, p.Status)
			assert.Equal(t, tt.timeout, p.Timeout)
			assert.Equal(t, tt.msg, p.Msg)
			assert.NotContains(t, p.Msg, password)
			assert.ErrorIs(t, p, tt.err)
		})
	}
	assert.Nil(t, Classify(http.MethodGet, u, &http.Response{StatusCode: 204}, nil))
	assert.Equal(t, "timeout after 2.5s waiting for GET http://db2:5984/",
		ClassifyAfter(2520*time.Millisecond, http.MethodGet, "http://db2:5984/", nil, context.DeadlineExceeded).Msg)
}

// selfSigned makes a certificate for 127.0.0.1 signed by itself.
func selfSigned(t *testing.T) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "registry-checks test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	kder, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
}
