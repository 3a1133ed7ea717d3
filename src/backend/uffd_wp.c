/* SPDX-License-Identifier: MIT */
/*
 * The uffd-wp backend (x86-64 Linux 5.7+, arm64 6.10+): synchronous
 * userfaultfd write-protect. Tracked pages are write-protected through the
 * userfaultfd; the first write to one blocks the writing thread and queues a
 * message; one handler thread per tracker reads the messages in batches,
 * un-protects each page (which wakes the writer) and records it in the
 * range's bitmap. Collect+reset clears the bits of the pages it reports and
 * write-protects them again.
 *
 * Why no write is lost and no page is reported that was not written: the
 * handler and collect+reset share the tracker's mutex. The handler, holding
 * it, sets a page's bit and then un-protects the page (the writer is woken
 * once the lock is dropped);
 * collect+reset and reset, holding it, re-protect a page and then clear its
 * bit. So, for every tracked page, "bit set" and "writable" change together
 * and a write is recorded exactly when it happens after a reset. A write
 * racing with the re-protect either lands before it (and is reported now) or
 * faults and waits for the handler, which waits for the lock (and is reported
 * next time). The collecting thread touches no tracked memory while it holds
 * the lock (runs go through a local buffer, signals are blocked), so it can
 * never wait on a fault of its own. The one thing it must not do is track
 * its own stack with this backend: its stack frames inside the locked
 * section would fault.
 *
 * The handler must never fault on tracked memory itself (it would wait for
 * itself): everything it writes (this state, the bitmaps, its stack and TLS)
 * lives in mappings of our own, and ww_track refuses (-EBUSY) a range that
 * covers any of them. The only lock it takes is held elsewhere only by
 * code that touches no tracked memory; it calls no allocator, never logs.
 *
 * Kernel writes (read(2) into tracked memory) fault in copy_to_user and wait
 * for the handler like user writes, so the userfaultfd is created without
 * UFFD_USER_MODE_ONLY. If only a user-mode-only one is allowed (unprivileged,
 * vm.unprivileged_userfaultfd=0), the backend still works for user-space
 * writes and kernel writes fail with EFAULT, as with mprotect.
 *
 * A page with no page-table entry cannot carry a write-protect bit: never
 * touched (before 6.4, without UFFD_FEATURE_WP_UNPOPULATED, e.g. Debian
 * 12's 6.1), or dropped by MADV_DONTNEED/MADV_FREE (every kernel: anonymous
 * memory keeps no marker). Its first write would not fault and would be
 * lost. So anonymous ranges are also registered for missing faults: the
 * handler fills such a page with zeros, as the kernel would have, with
 * UFFDIO_COPY: writable and recorded for a write, write-protected for a
 * read. Cost: the first touch of such a page, read or write, is a round trip
 * through the handler, and a read allocates a page where the kernel would
 * have mapped the shared zero page. Memory that cannot take missing faults
 * (shmem, hugetlbfs) keeps its protection as PTE markers on 5.19+; on a
 * kernel without WP_UNPOPULATED it is populated at ww_track instead
 * (MADV_POPULATE_WRITE, contents unchanged), which costs the time to fault
 * in and the memory of the whole range (about 2 us and 4 KiB per page).
 *
 * Events and EAGAIN. The kernel refuses UFFDIO_WRITEPROTECT and UFFDIO_COPY
 * on a userfaultfd (EAGAIN) from the moment a discard or unmap of memory it
 * covers starts until the thread making it, woken once the handler has read
 * the event, runs again. A thread discarding in a loop is inside that
 * stretch nearly always, and on one CPU every retry by the handler came
 * exactly when it was: a read of a discarded page by another thread waited
 * 13-23 s for its zero fill, and a COW take's re-arm tens of ms, under
 * `taskset -c 0` (test_cow_discard_race; the CI's one-vCPU 6.1 VM hung 40
 * s). The refusal guards a monitor whose picture of the address space may
 * be stale; ours needs no such guard: an event is recorded when it is read,
 * under the lock, and the kernel zaps or unmaps nothing of a discard before
 * that (rearm_run keeps a page until its zap is seen). So after EAGAIN the
 * call is made again through a second userfaultfd of this process ("side"),
 * which asks for no events and so is never refused; the kernel lets it act
 * on ranges the first registered (it checks that a range is registered,
 * not with which userfaultfd). Wakes always go through the first, where
 * the writers wait. Where the side call fails (a kernel that checks the
 * owner, no second userfaultfd allowed), the first's EAGAIN stands and the
 * callers wait it out as before (eagain_wait; a fault: woken to fault
 * again).
 *
 * fork(): the child gets no registration (no UFFD_FEATURE_EVENT_FORK): the
 * kernel drops the write-protect bits in its copy and its writes are plain
 * writes. Its copy of the tracker is inert, and that is the core's job: it
 * refuses every call on a forked copy with -ECHILD and frees it in ww_close
 * without calling the backend (uffd ioctls would act on the parent's memory
 * whoever calls them, and the handler thread was not forked), so no op
 * here ever runs in a child.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "../internal.h"
#include "../sys/bitmap.h"
#include "../sys/sys.h"
#include "backend.h"

#ifndef MADV_POPULATE_READ /* Linux 5.14 */
#define MADV_POPULATE_READ 22
#endif
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

#define WORD_BITS 64
#define BITS_ZONES 16 /* zones of bitmap addresses, struct uw */
#define UW_BATCH 64 /* messages per read() */
#define UW_STACK (256 * 1024)

struct uw_range {
	uintptr_t start, end;
	/* Three bitmaps in one mapping, one bit per page each: written since
	 * the last reset; (at RM_OF) dropped by MADV_DONTNEED and maybe not
	 * yet zapped (see rearm_run); (at ANON_OF) anonymous private memory,
	 * whose content a discard changes (fixed at track: a page mapped over
	 * later leaves the registration, see mark_removed). Per page, not per
	 * range: one range may span anonymous memory and shmem. */
	_Atomic uint64_t *bits;
	size_t bits_len; /* bytes mapped at bits */
	/* Kernel page size: 2 MiB or 1 GiB for hugetlb, else 4 KiB. A fault
	 * marks a unit whole; a re-arm never splits one (the core's rule,
	 * backend.h), so the runs it re-protects are whole units, as
	 * UFFDIO_WRITEPROTECT wants them on hugetlb. */
	size_t unit;
};

struct uw {
	int uffd, stopfd, pagemap;
	int side; /* a userfaultfd without events: the retry after EAGAIN, or -1 */
	int mem; /* /proc/self/mem: copy-before-write reads (uw_prewrite_read) */
	int kickfd; /* eventfd: ask held faults again now (uw_prewrite_kick) */
	atomic_int handler_waits; /* the handler is waiting for lock (handler_lock) */
	bool populate; /* no WP_UNPOPULATED: populate ranges MISSING can't cover */
	bool missing; /* register MODE_MISSING too (off: test hook) */
	void *zero; /* a zero page of our own: UFFDIO_COPY's source */
	bool user_only; /* kernel writes fail with EFAULT */
	bool running;
	sem_t alive; /* posted once the handler thread runs: see uw_open */
	pthread_t thr;
	/* The tracker lock, shared by the handler (reading and recording a
	 * batch) and collect/reset (re-arming), see the file comment; it also
	 * guards the ranges array, which track/untrack edit under it. Never
	 * held across a write to memory that could be tracked. */
	pthread_mutex_t lock;
	struct uw_range *ranges; /* sorted, disjoint; own mapping */
	size_t nranges, cap, ranges_len;
	/* Where bitmaps have been mapped: a few disjoint zones, each the hull
	 * of the bitmaps mapped into it (never shrinking). ww_track runs the
	 * per-range overlap check only for a range touching a zone, so that
	 * tracking the n-th range does not cost O(n) (issue 16 item 14).
	 * Bitmaps land in a few holes of the address space (top-down), so a
	 * handful of zones cover them; past BITS_ZONES the two nearest merge. */
	struct {
		uintptr_t lo, hi;
	} zone[BITS_ZONES];
	size_t nzones;
	void *stack;
	size_t stack_len, self_len;
	struct uffd_msg msgs[UW_BATCH]; /* the handler's read buffer */
	/* Copy-before-write (set_prewrite), under lock: the core's hooks, and
	 * the write faults a hook held (own mapping, grown as needed: at most
	 * one per thread of the process), asked again by the handler every
	 * WW__PREWRITE_ASK_NS while any is held. */
	const struct ww__prewrite *pw;
	struct uw_held {
		struct uffd_msg m;
		uint64_t since; /* when it was first held (ww__now_ns) */
	} * held;
	size_t nheld, held_cap, held_len;
};

