/* SPDX-License-Identifier: MIT */
/*
 * The mprotect backend, for any kernel: tracked pages are made read-only; the
 * first write faults, our SIGSEGV handler records the page in a bitmap and
 * makes it writable again. Collect+reset re-protects reported pages.
 *
 * Invariant, per span and per page the application has writable: bit set
 * <=> page writable. The handler and collect+reset each keep it by changing
 * bit and protection together under the span's spinlock, so a write is never
 * lost. Rules that keep the handler async-signal-safe and deadlock-free:
 *  - the handler takes only span spinlocks (several only in ascending
 *    address order) and calls only mprotect/sigaction/sched_yield;
 *  - no code holding a span lock touches tracked memory, and every holder
 *    blocks signals, so no fault can nest inside a critical section;
 *  - everything the handler or a lock holder writes lives outside tracked
 *    memory: spans, bitmaps and tables are mappings of their own (never the
 *    application's heap), placed outside every tracked range, and track
 *    refuses ranges holding them or the backend's static and thread state;
 *  - the handler finds spans through an immutable table (a copy-on-write
 *    tree, below): writers publish a new version with one store of its
 *    root, then wait until no handler can still read what it replaced
 *    before reusing that;
 *  - a span being replaced is marked dead under its lock; a handler that
 *    meets a dead span returns, and the write retries against the new table.
 * What the application does to its memory behind our back is found at each
 * collect, reset and untrack by comparing /proc/self/maps and pagemap with
 * what we left: pages it made writable are reported written (their writes
 * cannot be seen), protections it changed become its own (reset and untrack
 * never loosen them), and anonymous content that was present when armed and
 * is gone now (a discard) is reported written. See writewatch(7).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../internal.h"
#include "../sys/bitmap.h"
#include "../sys/sys.h"
#include "backend.h"

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000 /* Linux 4.17 */
#endif

#define WORD_BITS 64
#define PG_PROT 7u /* PROT_READ | PROT_WRITE | PROT_EXEC */
#define PG_SHIFT 3 /* above: log2(unit / page size), unit the kernel page size */

/* Head of every mapping of our own (spans, node slabs): a treap by address,
 * so that track can refuse a range holding one in O(log n). Read and
 * written only under table_lock, never by the handler. */
struct mp_meta {
	uintptr_t end; /* this mapping is [(uintptr_t)this, end) */
	struct mp_meta *l, *r;
};

/* One open tracker (its priv). The handler reads pw only. */
struct mp_tracker {
	/* Copy-before-write (set_prewrite): the core's hooks, or NULL. */
	_Atomic(const struct ww__prewrite *) pw;
};

struct mp_span {
	struct mp_meta meta; /* first: the span is a mapping of its own */
	struct mp_tracker *owner;
	uintptr_t start, end;
	size_t mapsz; /* this span lives in a mapping of its own, of mapsz bytes */
	atomic_flag lock;
	bool dead; /* replaced or removed; written under lock */
	bool files; /* holds file or shared memory (pages not anonymous) */
	_Atomic uint64_t *bits; /* one per page: written since last reset */
	uint64_t *armed; /* one per page: anonymous content present when armed */
	uint8_t *pg; /* one per page: protection as the application has it, and unit */
};

/*
 * The span table the handler searches: a B+ tree of spans by start,
 * persistent (copy on write). A change copies the nodes on the path it
 * changes (and a sibling per level when nodes split or merge), builds the
 * new tree beside the old one and publishes it with one atomic store of the
 * root; a published node is never written again (but for `link`, which no
 * reader reads). So a handler sees one whole version of the table, as it
 * did when the table was one array copied per change, at O(FAN log n) per
 * change instead of O(n). Replaced nodes are reused once no handler can
 * still be reading them (st.inflight seen at 0 after the publish).
 * In an inner node key[i] is the smallest start below ptr[i], exactly;
 * no node but the root is empty; every leaf is at the same depth.
 */
#define FAN 29

struct mp_node {
	struct mp_node *link; /* free or retired list (writers only) */
	uint64_t txn; /* the change that made it: writable only in that one */
	unsigned int n;
	bool leaf;
	uintptr_t key[FAN + 1]; /* one over, until a split */
	void *ptr[FAN + 1]; /* leaf: struct mp_span *; inner: struct mp_node * */
};

/* Nodes come from slabs of our own, never the application's heap, one
 * page each: each track then maps about what it did when the table was an
 * array (a page for the span, one for the table now and then), so an
 * application that maps over an address it unmapped just before a track
 * (test_life mremap-move) meets our mappings no more often than it did. */
#define SLAB_BYTES ww__page_size()

struct mp_slab {
	struct mp_meta meta;
	struct mp_slab *next;
};

/* Everything the handler reads or writes, and every static a lock holder
 * writes with signals blocked, in one place, so that track can refuse a
 * range that holds it. */
static struct mp_state {
	_Atomic(struct mp_node *) table; /* the root */
	atomic_long inflight; /* handlers between table load and return */
	/* Bumped each time track, collect or reset re-protects pages (collect
	 * and reset under the span lock) and each time untrack removes a span.
	 * A thread's retry is "the same fault again" (the application protected
	 * the page itself) only if none of that happened in between: without
	 * this, a stale last_fault from an earlier race on the same page, after
	 * a reset and another thread winning the race again, chained our own
	 * fault (SIGSEGV). A retry taken with no span records the value with
	 * NOSPAN set (see on_segv): a stale one from an earlier untrack made a
	 * later untrack's fault in flight chain (hostile/close_writing, arm64). */
	atomic_ulong reprotect_gen;
	struct sigaction prev_sa;
	pthread_mutex_t table_lock; /* writers; everything below is under it */
	size_t nopen; /* open trackers; handler installed while > 0 */
	struct mp_meta *meta; /* treap of our mappings */
	struct mp_slab *slabs;
	struct mp_node *free_nodes;
	size_t nfree;
	uint64_t txn; /* last change's number (never wraps) */
} st = { .reprotect_gen = 1, .table_lock = PTHREAD_MUTEX_INITIALIZER };

static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static __thread uintptr_t last_fault __attribute__((tls_model("initial-exec")));
static __thread unsigned long last_gen __attribute__((tls_model("initial-exec")));
/* The page whose write a copy-before-write hook holds, and since when
 * (CLOCK_MONOTONIC ns): the write is retried, and the hook told how long
 * it has waited (backend.h). */
static __thread uintptr_t held_page __attribute__((tls_model("initial-exec")));
static __thread uint64_t held_since __attribute__((tls_model("initial-exec")));
/* In last_gen: a retry taken with no span (reprotect_gen never gets here). */
#define NOSPAN (1UL << (sizeof(unsigned long) * 8 - 1))

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

/* The kernel's signal mask call, without the SIGSEGV rule below: a lock
 * holder blocks every signal (sigfillset leaves out the C library's own). */
static int raw_sigmask(int how, const sigset_t *set, sigset_t *old)
{
	return syscall(SYS_rt_sigprocmask, how, set, old, (size_t)(_NSIG / 8)) ? errno : 0;
}

static void block_signals(sigset_t *old)
{
	sigset_t all;

	sigfillset(&all);
	raw_sigmask(SIG_SETMASK, &all, old);
}

static void restore_signals(const sigset_t *old)
{
	raw_sigmask(SIG_SETMASK, old, NULL);
}

/*
 * A thread that blocks SIGSEGV dies on its first write to a tracked page:
 * the kernel cannot deliver a synchronous SIGSEGV that is blocked, so it
 * resets the action to the default and kills the process; our handler never
 * runs. Threads that block every signal are common (a garbage collector's
 * marker threads, helper threads of runtimes), and the documented promise is
 * that any thread may write tracked memory at any time. So a program linked
 * with this library gets these two calls from it: they block what they are
 * asked to block except SIGSEGV. Blocking SIGSEGV never protected anyone
 * from a fault (the kernel kills regardless); all it changes is that a
 * SIGSEGV sent with kill() is delivered at once instead of later. Threads
 * that block it some other way (a raw system call, pthread_attr_setsigmask_np)
 * are named in a warning when a tracker opens; see writewatch(7).
 */
static int sigmask_keep_segv(int how, const sigset_t *set, sigset_t *old)
{
	sigset_t s;

	if (set && how != SIG_UNBLOCK) {
		s = *set;
		sigdelset(&s, SIGSEGV);
#if defined(__GLIBC__) && ULONG_MAX > 0xffffffffUL
		/* as glibc does: its own two signals (32, 33) stay unblocked */
		s.__val[0] &= ~(3UL << 31);
#endif
		set = &s;
	}
	return raw_sigmask(how, set, old);
}

WW_API int pthread_sigmask(int how, const sigset_t *set, sigset_t *old)
{
	return sigmask_keep_segv(how, set, old);
}

WW_API int sigprocmask(int how, const sigset_t *set, sigset_t *old)
{
	int r = sigmask_keep_segv(how, set, old);

	if (r) {
		errno = r;
		return -1;
	}
	return 0;
}

/* For each thread whose /proc status line `field` ("SigBlk:", "SigPnd:")
 * has SIGSEGV, call each (if not NULL) with its id; return how many. */
