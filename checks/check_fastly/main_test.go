package main

import (
	"bytes"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/registry-checks/registry-checks/lib/httpprobe/probetest"
)

const password = "fastly-Secret-77"

// fastlyLike answers like a shielded Fastly service: two hops.
func fastlyLike(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Served-By", "cache-iad-kiad7000001-IAD, cache-sjc-ksjc1000002-SJC")
	w.Header().Set("X-Cache", "MISS, HIT")
	w.Header().Set("X-Cache-Hits", "0, 3")
	w.Header().Set("Age", "42")
	w.Header().Set("X-Timer", "S1700000000.000000,VS0,VE1")
	if r.Header.Get("Fastly-Debug") == "1" {
		w.Header().Set("Fastly-Debug-TTL", "(H cache-sjc-ksjc1000002-SJC - - 42)")
		w.Header().Set("Fastly-Debug-Path", "(D cache-sjc-ksjc1000002-SJC 1700000000) (F cache-iad-kiad7000001-IAD 1699999990)")
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write([]byte(`{"ok":true}`))
}

func runCheck(t *testing.T, args ...string) (int, string) {
	t.Helper()
	var buf bytes.Buffer
	args = append(args, "--spool-dir="+t.TempDir())
	if !slices.Contains(args, "--state-dir") {
		// Never the packaged /var/lib/registry-checks, even as root.
		args = append(args, "--state-dir="+t.TempDir())
	}
	code := run(args, &buf)
	out := buf.String()
	assert.NotContains(t, out, password)
	return code, out
}

func line1(out string) string { return strings.SplitN(out, "\n", 2)[0] }

func TestHTTP(t *testing.T) {
	tests := []struct {
		name     string
		handler  http.HandlerFunc
		args     []string
		wantCode int
		line1    string // regular expression of the whole first line, perfdata cut
		want     []string
	}{
		{name: "shielded hit", handler: fastlyLike, args: []string{"-v"}, wantCode: 0,
			line1: `^FASTLY OK - /-/ping 200 HIT, [0-9.]+ms \| `,
			want:  []string{"\n  200 MISS, HIT via cache-iad-kiad7000001-IAD, cache-sjc-ksjc1000002-SJC hits 0, 3 Age 42, ", "'/-/ping cache_hit'=1;;;0;1", "'/-/ping hops'=2;;;0", "'/-/ping age'=42s;;;0", "'/-/ping cache_hits'=3;;;0", "'/-/ping dns'=", "'/-/ping connect'=", "'/-/ping ttfb'=", "'/-/ping time'="}},
		{name: "no CDN headers", handler: func(w http.ResponseWriter, r *http.Request) {}, wantCode: 2,
			line1: `^FASTLY CRITICAL - /-/ping not served through the CDN \(no CDN headers\) \| `,
			want:  []string{"the answer did not come through the CDN (DNS or --resolve pointing around it?)"}},
		{name: "unexpected status", handler: func(w http.ResponseWriter, r *http.Request) { w.Header().Set("X-Cache", "MISS"); w.WriteHeader(503) }, wantCode: 2,
			line1: `^FASTLY CRITICAL - /-/ping status 503 Service Unavailable, expected 200 \| `},
		{name: "expected statuses", handler: func(w http.ResponseWriter, r *http.Request) { w.Header().Set("X-Cache", "MISS"); w.WriteHeader(503) }, args: []string{"-e", "200, 503"}, wantCode: 0},
		{name: "header present passes", handler: fastlyLike, args: []string{"--header-present", "x-timer"}, wantCode: 0},
		{name: "header present fails", handler: fastlyLike, args: []string{"--header-present", "Strict-Transport-Security"}, wantCode: 2,
			line1: `^FASTLY CRITICAL - /-/ping header Strict-Transport-Security missing \| `},
		{name: "header equals fails", handler: fastlyLike, args: []string{"--header-equals", "Content-Type: application/octet-stream"}, wantCode: 2,
			want: []string{`header Content-Type is "application/json", expected "application/octet-stream"`}},
		{name: "header matches passes", handler: fastlyLike, args: []string{"--header-matches", `X-Cache: HIT$`}, wantCode: 0},
		{name: "header matches fails", handler: fastlyLike, args: []string{"--header-matches", `X-Cache: ^HIT`}, wantCode: 2,
			want: []string{`header X-Cache is "MISS, HIT", does not match ^HIT`}},
		{name: "fastly debug", handler: fastlyLike, args: []string{"--fastly-debug", "-v"}, wantCode: 0,
			want: []string{"Fastly-Debug-TTL: (H cache-sjc-ksjc1000002-SJC - - 42); Fastly-Debug-Path: (D cache-sjc-ksjc1000002-SJC 1700000000)"}},
		{name: "time threshold", handler: fastlyLike, args: []string{"-w", "@0:1000", "-c", "2000"}, wantCode: 1,
			line1: `^FASTLY WARNING - /-/ping took [0-9.]+ms \(thresholds @0:1000/2000 s\) \| `,
			want:  []string{"s;@0:1000;2000;0"}},
		{name: "bad expect", handler: fastlyLike, args: []string{"-e", "ok"}, wantCode: 3, want: []string{`FASTLY UNKNOWN - --expect "ok": "ok" is not an HTTP status code`}},
		{name: "bad regex", handler: fastlyLike, args: []string{"--header-matches", "X-Cache: ("}, wantCode: 3, want: []string{`--header-matches "X-Cache: ("`}},
		{name: "bad cert range", handler: fastlyLike, args: []string{"--cert-warning", "x"}, wantCode: 3, want: []string{"cert-warning"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(tt.handler)
			defer srv.Close()
			code, out := runCheck(t, append([]string{"-u", srv.URL + "/-/ping"}, tt.args...)...)
			assert.Equal(t, tt.wantCode, code, out)
			if tt.line1 != "" {
				assert.Regexp(t, tt.line1, line1(out))
			}
			for _, w := range tt.want {
				assert.Contains(t, out, w)
			}
		})
	}
}

func TestTLSCertificates(t *testing.T) {
	now := time.Now()
	tests := []struct {
		name     string
		cert     probetest.Cert
		trust    bool
		args     []string
		wantCode int
		line1    string // regular expression of the first line
		want     []string
	}{
		{name: "valid for a year", cert: probetest.Cert{}, trust: true, wantCode: 0, want: []string{"cert 365 days", "'/-/ping cert_days'=36", ";14:;7:"}},
		{name: "expires in 5 days: critical by default", cert: probetest.Cert{NotAfter: now.Add(5*24*time.Hour + time.Hour)}, trust: true, wantCode: 2,
			want: []string{"certificate expires in 5.0 days", "'/-/ping cert_days'=5.04;14:;7:"}},
		{name: "expires in 5 days: warning with --cert-critical 3:", cert: probetest.Cert{NotAfter: now.Add(5*24*time.Hour + time.Hour)}, trust: true, args: []string{"--cert-critical", "3:"}, wantCode: 1,
			want: []string{"certificate expires in 5.0 days"}},
		{name: "expired", cert: probetest.Cert{NotAfter: now.Add(-3 * 24 * time.Hour)}, trust: true, wantCode: 2,
			line1: `^FASTLY CRITICAL - /-/ping certificate expired 3\.0 days ago \(\d{4}-\d\d-\d\d\) \| `,
			want:  []string{"\n  GET https://127.0.0.1:", "TLS certificate verification failed: x509: certificate has expired", "cert_days'=-3"}},
		{name: "self-signed", cert: probetest.Cert{SelfSigned: true}, wantCode: 2,
			line1: `^FASTLY CRITICAL - /-/ping TLS certificate verification failed: x509: certificate signed by unknown authority \(use --ca-file or --insecure\) \| `},
		{name: "self-signed, --insecure", cert: probetest.Cert{SelfSigned: true}, args: []string{"--insecure"}, wantCode: 0,
			want: []string{"chain not verified (--insecure)", "'/-/ping tls'="}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := probetest.NewTLSServer(t, tt.cert, http.HandlerFunc(fastlyLike))
			args := []string{"-u", srv.URL + "/-/ping"}
			if tt.trust {
				args = append(args, "--ca-file", srv.CAFile)
			}
			code, out := runCheck(t, append(args, tt.args...)...)
			assert.Equal(t, tt.wantCode, code, out)
			if tt.line1 != "" {
				assert.Regexp(t, tt.line1, line1(out))
			}
			for _, w := range tt.want {
				assert.Contains(t, out, w)
			}
		})
	}
}

