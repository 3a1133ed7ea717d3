/* SPDX-License-Identifier: MIT */
/*
 * `writewatch run -- CMD...` and `writewatch attach PID`: watch another
 * process's writes, interval by interval, as a live view, plain lines or
 * JSON Lines, then a summary with the write working set, dirty rates and a
 * pre-copy live-migration estimate; optionally an SVG heatmap.
 *
 * `run` starts CMD stopped at its first instruction (tools/spawn.c) and
 * stays its ptrace tracer for event stops only (fork, vfork, clone, exec,
 * exit; no syscall stops): the kernel then tells exit and exec apart for
 * certain, a new program image is watched from its first instruction, each
 * child process is watched as its own process, and the last interval of an
 * exiting process is collected at its exit stop, before its address space
 * goes. `attach` does not trace: it tells exit from exec by the pidfd and
 * the presence of a new address space.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "procwatch.h"
#include "spawn.h"
#include "util.h"
#include "writewatch.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_kcmp
#define SYS_kcmp 312
#endif
#ifndef PTRACE_EVENT_STOP
#define PTRACE_EVENT_STOP 128
#endif
#ifndef PTRACE_LISTEN
#define PTRACE_LISTEN 0x4208
#endif
#define KCMP_VM_ 1

struct wopts {
	double interval, duration, bandwidth, max_downtime_ms, max_mapping;
	bool json, plain, children, attach_children;
	int top;
	const char *svg, *output;
	enum ww_backend backend;
	struct pw_exclude ex;
};

/* What the SVG needs: each written run with its interval and process. */
struct rec {
	int interval, proc, id;
	size_t page, n;
};

struct mapinfo {
	uintptr_t start;
	size_t pages;
	char *name;
	bool written;
};

struct session;

/* One watched process (a program image and what follows it by exec). */
struct wproc {
	struct session *s;
	int idx;
	pid_t pid, ppid;
	char *cmd; /* its command line, hostile: escaped on output */
	struct procwatch w;
	bool open; /* w holds a tracker */
	bool traced; /* we are its tracer */
	bool shares_mm; /* a vfork child: its parent's memory until it executes */
	bool done; /* ended and reported */
	bool last_seen; /* its last interval was collected before its memory went */
	bool gone; /* attach: address space gone, process ended */
	bool our_stop; /* a SIGSTOP of ours may still come: not the process's */
	int pidfd; /* attach: readable once it has exited */
	int nthreads; /* traced threads alive */
	int intervals, execs, unobserved;
	size_t iv_written, total, ws_done;
	double peak_rate, t_last;
	const char *end;
	int status;
	bool exited;
	struct mapinfo *maps; /* by procwatch id, reset at exec */
	size_t nmaps;
	int map_base; /* ids of earlier images come first */
};

struct tid {
	pid_t tid;
	struct wproc *p;
	bool exiting; /* seen at its exit stop */
};

struct session {
	struct wopts o;
	FILE *out; /* the report */
	bool live, run, multi; /* multi: processes come and go (run, --children) */
	const char *mechanism;
	struct wproc **procs;
	size_t nprocs;
	struct tid *tids;
	size_t ntids, captids;
	struct wproc *root;
	int tick; /* index of the current interval */
	double t0, elapsed;
	const char *end; /* why the session ended */
	struct rec *recs;
	size_t nrecs, caprecs;
	int sigfd; /* SIGCHLD, run */
	struct watchdog *dog;
	bool out_failed;
};

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
	(void)sig;
	interrupted = 1;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- bookkeeping -------------------------------------------------------- */

static char *read_cmdline(pid_t pid)
{
	char path[64], buf[512];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return strdup("?");
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return strdup("?");
	while (n > 0 && buf[n - 1] == '\0')
		n--;
	for (ssize_t i = 0; i < n; i++)
		if (buf[i] == '\0')
			buf[i] = ' ';
	buf[n] = '\0';
	return strdup(buf);
}

static struct wproc *proc_new(struct session *s, pid_t pid, pid_t ppid)
{
	struct wproc *p = calloc(1, sizeof(*p)), **v;

	if (!p)
		return NULL;
	v = realloc(s->procs, (s->nprocs + 1) * sizeof(*v));
	if (!v) {
		free(p);
		return NULL;
	}
	s->procs = v;
	p->s = s;
	p->idx = (int)s->nprocs;
	p->pid = pid;
	p->ppid = ppid;
	p->cmd = read_cmdline(pid);
	p->end = "exited";
	p->t_last = now();
	p->w.pagemap = -1;
	p->pidfd = -1;
	s->procs[s->nprocs++] = p;
	return p;
}

static struct wproc *by_tid(struct session *s, pid_t tid)
{
	for (size_t i = 0; i < s->ntids; i++)
		if (s->tids[i].tid == tid)
			return s->tids[i].p;
	return NULL;
}

static void tid_add(struct session *s, pid_t tid, struct wproc *p)
{
	if (by_tid(s, tid))
		return;
	if (s->ntids == s->captids) {
		size_t c = s->captids ? s->captids * 2 : 64;
		struct tid *v = realloc(s->tids, c * sizeof(*v));

		if (!v)
			return;
		s->tids = v;
		s->captids = c;
	}
	s->tids[s->ntids++] = (struct tid){ tid, p, false };
	p->nthreads++;
}

static void tid_del(struct session *s, pid_t tid)
{
	for (size_t i = 0; i < s->ntids; i++) {
		if (s->tids[i].tid == tid) {
			s->tids[i].p->nthreads--;
			s->tids[i] = s->tids[--s->ntids];
			return;
		}
	}
}

static void on_run(const struct pw_map *m, size_t page, size_t n, void *ctx)
{
	struct wproc *p = ctx;
	struct session *s = p->s;
	int id = p->map_base + m->id;

	p->iv_written += n;
	if ((size_t)id >= p->nmaps) {
		size_t c = (size_t)id + 64;
		struct mapinfo *v = realloc(p->maps, c * sizeof(*v));

		if (!v)
			return;
		memset(v + p->nmaps, 0, (c - p->nmaps) * sizeof(*v));
		p->maps = v;
		p->nmaps = c;
	}
	if (!p->maps[id].name) {
		p->maps[id].start = m->start;
		p->maps[id].pages = (m->end - m->start) / p->w.ps;
		p->maps[id].name = strdup(m->name ? m->name : "");
	}
	p->maps[id].written = true;
	if (!s->o.svg)
		return;
	if (s->nrecs == s->caprecs) {
		size_t c = s->caprecs ? s->caprecs * 2 : 1024;
		struct rec *v = realloc(s->recs, c * sizeof(*v));

		if (!v)
			return;
		s->recs = v;
		s->caprecs = c;
	}
	s->recs[s->nrecs++] = (struct rec){ s->tick, p->idx, id, page, n };
}

/* ---- output ------------------------------------------------------------- */

