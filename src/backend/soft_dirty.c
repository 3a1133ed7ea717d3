/* SPDX-License-Identifier: MIT */
/*
 * The soft-dirty backend (x86-64, powerpc64, s390 with CONFIG_MEM_SOFT_DIRTY;
 * never arm64): the kernel sets a page's soft-dirty bit (pagemap bit 55) on
 * every write, user or kernel; writing "4" to /proc/PID/clear_refs clears the
 * bits of the whole process. Works on another process too (opts->pid), with
 * the permissions /proc gives: reading its pagemap needs ptrace-read access,
 * clear_refs needs to be its owner (or root).
 *
 * A clear is process-wide, but resets here are per range. So before every
 * clear, the soft-dirty state of every range that any soft-dirty tracker in
 * this process tracks in the same target is folded into that range's
 * bitmap (the registry below, under one mutex); a range's written pages are
 * its bitmap OR its current soft-dirty bits, and a reset clears only its own
 * bitmap bits. Resetting one range thus never loses another's pages.
 *
 * Limits, by nature of the mechanism (see writewatch(7)):
 *  - Not atomic: a write between the read of the bits and the clear is lost.
 *    Collect+reset is correct only while the writers are stopped.
 *  - False positives: a new, remapped, merged or mprotect-split VMA carries
 *    VM_SOFTDIRTY and reads dirty in full until the next clear. Extra pages
 *    only, never missing ones.
 *  - Another program clearing the same process's soft-dirty bits (CRIU, a
 *    second copy of this library) makes this one miss writes.
 *  - hugetlb memory is refused (-EOPNOTSUPP): clear_refs skips it.
 *  - A transparent huge page mapped by one PMD has one soft-dirty bit, so a
 *    write reports all of it: the granularity op says so for mappings THP
 *    may back (ww_tracker_granularity).
 *  - A discard (MADV_DONTNEED) changes content without setting a bit. It
 *    is found in pagemap instead: a page whose anonymous content was
 *    present when its range was last cleared and is gone now (neither
 *    present nor swapped, or the file's page or the zero page in its
 *    place) is reported written. A discarded page read back before the
 *    collect on a kernel that maps no zero page is a fresh page of zeros,
 *    and that change is unseen.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../internal.h"
#include "../sys/sys.h"
#include "backend.h"

#define WORD_BITS 64
#define SD_BATCH 4096 /* pagemap entries per pread: 32 KiB, 16 MiB of memory */

struct sd {
	pid_t pid; /* 0: this process */
	pid_t owner; /* getpid() at open: a forked child's copy is inert */
	int pagemap; /* /proc/PID/pagemap, O_RDONLY */
	int clear_refs; /* /proc/PID/clear_refs, O_WRONLY */
};

struct sd_range {
	struct sd *t;
	uintptr_t start, end;
	uint64_t *bits; /* folded soft-dirty state, one bit per page */
	uint64_t *armed; /* anonymous content present when last cleared */
};

/* The registry: every range of every soft-dirty tracker in this process. */
static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sd_range *reg;
static size_t nreg, capreg;
static uint64_t reg_buf[SD_BATCH]; /* pagemap batch buffer, under reg_lock */

static bool is_child(const struct sd *t)
{
	return getpid() != t->owner;
}

static size_t words_for(uintptr_t s, uintptr_t e)
{
	return ((e - s) / ww__page_size() + WORD_BITS - 1) / WORD_BITS;
}

static void bit_set(uint64_t *b, size_t i)
{
	b[i / WORD_BITS] |= 1ULL << (i % WORD_BITS);
}

static bool bit_test(const uint64_t *b, size_t i)
{
	return b[i / WORD_BITS] & (1ULL << (i % WORD_BITS));
}

static void bits_clear(uint64_t *b, size_t from, size_t to)
{
	for (size_t i = from; i < to; i++)
		b[i / WORD_BITS] &= ~(1ULL << (i % WORD_BITS));
}

/* Anonymous content that a discard can take away: present and exclusive
 * (not the zero page, not a file's page), or swapped out. */
static bool has_content(uint64_t ent)
{
	return ((ent & WW_PM_PRESENT) && !(ent & WW_PM_FILE_SHARED) && (ent & WW_PM_EXCLUSIVE)) ||
	       (ent & WW_PM_SWAP);
}

