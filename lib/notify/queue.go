package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/registry-checks/registry-checks/lib/safefile"
)

// DefaultQueueMaxBytes bounds a queue when Queue.MaxBytes is not set:
// thousands of notifications, days of an outage of the receiver.
const DefaultQueueMaxBytes int64 = 4 << 20

// DefaultRetryAfter is how long a 429 without Retry-After holds the queue.
const DefaultRetryAfter = 30 * time.Second

const (
	itemSuffix    = ".json"
	tempPrefix    = ".tmp-"
	corruptSuffix = ".corrupt"
	lockName      = ".lock"
	notBeforeName = "not-before"
	droppedName   = "dropped"
)

var itemSeq atomic.Uint64

// Item is one notification waiting for its receiver. Body is what is
// posted, without any secret (PagerDuty's routing key is added when it is
// sent); Label says what it is in messages ("PROBLEM http on web1
// CRITICAL"); Key is PagerDuty's dedup_key (or "" for chat).
type Item struct {
	Name    string          `json:"-"` // the file name: the order of delivery
	Created time.Time       `json:"created"`
	Label   string          `json:"label"`
	Key     string          `json:"key,omitempty"`
	Body    json.RawMessage `json:"body"`
}

// Queue keeps the notifications of one receiver (one webhook, one routing
// key) that it has not taken yet, one file (mode 600) per notification in
// Dir (mode 700), and delivers them oldest first. A notification is added
// to the queue before it is sent, named by when it happened, so a failed
// post is already kept, a crash loses nothing, and a resolve can never
// overtake its trigger: delivery stops at the first item the receiver
// does not take, and only a refusal for good (a 4xx) removes an item
// unsent. Runs share a queue through an flock on Dir/.lock.
type Queue struct {
	Dir      string
	MaxBytes int64            // DefaultQueueMaxBytes when <= 0
	Now      func() time.Time // time.Now when nil
}

func (q Queue) now() time.Time {
	if q.Now == nil {
		return time.Now()
	}
	return q.Now()
}

// Add writes it to the queue (whole or not at all) and returns its name.
// It needs no lock: a name is unique, and the order is the name's.
func (q Queue) Add(it Item) (string, error) {
	if err := os.MkdirAll(q.Dir, 0o700); err != nil {
		return "", fmt.Errorf("queue %s: %w", q.Dir, safefile.UnwrapPath(err))
	}
	if it.Created.IsZero() {
		it.Created = q.now()
	}
	data, err := json.Marshal(it)
	if err != nil {
		return "", err
	}
	name := fmt.Sprintf("%020d-%010d-%06d%s", it.Created.UnixNano(), os.Getpid(), itemSeq.Add(1)%1e6, itemSuffix)
	if err := safefile.Write(q.Dir, name, tempPrefix, data, 0o600); err != nil {
		return "", fmt.Errorf("queueing in %s: %w", q.Dir, safefile.UnwrapPath(err))
	}
	return name, nil
}

// Sent is one item and how its delivery went.
type Sent struct {
	Item
	Latency time.Duration
	Err     error // nil: delivered; a *PostError with Permanent: refused for good
}

// Report says what a Flush did.
type Report struct {
	Delivered []Sent
	Rejected  []Sent // refused for good and removed
	Failed    []Sent // not taken this time, still queued (the last is where delivery stopped)
	Pending   int    // items left in the queue
	Dropped   int    // items this flush removed unsent to keep the queue within MaxBytes
	// Stop says why items were left: the receiver's error, a Retry-After
	// that runs past ctx, another run holding the queue, or ctx.
	Stop      error
	NotBefore time.Time // set while a Retry-After holds the queue
}

