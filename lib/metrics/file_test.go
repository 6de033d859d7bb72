package metrics

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/registry-checks/registry-checks/lib/safefile"
)

func TestFileSinkAppends(t *testing.T) {
	path := filepath.Join(t.TempDir(), "metrics.lp")
	require.NoError(t, os.WriteFile(path, []byte("old v=1i\n"), 0o644))
	sink := FileSink{Path: path}
	require.NoError(t, sink.Write(context.Background(), testPoints))
	require.NoError(t, sink.Write(context.Background(), []Point{{Measurement: "m"}})) // nothing to write
	got, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, "old v=1i\n"+testBody, string(got))
}

func TestFileSinkErrorsNameThePath(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing-dir", "metrics.lp")
	err := FileSink{Path: path}.Write(context.Background(), testPoints)
	require.Error(t, err)
	assert.Contains(t, err.Error(), path)
	assert.ErrorIs(t, err, os.ErrNotExist)
}

func TestFileSinkHonoursContext(t *testing.T) {
	path := filepath.Join(t.TempDir(), "metrics.lp")
	// Another run holds the lock for longer than our deadline.
	holder, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY, 0o644)
	require.NoError(t, err)
	defer holder.Close()
	require.NoError(t, safefile.Lock(context.Background(), holder))

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	err = FileSink{Path: path}.Write(ctx, testPoints)
	require.Error(t, err)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Contains(t, err.Error(), "append to "+path)

	holder.Close() // the lock goes with the descriptor
	require.NoError(t, FileSink{Path: path}.Write(context.Background(), testPoints))
	got, _ := os.ReadFile(path)
	assert.Equal(t, testBody, string(got), "the timed-out write must have written nothing")
}

// Concurrent writers (separate opens, as separate processes would be) must
// produce whole batches, never interleaved lines.
func TestFileSinkConcurrentBatchesDoNotInterleave(t *testing.T) {
	path := filepath.Join(t.TempDir(), "metrics.lp")
	const writers, batches, perBatch = 8, 25, 40
	// A long string field makes each batch far bigger than a pipe buffer,
	// so interleaving would show if the lock or single write failed.
	pad := strings.Repeat("p", 2000)
	var wg sync.WaitGroup
	errs := make(chan error, writers*batches)
	for w := range writers {
		wg.Go(func() {
			for b := range batches {
				pts := make([]Point, perBatch)
				for i := range pts {
					pts[i] = Point{Measurement: "m", Tags: map[string]string{"w": fmt.Sprint(w), "b": fmt.Sprint(b)},
						Fields: map[string]any{"i": i, "pad": pad}, Time: time.Unix(0, int64(i+1))}
				}
				errs <- FileSink{Path: path}.Write(context.Background(), pts)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	require.Len(t, lines, writers*batches*perBatch)
	// Lines of a batch are contiguous and in order.
	for start := 0; start < len(lines); start += perBatch {
		tags := strings.SplitN(lines[start], " ", 2)[0]
		for i := range perBatch {
			line := lines[start+i]
			require.True(t, strings.HasPrefix(line, tags+" "), "line %d %.40q interleaved into batch %s", start+i, line, tags)
			require.Contains(t, line, fmt.Sprintf(" i=%di,", i))
		}
	}
}

func TestWriterSink(t *testing.T) {
	var buf bytes.Buffer
	sink := NewWriterSink(&buf)
	require.NoError(t, sink.Write(context.Background(), testPoints))
	assert.Equal(t, testBody, buf.String())

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, sink.Write(ctx, testPoints), context.Canceled)
	assert.Equal(t, testBody, buf.String())
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("broken pipe") }

func TestWriterSinkReportsWriteErrors(t *testing.T) {
	err := NewWriterSink(failingWriter{}).Write(context.Background(), testPoints)
	require.Error(t, err)
	assert.Equal(t, "write line protocol: broken pipe", err.Error())
}
