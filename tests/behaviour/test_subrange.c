/* SPDX-License-Identifier: MIT */
/* Collect on a sub-range reports only pages inside it, with absolute
 * addresses; reset of a sub-range leaves the rest dirty. Also across two
 * adjacent tracked ranges, a run spanning the boundary is one run. */
#include "harness.h"

int main(int argc, char **argv)
{
	struct ww_tracker *t = harness_open(argc, argv);
	size_t pages = 64;
	char *m = harness_map(pages);
	struct iovec out[64];
	bool d[64];
	void *next;
	ssize_t n;

	/* two tracked ranges back to back: [0,32) and [32,64) */
	CHECK_EQ(ww_track(t, m, 32 * PS), 0);
	CHECK_EQ(ww_track(t, m + 32 * PS, 32 * PS), 0);
	for (int p = 0; p < 64; p += 3)
		m[p * PS] = 1;
	m[31 * PS] = m[32 * PS] = m[33 * PS] = 1;

	n = ww_collect(t, m + 10 * PS, 20 * PS, 0, out, 64, &next);
	CHECK(n > 0);
	harness_pages(out, (size_t)n, m + 10 * PS, 20, d);
	for (int p = 10; p < 30; p++)
		CHECK_EQ(d[p - 10], p % 3 == 0);

	/* run across the boundary between the two tracked ranges */
	n = ww_collect(t, m + 30 * PS, 4 * PS, 0, out, 64, &next);
	CHECK_EQ(n, 1); /* pages 30..33, crossing from range 1 into range 2 */
	CHECK(out[0].iov_base == m + 30 * PS && out[0].iov_len == 4 * PS);

	/* reset the middle; the rest stays dirty */
	CHECK_EQ(ww_reset(t, m + 16 * PS, 32 * PS), 0);
	n = ww_collect(t, m, 64 * PS, 0, out, 64, &next);
	harness_pages(out, (size_t)n, m, 64, d);
	for (int p = 0; p < 64; p++) {
		bool want = (p % 3 == 0 || p == 31 || p == 32 || p == 33) && (p < 16 || p >= 48);

		CHECK_EQ(d[p], want);
	}
	/* collect+reset of a sub-range clears only inside */
	n = ww_collect(t, m, 8 * PS, WW_RESET, out, 64, &next);
	CHECK_EQ(n, 3); /* pages 0, 3, 6 */
	n = ww_collect(t, m, 64 * PS, 0, out, 64, &next);
	harness_pages(out, (size_t)n, m, 64, d);
	for (int p = 0; p < 64; p++)
		CHECK_EQ(d[p], p % 3 == 0 && ((p >= 8 && p < 16) || p >= 48));
	ww_close(t);
	printf("ok: %s: sub-range collect and reset\n", argv[1]);
	return 0;
}