// Flush delivers the queued items with send, oldest first, until the
// queue is empty, an item is not taken, or ctx ends. A 429 holds the
// queue for its Retry-After (DefaultRetryAfter without one), remembered
// in Dir/not-before for the runs that follow: Flush waits for it when ctx
// leaves the time, and otherwise stops and leaves everything queued. The
// oldest items are dropped first when the queue outgrows MaxBytes.
func (q Queue) Flush(ctx context.Context, send func(context.Context, Item) error) (rep Report) {
	if err := os.MkdirAll(q.Dir, 0o700); err != nil {
		rep.Stop = fmt.Errorf("queue %s: %w", q.Dir, safefile.UnwrapPath(err))
		return rep
	}
	lock, err := os.OpenFile(filepath.Join(q.Dir, lockName), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		rep.Stop = fmt.Errorf("queue %s: %w", q.Dir, safefile.UnwrapPath(err))
		return rep
	}
	defer lock.Close()
	if err := safefile.Lock(ctx, lock); err != nil {
		rep.Stop = fmt.Errorf("queue %s is being delivered by another run (it will send this one too): %w", q.Dir, err)
		rep.Pending = len(q.list())
		return rep
	}
	rep.Dropped = q.trim()
	defer func() { rep.Pending = len(q.list()) }()
	for {
		names := q.list()
		if len(names) == 0 {
			return rep
		}
		if nb := q.notBefore(); q.now().Before(nb) {
			wait := nb.Sub(q.now())
			if dl, ok := ctx.Deadline(); ok && q.now().Add(wait).After(dl) {
				rep.NotBefore = nb
				rep.Stop = fmt.Errorf("the receiver asked to wait until %s (429 Too Many Requests)", nb.UTC().Format(time.RFC3339))
				return rep
			}
			select {
			case <-ctx.Done():
				rep.NotBefore = nb
				rep.Stop = context.Cause(ctx)
				return rep
			case <-time.After(wait):
			}
		}
		if err := ctx.Err(); err != nil {
			rep.Stop = context.Cause(ctx)
			return rep
		}
		path := filepath.Join(q.Dir, names[0])
		it, err := readItem(path)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			// Set aside, so one unreadable file does not hold back the rest.
			if rerr := os.Rename(path, path+corruptSuffix); rerr != nil {
				rep.Stop = rerr
				return rep
			}
			rep.Rejected = append(rep.Rejected, Sent{Item: Item{Name: names[0], Label: names[0]}, Err: fmt.Errorf("queued file %s is unreadable (%v): moved to %s", path, err, names[0]+corruptSuffix)})
			continue
		}
		start := q.now()
		err = send(ctx, it)
		s := Sent{Item: it, Latency: q.now().Sub(start), Err: err}
		pe := AsPostError(err)
		switch {
		case err == nil:
			if rerr := os.Remove(path); rerr != nil {
				rep.Stop = fmt.Errorf("delivered %s but cannot remove it from the queue (it would be sent again): %w", path, rerr)
				return rep
			}
			rep.Delivered = append(rep.Delivered, s)
		case pe != nil && pe.Permanent:
			os.Remove(path)
			rep.Rejected = append(rep.Rejected, s)
		case pe != nil && pe.Code == 429:
			d := pe.RetryAfter
			if d <= 0 {
				d = DefaultRetryAfter
			}
			rep.Failed = append(rep.Failed, s)
			if werr := q.setNotBefore(q.now().Add(d)); werr != nil {
				rep.Stop = werr
				return rep
			}
		default:
			rep.Failed = append(rep.Failed, s)
			rep.Stop = err
			return rep
		}
	}
}

// Pending is the number of items waiting.
func (q Queue) Pending() int { return len(q.list()) }

func readItem(path string) (Item, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Item{}, err
	}
	var it Item
	if err := json.Unmarshal(data, &it); err != nil {
		return Item{}, err
	}
	if len(it.Body) == 0 {
		return Item{}, errors.New("no body")
	}
	it.Name = filepath.Base(path)
	return it, nil
}

// list is the queued items' names, oldest first.
func (q Queue) list() []string { return safefile.Names(q.Dir, itemSuffix) }

func (q Queue) notBefore() time.Time {
	b, err := os.ReadFile(filepath.Join(q.Dir, notBeforeName))
	if err != nil {
		return time.Time{}
	}
	ns, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return time.Time{}
	}
	return time.Unix(0, ns)
}

func (q Queue) setNotBefore(t time.Time) error {
	return safefile.Write(q.Dir, notBeforeName, tempPrefix, []byte(strconv.FormatInt(t.UnixNano(), 10)+"\n"), 0o600)
}

// Dropped is the count of items ever dropped from this queue for its bound.
func (q Queue) Dropped() int64 {
	b, err := os.ReadFile(filepath.Join(q.Dir, droppedName))
	if err != nil {
		return 0
	}
	n, _ := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	return n
}

// trim drops the oldest items until the queue fits in MaxBytes, and
// counts them in Dir/dropped.
func (q Queue) trim() int {
	max := q.MaxBytes
	if max <= 0 {
		max = DefaultQueueMaxBytes
	}
	names := q.list()
	sizes := make([]int64, len(names))
	var total int64
	for i, n := range names {
		if fi, err := os.Stat(filepath.Join(q.Dir, n)); err == nil {
			sizes[i] = fi.Size()
			total += sizes[i]
		}
	}
	dropped := 0
	for i := 0; i < len(names) && total > max; i++ {
		if os.Remove(filepath.Join(q.Dir, names[i])) == nil {
			dropped++
			total -= sizes[i]
		}
	}
	if dropped > 0 {
		_ = safefile.Write(q.Dir, droppedName, tempPrefix, []byte(strconv.FormatInt(q.Dropped()+int64(dropped), 10)+"\n"), 0o600)
	}
	return dropped
}
