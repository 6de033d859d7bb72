package plugin

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/registry-checks/registry-checks/lib/nagios"
)

type testOptions struct {
	Common
	Warning *nagios.Range `short:"w" long:"warning" description:"warning range"`
}

// runWith runs a test binary whose check is fn and returns its output and code.
func runWith(t *testing.T, fn func(ctx context.Context, env *Env) nagios.Result, args ...string) (string, int) {
	t.Helper()
	var opts testOptions
	var out bytes.Buffer
	// Keep the spool of every test in its own folder.
	args = append([]string{"--spool-dir", t.TempDir()}, args...)
	code := Run(Spec{Name: "TEST", Binary: "check_test", Options: &opts, Check: fn}, args, &out)
	return out.String(), code
}

func okCheck(ctx context.Context, env *Env) nagios.Result {
	return nagios.Result{Status: nagios.OK, Summary: "all fine", Measurement: "test_thing", Tags: map[string]string{"thing": "a"},
		Perf: []nagios.Perf{{Label: "lag", Value: 1.5, UOM: "s"}, {Label: "errors", Value: 3, Integer: true}}}
}

func TestRunOK(t *testing.T) {
	out, code := runWith(t, okCheck)
	assert.Equal(t, 0, code)
	assert.Equal(t, "TEST OK - all fine | lag=1.5s errors=3\n", out)
}

type urlOptions struct {
	Common
	URL     string   `short:"u" long:"url" value-name:"URL" default:"http://127.0.0.1:5984"`
	Origins []string `long:"origin" value-name:"URL"`
	Name    string   `long:"name" value-name:"NAME"`
}

// An empty URL option is a bad argument naming it: an empty -u is what an unset
// $ARG1$ expands to, and it used to check the default URL silently.
func TestRunEmptyURLOption(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string // "" when the check runs
	}{
		{[]string{"-u", ""}, "--url is empty"},
		{[]string{"--url="}, "--url is empty"},
		{[]string{"-u", "  "}, "--url is empty"},
		{[]string{"--origin", "http://o1", "--origin", ""}, "--origin is empty"},
		{[]string{"--influx-url", ""}, "--influx-url is empty"},
		{[]string{"--name", ""}, ""},
		{nil, ""},
	} {
		var opts urlOptions
		var out bytes.Buffer
		ran := false
		args := append([]string{"--spool-dir", t.TempDir()}, tt.args...)
		code := Run(Spec{Name: "TEST", Binary: "check_test", Options: &opts, Check: func(context.Context, *Env) nagios.Result {
			ran = true
			return nagios.Result{Status: nagios.OK, Summary: "ran"}
		}}, args, &out)
		if tt.want == "" {
			assert.True(t, ran, "%q: %s", tt.args, out.String())
			assert.Equal(t, 0, code)
			continue
		}
		assert.False(t, ran, "%q", tt.args)
		assert.Equal(t, 3, code)
		assert.True(t, strings.HasPrefix(out.String(), "TEST UNKNOWN - bad arguments: "+tt.want), "%q: %s", tt.args, out.String())
	}
}

func TestRunHelpVersionAndBadArguments(t *testing.T) {
	cases := []struct {
		name  string
		args  []string
		first string // prefix of line 1
		has   string // somewhere in the output
	}{
		{"help", []string{"--help"}, "check_test (registry-checks) ", "Usage:\n  check_test [OPTIONS]\n"},
		{"short help", []string{"-h"}, "check_test (registry-checks) ", "--influx-url"},
		{"version", []string{"--version"}, "check_test (registry-checks) ", ""},
		{"unknown option", []string{"--frobnicate"}, "TEST UNKNOWN - bad arguments: unknown flag `frobnicate'", "Usage:"},
		{"malformed range names the option", []string{"-w", "10:5"}, "TEST UNKNOWN - bad arguments: invalid argument for flag `-w, --warning'", "Usage:"},
		{"bad timeout", []string{"-t", "soon"}, "TEST UNKNOWN - bad arguments: invalid argument for flag `-t, --timeout'", ""},
		{"bad timeout state", []string{"--timeout-state", "maybe"}, "TEST UNKNOWN - bad arguments:", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			called := false
			out, code := runWith(t, func(ctx context.Context, env *Env) nagios.Result { called = true; return okCheck(ctx, env) }, tc.args...)
			assert.Equal(t, 3, code)
			assert.False(t, called, "the check must not run")
			assert.True(t, strings.HasPrefix(out, tc.first), "output starts with %q:\n%s", tc.first, out)
			assert.Contains(t, out, tc.has)
		})
	}
}

