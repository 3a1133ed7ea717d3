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

#include "backend/backend.h"
#include "internal.h"
#include "sys/sys.h"

struct ww__range {
	uintptr_t start, end;
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
};

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

/* Index of the first range whose end is above addr (nranges if none). */
static size_t range_search(const struct ww_tracker *t, uintptr_t addr)
{
	size_t lo = 0, hi = t->nranges;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (t->ranges[mid].end <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
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
static int range_reserve(struct ww_tracker *t)
{
	size_t cap = t->cap ? t->cap * 2 : 8;
	struct ww__range *n;

	if (t->nranges < t->cap)
		return 0;
	n = realloc(t->ranges, cap * sizeof(*n));
	if (!n)
		return -ENOMEM;
	t->ranges = n;
	t->cap = cap;
	return 0;
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
	uintptr_t s, e;
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
	if (err)
		goto out;
	while (i < t->nranges && t->ranges[i].start < e) {
		struct ww__range r = t->ranges[i];
		uintptr_t ps = r.start > s ? r.start : s, pe = r.end < e ? r.end : e;

		err = t->ops->untrack(t->priv, ps, pe);
		if (err)
			break;
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
	if (err) {
		if (err == -ENOMEM)
			err = -EFAULT;
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
	for (; !err && i < t->nranges && t->ranges[i].start < e; i++) {
		uintptr_t ps = t->ranges[i].start > s ? t->ranges[i].start : s;
		uintptr_t pe = t->ranges[i].end < e ? t->ranges[i].end : e;

		err = t->ops->reset(t->priv, ps, pe);
	}
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
