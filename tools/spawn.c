/* SPDX-License-Identifier: MIT */
/*
 * Starting a command stopped at its first instruction, and the watchdog
 * that keeps writewatch's death from leaving a process stopped.
 *
 * A process writewatch holds in a group-stop (a new command before its
 * first instruction, a child or a new program image while its mappings are
 * registered) would stay stopped for good if writewatch died then. The
 * parent-death signal cannot cover this: it stays set on the command for
 * its whole life (a SIGCONT at writewatch's normal exit, even at the end of
 * --duration), and it only covers the command, not its children. So a
 * watchdog process does: writewatch tells it, over a pipe, which processes
 * it holds; if the pipe closes without a goodbye, the watchdog continues
 * them (by pidfd, so a reused pid is never signalled) and exits.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "spawn.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif

struct watchdog {
	pid_t pid;
	int fd; /* write end */
};

struct msg {
	int op; /* 'h' hold, 'r' release, 'q' goodbye */
	pid_t pid;
};

#define HELD_MAX 4096

static void watchdog_main(int fd)
{
	static struct {
		pid_t pid;
		int pidfd;
	} held[HELD_MAX];
	int n = 0, devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	sigset_t all;
	struct msg m;

	/* out of the terminal's process group: a Ctrl-C is for writewatch */
	setsid();
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, NULL);
	if (devnull >= 0) {
		/* hold no pipe or terminal of anyone's open */
		dup2(devnull, 0);
		dup2(devnull, 1);
		dup2(devnull, 2);
	}
	for (int i = 3; i < 1024; i++)
		if (i != fd)
			close(i);
	for (;;) {
		ssize_t r = read(fd, &m, sizeof(m));

		if (r < 0 && errno == EINTR)
			continue;
		if (r != (ssize_t)sizeof(m))
			break; /* writewatch is gone */
		if (m.op == 'q')
			_exit(0);
		if (m.op == 'h' && n < HELD_MAX) {
			held[n].pid = m.pid;
			held[n].pidfd = (int)syscall(SYS_pidfd_open, m.pid, 0);
			n++;
		} else if (m.op == 'r') {
			for (int i = 0; i < n; i++) {
				if (held[i].pid == m.pid) {
					if (held[i].pidfd >= 0)
						close(held[i].pidfd);
					held[i] = held[--n];
					break;
				}
			}
		}
	}
	for (int i = 0; i < n; i++)
		if (held[i].pidfd >= 0)
			syscall(SYS_pidfd_send_signal, held[i].pidfd, SIGCONT, NULL, 0);
	_exit(0);
}

struct watchdog *watchdog_start(void)
{
	struct watchdog *d = calloc(1, sizeof(*d));
	int p[2];

	if (!d || pipe2(p, O_CLOEXEC)) {
		free(d);
		return NULL;
	}
	d->pid = fork();
	if (d->pid < 0) {
		close(p[0]);
		close(p[1]);
		free(d);
		return NULL;
	}
	if (d->pid == 0) {
		close(p[1]);
		watchdog_main(p[0]);
	}
	close(p[0]);
	d->fd = p[1];
	return d;
}

static void say(struct watchdog *d, int op, pid_t pid)
{
	struct msg m = { op, pid };

	if (d && write(d->fd, &m, sizeof(m)) < 0) {
		/* nothing to do: the watchdog is gone */
	}
}

void watchdog_hold(struct watchdog *d, pid_t pid)
{
	say(d, 'h', pid);
}

void watchdog_release(struct watchdog *d, pid_t pid)
{
	say(d, 'r', pid);
}

void watchdog_stop(struct watchdog *d)
{
	if (!d)
		return;
	say(d, 'q', 0);
	close(d->fd);
	while (waitpid(d->pid, NULL, 0) < 0 && errno == EINTR)
		;
	free(d);
}

/*
 * The child stops itself before exec; we seize it with PTRACE_O_TRACEEXEC
 * (an exec event stop, no SIGTRAP that could kill it if we die), let it
 * exec, queue a SIGSTOP at the exec stop and detach: it stops before
 * returning to user space. The watchdog holds it from the fork on.
 */
pid_t spawn_stopped(char **argv, struct watchdog *d, const sigset_t *mask)
{
	int ep[2], st, e = 0;
	pid_t pid, parent;

	if (pipe2(ep, O_CLOEXEC))
		return -1;
	parent = getpid();
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		close(ep[0]);
		/* held from before its stop: writewatch may die any time */
		watchdog_hold(d, getpid());
		if (d)
			close(d->fd); /* else our death would not close the pipe */
		sigprocmask(SIG_SETMASK, mask, NULL);
		if (getppid() != parent)
			_exit(127); /* writewatch is gone already */
		raise(SIGSTOP);
		execvp(argv[0], argv);
		e = errno;
		if (write(ep[1], &e, sizeof(e)) < 0)
			_exit(126);
		_exit(127);
	}
	close(ep[1]);
	if (waitpid(pid, &st, WUNTRACED) != pid || !WIFSTOPPED(st) ||
	    ptrace(PTRACE_SEIZE, pid, NULL, (void *)(long)PTRACE_O_TRACEEXEC) < 0) {
		e = errno;
		goto fail;
	}
	kill(pid, SIGCONT);
	for (;;) {
		int sig = 0;

		if (waitpid(pid, &st, __WALL) != pid || !WIFSTOPPED(st))
			goto fail; /* exec failed: the errno is in the pipe */
		if ((st >> 16) == PTRACE_EVENT_EXEC)
			break;
		if ((st >> 16) == 0 && WSTOPSIG(st) != SIGSTOP)
			sig = WSTOPSIG(st); /* pass signals on, but not our SIGSTOP */
		ptrace(PTRACE_CONT, pid, NULL, (void *)(long)sig);
	}
	close(ep[0]);
	/* The SIGSTOP is queued with kill() before a plain detach, not passed
	 * to PTRACE_DETACH: a SIGCONT generated later (the watchdog's, if
	 * writewatch is killed now) discards a pending SIGSTOP, whereas one
	 * handed over by the detach would be acted on after it and leave the
	 * command stopped for good. */
	kill(pid, SIGSTOP);
	ptrace(PTRACE_DETACH, pid, NULL, NULL);
	while (waitpid(pid, &st, WUNTRACED) == pid && !WIFSTOPPED(st)) {
		if (WIFEXITED(st) || WIFSIGNALED(st))
			return -1;
	}
	return pid;
fail:
	if (read(ep[0], &e, sizeof(e)) <= 0 && !e)
		e = ECHILD;
	fprintf(stderr, "writewatch run: cannot run %s: %s\n", argv[0], strerror(e));
	close(ep[0]);
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	watchdog_release(d, pid);
	return -1;
}
