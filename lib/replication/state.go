package replication

import (
	"fmt"
	"strings"
	"time"

	"github.com/registry-checks/registry-checks/lib/couch"
	"github.com/registry-checks/registry-checks/lib/nagios"
	"github.com/registry-checks/registry-checks/lib/secret"
)

// fromScheduler builds the replications of a 2.1+ node from
// _scheduler/docs and _scheduler/jobs. The doc gives the state; the job
// gives the history, which is what tells a recovered job from a crashing
// one, since error_count never resets.
func fromScheduler(docs []couch.SchedulerDoc, jobs []couch.SchedulerJob) []Replication {
	byID := make(map[string]*couch.SchedulerJob, len(jobs))
	for i := range jobs {
		if jobs[i].ID != "" {
			byID[jobs[i].ID] = &jobs[i]
		}
	}
	out := make([]Replication, 0, len(docs)+2)
	seen := make(map[string]bool, len(docs))
	for i := range docs {
		d := &docs[i]
		r := Replication{
			Key:        d.Database + "/" + d.DocID,
			DocID:      d.DocID,
			Database:   d.Database,
			ID:         d.ID,
			Continuous: strings.Contains(d.ID, "+continuous"),
			State:      stateName(d.State),
			ErrorCount: d.ErrorCount,
			Since:      d.LastUpdated.Time,
		}
		r.setEndpoints(d.Source, d.Target)
		r.setInfo(d.Info)
		if j := byID[d.ID]; j != nil {
			seen[d.ID] = true
			r.applyJob(j)
		}
		out = append(out, r)
	}
	for i := range jobs {
		j := &jobs[i]
		if seen[j.ID] || j.DocID != "" {
			// A doc-based job without its doc in _scheduler/docs is a
			// race between the two requests; the next run sees it.
			continue
		}
		r := Replication{
			Key:        "transient:" + j.ID,
			ID:         j.ID,
			Transient:  true,
			Continuous: strings.Contains(j.ID, "+continuous"),
			State:      Running,
			Since:      j.StartTime.Time,
		}
		r.setEndpoints(j.Source, j.Target)
		r.setInfo(j.Info)
		r.applyJob(j)
		if j.PID == "" && r.State == Running {
			r.State = Pending
		}
		out = append(out, r)
	}
	return out
}

// stateName is a state the server reported: one of the states CouchDB
// knows in lower case, whatever case it came in, else the server's text as
// sent. Server text is never folded to lower case: a password in it would
// no longer be recognised by the run's redactor.
func stateName(s string) string {
	switch l := strings.ToLower(s); l {
	case Running, Pending, Initializing, Crashing, Error, Failed, Completed, Triggered:
		return l
	}
	return s
}

// setEndpoints keeps the URLs without credentials and trailing slash. The
// credentials of a server that shows them (CouchDB masks them) are kept
// with the document's secrets, to be registered.
func (r *Replication) setEndpoints(source, target string) {
	for _, u := range []string{source, target} {
		if _, creds, err := secret.SplitURL(strings.TrimSpace(u)); err == nil {
			r.secrets = append(r.secrets, secret.CredentialSecrets(creds)...)
		}
	}
	r.sourceURL = cleanURL(source)
	r.targetURL = cleanURL(target)
	r.Source = secret.RedactURL(r.sourceURL)
	r.Target = secret.RedactURL(r.targetURL)
}

func cleanURL(raw string) string {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return ""
	}
	if clean, _, err := secret.SplitURL(raw); err == nil {
		raw = clean
	} else {
		raw = secret.RedactURL(raw)
	}
	return strings.TrimSuffix(raw, "/")
}

// setInfo takes the counters or the error of an info object.
func (r *Replication) setInfo(info *couch.ReplicationInfo) {
	if info == nil {
		return
	}
	if info.Error != "" {
		r.LastError = info.Error.Line()
		return
	}
	r.HasStats = true
	r.DocsWritten = info.DocsWritten
	r.DocWriteFailures = info.DocWriteFailures
	r.ChangesPending = info.ChangesPending
	switch {
	case !info.ThroughSeq.IsZero():
		r.through = info.ThroughSeq
	case !info.CheckpointedSourceSeq.IsZero():
		r.through = info.CheckpointedSourceSeq
	}
}

// applyJob reads the job's history (newest first) and, when the doc had
// none, its counters: a crashing job keeps its stats in _scheduler/jobs.
func (r *Replication) applyJob(j *couch.SchedulerJob) {
	if !r.HasStats && j.Info != nil && j.Info.Error == "" {
		err := r.LastError
		r.setInfo(j.Info)
		r.LastError = err
	}
	for _, ev := range j.History {
		if ev.Type == "started" {
			r.LastStart = ev.Timestamp.Time
			break
		}
	}
	if reason, at, ok := lastCrash(j); ok {
		r.recentCrash, r.recentCrashAt = reason, at
	}
	if len(j.History) == 0 {
		return
	}
	newest := j.History[0]
	if newest.Type == "crashed" {
		if r.LastError == "" {
			r.LastError = newest.Reason.Line()
		}
		// CouchDB can show a job that just crashed as pending (or, for a
		// moment, still running): the history is the truth.
		if r.State == Pending || r.State == Running {
			r.State = Crashing
			r.Since = newest.Timestamp.Time
		}
	}
}

