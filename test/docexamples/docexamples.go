// Package docexamples reads the command-line examples of a docs page, so
// that a binary's tests can run each one: an example that no longer parses
// fails the build, not the reader.
package docexamples

import (
	"fmt"
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
		words, err := ShellWords(l)
		require.NoError(t, err, "%s: %s", page, l)
		for _, w := range words[1:] {
			args = append(args, replace(w))
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

// ShellWords splits a command line as sh does for the examples in the
// docs: words separated by blanks, 'single' and "double" quotes (a
// backslash escapes the next character outside single quotes). No
// expansion of any kind; an unclosed quote is an error.
func ShellWords(line string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	var quote rune
	esc := false
	for _, r := range line {
		switch {
		case esc:
			cur.WriteRune(r)
			esc = false
		case quote == '\'':
			if r == '\'' {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '\\':
			esc, inWord = true, true
		case quote == '"':
			if r == '"' {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case r == ' ' || r == '\t':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if quote != 0 || esc {
		return nil, fmt.Errorf("unclosed quote in %q", line)
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}
