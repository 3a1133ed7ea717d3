/* SPDX-License-Identifier: MIT */
/*
 * Another process unmaps memory we track: ww_collect and ww_reset on it fail
 * with EFAULT, as they do in-process (ww_collect(3)), instead of reporting
 * the mapped part (or nothing) as if complete (regression: the core checked
 * mappings only for this process, and PAGEMAP_SCAN skips holes silently, so
 * a half-unmapped range gave the mapped part's runs and an unmapped one 0
 * runs, both "success"). What stays mapped is still collected exactly, and
 * ww_track of a range that is not all mapped gives ENOMEM. argv[1]: the
 * target.
 */
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "rtarget.h"

#define PAGES 32

int main(int argc, char **argv)
{
	WW_OPTS(o, .backend = WW_BACKEND_AUTO);
	struct ww_tracker *t;
	struct iovec out[PAGES];
	struct rtarget tg;
	char why[256];
	void *next;
	int err;

	CHECK(argc == 2);
	PS = (size_t)sysconf(_SC_PAGESIZE);
	rtarget_start(&tg, argv[1], "read", PAGES);
	o.pid = tg.pid;
	err = ww_backend_probe(WW_BACKEND_AUTO, tg.pid, why, sizeof(why));
	if (err) {
		printf("SKIP: no backend can track another process here: %s\n", why);
		rtarget_quit(&tg);
		return SKIP;
	}
	CHECK_EQ(ww_open(&o, &t), 0);
	CHECK_EQ(ww_track(t, tg.addr, PAGES * PS), 0);
	harness_collect_all(t, tg.addr, PAGES * PS, WW_RESET, out, PAGES);

	/* the back half goes; then one write in the front half */
	rtarget_unmap(&tg, PAGES / 2, PAGES / 2);
	rtarget_write(&tg, 1); /* page 0 */
	errno = 0;
	CHECK_EQ(ww_collect(t, tg.addr, PAGES * PS, 0, out, PAGES, &next), -EFAULT);
	CHECK_EQ(errno, EFAULT);
	CHECK_EQ(ww_collect(t, tg.addr + PAGES / 2 * PS, PS, WW_RESET, out, PAGES, &next), -EFAULT);
	CHECK_EQ(ww_reset(t, tg.addr, PAGES * PS), -EFAULT);
	/* the part still mapped is collected as before */
	CHECK_EQ(ww_collect(t, tg.addr, PAGES / 2 * PS, WW_RESET, out, PAGES, &next), 1);
	CHECK(out[0].iov_base == tg.addr && out[0].iov_len == PS);
	/* ...and the caller untracks the rest, best effort on the hole */
	CHECK_EQ(ww_untrack(t, tg.addr + PAGES / 2 * PS, PAGES / 2 * PS), 0);
	CHECK_EQ(ww_track(t, tg.addr + PAGES / 2 * PS, PAGES / 2 * PS), -ENOMEM);

	/* the rest goes too */
	rtarget_unmap(&tg, 0, PAGES / 2);
	CHECK_EQ(ww_collect(t, tg.addr, PAGES / 2 * PS, 0, out, PAGES, &next), -EFAULT);
	CHECK_EQ(ww_untrack(t, tg.addr, PAGES / 2 * PS), 0);
	ww_close(t);
	CHECK(WIFEXITED(rtarget_quit(&tg)));
	printf("ok: %s: unmapped memory of another process gives EFAULT\n",
	       ww_backend_name((enum ww_backend)ww_backend_auto(tg.pid)));
	return 0;
}