// lastCrash returns the reason and time of the crash that preceded the
// newest start, if any: a job running again after a crash.
func lastCrash(j *couch.SchedulerJob) (string, time.Time, bool) {
	if len(j.History) < 2 || j.History[0].Type != "started" {
		return "", time.Time{}, false
	}
	for _, ev := range j.History[1:] {
		switch ev.Type {
		case "crashed":
			return ev.Reason.Line(), ev.Timestamp.Time, true
		case "started", "added":
			return "", time.Time{}, false
		}
	}
	return "", time.Time{}, false
}

// judgeState gives the verdict the state alone supports; lags are judged
// afterwards (judgeLags) and can only make it worse.
func judgeState(r *Replication, th Thresholds, now time.Time) {
	errs := ""
	if r.ErrorCount > 0 {
		errs = fmt.Sprintf(", %d %s", r.ErrorCount, plural(r.ErrorCount, "error", "errors"))
	}
	explainErr := func() string {
		if r.LastError == "" {
			r.Cause = Cause{What: "no reason given"}
			return r.Cause.What
		}
		r.Cause = classify(r.red.Redact(r.LastError), r.sourceURL, r.targetURL)
		r.SourceDown = r.Cause.SourceDown()
		return r.Cause.String()
	}
	switch r.State {
	case Running:
		r.Status, r.Reason = nagios.OK, ""
		if !r.recentCrashAt.IsZero() && !r.LastStart.IsZero() && now.Sub(r.LastStart) < th.CrashGrace {
			crash := classify(r.red.Redact(r.recentCrash), r.sourceURL, r.targetURL)
			r.SourceDown = crash.SourceDown()
			r.Status = nagios.WARNING
			// CouchDB's own retry, worded so that nobody takes it for the
			// handler's restart (which starts a job with a fresh history).
			r.Reason = fmt.Sprintf("CouchDB retried it %s ago after a crash: %s", age(now.Sub(r.LastStart)), crash)
			r.Cause = Cause{What: "recovering from a crash", Server: crash.Server, Detail: crash.What}
		}
	case Pending:
		r.Status = nagios.OK
		limit := th.PendingAge
		if limit <= 0 {
			limit = DefaultPendingAge
		}
		if !r.Since.IsZero() && now.Sub(r.Since) > limit {
			r.Status = nagios.WARNING
			r.Reason = fmt.Sprintf("pending for %s, longer than the scheduler's rotation explains (%s)", age(now.Sub(r.Since)), age(limit))
			r.Cause = Cause{What: "pending too long"}
		}
	case Initializing:
		r.Status = nagios.OK
		if !r.Since.IsZero() && now.Sub(r.Since) > th.InitializingAge {
			r.Status = nagios.WARNING
			r.Reason = fmt.Sprintf("initializing for %s", age(now.Sub(r.Since)))
			r.Cause = Cause{What: "initializing too long"}
		}
	case Crashing:
		r.Status = nagios.CRITICAL
		r.Reason = explainErr() + errs
	case Error:
		r.Status = nagios.CRITICAL
		r.Reason = explainErr() + errs
	case Failed:
		r.Status = nagios.CRITICAL
		r.Reason = explainErr() + "; will not retry"
		if r.Cause.What != CauseDuplicate {
			r.Reason += ": restart needed"
		}
	case Completed:
		r.Status = nagios.OK
		if r.Continuous || th.Continuous {
			r.Status = nagios.CRITICAL
			r.Reason = "completed, but should be continuous: restart needed"
			r.Cause = Cause{What: "completed, should be continuous"}
		}
	case Triggered:
		// What the server believes; the probes (a task, the heartbeat)
		// say whether it is true.
		r.Status = nagios.OK
		if r.noTask {
			r.Status = nagios.WARNING
			r.Reason = "triggered, but no replication task runs for it"
			r.Cause = Cause{What: "no replication task"}
		}
	case Missing:
		r.Status = nagios.CRITICAL
		if r.Reason == "" {
			r.Reason = "no such replication (document deleted?)"
		}
		r.Cause = Cause{What: "replication missing"}
	default:
		r.Status = nagios.UNKNOWN
		r.Reason = fmt.Sprintf("state %q is unknown to this check", r.State)
		r.Cause = Cause{What: "state unknown to this check"}
	}
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// age prints a duration the way an operator reads it: 45s, 3m10s, 2h5m.
func age(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	default:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
}

func secs(v float64) time.Duration { return time.Duration(v * float64(time.Second)) }

// seconds prints a lag in seconds with a precision that fits its size.
func seconds(v float64) string {
	if v < 10 {
		return fmt.Sprintf("%.2fs", v)
	}
	return age(secs(v))
}
