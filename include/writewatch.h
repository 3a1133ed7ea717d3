/* SPDX-License-Identifier: MIT */
/*
 * writewatch.h - the public API of libwritewatch.
 *
 * libwritewatch tells which pages of a memory range were written since a
 * chosen moment, using the best mechanism the running kernel offers
 * (PAGEMAP_SCAN with asynchronous userfaultfd write-protect, synchronous
 * userfaultfd write-protect, soft-dirty bits, or mprotect + SIGSEGV).
 *
 * Error convention, for every function below that returns int or ssize_t:
 * 0 (or a count) on success, a negative errno value on failure, and errno is
 * set to the same (positive) value. The library never prints and never aborts.
 *
 * Full reference: writewatch(7), ww_open(3), ww_track(3), ww_collect(3).
 */
#ifndef WRITEWATCH_H
#define WRITEWATCH_H

#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) && !defined(WW_API)
#define WW_API __attribute__((visibility("default")))
#elif !defined(WW_API)
#define WW_API
#endif

#define WW_VERSION_MAJOR 0
#define WW_VERSION_MINOR 1
#define WW_VERSION_PATCH 0

/* The write-tracking mechanisms. The numbers are ABI and never change. */
enum ww_backend {
	WW_BACKEND_AUTO = 0, /* the best that works here (see ww_open(3)) */
	WW_BACKEND_PAGEMAP_SCAN = 1, /* uffd WP_ASYNC + PAGEMAP_SCAN, Linux 6.7+ */
	WW_BACKEND_UFFD_WP = 2, /* synchronous uffd write-protect, 5.7+ */
	WW_BACKEND_SOFT_DIRTY = 3, /* soft-dirty PTE bits, CONFIG_MEM_SOFT_DIRTY */
	WW_BACKEND_MPROTECT = 4, /* mprotect + SIGSEGV, any kernel */
};

/* Number of enum ww_backend values, AUTO included. */
#define WW_BACKEND_COUNT 5

/*
 * Options for ww_open(). Every byte of the struct is a named field (no
 * padding), so `struct ww_opts o = { .sz = sizeof(o), ... }` or WW_OPTS()
 * leaves nothing undefined. A later version adds fields at the end; the
 * library reads a field only when sz covers it (defaults otherwise), and
 * fails with -E2BIG when the caller's struct is larger than the one it knows
 * and a byte it does not know is not zero (libbpf's rule).
 */
struct ww_opts {
	size_t sz; /* sizeof(struct ww_opts) */
	enum ww_backend backend; /* WW_BACKEND_AUTO or one mechanism */
	pid_t pid; /* 0: this process; else the process to track */
	unsigned int flags; /* none defined yet: must be 0 */
	unsigned int caps; /* WW_CAP_* the backend must have (0: any) */
};

/* Declare and zero-fill a struct ww_opts with its size set, e.g.
 * WW_OPTS(o, .backend = WW_BACKEND_MPROTECT); ww_open(&o, &t); */
#define WW_OPTS(name, ...) struct ww_opts name = { .sz = sizeof(struct ww_opts), __VA_ARGS__ }

/*
 * What a backend guarantees: the rows of the guarantee table in
 * writewatch(7). A program asks for what it needs (opts->caps) instead of
 * naming a mechanism; ww_backend_caps() and ww_tracker_caps() tell them.
 */
#define WW_CAP_REMOTE 0x001u /* tracks another process (opts->pid) */
#define WW_CAP_NO_MISSED_WRITES 0x002u /* a write after reset is always reported, writers running */
#define WW_CAP_EXACT \
	0x004u /* only pages written or discarded are reported, in the
			       units ww_tracker_granularity() gives */
#define WW_CAP_ATOMIC_RESET 0x008u /* collect with WW_RESET is atomic against writers */
#define WW_CAP_RANGE_RESET 0x010u /* a reset re-arms its range only, not the process */
#define WW_CAP_KERNEL_WRITES \
	0x020u /* the kernel's writes (read(2) into tracked memory)
				       succeed and are reported */
#define WW_CAP_DISCARDS 0x040u /* anonymous memory dropped by MADV_DONTNEED is reported */
#define WW_CAP_HUGETLB 0x080u /* tracks hugetlb memory */
#define WW_CAP_PREWRITE \
	0x200u /* sees a write before it lands, so it can copy the page first:
				  copy-before-write snapshots (WW_SNAP_COW) */
#define WW_CAP_PROTECTS \
	0x100u /* works by changing page protections: mprotect(2) by the
				  application on tracked memory goes through the tracker */

