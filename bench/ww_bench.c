/* SPDX-License-Identifier: MIT */
/*
 * ww-bench: every write-tracking mechanism side by side, against the bare
 * kernel interface (a userfaultfd in WP_ASYNC mode and the PAGEMAP_SCAN ioctl
 * driven directly, no library in between) and against what programs do
 * without write tracking (fork snapshots, comparing against a copy).
 * Benchmarks: first write after reset (in this process, and in another one
 * tracked from outside: ww-bench-target), collect+reset over growing
 * regions, tracking a sparse reservation, writers racing a collector, the
 * alternatives, snapshots (rollback, a COW save while writers run, the first
 * write after a COW snapshot) and ww_track's cost as ranges grow. Each prints a human table, and JSON Lines with --json, with
 * median/min/max over repetitions that follow a warm-up. Not a test: nothing
 * here passes or fails on timing; a wrong page count is flagged in the note.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "writewatch.h"
#include "sys/uapi.h"
#include "fw_target.h"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14 */
#endif

#define KiB (1024ULL)
#define MiB (1024ULL * KiB)
#define GiB (1024ULL * MiB)
#define MAXREP 64

static size_t ps;
static bool quick;
static FILE *human; /* the table */
static FILE *jsonl; /* JSON Lines, or NULL */
static unsigned int want_backends = ~0u; /* bit per enum ww_backend */

/* ---- small utilities ------------------------------------------------- */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* xorshift64*: reproducible scattering, same pages in every run. */
static uint64_t rnd_next(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ULL;
}

struct stats {
	double med, min, max;
	int n;
};

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static struct stats stats_of(double *v, int n)
{
	struct stats s = { NAN, NAN, NAN, n };

	if (n <= 0)
		return s;
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	s.min = v[0];
	s.max = v[n - 1];
	s.med = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
	return s;
}

static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "ww-bench: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(1);
}

/* Anonymous private memory of 4 KiB pages (no THP, so every page is its own
 * PTE), populated for writing when populate is set. */
static char *region_map(size_t len, bool populate, bool noreserve)
{
	char *m = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | (noreserve ? MAP_NORESERVE : 0), -1, 0);

	if (m == MAP_FAILED)
		die("mmap %zu MiB: %s", (size_t)(len / MiB), strerror(errno));
	madvise(m, len, MADV_NOHUGEPAGE);
	if (populate && madvise(m, len, MADV_POPULATE_WRITE))
		memset(m, 0, len); /* pre-5.14 kernels */
	return m;
}

/* VmPTE of this process in KiB. */
static long vm_pte_kib(void)
{
	char line[256];
	long v = -1;
	FILE *f = fopen("/proc/self/status", "re");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmPTE: %ld kB", &v) == 1)
			break;
	fclose(f);
	return v;
}

/* ---- output ---------------------------------------------------------- */

struct row {
	const char *bench;
	const char *backend;
	char params[160]; /* "key=value key=value": numbers become JSON numbers */
	struct stats st;
	const char *unit;
	double ratio; /* st.med / baseline's median; NAN: no baseline */
	const char *baseline;
	char extra[512]; /* more JSON members, each starting with a comma */
	char note[512];
};

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fputc('\\', f);
		if ((unsigned char)*s < 0x20)
			fprintf(f, "\\u%04x", *s);
		else
			fputc(*s, f);
	}
	fputc('"', f);
}

static void json_num(FILE *f, double v)
{
	if (isnan(v) || isinf(v))
		fputs("null", f);
	else
		fprintf(f, "%.6g", v);
}

static void json_params(FILE *f, const char *p)
{
	char buf[160], *save = NULL, *tok;
	bool first = true;

	snprintf(buf, sizeof(buf), "%s", p);
	fputc('{', f);
	for (tok = strtok_r(buf, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
		char *eq = strchr(tok, '='), *end;

		if (!eq)
			continue;
		*eq = 0;
		fputs(first ? "" : ",", f);
		first = false;
		json_str(f, tok);
		fputc(':', f);
		strtod(eq + 1, &end);
		if (*end == 0 && end != eq + 1)
			fputs(eq + 1, f);
		else
			json_str(f, eq + 1);
	}
	fputc('}', f);
}

static void section(const char *title, const char *unit_hint)
{
	fprintf(human, "\n== %s ==\n", title);
	fprintf(human, "%-18s %-22s %-30s %11s %11s %11s  %-10s %s\n", "benchmark", "backend",
		"params", "median", "min", "max", "unit", unit_hint);
	fflush(human);
}

static void emit(const struct row *r)
{
	char ratio[96] = "";

	if (!isnan(r->ratio))
		snprintf(ratio, sizeof(ratio), "%.2fx %s", r->ratio, r->baseline);
	fprintf(human, "%-18s %-22s %-30s %11.4g %11.4g %11.4g  %-10s %s%s%s\n", r->bench,
		r->backend, r->params, r->st.med, r->st.min, r->st.max, r->unit, ratio,
		*r->note ? "  " : "", r->note);
	fflush(human);
	if (!jsonl)
		return;
	fprintf(jsonl, "{\"benchmark\":");
	json_str(jsonl, r->bench);
	fprintf(jsonl, ",\"backend\":");
	json_str(jsonl, r->backend);
	fprintf(jsonl, ",\"params\":");
	json_params(jsonl, r->params);
	fprintf(jsonl, ",\"median\":");
	json_num(jsonl, r->st.med);
	fprintf(jsonl, ",\"min\":");
	json_num(jsonl, r->st.min);
	fprintf(jsonl, ",\"max\":");
	json_num(jsonl, r->st.max);
	fprintf(jsonl, ",\"reps\":%d,\"unit\":", r->st.n);
	json_str(jsonl, r->unit);
	fprintf(jsonl, ",\"ratio\":");
	json_num(jsonl, r->ratio);
	fprintf(jsonl, ",\"baseline\":");
	if (isnan(r->ratio))
		fputs("null", jsonl);
	else
		json_str(jsonl, r->baseline);
	fputs(r->extra, jsonl);
	if (*r->note) {
		fprintf(jsonl, ",\"note\":");
		json_str(jsonl, r->note);
	}
	fprintf(jsonl, "}\n");
	fflush(jsonl);
}

static void emit_skip(const char *bench, const char *backend, const char *why)
{
	fprintf(human, "%-18s %-22s skipped: %s\n", bench, backend, why);
	fflush(human);
	if (!jsonl)
		return;
	fprintf(jsonl, "{\"benchmark\":");
	json_str(jsonl, bench);
	fprintf(jsonl, ",\"backend\":");
	json_str(jsonl, backend);
	fprintf(jsonl, ",\"skipped\":");
	json_str(jsonl, why);
	fprintf(jsonl, "}\n");
	fflush(jsonl);
}

static struct row row_new(const char *bench, const char *backend, const char *unit)
{
	struct row r = { .bench = bench, .backend = backend, .unit = unit, .ratio = NAN };

	return r;
}

static void row_ratio(struct row *r, double base, const char *name)
{
	if (base > 0 && !isnan(base)) {
		r->ratio = r->st.med / base;
		r->baseline = name;
	}
}

/* ---- backends -------------------------------------------------------- */

static const enum ww_backend all_backends[] = { WW_BACKEND_PAGEMAP_SCAN, WW_BACKEND_UFFD_WP,
						WW_BACKEND_SOFT_DIRTY, WW_BACKEND_MPROTECT };
#define NBACKENDS 4

/* Probe b; print "skipped: reason" for bench when it does not work here. */
static bool backend_usable(enum ww_backend b, const char *bench)
{
	char why[256] = "";

	if (!(want_backends & (1u << b)))
		return false;
	if (ww_backend_probe(b, 0, why, sizeof(why)) == 0)
		return true;
	emit_skip(bench, ww_backend_name(b), why);
	return false;
}

static struct ww_tracker *tracker_open(enum ww_backend b)
{
	struct ww_opts o = { .sz = sizeof(o), .backend = b };
	struct ww_tracker *t;
	int err = ww_open(&o, &t);

	if (err)
		die("ww_open %s: %s", ww_backend_name(b), strerror(-err));
	return t;
}

/* Whether b's trackers copy before a write on this kernel (b has
 * WW_CAP_PREWRITE and works here): a tracker may lack the cap (mprotect
 * where read faults map no zero page). If not, a skip line for bench. */
static bool tracker_cow(enum ww_backend b, const char *bench)
{
	struct ww_tracker *t = tracker_open(b);
	unsigned int caps = ww_tracker_caps(t);

	ww_close(t);
	if (!(caps & WW_CAP_PREWRITE))
		emit_skip(bench, ww_backend_name(b),
			  "its trackers lack WW_CAP_PREWRITE on this kernel (read faults map no "
			  "zero page)");
	return caps & WW_CAP_PREWRITE;
}

/* ---- the bare kernel interface, no library ---------------------------- */

struct bare {
	int uffd, pm;
};

/* A userfaultfd with the given features and /proc/self/pagemap; false and a
 * reason when the kernel refuses. */
static bool bare_open(struct bare *b, uint64_t features, char *why, size_t whylen)
{
	struct uffdio_api api = { .api = UFFD_API, .features = features };

	b->pm = -1;
	b->uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
	if (b->uffd < 0) {
		snprintf(why, whylen, "userfaultfd(2): %s", strerror(errno));
		return false;
	}
	if (ioctl(b->uffd, UFFDIO_API, &api) || (api.features & features) != features) {
		snprintf(why, whylen, "UFFDIO_API: no WP_ASYNC (needs Linux 6.7+)");
		close(b->uffd);
		return false;
	}
	b->pm = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (b->pm < 0) {
		snprintf(why, whylen, "/proc/self/pagemap: %s", strerror(errno));
		close(b->uffd);
		return false;
	}
	return true;
}

static void bare_close(struct bare *b)
{
	close(b->pm);
	close(b->uffd);
}

static void bare_register(struct bare *b, void *addr, size_t len)
{
	struct uffdio_register r = { .range = { (uintptr_t)addr, len },
				     .mode = UFFDIO_REGISTER_MODE_WP };

	if (ioctl(b->uffd, UFFDIO_REGISTER, &r))
		die("UFFDIO_REGISTER: %s", strerror(errno));
}

static void bare_unregister(struct bare *b, void *addr, size_t len)
{
	struct uffdio_range r = { (uintptr_t)addr, len };

	ioctl(b->uffd, UFFDIO_UNREGISTER, &r);
}

static void bare_wp(struct bare *b, void *addr, size_t len, bool on)
{
	struct uffdio_writeprotect w = { .range = { (uintptr_t)addr, len },
					 .mode = on ? UFFDIO_WRITEPROTECT_MODE_WP : 0 };

	if (ioctl(b->uffd, UFFDIO_WRITEPROTECT, &w))
		die("UFFDIO_WRITEPROTECT: %s", strerror(errno));
}

/* Regions per PAGEMAP_SCAN call. The kernel bounces results through a
 * buffer of min(vec_len, 512) entries; at 512 (12 KiB) it leaves the small
 * slab caches and every call costs ~0.4 us more (measured), so the bare
 * interface is driven in batches of 256, as the library does. */
#define BARE_BATCH 256

/* PAGEMAP_SCAN over [addr, addr+len) with the library's flags and masks
 * (written pages, WP_MATCHING when reset); loops on walk_end. Returns the
 * number of pages reported. vec NULL: re-arm only, no output. */
static size_t bare_scan_anyof(struct bare *b, char *addr, size_t len, bool reset,
			      struct page_region *vec, size_t vec_len, uint64_t anyof)
{
	uintptr_t pos = (uintptr_t)addr, end = (uintptr_t)addr + len;
	size_t pages = 0, stored = 0;

	while (pos < end) {
		struct pm_scan_arg a = {
			.size = sizeof(a),
			.flags = PM_SCAN_CHECK_WPASYNC | (reset ? PM_SCAN_WP_MATCHING : 0),
			.start = pos,
			.end = end,
			.category_mask = PAGE_IS_WRITTEN,
			.category_anyof_mask = anyof,
			.return_mask = PAGE_IS_WRITTEN,
		};
		int n;

		if (vec) {
			if (stored == vec_len)
				stored = 0; /* full: reuse, only the page count is kept */
			a.vec = (uintptr_t)(vec + stored);
			a.vec_len = vec_len - stored < BARE_BATCH ? vec_len - stored : BARE_BATCH;
		}
		n = ioctl(b->pm, PAGEMAP_SCAN, &a);
		if (n < 0)
			die("PAGEMAP_SCAN: %s", strerror(errno));
		for (int i = 0; i < n; i++)
			pages += (vec[stored + i].end - vec[stored + i].start) / ps;
		stored += (size_t)n;
		if (a.walk_end <= pos)
			die("PAGEMAP_SCAN made no progress");
		pos = a.walk_end;
	}
	return pages;
}

static size_t bare_scan(struct bare *b, char *addr, size_t len, bool reset, struct page_region *vec,
			size_t vec_len)
{
	return bare_scan_anyof(b, addr, len, reset, vec, vec_len, 0);
}

static bool bare_usable(const char *bench, char *why, size_t whylen)
{
	struct bare b;

	if (!(want_backends & 1u)) /* bit 0 (AUTO's slot) selects the bare kernel */
		return false;
	if (!bare_open(&b, UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED, why, whylen)) {
		emit_skip(bench, "bare-kernel", why);
		return false;
	}
	bare_close(&b);
	return true;
}

/* Library collect with WW_RESET over the whole range; returns pages reported
 * and stores the number of runs in *runs. */
static size_t lib_collect(struct ww_tracker *t, char *addr, size_t len, struct iovec *iov,
			  size_t max, size_t *runs)
{
	void *next = addr;
	size_t pages = 0;

	*runs = 0;
	while ((char *)next < addr + len) {
		char *from = next;
		ssize_t n =
			ww_collect(t, from, len - (size_t)(from - addr), WW_RESET, iov, max, &next);

		if (n < 0)
			die("ww_collect: %s", strerror((int)-n));
		for (ssize_t i = 0; i < n; i++)
			pages += iov[i].iov_len / ps;
		*runs += (size_t)n;
	}
	return pages;
}

/* ---- 1. first write after reset ---------------------------------------- */

static void touch_pages(char *m, size_t npages, char v)
{
	for (size_t i = 0; i < npages; i++)
		((volatile char *)m)[i * ps] = v;
}

/* One participant of the first-write benchmark, on its own region. */
struct fw {
	const char *name;
	int kind; /* 0 none, 1 bare re-armed by scan, 2 bare by UFFDIO_WRITEPROTECT, 3 lib */
	enum ww_backend b;
	struct ww_tracker *t;
	struct bare bare;
	char *m;
	double v[MAXREP];
	struct row row;
};

/* Re-arm (untimed) before the timed writes. */
static void fw_rearm(struct fw *f, size_t len, struct iovec *iov, struct page_region *vec)
{
	size_t runs;

	if (f->kind == 1)
		bare_scan(&f->bare, f->m, len, true, vec, 64);
	else if (f->kind == 2)
		bare_wp(&f->bare, f->m, len, true);
	else if (f->kind == 3)
		lib_collect(f->t, f->m, len, iov, 64, &runs);
}

/*
 * Every participant is set up at once on its own region and the repetitions
 * go round-robin, so that noise from other work on the machine hits all of
 * them alike.
 */
static void bench_first_write(void)
{
	size_t len = quick ? 4 * MiB : 16 * MiB, npages = len / ps;
	int reps = quick ? 7 : 21, warm = 2, n = 0;
	double none_med = NAN, bare_med = NAN, mp_med = NAN;
	struct fw fw[3 + NBACKENDS];
	struct iovec iov[64];
	struct page_region vec[64];
	char why[256];

	section("first-write: one write per page after reset (per page)", "ratio");
	memset(fw, 0, sizeof(fw));
	fw[n++] = (struct fw){ .name = "none", .kind = 0 };
	if (bare_usable("first-write", why, sizeof(why))) {
		fw[n++] = (struct fw){ .name = "bare-kernel", .kind = 1 };
		fw[n++] = (struct fw){ .name = "bare-kernel-uffdio-wp", .kind = 2 };
	}
	for (int k = 0; k < NBACKENDS; k++)
		if (backend_usable(all_backends[k], "first-write"))
			fw[n++] = (struct fw){ .name = ww_backend_name(all_backends[k]),
					       .kind = 3,
					       .b = all_backends[k] };
	for (int i = 0; i < n; i++) {
		struct fw *f = &fw[i];

		f->m = region_map(len, true, false);
		if (f->kind == 1 || f->kind == 2) {
			bare_open(&f->bare, UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED,
				  why, sizeof(why));
			bare_register(&f->bare, f->m, len);
			bare_wp(&f->bare, f->m, len, true);
		} else if (f->kind == 3) {
			f->t = tracker_open(f->b);
			if (ww_track(f->t, f->m, len))
				die("ww_track %s: %s", f->name, strerror(errno));
		}
	}
	for (int r = 0; r < warm + reps; r++)
		for (int i = 0; i < n; i++) {
			uint64_t t0;

			fw_rearm(&fw[i], len, iov, vec);
			t0 = now_ns();
			touch_pages(fw[i].m, npages, (char)r);
			if (r >= warm)
				fw[i].v[r - warm] = (double)(now_ns() - t0) / (double)npages;
		}
	for (int i = 0; i < n; i++) {
		struct fw *f = &fw[i];
		size_t got = npages, runs;

		if (f->kind == 1 || f->kind == 2) {
			got = bare_scan(&f->bare, f->m, len, true, vec, 64);
			bare_wp(&f->bare, f->m, len, false);
			bare_unregister(&f->bare, f->m, len);
			bare_close(&f->bare);
		} else if (f->kind == 3) {
			got = lib_collect(f->t, f->m, len, iov, 64, &runs);
			ww_close(f->t);
		}
		munmap(f->m, len);
		f->row = row_new("first-write", f->name, "ns/page");
		snprintf(f->row.params, sizeof(f->row.params), "pages=%zu%s", npages,
			 f->kind == 1 ? " reset=scan-wp-matching" :
			 f->kind == 2 ? " reset=uffdio-writeprotect" :
					"");
		f->row.st = stats_of(f->v, reps);
		if (got != npages)
			snprintf(f->row.note, sizeof(f->row.note),
				 "WRONG: %zu pages reported, %zu written", got, npages);
		if (f->kind == 0)
			none_med = f->row.st.med;
		else if (f->kind == 1)
			bare_med = f->row.st.med;
		else if (f->b == WW_BACKEND_MPROTECT)
			mp_med = f->row.st.med;
	}
	for (int i = 0; i < n; i++) {
		struct row *r = &fw[i].row;
		size_t off = 0;

		if (fw[i].kind == 1)
			row_ratio(r, none_med, "none");
		else if (fw[i].kind >= 2)
			row_ratio(r, bare_med, "bare-kernel");
		if (!isnan(bare_med) && fw[i].kind)
			off += (size_t)snprintf(r->extra + off, sizeof(r->extra) - off,
						",\"vs_bare_kernel\":%.4g", r->st.med / bare_med);
		if (!isnan(mp_med))
			off += (size_t)snprintf(r->extra + off, sizeof(r->extra) - off,
						",\"vs_mprotect\":%.4g", r->st.med / mp_med);
		if (!isnan(none_med))
			snprintf(r->extra + off, sizeof(r->extra) - off, ",\"vs_none\":%.4g",
				 r->st.med / none_med);
		if (fw[i].kind == 3 && !isnan(mp_med) && fw[i].b != WW_BACKEND_MPROTECT)
			snprintf(r->note + strlen(r->note), sizeof(r->note) - strlen(r->note),
				 "%smprotect is %.1fx this", *r->note ? "; " : "",
				 mp_med / r->st.med);
		emit(r);
	}
}

/* ---- 1b. first write after reset, in another process ------------------- */

/*
 * The same first write, made by another process (ww-bench-target) whose
 * memory this one tracks through the library's remote API (ww_open with
 * opts.pid), side by side with the first write made here on memory tracked
 * in-process, and with the target's own bare-kernel arming (its own
 * userfaultfd in WP_ASYNC mode, re-armed with PAGEMAP_SCAN) as what the
 * kernel charges. Every store is timed alone in both processes by the same
 * loop (bench/fw_target.h); a round's figure is the median over its pages.
 */
#define FWR_MAXROUNDS 128
#define FWR_MAX (2 * (2 + NBACKENDS))

struct fwr_target {
	pid_t pid;
	int sock;
};

/* One participant: a region written here or in the target. */
struct fwr {
	const char *name; /* "none", "bare-kernel" or a backend name */
	bool remote;
	int kind; /* 0 none, 1 bare kernel, 3 library */
	enum ww_backend b;
	struct ww_tracker *t;
	struct bare bare; /* kind 1, in-process */
	char *m; /* in the target's address space when remote */
	unsigned int region; /* the target's region number when remote */
	double med[FWR_MAXROUNDS], loop[FWR_MAXROUNDS];
	double store_min; /* fastest single store over every round */
	size_t wrong; /* rounds whose re-arm did not find every page written */
	struct row row;
};

/* Start ww-bench-target (next to this executable, or $WW_BENCH_TARGET). */
static bool target_start(struct fwr_target *tg, char *why, size_t whylen)
{
	char path[4096], fdstr[16];
	const char *env = getenv("WW_BENCH_TARGET");
	int sv[2];

	if (env) {
		snprintf(path, sizeof(path), "%s", env);
	} else {
		ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - 32);
		char *slash;

		if (n < 0) {
			snprintf(why, whylen, "/proc/self/exe: %s", strerror(errno));
			return false;
		}
		path[n] = 0;
		slash = strrchr(path, '/');
		snprintf(slash ? slash + 1 : path, 32, "ww-bench-target");
	}
	if (access(path, X_OK)) {
		snprintf(why, whylen,
			 "no target program %.160s: %s (build it, or set WW_BENCH_TARGET)", path,
			 strerror(errno));
		return false;
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv)) {
		snprintf(why, whylen, "socketpair: %s", strerror(errno));
		return false;
	}
	fflush(NULL);
	tg->pid = fork();
	if (tg->pid < 0) {
		snprintf(why, whylen, "fork: %s", strerror(errno));
		close(sv[0]);
		close(sv[1]);
		return false;
	}
	if (tg->pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		fcntl(sv[1], F_SETFD, 0);
		snprintf(fdstr, sizeof(fdstr), "%d", sv[1]);
		execl(path, path, fdstr, (char *)NULL);
		_exit(127);
	}
	close(sv[1]);
	tg->sock = sv[0];
	return true;
}

