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
 * Each variant of each backend runs in a child process: the layer's shared
 * tracker is chosen once per process (WRITEWATCH_BACKEND), and see measure().
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdbool.h>
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
#define BATCHES 10 /* child processes per variant, alternating */

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

/*
 * Time reps cycles of one variant (layer: GetWriteWatch+RESET on a
 * write-watch allocation; core: ww_collect+WW_RESET on a tracked mapping)
 * into tm[0..reps). Each variant runs in its own
 * process with only its own memory: the mprotect backend reads
 * /proc/self/maps at each collect, up to the range, so a second fragmented
 * region below the measured one would be charged to it.
 */
static int measure(const char *name, bool layer, int reps, double *tm)
{
	static void *addrs[PAGES];
	static struct iovec out[DIRTY];
	struct ww_opts o = { .sz = sizeof(o) };
	struct ww_tracker *t = NULL;
	char *m;

	setenv("WRITEWATCH_BACKEND", name, 1);
	if (ww_backend_from_name(name, &o.backend) < 0)
		return 1;
	if (layer) {
		m = ww_VirtualAlloc(NULL, PAGES * ps,
				    WW_MEM_RESERVE | WW_MEM_COMMIT | WW_MEM_WRITE_WATCH,
				    WW_PAGE_READWRITE);
		if (!m) {
			fprintf(stderr, "%s: VirtualAlloc failed: error %u\n", name,
				ww_GetLastError());
			return 1;
		}
	} else {
		m = mmap(NULL, PAGES * ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
			 0);
		if (m == MAP_FAILED || ww_open(&o, &t) || ww_track(t, m, PAGES * ps)) {
			fprintf(stderr, "%s: tracker: %s\n", name, strerror(errno));
			return 1;
		}
	}
	for (int r = -3; r < reps; r++) { /* three warm-up rounds */
		size_t got = 0;
		double t0;

		dirty_pages(m, (unsigned char)r);
		t0 = now_us();
		if (layer) {
			uintptr_t count = PAGES;
			uint32_t gran;

			if (ww_GetWriteWatch(WW_WRITE_WATCH_FLAG_RESET, m, PAGES * ps, addrs,
					     &count, &gran)) {
				fprintf(stderr, "%s: GetWriteWatch failed: %u\n", name,
					ww_GetLastError());
				return 1;
			}
			got = count;
		} else {
			void *next = m;

			while ((char *)next < m + PAGES * ps) {
				ssize_t n =
					ww_collect(t, next, (size_t)(m + PAGES * ps - (char *)next),
						   WW_RESET, out, DIRTY, &next);

				if (n < 0) {
					fprintf(stderr, "%s: ww_collect: %s\n", name,
						strerror(errno));
					return 1;
				}
				for (ssize_t i = 0; i < n; i++)
					got += out[i].iov_len / ps;
			}
		}
		if (r >= 0)
			tm[r] = now_us() - t0;
		if (got != DIRTY) {
			fprintf(stderr, "%s: found %zu pages, not %d\n", name, got, DIRTY);
			return 1;
		}
	}
	return 0;
}

/* measure() in a child process; the times come back through a pipe. */
static int measure_child(const char *name, bool layer, int reps, double *tm)
{
	size_t want = (size_t)reps * sizeof(double), got = 0;
	int fds[2], st;
	pid_t pid;

	if (pipe(fds))
		return 1;
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		close(fds[0]);
		if (measure(name, layer, reps, tm) || write(fds[1], tm, want) != (ssize_t)want)
			_exit(1);
		_exit(0);
	}
	close(fds[1]);
	while (pid > 0 && got < want) {
		ssize_t r = read(fds[0], (char *)tm + got, want - got);

		if (r <= 0)
			break;
		got += (size_t)r;
	}
	close(fds[0]);
	if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) ||
	    got != want)
		return 1;
	return 0;
}

/*
 * Alternate BATCHES child processes of each variant, so that load from
 * other processes (this machine's cores are shared) falls on both alike.
 */
static int run(const char *name, int reps)
{
	int per = (reps + BATCHES - 1) / BATCHES, n = per * BATCHES;
	double *w = calloc((size_t)n, sizeof(double)), *c = calloc((size_t)n, sizeof(double));
	double mw, mc;

	if (!w || !c)
		return 1;
	for (int i = 0; i < BATCHES; i++)
		if (measure_child(name, true, per, w + i * per) ||
		    measure_child(name, false, per, c + i * per))
			return 1;
	qsort(w, (size_t)n, sizeof(double), cmp_double);
	qsort(c, (size_t)n, sizeof(double), cmp_double);
	mw = w[n / 2];
	mc = c[n / 2];
	printf("win32_getwritewatch %s: GetWriteWatch+RESET median %.1f us (min %.1f, max %.1f), "
	       "ww_collect+WW_RESET median %.1f us (min %.1f, max %.1f), ratio %.2f, %d reps, "
	       "%d of %d pages\n",
	       name, mw, w[0], w[n - 1], mc, c[0], c[n - 1], mw / mc, n, DIRTY, PAGES);
	printf("{\"benchmark\":\"win32_getwritewatch\",\"backend\":\"%s\",\"median_us\":%.2f,"
	       "\"min_us\":%.2f,\"max_us\":%.2f,\"ratio\":%.3f,\"collect_median_us\":%.2f,"
	       "\"reps\":%d,\"pages\":%d,\"dirty\":%d}\n",
	       name, mw, w[0], w[n - 1], mw / mc, mc, n, PAGES, DIRTY);
	free(w);
	free(c);
	return 0;
}

int main(int argc, char **argv)
{
	static const char *all[] = { "pagemap-scan", "uffd-wp", "soft-dirty", "mprotect" };
	const char **names = all;
	int n = 4, reps = 500, status = 0, opt;

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

		if (ww_backend_from_name(names[i], &b) < 0) {
			fprintf(stderr, "unknown backend %s\n", names[i]);
			return 2;
		}
		if (ww_backend_probe(b, 0, why, sizeof(why))) {
			printf("win32_getwritewatch %s: skipped: %s\n", names[i], why);
			continue;
		}
		if (run(names[i], reps))
			status = 1;
	}
	return status;
}
