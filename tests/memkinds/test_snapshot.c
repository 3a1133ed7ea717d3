/* SPDX-License-Identifier: MIT */
/*
 * Snapshots on one memory kind (argv[2]) and backend (argv[1]): 4 MiB, half
 * populated, one page written before the take and never collected. Then
 * rounds of random writes (and, where the kind's discards change content
 * and the backend sees them, MADV_DONTNEED), with the caller's own
 * ww_collect(WW_RESET) / ww_reset / ww_collect mixed in, each ended by
 * ww_snapshot_restore:
 *  - the memory equals the content at the take, byte for byte;
 *  - the count covers every page changed since the last restore and no
 *    more than their units (ww_tracker_granularity);
 *  - restored pages read clean, and the page written before the take is
 *    still reported to the caller (its write is not lost to the take);
 *  - ww_snapshot_read gives the content at the take, however often the
 *    pages were written since.
 */
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "memkind.h"

#define LEN (4UL << 20)
#define NPAGES (LEN / PS)
#define ROUNDS 12
#define MAXRUNS 1100
#define PRE 17 /* the page written before the take */

static struct iovec runs[MAXRUNS];
static unsigned char at_take[LEN], buf[LEN];
static unsigned char written[1024], maybe[1024];
/* pages the caller re-armed while written after the take: restore puts
 * their content back past the caller's reset, so they are reported */
static unsigned char owed[1024];

static bool page_zero(const char *p)
{
	for (size_t i = 0; i < PS; i++)
		if (p[i])
			return false;
	return true;
}

static uint64_t rnd_state = 88172645463325252ULL;

static uint64_t rnd(void)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 7;
	rnd_state ^= rnd_state << 17;
	return rnd_state;
}

static void on_alarm(int sig)
{
	(void)sig;
	harness_hang("hang: a tracked access did not return within 60 s");
}

/* Pages in the units that hold a page marked in written[]. */
static size_t unit_pages(size_t unit)
{
	size_t n = 0, per = unit / PS;

	for (size_t u = 0; u < NPAGES; u += per) {
		bool any = false;

		for (size_t p = u; p < u + per; p++)
			any |= written[p] | maybe[p];
		n += any ? per : 0;
	}
	return n;
}