/* One request, its reply; rep->err or -EPIPE when the target is gone. */
static int target_call(struct fwr_target *tg, uint32_t op, uint32_t region, uint64_t arg,
		       struct fwt_rep *rep)
{
	struct fwt_req q = { .op = op, .region = region, .arg = arg };
	ssize_t n;

	memset(rep, 0, sizeof(*rep));
	if (send(tg->sock, &q, sizeof(q), MSG_NOSIGNAL) != sizeof(q))
		return -EPIPE;
	do
		n = recv(tg->sock, rep, sizeof(*rep), 0);
	while (n < 0 && errno == EINTR);
	if (n != sizeof(*rep))
		return -EPIPE;
	return rep->err;
}

static void target_stop(struct fwr_target *tg)
{
	struct fwt_rep rep;

	target_call(tg, FWT_QUIT, 0, 0, &rep);
	close(tg->sock);
	waitpid(tg->pid, NULL, 0);
}

/* Re-arm (untimed) and write every page once, timed store by store; the
 * re-arm's count of pages it found written goes to *found. */
static int fwr_round(struct fwr *f, struct fwr_target *tg, size_t len, char v, int64_t *ns,
		     struct iovec *iov, struct page_region *vec, size_t *found,
		     struct fwt_times *tm)
{
	size_t npages = len / ps, runs;
	struct fwt_rep rep;
	int err;

	*found = 0;
	if (f->remote) {
		if (f->kind == 3)
			*found = lib_collect(f->t, f->m, len, iov, 64, &runs);
		err = target_call(tg, FWT_WRITE, f->region, (unsigned char)v, &rep);
		if (f->kind == 1)
			*found = rep.written;
		*tm = rep.t;
		return err;
	}
	if (f->kind == 1)
		*found = bare_scan(&f->bare, f->m, len, true, vec, 64);
	else if (f->kind == 3)
		*found = lib_collect(f->t, f->m, len, iov, 64, &runs);
	*tm = fwt_write_pages(f->m, npages, ps, v, ns);
	return 0;
}

/* The median over rounds of a[r] / b[r]: a ratio of participants measured
 * in the same round, steadier than the ratio of medians on a busy machine. */
static double paired_ratio(const double *a, const double *b, int rounds)
{
	double v[FWR_MAXROUNDS];

	for (int r = 0; r < rounds; r++)
		v[r] = a[r] / b[r];
	return stats_of(v, rounds).med;
}

