//go:build unix

package httpclient

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/registry-checks/registry-checks/test/fifo"
)

// A FIFO as --ca-file is refused at once: reading it blocked until -t.
func TestCAFileFIFO(t *testing.T) {
	path := fifo.New(t, "ca.pem")
	err := fifo.Err(t, "New", func() error { _, err := New(Options{CAFile: path}, Config{}); return err })
	require.Error(t, err)
	assert.Equal(t, "--ca-file "+path+" is not a regular file", err.Error())
}
