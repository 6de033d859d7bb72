package cdncheck

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/registry-checks/registry-checks/lib/cdnlog"
	"github.com/registry-checks/registry-checks/lib/metrics"
	"github.com/registry-checks/registry-checks/lib/nagios"
)

type harness struct {
	t        *testing.T
	log      string
	cfg      Config
	points   []metrics.Point
	deliver  bool // what AfterDelivery reports
	now      time.Time
	lastLong []string
	batches  int // deliveries in the last run
}

func newHarness(t *testing.T, args ...string) *harness {
	dir := t.TempDir()
	h := &harness{t: t, log: filepath.Join(dir, "access.log"), deliver: true, now: time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)}
	o := Options{Logs: []string{h.log}, Format: "auto", StateFile: filepath.Join(dir, "state.json"), FromStart: true}
	j := JudgeOptions{MaxLines: 1000, MaxPackages: 100, MaxURLs: 10, MaxPoints: 1000, MinRequests: 1}
	for i := 0; i < len(args); i += 2 {
		r, err := nagios.ParseRange(args[i+1])
		require.NoError(t, err)
		switch args[i] {
		case "w5":
			j.Warn5xx = &r
		case "c5":
			j.Crit5xx = &r
		}
	}
	cfg, err := NewConfig(o, j, 0)
	require.NoError(t, err)
	h.cfg = cfg
	require.NoError(t, os.WriteFile(h.log, nil, 0o644))
	return h
}