static void bench_first_write_remote(void)
{
	size_t len = quick ? 4 * MiB : 16 * MiB, npages = len / ps;
	int rounds = quick ? 9 : 101, warm = 2, n = 0;
	unsigned int next_region = 0;
	double tmp[FWR_MAXROUNDS];
	bool bare_ok;
	struct fwr fw[FWR_MAX];
	struct fwr_target tg;
	struct iovec iov[64];
	struct page_region vec[64];
	struct fwt_rep rep;
	char why[256];
	int64_t *ns;

	section("first-write-remote: first write per page, target process vs this one (per write)",
		"ratio");
	if (!target_start(&tg, why, sizeof(why))) {
		emit_skip("first-write-remote", "all", why);
		return;
	}
	ns = calloc(npages, sizeof(*ns));
	if (!ns)
		die("out of memory");
	memset(fw, 0, sizeof(fw));
	bare_ok = bare_usable("first-write-remote", why, sizeof(why));
	for (int remote = 0; remote < 2; remote++) {
		pid_t pid = remote ? tg.pid : 0;

		fw[n++] = (struct fwr){ .name = "none", .remote = remote };
		if (bare_ok)
			fw[n++] =
				(struct fwr){ .name = "bare-kernel", .remote = remote, .kind = 1 };
		for (int k = 0; k < NBACKENDS; k++) {
			enum ww_backend b = all_backends[k];

			if (!(want_backends & (1u << b)))
				continue;
			/* A backend that cannot track another process has nothing to
			 * compare here (its in-process figure is first-write's), and
			 * uffd-wp's handler thread would only disturb the others; the
			 * remote pass says why it is left out. */
			if (!remote && ww_backend_probe(b, tg.pid, NULL, 0))
				continue;
			if (ww_backend_probe(b, pid, why, sizeof(why))) {
				char msg[300];

				snprintf(msg, sizeof(msg), "%s: %s",
					 remote ? "remote" : "in-process", why);
				emit_skip("first-write-remote", ww_backend_name(b), msg);
				continue;
			}
			fw[n++] = (struct fwr){
				.name = ww_backend_name(b), .remote = remote, .kind = 3, .b = b
			};
		}
	}
	for (int i = 0; i < n; i++) {
		struct fwr *f = &fw[i];
		int err = 0;

		if (f->remote) {
			if (next_region == FWT_REGIONS)
				die("first-write-remote: more participants than target regions");
			f->region = next_region++;
			err = target_call(&tg, FWT_MAP, f->region, len, &rep);
			f->m = (char *)(uintptr_t)rep.addr;
			if (!err && f->kind == 1)
				err = target_call(&tg, FWT_ARM, f->region, 0, &rep);
			if (err)
				die("ww-bench-target region %u: %s", f->region, strerror(-err));
		} else {
			f->m = region_map(len, true, false);
			if (f->kind == 1) {
				bare_open(&f->bare,
					  UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED, why,
					  sizeof(why));
				bare_register(&f->bare, f->m, len);
				bare_wp(&f->bare, f->m, len, true);
			}
		}
		if (f->kind == 3) {
			struct ww_opts o = { .sz = sizeof(o),
					     .backend = f->b,
					     .pid = f->remote ? tg.pid : 0 };

			err = ww_open(&o, &f->t);
			if (!err)
				err = ww_track(f->t, f->m, len);
			if (err)
				die("%s %s: %s", f->remote ? "remote" : "in-process", f->name,
				    strerror(-err));
		}
		f->store_min = INFINITY;
	}
	/* Round-robin, starting one further each round, so that neither order
	 * nor other work on the machine favours one participant. */
	for (int r = 0; r < warm + rounds; r++)
		for (int j = 0; j < n; j++) {
			struct fwr *f = &fw[(r + j) % n];
			struct fwt_times tm;
			size_t found;
			int err = fwr_round(f, &tg, len, (char)(r + 1), ns, iov, vec, &found, &tm);

			if (err)
				die("first-write-remote %s: %s", f->name, strerror(-err));
			if (f->kind && found != (r ? npages : 0))
				f->wrong++;
			if (r < warm)
				continue;
			f->med[r - warm] = tm.med_ns;
			f->loop[r - warm] = tm.loop_ns;
			if (tm.min_ns < f->store_min)
				f->store_min = tm.min_ns;
		}
	for (int i = 0; i < n; i++) {
		struct fwr *f = &fw[i];
		struct fwt_times tm;
		size_t found = npages, runs;

		/* The last round's writes must all be there too. */
		if (f->kind == 3)
			found = lib_collect(f->t, f->m, len, iov, 64, &runs);
		else if (f->kind == 1 && !f->remote)
			found = bare_scan(&f->bare, f->m, len, true, vec, 64);
		else if (f->kind == 1 && fwr_round(f, &tg, len, 0, ns, iov, vec, &found, &tm))
			found = 0;
		if (found != npages)
			f->wrong++;
		f->row = row_new("first-write-remote", f->name, "ns/write");
		snprintf(f->row.params, sizeof(f->row.params), "pages=%zu where=%s", npages,
			 f->remote ? "remote" : "in-process");
		memcpy(tmp, f->med, sizeof(tmp)); /* stats_of sorts; pairs need the order */
		f->row.st = stats_of(tmp, rounds);
		snprintf(f->row.extra, sizeof(f->row.extra),
			 ",\"loop_ns_per_page\":%.4g,\"store_min_ns\":%.4g",
			 stats_of(f->loop, rounds).med, f->store_min);
		if (f->wrong)
			snprintf(f->row.note, sizeof(f->row.note),
				 "WRONG: %zu re-arms missed written pages", f->wrong);
	}
	for (int i = 0; i < n; i++) {
		struct fwr *f = &fw[i];
		struct row *r = &f->row;
		double same = NAN, bare = NAN, none = NAN, p_same = NAN, p_bare = NAN;
		size_t off = strlen(r->extra);

		for (int k = 0; k < n; k++) {
			if (fw[k].remote != f->remote && !strcmp(fw[k].name, f->name)) {
				same = fw[k].row.st.med;
				p_same = paired_ratio(f->med, fw[k].med, rounds);
			}
			if (fw[k].remote == f->remote && fw[k].kind == 1) {
				bare = fw[k].row.st.med;
				p_bare = paired_ratio(f->med, fw[k].med, rounds);
			}
			if (fw[k].remote == f->remote && fw[k].kind == 0)
				none = fw[k].row.st.med;
		}
		if (f->remote)
			row_ratio(r, same, "in-process");
		else if (f->kind == 3)
			row_ratio(r, bare, "bare-kernel");
		else if (f->kind == 1)
			row_ratio(r, none, "none");
		if (f->remote && !isnan(same))
			off += (size_t)snprintf(
				r->extra + off, sizeof(r->extra) - off,
				",\"vs_in_process\":%.4g,\"paired_vs_in_process\":%.4g",
				r->st.med / same, p_same);
		if (f->kind && !isnan(bare))
			off += (size_t)snprintf(
				r->extra + off, sizeof(r->extra) - off,
				",\"vs_bare_kernel\":%.4g,\"paired_vs_bare_kernel\":%.4g",
				r->st.med / bare, p_bare);
		if (f->remote && f->kind == 3 && !isnan(bare))
			snprintf(
				r->note + strlen(r->note), sizeof(r->note) - strlen(r->note),
				"%s%.2fx the target's bare kernel; round by round %.2fx in-process,"
				" %.2fx bare",
				*r->note ? "; " : "", r->st.med / bare, p_same, p_bare);
		emit(r);
	}
	for (int i = 0; i < n; i++) {
		struct fwr *f = &fw[i];

		if (f->kind == 3)
			ww_close(f->t);
		if (f->remote)
			continue;
		if (f->kind == 1) {
			bare_wp(&f->bare, f->m, len, false);
			bare_unregister(&f->bare, f->m, len);
			bare_close(&f->bare);
		}
		munmap(f->m, len);
	}
	target_stop(&tg);
	free(ns);
}

/* ---- 2. collect with WW_RESET over growing regions ---------------------- */

/* Write the pages of one dirty pattern: den 0 none, 1 every page (in
 * order), else one page at a random place in every den pages. */
static size_t dirty_pages(char *m, size_t npages, size_t den, uint64_t *seed, char v)
{
	size_t n = 0;

	if (den == 0)
		return 0;
	if (den == 1) {
		touch_pages(m, npages, v);
		return npages;
	}
	for (size_t b = 0; b + den <= npages; b += den, n++)
		((volatile char *)m)[(b + rnd_next(seed) % den) * ps] = v;
	return n;
}

static const char *frac_name(size_t den)
{
	switch (den) {
	case 0:
		return "0";
	case 1:
		return "all";
	case 64:
		return "1/64";
	default:
		return "1/16";
	}
}

struct target {
	const char *name;
	enum ww_backend b; /* AUTO: the bare kernel */
	uint64_t anyof; /* bare only: category_anyof_mask of the scan */
	struct ww_tracker *t;
	struct bare bare;
};

static void target_track(struct target *tg, char *m, size_t len)
{
	char why[256];

	if (tg->b == WW_BACKEND_AUTO) {
		if (!bare_open(&tg->bare, UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED, why,
			       sizeof(why)))
			die("%s", why);
		bare_register(&tg->bare, m, len);
		bare_wp(&tg->bare, m, len, true);
		return;
	}
	tg->t = tracker_open(tg->b);
	if (ww_track(tg->t, m, len))
		die("ww_track %s: %s", tg->name, strerror(errno));
}

static void target_untrack(struct target *tg, char *m, size_t len)
{
	if (tg->b == WW_BACKEND_AUTO) {
		bare_wp(&tg->bare, m, len, false);
		bare_unregister(&tg->bare, m, len);
		bare_close(&tg->bare);
		return;
	}
	ww_close(tg->t);
	tg->t = NULL;
}

/* Timed collect+reset of the whole region; *pages gets what was reported. */
static double target_collect(struct target *tg, char *m, size_t len, void *buf, size_t max,
			     size_t *pages)
{
	uint64_t t0 = now_ns(), t1;
	size_t runs;

	if (tg->b == WW_BACKEND_AUTO) {
		*pages = bare_scan_anyof(&tg->bare, m, len, true, buf, max, tg->anyof);
		t1 = now_ns();
	} else {
		struct iovec *iov = buf;
		void *next;
		ssize_t n = ww_collect(tg->t, m, len, WW_RESET, iov, max, &next);

		t1 = now_ns();
		if (n < 0)
			die("ww_collect %s: %s", tg->name, strerror((int)-n));
		*pages = 0;
		for (ssize_t i = 0; i < n; i++)
			*pages += iov[i].iov_len / ps;
		if ((char *)next != m + len) /* never with max this large */
			*pages += lib_collect(tg->t, next, len - (size_t)((char *)next - m), iov,
					      max, &runs);
	}
	return (double)(t1 - t0) / 1e3;
}

static int targets_list(struct target *tg, const char *bench)
{
	char why[256];
	int n = 0;

	if (bare_usable(bench, why, sizeof(why)))
		tg[n++] = (struct target){ .name = "bare-kernel", .b = WW_BACKEND_AUTO };
	for (int k = 0; k < NBACKENDS; k++)
		if (backend_usable(all_backends[k], bench))
			tg[n++] = (struct target){ .name = ww_backend_name(all_backends[k]),
						   .b = all_backends[k] };
	return n;
}

/* Emit one collect row: samples v, the last rep's written and reported
 * page counts, and the paired bare-kernel median (NAN: none). */
static void collect_row(const struct target *tg, size_t len, size_t den, double *v, int reps,
			size_t want, size_t got, double base)
{
	struct row r = row_new("collect", tg->name, "us/call");
	double gib = (double)len / GiB;

	snprintf(r.params, sizeof(r.params), "size_mib=%zu dirty=%s den=%zu", (size_t)(len / MiB),
		 frac_name(den), den);
	r.st = stats_of(v, reps);
	if (tg->b != WW_BACKEND_AUTO || tg->anyof)
		row_ratio(&r, base, "bare-kernel");
	snprintf(r.extra, sizeof(r.extra),
		 ",\"per_gib_ms\":%.4g,\"pages_dirty\":%zu,\"pages_reported\":%zu",
		 r.st.med / 1e3 / gib, want, got);
	if (!isnan(r.ratio))
		snprintf(r.extra + strlen(r.extra), sizeof(r.extra) - strlen(r.extra),
			 ",\"baseline_median\":%.4g", base);
	if (got > want && tg->b == WW_BACKEND_MPROTECT)
		snprintf(r.note, sizeof(r.note),
			 "reported %zu of %zu dirty pages: whole-span fallback (vm.max_map_count)",
			 got, want);
	else if (got > want)
		snprintf(r.note, sizeof(r.note), "false positives: %zu pages reported, %zu written",
			 got, want);
	else if (got < want)
		snprintf(r.note, sizeof(r.note), "LOST WRITES: %zu pages reported, %zu written",
			 got, want);
	else
		snprintf(r.note, sizeof(r.note), "%.3g ms/GiB", r.st.med / 1e3 / gib);
	emit(&r);
}

/*
 * Each backend runs paired with the bare kernel on a twin region, the two
 * alternating rep by rep, so that noise from other work on the machine hits
 * both sides of a ratio alike. (One region cannot serve both: a VMA takes one
 * userfaultfd only.) The bare rows shown are those of the first pairing.
 */
static void bench_collect(void)
{
	static const size_t sizes_full[] = { 4 * MiB, 64 * MiB, 1 * GiB, 4 * GiB };
	static const size_t sizes_quick[] = { 4 * MiB, 64 * MiB };
	static const size_t dens[] = { 0, 64, 16, 1 };
	const size_t *sizes = quick ? sizes_quick : sizes_full;
	size_t nsizes = quick ? 2 : 4;
	struct target tg[NBACKENDS + 2], *bare = NULL;
	int ntg, first;

	section("collect: ww_collect(WW_RESET) over the whole region (per call)", "ratio");
	ntg = targets_list(tg, "collect");
	if (ntg > 0 && tg[0].b == WW_BACKEND_AUTO) {
		bare = &tg[0];
		/* The scan a tracker that arms only present pages needs (holes it
		 * never armed read as written): the kernel's generic path. */
		tg[ntg++] = (struct target){ .name = "bare-kernel-anyof",
					     .b = WW_BACKEND_AUTO,
					     .anyof = PAGE_IS_PRESENT | PAGE_IS_SWAPPED };
	}
	first = bare ? 1 : 0;
	for (size_t si = 0; si < nsizes; si++) {
		size_t len = sizes[si], npages = len / ps, max = npages / 16 + 2;
		/* From 1 GiB up, dirtying the region dominates the run (1M
		 * synchronous faults per repetition at 4 GiB on uffd-wp and
		 * mprotect): fewer repetitions, no warm-up (the regions are
		 * populated before the first one). */
		int reps = len <= 4 * MiB ? 31 : len <= 64 * MiB ? 15 : len <= GiB ? 5 : 3;
		int warm = len >= GiB ? 0 : 1;
		void *buf = malloc(max * sizeof(struct page_region));
		char *a = bare ? region_map(len, true, false) : NULL;
		char *m = ntg > first ? region_map(len, true, false) : NULL;

		if (quick)
			reps = reps > 7 ? 7 : reps;
		/* k == ntg with no backend: the bare kernel alone. */
		for (int k = first; k < ntg || (k == first && ntg == first && bare); k++) {
			struct target *t = k < ntg ? &tg[k] : NULL;

			if (bare)
				target_track(bare, a, len);
			if (t)
				target_track(t, m, len);
			for (size_t di = 0; di < 4; di++) {
				size_t den = dens[di], wa = 0, ga = 0, wm = 0, gm = 0;
				uint64_t sa = 0x9e3779b97f4a7c15ULL + den, sm = sa;
				double va[MAXREP], vm[MAXREP], us, base = NAN;

				for (int rep = 0; rep < warm + reps; rep++) {
					if (bare) {
						wa = dirty_pages(a, npages, den, &sa, (char)rep);
						us = target_collect(bare, a, len, buf, max, &ga);
						if (rep >= warm)
							va[rep - warm] = us;
					}
					if (t) {
						wm = dirty_pages(m, npages, den, &sm, (char)rep);
						us = target_collect(t, m, len, buf, max, &gm);
						if (rep >= warm)
							vm[rep - warm] = us;
					}
				}
				if (bare) {
					double tmp[MAXREP];

					memcpy(tmp, va, sizeof(va[0]) * (size_t)reps);
					base = stats_of(tmp, reps).med;
					if (k == first)
						collect_row(bare, len, den, va, reps, wa, ga, NAN);
				}
				if (t)
					collect_row(t, len, den, vm, reps, wm, gm, base);
			}
			if (bare)
				target_untrack(bare, a, len);
			if (t)
				target_untrack(t, m, len);
		}
		if (a)
			munmap(a, len);
		if (m)
			munmap(m, len);
		free(buf);
	}
}

