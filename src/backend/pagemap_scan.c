/* SPDX-License-Identifier: MIT */
/*
 * The pagemap-scan backend (Linux 6.7+): a userfaultfd in asynchronous
 * write-protect mode (UFFD_FEATURE_WP_ASYNC) arms the pages; a write clears
 * the PTE's uffd-wp bit in the kernel, with no message and no thread switch;
 * the PAGEMAP_SCAN ioctl on /proc/PID/pagemap reads the written pages and,
 * with PM_SCAN_WP_MATCHING, re-arms exactly those pages under the page-table
 * lock, which is what makes collect+reset atomic against writers.
 *
 * Arming with UFFDIO_WRITEPROTECT installs a PTE marker in every hole, which
 * builds page tables for memory never touched (2 MiB per GiB): ruinous for a
 * sparse reservation. So anonymous private memory is armed per 2 MiB stretch
 * (one PTE table): a stretch with any page populated has its table already,
 * so it is armed whole with markers and collected on the kernel's fast path
 * (WRITTEN only), like file, shmem and hugetlb memory; a discard there
 * leaves an empty PTE that the fast path reads as written. A stretch with
 * nothing populated stays unarmed and builds no page tables: a page that
 * appears there later has no uffd-wp bit and reads as written, and a read
 * maps the zero page, which the filtered (slower) scan excludes. Once a
 * page is reported there, the stretch has a table and is promoted to
 * markers (promote()). The catch on the filtered path: MADV_DONTNEED leaves
 * the same empty PTE as a hole never touched, so pages re-armed there are
 * remembered (a sparse bitmap, 2 MiB per leaf); one found empty or zero-page
 * later was discarded, and is reported written. Stretches armed with markers
 * are noted (p->mk) at ww_track and at promotion.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#include "../internal.h"
#include "../remote.h"
#include "../sys/sys.h"
#include "backend.h"

/* Regions per PAGEMAP_SCAN call: 256 * 24 bytes of stack. */
#define PMS_BATCH 256

/* Pages read at once to tell a page only read from one written. */
#define ZBUF_PAGES 16

/* Armed-page bitmap leaves: one per 2 MiB of address space with armed pages. */
#define LEAF_SHIFT 21
#define LEAF_SIZE ((uintptr_t)1 << LEAF_SHIFT)
#define LEAF_WORDS ((1u << LEAF_SHIFT) / 4096 / 64)

struct leaf {
	uintptr_t key; /* address >> LEAF_SHIFT, plus one (0: empty slot) */
	uint64_t bits[LEAF_WORDS];
};

struct pms {
	int uffd;
	int pagemap;
	/* Open-addressing hash of leaves, linear probing, never shrinks;
	 * a leaf whose bits are all clear stays (it is cheap). */
	struct leaf *leaves;
	size_t nleaves, cap;
	size_t narmed; /* bits set: with none, no discard scan is needed */
	/* Tracked stretches armed with markers (file, shmem, hugetlb, and
	 * anonymous 2 MiB stretches with a page table): sorted, disjoint.
	 * Their collect takes the kernel's fast path, with no discard scan (a
	 * discard keeps the marker, or leaves an empty PTE or no PTE table,
	 * which the fast path reads as written). */
	struct marked {
		uintptr_t s, e;
	} * mk;
	size_t nmk, capmk;
	pid_t pid; /* 0: this process; else the one whose uffd we hold */
	/* Content of pages read where no zero page exists (arm_zero_pages),
	 * ZBUF_PAGES pages, allocated on first use. */
	void *zbuf;
	/* Output of the re-arming scans, zeroed between calls (see wp_scan) */
	struct page_region vec[PMS_BATCH];
	size_t vec_used;
};

/* A userfaultfd in WP_ASYNC mode, with shmem/hugetlb WP where available:
 * our own (pid 0), or one created inside process pid (src/remote.c).
 * UFFDIO_API acts on the uffd's context, so it is called from here in both
 * cases. */
static int uffd_async(pid_t pid, char *why, size_t whylen)
{
	uint64_t want, got = 0, feat_supported = 0;
	int fd, err;

	err = ww__uffd_features(&feat_supported, why, whylen);
	if (err)
		return err;
	if (!(feat_supported & UFFD_FEATURE_WP_ASYNC))
		return ww__why(why, whylen, -EOPNOTSUPP,
			       "kernel lacks UFFD_FEATURE_WP_ASYNC (needs Linux 6.7+)");
	want = UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED |
	       (feat_supported & UFFD_FEATURE_WP_HUGETLBFS_SHMEM);
	fd = pid ? ww__remote_uffd(pid, why, whylen) : ww__uffd_create(why, whylen);
	if (fd < 0)
		return fd;
	err = ww__uffd_api(fd, want, &got);
	/* Some kernels drop unknown bits silently: check what was granted. */
	if (!err && (got & want) != want)
		err = -EOPNOTSUPP;
	if (err) {
		close(fd);
		return ww__why(why, whylen, err, "UFFDIO_API refused WP_ASYNC: %s", strerror(-err));
	}
	return fd;
}

static int pms_open(pid_t pid, void **priv, char *why, size_t whylen)
{
	struct pms *p;
	int err;

	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->pid = pid;
	p->uffd = uffd_async(pid, why, whylen);
	if (p->uffd < 0) {
		err = p->uffd;
		free(p);
		return err;
	}
	p->pagemap = ww__pagemap_open(pid);
	if (p->pagemap < 0) {
		err = ww__why(why, whylen, p->pagemap, "cannot open the pagemap file: %s",
			      strerror(-p->pagemap));
		close(p->uffd);
		free(p);
		return err;
	}
	*priv = p;
	return 0;
}

