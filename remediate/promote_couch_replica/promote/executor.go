package promote

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	kivik "github.com/go-kivik/kivik/v4"

	"github.com/registry-checks/registry-checks/lib/couch"
	"github.com/registry-checks/registry-checks/lib/httpclient"
	"github.com/registry-checks/registry-checks/lib/nagios"
	"github.com/registry-checks/registry-checks/lib/promotion"
	"github.com/registry-checks/registry-checks/lib/replication"
	"github.com/registry-checks/registry-checks/lib/safefile"
	"github.com/registry-checks/registry-checks/lib/secret"
	"github.com/registry-checks/registry-checks/remediate/restart_couch_replication/restart"
)

// AuditField is the field every document the runbook writes carries:
// who wrote it, when and why. Besides the audit trail it makes each body
// unique, which PouchDB Server needs to start a replication for a
// recreated document (see replication.Rewrite).
const AuditField = "registry_checks"

// Executor acts on the nodes of one topology.
type Executor struct {
	Clients   map[string]*couch.Client // by node URL (no credentials)
	Topology  Topology
	Options   Options
	BackupDir string
	By        string            // "promote_couch_replica@host"
	Backups   map[string]string // Pull key -> backup file; kept in the state file
	// Shell runs a --*-command with extra environment; its output comes
	// back (bounded, for the log).
	Shell func(ctx context.Context, command string, env []string) (string, error)
	// Agree is check_couch_promotion's model on the new topology: nil
	// error when replica could take over from primary as far as the
	// topology goes (databases, replications, design documents, fence).
	// Only the databases of the run are compared.
	Agree func(ctx context.Context, primary, replica *couch.Client, dbs []string) error
	Poll  time.Duration // catch-up and heartbeat polls (default 200ms)
	Now   func() time.Time

	mu sync.Mutex
}

func (e *Executor) now() time.Time {
	if e.Now != nil {
		return e.Now()
	}
	return time.Now()
}

func (e *Executor) poll() time.Duration {
	if e.Poll > 0 {
		return e.Poll
	}
	return 200 * time.Millisecond
}

func (e *Executor) client(node string) (*couch.Client, error) {
	c := e.Clients[node]
	if c == nil {
		return nil, fmt.Errorf("no client for %s", node)
	}
	return c, nil
}

// pair is the clients of two nodes.
func (e *Executor) pair(a, b string) (*couch.Client, *couch.Client, error) {
	ca, err := e.client(a)
	if err != nil {
		return nil, nil, err
	}
	cb, err := e.client(b)
	return ca, cb, err
}

func (e *Executor) audit(action string) map[string]string {
	return map[string]string{"action": action, "by": e.By, "at": e.now().UTC().Format(time.RFC3339Nano)}
}

// Do runs one step and returns what it did, for the log.
func (e *Executor) Do(ctx context.Context, s Step) (string, error) {
	t := e.Topology
	switch s.Kind {
	case Fence:
		if s.Command != "" {
			return e.shell(ctx, s.Command, t.New, false)
		}
		return e.fence(ctx, t.Old)
	case FenceNew:
		return e.fence(ctx, t.New)
	case CatchUp:
		return e.catchUp(ctx, t.Old, t.New)
	case Stop:
		return e.stop(ctx, s.Pulls)
	case Unfence:
		unfenced, err := e.unfence(ctx, t.New)
		if err != nil {
			return unfenced, err
		}
		copied, err := e.topUp(ctx, t.Old, t.New)
		return unfenced + "; " + copied, err
	case UnfenceNew:
		var notes []string
		for _, n := range append([]string{t.New}, t.Replicas...) {
			note, err := e.unfence(ctx, n)
			notes = append(notes, note)
			if err != nil {
				return strings.Join(notes, "; "), err
			}
		}
		return strings.Join(notes, "; "), nil
	case UnfenceOld:
		return e.unfence(ctx, t.Old)
	case Rewire:
		// A fenced replica would refuse the new primary's changes
		// (CouchDB runs validate_doc_update on replicated writes).
		unfenced, err := e.unfence(ctx, s.Node)
		if err != nil {
			return unfenced, err
		}
		rewired, err := e.rewire(ctx, s.Pulls)
		return unfenced + "; " + rewired, err
	case Demote:
		unfenced, err := e.unfence(ctx, t.Old)
		if err != nil {
			return unfenced, err
		}
		demoted, err := e.demote(ctx)
		return unfenced + "; " + demoted, err
	case Undemote:
		return e.undemote(ctx)
	case Switch:
		if s.Command == "" {
			return "no --config-command", nil
		}
		return e.shell(ctx, s.Command, t.New, false)
	case SwitchBack:
		if s.Command == "" {
			return "no --config-command", nil
		}
		return e.shell(ctx, s.Command, t.Old, true)
	case FenceCmdUndo:
		if s.Command == "" {
			return "no --unfence-command", nil
		}
		return e.shell(ctx, s.Command, t.Old, true)
	case Backfill:
		return e.topUp(ctx, t.New, t.Old)
	case Restore:
		return e.restore(ctx, s.Pulls)
	case Verify:
		to := append([]string{}, t.Replicas...)
		if e.Options.DemoteOld {
			to = append(to, t.Old)
		}
		return e.verify(ctx, t.New, to, true)
	case VerifyBack:
		return e.verify(ctx, t.Old, append([]string{t.New}, t.Replicas...), false)
	case UndoNothing:
		return "", nil
	}
	return "", fmt.Errorf("unknown step %q", s.Kind)
}

