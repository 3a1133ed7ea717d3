/* SPDX-License-Identifier: MIT */
/*
 * Lifecycle events on tracked memory, one per run: argv[1] is the backend,
 * argv[2] the event. Each event checks the behaviour documented in
 * docs/memkinds.md for that backend: never a crash, never a page whose
 * content changed reported clean unless the table says that backend cannot
 * see that event, and a clear error (-EFAULT) for memory that went away.
 */
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "memkind.h"

#define NP 16
#define MAXR 64

static struct ww_tracker *t;
static struct iovec out[MAXR];
static bool dirty[1024];

static bool is_mprotect(void)
{
	return harness_has(WW_CAP_PROTECTS);
}

/* Backends that report a page dropped by MADV_DONTNEED (docs/memkinds.md). */
static bool sees_discards(void)
{
	return true; /* every backend, since issue 11 (soft-dirty, mprotect: pagemap) */
}

/* mprotect sees a discard through pagemap at the next collect; a discarded
 * page read back before it is a fresh page of zeros on a kernel that maps
 * no zero page, and that is unseen (documented in writewatch(7)). */
static bool sees_discard_read_back(void)
{
	return harness_sees_discard_read_back();
}

/* Set by grab(): soft-dirty reports every page of a VMA the kernel marked
 * VM_SOFTDIRTY (created, merged or moved since the last clear; documented).
 * For such a collect "k runs" means "at least the pages the test names",
 * which each test checks through dirty[] as well; otherwise soft-dirty is
 * held to exact pages like the others. */
static bool loose;
static unsigned int nloose; /* how many collects were relaxed */

static bool exact(void)
{
	return !loose;
}

#define RUNS(expr, k)                                   \
	do {                                            \
		ssize_t r_ = (expr);                    \
		if (exact())                            \
			CHECK_EQ(r_, (k));              \
		else                                    \
			CHECK(r_ >= ((k) > 0 ? 1 : 0)); \
	} while (0)

#define NDIRTY_IS(k) (exact() ? ndirty(NP) == (size_t)(k) : ndirty(NP) >= (size_t)(k))

/* Collect [m, m+np pages) into dirty[]; returns the ww_collect result. */
static ssize_t grab(char *m, size_t np, unsigned int flags)
{
	void *next;
	ssize_t n;

	loose = !harness_has(WW_CAP_EXACT) && mk_vma_soft_dirty(m, np * PS);
	nloose += loose;
	if (loose)
		printf("note: a mapping is marked VM_SOFTDIRTY: at least the written pages "
		       "checked\n");
	n = ww_collect(t, m, np * PS, flags, out, MAXR, &next);

	memset(dirty, 0, sizeof(dirty));
	if (n >= 0) {
		CHECK(next == m + np * PS);
		harness_pages(out, (size_t)n, m, np, dirty);
	}
	return n;
}

static size_t ndirty(size_t np)
{
	size_t c = 0;

	for (size_t i = 0; i < np; i++)
		c += dirty[i];
	return c;
}

