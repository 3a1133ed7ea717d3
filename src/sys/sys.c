/* SPDX-License-Identifier: MIT */
/*
 * Syscall wrappers that turn "-1 and errno" into negative errno returns, and
 * the few /proc readers the library needs (pagemap, maps). Kept free of any
 * tracker logic so every backend and the remote layer can share them.
 */
#define _GNU_SOURCE
#include "sys.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/utsname.h>
#include <unistd.h>

size_t ww__page_size(void)
{
	static size_t ps;

	if (!ps)
		ps = (size_t)sysconf(_SC_PAGESIZE);
	return ps;
}

int ww__why(char *why, size_t whylen, int err, const char *fmt, ...)
{
	va_list ap;

	if (why && whylen) {
		va_start(ap, fmt);
		vsnprintf(why, whylen, fmt, ap);
		va_end(ap);
	}
	return err;
}

int ww__uffd_create(char *why, size_t whylen)
{
	return ww__uffd_create_mode(true, why, whylen);
}

int ww__uffd_create_mode(bool user_only, char *why, size_t whylen)
{
	int fd, dev, e_sys, e_dev;

#ifdef __NR_userfaultfd
	fd = (int)syscall(__NR_userfaultfd,
			  O_CLOEXEC | O_NONBLOCK | (user_only ? UFFD_USER_MODE_ONLY : 0));
	if (fd >= 0)
		return fd;
	e_sys = errno;
	/* Kernels before 5.11 reject the user-mode-only flag with EINVAL. */
	if (user_only && e_sys == EINVAL) {
		fd = (int)syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK);
		if (fd >= 0)
			return fd;
		e_sys = errno;
	}
#else
	e_sys = ENOSYS;
#endif
	dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
	if (dev < 0) {
		e_dev = errno;
	} else {
		fd = ioctl(dev, USERFAULTFD_IOC_NEW, O_CLOEXEC | O_NONBLOCK);
		e_dev = errno;
		close(dev);
		if (fd >= 0)
			return fd;
	}
	if (e_sys == ENOSYS && e_dev == ENOENT)
		return ww__why(why, whylen, -ENOSYS,
			       "kernel built without userfaultfd (CONFIG_USERFAULTFD)");
	return ww__why(why, whylen, -(e_sys == ENOSYS ? e_dev : e_sys),
		       "userfaultfd refused: syscall: %s; /dev/userfaultfd: %s "
		       "(allow with sysctl vm.unprivileged_userfaultfd=1, access to "
		       "/dev/userfaultfd, or CAP_SYS_PTRACE; check seccomp)",
		       strerror(e_sys), strerror(e_dev));
}

static pthread_mutex_t feat_lock = PTHREAD_MUTEX_INITIALIZER;
static bool feat_done;
static uint64_t feat_supported;
static int feat_err;
static char feat_why[200];

/* A shortage (descriptors, memory) is not an answer about the kernel: the
 * next call asks again instead of remembering it for the process's life. */
static bool transient(int err)
{
	return err == -EMFILE || err == -ENFILE || err == -ENOMEM;
}

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

int ww__uffd_features(uint64_t *out, char *why, size_t whylen)
{
	int err;

	pthread_mutex_lock(&feat_lock);
	if (!feat_done || transient(feat_err)) {
		feat_err = 0;
		feat_query();
		feat_done = true;
	}
	err = feat_err;
	if (!err)
		*out = feat_supported;
	else
		ww__why(why, whylen, err, "%s", feat_why);
	pthread_mutex_unlock(&feat_lock);
	return err;
}

int ww__uffd_api(int uffd, uint64_t features, uint64_t *got)
{
	struct uffdio_api api = { .api = UFFD_API, .features = features };

	if (ioctl(uffd, UFFDIO_API, &api) < 0)
		return -errno;
	if (got)
		*got = api.features;
	return 0;
}

