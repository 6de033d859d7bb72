// Package docexamples reads the command-line examples of a docs page, so
// that a binary's tests can run each one: an example that no longer parses
// fails the build, not the reader.
package docexamples

import (
	"os"
	"reflect"
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

// Undocumented are the long options of opts (a go-flags options struct;
// embedded groups included) that page never names as --option, the
// common ones (plugin.Common) excepted: docs/options.md has those.
func Undocumented(t testing.TB, page string, opts any, common any) []string {
	t.Helper()
	b, err := os.ReadFile(page)
	require.NoError(t, err)
	skip := map[string]bool{}
	for _, n := range longNames(reflect.TypeOf(common)) {
		skip[n] = true
	}
	var out []string
	for _, n := range longNames(reflect.TypeOf(opts)) {
		if !skip[n] && !strings.Contains(string(b), "--"+n) {
			out = append(out, "--"+n)
		}
	}
	return out
}

func longNames(t reflect.Type) []string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	var out []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if n := f.Tag.Get("long"); n != "" {
			out = append(out, n)
			continue
		}
		if f.Type.Kind() == reflect.Struct {
			out = append(out, longNames(f.Type)...)
		}
	}
	return out
}
