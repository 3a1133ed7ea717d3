/* SPDX-License-Identifier: MIT */
/*
 * The mprotect backend, for any kernel: tracked pages are made read-only; the
 * first write faults, our SIGSEGV handler records the page in a bitmap and
 * makes it writable again. Collect+reset re-protects reported pages.
 *
 * Invariant, per span and per writable page: bit set <=> page writable. The
 * handler and collect+reset each keep it by changing bit and protection
 * together under the span's spinlock, so a write is never lost. Rules that
 * keep the handler async-signal-safe and deadlock-free:
 *  - the handler takes only span spinlocks and calls only mprotect/sigaction;
 *  - no code holding a span lock touches tracked memory, and every holder
 *    blocks signals, so no fault can nest inside a critical section;
 *  - the handler finds spans through an immutable table: writers publish a
 *    new table, then wait until no handler is running before freeing;
 *  - a span being replaced is marked dead under its lock; a handler that
 *    meets a dead span returns, and the write retries against the new table.
 * Limits (see writewatch(7), docs/memkinds.md): kernel writes into tracked
 * memory fail with EFAULT; memory the application makes writable itself
 * (mprotect, mmap MAP_FIXED over tracked memory) is reported written as a
 * whole at the next collect, as its writes cannot be seen; discards
 * (MADV_DONTNEED, MADV_REMOVE) are not seen.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../internal.h"
#include "../sys/bitmap.h"
#include "../sys/sys.h"
#include "backend.h"

#define WORD_BITS 64

struct mp_prot {
	uintptr_t start, end;
	int prot; /* as the application had it */
	size_t unit; /* kernel page size: hugetlb pages change protection whole */
};

struct mp_span {
	uintptr_t start, end;
	atomic_flag lock;
	bool dead; /* replaced or removed; written under lock */
	struct mp_prot *prots;
	size_t nprots;
	_Atomic uint64_t *bits; /* one per page: written since last reset */
};

struct mp_table {
	size_t n;
	struct mp_span *span[]; /* sorted by start, disjoint */
};

static _Atomic(struct mp_table *) table;
static atomic_long inflight; /* handlers between table load and return */
static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER; /* writers */
static struct sigaction prev_sa;
static size_t nopen; /* open trackers; handler installed while > 0 */
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;
static sigset_t fork_saved_mask;

static __thread uintptr_t last_fault __attribute__((tls_model("initial-exec")));
/*
 * Bumped each time track, collect or reset re-protects pages (collect and
 * reset under the span lock).
 * A thread's retry is "the same fault again" (the application protected the
 * page itself) only if no re-protect happened in between: without this, a
 * stale last_fault from an earlier race on the same page, after a reset and
 * another thread winning the race again, chained our own fault (SIGSEGV).
 * 0 marks a retry taken with no span (see on_segv).
 */
static atomic_ulong reprotect_gen = 1;
static __thread unsigned long last_gen __attribute__((tls_model("initial-exec")));

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ volatile("yield");
#endif
}

/* The holder may be making a system call (mprotect) or be preempted: after
 * a short spin, give the CPU away rather than burn it (on 2 cores, spinning
 * writers starved the collector). sched_yield is a plain system call, safe
 * in the SIGSEGV handler. */
static void spin_lock(struct mp_span *sp)
{
	for (unsigned int n = 0; atomic_flag_test_and_set_explicit(&sp->lock, memory_order_acquire);
	     n++) {
		if (n < 64)
			cpu_relax();
		else
			sched_yield();
	}
}

static void spin_unlock(struct mp_span *sp)
{
	atomic_flag_clear_explicit(&sp->lock, memory_order_release);
}

static void block_signals(sigset_t *old)
{
	sigset_t all;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, old);
}

static void restore_signals(const sigset_t *old)
{
	pthread_sigmask(SIG_SETMASK, old, NULL);
}

static struct mp_span *table_find(struct mp_table *tb, uintptr_t a)
{
	size_t lo = 0, hi = tb ? tb->n : 0;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		struct mp_span *sp = tb->span[mid];

		if (a < sp->start)
			hi = mid;
		else if (a >= sp->end)
			lo = mid + 1;
		else
			return sp;
	}
	return NULL;
}

static const struct mp_prot *prot_of(const struct mp_span *sp, uintptr_t a)
{
	for (size_t i = 0; i < sp->nprots; i++)
		if (a >= sp->prots[i].start && a < sp->prots[i].end)
			return &sp->prots[i];
	return NULL;
}

