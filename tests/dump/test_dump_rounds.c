/* SPDX-License-Identifier: MIT */
/*
 * writewatch dump with stopped rounds (soft-dirty), in C so that it runs in
 * the qemu VMs too (test_dump.py needs python3 and gdb, which they lack;
 * soft-dirty is in their x86-64 kernels, not on a host without it).
 *
 * usage: test_dump_rounds WRITEWATCH DUMP_TARGET CORECHECK [rounds|kill|stop-and-copy|auto
 *                         [ANON_MB]]
 *
 * Starts dump_target, asks `writewatch probe --pid` whether soft-dirty
 * tracks it (77 with the reason if not), dumps it with --backend=soft-dirty
 * while its threads write, and checks: the mode is "stopped-rounds", every
 * round reports the time the process was stopped, the core is one instant
 * of the target word by word (corecheck), and the target runs on untraced
 * and passes its own check. With "kill": writewatch is SIGKILLed while a
 * round has the target stopped (WW_DUMP_TEST_STOP=round); the target must
 * be released and unharmed. With "stop-and-copy": --no-precopy, the same
 * checks of the core and the target (and the freeze to compare with). With
 * "auto": whatever mode this kernel allows (pre-copy where pagemap-scan
 * tracks another process, arm64 included), the same checks.
 * A fifth argument sets the target's populated anonymous memory in MiB.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SKIP 77

static pid_t target = -1;
static FILE *to_target, *from_target;
static char core[64] = "";

static void cleanup(void)
{
	if (target > 0) {
		kill(target, SIGKILL);
		waitpid(target, NULL, 0);
	}
	if (core[0])
		unlink(core);
}

static void __attribute__((noreturn, format(printf, 1, 2))) fail(const char *fmt, ...)
{
	va_list ap;

	printf("FAIL: ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	cleanup();
	exit(1);
}

/* Run argv with stdout (and stderr, appended) into a malloc'd string. */
static int run(char *const argv[], char **out, const char *env)
{
	int p[2], st;
	size_t n = 0, cap = 4096;
	char *buf = malloc(cap);
	pid_t c;
	ssize_t r;

	if (!buf || pipe(p))
		fail("pipe: %s", strerror(errno));
	c = fork();
	if (c == 0) {
		dup2(p[1], 1);
		dup2(p[1], 2);
		close(p[0]);
		if (env)
			putenv((char *)env);
		execv(argv[0], argv);
		_exit(127);
	}
	close(p[1]);
	while ((r = read(p[0], buf + n, cap - n - 1)) > 0) {
		n += (size_t)r;
		if (cap - n < 2) {
			buf = realloc(buf, cap *= 2);
			if (!buf)
				fail("out of memory");
		}
	}
	buf[n] = '\0';
	close(p[0]);
	waitpid(c, &st, 0);
	*out = buf;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* /proc/PID/status: state letter and TracerPid. */
static void status(pid_t pid, char *state, long *tracer)
{
	char path[64], line[256];
	FILE *f;

	*state = '?';
	*tracer = -1;
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "State:", 6))
			sscanf(line + 6, " %c", state);
		if (!strncmp(line, "TracerPid:", 10))
			*tracer = strtol(line + 10, NULL, 10);
	}
	fclose(f);
}

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* The target released: running, untraced, still writing, then its own check. */
static void check_released(void)
{
	unsigned long a[3], b[3];
	char st, line[256];
	long tr;
	int ws;
	double end = now() + 60;

	do {
		status(target, &st, &tr);
		if (tr == 0 && st != 't' && st != 'T')
			break;
		usleep(50000);
	} while (now() < end);
	if (tr != 0 || st == 't' || st == 'T')
		fail("the target is still stopped or traced (state %c, tracer %ld)", st, tr);
	fputs("p\n", to_target);
	fflush(to_target);
	if (!fgets(line, sizeof(line), from_target) ||
	    sscanf(line, "progress %lu %lu %lu", &a[0], &a[1], &a[2]) != 3)
		fail("the target does not answer");
	end = now() + 30;
	for (;;) {
		usleep(100000);
		fputs("p\n", to_target);
		fflush(to_target);
		if (!fgets(line, sizeof(line), from_target) ||
		    sscanf(line, "progress %lu %lu %lu", &b[0], &b[1], &b[2]) != 3)
			fail("the target does not answer");
		if (b[0] > a[0] && b[1] > a[1] && b[2] > a[2])
			break;
		if (now() > end)
			fail("the target's writers made no progress after the dump");
	}
	fputs("q\n", to_target);
	fflush(to_target);
	line[0] = '\0';
	while (fgets(line, sizeof(line), from_target)) {
		if (!strncmp(line, "target:", 7))
			break;
		printf("%s", line); /* what its check found */
	}
	waitpid(target, &ws, 0);
	target = -1;
	printf("%s", line);
	if (strncmp(line, "target: ok", 10) || !WIFEXITED(ws) || WEXITSTATUS(ws))
		fail("the target's own check failed after the dump (status %#x)", ws);
}

