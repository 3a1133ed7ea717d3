/* SPDX-License-Identifier: MIT */
/*
 * `writewatch dump PID -o FILE`: a core file of a live process, taken with a
 * freeze of milliseconds. Pre-copy: every writable private mapping is
 * tracked (pagemap-scan, through procwatch.c) and copied into the core file
 * while the process runs; then rounds collect-with-reset and copy only what
 * was written, until the estimated remainder fits --max-freeze (or the round
 * limit). Then every thread is stopped (freeze.c), the last written pages
 * and whatever could not be pre-copied (read-only, shared, untrackable or
 * new mappings) are copied, the registers read, and the threads released.
 * The file is written in place (elfcore.c): each mapping's bytes at a fixed
 * offset, holes for pages never populated; notes and headers last.
 * Where nothing tracks another process atomically but a mechanism misses
 * no write while the process is stopped (soft-dirty: reading the bits and
 * clearing them are two steps), each round stops the process for its
 * collect-with-reset only and copies after the release ("stopped rounds",
 * CRIU's pre-dump scheme). Where neither works it does one stop-and-copy,
 * like gcore, and says so.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "elfcore.h"
#include "freeze.h"
#include "procwatch.h"
#include "util.h"
#include "writewatch.h"

#define PM_PRESENT (1ULL << 63)
#define PM_SWAP (1ULL << 62)
#define CHUNK (1u << 20)
#define BATCH 512
/* what a pre-copy round needs of the tracker (another process is implied) */
#define PRECOPY_CAPS (WW_CAP_NO_MISSED_WRITES | WW_CAP_ATOMIC_RESET | WW_CAP_RANGE_RESET)
/* what a stopped round needs: every change to a page leaves a mark that a
 * collect finds, so long as nothing runs between its read and its reset */
#define STOPPED_CAPS (WW_CAP_REMOTE | WW_CAP_KERNEL_WRITES | WW_CAP_DISCARDS)

/* coredump_filter bits (core(5)) */
#define CF_ANON_PRIVATE 0x01
#define CF_ANON_SHARED 0x02
#define CF_FILE_PRIVATE 0x04
#define CF_FILE_SHARED 0x08
#define CF_ELF_HEADERS 0x10
#define CF_HUGETLB_PRIVATE 0x20
#define CF_HUGETLB_SHARED 0x40

enum policy { P_SKIP, P_NONE, P_FIRST, P_POPULATED, P_FULL };

struct vma {
	uintptr_t start, end;
	unsigned long long offset, inode;
	int prot;
	bool shared;
	char *name;
	unsigned long anon_kb; /* smaps Anonymous: */
	bool dd, io, ht; /* VmFlags: dontdump, I/O, hugetlb */
	bool have_smaps;
};

struct vmas {
	struct vma *v;
	size_t n;
};

/* A pre-copied mapping's place in the file, indexed by procwatch id. */
struct region {
	bool set;
	uintptr_t start, end;
	unsigned long long off;
	bool used; /* referenced by a segment of the final core */
};

struct dump {
	pid_t pid;
	int fd; /* the core file */
	int pagemap;
	size_t ps;
	unsigned long long next_off;
	struct region *reg;
	size_t nreg;
	unsigned char *buf;
	unsigned long long copied; /* bytes copied in the current phase */
	struct iovec pend[BATCH]; /* written runs waiting for one gathered read */
	unsigned long long pend_off[BATCH];
	size_t npend, pend_bytes;
	int err; /* first write error */
	bool json, progress;
	/* Stopped rounds: copies asked for while the process is stopped wait
	 * here until it runs again. */
	bool defer;
	struct deferred {
		uintptr_t addr;
		size_t len;
		unsigned long long off;
	} * dv;
	size_t dn, dcap;
};

