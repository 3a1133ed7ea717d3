/* SPDX-License-Identifier: MIT */
/*
 * Copy-before-write against an application that discards, unmaps or maps
 * over the very pages it is writing (second hostile review). The mechanism
 * copies a page before its first write from its handler (uffd-wp: a thread
 * of its own); a page gone between the fault and that copy
 *  - discarded (MADV_DONTNEED from another thread): the copy's read took a
 *    missing fault only the handler itself could answer, and the whole
 *    process hung;
 *  - unmapped: the handler's read killed the process (SIGSEGV);
 *  - mapped over (mmap MAP_FIXED): the new mapping's zeros were kept as the
 *    snapshot's content, where ENODATA is the answer.
 * Every read of a snapshot must give the page as it was at the take, or
 * ENODATA; the process must neither hang (a watchdog) nor die.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define PAGES 16

static char *m;
static atomic_bool stop;
static atomic_int phase, done_w, done_r;
static bool unmap_only;
static __thread sigjmp_buf jb;
static __thread bool is_writer;

static void watchdog(int sig)
{
	(void)sig;
	harness_hang("no progress for 40 s: the process hung "
		     "(a copy-before-write handler waiting for itself?)");
}

/* A writer's own write to a page just unmapped: its fault, not ours. */
static void on_segv(int sig, siginfo_t *si, void *uc)
{
	static const char msg[] = "FAIL: SIGSEGV outside the writer (the library's handler)\n";

	(void)sig;
	(void)si;
	(void)uc;
	if (is_writer)
		siglongjmp(jb, 1);
	(void)!write(2, msg, sizeof(msg) - 1);
	_exit(1);
}

static void *churn_writer(void *arg)
{
	for (unsigned i = 0; !atomic_load(&stop); i++)
		((volatile char *)m)[(i % PAGES) * PS + 1] = (char)i;
	return arg;
}

static void *discarder(void *arg)
{
	for (unsigned i = 0; !atomic_load(&stop); i++)
		madvise(m + (i % PAGES) * PS, PS, MADV_DONTNEED);
	return arg;
}

/* Round g: write every page once while the replacer replaces them. */
static void *round_writer(void *arg)
{
	is_writer = true;
	for (volatile int g = 1;; g++) {
		while (atomic_load(&phase) < g) {
			if (atomic_load(&stop))
				return arg;
			sched_yield(); /* one CPU: let the others on */
		}
		for (volatile int p = 0; p < PAGES; p++)
			if (!sigsetjmp(jb, 1))
				((volatile char *)m)[p * PS + 1] = 'W';
		atomic_store(&done_w, g);
	}
}