int main(int argc, char **argv)
{
	char ready[1024], pidarg[16], maxdisk[48], *out, *p, *cc[16];
	int in[2], outp[2], rc, nrounds = 0;
	double longest = 0, freeze;
	char mode[32] = "";
	bool killing = argc > 4 && !strcmp(argv[4], "kill");
	bool sac = argc > 4 && !strcmp(argv[4], "stop-and-copy");
	bool autom = argc > 4 && !strcmp(argv[4], "auto");
	char *probe[] = { argv[1], "probe", "--json", "--pid", pidarg, NULL };
	char *dumpargs[] = { argv[1], "dump", "--json", "-q", NULL, pidarg, "-o", core, NULL };

	if (argc < 4) {
		fprintf(stderr,
			"usage: %s WRITEWATCH DUMP_TARGET CORECHECK [rounds|kill|stop-and-copy|auto "
			"[ANON_MB]]\n",
			argv[0]);
		return 2;
	}
	setvbuf(stdout, NULL, _IONBF, 0);
#if !defined(__x86_64__)
	printf("note: not x86-64: an EINTR the stop gives epoll_wait or sigtimedwait in the "
	       "target is not put back here (writewatch-dump(1)), so it is not a failure\n");
#endif
	if (pipe(in) || pipe(outp))
		fail("pipe: %s", strerror(errno));
	target = fork();
	if (target == 0) {
		dup2(in[0], 0);
		dup2(outp[1], 1);
		close(in[1]);
		close(outp[0]);
		if (argc > 5) /* MiB of populated anonymous memory */
			setenv("DUMP_TARGET_ANON_MB", argv[5], 1);
#if !defined(__x86_64__)
		/* writewatch-dump(1): the calls a ptrace stop fails with
		 * EINTR are put back on x86-64 only (on arm64 the syscall's
		 * first argument is gone from the registers by then) */
		setenv("DUMP_TARGET_EINTR_OK", "1", 1);
#endif
		execl(argv[2], argv[2], (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	close(outp[1]);
	to_target = fdopen(in[1], "w");
	from_target = fdopen(outp[0], "r");
	if (!fgets(ready, sizeof(ready), from_target) || strncmp(ready, "ready ", 6))
		fail("the target did not start");
	ready[strcspn(ready, "\n")] = '\0';
	snprintf(pidarg, sizeof(pidarg), "%d", (int)target);

	snprintf(core, sizeof(core), "/tmp/ww-dump-rounds-%d.core", (int)getpid());
	/* Does soft-dirty track it here? The probe says, with its reason. */
	if (sac || autom)
		goto dump;
	/* (it exits 1 where nothing works: the JSON still says why) */
	run(probe, &out, NULL);
	p = strstr(out, "{\"name\":\"soft-dirty\"");
	if (!p)
		fail("writewatch probe lists no soft-dirty: %s", out);
	if (strncmp(p + 20, ",\"works\":true", 13)) {
		char *r = strstr(p, "\"reason\":\"");

		printf("SKIP: soft-dirty does not track process %d here: %.*s\n", (int)target,
		       r ? (int)strcspn(r + 10, "\"") : 0, r ? r + 10 : "");
		free(out);
		cleanup();
		return SKIP;
	}
	free(out);

	if (killing) {
		/* SIGKILL while a round has the target stopped */
		pid_t w = fork();
		char st;
		long tr;
		double end = now() + 120;

		if (w == 0) {
			int devnull = open("/dev/null", O_WRONLY);

			dup2(devnull, 1);
			setenv("WW_DUMP_TEST_STOP", "round", 1);
			execl(argv[1], argv[1], "dump", "-q", "--backend=soft-dirty", pidarg, "-o",
			      core, (char *)NULL);
			_exit(127);
		}
		do {
			status(w, &st, &tr);
			if (st == 'T' || st == 't' || st == 'Z' || st == '?')
				break;
			usleep(20000);
		} while (now() < end);
		if (st != 'T' && st != 't')
			fail("writewatch did not reach a stopped round (state %c)", st);
		status(target, &st, &tr);
		if (tr <= 0)
			fail("the target is not traced in a stopped round (the hook is early)");
		kill(w, SIGKILL);
		waitpid(w, NULL, 0);
		check_released();
		unlink(core);
		printf("PASS: writewatch killed in a stopped round: the target was released\n");
		return 0;
	}
dump:
	dumpargs[4] = sac ? "--no-precopy" : autom ? "--backend=auto" : "--backend=soft-dirty";
	rc = run(dumpargs, &out, NULL);
	printf("%s", out);
	if (rc)
		fail("writewatch dump failed (%d)", rc);
	p = strstr(out, "\"freeze_ms\":");
	freeze = p ? strtod(p + 12, NULL) : -1;
	if (sac) {
		if (!strstr(out, "\"mode\":\"stop-and-copy\""))
			fail("--no-precopy: the mode is not stop-and-copy");
		goto check;
	}
	if (autom) { /* whatever this kernel allows, said */
		p = strstr(out, "\"mode\":\"");
		if (!p)
			fail("no mode in the summary");
		snprintf(mode, sizeof(mode), "%.*s", (int)strcspn(p + 8, "\""), p + 8);
		goto check;
	}
	if (!strstr(out, "\"mode\":\"stopped-rounds\"") ||
	    !strstr(out, "stopping the process for each"))
		fail("soft-dirty works here, but the dump did not use stopped rounds, saying so");
	for (p = out; (p = strstr(p, "\"stopped_ms\":")); p++, nrounds++) {
		double ms = strtod(p + 13, NULL);

		if (ms <= 0)
			fail("a stopped round reports no stop");
		longest = ms > longest ? ms : longest;
	}
	if (!nrounds)
		fail("no rounds reported");
check:
	free(out);

	/* corecheck CORE key=value... from the ready line */
	{
		int k = 0;

		cc[k++] = argv[3];
		cc[k++] = core;
		for (char *t = strtok(ready + 6, " "); t && k < 14; t = strtok(NULL, " "))
			cc[k++] = t;
		if (argc > 5) /* the populated memory is on disk: allow it */
			snprintf(maxdisk, sizeof(maxdisk), "maxdisk=%llu",
				 (strtoull(argv[5], NULL, 10) + 256) << 20);
		if (argc > 5)
			cc[k++] = maxdisk;
		cc[k] = NULL;
		rc = run(cc, &out, NULL);
		printf("%s", out);
		if (rc)
			fail("the core's memory is not one instant of the target (corecheck)");
		if (!strstr(out, "threads 6"))
			fail("the core does not hold the target's 6 threads");
		free(out);
	}
	check_released();
	unlink(core);
	if (sac || autom)
		printf("PASS: %s (freeze %.1f ms), the core is one instant of the target\n",
		       sac ? "stop-and-copy" : mode, freeze);
	else
		printf("PASS: %d stopped rounds (longest stop %.1f ms, final freeze %.1f ms), the "
		       "core is one instant of the target\n",
		       nrounds, longest, freeze);
	return 0;
}