/* ww_collect() flag: re-arm the reported pages in the same atomic step. */
#define WW_RESET 0x1u

struct ww_tracker;

/* Open a tracker. opts NULL means defaults (AUTO, this process). With
 * opts->caps, AUTO picks the first backend in its order that has them all;
 * a named backend that lacks one fails with -EOPNOTSUPP. Stores the
 * handle in *out. -EINVAL bad opts, -E2BIG opts from a newer version that
 * set a field this library does not know, -ENOSYS/-EOPNOTSUPP/-EPERM backend can't
 * work here, -ENOMEM out of memory. */
WW_API int ww_open(const struct ww_opts *opts, struct ww_tracker **out);

/* ww_open that also says why it failed: on failure why (whylen bytes, NUL
 * terminated, truncated to fit) holds one line per backend tried,
 * "name: reason", joined by newlines (or one line without a name when the
 * reason is not a backend's: a process that does not exist, bad opts); an
 * empty string on success. why may be NULL. */
WW_API int ww_open_why(const struct ww_opts *opts, struct ww_tracker **out, char *why,
		       size_t whylen);

/* Close a tracker: untrack every range it tracks, free it. NULL is a no-op. */
WW_API void ww_close(struct ww_tracker *t);

/* Start tracking [addr, addr+len), expanded outward to whole pages; every page
 * is clean at return. -EEXIST overlaps a tracked range, -ENOMEM not mapped
 * (or vm.max_map_count reached), -EBUSY another userfaultfd or tracker owns
 * it, -EOPNOTSUPP a memory kind the backend cannot track, -EDEADLK it holds
 * the calling thread's own stack, -EINVAL bad arguments. */
WW_API int ww_track(struct ww_tracker *t, void *addr, size_t len);

/* Stop tracking [addr, addr+len) (whole pages) and leave the memory exactly as
 * it was before ww_track(). -ENOENT if not entirely tracked by t. */
WW_API int ww_untrack(struct ww_tracker *t, void *addr, size_t len);

/* Store the written pages of [addr, addr+len) into out[] as ascending,
 * merged runs (at most max), return the number stored. flags: 0 or WW_RESET
 * (re-arm exactly the reported pages, atomically). *next (may be NULL) is set
 * to addr+len when the range is done, else to the address to continue from.
 * -ENOENT range not entirely tracked by t, -EINVAL bad arguments. */
WW_API ssize_t ww_collect(struct ww_tracker *t, void *addr, size_t len, unsigned int flags,
			  struct iovec *out, size_t max, void **next);

/* Re-arm every page in [addr, addr+len): all of them read clean afterwards.
 * -ENOENT if not entirely tracked by t. */
WW_API int ww_reset(struct ww_tracker *t, void *addr, size_t len);

/* The unit in which t sees writes at addr (a tracked address): the page size
 * of the mapping there (e.g. 2 MiB for hugetlb), in *bytes. A write anywhere
 * in a unit reports the whole unit. -ENOENT if addr is not tracked by t. */
WW_API int ww_tracker_granularity(struct ww_tracker *t, void *addr, size_t *bytes);

/* The WW_CAP_* bits backend b can have on a kernel where it works (what
 * one tracker has may be fewer: ww_tracker_caps()). -EINVAL for AUTO, an
 * unknown backend or a NULL caps. */
WW_API int ww_backend_caps(enum ww_backend b, unsigned int *caps);

/* The WW_CAP_* bits tracker t has, here (0 for NULL). */
WW_API unsigned int ww_tracker_caps(const struct ww_tracker *t);

/* The name of one WW_CAP_* bit, as written in C ("WW_CAP_EXACT"); NULL for
 * anything else (0, several bits, a bit this version does not define). */
WW_API const char *ww_cap_name(unsigned int cap);

/* In a forked child, make t (inherited from the parent, inert: -ECHILD) track
 * this process's copy of its ranges with a new instance of its mechanism;
 * every page is clean at return. -EALREADY t is not a forked copy,
 * -EOPNOTSUPP t watches another process, -EBUSY t was being changed by
 * another thread at fork, else ww_open/ww_track's errors (t stays inert). */
WW_API int ww_reopen(struct ww_tracker *t);

/* The mechanism an open tracker uses (never WW_BACKEND_AUTO). */
WW_API enum ww_backend ww_tracker_backend(const struct ww_tracker *t);

/* "auto", "pagemap-scan", "uffd-wp", "soft-dirty", "mprotect"; NULL if unknown. */
WW_API const char *ww_backend_name(enum ww_backend b);

