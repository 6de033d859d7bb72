//go:build unix

// Package fifo is for the tests that prove a file option refuses a named
// pipe at once: opening a FIFO blocks until someone writes to it, so a
// check that opens one waits until -t and says nothing useful.
package fifo

import (
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// New makes a FIFO (mode 600) in t's temporary folder and returns its path.
func New(t testing.TB, name string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// Err runs f and returns its error; t fails if f has not returned within
// 10 s (a guard, not a measure: a refusal is immediate).
func Err(t testing.TB, what string, f func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatalf("%s blocks on a FIFO", what)
		return nil
	}
}