static void human(char *buf, size_t len, double bytes)
{
	const char *u[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	int i = 0;

	while (bytes >= 1024 && i < 4) {
		bytes /= 1024;
		i++;
	}
	snprintf(buf, len, i ? "%.1f %s" : "%.0f %s", bytes, u[i]);
}

/* One record is one write(2): the report never splits around another
 * writer's output on the same file. */
static void flush(struct session *s)
{
	if (fflush(s->out) || ferror(s->out))
		s->out_failed = true;
}

static size_t ws_alive(const struct wproc *p)
{
	size_t n = 0;

	for (size_t i = 0; i < p->w.n; i++)
		n += p->w.maps[i].ever;
	return n;
}

static size_t ws_of(const struct wproc *p)
{
	return p->ws_done + p->w.ws_forgotten + ws_alive(p);
}

static void name_or_anon(FILE *f, const char *name)
{
	text_str(f, name && *name ? name : "[anon]");
}

/* One interval of one process, as a JSON object or plain lines. */
static void print_interval(struct session *s, struct wproc *p, double t, double dt, bool last)
{
	size_t ps = p->w.ps ? p->w.ps : (size_t)sysconf(_SC_PAGESIZE);
	FILE *f = s->out;

	if (s->live)
		return;
	if (s->o.json) {
		bool first = true;

		fprintf(f, "{\"t\": %.3f, \"pid\": %d, \"ppid\": %d, \"command\": ", t, (int)p->pid,
			(int)p->ppid);
		json_str(f, p->cmd);
		fprintf(f,
			", \"interval_s\": %.3f, \"written_pages\": %zu, \"written_bytes\": %zu%s, "
			"\"mappings\": [",
			dt, p->iv_written, p->iv_written * ps, last ? ", \"last\": true" : "");
		for (size_t i = 0; i < p->w.n; i++) {
			const struct pw_map *m = &p->w.maps[i];

			if (!m->written)
				continue;
			fprintf(f,
				"%s{\"start\": \"0x%" PRIxPTR "\", \"end\": \"0x%" PRIxPTR
				"\", \"name\": ",
				first ? "" : ", ", m->start, m->end);
			json_str(f, m->name ? m->name : "");
			fprintf(f, ", \"written_pages\": %zu}", m->written);
			first = false;
		}
		for (size_t i = 0; i < p->w.ngone; i++) {
			const struct pw_gone *g = &p->w.gone[i];

			fprintf(f,
				"%s{\"start\": \"0x%" PRIxPTR "\", \"end\": \"0x%" PRIxPTR
				"\", \"name\": ",
				first ? "" : ", ", g->start, g->end);
			json_str(f, g->name ? g->name : "");
			fprintf(f, ", \"written_pages\": %zu, \"gone\": true}", g->written);
			first = false;
		}
		fprintf(f, "]}\n");
	} else {
		size_t ws = ws_of(p);
		double rate = dt > 0 ? (double)p->iv_written * (double)ps / dt : 0;
		char a[32], b[32], c[32];

		human(a, sizeof(a), (double)p->iv_written * (double)ps);
		human(b, sizeof(b), rate);
		human(c, sizeof(c), (double)ws * (double)ps);
		fprintf(f,
			"t=%.1fs pid=%d written=%zu pages (%s) rate=%s/s working-set=%zu pages "
			"(%s)%s\n",
			t, (int)p->pid, p->iv_written, a, b, ws, c, last ? " (last, at exit)" : "");
		for (size_t i = 0; i < p->w.n; i++) {
			const struct pw_map *m = &p->w.maps[i];

			if (!m->written)
				continue;
			fprintf(f, "  0x%" PRIxPTR " %8zu pages  written %zu  ", m->start,
				(m->end - m->start) / ps, m->written);
			name_or_anon(f, m->name);
			fputc('\n', f);
		}
		for (size_t i = 0; i < p->w.ngone; i++) {
			const struct pw_gone *g = &p->w.gone[i];

			fprintf(f, "  0x%" PRIxPTR " %8zu pages  written %zu  ", g->start,
				(g->end - g->start) / ps, g->written);
			name_or_anon(f, g->name);
			fputs(" (gone)\n", f);
		}
	}
	flush(s);
}

/* A process event: a child seen, a program executed. */
static void print_event(struct session *s, struct wproc *p, const char *what)
{
	FILE *f = s->out;
	double t = now() - s->t0;

	if (s->live)
		return;
	if (s->o.json) {
		fprintf(f,
			"{\"event\": \"%s\", \"t\": %.3f, \"pid\": %d, \"ppid\": %d, \"command\": ",
			what, t, (int)p->pid, (int)p->ppid);
		json_str(f, p->cmd);
		fprintf(f, "}\n");
	} else {
		fprintf(f, "t=%.1fs pid=%d %s: ", t, (int)p->pid,
			!strcmp(what, "exec") ? "executed" : "new process, parent");
		if (strcmp(what, "exec"))
			fprintf(f, "%d: ", (int)p->ppid);
		text_str(f, p->cmd);
		fputc('\n', f);
	}
	flush(s);
}

/* The end of one process (run follows several). */
static void print_proc_end(struct session *s, struct wproc *p)
{
	FILE *f = s->out;
	size_t ps = p->w.ps ? p->w.ps : (size_t)sysconf(_SC_PAGESIZE);

	if (s->live)
		return;
	if (s->o.json) {
		fprintf(f, "{\"process\": {\"pid\": %d, \"ppid\": %d, \"command\": ", (int)p->pid,
			(int)p->ppid);
		json_str(f, p->cmd);
		fprintf(f,
			", \"end\": \"%s\", \"intervals\": %d, \"written_pages_total\": %zu, "
			"\"working_set_pages\": %zu, \"execs\": %d, \"unobserved_intervals\": %d, "
			"\"last_interval_observed\": %s",
			p->end, p->intervals, p->total, ws_of(p), p->execs, p->unobserved,
			p->last_seen ? "true" : "false");
		if (p->exited && WIFEXITED(p->status))
			fprintf(f, ", \"exit_status\": %d", WEXITSTATUS(p->status));
		else if (p->exited && WIFSIGNALED(p->status))
			fprintf(f, ", \"exit_signal\": %d", WTERMSIG(p->status));
		fprintf(f, "}}\n");
	} else {
		char a[32];

		human(a, sizeof(a), (double)ws_of(p) * (double)ps);
		fprintf(f, "pid=%d ended (%s", (int)p->pid, p->end);
		if (p->exited && WIFEXITED(p->status))
			fprintf(f, ", status %d", WEXITSTATUS(p->status));
		else if (p->exited && WIFSIGNALED(p->status))
			fprintf(f, ", signal %d", WTERMSIG(p->status));
		fprintf(f, "): working set %zu pages (%s)%s: ", ws_of(p), a,
			p->last_seen ? "" : ", its last interval went unobserved");
		text_str(f, p->cmd);
		fputc('\n', f);
	}
	flush(s);
}

static int by_written(const void *a, const void *b)
{
	const struct pw_map *x = *(const struct pw_map *const *)a;
	const struct pw_map *y = *(const struct pw_map *const *)b;

	if (x->written != y->written)
		return x->written < y->written ? 1 : -1;
	if (x->ever != y->ever)
		return x->ever < y->ever ? 1 : -1;
	return x->start < y->start ? -1 : 1;
}

/* The live view: one screen per interval, every process. */
static void print_live(struct session *s, double t, double dt)
{
	FILE *f = s->out;
	size_t ps = (size_t)sysconf(_SC_PAGESIZE), wr = 0, ws = 0, k = 0, nm = 0;
	double peak = 0;
	char a[32], b[32], c[32], p[32];
	const struct pw_map **v;

	for (size_t i = 0; i < s->nprocs; i++) {
		wr += s->procs[i]->iv_written;
		ws += ws_of(s->procs[i]);
		peak = fmax(peak, s->procs[i]->peak_rate);
		nm += s->procs[i]->w.n;
	}
	human(a, sizeof(a), (double)wr * (double)ps);
	human(b, sizeof(b), dt > 0 ? (double)wr * (double)ps / dt : 0);
	human(c, sizeof(c), (double)ws * (double)ps);
	human(p, sizeof(p), peak);
	fprintf(f, "\033[H\033[2J");
	fprintf(f, "writewatch  pid %d  %s  t=%.1fs  interval %.1fs  (Ctrl-C to stop)\n",
		(int)s->root->pid, s->mechanism, t, dt);
	fprintf(f, "written %zu pages (%s), rate %s/s, peak %s/s, working set %zu pages (%s)\n\n",
		wr, a, b, p, ws, c);
	if (s->nprocs > 1) {
		fprintf(f, "%7s %7s %9s %10s  %s\n", "PID", "PPID", "WRITTEN", "WSET", "COMMAND");
		for (size_t i = 0; i < s->nprocs; i++) {
			const struct wproc *q = s->procs[i];

			human(c, sizeof(c), (double)ws_of(q) * (double)ps);
			fprintf(f, "%7d %7d %9zu %10s  ", (int)q->pid, (int)q->ppid, q->iv_written,
				c);
			text_str(f, q->cmd);
			fputs(q->done ? " (ended)\n" : "\n", f);
		}
		fputc('\n', f);
	}
	fprintf(f, "%7s %-18s %10s %9s %11s %10s  %s\n", "PID", "START", "SIZE", "WRITTEN", "RATE",
		"WSET", "MAPPING");
	v = malloc((nm + 1) * sizeof(*v));
	for (size_t i = 0; v && i < s->nprocs; i++)
		for (size_t j = 0; j < s->procs[i]->w.n; j++)
			if (s->procs[i]->w.maps[j].tracked)
				v[k++] = &s->procs[i]->w.maps[j];
	if (v)
		qsort(v, k, sizeof(*v), by_written);
	for (size_t i = 0; v && i < k && (int)i < s->o.top; i++) {
		const struct pw_map *m = v[i];
		pid_t pid = 0;
		char sz[32], r[32], e[32];

		for (size_t x = 0; x < s->nprocs && !pid; x++)
			if (m >= s->procs[x]->w.maps && m < s->procs[x]->w.maps + s->procs[x]->w.n)
				pid = s->procs[x]->pid;
		human(sz, sizeof(sz), (double)(m->end - m->start));
		human(r, sizeof(r), dt > 0 ? (double)m->written * (double)ps / dt : 0);
		human(e, sizeof(e), (double)m->ever * (double)ps);
		fprintf(f, "%7d 0x%-16" PRIxPTR " %10s %9zu %9s/s %10s  ", (int)pid, m->start, sz,
			m->written, r, e);
		name_or_anon(f, m->name);
		fputc('\n', f);
	}
	free(v);
	flush(s);
}

/*
 * The pre-copy model (also in writewatch-run(1)): round 1 copies the write
 * working set W; each later round copies what was dirtied while the previous
 * round ran, D(T) = min(W, r * T) with r the mean dirty rate; the rounds stop
 * when the remainder can be copied within the allowed downtime, when a round
 * no longer shrinks (r >= bandwidth: no convergence), or after 30 rounds;
 * the remainder is the final stop-and-copy.
 */
struct migration {
	int rounds;
	bool converges;
	double stop_bytes, stop_ms, copied;
};

static struct migration migrate(double W, double r, double bw, double downtime_s)
{
	struct migration m = { 0 };
	double v = W;

	m.converges = true;
	while (m.rounds < 30) {
		double t, nv;

		if (v / bw <= downtime_s)
			break;
		t = v / bw;
		m.copied += v;
		m.rounds++;
		nv = fmin(W, r * t);
		if (nv >= v) {
			m.converges = false;
			v = nv;
			break;
		}
		v = nv;
	}
	if (m.rounds >= 30 && v / bw > downtime_s)
		m.converges = false;
	m.stop_bytes = v;
	m.stop_ms = v / bw * 1000;
	return m;
}

static void print_summary(struct session *s)
{
	size_t ps = (size_t)sysconf(_SC_PAGESIZE), ws = 0, total = 0, skipped = 0, excl = 0;
	struct wproc *r = s->root;
	double peak = 0, mean;
	struct migration m;
	char a[32], b[32], c[32], d[32];
	FILE *f = s->out;
	int unobs = 0;

	for (size_t i = 0; i < s->nprocs; i++) {
		ws += ws_of(s->procs[i]);
		total += s->procs[i]->total;
		peak = fmax(peak, s->procs[i]->peak_rate);
		skipped += s->procs[i]->w.skipped;
		excl += s->procs[i]->w.excluded;
		unobs += s->procs[i]->unobserved;
	}
	mean = s->elapsed > 0 ? (double)total * (double)ps / s->elapsed : 0;
	m = migrate((double)ws * (double)ps, mean, s->o.bandwidth, s->o.max_downtime_ms / 1000);
	if (s->o.json) {
		fprintf(f, "{\"summary\": {\"pid\": %d, \"command\": ", (int)r->pid);
		json_str(f, r->cmd);
		fprintf(f,
			", \"mechanism\": \"%s\", \"end\": \"%s\", "
			"\"duration_s\": %.3f, \"intervals\": %d, \"page_size\": %zu, "
			"\"processes\": %zu, \"written_pages_total\": %zu, \"working_set_pages\": %zu, "
			"\"working_set_bytes\": %zu, \"peak_dirty_rate_bytes_s\": %.0f, "
			"\"mean_dirty_rate_bytes_s\": %.0f",
			s->mechanism, s->end, s->elapsed, s->tick, ps, s->nprocs, total, ws,
			ws * ps, peak, mean);
		fprintf(f, ", \"unwatched_mappings\": %zu, \"excluded_mappings\": %zu", skipped,
			excl);
		fprintf(f, ", \"unobserved_intervals\": %d, \"last_interval_observed\": %s", unobs,
			r->last_seen ? "true" : "false");
		if (r->exited && WIFEXITED(r->status))
			fprintf(f, ", \"exit_status\": %d", WEXITSTATUS(r->status));
		else if (r->exited && WIFSIGNALED(r->status))
			fprintf(f, ", \"exit_signal\": %d", WTERMSIG(r->status));
		fprintf(f,
			", \"migration\": {\"bandwidth_bytes_s\": %.0f, \"max_downtime_ms\": %.0f, "
			"\"converges\": %s, \"precopy_rounds\": %d, \"precopy_bytes\": %.0f, "
			"\"stop_copy_pages\": %.0f, \"stop_copy_bytes\": %.0f, \"stop_copy_ms\": "
			"%.1f}}}\n",
			s->o.bandwidth, s->o.max_downtime_ms, m.converges ? "true" : "false",
			m.rounds, m.copied, ceil(m.stop_bytes / (double)ps), m.stop_bytes,
			m.stop_ms);
		flush(s);
		return;
	}
	human(a, sizeof(a), (double)ws * (double)ps);
	human(b, sizeof(b), peak);
	human(c, sizeof(c), mean);
	/* link speeds are decimal: 1G is 1 GB/s */
	snprintf(d, sizeof(d), "%.3g %sB",
		 s->o.bandwidth >= 1e9 ? s->o.bandwidth / 1e9 : s->o.bandwidth / 1e6,
		 s->o.bandwidth >= 1e9 ? "G" : "M");
	fprintf(f, "\nsummary: pid %d, %s, %s", (int)r->pid, s->mechanism, s->end);
	if (r->exited && WIFEXITED(r->status))
		fprintf(f, " (status %d)", WEXITSTATUS(r->status));
	else if (r->exited && WIFSIGNALED(r->status))
		fprintf(f, " (signal %d)", WTERMSIG(r->status));
	fprintf(f, " after %.1fs (%d intervals)\n", s->elapsed, s->tick);
	if (s->nprocs > 1)
		fprintf(f, "  processes          %zu\n", s->nprocs);
	fprintf(f, "  write working set  %zu pages (%s)\n", ws, a);
	if (skipped)
		fprintf(f, "  not watched        %zu mapping%s over --max-mapping (see above)\n",
			skipped, skipped == 1 ? "" : "s");
	if (excl)
		fprintf(f, "  excluded           %zu mapping%s (--exclude)\n", excl,
			excl == 1 ? "" : "s");
	if (unobs)
		fprintf(f,
			"  unobserved         %d interval%s: writes made just before an exec or a "
			"kill could not be collected\n",
			unobs, unobs == 1 ? "" : "s");
	fprintf(f, "  dirty rate         peak %s/s, mean %s/s\n", b, c);
	human(a, sizeof(a), m.stop_bytes);
	fprintf(f,
		"  live migration at %s/s: %d pre-copy round%s, then stop-and-copy of %.0f pages "
		"(%s, %.1f ms)%s\n",
		d, m.rounds, m.rounds == 1 ? "" : "s", ceil(m.stop_bytes / (double)ps), a,
		m.stop_ms,
		m.converges ? "" : ": does NOT converge (dirty rate too close to the bandwidth)");
	flush(s);
}

static int write_svg(struct session *s)
{
	const int H = 400, W = 800, left = 170, top = 40;
	size_t total = 0, buckets = (size_t)H, per, nall = 0;
	int cols = s->tick > 0 ? s->tick : 1;
	double colw = (double)W / cols, *cell;
	size_t **base;
	FILE *f = fopen(s->o.svg, "we");
	int err = 0;

	if (!f) {
		fprintf(stderr, "writewatch: cannot write %s: %s\n", s->o.svg, strerror(errno));
		return -1;
	}
	/* y: the written mappings of every process stacked in address order */
	base = calloc(s->nprocs + 1, sizeof(*base));
	for (size_t q = 0; base && q < s->nprocs; q++) {
		struct wproc *p = s->procs[q];

		base[q] = calloc(p->nmaps + 1, sizeof(**base));
		for (size_t i = 0; i < p->nmaps; i++)
			if (p->maps[i].written)
				total += p->maps[i].pages, nall++;
	}
	if (!total)
		total = 1;
	per = (total + buckets - 1) / buckets;
	cell = calloc(buckets * (size_t)cols, sizeof(*cell));
	if (!base || !cell) {
		fclose(f);
		err = -1;
		goto out;
	}
	{
		size_t at = 0;

		for (size_t q = 0; q < s->nprocs; q++) {
			struct wproc *p = s->procs[q];

			if (!base[q])
				continue;
			for (;;) {
				size_t pick = SIZE_MAX;

				for (size_t i = 0; i < p->nmaps; i++)
					if (p->maps[i].written && !base[q][i] &&
					    (pick == SIZE_MAX ||
					     p->maps[i].start < p->maps[pick].start))
						pick = i;
				if (pick == SIZE_MAX)
					break;
				base[q][pick] = at + 1; /* 0 means unplaced */
				at += p->maps[pick].pages;
			}
		}
	}
	for (size_t i = 0; i < s->nrecs; i++) {
		const struct rec *r = &s->recs[i];
		size_t y0;

		if (r->interval >= cols || !base[r->proc] || !base[r->proc][r->id])
			continue;
		y0 = base[r->proc][r->id] - 1 + r->page;
		for (size_t p = y0; p < y0 + r->n && p / per < buckets; p++)
			cell[(p / per) * (size_t)cols + (size_t)r->interval] += 1.0 / (double)per;
	}
	fprintf(f,
		"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
		"font-family=\"sans-serif\" font-size=\"11\">\n"
		"<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n"
		"<text x=\"%d\" y=\"20\" font-size=\"14\">writewatch: writes of pid %d over time "
		"(%s, %.1fs per column; darker = more of the band written)</text>\n"
		"<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"#f4f4f4\" "
		"stroke=\"#888\"/>\n",
		left + W + 20, top + H + 50, left, (int)s->root->pid, s->mechanism, s->o.interval,
		left, top, W, H);
	for (size_t y = 0; y < buckets; y++) {
		for (int x = 0; x < cols; x++) {
			double v = cell[y * (size_t)cols + (size_t)x];

			if (v <= 0)
				continue;
			if (v > 1)
				v = 1;
			fprintf(f,
				"<rect x=\"%.2f\" y=\"%zu\" width=\"%.2f\" height=\"1\" "
				"fill=\"rgb(%d,%d,%d)\"/>\n",
				left + x * colw, top + y * (size_t)H / buckets, colw + 0.3,
				(int)(255 - 200 * v), (int)(255 - 230 * v), (int)(255 - 120 * v));
		}
	}
	for (size_t q = 0; q < s->nprocs; q++) {
		struct wproc *p = s->procs[q];

		for (size_t i = 0; i < p->nmaps; i++) {
			double y;

			if (!p->maps[i].written)
				continue;
			y = top + (double)(base[q][i] - 1) / (double)per * H / (double)buckets;
			fprintf(f,
				"<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#888\"/>\n"
				"<text x=\"4\" y=\"%.1f\">",
				left - 5, left + W, y, y, y + 10);
			if (s->nprocs > 1)
				fprintf(f, "%d: ", (int)p->pid);
			xml_str(f,
				p->maps[i].name && *p->maps[i].name ? p->maps[i].name : "[anon]");
			fprintf(f, " 0x%" PRIxPTR "</text>\n", p->maps[i].start);
		}
	}
	fprintf(f,
		"<text x=\"%d\" y=\"%d\">0 s</text><text x=\"%d\" y=\"%d\" "
		"text-anchor=\"end\">%.1f s (time)</text>\n</svg>\n",
		left, top + H + 20, left + W, top + H + 20, s->elapsed);
	if (ferror(f))
		err = -1;
	if (fclose(f))
		err = -1;
	if (err)
		fprintf(stderr, "writewatch: cannot write %s: %s\n", s->o.svg, strerror(errno));
out:
	for (size_t q = 0; base && q < s->nprocs; q++)
		free(base[q]);
	free(base);
	free(cell);
	return err;
}

/* ---- watching ----------------------------------------------------------- */

static void account(struct wproc *p, double t, double dt, bool last)
{
	struct session *s = p->s;

	p->total += p->iv_written;
	if (dt > 0 && (double)p->iv_written * (double)p->w.ps / dt > p->peak_rate)
		p->peak_rate = (double)p->iv_written * (double)p->w.ps / dt;
	p->intervals++;
	print_interval(s, p, t - s->t0, dt, last);
	p->iv_written = 0;
	pw_clear_written(&p->w);
}

/* Close the tracker of p's current image; its working set stays counted. */
static void close_image(struct wproc *p)
{
	if (!p->open)
		return;
	pw_close(&p->w);
	p->ws_done += p->w.ws_forgotten;
	p->w.ws_forgotten = 0;
	p->open = false;
	p->map_base = (int)p->nmaps;
}

static int open_watch(struct session *s, struct wproc *p, bool quiet)
{
	char why[1024] = "";
	int err = pw_open(&p->w, p->pid, s->o.backend, 0, why, sizeof(why));

	if (err) {
		fprintf(stderr, "writewatch: cannot watch process %d (", (int)p->pid);
		text_str(stderr, p->cmd);
		fprintf(stderr, "): %s\n", strerror(-err));
		/* say why, per mechanism tried: the reasons name what is missing */
		for (char *l = why, *nl; !quiet && *l; l = nl ? nl + 1 : l + strlen(l)) {
			nl = strchr(l, '\n');
			if (nl)
				*nl = '\0';
			fputs("  ", stderr);
			text_str(stderr, l);
			fputc('\n', stderr);
		}
		return err;
	}
	p->open = true;
	if (!s->mechanism)
		s->mechanism = ww_backend_name(ww_tracker_backend(p->w.t));
	p->w.max_bytes = (size_t)s->o.max_mapping;
	p->w.ex = &s->o.ex;
	return 0;
}

#define TRACE_OPTS                                                                            \
	(PTRACE_O_TRACEEXEC | PTRACE_O_TRACEEXIT | PTRACE_O_TRACECLONE | PTRACE_O_TRACEFORK | \
	 PTRACE_O_TRACEVFORK)

/*
 * p is stopped (or has a SIGSTOP pending), not traced, and held by the
 * watchdog: register its mappings, report what they hold (its interval 0),
 * then trace it for its events (run) and let it go. For the root, a failed
 * registration leaves it stopped and returns the error.
 */
static int adopt(struct session *s, struct wproc *p, bool root)
{
	int err = open_watch(s, p, !root);

	if (!err) {
		double t = now();

		p->t_last = t;
		err = pw_step(&p->w, on_run, p);
		account(p, t, 0, false);
		if (err) {
			close_image(p);
			fprintf(stderr, "writewatch: watching process %d failed: %s\n", (int)p->pid,
				strerror(-err));
		}
	}
	if (err && root)
		return err;
	if (s->run) {
		long o = s->o.children ?
				 TRACE_OPTS :
				 PTRACE_O_TRACEEXEC | PTRACE_O_TRACEEXIT | PTRACE_O_TRACECLONE;

		if (ptrace(PTRACE_SEIZE, p->pid, NULL, (void *)o) == 0) {
			p->traced = true;
			tid_add(s, p->pid, p);
		}
	}
	/* The SIGSTOP we held it with may be pending still (the injection
	 * helper sends a stop it held back again after its detach): taken
	 * after this SIGCONT it would stop the process for good, so it is
	 * suppressed when it shows up (see reap()). */
	p->our_stop = p->traced;
	kill(p->pid, SIGCONT);
	watchdog_release(s->dog, p->pid);
	return 0;
}

/* A process ended: its status is known (run) or not (attach). */
static void finish(struct session *s, struct wproc *p)
{
	if (p->open) {
		/* killed, or its last thread ended without an exit stop */
		p->unobserved++;
		close_image(p);
	} else if (!p->unobserved && !p->intervals) {
		p->last_seen = true; /* never had memory of its own (vfork) */
	}
	if (p->exited && WIFSIGNALED(p->status))
		p->end = "killed";
	p->done = true;
	if (s->multi)
		print_proc_end(s, p);
}

static bool status_line(const char *path, const char *key, char *val, size_t len)
{
	FILE *f = fopen(path, "re");
	char line[256];
	size_t kl = strlen(key);
	bool found = false;

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		if (!strncmp(line, key, kl) && line[kl] == ':') {
			char *v = line + kl + 1;

			v += strspn(v, " \t");
			v[strcspn(v, "\n")] = '\0';
			snprintf(val, len, "%s", v);
			found = true;
		}
	}
	fclose(f);
	return found;
}

