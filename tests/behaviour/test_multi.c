/* SPDX-License-Identifier: MIT */
/* Two trackers in one process on disjoint ranges both work and do not see
 * each other's writes; on the same range the second gets -EBUSY (another
 * tracker owns it) and the first keeps working. */
#include <errno.h>

#include "harness.h"

int main(int argc, char **argv)
{
	struct ww_tracker *a = harness_open(argc, argv), *b = harness_open(argc, argv);
	char *m = harness_map(8);
	struct iovec out[8];
	void *next;

	CHECK_EQ(ww_track(a, m, 4 * PS), 0);
	CHECK_EQ(ww_track(b, m + 4 * PS, 4 * PS), 0);
	m[1 * PS] = m[6 * PS] = 1;
	CHECK_EQ(ww_collect(a, m, 4 * PS, WW_RESET, out, 8, &next), 1);
	CHECK(out[0].iov_base == m + PS);
	CHECK_EQ(ww_collect(b, m + 4 * PS, 4 * PS, WW_RESET, out, 8, &next), 1);
	CHECK(out[0].iov_base == m + 6 * PS);
	CHECK_EQ(ww_collect(a, m + 4 * PS, PS, 0, out, 8, &next), -ENOENT);

	CHECK_EQ(ww_track(b, m, 2 * PS), -EBUSY);
	CHECK_EQ(errno, EBUSY);
	m[0] = 1;
	CHECK_EQ(ww_collect(a, m, 4 * PS, WW_RESET, out, 8, &next), 1);
	ww_close(a);
	/* now free for b */
	CHECK_EQ(ww_track(b, m, 2 * PS), 0);
	m[PS] = 2;
	CHECK_EQ(ww_collect(b, m, 2 * PS, WW_RESET, out, 8, &next), 1);
	ww_close(b);
	printf("ok: %s: two trackers\n", argv[1]);
	return 0;
}
