/* SPDX-License-Identifier: MIT */
/*
 * Save a live table to a file while writers keep updating it, without
 * fork(): a copy-before-write snapshot (WW_SNAP_COW) is the table at one
 * instant; a saver reads it out at leisure, and each page is copied aside
 * only when a writer is about to change it. Then the file is checked:
 * every record in it must be whole (a writer updates a record's two halves
 * in order with values that only grow, and the snapshot must never show the
 * second half newer than the first).
 *
 *   cc cow_save.c -lpthread $(pkg-config --cflags --libs writewatch)
 *   ./cow_save [MiB] [file]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <writewatch.h>

/* A record spans two pages: its first half at the start of page 2i, its
 * second at the start of page 2i+1; a writer stores v into the first, then
 * into the second. */
static char *table;
static size_t len, pagesz, records;
static atomic_bool stop;
static atomic_ulong updates;

static void *writer(void *arg)
{
	uint64_t x = (uint64_t)(uintptr_t)arg * 0x9e3779b97f4a7c15ULL + 1;

	for (uint64_t v = 1; !atomic_load_explicit(&stop, memory_order_relaxed); v++) {
		size_t r;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		r = x % records;
		/* one writer per record (by parity): its halves stay ordered */
		if (r % 2 != (size_t)(uintptr_t)arg)
			r ^= 1;
		if (r >= records)
			continue;
		*(volatile uint64_t *)(table + 2 * r * pagesz) = v;
		atomic_thread_fence(memory_order_seq_cst);
		*(volatile uint64_t *)(table + (2 * r + 1) * pagesz) = v;
		atomic_fetch_add_explicit(&updates, 1, memory_order_relaxed);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	size_t mib = argc > 1 ? strtoul(argv[1], NULL, 0) : 256;
	const char *path = argc > 2 ? argv[2] : "cow_save.out";
	struct ww_opts o = { .sz = sizeof(o), .caps = WW_CAP_PREWRITE };
	char why[512], *buf;
	const char *name;
	struct ww_tracker *t;
	struct ww_snapshot *s;
	pthread_t w[2];
	struct timespec t0, t1;
	size_t bad = 0;
	FILE *f;
	int err;

	pagesz = (size_t)sysconf(_SC_PAGESIZE);
	len = mib << 20;
	records = len / pagesz / 2;
	table = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	buf = malloc(1 << 20);
	if (table == MAP_FAILED || !buf)
		return 1;
	memset(table, 0, len);
	/* any mechanism that can copy a page before its write: no names */
	if ((err = ww_open_why(&o, &t, why, sizeof(why)))) {
		/* 77: skipped (as a test), with the reason on stdout, one line */
		for (char *c = why; *c; c++)
			if (*c == '\n')
				*c = ';';
		printf("SKIP: no copy-before-write here: %s: %s\n", strerror(-err), why);
		free(buf);
		return 77;
	}
	if ((err = ww_track(t, table, len))) {
		fprintf(stderr, "cow_save: track: %s\n", strerror(-err));
		return 1;
	}
	for (long i = 0; i < 2; i++)
		pthread_create(&w[i], NULL, writer, (void *)i);
	usleep(100000);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	if ((err = ww_snapshot_take(t, table, len, WW_SNAP_COW, &s))) {
		fprintf(stderr, "cow_save: snapshot: %s\n", strerror(-err));
		return 1;
	}
	f = fopen(path, "w");
	if (!f)
		return 1;
	for (size_t off = 0; off < len; off += 1 << 20) { /* writers running */
		if (ww_snapshot_read(s, table + off, 1 << 20, buf) != 1 << 20 ||
		    fwrite(buf, 1, 1 << 20, f) != 1 << 20) {
			fprintf(stderr, "cow_save: save: %s\n", strerror(errno));
			return 1;
		}
	}
	fclose(f);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	atomic_store(&stop, true);
	for (int i = 0; i < 2; i++)
		pthread_join(w[i], NULL);
	ww_snapshot_free(s);
	name = ww_backend_name(ww_tracker_backend(t));
	ww_close(t);

	/* every record in the file is whole */
	f = fopen(path, "r");
	for (size_t r = 0; f && r < records; r++) {
		uint64_t a, b;

		if (fseek(f, (long)(2 * r * pagesz), SEEK_SET) || fread(&a, 8, 1, f) != 1 ||
		    fseek(f, (long)((2 * r + 1) * pagesz), SEEK_SET) || fread(&b, 8, 1, f) != 1)
			return 1;
		bad += b > a; /* the second half newer than the first: torn */
	}
	if (f)
		fclose(f);
	printf("cow_save: saved %zu MiB with %s in %.0f ms while 2 writers made %lu updates; "
	       "%zu torn records\n",
	       mib, name,
	       (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6,
	       atomic_load(&updates), bad);
	remove(path);
	free(buf);
	munmap(table, len);
	return bad ? 1 : 0;
}