static int pwrite_all(int fd, const void *d, size_t n, unsigned long long off)
{
	const unsigned char *p = d;

	while (n) {
		ssize_t w = pwrite(fd, p, n, (off_t)off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? -errno : -EIO;
		p += w;
		n -= (size_t)w;
		off += (unsigned long long)w;
	}
	return 0;
}

/* Zero [off, off+len) of the file: a hole where the filesystem can. */
static int zero_range(struct dump *d, unsigned long long off, size_t len)
{
	if (!len)
		return 0;
	if (fallocate(d->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len) ==
	    0)
		return 0;
	memset(d->buf, 0, CHUNK);
	while (len) {
		size_t k = len < CHUNK ? len : CHUNK;
		int err = pwrite_all(d->fd, d->buf, k, off);

		if (err)
			return err;
		off += k;
		len -= k;
	}
	return 0;
}

/*
 * Copy [addr, addr+len) of the target to the file at off. Pages that cannot
 * be read (beyond the end of a mapped file, a guard page) read as zero.
 */
static int copy_range(struct dump *d, uintptr_t addr, size_t len, unsigned long long off)
{
	while (len) {
		size_t k = len < CHUNK ? len : CHUNK, got = 0;
		struct iovec l = { d->buf, k }, r = { (void *)addr, k };
		ssize_t n = process_vm_readv(d->pid, &l, 1, &r, 1, 0);
		int err;

		if (n < 0 && errno == ESRCH)
			return -ESRCH;
		if (n == (ssize_t)k) {
			got = k;
		} else {
			/* some page failed: page by page, zeros for the bad ones */
			for (size_t at = 0; at < k; at += d->ps) {
				struct iovec l1 = { d->buf + at, d->ps },
					     r1 = { (void *)(addr + at), d->ps };

				if (process_vm_readv(d->pid, &l1, 1, &r1, 1, 0) != (ssize_t)d->ps)
					memset(d->buf + at, 0, d->ps);
			}
			got = k;
		}
		err = pwrite_all(d->fd, d->buf, got, off);
		if (err)
			return err;
		d->copied += got;
		addr += k;
		off += k;
		len -= k;
	}
	return 0;
}

/*
 * Copy the populated pages (present or swapped) of [addr, addr+len), and
 * zero the rest in the file: anonymous memory never populated reads as
 * zero, and reading it through process_vm_readv would populate it.
 */
static int copy_populated(struct dump *d, uintptr_t addr, size_t len, unsigned long long off)
{
	size_t n = len / d->ps, chunk = 4096;
	uint64_t ent[4096];

	for (size_t at = 0; at < n; at += chunk) {
		size_t k = n - at < chunk ? n - at : chunk;
		off_t po = (off_t)((addr / d->ps + at) * sizeof(uint64_t));
		ssize_t r = pread(d->pagemap, ent, k * sizeof(uint64_t), po);
		size_t i = 0;

		if (r != (ssize_t)(k * sizeof(uint64_t))) {
			/* cannot tell: copy everything */
			int err = copy_range(d, addr + at * d->ps, k * d->ps, off + at * d->ps);

			if (err)
				return err;
			continue;
		}
		while (i < k) {
			bool pop = ent[i] & (PM_PRESENT | PM_SWAP);
			size_t j = i;
			int err;

			while (j < k && (bool)(ent[j] & (PM_PRESENT | PM_SWAP)) == pop)
				j++;
			if (pop)
				err = copy_range(d, addr + (at + i) * d->ps, (j - i) * d->ps,
						 off + (at + i) * d->ps);
			else
				err = zero_range(d, off + (at + i) * d->ps, (j - i) * d->ps);
			if (err)
				return err;
			i = j;
		}
	}
	return 0;
}

/*
 * Written runs are copied in batches: one process_vm_readv gathers up to
 * BATCH runs into the buffer, then each goes to its place in the file. A
 * batch that cannot be read whole is copied run by run.
 */
static int flush(struct dump *d)
{
	size_t total = d->pend_bytes, n = d->npend, at = 0;
	struct iovec local = { d->buf, total };
	ssize_t got;
	int err = 0;

	d->npend = 0;
	d->pend_bytes = 0;
	if (!n)
		return 0;
	got = process_vm_readv(d->pid, &local, 1, d->pend, n, 0);
	if (got < 0 && errno == ESRCH)
		return -ESRCH;
	for (size_t i = 0; i < n && !err; i++) {
		if (got == (ssize_t)total) {
			err = pwrite_all(d->fd, d->buf + at, d->pend[i].iov_len, d->pend_off[i]);
			d->copied += d->pend[i].iov_len;
		} else {
			err = copy_range(d, (uintptr_t)d->pend[i].iov_base, d->pend[i].iov_len,
					 d->pend_off[i]);
		}
		at += d->pend[i].iov_len;
	}
	return err;
}

static int defer_add(struct dump *d, uintptr_t addr, size_t len, unsigned long long off)
{
	if (d->dn && d->dv[d->dn - 1].addr + d->dv[d->dn - 1].len == addr &&
	    d->dv[d->dn - 1].off + d->dv[d->dn - 1].len == off) {
		d->dv[d->dn - 1].len += len;
		return 0;
	}
	if (d->dn == d->dcap) {
		size_t c = d->dcap ? d->dcap * 2 : 256;
		struct deferred *p = realloc(d->dv, c * sizeof(*p));

		if (!p)
			return -ENOMEM;
		d->dv = p;
		d->dcap = c;
	}
	d->dv[d->dn++] = (struct deferred){ addr, len, off };
	return 0;
}

/* Copy a written run, batched with others when small. */
static int queue(struct dump *d, uintptr_t addr, size_t len, unsigned long long off)
{
	int err = 0;

	if (d->defer)
		return defer_add(d, addr, len, off);
	if (len > CHUNK / 4) {
		err = flush(d);
		return err ? err : copy_range(d, addr, len, off);
	}
	if (d->npend == BATCH || d->pend_bytes + len > CHUNK)
		err = flush(d);
	d->pend[d->npend] = (struct iovec){ (void *)addr, len };
	d->pend_off[d->npend++] = off;
	d->pend_bytes += len;
	return err;
}

/* ---- mappings ---- */

static void vmas_free(struct vmas *vs)
{
	for (size_t i = 0; i < vs->n; i++)
		free(vs->v[i].name);
	free(vs->v);
	vs->v = NULL;
	vs->n = 0;
}

/* /proc/PID/maps, or smaps for the fields the filter needs. Names are the
 * target's to choose: kept as opaque bytes up to the end of the line. */
static int vmas_read(pid_t pid, bool smaps, struct vmas *vs)
{
	char path[64], *line = NULL;
	size_t cap = 0, vcap = 0;
	FILE *f;

	memset(vs, 0, sizeof(*vs));
	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, smaps ? "smaps" : "maps");
	f = fopen(path, "re");
	if (!f)
		return errno == ENOENT ? -ESRCH : -errno;
	while (getline(&line, &cap, f) > 0) {
		unsigned long s, e;
		unsigned long long off, ino;
		unsigned int dmaj, dmin;
		char perms[8] = "", *nl;
		int at = 0;
		struct vma *v;

		if (vs->n && smaps) {
			v = &vs->v[vs->n - 1];
			if (!strncmp(line, "Anonymous:", 10)) {
				v->anon_kb = strtoul(line + 10, NULL, 10);
				continue;
			}
			if (!strncmp(line, "VmFlags:", 8)) {
				v->dd = strstr(line, " dd") != NULL;
				v->io = strstr(line, " io") != NULL;
				v->ht = strstr(line, " ht") != NULL;
				continue;
			}
		}
		if (sscanf(line, "%lx-%lx %7s %llx %x:%x %llu %n", &s, &e, perms, &off, &dmaj,
			   &dmin, &ino, &at) < 7 ||
		    !at || strlen(perms) != 4)
			continue;
		if (vs->n == vcap) {
			size_t c = vcap ? vcap * 2 : 64;
			struct vma *p = realloc(vs->v, c * sizeof(*p));

			if (!p)
				goto oom;
			vs->v = p;
			vcap = c;
		}
		nl = strchr(line + at, '\n');
		if (nl)
			*nl = '\0';
		v = &vs->v[vs->n];
		memset(v, 0, sizeof(*v));
		v->start = s;
		v->end = e;
		v->offset = off;
		v->inode = ino;
		v->prot = (perms[0] == 'r' ? PROT_READ : 0) | (perms[1] == 'w' ? PROT_WRITE : 0) |
			  (perms[2] == 'x' ? PROT_EXEC : 0);
		v->shared = perms[3] == 's';
		v->have_smaps = smaps;
		v->name = strdup(line + at);
		if (!v->name)
			goto oom;
		vs->n++;
	}
	free(line);
	fclose(f);
	return 0;
oom:
	free(line);
	fclose(f);
	vmas_free(vs);
	return -ENOMEM;
}

