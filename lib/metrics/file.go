package metrics

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/registry-checks/registry-checks/lib/safefile"
)

// FileSink appends line protocol to a file, for Telegraf's tail input.
//
// Each Write is one write(2) on an O_APPEND descriptor while holding an
// exclusive flock on the file, so the lines of concurrent runs never
// interleave and a reader never sees half a batch from a short write.
type FileSink struct {
	Path string
}

// Write appends points to s.Path, creating the file (mode 0644) if needed.
func (s FileSink) Write(ctx context.Context, points []Point) error {
	body, encErr := Encode(nil, points)
	if len(body) == 0 {
		return encErr
	}
	return errors.Join(s.append(ctx, body), encErr)
}

func (s FileSink) append(ctx context.Context, body []byte) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("append to %s: %w", s.Path, err)
	}
	f, err := os.OpenFile(s.Path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err // *PathError already names the file and the cause
	}
	defer f.Close()
	if err := safefile.Lock(ctx, f); err != nil {
		return fmt.Errorf("append to %s: %w", s.Path, err)
	}
	if _, err := f.Write(body); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("append to %s: %w", s.Path, err)
	}
	return nil
}

// WriterSink writes line protocol to W, for --output=influx on stdout
// (Telegraf's exec input). One W.Write per batch; safe for concurrent use.
type WriterSink struct {
	W  io.Writer
	mu sync.Mutex
}

// NewWriterSink returns a sink writing to w.
func NewWriterSink(w io.Writer) *WriterSink { return &WriterSink{W: w} }

// Write encodes points and writes them to s.W.
func (s *WriterSink) Write(ctx context.Context, points []Point) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("write line protocol: %w", err)
	}
	body, encErr := Encode(nil, points)
	if len(body) == 0 {
		return encErr
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.W.Write(body); err != nil {
		return errors.Join(fmt.Errorf("write line protocol: %w", err), encErr)
	}
	return encErr
}
