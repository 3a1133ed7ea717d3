/* SPDX-License-Identifier: MIT */
/*
 * The report of `writewatch run` and `attach`: per interval and per event,
 * as a live view, plain lines or JSON Lines, and the closing summary with
 * the migration estimate. Everything a watched process controls (its
 * command line, mapping names) is escaped on the way out.
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model.h"
#include "util.h"
#include "watch.h"

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
void flush(struct session *s)
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
/* One mapping of an interval's JSON record (a name it controls: escaped). */
static void json_mapping(FILE *f, bool *first, uintptr_t start, uintptr_t end, const char *name,
			 size_t written, bool gone)
{
	fprintf(f, "%s{\"start\": \"0x%" PRIxPTR "\", \"end\": \"0x%" PRIxPTR "\", \"name\": ",
		*first ? "" : ", ", start, end);
	json_str(f, name ? name : "");
	fprintf(f, ", \"written_pages\": %zu%s}", written, gone ? ", \"gone\": true" : "");
	*first = false;
}

void print_interval(struct session *s, struct wproc *p, double t, double dt, bool last)
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

			if (m->written)
				json_mapping(f, &first, m->start, m->end, m->name, m->written,
					     false);
		}
		for (size_t i = 0; i < p->w.ngone; i++) {
			const struct pw_gone *g = &p->w.gone[i];

			json_mapping(f, &first, g->start, g->end, g->name, g->written, true);
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
void print_event(struct session *s, struct wproc *p, const char *what)
{
	FILE *f = s->out;
	double t = now_s() - s->t0;

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
void print_proc_end(struct session *s, struct wproc *p)
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
void print_live(struct session *s, double t, double dt)
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

void print_summary(struct session *s)
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
