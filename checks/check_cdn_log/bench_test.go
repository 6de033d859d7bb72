package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/registry-checks/registry-checks/lib/cdnlog/cdnlogtest"
)

// BenchmarkCheckCDNLog1MLines runs the built check_cdn_log, as a process,
// on a generated log of 1,000,000 lines (about 250 MB: the three formats
// mixed) from its start, with the points written to a file: the goal is
// under 5 s and 64 MiB peak RSS. The peak RSS is the child's wait4
// ru_maxrss through bench/compare's spawn helper (a real fork; see
// spawn.c for why os/exec cannot give it).
func BenchmarkCheckCDNLog1MLines(b *testing.B) {
	dir := b.TempDir()
	bin := filepath.Join(dir, "check_cdn_log")
	build := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	spawn := filepath.Join(dir, "spawn")
	if out, err := exec.Command("cc", "-O2", "-o", spawn, "../../bench/compare/spawn/spawn.c").CombinedOutput(); err != nil {
		b.Skipf("no C compiler for the spawn helper: %v\n%s", err, out)
	}

	logPath := filepath.Join(dir, "access.log")
	f, err := os.Create(logPath)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	// 1,000,000 lines over about 10 minutes (1,700 requests a second) of
	// 3,000 package versions: a busy registry's catch-up after a 10-minute
	// pause, or its every-minute run at ten times that rate.
	gen := cdnlogtest.New(1, time.Date(2026, 11, 29, 0, 0, 0, 0, time.UTC), 3000)
	gen.MaxStep = 1200 * time.Microsecond
	const lines = 1_000_000
	for i := 0; i < lines; i++ {
		w.WriteString(gen.Line())
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	f.Close()
	fi, _ := os.Stat(logPath)

	b.ResetTimer()
	var wall time.Duration
	var rss int64
	var first string
	for i := 0; i < b.N; i++ {
		state := filepath.Join(dir, fmt.Sprintf("state-%d.json", i))
		lp := filepath.Join(dir, "points.lp")
		os.Remove(lp)
		r, pw, _ := os.Pipe()
		cmd := exec.Command(spawn, bin, "--log", logPath, "--from-start", "--state-file", state, "--influx-file", lp, "-t", "60")
		var out strings.Builder
		cmd.Stdout = &out
		cmd.ExtraFiles = []*os.File{pw}
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		pw.Close()
		report, _ := bufio.NewReader(r).ReadString('\n')
		cmd.Wait()
		r.Close()
		var ns, kib int64
		var code int
		if _, err := fmt.Sscan(report, &ns, &kib, &code); err != nil {
			b.Fatalf("spawn report %q: %v (output %s)", report, err, out.String())
		}
		if !strings.Contains(out.String(), "1,000,000 lines") && !strings.Contains(out.String(), fmt.Sprintf("%d requests", gen.Requests)) {
			b.Fatalf("the check did not read the whole log: %s", out.String())
		}
		wall += time.Duration(ns)
		rss = max(rss, kib)
		first, _, _ = strings.Cut(out.String(), "|")
	}
	b.ReportMetric(float64(wall.Milliseconds())/float64(b.N), "ms/run")
	b.ReportMetric(float64(rss)/1024, "peak-RSS-MiB")
	b.ReportMetric(float64(fi.Size())/(1<<20), "log-MiB")
	b.ReportMetric(float64(lines)/(wall.Seconds()/float64(b.N)), "lines/s")
	b.Logf("%s", first)
}