// eachDB calls f for every database of the run on node, the client's
// DBInfoConcurrency at a time, and counts the databases where f changed
// something.
func (e *Executor) eachDB(ctx context.Context, node string, f func(ctx context.Context, c *couch.Client, db string) (int, error)) (int, error) {
	c, err := e.client(node)
	if err != nil {
		return 0, err
	}
	var changed atomic.Int64
	err = c.ForEach(ctx, len(e.Topology.DBs), func(ctx context.Context, i int) error {
		n, err := f(ctx, c, e.Topology.DBs[i])
		changed.Add(int64(n))
		return err
	})
	return int(changed.Load()), err
}

// fence fences every database of node (promotion.FenceDB): the fence
// design document, then the marker in that node's _security, which does
// not replicate. Kept when already there.
func (e *Executor) fence(ctx context.Context, node string) (string, error) {
	at := e.now().UTC().Format(time.RFC3339Nano)
	written, err := e.eachDB(ctx, node, func(ctx context.Context, c *couch.Client, db string) (int, error) {
		changed, err := promotion.FenceDB(ctx, c, db, e.By, at)
		if changed {
			return 1, err
		}
		return 0, err
	})
	return fmt.Sprintf("fenced %d of %d databases on %s (%s and the %s marker in _security)", written, len(e.Topology.DBs), promotion.Node(node), promotion.FenceID, promotion.FenceMarker), err
}

// unfence removes the fence marker from node's _security and deletes the
// fence design document there, in every database of the run.
func (e *Executor) unfence(ctx context.Context, node string) (string, error) {
	removed, err := e.eachDB(ctx, node, func(ctx context.Context, c *couch.Client, db string) (int, error) {
		changed, err := promotion.UnfenceDB(ctx, c, db)
		if changed {
			return 1, err
		}
		return 0, err
	})
	return fmt.Sprintf("fence removed from %d databases on %s", removed, promotion.Node(node)), err
}

// deleteDoc deletes a document if it exists: 1 when it did.
func deleteDoc(ctx context.Context, c *couch.Client, db, id string) (int, error) {
	deleted, err := promotion.DeleteDoc(ctx, c, db, id)
	if deleted {
		return 1, err
	}
	return 0, err
}

func notFound(err error) bool { return promotion.NotFound(err) }

