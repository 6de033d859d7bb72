//go:build linux

package fsstat

import (
	"fmt"
	"syscall"
)

// Statfs reads the filesystem that holds path.
func Statfs(path string) (FS, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return FS{}, fmt.Errorf("statfs %s: %w", path, err)
	}
	// f_frsize is the unit of the block counts; f_bsize only the
	// preferred I/O size (they differ on some filesystems).
	unit := uint64(st.Frsize)
	if unit == 0 {
		unit = uint64(st.Bsize)
	}
	return FS{
		Size:       st.Blocks * unit,
		Used:       (st.Blocks - st.Bfree) * unit,
		Avail:      st.Bavail * unit,
		Inodes:     st.Files,
		FreeInodes: st.Ffree,
	}, nil
}
