package metrics

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
)

// lockPoll is how often a waiting run retries a held lock. Short because
// holders are checks that finish within their -t deadline.
const lockPoll = 10 * time.Millisecond

// lockFile takes an exclusive flock on f, waiting no longer than ctx allows.
// flock (not fcntl) locks belong to the open file, so two opens in one
// process exclude each other just like two processes do. The lock goes
// when f is closed or the process dies: a crashed run never wedges others.
func lockFile(ctx context.Context, f *os.File) error {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			return fmt.Errorf("flock %s: %w", f.Name(), err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for the lock on %s: %w", f.Name(), context.Cause(ctx))
		case <-time.After(lockPoll):
		}
	}
}
