package stack

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/registry-checks/registry-checks/test/stackenv"
)

// A seeded package whose tarball every origin holds.
const (
	seedName    = "ms-duration"
	seedVersion = "3.0.1"
)

type couch struct {
	url, user, password string
}

func (c couch) do(t *testing.T, method, path string, body any) (int, []byte) {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		require.NoError(t, err)
		r = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, c.url+path, r)
	require.NoError(t, err)
	// pouchdb-server hangs on unauthenticated writes instead of answering 401.
	req.SetBasicAuth(c.user, c.password)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err, "%s %s%s", method, c.url, path)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, b
}

// eventually polls cond every 100ms until it is true or the bound passes.
func eventually(t *testing.T, bound time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(bound)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not true after %s", what, bound)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func get(t *testing.T, url string) (*http.Response, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err, "GET %s", url)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, b
}

func sha1hex(b []byte) string {
	s := sha1.Sum(b)
	return hex.EncodeToString(s[:])
}

// seedShasum is dist.shasum of the seed version in the primary's packument.
func seedShasum(t *testing.T, primary couch) string {
	t.Helper()
	code, body := primary.do(t, http.MethodGet, "/registry/"+seedName, nil)
	require.Equal(t, http.StatusOK, code, "GET %s/registry/%s: %s", primary.url, seedName, body)
	var doc struct {
		Versions map[string]struct {
			Dist struct {
				Shasum, Integrity, Tarball string
			}
		}
	}
	require.NoError(t, json.Unmarshal(body, &doc))
	dist := doc.Versions[seedVersion].Dist
	require.Regexp(t, `^[0-9a-f]{40}$`, dist.Shasum)
	require.True(t, strings.HasPrefix(dist.Integrity, "sha512-"), dist.Integrity)
	require.True(t, strings.HasSuffix(dist.Tarball, "/"+seedName+"/-/"+seedName+"-"+seedVersion+".tgz"), dist.Tarball)
	return dist.Shasum
}

func primaryFrom(env map[string]string) couch {
	return couch{url: env["COUCH_PRIMARY_URL"], user: env["COUCH_ADMIN_USER"], password: env["COUCH_ADMIN_PASSWORD"]}
}

func TestReplicasConvergeIntegration(t *testing.T) {
	env := stackenv.Need(t, "COUCH_PRIMARY_URL", "COUCH_REPLICA1_URL", "COUCH_REPLICA2_URL",
		"COUCH_ADMIN_USER", "COUCH_ADMIN_PASSWORD")
	primary := primaryFrom(env)
	replicas := []couch{
		{url: env["COUCH_REPLICA1_URL"], user: primary.user, password: primary.password},
		{url: env["COUCH_REPLICA2_URL"], user: primary.user, password: primary.password},
	}

	const n = 10
	prefix := fmt.Sprintf("converge-%d-", time.Now().UnixNano())
	docs := make([]map[string]any, n)
	for i := range docs {
		docs[i] = map[string]any{"_id": fmt.Sprintf("%s%02d", prefix, i), "name": fmt.Sprintf("%s%02d", prefix, i)}
	}
	code, body := primary.do(t, http.MethodPost, "/registry/_bulk_docs", map[string]any{"docs": docs})
	require.Equal(t, http.StatusCreated, code, "POST %s/registry/_bulk_docs: %s", primary.url, body)
	var written []struct{ ID, Rev, Error string }
	require.NoError(t, json.Unmarshal(body, &written))
	require.Len(t, written, n)
	want := map[string]string{}
	for _, w := range written {
		require.Empty(t, w.Error, w.ID)
		want[w.ID] = w.Rev
	}
	t.Cleanup(func() {
		var del []map[string]any
		for id, rev := range want {
			del = append(del, map[string]any{"_id": id, "_rev": rev, "_deleted": true})
		}
		primary.do(t, http.MethodPost, "/registry/_bulk_docs", map[string]any{"docs": del})
	})

	keys, err := json.Marshal(func() []string {
		var k []string
		for id := range want {
			k = append(k, id)
		}
		return k
	}())
	require.NoError(t, err)
	for _, r := range replicas {
		// Same ids at the same revisions: the docs came through replication.
		eventually(t, 30*time.Second, "replica "+r.url+" has the "+strconv.Itoa(n)+" docs written to the primary", func() bool {
			code, body := r.do(t, http.MethodPost, "/registry/_all_docs", map[string]json.RawMessage{"keys": keys})
			if code != http.StatusOK {
				return false
			}
			var res struct {
				Rows []struct {
					ID    string
					Value struct{ Rev string }
				}
			}
			if json.Unmarshal(body, &res) != nil {
				return false
			}
			got := 0
			for _, row := range res.Rows {
				if want[row.ID] != "" && row.Value.Rev == want[row.ID] {
					got++
				}
			}
			return got == n
		})
	}
}

