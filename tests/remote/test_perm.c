/* SPDX-License-Identifier: MIT */
/*
 * No permission: an unprivileged tracker (uid 65534, no capabilities) asked
 * to track a root process gets -EPERM from the probe and from ww_open, with
 * a reason that names the missing permission, and the target is untouched:
 * same descriptors, not stopped or traced, normal exit. Needs root to set
 * up (skipped otherwise). argv[1]: the target.
 */
#include <grp.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "rtarget.h"

#define PAGES 8

static int unprivileged(pid_t target)
{
	struct ww_opts o = { .sz = sizeof(o), .backend = WW_BACKEND_PAGEMAP_SCAN, .pid = target };
	struct ww_tracker *t = NULL;
	char why[256] = "";

	if (setgroups(0, NULL) || setgid(65534) || setuid(65534))
		return 10;
	/* a credential change clears "dumpable", which would hide our own
	 * /proc/self/pagemap from us; a freshly started process has it */
	prctl(PR_SET_DUMPABLE, 1);
	int err = ww_backend_probe(WW_BACKEND_PAGEMAP_SCAN, target, why, sizeof(why));

	printf("probe says: %s\n", why);
	CHECK_EQ(err, -EPERM);
	CHECK(strstr(why, "permission") && strstr(why, "CAP_SYS_PTRACE"));
	CHECK_EQ(ww_open(&o, &t), -EPERM);
	CHECK(t == NULL);
	o.backend = WW_BACKEND_AUTO;
	CHECK(ww_open(&o, &t) < 0);
	return 0;
}

int main(int argc, char **argv)
{
	char before[8192], after[8192], state, why[256];
	struct rtarget tg;
	long tracer;
	pid_t c;
	int st;

	CHECK(argc == 2);
	if (geteuid() != 0) {
		printf("SKIP: needs root to run a process the unprivileged tracker may not trace\n");
		return SKIP;
	}
	if (ww_backend_probe(WW_BACKEND_PAGEMAP_SCAN, 0, why, sizeof(why))) {
		printf("SKIP: pagemap-scan: %s\n", why);
		return SKIP;
	}
	rtarget_start(&tg, argv[1], "read", PAGES);
	rtarget_fds(tg.pid, before, sizeof(before));
	c = fork();
	CHECK(c >= 0);
	if (c == 0)
		_exit(unprivileged(tg.pid));
	CHECK(waitpid(c, &st, 0) == c);
	CHECK(WIFEXITED(st));
	CHECK_EQ(WEXITSTATUS(st), 0);
	rtarget_fds(tg.pid, after, sizeof(after));
	CHECK(!strcmp(before, after));
	rtarget_state(tg.pid, &state, &tracer);
	CHECK(state != 't' && state != 'T');
	CHECK_EQ(tracer, 0);
	rtarget_write(&tg, 2);
	st = rtarget_quit(&tg);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	return 0;
}
