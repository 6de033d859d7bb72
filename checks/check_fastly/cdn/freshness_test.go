package cdn

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/registry-checks/registry-checks/lib/httpprobe"
	"github.com/registry-checks/registry-checks/lib/nagios"
)

// fakeCDN serves a packument with the CDN's headers.
type fakeCDN struct {
	doc map[string]any
	age string
}

func (f *fakeCDN) Do(_ context.Context, r httpprobe.Request) (*httpprobe.Response, error) {
	b, _ := json.Marshal(f.doc)
	if r.Body != nil {
		_, _ = r.Body.Write(b)
	}
	h := http.Header{"X-Cache": {"HIT"}}
	if f.age != "" {
		h.Set("Age", f.age)
	}
	return &httpprobe.Response{Status: 200, Header: h, Bytes: int64(len(b))}, nil
}

type fakeOrigin struct {
	rev      string
	modified time.Time
}

func (o *fakeOrigin) Where() string { return "http://db1:5984/registry" }
func (o *fakeOrigin) Revision(context.Context, string) (string, time.Time, error) {
	return o.rev, o.modified, nil
}

func perfValue(t *testing.T, r nagios.Result, field string) float64 {
	t.Helper()
	for _, s := range append([]nagios.Result{r}, r.Subs...) {
		for _, p := range s.Perf {
			if p.Field == field {
				return p.Value
			}
		}
	}
	t.Fatalf("no %s in %+v", field, r)
	return 0
}

// The case of issue 17: a packument changed at the origin without
// touching time.modified (a dist-tag move), time.modified years old. The
// change cannot be dated from time.modified: the figure is what this
// check has seen, a lower bound that grows from run to run, and resets
// when the CDN's copy changes.
func TestStalenessIsALowerBoundThatGrows(t *testing.T) {
	modified := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC) // 2.9 years before now
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	cdnSrv := &fakeCDN{doc: map[string]any{"_rev": "1-aaa", "time": map[string]string{"modified": modified.Format(time.RFC3339Nano)}}, age: "4"}
	origin := &fakeOrigin{rev: "2-bbb", modified: modified}
	dir := t.TempDir()
	th, err := nagios.ParseRange("300")
	require.NoError(t, err)
	cfg := Config{Packuments: []string{"https://registry.example.com/left-pad-lite"}, Expect: []int{200}, Stale: nagios.Thresholds{Warn: &th}}
	deps := Deps{Probe: cdnSrv, Origin: origin, Sightings: &FileSightings{Dir: dir},
		Problem: func(err error) (nagios.Status, string) { return nagios.UNKNOWN, err.Error() },
		Now:     func() time.Time { return now }}
	run := func() nagios.Result { return Check(context.Background(), cfg, deps) }

	res := run()
	assert.Equal(t, nagios.OK, res.Status, res.Summary)
	assert.Equal(t, "/left-pad-lite 200 HIT, 0.0ms, stale for at least 0s", res.Summary)
	assert.Equal(t, 0.0, perfValue(t, res, "stale"))
	long := strings.Join(res.Subs[0].Long, "\n")
	assert.Contains(t, long, "packument left-pad-lite: CDN _rev 1-aaa, time.modified 2024-01-02T03:04:05Z; origin _rev 2-bbb, time.modified 2024-01-02T03:04:05Z")
	assert.Contains(t, long, "stale for at least 0s: this check sees the difference for the first time")
	assert.Contains(t, long, "the CDN fetched its copy 4s ago (Age): stale for less than 5s if it fetches from this origin")

	now = now.Add(2 * time.Minute)
	res = run()
	assert.Equal(t, nagios.OK, res.Status, res.Summary)
	assert.Equal(t, 120.0, perfValue(t, res, "stale"))

	// The origin moves on; the CDN still serves the same old copy: the
	// bound keeps growing.
	origin.rev = "3-ccc"
	now = now.Add(4 * time.Minute)
	res = run()
	assert.Equal(t, nagios.WARNING, res.Status, res.Summary)
	assert.Equal(t, "/left-pad-lite stale for at least 6m0s", res.Summary)
	assert.Equal(t, 360.0, perfValue(t, res, "stale"))
	long = strings.Join(res.Subs[0].Long, "\n")
	assert.Contains(t, long, "first saw the CDN serve this copy while the origin had another 6m0s ago (2026-11-30T12:00:00Z")
	assert.Contains(t, long, "the CDN fetched its copy 4s ago (Age), when the origin had changed already: its backend served it out of date")

	// The CDN fetched a newer copy, still not the origin's: a new sighting.
	cdnSrv.doc["_rev"] = "2-bbb"
	now = now.Add(time.Minute)
	res = run()
	assert.Equal(t, nagios.OK, res.Status, res.Summary)
	assert.Equal(t, 0.0, perfValue(t, res, "stale"))

	// Fresh: the sighting is forgotten, and a later difference starts at 0.
	cdnSrv.doc["_rev"] = "3-ccc"
	res = run()
	assert.Equal(t, "/left-pad-lite 200 HIT, 0.0ms, fresh", res.Summary)
	entries, err := os.ReadDir(filepath.Join(dir))
	require.NoError(t, err)
	assert.Empty(t, entries, "the state file of a fresh packument is removed")
}