// catchUp waits until the new primary's pull of each database has
// processed every change of the old primary through the fence, judged by
// sequence: the job's through_seq (_scheduler/docs) has no change after
// it on the old primary (sequences are opaque: CouchDB is only asked for
// the changes since one). Then _revs_diff, paged over the whole feed,
// confirms that nothing is missing; a revision still missing then (a
// document the replication refused and skipped: doc_write_failures) is
// copied, and named. Without a scheduler (PouchDB Server, CouchDB 1.x)
// or a job with no stats yet, _revs_diff alone decides.
func (e *Executor) catchUp(ctx context.Context, old, nw string) (string, error) {
	oc, nc, err := e.pair(old, nw)
	if err != nil {
		return "", err
	}
	cctx, cancel := context.WithTimeout(ctx, e.Options.CatchUpTimeout)
	defer cancel()
	pulls := map[string]Pull{}
	for _, p := range e.Topology.NewPulls {
		pulls[p.DB] = p
	}
	var notes []string
	copied, failures := 0, int64(0)
	for _, db := range e.Topology.DBs {
		var why string
		var fails int64
		for {
			why = ""
			var through couch.Seq
			var known bool
			var err error
			through, fails, known, err = e.pullThrough(cctx, nc, pulls[db])
			switch {
			case err != nil:
				why = nagios.AsProblem(err).Msg
			case known:
				after, err := promotion.ChangesAfter(cctx, oc, db, through)
				if err != nil {
					why = nagios.AsProblem(err).Msg
				} else if after {
					why = "its pull has not processed every change through the fence (changes after through_seq on " + promotion.Node(old) + ")"
				}
			}
			if why == "" {
				// By sequence the pull is through (or no sequence is
				// known): _revs_diff decides, over every document.
				var missing []string
				nmissing := 0
				_, err := promotion.EachMissing(cctx, oc, nc, db, func(m map[string][]string) error {
					delete(m, promotion.FenceID)
					if len(m) == 0 {
						return nil
					}
					nmissing += len(m)
					for id := range m {
						if len(missing) < 5 {
							missing = append(missing, id)
						}
					}
					n, err := promotion.Copy(cctx, oc, nc, db, m)
					copied += n
					return err
				})
				switch {
				case err != nil:
					why = nagios.AsProblem(err).Msg
				case nmissing > 0:
					sort.Strings(missing)
					notes = append(notes, fmt.Sprintf("%s: %d documents the replication had not written were copied (%s)", db, nmissing, strings.Join(missing, ", ")))
				}
				if why == "" {
					failures += fails
					break
				}
			}
			select {
			case <-cctx.Done():
				return "", fmt.Errorf("%s not caught up after %s in %s: %s", promotion.Node(nw), e.Options.CatchUpTimeout, db, why)
			case <-time.After(e.poll()):
			}
		}
	}
	detail := fmt.Sprintf("%s has every change of %s in %d databases: pulls through the fence, _revs_diff finds nothing missing", promotion.Node(nw), promotion.Node(old), len(e.Topology.DBs))
	if copied > 0 {
		detail += fmt.Sprintf("; %d revisions copied", copied)
	}
	if failures > 0 {
		detail += fmt.Sprintf("; the pulls report %d doc_write_failures", failures)
	}
	if len(notes) > 0 {
		detail += "; " + strings.Join(notes, "; ")
	}
	return detail, nil
}

// pullThrough is the through_seq of the new primary's pull p from
// _scheduler/docs, its doc_write_failures, and whether the sequence is
// known (a server without a scheduler, a job without stats: not known).
func (e *Executor) pullThrough(ctx context.Context, nc *couch.Client, p Pull) (couch.Seq, int64, bool, error) {
	if p.ID == "" {
		return nil, 0, false, nil
	}
	d, err := nc.SchedulerDoc(ctx, p.ReplicatorDB, p.ID)
	if err != nil {
		var se *httpclient.StatusError
		if errors.As(err, &se) && (se.Code == http.StatusNotFound || se.Code == http.StatusBadRequest) {
			return nil, 0, false, nil // no scheduler (PouchDB Server, CouchDB 1.x)
		}
		return nil, 0, false, err
	}
	if d.State != "running" && d.State != "completed" {
		return nil, 0, false, fmt.Errorf("its pull %s is %s", p.Ref(), d.State)
	}
	if d.Info == nil || d.Info.ThroughSeq.IsZero() {
		return nil, 0, false, nil
	}
	return d.Info.ThroughSeq, d.Info.DocWriteFailures, true, nil
}

func (p Pull) key() string { return p.Node + "|" + p.ReplicatorDB + "/" + p.ID }

// backup saves a document as read (credentials included, mode 600) once:
// a resumed run keeps the first backup, the state before the runbook.
func (e *Executor) backup(p Pull, raw json.RawMessage) (string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if f, ok := e.Backups[p.key()]; ok {
		return f, nil
	}
	dir := filepath.Join(e.BackupDir, restart.NodeName(p.Node), restart.NodeName(p.ReplicatorDB))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	name := filepath.Join(dir, fmt.Sprintf("%s.%s.json", restart.NodeName(p.ID), e.now().UTC().Format("20060102T150405.000000000Z")))
	if err := safefile.WriteFile(name, append(bytes.Clone(raw), '\n'), 0o600); err != nil {
		return "", err
	}
	e.Backups[p.key()] = name
	return name, nil
}

