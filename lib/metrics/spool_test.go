package metrics

import (
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

// fakeSink records the batches it accepted; fail decides per call (0-based)
// whether to refuse one.
type fakeSink struct {
	mu       sync.Mutex
	calls    int
	fail     func(call int, points []Point) error
	accepted [][]Point
}

func (s *fakeSink) Write(ctx context.Context, points []Point) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	call := s.calls
	s.calls++
	if s.fail != nil {
		if err := s.fail(call, points); err != nil {
			return err
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	s.accepted = append(s.accepted, points)
	return nil
}

// ids lists the "id" field of every accepted point, in order.
func (s *fakeSink) ids() []int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []int64
	for _, b := range s.accepted {
		for _, p := range b {
			ids = append(ids, p.Fields["id"].(int64))
		}
	}
	return ids
}

var errDown = errors.New("dial tcp 127.0.0.1:8086: connect: connection refused")

func down(int, []Point) error { return errDown }

// idPoints makes n points with ids from..from+n-1.
func idPoints(from, n int) []Point {
	pts := make([]Point, n)
	for i := range pts {
		pts[i] = Point{Measurement: "check", Tags: map[string]string{"host": "db1"},
			Fields: map[string]any{"id": int64(from + i)}, Time: time.Unix(1700000000, int64(from+i))}
	}
	return pts
}

func seq(from, n int) []int64 {
	s := make([]int64, n)
	for i := range s {
		s[i] = int64(from + i)
	}
	return s
}

func TestSpoolDeliverDirect(t *testing.T) {
	sp := Spool{Dir: t.TempDir()}
	sink := &fakeSink{}
	rep, err := sp.Deliver(context.Background(), sink, idPoints(0, 3))
	require.NoError(t, err)
	assert.Equal(t, DeliveryReport{Written: 3}, rep)
	assert.Equal(t, seq(0, 3), sink.ids())
	assert.Empty(t, listBatches(sp.Dir))
}

func TestSpoolKeepsOrderAcrossOutage(t *testing.T) {
	sp := Spool{Dir: t.TempDir()}
	ctx := context.Background()
	for run := range 3 {
		rep, err := sp.Deliver(ctx, &fakeSink{fail: down}, idPoints(run*10, 2))
		require.Error(t, err)
		assert.ErrorIs(t, err, errDown)
		assert.Contains(t, err.Error(), "2 points spooled in "+sp.Dir)
		assert.Equal(t, DeliveryReport{Spooled: 2, Pending: run + 1}, rep)
	}
	sink := &fakeSink{}
	rep, err := sp.Deliver(ctx, sink, idPoints(30, 2))
	require.NoError(t, err)
	assert.Equal(t, DeliveryReport{Flushed: 6, Written: 2}, rep)
	assert.Equal(t, []int64{0, 1, 10, 11, 20, 21, 30, 31}, sink.ids())
	require.Len(t, sink.accepted, 4, "one write per spooled batch, then this run's")
	assert.Empty(t, listBatches(sp.Dir))
}

func TestSpoolStopsFlushingAtFirstFailure(t *testing.T) {
	sp := Spool{Dir: t.TempDir()}
	ctx := context.Background()
	for run := range 3 {
		_, err := sp.Deliver(ctx, &fakeSink{fail: down}, idPoints(run*10, 1))
		require.Error(t, err)
	}
	// Up for one batch, then down again.
	sink := &fakeSink{fail: func(call int, _ []Point) error {
		if call >= 1 {
			return errDown
		}
		return nil
	}}
	rep, err := sp.Deliver(ctx, sink, idPoints(30, 1))
	require.ErrorIs(t, err, errDown)
	assert.Equal(t, DeliveryReport{Flushed: 1, Spooled: 1, Pending: 3}, rep)
	assert.Equal(t, 2, sink.calls, "the run's own points must not jump the queue")

	all := &fakeSink{}
	rep, err = sp.Deliver(ctx, all, nil)
	require.NoError(t, err)
	assert.Equal(t, DeliveryReport{Flushed: 3}, rep)
	assert.Equal(t, []int64{10, 20, 30}, all.ids())
}

func TestSpoolStampsPointsWhenSpooled(t *testing.T) {
	sp := Spool{Dir: t.TempDir()}
	before := time.Now()
	_, err := sp.Deliver(context.Background(), &fakeSink{fail: down},
		[]Point{{Measurement: "m", Fields: map[string]any{"id": int64(1)}}})
	require.Error(t, err)
	after := time.Now()
	sink := &fakeSink{}
	_, err = sp.Deliver(context.Background(), sink, nil)
	require.NoError(t, err)
	require.Len(t, sink.accepted, 1)
	got := sink.accepted[0][0].Time
	assert.False(t, got.Before(before) || got.After(after), "stamped %v, want between %v and %v", got, before, after)
}

func TestSpoolBoundDropsOldestAndCounts(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	one, err := Encode(nil, idPoints(0, 2))
	require.NoError(t, err)
	batchSize := int64(len(one))
	// Room for three two-point batches.
	sp := Spool{Dir: dir, MaxBytes: 3*batchSize + batchSize/2}
	for run := range 5 {
		rep, err := sp.Deliver(ctx, &fakeSink{fail: down}, idPoints(run*10, 2))
		require.Error(t, err)
		want := DeliveryReport{Spooled: 2, Pending: min(run+1, 3)}
		if run >= 3 {
			want.DroppedNow = 2
			want.Dropped = int64(2 * (run - 2))
		}
		assert.Equal(t, want, rep, "run %d", run)
	}
	data, err := os.ReadFile(filepath.Join(dir, "dropped"))
	require.NoError(t, err)
	assert.Equal(t, "4\n", string(data))

	// The counter persists across Spool values (separate runs).
	sink := &fakeSink{}
	rep, err := Spool{Dir: dir, MaxBytes: sp.MaxBytes}.Deliver(ctx, sink, nil)
	require.NoError(t, err)
	assert.Equal(t, DeliveryReport{Flushed: 6, Dropped: 4}, rep)
	assert.Equal(t, []int64{20, 21, 30, 31, 40, 41}, sink.ids(), "the two oldest batches were dropped")
}

func TestSpoolBatchLargerThanBoundIsDropped(t *testing.T) {
	sp := Spool{Dir: t.TempDir(), MaxBytes: 10}
	rep, err := sp.Deliver(context.Background(), &fakeSink{fail: down}, idPoints(0, 3))
	require.Error(t, err)
	assert.Equal(t, DeliveryReport{DroppedNow: 3, Dropped: 3}, rep)
}

func TestSpoolDefaults(t *testing.T) {
	assert.Equal(t, "/var/spool/registry-checks", Spool{}.dir())
	assert.Equal(t, int64(8<<20), Spool{}.maxBytes())
	assert.Equal(t, int64(8<<20), Spool{MaxBytes: -1}.maxBytes())
	assert.Equal(t, int64(5), Spool{MaxBytes: 5}.maxBytes())
}

func TestSpoolIgnoresTempFilesAndRemovesStaleOnes(t *testing.T) {
	sp := Spool{Dir: t.TempDir()}
	ctx := context.Background()
	_, err := sp.Deliver(ctx, &fakeSink{fail: down}, idPoints(0, 1))
	require.Error(t, err)
	// A run that crashed mid-write leaves a temp file, possibly half written.
	stale := filepath.Join(sp.Dir, ".tmp-00000000000000000001-0000000001-000001.lp-123")
	fresh := filepath.Join(sp.Dir, ".tmp-00000000000000000002-0000000002-000001.lp-456")
	for _, p := range []string{stale, fresh} {
		require.NoError(t, os.WriteFile(p, []byte("check,host=db1 id=99i 17000"), 0o644))
	}
	old := time.Now().Add(-time.Hour)
	require.NoError(t, os.Chtimes(stale, old, old))

	sink := &fakeSink{}
	rep, err := sp.Deliver(ctx, sink, idPoints(1, 1))
	require.NoError(t, err)
	assert.Equal(t, DeliveryReport{Flushed: 1, Written: 1}, rep)
	assert.Equal(t, []int64{0, 1}, sink.ids())
	assert.NoFileExists(t, stale)
	assert.FileExists(t, fresh, "a temp file may belong to a run still writing it")
}

func TestSpoolSetsCorruptBatchesAside(t *testing.T) {
	sp := Spool{Dir: t.TempDir()}
	ctx := context.Background()
	_, err := sp.Deliver(ctx, &fakeSink{fail: down}, idPoints(0, 1))
	require.Error(t, err)
	bad := filepath.Join(sp.Dir, "00000000000000000001-0000000001-000001.lp")
	require.NoError(t, os.WriteFile(bad, []byte("not line protocol at all\n"), 0o644))

	sink := &fakeSink{}
	rep, err := sp.Deliver(ctx, sink, idPoints(1, 1))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "spooled batch "+bad+" is corrupt")
	assert.Equal(t, DeliveryReport{Flushed: 1, Written: 1}, rep)
	assert.Equal(t, []int64{0, 1}, sink.ids())
	assert.FileExists(t, bad+".corrupt")
}

