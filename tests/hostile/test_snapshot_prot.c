/* SPDX-License-Identifier: MIT */
/*
 * Snapshots over memory whose protection the application changed (second
 * hostile review): a take over a PROT_NONE guard page, a restore into a
 * page made read-only, and a copy-before-write snapshot read, untracked or
 * closed over a page made PROT_NONE each killed the process (SIGSEGV in
 * the library's own copy). Now: a take over unreadable memory is refused
 * (EACCES) with nothing changed; a restore into memory not writable is
 * refused (EACCES) with nothing written, and works once it is writable
 * again; a COW snapshot's unsaved page that is unreadable reads EACCES,
 * and is lost (ENODATA) once the range is untracked or the tracker closed.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include "harness.h"

#define PAGES 8

int main(int argc, char **argv)
{
	struct ww_tracker *t = harness_open(argc, argv);
	char *m = harness_map(PAGES), *buf = malloc(PAGES * PS);
	struct ww_snapshot *s;
	struct iovec out[8];
	void *next;

	CHECK(buf);
	memset(m, 'A', PAGES * PS);
	CHECK_EQ(ww_track(t, m, PAGES * PS), 0);
	CHECK_EQ(ww_collect(t, m, PAGES * PS, WW_RESET, out, 8, &next) >= 0, 1);

	/* a range reaching past the tracked one into a guard page: the range
	 * error (ENOENT) is named, not the guard page's protection */
	{
		char *g = mmap(NULL, 3 * PS, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			       -1, 0);

		CHECK(g != MAP_FAILED);
		memset(g, 'g', 2 * PS);
		CHECK_EQ(mprotect(g + 2 * PS, PS, PROT_NONE), 0);
		CHECK_EQ(ww_track(t, g, 2 * PS), 0);
		CHECK_EQ(ww_snapshot_take(t, g, 3 * PS, 0, &s), -ENOENT);
		CHECK(s == NULL);
		CHECK_EQ(ww_untrack(t, g, 2 * PS), 0);
		CHECK_EQ(munmap(g, 3 * PS), 0);
	}

	/* take over a guard page: refused, the caller's write still its own */
	m[1 * PS] = 'b';
	CHECK_EQ(mprotect(m + 4 * PS, PS, PROT_NONE), 0);
	CHECK_EQ(ww_snapshot_take(t, m, PAGES * PS, 0, &s), -EACCES);
	CHECK(s == NULL);
	CHECK_EQ(mprotect(m + 4 * PS, PS, PROT_READ | PROT_WRITE), 0);
	{
		int n = ww_collect(t, m, PAGES * PS, WW_RESET, out, 8, &next);

		/* mprotect sees the guard page made writable again as written
		 * (writewatch(7)); the others report exactly the write */
		CHECK(n >= 1 && out[0].iov_base == m + PS && out[0].iov_len == PS);
		if (!(ww_tracker_caps(t) & WW_CAP_PROTECTS))
			CHECK_EQ(n, 1);
	}

	/* restore into a page made read-only after its write: refused,
	 * nothing written; once writable again, restored */
	CHECK_EQ(ww_snapshot_take(t, m, PAGES * PS, 0, &s), 0);
	m[2 * PS] = 'c';
	m[6 * PS] = 'c';
	/* not on mprotect, which keeps re-armed pages read-only itself and
	 * cannot tell the application's protection from its own there */
	if (!(ww_tracker_caps(t) & WW_CAP_PROTECTS)) {
		CHECK_EQ(mprotect(m + 6 * PS, PS, PROT_READ), 0);
		CHECK_EQ(ww_snapshot_restore(s), -EACCES);
		CHECK(m[2 * PS] == 'c' && m[6 * PS] == 'c');
		CHECK_EQ(mprotect(m + 6 * PS, PS, PROT_READ | PROT_WRITE), 0);
	}
	CHECK_EQ(ww_snapshot_restore(s), 2);
	CHECK(m[2 * PS] == 'A' && m[6 * PS] == 'A');
	ww_snapshot_free(s);

	/* no descriptor left to read the mappings with (before 6.11 they are
	 * parsed from a file opened each time): refused, never a copy from
	 * the guard page (a SIGSEGV) */
	{
		struct rlimit rl, low;
		int fds[256], nfd = 0, r;

		CHECK_EQ(getrlimit(RLIMIT_NOFILE, &rl), 0);
		low = rl;
		low.rlim_cur = 256;
		CHECK_EQ(setrlimit(RLIMIT_NOFILE, &low), 0);
		CHECK_EQ(mprotect(m + 4 * PS, PS, PROT_NONE), 0);
		while (nfd < 256 && (fds[nfd] = dup(0)) >= 0)
			nfd++;
		CHECK(nfd < 256 && errno == EMFILE);
		r = ww_snapshot_take(t, m, PAGES * PS, 0, &s);
		while (nfd > 0)
			close(fds[--nfd]);
		CHECK_EQ(setrlimit(RLIMIT_NOFILE, &rl), 0);
		CHECK(r == -EACCES || r == -EMFILE);
		CHECK(s == NULL);
		CHECK_EQ(mprotect(m + 4 * PS, PS, PROT_READ | PROT_WRITE), 0);
	}

	/* a page of tracked memory unmapped by the application: a take over
	 * it is refused (EFAULT), and so is a restore there, nothing written */
	{
		char *h = harness_map(4);
		struct ww_snapshot *s2;
		ssize_t r;

		memset(h, 'h', 4 * PS);
		CHECK_EQ(ww_track(t, h, 4 * PS), 0);
		CHECK_EQ(ww_snapshot_take(t, h, 4 * PS, 0, &s), 0);
		h[0] = 'x';
		h[2 * PS] = 'x';
		CHECK_EQ(munmap(h + 2 * PS, PS), 0);
		CHECK_EQ(ww_snapshot_take(t, h, 4 * PS, 0, &s2), -EFAULT);
		CHECK(s2 == NULL);
		r = ww_snapshot_restore(s);
		if (r != -EFAULT)
			fprintf(stderr, "restore over an unmapped page: %zd\n", r);
		CHECK_EQ(r, -EFAULT);
		CHECK(h[0] == 'x');
		ww_snapshot_free(s);
		ww_untrack(t, h, 4 * PS);
		munmap(h, 4 * PS);
	}

	if (!(ww_tracker_caps(t) & WW_CAP_PREWRITE)) {
		printf("ok: %s: take over PROT_NONE and restore into read-only memory refused "
		       "(EACCES); no copy-before-write here (WW_CAP_PREWRITE), COW part not run\n",
		       argv[1]);
		ww_close(t);
		free(buf);
		return 0;
	}

	/* COW: a page made unreadable after the take and never written */
	CHECK_EQ(ww_snapshot_take(t, m, PAGES * PS, WW_SNAP_COW, &s), 0);
	m[0] = 'd';
	CHECK_EQ(mprotect(m + 3 * PS, PS, PROT_NONE), 0);
	CHECK_EQ(ww_snapshot_read(s, m, PAGES * PS, buf), -EACCES);
	CHECK_EQ(ww_snapshot_read(s, m, PS, buf), PS); /* saved before the write */
	CHECK(buf[0] == 'A');
	CHECK_EQ(ww_untrack(t, m + 2 * PS, 2 * PS), 0); /* copies page 2, loses 3 */
	CHECK_EQ(ww_snapshot_read(s, m + 2 * PS, PS, buf), PS);
	CHECK(buf[0] == 'A');
	CHECK_EQ(ww_snapshot_read(s, m + 3 * PS, PS, buf), -ENODATA);
	CHECK_EQ(mprotect(m + 5 * PS, PS, PROT_NONE), 0);
	ww_close(t); /* copies what is left, loses page 5 */
	CHECK_EQ(ww_snapshot_read(s, m + 5 * PS, PS, buf), -ENODATA);
	CHECK_EQ(ww_snapshot_read(s, m + 7 * PS, PS, buf), PS);
	CHECK(buf[0] == 'A');
	ww_snapshot_free(s);
	free(buf);
	printf("ok: %s: take over PROT_NONE and restore into read-only memory refused (EACCES); "
	       "a COW page made unreadable reads EACCES, then is lost (ENODATA) at untrack "
	       "and close\n",
	       argv[1]);
	return 0;
}
