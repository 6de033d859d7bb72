package secret

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLoadValueFile(t *testing.T) {
	const hook = "https://chat.example/hooks/T000/B000/s3cretpath"
	tests := []struct {
		name    string
		content string
		mode    os.FileMode
		want    string
		err     string
	}{
		{"one line", hook + "\n", 0o600, hook, ""},
		{"comments and blanks", "# chat channel #ops\n\n  " + hook + "  \n\n", 0o400, hook, ""},
		{"empty", "# nothing\n", 0o600, "", "has 0 non-comment lines"},
		{"two values", hook + "\n" + hook + "\n", 0o600, "", "has 2 non-comment lines"},
		{"group readable", hook + "\n", 0o640, hook, ""},
		{"group writable", hook, 0o660, "", "open to others or writable by its group (mode 0660)"},
		{"world readable", hook, 0o644, "", "chmod 600"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "webhook")
			require.NoError(t, os.WriteFile(p, []byte(tt.content), 0o600))
			require.NoError(t, os.Chmod(p, tt.mode))
			got, err := LoadValueFile(p)
			if tt.err != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.err)
				assert.Contains(t, err.Error(), p)
				assert.NotContains(t, err.Error(), "s3cretpath", "an error never quotes the content")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
	_, err := LoadValueFile(filepath.Join(t.TempDir(), "missing"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "no such file")
	_, err = LoadValueFile(t.TempDir())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "not a regular file")
}
