/* SPDX-License-Identifier: MIT */
/* Resetting one range never loses another range's written pages: not in
 * another range of the same tracker, not in a range of a second tracker.
 * (soft-dirty clears are process-wide; its per-range reset is emulated.) */
#include "harness.h"

int main(int argc, char **argv)
{
	struct ww_tracker *t = harness_open(argc, argv), *u = harness_open(argc, argv);
	char *a = harness_map(8), *b = harness_map(8), *c = harness_map(8);
	struct iovec out[8];
	void *next;

	CHECK_EQ(ww_track(t, a, 8 * PS), 0);
	CHECK_EQ(ww_track(t, b, 8 * PS), 0);
	CHECK_EQ(ww_track(u, c, 8 * PS), 0);
	a[2 * PS] = b[5 * PS] = c[7 * PS] = 1;

	/* reset b (of t) by collect: a and c keep theirs */
	CHECK_EQ(ww_collect(t, b, 8 * PS, WW_RESET, out, 8, &next), 1);
	CHECK(out[0].iov_base == b + 5 * PS);
	/* reset part of a that is clean: a's page 2 stays */
	CHECK_EQ(ww_reset(t, a + 4 * PS, 4 * PS), 0);
	/* a new range being tracked resets nothing elsewhere */
	{
		char *d = harness_map(2);

		CHECK_EQ(ww_track(u, d, 2 * PS), 0);
	}
	CHECK_EQ(ww_collect(u, c, 8 * PS, 0, out, 8, &next), 1);
	CHECK(out[0].iov_base == c + 7 * PS);
	CHECK_EQ(ww_collect(t, a, 8 * PS, WW_RESET, out, 8, &next), 1);
	CHECK(out[0].iov_base == a + 2 * PS && out[0].iov_len == PS);
	/* and c survived a's reset too */
	CHECK_EQ(ww_collect(u, c, 8 * PS, WW_RESET, out, 8, &next), 1);
	CHECK(out[0].iov_base == c + 7 * PS);
	CHECK_EQ(ww_collect(t, b, 8 * PS, 0, out, 8, &next), 0);
	CHECK_EQ(ww_collect(u, c, 8 * PS, 0, out, 8, &next), 0);
	/* untracking part of a keeps the rest's pages */
	a[6 * PS] = 1;
	CHECK_EQ(ww_untrack(t, a, 4 * PS), 0);
	CHECK_EQ(ww_reset(t, b, 8 * PS), 0);
	CHECK_EQ(ww_collect(t, a + 4 * PS, 4 * PS, 0, out, 8, &next), 1);
	CHECK(out[0].iov_base == a + 6 * PS);
	ww_close(t);
	ww_close(u);
	printf("ok: %s: resetting one range keeps every other range's pages\n", argv[1]);
	return 0;
}