static int threads_with_segv(const char *field, void (*each)(const char *tid))
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *de;
	size_t flen = strlen(field);
	int n = 0;

	if (!d)
		return 0;
	while ((de = readdir(d))) {
		char path[64], line[128];
		FILE *f;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%.20s/status", de->d_name);
		f = fopen(path, "re");
		if (!f)
			continue;
		while (fgets(line, sizeof(line), f))
			if (!strncmp(line, field, flen)) {
				if (strtoull(line + flen, NULL, 16) & (1ULL << (SIGSEGV - 1))) {
					n++;
					if (each)
						each(de->d_name);
				}
				break;
			}
		fclose(f);
	}
	closedir(d);
	return n;
}

static void warn_blocker(const char *tid)
{
	ww__warn("mprotect: thread %s blocks SIGSEGV: its first write to tracked memory will "
		 "kill the process (writewatch(7), THREADS)",
		 tid);
}

/* Name the threads that block SIGSEGV now (by a means the calls above do
 * not see): their first write to a tracked page kills the process. */
static void warn_segv_blockers(void)
{
	threads_with_segv("SigBlk:", warn_blocker);
}

/* Thread tid's scheduler state letter and its time on a CPU in ns (from
 * schedstat, else utime + stime in ticks, scaled). false if it is gone. */
static bool thread_sched(const char *tid, char *state, unsigned long long *run)
{
	char path[64], buf[512], *p;
	unsigned long long ut = 0, st_ = 0;
	FILE *f;
	bool ok;

	snprintf(path, sizeof(path), "/proc/self/task/%.20s/stat", tid);
	f = fopen(path, "re");
	if (!f)
		return false;
	ok = fgets(buf, sizeof(buf), f) != NULL;
	fclose(f);
	p = ok ? strrchr(buf, ')') : NULL; /* the name may hold anything */
	if (!p || sscanf(p + 1, " %c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", state, &ut,
			 &st_) != 3)
		return false;
	snprintf(path, sizeof(path), "/proc/self/task/%.20s/schedstat", tid);
	f = fopen(path, "re");
	if (!f || fscanf(f, "%llu", run) != 1)
		*run = (ut + st_) * 10000000ULL; /* ticks, at least 10 ms each: coarse */
	if (f)
		fclose(f);
	return true;
}

/*
 * The last close puts the previous SIGSEGV action back (for most programs
 * the default: death). A write that hit a page before untrack made it
 * writable again may still bring a SIGSEGV of ours: the kernel decides on
 * the fault under the VMA's lock (which untrack's mprotect then waited
 * for), but queues the signal only after releasing it, and the thread takes
 * it only when it next returns to user space. Found by test_snapshot_cow
 * in a one-CPU VM and by hostile/close_writing on arm64. So, before the
 * action goes back: (1) every other thread that is runnable must run a
 * little (1 ms of CPU time) or stop being runnable: the path from the
 * decision to the queued signal never sleeps and takes microseconds, so
 * after that any such signal is queued; (2) then no thread may have a
 * SIGSEGV pending (SigPnd). A second at most; our handler, still in place,
 * finds no span and lets each such write retry.
 */
static void wait_segv_delivered(void)
{
	struct timespec pause = { 0, 100 * 1000 };
	struct thr {
		char tid[24];
		unsigned long long run;
	} *v = NULL;
	size_t n = 0, cap = 0;
	DIR *d = opendir("/proc/self/task");
	struct dirent *de;
	char me[24], state;
	int i = 0;

	snprintf(me, sizeof(me), "%d", (int)syscall(SYS_gettid));
	while (d && (de = readdir(d))) {
		unsigned long long run;

		if (de->d_name[0] == '.' || !strcmp(de->d_name, me) ||
		    !thread_sched(de->d_name, &state, &run) || state != 'R')
			continue;
		if (n == cap) {
			struct thr *nv = realloc(v, (cap = cap ? 2 * cap : 16) * sizeof(*v));

			if (!nv)
				break; /* then only the pending check below */
			v = nv;
		}
		snprintf(v[n].tid, sizeof(v[n].tid), "%.20s", de->d_name);
		v[n++].run = run;
	}
	if (d)
		closedir(d);
	for (size_t k = 0; k < n && i < 10000;) {
		unsigned long long run;

		if (!thread_sched(v[k].tid, &state, &run) || state != 'R' ||
		    run >= v[k].run + 1000000ULL) {
			k++;
			continue;
		}
		nanosleep(&pause, NULL);
		i++;
	}
	free(v);
	for (; i < 10000 && threads_with_segv("SigPnd:", NULL); i++)
		nanosleep(&pause, NULL);
}

static size_t npages(const struct mp_span *sp)
{
	return (sp->end - sp->start) / ww__page_size();
}

static uint8_t pg_get(const struct mp_span *sp, size_t i)
{
	return __atomic_load_n(&sp->pg[i], __ATOMIC_RELAXED);
}

static void pg_set(struct mp_span *sp, size_t i, uint8_t v)
{
	__atomic_store_n(&sp->pg[i], v, __ATOMIC_RELAXED);
}

/* Index of the last key <= a in nd, or -1. Reads only: the handler's. */
static int node_le(const struct mp_node *nd, uintptr_t a)
{
	unsigned int lo = 0, hi = nd->n;

	while (lo < hi) {
		unsigned int mid = lo + (hi - lo) / 2;

		if (nd->key[mid] <= a)
			lo = mid + 1;
		else
			hi = mid;
	}
	return (int)lo - 1;
}

/* The span starting last at or below a, or NULL. */
static struct mp_span *tree_le(const struct mp_node *nd, uintptr_t a)
{
	while (nd) {
		int i = node_le(nd, a);

		if (i < 0)
			return NULL; /* key[0] is the smallest start below nd */
		if (nd->leaf)
			return nd->ptr[i];
		nd = nd->ptr[i];
	}
	return NULL;
}

/* The span starting first at or above a, or NULL. */
static struct mp_span *tree_ge(const struct mp_node *nd, uintptr_t a)
{
	const struct mp_node *next = NULL; /* the subtree after the path */
	unsigned int i = 0;

	if (!nd)
		return NULL;
	while (!nd->leaf) {
		int c = node_le(nd, a);

		c = c < 0 ? 0 : c;
		if ((unsigned int)c + 1 < nd->n)
			next = nd->ptr[c + 1];
		nd = nd->ptr[c];
	}
	while (i < nd->n && nd->key[i] < a)
		i++;
	if (i < nd->n)
		return nd->ptr[i];
	if (!next)
		return NULL;
	while (!next->leaf)
		next = next->ptr[0];
	return next->ptr[0];
}

/* The span holding a, or NULL. */
static struct mp_span *table_find(const struct mp_node *tb, uintptr_t a)
{
	struct mp_span *sp = tree_le(tb, a);

	return sp && a < sp->end ? sp : NULL;
}

/* The first span ending above a, or NULL. */
static struct mp_span *table_after(const struct mp_node *tb, uintptr_t a)
{
	struct mp_span *sp = table_find(tb, a);

	return sp ? sp : tree_ge(tb, a);
}

static bool table_overlaps(const struct mp_node *tb, uintptr_t s, uintptr_t e)
{
	struct mp_span *sp = table_after(tb, s);

	return sp && sp->start < e;
}