func TestRunPanicIsUnknown(t *testing.T) {
	out, code := runWith(t, func(ctx context.Context, env *Env) nagios.Result { panic("boom") })
	assert.Equal(t, 3, code)
	assert.True(t, strings.HasPrefix(out, "TEST UNKNOWN - internal error: boom"), out)
	assert.NotContains(t, out, "goroutine", "no stack trace without -vvv")

	out, _ = runWith(t, func(ctx context.Context, env *Env) nagios.Result { panic("boom") }, "-vvv")
	assert.Contains(t, out, "goroutine", "-vvv shows where it panicked, for the bug report")
}

func TestRunTimeout(t *testing.T) {
	// A check stuck in a call that ignores its context still ends at -t,
	// with the step it was waiting for named.
	block := make(chan struct{})
	defer close(block)
	stuck := func(ctx context.Context, env *Env) nagios.Result {
		env.Step("GET http://db2:5984/_scheduler/docs")
		<-block
		return okCheck(ctx, env)
	}
	for _, tc := range []struct {
		state string
		code  int
	}{{"", 2}, {"unknown", 3}, {"warning", 1}, {"ok", 0}} {
		args := []string{"-t", "0.2"}
		if tc.state != "" {
			args = append(args, "--timeout-state", tc.state)
		}
		out, code := runWith(t, stuck, args...)
		assert.Equal(t, tc.code, code, out)
		assert.Contains(t, out, "timeout after 200ms waiting for GET http://db2:5984/_scheduler/docs")
	}

	// A check that honours ctx reports its own timeout through env.Fail.
	polite := func(ctx context.Context, env *Env) nagios.Result {
		<-ctx.Done()
		return env.Fail(ctx.Err())
	}
	out, code := runWith(t, polite, "-t", "100ms", "--timeout-state", "unknown")
	assert.Equal(t, 3, code)
	assert.True(t, strings.HasPrefix(out, "TEST UNKNOWN - timeout after 100ms"), out)
}

func TestRunStateOutOfRangeIsUnknown(t *testing.T) {
	out, code := runWith(t, func(ctx context.Context, env *Env) nagios.Result {
		return nagios.Result{Status: nagios.Status(7), Summary: "odd"}
	})
	assert.Equal(t, 3, code)
	assert.True(t, strings.HasPrefix(out, "TEST UNKNOWN - odd"), out)
}

func TestRunOutputInflux(t *testing.T) {
	out, code := runWith(t, func(ctx context.Context, env *Env) nagios.Result {
		r := okCheck(ctx, env)
		r.Status = nagios.WARNING
		return r
	}, "--output=influx")
	assert.Equal(t, 1, code, "exit code unchanged with --output=influx")
	require.NotEmpty(t, out)
	assert.Regexp(t, `^test_thing,thing=a errors=3i,lag=1\.5,state=1i \d+\n$`, out)
}

func TestRunSecretsNeverInLineProtocol(t *testing.T) {
	cred := filepath.Join(t.TempDir(), "influx")
	require.NoError(t, os.WriteFile(cred, []byte("writer:s3cret-pass\n"), 0o600))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	defer srv.Close()
	leaky := func(ctx context.Context, env *Env) nagios.Result {
		r := okCheck(ctx, env)
		r.Tags = map[string]string{"source": "http://writer:s3cret-pass@db1:5984/registry"}
		return r
	}
	out, code := runWith(t, leaky, "--output=influx", "--influx-url", srv.URL, "--influx-credentials-file", cred)
	assert.Equal(t, 0, code)
	assert.NotContains(t, out, "s3cret-pass")
	assert.Contains(t, out, "writer:xxxxx@db1")
}

func TestRunInfluxFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "metrics.lp")
	for i := 0; i < 2; i++ {
		_, code := runWith(t, okCheck, "--influx-file", path)
		require.Equal(t, 0, code)
	}
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	assert.Len(t, lines, 2, "each run appends its point")
	assert.Regexp(t, `^test_thing,thing=a errors=3i,lag=1\.5,state=0i \d+$`, lines[0])
}

