/* SPDX-License-Identifier: MIT */
/*
 * The demo `make run` watches: a process with three kinds of writes, so the
 * live view and the summary have something to show. A hot set (256 KiB)
 * rewritten all the time, a cold set (16 MiB) written once at the start, and
 * a streaming buffer (64 MiB) written front to back at about 32 MiB/s,
 * wrapping around. Runs for argv[1] seconds (default 10), then exits 0.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define MiB (1024 * 1024)

static char *map(size_t len)
{
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED) {
		perror("mmap");
		exit(1);
	}
	return p;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 10, t0 = now();
	size_t ps = (size_t)sysconf(_SC_PAGESIZE), hot_len = 256 * 1024, cold_len = 16 * MiB,
	       stream_len = 64 * MiB, at = 0;
	char *hot = map(hot_len), *cold = map(cold_len), *stream = map(stream_len);
	unsigned long tick = 0;

	memset(cold, 1, cold_len); /* written once */
	while (now() - t0 < secs) {
		/* every 10 ms: the whole hot set, and 320 KiB more of the stream */
		for (size_t i = 0; i < hot_len; i += ps)
			hot[i] = (char)tick;
		for (size_t n = 0; n < 320 * 1024; n += ps, at = (at + ps) % stream_len)
			stream[at] = (char)tick;
		tick++;
		usleep(10000);
	}
	return 0;
}
