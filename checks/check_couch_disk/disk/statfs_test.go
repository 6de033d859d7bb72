package disk

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/registry-checks/registry-checks/lib/couch"
	"github.com/registry-checks/registry-checks/lib/nagios"
)

// smallFS gives a directory on an 8 MiB filesystem of its own: a tmpfs
// mounted for the test when it runs as root on Linux, else a temporary
// directory whose statfs is faked as 8 MiB minus what the test wrote into
// it. It says which in the test log.
func smallFS(t *testing.T) (dir string, statfs func(string) (FS, error)) {
	t.Helper()
	dir = t.TempDir()
	const size = 8 << 20
	if runtime.GOOS == "linux" && os.Geteuid() == 0 {
		out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=8m,nr_inodes=64", "tmpfs", dir).CombinedOutput()
		if err == nil {
			t.Cleanup(func() {
				if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
					t.Errorf("umount %s: %v: %s", dir, err, out)
				}
			})
			t.Logf("real filesystem: tmpfs of 8 MiB mounted on %s", dir)
			return dir, Statfs
		}
		t.Logf("mount -t tmpfs failed (%v: %s)", err, out)
	}
	t.Logf("statfs fake: 8 MiB minus the files written in %s (mounting a tmpfs needs root on Linux)", dir)
	return dir, func(p string) (FS, error) {
		var used uint64
		files := uint64(0)
		err := filepath.Walk(p, func(_ string, fi os.FileInfo, err error) error {
			if err != nil {
				return err
			}
			files++
			if !fi.IsDir() {
				used += uint64(fi.Size())
			}
			return nil
		})
		if err != nil {
			return FS{}, err
		}
		return FS{Size: size, Used: used, Avail: size - min(used, size), Inodes: 64, FreeInodes: 64 - min(files, 64)}, nil
	}
}

func fill(t *testing.T, path string, n int) {
	t.Helper()
	require.NoError(t, os.WriteFile(path, make([]byte, n), 0o600))
}

// The verdict operators care about most, against a filesystem that really
// fills up: a 5 MiB database (3 MiB active) can be compacted on an empty
// 8 MiB filesystem, and can no longer once 6 MiB are taken.
func TestCompactionHeadroomFlipsAsTheFilesystemFills(t *testing.T) {
	dir, statfs := smallFS(t)
	f := (&fakeCouch{}).add("registry", &couch.DBInfo{Sizes: &couch.Sizes{File: 5 << 20, Active: 3 << 20, External: 4 << 20}})
	cfg := Config{URL: "http://db1:5984", DataDir: dir, Fragmentation: th(t, "70", ""), Free: th(t, "1:", ""), FreeInodes: th(t, "10:", "")}
	check := func() nagios.Result { return Check(context.Background(), cfg, deps(f, statfs)) }

	res := check()
	assert.Equal(t, nagios.OK, res.Status, res.Summary)
	assert.Contains(t, res.Long, "compaction headroom: compacting the largest database registry needs up to 3.0 MiB, 8.0 MiB free")
	before, _ := perf(res, "headroom")
	assert.InDelta(t, 5<<20, before.Value, 64<<10, "8 MiB free minus 3 MiB")

	fill(t, filepath.Join(dir, "a.couch"), 4<<20)
	res = check()
	assert.Equal(t, nagios.OK, res.Status, "4 MiB left, 3 MiB needed: %s", res.Summary)

	fill(t, filepath.Join(dir, "b.couch"), 2<<20)
	res = check()
	assert.Equal(t, nagios.CRITICAL, res.Status)
	assert.Equal(t, "largest database registry could not be compacted (needs up to 3.0 MiB, 2.0 MiB free)", res.Summary)
	after, _ := perf(res, "headroom")
	assert.InDelta(t, -1<<20, after.Value, 64<<10)

	require.NoError(t, os.Remove(filepath.Join(dir, "b.couch")))
	res = check()
	assert.Equal(t, nagios.OK, res.Status, "compacting (or deleting) gave the space back: %s", res.Summary)
}

// nr_inodes=64 (or the fake's 64) runs out long before the bytes do.
func TestInodesRunOut(t *testing.T) {
	dir, statfs := smallFS(t)
	f := (&fakeCouch{}).add("registry", &couch.DBInfo{Sizes: &couch.Sizes{File: 1 << 10, Active: 1 << 10}})
	cfg := Config{URL: "http://db1:5984", DataDir: dir, FreeInodes: th(t, "50:", "20:")}
	res := Check(context.Background(), cfg, deps(f, statfs))
	require.Equal(t, nagios.OK, res.Status, res.Summary)
	for i := range 55 {
		fill(t, filepath.Join(dir, "shard-"+string(rune('a'+i%26))+string(rune('a'+i/26))), 1)
	}
	res = Check(context.Background(), cfg, deps(f, statfs))
	assert.Equal(t, nagios.CRITICAL, res.Status, res.Summary)
	assert.Contains(t, res.Summary, "inodes")
}

func TestStatfsOfAMissingDirectory(t *testing.T) {
	_, err := Statfs(filepath.Join(t.TempDir(), "no", "such"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "no such file or directory")
}
