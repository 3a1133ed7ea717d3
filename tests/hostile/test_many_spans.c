/* SPDX-License-Identifier: MIT */
/*
 * Issue 16, item 14: mprotect's span table was one array copied on every
 * ww_track (O(n) per call); it became a copy-on-write tree that the SIGSEGV
 * handler searches while tracks and untracks on other threads replace its
 * nodes. Here 20,000 one-page ranges are tracked one call each, in random
 * order, while writer threads write (and so fault on) the ones tracked
 * already; between them, ranges of one or two pages are tracked and
 * untracked all along (an untrack of one page of two splits its range), so
 * the table grows and shrinks under the faults; collect+reset rounds re-arm
 * the written pages; at the end every range is untracked in random order,
 * each after a last collect, with the writers still writing the others.
 * Every write must be reported (the copy of each page taken when it is
 * reported equals the memory at the end), a page never written is never
 * reported (one page in six of the tracked ones is never written: its
 * neighbours fault and their spans change around it), and a second tracker
 * is refused pages the first one holds. (A page may be reported once more
 * than it was written: a collect+reset between the fault and the write's
 * retry re-arms it, the retry faults again.) Then the emptied table is
 * grown again and checked page by page. On every backend with exact,
 * atomic reports.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "harness.h"

#define NPAGES 20000 /* at most: fewer where vm.max_map_count is lower */
#define BLOCK 8 /* pages 0-4 of a block: written; 5: never; 6-7: tracked and untracked */
#define NW 6 /* pages tracked all along */
#define NWRITTEN 5
#define NWRITERS 2

static char *mem;
/* Pages used: NPAGES, or what vm.max_map_count leaves room for (every page
 * may become a mapping of its own; the qemu VMs set the limit to 8192). */
static size_t npages = NPAGES;

static atomic_uchar tracked[NPAGES]; /* writers may write it */
static atomic_uint busy[NPAGES]; /* writers between the check and the write */
static atomic_uint writes[NPAGES];
static unsigned int reports[NPAGES];
static uint64_t shadow[NPAGES][NWRITERS];
static bool churned[NPAGES]; /* churn pages tracked now */
static atomic_bool stop;
static unsigned int seed = 20261204;
static long nchurn;

static bool is_w(size_t p)
{
	return p % BLOCK < NW;
}

static size_t rnd(size_t n)
{
	return (size_t)rand_r(&seed) % n;
}

static void shuffle(size_t *v, size_t n)
{
	for (size_t i = n; i > 1; i--) {
		size_t j = rnd(i), x = v[i - 1];

		v[i - 1] = v[j];
		v[j] = x;
	}
}

static uint64_t *word(size_t p, unsigned int k)
{
	return (uint64_t *)(mem + p * PS) + k;
}

static void *writer(void *arg)
{
	unsigned int id = (unsigned int)(uintptr_t)arg, s = 77 + id;
	uint64_t v = 0;
	long n = 0;

	while (!atomic_load(&stop)) {
		size_t p = (size_t)rand_r(&s) % npages;

		if (p % BLOCK >= NWRITTEN)
			continue;
		atomic_fetch_add(&busy[p], 1);
		if (atomic_load(&tracked[p])) {
			__atomic_store_n(word(p, id), ++v, __ATOMIC_RELAXED);
			atomic_fetch_add(&writes[p], 1);
		}
		atomic_fetch_sub(&busy[p], 1);
		if (++n % 16 == 0)
			usleep(20); /* leave the tracking thread a CPU */
	}
	return NULL;
}

/* Collect [p, p+np) with reset: count the reports, copy what they hold. */
static void collect(struct ww_tracker *t, size_t p, size_t np)
{
	struct iovec out[BLOCK];
	size_t n = harness_collect_all(t, mem + p * PS, np * PS, WW_RESET, out, BLOCK);

	for (size_t i = 0; i < n; i++) {
		size_t a = (size_t)((char *)out[i].iov_base - mem) / PS;

		CHECK(a >= p && a + out[i].iov_len / PS <= p + np);
		for (size_t q = a; q < a + out[i].iov_len / PS; q++) {
			reports[q]++;
			for (unsigned int k = 0; k < NWRITERS; k++)
				shadow[q][k] = __atomic_load_n(word(q, k), __ATOMIC_RELAXED);
		}
	}
}

/* Track or untrack one or both churn pages of a random block, as one
 * range: the table gains and loses spans among the written ones, and an
 * untrack of one page of a two-page range splits its span. */
static void churn(struct ww_tracker *t)
{
	size_t b = rnd(npages / BLOCK) * BLOCK + NW, c = b + rnd(2), np = 1 + rnd(2);

	if (np == 2)
		c = b;
	for (size_t q = c + 1; q < c + np; q++)
		if (churned[q] != churned[c])
			return;
	if (churned[c])
		CHECK_EQ(ww_untrack(t, mem + c * PS, np * PS), 0);
	else
		CHECK_EQ(ww_track(t, mem + c * PS, np * PS), 0);
	for (size_t q = c; q < c + np; q++)
		churned[q] = !churned[q];
	nchurn++;
}

/* Another tracker is refused a page t holds (the backend's own table says
 * so), and gets one nobody holds. */
static void cross_check(struct ww_tracker *t2)
{
	for (int tries = 0; tries < 64; tries++) {
		size_t p = rnd(npages);

		if (is_w(p) && atomic_load(&tracked[p])) {
			CHECK_EQ(ww_track(t2, mem + p * PS, PS), -EBUSY);
			break;
		}
	}
	for (int tries = 0; tries < 64; tries++) {
		size_t p = rnd(npages);

		if (!is_w(p) && !churned[p]) {
			CHECK_EQ(ww_track(t2, mem + p * PS, PS), 0);
			CHECK_EQ(ww_untrack(t2, mem + p * PS, PS), 0);
			break;
		}
	}
}