func TestSpoolDropsBatchesRefusedForGood(t *testing.T) {
	sp := Spool{Dir: t.TempDir()}
	ctx := context.Background()
	for run := range 2 {
		_, err := sp.Deliver(ctx, &fakeSink{fail: down}, idPoints(run*10, 2))
		require.Error(t, err)
	}
	refused := &WriteError{URL: "http://influx:8086/write?db=rc&precision=ns", StatusCode: 400, Message: "partial write: field type conflict"}
	sink := &fakeSink{fail: func(call int, _ []Point) error {
		if call == 0 {
			return refused
		}
		return nil
	}}
	rep, err := sp.Deliver(ctx, sink, idPoints(20, 1))
	require.Error(t, err)
	assert.ErrorIs(t, err, refused)
	assert.Equal(t, DeliveryReport{Flushed: 2, Written: 1, Rejected: 2}, rep)
	assert.Equal(t, []int64{10, 11, 20}, sink.ids())
	assert.Empty(t, listBatches(sp.Dir))

	// This run's points refused for good are not spooled either.
	rep, err = sp.Deliver(ctx, &fakeSink{fail: func(int, []Point) error { return refused }}, idPoints(30, 3))
	require.ErrorIs(t, err, refused)
	assert.Equal(t, DeliveryReport{Rejected: 3}, rep)
}