static bool anon_name(const struct vma *v)
{
	/* gdb's rule (linux-tdep.c): these names are anonymous memory */
	return !v->name[0] || !strcmp(v->name, "[heap]") || !strncmp(v->name, "[stack", 6) ||
	       !strncmp(v->name, "[anon:", 6) || !strncmp(v->name, "[anon_shmem:", 12) ||
	       !strcmp(v->name, "/dev/zero (deleted)") || !strncmp(v->name, "/SYSV", 5);
}

/* A shared mapping of a file nothing links to any more, a memfd among them
 * ("/memfd:NAME (deleted)"): the kernel dumps it as anonymous shared
 * memory (vma_dump_size: i_nlink 0), and gdb takes the name so. Not for a
 * private mapping: its pages never written read from the file, which a
 * core of only its populated pages would lose. */
static bool deleted_name(const struct vma *v)
{
	static const char deleted[] = " (deleted)";
	size_t n = strlen(v->name), dn = sizeof(deleted) - 1;

	return n > dn && !strcmp(v->name + n - dn, deleted);
}

/* What goes into the core for v, after gdb's gcore (linux-tdep.c,
 * dump_mapping_p) and the kernel (vma_dump_size). */
static enum policy policy_of(pid_t pid, const struct vma *v, unsigned int filter)
{
	bool anon = anon_name(v), dump;

	if (!v->prot || !strcmp(v->name, "[vvar]") || !strcmp(v->name, "[vvar_vclock]") ||
	    !strcmp(v->name, "[vsyscall]"))
		return P_SKIP; /* gdb writes nothing for these */
	if (!strcmp(v->name, "[vdso]"))
		return P_FULL;
	if (v->dd || v->io)
		return P_NONE;
	if (v->ht) {
		dump = filter & (v->shared ? CF_HUGETLB_SHARED : CF_HUGETLB_PRIVATE);
		return dump ? P_POPULATED : P_NONE;
	}
	if (v->shared) {
		dump = filter &
		       ((anon || !v->inode || deleted_name(v)) ? CF_ANON_SHARED : CF_FILE_SHARED);
		if (dump)
			return P_FULL;
	} else if (anon) {
		if (filter & CF_ANON_PRIVATE)
			return P_POPULATED;
	} else {
		/* a private file mapping with written (anonymous) pages */
		bool written = v->have_smaps ? v->anon_kb > 0 : (v->prot & PROT_WRITE) != 0;

		if (written ? (filter & (CF_ANON_PRIVATE | CF_FILE_PRIVATE)) :
			      (filter & CF_FILE_PRIVATE))
			return P_FULL;
	}
	if (filter & CF_ELF_HEADERS && v->offset == 0 && !anon) {
		unsigned char magic[4];
		struct iovec l = { magic, 4 }, r = { (void *)v->start, 4 };

		if (process_vm_readv(pid, &l, 1, &r, 1, 0) == 4 && !memcmp(magic, "\177ELF", 4))
			return P_FIRST;
	}
	return P_NONE;
}

/* ---- pre-copy ---- */

static struct region *region_of(struct dump *d, const struct pw_map *m)
{
	if ((size_t)m->id >= d->nreg) {
		size_t c = d->nreg ? d->nreg : 64;
		struct region *p;

		while (c <= (size_t)m->id)
			c *= 2;
		p = realloc(d->reg, c * sizeof(*p));
		if (!p)
			return NULL;
		memset(p + d->nreg, 0, (c - d->nreg) * sizeof(*p));
		d->reg = p;
		d->nreg = c;
	}
	if (!d->reg[m->id].set) {
		struct region *r = &d->reg[m->id];

		r->set = true;
		r->start = m->start;
		r->end = m->end;
		r->off = d->next_off;
		d->next_off += m->end - m->start;
	}
	return &d->reg[m->id];
}

/*
 * A mapping seen for the first time gets its place in the file; a private
 * file mapping is then copied whole (its pages never written are the
 * file's, which first sight does not report); an anonymous one is complete
 * with what first sight reports. Returns NULL and sets d->err on failure.
 */
static struct region *first_sight(struct dump *d, const struct pw_map *m, bool *whole)
{
	bool fresh = (size_t)m->id >= d->nreg || !d->reg[m->id].set;
	struct region *r = region_of(d, m);

	*whole = false;
	if (!r) {
		d->err = -ENOMEM;
		return NULL;
	}
	if (fresh && m->inode) {
		int err = d->defer ? defer_add(d, m->start, m->end - m->start, r->off) :
				     copy_range(d, m->start, m->end - m->start, r->off);

		if (err && err != -ESRCH)
			d->err = err;
		*whole = true;
	}
	return r;
}

/* procwatch callback: pages of m were written (or are there at first
 * sight); their bytes go to the mapping's place in the file. */
static void on_run(const struct pw_map *m, size_t page, size_t pages, void *ctx)
{
	struct dump *d = ctx;
	struct region *r;
	bool whole;
	int err;

	if (d->err || m->shared)
		return; /* shared mappings are copied in the freeze */
	r = first_sight(d, m, &whole);
	if (!r || whole)
		return;
	/* First sight reports populated pages only, later rounds written
	 * ones: no hole is read (a page discarded since reads as zero). */
	err = queue(d, m->start + page * d->ps, pages * d->ps, r->off + page * d->ps);
	if (err && err != -ESRCH)
		d->err = err;
}

