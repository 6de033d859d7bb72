package nagios

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/registry-checks/registry-checks/lib/secret"
)

// benchTree is what check_couch_replication returns for n replications:
// one sub-result per replication with eight perfdata items each (a
// threshold, min, unknowns), 1 in 100 CRITICAL, aggregated.
func benchTree(n int) Result {
	zero := 0.0
	subs := make([]Result, n)
	for i := range subs {
		name := fmt.Sprintf("rep-%05d", i)
		st, sum := OK, "running"
		if i%100 == 7 {
			st, sum = CRITICAL, "crashing: db_not_found: could not open http://db1:5984/src/"
		}
		subs[i] = Result{
			Name: name, Status: st, Summary: sum,
			Measurement: "couch_replication",
			Tags:        map[string]string{"replication": name, "node": "db2"},
			Perf: []Perf{
				{Label: name + " state", Field: "state", Value: 2, Integer: true, Min: &zero},
				{Label: name + " error_count", Field: "error_count", Value: float64(i % 3), Integer: true, Min: &zero},
				{Label: name + " changes_pending", Field: "changes_pending", Value: float64(i), Integer: true, Min: &zero},
				{Label: name + " seq_lag", Field: "seq_lag", Value: float64(i * 3), Integer: true, Warn: "10000", Crit: "100000", Min: &zero},
				{Label: name + " checkpoint_age", Field: "checkpoint_age", Value: 12.5, UOM: "s", Warn: "600", Crit: "1800", Min: &zero},
				{Label: name + " heartbeat_lag", Field: "heartbeat_lag", Unknown: true, UOM: "s"},
				{Label: name + " docs_written", Field: "docs_written", Value: 1500, Integer: true},
				{Label: name + " doc_write_failures", Field: "doc_write_failures", Value: 0, Integer: true},
			},
		}
	}
	return Aggregate("replications", subs)
}

// BenchmarkPerfString formats one perfdata item with thresholds and a
// label that needs quoting, the unit of every line of output.
func BenchmarkPerfString(b *testing.B) {
	zero := 0.0
	p := Perf{Label: "registry-from-primary seq_lag", Value: 12345, Integer: true, Warn: "10000", Crit: "100000", Min: &zero}
	b.ReportAllocs()
	for b.Loop() {
		if s := p.String(); !strings.HasPrefix(s, "'registry") {
			b.Fatal(s)
		}
	}
}

// BenchmarkRender5000 renders 5,000 replications (40,000 perfdata items)
// into the 4 KiB Nagios output: the fitting, not the formatting of what is
// dropped, should dominate.
func BenchmarkRender5000(b *testing.B) {
	r := benchTree(5000)
	b.ReportAllocs()
	for b.Loop() {
		out := Render("COUCH_REPLICATION", r, RenderOptions{})
		if len(out) > DefaultLimit || !strings.Contains(out, "50 of 5000 replications") {
			b.Fatalf("%d bytes: %.200s", len(out), out)
		}
	}
}

// BenchmarkRender5000Redacted is Render5000 as plugin.Run renders: every
// text redacted (three secrets registered, as with a node, a source and an
// InfluxDB) before the cut.
func BenchmarkRender5000Redacted(b *testing.B) {
	r := benchTree(5000)
	red := &secret.Redactor{}
	red.AddCredentials(secret.Credentials{User: "monitor", Password: "node-Passw0rd"})
	red.AddCredentials(secret.Credentials{User: "repl", Password: "source-Passw0rd"})
	red.AddCredentials(secret.Credentials{Token: "influx-T0ken-value"})
	b.ReportAllocs()
	for b.Loop() {
		out := Render("COUCH_REPLICATION", r, RenderOptions{Redact: red.Redact})
		if len(out) > DefaultLimit || !strings.Contains(out, "50 of 5000 replications") {
			b.Fatalf("%d bytes: %.200s", len(out), out)
		}
	}
}

// BenchmarkPoints5000 turns the same tree into line-protocol points.
func BenchmarkPoints5000(b *testing.B) {
	r := benchTree(5000)
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		if pts := Points(r, now); len(pts) < 5000 {
			b.Fatal(len(pts))
		}
	}
}
