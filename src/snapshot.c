/* SPDX-License-Identifier: MIT */
/*
 * Snapshots: the content of a tracked range at one instant, read back at
 * will, and put back by copying only the pages changed since (rollback).
 *
 * Take re-arms the range with a collect that keeps what the caller had not
 * collected yet (t->pending, reported by ww_collect as if the mechanism still
 * held it), so every page the mechanism reports from then on was changed
 * after the take. The core marks each page it re-arms inside a snapshot in
 * that snapshot's `changed` bitmap, whoever asked for the re-arm, so a
 * caller's ww_collect with WW_RESET or ww_reset between take and restore
 * cannot make restore miss a page. Restore re-arms the range once more
 * (marking), copies the marked pages back, then re-arms the pages it wrote
 * without marking them for this snapshot (they equal it again) but marking
 * them for any other snapshot over them.
 *
 * The copy is made at take, and pages are put back at restore, outside the
 * tracker's lock: no writer runs then (the caller's promise), and a copy of
 * a large range must not hold up the tracker's other calls for its length.
 * (A fault these copies take goes to the mechanism's own handler, which
 * never takes the tracker's lock.) Pages that read all zero are not stored
 * (the copy is a MAP_NORESERVE mapping that reads zero there).
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core.h"
#include "internal.h"
#include "sys/bitmap.h"
#include "sys/sys.h"

static bool page_is_zero(const unsigned char *p, size_t ps)
{
	const uint64_t *w = (const uint64_t *)(const void *)p;

	for (size_t i = 0; i < ps / sizeof(*w); i++)
		if (w[i])
			return false;
	return true;
}

/* Bytes of one page bitmap of s. */
static size_t bitmap_bytes(const struct ww_snapshot *s)
{
	return (s->npages + WW_WORD_BITS - 1) / WW_WORD_BITS * sizeof(uint64_t);
}

static void snap_destroy(struct ww_snapshot *s)
{
	if (s->copy)
		munmap(s->copy, s->npages * ww__page_size());
	if (s->saved)
		munmap((void *)s->saved, 2 * bitmap_bytes(s));
	free(s->changed);
	free(s->rearmed);
	free(s->pre);
	free(s);
}

static bool bit_test(_Atomic uint64_t *b, size_t i)
{
	return atomic_load_explicit(&b[i / WW_WORD_BITS], memory_order_acquire) >>
		       (i % WW_WORD_BITS) &
	       1;
}

static void bit_set(_Atomic uint64_t *b, size_t i)
{
	atomic_fetch_or_explicit(&b[i / WW_WORD_BITS], 1ULL << (i % WW_WORD_BITS),
				 memory_order_release);
}

/* How long a take's pre-arming holds each write it meets: see cow_prearm
 * (a build may set it, 0 to measure without). */
#ifndef COW_SLOW_NS
#define COW_SLOW_NS 200000u
#endif

/*
 * Copy-before-write. The mechanism calls cow_before just before a write
 * changes a page for the first time since it was re-armed (the page is
 * still protected), on its handler thread or in a signal handler: no lock,
 * no allocation, only memory of our own mappings written (the copy and the
 * saved/lost bitmaps: the application may track its heap). The list of COW
 * snapshots is published whole; a snapshot leaves it before it is freed,
 * and set_prewrite, a barrier, is called between.
 *
 * Arming: take re-arms the range run by run, so while it does, a write
 * into the range is held (false): a writer that wrote page B (trapped) and
 * then page A (not re-armed yet) would otherwise show the snapshot A's new
 * value and B's old one. Held writers stay blocked until arming ends; the
 * snapshot is the memory at that instant: every write before it landed in
 * memory the snapshot reads later, every write after it is trapped here
 * and the page copied first.
 */
/* Pages [i, j) of s, unsaved, hold what they held at the instant: into
 * the copy, then saved; or, if the mechanism finds them gone meanwhile
 * (prewrite_read), lost. zero: missing pages, zeros, not to be read. */
