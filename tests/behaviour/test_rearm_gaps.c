/* SPDX-License-Identifier: MIT */
/*
 * Written runs a few pages apart, re-armed together: uffd-wp re-protects
 * runs up to a few pages apart by one call over the stretch that holds them
 * (the pages between are armed already). For every spacing either side of
 * that limit, and through ww_collect(WW_RESET) and ww_reset: the runs' pages
 * are reported and come back clean, the pages between stay armed (a write
 * there is reported) and clean (never reported unwritten), and a page
 * discarded among the runs is reported where the backend sees discards.
 */
#include <stdarg.h>
#include <string.h>
#include <sys/mman.h>

#include "harness.h"

#define PAGES 512

static struct iovec out[PAGES];
static bool d[PAGES];

static void fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

/* Collect [m, m + PAGES) with flags into d; check d against want. */
static void expect(struct ww_tracker *t, char *m, unsigned int flags, const bool *want, size_t k)
{
	size_t n = harness_collect_all(t, m, PAGES * PS, flags, out, PAGES);

	harness_pages(out, n, m, PAGES, d);
	for (size_t i = 0; i < PAGES; i++) {
		if (want[i] && !d[i])
			fail("every %zu: page %zu written, not reported", k, i);
		/* mprotect may report more: documented (writewatch(7)) */
		if (!want[i] && d[i] && !harness_has(WW_CAP_PROTECTS))
			fail("every %zu: page %zu reported, not written", k, i);
	}
}

/* The pages between the runs were armed all along, and the runs are
 * armed again: each is seen when written, and only then. */
static void gaps_then_runs(struct ww_tracker *t, char *m, const bool *runs, const bool *gaps,
			   size_t k)
{
	for (size_t i = 0; i < PAGES; i++)
		if (gaps[i])
			m[i * PS]++;
	expect(t, m, WW_RESET, gaps, k);
	for (size_t i = 0; i < PAGES; i += k) /* re-armed: seen again */
		m[i * PS]++;
	expect(t, m, WW_RESET, runs, k);
}

int main(int argc, char **argv)
{
	struct ww_tracker *t = harness_open(argc, argv);
	char *m = harness_map(PAGES);
	bool runs[PAGES], gaps[PAGES], none[PAGES] = { false };

	CHECK_EQ(ww_track(t, m, PAGES * PS), 0);
	for (size_t k = 2; k <= 9; k++) {
		for (size_t i = 0; i < PAGES; i++) {
			runs[i] = i % k == 0;
			gaps[i] = !runs[i];
		}
		/* collect with WW_RESET: the runs, then the pages between */
		for (size_t i = 0; i < PAGES; i += k)
			m[i * PS]++;
		expect(t, m, WW_RESET, runs, k);
		expect(t, m, 0, none, k);
		gaps_then_runs(t, m, runs, gaps, k);
		/* ww_reset: the same */
		for (size_t i = 0; i < PAGES; i += k)
			m[i * PS]++;
		CHECK_EQ(ww_reset(t, m, PAGES * PS), 0);
		expect(t, m, 0, none, k);
		gaps_then_runs(t, m, runs, gaps, k);
		/* a page discarded among the runs, then re-armed with them */
		if (!harness_has(WW_CAP_DISCARDS))
			continue;
		for (size_t i = 0; i < PAGES; i += k)
			m[i * PS]++;
		CHECK_EQ(madvise(m + (k + 1) * PS, PS, MADV_DONTNEED), 0);
		runs[k + 1] = true;
		expect(t, m, WW_RESET, runs, k);
		expect(t, m, 0, none, k);
		m[(k + 1) * PS] = 1;
		memset(runs, 0, sizeof(runs));
		runs[k + 1] = true;
		expect(t, m, WW_RESET, runs, k);
	}
	ww_close(t);
	printf("ok: %s: runs every 2 to 9 pages re-armed exactly, the pages between armed\n",
	       argv[1]);
	return 0;
}
