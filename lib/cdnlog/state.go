package cdnlog

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/registry-checks/registry-checks/lib/safefile"
)

// stateVersion is written into every state file; a file of another
// version is refused rather than misread.
const stateVersion = 1

// State is what one check (one set of --log paths) keeps between runs.
type State struct {
	Version int `json:"version"`
	// Seq counts the runs whose points were delivered. It places this
	// run's points inside their minute (minute + Seq nanoseconds): a run
	// that is repeated after a crash writes the same timestamps again and
	// InfluxDB overwrites, while two runs that both saw a minute write two
	// points that add up.
	Seq      uint64              `json:"seq"`
	LastRun  time.Time           `json:"last_run"`  // the last delivered run
	LastLine time.Time           `json:"last_line"` // the last run that read a line (for --critical-no-lines)
	Logs     map[string]Position `json:"logs"`
	// Pending is written before a run delivers its points and cleared
	// with the new positions after: when it is there, the run that wrote
	// it may have delivered some of its points and died. The next run
	// then reads exactly the same lines again and sends the same points:
	// InfluxDB may still apply the dead run's write after a later one,
	// which is harmless only when the two are identical.
	Pending *Pending `json:"pending,omitempty"`
}

// Pending is a run whose delivery is not known to have finished: its
// sequence number and how many lines it read from each log.
type Pending struct {
	Seq   uint64         `json:"seq"`
	Lines map[string]int `json:"lines"`
}

// StateFileName is the default state file name for a set of logs, in the
// state folder: one per set, so two checks on other logs never share one.
func StateFileName(logs []string) string {
	abs := make([]string, len(logs))
	for i, l := range logs {
		if a, err := filepath.Abs(l); err == nil {
			l = a
		}
		abs[i] = l
	}
	sort.Strings(abs)
	sum := sha256.Sum256([]byte(strings.Join(abs, "\x00")))
	return "check_cdn_log-" + hex.EncodeToString(sum[:6]) + ".json"
}

// LoadState reads the state file; a missing file is the first run.
func LoadState(path string) (State, error) {
	st := State{Version: stateVersion, Logs: map[string]Position{}}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, err
	}
	if err := json.Unmarshal(data, &st); err != nil {
		return st, fmt.Errorf("state file %s is corrupt (%v): move it away to start again at the end of the logs", path, err)
	}
	if st.Version != stateVersion {
		return st, fmt.Errorf("state file %s has version %d, this check reads %d", path, st.Version, stateVersion)
	}
	if st.Logs == nil {
		st.Logs = map[string]Position{}
	}
	return st, nil
}

// Save writes the state atomically (safefile.Write: a temp file, synced,
// renamed, and the folder synced), so a crash leaves the old state or the
// new one whole.
func (st State) Save(path string) error {
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	if err := safefile.Write(dir, filepath.Base(path), ".tmp-", append(data, '\n'), 0o640); err != nil {
		return fmt.Errorf("saving state %s: %w", path, err)
	}
	return nil
}

// Lock takes the state file's lock (PATH.lock), waiting at most until ctx
// ends: two runs reading the same lines at once would count them twice.
func Lock(ctx context.Context, path string) (unlock func(), err error) {
	f, err := os.OpenFile(path+".lock", os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, err
	}
	if err := safefile.Lock(ctx, f); err != nil {
		f.Close()
		return nil, fmt.Errorf("another run holds %s: %w", path+".lock", err)
	}
	return func() { f.Close() }, nil
}