/* Reset alone: the two ways the kernel re-arms a range, and ww_reset(). */
static void bench_reset(void)
{
	size_t len = quick ? 64 * MiB : 1 * GiB, npages = len / ps;
	static const size_t dens[] = { 0, 16, 1 };
	int reps = 5;
	struct target tg[NBACKENDS + 1];
	double base[3] = { NAN, NAN, NAN }; /* bare-scan-wp-novec */
	char *m;
	int ntg;

	section("reset: re-arm the whole region after some writes (per call)", "ratio");
	ntg = targets_list(tg, "reset");
	if (ntg == 0)
		return;
	m = region_map(len, true, false);
	for (int k = 0; k < ntg; k++) {
		/* The bare kernel gets two rows: UFFDIO_WRITEPROTECT over the
		 * range, and PAGEMAP_SCAN WP_MATCHING with no output vector. */
		int ways = tg[k].b == WW_BACKEND_AUTO ? 2 : 1;

		for (int way = 0; way < ways; way++) {
			target_track(&tg[k], m, len);
			for (size_t di = 0; di < 3; di++) {
				uint64_t seed = 42;
				double v[MAXREP];
				struct row r;
				const char *name = tg[k].b != WW_BACKEND_AUTO ? tg[k].name :
						   way == 0		      ? "bare-uffdio-wp" :
										"bare-scan-wp-novec";

				r = row_new("reset", name, "us/call");
				for (int rep = 0; rep < 1 + reps; rep++) {
					uint64_t t0;

					dirty_pages(m, npages, dens[di], &seed, (char)rep);
					t0 = now_ns();
					if (tg[k].b != WW_BACKEND_AUTO)
						ww_reset(tg[k].t, m, len);
					else if (way == 0)
						bare_wp(&tg[k].bare, m, len, true);
					else
						bare_scan(&tg[k].bare, m, len, true, NULL, 0);
					if (rep >= 1)
						v[rep - 1] = (double)(now_ns() - t0) / 1e3;
				}
				snprintf(r.params, sizeof(r.params),
					 "size_mib=%zu dirty=%s den=%zu", (size_t)(len / MiB),
					 frac_name(dens[di]), dens[di]);
				r.st = stats_of(v, reps);
				if (tg[k].b == WW_BACKEND_AUTO && way == 1)
					base[di] = r.st.med;
				else if (tg[k].b != WW_BACKEND_AUTO)
					row_ratio(&r, base[di], "bare-scan-wp-novec");
				emit(&r);
			}
			target_untrack(&tg[k], m, len);
		}
	}
	munmap(m, len);
}

/* ---- 3. sparse reservation ---------------------------------------------- */

#define SPARSE_LEN (64 * GiB)
#define SPARSE_CHUNKS 1024 /* 1024 x 64 KiB = 64 MiB populated */
#define SPARSE_CHUNK (64 * KiB)

/* 64 GiB reserved, one 64 KiB chunk populated at a random page of every
 * 64 MiB: page tables for the data alone are about 1024 x 4 KiB. */
static size_t sparse_off[SPARSE_CHUNKS]; /* where each chunk starts */

static char *sparse_map(void)
{
	char *m = region_map(SPARSE_LEN, false, true);
	uint64_t seed = 7;
	size_t stride = SPARSE_LEN / SPARSE_CHUNKS;

	for (size_t c = 0; c < SPARSE_CHUNKS; c++) {
		sparse_off[c] =
			c * stride + (rnd_next(&seed) % ((stride - SPARSE_CHUNK) / ps)) * ps;
		memset(m + sparse_off[c], 1, SPARSE_CHUNK);
	}
	return m;
}

/* The ways to arm the sparse reservation with the bare kernel. */
enum sparse_way { ARM_PRESENT_ONLY, ARM_WP_ALL, ARM_SCAN_ALL, NWAYS };
static const char *const sparse_way_name[] = { "bare-arm-present-only", "bare-uffdio-wp",
					       "bare-scan-wp-matching" };

static void bare_arm_sparse(struct bare *b, char *m, enum sparse_way way)
{
	/* With an output vector, although nothing needs the output: without
	 * one, this WP_MATCHING scan of 64 GiB took 23 ms instead of 3.6 ms
	 * (measured on 6.18). */
	static struct page_region vec[BARE_BATCH];

	bare_register(b, m, SPARSE_LEN);
	if (way == ARM_WP_ALL)
		bare_wp(b, m, SPARSE_LEN, true);
	else if (way == ARM_SCAN_ALL)
		bare_scan(b, m, SPARSE_LEN, true, NULL, 0);
	else /* registered, unarmed pages read as written: arm the present ones */
		bare_scan_anyof(b, m, SPARSE_LEN, true, vec, BARE_BATCH,
				PAGE_IS_PRESENT | PAGE_IS_SWAPPED);
}

static void bench_sparse(void)
{
	int reps = quick ? 1 : 3;
	struct target tg[NBACKENDS + 1];
	int ntg;
	double base_ms = NAN, base_cms = NAN; /* bare-arm-present-only */

	section("sparse: track 64 GiB MAP_NORESERVE with 64 MiB populated in 1024 places", "ratio");
	ntg = targets_list(tg, "sparse");
	for (int k = 0; k < ntg; k++) {
		int ways = tg[k].b == WW_BACKEND_AUTO ? NWAYS : 1;

		for (int way = 0; way < ways; way++) {
			double ms[MAXREP], pte[MAXREP], cms[MAXREP];
			const char *name =
				tg[k].b == WW_BACKEND_AUTO ? sparse_way_name[way] : tg[k].name;
			struct row r;
			size_t got = 0, want = 0;

			/* The process's first 64 GiB reservation pays one-off costs:
			 * the first participant gets an untimed warm-up round. */
			for (int rep = k == 0 && way == 0 ? -1 : 0; rep < reps; rep++) {
				char *m = sparse_map();
				long before = vm_pte_kib(), after;
				uint64_t t0 = now_ns();
				char why[256];
				struct page_region vec[256];
				struct iovec iov[256];

				if (tg[k].b == WW_BACKEND_AUTO) {
					if (!bare_open(&tg[k].bare,
						       UFFD_FEATURE_WP_ASYNC |
							       UFFD_FEATURE_WP_UNPOPULATED,
						       why, sizeof(why)))
						die("%s", why);
					bare_arm_sparse(&tg[k].bare, m, (enum sparse_way)way);
				} else {
					target_track(&tg[k], m, SPARSE_LEN);
				}
				if (rep >= 0)
					ms[rep] = (double)(now_ns() - t0) / 1e6;
				after = vm_pte_kib();
				if (rep >= 0)
					pte[rep] = (double)(after - before) / 1024.0;
				/* 100 writes into 100 populated chunks and one into a
				 * hole (after chunk 1), then one collect. */
				want = 101;
				for (size_t w = 0; w < 100; w++)
					m[sparse_off[w * (SPARSE_CHUNKS / 100)]] = 2;
				if (sparse_off[1] + SPARSE_CHUNK >= sparse_off[2])
					die("sparse: no hole after chunk 1");
				m[sparse_off[1] + SPARSE_CHUNK] = 2;
				t0 = now_ns();
				if (tg[k].b == WW_BACKEND_AUTO && way == ARM_PRESENT_ONLY) {
					/* Unarmed holes read as written: only present or
					 * swapped pages count (the generic, slower path). */
					got = bare_scan_anyof(&tg[k].bare, m, SPARSE_LEN, true, vec,
							      256,
							      PAGE_IS_PRESENT | PAGE_IS_SWAPPED);
				} else if (tg[k].b == WW_BACKEND_AUTO) {
					got = bare_scan(&tg[k].bare, m, SPARSE_LEN, true, vec, 256);
				} else {
					size_t runs;

					got = lib_collect(tg[k].t, m, SPARSE_LEN, iov, 256, &runs);
				}
				if (rep >= 0)
					cms[rep] = (double)(now_ns() - t0) / 1e6;
				if (tg[k].b == WW_BACKEND_AUTO) {
					bare_wp(&tg[k].bare, m, SPARSE_LEN, false);
					bare_unregister(&tg[k].bare, m, SPARSE_LEN);
					bare_close(&tg[k].bare);
				} else {
					target_untrack(&tg[k], m, SPARSE_LEN);
				}
				munmap(m, SPARSE_LEN);
			}
			r = row_new("sparse-track", name, "ms");
			snprintf(r.params, sizeof(r.params), "reserved_gib=64 populated_mib=64");
			r.st = stats_of(ms, reps);
			if (tg[k].b == WW_BACKEND_AUTO && way == ARM_PRESENT_ONLY)
				base_ms = r.st.med;
			else
				row_ratio(&r, base_ms, "bare-arm-present-only");
			emit(&r);
			r = row_new("sparse-pte", name, "MiB");
			snprintf(r.params, sizeof(r.params), "reserved_gib=64 populated_mib=64");
			r.st = stats_of(pte, reps);
			snprintf(r.note, sizeof(r.note), "VmPTE added by tracking; goal < 8 MiB");
			emit(&r);
			r = row_new("sparse-collect", name, "ms");
			snprintf(r.params, sizeof(r.params), "reserved_gib=64 populated_mib=64");
			r.st = stats_of(cms, reps);
			if (tg[k].b == WW_BACKEND_AUTO && way == ARM_PRESENT_ONLY)
				base_cms = r.st.med;
			else
				row_ratio(&r, base_cms, "bare-arm-present-only");
			if (got != want)
				snprintf(r.note, sizeof(r.note),
					 "%zu pages reported after %zu writes", got, want);
			else
				snprintf(r.note, sizeof(r.note),
					 "collect after 100 writes + 1 into a hole: all reported");
			emit(&r);
		}
	}
}

/* ---- 4. writers racing a collector -------------------------------------- */

struct race {
	char *m;
	size_t npages;
	atomic_bool stop;
	atomic_ulong writes, collects;
	struct target *tg;
	void *buf;
	size_t max;
	long interval_us; /* collector's pause between collects; 0: none */
};

static void *race_writer(void *arg)
{
	struct race *rc = arg;
	uint64_t seed = (uint64_t)(uintptr_t)&seed | 1;
	unsigned long n = 0;

	while (!atomic_load_explicit(&rc->stop, memory_order_relaxed)) {
		for (int i = 0; i < 64; i++)
			((volatile char *)rc->m)[(rnd_next(&seed) % rc->npages) * ps] = (char)i;
		n += 64;
	}
	atomic_fetch_add(&rc->writes, n);
	return NULL;
}

static void *race_collector(void *arg)
{
	struct race *rc = arg;
	unsigned long n = 0;
	size_t pages;

	while (!atomic_load_explicit(&rc->stop, memory_order_relaxed)) {
		target_collect(rc->tg, rc->m, rc->npages * ps, rc->buf, rc->max, &pages);
		n++;
		if (rc->interval_us) {
			struct timespec d = { 0, rc->interval_us * 1000L };

			nanosleep(&d, NULL);
		}
	}
	atomic_fetch_add(&rc->collects, n);
	return NULL;
}

/* Writes per second by two writers over duration_ms, with the collector
 * running when tg is not NULL; *cps gets collects per second. */
static double race_run(char *m, size_t npages, struct target *tg, void *buf, size_t max,
		       long interval_us, int duration_ms, double *cps)
{
	struct race rc = { .m = m,
			   .npages = npages,
			   .tg = tg,
			   .buf = buf,
			   .max = max,
			   .interval_us = interval_us };
	pthread_t w[2], c;
	struct timespec d = { duration_ms / 1000, (duration_ms % 1000) * 1000000L };
	uint64_t t0 = now_ns();
	double secs;

	for (int i = 0; i < 2; i++)
		pthread_create(&w[i], NULL, race_writer, &rc);
	if (tg)
		pthread_create(&c, NULL, race_collector, &rc);
	nanosleep(&d, NULL);
	atomic_store(&rc.stop, true);
	for (int i = 0; i < 2; i++)
		pthread_join(w[i], NULL);
	if (tg)
		pthread_join(c, NULL);
	secs = (double)(now_ns() - t0) / 1e9;
	*cps = (double)atomic_load(&rc.collects) / secs;
	return (double)atomic_load(&rc.writes) / secs / 1e6;
}

/*
 * Writers without tracking run paired with each backend, alternating rep by
 * rep, so the ratio compares runs made under the same machine load. Two
 * collector cadences: a tight loop (worst case: on 2 cores the collector
 * owns one) and one collect per millisecond.
 */
static void bench_threads(void)
{
	static const long intervals[] = { 0, 1000 };
	size_t len = quick ? 16 * MiB : 64 * MiB, npages = len / ps, max = npages + 1;
	int reps = 3, dur = quick ? 200 : 500;
	struct target tg[NBACKENDS + 1];
	void *buf = malloc(max * sizeof(struct page_region));
	char *m = region_map(len, true, false);
	int ntg;

	section("threads: 2 writers at random pages, 1 collector looping WW_RESET", "ratio");
	ntg = targets_list(tg, "threads");
	for (size_t ii = 0; ii < 2; ii++) {
		for (int k = 0; k < ntg; k++) {
			double v[MAXREP], vn[MAXREP], c[MAXREP], cn, none_med;
			struct stats cs;
			struct row r;

			for (int rep = 0; rep < reps; rep++) {
				vn[rep] = race_run(m, npages, NULL, NULL, 0, 0, dur, &cn);
				target_track(&tg[k], m, len);
				v[rep] = race_run(m, npages, &tg[k], buf, max, intervals[ii], dur,
						  &c[rep]);
				target_untrack(&tg[k], m, len);
			}
			r = row_new("threads", "none", "Mwrites/s");
			snprintf(r.params, sizeof(r.params),
				 "size_mib=%zu writers=2 interval_us=%ld", (size_t)(len / MiB),
				 intervals[ii]);
			r.st = stats_of(vn, reps);
			none_med = r.st.med;
			if (k == 0)
				emit(&r);
			r = row_new("threads", tg[k].name, "Mwrites/s");
			snprintf(r.params, sizeof(r.params),
				 "size_mib=%zu writers=2 interval_us=%ld", (size_t)(len / MiB),
				 intervals[ii]);
			r.st = stats_of(v, reps);
			row_ratio(&r, none_med, "none");
			cs = stats_of(c, reps);
			snprintf(r.extra, sizeof(r.extra),
				 ",\"collects_per_s\":%.4g,\"baseline_median\":%.4g", cs.med,
				 none_med);
			snprintf(r.note, sizeof(r.note), "%.0f collects/s", cs.med);
			emit(&r);
		}
	}
	munmap(m, len);
	free(buf);
}

