package main

import (
	"fmt"
	"os"
	"runtime"
	"sort"
	"strings"
	"time"
)

const (
	goalRSSKiB    = 12 * 1024
	goalCouchWall = 20 * time.Millisecond
	goalSize      = 10 << 20
)

type report struct {
	started, finished     time.Time
	loadBefore, loadAfter string
	pairs                 []*pairResult
	sizes                 []sizeRow
}

func median[T int64 | float64 | time.Duration](xs []T) T {
	s := append([]T(nil), xs...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	n := len(s)
	if n == 0 {
		return 0
	}
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func walls(r *sideResult) []time.Duration {
	out := make([]time.Duration, len(r.samples))
	for i, s := range r.samples {
		out[i] = s.wall
	}
	return out
}

func rss(r *sideResult) (med, peak int64) {
	v := make([]int64, len(r.samples))
	for i, s := range r.samples {
		v[i] = s.rssKiB
		peak = max(peak, s.rssKiB)
	}
	return median(v), peak
}

// pairedRatio is the median over groups of ours/theirs, each ratio taken
// within one group (adjacent runs under the same machine load).
func pairedRatio(ours, theirs *sideResult) float64 {
	r := make([]float64, len(ours.samples))
	for i := range ours.samples {
		r[i] = float64(ours.samples[i].wall) / float64(theirs.samples[i].wall)
	}
	return median(r)
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f", float64(d)/float64(time.Millisecond)) }
func mib(kib int64) string      { return fmt.Sprintf("%.1f", float64(kib)/1024) }
func yes(ok bool, s string) string {
	if ok {
		return "yes"
	}
	return "**no** " + s
}

func (rep *report) markdown(cfg config) string {
	var b strings.Builder
	host, _ := os.Hostname()
	fmt.Fprintf(&b, "Run %s on %s: %d CPUs (nproc), %s, %s, %s/%s. Load average %s before, %s after (the machine is shared with other test runs).\n\n",
		rep.started.UTC().Format("2006-01-02 15:04 MST"), host, runtime.NumCPU(), cpuModel(), runtime.Version(), runtime.GOOS, runtime.GOARCH, rep.loadBefore, rep.loadAfter)
	fmt.Fprintf(&b, "%d interleaved groups per pair after %d warm-up groups; each group runs every side once, the order rotating from group to group. Wall time is fork to exit as seen by the spawn helper; peak RSS is the child's wait4 ru_maxrss. Absolute times are this machine's; the ratios are the figures to compare.\n\n", cfg.runs, cfg.warmup)

	b.WriteString("#### Whole process, paired with the standard plugin on the same URL\n\n")
	b.WriteString("| pair | standard | ours median ms | standard median ms | paired ratio (median of ours/std) | ours RSS median / peak MiB | standard RSS median / peak MiB | RSS ratio (medians) | goal met |\n")
	b.WriteString("|---|---|---:|---:|---:|---:|---:|---:|---|\n")
	for _, pr := range rep.pairs {
		o := pr.sides[0]
		oMed, oPeak := rss(o)
		oWall := median(walls(o))
		for _, t := range pr.sides[1:] {
			tMed, tPeak := rss(t)
			ratio := pairedRatio(o, t)
			var goal string
			switch {
			case pr.pair.floor:
				goal = "n/a (reference)"
			case t.side.floor:
				goal = "n/a (a Go floor: see below)"
			case pr.pair.couch:
				goal = yes(oWall < goalCouchWall, fmt.Sprintf("(%s ms ≥ 20 ms)", ms(oWall)))
			default:
				var miss []string
				if ratio > 1.0 {
					miss = append(miss, fmt.Sprintf("ratio %.2f > 1.0", ratio))
				}
				if oPeak > goalRSSKiB {
					miss = append(miss, fmt.Sprintf("peak %s MiB > 12", mib(oPeak)))
				}
				goal = yes(len(miss) == 0, "("+strings.Join(miss, ", ")+")")
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %.2f | %s / %s | %s / %s | %.2f | %s |\n",
				pr.pair.name, t.side.name, ms(oWall), ms(median(walls(t))), ratio,
				mib(oMed), mib(oPeak), mib(tMed), mib(tPeak), float64(oMed)/float64(tMed), goal)
		}
	}
	b.WriteString("\nGoals: an HTTP-level check no slower than the standard plugin (paired ratio ≤ 1.0) and at most 12 MiB peak RSS; a CouchDB check under 20 ms wall (ours median).\n\n")
	rep.floorTable(&b)

	b.WriteString("#### HTTP requests and TCP connections per run, counted at the server\n\n")
	fmt.Fprintf(&b, "Through a counting reverse proxy on loopback in front of each endpoint, %d runs of each side (a range when runs differed).\n\n", cfg.counts)
	b.WriteString("*Sequential round trips* are the stretches of time with at least one request of the run in flight at the servers: requests sent together count once. Over a WAN each one costs a round-trip time. ")
	fmt.Fprintf(&b, "To show it, the proxy holds every request %s before forwarding it, and *wall with WAN* is the median wall time of those runs (new connections and TLS handshakes, which a real WAN also delays, are not).\n\n", cfg.rtt)
	b.WriteString("| pair | program | requests | minimum for the job | sequential round trips | wall with WAN ms | new TCP connections | connections reused | what one run asked for |\n")
	b.WriteString("|---|---|---:|---:|---:|---:|---:|---|---|\n")
	for _, pr := range rep.pairs {
		for _, s := range pr.sides {
			minText := "1"
			if pr.pair.floor {
				minText = "0"
			} else if s.side.ours {
				minText = fmt.Sprintf("%d (%s)", pr.pair.min, pr.pair.minWhy)
			}
			reused := "no"
			if s.reqMax > 1 && s.connMax < s.reqMax {
				reused = fmt.Sprintf("yes (%s requests on %s)", span(s.reqMin, s.reqMax), span(s.connMin, s.connMax))
			} else if s.reqMax == 1 {
				reused = "n/a (one request)"
			} else if s.reqMax == 0 {
				reused = "n/a"
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", pr.pair.name, s.side.name, span(s.reqMin, s.reqMax), minText,
				span(s.roundsMin, s.roundsMax), ms(median(s.wanWalls)), span(s.connMin, s.connMax), reused, s.asked)
		}
	}
	b.WriteString("\n")
	var notes []string
	for _, pr := range rep.pairs {
		if pr.pair.note != "" {
			notes = append(notes, fmt.Sprintf("- %s: %s.", pr.pair.name, pr.pair.note))
		}
		if len(pr.retried) > 0 {
			notes = append(notes, fmt.Sprintf("- %s: %d group(s) run again because a run failed (the stack is shared with integration tests that stop nodes); first: %s.", pr.pair.name, len(pr.retried), pr.retried[0]))
		}
	}
	if len(notes) > 0 {
		b.WriteString(strings.Join(notes, "\n") + "\n\n")
	}

	b.WriteString("#### Binary sizes (goal: at most 10 MiB each)\n\n| binary | MiB | goal met |\n|---|---:|---|\n")
	for _, s := range rep.sizes {
		fmt.Fprintf(&b, "| %s | %.1f | %s |\n", s.name, float64(s.bytes)/(1<<20), yes(s.bytes <= goalSize, ""))
	}
	b.WriteString("\n#### Commands (from the last run)\n\n")
	for _, pr := range rep.pairs {
		for _, s := range pr.sides {
			fmt.Fprintf(&b, "- `%s`\n", strings.Join(s.side.argv, " "))
		}
	}
	fmt.Fprintf(&b, "\n(`${...}` from the stack's stack.env; the run took %s.)\n", rep.finished.Sub(rep.started).Round(time.Second))
	return b.String()
}

func span(lo, hi int) string {
	if lo == hi {
		return fmt.Sprint(lo)
	}
	return fmt.Sprintf("%d–%d", lo, hi)
}

// floorTable splits each pair's paired ratio against check_http into
// Go's part and the suite's part, from the same interleaved groups: the Go
// floor is one net/http GET (gofloor/), the raw-socket floor the same GET
// without net/http (rawfloor/).
func (rep *report) floorTable(b *strings.Builder) {
	var rows []string
	for _, pr := range rep.pairs {
		var http, floor, raw *sideResult
		for _, s := range pr.sides {
			switch {
			case s.side.name == floorName:
				floor = s
			case s.side.name == rawFloorName:
				raw = s
			case s.side.name == "check_http" || s.side.name == "check_dummy":
				http = s
			}
		}
		if http == nil || floor == nil || raw == nil {
			continue
		}
		o := pr.sides[0]
		rows = append(rows, fmt.Sprintf("| %s | %s | %s | %s | %s | %s | %.2f | %.2f | %.2f | %.2f |", pr.pair.name, http.side.name,
			ms(median(walls(o))), ms(median(walls(floor))), ms(median(walls(raw))), ms(median(walls(http))),
			pairedRatio(o, http), pairedRatio(raw, http), pairedRatio(floor, http), pairedRatio(o, floor)))
	}
	if len(rows) == 0 {
		return
	}
	b.WriteString("#### Where the time goes: the Go floors\n\n")
	b.WriteString("Two floors run in the same groups, built with our flags and taking check_http's arguments (on the first row they print and exit like check_dummy): the *Go floor* (bench/compare/gofloor) does one `net/http` GET of the same URL, the least a Go check built on `net/http` can do; the *raw-socket floor* (bench/compare/rawfloor) sends the same GET as HTTP/1.0 on a plain TCP socket, without `net/http`. ")
	b.WriteString("*Raw floor / standard* is the Go runtime's cost on this machine, *Go floor / standard* adds `net/http`'s, and *ours / Go floor* is the suite's own part (options, redaction, output, the checks' extra requests and work).\n\n")
	b.WriteString("| pair | standard | ours median ms | Go floor median ms | raw-socket floor median ms | standard median ms | ours / standard | raw floor / standard | Go floor / standard | ours / Go floor |\n")
	b.WriteString("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	b.WriteString(strings.Join(rows, "\n") + "\n\n")
}