/* Treap priority: the mapping's address, mixed (splitmix64's finaliser). */
static uint64_t meta_prio(const struct mp_meta *m)
{
	uint64_t z = (uint64_t)(uintptr_t)m;

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Split t into the mappings below k (*l) and the others (*r). */
static void meta_split(struct mp_meta *t, uintptr_t k, struct mp_meta **l, struct mp_meta **r)
{
	if (!t) {
		*l = *r = NULL;
	} else if ((uintptr_t)t < k) {
		meta_split(t->r, k, &t->r, r);
		*l = t;
	} else {
		meta_split(t->l, k, l, &t->l);
		*r = t;
	}
}

static struct mp_meta *meta_insert(struct mp_meta *t, struct mp_meta *m)
{
	if (!t)
		return m;
	if (meta_prio(m) > meta_prio(t)) {
		meta_split(t, (uintptr_t)m, &m->l, &m->r);
		return m;
	}
	if ((uintptr_t)m < (uintptr_t)t)
		t->l = meta_insert(t->l, m);
	else
		t->r = meta_insert(t->r, m);
	return t;
}

/* Join a and b, every mapping of a below every one of b. */
static struct mp_meta *meta_join(struct mp_meta *a, struct mp_meta *b)
{
	if (!a || !b)
		return a ? a : b;
	if (meta_prio(a) > meta_prio(b)) {
		a->r = meta_join(a->r, b);
		return a;
	}
	b->l = meta_join(a, b->l);
	return b;
}

static struct mp_meta *meta_remove(struct mp_meta *t, struct mp_meta *m)
{
	if (!t)
		return NULL;
	if (t == m)
		return meta_join(t->l, t->r);
	if ((uintptr_t)m < (uintptr_t)t)
		t->l = meta_remove(t->l, m);
	else
		t->r = meta_remove(t->r, m);
	return t;
}

/* Does [s, e) hold any of our own mappings (a span or a slab of nodes)?
 * They are disjoint: only the last one starting below e can reach s. */
static bool meta_overlaps(uintptr_t s, uintptr_t e)
{
	const struct mp_meta *t = st.meta, *last = NULL;

	while (t) {
		if ((uintptr_t)t < e) {
			last = t;
			t = t->r;
		} else {
			t = t->l;
		}
	}
	return last && last->end > s;
}

/*
 * Memory for our own state: a private mapping, never the application's heap
 * (it may be tracked: a write from the handler, with SIGSEGV blocked, to a
 * protected page kills the process). A tracked range the application has
 * unmapped is still in the table; a new mapping the kernel places there is
 * refused and the holes held while we ask again, or a later collect+reset
 * would protect it.
 */
struct holes {
	uintptr_t at, end;
	void *p[32];
	size_t len[32];
	int n;
};

/* Reserve [a, b), unmapped, until meta_map is done (MAP_FIXED_NOREPLACE,
 * 4.17+; an older kernel takes the address as a hint: then undo). */
static void hole_reserve(struct holes *h, uintptr_t a, uintptr_t b)
{
	void *p;

	if (a >= b || h->n == 32)
		return;
	p = mmap((void *)a, b - a, PROT_NONE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);
	if (p == (void *)a) {
		h->p[h->n] = p;
		h->len[h->n++] = b - a;
	} else if (p != MAP_FAILED) {
		munmap(p, b - a);
	}
}

static int hole_step(const struct ww__map *m, void *arg)
{
	struct holes *h = arg;

	hole_reserve(h, h->at, m->start < h->end ? m->start : h->end);
	if (m->end > h->at)
		h->at = m->end;
	return 0;
}

/* A mapping of our own of bytes (a multiple of the page size), beginning
 * with its struct mp_meta, entered in the treap. Under table_lock. */
static void *meta_map(size_t bytes)
{
	struct mp_node *tb = atomic_load(&st.table);
	struct holes h = { .n = 0 };
	struct mp_meta *m;
	void *p = NULL;

	for (int tries = 0; tries < 8 && !p; tries++) {
		p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED) {
			p = NULL;
			break;
		}
		if (table_overlaps(tb, (uintptr_t)p, (uintptr_t)p + bytes)) {
			/* In a hole a tracked range left: hold every hole of
			 * the ranges it touches, and ask again. */
			uintptr_t a = (uintptr_t)p;

			munmap(p, bytes);
			p = NULL;
			for (struct mp_span *sp = table_after(tb, a); sp && sp->start < a + bytes;
			     sp = tree_ge(tb, sp->end)) {
				h.at = sp->start;
				h.end = sp->end;
				ww__maps_range(h.at, h.end, hole_step, &h);
				hole_reserve(&h, h.at, h.end);
			}
		}
	}
	while (h.n--)
		munmap(h.p[h.n], h.len[h.n]);
	if (!p)
		return NULL;
	m = p;
	m->end = (uintptr_t)p + bytes;
	m->l = m->r = NULL;
	st.meta = meta_insert(st.meta, m);
	return p;
}

/* Under table_lock, once no handler can be reading p. */
static void meta_unmap(void *p)
{
	struct mp_meta *m = p;

	st.meta = meta_remove(st.meta, m);
	munmap(p, m->end - (uintptr_t)p);
}

static size_t round_page(size_t n)
{
	size_t m = ww__page_size() - 1;

	return (n + m) & ~m;
}

/*
 * mprotect the pages of [s, e) whose application protection has write, to
 * it (writable) or to it without write. sp covers s; if tb is not NULL,
 * the spans adjacent after sp in tb cover the rest, else sp alone does.
 * Runs of equal protection are changed in one call even across spans, so
 * that no VMA needs splitting inside them. No locks, no allocation: the
 * handler's.
 */
static int set_prot_spans(const struct mp_node *tb, struct mp_span *sp, uintptr_t s, uintptr_t e,
			  bool writable)
{
	size_t ps = ww__page_size();
	uintptr_t run = 0, b;
	int cur = -1, err = 0;

	for (;;) {
		uintptr_t a = sp->start > s ? sp->start : s;
		struct mp_span *next;

		b = sp->end < e ? sp->end : e;
		for (; a < b; a += ps) {
			int p = pg_get(sp, (a - sp->start) / ps) & PG_PROT;

			if (p == cur)
				continue;
			if (cur >= 0 && (cur & PROT_WRITE) &&
			    mprotect((void *)run, a - run, writable ? cur : cur & ~PROT_WRITE))
				err = err ? err : -errno;
			cur = p;
			run = a;
		}
		/* the next span holds b: it starts there (spans are disjoint) */
		next = tb && b < e ? table_find(tb, b) : NULL;
		if (!next)
			break;
		sp = next;
	}
	if (cur >= 0 && (cur & PROT_WRITE) &&
	    mprotect((void *)run, b - run, writable ? cur : cur & ~PROT_WRITE))
		err = err ? err : -errno;
	return err;
}

