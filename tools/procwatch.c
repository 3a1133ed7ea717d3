/* SPDX-License-Identifier: MIT */
/*
 * Tracking every writable mapping of a live process (see procwatch.h). A
 * mapping is identified by its start, end, offset, inode, protection and
 * sharing: any change makes it a new mapping, which is safe (its pages are
 * reported again) and never loses a write. Mappings the mechanism cannot
 * register ([vvar], device memory, a kind uffd-wp rejects) are remembered
 * as untracked and named in the debug log (WRITEWATCH_LOG=debug).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "procwatch.h"
#include "util.h"

#define PM_PRESENT (1ULL << 63)
#define PM_SWAP (1ULL << 62)
#define PM_FILE (1ULL << 61)
#define RUNS 512

static bool debug_on(void)
{
	const char *l = getenv("WRITEWATCH_LOG");

	return l && (!strcmp(l, "debug") || !strcmp(l, "4"));
}

#define dbg(...)                                                \
	do {                                                    \
		if (debug_on()) {                               \
			fprintf(stderr, "writewatch: debug: "); \
			fprintf(stderr, __VA_ARGS__);           \
			fputc('\n', stderr);                    \
		}                                               \
	} while (0)

static size_t pages_of(const struct procwatch *w, const struct pw_map *m)
{
	return (m->end - m->start) / w->ps;
}

static void mark(struct procwatch *w, struct pw_map *m, size_t page, size_t n, pw_run_fn fn,
		 void *ctx)
{
	for (size_t p = page; p < page + n; p++) {
		if (!(m->bits[p / 8] & (1u << (p % 8)))) {
			m->bits[p / 8] |= (uint8_t)(1u << (p % 8));
			m->ever++;
		}
	}
	m->written += n;
	if (fn)
		fn(m, page, n, ctx);
	(void)w;
}

/*
 * Pages of m that may hold writes, as a bitmap: present and not a page-cache
 * page (or in a shared mapping), or swapped out. Read once before arming and
 * once after (with with_swap false): after arming, untouched pages read as
 * "swapped" (uffd-wp PTE markers), and a page written between the two reads
 * is present in the second.
 */
static void candidates(struct procwatch *w, const struct pw_map *m, uint8_t *bits, bool with_swap)
{
	size_t n = pages_of(w, m), chunk = 4096;
	uint64_t *ent = malloc(chunk * sizeof(*ent));

	for (size_t at = 0; at < n; at += chunk) {
		size_t k = n - at < chunk ? n - at : chunk;
		off_t off = (off_t)((m->start / w->ps + at) * sizeof(*ent));
		bool all = !ent || pread(w->pagemap, ent, k * sizeof(*ent), off) !=
					   (ssize_t)(k * sizeof(*ent));

		for (size_t i = 0; i < k; i++) {
			/* cannot tell: count it, never miss a write */
			bool c = all || (with_swap && (ent[i] & PM_SWAP)) ||
				 ((ent[i] & PM_PRESENT) && (!(ent[i] & PM_FILE) || m->shared));

			if (c)
				bits[(at + i) / 8] |= (uint8_t)(1u << ((at + i) % 8));
		}
	}
	free(ent);
}

/* First sight: report the candidate pages as runs. */
static void report_first(struct procwatch *w, struct pw_map *m, const uint8_t *cand, pw_run_fn fn,
			 void *ctx)
{
	size_t n = pages_of(w, m), run = 0, runstart = 0;

	for (size_t p = 0; p < n; p++) {
		if (cand[p / 8] & (1u << (p % 8))) {
			if (!run)
				runstart = p;
			run++;
		} else if (run) {
			mark(w, m, runstart, run, fn, ctx);
			run = 0;
		}
	}
	if (run)
		mark(w, m, runstart, run, fn, ctx);
}

static bool trackable(const char *name, int prot)
{
	if (!(prot & PROT_WRITE))
		return false;
	/* kernel-provided special mappings: never registrable */
	return strcmp(name, "[vvar]") && strcmp(name, "[vsyscall]") &&
	       strcmp(name, "[vvar_vclock]");
}

