/* SPDX-License-Identifier: MIT */
/*
 * The snapshot calls on one backend (argv[1]), beyond the memory kinds
 * (memkinds/test_snapshot): argument errors; the count restore returns,
 * exactly; pages the caller had not collected at take stay reported, and
 * restored pages do not show; overlapping snapshots each restore their own
 * instant; a snapshot outlives ww_untrack (-ENOENT), ww_close (-EBADF) and
 * fork (-ECHILD in the child), its content stays readable; many restores
 * in a row.
 */
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define PAGES 64

static struct iovec runs[PAGES];

/* The pages reported by a plain collect of [m, m + PAGES pages). */
static void reported(struct ww_tracker *t, char *m, bool *dirty)
{
	size_t n = harness_collect_all(t, m, PAGES * PS, 0, runs, PAGES);

	memset(dirty, 0, PAGES);
	harness_pages(runs, n, m, PAGES, dirty);
}

int main(int argc, char **argv)
{
	struct ww_tracker *t = harness_open(argc, argv);
	char *m = harness_map(PAGES), *at_take = malloc(PAGES * PS), buf[64];
	bool exact = harness_has(WW_CAP_EXACT), dirty[PAGES];
	struct ww_snapshot *s = NULL, *s2 = NULL;
	int status;
	pid_t pid;

	CHECK(at_take != NULL);
	for (size_t p = 0; p < PAGES; p++)
		memset(m + p * PS, (int)p, PS);
	CHECK_EQ(ww_track(t, m, PAGES * PS), 0);

	/* errors */
	CHECK_EQ(ww_snapshot_take(NULL, m, PS, 0, &s), -EINVAL);
	CHECK_EQ(ww_snapshot_take(t, m, 0, 0, &s), -EINVAL);
	CHECK_EQ(ww_snapshot_take(t, m, PS, 0, NULL), -EINVAL);
	CHECK_EQ(ww_snapshot_take(t, m, PS, 0x100, &s), -EINVAL);
	CHECK(s == NULL);
	CHECK_EQ(ww_snapshot_take(t, m, (PAGES + 1) * PS, 0, &s), -ENOENT);
	CHECK_EQ(errno, ENOENT);
	/* copy-before-write needs a mechanism that sees a write first */
	if (ww_tracker_caps(t) & WW_CAP_PREWRITE) {
		CHECK_EQ(ww_snapshot_take(t, m, PS, WW_SNAP_COW, &s), 0);
		ww_snapshot_free(s);
		s = NULL;
	} else {
		CHECK_EQ(ww_snapshot_take(t, m, PS, WW_SNAP_COW, &s), -EOPNOTSUPP);
	}
	CHECK_EQ(ww_snapshot_restore(NULL), -EINVAL);
	CHECK_EQ(ww_snapshot_read(NULL, m, 1, buf), -EINVAL);
	ww_snapshot_free(NULL);

	/* a write before the take, not collected: still the caller's */
	m[3 * PS] = 'x';
	CHECK_EQ(ww_snapshot_take(t, m + 1, PAGES * PS - 2, 0, &s), 0); /* rounded out */
	memcpy(at_take, m, PAGES * PS);
	CHECK_EQ(ww_snapshot_read(s, m + PAGES * PS - 1, 2, buf), -ENOENT);
	CHECK_EQ(ww_snapshot_read(s, m, 0, buf), -EINVAL);
	CHECK_EQ(ww_snapshot_read(s, m, 1, NULL), -EINVAL);

	/* restore counts exactly the pages changed, and only those show */
	m[5 * PS] = 'a';
	m[6 * PS + 9] = 'b';
	m[40 * PS] = 'c';
	if (exact) {
		reported(t, m, dirty);
		CHECK(dirty[3] && dirty[5] && dirty[6] && dirty[40]);
	}
	CHECK_EQ(ww_snapshot_read(s, m + 5 * PS, 1, buf), 1);
	CHECK_EQ(buf[0], 5);
	{
		ssize_t n = ww_snapshot_restore(s);

		CHECK(exact ? n == 3 : n >= 3); /* pages 5, 6, 40 */
	}
	CHECK(memcmp(m, at_take, PAGES * PS) == 0);
	if (exact) {
		reported(t, m, dirty);
		for (size_t p = 0; p < PAGES; p++)
			CHECK_EQ(dirty[p], p == 3); /* the caller's write stays */
	}

	/* the caller collects and resets between take and restore */
	m[7 * PS] = 'd';
	CHECK(harness_collect_all(t, m, PAGES * PS, WW_RESET, runs, PAGES) >= 2);
	m[8 * PS] = 'e';
	CHECK_EQ(ww_reset(t, m, PAGES * PS), 0);
	m[9 * PS] = 'f';
	CHECK_EQ(ww_snapshot_restore(s), 3); /* 7, 8 and 9 */
	CHECK(memcmp(m, at_take, PAGES * PS) == 0);

	/* a second snapshot over part of the first: each its own instant */
	m[10 * PS] = 'g';
	CHECK_EQ(ww_snapshot_take(t, m + 8 * PS, 8 * PS, 0, &s2), 0);
	m[10 * PS] = 'h';
	m[12 * PS] = 'i';
	CHECK_EQ(ww_snapshot_restore(s2), 2); /* 10 back to 'g', 12 */
	CHECK_EQ(m[10 * PS], 'g');
	CHECK_EQ(m[12 * PS], 12);
	CHECK_EQ(ww_snapshot_restore(s), 2); /* 10 back to 10; 12, which s2 wrote */
	CHECK(memcmp(m, at_take, PAGES * PS) == 0);
	CHECK_EQ(ww_snapshot_restore(s2), 2); /* s's restore wrote 10 and 12 */
	CHECK_EQ(m[10 * PS], 'g');
	ww_snapshot_free(s2);
	CHECK_EQ(ww_snapshot_restore(s), 2);

	/* many restores in a row */
	for (int i = 0; i < 200; i++) {
		m[(size_t)(i % PAGES) * PS + (size_t)i] = (char)i;
		m[(size_t)((i * 7) % PAGES) * PS] = (char)~i;
		CHECK(ww_snapshot_restore(s) >= 1);
		CHECK(memcmp(m, at_take, PAGES * PS) == 0);
	}

	/* fork: the child's copy is inert; the parent's snapshot unharmed */
	m[20 * PS] = 'j';
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		if (ww_snapshot_restore(s) != -ECHILD)
			_exit(1);
		if (ww_snapshot_read(s, m, 1, buf) != 1 || buf[0] != 0)
			_exit(2);
		ww_snapshot_free(s);
		_exit(0);
	}
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK_EQ(ww_snapshot_restore(s), 1);
	CHECK(memcmp(m, at_take, PAGES * PS) == 0);

	/* untrack part: restore can no longer be exact, read still works */
	CHECK_EQ(ww_untrack(t, m + 30 * PS, PS), 0);
	CHECK_EQ(ww_snapshot_restore(s), -ENOENT);
	CHECK_EQ(ww_track(t, m + 30 * PS, PS), 0);
	CHECK_EQ(ww_snapshot_restore(s), -ENOENT); /* writes in between went unseen */
	CHECK_EQ(ww_snapshot_read(s, m + 30 * PS, 1, buf), 1);
	CHECK_EQ(buf[0], 30);
	ww_snapshot_free(s);

	/* a snapshot outlives its tracker */
	CHECK_EQ(ww_snapshot_take(t, m, PS, 0, &s), 0);
	ww_close(t);
	CHECK_EQ(ww_snapshot_restore(s), -EBADF);
	CHECK_EQ(ww_snapshot_read(s, m, 1, buf), 1);
	CHECK_EQ(buf[0], 0);
	ww_snapshot_free(s);
	free(at_take);
	printf("ok: %s\n", argv[1]);
	return 0;
}