static void pms_close(void *priv)
{
	struct pms *p = priv;

	close(p->pagemap);
	close(p->uffd);
	free(p->leaves);
	free(p->mk);
	free(p->zbuf);
	free(p);
}

/* ---- the armed-page bitmap ---- */

static struct leaf *leaf_get(struct pms *p, uintptr_t addr, bool create);

static bool leaf_empty(const struct leaf *l)
{
	for (size_t i = 0; i < LEAF_WORDS; i++)
		if (l->bits[i])
			return false;
	return true;
}

static int leaf_grow(struct pms *p)
{
	size_t live = 1, cap = 64, oldcap = p->cap;
	struct leaf *old = p->leaves, *n;

	for (size_t i = 0; i < oldcap; i++)
		live += old[i].key && !leaf_empty(&old[i]);
	while (cap < 4 * live) /* at most half full after the next inserts */
		cap *= 2;
	n = calloc(cap, sizeof(*n));
	if (!n)
		return -ENOMEM;
	p->leaves = n;
	p->cap = cap;
	p->nleaves = 0;
	/* Leaves with no bit set (untracked or discarded memory) are dropped
	 * here, so the table follows what is armed now, not ever. */
	for (size_t i = 0; i < oldcap; i++)
		if (old[i].key && !leaf_empty(&old[i])) {
			struct leaf *l = leaf_get(p, (old[i].key - 1) << LEAF_SHIFT, true);

			memcpy(l->bits, old[i].bits, sizeof(l->bits));
		}
	free(old);
	return 0;
}

/* The leaf holding addr, or NULL (absent and !create, or out of memory). */
static struct leaf *leaf_get(struct pms *p, uintptr_t addr, bool create)
{
	uintptr_t key = (addr >> LEAF_SHIFT) + 1;
	size_t i;

	if (!p->cap) {
		if (!create || leaf_grow(p))
			return NULL;
	}
	for (i = (key * 0x9E3779B97F4A7C15ull) & (p->cap - 1);; i = (i + 1) & (p->cap - 1)) {
		if (p->leaves[i].key == key)
			return &p->leaves[i];
		if (!p->leaves[i].key)
			break;
	}
	if (!create)
		return NULL;
	if (2 * (p->nleaves + 1) > p->cap) {
		if (leaf_grow(p))
			return NULL;
		return leaf_get(p, addr, true);
	}
	p->leaves[i].key = key;
	p->nleaves++;
	return &p->leaves[i];
}

/* Set or clear the bits of the pages in [s, e). Setting can fail (-ENOMEM);
 * clearing cannot. */
static int armed_assign(struct pms *p, uintptr_t s, uintptr_t e, bool v)
{
	size_t ps = ww__page_size();

	while (s < e) {
		uintptr_t lend = ((s >> LEAF_SHIFT) + 1) << LEAF_SHIFT;
		uintptr_t stop = lend < e && lend ? lend : e;
		struct leaf *l = leaf_get(p, s, v);

		if (!l && v)
			return -ENOMEM;
		for (; l && s < stop; s += ps) {
			size_t i = (s & ((1u << LEAF_SHIFT) - 1)) / ps;

			uint64_t bit = 1ull << (i % 64), *w = &l->bits[i / 64];

			if (!(*w & bit) != !v) /* a change: keep the count */
				p->narmed += v ? 1 : (size_t)-1;
			*w = v ? *w | bit : *w & ~bit;
		}
		s = stop;
	}
	return 0;
}

/* Store the armed runs inside [s, e) into out[0..max), return how many;
 * *more is set to the start of a run that did not fit (else e). */
static size_t armed_runs(struct pms *p, uintptr_t s, uintptr_t e, struct iovec *out, size_t max,
			 uintptr_t *more)
{
	size_t ps = ww__page_size(), n = 0;

	*more = e;
	while (s < e) {
		uintptr_t lend = ((s >> LEAF_SHIFT) + 1) << LEAF_SHIFT;
		uintptr_t stop = lend < e && lend ? lend : e;
		struct leaf *l = leaf_get(p, s, false);

		for (; l && s < stop; s += ps) {
			size_t i = (s & ((1u << LEAF_SHIFT) - 1)) / ps;

			if (!(l->bits[i / 64] & (1ull << (i % 64))))
				continue;
			if (n && (uintptr_t)out[n - 1].iov_base + out[n - 1].iov_len == s) {
				out[n - 1].iov_len += ps;
				continue;
			}
			if (n == max) {
				*more = s;
				return n;
			}
			out[n].iov_base = (void *)s;
			out[n].iov_len = ps;
			n++;
		}
		s = stop;
	}
	return n;
}

/* ---- the marker-armed stretches ---- */

/* Remove [s, e) from the list; may split one entry, so room for one more is
 * made first (-ENOMEM leaves the list as it was). */