/* Set [s, e) (inside sp) to its original protection, without write when
 * !writable. Non-writable parts are never touched. */
static int set_prot(const struct mp_span *sp, uintptr_t s, uintptr_t e, bool writable)
{
	for (size_t i = 0; i < sp->nprots; i++) {
		const struct mp_prot *p = &sp->prots[i];
		uintptr_t ps = p->start > s ? p->start : s, pe = p->end < e ? p->end : e;

		if (ps >= pe || !(p->prot & PROT_WRITE))
			continue;
		if (mprotect((void *)ps, pe - ps, writable ? p->prot : p->prot & ~PROT_WRITE))
			return -errno;
	}
	return 0;
}

static bool bit_test(const struct mp_span *sp, size_t i)
{
	return atomic_load_explicit(&sp->bits[i / WORD_BITS], memory_order_relaxed) &
	       (1ULL << (i % WORD_BITS));
}

static void bits_assign(struct mp_span *sp, size_t from, size_t to, bool v)
{
	for (size_t i = from; i < to; i++) {
		uint64_t m = 1ULL << (i % WORD_BITS);

		if (v)
			atomic_fetch_or_explicit(&sp->bits[i / WORD_BITS], m, memory_order_relaxed);
		else
			atomic_fetch_and_explicit(&sp->bits[i / WORD_BITS], ~m,
						  memory_order_relaxed);
	}
}

/* Pass a fault that is not ours to whoever had SIGSEGV before us. */
static void chain(int sig, siginfo_t *si, void *uc)
{
	if (prev_sa.sa_flags & SA_SIGINFO) {
		if (prev_sa.sa_sigaction)
			prev_sa.sa_sigaction(sig, si, uc);
		return;
	}
	if (prev_sa.sa_handler != SIG_DFL && prev_sa.sa_handler != SIG_IGN) {
		prev_sa.sa_handler(sig);
		return;
	}
	/* Default action: reinstate it; the faulting access repeats and the
	 * process dies as it would have without us. A signal sent by kill()
	 * does not repeat, so send it again (it stays pending until return). */
	signal(sig, SIG_DFL);
	if (si->si_code <= 0)
		raise(sig);
}

/* 1: handled (retry the access), 0: not ours. */
static int handle_fault(struct mp_span *sp, uintptr_t a)
{
	const struct mp_prot *pp = prot_of(sp, a);
	size_t ps = pp ? pp->unit : ww__page_size();
	uintptr_t page = a & ~(uintptr_t)(ps - 1);
	size_t idx = (page - sp->start) / ww__page_size(), nb = ps / ww__page_size();
	int prot = pp ? pp->prot : PROT_NONE;

	if (!(prot & PROT_WRITE))
		return 0; /* the application's own read-only or no-access memory */
	spin_lock(sp);
	if (sp->dead) {
		spin_unlock(sp);
		return 1; /* being replaced: retry finds the new table */
	}
	if (bit_test(sp, idx)) {
		/* Recorded and made writable already: either another thread won
		 * the race (a retry succeeds), or the application protected the
		 * page itself (the retry faults again: then it is theirs). */
		unsigned long gen = atomic_load(&reprotect_gen);

		spin_unlock(sp);
		if (last_fault == page && last_gen == gen) {
			last_fault = 0;
			return 0;
		}
		last_fault = page;
		last_gen = gen;
		return 1;
	}
	bits_assign(sp, idx, idx + nb, true);
	if (mprotect((void *)page, ps, prot)) {
		/* Out of VMAs (vm.max_map_count): give up precision, keep
		 * correctness: the whole span becomes written and writable. */
		if (set_prot(sp, sp->start, sp->end, true) == 0) {
			bits_assign(sp, 0, (sp->end - sp->start) / ps, true);
		} else {
			bits_assign(sp, idx, idx + nb, false);
			spin_unlock(sp);
			return 0;
		}
	}
	spin_unlock(sp);
	last_fault = 0;
	return 1;
}