/* Mappings tracked since the last step with nothing reported yet. */
static void new_regions(struct dump *d, struct procwatch *w)
{
	for (size_t i = 0; i < w->n && !d->err; i++) {
		struct pw_map *m = &w->maps[i];
		bool whole;

		if (m->tracked && !m->shared)
			first_sight(d, m, &whole);
	}
}

/* A pre-copied region holding v's bytes: the mapping procwatch still
 * tracks with exactly v's identity. */
static struct region *precopied(struct dump *d, struct procwatch *w, const struct vma *v)
{
	struct pw_map *m = w ? pw_find(w, v->start) : NULL;

	if (m && m->end == v->end && m->tracked && !m->shared && m->inode == v->inode &&
	    m->offset == v->offset && m->prot == v->prot && (size_t)m->id < d->nreg &&
	    d->reg[m->id].set)
		return &d->reg[m->id];
	return NULL;
}

/* ---- process facts for the notes ---- */

static void *read_file(const char *path, size_t *len)
{
	size_t cap = 4096, n = 0;
	char *p = malloc(cap);
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	*len = 0;
	if (fd < 0 || !p) {
		if (fd >= 0)
			close(fd);
		free(p);
		return NULL;
	}
	for (;;) {
		ssize_t r;

		if (n == cap) {
			char *q = cap < (1u << 24) ? realloc(p, cap * 2) : NULL;

			if (!q)
				break;
			p = q;
			cap *= 2;
		}
		r = read(fd, p + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	*len = n;
	return p;
}

static void proc_facts(pid_t pid, struct ec_proc *p, void **auxv)
{
	char path[64], *s, *e;
	size_t len;

	memset(p, 0, sizeof(*p));
	p->pid = pid;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	s = read_file(path, &len);
	if (s && len) {
		char *lp = memchr(s, '(', len);

		s[len - 1] = '\0';
		e = strrchr(s, ')'); /* the name may hold ')' and spaces */
		if (lp && e && e > lp) {
			long v[17] = { 0 };
			size_t nl = (size_t)(e - lp - 1);

			memcpy(p->fname, lp + 1, nl < 15 ? nl : 15);
			p->state = e[2];
			sscanf(e + 3,
			       "%ld %ld %ld %*d %*d %lu %*u %*u %*u %*u %*u %*u %*d %*d %*d %d",
			       &v[0], &v[1], &v[2], &p->flags, &p->nice);
			p->ppid = (pid_t)v[0];
			p->pgrp = (pid_t)v[1];
			p->sid = (pid_t)v[2];
		}
	}
	free(s);
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	s = read_file(path, &len);
	if (s && len) {
		char *u;

		s[len - 1] = '\0';
		u = strstr(s, "\nUid:");
		if (u)
			p->uid = (unsigned int)strtoul(u + 5, NULL, 10);
		u = strstr(s, "\nGid:");
		if (u)
			p->gid = (unsigned int)strtoul(u + 5, NULL, 10);
	}
	free(s);
	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	s = read_file(path, &len);
	if (s) {
		size_t k = len < sizeof(p->psargs) - 1 ? len : sizeof(p->psargs) - 1;

		for (size_t i = 0; i < k; i++)
			p->psargs[i] = s[i] ? s[i] : ' ';
		while (k && p->psargs[k - 1] == ' ')
			p->psargs[--k] = '\0';
	}
	free(s);
	snprintf(path, sizeof(path), "/proc/%d/auxv", (int)pid);
	*auxv = read_file(path, &p->auxv_len);
	p->auxv = *auxv;
}

static unsigned int coredump_filter(pid_t pid)
{
	char path[64];
	unsigned int f = 0x33;
	FILE *fp;

	snprintf(path, sizeof(path), "/proc/%d/coredump_filter", (int)pid);
	fp = fopen(path, "re");
	if (fp) {
		if (fscanf(fp, "%x", &f) != 1)
			f = 0x33;
		fclose(fp);
	}
	return f;
}

/* ---- the command ---- */

/* WW_DUMP_TIMING=1: where the freeze goes, on stderr. */
static void phase_time(const char *what, double since)
{
	if (getenv("WW_DUMP_TIMING"))
		fprintf(stderr, "writewatch dump: %s: %.3f ms\n", what, (now_s() - since) * 1000);
}

/* Testing aid: WW_DUMP_TEST_STOP=precopy|round|freeze|write stops writewatch
 * (SIGSTOP) at that point, so a test can kill it there. */
static void test_stop(const char *phase)
{
	const char *s = getenv("WW_DUMP_TEST_STOP");

	if (s && !strcmp(s, phase)) {
		fprintf(stderr, "writewatch dump: WW_DUMP_TEST_STOP: stopping at %s\n", phase);
		raise(SIGSTOP);
	}
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: writewatch dump [OPTIONS] PID -o FILE\n"
		"  Write an ELF core file of running process PID (gdb reads it like gcore's),\n"
		"  copying its memory while it runs and stopping it only for the last pages.\n"
		"  -o, --output FILE    the core file to write (created mode 0600)\n"
		"  --max-freeze MS      pre-copy until the estimated freeze is at most MS\n"
		"                       milliseconds (default 20)\n"
		"  --rounds N           at most N pre-copy rounds after the first (default 20)\n"
		"  --freeze-limit MS    release the process after MS milliseconds stopped\n"
		"                       whatever happens, failing the dump (default 60000)\n"
		"  --no-precopy         one stop-and-copy, like gcore\n"
		"  -b, --backend NAME   mechanism for the pre-copy (default auto: one that\n"
		"                       tracks the process atomically, else one that needs it\n"
		"                       stopped for each round's collect)\n"
		"  --filter HEX         coredump_filter bits to apply instead of the process's\n"
		"  --max-mapping SIZE   do not pre-copy larger mappings (K, M, G, T suffixes;\n"
		"                       default: the size of RAM); they are copied in the freeze\n"
		"  --json               rounds and a summary as one JSON object on stdout\n"
		"  -q, --quiet          no progress line\n");
}

struct round {
	double start, secs;
	unsigned long long bytes;
	double dirty_rate; /* bytes/s written since the round before's collect */
	double stopped; /* seconds the process was stopped (stopped rounds) */
};

static bool parse_num(const char *s, long lo, long hi, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 0);
	if (errno || end == s || *end || v < lo || v > hi)
		return false;
	*out = v;
	return true;
}

