/* SPDX-License-Identifier: MIT */
/* Names round-trip; probes agree with themselves and give a reason when they
 * fail; AUTO picks the first working backend in DESIGN.md's order;
 * WRITEWATCH_BACKEND forces a backend; ww_open(NULL) uses AUTO; the log
 * callback receives messages only at or below its level. */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

static int nlog, nlog_debug;

static void logcb(enum ww_log_level lvl, const char *msg, void *ctx)
{
	CHECK(ctx == &nlog);
	CHECK(msg && *msg);
	nlog++;
	if (lvl == WW_LOG_DEBUG)
		nlog_debug++;
}

int main(void)
{
	static const enum ww_backend order[] = { WW_BACKEND_PAGEMAP_SCAN, WW_BACKEND_UFFD_WP,
						 WW_BACKEND_MPROTECT };
	enum ww_backend b, expect = WW_BACKEND_AUTO;
	struct ww_tracker *t;
	char why[256], why2[256];
	int err;

	for (int i = 0; i < WW_BACKEND_COUNT; i++) {
		const char *n = ww_backend_name((enum ww_backend)i);

		CHECK(n != NULL);
		CHECK_EQ(ww_backend_from_name(n, &b), 0);
		CHECK_EQ(b, i);
	}
	CHECK(ww_backend_name((enum ww_backend)WW_BACKEND_COUNT) == NULL);
	CHECK(!strcmp(ww_backend_name(WW_BACKEND_PAGEMAP_SCAN), "pagemap-scan"));
	CHECK(!strcmp(ww_backend_name(WW_BACKEND_UFFD_WP), "uffd-wp"));
	CHECK(!strcmp(ww_backend_name(WW_BACKEND_SOFT_DIRTY), "soft-dirty"));
	CHECK(!strcmp(ww_backend_name(WW_BACKEND_MPROTECT), "mprotect"));
	CHECK_EQ(ww_backend_from_name("bogus", &b), -EINVAL);

	for (int i = 1; i < WW_BACKEND_COUNT; i++) {
		why[0] = why2[0] = '\0';
		err = ww_backend_probe((enum ww_backend)i, 0, why, sizeof(why));
		CHECK(err <= 0);
		CHECK(why[0] != '\0'); /* a reason, or "works" */
		CHECK_EQ(ww_backend_probe((enum ww_backend)i, 0, why2, sizeof(why2)), err);
		CHECK(!strcmp(why, why2));
		printf("%-13s %s\n", ww_backend_name((enum ww_backend)i), why);
	}
	CHECK_EQ(ww_backend_probe((enum ww_backend)42, 0, why, sizeof(why)), -EINVAL);
	/* the mprotect backend works everywhere, so AUTO always has one */
	CHECK_EQ(ww_backend_probe(WW_BACKEND_MPROTECT, 0, NULL, 0), 0);
	CHECK_EQ(ww_backend_probe(WW_BACKEND_MPROTECT, getpid() == 1 ? 2 : 1, why, sizeof(why)),
		 -EOPNOTSUPP);

	for (size_t i = 0; i < sizeof(order) / sizeof(*order); i++)
		if (ww_backend_probe(order[i], 0, NULL, 0) == 0) {
			expect = order[i];
			break;
		}
	unsetenv("WRITEWATCH_BACKEND");
	CHECK_EQ(ww_backend_auto(0), expect);
	CHECK_EQ(ww_open(NULL, &t), 0);
	CHECK_EQ(ww_tracker_backend(t), expect);
	ww_close(t);
	/* soft-dirty is never AUTO's choice for this process */
	CHECK(ww_backend_auto(0) != WW_BACKEND_SOFT_DIRTY);

	setenv("WRITEWATCH_BACKEND", "mprotect", 1);
	CHECK_EQ(ww_backend_auto(0), WW_BACKEND_MPROTECT);
	CHECK_EQ(ww_open(NULL, &t), 0);
	CHECK_EQ(ww_tracker_backend(t), WW_BACKEND_MPROTECT);
	ww_close(t);
	setenv("WRITEWATCH_BACKEND", "nonsense", 1);
	CHECK_EQ(ww_backend_auto(0), -EINVAL);
	CHECK_EQ(ww_open(NULL, &t), -EINVAL);
	unsetenv("WRITEWATCH_BACKEND");

	ww_set_log(logcb, &nlog, WW_LOG_INFO);
	CHECK_EQ(ww_open(NULL, &t), 0);
	ww_close(t);
	CHECK_EQ(nlog_debug, 0);
	ww_set_log(logcb, &nlog, WW_LOG_DEBUG);
	CHECK_EQ(ww_open(NULL, &t), 0);
	ww_close(t);
	CHECK(nlog_debug > 0);
	ww_set_log(NULL, NULL, WW_LOG_NONE);
	printf("ok: probe and selection (auto: %s)\n", ww_backend_name(expect));
	return 0;
}
