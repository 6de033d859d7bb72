//go:build !linux

package fsstat

import (
	"fmt"
	"runtime"
)

// Statfs is implemented for Linux only, where CouchDB runs in production.
func Statfs(path string) (FS, error) {
	return FS{}, fmt.Errorf("statfs %s: --data-dir is supported on Linux only, not %s", path, runtime.GOOS)
}
