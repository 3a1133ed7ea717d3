/* SPDX-License-Identifier: MIT */
/*
 * ww_open_why() says why ww_open() failed, a line per backend tried
 * ("name: reason"), and nothing when it succeeded:
 *  - a named backend that lacks a cap asked for: its line names the
 *    WW_CAP_* missing, or, where it does not work here, the reason its
 *    probe gives;
 *  - AUTO asked for caps no backend has: one line for each backend of
 *    AUTO's order, each named once, none but backends;
 *  - bad arguments: one line without a backend name;
 *  - success (AUTO, no caps): an empty string, whatever was in the buffer;
 *  - a short buffer: truncated, NUL terminated, a prefix of the whole;
 *    NULL or a zero length: nothing written.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define ALL_CAPS                                                                        \
	(WW_CAP_REMOTE | WW_CAP_NO_MISSED_WRITES | WW_CAP_EXACT | WW_CAP_ATOMIC_RESET | \
	 WW_CAP_RANGE_RESET | WW_CAP_KERNEL_WRITES | WW_CAP_DISCARDS | WW_CAP_HUGETLB | \
	 WW_CAP_PROTECTS | WW_CAP_PREWRITE)

/* The line of why that starts with "name: ", or NULL; counts them. */
static const char *line_of(const char *why, const char *name, int *count)
{
	size_t n = strlen(name);
	const char *found = NULL;

	*count = 0;
	for (const char *l = why; *l;) {
		const char *nl = strchr(l, '\n');

		if (!strncmp(l, name, n) && l[n] == ':' && l[n + 1] == ' ') {
			++*count;
			found = l;
		}
		if (!nl)
			break;
		l = nl + 1;
	}
	return found;
}

static void named_lacking(enum ww_backend b)
{
	const char *name = ww_backend_name(b);
	char why[1024], pwhy[256] = "", want[512];
	unsigned int have, lack;
	struct ww_tracker *t = NULL;
	int cnt, perr;

	CHECK_EQ(ww_backend_caps(b, &have), 0);
	lack = ALL_CAPS & ~have & ~WW_CAP_REMOTE;
	if (!lack)
		lack = ALL_CAPS & ~have;
	CHECK(lack); /* no backend has every cap */
	WW_OPTS(o, .backend = b, .caps = lack);
	perr = ww_backend_probe(b, 0, pwhy, sizeof(pwhy));
	strcpy(why, "junk");
	CHECK_EQ(ww_open_why(&o, &t, why, sizeof(why)), perr ? perr : -EOPNOTSUPP);
	CHECK(t == NULL);
	printf("%s, caps %#x: \"%s\"\n", name, lack, why);
	CHECK(line_of(why, name, &cnt) == why);
	CHECK_EQ(cnt, 1);
	CHECK(!strchr(why, '\n'));
	if (perr) {
		snprintf(want, sizeof(want), "%s: %s", name, pwhy);
		CHECK(!strcmp(why, want));
	} else {
		/* every missing cap by name, none it has */
		CHECK(strstr(why, "lacks "));
		if (lack & WW_CAP_PROTECTS)
			CHECK(strstr(why, "WW_CAP_PROTECTS"));
		if (lack & WW_CAP_KERNEL_WRITES)
			CHECK(strstr(why, "WW_CAP_KERNEL_WRITES"));
		if (lack & WW_CAP_NO_MISSED_WRITES)
			CHECK(strstr(why, "WW_CAP_NO_MISSED_WRITES"));
		if (have & WW_CAP_HUGETLB)
			CHECK(!strstr(why, "WW_CAP_HUGETLB"));
	}
}

int main(void)
{
	static const enum ww_backend backends[] = { WW_BACKEND_PAGEMAP_SCAN, WW_BACKEND_UFFD_WP,
						    WW_BACKEND_SOFT_DIRTY, WW_BACKEND_MPROTECT };
	char why[2048], full[2048], small[16];
	struct ww_tracker *t = NULL;
	int lines = 0, cnt;

	/* AUTO's order is what is asked of it here, not a forced backend */
	unsetenv("WRITEWATCH_BACKEND");

	/* bad arguments: one line, not a backend's */
	WW_OPTS(bad, .flags = 0x80000000u);
	strcpy(why, "junk");
	CHECK_EQ(ww_open_why(&bad, &t, why, sizeof(why)), -EINVAL);
	printf("bad flags: \"%s\"\n", why);
	CHECK(why[0] && !strchr(why, '\n') && strcmp(why, "junk"));
	for (size_t i = 0; i < sizeof(backends) / sizeof(*backends); i++)
		CHECK(!line_of(why, ww_backend_name(backends[i]), &cnt));
	CHECK_EQ(ww_open_why(NULL, NULL, why, sizeof(why)), -EINVAL);
	CHECK(why[0]);

	for (size_t i = 0; i < sizeof(backends) / sizeof(*backends); i++)
		named_lacking(backends[i]);

	/* AUTO with caps no backend has: each of AUTO's backends says why */
	WW_OPTS(all, .caps = ALL_CAPS & ~WW_CAP_REMOTE);
	CHECK_EQ(ww_open_why(&all, &t, full, sizeof(full)), -EOPNOTSUPP);
	CHECK(t == NULL);
	printf("AUTO, every cap:\n%s\n", full);
	for (size_t i = 0; i < sizeof(backends) / sizeof(*backends); i++) {
		const char *l = line_of(full, ww_backend_name(backends[i]), &cnt);

		CHECK(cnt <= 1);
		lines += cnt;
		/* the in-process backends of AUTO's order are all there */
		if (backends[i] != WW_BACKEND_SOFT_DIRTY)
			CHECK(l);
	}
	/* nothing but those lines */
	cnt = 1;
	for (const char *p = full; *p; p++)
		cnt += *p == '\n';
	CHECK_EQ(cnt, lines);
	/* the same with NULL or no room: no crash, nothing written */
	CHECK_EQ(ww_open_why(&all, &t, NULL, 100), -EOPNOTSUPP);
	strcpy(small, "keep");
	CHECK_EQ(ww_open_why(&all, &t, small, 0), -EOPNOTSUPP);
	CHECK(!strcmp(small, "keep"));
	/* a short buffer: a NUL terminated prefix of the whole */
	memset(small, 'x', sizeof(small));
	CHECK_EQ(ww_open_why(&all, &t, small, sizeof(small)), -EOPNOTSUPP);
	CHECK(memchr(small, '\0', sizeof(small)));
	CHECK_EQ(strlen(small), sizeof(small) - 1);
	CHECK(!strncmp(full, small, strlen(small)));
	/* ww_open says the same by errno, without the text */
	CHECK_EQ(ww_open(&all, &t), -EOPNOTSUPP);

	/* success: an empty string, though AUTO may have passed some over */
	WW_OPTS(any);
	strcpy(why, "junk");
	CHECK_EQ(ww_open_why(&any, &t, why, sizeof(why)), 0);
	CHECK(t != NULL);
	CHECK_EQ(why[0], '\0');
	ww_close(t);
	return 0;
}