/* Inverse of ww_backend_name(): -EINVAL for an unknown name. */
WW_API int ww_backend_from_name(const char *name, enum ww_backend *out);

/* 0 if backend b works here for pid (0: this process), else a negative errno
 * and a one-line reason in why (what is missing, how to get it). For AUTO:
 * 0 if any backend works, and why names the one AUTO would pick. Functional
 * test, cached per process for pid 0. why may be NULL. */
WW_API int ww_backend_probe(enum ww_backend b, pid_t pid, char *why, size_t whylen);

/* The backend AUTO picks for pid (honouring WRITEWATCH_BACKEND), or a
 * negative errno if none works. */
WW_API int ww_backend_auto(pid_t pid);

/* Kernel behaviours that change what a backend costs or can see, found by
 * functional probes (never from the version or the command line). */
/* A read fault on untouched anonymous memory maps the shared zero page (also
 * the huge zero page where a transparent huge page may back the read). Where
 * it does not, a page only read gets a fresh page that no page-table bit
 * tells from a page written: pagemap-scan then tells them by content (a page
 * never seen populated that reads all zero is not reported). */
#define WW_FACT_ZERO_PAGE 0x1u

/* Store the WW_FACT_* bits of this kernel in *facts (probed once per
 * process). A probe that cannot run leaves its bit clear and returns its
 * negative errno; -EINVAL if facts is NULL. */
WW_API int ww_kernel_facts(unsigned int *facts);

/*
 * Snapshots (ww_snapshot_take(3)): the content of a tracked range at one
 * instant, read back at will and put back by copying only the pages changed
 * since. A snapshot belongs to its tracker's process; it outlives the
 * tracker (read still works, restore fails with -EBADF).
 */
struct ww_snapshot;

/* ww_snapshot_take() flag: copy-before-write. Nothing is copied at take and
 * writers run throughout; a page is copied just before its first write, and
 * the snapshot is still the memory at one instant. Needs a tracker with
 * WW_CAP_PREWRITE. */
#define WW_SNAP_COW 0x1u

/* Snapshot [addr, addr+len) (whole pages), which t must track entirely.
 * flags 0: the content is copied now, so no thread may write the range
 * during the call; WW_SNAP_COW: see above. Pages the caller had not
 * collected yet stay reported by ww_collect. Stores the handle in *out.
 * -EINVAL bad arguments or flags, -ENOENT not entirely tracked, -EFAULT
 * part of it unmapped, -EOPNOTSUPP a tracker of another process, or
 * WW_SNAP_COW without WW_CAP_PREWRITE, -ECHILD a forked child's copy of t,
 * -ENOMEM out of memory. */
WW_API int ww_snapshot_take(struct ww_tracker *t, void *addr, size_t len, unsigned int flags,
			    struct ww_snapshot **out);

/* Copy the content [addr, addr+len) had at the snapshot into buf; return
 * len. -ENOENT outside the snapshot's range, -EINVAL bad arguments,
 * -ENODATA (WW_SNAP_COW) a page was discarded before it was copied. */
WW_API ssize_t ww_snapshot_read(struct ww_snapshot *s, void *addr, size_t len, void *buf);

/* Put back exactly the pages written or discarded since the take (or the
 * last restore), as the tracker saw them; they read clean afterwards.
 * Return how many pages were put back. No thread may write the range during
 * the call. -EBADF the tracker was closed, -ENOENT part of the range was
 * untracked since the take, -EFAULT part of it is unmapped, -ECHILD in a
 * forked child, -ENOMEM out of memory. */
WW_API ssize_t ww_snapshot_restore(struct ww_snapshot *s);

/* Free a snapshot; NULL is a no-op. */
WW_API void ww_snapshot_free(struct ww_snapshot *s);

/* Log levels for the diagnostics callback. */
enum ww_log_level {
	WW_LOG_NONE = 0,
	WW_LOG_ERROR = 1,
	WW_LOG_WARN = 2,
	WW_LOG_INFO = 3,
	WW_LOG_DEBUG = 4,
};

typedef void (*ww_log_fn)(enum ww_log_level level, const char *msg, void *ctx);

/* Route diagnostics up to level to fn (NULL: the built-in stderr writer).
 * Without a call, the level comes from WRITEWATCH_LOG (none, error, warn,
 * info, debug or 0-4) and is none by default: the library stays silent. */
WW_API void ww_set_log(ww_log_fn fn, void *ctx, enum ww_log_level level);

#ifdef __cplusplus
}
#endif

#endif /* WRITEWATCH_H */
