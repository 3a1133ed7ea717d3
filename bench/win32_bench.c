/* SPDX-License-Identifier: MIT */
/*
 * What the Win32 layer costs: one GetWriteWatch+RESET cycle on a 2,048-page
 * write-watch allocation with 1,024 scattered written pages, next to the
 * same collection through ww_collect(WW_RESET) on a plain tracked mapping,
 * per backend. The writes are made before each timed call and not timed;
 * the two variants alternate so drift hits both alike. Prints one human line
 * and one JSON line per backend; ratio = layer median / core median.
 *
 * Usage: win32_bench [-n REPS] [BACKEND...]   (default: every backend)
 * Each backend runs in a child process, because the layer's shared tracker
 * is chosen once per process (WRITEWATCH_BACKEND).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "writewatch.h"
#include "writewatch/win32.h"

#define PAGES 2048
#define DIRTY 1024

static size_t ps;
static size_t dirty[DIRTY]; /* page indexes, ascending */

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static int cmp_size(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;

	return (x > y) - (x < y);
}

/* A fixed pseudo-random half of the pages. */
static void pick_pages(void)
{
	size_t idx[PAGES];
	unsigned int seed = 12345;

	for (size_t i = 0; i < PAGES; i++)
		idx[i] = i;
	for (size_t i = PAGES - 1; i > 0; i--) {
		size_t j, t;

		seed = seed * 1103515245u + 12345u;
		j = (seed >> 8) % (i + 1);
		t = idx[i];
		idx[i] = idx[j];
		idx[j] = t;
	}
	for (size_t i = 0; i < DIRTY; i++)
		dirty[i] = idx[i];
	qsort(dirty, DIRTY, sizeof(*dirty), cmp_size);
}

static void dirty_pages(char *m, unsigned char v)
{
	for (size_t i = 0; i < DIRTY; i++)
		m[dirty[i] * ps + 8] = (char)v;
}

static int run(const char *name, int reps)
{
	static void *addrs[PAGES];
	static struct iovec out[DIRTY];
	double *tw = calloc((size_t)reps, sizeof(double)),
	       *tc = calloc((size_t)reps, sizeof(double));
	struct ww_opts o = { .sz = sizeof(o) };
	struct ww_tracker *t;
	char *w, *c;

	setenv("WRITEWATCH_BACKEND", name, 1);
	if (!tw || !tc || ww_backend_from_name(name, &o.backend) < 0)
		return 1;
	w = ww_VirtualAlloc(NULL, PAGES * ps, WW_MEM_RESERVE | WW_MEM_COMMIT | WW_MEM_WRITE_WATCH,
			    WW_PAGE_READWRITE);
	if (!w) {
		fprintf(stderr, "%s: VirtualAlloc failed: error %u\n", name, ww_GetLastError());
		return 1;
	}
	c = mmap(NULL, PAGES * ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (c == MAP_FAILED || ww_open(&o, &t) || ww_track(t, c, PAGES * ps)) {
		fprintf(stderr, "%s: tracker: %s\n", name, strerror(errno));
		return 1;
	}
	for (int r = -3; r < reps; r++) { /* three warm-up rounds */
		uintptr_t count = PAGES;
		uint32_t gran;
		size_t got = 0;
		void *next = c;
		double t0;

		dirty_pages(w, (unsigned char)r);
		t0 = now_us();
		if (ww_GetWriteWatch(WW_WRITE_WATCH_FLAG_RESET, w, PAGES * ps, addrs, &count,
				     &gran)) {
			fprintf(stderr, "%s: GetWriteWatch failed: %u\n", name, ww_GetLastError());
			return 1;
		}
		if (r >= 0)
			tw[r] = now_us() - t0;
		if (count != DIRTY) {
			fprintf(stderr, "%s: GetWriteWatch found %lu pages, not %d\n", name,
				(unsigned long)count, DIRTY);
			return 1;
		}

		dirty_pages(c, (unsigned char)r);
		t0 = now_us();
		while ((char *)next < c + PAGES * ps) {
			ssize_t n = ww_collect(t, next, (size_t)(c + PAGES * ps - (char *)next),
					       WW_RESET, out, DIRTY, &next);

			if (n < 0) {
				fprintf(stderr, "%s: ww_collect: %s\n", name, strerror(errno));
				return 1;
			}
			for (ssize_t i = 0; i < n; i++)
				got += out[i].iov_len / ps;
		}
		if (r >= 0)
			tc[r] = now_us() - t0;
		if (got != DIRTY) {
			fprintf(stderr, "%s: ww_collect found %zu pages, not %d\n", name, got,
				DIRTY);
			return 1;
		}
	}
	qsort(tw, (size_t)reps, sizeof(double), cmp_double);
	qsort(tc, (size_t)reps, sizeof(double), cmp_double);
	{
		double mw = tw[reps / 2], mc = tc[reps / 2];

		printf("win32_getwritewatch %s: GetWriteWatch+RESET median %.1f us (min %.1f, max "
		       "%.1f), ww_collect+WW_RESET median %.1f us (min %.1f, max %.1f), ratio "
		       "%.2f, %d reps, %d of %d pages\n",
		       name, mw, tw[0], tw[reps - 1], mc, tc[0], tc[reps - 1], mw / mc, reps, DIRTY,
		       PAGES);
		printf("{\"benchmark\":\"win32_getwritewatch\",\"backend\":\"%s\",\"median_us\":%.2f,"
		       "\"min_us\":%.2f,\"max_us\":%.2f,\"ratio\":%.3f,\"collect_median_us\":%.2f,"
		       "\"reps\":%d,\"pages\":%d,\"dirty\":%d}\n",
		       name, mw, tw[0], tw[reps - 1], mw / mc, mc, reps, PAGES, DIRTY);
	}
	ww_close(t);
	ww_VirtualFree(w, 0, WW_MEM_RELEASE);
	free(tw);
	free(tc);
	return 0;
}

int main(int argc, char **argv)
{
	static const char *all[] = { "pagemap-scan", "uffd-wp", "soft-dirty", "mprotect" };
	const char **names = all;
	int n = 4, reps = 501, status = 0, opt;

	while ((opt = getopt(argc, argv, "n:h")) != -1) {
		if (opt == 'n' && atoi(optarg) > 0) {
			reps = atoi(optarg);
		} else {
			fprintf(stderr, "usage: %s [-n REPS] [BACKEND...]\n", argv[0]);
			return 2;
		}
	}
	if (optind < argc) {
		names = (const char **)argv + optind;
		n = argc - optind;
	}
	ps = (size_t)sysconf(_SC_PAGESIZE);
	pick_pages();
	fflush(stdout);
	for (int i = 0; i < n; i++) {
		enum ww_backend b;
		char why[256];
		pid_t pid;
		int st;

		if (ww_backend_from_name(names[i], &b) < 0) {
			fprintf(stderr, "unknown backend %s\n", names[i]);
			return 2;
		}
		if (ww_backend_probe(b, 0, why, sizeof(why))) {
			printf("win32_getwritewatch %s: skipped: %s\n", names[i], why);
			continue;
		}
		fflush(stdout);
		pid = fork();
		if (pid == 0)
			exit(run(names[i], reps));
		if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st))
			status = 1;
	}
	return status;
}