/* --filter: hexadecimal, as /proc/PID/coredump_filter (0x optional). */
static bool parse_hex(const char *s, long hi, long *out)
{
	char *end;
	unsigned long v;

	if (!isxdigit((unsigned char)s[0]) && strncmp(s, "0x", 2) && strncmp(s, "0X", 2))
		return false;
	errno = 0;
	v = strtoul(s, &end, 16);
	if (errno || end == s || *end || v > (unsigned long)hi)
		return false;
	*out = (long)v;
	return true;
}

/*
 * The core is written into a new file beside FILE (mode 0600: it holds the
 * process's memory) and renamed over FILE only once complete: a dump that
 * fails leaves FILE as it was, and an existing FILE's mode or a symbolic
 * link there never decides who can read the core. FILE must be a regular
 * file or not exist: a device or FIFO is refused, never written or removed.
 */
static int out_open(const char *out, char **tmp)
{
	struct stat st;
	const char *slash = strrchr(out, '/');
	int dirlen = slash ? (int)(slash - out + 1) : 0, fd;

	*tmp = NULL;
	if (lstat(out, &st))
		st.st_mode = 0; /* none yet */
	if (st.st_mode && !S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode)) {
		fprintf(stderr,
			"writewatch dump: %s exists and is not a regular file: not replaced\n",
			out);
		return -EEXIST;
	}
	if (S_ISLNK(st.st_mode) && stat(out, &st) == 0 && !S_ISREG(st.st_mode)) {
		fprintf(stderr,
			"writewatch dump: %s links to something that is not a regular file: not "
			"replaced\n",
			out);
		return -EEXIST;
	}
	if (asprintf(tmp, "%.*s.%s.XXXXXX", dirlen, out, slash ? slash + 1 : out) < 0) {
		*tmp = NULL;
		return -ENOMEM;
	}
	fd = mkostemp(*tmp, O_CLOEXEC);
	if (fd < 0) {
		int e = -errno;

		fprintf(stderr, "writewatch dump: %s: %s\n", out, strerror(errno));
		free(*tmp);
		*tmp = NULL;
		return e;
	}
	return fd;
}

/* Why /proc/PID/mem could not be opened, when it is not permission: the
 * process has no memory to read (a zombie, a kernel thread) or its main
 * thread is gone (the file names the leader's address space, which it
 * dropped on exit; the other threads run on). */
static bool no_memory(pid_t pid, char *why, size_t len)
{
	char path[64], buf[512], *p;
	unsigned long flags = 0;
	char state = 0;
	FILE *f;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return false;
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = 0;
	fclose(f);
	p = strrchr(buf, ')'); /* the command name may hold anything */
	if (!p || sscanf(p + 1, " %c %*d %*d %*d %*d %*d %lu", &state, &flags) != 2)
		return false;
	if (flags & 0x00200000) { /* PF_KTHREAD */
		snprintf(why, len, "is a kernel thread: it has no user memory to dump");
		return true;
	}
	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	{
		DIR *d = opendir(path);
		struct dirent *de;

		while (d && (de = readdir(d)))
			n += de->d_name[0] != '.';
		if (d)
			closedir(d);
	}
	if (state == 'Z' && n > 1) {
		snprintf(why, len,
			 "has lost its main thread (%d other thread%s run%s on): dumping "
			 "such a process is not supported",
			 n - 1, n > 2 ? "s" : "", n > 2 ? "" : "s");
		return true;
	}
	if (state == 'Z' || state == 'X') {
		snprintf(why, len, "has exited (a zombie): it has no memory to dump");
		return true;
	}
	return false;
}

/* A reason with a line per mechanism tried, on one line. */
static void print_why(const char *why, int err)
{
	for (const char *l = why, *nl; *l; l = nl ? nl + 1 : l + strlen(l)) {
		nl = strchr(l, '\n');
		fprintf(stderr, "%s%.*s", l == why ? "" : "; ", nl ? (int)(nl - l) : (int)strlen(l),
			l);
	}
	if (!why[0])
		fprintf(stderr, "%s", strerror(-err));
}

/* A stopped round's copies, made now that the process runs again. */
static int replay_deferred(struct dump *d)
{
	int err = 0;

	for (size_t i = 0; i < d->dn && !err; i++)
		err = queue(d, d->dv[i].addr, d->dv[i].len, d->dv[i].off);
	d->dn = 0;
	if (!err)
		err = flush(d);
	return err == -ESRCH ? 0 : err; /* gone: the freeze says so */
}

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
	interrupted = sig;
}

