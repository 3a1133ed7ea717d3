/* SPDX-License-Identifier: MIT */
/*
 * Capabilities as the program's way to choose: ww_backend_caps() gives each
 * backend's row of the guarantee table, a tracker has at most those
 * (ww_tracker_caps), ww_open() with opts.caps and AUTO picks the first
 * backend in AUTO's order that works here and has them, a named backend that
 * lacks one is refused with EOPNOTSUPP, unknown bits with EINVAL. The
 * behaviour each cap names is checked where it matters by the behaviour
 * tests, which ask the cap rather than the backend's name (kernel_write,
 * ...).
 */
#include <errno.h>
#include <string.h>

#include "harness.h"

static const enum ww_backend order[] = { WW_BACKEND_PAGEMAP_SCAN, WW_BACKEND_UFFD_WP,
					 WW_BACKEND_MPROTECT };

/* What AUTO must pick for this process given caps: computed from the
 * public calls only. */
static int expected(unsigned int caps)
{
	const char *forced = getenv("WRITEWATCH_BACKEND");

	for (size_t i = 0; i < sizeof(order) / sizeof(*order); i++) {
		unsigned int c;

		if (forced && *forced && strcmp(forced, ww_backend_name(order[i])))
			continue;
		CHECK_EQ(ww_backend_caps(order[i], &c), 0);
		if ((c & caps) == caps && ww_backend_probe(order[i], 0, NULL, 0) == 0)
			return order[i];
	}
	return -EOPNOTSUPP;
}

int main(void)
{
	unsigned int c, all = 0,
			asked[] = { 0, WW_CAP_PROTECTS, WW_CAP_KERNEL_WRITES,
				    WW_CAP_DISCARDS | WW_CAP_EXACT, WW_CAP_ATOMIC_RESET };
	struct ww_tracker *t;
	int picked = 0;

	CHECK_EQ(ww_backend_caps(WW_BACKEND_AUTO, &c), -EINVAL);
	CHECK_EQ(ww_backend_caps((enum ww_backend)WW_BACKEND_COUNT, &c), -EINVAL);
	CHECK_EQ(ww_backend_caps(WW_BACKEND_MPROTECT, NULL), -EINVAL);
	CHECK_EQ(ww_tracker_caps(NULL), 0);
	for (int b = 1; b < WW_BACKEND_COUNT; b++) {
		CHECK_EQ(ww_backend_caps((enum ww_backend)b, &c), 0);
		all |= c;
		/* every mechanism that tracks at all promises no missed writes
		 * or says it does not: soft-dirty is the one that does not */
		if (b == WW_BACKEND_SOFT_DIRTY)
			CHECK(!(c & (WW_CAP_NO_MISSED_WRITES | WW_CAP_ATOMIC_RESET)));
	}
	/* Some backend can track another process, and AUTO for a pid asks it. */
	CHECK(all & WW_CAP_REMOTE);

	for (size_t i = 0; i < sizeof(asked) / sizeof(*asked); i++) {
		WW_OPTS(o, .caps = asked[i]);
		int want = expected(asked[i]);
		int r = ww_open(&o, &t);

		if (want < 0) {
			CHECK_EQ(r, -EOPNOTSUPP);
			continue;
		}
		CHECK_EQ(r, 0);
		CHECK_EQ(ww_tracker_backend(t), want);
		CHECK_EQ(ww_tracker_caps(t) & asked[i], asked[i]);
		CHECK(ww_backend_caps(ww_tracker_backend(t), &c) == 0 &&
		      (ww_tracker_caps(t) & ~c) == 0);
		ww_close(t);
		picked++;
	}
	/* A named backend that lacks a cap asked for is refused. */
	for (int b = 1; b < WW_BACKEND_COUNT; b++) {
		WW_OPTS(o, .backend = (enum ww_backend)b);

		CHECK_EQ(ww_backend_caps((enum ww_backend)b, &c), 0);
		if (ww_backend_probe((enum ww_backend)b, 0, NULL, 0))
			continue;
		o.caps = ~c & (WW_CAP_PROTECTS | WW_CAP_KERNEL_WRITES | WW_CAP_DISCARDS);
		if (!o.caps)
			continue;
		errno = 0;
		CHECK_EQ(ww_open(&o, &t), -EOPNOTSUPP);
		CHECK_EQ(errno, EOPNOTSUPP);
	}
	/* Every bit a backend can have has its C name; nothing else has one. */
	for (unsigned int i = 0; i < 32; i++) {
		const char *n = ww_cap_name(1u << i);

		if (all & (1u << i))
			CHECK(n && !strncmp(n, "WW_CAP_", 7));
		if (n)
			printf("caps: bit %u is %s\n", i, n);
	}
	CHECK(!strcmp(ww_cap_name(WW_CAP_EXACT), "WW_CAP_EXACT"));
	CHECK(!strcmp(ww_cap_name(WW_CAP_PROTECTS), "WW_CAP_PROTECTS"));
	CHECK(!strcmp(ww_cap_name(WW_CAP_PREWRITE), "WW_CAP_PREWRITE"));
	CHECK(!strcmp(ww_cap_name(WW_CAP_NO_MISSED_WRITES), "WW_CAP_NO_MISSED_WRITES"));
	CHECK(ww_cap_name(0) == NULL);
	CHECK(ww_cap_name(WW_CAP_EXACT | WW_CAP_REMOTE) == NULL);
	CHECK(ww_cap_name(1u << 30) == NULL);
	/* Bits no version defines. */
	{
		WW_OPTS(o, .caps = 1u << 30);
		CHECK_EQ(ww_open(&o, &t), -EINVAL);
	}
	printf("caps: AUTO honoured %d of %zu requests (the rest: no backend here has them)\n",
	       picked, sizeof(asked) / sizeof(*asked));
	return 0;
}
