/* SPDX-License-Identifier: MIT */
/*
 * ww-bench-target: the process ww-bench tracks from outside for its
 * first-write-remote benchmark. It maps regions, writes one byte per page on
 * request and times every store (bench/fw_target.h has the protocol and the
 * loop). It does not link libwritewatch: whatever tracks its memory from
 * outside got there through the kernel alone. For the bare-kernel figure it
 * arms one of its own regions with its own userfaultfd (WP_ASYNC) and
 * re-arms it with PAGEMAP_SCAN, the kernel interface with nothing between.
 *
 *   ww-bench-target FD     FD: its end of a SOCK_SEQPACKET socketpair
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fw_target.h"
#include "sys/uapi.h"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14 */
#endif

static size_t ps;
static int uffd = -1, pagemap = -1;

static struct {
	char *m;
	size_t len;
	bool armed;
} reg[FWT_REGIONS];

static int map_region(unsigned int i, size_t len, struct fwt_rep *rep)
{
	char *m;

	if (reg[i].m || !len || len % ps)
		return -EINVAL;
	m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		return -errno;
	madvise(m, len, MADV_NOHUGEPAGE);
	if (madvise(m, len, MADV_POPULATE_WRITE))
		memset(m, 0, len);
	reg[i].m = m;
	reg[i].len = len;
	rep->addr = (uintptr_t)m;
	return 0;
}

/* The bench's bare_open/bare_register/bare_wp, for this process. */
static int arm_region(unsigned int i)
{
	struct uffdio_api api = { .api = UFFD_API,
				  .features = UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED };
	struct uffdio_register r = { .range = { (uintptr_t)reg[i].m, reg[i].len },
				     .mode = UFFDIO_REGISTER_MODE_WP };
	struct uffdio_writeprotect w = { .range = r.range, .mode = UFFDIO_WRITEPROTECT_MODE_WP };

	if (!reg[i].m || reg[i].armed)
		return -EINVAL;
	if (uffd < 0) {
		uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
		if (uffd < 0)
			return -errno;
		if (ioctl(uffd, UFFDIO_API, &api))
			return -errno;
		if ((api.features & UFFD_FEATURE_WP_ASYNC) == 0)
			return -EOPNOTSUPP;
		pagemap = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
		if (pagemap < 0)
			return -errno;
	}
	if (ioctl(uffd, UFFDIO_REGISTER, &r) || ioctl(uffd, UFFDIO_WRITEPROTECT, &w))
		return -errno;
	reg[i].armed = true;
	return 0;
}

/* Re-arm an armed region the way the library's collect does (written pages,
 * WP_MATCHING, batches of 256); the number of pages found written. */
static int64_t rearm_region(unsigned int i)
{
	static struct page_region vec[256];
	uintptr_t pos = (uintptr_t)reg[i].m, end = pos + reg[i].len;
	int64_t pages = 0;

	while (pos < end) {
		struct pm_scan_arg a = {
			.size = sizeof(a),
			.flags = PM_SCAN_CHECK_WPASYNC | PM_SCAN_WP_MATCHING,
			.start = pos,
			.end = end,
			.vec = (uintptr_t)vec,
			.vec_len = 256,
			.category_mask = PAGE_IS_WRITTEN,
			.return_mask = PAGE_IS_WRITTEN,
		};
		int n = ioctl(pagemap, PAGEMAP_SCAN, &a);

		if (n < 0)
			return -errno;
		for (int k = 0; k < n; k++)
			pages += (int64_t)((vec[k].end - vec[k].start) / ps);
		if (a.walk_end <= pos)
			return -EIO;
		pos = a.walk_end;
	}
	return pages;
}

static int write_region(unsigned int i, char v, struct fwt_rep *rep)
{
	size_t npages = reg[i].len / ps;
	int64_t *ns;

	if (!reg[i].m)
		return -EINVAL;
	if (reg[i].armed) {
		int64_t w = rearm_region(i);

		if (w < 0)
			return (int)w;
		rep->written = (uint64_t)w;
	}
	ns = malloc(npages * sizeof(*ns));
	if (!ns)
		return -ENOMEM;
	/* Fault the sample buffer in now, not inside the timed loop. */
	memset(ns, 0, npages * sizeof(*ns));
	rep->t = fwt_write_pages(reg[i].m, npages, ps, v, ns);
	free(ns);
	return 0;
}

int main(int argc, char **argv)
{
	int fd;

	if (argc != 2) {
		fprintf(stderr, "usage: ww-bench-target FD (started by ww-bench)\n");
		return 2;
	}
	fd = atoi(argv[1]);
	ps = (size_t)sysconf(_SC_PAGESIZE);
	for (;;) {
		struct fwt_req q;
		struct fwt_rep rep = { 0 };
		ssize_t n = recv(fd, &q, sizeof(q), 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0; /* the bench went away */
		if (n != sizeof(q) || q.region >= FWT_REGIONS)
			rep.err = -EINVAL;
		else if (q.op == FWT_MAP)
			rep.err = map_region(q.region, (size_t)q.arg, &rep);
		else if (q.op == FWT_ARM)
			rep.err = arm_region(q.region);
		else if (q.op == FWT_WRITE)
			rep.err = write_region(q.region, (char)q.arg, &rep);
		else if (q.op != FWT_QUIT)
			rep.err = -EINVAL;
		while (send(fd, &rep, sizeof(rep), MSG_NOSIGNAL) < 0 && errno == EINTR)
			;
		if (n == sizeof(q) && q.op == FWT_QUIT)
			return 0;
	}
}
