//go:build unix

package httpclient

import (
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A FIFO as --ca-file is refused at once: reading it blocked until -t.
func TestCAFileFIFO(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ca.pem")
	require.NoError(t, syscall.Mkfifo(path, 0o600))
	done := make(chan error, 1)
	go func() { _, err := New(Options{CAFile: path}, Config{}); done <- err }()
	select {
	case err := <-done:
		require.Error(t, err)
		assert.Equal(t, "--ca-file "+path+" is not a regular file", err.Error())
	case <-time.After(10 * time.Second): // a guard, not a measure
		t.Fatal("New blocks on a FIFO --ca-file")
	}
}
