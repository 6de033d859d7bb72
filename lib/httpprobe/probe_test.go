package httpprobe

import (
	"bytes"
	"context"
	"crypto/sha512"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/registry-checks/registry-checks/lib/httpclient"
	"github.com/registry-checks/registry-checks/lib/httpprobe/probetest"
	"github.com/registry-checks/registry-checks/lib/nagios"
)

func newProber(t *testing.T, opts httpclient.Options) *Prober {
	t.Helper()
	hc, err := httpclient.New(opts, httpclient.Config{})
	require.NoError(t, err)
	return New(hc)
}

func problemOf(t *testing.T, err error) *nagios.Problem {
	t.Helper()
	var p *nagios.Problem
	require.True(t, errors.As(err, &p), "want a *nagios.Problem, got %T: %v", err, err)
	assert.NotContains(t, p.Msg, "\n")
	return p
}

func TestBody(t *testing.T) {
	body := bytes.Repeat([]byte("tarball!"), 1000) // 8000 bytes
	tests := []struct {
		name          string
		maxBytes      int64
		wantBytes     int64
		wantTruncated bool
	}{
		{name: "whole body", maxBytes: 1 << 20, wantBytes: 8000},
		{name: "exactly the bound", maxBytes: 8000, wantBytes: 8000},
		{name: "one byte short of the body", maxBytes: 7999, wantBytes: 7999, wantTruncated: true},
		{name: "headers only", maxBytes: 0, wantBytes: 0},
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Tarball-Source", "filesystem")
		w.Header().Set("Content-Length", "8000")
		w.Write(body)
	}))
	defer srv.Close()
	p := newProber(t, httpclient.Options{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := sha512.New()
			var steps []string
			resp, err := p.Do(context.Background(), Request{URL: srv.URL + "/a/-/a-1.0.0.tgz", MaxBytes: tt.maxBytes, Body: h, Step: func(s string) { steps = append(steps, s) }})
			require.NoError(t, err)
			assert.Equal(t, 200, resp.Status)
			assert.Equal(t, int64(8000), resp.ContentLength)
			assert.Equal(t, tt.wantBytes, resp.Bytes)
			assert.Equal(t, tt.wantTruncated, resp.Truncated)
			assert.Equal(t, "filesystem", resp.Header.Get("X-Tarball-Source"))
			assert.Nil(t, resp.TLS)
			if tt.wantBytes == 8000 {
				want := sha512.Sum512(body)
				assert.Equal(t, want[:], h.Sum(nil))
			}
			assert.Positive(t, resp.Timings.FirstByte)
			assert.GreaterOrEqual(t, resp.Timings.Total, resp.Timings.FirstByte)
			assert.Equal(t, "GET "+srv.URL+"/a/-/a-1.0.0.tgz", steps[0])
			if tt.maxBytes > 0 {
				assert.Equal(t, "the body of GET "+srv.URL+"/a/-/a-1.0.0.tgz", steps[len(steps)-1])
			}
		})
	}
}

func TestHostHeaderAndFreshConnections(t *testing.T) {
	var hosts []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hosts = append(hosts, r.Host)
	}))
	defer srv.Close()
	p := newProber(t, httpclient.Options{})
	ctx := context.Background()

	resp, err := p.Do(ctx, Request{URL: srv.URL, Host: "registry.example.com", Fresh: true})
	require.NoError(t, err)
	assert.False(t, resp.Timings.Reused)
	assert.Positive(t, resp.Timings.Connect)
	resp, err = p.Do(ctx, Request{URL: srv.URL, Fresh: true})
	require.NoError(t, err)
	assert.False(t, resp.Timings.Reused, "a fresh probe dials again")
	resp, err = p.Do(ctx, Request{URL: srv.URL})
	require.NoError(t, err)
	resp, err = p.Do(ctx, Request{URL: srv.URL})
	require.NoError(t, err)
	assert.True(t, resp.Timings.Reused, "a probe that is not fresh reuses the idle connection")
	assert.Zero(t, resp.Timings.Connect)
	assert.Equal(t, "registry.example.com", hosts[0])
	assert.Equal(t, strings.TrimPrefix(srv.URL, "http://"), hosts[1])
}

