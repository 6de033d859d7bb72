package secret

import (
	"fmt"
	"strings"
	"testing"
)

// BenchmarkRedactorAdd1000 is what a handler run does on a node of 1,000
// replications: register each _replicator document's password, then
// redact the run's output. The replacer is built once, at the first
// Redact after the adds (it was built on every Add: 1.3 GB allocated for
// 1,000).
func BenchmarkRedactorAdd1000(b *testing.B) {
	pw := make([]string, 1000)
	for i := range pw {
		pw[i] = fmt.Sprintf("s3cret-%04d-pw", i)
	}
	text := "GET http://mirror:" + pw[999] + "@db1:5984/registry: " + strings.Repeat("x", 200)
	b.ReportAllocs()
	for b.Loop() {
		var r Redactor
		for _, p := range pw {
			r.Add(p)
		}
		if out := r.Redact(text); strings.Contains(out, pw[999]) {
			b.Fatal("not redacted")
		}
	}
}
