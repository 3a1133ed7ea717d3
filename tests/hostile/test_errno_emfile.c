/* SPDX-License-Identifier: MIT */
/*
 * Issue 16 item 10: out of file descriptors, ww_open and ww_track fail with
 * the documented EMFILE (never another errno, never a crash), the failure
 * leaves nothing behind, and once a descriptor is free again the same
 * calls work: the shortage is not remembered as "this mechanism does not
 * work here". ww_track must not skip its own-stack check when it cannot
 * read the maps: it fails instead.
 */
#include <sys/resource.h>
#include <unistd.h>

#include "harness.h"

#define MAXFD 512

static int fill[MAXFD];
static int nfill;

static void exhaust(void)
{
	int fd;

	nfill = 0;
	while ((fd = dup(0)) >= 0)
		fill[nfill++] = fd;
	CHECK_EQ(errno, EMFILE);
}

static void release(void)
{
	while (nfill > 0)
		close(fill[--nfill]);
}

int main(int argc, char **argv)
{
	struct ww_opts o = { .sz = sizeof(o) };
	struct rlimit rl = { 256, 256 };
	struct ww_tracker *t2 = NULL, *t;
	char stackbuf[64] = { 1 };
	char *m;
	int r;

	CHECK_EQ(setrlimit(RLIMIT_NOFILE, &rl), 0);
	t = harness_open(argc, argv);
	o.backend = harness_backend;
	m = harness_map(4);

	exhaust();
	r = ww_open(&o, &t2);
	CHECK(r == 0 || (r == -EMFILE && errno == EMFILE && !t2));
	if (!r)
		ww_close(t2);
	r = ww_track(t, m, 4 * PS);
	CHECK(r == 0 || (r == -EMFILE && errno == EMFILE));
	if (!r)
		CHECK_EQ(ww_untrack(t, m, 4 * PS), 0);
	/* the own-stack check cannot be skipped for want of a descriptor */
	r = ww_track(t, stackbuf, sizeof(stackbuf));
	CHECK(r == -EDEADLK || r == -EMFILE);
	release();

	/* nothing remembered: all works again */
	CHECK_EQ(ww_open(&o, &t2), 0);
	CHECK_EQ(ww_track(t2, m, 4 * PS), 0);
	m[PS] = 1;
	{
		struct iovec out[4];
		void *next;

		CHECK_EQ(ww_collect(t2, m, 4 * PS, 0, out, 4, &next), 1);
	}
	ww_close(t2);
	CHECK_EQ(ww_track(t, stackbuf, sizeof(stackbuf)), -EDEADLK);
	ww_close(t);
	printf("ok: %s: EMFILE is reported as such and not remembered\n", argv[1]);
	return 0;
}
