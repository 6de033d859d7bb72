package metrics

import (
	"context"
	"os"

	"github.com/registry-checks/registry-checks/lib/safefile"
)

// lockFile takes an exclusive flock on f, waiting no longer than ctx allows
// (safefile.Lock).
func lockFile(ctx context.Context, f *os.File) error { return safefile.Lock(ctx, f) }
