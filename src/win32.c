/* SPDX-License-Identifier: MIT */
/*
 * The Win32 write-watch layer: VirtualAlloc/VirtualFree/VirtualProtect with
 * MEM_WRITE_WATCH, GetWriteWatch and ResetWriteWatch, with Windows semantics,
 * built only on the public tracker API. One process-wide registry of the
 * allocations made here (base, size, per-page protection, 0 = reserved) sits
 * under one mutex, and one shared tracker (AUTO, so WRITEWATCH_BACKEND picks
 * the mechanism) tracks every write-watch allocation from reservation to
 * release, reserved parts included.
 *
 * Protection changes (commit, VirtualProtect) are made in place where the
 * mechanism keeps its state through mprotect (userfaultfd). Where it owns
 * page protections (mprotect), and for decommit (a fresh mapping has no
 * tracking state), the changed range is untracked, changed and tracked
 * again. The dirty state that must survive that (Windows keeps a page
 * written before VirtualProtect dirty) is first copied into a
 * per-allocation "pending" bitmap; GetWriteWatch reports
 * the union of pending bits and the tracker's written pages, and with RESET
 * clears exactly the pages it returns. Pages the tracker re-armed beyond the
 * caller's capacity go back into the pending bitmap, so no write is lost.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "internal.h"
#include "writewatch.h"
#include "writewatch/win32.h"

#define WORD_BITS 64
#define RUNS 256 /* runs per ww_collect call from the stack buffer */
#define RUNS_MAX 65536 /* runs per call from the shared buffer: 1 MiB */

struct alloc {
	uintptr_t base, end;
	bool watch; /* MEM_WRITE_WATCH: tracked by the shared tracker */
	uint8_t *prot; /* per page: WW_PAGE_* when committed, 0 reserved */
	uint64_t *pending; /* per page: written, not known to the tracker */
};

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct alloc **allocs; /* sorted by base, disjoint */
static size_t nallocs, cap_allocs;
static struct ww_tracker *tracker;
static size_t ps;
/* Run buffer for ww_collect, under reg_lock. Some mechanisms pay per call
 * (mprotect re-reads /proc/self/maps), so one call should take all runs. */
static struct iovec *runs_buf;
static size_t runs_cap;
static _Thread_local uint32_t last_error;

static void set_error(uint32_t e)
{
	last_error = e;
}

WW_API uint32_t ww_GetLastError(void)
{
	return last_error;
}

static uint32_t error_of(int err)
{
	switch (err) {
	case -ENOMEM:
		return WW_ERROR_NOT_ENOUGH_MEMORY;
	case -EOPNOTSUPP:
	case -ENOSYS:
	case -EPERM:
	case -EACCES:
		return WW_ERROR_NOT_SUPPORTED;
	case -EINVAL:
		return WW_ERROR_INVALID_PARAMETER;
	default:
		return WW_ERROR_GEN_FAILURE;
	}
}

static void page_size_init(void)
{
	if (!ps)
		ps = (size_t)sysconf(_SC_PAGESIZE);
}

/* Page-rounded span of [addr, addr+size): false on overflow. */
static bool span_of(const void *addr, size_t size, uintptr_t *s, uintptr_t *e)
{
	uintptr_t a = (uintptr_t)addr, m = ps - 1;

	if (a > UINTPTR_MAX - size || a + size > UINTPTR_MAX - m)
		return false;
	*s = a & ~m;
	*e = (a + size + m) & ~m;
	return true;
}

/* POSIX protection for a Windows one, or -1 when unsupported. */
static int prot_of(uint32_t p)
{
	switch (p) {
	case WW_PAGE_NOACCESS:
		return PROT_NONE;
	case WW_PAGE_READONLY:
		return PROT_READ;
	case WW_PAGE_READWRITE:
		return PROT_READ | PROT_WRITE;
	case WW_PAGE_EXECUTE:
		return PROT_EXEC;
	case WW_PAGE_EXECUTE_READ:
		return PROT_READ | PROT_EXEC;
	case WW_PAGE_EXECUTE_READWRITE:
		return PROT_READ | PROT_WRITE | PROT_EXEC;
	default:
		return -1;
	}
}

