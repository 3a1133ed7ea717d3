/* SPDX-License-Identifier: MIT */
/*
 * Kernel uapi definitions that Debian 12's linux-libc-dev (6.1) lacks, written
 * from the kernel's documented ABI (include/uapi/linux/fs.h and userfaultfd.h).
 * Each block notes the kernel version that introduced it and is guarded, so
 * newer system headers win; struct layouts are pinned by static asserts.
 */
#ifndef WW_SYS_UAPI_H
#define WW_SYS_UAPI_H

#include <linux/fs.h>
#include <linux/types.h>
#include <linux/userfaultfd.h>
#include <sys/ioctl.h>

/* PAGEMAP_SCAN: Linux 6.7 (linux/fs.h). */
#ifndef PAGEMAP_SCAN
#define PAGE_IS_WPALLOWED (1 << 0)
#define PAGE_IS_WRITTEN (1 << 1)
#define PAGE_IS_FILE (1 << 2)
#define PAGE_IS_PRESENT (1 << 3)
#define PAGE_IS_SWAPPED (1 << 4)
#define PAGE_IS_PFNZERO (1 << 5)
#define PAGE_IS_HUGE (1 << 6)

struct page_region {
	__u64 start;
	__u64 end;
	__u64 categories;
};

#define PM_SCAN_WP_MATCHING (1 << 0)
#define PM_SCAN_CHECK_WPASYNC (1 << 1)

struct pm_scan_arg {
	__u64 size;
	__u64 flags;
	__u64 start;
	__u64 end;
	__u64 walk_end;
	__u64 vec;
	__u64 vec_len;
	__u64 max_pages;
	__u64 category_inverted;
	__u64 category_mask;
	__u64 category_anyof_mask;
	__u64 return_mask;
};

#define PAGEMAP_SCAN _IOWR('f', 16, struct pm_scan_arg)
#endif

/* PAGE_IS_SOFT_DIRTY: Linux 6.8 (6.7 rejects it with EINVAL). */
#ifndef PAGE_IS_SOFT_DIRTY
#define PAGE_IS_SOFT_DIRTY (1 << 7)
#endif

/* PAGE_IS_GUARD: Linux 6.15. */
#ifndef PAGE_IS_GUARD
#define PAGE_IS_GUARD (1 << 8)
#endif

_Static_assert(sizeof(struct pm_scan_arg) == 96, "pm_scan_arg ABI is 96 bytes");
_Static_assert(sizeof(struct page_region) == 24, "page_region ABI is 24 bytes");

/* userfaultfd features (linux/userfaultfd.h). */
#ifndef UFFD_FEATURE_WP_HUGETLBFS_SHMEM /* Linux 5.19 */
#define UFFD_FEATURE_WP_HUGETLBFS_SHMEM (1 << 12)
#endif
#ifndef UFFD_FEATURE_WP_UNPOPULATED /* Linux 6.4 */
#define UFFD_FEATURE_WP_UNPOPULATED (1 << 13)
#endif
#ifndef UFFD_FEATURE_WP_ASYNC /* Linux 6.7 */
#define UFFD_FEATURE_WP_ASYNC (1 << 15)
#endif

/* userfaultfd(2) flag: Linux 5.11. */
#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif

/* /dev/userfaultfd: Linux 6.1. */
#ifndef USERFAULTFD_IOC
#define USERFAULTFD_IOC 0xAA
#endif
#ifndef USERFAULTFD_IOC_NEW
#define USERFAULTFD_IOC_NEW _IO(USERFAULTFD_IOC, 0x00)
#endif

/* UFFDIO_WRITEPROTECT and the WP register mode: Linux 5.7. Debian 12's
 * headers have them; older ones get the ABI values. */
#ifndef UFFDIO_REGISTER_MODE_WP
#define UFFDIO_REGISTER_MODE_WP ((__u64)1 << 1)
#endif
#ifndef UFFDIO_WRITEPROTECT_MODE_WP
#define UFFDIO_WRITEPROTECT_MODE_WP ((__u64)1 << 0)
#define UFFDIO_WRITEPROTECT_MODE_DONTWAKE ((__u64)1 << 1)
struct uffdio_writeprotect {
	struct uffdio_range range;
	__u64 mode;
};
#define _UFFDIO_WRITEPROTECT (0x06)
#define UFFDIO_WRITEPROTECT _IOWR(UFFDIO, _UFFDIO_WRITEPROTECT, struct uffdio_writeprotect)
#endif

#ifndef UFFDIO_COPY_MODE_WP /* Linux 5.7 */
#define UFFDIO_COPY_MODE_WP ((__u64)1 << 1)
#endif

_Static_assert(sizeof(struct uffdio_api) == 24, "uffdio_api ABI is 24 bytes");
_Static_assert(sizeof(struct uffdio_register) == 32, "uffdio_register ABI is 32 bytes");
_Static_assert(sizeof(struct uffdio_writeprotect) == 24, "uffdio_writeprotect ABI is 24 bytes");
_Static_assert(sizeof(struct uffd_msg) == 32, "uffd_msg ABI is 32 bytes");

/* PROCMAP_QUERY on /proc/PID/maps (Linux 6.11, <linux/fs.h>): one VMA per
 * call, no text. */
#ifndef PROCMAP_QUERY
struct procmap_query {
	__u64 size;
	__u64 query_flags;
	__u64 query_addr;
	__u64 vma_start;
	__u64 vma_end;
	__u64 vma_flags;
	__u64 vma_page_size;
	__u64 vma_offset;
	__u64 inode;
	__u32 dev_major;
	__u32 dev_minor;
	__u32 vma_name_size;
	__u32 build_id_size;
	__u64 vma_name_addr;
	__u64 build_id_addr;
};
#define PROCMAP_QUERY _IOWR('f', 17, struct procmap_query)
#define PROCMAP_QUERY_VMA_READABLE 0x01
#define PROCMAP_QUERY_VMA_WRITABLE 0x02
#define PROCMAP_QUERY_VMA_EXECUTABLE 0x04
#define PROCMAP_QUERY_VMA_SHARED 0x08
#define PROCMAP_QUERY_COVERING_OR_NEXT_VMA 0x10
#endif
_Static_assert(sizeof(struct procmap_query) == 104, "procmap_query ABI is 104 bytes");

/* pagemap entry bits (Documentation/admin-guide/mm/pagemap.rst). */
#define WW_PM_SOFT_DIRTY (1ULL << 55)
#define WW_PM_EXCLUSIVE (1ULL << 56)
#define WW_PM_UFFD_WP (1ULL << 57)
#define WW_PM_FILE_SHARED (1ULL << 61)
#define WW_PM_SWAP (1ULL << 62)
#define WW_PM_PRESENT (1ULL << 63)

#endif /* WW_SYS_UAPI_H */
