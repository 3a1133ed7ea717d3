/* SPDX-License-Identifier: MIT */
/*
 * A snapshot fuzzer's loop: build a program state once (here a 64 MiB
 * table), snapshot it, then for each input run the code under test on the
 * state and roll the state back before the next input. The rollback copies
 * back only the pages the run wrote, so it costs what the run touched, not
 * the size of the state; a fork per input (AFL's fork server) or a copy of
 * the whole state costs the size.
 *
 *   cc rollback.c $(pkg-config --cflags --libs writewatch)
 *   ./rollback [inputs]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include <writewatch.h>

#define STATE (64UL << 20)

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The code under test: an input is a list of (slot, value) updates to the
 * table; a few inputs also "crash" halfway, leaving a mess. */
static void run_input(uint64_t *table, size_t slots, uint64_t seed)
{
	size_t n = 1 + seed % 50;

	for (size_t i = 0; i < n; i++) {
		seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
		table[(seed >> 16) % slots] = seed;
	}
}

static uint64_t checksum(const uint64_t *table, size_t slots)
{
	uint64_t h = 0;

	for (size_t i = 0; i < slots; i++)
		h = (h ^ table[i]) * 0x100000001b3ULL;
	return h;
}

int main(int argc, char **argv)
{
	size_t slots = STATE / sizeof(uint64_t),
	       inputs = argc > 1 ? strtoul(argv[1], NULL, 0) : 2000;
	uint64_t *table, sum0, t_restore = 0, t0, pages = 0;
	struct ww_tracker *t;
	struct ww_snapshot *s;
	int err;

	table = mmap(NULL, STATE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (table == MAP_FAILED)
		return 1;
	for (size_t i = 0; i < slots; i++) /* the state the fuzzer starts from */
		table[i] = i * 2654435761u;
	sum0 = checksum(table, slots);

	if ((err = ww_open(NULL, &t)) || (err = ww_track(t, table, STATE)) ||
	    (err = ww_snapshot_take(t, table, STATE, 0, &s))) {
		fprintf(stderr, "rollback: %s\n", strerror(-err));
		return 1;
	}
	printf("rollback: %zu inputs on a %lu MiB state, tracked with %s\n", inputs, STATE >> 20,
	       ww_backend_name(ww_tracker_backend(t)));
	for (size_t i = 0; i < inputs; i++) {
		ssize_t n;

		run_input(table, slots, i + 1);
		t0 = now_ns();
		n = ww_snapshot_restore(s);
		t_restore += now_ns() - t0;
		if (n < 0) {
			fprintf(stderr, "rollback: restore: %s\n", strerror((int)-n));
			return 1;
		}
		pages += (uint64_t)n;
	}
	if (checksum(table, slots) != sum0) {
		fprintf(stderr, "rollback: the state differs from the snapshot\n");
		return 1;
	}
	printf("rollback: state intact after every input; %.1f pages put back per input, "
	       "%.1f us per restore\n",
	       (double)pages / (double)inputs, (double)t_restore / 1e3 / (double)inputs);
	{
		/* what copying the whole state back would cost (between two
		 * untracked buffers, faulted in first) */
		char *a = malloc(STATE), *b = malloc(STATE);

		if (a && b) {
			memcpy(a, table, STATE);
			memcpy(b, a, STATE);
			t0 = now_ns();
			memcpy(b, a, STATE);
			if (memcmp(a, b, 64))
				return 1; /* and the copy is used: not optimised away */
			printf("rollback: copying the whole state back instead: %.1f us per input\n",
			       (double)(now_ns() - t0) / 1e3);
		}
		free(a);
		free(b);
	}
	ww_snapshot_free(s);
	ww_close(t);
	return 0;
}
