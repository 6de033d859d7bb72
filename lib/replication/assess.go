package replication

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/registry-checks/registry-checks/lib/couch"
	"github.com/registry-checks/registry-checks/lib/httpclient"
	"github.com/registry-checks/registry-checks/lib/nagios"
	"github.com/registry-checks/registry-checks/lib/secret"
)

// Assess reads the replications of the node c talks to, keeps the selected
// ones and judges each by its state alone (no request leaves the node).
// See AssessWith for the lags. The error is a *nagios.Problem when the node
// cannot be read at all.
func Assess(ctx context.Context, c *couch.Client, sel Selection, th Thresholds, now time.Time) (Report, error) {
	return AssessWith(ctx, c, sel, th, Probes{}, now)
}

// AssessWith is Assess plus the lag probes p asks for: sequence lag and
// checkpoint age (requests to each source and target) and the heartbeat
// (a write on the source, a wait on the target).
func AssessWith(ctx context.Context, c *couch.Client, sel Selection, th Thresholds, p Probes, now time.Time) (Report, error) {
	th = th.withDefaults()
	rep := Report{Expect: sel.Expect, Node: c.URL(), th: th}
	p.step("GET %s/_scheduler/docs and /_scheduler/jobs", c.URL())
	// Both at once: on a node with thousands of replications each is a
	// few megabytes, and the wait is most of the run.
	var jobs *couch.SchedulerJobs
	var jobsErr error
	jobsDone := make(chan struct{})
	go func() {
		defer close(jobsDone)
		jobs, jobsErr = c.SchedulerJobs(ctx)
	}()
	sdocs, err := c.SchedulerDocs(ctx)
	<-jobsDone
	var all []Replication
	switch {
	case err == nil:
		rep.Scheduler = true
		rep.Server = "CouchDB 2.1+ (_scheduler)"
		if jobsErr != nil {
			return rep, jobsErr
		}
		all = fromScheduler(sdocs.Docs, jobs.Jobs)
	case noScheduler(err):
		all, err = assessLegacy(ctx, c, sel, p, &rep)
		if err != nil {
			return rep, err
		}
	default:
		return rep, err
	}
	all = selectReplications(all, sel)
	if rep.Scheduler {
		th = rep.queue(ctx, c, all, th, p)
		if err := throughFromTasks(ctx, c, all, p); err != nil {
			rep.Notes = append(rep.Notes, "written sequence of restarted jobs not read: "+nagios.AsProblem(err).Msg)
		}
	}
	red := c.Redactor()
	for i := range all {
		// Registered the moment they are read, before any text of the
		// server is explained or cut.
		all[i].red = red
		registerSecrets(red, all[i].secrets)
		judgeState(&all[i], th, now)
	}
	rep.Found = 0
	for i := range all {
		if all[i].State != Missing {
			rep.Found++
		}
	}
	rep.Replications = all
	if p.enabled() {
		p.run(ctx, c, &rep, now)
	}
	for i := range rep.Replications {
		judgeLags(&rep.Replications[i], th)
	}
	if rep.Scheduler {
		if err := attachNeededDocs(ctx, c, all, p); err != nil {
			// The verdicts stand without the documents; only the
			// handler's rewrite needs them.
			rep.Notes = append(rep.Notes, "replication documents not read: "+nagios.AsProblem(err).Msg)
		}
		for i := range all {
			registerSecrets(red, all[i].secrets)
			if all[i].State == Completed && all[i].Doc != nil {
				// Only the document says whether it was continuous.
				judgeState(&all[i], th, now)
			}
		}
	}
	for i := range all {
		rep.Secrets = append(rep.Secrets, all[i].secrets...)
	}
	return rep, nil
}

// throughFromTasks gives a running job without stats its written
// sequence from _active_tasks. Right after a (re)start a job with
// nothing new to replicate has "info": null in _scheduler/docs and
// _scheduler/jobs until its first checkpoint (after a node restart most
// jobs do), while its task already holds through_seq: without it the
// lag of an idle, caught-up replication would read "not known". One
// request, asked only when such a job is there.
func throughFromTasks(ctx context.Context, c *couch.Client, all []Replication, p Probes) error {
	need := map[string]*Replication{}
	for i := range all {
		r := &all[i]
		if r.State == Running && r.through.IsZero() && r.ID != "" {
			need[r.ID] = r
		}
	}
	if len(need) == 0 {
		return nil
	}
	p.step("GET %s/_active_tasks (%d running jobs have no stats yet)", c.URL(), len(need))
	tasks, err := c.ActiveTasks(ctx)
	if err != nil {
		return err
	}
	for i := range tasks {
		t := &tasks[i]
		if t.Type != "replication" {
			continue
		}
		if r := need[t.ReplicationID]; r != nil {
			switch {
			case !t.ThroughSeq.IsZero():
				r.through = t.ThroughSeq
			case !t.CheckpointedSourceSeq.IsZero():
				r.through = t.CheckpointedSourceSeq
			}
		}
	}
	return nil
}