func TestSpoolRejectsUnencodablePoints(t *testing.T) {
	sp := Spool{Dir: t.TempDir()}
	pts := append(idPoints(0, 1),
		Point{Measurement: "m", Fields: map[string]any{"bad": struct{}{}}},
		Point{Measurement: "m", Fields: map[string]any{"nan-only": 0.0 / zero()}})
	pts = append(pts, idPoints(1, 1)...)
	sink := &fakeSink{}
	rep, err := sp.Deliver(context.Background(), sink, pts)
	require.Error(t, err)
	assert.Equal(t, `point 1 not written: measurement "m", field "bad": unsupported value type struct {}`, err.Error())
	assert.Equal(t, DeliveryReport{Written: 2, Rejected: 1}, rep)
	assert.Equal(t, []int64{0, 1}, sink.ids())
}

func zero() float64 { return 0 }

func TestSpoolBusyLockSpoolsWithoutFlushing(t *testing.T) {
	sp := Spool{Dir: t.TempDir()}
	ctx := context.Background()
	_, err := sp.Deliver(ctx, &fakeSink{fail: down}, idPoints(0, 1))
	require.Error(t, err)

	holder, err := openLock(sp.Dir)
	require.NoError(t, err)
	defer holder.Close()
	require.NoError(t, safefile.Lock(ctx, holder))

	short, cancel := context.WithTimeout(ctx, 30*time.Millisecond)
	defer cancel()
	sink := &fakeSink{}
	rep, err := sp.Deliver(short, sink, idPoints(1, 1))
	require.Error(t, err)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Contains(t, err.Error(), "spool "+sp.Dir+" busy with another run")
	assert.Equal(t, DeliveryReport{Spooled: 1, Pending: 2}, rep)
	assert.Zero(t, sink.calls)

	holder.Close()
	rep, err = sp.Deliver(ctx, sink, nil)
	require.NoError(t, err)
	assert.Equal(t, DeliveryReport{Flushed: 2}, rep)
	assert.Equal(t, []int64{0, 1}, sink.ids())
}

