package cdnlog

import (
	"compress/gzip"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// follower reads a log the way successive runs do and collects the lines.
type follower struct {
	t    *testing.T
	path string
	pos  *Position
	opts ReadOptions
}

func (f *follower) run() ([]string, ReadReport) {
	f.t.Helper()
	var got []string
	p, rep, err := Read(context.Background(), f.path, f.pos, f.opts, func(l []byte) bool { got = append(got, string(l)); return true })
	require.NoError(f.t, err)
	f.pos = &p
	return got, rep
}

func appendFile(t *testing.T, path, text string) {
	t.Helper()
	fh, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	require.NoError(t, err)
	_, err = fh.WriteString(text)
	require.NoError(t, err)
	require.NoError(t, fh.Close())
}

func lines(from, to int) string {
	var b strings.Builder
	for i := from; i < to; i++ {
		fmt.Fprintf(&b, "line %d %s\n", i, strings.Repeat("x", i%50))
	}
	return b.String()
}

func want(from, to int) []string {
	return strings.Split(strings.TrimSuffix(lines(from, to), "\n"), "\n")
}

func TestReadFirstRunStartsAtEndOfLastLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "access.log")
	appendFile(t, path, lines(0, 5)+"torn")
	f := &follower{t: t, path: path}
	got, rep := f.run()
	assert.Empty(t, got)
	assert.True(t, rep.First)
	appendFile(t, path, " now whole\n"+lines(5, 7))
	got, _ = f.run()
	assert.Equal(t, append([]string{"torn now whole"}, want(5, 7)...), got)
}

func TestReadFromStartAndTornLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "access.log")
	appendFile(t, path, lines(0, 3)+"line 3 half")
	f := &follower{t: t, path: path, opts: ReadOptions{FromStart: true}}
	got, _ := f.run()
	assert.Equal(t, want(0, 3), got)
	got, _ = f.run()
	assert.Empty(t, got, "a torn line is left for the next run")
	appendFile(t, path, "\n")
	got, _ = f.run()
	assert.Equal(t, []string{"line 3 half"}, got)
}

func TestReadRotations(t *testing.T) {
	for _, c := range []struct {
		name   string
		rotate func(t *testing.T, path string)
		note   string
	}{
		{"rename and create", func(t *testing.T, path string) {
			require.NoError(t, os.Rename(path, path+".1"))
		}, "rotation followed: "},
		{"copytruncate", func(t *testing.T, path string) {
			data, err := os.ReadFile(path)
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(path+".1", data, 0o644))
			require.NoError(t, os.Truncate(path, 0))
		}, "copytruncate"},
		{"rename, create, then compress", func(t *testing.T, path string) {
			data, err := os.ReadFile(path)
			require.NoError(t, err)
			gz, err := os.Create(path + ".1.gz")
			require.NoError(t, err)
			zw := gzip.NewWriter(gz)
			zw.Write(data)
			require.NoError(t, zw.Close())
			require.NoError(t, gz.Close())
			require.NoError(t, os.Remove(path))
		}, ".1.gz read from"},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "access.log")
			appendFile(t, path, lines(0, 10))
			f := &follower{t: t, path: path, opts: ReadOptions{FromStart: true}}
			got, _ := f.run()
			assert.Equal(t, want(0, 10), got)
			appendFile(t, path, lines(10, 20)+"torn at rotation")
			c.rotate(t, path)
			appendFile(t, path, lines(20, 30))
			got, rep := f.run()
			// The rotated file's unterminated last line is a line: nothing
			// will ever complete it.
			exp := append(append(want(10, 20), "torn at rotation"), want(20, 30)...)
			assert.Equal(t, exp, got)
			assert.Contains(t, strings.Join(rep.Notes, "\n"), c.note)
			appendFile(t, path, lines(30, 32))
			got, _ = f.run()
			assert.Equal(t, want(30, 32), got)
		})
	}
}

func TestReadPositionLost(t *testing.T) {
	path := filepath.Join(t.TempDir(), "access.log")
	appendFile(t, path, lines(0, 3))
	f := &follower{t: t, path: path, opts: ReadOptions{FromStart: true}}
	f.run()
	require.NoError(t, os.Remove(path))
	appendFile(t, path, lines(100, 102))
	got, rep := f.run()
	assert.Equal(t, want(100, 102), got)
	assert.Contains(t, strings.Join(rep.Notes, "\n"), "position lost")
}

func TestReadReusedInodeIsANewFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "access.log")
	appendFile(t, path, lines(0, 3))
	f := &follower{t: t, path: path, opts: ReadOptions{FromStart: true}}
	f.run()
	// Same inode, same size or more, other content: rewritten in place.
	require.NoError(t, os.WriteFile(path, []byte(lines(200, 206)), 0o644))
	got, _ := f.run()
	assert.Equal(t, want(200, 206), got)
}

func TestReadMaxLinesStopsInsideCompressedRotation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "access.log")
	appendFile(t, path, lines(0, 5))
	f := &follower{t: t, path: path, opts: ReadOptions{FromStart: true}}
	f.run()
	appendFile(t, path, lines(5, 2000))
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	gz, _ := os.Create(path + ".1.gz")
	zw := gzip.NewWriter(gz)
	zw.Write(data)
	zw.Close()
	gz.Close()
	os.Remove(path)
	appendFile(t, path, lines(2000, 2100))
	f.opts.MaxLines = 700
	var all []string
	for i := 0; i < 5; i++ {
		got, rep := f.run()
		all = append(all, got...)
		if !rep.Backlog {
			break
		}
	}
	assert.Equal(t, want(5, 2100), all)
}

func TestReadMissingLog(t *testing.T) {
	_, _, err := Read(context.Background(), filepath.Join(t.TempDir(), "nope.log"), nil, ReadOptions{}, func([]byte) bool { return true })
	assert.ErrorIs(t, err, os.ErrNotExist)
}