int cmd_dump(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "max-freeze", required_argument, NULL, 'm' },
		{ "rounds", required_argument, NULL, 'r' },
		{ "freeze-limit", required_argument, NULL, 'l' },
		{ "no-precopy", no_argument, NULL, 'n' },
		{ "backend", required_argument, NULL, 'b' },
		{ "filter", required_argument, NULL, 'f' },
		{ "max-mapping", required_argument, NULL, 'M' },
		{ "json", no_argument, NULL, 'j' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *out = NULL;
	char *tmp = NULL; /* the core until it is complete (out_open) */
	long max_freeze = 20, max_rounds = 20, limit = 60000, filter_opt = -1, v;
	bool precopy = true, quiet = false, stopped_rounds = false;
	enum ww_backend backend = WW_BACKEND_AUTO;
	/* like attach: registering and arming a reservation bigger than
	 * memory costs page tables in proportion (ASan's 16 TiB shadow) */
	double max_mapping = (double)sysconf(_SC_PHYS_PAGES) * (double)sysconf(_SC_PAGESIZE);
	struct dump d = { .fd = -1, .pagemap = -1 };
	struct procwatch w, *wp = NULL;
	struct round *rounds = NULL;
	size_t nrounds = 0;
	struct freeze fz = { .sock = -1 };
	struct vmas vs = { 0 }, pre = { 0 };
	struct ec_seg *segs = NULL;
	struct ec_file *files = NULL;
	size_t nseg = 0, nfiles = 0;
	struct ec_proc proc;
	void *auxv = NULL;
	char why[1024] = "", why2[1024] = "", path[64];
	const char *mode = "pre-copy";
	unsigned int filter;
	double t0, tf0 = 0, tf1 = 0;
	unsigned long long freeze_bytes = 0, precopy_bytes = 0;
	int c, err = 0, rel;
	pid_t pid;

	while ((c = getopt_long(argc, argv, "o:b:qh", opts, NULL)) != -1) {
		switch (c) {
		case 'o':
			out = optarg;
			break;
		case 'm':
			if (!parse_num(optarg, 0, 3600000, &max_freeze))
				goto bad;
			break;
		case 'r':
			if (!parse_num(optarg, 0, 100000, &max_rounds))
				goto bad;
			break;
		case 'l':
			if (!parse_num(optarg, 1, 86400000, &limit))
				goto bad;
			break;
		case 'f':
			if (!parse_hex(optarg, 0x1ff, &filter_opt))
				goto bad;
			break;
		case 'n':
			precopy = false;
			break;
		case 'b':
			if (ww_backend_from_name(optarg, &backend) < 0) {
				fprintf(stderr, "writewatch dump: unknown backend '%s'\n", optarg);
				usage(stderr);
				return 2;
			}
			break;
		case 'M': {
			char *end;
			double sz = strtod(optarg, &end);
			const char *u = "KMGT";
			const char *k = *end ? strchr(u, *end) : NULL;

			if (end == optarg || !isfinite(sz) || sz <= 0 || (*end && (!k || end[1])))
				goto bad;
			max_mapping = sz * (k ? (double)(1ULL << (10 * (k - u + 1))) : 1.0);
			if (max_mapping >= 0x1p63)
				goto bad;
			break;
		}
		case 'j':
			d.json = true;
			break;
		case 'q':
			quiet = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind + 1 != argc || !out || !parse_num(argv[optind], 1, INT32_MAX, &v)) {
		usage(stderr);
		return 2;
	}
	pid = (pid_t)v;
	if (pid == getpid()) {
		/* its freeze would stop the process that copies it */
		fprintf(stderr, "writewatch dump: %d is writewatch itself\n", (int)pid);
		return 2;
	}
	d.pid = pid;
	d.ps = (size_t)sysconf(_SC_PAGESIZE);
	d.next_off = ec_data_start(d.ps);
	d.progress = !quiet && !d.json && isatty(2);
	t0 = now_s();
	/* Ctrl-C or SIGTERM ends the pre-copy and fails the dump cleanly (no
	 * file left); in the freeze they wait the few milliseconds it lasts. */
	{
		struct sigaction sa = { .sa_handler = on_signal };

		sigemptyset(&sa.sa_mask);
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
	}

	/* Permission first: the same check as ptrace, with a reason. */
	snprintf(path, sizeof(path), "/proc/%d/mem", (int)pid);
	c = open(path, O_RDONLY | O_CLOEXEC);
	if (c < 0) {
		int e = errno;
		char why_not[160];

		if (e == ENOENT)
			fprintf(stderr, "writewatch dump: no process %d\n", (int)pid);
		else if (no_memory(pid, why_not, sizeof(why_not)))
			fprintf(stderr, "writewatch dump: process %d %s\n", (int)pid, why_not);
		else
			fprintf(stderr,
				"writewatch dump: no permission to read process %d (%s): dumping "
				"needs the permission to ptrace it (same user and a dumpable "
				"process, or CAP_SYS_PTRACE; see Yama's ptrace_scope)\n",
				(int)pid, strerror(e));
		return 1;
	}
	close(c);
	snprintf(path, sizeof(path), "/proc/%d/pagemap", (int)pid);
	d.pagemap = open(path, O_RDONLY | O_CLOEXEC);
	d.buf = malloc(CHUNK);
	if (d.pagemap < 0 || !d.buf) {
		fprintf(stderr, "writewatch dump: %s: %s\n", path, strerror(errno));
		free(d.buf);
		return 1;
	}
	d.fd = out_open(out, &tmp);
	if (d.fd < 0) {
		err = d.fd;
		goto done;
	}

	if (precopy) {
		/* a round must see every write since the last: a mechanism that
		 * may miss one, or re-arms more than the round copied, would
		 * leave a stale page in the core */
		err = pw_open(&w, pid, backend, PRECOPY_CAPS, why, sizeof(why));
		if (err) {
			/* Next best: rounds that stop the process for their
			 * collect-with-reset (soft-dirty reads the bits and
			 * clears them in two steps; a write between is lost
			 * unless nothing runs). */
			if (!pw_open(&w, pid, backend, STOPPED_CAPS, why2, sizeof(why2))) {
				stopped_rounds = true;
				mode = "stopped-rounds";
				fprintf(stderr,
					"writewatch dump: nothing tracks process %d atomically here (",
					(int)pid);
				print_why(why, err);
				fprintf(stderr,
					"); pre-copy with %s instead, stopping the process for each "
					"round's collect\n",
					ww_backend_name(ww_tracker_backend(w.t)));
			}
		}
		if (err && !stopped_rounds) {
			fprintf(stderr,
				"writewatch dump: no pre-copy (nothing tracks process %d exactly "
				"here: ",
				(int)pid);
			print_why(why, err);
			if (why2[0] && strcmp(why2, why)) {
				fprintf(stderr, "; for stopped rounds: ");
				print_why(why2, err);
			}
			fprintf(stderr, "); one stop-and-copy instead, like gcore\n");
			precopy = false;
			err = 0;
		}
		if (precopy) {
			err = 0;
			wp = &w;
			w.max_bytes = (size_t)max_mapping;
			w.too_big_fate = "copied in the freeze if the filter dumps it";
		}
	}
	if (!precopy)
		mode = "stop-and-copy";
	filter = filter_opt >= 0 ? (unsigned int)filter_opt : coredump_filter(pid);
	err = fz_spawn(&fz, pid, (int)limit, why, sizeof(why));
	if (err) {
		fprintf(stderr, "writewatch dump: %s\n", why);
		goto done;
	}

	/* Pre-copy rounds: the first copies everything, each next one what
	 * was written meanwhile. */
	while (wp && !interrupted) {
		double r0 = now_s(), secs, est, stopped = 0;
		struct freeze rf = { .sock = -1 };
		struct round *p;

		d.copied = 0;
		if (stopped_rounds) {
			/* Stopped for the collect-with-reset only: the copies
			 * wait in d.dv until the release. */
			err = fz_spawn(&rf, pid, (int)limit, why, sizeof(why));
			if (!err)
				err = fz_stop(&rf, why, sizeof(why)); /* frees rf on failure */
			if (err) {
				fprintf(stderr,
					"writewatch dump: stopping process %d for a round: %s\n",
					(int)pid, why);
				fz_free(&rf);
				break;
			}
			stopped = now_s();
			d.defer = true;
			test_stop("round");
		}
		err = pw_step(wp, on_run, &d);
		if (!err)
			err = flush(&d);
		if (!err)
			new_regions(&d, wp);
		if (!err)
			err = d.err;
		if (stopped_rounds) {
			int rrel = fz_release(&rf);

			stopped = now_s() - stopped;
			fz_free(&rf);
			d.defer = false;
			if (!err && rrel == -ETIMEDOUT) {
				fprintf(stderr,
					"writewatch dump: a round's stop outlasted --freeze-limit (%ld "
					"ms): writes may have been missed, no dump written\n",
					limit);
				err = -ETIMEDOUT;
			} else if (!err && rrel) {
				err = rrel;
			}
			if (!err)
				err = replay_deferred(&d);
			if (!err)
				err = d.err;
		}
		if (err)
			break;
		secs = now_s() - r0;
		p = realloc(rounds, (nrounds + 1) * sizeof(*p));
		if (!p) {
			err = -ENOMEM;
			break;
		}
		rounds = p;
		rounds[nrounds++] = (struct round){ r0, secs, d.copied, 0, stopped };
		if (nrounds > 1 && r0 > rounds[nrounds - 2].start)
			rounds[nrounds - 1].dirty_rate =
				(double)d.copied / (r0 - rounds[nrounds - 2].start);
		if (nrounds == 1) {
			/* What the filter needs and maps cannot tell: smaps
			 * walks every page table, so not next to the freeze. */
			if (vmas_read(pid, true, &pre))
				memset(&pre, 0, sizeof(pre));
			test_stop("precopy");
		}
		precopy_bytes += d.copied;
		/* The freeze does what a round does (collect everything,
		 * copy what was written since the round before) for about as
		 * many pages: the last round's time is the estimate. */
		est = secs * 1000;
		if (d.progress)
			fprintf(stderr,
				"\rround %zu: copied %llu MiB in %.0f ms, dirty %.1f MiB/s, "
				"estimated freeze %.1f ms   ",
				nrounds - 1, d.copied >> 20, secs * 1000,
				rounds[nrounds - 1].dirty_rate / 1048576, est);
		if (nrounds > 1 && est <= (double)max_freeze)
			break;
		if ((long)nrounds > max_rounds)
			break;
		/* not converging: two rounds no shorter than the one before */
		if (nrounds > 3 && secs >= rounds[nrounds - 2].secs &&
		    rounds[nrounds - 2].secs >= rounds[nrounds - 3].secs)
			break;
	}
	if (d.progress && nrounds)
		fputc('\n', stderr);
	if (!err && interrupted) {
		fprintf(stderr, "writewatch dump: interrupted by %s: no dump written\n",
			strsignal(interrupted));
		err = -EINTR;
		goto done;
	}
	if (err) {
		fprintf(stderr, "writewatch dump: pre-copy of process %d: %s\n", (int)pid,
			strerror(-err));
		goto done;
	}

	/* The freeze. */
	tf0 = now_s();
	err = fz_stop(&fz, why, sizeof(why));
	if (err) {
		fprintf(stderr, "writewatch dump: stopping process %d: %s\n", (int)pid, why);
		goto done;
	}
	phase_time("threads stopped", tf0);
	test_stop("freeze");
	d.copied = 0;
	if (wp) {
		err = pw_step(wp, on_run, &d);
		phase_time("collected", tf0);
		if (!err)
			err = flush(&d);
		if (!err)
			new_regions(&d, wp);
		if (!err)
			err = d.err;
	}
	phase_time("last written pages collected and copied", tf0);
	if (!err)
		err = vmas_read(pid, !wp, &vs);
	segs = err ? NULL : calloc(vs.n + 1, sizeof(*segs));
	files = err ? NULL : calloc(vs.n + 1, sizeof(*files));
	if (!err && (!segs || !files))
		err = -ENOMEM;
	for (size_t i = 0, pj = 0; !err && i < vs.n; i++) {
		struct vma *m = &vs.v[i];
		struct region *r;
		enum policy pol;
		struct ec_seg *s;

		/* pre is in address order too: one pass over both (a search
		 * per mapping made the freeze quadratic: 1.4 s at 50,000) */
		while (pj < pre.n && pre.v[pj].start < m->start)
			pj++;
		if (pj < pre.n && !m->have_smaps) {
			struct vma *q = &pre.v[pj];

			if (q->start == m->start && q->end == m->end && q->inode == m->inode &&
			    q->offset == m->offset && q->prot == m->prot) {
				m->anon_kb = q->anon_kb;
				m->dd = q->dd;
				m->io = q->io;
				m->ht = q->ht;
				m->have_smaps = true;
			}
		}
		pol = policy_of(pid, m, filter);
		if (m->inode && m->name[0] == '/') {
			files[nfiles++] = (struct ec_file){ m->start, m->end, m->offset, m->name };
		}
		if (pol == P_SKIP)
			continue;
		s = &segs[nseg++];
		s->start = m->start;
		s->end = m->end;
		s->prot = m->prot;
		if (pol == P_NONE)
			continue;
		s->filesz = pol == P_FIRST ? d.ps : m->end - m->start;
		r = precopied(&d, wp, m);
		if (r) {
			s->off = r->off;
			r->used = true;
			continue;
		}
		s->off = d.next_off;
		d.next_off += s->filesz;
		if (pol == P_POPULATED)
			err = copy_populated(&d, m->start, s->filesz, s->off);
		else
			err = copy_range(&d, m->start, s->filesz, s->off);
	}
	phase_time("other mappings copied", tf0);
	if (!err)
		proc_facts(pid, &proc, &auxv);
	freeze_bytes = d.copied;
	phase_time("process facts read", tf0);
	rel = fz_release(&fz);
	tf1 = now_s();
	if (!err && rel == -ETIMEDOUT) {
		fprintf(stderr,
			"writewatch dump: the freeze outlasted --freeze-limit (%ld ms): process "
			"%d was released before the copy ended, the dump is not one instant\n",
			limit, (int)pid);
		err = -ETIMEDOUT;
	} else if (!err && rel) {
		fprintf(stderr, "writewatch dump: releasing process %d: %s\n", (int)pid,
			strerror(-rel));
		err = rel;
	} else if (err) {
		fprintf(stderr, "writewatch dump: copying process %d in the freeze: %s\n", (int)pid,
			strerror(-err));
	}
	if (wp) {
		pw_close(wp);
		wp = NULL;
	}
	if (err)
		goto done;
	test_stop("write");
	/* Space of mappings that went away before the freeze. */
	for (size_t i = 0; i < d.nreg; i++)
		if (d.reg[i].set && !d.reg[i].used)
			zero_range(&d, d.reg[i].off, d.reg[i].end - d.reg[i].start);
	d.next_off = (d.next_off + d.ps - 1) / d.ps * d.ps;
	err = ftruncate(d.fd, (off_t)d.next_off) ? -errno : 0;
	if (!err)
		err = ec_finish(d.fd, d.next_off, &proc, fz.th, fz.n, segs, nseg, files, nfiles,
				d.ps);
	if (!err && rename(tmp, out))
		err = -errno;
	if (err) {
		fprintf(stderr, "writewatch dump: writing %s: %s\n", out, strerror(-err));
		goto done;
	}
	free(tmp);
	tmp = NULL; /* it is FILE now */
	{
		struct stat st;
		double total = now_s() - t0;

		fstat(d.fd, &st);
		if (d.json) {
			printf("{\"pid\":%d,\"file\":", (int)pid);
			json_str(stdout, out);
			printf(",\"mode\":\"%s\",\"rounds\":[", mode);
			for (size_t i = 0; i < nrounds; i++)
				printf("%s{\"round\":%zu,\"ms\":%.3f,\"copied_bytes\":%llu,"
				       "\"dirty_bytes_per_s\":%.0f,\"stopped_ms\":%.3f}",
				       i ? "," : "", i, rounds[i].secs * 1000, rounds[i].bytes,
				       rounds[i].dirty_rate, rounds[i].stopped * 1000);
			printf("],\"freeze_ms\":%.3f,\"freeze_copied_bytes\":%llu,"
			       "\"precopy_bytes\":%llu,\"threads\":%zu,\"segments\":%zu,"
			       "\"eintr_rewound\":%d,\"total_ms\":%.3f,\"file_bytes\":%lld,"
			       "\"disk_bytes\":%lld}\n",
			       (tf1 - tf0) * 1000, freeze_bytes, precopy_bytes, fz.n, nseg,
			       fz.eintr_fixed, total * 1000, (long long)st.st_size,
			       (long long)st.st_blocks * 512);
		}
		if (!quiet) {
			double longest = 0;

			for (size_t i = 0; i < nrounds; i++)
				longest = rounds[i].stopped > longest ? rounds[i].stopped : longest;
			fprintf(stderr,
				"writewatch dump: %s: process %d, %zu threads, %zu mappings, %s "
				"(%zu rounds, %llu MiB while running",
				out, (int)pid, fz.n, nseg, mode, nrounds, precopy_bytes >> 20);
			if (stopped_rounds)
				fprintf(stderr, ", stopped up to %.1f ms per round",
					longest * 1000);
			fprintf(stderr,
				"); frozen %.1f ms (copied %llu KiB); total %.2f s; %lld MiB on "
				"disk\n",
				(tf1 - tf0) * 1000, freeze_bytes >> 10, total,
				(long long)st.st_blocks * 512 >> 20);
		}
	}
done:
	if (wp)
		pw_close(wp);
	fz_free(&fz);
	vmas_free(&vs);
	vmas_free(&pre);
	free(segs);
	free(files);
	free(auxv);
	free(rounds);
	free(d.dv);
	free(d.reg);
	free(d.buf);
	if (d.pagemap >= 0)
		close(d.pagemap);
	if (d.fd >= 0)
		close(d.fd);
	if (tmp) /* not renamed: FILE is as it was */
		unlink(tmp);
	free(tmp);
	return err ? 1 : 0;
bad:
	fprintf(stderr, "writewatch dump: bad value '%s'\n", optarg);
	usage(stderr);
	return 2;
}