static int set_prot(struct mp_span *sp, uintptr_t s, uintptr_t e, bool writable)
{
	return set_prot_spans(NULL, sp, s, e, writable);
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

static bool armed_test(const struct mp_span *sp, size_t i)
{
	return sp->armed[i / WORD_BITS] & (1ULL << (i % WORD_BITS));
}

static void armed_assign(struct mp_span *sp, size_t i, bool v)
{
	if (v)
		sp->armed[i / WORD_BITS] |= 1ULL << (i % WORD_BITS);
	else
		sp->armed[i / WORD_BITS] &= ~(1ULL << (i % WORD_BITS));
}

/* Copy-before-write: the hooks of sp's tracker, or NULL. */
static const struct ww__prewrite *span_pw(const struct mp_span *sp)
{
	return sp->owner ? atomic_load_explicit(&sp->owner->pw, memory_order_acquire) : NULL;
}

/* [s, e) of sp becomes writable without its hook having seen a write there
 * (a discard, the application's own mprotect, a fallback at the VMA limit):
 * a COW snapshot that has not copied it yet has lost it. Called before the
 * page can change. No lock, no allocation: the handler's. */
static void span_lost(const struct mp_span *sp, uintptr_t s, uintptr_t e)
{
	const struct ww__prewrite *pw = span_pw(sp);

	if (pw)
		pw->discarded(pw->ctx, s, e);
}

static int page_content(uintptr_t a, size_t ps);

/*
 * Copy-before-write, in the handler under sp's lock, before [page, page +
 * nb pages) becomes writable for the first time since it was armed: hand
 * it to the hook (false: hold the write), or tell it the content is gone.
 * A page armed with content and holding none now was discarded since
 * (nothing else tells this mechanism of a discard). Memory the application
 * has write-only is armed without access: it cannot be read here.
 */
static bool prewrite(struct mp_span *sp, const struct ww__prewrite *pw, uintptr_t page, size_t nb,
		     int prot)
{
	size_t ps = ww__page_size(), i = (page - sp->start) / ps;
	bool armed =
		__atomic_load_n(&sp->armed[i / WORD_BITS], __ATOMIC_RELAXED) >> (i % WORD_BITS) & 1;
	uint64_t ns;
	int c;

	if (!(prot & PROT_READ)) {
		pw->discarded(pw->ctx, page, page + nb * ps);
		held_page = 0;
		return true;
	}
	c = page_content(page, ps);
	if (armed && c != 1) {
		pw->discarded(pw->ctx, page, page + nb * ps);
		held_page = 0;
		return true;
	}
	ns = ww__now_ns();
	if (held_page != page) { /* first asked: not held yet */
		held_page = page;
		held_since = ns;
	}
	/* no content in anonymous memory: it reads zero, do not fault it in */
	if (!pw->before(pw->ctx, page, nb * ps, c == 0 && !sp->files, ns - held_since))
		return false;
	held_page = 0; /* let go: the next hold of this page starts anew */
	return true;
}

/* Pass a fault that is not ours to whoever had SIGSEGV before us. */
static void chain(int sig, siginfo_t *si, void *uc)
{
	if (st.prev_sa.sa_flags & SA_SIGINFO) {
		if (st.prev_sa.sa_sigaction)
			st.prev_sa.sa_sigaction(sig, si, uc);
		return;
	}
	if (st.prev_sa.sa_handler != SIG_DFL && st.prev_sa.sa_handler != SIG_IGN) {
		st.prev_sa.sa_handler(sig);
		return;
	}
	/* Default action: reinstate it; the faulting access repeats and the
	 * process dies as it would have without us. A signal sent by kill()
	 * does not repeat, so send it again (it stays pending until return). */
	signal(sig, SIG_DFL);
	if (si->si_code <= 0)
		raise(sig);
}

/*
 * Out of VMAs (vm.max_map_count): making one page writable needs a split,
 * and so may making its whole span writable when a neighbouring span shares
 * its VMA (adjacent ranges). Give up precision, keep the program running:
 * every span adjacent to sp, as one block, becomes written and writable;
 * changing whole VMAs merges them and needs no split. Spans are locked in
 * ascending order (the only place that holds more than one). 1: done or
 * retry, 0: impossible (the fault is passed on).
 */
static int cluster_writable(const struct mp_node *tb, struct mp_span *sp)
{
	struct mp_span *lo = sp, *hi = sp, *p, *next;
	bool dead = false;
	int err;

	while (lo->start && (p = table_find(tb, lo->start - 1)))
		lo = p;
	while ((p = table_find(tb, hi->end)))
		hi = p;
	for (p = lo;; p = table_find(tb, p->end)) {
		spin_lock(p);
		dead |= p->dead;
		if (p == hi)
			break;
	}
	if (dead) {
		err = 0; /* being replaced: retry finds the new table */
	} else {
		for (p = lo;; p = table_find(tb, p->end)) {
			span_lost(p, p->start, p->end);
			if (p == hi)
				break;
		}
		err = set_prot_spans(tb, lo, lo->start, hi->end, true);
		if (!err)
			for (p = lo;; p = table_find(tb, p->end)) {
				bits_assign(p, 0, npages(p), true);
				if (p == hi)
					break;
			}
	}
	for (p = lo; p; p = next) {
		next = p == hi ? NULL : table_find(tb, p->end);
		spin_unlock(p);
	}
	return err == 0;
}

/* 1: handled (retry the access), 0: not ours, 2: held (wait, then retry). */
static int handle_fault(const struct mp_node *tb, struct mp_span *sp, uintptr_t a)
{
	const struct ww__prewrite *pw;
	size_t ps = ww__page_size(), unit, idx, nb;
	uintptr_t page;
	uint8_t b;
	int prot;

	/* The page's protection is read under the lock: refresh() changes
	 * it under the lock, and a value read before could be one it has
	 * just corrected (or, were it wrong, one it is about to). */
	spin_lock(sp);
	if (sp->dead) {
		spin_unlock(sp);
		return 1; /* being replaced: retry finds the new table */
	}
	b = pg_get(sp, (a - sp->start) / ps);
	prot = b & PG_PROT;
	if (!(prot & PROT_WRITE)) {
		spin_unlock(sp);
		return 0; /* the application's own read-only or no-access memory */
	}
	unit = ps << (b >> PG_SHIFT);
	page = a & ~(uintptr_t)(unit - 1);
	nb = unit / ps;
	if (page < sp->start)
		page = sp->start;
	idx = (page - sp->start) / ps;
	if (idx + nb > npages(sp))
		nb = npages(sp) - idx;
	if (bit_test(sp, idx)) {
		/* Recorded and made writable already: either another thread won
		 * the race (a retry succeeds), or the application protected the
		 * page itself (the retry faults again: then it is theirs). */
		unsigned long gen = atomic_load(&st.reprotect_gen);

		spin_unlock(sp);
		if (last_fault == page && last_gen == gen) {
			last_fault = 0;
			return 0;
		}
		last_fault = page;
		last_gen = gen;
		return 1;
	}
	pw = span_pw(sp);
	if (pw && !prewrite(sp, pw, page, nb, prot)) {
		spin_unlock(sp);
		last_fault = 0;
		return 2;
	}
	bits_assign(sp, idx, idx + nb, true);
	if (mprotect((void *)page, unit, prot)) {
		/* Out of VMAs (vm.max_map_count): give up precision, keep
		 * correctness: the whole span becomes written and writable,
		 * or else the block of adjacent spans it belongs to. */
		span_lost(sp, sp->start, sp->end);
		if (set_prot(sp, sp->start, sp->end, true) == 0) {
			bits_assign(sp, 0, npages(sp), true);
		} else {
			bits_assign(sp, idx, idx + nb, false);
			spin_unlock(sp);
			last_fault = 0;
			return cluster_writable(tb, sp);
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
		const struct mp_node *tb;
		struct mp_span *sp;

		atomic_fetch_add(&st.inflight, 1);
		tb = atomic_load(&st.table);
		sp = table_find(tb, a);
		if (sp)
			handled = handle_fault(tb, sp, a);
		atomic_fetch_sub(&st.inflight, 1);
		if (handled == 2) {
			/* a COW take is arming: wait outside the count (set_prewrite
			 * and untrack wait for it to drop), then write again */
			struct timespec ts = { 0, WW__PREWRITE_ASK_NS };

			nanosleep(&ts, NULL);
		}
		if (!sp) {
			/* Untracked while this fault was on its way? Retry once. */
			uintptr_t page = a & ~(uintptr_t)(ww__page_size() - 1);

			unsigned long gen = atomic_load(&st.reprotect_gen) | NOSPAN;

			handled = last_fault != page || last_gen != gen;
			last_fault = handled ? page : 0;
			last_gen = gen;
		}
	}
	errno = saved;
	if (!handled)
		chain(sig, si, uc);
}

/* The span of this tracker that holds a. The span cannot go away (only its
 * own tracker, serialised by the core, removes it) but the nodes can, so
 * look it up as a counted reader. */
static struct mp_span *own_span(uintptr_t a)
{
	struct mp_span *sp;

	atomic_fetch_add(&st.inflight, 1);
	sp = table_find(atomic_load(&st.table), a);
	atomic_fetch_sub(&st.inflight, 1);
	return sp;
}

/*
 * Changing the table (under table_lock). A change is a transaction: nodes
 * are reserved first (the only step that can fail), then the operations
 * build the new tree, copying a published node the first time they write
 * it (retiring the original) and writing nodes made in this transaction in
 * place; txn_swap publishes it, txn_finish waits until no handler can still
 * read what was replaced and reuses it. A handler counts itself in
 * st.inflight before it loads the root and out after its last read of a
 * node or span; all of these are sequentially consistent, so inflight read
 * as 0 after the swap means every handler that loaded an older root is done.
 */
struct txn {
	uint64_t id;
	struct mp_node *root;
	struct mp_node *retired;
};

static void node_free(struct mp_node *nd)
{
	nd->link = st.free_nodes;
	st.free_nodes = nd;
	st.nfree++;
}

/* At least k free nodes. */
static int nodes_reserve(size_t k)
{
	while (st.nfree < k) {
		struct mp_slab *sl = meta_map(SLAB_BYTES);
		uintptr_t p, end;

		if (!sl)
			return -ENOMEM;
		sl->next = st.slabs;
		st.slabs = sl;
		p = ((uintptr_t)(sl + 1) + 63) & ~(uintptr_t)63;
		end = (uintptr_t)sl + SLAB_BYTES;
		for (; p + sizeof(struct mp_node) <= end;
		     p += (sizeof(struct mp_node) + 63) & ~63UL)
			node_free((struct mp_node *)p);
	}
	return 0;
}

/* Give back every slab: the table is empty or gone (fork child), so no
 * node is in use, and none retired (each change waits for its own). */
static void slabs_release(void)
{
	while (st.slabs) {
		struct mp_slab *sl = st.slabs;

		st.slabs = sl->next;
		meta_unmap(sl);
	}
	st.free_nodes = NULL;
	st.nfree = 0;
}

/* Nodes one insert or delete may take: a copy and a split or a sibling
 * per level, a new root, with one level of growth. */
static size_t nodes_per_op(void)
{
	size_t h = 1;

	for (const struct mp_node *nd = atomic_load(&st.table); nd && !nd->leaf; nd = nd->ptr[0])
		h++;
	return 2 * (h + 1) + 1;
}

static void txn_begin(struct txn *tx)
{
	tx->id = ++st.txn;
	tx->root = atomic_load(&st.table);
	tx->retired = NULL;
}

/* Reserved beforehand: cannot fail. */
static struct mp_node *node_new(struct txn *tx, bool leaf)
{
	struct mp_node *nd = st.free_nodes;

	st.free_nodes = nd->link;
	st.nfree--;
	nd->link = NULL;
	nd->txn = tx->id;
	nd->n = 0;
	nd->leaf = leaf;
	return nd;
}

/* nd leaves the tree: reused now if no handler ever saw it, else retired. */
static void node_drop(struct txn *tx, struct mp_node *nd)
{
	if (nd->txn == tx->id) {
		node_free(nd);
	} else {
		nd->link = tx->retired;
		tx->retired = nd;
	}
}

/* nd, or its copy if published already: the node to write instead. */
static struct mp_node *node_w(struct txn *tx, struct mp_node *nd)
{
	struct mp_node *c;

	if (nd->txn == tx->id)
		return nd;
	c = node_new(tx, nd->leaf);
	c->n = nd->n;
	memcpy(c->key, nd->key, nd->n * sizeof(nd->key[0]));
	memcpy(c->ptr, nd->ptr, nd->n * sizeof(nd->ptr[0]));
	node_drop(tx, nd);
	return c;
}

static void node_ins(struct mp_node *nd, unsigned int i, uintptr_t k, void *v)
{
	memmove(&nd->key[i + 1], &nd->key[i], (nd->n - i) * sizeof(nd->key[0]));
	memmove(&nd->ptr[i + 1], &nd->ptr[i], (nd->n - i) * sizeof(nd->ptr[0]));
	nd->key[i] = k;
	nd->ptr[i] = v;
	nd->n++;
}

static void node_del(struct mp_node *nd, unsigned int i)
{
	memmove(&nd->key[i], &nd->key[i + 1], (nd->n - i - 1) * sizeof(nd->key[0]));
	memmove(&nd->ptr[i], &nd->ptr[i + 1], (nd->n - i - 1) * sizeof(nd->ptr[0]));
	nd->n--;
}

/* Move the entries [from, from+cnt) of a to position at of b (writable). */
static void node_move(struct mp_node *a, unsigned int from, unsigned int cnt, struct mp_node *b,
		      unsigned int at)
{
	memmove(&b->key[at + cnt], &b->key[at], (b->n - at) * sizeof(b->key[0]));
	memmove(&b->ptr[at + cnt], &b->ptr[at], (b->n - at) * sizeof(b->ptr[0]));
	memcpy(&b->key[at], &a->key[from], cnt * sizeof(a->key[0]));
	memcpy(&b->ptr[at], &a->ptr[from], cnt * sizeof(a->ptr[0]));
	b->n += cnt;
	memmove(&a->key[from], &a->key[from + cnt], (a->n - from - cnt) * sizeof(a->key[0]));
	memmove(&a->ptr[from], &a->ptr[from + cnt], (a->n - from - cnt) * sizeof(a->ptr[0]));
	a->n -= cnt;
}

/* Insert (k, v) below nd; the node that replaces nd, and in *split its new
 * right sibling if it overflowed. */
static struct mp_node *node_insert(struct txn *tx, struct mp_node *nd, uintptr_t k, void *v,
				   struct mp_node **split)
{
	int i = node_le(nd, k);

	nd = node_w(tx, nd);
	*split = NULL;
	if (nd->leaf) {
		node_ins(nd, (unsigned int)(i + 1), k, v);
	} else {
		struct mp_node *c, *sib;

		i = i < 0 ? 0 : i;
		c = node_insert(tx, nd->ptr[i], k, v, &sib);
		nd->ptr[i] = c;
		nd->key[i] = c->key[0];
		if (sib)
			node_ins(nd, (unsigned int)i + 1, sib->key[0], sib);
	}
	if (nd->n > FAN) {
		*split = node_new(tx, nd->leaf);
		node_move(nd, nd->n / 2, nd->n - nd->n / 2, *split, 0);
	}
	return nd;
}

static void tree_insert(struct txn *tx, uintptr_t k, void *v)
{
	struct mp_node *r, *sib;

	if (!tx->root) {
		r = node_new(tx, true);
		node_ins(r, 0, k, v);
	} else {
		r = node_insert(tx, tx->root, k, v, &sib);
		if (sib) {
			struct mp_node *top = node_new(tx, false);

			node_ins(top, 0, r->key[0], r);
			node_ins(top, 1, sib->key[0], sib);
			r = top;
		}
	}
	tx->root = r;
}

/* Child i of nd (writable) has become small: merge it with a neighbour,
 * or share their entries evenly. Keeps lookups O(log n) after shrinking. */
static void node_rebalance(struct txn *tx, struct mp_node *nd, unsigned int i)
{
	unsigned int l, t;
	struct mp_node *a, *b;

	if (nd->n < 2)
		return;
	l = i + 1 < nd->n ? i : i - 1;
	a = node_w(tx, nd->ptr[l]);
	b = node_w(tx, nd->ptr[l + 1]);
	t = a->n + b->n;
	if (t <= FAN) {
		node_move(b, 0, b->n, a, a->n);
		node_drop(tx, b);
		node_del(nd, l + 1);
	} else {
		if (a->n < t / 2)
			node_move(b, 0, t / 2 - a->n, a, a->n);
		else if (a->n > t / 2)
			node_move(a, t / 2, a->n - t / 2, b, 0);
		nd->ptr[l + 1] = b;
		nd->key[l + 1] = b->key[0];
	}
	nd->ptr[l] = a;
	nd->key[l] = a->key[0];
}

/* Delete the entry keyed k (present) below nd; the node that replaces nd,
 * NULL if it became empty. */
static struct mp_node *node_delete(struct txn *tx, struct mp_node *nd, uintptr_t k)
{
	int i = node_le(nd, k);

	nd = node_w(tx, nd);
	if (nd->leaf) {
		node_del(nd, (unsigned int)i);
	} else {
		struct mp_node *c = node_delete(tx, nd->ptr[i], k);

		if (!c) {
			node_del(nd, (unsigned int)i);
		} else {
			nd->ptr[i] = c;
			nd->key[i] = c->key[0];
			if (c->n < FAN / 4)
				node_rebalance(tx, nd, (unsigned int)i);
		}
	}
	if (nd->n == 0) {
		node_drop(tx, nd);
		return NULL;
	}
	return nd;
}

static void tree_delete(struct txn *tx, uintptr_t k)
{
	struct mp_node *r = node_delete(tx, tx->root, k);

	while (r && !r->leaf && r->n == 1) {
		struct mp_node *c = r->ptr[0];

		node_drop(tx, r);
		r = c;
	}
	tx->root = r;
}

static void txn_swap(struct txn *tx)
{
	atomic_store(&st.table, tx->root);
}

static void wait_readers(void)
{
	while (atomic_load(&st.inflight))
		sched_yield();
}

static void txn_finish(struct txn *tx)
{
	if (!tx->retired)
		return;
	wait_readers();
	while (tx->retired) {
		struct mp_node *nd = tx->retired;

		tx->retired = nd->link;
		node_free(nd);
	}
}

static void txn_publish(struct txn *tx)
{
	txn_swap(tx);
	txn_finish(tx);
}

/* Under table_lock, once no handler can be reading sp. */
static void span_free(struct mp_span *sp)
{
	if (sp)
		meta_unmap(sp);
}

/* Protections of [sp->start, sp->end) as /proc/self/maps has them. */
static int maps_collect(const struct ww__map *m, void *arg)
{
	struct mp_span *sp = arg;
	size_t ps = ww__page_size();
	uintptr_t s = m->start > sp->start ? m->start : sp->start;
	uintptr_t e = m->end < sp->end ? m->end : sp->end;
	unsigned int shift = 0;

	if (s >= e)
		return 0;
	if (m->inode || m->shared)
		sp->files = true;
	/* hugetlb (a file on hugetlbfs, or MAP_HUGETLB): one protection per
	 * huge page. Only file-backed mappings (hugetlb always is) need the
	 * smaps read. */
	if (m->inode) {
		size_t u;

		if (ww__vma_page_size(0, s, &u, NULL) == 0 && u > ps)
			while ((ps << shift) < u)
				shift++;
	}
	for (uintptr_t a = s; a < e; a += ps)
		sp->pg[(a - sp->start) / ps] = (uint8_t)((m->prot & PG_PROT) | shift << PG_SHIFT);
	return 0;
}

/* A span for [s, e) in a mapping of its own, with protections and dirty
 * bits copied from src, or protections read from maps if src is NULL. */
static struct mp_span *span_new(uintptr_t s, uintptr_t e, const struct mp_span *src, int *err)
{
	size_t ps = ww__page_size(), np = (e - s) / ps, words = (np + WORD_BITS - 1) / WORD_BITS;
	size_t bytes = round_page(sizeof(struct mp_span) + 2 * words * sizeof(uint64_t) + np);
	struct mp_span *sp = meta_map(bytes);
	char *p = (char *)(sp + 1);

	*err = -ENOMEM;
	if (!sp)
		return NULL;
	sp->start = s;
	sp->end = e;
	sp->mapsz = bytes;
	atomic_flag_clear(&sp->lock);
	p += (uintptr_t) - (uintptr_t)p % sizeof(uint64_t);
	sp->bits = (_Atomic uint64_t *)p;
	sp->armed = (uint64_t *)(p + words * sizeof(uint64_t));
	sp->pg = (uint8_t *)(p + 2 * words * sizeof(uint64_t));
	if (src) {
		size_t off = (s - src->start) / ps;

		memcpy(sp->pg, src->pg + off, np);
		sp->files = src->files;
		sp->owner = src->owner;
		for (size_t i = 0; i < np; i++) {
			if (bit_test(src, off + i))
				bits_assign(sp, i, i + 1, true);
			armed_assign(sp, i, armed_test(src, off + i));
		}
	} else {
		int r = ww__maps_range(s, e, maps_collect, sp);

		if (r < 0) {
			*err = r;
			span_free(sp);
			return NULL;
		}
	}
	*err = 0;
	return sp;
}

/*
 * Discards. A page "armed with content" held anonymous content when it was
 * last armed: present and not the zero page nor a file's page (a page of a
 * file or of shared memory keeps its content in the page cache when
 * unmapped), or swapped out. If at a collect it is neither present nor
 * swapped, or the file's page (a private copy dropped) or the zero page (a
 * read after the discard) stands in its place, its content was discarded
 * (MADV_DONTNEED, MADV_FREE reclaimed): it is reported written. pagemap
 * tells, by PAGEMAP_SCAN (6.7+: regions, a few ns per page) or else by
 * reading 8 bytes per page, where the zero page shows only as "present and
 * not exclusive" (a page shared with a fork child looks the same: reported
 * once, a documented false positive).
 */
#define CAT_GONE (PAGE_IS_PRESENT | PAGE_IS_SWAPPED)
#define CAT_STANDIN (PAGE_IS_PFNZERO | PAGE_IS_FILE)

/* The categories that tell content in sp: PAGE_IS_FILE costs the kernel a
 * look at every page (measured: 75 ns per page against 1), and only a
 * mapping of a file or of shared memory can hold file pages. */
static uint64_t standin(const struct mp_span *sp)
{
	return sp->files ? CAT_STANDIN : PAGE_IS_PFNZERO;
}

typedef void (*region_fn)(struct mp_span *sp, uintptr_t s, uintptr_t e, uint64_t cat);

/* PAGEMAP_SCAN over [s, e): fn for each region matching. A negative errno
 * if the kernel has none (ENOTTY, EINVAL) or it makes no progress. */
static int scan_regions(int fd, struct mp_span *sp, uintptr_t s, uintptr_t e, uint64_t inverted,
			uint64_t mask, uint64_t anyof, uint64_t ret, region_fn fn)
{
	struct page_region v[64];

	while (s < e) {
		struct pm_scan_arg a = { .size = sizeof(a),
					 .start = s,
					 .end = e,
					 .vec = (uintptr_t)v,
					 .vec_len = 64,
					 .category_inverted = inverted,
					 .category_mask = mask,
					 .category_anyof_mask = anyof,
					 .return_mask = ret };
		int n = ww__pagemap_scan(fd, &a);

		if (n < 0)
			return n;
		for (int i = 0; i < n; i++)
			fn(sp, v[i].start, v[i].end, v[i].categories);
		if (a.walk_end <= s)
			return -EIO;
		s = a.walk_end;
	}
	return 0;
}

static bool cat_has_content(uint64_t cat)
{
	return ((cat & PAGE_IS_PRESENT) && !(cat & CAT_STANDIN)) ||
	       ((cat & PAGE_IS_SWAPPED) && !(cat & PAGE_IS_FILE));
}

static bool ent_has_content(uint64_t v)
{
	return ((v & WW_PM_PRESENT) && !(v & WW_PM_FILE_SHARED) && (v & WW_PM_EXCLUSIVE)) ||
	       ((v & WW_PM_SWAP) && !(v & WW_PM_FILE_SHARED));
}

/*
 * pagemap's 8-byte entries (before 6.7) show the zero page only as "present
 * and not exclusive", and so a page shared with a fork child: a page that is
 * not all zeros is no zero page, so it holds content. Read by
 * process_vm_readv, not by load: the application may unmap it meanwhile,
 * which then fails instead of faulting. Not in the handler.
 */
static bool ent_content(uintptr_t a, uint64_t v)
{
	size_t ps = ww__page_size();
	uint64_t buf[512];

	if (ent_has_content(v))
		return true;
	if (!(v & WW_PM_PRESENT) || (v & WW_PM_FILE_SHARED))
		return false;
	for (size_t off = 0; off < ps; off += sizeof(buf)) {
		struct iovec to = { buf, sizeof(buf) }, from = { (void *)(a + off), sizeof(buf) };

		if (process_vm_readv(getpid(), &to, 1, &from, 1, 0) != (ssize_t)sizeof(buf))
			return false;
		for (size_t k = 0; k < sizeof(buf) / sizeof(buf[0]); k++)
			if (buf[k])
				return true;
	}
	return false;
}

/*
 * In the handler: does the page at a hold content? 1 yes, 0 no (not there,
 * or the zero page or a file's page stands in), -1 cannot tell (no
 * pagemap). Before 6.7 (no PAGEMAP_SCAN) the zero page shows only as
 * "present and not exclusive", as a page shared with a fork child does:
 * then content that is not all zero is no zero page.
 */
static int page_content(uintptr_t a, size_t ps)
{
	int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC), c = -1, n;
	struct page_region r;
	struct pm_scan_arg arg = { .size = sizeof(arg),
				   .start = a,
				   .end = a + ps,
				   .vec = (uintptr_t)&r,
				   .vec_len = 1,
				   .return_mask = CAT_GONE | CAT_STANDIN };
	uint64_t v;

	if (fd < 0)
		return -1;
	n = ww__pagemap_scan(fd, &arg);
	if (n >= 0) {
		c = n == 1 && cat_has_content(r.categories);
	} else if (pread(fd, &v, sizeof(v), (off_t)(a / ps * sizeof(v))) == (ssize_t)sizeof(v)) {
		c = ent_has_content(v);
		if (!c && (v & WW_PM_PRESENT) && !(v & WW_PM_FILE_SHARED)) {
			const uint64_t *w = (const uint64_t *)a;

			for (size_t k = 0; !c && k < ps / sizeof(*w); k++)
				c = w[k] != 0;
		}
	}
	close(fd);
	return c;
}

static void arm_region(struct mp_span *sp, uintptr_t s, uintptr_t e, uint64_t cat)
{
	size_t ps = ww__page_size();

	if (cat_has_content(cat))
		for (uintptr_t a = s; a < e; a += ps)
			armed_assign(sp, (a - sp->start) / ps, true);
}

/* Note which pages of [s, e) (inside sp), just armed, hold content. */
static void arm_present(struct mp_span *sp, uintptr_t s, uintptr_t e)
{
	size_t ps = ww__page_size();
	uint64_t ent[256];
	int fd = ww__pagemap_open(0);

	for (uintptr_t a = s; a < e; a += ps)
		armed_assign(sp, (a - sp->start) / ps, false);
	if (fd < 0)
		return; /* no pagemap: discards stay unseen */
	if (scan_regions(fd, sp, s, e, 0, 0, CAT_GONE, CAT_GONE | standin(sp), arm_region) == 0) {
		close(fd);
		return;
	}
	for (uintptr_t a = s; a < e;) {
		size_t n = (e - a) / ps < 256 ? (e - a) / ps : 256;

		if (ww__pagemap_read(fd, a, ent, n) == 0)
			for (size_t k = 0; k < n; k++)
				armed_assign(sp, (a - sp->start) / ps + k,
					     ent_content(a + k * ps, ent[k]));
		a += n * ps;
	}
	close(fd);
}

/* Count [s, e) (inside sp) discarded: each page armed with content and not
 * written since becomes written, made writable under the lock like a
 * write (bit set <=> writable). */
static void mark_discarded(struct mp_span *sp, uintptr_t s, uintptr_t e, uint64_t cat)
{
	size_t ps = ww__page_size();
	sigset_t mask;

	(void)cat;
	block_signals(&mask);
	spin_lock(sp);
	for (uintptr_t a = s; a < e; a += ps) {
		size_t i = (a - sp->start) / ps;
		int prot = pg_get(sp, i) & PG_PROT;

		if (!armed_test(sp, i) || bit_test(sp, i))
			continue;
		span_lost(sp, a, a + ps);
		if ((prot & PROT_WRITE) && mprotect((void *)a, ps, prot))
			continue; /* no VMA to spare: reported by a later collect */
		bits_assign(sp, i, i + 1, true);
		armed_assign(sp, i, false);
	}
	spin_unlock(sp);
	restore_signals(&mask);
}

/* Any page of [s, e) armed with content and not written since? */
static bool any_armed_clean(const struct mp_span *sp, uintptr_t s, uintptr_t e)
{
	size_t ps = ww__page_size();

	for (size_t i = (s - sp->start) / ps, end = (e - sp->start) / ps; i < end;) {
		if (i % WORD_BITS == 0 && end - i >= WORD_BITS) {
			if (sp->armed[i / WORD_BITS] &
			    ~atomic_load_explicit(&sp->bits[i / WORD_BITS], memory_order_relaxed))
				return true;
			i += WORD_BITS;
		} else {
			if (armed_test(sp, i) && !bit_test(sp, i))
				return true;
			i++;
		}
	}
	return false;
}

static int find_discards(struct mp_span *sp, uintptr_t s, uintptr_t e)
{
	size_t ps = ww__page_size();
	uint64_t ent[256];
	int fd;

	if (!any_armed_clean(sp, s, e))
		return 0;
	fd = ww__pagemap_open(0);
	if (fd < 0)
		return 0; /* no pagemap: discards stay unseen */
	/* stood in for: zero or file page; gone: neither present nor swapped.
	 * In this order: a page discarded again between the two scans (zero
	 * page, then none) is found by the second; the other order missed it,
	 * and a COW read took the zero page it had read for content. */
	if (scan_regions(fd, sp, s, e, 0, 0, standin(sp), standin(sp), mark_discarded) == 0 &&
	    scan_regions(fd, sp, s, e, CAT_GONE, CAT_GONE, 0, CAT_GONE, mark_discarded) == 0) {
		close(fd);
		return 0;
	}
	for (uintptr_t a = s; a < e;) {
		size_t n = (e - a) / ps < 256 ? (e - a) / ps : 256;

		if (any_armed_clean(sp, a, a + n * ps) && ww__pagemap_read(fd, a, ent, n) == 0)
			for (size_t k = 0; k < n; k++)
				if (!ent_content(a + k * ps, ent[k]))
					mark_discarded(sp, a + k * ps, a + (k + 1) * ps, 0);
		a += n * ps;
	}
	close(fd);
	return 0;
}

/* Protections of [s, e) as /proc/self/maps has them now. */
struct seg {
	uintptr_t s, e;
	int prot;
};

struct seg_ctx {
	uintptr_t s, e;
	struct seg *v;
	size_t n, cap;
	int err;
};

static int seg_collect(const struct ww__map *m, void *arg)
{
	struct seg_ctx *c = arg;

	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 8;
		struct seg *n = realloc(c->v, cap * sizeof(*n));

		if (!n) {
			c->err = -ENOMEM;
			return 1;
		}
		c->v = n;
		c->cap = cap;
	}
	c->v[c->n++] = (struct seg){ m->start > c->s ? m->start : c->s,
				     m->end < c->e ? m->end : c->e, m->prot & (int)PG_PROT };
	return 0;
}

