/* SPDX-License-Identifier: MIT */
/*
 * Issue 16 item 5, as documented in writewatch-run(1): while a pagemap-scan
 * tracker of another process tracks a range, the process's own userfaultfd
 * registration of that range fails with EBUSY; after ww_close it works
 * again; and a range the process registered itself first cannot be tracked
 * (ww_track: EBUSY), the process's registration untouched. argv[1]: the
 * target.
 */
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "rtarget.h"

#define PAGES 8

/* "u" or "U": the errno of the target's own UFFDIO_REGISTER, or 0. */
static int own(struct rtarget *tg, const char *cmd)
{
	char line[64];
	size_t n = 0;
	int e = -1;

	CHECK(write(tg->to, cmd, strlen(cmd)) == (ssize_t)strlen(cmd));
	while (n < sizeof(line) - 1 && read(tg->from, &line[n], 1) == 1 && line[n] != '\n')
		n++;
	line[n] = '\0';
	CHECK(sscanf(line, "u %d", &e) == 1);
	return e;
}

int main(int argc, char **argv)
{
	struct ww_opts o = { .sz = sizeof(o), .backend = WW_BACKEND_PAGEMAP_SCAN };
	struct ww_tracker *t;
	struct rtarget tg;
	char why[256];
	int e, st;

	CHECK(argc == 2);
	PS = (size_t)sysconf(_SC_PAGESIZE);
	if (ww_backend_probe(WW_BACKEND_PAGEMAP_SCAN, 0, why, sizeof(why))) {
		printf("SKIP: pagemap-scan: %s\n", why);
		return SKIP;
	}
	rtarget_start(&tg, argv[1], "read", PAGES);
	o.pid = tg.pid;
	e = own(&tg, "u\n");
	if (e) {
		printf("SKIP: the target cannot register its own userfaultfd here (%d)\n", e);
		rtarget_quit(&tg);
		return SKIP;
	}
	CHECK_EQ(ww_open(&o, &t), 0);
	CHECK_EQ(ww_track(t, tg.addr, PAGES * PS), 0);
	CHECK_EQ(own(&tg, "u\n"), EBUSY);
	ww_close(t);
	CHECK_EQ(own(&tg, "u\n"), 0);

	/* the target first: its registration stays, ours is refused */
	CHECK_EQ(own(&tg, "U\n"), 0);
	CHECK_EQ(ww_open(&o, &t), 0);
	CHECK_EQ(ww_track(t, tg.addr, PAGES * PS), -EBUSY);
	ww_close(t);
	/* still its own: registering again is refused by that one */
	CHECK_EQ(own(&tg, "u\n"), EBUSY);
	rtarget_write(&tg, 1);
	st = rtarget_quit(&tg);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	return 0;
}
