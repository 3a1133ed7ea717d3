/* SPDX-License-Identifier: MIT */
/*
 * Copy-before-write snapshots (WW_SNAP_COW) on one backend (argv[1]); a
 * backend without WW_CAP_PREWRITE must refuse them (-EOPNOTSUPP) and the
 * test ends there.
 *  - read gives the content at the take, byte for byte, for pages never
 *    written since and pages written many times, while the memory moves on;
 *  - one instant, writers running: four threads each write a counter into
 *    page A and then into page B of their own pair (A near the start of the
 *    range, B near its end), over and over, while another thread dirties
 *    the pages between (so arming takes many calls); every snapshot taken
 *    meanwhile must show, for each pair, B == A or B == A - 1 (never B
 *    newer than A), read by a saver thread; each snapshot reads the same
 *    again after the next take, and one taken before the writers started
 *    still reads as it was after all of them (a take slows the writes it
 *    meets while it pre-arms: they must still be copied for the snapshots
 *    already there; every other take is made to, WRITEWATCH_COW_SLOW);
 *  - restore puts back the content at the take, again and again;
 *  - a page discarded before it was copied reads -ENODATA, also when it
 *    was written after (or read back and then written);
 *  - a page the application made writable itself never reads new content;
 *  - ww_close copies what the snapshot still needs: read after close;
 *  - fork: the child's writes do not reach the parent's snapshot.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define PAGES 512
#define PAIRS 4

static char *m;
static atomic_bool stop;
static atomic_long writes;

struct pair {
	int id;
};

/* Pair k: page A near the start of the range, page B near its end, the
 * noise writer's pages between: a take re-arms A and B in different calls
 * into the mechanism, so a write to A trapped early and a write to B not
 * yet armed would show (B newer than A) if arming were not one instant. */
#define PAGE_A(k) ((size_t)(8 + (k)))
#define PAGE_B(k) ((size_t)(PAGES - 8 + (k)))

static void *pair_writer(void *arg)
{
	int k = ((struct pair *)arg)->id;
	volatile uint64_t *a = (uint64_t *)(m + PAGE_A(k) * PS);
	volatile uint64_t *b = (uint64_t *)(m + PAGE_B(k) * PS);

	for (uint64_t v = 1; !atomic_load(&stop); v++) {
		*a = v;
		atomic_thread_fence(memory_order_seq_cst);
		*b = v;
		atomic_fetch_add(&writes, 1);
	}
	return NULL;
}

/* Dirty pages all over the rest of the range, so each take re-arms many. */
static void *noise_writer(void *arg)
{
	uint64_t x = 88172645463325252ULL;

	(void)arg;
	while (!atomic_load(&stop)) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		m[(16 + x % (PAGES - 32)) * PS + 64] = (char)x;
	}
	return NULL;
}

struct saver {
	struct ww_snapshot *s;
	long checked;
};

/* Reads the snapshot (page by page, as a saver would) and checks pairs. */
static void *saver(void *arg)
{
	struct saver *sv = arg;
	uint64_t buf[PAIRS * 2][2];

	for (int k = 0; k < PAIRS; k++) {
		CHECK_EQ(ww_snapshot_read(sv->s, m + PAGE_A(k) * PS, 16, buf[2 * k]), 16);
		CHECK_EQ(ww_snapshot_read(sv->s, m + PAGE_B(k) * PS, 16, buf[2 * k + 1]), 16);
		if (!(buf[2 * k + 1][0] == buf[2 * k][0] ||
		      buf[2 * k + 1][0] + 1 == buf[2 * k][0])) {
			fprintf(stderr, "pair %d: snapshot shows A=%llu B=%llu: not one instant\n",
				k, (unsigned long long)buf[2 * k][0],
				(unsigned long long)buf[2 * k + 1][0]);
			exit(1);
		}
		sv->checked++;
	}
	return NULL;
}