/* OR the current soft-dirty bits of [s, e) (inside r) into r's bitmap, and
 * the pages whose content was discarded since they were armed. */
static int fold_range(struct sd_range *r, uintptr_t s, uintptr_t e)
{
	size_t ps = ww__page_size();

	while (s < e) {
		size_t n = (e - s) / ps < SD_BATCH ? (e - s) / ps : SD_BATCH;
		size_t base = (s - r->start) / ps;
		int err = ww__pagemap_read(r->t->pagemap, s, reg_buf, n);

		if (err)
			return err == -EIO ? -ESRCH : err; /* EOF: the process is gone */
		for (size_t i = 0; i < n; i++) {
			if (reg_buf[i] & WW_PM_SOFT_DIRTY) {
				bit_set(r->bits, base + i);
			} else if (bit_test(r->armed, base + i) && !has_content(reg_buf[i])) {
				bit_set(r->bits, base + i);
				bits_clear(r->armed, base + i, base + i + 1);
			}
		}
		s += n * ps;
	}
	return 0;
}

/* Note which pages of [s, e) (inside r), just cleared, hold anonymous
 * content a discard could take. Caller holds reg_lock. */
static void arm_range(struct sd_range *r, uintptr_t s, uintptr_t e)
{
	size_t ps = ww__page_size();

	while (s < e) {
		size_t n = (e - s) / ps < SD_BATCH ? (e - s) / ps : SD_BATCH;
		size_t base = (s - r->start) / ps;
		bool ok = ww__pagemap_read(r->t->pagemap, s, reg_buf, n) == 0;

		for (size_t i = 0; i < n; i++) {
			if (ok && has_content(reg_buf[i]))
				bit_set(r->armed, base + i);
			else
				bits_clear(r->armed, base + i, base + i + 1);
		}
		s += n * ps;
	}
}

/* Same target process: the same pid (0 is this process). */
static bool same_target(const struct sd *a, const struct sd *b)
{
	return a->pid == b->pid;
}

/* Fold every registered range of t's target, then clear the target's bits.
 * Caller holds reg_lock. */
static int fold_and_clear(struct sd *t)
{
	ssize_t w;

	for (size_t i = 0; i < nreg; i++) {
		int err;

		if (!same_target(reg[i].t, t) || is_child(reg[i].t))
			continue;
		err = fold_range(&reg[i], reg[i].start, reg[i].end);
		/* A range of another tracker whose process is gone (or whose
		 * memory was unmapped) must not block this reset. */
		if (err && reg[i].t == t)
			return err;
	}
	do
		w = write(t->clear_refs, "4", 1);
	while (w < 0 && errno == EINTR);
	return w == 1 ? 0 : w < 0 ? -errno : -EIO;
}

static struct sd_range *range_of(struct sd *t, uintptr_t a)
{
	for (size_t i = 0; i < nreg; i++)
		if (reg[i].t == t && a >= reg[i].start && a < reg[i].end)
			return &reg[i];
	return NULL;
}

