package restart

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-kivik/kivik/v4"

	"github.com/registry-checks/registry-checks/lib/couch"
	"github.com/registry-checks/registry-checks/lib/httpclient"
	"github.com/registry-checks/registry-checks/lib/nagios"
	"github.com/registry-checks/registry-checks/lib/replication"
	"github.com/registry-checks/registry-checks/lib/safefile"
	"github.com/registry-checks/registry-checks/lib/secret"
)

// Target is one replication to restart.
type Target struct {
	Key       string
	DocID     string // "" for a transient replication
	Database  string // the replicator database
	Transient bool
	Spec      json.RawMessage // the POST /_replicate body, for a transient one
	Reason    string          // why, recorded in the recreated document
}

func (t Target) where() string {
	if t.Transient {
		return "transient replication " + t.Key
	}
	return t.Database + "/" + t.DocID
}

// Outcome is what the restart of one target did.
type Outcome struct {
	Detail string // "recreated _replicator/x, new job running", "would delete and recreate ..."
	Backup string // the saved document, when one was rewritten
	// Stage is the step an error happened at (read, backup, delete,
	// recreate, confirm, repost), "" when it went through: for grouping
	// the failures of a run.
	Stage string
	// Cause is what went wrong, the same words for every document it
	// happened to (no document id, no URL): the run's first line groups
	// the failures by it.
	Cause string
	Err   error
	// Queued: the new job is pending on a node at its scheduler limit
	// (Limit says which, e.g. "max_jobs 500"): started and waiting for a
	// slot, which the scheduler's rotation gives it. Not a failure.
	Queued bool
	Limit  string
}

// Executor restarts replications: one Outcome per target, in order.
type Executor interface {
	Restart(ctx context.Context, ts []Target) []Outcome
}

// DryRun restarts nothing and says what it would do.
type DryRun struct{}

// Restart implements Executor.
func (DryRun) Restart(_ context.Context, ts []Target) []Outcome {
	out := make([]Outcome, len(ts))
	for i, t := range ts {
		out[i].Detail = "dry run: would delete and recreate " + t.where()
		if t.Transient {
			out[i].Detail = "dry run: would cancel and re-post " + t.where() + " from --transient-spec"
		}
	}
	return out
}

// JobState is what the check logic says of a replication after its
// restart: its state, and whether that is running or triggered.
type JobState struct {
	State   string
	Running bool
}

// Confirmer reads the replications of the targets at once (one
// _scheduler/docs, or the replicator documents on 1.x and PouchDB
// Server) and returns the state of each one found, by "<db>/<doc id>"
// (the check's replication key).
type Confirmer func(ctx context.Context, ts []Target) (map[string]JobState, error)

// AssessConfirmer is the Confirmer of a handler: one read of every
// replication (_scheduler/docs, or the replicator documents on 1.x and
// PouchDB Server) with the check's logic, kept to the restarted
// documents. now is the clock the states are judged at.
func AssessConfirmer(client *couch.Client, th replication.Thresholds, now func() time.Time) Confirmer {
	return func(ctx context.Context, ts []Target) (map[string]JobState, error) {
		sel := replication.Selection{}
		for _, t := range ts {
			sel.DocIDs = append(sel.DocIDs, t.DocID)
			if !slices.Contains(sel.ReplicatorDBs, t.Database) {
				sel.ReplicatorDBs = append(sel.ReplicatorDBs, t.Database)
			}
		}
		rep, err := replication.Assess(ctx, client, sel, th, now())
		if err != nil {
			return nil, err
		}
		out := make(map[string]JobState, len(rep.Replications))
		for _, r := range rep.Replications {
			out[r.Database+"/"+r.DocID] = JobState{State: r.State, Running: r.State == replication.Running || r.State == replication.Triggered}
		}
		return out, nil
	}
}

