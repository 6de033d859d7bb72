// Package cdncheck is the logic of check_cdn_log: read what the CDN access
// logs gained since the last run with lib/cdnlog, judge it, hand the
// per-minute points to the run's metric delivery, and save the positions
// only once those points are safe.
package cdncheck

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/registry-checks/registry-checks/lib/cdnlog"
	"github.com/registry-checks/registry-checks/lib/flagtype"
	"github.com/registry-checks/registry-checks/lib/metrics"
	"github.com/registry-checks/registry-checks/lib/nagios"
	"github.com/registry-checks/registry-checks/lib/plugin"
)

// Options are check_cdn_log's own options.
type Options struct {
	Logs      []string `long:"log" value-name:"PATH" required:"true" description:"CDN access log to read (repeatable); its rotated PATH.1 or PATH.1.gz is read to its end first"`
	Format    string   `long:"format" default:"auto" choice:"auto" choice:"ncsa" choice:"fastly" choice:"fastly-json" choice:"json" description:"line format: auto (JSON objects as fastly-json, anything else as ncsa), ncsa (varnishncsa), fastly (Apache-style), fastly-json, json (keys from --field)"`
	Fields    []string `long:"field" value-name:"PART=KEY" description:"JSON key of a part (time, url, status, bytes, cache, method, tts, tts_ms, tts_us), e.g. status=resp_status; nested keys with dots (repeatable)"`
	FromStart bool     `long:"from-start" description:"on the first run, read the logs from their start rather than from their end"`
	StateFile string   `long:"state-file" value-name:"PATH" description:"positions of the logs (default: one file per set of logs in --state-dir)"`
	StateDir  string   `long:"state-dir" value-name:"DIR" default:"/var/lib/registry-checks" description:"folder of the state file (falls back to a per-user temp folder when the default is not writable)"`
	Source    string   `long:"source" value-name:"NAME" description:"tag source of the points, unique per check instance writing to one database (default: HOST:LOG[,LOG...])"`
}

// JudgeOptions are the thresholds and bounds.
type JudgeOptions struct {
	Warn5xx      *nagios.Range     `long:"warning-5xx-ratio" value-name:"RANGE" default:"1" description:"percent of requests answered 5xx"`
	Crit5xx      *nagios.Range     `long:"critical-5xx-ratio" value-name:"RANGE" default:"5" description:"percent of requests answered 5xx"`
	Warn4xx      *nagios.Range     `long:"warning-4xx-ratio" value-name:"RANGE" description:"percent of requests answered 4xx (not judged unless given)"`
	Crit4xx      *nagios.Range     `long:"critical-4xx-ratio" value-name:"RANGE" description:"percent of requests answered 4xx"`
	MinRequests  int64             `long:"min-requests" value-name:"N" default:"100" description:"judge the ratios only when a run read at least N requests (a quiet log is not an error)"`
	NoLines      flagtype.Duration `long:"critical-no-lines" value-name:"DURATION" description:"CRITICAL when no line arrived for this long: the CDN's log stream is broken (default: never)"`
	MaxLines     int               `long:"max-lines" value-name:"N" default:"2000000" description:"lines read in one run at most; the rest waits for the next run (bounds time, memory and points)"`
	MaxPackages  int               `long:"max-packages" value-name:"N" default:"10000" description:"distinct package versions counted by name in one run; the rest are counted under package (other)"`
	MaxURLs      int               `long:"max-urls" value-name:"N" default:"1000" description:"distinct URLs remembered for the worst-5xx list; the rest are counted as (other)"`
	MaxPoints    int               `long:"max-points" value-name:"N" default:"10000" description:"per-minute points of one batch at most (minutes plus package versions per minute): each batch is delivered and its position saved before the next is read, so memory does not grow with the backlog"`
	WarnLagBytes *nagios.Range     `long:"warning-lag-bytes" value-name:"RANGE" description:"bytes of complete lines the run left unread at the logs' ends (all logs together; not judged unless given)"`
	CritLagBytes *nagios.Range     `long:"critical-lag-bytes" value-name:"RANGE" description:"bytes of complete lines left unread"`
	WarnLagSecs  *nagios.Range     `long:"warning-lag-seconds" value-name:"RANGE" description:"seconds of log time between the last line read and a log's last line (the log furthest behind; not judged unless given)"`
	CritLagSecs  *nagios.Range     `long:"critical-lag-seconds" value-name:"RANGE" description:"seconds of log time left unread"`
}

