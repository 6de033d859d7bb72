package stack

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// holderEnv makes the test binary a lock holder (see TestMain): it takes
// fcntl write locks on the files the variable lists (colon-separated), in
// that order, as apt does, says "locked" and holds them until its stdin
// closes.
const holderEnv = "REGISTRY_CHECKS_TEST_HOLD_LOCKS"

func TestMain(m *testing.M) {
	if files := os.Getenv(holderEnv); files != "" {
		os.Exit(holdLocksMain(strings.Split(files, ":")))
	}
	os.Exit(m.Run())
}

func holdLocksMain(files []string) int {
	deadline := time.Now().Add(2 * time.Minute)
	for _, f := range files {
		fd, err := syscall.Open(f, syscall.O_RDWR|syscall.O_CREAT|syscall.O_CLOEXEC, 0o640)
		if err != nil {
			fmt.Fprintf(os.Stderr, "open %s: %v\n", f, err)
			return 2
		}
		lk := syscall.Flock_t{Type: syscall.F_WRLCK, Whence: 0, Start: 0, Len: 0}
		// Another package manager may hold it for a while: F_SETLK, as
		// apt, retried.
		for {
			err = syscall.FcntlFlock(uintptr(fd), syscall.F_SETLK, &lk)
			if err == nil {
				break
			}
			if (!errors.Is(err, syscall.EAGAIN) && !errors.Is(err, syscall.EACCES)) || time.Now().After(deadline) {
				fmt.Fprintf(os.Stderr, "lock %s: %v\n", f, err)
				return 3
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	fmt.Println("locked")
	// Until the test closes stdin (or dies): the locks go with the process.
	_, _ = bufio.NewReader(os.Stdin).ReadString(0)
	return 0
}

type lockHolder struct {
	pid     int
	release func()
}

// holdLocks starts a process of its own holding fcntl write locks on files
// (as apt: /var/lib/dpkg/lock-frontend, then /var/lib/dpkg/lock) and
// returns once it holds them. release (also run at cleanup) ends it.
func holdLocks(t *testing.T, files ...string) *lockHolder {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), holderEnv+"="+strings.Join(files, ":"))
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())
	var once sync.Once
	release := func() {
		once.Do(func() {
			stdin.Close()
			_ = cmd.Wait()
		})
	}
	t.Cleanup(release)
	got := make(chan string, 1)
	go func() {
		l, _ := bufio.NewReader(stdout).ReadString('\n')
		got <- l
	}()
	select {
	case l := <-got:
		require.Equal(t, "locked\n", l, "the lock holder did not take %v", files)
	case <-time.After(3 * time.Minute):
		t.Fatalf("the lock holder did not take %v in 3 minutes", files)
	}
	return &lockHolder{pid: cmd.Process.Pid, release: release}
}

// script is a bash run whose output (stdout and stderr) is read line by line.
type script struct {
	lines chan string   // closed at the end of the output
	done  chan struct{} // closed at the exit, err set then
	err   error
	mu    sync.Mutex
	all   []string
}

func startScript(t *testing.T, env []string, args ...string) *script {
	t.Helper()
	r, w, err := os.Pipe()
	require.NoError(t, err)
	cmd := exec.Command("bash", args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = w, w
	require.NoError(t, cmd.Start())
	w.Close()
	s := &script{lines: make(chan string, 1000), done: make(chan struct{})}
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			s.mu.Lock()
			s.all = append(s.all, sc.Text())
			s.mu.Unlock()
			s.lines <- sc.Text()
		}
		close(s.lines)
		r.Close()
	}()
	go func() {
		s.err = cmd.Wait()
		close(s.done)
	}()
	return s
}

func (s *script) output() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.all, "\n")
}