int main(int argc, char **argv)
{
	struct ww_tracker *t = harness_open(argc, argv);
	enum mk_kind k = mk_kind_arg(argc, argv);
	/* The tracker's caps, not the backend's: on a kernel that maps no
	 * zero page the mprotect tracker lacks DISCARDS (issue 11). */
	bool discards =
		(k == MK_ANON_PRIVATE || k == MK_THP) && (ww_tracker_caps(t) & WW_CAP_DISCARDS);
	bool exact = harness_has(WW_CAP_EXACT);
	struct ww_snapshot *s;
	struct mk_mem mm;
	char *m = mk_map(k, LEN, &mm);
	size_t unit = 0, total = 0;
	int err;

	signal(SIGALRM, on_alarm);
	alarm(60);
	mk_populate(&mm, 0, LEN / 2);
	err = ww_track(t, m, LEN);
	if (err == -EOPNOTSUPP) {
		/* the kind/ cell tests that this refusal is the documented one */
		printf("SKIP: %s cannot track %s memory (kind/%s/%s checks the refusal)\n", argv[1],
		       mk_name(k), mk_name(k), argv[1]);
		ww_close(t);
		return SKIP;
	}
	CHECK_EQ(err, 0);
	CHECK_EQ(ww_tracker_granularity(t, m, &unit), 0);
	if (!exact)
		unit = LEN; /* soft-dirty: whole VMAs may show (coverage only) */

	m[PRE * PS + 5] = 'P'; /* the caller's write, not collected yet */
	CHECK_EQ(ww_snapshot_take(t, m, LEN, 0, &s), 0);
	memcpy(at_take, m, LEN);

	for (int round = 0; round < ROUNDS; round++) {
		size_t nw = 1 + rnd() % 60, got;
		ssize_t n;

		memset(written, 0, sizeof(written));
		memset(maybe, 0, sizeof(maybe));
		for (size_t i = 0; i < nw; i++) {
			size_t off = rnd() % LEN;

			m[off] = (char)(rnd() | 1);
			written[off / PS] = 1;
			if (i == nw / 2) {
				/* the caller's own collects and resets between
				 * take and restore must not hide a page (on the
				 * second half: the first holds the page written
				 * before the take, which the caller collects last) */
				char *h = m + LEN / 2;

				if (round % 3 != 2)
					for (size_t p = NPAGES / 2; p < NPAGES; p++)
						owed[p] = written[p];
				switch (round % 3) {
				case 0:
					harness_collect_all(t, h, LEN / 2, WW_RESET, runs, MAXRUNS);
					break;
				case 1:
					CHECK_EQ(ww_reset(t, h, LEN / 2), 0);
					break;
				default:
					harness_collect_all(t, h, LEN / 2, 0, runs, MAXRUNS);
				}
			}
		}
		if (discards && round % 2) {
			size_t p = rnd() % (NPAGES - 8);

			/* a page that reads zero does not change when dropped
			 * (the mechanism may still report it: maybe[]) */
			for (size_t q = p; q < p + 4; q++) {
				if (!page_zero(m + q * PS))
					written[q] = 1;
				maybe[q] = 1;
			}
			CHECK_EQ(madvise(m + p * PS, 4 * PS, MADV_DONTNEED), 0);
		}
		n = ww_snapshot_restore(s);
		CHECK(n >= 0);
		CHECK(memcmp(m, at_take, LEN) == 0);
		for (size_t p = 0; p < NPAGES; p++)
			if (written[p] && memcmp(at_take + p * PS, m + p * PS, PS) != 0)
				CHECK(0);
		/* every changed page, within the units of the changed ones */
		got = 0;
		for (size_t p = 0; p < NPAGES; p++)
			got += written[p];
		if ((size_t)n < got || (size_t)n > unit_pages(unit)) {
			fprintf(stderr,
				"round %d: restored %zd pages, changed %zu, units hold %zu\n",
				round, n, got, unit_pages(unit));
			CHECK(0);
		}
		total += (size_t)n;
		/* what the snapshot says equals the take, however often written */
		CHECK_EQ(ww_snapshot_read(s, m, LEN, buf), (ssize_t)LEN);
		CHECK(memcmp(buf, at_take, LEN) == 0);
		/* restored pages are clean; nothing left to restore */
		if (exact)
			CHECK_EQ(ww_snapshot_restore(s), 0);
	}

	/* the write before the take is still the caller's, and so are the
	 * pages it re-armed after a write and restore then changed back */
	memcpy(written, owed, sizeof(written));
	memset(maybe, 0, sizeof(maybe));
	written[PRE] = 1;
	{
		size_t n = harness_collect_all(t, m, LEN, WW_RESET, runs, MAXRUNS);

		mk_check_cover("the write before the take", runs, n, m, LEN, written, unit);
		if (exact)
			CHECK(n >= 1);
	}
	if (exact)
		CHECK_EQ(harness_collect_all(t, m, LEN, 0, runs, MAXRUNS), 0);
	ww_snapshot_free(s);

	/* copy-before-write on this kind: nothing copied at take, each page
	 * just before its first write; read and restore give the take back */
	/* mprotect refuses shared memory (a page dropped there is not seen) */
	if ((ww_tracker_caps(t) & (WW_CAP_PREWRITE | WW_CAP_PROTECTS)) ==
		    (WW_CAP_PREWRITE | WW_CAP_PROTECTS) &&
	    (k == MK_ANON_SHARED || k == MK_MEMFD || k == MK_SHM_FILE || k == MK_DISK_FILE)) {
		CHECK_EQ(ww_snapshot_take(t, m, LEN, WW_SNAP_COW, &s), -EOPNOTSUPP);
		printf("note: copy-before-write refused on %s, as it must be\n", mk_name(k));
	} else if (ww_tracker_caps(t) & WW_CAP_PREWRITE) {
		CHECK_EQ(ww_snapshot_take(t, m, LEN, WW_SNAP_COW, &s), 0);
		memcpy(at_take, m, LEN);
		for (int i = 0; i < 200; i++)
			m[rnd() % LEN] = (char)(rnd() | 1);
		CHECK_EQ(ww_snapshot_read(s, m, LEN, buf), (ssize_t)LEN);
		CHECK(memcmp(buf, at_take, LEN) == 0);
		CHECK(ww_snapshot_restore(s) > 0);
		CHECK(memcmp(m, at_take, LEN) == 0);
		ww_snapshot_free(s);
		printf("note: copy-before-write snapshot checked on %s\n", mk_name(k));
	}
	CHECK_EQ(ww_untrack(t, m, LEN), 0);
	ww_close(t);
	printf("ok: %s on %s: %d restores, %zu pages put back, unit %zu%s\n", argv[1], mk_name(k),
	       ROUNDS, total, unit, discards ? ", with discards" : "");
	return 0;
}