func TestRedirectIsTheAnswer(t *testing.T) {
	srv := httptest.NewServer(http.RedirectHandler("/elsewhere", http.StatusMovedPermanently))
	defer srv.Close()
	resp, err := newProber(t, httpclient.Options{}).Do(context.Background(), Request{URL: srv.URL + "/x", MaxBytes: 100})
	require.NoError(t, err)
	assert.Equal(t, 301, resp.Status)
	assert.Equal(t, "/elsewhere", resp.Header.Get("Location"))
}

func TestRefused(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	resp, err := newProber(t, httpclient.Options{}).Do(context.Background(), Request{URL: url + "/x"})
	p := problemOf(t, err)
	assert.Equal(t, nagios.CRITICAL, p.Status)
	assert.Equal(t, "GET "+url+"/x: connection refused", p.Msg)
	assert.Zero(t, resp.Status)
}

func TestTLS(t *testing.T) {
	now := time.Now()
	tests := []struct {
		name         string
		cert         probetest.Cert
		trustCA      bool
		insecure     bool
		wantErr      string
		wantDays     float64
		wantVerified bool
	}{
		{name: "expires in 5 days, trusted", cert: probetest.Cert{NotAfter: now.Add(5 * 24 * time.Hour)}, trustCA: true, wantDays: 5, wantVerified: true},
		{name: "expired, trusted CA", cert: probetest.Cert{NotAfter: now.Add(-2 * 24 * time.Hour)}, trustCA: true, wantErr: "TLS certificate verification failed: x509: certificate has expired", wantDays: -2},
		{name: "self-signed", cert: probetest.Cert{SelfSigned: true, NotAfter: now.Add(30 * 24 * time.Hour)}, wantErr: "TLS certificate verification failed: x509: certificate signed by unknown authority", wantDays: 30},
		{name: "self-signed, insecure", cert: probetest.Cert{SelfSigned: true, NotAfter: now.Add(30 * 24 * time.Hour)}, insecure: true, wantDays: 30},
		{name: "expired, insecure", cert: probetest.Cert{NotAfter: now.Add(-2 * 24 * time.Hour)}, insecure: true, wantDays: -2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := probetest.NewTLSServer(t, tt.cert, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
			opts := httpclient.Options{Insecure: tt.insecure}
			if tt.trustCA {
				opts.CAFile = srv.CAFile
			}
			resp, err := newProber(t, opts).Do(context.Background(), Request{URL: srv.URL + "/-/ping"})
			require.NotNil(t, resp.TLS, "the certificate is reported even when it fails verification")
			assert.InDelta(t, tt.wantDays, resp.TLS.DaysLeft(now), 0.01)
			assert.Equal(t, tt.wantVerified, resp.TLS.Verified)
			if tt.wantErr != "" {
				p := problemOf(t, err)
				assert.Equal(t, nagios.CRITICAL, p.Status)
				assert.Contains(t, p.Msg, tt.wantErr)
				assert.NotEmpty(t, resp.TLS.VerifyError)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, 200, resp.Status)
			assert.Positive(t, resp.Timings.TLS)
			assert.Equal(t, "CN=registry.test", resp.TLS.Subject)
			assert.NotEmpty(t, resp.TLS.Version)
		})
	}
}

// A slow origin: headers that never come, or a body that trickles, ends at
// the caller's deadline with the phase named.
func TestSlowServerNamesThePhase(t *testing.T) {
	tests := []struct {
		name    string
		handler http.HandlerFunc
		want    string
	}{
		{
			name: "headers never finish",
			handler: func(w http.ResponseWriter, r *http.Request) {
				<-r.Context().Done()
			},
			want: "waiting for response headers of GET ",
		},
		{
			name: "body trickles",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Length", "1000000")
				for {
					if _, err := w.Write([]byte("x")); err != nil {
						return
					}
					w.(http.Flusher).Flush()
					select {
					case <-r.Context().Done():
						return
					case <-time.After(20 * time.Millisecond):
					}
				}
			},
			want: "waiting for the body of GET ",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(tt.handler)
			defer srv.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			_, err := newProber(t, httpclient.Options{}).Do(ctx, Request{URL: srv.URL + "/slow.tgz", MaxBytes: 1 << 20, Body: io.Discard})
			p := problemOf(t, err)
			assert.True(t, p.Timeout)
			assert.Regexp(t, `^timeout after [0-9.]+s `+tt.want+`http://127\.0\.0\.1:[0-9]+/slow\.tgz`, p.Msg)
		})
	}
}
