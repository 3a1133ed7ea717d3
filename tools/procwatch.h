/* SPDX-License-Identifier: MIT */
/*
 * Tracking every writable mapping of a live process (tools/procwatch.c): the
 * mapping set follows /proc/PID/maps at each step; a mapping seen for the
 * first time is registered and its pages that may hold writes (present and
 * not page cache, or swapped) are reported at once; a mapping that moved,
 * changed or was replaced counts as new; one that disappeared is forgotten.
 */
#ifndef WW_TOOLS_PROCWATCH_H
#define WW_TOOLS_PROCWATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "writewatch.h"

struct pw_map {
	uintptr_t start, end;
	unsigned long long offset, inode;
	int prot;
	bool shared;
	char *name;
	int id; /* unique for the session, in order of first sight */
	bool tracked; /* false: could not be registered; kept to not retry */
	bool too_big; /* not watched: larger than max_bytes */
	bool excluded; /* not watched: the operator excluded it */
	bool alive; /* seen in the latest maps scan */
	size_t written; /* pages written since pw_clear_written() */
	size_t ever; /* distinct pages written since first seen */
	uint8_t *bits; /* bitmap behind ever */
};

/* A mapping unmapped (or replaced) since pw_clear_written() whose pages
 * were written in that time: reported once more, flagged as gone. */
struct pw_gone {
	uintptr_t start, end;
	char *name;
	size_t written;
};

/* Mappings the operator keeps out of tracking (--exclude, --exclude-name):
 * one that overlaps a range or whose name matches a fnmatch(3) pattern is
 * never registered, so the target's own userfaultfd users keep it. */
struct pw_exclude {
	uintptr_t *lo, *hi; /* [lo, hi) */
	size_t nranges;
	const char **names;
	size_t nnames;
};

struct procwatch {
	pid_t pid;
	struct ww_tracker *t;
	size_t ps;
	struct pw_map *maps; /* sorted by start */
	size_t n, cap;
	int next_id;
	int pagemap; /* /proc/PID/pagemap, for first-sight reports */
	struct iovec *runs;
	size_t maxruns;
	size_t ws_forgotten; /* distinct pages written in mappings now gone */
	size_t max_bytes; /* larger mappings are not watched (0: no limit) */
	/* what becomes of one, said on stderr (NULL: its writes go unreported) */
	const char *too_big_fate;
	size_t skipped; /* mappings not watched because of max_bytes */
	size_t excluded; /* mappings not watched because of ex */
	const struct pw_exclude *ex; /* may be NULL */
	pid_t maps_tid; /* read the maps through this thread (0: pid's) */
	struct pw_gone *gone; /* since pw_clear_written() */
	size_t ngone, capgone;
};

/* Called for each written run: map, first page index within it, pages. */
typedef void (*pw_run_fn)(const struct pw_map *m, size_t page, size_t pages, void *ctx);

/* Open a tracker for pid on backend b (AUTO allowed) with at least the
 * WW_CAP_* in caps, and register its writable mappings (reported by the
 * first pw_step). On failure why (may be NULL) says why, as ww_open_why
 * does: a line per mechanism tried. */
/* The mapping of w starting at start (w->maps is in address order), or NULL. */
struct pw_map *pw_find(struct procwatch *w, uintptr_t start);

int pw_open(struct procwatch *w, pid_t pid, enum ww_backend b, unsigned int caps, char *why,
	    size_t whylen);

/* One step: collect and re-arm every tracked mapping, then follow the maps.
 * 0, or -ESRCH when the address space is gone (the process exited or
 * executed another program), or another negative errno. */
int pw_step(struct procwatch *w, pw_run_fn fn, void *ctx);

/* Zero every mapping's "written" count (pw_step adds to it) and drop the
 * list of gone mappings. */
void pw_clear_written(struct procwatch *w);

/* Untrack everything and close: the process is left as it was. ps and
 * ws_forgotten (now the whole working set) stay readable. */
void pw_close(struct procwatch *w);

#endif
