/* SPDX-License-Identifier: MIT */
/*
 * The contract between the tracker core (src/tracker.c) and one write-tracking
 * mechanism. The core validates every argument, rounds ranges to pages, keeps
 * the list of tracked ranges and serialises calls on one tracker; a backend
 * trusts its inputs and only drives its mechanism. See README.md beside this
 * file for the pre- and postconditions of each operation.
 */
#ifndef WW_BACKEND_BACKEND_H
#define WW_BACKEND_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "writewatch.h"

/*
 * Copy-before-write (WW_CAP_PREWRITE; snapshots with WW_SNAP_COW, see
 * docs/snapshots.md): the core's hooks, called by the mechanism.
 */
/* A held write is asked again at least this often (see before()). */
#define WW__PREWRITE_ASK_NS 100000u

struct ww__prewrite {
	/* A write is about to change [a, a+len) (one page, or a whole hugetlb
	 * page) for the first time since it was re-armed, and cannot land
	 * before this returns. zero: the page has no content yet (a missing
	 * page, it reads as zeros: do not read it). false: hold the write and
	 * ask again later (the writer stays blocked); held_ns: how long this
	 * write has been held so far (0 the first time it is asked; the
	 * mechanism asks again within WW__PREWRITE_ASK_NS). Runs on a handler
	 * thread or in a signal handler: async-signal-safe, takes no lock. */
	bool (*before)(void *ctx, uintptr_t a, size_t len, bool zero, uint64_t held_ns);
	/* [s, e) was discarded (MADV_DONTNEED, MADV_REMOVE) or unmapped: its
	 * content may be gone without a write. Same rules. */
	void (*discarded)(void *ctx, uintptr_t s, uintptr_t e);
	void *ctx;
};

struct ww__backend_ops {
	enum ww_backend id;
	const char *name;
	/* WW_CAP_* (writewatch.h): the guarantee table's row for this
	 * mechanism, the one source the core, AUTO, the Win32 layer, the
	 * tool and the docs' check read. WW_CAP_REMOTE: open() accepts
	 * another process. */
	unsigned int caps;
	/* Optional: the caps one open tracker has, a subset of caps (what
	 * the kernel granted at open can remove some). */
	unsigned int (*tracker_caps)(void *priv);

	/* Functional test on scratch memory (pid 0) or on the target pid.
	 * 0 if the mechanism works, else negative errno and a reason in why.
	 * Must leave nothing behind. The core caches results for pid 0. */
	int (*probe)(pid_t pid, char *why, size_t whylen);

	/* Create the per-tracker state in *priv. pid 0 means this process.
	 * On failure a negative errno and, when there is more to say than
	 * the errno, a sentence in why (else why is left as it is). */
	int (*open)(pid_t pid, void **priv, char *why, size_t whylen);

	/* Tear down: every range is already untracked. */
	void (*close)(void *priv);

	/* [start, end) is page aligned, non-empty, mapped (checked by the core,
	 * for another process too), and overlaps nothing this tracker tracks. Post: tracked,
	 * every page clean. On failure nothing is left behind. */
	int (*track)(void *priv, uintptr_t start, uintptr_t end);

	/* [start, end) is page aligned and lies inside one range that was
	 * passed to track() (possibly a part of it). Post: that part is no
	 * longer tracked and its memory is as before track(). Best effort on
	 * memory the application has unmapped meanwhile. */
	int (*untrack)(void *priv, uintptr_t start, uintptr_t end);

	/* [start, end) lies inside one tracked range; max >= 1. Store written
	 * pages as ascending merged runs into out[0..max), return how many;
	 * set *next to end when done, else to the first page not examined.
	 * With WW_RESET, re-arm exactly the pages reported, atomically with
	 * respect to concurrent writers (a write is reported now or later),
	 * and the hugetlb rule below holds for start and end. */
	ssize_t (*collect)(void *priv, uintptr_t start, uintptr_t end, unsigned int flags,
			   struct iovec *out, size_t max, uintptr_t *next);

	/* [start, end) lies inside one tracked range, and the hugetlb rule
	 * below holds for start and end. Post: all pages clean. */
	int (*reset)(void *priv, uintptr_t start, uintptr_t end);

