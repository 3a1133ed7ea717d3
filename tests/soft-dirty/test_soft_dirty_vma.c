/* SPDX-License-Identifier: MIT */
/* soft-dirty's documented false positives: after the application changes
 * the VMAs of a tracked range (mprotect splits, mremap in place, a new
 * mapping over part of it), whole VMAs may read dirty. The promise tested
 * here is "extra pages only, never missing pages": every page written is
 * reported, and a reset afterwards makes the range exact again. Runs only
 * where soft-dirty works. */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "harness.h"

#define PAGES 32

static void check_superset(struct ww_tracker *t, char *m, const bool *written)
{
	struct iovec out[PAGES];
	bool dirty[PAGES];
	size_t n = harness_collect_all(t, m, PAGES * PS, WW_RESET, out, PAGES), extra = 0;

	harness_pages(out, n, m, PAGES, dirty);
	for (size_t p = 0; p < PAGES; p++) {
		if (written[p])
			CHECK(dirty[p]); /* never missing */
		else if (dirty[p])
			extra++;
	}
	printf("  %zu extra pages reported\n", extra);
	/* after the reset the range is exact again */
	CHECK_EQ(ww_collect(t, m, PAGES * PS, 0, out, PAGES, NULL), 0);
}

int main(int argc, char **argv)
{
	char *av[] = { argv[0], "soft-dirty", NULL };
	struct ww_tracker *t = harness_open(2, av);
	char *m = harness_map(PAGES);
	bool written[PAGES] = { 0 };

	(void)argc;
	CHECK_EQ(ww_track(t, m, PAGES * PS), 0);

	/* mprotect splits the VMA in three and back */
	CHECK_EQ(mprotect(m + 8 * PS, 8 * PS, PROT_READ), 0);
	CHECK_EQ(mprotect(m + 8 * PS, 8 * PS, PROT_READ | PROT_WRITE), 0);
	m[3 * PS] = m[9 * PS] = 1;
	written[3] = written[9] = true;
	check_superset(t, m, written);

	/* a fresh mapping over part of the range (MAP_FIXED) */
	memset(written, 0, sizeof(written));
	CHECK(mmap(m + 20 * PS, 4 * PS, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == m + 20 * PS);
	m[21 * PS] = 2;
	m[30 * PS] = 2;
	written[21] = written[30] = true;
	check_superset(t, m, written);

	/* MADV_DONTNEED drops pages; writing them again must show */
	memset(written, 0, sizeof(written));
	CHECK_EQ(madvise(m, 8 * PS, MADV_DONTNEED), 0);
	m[1 * PS] = 3;
	written[1] = true;
	check_superset(t, m, written);
	/* a transparent huge page (where THP is on): one write may report
	 * all of its 512 pages, never fewer than the one written */
	{
		size_t huge = 2 << 20, len = 2 * huge, np = len / PS, n, extra = 0;
		char *raw = mmap(NULL, len + huge, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		char *h = (char *)(((uintptr_t)raw + huge - 1) & ~(uintptr_t)(huge - 1));
		struct iovec *out = calloc(np, sizeof(*out));
		bool *dirty = calloc(np, 1);

		CHECK(raw != MAP_FAILED && out && dirty);
		madvise(h, len, MADV_HUGEPAGE); /* best effort */
		memset(h, 1, len);
		CHECK_EQ(ww_track(t, h, len), 0);
		h[huge + 3 * PS] = 2;
		n = harness_collect_all(t, h, len, WW_RESET, out, np);
		harness_pages(out, n, h, np, dirty);
		CHECK(dirty[huge / PS + 3]);
		for (size_t p = 0; p < np; p++)
			extra += dirty[p] && p != huge / PS + 3;
		printf("  huge page: %zu extra pages reported\n", extra);
		CHECK_EQ(ww_collect(t, h, len, 0, out, np, NULL), 0);
		free(out);
		free(dirty);
	}
	ww_close(t);
	printf("ok: soft-dirty: VMA changes give extra pages only, never missing ones\n");
	return 0;
}
