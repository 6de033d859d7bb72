package cdnlog

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/registry-checks/registry-checks/lib/metrics"
	"github.com/registry-checks/registry-checks/lib/nagios"
)

// Measurements of the points a run writes besides the run's own (cdn_log).
const (
	RunMeasurement      = "cdn_log"
	MinuteMeasurement   = "cdn_requests"
	DownloadMeasurement = "cdn_downloads"
)

// Thresholds judge a run.
type Thresholds struct {
	Ratio5xx    nagios.Thresholds // percent of requests
	Ratio4xx    nagios.Thresholds
	MinRequests int64         // below this many requests the ratios are not judged
	NoLines     time.Duration // CRITICAL when no line arrived for this long (0: never)
	LagBytes    nagios.Thresholds
	LagSeconds  nagios.Thresholds
}

// Report is one run: what was read and counted.
type Report struct {
	Agg      *Aggregate
	Reads    []ReadReport
	Interval time.Duration // since the previous run (0 on the first)
	Quiet    time.Duration // since a run last read a line
	First    bool          // no position yet for any log: nothing read
	// Lag is how far behind the logs' ends the run finished: the bytes
	// of all logs together, the seconds of the log furthest behind.
	Lag     Lag
	Batches int // deliveries of per-minute points (bounded by --max-points each)
}

// Result judges the run and renders it for Nagios (measurement cdn_log).
func (rep Report) Result(th Thresholds, verbose int) nagios.Result {
	a := rep.Agg
	t := &a.Total
	r5 := Ratio(t.Status[5], t.Requests)
	r4 := Ratio(t.Status[4], t.Requests)
	hit := t.HitRatio()

	res := nagios.Result{Status: nagios.OK, Measurement: RunMeasurement}
	var problems []string
	judged := t.Requests >= th.MinRequests && t.Requests > 0
	if judged {
		for _, x := range []struct {
			name string
			v    float64
			th   nagios.Thresholds
		}{{"5xx", r5, th.Ratio5xx}, {"4xx", r4, th.Ratio4xx}} {
			if st := x.th.Status(x.v); st != nagios.OK && st != nagios.UNKNOWN {
				res.Status = nagios.Worse(res.Status, st)
				problems = append(problems, fmt.Sprintf("%s %s", pct(x.v), x.name))
			}
		}
	}
	lagState := th.LagBytes.Status(float64(rep.Lag.Bytes))
	if !math.IsNaN(rep.Lag.Seconds) { // unknown seconds: the bytes alone are judged
		lagState = nagios.Worse(lagState, th.LagSeconds.Status(rep.Lag.Seconds))
	}
	if lagState != nagios.OK {
		res.Status = nagios.Worse(res.Status, lagState)
		problems = append(problems, "behind the log's end by "+rep.Lag.text())
	}
	if th.NoLines > 0 && t.Requests+a.Unparsable == 0 && rep.Quiet >= th.NoLines {
		res.Status = nagios.CRITICAL
		problems = append([]string{fmt.Sprintf("no new log lines for %s (the CDN log stream is broken?)", roundDur(rep.Quiet))}, problems...)
	}

	span := rep.Interval
	if span <= 0 && !a.First.IsZero() {
		span = a.Last.Sub(a.First)
	}
	parts := []string{fmt.Sprintf("%s in %s", counted(t.Requests, "request"), roundDur(span))}
	if t.Requests > 0 {
		if !strings.Contains(strings.Join(problems, " "), " 5xx") {
			parts = append(parts, pct(r5)+" 5xx")
		}
		if !math.IsNaN(hit) {
			parts = append(parts, pct(hit)+" hit")
		}
	}
	parts = append(parts, counted(t.Downloads, "tarball download"))
	if rep.First {
		parts = []string{"first run: positions saved at the end of the logs, counting starts with the next run"}
	}
	if a.Unparsable > 0 {
		parts = append(parts, thousands(a.Unparsable)+" unparsable")
	}
	if !judged && t.Requests > 0 && th.MinRequests > 0 {
		parts = append(parts, fmt.Sprintf("ratios not judged below %d requests", th.MinRequests))
	}
	res.Summary = strings.Join(append(problems, parts...), ", ")

	res.Long = rep.long(verbose)
	res.Perf = rep.perf(th)
	return res
}

