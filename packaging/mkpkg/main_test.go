package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPackageVersion(t *testing.T) {
	cases := []struct{ in, want string }{
		{"v1.2.3", "1.2.3"},
		{"v1.2.3-4-gabcdef0", "1.2.3.4.gabcdef0"},
		{"1.2.3-4-gabcdef0-dirty", "1.2.3.4.gabcdef0.dirty"},
		{"abcdef0", "0.0.0~gitabcdef0"},
		// A bare hash may start with digits: still not a release.
		{"90755e4-dirty", "0.0.0~git90755e4.dirty"},
		{"dev", "0.0.0~dev"},
		{"", "0.0.0~dev"},
	}
	for _, c := range cases {
		assert.Equal(t, c.want, PackageVersion(c.in), c.in)
	}
}

// ManPage fills the NAME and DESCRIPTION go-flags leaves empty from the
// package comment; a fake binary prints go-flags' shape.
func TestManPage(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "check_thing")
	script := "#!/bin/sh\n[ \"$REGISTRY_CHECKS_MAN_PAGE\" = 1 ] || exit 3\nprintf '.TH check_thing 1 \"1 January 2026\"\\n.SH NAME\\ncheck_thing \\\\- \\n.SH SYNOPSIS\\n\\\\fBcheck_thing\\\\fP [OPTIONS]\\n.SH DESCRIPTION\\n\\n.SH OPTIONS\\n'\n"
	require.NoError(t, os.WriteFile(bin, []byte(script), 0o755))
	page, err := ManPage(bin, "check_thing reports the thing's lag-time. It is slow.\n")
	require.NoError(t, err)
	assert.Contains(t, string(page), "check_thing \\- reports the thing's lag\\-time\n")
	assert.Contains(t, string(page), ".SH DESCRIPTION\ncheck_thing reports the thing's lag\\-time. It is slow.\n.PP\n")

	_, err = ManPage("/bin/true", "")
	assert.ErrorContains(t, err, "wrote no man page")
}
