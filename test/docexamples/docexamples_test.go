package docexamples

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestShellWords(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want []string
	}{
		{`notify_chat --state CRITICAL --plugin-output 'COUCH_REPLICATION CRITICAL - 1 of 3'`, []string{"notify_chat", "--state", "CRITICAL", "--plugin-output", "COUCH_REPLICATION CRITICAL - 1 of 3"}},
		{`a  "b c" d\ e 'it''s'`, []string{"a", "b c", "d e", "its"}},
		{`x ''`, []string{"x", ""}},
		{`-w '5|bogus=1'`, []string{"-w", "5|bogus=1"}},
	} {
		got, err := ShellWords(tt.in)
		require.NoError(t, err, tt.in)
		assert.Equal(t, tt.want, got, tt.in)
	}
	_, err := ShellWords(`a 'b`)
	assert.Error(t, err)
}