func TestRunInfluxURLAndSecrets(t *testing.T) {
	var got atomic.Value
	var auth atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		got.Store(r.URL.Path + "?" + r.URL.RawQuery + "\n" + string(body))
		auth.Store(r.Header.Get("Authorization"))
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	cred := filepath.Join(t.TempDir(), "influx")
	require.NoError(t, os.WriteFile(cred, []byte("writer:s3cret-pass\n"), 0o600))

	// The check leaks the password into its summary; the run path redacts it.
	leaky := func(ctx context.Context, env *Env) nagios.Result {
		r := okCheck(ctx, env)
		r.Summary = "password is s3cret-pass"
		return r
	}
	out, code := runWith(t, leaky, "--influx-url", srv.URL, "--influx-credentials-file", cred)
	assert.Equal(t, 0, code)
	assert.NotContains(t, out, "s3cret-pass")
	assert.Contains(t, out, "password is xxxxx")
	assert.Contains(t, got.Load(), "/write?db=registry_checks")
	assert.Contains(t, got.Load(), "test_thing,thing=a errors=3i,lag=1.5,state=0i")
	assert.True(t, strings.HasPrefix(auth.Load().(string), "Basic "), "credentials go as basic auth")

	// A credentials file others can read is refused, and says why.
	loose := filepath.Join(t.TempDir(), "loose")
	require.NoError(t, os.WriteFile(loose, []byte("writer:s3cret-pass\n"), 0o644))
	out, code = runWith(t, okCheck, "--influx-url", srv.URL, "--influx-credentials-file", loose)
	assert.Equal(t, 3, code)
	assert.Contains(t, out, "chmod 600")
	assert.NotContains(t, out, "s3cret-pass")
}

func TestRunInfluxDownKeepsStateAndSpools(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens there any more: connection refused
	spool := t.TempDir()
	var opts testOptions
	var out bytes.Buffer
	start := time.Now()
	code := Run(Spec{Name: "TEST", Binary: "check_test", Options: &opts, Check: okCheck},
		[]string{"--influx-url", url, "--spool-dir", spool, "-t", "2"}, &out)
	assert.Equal(t, 0, code, "a failed metric write never changes the state")
	// Generous: this guards the contract (-t bounds the writes), not speed.
	assert.Less(t, time.Since(start), 5*time.Second, "-t bounds the writes too")
	assert.Contains(t, out.String(), "metrics: ")
	assert.Contains(t, out.String(), "kept in spool "+spool)
	entries, err := os.ReadDir(spool)
	require.NoError(t, err)
	batches := 0
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".lp") {
			batches++
		}
	}
	assert.Equal(t, 1, batches, "the point waits in the spool: %v", entries)
}

// TestProcessExitCodes runs real processes (this test binary re-executed as
// a plugin): a panic must exit 3, not Go's 2, and print nothing on stderr.
func TestProcessExitCodes(t *testing.T) {
	for _, tc := range []struct {
		mode  string
		code  int
		first string
	}{
		{"ok", 0, "TEST OK - all fine"},
		{"panic", 3, "TEST UNKNOWN - internal error: boom"},
		{"help", 3, "check_test (registry-checks) "},
	} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperPlugin$")
		cmd.Env = append(os.Environ(), "PLUGIN_HELPER_MODE="+tc.mode)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else {
			require.NoError(t, err)
		}
		assert.Equal(t, tc.code, code, tc.mode)
		assert.True(t, strings.HasPrefix(stdout.String(), tc.first), "%s: %s", tc.mode, stdout.String())
		assert.Empty(t, stderr.String(), tc.mode)
	}
}

func TestHelperPlugin(t *testing.T) {
	mode := os.Getenv("PLUGIN_HELPER_MODE")
	if mode == "" {
		t.Skip("helper process for TestProcessExitCodes")
	}
	check := okCheck
	args := []string{"--spool-dir", os.TempDir()}
	switch mode {
	case "panic":
		check = func(ctx context.Context, env *Env) nagios.Result { panic("boom") }
	case "help":
		args = append(args, "--help")
	}
	var opts testOptions
	os.Exit(Run(Spec{Name: "TEST", Binary: "check_test", Options: &opts, Check: check}, args, os.Stdout))
}

