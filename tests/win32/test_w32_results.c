/* SPDX-License-Identifier: MIT */
/*
 * What GetWriteWatch returns: the range rounded outward to whole pages;
 * page-aligned absolute addresses, ascending, one per written page;
 * granularity = page size; *count is capacity in and pages found out; when
 * more pages were written than fit, the lowest are returned and with RESET
 * only those are reset (also inside one run of written pages, and across
 * dirty state kept over a VirtualProtect); an empty result leaves the array
 * untouched.
 */
#include "w32.h"

int main(int argc, char **argv)
{
	const size_t N = 16;
	char *base;
	void *addrs[64];
	uint32_t old;

	w32_setup(argc, argv);
	base = ww_VirtualAlloc(NULL, N * PS, WW_MEM_RESERVE | WW_MEM_COMMIT | WW_MEM_WRITE_WATCH,
			       WW_PAGE_READWRITE);
	CHECK(base);

	/* Absolute, aligned, ascending whatever the order of the writes. */
	base[9 * PS + 100] = 1;
	base[2 * PS + PS - 1] = 1;
	base[4 * PS] = 1;
	EXPECT(base, N, 2, 4, 9);

	/* Rounded outward: an unaligned one-byte range covers its page. */
	CHECK_EQ(w32_get(0, base + 4 * PS + 77, 1, addrs, 64), 1);
	CHECK(addrs[0] == base + 4 * PS);
	CHECK_EQ(w32_get(0, base + 3 * PS + PS - 1, 2, addrs, 64), 1); /* pages 3, 4 */
	CHECK(addrs[0] == base + 4 * PS);
	CHECK_EQ(w32_get(0, base + 5 * PS - 1, 4 * PS + 2, addrs, 64), 2); /* pages 4..9 */
	CHECK(addrs[0] == base + 4 * PS && addrs[1] == base + 9 * PS);

	/* Capacity: the lowest pages, and RESET resets only those. */
	base[1 * PS] = 1;
	base[10 * PS] = 1;
	base[15 * PS] = 1; /* written: 1 2 4 9 10 15 */
	CHECK_EQ(w32_get(0, base, N * PS, addrs, 1), 1);
	CHECK(addrs[0] == base + PS);
	CHECK_EQ(w32_get(WW_WRITE_WATCH_FLAG_RESET, base, N * PS, addrs, 3), 3);
	CHECK(addrs[0] == base + PS && addrs[1] == base + 2 * PS && addrs[2] == base + 4 * PS);
	EXPECT(base, N, 9, 10, 15);
	CHECK_EQ(w32_get(0, base, N * PS, addrs, 64), 3); /* capacity above: count = found */

	/* Inside one run of written pages, RESET stops at the capacity. */
	CHECK_EQ(ww_ResetWriteWatch(base, N * PS), 0);
	memset(base + 3 * PS, 7, 8 * PS); /* pages 3..10 */
	CHECK_EQ(w32_get(WW_WRITE_WATCH_FLAG_RESET, base, N * PS, addrs, 3), 3);
	CHECK(addrs[0] == base + 3 * PS && addrs[2] == base + 5 * PS);
	EXPECT(base, N, 6, 7, 8, 9, 10);
	CHECK_EQ(w32_get(WW_WRITE_WATCH_FLAG_RESET, base, N * PS, addrs, 1), 1);
	CHECK(addrs[0] == base + 6 * PS);
	EXPECT(base, N, 7, 8, 9, 10);

	/* Dirty state kept across VirtualProtect merges in page order. */
	CHECK_EQ(ww_ResetWriteWatch(base, N * PS), 0);
	base[3 * PS] = 1;
	base[5 * PS] = 1;
	base[12 * PS] = 1;
	CHECK(ww_VirtualProtect(base, 8 * PS, WW_PAGE_READONLY, &old));
	CHECK(ww_VirtualProtect(base, 8 * PS, WW_PAGE_READWRITE, &old));
	base[4 * PS] = 1; /* written: 3 (kept) 4 (live) 5 (kept) 12 (live) */
	EXPECT(base, N, 3, 4, 5, 12);
	CHECK_EQ(w32_get(WW_WRITE_WATCH_FLAG_RESET, base, N * PS, addrs, 2), 2);
	CHECK(addrs[0] == base + 3 * PS && addrs[1] == base + 4 * PS);
	EXPECT(base, N, 5, 12);
	CHECK_EQ(w32_get(WW_WRITE_WATCH_FLAG_RESET, base, N * PS, addrs, 64), 2);
	EXPECT_NONE(base, N);

	/* An empty result leaves the array untouched. */
	for (size_t i = 0; i < 64; i++)
		addrs[i] = (void *)0x5a5a;
	CHECK_EQ(w32_get(WW_WRITE_WATCH_FLAG_RESET, base, N * PS, addrs, 64), 0);
	for (size_t i = 0; i < 64; i++)
		CHECK(addrs[i] == (void *)0x5a5a);
	/* A non-empty one writes only the entries it reports. */
	base[0] = 1;
	CHECK_EQ(w32_get(0, base, N * PS, addrs, 64), 1);
	CHECK(addrs[0] == base && addrs[1] == (void *)0x5a5a);

	CHECK(ww_VirtualFree(base, 0, WW_MEM_RELEASE));
	printf("ok: %s: results, rounding and capacity\n", argv[1]);
	return 0;
}
