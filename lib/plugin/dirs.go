package plugin

import (
	"fmt"
	"os"
	"path/filepath"
)

// UsableDir returns dir when it exists (or can be made) and is writable.
// Otherwise, unless the operator named dir explicitly, it returns a
// per-user folder "<name>-<uid>" under the temporary directory: a check or
// handler tried by hand as an ordinary user must still work, while the
// packaged default (/var/spool/..., /var/lib/...) belongs to the monitoring
// user.
func UsableDir(dir, name string, explicit bool) (string, error) {
	if writableDir(dir) {
		return dir, nil
	}
	if explicit {
		return "", fmt.Errorf("%s is not a writable folder", dir)
	}
	fb := filepath.Join(os.TempDir(), fmt.Sprintf("%s-%d", name, os.Getuid()))
	if !writableDir(fb) {
		return "", fmt.Errorf("neither %s nor %s is a writable folder", dir, fb)
	}
	return fb, nil
}

// writableDir reports whether dir exists (or can be made) and is writable.
func writableDir(dir string) bool {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return false
	}
	f, err := os.CreateTemp(dir, ".probe-*")
	if err != nil {
		return false
	}
	name := f.Name()
	f.Close()
	os.Remove(name)
	return true
}
