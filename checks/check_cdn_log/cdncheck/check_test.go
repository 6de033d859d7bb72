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
	res := Check(context.Background(), h.cfg, Deps{
		Now:  func() time.Time { return h.now },
		Emit: func(p ...metrics.Point) { h.points = append(h.points, p...) },
		AfterDelivery: func(f func(bool) []string) {
			h.lastLong = f(h.deliver)
		},
	})
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
	assert.Equal(t, first, h.points)
	assert.Contains(t, res.Summary, "3 requests")
	assert.Contains(t, strings.Join(res.Long, "\n"), "replayed 3 lines")
	assert.Empty(t, h.lastLong)

	// Delivered: the next run starts after them, with the next sequence.
	h.write(ncsa(51, 9, "/a/-/a-1.0.0.tgz", 200))
	h.run()
	assert.Equal(t, map[string]int64{"a@1.0.0": 2}, downloads(h.points))
	for _, p := range h.points {
		assert.Equal(t, 1, p.Time.Nanosecond(), "second committed run: minute + 1ns")
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
	Check(context.Background(), h.cfg, Deps{AfterDelivery: func(f func(bool) []string) {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		inner = Check(ctx, h.cfg, Deps{})
		f(true)
	}})
	assert.Equal(t, nagios.UNKNOWN, inner.Status)
	assert.Contains(t, inner.Summary, "another run holds")
}

// --max-points stops a run before the line that could pass it; the next
// run goes on from there, and nothing is lost or counted twice.
func TestCheckMaxPointsContinuesNextRun(t *testing.T) {
	h := newHarness(t)
	h.cfg.Limits.MaxPoints = 4
	var lines []string
	for m := 0; m < 6; m++ {
		lines = append(lines, ncsa(40+m, 1, "/a/-/a-1.0.0.tgz", 200), ncsa(40+m, 2, "/a/-/a-1.0.0.tgz", 200))
	}
	h.write(lines...)
	total := map[string]int64{}
	runs := 0
	for ; runs < 10; runs++ {
		res := h.run()
		for k, v := range downloads(h.points) {
			total[k] += v
		}
		if !strings.Contains(strings.Join(res.Long, "\n"), "--max-points") {
			break
		}
		assert.LessOrEqual(t, len(h.points), 5, "a minute and its downloads cell at most past the bound")
	}
	assert.Equal(t, map[string]int64{"a@1.0.0": 12}, total)
	assert.Greater(t, runs, 1)
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
