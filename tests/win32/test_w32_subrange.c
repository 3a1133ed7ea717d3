/* SPDX-License-Identifier: MIT */
/*
 * Get and reset on a sub-range affect only that range; reset on reserved or
 * decommitted parts of a watched allocation succeeds.
 */
#include "w32.h"

int main(int argc, char **argv)
{
	const size_t N = 16;
	char *base, *r;
	void *addrs[64];

	w32_setup(argc, argv);
	base = ww_VirtualAlloc(NULL, N * PS, WW_MEM_RESERVE | WW_MEM_COMMIT | WW_MEM_WRITE_WATCH,
			       WW_PAGE_READWRITE);
	CHECK(base);

	base[2 * PS + 3] = 1;
	base[4 * PS + 8] = 1;
	CHECK_EQ(w32_get(0, base + 3 * PS, 2 * PS, addrs, 64), 1);
	CHECK(addrs[0] == base + 4 * PS);
	CHECK_EQ(ww_ResetWriteWatch(base, 3 * PS), 0); /* pages 0..2 */
	EXPECT(base, N, 4);

	/* GetWriteWatch+RESET on a sub-range leaves the rest alone. */
	base[1 * PS] = 1;
	base[6 * PS] = 1;
	CHECK_EQ(w32_get(WW_WRITE_WATCH_FLAG_RESET, base, 3 * PS, addrs, 64), 1);
	CHECK(addrs[0] == base + PS);
	EXPECT(base, N, 4, 6);
	CHECK_EQ(w32_get(WW_WRITE_WATCH_FLAG_RESET, base + 5 * PS, 11 * PS, addrs, 64), 1);
	CHECK(addrs[0] == base + 6 * PS);
	EXPECT(base, N, 4);
	/* A one-page reset in the middle of written neighbours. */
	base[3 * PS] = 1;
	base[5 * PS] = 1;
	CHECK_EQ(ww_ResetWriteWatch(base + 4 * PS, PS), 0);
	EXPECT(base, N, 3, 5);
	CHECK(ww_VirtualFree(base, 0, WW_MEM_RELEASE));

	/* Reserved and decommitted parts. */
	r = ww_VirtualAlloc(NULL, N * PS, WW_MEM_RESERVE | WW_MEM_WRITE_WATCH, WW_PAGE_NOACCESS);
	CHECK(r);
	CHECK_EQ(ww_ResetWriteWatch(r, N * PS), 0); /* all reserved */
	CHECK(ww_VirtualAlloc(r, 6 * PS, WW_MEM_COMMIT, WW_PAGE_READWRITE) == r);
	r[0] = r[3 * PS] = r[5 * PS] = 1;
	CHECK_EQ(ww_ResetWriteWatch(r + 8 * PS, 8 * PS), 0); /* reserved part */
	EXPECT(r, N, 0, 3, 5);
	CHECK_EQ(w32_get(WW_WRITE_WATCH_FLAG_RESET, r + 8 * PS, 8 * PS, addrs, 64), 0);
	CHECK(ww_VirtualFree(r + 2 * PS, 2 * PS, WW_MEM_DECOMMIT)); /* pages 2, 3 */
	CHECK_EQ(ww_ResetWriteWatch(r + 2 * PS, 2 * PS), 0); /* decommitted part */
	EXPECT(r, N, 0, 5);
	CHECK_EQ(ww_ResetWriteWatch(r, N * PS), 0); /* mixed */
	EXPECT_NONE(r, N);
	r[5 * PS] = 2; /* not the 1 it holds: a mechanism may compare content */
	EXPECT(r, N, 5);
	CHECK(ww_VirtualFree(r, 0, WW_MEM_RELEASE));

	printf("ok: %s: sub-ranges\n", argv[1]);
	return 0;
}
