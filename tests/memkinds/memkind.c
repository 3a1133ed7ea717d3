/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by the memory-kind and lifecycle tests: map 4 MiB (two
 * 2 MiB-aligned huge-page units) of one kind of memory, and check that
 * reported runs cover written bytes. A kind this machine cannot provide
 * (no free hugetlb pages, no THP) exits 77 with the reason.
 */
#include "memkind.h"

#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#define HUGE_2M (2UL << 20)

static const char *const kind_names[] = {
	[MK_ANON_PRIVATE] = "anon-private",
	[MK_ANON_SHARED] = "anon-shared",
	[MK_MEMFD] = "memfd",
	[MK_SHM_FILE] = "shm-file",
	[MK_DISK_FILE] = "disk-file",
	[MK_PRIVATE_FILE] = "private-file",
	[MK_HUGETLB] = "hugetlb",
	[MK_THP] = "thp",
};

const char *mk_name(enum mk_kind k)
{
	return kind_names[k];
}

enum mk_kind mk_kind_arg(int argc, char **argv)
{
	for (int k = 0; argc > 2 && k < MK_COUNT; k++)
		if (!strcmp(argv[2], kind_names[k]))
			return (enum mk_kind)k;
	fprintf(stderr,
		"usage: %s BACKEND KIND (anon-private anon-shared memfd shm-file "
		"disk-file private-file hugetlb thp)\n",
		argv[0]);
	exit(2);
}

#define TMPFS_MAGIC 0x01021994
#define RAMFS_MAGIC 0x858458f6 /* an initramfs root may be one */

const char *mk_disk_dir(void)
{
	/* The build directory is on the disk file system (ext4 on the CI
	 * machine), unlike /tmp on many systems. */
	const char *dirs[] = { getenv("MEMKIND_DIR"), ".", "/var/tmp" };
	struct statfs sf;

	for (size_t i = 0; i < 3; i++)
		if (dirs[i] && !statfs(dirs[i], &sf) && sf.f_type != TMPFS_MAGIC &&
		    sf.f_type != RAMFS_MAGIC && !access(dirs[i], W_OK))
			return dirs[i];
	printf("SKIP: no disk file system to write to (MEMKIND_DIR, ., /var/tmp are "
	       "tmpfs, ramfs or missing)\n");
	exit(SKIP);
}

/* A file of len bytes in dir, unlinked at once (the mapping keeps it). */
static int temp_file(const char *dir, size_t len)
{
	char path[256];
	int fd;

	snprintf(path, sizeof(path), "%s/writewatch-memkind-XXXXXX", dir);
	fd = mkstemp(path);
	CHECK(fd >= 0);
	unlink(path);
	CHECK(ftruncate(fd, (off_t)len) == 0);
	return fd;
}

/* Reserve 2*len and trim to a 2 MiB-aligned len, so huge pages can back it. */
static char *aligned_hint(size_t len)
{
	char *r = mmap(NULL, len + HUGE_2M, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uintptr_t a;

	CHECK(r != MAP_FAILED);
	a = ((uintptr_t)r + HUGE_2M - 1) & ~(HUGE_2M - 1);
	munmap(r, len + HUGE_2M);
	return (char *)a;
}

static void thp_check(char *m, size_t len)
{
	FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "re");
	char mode[128] = "";

	if (!f || !fgets(mode, sizeof(mode), f)) {
		printf("SKIP: transparent huge pages not available (no "
		       "/sys/kernel/mm/transparent_hugepage)\n");
		exit(SKIP);
	}
	fclose(f);
	if (strstr(mode, "[never]")) {
		printf("SKIP: transparent huge pages disabled ([never])\n");
		exit(SKIP);
	}
	CHECK(madvise(m, len, MADV_HUGEPAGE) == 0);
}

/* Bytes of AnonHugePages in the mapping at addr (smaps). */
size_t mk_anon_huge(void *addr)
{
	FILE *f = fopen("/proc/self/smaps", "re");
	char line[256];
	int in = 0;
	size_t kb = 0;

	CHECK(f != NULL);
	while (fgets(line, sizeof(line), f)) {
		unsigned long s, e, v;
		char p[8];

		if (sscanf(line, "%lx-%lx %7s", &s, &e, p) == 3)
			in = (uintptr_t)addr >= s && (uintptr_t)addr < e;
		else if (in && sscanf(line, "AnonHugePages: %lu kB", &v) == 1)
			kb = v;
	}
	fclose(f);
	return kb * 1024;
}

bool mk_vma_soft_dirty(const void *addr, size_t len)
{
	FILE *f = fopen("/proc/self/smaps", "re");
	char line[512];
	int in = 0;
	bool sd = false;

	CHECK(f != NULL);
	while (fgets(line, sizeof(line), f)) {
		unsigned long s, e;
		char p[8];

		if (sscanf(line, "%lx-%lx %7s", &s, &e, p) == 3)
			in = (uintptr_t)addr < e && s < (uintptr_t)addr + len;
		else if (in && !strncmp(line, "VmFlags:", 8) && strstr(line, " sd"))
			sd = true;
	}
	fclose(f);
	return sd;
}

/* As root, add n pages to the hugetlb pool (CI normally reserves them up
 * front: see docs/memkinds.md). True if the pool grew. */
