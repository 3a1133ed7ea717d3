/* SPDX-License-Identifier: MIT */
/*
 * Regression (issue 16, item 3): memory that was PROT_NONE or PROT_READ when
 * tracked and made writable later by the application (a reserve-then-commit
 * allocator) was never reported on mprotect: its writes cannot fault, and
 * the check for pages made writable behind the tracker's back skipped pages
 * whose recorded protection lacked write. Written pages must be reported on
 * every backend (mprotect reports the committed pages as a whole, as it
 * cannot see their writes), and once re-armed, writes are seen one by one.
 */
#include <string.h>
#include <sys/mman.h>

#include "harness.h"

#define NP 16

static void one(struct ww_tracker *t, int prot0)
{
	char *m = mmap(NULL, NP * PS, prot0, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct iovec out[NP];
	bool dirty[NP];
	size_t n;

	CHECK(m != MAP_FAILED);
	CHECK_EQ(ww_track(t, m, NP * PS), 0);
	/* commit the first half, write one page of it */
	CHECK_EQ(mprotect(m, NP / 2 * PS, PROT_READ | PROT_WRITE), 0);
	m[3 * PS] = 1;
	n = harness_collect_all(t, m, NP * PS, WW_RESET, out, NP);
	harness_pages(out, n, m, NP, dirty);
	CHECK(dirty[3]);
	for (size_t i = NP / 2; i < NP; i++)
		CHECK(!dirty[i]); /* not committed: not writable, not written */
	/* re-armed: exact now */
	m[5 * PS] = 1;
	n = harness_collect_all(t, m, NP * PS, WW_RESET, out, NP);
	CHECK_EQ(n, 1);
	CHECK(out[0].iov_base == m + 5 * PS && out[0].iov_len == PS);
	/* the rest committed later, after a reset */
	CHECK_EQ(mprotect(m + NP / 2 * PS, NP / 2 * PS, PROT_READ | PROT_WRITE), 0);
	m[12 * PS] = 1;
	n = harness_collect_all(t, m, NP * PS, WW_RESET, out, NP);
	harness_pages(out, n, m, NP, dirty);
	CHECK(dirty[12]);
	for (size_t i = 0; i < NP / 2; i++)
		CHECK(!dirty[i]);
	m[13 * PS] = 1;
	CHECK_EQ(harness_collect_all(t, m, NP * PS, WW_RESET, out, NP), 1);
	CHECK(out[0].iov_base == m + 13 * PS);
	CHECK_EQ(ww_untrack(t, m, NP * PS), 0);
	memset(m, 2, NP * PS); /* writable, as the application left it */
	munmap(m, NP * PS);
}

int main(int argc, char **argv)
{
	struct ww_tracker *t = harness_open(argc, argv);

	one(t, PROT_NONE);
	one(t, PROT_READ);
	ww_close(t);
	printf("ok: %s: memory committed after tracking is reported\n", argv[1]);
	return 0;
}