// Couch restarts replications on one CouchDB node.
type Couch struct {
	Client    *couch.Client
	HTTP      *httpclient.Client // for POST /_replicate, which kivik has no call for
	Creds     secret.Credentials // the node's, for POST /_replicate
	BackupDir string
	By        string // who restarts, recorded in the document: "restart_couch_replication on host"
	Confirm   Confirmer
	// ConfirmWithin bounds the wait for the new jobs (within ctx).
	ConfirmWithin time.Duration
	// Settle is a pause between the deletes and the rewrites, and
	// OneByOne writes each document again only once the replicator has
	// taken up the one before: for PouchDB Server (PouchDBSettle).
	Settle   time.Duration
	OneByOne bool
	Now      func() time.Time
}

// PouchDBSettle is Couch.Settle on PouchDB Server (4.2, pouchdb-replicator),
// which also gets OneByOne. Its replicator ends the job of a deleted
// document asynchronously, and when the job has ended it writes
// "_replication_state": "completed" into the document of that id,
// whatever it is by then: a document written again too soon is marked
// completed and its new job is orphaned. And it tells its own writes
// from a user's by a list it prunes wrongly (splice by id), which holds
// only while one document changes at a time: of 200 documents written in
// one _bulk_docs, a few were marked "completed" at once. A single
// document was rewritten fast enough, which is why one at a time, after
// the pause, is how PouchDB Server gets them. CouchDB needs neither.
const PouchDBSettle = 2 * time.Second

// RestartedBy is the field recorded in a recreated document: {"at",
// "by", "reason"}. Besides the audit trail it makes the new body differ
// from the old one, which PouchDB Server needs to start a new replication
// (it takes an identical document for the replication it already has).
const RestartedBy = "restarted_by"

// BulkBatch is the number of documents per POST _all_docs and
// _bulk_docs: a primary outage can leave hundreds of replications to
// restart within Nagios's event handler timeout.
const BulkBatch = 500

// bulkAttempts bounds the requests that try one document's delete or
// rewrite (a conflict is not retried: someone else changed it).
const bulkAttempts = 3

// Restart implements Executor. Documents are restarted the way CouchDB
// documents it (keep the definition, delete the document, write it
// again), in bulk per replicator database: one POST _all_docs reads a
// batch, each document is saved to a backup file, one POST _bulk_docs
// deletes them and one writes them again; then a single wait confirms
// every new job. Only the documents named are touched. Transient
// replications are re-posted one by one.
func (c *Couch) Restart(ctx context.Context, ts []Target) []Outcome {
	out := make([]Outcome, len(ts))
	var docs []int
	for i, t := range ts {
		if t.Transient {
			out[i] = c.restartTransient(ctx, t)
			continue
		}
		docs = append(docs, i)
	}
	redo := c.confirm(ctx, ts, c.rewriteAll(ctx, ts, docs, out), out)
	if len(redo) > 0 {
		// PouchDB Server marked them completed (see PouchDBSettle): once
		// more, now that their old jobs have ended.
		for _, i := range c.confirm(ctx, ts, c.rewriteAll(ctx, ts, redo, out), out) {
			out[i].Stage, out[i].Cause, out[i].Err = "confirm", "marked completed twice by PouchDB Server", &nagios.Problem{Status: nagios.CRITICAL,
				Msg: fmt.Sprintf("%s recreated twice, but PouchDB Server marked it completed both times", ts[i].where())}
		}
	}
	return out
}

// rewriteAll restarts the documents ts[idx] in batches per replicator
// database and returns the indexes of those written again.
func (c *Couch) rewriteAll(ctx context.Context, ts []Target, idx []int, out []Outcome) []int {
	byDB := map[string][]int{}
	var dbs []string
	for _, i := range idx {
		db := ts[i].Database
		if byDB[db] == nil {
			dbs = append(dbs, db)
		}
		byDB[db] = append(byDB[db], i)
	}
	var written []int
	for _, db := range dbs {
		for batch := range slices.Chunk(byDB[db], BulkBatch) {
			written = append(written, c.rewrite(ctx, db, ts, batch, out)...)
		}
	}
	return written
}

// rewriting is one document on its way through rewrite.
type rewriting struct {
	i    int // index in ts and out
	id   string
	rev  string
	body map[string]any
	raw  json.RawMessage // as read, for the backup
	err  error           // of the last attempt
}

