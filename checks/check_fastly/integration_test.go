package main

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/registry-checks/registry-checks/lib/httpclient"
	"github.com/registry-checks/registry-checks/lib/secret"
	"github.com/registry-checks/registry-checks/test/stackenv"
)

// fields reads the perfdata value of label from the output ("" when absent).
func perfValue(out, label string) string {
	i := strings.Index(out, "'"+label+"'=")
	if i < 0 {
		return ""
	}
	v := out[i+len(label)+3:]
	end := strings.IndexAny(v, "; \n")
	if end < 0 {
		return v
	}
	return strings.TrimRight(v[:end], "s")
}

// HIT after MISS, then Age growing, through the stack's Varnish with the
// Fastly-like VCL; a cache key of its own keeps other tests' hits out.
func TestCacheIntegration(t *testing.T) {
	env := stackenv.Need(t, "CDN_URL")
	u := fmt.Sprintf("%s/left-pad-lite/-/left-pad-lite-1.0.0.tgz?run=%d", env["CDN_URL"], time.Now().UnixNano())
	label := "/left-pad-lite/-/left-pad-lite-1.0.0.tgz"

	code, out := runCheck(t, "-v", "-u", u, "--header-equals", "X-Tarball-Source: filesystem")
	require.Equal(t, 0, code, out)
	assert.Regexp(t, `^FASTLY OK - /left-pad-lite/-/left-pad-lite-1\.0\.0\.tgz 200 MISS, [0-9.]+ms \| `, line1(out))
	assert.Contains(t, out, " MISS via cache-")
	assert.Equal(t, "0", perfValue(out, label+" cache_hit"), out)

	code, out = runCheck(t, "-v", "-u", u, "--header-matches", "X-Cache: HIT$")
	require.Equal(t, 0, code, out)
	assert.Contains(t, out, " HIT via cache-")
	assert.Equal(t, "1", perfValue(out, label+" cache_hit"), out)
	hits, err := strconv.Atoi(perfValue(out, label+" cache_hits"))
	require.NoError(t, err, out)
	assert.GreaterOrEqual(t, hits, 1)

	// Age is whole seconds: poll, bounded, until it has grown.
	first, err := strconv.Atoi(perfValue(out, label+" age"))
	require.NoError(t, err, out)
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, out = runCheck(t, "-u", u)
		require.Equal(t, 0, code, out)
		age, err := strconv.Atoi(perfValue(out, label+" age"))
		require.NoError(t, err, out)
		if age > first {
			break
		}
		require.True(t, time.Now().Before(deadline), "Age stayed at %d for 10s: %s", age, out)
		time.Sleep(200 * time.Millisecond)
	}
}

// primaryDoc creates a document of its own in the stack primary's registry
// database, deleted when the test ends, and returns its id and a put that
// writes the next revision of doc and returns its _rev.
func primaryDoc(t *testing.T, env map[string]string, prefix string, doc map[string]any) (id string, put func() string) {
	t.Helper()
	creds, err := secret.LoadFile(env["COUCH_CREDENTIALS_FILE"])
	require.NoError(t, err)
	hc, err := httpclient.New(httpclient.Options{}, httpclient.Config{})
	require.NoError(t, err)
	ctx := context.Background()
	id = fmt.Sprintf("%s-%d", prefix, time.Now().UnixNano())
	docURL := env["COUCH_PRIMARY_URL"] + "/registry/" + id
	doc["name"] = id
	put = func() string {
		t.Helper()
		var r struct {
			Rev string `json:"rev"`
		}
		_, err := hc.JSON(ctx, http.MethodPut, docURL, creds, doc, &r)
		require.NoError(t, err)
		doc["_rev"] = r.Rev
		return r.Rev
	}
	t.Cleanup(func() {
		var cur struct {
			Rev string `json:"_rev"`
		}
		if hc.GetJSON(ctx, docURL, creds, &cur) == nil {
			_, _ = hc.JSON(ctx, http.MethodDelete, docURL+"?rev="+cur.Rev, creds, nil, nil)
		}
	})
	return id, put
}

