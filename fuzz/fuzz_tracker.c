/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness: random sequences of ww_track / ww_untrack / writes /
 * reads / MADV_DONTNEED / ww_collect / ww_reset on random, possibly unaligned
 * or overlapping ranges of a small arena, checked against a reference model
 * that holds, per page, "tracked", "written since the last reset" and the
 * content at the last reset. It aborts on a false negative (a page written
 * since its last reset and not discarded since, or, for the backends that
 * see discards (pagemap-scan, uffd-wp), a page whose content differs from its content at the last
 * reset, that a collect does not report), on a false positive for the exact
 * backends
 * (pagemap-scan, mprotect: a page neither written nor discarded reported),
 * on any return value the contract does not allow, on data corruption, and
 * of course on any crash or sanitizer report. The backend comes from
 * FUZZ_BACKEND or WRITEWATCH_BACKEND (a name; default: auto).
 *
 * The arena's first half is anonymous private memory, its second half a
 * shared memfd mapping (shmem), so ranges cross from one kind to the other.
 *
 * Operations also include mapping fresh memory over tracked pages (mmap
 * MAP_FIXED): then a collect or reset over them may fail with -EFAULT, or
 * must report them.
 *
 * Input: 6 bytes per operation: op, offset (2 bytes), length (2 bytes), arg.
 * An input that starts with "SN" also has snapshot operations (op 9: take,
 * restore or free one snapshot, checked against its own model: restore
 * gives back the content at the take byte for byte, counts at least the
 * pages written since, and leaves the caller's view as the contract says);
 * inputs without it keep the meaning they had before snapshots existed.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "writewatch.h"

#define NP 24 /* arena pages */
#define MAXOPS 64

static size_t ps;
static enum ww_backend backend;
static bool exact; /* backend promises no false positives */
static bool sees_discards; /* MADV_DONTNEED'd pages are reported */
static bool prewrite; /* the tracker has WW_CAP_PREWRITE: copy-before-write snapshots */
/* COW finds a dropped page by its content (mprotect: no event tells of a
 * discard), so one that held nothing, or whose content the page cache kept
 * (memfd), is not lost: a "lost" page may then read back right instead. */
static bool loss_by_content;
/* pagemap-scan where a read fault maps no zero page: a page of a stretch
 * never populated that reads all zero is not reported (written with zeros,
 * or only read: its content did not change), writewatch(7) */
static bool zero_rule;
static bool no_replace; /* FUZZ_NO_REPLACE: skip MAP_FIXED (a known open bug) */
static bool trace; /* FUZZ_TRACE: print each operation, to turn a finding into a test */
static char *arena;
static unsigned char shadow[NP * 65536]; /* what the memory holds */
static unsigned char snap[NP * 65536]; /* what it held at the last reset */
static unsigned char alt[NP * 65536]; /* what it held at a failed reset since */

static bool zero(const unsigned char *b)
{
	for (size_t i = 0; i < ps; i++)
		if (b[i])
			return false;
	return true;
}

struct page {
	bool tracked;
	bool dirty; /* written since the last reset, while tracked, and not
		     * discarded since (a discarded write is gone: if the page
		     * was empty at the last reset, nothing changed) */
	bool loose; /* discarded since the last reset: may be reported */
	bool replaced; /* tracked, then mapped over (MAP_FIXED) */
	bool maybe; /* a ww_reset failed (-EFAULT) since the last reset: it may
		     * have re-armed the page or not, so its content is
		     * "unchanged" against snap or against alt */
	bool blind; /* two failed resets: more than two possible contents, so
		     * the content check is off until a reset succeeds (written
		     * pages are still checked through dirty) */
};
static struct page model[NP];

/* The live snapshot, if any, and what the model expects of it. */
static struct {
	struct ww_snapshot *s;
	size_t ps, pe; /* its pages */
	bool broken; /* part untracked since the take */
	unsigned char content[NP * 65536];
	struct page pre[NP]; /* the caller's view at the take / last restore */
	bool wrote[NP]; /* written (or replaced) since then: must be restored */
	bool disc[NP]; /* discarded since then: restored where the backend sees it */
	bool must[NP]; /* the caller re-armed it holding a write since: owed to it */
	bool may[NP]; /* ... perhaps (a reset over a page only maybe reported) */
	bool cow; /* WW_SNAP_COW */
	bool saved[NP]; /* COW: copied before a write since the take / restore */
	bool lost[NP]; /* COW: dropped (discard, mapped over) before it was copied */
} sn;

/* A write to page p: COW copies it first. */
static void sn_wrote(size_t p)
{
	sn.wrote[p] = true;
	if (sn.s && sn.cow && p >= sn.ps && p < sn.pe && model[p].tracked)
		sn.saved[p] = true;
}

/* Page p's content dropped without a write: COW loses it if not copied. */
static void sn_dropped(size_t p)
{
	if (sn.s && sn.cow && p >= sn.ps && p < sn.pe && model[p].tracked && !sn.saved[p])
		sn.lost[p] = true;
}

/* The caller re-armed page q: definitely holding a write (rep), or maybe. */
static void sn_rearmed(size_t q, bool rep, bool maybe)
{
	if (!sn.s || q < sn.ps || q >= sn.pe)
		return;
	sn.must[q] |= rep;
	sn.may[q] |= maybe;
}

#define FAIL(...)                                                                 \
	do {                                                                      \
		fprintf(stderr, "fuzz_tracker (%s): ", ww_backend_name(backend)); \
		fprintf(stderr, __VA_ARGS__);                                     \
		fputc('\n', stderr);                                              \
		abort();                                                          \
	} while (0)

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *name = getenv("FUZZ_BACKEND");
	char why[256];
	int b;

	(void)argc;
	(void)argv;
	ps = (size_t)sysconf(_SC_PAGESIZE);
	if (getenv("FUZZ_LIST_BACKENDS")) {
		/* the library's mechanisms, for run.sh: no list of its own */
		for (b = 1; b < WW_BACKEND_COUNT; b++)
			printf("%s\n", ww_backend_name((enum ww_backend)b));
		exit(0);
	}
	if (!name)
		name = getenv("WRITEWATCH_BACKEND");
	if (name && *name) {
		if (ww_backend_from_name(name, &backend) < 0) {
			fprintf(stderr, "fuzz_tracker: unknown backend %s\n", name);
			exit(2);
		}
	} else {
		b = ww_backend_auto(0);
		if (b < 0) {
			fprintf(stderr, "fuzz_tracker: no backend works here\n");
			exit(2);
		}
		backend = (enum ww_backend)b;
	}
	if (ww_backend_probe(backend, 0, why, sizeof(why))) {
		/* the test harness's skip line, on stdout */
		printf("SKIP: backend %s does not work here: %s\n", ww_backend_name(backend), why);
		exit(77);
	}
	exact = backend == WW_BACKEND_PAGEMAP_SCAN || backend == WW_BACKEND_MPROTECT;
	sees_discards = backend == WW_BACKEND_PAGEMAP_SCAN || backend == WW_BACKEND_UFFD_WP;
	loss_by_content = backend == WW_BACKEND_MPROTECT;
	{
		unsigned int facts = 0;

		ww_kernel_facts(&facts);
		zero_rule = backend == WW_BACKEND_PAGEMAP_SCAN && !(facts & WW_FACT_ZERO_PAGE);
	}
	no_replace = getenv("FUZZ_NO_REPLACE") != NULL;
	trace = getenv("FUZZ_TRACE") != NULL;
	return 0;
}