// backups is how many backup files are written at once: each is synced
// to disk before anything changes, and syncs made together cost little
// more than one.
const backups = 16

// backupAll saves every document before it is touched and returns those
// saved; the others are not restarted.
func (c *Couch) backupAll(ts []Target, rs []*rewriting, now time.Time, out []Outcome) []*rewriting {
	errs := make([]error, len(rs))
	sem := make(chan struct{}, backups)
	var wg sync.WaitGroup
	for k, r := range rs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			out[r.i].Backup, errs[k] = c.backup(ts[r.i], r.raw, now)
			r.raw = nil
		}()
	}
	wg.Wait()
	saved := rs[:0]
	for k, r := range rs {
		if errs[k] != nil {
			out[r.i] = Outcome{Stage: "backup", Cause: "backup not saved, not touched", Err: nagios.Problemf(nagios.UNKNOWN, "not restarting %s: could not save a backup first: %v", ts[r.i].where(), errs[k])}
			continue
		}
		saved = append(saved, r)
	}
	return saved
}

// rewrite restarts the documents ts[idx] of db and returns the indexes of
// those written again.
func (c *Couch) rewrite(ctx context.Context, db string, ts []Target, idx []int, out []Outcome) []int {
	kdb := c.Client.Kivik().DB(db)
	dbPath := "/" + url.PathEscape(db)
	ids := make([]string, len(idx))
	for k, i := range idx {
		ids[k] = ts[i].DocID
	}
	start := time.Now()
	raws, err := readDocs(ctx, kdb, ids)
	if err != nil {
		p := c.Client.Problem(http.MethodPost, dbPath+"/_all_docs", start, err)
		for _, i := range idx {
			out[i] = Outcome{Stage: "read", Cause: "documents not read (" + lastPart(nagios.AsProblem(p)) + ")", Err: p}
		}
		return nil
	}
	now := c.now()
	var todo []*rewriting
	for _, i := range idx {
		t := ts[i]
		path := dbPath + "/" + url.PathEscape(t.DocID)
		raw, ok := raws[t.DocID]
		if !ok {
			out[i] = Outcome{Stage: "read", Cause: "document gone", Err: httpclient.StatusProblem(&httpclient.StatusError{Method: http.MethodGet, URL: c.Client.URL() + path,
				Code: http.StatusNotFound, User: c.Client.User(), Reason: "not_found: the document is gone (POST " + dbPath + "/_all_docs)"})}
			continue
		}
		var meta struct {
			Rev string `json:"_rev"`
		}
		if err := json.Unmarshal(raw, &meta); err != nil || meta.Rev == "" {
			out[i] = Outcome{Stage: "read", Cause: "document without _rev", Err: nagios.Problemf(nagios.UNKNOWN, "GET %s%s: the document has no _rev", c.Client.URL(), path)}
			continue
		}
		body, err := replication.Definition(raw)
		if err != nil {
			out[i] = Outcome{Stage: "read", Cause: "document not a JSON object", Err: nagios.Problemf(nagios.UNKNOWN, "GET %s%s: not a JSON object: %v", c.Client.URL(), path, err)}
			continue
		}
		body[RestartedBy] = map[string]string{"at": now.UTC().Format(time.RFC3339Nano), "by": c.By, "reason": t.Reason}
		body["_id"] = t.DocID
		todo = append(todo, &rewriting{i: i, id: t.DocID, rev: meta.Rev, body: body, raw: raw})
	}
	todo = c.backupAll(ts, todo, now, out)

	deleted, left := c.bulk(ctx, kdb, dbPath, todo, func(r *rewriting) any {
		return map[string]any{"_id": r.id, "_rev": r.rev, "_deleted": true}
	})
	for _, r := range left {
		t := ts[r.i]
		p := nagios.AsProblem(r.err)
		msg := fmt.Sprintf("could not delete %s (%s); it is unchanged", t.where(), p.Msg)
		cause := "delete failed (" + lastPart(p) + ")"
		if kivik.HTTPStatus(r.err) == http.StatusConflict {
			msg = fmt.Sprintf("%s changed since it was read (conflict); not restarted, a later run may", t.where())
			cause = "changed since read (conflict)"
		}
		out[r.i].Stage, out[r.i].Cause, out[r.i].Err = "delete", cause, &nagios.Problem{Status: nagios.CRITICAL, Err: p, Msg: msg}
	}
	if len(deleted) > 0 && c.Settle > 0 {
		select {
		case <-ctx.Done():
		case <-time.After(c.Settle):
		}
	}
	// Over a deletion a document is written without a rev.
	body := func(r *rewriting) any { return r.body }
	var written []*rewriting
	left = nil
	if c.OneByOne {
		for k, r := range deleted {
			if d, ok := ctx.Deadline(); ok && time.Until(d) < oneByOneReserve {
				// Out of time for one at a time: every document deleted
				// must be written again before the run ends.
				w, l := c.bulk(ctx, kdb, dbPath, deleted[k:], body)
				written, left = append(written, w...), append(left, l...)
				break
			}
			w, l := c.bulk(ctx, kdb, dbPath, []*rewriting{r}, body)
			written, left = append(written, w...), append(left, l...)
			if len(w) > 0 {
				awaitReplicator(ctx, kdb, r.id)
			}
		}
	} else {
		written, left = c.bulk(ctx, kdb, dbPath, deleted, body)
	}
	for _, r := range left {
		t := ts[r.i]
		p := nagios.AsProblem(r.err)
		msg := fmt.Sprintf("deleted %s but could not write it again (%s): the replication is gone until it is restored from %s", t.where(), p.Msg, out[r.i].Backup)
		cause := "deleted, not written again (" + lastPart(p) + "): restore the backup"
		if kivik.HTTPStatus(r.err) == http.StatusConflict {
			msg = fmt.Sprintf("deleted %s, but another writer created it again first (conflict): compare it with the backup %s", t.where(), out[r.i].Backup)
			cause = "written again by another writer (conflict)"
		}
		out[r.i].Stage, out[r.i].Cause, out[r.i].Err = "recreate", cause, &nagios.Problem{Status: nagios.CRITICAL, Err: p, Msg: msg}
	}
	done := make([]int, len(written))
	for k, r := range written {
		out[r.i].Detail = "recreated " + ts[r.i].where()
		done[k] = r.i
	}
	return done
}