static bool exit_stopped(struct session *s, pid_t t)
{
	for (size_t i = 0; i < s->ntids; i++)
		if (s->tids[i].tid == t)
			return s->tids[i].exiting;
	return false;
}

/* Thread t is exiting: a zombie, or PF_EXITING set (it took its SIGKILL
 * already: its SigPnd no longer shows it). */
static bool exiting(pid_t pid, pid_t t)
{
	char path[96], buf[512], *p;
	unsigned long flags = 0;
	char state = 0;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", (int)pid, (int)t);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return true; /* gone */
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return true;
	buf[n] = '\0';
	p = strrchr(buf, ')'); /* the name may hold anything */
	if (!p || sscanf(p + 1, " %c %*d %*d %*d %*d %*d %lu", &state, &flags) != 2)
		return false;
	return state == 'Z' || state == 'X' || (flags & 0x4); /* PF_EXITING */
}

/*
 * Is thread tid, stopped at its exit, the last of its process to run? True
 * when every other thread is gone, at its own exit stop (seen before
 * this one), exiting, or has SIGKILL pending (exit_group(2) and fatal
 * signals kill the others that way; some kernels give them no exit stop).
 * Each thread of a dying process stops at its exit in turn, so the last
 * of them to do so collects.
 */
static bool last_thread(struct session *s, pid_t pid, pid_t tid)
{
	char path[64], val[64];
	struct dirent *e;
	DIR *d;
	bool last = true;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	d = opendir(path);
	if (!d)
		return true;
	while (last && (e = readdir(d))) {
		pid_t t = (pid_t)atoi(e->d_name);
		char sp[96];

		if (t <= 0 || t == tid)
			continue;
		if (exit_stopped(s, t) || exiting(pid, t))
			continue;
		snprintf(sp, sizeof(sp), "/proc/%d/task/%d/status", (int)pid, (int)t);
		if (!status_line(sp, "SigPnd", val, sizeof(val)))
			continue; /* gone meanwhile */
		if (!(strtoull(val, NULL, 16) & (1ULL << (SIGKILL - 1))))
			last = false;
	}
	closedir(d);
	return last;
}

