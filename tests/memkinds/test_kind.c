/* SPDX-License-Identifier: MIT */
/*
 * One cell of the memory kind x backend table: on 4 MiB of the kind given as
 * argv[2], half populated before ww_track and half not, tracked by the
 * backend argv[1]:
 *  - nothing is reported right after ww_track, and reads (of populated pages
 *    and of holes) never report anything;
 *  - written bytes (aligned, unaligned, straddling a page boundary, in holes)
 *    are all covered by the reported runs, and nothing outside the written
 *    pages' units is reported; ww_tracker_granularity() gives that unit;
 *  - WW_RESET and ww_reset re-arm; a write after reset is reported again;
 *  - the data is intact (and reaches the file for shared file mappings, and
 *    does not for a private file mapping); untrack leaves memory writable.
 */
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "memkind.h"

#define LEN (4UL << 20)
#define NPAGES (LEN / PS)
#define MAXRUNS 1100

static struct iovec runs[MAXRUNS];
static unsigned char written[4096];
static unsigned char shadow[LEN];

static void put(char *m, size_t off, const char *s, size_t n)
{
	memcpy(m + off, s, n);
	memcpy(shadow + off, s, n);
	for (size_t o = off; o < off + n; o++)
		written[o / PS] = 1;
}

/* Set by collect(): soft-dirty reports every page of a VMA the kernel
 * marked VM_SOFTDIRTY (created, merged or moved since the last clear;
 * documented in DESIGN.md). Only for such a collect is the check relaxed to
 * coverage; otherwise soft-dirty is held to its granularity like the rest. */
static bool loose;
static unsigned int nloose; /* how many collects were relaxed */

static bool exact(void)
{
	return !loose;
}

#define CLEAN(expr)                      \
	do {                             \
		size_t c_ = (expr);      \
		if (exact())             \
			CHECK_EQ(c_, 0); \
	} while (0)

/* A write that never returns (a tracker's fault handler stuck) fails the
 * test with a message instead of a bare timeout. */
static void on_alarm(int sig)
{
	(void)sig;
	harness_hang("hang: a tracked access did not return within 20 s");
}

static size_t collect(struct ww_tracker *t, char *m, unsigned int flags)
{
	loose = !harness_has(WW_CAP_EXACT) && mk_vma_soft_dirty(m, LEN);
	nloose += loose;
	if (loose)
		printf("note: the mapping is marked VM_SOFTDIRTY: coverage checked only\n");
	return harness_collect_all(t, m, LEN, flags, runs, MAXRUNS);
}