static int mk_remove(struct pms *p, uintptr_t s, uintptr_t e)
{
	if (p->nmk == p->capmk) {
		size_t cap = p->capmk ? 2 * p->capmk : 8;
		struct marked *n = realloc(p->mk, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		p->mk = n;
		p->capmk = cap;
	}
	for (size_t i = 0; i < p->nmk; i++) {
		struct marked r = p->mk[i];

		if (r.e <= s || r.s >= e)
			continue;
		if (r.s < s && r.e > e) { /* split */
			memmove(&p->mk[i + 2], &p->mk[i + 1], (p->nmk - i - 1) * sizeof(*p->mk));
			p->mk[i].e = s;
			p->mk[i + 1] = (struct marked){ e, r.e };
			p->nmk++;
			return 0;
		}
		if (r.s < s) {
			p->mk[i].e = s;
		} else if (r.e > e) {
			p->mk[i].s = e;
		} else {
			memmove(&p->mk[i], &p->mk[i + 1], (p->nmk - i - 1) * sizeof(*p->mk));
			p->nmk--;
			i--;
		}
	}
	return 0;
}

/* Add [s, e), which overlaps no entry. */
static int mk_add(struct pms *p, uintptr_t s, uintptr_t e)
{
	size_t i = 0, hi = p->nmk;

	if (p->nmk == p->capmk && mk_remove(p, 0, 0))
		return -ENOMEM;
	while (i < hi) { /* the first entry starting at or after s */
		size_t mid = i + (hi - i) / 2;

		if (p->mk[mid].s < s)
			i = mid + 1;
		else
			hi = mid;
	}
	if (i > 0 && p->mk[i - 1].e == s) {
		p->mk[i - 1].e = e;
		if (i < p->nmk && p->mk[i].s == e) {
			p->mk[i - 1].e = p->mk[i].e;
			memmove(&p->mk[i], &p->mk[i + 1], (p->nmk - i - 1) * sizeof(*p->mk));
			p->nmk--;
		}
		return 0;
	}
	if (i < p->nmk && p->mk[i].s == e) {
		p->mk[i].s = s;
		return 0;
	}
	memmove(&p->mk[i + 1], &p->mk[i], (p->nmk - i) * sizeof(*p->mk));
	p->mk[i] = (struct marked){ s, e };
	p->nmk++;
	return 0;
}

/* The stretch of [pos, e) that starts at pos and is all marker-armed (*mk
 * true) or all not, up to its end. Binary search: a sparse reservation can
 * hold thousands of marker-armed 2 MiB stretches. */
static uintptr_t mk_part(const struct pms *p, uintptr_t pos, uintptr_t e, bool *mk)
{
	size_t lo = 0, hi = p->nmk;

	/* the first entry that ends after pos */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (p->mk[mid].e <= pos)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == p->nmk) {
		*mk = false;
		return e;
	}
	if (p->mk[lo].s <= pos) {
		*mk = true;
		return p->mk[lo].e < e ? p->mk[lo].e : e;
	}
	*mk = false;
	return p->mk[lo].s < e ? p->mk[lo].s : e;
}

/* Scan filter for pages that read as unchanged empty memory or as a discard:
 * not swapped, and (not present or the zero page). */
static void filter_empty(struct pm_scan_arg *a)
{
	a->category_inverted = PAGE_IS_PRESENT | PAGE_IS_SWAPPED;
	a->category_mask = PAGE_IS_SWAPPED;
	a->category_anyof_mask = PAGE_IS_PRESENT | PAGE_IS_PFNZERO;
}

/* ---- arming ---- */

/* One stretch of a tracked range and whether it is anonymous private memory
 * (sparse arming) or not (markers). */
struct seg_ctx {
	uintptr_t s, e;
	struct pms *p;
	int err;
};

static int arm_anon(struct pms *p, uintptr_t s, uintptr_t e);

/* Where a read fault maps no zero page (WW_FACT_ZERO_PAGE clear), a page
 * only read in an unarmed stretch is a fresh page, present and not
 * write-protected like a written one. Arming every hole with markers would
 * keep it clean, but costs page tables for untouched memory: 2 MiB per GiB,
 * 40 GiB for an ASan shadow of 20 TiB (measured: a whole-process dump of an
 * ASan-built program took every byte of memory). So arming stays sparse and
 * such pages are told by content instead: see arm_zero_pages(). */
static bool zero_page_kernel(void)
{
	return ww__facts() & WW_FACT_ZERO_PAGE;
}

static int arm_seg(const struct ww__map *m, void *arg)
{
	struct seg_ctx *c = arg;
	uintptr_t s = m->start > c->s ? m->start : c->s, e = m->end < c->e ? m->end : c->e;

	if (m->start >= c->e)
		return 1;
	if (s >= e)
		return 0;
	armed_assign(c->p, s, e, false);
	if (!m->shared && !m->inode) {
		c->err = arm_anon(c->p, s, e);
	} else {
		c->err = ww__uffd_wp(c->p->uffd, s, e, true);
		if (!c->err)
			c->err = mk_add(c->p, s, e);
	}
	return c->err ? 1 : 0;
}

/* Arm [s, e), marked at ww_track or promoted later: write-protect it whole
 * (markers in its holes) and note it for the fast-path collect. */
static int arm_marked(struct pms *p, uintptr_t s, uintptr_t e)
{
	int err = ww__uffd_wp(p->uffd, s, e, true);

	return err ? err : mk_add(p, s, e);
}

/* Arm anonymous [s, e) at ww_track. A 2 MiB stretch (one PTE table) with
 * any page populated has its page table already, so markers in its holes
 * cost nothing: it is armed whole and collected on the kernel's fast path.
 * Stretches with nothing populated stay unarmed, building no page tables;
 * collect_anon finds pages that appear there, and promote() moves a stretch
 * to markers once it has a page table. */