// text says the lag as "2m10s of log time (31,200,512 bytes)".
func (l Lag) text() string {
	if math.IsNaN(l.Seconds) {
		return thousands(l.Bytes) + " bytes"
	}
	return fmt.Sprintf("%s of log time (%s bytes)", roundDur(time.Duration(l.Seconds*float64(time.Second))), thousands(l.Bytes))
}

func (rep Report) long(verbose int) []string {
	a := rep.Agg
	var out []string
	if rep.Lag.Bytes > 0 {
		out = append(out, "finished behind the logs' ends by "+rep.Lag.text()+": the rest is read next run")
	}
	if rep.Batches > 1 {
		out = append(out, fmt.Sprintf("points delivered in %d batches of at most --max-points, each committed", rep.Batches))
	}
	for _, rr := range rep.Reads {
		line := fmt.Sprintf("log %s: %s lines, %s bytes", rr.Path, thousands(int64(rr.Lines)), thousands(rr.Bytes))
		switch {
		case rr.First && rr.Lines == 0:
			line += " (first run: position saved at the end)"
		case rr.First:
			line += " (first run: read from the start)"
		}
		if len(rr.Files) > 0 && verbose > 0 {
			line += " (" + strings.Join(rr.Files, ", ") + ")"
		}
		if rr.Backlog {
			line += "; stopped at --max-lines, the rest is read next run"
		}
		out = append(out, line)
		for _, n := range rr.Notes {
			out = append(out, "  "+n)
		}
	}
	if a.Unparsable > 0 {
		out = append(out, fmt.Sprintf("unparsable lines: %s; samples:", thousands(a.Unparsable)))
		for _, s := range a.Samples {
			out = append(out, fmt.Sprintf("  %s (%s)", s.Line, s.Reason))
		}
	}
	n := 5 * (1 + verbose)
	if top := a.TopPackages(n); len(top) > 0 {
		out = append(out, "top packages by tarball downloads:")
		for _, p := range top {
			line := fmt.Sprintf("  %s %s", p.Package, thousands(p.DL.Count))
			if p.DL.Partial > 0 {
				line += fmt.Sprintf(" (+%s partial)", thousands(p.DL.Partial))
			}
			if p.Package == Other {
				line += " (beyond --max-packages)"
			}
			var vs []string
			for i, v := range p.Versions {
				if i == 3+verbose*3 {
					vs = append(vs, fmt.Sprintf("+%d more", len(p.Versions)-i))
					break
				}
				vs = append(vs, v.Version+" "+thousands(v.DL.Count))
			}
			if len(vs) > 0 {
				line += ": " + strings.Join(vs, ", ")
			}
			out = append(out, line)
		}
	}
	if worst := a.Worst5xx(n); len(worst) > 0 {
		out = append(out, "worst URLs by 5xx:")
		for _, u := range worst {
			out = append(out, fmt.Sprintf("  %s %s", u.URL, thousands(u.Count)))
		}
	}
	return out
}

func (rep Report) perf(th Thresholds) []nagios.Perf {
	a := rep.Agg
	t := &a.Total
	zero, hundred := 0.0, 100.0
	count := func(label string, v int64) nagios.Perf {
		return nagios.Perf{Label: label, Value: float64(v), Integer: true, Min: &zero}
	}
	ratio := func(label string, v float64) nagios.Perf {
		return nagios.Perf{Label: label, Value: math.Round(v*1e4) / 1e4, Unknown: math.IsNaN(v), UOM: "%", Min: &zero, Max: &hundred}
	}
	p := []nagios.Perf{
		count("requests", t.Requests),
		th.Ratio5xx.Apply(ratio("ratio_5xx", Ratio(t.Status[5], t.Requests))),
		th.Ratio4xx.Apply(ratio("ratio_4xx", Ratio(t.Status[4], t.Requests))),
		ratio("hit_ratio", t.HitRatio()),
		count("downloads", t.Downloads),
		count("downloads_partial", t.Partial),
		{Label: "bytes", Value: float64(t.Bytes), UOM: "B", Integer: true, Min: &zero},
		count("unparsable", a.Unparsable),
	}
	for c := 1; c <= 5; c++ {
		p = append(p, count("status_"+strconv.Itoa(c)+"xx", t.Status[c]))
	}
	for _, q := range []struct {
		label string
		q     float64
	}{{"tts_p50", 0.5}, {"tts_p95", 0.95}, {"tts_p99", 0.99}} {
		d := t.TTS.Quantile(q.q)
		p = append(p, nagios.Perf{Label: q.label, Value: d.Seconds(), Unknown: d < 0, UOM: "s", Min: &zero})
	}
	p = append(p, nagios.Perf{Label: "quiet", Value: math.Round(rep.Quiet.Seconds()), UOM: "s", Min: &zero, Integer: true,
		Crit: durRange(th.NoLines)})
	p = append(p, th.LagBytes.Apply(nagios.Perf{Label: "lag_bytes", Value: float64(rep.Lag.Bytes), UOM: "B", Integer: true, Min: &zero}),
		th.LagSeconds.Apply(nagios.Perf{Label: "lag_seconds", Value: math.Round(rep.Lag.Seconds), Unknown: math.IsNaN(rep.Lag.Seconds), UOM: "s", Integer: true, Min: &zero}))
	return p
}

