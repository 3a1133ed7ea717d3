/* SPDX-License-Identifier: MIT */
/*
 * brute: a mechanism for the tests only, compiled in by meson
 * -Dtest_backend=true and never part of a normal build. It keeps a copy of
 * every tracked page and reports, at collect, the pages whose content
 * differs from the copy: slow and memory-hungry, but plain enough to be
 * right at a glance. It is here to show that a new mechanism is this one
 * file, the ops contract of backend.h and one line in backends.c, and that
 * the per-backend suites hold any mechanism to the caps it declares.
 *
 * Memory is read through /proc/self/mem, which reads any protection
 * (PROT_NONE included) without a fault. A page of anonymous private memory
 * that pagemap shows neither present nor swapped reads zero and is not read
 * at all, so a sparse reservation costs neither page tables nor copies; a
 * page whose copy would be zero is never stored (held[] says which are).
 *
 * Its caps, honestly: a comparison sees a change of content, so a write
 * that leaves the bytes as they were (the same value written, or written
 * and written back before the collect) is not reported: no
 * WW_CAP_NO_MISSED_WRITES. A page is reported only when its content
 * changed (written, by this process or the kernel, or discarded):
 * WW_CAP_EXACT, WW_CAP_KERNEL_WRITES, WW_CAP_DISCARDS. Collect with
 * WW_RESET stores the very content it compared, so a write racing with it
 * is reported now or next time: WW_CAP_ATOMIC_RESET; a reset stores its
 * range only: WW_CAP_RANGE_RESET. It reads this process only (no
 * WW_CAP_REMOTE) and refuses hugetlb memory, whose unit it does not keep
 * (no WW_CAP_HUGETLB).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../internal.h"
#include "../sys/sys.h"
#include "backend.h"

#define PM_PRESENT (1ull << 63)
#define PM_SWAP (1ull << 62)
#define CHUNK 256 /* pages read and compared at a time */

/* The per-page "copy holds content" bytes of one ww_track, shared by the
 * ranges an untrack splits it into; unmapped when the last one goes. */
struct br_block {
	unsigned char *held;
	size_t len, users;
};

struct br_range {
	uintptr_t s, e;
	unsigned char *copy; /* e - s bytes; a page never stored stays untouched */
	unsigned char *held; /* one byte per page, in blk */
	struct br_block *blk;
};

struct br {
	pid_t owner; /* the process that opened it: a forked child's copy is inert */
	int mem, pm;
	struct br_range *r;
	size_t n, cap;
	unsigned char *buf; /* CHUNK pages */
	uint64_t ent[CHUNK];
	bool anon[CHUNK];
	bool gone[CHUNK]; /* anonymous, neither present nor swapped: reads zero */
};

enum br_mode { BR_LOOK, BR_LOOK_STORE, BR_STORE };

/* Every brute tracker of this process, so that a range another one tracks
 * is refused (-EBUSY), as every mechanism refuses it. */
static pthread_mutex_t all_lock = PTHREAD_MUTEX_INITIALIZER;
static struct br *all[64];

static bool taken(uintptr_t s, uintptr_t e)
{
	for (size_t i = 0; i < sizeof(all) / sizeof(*all); i++)
		for (size_t j = 0; all[i] && all[i]->owner == getpid() && j < all[i]->n; j++)
			if (all[i]->r[j].s < e && s < all[i]->r[j].e)
				return true;
	return false;
}

static int read_mem(int fd, void *to, uintptr_t at, size_t len)
{
	while (len) {
		ssize_t got = pread(fd, to, len, (off_t)at);

		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			return got < 0 ? -errno : -EIO;
		to = (char *)to + got;
		at += (size_t)got;
		len -= (size_t)got;
	}
	return 0;
}

static bool all_zero(const unsigned char *p, size_t len)
{
	return p[0] == 0 && !memcmp(p, p + 1, len - 1);
}

