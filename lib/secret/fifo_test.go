//go:build unix

package secret

import (
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A FIFO as credentials file is refused at once, naming it: opening it
// used to block until -t ran out, with no reason given.
func TestLoadFileFIFO(t *testing.T) {
	path := filepath.Join(t.TempDir(), "creds")
	require.NoError(t, syscall.Mkfifo(path, 0o600))
	for name, load := range map[string]func(string) error{
		"LoadFile":      func(p string) error { _, err := LoadFile(p); return err },
		"LoadValueFile": func(p string) error { _, err := LoadValueFile(p); return err },
	} {
		done := make(chan error, 1)
		go func() { done <- load(path) }()
		select {
		case err := <-done:
			require.Error(t, err, name)
			assert.Contains(t, err.Error(), path+" is not a regular file (a named pipe)", name)
		case <-time.After(10 * time.Second): // a guard, not a measure: it returns at once
			t.Fatalf("%s blocks on a FIFO", name)
		}
	}
}