static bool hugetlb_reserve(size_t n)
{
	FILE *f = fopen("/proc/sys/vm/nr_hugepages", "r+e");
	unsigned long cur = 0, now = 0;

	if (!f)
		return false;
	if (fscanf(f, "%lu", &cur) == 1) {
		rewind(f);
		fprintf(f, "%lu\n", cur + n);
	}
	if (fclose(f) != 0)
		return false;
	f = fopen("/proc/sys/vm/nr_hugepages", "re");
	if (f && fscanf(f, "%lu", &now) != 1)
		now = 0;
	if (f)
		fclose(f);
	if (now > cur)
		printf("note: raised vm.nr_hugepages from %lu to %lu\n", cur, now);
	return now > cur;
}

char *mk_map(enum mk_kind k, size_t len, struct mk_mem *mm)
{
	int rw = PROT_READ | PROT_WRITE, fix = MAP_FIXED_NOREPLACE;
	char *hint = aligned_hint(len), *m = MAP_FAILED;
	struct statfs sf;

	mm->kind = k;
	mm->len = len;
	mm->fd = -1;
	mm->unit = PS;
	switch (k) {
	case MK_ANON_PRIVATE:
		m = mmap(hint, len, rw, MAP_PRIVATE | MAP_ANONYMOUS | fix, -1, 0);
		break;
	case MK_THP:
		m = mmap(hint, len, rw, MAP_PRIVATE | MAP_ANONYMOUS | fix, -1, 0);
		CHECK(m != MAP_FAILED);
		thp_check(m, len);
		break;
	case MK_ANON_SHARED:
		m = mmap(hint, len, rw, MAP_SHARED | MAP_ANONYMOUS | fix, -1, 0);
		break;
	case MK_MEMFD:
		mm->fd = memfd_create("writewatch-memkind", MFD_CLOEXEC);
		CHECK(mm->fd >= 0);
		CHECK(ftruncate(mm->fd, (off_t)len) == 0);
		m = mmap(hint, len, rw, MAP_SHARED | fix, mm->fd, 0);
		break;
	case MK_SHM_FILE: {
		/* /dev/shm, or any tmpfs at hand (a VM's root may be one) */
		const char *dirs[] = { "/dev/shm", getenv("TMPDIR"), "/tmp", "." }, *dir = NULL;

		for (size_t i = 0; i < 4 && !dir; i++)
			if (dirs[i] && !statfs(dirs[i], &sf) && sf.f_type == TMPFS_MAGIC)
				dir = dirs[i];
		if (!dir) {
			printf("SKIP: no tmpfs here (/dev/shm, $TMPDIR, /tmp, .)\n");
			exit(SKIP);
		}
		mm->fd = temp_file(dir, len);
		m = mmap(hint, len, rw, MAP_SHARED | fix, mm->fd, 0);
		break;
	}
	case MK_DISK_FILE:
	case MK_PRIVATE_FILE: {
		/* The build directory is on the disk file system (ext4 on the
		 * CI machine), unlike /tmp on many systems. */
		const char *dir = mk_disk_dir();

		mm->fd = temp_file(dir, len);
		/* File content that differs from zero, so a private mapping's
		 * copy-on-write and a reset to file content are visible. */
		for (size_t off = 0; off < len; off += PS) {
			char c = (char)(0x40 + (off / PS) % 32);
			CHECK(pwrite(mm->fd, &c, 1, (off_t)off) == 1);
		}
		m = mmap(hint, len, rw, (k == MK_DISK_FILE ? MAP_SHARED : MAP_PRIVATE) | fix,
			 mm->fd, 0);
		break;
	}
	case MK_HUGETLB:
		m = mmap(hint, len, rw, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | fix, -1, 0);
		if (m == MAP_FAILED && hugetlb_reserve(len / HUGE_2M))
			m = mmap(hint, len, rw, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | fix, -1,
				 0);
		if (m == MAP_FAILED) {
			printf("SKIP: no free 2 MiB hugetlb pages for %zu MiB (%s): raise "
			       "/proc/sys/vm/nr_hugepages (as root; the test tries)\n",
			       len >> 20, strerror(errno));
			exit(SKIP);
		}
		mm->unit = HUGE_2M;
		break;
	default:
		CHECK(0);
	}
	CHECK(m != MAP_FAILED);
	CHECK(m == hint);
	mm->base = m;
	return m;
}

void mk_populate(struct mk_mem *mm, size_t off, size_t len)
{
	/* hugetlb: populate by writing, a read would fault in zeroed memory
	 * just the same; files: read so the page cache page is mapped but
	 * the file content stays; anonymous: write (a read maps the zero
	 * page, which is not "populated"). */
	for (size_t o = off; o < off + len; o += PS) {
		if (mm->kind == MK_PRIVATE_FILE || mm->kind == MK_DISK_FILE)
			(void)*(volatile char *)(mm->base + o);
		else
			mm->base[o] = (char)(o / PS);
	}
}

void mk_check_cover(const char *what, const struct iovec *runs, size_t n, const char *base,
		    size_t len, const unsigned char *written, size_t unit)
{
	size_t pages = len / PS;
	bool *rep = calloc(pages, 1);

	CHECK(rep != NULL);
	harness_pages(runs, n, base, pages, rep);
	for (size_t p = 0; p < pages; p++) {
		size_t u0 = p * PS / unit * unit / PS, u1 = u0 + unit / PS;
		bool any = false;

		for (size_t q = u0; q < u1 && q < pages; q++)
			any |= written[q];
		if (written[p] && !rep[p]) {
			fprintf(stderr, "%s: page %zu written but not reported\n", what, p);
			exit(1);
		}
		if (rep[p] && !any) {
			fprintf(stderr,
				"%s: page %zu reported, nothing written in its %zu-byte unit\n",
				what, p, unit);
			exit(1);
		}
	}
	free(rep);
}