// time.modified newer at the origin than in the served copy dates a change
// after the served copy: the bound is at least that old, from the first run.
func TestStalenessFromOriginTimeModified(t *testing.T) {
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	cdnSrv := &fakeCDN{doc: map[string]any{"_rev": "1-aaa", "time": map[string]string{"modified": now.Add(-time.Hour).Format(time.RFC3339Nano)}}, age: "3600"}
	origin := &fakeOrigin{rev: "2-bbb", modified: now.Add(-10 * time.Minute)}
	deps := Deps{Probe: cdnSrv, Origin: origin, Sightings: &FileSightings{Dir: t.TempDir()}, Now: func() time.Time { return now },
		Problem: func(err error) (nagios.Status, string) { return nagios.UNKNOWN, err.Error() }}
	th, _ := nagios.ParseRange("300")
	res := Check(context.Background(), Config{Packuments: []string{"http://cdn/left-pad-lite"}, Expect: []int{200}, Stale: nagios.Thresholds{Warn: &th}}, deps)
	assert.Equal(t, nagios.WARNING, res.Status)
	assert.Equal(t, "/left-pad-lite stale for at least 10m0s", res.Summary)
	long := strings.Join(res.Subs[0].Long, "\n")
	assert.Contains(t, long, "the origin's time.modified, newer than the served copy's, is 10m0s ago")
	assert.Contains(t, long, "the CDN fetched its copy 1h0m0s ago (Age): stale for less than 1h0m1s if it fetches from this origin")
}

// The state file is JSON, mode 0640, written through a rename (no
// temporary file left), and holds no credentials even when the packument
// URL carried some.
func TestSightingsFile(t *testing.T) {
	dir := t.TempDir()
	f := &FileSightings{Dir: dir, Redact: func(s string) string { return strings.ReplaceAll(s, "s3cret", "xxxxx") }}
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	s := Sighting{Packument: "http://cdn.example/%40scope%2Fpkg-s3cret", Origin: "http://db1:5984/registry", Served: "1-a", OriginRev: "2-b", FirstSeen: now}
	got, err := f.Sight(s)
	require.NoError(t, err)
	assert.Equal(t, s, got)
	path := f.Where(s.Packument, s.Origin)
	assert.Equal(t, filepath.Join(dir, "cdn.example_40scope_2Fpkg-s3cret@db1_5984_registry.json"), path)
	st, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o640), st.Mode().Perm())
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.NotContains(t, string(b), "s3cret")
	entries, _ := os.ReadDir(dir)
	assert.Len(t, entries, 1, "no temporary file left")

	// A later run keeps the first sighting; another served copy replaces it.
	got, err = f.Sight(Sighting{Packument: s.Packument, Origin: s.Origin, Served: "1-a", FirstSeen: now.Add(time.Hour)})
	require.NoError(t, err)
	assert.Equal(t, now, got.FirstSeen.UTC())
	got, err = f.Sight(Sighting{Packument: s.Packument, Origin: s.Origin, Served: "2-b", FirstSeen: now.Add(time.Hour)})
	require.NoError(t, err)
	assert.Equal(t, now.Add(time.Hour), got.FirstSeen.UTC())

	// A damaged file starts again rather than failing the check.
	require.NoError(t, os.WriteFile(path, []byte("{not json"), 0o640))
	got, err = f.Sight(Sighting{Packument: s.Packument, Origin: s.Origin, Served: "2-b", FirstSeen: now.Add(2 * time.Hour)})
	require.NoError(t, err)
	assert.Equal(t, now.Add(2*time.Hour), got.FirstSeen.UTC())
	require.NoError(t, f.Forget(s.Packument, s.Origin))
	require.NoError(t, f.Forget(s.Packument, s.Origin), "forgetting twice is fine")
}
