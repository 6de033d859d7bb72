package promote

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/registry-checks/registry-checks/lib/safefile"
)

// Phases of a run in its state file.
const (
	PhaseForward    = "forward"     // the promotion's steps are running (or stopped in them)
	PhaseRollback   = "rollback"    // the rollback's steps are running (or stopped in them)
	PhaseDone       = "done"        // promoted
	PhaseRolledBack = "rolled_back" // rehearsed, or rolled back: the original topology again
)

// Record is one step as it ran.
type Record struct {
	Step
	Status  string    `json:"status"` // running, done, failed
	Started time.Time `json:"started"`
	Seconds float64   `json:"seconds"`
	Detail  string    `json:"detail,omitempty"`
	Error   string    `json:"error,omitempty"`
}

// State is the state file: enough to resume or roll back a run that
// stopped, from another process, after the nodes changed.
type State struct {
	Run      string            `json:"run"`  // when the run began, RFC 3339
	Mode     string            `json:"mode"` // execute, rehearse
	Phase    string            `json:"phase"`
	Topology Topology          `json:"topology"`
	Options  Options           `json:"options"`
	Forward  []Record          `json:"forward"`
	Rollback []Record          `json:"rollback,omitempty"`
	Backups  map[string]string `json:"backups"` // replication document -> backup file (credentials inside, mode 600)
}

// Unfinished reports whether the run stopped before its end: a failed or
// interrupted step.
func (s *State) Unfinished() bool {
	return s != nil && (s.Phase == PhaseForward || s.Phase == PhaseRollback)
}

// Stopped is the step the run stopped at, nil when none.
func (s *State) Stopped() *Record {
	recs := s.Forward
	if s.Phase == PhaseRollback {
		recs = s.Rollback
	}
	for i := range recs {
		if recs[i].Status != "done" {
			return &recs[i]
		}
	}
	return nil
}

// DoneKinds are the forward steps that completed.
func (s *State) DoneKinds() []Kind {
	var out []Kind
	for _, r := range s.Forward {
		if r.Status == "done" {
			out = append(out, r.Kind)
		}
	}
	return out
}

// StateFile is a run's state file; one per old primary, under the lock.
type StateFile struct{ Path string }

// Load reads the state; nil when there is none.
func (f StateFile) Load() (*State, error) {
	b, err := os.ReadFile(f.Path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("state file %s: %w", f.Path, err)
	}
	var s State
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("state file %s is not valid JSON (%v): move it away only once the nodes are checked by hand", f.Path, err)
	}
	if s.Backups == nil {
		s.Backups = map[string]string{}
	}
	return &s, nil
}

// Save writes the state atomically (mode 600: it names backup files of
// documents with credentials).
func (f StateFile) Save(s *State) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return safefile.WriteFile(f.Path, append(b, '\n'), 0o600)
}