func (h *harness) write(lines ...string) {
	f, err := os.OpenFile(h.log, os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(h.t, err)
	for _, l := range lines {
		fmt.Fprintln(f, l)
	}
	f.Close()
}

func (h *harness) run() nagios.Result {
	h.points = nil
	h.now = h.now.Add(time.Minute)
	h.batches = 0
	res := Check(context.Background(), h.cfg, Deps{
		Now: func() time.Time { return h.now },
		Deliver: func(_ context.Context, p []metrics.Point) ([]string, bool, bool) {
			h.points = append(h.points, p...)
			h.batches++
			return nil, h.deliver, false
		},
	})
	h.lastLong = res.Long
	return res
}

func ncsa(min, sec int, url string, status int) string {
	return fmt.Sprintf(`127.0.0.1 - - [30/Nov/2026:11:%02d:%02d +0000] "GET %s HTTP/1.1" %d 100 "-" "npm" hit 1000`, min, sec, url, status)
}

func downloads(points []metrics.Point) map[string]int64 {
	out := map[string]int64{}
	for _, p := range points {
		if p.Measurement == "cdn_downloads" {
			out[p.Tags["package"]+"@"+p.Tags["version"]] += p.Fields["count"].(int64)
		}
	}
	return out
}

func TestCheckCountsAndCommitsOnlyWhenDelivered(t *testing.T) {
	h := newHarness(t)
	h.write(ncsa(50, 1, "/a/-/a-1.0.0.tgz", 200), ncsa(50, 2, "/a/-/a-1.0.0.tgz", 200), ncsa(51, 0, "/@s/b/-/b-2.0.0.tgz", 200))
	h.deliver = false
	res := h.run()
	assert.Equal(t, nagios.OK, res.Status, res.Summary)
	assert.Equal(t, map[string]int64{"a@1.0.0": 2, "@s/b@2.0.0": 1}, downloads(h.points))
	assert.Contains(t, strings.Join(h.lastLong, "\n"), "positions not saved")
	first := h.points
	host, _ := os.Hostname()
	for _, p := range first {
		assert.Equal(t, host+":"+h.log, p.Tags["source"], "default source: host and log")
	}

	// The same lines again, exactly, with the same timestamps: InfluxDB
	// may apply the lost run's write late, so the two must be identical.
	h.write(ncsa(51, 5, "/a/-/a-1.0.0.tgz", 200))
	h.deliver = true
	res = h.run()
	assert.Equal(t, first, h.points[:len(first)])
	assert.Contains(t, strings.Join(res.Long, "\n"), "replayed 3 lines")
	assert.NotContains(t, strings.Join(res.Long, "\n"), "positions not saved")
	// The replayed batch is committed; the newer line is a batch of its
	// own, with the next sequence.
	assert.Equal(t, 2, h.batches)
	assert.Contains(t, res.Summary, "4 requests")
	for _, p := range h.points[len(first):] {
		assert.Equal(t, 1, p.Time.Nanosecond(), "second committed batch: minute + 1ns")
		assert.Equal(t, 0, p.Time.Second())
	}

	// Delivered: the next run starts after them, with the next sequence.
	h.write(ncsa(51, 9, "/a/-/a-1.0.0.tgz", 200))
	h.run()
	assert.Equal(t, map[string]int64{"a@1.0.0": 1}, downloads(h.points))
	for _, p := range h.points {
		assert.Equal(t, 2, p.Time.Nanosecond(), "third committed batch: minute + 2ns")
		assert.Equal(t, 0, p.Time.Second())
	}
}

func TestCheckThresholdsAndFirstLine(t *testing.T) {
	h := newHarness(t, "w5", "1", "c5", "5")
	var lines []string
	for i := 0; i < 90; i++ {
		lines = append(lines, ncsa(50, i%60, "/a/-/a-1.0.0.tgz", 200))
	}
	for i := 0; i < 10; i++ {
		lines = append(lines, ncsa(50, i, "/broken", 503))
	}
	h.write(lines...)
	res := h.run()
	assert.Equal(t, nagios.CRITICAL, res.Status)
	assert.True(t, strings.HasPrefix(res.Summary, "10.0% 5xx, 100 requests in"), res.Summary)
	assert.Contains(t, res.Summary, "100.0% hit, 90 tarball downloads")
	out := nagios.Render("CDN_LOG", res, nagios.RenderOptions{})
	assert.Contains(t, out, "  /broken 10\n")
	assert.Contains(t, out, "  a 90: 1.0.0 90\n")
	assert.Contains(t, out, "ratio_5xx=10%;1;5;0;100")
}

func TestCheckMissingLogIsCritical(t *testing.T) {
	h := newHarness(t)
	require.NoError(t, os.Remove(h.log))
	res := h.run()
	assert.Equal(t, nagios.CRITICAL, res.Status)
	assert.Contains(t, res.Summary, "does not exist")
}

func TestCheckNoLines(t *testing.T) {
	h := newHarness(t)
	d := 90 * time.Second
	h.cfg.Thresholds.NoLines = d
	h.write(ncsa(50, 1, "/x", 200))
	assert.Equal(t, nagios.OK, h.run().Status)
	assert.Equal(t, nagios.OK, h.run().Status, "60s quiet")
	res := h.run()
	assert.Equal(t, nagios.CRITICAL, res.Status, "120s quiet")
	assert.Contains(t, res.Summary, "no new log lines for 120s")
}

func TestCheckMaxPackagesOther(t *testing.T) {
	h := newHarness(t)
	h.cfg.Limits.MaxPackages = 2
	h.write(ncsa(50, 1, "/a/-/a-1.0.0.tgz", 200), ncsa(50, 1, "/b/-/b-1.0.0.tgz", 200),
		ncsa(50, 1, "/c/-/c-1.0.0.tgz", 200), ncsa(50, 1, "/d/-/d-1.0.0.tgz", 200), ncsa(50, 1, "/d/-/d-1.0.0.tgz", 206))
	h.run()
	assert.Equal(t, map[string]int64{"a@1.0.0": 1, "b@1.0.0": 1, "(other)@(other)": 2}, downloads(h.points))
}

func TestCheckLockedStateIsUnknown(t *testing.T) {
	h := newHarness(t)
	h.write(ncsa(50, 1, "/x", 200))
	var inner nagios.Result
	Check(context.Background(), h.cfg, Deps{Deliver: func(context.Context, []metrics.Point) ([]string, bool, bool) {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		inner = Check(ctx, h.cfg, Deps{})
		return nil, true, false
	}})
	assert.Equal(t, nagios.UNKNOWN, inner.Status)
	assert.Contains(t, inner.Summary, "another run holds")
}

// influx stores points as InfluxDB does: one per series and timestamp,
// a later write overwriting an earlier one.
type influx map[string]metrics.Point

func (db influx) write(points []metrics.Point) {
	for _, p := range points {
		db[fmt.Sprint(p.Measurement, p.Tags, p.Time.UnixNano())] = p
	}
}

func (db influx) downloads() map[string]int64 {
	var all []metrics.Point
	for _, p := range db {
		all = append(all, p)
	}
	return downloads(all)
}

// --max-points bounds each batch, not the run: a run reads its whole
// backlog in batches, delivering and committing each, and nothing is
// lost or counted twice. Minutes are split between batches only when a
// minute alone is larger than the bound.
func TestCheckMaxPointsBatches(t *testing.T) {
	h := newHarness(t)
	h.cfg.Limits.MaxPoints = 4
	var lines []string
	for m := 0; m < 6; m++ {
		lines = append(lines, ncsa(40+m, 1, "/a/-/a-1.0.0.tgz", 200), ncsa(40+m, 2, "/a/-/a-1.0.0.tgz", 200))
	}
	h.write(lines...)
	var sizes []int
	db := influx{}
	res := Check(context.Background(), h.cfg, Deps{Deliver: func(_ context.Context, p []metrics.Point) ([]string, bool, bool) {
		sizes = append(sizes, len(p))
		db.write(p)
		return nil, true, false
	}})
	assert.Equal(t, nagios.OK, res.Status, res.Summary)
	assert.Contains(t, res.Summary, "12 requests")
	assert.Equal(t, map[string]int64{"a@1.0.0": 12}, db.downloads())
	// Two minutes (a minute point and a downloads cell each) per batch:
	// the batch ends at a completed minute once three quarters full.
	assert.Equal(t, []int{4, 4, 4}, sizes)
	assert.Contains(t, strings.Join(res.Long, "\n"), "points delivered in 3 batches")
	st, err := cdnlog.LoadState(h.cfg.StateFile)
	require.NoError(t, err)
	assert.Equal(t, uint64(3), st.Seq, "each batch committed with its own sequence number")
	assert.Nil(t, st.Pending)

	h.run()
	assert.Empty(t, h.points, "the next run reads nothing again")
}

// A delivery that fails in the middle of a run stops it there: the
// batches before stay committed, the failed one is replayed identically
// by the next run (which then goes on), and InfluxDB ends with every
// download once, even when the failed write did land.
func TestCheckFailedBatchReplayed(t *testing.T) {
	for _, landed := range []bool{false, true} {
		h := newHarness(t)
		h.cfg.Limits.MaxPoints = 4
		var lines []string
		for m := 0; m < 10; m++ {
			lines = append(lines, ncsa(40+m, 1, "/a/-/a-1.0.0.tgz", 200), ncsa(40+m, 2, "/b/-/b-1.0.0.tgz", 200))
		}
		h.write(lines...)
		db := influx{}
		var failed []metrics.Point
		calls := 0
		res := Check(context.Background(), h.cfg, Deps{Deliver: func(_ context.Context, p []metrics.Point) ([]string, bool, bool) {
			calls++
			if calls == 3 {
				failed = p
				if landed { // written, but the answer was lost
					db.write(p)
				}
				return nil, false, false
			}
			db.write(p)
			return nil, true, false
		}})
		assert.Equal(t, 3, calls, "the run stops at the failed batch")
		assert.Contains(t, strings.Join(res.Long, "\n"), "positions not saved")

		var replayed []metrics.Point
		res = Check(context.Background(), h.cfg, Deps{Deliver: func(_ context.Context, p []metrics.Point) ([]string, bool, bool) {
			if replayed == nil {
				replayed = p
			}
			db.write(p)
			return nil, true, false
		}})
		assert.Equal(t, failed, replayed, "the failed batch is sent again, the very same points")
		assert.Contains(t, strings.Join(res.Long, "\n"), "replayed")
		assert.Equal(t, map[string]int64{"a@1.0.0": 10, "b@1.0.0": 10}, db.downloads(), "landed %v", landed)
	}
}

// --max-lines bounds a run over all its logs together.
func TestCheckMaxLinesAcrossLogs(t *testing.T) {
	h := newHarness(t)
	second := filepath.Join(filepath.Dir(h.log), "second.log")
	var lines []string
	for i := 0; i < 5; i++ {
		lines = append(lines, ncsa(50, i, "/a/-/a-1.0.0.tgz", 200))
	}
	h.write(lines...)
	require.NoError(t, os.WriteFile(second, []byte(strings.Join(lines, "\n")+"\n"), 0o644))
	h.cfg.Logs = append(h.cfg.Logs, second)
	h.cfg.MaxLines = 3
	var got []int64
	for i := 0; i < 5; i++ {
		h.run()
		got = append(got, downloads(h.points)["a@1.0.0"])
	}
	assert.Equal(t, []int64{3, 3, 3, 1, 0}, got)
}

// A minute with more package versions than --max-points is split between
// batches, none of them past the bound, and still counted once.
func TestCheckMaxPointsSplitsABigMinute(t *testing.T) {
	h := newHarness(t)
	h.cfg.Limits.MaxPoints = 4
	var lines []string
	for i := 0; i < 7; i++ {
		lines = append(lines, ncsa(40, i, fmt.Sprintf("/p%d/-/p%d-1.0.0.tgz", i, i), 200))
	}
	h.write(lines...)
	db := influx{}
	Check(context.Background(), h.cfg, Deps{Deliver: func(_ context.Context, p []metrics.Point) ([]string, bool, bool) {
		assert.LessOrEqual(t, len(p), 4)
		db.write(p)
		return nil, true, false
	}})
	want := map[string]int64{}
	for i := 0; i < 7; i++ {
		want[fmt.Sprintf("p%d@1.0.0", i)] = 1
	}
	assert.Equal(t, want, db.downloads())
	var requests int64
	for _, p := range db {
		if p.Measurement == "cdn_requests" {
			requests += p.Fields["requests"].(int64)
		}
	}
	assert.Equal(t, int64(7), requests, "the minute's parts add up")
}

func perf(res nagios.Result, label string) nagios.Perf {
	for _, p := range res.Perf {
		if p.Label == label {
			return p
		}
	}
	return nagios.Perf{Label: "missing " + label}
}

// A run that stops before the log's end (--max-lines here) says how far
// behind it finished, in bytes and in log time, as perfdata judged by the
// lag thresholds; a run that reads to the end is 0 behind, a torn last
// line not counted.
func TestCheckLag(t *testing.T) {
	h := newHarness(t)
	var lines []string
	for m := 0; m < 10; m++ {
		lines = append(lines, ncsa(40+m, 0, "/a/-/a-1.0.0.tgz", 200))
	}
	h.write(lines...)
	h.cfg.MaxLines = 4
	warn, err := nagios.ParseRange("300")
	require.NoError(t, err)
	crit, err := nagios.ParseRange("3000")
	require.NoError(t, err)
	h.cfg.Thresholds.LagSeconds = nagios.Thresholds{Warn: &warn}
	h.cfg.Thresholds.LagBytes = nagios.Thresholds{Crit: &crit}
	res := h.run()
	size := int64(len(strings.Join(lines, "\n")) + 1)
	lineLen := size / 10
	assert.Equal(t, nagios.Perf{Label: "lag_bytes", Value: float64(6 * lineLen), UOM: "B", Integer: true, Min: perf(res, "lag_bytes").Min, Crit: "3000"}, perf(res, "lag_bytes"))
	assert.Equal(t, float64(6*60), perf(res, "lag_seconds").Value, "11:43 read last, 11:49 at the end")
	assert.Equal(t, "300", perf(res, "lag_seconds").Warn)
	assert.Equal(t, nagios.WARNING, res.Status)
	assert.Contains(t, res.Summary, "behind the log's end by 360s of log time (612 bytes)")

	h.cfg.MaxLines = 1000
	f, err := os.OpenFile(h.log, os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.WriteString(`127.0.0.1 - - [30/Nov/2026:11:59:00 +0000] "GET /a/-/a-1.0.0.tgz`) // torn: its writer is at it
	require.NoError(t, err)
	f.Close()
	res = h.run()
	assert.Equal(t, nagios.OK, res.Status, res.Summary)
	assert.Equal(t, float64(0), perf(res, "lag_bytes").Value)
	assert.Equal(t, float64(0), perf(res, "lag_seconds").Value)
	assert.False(t, perf(res, "lag_seconds").Unknown)
}

// A batch that went to the spool (InfluxDB not taking points) is safe and
// committed, but the run stops after it: the rest of the backlog waits in
// the log rather than fill the spool past its bound.
func TestCheckStopsAfterASpooledBatch(t *testing.T) {
	h := newHarness(t)
	h.cfg.Limits.MaxPoints = 4
	var lines []string
	for m := 0; m < 6; m++ {
		lines = append(lines, ncsa(40+m, 1, "/a/-/a-1.0.0.tgz", 200))
	}
	h.write(lines...)
	db := influx{}
	calls := 0
	res := Check(context.Background(), h.cfg, Deps{Deliver: func(_ context.Context, p []metrics.Point) ([]string, bool, bool) {
		calls++
		db.write(p)
		return nil, true, true
	}})
	assert.Equal(t, 1, calls)
	assert.Contains(t, strings.Join(res.Long, "\n"), "InfluxDB did not take the points")
	assert.Greater(t, perf(res, "lag_bytes").Value, float64(0))
	h.run()
	db.write(h.points)
	assert.Equal(t, map[string]int64{"a@1.0.0": 6}, db.downloads())
}
