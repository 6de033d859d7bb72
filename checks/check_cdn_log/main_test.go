package main

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/registry-checks/registry-checks/lib/cdnlog/cdnlogtest"
)

const docsPage = "../../docs/check_cdn_log.md"

func runArgs(args ...string) (string, int) {
	var out bytes.Buffer
	code := run(args, &out)
	return out.String(), code
}

func TestContract(t *testing.T) {
	out, code := runArgs("--help")
	assert.Equal(t, 3, code)
	assert.Contains(t, out, "--log")
	out, code = runArgs()
	assert.Equal(t, 3, code)
	assert.True(t, strings.HasPrefix(out, "CDN_LOG UNKNOWN - bad arguments: "), out)
	out, code = runArgs("--log", "x", "--format", "apache")
	assert.Equal(t, 3, code)
	assert.Contains(t, out, "--format")
	dir := t.TempDir()
	out, code = runArgs("--log", filepath.Join(dir, "a.log"), "--format", "json", "--state-dir", dir)
	assert.Equal(t, 3, code)
	assert.Contains(t, out, "--field url=KEY and --field status=KEY")
}

// Every option the docs page names exists.
func TestDocsOptionsExist(t *testing.T) {
	page, err := os.ReadFile(docsPage)
	require.NoError(t, err)
	help, _ := runArgs("--help")
	varnishncsa := map[string]bool{} // options of other programs shown on the page
	for _, o := range regexp.MustCompile(`(?m)^varnishncsa .*$`).FindAllString(string(page), -1) {
		for _, w := range regexp.MustCompile(`--[a-z0-9-]+`).FindAllString(o, -1) {
			varnishncsa[w] = true
		}
	}
	for _, o := range regexp.MustCompile(`--[a-z][a-z0-9-]+`).FindAllString(string(page), -1) {
		if varnishncsa[o] {
			continue
		}
		assert.Contains(t, help, o+"", "docs/check_cdn_log.md names %s", o)
	}
}

// The NRPE line on the docs page is the shipped one.
func TestDocsNRPELineIsShipped(t *testing.T) {
	page, err := os.ReadFile(docsPage)
	require.NoError(t, err)
	shipped, err := os.ReadFile("../../nrpe/nrpe.d/registry-checks.cfg")
	require.NoError(t, err)
	line := regexp.MustCompile(`(?m)^command\[check_cdn_log\]=.*$`)
	require.NotEmpty(t, line.FindString(string(page)))
	assert.Equal(t, line.FindString(string(shipped)), line.FindString(string(page)))
}

// The page's first example runs, with its log and InfluxDB swapped for a
// generated log and a test server, and prints the line the page shows.
func TestDocsExampleRuns(t *testing.T) {
	page, err := os.ReadFile(docsPage)
	require.NoError(t, err)
	m := regexp.MustCompile("(?s)```(?:sh)?\n(check_cdn_log .*?)\n```").FindStringSubmatch(string(page))
	require.NotNil(t, m)
	args := strings.Fields(strings.ReplaceAll(m[1], "\\\n", " "))[1:]

	var writes int
	influx := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writes++
		w.WriteHeader(http.StatusNoContent)
	}))
	defer influx.Close()
	dir := t.TempDir()
	logPath := filepath.Join(dir, "access.log")
	gen := cdnlogtest.New(3, time.Now().Add(-2*time.Minute), 10)
	var b strings.Builder
	for i := 0; i < 300; i++ {
		b.WriteString(gen.Line())
	}
	require.NoError(t, os.WriteFile(logPath, []byte(b.String()), 0o644))
	for i, a := range args {
		switch a {
		case "/var/log/varnish/varnishncsa.log":
			args[i] = logPath
		case "http://influx:8086":
			args[i] = influx.URL
		}
	}
	args = append(args, "--from-start", "--state-dir", dir, "--spool-dir", filepath.Join(dir, "spool"))
	out, code := runArgs(args...)
	assert.NotEqual(t, 3, code, out)
	assert.Regexp(t, `^CDN_LOG (OK|WARNING|CRITICAL) - ([0-9.]+% 5xx, )?[0-9,]+ requests in \d+s, ([0-9.]+% 5xx, )?[0-9.]+% hit, [0-9,]+ tarball downloads`, out)
	assert.Contains(t, out, "top packages by tarball downloads:\n")
	assert.Equal(t, 2, writes, "one batch of per-minute points, committed, then the run's own point")
}