static void cow_copy(struct ww_tracker *t, struct ww_snapshot *s, size_t i, size_t j, bool zero)
{
	size_t ps = ww__page_size();
	unsigned char *to = s->copy + i * ps;
	uintptr_t from = s->start + i * ps;

	if (zero)
		memset(to, 0, (j - i) * ps);
	else if (!t->ops->prewrite_read)
		memcpy(to, (const void *)from, (j - i) * ps);
	else if (t->ops->prewrite_read(t->priv, to, from, (j - i) * ps)) {
		for (; i < j; i++)
			bit_set(s->lost, i);
		return;
	}
	for (; i < j; i++)
		bit_set(s->saved, i);
}

static bool cow_before(void *ctx, uintptr_t a, size_t len, bool zero, uint64_t held_ns)
{
	struct ww_tracker *t = ctx;
	struct ww__cowlist *l = atomic_load_explicit(&t->cow, memory_order_acquire);
	size_t ps = ww__page_size();

	/* a take pre-arming here: slow the writer down (cow_prearm) */
	if (l && a < l->slow_e && a + len > l->slow_s && held_ns < COW_SLOW_NS)
		return false;
	for (size_t k = 0; l && k < l->n; k++) {
		struct ww_snapshot *s = l->s[k];
		uintptr_t p = a > s->start ? a : s->start, e = a + len < s->end ? a + len : s->end;

		if (p >= e)
			continue;
		if (atomic_load_explicit(&s->arming, memory_order_acquire))
			return false;
		while (p < e) {
			size_t i = (p - s->start) / ps, j = i + 1;

			if (bit_test(s->saved, i)) {
				p += ps;
				continue;
			}
			while (s->start + j * ps < e && !bit_test(s->saved, j))
				j++;
			cow_copy(t, s, i, j, zero);
			p = s->start + j * ps;
		}
	}
	return true;
}

/* Content dropped without a write: what was not copied yet is gone. */
static void cow_discarded(void *ctx, uintptr_t a, uintptr_t b)
{
	struct ww_tracker *t = ctx;
	struct ww__cowlist *l = atomic_load_explicit(&t->cow, memory_order_acquire);
	size_t ps = ww__page_size();

	for (size_t k = 0; l && k < l->n; k++) {
		struct ww_snapshot *s = l->s[k];
		uintptr_t p = a > s->start ? a : s->start, e = b < s->end ? b : s->end;

		for (p = p & ~(uintptr_t)(ps - 1); p < e; p += ps)
			if (!bit_test(s->saved, (p - s->start) / ps))
				bit_set(s->lost, (p - s->start) / ps);
	}
}

/* Runs a pre-arming pass may find and still be the last one. */
#define COW_PREARM_ENOUGH 16
#define COW_PREARM_PASSES 8

static int cow_publish(struct ww_tracker *t);

/* Test hook: WRITEWATCH_COW_SLOW=1 slows writes from a take's first pass
 * on, so that path runs whether or not the writers keep up here. */
static bool slow_always(void)
{
	const char *v = secure_getenv("WRITEWATCH_COW_SLOW");

	return COW_SLOW_NS && v && v[0] == '1';
}

/*
 * Before a COW take holds writers: re-arm [s, e) while they run, so that
 * the held arming after it has only what they wrote meanwhile to re-arm.
 * Arming costs about 2 us per written run (BENCHMARKS.md, 9d); a take
 * after thousands of scattered writes would hold every writer that long.
 * What is found goes to t->pending as any re-arm's, so the caller's next
 * collect still sees it. A pass is repeated while the one before it found
 * more than a few runs (writers keep writing during a pass).
 *
 * Writers that write pages a pass has re-armed fault, and may dirty pages
 * about as fast as a pass re-arms them: each costs one round trip through
 * the mechanism, as re-arming one does (on a 2-CPU machine with writers
 * running, ~30 us each; BENCHMARKS.md 9d), and then the passes do not
 * shrink. So once a pass has not found fewer than half of what the one
 * before found, the writes the next passes meet are each held COW_SLOW_NS
 * first (the hooks are set for the range with no snapshot listed yet:
 * nothing is copied), as a live migration slows a guest's CPUs once its
 * dirty pages do not converge: a writer then dirties at most one page per
 * COW_SLOW_NS, so the passes shrink, and what a write waits stays well
 * under a millisecond. Only where they still do not halve do the passes
 * stop, the held pass taking what is left.
 */