int ww__uffd_register(int uffd, uintptr_t start, uintptr_t end, uint64_t mode, uint64_t *ioctls)
{
	struct uffdio_register reg = {
		.range = { .start = start, .len = end - start },
		.mode = mode,
	};

	/* EPERM here means one thing: a MAP_SHARED mapping this process may
	 * never write (a file opened read-only, a write-sealed memfd): a
	 * memory kind the mechanism cannot track, said as such. */
	if (ioctl(uffd, UFFDIO_REGISTER, &reg) < 0)
		return errno == EPERM ? -EOPNOTSUPP : -errno;
	if (ioctls)
		*ioctls = reg.ioctls;
	return 0;
}

int ww__uffd_copy(int uffd, uintptr_t dst, const void *src, size_t len, uint64_t mode)
{
	struct uffdio_copy c = {
		.dst = dst,
		.src = (uintptr_t)src,
		.len = len,
		.mode = mode,
	};

	return ioctl(uffd, UFFDIO_COPY, &c) < 0 ? -errno : 0;
}

/*
 * Linux before 6.5 write-protects within one VMA only: a range across two
 * (anonymous memory next to a memfd, or pieces the application mprotected)
 * fails with ENOENT, as does a range not registered. So on ENOENT the range
 * is split in two and each half tried, down to single pages: a range in k
 * VMAs costs O(k log n) calls; an unregistered page is found in O(log n)
 * and ends the walk with ENOENT (parts before it stay as done). Splits are
 * at 2 MiB boundaries while the range is larger, so a hugetlb VMA is never
 * cut inside a huge page. No allocation and no /proc read: this runs under
 * locks that a fault on tracked heap memory would need.
 */
int ww__uffd_wp_mode(int uffd, uintptr_t start, uintptr_t end, uint64_t mode)
{
	struct uffdio_writeprotect wp = {
		.range = { .start = start, .len = end - start },
		.mode = mode,
	};
	uintptr_t ps = ww__page_size(), huge = (uintptr_t)2 << 20, mid;
	int err;

	if (ioctl(uffd, UFFDIO_WRITEPROTECT, &wp) == 0)
		return 0;
	err = -errno;
	if (err != -ENOENT || end - start <= ps)
		return err;
	mid = start + (end - start) / 2;
	if (end - start > huge && (mid & ~(huge - 1)) > start)
		mid &= ~(huge - 1);
	else
		mid &= ~(ps - 1);
	if (mid <= start)
		mid = start + ps;
	err = ww__uffd_wp_mode(uffd, start, mid, mode);
	return err ? err : ww__uffd_wp_mode(uffd, mid, end, mode);
}

int ww__uffd_wake(int uffd, uintptr_t start, uintptr_t end)
{
	struct uffdio_range r = { .start = start, .len = end - start };

	return ioctl(uffd, UFFDIO_WAKE, &r) < 0 ? -errno : 0;
}

int ww__uffd_unregister(int uffd, uintptr_t start, uintptr_t end)
{
	struct uffdio_range r = { .start = start, .len = end - start };

	return ioctl(uffd, UFFDIO_UNREGISTER, &r) < 0 ? -errno : 0;
}

int ww__uffd_wp(int uffd, uintptr_t start, uintptr_t end, bool protect)
{
	return ww__uffd_wp_mode(uffd, start, end, protect ? UFFDIO_WRITEPROTECT_MODE_WP : 0);
}