static int proc_open(pid_t pid, const char *file, int flags)
{
	char path[64];
	int fd;

	if (pid)
		snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, file);
	else
		snprintf(path, sizeof(path), "/proc/self/%s", file);
	fd = open(path, flags | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

/* Open pid's pagemap and clear_refs, explaining a refusal in why. */
static int open_files(pid_t pid, int *pm, int *cr, char *why, size_t whylen)
{
	*pm = proc_open(pid, "pagemap", O_RDONLY);
	if (*pm < 0) {
		if (*pm == -ENOENT)
			return ww__why(why, whylen, -ESRCH, "no process %d", (int)pid);
		return ww__why(why, whylen, *pm,
			       "cannot open /proc/%d/pagemap: %s (needs ptrace access to the "
			       "process: same user and kernel.yama.ptrace_scope permitting, or "
			       "CAP_SYS_PTRACE)",
			       (int)pid, strerror(-*pm));
	}
	*cr = proc_open(pid, "clear_refs", O_WRONLY);
	if (*cr < 0) {
		int err = *cr;

		close(*pm);
		if (err == -ENOENT)
			return ww__why(why, whylen, -ESRCH, "no process %d", (int)pid);
		return ww__why(why, whylen, err,
			       "cannot open /proc/%d/clear_refs for writing: %s (only the "
			       "process's owner or root may clear its soft-dirty bits)",
			       (int)pid, strerror(-err));
	}
	return 0;
}

/* Soft-dirty bit of one page of this process. */
static int sd_bit(int pm, const void *p, bool *set)
{
	uint64_t ent;
	int err = ww__pagemap_read(pm, (uintptr_t)p, &ent, 1);

	if (!err)
		*set = ent & WW_PM_SOFT_DIRTY;
	return err;
}

/* write, bit set; clear; bit clear; write again, bit set. Runs under
 * reg_lock and folds every registered range of this process first, since
 * its clear is process-wide too. */
static int probe_local(char *why, size_t whylen)
{
	size_t ps = ww__page_size();
	struct sd self = { .pid = 0, .owner = getpid() };
	volatile char *m;
	bool set = false;
	int err;

	err = open_files(0, &self.pagemap, &self.clear_refs, why, whylen);
	if (err)
		return err;
	m = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED) {
		err = ww__why(why, whylen, -ENOMEM, "no memory for the probe");
		goto out_files;
	}
	m[0] = 1;
	err = sd_bit(self.pagemap, (const void *)m, &set);
	if (err) {
		ww__why(why, whylen, err, "cannot read /proc/self/pagemap: %s", strerror(-err));
		goto out;
	}
	if (!set) {
		err = ww__why(why, whylen, -EOPNOTSUPP,
			      "kernel has no soft-dirty tracking (pagemap bit 55 never set: "
			      "needs CONFIG_MEM_SOFT_DIRTY, x86-64/ppc64/s390 only)");
		goto out;
	}
	pthread_mutex_lock(&reg_lock);
	err = fold_and_clear(&self);
	pthread_mutex_unlock(&reg_lock);
	if (!err)
		err = sd_bit(self.pagemap, (const void *)m, &set);
	if (err) {
		ww__why(why, whylen, err, "clearing soft-dirty bits failed: %s", strerror(-err));
		goto out;
	}
	if (set) {
		err = ww__why(why, whylen, -EOPNOTSUPP,
			      "soft-dirty bits do not clear (clear_refs \"4\" has no effect): "
			      "kernel without working soft-dirty");
		goto out;
	}
	m[0] = 2;
	err = sd_bit(self.pagemap, (const void *)m, &set);
	if (!err && !set)
		err = ww__why(why, whylen, -EOPNOTSUPP,
			      "soft-dirty bit not set again after a write: kernel bug?");
out:
	munmap((void *)m, ps);
out_files:
	close(self.pagemap);
	close(self.clear_refs);
	return err;
}

static int sd_probe(pid_t pid, char *why, size_t whylen)
{
	int pm, cr, err;

	if (!pid)
		return probe_local(why, whylen);
	/* The mechanism is the kernel's: test it here, where we may write
	 * memory (cached); then see that the target's files are open to us. */
	err = ww_backend_probe(WW_BACKEND_SOFT_DIRTY, 0, why, whylen);
	if (err)
		return err;
	err = open_files(pid, &pm, &cr, why, whylen);
	if (err)
		return err;
	close(pm);
	close(cr);
	return 0;
}

static int sd_open(pid_t pid, void **priv, char *why, size_t whylen)
{
	struct sd *t = calloc(1, sizeof(*t));
	int err;

	if (!t)
		return -ENOMEM;
	t->pid = pid;
	t->owner = getpid();
	err = open_files(pid, &t->pagemap, &t->clear_refs, why, whylen);
	if (err) {
		free(t);
		return err;
	}
	*priv = t;
	return 0;
}

static void sd_close(void *priv)
{
	struct sd *t = priv;

	close(t->pagemap);
	close(t->clear_refs);
	free(t);
}

struct hugetlb_ctx {
	pid_t pid;
	uintptr_t s, e;
};