static int arm_anon(struct pms *p, uintptr_t s, uintptr_t e)
{
	struct page_region buf[PMS_BATCH];
	uintptr_t pos = s, rs = 0, re = 0; /* the run of populated stretches */
	int err;

	while (pos < e) {
		struct pm_scan_arg a = {
			.size = sizeof(a),
			.start = pos,
			.end = e,
			.vec = (uintptr_t)buf,
			.vec_len = PMS_BATCH,
			.category_anyof_mask = PAGE_IS_PRESENT | PAGE_IS_SWAPPED,
			.return_mask = PAGE_IS_PRESENT | PAGE_IS_SWAPPED,
		};
		int r = ww__pagemap_scan(p->pagemap, &a);

		if (r < 0)
			return r;
		for (int i = 0; i < r; i++) {
			uintptr_t cs = buf[i].start & ~(uintptr_t)(LEAF_SIZE - 1);
			uintptr_t ce = (buf[i].end + LEAF_SIZE - 1) & ~(uintptr_t)(LEAF_SIZE - 1);

			cs = cs < s ? s : cs;
			ce = ce > e ? e : ce;
			if (re && cs <= re) {
				re = ce > re ? ce : re;
				continue;
			}
			if (re && (err = arm_marked(p, rs, re)))
				return err;
			rs = cs;
			re = ce;
		}
		if (a.walk_end <= pos)
			return -EIO;
		/* the rest of a stretch just found is armed anyway */
		pos = re > a.walk_end ? re : a.walk_end;
	}
	return re ? arm_marked(p, rs, re) : 0;
}

static bool armed_test(struct pms *p, uintptr_t a);

/* True if all n bytes at b are zero. */
static bool all_zero(const unsigned char *b, size_t n)
{
	return !b[0] && !memcmp(b, b + 1, n - 1);
}

/* Arm the pages of [s, e), in sparsely armed memory, that a read brought in
 * where the kernel maps no zero page: present, not write-protected, never
 * armed as populated (not in the bitmap) and all zero. A page like that was
 * only read, or written with zeros: either way its content is what a
 * never-populated page reads, so it is not reported, and arming it makes
 * the scans that follow read it clean. Arm first, then look again: a write
 * that landed between the first look and the arming makes it non-zero, and
 * it is unprotected again to read as written; a write after the arming
 * faults and clears the bit. Content is read with process_vm_readv (this
 * process or the tracked one: ww__read_mem), so a concurrent writer is no
 * data race. A page not read (gone, or an error) keeps reading as
 * written. */
static int arm_zero_pages(struct pms *p, uintptr_t s, uintptr_t e)
{
	struct page_region buf[64];
	size_t ps = ww__page_size();
	uintptr_t pos = s;

	if (!p->zbuf && !(p->zbuf = malloc(ZBUF_PAGES * ps)))
		return -ENOMEM;
	while (pos < e) {
		struct pm_scan_arg a = {
			.size = sizeof(a),
			.flags = PM_SCAN_CHECK_WPASYNC,
			.start = pos,
			.end = e,
			.vec = (uintptr_t)buf,
			.vec_len = sizeof(buf) / sizeof(*buf),
			.category_inverted = PAGE_IS_PFNZERO,
			.category_mask = PAGE_IS_WRITTEN | PAGE_IS_PRESENT | PAGE_IS_PFNZERO,
			.return_mask = PAGE_IS_PRESENT,
		};
		int r = ww__pagemap_scan(p->pagemap, &a);

		if (r < 0)
			return r;
		for (int i = 0; i < r; i++) {
			for (uintptr_t c = buf[i].start; c < buf[i].end; c += ZBUF_PAGES * ps) {
				size_t n = (buf[i].end - c) / ps < ZBUF_PAGES ?
						   (buf[i].end - c) / ps :
						   ZBUF_PAGES;
				if (ww__read_mem(p->pid, p->zbuf, c, n * ps) != (ssize_t)(n * ps))
					continue;
				for (size_t k = 0; k < n; k++) {
					uintptr_t pg = c + k * ps;

					if (armed_test(p, pg) ||
					    !all_zero((unsigned char *)p->zbuf + k * ps, ps))
						continue;
					if (ww__uffd_wp(p->uffd, pg, pg + ps, true))
						continue;
					if (ww__read_mem(p->pid, p->zbuf, pg, ps) != (ssize_t)ps ||
					    !all_zero(p->zbuf, ps))
						ww__uffd_wp(p->uffd, pg, pg + ps, false);
				}
			}
		}
		if (a.walk_end <= pos)
			return -EIO;
		pos = a.walk_end;
	}
	return 0;
}

/* The first page of [s, e) whose armed bit is v, or e. */
static uintptr_t armed_find(struct pms *p, uintptr_t s, uintptr_t e, bool v)
{
	for (; s < e; s += ww__page_size())
		if (armed_test(p, s) == v)
			return s;
	return e;
}

static bool armed_test(struct pms *p, uintptr_t a)
{
	struct leaf *l = leaf_get(p, a, false);
	size_t i = (a & (LEAF_SIZE - 1)) / ww__page_size();

	return l && (l->bits[i / 64] & (1ull << (i % 64)));
}

/* Move [s, e), inside one 2 MiB stretch whose page table exists now (a page
 * was reported there), from sparse arming to markers, so later collects take
 * the fast path. Invisible to the caller: only pages that read as clean on
 * either path are armed, holes and zero pages that are not remembered as
 * populated; a remembered page that is empty or a zero page now is a discard
 * not yet reported, and the fast path will report it as written. */
