/* SPDX-License-Identifier: MIT */
/*
 * Issue 16 item 9: ww_open() for another process with AUTO gives the error
 * about that process, not EOPNOTSUPP: ESRCH for a process that does not
 * exist and for a zombie, EINVAL for a kernel thread (no user memory),
 * EPERM when we may not watch it (an unprivileged caller and a root
 * target; needs root to set up, skipped otherwise). ww_backend_probe(AUTO)
 * gives the same error with a reason; on any kernel, whatever mechanism it
 * has. argv[1]: the target.
 */
#include <dirent.h>
#include <grp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "rtarget.h"

/* ww_open(AUTO) for pid; ww_open_why says the same error, with word in
 * its reason. */
static int auto_open(pid_t pid, const char *word)
{
	struct ww_opts o = { .sz = sizeof(o), .backend = WW_BACKEND_AUTO, .pid = pid };
	struct ww_tracker *t = NULL;
	char why[1024] = "junk";
	int err = ww_open(&o, &t);

	if (!err)
		ww_close(t);
	else
		CHECK(t == NULL && errno == -err);
	CHECK_EQ(ww_open_why(&o, &t, why, sizeof(why)), err);
	printf("pid %d: ww_open_why %d (%s)\n", (int)pid, err, why);
	if (!err) {
		ww_close(t);
		CHECK_EQ(why[0], '\0');
	} else {
		CHECK(strcasestr(why, word));
	}
	return err;
}

static void expect(pid_t pid, int want, const char *word)
{
	char why[256] = "";
	int err = ww_backend_probe(WW_BACKEND_AUTO, pid, why, sizeof(why));

	printf("pid %d: probe %d (%s)\n", (int)pid, err, why);
	CHECK_EQ(err, want);
	CHECK(strcasestr(why, word));
	CHECK_EQ(auto_open(pid, word), want);
	CHECK_EQ(ww_backend_auto(pid), want);
}

/* A kernel thread's pid (PF_KTHREAD in /proc/PID/stat), or 0 if none is
 * visible (a pid namespace). */
static pid_t kernel_thread(void)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	pid_t found = 0;

	CHECK(d);
	while (!found && (e = readdir(d))) {
		char path[300], buf[1024], *p;
		unsigned long flags;
		long pid = strtol(e->d_name, NULL, 10);
		FILE *f;

		if (pid <= 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
		f = fopen(path, "re");
		if (!f)
			continue;
		p = fgets(buf, sizeof(buf), f) ? strrchr(buf, ')') : NULL;
		fclose(f);
		if (p && sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %lu", &flags) == 1 &&
		    (flags & 0x00200000UL))
			found = (pid_t)pid;
	}
	closedir(d);
	return found;
}

static int unprivileged(pid_t target)
{
	if (setgroups(0, NULL) || setgid(65534) || setuid(65534))
		return 10;
	prctl(PR_SET_DUMPABLE, 1);
	expect(target, -EPERM, "permission");
	return 0;
}

int main(int argc, char **argv)
{
	struct rtarget tg;
	pid_t c, kt;
	int st;

	CHECK(argc == 2);
	/* no such process: one that existed and was reaped */
	c = fork();
	CHECK(c >= 0);
	if (c == 0)
		_exit(0);
	CHECK(waitpid(c, &st, 0) == c);
	if (kill(c, 0) < 0 && errno == ESRCH)
		expect(c, -ESRCH, "no process");
	/* a zombie: exited, not reaped */
	c = fork();
	CHECK(c >= 0);
	if (c == 0)
		_exit(0);
	CHECK(waitid(P_PID, (id_t)c, NULL, WEXITED | WNOWAIT) == 0);
	expect(c, -ESRCH, "exited");
	CHECK(waitpid(c, &st, 0) == c);

	kt = kernel_thread();
	if (kt)
		expect(kt, -EINVAL, "kernel thread");
	else
		printf("no kernel thread visible here: that case not checked\n");

	if (geteuid() != 0) {
		printf("not root: the permission case is not checked\n");
		return 0;
	}
	rtarget_start(&tg, argv[1], "read", 8);
	if (ww_backend_probe(WW_BACKEND_AUTO, tg.pid, NULL, 0) == -EOPNOTSUPP) {
		/* no mechanism can watch another process on this kernel (arm64
		 * 6.1: no pagemap-scan, no soft-dirty): that is the answer for
		 * everyone, root or not, and there is no permission to check */
		printf("no backend tracks another process here: the permission case is not "
		       "checked\n");
		st = rtarget_quit(&tg);
		CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
		return 0;
	}
	c = fork();
	CHECK(c >= 0);
	if (c == 0)
		_exit(unprivileged(tg.pid));
	CHECK(waitpid(c, &st, 0) == c);
	CHECK(WIFEXITED(st));
	CHECK_EQ(WEXITSTATUS(st), 0);
	st = rtarget_quit(&tg);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	return 0;
}
