/* SPDX-License-Identifier: MIT */
/*
 * ww_VirtualAlloc/ww_VirtualFree as Windows has them for write watching:
 * MEM_WRITE_WATCH needs MEM_RESERVE; reserve-only then commit-later works;
 * committing inside a watched reservation dirties nothing; a fresh
 * allocation is clean although it reads as zeros; bad arguments fail with
 * the Windows error codes; release frees.
 */
#include <sys/mman.h>

#include "w32.h"

int main(int argc, char **argv)
{
	const size_t N = 16;
	char *base, *r, *p;
	uint32_t old;

	w32_setup(argc, argv);

	/* Argument checks. */
	CHECK_ERR(!ww_VirtualAlloc(NULL, 0, WW_MEM_RESERVE, WW_PAGE_NOACCESS),
		  WW_ERROR_INVALID_PARAMETER);
	CHECK_ERR(!ww_VirtualAlloc(NULL, N * PS, WW_MEM_WRITE_WATCH, WW_PAGE_READWRITE),
		  WW_ERROR_INVALID_PARAMETER);
	CHECK_ERR(!ww_VirtualAlloc(NULL, N * PS, WW_MEM_COMMIT | WW_MEM_WRITE_WATCH,
				   WW_PAGE_READWRITE),
		  WW_ERROR_INVALID_PARAMETER);
	CHECK_ERR(!ww_VirtualAlloc(NULL, N * PS, WW_MEM_RESERVE, 0), WW_ERROR_INVALID_PARAMETER);
	CHECK_ERR(!ww_VirtualAlloc(NULL, N * PS, WW_MEM_COMMIT, WW_PAGE_READONLY | WW_PAGE_EXECUTE),
		  WW_ERROR_INVALID_PARAMETER);
	CHECK_ERR(!ww_VirtualAlloc(NULL, N * PS, WW_MEM_RESERVE | 0x40000000u, WW_PAGE_READWRITE),
		  WW_ERROR_INVALID_PARAMETER);

	/* A fresh committed allocation: page aligned, zero, clean. */
	base = ww_VirtualAlloc(NULL, N * PS - 5,
			       WW_MEM_RESERVE | WW_MEM_COMMIT | WW_MEM_WRITE_WATCH,
			       WW_PAGE_READWRITE);
	CHECK(base != NULL);
	CHECK_EQ((uintptr_t)base % PS, 0);
	for (size_t i = 0; i < N * PS; i++)
		CHECK_EQ(((volatile char *)base)[i], 0);
	EXPECT_NONE(base, N);
	base[3 * PS + 7] = 1;
	EXPECT(base, N, 3);

	/* Reserve only, commit later inside the reservation. */
	r = ww_VirtualAlloc(NULL, N * PS, WW_MEM_RESERVE | WW_MEM_WRITE_WATCH, WW_PAGE_NOACCESS);
	CHECK(r != NULL);
	EXPECT_NONE(r, N);
	CHECK_ERR(!ww_VirtualProtect(r, PS, WW_PAGE_READONLY, &old), WW_ERROR_INVALID_ADDRESS);
	p = ww_VirtualAlloc(r + 4 * PS + 10, 3 * PS, WW_MEM_COMMIT, WW_PAGE_READWRITE);
	CHECK(p == r + 4 * PS); /* rounded down to the page; pages 4..7 */
	EXPECT_NONE(r, N); /* committing dirties nothing */
	for (size_t i = 4 * PS; i < 8 * PS; i++)
		CHECK_EQ(((volatile char *)r)[i], 0);
	EXPECT_NONE(r, N); /* nor does reading */
	r[5 * PS] = 42;
	EXPECT(r, N, 5);
	/* Committing committed pages again keeps contents and dirty state. */
	CHECK(ww_VirtualAlloc(r + 4 * PS, 2 * PS, WW_MEM_COMMIT, WW_PAGE_READWRITE) == r + 4 * PS);
	CHECK_EQ(r[5 * PS], 42);
	EXPECT(r, N, 5);
	/* Writes after a commit are seen (the new pages are watched). */
	r[7 * PS] = 1;
	EXPECT(r, N, 5, 7);
	/* Commit a second, separate part. */
	CHECK(ww_VirtualAlloc(r + 12 * PS, PS, WW_MEM_COMMIT, WW_PAGE_READWRITE) == r + 12 * PS);
	EXPECT(r, N, 5, 7);
	r[12 * PS + PS - 1] = 1;
	EXPECT(r, N, 5, 7, 12);

	/* Commit outside any reservation, past its end. */
	CHECK_ERR(!ww_VirtualAlloc(r + 15 * PS, 2 * PS, WW_MEM_COMMIT, WW_PAGE_READWRITE),
		  WW_ERROR_INVALID_ADDRESS);

	/* VirtualFree argument checks. */
	CHECK_ERR(!ww_VirtualFree(r, N * PS, 0), WW_ERROR_INVALID_PARAMETER);
	CHECK_ERR(!ww_VirtualFree(r, PS, WW_MEM_RELEASE), WW_ERROR_INVALID_PARAMETER);
	CHECK_ERR(!ww_VirtualFree(r, 0, WW_MEM_RELEASE | WW_MEM_DECOMMIT),
		  WW_ERROR_INVALID_PARAMETER);
	CHECK_ERR(!ww_VirtualFree(r + PS, 0, WW_MEM_RELEASE), WW_ERROR_INVALID_ADDRESS);

	/* A plain allocation (no MEM_WRITE_WATCH) works but is not watched. */
	p = ww_VirtualAlloc(NULL, N * PS, WW_MEM_COMMIT, WW_PAGE_READWRITE);
	CHECK(p != NULL);
	p[0] = 1;
	{
		void *a[4];
		uintptr_t c = 4;
		uint32_t g;

		CHECK_ERR(ww_GetWriteWatch(0, p, PS, a, &c, &g) == ~0u, WW_ERROR_INVALID_PARAMETER);
	}
	CHECK(ww_VirtualFree(p, 0, WW_MEM_RELEASE));

	/* Release frees: the range is unmapped and no longer watched. */
	CHECK(ww_VirtualFree(r, 0, WW_MEM_RELEASE));
	CHECK(msync(r, PS, MS_ASYNC) == -1 && errno == ENOMEM);
	CHECK(ww_VirtualFree(base, 0, WW_MEM_RELEASE));
	CHECK(msync(base, PS, MS_ASYNC) == -1 && errno == ENOMEM);
	{
		void *a[4];
		uintptr_t c = 4;
		uint32_t g;

		CHECK_ERR(ww_GetWriteWatch(0, base, PS, a, &c, &g) == ~0u,
			  WW_ERROR_INVALID_PARAMETER);
		CHECK_EQ(c, 4);
	}
	CHECK_ERR(!ww_VirtualFree(base, 0, WW_MEM_RELEASE), WW_ERROR_INVALID_ADDRESS);

	/* Allocation at a chosen address, then a clash with it. */
	p = ww_VirtualAlloc(base, 4 * PS, WW_MEM_RESERVE | WW_MEM_COMMIT | WW_MEM_WRITE_WATCH,
			    WW_PAGE_READWRITE);
	CHECK(p == base);
	EXPECT_NONE(p, 4);
	CHECK_ERR(!ww_VirtualAlloc(base + PS, PS, WW_MEM_RESERVE, WW_PAGE_READWRITE),
		  WW_ERROR_INVALID_ADDRESS);
	CHECK(ww_VirtualFree(p, 0, WW_MEM_RELEASE));

	printf("ok: %s: VirtualAlloc/VirtualFree\n", argv[1]);
	return 0;
}
