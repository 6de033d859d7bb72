package metrics

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/registry-checks/registry-checks/test/stackenv"
)

// uniqueMeasurement keeps reruns (and a dirty database) from colliding.
func uniqueMeasurement(t *testing.T, influxURL, db, prefix string) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	m := prefix + "_" + hex.EncodeToString(b)
	t.Cleanup(func() { _, _ = stackenv.InfluxQuery(influxURL, db, `DROP MEASUREMENT "`+m+`"`) })
	return m
}

// countsByID returns how many points InfluxDB holds for each id tag.
func countsByID(t *testing.T, influxURL, db, measurement string) map[string]int {
	t.Helper()
	r, err := stackenv.InfluxQuery(influxURL, db, `SELECT count("seq") FROM "`+measurement+`" GROUP BY "id"`)
	require.NoError(t, err)
	counts := map[string]int{}
	require.Len(t, r.Results, 1)
	for _, s := range r.Results[0].Series {
		require.Len(t, s.Values, 1)
		n, err := s.Values[0][1].(json.Number).Int64()
		require.NoError(t, err)
		counts[s.Tags["id"]] += int(n)
	}
	return counts
}

// seqPoints makes n points with ids from..from+n-1, each its own series
// (the id tag) with a distinct timestamp, so any two points differ.
func seqPoints(measurement string, from, n int) []Point {
	base := time.Now().Truncate(time.Hour)
	pts := make([]Point, n)
	for i := range pts {
		id := from + i
		pts[i] = Point{Measurement: measurement,
			Tags:   map[string]string{"id": strconv.Itoa(id), "host": "integration"},
			Fields: map[string]any{"seq": int64(id), "state": int64(id % 4)},
			Time:   base.Add(time.Duration(id) * time.Microsecond)}
	}
	return pts
}

func assertExactlyOnce(t *testing.T, counts map[string]int, n int) {
	t.Helper()
	var missing []int
	for id := range n {
		if counts[strconv.Itoa(id)] == 0 {
			missing = append(missing, id)
		}
	}
	assert.Empty(t, missing, "points missing from InfluxDB")
	assert.Len(t, counts, n, "InfluxDB holds points nobody wrote")
	for id, c := range counts {
		assert.Equal(t, 1, c, "id %s stored %d times", id, c)
	}
}

// countingProxy sits between the sink and InfluxDB and counts every line
// InfluxDB accepted (204): a batch sent twice shows up here even though
// InfluxDB would store the repeated points once.
type countingProxy struct {
	*httptest.Server
	mu    sync.Mutex
	lines map[string]int
}

func newCountingProxy(t *testing.T, upstream string) *countingProxy {
	p := &countingProxy{lines: map[string]int{}}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		req, _ := http.NewRequestWithContext(r.Context(), r.Method, upstream+r.URL.RequestURI(), bytes.NewReader(body))
		req.Header = r.Header.Clone()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		answer, _ := io.ReadAll(resp.Body)
		if resp.StatusCode == http.StatusNoContent {
			p.mu.Lock()
			for _, l := range strings.Split(strings.TrimSuffix(string(body), "\n"), "\n") {
				p.lines[l]++
			}
			p.mu.Unlock()
		}
		w.WriteHeader(resp.StatusCode)
		_, _ = w.Write(answer)
	}))
	t.Cleanup(p.Close)
	return p
}

func (p *countingProxy) assertEachLineOnce(t *testing.T, n int) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	assert.Len(t, p.lines, n, "distinct lines InfluxDB accepted")
	for l, c := range p.lines {
		assert.Equal(t, 1, c, "line sent %d times: %s", c, l)
	}
}

func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	require.NoError(t, err)
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		require.NotEqual(t, dir, parent, "no go.mod above the test's directory")
		dir = parent
	}
}

// influxService runs the stack's influxdb.sh (stop/start) to cause and end
// an outage.
func influxService(t *testing.T, action string) {
	t.Helper()
	script := filepath.Join(moduleRoot(t), "test", "stack", "services", "influxdb.sh")
	out, err := exec.Command("bash", script, action).CombinedOutput()
	require.NoError(t, err, "influxdb.sh %s: %s", action, out)
}

// outage stops InfluxDB and makes sure it is started again whatever the
// test does, so later tests find it up.
func outage(t *testing.T) (end func()) {
	influxService(t, "stop")
	ended := false
	end = func() {
		if !ended {
			ended = true
			influxService(t, "start")
		}
	}
	t.Cleanup(end)
	return end
}

