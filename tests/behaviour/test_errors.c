/* SPDX-License-Identifier: MIT */
/* Bad arguments give the documented negative errno (and errno), and each
 * failure leaves the tracker usable. */
#include <errno.h>
#include <sys/mman.h>

#include "harness.h"

static void usable(struct ww_tracker *t, char *m)
{
	struct iovec out[4];
	void *next;

	m[0]++; /* a new value each time: a mechanism may compare content */
	CHECK_EQ(ww_collect(t, m, PS, WW_RESET, out, 4, &next), 1);
	CHECK_EQ(ww_collect(t, m, PS, 0, out, 4, &next), 0);
}

#define CHECK_ERR(call, e)              \
	do {                            \
		errno = 0;              \
		CHECK_EQ((call), -(e)); \
		CHECK_EQ(errno, (e));   \
	} while (0)

int main(int argc, char **argv)
{
	struct ww_tracker *t = harness_open(argc, argv), *t2 = NULL;
	char *m = harness_map(8);
	struct ww_opts o = { .sz = sizeof(o), .backend = harness_backend };
	struct iovec out[4];
	void *next;
	char *hole;

	CHECK_EQ(ww_track(t, m, 4 * PS), 0);

	/* NULL handles and out pointers */
	CHECK_ERR(ww_open(&o, NULL), EINVAL);
	CHECK_ERR(ww_track(NULL, m, PS), EINVAL);
	CHECK_ERR(ww_untrack(NULL, m, PS), EINVAL);
	CHECK_ERR(ww_reset(NULL, m, PS), EINVAL);
	CHECK_ERR(ww_collect(NULL, m, PS, 0, out, 4, &next), EINVAL);
	CHECK_ERR(ww_collect(t, m, PS, 0, NULL, 4, &next), EINVAL);
	CHECK_ERR(ww_collect(t, m, PS, 0, out, 0, &next), EINVAL);
	CHECK_EQ(ww_tracker_backend(NULL), WW_BACKEND_AUTO);
	ww_close(NULL);

	/* bad options */
	o.sz = sizeof(o.sz) - 1; /* not even sz itself (more in test_opts.c) */
	CHECK_ERR(ww_open(&o, &t2), EINVAL);
	CHECK(t2 == NULL);
	o.sz = sizeof(o);
	o.flags = 0x80;
	CHECK_ERR(ww_open(&o, &t2), EINVAL);
	o.flags = 0;
	o.backend = (enum ww_backend)99;
	CHECK_ERR(ww_open(&o, &t2), EINVAL);
	o.backend = harness_backend;
	o.pid = -5;
	CHECK_ERR(ww_open(&o, &t2), EINVAL);
	o.pid = 0;
	{
		/* a larger struct from a newer caller: unknown tail must be zero */
		struct {
			struct ww_opts o;
			long future;
		} big = { .o = o };

		big.o.sz = sizeof(big);
		CHECK_EQ(ww_open(&big.o, &t2), 0);
		ww_close(t2);
		big.future = 1;
		CHECK_ERR(ww_open(&big.o, &t2), E2BIG);
	}

	/* unknown flags, zero length, wrap-around */
	CHECK_ERR(ww_collect(t, m, PS, 0x4, out, 4, &next), EINVAL);
	CHECK_ERR(ww_track(t, m + 6 * PS, 0), EINVAL);
	CHECK_ERR(ww_collect(t, m, 0, 0, out, 4, &next), EINVAL);
	CHECK_ERR(ww_track(t, (void *)(UINTPTR_MAX - 10), 100), EINVAL);
	usable(t, m);

	/* not tracked (entirely or partly) */
	CHECK_ERR(ww_collect(t, m + 4 * PS, PS, 0, out, 4, &next), ENOENT);
	CHECK_ERR(ww_collect(t, m + 2 * PS, 4 * PS, 0, out, 4, &next), ENOENT);
	CHECK_ERR(ww_reset(t, m + 5 * PS, PS), ENOENT);
	CHECK_ERR(ww_untrack(t, m + 3 * PS, 2 * PS), ENOENT);
	usable(t, m);

	/* overlapping an existing range, even by one page */
	CHECK_ERR(ww_track(t, m + 3 * PS, 2 * PS), EEXIST);
	CHECK_ERR(ww_track(t, m, PS), EEXIST);
	usable(t, m);

	/* unmapped memory, fully or partly */
	hole = harness_map(3);
	CHECK_EQ(munmap(hole + PS, PS), 0);
	CHECK_ERR(ww_track(t, hole + PS, PS), ENOMEM);
	CHECK_ERR(ww_track(t, hole, 3 * PS), ENOMEM);
	usable(t, m);

	/* and the untouched part still works fully */
	CHECK_EQ(ww_track(t, m + 4 * PS, 4 * PS), 0);
	m[5 * PS] = 1;
	CHECK_EQ(ww_collect(t, m, 8 * PS, WW_RESET, out, 4, &next), 1);
	CHECK(out[0].iov_base == m + 5 * PS);
	ww_close(t);
	printf("ok: %s: errors\n", argv[1]);
	return 0;
}
