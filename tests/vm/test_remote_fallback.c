/* SPDX-License-Identifier: MIT */
/*
 * AUTO for another process falls back to soft-dirty when pagemap-scan
 * cannot be had for that process: a child under seccomp (where writewatch
 * refuses to inject a userfaultfd call) is tracked with soft-dirty, exactly,
 * while a child without seccomp gets pagemap-scan wherever pagemap-scan
 * works. Meant for kernels that have both (x86-64 6.12 and later, in
 * `make test-kernels`); argv[1] is "soft-dirty", and the test skips where
 * soft-dirty does not work.
 */
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define PAGES 16

struct child {
	pid_t pid;
	int cmd, ack;
};

/* A child that writes the page each command names (-1: quit); under an
 * allow-everything seccomp filter if sec. */
static struct child start(char *m, bool sec)
{
	int cmd[2], ack[2], p;
	struct child c;

	CHECK_EQ(pipe(cmd), 0);
	CHECK_EQ(pipe(ack), 0);
	c.pid = fork();
	CHECK(c.pid >= 0);
	if (c.pid == 0) {
		struct sock_filter allow = BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
		struct sock_fprog prog = { 1, &allow };
		char ok = 1;

		if (sec && (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) ||
			    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog)))
			ok = 0;
		if (write(ack[1], &ok, 1) != 1 || !ok)
			_exit(2);
		while (read(cmd[0], &p, sizeof(p)) == sizeof(p) && p >= 0) {
			m[(size_t)p * PS + 7] = (char)(p + 1);
			if (write(ack[1], &p, sizeof(p)) != sizeof(p))
				_exit(1);
		}
		_exit(0);
	}
	close(cmd[0]);
	close(ack[1]);
	c.cmd = cmd[1];
	c.ack = ack[0];
	{
		char ok = 0;

		CHECK_EQ(read(c.ack, &ok, 1), 1);
		if (!ok) {
			printf("SKIP: no seccomp filters on this kernel\n");
			exit(SKIP);
		}
	}
	return c;
}

static void child_write(struct child *c, int p)
{
	int a;

	CHECK_EQ(write(c->cmd, &p, sizeof(p)), sizeof(p));
	CHECK_EQ(read(c->ack, &a, sizeof(a)), sizeof(a));
	CHECK_EQ(a, p);
}

static void stop(struct child *c)
{
	int q = -1, st;

	CHECK_EQ(write(c->cmd, &q, sizeof(q)), sizeof(q));
	CHECK_EQ(waitpid(c->pid, &st, 0), c->pid);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	close(c->cmd);
	close(c->ack);
}

int main(int argc, char **argv)
{
	struct ww_opts o = { .sz = sizeof(o), .backend = WW_BACKEND_AUTO };
	struct ww_tracker *t;
	struct iovec out[PAGES];
	struct child c;
	char why[256], *m;
	void *next;

	CHECK(argc == 2 && !strcmp(argv[1], "soft-dirty"));
	harness_backend_arg(argc, argv); /* skips where soft-dirty does not work */
	m = harness_map(PAGES);

	/* Under seccomp: pagemap-scan is refused for it, AUTO takes soft-dirty. */
	c = start(m, true);
	CHECK(ww_backend_probe(WW_BACKEND_PAGEMAP_SCAN, c.pid, why, sizeof(why)) < 0);
	printf("pagemap-scan for the seccomp child: %s\n", why);
	CHECK_EQ(ww_backend_auto(c.pid), WW_BACKEND_SOFT_DIRTY);
	o.pid = c.pid;
	CHECK_EQ(ww_open(&o, &t), 0);
	CHECK_EQ(ww_tracker_backend(t), WW_BACKEND_SOFT_DIRTY);
	CHECK_EQ(ww_track(t, m, PAGES * PS), 0);
	CHECK_EQ(ww_collect(t, m, PAGES * PS, 0, out, PAGES, &next), 0);
	m[5 * PS] = 1; /* ours, not the child's */
	child_write(&c, 2);
	child_write(&c, 9);
	child_write(&c, 10);
	CHECK_EQ(ww_collect(t, m, PAGES * PS, WW_RESET, out, PAGES, &next), 2);
	CHECK(out[0].iov_base == m + 2 * PS && out[0].iov_len == PS);
	CHECK(out[1].iov_base == m + 9 * PS && out[1].iov_len == 2 * PS);
	CHECK_EQ(ww_collect(t, m, PAGES * PS, 0, out, PAGES, &next), 0);
	child_write(&c, 15);
	CHECK_EQ(ww_collect(t, m, PAGES * PS, WW_RESET, out, PAGES, &next), 1);
	CHECK(out[0].iov_base == m + 15 * PS && out[0].iov_len == PS);
	ww_close(t);
	stop(&c);

	/* Without seccomp: pagemap-scan wherever it works for another process. */
	c = start(m, false);
	if (ww_backend_probe(WW_BACKEND_PAGEMAP_SCAN, c.pid, why, sizeof(why)) == 0) {
		CHECK_EQ(ww_backend_auto(c.pid), WW_BACKEND_PAGEMAP_SCAN);
		printf("ok: AUTO for another process: pagemap-scan, soft-dirty under seccomp\n");
	} else {
		CHECK_EQ(ww_backend_auto(c.pid), WW_BACKEND_SOFT_DIRTY);
		printf("ok: AUTO for another process: soft-dirty (pagemap-scan: %s)\n", why);
	}
	stop(&c);
	return 0;
}