static void on_segv(int sig, siginfo_t *si, void *uc)
{
	int saved = errno, handled = 0;
	uintptr_t a = (uintptr_t)si->si_addr;

	if (si->si_code == SEGV_ACCERR) {
		struct mp_span *sp;

		atomic_fetch_add(&inflight, 1);
		sp = table_find(atomic_load(&table), a);
		if (sp)
			handled = handle_fault(sp, a);
		atomic_fetch_sub(&inflight, 1);
		if (!sp) {
			/* Untracked while this fault was on its way? Retry once. */
			uintptr_t page = a & ~(uintptr_t)(ww__page_size() - 1);

			handled = last_fault != page || last_gen != 0;
			last_fault = handled ? page : 0;
			last_gen = 0;
		}
	}
	errno = saved;
	if (!handled)
		chain(sig, si, uc);
}

/* The span of this tracker that holds a. The span cannot go away (only its
 * own tracker, serialised by the core, removes it) but the table can, so look
 * it up as a counted reader. */
static struct mp_span *own_span(uintptr_t a)
{
	struct mp_span *sp;

	atomic_fetch_add(&inflight, 1);
	sp = table_find(atomic_load(&table), a);
	atomic_fetch_sub(&inflight, 1);
	return sp;
}

/* Publish a new table and wait until no handler can still see the old one. */
static void table_publish(struct mp_table *nt)
{
	struct mp_table *old = atomic_exchange(&table, nt);

	while (atomic_load(&inflight))
		sched_yield();
	free(old);
}

/* A copy of the current table with the spans in [at, at+del) replaced by
 * add[0..nadd). */
static struct mp_table *table_edit(size_t at, size_t del, struct mp_span **add, size_t nadd)
{
	struct mp_table *cur = atomic_load(&table);
	size_t n = cur ? cur->n : 0;
	struct mp_table *nt = malloc(sizeof(*nt) + (n - del + nadd) * sizeof(nt->span[0]));

	if (!nt)
		return NULL;
	nt->n = n - del + nadd;
	for (size_t i = 0; i < at; i++)
		nt->span[i] = cur->span[i];
	for (size_t i = 0; i < nadd; i++)
		nt->span[at + i] = add[i];
	for (size_t i = at + del; i < n; i++)
		nt->span[i - del + nadd] = cur->span[i];
	return nt;
}

/* Position of the first span ending above a. */
static size_t table_pos(uintptr_t a)
{
	struct mp_table *cur = atomic_load(&table);
	size_t i = 0;

	while (cur && i < cur->n && cur->span[i]->end <= a)
		i++;
	return i;
}

static void span_free(struct mp_span *sp)
{
	if (!sp)
		return;
	free(sp->prots);
	free(sp->bits);
	free(sp);
}

/* A span for [s, e) with protections copied from src (or read from maps if
 * src is NULL) and dirty bits copied from src. */
struct maps_ctx {
	struct mp_span *sp;
	size_t cap;
	int err;
};

static int maps_collect(const struct ww__map *m, void *arg)
{
	struct maps_ctx *c = arg;
	struct mp_span *sp = c->sp;
	uintptr_t s = m->start > sp->start ? m->start : sp->start;
	uintptr_t e = m->end < sp->end ? m->end : sp->end;

	if (m->start >= sp->end)
		return 1;
	if (s >= e)
		return 0;
	if (sp->nprots == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 4;
		struct mp_prot *n = realloc(sp->prots, cap * sizeof(*n));

		if (!n) {
			c->err = -ENOMEM;
			return 1;
		}
		sp->prots = n;
		c->cap = cap;
	}
	sp->prots[sp->nprots] = (struct mp_prot){ s, e, m->prot, ww__page_size() };
	/* hugetlb (a file on hugetlbfs, or MAP_HUGETLB): one protection per
	 * huge page. Only file-backed
	 * mappings (hugetlb always is) need the smaps read. */
	if (m->inode) {
		size_t u;

		if (ww__vma_page_size(0, s, &u, NULL) == 0 && u > ww__page_size())
			sp->prots[sp->nprots].unit = u;
	}
	sp->nprots++;
	return 0;
}

static struct mp_span *span_new(uintptr_t s, uintptr_t e, const struct mp_span *src, int *err)
{
	size_t ps = ww__page_size(), np = (e - s) / ps;
	struct mp_span *sp = calloc(1, sizeof(*sp));

