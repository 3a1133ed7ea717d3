/* SPDX-License-Identifier: MIT */
/*
 * The tracker core's private state, shared by src/tracker.c (the public
 * tracking calls) and src/snapshot.c (snapshots over them). Nothing here is
 * seen by a backend.
 */
#ifndef WW_CORE_H
#define WW_CORE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "backend/backend.h"

struct ww__range {
	uintptr_t start, end;
};

/* A set of pages as sorted, disjoint, non-touching runs. */
struct ww__runs {
	struct ww__range *r;
	size_t n, cap;
};

struct ww_tracker {
	pthread_mutex_t lock;
	unsigned long fork_gen; /* ww__fork_gen when opened */
	const struct ww__backend_ops *ops;
	void *priv;
	pid_t pid;
	struct ww__range *ranges; /* sorted by start, disjoint */
	size_t nranges, cap;
	/* Set under the lock while ww_track or ww_untrack changes the ranges
	 * and the backend's state: a forked child whose copy was caught
	 * mid-change cannot trust it (ww_reopen). */
	bool changing;
	/* Pages written for the caller but re-armed in the mechanism: the core
	 * re-arms a range when a snapshot is taken (so that later writes can
	 * be told from earlier ones) and keeps what the caller had not
	 * collected yet here, reported and cleared by ww_collect/ww_reset as
	 * if the mechanism still held it. Empty without snapshots. */
	struct ww__runs pending;
	/* Where tracked ranges hold hugetlb memory (one run per range, from
	 * its first hugetlb mapping to the end of its last): only there can a
	 * re-arm split a hugetlb page (ww__rearm_check). A range is examined
	 * at the first re-arm that has a boundary in it (huge_seen: the
	 * tracked memory examined so far), not at ww_track, which then costs
	 * no walk of the mappings; base-page memory costs no lookup after. */
	struct ww__runs huge, huge_seen;
	/* Live snapshots of this tracker's memory (ww_snapshot_take). */
	struct ww_snapshot *snaps;
	/* Copy-before-write: the hooks given to the mechanism, and the COW
	 * snapshots they look at, as a list published whole (the hooks run
	 * on a handler thread or in a signal handler and take no lock). */
	struct ww__prewrite pw;
	_Atomic(struct ww__cowlist *) cow; /* NULL or one of cowbuf */
	struct ww__cowlist *cowbuf[2]; /* double buffer: a removal never allocates */
	size_t cowcap;
	/* A COW take pre-arming [slow_s, slow_e) (else empty): see
	 * cow_prearm in snapshot.c. Under lock, published in the list. */
	uintptr_t slow_s, slow_e;
};

struct ww__cowlist {
	uintptr_t slow_s, slow_e; /* writes here are slowed down (cow_before) */
	size_t n;
	struct ww_snapshot *s[];
};

/*
 * A snapshot (src/snapshot.c). Its tracker feeds it: every page the core
 * re-arms in [start, end) while the snapshot lives is first marked in
 * `changed`, whoever asked for the re-arm (ww_collect with WW_RESET,
 * ww_reset, another snapshot), so restore misses no page.
 */
struct ww_snapshot {
	struct ww_tracker *t; /* NULL once the tracker is closed */
	struct ww_snapshot *next; /* in t->snaps */
	uintptr_t start, end;
	size_t npages;
	unsigned char *copy; /* the content at take, npages pages */
	_Atomic uint64_t *changed; /* pages re-armed since take (or restore) */
	/* Of those, the pages the caller re-armed (ww_collect with WW_RESET,
	 * ww_reset) while they held a write: the caller's view of them moved
	 * past the take, so putting the take's content back is a change to
	 * report to it (restore adds them to t->pending). */
	_Atomic uint64_t *rearmed;
	/* The pages of the range in t->pending at take (or the last restore):
	 * written before it and not yet handed to the caller. Another page in
	 * t->pending that restore puts back, and that the caller did not
	 * re-arm, was kept there by a collect that could not hand it out (a
	 * small max): it holds what the caller last saw again, and leaves
	 * t->pending. Under t->lock. */
	uint64_t *pre;
	/* Part of the range was untracked (or the tracker re-opened in a
	 * forked child) while the snapshot lived: writes went unseen, so
	 * restore can no longer be exact. */
	bool broken;
	/* WW_SNAP_COW: nothing copied at take; a page is copied into `copy`
	 * just before its first write (saved), or its content was dropped
	 * before that (lost). While arming, writes into the range are held. */
	bool cow;
	pid_t owner; /* the process whose memory it is */
	_Atomic bool arming;
	_Atomic uint64_t *saved, *lost;
};

/* ---- core services for snapshot.c (tracker.c); t->lock held ---- */

/* -ECHILD in a forked child's copy of t. */
int ww__tracker_usable(const struct ww_tracker *t);

/* 0 if [s, e) is entirely tracked by t and mapped, else -ENOENT / -EFAULT. */
int ww__tracker_covers(struct ww_tracker *t, uintptr_t s, uintptr_t e);

/* 0 if re-arming [s, e) (entirely tracked) splits no hugetlb page, else
 * -EINVAL: the rule backend.h states, applied here for every mechanism. */
int ww__rearm_check(struct ww_tracker *t, uintptr_t s, uintptr_t e);

/* ww__rearm's how: */
#define WW__KEEP 0x1u /* add what it finds to t->pending: the caller has not seen it */
#define WW__USER 0x2u /* the caller's own re-arm (snapshots' `rearmed`) */
#define WW__PENDING \
	0x4u /* ww__snaps_mark: pages the core held, not re-armed now:
			  * only `rearmed` (with WW__USER) is marked */

/* Collect [s, e) (entirely tracked) with WW_RESET, to the end, marking every
 * page re-armed in each live snapshot over it (as ww__snaps_mark), and
 * adding it to found (may be NULL). On an error, the pages already
 * re-armed are marked (and kept, and found) all the same. */
int ww__rearm(struct ww_tracker *t, uintptr_t s, uintptr_t e, unsigned int how,
	      struct ww__runs *found);

/* Add every run of rs to t->pending; -ENOMEM (then some may be missing). */
int ww__pending_add_all(struct ww_tracker *t, const struct ww__runs *rs);

/* Re-arm [s, e) (entirely tracked) without marking it anywhere: the
 * core's own writes (restore). */
int ww__rearm_quiet(struct ww_tracker *t, uintptr_t s, uintptr_t e);

/* Add [s, e) to t->pending. -ENOMEM. */
int ww__pending_add(struct ww_tracker *t, uintptr_t s, uintptr_t e);

/* Mark [s, e) changed in each live snapshot of t over it, except skip (may
 * be NULL); with WW__USER also in their `rearmed`. */
void ww__snaps_mark(struct ww_tracker *t, uintptr_t s, uintptr_t e, const struct ww_snapshot *skip,
		    unsigned int how);

/* Copy-before-write (snapshot.c): copy the pages of [s, e) that COW
 * snapshots have not saved yet, before their tracking ends (untrack,
 * close): they are still protected, so they hold the snapshot's content. */
void ww__cow_save(struct ww_tracker *t, uintptr_t s, uintptr_t e);

/* Set operations on page runs. add can fail (-ENOMEM); remove may need one
 * more slot for a split and so can fail too. */
int ww__runs_add(struct ww__runs *rs, uintptr_t s, uintptr_t e);
int ww__runs_remove(struct ww__runs *rs, uintptr_t s, uintptr_t e);
/* Index of the first run ending above addr (rs->n if none). */
size_t ww__runs_find(const struct ww__runs *rs, uintptr_t addr);

#endif /* WW_CORE_H */
