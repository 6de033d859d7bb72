//go:build unix

package secret

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/registry-checks/registry-checks/test/fifo"
)

// A FIFO as credentials file is refused at once, naming it: opening it
// used to block until -t ran out, with no reason given.
func TestLoadFileFIFO(t *testing.T) {
	path := fifo.New(t, "creds")
	for name, load := range map[string]func() error{
		"LoadFile":      func() error { _, err := LoadFile(path); return err },
		"LoadValueFile": func() error { _, err := LoadValueFile(path); return err },
	} {
		err := fifo.Err(t, name, load)
		require.Error(t, err, name)
		assert.Contains(t, err.Error(), path+" is not a regular file (a named pipe)", name)
	}
}