/* p's thread tid is at its exit stop, its memory still there: if the
 * process is ending, collect its last interval now. */
static void exit_stop(struct session *s, struct wproc *p, pid_t tid)
{
	double t;
	int err;

	for (size_t i = 0; i < s->ntids; i++)
		if (s->tids[i].tid == tid)
			s->tids[i].exiting = true;
	if (!p->open || !last_thread(s, p->pid, tid))
		return;
	t = now();
	/* the leader may be dead already (exit_group from another thread) */
	p->w.maps_tid = tid;
	err = pw_step(&p->w, on_run, p);
	p->w.maps_tid = 0;
	account(p, t, t - p->t_last, true);
	p->t_last = t;
	if (!err)
		p->last_seen = true;
	close_image(p);
}

/* p executed a new program (we are at its exec stop): the old address
 * space is gone; watch the new one from its first instruction. */
static void exec_stop(struct session *s, struct wproc *p)
{
	if (p->open) {
		/* what the old image wrote since the last collect went with it */
		p->unobserved++;
		close_image(p);
	}
	p->shares_mm = false;
	p->execs++;
	free(p->cmd);
	p->cmd = read_cmdline(p->pid);
	print_event(s, p, "exec");
	for (size_t i = 0; i < s->ntids;)
		if (s->tids[i].p == p)
			tid_del(s, s->tids[i].tid);
		else
			i++;
	watchdog_hold(s->dog, p->pid);
	kill(p->pid, SIGSTOP);
	ptrace(PTRACE_DETACH, p->pid, NULL, NULL);
	p->traced = false;
	adopt(s, p, false);
}

