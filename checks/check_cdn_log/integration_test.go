package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/registry-checks/registry-checks/lib/cdnlog/cdnlogtest"
	"github.com/registry-checks/registry-checks/test/stackenv"
)

// TestHelperCheckCDNLog is this test binary run as check_cdn_log, so the
// tests can kill a real process.
func TestHelperCheckCDNLog(t *testing.T) {
	if os.Getenv("CDNLOG_HELPER") != "1" {
		t.Skip("helper process for the kill -9 test")
	}
	var args []string
	require.NoError(t, json.Unmarshal([]byte(os.Getenv("CDNLOG_ARGS")), &args))
	os.Exit(run(args, os.Stdout))
}

func influxQuery(t *testing.T, base, db, q string) [][]any {
	t.Helper()
	resp, err := http.PostForm(base+"/query", url.Values{"db": {db}, "q": {q}})
	require.NoError(t, err)
	defer resp.Body.Close()
	var r struct {
		Results []struct {
			Error  string `json:"error"`
			Series []struct {
				Tags   map[string]string `json:"tags"`
				Values [][]any           `json:"values"`
			} `json:"series"`
		} `json:"results"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&r))
	require.Len(t, r.Results, 1)
	require.Empty(t, r.Results[0].Error, q)
	var rows [][]any
	for _, s := range r.Results[0].Series {
		for _, v := range s.Values {
			rows = append(rows, append([]any{s.Tags["package"] + "@" + s.Tags["version"]}, v...))
		}
	}
	return rows
}

// sums reads sum(field) of a measurement per package@version.
func sums(t *testing.T, base, db, measurement, field string) map[string]int64 {
	out := map[string]int64{}
	for _, row := range influxQuery(t, base, db, fmt.Sprintf(`SELECT sum(%q) FROM %q GROUP BY "package","version"`, field, measurement)) {
		if n := int64(row[2].(float64)); n != 0 {
			out[row[0].(string)] = n
		}
	}
	return out
}

func nonZero(m map[string]int64) map[string]int64 {
	out := map[string]int64{}
	for k, v := range m {
		if v != 0 {
			out[k] = v
		}
	}
	return out
}

// TestKillNineExactlyOnceIntegration writes a log of known content (three
// formats mixed, torn last lines, a rename+create rotation and a
// copytruncate one) while check_cdn_log runs 50 times, killed with
// SIGKILL at a random moment of most runs, and delivers to the stack's
// InfluxDB. --max-points is small, so that a run delivers several batches
// and a kill lands between them too. The downloads there, per package and
// version, must equal the generator's own count of what it wrote.
func TestKillNineExactlyOnceIntegration(t *testing.T) {
	env := stackenv.Need(t, "INFLUX_URL")
	base := env["INFLUX_URL"]
	db := fmt.Sprintf("cdnlog_kill9_%d", time.Now().UnixNano())
	influxQuery(t, base, "", "CREATE DATABASE "+db)
	t.Cleanup(func() { influxQuery(t, base, "", "DROP DATABASE "+db) })

	dir := t.TempDir()
	logPath := filepath.Join(dir, "access.log")
	require.NoError(t, os.WriteFile(logPath, nil, 0o644))
	args, _ := json.Marshal([]string{"--log", logPath, "--from-start", "--state-file", filepath.Join(dir, "state.json"),
		"--spool-dir", filepath.Join(dir, "spool"), "--influx-url", base, "--influx-db", db, "-t", "30", "--max-points", "40"})

	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rnd := rand.New(rand.NewSource(seed))
	gen := cdnlogtest.New(seed, time.Now().Add(-time.Hour), 60)
	var torn string // the unwritten rest of a torn last line
	write := func(n int) {
		f, err := os.OpenFile(logPath, os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o644)
		require.NoError(t, err)
		defer f.Close()
		var b strings.Builder
		b.WriteString(torn)
		torn = ""
		for i := 0; i < n; i++ {
			b.WriteString(gen.Line())
		}
		if rnd.Intn(3) == 0 {
			l := gen.Line()
			// Cut before the status: a line torn later may still read as a
			// valid common-log line, and the counts would disagree on it.
			cut := 1 + rnd.Intn(len(l)/3)
			b.WriteString(l[:cut])
			torn = l[cut:]
		}
		_, err = f.WriteString(b.String())
		require.NoError(t, err)
	}
	// A rotation leaves the torn line in the old file: the writer's
	// process that was cut off never finishes it.
	abandonTorn := func() {
		if torn != "" {
			gen.AbandonLast()
			torn = ""
		}
	}

	batches := 0
	runCheck := func(killAfter time.Duration) (out string, killed bool) {
		defer func() {
			if m := regexp.MustCompile(`delivered in (\d+) batches`).FindStringSubmatch(out); m != nil {
				n, _ := strconv.Atoi(m[1])
				batches = max(batches, n)
			}
		}()
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperCheckCDNLog$", "-test.count=1")
		cmd.Env = append(os.Environ(), "CDNLOG_HELPER=1", "CDNLOG_ARGS="+string(args))
		var stdout bytes.Buffer
		cmd.Stdout = &stdout
		require.NoError(t, cmd.Start())
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		if killAfter > 0 {
			select {
			case <-done:
				return stdout.String(), false
			case <-time.After(killAfter):
				cmd.Process.Signal(syscall.SIGKILL)
				<-done
				return stdout.String(), true
			}
		}
		<-done
		return stdout.String(), false
	}

	// The kill delay is drawn up to 1.2 times the fastest whole run, so
	// kills land at every stage: start-up, reading, delivering, saving.
	write(300)
	t0 := time.Now()
	out, _ := runCheck(0)
	typical := time.Since(t0)
	t.Logf("first run %s: %s", typical, strings.SplitN(out, "\n", 2)[0])

	const runs = 50
	killed, rotations, replays := 0, 0, 0
	for i := 1; i < runs; i++ {
		write(50 + rnd.Intn(400))
		switch i {
		case 17: // rename + create, as logrotate's default
			abandonTorn()
			require.NoError(t, os.Rename(logPath, logPath+".1"))
			write(100)
			rotations++
		case 34: // copytruncate: copy, then truncate in place
			abandonTorn()
			data, err := os.ReadFile(logPath)
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(logPath+".1", data, 0o644))
			require.NoError(t, os.Truncate(logPath, 0))
			write(100)
			rotations++
		}
		kill := time.Duration(rnd.Int63n(int64(typical)*6/5) + 1)
		// The run after a rotation and the two before the next (the first
		// may only replay a killed run) are not killed: logrotate keeps
		// PATH.1 until the next rotation, and the check must have read it
		// by then, as in production.
		if i == 17 || i == 32 || i == 33 || i == 34 {
			kill = 0
		}
		t0 := time.Now()
		out, k := runCheck(kill)
		if strings.Contains(out, "replayed") {
			replays++
		}
		if k {
			killed++
		} else if d := time.Since(t0); d < typical {
			// The kill delay follows the fastest whole run seen.
			typical = d
		}
	}
	// Finish: complete the torn line, then run until nothing is left.
	if torn != "" {
		f, _ := os.OpenFile(logPath, os.O_APPEND|os.O_WRONLY, 0)
		f.WriteString(torn)
		f.Close()
		torn = ""
	}
	// A run after a killed one only replays that one's lines: the rest
	// comes with the run after.
	for i := 0; i < 3; i++ {
		out, _ = runCheck(0)
		t.Logf("last run: %s", strings.SplitN(out, "\n", 2)[0])
		if !strings.Contains(out, "replayed") {
			break
		}
		replays++
	}
	require.Contains(t, out, "CDN_LOG ")

	got := sums(t, base, db, "cdn_downloads", "count")
	gotPartial := sums(t, base, db, "cdn_downloads", "partial")
	var total, totalPartial int64
	for _, v := range gen.Downloads {
		total += v
	}
	for _, v := range gen.Partial {
		totalPartial += v
	}
	reqRows := influxQuery(t, base, db, `SELECT sum("requests"), sum("status_5xx") FROM "cdn_requests"`)
	require.Len(t, reqRows, 1)
	t.Logf("%d runs (up to %d batches in one), %d killed by SIGKILL, %d replays of a killed run's lines, %d rotations; %d lines written (%d unparsable), %d downloads and %d partial in %d package versions",
		runs, batches, killed, replays, rotations, gen.Requests+gen.Garbage, gen.Garbage, total, totalPartial, len(gen.Downloads))
	assert.Equal(t, nonZero(gen.Downloads), got, "cdn_downloads count per package@version")
	assert.Equal(t, nonZero(gen.Partial), gotPartial, "cdn_downloads partial per package@version")
	assert.Equal(t, float64(gen.Requests), reqRows[0][2], "cdn_requests requests")
	assert.Equal(t, float64(gen.Status5xx), reqRows[0][3], "cdn_requests status_5xx")
	assert.Greater(t, killed, runs/3, "most runs should have been killed")
	// A replay follows a run killed after it wrote its intent, while or
	// after delivering: the window exactly-once is about.
	assert.Greater(t, replays, 0, "no kill landed between the intent and the commit")
	assert.Greater(t, batches, 1, "no run delivered more than one batch")
	keys := make([]string, 0, len(got))
	for k := range got {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	require.NotEmpty(t, keys)
}

// TestVarnishncsaDownloadsIntegration fetches tarballs through the stack's
// Varnish and counts them from the log its varnishncsa writes: the
// downloads in InfluxDB (queried as docs/check_cdn_log.md shows) equal a
// plain recount of the log lines the check read.
func TestVarnishncsaDownloadsIntegration(t *testing.T) {
	env := stackenv.Need(t, "CDN_URL", "CDN_ACCESS_LOG", "INFLUX_URL")
	base := env["INFLUX_URL"]
	db := fmt.Sprintf("cdnlog_varnish_%d", time.Now().UnixNano())
	influxQuery(t, base, "", "CREATE DATABASE "+db)
	t.Cleanup(func() { influxQuery(t, base, "", "DROP DATABASE "+db) })
	dir := t.TempDir()
	state := filepath.Join(dir, "state.json")
	args := []string{"--log", env["CDN_ACCESS_LOG"], "--state-file", state, "--influx-url", base, "--influx-db", db,
		"--spool-dir", filepath.Join(dir, "spool"), "-t", "20"}
	var out bytes.Buffer
	run(args, &out)
	require.Contains(t, out.String(), "first run", out.String())
	offset := func() int64 {
		var st struct {
			Logs map[string]struct{ Offset int64 } `json:"logs"`
		}
		b, err := os.ReadFile(state)
		require.NoError(t, err)
		require.NoError(t, json.Unmarshal(b, &st))
		return st.Logs[env["CDN_ACCESS_LOG"]].Offset
	}
	from := offset()

	tag := fmt.Sprintf("t=%d", time.Now().UnixNano())
	get := func(method, path string, header ...string) {
		req, err := http.NewRequest(method, env["CDN_URL"]+path+"?"+tag, nil)
		require.NoError(t, err)
		if len(header) == 2 {
			req.Header.Set(header[0], header[1])
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
	}
	for i := 0; i < 3; i++ {
		get("GET", "/left-pad-lite/-/left-pad-lite-1.2.0.tgz")
	}
	get("GET", "/is-odd-number/-/is-odd-number-2.0.0.tgz")
	get("GET", "/is-odd-number/-/is-odd-number-2.0.0.tgz")
	get("GET", "/left-pad-lite/-/left-pad-lite-1.2.0.tgz", "Range", "bytes=0-9")
	get("HEAD", "/left-pad-lite/-/left-pad-lite-1.1.0.tgz")
	get("GET", "/left-pad-lite/-/left-pad-lite-9.9.9.tgz")
	// varnishncsa writes a request's line once it has ended.
	require.Eventually(t, func() bool {
		b, _ := os.ReadFile(env["CDN_ACCESS_LOG"])
		return bytes.Count(b, []byte(tag)) == 8
	}, 15*time.Second, 100*time.Millisecond, "varnishncsa did not log the 8 requests")

	out.Reset()
	code := run(args, &out)
	t.Logf("%s", out.String())
	assert.NotEqual(t, 3, code)
	to := offset()

	// The recount: the lines the check read, by hand.
	f, err := os.Open(env["CDN_ACCESS_LOG"])
	require.NoError(t, err)
	defer f.Close()
	chunk := make([]byte, to-from)
	_, err = f.ReadAt(chunk, from)
	require.NoError(t, err)
	want := map[string]int64{}
	for _, line := range strings.Split(strings.TrimSuffix(string(chunk), "\n"), "\n") {
		_, req, ok := strings.Cut(line, `"`)
		if !ok {
			continue
		}
		req, rest, _ := strings.Cut(req, `"`)
		words, status := strings.Fields(req), strings.Fields(rest)
		if len(words) < 2 || words[0] != "GET" || len(status) == 0 || status[0] != "200" {
			continue
		}
		u, err := url.Parse(words[1])
		require.NoError(t, err)
		name, file, ok := strings.Cut(strings.TrimPrefix(u.Path, "/"), "/-/")
		if !ok || !strings.HasSuffix(file, ".tgz") || !strings.HasPrefix(file, name+"-") {
			continue
		}
		want[name+"@"+strings.TrimSuffix(strings.TrimPrefix(file, name+"-"), ".tgz")]++
	}
	assert.GreaterOrEqual(t, want["left-pad-lite@1.2.0"], int64(3))
	assert.GreaterOrEqual(t, want["is-odd-number@2.0.0"], int64(2))

	// The query on the docs page, over this test's database.
	got := map[string]int64{}
	for _, row := range influxQuery(t, base, db, docsQuery(t)) {
		got[row[0].(string)] = int64(row[2].(float64))
	}
	assert.Equal(t, want, nonZero(got))
	partial := sums(t, base, db, "cdn_downloads", "partial")
	assert.GreaterOrEqual(t, partial["left-pad-lite@1.2.0"], int64(1), "the range request is a partial download")
}