static int promote(struct pms *p, uintptr_t s, uintptr_t e)
{
	struct page_region buf[PMS_BATCH];
	uintptr_t pos = armed_find(p, s, e, false);

	while (pos < e) {
		uintptr_t end = armed_find(p, pos, e, true);

		while (pos < end) {
			struct pm_scan_arg a = {
				.size = sizeof(a),
				.flags = PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC,
				.start = pos,
				.end = end,
				.vec = (uintptr_t)buf,
				.vec_len = PMS_BATCH,
				.return_mask = PAGE_IS_PRESENT,
			};
			int r;

			filter_empty(&a);
			r = ww__pagemap_scan(p->pagemap, &a);

			if (r < 0)
				return r;
			if (a.walk_end <= pos)
				return -EIO;
			pos = a.walk_end;
		}
		pos = armed_find(p, end, e, false);
	}
	/* Holes carry markers now, so a read cannot bring in a page without
	 * the wp bit any more: arm the ones it brought in before, which the
	 * fast path would read as written. */
	if (!zero_page_kernel()) {
		int err = arm_zero_pages(p, s, e);

		if (err)
			return err;
	}
	if (mk_add(p, s, e))
		return -ENOMEM; /* stays sparse: still exact, only slower */
	armed_assign(p, s, e, false);
	return 0;
}

/* Promote the 2 MiB stretches of [s, e) holding the runs out[0..n). */
static void promote_runs(struct pms *p, uintptr_t s, uintptr_t e, const struct iovec *out, size_t n)
{
	uintptr_t done = s;

	for (size_t i = 0; i < n; i++) {
		uintptr_t rs = (uintptr_t)out[i].iov_base, re = rs + out[i].iov_len;

		for (uintptr_t c = rs & ~(uintptr_t)(LEAF_SIZE - 1); c < re; c += LEAF_SIZE) {
			uintptr_t cs = c < done ? done : c;
			uintptr_t ce = c + LEAF_SIZE > e ? e : c + LEAF_SIZE;
			int err;

			if (cs >= ce)
				continue;
			err = promote(p, cs, ce);
			if (err)
				ww__dbg("pagemap-scan: promote %#lx-%#lx: %s", (unsigned long)cs,
					(unsigned long)ce, strerror(-err));
			done = ce;
		}
	}
}

/* Arm [s, e) at ww_track: every page clean afterwards. The kind of each
 * stretch is noted here, once: it cannot change while tracked, since
 * replacing the memory drops the registration (then collect says -EFAULT);
 * pms_reset works from that note. */
static int arm_range(struct pms *p, uintptr_t s, uintptr_t e)
{
	struct seg_ctx c = { .s = s, .e = e, .p = p };
	int r = ww__maps_range_pid(p->pid, s, e, arm_seg, &c);

	return r < 0 ? r : c.err;
}

static int pms_track(void *priv, uintptr_t s, uintptr_t e)
{
	struct pms *p = priv;
	uint64_t ioctls = 0;
	int err;

	err = ww__uffd_register(p->uffd, s, e, UFFDIO_REGISTER_MODE_WP, &ioctls);
	if (err) {
		ww__dbg("pagemap-scan: UFFDIO_REGISTER %#lx-%#lx: %s", (unsigned long)s,
			(unsigned long)e, strerror(-err));
		/* EINVAL here means a memory kind uffd-wp cannot register. */
		return err == -EINVAL ? -EOPNOTSUPP : err;
	}
	if (!(ioctls & (1ULL << _UFFDIO_WRITEPROTECT)))
		err = -EOPNOTSUPP;
	else
		err = arm_range(p, s, e);
	if (err) {
		ww__uffd_wp(p->uffd, s, e, false);
		ww__uffd_unregister(p->uffd, s, e);
		armed_assign(p, s, e, false);
		mk_remove(p, s, e); /* out of memory: stale entries only cost speed */
	}
	return err;
}

static int pms_untrack(void *priv, uintptr_t s, uintptr_t e)
{
	struct pms *p = priv;
	int err;

	/* Drop the wp bits and markers first, then the registration; either
	 * may meet memory the application unmapped since: not an error. */
	err = mk_remove(p, s, e);
	if (err)
		return err; /* before any change: the range stays tracked */
	ww__uffd_wp(p->uffd, s, e, false);
	armed_assign(p, s, e, false);
	err = ww__uffd_unregister(p->uffd, s, e);
	if (err == -EINVAL || err == -ENOMEM || err == -ENOENT)
		err = 0;
	return err;
}

/* Pages of [s, e) whose content changed behind the wp bits: armed pages now
 * empty (MADV_DONTNEED) or mapping the zero page (discarded, then read).
 * Stores at most max runs; *walk is where the candidate scan stopped, and
 * *more the start of the first run that did not fit (else *walk). */
static ssize_t discarded(struct pms *p, uintptr_t s, uintptr_t e, struct iovec *out, size_t max,
			 uintptr_t *walk, uintptr_t *more)
{
	struct page_region buf[PMS_BATCH];
	struct pm_scan_arg a = {
		.size = sizeof(a),
		.flags = PM_SCAN_CHECK_WPASYNC,
		.start = s,
		.end = e,
		.vec = (uintptr_t)buf,
		.vec_len = PMS_BATCH,
		.return_mask = PAGE_IS_PRESENT | PAGE_IS_PFNZERO | PAGE_IS_WRITTEN,
	};
	size_t n = 0;
	int r;

	filter_empty(&a);
	r = ww__pagemap_scan(p->pagemap, &a);
	if (r < 0)
		return r;
	if (a.walk_end <= s)
		return -EIO;
	*walk = *more = a.walk_end;
	for (int i = 0; i < r && *more == *walk; i++) {
		uintptr_t m;

		/* A write-protected zero page is a read of a page we re-armed
		 * after reporting its discard (below): unchanged, not a discard. */
		if ((buf[i].categories & PAGE_IS_PFNZERO) && !(buf[i].categories & PAGE_IS_WRITTEN))
			continue;
		n += armed_runs(p, buf[i].start, buf[i].end, out + n, max - n, &m);
		if (m < buf[i].end)
			*more = m;
	}
	return (ssize_t)n;
}