static int hugetlb_step(const struct ww__map *m, void *arg)
{
	struct hugetlb_ctx *c = arg;
	size_t unit = 0;

	if (m->start >= c->e)
		return 1;
	/* hugetlb mappings, MAP_HUGETLB ones too, are file mappings (an
	 * inode on hugetlbfs): anonymous private memory need not be asked. */
	if (m->end <= c->s || (!m->shared && !m->inode))
		return 0;
	if (!ww__vma_page_size(c->pid, m->start, &unit, NULL) && unit > ww__page_size())
		return 2;
	return 0;
}

/* -EOPNOTSUPP if a hugetlb mapping lies in [s, e) of pid. */
static int find_hugetlb(pid_t pid, uintptr_t s, uintptr_t e)
{
	struct hugetlb_ctx c = { pid, s, e };
	int r = ww__maps_range_pid(pid, s, e, hugetlb_step, &c);

	if (r < 0)
		return r == -ENOENT ? -ESRCH : r;
	return r == 2 ? -EOPNOTSUPP : 0;
}

static int sd_track(void *priv, uintptr_t s, uintptr_t e)
{
	struct sd *t = priv;
	uint64_t *bits;
	int err;

	if (is_child(t))
		return -ECHILD;
	/* hugetlb pages have no soft-dirty bit that clear_refs clears: their
	 * writes would go unseen. Any mapping in the range, not only the
	 * ones at its ends. */
	err = find_hugetlb(t->pid, s, e);
	if (err)
		return err;
	bits = calloc(2 * words_for(s, e), sizeof(*bits)); /* bits, then armed */
	if (!bits)
		return -ENOMEM;
	pthread_mutex_lock(&reg_lock);
	for (size_t i = 0; i < nreg; i++) {
		/* A forked child's inherited entries are not its own. */
		if (same_target(reg[i].t, t) && !is_child(reg[i].t) && s < reg[i].end &&
		    reg[i].start < e) {
			err = -EBUSY; /* another soft-dirty tracker has it */
			goto out;
		}
	}
	if (nreg == capreg) {
		size_t cap = capreg ? capreg * 2 : 8;
		struct sd_range *n = realloc(reg, cap * sizeof(*n));

		if (!n) {
			err = -ENOMEM;
			goto out;
		}
		reg = n;
		capreg = cap;
	}
	/* Clean at return: fold the others, clear, then join with no bits. */
	err = fold_and_clear(t);
	if (err)
		goto out;
	reg[nreg] = (struct sd_range){ t, s, e, bits, bits + words_for(s, e) };
	arm_range(&reg[nreg++], s, e);
	bits = NULL;
out:
	pthread_mutex_unlock(&reg_lock);
	free(bits);
	return err;
}

static int sd_untrack(void *priv, uintptr_t s, uintptr_t e)
{
	struct sd *t = priv;
	size_t ps = ww__page_size();
	struct sd_range *r, keep[2];
	size_t nkeep = 0;
	int err = 0;

	pthread_mutex_lock(&reg_lock);
	r = range_of(t, s);
	if (!r) {
		err = -ENOENT;
		goto out;
	}
	if (r->start < s)
		keep[nkeep++] = (struct sd_range){ t, r->start, s, NULL };
	if (e < r->end)
		keep[nkeep++] = (struct sd_range){ t, e, r->end, NULL };
	if (nreg + nkeep > capreg) {
		struct sd_range *n = realloc(reg, (nreg + nkeep) * sizeof(*n));

		if (!n) {
			err = -ENOMEM;
			goto out;
		}
		reg = n;
		capreg = nreg + nkeep;
		r = range_of(t, s);
	}
	for (size_t k = 0; k < nkeep; k++) {
		size_t off = (keep[k].start - r->start) / ps,
		       np = (keep[k].end - keep[k].start) / ps;

		keep[k].bits = calloc(2 * words_for(keep[k].start, keep[k].end), sizeof(uint64_t));
		if (!keep[k].bits) {
			while (k--)
				free(keep[k].bits);
			err = -ENOMEM;
			goto out;
		}
		keep[k].armed = keep[k].bits + words_for(keep[k].start, keep[k].end);
		for (size_t i = 0; i < np; i++) {
			if (bit_test(r->bits, off + i))
				bit_set(keep[k].bits, i);
			if (bit_test(r->armed, off + i))
				bit_set(keep[k].armed, i);
		}
	}
	/* The soft-dirty bits in the page tables stay as they are: they are
	 * invisible to the application, and clearing them would be global. */
	free(r->bits);
	*r = reg[--nreg];
	for (size_t k = 0; k < nkeep; k++)
		reg[nreg++] = keep[k];
out:
	pthread_mutex_unlock(&reg_lock);
	return err;
}

