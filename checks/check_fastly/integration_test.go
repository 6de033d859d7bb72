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

	code, out := runCheck(t, "-u", u, "--header-equals", "X-Tarball-Source: filesystem")
	require.Equal(t, 0, code, out)
	assert.Contains(t, out, " MISS via cache-")
	assert.Equal(t, "0", perfValue(out, label+" cache_hit"), out)

	code, out = runCheck(t, "-u", u, "--header-matches", "X-Cache: HIT$")
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

// The CDN keeps serving the old packument after an update at the primary
// (metadata is cached briefly): the check sees the stale _rev.
func TestStaleMetadataIntegration(t *testing.T) {
	env := stackenv.Need(t, "CDN_URL", "COUCH_PRIMARY_URL", "COUCH_CREDENTIALS_FILE")
	creds, err := secret.LoadFile(env["COUCH_CREDENTIALS_FILE"])
	require.NoError(t, err)
	hc, err := httpclient.New(httpclient.Options{}, httpclient.Config{})
	require.NoError(t, err)
	ctx := context.Background()
	id := fmt.Sprintf("fastly-fresh-%d", time.Now().UnixNano())
	docURL := env["COUCH_PRIMARY_URL"] + "/registry/" + id
	var put struct {
		Rev string `json:"rev"`
	}
	doc := map[string]any{"name": id, "time": map[string]string{"modified": time.Now().UTC().Format(time.RFC3339Nano)}}
	_, err = hc.JSON(ctx, http.MethodPut, docURL, creds, doc, &put)
	require.NoError(t, err)
	t.Cleanup(func() {
		var cur struct {
			Rev string `json:"_rev"`
		}
		if hc.GetJSON(ctx, docURL, creds, &cur) == nil {
			_, _ = hc.JSON(ctx, http.MethodDelete, docURL+"?rev="+cur.Rev, creds, nil, nil)
		}
	})
	args := []string{"--packument", env["CDN_URL"] + "/" + id, "--couch-url", env["COUCH_PRIMARY_URL"],
		"--couch-credentials-file", env["COUCH_CREDENTIALS_FILE"], "--stale-warning", "0"}

	code, out := runCheck(t, args...)
	require.Equal(t, 0, code, out)
	assert.Contains(t, out, "fresh (_rev "+put.Rev)

	// Update at the primary; the CDN still has the first revision cached.
	doc["_rev"] = put.Rev
	doc["time"] = map[string]string{"modified": time.Now().UTC().Format(time.RFC3339Nano)}
	var put2 struct {
		Rev string `json:"rev"`
	}
	_, err = hc.JSON(ctx, http.MethodPut, docURL, creds, doc, &put2)
	require.NoError(t, err)
	code, out = runCheck(t, args...)
	assert.Equal(t, 1, code, out)
	assert.Contains(t, out, "CDN serves a stale "+id)
	assert.Contains(t, out, "(_rev "+put.Rev+", origin "+put2.Rev+")")
}

// The ping endpoint through the CDN, and the same Varnish reached with
// --resolve under a public name.
func TestPingAndResolveIntegration(t *testing.T) {
	env := stackenv.Need(t, "CDN_URL")
	code, out := runCheck(t, "-u", env["CDN_URL"]+"/_ping", "--header-present", "X-Timer")
	assert.Equal(t, 0, code, out)
	hostport := strings.TrimPrefix(env["CDN_URL"], "http://")
	port := hostport[strings.LastIndex(hostport, ":")+1:]
	code, out = runCheck(t, "-u", "http://registry.example.invalid:"+port+"/_ping", "--resolve", "registry.example.invalid:"+port+":127.0.0.1")
	assert.Equal(t, 0, code, out)
	assert.Contains(t, out, "via cache-")
}
