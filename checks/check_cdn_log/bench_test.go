package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/registry-checks/registry-checks/lib/cdnlog/cdnlogtest"
)

// maxRSSMiB is issue 24's bound on a run's peak RSS, whatever the backlog.
const maxRSSMiB = 64

// The built check_cdn_log, run as a process, reads a generated log of
// 1, 5 and 20 million lines (about 245 bytes each: the three formats
// mixed, 3,000 package versions) spanning hours, from its start, in one
// run, writing its per-minute points to a file. A run holds one batch of
// --max-points points at a time, so the peak RSS must stay under 64 MiB
// at every size (the benchmark fails above it) and the time must grow
// linearly with the lines. The peak RSS is the child's wait4 ru_maxrss
// through bench/compare's spawn helper (a real fork; see spawn.c for why
// os/exec cannot give it).

// BenchmarkCheckCDNLog1MLines: 1,000,000 lines over 2 hours.
func BenchmarkCheckCDNLog1MLines(b *testing.B) { benchCDNLog(b, 1_000_000, 2*time.Hour) }

// BenchmarkCheckCDNLog5MLines: 5,000,000 lines over 6 hours.
func BenchmarkCheckCDNLog5MLines(b *testing.B) { benchCDNLog(b, 5_000_000, 6*time.Hour) }

// BenchmarkCheckCDNLog20MLines: 20,000,000 lines (about 4.9 GB) over 24
// hours: a first run over a day's log, or a checker back after a day away.
func BenchmarkCheckCDNLog20MLines(b *testing.B) { benchCDNLog(b, 20_000_000, 24*time.Hour) }

func benchCDNLog(b *testing.B, lines int, span time.Duration) {
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
	gen := cdnlogtest.New(1, time.Date(2026, 11, 29, 0, 0, 0, 0, time.UTC), 3000)
	gen.MaxStep = 2 * span / time.Duration(lines) // the mean step is half of it
	for i := 0; i < lines; i++ {
		w.WriteString(gen.Line())
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	f.Close()
	fi, _ := os.Stat(logPath)
	var downloads int64
	for _, n := range gen.Downloads {
		downloads += n
	}

	b.ResetTimer()
	var wall time.Duration
	var rss int64
	var first string
	var batches int
	for i := 0; i < b.N; i++ {
		state := filepath.Join(dir, fmt.Sprintf("state-%d.json", i))
		lp := filepath.Join(dir, "points.lp")
		os.Remove(lp)
		r, pw, _ := os.Pipe()
		cmd := exec.Command(spawn, bin, "--log", logPath, "--from-start", "--state-file", state, "--influx-file", lp,
			"--max-lines", strconv.Itoa(lines), "-t", "1h")
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
		os.Remove(lp)
		var ns, kib int64
		var code int
		if _, err := fmt.Sscan(report, &ns, &kib, &code); err != nil {
			b.Fatalf("spawn report %q: %v (output %s)", report, err, out.String())
		}
		// The whole log, every download, nothing left behind.
		if want := fmt.Sprintf("%s requests in", thousands(gen.Requests)); !strings.Contains(out.String(), want) {
			b.Fatalf("the check did not read the whole log (want %q): %s", want, out.String())
		}
		if want := fmt.Sprintf(" %s tarball downloads", thousands(downloads)); !strings.Contains(out.String(), want) {
			b.Fatalf("the check did not count every download (want %q): %s", want, out.String())
		}
		if !strings.Contains(out.String(), " lag_bytes=0B;") {
			b.Fatalf("the run finished behind the log's end: %s", out.String())
		}
		if m := regexp.MustCompile(`delivered in (\d+) batches`).FindStringSubmatch(out.String()); m != nil {
			batches, _ = strconv.Atoi(m[1])
		}
		wall += time.Duration(ns)
		rss = max(rss, kib)
		first, _, _ = strings.Cut(out.String(), "|")
	}
	b.ReportMetric(float64(wall.Milliseconds())/float64(b.N), "ms/run")
	b.ReportMetric(float64(rss)/1024, "peak-RSS-MiB")
	b.ReportMetric(float64(fi.Size())/(1<<20), "log-MiB")
	b.ReportMetric(float64(lines)/(wall.Seconds()/float64(b.N)), "lines/s")
	b.ReportMetric(float64(batches), "batches")
	b.Logf("%s", first)
	if mib := float64(rss) / 1024; mib > maxRSSMiB {
		b.Errorf("peak RSS %.1f MiB, over the %d MiB bound", mib, maxRSSMiB)
	}
}

// thousands prints 12408 as 12,408, as the check does.
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	var out []byte
	for i := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	return string(out)
}
