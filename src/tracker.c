/* SPDX-License-Identifier: MIT */
/*
 * The public tracker API: argument validation, page rounding, the sorted list
 * of tracked ranges, locking, backend selection, and the splitting of a call
 * that spans several tracked ranges into one backend call per range (runs
 * that touch across a range boundary are merged here). Nothing in this file
 * knows how any one mechanism works.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core.h"
#include "internal.h"
#include "sys/bitmap.h"
#include "sys/sys.h"

/*
 * A tracker belongs to the process that opened it. A forked child inherits a
 * copy, but the mechanisms act on the parent's memory (uffd ioctls work on
 * the creator's mm) or on state the child cannot drive (a handler thread that
 * was not forked), so in a child every call fails with -ECHILD and ww_close
 * only frees memory. A counter bumped by an atfork handler tells, without a
 * syscall on the hot path.
 */
static unsigned long ww__fork_gen;
static pthread_once_t fork_once = PTHREAD_ONCE_INIT;

static void fork_child(void)
{
	ww__fork_gen++;
}

static void fork_register(void)
{
	ww__sys_fork_init();
	pthread_atfork(NULL, NULL, fork_child);
}

static bool forked_copy(const struct ww_tracker *t)
{
	return t->fork_gen != ww__fork_gen;
}

/* Index of the first of r[0..n) (sorted, disjoint) whose end is above
 * addr (n if none). */
