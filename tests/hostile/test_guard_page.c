/* SPDX-License-Identifier: MIT */
/*
 * Regression (issue 16, item 15): on mprotect, a guard page the application
 * set PROT_NONE after tracking became readable after collect+reset (reset
 * re-protected it to the recorded protection without write) and writable
 * after ww_close (untrack restored the recorded read-write). A protection
 * the application sets after tracking is its own: collect, reset, untrack
 * and close must never loosen it. Checked in /proc/self/maps, on every
 * backend, for a page written before it was guarded and for a clean one.
 */
#include <string.h>
#include <sys/mman.h>

#include "harness.h"

#define NP 8

/* The permissions of the mapping holding p, as maps shows them ("rw-p"). */
static void perms_of(const char *p, char *perms)
{
	FILE *f = fopen("/proc/self/maps", "re");
	char line[512];

	CHECK(f != NULL);
	perms[0] = 0;
	while (fgets(line, sizeof(line), f)) {
		unsigned long a, b;
		char pr[8];

		if (sscanf(line, "%lx-%lx %7s", &a, &b, pr) == 3 && (uintptr_t)p >= a &&
		    (uintptr_t)p < b) {
			strcpy(perms, pr);
			break;
		}
	}
	fclose(f);
	CHECK(perms[0]);
}

static void check_none(const char *p)
{
	char perms[8];

	perms_of(p, perms);
	if (strncmp(perms, "---", 3)) {
		fprintf(stderr, "guard page at %p is %s, not ---\n", (void *)p, perms);
		exit(1);
	}
}

int main(int argc, char **argv)
{
	struct ww_tracker *t = harness_open(argc, argv);
	char *m = harness_map(NP);
	struct iovec out[NP];
	bool dirty[NP];
	size_t n;

	CHECK_EQ(ww_track(t, m, NP * PS), 0);
	m[2 * PS] = 1; /* written, then guarded */
	CHECK_EQ(mprotect(m + 2 * PS, PS, PROT_NONE), 0);
	CHECK_EQ(mprotect(m + 6 * PS, PS, PROT_NONE), 0); /* clean, guarded */
	n = harness_collect_all(t, m, NP * PS, WW_RESET, out, NP);
	harness_pages(out, n, m, NP, dirty);
	CHECK(dirty[2]); /* written before it was guarded */
	check_none(m + 2 * PS);
	check_none(m + 6 * PS);
	CHECK_EQ(ww_reset(t, m, NP * PS), 0);
	check_none(m + 2 * PS);
	check_none(m + 6 * PS);
	m[4 * PS] = 1; /* the rest is tracked as before */
	n = harness_collect_all(t, m, NP * PS, WW_RESET, out, NP);
	harness_pages(out, n, m, NP, dirty);
	CHECK(dirty[4]);
	for (size_t i = 0; i < NP; i++)
		CHECK(i == 4 || !dirty[i] || !harness_has(WW_CAP_EXACT));
	CHECK_EQ(ww_untrack(t, m, 4 * PS), 0);
	check_none(m + 2 * PS);
	ww_close(t); /* untracks the rest */
	check_none(m + 6 * PS);
	m[0] = m[5 * PS] = m[7 * PS] = 1; /* still writable */
	printf("ok: %s: guard pages set after tracking stay guard pages\n", argv[1]);
	return 0;
}