int main(int argc, char **argv)
{
	struct ww_tracker *t = harness_open(argc, argv);
	enum mk_kind k = mk_kind_arg(argc, argv);
	struct mk_mem mm;
	char *m = mk_map(k, LEN, &mm);
	volatile unsigned long sum = 0;
	size_t n, unit = 0;
	int err;

	signal(SIGALRM, on_alarm);
	alarm(20);

	/* First half present, second half a hole (for files: not yet mapped
	 * in this process, for anonymous memory: never touched). */
	mk_populate(&mm, 0, LEN / 2);
	if (k == MK_THP && mk_anon_huge(m) == 0)
		printf("note: no huge page was given for the THP mapping\n");
	memcpy(shadow, m, LEN / 2);
	if (mm.fd >= 0)
		CHECK(pread(mm.fd, shadow + LEN / 2, LEN / 2, LEN / 2) == (ssize_t)(LEN / 2));
	else
		memset(shadow + LEN / 2, 0, LEN / 2);

	err = ww_track(t, m, LEN);
	if (err == -EOPNOTSUPP && harness_backend == WW_BACKEND_UFFD_WP &&
	    (k == MK_DISK_FILE || k == MK_PRIVATE_FILE)) {
		/* documented: synchronous uffd-wp registers anonymous, shmem
		 * and hugetlb memory only, not files on a disk file system */
		printf("ok: %s on %s: -EOPNOTSUPP, as documented\n", argv[1], mk_name(k));
		ww_close(t);
		return 0;
	}
	if (err == -EOPNOTSUPP && !harness_has(WW_CAP_HUGETLB) && k == MK_HUGETLB) {
		/* a backend without the cap refuses hugetlb (soft-dirty: the
		 * kernel keeps no soft-dirty bit for hugetlb pages); also
		 * when the hugetlb mapping is in the middle of the range
		 * (regression: only the range's ends were looked at) */
		int rw = PROT_READ | PROT_WRITE, fl = MAP_PRIVATE | MAP_ANONYMOUS;
		char *lo = mmap(m - PS, PS, rw, fl | MAP_FIXED_NOREPLACE, -1, 0);
		char *hi = mmap(m + LEN, PS, rw, fl | MAP_FIXED_NOREPLACE, -1, 0);

		if (lo == m - PS && hi == m + LEN) {
			CHECK_EQ(ww_track(t, lo, LEN + 2 * PS), -EOPNOTSUPP);
			/* and nothing was left behind by the refusal */
			CHECK_EQ(ww_track(t, lo, PS), 0);
			CHECK_EQ(ww_untrack(t, lo, PS), 0);
		} else {
			printf("note: the pages around the mapping are taken: mixed range not "
			       "tried\n");
		}
		printf("ok: %s on %s: -EOPNOTSUPP, as documented\n", argv[1], mk_name(k));
		ww_close(t);
		return 0;
	}
	CHECK_EQ(err, 0);
	CHECK_EQ(ww_tracker_granularity(t, m + LEN - 1, &unit), 0);
	/* The kernel page size, except that a backend may say a write can
	 * report a whole transparent huge page (anonymous memory THP may
	 * back, and on 7.3, not 6.12, files on ext4 too: their large folios make the
	 * mapping THPeligible); the checks below hold it to what it says. */
	if (unit != mm.unit) {
		CHECK(k == MK_THP || k == MK_ANON_PRIVATE || k == MK_DISK_FILE ||
		      k == MK_PRIVATE_FILE);
		CHECK_EQ(unit, 2UL << 20);
	}
	{
		size_t u0 = 0;

		CHECK_EQ(ww_tracker_granularity(t, m, &u0), 0);
		CHECK_EQ(u0, unit);
	}

	/* clean at track, and reads never dirty */
	CLEAN(collect(t, m, 0));
	for (size_t o = 0; o < LEN; o += 512)
		sum += (unsigned char)m[o];
	n = collect(t, m, 0);
	if (n)
		fprintf(stderr, "reads reported as writes: %zu runs, first %p+%zu\n", n,
			runs[0].iov_base, runs[0].iov_len);
	CLEAN(n);
	CHECK(memcmp(m, shadow, LEN) == 0);

	/* writes of every shape, populated and hole */
	put(m, 0, "a", 1);
	put(m, 3 * PS + PS - 1, "b", 1);
	put(m, 9 * PS + PS - 2, "cdef", 4); /* straddles pages 9 and 10 */
	put(m, LEN / 2 - 1, "gh", 2); /* straddles the populated/hole border */
	put(m, LEN / 2 + 5 * PS + 123, "i", 1);
	put(m, 3 * (LEN / 4) + 7, "jk", 2);
	put(m, LEN - 1, "z", 1);
	n = collect(t, m, WW_RESET);
	mk_check_cover("first writes", runs, n, m, LEN, written, exact() ? unit : LEN);

	/* re-armed: nothing until the next write */
	CLEAN(collect(t, m, 0));
	memset(written, 0, sizeof(written));
	put(m, 9 * PS + 1, "l", 1);
	put(m, LEN / 2 + 5 * PS + 124, "m", 1);
	n = collect(t, m, 0);
	mk_check_cover("second writes", runs, n, m, LEN, written, exact() ? unit : LEN);

	/* ww_reset drops them, the next write shows again */
	CHECK_EQ(ww_reset(t, m, LEN), 0);
	CLEAN(collect(t, m, 0));
	for (size_t o = 0; o < LEN; o += 4096)
		sum += (unsigned char)m[o];
	CLEAN(collect(t, m, 0));
	memset(written, 0, sizeof(written));
	put(m, 20 * PS, "n", 1);
	n = collect(t, m, WW_RESET);
	mk_check_cover("after ww_reset", runs, n, m, LEN, written, exact() ? unit : LEN);

	/* hugetlb pages are re-armed whole: a range that splits one is
	 * refused (documented), and nothing is lost by the attempt */
	if (k == MK_HUGETLB) {
		struct iovec o1[4];
		void *nx;

		memset(written, 0, sizeof(written));
		put(m, PS, "o", 1);
		CHECK_EQ(ww_collect(t, m + PS, PS, WW_RESET, o1, 4, &nx), -EINVAL);
		CHECK_EQ(ww_reset(t, m + PS, PS), -EINVAL);
		n = collect(t, m, WW_RESET);
		mk_check_cover("after a refused partial reset", runs, n, m, LEN, written,
			       exact() ? unit : LEN);
	}

	/* the data is intact, and went where the mapping kind says */
	CHECK(memcmp(m, shadow, LEN) == 0);
	if (k == MK_DISK_FILE || k == MK_SHM_FILE || k == MK_MEMFD) {
		char c;

		CHECK(pread(mm.fd, &c, 1, 20 * (off_t)PS) == 1);
		CHECK_EQ(c, 'n');
	} else if (k == MK_PRIVATE_FILE) {
		char c;

		CHECK(pread(mm.fd, &c, 1, 20 * (off_t)PS) == 1);
		CHECK_EQ(c, 0x40 + 20);
	}

	CHECK_EQ(ww_untrack(t, m, LEN), 0);
	memset(m, 7, LEN); /* no fault left behind */
	ww_close(t);
	printf("ok: %s on %s: unit %zu bytes%s\n", argv[1], mk_name(k), unit,
	       nloose ? " (some collects over a VM_SOFTDIRTY mapping: coverage only)" : "");
	(void)sum;
	return 0;
}
