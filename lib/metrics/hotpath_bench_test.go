package metrics

import (
	"bytes"
	"fmt"
	"testing"
	"time"
)

// BenchmarkEncode5000 writes 5,000 points shaped like couch_replication's
// (two tags, seven fields of mixed types) as line protocol: what a
// 5,000-replication run sends to InfluxDB.
func BenchmarkEncode5000(b *testing.B) {
	now := time.Unix(1795660941, 0)
	points := make([]Point, 5000)
	for i := range points {
		points[i] = Point{
			Measurement: "couch_replication",
			Tags:        map[string]string{"replication": fmt.Sprintf("rep-%05d", i), "node": "db2"},
			Fields: map[string]any{
				"state": int64(2), "error_count": int64(i % 3), "changes_pending": int64(i),
				"seq_lag": int64(i * 3), "checkpoint_age": 12.5, "docs_written": int64(1500), "status": "OK",
			},
			Time: now,
		}
	}
	var dst []byte
	b.ReportAllocs()
	for b.Loop() {
		var err error
		dst, err = Encode(dst[:0], points)
		if err != nil || bytes.Count(dst, []byte{'\n'}) != len(points) {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(len(dst)))
}
