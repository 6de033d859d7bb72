package restart

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"

	"github.com/registry-checks/registry-checks/lib/plugin"
	"github.com/registry-checks/registry-checks/lib/safefile"
)

// DefaultStateDir holds the state files, locks and backups when
// --state-dir is not given and it is writable.
const DefaultStateDir = plugin.DefaultStateDir

// StateDir is dir when it can be used, else a per-user folder under the
// temporary directory (a handler tried by hand as an ordinary user).
func StateDir(dir string, explicit bool) (string, error) {
	return plugin.UsableDir(dir, "registry-checks", explicit)
}

// NodeName is the file-name-safe name of a target node URL, e.g.
// "127.0.0.1_25984" for http://127.0.0.1:25984: one state file and one
// lock per node, whatever selection a run uses.
func NodeName(nodeURL string) string {
	u, err := url.Parse(nodeURL)
	name := nodeURL
	if err == nil && u.Host != "" {
		name = u.Host + strings.TrimSuffix(u.Path, "/")
	}
	return unsafeChars().ReplaceAllString(name, "_")
}

var unsafeChars = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`[^A-Za-z0-9._-]+`) })

// Store is the state of one target node: a JSON file of History per
// replication key, guarded by an flock so concurrent runs (two Nagios
// handlers, a handler and cron) never restart the same job twice.
type Store struct {
	Dir  string // the handler's folder in the state dir
	Node string // NodeName
	// Suffix separates the state of dry runs, which must neither spend the
	// real runs' rate limit nor count their failures.
	Suffix string
	// Program names the runs that take this lock, for the message when
	// one is held: promote_couch_replica keeps a Store of its own.
	// Default restart_couch_replication.
	Program string

	lock *os.File
}

// File is the state file's path.
func (s *Store) File() string { return filepath.Join(s.Dir, s.Node+s.Suffix+".json") }

// LockFile is the lock's path.
func (s *Store) LockFile() string { return filepath.Join(s.Dir, s.Node+".lock") }

// BackupDir is where rewritten documents are saved.
func (s *Store) BackupDir() string { return filepath.Join(s.Dir, "backups", s.Node) }

// Lock takes the node's lock, waiting no longer than ctx allows. flock
// locks go with the process, so a handler killed by Nagios's
// event_handler_timeout never wedges the next one.
func (s *Store) Lock(ctx context.Context) error {
	if err := os.MkdirAll(s.Dir, 0o750); err != nil {
		return fmt.Errorf("state dir %s: %w", s.Dir, unwrapPath(err))
	}
	f, err := os.OpenFile(s.LockFile(), os.O_CREATE|os.O_RDWR, 0o640)
	if err != nil {
		return fmt.Errorf("lock %s: %w", s.LockFile(), unwrapPath(err))
	}
	if err := safefile.Lock(ctx, f); err != nil {
		f.Close()
		if ctx.Err() != nil {
			prog := s.Program
			if prog == "" {
				prog = "restart_couch_replication"
			}
			return fmt.Errorf("lock %s is held by another %s run for this node: %w", s.LockFile(), prog, context.Cause(ctx))
		}
		return err
	}
	s.lock = f
	return nil
}

// Unlock releases the lock.
func (s *Store) Unlock() {
	if s.lock != nil {
		s.lock.Close()
		s.lock = nil
	}
}

// State is the content of a state file.
type State struct {
	Node         string             `json:"node"`
	Replications map[string]History `json:"replications"`
}

// Load reads the state file; a missing file is an empty state.
func (s *Store) Load() (State, error) {
	st := State{Replications: map[string]History{}}
	b, err := os.ReadFile(s.File())
	if errors.Is(err, os.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, fmt.Errorf("state file %s: %w", s.File(), unwrapPath(err))
	}
	if err := json.Unmarshal(b, &st); err != nil {
		// A damaged state file must not stop remediation for good, but
		// forgetting the rate limit silently would be worse than saying so.
		return State{Replications: map[string]History{}}, fmt.Errorf("state file %s is not valid JSON (%v); move it away to start afresh", s.File(), err)
	}
	if st.Replications == nil {
		st.Replications = map[string]History{}
	}
	return st, nil
}

// Save writes the state file atomically, leaving out empty histories.
func (s *Store) Save(st State) error {
	for k, h := range st.Replications {
		if h.IsZero() {
			delete(st.Replications, k)
		}
	}
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	return safefile.WriteFile(s.File(), append(b, '\n'), 0o640)
}

func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