// bulk sends doc(r) of every r in one POST _bulk_docs, and again, up to
// bulkAttempts requests in all, for those that failed for another reason
// than a conflict. It returns the documents written and those not (with
// their error).
func (c *Couch) bulk(ctx context.Context, kdb *kivik.DB, dbPath string, rs []*rewriting, doc func(*rewriting) any) (ok, failed []*rewriting) {
	path := dbPath + "/_bulk_docs"
	for attempt := 0; attempt < bulkAttempts && len(rs) > 0 && ctx.Err() == nil; attempt++ {
		docs := make([]any, len(rs))
		for k, r := range rs {
			docs[k] = doc(r)
		}
		start := time.Now()
		res, err := kdb.BulkDocs(ctx, docs)
		if err != nil {
			p := c.Client.Problem(http.MethodPost, path, start, err)
			for _, r := range rs {
				r.err = p
			}
			continue
		}
		byID := make(map[string]error, len(res))
		for _, b := range res {
			byID[b.ID] = b.Error
		}
		var again []*rewriting
		for _, r := range rs {
			err, answered := byID[r.id]
			switch {
			case !answered:
				r.err = nagios.Problemf(nagios.CRITICAL, "POST %s%s: no answer for %s", c.Client.URL(), path, r.id)
				again = append(again, r)
			case err == nil:
				ok = append(ok, r)
			case kivik.HTTPStatus(err) == http.StatusConflict:
				r.err = bulkError(c.Client.Redactor(), c.Client.URL()+path, r.id, err)
				failed = append(failed, r)
			default:
				r.err = bulkError(c.Client.Redactor(), c.Client.URL()+path, r.id, err)
				again = append(again, r)
			}
		}
		rs = again
	}
	return ok, append(failed, rs...)
}