/*
 * What the application did to the protections of [s, e) since we last
 * looked, adopted as its own. We expect a page to be as the application
 * had it when its bit is set (written, made writable) and the same without
 * write when clear (protected by us). Otherwise the application changed it:
 *  - writable although clear: made writable behind our back (its own
 *    mprotect, reserve-then-commit, a mapping put over it): its writes
 *    cannot be seen, so it counts as written;
 *  - anything else (read-only or no access where we left it writable, no
 *    access where we left it readable): its own protection, which reset
 *    and untrack then keep instead of loosening.
 * Bits are set only by the handler and cleared only by this (serialised)
 * tracker, so a bitmap copy taken before reading maps tells a handler that
 * ran meanwhile (bit set since: not a change) from the application. A
 * read-only page over a clean one looks like ours: that change is unseen.
 * maps is read outside the lock, which a heap allocation must not be under
 * (the heap may be tracked).
 */
static int refresh(struct mp_span *sp, uintptr_t s, uintptr_t e)
{
	size_t ps = ww__page_size(), i0 = (s - sp->start) / ps, n = (e - s) / ps;
	struct seg_ctx c = { .s = s, .e = e };
	size_t w0 = i0 / WORD_BITS, nw = (i0 + n + WORD_BITS - 1) / WORD_BITS - w0;
	uint64_t *before = malloc((nw ? nw : 1) * sizeof(uint64_t));
	sigset_t mask;
	int r;

	if (!before)
		return -ENOMEM;
	/* The copy is taken under the lock: a handler sets a bit and makes the
	 * page writable in one critical section, so a bit seen set here is a
	 * page already writable. Read without the lock, a bit could be set
	 * while maps still showed the page protected, and that protection
	 * was then adopted as the application's (read-only), so a writer that
	 * had faulted on the page meanwhile was passed on as not ours: the
	 * rare SIGSEGV of win32_threads/mprotect. */
	block_signals(&mask);
	spin_lock(sp);
	for (size_t w = 0; w < nw; w++)
		before[w] = atomic_load_explicit(&sp->bits[w0 + w], memory_order_relaxed);
	spin_unlock(sp);
	restore_signals(&mask);
	r = ww__maps_range(s, e, seg_collect, &c);
	if (r >= 0 && !c.err) {
		for (size_t j = 0; j < c.n; j++) {
			for (uintptr_t a = c.v[j].s; a < c.v[j].e;) {
				uintptr_t b = c.v[j].e - a > 4096 * ps ? a + 4096 * ps : c.v[j].e;

				block_signals(&mask);
				spin_lock(sp);
				for (; a < b; a += ps) {
					size_t i = (a - sp->start) / ps;
					uint8_t pb = pg_get(sp, i);
					int rec = pb & PG_PROT, cur = c.v[j].prot, want;
					bool bit = bit_test(sp, i);

					if (bit != !!(before[i / WORD_BITS - w0] &
						      (1ULL << (i % WORD_BITS))))
						continue; /* a handler ran meanwhile */
					want = bit ? rec : rec & ~PROT_WRITE;
					if (cur == want)
						continue;
					if ((cur & PROT_WRITE) && !bit) {
						bits_assign(sp, i, i + 1, true);
						span_lost(sp, a, a + ps);
					}
					pg_set(sp, i, (uint8_t)((pb & ~PG_PROT) | (unsigned)cur));
				}
				spin_unlock(sp);
				restore_signals(&mask);
			}
		}
	}
	free(before);
	free(c.v);
	return r < 0 ? r : c.err;
}