int ww__pagemap_open(pid_t pid)
{
	char path[64];
	int fd;

	if (pid)
		snprintf(path, sizeof(path), "/proc/%d/pagemap", (int)pid);
	else
		snprintf(path, sizeof(path), "/proc/self/pagemap");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

int ww__pagemap_scan(int pagemap_fd, struct pm_scan_arg *arg)
{
	int r = ioctl(pagemap_fd, PAGEMAP_SCAN, arg);

	return r < 0 ? -errno : r;
}

int ww__pagemap_read(int pagemap_fd, uintptr_t start, uint64_t *ent, size_t n)
{
	size_t want = n * sizeof(*ent), got = 0;
	off_t off = (off_t)(start / ww__page_size() * sizeof(*ent));

	while (got < want) {
		ssize_t r = pread(pagemap_fd, (char *)ent + got, want - got, off + (off_t)got);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			return -EIO;
		got += (size_t)r;
	}
	return 0;
}

bool ww__range_mapped(uintptr_t start, uintptr_t end)
{
	/* msync(MS_ASYNC) is a no-op on mapped memory since 2.6.19 and fails
	 * with ENOMEM on any hole: a cheap VMA-walk for "is it all mapped". */
	return msync((void *)start, end - start, MS_ASYNC) == 0 || errno != ENOMEM;
}

void ww__kernel_release(char *buf, size_t len)
{
	struct utsname u;

	if (uname(&u) == 0)
		snprintf(buf, len, "%s", u.release);
	else
		snprintf(buf, len, "unknown");
}

/* vsize (field 23) of a /proc stat file: 0 for a task with no address
 * space of its own any more, -1 when unreadable. */
static long stat_vsize(const char *stat)
{
	char buf[512], *p;
	ssize_t n;
	int fd = open(stat, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	/* the name may hold anything, ')' too */
	p = strrchr(buf, ')');
	for (int field = 3; field <= 23 && p; field++)
		p = strchr(p + 1, ' ');
	return p ? (long)strtoul(p + 1, NULL, 10) : -1;
}

/* A task of process pid that has its address space: pid itself, unless
 * its main thread has exited while others run on (pthread_exit in main, or
 * an exit_group from another thread, which ends the leader first), then a
 * thread that still has it; pid when none is found. vsize tells: it reads 0
 * already while a task is on its way out (its state letter is not Z yet
 * then), and in an exit_group the threads go one by one, so the first
 * thread listed may have lost it too. (A kernel thread has no address
 * space either, and no other thread: pid is kept.) */
pid_t ww__mm_task(pid_t pid)
{
	char stat[96];
	struct dirent *d;
	pid_t tid = pid;
	DIR *dir;

	snprintf(stat, sizeof(stat), "/proc/%d/stat", (int)pid);
	if (stat_vsize(stat) != 0)
		return pid;
	snprintf(stat, sizeof(stat), "/proc/%d/task", (int)pid);
	dir = opendir(stat);
	if (!dir)
		return pid;
	while ((d = readdir(dir))) {
		char *end;
		long t = strtol(d->d_name, &end, 10);

		if (*end || t <= 0 || t == pid)
			continue;
		snprintf(stat, sizeof(stat), "/proc/%d/task/%ld/stat", (int)pid, t);
		if (stat_vsize(stat) > 0) {
			tid = (pid_t)t;
			break;
		}
	}
	closedir(dir);
	return tid;
}

/* The maps file of process pid (0: self), seen through ww__mm_task(): a
 * process whose main thread has exited shows an empty /proc/PID/maps while
 * its address space is still there. */
static void maps_path(pid_t pid, char *path, size_t len)
{
	pid_t tid = pid ? ww__mm_task(pid) : 0;

	if (!pid)
		snprintf(path, len, "/proc/self/maps");
	else if (tid == pid)
		snprintf(path, len, "/proc/%d/maps", (int)pid);
	else
		snprintf(path, len, "/proc/%d/task/%d/maps", (int)pid, (int)tid);
}

ssize_t ww__read_mem(pid_t pid, void *buf, uintptr_t addr, size_t len)
{
	struct iovec l = { buf, len }, r = { (void *)addr, len };
	pid_t who = pid ? pid : getpid();
	ssize_t n = process_vm_readv(who, &l, 1, &r, 1, 0);

	if (n < 0 && errno == ESRCH && pid && (who = ww__mm_task(pid)) != pid)
		n = process_vm_readv(who, &l, 1, &r, 1, 0);
	return n;
}

/* Digits of base 16 (or 10) at *p, moved past them; false if none. */
static bool maps_num(char **p, int base, unsigned long long *out)
{
	unsigned long long v = 0;
	char *c = *p;

	for (;; c++) {
		int d;

		if (*c >= '0' && *c <= '9')
			d = *c - '0';
		else if (base == 16 && *c >= 'a' && *c <= 'f')
			d = *c - 'a' + 10;
		else
			break;
		v = v * (unsigned)base + (unsigned)d;
	}
	if (c == *p)
		return false;
	*p = c;
	*out = v;
	return true;
}

/* One line of a maps file, "start-end perms offset major:minor inode
 * name", as the kernel writes it (fs/proc/task_mmu.c); by hand, because
 * sscanf was two thirds of a parse (perf) and kernels before 6.11 parse
 * the file on every ww_track. The name is cut at the newline, in line. */
static bool maps_line(char *line, struct ww__map *m)
{
	unsigned long long s, e, dev;
	char *p = line, *nl;

	if (!maps_num(&p, 16, &s) || *p++ != '-' || !maps_num(&p, 16, &e) || *p++ != ' ')
		return false;
	if (!p[0] || !p[1] || !p[2] || !p[3] || p[4] != ' ')
		return false;
	m->prot = (p[0] == 'r' ? PROT_READ : 0) | (p[1] == 'w' ? PROT_WRITE : 0) |
		  (p[2] == 'x' ? PROT_EXEC : 0);
	m->shared = p[3] == 's';
	p += 5;
	if (!maps_num(&p, 16, &m->offset) || *p++ != ' ' || !maps_num(&p, 16, &dev) ||
	    *p++ != ':' || !maps_num(&p, 16, &dev) || *p++ != ' ' || !maps_num(&p, 10, &m->inode))
		return false;
	while (*p == ' ')
		p++;
	m->start = (uintptr_t)s;
	m->end = (uintptr_t)e;
	m->name = p;
	nl = strchr(p, '\n');
	if (nl)
		*nl = '\0';
	return true;
}

int ww__maps_foreach(pid_t pid, int (*fn)(const struct ww__map *m, void *ctx), void *ctx)
{
	char path[64], *line = NULL;
	size_t cap = 0, lines = 0;
	FILE *f;
	int ret = 0, retries = 0;

again:
	maps_path(pid, path, sizeof(path));
	f = fopen(path, "re");
	if (!f)
		return -errno;
	/* fewer, larger reads: each takes the mmap lock once */
	setvbuf(f, NULL, _IOFBF, 16384);
	while (getline(&line, &cap, f) > 0) {
		struct ww__map m = { 0 };

		if (!maps_line(line, &m))
			continue;
		lines++;
		ret = fn(&m, ctx);
		if (ret)
			break;
	}
	fclose(f);
	/* Empty: the task lost its address space between the choice of
	 * maps_path() and the open (a leader on its way out); once more,
	 * through whichever task has it now. */
	if (!lines && pid && retries++ < 3 && ww__mm_task(pid) != pid)
		goto again;
	free(line);
	return ret;
}

/* /proc/self/maps kept open for PROCMAP_QUERY. The descriptor is ours only
 * while its number still names the file we opened: a daemon may close every
 * descriptor it has (a close loop, close_range) and open a file of its own
 * on the same number, which this library must then neither use nor close.
 * So the file's identity (device, inode) is checked before each use, and a
 * descriptor that fails the check is forgotten, not closed. The fd names
 * the process that opened it, so a forked child closes its copy (atfork,
 * with the lock held across fork so the child's copy of it is free, and the
 * identity checked in prepare). -1: not open; query_absent: the kernel has
 * no PROCMAP_QUERY (before 6.11), parse instead. */
static pthread_mutex_t query_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t query_once = PTHREAD_ONCE_INIT;
static int query_fd = -1;
static dev_t query_dev;
static ino_t query_ino;
static bool query_absent;

/* Caller holds query_lock. Forget (never close) a descriptor whose number
 * now names another file. */
static void query_check_owned(void)
{
	struct stat st;

	if (query_fd < 0)
		return;
	if (fstat(query_fd, &st) == 0 && st.st_dev == query_dev && st.st_ino == query_ino)
		return;
	query_fd = -1;
}

static void query_prepare(void)
{
	pthread_mutex_lock(&query_lock);
	query_check_owned();
}

static void query_parent(void)
{
	pthread_mutex_unlock(&query_lock);
}

static void query_child(void)
{
	if (query_fd >= 0)
		close(query_fd);
	query_fd = -1;
	pthread_mutex_unlock(&query_lock);
}

static void query_init(void)
{
	/* Test hook: WRITEWATCH_NO_PROCMAP_QUERY=1 takes the path of kernels
	 * before 6.11 (parse /proc/self/maps) here too, to measure it. */
	const char *v = secure_getenv("WRITEWATCH_NO_PROCMAP_QUERY");

	if (v && v[0] == '1')
		query_absent = true;
	pthread_atfork(query_prepare, query_parent, query_child);
}

void ww__sys_fork_init(void)
{
	pthread_once(&query_once, query_init);
}

/* PROCMAP_QUERY with q prepared by the caller; -ENOTTY for a kernel that
 * lacks it. */
static int query_raw(int fd, struct procmap_query *q)
{
	if (ioctl(fd, PROCMAP_QUERY, q) == 0)
		return 0;
	return errno == ENOTTY || errno == EINVAL ? -ENOTTY : -errno;
}

static int query_ioctl(int fd, uintptr_t addr, struct procmap_query *q)
{
	*q = (struct procmap_query){
		.size = sizeof(*q),
		.query_flags = PROCMAP_QUERY_COVERING_OR_NEXT_VMA,
		.query_addr = addr,
	};
	return query_raw(fd, q);
}

/* PROCMAP_QUERY q (prepared) on this process with the cached descriptor.
 * -ENOENT: no such VMA; -ENOTTY: the kernel has no PROCMAP_QUERY (then
 * remembered, and the descriptor, verified ours, closed). The lock is not
 * held across callers' callbacks, which may query again. */
static int query_self_raw(struct procmap_query *q)
{
	struct stat st;
	int r;

	pthread_once(&query_once, query_init);
	pthread_mutex_lock(&query_lock);
	query_check_owned();
	if (query_fd < 0 && !query_absent) {
		int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);

		if (fd < 0 || fstat(fd, &st)) {
			r = -errno;
			if (fd >= 0)
				close(fd);
			pthread_mutex_unlock(&query_lock);
			return r;
		}
		query_fd = fd;
		query_dev = st.st_dev;
		query_ino = st.st_ino;
	}
	if (query_absent) {
		r = -ENOTTY;
	} else {
		r = query_raw(query_fd, q);
		if (r == -ENOTTY) {
			query_absent = true;
			close(query_fd); /* checked ours above, under the lock */
			query_fd = -1;
		}
	}
	pthread_mutex_unlock(&query_lock);
	return r;
}

/* The VMA of this process covering addr, or the next one. */
static int query_self(uintptr_t addr, struct procmap_query *q)
{
	*q = (struct procmap_query){
		.size = sizeof(*q),
		.query_flags = PROCMAP_QUERY_COVERING_OR_NEXT_VMA,
		.query_addr = addr,
	};
	return query_self_raw(q);
}

/* pid 0: the cached descriptor (fd is -1); else fd is /proc/PID/maps. */
static int query_vma(pid_t pid, int fd, uintptr_t addr, struct procmap_query *q)
{
	return pid ? query_ioctl(fd, addr, q) : query_self(addr, q);
}

static int query_open(pid_t pid)
{
	char path[64];
	int fd;

	if (!pid)
		return -1;
	for (int tries = 0;; tries++) {
		struct procmap_query q;

		maps_path(pid, path, sizeof(path));
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return -errno;
		/* The file holds the address space the task had at open:
		 * none, when it lost it between maps_path() and open (a
		 * leader on its way out); then again, through the task that
		 * has it now. Any other answer (a kernel without the ioctl
		 * too) is the caller's to take. */
		if (tries == 3 || query_ioctl(fd, 0, &q) != -ESRCH)
			return fd;
		close(fd);
	}
}

static void map_of_query(const struct procmap_query *q, struct ww__map *m)
{
	*m = (struct ww__map){ .name = "" };
	m->start = (uintptr_t)q->vma_start;
	m->end = (uintptr_t)q->vma_end;
	m->prot = (q->vma_flags & PROCMAP_QUERY_VMA_READABLE ? PROT_READ : 0) |
		  (q->vma_flags & PROCMAP_QUERY_VMA_WRITABLE ? PROT_WRITE : 0) |
		  (q->vma_flags & PROCMAP_QUERY_VMA_EXECUTABLE ? PROT_EXEC : 0);
	m->shared = q->vma_flags & PROCMAP_QUERY_VMA_SHARED;
	m->offset = q->vma_offset;
	m->inode = q->inode;
}

struct range_ctx {
	uintptr_t s, e;
	int (*fn)(const struct ww__map *m, void *ctx);
	void *ctx;
};

static int range_step(const struct ww__map *m, void *arg)
{
	struct range_ctx *c = arg;

	if (m->start >= c->e)
		return 1;
	return m->end <= c->s ? 0 : c->fn(m, c->ctx);
}

int ww__maps_range_pid(pid_t pid, uintptr_t s, uintptr_t e,
		       int (*fn)(const struct ww__map *m, void *ctx), void *ctx)
{
	struct range_ctx c = { s, e, fn, ctx };
	uintptr_t at = s;
	int fd = query_open(pid), r = 0;

	if (pid && fd < 0)
		return fd;
	while (at < e) {
		struct procmap_query q;
		struct ww__map m;

		r = query_vma(pid, fd, at, &q);
		if (r == -ENOENT || (!r && q.vma_start >= e)) {
			r = 0; /* no mapping at or after at, in range */
			at = e;
			break;
		}
		if (r)
			break;
		map_of_query(&q, &m);
		r = fn(&m, ctx);
		if (r)
			break;
		if (m.end <= at) {
			r = -EIO;
			break;
		}
		at = m.end;
	}
	if (fd >= 0)
		close(fd);
	if (r != -ENOTTY)
		return r;
	c.s = at; /* no PROCMAP_QUERY: parse the rest */
	return ww__maps_foreach(pid, range_step, &c);
}

struct stack_ctx {
	uintptr_t sp, lo, hi;
};

static int stack_step(const struct ww__map *m, void *arg)
{
	struct stack_ctx *c = arg;

	if (m->start > c->sp)
		return 1;
	if (m->end > c->sp && !strcmp(m->name, "[stack]")) {
		c->lo = m->start;
		c->hi = m->end;
		return 1;
	}
	return 0;
}

/* Without PROCMAP_QUERY (before 6.11) the [stack] line is parsed once: its
 * top never moves, and the stack can only grow down to top - RLIMIT_STACK,
 * so that whole stretch is taken as the stack (nothing else is mapped there
 * unless placed with MAP_FIXED). With no finite limit, the parse is redone
 * whenever sp is below what was seen. Keeps ww_track from reading all of
 * /proc/self/maps per call for this check. */
static pthread_mutex_t stack_lock = PTHREAD_MUTEX_INITIALIZER;
static uintptr_t stack_lo, stack_hi;

static int main_stack_parsed(struct stack_ctx *c)
{
	struct rlimit rl;
	int r = 0;

	pthread_mutex_lock(&stack_lock);
	if (!stack_hi || c->sp < stack_lo || c->sp >= stack_hi) {
		struct stack_ctx p = { c->sp, 0, 0 };

		r = ww__maps_foreach(0, stack_step, &p);
		if (r >= 0 && p.hi) {
			stack_lo = p.lo;
			stack_hi = p.hi;
			if (getrlimit(RLIMIT_STACK, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
			    rl.rlim_cur < stack_hi && stack_hi - rl.rlim_cur < stack_lo)
				stack_lo = ww__page_down(stack_hi - rl.rlim_cur);
		}
	}
	if (r >= 0 && stack_hi && c->sp >= stack_lo && c->sp < stack_hi) {
		c->lo = stack_lo;
		c->hi = stack_hi;
	}
	pthread_mutex_unlock(&stack_lock);
	return r < 0 ? r : 0;
}

/* The main thread's stack is the kernel's [stack] mapping (it grows down
 * and never merges with a neighbour); glibc's pthread_getattr_np finds it
 * by parsing all of /proc/self/maps, so it is asked of PROCMAP_QUERY, with
 * the name, where the kernel has it. */
static int main_stack(struct stack_ctx *c)
{
	char name[16] = "";
	struct procmap_query q = {
		.size = sizeof(q),
		.query_addr = c->sp,
		.vma_name_size = sizeof(name),
		.vma_name_addr = (uintptr_t)name,
	};
	int r = query_self_raw(&q);

	if (r == -ENOTTY)
		return main_stack_parsed(c);
	if (!r && !strncmp(name, "[stack]", sizeof(name))) {
		c->lo = (uintptr_t)q.vma_start;
		c->hi = (uintptr_t)q.vma_end;
	}
	/* ENOENT: nothing there; ENAMETOOLONG: a named mapping, not [stack] */
	return r == -ENOENT || r == -ENAMETOOLONG ? 0 : r;
}

int ww__thread_stack(uintptr_t sp, uintptr_t *lo, uintptr_t *hi)
{
	struct stack_ctx c = { sp, 0, 0 };
	pthread_attr_t a;
	void *base;
	size_t size;

	if (gettid() == getpid()) {
		int r = main_stack(&c);

		if (r)
			return r;
	} else if (pthread_getattr_np(pthread_self(), &a) == 0) {
		if (pthread_attr_getstack(&a, &base, &size) == 0) {
			c.lo = (uintptr_t)base;
			c.hi = c.lo + size;
		}
		pthread_attr_destroy(&a);
	}
	if (c.lo >= c.hi)
		return -ENOENT;
	*lo = c.lo;
	*hi = c.hi;
	return 0;
}

int ww__maps_range(uintptr_t s, uintptr_t e, int (*fn)(const struct ww__map *m, void *ctx),
		   void *ctx)
{
	return ww__maps_range_pid(0, s, e, fn, ctx);
}

struct cover_ctx {
	uintptr_t at, end;
};

static int cover_step(const struct ww__map *m, void *arg)
{
	struct cover_ctx *c = arg;

	if (m->end <= c->at)
		return 0;
	if (m->start > c->at)
		return 1; /* a hole */
	c->at = m->end;
	return c->at >= c->end;
}

int ww__range_mapped_pid(pid_t pid, uintptr_t start, uintptr_t end)
{
	struct cover_ctx c = { start, end };
	int r;

	if (!pid)
		return ww__range_mapped(start, end) ? 0 : -ENOMEM;
	r = ww__maps_range_pid(pid, start, end, cover_step, &c);
	if (r < 0)
		return r == -ENOENT ? -ESRCH : r;
	return c.at >= end ? 0 : -ENOMEM;
}

struct prot_ctx {
	uintptr_t at, end;
	int prot, err;
};

static int prot_step(const struct ww__map *m, void *arg)
{
	struct prot_ctx *c = arg;

	if (m->end <= c->at)
		return 0;
	if (m->start > c->at)
		c->err = -EFAULT; /* a hole */
	else if ((m->prot & c->prot) != c->prot)
		c->err = -EACCES;
	c->at = m->end;
	return c->err || c->at >= c->end;
}

int ww__range_prot(uintptr_t start, uintptr_t end, int prot)
{
	struct prot_ctx c = { start, end, prot, 0 };
	int r = ww__maps_range(start, end, prot_step, &c);

	if (r < 0)
		return r;
	if (c.err)
		return c.err;
	return c.at >= end ? 0 : -EFAULT;
}

static int smaps_page_size(pid_t pid, uintptr_t addr, size_t *out, bool *thp)
{
	char path[64], *line = NULL;
	size_t cap = 0;
	int in = 0, ret = -ENOMEM, v;
	FILE *f;

	if (pid)
		snprintf(path, sizeof(path), "/proc/%d/task/%d/smaps", (int)pid,
			 (int)ww__mm_task(pid));
	else
		snprintf(path, sizeof(path), "/proc/self/smaps");
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (getline(&line, &cap, f) > 0) {
		unsigned long s, e, kb;
		char perms[8];

		/* A mapping's header line: attribute lines ("Size:", even
		 * "AnonHugePages:") never parse as "hex-hex perms". */
		if (sscanf(line, "%lx-%lx %7s", &s, &e, perms) == 3) {
			if (s > addr)
				break;
			in = addr >= s && addr < e;
		} else if (in && sscanf(line, "KernelPageSize: %lu kB", &kb) == 1) {
			*out = (size_t)kb * 1024;
			ret = 0;
			if (thp)
				*thp = false;
			else
				break;
		} else if (in && sscanf(line, "THPeligible: %d", &v) == 1) {
			if (thp)
				*thp = v == 1;
			break;
		}
	}
	free(line);
	fclose(f);
	return ret;
}

struct inode_ctx {
	uintptr_t addr;
	bool found, file;
};

static int inode_step(const struct ww__map *m, void *arg)
{
	struct inode_ctx *c = arg;

	if (m->start <= c->addr && c->addr < m->end) {
		c->found = true;
		c->file = m->inode != 0;
	}
	return 1;
}

int ww__vma_page_size(pid_t pid, uintptr_t addr, size_t *out, bool *thp)
{
	struct procmap_query q;
	int fd, r;

	/* THPeligible is in smaps only; smaps generates the text of (and
	 * walks the page tables of) every mapping below addr, so the page
	 * size alone comes from PROCMAP_QUERY where the kernel has it. */
	if (thp)
		return smaps_page_size(pid, addr, out, thp);
	fd = query_open(pid);
	if (pid && fd < 0)
		return fd;
	r = query_vma(pid, fd, addr, &q);
	if (fd >= 0)
		close(fd);
	if (r == -ENOTTY) {
		/* Before 6.11. A mapping with no file (inode 0 in maps) is not
		 * hugetlb (that always has a hugetlbfs file): base pages,
		 * found by a maps parse, far cheaper than smaps, which walks
		 * the page tables of every mapping below addr. */
		struct inode_ctx c = { addr, false, false };

		r = ww__maps_range_pid(pid, addr, addr + 1, inode_step, &c);
		if (r < 0)
			return r;
		if (!c.found)
			return -ENOMEM;
		if (!c.file) {
			*out = ww__page_size();
			return 0;
		}
		return smaps_page_size(pid, addr, out, NULL);
	}
	if (r == -ENOENT || (!r && q.vma_start > addr))
		return -ENOMEM;
	if (r)
		return r;
	*out = (size_t)q.vma_page_size;
	return 0;
}

size_t ww__thp_size(void)
{
	static size_t sz = 1; /* 1: not read yet */
	unsigned long v = 0;
	FILE *f;

	if (sz != 1)
		return sz;
	f = fopen("/sys/kernel/mm/transparent_hugepage/hpage_pmd_size", "re");
	if (!f || fscanf(f, "%lu", &v) != 1)
		v = 0;
	if (f)
		fclose(f);
	sz = v;
	return sz;
}