/* [*s, *e) pages of a byte range, clipped to the arena by construction. */
static void span(size_t off, size_t len, size_t *s, size_t *e)
{
	*s = off / ps;
	*e = (off + len + ps - 1) / ps;
}

static bool all_tracked(size_t s, size_t e)
{
	for (size_t p = s; p < e; p++)
		if (!model[p].tracked)
			return false;
	return true;
}

static bool any_tracked(size_t s, size_t e)
{
	for (size_t p = s; p < e; p++)
		if (model[p].tracked)
			return true;
	return false;
}

static bool any_replaced(size_t s, size_t e)
{
	for (size_t p = s; p < e; p++)
		if (model[p].replaced)
			return true;
	return false;
}

static void do_collect(struct ww_tracker *t, size_t off, size_t len, unsigned int flags, size_t max)
{
	struct iovec out[4];
	char *p = arena + off, *end = arena + off + len;
	bool rep[NP] = { false };
	size_t s, e, qe;
	ssize_t r;

	span(off, len, &s, &e);
	qe = e;
	if (len == 0) {
		r = ww_collect(t, p, 0, flags, out, max, NULL);
		if (r != -EINVAL)
			FAIL("collect len 0: %zd", r);
		return;
	}
	if (!all_tracked(s, e)) {
		r = ww_collect(t, p, len, flags, out, max, NULL);
		if (r != -ENOENT)
			FAIL("collect of untracked pages %zu-%zu: %zd, want -ENOENT", s, e, r);
		return;
	}
	while (p < end) {
		void *next = NULL;

		r = ww_collect(t, p, (size_t)(end - p), flags, out, max, &next);
		if (trace) {
			fprintf(stderr, "  collect from page %zu: %zd", (size_t)(p - arena) / ps,
				r);
			for (ssize_t i = 0; i < r; i++)
				fprintf(stderr, " [%zu,%zu)",
					(size_t)((char *)out[i].iov_base - arena) / ps,
					(size_t)((char *)out[i].iov_base + out[i].iov_len - arena) /
						ps);
			fputc('\n', stderr);
		}
		/* memory replaced under the tracker: a clear error is fine; the
		 * runs stored by earlier calls (re-armed with WW_RESET) stand,
		 * so the pages before this call's start are checked below */
		if (r == -EFAULT && any_replaced(s, e)) {
			qe = p == arena + off ? s : (size_t)(p - arena) / ps;
			break;
		}
		if (r < 0 || (size_t)r > max)
			FAIL("collect %p+%zu max %zu: %zd", (void *)p, (size_t)(end - p), max, r);
		if (!next || (char *)next <= p || (char *)next > end)
			FAIL("collect next %p outside (%p, %p]", next, (void *)p, (void *)end);
		for (ssize_t i = 0; i < r; i++) {
			char *b = out[i].iov_base;

			if ((uintptr_t)b % ps || out[i].iov_len % ps || !out[i].iov_len ||
			    b < arena + s * ps || b + out[i].iov_len > arena + e * ps)
				FAIL("bad run %p+%zu", (void *)b, out[i].iov_len);
			for (size_t q = 0; q < out[i].iov_len; q += ps)
				rep[(size_t)(b + q - arena) / ps] = true;
		}
		p = next;
	}
	for (size_t q = s; q < qe; q++) {
		if (model[q].dirty && !rep[q] &&
		    !(zero_rule && zero(shadow + q * ps) && zero(snap + q * ps)))
			FAIL("false negative: page %zu written since its last reset, not reported",
			     q);
		if (model[q].replaced && !rep[q])
			FAIL("false negative: page %zu replaced by a new mapping, not reported", q);
		if (sees_discards && !rep[q] && memcmp(shadow + q * ps, snap + q * ps, ps) &&
		    !(model[q].maybe && !memcmp(shadow + q * ps, alt + q * ps, ps)) &&
		    !model[q].blind)
			FAIL("false negative: page %zu changed since its last reset, not reported",
			     q);
		if (exact && rep[q] && !model[q].dirty && !model[q].loose && !model[q].replaced)
			FAIL("false positive: page %zu reported, neither written nor discarded", q);
		if (flags & WW_RESET) {
			sn_rearmed(q, rep[q], false);
			model[q].dirty = model[q].loose = model[q].replaced = false;
			model[q].maybe = model[q].blind = false;
			memcpy(snap + q * ps, shadow + q * ps, ps);
		}
	}
}