/*
 * fork: the child gets a copy of the memory with our protections, of the
 * table and of the handler, but none of the trackers (they are inert there,
 * see tracker.c), and only the forking thread. Nothing in the child will
 * ever collect, so give it its memory back as the application had it, drop
 * the table (the child can then track that memory itself) and put back the
 * SIGSEGV action we replaced. Span locks other threads held at fork time are
 * simply dropped with the spans: nothing is held across fork, so the fork
 * handlers the application registered, which run inside the window, may
 * write tracked memory like any other code.
 */
static void atfork_prepare(void)
{
	pthread_mutex_lock(&st.table_lock);
}

static void atfork_parent(void)
{
	pthread_mutex_unlock(&st.table_lock);
}

static void atfork_child(void)
{
	struct mp_node *tb = atomic_load(&st.table);
	struct mp_span *sp, *next;
	struct sigaction cur;
	size_t ps = ww__page_size();

	atomic_store(&st.inflight, 0);
	for (sp = tree_ge(tb, 0); sp; sp = tree_ge(tb, sp->end)) {
		atomic_flag_clear(&sp->lock);
		if (set_prot(sp, sp->start, sp->end, true) == -ENOMEM)
			for (uintptr_t a = sp->start; a < sp->end; a += ps)
				set_prot(sp, a, a + ps, true);
	}
	atomic_store(&st.table, NULL);
	for (sp = tree_ge(tb, 0); sp; sp = next) {
		next = tree_ge(tb, sp->end);
		munmap(sp, sp->mapsz);
	}
	st.meta = NULL;
	while (st.slabs) {
		struct mp_slab *sl = st.slabs;

		st.slabs = sl->next;
		munmap(sl, SLAB_BYTES);
	}
	st.free_nodes = NULL;
	st.nfree = 0;
	if (st.nopen && sigaction(SIGSEGV, NULL, &cur) == 0 && (cur.sa_flags & SA_SIGINFO) &&
	    cur.sa_sigaction == on_segv)
		sigaction(SIGSEGV, &st.prev_sa, NULL);
	st.nopen = 0;
	pthread_mutex_unlock(&st.table_lock);
}