static ssize_t sd_collect(void *priv, uintptr_t s, uintptr_t e, unsigned int flags,
			  struct iovec *out, size_t max, uintptr_t *next)
{
	struct sd *t = priv;
	size_t ps = ww__page_size(), n = 0, i, end;
	struct sd_range *r;
	int err;

	if (is_child(t))
		return -ECHILD;
	/* No thread of ours handles faults here, so writing out[] under the
	 * lock is safe wherever it lives. */
	pthread_mutex_lock(&reg_lock);
	r = range_of(t, s);
	if (!r) {
		err = -ENOENT;
		goto out;
	}
	/* Folding just [s, e) is enough to read it; a reset folds all. */
	err = fold_range(r, s, e);
	if (err)
		goto out;
	i = (s - r->start) / ps;
	end = (e - r->start) / ps;
	while (i < end && n < max) {
		size_t a = i, b;

		while (a < end && !bit_test(r->bits, a))
			a++;
		if (a == end) {
			i = end;
			break;
		}
		b = a;
		while (b < end && bit_test(r->bits, b))
			b++;
		out[n].iov_base = (void *)(r->start + a * ps);
		out[n].iov_len = (b - a) * ps;
		n++;
		i = b;
	}
	if (flags & WW_RESET && n) {
		/* Not atomic: a write to a reported page between the fold
		 * above and this clear is lost (writers must be stopped). */
		err = fold_and_clear(t);
		if (err)
			goto out;
		for (size_t k = 0; k < n; k++) {
			size_t a = ((uintptr_t)out[k].iov_base - r->start) / ps;

			bits_clear(r->bits, a, a + out[k].iov_len / ps);
			arm_range(r, (uintptr_t)out[k].iov_base,
				  (uintptr_t)out[k].iov_base + out[k].iov_len);
		}
	}
	*next = r->start + i * ps;
out:
	pthread_mutex_unlock(&reg_lock);
	return err ? err : (ssize_t)n;
}

static int sd_reset(void *priv, uintptr_t s, uintptr_t e)
{
	struct sd *t = priv;
	size_t ps = ww__page_size();
	struct sd_range *r;
	int err;

	if (is_child(t))
		return -ECHILD;
	pthread_mutex_lock(&reg_lock);
	r = range_of(t, s);
	err = r ? fold_and_clear(t) : -ENOENT;
	if (!err) {
		bits_clear(r->bits, (s - r->start) / ps, (e - r->start) / ps);
		arm_range(r, s, e);
	}
	pthread_mutex_unlock(&reg_lock);
	return err;
}

/* A transparent huge page mapped by a PMD carries one soft-dirty bit, which
 * clear_refs clears and a write sets for the whole page (the write fault
 * reuses the huge page without splitting it, and a write into a hole of a
 * THP-eligible mapping faults in a whole huge page): pagemap then reports
 * every 4 KiB page of it. There is no way to split a THP from user space
 * without changing the mapping, so say so for mappings THP may back. */
/* The soft-dirty bit of a THP's PMD covers the whole huge page. */
static void sd_granularity(void *priv, bool thp, size_t *bytes)
{
	(void)priv;
	if (thp && ww__thp_size() > *bytes)
		*bytes = ww__thp_size();
}

const struct ww__backend_ops ww__soft_dirty_ops = {
	.id = WW_BACKEND_SOFT_DIRTY,
	.name = "soft-dirty",
	.caps = WW_CAP_REMOTE | WW_CAP_KERNEL_WRITES | WW_CAP_DISCARDS,
	.tracker_caps = ww__caps_pagemap_discards,
	.probe = sd_probe,
	.open = sd_open,
	.close = sd_close,
	.track = sd_track,
	.untrack = sd_untrack,
	.collect = sd_collect,
	.reset = sd_reset,
	.granularity = sd_granularity,
};