	*err = -ENOMEM;
	if (!sp)
		return NULL;
	sp->start = s;
	sp->end = e;
	atomic_flag_clear(&sp->lock);
	sp->bits = calloc((np + WORD_BITS - 1) / WORD_BITS, sizeof(*sp->bits));
	if (!sp->bits)
		goto fail;
	if (src) {
		size_t off = (s - src->start) / ps;

		sp->prots = malloc(src->nprots * sizeof(*sp->prots));
		if (!sp->prots)
			goto fail;
		for (size_t i = 0; i < src->nprots; i++) {
			struct mp_prot p = src->prots[i];

			p.start = p.start > s ? p.start : s;
			p.end = p.end < e ? p.end : e;
			if (p.start < p.end)
				sp->prots[sp->nprots++] = p;
		}
		for (size_t i = 0; i < np; i++)
			if (bit_test(src, off + i))
				bits_assign(sp, i, i + 1, true);
	} else {
		struct maps_ctx c = { .sp = sp };
		int r = ww__maps_foreach(0, maps_collect, &c);

		if (r < 0 || c.err) {
			*err = r < 0 ? r : c.err;
			goto fail;
		}
	}
	*err = 0;
	return sp;
fail:
	span_free(sp);
	return NULL;
}

static void atfork_prepare(void)
{
	sigset_t old;
	struct mp_table *tb;

	block_signals(&old);
	fork_saved_mask = old;
	pthread_mutex_lock(&table_lock);
	tb = atomic_load(&table);
	for (size_t i = 0; tb && i < tb->n; i++)
		spin_lock(tb->span[i]);
}

static void atfork_release(void)
{
	struct mp_table *tb = atomic_load(&table);

	for (size_t i = 0; tb && i < tb->n; i++)
		spin_unlock(tb->span[i]);
	pthread_mutex_unlock(&table_lock);
	restore_signals(&fork_saved_mask);
}

/* The child has only the forking thread, which is in no handler: handlers
 * other threads were running at fork time never return there, so their
 * inflight counts must go, or the first untrack waits forever. */
static void atfork_child(void)
{
	atomic_store(&inflight, 0);
	atfork_release();
}

static void atfork_register(void)
{
	pthread_atfork(atfork_prepare, atfork_release, atfork_child);
}

static int mp_open(pid_t pid, void **priv)
{
	struct sigaction sa = { 0 };
	int err = 0;

	if (pid)
		return -EOPNOTSUPP;
	pthread_once(&atfork_once, atfork_register);
	pthread_mutex_lock(&table_lock);
	if (nopen == 0) {
		sa.sa_sigaction = on_segv;
		sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
		sigfillset(&sa.sa_mask);
		if (sigaction(SIGSEGV, &sa, &prev_sa))
			err = -errno;
	}
	if (!err)
		nopen++;
	pthread_mutex_unlock(&table_lock);
	*priv = NULL;
	return err;
}

static void mp_close(void *priv)
{
	struct sigaction cur;

	(void)priv;
	pthread_mutex_lock(&table_lock);
	if (--nopen == 0) {
		/* Put the previous handler back, unless the application has
		 * installed its own since: then ours is gone already. */
		if (sigaction(SIGSEGV, NULL, &cur) == 0 && (cur.sa_flags & SA_SIGINFO) &&
		    cur.sa_sigaction == on_segv)
			sigaction(SIGSEGV, &prev_sa, NULL);
	}
	pthread_mutex_unlock(&table_lock);
}

static int mp_track(void *priv, uintptr_t s, uintptr_t e)
{
	struct mp_table *cur, *nt;
	struct mp_span *sp;
	size_t at;
	int err;

	(void)priv;
	pthread_mutex_lock(&table_lock);
	cur = atomic_load(&table);
	at = table_pos(s);
	if (cur && at < cur->n && cur->span[at]->start < e) {
		err = -EBUSY; /* another tracker of this process has it */
		goto out;
	}
	sp = span_new(s, e, NULL, &err);
	if (!sp)
		goto out;
	nt = table_edit(at, 0, &sp, 1);
	if (!nt) {
		span_free(sp);
		err = -ENOMEM;
		goto out;
	}
	/* Publish before protecting, so no fault can miss the span. */
	table_publish(nt);
	atomic_fetch_add(&reprotect_gen, 1);
	err = set_prot(sp, s, e, false);
	if (err) {
		set_prot(sp, s, e, true);
		nt = table_edit(at, 1, NULL, 0);
		if (nt) {
			table_publish(nt);
			span_free(sp);
		} else {
			/* cannot shrink the table: keep the harmless span */
			bits_assign(sp, 0, (e - s) / ww__page_size(), true);
		}
	}
out:
	pthread_mutex_unlock(&table_lock);
	return err;
}

