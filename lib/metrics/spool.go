package metrics

import (
	"bytes"
	"context"
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

// DefaultSpoolDir is where points wait while the sink is unreachable. A
// check running as an unprivileged user usually cannot create it; the run
// path (lib/plugin) then falls back to a directory that user can write.
const DefaultSpoolDir = "/var/spool/registry-checks"

// DefaultSpoolMaxBytes bounds the spool when Spool.MaxBytes is not set:
// at a few hundred bytes per point, days of one check's points.
const DefaultSpoolMaxBytes int64 = 8 << 20

const (
	batchSuffix  = ".lp"
	tempPrefix   = ".tmp-"
	corruptExt   = ".corrupt"
	lockName     = ".lock"
	droppedName  = "dropped"
	staleTempAge = 10 * time.Minute // far longer than any run holds a temp file
)

// batchSeq tells apart the batches one process spools within a nanosecond.
var batchSeq atomic.Uint64

// Spool keeps the points a sink could not take, as one line-protocol file
// per batch in Dir, and sends them first, oldest first, on the next
// delivery. It is shared safely by concurrent runs (processes or goroutines)
// through an flock on Dir/.lock.
type Spool struct {
	Dir      string // DefaultSpoolDir when empty
	MaxBytes int64  // total size of the batch files; DefaultSpoolMaxBytes when <= 0
}

// DeliveryReport says where every point of a delivery went. Points with no
// writable field are not counted anywhere.
type DeliveryReport struct {
	Flushed    int   // points of earlier runs, from the spool, that the sink accepted
	Written    int   // points of this run that the sink accepted
	Spooled    int   // points of this run kept in the spool for a later run
	Rejected   int   // points refused for good: not encodable, or the sink said retrying cannot help (IsPermanent)
	DroppedNow int   // points this delivery deleted, oldest first, to keep the spool within MaxBytes
	Dropped    int64 // all points ever dropped from this spool for its bound (the counter in Dir/dropped)
	Pending    int   // batch files left in the spool
}

func (s Spool) dir() string {
	if s.Dir == "" {
		return DefaultSpoolDir
	}
	return s.Dir
}

func (s Spool) maxBytes() int64 {
	if s.MaxBytes <= 0 {
		return DefaultSpoolMaxBytes
	}
	return s.MaxBytes
}

// Deliver sends the spooled batches to sink in the order they were spooled,
// then points; whatever the sink does not accept (an error, or ctx done) is
// spooled as a new batch, and the oldest batches are dropped to keep the
// spool within MaxBytes.
//
// A batch file is removed only after the sink accepted it, so no point is
// lost; the lock makes sure two runs never send the same batch. One caveat
// is inherent to HTTP: if the sink accepted a batch but the answer did not
// arrive before ctx ended, the batch is sent again later. InfluxDB stores a
// point by series and timestamp, so that second write overwrites the first
// and the point is still stored once.
//
// Points with a zero Time are stamped with the time of this call, so a
// point sent late keeps the time it was measured.
//
// The error is nil only when everything reached the sink; the report is
// valid either way and says whether the points are safe in the spool.
// Waiting for the lock is bounded by ctx: when another run holds it too
// long, points are spooled without flushing (and without trimming, which
// needs the lock; the next run trims).
func (s Spool) Deliver(ctx context.Context, sink Sink, points []Point) (DeliveryReport, error) {
	var rep DeliveryReport
	var errs []error
	valid, encoded, rejected, encErr := prepare(points, time.Now())
	rep.Rejected += rejected
	if encErr != nil {
		errs = append(errs, encErr)
	}
	dir := s.dir()

	lock, err := openLock(dir)
	if err != nil {
		// No spool: still try the sink, since losing the spool should not
		// also lose this run's points.
		errs = append(errs, fmt.Errorf("spool unusable, sending without it: %w", err))
		if len(valid) > 0 {
			if err := sink.Write(ctx, valid); err != nil {
				errs = append(errs, fmt.Errorf("%d points lost: %w", len(valid), err))
			} else {
				rep.Written = len(valid)
			}
		}
		return rep, errors.Join(errs...)
	}
	defer lock.Close()

	if err := safefile.Lock(ctx, lock); err != nil {
		errs = append(errs, fmt.Errorf("spool %s busy with another run: %w", dir, err))
		if len(valid) > 0 {
			if _, err := writeBatch(dir, encoded); err != nil {
				errs = append(errs, fmt.Errorf("%d points lost: %w", len(valid), err))
			} else {
				rep.Spooled = len(valid)
			}
		}
		rep.Dropped, _ = readDropped(dir)
		rep.Pending = len(listBatches(dir))
		return rep, errors.Join(errs...)
	}
	removeStaleTemps(dir, time.Now())

	flushed, flushRejected, flushErr, flushErrs := s.flush(ctx, dir, sink)
	rep.Flushed = flushed
	rep.Rejected += flushRejected
	errs = append(errs, flushErrs...)

	var own string // our batch file, if we spool one
	if len(valid) > 0 {
		sendErr := flushErr
		if sendErr == nil {
			// Older points first: this run's go only once the spool is empty.
			sendErr = sink.Write(ctx, valid)
			switch {
			case sendErr == nil:
				rep.Written = len(valid)
			case IsPermanent(sendErr):
				rep.Rejected += len(valid)
				errs = append(errs, fmt.Errorf("%d points refused: %w", len(valid), sendErr))
				sendErr = nil
			}
		}
		if sendErr != nil {
			name, err := writeBatch(dir, encoded)
			if err != nil {
				errs = append(errs, fmt.Errorf("%d points lost: %w", len(valid), errors.Join(sendErr, err)))
			} else {
				own = name
				rep.Spooled = len(valid)
				errs = append(errs, fmt.Errorf("%d points spooled in %s: %w", len(valid), dir, sendErr))
			}
		}
	} else if flushErr != nil {
		errs = append(errs, fmt.Errorf("spooled points kept in %s: %w", dir, flushErr))
	}

	droppedNow, ownDropped, err := s.trim(dir, own)
	if err != nil {
		errs = append(errs, err)
	}
	rep.DroppedNow = droppedNow
	if ownDropped {
		rep.Spooled = 0
	}
	rep.Dropped, err = readDropped(dir)
	if err != nil {
		errs = append(errs, err)
	}
	rep.Pending = len(listBatches(dir))
	return rep, errors.Join(errs...)
}

// prepare stamps zero times, encodes, and sets aside the points that can
// never be written.
func prepare(points []Point, now time.Time) (valid []Point, encoded []byte, rejected int, err error) {
	var e encoder
	var errs []error
	for i := range points {
		p := points[i]
		if p.Time.IsZero() {
			p.Time = now
		}
		var wrote bool
		var perr error
		encoded, wrote, perr = e.appendPoint(encoded, &p)
		switch {
		case perr != nil:
			rejected++
			errs = append(errs, fmt.Errorf("point %d not written: %w", i, perr))
		case wrote:
			valid = append(valid, p)
		}
	}
	return valid, encoded, rejected, errors.Join(errs...)
}

// flush sends the spooled batches oldest first and stops at the first one
// the sink does not take (stopErr), so batches always leave in order.
func (s Spool) flush(ctx context.Context, dir string, sink Sink) (flushed, rejected int, stopErr error, errs []error) {
	for _, name := range listBatches(dir) {
		if err := ctx.Err(); err != nil {
			return flushed, rejected, fmt.Errorf("flushing %s: %w", dir, context.Cause(ctx)), errs
		}
		path := filepath.Join(dir, name)
		data, err := os.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			continue // removed by hand since we listed it
		}
		if err != nil {
			return flushed, rejected, err, errs
		}
		points, err := decode(data)
		if err != nil {
			// Set it aside rather than let one bad file hold back all others
			// forever; an operator can inspect it.
			errs = append(errs, fmt.Errorf("spooled batch %s is corrupt (%v): moved to %s", path, err, name+corruptExt))
			if err := os.Rename(path, path+corruptExt); err != nil {
				return flushed, rejected, err, errs
			}
			continue
		}
		if len(points) > 0 {
			err = sink.Write(ctx, points)
			switch {
			case err == nil:
				flushed += len(points)
			case IsPermanent(err):
				rejected += len(points)
				errs = append(errs, fmt.Errorf("spooled batch %s (%d points) refused, removed: %w", path, len(points), err))
			default:
				return flushed, rejected, err, errs
			}
		}
		if err := os.Remove(path); err != nil {
			// Sent but still there: the next run would send it again.
			return flushed, rejected, fmt.Errorf("sent spooled batch but cannot remove it: %w", err), errs
		}
	}
	return flushed, rejected, nil, errs
}