// bulkError is a document's error in a _bulk_docs answer; it keeps the
// HTTP status kivik gives it.
type bulkErr struct {
	status int
	msg    string
}

func (e *bulkErr) Error() string   { return e.msg }
func (e *bulkErr) HTTPStatus() int { return e.status }

// The reason is the server's text: redacted, sanitized and bounded by the
// one path every server reason takes (httpclient.ServerReason).
func bulkError(red *secret.Redactor, where, id string, err error) error {
	return &nagios.Problem{Status: nagios.CRITICAL, Msg: fmt.Sprintf("POST %s: %s: %s", secret.RedactURL(where), id, httpclient.ServerReason(red, err.Error())),
		Err: &bulkErr{status: kivik.HTTPStatus(err), msg: err.Error()}}
}

// oneByOneReserve is the time left to a run when it stops writing
// documents one at a time and writes the rest at once.
const oneByOneReserve = 5 * time.Second

// awaitReplicator waits, a few seconds at most, until the replicator has
// recorded its state in document id (PouchDB Server's replicator writes
// "_replication_state" into it once it has taken it up).
func awaitReplicator(ctx context.Context, kdb *kivik.DB, id string) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	for {
		var doc struct {
			State string `json:"_replication_state"`
		}
		if err := kdb.Get(ctx, id).ScanDoc(&doc); err == nil && doc.State != "" {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// readDocs reads documents by id in one POST _all_docs; a deleted or
// missing one is absent from the map.
func readDocs(ctx context.Context, kdb *kivik.DB, ids []string) (map[string]json.RawMessage, error) {
	rows := kdb.AllDocs(ctx, kivik.Params(map[string]any{"include_docs": true, "keys": ids}))
	defer rows.Close()
	out := make(map[string]json.RawMessage, len(ids))
	for rows.Next() {
		id, err := rows.ID()
		if err != nil || id == "" {
			continue
		}
		var raw json.RawMessage
		if err := rows.ScanDoc(&raw); err != nil || len(raw) == 0 || string(raw) == "null" {
			continue
		}
		out[id] = raw
	}
	return out, rows.Err()
}

// backup saves the document as read, credentials included (mode 600),
// before anything is changed.
func (c *Couch) backup(t Target, doc json.RawMessage, now time.Time) (string, error) {
	dir := filepath.Join(c.BackupDir, NodeName(t.Database))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("%s: %w", dir, unwrapPath(err))
	}
	name := filepath.Join(dir, fmt.Sprintf("%s.%s.json", NodeName(t.DocID), now.UTC().Format("20060102T150405.000000000Z")))
	if err := safefile.WriteFile(name, append(slices.Clip(doc), '\n'), 0o600); err != nil {
		return "", err
	}
	return name, nil
}

// restartTransient cancels the job of the spec (it may already be gone:
// CouchDB drops a transient job whose source died) and posts it again.
func (c *Couch) restartTransient(ctx context.Context, t Target) Outcome {
	if len(t.Spec) == 0 {
		return Outcome{Stage: "repost", Cause: "no --transient-spec", Err: nagios.Problemf(nagios.UNKNOWN, "%s: no --transient-spec to re-post it from", t.where())}
	}
	var spec map[string]json.RawMessage
	if err := json.Unmarshal(t.Spec, &spec); err != nil {
		return Outcome{Stage: "repost", Cause: "--transient-spec not a JSON object", Err: nagios.Problemf(nagios.UNKNOWN, "--transient-spec: not a JSON object: %v", err)}
	}
	u := c.Client.URL() + "/_replicate"
	cancel := maps.Clone(spec)
	cancel["cancel"] = json.RawMessage("true")
	// 404: nothing to cancel. Anything else is reported after the re-post.
	_, cancelErr := c.HTTP.JSON(ctx, http.MethodPost, u, c.Creds, cancel, nil, http.StatusNotFound)
	var resp struct {
		OK      bool   `json:"ok"`
		LocalID string `json:"_local_id"`
		ID      string `json:"id"`
	}
	if _, err := c.HTTP.JSON(ctx, http.MethodPost, u, c.Creds, spec, &resp); err != nil {
		if cancelErr != nil {
			err = fmt.Errorf("%w (cancelling first: %v)", err, cancelErr)
		}
		return Outcome{Stage: "repost", Cause: "re-post failed (" + lastPart(nagios.AsProblem(err)) + ")", Err: err}
	}
	id := resp.LocalID
	if id == "" {
		id = resp.ID
	}
	out := Outcome{Detail: "re-posted " + t.where()}
	if id != "" {
		out.Detail += " (job " + id + ")"
	}
	// CouchDB answers a continuous POST /_replicate once the job is
	// added, and a one-shot one once it is done: either way it ran.
	return out
}

// confirm waits, within ConfirmWithin, until the check logic sees the
// replications ts[idx] running or triggered again, reading all of them at
// each poll. A job pending on a node at its scheduler limit is started
// and queued, as CouchDB designed it: it is not waited for (the
// scheduler starts it at a later rotation, up to minutes away). On
// PouchDB Server (OneByOne) it returns at once those marked completed,
// for another rewrite.
func (c *Couch) confirm(ctx context.Context, ts []Target, idx []int, out []Outcome) (completed []int) {
	if c.Confirm == nil || len(idx) == 0 {
		return nil
	}
	within := c.ConfirmWithin
	if within <= 0 {
		within = 10 * time.Second
	}
	cctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	last := map[int]string{}
	var lastErr error
	for {
		targets := make([]Target, len(idx))
		for k, i := range idx {
			targets[k] = ts[i]
		}
		states, err := c.Confirm(cctx, targets)
		if err != nil {
			lastErr = err
		} else {
			var still, pending []int
			for _, i := range idx {
				st, ok := states[ts[i].where()]
				switch {
				case ok && st.Running:
					out[i].Detail += ", new job " + st.State
					continue
				case ok && c.OneByOne && st.State == replication.Completed:
					completed = append(completed, i)
					continue
				case ok && st.State == replication.Pending:
					pending = append(pending, i)
				}
				if ok {
					last[i] = st.State
				}
				still = append(still, i)
			}
			if len(pending) > 0 {
				// Read at each poll that sees one: the gauges move as
				// the scheduler takes up the new documents. A node whose
				// limits cannot be read gets its pending jobs waited for.
				if l, err := replication.ReadLimits(cctx, c.Client); err == nil && l.Saturated() {
					queued := map[int]bool{}
					for _, i := range pending {
						queued[i] = true
						out[i].Queued, out[i].Limit = true, l.String()
						out[i].Detail += ", new job pending: queued behind " + l.String()
					}
					still = slices.DeleteFunc(still, func(i int) bool { return queued[i] })
				}
			}
			idx = still
		}
		if len(idx) == 0 {
			return completed
		}
		select {
		case <-cctx.Done():
			for _, i := range idx {
				msg := fmt.Sprintf("%s recreated, but no running job within %s", ts[i].where(), within)
				cause := fmt.Sprintf("no running job within %s", within)
				if last[i] != "" {
					msg += " (state " + last[i] + ")"
					cause += " (state " + last[i] + ")"
				} else if lastErr != nil {
					msg += " (" + nagios.AsProblem(lastErr).Msg + ")"
					cause += " (" + lastPart(nagios.AsProblem(lastErr)) + ")"
				}
				out[i].Stage, out[i].Cause, out[i].Err = "confirm", cause, &nagios.Problem{Status: nagios.CRITICAL, Msg: msg}
			}
			return completed
		case <-time.After(confirmPoll):
		}
	}
}

// lastPart is the end of a problem's message, its cause without the
// request before it: "POST http://db2:5984/_replicator/_bulk_docs:
// connection refused" gives "connection refused".
func lastPart(p *nagios.Problem) string {
	msg := p.Msg
	if i := strings.LastIndex(msg, ": "); i >= 0 {
		msg = msg[i+2:]
	}
	return msg
}

const confirmPoll = 250 * time.Millisecond

func (c *Couch) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}
