/* SPDX-License-Identifier: MIT */
/*
 * A program written only against DESIGN.md's contract and the installed
 * header, built with `pkg-config --cflags --libs writewatch`. It must work
 * unchanged on every backend (WRITEWATCH_BACKEND selects one for AUTO).
 * Exit 0 pass, 1 fail.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#include <writewatch.h>

#define FAIL(...) (fprintf(stderr, "contract: " __VA_ARGS__), fputc('\n', stderr), exit(1))

int main(void)
{
	size_t ps = (size_t)sysconf(_SC_PAGESIZE), n = 256;
	struct ww_opts o = { .sz = sizeof(o), .backend = WW_BACKEND_AUTO };
	struct ww_tracker *t;
	struct iovec out[8];
	void *next;
	char *m = mmap(NULL, n * ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ssize_t r;

	if (m == MAP_FAILED || ww_open(&o, &t))
		FAIL("open: %s", strerror(errno));
	if (ww_track(t, m, n * ps))
		FAIL("track: %s", strerror(errno));
	for (size_t i = 0; i < n; i += 16)
		m[i * ps] = 1;
	size_t seen = 0;
	for (char *p = m; p < m + n * ps; p = next) {
		r = ww_collect(t, p, (size_t)(m + n * ps - p), WW_RESET, out, 8, &next);
		if (r < 0)
			FAIL("collect: %s", strerror(errno));
		for (ssize_t i = 0; i < r; i++)
			seen += out[i].iov_len / ps;
	}
	if (seen != n / 16)
		FAIL("saw %zu written pages, wrote %zu", seen, n / 16);
	if (ww_collect(t, m, n * ps, 0, out, 8, NULL) != 0)
		FAIL("pages still written after WW_RESET");
	/* DESIGN.md's snapshots: restore puts back exactly what changed */
	{
		struct ww_snapshot *s;
		char c = 0;

		if (ww_snapshot_take(t, m, n * ps, 0, &s))
			FAIL("snapshot take: %s", strerror(errno));
		m[3 * ps] = 'x';
		m[200 * ps + 7] = 'y';
		bool exact = ww_tracker_caps(t) & WW_CAP_EXACT;

		r = ww_snapshot_restore(s);
		if ((exact ? r != 2 : r < 2) || m[3 * ps] != 0 || m[200 * ps + 7] != 0)
			FAIL("snapshot restore: %zd, want 2 pages put back", r);
		if (ww_snapshot_read(s, m + 16 * ps, 1, &c) != 1 || c != 1)
			FAIL("snapshot read");
		ww_snapshot_free(s);
	}
	if (ww_untrack(t, m, n * ps) || ww_collect(t, m, ps, 0, out, 8, NULL) != -ENOENT)
		FAIL("untrack");
	printf("contract ok on %s\n", ww_backend_name(ww_tracker_backend(t)));
	ww_close(t);
	return 0;
}
