// Package safefile is how the suite keeps files that must survive a crash
// of the process writing them (spooled metrics, check_cdn_log's positions):
// written whole or not at all, and changed by one process at a time.
package safefile

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

// lockPoll is how often a waiting run retries a held lock. Short because
// holders are checks that finish within their -t deadline.
const lockPoll = 10 * time.Millisecond

// Write stores data as dir/name: written to a temp file in dir, synced,
// given perm, then renamed, so a crash leaves the old file or the new one
// whole, never half of one; the directory is synced after the rename, so
// the new name outlives a power loss too (without it ext4 and xfs may
// bring back the old file after a crash). Temp files are named
// tempPrefix+name+"-*".
func Write(dir, name, tempPrefix string, data []byte, perm os.FileMode) error {
	f, err := os.CreateTemp(dir, tempPrefix+name+"-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp, perm)
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(dir, name))
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return syncDir(dir)
}

// syncDir fsyncs a directory. A filesystem that cannot (EINVAL: some
// network and FUSE ones) has nothing more to give, and is not an error.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.ENOTSUP) {
		return nil
	}
	return err
}

// WriteFile is Write for a path: the folder is made 0750 when missing,
// the temp file is named ".<name>-*", and errors name the path once (no
// *os.PathError repeating it). For state files, backups and the like.
func WriteFile(path string, data []byte, mode os.FileMode) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("%s: %w", dir, UnwrapPath(err))
	}
	if err := Write(dir, filepath.Base(path), ".", data, mode); err != nil {
		return fmt.Errorf("writing %s: %w", path, UnwrapPath(err))
	}
	return nil
}

// UnwrapPath drops the *os.PathError wrapper, whose path the messages
// already name.
func UnwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// Lock takes an exclusive flock on f, waiting no longer than ctx allows.
// flock (not fcntl) locks belong to the open file, so two opens in one
// process exclude each other just like two processes do. The lock goes
// when f is closed or the process dies: a crashed run never wedges others.
func Lock(ctx context.Context, f *os.File) error {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			return fmt.Errorf("flock %s: %w", f.Name(), err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for the lock on %s: %w", f.Name(), context.Cause(ctx))
		case <-time.After(lockPoll):
		}
	}
}

// Names are the regular files of dir whose names end in suffix, sorted,
// leaving out hidden ones (temp files of Write): the entries of a
// directory used as a queue whose file names sort oldest first.
func Names(dir, suffix string) []string {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var names []string
	for _, e := range entries {
		n := e.Name()
		if e.Type().IsRegular() && strings.HasSuffix(n, suffix) && !strings.HasPrefix(n, ".") {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return names
}