// trim drops the oldest batches until the spool fits in MaxBytes and adds
// their points to the dropped counter. ownDropped says whether own (this
// run's new batch) was among them.
func (s Spool) trim(dir, own string) (dropped int, ownDropped bool, err error) {
	names := listBatches(dir)
	sizes := make([]int64, len(names))
	var total int64
	for i, name := range names {
		if fi, err := os.Stat(filepath.Join(dir, name)); err == nil {
			sizes[i] = fi.Size()
			total += fi.Size()
		}
	}
	max := s.maxBytes()
	for i := 0; i < len(names) && total > max; i++ {
		path := filepath.Join(dir, names[i])
		data, err := os.ReadFile(path)
		if err != nil {
			return dropped, ownDropped, err
		}
		if err := os.Remove(path); err != nil {
			return dropped, ownDropped, err
		}
		dropped += bytes.Count(data, []byte{'\n'})
		total -= sizes[i]
		ownDropped = ownDropped || names[i] == own
	}
	if dropped > 0 {
		if err := addDropped(dir, int64(dropped)); err != nil {
			return dropped, ownDropped, err
		}
	}
	return dropped, ownDropped, nil
}

func openLock(dir string) (*os.File, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	return os.OpenFile(filepath.Join(dir, lockName), os.O_RDWR|os.O_CREATE, 0o644)
}