static void *replacer(void *arg)
{
	for (int g = 1;; g++) {
		while (atomic_load(&phase) < g) {
			if (atomic_load(&stop))
				return arg;
			sched_yield();
		}
		for (int p = PAGES - 1; p >= 0; p--) {
			if (unmap_only)
				munmap(m + p * PS, PS);
			else
				mmap(m + p * PS, PS, PROT_READ | PROT_WRITE,
				     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
		}
		atomic_store(&done_r, g);
	}
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Writes and discards race the takes; each read is whole or ENODATA. */
static long discard_churn(struct ww_tracker *t)
{
	unsigned char buf[PAGES * 4096];
	pthread_t w, d;
	long rounds = 0, lost = 0;
	double take_max = 0, read_max = 0;

	CHECK(PS <= 4096);
	atomic_store(&stop, false);
	CHECK_EQ(pthread_create(&w, NULL, churn_writer, NULL), 0);
	CHECK_EQ(pthread_create(&d, NULL, discarder, NULL), 0);
	for (; harness_more(rounds, 10, 1000000); rounds++) {
		struct ww_snapshot *s;
		double t0 = now_ms(), t1;

		alarm(40);
		CHECK_EQ(ww_snapshot_take(t, m, PAGES * PS, WW_SNAP_COW, &s), 0);
		t1 = now_ms();
		take_max = t1 - t0 > take_max ? t1 - t0 : take_max;
		for (int p = 0; p < PAGES; p++) {
			ssize_t r = ww_snapshot_read(s, m + p * PS, PS, buf);

			if (r == -ENODATA)
				lost++;
			else
				CHECK_EQ(r, PS);
		}
		read_max = now_ms() - t1 > read_max ? now_ms() - t1 : read_max;
		ww_snapshot_free(s);
	}
	atomic_store(&stop, true);
	alarm(40);
	CHECK_EQ(pthread_join(w, NULL), 0);
	CHECK_EQ(pthread_join(d, NULL), 0);
	alarm(0);
	/* the slowest: how long a take or the reads waited out the discards */
	printf("discards: %ld takes, %ld pages read ENODATA; slowest take %.1f ms, reads %.1f ms\n",
	       rounds, lost, take_max, read_max);
	return rounds;
}

static atomic_int pause_d, paused_d, discards;

/* Discards while not paused; says when it is. */
static void *pausing_discarder(void *arg)
{
	for (unsigned i = 0; !atomic_load(&stop); i++) {
		if (atomic_load(&pause_d)) {
			atomic_store(&paused_d, 1);
			while (atomic_load(&pause_d) && !atomic_load(&stop))
				sched_yield();
			atomic_store(&paused_d, 0);
		}
		madvise(m + (i % PAGES) * PS, PS, MADV_DONTNEED);
		atomic_fetch_add(&discards, 1);
	}
	return arg;
}

/* Content under discards: each round fills the pages with its own byte
 * while no discard runs, takes, lets the discards go on and reads every
 * page: it must hold that byte, or be ENODATA; zeros are a discard read
 * as the snapshot's content. */
static long discard_content(struct ww_tracker *t)
{
	unsigned char buf[4096];
	pthread_t d;
	long rounds = 0, lost = 0;

	atomic_store(&stop, false);
	atomic_store(&pause_d, 1);
	CHECK_EQ(pthread_create(&d, NULL, pausing_discarder, NULL), 0);
	for (; harness_more(rounds, 200, 1000000); rounds++) {
		struct ww_snapshot *s;
		unsigned char v = (unsigned char)('a' + rounds % 26);

		alarm(40);
		atomic_store(&pause_d, 1);
		while (!atomic_load(&paused_d))
			sched_yield();
		memset(m, v, PAGES * PS);
		CHECK_EQ(ww_snapshot_take(t, m, PAGES * PS, WW_SNAP_COW, &s), 0);
		atomic_store(&pause_d, 0);
		for (int p = 0; p < PAGES; p++) {
			int d0 = atomic_load(&discards);
			ssize_t r;

			/* a discard between two reads, the next maybe during one */
			while (atomic_load(&discards) == d0)
				sched_yield();
			r = ww_snapshot_read(s, m + p * PS, PS, buf);

			if (r == -ENODATA) {
				lost++;
				continue;
			}
			CHECK_EQ(r, PS);
			for (size_t k = 0; k < PS; k += 512)
				if (buf[k] != v) {
					fprintf(stderr,
						"FAIL: round %ld page %d byte %zu reads %02x, the take "
						"held %02x: a discard read as the snapshot's content\n",
						rounds, p, k, buf[k], v);
					exit(1);
				}
		}
		ww_snapshot_free(s);
	}
	atomic_store(&stop, true);
	CHECK_EQ(pthread_join(d, NULL), 0);
	alarm(0);
	printf("discards, content checked: %ld takes, %ld pages read ENODATA\n", rounds, lost);
	return rounds;
}

/* Pages replaced (or unmapped) while written, each round on fresh memory. */
static long replace_rounds(struct ww_tracker *t, bool check_content)
{
	char buf[4096];
	pthread_t w, r;
	long rounds = 0, lost = 0;

	atomic_store(&stop, false);
	atomic_store(&phase, 0);
	atomic_store(&done_w, 0);
	atomic_store(&done_r, 0);
	CHECK_EQ(pthread_create(&w, NULL, round_writer, NULL), 0);
	CHECK_EQ(pthread_create(&r, NULL, replacer, NULL), 0);
	for (; harness_more(rounds, check_content ? 100 : 20, 1000000); rounds++) {
		struct ww_snapshot *s;
		int g = (int)rounds + 1;

		alarm(40);
		ww_untrack(t, m, PAGES * PS);
		CHECK(mmap(m, PAGES * PS, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == m);
		memset(m, 'A', PAGES * PS);
		CHECK_EQ(ww_track(t, m, PAGES * PS), 0);
		CHECK_EQ(ww_snapshot_take(t, m, PAGES * PS, WW_SNAP_COW, &s), 0);
		atomic_store(&phase, g);
		while (atomic_load(&done_w) < g || atomic_load(&done_r) < g)
			sched_yield();
		for (int p = 0; p < PAGES && !unmap_only; p++) {
			ssize_t n = ww_snapshot_read(s, m + p * PS, PS, buf);

			if (n == -ENODATA) {
				lost++;
				continue;
			}
			CHECK_EQ(n, PS);
			if (check_content && (buf[0] != 'A' || buf[1] != 'A')) {
				fprintf(stderr,
					"FAIL: round %ld page %d reads %02x %02x, the take "
					"held 'A': a page mapped over was copied as the "
					"snapshot's\n",
					rounds, p, (unsigned char)buf[0], (unsigned char)buf[1]);
				exit(1);
			}
		}
		ww_snapshot_free(s);
	}
	atomic_store(&stop, true);
	CHECK_EQ(pthread_join(w, NULL), 0);
	CHECK_EQ(pthread_join(r, NULL), 0);
	alarm(0);
	if (unmap_only)
		printf("munmap: %ld rounds, the process lives\n", rounds);
	else
		printf("MAP_FIXED: %ld rounds, %ld pages read ENODATA%s\n", rounds, lost,
		       check_content ? "" : " (content not checked: see below)");
	return rounds;
}

int main(int argc, char **argv)
{
	struct ww_tracker *t = harness_open(argc, argv);
	struct sigaction sa = { .sa_sigaction = on_segv, .sa_flags = SA_SIGINFO | SA_NODEFER };
	bool protects;

	setvbuf(stdout, NULL, _IONBF, 0);
	signal(SIGALRM, watchdog);
	m = harness_map(PAGES);
	memset(m, 'A', PAGES * PS);
	CHECK_EQ(ww_track(t, m, PAGES * PS), 0);
	if (!(ww_tracker_caps(t) & WW_CAP_PREWRITE)) {
		printf("SKIP: %s has no copy-before-write here (WW_CAP_PREWRITE)\n", argv[1]);
		ww_close(t);
		return SKIP;
	}
	discard_churn(t);
	discard_content(t);
	/* A mechanism that works through the application's page protection
	 * (mprotect) copies in the writer's own fault: a page unmapped under
	 * it is the writer's crash anyway, and a mapping put over it cannot
	 * be told from the one it protected (ww_snapshot_read(3)). */
	protects = ww_tracker_caps(t) & WW_CAP_PROTECTS;
	if (!protects) {
		CHECK_EQ(sigaction(SIGSEGV, &sa, NULL), 0);
		replace_rounds(t, true);
		unmap_only = true;
		replace_rounds(t, false);
	} else {
		replace_rounds(t, false);
		printf("%s works through page protection: content after MAP_FIXED not checked, "
		       "munmap not raced\n",
		       argv[1]);
	}
	ww_close(t);
	printf("ok\n");
	return 0;
}
