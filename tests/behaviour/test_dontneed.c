/* SPDX-License-Identifier: MIT */
/* Pages the application drops (MADV_DONTNEED) and writes again are
 * reported: a dropped anonymous page loses its page-table entry, and with
 * it any write-protect bit, so a backend must still see the next write.
 * (Whether the drop itself reads as a write differs per backend: see
 * writewatch(7).) Also covers pages never touched before tracking. */
#include <sys/mman.h>

#include "harness.h"

int main(int argc, char **argv)
{
	struct ww_tracker *t = harness_open(argc, argv);
	char *m = harness_map(16);
	struct iovec out[16];
	bool dirty[16];
	size_t n;

	CHECK_EQ(ww_track(t, m, 16 * PS), 0);
	CHECK_EQ(madvise(m + 2 * PS, 4 * PS, MADV_DONTNEED), 0);
	harness_collect_all(t, m, 16 * PS, WW_RESET, out, 16);

	/* written after the drop: must be reported */
	m[3 * PS] = 1;
	m[5 * PS + 9] = 2;
	n = harness_collect_all(t, m, 16 * PS, WW_RESET, out, 16);
	harness_pages(out, n, m, 16, dirty);
	CHECK(dirty[3] && dirty[5]);
	CHECK(!dirty[0] && !dirty[10]);

	/* read after the drop (zero page or a fresh page), then written */
	CHECK_EQ(madvise(m + 8 * PS, 2 * PS, MADV_DONTNEED), 0);
	harness_collect_all(t, m, 16 * PS, WW_RESET, out, 16);
	CHECK_EQ(((volatile char *)m)[8 * PS], 0);
	CHECK_EQ(ww_collect(t, m + 8 * PS, PS, 0, out, 16, NULL), 0); /* a read is no write */
	m[8 * PS] = 3;
	n = harness_collect_all(t, m, 16 * PS, WW_RESET, out, 16);
	harness_pages(out, n, m, 16, dirty);
	CHECK(dirty[8]);

	/* and again after a reset: the protection came back */
	m[8 * PS] = 4;
	CHECK_EQ(ww_collect(t, m + 8 * PS, PS, WW_RESET, out, 16, NULL), 1);
	ww_close(t);
	printf("ok: %s: writes after MADV_DONTNEED are reported\n", argv[1]);
	return 0;
}