/* The snapshot's content, read back, against the model (COW: lost pages
 * say ENODATA). */
static void sn_check_read(void)
{
	static unsigned char buf[NP * 65536];

	for (size_t p = sn.ps; sn.s && p < sn.pe; p++) {
		ssize_t r = ww_snapshot_read(sn.s, arena + p * ps, ps, buf);

		if (sn.cow && sn.lost[p] && (r == -ENODATA || !loss_by_content)) {
			if (r != -ENODATA)
				FAIL("snapshot read of page %zu dropped before its copy: %zd", p,
				     r);
			continue;
		}
		if (r != (ssize_t)ps)
			FAIL("snapshot read of page %zu: %zd", p, r);
		if (memcmp(buf, sn.content + p * ps, ps))
			FAIL("snapshot read: page %zu differs from its content at the take", p);
	}
}

/* A page restore may leave as it is: its change was a discard the
 * backend does not see, or zeros written where the zero rule hides them. */
static bool sn_unseen(size_t p)
{
	if (sn.disc[p] && !sn.wrote[p] && !sees_discards)
		return true;
	return zero_rule && zero((unsigned char *)arena + p * ps);
}

static void sn_free(void)
{
	ww_snapshot_free(sn.s);
	sn.s = NULL;
}

static void sn_take(struct ww_tracker *t, size_t off, size_t len, bool cow)
{
	size_t s, e;
	int r;

	sn_free();
	span(off, len, &s, &e);
	r = ww_snapshot_take(t, arena + off, len, cow ? WW_SNAP_COW : 0, &sn.s);
	if (trace)
		fprintf(stderr, "  snapshot take: %d\n", r);
	if (len == 0) {
		if (r != -EINVAL)
			FAIL("snapshot take len 0: %d", r);
		return;
	}
	if (cow && !prewrite) { /* refused before the range is looked at */
		if (r != -EOPNOTSUPP)
			FAIL("COW snapshot without WW_CAP_PREWRITE: %d", r);
		return;
	}
	if (!all_tracked(s, e)) {
		if (r != -ENOENT)
			FAIL("snapshot take of untracked pages %zu-%zu: %d", s, e, r);
		return;
	}
	if (r == -EFAULT && any_replaced(s, e))
		return; /* what it re-armed stays the caller's: the model holds */
	if (cow && loss_by_content && e > NP / 2) { /* mprotect: not in shared memory */
		if (r != -EOPNOTSUPP)
			FAIL("COW snapshot over the memfd half on mprotect: %d", r);
		return;
	}
	if (r != 0 || !sn.s)
		FAIL("snapshot take pages %zu-%zu: %d", s, e, r);
	sn.ps = s;
	sn.pe = e;
	sn.broken = false;
	sn.cow = cow;
	memcpy(sn.content + s * ps, shadow + s * ps, (e - s) * ps);
	for (size_t p = s; p < e; p++) {
		sn.pre[p] = model[p];
		sn.wrote[p] = sn.disc[p] = sn.must[p] = sn.may[p] = false;
		sn.saved[p] = sn.lost[p] = false;
	}
}