/* Test hook: WRITEWATCH_UFFD_POPULATE=1 registers without missing faults and
 * populates at track time as on a pre-6.4 kernel, so that fallback can be
 * exercised anywhere (it does not cover MADV_DONTNEED: see above). */
static bool force_populate(void)
{
	const char *e = secure_getenv("WRITEWATCH_UFFD_POPULATE");

	return e && *e == '1';
}

/* A userfaultfd for synchronous write-protect, with every WP feature this
 * kernel has. Prefers one that also handles kernel-mode faults. */
static int uffd_sync(bool *user_only, bool *populate, char *why, size_t whylen)
{
	uint64_t want, got = 0, feat_supported = 0;
	int fd, err;

	err = ww__uffd_features(&feat_supported, why, whylen);
	if (err)
		return err;
	if (!(feat_supported & UFFD_FEATURE_PAGEFAULT_FLAG_WP))
		return ww__why(why, whylen, -EOPNOTSUPP,
			       "kernel lacks userfaultfd write-protect (needs Linux 5.7+ on "
			       "x86-64, 6.10+ on arm64)");
	/* EVENT_REMOVE and EVENT_UNMAP: pages the application discards or
	 * unmaps change content without a write; they are reported. */
	want = feat_supported & (UFFD_FEATURE_WP_UNPOPULATED | UFFD_FEATURE_WP_HUGETLBFS_SHMEM |
				 UFFD_FEATURE_EVENT_REMOVE | UFFD_FEATURE_EVENT_UNMAP);
	if (force_populate())
		want &= ~(uint64_t)UFFD_FEATURE_WP_UNPOPULATED;
	*user_only = false;
	fd = ww__uffd_create_mode(false, NULL, 0);
	if (fd < 0) {
		*user_only = true;
		fd = ww__uffd_create_mode(true, why, whylen);
		if (fd < 0)
			return fd;
	}
	err = ww__uffd_api(fd, want, &got);
	/* Some kernels drop unknown bits silently: check what was granted. */
	if (!err && (got & want) != want)
		err = -EOPNOTSUPP;
	if (err) {
		close(fd);
		return ww__why(why, whylen, err, "UFFDIO_API refused write-protect features: %s",
			       strerror(-err));
	}
	*populate = !(want & UFFD_FEATURE_WP_UNPOPULATED);
	return fd;
}

/* The side userfaultfd (file comment): no features, no events; -1 if
 * this process may not have a second one. */
static int uffd_side(bool user_only)
{
	int fd = ww__uffd_create_mode(user_only, NULL, 0);

	if (fd >= 0 && ww__uffd_api(fd, 0, NULL)) {
		close(fd);
		fd = -1;
	}
	return fd;
}

/* UFFDIO_WRITEPROTECT with mode over [s, e); after EAGAIN through the side
 * userfaultfd, and then, un-protecting without DONTWAKE, the writers woken
 * through ours. Returns the first call's EAGAIN if the side one fails. */
static int uw_wp_mode(struct uw *u, uintptr_t s, uintptr_t e, uint64_t mode)
{
	int err = ww__uffd_wp_mode(u->uffd, s, e, mode);
	bool wake = !(mode & (UFFDIO_WRITEPROTECT_MODE_WP | UFFDIO_WRITEPROTECT_MODE_DONTWAKE));

	/* DONTWAKE only un-protecting: before 6.5 (Debian 12's 6.1) the
	 * kernel refuses it with WP (EINVAL), and protecting wakes nobody */
	if (err != -EAGAIN || u->side < 0 ||
	    ww__uffd_wp_mode(u->side, s, e, mode | (wake ? UFFDIO_WRITEPROTECT_MODE_DONTWAKE : 0)))
		return err;
	if (wake)
		ww__uffd_wake(u->uffd, s, e);
	return 0;
}

static int uw_wp(struct uw *u, uintptr_t s, uintptr_t e, bool protect)
{
	return uw_wp_mode(u, s, e, protect ? UFFDIO_WRITEPROTECT_MODE_WP : 0);
}

/* UFFDIO_COPY of our zero page to [page, page + ps), never waking (the
 * handler wakes); after EAGAIN through the side userfaultfd. */
static int uw_fill(struct uw *u, uintptr_t page, uint64_t mode)
{
	size_t ps = ww__page_size();
	int err = ww__uffd_copy(u->uffd, page, u->zero, ps, mode | UFFDIO_COPY_MODE_DONTWAKE);

	if (err == -EAGAIN && u->side >= 0 &&
	    !ww__uffd_copy(u->side, page, u->zero, ps, mode | UFFDIO_COPY_MODE_DONTWAKE))
		return 0;
	return err;
}

/* Memory of our own, in its own mapping, so the application cannot have it
 * tracked without ww_track noticing (see the file comment). */
