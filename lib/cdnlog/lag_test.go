package cdnlog

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func lagLine(min int) string {
	return fmt.Sprintf(`127.0.0.1 - - [30/Nov/2026:11:%02d:00 +0000] "GET /a/-/a-1.0.0.tgz HTTP/1.1" 200 100 "-" "npm"`+"\n", min)
}

func TestLagOf(t *testing.T) {
	p, err := NewParser(Auto, nil)
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "access.log")
	appendFile(t, path, lagLine(1)+lagLine(2)+lagLine(5))
	f := &follower{t: t, path: path, opts: ReadOptions{FromStart: true, MaxLines: 1}}
	f.run()

	lag, err := LagOf(path, *f.pos, p, time.Time{})
	require.NoError(t, err)
	assert.Equal(t, Lag{Bytes: int64(2 * len(lagLine(2))), Seconds: 240}, lag, "11:01 read, 11:05 at the end")

	// A line being written is not lag; nor is garbage at the end a time.
	appendFile(t, path, "garbage\n"+lagLine(7)[:20])
	lag, err = LagOf(path, *f.pos, p, time.Time{})
	require.NoError(t, err)
	assert.Equal(t, Lag{Bytes: int64(2*len(lagLine(2)) + len("garbage\n")), Seconds: 240}, lag)

	// Rotated (rename + create) with the position in PATH.1: its unread
	// rest counts, with the new file's complete lines.
	require.NoError(t, os.Rename(path, path+".1"))
	appendFile(t, path, lagLine(9))
	lag, err = LagOf(path, *f.pos, p, time.Date(2026, 11, 30, 11, 1, 0, 0, time.UTC))
	require.NoError(t, err)
	rest := int64(2*len(lagLine(2))+len("garbage\n")+20) + int64(len(lagLine(9)))
	assert.Equal(t, Lag{Bytes: rest, Seconds: 480}, lag)

	// No time at either end: the bytes alone.
	require.NoError(t, os.WriteFile(path, []byte("garbage\n"), 0o644))
	lag, err = LagOf(path, Position{}, p, time.Time{})
	require.NoError(t, err)
	assert.Equal(t, int64(8), lag.Bytes)
	assert.True(t, math.IsNaN(lag.Seconds))
}
