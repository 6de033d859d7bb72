// Package docexamples reads the command-line examples of a docs page, so
// that a binary's tests can run each one: an example that no longer parses
// fails the build, not the reader.
package docexamples

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// Examples are the command lines in the code blocks of page that start
// with binary (its synopsis, with [optional] parts, left out), split into
// arguments (single quotes removed), each word passed through replace
// (site values to test values).
func Examples(t testing.TB, page, binary string, replace func(string) string) [][]string {
	t.Helper()
	b, err := os.ReadFile(page)
	require.NoError(t, err)
	var out [][]string
	in := false
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "```") {
			in = !in
			continue
		}
		if !in || !strings.HasPrefix(l, binary+" ") || strings.Contains(l, "[") {
			continue
		}
		var args []string
		for _, w := range strings.Fields(l)[1:] {
			args = append(args, replace(strings.Trim(w, "'")))
		}
		out = append(out, args)
	}
	require.NotEmpty(t, out, "no example of %s in %s", binary, page)
	return out
}