func registerSecrets(red *secret.Redactor, secrets []string) {
	if red == nil {
		return
	}
	for _, s := range secrets {
		red.Add(s)
	}
}

// attachNeededDocs reads the documents of the replications that are not
// OK, and of completed ones, in one POST _all_docs per replicator database.
func attachNeededDocs(ctx context.Context, c *couch.Client, all []Replication, p Probes) error {
	keys := map[string][]string{}
	var dbs []string
	for i := range all {
		r := &all[i]
		if r.Transient || r.State == Missing || r.Doc != nil || (r.Status == nagios.OK && r.State != Completed) {
			continue
		}
		if keys[r.Database] == nil {
			dbs = append(dbs, r.Database)
		}
		keys[r.Database] = append(keys[r.Database], r.DocID)
	}
	var docs []replDoc
	for _, db := range dbs {
		p.step("POST %s/%s/_all_docs (%d documents)", c.URL(), db, len(keys[db]))
		d, err := fetchDocs(ctx, c, db, keys[db]...)
		if err != nil {
			return err
		}
		docs = append(docs, d...)
	}
	attachDocs(all, docs)
	return nil
}

// noScheduler reports the answer of a server without /_scheduler (1.x
// takes it for a database with an illegal name, 2.0 and PouchDB Server
// answer 404).
func noScheduler(err error) bool {
	var se *httpclient.StatusError
	if !errors.As(err, &se) {
		return false
	}
	switch se.Code {
	case http.StatusNotFound, http.StatusBadRequest, http.StatusMethodNotAllowed, http.StatusNotImplemented:
		return true
	}
	return false
}

// attachDocs gives each doc-based replication its document: the raw
// definition, the continuous flag and the endpoints' credentials (and the
// URLs, which an "error" state leaves out of _scheduler/docs).
func attachDocs(all []Replication, docs []replDoc) {
	if len(docs) == 0 {
		return
	}
	byKey := make(map[string]*replDoc, len(docs))
	for i := range docs {
		byKey[docs[i].db+"/"+docs[i].id] = &docs[i]
	}
	for i := range all {
		r := &all[i]
		d := byKey[r.Key]
		if r.Transient || d == nil {
			continue
		}
		r.attachDoc(d)
	}
}

func (r *Replication) attachDoc(d *replDoc) {
	r.Doc = d.raw
	r.Continuous = r.Continuous || d.parsed.Continuous
	r.sourceAuth, r.secrets = d.sourceAuth, d.secrets
	if r.sourceURL == "" && d.sourceURL != "" {
		r.setEndpoints(d.sourceURL, r.targetURL)
	}
	if r.targetURL == "" && d.targetURL != "" {
		r.setEndpoints(r.sourceURL, d.targetURL)
	}
}

// assessLegacy reads a node without _scheduler: the _replicator
// documents carry the state (_replication_state triggered, error,
// completed) and _active_tasks the progress of what really runs.
func assessLegacy(ctx context.Context, c *couch.Client, sel Selection, p Probes, rep *Report) ([]Replication, error) {
	// None of the answers depends on another (/ only changes how the
	// others read), so all are asked at once: over a WAN each round trip
	// is most of the run.
	dbs := sel.replicatorDBs()
	gets := []string{"GET " + c.URL() + "/"}
	for _, db := range dbs {
		gets = append(gets, "GET "+c.URL()+"/"+db+"/_all_docs")
	}
	gets = append(gets, "GET "+c.URL()+"/_active_tasks")
	p.step("%s and %s", strings.Join(gets[:len(gets)-1], ", "), gets[len(gets)-1])
	var (
		wg       sync.WaitGroup
		root     *couch.Root
		rootErr  error
		dbDocs   = make([][]replDoc, len(dbs))
		dbErrs   = make([]error, len(dbs))
		tasks    []couch.ActiveTask
		tasksErr error
	)
	wg.Go(func() { root, rootErr = c.Root(ctx) })
	for i, db := range dbs {
		wg.Go(func() { dbDocs[i], dbErrs[i] = fetchDocs(ctx, c, db) })
	}
	wg.Go(func() { tasks, tasksErr = c.ActiveTasks(ctx) })
	wg.Wait()
	// When several fail, report the one that asking in turn (/, the
	// databases in order, _active_tasks) met first: the message an
	// operator got before does not depend on which answer came last.
	if rootErr != nil {
		// The operator asked about replications, not about /: say why.
		var p *nagios.Problem
		var se *httpclient.StatusError
		if errors.As(rootErr, &p) && errors.As(rootErr, &se) {
			np := *p
			np.Msg += " (no /_scheduler/docs either: is the URL a CouchDB node?)"
			return nil, &np
		}
		return nil, rootErr
	}
	var docs []replDoc
	for i := range dbs {
		if dbErrs[i] != nil {
			return nil, dbErrs[i]
		}
		docs = append(docs, dbDocs[i]...)
	}
	if tasksErr != nil {
		return nil, tasksErr
	}
	pouch := isPouch(root)
	switch {
	case pouch:
		rep.Server = strings.TrimSpace("PouchDB Server " + root.Version)
	default:
		rep.Server = strings.TrimSpace("CouchDB " + root.Version)
	}
	return fromLegacy(docs, tasks, !pouch, c.URL()), nil
}

