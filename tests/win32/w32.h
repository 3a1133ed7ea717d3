/* SPDX-License-Identifier: MIT */
/*
 * Helpers for the Win32 layer's tests. Each test takes the backend name as
 * argv[1] (also set in its environment by meson): w32_setup() exits 77 with
 * the probe's reason when that backend does not work here, and forces the
 * layer's shared tracker onto it through WRITEWATCH_BACKEND.
 */
#ifndef WW_TEST_W32_H
#define WW_TEST_W32_H

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "writewatch/win32.h"

static inline void w32_setup(int argc, char **argv)
{
	harness_backend_arg(argc, argv);
	setenv("WRITEWATCH_BACKEND", argv[1], 1);
	CHECK_EQ(ww_backend_auto(0), harness_backend);
}

/* Whether the layer changes protections in place on this backend (no
 * re-tracking, src/win32.c's change_in_place()): it does not own page
 * protections and misses no write after a reset. */
static inline bool w32_changes_in_place(void)
{
	return !harness_has(WW_CAP_PROTECTS) && harness_has(WW_CAP_NO_MISSED_WRITES);
}

/* Rounds for a stress loop: a tenth of full when WW_ORACLE_SECONDS is
 * below 2 (the VM runner sets 1, as TCG is slow). */
static inline int w32_rounds(int full)
{
	const char *e = getenv("WW_ORACLE_SECONDS");

	return e && atof(e) < 2 ? full / 10 : full;
}

/* GetWriteWatch that must succeed: returns the count, checks granularity. */
static inline uintptr_t w32_get(uint32_t flags, void *base, size_t size, void **addrs,
				uintptr_t cap)
{
	uintptr_t count = cap;
	uint32_t gran = 0;

	CHECK_EQ(ww_GetWriteWatch(flags, base, size, addrs, &count, &gran), 0);
	CHECK_EQ(gran, PS);
	CHECK(count <= cap);
	return count;
}

/* The written pages of [base, base+pages) must be exactly want[0..n)
 * (page indexes, ascending). No reset. */
static inline void w32_expect(char *base, size_t pages, const size_t *want, size_t n, int line)
{
	void *addrs[256];
	uintptr_t got = w32_get(0, base, pages * PS, addrs, 256);
	bool ok = got == n;

	for (size_t i = 0; ok && i < n; i++)
		ok = addrs[i] == base + want[i] * PS;
	if (!ok) {
		fprintf(stderr, "line %d: expected pages", line);
		for (size_t i = 0; i < n; i++)
			fprintf(stderr, " %zu", want[i]);
		fprintf(stderr, ", got");
		for (size_t i = 0; i < got; i++)
			fprintf(stderr, " %td", ((char *)addrs[i] - base) / (ptrdiff_t)PS);
		fprintf(stderr, "\n");
		exit(1);
	}
}

/* The written pages of [base, base+pages) are exactly the given indexes. */
#define EXPECT(base, pages, ...)                                                 \
	do {                                                                     \
		const size_t w_[] = { __VA_ARGS__ };                             \
		w32_expect(base, pages, w_, sizeof(w_) / sizeof(*w_), __LINE__); \
	} while (0)
#define EXPECT_NONE(base, pages) w32_expect(base, pages, NULL, 0, __LINE__)

/* A call that must fail with this ww_GetLastError() code. */
#define CHECK_ERR(call_fails, code)                  \
	do {                                         \
		CHECK(call_fails);                   \
		CHECK_EQ(ww_GetLastError(), (code)); \
	} while (0)

#endif