/* ---- 5. what programs do without write tracking ------------------------- */

/* A fast 64-bit page hash: four independent multiply-xor lanes. */
static uint64_t page_hash(const void *p)
{
	const uint64_t *w = p, k = 0x9e3779b97f4a7c15ULL;
	uint64_t h0 = 1, h1 = 2, h2 = 3, h3 = 4;

	for (size_t i = 0; i < ps / 8; i += 4) {
		h0 = (h0 ^ w[i]) * k;
		h1 = (h1 ^ w[i + 1]) * k;
		h2 = (h2 ^ w[i + 2]) * k;
		h3 = (h3 ^ w[i + 3]) * k;
	}
	return h0 ^ (h1 >> 7) ^ (h2 << 11) ^ (h3 >> 17);
}

static void write_100(char *m, size_t npages, uint64_t *seed)
{
	/* 100 distinct scattered pages: one in each of 100 equal slices. A
	 * 64-bit stamp that never repeats, so every write changes the page. */
	static uint64_t stamp;
	size_t slice = npages / 100;

	for (size_t i = 0; i < 100; i++) {
		uint64_t v = ++stamp;

		memcpy(m + (i * slice + rnd_next(seed) % slice) * ps + 8, &v, sizeof(v));
	}
}

/* Add a row of samples v to rows[*n] and return its median. */
static double row_push(struct row *rows, int *n, const char *bench, const char *backend,
		       const char *unit, const char *params, double *v, int reps)
{
	struct row r = row_new(bench, backend, unit);

	snprintf(r.params, sizeof(r.params), "%s", params);
	r.st = stats_of(v, reps);
	rows[(*n)++] = r;
	return r.st.med;
}

static void bench_alternatives(void)
{
	size_t len = quick ? 256 * MiB : 1 * GiB, npages = len / ps;
	int reps = quick ? 3 : 5;
	double v[MAXREP], fork_med, cmp_med, hash_med, base = NAN;
	char *m = region_map(len, true, false), *copy;
	uint64_t seed = 99, *hashes;
	struct target tg[NBACKENDS + 1];
	struct row r, rows[NBACKENDS + 4];
	int ntg, nrows = 0;
	char params[160];

	snprintf(params, sizeof(params), "size_mib=%zu written_pages=100", (size_t)(len / MiB));
	section("alternatives: find 100 written pages in a populated region", "ratio");
	for (size_t i = 0; i < npages; i++)
		m[i * ps] = (char)i;

	/* fork(): what a fork-based snapshot pays up front (the parent's side,
	 * before any copy-on-write fault). */
	for (int rep = 0; rep < 1 + reps; rep++) {
		uint64_t t0 = now_ns();
		pid_t pid = fork();
		double us = (double)(now_ns() - t0) / 1e3;

		if (pid == 0)
			_exit(0);
		if (pid < 0)
			die("fork: %s", strerror(errno));
		waitpid(pid, NULL, 0);
		if (rep >= 1)
			v[rep - 1] = us;
	}
	fork_med =
		row_push(rows, &nrows, "alternatives", "fork-snapshot", "us/call", params, v, reps);

	/* Compare every page against a copy, refresh the copy of what changed. */
	copy = region_map(len, true, false);
	memcpy(copy, m, len);
	for (int rep = 0; rep < 1 + reps; rep++) {
		size_t found = 0;
		uint64_t t0;

		write_100(m, npages, &seed);
		t0 = now_ns();
		for (size_t i = 0; i < npages; i++)
			if (memcmp(m + i * ps, copy + i * ps, ps)) {
				memcpy(copy + i * ps, m + i * ps, ps);
				found++;
			}
		if (rep >= 1)
			v[rep - 1] = (double)(now_ns() - t0) / 1e3;
		if (found != 100)
			die("memcmp found %zu pages, not 100", found);
	}
	munmap(copy, len);
	cmp_med = row_push(rows, &nrows, "alternatives", "memcmp-copy", "us/call", params, v, reps);

	/* Hash every page, compare with the stored hashes. */
	hashes = malloc(npages * sizeof(*hashes));
	for (size_t i = 0; i < npages; i++)
		hashes[i] = page_hash(m + i * ps);
	for (int rep = 0; rep < 1 + reps; rep++) {
		size_t found = 0;
		uint64_t t0;

		write_100(m, npages, &seed);
		t0 = now_ns();
		for (size_t i = 0; i < npages; i++) {
			uint64_t h = page_hash(m + i * ps);

			if (h != hashes[i]) {
				hashes[i] = h;
				found++;
			}
		}
		if (rep >= 1)
			v[rep - 1] = (double)(now_ns() - t0) / 1e3;
		if (found != 100)
			die("hash found %zu pages, not 100", found);
	}
	free(hashes);
	hash_med = row_push(rows, &nrows, "alternatives", "hash-pages", "us/call", params, v, reps);

	ntg = targets_list(tg, "alternatives");
	for (int k = 0; k < ntg; k++) {
		struct page_region *buf = malloc(256 * sizeof(*buf));
		size_t got = 0;

		target_track(&tg[k], m, len);
		for (int rep = 0; rep < 1 + reps; rep++) {
			double us;

			write_100(m, npages, &seed);
			us = target_collect(&tg[k], m, len, buf, 256, &got);
			if (rep >= 1)
				v[rep - 1] = us;
		}
		target_untrack(&tg[k], m, len);
		free(buf);
		r = row_new("alternatives", tg[k].name, "us/call");
		snprintf(r.params, sizeof(r.params), "%s", params);
		r.st = stats_of(v, reps);
		snprintf(
			r.extra, sizeof(r.extra),
			",\"fork_over_this\":%.4g,\"memcmp_over_this\":%.4g,\"hash_over_this\":%.4g",
			fork_med / r.st.med, cmp_med / r.st.med, hash_med / r.st.med);
		snprintf(r.note, sizeof(r.note),
			 "%.0fx faster than fork, %.0fx than memcmp, %.0fx than hash%s",
			 fork_med / r.st.med, cmp_med / r.st.med, hash_med / r.st.med,
			 got == 100 ? "" : " (page count is not 100)");
		if (tg[k].b == WW_BACKEND_PAGEMAP_SCAN)
			base = r.st.med;
		rows[nrows++] = r;
	}
	for (int i = 0; i < nrows; i++) {
		if (i < 3 || strcmp(rows[i].backend, "pagemap-scan"))
			row_ratio(&rows[i], base, "pagemap-scan");
		emit(&rows[i]);
	}
	munmap(m, len);
}

/* ---- 5b. rollback: put back what a run changed --------------------------- */

/* What a snapshot fuzzer pays per test case to start the next one from the
 * same memory: a fork per case (AFL's fork server: the case runs in the
 * child, its writes go with it), a copy of the whole region back, or
 * ww_snapshot_restore of the pages the case wrote. 100 scattered pages of a
 * populated 1 GiB region are written per case. */
static void bench_rollback(void)
{
	size_t len = quick ? 256 * MiB : 1 * GiB, npages = len / ps;
	int reps = quick ? 5 : 21;
	double v[MAXREP], fork_med, copy_med;
	char *m = region_map(len, true, false), *copy;
	uint64_t seed = 7;
	struct row r, rows[NBACKENDS + 2];
	int nrows = 0;
	char params[160];

	if (reps > MAXREP)
		reps = MAXREP;
	snprintf(params, sizeof(params), "size_mib=%zu written_pages=100", (size_t)(len / MiB));
	section("rollback: put back 100 written pages of a populated region (per case)", "ratio");
	for (size_t i = 0; i < npages; i++)
		m[i * ps] = (char)i;

	/* fork per case: the child writes and exits, the parent waits */
	for (int rep = 0; rep < 1 + reps; rep++) {
		uint64_t t0 = now_ns();
		pid_t pid = fork();

		if (pid == 0) {
			write_100(m, npages, &seed);
			_exit(0);
		}
		if (pid < 0)
			die("fork: %s", strerror(errno));
		waitpid(pid, NULL, 0);
		if (rep >= 1)
			v[rep - 1] = (double)(now_ns() - t0) / 1e3;
	}
	fork_med = row_push(rows, &nrows, "rollback", "fork-per-case", "us/case", params, v, reps);

	/* the whole region copied back */
	copy = region_map(len, true, false);
	memcpy(copy, m, len);
	for (int rep = 0; rep < 1 + reps; rep++) {
		uint64_t t0;

		write_100(m, npages, &seed);
		t0 = now_ns();
		memcpy(m, copy, len);
		if (rep >= 1)
			v[rep - 1] = (double)(now_ns() - t0) / 1e3;
	}
	munmap(copy, len);
	copy_med = row_push(rows, &nrows, "rollback", "memcpy-region", "us/case", params, v, reps);

	for (int k = 0; k < NBACKENDS; k++) {
		enum ww_backend b = all_backends[k];
		struct ww_tracker *t;
		struct ww_snapshot *s;
		ssize_t got = 0;
		int err;

		if (!backend_usable(b, "rollback"))
			continue;
		t = tracker_open(b);
		if ((err = ww_track(t, m, len)) || (err = ww_snapshot_take(t, m, len, 0, &s)))
			die("%s: track/snapshot: %s", ww_backend_name(b), strerror(-err));
		for (int rep = 0; rep < 1 + reps; rep++) {
			uint64_t t0;

			write_100(m, npages, &seed);
			t0 = now_ns();
			got = ww_snapshot_restore(s);
			if (rep >= 1)
				v[rep - 1] = (double)(now_ns() - t0) / 1e3;
			if (got < 0)
				die("%s: restore: %s", ww_backend_name(b), strerror((int)-got));
		}
		ww_snapshot_free(s);
		ww_close(t);
		r = row_new("rollback", ww_backend_name(b), "us/case");
		snprintf(r.params, sizeof(r.params), "%s", params);
		r.st = stats_of(v, reps);
		snprintf(
			r.extra, sizeof(r.extra),
			",\"fork_over_this\":%.4g,\"memcpy_over_this\":%.4g,\"pages_restored\":%zd",
			fork_med / r.st.med, copy_med / r.st.med, got);
		snprintf(r.note, sizeof(r.note), "%.0fx faster than fork, %.0fx than memcpy%s",
			 fork_med / r.st.med, copy_med / r.st.med,
			 got == 100 ? "" : " (restored page count is not 100)");
		rows[nrows++] = r;
	}
	for (int i = 0; i < nrows; i++)
		emit(&rows[i]);
	munmap(m, len);
}

/* ---- 5c. a consistent copy while writers run (COW snapshots) ------------- */

/* The library's own account of a COW take (its debug line): how long it
 * held writes into the range, and the runs each pre-arming pass found. A
 * writer's longest store also holds this machine's scheduling noise (the
 * untracked row shows it); this is the part the take itself imposed. */
static struct {
	double held_us;
	char passes[64];
} take_log;

static void take_log_fn(enum ww_log_level level, const char *msg, void *ctx)
{
	const char *f = strstr(msg, "passes found"), *h = strstr(msg, "writes held ");
	int n = 0;

	(void)level;
	(void)ctx;
	if (!f || !h)
		return;
	f += strlen("passes found");
	while (*f == ' ')
		f++;
	while (f[n] && strncmp(f + n, " runs", 5))
		n++;
	snprintf(take_log.passes, sizeof(take_log.passes), "%.*s", n, f);
	take_log.held_us = strtod(h + strlen("writes held "), NULL);
}

/* The level WRITEWATCH_LOG asks for, read as the library reads it. */
static enum ww_log_level env_log_level(void)
{
	static const char *const names[] = { "none", "error", "warn", "info", "debug" };
	const char *v = getenv("WRITEWATCH_LOG");

	if (!v || !*v)
		return WW_LOG_NONE;
	for (int i = 0; i < 5; i++)
		if (!strcasecmp(v, names[i]) || (v[0] == '0' + i && !v[1]))
			return (enum ww_log_level)i;
	return WW_LOG_WARN;
}

/* A COW take, with take_log filled (NAN if the library did not say). */
static int cow_take_logged(struct ww_tracker *t, void *m, size_t len, struct ww_snapshot **s)
{
	int err;

	take_log.held_us = NAN;
	take_log.passes[0] = '\0';
	ww_set_log(take_log_fn, NULL, WW_LOG_DEBUG);
	err = ww_snapshot_take(t, m, len, WW_SNAP_COW, s);
	ww_set_log(NULL, NULL, env_log_level()); /* the user's WRITEWATCH_LOG again */
	return err;
}

/* Two writer threads store to random pages of a populated region, timing
 * every store; the longest store is the longest pause a writer saw. */
struct cow_writers {
	char *m;
	size_t npages;
	atomic_bool stop;
	_Atomic uint64_t max_ns, writes;
	/* the take's window (0: not begun, not ended) and the longest store
	 * that overlapped it: the pause the take made, beside the save's */
	_Atomic uint64_t take_t0, take_t1, take_max_ns;
	_Atomic uint64_t take_over_1ms; /* stores over 1 ms that overlapped it */
	_Atomic uint64_t hist[64]; /* stores by floor(log2(ns)) */
	/* the longest time a writer was asleep in one store (sched_mark);
	 * sched_ok: both writers could read their schedstat */
	_Atomic uint64_t asleep_max_ns, take_asleep_max_ns;
	atomic_bool sched_ok;
	pthread_t thr[2];
};

