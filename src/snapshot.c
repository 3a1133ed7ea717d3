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
 * The copy is made at take, outside the tracker's lock: reading memory may
 * fault into a mechanism's handler (uffd-wp registers missing faults on
 * kernels before 6.4), which takes the lock. Pages that read all zero are
 * not stored (the copy is a MAP_NORESERVE mapping that reads zero there).
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

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

static void snap_destroy(struct ww_snapshot *s)
{
	if (s->copy)
		munmap(s->copy, s->npages * ww__page_size());
	free(s->changed);
	free(s->rearmed);
	free(s);
}

static void snap_unlink(struct ww_snapshot *s)
{
	for (struct ww_snapshot **pp = &s->t->snaps; *pp; pp = &(*pp)->next)
		if (*pp == s) {
			*pp = s->next;
			break;
		}
}

WW_API int ww_snapshot_take(struct ww_tracker *t, void *addr, size_t len, unsigned int flags,
			    struct ww_snapshot **out)
{
	size_t ps = ww__page_size(), words;
	uintptr_t a = (uintptr_t)addr, s, e;
	struct ww_snapshot *snap;
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
	if (flags & WW_SNAP_COW) {
		ww__info("snapshot: copy-before-write (WW_SNAP_COW) is not implemented yet");
		return (int)ww__ret(-EOPNOTSUPP);
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
	snap->copy = mmap(NULL, e - s, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (snap->copy == MAP_FAILED)
		snap->copy = NULL;
	if (!snap->changed || !snap->rearmed || !snap->copy) {
		snap_destroy(snap);
		return (int)ww__ret(-ENOMEM);
	}

	pthread_mutex_lock(&t->lock);
	err = ww__tracker_covers(t, s, e);
	/* From here on what the mechanism reports was written after the
	 * take; what it held before stays the caller's, in t->pending. */
	if (!err)
		err = ww__rearm(t, s, e, WW__KEEP, NULL);
	if (!err) {
		snap->t = t;
		snap->next = t->snaps;
		t->snaps = snap;
	}
	pthread_mutex_unlock(&t->lock);
	if (err) {
		snap_destroy(snap);
		return (int)ww__ret(err);
	}
	for (size_t i = 0; i < snap->npages; i++) {
		const unsigned char *p = (const unsigned char *)(s + i * ps);

		if (!page_is_zero(p, ps))
			memcpy(snap->copy + i * ps, p, ps);
	}
	*out = snap;
	return 0;
}

WW_API ssize_t ww_snapshot_read(struct ww_snapshot *s, void *addr, size_t len, void *buf)
{
	uintptr_t a = (uintptr_t)addr;

	if (!s || !buf || !len || a > UINTPTR_MAX - len)
		return ww__ret(-EINVAL);
	if (a < s->start || a + len > s->end)
		return ww__ret(-ENOENT);
	memcpy(buf, s->copy + (a - s->start), len);
	return (ssize_t)len;
}

WW_API ssize_t ww_snapshot_restore(struct ww_snapshot *s)
{
	size_t ps = ww__page_size(), words, i, j, n = 0;
	struct ww__runs found = { 0 };
	struct ww_tracker *t;
	_Atomic uint64_t *todo;
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
	if (!err)
		for (i = 0; i < words; i++)
			atomic_init(&todo[i],
				    atomic_load_explicit(&s->changed[i], memory_order_relaxed));
	pthread_mutex_unlock(&t->lock);
	free(found.r);
	if (err) {
		free(todo);
		return ww__ret(err);
	}

	/* 2. put it back, outside the lock (a write may fault into a
	 * mechanism's handler, which takes it) */
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
		if (!err)
			err = ww__rearm_quiet(t, a, a + (j - i) * ps);
	}
	for (i = 0; !err && i < words; i++) {
		atomic_fetch_and_explicit(&s->changed[i],
					  ~atomic_load_explicit(&todo[i], memory_order_relaxed),
					  memory_order_relaxed);
		atomic_store_explicit(&s->rearmed[i], 0, memory_order_relaxed);
	}
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
		pthread_mutex_unlock(&t->lock);
	}
	snap_destroy(s);
}
