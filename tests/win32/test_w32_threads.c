/* SPDX-License-Identifier: MIT */
/*
 * No write is lost while other threads write and one thread calls
 * GetWriteWatch with RESET (an oracle): writers store increasing values in
 * random pages until the collector has made ROUNDS calls, with small and
 * large capacities; it copies each page it is told about into a shadow copy
 * *after* the call reset it. Any write the layer lost would leave the shadow
 * behind the memory at a checkpoint (writers paused, everything collected),
 * every 25 calls and at the end. Meanwhile the collector also changes the protection of,
 * decommits and recommits the last SIDE pages, which no writer touches:
 * that must not lose writes to the other pages of the allocation. On the
 * userfaultfd backends, where the layer changes protections in place, it
 * also re-protects and re-commits (read-write to read-write) the first
 * SIDE pages while writers write them: no write may be lost there either.
 * (The mprotect backend re-tracks changed pages, so writes to those same
 * pages during the call are a documented gap, not asserted; soft-dirty is
 * not atomic, so there writers are paused around each call and each side
 * change, as documented.
 * WW_ORACLE_SECONDS below 2 runs a tenth of the rounds.)
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#include "w32.h"

#define PAGES 256
#define SIDE 16 /* pages at the end that only change protection */
#define WRITERS 2
#define ROUNDS 1000 /* collector calls made while the writers run */

static char *base, *shadow;
static atomic_int started, stop, pause_req, active;
static atomic_ulong writes; /* so each round waits for fresh writes */

static void *writer(void *arg)
{
	unsigned int seed = (unsigned int)(uintptr_t)arg * 2654435761u + 1, v = 0;

	atomic_fetch_add(&started, 1);
	while (!atomic_load(&stop)) {
		/* Checkpoints stop writers between batches (see checkpoint()). */
		if (atomic_load(&pause_req)) {
			sched_yield();
			continue;
		}
		atomic_fetch_add(&active, 1);
		if (atomic_load(&pause_req)) {
			atomic_fetch_sub(&active, 1);
			continue;
		}
		for (int k = 0; k < 64; k++) {
			size_t pg, off;

			seed = seed * 1103515245u + 12345u;
			pg = (seed >> 8) % (PAGES - SIDE);
			off = ((seed >> 3) % (PS / 64)) * 64 + (size_t)(uintptr_t)arg * 8;
			/* Each writer owns 8 bytes of each 64: values only grow. */
			atomic_store_explicit((_Atomic unsigned int *)(base + pg * PS + off), ++v,
					      memory_order_relaxed);
		}
		atomic_fetch_add(&writes, 64);
		atomic_fetch_sub(&active, 1);
		sched_yield(); /* two shared cores: let the collector in */
	}
	return NULL;
}

static size_t collect(uintptr_t cap)
{
	void *addrs[PAGES];
	uintptr_t n = w32_get(WW_WRITE_WATCH_FLAG_RESET, base, PAGES * PS, addrs, cap);

	for (uintptr_t i = 0; i < n; i++) {
		size_t off = (size_t)((char *)addrs[i] - base);

		CHECK(off % PS == 0 && off < PAGES * PS);
		CHECK(i == 0 || addrs[i] > addrs[i - 1]);
		/* Atomic loads: the writers may be storing into this page. */
		for (size_t b = 0; b < PS; b += sizeof(unsigned int))
			*(unsigned int *)(shadow + off + b) = atomic_load_explicit(
				(_Atomic unsigned int *)(base + off + b), memory_order_relaxed);
	}
	return n;
}

static void side_change(size_t round)
{
	char *side = base + (PAGES - SIDE) * PS;
	uint32_t old;

	if (round % 4 == 0 && w32_changes_in_place()) {
		CHECK(ww_VirtualProtect(base, SIDE * PS, WW_PAGE_READWRITE, &old));
		CHECK_EQ(old, WW_PAGE_READWRITE);
		CHECK(ww_VirtualAlloc(base, SIDE * PS, WW_MEM_COMMIT, WW_PAGE_READWRITE) == base);
	}
	switch (round % 8) {
	case 1:
		CHECK(ww_VirtualProtect(side, SIDE * PS, WW_PAGE_READONLY, &old));
		break;
	case 3:
		CHECK(ww_VirtualProtect(side, SIDE * PS, WW_PAGE_NOACCESS, &old));
		break;
	case 5:
		CHECK(ww_VirtualFree(side, SIDE * PS, WW_MEM_DECOMMIT));
		break;
	case 7:
		CHECK(ww_VirtualAlloc(side, SIDE * PS, WW_MEM_COMMIT, WW_PAGE_READWRITE) == side);
		break;
	}
}

/* Stop the writers, drain, and compare: a lost write shows here even if the
 * page is written again later (which would hide it from the final check). */
static void checkpoint(void)
{
	atomic_store(&pause_req, 1);
	while (atomic_load(&active))
		sched_yield();
	while (collect(PAGES) > 0)
		;
	/* The last SIDE pages may be no-access now; nobody writes them. */
	CHECK(!memcmp(shadow, base, (PAGES - SIDE) * PS));
	atomic_store(&pause_req, 0);
}

int main(int argc, char **argv)
{
	static const uintptr_t caps[] = { 1, 3, 17, PAGES };
	pthread_t th[WRITERS];
	size_t rounds = 0, reported = 0;
	bool not_atomic;

	w32_setup(argc, argv);
	not_atomic = !harness_has(WW_CAP_ATOMIC_RESET);
	base = ww_VirtualAlloc(NULL, PAGES * PS,
			       WW_MEM_RESERVE | WW_MEM_COMMIT | WW_MEM_WRITE_WATCH,
			       WW_PAGE_READWRITE);
	CHECK(base);
	shadow = calloc(PAGES, PS);
	CHECK(shadow);

	for (uintptr_t i = 0; i < WRITERS; i++)
		CHECK_EQ(pthread_create(&th[i], NULL, writer, (void *)i), 0);
	while (atomic_load(&started) < WRITERS)
		;
	for (; rounds < (size_t)w32_rounds(ROUNDS); rounds++) {
		unsigned long seen = atomic_load(&writes);

		while (atomic_load(&writes) < seen + 64)
			sched_yield();
		if (not_atomic) {
			/* Not atomic (documented): writers stop around the call. */
			atomic_store(&pause_req, 1);
			while (atomic_load(&active))
				sched_yield();
		}
		reported += collect(caps[rounds % 4]);
		/* On soft-dirty the side changes re-track, and tracking clears
		 * soft-dirty bits process-wide: writers stay stopped for it. */
		side_change(rounds);
		atomic_store(&pause_req, 0);
		if (rounds % 25 == 24)
			checkpoint();
	}
	atomic_store(&stop, 1);
	for (int i = 0; i < WRITERS; i++)
		CHECK_EQ(pthread_join(th[i], NULL), 0);
	/* The side pages back to read-write, then drain: capacity may be
	 * smaller than what is left. */
	CHECK(ww_VirtualAlloc(base + (PAGES - SIDE) * PS, SIDE * PS, WW_MEM_COMMIT,
			      WW_PAGE_READWRITE));
	while (collect(PAGES) > 0)
		;
	CHECK(!memcmp(shadow, base, PAGES * PS));
	EXPECT_NONE(base, PAGES);
	printf("ok: %s: %zu rounds, %lu writes, %zu pages reported, shadow equals memory\n",
	       argv[1], rounds, atomic_load(&writes), reported);
	CHECK(ww_VirtualFree(base, 0, WW_MEM_RELEASE));
	free(shadow);
	return 0;
}
