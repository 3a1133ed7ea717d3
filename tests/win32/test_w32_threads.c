/* SPDX-License-Identifier: MIT */
/*
 * No write is lost while other threads write and one thread calls
 * GetWriteWatch with RESET (an oracle): writers store increasing values in
 * random pages until the collector has made ROUNDS calls, with small and
 * large capacities; it copies each page it is told about into a shadow copy
 * *after* the call reset it. Any write the layer lost would leave the shadow
 * behind the memory at the end, once writers have stopped and a final
 * collection ran. Meanwhile the collector also changes the protection of,
 * decommits and recommits the last SIDE pages, which no writer touches:
 * that must not lose writes to the other pages of the allocation.
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
static atomic_int started, stop;
static atomic_ulong writes; /* so each round waits for fresh writes */

static void *writer(void *arg)
{
	unsigned int seed = (unsigned int)(uintptr_t)arg * 2654435761u + 1;

	atomic_fetch_add(&started, 1);
	for (unsigned int i = 1; !atomic_load_explicit(&stop, memory_order_relaxed); i++) {
		size_t pg;
		size_t off;

		seed = seed * 1103515245u + 12345u;
		pg = (seed >> 8) % (PAGES - SIDE);
		off = ((seed >> 3) % (PS / 64)) * 64 + (size_t)(uintptr_t)arg * 8;
		/* Each writer owns 8 bytes of each 64: values only grow. */
		atomic_store_explicit((_Atomic unsigned int *)(base + pg * PS + off), i,
				      memory_order_relaxed);
		atomic_fetch_add_explicit(&writes, 1, memory_order_relaxed);
		if (i % 256 == 0)
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

int main(int argc, char **argv)
{
	static const uintptr_t caps[] = { 1, 3, 17, PAGES };
	pthread_t th[WRITERS];
	size_t rounds = 0, reported = 0;

	w32_setup(argc, argv);
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
	for (; rounds < ROUNDS; rounds++) {
		unsigned long seen = atomic_load(&writes);

		while (atomic_load(&writes) < seen + 64)
			sched_yield();
		reported += collect(caps[rounds % 4]);
		side_change(rounds);
	}
	atomic_store(&stop, 1);
	for (int i = 0; i < WRITERS; i++)
		CHECK_EQ(pthread_join(th[i], NULL), 0);
	/* Drain: capacity may be smaller than what is left. */
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
