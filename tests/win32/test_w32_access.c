/* SPDX-License-Identifier: MIT */
/*
 * Reads never dirty a page; a write straddling two pages dirties both.
 */
#include "w32.h"

int main(int argc, char **argv)
{
	const size_t N = 8;
	char *base;
	unsigned long sum = 0;
	uint32_t v = 0xdeadbeef;
	uint64_t w = 0x0123456789abcdefULL;

	w32_setup(argc, argv);
	base = ww_VirtualAlloc(NULL, N * PS, WW_MEM_RESERVE | WW_MEM_COMMIT | WW_MEM_WRITE_WATCH,
			       WW_PAGE_READWRITE);
	CHECK(base);

	for (size_t i = 0; i < N * PS; i++)
		sum += ((volatile unsigned char *)base)[i];
	CHECK_EQ(sum, 0);
	EXPECT_NONE(base, N);

	/* Written then reset pages read back their data without dirtying. */
	memset(base + PS, 3, 2 * PS);
	CHECK_EQ(ww_ResetWriteWatch(base, N * PS), 0);
	for (size_t i = PS; i < 3 * PS; i++)
		sum += ((volatile unsigned char *)base)[i];
	CHECK_EQ(sum, 3 * 2 * PS);
	EXPECT_NONE(base, N);

	/* Straddling writes: 4 bytes across 1|2, 8 bytes across 5|6. */
	memcpy((void *)(base + 2 * PS - 2), &v, sizeof(v));
	memcpy((void *)(base + 6 * PS - 3), &w, sizeof(w));
	EXPECT(base, N, 1, 2, 5, 6);

	CHECK(ww_VirtualFree(base, 0, WW_MEM_RELEASE));
	printf("ok: %s: reads clean, straddling writes dirty both pages\n", argv[1]);
	return 0;
}
