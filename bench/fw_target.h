/* SPDX-License-Identifier: MIT */
/*
 * fw_target.h - what ww-bench and its target program (ww-bench-target,
 * bench/fw_target.c) share for the first-write-remote benchmark: the
 * request/reply protocol over a SOCK_SEQPACKET socketpair, and the timed
 * write loop itself, so that the first write measured in the bench process
 * and the one measured in the target are the same instructions.
 *
 * Protocol: one struct fwt_req per datagram from the bench, one struct
 * fwt_rep back for each. The target owns regions 0..FWT_REGIONS-1 of
 * anonymous private 4 KiB pages (no THP, populated for writing).
 *   FWT_MAP   region, arg = length    map it; rep.addr = its address
 *   FWT_ARM   region                  track it with the target's own
 *                                     userfaultfd (WP_ASYNC), armed: the
 *                                     bare kernel interface, no library
 *   FWT_WRITE region, arg = byte      (a region under FWT_ARM is re-armed
 *                                     first with PAGEMAP_SCAN WP_MATCHING,
 *                                     untimed; rep.written = pages it found
 *                                     written) then one timed store per page
 *   FWT_QUIT                          exit 0 (after the reply)
 * rep.err is 0 or a negative errno.
 */
#ifndef WW_BENCH_FW_TARGET_H
#define WW_BENCH_FW_TARGET_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#define FWT_REGIONS 4

enum fwt_op { FWT_MAP = 1, FWT_ARM, FWT_WRITE, FWT_QUIT };

struct fwt_req {
	uint32_t op;
	uint32_t region;
	uint64_t arg;
};

/* Timings of one FWT_WRITE (or of the same loop run in the bench). */
struct fwt_times {
	double med_ns, min_ns, max_ns; /* over the pages: one store each, timed alone */
	double loop_ns; /* the whole loop over the pages / pages, timing included */
};

struct fwt_rep {
	int32_t err;
	uint32_t pad;
	uint64_t addr;
	uint64_t written;
	struct fwt_times t;
};

static inline int64_t fwt_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static inline int fwt_cmp(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * One store of v to the first byte of each of npages pages at m, each
 * timed alone by a CLOCK_MONOTONIC read before and after (the vDSO: no
 * system call where the clock source is the TSC). The store faults when
 * the page is write-protected, and the fault is taken before the second
 * read, so each sample is the whole first write as the program sees it.
 * ns is scratch for npages samples (sorted on return).
 */
static inline struct fwt_times fwt_write_pages(char *m, size_t npages, size_t ps, char v,
					       int64_t *ns)
{
	struct fwt_times t = { 0, 0, 0, 0 };
	int64_t start = fwt_ns();

	for (size_t i = 0; i < npages; i++) {
		int64_t t0 = fwt_ns();

		((volatile char *)m)[i * ps] = v;
		ns[i] = fwt_ns() - t0;
	}
	t.loop_ns = (double)(fwt_ns() - start) / (double)npages;
	qsort(ns, npages, sizeof(*ns), fwt_cmp);
	t.min_ns = (double)ns[0];
	t.max_ns = (double)ns[npages - 1];
	t.med_ns = npages % 2 ? (double)ns[npages / 2] :
				(double)(ns[npages / 2 - 1] + ns[npages / 2]) / 2;
	return t;
}

#endif /* WW_BENCH_FW_TARGET_H */
