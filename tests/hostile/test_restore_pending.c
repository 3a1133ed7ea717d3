/* SPDX-License-Identifier: MIT */
/*
 * Restore after a collect that could not hand out everything (second
 * hostile review). ww_collect with WW_RESET and a small max re-arms every
 * written page and keeps those it could not return for the next collect.
 * Pages written after a take and kept so were never handed to the caller:
 * once restored they hold what the caller last saw, and must read clean,
 * as they do without the small max. They stayed reported. A page written
 * before the take and not collected stays the caller's to see, restored or
 * not; a page handed out after its write is reported again after restore
 * (its content went back past the caller's reset).
 */
#include <string.h>

#include "harness.h"

#define PAGES 32

static void dirty_pages(struct ww_tracker *t, char *m, bool *dirty)
{
	struct iovec runs[PAGES];
	size_t n = harness_collect_all(t, m, PAGES * PS, 0, runs, PAGES);

	memset(dirty, 0, PAGES * sizeof(*dirty));
	harness_pages(runs, n, m, PAGES, dirty);
}

int main(int argc, char **argv)
{
	struct ww_tracker *t = harness_open(argc, argv);
	char *m = harness_map(PAGES);
	struct ww_snapshot *s;
	struct iovec out[PAGES];
	bool dirty[PAGES];
	void *next;

	memset(m, 1, PAGES * PS);
	CHECK_EQ(ww_track(t, m, PAGES * PS), 0);
	m[3 * PS] = 2; /* before the take, not collected */
	CHECK_EQ(ww_snapshot_take(t, m, PAGES * PS, 0, &s), 0);
	m[3 * PS] = 3;
	m[10 * PS] = 2;
	m[12 * PS] = 2;
	m[14 * PS] = 2;
	/* hands out page 3 only; 10, 12, 14 are kept for the next collect */
	CHECK_EQ(ww_collect(t, m, PAGES * PS, WW_RESET, out, 1, &next), 1);
	CHECK(out[0].iov_base == m + 3 * PS && out[0].iov_len == PS);
	m[20 * PS] = 2;
	CHECK_EQ(ww_collect(t, m + 20 * PS, PS, WW_RESET, out, 1, &next), 1); /* handed out */
	CHECK_EQ(ww_snapshot_restore(s), 5);
	CHECK(m[3 * PS] == 2 && m[10 * PS] == 1 && m[20 * PS] == 1);
	dirty_pages(t, m, dirty);
	for (int p = 0; p < PAGES; p++)
		if (dirty[p] != (p == 3 || p == 20)) {
			fprintf(stderr,
				"FAIL: page %d %s after restore (3: handed out after its "
				"write, then put back; 20: the same; 10, 12, 14: never "
				"handed out, put back to what the caller saw)\n",
				p, dirty[p] ? "reported" : "not reported");
			return 1;
		}

	/* a page written before the take and never collected stays reported
	 * after a restore put back its (written) take content */
	CHECK_EQ(ww_collect(t, m, PAGES * PS, WW_RESET, out, PAGES, &next), 2);
	ww_snapshot_free(s);
	m[5 * PS] = 2;
	CHECK_EQ(ww_snapshot_take(t, m, PAGES * PS, 0, &s), 0);
	m[5 * PS] = 3;
	m[6 * PS] = 3;
	CHECK_EQ(ww_snapshot_restore(s), 2);
	CHECK(m[5 * PS] == 2 && m[6 * PS] == 1);
	dirty_pages(t, m, dirty);
	for (int p = 0; p < PAGES; p++)
		CHECK_EQ(dirty[p], p == 5);
	ww_snapshot_free(s);
	ww_close(t);
	printf("ok: %s: pages kept by a collect with a small max read clean once restored\n",
	       argv[1]);
	return 0;
}