func TestOriginFallbackIntegration(t *testing.T) {
	env := stackenv.Need(t, "COUCH_PRIMARY_URL", "COUCH_ADMIN_USER", "COUCH_ADMIN_PASSWORD",
		"ORIGIN1_URL", "ORIGIN1_ROOT", "ORIGIN2_URL", "ORIGIN2_ROOT")
	shasum := seedShasum(t, primaryFrom(env))
	rel := filepath.Join(seedName, "-", seedName+"-"+seedVersion+".tgz")

	for _, o := range []string{"ORIGIN1", "ORIGIN2"} {
		t.Run(o, func(t *testing.T) {
			url := env[o+"_URL"] + "/" + filepath.ToSlash(rel)
			file := filepath.Join(env[o+"_ROOT"], rel)
			hidden := file + ".hidden-by-test"

			cases := []struct {
				name, source string
				before       func()
			}{
				{"file present", "filesystem", func() {}},
				{"file missing", "couchdb", func() {
					require.NoError(t, os.Rename(file, hidden))
					t.Cleanup(func() { _ = os.Rename(hidden, file) })
				}},
				{"file restored", "filesystem", func() { require.NoError(t, os.Rename(hidden, file)) }},
			}
			for _, tc := range cases {
				tc.before()
				resp, body := get(t, url)
				require.Equal(t, http.StatusOK, resp.StatusCode, "%s: GET %s", tc.name, url)
				assert.Equal(t, tc.source, resp.Header.Get("X-Tarball-Source"), "%s: GET %s", tc.name, url)
				assert.Equal(t, shasum, sha1hex(body), "%s: GET %s: body differs from dist.shasum", tc.name, url)
			}

			resp, _ := get(t, env[o+"_URL"]+"/no-such-package/-/no-such-package-1.0.0.tgz")
			assert.Equal(t, http.StatusNotFound, resp.StatusCode)
			assert.Equal(t, "couchdb", resp.Header.Get("X-Tarball-Source"))
		})
	}
}

