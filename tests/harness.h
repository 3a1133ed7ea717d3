/* SPDX-License-Identifier: MIT */
/*
 * Shared helpers for the test programs. A behaviour test takes the backend
 * name as argv[1]; harness_open() exits 77 (skipped) with the probe's reason
 * when that backend does not work on this kernel. CHECK failures print where
 * and exit 1.
 */
#ifndef WW_TEST_HARNESS_H
#define WW_TEST_HARNESS_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/uio.h>

#include "writewatch.h"

#define SKIP 77

#define CHECK(cond)                                                                              \
	do {                                                                                     \
		if (!(cond)) {                                                                   \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
			exit(1);                                                                 \
		}                                                                                \
	} while (0)

#define CHECK_EQ(a, b)                                                                    \
	do {                                                                              \
		long long a_ = (long long)(a), b_ = (long long)(b);                       \
		if (a_ != b_) {                                                           \
			fprintf(stderr, "%s:%d: CHECK failed: %s == %s (%lld != %lld)\n", \
				__FILE__, __LINE__, #a, #b, a_, b_);                      \
			exit(1);                                                          \
		}                                                                         \
	} while (0)

extern size_t PS; /* page size */
extern enum ww_backend harness_backend;

/* Parse argv[1] (a backend name), probe it, exit 77 with the reason if it
 * does not work here; open and return a tracker on it. */
struct ww_tracker *harness_open(int argc, char **argv);

/* Probe only: exit 77 with the reason if argv[1]'s backend does not work. */
enum ww_backend harness_backend_arg(int argc, char **argv);

/* Whether the backend under test has every WW_CAP_* bit in caps: tests ask
 * the guarantee they depend on, not the backend's name. */
bool harness_has(unsigned int caps);

/* Anonymous private read-write mapping of n pages, populated (written 0).
 * For soft-dirty: in its own VMA between guard pages, without THP, so that
 * its documented whole-VMA and huge-page false positives stay out of the
 * tests that check exact pages. */
char *harness_map(size_t pages);

/* Whether a loop that has done `done` rounds goes on: always below min,
 * never at max, and in between while the test's time budget lasts
 * (WW_TEST_BUDGET seconds from the first call, default 5). Bounds a race
 * test's run time on a slow or loaded machine without a timed assertion;
 * the test's result line says how many rounds ran. */
bool harness_more(long done, long min, long max);

/* For a watchdog (async-signal-safe): write "FAIL: <why>; threads: ..."
 * to stderr as one line, each thread of the process with its state, the
 * kernel function it sleeps in and the system call it is in, then exit 1.
 * A hang seen only on a CI machine then says where it hung. */
void harness_hang(const char *why) __attribute__((noreturn));

/* Collect everything in [addr, addr+len) following *next to the end. */
size_t harness_collect_all(struct ww_tracker *t, void *addr, size_t len, unsigned int flags,
			   struct iovec *out, size_t max);

/* Expand runs into a per-page bool array for [base, base + pages*PS);
 * fails the test on a run outside the range, unaligned, or out of order. */
void harness_pages(const struct iovec *runs, size_t n, const char *base, size_t pages, bool *dirty);

/* Does a read fault on anonymous memory map the shared zero page here
 * (present, not exclusive in pagemap) rather than allocate a fresh page?
 * Asked of the kernel: some never map the zero page. */
bool harness_zero_page_kernel(void);

/* Can this backend see that a discarded page was read back before the
 * collect? Whether its tracker has WW_CAP_DISCARDS here: mprotect and
 * soft-dirty see discards in pagemap at collect, where a page read back
 * meanwhile is the zero page if the kernel maps one (seen), a fresh page of
 * zeros where it does not (unseen: their trackers lack the cap there,
 * writewatch(7)). */
bool harness_sees_discard_read_back(void);

#endif
