/* SPDX-License-Identifier: MIT */
/*
 * What `writewatch run` and `attach` share between their parts: the options
 * (options.c), the session with its watched processes (watch.c: spawning,
 * tracing, sampling), the report in its three formats and the summary
 * (report.c), the SVG heatmap (svg.c). A new subcommand that watches
 * processes reuses them through this header.
 */
#ifndef WW_TOOLS_WATCH_H
#define WW_TOOLS_WATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "procwatch.h"
#include "writewatch.h"

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

/* options.c: parse run's or attach's command line (cmd names which) into
 * o; the index of the first non-option argument, or -1 after saying what
 * is wrong (usage printed); usage() prints the help. */
void usage(FILE *f, const char *cmd);
int parse(int argc, char **argv, struct wopts *o, const char *cmd);

/* report.c: the report, one record per call, flushed per record. */
void flush(struct session *s);
void print_interval(struct session *s, struct wproc *p, double t, double dt, bool last);
void print_event(struct session *s, struct wproc *p, const char *what);
void print_proc_end(struct session *s, struct wproc *p);
void print_live(struct session *s, double t, double dt);
void print_summary(struct session *s);

/* svg.c: the heatmap of every written run, to s->o.svg; 0 or -errno. */
int write_svg(struct session *s);

#endif
