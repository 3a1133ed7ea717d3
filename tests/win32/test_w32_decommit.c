/* SPDX-License-Identifier: MIT */
/*
 * Decommit (VirtualFree MEM_DECOMMIT) clears the dirty state of those pages
 * (including state kept over a VirtualProtect) and their contents; other
 * pages keep theirs; recommitting gives clean zero pages that are watched
 * again; release frees the allocation.
 */
#include <sys/mman.h>

#include "w32.h"

int main(int argc, char **argv)
{
	const size_t N = 16;
	char *base;
	uint32_t old;

	w32_setup(argc, argv);
	base = ww_VirtualAlloc(NULL, N * PS, WW_MEM_RESERVE | WW_MEM_COMMIT | WW_MEM_WRITE_WATCH,
			       WW_PAGE_READWRITE);
	CHECK(base);

	base[2 * PS] = base[3 * PS] = base[4 * PS] = base[5 * PS] = 9;
	CHECK(ww_VirtualFree(base + 3 * PS, 2 * PS, WW_MEM_DECOMMIT));
	EXPECT(base, N, 2, 5);
	CHECK_ERR(!ww_VirtualProtect(base + 3 * PS, PS, WW_PAGE_READWRITE, &old),
		  WW_ERROR_INVALID_ADDRESS); /* not committed any more */

	CHECK(ww_VirtualAlloc(base + 3 * PS, 2 * PS, WW_MEM_COMMIT, WW_PAGE_READWRITE) ==
	      base + 3 * PS);
	CHECK_EQ(base[3 * PS], 0); /* fresh pages */
	CHECK_EQ(base[4 * PS], 0);
	CHECK_EQ(base[2 * PS], 9); /* neighbours kept */
	EXPECT(base, N, 2, 5);
	base[3 * PS] = 1;
	EXPECT(base, N, 2, 3, 5);

	/* Dirty state kept over a protection change is dropped by decommit. */
	base[7 * PS] = 1;
	CHECK(ww_VirtualProtect(base + 6 * PS, 3 * PS, WW_PAGE_READONLY, &old));
	CHECK(ww_VirtualProtect(base + 6 * PS, 3 * PS, WW_PAGE_READWRITE, &old));
	EXPECT(base, N, 2, 3, 5, 7);
	CHECK(ww_VirtualFree(base + 7 * PS, PS, WW_MEM_DECOMMIT));
	EXPECT(base, N, 2, 3, 5);
	CHECK(ww_VirtualAlloc(base + 7 * PS, PS, WW_MEM_COMMIT, WW_PAGE_READWRITE));
	EXPECT(base, N, 2, 3, 5);

	/* Decommit with size 0 runs to the end of the allocation. */
	base[15 * PS] = 1;
	CHECK(ww_VirtualFree(base + 12 * PS, 0, WW_MEM_DECOMMIT));
	EXPECT(base, N, 2, 3, 5);

	/* Release frees. */
	CHECK(ww_VirtualFree(base, 0, WW_MEM_RELEASE));
	CHECK(msync(base, PS, MS_ASYNC) == -1 && errno == ENOMEM);
	CHECK_ERR(ww_ResetWriteWatch(base, PS) == ~0u, WW_ERROR_INVALID_PARAMETER);

	printf("ok: %s: decommit clears, release frees\n", argv[1]);
	return 0;
}