func TestRunManPage(t *testing.T) {
	t.Setenv(ManPageEnv, "1")
	type required struct {
		Common
		Origin string `long:"origin" required:"true" description:"an origin"`
	}
	var opts required
	var out bytes.Buffer
	called := false
	code := Run(Spec{Name: "TEST", Binary: "check_test", Options: &opts, Check: func(context.Context, *Env) nagios.Result {
		called = true
		return nagios.Result{}
	}}, nil, &out)
	assert.Equal(t, 3, code)
	assert.False(t, called, "the check must not run")
	assert.True(t, strings.HasPrefix(out.String(), ".TH check_test 1 "), out.String())
	assert.Contains(t, out.String(), `\fB\fB\-\-origin\fR`)
	assert.Contains(t, out.String(), `\-\-timeout`)
}

func TestRunVersionWithRequiredOptions(t *testing.T) {
	type options struct {
		Common
		DB string `short:"d" long:"db" required:"true" description:"a required option"`
	}
	for _, args := range [][]string{{"--version"}, {"-V"}} {
		var opts options
		var out bytes.Buffer
		code := Run(Spec{Name: "TEST", Binary: "check_test", Options: &opts, Check: okCheck}, args, &out)
		assert.Equal(t, 3, code)
		assert.True(t, strings.HasPrefix(out.String(), "check_test (registry-checks) "), out.String())
	}
	var opts options
	var out bytes.Buffer
	code := Run(Spec{Name: "TEST", Binary: "check_test", Options: &opts, Check: okCheck}, nil, &out)
	assert.Equal(t, 3, code)
	assert.Contains(t, out.String(), "TEST UNKNOWN - bad arguments: the required flag `-d, --db' was not specified")
}

// go-flags names the Go type an option failed to parse into; an operator
// needs the option and the reason, not "(expected *nagios.Range)".
func TestBadArgumentsHideGoTypes(t *testing.T) {
	for _, args := range [][]string{{"-w", "10:5"}, {"-t", "soon"}} {
		out, code := runWith(t, okCheck, args...)
		assert.Equal(t, 3, code)
		first, _, _ := strings.Cut(out, "\n")
		assert.NotContains(t, first, "(expected")
		assert.Contains(t, first, "invalid argument for flag `"+args[0]+", ")
	}
	out, _ := runWith(t, okCheck, "-w", "10:5")
	first, _, _ := strings.Cut(out, "\n")
	assert.Equal(t, "TEST UNKNOWN - bad arguments: invalid argument for flag `-w, --warning': invalid range \"10:5\": start 10 is greater than end 5 (format [@]start:end, e.g. 10, 10:, ~:10, 10:20, @10:20)", first)
}

// A misconfigured command line is seen in Nagios as the plugin output,
// which the contract bounds (4 KiB): the usage line and a pointer to
// --help, as monitoring-plugins do, not the whole option list.
func TestBadArgumentsOutputIsShort(t *testing.T) {
	out, code := runWith(t, okCheck, "--frobnicate")
	assert.Equal(t, 3, code)
	assert.Equal(t, "TEST UNKNOWN - bad arguments: unknown flag `frobnicate'\nUsage: check_test [OPTIONS]\nRun check_test --help for every option.\n", out)
}

// A stray word (a value whose option was forgotten, "--expect 200 301")
// must not be dropped silently: the check would run with other settings
// than the operator wrote.
func TestPositionalArgumentIsBadArgument(t *testing.T) {
	called := false
	out, code := runWith(t, func(ctx context.Context, env *Env) nagios.Result { called = true; return okCheck(ctx, env) }, "-w", "5", "80")
	assert.Equal(t, 3, code)
	assert.False(t, called, "the check must not run")
	assert.True(t, strings.HasPrefix(out, "TEST UNKNOWN - bad arguments: unexpected argument \"80\" (every value follows its option)\n"), out)
}

// A bad argument is the user's text: a | in it must not reach the first
// line, where Nagios would take what follows for perfdata.
func TestBadArgumentWithPipeIsNoPerfdata(t *testing.T) {
	out, code := runWith(t, okCheck, "-w", "5|bogus=1")
	assert.Equal(t, 3, code)
	first, _, _ := strings.Cut(out, "\n")
	assert.True(t, strings.HasPrefix(first, "TEST UNKNOWN - bad arguments: "), first)
	assert.NotContains(t, out, "|", out)
	assert.Contains(t, first, "5/bogus=1")
}