/* After everything was untracked: grow the table again, write a known set
 * of pages, see exactly those, untrack in random order. */
static void regrow(struct ww_tracker *t, size_t *order, size_t nw)
{
	shuffle(order, nw);
	for (size_t i = 0; i < nw; i++)
		CHECK_EQ(ww_track(t, mem + order[i] * PS, PS), 0);
	for (size_t p = 0; p < npages; p++)
		if (is_w(p) && p % 7 == 3)
			mem[p * PS + 100]++;
	for (size_t b = 0; b < npages; b += BLOCK) {
		struct iovec out[BLOCK];
		bool dirty[NW];
		size_t n = harness_collect_all(t, mem + b * PS, NW * PS, 0, out, BLOCK);

		harness_pages(out, n, mem + b * PS, NW, dirty);
		for (size_t q = 0; q < NW; q++)
			CHECK_EQ(dirty[q], (b + q) % 7 == 3);
	}
	shuffle(order, nw);
	for (size_t i = 0; i < nw; i++)
		CHECK_EQ(ww_untrack(t, mem + order[i] * PS, PS), 0);
}

int main(int argc, char **argv)
{
	struct ww_tracker *t = harness_open(argc, argv), *t2;
	unsigned int need = WW_CAP_EXACT | WW_CAP_NO_MISSED_WRITES | WW_CAP_ATOMIC_RESET;
	struct ww_opts o = { .sz = sizeof(o), .backend = harness_backend };
	size_t *order = calloc(npages, sizeof(*order)), nw = 0;
	pthread_t th[NWRITERS];
	long rounds, nwrites = 0, nreports = 0;

	if (!harness_has(need)) {
		printf("SKIP: %s: reports are not exact and atomic (the check here needs both)\n",
		       argv[1]);
		return SKIP;
	}
	{
		FILE *f = fopen("/proc/sys/vm/max_map_count", "re");
		unsigned long limit = 0;

		if (f && fscanf(f, "%lu", &limit) == 1 && limit < NPAGES + 4096) {
			/* room for the process's other mappings and the tracker's */
			/* a range's pages and the tracker's own mappings */
			npages = limit > 4096 ? (limit - 4096) / 3 / BLOCK * BLOCK : 0;
			printf("note: vm.max_map_count is %lu: %zu pages, not %d\n", limit, npages,
			       NPAGES);
		}
		if (f)
			fclose(f);
		if (npages < 2048) {
			printf("SKIP: vm.max_map_count leaves room for too few mappings\n");
			ww_close(t);
			free(order);
			return SKIP;
		}
	}
	CHECK(order != NULL);
	CHECK_EQ(ww_open(&o, &t2), 0);
	mem = harness_map(npages);
	/* exact pages: no transparent huge page reported whole */
	madvise(mem, npages * PS, MADV_NOHUGEPAGE);
	for (size_t p = 0; p < npages; p++)
		if (is_w(p))
			order[nw++] = p;
	shuffle(order, nw);
	for (unsigned int k = 0; k < NWRITERS; k++)
		CHECK_EQ(pthread_create(&th[k], NULL, writer, (void *)(uintptr_t)k), 0);

	/* grow under faults */
	for (size_t i = 0; i < nw; i++) {
		CHECK_EQ(ww_track(t, mem + order[i] * PS, PS), 0);
		atomic_store(&tracked[order[i]], 1);
		if (i % 3 == 0)
			churn(t);
		if (i % 997 == 0)
			cross_check(t2);
	}
	/* re-arm under faults while the table changes */
	for (rounds = 0; harness_more(rounds, 2, 4); rounds++)
		for (size_t b = 0; b < npages; b += BLOCK) {
			collect(t, b, NW);
			churn(t);
			if (b % 4096 == 0)
				cross_check(t2);
		}
	/* shrink under faults, in random order; a page leaves the writers
	 * before its last collect */
	shuffle(order, nw);
	for (size_t i = 0; i < nw; i++) {
		size_t p = order[i];

		atomic_store(&tracked[p], 0);
		while (atomic_load(&busy[p]))
			sched_yield();
		collect(t, p, 1);
		CHECK_EQ(ww_untrack(t, mem + p * PS, PS), 0);
		if (i % 3 == 0)
			churn(t);
	}
	atomic_store(&stop, true);
	for (unsigned int k = 0; k < NWRITERS; k++)
		pthread_join(th[k], NULL);
	for (size_t p = 0; p < npages; p++)
		if (churned[p]) {
			CHECK_EQ(ww_untrack(t, mem + p * PS, PS), 0);
			churned[p] = false;
		}

	for (size_t p = 0; p < npages; p++) {
		unsigned int w = atomic_load(&writes[p]);

		if (!is_w(p))
			continue;
		for (unsigned int k = 0; k < NWRITERS; k++)
			if (shadow[p][k] != *word(p, k)) {
				fprintf(stderr,
					"page %zu: a write was lost (%u writes, %u reports)\n", p,
					w, reports[p]);
				return 1;
			}
		if ((w > 0) != (reports[p] > 0)) {
			fprintf(stderr, "page %zu: %u reports for %u writes\n", p, reports[p], w);
			return 1;
		}
		nwrites += w;
		nreports += reports[p];
	}
	regrow(t, order, nw);
	ww_close(t2);
	ww_close(t);
	free(order);
	printf("ok: %s: %zu ranges tracked, untracked in random order under %d writers "
	       "(%ld writes, %ld reports, %ld rounds, %ld churn changes); table grown again, "
	       "exact\n",
	       argv[1], nw, NWRITERS, nwrites, nreports, rounds, nchurn);
	return 0;
}