func TestResolve(t *testing.T) {
	var host string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host = r.Host
		fastlyLike(w, r)
	}))
	defer srv.Close()
	_, port, err := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))
	require.NoError(t, err)
	u := "http://registry.invalid:" + port + "/-/ping"

	code, out := runCheck(t, "-u", u, "--resolve", "registry.invalid:"+port+":127.0.0.1")
	assert.Equal(t, 0, code, out)
	assert.Equal(t, "registry.invalid:"+port, host, "the Host header stays the URL's")

	code, out = runCheck(t, "-u", u)
	assert.Equal(t, 2, code, out)
	assert.Contains(t, line1(out), "DNS lookup of registry.invalid failed")

	code, out = runCheck(t, "-u", u, "--resolve", "registry.invalid")
	assert.Equal(t, 3, code, out)
	assert.Contains(t, line1(out), `--resolve "registry.invalid": want host:port:address`)
}

func TestFreshness(t *testing.T) {
	modified := time.Now().Add(-10 * time.Minute).UTC()
	yearsAgo := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name           string
		cdnDoc         map[string]any
		originRev      string
		originModified time.Time // modified when zero
		args           []string
		wantCode       int
		line1          string // regular expression
		want           []string
	}{
		{name: "same _rev", cdnDoc: map[string]any{"_rev": "3-c", "time": map[string]string{"modified": modified.Format(time.RFC3339Nano)}}, originRev: "3-c", wantCode: 0,
			line1: `^FASTLY OK - /left-pad-lite 200 HIT, [0-9.]+ms, fresh \| `,
			want:  []string{"'/left-pad-lite stale'=0s;300;;0"}},
		// The origin's time.modified is newer than the served copy's (none):
		// a change 10 minutes ago at least.
		{name: "older _rev for 10 minutes", cdnDoc: map[string]any{"_rev": "2-b"}, originRev: "3-c", wantCode: 1,
			line1: `^FASTLY WARNING - /left-pad-lite stale for at least 10m0s \| `,
			want:  []string{"packument left-pad-lite: CDN _rev 2-b, time.modified none; origin _rev 3-c, time.modified ", "'/left-pad-lite stale'=600."}},
		{name: "stale but under the threshold", cdnDoc: map[string]any{"_rev": "2-b"}, originRev: "3-c", args: []string{"--stale-warning", "3600"}, wantCode: 0,
			line1: `^FASTLY OK - /left-pad-lite 200 HIT, [0-9.]+ms, stale for at least 10m0s \| `},
		{name: "no _rev: time.modified", cdnDoc: map[string]any{"time": map[string]string{"modified": modified.Add(-time.Hour).Format(time.RFC3339Nano)}}, originRev: "3-c", args: []string{"--stale-critical", "60"}, wantCode: 2,
			line1: `^FASTLY CRITICAL - /left-pad-lite stale for at least 10m0s \| `,
			want:  []string{"CDN _rev none, time.modified "}},
		// Issue 17: changed at the origin without touching time.modified
		// (a dist-tag move), time.modified 2.9 years old. Nothing dates the
		// change: this first sighting is a lower bound of 0, not 2.9 years.
		{name: "changed without touching time.modified", cdnDoc: map[string]any{"_rev": "1-a", "time": map[string]string{"modified": yearsAgo.Format(time.RFC3339Nano)}},
			originRev: "2-b", originModified: yearsAgo, wantCode: 0,
			line1: `^FASTLY OK - /left-pad-lite 200 HIT, [0-9.]+ms, stale for at least 0s \| `,
			want:  []string{"'/left-pad-lite stale'=0s;300;;0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cdnSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("X-Cache", "HIT")
				json.NewEncoder(w).Encode(tt.cdnDoc)
			}))
			defer cdnSrv.Close()
			originModified := tt.originModified
			if originModified.IsZero() {
				originModified = modified
			}
			couchSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if u, p, _ := r.BasicAuth(); u != "monitor" || p != password || r.URL.Path != "/registry/left-pad-lite" {
					w.WriteHeader(http.StatusUnauthorized)
					return
				}
				w.Header().Set("Content-Type", "application/json")
				json.NewEncoder(w).Encode(map[string]any{"_id": "left-pad-lite", "_rev": tt.originRev, "time": map[string]string{"modified": originModified.Format(time.RFC3339Nano)}})
			}))
			defer couchSrv.Close()
			creds := filepath.Join(t.TempDir(), "creds")
			require.NoError(t, os.WriteFile(creds, []byte("monitor:"+password+"\n"), 0o600))
			code, out := runCheck(t, append([]string{"-v", "--packument", cdnSrv.URL + "/left-pad-lite", "--couch-url", couchSrv.URL, "--couch-credentials-file", creds}, tt.args...)...)
			assert.Equal(t, tt.wantCode, code, out)
			assert.Regexp(t, tt.line1, line1(out))
			for _, w := range tt.want {
				assert.Contains(t, out, w)
			}
		})
	}
}