func TestCDNMissThenHitIntegration(t *testing.T) {
	env := stackenv.Need(t, "CDN_URL", "COUCH_PRIMARY_URL", "COUCH_ADMIN_USER", "COUCH_ADMIN_PASSWORD")
	shasum := seedShasum(t, primaryFrom(env))
	// A fresh query string makes a fresh cache object, so the first answer
	// is a MISS however often the test has run.
	bust := fmt.Sprintf("?test=%d", time.Now().UnixNano())
	cases := []struct {
		name, path string
		check      func(t *testing.T, resp *http.Response, body []byte)
	}{
		{"tarball", "/" + seedName + "/-/" + seedName + "-" + seedVersion + ".tgz" + bust, func(t *testing.T, resp *http.Response, body []byte) {
			assert.Equal(t, shasum, sha1hex(body))
			assert.Contains(t, []string{"filesystem", "couchdb"}, resp.Header.Get("X-Tarball-Source"))
		}},
		{"packument", "/" + seedName + bust, func(t *testing.T, resp *http.Response, body []byte) {
			assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
			var doc struct{ Name string }
			require.NoError(t, json.Unmarshal(body, &doc))
			assert.Equal(t, seedName, doc.Name)
		}},
	}
	timer := regexp.MustCompile(`^S\d+\.\d+,VS0,VE\d+$`)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			url := env["CDN_URL"] + tc.path
			first, body := get(t, url)
			require.Equal(t, http.StatusOK, first.StatusCode, "GET %s", url)
			assert.Equal(t, "MISS", first.Header.Get("X-Cache"))
			assert.Equal(t, "0", first.Header.Get("X-Cache-Hits"))
			assert.Regexp(t, `^cache-.+-[A-Z]{3}$`, first.Header.Get("X-Served-By"))
			assert.Regexp(t, timer, first.Header.Get("X-Timer"))
			tc.check(t, first, body)

			// Poll until the cached copy has aged a second: Age counts whole seconds.
			var age int
			eventually(t, 5*time.Second, "GET "+url+" answers a HIT with Age >= 1", func() bool {
				resp, body := get(t, url)
				require.Equal(t, "HIT", resp.Header.Get("X-Cache"), "GET %s", url)
				hits, err := strconv.Atoi(resp.Header.Get("X-Cache-Hits"))
				require.NoError(t, err)
				require.GreaterOrEqual(t, hits, 1)
				tc.check(t, resp, body)
				age, err = strconv.Atoi(resp.Header.Get("Age"))
				require.NoError(t, err, "Age header %q", resp.Header.Get("Age"))
				return age >= 1
			})
		})
	}

	resp, _ := get(t, env["CDN_URL"]+"/_ping")
	assert.Equal(t, http.StatusOK, resp.StatusCode)
}

func TestCheckNRPEIntegration(t *testing.T) {
	env := stackenv.Need(t, "CHECK_NRPE", "NRPE_HOST", "NRPE_PORT")
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"version", nil, "NRPE v"},
		{"sample command", []string{"-c", "check_stack_dummy"}, "OK: nrpe is answering"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			args := append([]string{"-H", env["NRPE_HOST"], "-p", env["NRPE_PORT"]}, tc.args...)
			out, err := exec.CommandContext(ctx, env["CHECK_NRPE"], args...).CombinedOutput()
			require.NoError(t, err, "%s %v: %s", env["CHECK_NRPE"], args, out)
			assert.Contains(t, string(out), tc.want)
		})
	}
}

func TestNagiosRunsChecksIntegration(t *testing.T) {
	env := stackenv.Need(t, "NAGIOS_STATUS_FILE")
	// The stack's Nagios runs a plugin directly and one through NRPE; both
	// reaching OK in status.dat proves the whole pipeline.
	for _, svc := range []string{"stack-dummy", "nrpe-stack-dummy", "couch-primary-http"} {
		eventually(t, 20*time.Second, "service "+svc+" OK in "+env["NAGIOS_STATUS_FILE"], func() bool {
			return stackenv.NagiosService(env["NAGIOS_STATUS_FILE"], "", svc)["current_state"] == "0"
		})
	}
}

// TestNagiosRunsShippedObjectsIntegration: the stack's Nagios loads the
// Nagios objects nrpe/ ships (commands and service templates, binaries from
// build/) and runs the suite's checks through them.
func TestNagiosRunsShippedObjectsIntegration(t *testing.T) {
	env := stackenv.Need(t, "NAGIOS_STATUS_FILE")
	for svc, prefix := range map[string]string{
		"couch-disk": "COUCH_DISK OK", "couch-views": "COUCH_VIEWS OK",
		"tarball-origin": "TARBALL_ORIGIN OK", "fastly": "FASTLY OK",
		"cdn-log": "CDN_LOG OK",
	} {
		eventually(t, 60*time.Second, "service "+svc+" OK in "+env["NAGIOS_STATUS_FILE"]+" (are the binaries built? make build)", func() bool {
			s := stackenv.NagiosService(env["NAGIOS_STATUS_FILE"], "registry-primary", svc)
			return s["current_state"] == "0" && strings.HasPrefix(s["plugin_output"], prefix)
		})
	}
}