/*
 * Where a long store went. Its wall time is the writer on a CPU (the store,
 * a fault the kernel or mprotect's handler resolves, or time the vCPU did
 * not run at all, which a guest without a steal clock counts as running),
 * waiting for a CPU while runnable, or asleep: blocked in the fault, on
 * uffd-wp's handler or on fork's mm lock. The kernel counts the first two
 * per thread: the thread's CPU clock and run_delay, the second field of
 * /proc/thread-self/schedstat (CONFIG_SCHED_INFO). A writer marks both
 * every 100 us and after each long store; the time the store was asleep is
 * at most the wall time between the marks around it less the CPU time and
 * the run_delay between them (the marks' slack, up to ~200 us, is counted
 * against the mechanism), and at most the store's wall time.
 */
struct sched_mark {
	uint64_t before, after; /* now_ns() around the reads */
	uint64_t cpu, wait; /* thread CPU time, run_delay; ns */
};

static bool sched_mark(int fd, struct sched_mark *m)
{
	char b[96];
	unsigned long long run, wait;
	struct timespec ts;
	ssize_t n;

	m->before = now_ns();
	n = pread(fd, b, sizeof(b) - 1, 0);
	if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts))
		return false;
	m->after = now_ns();
	if (n <= 0)
		return false;
	b[n] = '\0';
	if (sscanf(b, "%llu %llu", &run, &wait) != 2)
		return false;
	m->cpu = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	m->wait = wait;
	return true;
}

static void atomic_max(_Atomic uint64_t *v, uint64_t x)
{
	uint64_t cur = atomic_load_explicit(v, memory_order_relaxed);

	while (x > cur && !atomic_compare_exchange_weak(v, &cur, x))
		;
}

/* A store of dt ns between marks a and b: how long it was asleep, at most. */
static void cow_asleep_add(struct cow_writers *w, const struct sched_mark *a,
			   const struct sched_mark *b, uint64_t dt, bool in_take)
{
	uint64_t wall = b->after - a->before, away = (b->wait - a->wait) + (b->cpu - a->cpu);
	uint64_t asleep = away < wall ? wall - away : 0;

	if (asleep > dt)
		asleep = dt; /* the slack never makes it longer */
	atomic_max(&w->asleep_max_ns, asleep);
	if (in_take)
		atomic_max(&w->take_asleep_max_ns, asleep);
}

/* The store time below which a fraction q of the stores took (the upper
 * bound of its power-of-two bucket), in microseconds. */
static double cow_quantile_us(struct cow_writers *w, double q)
{
	uint64_t total = 0, acc = 0;

	for (int i = 0; i < 64; i++)
		total += atomic_load(&w->hist[i]);
	for (int i = 0; i < 64; i++) {
		acc += atomic_load(&w->hist[i]);
		if ((double)acc >= q * (double)total)
			return (double)(1ULL << (i + 1)) / 1e3;
	}
	return NAN;
}

static void *cow_writer(void *arg)
{
	struct cow_writers *w = arg;
	uint64_t seed = (uint64_t)(uintptr_t)&seed, max = 0, n = 0, hist[64] = { 0 };
	int sfd = open("/proc/thread-self/schedstat", O_RDONLY | O_CLOEXEC);
	struct sched_mark mark, cur;
	bool sched = sfd >= 0 && sched_mark(sfd, &mark);

	if (!sched)
		atomic_store(&w->sched_ok, false);
	while (!atomic_load_explicit(&w->stop, memory_order_relaxed)) {
		size_t p = rnd_next(&seed) % w->npages;
		uint64_t t0 = now_ns(), dt;
		bool in_take = false;

		w->m[p * ps + 128]++;
		dt = now_ns() - t0;
		if (dt > max)
			max = dt;
		if (dt > 100000) { /* a long one: did it overlap the take? */
			uint64_t a = atomic_load_explicit(&w->take_t0, memory_order_relaxed),
				 b = atomic_load_explicit(&w->take_t1, memory_order_relaxed);

			in_take = a && t0 + dt > a && (!b || t0 < b);
			if (in_take) {
				atomic_max(&w->take_max_ns, dt);
				if (dt > 1000000)
					atomic_fetch_add(&w->take_over_1ms, 1);
			}
		}
		if (sched && (dt > 100000 || t0 + dt - mark.after > 100000)) {
			sched = sched_mark(sfd, &cur);
			if (sched && dt > 100000)
				cow_asleep_add(w, &mark, &cur, dt, in_take);
			mark = cur;
			if (!sched)
				atomic_store(&w->sched_ok, false);
		}
		hist[dt ? 63 - __builtin_clzll(dt) : 0]++;
		n++;
	}
	if (sfd >= 0)
		close(sfd);
	for (int i = 0; i < 64; i++)
		atomic_fetch_add(&w->hist[i], hist[i]);
	atomic_fetch_add(&w->writes, n);
	atomic_max(&w->max_ns, max);
	return NULL;
}

static void cow_writers_start(struct cow_writers *w)
{
	atomic_store(&w->stop, false);
	atomic_store(&w->max_ns, 0);
	atomic_store(&w->take_t0, 0);
	atomic_store(&w->take_t1, 0);
	atomic_store(&w->take_max_ns, 0);
	atomic_store(&w->take_over_1ms, 0);
	atomic_store(&w->asleep_max_ns, 0);
	atomic_store(&w->take_asleep_max_ns, 0);
	atomic_store(&w->sched_ok, true);
	atomic_store(&w->writes, 0);
	for (int i = 0; i < 64; i++)
		atomic_store(&w->hist[i], 0);
	for (int i = 0; i < 2; i++)
		if (pthread_create(&w->thr[i], NULL, cow_writer, w))
			die("pthread_create");
}

/* Stop them; the writes per second over elapsed_ns, the longest store. */
static double cow_writers_stop(struct cow_writers *w, uint64_t elapsed_ns, double *max_us)
{
	atomic_store(&w->stop, true);
	for (int i = 0; i < 2; i++)
		pthread_join(w->thr[i], NULL);
	*max_us = (double)atomic_load(&w->max_ns) / 1e3;
	return (double)atomic_load(&w->writes) / ((double)elapsed_ns / 1e9);
}

/* Written runs the tracker holds in [m, m+len), without re-arming: what a
 * take is about to re-arm (writers running: about). */
static size_t count_runs(struct ww_tracker *t, char *m, size_t len)
{
	struct iovec iov[64];
	void *next = m;
	size_t runs = 0;

	while ((char *)next < m + len) {
		char *from = next;
		ssize_t n = ww_collect(t, from, len - (size_t)(from - m), 0, iov, 64, &next);

		if (n < 0)
			die("ww_collect: %s", strerror((int)-n));
		runs += (size_t)n;
	}
	return runs;
}

/* Read the whole snapshot out in 1 MiB pieces, as a saver writing a file
 * would; returns a checksum so the reads are not optimised away. */
static uint64_t cow_save_out(struct ww_snapshot *s, char *m, size_t len, char *buf)
{
	uint64_t sum = 0;

	for (size_t off = 0; off < len; off += MiB) {
		if (ww_snapshot_read(s, m + off, MiB, buf) != (ssize_t)MiB)
			die("ww_snapshot_read: %s", strerror(errno));
		sum += (uint64_t)buf[0];
	}
	return sum;
}

/* Add to a row the longest time a writer was asleep in one store
 * (sched_mark), over the whole run and (take) over the take; nothing if the
 * writers could not read their schedstat. */
static void cow_asleep(struct cow_writers *w, struct row *r, bool take)
{
	double all = (double)atomic_load(&w->asleep_max_ns) / 1e3,
	       tk = (double)atomic_load(&w->take_asleep_max_ns) / 1e3;

	if (!atomic_load(&w->sched_ok)) {
		snprintf(r->note + strlen(r->note), sizeof(r->note) - strlen(r->note),
			 "; no /proc/thread-self/schedstat: time asleep not told apart");
		return;
	}
	snprintf(r->extra + strlen(r->extra), sizeof(r->extra) - strlen(r->extra),
		 ",\"max_asleep_us\":%.4g", all);
	if (take)
		snprintf(r->extra + strlen(r->extra), sizeof(r->extra) - strlen(r->extra),
			 ",\"take_max_asleep_us\":%.4g", tk);
	snprintf(r->note + strlen(r->note), sizeof(r->note) - strlen(r->note),
		 "; longest asleep in a store %.3g us", all);
	if (take)
		snprintf(r->note + strlen(r->note), sizeof(r->note) - strlen(r->note),
			 " (over the take %.3g us)", tk);
}

/* One save's row: the longest store, throughput against untracked. take_ns:
 * how long the start of the save kept the region still (the fork, or the
 * COW take, whose arming holds every write into the range). */
static void cow_row(struct cow_writers *w, const char *name, const char *params, double max_us,
		    double wps, uint64_t save_ns, uint64_t take_ns, size_t runs,
		    double untracked_wps)
{
	struct row r = row_new("cow-save", name, "us max pause");

	snprintf(r.params, sizeof(r.params), "%s", params);
	r.st = stats_of(&max_us, 1);
	snprintf(r.extra, sizeof(r.extra),
		 ",\"writes_per_s\":%.4g,\"save_ms\":%.4g,\"take_ms\":%.4g,"
		 "\"throughput_vs_untracked\":%.4g,\"p99_us\":%.4g,\"p999_us\":%.4g,"
		 "\"take_max_store_us\":%.4g,\"take_stores_over_1ms\":%llu",
		 wps, (double)save_ns / 1e6, (double)take_ns / 1e6, wps / untracked_wps,
		 cow_quantile_us(w, 0.99), cow_quantile_us(w, 0.999),
		 (double)atomic_load(&w->take_max_ns) / 1e3,
		 (unsigned long long)atomic_load(&w->take_over_1ms));
	snprintf(r.note, sizeof(r.note),
		 "take %.3g ms (stores over it: longest %.3g us, %llu over 1 ms), save %.0f ms, "
		 "writers at %.0f%% of untracked; p99.9 store %.3g us",
		 (double)take_ns / 1e6, (double)atomic_load(&w->take_max_ns) / 1e3,
		 (unsigned long long)atomic_load(&w->take_over_1ms), (double)save_ns / 1e6,
		 100 * wps / untracked_wps, cow_quantile_us(w, 0.999));
	cow_asleep(w, &r, true);
	if (runs) {
		snprintf(r.extra + strlen(r.extra), sizeof(r.extra) - strlen(r.extra),
			 ",\"runs_at_take\":%zu,\"held_us\":%.4g,\"passes\":\"%s\"", runs,
			 isnan(take_log.held_us) ? -1.0 : take_log.held_us, take_log.passes);
		snprintf(r.note + strlen(r.note), sizeof(r.note) - strlen(r.note),
			 "; %zu written runs at take, pre-arming passes found %s, writes held "
			 "%.3g us",
			 runs, take_log.passes, take_log.held_us);
	}
	emit(&r);
}

static void bench_cow_save(void)
{
	size_t len = quick ? 256 * MiB : 1 * GiB;
	char *m = region_map(len, true, false), *buf = malloc(MiB);
	struct cow_writers w = { .m = m, .npages = len / ps };
	char params[160];
	double untracked_wps = NAN, max_us;
	struct row r;

	snprintf(params, sizeof(params), "size_mib=%zu writers=2", (size_t)(len / MiB));
	section("cow-save: a consistent copy of a region while 2 writers store to it", "");

	/* untracked writers: the throughput baseline */
	{
		uint64_t t0 = now_ns();

		cow_writers_start(&w);
		usleep(quick ? 200000 : 500000);
		untracked_wps = cow_writers_stop(&w, now_ns() - t0, &max_us);
		r = row_new("cow-save", "untracked", "us max pause");
		snprintf(r.params, sizeof(r.params), "%s", params);
		r.st = stats_of(&max_us, 1);
		snprintf(r.extra, sizeof(r.extra),
			 ",\"writes_per_s\":%.4g,\"p99_us\":%.4g,\"p999_us\":%.4g", untracked_wps,
			 cow_quantile_us(&w, 0.99), cow_quantile_us(&w, 0.999));
		snprintf(r.note, sizeof(r.note), "%.3g Mwrites/s; p99.9 store %.3g us",
			 untracked_wps / 1e6, cow_quantile_us(&w, 0.999));
		cow_asleep(&w, &r, false);
		emit(&r);
	}

	/* fork: the child is the copy (it reads the region and exits) */
	{
		uint64_t t0, t1, tt;
		double wps;
		pid_t pid;

		cow_writers_start(&w);
		usleep(50000);
		t0 = now_ns();
		atomic_store(&w.take_t0, t0);
		pid = fork();
		if (pid == 0) {
			volatile uint64_t sum = 0;

			for (size_t off = 0; off < len; off += ps)
				sum += (uint64_t)m[off];
			_exit(sum == 1 ? 1 : 0); /* the reads are the save: keep them */
		}
		if (pid < 0)
			die("fork: %s", strerror(errno));
		tt = now_ns();
		atomic_store(&w.take_t1, tt);
		waitpid(pid, NULL, 0);
		t1 = now_ns();
		wps = cow_writers_stop(&w, now_ns() - t0 + 50000000, &max_us);
		cow_row(&w, "fork", params, max_us, wps, t1 - t0, tt - t0, 0, untracked_wps);
	}

	for (int k = 0; k < NBACKENDS; k++) {
		enum ww_backend b = all_backends[k];
		unsigned int caps = 0;
		struct ww_tracker *t;
		struct ww_snapshot *s;
		uint64_t t0, t1, tt, sum;
		size_t runs;
		double wps;
		int err;

		ww_backend_caps(b, &caps);
		if (!(caps & WW_CAP_PREWRITE)) {
			if (want_backends & (1u << b))
				emit_skip(
					"cow-save", ww_backend_name(b),
					"no WW_CAP_PREWRITE: cannot copy a page before its write");
			continue;
		}
		if (!backend_usable(b, "cow-save") || !tracker_cow(b, "cow-save"))
			continue;
		t = tracker_open(b);
		if ((err = ww_track(t, m, len)))
			die("%s: track: %s", ww_backend_name(b), strerror(-err));
		cow_writers_start(&w);
		usleep(50000);
		runs = count_runs(t, m, len);
		t0 = now_ns();
		atomic_store(&w.take_t0, t0);
		if ((err = cow_take_logged(t, m, len, &s)))
			die("%s: COW take: %s", ww_backend_name(b), strerror(-err));
		tt = now_ns();
		atomic_store(&w.take_t1, tt);
		sum = cow_save_out(s, m, len, buf);
		t1 = now_ns();
		wps = cow_writers_stop(&w, now_ns() - t0 + 50000000, &max_us);
		ww_snapshot_free(s);
		ww_close(t);
		(void)sum;
		cow_row(&w, ww_backend_name(b), params, max_us, wps, t1 - t0, tt - t0, runs,
			untracked_wps);
	}
	free(buf);
	munmap(m, len);
}