static int mp_untrack(void *priv, uintptr_t s, uintptr_t e)
{
	struct mp_span *old, *keep[2] = { NULL, NULL };
	struct mp_table *nt, *oldtb;
	size_t at, nkeep = 0;
	sigset_t mask;
	int err = 0;

	(void)priv;
	pthread_mutex_lock(&table_lock);
	at = table_pos(s);
	old = atomic_load(&table)->span[at];
	if (old->start < s && !(keep[nkeep++] = span_new(old->start, s, old, &err)))
		goto fail;
	if (e < old->end && !(keep[nkeep++] = span_new(e, old->end, old, &err)))
		goto fail;
	nt = table_edit(at, 1, keep, nkeep);
	if (!nt) {
		err = -ENOMEM;
		goto fail;
	}
	block_signals(&mask);
	spin_lock(old);
	/* Bits may have changed since span_new copied them: copy again now
	 * that the handler is held off. */
	for (size_t k = 0; k < nkeep; k++) {
		size_t ps = ww__page_size(), off = (keep[k]->start - old->start) / ps;

		for (size_t i = 0; i < (keep[k]->end - keep[k]->start) / ps; i++)
			bits_assign(keep[k], i, i + 1, bit_test(old, off + i));
	}
	/* The application may have unmapped part of it: mprotect stops at the
	 * first hole, so then go page by page and skip the holes. */
	if (set_prot(old, s, e, true) == -ENOMEM)
		for (uintptr_t a = s; a < e; a += ww__page_size())
			set_prot(old, a, a + ww__page_size(), true);
	old->dead = true;
	oldtb = atomic_exchange(&table, nt);
	spin_unlock(old);
	restore_signals(&mask);
	while (atomic_load(&inflight))
		sched_yield();
	pthread_mutex_unlock(&table_lock);
	free(oldtb);
	span_free(old);
	return 0;
fail:
	pthread_mutex_unlock(&table_lock);
	span_free(keep[0]);
	span_free(keep[1]);
	return err;
}

/* Writable stretches of [s, e) as /proc/self/maps has them now. */
struct wr_ctx {
	uintptr_t s, e;
	struct mp_prot *w; /* start/end only */
	size_t n, cap;
	int err;
};

static int wr_collect(const struct ww__map *m, void *arg)
{
	struct wr_ctx *c = arg;

	if (m->start >= c->e)
		return 1;
	if (m->end <= c->s || !(m->prot & PROT_WRITE))
		return 0;
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 8;
		struct mp_prot *n = realloc(c->w, cap * sizeof(*n));

		if (!n) {
			c->err = -ENOMEM;
			return 1;
		}
		c->w = n;
		c->cap = cap;
	}
	c->w[c->n++] = (struct mp_prot){ m->start > c->s ? m->start : c->s,
					 m->end < c->e ? m->end : c->e, m->prot, 0 };
	return 0;
}

/*
 * Pages of [s, e) that are writable now although their bit is clear were
 * made writable behind our back: the application's own mprotect, or a new
 * mapping put over tracked memory (mmap MAP_FIXED). Their writes cannot be
 * seen, so count them written (the next reset protects them again). Under
 * the lock, bit clear means "protected by us", and only this tracker
 * (serialised) clears bits, so a snapshot of maps taken before the lock is
 * good enough. The snapshot is taken outside the lock because reading it
 * allocates, and the heap may be tracked memory.
 */
static int adopt_writable(struct mp_span *sp, uintptr_t s, uintptr_t e)
{
	struct wr_ctx c = { .s = s, .e = e };
	size_t ps = ww__page_size();
	sigset_t mask;
	int r = ww__maps_range(s, e, wr_collect, &c);

	if (r < 0 || c.err) {
		free(c.w);
		return r < 0 ? r : c.err;
	}
	if (c.n) {
		block_signals(&mask);
		spin_lock(sp);
		for (size_t i = 0; i < c.n; i++)
			for (uintptr_t a = c.w[i].start; a < c.w[i].end; a += ps) {
				const struct mp_prot *pp = prot_of(sp, a);
				size_t idx = (a - sp->start) / ps;

				if (pp && (pp->prot & PROT_WRITE) && !bit_test(sp, idx))
					bits_assign(sp, idx, idx + 1, true);
			}
		spin_unlock(sp);
		restore_signals(&mask);
	}
	free(c.w);
	return 0;
}