/* The first stop of a task we did not know: a new thread or process. */
static void new_task(struct session *s, pid_t tid)
{
	char path[64], val[64];
	pid_t tgid = 0, ppid = 0;
	struct wproc *p, *parent;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)tid);
	if (status_line(path, "Tgid", val, sizeof(val)))
		tgid = (pid_t)atoi(val);
	if (status_line(path, "PPid", val, sizeof(val)))
		ppid = (pid_t)atoi(val);
	if (tgid && tgid != tid) {
		/* a thread: its process's exit is seen at the last one */
		p = by_tid(s, tgid);
		if (p)
			tid_add(s, tid, p);
		ptrace(PTRACE_CONT, tid, NULL, NULL);
		return;
	}
	if (!s->o.children) {
		ptrace(PTRACE_DETACH, tid, NULL, NULL);
		return;
	}
	p = proc_new(s, tid, ppid);
	if (!p) {
		ptrace(PTRACE_DETACH, tid, NULL, NULL);
		return;
	}
	print_event(s, p, "fork");
	parent = by_tid(s, ppid);
	if (parent && syscall(SYS_kcmp, ppid, tid, KCMP_VM_, 0, 0) == 0) {
		/* vfork(2) or clone(CLONE_VM): its parent's memory, already
		 * watched there, until it executes a program of its own */
		p->shares_mm = true;
		p->traced = true;
		tid_add(s, tid, p);
		ptrace(PTRACE_CONT, tid, NULL, NULL);
		return;
	}
	watchdog_hold(s->dog, tid);
	kill(tid, SIGSTOP);
	ptrace(PTRACE_DETACH, tid, NULL, NULL);
	adopt(s, p, false);
}