/* A scan that made no progress at pos: never mistake it for "done" (-EIO).
 * The kernel backs out of a re-arming scan that would split a written
 * hugetlb page (it write-protects those whole), but the core refuses such a
 * reset before it gets here (backend.h), so this is not the caller's
 * -EINVAL: the scan stalled. */
static int no_progress(uintptr_t pos)
{
	ww__dbg("pagemap-scan: PAGEMAP_SCAN made no progress at %#lx", (unsigned long)pos);
	return -EIO;
}

/* A re-arming scan (PM_SCAN_WP_MATCHING) into p->vec. The kernel walks VMA
 * by VMA; with PM_SCAN_CHECK_WPASYNC it fails with EPERM at the first one
 * not registered (memory the application replaced) after it has re-armed
 * the written pages of the VMAs before it and stored their regions: dropping
 * those would lose their writes. So p->vec is kept zeroed between calls and
 * on EPERM the stored regions are the prefix with end != 0 (walk_end is not
 * set then): they are returned in *stored, with a.walk_end moved to the end
 * of the last one (the pages after it were not all examined). Returns the
 * regions stored, or a negative errno with *stored saying how many of them
 * are still to report. */
static int wp_scan(struct pms *p, struct pm_scan_arg *a, int *stored)
{
	int r;

	memset(p->vec, 0, p->vec_used * sizeof(p->vec[0]));
	a->vec = (uintptr_t)p->vec;
	r = ww__pagemap_scan(p->pagemap, a);
	*stored = 0;
	if (r >= 0) {
		p->vec_used = (size_t)r;
		*stored = r;
		return r;
	}
	p->vec_used = a->vec_len;
	if (r == -EPERM) {
		while ((size_t)*stored < a->vec_len && p->vec[*stored].end)
			++*stored;
		if (*stored)
			a->walk_end = p->vec[*stored - 1].end;
	}
	return r;
}

/* Collect from marker-armed memory: the kernel's fast path (WRITTEN only). */
static ssize_t collect_fast(struct pms *p, uintptr_t s, uintptr_t e, unsigned int flags,
			    struct iovec *out, size_t max, uintptr_t *next)
{
	const struct page_region *buf = p->vec;
	uintptr_t pos = s;
	size_t n = 0;

	while (pos < e && n < max) {
		struct pm_scan_arg a = {
			.size = sizeof(a),
			.flags = PM_SCAN_CHECK_WPASYNC |
				 (flags & WW_RESET ? PM_SCAN_WP_MATCHING : 0),
			.start = pos,
			.end = e,
			.vec_len = max - n < PMS_BATCH ? max - n : PMS_BATCH,
			.category_mask = PAGE_IS_WRITTEN,
			.return_mask = PAGE_IS_WRITTEN,
		};
		int r, err = wp_scan(p, &a, &r);

		if (err < 0) {
			/* EPERM: part of the range is no longer registered
			 * (the application replaced it) */
			ww__dbg("pagemap-scan: PAGEMAP_SCAN %#lx-%#lx: %s", (unsigned long)pos,
				(unsigned long)e, strerror(-err));
			if (!r && !n)
				return err == -EPERM ? -EFAULT : err;
			if (!r)
				break; /* report what is stored; the error comes next call */
		}
		for (int i = 0; i < r; i++) {
			uintptr_t rs = buf[i].start, re = buf[i].end;

			if (n && (uintptr_t)out[n - 1].iov_base + out[n - 1].iov_len == rs) {
				out[n - 1].iov_len += re - rs;
			} else {
				out[n].iov_base = (void *)rs;
				out[n].iov_len = re - rs;
				n++;
			}
		}
		if (a.walk_end <= pos) {
			if (!n)
				return no_progress(pos);
			break; /* report what is stored; the error comes next call */
		}
		pos = a.walk_end;
		if (err < 0)
			break;
	}
	*next = pos;
	return (ssize_t)n;
}

/* Collect from sparsely armed anonymous memory: written and discarded. */
static ssize_t collect_anon(struct pms *p, uintptr_t s, uintptr_t e, unsigned int flags,
			    struct iovec *out, size_t max, uintptr_t *next)
{
	const struct page_region *buf = p->vec;
	struct iovec gone[PMS_BATCH];
	uintptr_t pos = s, bdone = s; /* discarded runs known up to bdone */
	size_t n = 0, gi = 0, gn = 0;