struct scan {
	struct procwatch *w;
	struct pw_map *fresh; /* new list being built */
	size_t n, cap;
	int err;
};

struct pw_map *pw_find(struct procwatch *w, uintptr_t start)
{
	size_t lo = 0, hi = w->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (w->maps[mid].start < start)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < w->n && w->maps[lo].start == start ? &w->maps[lo] : NULL;
}

/* A search per maps line made each scan quadratic in the mappings. */
static struct pw_map *find_same(struct procwatch *w, uintptr_t s, uintptr_t e,
				unsigned long long off, unsigned long long ino, int prot,
				bool shared)
{
	struct pw_map *m = pw_find(w, s);

	if (m && m->end == e && m->offset == off && m->inode == ino && m->prot == prot &&
	    m->shared == shared && !m->alive)
		return m;
	return NULL;
}

/* Parse /proc/PID/maps into the new list, carrying over known mappings. */
static int scan_maps(struct scan *sc)
{
	struct procwatch *w = sc->w;
	char path[64], *line = NULL;
	size_t cap = 0;
	FILE *f;

	/* Through a given thread when the caller knows the leader may be
	 * gone: a zombie leader's maps are empty while its threads run on. */
	if (w->maps_tid)
		snprintf(path, sizeof(path), "/proc/%d/task/%d/maps", (int)w->pid,
			 (int)w->maps_tid);
	else
		snprintf(path, sizeof(path), "/proc/%d/maps", (int)w->pid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (getline(&line, &cap, f) > 0) {
		unsigned long s, e;
		unsigned long long off, ino;
		unsigned int dmaj, dmin;
		char perms[8] = "", *name, *nl;
		int at = 0, prot;
		struct pw_map *old, nm = { 0 };

		if (sscanf(line, "%lx-%lx %7s %llx %x:%x %llu %n", &s, &e, perms, &off, &dmaj,
			   &dmin, &ino, &at) < 7)
			continue;
		name = line + at;
		nl = strchr(name, '\n');
		if (nl)
			*nl = '\0';
		prot = (perms[0] == 'r' ? PROT_READ : 0) | (perms[1] == 'w' ? PROT_WRITE : 0) |
		       (perms[2] == 'x' ? PROT_EXEC : 0);
		if (!trackable(name, prot))
			continue;
		old = find_same(w, s, e, off, ino, prot, perms[3] == 's');
		if (old) {
			old->alive = true;
			nm = *old;
			old->bits = NULL; /* moved to the new list */
			old->name = NULL;
		} else {
			nm.start = s;
			nm.end = e;
			nm.offset = off;
			nm.inode = ino;
			nm.prot = prot;
			nm.shared = perms[3] == 's';
			nm.name = strdup(name);
			nm.id = -1; /* registered below */
		}
		if (sc->n == sc->cap) {
			size_t c = sc->cap ? sc->cap * 2 : 64;
			struct pw_map *p = realloc(sc->fresh, c * sizeof(*p));

			if (!p) {
				free(nm.name);
				free(nm.bits);
				sc->err = -ENOMEM;
				break;
			}
			sc->fresh = p;
			sc->cap = c;
		}
		sc->fresh[sc->n++] = nm;
	}
	free(line);
	fclose(f);
	return sc->err;
}

static void forget(struct procwatch *w, struct pw_map *m)
{
	w->ws_forgotten += m->ever;
	if (m->written) {
		/* its writes of this interval count: keep it to report them */
		if (w->ngone == w->capgone) {
			size_t c = w->capgone ? w->capgone * 2 : 16;
			struct pw_gone *p = realloc(w->gone, c * sizeof(*p));

			if (p) {
				w->gone = p;
				w->capgone = c;
			}
		}
		if (w->ngone < w->capgone) {
			w->gone[w->ngone++] =
				(struct pw_gone){ m->start, m->end, m->name, m->written };
			m->name = NULL;
		}
	}
	if (m->tracked) {
		int err = ww_untrack(w->t, (void *)m->start, m->end - m->start);

		dbg("forget %#" PRIxPTR "-%#" PRIxPTR " %s (untrack: %d)", m->start, m->end,
		    m->name ? m->name : "", err);
	}
	free(m->name);
	free(m->bits);
	m->name = NULL;
	m->bits = NULL;
}

static bool excluded(const struct pw_exclude *ex, const struct pw_map *m)
{
	if (!ex)
		return false;
	for (size_t i = 0; i < ex->nranges; i++)
		if (m->start < ex->hi[i] && ex->lo[i] < m->end)
			return true;
	for (size_t i = 0; i < ex->nnames; i++)
		if (m->name && fnmatch(ex->names[i], m->name, 0) == 0)
			return true;
	return false;
}

/* Follow the maps: keep the same, forget the gone, register the new. */
static int follow(struct procwatch *w, pw_run_fn fn, void *ctx)
{
	struct scan sc = { .w = w };
	int err;

	for (size_t i = 0; i < w->n; i++)
		w->maps[i].alive = false;
	err = scan_maps(&sc);
	if (err) {
		/* hand carried-over state back to the old list, drop the rest */
		for (size_t i = 0; i < sc.n; i++) {
			struct pw_map *f = &sc.fresh[i];

			if (f->id < 0) {
				free(f->name);
				continue;
			}
			for (size_t j = 0; j < w->n; j++) {
				if (w->maps[j].id == f->id) {
					w->maps[j].name = f->name;
					w->maps[j].bits = f->bits;
				}
			}
		}
		free(sc.fresh);
		return err == -ENOENT ? -ESRCH : err;
	}
	for (size_t i = 0; i < w->n; i++)
		if (!w->maps[i].alive)
			forget(w, &w->maps[i]);
	free(w->maps);
	w->maps = sc.fresh;
	w->n = sc.n;
	w->cap = sc.cap;
	for (size_t i = 0; i < w->n; i++) {
		struct pw_map *m = &w->maps[i];
		uint8_t *cand;

		if (m->id >= 0)
			continue;
		m->id = w->next_id++;
		m->alive = true;
		if (excluded(w->ex, m)) {
			m->tracked = false;
			m->excluded = true;
			w->excluded++;
			dbg("excluded: %#" PRIxPTR "-%#" PRIxPTR " %s", m->start, m->end, m->name);
			continue;
		}
		if (w->max_bytes && m->end - m->start > w->max_bytes) {
			/* A huge reservation (a sanitizer's shadow, a runtime's
			 * heap arena): registering, arming and scanning it each
			 * interval costs time in proportion to its size. Say
			 * so: its writes are not reported. */
			m->tracked = false;
			m->too_big = true;
			w->skipped++;
			/* the name is the process's: escaped */
			fprintf(stderr, "writewatch: not watching %#" PRIxPTR "-%#" PRIxPTR " ",
				m->start, m->end);
			text_str(stderr, m->name);
			fprintf(stderr, " (%zu MiB, over the --max-mapping limit): %s\n",
				(m->end - m->start) >> 20,
				w->too_big_fate ? w->too_big_fate : "its writes are not reported");
			continue;
		}
		m->bits = calloc(pages_of(w, m) / 8 + 1, 1);
		cand = calloc(pages_of(w, m) / 8 + 1, 1);
		if (cand)
			candidates(w, m, cand, true);
		err = ww_track(w->t, (void *)m->start, m->end - m->start);
		if (!err && (!m->bits || !cand)) {
			ww_untrack(w->t, (void *)m->start, m->end - m->start);
			err = -ENOMEM;
		}
		m->tracked = err == 0;
		if (!m->tracked) {
			dbg("not tracked: %#" PRIxPTR "-%#" PRIxPTR " %s: %s", m->start, m->end,
			    m->name, strerror(-err));
			/* At a process's exit (maps read through a thread, the
			 * leader gone) registration can fail: its pages still
			 * count, this is the last look. */
			if (w->maps_tid && cand && m->bits)
				report_first(w, m, cand, fn, ctx);
			free(cand);
			if (err == -ESRCH)
				return -ESRCH;
			continue;
		}
		dbg("new mapping %#" PRIxPTR "-%#" PRIxPTR " %s", m->start, m->end, m->name);
		candidates(w, m, cand, false);
		report_first(w, m, cand, fn, ctx);
		free(cand);
	}
	return 0;
}

int pw_open(struct procwatch *w, pid_t pid, enum ww_backend b, unsigned int caps, char *why,
	    size_t whylen)
{
	struct ww_opts o = { .sz = sizeof(o), .backend = b, .pid = pid, .caps = caps };
	char path[64];
	int err;

	memset(w, 0, sizeof(*w));
	w->pid = pid;
	w->ps = (size_t)sysconf(_SC_PAGESIZE);
	w->maxruns = RUNS;
	w->runs = malloc(RUNS * sizeof(*w->runs));
	if (!w->runs)
		return -ENOMEM;
	err = ww_open_why(&o, &w->t, why, whylen);
	if (err) {
		free(w->runs);
		return err;
	}
	snprintf(path, sizeof(path), "/proc/%d/pagemap", (int)pid);
	w->pagemap = open(path, O_RDONLY | O_CLOEXEC);
	if (w->pagemap < 0) {
		err = -errno;
		ww_close(w->t);
		free(w->runs);
		return err;
	}
	return 0;
}

/* Collect one mapping completely; a mapping that fails is dropped (it
 * changed under us) and comes back as new from the maps if it still exists. */
static int collect_map(struct procwatch *w, struct pw_map *m, pw_run_fn fn, void *ctx)
{
	char *pos = (char *)m->start, *end = (char *)m->end;

	while (pos < end) {
		void *next = end;
		ssize_t n = ww_collect(w->t, pos, (size_t)(end - pos), WW_RESET, w->runs,
				       w->maxruns, &next);

		if (n < 0)
			return (int)n;
		for (ssize_t i = 0; i < n; i++) {
			uintptr_t s = (uintptr_t)w->runs[i].iov_base;

			mark(w, m, (s - m->start) / w->ps, w->runs[i].iov_len / w->ps, fn, ctx);
		}
		if ((char *)next <= pos)
			return -EIO;
		pos = next;
	}
	return 0;
}

void pw_clear_written(struct procwatch *w)
{
	for (size_t i = 0; i < w->ngone; i++)
		free(w->gone[i].name);
	w->ngone = 0;
	for (size_t i = 0; i < w->n; i++)
		w->maps[i].written = 0;
}

int pw_step(struct procwatch *w, pw_run_fn fn, void *ctx)
{
	for (size_t i = 0; i < w->n; i++) {
		struct pw_map *m = &w->maps[i];
		int err;

		if (!m->tracked)
			continue;
		err = collect_map(w, m, fn, ctx);
		if (err == -ESRCH)
			return err;
		if (err) {
			dbg("collect %#" PRIxPTR "-%#" PRIxPTR " %s: %s: mapping changed", m->start,
			    m->end, m->name, strerror(-err));
			/* Same identity but no longer ours (replaced in place):
			 * drop it so the maps scan registers it as new. */
			ww_untrack(w->t, (void *)m->start, m->end - m->start);
			m->tracked = false;
			m->inode = ~0ULL; /* never matches again */
		}
	}
	return follow(w, fn, ctx);
}

void pw_close(struct procwatch *w)
{
	for (size_t i = 0; i < w->n; i++) {
		w->ws_forgotten += w->maps[i].ever;
		free(w->maps[i].name);
		free(w->maps[i].bits);
	}
	w->n = 0;
	free(w->maps);
	pw_clear_written(w);
	free(w->gone);
	w->gone = NULL;
	w->capgone = 0;
	ww_close(w->t); /* untracks every range, closes our uffd */
	close(w->pagemap);
	free(w->runs);
	w->maps = NULL;
	w->runs = NULL;
	w->n = 0;
	w->t = NULL;
	w->pagemap = -1;
}