/* Registered when the library is loaded, before the application registers
 * its own handlers, as a rule: ours then run last before fork (nothing the
 * application's prepare handlers do is held up by table_lock) and first in
 * the child (the table is gone before its child handlers write). */
static void atfork_register(void)
{
	/* mp_track holds table_lock while it asks the kernel about mappings
	 * (src/sys, query_lock): fork must take the two in that order too.
	 * Prepare handlers run in the reverse order of registration, so the
	 * query handlers are registered first (regression: a fork racing
	 * with ww_track deadlocked, each thread holding one lock). */
	ww__sys_fork_init();
	pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
}

__attribute__((constructor)) static void atfork_at_load(void)
{
	pthread_once(&atfork_once, atfork_register);
}

static int mp_open(pid_t pid, void **priv, char *why, size_t whylen)
{
	struct sigaction sa = { 0 };
	int err = 0;

	if (pid)
		return ww__why(why, whylen, -EOPNOTSUPP, "cannot track another process");
	*priv = calloc(1, sizeof(struct mp_tracker));
	if (!*priv)
		return -ENOMEM;
	pthread_once(&atfork_once, atfork_register);
	pthread_mutex_lock(&st.table_lock);
	if (st.nopen == 0) {
		sa.sa_sigaction = on_segv;
		sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
		sigfillset(&sa.sa_mask);
		if (sigaction(SIGSEGV, &sa, &st.prev_sa))
			err = ww__why(why, whylen, -errno, "cannot install the SIGSEGV handler: %s",
				      strerror(errno));
	}
	if (!err)
		st.nopen++;
	pthread_mutex_unlock(&st.table_lock);
	if (!err && ww__log_level >= WW_LOG_WARN)
		warn_segv_blockers();
	if (err) {
		free(*priv);
		*priv = NULL;
	}
	return err;
}

static void mp_close(void *priv)
{
	struct sigaction cur;

	free(priv); /* its spans are gone: no handler reads it */
	pthread_mutex_lock(&st.table_lock);
	if (st.nopen && --st.nopen == 0) {
		/* Put the previous handler back, unless the application has
		 * installed its own since: then ours is gone already. */
		wait_segv_delivered();
		if (sigaction(SIGSEGV, NULL, &cur) == 0 && (cur.sa_flags & SA_SIGINFO) &&
		    cur.sa_sigaction == on_segv)
			sigaction(SIGSEGV, &st.prev_sa, NULL);
	}
	/* Its ranges are untracked: with no other tracker's left, the nodes
	 * go back too (a handler still on its way loaded an empty table, or
	 * an older one the last untrack waited for). */
	if (!atomic_load(&st.table))
		slabs_release();
	pthread_mutex_unlock(&st.table_lock);
}

static bool holds(uintptr_t s, uintptr_t e, const void *p, size_t len)
{
	return (uintptr_t)p < e && (uintptr_t)p + len > s;
}

/* Memory the handler writes with SIGSEGV blocked: tracking it would kill
 * the process on the first fault. Our mappings, our statics, this thread's
 * thread-local state. (The stacks the handler runs on are refused by the
 * core, or belong to other threads: see writewatch(7).) */