func (e *Executor) stop(ctx context.Context, pulls []Pull) (string, error) {
	n := 0
	for _, p := range pulls {
		c, err := e.client(p.Node)
		if err != nil {
			return "", err
		}
		var raw json.RawMessage
		if err := c.Doc(ctx, p.ReplicatorDB, p.ID, &raw); err != nil {
			if notFound(err) && e.Backups[p.key()] != "" {
				continue // deleted by an earlier run, backed up then
			}
			return "", err
		}
		f, err := e.backup(p, raw)
		if err != nil {
			return "", fmt.Errorf("not deleting %s on %s: could not save a backup first: %v", p.Ref(), promotion.Node(p.Node), err)
		}
		if _, err := deleteDoc(ctx, c, p.ReplicatorDB, p.ID); err != nil {
			return "", fmt.Errorf("%v (backup %s)", nagios.AsProblem(err).Msg, f)
		}
		n++
	}
	return fmt.Sprintf("%d replication documents backed up and deleted", n), nil
}

// rewriteSource points a replication document's source at newBase,
// keeping its credentials (in the URL or in auth) and database.
func rewriteSource(body map[string]any, newBase string) error {
	nb, err := url.Parse(newBase)
	if err != nil {
		return err
	}
	move := func(raw string) (string, error) {
		u, err := url.Parse(raw)
		if err != nil {
			return "", errors.New("source is not a URL")
		}
		db := dbName(u)
		u.Scheme, u.Host = nb.Scheme, nb.Host
		u.Path = strings.TrimSuffix(nb.Path, "/") + "/" + db
		u.RawPath = strings.TrimSuffix(nb.EscapedPath(), "/") + "/" + url.PathEscape(db)
		return u.String(), nil
	}
	switch src := body["source"].(type) {
	case string:
		s, err := move(src)
		if err != nil {
			return err
		}
		body["source"] = s
	case map[string]any:
		raw, _ := src["url"].(string)
		s, err := move(raw)
		if err != nil {
			return err
		}
		src["url"] = s
	default:
		return errors.New("no source")
	}
	return nil
}

func dbName(u *url.URL) string {
	p := strings.TrimSuffix(u.EscapedPath(), "/")
	name, err := url.PathUnescape(p[strings.LastIndexByte(p, '/')+1:])
	if err != nil {
		return p[strings.LastIndexByte(p, '/')+1:]
	}
	return name
}

func (e *Executor) rewire(ctx context.Context, pulls []Pull) (string, error) {
	n := 0
	for _, p := range pulls {
		c, err := e.client(p.Node)
		if err != nil {
			return "", err
		}
		var raw json.RawMessage
		if err := c.Doc(ctx, p.ReplicatorDB, p.ID, &raw); err != nil && !notFound(err) {
			return "", err
		}
		src := ""
		rev := ""
		if raw != nil {
			var d couch.ReplicatorDoc
			_ = json.Unmarshal(raw, &d)
			src, rev = d.Source.URL, d.Rev
			if strings.HasPrefix(src, strings.TrimSuffix(e.Topology.New, "/")+"/") {
				continue // rewired by an earlier run
			}
		}
		orig := raw
		if raw == nil {
			// Deleted by an earlier run that stopped before the write:
			// the backup has the definition.
			b, err := e.readBackup(p)
			if err != nil {
				return "", err
			}
			orig = b
		} else if _, err := e.backup(p, raw); err != nil {
			return "", fmt.Errorf("not rewriting %s on %s: could not save a backup first: %v", p.Ref(), promotion.Node(p.Node), err)
		}
		body, err := replication.Definition(orig)
		if err != nil {
			return "", err
		}
		if err := rewriteSource(body, e.Topology.New); err != nil {
			return "", fmt.Errorf("%s on %s: %v", p.Ref(), promotion.Node(p.Node), err)
		}
		body[AuditField] = e.audit("rewired from " + e.Topology.Old)
		if err := replication.Rewrite(ctx, c, p.ReplicatorDB, p.ID, rev, body); err != nil {
			return "", fmt.Errorf("%s (backup %s)", nagios.AsProblem(err).Msg, e.Backups[p.key()])
		}
		n++
	}
	return fmt.Sprintf("%d replication documents rewired to %s", n, promotion.Node(e.Topology.New)), nil
}

