/* SPDX-License-Identifier: MIT */
/* One write is one page; a write straddling two pages dirties both; adjacent
 * dirty pages come back as one run; runs are ascending with absolute
 * addresses. */
#include <string.h>

#include "harness.h"

int main(int argc, char **argv)
{
	struct ww_tracker *t = harness_open(argc, argv);
	size_t pages = 32;
	char *m = harness_map(pages);
	struct iovec out[32];
	void *next;
	ssize_t n;

	CHECK_EQ(ww_track(t, m, pages * PS), 0);

	m[5 * PS + 17] = 1;
	n = ww_collect(t, m, pages * PS, WW_RESET, out, 32, &next);
	CHECK_EQ(n, 1);
	CHECK(out[0].iov_base == m + 5 * PS);
	CHECK_EQ(out[0].iov_len, PS);

	/* a 4-byte write across the 9/10 page boundary */
	memcpy(m + 10 * PS - 2, "abcd", 4);
	n = ww_collect(t, m, pages * PS, WW_RESET, out, 32, &next);
	CHECK_EQ(n, 1);
	CHECK(out[0].iov_base == m + 9 * PS);
	CHECK_EQ(out[0].iov_len, 2 * PS);

	/* written in descending order, reported ascending and merged */
	for (int p = 20; p >= 16; p--)
		m[p * PS] = 2;
	m[30 * PS] = 3;
	m[2 * PS] = 3;
	n = ww_collect(t, m, pages * PS, WW_RESET, out, 32, &next);
	CHECK_EQ(n, 3);
	CHECK(out[0].iov_base == m + 2 * PS && out[0].iov_len == PS);
	CHECK(out[1].iov_base == m + 16 * PS && out[1].iov_len == 5 * PS);
	CHECK(out[2].iov_base == m + 30 * PS && out[2].iov_len == PS);
	CHECK(next == m + pages * PS);

	/* an unaligned, non-page-multiple range is expanded outward */
	m[7 * PS] = 4;
	n = ww_collect(t, m + 7 * PS + 100, 10, WW_RESET, out, 32, &next);
	CHECK_EQ(n, 1);
	CHECK(out[0].iov_base == m + 7 * PS && out[0].iov_len == PS);
	CHECK(next == m + 7 * PS + 110); /* addr+len exactly, as given */

	CHECK_EQ(ww_collect(t, m, pages * PS, 0, out, 32, &next), 0);
	ww_close(t);
	printf("ok: %s: single, straddling, merged, ascending\n", argv[1]);
	return 0;
}