	while (pos < e && n < max) {
		size_t room = max - n, ng;
		uintptr_t lim;
		struct pm_scan_arg a;
		int r = 0, err = 0;

		/* Discarded runs are scanned ahead once and consumed as the
		 * written scan advances (rescanning each batch would make a
		 * collect quadratic in the number of runs). */
		if (!p->narmed) {
			/* nothing remembered as populated: nothing to discard */
			gi = gn = 0;
			bdone = e;
		} else if (gi == gn && pos >= bdone) {
			uintptr_t walk, more;
			ssize_t d = discarded(p, pos, e, gone, PMS_BATCH, &walk, &more);

			if (d < 0 && n)
				break; /* report what is stored; the error comes next call */
			if (d < 0)
				return d == -EPERM ? -EFAULT : d;
			gi = 0;
			gn = (size_t)d;
			bdone = more;
		}
		ng = gn - gi;
		lim = bdone;
		/* Leave room for at least one written run before the next
		 * discarded run that does not fit. */
		if (ng >= room) {
			ng = room - 1;
			lim = (uintptr_t)gone[gi + ng].iov_base;
		}
		if (lim <= pos) {
			/* room is 1 and a discarded run starts right here */
			ng = 1;
			a.walk_end = (uintptr_t)gone[gi].iov_base + gone[gi].iov_len;
		} else {
			/* Where reads bring in fresh pages, arm those first:
			 * they are not writes. */
			if (!zero_page_kernel()) {
				err = arm_zero_pages(p, pos, lim);
				if (err < 0 && !n)
					return err == -EPERM ? -EFAULT : err;
				if (err < 0)
					break;
			}
			/* populated, not write-protected, not the zero page */
			a = (struct pm_scan_arg){
				.size = sizeof(a),
				.flags = PM_SCAN_CHECK_WPASYNC |
					 (flags & WW_RESET ? PM_SCAN_WP_MATCHING : 0),
				.start = pos,
				.end = lim,
				.vec_len = room - ng < PMS_BATCH ? room - ng : PMS_BATCH,
				.category_inverted = PAGE_IS_PFNZERO,
				.category_mask = PAGE_IS_WRITTEN | PAGE_IS_PFNZERO,
				.category_anyof_mask = PAGE_IS_PRESENT | PAGE_IS_SWAPPED,
				.return_mask = PAGE_IS_WRITTEN,
			};
			err = wp_scan(p, &a, &r);
			if (err < 0) {
				/* EPERM: part of the range is no longer
				 * registered (the application unmapped or
				 * replaced it). Regions stored before it are
				 * re-armed: report them, the error next call. */
				ww__dbg("pagemap-scan: PAGEMAP_SCAN %#lx-%#lx: %s",
					(unsigned long)pos, (unsigned long)lim, strerror(-err));
				if (!r && !n)
					return err == -EPERM ? -EFAULT : err;
				if (!r)
					break;
			} else if (a.walk_end <= pos) {
				if (!n)
					return no_progress(pos);
				break;
			}
		}
		/* Merge written and discarded runs (disjoint but for a race) in
		 * address order, up to where the written scan stopped. */
		for (int i = 0; i < r || ng;) {
			uintptr_t rs, re;
			bool w = i < r && (!ng || buf[i].start < (uintptr_t)gone[gi].iov_base);

			if (w) {
				rs = buf[i].start;
				re = buf[i].end;
				i++;
				/* Re-armed: remember it. Out of memory here, the
				 * write is still reported; only a later discard of
				 * this page would go unseen. */
				if ((flags & WW_RESET) && armed_assign(p, rs, re, true))
					ww__warn("pagemap-scan: out of memory for the "
						 "armed-page bitmap");
			} else {
				rs = (uintptr_t)gone[gi].iov_base;
				re = rs + gone[gi].iov_len;
				if (rs >= a.walk_end)
					break; /* after the written scan's stop */
				if (re > a.walk_end) {
					/* the rest is for the next round */
					gone[gi].iov_base = (void *)a.walk_end;
					gone[gi].iov_len = re - a.walk_end;
					re = a.walk_end;
					ng = 0;
				} else {
					gi++;
					ng--;
				}
				if (flags & WW_RESET)
					/* Re-arm the discarded page, and keep it
					 * remembered: were it forgotten as a hole, a
					 * write and a second discard before the next
					 * collect would leave no trace, and a copy
					 * taken after this call would go stale. The
					 * marker keeps a read of it clean (a
					 * write-protected zero page, skipped above). */
					ww__uffd_wp(p->uffd, rs, re, true);
			}
			/* A page discarded before the first scan and written
			 * before the second is in both lists: report it once. */
			if (n && (uintptr_t)out[n - 1].iov_base + out[n - 1].iov_len > rs)
				rs = (uintptr_t)out[n - 1].iov_base + out[n - 1].iov_len;
			if (rs >= re)
				continue;
			if (n && (uintptr_t)out[n - 1].iov_base + out[n - 1].iov_len == rs) {
				out[n - 1].iov_len += re - rs;
			} else {
				out[n].iov_base = (void *)rs;
				out[n].iov_len = re - rs;
				n++;
			}
		}
		pos = a.walk_end;
		if (err < 0)
			break;
	}
	*next = pos;
	return (ssize_t)n;
}

/* Collect from pos up to the end of its part (*pe): the fast path over
 * marker-armed memory, the filtered one elsewhere, after which the 2 MiB
 * stretches where pages were found are promoted to markers (the rest of a
 * promoted stretch takes the fast path from the next call on). */
static ssize_t collect_part(struct pms *p, uintptr_t pos, uintptr_t e, unsigned int flags,
			    struct iovec *out, size_t max, uintptr_t *next, uintptr_t *pe)
{
	bool mk;
	ssize_t got;

	*pe = mk_part(p, pos, e, &mk);
	if (mk)
		return collect_fast(p, pos, *pe, flags, out, max, next);
	got = collect_anon(p, pos, *pe, flags, out, max, next);
	if (got > 0)
		promote_runs(p, pos, *pe, out, (size_t)got);
	return got;
}

static ssize_t pms_collect(void *priv, uintptr_t s, uintptr_t e, unsigned int flags,
			   struct iovec *out, size_t max, uintptr_t *next)
{
	struct pms *p = priv;
	uintptr_t pos = s;
	size_t n = 0;

	while (pos < e && n < max) {
		uintptr_t pe, pn = pos;
		ssize_t got = collect_part(p, pos, e, flags, out + n, max - n, &pn, &pe);

		if (got < 0) {
			if (!n)
				return got;
			*next = pos; /* the error comes again from here next call */
			return (ssize_t)n;
		}
		/* a run may go on across the border of two parts */
		if (got && n &&
		    (uintptr_t)out[n - 1].iov_base + out[n - 1].iov_len ==
			    (uintptr_t)out[n].iov_base) {
			out[n - 1].iov_len += out[n].iov_len;
			memmove(&out[n], &out[n + 1], (size_t)(got - 1) * sizeof(*out));
			got--;
		}
		n += (size_t)got;
		pos = pn;
		if (pn < pe)
			break; /* out is full */
	}
	*next = pos;
	return (ssize_t)n;
}