func TestSpoolExpiredContextStillSpools(t *testing.T) {
	sp := Spool{Dir: t.TempDir()}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	sink := &fakeSink{}
	rep, err := sp.Deliver(ctx, sink, idPoints(0, 2))
	require.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, DeliveryReport{Spooled: 2, Pending: 1}, rep)
	assert.Empty(t, sink.ids())
}

func TestSpoolUnusableStillSends(t *testing.T) {
	file := filepath.Join(t.TempDir(), "not-a-dir")
	require.NoError(t, os.WriteFile(file, nil, 0o644))
	sp := Spool{Dir: filepath.Join(file, "spool")}

	sink := &fakeSink{}
	rep, err := sp.Deliver(context.Background(), sink, idPoints(0, 2))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "spool unusable, sending without it: mkdir "+file)
	assert.Equal(t, DeliveryReport{Written: 2}, rep)

	rep, err = sp.Deliver(context.Background(), &fakeSink{fail: down}, idPoints(2, 2))
	require.ErrorIs(t, err, errDown)
	assert.Contains(t, err.Error(), "2 points lost")
	assert.Equal(t, DeliveryReport{}, rep)
}

// Runs sharing a spool dir, each with its own open of the lock file (as
// separate processes have), against a sink that is down, then flaky, then
// up: every point must arrive exactly once.
func TestSpoolConcurrentRunsExactlyOnce(t *testing.T) {
	dir := t.TempDir()
	const runners, runs, per = 6, 30, 5
	var mu sync.Mutex
	phase := 0 // 0 down, 1 flaky, 2 up
	sink := &fakeSink{fail: func(call int, _ []Point) error {
		mu.Lock()
		defer mu.Unlock()
		if phase == 0 || (phase == 1 && call%3 == 0) {
			return errDown
		}
		return nil
	}}
	deliverAll := func(p int) {
		mu.Lock()
		phase = p
		mu.Unlock()
		var wg sync.WaitGroup
		for r := range runners {
			wg.Go(func() {
				for i := range runs {
					from := ((p*runners+r)*runs + i) * per
					ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
					rep, _ := Spool{Dir: dir}.Deliver(ctx, sink, idPoints(from, per))
					cancel()
					assert.Equal(t, per, rep.Written+rep.Spooled, "runner %d run %d: %+v", r, i, rep)
					assert.Zero(t, rep.Dropped)
				}
			})
		}
		wg.Wait()
	}
	deliverAll(0)
	assert.Len(t, listBatches(dir), runners*runs)
	deliverAll(1)
	deliverAll(2)
	rep, err := Spool{Dir: dir}.Deliver(context.Background(), sink, nil)
	require.NoError(t, err)
	assert.Zero(t, rep.Pending)

	seen := map[int64]int{}
	for _, id := range sink.ids() {
		seen[id]++
	}
	total := 3 * runners * runs * per
	assert.Len(t, seen, total, "every point arrived")
	for id, n := range seen {
		require.Equal(t, 1, n, "point %d arrived %d times", id, n)
	}
	// Each runner's own points arrive in the order it produced them.
	last := map[int]int64{}
	for _, id := range sink.ids() {
		runner := int(id) / (runs * per)
		if prev, ok := last[runner]; ok {
			require.Greater(t, id, prev, "runner block %d out of order", runner)
		}
		last[runner] = id
	}
}

func TestBatchNamesSortByTime(t *testing.T) {
	dir := t.TempDir()
	var names []string
	for range 20 {
		name, err := writeBatch(dir, []byte("m v=1i 1\n"))
		require.NoError(t, err)
		names = append(names, name)
	}
	assert.Equal(t, names, listBatches(dir))
	assert.Regexp(t, `^\d{20}-\d{10}-\d{6}\.lp$`, names[0])
	for _, n := range names {
		assert.False(t, strings.HasPrefix(n, "."))
	}
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Len(t, entries, 20, "no temp files left behind: %v", fmt.Sprint(entries))
}
