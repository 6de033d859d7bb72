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
	"time"

	"github.com/registry-checks/registry-checks/lib/couch"
	"github.com/registry-checks/registry-checks/lib/httpclient"
	"github.com/registry-checks/registry-checks/lib/nagios"
	"github.com/registry-checks/registry-checks/lib/replication"
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

// Outcome is what a restart did.
type Outcome struct {
	Detail string // "new job running", "would delete and recreate ..."
	Backup string // the saved document, when one was rewritten
}

// Executor restarts replications.
type Executor interface {
	Restart(ctx context.Context, t Target) (Outcome, error)
}

// DryRun restarts nothing and says what it would do.
type DryRun struct{}

// Restart implements Executor.
func (DryRun) Restart(_ context.Context, t Target) (Outcome, error) {
	if t.Transient {
		return Outcome{Detail: "dry run: would cancel and re-post " + t.where() + " from --transient-spec"}, nil
	}
	return Outcome{Detail: "dry run: would delete and recreate " + t.where()}, nil
}

// Confirmer reports whether the replication t runs again after a restart
// (the state the check logic gives it, and whether that is running or
// triggered).
type Confirmer func(ctx context.Context, t Target) (state string, running bool, err error)

// Couch restarts replications on one CouchDB node.
type Couch struct {
	Client    *couch.Client
	HTTP      *httpclient.Client // for POST /_replicate, which kivik has no call for
	Creds     secret.Credentials // the node's, for POST /_replicate
	BackupDir string
	By        string // who restarts, recorded in the document: "restart_couch_replication on host"
	Confirm   Confirmer
	// ConfirmWithin bounds the wait for the new job (within ctx).
	ConfirmWithin time.Duration
	Now           func() time.Time
}

// RestartedBy is the field recorded in a recreated document: {"at",
// "by", "reason"}. Besides the audit trail it makes the new body differ
// from the old one, which PouchDB Server needs to start a new replication
// (it takes an identical document for the replication it already has).
const RestartedBy = "restarted_by"

// Restart implements Executor.
func (c *Couch) Restart(ctx context.Context, t Target) (Outcome, error) {
	if t.Transient {
		return c.restartTransient(ctx, t)
	}
	return c.restartDoc(ctx, t)
}

// restartDoc is the way CouchDB documents it: keep the definition, delete
// the document and write it again; the replicator ends the old job and
// starts a new one. Only the document named is deleted.
func (c *Couch) restartDoc(ctx context.Context, t Target) (Outcome, error) {
	db := c.Client.Kivik().DB(t.Database)
	path := "/" + url.PathEscape(t.Database) + "/" + url.PathEscape(t.DocID)
	start := time.Now()
	var raw json.RawMessage
	if err := db.Get(ctx, t.DocID).ScanDoc(&raw); err != nil {
		return Outcome{}, c.Client.Problem(http.MethodGet, path, start, err)
	}
	var meta struct {
		Rev string `json:"_rev"`
	}
	if err := json.Unmarshal(raw, &meta); err != nil || meta.Rev == "" {
		return Outcome{}, nagios.Problemf(nagios.UNKNOWN, "GET %s%s: the document has no _rev", c.Client.URL(), path)
	}
	now := c.now()
	backup, err := c.backup(t, raw, now)
	if err != nil {
		return Outcome{}, nagios.Problemf(nagios.UNKNOWN, "not restarting %s: could not save a backup first: %v", t.where(), err)
	}
	body, err := replication.Definition(raw)
	if err != nil {
		return Outcome{}, nagios.Problemf(nagios.UNKNOWN, "GET %s%s: not a JSON object: %v", c.Client.URL(), path, err)
	}
	body[RestartedBy] = map[string]string{"at": now.UTC().Format(time.RFC3339Nano), "by": c.By, "reason": t.Reason}

	start = time.Now()
	if _, err := db.Delete(ctx, t.DocID, meta.Rev); err != nil {
		return Outcome{Backup: backup}, c.Client.Problem(http.MethodDelete, path, start, err)
	}
	var putErr error
	for range 3 {
		start = time.Now()
		if _, putErr = db.Put(ctx, t.DocID, body); putErr == nil {
			break
		}
		if ctx.Err() != nil {
			break
		}
	}
	if putErr != nil {
		p := nagios.AsProblem(c.Client.Problem(http.MethodPut, path, start, putErr))
		return Outcome{Backup: backup}, &nagios.Problem{Status: nagios.CRITICAL, Err: p,
			Msg: fmt.Sprintf("deleted %s but could not write it again (%s): the replication is gone until it is restored from %s", t.where(), p.Msg, backup)}
	}
	out := Outcome{Backup: backup, Detail: "recreated " + t.where()}
	return c.confirm(ctx, t, out)
}

// backup saves the document as read, credentials included (mode 600),
// before anything is changed.
func (c *Couch) backup(t Target, doc json.RawMessage, now time.Time) (string, error) {
	dir := filepath.Join(c.BackupDir, NodeName(t.Database))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("%s: %w", dir, unwrapPath(err))
	}
	name := filepath.Join(dir, fmt.Sprintf("%s.%s.json", NodeName(t.DocID), now.UTC().Format("20060102T150405.000000000Z")))
	if err := writeAtomic(name, append(slices.Clip(doc), '\n'), 0o600); err != nil {
		return "", err
	}
	return name, nil
}

// restartTransient cancels the job of the spec (it may already be gone:
// CouchDB drops a transient job whose source died) and posts it again.
func (c *Couch) restartTransient(ctx context.Context, t Target) (Outcome, error) {
	if len(t.Spec) == 0 {
		return Outcome{}, nagios.Problemf(nagios.UNKNOWN, "%s: no --transient-spec to re-post it from", t.where())
	}
	var spec map[string]json.RawMessage
	if err := json.Unmarshal(t.Spec, &spec); err != nil {
		return Outcome{}, nagios.Problemf(nagios.UNKNOWN, "--transient-spec: not a JSON object: %v", err)
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
			return Outcome{}, fmt.Errorf("%w (cancelling first: %v)", err, cancelErr)
		}
		return Outcome{}, err
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
	return out, nil
}

// confirm waits, within ConfirmWithin, until the check logic sees the
// replication running or triggered again.
func (c *Couch) confirm(ctx context.Context, t Target, out Outcome) (Outcome, error) {
	if c.Confirm == nil {
		return out, nil
	}
	within := c.ConfirmWithin
	if within <= 0 {
		within = 10 * time.Second
	}
	cctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	var last string
	var lastErr error
	for {
		st, running, err := c.Confirm(cctx, t)
		if err == nil && running {
			out.Detail += ", new job " + st
			return out, nil
		}
		if err == nil {
			last = st
		} else {
			lastErr = err
		}
		select {
		case <-cctx.Done():
			msg := fmt.Sprintf("%s recreated, but no running job within %s", t.where(), within)
			if last != "" {
				msg += " (state " + last + ")"
			} else if lastErr != nil {
				msg += " (" + nagios.AsProblem(lastErr).Msg + ")"
			}
			return out, &nagios.Problem{Status: nagios.CRITICAL, Msg: msg}
		case <-time.After(confirmPoll):
		}
	}
}

const confirmPoll = 250 * time.Millisecond

func (c *Couch) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}
