/* SPDX-License-Identifier: MIT */
/* Tracking another process (opts->pid) with soft-dirty: a child maps
 * memory, writes the pages the parent names over a pipe, and the parent
 * sees exactly those; a range not mapped in the child gives -ENOMEM; a
 * process we may not inspect gives a clear refusal. Runs only where
 * soft-dirty works. */
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define PAGES 16

static int cmd[2], ack[2];

static void child(char *m)
{
	int p;

	/* each command: a page index to write, -1 to quit */
	while (read(cmd[0], &p, sizeof(p)) == sizeof(p) && p >= 0) {
		m[(size_t)p * PS + 5] = (char)p;
		if (write(ack[1], &p, sizeof(p)) != sizeof(p))
			_exit(1);
	}
	_exit(0);
}

static void child_write(int p)
{
	int a;

	CHECK_EQ(write(cmd[1], &p, sizeof(p)), sizeof(p));
	CHECK_EQ(read(ack[0], &a, sizeof(a)), sizeof(a));
	CHECK_EQ(a, p);
}

int main(int argc, char **argv)
{
	struct ww_opts o = { .sz = sizeof(o), .backend = WW_BACKEND_SOFT_DIRTY };
	char why[256], *m, *hole;
	struct ww_tracker *t;
	struct iovec out[PAGES];
	int status, q = -1;
	void *next;
	pid_t pid;

	(void)argc;
	(void)argv;
	PS = (size_t)sysconf(_SC_PAGESIZE);
	if (ww_backend_probe(WW_BACKEND_SOFT_DIRTY, 0, why, sizeof(why))) {
		printf("SKIP: soft-dirty does not work here: %s\n", why);
		return SKIP;
	}
	/* harness_map() lays memory out for the backend under test */
	harness_backend = WW_BACKEND_SOFT_DIRTY;
	m = harness_map(PAGES);
	hole = harness_map(2);
	CHECK_EQ(munmap(hole, 2 * PS), 0);
	CHECK_EQ(pipe(cmd), 0);
	CHECK_EQ(pipe(ack), 0);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0)
		child(m);

	o.pid = pid;
	CHECK_EQ(ww_backend_probe(WW_BACKEND_SOFT_DIRTY, pid, why, sizeof(why)), 0);
	CHECK_EQ(ww_open(&o, &t), 0);
	CHECK_EQ(ww_tracker_backend(t), WW_BACKEND_SOFT_DIRTY);
	CHECK_EQ(ww_track(t, hole, 2 * PS), -ENOMEM); /* unmapped in the child */
	CHECK_EQ(ww_track(t, m, PAGES * PS), 0);
	CHECK_EQ(ww_collect(t, m, PAGES * PS, 0, out, PAGES, &next), 0);

	/* our own writes are not the child's */
	m[2 * PS] = 1;
	child_write(3);
	child_write(4);
	child_write(11);
	CHECK_EQ(ww_collect(t, m, PAGES * PS, WW_RESET, out, PAGES, &next), 2);
	CHECK(out[0].iov_base == m + 3 * PS && out[0].iov_len == 2 * PS);
	CHECK(out[1].iov_base == m + 11 * PS && out[1].iov_len == PS);
	CHECK_EQ(ww_collect(t, m, PAGES * PS, 0, out, PAGES, &next), 0);
	child_write(0);
	CHECK_EQ(ww_collect(t, m, PAGES * PS, WW_RESET, out, PAGES, &next), 1);
	CHECK(out[0].iov_base == m);

	/* AUTO for another process: pagemap-scan if it works remotely, else
	 * soft-dirty (DESIGN.md) */
	{
		int a = ww_backend_auto(pid);

		CHECK(a == WW_BACKEND_SOFT_DIRTY || a == WW_BACKEND_PAGEMAP_SCAN);
		if (ww_backend_probe(WW_BACKEND_PAGEMAP_SCAN, pid, NULL, 0))
			CHECK_EQ(a, WW_BACKEND_SOFT_DIRTY);
	}

	CHECK_EQ(write(cmd[1], &q, sizeof(q)), sizeof(q));
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	/* the process is gone: a clear error, not a crash or a hang */
	CHECK(ww_collect(t, m, PAGES * PS, 0, out, PAGES, &next) < 0);
	ww_close(t);

	/* a process we may not inspect: refused with a reason */
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		if (setgid(65534) || setuid(65534))
			_exit(77);
		/* pid 1 belongs to root */
		_exit(ww_backend_probe(WW_BACKEND_SOFT_DIRTY, 1, why, sizeof(why)) < 0 ? 0 : 1);
	}
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	CHECK(WIFEXITED(status));
	if (WEXITSTATUS(status) == 77)
		printf("  (not root: permission refusal not tested)\n");
	else
		CHECK_EQ(WEXITSTATUS(status), 0);
	printf("ok: soft-dirty: another process's writes, exactly\n");
	return 0;
}