func (e *Executor) readBackup(p Pull) (json.RawMessage, error) {
	e.mu.Lock()
	f := e.Backups[p.key()]
	e.mu.Unlock()
	if f == "" {
		return nil, fmt.Errorf("%s on %s: no backup recorded", p.Ref(), promotion.Node(p.Node))
	}
	b, err := os.ReadFile(f)
	if err != nil {
		return nil, fmt.Errorf("backup of %s on %s: %v", p.Ref(), promotion.Node(p.Node), err)
	}
	return b, nil
}

// restore writes each backed-up document again (its definition and an
// audit field), replacing whatever has its id now.
func (e *Executor) restore(ctx context.Context, pulls []Pull) (string, error) {
	n := 0
	for _, p := range pulls {
		c, err := e.client(p.Node)
		if err != nil {
			return "", err
		}
		b, err := e.readBackup(p)
		if err != nil {
			return "", err
		}
		body, err := replication.Definition(b)
		if err != nil {
			return "", err
		}
		var cur map[string]any
		rev := ""
		if err := c.Doc(ctx, p.ReplicatorDB, p.ID, &cur); err == nil {
			rev, _ = cur["_rev"].(string)
			if a, ok := cur[AuditField].(map[string]any); ok && strings.HasPrefix(fmt.Sprint(a["action"]), "restored") {
				continue // restored by an earlier rollback
			}
		} else if !notFound(err) {
			return "", err
		}
		body[AuditField] = e.audit("restored from " + filepath.Base(e.Backups[p.key()]))
		if err := replication.Rewrite(ctx, c, p.ReplicatorDB, p.ID, rev, body); err != nil {
			return "", fmt.Errorf("%s (backup %s)", nagios.AsProblem(err).Msg, e.Backups[p.key()])
		}
		n++
	}
	return fmt.Sprintf("%d replication documents restored", n), nil
}

// endpoint is a replication endpoint: the database URL with the
// credentials the run uses for node in its userinfo. The object form
// ({"url", "auth": {"basic": ...}}) would keep them out of the URL, but
// PouchDB Server and CouchDB 1.x accept only the string; the value is
// registered with the run's redactor like every credential.
func endpoint(c *couch.Client, db string) string {
	u, err := url.Parse(c.URL() + "/" + url.PathEscape(db))
	if err != nil {
		return c.URL() + "/" + url.PathEscape(db)
	}
	if cr := c.Credentials(); cr.User != "" {
		u.User = url.UserPassword(cr.User, cr.Password)
	}
	return u.String()
}

func (e *Executor) demote(ctx context.Context) (string, error) {
	oc, nc, err := e.pair(e.Topology.Old, e.Topology.New)
	if err != nil {
		return "", err
	}
	n := 0
	for _, db := range e.Topology.DBs {
		id := DemoteID(db)
		var cur map[string]any
		if err := oc.Doc(ctx, replication.DefaultReplicatorDB, id, &cur); err == nil {
			continue
		}
		body := map[string]any{"source": endpoint(nc, db), "target": endpoint(oc, db), "continuous": true,
			AuditField: e.audit("demoted: pulls from the new primary " + e.Topology.New)}
		if err := replication.Rewrite(ctx, oc, replication.DefaultReplicatorDB, id, "", body); err != nil {
			return "", err
		}
		n++
	}
	return fmt.Sprintf("%d demotion documents written on %s", n, promotion.Node(e.Topology.Old)), nil
}

func (e *Executor) undemote(ctx context.Context) (string, error) {
	oc, err := e.client(e.Topology.Old)
	if err != nil {
		return "", err
	}
	n := 0
	for _, db := range e.Topology.DBs {
		k, err := deleteDoc(ctx, oc, replication.DefaultReplicatorDB, DemoteID(db))
		if err != nil {
			return "", err
		}
		n += k
	}
	return fmt.Sprintf("%d demotion documents deleted", n), nil
}