// Config is what the options decided.
type Config struct {
	Logs       []string
	Source     string
	Parser     *cdnlog.Parser
	FromStart  bool
	StateFile  string
	Thresholds cdnlog.Thresholds
	Limits     cdnlog.Limits
	MaxLines   int
	Verbose    int
}

// NewConfig checks the options and builds the Config.
func NewConfig(o Options, j JudgeOptions, verbose int) (Config, error) {
	fields := cdnlog.Fields{}
	for _, spec := range o.Fields {
		part, key, err := cdnlog.ParseFieldSpec(spec)
		if err != nil {
			return Config{}, err
		}
		fields[part] = key
	}
	p, err := cdnlog.NewParser(cdnlog.Format(o.Format), fields)
	if err != nil {
		return Config{}, err
	}
	if j.MaxLines < 1 || j.MaxPackages < 1 || j.MaxURLs < 1 || j.MaxPoints < 1 {
		return Config{}, errors.New("--max-lines, --max-packages, --max-urls and --max-points must be at least 1")
	}
	state := o.StateFile
	if state == "" {
		dir, err := plugin.UsableDir(o.StateDir, "registry-checks", o.StateDir != plugin.DefaultStateDir)
		if err != nil {
			return Config{}, fmt.Errorf("--state-dir: %w", err)
		}
		state = filepath.Join(dir, cdnlog.StateFileName(o.Logs))
	}
	source := o.Source
	if source == "" {
		host, _ := os.Hostname()
		source = host + ":" + strings.Join(o.Logs, ",")
	}
	th := cdnlog.Thresholds{
		Ratio5xx:    nagios.Thresholds{Warn: j.Warn5xx, Crit: j.Crit5xx},
		Ratio4xx:    nagios.Thresholds{Warn: j.Warn4xx, Crit: j.Crit4xx},
		MinRequests: j.MinRequests,
		NoLines:     j.NoLines.D(),
		LagBytes:    nagios.Thresholds{Warn: j.WarnLagBytes, Crit: j.CritLagBytes},
		LagSeconds:  nagios.Thresholds{Warn: j.WarnLagSecs, Crit: j.CritLagSecs},
	}
	return Config{Logs: o.Logs, Source: source, Parser: p, FromStart: o.FromStart, StateFile: state, Thresholds: th,
		Limits: cdnlog.Limits{MaxPackages: j.MaxPackages, MaxURLs: j.MaxURLs, MaxPoints: j.MaxPoints}, MaxLines: j.MaxLines, Verbose: verbose}, nil
}

// Deps are the check's collaborators: the run path's metric delivery.
type Deps struct {
	Now func() time.Time // nil: time.Now
	// Deliver sends a batch of points now and says whether they are safe
	// (plugin.Env.Deliver: delivered, spooled, or no sink) and whether
	// they went to the spool. nil: there is no sink; the points go
	// nowhere and the positions advance.
	Deliver func(ctx context.Context, points []metrics.Point) (notes []string, delivered, spooled bool)
	Problem func(error) (nagios.Status, string)
}

