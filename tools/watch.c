/* SPDX-License-Identifier: MIT */
/*
 * `writewatch run -- CMD...` and `writewatch attach PID`: watch another
 * process's writes, interval by interval, as a live view, plain lines or
 * JSON Lines, then a summary with the write working set, dirty rates and a
 * pre-copy live-migration estimate; optionally an SVG heatmap. `run` starts
 * CMD stopped at its first instruction (see spawn_stopped()), registers its
 * mappings and only then lets it go.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "procwatch.h"
#include "util.h"
#include "writewatch.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

struct wopts {
	double interval, duration, bandwidth, max_downtime_ms, max_mapping;
	bool json, plain;
	int top;
	const char *svg;
	enum ww_backend backend;
};

/* What the SVG needs: each written run with its interval. */
struct rec {
	int interval, id;
	size_t page, n;
};

struct mapinfo {
	uintptr_t start;
	size_t pages;
	char *name;
	bool written;
};

struct session {
	struct wopts o;
	pid_t pid;
	bool child; /* started by run */
	int pidfd;
	struct procwatch w;
	const char *mechanism;
	int interval; /* index of the current interval */
	size_t iv_written; /* pages in the current interval */
	size_t total; /* sum of per-interval pages */
	double peak_rate, elapsed; /* bytes/s; seconds watched */
	struct rec *recs;
	size_t nrecs, caprecs;
	struct mapinfo *maps; /* by id */
	size_t nmaps;
	const char *end; /* why the session ended */
	int status; /* wait status when the child exited */
	bool exited;
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

static void on_run(const struct pw_map *m, size_t page, size_t n, void *ctx)
{
	struct session *s = ctx;

	s->iv_written += n;
	if ((size_t)m->id >= s->nmaps) {
		size_t c = (size_t)m->id + 64;
		struct mapinfo *p = realloc(s->maps, c * sizeof(*p));

		if (!p)
			return;
		memset(p + s->nmaps, 0, (c - s->nmaps) * sizeof(*p));
		s->maps = p;
		s->nmaps = c;
	}
	if (!s->maps[m->id].name) {
		s->maps[m->id].start = m->start;
		s->maps[m->id].pages = (m->end - m->start) / s->w.ps;
		s->maps[m->id].name = strdup(m->name ? m->name : "");
	}
	s->maps[m->id].written = true;
	if (!s->o.svg)
		return;
	if (s->nrecs == s->caprecs) {
		size_t c = s->caprecs ? s->caprecs * 2 : 1024;
		struct rec *p = realloc(s->recs, c * sizeof(*p));

		if (!p)
			return;
		s->recs = p;
		s->caprecs = c;
	}
	s->recs[s->nrecs++] = (struct rec){ s->interval, m->id, page, n };
}

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

static size_t ws_alive(const struct session *s)
{
	size_t n = 0;

	for (size_t i = 0; i < s->w.n; i++)
		n += s->w.maps[i].ever;
	return n;
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

static void print_interval(struct session *s, double t, double dt)
{
	size_t ps = s->w.ps, ws = ws_alive(s) + s->w.ws_forgotten;
	double rate = dt > 0 ? (double)s->iv_written * (double)ps / dt : 0;
	char a[32], b[32], c[32];

	if (s->o.json) {
		bool first = true;

		printf("{\"t\": %.3f, \"pid\": %d, \"interval_s\": %.3f, \"written_pages\": %zu, "
		       "\"written_bytes\": %zu, \"mappings\": [",
		       t, (int)s->pid, dt, s->iv_written, s->iv_written * ps);
		for (size_t i = 0; i < s->w.n; i++) {
			const struct pw_map *m = &s->w.maps[i];

			if (!m->written)
				continue;
			printf("%s{\"start\": \"0x%" PRIxPTR "\", \"end\": \"0x%" PRIxPTR
			       "\", \"name\": ",
			       first ? "" : ", ", m->start, m->end);
			json_str(stdout, m->name ? m->name : "");
			printf(", \"written_pages\": %zu}", m->written);
			first = false;
		}
		printf("]}\n");
		fflush(stdout);
		return;
	}
	human(a, sizeof(a), (double)s->iv_written * (double)ps);
	human(b, sizeof(b), rate);
	human(c, sizeof(c), (double)ws * (double)ps);
	if (s->o.plain) {
		printf("t=%.1fs pid=%d written=%zu pages (%s) rate=%s/s working-set=%zu pages "
		       "(%s)\n",
		       t, (int)s->pid, s->iv_written, a, b, ws, c);
		for (size_t i = 0; i < s->w.n; i++) {
			const struct pw_map *m = &s->w.maps[i];

			if (m->written)
				printf("  0x%" PRIxPTR " %8zu pages  written %zu  %s\n", m->start,
				       (m->end - m->start) / ps, m->written,
				       m->name && *m->name ? m->name : "[anon]");
		}
		fflush(stdout);
		return;
	}
	/* live view: redraw the screen */
	{
		const struct pw_map **v = malloc(s->w.n * sizeof(*v));
		char p[32], sz[32], r[32], e[32];
		size_t k = 0;

		printf("\033[H\033[2J");
		human(p, sizeof(p), s->peak_rate);
		printf("writewatch  pid %d  %s  t=%.1fs  interval %.1fs  (Ctrl-C to stop)\n",
		       (int)s->pid, s->mechanism, t, dt);
		printf("written %zu pages (%s), rate %s/s, peak %s/s, working set %zu pages "
		       "(%s)\n\n",
		       s->iv_written, a, b, p, ws, c);
		printf("%-18s %10s %9s %11s %10s  %s\n", "START", "SIZE", "WRITTEN", "RATE", "WSET",
		       "MAPPING");
		for (size_t i = 0; v && i < s->w.n; i++)
			if (s->w.maps[i].tracked)
				v[k++] = &s->w.maps[i];
		if (v)
			qsort(v, k, sizeof(*v), by_written);
		for (size_t i = 0; v && i < k && (int)i < s->o.top; i++) {
			const struct pw_map *m = v[i];

			human(sz, sizeof(sz), (double)(m->end - m->start));
			human(r, sizeof(r), dt > 0 ? (double)m->written * (double)ps / dt : 0);
			human(e, sizeof(e), (double)m->ever * (double)ps);
			printf("0x%-16" PRIxPTR " %10s %9zu %9s/s %10s  %s\n", m->start, sz,
			       m->written, r, e, m->name && *m->name ? m->name : "[anon]");
		}
		free(v);
		fflush(stdout);
	}
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
	size_t ps = s->w.ps, ws = s->w.ws_forgotten;
	double mean = s->elapsed > 0 ? (double)s->total * (double)ps / s->elapsed : 0;
	struct migration m =
		migrate((double)ws * (double)ps, mean, s->o.bandwidth, s->o.max_downtime_ms / 1000);
	char a[32], b[32], c[32], d[32];

	if (s->o.json) {
		printf("{\"summary\": {\"pid\": %d, \"mechanism\": \"%s\", \"end\": \"%s\", "
		       "\"duration_s\": %.3f, \"intervals\": %d, \"page_size\": %zu, "
		       "\"written_pages_total\": %zu, \"working_set_pages\": %zu, "
		       "\"working_set_bytes\": %zu, \"peak_dirty_rate_bytes_s\": %.0f, "
		       "\"mean_dirty_rate_bytes_s\": %.0f",
		       (int)s->pid, s->mechanism, s->end, s->elapsed, s->interval, ps, s->total, ws,
		       ws * ps, s->peak_rate, mean);
		printf(", \"unwatched_mappings\": %zu", s->w.skipped);
		if (s->exited && WIFEXITED(s->status))
			printf(", \"exit_status\": %d", WEXITSTATUS(s->status));
		else if (s->exited && WIFSIGNALED(s->status))
			printf(", \"exit_signal\": %d", WTERMSIG(s->status));
		printf(", \"migration\": {\"bandwidth_bytes_s\": %.0f, \"max_downtime_ms\": %.0f, "
		       "\"converges\": %s, \"precopy_rounds\": %d, \"precopy_bytes\": %.0f, "
		       "\"stop_copy_pages\": %.0f, \"stop_copy_bytes\": %.0f, \"stop_copy_ms\": "
		       "%.1f}}}\n",
		       s->o.bandwidth, s->o.max_downtime_ms, m.converges ? "true" : "false",
		       m.rounds, m.copied, ceil(m.stop_bytes / (double)ps), m.stop_bytes,
		       m.stop_ms);
		fflush(stdout);
		return;
	}
	human(a, sizeof(a), (double)ws * (double)ps);
	human(b, sizeof(b), s->peak_rate);
	human(c, sizeof(c), mean);
	/* link speeds are decimal: 1G is 1 GB/s */
	snprintf(d, sizeof(d), "%.3g %sB",
		 s->o.bandwidth >= 1e9 ? s->o.bandwidth / 1e9 : s->o.bandwidth / 1e6,
		 s->o.bandwidth >= 1e9 ? "G" : "M");
	printf("\nsummary: pid %d, %s, %s after %.1fs (%d intervals)\n", (int)s->pid, s->mechanism,
	       s->end, s->elapsed, s->interval);
	printf("  write working set  %zu pages (%s)\n", ws, a);
	if (s->w.skipped)
		printf("  not watched        %zu mapping%s over --max-mapping (see above)\n",
		       s->w.skipped, s->w.skipped == 1 ? "" : "s");
	printf("  dirty rate         peak %s/s, mean %s/s\n", b, c);
	human(a, sizeof(a), m.stop_bytes);
	printf("  live migration at %s/s: %d pre-copy round%s, then stop-and-copy of %.0f pages "
	       "(%s, %.1f ms)%s\n",
	       d, m.rounds, m.rounds == 1 ? "" : "s", ceil(m.stop_bytes / (double)ps), a, m.stop_ms,
	       m.converges ? "" : ": does NOT converge (dirty rate too close to the bandwidth)");
	fflush(stdout);
}

static int write_svg(struct session *s)
{
	const int H = 400, W = 800, left = 170, top = 40;
	size_t total = 0, *base, buckets = (size_t)H, per;
	int cols = s->interval > 0 ? s->interval : 1;
	double colw = (double)W / cols, *cell;
	FILE *f = fopen(s->o.svg, "we");

	if (!f) {
		fprintf(stderr, "writewatch: cannot write %s: %s\n", s->o.svg, strerror(errno));
		return -1;
	}
	/* y: the written mappings stacked in address order */
	base = calloc(s->nmaps + 1, sizeof(*base));
	for (size_t i = 0; i < s->nmaps; i++)
		if (s->maps[i].written)
			total += s->maps[i].pages;
	if (!total)
		total = 1;
	per = (total + buckets - 1) / buckets;
	cell = calloc(buckets * (size_t)cols, sizeof(*cell));
	if (!base || !cell) {
		fclose(f);
		free(base);
		free(cell);
		return -1;
	}
	{
		/* order by start address */
		size_t at = 0;

		for (;;) {
			size_t pick = SIZE_MAX;

			for (size_t i = 0; i < s->nmaps; i++)
				if (s->maps[i].written && !base[i] &&
				    (pick == SIZE_MAX || s->maps[i].start < s->maps[pick].start))
					pick = i;
			if (pick == SIZE_MAX)
				break;
			base[pick] = at + 1; /* 0 means unplaced */
			at += s->maps[pick].pages;
		}
	}
	for (size_t i = 0; i < s->nrecs; i++) {
		const struct rec *r = &s->recs[i];
		size_t y0 = base[r->id] - 1 + r->page;

		if (r->interval >= cols)
			continue;
		for (size_t p = y0; p < y0 + r->n; p++)
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
		left + W + 20, top + H + 50, left, (int)s->pid, s->mechanism, s->o.interval, left,
		top, W, H);
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
	for (size_t i = 0; i < s->nmaps; i++) {
		double y;

		if (!s->maps[i].written)
			continue;
		y = top + (double)(base[i] - 1) / (double)per * H / (double)buckets;
		fprintf(f,
			"<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#888\"/>\n"
			"<text x=\"4\" y=\"%.1f\">",
			left - 5, left + W, y, y, y + 10);
		for (const char *c = s->maps[i].name && *s->maps[i].name ? s->maps[i].name :
									   "[anon]";
		     *c; c++) {
			if (*c == '<')
				fputs("&lt;", f);
			else if (*c == '&')
				fputs("&amp;", f);
			else if (*c == '>')
				fputs("&gt;", f);
			else
				fputc(*c, f);
		}
		fprintf(f, " 0x%" PRIxPTR "</text>\n", s->maps[i].start);
	}
	fprintf(f,
		"<text x=\"%d\" y=\"%d\">0 s</text><text x=\"%d\" y=\"%d\" "
		"text-anchor=\"end\">%.1f s (time)</text>\n</svg>\n",
		left, top + H + 20, left + W, top + H + 20, s->elapsed);
	free(base);
	free(cell);
	return fclose(f) ? -1 : 0;
}

static bool child_gone(struct session *s)
{
	if (s->child) {
		pid_t r = waitpid(s->pid, &s->status, WNOHANG);

		if (r == s->pid && (WIFEXITED(s->status) || WIFSIGNALED(s->status))) {
			s->exited = true;
			return true;
		}
		return r < 0 && errno == ECHILD;
	}
	return kill(s->pid, 0) < 0 && errno == ESRCH;
}

static int watch(struct session *s)
{
	double t0 = now(), last = t0, next = t0 + s->o.interval;
	struct sigaction sa = { .sa_handler = on_sigint }, old_int, old_term;
	int err;

	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	s->pidfd = (int)syscall(SYS_pidfd_open, s->pid, 0);
	s->end = "exited";
	/* Registers every mapping; their pages count in the first interval. */
	err = pw_step(&s->w, on_run, s);
	if (s->child)
		kill(s->pid, SIGCONT);
	if (!err) {
		/* Interval 0 (t = 0, length 0): what the mappings held when
		 * first seen; later intervals are writes we saw happen. */
		print_interval(s, 0, 0);
		s->interval++;
		s->iv_written = 0;
		pw_clear_written(&s->w);
	}
	while (!err) {
		struct pollfd pfd = { s->pidfd, POLLIN, 0 };
		double t = now(), dt;
		bool gone = false;

		if (next > t && !interrupted) {
			int ms = (int)((next - t) * 1000) + 1;

			if (s->pidfd >= 0) {
				if (poll(&pfd, 1, ms) == 1)
					gone = true;
			} else {
				usleep((useconds_t)ms * 1000);
			}
		}
		err = pw_step(&s->w, on_run, s);
		t = now();
		dt = t - last;
		last = t;
		next += s->o.interval;
		if (next < t)
			next = t + s->o.interval;
		if (err == -ESRCH || gone) {
			/* a readable pidfd means it exited, even if it is a
			 * zombie nobody has reaped yet */
			gone = child_gone(s) || gone;
			if (gone && s->child && !s->exited &&
			    waitpid(s->pid, &s->status, 0) == s->pid)
				s->exited = true;
			if (!gone && err == -ESRCH) {
				s->end = "exec";
				fprintf(stderr,
					"writewatch: process %d executed a new program: its address "
					"space is gone, ending the session\n",
					(int)s->pid);
			}
		}
		s->total += s->iv_written;
		if (dt > 0 && (double)s->iv_written * (double)s->w.ps / dt > s->peak_rate)
			s->peak_rate = (double)s->iv_written * (double)s->w.ps / dt;
		s->elapsed = t - t0;
		print_interval(s, t - t0, dt);
		s->interval++;
		s->iv_written = 0;
		pw_clear_written(&s->w);
		if (gone || err == -ESRCH) {
			err = 0;
			break;
		}
		if (err) {
			fprintf(stderr, "writewatch: watching process %d failed: %s\n", (int)s->pid,
				strerror(-err));
			s->end = "error";
			break;
		}
		if (interrupted) {
			s->end = "interrupted";
			break;
		}
		if (s->o.duration > 0 && t - t0 >= s->o.duration - 1e-3) {
			s->end = "duration";
			break;
		}
	}
	pw_close(&s->w); /* now ws_forgotten is the whole working set */
	if (s->pidfd >= 0)
		close(s->pidfd);
	print_summary(s);
	if (s->o.svg && write_svg(s) == 0 && !s->o.json)
		printf("  heatmap written to %s\n", s->o.svg);
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	for (size_t i = 0; i < s->nmaps; i++)
		free(s->maps[i].name);
	free(s->maps);
	free(s->recs);
	return err ? 1 : 0;
}

static bool parse_num(const char *arg, double *out, bool sizes)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(arg, &end);
	if (errno || end == arg || v < 0)
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
	*out = v;
	return *end == '\0';
}

static void usage(FILE *f, const char *cmd)
{
	fprintf(f,
		"usage: writewatch %s [OPTIONS] %s\n"
		"  Watch which pages %s writes, interval by interval.\n"
		"  -i, --interval SEC       seconds per interval (default 1)\n"
		"  -d, --duration SEC       stop watching after SEC seconds (default: until it "
		"exits)\n"
		"  -j, --json               JSON Lines: one object per interval, then a summary\n"
		"  -p, --plain              plain lines even on a terminal\n"
		"  -n, --top N              mappings shown in the live view (default 20)\n"
		"  -b, --backend NAME       mechanism (default auto: pagemap-scan, else "
		"soft-dirty)\n"
		"      --bandwidth RATE     migration link, bytes/s, suffix K/M/G[i] (default 1G)\n"
		"      --max-downtime MS    acceptable stop-and-copy time (default 300)\n"
		"      --svg FILE           write a heatmap of writes over time\n"
		"      --max-mapping SIZE   skip (and name) larger mappings (default: RAM size;\n"
		"                           0: no limit)\n",
		cmd, strcmp(cmd, "run") ? "PID" : "-- CMD [ARGS...]",
		strcmp(cmd, "run") ? "process PID" : "CMD");
}

static int parse(int argc, char **argv, struct wopts *o, const char *cmd)
{
	static const struct option lo[] = {
		{ "interval", required_argument, NULL, 'i' },
		{ "duration", required_argument, NULL, 'd' },
		{ "json", no_argument, NULL, 'j' },
		{ "plain", no_argument, NULL, 'p' },
		{ "top", required_argument, NULL, 'n' },
		{ "backend", required_argument, NULL, 'b' },
		{ "bandwidth", required_argument, NULL, 'B' },
		{ "max-downtime", required_argument, NULL, 'D' },
		{ "svg", required_argument, NULL, 's' },
		{ "max-mapping", required_argument, NULL, 'M' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	double v;
	int c;

	*o = (struct wopts){ .interval = 1, .bandwidth = 1e9, .max_downtime_ms = 300, .top = 20 };
	/* default: the machine's RAM; a larger mapping is a sparse reservation */
	o->max_mapping = (double)sysconf(_SC_PHYS_PAGES) * (double)sysconf(_SC_PAGESIZE);
	while ((c = getopt_long(argc, argv, "+i:d:jpn:b:h", lo, NULL)) != -1) {
		switch (c) {
		case 'i':
			if (!parse_num(optarg, &o->interval, false) || o->interval < 0.01)
				goto bad;
			break;
		case 'd':
			if (!parse_num(optarg, &o->duration, false))
				goto bad;
			break;
		case 'j':
			o->json = true;
			break;
		case 'p':
			o->plain = true;
			break;
		case 'n':
			if (!parse_num(optarg, &v, false) || v < 1)
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
			if (!parse_num(optarg, &o->max_mapping, true))
				goto bad;
			break;
		case 'h':
			usage(stdout, cmd);
			return 1;
		default:
			usage(stderr, cmd);
			return -1;
		}
	}
	if (!isatty(1))
		o->plain = true;
	return 0;
bad:
	fprintf(stderr, "writewatch %s: bad value '%s' for -%c\n", cmd, optarg, c);
	return -1;
}

static int open_watch(struct session *s)
{
	char why[256] = "";
	int err = pw_open(&s->w, s->pid, s->o.backend);

	if (err) {
		fprintf(stderr, "writewatch: cannot watch process %d: %s\n", (int)s->pid,
			strerror(-err));
		/* say why, per mechanism: the reasons name what is missing */
		for (int b = 1; b < WW_BACKEND_COUNT; b++) {
			if (s->o.backend != WW_BACKEND_AUTO && b != (int)s->o.backend)
				continue;
			if (ww_backend_probe((enum ww_backend)b, s->pid, why, sizeof(why)) &&
			    (s->o.backend != WW_BACKEND_AUTO ||
			     !strstr(why, "cannot track another")))
				fprintf(stderr, "  %s: %s\n", ww_backend_name((enum ww_backend)b),
					why);
		}
		return err;
	}
	s->mechanism = ww_backend_name(ww_tracker_backend(s->w.t));
	s->w.max_bytes = (size_t)s->o.max_mapping;
	return 0;
}

int cmd_attach(int argc, char **argv)
{
	struct session s = { 0 };
	char *end;
	long pid;
	int r = parse(argc, argv, &s.o, "attach");

	if (r)
		return r > 0 ? 0 : 2;
	if (optind != argc - 1) {
		usage(stderr, "attach");
		return 2;
	}
	pid = strtol(argv[optind], &end, 10);
	if (*end || pid <= 0 || pid == getpid()) {
		fprintf(stderr, "writewatch attach: '%s' is not another process's id\n",
			argv[optind]);
		return 2;
	}
	s.pid = (pid_t)pid;
	if (open_watch(&s))
		return 1;
	return watch(&s);
}

/*
 * Start argv stopped at its first instruction, not traced. The child stops
 * itself before exec; we seize it with PTRACE_O_TRACEEXEC (an exec event
 * stop, no SIGTRAP that could kill it if we die), let it exec, queue a
 * SIGSTOP at the exec stop and detach: it stops before returning to user
 * space. If writewatch dies at any point, PDEATHSIG SIGCONT lets the
 * command go on unwatched (SIGCONT is harmless when it fires later, at
 * writewatch's normal exit).
 */
static pid_t spawn_stopped(char **argv)
{
	int ep[2], st, e = 0;
	pid_t pid, parent;

	if (pipe2(ep, O_CLOEXEC))
		return -1;
	parent = getpid();
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		close(ep[0]);
		prctl(PR_SET_PDEATHSIG, SIGCONT);
		if (getppid() != parent)
			_exit(127); /* writewatch is gone already */
		raise(SIGSTOP);
		execvp(argv[0], argv);
		e = errno;
		if (write(ep[1], &e, sizeof(e)) < 0)
			_exit(126);
		_exit(127);
	}
	close(ep[1]);
	if (waitpid(pid, &st, WUNTRACED) != pid || !WIFSTOPPED(st) ||
	    ptrace(PTRACE_SEIZE, pid, NULL, (void *)(long)PTRACE_O_TRACEEXEC) < 0) {
		e = errno;
		goto fail;
	}
	kill(pid, SIGCONT);
	for (;;) {
		int sig = 0;

		if (waitpid(pid, &st, __WALL) != pid || !WIFSTOPPED(st))
			goto fail; /* exec failed: the errno is in the pipe */
		if ((st >> 16) == PTRACE_EVENT_EXEC)
			break;
		if ((st >> 16) == 0 && WSTOPSIG(st) != SIGSTOP)
			sig = WSTOPSIG(st); /* pass signals on, but not our SIGSTOP */
		ptrace(PTRACE_CONT, pid, NULL, (void *)(long)sig);
	}
	close(ep[0]);
	/* The SIGSTOP is queued with kill() before a plain detach, not passed
	 * to PTRACE_DETACH: a SIGCONT generated later (the parent-death
	 * signal, if writewatch is killed now) discards a pending SIGSTOP,
	 * whereas one handed over by the detach would be acted on after it
	 * and leave the command stopped for good. */
	kill(pid, SIGSTOP);
	ptrace(PTRACE_DETACH, pid, NULL, NULL);
	while (waitpid(pid, &st, WUNTRACED) == pid && !WIFSTOPPED(st)) {
		if (WIFEXITED(st) || WIFSIGNALED(st))
			return -1;
	}
	return pid;
fail:
	if (read(ep[0], &e, sizeof(e)) <= 0 && !e)
		e = ECHILD;
	fprintf(stderr, "writewatch run: cannot run %s: %s\n", argv[0], strerror(e));
	close(ep[0]);
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	return -1;
}

int cmd_run(int argc, char **argv)
{
	struct session s = { 0 };
	int r = parse(argc, argv, &s.o, "run"), st;

	if (r)
		return r > 0 ? 0 : 2;
	if (optind >= argc) {
		usage(stderr, "run");
		return 2;
	}
	s.child = true;
	s.pid = spawn_stopped(argv + optind);
	if (s.pid < 0)
		return 1;
	if (open_watch(&s)) {
		/* it has not run a single instruction: end it rather than run
		 * it unwatched */
		kill(s.pid, SIGKILL);
		waitpid(s.pid, &st, 0);
		return 1;
	}
	r = watch(&s);
	if (r)
		return r;
	if (s.exited)
		return WIFEXITED(s.status) ? WEXITSTATUS(s.status) : 128 + WTERMSIG(s.status);
	return 0;
}
