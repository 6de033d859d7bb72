//go:build unix

package restart

import (
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A FIFO as --transient-spec is refused at once: reading it blocked until -t.
func TestLoadTransientSpecFIFO(t *testing.T) {
	path := filepath.Join(t.TempDir(), "spec.json")
	require.NoError(t, syscall.Mkfifo(path, 0o600))
	done := make(chan error, 1)
	go func() { _, err := LoadTransientSpec(path); done <- err }()
	select {
	case err := <-done:
		require.Error(t, err)
		assert.Equal(t, "--transient-spec "+path+" is not a regular file", err.Error())
	case <-time.After(10 * time.Second): // a guard, not a measure
		t.Fatal("LoadTransientSpec blocks on a FIFO")
	}
}