// isPouch recognises PouchDB Server (express-pouchdb), whose _active_tasks
// never lists replications.
func isPouch(root *couch.Root) bool {
	return strings.Contains(strings.ToLower(root.Vendor.Name), "pouchdb") || root.CouchDB == ""
}

// fromLegacy maps _replicator documents and replication tasks.
// tasksListed is false on PouchDB Server, which lists no tasks: there a
// "triggered" document is all the server says, and only the heartbeat
// tells whether it is true. base resolves a local database name (1.x
// allows "target": "registry") into a URL.
func fromLegacy(docs []replDoc, tasks []couch.ActiveTask, tasksListed bool, base string) []Replication {
	byDoc := map[string]*couch.ActiveTask{}
	var transient []*couch.ActiveTask
	for i := range tasks {
		t := &tasks[i]
		if t.Type != "replication" {
			continue
		}
		if t.DocID == "" {
			transient = append(transient, t)
			continue
		}
		byDoc[t.DocID] = t
	}
	out := make([]Replication, 0, len(docs)+len(transient))
	for i := range docs {
		d := &docs[i]
		pd := &d.parsed
		r := Replication{
			Key:      d.db + "/" + d.id,
			DocID:    d.id,
			Database: d.db,
			ID:       pd.ReplicationID,
			Since:    pd.ReplicationStateTime.Time,
		}
		r.setEndpoints(absolute(d.sourceURL, base), absolute(d.targetURL, base))
		r.attachDoc(d)
		switch state := stateName(pd.ReplicationState); state {
		case "triggered", "running":
			if t := byDoc[d.id]; t != nil {
				r.State = Running
				r.setTask(t)
			} else {
				r.State = Triggered
				r.noTask = tasksListed
				r.heartbeatOnly = !tasksListed
				if !tasksListed {
					r.Notes = append(r.Notes, "PouchDB Server lists no replication tasks: only --heartbeat-db shows whether this replication moves data")
				}
			}
		case "error", "crashing":
			r.State = Error
			r.LastError = pd.ReplicationStateReason.Line()
		case "failed":
			r.State = Failed
			r.LastError = pd.ReplicationStateReason.Line()
		case "completed":
			r.State = Completed
			if pd.ReplicationStats != nil {
				r.setInfo(pd.ReplicationStats)
			}
		case "":
			r.State = Initializing
		default:
			r.State = state
		}
		out = append(out, r)
	}
	for _, t := range transient {
		r := Replication{
			Key:        "transient:" + t.ReplicationID,
			ID:         t.ReplicationID,
			Transient:  true,
			Continuous: t.Continuous,
			State:      Running,
			Since:      t.StartedOn.Time,
		}
		r.setEndpoints(absolute(t.Source, base), absolute(t.Target, base))
		r.setTask(t)
		out = append(out, r)
	}
	return out
}

func (r *Replication) setTask(t *couch.ActiveTask) {
	r.HasStats = true
	r.DocsWritten = t.DocsWritten
	r.DocWriteFailures = t.DocWriteFailures
	r.ChangesPending = t.ChangesPending
	r.Continuous = r.Continuous || t.Continuous
	if r.ID == "" {
		r.ID = t.ReplicationID
	}
	switch {
	case !t.ThroughSeq.IsZero():
		r.through = t.ThroughSeq
	case !t.CheckpointedSourceSeq.IsZero():
		r.through = t.CheckpointedSourceSeq
	}
}

// absolute turns a 1.x local database name into a URL on the node.
func absolute(u, base string) string {
	if u == "" || strings.Contains(u, "://") {
		return u
	}
	return strings.TrimSuffix(base, "/") + "/" + u
}