/* Slow the writes into [s, e) from now on; false if the list could not
 * be published (no memory), and then nothing is slowed. */
static bool slow_start(struct ww_tracker *t, uintptr_t s, uintptr_t e)
{
	t->slow_s = s;
	t->slow_e = e;
	if (!cow_publish(t))
		return true;
	t->slow_s = t->slow_e = 0;
	return false;
}

static int cow_prearm(struct ww_tracker *t, uintptr_t s, uintptr_t e, char *log, size_t loglen)
{
	struct ww__runs found = { 0 };
	size_t prev = SIZE_MAX, at = 0;
	int err = 0;

	if (slow_always())
		slow_start(t, s, e);
	for (int pass = 0; !err && pass < COW_PREARM_PASSES; pass++) {
		found.n = 0;
		err = ww__rearm(t, s, e, WW__KEEP, &found);
		if (at < loglen)
			at += (size_t)snprintf(log + at, loglen - at, " %zu%s", found.n,
					       t->slow_s < t->slow_e ? "s" : "");
		if (found.n <= COW_PREARM_ENOUGH)
			break;
		if (found.n * 2 > prev) {
			/* writers keep up with the passes: slow them, or, if
			 * they are slowed already, another pass would only
			 * make the take longer, not the hold shorter */
			if (t->slow_s < t->slow_e || !COW_SLOW_NS || !slow_start(t, s, e))
				break;
		}
		prev = found.n;
	}
	t->slow_s = t->slow_e = 0; /* published by the caller's next cow_publish */
	free(found.r);
	return err;
}

/* Fill l with t's COW snapshots of process me and the slowed range. */
static void cow_fill(struct ww__cowlist *l, const struct ww_tracker *t, pid_t me)
{
	l->n = 0;
	for (struct ww_snapshot *p = t->snaps; p; p = p->next)
		if (p->cow && p->owner == me)
			l->s[l->n++] = p;
	l->slow_s = t->slow_s;
	l->slow_e = t->slow_e;
}

/* Publish the list of t's COW snapshots (of this process), and the range a
 * take is pre-arming, anew, with t->lock held, into the buffer the hooks do
 * not read; set_prewrite then makes sure no hook still reads the other.
 * Only growing allocates, so removing a snapshot cannot fail. */
static int cow_publish(struct ww_tracker *t)
{
	struct ww__cowlist *cur = atomic_load(&t->cow), *l;
	size_t n = 0;
	pid_t me = getpid();
	bool any;

	for (struct ww_snapshot *p = t->snaps; p; p = p->next)
		n += p->cow && p->owner == me;
	any = n || t->slow_s < t->slow_e;
	if (n > t->cowcap || (any && !t->cowbuf[0])) {
		size_t cap = n * 2 + 1, sz = sizeof(*l) + cap * sizeof(l->s[0]);
		struct ww__cowlist *b0 = malloc(sz), *b1 = malloc(sz), *old0, *old1;

		if (!b0 || !b1) {
			free(b0);
			free(b1);
			return -ENOMEM;
		}
		old0 = t->cowbuf[0]; /* both go after the barrier */
		old1 = t->cowbuf[1];
		t->cowbuf[0] = b0;
		t->cowbuf[1] = b1;
		t->cowcap = cap;
		l = b0;
		cow_fill(l, t, me);
		t->pw = (struct ww__prewrite){ cow_before, cow_discarded, t };
		atomic_store(&t->cow, l);
		t->ops->set_prewrite(t->priv, &t->pw);
		free(old0);
		free(old1);
		return 0;
	}
	l = cur == t->cowbuf[0] ? t->cowbuf[1] : t->cowbuf[0];
	if (any)
		cow_fill(l, t, me);
	t->pw = (struct ww__prewrite){ cow_before, cow_discarded, t };
	atomic_store(&t->cow, any ? l : NULL);
	t->ops->set_prewrite(t->priv, any ? &t->pw : NULL);
	return 0;
}

struct save_ctx {
	struct ww_snapshot *s;
	unsigned char *tmp;
	uintptr_t at, end; /* the part of s to save; at: saved up to */
};

