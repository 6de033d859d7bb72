package notify

import (
	"crypto/sha256"
	"encoding/hex"
	"path/filepath"
	"strings"
)

// DefaultQueueDir is where notifications wait for their receiver; under
// the suite's spool, which the packages make for the monitoring user.
const DefaultQueueDir = "/var/spool/registry-checks/notify"

// QueueOptions are the options both notification commands take about
// their queue (go-flags tags).
type QueueOptions struct {
	Flush    bool   `long:"flush" description:"send what waits in the queue and nothing else (for cron or the systemd timer in quiet periods); takes no notification options"`
	Dir      string `long:"queue-dir" value-name:"DIR" default:"/var/spool/registry-checks/notify" description:"where notifications the receiver did not take wait (one folder per receiver inside, files mode 600); a per-user temp folder when the default is not writable"`
	MaxBytes int64  `long:"queue-max-bytes" value-name:"BYTES" default:"4194304" description:"bound on a receiver's queue; the oldest notifications are dropped (and counted) beyond it"`
	DryRun   bool   `long:"dry-run" description:"print what would be sent and send nothing (needs no secret file, touches no queue)"`
}

// QueueDir is the queue of one receiver under base: channel and a hash of
// what names the receiver (the secret file's path, an endpoint; never
// the secret), so two contacts with their own webhooks never swap
// notifications, and a flush with the same options finds the queue.
func QueueDir(base, channel string, ids ...string) string {
	for i, id := range ids {
		if abs, err := filepath.Abs(id); err == nil && !strings.Contains(id, "://") {
			ids[i] = abs
		}
	}
	sum := sha256.Sum256([]byte(strings.Join(ids, "\n")))
	return filepath.Join(base, channel+"-"+hex.EncodeToString(sum[:6]))
}

// FlushConflict is the bad-arguments reason when --flush comes with what
// it excludes (--dry-run, or a notification's options), else "".
func (q QueueOptions) FlushConflict(n Options) string {
	switch {
	case !q.Flush:
		return ""
	case q.DryRun:
		return "--flush sends the queue; --dry-run sends nothing: give one"
	case n.Given():
		return "--flush sends the queue only and takes no notification options"
	}
	return ""
}