static void *own_alloc(size_t *len)
{
	size_t ps = ww__page_size();
	void *p;

	*len = (*len + ps - 1) & ~(ps - 1);
	p = mmap(NULL, *len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

static void own_free(void *p, size_t len)
{
	if (p)
		munmap(p, len);
}

static bool overlaps(uintptr_t s, uintptr_t e, const void *p, size_t len)
{
	return p && s < (uintptr_t)p + len && (uintptr_t)p < e;
}

static size_t words_of(uintptr_t s, uintptr_t e)
{
	return ((e - s) / ww__page_size() + WORD_BITS - 1) / WORD_BITS;
}

/* The removed-pages and anonymous-pages bitmaps of r, after its
 * written-pages bitmap. */
#define RM_OF(r) ((r)->bits + words_of((r)->start, (r)->end))
#define ANON_OF(r) ((r)->bits + 2 * words_of((r)->start, (r)->end))

static _Atomic uint64_t *bitmaps_alloc(uintptr_t s, uintptr_t e, size_t *len)
{
	*len = 3 * words_of(s, e) * sizeof(uint64_t);
	return own_alloc(len);
}

static void bits_note(struct uw *u, const void *p, size_t len)
{
	uintptr_t a = (uintptr_t)p, b = a + len, near = (uintptr_t)1 << 20;
	size_t i, best = 0;

	if (!p)
		return;
	/* Extend a zone within 1 MiB (bitmaps come one below the other). */
	for (i = 0; i < u->nzones; i++) {
		if (a <= u->zone[i].hi + near && u->zone[i].lo <= b + near) {
			u->zone[i].lo = a < u->zone[i].lo ? a : u->zone[i].lo;
			u->zone[i].hi = b > u->zone[i].hi ? b : u->zone[i].hi;
			return;
		}
	}
	if (u->nzones == BITS_ZONES) {
		/* Full: fold the new bitmap into the zone nearest to it. */
		uintptr_t dist = UINTPTR_MAX;

		for (i = 0; i < u->nzones; i++) {
			uintptr_t d = a > u->zone[i].hi ? a - u->zone[i].hi : u->zone[i].lo - b;

			if (d < dist) {
				dist = d;
				best = i;
			}
		}
		u->zone[best].lo = a < u->zone[best].lo ? a : u->zone[best].lo;
		u->zone[best].hi = b > u->zone[best].hi ? b : u->zone[best].hi;
		return;
	}
	u->zone[u->nzones].lo = a;
	u->zone[u->nzones].hi = b;
	u->nzones++;
}

/* Might [s, e) hold one of u's bitmaps? */
static bool bits_zone_touch(const struct uw *u, uintptr_t s, uintptr_t e)
{
	for (size_t i = 0; i < u->nzones; i++)
		if (s < u->zone[i].hi && u->zone[i].lo < e)
			return true;
	return false;
}

static bool bit_get(_Atomic uint64_t *b, size_t i)
{
	return atomic_load(&b[i / WORD_BITS]) & (1ULL << (i % WORD_BITS));
}

static void bit_put(_Atomic uint64_t *b, size_t i, bool v)
{
	if (v)
		atomic_fetch_or(&b[i / WORD_BITS], 1ULL << (i % WORD_BITS));
	else
		atomic_fetch_and(&b[i / WORD_BITS], ~(1ULL << (i % WORD_BITS)));
}

/* Index of the range holding a, or nranges. Caller holds the lock or is the
 * core-serialised caller (the only one that edits the array). */
static size_t range_find(const struct uw *u, uintptr_t a)
{
	size_t lo = 0, hi = u->nranges;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (a < u->ranges[mid].start)
			hi = mid;
		else if (a >= u->ranges[mid].end)
			lo = mid + 1;
		else
			return mid;
	}
	return u->nranges;
}

static void bits_clear(_Atomic uint64_t *bits, size_t from, size_t to)
{
	while (from < to) {
		size_t w = from / WORD_BITS, b = from % WORD_BITS;
		size_t n = to - from < WORD_BITS - b ? to - from : WORD_BITS - b;
		uint64_t m = (n == WORD_BITS ? ~0ULL : ((1ULL << n) - 1)) << b;

		atomic_fetch_and(&bits[w], ~m);
		from += n;
	}
}

/* Under the lock: pages [s, e) were discarded (remove) or unmapped. The
 * kernel zaps them after this event is read, so they are marked written and,
 * for a discard, "removed": collect keeps reporting such a page until it has
 * seen the zap (see rearm_run). An unmapped page stays written: re-arming it
 * fails, and collect says so. */
static void mark_removed(struct uw *u, uintptr_t s, uintptr_t e, bool remove)
{
	size_t ps = ww__page_size();

	for (size_t r = 0; r < u->nranges; r++) {
		struct uw_range *g = &u->ranges[r];
		uintptr_t a = g->start > s ? g->start : s, b = g->end < e ? g->end : e;

		a = a & ~(uintptr_t)(ps - 1);
		for (; a < b; a += ps) {
			size_t idx = (a - g->start) / ps;

			/* Anonymous private pages become zeros and lose
			 * their marker: written, and "removed" until the zap
			 * is seen. Other memory keeps its marker; its content
			 * is gone after MADV_REMOVE (a hole punch) or a private
			 * copy dropped, kept after MADV_DONTNEED of shared
			 * pages, and the event does not say which: reported
			 * written either way (a false positive rather than a
			 * lost change). */
			bit_put(g->bits, idx, true);
			if (remove && bit_get(ANON_OF(g), idx))
				bit_put(RM_OF(g), idx, true);
		}
	}
	if (u->pw)
		u->pw->discarded(u->pw->ctx, s, e);
}

/* For each fault of the batch, under the lock: record a write (a
 * write-protect fault, or a write to a missing page; a read of a missing
 * page is no write), then make the access possible without waking: a
 * write-protected page is un-protected; a missing page is filled with zeros,
 * as the kernel would have, writable for a write and write-protected for a
 * read, so that the first write faults. Failures (untracked or unmapped
 * meanwhile, EEXIST: filled by another fault) need no handling. wake[]
 * gets the ranges to wake once the lock is dropped, so the woken writers
 * never contend for it. */
/* One message; false if a copy-before-write hook held the fault (the
 * writer stays blocked; see handle_held). */
static bool handle_one(struct uw *u, const struct uffd_msg *m, uint64_t held_ns, uintptr_t wake[2])
{
	size_t ps = ww__page_size();
	uint64_t f = m->arg.pagefault.flags;
	uintptr_t a = (uintptr_t)m->arg.pagefault.address, page, end;
	size_t r, unit = ps;

	wake[0] = wake[1] = 0;
	if (m->event == UFFD_EVENT_REMOVE || m->event == UFFD_EVENT_UNMAP) {
		mark_removed(u, m->arg.remove.start, m->arg.remove.end,
			     m->event == UFFD_EVENT_REMOVE);
		return true;
	}
	if (m->event != UFFD_EVENT_PAGEFAULT)
		return true;
	r = range_find(u, a);
	if (r < u->nranges)
		unit = u->ranges[r].unit;
	/* A hugetlb page is protected and resolved whole. */
	page = a & ~(uintptr_t)(unit - 1);
	end = page + unit;
	/* The page still holds what it held before the write: the core may
	 * copy it first (a missing page holds zeros and is not read). */
	if (u->pw && (f & (UFFD_PAGEFAULT_FLAG_WP | UFFD_PAGEFAULT_FLAG_WRITE)) &&
	    !u->pw->before(u->pw->ctx, page, end - page, !(f & UFFD_PAGEFAULT_FLAG_WP), held_ns))
		return false;
	if (r < u->nranges) {
		struct uw_range *g = &u->ranges[r];
		uintptr_t p0 = page > g->start ? page : g->start;
		uintptr_t p1 = end < g->end ? end : g->end;

		for (uintptr_t p = p0; p < p1; p += ps) {
			size_t idx = (p - g->start) / ps;

			/* A missing page that was discarded: its
			 * content changed (to zeros) since it was last
			 * reported. */
			if (!(f & UFFD_PAGEFAULT_FLAG_WP) && bit_get(RM_OF(g), idx)) {
				bit_put(RM_OF(g), idx, false);
				bit_put(g->bits, idx, true);
			}
			if (f & (UFFD_PAGEFAULT_FLAG_WP | UFFD_PAGEFAULT_FLAG_WRITE))
				bit_put(g->bits, idx, true);
		}
	}
	if (f & UFFD_PAGEFAULT_FLAG_WP)
		uw_wp_mode(u, page, end, UFFDIO_WRITEPROTECT_MODE_DONTWAKE);
	else
		uw_fill(u, page, f & UFFD_PAGEFAULT_FLAG_WRITE ? 0 : UFFDIO_COPY_MODE_WP);
	wake[0] = page;
	wake[1] = end;
	return true;
}

/* Keep a held fault for later. The array is our own mapping (the handler
 * must never write memory that could be tracked); if it cannot grow, the
 * hook is asked again right away until it lets the write go. */
static void hold(struct uw *u, const struct uffd_msg *m, uint64_t since, uintptr_t wake[2])
{
	if (u->nheld == u->held_cap) {
		size_t cap = u->held_cap ? u->held_cap * 2 : 256, len = cap * sizeof(*u->held);
		struct uw_held *n = own_alloc(&len);

		if (!n) {
			while (!handle_one(u, m, ww__now_ns() - since, wake))
				sched_yield();
			return;
		}
		if (u->nheld)
			memcpy(n, u->held, u->nheld * sizeof(*n));
		own_free(u->held, u->held_len);
		u->held = n;
		u->held_cap = cap;
		u->held_len = len;
	}
	u->held[u->nheld++] = (struct uw_held){ *m, since };
}

/* For each message of the batch, under the lock: see handle_one. wake[]
 * gets the ranges to wake once the lock is dropped, so the woken writers
 * never contend for it. */
static void handle_batch(struct uw *u, size_t n, uintptr_t wake[][2])
{
	uint64_t now = 0;

	for (size_t i = 0; i < n; i++)
		if (!handle_one(u, &u->msgs[i], 0, wake[i]))
			hold(u, &u->msgs[i], now ? now : (now = ww__now_ns()), wake[i]);
}

/* Ask the hook again for each held fault, under the lock; those it lets go
 * are resolved, their ranges put in wake[0..UW_BATCH). Returns how many
 * wake[] entries are filled. */
static size_t handle_held(struct uw *u, uintptr_t wake[][2])
{
	size_t k = 0, w = 0;
	uint64_t now = ww__now_ns();

	for (size_t i = 0; i < u->nheld; i++) {
		if (w < UW_BATCH && handle_one(u, &u->held[i].m, now - u->held[i].since, wake[w])) {
			w++;
			continue;
		}
		u->held[k++] = u->held[i];
	}
	u->nheld = k;
	return w;
}

/* Wait for a message or the stop request. Faults come in bursts (a loop
 * writing a buffer): right after a batch, the handler polls without sleeping
 * for up to UW_SPIN_NS, because waking a thread on an idle CPU is what a
 * synchronous fault mostly costs (measured on these 2-CPU virtual machines:
 * 49 us per first write with the handler sleeping between faults, 7 us with
 * it awake). At most UW_SPIN_NS of CPU per burst; a lone fault pays it once. */
#define UW_SPIN_NS 50000u

static int wait_msg(struct pollfd p[3], bool hot, bool held)
{
	/* held faults: ask again soon (backend.h), or at once when kicked */
	const struct timespec ask = { 0, WW__PREWRITE_ASK_NS };

	if (hot) {
		uint64_t until = ww__now_ns() + UW_SPIN_NS;

		do {
			int r = poll(p, 3, 0);

			if (r)
				return r;
		} while (ww__now_ns() < until);
	}
	return ppoll(p, 3, held ? &ask : NULL, NULL);
}

/* The handler takes the lock saying so: a collect re-arming batch after
 * batch lets it in between (the mutex is not fair: unlocking and locking
 * again at once, the collect kept it for a whole take, every faulting
 * writer waiting that long; BENCHMARKS.md 9d). */
static void handler_lock(struct uw *u)
{
	atomic_fetch_add_explicit(&u->handler_waits, 1, memory_order_relaxed);
	pthread_mutex_lock(&u->lock);
	atomic_fetch_sub_explicit(&u->handler_waits, 1, memory_order_relaxed);
}

static void *handler(void *arg)
{
	struct uw *u = arg;
	uintptr_t wake[UW_BATCH][2];
	size_t n = 0;

	sem_post(&u->alive);
	for (;;) {
		struct pollfd p[3] = { { .fd = u->uffd, .events = POLLIN },
				       { .fd = u->stopfd, .events = POLLIN },
				       { .fd = u->kickfd, .events = POLLIN } };
		ssize_t r;

		if (wait_msg(p, n > 0, u->nheld > 0) < 0) {
			n = 0;
			continue; /* EINTR; nothing else can fail here */
		}
		if (p[1].revents)
			break;
		if (p[2].revents) {
			uint64_t v;

			r = read(u->kickfd, &v, sizeof(v)); /* drain; EAGAIN: raced */
		}
		if (u->nheld) { /* nheld is only written by this thread */
			handler_lock(u);
			n = handle_held(u, wake);
			pthread_mutex_unlock(&u->lock);
			for (size_t i = 0; i < n; i++)
				ww__uffd_wake(u->uffd, wake[i][0], wake[i][1]);
		}
		if (!(p[0].revents & POLLIN))
			continue;
		/* Read under the lock: the kernel lets a discarding or
		 * unmapping thread go on as soon as its event is read, and
		 * a collect it makes next must find the event recorded. */
		handler_lock(u);
		r = read(u->uffd, u->msgs, sizeof(u->msgs));
		n = r > 0 ? (size_t)r / sizeof(u->msgs[0]) : 0; /* EAGAIN: none */
		handle_batch(u, n, wake);
		pthread_mutex_unlock(&u->lock);
		for (size_t i = 0; i < n; i++)
			if (wake[i][1])
				ww__uffd_wake(u->uffd, wake[i][0], wake[i][1]);
	}
	return NULL;
}

static int uw_open(pid_t pid, void **priv, char *why, size_t whylen)
{
	size_t len = sizeof(struct uw), stack_len = UW_STACK;
	long min = sysconf(_SC_THREAD_STACK_MIN);
	pthread_attr_t attr;
	sigset_t all, old;
	struct uw *u;
	int err;

	if (pid)
		return ww__why(why, whylen, -EOPNOTSUPP, "cannot track another process");
	u = own_alloc(&len);
	if (!u)
		return -ENOMEM;
	u->self_len = len;
	u->stopfd = -1;
	u->kickfd = -1;
	u->side = -1;
	u->pagemap = -1;
	u->mem = -1;
	pthread_mutex_init(&u->lock, NULL);
	sem_init(&u->alive, 0, 0);
	u->uffd = uffd_sync(&u->user_only, &u->populate, why, whylen);
	if (u->uffd < 0) {
		err = u->uffd;
		goto fail;
	}
	u->side = uffd_side(u->user_only);
	if (u->user_only)
		ww__info("uffd-wp: only a user-mode userfaultfd is allowed here: kernel writes "
			 "into tracked memory will fail with EFAULT");
	if (u->populate)
		ww__info("uffd-wp: kernel lacks UFFD_FEATURE_WP_UNPOPULATED: ranges that "
			 "cannot take missing faults are populated at ww_track");
	u->missing = !force_populate();
	len = ww__page_size();
	u->zero = own_alloc(&len);
	if (!u->zero) {
		err = -ENOMEM;
		goto fail;
	}
	u->pagemap = ww__pagemap_open(0);
	if (u->pagemap < 0) {
		err = u->pagemap;
		goto fail;
	}
	/* no copy-before-write without it (uw_prewrite_check says why) */
	u->mem = open("/proc/self/mem", O_RDONLY | O_CLOEXEC);
	u->stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	u->kickfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (u->stopfd < 0 || u->kickfd < 0) {
		err = -errno;
		goto fail;
	}
	if (min > 0 && (size_t)min > stack_len)
		stack_len = (size_t)min;
	u->stack = own_alloc(&stack_len);
	if (!u->stack) {
		err = -ENOMEM;
		goto fail;
	}
	u->stack_len = stack_len;
	/* The handler takes no signals: they belong to the application. */
	pthread_attr_init(&attr);
	pthread_attr_setstack(&attr, u->stack, stack_len);
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = -pthread_create(&u->thr, &attr, handler, u);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	if (err)
		goto fail;
	u->running = true;
	/* Return only once the handler runs its own code. A thread still
	 * starting is inside the C library (and a sanitizer's allocator, which
	 * unlike glibc's is not fork-safe): a caller that forks right after
	 * ww_open must not give its child a lock no thread will release. It
	 * also means the first fault finds the handler ready. */
	while (sem_wait(&u->alive) && errno == EINTR)
		;
	*priv = u;
	return 0;
fail:
	if (u->stopfd >= 0)
		close(u->stopfd);
	if (u->kickfd >= 0)
		close(u->kickfd);
	if (u->uffd >= 0)
		close(u->uffd);
	if (u->side >= 0)
		close(u->side);
	if (u->pagemap >= 0)
		close(u->pagemap);
	if (u->mem >= 0)
		close(u->mem);
	own_free(u->stack, u->stack_len);
	own_free(u->zero, ww__page_size());
	pthread_mutex_destroy(&u->lock);
	sem_destroy(&u->alive);
	own_free(u, u->self_len);
	return err;
}

static void uw_close(void *priv)
{
	struct uw *u = priv;
	uint64_t one = 1;

	if (u->running) {
		while (write(u->stopfd, &one, sizeof(one)) < 0 && errno == EINTR)
			;
		pthread_join(u->thr, NULL);
		pthread_mutex_destroy(&u->lock);
		sem_destroy(&u->alive);
	}
	close(u->stopfd);
	close(u->kickfd);
	close(u->uffd);
	if (u->side >= 0)
		close(u->side);
	close(u->pagemap);
	if (u->mem >= 0)
		close(u->mem);
	for (size_t i = 0; i < u->nranges; i++)
		own_free((void *)u->ranges[i].bits, u->ranges[i].bits_len);
	own_free(u->ranges, u->ranges_len);
	own_free(u->stack, u->stack_len);
	own_free(u->zero, ww__page_size());
	own_free(u->held, u->held_len);
	own_free(u, u->self_len);
}

/* Make room for `more` ranges. The new array is filled outside the lock and
 * swapped in under it, so the handler never sees a half-copied one. */
static int ranges_reserve(struct uw *u, size_t more)
{
	size_t cap = u->cap ? u->cap : 8, len;
	struct uw_range *n, *old = u->ranges;
	size_t old_len = u->ranges_len;

	if (u->nranges + more <= u->cap)
		return 0;
	while (cap < u->nranges + more)
		cap *= 2;
	len = cap * sizeof(*n);
	n = own_alloc(&len);
	if (!n)
		return -ENOMEM;
	pthread_mutex_lock(&u->lock);
	if (u->nranges)
		memcpy(n, u->ranges, u->nranges * sizeof(*n));
	u->ranges = n;
	u->cap = cap;
	u->ranges_len = len;
	pthread_mutex_unlock(&u->lock);
	own_free(old, old_len);
	return 0;
}

/* Populate [s, e) of one mapping without changing its contents, so that
 * write-protecting it leaves no hole (pre-6.4 kernels, see the file
 * comment). Writable memory is faulted in for write (a real page, not the
 * shared zero page: that one could be dropped and re-faulted), read-only
 * memory for read (a later mprotect to writable keeps the protect bit). */
static int populate_one(uintptr_t s, uintptr_t e, int prot)
{
	size_t ps = ww__page_size();

	if (prot & PROT_WRITE) {
		if (madvise((void *)s, e - s, MADV_POPULATE_WRITE) == 0)
			return 0;
		if (errno != EINVAL)
			return -errno;
		/* Before 5.14: an atomic compare-and-swap of a byte with
		 * itself is a write for the MMU and never loses a concurrent
		 * writer's store. (An atomic OR with 0 may be compiled to a
		 * plain load.) */
		for (uintptr_t a = s; a < e; a += ps) {
			volatile char *p = (volatile char *)a;
			char v = *p;

			while (!__atomic_compare_exchange_n(p, &v, v, false, __ATOMIC_RELAXED,
							    __ATOMIC_RELAXED))
				;
		}
		return 0;
	}
	if (prot & PROT_READ) {
		if (madvise((void *)s, e - s, MADV_POPULATE_READ) == 0)
			return 0;
		if (errno != EINVAL)
			return -errno;
		for (uintptr_t a = s; a < e; a += ps)
			(void)*(volatile char *)a;
	}
	/* PROT_NONE: nothing can be written there now; see writewatch(7). */
	return 0;
}

struct populate_ctx {
	uintptr_t s, e;
	int err;
};

static int populate_map(const struct ww__map *m, void *arg)
{
	struct populate_ctx *c = arg;
	uintptr_t s = m->start > c->s ? m->start : c->s, e = m->end < c->e ? m->end : c->e;

	if (m->start >= c->e)
		return 1;
	if (s >= e)
		return 0;
	c->err = populate_one(s, e, m->prot);
	return c->err ? 1 : 0;
}

static int populate(uintptr_t s, uintptr_t e)
{
	struct populate_ctx c = { s, e, 0 };
	int r = ww__maps_range(s, e, populate_map, &c);

	return r < 0 ? r : c.err;
}

/*
 * The wait before trying UFFDIO_WRITEPROTECT again after EAGAIN, where the
 * side userfaultfd (file comment) did not get through either. The kernel
 * refuses it from the moment a discard or unmap starts until the thread
 * making it has been woken, after the handler read its event, and has run
 * again; a thread discarding in a loop is inside that stretch nearly all
 * the time, free of it only between one madvise's return and the next's
 * start. Yielding alone never landed there on one CPU: a COW take against
 * a discarding loop made no progress for 40 s (test_cow_discard_race under
 * `taskset -c 0`, and on the one-vCPU VMs). So a few yields (enough on
 * several CPUs), then sleeps doubling from 8 us to 256 us: the waiter wakes
 * at a point of the other thread's loop that is not chosen by that loop.
 * Measured there: a wait takes about 100 tries (a take 0.03-155 ms of
 * pre-arming, 50 takes in 13-29 s on one CPU shared with a spinning
 * writer); capping the sleep at 64 us or 1 ms changed neither.
 */
static void eagain_wait(unsigned int *tries)
{
	if (*tries < 4) {
		sched_yield();
	} else {
		unsigned int k = *tries - 4 < 5 ? *tries - 4 : 5;
		struct timespec ts = { 0, (long)(8000u << k) };

		nanosleep(&ts, NULL);
	}
	++*tries;
}

/* UFFDIO_WRITEPROTECT fails with EAGAIN while a discard or unmap event is
 * on its way to the handler; the handler is never waiting for the caller
 * here (no lock held), so waiting for it is safe. */
static int wp_retry(struct uw *u, uintptr_t s, uintptr_t e, bool protect)
{
	unsigned int tries = 0;
	int err;

	while ((err = uw_wp(u, s, e, protect)) == -EAGAIN)
		eagain_wait(&tries);
	return err;
}

struct anon_ctx {
	uintptr_t s, e;
	_Atomic uint64_t *anon;
};

static int anon_step(const struct ww__map *m, void *arg)
{
	struct anon_ctx *c = arg;
	size_t ps = ww__page_size();
	uintptr_t a = m->start > c->s ? m->start : c->s, b = m->end < c->e ? m->end : c->e;

	if (m->start >= c->e)
		return 1;
	/* shared, file, shmem or hugetlbfs mappings have an inode */
	if (m->shared || m->inode)
		return 0;
	for (; a < b; a += ps)
		bit_put(c->anon, (a - c->s) / ps, true);
	return 0;
}

/* Mark the anonymous private pages of [s, e) in anon: the only memory whose
 * content a discard changes (to zeros). */
static int mark_anon_private(uintptr_t s, uintptr_t e, _Atomic uint64_t *anon)
{
	struct anon_ctx c = { s, e, anon };
	int r = ww__maps_range(s, e, anon_step, &c);

	return r < 0 ? r : 0;
}

static int uw_track(void *priv, uintptr_t s, uintptr_t e)
{
	struct uw *u = priv;
	size_t at, blen, unit;
	uint64_t ioctls = 0, mode;
	_Atomic uint64_t *bits;
	int err;

	/* The handler writes these; tracking them would deadlock it. */
	if (overlaps(s, e, u, u->self_len) || overlaps(s, e, u->stack, u->stack_len) ||
	    overlaps(s, e, u->zero, ww__page_size()) || overlaps(s, e, u->ranges, u->ranges_len))
		return -EBUSY;
	for (size_t i = 0; bits_zone_touch(u, s, e) && i < u->nranges; i++)
		if (overlaps(s, e, (void *)u->ranges[i].bits, u->ranges[i].bits_len))
			return -EBUSY;
	err = ranges_reserve(u, 1);
	if (err)
		return err;
	if (ww__vma_page_size(0, s, &unit, NULL) || unit < ww__page_size())
		unit = ww__page_size();
	bits = bitmaps_alloc(s, e, &blen);
	if (!bits)
		return -ENOMEM;
	bits_note(u, (void *)bits, blen);
	/* Which pages a discard changes, known before the first discard
	 * event can arrive; per page, as a range may mix memory kinds (a
	 * per-range answer ignored discards of the anonymous part of a range
	 * that also covered a memfd: found by the fuzzer). */
	err = mark_anon_private(s, e, bits + 2 * words_of(s, e));
	if (err) {
		own_free((void *)bits, blen);
		return err;
	}
	/* In the table before the first fault can arrive; binary search for
	 * the slot, as ranges may number 100,000. */
	at = 0;
	for (size_t hi = u->nranges; at < hi;) {
		size_t mid = at + (hi - at) / 2;

		if (u->ranges[mid].start < s)
			at = mid + 1;
		else
			hi = mid;
	}
	pthread_mutex_lock(&u->lock);
	memmove(&u->ranges[at + 1], &u->ranges[at], (u->nranges - at) * sizeof(*u->ranges));
	u->ranges[at] = (struct uw_range){ s, e, bits, blen, unit };
	u->nranges++;
	pthread_mutex_unlock(&u->lock);

	/* Missing faults on everything but hugetlb (a hugetlb page cannot be
	 * filled 4 KiB at a time): a range may mix anonymous private memory,
	 * whose discarded pages lose their write-protect marker, with shmem,
	 * where a missing fault is a page-cache hole that a zero page fills
	 * exactly as the kernel would. Registering the anonymous part without
	 * them lost a write after a discard (found by the fuzzer). */
	mode = UFFDIO_REGISTER_MODE_WP;
	if (u->missing && unit == ww__page_size())
		mode |= UFFDIO_REGISTER_MODE_MISSING;
	err = ww__uffd_register(u->uffd, s, e, mode, &ioctls);
	if (err == -EINVAL && mode != UFFDIO_REGISTER_MODE_WP) {
		mode = UFFDIO_REGISTER_MODE_WP;
		err = ww__uffd_register(u->uffd, s, e, mode, &ioctls);
	}
	if (err) {
		ww__dbg("uffd-wp: UFFDIO_REGISTER %#lx-%#lx: %s", (unsigned long)s,
			(unsigned long)e, strerror(-err));
		/* EINVAL here means a memory kind uffd-wp cannot register.
		 * Undo nothing: UFFDIO_WRITEPROTECT does not check which uffd
		 * owns a range, so it would disarm another tracker's pages. */
		if (err == -EINVAL)
			err = -EOPNOTSUPP;
	} else {
		if (!(ioctls & (1ULL << _UFFDIO_WRITEPROTECT)) ||
		    (mode & UFFDIO_REGISTER_MODE_MISSING && !(ioctls & (1ULL << _UFFDIO_COPY))))
			err = -EOPNOTSUPP;
		/* Registered, not armed: populating faults nothing to us. */
		else if (u->populate && !(mode & UFFDIO_REGISTER_MODE_MISSING))
			err = populate(s, e);
		if (!err)
			err = wp_retry(u, s, e, true);
		if (!err)
			return 0; /* never clear bits here: a write after arming counts */
		uw_wp(u, s, e, false);
		ww__uffd_unregister(u->uffd, s, e);
	}
	pthread_mutex_lock(&u->lock);
	u->nranges--;
	memmove(&u->ranges[at], &u->ranges[at + 1], (u->nranges - at) * sizeof(*u->ranges));
	pthread_mutex_unlock(&u->lock);
	own_free((void *)bits, blen);
	return err;
}

/* Copy range r's bits for pages [s, e) into dst (fresh, zeroed). */
static void bits_copy(struct uw_range *dst, const struct uw_range *r)
{
	size_t ps = ww__page_size(), np = (dst->end - dst->start) / ps;
	size_t off = (dst->start - r->start) / ps;

	for (size_t i = 0; i < np; i++) {
		if (bit_get(r->bits, off + i))
			bit_put(dst->bits, i, true);
		if (bit_get(RM_OF(r), off + i))
			bit_put(RM_OF(dst), i, true);
		if (bit_get(ANON_OF(r), off + i))
			bit_put(ANON_OF(dst), i, true);
	}
}

static int uw_untrack(void *priv, uintptr_t s, uintptr_t e)
{
	struct uw *u = priv;
	size_t i = range_find(u, s), keep = 0;
	struct uw_range r, piece[2];
	int err;

	if (i == u->nranges)
		return -ENOENT;
	r = u->ranges[i];
	if (r.start < s)
		piece[keep++] = (struct uw_range){ .start = r.start, .end = s, .unit = r.unit };
	if (e < r.end)
		piece[keep++] = (struct uw_range){ .start = e, .end = r.end, .unit = r.unit };
	/* Allocate everything first, so a failure changes nothing. */
	err = ranges_reserve(u, 1);
	for (size_t k = 0; k < keep && !err; k++) {
		piece[k].bits = bitmaps_alloc(piece[k].start, piece[k].end, &piece[k].bits_len);
		bits_note(u, (void *)piece[k].bits, piece[k].bits_len);
		if (!piece[k].bits) {
			while (k--)
				own_free((void *)piece[k].bits, piece[k].bits_len);
			err = -ENOMEM;
		}
	}
	if (err)
		return err;
	/* Drop the protection (this wakes any blocked writer), then the
	 * registration; memory the application unmapped since is not an
	 * error. */
	wp_retry(u, s, e, false);
	err = ww__uffd_unregister(u->uffd, s, e);
	if (err && err != -EINVAL && err != -ENOMEM && err != -ENOENT) {
		for (size_t k = 0; k < keep; k++)
			own_free((void *)piece[k].bits, piece[k].bits_len);
		return err;
	}
	/* The kept parts' bits are copied under the lock, so that no bit the
	 * handler sets meanwhile lands in the old bitmap only. */
	pthread_mutex_lock(&u->lock);
	for (size_t k = 0; k < keep; k++)
		bits_copy(&piece[k], &r);
	memmove(&u->ranges[i + keep], &u->ranges[i + 1], (u->nranges - i - 1) * sizeof(r));
	for (size_t k = 0; k < keep; k++)
		u->ranges[i + k] = piece[k];
	u->nranges = u->nranges - 1 + keep;
	pthread_mutex_unlock(&u->lock);
	own_free((void *)r.bits, r.bits_len);
	return 0;
}

static void block_signals(sigset_t *old)
{
	sigset_t all;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, old);
}