static size_t ranges_bsearch(const struct ww__range *r, size_t n, uintptr_t addr)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (r[mid].end <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Index of the first range whose end is above addr (nranges if none). */
static size_t range_search(const struct ww_tracker *t, uintptr_t addr)
{
	return ranges_bsearch(t->ranges, t->nranges, addr);
}

/* If [s, e) is entirely covered by tracked ranges, store the index of the
 * first one in *first and return true. */
static bool range_covered(const struct ww_tracker *t, uintptr_t s, uintptr_t e, size_t *first)
{
	size_t i = range_search(t, s);
	uintptr_t at = s;

	*first = i;
	for (; i < t->nranges && at < e; i++) {
		if (t->ranges[i].start > at)
			return false;
		at = t->ranges[i].end;
	}
	return at >= e;
}

/* Make room for one more range, so that an insert after a backend call that
 * succeeded can never fail. */
/* Room in *r (n used of *cap) for `more` entries beyond n. */
static int ranges_grow(struct ww__range **r, size_t n, size_t *cap, size_t more)
{
	size_t c = *cap ? *cap : 8;
	struct ww__range *nr;

	if (n + more <= *cap)
		return 0;
	while (c < n + more)
		c *= 2;
	nr = realloc(*r, c * sizeof(*nr));
	if (!nr)
		return -ENOMEM;
	*r = nr;
	*cap = c;
	return 0;
}

static int range_reserve(struct ww_tracker *t)
{
	return ranges_grow(&t->ranges, t->nranges, &t->cap, 1);
}

/* Caller has called range_reserve(). */
static void range_insert(struct ww_tracker *t, size_t at, uintptr_t s, uintptr_t e)
{
	memmove(&t->ranges[at + 1], &t->ranges[at], (t->nranges - at) * sizeof(*t->ranges));
	t->ranges[at] = (struct ww__range){ s, e };
	t->nranges++;
}

static void range_remove(struct ww_tracker *t, size_t at)
{
	memmove(&t->ranges[at], &t->ranges[at + 1], (t->nranges - at - 1) * sizeof(*t->ranges));
	t->nranges--;
}

/* ---- sets of page runs (t->pending) ---- */

size_t ww__runs_find(const struct ww__runs *rs, uintptr_t addr)
{
	return ranges_bsearch(rs->r, rs->n, addr);
}

/* Room for `more` runs beyond rs->n, so that as many adds (each adds at
 * most one run) or removes (each splits at most one) cannot fail. */
static int runs_reserve(struct ww__runs *rs, size_t more)
{
	return ranges_grow(&rs->r, rs->n, &rs->cap, more);
}

int ww__runs_add(struct ww__runs *rs, uintptr_t s, uintptr_t e)
{
	/* i: the first run ending at or above s (touching or after it);
	 * j: the first starting above e */
	size_t i = ww__runs_find(rs, s ? s - 1 : 0), j = i;
	int err;

	while (j < rs->n && rs->r[j].start <= e)
		j++;
	if (i == j) { /* touches nothing: insert */
		err = runs_reserve(rs, 1);
		if (err)
			return err;
		memmove(&rs->r[i + 1], &rs->r[i], (rs->n - i) * sizeof(*rs->r));
		rs->r[i] = (struct ww__range){ s, e };
		rs->n++;
		return 0;
	}
	/* runs i..j-1 touch [s, e): merge them into run i */
	if (rs->r[i].start < s)
		s = rs->r[i].start;
	if (rs->r[j - 1].end > e)
		e = rs->r[j - 1].end;
	rs->r[i] = (struct ww__range){ s, e };
	memmove(&rs->r[i + 1], &rs->r[j], (rs->n - j) * sizeof(*rs->r));
	rs->n -= j - i - 1;
	return 0;
}

int ww__runs_remove(struct ww__runs *rs, uintptr_t s, uintptr_t e)
{
	size_t i = ww__runs_find(rs, s), j;
	int err;

	if (i == rs->n || rs->r[i].start >= e)
		return 0;
	if (rs->r[i].start < s && rs->r[i].end > e) { /* split one run */
		err = runs_reserve(rs, 1);
		if (err)
			return err;
		memmove(&rs->r[i + 1], &rs->r[i], (rs->n - i) * sizeof(*rs->r));
		rs->n++;
		rs->r[i].end = s;
		rs->r[i + 1].start = e;
		return 0;
	}
	if (rs->r[i].start < s) /* keep its head */
		rs->r[i++].end = s;
	for (j = i; j < rs->n && rs->r[j].end <= e; j++)
		;
	if (j < rs->n && rs->r[j].start < e)
		rs->r[j].start = e; /* keep its tail */
	memmove(&rs->r[i], &rs->r[j], (rs->n - j) * sizeof(*rs->r));
	rs->n -= j - i;
	return 0;
}

int ww__pending_add(struct ww_tracker *t, uintptr_t s, uintptr_t e)
{
	return ww__runs_add(&t->pending, s, e);
}

int ww__pending_add_all(struct ww_tracker *t, const struct ww__runs *rs)
{
	int err = 0;

	for (size_t i = 0; i < rs->n; i++)
		if (ww__runs_add(&t->pending, rs->r[i].start, rs->r[i].end))
			err = -ENOMEM;
	return err;
}

/* Whether any page of [s, e) is in rs. */
static bool runs_any(const struct ww__runs *rs, uintptr_t s, uintptr_t e)
{
	size_t i = ww__runs_find(rs, s);

	return i < rs->n && rs->r[i].start < e;
}

/* Whether a live snapshot of t overlaps [s, e). */
static bool snaps_over(const struct ww_tracker *t, uintptr_t s, uintptr_t e)
{
	for (const struct ww_snapshot *p = t->snaps; p; p = p->next)
		if (p->start < e && s < p->end)
			return true;
	return false;
}

void ww__snaps_mark(struct ww_tracker *t, uintptr_t s, uintptr_t e, const struct ww_snapshot *skip,
		    unsigned int how)
{
	size_t ps = ww__page_size();

	for (struct ww_snapshot *p = t->snaps; p; p = p->next) {
		uintptr_t a = s > p->start ? s : p->start, b = e < p->end ? e : p->end;

		if (p == skip || a >= b)
			continue;
		for (size_t i = (a - p->start) / ps, n = (b - p->start) / ps; i < n; i++) {
			uint64_t bit = 1ULL << (i % WW_WORD_BITS);

			if (!(how & WW__PENDING))
				atomic_fetch_or_explicit(&p->changed[i / WW_WORD_BITS], bit,
							 memory_order_relaxed);
			if (how & WW__USER)
				atomic_fetch_or_explicit(&p->rearmed[i / WW_WORD_BITS], bit,
							 memory_order_relaxed);
		}
	}
}

/* Mark every live snapshot over [s, e) broken: writes there go unseen. */
static void snaps_break(struct ww_tracker *t, uintptr_t s, uintptr_t e)
{
	for (struct ww_snapshot *p = t->snaps; p; p = p->next)
		if (p->start < e && s < p->end)
			p->broken = true;
}

/* Validate t/addr/len and round to whole pages. */
static int span_of(const struct ww_tracker *t, const void *addr, size_t len, uintptr_t *s,
		   uintptr_t *e)
{
	uintptr_t a = (uintptr_t)addr;

	if (!t || !len || a > UINTPTR_MAX - len)
		return -EINVAL;
	if (forked_copy(t))
		return -ECHILD;
	*s = ww__page_down(a);
	if (!ww__page_up(a + len, e))
		return -EINVAL;
	return 0;
}

int ww__tracker_usable(const struct ww_tracker *t)
{
	return forked_copy(t) ? -ECHILD : 0;
}

int ww__tracker_covers(struct ww_tracker *t, uintptr_t s, uintptr_t e)
{
	size_t i;
	int err;

	if (!range_covered(t, s, e, &i))
		return -ENOENT;
	err = ww__range_mapped_pid(t->pid, s, e);
	return err == -ENOMEM ? -EFAULT : err;
}

/*
 * A re-arm may not split a hugetlb page: the kernel write-protects one only
 * whole (UFFDIO_WRITEPROTECT and mprotect refuse a part, PAGEMAP_SCAN backs
 * out of it), and a mechanism that kept its own unit would re-arm more than
 * was asked. One rule for every backend, checked here before any of them
 * runs: a re-arming call whose start or end falls inside a hugetlb page
 * fails with -EINVAL and changes nothing.
 *
 * Which tracked memory can hold hugetlb pages is noted per tracked range,
 * at the first re-arm with a boundary in it (t->huge, t->huge_seen): one
 * walk of that range's mappings, so ww_track pays none. A mapping's page
 * size cannot change while it stays mapped, so memory found to be base
 * pages needs no lookup after. A hugetlb range is asked about at the two
 * boundaries only, as the memory is now, so a mapping the application
 * replaced since is judged by what replaced it; memory seen as base pages
 * and replaced by hugetlb memory later is not looked at again: the
 * mechanisms find replaced memory themselves (its registration or
 * protection is gone) and say so as before (-EFAULT).
 */

static int huge_hull(pid_t pid, uintptr_t s, uintptr_t e, uintptr_t *lo, uintptr_t *hi);

/* Note where the tracked range holding `at` has hugetlb memory. */
static int huge_examine(struct ww_tracker *t, uintptr_t at)
{
	size_t i = range_search(t, at);
	uintptr_t lo = 0, hi = 0;
	int err;

	if (i == t->nranges || t->ranges[i].start > at)
		return 0; /* not tracked: the callers checked it is */
	err = huge_hull(t->pid, t->ranges[i].start, t->ranges[i].end, &lo, &hi);
	if (!err)
		err = runs_reserve(&t->huge, 1);
	if (!err)
		err = runs_reserve(&t->huge_seen, 1);
	if (err)
		return err;
	if (lo < hi)
		ww__runs_add(&t->huge, lo, hi); /* room was made above */
	ww__runs_add(&t->huge_seen, t->ranges[i].start, t->ranges[i].end);
	return 0;
}

/* 1 if the boundary b falls inside a hugetlb page, 0 if not, or -errno of
 * the lookup; at is the address on b's tracked side (b for a start, b - 1
 * for an end). */
static int splits_at(pid_t pid, uintptr_t at, uintptr_t b)
{
	size_t kps = 0;
	int err = ww__vma_page_size(pid, at, &kps, NULL);

	if (err)
		return err;
	return kps > ww__page_size() && (b & (kps - 1));
}

/* 0 unless the boundary b falls inside a hugetlb page (-EINVAL). */
static int boundary_check(struct ww_tracker *t, uintptr_t at, uintptr_t b)
{
	int err;

	if (!runs_any(&t->huge_seen, at, at + 1) && (err = huge_examine(t, at)) != 0)
		return err;
	if (!runs_any(&t->huge, at, at + 1))
		return 0;
	err = splits_at(t->pid, at, b);
	if (err < 0)
		return err == -ENOMEM ? -EFAULT : err; /* unmapped since: as elsewhere */
	return err ? -EINVAL : 0;
}

int ww__rearm_check(struct ww_tracker *t, uintptr_t s, uintptr_t e)
{
	int err = boundary_check(t, s, s);

	return err ? err : boundary_check(t, e - 1, e);
}

/* Whether [s, e) (mapped) starts or ends inside a hugetlb page: two
 * lookups, for ww_track's error path only. */
static bool splits_huge(pid_t pid, uintptr_t s, uintptr_t e)
{
	return splits_at(pid, s, s) == 1 || splits_at(pid, e - 1, e) == 1;
}

struct huge_ctx {
	pid_t pid;
	uintptr_t s, e; /* the range being tracked */
	uintptr_t lo, hi; /* its hugetlb part's hull, lo == hi: none */
	int err;
};

static int huge_step(const struct ww__map *m, void *arg)
{
	struct huge_ctx *c = arg;
	uintptr_t a = m->start > c->s ? m->start : c->s, b = m->end < c->e ? m->end : c->e;
	size_t kps = 0;

	/* hugetlb memory is a file mapping (MAP_HUGETLB too: an inode on
	 * hugetlbfs): anonymous private memory need not be asked */
	if (a >= b || (!m->inode && !m->shared))
		return 0;
	c->err = ww__vma_page_size(c->pid, a, &kps, NULL);
	if (c->err)
		return 1;
	if (kps > ww__page_size()) {
		if (c->lo == c->hi)
			c->lo = a;
		c->hi = b;
	}
	return 0;
}

/* The part of [s, e) (mapped) from its first hugetlb mapping to the end of
 * its last, in *lo and *hi (equal: none). One walk of the mappings of the
 * range; a page-size query only for file mappings. */
static int huge_hull(pid_t pid, uintptr_t s, uintptr_t e, uintptr_t *lo, uintptr_t *hi)
{
	struct huge_ctx c = { .pid = pid, .s = s, .e = e };
	int r = ww__maps_range_pid(pid, s, e, huge_step, &c);

	if (r < 0)
		return r == -ENOENT && pid ? -ESRCH : r;
	if (c.err)
		return c.err;
	*lo = c.lo;
	*hi = c.hi;
	return 0;
}

/* Runs the core gathers from the mechanism per backend call. */
#define CHUNK 64

/*
 * Collect [s, e) (entirely tracked) to its end, flags passed to the
 * mechanism, calling fn on each run (a run may come in pieces). With
 * WW_RESET, fn must not fail: what it is given is already re-armed; before
 * each backend call reserve(ctx) makes room for CHUNK runs and may stop
 * the walk with an error first.
 */
static int collect_all(struct ww_tracker *t, uintptr_t s, uintptr_t e, unsigned int flags,
		       int (*reserve)(void *ctx), int (*fn)(uintptr_t rs, uintptr_t re, void *ctx),
		       void *ctx)
{
	struct iovec out[CHUNK];
	size_t i;
	uintptr_t pos = s;

	range_covered(t, s, e, &i);
	while (pos < e) {
		uintptr_t pe = t->ranges[i].end < e ? t->ranges[i].end : e, bnext = pos;
		ssize_t got;
		int err = reserve ? reserve(ctx) : 0;

		if (err)
			return err;
		got = t->ops->collect(t->priv, pos, pe, flags, out, CHUNK, &bnext);
		if (got < 0)
			return (int)got;
		for (ssize_t k = 0; k < got; k++) {
			uintptr_t b = (uintptr_t)out[k].iov_base;

			err = fn(b, b + out[k].iov_len, ctx);
			if (err)
				return err;
		}
		if (bnext <= pos && got == 0)
			return -EIO; /* as in ww_collect */
		pos = bnext;
		if (pos >= pe)
			i++;
	}
	return 0;
}

struct rearm_ctx {
	struct ww_tracker *t;
	unsigned int how;
	struct ww__runs *found;
};

static int rearm_reserve(void *ctx)
{
	struct rearm_ctx *c = ctx;

	int err = c->how & WW__KEEP ? runs_reserve(&c->t->pending, CHUNK) : 0;

	return !err && c->found ? runs_reserve(c->found, CHUNK) : err;
}

static int rearm_run(uintptr_t s, uintptr_t e, void *ctx)
{
	struct rearm_ctx *c = ctx;

	ww__snaps_mark(c->t, s, e, NULL, c->how);
	/* room was reserved */
	if (c->found)
		ww__runs_add(c->found, s, e);
	return c->how & WW__KEEP ? ww__runs_add(&c->t->pending, s, e) : 0;
}

int ww__rearm(struct ww_tracker *t, uintptr_t s, uintptr_t e, unsigned int how,
	      struct ww__runs *found)
{
	struct rearm_ctx c = { t, how, found };

	return collect_all(t, s, e, WW_RESET, rearm_reserve, rearm_run, &c);
}

int ww__rearm_quiet(struct ww_tracker *t, uintptr_t s, uintptr_t e)
{
	size_t i;
	int err = 0;

	range_covered(t, s, e, &i);
	for (; !err && i < t->nranges && t->ranges[i].start < e; i++) {
		uintptr_t ps = t->ranges[i].start > s ? t->ranges[i].start : s;
		uintptr_t pe = t->ranges[i].end < e ? t->ranges[i].end : e;

		err = t->ops->reset(t->priv, ps, pe);
	}
	return err;
}

static int union_run(uintptr_t s, uintptr_t e, void *ctx)
{
	return ww__runs_add(ctx, s, e);
}

/*
 * ww_collect where the core holds pending pages in [s, e) (a snapshot
 * re-armed them): the mechanism's pages and the pending ones, merged. With
 * WW_RESET everything the mechanism has is re-armed into t->pending first
 * (so nothing is lost whatever max is), then up to max runs are handed out
 * and dropped from it. Returns the runs stored; *pos is where to go on.
 */
static ssize_t collect_pending(struct ww_tracker *t, uintptr_t s, uintptr_t e, unsigned int flags,
			       struct iovec *out, size_t max, uintptr_t *pos)
{
	struct ww__runs tmp = { 0 }, *from = &t->pending;
	size_t i, n = 0;
	int err;

	if (flags & WW_RESET) {
		err = ww__rearm(t, s, e, WW__KEEP, NULL);
	} else {
		/* the pending pages of [s, e), and the mechanism's */
		i = ww__runs_find(&t->pending, s);
		err = 0;
		for (; !err && i < t->pending.n && t->pending.r[i].start < e; i++)
			err = ww__runs_add(&tmp, t->pending.r[i].start, t->pending.r[i].end);
		if (!err)
			err = collect_all(t, s, e, 0, NULL, union_run, &tmp);
		from = &tmp;
	}
	if (err) {
		free(tmp.r);
		return err;
	}
	*pos = s;
	for (i = ww__runs_find(from, s); n < max && i < from->n && from->r[i].start < e; i++) {
		uintptr_t a = from->r[i].start > s ? from->r[i].start : s;
		uintptr_t b = from->r[i].end < e ? from->r[i].end : e;

		out[n++] = (struct iovec){ (void *)a, b - a };
		*pos = b;
	}
	if (i == from->n || from->r[i].start >= e)
		*pos = e; /* nothing more in the range */
	/* handed out: no longer pending (if that needs memory to split a run
	 * and there is none, the pages stay pending and come again) */
	if ((flags & WW_RESET) && n)
		err = ww__runs_remove(&t->pending, s,
				      (uintptr_t)out[n - 1].iov_base + out[n - 1].iov_len);
	for (size_t k = 0; (flags & WW_RESET) && !err && k < n; k++)
		ww__snaps_mark(t, (uintptr_t)out[k].iov_base,
			       (uintptr_t)out[k].iov_base + out[k].iov_len, NULL,
			       WW__USER | WW__PENDING);
	free(tmp.r);
	return err ? err : (ssize_t)n;
}

/* The end of the last field of struct ww_opts this library knows. A field
 * added later must keep the struct free of padding (checked here), so that
 * sz tells exactly which fields a caller has. */
#define OPTS_KNOWN (offsetof(struct ww_opts, caps) + sizeof(unsigned int))
_Static_assert(OPTS_KNOWN == sizeof(struct ww_opts), "struct ww_opts has tail padding");
/* Whether the caller's struct (of size o->sz) has field f. */
#define OPTS_HAS(o, f) ((o)->sz >= offsetof(struct ww_opts, f) + sizeof((o)->f))

/* Copy the caller's options into *to (which holds the defaults), reading
 * only the fields its sz covers. */
static int opts_get(const struct ww_opts *o, struct ww_opts *to, char *why, size_t whylen)
{
	if (o->sz < sizeof(o->sz))
		return ww__why(why, whylen, -EINVAL,
			       "opts->sz %zu is smaller than the field itself", o->sz);
	/* A newer caller's fields we don't know must be zero (libbpf's rule). */
	for (size_t i = OPTS_KNOWN; i < o->sz; i++)
		if (((const unsigned char *)o)[i])
			return ww__why(why, whylen, -E2BIG,
				       "opts sets a field this library does not know (byte %zu)",
				       i);
	if (OPTS_HAS(o, backend))
		to->backend = o->backend;
	if (OPTS_HAS(o, pid))
		to->pid = o->pid;
	if (OPTS_HAS(o, flags))
		to->flags = o->flags;
	if (OPTS_HAS(o, caps))
		to->caps = o->caps;
	if (to->backend != WW_BACKEND_AUTO && !ww__backend((int)to->backend))
		return ww__why(why, whylen, -EINVAL, "opts->backend %d is no backend",
			       (int)to->backend);
	if (to->pid < 0)
		return ww__why(why, whylen, -EINVAL, "opts->pid %d is negative", (int)to->pid);
	if (to->flags)
		return ww__why(why, whylen, -EINVAL, "opts->flags %#x: no flags are defined",
			       to->flags);
	if (to->caps & ~WW_CAP_ALL)
		return ww__why(why, whylen, -EINVAL, "opts->caps %#x: bits %#x are no WW_CAP_*",
			       to->caps, to->caps & ~WW_CAP_ALL);
	return 0;
}

WW_API int ww_open(const struct ww_opts *opts, struct ww_tracker **out)
{
	return ww_open_why(opts, out, NULL, 0);
}

WW_API int ww_open_why(const struct ww_opts *opts, struct ww_tracker **out, char *why,
		       size_t whylen)
{
	struct ww_opts o = { .sz = sizeof(o) };
	struct ww__reasons rs = { why, whylen };
	struct ww_tracker *t;
	int b, err;

	ww__log_init();
	pthread_once(&fork_once, fork_register);
	if (why && whylen)
		why[0] = '\0';
	if (!out)
		return (int)ww__ret(ww__why(why, whylen, -EINVAL, "out is NULL"));
	*out = NULL;
	if (opts) {
		err = opts_get(opts, &o, why, whylen);
		if (err)
			return (int)ww__ret(err);
	}
	if (o.pid == getpid())
		o.pid = 0;

	if (o.pid)
		o.caps |= WW_CAP_REMOTE;
	t = calloc(1, sizeof(*t));
	if (!t)
		return (int)ww__ret(-ENOMEM);
	pthread_mutex_init(&t->lock, NULL);
	t->fork_gen = ww__fork_gen;
	t->pid = o.pid;
	/* AUTO: the first backend in its order that works here and has the
	 * caps asked for, as opened (the kernel may grant a tracker fewer). */
	for (b = 0;;) {
		char one[256] = "";

		if (o.backend == WW_BACKEND_AUTO) {
			b = ww__auto_next(o.pid, o.caps, b, &rs);
			err = b < 0 ? b : 0;
		} else {
			b = (int)o.backend;
			err = ww_backend_probe(o.backend, o.pid, one, sizeof(one));
			if (err) {
				ww__warn("%s: %s", ww_backend_name(o.backend), one);
				ww__reason(&rs, ww_backend_name(o.backend), "%s", one);
			} else if ((ww__backends[b]->caps & o.caps) != o.caps) {
				err = -EOPNOTSUPP;
				ww__reason(&rs, ww_backend_name(o.backend), "lacks %s",
					   ww__caps_names(o.caps & ~ww__backends[b]->caps, one,
							  sizeof(one)));
			}
		}
		if (err)
			break;
		t->ops = ww__backends[b];
		err = t->ops->open(o.pid, &t->priv, one, sizeof(one));
		if (err) {
			/* it probed fine: what changed is worth a warning */
			if (!one[0])
				snprintf(one, sizeof(one), "%s", strerror(-err));
			ww__warn("%s: %s", t->ops->name, one);
			ww__reason(&rs, t->ops->name, "%s", one);
		} else if ((ww_tracker_caps(t) & o.caps) != o.caps) {
			ww__info("%s: this tracker lacks caps %#x", t->ops->name,
				 o.caps & ~ww_tracker_caps(t));
			ww__reason(&rs, t->ops->name, "lacks %s here",
				   ww__caps_names(o.caps & ~ww_tracker_caps(t), one, sizeof(one)));
			t->ops->close(t->priv);
			err = -EOPNOTSUPP;
		}
		if (!err || o.backend != WW_BACKEND_AUTO)
			break;
	}
	if (err) {
		pthread_mutex_destroy(&t->lock);
		free(t);
		return (int)ww__ret(err);
	}
	if (why && whylen)
		why[0] = '\0'; /* AUTO opened one: what it passed over is no failure */
	ww__dbg("opened %s tracker for pid %d", t->ops->name, (int)o.pid);
	*out = t;
	return 0;
}

WW_API unsigned int ww_tracker_caps(const struct ww_tracker *t)
{
	if (!t)
		return 0;
	return t->ops->tracker_caps ? t->ops->tracker_caps(t->priv) & t->ops->caps : t->ops->caps;
}

WW_API void ww_close(struct ww_tracker *t)
{
	if (!t)
		return;
	/* Snapshots outlive their tracker: their content stays readable,
	 * restore fails with -EBADF. COW ones copy what they still need. */
	if (!forked_copy(t) && atomic_load(&t->cow)) {
		pthread_mutex_lock(&t->lock);
		ww__cow_save(t, 0, UINTPTR_MAX);
		t->ops->set_prewrite(t->priv, NULL);
		pthread_mutex_unlock(&t->lock);
	}
	for (struct ww_snapshot *p = t->snaps; p; p = p->next)
		p->t = NULL;
	free(t->cowbuf[0]);
	free(t->cowbuf[1]);
	free(t->pending.r);
	free(t->huge.r);
	free(t->huge_seen.r);
	if (forked_copy(t)) {
		/* The parent's tracking is not ours to end; the backend's state
		 * is left as inherited (a small leak beats disarming the parent). */
		free(t->ranges);
		free(t);
		return;
	}
	pthread_mutex_lock(&t->lock);
	/* Last range first: a backend that keeps its ranges in a sorted array
	 * then removes from its end (in order, closing 100,000 uffd-wp ranges
	 * moved the rest of the array each time: 25 s). */
	for (size_t i = t->nranges; i-- > 0;)
		t->ops->untrack(t->priv, t->ranges[i].start, t->ranges[i].end);
	t->ops->close(t->priv);
	pthread_mutex_unlock(&t->lock);
	pthread_mutex_destroy(&t->lock);
	free(t->ranges);
	free(t);
}

/*
 * In a forked child, make an inherited (inert) tracker track the child's own
 * memory: a new instance of the same mechanism, opened in the child, tracks
 * every range the copy lists. The copy's mechanism state is the parent's
 * (uffd ioctls act on the parent's mm, a handler thread was not forked) and
 * is left alone, as ww_close leaves it in a child: a small leak beats
 * disarming the parent. The child's copy of the lock may have been held by
 * a thread that does not exist here, so it is made anew; a copy taken while
 * another thread was changing the range list cannot be trusted (-EBUSY).
 */
WW_API int ww_reopen(struct ww_tracker *t)
{
	char why[256] = "";
	void *priv = NULL;
	size_t i;
	int err;

	ww__log_init();
	if (!t)
		return (int)ww__ret(-EINVAL);
	if (!forked_copy(t))
		return (int)ww__ret(-EALREADY);
	if (t->pid)
		return (int)ww__ret(-EOPNOTSUPP);
	if (t->changing)
		return (int)ww__ret(-EBUSY);
	/* As ww_track: the child may have unmapped a range since the fork
	 * (the mechanism's own mappings could then land in the hole). */
	for (i = 0; i < t->nranges; i++) {
		err = ww__range_mapped_pid(0, t->ranges[i].start, t->ranges[i].end);
		if (err) {
			ww__info("reopen: %#lx-%#lx is no longer mapped",
				 (unsigned long)t->ranges[i].start,
				 (unsigned long)t->ranges[i].end);
			return (int)ww__ret(err);
		}
	}
	/* The inherited state is the parent's (a uffd acts on its creator's
	 * mm) and left untouched, or was released in the child already (the
	 * mprotect backend's atfork handler gives the child its memory back):
	 * either way the child opens anew. */
	err = t->ops->open(0, &priv, why, sizeof(why));
	if (err) {
		ww__warn("%s: %s", t->ops->name, why[0] ? why : strerror(-err));
		return (int)ww__ret(err);
	}
	for (i = 0; i < t->nranges && !err; i++)
		err = t->ops->track(priv, t->ranges[i].start, t->ranges[i].end);
	if (err) {
		ww__dbg("reopen: track %#lx-%#lx: %s", (unsigned long)t->ranges[i - 1].start,
			(unsigned long)t->ranges[i - 1].end, strerror(-err));
		while (--i > 0)
			t->ops->untrack(priv, t->ranges[i - 1].start, t->ranges[i - 1].end);
		t->ops->close(priv);
		return (int)ww__ret(err);
	}
	pthread_mutex_init(&t->lock, NULL);
	t->priv = priv;
	t->fork_gen = ww__fork_gen;
	/* Every page is clean now, and writes since the fork went unseen;
	 * the parent's COW snapshots are not this process's to feed. */
	t->pending.n = 0;
	atomic_store(&t->cow, NULL);
	snaps_break(t, 0, UINTPTR_MAX);
	ww__dbg("reopened %s tracker in child %d, %zu ranges", t->ops->name, (int)getpid(),
		t->nranges);
	return 0;
}

/*
 * Does [s, e) hold any of the calling thread's stack? Tracking it cannot
 * work on every mechanism: with mprotect the kernel pushes the SIGSEGV frame
 * onto the protected stack and, unable to, kills the process; with
 * synchronous uffd-wp the thread blocks on a fault of its own stack with
 * every signal blocked. ww_track refuses it on every backend (-EDEADLK), so
 * a program behaves the same whichever one AUTO picks. The page holding the
 * current frame counts too, for a thread running on a stack of its own
 * making (a coroutine, sigaltstack).
 */
static int own_stack_check(uintptr_t s, uintptr_t e)
{
	uintptr_t sp = (uintptr_t)__builtin_frame_address(0), lo, hi;
	int err;

	if (ww__page_down(sp) >= s && ww__page_down(sp) < e)
		return -EDEADLK;
	err = ww__thread_stack(sp, &lo, &hi);
	if (err)
		return err == -ENOENT ? 0 : err; /* unknown is not "no" (EMFILE) */
	return lo < e && s < hi ? -EDEADLK : 0;
}

WW_API int ww_track(struct ww_tracker *t, void *addr, size_t len)
{
	uintptr_t s, e;
	size_t at;
	int err = span_of(t, addr, len, &s, &e);

	if (!err && !t->pid)
		err = own_stack_check(s, e);
	if (err)
		return (int)ww__ret(err);
	pthread_mutex_lock(&t->lock);
	t->changing = true;
	at = range_search(t, s);
	if (at < t->nranges && t->ranges[at].start < e) {
		err = -EEXIST;
	} else if ((err = ww__range_mapped_pid(t->pid, s, e)) != 0) {
		/* -ENOMEM: not mapped; -ESRCH: the process is gone */
	} else {
		err = range_reserve(t);
	}
	if (!err)
		err = t->ops->track(t->priv, s, e);
	/* A range that splits a hugetlb page is refused alike everywhere:
	 * the kernel's mprotect says -EINVAL, userfaultfd registration and
	 * soft-dirty's refusal of hugetlb say -EOPNOTSUPP. Asked only once a
	 * mechanism has refused, so that a track costs no lookup. */
	if ((err == -EINVAL || err == -EOPNOTSUPP) && splits_huge(t->pid, s, e))
		err = -EINVAL;
	if (!err)
		range_insert(t, at, s, e);
	t->changing = false;
	pthread_mutex_unlock(&t->lock);
	if (err)
		ww__dbg("track %#lx-%#lx: %s", (unsigned long)s, (unsigned long)e, strerror(-err));
	return (int)ww__ret(err);
}

WW_API int ww_untrack(struct ww_tracker *t, void *addr, size_t len)
{
	uintptr_t s, e, done;
	size_t i;
	int err = span_of(t, addr, len, &s, &e);

	if (err)
		return (int)ww__ret(err);
	pthread_mutex_lock(&t->lock);
	if (!range_covered(t, s, e, &i)) {
		err = -ENOENT;
		goto out;
	}
	t->changing = true;
	/* Make room for a split up front, so bookkeeping cannot fail midway. */
	err = range_reserve(t);
	if (!err)
		err = runs_reserve(&t->pending, 1);
	if (!err)
		err = runs_reserve(&t->huge, 1);
	if (!err)
		err = runs_reserve(&t->huge_seen, 1);
	if (err)
		goto out;
	ww__runs_remove(&t->pending, s, e); /* room was made above */
	done = s;
	ww__cow_save(t, s, e);
	snaps_break(t, s, e);
	while (i < t->nranges && t->ranges[i].start < e) {
		struct ww__range r = t->ranges[i];
		uintptr_t ps = r.start > s ? r.start : s, pe = r.end < e ? r.end : e;

		err = t->ops->untrack(t->priv, ps, pe);
		if (err)
			break;
		done = pe;
		if (ps == r.start && pe == r.end) {
			range_remove(t, i);
		} else if (ps == r.start) {
			t->ranges[i].start = pe;
			i++;
		} else if (pe == r.end) {
			t->ranges[i].end = ps;
			i++;
		} else {
			t->ranges[i].end = ps;
			range_insert(t, i + 1, pe, r.end); /* room was made above */
			i += 2;
		}
	}
	/* what is no longer tracked (the gaps between ranges never were):
	 * one removal, so the room made above is enough */
	ww__runs_remove(&t->huge, s, done);
	ww__runs_remove(&t->huge_seen, s, done);
out:
	t->changing = false;
	pthread_mutex_unlock(&t->lock);
	return (int)ww__ret(err);
}

WW_API ssize_t ww_collect(struct ww_tracker *t, void *addr, size_t len, unsigned int flags,
			  struct iovec *out, size_t max, void **next)
{
	uintptr_t s = 0, e = 0, pos = 0;
	size_t i, n = 0;
	ssize_t err = span_of(t, addr, len, &s, &e);

	if (!err && (!out || !max || (flags & ~WW_RESET)))
		err = -EINVAL;
	if (err)
		return ww__ret(err);
	pthread_mutex_lock(&t->lock);
	if (!range_covered(t, s, e, &i)) {
		err = -ENOENT;
		goto out;
	}
	/* The application unmapped (munmap, mremap) part of the range: its
	 * pages are gone, and reporting the rest as if complete would hide
	 * that. The caller untracks it (best effort on the hole). */
	err = ww__range_mapped_pid(t->pid, s, e);
	if (err == -ENOMEM)
		err = -EFAULT;
	if (!err && (flags & WW_RESET))
		err = ww__rearm_check(t, s, e);
	if (err)
		goto out;
	if (runs_any(&t->pending, s, e)) {
		ssize_t got = collect_pending(t, s, e, flags, out, max, &pos);

		if (got < 0)
			err = got;
		else
			n = (size_t)got;
		goto out;
	}
	pos = s;
	while (pos < e && n < max) {
		uintptr_t pe = t->ranges[i].end < e ? t->ranges[i].end : e, bnext = pos;
		ssize_t got = t->ops->collect(t->priv, pos, pe, flags, out + n, max - n, &bnext);

		if (got < 0) {
			/* Runs stored already stand (with WW_RESET they are
			 * re-armed: dropping them would lose those writes);
			 * the error comes again from pos on the next call. */
			if (!n)
				err = got;
			break;
		}
		/* A run may continue across a range boundary or a backend stop. */
		if (got > 0 && n > 0 &&
		    (uintptr_t)out[n - 1].iov_base + out[n - 1].iov_len ==
			    (uintptr_t)out[n].iov_base) {
			out[n - 1].iov_len += out[n].iov_len;
			memmove(&out[n], &out[n + 1], (size_t)(got - 1) * sizeof(*out));
			got--;
		}
		n += (size_t)got;
		if (bnext <= pos && got == 0) {
			err = -EIO; /* a backend that makes no progress must not spin */
			ww__err("%s collect made no progress at %#lx", t->ops->name,
				(unsigned long)pos);
			break;
		}
		pos = bnext;
		if (pos >= pe)
			i++;
	}
	/* what is re-armed now is a change to every snapshot over it */
	if ((flags & WW_RESET) && t->snaps)
		for (size_t k = 0; k < n; k++)
			ww__snaps_mark(t, (uintptr_t)out[k].iov_base,
				       (uintptr_t)out[k].iov_base + out[k].iov_len, NULL, WW__USER);
out:
	pthread_mutex_unlock(&t->lock);
	if (err < 0)
		return ww__ret(err);
	if (next)
		*next = pos >= e ? (char *)addr + len : (void *)pos;
	return (ssize_t)n;
}

WW_API int ww_reset(struct ww_tracker *t, void *addr, size_t len)
{
	uintptr_t s, e;
	size_t i;
	int err = span_of(t, addr, len, &s, &e);

	if (err)
		return (int)ww__ret(err);
	pthread_mutex_lock(&t->lock);
	if (!range_covered(t, s, e, &i))
		err = -ENOENT;
	else if ((err = ww__range_mapped_pid(t->pid, s, e)) == -ENOMEM)
		err = -EFAULT; /* as in ww_collect */
	else if ((err = ww__rearm_check(t, s, e)) == 0)
		err = runs_reserve(&t->pending, 1);
	/* A snapshot over the range must learn which pages the reset drops:
	 * then the reset is a collect that keeps what it finds for them. */
	if (!err)
		err = snaps_over(t, s, e) ? ww__rearm(t, s, e, WW__USER, NULL) :
					    ww__rearm_quiet(t, s, e);
	if (!err && t->snaps) { /* pending pages dropped: the caller's too */
		for (size_t k = ww__runs_find(&t->pending, s);
		     k < t->pending.n && t->pending.r[k].start < e; k++)
			ww__snaps_mark(t, t->pending.r[k].start > s ? t->pending.r[k].start : s,
				       t->pending.r[k].end < e ? t->pending.r[k].end : e, NULL,
				       WW__USER | WW__PENDING);
	}
	if (!err)
		ww__runs_remove(&t->pending, s, e); /* room was made above */
	pthread_mutex_unlock(&t->lock);
	return (int)ww__ret(err);
}

WW_API int ww_tracker_granularity(struct ww_tracker *t, void *addr, size_t *bytes)
{
	uintptr_t s, e;
	size_t i, g = 0;
	bool thp = false;
	int err = span_of(t, addr, 1, &s, &e);

	if (!err && !bytes)
		err = -EINVAL;
	if (err)
		return (int)ww__ret(err);
	/* Every backend works on page-table entries or protections, which
	 * cover one kernel page: a hugetlb page is seen whole, a THP is split
	 * by the write fault (pagemap-scan, uffd-wp) or by mprotect. The
	 * mapping is read once, here, outside the lock; the backend's rule
	 * over what it says runs under it, as every op does. */
	pthread_mutex_lock(&t->lock);
	if (!range_covered(t, s, e, &i))
		err = -ENOENT;
	pthread_mutex_unlock(&t->lock);
	if (!err) /* THP or not costs a walk of smaps: only if the rule needs it */
		err = ww__vma_page_size(t->pid, s, &g, t->ops->granularity ? &thp : NULL);
	if (err)
		return (int)ww__ret(err);
	if (g < ww__page_size())
		g = ww__page_size();
	pthread_mutex_lock(&t->lock);
	if (!range_covered(t, s, e, &i))
		err = -ENOENT; /* untracked meanwhile */
	else if (t->ops->granularity)
		t->ops->granularity(t->priv, thp, &g);
	pthread_mutex_unlock(&t->lock);
	if (!err)
		*bytes = g;
	return (int)ww__ret(err);
}

WW_API enum ww_backend ww_tracker_backend(const struct ww_tracker *t)
{
	return t ? t->ops->id : WW_BACKEND_AUTO;
}
