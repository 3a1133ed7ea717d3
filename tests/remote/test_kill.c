/* SPDX-License-Identifier: MIT */
/*
 * SIGKILL of the tracker at random moments (while it injects, while it
 * tracks, while it collects) never hurts the target: after each kill the
 * target is soon neither stopped nor traced, holds no userfaultfd, still
 * writes and answers correctly, and at the end exits 0 (its own checks catch
 * corrupted registers or a lost syscall restart). argv[1]: the target,
 * argv[2]: where it waits (read, sleep, spin).
 */
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "rtarget.h"

#define PAGES 64
#define KILLS 40

/* The tracker: open, track, collect forever; tells the parent each phase. */
static void tracker(struct rtarget *tg, int report)
{
	struct ww_opts o = { .sz = sizeof(o), .backend = WW_BACKEND_PAGEMAP_SCAN, .pid = tg->pid };
	struct ww_tracker *t;
	struct iovec out[PAGES];

	if (ww_open(&o, &t))
		_exit(2);
	CHECK(write(report, "o", 1) == 1);
	if (ww_track(t, tg->addr, PAGES * PS))
		_exit(3);
	for (;;)
		harness_collect_all(t, tg->addr, PAGES * PS, WW_RESET, out, PAGES);
}

/* The helper finishes on its own after the kill: wait until the target is
 * released (a liveness bound, not a timing assertion). */
static void wait_released(pid_t pid)
{
	char state;
	long tracer;

	for (int i = 0; i < 10000; i++) {
		rtarget_state(pid, &state, &tracer);
		if (tracer == 0 && state != 't')
			return;
		usleep(1000);
	}
	fprintf(stderr, "target %d still traced (%ld) or stopped (%c) 10 s after the kill\n",
		(int)pid, tracer, state);
	exit(1);
}

int main(int argc, char **argv)
{
	char why[256], before[8192], after[8192];
	int opened = 0, st;
	struct rtarget tg;

	CHECK(argc == 3);
	PS = (size_t)sysconf(_SC_PAGESIZE);
	if (ww_backend_probe(WW_BACKEND_PAGEMAP_SCAN, 0, why, sizeof(why))) {
		printf("SKIP: pagemap-scan: %s\n", why);
		return SKIP;
	}
	rtarget_start(&tg, argv[1], argv[2], PAGES);
	if (ww_backend_probe(WW_BACKEND_PAGEMAP_SCAN, tg.pid, why, sizeof(why))) {
		printf("SKIP: pagemap-scan for another process: %s\n", why);
		rtarget_quit(&tg);
		return SKIP;
	}
	rtarget_fds(tg.pid, before, sizeof(before));
	rtarget_subreaper();
	srand((unsigned int)time(NULL) ^ (unsigned int)getpid());
	for (int i = 0; i < KILLS; i++) {
		int rep[2];
		pid_t c;
		char ch;

		CHECK(pipe(rep) == 0);
		c = fork();
		CHECK(c >= 0);
		if (c == 0) {
			close(rep[0]);
			tracker(&tg, rep[1]);
		}
		close(rep[1]);
		/* 0-4 ms: the injection takes about a millisecond here */
		usleep((useconds_t)(rand() % 4000));
		kill(c, SIGKILL);
		CHECK(waitpid(c, &st, 0) == c);
		if (read(rep[0], &ch, 1) == 1)
			opened++;
		close(rep[0]);
		rtarget_reap_others(tg.pid); /* the helper, if it outlived c */
		wait_released(tg.pid);
		rtarget_write(&tg, 3);
		rtarget_fds(tg.pid, after, sizeof(after));
		if (strcmp(before, after)) {
			fprintf(stderr, "kill %d: descriptor table changed:\n%s---\n%s", i, before,
				after);
			return 1;
		}
	}
	printf("%d kills, %d after the tracker had its uffd, %d before\n", KILLS, opened,
	       KILLS - opened);
	st = rtarget_quit(&tg);
	CHECK(WIFEXITED(st));
	CHECK_EQ(WEXITSTATUS(st), 0);
	return 0;
}
