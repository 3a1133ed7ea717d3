/* SPDX-License-Identifier: MIT */
/*
 * A target that cannot stop (in vfork(2), waiting uninterruptibly for its
 * child) makes ww_open give up with -ETIMEDOUT instead of hanging, and the
 * target is left untouched: not stopped, not traced, exits 0 when its wait
 * ends. argv[1]: the target.
 */
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "rtarget.h"

int main(int argc, char **argv)
{
	struct ww_opts o = { .sz = sizeof(o), .backend = WW_BACKEND_PAGEMAP_SCAN };
	struct ww_tracker *t = NULL;
	char why[256], state;
	struct rtarget tg;
	long tracer;
	int st;

	CHECK(argc == 2);
#ifdef RTARGET_TSAN
	printf("SKIP: ThreadSanitizer turns the target's vfork into fork\n");
	return SKIP;
#endif
	if (ww_backend_probe(WW_BACKEND_PAGEMAP_SCAN, 0, why, sizeof(why))) {
		printf("SKIP: pagemap-scan: %s\n", why);
		return SKIP;
	}
	/* 6 s in vfork: longer than the 3 s the injection waits for a stop */
	rtarget_start(&tg, argv[1], "vfork", 6);
	usleep(100000);
	o.pid = tg.pid;
	CHECK_EQ(ww_open(&o, &t), -ETIMEDOUT);
	CHECK(t == NULL);
	usleep(100000);
	rtarget_state(tg.pid, &state, &tracer);
	CHECK_EQ(tracer, 0);
	CHECK(state != 't' && state != 'T');
	CHECK(!rtarget_has_uffd(tg.pid));
	CHECK(waitpid(tg.pid, &st, 0) == tg.pid);
	CHECK(WIFEXITED(st));
	CHECK_EQ(WEXITSTATUS(st), 0);
	return 0;
}