	/*
	 * The hugetlb rule, for every re-arm (collect with WW_RESET, reset):
	 * neither start nor end falls inside a hugetlb page. The core refuses
	 * such a call with -EINVAL before any backend runs, for every backend
	 * and for another process too (ww__rearm_check in src/tracker.c), so
	 * a mechanism that re-arms hugetlb pages whole need not check. The
	 * core examines a tracked range once, at its first re-arm: memory it
	 * found to be base pages and the application replaced since (by
	 * hugetlb memory) may still come in split, and is the backend's to
	 * report as replaced, as for any replaced memory (-EFAULT). The walk inside one call may stop at
	 * any page (max runs), so *next too must not fall inside a hugetlb
	 * page: stop before one, not within it.
	 */

	/* Optional: the most one write may report, when that is more than the
	 * mapping's kernel page size. The core has read the mapping once:
	 * *bytes comes in as its page size, thp says whether it may hold
	 * transparent huge pages; raise *bytes where the mechanism reports in
	 * larger units. No I/O: a rule over those facts. */
	void (*granularity)(void *priv, bool thp, size_t *bytes);

	/* With WW_CAP_PREWRITE: install pw (NULL: none; pw stays valid until
	 * replaced). Also a barrier: when it returns, no call to a hook that
	 * started before it is still running. Held writes are asked again
	 * within a millisecond. */
	void (*set_prewrite)(void *priv, const struct ww__prewrite *pw);
	/* With WW_CAP_PREWRITE: return once every discard or unmap of
	 * [start, end) made before this call has reached the hooks. uffd-wp:
	 * the kernel lets a discarding thread go on as soon as its event is
	 * read, before the handler has passed it on. mprotect: nothing tells
	 * of a discard; it is found in pagemap here. The core calls it with
	 * t->lock held. */
	void (*prewrite_sync)(void *priv, uintptr_t start, uintptr_t end);
	/* Optional, with WW_CAP_PREWRITE: read [a, a+len), the page(s) a write
	 * is held on, for before() on the handler thread: without faulting
	 * (a page discarded meanwhile must not block the handler on its own
	 * missing fault, nor an unmapped one kill the process), and only while
	 * it still is the page the write is held on. 0, or -EFAULT: gone
	 * (discarded, unmapped, mapped over), its content lost. Without it,
	 * before() copies with memcpy. Same rules as the hooks. */
	int (*prewrite_read)(void *priv, void *dst, uintptr_t a, size_t len);
	/* Optional, with WW_CAP_PREWRITE: 0 if copy-before-write keeps
	 * [start, end) (tracked) exact, else -EOPNOTSUPP and the reason in
	 * why (a kind of memory whose discards the mechanism cannot see). */
	int (*prewrite_check)(void *priv, uintptr_t start, uintptr_t end, char *why, size_t whylen);
	/* Optional, with WW_CAP_PREWRITE: ask the held writes again now
	 * rather than within the millisecond (a COW take's arming ended). */
	void (*prewrite_kick)(void *priv);
};

/* tracker_caps of a mechanism that finds discards in pagemap at collect
 * (mprotect, soft-dirty): a discarded page read back before the collect can
 * be told from content only where the read maps the zero page, so
 * WW_CAP_DISCARDS holds only on such kernels (WW_FACT_ZERO_PAGE). */
unsigned int ww__caps_pagemap_discards(void *priv);

/* The table, indexed by enum ww_backend (slot 0, AUTO, is NULL), with room
 * past the public numbers: a build for the tests may add a mechanism of its
 * own (meson -Dtest_backend=true) at WW__BACKEND_TEST, a number no public
 * backend will take (the public ones count up from 1) and no test uses as
 * "no such backend". Empty slots are NULL; the core asks ww__backend(). */
#define WW__BACKEND_SLOTS 16
#define WW__BACKEND_TEST (WW__BACKEND_SLOTS - 1)
extern const struct ww__backend_ops *const ww__backends[WW__BACKEND_SLOTS];

/* The ops of backend number b, NULL for AUTO and for a number no backend
 * of this build has. */
static inline const struct ww__backend_ops *ww__backend(int b)
{
	return b > 0 && b < WW__BACKEND_SLOTS ? ww__backends[b] : NULL;
}

extern const struct ww__backend_ops ww__pagemap_scan_ops;
extern const struct ww__backend_ops ww__uffd_wp_ops;
extern const struct ww__backend_ops ww__soft_dirty_ops;
extern const struct ww__backend_ops ww__mprotect_ops;
extern const struct ww__backend_ops ww__brute_ops; /* -Dtest_backend=true only */

#endif /* WW_BACKEND_BACKEND_H */