static int br_probe(pid_t pid, char *why, size_t whylen)
{
	size_t ps = ww__page_size();
	char *m = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *got = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int fd = open("/proc/self/mem", O_RDONLY | O_CLOEXEC), err = 0;

	(void)pid;
	if (m == MAP_FAILED || got == MAP_FAILED || fd < 0) {
		err = ww__why(why, whylen, fd < 0 ? -errno : -ENOMEM,
			      "cannot open /proc/self/mem or map a scratch page");
	} else {
		memset(m, 0x5a, ps);
		mprotect(m, ps, PROT_NONE);
		err = read_mem(fd, got, (uintptr_t)m, ps);
		if (err || memcmp(got, "\x5a\x5a\x5a\x5a", 4))
			err = ww__why(why, whylen, err ? err : -EIO,
				      "/proc/self/mem does not read protected memory");
	}
	if (fd >= 0)
		close(fd);
	if (m != MAP_FAILED)
		munmap(m, ps);
	if (got != MAP_FAILED)
		munmap(got, ps);
	return err;
}

static void br_close(void *priv);

static int br_open(pid_t pid, void **priv, char *why, size_t whylen)
{
	struct br *b = calloc(1, sizeof(*b));

	(void)pid; /* 0: the core gives another process only to WW_CAP_REMOTE */
	if (!b)
		return -ENOMEM;
	b->mem = open("/proc/self/mem", O_RDONLY | O_CLOEXEC);
	b->pm = ww__pagemap_open(0);
	*priv = NULL;
	b->owner = getpid();
	b->buf = mmap(NULL, CHUNK * ww__page_size(), PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (b->mem < 0 || b->pm < 0 || b->buf == MAP_FAILED) {
		int err = b->mem < 0 ? -errno : b->pm < 0 ? b->pm : -ENOMEM;

		if (b->mem >= 0)
			close(b->mem);
		if (b->pm >= 0)
			close(b->pm);
		if (b->buf != MAP_FAILED)
			munmap(b->buf, CHUNK * ww__page_size());
		free(b);
		return ww__why(why, whylen, err, "cannot open /proc/self/mem and pagemap");
	}
	pthread_mutex_lock(&all_lock);
	for (size_t i = 0; i < sizeof(all) / sizeof(*all) && *priv != b; i++)
		if (!all[i])
			all[i] = *priv = b;
	pthread_mutex_unlock(&all_lock);
	if (*priv != b) {
		br_close(b);
		return ww__why(why, whylen, -EMFILE, "brute keeps 64 trackers at most");
	}
	return 0;
}

static void br_close(void *priv)
{
	struct br *b = priv;

	pthread_mutex_lock(&all_lock);
	for (size_t i = 0; i < sizeof(all) / sizeof(*all); i++)
		if (all[i] == b)
			all[i] = NULL;
	pthread_mutex_unlock(&all_lock);
	close(b->mem);
	close(b->pm);
	munmap(b->buf, CHUNK * ww__page_size());
	free(b->r);
	free(b);
}

static struct br_range *find(struct br *b, uintptr_t s)
{
	for (size_t i = 0; i < b->n; i++)
		if (b->r[i].s <= s && s < b->r[i].e)
			return &b->r[i];
	return NULL;
}

struct anon_ctx {
	struct br *b;
	uintptr_t s, e;
};

/* Mark the pages of [c->s, c->e) in anonymous private mappings: there a
 * page neither present nor swapped reads zero. */
static int anon_step(const struct ww__map *m, void *arg)
{
	struct anon_ctx *c = arg;
	size_t ps = ww__page_size();

	if (m->shared || m->inode)
		return 0;
	for (uintptr_t a = m->start > c->s ? m->start : c->s; a < m->end && a < c->e; a += ps)
		c->b->anon[(a - c->s) / ps] = true;
	return 0;
}

static int hugetlb_step(const struct ww__map *m, void *arg)
{
	size_t unit = 0;

	(void)arg;
	if (!m->shared && !m->inode)
		return 0;
	return !ww__vma_page_size(0, m->start, &unit, NULL) && unit > ww__page_size();
}

/*
 * Compare [s, e) of range r with its copy, CHUNK pages at a time. BR_LOOK
 * reports the changed pages, BR_LOOK_STORE reports and stores them,
 * BR_STORE stores them and reports nothing. Returns the runs stored in out
 * (at most max) and sets *next to the first page not examined.
 */
static ssize_t scan(struct br *b, struct br_range *r, uintptr_t s, uintptr_t e, enum br_mode mode,
		    struct iovec *out, size_t max, uintptr_t *next)
{
	size_t ps = ww__page_size(), k = 0;
	uintptr_t at = s;
	int err;

	while (at < e) {
		size_t n = (e - at) / ps < CHUNK ? (e - at) / ps : CHUNK;
		struct anon_ctx c = { b, at, at + n * ps };

		memset(b->anon, 0, sizeof(b->anon));
		err = ww__pagemap_read(b->pm, at, b->ent, n);
		if (!err)
			err = ww__maps_range(at, at + n * ps, anon_step, &c);
		if (err < 0)
			goto stop;
		for (size_t i = 0; i < n; i++)
			b->gone[i] = b->anon[i] && !(b->ent[i] & (PM_PRESENT | PM_SWAP));
		/* read what is not known to be zero, in runs */
		for (size_t i = 0, j; i < n; i = j) {
			for (j = i + 1; j < n && b->gone[j] == b->gone[i]; j++)
				;
			if (b->gone[i])
				continue;
			err = read_mem(b->mem, b->buf + i * ps, at + i * ps, (j - i) * ps);
			if (err)
				goto stop;
		}
		for (size_t i = 0; i < n; i++) {
			uintptr_t page = at + i * ps;
			size_t idx = (page - r->s) / ps;
			unsigned char *now = b->buf + i * ps, *copy = r->copy + (page - r->s);
			bool zero = b->gone[i] || all_zero(now, ps);
			bool changed = r->held[idx] ? zero || memcmp(now, copy, ps) : !zero;

			if (!changed)
				continue;
			if (mode != BR_STORE) {
				if (k &&
				    (uintptr_t)out[k - 1].iov_base + out[k - 1].iov_len == page) {
					out[k - 1].iov_len += ps;
				} else if (k == max) {
					*next = page;
					return (ssize_t)k;
				} else {
					out[k].iov_base = (void *)page;
					out[k++].iov_len = ps;
				}
			}
			if (mode == BR_LOOK)
				continue;
			if (zero) {
				madvise(copy, ps, MADV_DONTNEED); /* back to untouched */
				r->held[idx] = 0;
			} else {
				memcpy(copy, now, ps);
				r->held[idx] = 1;
			}
		}
		at += n * ps;
	}
	*next = e;
	return (ssize_t)k;
stop:
	/* the runs stored stand (with BR_LOOK_STORE they are stored); the
	 * error comes again from here on the next call */
	*next = at;
	return k ? (ssize_t)k : err;
}

/* Room for one more range in b->r; under all_lock, which taken() reads
 * every tracker's ranges under. */
static int room(struct br *b)
{
	size_t cap = b->cap ? 2 * b->cap : 8;
	struct br_range *nr;

	if (b->n < b->cap)
		return 0;
	nr = realloc(b->r, cap * sizeof(*nr));
	if (!nr)
		return -ENOMEM;
	b->r = nr;
	b->cap = cap;
	return 0;
}

static int br_track(void *priv, uintptr_t s, uintptr_t e)
{
	struct br *b = priv;
	size_t ps = ww__page_size(), len = e - s;
	struct br_range r = { s, e, NULL, NULL, NULL };
	uintptr_t next;
	ssize_t got;

	if (ww__maps_range(s, e, hugetlb_step, NULL) > 0)
		return -EOPNOTSUPP;
	r.blk = malloc(sizeof(*r.blk));
	r.copy = mmap(NULL, len, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	r.held = mmap(NULL, len / ps, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (!r.blk || r.copy == MAP_FAILED || r.held == MAP_FAILED) {
		got = -ENOMEM;
		goto fail;
	}
	*r.blk = (struct br_block){ r.held, len / ps, 1 };
	/* checked and inserted at once, so two trackers cannot both take it;
	 * no other call on this tracker runs meanwhile (the core's lock) */
	pthread_mutex_lock(&all_lock);
	got = taken(s, e) ? -EBUSY : room(b);
	if (!got)
		b->r[b->n++] = r;
	pthread_mutex_unlock(&all_lock);
	if (got)
		goto fail;
	got = scan(b, &b->r[b->n - 1], s, e, BR_STORE, NULL, 0, &next);
	if (got >= 0)
		return 0;
	pthread_mutex_lock(&all_lock);
	b->n--;
	pthread_mutex_unlock(&all_lock);
fail:
	free(r.blk);
	if (r.copy && r.copy != MAP_FAILED)
		munmap(r.copy, len);
	if (r.held && r.held != MAP_FAILED)
		munmap(r.held, len / ps);
	return (int)got;
}

static void block_put(struct br_block *blk)
{
	if (--blk->users)
		return;
	munmap(blk->held, blk->len);
	free(blk);
}

/* Under all_lock (taken() reads the ranges). */
static int untrack_locked(struct br *b, uintptr_t s, uintptr_t e)
{
	size_t ps = ww__page_size();
	struct br_range *r, right;
	int err = room(b); /* for a split, first: nothing changes on failure */

	if (err)
		return err;
	r = find(b, s);
	if (!r)
		return -ENOENT;
	right = *r;
	munmap(r->copy + (s - r->s), e - s);
	if (s > r->s && e < r->e) {
		/* a hole in the middle: the right part becomes a range of its own */
		right.s = e;
		right.copy = r->copy + (e - r->s);
		right.held = r->held + (e - r->s) / ps;
		r->blk->users++;
		b->r[b->n++] = right;
		r->e = s;
	} else if (s > r->s) {
		r->e = s;
	} else if (e < r->e) {
		r->held += (e - r->s) / ps;
		r->copy += e - r->s;
		r->s = e;
	} else {
		block_put(r->blk);
		*r = b->r[--b->n];
	}
	return 0;
}

static int br_untrack(void *priv, uintptr_t s, uintptr_t e)
{
	struct br *b = priv;
	int err;

	pthread_mutex_lock(&all_lock);
	err = untrack_locked(b, s, e);
	pthread_mutex_unlock(&all_lock);
	return err;
}

static ssize_t br_collect(void *priv, uintptr_t s, uintptr_t e, unsigned int flags,
			  struct iovec *out, size_t max, uintptr_t *next)
{
	struct br *b = priv;

	return scan(b, find(b, s), s, e, flags & WW_RESET ? BR_LOOK_STORE : BR_LOOK, out, max,
		    next);
}

static int br_reset(void *priv, uintptr_t s, uintptr_t e)
{
	struct br *b = priv;
	uintptr_t next;
	ssize_t got = scan(b, find(b, s), s, e, BR_STORE, NULL, 0, &next);

	return got < 0 ? (int)got : 0;
}

const struct ww__backend_ops ww__brute_ops = {
	.id = WW__BACKEND_TEST,
	.name = "brute",
	.caps = WW_CAP_EXACT | WW_CAP_ATOMIC_RESET | WW_CAP_RANGE_RESET | WW_CAP_KERNEL_WRITES |
		WW_CAP_DISCARDS,
	.probe = br_probe,
	.open = br_open,
	.close = br_close,
	.track = br_track,
	.untrack = br_untrack,
	.collect = br_collect,
	.reset = br_reset,
};
