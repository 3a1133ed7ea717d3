/* SPDX-License-Identifier: MIT */
/*
 * Thin syscall and /proc helpers. Every function here returns 0 (or a count,
 * or a descriptor) on success and a negative errno on failure, so the layers
 * above never look at errno. Nothing here knows about trackers or backends.
 */
#ifndef WW_SYS_SYS_H
#define WW_SYS_SYS_H

#include <stdbool.h>
#include <stddef.h>
#include <errno.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "uapi.h"

/* The system page size, cached after the first call. */
size_t ww__page_size(void);

static inline uintptr_t ww__page_down(uintptr_t a)
{
	return a & ~(uintptr_t)(ww__page_size() - 1);
}

/* CLOCK_MONOTONIC in ns; async-signal-safe. */
static inline uint64_t ww__now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* Round up; returns false on overflow. */
static inline bool ww__page_up(uintptr_t a, uintptr_t *out)
{
	uintptr_t m = ww__page_size() - 1;

	if (a > UINTPTR_MAX - m)
		return false;
	*out = (a + m) & ~m;
	return true;
}

/*
 * Create a userfaultfd (O_CLOEXEC | O_NONBLOCK), first with the syscall
 * (user-mode-only, then plain), then through /dev/userfaultfd. On failure
 * writes why into why[whylen] (may be NULL).
 */
int ww__uffd_create(char *why, size_t whylen);

/* Same, choosing whether kernel-mode faults are handled too: user_only
 * false asks for a userfaultfd that also takes faults of the kernel's own
 * accesses (copy_to_user from read(2)), which needs privilege
 * (vm.unprivileged_userfaultfd=1, CAP_SYS_PTRACE or /dev/userfaultfd). */
int ww__uffd_create_mode(bool user_only, char *why, size_t whylen);

/* The userfaultfd features this kernel supports, read once from a scratch
 * userfaultfd (UFFDIO_API may be called once per descriptor). */
int ww__uffd_features(uint64_t *out, char *why, size_t whylen);

/* UFFDIO_API: ask for features; *got receives what the kernel granted. */
int ww__uffd_api(int uffd, uint64_t features, uint64_t *got);

/* UFFDIO_REGISTER with mode over [start, end); *ioctls gets the allowed set. */
int ww__uffd_register(int uffd, uintptr_t start, uintptr_t end, uint64_t mode, uint64_t *ioctls);
int ww__uffd_unregister(int uffd, uintptr_t start, uintptr_t end);

/* UFFDIO_WRITEPROTECT with explicit UFFDIO_WRITEPROTECT_MODE_* flags
 * (e.g. un-protect without waking: MODE_DONTWAKE). */
int ww__uffd_wp_mode(int uffd, uintptr_t start, uintptr_t end, uint64_t mode);

/* UFFDIO_COPY: fill the missing page(s) at dst from src; mode takes
 * UFFDIO_COPY_MODE_WP (install write-protected, Linux 5.7+) and
 * UFFDIO_COPY_MODE_DONTWAKE. */
int ww__uffd_copy(int uffd, uintptr_t dst, const void *src, size_t len, uint64_t mode);

/* UFFDIO_WAKE: wake threads blocked on faults in [start, end). */
int ww__uffd_wake(int uffd, uintptr_t start, uintptr_t end);

/* UFFDIO_WRITEPROTECT: protect (arm) or unprotect [start, end). */
int ww__uffd_wp(int uffd, uintptr_t start, uintptr_t end, bool protect);

/* Open /proc/PID/pagemap (pid 0: self) read-only, O_CLOEXEC. */
int ww__pagemap_open(pid_t pid);

/* PAGEMAP_SCAN ioctl: number of regions stored, or a negative errno. */
int ww__pagemap_scan(int pagemap_fd, struct pm_scan_arg *arg);

/* pread of whole pagemap entries for [start, start + n pages). */
int ww__pagemap_read(int pagemap_fd, uintptr_t start, uint64_t *ent, size_t n);

