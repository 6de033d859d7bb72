package restart

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"

	"github.com/registry-checks/registry-checks/lib/httpclient"
	"github.com/registry-checks/registry-checks/lib/nagios"
	"github.com/registry-checks/registry-checks/lib/replication"
	"github.com/registry-checks/registry-checks/lib/secret"
)

// TransientSpec is the POST /_replicate body of a transient replication
// the operator wants kept running (--transient-spec).
type TransientSpec struct {
	Raw    json.RawMessage
	Source string // URL without credentials
	Target string
	Creds  secret.Credentials // of the source
	// Secrets are every credential in the spec, for the Redactor.
	Secrets []string
}

// Key is the spec's replication key while no job runs for it.
func (s *TransientSpec) Key() string { return "transient:" + s.Source + " -> " + s.Target }

// LoadTransientSpec reads a --transient-spec file. It holds credentials
// like a replication document does, so it must be mode 600 like every
// secret file of the suite.
func LoadTransientSpec(path string) (*TransientSpec, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("--transient-spec %s: %w", path, unwrapPath(err))
	}
	if !fi.Mode().IsRegular() {
		// Reading a FIFO would block until -t.
		return nil, fmt.Errorf("--transient-spec %s is not a regular file", path)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("--transient-spec %s is readable or writable by group/others (mode %04o) and may hold credentials: run chmod 600 %s", path, fi.Mode().Perm(), path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--transient-spec %s: %w", path, unwrapPath(err))
	}
	var body struct {
		Source json.RawMessage `json:"source"`
		Target json.RawMessage `json:"target"`
	}
	if err := json.Unmarshal(b, &body); err != nil {
		return nil, fmt.Errorf("--transient-spec %s: not a JSON object: %s", path, httpclient.JSONErrorText(err))
	}
	if len(body.Source) == 0 || len(body.Target) == 0 {
		return nil, fmt.Errorf("--transient-spec %s: needs both source and target", path)
	}
	s := &TransientSpec{Raw: b}
	var sec1, sec2 []string
	s.Source, s.Creds, sec1 = replication.ParseEndpoint(body.Source)
	s.Target, _, sec2 = replication.ParseEndpoint(body.Target)
	s.Secrets = append(sec1, sec2...)
	return s, nil
}

// Observe turns the check logic's report into what Decide and the
// executor need. With a spec, the transient replication it describes is
// matched by source and target, and reported "vanished" when no job runs
// for it (CouchDB drops a transient job whose source died).
func Observe(rep replication.Report, spec *TransientSpec) []Observed {
	out := make([]Observed, 0, len(rep.Replications)+1)
	specFound := false
	for _, r := range rep.Replications {
		o := Observed{Replication: Replication{
			Key: r.Key, State: r.State, Status: r.Status, Reason: r.Reason, Cause: r.Cause,
			Class: classOf(r, rep.Scheduler),
		}}
		o.Source, o.SourceCreds = r.SourceEndpoint()
		o.Target = Target{Key: r.Key, DocID: r.DocID, Database: r.Database, Transient: r.Transient}
		switch {
		case r.Transient && spec != nil && sameURL(r.Source, spec.Source) && sameURL(r.Target, spec.Target):
			specFound = true
			o.Restartable = true
			o.Target.Spec = spec.Raw
			o.Source, o.SourceCreds = spec.Source, spec.Creds
		case !r.Transient && len(r.Doc) > 0 && r.DocID != "":
			o.Restartable = true
		}
		out = append(out, o)
	}
	if spec != nil && !specFound {
		k := spec.Key()
		out = append(out, Observed{
			Replication: Replication{Key: k, State: replication.Missing, Class: "vanished", Status: nagios.CRITICAL,
				Reason: "no job runs for --transient-spec", Restartable: true},
			Target:      Target{Key: k, Transient: true, Spec: spec.Raw},
			Source:      spec.Source,
			SourceCreds: spec.Creds,
		})
	}
	return out
}

// classOf says what a restart would fix in r, "" when nothing: the
// remediation's reading of the check's verdict, not a second state
// mapping.
func classOf(r replication.Replication, scheduler bool) string {
	if r.Status != nagios.CRITICAL {
		return ""
	}
	switch r.State {
	case replication.Failed:
		return "failed"
	case replication.Crashing:
		return "crashing"
	case replication.Error:
		if scheduler {
			// 2.1+: a document or filter the scheduler cannot use; it
			// retries by itself and a restart changes nothing.
			return ""
		}
		// 1.x, 2.0, PouchDB Server: the replication died.
		return "crashing"
	case replication.Running, replication.Triggered, replication.Pending, replication.Initializing:
		// CRITICAL while supposedly moving data: a lag or the heartbeat
		// says it does not.
		return "stalled"
	case replication.Completed:
		// A continuous replication that stopped.
		return "stalled"
	}
	return ""
}

func sameURL(a, b string) bool {
	return strings.TrimSuffix(secret.RedactURL(a), "/") == strings.TrimSuffix(secret.RedactURL(b), "/")
}

// SourceChecker looks at a replication's source database just before a
// restart: GET on the database URL with the credentials the replication
// itself uses (the node's when its document has none).
type SourceChecker struct {
	HTTP      *httpclient.Client
	NodeCreds secret.Credentials
	// SourceCreds, when set, replace every replication's own
	// (--source-credentials-file, as the check).
	SourceCreds *secret.Credentials
}

// Check implements Deps.CheckSource.
func (s SourceChecker) Check(ctx context.Context, o Observed) (SourceCheck, string) {
	if o.Source == "" || !(strings.HasPrefix(o.Source, "http://") || strings.HasPrefix(o.Source, "https://")) {
		// A local database (1.x "source": "registry") lives on the node
		// itself, which answered the assessment.
		return SourceUp, "local database"
	}
	own := o.SourceCreds
	if s.SourceCreds != nil {
		own = *s.SourceCreds
	}
	creds := own
	if creds.IsZero() {
		creds = s.NodeCreds
	}
	_, err := s.HTTP.JSON(ctx, http.MethodGet, o.Source, creds, nil, nil)
	if err == nil {
		return SourceUp, ""
	}
	p := nagios.AsProblem(err)
	var se *httpclient.StatusError
	if errors.As(err, &se) {
		switch {
		case se.Code == http.StatusNotFound:
			return SourceGone, p.Msg
		case (se.Code == http.StatusUnauthorized || se.Code == http.StatusForbidden) && !own.IsZero():
			return SourceRefused, p.Msg
		case se.Code < 500:
			// It answers; what it thinks of our request is not what the
			// replication will get.
			return SourceUp, p.Msg
		}
	}
	return SourceDown, p.Msg
}
