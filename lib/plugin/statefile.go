package plugin

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/registry-checks/registry-checks/lib/safefile"
)

// DefaultStateDir holds the suite's state files (the handler's, check
// runs' memory between runs) when --state-dir is not given and it is
// writable; UsableDir falls back to a per-user folder otherwise.
const DefaultStateDir = "/var/lib/registry-checks"

// WriteFileAtomic writes data to path through a temporary file in the same
// folder and a rename, so that a reader (or a run killed by -t or Nagios
// halfway) never sees half a file. The folder is made 0750 when missing.
func WriteFileAtomic(path string, data []byte, mode os.FileMode) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("%s: %w", dir, unwrapPath(err))
	}
	if err := safefile.Write(dir, filepath.Base(path), ".", data, mode); err != nil {
		return fmt.Errorf("writing %s: %w", path, unwrapPath(err))
	}
	return nil
}

// unwrapPath drops the *os.PathError wrapper, whose path the messages
// above already name.
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