/* 0 if every mapping of this process over [start, end) allows prot
 * (PROT_READ, PROT_WRITE), -EACCES if one does not, -EFAULT on a hole,
 * another error if the mappings could not be read (EMFILE...). */
int ww__range_prot(uintptr_t start, uintptr_t end, int prot);

/* True if the whole range [start, end) of this process is mapped. */
bool ww__range_mapped(uintptr_t start, uintptr_t end);

/* 0 if the whole range [start, end) of pid (0: this process) is mapped,
 * -ENOMEM if part of it is not, -ESRCH if the process is gone, else a
 * negative errno. For another process one PROCMAP_QUERY per mapping in
 * the range (6.11+), a parse of its maps before. */
int ww__range_mapped_pid(pid_t pid, uintptr_t start, uintptr_t end);

/* uname release, e.g. "6.18.44". */
void ww__kernel_release(char *buf, size_t len);

/* One line of /proc/PID/maps. */
struct ww__map {
	uintptr_t start, end;
	int prot; /* PROT_* */
	bool shared;
	unsigned long long offset, inode;
	const char *name; /* "" for anonymous; valid during the callback only */
};

/* A task of process pid that has pid's address space: pid, or a thread of
 * it when its main thread has exited (its own /proc files then show no
 * memory while the others run on). */
pid_t ww__mm_task(pid_t pid);

/* process_vm_readv of len bytes at addr in pid (0: self) into buf, through
 * ww__mm_task() when pid itself has no address space any more. */
ssize_t ww__read_mem(pid_t pid, void *buf, uintptr_t addr, size_t len);

/* Call fn for every mapping of pid (0: self) in address order; fn returns
 * non-zero to stop early (that value is returned). */
int ww__maps_foreach(pid_t pid, int (*fn)(const struct ww__map *m, void *ctx), void *ctx);

/* Call fn for the mappings of pid (0: self) overlapping [s, e), in address
 * order (fn returns non-zero to stop; that value is returned). Uses the
 * PROCMAP_QUERY ioctl (Linux 6.11+): no text to parse, nothing allocated,
 * only the VMAs asked for, so the cost does not grow with the number of
 * mappings elsewhere; parses /proc/PID/maps on older kernels. m->name is ""
 * (not asked for). fn may call these helpers again. */
int ww__maps_range_pid(pid_t pid, uintptr_t s, uintptr_t e,
		       int (*fn)(const struct ww__map *m, void *ctx), void *ctx);

/* ww__maps_range_pid for this process. */
int ww__maps_range(uintptr_t s, uintptr_t e, int (*fn)(const struct ww__map *m, void *ctx),
		   void *ctx);

/* The stack of the calling thread: for the main thread the kernel's [stack]
 * mapping holding sp, for other threads what pthread_getattr_np reports.
 * -ENOENT if there is none to tell (sp on a stack of the application's own
 * making, in the main thread); another negative errno if the maps could not
 * be read (EMFILE). */
int ww__thread_stack(uintptr_t sp, uintptr_t *lo, uintptr_t *hi);

/* The kernel page size (KernelPageSize in /proc/PID/smaps) of the mapping of
 * pid (0: self) holding addr: 2 MiB or 1 GiB for hugetlb, else the base page
 * size; and in *thp (may be NULL) whether transparent huge pages may back it
 * (THPeligible). -ENOMEM if addr is not mapped. Without thp, one
 * PROCMAP_QUERY where the kernel has it (smaps costs a walk of every mapping
 * below addr). */
int ww__vma_page_size(pid_t pid, uintptr_t addr, size_t *out, bool *thp);

/* The PMD size of transparent huge pages (hpage_pmd_size), or 0 if none. */
size_t ww__thp_size(void);

/* Register this file's fork handlers now (they are otherwise registered at
 * the first query). A layer whose atfork prepare handler takes a lock held
 * across calls into the library registers after this, so that its prepare
 * runs first (prepare handlers run in reverse order of registration). */
void ww__sys_fork_init(void);

/* snprintf into why if why is non-NULL; returns err unchanged. */
int ww__why(char *why, size_t whylen, int err, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#endif /* WW_SYS_SYS_H */
