package plugin

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/registry-checks/registry-checks/lib/nagios"
	"github.com/registry-checks/registry-checks/lib/secret"
)

const (
	leakUser = "monitor"
	leakPass = "Sup3rSecretPassw0rd"
)

// assertNoPiece fails when out holds the secret, any 6-byte or longer
// piece of it, or a piece of the base64 of user:secret.
func assertNoPiece(t *testing.T, out, user, secretText string) {
	t.Helper()
	forms := []string{secretText}
	if user != "" {
		forms = append(forms, base64.StdEncoding.EncodeToString([]byte(user+":"+secretText)))
	}
	for _, f := range forms {
		for i := 0; i+6 <= len(f); i++ {
			if p := f[i : i+6]; strings.Contains(out, p) {
				t.Fatalf("output holds %q, a piece of %q:\n%s", p, f, out)
				return
			}
		}
	}
}

// A secret that straddles --output-limit is redacted whole before the cut:
// the cut never leaves a prefix of it.
func TestRunRedactsBeforeOutputLimit(t *testing.T) {
	for limit := 40; limit <= 160; limit++ {
		for _, enc := range []func(string) string{
			func(s string) string { return s },
			func(s string) string { return base64.StdEncoding.EncodeToString([]byte(leakUser + ":" + s)) },
		} {
			leaky := func(ctx context.Context, env *Env) nagios.Result {
				env.Secrets.AddCredentials(secret.Credentials{User: leakUser, Password: leakPass})
				text := "echo-" + enc(leakPass)
				return nagios.Result{Status: nagios.CRITICAL, Summary: strings.Repeat("a", limit%37) + " replication " + text + " failed: " + text,
					Long: []string{"doc " + text, strings.Repeat("b", limit%23) + text}}
			}
			out, code := runWith(t, leaky, "--output-limit", strconv.Itoa(limit))
			require.Equal(t, 2, code)
			assertNoPiece(t, out, leakUser, leakPass)
		}
	}
}

// A CouchDB error reason is cut at 200 bytes; the secret it echoes is
// redacted whole before that cut.
func TestRunRedactsReasonBeforeItsCut(t *testing.T) {
	for pad := 170; pad <= 200; pad++ {
		auth := "Basic " + base64.StdEncoding.EncodeToString([]byte(leakUser+":"+leakPass))
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusInternalServerError)
			reason := strings.Repeat("r", pad) + " " + r.Header.Get("Authorization") + " " + leakPass
			_, _ = w.Write([]byte(`{"error":"echo","reason":` + quoteJSON(reason) + `}`))
		}))
		check := func(ctx context.Context, env *Env) nagios.Result {
			creds := secret.Credentials{User: leakUser, Password: leakPass}
			env.Secrets.AddCredentials(creds)
			if err := env.HTTP.GetJSON(ctx, srv.URL+"/_scheduler/docs", creds, new(any)); err != nil {
				return env.Fail(err)
			}
			return nagios.Result{Status: nagios.OK, Summary: "no error"}
		}
		out, code := runWith(t, check)
		srv.Close()
		require.Equal(t, 2, code, out)
		assert.NotContains(t, out, auth[6:16])
		assertNoPiece(t, out, leakUser, leakPass)
	}
}

// The userinfo of every URL option is registered the moment the options
// are read, whatever the option: a server that echoes it (or the
// Authorization header Go derives from it) gets it back redacted.
func TestRunRegistersEveryURLOptionsUserinfo(t *testing.T) {
	type urlOptions struct {
		Common
		URLs  []string `short:"u" long:"url"`
		Other string   `long:"other-url"`
	}
	for _, args := range [][]string{
		{"-u", "http://" + leakUser + ":" + leakPass + "@db1:5984/"},
		{"--url=http://" + leakUser + ":" + leakPass + "@db1:5984/"},
		{"-uhttp://" + leakUser + ":" + leakPass + "@db1:5984/"},
		{"--other-url", "https://" + leakUser + ":" + leakPass + "@cdn/x?token=T0kenS3cretValue"},
	} {
		var opts urlOptions
		var out bytes.Buffer
		echo := func(ctx context.Context, env *Env) nagios.Result {
			b64 := base64.StdEncoding.EncodeToString([]byte(leakUser + ":" + leakPass))
			sum := "pw=[" + leakPass + "] auth=[Basic " + b64 + "]"
			if strings.Contains(strings.Join(args, " "), "token=") {
				sum += " T0kenS3cretValue"
			}
			return nagios.Result{Status: nagios.CRITICAL, Summary: sum}
		}
		code := Run(Spec{Name: "TEST", Binary: "check_test", Options: &opts, Check: echo}, append([]string{"--spool-dir", t.TempDir()}, args...), &out)
		assert.Equal(t, 2, code)
		assertNoPiece(t, out.String(), leakUser, leakPass)
		assert.NotContains(t, out.String(), "T0kenS3cretValue")
	}
}

// Secrets in the environment the suite reads are registered at start.
func TestRunRegistersEnvironmentSecrets(t *testing.T) {
	t.Setenv("COUCHDB_PASSWORD", leakPass)
	t.Setenv("INFLUX_TOKEN", "InfluxT0kenValue42")
	out, _ := runWith(t, func(ctx context.Context, env *Env) nagios.Result {
		return nagios.Result{Status: nagios.OK, Summary: leakPass + " InfluxT0kenValue42"}
	})
	assertNoPiece(t, out, "", leakPass)
	assert.NotContains(t, out, "InfluxT0kenValue42")
}

// Text the server controls cannot forge Nagios lines or perfdata, and a
// secret in a perfdata label or a line-protocol key is redacted too.
func TestRunUntrustedTextStaysOnItsLine(t *testing.T) {
	hostile := "doc\x1b[31m\rCRITICAL\u2028forged\x00line\u0085end"
	check := func(ctx context.Context, env *Env) nagios.Result {
		env.Secrets.Add(leakPass)
		return nagios.Result{Status: nagios.OK, Summary: hostile, Long: []string{hostile},
			Measurement: "test_thing", Tags: map[string]string{"doc_id": hostile + leakPass},
			Perf: []nagios.Perf{{Label: "echo-" + leakPass, Value: 1, Integer: true}}}
	}
	out, code := runWith(t, check)
	require.Equal(t, 0, code)
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	assert.Len(t, lines, 2, "summary and one long line:\n%q", out)
	for _, r := range out {
		if r != '\n' {
			assert.False(t, r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == '\u2028', "control character %U in %q", r, out)
		}
	}
	assertNoPiece(t, out, "", leakPass)

	out, code = runWith(t, check, "--output=influx")
	require.Equal(t, 0, code)
	assert.Equal(t, 1, strings.Count(out, "\n"), "the point is written, on one line: %q", out)
	assert.Contains(t, out, "test_thing,doc_id=")
	assertNoPiece(t, out, "", leakPass)
}

func quoteJSON(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