// waitLine waits for a line matching re and returns it.
func (s *script) waitLine(t *testing.T, re *regexp.Regexp, bound time.Duration) string {
	t.Helper()
	timer := time.NewTimer(bound)
	defer timer.Stop()
	for {
		select {
		case l, ok := <-s.lines:
			if !ok {
				t.Fatalf("the output ended without a line matching %s:\n%s", re, s.output())
			}
			if re.MatchString(l) {
				return l
			}
		case <-timer.C:
			t.Fatalf("no line matching %s after %s:\n%s", re, bound, s.output())
		}
	}
}

func (s *script) wait(t *testing.T, bound time.Duration) error {
	t.Helper()
	select {
	case <-s.done:
		for range s.lines { // the rest of the output
		}
		return s.err
	case <-time.After(bound):
		t.Fatalf("still running after %s:\n%s", bound, s.output())
		return nil
	}
}

func debInstalled(pkg string) bool {
	out, _ := exec.Command("dpkg-query", "-W", "-f=${Status}", pkg).Output()
	return string(out) == "install ok installed"
}

// TestAptEnsureWaitsForDpkgLockIntegration is issue 26: another apt run
// (unattended-upgrades) holding the dpkg lock must make the stack's
// installer wait, say so once, and install after the lock is released,
// not fail at once. A process of its own holds the dpkg locks as apt does
// for 20 s while lib.sh's apt_ensure (what every "stack up SERVICE" calls
// for its packages) installs the missing package hello. Not through
// "stack up" itself: the stack's services are installed on this machine
// (and run on fixed ports by the shared stack), so none of them would
// install anything. It removes hello first and leaves it as it found it,
// so only under REGISTRY_CHECKS_REQUIRE_STACK=1 (make test), as root.
func TestAptEnsureWaitsForDpkgLockIntegration(t *testing.T) {
	if testing.Short() || os.Getenv("REGISTRY_CHECKS_REQUIRE_STACK") != "1" {
		t.Skip("removes and installs a Debian package: only under REGISTRY_CHECKS_REQUIRE_STACK=1 (make test)")
	}
	if os.Geteuid() != 0 {
		t.Skip("apt-get install needs root")
	}
	const pkg = "hello"
	lib, err := filepath.Abs("lib.sh")
	require.NoError(t, err)
	pkgSh, err := filepath.Abs("tools/pkg.sh")
	require.NoError(t, err)
	pkgRun := func(args ...string) {
		t.Helper()
		out, err := exec.Command(pkgSh, args...).CombinedOutput()
		require.NoError(t, err, "pkg.sh %v: %s", args, out)
	}
	had := debInstalled(pkg)
	if had {
		pkgRun("apt-get", "remove", "-y", pkg)
	}
	t.Cleanup(func() {
		// Leave hello as it was: installed only if it was.
		if had && !debInstalled(pkg) {
			pkgRun("apt-get", "install", "-y", "--no-install-recommends", pkg)
		}
		if !had && debInstalled(pkg) {
			pkgRun("apt-get", "remove", "-y", pkg)
		}
	})
	require.False(t, debInstalled(pkg))
	stackDir := t.TempDir() // never the shared stack's folder
	ensure := []string{"-c", `set -euo pipefail; . "$1"; apt_ensure "$2" "$2"`, "bash", lib, pkg}

	holder := holdLocks(t, "/var/lib/dpkg/lock-frontend", "/var/lib/dpkg/lock")
	t.Logf("process %d holds the dpkg locks", holder.pid)

	// The holder locks as apt does: apt itself refuses to go on.
	out, err := exec.Command("apt-get", "install", "-y", "-o", "DPkg::Lock::Timeout=0", pkg).CombinedOutput()
	require.Error(t, err, "apt-get install went on while the dpkg lock was held: %s", out)
	require.Contains(t, string(out), fmt.Sprintf("Could not get lock /var/lib/dpkg/lock-frontend. It is held by process %d", holder.pid))

	waiting := regexp.MustCompile(fmt.Sprintf(`\[stack\] waiting for /var/lib/dpkg/lock-frontend, held by process %d \(`, holder.pid))

	t.Run("gives up after the bound, with the holder", func(t *testing.T) {
		// The bound counts from pkg_run's start: 2 s after this at least.
		start := time.Now()
		s := startScript(t, []string{"REGISTRY_CHECKS_STACK_DIR=" + stackDir, "REGISTRY_CHECKS_PKG_LOCK_TIMEOUT=2"}, ensure...)
		t.Cleanup(func() { s.wait(t, 5*time.Minute) })
		s.waitLine(t, waiting, time.Minute)
		s.waitLine(t, regexp.MustCompile(fmt.Sprintf(`ERROR: gave up on apt-get install .*hello after waiting 2s for /var/lib/dpkg/lock-frontend, still held by process %d \(.*REGISTRY_CHECKS_PKG_LOCK_TIMEOUT=2`, holder.pid)), time.Minute)
		assert.GreaterOrEqual(t, time.Since(start), 2*time.Second)
		assert.Error(t, s.wait(t, time.Minute))
		assert.Len(t, waiting.FindAllString(s.output(), -1), 1, "said more than once:\n%s", s.output())
		assert.False(t, debInstalled(pkg))
	})

	t.Run("apt-get update waits for the lists lock, bounded", func(t *testing.T) {
		lists := holdLocks(t, "/var/lib/apt/lists/lock")
		s := startScript(t, []string{"REGISTRY_CHECKS_PKG_LOCK_TIMEOUT=2"}, pkgSh, "apt-get", "update", "-qq")
		err := s.wait(t, 2*time.Minute)
		var ee *exec.ExitError
		require.ErrorAs(t, err, &ee, s.output())
		assert.Equal(t, 75, ee.ExitCode(), s.output())
		assert.Regexp(t, fmt.Sprintf(`waiting for /var/lib/apt/lists/lock, held by process %d \(`, lists.pid), s.output())
		assert.Regexp(t, fmt.Sprintf(`ERROR: gave up on apt-get update -qq after waiting 2s for /var/lib/apt/lists/lock, still held by process %d`, lists.pid), s.output())
		lists.release()
	})

	t.Run("waits 20s, says so once, installs", func(t *testing.T) {
		s := startScript(t, []string{"REGISTRY_CHECKS_STACK_DIR=" + stackDir}, ensure...)
		started := time.Now()
		t.Cleanup(func() {
			holder.release()
			s.wait(t, 5*time.Minute)
			if t.Failed() {
				b, _ := os.ReadFile(filepath.Join(stackDir, "apt.log"))
				t.Logf("apt.log:\n%s", b)
			}
		})
		l := s.waitLine(t, waiting, time.Minute)
		t.Logf("%s", l)
		// The lock stays taken 20 s: apt_ensure must still be waiting then.
		select {
		case <-s.done:
			t.Fatalf("apt_ensure ended (%v) while the dpkg lock was held:\n%s", s.err, s.output())
		case <-time.After(time.Until(started.Add(20 * time.Second))):
		}
		require.False(t, debInstalled(pkg), "installed while the dpkg lock was held")
		holder.release()
		t.Logf("released the dpkg locks after %s", time.Since(started).Round(time.Millisecond))
		s.waitLine(t, regexp.MustCompile(`\[stack\] the package locks are free after \d+s: running apt-get`), time.Minute)
		require.NoError(t, s.wait(t, 5*time.Minute), "apt_ensure failed:\n%s", s.output())
		t.Logf("apt_ensure:\n%s", s.output())
		// Once for this holder (another apt run taking the lock after it
		// would be told of too).
		assert.Len(t, waiting.FindAllString(s.output(), -1), 1, "said more than once:\n%s", s.output())
		assert.True(t, debInstalled(pkg), "%s is not installed after apt_ensure", pkg)
		hello, err := exec.Command("hello").CombinedOutput()
		require.NoError(t, err, "%s", hello)
		assert.Equal(t, "Hello, world!\n", string(hello))
	})
}
