/* SPDX-License-Identifier: MIT */
/*
 * Regression: on mprotect, the backend's own state lives in mappings that
 * must never sit inside a tracked range (a later collect+reset would protect
 * them, and the handler would die writing them). The kernel puts a new
 * mapping in the hole a tracked range left when the application unmapped
 * it; the backend refused such a place only 8 times, then failed with
 * ENOMEM: ww_untrack of a range shrunk by mremap returned -ENOMEM on Linux
 * 6.1 (life/mremap-shrink/mprotect in the VM). Here a tracked range loses
 * its upper 8 pages, then tracking and untracking other memory (each call
 * makes the backend map new state), collecting and untracking must all
 * work, on every backend.
 */
#include <string.h>
#include <sys/mman.h>

#include "harness.h"

#define NP 16

int main(int argc, char **argv)
{
	struct ww_tracker *t = harness_open(argc, argv);
	char *m = harness_map(NP);
	struct iovec out[NP];
	char *other[32];

	/* mapped first: a mapping of the application's own in the hole would
	 * be refused, rightly (-EEXIST: the hole is still tracked) */
	for (int i = 0; i < 32; i++)
		other[i] = harness_map(1);
	CHECK_EQ(ww_track(t, m, NP * PS), 0);
	CHECK_EQ(munmap(m + NP / 2 * PS, NP / 2 * PS), 0);
	for (int i = 0; i < 32; i++) {
		char *o = other[i];

		CHECK_EQ(ww_track(t, o, PS), 0);
		o[0] = 1;
		CHECK_EQ(harness_collect_all(t, o, PS, WW_RESET, out, NP), 1);
		CHECK_EQ(ww_untrack(t, o, PS), 0);
	}
	m[3 * PS] = 1;
	CHECK_EQ(harness_collect_all(t, m, NP / 2 * PS, WW_RESET, out, NP), 1);
	CHECK(out[0].iov_base == m + 3 * PS);
	CHECK_EQ(ww_untrack(t, m, NP * PS), 0);
	memset(m, 2, NP / 2 * PS);
	ww_close(t);
	printf("ok: %s: the backend's state stays out of a tracked range's hole\n", argv[1]);
	return 0;
}