// topUp copies to node to every document revision of from that it
// lacks, the fence excepted: the revisions come from _revs_diff page by
// page of the changes feed (promotion.EachMissing), each page's copied
// at once (promotion.Copy), the whole repeated until a pass finds nothing
// missing (within --catch-up-timeout). Memory is one page, whatever the
// size of the database. A one-shot POST /_replicate would trust a
// checkpoint, and PouchDB Server was seen to resume one past documents it
// had never copied.
func (e *Executor) topUp(ctx context.Context, from, to string) (string, error) {
	fc, tc, err := e.pair(from, to)
	if err != nil {
		return "", err
	}
	cctx, cancel := context.WithTimeout(ctx, e.Options.CatchUpTimeout)
	defer cancel()
	copied := 0
	for _, db := range e.Topology.DBs {
		for {
			found := 0
			_, err := promotion.EachMissing(cctx, fc, tc, db, func(m map[string][]string) error {
				delete(m, promotion.FenceID)
				found += len(m)
				n, err := promotion.Copy(cctx, fc, tc, db, m)
				copied += n
				return err
			})
			if err != nil {
				if cctx.Err() != nil {
					return "", fmt.Errorf("%s: documents still missing on %s after %s: %s", db, promotion.Node(to), e.Options.CatchUpTimeout, nagios.AsProblem(err).Msg)
				}
				return "", err
			}
			if found == 0 {
				break
			}
		}
	}
	return fmt.Sprintf("%d document revisions copied from %s to %s; none missing", copied, promotion.Node(from), promotion.Node(to)), nil
}

// shell runs a site command with the primary's URL in its environment.
func (e *Executor) shell(ctx context.Context, command, primary string, rollback bool) (string, error) {
	env := []string{"PROMOTE_NEW_PRIMARY_URL=" + primary, "PROMOTE_OLD_PRIMARY_URL=" + e.Topology.Old, "PROMOTE_ROLLBACK=0"}
	if rollback {
		env[1] = "PROMOTE_OLD_PRIMARY_URL=" + e.Topology.New
		env[2] = "PROMOTE_ROLLBACK=1"
	}
	out, err := e.Shell(ctx, command, env)
	if err != nil {
		return out, fmt.Errorf("command failed: %v; output: %s", err, out)
	}
	return "command ran: " + out, nil
}

