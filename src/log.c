/* SPDX-License-Identifier: MIT */
/*
 * Diagnostics. The library is silent unless asked: WRITEWATCH_LOG sets a level
 * at first use, ww_set_log() sets a callback and a level explicitly. The
 * built-in sink writes one line to stderr, and only when a level is set.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"

int ww__log_level;
static ww_log_fn log_fn;
static void *log_ctx;
static pthread_once_t log_once = PTHREAD_ONCE_INIT;
static int log_explicit;

static void log_env(void)
{
	static const char *const names[] = { "none", "error", "warn", "info", "debug" };
	const char *v = secure_getenv("WRITEWATCH_LOG");

	if (!v || !*v || log_explicit)
		return;
	for (int i = 0; i < 5; i++) {
		if (!strcasecmp(v, names[i]) || (v[0] == '0' + i && !v[1])) {
			ww__log_level = i;
			return;
		}
	}
	ww__log_level = WW_LOG_WARN; /* set but unreadable: the user wants to hear */
}

void ww__log_init(void)
{
	pthread_once(&log_once, log_env);
}

WW_API void ww_set_log(ww_log_fn fn, void *ctx, enum ww_log_level level)
{
	pthread_once(&log_once, log_env);
	log_explicit = 1;
	log_fn = fn;
	log_ctx = ctx;
	ww__log_level = level < WW_LOG_NONE  ? WW_LOG_NONE :
			level > WW_LOG_DEBUG ? WW_LOG_DEBUG :
					       level;
}

void ww__log(enum ww_log_level level, const char *fmt, ...)
{
	static const char *const tags[] = { "", "error", "warn", "info", "debug" };
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (log_fn)
		log_fn(level, msg, log_ctx);
	else
		fprintf(stderr, "writewatch: %s: %s\n", tags[level], msg);
}
