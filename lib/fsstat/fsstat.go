// Package fsstat reads what statfs says about the filesystem holding a
// CouchDB data directory, and judges whether a database could still be
// compacted there: check_couch_disk and check_couch_promotion share it.
package fsstat

// FS is what statfs says about the filesystem holding the data directory.
type FS struct {
	Size  uint64 // bytes
	Used  uint64 // bytes in use (size minus free, reserved blocks included)
	Avail uint64 // bytes an unprivileged process (CouchDB) may still write
	// Inodes is 0 on filesystems that do not count them (btrfs); the
	// inode figures are then unknown.
	Inodes, FreeInodes uint64
}

// CompactionNeed is what compacting a database may write: a new file up
// to its live data (active), or up to its file size when the server does
// not tell the live size (active < 0).
func CompactionNeed(file, active int64) int64 {
	if active < 0 {
		return file
	}
	return active
}

// Headroom is what would be left free after compacting a database that
// needs need bytes: negative when the compaction would not fit.
func (fs FS) Headroom(need int64) int64 {
	return int64(fs.Avail) - need
}
