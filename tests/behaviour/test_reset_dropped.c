/* SPDX-License-Identifier: MIT */
/*
 * ww_reset leaves every page clean, including pages that were never touched
 * and pages dropped by MADV_DONTNEED (which some backends report as written
 * until re-armed); a write after the reset to either kind is reported. Guards
 * the pagemap-scan reset, which re-arms through PAGEMAP_SCAN WP_MATCHING
 * rather than UFFDIO_WRITEPROTECT over the whole range.
 */
#include <sys/mman.h>

#include "harness.h"

int main(int argc, char **argv)
{
	struct ww_tracker *t = harness_open(argc, argv);
	size_t pages = 64;
	char *m =
		mmap(NULL, pages * PS, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct iovec out[64];
	bool dirty[64];
	void *next;
	size_t n;

	CHECK(m != MAP_FAILED);
	for (size_t i = 0; i < pages / 2; i++) /* upper half never touched */
		m[i * PS] = 1;
	CHECK_EQ(ww_track(t, m, pages * PS), 0);
	m[2 * PS] = 2;
	m[40 * PS] = 2; /* first touch of a hole */
	CHECK_EQ(madvise(m + 5 * PS, 3 * PS, MADV_DONTNEED), 0);

	CHECK_EQ(ww_reset(t, m, pages * PS), 0);
	CHECK_EQ(ww_collect(t, m, pages * PS, 0, out, 64, &next), 0);

	m[6 * PS] = 3; /* a dropped page */
	m[50 * PS] = 3; /* a hole */
	m[2 * PS] = 3;
	n = harness_collect_all(t, m, pages * PS, WW_RESET, out, 64);
	harness_pages(out, n, m, pages, dirty);
	for (size_t i = 0; i < pages; i++)
		CHECK_EQ(dirty[i], i == 2 || i == 6 || i == 50);
	CHECK_EQ(ww_collect(t, m, pages * PS, 0, out, 64, &next), 0);
	ww_close(t);
	munmap(m, pages * PS);
	printf("ok: %s: reset covers dropped and never-touched pages\n", argv[1]);
	return 0;
}