// Check reads the logs and returns the result. The lines are read in
// batches of at most --max-points per-minute points: each batch is
// delivered, then its positions are saved, before the next one is read,
// so memory does not grow with the backlog. Each batch is one step of
// the exactly-once protocol (see cdnlog.State): an intent, the delivery,
// the commit.
func Check(ctx context.Context, cfg Config, deps Deps) nagios.Result {
	now := time.Now
	if deps.Now != nil {
		now = deps.Now
	}
	fail := func(st nagios.Status, err error) nagios.Result {
		if deps.Problem != nil && (errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)) {
			st, msg := deps.Problem(err)
			return nagios.Result{Status: st, Summary: msg}
		}
		return nagios.Result{Status: st, Summary: err.Error()}
	}
	unlock, err := cdnlog.Lock(ctx, cfg.StateFile)
	if err != nil {
		return fail(nagios.UNKNOWN, err)
	}
	defer unlock()
	st, err := cdnlog.LoadState(cfg.StateFile)
	if err != nil {
		return fail(nagios.UNKNOWN, err)
	}
	start := now()

	agg := cdnlog.NewAggregate(cfg.Limits)
	// A run that died after it may have delivered a batch: read that
	// batch's lines again, exactly, and send the very same points (see
	// cdnlog.State.Pending). The batches after it are new.
	replay := st.Pending != nil && st.Pending.Seq == st.Seq
	var (
		rec      cdnlog.Record
		cut      bool                     // the batch ended before the line offered
		reading  string                   // the log being read
		lastTime = map[string]time.Time{} // per log, the time of the last line read in the batch
		doneTime = map[string]time.Time{} // per log, the same for the committed batches
	)
	onLine := func(line []byte) bool {
		if err := cfg.Parser.Parse(line, &rec); err != nil {
			agg.Bad(line, err)
			return true
		}
		if !replay && agg.Cut(&rec) {
			cut = true
			return false
		}
		agg.Add(&rec)
		lastTime[reading] = rec.Time
		return true
	}

	committed := st // what the state file holds without its intent
	committed.Pending = nil
	committed.Logs = map[string]cdnlog.Position{}
	for k, v := range st.Logs {
		committed.Logs[k] = v
	}
	reads := map[string]*cdnlog.ReadReport{}
	var broken []string
	isBroken := map[string]bool{}
	var notes []string
	left := cfg.MaxLines
	batches := 0
	idx := 0
	for idx < len(cfg.Logs) {
		// One batch: read until --max-points (or the logs' ends, or
		// --max-lines), deliver, commit.
		cut = false
		pending := &cdnlog.Pending{Seq: committed.Seq, Lines: map[string]int{}}
		positions := map[string]cdnlog.Position{}
		for idx < len(cfg.Logs) && !cut {
			path := cfg.Logs[idx]
			reading = path
			var pos *cdnlog.Position
			if p, ok := committed.Logs[path]; ok {
				pos = &p
			}
			ro := cdnlog.ReadOptions{FromStart: cfg.FromStart, MaxLines: left}
			spent := false
			switch {
			case replay:
				ro.MaxLines, ro.Exact = st.Pending.Lines[path], true
			case left <= 0:
				spent = true
				// --max-lines is spent on the logs before: none from this one
				// (MaxLines 0 alone would mean no bound).
				ro.MaxLines, ro.Exact = 0, true
			}
			np, rr, err := cdnlog.Read(ctx, path, pos, ro, onLine)
			if err != nil {
				if ctx.Err() != nil {
					return fail(nagios.CRITICAL, ctx.Err())
				}
				if !isBroken[path] {
					isBroken[path] = true
					broken = append(broken, readError(path, err))
				}
				idx++
				continue
			}
			if replay {
				rr.Notes = append(rr.Notes, fmt.Sprintf("replayed %d lines of a run that did not finish (the same points again)", rr.Lines))
			} else {
				left -= rr.Lines
			}
			if spent && !rr.First {
				rr.Backlog = true
			}
			merge(reads, path, rr)
			pending.Lines[path] += rr.Lines
			positions[path] = np
			if !cut {
				idx++
			}
		}

		delivered, spooled := true, false
		if points := agg.Points(committed.Seq, cfg.Source); len(points) > 0 && deps.Deliver != nil {
			if !replay {
				intent := committed
				intent.Pending = pending
				if err := intent.Save(cfg.StateFile); err != nil {
					return fail(nagios.UNKNOWN, err)
				}
			}
			var n []string
			n, delivered, spooled = deps.Deliver(ctx, points)
			notes = append(notes, n...)
		}
		if replay && len(broken) > 0 {
			// The lost run's lines of that log were not read again: keep
			// the intent, so they are replayed, not read anew, once it is back.
			notes = append(notes, "positions not saved: a log of the run being replayed is missing")
			break
		}
		if !delivered {
			notes = append(notes, "positions not saved: the metrics were neither delivered nor spooled; the same lines are read again next run")
			break
		}
		next := committed
		next.Logs = map[string]cdnlog.Position{}
		for k, v := range committed.Logs {
			next.Logs[k] = v
		}
		for k, v := range positions {
			next.Logs[k] = v
		}
		next.Seq = committed.Seq + 1
		next.LastRun = start
		if agg.Total.Requests+agg.Unparsable > 0 || next.LastLine.IsZero() {
			next.LastLine = start
		}
		if err := next.Save(cfg.StateFile); err != nil {
			notes = append(notes, err.Error()+" (the same lines are read again next run)")
			break
		}
		committed = next
		for k, v := range lastTime {
			doneTime[k] = v
		}
		batches++
		agg.NextBatch()
		if replay {
			// The replayed batch went through every log: the new lines
			// start again at the first.
			replay, idx = false, 0
		}
		if spooled && idx < len(cfg.Logs) {
			// InfluxDB is not taking points: the spool keeps this batch,
			// the rest waits in the log rather than fill the spool past
			// its bound (which drops the oldest points).
			notes = append(notes, "InfluxDB did not take the points: the rest of the logs waits for the next run")
			break
		}
	}

	rep := cdnlog.Report{Agg: agg, First: true, Batches: batches}
	for _, path := range cfg.Logs {
		if rr, ok := reads[path]; ok {
			rep.Reads = append(rep.Reads, *rr)
			rep.First = rep.First && rr.First && !cfg.FromStart
		}
	}
	if len(rep.Reads) == 0 {
		rep.First = false
	}
	lastLine := committed.LastLine
	if agg.Total.Requests+agg.Unparsable > 0 || lastLine.IsZero() {
		lastLine = start
	}
	if !st.LastRun.IsZero() {
		rep.Interval = start.Sub(st.LastRun)
	}
	rep.Quiet = start.Sub(lastLine)
	rep.Lag = cdnlog.Lag{Seconds: 0}
	for _, path := range cfg.Logs {
		pos, ok := committed.Logs[path]
		if !ok || isBroken[path] {
			continue
		}
		lag, err := cdnlog.LagOf(path, pos, cfg.Parser, doneTime[path])
		if err != nil {
			continue
		}
		rep.Lag.Bytes += lag.Bytes
		if math.IsNaN(lag.Seconds) || math.IsNaN(rep.Lag.Seconds) {
			rep.Lag.Seconds = math.NaN()
		} else {
			rep.Lag.Seconds = max(rep.Lag.Seconds, lag.Seconds)
		}
	}

	res := rep.Result(cfg.Thresholds, cfg.Verbose)
	if len(broken) > 0 {
		res.Status = nagios.CRITICAL
		res.Summary = broken[0] + ", " + res.Summary
		res.Long = append(broken[1:], res.Long...)
	}
	res.Long = append(res.Long, notes...)
	res.Tags = map[string]string{"source": cfg.Source}
	return res
}