static void sn_restore(void)
{
	size_t lo = 0, hi = 0;
	ssize_t r;

	if (!sn.s)
		return;
	sn_check_read();
	r = ww_snapshot_restore(sn.s);
	if (trace)
		fprintf(stderr, "  snapshot restore pages %zu-%zu: %zd\n", sn.ps, sn.pe, r);
	if (sn.broken || !all_tracked(sn.ps, sn.pe)) {
		if (r != -ENOENT)
			FAIL("restore of a snapshot partly untracked since: %zd", r);
		return;
	}
	for (size_t p = sn.ps; sn.cow && p < sn.pe && r != -EFAULT; p++)
		if (sn.lost[p] && (r == -ENODATA || !loss_by_content)) {
			if (r != -ENODATA)
				FAIL("COW restore with page %zu lost: %zd, want -ENODATA", p, r);
			return; /* what it re-armed stays the caller's: the model holds */
		}
	if (r == -EFAULT && any_replaced(sn.ps, sn.pe)) {
		/* a clear error, part restored or not: the model lets go */
		for (size_t p = sn.ps; p < sn.pe; p++) {
			memcpy(shadow + p * ps, arena + p * ps, ps);
			model[p].dirty = sn.pre[p].dirty && !sn.must[p] && !sn.may[p];
			model[p].loose = model[p].maybe = model[p].blind = true;
			sn.disc[p] = sn.may[p] = true;
		}
		return;
	}
	if (r < 0)
		FAIL("restore pages %zu-%zu: %zd", sn.ps, sn.pe, r);
	for (size_t p = sn.ps; p < sn.pe; p++) {
		bool back = !memcmp(arena + p * ps, sn.content + p * ps, ps);

		if (!back && !sn_unseen(p))
			FAIL("restore: page %zu differs from the snapshot (%s)", p,
			     sn.wrote[p] ? "written since" : "not written since");
		/* put back for sure: written since; perhaps: a change the
		 * backend may not see */
		bool sure = sn.wrote[p] && !(zero_rule && zero((unsigned char *)arena + p * ps));
		bool perhaps = !sure && (sn.wrote[p] || sn.disc[p]);

		lo += sure;
		hi += sn.wrote[p] || sn.disc[p];
		memcpy(shadow + p * ps, arena + p * ps, ps);
		/* the caller's view of a page put back: as at the take, unless
		 * it re-armed the page holding a write since (restore changed
		 * it back past that reset: reported); pages not put back keep
		 * the view they have */
		if (sure && sn.must[p])
			model[p] = (struct page){ .tracked = true, .dirty = true };
		else if ((sure || perhaps) && (sn.must[p] || sn.may[p]))
			model[p] = (struct page){
				.tracked = true, .loose = true, .maybe = true, .blind = true
			};
		else if (sure)
			model[p] = sn.pre[p];
		else if (perhaps) { /* put back and re-armed, or not */
			model[p].loose = model[p].maybe = model[p].blind = true;
			model[p].replaced = false;
		}
		sn.pre[p] = model[p];
		/* a discard the backend did not see, so did not put back,
		 * stays unseen for the next restore too */
		sn.disc[p] = sn.disc[p] && !back;
		sn.wrote[p] = sn.must[p] = sn.may[p] = false;
		sn.saved[p] = false; /* the next write copies it anew */
	}
	if ((size_t)r < lo || (exact && (size_t)r > hi))
		FAIL("restore put back %zd pages; written since %zu, written or discarded %zu", r,
		     lo, hi);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ww_opts o = { .sz = sizeof(o), .backend = backend };
	struct ww_tracker *t = NULL;
	size_t alen = NP * ps, nops = 0;
	bool snapops = size >= 2 && data[0] == 'S' && data[1] == 'N';
	int r, fd;

	if (snapops)
		data += 2, size -= 2;
	sn.s = NULL;

	arena = mmap(NULL, alen, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (arena == MAP_FAILED)
		FAIL("mmap arena: %s", strerror(errno));
	madvise(arena, alen, MADV_NOHUGEPAGE);
	fd = memfd_create("fuzz-arena", MFD_CLOEXEC);
	if (fd < 0 || ftruncate(fd, (off_t)(alen / 2)) ||
	    mmap(arena + alen / 2, alen / 2, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd,
		 0) != arena + alen / 2)
		FAIL("memfd half of the arena: %s", strerror(errno));
	close(fd);
	memset(shadow, 0, alen);
	memset(model, 0, sizeof(model));
	r = ww_open(&o, &t);
	if (r)
		FAIL("ww_open: %d", r);
	prewrite = ww_tracker_caps(t) & WW_CAP_PREWRITE;

	for (; size >= 6 && nops < MAXOPS; data += 6, size -= 6, nops++) {
		size_t off = (data[1] | (size_t)data[2] << 8) % alen;
		size_t len = (data[3] | (size_t)data[4] << 8) % (alen - off + 1);
		size_t s, e;
		char *a = arena + off;

		unsigned int op = data[0] % (snapops ? 10 : 9);

		span(off, len, &s, &e);
		if (trace) {
			static const char *const names[] = { "track",	"untrack", "write",
							     "write2",	"read",	   "dontneed",
							     "collect", "reset",   "map-fixed",
							     "snapshot" };

			fprintf(stderr, "op %zu: %s pages %zu-%zu (bytes %zu+%zu) arg %#x\n", nops,
				names[op], s, e, off, len, data[5]);
		}
		switch (op) {
		case 0: /* track */
			r = ww_track(t, a, len);
			if (len == 0) {
				if (r != -EINVAL)
					FAIL("track len 0: %d", r);
			} else if (any_tracked(s, e)) {
				if (r != -EEXIST)
					FAIL("track over tracked pages %zu-%zu: %d", s, e, r);
			} else if (r != 0) {
				FAIL("track pages %zu-%zu: %d", s, e, r);
			} else {
				for (size_t p = s; p < e; p++)
					model[p] = (struct page){ .tracked = true };
				memcpy(snap + s * ps, shadow + s * ps, (e - s) * ps);
			}
			break;
		case 1: /* untrack */
			r = ww_untrack(t, a, len);
			if (len == 0) {
				if (r != -EINVAL)
					FAIL("untrack len 0: %d", r);
			} else if (!all_tracked(s, e)) {
				if (r != -ENOENT)
					FAIL("untrack of untracked pages %zu-%zu: %d", s, e, r);
			} else if (r != 0) {
				FAIL("untrack pages %zu-%zu: %d", s, e, r);
			} else {
				for (size_t p = s; p < e; p++) {
					model[p] = (struct page){ 0 };
					/* COW copies what it still needs first */
					if (sn.s && sn.cow && p >= sn.ps && p < sn.pe)
						sn.saved[p] = !sn.lost[p];
				}
				if (sn.s && s < sn.pe && sn.ps < e)
					sn.broken = true;
			}
			break;
		case 2: /* write */
		case 3:
			if (len > 512 && data[0] % 8 == 3)
				len = 512; /* small writes, often unaligned */
			span(off, len, &s, &e);
			memset(a, data[5], len);
			memset(shadow + off, data[5], len);
			for (size_t p = s; p < e && len; p++) {
				if (model[p].tracked)
					model[p].dirty = true;
				sn_wrote(p);
			}
			break;
		case 4: { /* read */
			volatile unsigned char sum = 0;

			for (size_t i = 0; i < len; i += 97)
				sum += (unsigned char)a[i];
			(void)sum;
			break;
		}
		case 5: /* MADV_DONTNEED on whole pages: content becomes zero */
			if (e - s > 4)
				e = s + 4;
			if (s >= e || s >= NP)
				break;
			if (madvise(arena + s * ps, (e - s) * ps, MADV_DONTNEED))
				FAIL("madvise: %s", strerror(errno));
			for (size_t p = s; p < e; p++)
				sn_dropped(p);
			/* shmem keeps its content: only the PTEs go */
			for (size_t p = s; p < e && p < NP / 2; p++) {
				memset(shadow + p * ps, 0, ps);
				model[p].loose = true;
				model[p].dirty = false;
				/* a write then a discard: as if only discarded */
				sn.wrote[p] = false;
				sn.disc[p] = true;
			}
			break;
		case 6: /* collect, with or without reset, small max */
			do_collect(t, off, len, data[5] & 1 ? WW_RESET : 0, 1 + (data[5] >> 1) % 4);
			break;
		case 7: /* reset */
			r = ww_reset(t, a, len);
			if (trace)
				fprintf(stderr, "  reset: %d\n", r);
			if (len == 0) {
				if (r != -EINVAL)
					FAIL("reset len 0: %d", r);
			} else if (!all_tracked(s, e)) {
				if (r != -ENOENT)
					FAIL("reset of untracked pages %zu-%zu: %d", s, e, r);
			} else if (r == -EFAULT && any_replaced(s, e)) {
				/* a clear error; the pages before the replaced
				 * ones may have been re-armed or not: either is
				 * right, so until written again a page may or
				 * may not be reported */
				for (size_t p = s; p < e; p++) {
					sn_rearmed(p, false, true);
					model[p].dirty = false;
					model[p].loose = true;
					model[p].blind = model[p].maybe;
					model[p].maybe = true;
				}
				memcpy(alt + s * ps, shadow + s * ps, (e - s) * ps);
			} else if (r != 0) {
				FAIL("reset pages %zu-%zu: %d", s, e, r);
			} else {
				for (size_t p = s; p < e; p++) {
					struct page *m = &model[p];

					/* a write the zero rule hides is not re-armed */
					sn_rearmed(p, m->dirty && !zero_rule,
						   m->dirty || m->loose || m->replaced || m->maybe);
				}
				for (size_t p = s; p < e; p++)
					model[p].dirty = model[p].loose = model[p].replaced =
						model[p].maybe = model[p].blind = false;
				memcpy(snap + s * ps, shadow + s * ps, (e - s) * ps);
			}
			break;
		case 8: /* the application maps fresh memory over a few anonymous
			 * pages (mmap MAP_FIXED): content zero, tracking gone */
			if (e - s > 4)
				e = s + 4;
			if (e > NP / 2)
				e = NP / 2;
			if (s >= e || no_replace)
				break;
			if (mmap(arena + s * ps, (e - s) * ps, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != arena + s * ps)
				FAIL("mmap MAP_FIXED: %s", strerror(errno));
			memset(shadow + s * ps, 0, (e - s) * ps);
			for (size_t p = s; p < e; p++) {
				sn_dropped(p);
				if (model[p].tracked)
					model[p].replaced = true;
				sn.wrote[p] = true;
			}
			break;
		case 9: /* a snapshot: take (arg 0-3; COW with arg bit 0x10),
			 * restore (4-14), free (15) */
			if (data[5] % 16 < 4)
				sn_take(t, off, len, data[5] & 0x10);
			else if (data[5] % 16 < 15)
				sn_restore();
			else
				sn_free();
			break;
		}
		if (memcmp(arena, shadow, alen))
			FAIL("memory differs from what was written (op %zu)", nops);
	}
	/* Everything collected with the model's view must hold at the end,
	 * then close untracks all: the arena must be plainly writable. */
	for (size_t p = 0; p < NP; p++)
		if (model[p].tracked) {
			size_t q = p;

			while (q < NP && model[q].tracked)
				q++;
			do_collect(t, p * ps, (q - p) * ps, WW_RESET, 4);
			p = q;
		}
	ww_close(t);
	if (sn.s) { /* a snapshot outlives its tracker, its content too */
		ssize_t rr = ww_snapshot_restore(sn.s);

		sn_check_read();

		if (rr != -EBADF)
			FAIL("restore after ww_close: %zd, want -EBADF", rr);
		sn_free();
	}
	memset(arena, 0x5c, alen);
	munmap(arena, alen);
	return 0;
}
