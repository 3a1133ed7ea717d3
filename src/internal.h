/* SPDX-License-Identifier: MIT */
/*
 * Private declarations shared by the core files: logging, the probe cache and
 * the error-return helper. Backends may use the logging macros.
 */
#ifndef WW_INTERNAL_H
#define WW_INTERNAL_H

#include <errno.h>

#include "writewatch.h"

/* Set errno from a negative return and pass the value through. */
static inline long ww__ret(long r)
{
	if (r < 0)
		errno = (int)-r;
	return r;
}

extern int ww__log_level;
void ww__log(enum ww_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define ww__err(...) \
	((void)(ww__log_level >= WW_LOG_ERROR ? ww__log(WW_LOG_ERROR, __VA_ARGS__), 0 : 0))
#define ww__warn(...) \
	((void)(ww__log_level >= WW_LOG_WARN ? ww__log(WW_LOG_WARN, __VA_ARGS__), 0 : 0))
#define ww__info(...) \
	((void)(ww__log_level >= WW_LOG_INFO ? ww__log(WW_LOG_INFO, __VA_ARGS__), 0 : 0))
#define ww__dbg(...) \
	((void)(ww__log_level >= WW_LOG_DEBUG ? ww__log(WW_LOG_DEBUG, __VA_ARGS__), 0 : 0))

/* Reads WRITEWATCH_LOG once; called by every public entry point that may log. */
void ww__log_init(void);

/* Every WW_CAP_* bit this version knows. */
#define WW_CAP_ALL                                                                      \
	(WW_CAP_REMOTE | WW_CAP_NO_MISSED_WRITES | WW_CAP_EXACT | WW_CAP_ATOMIC_RESET | \
	 WW_CAP_RANGE_RESET | WW_CAP_KERNEL_WRITES | WW_CAP_DISCARDS | WW_CAP_HUGETLB | \
	 WW_CAP_PROTECTS | WW_CAP_PREWRITE)

/* Why ww_open failed: one line per backend tried ("name: reason"), joined
 * by newlines, in buf (NULL: not wanted). */
struct ww__reasons {
	char *buf;
	size_t len;
};

/* The names of the WW_CAP_* bits in caps, "WW_CAP_A, WW_CAP_B", in buf. */
const char *ww__caps_names(unsigned int caps, char *buf, size_t len);

/* Add a line to r: "name: " (name NULL: no prefix) and the reason. */
void ww__reason(struct ww__reasons *r, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* The next backend AUTO would use for pid after backend `after` (0: the
 * first): in AUTO's order, working here, with every cap in caps; honours
 * WRITEWATCH_BACKEND. A negative errno when there is none. Each backend
 * passed over goes into r (may be NULL) with its reason, except those that
 * cannot track another process when pid asks for one. */
int ww__auto_next(pid_t pid, unsigned int caps, int after, struct ww__reasons *r);

/* WW_FACT_* bits of this kernel, probed once (0 where a probe failed:
 * the answer that costs more and reports nothing wrong). */
unsigned int ww__facts(void);

#endif /* WW_INTERNAL_H */