int main(int argc, char **argv)
{
	struct ww_tracker *t = harness_open(argc, argv);
	unsigned char *at_take = malloc(PAGES * PS), *buf = malloc(PAGES * PS);
	pthread_t w[PAIRS], noise;
	struct pair ids[PAIRS];
	struct ww_snapshot *s, *old, *prev = NULL;
	unsigned char *prev_buf = malloc(PAGES * PS);
	long takes = 0, checked = 0;
	int status;
	pid_t pid;

	CHECK(at_take && buf && prev_buf);
	m = harness_map(PAGES);
	for (size_t p = 0; p < PAGES; p++)
		memset(m + p * PS, (int)(p & 0x7f), PS);
	CHECK_EQ(ww_track(t, m, PAGES * PS), 0);
	if (!(ww_tracker_caps(t) & WW_CAP_PREWRITE)) {
		CHECK_EQ(ww_snapshot_take(t, m, PAGES * PS, WW_SNAP_COW, &s), -EOPNOTSUPP);
		unsigned int facts = 0;

		ww_kernel_facts(&facts);
		printf("ok: %s cannot copy before a write%s: WW_SNAP_COW refused\n", argv[1],
		       harness_has(WW_CAP_PREWRITE) && !(facts & WW_FACT_ZERO_PAGE) ?
			       " on a kernel that maps no zero page (copy-before-write not "
			       "run here: see the VM matrix)" :
			       "");
		ww_close(t);
		free(at_take);
		free(buf);
		free(prev_buf);
		return 0;
	}

	/* content at the take, however often written since */
	m[3 * PS] = 'x'; /* before the take, not collected: the caller's */
	CHECK_EQ(ww_snapshot_take(t, m, PAGES * PS, WW_SNAP_COW, &s), 0);
	memcpy(at_take, m, PAGES * PS);
	for (int i = 0; i < 50; i++) {
		m[5 * PS + (size_t)i] = (char)i;
		m[(size_t)(100 + i) * PS] = (char)~i;
	}
	CHECK_EQ(ww_snapshot_read(s, m, PAGES * PS, buf), PAGES * PS);
	CHECK(memcmp(buf, at_take, PAGES * PS) == 0);
	CHECK(m[5 * PS + 49] == 49); /* the memory moved on */
	{
		struct iovec runs[64];
		bool dirty[PAGES];
		size_t n = harness_collect_all(t, m, PAGES * PS, 0, runs, 64);

		memset(dirty, 0, sizeof(dirty));
		harness_pages(runs, n, m, PAGES, dirty);
		CHECK(dirty[3] && dirty[5] && dirty[100] && dirty[149]);
		CHECK(!dirty[4] && !dirty[150]);
	}
	/* restore, again and again */
	CHECK_EQ(ww_snapshot_restore(s), 51);
	CHECK(memcmp(m, at_take, PAGES * PS) == 0);
	for (int i = 0; i < 20; i++) {
		m[(size_t)(7 * i % PAGES) * PS + 1] = 'r';
		CHECK_EQ(ww_snapshot_restore(s), 1);
		CHECK(memcmp(m, at_take, PAGES * PS) == 0);
		CHECK_EQ(ww_snapshot_read(s, m, PAGES * PS, buf), PAGES * PS);
		CHECK(memcmp(buf, at_take, PAGES * PS) == 0);
	}
	/* a discard before the copy loses the page: said, not made up */
	if (ww_tracker_caps(t) & WW_CAP_DISCARDS) {
		char c;

		volatile char *v = m;

		CHECK_EQ(madvise(m + 200 * PS, PS, MADV_DONTNEED), 0);
		CHECK_EQ(ww_snapshot_read(s, m + 200 * PS, 1, &c), -ENODATA);
		CHECK_EQ(ww_snapshot_read(s, m + 201 * PS, 1, &c), 1);
		/* written straight after the discard: not copied as content */
		CHECK_EQ(madvise(m + 202 * PS, PS, MADV_DONTNEED), 0);
		v[202 * PS] = 'w';
		CHECK_EQ(ww_snapshot_read(s, m + 202 * PS, 1, &c), -ENODATA);
		/* read back (zeros now) and then written: nor is that */
		CHECK_EQ(madvise(m + 203 * PS, PS, MADV_DONTNEED), 0);
		CHECK(v[203 * PS + 5] == 0);
		v[203 * PS] = 'w';
		CHECK_EQ(ww_snapshot_read(s, m + 203 * PS, 1, &c), -ENODATA);
		CHECK_EQ(ww_snapshot_restore(s), -ENODATA);
		for (size_t p = 200; p < 204; p++)
			memset(m + p * PS, (int)(p & 0x7f), PS);
	}
	/* the application makes a page writable itself and writes it (on
	 * mprotect the write is then unseen): the snapshot says so, or has
	 * the page anyway, but never gives the new content */
	{
		char c = 0;
		ssize_t r;

		CHECK_EQ(mprotect(m + 210 * PS, PS, PROT_READ | PROT_WRITE), 0);
		m[210 * PS] = 'w';
		r = ww_snapshot_read(s, m + 210 * PS, 1, &c);
		CHECK(r == -ENODATA || (r == 1 && c == at_take[210 * PS]));
		m[210 * PS] = (char)(210 & 0x7f);
	}
	ww_snapshot_free(s);

	/* fork: the child's writes stay the child's */
	CHECK_EQ(ww_snapshot_take(t, m, PAGES * PS, WW_SNAP_COW, &s), 0);
	memcpy(at_take, m, PAGES * PS);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		char c;

		memset(m, 'c', 16 * PS);
		_exit(ww_snapshot_read(s, m, 1, &c) == -ECHILD ? 0 : 1);
	}
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK_EQ(ww_snapshot_read(s, m, PAGES * PS, buf), PAGES * PS);
	CHECK(memcmp(buf, at_take, PAGES * PS) == 0);
	ww_snapshot_free(s);

	/* one instant, writers running (pairs start at A = B = 0) */
	for (int k = 0; k < PAIRS; k++) {
		memset(m + PAGE_A(k) * PS, 0, PS);
		memset(m + PAGE_B(k) * PS, 0, PS);
	}
	CHECK_EQ(ww_snapshot_take(t, m, PAGES * PS, WW_SNAP_COW, &old), 0);
	memcpy(at_take, m, PAGES * PS);
	for (int k = 0; k < PAIRS; k++) {
		ids[k].id = k;
		CHECK_EQ(pthread_create(&w[k], NULL, pair_writer, &ids[k]), 0);
	}
	CHECK_EQ(pthread_create(&noise, NULL, noise_writer, NULL), 0);
	while (harness_more(takes, 20, 2000)) {
		struct saver sv = { 0 };
		pthread_t st;

		/* every other take slows writes from its first pass on (the
		 * path it takes where writers keep up with its passes) */
		setenv("WRITEWATCH_COW_SLOW", takes % 2 ? "1" : "0", 1);
		CHECK_EQ(ww_snapshot_take(t, m, PAGES * PS, WW_SNAP_COW, &sv.s), 0);
		CHECK_EQ(pthread_create(&st, NULL, saver, &sv), 0);
		CHECK_EQ(pthread_join(st, NULL), 0);
		checked += sv.checked;
		/* the one before still reads as it did, its pages written
		 * during this take's arming copied for it first */
		if (prev) {
			CHECK_EQ(ww_snapshot_read(prev, m, PAGES * PS, buf), PAGES * PS);
			CHECK(memcmp(buf, prev_buf, PAGES * PS) == 0);
			ww_snapshot_free(prev);
		}
		CHECK_EQ(ww_snapshot_read(sv.s, m, PAGES * PS, prev_buf), PAGES * PS);
		prev = sv.s;
		if (takes % 4 == 0) { /* the caller's own collects go on too */
			static struct iovec runs[PAGES];

			(void)harness_collect_all(t, m, PAGES * PS, WW_RESET, runs, PAGES);
		}
		takes++;
	}
	ww_snapshot_free(prev);
	CHECK_EQ(ww_snapshot_read(old, m, PAGES * PS, buf), PAGES * PS);
	CHECK(memcmp(buf, at_take, PAGES * PS) == 0);
	ww_snapshot_free(old);
	/* and a snapshot that outlives its tracker keeps the instant */
	CHECK_EQ(ww_snapshot_take(t, m, PAGES * PS, WW_SNAP_COW, &s), 0);
	ww_close(t);
	atomic_store(&stop, true);
	for (int k = 0; k < PAIRS; k++)
		CHECK_EQ(pthread_join(w[k], NULL), 0);
	CHECK_EQ(pthread_join(noise, NULL), 0);
	{
		struct saver sv = { .s = s };

		saver(&sv);
		CHECK_EQ(ww_snapshot_restore(s), -EBADF);
	}
	ww_snapshot_free(s);
	printf("ok: %s: %ld COW snapshots taken with 5 writers running, %ld pairs checked, "
	       "%ld pair writes\n",
	       argv[1], takes, checked, atomic_load(&writes));
	free(at_take);
	free(buf);
	free(prev_buf);
	return 0;
}