func durRange(d time.Duration) string {
	if d <= 0 {
		return ""
	}
	return strconv.FormatInt(int64(math.Round(d.Seconds())), 10)
}

// Points are the run's per-minute points: cdn_requests per minute and
// cdn_downloads per package version and minute, tagged source. Each is
// stamped with its minute plus seq nanoseconds (see State.Seq), so a
// repeated run writes the same series and timestamps again. The source
// tag keeps apart the series of checks with separate states (two hosts,
// two logs): their sequence numbers are unrelated, and equal ones must
// not overwrite each other's points.
func (a *Aggregate) Points(seq uint64, source string) []metrics.Point {
	off := time.Duration(seq % uint64(time.Minute))
	var out []metrics.Point
	minutes := make([]int64, 0, len(a.Minutes))
	for m := range a.Minutes {
		minutes = append(minutes, m)
	}
	sortInt64(minutes)
	for _, m := range minutes {
		c := a.Minutes[m]
		f := map[string]any{
			"requests":          c.Requests,
			"bytes":             c.Bytes,
			"hits":              c.Hits,
			"misses":            c.Misses,
			"passes":            c.Passes,
			"downloads":         c.Downloads,
			"downloads_partial": c.Partial,
		}
		for cls := 1; cls <= 5; cls++ {
			f["status_"+strconv.Itoa(cls)+"xx"] = c.Status[cls]
		}
		f["status_other"] = c.Status[0]
		for k, v := range map[string]float64{"ratio_5xx": Ratio(c.Status[5], c.Requests), "ratio_4xx": Ratio(c.Status[4], c.Requests), "hit_ratio": c.HitRatio()} {
			if !math.IsNaN(v) {
				f[k] = v
			}
		}
		if c.TTS != nil {
			f["tts_p50"] = c.TTS.Quantile(0.5).Seconds()
			f["tts_p95"] = c.TTS.Quantile(0.95).Seconds()
			f["tts_p99"] = c.TTS.Quantile(0.99).Seconds()
		}
		out = append(out, metrics.Point{Measurement: MinuteMeasurement, Tags: map[string]string{"source": source}, Fields: f, Time: time.Unix(m*60, 0).Add(off).UTC()})
	}
	for _, d := range a.Downloads() {
		out = append(out, metrics.Point{
			Measurement: DownloadMeasurement,
			Tags:        map[string]string{"package": d.Package, "version": d.Version, "source": source},
			Fields:      map[string]any{"count": d.Count, "partial": d.Partial},
			Time:        d.Minute.Add(off),
		})
	}
	return out
}

func sortInt64(s []int64) { sort.Slice(s, func(i, j int) bool { return s[i] < s[j] }) }

// pct prints a percentage with two decimals below 1%, one above.
func pct(v float64) string {
	if math.IsNaN(v) {
		return "n/a"
	}
	if v < 1 {
		return strconv.FormatFloat(v, 'f', 2, 64) + "%"
	}
	return strconv.FormatFloat(v, 'f', 1, 64) + "%"
}

// thousands prints 12408 as 12,408.
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

func roundDur(d time.Duration) string {
	if d < time.Second {
		return "0s"
	}
	if d < 10*time.Minute {
		return strconv.FormatInt(int64(math.Round(d.Seconds())), 10) + "s"
	}
	return strings.TrimSuffix(d.Round(time.Minute).String(), "0s")
}

// counted is n and its noun, plural unless n is 1: "1 request", "12,408
// requests".
func counted(n int64, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return thousands(n) + " " + noun + "s"
}