/* ---- 5d. first write after a snapshot: COW against tracking alone ------- */

/* One participant: a backend (or none) and what comes before its writes. */
enum cfw_after { CFW_NONE, CFW_RESET, CFW_SNAP, CFW_COW };

struct cfw {
	enum cfw_after after;
	enum ww_backend b;
	struct ww_tracker *t;
	char *m;
	double v[MAXREP], take[MAXREP];
	const char *wrong; /* what the last round found wrong, or NULL */
};

static const char *const cfw_params[] = { "", "after=reset", "after=snapshot",
					  "after=snapshot-cow" };

/* Re-arm (untimed), or take a snapshot (timed: *take_ns), before the
 * writes; the snapshot is returned to be checked and freed after them. */
static struct ww_snapshot *cfw_before(struct cfw *f, size_t len, uint64_t *take_ns)
{
	struct ww_snapshot *s = NULL;
	uint64_t t0 = now_ns();
	int err = 0;

	if (f->after == CFW_RESET)
		err = ww_reset(f->t, f->m, len);
	else if (f->after != CFW_NONE)
		err = ww_snapshot_take(f->t, f->m, len, f->after == CFW_COW ? WW_SNAP_COW : 0, &s);
	*take_ns = now_ns() - t0;
	if (err)
		die("%s %s: %s", ww_backend_name(f->b), cfw_params[f->after], strerror(-err));
	return s;
}

/* After the last round's writes: the snapshot must hold the previous
 * round's value in every page, and the tracker must report every page. */
static void cfw_check(struct cfw *f, struct ww_snapshot *s, size_t len, char before)
{
	size_t npages = len / ps, runs;
	struct iovec iov[64];
	char *buf;

	if (s) {
		buf = malloc(MiB);
		if (!buf)
			die("out of memory");
		for (size_t off = 0; off < len && !f->wrong; off += MiB) {
			if (ww_snapshot_read(s, f->m + off, MiB, buf) != (ssize_t)MiB)
				die("ww_snapshot_read: %s", strerror(errno));
			for (size_t i = 0; i < MiB; i += ps)
				if (buf[i] != before)
					f->wrong = "WRONG: the snapshot holds a later write";
		}
		free(buf);
	}
	if (f->t && lib_collect(f->t, f->m, len, iov, 64, &runs) != npages)
		f->wrong = "WRONG: the tracker did not report every written page";
}

/*
 * The cost of the first write to each page after a COW snapshot
 * (WW_SNAP_COW: the fault copies the page aside first), against the same
 * write after a plain re-arm (tracking only), after a snapshot copied at
 * take (whose take is counted apart), and in untracked memory. Every
 * participant has its own region; rounds go round-robin, as in first-write.
 */
static void bench_cow_first_write(void)
{
	size_t len = quick ? 16 * MiB : 64 * MiB, npages = len / ps;
	int reps = quick ? 5 : 11, warm = quick ? 1 : 2, n = 0;
	struct cfw f[1 + 3 * NBACKENDS];
	double reset_med[WW_BACKEND_COUNT], none_med = NAN;
	char params[160];

	section("cow-first-write: one write per page after a snapshot (per page)", "ratio");
	for (int b = 0; b < WW_BACKEND_COUNT; b++)
		reset_med[b] = NAN;
	memset(f, 0, sizeof(f));
	f[n++] = (struct cfw){ .after = CFW_NONE };
	for (int k = 0; k < NBACKENDS; k++) {
		enum ww_backend b = all_backends[k];
		unsigned int caps = 0;

		if (!backend_usable(b, "cow-first-write"))
			continue;
		f[n++] = (struct cfw){ .after = CFW_RESET, .b = b };
		f[n++] = (struct cfw){ .after = CFW_SNAP, .b = b };
		ww_backend_caps(b, &caps);
		if (caps & WW_CAP_PREWRITE) {
			if (tracker_cow(b, "cow-first-write"))
				f[n++] = (struct cfw){ .after = CFW_COW, .b = b };
		} else
			emit_skip("cow-first-write", ww_backend_name(b),
				  "after=snapshot-cow: no WW_CAP_PREWRITE: cannot copy a page "
				  "before its write");
	}
	for (int i = 0; i < n; i++) {
		f[i].m = region_map(len, true, false);
		if (f[i].after == CFW_NONE)
			continue;
		f[i].t = tracker_open(f[i].b);
		if (ww_track(f[i].t, f[i].m, len))
			die("ww_track %s: %s", ww_backend_name(f[i].b), strerror(errno));
	}
	for (int r = 0; r < warm + reps; r++)
		for (int j = 0; j < n; j++) {
			struct cfw *p = &f[(j + r) % n]; /* each its turn first */
			uint64_t take, t0;
			struct ww_snapshot *s = cfw_before(p, len, &take);

			t0 = now_ns();
			touch_pages(p->m, npages, (char)(r + 1));
			if (r >= warm) {
				p->v[r - warm] = (double)(now_ns() - t0) / (double)npages;
				p->take[r - warm] = (double)take / (double)npages;
			}
			if (r == warm + reps - 1)
				cfw_check(p, s, len, (char)r);
			if (s)
				ww_snapshot_free(s);
		}
	for (int i = 0; i < n; i++) {
		struct stats st = stats_of(f[i].v, reps);

		if (f[i].after == CFW_NONE)
			none_med = st.med;
		else if (f[i].after == CFW_RESET)
			reset_med[f[i].b] = st.med;
	}
	for (int i = 0; i < n; i++) {
		struct cfw *p = &f[i];
		const char *name = p->after == CFW_NONE ? "none" : ww_backend_name(p->b);
		struct row r = row_new("cow-first-write", name, "ns/page"), tk;
		double base = p->after == CFW_NONE ? NAN : reset_med[p->b];

		snprintf(params, sizeof(params), "pages=%zu%s%s", npages,
			 *cfw_params[p->after] ? " " : "", cfw_params[p->after]);
		snprintf(r.params, sizeof(r.params), "%s", params);
		r.st = stats_of(p->v, reps);
		if (p->after == CFW_RESET)
			row_ratio(&r, none_med, "none");
		else if (p->after != CFW_NONE)
			row_ratio(&r, base, "after=reset");
		snprintf(r.extra, sizeof(r.extra), ",\"vs_none\":%.4g", r.st.med / none_med);
		if (!isnan(base))
			snprintf(r.extra + strlen(r.extra), sizeof(r.extra) - strlen(r.extra),
				 ",\"vs_reset\":%.4g", r.st.med / base);
		if (p->after == CFW_SNAP || p->after == CFW_COW)
			snprintf(r.note, sizeof(r.note), "%.0fx none", r.st.med / none_med);
		if (p->wrong)
			snprintf(r.note + strlen(r.note), sizeof(r.note) - strlen(r.note), "%s%s",
				 *r.note ? "; " : "", p->wrong);
		emit(&r);
		if (p->after != CFW_SNAP && p->after != CFW_COW)
			continue;
		/* the take, per page of the region, apart from the writes */
		tk = row_new("cow-first-write", name, "ns/page");
		snprintf(tk.params, sizeof(tk.params), "pages=%zu take=%s", npages,
			 p->after == CFW_COW ? "cow" : "copy");
		tk.st = stats_of(p->take, reps);
		snprintf(tk.extra, sizeof(tk.extra),
			 ",\"take_ms\":%.4g,\"take_and_writes_vs_reset\":%.4g",
			 tk.st.med * (double)npages / 1e6, (tk.st.med + r.st.med) / base);
		snprintf(tk.note, sizeof(tk.note),
			 "%.3g ms per take; take + writes %.2fx after=reset",
			 tk.st.med * (double)npages / 1e6, (tk.st.med + r.st.med) / base);
		emit(&tk);
	}
	for (int i = 0; i < n; i++) {
		if (f[i].t)
			ww_close(f[i].t);
		munmap(f[i].m, len);
	}
}

/* ---- 5e. the COW take's arming, by how the written pages lie ----------- */

/* A writer that stores to one page of the range over and over through a
 * take, timing each store: its longest is the pause a take makes a writer
 * see (held writes wait for the take's last re-arming pass). */
static struct {
	volatile char *page;
	atomic_bool run;
	_Atomic uint64_t max_ns;
} probe;

static void *probe_writer(void *arg)
{
	uint64_t max = 0;
	char x = 0;

	(void)arg;
	while (atomic_load_explicit(&probe.run, memory_order_relaxed)) {
		uint64_t t0 = now_ns(), d;

		*probe.page = ++x;
		d = now_ns() - t0;
		if (d > max) {
			max = d;
			atomic_store(&probe.max_ns, max);
		}
	}
	return NULL;
}

/*
 * How long a WW_SNAP_COW take keeps writers out: writes into its range are
 * held while its last pass re-arms what was written during the passes
 * before it, which ran beside the writers (docs/snapshots.md). Here every k-th page of
 * the region is written before each take; the row gives the take and the
 * written runs it re-armed. One writer stores to page 1 through each take
 * (probe_writer): its longest store is the pause the take made it see.
 */
static void bench_cow_take(void)
{
	static const size_t every[] = { 2, 4, 5, 6, 8, 16, 64 };
	size_t len = quick ? 16 * MiB : 64 * MiB, npages = len / ps;
	int reps = quick ? 3 : 9;
	char *m = region_map(len, true, false);
	double v[MAXREP];

	section("cow-take: a COW take after every k-th page was written", "");
	for (int kb = 0; kb < NBACKENDS; kb++) {
		enum ww_backend b = all_backends[kb];
		unsigned int caps = 0;
		struct ww_tracker *t;

		ww_backend_caps(b, &caps);
		if (!(caps & WW_CAP_PREWRITE)) {
			if (want_backends & (1u << b))
				emit_skip(
					"cow-take", ww_backend_name(b),
					"no WW_CAP_PREWRITE: cannot copy a page before its write");
			continue;
		}
		if (!backend_usable(b, "cow-take") || !tracker_cow(b, "cow-take"))
			continue;
		t = tracker_open(b);
		if (ww_track(t, m, len))
			die("ww_track %s: %s", ww_backend_name(b), strerror(errno));
		for (size_t e = 0; e < sizeof(every) / sizeof(every[0]); e++) {
			size_t k = every[e], runs = (npages + k - 1) / k;
			struct ww_snapshot *s;
			struct row r;
			int err;

			double pause[MAXREP], held[MAXREP];

			for (int rep = 0; rep < 1 + reps; rep++) {
				pthread_t pt;
				uint64_t t0;

				for (size_t i = 0; i < npages; i += k)
					((volatile char *)m)[i * ps] = (char)rep;
				/* a writer stores through the take: the pause it sees */
				probe.page = (volatile char *)m + ps + 1; /* re-armed first */
				atomic_store(&probe.max_ns, 0);
				atomic_store(&probe.run, true);
				if (pthread_create(&pt, NULL, probe_writer, NULL))
					die("pthread_create: %s", strerror(errno));
				usleep(2000);
				atomic_store(&probe.max_ns, 0); /* from the take on */
				t0 = now_ns();
				err = cow_take_logged(t, m, len, &s);
				if (rep >= 1) {
					v[rep - 1] = (double)(now_ns() - t0) / 1e3;
					held[rep - 1] = take_log.held_us;
				}
				usleep(2000); /* a held store ends after the take */
				atomic_store(&probe.run, false);
				pthread_join(pt, NULL);
				if (rep >= 1)
					pause[rep - 1] = (double)atomic_load(&probe.max_ns) / 1e3;
				if (err)
					die("%s: COW take: %s", ww_backend_name(b), strerror(-err));
				ww_snapshot_free(s);
				/* the caller collects: nothing left pending */
				ww_reset(t, m, len);
			}
			r = row_new("cow-take", ww_backend_name(b), "us/take");
			snprintf(r.params, sizeof(r.params), "size_mib=%zu every=%zu runs=%zu",
				 (size_t)(len / MiB), k, runs);
			r.st = stats_of(v, reps);
			{
				struct stats ps_ = stats_of(pause, reps), hs = stats_of(held, reps);

				snprintf(r.extra, sizeof(r.extra),
					 ",\"us_per_run\":%.4g,\"writer_pause_us\":%.4g,"
					 "\"held_us\":%.4g,\"held_max_us\":%.4g",
					 r.st.med / (double)runs, ps_.med,
					 isnan(hs.med) ? -1 : hs.med, isnan(hs.max) ? -1 : hs.max);
				snprintf(
					r.note, sizeof(r.note),
					"%.3g us per written run; a writer's longest store %.3g us; "
					"writes held %.3g us (max %.3g)",
					r.st.med / (double)runs, ps_.med, hs.med, hs.max);
			}
			emit(&r);
		}
		ww_close(t);
	}
	munmap(m, len);
}

