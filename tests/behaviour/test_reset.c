/* SPDX-License-Identifier: MIT */
/* Collect without WW_RESET leaves pages dirty; with it, clears exactly what
 * it reported (and nothing it did not report, when max cuts it short);
 * ww_reset clears everything; a page is reported again after a new write. */
#include "harness.h"

int main(int argc, char **argv)
{
	struct ww_tracker *t = harness_open(argc, argv);
	size_t pages = 16;
	char *m = harness_map(pages);
	struct iovec out[16];
	void *next;

	CHECK_EQ(ww_track(t, m, pages * PS), 0);
	m[1 * PS] = m[3 * PS] = m[8 * PS] = 1;

	for (int i = 0; i < 3; i++)
		CHECK_EQ(ww_collect(t, m, pages * PS, 0, out, 16, &next), 3);

	/* max = 2: reports and resets pages 1 and 3 only */
	CHECK_EQ(ww_collect(t, m, pages * PS, WW_RESET, out, 2, &next), 2);
	CHECK(out[0].iov_base == m + PS && out[1].iov_base == m + 3 * PS);
	CHECK(next > (void *)(m + 3 * PS) && next <= (void *)(m + 8 * PS));
	CHECK_EQ(ww_collect(t, m, pages * PS, 0, out, 16, &next), 1);
	CHECK(out[0].iov_base == m + 8 * PS);

	/* written again after reset: reported again */
	m[1 * PS + 5] = 2;
	CHECK_EQ(ww_collect(t, m, pages * PS, 0, out, 16, &next), 2);

	CHECK_EQ(ww_reset(t, m, pages * PS), 0);
	CHECK_EQ(ww_collect(t, m, pages * PS, 0, out, 16, &next), 0);
	m[15 * PS] = 3;
	CHECK_EQ(ww_collect(t, m, pages * PS, WW_RESET, out, 16, &next), 1);
	CHECK(out[0].iov_base == m + 15 * PS);
	CHECK_EQ(ww_collect(t, m, pages * PS, 0, out, 16, &next), 0);
	ww_close(t);
	printf("ok: %s: reset semantics\n", argv[1]);
	return 0;
}