/* Under the lock: protect pages [a, b) of r, then clear their bits. */
static int protect_clear(struct uw *u, struct uw_range *r, size_t a, size_t b)
{
	size_t ps = ww__page_size();
	int err = uw_wp(u, r->start + a * ps, r->start + b * ps, true);

	if (!err) {
		bits_clear(r->bits, a, b);
		bits_clear(RM_OF(r), a, b);
	}
	return err;
}

/* rearm_run's one attempt: protect and clear [a, b) but for the pages
 * marked removed that are still in the page table. */
static int rearm_once(struct uw *u, struct uw_range *r, size_t a, size_t b)
{
	size_t ps = ww__page_size(), c = a, base = a, n = 0;
	uint64_t ent[64];
	int err;

	for (size_t i = ww__bit_next(RM_OF(r), a, b, true); i < b;
	     i = ww__bit_next(RM_OF(r), i + 1, b, true)) {
		if (i >= base + n) { /* read pagemap 64 pages at a time */
			base = i;
			n = b - i < 64 ? b - i : 64;
			err = ww__pagemap_read(u->pagemap, r->start + base * ps, ent, n);
			if (err)
				return err;
		}
		if (!(ent[i - base] & (WW_PM_PRESENT | WW_PM_SWAP)))
			continue; /* zapped: re-arm it */
		if (c < i) {
			err = protect_clear(u, r, c, i);
			if (err)
				return err;
		}
		c = i + 1; /* still there: not zapped yet, keep it */
	}
	return c < b ? protect_clear(u, r, c, b) : 0;
}