/* Pages [p, e) of the snapshot: lost where they cannot be read (a hole,
 * memory the application made unreadable since the take). */
static void save_lost(struct ww_snapshot *s, uintptr_t p, uintptr_t e)
{
	for (; p < e; p += ww__page_size())
		if (!bit_test(s->saved, (p - s->start) / ww__page_size()))
			bit_set(s->lost, (p - s->start) / ww__page_size());
}

/* A writer may be in cow_before for the same page meanwhile: the page is
 * read into tmp first and stored only if no hook saved it since (a hook
 * sets saved before the page can change). */
static int save_step(const struct ww__map *m, void *arg)
{
	struct save_ctx *c = arg;
	struct ww_snapshot *s = c->s;
	size_t ps = ww__page_size();
	uintptr_t p = m->start > c->at ? m->start : c->at, e = m->end < c->end ? m->end : c->end;

	save_lost(s, c->at, p);
	if (!(m->prot & PROT_READ)) {
		save_lost(s, p, e);
		p = e;
	}
	for (; p < e; p += ps) {
		size_t i = (p - s->start) / ps;
		uint64_t bit = 1ULL << (i % WW_WORD_BITS);

		if (bit_test(s->saved, i) || bit_test(s->lost, i))
			continue;
		memcpy(c->tmp, (const void *)p, ps);
		if (!(atomic_fetch_or(&s->saved[i / WW_WORD_BITS], bit) & bit))
			memcpy(s->copy + i * ps, c->tmp, ps);
	}
	c->at = e > c->at ? e : c->at;
	return c->at >= c->end;
}

void ww__cow_save(struct ww_tracker *t, uintptr_t a, uintptr_t b)
{
	struct ww__cowlist *l = atomic_load(&t->cow);
	size_t ps = ww__page_size();
	unsigned char *tmp = l ? malloc(ps) : NULL;

	/* a page dropped before this call is lost, not to be copied now */
	if (l && t->ops->prewrite_sync)
		t->ops->prewrite_sync(t->priv, a, b);

	for (size_t k = 0; tmp && k < l->n; k++) {
		struct ww_snapshot *s = l->s[k];
		struct save_ctx c = { s, tmp, a > s->start ? a : s->start,
				      b < s->end ? b : s->end };

		if (c.at >= c.end)
			continue;
		/* what the walk did not reach (a hole at the end, or no
		 * answer at all) cannot be read either */
		ww__maps_range(c.at, c.end, save_step, &c);
		save_lost(s, c.at, c.end);
	}
	if (l && !tmp) /* no memory for one page: what is left is lost */
		for (size_t k = 0; k < l->n; k++)
			for (size_t i = 0; i < l->s[k]->npages; i++)
				if (!bit_test(l->s[k]->saved, i))
					bit_set(l->s[k]->lost, i);
	free(tmp);
}

/* Under t->lock: s->pre anew, the pages of s in t->pending now. */
static void pre_fill(struct ww_snapshot *s)
{
	const struct ww__runs *p = &s->t->pending;
	size_t ps = ww__page_size();

	memset(s->pre, 0, bitmap_bytes(s));
	for (size_t k = ww__runs_find(p, s->start); k < p->n && p->r[k].start < s->end; k++) {
		uintptr_t a = p->r[k].start > s->start ? p->r[k].start : s->start;
		uintptr_t b = p->r[k].end < s->end ? p->r[k].end : s->end;

		for (size_t i = (a - s->start) / ps; i < (b - s->start + ps - 1) / ps; i++)
			s->pre[i / WW_WORD_BITS] |= 1ULL << (i % WW_WORD_BITS);
	}
}

static void snap_link(struct ww_tracker *t, struct ww_snapshot *s)
{
	s->t = t;
	s->next = t->snaps;
	t->snaps = s;
}

static void snap_unlink(struct ww_snapshot *s)
{
	for (struct ww_snapshot **pp = &s->t->snaps; *pp; pp = &(*pp)->next)
		if (*pp == s) {
			*pp = s->next;
			break;
		}
	s->t = NULL;
}