// listBatches returns the batch file names, oldest first: the names start
// with a zero-padded UnixNano, then the PID, then a counter.
func listBatches(dir string) []string { return safefile.Names(dir, batchSuffix) }

// writeBatch stores data as a new batch: written to a temp file, synced,
// then renamed, so a crash leaves either a whole batch or an ignored temp
// file, never half a batch that would be sent.
func writeBatch(dir string, data []byte) (string, error) {
	name := fmt.Sprintf("%020d-%010d-%06d%s", time.Now().UnixNano(), os.Getpid(), batchSeq.Add(1)%1e6, batchSuffix)
	if err := writeFileAtomic(dir, name, data); err != nil {
		return "", fmt.Errorf("spooling to %s: %w", dir, err)
	}
	return name, nil
}

func writeFileAtomic(dir, name string, data []byte) error {
	return safefile.Write(dir, name, tempPrefix, data, 0o644)
}

// removeStaleTemps deletes temp files left by runs that crashed mid-write.
func removeStaleTemps(dir string, now time.Time) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), tempPrefix) {
			continue
		}
		if fi, err := e.Info(); err == nil && now.Sub(fi.ModTime()) > staleTempAge {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

func readDropped(dir string) (int64, error) {
	data, err := os.ReadFile(filepath.Join(dir, droppedName))
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("dropped-points counter %s: %w", filepath.Join(dir, droppedName), err)
	}
	return n, nil
}

func addDropped(dir string, n int64) error {
	old, err := readDropped(dir)
	if err != nil {
		// A damaged counter must not stop the spool; restart it from here.
		old = 0
	}
	return writeFileAtomic(dir, droppedName, []byte(strconv.FormatInt(old+n, 10)+"\n"))
}
