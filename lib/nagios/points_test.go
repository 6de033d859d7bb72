package nagios

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func ExamplePoints() {
	db2 := Result{
		Name: "registry->db2", Status: CRITICAL, Summary: "crashing",
		Measurement: "couchdb_replication",
		Tags:        map[string]string{"source": "registry", "target": "db2"},
		Perf: []Perf{
			{Label: "db2_lag", Field: "lag", Value: 900, UOM: "s"},
			{Label: "db2_errors", Field: "errors", Value: 5, Integer: true, UOM: "c"},
			{Label: "db2_pending", Field: "pending", Unknown: true},
		},
	}
	db3 := Result{
		Name: "registry->db3", Status: OK, Summary: "running",
		Measurement: "couchdb_replication",
		Tags:        map[string]string{"source": "registry", "target": "db3"},
		Perf:        []Perf{{Label: "db3_lag", Field: "lag", Value: 0.5, UOM: "s"}},
	}
	r := Aggregate("replications", []Result{db2, db3})
	r.Measurement = "couchdb_replications"
	r.Tags = map[string]string{"host": "db1"}
	r.Perf = []Perf{{Label: "failing", Value: 1, Integer: true}}

	for _, p := range Points(r, time.Unix(1714533164, 0).UTC()) {
		fmt.Println(p.Measurement, p.Time.Format(time.RFC3339))
		for _, k := range slices.Sorted(maps.Keys(p.Tags)) {
			fmt.Printf("  tag %s=%s\n", k, p.Tags[k])
		}
		for _, k := range slices.Sorted(maps.Keys(p.Fields)) {
			fmt.Printf("  field %s=%v (%T)\n", k, p.Fields[k], p.Fields[k])
		}
	}
	// Output:
	// couchdb_replications 2024-05-01T03:12:44Z
	//   tag host=db1
	//   field failing=1 (int64)
	//   field state=2 (int64)
	// couchdb_replication 2024-05-01T03:12:44Z
	//   tag source=registry
	//   tag target=db2
	//   field errors=5 (int64)
	//   field lag=900 (float64)
	//   field state=2 (int64)
	// couchdb_replication 2024-05-01T03:12:44Z
	//   tag source=registry
	//   tag target=db3
	//   field lag=0.5 (float64)
	//   field state=0 (int64)
}

// sampleTree is a check result as deep and as varied as the checks make
// them: nested aggregates, integers, floats, fields named by Label.
func sampleTree() Result {
	db := func(node, name string, st Status, docs, frag float64) Result {
		return Result{
			Name: name, Status: st, Summary: "ok",
			Measurement: "couchdb_database",
			Tags:        map[string]string{"node": node, "db": name},
			Perf: []Perf{
				{Label: node + "_" + name + "_docs", Field: "docs", Value: docs, Integer: true},
				{Label: node + "_" + name + "_fragmentation", Field: "fragmentation", Value: frag, UOM: "%", Warn: "30", Crit: "60"},
				{Label: node + "_" + name + "_size", Value: docs * 1024, UOM: "B", Integer: true}, // field named by label
			},
		}
	}
	node := func(name string, subs ...Result) Result {
		r := Aggregate("databases", subs)
		r.Name = name
		r.Measurement = "couchdb_node"
		r.Tags = map[string]string{"node": name}
		r.Perf = []Perf{{Label: name + "_databases", Field: "databases", Value: float64(len(subs)), Integer: true}}
		return r
	}
	top := Aggregate("nodes", []Result{
		node("db1", db("db1", "registry", OK, 1200, 3.5), db("db1", "_users", WARNING, 3, 41)),
		node("db2", db("db2", "registry", OK, 1199, 2.25)),
	})
	top.Measurement = "couchdb_cluster"
	top.Perf = []Perf{{Label: "time", Value: 0.125, UOM: "s"}, {Label: "nodes", Value: 2, Integer: true}}
	return top
}

// TestEveryPerfValueIsAField is the contract: every number a check
// reports is perfdata and a line-protocol field with the same value.
func TestEveryPerfValueIsAField(t *testing.T) {
	tree := sampleTree()
	points := Points(tree, time.Unix(0, 0))

	var walk func(r Result)
	seen := 0
	walk = func(r Result) {
		for _, p := range r.Perf {
			require.NotEmpty(t, r.Measurement, "%s carries perf %s but has no measurement", r.Name, p.Label)
			key := p.Field
			if key == "" {
				key = p.Label
			}
			found := false
			for _, pt := range points {
				if pt.Measurement != r.Measurement || fmt.Sprint(pt.Tags) != fmt.Sprint(r.Tags) {
					continue
				}
				v, ok := pt.Fields[key]
				require.True(t, ok, "%s: field %q missing from %v", r.Name, key, pt.Fields)
				if p.Integer {
					assert.Equal(t, int64(p.Value), v, "%s.%s", r.Name, key)
				} else {
					assert.Equal(t, p.Value, v, "%s.%s", r.Name, key)
				}
				assert.Equal(t, int64(r.Status), pt.Fields["state"], "%s state", r.Name)
				found = true
			}
			assert.True(t, found, "no point for %s (%s %v)", r.Name, r.Measurement, r.Tags)
			seen++
		}
		for _, s := range r.Subs {
			walk(s)
		}
	}
	walk(tree)
	assert.Equal(t, 2+2*1+3*3, seen, "the walk covered the whole tree")
	assert.Len(t, points, 1+2+3)

	// And the same numbers are in the Nagios output.
	out := Render("COUCHDB_DATABASES", tree, RenderOptions{})
	for _, p := range flattenPerf(tree, nil) {
		assert.Contains(t, out, p.String())
	}
}

func TestPointsFields(t *testing.T) {
	r := Result{
		Status: Status(12), Measurement: "m",
		Perf: []Perf{
			{Label: "a", Value: 1},
			{Label: "b", Field: "a", Value: 2}, // duplicate key
			{Label: "state", Value: 3},         // would overwrite the state
			{Label: "c", Value: math.NaN()},    // no value
			{Label: "d", Value: math.Inf(1)},   // no value
			{Label: "e", Value: 2.5, Integer: true},
			{Label: "f", Value: 1e30, Integer: true}, // too large for int64
			{Label: "", Value: 7},
			{Label: "g", Value: 8, Unknown: true},
		},
	}
	pts := Points(r, time.Unix(0, 0))
	require.Len(t, pts, 1)
	assert.Equal(t, map[string]any{
		"state":   int64(UNKNOWN), // a value that is no state is UNKNOWN, as Render prints it
		"a":       1.0,
		"a_2":     2.0,
		"state_2": 3.0,
		"e":       int64(3),
		"f":       1e30,
		"value":   7.0,
	}, pts[0].Fields)
	assert.Nil(t, pts[0].Tags)
}

func TestPointsTagsCopied(t *testing.T) {
	tags := map[string]string{"host": "db1"}
	pts := Points(Result{Measurement: "m", Tags: tags}, time.Unix(0, 0))
	pts[0].Tags["host"] = "changed"
	assert.Equal(t, "db1", tags["host"], "a sink must not be able to change the Result")
}

func TestPointsNoMeasurement(t *testing.T) {
	r := Result{Perf: []Perf{{Label: "a", Value: 1}}, Subs: []Result{{Measurement: "m"}}}
	pts := Points(r, time.Unix(0, 0))
	require.Len(t, pts, 1)
	assert.Equal(t, "m", pts[0].Measurement)
	assert.Equal(t, map[string]any{"state": int64(0)}, pts[0].Fields)
	assert.Empty(t, Points(Result{}, time.Now()))
}
