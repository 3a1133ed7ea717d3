/* SPDX-License-Identifier: MIT */
/*
 * Regression (issue 16, item 2): on mprotect, at vm.max_map_count a first
 * write needs a VMA split to make its page writable; the fallback that makes
 * the whole span writable needed a split too when a neighbouring tracked
 * range shared the span's VMA, failed, and the fault fell to SIG_DFL. Here
 * three adjacent ranges share one VMA; the process's VMA count is then filled
 * to the limit with one-page mappings (this process only: the sysctl is not
 * touched), and a page in the middle of the second range is written (with
 * a tracked range on each side, its span needs two splits). The
 * write must go through; once the count is back, the page is reported and
 * re-armed tracking is exact again. On every backend.
 */
#include <string.h>
#include <sys/mman.h>

#include "harness.h"

#define NP 16
#define MAXFILL (1 << 21)

static void *fill[MAXFILL];

int main(int argc, char **argv)
{
	struct ww_tracker *t = harness_open(argc, argv);
	char *m = harness_map(3 * NP);
	struct iovec out[3 * NP];
	bool dirty[3 * NP];
	size_t nfill = 0, n;

	CHECK_EQ(ww_track(t, m, NP * PS), 0);
	CHECK_EQ(ww_track(t, m + NP * PS, NP * PS), 0);
	CHECK_EQ(ww_track(t, m + 2 * NP * PS, NP * PS), 0);
	/* alternate protections so that neighbours never merge */
	while (nfill < MAXFILL) {
		void *p = mmap(NULL, PS, nfill % 2 ? PROT_READ : PROT_NONE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

		if (p == MAP_FAILED)
			break;
		fill[nfill++] = p;
	}
	CHECK(nfill < MAXFILL);
	/* at the limit: this write needs the backend to cope without a split */
	m[NP * PS + 5 * PS] = 1;
	m[NP * PS + 9 * PS] = 1;
	m[2 * PS] = 1;
	while (nfill)
		munmap(fill[--nfill], PS);
	n = harness_collect_all(t, m, 3 * NP * PS, WW_RESET, out, 3 * NP);
	harness_pages(out, n, m, 3 * NP, dirty);
	CHECK(dirty[NP + 5] && dirty[NP + 9] && dirty[2]);
	m[NP * PS + 7 * PS] = 1;
	n = harness_collect_all(t, m, 3 * NP * PS, WW_RESET, out, 3 * NP);
	CHECK_EQ(n, 1);
	CHECK(out[0].iov_base == m + NP * PS + 7 * PS && out[0].iov_len == PS);
	ww_close(t);
	printf("ok: %s: writes at vm.max_map_count go through and are reported\n", argv[1]);
	return 0;
}