static bool holds_own_state(uintptr_t s, uintptr_t e)
{
	return meta_overlaps(s, e) || holds(s, e, &st, sizeof(st)) ||
	       holds(s, e, &last_fault, sizeof(last_fault)) ||
	       holds(s, e, &last_gen, sizeof(last_gen)) || holds(s, e, &errno, sizeof(errno));
}

static int mp_track(void *priv, uintptr_t s, uintptr_t e)
{
	struct mp_span *sp;
	struct txn tx;
	int err;

	pthread_mutex_lock(&st.table_lock);
	if (table_overlaps(atomic_load(&st.table), s, e)) {
		err = -EBUSY; /* another tracker of this process has it */
		goto out;
	}
	if (holds_own_state(s, e)) {
		err = -EBUSY; /* the library's own state */
		goto out;
	}
	sp = span_new(s, e, NULL, &err);
	if (!sp)
		goto out;
	sp->owner = priv;
	if (nodes_reserve(nodes_per_op())) {
		span_free(sp);
		err = -ENOMEM;
		goto out;
	}
	txn_begin(&tx);
	tree_insert(&tx, s, sp);
	/* Publish before protecting, so no fault can miss the span. */
	txn_publish(&tx);
	atomic_fetch_add(&st.reprotect_gen, 1);
	err = set_prot(sp, s, e, false);
	if (err) {
		set_prot(sp, s, e, true);
		if (nodes_reserve(nodes_per_op()) == 0) {
			txn_begin(&tx);
			tree_delete(&tx, s);
			txn_swap(&tx);
			wait_readers();
			txn_finish(&tx);
			span_free(sp);
		} else {
			/* cannot shrink the table: keep the harmless span */
			bits_assign(sp, 0, npages(sp), true);
		}
	} else {
		arm_present(sp, s, e);
	}
out:
	pthread_mutex_unlock(&st.table_lock);
	return err;
}

static int mp_untrack(void *priv, uintptr_t s, uintptr_t e)
{
	struct mp_span *old, *keep[2] = { NULL, NULL };
	size_t nkeep = 0;
	struct txn tx;
	sigset_t mask;
	int err = 0;

	(void)priv;
	pthread_mutex_lock(&st.table_lock);
	old = table_find(atomic_load(&st.table), s);
	/* Keep what the application set since (a guard page stays a guard
	 * page); best effort. */
	refresh(old, s, e);
	if (old->start < s && !(keep[nkeep++] = span_new(old->start, s, old, &err)))
		goto fail;
	if (e < old->end && !(keep[nkeep++] = span_new(e, old->end, old, &err)))
		goto fail;
	if (nodes_reserve(3 * nodes_per_op())) {
		err = -ENOMEM;
		goto fail;
	}
	txn_begin(&tx);
	tree_delete(&tx, old->start);
	for (size_t k = 0; k < nkeep; k++)
		tree_insert(&tx, keep[k]->start, keep[k]);
	block_signals(&mask);
	spin_lock(old);
	/* Bits may have changed since span_new copied them: copy again now
	 * that the handler is held off. */
	for (size_t k = 0; k < nkeep; k++) {
		size_t ps = ww__page_size(), off = (keep[k]->start - old->start) / ps;

		for (size_t i = 0; i < npages(keep[k]); i++)
			bits_assign(keep[k], i, i + 1, bit_test(old, off + i));
	}
	/* The application may have unmapped part of it: mprotect stops at the
	 * first hole, so then go page by page and skip the holes. */
	if (set_prot(old, s, e, true) == -ENOMEM)
		for (uintptr_t a = s; a < e; a += ww__page_size())
			set_prot(old, a, a + ww__page_size(), true);
	old->dead = true;
	txn_swap(&tx);
	atomic_fetch_add(&st.reprotect_gen, 1); /* a fault with no span is new */
	spin_unlock(old);
	restore_signals(&mask);
	wait_readers();
	txn_finish(&tx);
	span_free(old);
	pthread_mutex_unlock(&st.table_lock);
	return 0;
fail:
	span_free(keep[0]);
	span_free(keep[1]);
	pthread_mutex_unlock(&st.table_lock);
	return err;
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
	err = refresh(sp, s, e);
	if (err)
		return err;
	find_discards(sp, s, e);
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
				atomic_fetch_add(&st.reprotect_gen, 1);
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
		/* Re-armed: note which of them hold content now. */
		for (size_t r = 0; (flags & WW_RESET) && r < k; r++)
			arm_present(sp, (uintptr_t)runs[r].iov_base,
				    (uintptr_t)runs[r].iov_base + runs[r].iov_len);
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
	int err = refresh(sp, s, e);

	(void)priv;
	if (err)
		return err;
	/* Discards before now become written pages, re-armed below like any
	 * other; a clean page keeps its mark, so a discard racing with this
	 * reset is reported by the next collect. */
	find_discards(sp, s, e);
	while (i < end && !err) {
		size_t a, b = end;

		block_signals(&mask);
		spin_lock(sp);
		atomic_fetch_add(&st.reprotect_gen, 1);
		a = ww__bit_next(sp->bits, i, end, true);
		if (a < end) {
			b = ww__bit_next(sp->bits, a, end, false);
			err = set_prot(sp, sp->start + a * ps, sp->start + b * ps, false);
			if (!err)
				bits_assign(sp, a, b, false);
		}
		spin_unlock(sp);
		restore_signals(&mask);
		if (a < end && !err)
			arm_present(sp, sp->start + a * ps, sp->start + b * ps);
		i = b;
	}
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

/* The handler reads pw as a counted reader: once none is counted, no hook
 * call that started with the old one is still running. */
static void mp_set_prewrite(void *priv, const struct ww__prewrite *pw)
{
	struct mp_tracker *tr = priv;

	atomic_store_explicit(&tr->pw, pw, memory_order_release);
	wait_readers();
}

/* No event tells of a discard: look in pagemap, over this tracker's spans
 * in [s, e), for pages armed with content that hold none now, and in maps
 * for pages the application made writable behind our back (t->lock is held:
 * the spans stay; the table's nodes are read as a counted reader). */
static void mp_prewrite_sync(void *priv, uintptr_t s, uintptr_t e)
{
	struct mp_tracker *tr = priv;
	size_t ps = ww__page_size();

	s &= ~(uintptr_t)(ps - 1); /* a read may start and end mid-page */
	e = e > UINTPTR_MAX - ps ? UINTPTR_MAX & ~(uintptr_t)(ps - 1) :
				   (e + ps - 1) & ~(uintptr_t)(ps - 1);
	while (s < e) {
		struct mp_span *sp;
		uintptr_t a, b;

		atomic_fetch_add(&st.inflight, 1);
		for (sp = table_after(atomic_load(&st.table), s);
		     sp && sp->start < e && sp->owner != tr;)
			sp = tree_ge(atomic_load(&st.table), sp->end);
		atomic_fetch_sub(&st.inflight, 1);
		if (!sp || sp->start >= e)
			return;
		a = s > sp->start ? s : sp->start;
		b = e < sp->end ? e : sp->end;
		/* pages the application made writable itself: lost (refresh) */
		refresh(sp, a, b);
		find_discards(sp, a, b);
		s = sp->end;
	}
}

/* Shared memory keeps its content in the page cache when a mapping drops a
 * page, so a page not present proves nothing there, and MADV_REMOVE, which
 * does drop it, leaves no trace pagemap can tell from a read back. */
static int shared_map(const struct ww__map *m, void *arg)
{
	*(bool *)arg |= m->shared;
	return 0;
}

static int mp_prewrite_check(void *priv, uintptr_t s, uintptr_t e, char *why, size_t whylen)
{
	bool shared = false;
	int r = ww__maps_range(s, e, shared_map, &shared);

	(void)priv;
	if (r < 0)
		return r;
	if (!shared)
		return 0;
	return ww__why(why, whylen, -EOPNOTSUPP,
		       "mprotect cannot copy before a write in shared memory: it would not "
		       "see a page dropped there (MADV_REMOVE) before its first write");
}

/* Copy-before-write needs every discard seen: a discarded page read back
 * before its first write must not pass for content (WW_CAP_DISCARDS, which
 * only kernels that map the zero page on a read fault give this mechanism). */
static unsigned int mp_tracker_caps(void *priv)
{
	unsigned int c = ww__caps_pagemap_discards(priv);

	return c & WW_CAP_DISCARDS ? c : c & ~WW_CAP_PREWRITE;
}

const struct ww__backend_ops ww__mprotect_ops = {
	.id = WW_BACKEND_MPROTECT,
	.name = "mprotect",
	.caps = WW_CAP_NO_MISSED_WRITES | WW_CAP_EXACT | WW_CAP_ATOMIC_RESET | WW_CAP_RANGE_RESET |
		WW_CAP_HUGETLB | WW_CAP_PROTECTS | WW_CAP_DISCARDS | WW_CAP_PREWRITE,
	.tracker_caps = mp_tracker_caps,
	.probe = mp_probe,
	.open = mp_open,
	.close = mp_close,
	.track = mp_track,
	.untrack = mp_untrack,
	.collect = mp_collect,
	.reset = mp_reset,
	.set_prewrite = mp_set_prewrite,
	.prewrite_sync = mp_prewrite_sync,
	.prewrite_check = mp_prewrite_check,
};
