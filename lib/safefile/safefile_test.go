package safefile

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestWriteReplacesWholeWithMode(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, Write(dir, "state.json", ".tmp-", []byte("old\n"), 0o600))
	require.NoError(t, Write(dir, "state.json", ".tmp-", []byte("new\n"), 0o640))
	data, err := os.ReadFile(filepath.Join(dir, "state.json"))
	require.NoError(t, err)
	assert.Equal(t, "new\n", string(data))
	fi, err := os.Stat(filepath.Join(dir, "state.json"))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o640), fi.Mode().Perm())
	left, err := filepath.Glob(filepath.Join(dir, ".tmp-*"))
	require.NoError(t, err)
	assert.Empty(t, left, "no temp file left behind")
}

// A rename that fails (the target is a folder) leaves the old content
// and no temp file.
func TestWriteFailureLeavesNoTemp(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "busy", "x"), 0o755))
	assert.Error(t, Write(dir, "busy", ".tmp-", []byte("data"), 0o644))
	left, err := filepath.Glob(filepath.Join(dir, ".tmp-*"))
	require.NoError(t, err)
	assert.Empty(t, left)
}

// Two opens of one file exclude each other; the waiter gives up when its
// context ends and gets the lock once the holder closes.
func TestLockWaitsBoundedByContext(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.lock")
	holder, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	require.NoError(t, err)
	require.NoError(t, Lock(context.Background(), holder))

	waiter, err := os.OpenFile(path, os.O_RDWR, 0)
	require.NoError(t, err)
	defer waiter.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err = Lock(ctx, waiter)
	require.Error(t, err)
	assert.True(t, errors.Is(err, context.Canceled), err)
	assert.Contains(t, err.Error(), "waiting for the lock on "+path)

	require.NoError(t, holder.Close())
	ctx, cancel = context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	assert.NoError(t, Lock(ctx, waiter))
}

func TestNames(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"2.lp", "1.lp", ".tmp-3.lp", "x.json", "dropped"} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, n), nil, 0o600))
	}
	require.NoError(t, os.Mkdir(filepath.Join(dir, "0.lp"), 0o700))
	assert.Equal(t, []string{"1.lp", "2.lp"}, Names(dir, ".lp"))
	assert.Nil(t, Names(filepath.Join(dir, "missing"), ".lp"))
}
