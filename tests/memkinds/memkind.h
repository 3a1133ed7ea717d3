/* SPDX-License-Identifier: MIT */
/*
 * The memory kinds the memory-kind and lifecycle tests run on, and helpers to
 * map them and to check reported runs against written pages. Every test here
 * takes the backend as argv[1] and the kind as argv[2].
 */
#ifndef WW_TEST_MEMKIND_H
#define WW_TEST_MEMKIND_H

#include "harness.h"

enum mk_kind {
	MK_ANON_PRIVATE,
	MK_ANON_SHARED,
	MK_MEMFD,
	MK_SHM_FILE,
	MK_DISK_FILE,
	MK_PRIVATE_FILE,
	MK_HUGETLB,
	MK_THP,
	MK_COUNT,
};

struct mk_mem {
	enum mk_kind kind;
	char *base;
	size_t len;
	int fd; /* the backing file, or -1 */
	size_t unit; /* the kernel page size of the mapping */
};

const char *mk_name(enum mk_kind k);

/* argv[2] as a kind; exits 2 on a bad name. */
enum mk_kind mk_kind_arg(int argc, char **argv);

/* Map len bytes (a multiple of 2 MiB), 2 MiB aligned; exit 77 if this
 * machine cannot provide the kind. */
char *mk_map(enum mk_kind k, size_t len, struct mk_mem *mm);

/* A writable directory on a disk file system (not tmpfs): MEMKIND_DIR, the
 * working directory or /var/tmp; exits 77 if there is none. */
const char *mk_disk_dir(void);

/* Make [off, off+len) present the way a program would (see memkind.c). */
void mk_populate(struct mk_mem *mm, size_t off, size_t len);

/* Bytes of AnonHugePages in the mapping at addr. */
size_t mk_anon_huge(void *addr);

/* Whether a mapping in [addr, addr+len) carries VM_SOFTDIRTY (smaps VmFlags "sd"):
 * the kernel sets it on a VMA that was created, grown by a merge or moved
 * since the last soft-dirty clear, and pagemap then reports every page of
 * that VMA soft-dirty. The one case where soft-dirty may report pages
 * beyond what ww_tracker_granularity says (documented). */
bool mk_vma_soft_dirty(const void *addr, size_t len);

/* Fail unless every page marked in written[] is in runs, and every reported
 * page shares a unit-sized unit with a written page. */
void mk_check_cover(const char *what, const struct iovec *runs, size_t n, const char *base,
		    size_t len, const unsigned char *written, size_t unit);

#endif