func TestHTTPSinkWriteAndQueryIntegration(t *testing.T) {
	env := stackenv.Need(t, "INFLUX_URL", "INFLUX_DB")
	influxURL, db := env["INFLUX_URL"], env["INFLUX_DB"]
	m := uniqueMeasurement(t, influxURL, db, "rc_it_write")
	sink, err := NewHTTPSink(&http.Client{Timeout: 10 * time.Second}, HTTPConfig{URL: influxURL, DB: db})
	require.NoError(t, err)

	ts := time.Now().Truncate(time.Second)
	points := []Point{{Measurement: m,
		Tags: map[string]string{"node": "db 1,primary", "zone": ""},
		Fields: map[string]any{"lag_seconds": 1.25, "docs": int64(-3), "bytes": uint64(7), "up": true,
			"message": `said "hi" in C:\dir` + "\n" + "twice", "nan": 0.0 / zero()},
		Time: ts.Add(5 * time.Nanosecond)}}
	require.NoError(t, sink.Write(context.Background(), points))

	r, err := stackenv.InfluxQuery(influxURL, db, `SELECT * FROM "`+m+`"`)
	require.NoError(t, err)
	require.Len(t, r.Results[0].Series, 1)
	s := r.Results[0].Series[0]
	require.Len(t, s.Values, 1)
	row := map[string]any{}
	for i, c := range s.Columns {
		row[c] = s.Values[0][i]
	}
	assert.Equal(t, map[string]any{
		"time":        json.Number(strconv.FormatInt(ts.UnixNano()+5, 10)),
		"node":        "db 1,primary",
		"lag_seconds": json.Number("1.25"),
		"docs":        json.Number("-3"),
		"bytes":       json.Number("7"), // sent as 7i: 1.x refuses 7u
		"up":          true,
		"message":     `said "hi" in C:\dir twice`,
	}, row)
}

func TestHTTPSinkErrorsFromRealInfluxIntegration(t *testing.T) {
	env := stackenv.Need(t, "INFLUX_URL", "INFLUX_DB")
	influxURL, db := env["INFLUX_URL"], env["INFLUX_DB"]
	client := &http.Client{Timeout: 10 * time.Second}

	missing, err := NewHTTPSink(client, HTTPConfig{URL: influxURL, DB: "rc_no_such_db"})
	require.NoError(t, err)
	err = missing.Write(context.Background(), seqPoints("m", 0, 1))
	require.Error(t, err)
	assert.Equal(t, "POST "+influxURL+`/write?db=rc_no_such_db&precision=ns: 404 Not Found: database not found: "rc_no_such_db"`, err.Error())
	assert.False(t, IsPermanent(err), "a missing database is configuration: keep the points")

	m := uniqueMeasurement(t, influxURL, db, "rc_it_conflict")
	sink, err := NewHTTPSink(client, HTTPConfig{URL: influxURL, DB: db})
	require.NoError(t, err)
	require.NoError(t, sink.Write(context.Background(), []Point{{Measurement: m, Fields: map[string]any{"v": 1.5}, Time: time.Now()}}))
	err = sink.Write(context.Background(), []Point{{Measurement: m, Fields: map[string]any{"v": "text"}, Time: time.Now()}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), ": 400 Bad Request: partial write: field type conflict")
	assert.True(t, IsPermanent(err), "a type conflict never heals: do not spool")
}

func TestSpoolSurvivesOutageIntegration(t *testing.T) {
	env := stackenv.Need(t, "INFLUX_URL", "INFLUX_DB")
	influxURL, db := env["INFLUX_URL"], env["INFLUX_DB"]
	m := uniqueMeasurement(t, influxURL, db, "rc_it_outage")
	proxy := newCountingProxy(t, influxURL)
	sink, err := NewHTTPSink(&http.Client{Timeout: 10 * time.Second}, HTTPConfig{URL: proxy.URL, DB: db})
	require.NoError(t, err)
	sp := Spool{Dir: t.TempDir()}
	const per, outageRuns = 7, 5
	deliver := func(run int) (DeliveryReport, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return sp.Deliver(ctx, sink, seqPoints(m, run*per, per))
	}

	rep, err := deliver(0)
	require.NoError(t, err)
	assert.Equal(t, DeliveryReport{Written: per}, rep)

	end := outage(t)
	for run := 1; run <= outageRuns; run++ {
		rep, err := deliver(run)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "points spooled in "+sp.Dir+": POST "+sink.Endpoint()+": 502 Bad Gateway")
		assert.Equal(t, DeliveryReport{Spooled: per, Pending: run}, rep)
		t.Logf("run %d during the outage: %v", run, err)
	}
	end()

	rep, err = deliver(outageRuns + 1)
	require.NoError(t, err)
	assert.Equal(t, DeliveryReport{Flushed: outageRuns * per, Written: per}, rep)

	n := (outageRuns + 2) * per
	assertExactlyOnce(t, countsByID(t, influxURL, db, m), n)
	proxy.assertEachLineOnce(t, n)
}