/* Re-arm [s, e): a collect with WW_RESET whose output is dropped, which
 * touches only written and discarded pages (UFFDIO_WRITEPROTECT over the
 * range would rewrite every PTE) and keeps discarded anonymous pages
 * remembered (forgetting them as holes would lose a later write followed by
 * another discard). The stretch kinds come from the note made at ww_track:
 * no /proc read per reset. */
static int pms_reset(void *priv, uintptr_t s, uintptr_t e)
{
	struct pms *p = priv;
	struct iovec scratch[64];
	uintptr_t pos = s;

	while (pos < e) {
		uintptr_t pe, pn = pos;
		ssize_t n = collect_part(p, pos, e, WW_RESET, scratch, 64, &pn, &pe);

		if (n < 0)
			return (int)n;
		if (pn <= pos)
			return -EIO;
		pos = pn;
	}
	return 0;
}

/* Write one page of a scratch mapping and check the scan sees exactly it,
 * then that WP_MATCHING re-armed it. */
static int pms_probe(pid_t pid, char *why, size_t whylen)
{
	size_t ps = ww__page_size();
	struct page_region r[4];
	struct pm_scan_arg a;
	int fd, pm = -1, err, n;
	char *m;

	if (pid) {
		/* The mechanism itself, on our own scratch memory, then whether
		 * we may inject into pid; a probe never touches the target. */
		err = pms_probe(0, why, whylen);
		return err ? err : ww__remote_check(pid, why, whylen);
	}
	fd = uffd_async(0, why, whylen);
	if (fd < 0)
		return fd;
	m = mmap(NULL, 4 * ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED) {
		close(fd);
		return ww__why(why, whylen, -ENOMEM, "no memory for the probe");
	}
	memset(m, 1, 3 * ps); /* page 3 stays unpopulated */
	err = ww__uffd_register(fd, (uintptr_t)m, (uintptr_t)m + 4 * ps, UFFDIO_REGISTER_MODE_WP,
				NULL);
	if (!err)
		err = ww__uffd_wp(fd, (uintptr_t)m, (uintptr_t)m + 4 * ps, true);
	if (err) {
		ww__why(why, whylen, err, "uffd write-protect registration failed: %s",
			strerror(-err));
		goto out;
	}
	pm = ww__pagemap_open(0);
	if (pm < 0) {
		err = ww__why(why, whylen, pm, "cannot open /proc/self/pagemap: %s", strerror(-pm));
		goto out;
	}
	m[ps] = 2;
	m[3 * ps] = 2;
	for (int round = 0; round < 2; round++) {
		a = (struct pm_scan_arg){
			.size = sizeof(a),
			.flags = PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC,
			.start = (uintptr_t)m,
			.end = (uintptr_t)m + 4 * ps,
			.vec = (uintptr_t)r,
			.vec_len = 4,
			.category_mask = PAGE_IS_WRITTEN,
			.return_mask = PAGE_IS_WRITTEN,
		};
		n = ww__pagemap_scan(pm, &a);
		if (n == -ENOTTY || n == -EINVAL) {
			err = ww__why(why, whylen, -EOPNOTSUPP,
				      "kernel lacks the PAGEMAP_SCAN ioctl (needs Linux 6.7+)");
			goto out;
		}
		if (n < 0) {
			err = ww__why(why, whylen, n, "PAGEMAP_SCAN failed: %s", strerror(-n));
			goto out;
		}
		if (round == 0 ? (n != 2 || r[0].start != (uintptr_t)m + ps ||
				  r[0].end != (uintptr_t)m + 2 * ps ||
				  r[1].start != (uintptr_t)m + 3 * ps) :
				 n != 0) {
			err = ww__why(why, whylen, -EIO,
				      "PAGEMAP_SCAN self-test gave wrong pages (round %d, %d "
				      "regions): kernel bug?",
				      round, n);
			goto out;
		}
	}
out:
	if (pm >= 0)
		close(pm);
	close(fd);
	munmap(m, 4 * ps);
	return err;
}

/* Sparse arming leaves anonymous holes unarmed, so a write into a hole of a
 * mapping THP may back can fault in a whole transparent huge page, and all of
 * it reads as written: say so. (A THP present when armed is write-protected
 * as a whole; the first write splits it and is seen per page. Memory armed
 * with markers has page tables in its holes, so no THP is faulted in.) */
/* A read-faulted THP on a kernel with the zero page is one huge page of
 * zeroes: written anywhere, it is split or reported whole. */
static void pms_granularity(void *priv, bool thp, size_t *bytes)
{
	(void)priv;
	if (thp && zero_page_kernel() && ww__thp_size() > *bytes)
		*bytes = ww__thp_size();
}

const struct ww__backend_ops ww__pagemap_scan_ops = {
	.id = WW_BACKEND_PAGEMAP_SCAN,
	.name = "pagemap-scan",
	.caps = WW_CAP_REMOTE | WW_CAP_NO_MISSED_WRITES | WW_CAP_EXACT | WW_CAP_ATOMIC_RESET |
		WW_CAP_RANGE_RESET | WW_CAP_KERNEL_WRITES | WW_CAP_DISCARDS | WW_CAP_HUGETLB,
	.probe = pms_probe,
	.open = pms_open,
	.close = pms_close,
	.track = pms_track,
	.untrack = pms_untrack,
	.collect = pms_collect,
	.reset = pms_reset,
	.granularity = pms_granularity,
};