// The CDN keeps serving the old packument after an update at the primary
// (metadata is cached briefly): the check sees the stale _rev.
func TestStaleMetadataIntegration(t *testing.T) {
	env := stackenv.Need(t, "CDN_URL", "COUCH_PRIMARY_URL", "COUCH_CREDENTIALS_FILE")
	doc := map[string]any{"time": map[string]string{"modified": time.Now().UTC().Format(time.RFC3339Nano)}}
	id, put := primaryDoc(t, env, "fastly-fresh", doc)
	rev1 := put()
	args := []string{"-v", "--packument", env["CDN_URL"] + "/" + id, "--couch-url", env["COUCH_PRIMARY_URL"],
		"--couch-credentials-file", env["COUCH_CREDENTIALS_FILE"], "--stale-warning", "0"}

	code, out := runCheck(t, args...)
	require.Equal(t, 0, code, out)
	assert.Regexp(t, `^FASTLY OK - /`+id+` 200 (MISS|HIT), [0-9.]+ms, fresh \| `, line1(out))
	assert.Contains(t, out, "CDN _rev "+rev1+", time.modified ")

	// Update at the primary; the CDN still has the first revision cached.
	doc["time"] = map[string]string{"modified": time.Now().UTC().Format(time.RFC3339Nano)}
	rev2 := put()
	code, out = runCheck(t, args...)
	assert.Equal(t, 1, code, out)
	assert.Regexp(t, `^FASTLY WARNING - /`+id+` stale for at least [0-9.]+m?s \| `, line1(out))
	assert.Contains(t, out, "CDN _rev "+rev1+", time.modified ")
	assert.Contains(t, out, "origin _rev "+rev2+", time.modified ")
	assert.Contains(t, out, "the origin's time.modified, newer than the served copy's")
}

// Issue 17 on the stack: a packument changed at the primary without
// touching time.modified (a dist-tag move). The first run that sees the
// difference does not invent a date (at least 0s); a later run, with the
// CDN still serving the old copy (packument TTL 10s), has a lower bound
// that grew, remembered in --state-dir, and the CDN's Age as the upper
// bound, since Varnish fetches packuments from this primary.
func TestStaleUndatedChangeIntegration(t *testing.T) {
	env := stackenv.Need(t, "CDN_URL", "COUCH_PRIMARY_URL", "COUCH_CREDENTIALS_FILE")
	doc := map[string]any{"dist-tags": map[string]string{"latest": "1.0.0"}, "time": map[string]string{"modified": "2024-01-02T03:04:05.000Z"}}
	id, put := primaryDoc(t, env, "fastly-undated", doc)
	put()
	args := []string{"-v", "--packument", env["CDN_URL"] + "/" + id, "--couch-url", env["COUCH_PRIMARY_URL"],
		"--couch-credentials-file", env["COUCH_CREDENTIALS_FILE"], "--state-dir", t.TempDir(), "--stale-warning", "0"}
	code, out := runCheck(t, args...)
	require.Equal(t, 0, code, out)
	require.Contains(t, line1(out), ", fresh", out)
	refreshed := func(out string) {
		if strings.Contains(line1(out), ", fresh") {
			t.Skipf("the CDN refreshed its copy meanwhile (packument TTL 10s on a loaded machine): %s", out)
		}
	}

	// A dist-tag move: time.modified untouched.
	doc["dist-tags"] = map[string]string{"latest": "2.0.0"}
	put()
	first := time.Now()
	code, out = runCheck(t, args...)
	refreshed(out)
	require.Equal(t, 0, code, out)
	assert.Regexp(t, `^FASTLY OK - /`+id+` 200 HIT, [0-9.]+ms, stale for at least 0s \| `, line1(out))
	assert.Contains(t, out, "this check sees the difference for the first time")

	// The bound is printed to the tenth: wait until it must show.
	for time.Since(first) < 1500*time.Millisecond {
		time.Sleep(100 * time.Millisecond)
	}
	code, out = runCheck(t, args...)
	refreshed(out)
	assert.Equal(t, 1, code, out)
	assert.Regexp(t, `^FASTLY WARNING - /`+id+` stale for at least [1-9][0-9.]*s \| `, line1(out))
	assert.Contains(t, out, "this check first saw the CDN serve this copy while the origin had another")
	assert.Regexp(t, `the CDN fetched its copy [0-9.]+s ago \(Age\): stale for less than [0-9.]+s if it fetches from this origin`, out)
}

// The ping endpoint through the CDN, and the same Varnish reached with
// --resolve under a public name.
func TestPingAndResolveIntegration(t *testing.T) {
	env := stackenv.Need(t, "CDN_URL")
	code, out := runCheck(t, "-u", env["CDN_URL"]+"/_ping", "--header-present", "X-Timer")
	assert.Equal(t, 0, code, out)
	hostport := strings.TrimPrefix(env["CDN_URL"], "http://")
	port := hostport[strings.LastIndex(hostport, ":")+1:]
	code, out = runCheck(t, "-v", "-u", "http://registry.example.invalid:"+port+"/_ping", "--resolve", "registry.example.invalid:"+port+":127.0.0.1")
	assert.Equal(t, 0, code, out)
	assert.Contains(t, out, "via cache-")
}
