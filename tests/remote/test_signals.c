/* SPDX-License-Identifier: MIT */
/*
 * Signals that arrive while the target's registers are borrowed are neither
 * lost nor delivered onto the injected state: a sender queues real-time
 * signals (which never merge) at the target while a tracker attaches and
 * detaches over and over; at the end the target has handled exactly as many
 * as were sent, its signal state (/proc/PID/status SigPnd, ShdPnd, SigBlk, SigIgn,
 * SigCgt) is as
 * before, and it exits 0. In the modes that wait in a call a stop interrupts
 * with EINTR (epoll, epoll_pwait, sigwait, semop), every EINTR it saw is
 * explained by a signal it handled: the injector restarts only the calls it
 * interrupted itself. argv[1]: the target, argv[2]: its mode.
 */
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "rtarget.h"

#define ATTACHES 60
#define SIGNALS 3000

static bool in_ppoll; /* SigBlk then depends on where it is: the target
			* checks its real mask itself (exit 6) */
static bool sigio; /* sigwait: SIGIO, raised by each command, may be pending */

static void sig_state(pid_t pid, char *buf, size_t len)
{
	char path[64], line[256];
	size_t at = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	CHECK(f);
	buf[0] = '\0';
	while (fgets(line, sizeof(line), f))
		/* not SigQ: it counts the whole user's queued signals */
		if ((!strncmp(line, "Sig", 3) && strncmp(line, "SigQ", 4) &&
		     (!in_ppoll || strncmp(line, "SigBlk", 6))) ||
		    (!strncmp(line, "ShdPnd", 6) && !sigio))
			at += (size_t)snprintf(buf + at, at < len ? len - at : 0, "%s", line);
	fclose(f);
}

static long unexplained = -1; /* EINTRs the target saw without a signal */

static long count(struct rtarget *tg)
{
	char line[64];
	size_t n = 0;
	long v = -1;

	CHECK(write(tg->to, "c\n", 2) == 2);
	while (n < sizeof(line) - 1 && read(tg->from, &line[n], 1) == 1 && line[n] != '\n')
		n++;
	line[n] = '\0';
	CHECK(sscanf(line, "c %ld %ld", &v, &unexplained) == 2);
	return v;
}

int main(int argc, char **argv)
{
	struct ww_opts o = { .sz = sizeof(o), .backend = WW_BACKEND_PAGEMAP_SCAN };
	char why[256], before[2048], after[2048];
	struct rtarget tg;
	pid_t sender;
	long got;
	int st;

	CHECK(argc == 3);
	PS = (size_t)sysconf(_SC_PAGESIZE);
	/* these change the mask while they wait */
	sigio = !strcmp(argv[2], "sigwait");
	in_ppoll = !strcmp(argv[2], "ppoll") || !strcmp(argv[2], "epoll_pwait") ||
		   !strcmp(argv[2], "sigwait");
#ifdef RTARGET_TSAN
	printf("SKIP: ThreadSanitizer's runtime in the target merges queued signals\n");
	return SKIP;
#endif
	if (ww_backend_probe(WW_BACKEND_PAGEMAP_SCAN, 0, why, sizeof(why))) {
		printf("SKIP: pagemap-scan: %s\n", why);
		return SKIP;
	}
	rtarget_start(&tg, argv[1], argv[2], 8);
	CHECK_EQ(count(&tg), 0);
	sig_state(tg.pid, before, sizeof(before));
	o.pid = tg.pid;
	sender = fork();
	CHECK(sender >= 0);
	if (sender == 0) {
		union sigval v = { 0 };

		for (int i = 0; i < SIGNALS; i++) {
			while (sigqueue(tg.pid, SIGRTMIN, v) < 0)
				CHECK(errno == EAGAIN); /* queue full: let it drain */
			if (i % 64 == 0)
				usleep(200);
		}
		_exit(0);
	}
	for (int i = 0; i < ATTACHES; i++) {
		struct ww_tracker *t;

		CHECK_EQ(ww_open(&o, &t), 0);
		CHECK_EQ(ww_track(t, tg.addr, 8 * PS), 0);
		ww_close(t);
	}
	CHECK(waitpid(sender, &st, 0) == sender && WIFEXITED(st) && WEXITSTATUS(st) == 0);
	/* queued signals are all handled before the target reads again */
	got = count(&tg);
	if (got != SIGNALS) {
		fprintf(stderr, "target handled %ld of %d signals\n", got, SIGNALS);
		return 1;
	}
	CHECK_EQ(unexplained, 0);
	sig_state(tg.pid, after, sizeof(after));
	if (strcmp(before, after)) {
		fprintf(stderr, "signal state changed:\n%s---\n%s", before, after);
		return 1;
	}
	CHECK(!rtarget_has_uffd(tg.pid));
	st = rtarget_quit(&tg);
	CHECK(WIFEXITED(st));
	CHECK_EQ(WEXITSTATUS(st), 0);
	return 0;
}