/* Under the lock: re-arm [a, b) of r (a reported run, or a reset range). A
 * discarded page is zapped by the kernel only after the handler has read
 * the event; until the page is seen gone from the page table (pagemap:
 * neither present nor swapped), its bit stays set, so it is reported again
 * after the zap. Once gone, it can come back only through a missing fault,
 * which the handler sees.
 *
 * UFFDIO_WRITEPROTECT fails with EAGAIN while an event is on its way to the
 * handler, which may be waiting for this lock: let it have it, then start
 * over, pagemap check included. The handler may just have marked pages of
 * [a, b) removed, with their zap still to come: re-protecting and clearing
 * them blindly lost the discard (test_discard_during_reset). Pages re-armed
 * by the first attempt are re-armed again, which is harmless: a write in
 * between is reported now (a run) or was the caller's own race (a reset). */
static int rearm_run(struct uw *u, struct uw_range *r, size_t a, size_t b)
{
	unsigned int tries = 0;
	int err;

	while ((err = rearm_once(u, r, a, b)) == -EAGAIN) {
		pthread_mutex_unlock(&u->lock);
		eagain_wait(&tries);
		pthread_mutex_lock(&u->lock);
	}
	return err;
}

/*
 * A UFFDIO_WRITEPROTECT call costs about 1 us, plus 0.06-0.14 us for each
 * page-table entry it rewrites, armed already or not (6.18 on x86-64; the
 * higher figure inside a take, with the handler thread awake). So runs at
 * most REARM_GAP kernel pages apart are re-protected by one call over the
 * stretch that holds them and the armed pages between: a COW take over
 * every 2nd page of 64 MiB 11.5 -> 3.9 ms, every 5th 5.3 -> 3.0 ms; at 7
 * pages apart one call per run was cheaper again, and one call over a
 * sparsely written 1 GiB cost 20 ms where a call per run (6,500) cost 6 ms
 * (BENCHMARKS.md, section 9d).
 */