// The lower bound grows from run to run, remembered in --state-dir.
func TestFreshnessBoundGrowsAcrossRuns(t *testing.T) {
	cdnSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Cache", "HIT")
		w.Write([]byte(`{"_rev":"1-a","time":{"modified":"2024-01-02T03:04:05Z"}}`))
	}))
	defer cdnSrv.Close()
	couchSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"_id":"left-pad-lite","_rev":"2-b","time":{"modified":"2024-01-02T03:04:05Z"}}`))
	}))
	defer couchSrv.Close()
	state := t.TempDir()
	args := []string{"--packument", cdnSrv.URL + "/left-pad-lite", "--couch-url", couchSrv.URL, "--state-dir", state, "--stale-warning", "0"}
	code, out := runCheck(t, args...)
	assert.Equal(t, 0, code, out)
	files, err := filepath.Glob(filepath.Join(state, "check_fastly", "*.json"))
	require.NoError(t, err)
	require.Len(t, files, 1, out)
	// Wait until a whole second has passed since the first sighting, not
	// a fixed time: the bound is printed to the second.
	b, err := os.ReadFile(files[0])
	require.NoError(t, err)
	var s struct {
		FirstSeen time.Time `json:"first_seen"`
	}
	require.NoError(t, json.Unmarshal(b, &s))
	for time.Since(s.FirstSeen) < 1100*time.Millisecond {
		time.Sleep(50 * time.Millisecond)
	}
	code, out = runCheck(t, args...)
	assert.Equal(t, 1, code, out)
	assert.Regexp(t, `^FASTLY WARNING - /left-pad-lite stale for at least [1-9][0-9.]*s \| `, line1(out))
}

func TestSlowCDNTimeout(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	defer srv.Close()
	code, out := runCheck(t, "-t", "1s", "-u", srv.URL+"/-/ping")
	assert.Equal(t, 2, code, out)
	assert.Regexp(t, `^FASTLY CRITICAL - /-/ping timeout after [0-9.]+s waiting for response headers \| `, line1(out))
	assert.Regexp(t, `\n  timeout after [0-9.]+s waiting for response headers of GET `+regexp.QuoteMeta(srv.URL+"/-/ping")+"\n", out)
}

// A URL without http(s):// is a bad argument named by its option, not a
// CRITICAL probe failure of "unsupported protocol scheme".
func TestBadURLIsBadArgument(t *testing.T) {
	for _, args := range [][]string{
		{"--url", "127.0.0.1:18080/ping"},
		{"--packument", "x y"},
	} {
		code, out := runCheck(t, args...)
		assert.Equal(t, 3, code, out)
		assert.Equal(t, "FASTLY UNKNOWN - "+args[0]+" \""+args[1]+"\": not an http:// or https:// URL with a host", line1(out))
	}
}