/* Collect from one span; with reset, re-protect each run under the lock
 * before clearing its bits. Runs go through a local buffer so no tracked
 * memory (out may be tracked) is touched while the lock is held. */
static ssize_t mp_collect(void *priv, uintptr_t s, uintptr_t e, unsigned int flags,
			  struct iovec *out, size_t max, uintptr_t *next)
{
	size_t ps = ww__page_size(), n = 0;
	struct mp_span *sp = own_span(s);
	size_t i = (s - sp->start) / ps, end = (e - sp->start) / ps;
	struct iovec runs[64];
	int err = 0;

	(void)priv;
	err = adopt_writable(sp, s, e);
	if (err)
		return err;
	while (i < end && n < max && !err) {
		size_t k = 0, room = max - n < 64 ? max - n : 64;
		sigset_t mask;

		/* With reset, each run is re-protected and cleared under the
		 * span lock, taken per run so that faulting writers are not held
		 * up for a whole batch of mprotect calls; signals stay blocked
		 * for the batch (the lock must not be wanted by a handler on
		 * this thread). */
		if (flags & WW_RESET)
			block_signals(&mask);
		while (k < room) {
			size_t a, b;

			if (flags & WW_RESET) {
				spin_lock(sp);
				atomic_fetch_add(&reprotect_gen, 1);
			}
			a = ww__bit_next(sp->bits, i, end, true);
			if (a >= end) {
				i = end;
			} else {
				b = ww__bit_next(sp->bits, a, end, false);
				if (flags & WW_RESET) {
					err = set_prot(sp, sp->start + a * ps, sp->start + b * ps,
						       false);
					if (!err)
						bits_assign(sp, a, b, false);
				}
				if (err) {
					i = a;
				} else {
					runs[k].iov_base = (void *)(sp->start + a * ps);
					runs[k].iov_len = (b - a) * ps;
					k++;
					i = b;
				}
			}
			if (flags & WW_RESET)
				spin_unlock(sp);
			if (i >= end || err)
				break;
		}
		if (flags & WW_RESET)
			restore_signals(&mask);
		memcpy(out + n, runs, k * sizeof(*runs));
		n += k;
	}
	if (err && n == 0)
		return err;
	*next = sp->start + i * ps;
	return (ssize_t)n;
}

static int mp_reset(void *priv, uintptr_t s, uintptr_t e)
{
	size_t ps = ww__page_size();
	struct mp_span *sp = own_span(s);
	size_t i = (s - sp->start) / ps, end = (e - sp->start) / ps;
	sigset_t mask;
	int err = adopt_writable(sp, s, e);

	(void)priv;
	if (err)
		return err;
	block_signals(&mask);
	spin_lock(sp);
	atomic_fetch_add(&reprotect_gen, 1);
	while (i < end && !err) {
		size_t a = ww__bit_next(sp->bits, i, end, true), b;

		if (a >= end)
			break;
		b = ww__bit_next(sp->bits, a, end, false);
		err = set_prot(sp, sp->start + a * ps, sp->start + b * ps, false);
		if (!err)
			bits_assign(sp, a, b, false);
		i = b;
	}
	spin_unlock(sp);
	restore_signals(&mask);
	return err;
}

static int mp_probe(pid_t pid, char *why, size_t whylen)
{
	size_t ps = ww__page_size();
	void *m;
	int err = 0;

	if (pid)
		return ww__why(why, whylen, -EOPNOTSUPP, "mprotect cannot track another process");
	m = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		return ww__why(why, whylen, -ENOMEM, "no memory for the probe");
	if (mprotect(m, ps, PROT_READ) || mprotect(m, ps, PROT_READ | PROT_WRITE))
		err = ww__why(why, whylen, -errno, "mprotect failed: %s", strerror(errno));
	munmap(m, ps);
	return err;
}

const struct ww__backend_ops ww__mprotect_ops = {
	.id = WW_BACKEND_MPROTECT,
	.name = "mprotect",
	.caps = WW_CAP_NO_MISSED_WRITES | WW_CAP_EXACT | WW_CAP_ATOMIC_RESET | WW_CAP_RANGE_RESET |
		WW_CAP_HUGETLB | WW_CAP_PROTECTS,
	.traits = WW__FORK_LOCAL,
	.probe = mp_probe,
	.open = mp_open,
	.close = mp_close,
	.track = mp_track,
	.untrack = mp_untrack,
	.collect = mp_collect,
	.reset = mp_reset,
};