WW_API int ww_snapshot_take(struct ww_tracker *t, void *addr, size_t len, unsigned int flags,
			    struct ww_snapshot **out)
{
	size_t ps = ww__page_size(), words;
	uintptr_t a = (uintptr_t)addr, s, e;
	struct ww_snapshot *snap;
	uint64_t t_pre = 0, t_held = 0;
	char passes[64] = "";
	int err;

	ww__log_init();
	if (out)
		*out = NULL;
	if (!t || !out || !len || a > UINTPTR_MAX - len || (flags & ~WW_SNAP_COW))
		return (int)ww__ret(-EINVAL);
	s = ww__page_down(a);
	if (!ww__page_up(a + len, &e))
		return (int)ww__ret(-EINVAL);
	err = ww__tracker_usable(t);
	if (err)
		return (int)ww__ret(err);
	if (t->pid) {
		ww__info("snapshot: tracker watches process %d; snapshots are of this process",
			 (int)t->pid);
		return (int)ww__ret(-EOPNOTSUPP);
	}
	if ((flags & WW_SNAP_COW) &&
	    (!t->ops->set_prewrite || !(ww_tracker_caps(t) & WW_CAP_PREWRITE))) {
		if (t->ops->set_prewrite && (t->ops->caps & WW_CAP_PREWRITE))
			ww__info("snapshot: %s cannot copy before a write on this kernel: "
				 "read faults map no zero page here, so a page discarded "
				 "and read back would pass for content",
				 t->ops->name);
		else
			ww__info("snapshot: %s cannot see a write before it lands, which "
				 "copy-before-write needs: open the tracker with opts.caps = "
				 "WW_CAP_PREWRITE",
				 t->ops->name);
		return (int)ww__ret(-EOPNOTSUPP);
	}
	/* Every page is read, at take or before its first write: memory the
	 * application made unreadable (a PROT_NONE guard page) cannot be.
	 * An untracked range is named first (ENOENT): a guard page past the
	 * tracked range is the caller's range error, not a protection. */
	pthread_mutex_lock(&t->lock);
	err = ww__tracker_covers(t, s, e);
	pthread_mutex_unlock(&t->lock);
	if (err)
		return (int)ww__ret(err);
	err = ww__range_prot(s, e, PROT_READ);
	if (err) {
		/* any failure refuses: the copy below would fault */
		ww__info("snapshot: %#lx-%#lx %s", (unsigned long)s, (unsigned long)e,
			 err == -EACCES ? "holds memory that cannot be read (PROT_NONE)" :
			 err == -EFAULT ? "is no longer mapped in full" :
					  "has mappings that could not be read");
		return (int)ww__ret(err);
	}
	snap = calloc(1, sizeof(*snap));
	if (!snap)
		return (int)ww__ret(-ENOMEM);
	snap->start = s;
	snap->end = e;
	snap->npages = (e - s) / ps;
	words = (snap->npages + WW_WORD_BITS - 1) / WW_WORD_BITS;
	snap->changed = calloc(words, sizeof(*snap->changed));
	snap->rearmed = calloc(words, sizeof(*snap->rearmed));
	snap->pre = calloc(words, sizeof(*snap->pre));
	snap->copy = mmap(NULL, e - s, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (snap->copy == MAP_FAILED)
		snap->copy = NULL;
	if (flags & WW_SNAP_COW) {
		/* written by the hooks: our own mapping, never the heap */
		void *b = mmap(NULL, 2 * bitmap_bytes(snap), PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (b != MAP_FAILED) {
			snap->saved = b;
			snap->lost = (_Atomic uint64_t *)((char *)b + bitmap_bytes(snap));
		}
		snap->cow = true;
		snap->owner = getpid();
		atomic_init(&snap->arming, true);
	}
	if (!snap->changed || !snap->rearmed || !snap->pre || !snap->copy ||
	    (snap->cow && !snap->saved)) {
		snap_destroy(snap);
		return (int)ww__ret(-ENOMEM);
	}

	pthread_mutex_lock(&t->lock);
	err = ww__tracker_covers(t, s, e);
	if (!err) /* taking it re-arms [s, e) */
		err = ww__rearm_check(t, s, e);
	if (!err && snap->cow && t->ops->prewrite_check) {
		char why[200] = "";

		err = t->ops->prewrite_check(t->priv, s, e, why, sizeof(why));
		if (err && why[0])
			ww__info("snapshot: %s", why);
	}
	if (!err && snap->cow) {
		int perr;

		t_pre = ww__now_ns();
		err = cow_prearm(t, s, e, passes, sizeof(passes));
		t_held = ww__now_ns();
		/* in the hooks' list before arming: writes into the range are
		 * held from here until the instant below (no longer slowed) */
		if (!err)
			snap_link(t, snap);
		perr = cow_publish(t);
		if (perr && snap->t) {
			snap_unlink(snap);
			cow_publish(t); /* as it was, but not slowed: no allocation */
		}
		if (!err)
			err = perr;
	}
	/* From here on what the mechanism reports was written after the
	 * take; what it held before stays the caller's, in t->pending. */
	if (!err)
		err = ww__rearm(t, s, e, WW__KEEP, NULL);
	if (snap->t) { /* COW, listed */
		/* its own arming is no change after the take */
		memset((void *)snap->changed, 0, bitmap_bytes(snap));
		atomic_store(&snap->arming, false); /* the instant: writes go on */
		ww__dbg("snapshot: COW take of %zu pages: pre-arming passes found%s runs "
			"in %.3f ms; writes held %.1f us",
			snap->npages, passes, (double)(t_held - t_pre) / 1e6,
			(double)(ww__now_ns() - t_held) / 1e3);
		if (t->ops->prewrite_kick)
			t->ops->prewrite_kick(t->priv); /* held ones now, not later */
		if (err) {
			snap_unlink(snap);
			cow_publish(t); /* removing never allocates */
		}
	} else if (!err) {
		snap_link(t, snap);
	}
	if (!err)
		pre_fill(snap);
	pthread_mutex_unlock(&t->lock);
	if (err) {
		snap_destroy(snap);
		return (int)ww__ret(err);
	}
	for (size_t i = 0; !snap->cow && i < snap->npages; i++) {
		const unsigned char *p = (const unsigned char *)(s + i * ps);

		if (!page_is_zero(p, ps))
			memcpy(snap->copy + i * ps, p, ps);
	}
	*out = snap;
	return 0;
}

/* A discard the caller made before now must be seen: its event may still
 * be on its way to the hook, or (mprotect) it is found only by looking.
 * (Once the tracker is closed every page is saved or lost.) */
static void cow_sync(struct ww_snapshot *s, uintptr_t a, uintptr_t b)
{
	struct ww_tracker *t = s->t;

	if (t && t->ops->prewrite_sync) {
		pthread_mutex_lock(&t->lock);
		t->ops->prewrite_sync(t->priv, a, b);
		pthread_mutex_unlock(&t->lock);
	}
}

/*
 * A COW snapshot's content: the copy for a page saved, else the page itself,
 * which no write has changed since the instant. A writer may trap on the
 * page while it is read here: the hook saves the page before the write can
 * land, so if saved is set after the read, the copy is taken instead. A
 * page discarded while it is read may have been read as its zeros: so
 * after the reads the discards are looked for again, and a page read from
 * memory that is lost by then is ENODATA (the hook marks it before the
 * kernel zaps it; mprotect finds the zero page the read mapped).
 */
static ssize_t cow_read(struct ww_snapshot *s, uintptr_t a, size_t len, void *buf)
{
	size_t ps = ww__page_size();
	unsigned char *out = buf;
	bool asked = false, all_readable = false, live = false;

	if (s->owner != getpid())
		return ww__ret(-ECHILD); /* the pages here are the child's */
	cow_sync(s, a, a + len);
	for (uintptr_t p = a; p < a + len;) {
		uintptr_t pe = (p & ~(uintptr_t)(ps - 1)) + ps;
		size_t i = (p - s->start) / ps, n = (pe < a + len ? pe : a + len) - p;

		if (bit_test(s->lost, i))
			return ww__ret(-ENODATA);
		/* the page itself, unless the application made it unreadable
		 * since the take: asked once for the rest of the read, then
		 * page by page if that is not all readable */
		if (!bit_test(s->saved, i) && !all_readable) {
			uintptr_t pg = p & ~(uintptr_t)(ps - 1);

			if (!asked) {
				asked = true;
				all_readable = !ww__range_prot(
					pg, (a + len + ps - 1) & ~(uintptr_t)(ps - 1), PROT_READ);
			}
			int r = all_readable ? 0 : ww__range_prot(pg, pe, PROT_READ);

			/* unmapped before its copy: lost (ENODATA) */
			if (r && !bit_test(s->saved, i))
				return ww__ret(r == -EFAULT ? -ENODATA : r);
		}
		if (bit_test(s->saved, i)) {
			memcpy(out, s->copy + (p - s->start), n);
		} else {
			memcpy(out, (const void *)p, n);
			live = true;
		}
		out += n;
		p += n;
	}
	if (!live)
		return (ssize_t)len;
	atomic_thread_fence(memory_order_acquire);
	cow_sync(s, a, a + len);
	/* pages read from memory: copied meanwhile (the copy is what the
	 * take held), or lost meanwhile (what was read may be zeros) */
	out = buf;
	for (uintptr_t p = a; p < a + len;) {
		uintptr_t pe = (p & ~(uintptr_t)(ps - 1)) + ps;
		size_t i = (p - s->start) / ps, n = (pe < a + len ? pe : a + len) - p;

		if (bit_test(s->saved, i))
			memcpy(out, s->copy + (p - s->start), n);
		else if (bit_test(s->lost, i))
			return ww__ret(-ENODATA);
		out += n;
		p += n;
	}
	return (ssize_t)len;
}

WW_API ssize_t ww_snapshot_read(struct ww_snapshot *s, void *addr, size_t len, void *buf)
{
	uintptr_t a = (uintptr_t)addr;

	if (!s || !buf || !len || a > UINTPTR_MAX - len)
		return ww__ret(-EINVAL);
	if (a < s->start || a + len > s->end)
		return ww__ret(-ENOENT);
	if (s->cow)
		return cow_read(s, a, len, buf);
	memcpy(buf, s->copy + (a - s->start), len);
	return (ssize_t)len;
}

WW_API ssize_t ww_snapshot_restore(struct ww_snapshot *s)
{
	size_t ps = ww__page_size(), words, i, j, n = 0;
	struct ww__runs found = { 0 };
	struct ww_tracker *t;
	_Atomic uint64_t *todo;
	bool rearmed;
	int err;

	if (!s)
		return ww__ret(-EINVAL);
	t = s->t;
	if (!t)
		return ww__ret(-EBADF);
	err = ww__tracker_usable(t);
	if (err)
		return ww__ret(err);
	words = (s->npages + WW_WORD_BITS - 1) / WW_WORD_BITS;
	todo = malloc(words * sizeof(*todo));
	if (!todo)
		return ww__ret(-ENOMEM);

	/* 1. everything changed since the take (or the last restore) */
	pthread_mutex_lock(&t->lock);
	err = s->broken ? -ENOENT : ww__tracker_covers(t, s->start, s->end);
	if (!err) {
		err = ww__rearm(t, s->start, s->end, 0, &found);
		/* no restore: what was re-armed stays the caller's */
		if (err && ww__pending_add_all(t, &found))
			ww__err("snapshot restore: out of memory, writes may go unreported");
	}
	rearmed = !err;
	for (i = 0; !err && i < words; i++) {
		uint64_t w = atomic_load_explicit(&s->changed[i], memory_order_relaxed);

		/* COW: what changed was copied first, unless dropped before */
		if (s->cow && (w & atomic_load(&s->lost[i])))
			err = -ENODATA;
		if (s->cow)
			w &= atomic_load(&s->saved[i]);
		atomic_init(&todo[i], w);
	}
	/* what is put back must be writable: memory the application made
	 * read-only (or unreadable) since is refused, nothing written. A
	 * mechanism that works through page protection (mprotect) keeps
	 * re-armed pages read-only itself: the mappings do not tell the
	 * application's protection there (ww_snapshot_restore(3)). */
	for (i = err || (t->ops->caps & WW_CAP_PROTECTS) ? s->npages :
							   ww__bit_next(todo, 0, s->npages, true);
	     i < s->npages; i = ww__bit_next(todo, j, s->npages, true)) {
		j = ww__bit_next(todo, i, s->npages, false);
		err = ww__range_prot(s->start + i * ps, s->start + j * ps, PROT_WRITE);
		if (err) {
			/* any failure refuses: the copy back would fault */
			ww__info("snapshot restore: %#lx-%#lx changed and %s",
				 (unsigned long)(s->start + i * ps),
				 (unsigned long)(s->start + j * ps),
				 err == -EACCES ? "is not writable now" :
				 err == -EFAULT ? "is no longer mapped in full" :
						  "its mappings could not be read");
			break;
		}
	}
	if (err && rearmed && ww__pending_add_all(t, &found))
		ww__err("snapshot restore: out of memory, writes may go unreported");
	pthread_mutex_unlock(&t->lock);
	free(found.r);
	if (err) {
		free(todo);
		return ww__ret(err);
	}

	/* 2. put it back, outside the lock (see the file comment) */
	for (i = ww__bit_next(todo, 0, s->npages, true); i < s->npages;
	     i = ww__bit_next(todo, j, s->npages, true)) {
		j = ww__bit_next(todo, i, s->npages, false);
		memcpy((void *)(s->start + i * ps), s->copy + i * ps, (j - i) * ps);
		n += j - i;
	}

	/* 3. the pages restored equal the snapshot again: clean for it; for
	 * the caller clean too, unless it re-armed them after their write
	 * (then their content went back past its reset: pending); changed
	 * for every other snapshot over them */
	pthread_mutex_lock(&t->lock);
	for (i = ww__bit_next(todo, 0, s->npages, true); !err && i < s->npages;
	     i = ww__bit_next(todo, j, s->npages, true)) {
		uintptr_t a = s->start + i * ps;

		j = ww__bit_next(todo, i, s->npages, false);
		ww__snaps_mark(t, a, a + (j - i) * ps, s, 0);
		/* pending first: if that fails the mechanism still has them */
		for (size_t k = ww__bit_next(s->rearmed, i, j, true), l; !err && k < j;
		     k = ww__bit_next(s->rearmed, l, j, true)) {
			l = ww__bit_next(s->rearmed, k, j, false);
			err = ww__pending_add(t, s->start + k * ps, s->start + l * ps);
		}
		/* kept by a collect, never handed out, back to what the caller
		 * saw: no longer pending (without memory to split a run they
		 * stay, reported once more than needed) */
		for (size_t k = i; !err && t->pending.n && k < j; k++) {
			uint64_t bit = 1ULL << (k % WW_WORD_BITS);

			if (!(s->pre[k / WW_WORD_BITS] & bit) &&
			    !(atomic_load(&s->rearmed[k / WW_WORD_BITS]) & bit))
				ww__runs_remove(&t->pending, s->start + k * ps,
						s->start + (k + 1) * ps);
		}
		if (!err)
			err = ww__rearm_quiet(t, a, a + (j - i) * ps);
	}
	for (i = 0; !err && i < words; i++) {
		atomic_fetch_and_explicit(&s->changed[i],
					  ~atomic_load_explicit(&todo[i], memory_order_relaxed),
					  memory_order_relaxed);
		atomic_store_explicit(&s->rearmed[i], 0, memory_order_relaxed);
		/* COW: the page holds the instant's content again and is
		 * re-armed: its next write copies it anew */
		if (s->cow)
			atomic_fetch_and(&s->saved[i], ~atomic_load(&todo[i]));
	}
	if (!err)
		pre_fill(s); /* the new baseline */
	pthread_mutex_unlock(&t->lock);
	free(todo);
	return err ? ww__ret(err) : (ssize_t)n;
}

WW_API void ww_snapshot_free(struct ww_snapshot *s)
{
	struct ww_tracker *t;

	if (!s)
		return;
	t = s->t;
	if (t && ww__tracker_usable(t)) {
		snap_unlink(s); /* a forked child's copy: its lock may be held */
	} else if (t) {
		pthread_mutex_lock(&t->lock);
		snap_unlink(s);
		if (s->cow)
			cow_publish(t); /* out of the hooks' list: never allocates */
		pthread_mutex_unlock(&t->lock);
	}
	snap_destroy(s);
}