// RunShell returns the production Shell: sh -c, the run's environment
// plus env. Its output is redacted whole with red, then made one line,
// sanitized (escape sequences and bidi overrides reach the state file, the
// log and chat) and cut at 1 KiB: a cut before redaction could leave the start
// of a secret the command printed, which the redactor no longer knows.
func RunShell(red *secret.Redactor) func(ctx context.Context, command string, env []string) (string, error) {
	return func(ctx context.Context, command string, env []string) (string, error) {
		cmd := exec.CommandContext(ctx, "/bin/sh", "-c", command)
		cmd.Env = append(os.Environ(), env...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		return secret.Cut(secret.Sanitize(couch.OneLine(red.Redact(out.String()))), 1024), err
	}
}

// verify writes a heartbeat on from and waits until it is on every node of
// to; with forward, the new primary must have no fence and the model must
// agree for every replica.
func (e *Executor) verify(ctx context.Context, from string, to []string, forward bool) (string, error) {
	fc, err := e.client(from)
	if err != nil {
		return "", err
	}
	db := e.Options.HeartbeatDB
	stamp := e.now().UTC().Format(time.RFC3339Nano)
	doc := map[string]any{"at": stamp, "by": e.By}
	var cur struct {
		Rev string `json:"_rev"`
	}
	if err := fc.Doc(ctx, db, HeartbeatID, &cur); err == nil {
		doc["_rev"] = cur.Rev
	}
	start := time.Now()
	rev, err := fc.Kivik().DB(db).Put(ctx, HeartbeatID, doc)
	if err != nil {
		return "", fmt.Errorf("heartbeat on %s: %s", promotion.Node(from), nagios.AsProblem(fc.Problem(http.MethodPut, "/"+url.PathEscape(db)+"/"+HeartbeatID, start, err)).Msg)
	}
	wrote := time.Now()
	vctx, cancel := context.WithTimeout(ctx, e.Options.VerifyTimeout)
	defer cancel()
	var mu sync.Mutex
	var late []string
	var arrivals []string
	var wg sync.WaitGroup
	for _, node := range to {
		c, err := e.client(node)
		if err != nil {
			return "", err
		}
		wg.Go(func() {
			for {
				// The revision written, not the winner: a node may hold
				// a heartbeat of its own from an earlier run, in conflict.
				if c.Kivik().DB(db).Get(vctx, HeartbeatID, kivik.Param("rev", rev)).Err() == nil {
					mu.Lock()
					arrivals = append(arrivals, fmt.Sprintf("%s %.1fs", promotion.Node(node), time.Since(wrote).Seconds()))
					mu.Unlock()
					return
				}
				select {
				case <-vctx.Done():
					mu.Lock()
					late = append(late, promotion.Node(node))
					mu.Unlock()
					return
				case <-time.After(e.poll()):
				}
			}
		})
	}
	wg.Wait()
	if len(late) > 0 {
		return "", fmt.Errorf("the heartbeat from %s did not arrive on %s within %s", promotion.Node(from), strings.Join(late, ", "), e.Options.VerifyTimeout)
	}
	detail := "heartbeat arrived: " + strings.Join(arrivals, ", ")
	if !forward {
		return detail, nil
	}
	for _, db := range e.Topology.DBs {
		// Only a 404 proves the fence gone: an error or a timeout
		// proves nothing, and verification must not pass on it.
		fenced, err := promotion.Fenced(ctx, fc, db)
		if err != nil {
			return "", err
		}
		if fenced {
			return "", fmt.Errorf("%s is still fenced in %s", promotion.Node(from), db)
		}
	}
	if e.Agree != nil {
		for _, r := range e.Topology.Replicas {
			rc, err := e.client(r)
			if err != nil {
				return "", err
			}
			if err := e.Agree(ctx, fc, rc, e.Topology.DBs); err != nil {
				return "", fmt.Errorf("check_couch_promotion's model disagrees for %s: %v", promotion.Node(r), err)
			}
		}
		detail += "; the model agrees for " + nodeList(e.Topology.Replicas)
	}
	return detail, nil
}

// Discover reads the topology: the selected databases of the old primary
// and every replication document of the new primary and the replicas
// that pulls one of them from the old primary (or one of its aliases).
func Discover(ctx context.Context, clients map[string]*couch.Client, old, nw string, replicas []string, sel promotion.Selection, aliases []string) (Topology, []string, error) {
	t := Topology{Old: old, New: nw, Replicas: replicas}
	all, err := clients[old].AllDBs(ctx)
	if err != nil {
		return t, nil, err
	}
	t.DBs, _ = sel.Select(all)
	if len(t.DBs) == 0 {
		return t, nil, &nagios.Problem{Status: nagios.CRITICAL, Msg: fmt.Sprintf("%s has none of the selected databases (%d databases there)", promotion.Node(old), len(all))}
	}
	// Only a node seen answering as CouchDB with every selected database
	// is known to have nothing to rewire: a node that answers 404 to
	// everything has no replication documents either.
	for _, node := range append([]string{nw}, replicas...) {
		rows, err := clients[node].DBsInfo(ctx, t.DBs)
		if err != nil {
			return t, nil, err
		}
		var lacking []string
		for i, r := range rows {
			if r.Info == nil || r.Error != "" {
				lacking = append(lacking, t.DBs[i])
			}
		}
		if len(lacking) > 0 {
			return t, nil, &nagios.Problem{Status: nagios.CRITICAL, Msg: fmt.Sprintf("%s does not answer as a CouchDB node with the selected databases: %s not there (%s)",
				promotion.Node(node), docCount(len(lacking), "database"), strings.Join(lacking[:min(len(lacking), 3)], ", "))}
		}
	}
	hosts := map[string]bool{host(old): true}
	for _, a := range aliases {
		hosts[host(a)] = true
	}
	var secrets []string
	for _, node := range append([]string{nw}, replicas...) {
		docs, err := replication.Documents(ctx, clients[node], replication.DefaultReplicatorDB)
		if err != nil {
			return t, secrets, err
		}
		for _, d := range docs {
			// The documents hold passwords: the caller registers every
			// one before anything is printed.
			secrets = append(secrets, d.Secrets...)
			src := d.Source
			u, err := url.Parse(src)
			if err != nil || !hosts[host(src)] {
				continue
			}
			db := dbName(u)
			if !contains(t.DBs, db) {
				continue
			}
			p := Pull{Node: node, ReplicatorDB: replication.DefaultReplicatorDB, ID: d.ID, DB: db}
			if node == nw {
				t.NewPulls = append(t.NewPulls, p)
			} else {
				t.ReplicaPulls = append(t.ReplicaPulls, p)
			}
		}
	}
	return t, secrets, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func host(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return strings.ToLower(u.Host)
}