#define REARM_GAP 4

/* Under the lock: the run starting at page a (its bit set) and the runs
 * after it up to REARM_GAP kernel pages apart, at most room, into runs[];
 * returns how many and sets *b to the end of the last. */
static size_t runs_group(struct uw_range *r, size_t a, size_t end, struct iovec *runs, size_t room,
			 size_t *b)
{
	size_t ps = ww__page_size(), k = 0;

	for (;;) {
		*b = ww__bit_next(r->bits, a, end, false);
		runs[k].iov_base = (void *)(r->start + a * ps);
		runs[k].iov_len = (*b - a) * ps;
		if (++k == room)
			break;
		a = ww__bit_next(r->bits, *b, end, true);
		if (a == end || (a - *b) * ps > REARM_GAP * r->unit)
			break;
	}
	return k;
}

/* Under the lock: re-arm several runs by one UFFDIO_WRITEPROTECT over
 * [s, e), from the first run's start to the last one's end. The pages
 * between the runs have their bits clear, so they are armed already (a
 * page is unprotected only after its bit is set) and protecting them
 * again changes nothing; only the runs' bits are cleared. A page set
 * between the runs while the lock was let go (EAGAIN) is protected and
 * keeps its bit: reported next time, never lost. Not done (-EAGAIN, the
 * caller goes run by run) where a page is marked removed: its zap may be
 * still to come (rearm_run), or where the call fails (-ENOENT, -EINVAL: a
 * part no longer registered), so that every error is the one a run gives. */
