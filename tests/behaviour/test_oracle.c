/* SPDX-License-Identifier: MIT */
/*
 * The oracle (DESIGN.md). Writer threads store known values at random places
 * (some straddling two pages) while a collector repeatedly collects with
 * WW_RESET and copies every reported page into a shadow copy. At the end the
 * shadow must equal the memory byte for byte: any write lost by the tracker
 * leaves a difference. Backends that are not atomic against writers
 * (soft-dirty) run with the writers paused around each collect, which is the
 * condition under which they promise correctness.
 *
 * WW_ORACLE_SECONDS (default 2) and WW_ORACLE_WRITERS (default 2) tune it;
 * raise them for a stress run.
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "harness.h"

#define PAGES 1024
#define BATCH 64

static char *mem;
static atomic_int stop, pause_req, active;
static atomic_ulong writes;

/* Word-sized relaxed atomics keep the intended races visible to TSAN as
 * synchronised accesses: the test is about pages, not about torn words. */
static void store64(char *p, uint64_t v)
{
	__atomic_store_n((uint64_t *)p, v, __ATOMIC_RELAXED);
}

static void copy_pages(char *dst, const char *src, size_t len)
{
	for (size_t i = 0; i < len; i += 8)
		*(uint64_t *)(dst + i) =
			__atomic_load_n((const uint64_t *)(src + i), __ATOMIC_RELAXED);
}

static void *writer(void *arg)
{
	uint64_t seed = (uintptr_t)arg * 0x9e3779b97f4a7c15ULL + 1, v = (uintptr_t)arg << 48;

	while (!atomic_load(&stop)) {
		if (atomic_load(&pause_req)) {
			sched_yield();
			continue;
		}
		atomic_fetch_add(&active, 1);
		if (atomic_load(&pause_req)) {
			atomic_fetch_sub(&active, 1);
			continue;
		}
		for (int i = 0; i < BATCH; i++) {
			size_t off;

			seed ^= seed << 13;
			seed ^= seed >> 7;
			seed ^= seed << 17;
			off = (seed % (PAGES * PS / 8 - 1)) * 8;
			store64(mem + off, ++v);
			if ((seed & 63) == 0 && off % PS == PS - 8) /* straddle */
				store64(mem + off + 8, ++v);
		}
		atomic_fetch_add(&writes, BATCH);
		atomic_fetch_sub(&active, 1);
	}
	return NULL;
}

static size_t collect_into(struct ww_tracker *t, char *shadow)
{
	struct iovec out[32];
	char *p = mem, *end = mem + PAGES * PS;
	size_t pages = 0;

	while (p < end) {
		void *next;
		ssize_t n = ww_collect(t, p, (size_t)(end - p), WW_RESET, out, 32, &next);

		CHECK(n >= 0);
		for (ssize_t i = 0; i < n; i++) {
			size_t off = (size_t)((char *)out[i].iov_base - mem);

			copy_pages(shadow + off, mem + off, out[i].iov_len);
			pages += out[i].iov_len / PS;
		}
		p = next;
	}
	return pages;
}

int main(int argc, char **argv)
{
	struct ww_tracker *t = harness_open(argc, argv);
	const char *es = getenv("WW_ORACLE_SECONDS"), *ew = getenv("WW_ORACLE_WRITERS");
	double secs = es ? atof(es) : 2.0;
	int nw = ew ? atoi(ew) : 2;
	bool pause_writers = !harness_has(WW_CAP_ATOMIC_RESET);
	pthread_t th[64];
	struct timespec t0, now;
	char *shadow;
	size_t rounds = 0, reported = 0;

	if (nw < 1 || nw > 64)
		nw = 2;
	mem = harness_map(PAGES);
	shadow = harness_map(PAGES);
	for (size_t i = 0; i < PAGES * PS; i += 8)
		store64(mem + i, i);
	CHECK_EQ(ww_track(t, mem, PAGES * PS), 0);
	copy_pages(shadow, mem, PAGES * PS);

	for (int i = 0; i < nw; i++)
		CHECK_EQ(pthread_create(&th[i], NULL, writer, (void *)(uintptr_t)(i + 1)), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		if (pause_writers) {
			atomic_store(&pause_req, 1);
			while (atomic_load(&active))
				sched_yield();
		}
		reported += collect_into(t, shadow);
		if (pause_writers)
			atomic_store(&pause_req, 0);
		rounds++;
		sched_yield();
		clock_gettime(CLOCK_MONOTONIC, &now);
	} while ((double)(now.tv_sec - t0.tv_sec) + (double)(now.tv_nsec - t0.tv_nsec) / 1e9 <
		 secs);
	atomic_store(&stop, 1);
	for (int i = 0; i < nw; i++)
		pthread_join(th[i], NULL);
	reported += collect_into(t, shadow);

	if (memcmp(shadow, mem, PAGES * PS)) {
		for (size_t p = 0; p < PAGES; p++)
			if (memcmp(shadow + p * PS, mem + p * PS, PS)) {
				fprintf(stderr, "FAIL: page %zu differs: a write was lost\n", p);
				break;
			}
		return 1;
	}
	CHECK(atomic_load(&writes) > 0);
	CHECK(reported > 0);
	ww_close(t);
	printf("ok: %s: oracle held: %lu writes by %d threads, %zu collect rounds, %zu pages "
	       "copied%s\n",
	       argv[1], atomic_load(&writes), nw, rounds, reported,
	       pause_writers ? " (writers paused around collect)" : "");
	return 0;
}