static bool stop_signal(int sig)
{
	return sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU;
}

/* Handle every pending ptrace stop and death (run). */
static void reap(struct session *s)
{
	for (;;) {
		int st;
		pid_t tid = waitpid(-1, &st, __WALL | WNOHANG);
		struct wproc *p;
		int ev, sig;

		if (tid <= 0)
			return;
		p = by_tid(s, tid);
		if (WIFEXITED(st) || WIFSIGNALED(st)) {
			if (!p)
				continue; /* the watchdog, a helper, an untraced task */
			tid_del(s, tid);
			if (tid == p->pid && !p->done) {
				p->exited = true;
				p->status = st;
				finish(s, p);
			}
			continue;
		}
		if (!WIFSTOPPED(st))
			continue;
		ev = st >> 16;
		sig = WSTOPSIG(st);
		if (!p) {
			if (ev == PTRACE_EVENT_STOP)
				new_task(s, tid);
			else
				ptrace(PTRACE_CONT, tid, NULL, (void *)(long)(ev ? 0 : sig));
			continue;
		}
		switch (ev) {
		case PTRACE_EVENT_EXEC:
			exec_stop(s, p);
			break;
		case PTRACE_EVENT_EXIT:
			exit_stop(s, p, tid);
			ptrace(PTRACE_CONT, tid, NULL, NULL);
			break;
		case PTRACE_EVENT_STOP:
			/* a group-stop (Ctrl-Z, SIGSTOP): stay stopped, as
			 * without us; other traps: go on */
			if (stop_signal(sig))
				ptrace(PTRACE_LISTEN, tid, NULL, NULL);
			else
				ptrace(PTRACE_CONT, tid, NULL, NULL);
			break;
		case 0:
			if (sig == SIGSTOP && p->our_stop && tid == p->pid) {
				sig = 0; /* ours, overtaken by our SIGCONT */
			} else if (sig == SIGCONT && tid == p->pid) {
				p->our_stop = false; /* ours arrived: no stop of ours after it */
			}
			ptrace(PTRACE_CONT, tid, NULL, (void *)(long)sig);
			break;
		default: /* fork, vfork, clone: the new task stops on its own */
			ptrace(PTRACE_CONT, tid, NULL, NULL);
			break;
		}
	}
}

/* Stop tracing every task, each left as it would be without us. */
static void detach_all(struct session *s)
{
	double until = now() + 5;

	for (size_t i = 0; i < s->ntids; i++)
		ptrace(PTRACE_INTERRUPT, s->tids[i].tid, NULL, NULL);
	while (s->ntids && now() < until) {
		bool any = false;

		for (size_t i = 0; i < s->ntids;) {
			pid_t tid = s->tids[i].tid;
			int st, ev;
			pid_t r = waitpid(tid, &st, __WALL | WNOHANG);

			if (r == 0) {
				i++;
				continue;
			}
			any = true;
			if (r < 0 || WIFEXITED(st) || WIFSIGNALED(st)) {
				tid_del(s, tid);
				continue;
			}
			ev = st >> 16;
			ptrace(PTRACE_DETACH, tid, NULL, (void *)(long)(ev ? 0 : WSTOPSIG(st)));
			tid_del(s, tid);
		}
		if (!any)
			usleep(1000);
	}
	/* a task we could not stop is detached by our exit */
}

/* attach: the address space is gone. Exit or exec, for certain: an exited
 * process's pidfd is readable; an exec'd one has a new, non-empty one. */
static void attach_gone(struct session *s, struct wproc *p, int pidfd)
{
	char path[64], c;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)p->pid);
	while (!interrupted) {
		struct pollfd pfd = { pidfd, POLLIN, 0 };
		int fd;
		ssize_t n;

		if (pidfd >= 0 && poll(&pfd, 1, 0) == 1)
			break;
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			break;
		n = read(fd, &c, 1);
		close(fd);
		if (n == 1) {
			/* a new program: watch it (its writes until now are
			 * reported as first sight) */
			p->unobserved++;
			close_image(p);
			p->execs++;
			free(p->cmd);
			p->cmd = read_cmdline(p->pid);
			fprintf(stderr,
				"writewatch: process %d executed a new program: ", (int)p->pid);
			text_str(stderr, p->cmd);
			fputc('\n', stderr);
			print_event(s, p, "exec");
			if (open_watch(s, p, true) == 0) {
				double t = now();

				p->t_last = t;
				if (pw_step(&p->w, on_run, p) == 0) {
					account(p, t, 0, false);
					return;
				}
				close_image(p);
			}
			p->end = "exec";
			p->gone = true;
			return;
		}
		if (n < 0)
			break;
		/* empty: exiting, its memory released; the pidfd follows */
		if (pidfd < 0)
			break;
		poll(&pfd, 1, 100);
	}
	p->gone = true;
	p->end = "exited";
	if (p->open) {
		p->unobserved++;
		close_image(p);
	}
}

static bool watched(const struct session *s, pid_t pid)
{
	for (size_t i = 0; i < s->nprocs; i++)
		if (s->procs[i]->pid == pid && !s->procs[i]->gone && !s->procs[i]->done)
			return true;
	return false;
}

/* attach --children: watch every new child of a watched process, found in
 * /proc (not traced: one started and ended between two looks is missed,
 * and one is watched from when it is found, its writes until then counted
 * as first sight). */
static void find_children(struct session *s)
{
	DIR *d = opendir("/proc");
	struct dirent *e;

	while (d && (e = readdir(d))) {
		pid_t pid = (pid_t)atoi(e->d_name), ppid = 0;
		char path[64], buf[512], *p;
		struct wproc *c;
		ssize_t n;
		int fd;

		if (pid <= 0 || watched(s, pid))
			continue;
		snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n <= 0)
			continue;
		buf[n] = '\0';
		p = strrchr(buf, ')');
		if (!p || sscanf(p + 1, " %*c %d", &ppid) != 1 || !watched(s, ppid))
			continue;
		c = proc_new(s, pid, ppid);
		if (!c)
			continue;
		c->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
		print_event(s, c, "fork");
		if (open_watch(s, c, true) == 0) {
			double t = now();

			c->t_last = t;
			if (pw_step(&c->w, on_run, c) == 0) {
				account(c, t, 0, false);
				continue;
			}
			close_image(c);
		}
		c->gone = true;
		c->end = "unwatched";
		print_proc_end(s, c);
	}
	if (d)
		closedir(d);
}

/* One interval of every live process. */
static int tick(struct session *s)
{
	double t = now();
	int ret = 0;

	if (!s->run && s->o.attach_children)
		find_children(s);

	for (size_t i = 0; i < s->nprocs; i++) {
		struct wproc *p = s->procs[i];
		int err;

		if (p->done || p->gone || !p->open)
			continue;
		err = pw_step(&p->w, on_run, p);
		t = now();
		account(p, t, t - p->t_last, false);
		p->t_last = t;
		if (err == -ESRCH && !p->traced) {
			attach_gone(s, p, p->pidfd);
			if (p->gone && s->multi)
				print_proc_end(s, p);
		} else if (err && err != -ESRCH) {
			fprintf(stderr, "writewatch: watching process %d failed: %s\n", (int)p->pid,
				strerror(-err));
			ret = err;
		}
	}
	if (s->live)
		print_live(s, t - s->t0, s->o.interval);
	s->tick++;
	return ret;
}

static bool all_done(const struct session *s)
{
	for (size_t i = 0; i < s->nprocs; i++)
		if (!s->procs[i]->done && !s->procs[i]->gone)
			return false;
	return true;
}