static int rearm_stretch(struct uw *u, struct uw_range *r, const struct iovec *runs, size_t n)
{
	size_t ps = ww__page_size();
	uintptr_t s = (uintptr_t)runs[0].iov_base;
	uintptr_t e = (uintptr_t)runs[n - 1].iov_base + runs[n - 1].iov_len;
	unsigned int tries = 0;
	int err;

	for (;;) {
		if (ww__bit_next(RM_OF(r), (s - r->start) / ps, (e - r->start) / ps, true) <
		    (e - r->start) / ps)
			return -EAGAIN;
		err = uw_wp(u, s, e, true);
		if (err != -EAGAIN)
			break;
		/* an event on its way to the handler: as in rearm_run */
		pthread_mutex_unlock(&u->lock);
		eagain_wait(&tries);
		pthread_mutex_lock(&u->lock);
	}
	if (err)
		return err;
	for (size_t k = 0; k < n; k++) {
		size_t a = ((uintptr_t)runs[k].iov_base - r->start) / ps;

		bits_clear(r->bits, a, a + runs[k].iov_len / ps);
	}
	return 0;
}

/* Under the lock: re-arm runs[0..n) of r (ascending, a group of
 * runs_group), in one call where that is cheaper and exact, else run by
 * run. *done: how many runs are re-armed (all of them when 0 is returned). */
static int rearm_runs(struct uw *u, struct uw_range *r, const struct iovec *runs, size_t n,
		      size_t *done)
{
	size_t ps = ww__page_size();
	int err;

	*done = 0;
	if (n > 1 && rearm_stretch(u, r, runs, n) == 0) {
		*done = n;
		return 0;
	}
	for (; *done < n; ++*done) {
		size_t a = ((uintptr_t)runs[*done].iov_base - r->start) / ps;

		err = rearm_run(u, r, a, a + runs[*done].iov_len / ps);
		if (err)
			return err;
	}
	return 0;
}

/* A collect holds the lock for this long at most while the handler waits
 * for it (handler_waits): a faulting writer's wait is bounded by about that,
 * and the collect is not cut into one system call per lock round trip. */
#define HANDOFF_NS 100000u

/* Collect from one range. With WW_RESET, each run is re-protected and then
 * its bits cleared under the lock; runs pass through a local buffer so that
 * out[] (which may be tracked memory) is written only without the lock. */
static ssize_t uw_collect(void *priv, uintptr_t s, uintptr_t e, unsigned int flags,
			  struct iovec *out, size_t max, uintptr_t *next)
{
	struct uw *u = priv;
	size_t ps = ww__page_size(), ri = range_find(u, s), n = 0, i, end;
	struct iovec runs[64];
	struct uw_range *r;
	int err = 0;

	if (ri == u->nranges)
		return -ENOENT;
	r = &u->ranges[ri];
	i = (s - r->start) / ps;
	end = (e - r->start) / ps;
	while (i < end && n < max && !err) {
		size_t k = 0, room = max - n < 64 ? max - n : 64;
		sigset_t mask;

		/* Also without WW_RESET: the handler records a discard or
		 * unmap event under this lock right after reading it, and the
		 * discarding thread may already be here. */
		uint64_t t0;

		block_signals(&mask);
		pthread_mutex_lock(&u->lock);
		t0 = ww__now_ns();
		while (k < room) {
			size_t a = ww__bit_next(r->bits, i, end, true), b, g, done;

			if (a == end) {
				i = end;
				break;
			}
			g = runs_group(r, a, end, runs + k, room - k, &b);
			if (flags & WW_RESET) {
				/* Protect, then clear: see the file comment. */
				err = rearm_runs(u, r, runs + k, g, &done);
				if (err) {
					/* report the runs re-armed; go on at the first not */
					k += done;
					i = ((uintptr_t)runs[k].iov_base - r->start) / ps;
					break;
				}
			}
			k += g;
			i = b;
			/* a writer waits on the handler: end the batch, soon */
			if (atomic_load_explicit(&u->handler_waits, memory_order_relaxed) &&
			    ww__now_ns() - t0 >= HANDOFF_NS)
				break;
		}
		pthread_mutex_unlock(&u->lock);
		pthread_sigmask(SIG_SETMASK, &mask, NULL);
		memcpy(out + n, runs, k * sizeof(*runs));
		n += k;
		/* the handler first, if it waits (handler_lock), a while at most */
		for (int y = 0;
		     y < 200 && atomic_load_explicit(&u->handler_waits, memory_order_relaxed); y++)
			sched_yield();
	}
	if (err) {
		ww__dbg("uffd-wp: re-protect at %#lx: %s", (unsigned long)(r->start + i * ps),
			strerror(-err));
		if (n == 0)
			return err == -ENOENT || err == -EINVAL ? -EFAULT : err;
	}
	*next = r->start + i * ps;
	return (ssize_t)n;
}

static int uw_reset(void *priv, uintptr_t s, uintptr_t e)
{
	struct uw *u = priv;
	size_t ps = ww__page_size(), ri = range_find(u, s);
	struct iovec runs[64];
	struct uw_range *r;
	sigset_t mask;
	int err;

	if (ri == u->nranges)
		return -ENOENT;
	r = &u->ranges[ri];
	block_signals(&mask);
	pthread_mutex_lock(&u->lock);
	/* Only the runs whose bits are set: a page is unprotected only after
	 * the handler set its bit (write fault, missing fault, discard event),
	 * so the others are armed already, and a clean reset is a bitmap scan
	 * (re-protecting the whole range rewrote every PTE: ~24 ms per GiB).
	 * As collect: a discarded page whose zap is still to come stays
	 * marked, or its change would land after the reset unseen. */
	err = 0;
	for (size_t i = (s - r->start) / ps, end = (e - r->start) / ps; i < end && !err;) {
		size_t a = ww__bit_next(r->bits, i, end, true), b, g, done;

		if (a >= end)
			break;
		g = runs_group(r, a, end, runs, 64, &b);
		err = rearm_runs(u, r, runs, g, &done);
		i = b;
	}
	pthread_mutex_unlock(&u->lock);
	pthread_sigmask(SIG_SETMASK, &mask, NULL);
	/* ENOENT/EINVAL: part of the range is no longer registered (the
	 * application unmapped or replaced it), as collect reports it. */
	return err == -ENOENT || err == -EINVAL ? -EFAULT : err;
}

struct probe_writer {
	volatile char *p;
};

static void *probe_write(void *arg)
{
	struct probe_writer *w = arg;

	*w->p = 42;
	return NULL;
}

/* Write-protect a scratch page, write it from a second thread, and check
 * that the fault message arrives, names the page, and that un-protecting it
 * lets the write complete. */
