/* SPDX-License-Identifier: MIT */
/*
 * Several threads hammer the same page (a card table's hot page) while
 * another calls GetWriteWatch with RESET on it over and over. Regression
 * test for the mprotect backend, where two threads faulting on one page, one
 * losing the race twice with a reset in between, once made the loser's
 * write look like the application's own protection fault and killed the
 * process with SIGSEGV. Every write must go through and each reset page
 * written after the reset must be reported again. (soft-dirty is not
 * atomic: there the writers pause around each call, as documented.
 * WW_ORACLE_SECONDS below 2 runs a tenth of the rounds.)
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#include "w32.h"

#define WRITERS 2
#define ROUNDS 20000

static char *base;
static atomic_int stop, pause_req, active;
static atomic_ulong writes;

static void *writer(void *arg)
{
	unsigned int v = 0;
	size_t off = (size_t)(uintptr_t)arg * 64;

	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		if (atomic_load(&pause_req)) {
			sched_yield();
			continue;
		}
		atomic_fetch_add(&active, 1);
		if (atomic_load(&pause_req)) {
			atomic_fetch_sub(&active, 1);
			continue;
		}
		atomic_store_explicit((_Atomic unsigned int *)(base + off), ++v,
				      memory_order_relaxed);
		atomic_fetch_sub(&active, 1);
		if (atomic_fetch_add_explicit(&writes, 1, memory_order_relaxed) % 8 == 0)
			sched_yield(); /* shared cores: let the collector run */
	}
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t th[WRITERS];
	void *addrs[2];
	size_t seen = 0;
	bool not_atomic, inexact;

	w32_setup(argc, argv);
	not_atomic = !harness_has(WW_CAP_ATOMIC_RESET);
	inexact = !harness_has(WW_CAP_EXACT);
	base = ww_VirtualAlloc(NULL, 2 * PS, WW_MEM_RESERVE | WW_MEM_COMMIT | WW_MEM_WRITE_WATCH,
			       WW_PAGE_READWRITE);
	CHECK(base);
	for (uintptr_t i = 0; i < WRITERS; i++)
		CHECK_EQ(pthread_create(&th[i], NULL, writer, (void *)i), 0);
	for (int r = 0; r < w32_rounds(ROUNDS); r++) {
		unsigned long w = atomic_load(&writes);
		uintptr_t n;

		/* A write after the previous reset: the page must be reported. */
		while (atomic_load(&writes) < w + 2)
			sched_yield();
		if (not_atomic) {
			/* Not atomic (documented): writers stop around the call. */
			atomic_store(&pause_req, 1);
			while (atomic_load(&active))
				sched_yield();
		}
		n = w32_get(WW_WRITE_WATCH_FLAG_RESET, base, 2 * PS, addrs, 2);
		atomic_store(&pause_req, 0);
		/* soft-dirty may add the other page: its VMA can merge with a
		 * thread stack's and read dirty as a whole (documented). */
		CHECK(n == 1 || (inexact && n == 2));
		CHECK(addrs[0] == base);
		seen++;
	}
	atomic_store(&stop, 1);
	for (int i = 0; i < WRITERS; i++)
		CHECK_EQ(pthread_join(th[i], NULL), 0);
	printf("ok: %s: %zu resets of a page %d threads write, %lu writes\n", argv[1], seen,
	       WRITERS, atomic_load(&writes));
	CHECK(ww_VirtualFree(base, 0, WW_MEM_RELEASE));
	return 0;
}