static int watch(struct session *s)
{
	double next = s->t0 + s->o.interval;
	int pidfd = s->root->pidfd, err = 0;

	s->end = "exited";
	for (;;) {
		struct pollfd pfd = { s->run ? s->sigfd : pidfd, POLLIN, 0 };
		double t = now(), wake = next;
		bool readable = false;

		if (all_done(s))
			break;
		if (s->o.duration > 0 && s->t0 + s->o.duration < wake)
			wake = s->t0 + s->o.duration;
		if (wake > t && !interrupted) {
			/* at most a second per wait: any interval length is fine */
			double ms = fmin((wake - t) * 1000, 1000);

			readable = poll(&pfd, 1, (int)ceil(ms)) == 1;
		}
		if (s->run) {
			struct signalfd_siginfo si;

			while (read(s->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
				;
			reap(s);
		}
		t = now();
		if (interrupted) {
			s->end = "interrupted";
			err = tick(s);
			break;
		}
		if (s->o.duration > 0 && t >= s->t0 + s->o.duration) {
			s->end = "duration";
			err = tick(s);
			break;
		}
		if (t >= next || (!s->run && readable)) {
			err = tick(s);
			if (err) {
				s->end = "error";
				break;
			}
			next += s->o.interval;
			if (next < t)
				next = t + s->o.interval;
		}
	}
	s->elapsed = now() - s->t0;
	if (s->run)
		detach_all(s);
	if (!s->run && s->root->gone && !strcmp(s->end, "exited"))
		s->end = s->root->end;
	else if (s->run && !strcmp(s->end, "exited") && s->root->done)
		s->end = s->root->end;
	for (size_t i = 0; i < s->nprocs; i++) {
		struct wproc *p = s->procs[i];

		close_image(p);
		if (s->multi && !p->done && !p->gone) {
			p->end = s->end;
			p->last_seen = false;
			print_proc_end(s, p);
		}
	}
	for (size_t i = 0; i < s->nprocs; i++)
		if (s->procs[i]->pidfd >= 0)
			close(s->procs[i]->pidfd);
	print_summary(s);
	if (s->o.svg) {
		if (write_svg(s))
			err = -EIO;
		else if (!s->o.json && !s->live)
			fprintf(s->out, "  heatmap written to %s\n", s->o.svg);
	}
	flush(s);
	return err ? 1 : 0;
}

/* ---- options ------------------------------------------------------------ */

/* A finite number >= 0; with sizes, an optional K/M/G[i][B][/s] suffix. */
static bool parse_num(const char *arg, double *out, bool sizes)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(arg, &end);
	if (errno || end == arg || !isfinite(v) || v < 0)
		return false;
	if (sizes && *end) {
		double k = end[1] == 'i' ? 1024 : 1000;

		switch (*end) {
		case 'k':
		case 'K':
			v *= k;
			break;
		case 'M':
			v *= k * k;
			break;
		case 'G':
			v *= k * k * k;
			break;
		default:
			return false;
		}
		end += end[1] == 'i' ? 2 : 1;
		if (*end == 'B')
			end++;
		if (!strcmp(end, "/s"))
			end += 2;
	}
	if (!isfinite(v))
		return false;
	*out = v;
	return *end == '\0';
}

static bool add_range(struct pw_exclude *ex, const char *arg)
{
	char *end;
	unsigned long long lo, hi;
	uintptr_t *a, *b;

	errno = 0;
	lo = strtoull(arg, &end, 16);
	if (errno || end == arg || *end != '-')
		return false;
	arg = end + 1;
	hi = strtoull(arg, &end, 16);
	if (errno || end == arg || *end || hi <= lo || hi > UINTPTR_MAX)
		return false;
	a = realloc(ex->lo, (ex->nranges + 1) * sizeof(*a));
	if (!a)
		return false;
	ex->lo = a;
	b = realloc(ex->hi, (ex->nranges + 1) * sizeof(*b));
	if (!b)
		return false;
	ex->hi = b;
	ex->lo[ex->nranges] = (uintptr_t)lo;
	ex->hi[ex->nranges++] = (uintptr_t)hi;
	return true;
}

static bool add_name(struct pw_exclude *ex, const char *pat)
{
	const char **v = realloc(ex->names, (ex->nnames + 1) * sizeof(*v));

	if (!v)
		return false;
	ex->names = v;
	ex->names[ex->nnames++] = pat;
	return true;
}

static void usage(FILE *f, const char *cmd)
{
	bool run = !strcmp(cmd, "run");

	fprintf(f,
		"usage: writewatch %s [OPTIONS] %s\n"
		"  Watch which pages %s writes, interval by interval.\n"
		"  -i, --interval SEC       seconds per interval (default 1)\n"
		"  -d, --duration SEC       stop watching after SEC seconds (default: until it "
		"exits)\n"
		"  -o, --output FILE        write the report to FILE (default: %s)\n"
		"  -j, --json               JSON Lines: one object per interval, then a summary\n"
		"  -p, --plain              plain lines even on a terminal\n"
		"  -n, --top N              mappings shown in the live view (default 20)\n"
		"  -b, --backend NAME       mechanism (default auto: pagemap-scan, else "
		"soft-dirty)\n"
		"      --bandwidth RATE     migration link, bytes/s, suffix K/M/G[i] (default 1G)\n"
		"      --max-downtime MS    acceptable stop-and-copy time (default 300)\n"
		"      --svg FILE           write a heatmap of writes over time\n"
		"      --max-mapping SIZE   skip (and name) larger mappings (default: RAM size;\n"
		"                           0: no limit)\n"
		"      --exclude LO-HI      do not track mappings overlapping [LO, HI) (hex)\n"
		"      --exclude-name PAT   do not track mappings whose name matches PAT "
		"(glob)\n"
		"%s",
		cmd, run ? "-- CMD [ARGS...]" : "PID", run ? "CMD" : "process PID",
		run ? "standard error; standard output stays the command's" : "standard output",
		run ? "      --no-children        watch CMD only, not the processes it starts\n" :
		      "      --children           also watch the processes PID starts (found at each\n"
		      "                           interval)\n");
}

static int parse(int argc, char **argv, struct wopts *o, const char *cmd)
{
	static const struct option lo[] = {
		{ "interval", required_argument, NULL, 'i' },
		{ "duration", required_argument, NULL, 'd' },
		{ "output", required_argument, NULL, 'o' },
		{ "json", no_argument, NULL, 'j' },
		{ "plain", no_argument, NULL, 'p' },
		{ "top", required_argument, NULL, 'n' },
		{ "backend", required_argument, NULL, 'b' },
		{ "bandwidth", required_argument, NULL, 'B' },
		{ "max-downtime", required_argument, NULL, 'D' },
		{ "svg", required_argument, NULL, 's' },
		{ "max-mapping", required_argument, NULL, 'M' },
		{ "exclude", required_argument, NULL, 'x' },
		{ "exclude-name", required_argument, NULL, 'X' },
		{ "no-children", no_argument, NULL, 'C' },
		{ "children", no_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	double v;
	int c;

	*o = (struct wopts){
		.interval = 1, .bandwidth = 1e9, .max_downtime_ms = 300, .top = 20, .children = true
	};
	/* default: the machine's RAM; a larger mapping is a sparse reservation */
	o->max_mapping = (double)sysconf(_SC_PHYS_PAGES) * (double)sysconf(_SC_PAGESIZE);
	while ((c = getopt_long(argc, argv, "+i:d:o:jpn:b:h", lo, NULL)) != -1) {
		switch (c) {
		case 'i':
			if (!parse_num(optarg, &o->interval, false) || o->interval < 0.01)
				goto bad;
			break;
		case 'd':
			if (!parse_num(optarg, &o->duration, false))
				goto bad;
			break;
		case 'o':
			o->output = optarg;
			break;
		case 'j':
			o->json = true;
			break;
		case 'p':
			o->plain = true;
			break;
		case 'n':
			if (!parse_num(optarg, &v, false) || v < 1 || v > 1e6)
				goto bad;
			o->top = (int)v;
			break;
		case 'b':
			if (ww_backend_from_name(optarg, &o->backend) < 0) {
				fprintf(stderr, "writewatch %s: unknown backend '%s'\n", cmd,
					optarg);
				return -1;
			}
			break;
		case 'B':
			if (!parse_num(optarg, &o->bandwidth, true) || o->bandwidth <= 0)
				goto bad;
			break;
		case 'D':
			if (!parse_num(optarg, &o->max_downtime_ms, false))
				goto bad;
			break;
		case 's':
			o->svg = optarg;
			break;
		case 'M':
			if (!parse_num(optarg, &o->max_mapping, true) ||
			    o->max_mapping >= 18446744073709551615.0)
				goto bad;
			break;
		case 'x':
			if (!add_range(&o->ex, optarg))
				goto bad;
			break;
		case 'X':
			if (!add_name(&o->ex, optarg))
				goto bad;
			break;
		case 'C':
			if (strcmp(cmd, "run"))
				goto unknown;
			o->children = false;
			break;
		case 'c':
			o->children = true; /* run: the default */
			o->attach_children = !strcmp(cmd, "attach");
			break;
		case 'h':
			usage(stdout, cmd);
			return 1;
		default:
			goto unknown;
		}
	}
	return 0;
unknown:
	usage(stderr, cmd);
	return -1;
bad:
	fprintf(stderr, "writewatch %s: bad value '%s' for %s\n", cmd, optarg, argv[optind - 1]);
	return -1;
}

/* The report's destination: --output, else standard output for attach
 * and standard error for run (standard output is the command's). Fully
 * buffered and flushed per record: one write(2) each. */
static int open_output(struct session *s)
{
	int fd;

	if (s->o.output && strcmp(s->o.output, "-"))
		s->out = fopen(s->o.output, "we");
	else if (s->o.output || !s->run)
		s->out = stdout;
	else if ((fd = fcntl(2, F_DUPFD_CLOEXEC, 3)) >= 0)
		s->out = fdopen(fd, "w");
	if (!s->out) {
		fprintf(stderr, "writewatch: cannot write %s: %s\n",
			s->o.output ? s->o.output : "the report", strerror(errno));
		return -1;
	}
	setvbuf(s->out, NULL, _IOFBF, 1 << 16);
	s->live = !s->o.json && !s->o.plain && isatty(fileno(s->out));
	return 0;
}

/* 0, or 1 when the report could not be written (a full disk, a closed
 * standard output): the report is the result, its loss a failure. */
static int close_output(struct session *s)
{
	bool bad = s->out_failed;

	if (s->out == stdout)
		bad |= fflush(stdout) != 0 || ferror(stdout);
	else
		bad |= fclose(s->out) != 0;
	s->out = NULL;
	if (bad)
		fprintf(stderr, "writewatch: cannot write the report%s%s\n",
			s->o.output ? " to " : "", s->o.output ? s->o.output : "");
	return bad ? 1 : 0;
}

static void free_session(struct session *s)
{
	for (size_t i = 0; i < s->nprocs; i++) {
		struct wproc *p = s->procs[i];

		for (size_t j = 0; j < p->nmaps; j++)
			free(p->maps[j].name);
		free(p->maps);
		free(p->cmd);
		free(p);
	}
	free(s->procs);
	free(s->tids);
	free(s->recs);
	free(s->o.ex.lo);
	free(s->o.ex.hi);
	free(s->o.ex.names);
}

static void signals(struct sigaction *old_int, struct sigaction *old_term, bool restore)
{
	struct sigaction sa = { .sa_handler = on_sigint };

	if (restore) {
		sigaction(SIGINT, old_int, NULL);
		sigaction(SIGTERM, old_term, NULL);
		return;
	}
	sigaction(SIGINT, &sa, old_int);
	sigaction(SIGTERM, &sa, old_term);
}

int cmd_attach(int argc, char **argv)
{
	struct session s = { 0 };
	struct sigaction oi, ot;
	char *end;
	long pid;
	int r = parse(argc, argv, &s.o, "attach");

	if (r)
		return r > 0 ? 0 : 2;
	if (optind != argc - 1) {
		usage(stderr, "attach");
		free_session(&s);
		return 2;
	}
	errno = 0;
	pid = strtol(argv[optind], &end, 10);
	if (errno || *end || pid <= 0 || pid > INT_MAX || pid == getpid()) {
		fprintf(stderr, "writewatch attach: '%s' is not another process's id\n",
			argv[optind]);
		free_session(&s);
		return 2;
	}
	if (open_output(&s)) {
		free_session(&s);
		return 1;
	}
	s.multi = s.o.attach_children;
	s.root = proc_new(&s, (pid_t)pid, 0);
	if (s.root)
		s.root->pidfd = (int)syscall(SYS_pidfd_open, s.root->pid, 0);
	if (!s.root || open_watch(&s, s.root, false)) {
		close_output(&s);
		free_session(&s);
		return 1;
	}
	signals(&oi, &ot, false);
	s.t0 = now();
	s.root->t_last = s.t0;
	/* interval 0: what the mappings held when first seen */
	r = pw_step(&s.root->w, on_run, s.root);
	account(s.root, s.t0, 0, false);
	if (s.live)
		print_live(&s, 0, 0);
	s.tick++;
	if (r == -ESRCH)
		attach_gone(&s, s.root, s.root->pidfd);
	r = watch(&s);
	signals(&oi, &ot, true);
	r |= close_output(&s);
	free_session(&s);
	return r ? 1 : 0;
}

int cmd_run(int argc, char **argv)
{
	struct session s = { 0 };
	struct sigaction oi, ot;
	sigset_t chld, old;
	pid_t pid;
	int r = parse(argc, argv, &s.o, "run"), st;

	if (r)
		return r > 0 ? 0 : 2;
	if (optind >= argc) {
		usage(stderr, "run");
		free_session(&s);
		return 2;
	}
	s.run = true;
	s.multi = true;
	if (open_output(&s)) {
		free_session(&s);
		return 1;
	}
	/* ptrace stops and deaths arrive as SIGCHLD on a signalfd */
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, &old);
	s.sigfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
	s.dog = watchdog_start();
	if (s.sigfd < 0 || !s.dog) {
		fprintf(stderr, "writewatch run: cannot start: %s\n", strerror(errno));
		r = 1;
		goto out;
	}
	pid = spawn_stopped(argv + optind, s.dog, &old);
	if (pid < 0) {
		r = 1;
		goto out;
	}
	s.root = proc_new(&s, pid, getpid());
	signals(&oi, &ot, false);
	s.t0 = now();
	if (!s.root || adopt(&s, s.root, true)) {
		/* it has not run a single instruction: end it rather than run
		 * it unwatched */
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
		watchdog_release(s.dog, pid);
		signals(&oi, &ot, true);
		r = 1;
		goto out;
	}
	if (s.live)
		print_live(&s, 0, 0);
	s.tick++;
	r = watch(&s);
	signals(&oi, &ot, true);
	if (!r && s.root->exited)
		r = WIFEXITED(s.root->status) ? WEXITSTATUS(s.root->status) :
						128 + WTERMSIG(s.root->status);
out:
	watchdog_stop(s.dog);
	if (s.sigfd > 0)
		close(s.sigfd);
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (close_output(&s))
		r = 1;
	free_session(&s);
	return r;
}
