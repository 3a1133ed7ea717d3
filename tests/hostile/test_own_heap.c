/* SPDX-License-Identifier: MIT */
/*
 * Regression (issue 16, item 1): on mprotect, tracking a small malloc'd
 * buffer killed the process. The backend's span and bitmap were calloc'd on
 * the same heap, the page-rounded range covered them, and the SIGSEGV
 * handler wrote them with SIGSEGV blocked. Here: a small heap buffer and its
 * page neighbours are tracked, written, collected, untracked, on every
 * backend; then the library's own writable data (the mapping holding the
 * library's .data/.bss, found with dladdr) is tracked: either refused
 * (-EBUSY: the backend's own state is there) or tracked and working.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <string.h>
#include <sys/mman.h>

#include "harness.h"

/* The writable mapping of the object holding ww_open (the library, or the
 * executable in a static build) that holds addr's neighbour .data: the
 * first rw-p mapping with the same path. */
static int own_data(uintptr_t *s, uintptr_t *e)
{
	Dl_info di;
	char line[512], path[400];
	FILE *f;
	int found = 0;

	if (!dladdr((void *)ww_open, &di) || !di.dli_fname)
		return 0;
	f = fopen("/proc/self/maps", "re");
	CHECK(f != NULL);
	while (!found && fgets(line, sizeof(line), f)) {
		unsigned long a, b;
		char perms[8];

		path[0] = 0;
		if (sscanf(line, "%lx-%lx %7s %*s %*s %*s %399s", &a, &b, perms, path) < 3)
			continue;
		if (strcmp(perms, "rw-p") == 0 && strstr(path, "writewatch")) {
			*s = a;
			*e = b;
			found = 1;
		}
	}
	fclose(f);
	return found;
}

int main(int argc, char **argv)
{
	struct ww_tracker *t = harness_open(argc, argv);
	struct iovec out[64];
	uintptr_t s, e;
	char *buf = calloc(1, 100);
	size_t n;
	bool seen = false;
	int r;

	CHECK(buf != NULL);
	CHECK_EQ(ww_track(t, buf, 100), 0);
	memset(buf, 7, 100);
	n = harness_collect_all(t, buf, 100, WW_RESET, out, 64);
	for (size_t i = 0; i < n; i++)
		seen |= (char *)out[i].iov_base <= buf &&
			(char *)out[i].iov_base + out[i].iov_len > buf;
	CHECK(seen);
	/* the heap goes on working while tracked: the library allocates */
	for (int i = 0; i < 100; i++)
		free(malloc(64 + (size_t)i));
	buf[50] = 1;
	CHECK(harness_collect_all(t, buf, 100, WW_RESET, out, 64) >= 1);
	CHECK_EQ(ww_untrack(t, buf, 100), 0);
	free(buf);

	if (own_data(&s, &e)) {
		r = ww_track(t, (void *)s, e - s);
		if (harness_backend == WW_BACKEND_MPROTECT)
			CHECK(r == 0 || r == -EBUSY);
		else
			CHECK(r == 0 || r == -EBUSY || r == -EOPNOTSUPP);
		if (r == 0) {
			harness_collect_all(t, (void *)s, e - s, WW_RESET, out, 64);
			CHECK_EQ(ww_untrack(t, (void *)s, e - s), 0);
		}
		printf("library data %#lx-%#lx: %s\n", (unsigned long)s, (unsigned long)e,
		       r ? strerror(-r) : "tracked");
	}
	ww_close(t);
	printf("ok: %s: heap buffer tracked and written\n", argv[1]);
	return 0;
}