// merge adds one Read of a log to what the run read from it before.
func merge(reads map[string]*cdnlog.ReadReport, path string, rr cdnlog.ReadReport) {
	r, ok := reads[path]
	if !ok {
		reads[path] = &rr
		return
	}
	r.Lines += rr.Lines
	r.Bytes += rr.Bytes
	r.Backlog = rr.Backlog
	// Files says where the run started; a note repeated by each batch
	// (a rotation followed, with the batch's own offset) is said once.
	for _, n := range rr.Notes {
		if !slices.ContainsFunc(r.Notes, func(o string) bool { return sameNote(o, n) }) {
			r.Notes = append(r.Notes, n)
		}
	}
}

var digits = regexp.MustCompile(`[0-9]+`)

func sameNote(a, b string) bool {
	return digits.ReplaceAllString(a, "") == digits.ReplaceAllString(b, "")
}

func readError(path string, err error) string {
	var pe *fs.PathError
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Sprintf("log %s does not exist", path)
	case errors.Is(err, fs.ErrPermission):
		return fmt.Sprintf("log %s: permission denied", path)
	case errors.As(err, &pe):
		return fmt.Sprintf("log %s: %s %v", path, pe.Op, pe.Err)
	}
	return fmt.Sprintf("log %s: %v", path, err)
}
