/* SPDX-License-Identifier: MIT */
/*
 * A forked child's copy of a tracker is inert: every call fails with -ECHILD
 * and ww_close in the child frees it without disarming the parent. The
 * parent keeps tracking, including pages it writes after the fork
 * (copy-on-write), and the child, writing its copy of tracked memory, is not
 * harmed (exits normally, no signal).
 */
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

int main(int argc, char **argv)
{
	struct ww_tracker *t = harness_open(argc, argv);
	char *m = harness_map(8);
	struct iovec out[8];
	void *next;
	int status;
	pid_t pid;

	CHECK_EQ(ww_track(t, m, 8 * PS), 0);
	m[1 * PS] = 1;
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		/* the child: not tracked, its tracker copy refuses politely */
		for (int i = 0; i < 8; i++)
			m[i * PS] = 2; /* must not hang or fault */
		if (ww_collect(t, m, 8 * PS, WW_RESET, out, 8, &next) != -ECHILD)
			_exit(10);
		if (ww_reset(t, m, 8 * PS) != -ECHILD || ww_untrack(t, m, 8 * PS) != -ECHILD)
			_exit(11);
		if (ww_track(t, m, PS) != -ECHILD)
			_exit(12);
		ww_close(t); /* must leave the parent's tracking alone */
		_exit(0);
	}
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	CHECK(WIFEXITED(status));
	CHECK_EQ(WEXITSTATUS(status), 0);

	/* the parent: page 1 still dirty, the child's writes are not ours */
	CHECK_EQ(ww_collect(t, m, 8 * PS, WW_RESET, out, 8, &next), 1);
	CHECK(out[0].iov_base == m + PS && out[0].iov_len == PS);
	/* copy-on-write after the fork is reported, and tracking still arms */
	m[5 * PS] = 3;
	CHECK_EQ(ww_collect(t, m, 8 * PS, WW_RESET, out, 8, &next), 1);
	CHECK(out[0].iov_base == m + 5 * PS);
	CHECK_EQ(ww_collect(t, m, 8 * PS, 0, out, 8, &next), 0);
	ww_close(t);
	printf("ok: %s: forked child's tracker is inert, parent keeps tracking\n", argv[1]);
	return 0;
}
