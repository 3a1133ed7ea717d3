/* SPDX-License-Identifier: MIT */
/* Driving the remote tests' target program: see rtarget.h. */

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "rtarget.h"

static void read_line(int fd, char *buf, size_t len)
{
	size_t n = 0;
	char c;

	while (n < len - 1) {
		ssize_t r = read(fd, &c, 1);

		CHECK(r == 1);
		if (c == '\n')
			break;
		buf[n++] = c;
	}
	buf[n] = '\0';
}

void rtarget_start(struct rtarget *t, const char *path, const char *mode, size_t pages)
{
	int in[2], out[2];
	char line[128], pbuf[32], near[512];
	ssize_t n;

	/* Build trees get copied elsewhere (the VM runs them from /t): then the
	 * target sits next to this test program. */
	if (access(path, X_OK) && (n = readlink("/proc/self/exe", near, sizeof(near) - 64)) > 0) {
		const char *base = strrchr(path, '/');

		near[n] = '\0';
		if (strrchr(near, '/'))
			strcpy(strrchr(near, '/') + 1, base ? base + 1 : path);
		path = near;
	}

	CHECK(pipe2(in, O_CLOEXEC) == 0 && pipe2(out, O_CLOEXEC) == 0);
	snprintf(pbuf, sizeof(pbuf), "%zu", pages);
	t->pid = fork();
	CHECK(t->pid >= 0);
	if (t->pid == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		execl(path, path, mode, pbuf, (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	t->to = in[1];
	t->from = out[0];
	read_line(t->from, line, sizeof(line));
	CHECK(sscanf(line, "%p %zu", (void **)&t->addr, &t->pages) == 2);
}

void rtarget_write(struct rtarget *t, size_t k)
{
	char cmd[32], line[32];
	int n = snprintf(cmd, sizeof(cmd), "w %zu\n", k);

	CHECK(write(t->to, cmd, (size_t)n) == n);
	read_line(t->from, line, sizeof(line));
	CHECK(!strcmp(line, "ok"));
}

void rtarget_unmap(struct rtarget *t, size_t first, size_t n)
{
	char cmd[48], line[32];
	int len = snprintf(cmd, sizeof(cmd), "m %zu %zu\n", first, n);

	CHECK(write(t->to, cmd, (size_t)len) == len);
	read_line(t->from, line, sizeof(line));
	CHECK(!strcmp(line, "ok"));
}

int rtarget_quit(struct rtarget *t)
{
	int st;

	CHECK(write(t->to, "q\n", 2) == 2);
	CHECK(waitpid(t->pid, &st, 0) == t->pid);
	close(t->to);
	close(t->from);
	return st;
}

void rtarget_fds(pid_t pid, char *buf, size_t len)
{
	char dir[64], path[400], link[256];
	struct dirent *d;
	size_t at = 0;
	DIR *dp;

	snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
	dp = opendir(dir);
	CHECK(dp);
	buf[0] = '\0';
	/* readdir order of /proc/PID/fd is by number: stable across calls */
	while ((d = readdir(dp))) {
		ssize_t n;

		if (d->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, d->d_name);
		n = readlink(path, link, sizeof(link) - 1);
		if (n < 0)
			continue;
		link[n] = '\0';
		at += (size_t)snprintf(buf + at, at < len ? len - at : 0, "%s -> %s\n", d->d_name,
				       link);
	}
	closedir(dp);
}

bool rtarget_has_uffd(pid_t pid)
{
	char buf[8192];

	rtarget_fds(pid, buf, sizeof(buf));
	return strstr(buf, "userfaultfd") != NULL;
}

void rtarget_state(pid_t pid, char *state, long *tracer)
{
	char path[64], line[256];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	CHECK(f);
	*state = '?';
	*tracer = -1;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "State:", 6))
			sscanf(line + 6, " %c", state);
		if (!strncmp(line, "TracerPid:", 10))
			*tracer = strtol(line + 10, NULL, 10);
	}
	fclose(f);
}

void rtarget_subreaper(void)
{
	CHECK(prctl(PR_SET_CHILD_SUBREAPER, 1) == 0);
}

void rtarget_reap_others(pid_t keep)
{
	for (;;) {
		struct dirent *d;
		bool any = false;
		DIR *dp = opendir("/proc");

		CHECK(dp);
		while ((d = readdir(dp))) {
			char path[300], buf[512], *p;
			long pid = strtol(d->d_name, NULL, 10), ppid;
			FILE *f;

			if (pid <= 0 || pid == keep)
				continue;
			snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
			f = fopen(path, "re");
			if (!f)
				continue;
			p = fgets(buf, sizeof(buf), f) ? strrchr(buf, ')') : NULL;
			fclose(f);
			/* ") S PPID ..." */
			if (p && sscanf(p + 2, "%*c %ld", &ppid) == 1 && ppid == getpid()) {
				waitpid((pid_t)pid, NULL, 0);
				any = true;
			}
		}
		closedir(dp);
		if (!any)
			return;
	}
}
