/* SPDX-License-Identifier: MIT */
/*
 * Issue 16 item 18: a forked child had no way to track again: its copy of a
 * tracker is inert (-ECHILD), and the memory it inherited could not be
 * tracked by it. ww_reopen() makes the copy track the child's own memory
 * (the same ranges, every page clean at return) and leaves the parent's
 * tracking alone: the parent still sees its own write made before the fork
 * and its writes after, never the child's.
 */
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

static int child(struct ww_tracker *t, char *m)
{
	struct iovec out[8];
	void *next;

	if (ww_collect(t, m, 8 * PS, 0, out, 8, &next) != -ECHILD)
		return 10;
	if (ww_reopen(t) != 0)
		return 11;
	if (ww_reopen(t) != -EALREADY)
		return 12;
	/* clean at return, like ww_track */
	if (ww_collect(t, m, 8 * PS, 0, out, 8, &next) != 0)
		return 13;
	m[3 * PS] = 7;
	if (ww_collect(t, m, 8 * PS, WW_RESET, out, 8, &next) != 1 ||
	    out[0].iov_base != m + 3 * PS || out[0].iov_len != PS)
		return 14;
	m[5 * PS] = 7;
	m[6 * PS] = 7;
	if (ww_collect(t, m, 8 * PS, WW_RESET, out, 8, &next) != 1 ||
	    out[0].iov_base != m + 5 * PS || out[0].iov_len != 2 * PS)
		return 15;
	if (ww_collect(t, m, 8 * PS, 0, out, 8, &next) != 0)
		return 16;
	/* the whole API works on it, untrack and close included */
	if (ww_untrack(t, m + 4 * PS, 4 * PS) || ww_track(t, m + 4 * PS, 4 * PS))
		return 17;
	m[7 * PS] = 1;
	if (ww_collect(t, m, 8 * PS, WW_RESET, out, 8, &next) != 1 || out[0].iov_base != m + 7 * PS)
		return 18;
	ww_close(t);
	return 0;
}

/* A range the child unmapped: refused as ww_track refuses it (-ENOMEM),
 * not tracked blindly (mprotect: its own first mapping landed in the hole,
 * was made read-only and written: SIGSEGV); once mapped again, reopen works. */
static int child_unmapped(struct ww_tracker *t, char *m, char *m2)
{
	struct iovec out[8];
	void *next;

	if (munmap(m2, 4 * PS))
		return 20;
	if (ww_reopen(t) != -ENOMEM)
		return 21;
	if (mmap(m2, 4 * PS, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1,
		 0) != m2)
		return 22;
	if (ww_reopen(t) != 0)
		return 23;
	m2[2 * PS] = 1;
	if (ww_collect(t, m2, 4 * PS, WW_RESET, out, 8, &next) != 1 ||
	    out[0].iov_base != m2 + 2 * PS)
		return 24;
	if (ww_collect(t, m, 8 * PS, 0, out, 8, &next) != 0)
		return 25;
	ww_close(t);
	return 0;
}

static void wait_child(pid_t pid)
{
	int status;

	CHECK_EQ(waitpid(pid, &status, 0), pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status)) {
		fprintf(stderr, "child: %s %d\n", WIFSIGNALED(status) ? "signal" : "exit",
			WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
		exit(1);
	}
}

int main(int argc, char **argv)
{
	struct ww_tracker *t = harness_open(argc, argv);
	char *m = harness_map(8);
	struct iovec out[8];
	void *next;
	pid_t pid;

	CHECK_EQ(ww_reopen(NULL), -EINVAL);
	CHECK_EQ(ww_reopen(t), -EALREADY); /* not a forked copy */
	CHECK_EQ(ww_track(t, m, 8 * PS), 0);
	m[1 * PS] = 1;
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0)
		_exit(child(t, m));
	wait_child(pid);
	/* the parent's tracking is intact */
	CHECK_EQ(ww_collect(t, m, 8 * PS, WW_RESET, out, 8, &next), 1);
	CHECK(out[0].iov_base == m + PS && out[0].iov_len == PS);
	m[6 * PS] = 2;
	CHECK_EQ(ww_collect(t, m, 8 * PS, WW_RESET, out, 8, &next), 1);
	CHECK(out[0].iov_base == m + 6 * PS && out[0].iov_len == PS);
	CHECK_EQ(ww_collect(t, m, 8 * PS, 0, out, 8, &next), 0);

	char *m2 = harness_map(4);

	CHECK_EQ(ww_track(t, m2, 4 * PS), 0);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0)
		_exit(child_unmapped(t, m, m2));
	wait_child(pid);
	m2[1 * PS] = 3;
	CHECK_EQ(ww_collect(t, m2, 4 * PS, WW_RESET, out, 8, &next), 1);
	CHECK(out[0].iov_base == m2 + PS);
	ww_close(t);
	printf("ok: %s: a forked child re-opens its copy and tracks its own memory; "
	       "a range it unmapped is refused (ENOMEM)\n",
	       argv[1]);
	return 0;
}
