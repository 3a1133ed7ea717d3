/* SPDX-License-Identifier: MIT */
/*
 * Regression: pagemap-scan forgot a page once it had reported its discard
 * (MADV_DONTNEED) with WW_RESET, treating it as a never-populated hole. A
 * write and a second discard before the next collect then left no trace, so
 * a copy taken after the first collect (holding the written bytes) went
 * stale: the discard oracle lost a page about 1 run in 20 under ASan. Here
 * the sequence is played in order: the rewritten-and-discarded page must be
 * reported, also when the re-arm came from ww_reset. Backends that never see discards (mprotect, soft-dirty) still see
 * the write, and must report it too.
 */
#include <sys/mman.h>

#include "harness.h"

int main(int argc, char **argv)
{
	struct ww_tracker *t = harness_open(argc, argv);
	char *m;
	struct iovec out[8];
	void *next;
	ssize_t n;

	if (!harness_has(WW_CAP_NO_MISSED_WRITES)) {
		/* documented: a discard drops the PTE and its soft-dirty bit;
		 * a mechanism comparing content sees no change */
		printf("SKIP: %s lacks WW_CAP_NO_MISSED_WRITES: it cannot see a write undone by "
		       "MADV_DONTNEED (writewatch(7))\n",
		       argv[1]);
		ww_close(t);
		return SKIP;
	}
	m = harness_map(8);

	CHECK_EQ(ww_track(t, m, 8 * PS), 0);
	m[3 * PS] = 1;
	CHECK_EQ(madvise(m + 3 * PS, PS, MADV_DONTNEED), 0);
	n = ww_collect(t, m, 8 * PS, WW_RESET, out, 8, &next);
	CHECK_EQ(n, 1); /* written (and, where seen, discarded) */
	CHECK(out[0].iov_base == m + 3 * PS);

	/* a read of the re-armed, discarded page is no change */
	CHECK_EQ(*(volatile char *)(m + 3 * PS), 0);
	CHECK_EQ(ww_collect(t, m, 8 * PS, WW_RESET, out, 8, &next), 0);

	/* written and discarded again between two collects: reported */
	m[3 * PS + 7] = 2;
	CHECK_EQ(madvise(m + 3 * PS, PS, MADV_DONTNEED), 0);
	n = ww_collect(t, m, 8 * PS, WW_RESET, out, 8, &next);
	CHECK_EQ(n, 1);
	CHECK(out[0].iov_base == m + 3 * PS && out[0].iov_len == PS);
	CHECK_EQ(ww_collect(t, m, 8 * PS, 0, out, 8, &next), 0);

	/* the same through ww_reset instead of collect+reset */
	m[5 * PS] = 3;
	CHECK_EQ(madvise(m + 5 * PS, PS, MADV_DONTNEED), 0);
	CHECK_EQ(ww_reset(t, m, 8 * PS), 0);
	CHECK_EQ(ww_collect(t, m, 8 * PS, 0, out, 8, &next), 0);
	m[5 * PS + 9] = 4;
	CHECK_EQ(madvise(m + 5 * PS, PS, MADV_DONTNEED), 0);
	n = ww_collect(t, m, 8 * PS, WW_RESET, out, 8, &next);
	CHECK_EQ(n, 1);
	CHECK(out[0].iov_base == m + 5 * PS && out[0].iov_len == PS);
	ww_close(t);
	printf("ok: %s: a page rewritten and discarded again is reported\n", argv[1]);
	return 0;
}
