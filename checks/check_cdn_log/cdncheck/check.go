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
	"os"
	"path/filepath"
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
	Warn5xx     *nagios.Range     `long:"warning-5xx-ratio" value-name:"RANGE" default:"1" description:"percent of requests answered 5xx"`
	Crit5xx     *nagios.Range     `long:"critical-5xx-ratio" value-name:"RANGE" default:"5" description:"percent of requests answered 5xx"`
	Warn4xx     *nagios.Range     `long:"warning-4xx-ratio" value-name:"RANGE" description:"percent of requests answered 4xx (not judged unless given)"`
	Crit4xx     *nagios.Range     `long:"critical-4xx-ratio" value-name:"RANGE" description:"percent of requests answered 4xx"`
	MinRequests int64             `long:"min-requests" value-name:"N" default:"100" description:"judge the ratios only when a run read at least N requests (a quiet log is not an error)"`
	NoLines     flagtype.Duration `long:"critical-no-lines" value-name:"DURATION" description:"CRITICAL when no line arrived for this long: the CDN's log stream is broken (default: never)"`
	MaxLines    int               `long:"max-lines" value-name:"N" default:"2000000" description:"lines read in one run at most; the rest waits for the next run (bounds time, memory and points)"`
	MaxPackages int               `long:"max-packages" value-name:"N" default:"10000" description:"distinct package versions counted by name in one run; the rest are counted under package (other)"`
	MaxURLs     int               `long:"max-urls" value-name:"N" default:"1000" description:"distinct URLs remembered for the worst-5xx list; the rest are counted as (other)"`
	MaxPoints   int               `long:"max-points" value-name:"N" default:"100000" description:"per-minute points of one run at most (minutes plus package versions per minute); reading stops there and the next run goes on"`
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
	}
	return Config{Logs: o.Logs, Source: source, Parser: p, FromStart: o.FromStart, StateFile: state, Thresholds: th,
		Limits: cdnlog.Limits{MaxPackages: j.MaxPackages, MaxURLs: j.MaxURLs, MaxPoints: j.MaxPoints}, MaxLines: j.MaxLines, Verbose: verbose}, nil
}

// Deps are the check's collaborators: the run path's metric delivery.
type Deps struct {
	Now func() time.Time // nil: time.Now
	// Emit hands points to the run's delivery (plugin.Env.Emit).
	Emit func(...metrics.Point)
	// AfterDelivery runs f once the points are delivered or spooled
	// (plugin.Env.AfterDelivery). nil: f runs at once with true.
	AfterDelivery func(f func(delivered bool) []string)
	Problem       func(error) (nagios.Status, string)
}

// Check reads the logs and returns the result. The new positions are
// saved in AfterDelivery, only when the points were delivered.
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
	committed := false
	defer func() {
		if !committed {
			unlock()
		}
	}()
	st, err := cdnlog.LoadState(cfg.StateFile)
	if err != nil {
		return fail(nagios.UNKNOWN, err)
	}
	start := now()

	agg := cdnlog.NewAggregate(cfg.Limits)
	var rec cdnlog.Record
	onLine := func(line []byte) bool {
		if agg.Full() {
			return false
		}
		if err := cfg.Parser.Parse(line, &rec); err != nil {
			agg.Bad(line, err)
			return true
		}
		agg.Add(&rec)
		return true
	}
	rep := cdnlog.Report{Agg: agg, First: true}
	next := cdnlog.State{Version: st.Version, Seq: st.Seq, LastRun: start, LastLine: st.LastLine, Logs: map[string]cdnlog.Position{}}
	for k, v := range st.Logs {
		next.Logs[k] = v
	}
	var broken []string
	left := cfg.MaxLines
	// A run that died after it may have delivered: read its lines again,
	// exactly, and send the very same points (see cdnlog.State.Pending).
	replay := st.Pending != nil && st.Pending.Seq == st.Seq
	pending := &cdnlog.Pending{Seq: st.Seq, Lines: map[string]int{}}
	for _, path := range cfg.Logs {
		var pos *cdnlog.Position
		if p, ok := st.Logs[path]; ok {
			pos = &p
		}
		ro := cdnlog.ReadOptions{FromStart: cfg.FromStart, MaxLines: left}
		switch {
		case replay:
			ro.MaxLines, ro.Exact = st.Pending.Lines[path], true
		case left <= 0:
			// --max-lines is spent on the logs before: none from this one
			// (MaxLines 0 alone would mean no bound).
			ro.MaxLines, ro.Exact = 0, true
		}
		np, rr, err := cdnlog.Read(ctx, path, pos, ro, onLine)
		if err != nil {
			if ctx.Err() != nil {
				return fail(nagios.CRITICAL, ctx.Err())
			}
			broken = append(broken, readError(path, err))
			continue
		}
		if replay {
			rr.Backlog = false
			rr.Notes = append(rr.Notes, fmt.Sprintf("replayed %d lines of a run that did not finish (the same points again; newer lines are read next run)", rr.Lines))
		} else if left <= 0 && !rr.First {
			rr.Backlog = true
		}
		left -= rr.Lines
		pending.Lines[path] = rr.Lines
		rep.Reads = append(rep.Reads, rr)
		rep.First = rep.First && rr.First && !cfg.FromStart
		next.Logs[path] = np
	}
	lines := agg.Total.Requests + agg.Unparsable
	if lines > 0 || next.LastLine.IsZero() {
		next.LastLine = start
	}
	if !st.LastRun.IsZero() {
		rep.Interval = start.Sub(st.LastRun)
	}
	rep.Quiet = start.Sub(next.LastLine)
	if len(broken) == len(cfg.Logs) {
		rep.First = false
	}

	res := rep.Result(cfg.Thresholds, cfg.Verbose)
	if len(broken) > 0 {
		res.Status = nagios.CRITICAL
		res.Summary = broken[0] + ", " + res.Summary
		res.Long = append(broken[1:], res.Long...)
	}
	res.Tags = map[string]string{"source": cfg.Source}
	if points := agg.Points(st.Seq, cfg.Source); len(points) > 0 && deps.Emit != nil {
		if !replay {
			intent := st
			intent.Pending = pending
			if err := intent.Save(cfg.StateFile); err != nil {
				return fail(nagios.UNKNOWN, err)
			}
		}
		deps.Emit(points...)
	}
	next.Seq = st.Seq + 1
	commit := func(delivered bool) []string {
		defer unlock()
		if replay && len(broken) > 0 {
			// The lost run's lines of that log were not read again: keep
			// the intent, so they are replayed, not read anew, once it is back.
			return []string{"positions not saved: a log of the run being replayed is missing"}
		}
		if !delivered {
			return []string{"positions not saved: the metrics were neither delivered nor spooled; the same lines are read again next run"}
		}
		if err := next.Save(cfg.StateFile); err != nil {
			return []string{err.Error() + " (the same lines are read again next run)"}
		}
		return nil
	}
	committed = true
	if deps.AfterDelivery == nil {
		res.Long = append(res.Long, commit(true)...)
	} else {
		deps.AfterDelivery(commit)
	}
	return res
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