static char *map_memfd(size_t np, int *fdp)
{
	int fd = memfd_create("writewatch-life", MFD_CLOEXEC);
	char *m;

	CHECK(fd >= 0);
	CHECK(ftruncate(fd, (off_t)(np * PS)) == 0);
	m = mmap(NULL, np * PS, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	CHECK(m != MAP_FAILED);
	memset(m, 0x11, np * PS);
	if (fdp)
		*fdp = fd;
	else
		close(fd);
	return m;
}

/* MADV_DONTNEED on anonymous private pages: content becomes zero. */
static void ev_dontneed_anon(void)
{
	char *m = harness_map(NP);

	memset(m, 0x5a, NP * PS);
	CHECK_EQ(ww_track(t, m, NP * PS), 0);
	CHECK_EQ(madvise(m + 2 * PS, 2 * PS, MADV_DONTNEED), 0);
	CHECK_EQ(m[2 * PS], 0);
	RUNS(grab(m, NP, WW_RESET), sees_discards() ? 1 : 0);
	if (sees_discards() && !sees_discard_read_back()) {
		/* page 2 was read back (a fresh page of zeros): unseen */
		CHECK(dirty[3] && NDIRTY_IS(1));
	} else if (sees_discards()) {
		/* content changed: reported as written */
		CHECK(dirty[2] && dirty[3] && NDIRTY_IS(2));
	}
	if (sees_discards()) {
		/* re-armed: a read (zero page) is not a write, a write is */
		CHECK_EQ(m[3 * PS], 0);
		RUNS(grab(m, NP, 0), 0);
	}
	m[3 * PS] = 1;
	RUNS(grab(m, NP, WW_RESET), 1);
	CHECK(dirty[3] && NDIRTY_IS(1));
	/* discarded again after being written and re-armed */
	CHECK_EQ(madvise(m + 3 * PS, PS, MADV_DONTNEED), 0);
	RUNS(grab(m, NP, WW_RESET), sees_discards() ? 1 : 0);
	RUNS(grab(m, NP, 0), 0);
}

/* MADV_REMOVE on shared memory (memfd): punches a hole, content zero. */
/* MADV_DONTNEED of a whole 2 MiB-aligned stretch: the kernel may free its
 * PTE table (CONFIG_PT_RECLAIM), taking the wp markers with it, and
 * pagemap-scan collects such stretches on the fast path, which must read
 * the missing table as written. Every page held data: all must be
 * reported; re-armed, a read is clean and a write is seen. */
static void ev_dontneed_table(void)
{
	size_t huge = (size_t)2 << 20;
	char *raw =
		mmap(NULL, 3 * huge, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *m = (char *)(((uintptr_t)raw + huge - 1) & ~(uintptr_t)(huge - 1));
	struct iovec o[4];
	size_t n, got = 0;

	CHECK(raw != MAP_FAILED);
	CHECK_EQ(madvise(m, 2 * huge, MADV_NOHUGEPAGE), 0);
	memset(m, 0x3c, 2 * huge);
	CHECK_EQ(ww_track(t, m, 2 * huge), 0);
	CHECK_EQ(madvise(m, huge, MADV_DONTNEED), 0);
	CHECK_EQ(m[PS], 0);
	n = harness_collect_all(t, m, 2 * huge, WW_RESET, o, 4);
	for (size_t i = 0; i < n; i++) {
		CHECK((char *)o[i].iov_base >= m &&
		      (char *)o[i].iov_base + o[i].iov_len <= m + huge);
		got += o[i].iov_len;
	}
	if (sees_discards()) {
		/* every page changed to zeros (the one read back is unseen
		 * where that needs the zero page) */
		CHECK_EQ(got, sees_discard_read_back() ? huge : huge - PS);
		CHECK_EQ(m[7 * PS], 0);
		CHECK_EQ(harness_collect_all(t, m, 2 * huge, 0, o, 4), 0);
	}
	m[9 * PS] = 1;
	n = harness_collect_all(t, m, 2 * huge, WW_RESET, o, 4);
	if (exact()) {
		CHECK_EQ(n, 1);
		CHECK(o[0].iov_base == m + 9 * PS && o[0].iov_len == PS);
	} else { /* soft-dirty: every written byte covered */
		bool seen = false;

		for (size_t i = 0; i < n; i++)
			seen |= (char *)o[i].iov_base <= m + 9 * PS &&
				(char *)o[i].iov_base + o[i].iov_len > m + 9 * PS;
		CHECK(seen);
	}
	CHECK_EQ(ww_untrack(t, m, 2 * huge), 0);
	munmap(raw, 3 * huge);
}

static void ev_remove_shmem(void)
{
	char *m = map_memfd(NP, NULL);

	CHECK_EQ(ww_track(t, m, NP * PS), 0);
	CHECK_EQ(madvise(m + 5 * PS, PS, MADV_REMOVE), 0);
	CHECK_EQ(m[5 * PS], 0);
	CHECK(grab(m, NP, WW_RESET) >= 0);
	/* Documented gap: the kernel keeps the uffd-wp marker across a hole
	 * punch, and the refault maps the new zero page write-protected, so
	 * pagemap-scan cannot see it; mprotect sees no fault at all. Pinned
	 * here so a change in either shows up. */
	if (harness_backend == WW_BACKEND_PAGEMAP_SCAN || is_mprotect())
		CHECK_EQ(ndirty(NP), 0);
	else if (harness_backend == WW_BACKEND_UFFD_WP)
		CHECK(dirty[5] && ndirty(NP) == 1); /* the discard event */
	else
		CHECK(!exact() || ndirty(NP) <= 1);
	if (getenv("LIFE_VERBOSE"))
		printf("discard reported: %zu pages\n", ndirty(NP));
	m[6 * PS] = 2;
	CHECK(grab(m, NP, WW_RESET) >= 0);
	CHECK(dirty[6] && NDIRTY_IS(1));
}

/* MADV_DONTNEED on shared memory: only this process's PTEs go, the content
 * stays, so nothing needs reporting; tracking goes on. */
static void ev_dontneed_shmem(void)
{
	char *m = map_memfd(NP, NULL);

	CHECK_EQ(ww_track(t, m, NP * PS), 0);
	CHECK_EQ(madvise(m + 5 * PS, 2 * PS, MADV_DONTNEED), 0);
	CHECK_EQ(m[5 * PS], 0x11); /* content kept */
	/* uffd-wp reports the pages (documented false positive): its discard
	 * event does not tell this from a hole punch, which drops content */
	RUNS(grab(m, NP, WW_RESET), harness_backend == WW_BACKEND_UFFD_WP ? 1 : 0);
	if (harness_backend == WW_BACKEND_UFFD_WP)
		CHECK(dirty[5] && dirty[6] && NDIRTY_IS(2));
	m[6 * PS] = 2;
	RUNS(grab(m, NP, WW_RESET), 1);
	CHECK(dirty[6] && NDIRTY_IS(1));
}

/* MADV_DONTNEED on a private file mapping drops the private copy: the page
 * reads the file content again, so its content changed. */
static void ev_dontneed_private_file(void)
{
	char path[256];
	int fd;
	char *m;

	snprintf(path, sizeof(path), "%s/writewatch-life-XXXXXX", mk_disk_dir());
	fd = mkstemp(path);
	CHECK(fd >= 0);
	unlink(path);
	CHECK(ftruncate(fd, (off_t)(NP * PS)) == 0);
	m = mmap(NULL, NP * PS, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	CHECK(m != MAP_FAILED);
	memset(m, 0x33, NP * PS); /* private copies of every page */
	if (harness_backend == WW_BACKEND_UFFD_WP) {
		/* documented: synchronous uffd-wp does not take disk files */
		CHECK_EQ(ww_track(t, m, NP * PS), -EOPNOTSUPP);
		close(fd);
		return;
	}
	CHECK_EQ(ww_track(t, m, NP * PS), 0);
	CHECK_EQ(madvise(m + 4 * PS, PS, MADV_DONTNEED), 0);
	CHECK_EQ(m[4 * PS], 0); /* the file's content */
	CHECK(grab(m, NP, WW_RESET) >= 0);
	/* Documented gap, as for MADV_REMOVE: on a file mapping the kernel
	 * keeps the uffd-wp marker when it drops the private copy, and the
	 * file page comes back write-protected. mprotect sees in pagemap
	 * that the private copy is gone (a file page stands in its place). */
	if (harness_backend == WW_BACKEND_PAGEMAP_SCAN)
		CHECK_EQ(ndirty(NP), 0);
	else if (is_mprotect())
		CHECK(dirty[4] && ndirty(NP) == 1);
	else if (harness_backend == WW_BACKEND_UFFD_WP)
		CHECK(dirty[5] && ndirty(NP) == 1); /* the discard event */
	else
		CHECK(!exact() || ndirty(NP) <= 1);
	if (getenv("LIFE_VERBOSE"))
		printf("discard reported: %zu pages\n", ndirty(NP));
	m[4 * PS] = 9;
	CHECK(grab(m, NP, WW_RESET) >= 0);
	CHECK(dirty[4] && NDIRTY_IS(1));
	close(fd);
}

/* The application unmaps the middle of a tracked range: calls over the hole
 * fail with -EFAULT, the parts still mapped keep working, untrack works. */
static void ev_munmap_part(void)
{
	char *m = harness_map(NP);

	CHECK_EQ(ww_track(t, m, NP * PS), 0);
	m[PS] = 1;
	CHECK_EQ(munmap(m + 4 * PS, 4 * PS), 0);
	CHECK_EQ(grab(m, NP, 0), -EFAULT);
	CHECK_EQ(grab(m, NP, WW_RESET), -EFAULT);
	CHECK_EQ(ww_reset(t, m, NP * PS), -EFAULT);
	RUNS(grab(m, 4, WW_RESET), 1);
	CHECK(dirty[1]);
	m[12 * PS] = 1;
	RUNS(grab(m + 8 * PS, 8, WW_RESET), 1);
	CHECK(dirty[4]);
	CHECK_EQ(ww_untrack(t, m, NP * PS), 0);
	memset(m, 1, 4 * PS);
	memset(m + 8 * PS, 1, 8 * PS);
	munmap(m, NP * PS);
}

/* Regression: the mprotect backend's untrack stopped at the first hole the
 * application had punched with munmap, and left the rest read-only (the next
 * write crashed the program). */
static void ev_untrack_after_munmap(void)
{
	char *m = harness_map(NP);

	CHECK_EQ(ww_track(t, m, NP * PS), 0);
	m[5 * PS] = 1;
	CHECK_EQ(munmap(m, 2 * PS), 0);
	CHECK_EQ(ww_untrack(t, m, NP * PS), 0);
	memset(m + 2 * PS, 1, (NP - 2) * PS);
	munmap(m, NP * PS);
}

/* The application replaces tracked memory with a new mapping (MAP_FIXED):
 * the old tracking is gone; its pages must never read as clean. */
static void ev_map_fixed(void)
{
	char *m = harness_map(NP), *r;
	ssize_t n;

	CHECK_EQ(ww_track(t, m, NP * PS), 0);
	r = mmap(m + 2 * PS, 4 * PS, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	CHECK(r == m + 2 * PS);
	memset(r, 3, 4 * PS); /* must not fault fatally */
	n = grab(m, NP, WW_RESET);
	if (n != -EFAULT) {
		/* a backend may instead report the replaced pages written */
		CHECK(n >= 1);
		for (int i = 2; i < 6; i++)
			CHECK(dirty[i]);
	}
	/* regression (found by the fuzzer): pagemap-scan's ww_reset said
	 * -EPERM here, an error the contract does not have */
	n = ww_reset(t, m, NP * PS);
	CHECK(n == 0 || n == -EFAULT);
	CHECK_EQ(ww_untrack(t, m, NP * PS), 0);
	memset(m, 1, NP * PS);
	munmap(m, NP * PS);
}

/* Memory replaced in the middle of a tracked range, after written pages:
 * whatever a backend says for the replaced part, the writes before it are
 * never lost. Regression (found by the fuzzer): pagemap-scan's re-arming
 * scan re-armed pages 0-1, then failed at the replaced mapping, and the
 * collect returned -EFAULT, dropping them. Now runs stored before an error
 * are returned, *next stops short, and the error comes from the next call. */
static void ev_map_fixed_keeps_runs(void)
{
	char *m = harness_map(NP), *r, *end = m + NP * PS;
	void *next = NULL;
	ssize_t n;

	memset(m, 1, NP * PS); /* populated: pagemap-scan arms it whole */
	CHECK_EQ(ww_track(t, m, NP * PS), 0);
	m[0] = 2;
	m[PS] = 2;
	r = mmap(m + 4 * PS, 4 * PS, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	CHECK(r == m + 4 * PS);
	n = ww_collect(t, m, NP * PS, WW_RESET, out, MAXR, &next);
	if (n == -EFAULT) {
		/* the error first: then nothing was re-armed */
		n = ww_collect(t, m, 2 * PS, 0, out, MAXR, NULL);
		RUNS(n, 1);
		CHECK(out[0].iov_base == m && out[0].iov_len >= 2 * PS);
	} else {
		CHECK(n >= 1);
		CHECK(out[0].iov_base == m && out[0].iov_len >= 2 * PS);
		if ((char *)next < end) {
			CHECK((char *)next > m);
			n = ww_collect(t, next, (size_t)(end - (char *)next), WW_RESET, out, MAXR,
				       NULL);
			CHECK(n >= 0 || n == -EFAULT);
		}
	}
	CHECK_EQ(ww_untrack(t, m, NP * PS), 0);
	memset(m, 1, NP * PS);
	munmap(m, NP * PS);
}

/* mprotect only: mremap refused the range (EFAULT) after page 1 was
 * written; the memory stays where it was, tracked. */
static void mremap_refused(char *m)
{
	CHECK_EQ(errno, EFAULT);
	m[3 * PS] = 1;
	RUNS(grab(m, NP, WW_RESET), 2);
	CHECK(dirty[1] && dirty[3]);
	CHECK_EQ(ww_untrack(t, m, NP * PS), 0);
}

/* mremap moves, grows or shrinks tracked memory: the old range reports
 * -EFAULT where it is gone, the new pages are untracked and writable, and
 * untrack cleans up. */
static void ev_mremap(int how)
{
	char *m = harness_map(NP), *n2;
	char *dst = harness_map(2 * NP); /* a place to move to */

	munmap(dst, 2 * NP * PS);
	memset(m, 0x44, NP * PS);
	CHECK_EQ(ww_track(t, m, NP * PS), 0);
	m[PS] = 1;
	if (how == 0) { /* move */
		n2 = mremap(m, NP * PS, NP * PS, MREMAP_MAYMOVE | MREMAP_FIXED, dst);
		if (n2 == MAP_FAILED && is_mprotect()) {
			/* documented: the written page made the backend split
			 * the range into three VMAs; older kernels' mremap
			 * moves only one VMA (EFAULT on 6.1; 6.18 moves them
			 * all). */
			mremap_refused(m);
			return;
		}
		CHECK(n2 == dst);
		CHECK_EQ(n2[2 * PS], 0x44);
		if (is_mprotect()) {
			/* documented: the protection moves with the pages and
			 * the new place is unknown to the tracker, so the
			 * application must untrack before mremap. */
			CHECK(mprotect(n2, NP * PS, PROT_READ | PROT_WRITE) == 0);
		}
		memset(n2, 2, NP * PS);
		CHECK_EQ(grab(m, NP, 0), -EFAULT);
		munmap(n2, NP * PS);
	} else if (how == 1) { /* grow in place or move */
		n2 = mremap(m, NP * PS, 2 * NP * PS, MREMAP_MAYMOVE);
		if (n2 == MAP_FAILED && is_mprotect()) {
			/* documented: the backend's protections split the
			 * range into several VMAs, and mremap resizes only
			 * one. */
			mremap_refused(m);
			return;
		}
		CHECK(n2 != MAP_FAILED);
		if (n2 == m) {
			/* grown in place: the old range is still mapped */
			m[3 * PS] = 1;
			n2[NP * PS] = 1;
			CHECK(grab(m, NP, WW_RESET) >= 0);
			CHECK(dirty[3]);
		} else {
			CHECK_EQ(grab(m, NP, 0), -EFAULT);
		}
		if (is_mprotect())
			CHECK(mprotect(n2, 2 * NP * PS, PROT_READ | PROT_WRITE) == 0);
		memset(n2, 2, 2 * NP * PS);
		munmap(n2, 2 * NP * PS);
	} else { /* shrink */
		n2 = mremap(m, NP * PS, NP / 2 * PS, 0);
		CHECK(n2 == m);
		CHECK_EQ(grab(m, NP, 0), -EFAULT);
		m[2 * PS] = 5;
		RUNS(grab(m, NP / 2, WW_RESET), 1);
		CHECK(dirty[1] && dirty[2] && NDIRTY_IS(2));
		munmap(m, NP / 2 * PS);
	}
	CHECK_EQ(ww_untrack(t, m, NP * PS), 0);
}

/* fork: the parent keeps tracking (its copy-on-write after fork is a write
 * like any other), the child is untracked and unharmed. */
static void ev_fork(void)
{
	char *m = harness_map(NP);
	int st, p[2];
	pid_t pid;

	memset(m, 0x21, NP * PS);
	CHECK_EQ(ww_track(t, m, NP * PS), 0);
	m[PS] = 1;
	CHECK_EQ(pipe(p), 0);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		FILE *f = fopen("/proc/self/smaps", "re");
		char line[256];
		int in = 0, bad = 0;
		char c;

		/* no userfaultfd registration was inherited */
		while (f && fgets(line, sizeof(line), f)) {
			unsigned long s, e;
			char perms[8];

			if (sscanf(line, "%lx-%lx %7s", &s, &e, perms) == 3)
				in = (uintptr_t)m >= s && (uintptr_t)m < e;
			else if (in && !strncmp(line, "VmFlags:", 8) && strstr(line, " uw"))
				bad = 1;
		}
		if (f)
			fclose(f);
		/* the child's writes land in its own copy, without a hang */
		memset(m, 0x7e, NP * PS);
		if (read(p[0], &c, 1) != 1 || m[0] != 0x7e)
			bad = 1;
		_exit(bad ? 3 : 0);
	}
	/* the parent writes while the child holds the pages copy-on-write */
	m[5 * PS] = 2;
	CHECK_EQ(write(p[1], "x", 1), 1);
	CHECK_EQ(waitpid(pid, &st, 0), pid);
	CHECK(WIFEXITED(st));
	CHECK_EQ(WEXITSTATUS(st), 0);
	RUNS(grab(m, NP, WW_RESET), 2);
	CHECK(dirty[1] && dirty[5] && NDIRTY_IS(2));
	CHECK_EQ(m[0], 0x21); /* the child's writes were its own */
	/* after the child is gone, tracking goes on */
	m[7 * PS] = 3;
	RUNS(grab(m, NP, WW_RESET), 1);
	CHECK(dirty[7]);
	CHECK_EQ(ww_untrack(t, m, NP * PS), 0);
}

/* The application calls mprotect on tracked memory. pagemap-scan and uffd-wp
 * track through it. The mprotect backend (documented): pages the
 * application makes writable are reported written at the next collect (it
 * cannot see their writes), and a page it makes read-only is honoured only
 * once it was written since the last reset. */
static void ev_mprotect_app(void)
{
	char *m = harness_map(NP);

	CHECK_EQ(ww_track(t, m, NP * PS), 0);
	CHECK_EQ(mprotect(m, NP * PS, PROT_READ), 0);
	CHECK_EQ(mprotect(m, NP * PS, PROT_READ | PROT_WRITE), 0);
	m[3 * PS] = 1;
	CHECK(grab(m, NP, WW_RESET) >= 1);
	CHECK(dirty[3]);
	if (is_mprotect())
		CHECK(NDIRTY_IS(NP)); /* conservative: all of it */
	else
		CHECK(NDIRTY_IS(1));
	/* re-armed by WW_RESET: precise again */
	m[9 * PS] = 1;
	RUNS(grab(m, NP, WW_RESET), 1);
	CHECK(dirty[9] && NDIRTY_IS(1));
	if (is_mprotect()) {
		/* documented: a clean page the application makes read-only
		 * is taken for a tracked page, and its write goes through */
		CHECK_EQ(mprotect(m + 12 * PS, PS, PROT_READ), 0);
		m[12 * PS] = 1;
		RUNS(grab(m, NP, WW_RESET), 1);
		CHECK(dirty[12] && NDIRTY_IS(1));
	}
	CHECK_EQ(ww_untrack(t, m, NP * PS), 0);
}

/* Another process writes with process_vm_writev. pagemap-scan and uffd-wp
 * record it (the kernel write faults like any other); under mprotect the
 * call fails with EFAULT (documented, as for read(2)). */
static void ev_process_vm_writev(void)
{
	char *m = harness_map(NP);
	pid_t parent = getpid(), pid;
	int st;

	CHECK_EQ(ww_track(t, m, NP * PS), 0);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		char buf[3] = "pvw";
		struct iovec l = { buf, 3 }, r = { m + 6 * PS + 5, 3 };
		ssize_t w = process_vm_writev(parent, &l, 1, &r, 1, 0);

		_exit(w == 3 ? 0 : w < 0 && errno == EFAULT ? 4 : w < 0 && errno == EPERM ? 5 : 3);
	}
	CHECK_EQ(waitpid(pid, &st, 0), pid);
	CHECK(WIFEXITED(st));
	if (WEXITSTATUS(st) == 5) {
		printf("SKIP: process_vm_writev into the parent not permitted (ptrace_scope)\n");
		exit(SKIP);
	}
	if (is_mprotect()) {
		CHECK_EQ(WEXITSTATUS(st), 4);
		RUNS(grab(m, NP, 0), 0);
	} else {
		CHECK_EQ(WEXITSTATUS(st), 0);
		CHECK(!memcmp(m + 6 * PS + 5, "pvw", 3));
		RUNS(grab(m, NP, WW_RESET), 1);
		CHECK(dirty[6] && NDIRTY_IS(1));
	}
	CHECK_EQ(ww_untrack(t, m, NP * PS), 0);
}

/* A second process writes shared memory through its own mapping. Every
 * backend watches this process's page tables or protections, so none sees
 * it (documented): the test pins that down, and checks tracking goes on. */
static void ev_shared_writer(void)
{
	int fd, st;
	char *m = map_memfd(NP, &fd);
	pid_t pid;
	int go[2], done[2];
	char c;

	CHECK_EQ(pipe(go), 0);
	CHECK_EQ(pipe(done), 0);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		char *cm = mmap(NULL, NP * PS, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

		if (cm == MAP_FAILED || read(go[0], &c, 1) != 1)
			_exit(3);
		cm[8 * PS] = 0x55;
		_exit(write(done[1], "d", 1) == 1 ? 0 : 3);
	}
	CHECK_EQ(ww_track(t, m, NP * PS), 0);
	CHECK_EQ(write(go[1], "g", 1), 1);
	CHECK_EQ(read(done[0], &c, 1), 1);
	CHECK_EQ(waitpid(pid, &st, 0), pid);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	CHECK_EQ(m[8 * PS], 0x55); /* the write is there... */
	RUNS(grab(m, NP, WW_RESET), 0); /* ...and not seen (documented) */
	m[9 * PS] = 1;
	RUNS(grab(m, NP, WW_RESET), 1);
	CHECK(dirty[9] && NDIRTY_IS(1));
	CHECK_EQ(ww_untrack(t, m, NP * PS), 0);
}

static const struct {
	const char *name;
	void (*fn)(void);
} events[] = {
	{ "dontneed-anon", ev_dontneed_anon },
	{ "remove-shmem", ev_remove_shmem },
	{ "dontneed-shmem", ev_dontneed_shmem },
	{ "dontneed-private-file", ev_dontneed_private_file },
	{ "munmap-part", ev_munmap_part },
	{ "untrack-after-munmap", ev_untrack_after_munmap },
	{ "map-fixed", ev_map_fixed },
	{ "dontneed-table", ev_dontneed_table },
	{ "map-fixed-keeps-runs", ev_map_fixed_keeps_runs },
	{ "fork", ev_fork },
	{ "mprotect-app", ev_mprotect_app },
	{ "process-vm-writev", ev_process_vm_writev },
	{ "shared-writer", ev_shared_writer },
};

static void mv_move(void)
{
	ev_mremap(0);
}
static void mv_grow(void)
{
	ev_mremap(1);
}
static void mv_shrink(void)
{
	ev_mremap(2);
}

int main(int argc, char **argv)
{
	void (*fn)(void) = NULL;

	if (argc > 2 && !strcmp(argv[2], "mremap-move"))
		fn = mv_move;
	else if (argc > 2 && !strcmp(argv[2], "mremap-grow"))
		fn = mv_grow;
	else if (argc > 2 && !strcmp(argv[2], "mremap-shrink"))
		fn = mv_shrink;
	for (size_t i = 0; argc > 2 && i < sizeof(events) / sizeof(events[0]); i++)
		if (!strcmp(argv[2], events[i].name))
			fn = events[i].fn;
	if (!fn) {
		fprintf(stderr, "usage: %s BACKEND EVENT\n", argv[0]);
		return 2;
	}
	t = harness_open(argc, argv);
	fn();
	ww_close(t);
	printf("ok: %s: %s%s\n", argv[1], argv[2],
	       nloose ? " (some collects over a VM_SOFTDIRTY mapping: coverage only)" : "");
	return 0;
}
