/* SPDX-License-Identifier: MIT */
/*
 * More separate dirty runs than vm.max_map_count allows mappings: every other
 * page of a range large enough to need more VMAs than the limit if each dirty
 * page became its own mapping (the mprotect backend's weak spot). Every
 * written page must be reported (the mprotect backend may then report extra
 * pages, documented; the others exactly), the process must not crash, and
 * after reset the written pages must be reported again when rewritten.
 * Under emulation (WW_TEST_SLOW set, as in the qemu run of tests/vm), the
 * backends that never split mappings check exactness on 8,192 runs instead:
 * there the limit is only the mprotect backend's concern.
 */
#include <string.h>

#include "harness.h"

static size_t max_map_count(void)
{
	FILE *f = fopen("/proc/sys/vm/max_map_count", "re");
	unsigned long v = 65530;

	if (f) {
		if (fscanf(f, "%lu", &v) != 1)
			v = 65530;
		fclose(f);
	}
	return v;
}

int main(int argc, char **argv)
{
	struct ww_tracker *t = harness_open(argc, argv);
	size_t limit = max_map_count(), pages = 2 * limit + 4096, runs, total = 0;
	char *m;
	struct iovec *out;
	bool *d;

	if (getenv("WW_TEST_SLOW") && !harness_has(WW_CAP_PROTECTS))
		pages = 2 * 8192 + 1;
	if (limit > 1 << 20) {
		printf("SKIP: vm.max_map_count is %zu: too many pages to exceed it here\n", limit);
		return SKIP;
	}
	m = harness_map(pages);
	out = calloc(pages, sizeof(*out));
	d = calloc(pages, sizeof(*d));
	CHECK(out && d);
	CHECK_EQ(ww_track(t, m, pages * PS), 0);
	for (size_t i = 0; i < pages; i += 2)
		m[i * PS] = 1;
	runs = harness_collect_all(t, m, pages * PS, WW_RESET, out, pages);
	harness_pages(out, runs, m, pages, d);
	for (size_t i = 0; i < pages; i++) {
		if (i % 2 == 0)
			CHECK(d[i]); /* never a missing page */
		else if (!harness_has(WW_CAP_PROTECTS))
			CHECK(!d[i]); /* exact, except where documented */
		total += d[i];
	}
	/* still tracking after all that: a rewrite is reported again */
	m[10 * PS] = 2;
	runs = harness_collect_all(t, m, pages * PS, WW_RESET, out, pages);
	harness_pages(out, runs, m, pages, d);
	CHECK(d[10]);
	if (!harness_has(WW_CAP_PROTECTS))
		CHECK_EQ(runs, 1);
	ww_close(t);
	free(out);
	free(d);
	printf("ok: %s: %zu pages written in %zu separate runs (vm.max_map_count %zu): %zu "
	       "reported\n",
	       argv[1], (pages + 1) / 2, (pages + 1) / 2, limit, total);
	return 0;
}
