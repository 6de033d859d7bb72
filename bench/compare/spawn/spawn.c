/* spawn: runs one command and reports its wall time and peak RSS on fd 3
 * as "wall_ns maxrss_kib exit_code".
 *
 * Why not Go's os/exec: Go starts children with clone(CLONE_VM|CLONE_VFORK),
 * so at exec the child's mm is the parent's, and Linux records that mm's
 * high-water RSS into the child's maxrss. wait4 would then report at least
 * the harness's own RSS (10+ MiB), hiding a 3 MiB C plugin. A real fork
 * from this tiny process copies a few hundred KiB at most.
 */
#include <fcntl.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct timespec a, b;
	struct rusage ru;
	pid_t pid;
	int st, code;

	if (argc < 2 || fcntl(3, F_SETFD, FD_CLOEXEC) < 0) {
		fprintf(stderr, "usage: spawn PROGRAM [ARG...] (with fd 3 open for the report)\n");
		return 125;
	}
	clock_gettime(CLOCK_MONOTONIC, &a);
	pid = fork();
	if (pid < 0) {
		perror("spawn: fork");
		return 126;
	}
	if (pid == 0) {
		execv(argv[1], argv + 1);
		perror(argv[1]);
		_exit(127);
	}
	if (wait4(pid, &st, 0, &ru) < 0) {
		perror("spawn: wait4");
		return 126;
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	dprintf(3, "%lld %ld %d\n",
		(long long)(b.tv_sec - a.tv_sec) * 1000000000LL + (b.tv_nsec - a.tv_nsec),
		ru.ru_maxrss, code);
	return 0;
}