static int uw_probe(pid_t pid, char *why, size_t whylen)
{
	size_t ps = ww__page_size();
	bool user_only, pop;
	struct probe_writer w;
	struct uffd_msg msg;
	struct pollfd pfd;
	uint64_t ioctls = 0;
	pthread_t th;
	int fd, err, started = 0;
	char *m;

	if (pid)
		return ww__why(why, whylen, -EOPNOTSUPP, "uffd-wp cannot track another process");
	fd = uffd_sync(&user_only, &pop, why, whylen);
	if (fd < 0)
		return fd;
	m = mmap(NULL, 2 * ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED) {
		close(fd);
		return ww__why(why, whylen, -ENOMEM, "no memory for the probe");
	}
	memset(m, 1, 2 * ps);
	err = ww__uffd_register(fd, (uintptr_t)m, (uintptr_t)m + 2 * ps, UFFDIO_REGISTER_MODE_WP,
				&ioctls);
	if (err == -EINVAL) {
		err = ww__why(why, whylen, -EOPNOTSUPP,
			      "kernel cannot write-protect anonymous memory with userfaultfd "
			      "(needs Linux 5.7+ on x86-64, 6.10+ on arm64)");
		goto out;
	}
	if (!err && !(ioctls & (1ULL << _UFFDIO_WRITEPROTECT)))
		err = -EOPNOTSUPP;
	if (!err)
		err = ww__uffd_wp(fd, (uintptr_t)m, (uintptr_t)m + 2 * ps, true);
	if (err) {
		ww__why(why, whylen, err, "uffd write-protect registration failed: %s",
			strerror(-err));
		goto out;
	}
	w.p = m + ps + 7;
	err = -pthread_create(&th, NULL, probe_write, &w);
	if (err) {
		ww__why(why, whylen, err, "cannot start the probe thread");
		goto out;
	}
	started = 1;
	pfd = (struct pollfd){ .fd = fd, .events = POLLIN };
	/* A safety net, not a measurement: the message comes at once. */
	if (poll(&pfd, 1, 5000) != 1 || read(fd, &msg, sizeof(msg)) != sizeof(msg)) {
		err = ww__why(why, whylen, -EIO,
			      "uffd-wp self-test: no fault message for a write to a protected "
			      "page: kernel bug?");
		goto out;
	}
	if (msg.event != UFFD_EVENT_PAGEFAULT ||
	    !(msg.arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_WP) ||
	    (msg.arg.pagefault.address & ~(uint64_t)(ps - 1)) != (uintptr_t)m + ps) {
		err = ww__why(why, whylen, -EIO,
			      "uffd-wp self-test: wrong fault message (event %u flags %#llx): "
			      "kernel bug?",
			      msg.event, (unsigned long long)msg.arg.pagefault.flags);
		goto out;
	}
	err = ww__uffd_wp(fd, (uintptr_t)m + ps, (uintptr_t)m + 2 * ps, false);
	if (err)
		ww__why(why, whylen, err, "UFFDIO_WRITEPROTECT (resolve) failed: %s",
			strerror(-err));
out:
	/* Unregistering wakes the writer if anything above went wrong. */
	ww__uffd_unregister(fd, (uintptr_t)m, (uintptr_t)m + 2 * ps);
	if (started) {
		pthread_join(th, NULL);
		if (!err && m[ps + 7] != 42)
			err = ww__why(
				why, whylen, -EIO,
				"uffd-wp self-test: the resolved write was lost: kernel bug?");
	}
	close(fd);
	munmap(m, 2 * ps);
	return err;
}

/* A userfaultfd for user-mode faults only (the only kind an unprivileged
 * process may get where vm.unprivileged_userfaultfd is 0) makes the
 * kernel's own writes into protected pages fail with EFAULT. */
static unsigned int uw_tracker_caps(void *priv)
{
	const struct uw *u = priv;

	return u->user_only ? ~WW_CAP_KERNEL_WRITES : ~0u;
}

/* The core's copy-before-write hooks: handle_one asks them under the lock,
 * so taking it here is the barrier set_prewrite promises. Held faults are
 * asked again by the handler (every WW__PREWRITE_ASK_NS), or resolved
 * plainly once the hooks are gone. */
static void uw_set_prewrite(void *priv, const struct ww__prewrite *pw)
{
	struct uw *u = priv;
	sigset_t mask;

	block_signals(&mask);
	pthread_mutex_lock(&u->lock);
	u->pw = pw;
	pthread_mutex_unlock(&u->lock);
	pthread_sigmask(SIG_SETMASK, &mask, NULL);
}

/* The handler reads and handles a batch under the lock. */
static void uw_prewrite_sync(void *priv, uintptr_t start, uintptr_t end)
{
	struct uw *u = priv;
	sigset_t mask;

	(void)start; /* every event: they come in order */
	(void)end;
	block_signals(&mask);
	pthread_mutex_lock(&u->lock);
	pthread_mutex_unlock(&u->lock);
	pthread_sigmask(SIG_SETMASK, &mask, NULL);
}

/*
 * The page a write is held on, for the copy-before-write hook on the
 * handler thread. Not with memcpy: the application may discard the page
 * between the fault and this read (MADV_DONTNEED from another thread), and
 * a read of an anonymous page gone is a missing fault that this very
 * thread would have to answer (the process hung); an unmapped one killed
 * it. /proc/self/mem reads through the kernel, and its missing faults
 * cannot wait for a handler: they fail (EIO) instead. What it read is the
 * page held only if that is still write-protected after the read: a
 * discarded anonymous page loses its bit, a mapping put over the range
 * (mmap MAP_FIXED) is not registered, and nothing but the handler takes
 * the bit off a page whose write is held.
 */
static int uw_prewrite_read(void *priv, void *dst, uintptr_t a, size_t len)
{
	struct uw *u = priv;
	size_t ps = ww__page_size(), n = len / ps;
	uint64_t ent[64];
	ssize_t r;

	do
		r = pread(u->mem, dst, len, (off_t)a);
	while (r < 0 && errno == EINTR);
	if (r != (ssize_t)len)
		return -EFAULT;
	for (size_t i = 0; i < n; i += 64) {
		size_t k = n - i < 64 ? n - i : 64;

		if (ww__pagemap_read(u->pagemap, a + i * ps, ent, k))
			return -EFAULT;
		for (size_t j = 0; j < k; j++)
			if (!(ent[j] & WW_PM_UFFD_WP))
				return -EFAULT;
	}
	return 0;
}

static int uw_prewrite_check(void *priv, uintptr_t start, uintptr_t end, char *why, size_t whylen)
{
	struct uw *u = priv;

	(void)start;
	(void)end;
	if (u->mem >= 0)
		return 0;
	return ww__why(why, whylen, -EOPNOTSUPP,
		       "uffd-wp could not open /proc/self/mem, through which its handler "
		       "copies a page before a write");
}

/* Ask held faults again now, not at the next asking: a COW take's arming
 * has ended, and the writers it held should not wait any longer. */
static void uw_prewrite_kick(void *priv)
{
	struct uw *u = priv;
	uint64_t one = 1;

	while (write(u->kickfd, &one, sizeof(one)) < 0 && errno == EINTR)
		;
}

const struct ww__backend_ops ww__uffd_wp_ops = {
	.id = WW_BACKEND_UFFD_WP,
	.name = "uffd-wp",
	.caps = WW_CAP_NO_MISSED_WRITES | WW_CAP_EXACT | WW_CAP_ATOMIC_RESET | WW_CAP_RANGE_RESET |
		WW_CAP_KERNEL_WRITES | WW_CAP_DISCARDS | WW_CAP_HUGETLB | WW_CAP_PREWRITE,
	.tracker_caps = uw_tracker_caps,
	.probe = uw_probe,
	.open = uw_open,
	.close = uw_close,
	.track = uw_track,
	.untrack = uw_untrack,
	.collect = uw_collect,
	.reset = uw_reset,
	.set_prewrite = uw_set_prewrite,
	.prewrite_sync = uw_prewrite_sync,
	.prewrite_read = uw_prewrite_read,
	.prewrite_check = uw_prewrite_check,
	.prewrite_kick = uw_prewrite_kick,
};
