/* SPDX-License-Identifier: MIT */
/*
 * The pagemap-scan backend (Linux 6.7+): a userfaultfd in asynchronous
 * write-protect mode (UFFD_FEATURE_WP_ASYNC) arms the pages; a write clears
 * the PTE's uffd-wp bit in the kernel, with no message and no thread switch;
 * the PAGEMAP_SCAN ioctl on /proc/PID/pagemap reads the written pages and,
 * with PM_SCAN_WP_MATCHING, re-arms exactly those pages under the page-table
 * lock, which is what makes collect+reset atomic against writers.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../internal.h"
#include "../sys/sys.h"
#include "backend.h"

/* Regions per PAGEMAP_SCAN call: 256 * 24 bytes of stack. */
#define PMS_BATCH 256

struct pms {
	int uffd;
	int pagemap;
};

/* Features this kernel supports, read once from a scratch userfaultfd. */
static pthread_once_t feat_once = PTHREAD_ONCE_INIT;
static uint64_t feat_supported;
static int feat_err;
static char feat_why[200];

static void feat_query(void)
{
	int fd = ww__uffd_create(feat_why, sizeof(feat_why));

	if (fd < 0) {
		feat_err = fd;
		return;
	}
	feat_err = ww__uffd_api(fd, 0, &feat_supported);
	if (feat_err)
		ww__why(feat_why, sizeof(feat_why), feat_err, "UFFDIO_API failed: %s",
			strerror(-feat_err));
	close(fd);
}

/* A userfaultfd in WP_ASYNC mode, with shmem/hugetlb WP where available. */
static int uffd_async(char *why, size_t whylen)
{
	uint64_t want, got = 0;
	int fd, err;

	pthread_once(&feat_once, feat_query);
	if (feat_err)
		return ww__why(why, whylen, feat_err, "%s", feat_why);
	if (!(feat_supported & UFFD_FEATURE_WP_ASYNC))
		return ww__why(why, whylen, -EOPNOTSUPP,
			       "kernel lacks UFFD_FEATURE_WP_ASYNC (needs Linux 6.7+)");
	want = UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED |
	       (feat_supported & UFFD_FEATURE_WP_HUGETLBFS_SHMEM);
	fd = ww__uffd_create(why, whylen);
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

static int pms_open(pid_t pid, void **priv)
{
	struct pms *p;
	int err;

	if (pid)
		return -EOPNOTSUPP;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->uffd = uffd_async(NULL, 0);
	if (p->uffd < 0) {
		err = p->uffd;
		free(p);
		return err;
	}
	p->pagemap = ww__pagemap_open(pid);
	if (p->pagemap < 0) {
		err = p->pagemap;
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
	free(p);
}

static int pms_track(void *priv, uintptr_t s, uintptr_t e)
{
	struct pms *p = priv;
	uint64_t ioctls = 0;
	int err = ww__uffd_register(p->uffd, s, e, UFFDIO_REGISTER_MODE_WP, &ioctls);

	if (err) {
		ww__dbg("pagemap-scan: UFFDIO_REGISTER %#lx-%#lx: %s", (unsigned long)s,
			(unsigned long)e, strerror(-err));
		/* EINVAL here means a memory kind uffd-wp cannot register. */
		return err == -EINVAL ? -EOPNOTSUPP : err;
	}
	if (!(ioctls & (1ULL << _UFFDIO_WRITEPROTECT)))
		err = -EOPNOTSUPP;
	else
		err = ww__uffd_wp(p->uffd, s, e, true);
	if (err)
		ww__uffd_unregister(p->uffd, s, e);
	return err;
}

static int pms_untrack(void *priv, uintptr_t s, uintptr_t e)
{
	struct pms *p = priv;
	int err;

	/* Drop the wp bits and markers first, then the registration; either
	 * may meet memory the application unmapped since: not an error. */
	ww__uffd_wp(p->uffd, s, e, false);
	err = ww__uffd_unregister(p->uffd, s, e);
	if (err == -EINVAL || err == -ENOMEM || err == -ENOENT)
		err = 0;
	return err;
}

static ssize_t pms_collect(void *priv, uintptr_t s, uintptr_t e, unsigned int flags,
			   struct iovec *out, size_t max, uintptr_t *next)
{
	struct pms *p = priv;
	struct page_region buf[PMS_BATCH];
	uintptr_t pos = s;
	size_t n = 0;

	while (pos < e && n < max) {
		struct pm_scan_arg a = {
			.size = sizeof(a),
			.flags = PM_SCAN_CHECK_WPASYNC |
				 (flags & WW_RESET ? PM_SCAN_WP_MATCHING : 0),
			.start = pos,
			.end = e,
			.vec = (uintptr_t)buf,
			.vec_len = max - n < PMS_BATCH ? max - n : PMS_BATCH,
			.category_mask = PAGE_IS_WRITTEN,
			.return_mask = PAGE_IS_WRITTEN,
		};
		int r = ww__pagemap_scan(p->pagemap, &a);

		if (r < 0) {
			/* EPERM: part of the range is no longer registered (the
			 * application unmapped or replaced it). */
			ww__dbg("pagemap-scan: PAGEMAP_SCAN %#lx-%#lx: %s", (unsigned long)pos,
				(unsigned long)e, strerror(-r));
			return r == -EPERM ? -EFAULT : r;
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
		if (a.walk_end <= pos)
			return -EIO; /* no progress: never mistake it for "done" */
		pos = a.walk_end;
	}
	*next = pos;
	return (ssize_t)n;
}

/*
 * Re-arm with PAGEMAP_SCAN WP_MATCHING and no output vector: the kernel
 * write-protects only the pages that read as written (holes included, as
 * UFFDIO_WRITEPROTECT would), so the cost follows the written pages, not the
 * range. UFFDIO_WRITEPROTECT rewrites every PTE and flushes the TLB: 1.8 ms
 * instead of 26 us for a clean 64 MiB range (measured, bench/ww_bench.c).
 */
static int pms_reset(void *priv, uintptr_t s, uintptr_t e)
{
	struct pms *p = priv;
	uintptr_t pos = s;

	while (pos < e) {
		struct pm_scan_arg a = {
			.size = sizeof(a),
			.flags = PM_SCAN_CHECK_WPASYNC | PM_SCAN_WP_MATCHING,
			.start = pos,
			.end = e,
			.category_mask = PAGE_IS_WRITTEN,
			.return_mask = PAGE_IS_WRITTEN,
		};
		int r = ww__pagemap_scan(p->pagemap, &a);

		if (r < 0)
			return r == -EPERM ? -EFAULT : r; /* as in pms_collect */
		if (a.walk_end <= pos)
			return -EIO;
		pos = a.walk_end;
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

	if (pid)
		return ww__why(why, whylen, -EOPNOTSUPP, "another process: not built yet");
	fd = uffd_async(why, whylen);
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

const struct ww__backend_ops ww__pagemap_scan_ops = {
	.id = WW_BACKEND_PAGEMAP_SCAN,
	.name = "pagemap-scan",
	.caps = 0,
	.probe = pms_probe,
	.open = pms_open,
	.close = pms_close,
	.track = pms_track,
	.untrack = pms_untrack,
	.collect = pms_collect,
	.reset = pms_reset,
};
