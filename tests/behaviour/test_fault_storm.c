/* SPDX-License-Identifier: MIT */
/*
 * A fault storm: more writer threads than CPUs store into the same few
 * pages, so that several fault on one page at once and some are preempted
 * in the middle of being handled, while the collector collects with
 * WW_RESET in a tight loop and copies each reported page into a shadow.
 * Every write must be seen (the shadow equals the memory at the end) and
 * no fault may escape to the application (a write fault passed on as not
 * the tracker's kills the process with SIGSEGV).
 *
 * It found a race in the mprotect backend: the collector's check for
 * protections the application changed (refresh) read the written bits
 * without the lock, saw a page's bit set by a handler that had not yet made
 * the page writable, took the page's protection from /proc/self/maps as
 * read-only and adopted it as the application's; a second writer faulting
 * on that page then had its fault passed on (SIGSEGV), about 1 run in 100
 * of win32_threads under load. Not atomic (soft-dirty): writers pause
 * around each collect, as documented.
 *
 * WW_STORM_SECONDS (default 3) sets how long it runs.
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness.h"

#define PAGES 16
#define WRITERS 8

static char *mem;
static atomic_int stop, pause_req, active;
static atomic_ulong writes;

static void *writer(void *arg)
{
	uint64_t v = (uint64_t)(uintptr_t)arg << 48;
	size_t slot = (uintptr_t)arg * 8;

	while (!atomic_load(&stop)) {
		if (atomic_load(&pause_req)) {
			sched_yield();
			continue;
		}
		atomic_fetch_add(&active, 1);
		if (!atomic_load(&pause_req))
			/* Every writer walks the same pages in the same order:
			 * they meet on a page right after its reset. */
			for (size_t p = 0; p < PAGES; p++)
				__atomic_store_n((uint64_t *)(mem + p * PS + slot), ++v,
						 __ATOMIC_RELAXED);
		atomic_fetch_sub(&active, 1);
		atomic_fetch_add(&writes, 1);
	}
	return NULL;
}

static void copy_page(char *dst, const char *src)
{
	for (size_t i = 0; i < PS; i += 8)
		*(uint64_t *)(dst + i) =
			__atomic_load_n((const uint64_t *)(src + i), __ATOMIC_RELAXED);
}

static size_t collect(struct ww_tracker *t, char *shadow)
{
	struct iovec out[PAGES];
	size_t pages = 0;
	void *next;
	ssize_t n = ww_collect(t, mem, PAGES * PS, WW_RESET, out, PAGES, &next);

	CHECK(n >= 0);
	for (ssize_t i = 0; i < n; i++)
		for (char *p = out[i].iov_base; p < (char *)out[i].iov_base + out[i].iov_len;
		     p += PS, pages++)
			copy_page(shadow + (p - mem), p);
	return pages;
}

static void pause_writers(void)
{
	atomic_store(&pause_req, 1);
	while (atomic_load(&active))
		sched_yield();
}

int main(int argc, char **argv)
{
	struct ww_tracker *t = harness_open(argc, argv);
	const char *env = getenv("WW_STORM_SECONDS");
	double seconds = env ? atof(env) : 3.0;
	bool not_atomic = !harness_has(WW_CAP_ATOMIC_RESET);
	char *shadow = calloc(PAGES, PS);
	pthread_t th[WRITERS];
	struct timespec t0, now;
	size_t rounds = 0, copied = 0;

	CHECK(shadow);
	mem = harness_map(PAGES);
	CHECK_EQ(ww_track(t, mem, PAGES * PS), 0);
	for (uintptr_t i = 0; i < WRITERS; i++)
		CHECK_EQ(pthread_create(&th[i], NULL, writer, (void *)i), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		if (not_atomic)
			pause_writers();
		copied += collect(t, shadow);
		atomic_store(&pause_req, 0);
		rounds++;
		clock_gettime(CLOCK_MONOTONIC, &now);
	} while ((double)(now.tv_sec - t0.tv_sec) + (double)(now.tv_nsec - t0.tv_nsec) / 1e9 <
		 seconds);
	atomic_store(&stop, 1);
	for (int i = 0; i < WRITERS; i++)
		CHECK_EQ(pthread_join(th[i], NULL), 0);
	copied += collect(t, shadow);
	CHECK(memcmp(shadow, mem, PAGES * PS) == 0);
	CHECK_EQ(collect(t, shadow), 0);
	ww_close(t);
	free(shadow);
	printf("ok: %s: %lu passes of %d writers over %d pages, %zu collect rounds, %zu pages "
	       "copied, shadow equals memory\n",
	       argv[1], atomic_load(&writes), WRITERS, PAGES, rounds, copied);
	return 0;
}
