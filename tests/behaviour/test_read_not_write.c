/* SPDX-License-Identifier: MIT */
/*
 * A read is never reported as a write, whatever the kernel maps on a read
 * fault. Some kernels map the shared zero page when untouched anonymous
 * memory is read; others (pvm_no_zero_page, s390 guests) allocate a fresh
 * page, which is present and not write-protected like a written one
 * (regression: pagemap-scan reported such reads as writes, in whole 2 MiB
 * stretches, where it had left holes unarmed). First the library's probe
 * (ww_kernel_facts) is checked against an independent measure, the Rss of a
 * mapping after a read; then untouched pages are read in three kinds of
 * stretch: one with nothing populated, one partly populated, and one where a
 * transparent huge page may back the read. None may be reported; a write
 * among them must be, exactly (or in the unit ww_tracker_granularity gives).
 * Runs here (no zero page) and in the qemu kernels (zero page): the result
 * line says which.
 */
#include <string.h>
#include <sys/mman.h>

#include "harness.h"

#define STRETCH (2UL << 20)
#define MAXR 64

static struct iovec out[MAXR];

/* Rss in kB of the mapping that starts at addr, from /proc/self/smaps. */
static long rss_kb(const void *addr)
{
	FILE *f = fopen("/proc/self/smaps", "re");
	char line[512];
	bool in = false;
	long kb = -1;

	CHECK(f != NULL);
	while (fgets(line, sizeof(line), f)) {
		unsigned long s, e;

		if (sscanf(line, "%lx-%lx ", &s, &e) == 2 &&
		    strchr(line, '-') < strchr(line, ' ')) {
			in = s == (uintptr_t)addr;
			continue;
		}
		if (in && sscanf(line, "Rss: %ld kB", &kb) == 1)
			break;
	}
	fclose(f);
	return kb;
}

/* The kernel's answer, measured without the library: read one byte of a
 * fresh small-page mapping and see whether it now holds a page of its own. */
static bool kernel_maps_zero_page(void)
{
	char *m = mmap(NULL, 4 * PS, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	volatile char *v = m;
	long kb;

	CHECK(m != MAP_FAILED);
	madvise(m, 4 * PS, MADV_NOHUGEPAGE);
	(void)v[PS];
	kb = rss_kb(m);
	CHECK(kb >= 0);
	munmap(m, 4 * PS);
	return kb == 0;
}

static size_t pages_reported(size_t n)
{
	size_t p = 0;

	for (size_t i = 0; i < n; i++)
		p += out[i].iov_len / PS;
	return p;
}

/* The write at w is reported (collect with reset over the three stretches
 * at m): exactly one run holding it, no larger than the tracker's unit there,
 * where the backend is exact. */
static void write_reported(struct ww_tracker *t, char *m, char *w, bool exact)
{
	size_t n = harness_collect_all(t, m, 3 * STRETCH, WW_RESET, out, MAXR), unit = 0;

	CHECK(n >= 1);
	CHECK_EQ(ww_tracker_granularity(t, w, &unit), 0);
	if (exact) {
		CHECK_EQ(n, 1);
		CHECK((char *)out[0].iov_base <= w && w < (char *)out[0].iov_base + out[0].iov_len);
		CHECK(pages_reported(n) * PS <= unit);
	}
}

int main(int argc, char **argv)
{
	struct ww_tracker *t = harness_open(argc, argv);
	size_t len = 4 * STRETCH, n;
	unsigned int facts = 0;
	bool zero, exact = harness_has(WW_CAP_EXACT);
	char *raw, *m, *empty, *partly, *huge, *w;
	volatile char sink = 0;

	CHECK_EQ(ww_kernel_facts(&facts), 0);
	zero = kernel_maps_zero_page();
	/* The probe also looks at the huge zero page, so it may say "no" where
	 * small pages do get the zero page, never "yes" where they don't. */
	if (!zero)
		CHECK(!(facts & WW_FACT_ZERO_PAGE));

	/* Three 2 MiB-aligned stretches in one mapping, a guard after. */
	raw = mmap(NULL, len + STRETCH, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(raw != MAP_FAILED);
	m = (char *)(((uintptr_t)raw + STRETCH - 1) & ~(STRETCH - 1));
	empty = m;
	partly = m + STRETCH;
	huge = m + 2 * STRETCH;
	madvise(m, 2 * STRETCH, MADV_NOHUGEPAGE);
	madvise(huge, STRETCH, MADV_HUGEPAGE); /* may fail: no THP, fine */
	memset(partly + 8 * PS, 1, 4 * PS);

	CHECK_EQ(ww_track(t, m, 3 * STRETCH), 0);
	if (exact)
		CHECK_EQ(harness_collect_all(t, m, 3 * STRETCH, WW_RESET, out, MAXR), 0);
	else
		harness_collect_all(t, m, 3 * STRETCH, WW_RESET, out, MAXR);

	/* Reads of untouched pages in each kind of stretch. */
	for (size_t i = 0; i < 3; i++) {
		char *s = m + i * STRETCH;

		sink += s[0];
		sink += s[5 * PS + 7];
		sink += s[STRETCH - PS];
	}
	sink += partly[8 * PS]; /* a populated page, read */
	n = harness_collect_all(t, m, 3 * STRETCH, 0, out, MAXR);
	if (exact)
		CHECK_EQ(n, 0);

	/* A write among them is reported, and the reads still are not. */
	w = empty + 100 * PS;
	w[1] = 1;
	write_reported(t, m, w, exact);
	/* ...and in the huge-page stretch, where a write may fault in a THP:
	 * no more than the unit the tracker says. */
	w = huge + 300 * PS;
	sink += huge[200 * PS]; /* one more read first */
	w[0] = 1;
	write_reported(t, m, w, exact);
	if (exact) {
		/* re-armed: reading around it again reports nothing */
		sink += huge[301 * PS];
		sink += empty[101 * PS];
		CHECK_EQ(harness_collect_all(t, m, 3 * STRETCH, 0, out, MAXR), 0);
	}
	(void)sink;
	CHECK_EQ(ww_untrack(t, m, 3 * STRETCH), 0);
	ww_close(t);
	munmap(raw, len + STRETCH);
	printf("ok: %s: reads not reported as writes%s (read faults %s the zero page; "
	       "probe says %s)\n",
	       argv[1], exact ? "" : " (soft-dirty: coverage only, not exact by design)",
	       zero ? "map" : "do not map", facts & WW_FACT_ZERO_PAGE ? "zero page" : "none");
	return 0;
}
