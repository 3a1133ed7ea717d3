/* SPDX-License-Identifier: MIT */
/* 1,024 separate dirty runs collected with max = 7 reach the end through
 * *next, see every page exactly once, and reset all of them. */
#include <string.h>

#include "harness.h"

#define RUNS 1024

int main(int argc, char **argv)
{
	struct ww_tracker *t = harness_open(argc, argv);
	size_t pages = 2 * RUNS + 1;
	char *m = harness_map(pages), *p = m, *end = m + pages * PS;
	unsigned char *seen = calloc(pages, 1);
	struct iovec out[7];
	size_t calls = 0, total = 0;

	CHECK_EQ(ww_track(t, m, pages * PS), 0);
	for (size_t r = 0; r < RUNS; r++)
		m[(2 * r + 1) * PS] = 1; /* odd pages: runs never merge */

	while (p < end) {
		void *next = NULL;
		ssize_t n = ww_collect(t, p, (size_t)(end - p), WW_RESET, out, 7, &next);

		CHECK(n >= 0 && n <= 7);
		CHECK(next != NULL && (char *)next > p && (char *)next <= end);
		if ((char *)next < end)
			CHECK_EQ(n, 7); /* it only stops early when out is full */
		for (ssize_t i = 0; i < n; i++) {
			size_t pg = (size_t)((char *)out[i].iov_base - m) / PS;

			CHECK_EQ(out[i].iov_len, PS);
			CHECK((char *)out[i].iov_base >= p &&
			      (char *)out[i].iov_base < (char *)next);
			CHECK_EQ(seen[pg], 0);
			seen[pg] = 1;
			total++;
		}
		p = next;
		calls++;
	}
	CHECK_EQ(total, RUNS);
	for (size_t r = 0; r < RUNS; r++)
		CHECK_EQ(seen[2 * r + 1], 1);
	CHECK(calls >= RUNS / 7);
	{
		void *next;

		CHECK_EQ(ww_collect(t, m, pages * PS, 0, out, 7, &next), 0);
		CHECK(next == end);
	}
	free(seen);
	ww_close(t);
	printf("ok: %s: %zu runs in %zu calls of max 7\n", argv[1], total, calls);
	return 0;
}
