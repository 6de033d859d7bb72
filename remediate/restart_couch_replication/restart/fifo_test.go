//go:build unix

package restart

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/registry-checks/registry-checks/test/fifo"
)

// A FIFO as --transient-spec is refused at once: reading it blocked until -t.
func TestLoadTransientSpecFIFO(t *testing.T) {
	path := fifo.New(t, "spec.json")
	err := fifo.Err(t, "LoadTransientSpec", func() error { _, err := LoadTransientSpec(path); return err })
	require.Error(t, err)
	assert.Equal(t, "--transient-spec "+path+" is not a regular file", err.Error())
}