/* ---- driver ---------------------------------------------------------- */

/* ---- 7. many ranges and many trackers (issue 16 item 14) ---------------- */

/* What one case measured, sent up from the child that ran it. */
struct mr_result {
	double open_s, track_s, close_s;
	size_t done;
	int err; /* first failing ww_track/ww_open, negative errno; 0 */
	bool budget; /* stopped by the time budget */
};

/* layout: 0 one-page ranges one page apart (each its own VMA once tracked),
 * 1 adjacent one-page ranges, 2 one tracker per one-page range. */
static void mr_child(enum ww_backend b, size_t n, int layout, double budget_s,
		     struct mr_result *res)
{
	size_t pages = layout == 1 ? n : 2 * n;
	char *m = region_map(pages * ps, true, false);
	struct ww_tracker **ts = calloc(layout == 2 ? n : 1, sizeof(*ts));
	uint64_t t0, budget_ns = (uint64_t)(budget_s * 1e9);
	size_t i;

	if (!ts)
		die("out of memory");
	t0 = now_ns();
	if (layout != 2)
		ts[0] = tracker_open(b);
	res->open_s = (double)(now_ns() - t0) / 1e9;
	t0 = now_ns();
	for (i = 0; i < n; i++) {
		char *a = m + (layout == 1 ? i : 2 * i) * ps;
		struct ww_opts o = { .sz = sizeof(o), .backend = b };
		struct ww_tracker *t = ts[0];
		int err = 0;

		if (layout == 2) {
			err = ww_open(&o, &ts[i]);
			t = ts[i];
		}
		if (!err)
			err = ww_track(t, a, ps);
		if (err) {
			res->err = err;
			break;
		}
		if ((i & 63) == 63 && now_ns() - t0 > budget_ns) {
			i++;
			res->budget = true;
			break;
		}
	}
	res->done = i;
	res->track_s = (double)(now_ns() - t0) / 1e9;
	t0 = now_ns();
	for (size_t k = 0; k < (layout == 2 ? i : 1); k++)
		ww_close(ts[k]);
	res->close_s = (double)(now_ns() - t0) / 1e9;
	free(ts);
	munmap(m, pages * ps);
}

static void mr_row(enum ww_backend b, size_t n, int layout, double budget_s)
{
	static const char *const layout_name[] = { "apart", "adjacent", "own-tracker" };
	struct mr_result res = { 0 };
	int fds[2], status = 0;
	struct row r;
	pid_t pid;

	/* In a child: a crash at a limit (vm.max_map_count) becomes a note. */
	if (pipe(fds))
		die("pipe: %s", strerror(errno));
	pid = fork();
	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		close(fds[0]);
		mr_child(b, n, layout, budget_s, &res);
		_exit(write(fds[1], &res, sizeof(res)) == sizeof(res) ? 0 : 1);
	}
	close(fds[1]);
	if (read(fds[0], &res, sizeof(res)) != sizeof(res))
		res.done = 0;
	close(fds[0]);
	waitpid(pid, &status, 0);
	r = row_new("many-ranges", ww_backend_name(b), "us/track");
	snprintf(r.params, sizeof(r.params), "ranges=%zu layout=%s", n, layout_name[layout]);
	if (WIFSIGNALED(status)) {
		snprintf(r.note, sizeof(r.note), "killed by signal %d", WTERMSIG(status));
		r.st = stats_of((double[]){ NAN }, 1);
		emit(&r);
		return;
	}
	r.st.med = r.st.min = r.st.max = res.done ? res.track_s * 1e6 / (double)res.done : NAN;
	r.st.n = 1;
	snprintf(r.extra, sizeof(r.extra),
		 ",\"tracked\":%zu,\"track_s\":%.4f,\"close_s\":%.4f,\"open_s\":%.4f", res.done,
		 res.track_s, res.close_s, res.open_s);
	if (res.err)
		snprintf(r.note, sizeof(r.note), "ww_track failed after %zu: %s", res.done,
			 strerror(-res.err));
	else if (res.budget)
		snprintf(r.note, sizeof(r.note), "stopped at %zu after %.0f s (budget)", res.done,
			 res.track_s);
	else
		snprintf(r.note, sizeof(r.note), "all in %.2f s, close %.2f s", res.track_s,
			 res.close_s);
	emit(&r);
}

/* ww_track's cost as mappings and ranges grow: it must not re-read the
 * whole of /proc/self/maps or smaps per call. One sample per case (the
 * whole run is the measurement), each case in a child, capped by a time
 * budget (the row then says where it stopped). */
static void bench_many_ranges(void)
{
	size_t apart = quick ? 1000 : 10000, adjacent = quick ? 10000 : 100000;
	size_t trackers[2] = { quick ? 100 : 500, quick ? 400 : 2000 };
	double budget = quick ? 5 : 30;

	section("many-ranges: one-page ranges tracked one call each (per ww_track)", "");
	for (size_t k = 0; k < NBACKENDS; k++) {
		enum ww_backend b = all_backends[k];

		if (!backend_usable(b, "many-ranges"))
			continue;
		mr_row(b, apart, 0, budget);
		mr_row(b, adjacent, 1, budget);
		mr_row(b, trackers[0], 2, budget);
		mr_row(b, trackers[1], 2, budget);
	}
}

static void system_info(void)
{
	struct utsname u;
	char cpu[128] = "unknown", line[256], date[64], impl[24] = "", part[24] = "";
	time_t now = time(NULL);
	FILE *f = fopen("/proc/cpuinfo", "re");

	/* x86 names its CPU by "model name"; arm64 has only the implementer
	 * and part numbers. */
	while (f && fgets(line, sizeof(line), f)) {
		char *v = strchr(line, ':');

		if (!v)
			continue;
		v += v[1] == ' ' ? 2 : 1;
		v[strcspn(v, "\n")] = 0;
		if (!strncmp(line, "model name", 10)) {
			snprintf(cpu, sizeof(cpu), "%s", v);
			break;
		}
		if (!strncmp(line, "CPU implementer", 15) && !impl[0])
			snprintf(impl, sizeof(impl), "%s", v);
		if (!strncmp(line, "CPU part", 8) && !part[0])
			snprintf(part, sizeof(part), "%s", v);
	}
	if (f)
		fclose(f);
	uname(&u);
	if (!strcmp(cpu, "unknown") && impl[0])
		snprintf(cpu, sizeof(cpu), "%s implementer %s part %s", u.machine, impl, part);
	strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
	fprintf(human, "ww-bench: kernel %s, %s, %ld cpus, %s%s\n", u.release, cpu,
		sysconf(_SC_NPROCESSORS_ONLN), date, quick ? ", --quick" : "");
	if (jsonl) {
		fprintf(jsonl, "{\"benchmark\":\"system\",\"kernel\":");
		json_str(jsonl, u.release);
		fprintf(jsonl, ",\"cpu\":");
		json_str(jsonl, cpu);
		fprintf(jsonl, ",\"cpus\":%ld,\"date\":\"%s\",\"quick\":%s}\n",
			sysconf(_SC_NPROCESSORS_ONLN), date, quick ? "true" : "false");
	}
}

/* ---- discard check: collect over clean memory ------------------------- */

/*
 * mprotect and soft-dirty find discarded content in pagemap at each
 * collect: every page armed with content and not written since is looked
 * up (8 bytes of pagemap per page). Measured as a collect without reset over
 * a clean region, populated (every page armed: the whole check) against the
 * same size never touched (nothing armed: no check). The other backends
 * need no such check and are shown for comparison.
 */
static void bench_discard_check(void)
{
	static const size_t sizes_full[] = { 64 * MiB, 1 * GiB };
	static const size_t sizes_quick[] = { 64 * MiB };
	const size_t *sizes = quick ? sizes_quick : sizes_full;
	size_t nsizes = quick ? 1 : 2;
	int reps = quick ? 7 : 15;

	section("discard-check: ww_collect (no reset) over a clean region (per call)", "ratio");
	for (size_t bi = 0; bi < NBACKENDS; bi++) {
		enum ww_backend b = all_backends[bi];

		if (!backend_usable(b, "discard-check"))
			continue;
		for (size_t si = 0; si < nsizes; si++) {
			size_t len = sizes[si];
			double base = NAN;

			for (int populated = 0; populated < 2; populated++) {
				char *m = region_map(len, populated, false);
				struct ww_tracker *t = tracker_open(b);
				struct iovec iov[16];
				double v[MAXREP];
				struct row r =
					row_new("discard-check", ww_backend_name(b), "us/call");
				int err = ww_track(t, m, len);

				if (err)
					die("ww_track %s: %s", ww_backend_name(b), strerror(-err));
				for (int rep = 0; rep < reps + 1; rep++) {
					uint64_t t0 = now_ns();
					void *next = m;
					ssize_t n;

					while ((char *)next < m + len) {
						n = ww_collect(t, next,
							       len - (size_t)((char *)next - m), 0,
							       iov, 16, &next);
						if (n < 0)
							die("ww_collect: %s", strerror((int)-n));
					}
					if (rep)
						v[rep - 1] = (double)(now_ns() - t0) / 1e3;
				}
				r.st = stats_of(v, reps);
				snprintf(r.params, sizeof(r.params), "size_mib=%zu memory=%s",
					 (size_t)(len / MiB),
					 populated ? "populated" : "untouched");
				snprintf(r.note, sizeof(r.note), "%.2f ns/page",
					 r.st.med * 1e3 / (double)(len / ps));
				if (populated)
					row_ratio(&r, base, "untouched");
				else
					base = r.st.med;
				emit(&r);
				ww_close(t);
				munmap(m, len);
			}
		}
	}
}

static const struct {
	const char *name;
	void (*fn)(void);
} benches[] = {
	{ "first-write", bench_first_write },
	{ "first-write-remote", bench_first_write_remote },
	{ "collect", bench_collect },
	{ "reset", bench_reset },
	{ "discard-check", bench_discard_check },
	{ "sparse", bench_sparse },
	{ "threads", bench_threads },
	{ "alternatives", bench_alternatives },
	{ "rollback", bench_rollback },
	{ "cow-save", bench_cow_save },
	{ "cow-first-write", bench_cow_first_write },
	{ "cow-take", bench_cow_take },
	{ "many-ranges", bench_many_ranges },
};
#define NBENCH (sizeof(benches) / sizeof(benches[0]))

static void usage(FILE *f)
{
	fprintf(f, "usage: ww-bench [--quick] [--json[=FILE]] [--bench LIST] [--backend LIST]\n"
		   "  --quick         small regions, few repetitions (seconds, for development)\n"
		   "  --json          JSON Lines on stdout (the table goes to stderr)\n"
		   "  --json=FILE     JSON Lines into FILE (the table stays on stdout)\n"
		   "  --bench LIST    comma-separated, from: first-write first-write-remote\n"
		   "                  collect reset discard-check sparse threads alternatives\n"
		   "                  rollback cow-save cow-first-write cow-take many-ranges\n"
		   "                  (default: all)\n"
		   "  --backend LIST  comma-separated, from: bare-kernel pagemap-scan uffd-wp\n"
		   "                  soft-dirty mprotect (default: all)\n");
}

static bool in_list(const char *list, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = list; p && *p;) {
		const char *c = strchr(p, ',');
		size_t l = c ? (size_t)(c - p) : strlen(p);

		if (l == n && !strncmp(p, name, n))
			return true;
		p = c ? c + 1 : NULL;
	}
	return false;
}

int main(int argc, char **argv)
{
	const char *bench_list = NULL;

	ps = (size_t)sysconf(_SC_PAGESIZE);
	human = stdout;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "--quick")) {
			quick = true;
		} else if (!strcmp(a, "--json")) {
			jsonl = stdout;
			human = stderr;
		} else if (!strncmp(a, "--json=", 7)) {
			jsonl = fopen(a + 7, "we");
			if (!jsonl)
				die("%s: %s", a + 7, strerror(errno));
		} else if (!strcmp(a, "--bench") && i + 1 < argc) {
			bench_list = argv[++i];
		} else if (!strcmp(a, "--backend") && i + 1 < argc) {
			const char *l = argv[++i];

			for (const char *p = l; *p;) {
				const char *c = strchr(p, ',');
				size_t n = c ? (size_t)(c - p) : strlen(p);
				bool known = n == 11 && !strncmp(p, "bare-kernel", n);

				for (int b = 1; b < WW_BACKEND_COUNT; b++) {
					const char *name = ww_backend_name((enum ww_backend)b);

					known |= strlen(name) == n && !strncmp(p, name, n);
				}
				if (!known)
					die("unknown backend '%.*s'", (int)n, p);
				p = c ? c + 1 : p + n;
			}
			want_backends = in_list(l, "bare-kernel") ? 1u : 0;
			for (int b = 1; b < WW_BACKEND_COUNT; b++)
				if (in_list(l, ww_backend_name((enum ww_backend)b)))
					want_backends |= 1u << b;
		} else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(stdout);
			return 0;
		} else {
			usage(stderr);
			return 2;
		}
	}
	if (bench_list)
		for (const char *p = bench_list; *p;) {
			const char *c = strchr(p, ',');
			size_t l = c ? (size_t)(c - p) : strlen(p);
			bool ok = false;

			for (size_t k = 0; k < NBENCH; k++)
				ok |= strlen(benches[k].name) == l &&
				      !strncmp(p, benches[k].name, l);
			if (!ok)
				die("unknown benchmark '%.*s'", (int)l, p);
			p = c ? c + 1 : p + l;
		}
	system_info();
	for (size_t k = 0; k < NBENCH; k++)
		if (!bench_list || in_list(bench_list, benches[k].name)) {
			uint64_t t0 = now_ns();

			benches[k].fn();
			fprintf(human, "(%s took %.1f s)\n", benches[k].name,
				(double)(now_ns() - t0) / 1e9);
		}
	if (jsonl && jsonl != stdout)
		fclose(jsonl);
	return 0;
}