/* Index of the first allocation whose end is above a (nallocs if none). */
static size_t reg_search(uintptr_t a)
{
	size_t lo = 0, hi = nallocs;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (allocs[mid]->end <= a)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* The allocation holding all of [s, e), or NULL. */
static struct alloc *reg_find(uintptr_t s, uintptr_t e)
{
	size_t i = reg_search(s);

	if (i < nallocs && allocs[i]->base <= s && e <= allocs[i]->end && s < e)
		return allocs[i];
	return NULL;
}

static size_t page_idx(const struct alloc *a, uintptr_t p)
{
	return (p - a->base) / ps;
}

static void pending_set(struct alloc *a, size_t i)
{
	a->pending[i / WORD_BITS] |= 1ULL << (i % WORD_BITS);
}

static void pending_clear(struct alloc *a, size_t i)
{
	a->pending[i / WORD_BITS] &= ~(1ULL << (i % WORD_BITS));
}

static void pending_clear_range(struct alloc *a, size_t i, size_t n)
{
	for (; i < n; i++)
		pending_clear(a, i);
}

/* First pending page index in [i, n), or n. */
static size_t pending_next(const struct alloc *a, size_t i, size_t n)
{
	while (i < n) {
		uint64_t w = a->pending[i / WORD_BITS] & (~0ULL << (i % WORD_BITS));

		if (w) {
			i = i - i % WORD_BITS + (size_t)__builtin_ctzll(w);
			return i < n ? i : n;
		}
		i = i - i % WORD_BITS + WORD_BITS;
	}
	return n;
}

static void alloc_free(struct alloc *a)
{
	if (!a)
		return;
	free(a->prot);
	free(a->pending);
	free(a);
}

/*
 * A run buffer for a range of pages (at most one run per two pages) of at
 * most want runs: the shared one, grown if it can be, else the caller's
 * stack buffer of RUNS. Caller holds reg_lock.
 */
static struct iovec *runs_get(size_t pages, size_t want, struct iovec *stack, size_t *max)
{
	size_t n = pages / 2 + 1;

	n = n < want ? n : want;
	n = n < RUNS_MAX ? n : RUNS_MAX;
	if (n <= RUNS) {
		*max = n;
		return stack;
	}
	if (n > runs_cap) {
		struct iovec *b = realloc(runs_buf, n * sizeof(*b));

		if (b) {
			runs_buf = b;
			runs_cap = n;
		}
	}
	if (runs_cap < RUNS) {
		*max = RUNS < n ? RUNS : n;
		return stack;
	}
	*max = runs_cap < n ? runs_cap : n;
	return runs_buf;
}

/*
 * fork: the registry is taken across fork(2) (so the child's copy is never
 * caught mid-change) and the child notes that it was forked. Its copy of the
 * shared tracker is inert until re-opened; the first call of this layer in
 * the child re-opens it (ww_reopen) and, since which pages the parent wrote
 * since its last reset is not known here, marks every committed page of
 * every watched allocation written: one conservative report, no lost write.
 * The handlers are registered only once the tracker is open, after the
 * library's own (atfork prepare handlers run in reverse order, so this lock
 * is taken before any lock a call holding it may wait for).
 */
static pthread_once_t fork_once = PTHREAD_ONCE_INIT;
static bool forked;

static void fork_prepare(void)
{
	pthread_mutex_lock(&reg_lock);
}

static void fork_parent(void)
{
	pthread_mutex_unlock(&reg_lock);
}

static void fork_child(void)
{
	forked = true;
	pthread_mutex_unlock(&reg_lock);
}

static void fork_register(void)
{
	pthread_atfork(fork_prepare, fork_parent, fork_child);
}

/* The shared tracker, opened on first need. Caller holds reg_lock. */
static int tracker_get(void)
{
	int err;

	if (tracker)
		return 0;
	err = ww_open(NULL, &tracker);
	if (!err)
		pthread_once(&fork_once, fork_register);
	return err;
}

/* In a forked child: re-open the inherited tracker, all committed watched
 * pages written once. Caller holds reg_lock. On failure the next call tries
 * again (meanwhile the tracker's calls fail). */
static void adopt_after_fork(void)
{
	int err;

	if (!tracker) {
		forked = false;
		return;
	}
	err = ww_reopen(tracker);
	if (err && err != -EALREADY)
		return;
	for (size_t i = 0; i < nallocs; i++) {
		struct alloc *a = allocs[i];

		for (size_t p = 0; a->watch && p < (a->end - a->base) / ps; p++)
			if (a->prot[p])
				pending_set(a, p);
	}
	forked = false;
}

static void reg_lock_take(void)
{
	pthread_mutex_lock(&reg_lock);
	if (forked)
		adopt_after_fork();
}

/*
 * Copy the tracker's written pages of [s, e) into the pending bitmap, so
 * that untracking the range keeps them. Caller holds reg_lock.
 */
static int preserve(struct alloc *a, uintptr_t s, uintptr_t e)
{
	struct iovec stack[RUNS], *runs;
	uintptr_t pos = s;

	while (pos < e) {
		void *next;
		size_t max;
		ssize_t got;

		runs = runs_get((e - pos) / ps, SIZE_MAX, stack, &max);
		got = ww_collect(tracker, (void *)pos, e - pos, 0, runs, max, &next);

		if (got < 0)
			return (int)got;
		for (ssize_t r = 0; r < got; r++) {
			uintptr_t p = (uintptr_t)runs[r].iov_base;
			uintptr_t pe = p + runs[r].iov_len;

			for (; p < pe; p += ps)
				pending_set(a, page_idx(a, p));
		}
		pos = (uintptr_t)next;
	}
	return 0;
}

/*
 * Whether a protection change can be made under the tracker's feet: where
 * the mechanism does not own page protections (no WW_CAP_PROTECTS) and
 * promises that no write after a reset goes unseen (WW_CAP_NO_MISSED_WRITES).
 * Those keep their per-page arming through mprotect (the userfaultfd
 * mechanisms: the kernel never makes a uffd-wp page writable), and a page
 * committed from PROT_NONE is a hole that reads written only once written,
 * so the change needs no re-tracking and leaves no window in which a write
 * to the changed pages could go unseen. A mechanism that owns protections
 * (read at track time, restored at reset), or that may miss writes anyway
 * (soft-dirty), gets the range re-tracked instead.
 */
static bool change_in_place(void)
{
	unsigned int caps = ww_tracker_caps(tracker);

	return !(caps & WW_CAP_PROTECTS) && (caps & WW_CAP_NO_MISSED_WRITES);
}

/*
 * Change [s, e) of a (page-aligned, inside a) to Windows protection wp, or
 * replace it by fresh reserved memory when decommit. Unless the mechanism
 * allows a change in place, tracking is taken off the range for the change
 * and put back after, so the mechanism sees the new protections and starts
 * clean; dirty state is kept in pending (or dropped, for decommit, which
 * always re-tracks: the new mapping has no tracking state at all). Caller
 * holds reg_lock.
 */
static uint32_t change(struct alloc *a, uintptr_t s, uintptr_t e, uint32_t wp, bool decommit)
{
	int err = 0, terr;
	size_t i = page_idx(a, s), n = page_idx(a, e);

	if (a->watch && !decommit && change_in_place()) {
		if (mprotect((void *)s, e - s, prot_of(wp)))
			return error_of(-errno);
		memset(a->prot + i, (int)wp, n - i);
		return 0;
	}
	if (a->watch) {
		err = decommit ? 0 : preserve(a, s, e);
		if (!err)
			err = ww_untrack(tracker, (void *)s, e - s);
		if (err)
			return error_of(err);
	}
	if (decommit) {
		if (mmap((void *)s, e - s, PROT_NONE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1,
			 0) == MAP_FAILED)
			err = -errno;
	} else if (mprotect((void *)s, e - s, prot_of(wp))) {
		err = -errno;
	}
	if (!err) {
		memset(a->prot + i, decommit ? 0 : (int)wp, n - i);
		if (decommit && a->watch)
			pending_clear_range(a, i, n);
	}
	if (a->watch) {
		terr = ww_track(tracker, (void *)s, e - s);
		if (terr) {
			/* The range is no longer watched: GetWriteWatch over
			 * it now fails instead of reporting it clean. */
			ww__warn("win32: re-tracking %#lx-%#lx failed: %s", (unsigned long)s,
				 (unsigned long)e, strerror(-terr));
			err = err ? err : terr;
		}
	}
	return err ? error_of(err) : 0;
}

static int reg_insert(struct alloc *a)
{
	size_t at = reg_search(a->base);

	if (nallocs == cap_allocs) {
		size_t cap = cap_allocs ? cap_allocs * 2 : 16;
		struct alloc **n = realloc(allocs, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		allocs = n;
		cap_allocs = cap;
	}
	memmove(&allocs[at + 1], &allocs[at], (nallocs - at) * sizeof(*allocs));
	allocs[at] = a;
	nallocs++;
	return 0;
}

static void reg_remove(struct alloc *a)
{
	size_t at = reg_search(a->base);

	memmove(&allocs[at], &allocs[at + 1], (nallocs - at - 1) * sizeof(*allocs));
	nallocs--;
}

/* A new reservation (committed too when commit) at hint or anywhere. Caller
 * holds reg_lock. */
static void *reserve(void *hint, size_t size, uint32_t type, uint32_t wp)
{
	bool commit = type & WW_MEM_COMMIT, watch = type & WW_MEM_WRITE_WATCH;
	uintptr_t s = 0, e = 0;
	struct alloc *a;
	int flags = MAP_PRIVATE | MAP_ANONYMOUS, err;
	void *m;

	if (hint) {
		if (!span_of(hint, size, &s, &e)) {
			set_error(WW_ERROR_INVALID_ADDRESS);
			return NULL;
		}
		flags |= MAP_FIXED_NOREPLACE;
	} else if (!span_of(NULL, size, &s, &e)) {
		set_error(WW_ERROR_NOT_ENOUGH_MEMORY);
		return NULL;
	}
	if (watch) {
		err = tracker_get();
		if (err) {
			set_error(error_of(err));
			return NULL;
		}
	}
	a = calloc(1, sizeof(*a));
	if (a)
		a->prot = calloc((e - s) / ps, 1);
	if (a && watch)
		a->pending = calloc(((e - s) / ps + WORD_BITS - 1) / WORD_BITS, sizeof(uint64_t));
	if (!a || !a->prot || (watch && !a->pending)) {
		alloc_free(a);
		set_error(WW_ERROR_NOT_ENOUGH_MEMORY);
		return NULL;
	}
	if (!commit)
		flags |= MAP_NORESERVE;
	m = mmap((void *)s, e - s, commit ? prot_of(wp) : PROT_NONE, flags, -1, 0);
	if (m == MAP_FAILED || (hint && (uintptr_t)m != s)) {
		err = -errno;
		if (m != MAP_FAILED)
			munmap(m, e - s); /* an old kernel ignored NOREPLACE */
		alloc_free(a);
		set_error(hint ? WW_ERROR_INVALID_ADDRESS : error_of(err));
		return NULL;
	}
	a->base = (uintptr_t)m;
	a->end = a->base + (e - s);
	a->watch = watch;
	if (commit)
		memset(a->prot, (int)wp, (e - s) / ps);
	err = watch ? ww_track(tracker, m, e - s) : 0;
	if (!err)
		err = reg_insert(a);
	if (err) {
		if (watch)
			ww_untrack(tracker, m, e - s);
		munmap(m, e - s);
		alloc_free(a);
		set_error(error_of(err));
		return NULL;
	}
	return m;
}

WW_API void *ww_VirtualAlloc(void *addr, size_t size, uint32_t type, uint32_t protect)
{
	uintptr_t s, e;
	struct alloc *a;
	uint32_t err;
	void *r;

	page_size_init();
	if (!size || (type & ~(WW_MEM_COMMIT | WW_MEM_RESERVE | WW_MEM_WRITE_WATCH)) ||
	    !(type & (WW_MEM_COMMIT | WW_MEM_RESERVE)) ||
	    ((type & WW_MEM_WRITE_WATCH) && !(type & WW_MEM_RESERVE)) || prot_of(protect) < 0) {
		set_error(WW_ERROR_INVALID_PARAMETER);
		return NULL;
	}
	reg_lock_take();
	if ((type & WW_MEM_RESERVE) || !addr) {
		r = reserve(addr, size, type, protect);
		goto out;
	}
	/* Commit inside an existing reservation. */
	r = NULL;
	if (!span_of(addr, size, &s, &e) || !(a = reg_find(s, e))) {
		set_error(WW_ERROR_INVALID_ADDRESS);
		goto out;
	}
	err = change(a, s, e, protect, false);
	if (err)
		set_error(err);
	else
		r = (void *)s;
out:
	pthread_mutex_unlock(&reg_lock);
	return r;
}

WW_API int ww_VirtualFree(void *addr, size_t size, uint32_t type)
{
	uintptr_t s, e;
	struct alloc *a;
	uint32_t err = 0;

	page_size_init();
	if (type != WW_MEM_RELEASE && type != WW_MEM_DECOMMIT) {
		set_error(WW_ERROR_INVALID_PARAMETER);
		return 0;
	}
	if (type == WW_MEM_RELEASE && size) {
		set_error(WW_ERROR_INVALID_PARAMETER);
		return 0;
	}
	reg_lock_take();
	a = span_of(addr, size ? size : 1, &s, &e) ? reg_find(s, e) : NULL;
	if (!a || (type == WW_MEM_RELEASE && (uintptr_t)addr != a->base)) {
		err = WW_ERROR_INVALID_ADDRESS;
	} else if (type == WW_MEM_RELEASE) {
		if (a->watch)
			ww_untrack(tracker, (void *)a->base, a->end - a->base);
		munmap((void *)a->base, a->end - a->base);
		reg_remove(a);
		alloc_free(a);
	} else {
		/* size 0: from addr to the end of the allocation */
		err = change(a, s, size ? e : a->end, 0, true);
	}
	pthread_mutex_unlock(&reg_lock);
	if (err)
		set_error(err);
	return !err;
}

WW_API int ww_VirtualProtect(void *addr, size_t size, uint32_t newprot, uint32_t *oldprot)
{
	uintptr_t s, e;
	struct alloc *a;
	uint32_t err = 0;

	page_size_init();
	if (!size || prot_of(newprot) < 0) {
		set_error(WW_ERROR_INVALID_PARAMETER);
		return 0;
	}
	if (!oldprot) {
		set_error(WW_ERROR_NOACCESS);
		return 0;
	}
	reg_lock_take();
	a = span_of(addr, size, &s, &e) ? reg_find(s, e) : NULL;
	if (!a || memchr(a->prot + page_idx(a, s), 0, page_idx(a, e) - page_idx(a, s))) {
		err = WW_ERROR_INVALID_ADDRESS; /* unknown memory or not committed */
	} else {
		uint32_t old = a->prot[page_idx(a, s)];

		err = change(a, s, e, newprot, false);
		if (!err)
			*oldprot = old;
	}
	pthread_mutex_unlock(&reg_lock);
	if (err)
		set_error(err);
	return !err;
}

/* The watched allocation holding all of [base, base+size), or NULL. */
static struct alloc *watched(void *base, size_t size, uintptr_t *s, uintptr_t *e)
{
	struct alloc *a;

	if (!base || !span_of(base, size, s, e))
		return NULL;
	a = reg_find(*s, *e);
	return a && a->watch ? a : NULL;
}

/*
 * Walk the written pages of [pos, cend): tracker runs[0..got) merged with
 * pending bits, ascending. Store up to cap - *n addresses; with reset, clear
 * the pending bit of each page returned and put each page the tracker
 * re-armed but that did not fit back into pending.
 */
static void merge(struct alloc *a, uintptr_t pos, uintptr_t cend, const struct iovec *runs,
		  size_t got, bool reset, void **addrs, uintptr_t cap, uintptr_t *n)
{
	size_t r = 0, end = page_idx(a, cend);
	uintptr_t p = pos;

	while (p < cend) {
		uintptr_t rp = cend, q;
		bool from_run;

		while (r < got && (uintptr_t)runs[r].iov_base + runs[r].iov_len <= p)
			r++;
		if (r < got)
			rp = (uintptr_t)runs[r].iov_base > p ? (uintptr_t)runs[r].iov_base : p;
		q = a->base +
		    pending_next(a, page_idx(a, p), rp < cend ? page_idx(a, rp) : end) * ps;
		from_run = q >= rp;
		if (from_run)
			q = rp;
		if (q >= cend)
			break;
		if (*n < cap) {
			addrs[(*n)++] = (void *)q;
			if (reset)
				pending_clear(a, page_idx(a, q));
		} else if (!reset) {
			break;
		} else if (from_run) {
			pending_set(a, page_idx(a, q)); /* re-armed, not reported */
		} else {
			/* only pending pages are left before the next run */
			p = rp;
			continue;
		}
		p = q + ps;
	}
}

WW_API uint32_t ww_GetWriteWatch(uint32_t flags, void *base, size_t size, void **addresses,
				 uintptr_t *count, uint32_t *granularity)
{
	struct iovec stack[RUNS], *runs;
	uintptr_t s, e, pos, cap, n = 0;
	struct alloc *a;
	bool reset = flags & WW_WRITE_WATCH_FLAG_RESET;
	int err = 0;

	page_size_init();
	if (!count || !granularity) {
		set_error(WW_ERROR_NOACCESS);
		return ~0u;
	}
	if (!*count || !size || (flags & ~WW_WRITE_WATCH_FLAG_RESET)) {
		set_error(WW_ERROR_INVALID_PARAMETER);
		return ~0u;
	}
	if (!addresses) {
		set_error(WW_ERROR_NOACCESS);
		return ~0u;
	}
	cap = *count;
	reg_lock_take();
	a = watched(base, size, &s, &e);
	if (!a) {
		pthread_mutex_unlock(&reg_lock);
		set_error(WW_ERROR_INVALID_PARAMETER);
		return ~0u;
	}
	/*
	 * At most cap - n runs per call: they hold at least that many pages,
	 * so the tracker never re-arms much more than fits, and every page it
	 * does re-arm is either returned or kept in pending.
	 */
	for (pos = s; n < cap && pos < e;) {
		size_t max;
		void *next;
		ssize_t got;

		runs = runs_get((e - pos) / ps, cap - n > SIZE_MAX ? SIZE_MAX : (size_t)(cap - n),
				stack, &max);
		got = ww_collect(tracker, (void *)pos, e - pos, reset ? WW_RESET : 0, runs, max,
				 &next);

		if (got < 0) {
			err = (int)got;
			break;
		}
		merge(a, pos, (uintptr_t)next, runs, (size_t)got, reset, addresses, cap, &n);
		pos = (uintptr_t)next;
	}
	if (err && reset) {
		/* Pages returned so far were reset: keep them for next time. */
		for (uintptr_t i = 0; i < n; i++)
			pending_set(a, page_idx(a, (uintptr_t)addresses[i]));
	}
	pthread_mutex_unlock(&reg_lock);
	if (err) {
		set_error(error_of(err));
		return ~0u;
	}
	*count = n;
	*granularity = (uint32_t)ps;
	return 0;
}

WW_API uint32_t ww_ResetWriteWatch(void *base, size_t size)
{
	uintptr_t s, e;
	struct alloc *a;
	int err;

	page_size_init();
	if (!size) {
		set_error(WW_ERROR_INVALID_PARAMETER);
		return ~0u;
	}
	reg_lock_take();
	a = watched(base, size, &s, &e);
	if (!a) {
		pthread_mutex_unlock(&reg_lock);
		set_error(WW_ERROR_INVALID_PARAMETER);
		return ~0u;
	}
	pending_clear_range(a, page_idx(a, s), page_idx(a, e));
	/*
	 * Only committed runs can hold written pages (reserved pages are
	 * PROT_NONE since the last re-track), so only they are reset: cheaper
	 * for a large mostly-reserved heap, and uffd-wp on Linux 6.1 refuses
	 * to write-protect a range of unpopulated PROT_NONE memory.
	 */
	err = 0;
	for (size_t i = page_idx(a, s), n = page_idx(a, e); i < n && !err;) {
		size_t j;

		while (i < n && !a->prot[i])
			i++;
		for (j = i; j < n && a->prot[j]; j++)
			;
		if (i < j)
			err = ww_reset(tracker, (void *)(a->base + i * ps), (j - i) * ps);
		i = j;
	}
	pthread_mutex_unlock(&reg_lock);
	if (err) {
		set_error(error_of(err));
		return ~0u;
	}
	return 0;
}
