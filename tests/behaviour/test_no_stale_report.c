/* SPDX-License-Identifier: MIT */
/*
 * Regression: the uffd-wp handler once recorded a page a second time after
 * un-protecting it, so a collect+reset that ran in between (the writer
 * resumes at once) was followed by a report of a page nobody wrote since.
 * Here one write is followed by collect+reset (exactly that page) and a
 * plain collect (nothing), thousands of times: any stale report fails.
 */
#include "harness.h"

int main(int argc, char **argv)
{
	struct ww_tracker *t = harness_open(argc, argv);
	size_t pages = 64, rounds = 3000;
	char *m = harness_map(pages);
	struct iovec out[4];
	uint64_t seed = 88172645463325252ULL;
	void *next;

	CHECK_EQ(ww_track(t, m, pages * PS), 0);
	for (size_t i = 0; i < rounds; i++) {
		size_t p;

		seed ^= seed << 13;
		seed ^= seed >> 7;
		seed ^= seed << 17;
		p = seed % pages;
		m[p * PS + i % PS]++; /* a new value: a mechanism may compare content */
		CHECK_EQ(ww_collect(t, m, pages * PS, WW_RESET, out, 4, &next), 1);
		CHECK(out[0].iov_base == m + p * PS && out[0].iov_len == PS);
		CHECK_EQ(ww_collect(t, m, pages * PS, 0, out, 4, &next), 0);
	}
	ww_close(t);
	printf("ok: %s: %zu write/collect rounds, no stale report\n", argv[1], rounds);
	return 0;
}