// Separate processes share the spool, as concurrent Nagios checks do: the
// test binary re-runs itself as TestHelperProcessDeliver.
func TestSpoolConcurrentProcessesIntegration(t *testing.T) {
	env := stackenv.Need(t, "INFLUX_URL", "INFLUX_DB")
	influxURL, db := env["INFLUX_URL"], env["INFLUX_DB"]
	m := uniqueMeasurement(t, influxURL, db, "rc_it_concurrent")
	proxy := newCountingProxy(t, influxURL)
	dir := t.TempDir()
	const procs, runs, per = 3, 12, 5

	next := 0
	phase := func(name string) {
		var wg sync.WaitGroup
		for p := range procs {
			from := next + p*runs*per
			wg.Go(func() {
				cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcessDeliver$", "-test.count=1")
				cmd.Env = append(os.Environ(),
					"RC_HELPER_DELIVER=1", "RC_HELPER_SPOOL="+dir, "RC_HELPER_URL="+proxy.URL, "RC_HELPER_DB="+db,
					"RC_HELPER_MEASUREMENT="+m, fmt.Sprintf("RC_HELPER_FROM=%d", from),
					fmt.Sprintf("RC_HELPER_RUNS=%d", runs), fmt.Sprintf("RC_HELPER_PER=%d", per))
				out, err := cmd.CombinedOutput()
				assert.NoError(t, err, "%s: helper %d: %s", name, p, out)
			})
		}
		wg.Wait()
		next += procs * runs * per
	}

	phase("up")
	end := outage(t)
	phase("down")
	assert.Len(t, listBatches(dir), procs*runs, "every run during the outage spooled one batch")
	end()
	phase("up again")

	sink, err := NewHTTPSink(&http.Client{Timeout: 10 * time.Second}, HTTPConfig{URL: proxy.URL, DB: db})
	require.NoError(t, err)
	rep, err := Spool{Dir: dir}.Deliver(context.Background(), sink, nil)
	require.NoError(t, err)
	assert.Zero(t, rep.Pending)
	assert.Zero(t, rep.Dropped)

	assertExactlyOnce(t, countsByID(t, influxURL, db, m), next)
	proxy.assertEachLineOnce(t, next)
}

// TestHelperProcessDeliver is one check process for
// TestSpoolConcurrentProcessesIntegration; it does nothing when run directly.
func TestHelperProcessDeliver(t *testing.T) {
	if os.Getenv("RC_HELPER_DELIVER") != "1" {
		t.Skip("helper process for TestSpoolConcurrentProcessesIntegration")
	}
	atoi := func(k string) int {
		n, err := strconv.Atoi(os.Getenv(k))
		require.NoError(t, err, k)
		return n
	}
	from, runs, per := atoi("RC_HELPER_FROM"), atoi("RC_HELPER_RUNS"), atoi("RC_HELPER_PER")
	sink, err := NewHTTPSink(&http.Client{Timeout: 10 * time.Second},
		HTTPConfig{URL: os.Getenv("RC_HELPER_URL"), DB: os.Getenv("RC_HELPER_DB")})
	require.NoError(t, err)
	sp := Spool{Dir: os.Getenv("RC_HELPER_SPOOL")}
	for run := range runs {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		rep, err := sp.Deliver(ctx, sink, seqPoints(os.Getenv("RC_HELPER_MEASUREMENT"), from+run*per, per))
		cancel()
		require.Equal(t, per, rep.Written+rep.Spooled, "run %d: %+v, %v", run, rep, err)
		require.Zero(t, rep.Rejected)
		require.Zero(t, rep.Dropped)
	}
}