// The varnishncsa format on the docs page is the one the stack runs.
func TestDocsVarnishncsaFormatIsTheStacks(t *testing.T) {
	page, err := os.ReadFile(docsPage)
	require.NoError(t, err)
	script, err := os.ReadFile("../../test/stack/services/varnishncsa.sh")
	require.NoError(t, err)
	m := regexp.MustCompile(`-F '([^']+)'`).FindStringSubmatch(string(page))
	require.NotNil(t, m, "no -F '...' on the page")
	assert.Contains(t, string(script), "format='"+m[1]+"'")
}

// docsQuery is the InfluxQL query the docs page shows.
func docsQuery(t *testing.T) string {
	page, err := os.ReadFile(docsPage)
	require.NoError(t, err)
	q := regexp.MustCompile("(?m)^SELECT .*cdn_downloads.*$").FindString(string(page))
	require.NotEmpty(t, q)
	return q
}

// An unparsable line quoting a secret the run knows (here INFLUX_TOKEN)
// across the sample's 160-character cut shows it masked, no prefix of it
// left, and a query string's value is dropped. The worst-5xx list shows
// paths only: no query string, no userinfo, no control character.
func TestUnparsableSampleRedactedBeforeTheCut(t *testing.T) {
	const tok = "Zk3sekr1tT0ken-0123456789abcdef"
	t.Setenv("INFLUX_TOKEN", tok)
	dir := t.TempDir()
	logPath := filepath.Join(dir, "access.log")
	ts := time.Now().UTC().Format("02/Jan/2006:15:04:05 -0700")
	lines := strings.Repeat("x", 150) + tok + " tail\n" + "GET /-/whoami?token=q5ecret HTTP/1.1 garbage\n" +
		`192.0.2.1 - - [` + ts + `] "GET /lodash?token=t0psecret HTTP/1.1" 503 12 "-" "npm"` + "\n" +
		`192.0.2.1 - - [` + ts + `] "GET http://alice:hunter2@cdn.example/left-pad?x=1 HTTP/1.1" 502 12 "-" "npm"` + "\n" +
		`192.0.2.1 - - [` + ts + "] \"GET /evil\x1b[2J\rCDN_LOG_OK HTTP/1.1\" 500 12 \"-\" \"npm\"\n"
	require.NoError(t, os.WriteFile(logPath, []byte(lines), 0o644))
	out, code := runArgs("--log", logPath, "--from-start", "--state-dir", dir, "--spool-dir", filepath.Join(dir, "spool"))
	assert.Equal(t, 0, code, out)
	assert.Contains(t, out, "unparsable lines: 2")
	for i := 4; i <= len(tok); i++ {
		require.NotContains(t, out, tok[:i])
	}
	assert.NotContains(t, out, "q5ecret")
	assert.Contains(t, out, "worst URLs by 5xx:\n")
	assert.Contains(t, out, "\n  /lodash 1\n")
	assert.Contains(t, out, "\n  /left-pad 1\n")
	for _, leak := range []string{"t0psecret", "hunter2", "alice", "\x1b", "\r"} {
		assert.NotContains(t, out, leak)
	}
}

// One request and one download read as such, not "1 requests".
func TestSingularCounts(t *testing.T) {
	dir := t.TempDir()
	logPath := filepath.Join(dir, "access.log")
	line := fmt.Sprintf("127.0.0.1 - - [%s] \"GET http://registry.example.com/left-pad/-/left-pad-1.3.0.tgz HTTP/1.1\" 200 326 \"-\" \"npm/10.2.4\" hit 92\n",
		time.Now().UTC().Format("02/Jan/2006:15:04:05 -0700"))
	require.NoError(t, os.WriteFile(logPath, []byte(line), 0o644))
	out, code := runArgs("--log", logPath, "--from-start", "--state-dir", dir, "--spool-dir", filepath.Join(dir, "spool"))
	assert.Equal(t, 0, code, out)
	assert.Regexp(t, `^CDN_LOG OK - 1 request in \d+s, 0\.00% 5xx, 100\.0% hit, 1 tarball download, ratios not judged`, out)
}
