/* SPDX-License-Identifier: MIT */
/*
 * The freeze (see freeze.h), after the pattern of src/remote.c: a helper
 * process forked here, in its own session, with every catchable signal
 * blocked, seizes each thread with PTRACE_SEIZE, stops it with
 * PTRACE_INTERRUPT, reads its registers and sends them over a socketpair;
 * then it waits for one of: the caller's "release", the end of the socket
 * (the caller died), or its own time limit; and detaches every thread.
 *
 * A stop must not change what the target's syscalls return. Calls that
 * restart by themselves (-ERESTART*) do so after the detach; the calls that
 * signal(7) says fail with EINTR on a stop (epoll_wait, sigtimedwait, semop,
 * socket calls with a timeout...) are rewound to execute again, on x86-64,
 * when no signal is pending (a pending signal makes the EINTR genuine). The
 * core keeps the registers as they were at the stop.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <elf.h>

#include "freeze.h"

#ifndef PTRACE_EVENT_STOP
#define PTRACE_EVENT_STOP 128
#endif
#ifndef NT_X86_XSTATE
#define NT_X86_XSTATE 0x202
#endif
#define STOP_TIMEOUT_MS 3000

enum { MSG_THREAD = 1, MSG_STOPPED, MSG_RELEASED };

struct msg {
	int kind;
	int err; /* MSG_STOPPED: 0 or negative errno; MSG_RELEASED: -ETIMEDOUT if late */
	int n; /* threads */
	int eintr;
	char why[200];
};

struct tstate {
	pid_t tid;
	int state; /* 0 seized, 1 stopped, 2 gone */
};

static long now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000L + t.tv_nsec / 1000000L;
}

static void why_set(struct msg *m, int err, const char *fmt, long a)
{
	m->err = err;
	snprintf(m->why, sizeof(m->why), fmt, a);
}

/* /proc/PID/task/TID/status: SigPnd | ShdPnd, and SigBlk. */
static void sigstate(pid_t pid, pid_t tid, unsigned long long *pend, unsigned long long *blk)
{
	char path[80], line[256];
	FILE *f;

	*pend = *blk = 0;
	snprintf(path, sizeof(path), "/proc/%d/task/%d/status", (int)pid, (int)tid);
	f = fopen(path, "re");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "SigPnd:", 7) || !strncmp(line, "ShdPnd:", 7))
			*pend |= strtoull(line + 7, NULL, 16);
		else if (!strncmp(line, "SigBlk:", 7))
			*blk = strtoull(line + 7, NULL, 16);
	}
	fclose(f);
}

#if defined(__x86_64__)
/* Syscalls that return EINTR, not -ERESTART*, when a stop interrupts them
 * (signal(7), "Interruption of system calls and library functions by stop
 * signals"), and for which executing them again is what would have
 * happened without the stop. */
static bool eintr_on_stop(long nr)
{
	switch (nr) {
	case SYS_epoll_wait:
	case SYS_epoll_pwait:
#ifdef SYS_epoll_pwait2
	case SYS_epoll_pwait2:
#endif
	case SYS_rt_sigtimedwait:
	case SYS_semop:
	case SYS_semtimedop:
	case SYS_recvfrom:
	case SYS_recvmsg:
	case SYS_recvmmsg:
	case SYS_sendto:
	case SYS_sendmsg:
	case SYS_sendmmsg:
	case SYS_accept:
	case SYS_accept4:
		return true;
	default:
		return false;
	}
}

/* Rewind a syscall that the stop made fail with EINTR. 1 if done. */
static int fix_eintr(pid_t pid, struct ec_thread *t)
{
	struct user_regs_struct r;
	struct iovec iov = { &r, sizeof(r) };
	long word;

	memcpy(&r, &t->regs, sizeof(r));
	if ((long)r.orig_rax < 0 || (long)r.rax != -EINTR || !eintr_on_stop((long)r.orig_rax))
		return 0;
	if (t->sigpend)
		return 0; /* a signal interrupted it too: the EINTR is real */
	errno = 0;
	word = ptrace(PTRACE_PEEKTEXT, t->tid, (void *)(r.rip - 2), NULL);
	if (errno || (word & 0xffff) != 0x050f) /* syscall */
		return 0;
	r.rax = r.orig_rax;
	r.rip -= 2;
	(void)pid;
	return ptrace(PTRACE_SETREGSET, t->tid, (void *)NT_PRSTATUS, &iov) == 0;
}
#else
static int fix_eintr(pid_t pid, struct ec_thread *t)
{
	(void)pid;
	(void)t;
	return 0;
}
#endif

static void read_regs(pid_t pid, struct ec_thread *t)
{
	struct iovec iov = { &t->regs, sizeof(t->regs) };

	if (ptrace(PTRACE_GETREGSET, t->tid, (void *)NT_PRSTATUS, &iov) < 0)
		memset(&t->regs, 0, sizeof(t->regs));
	iov = (struct iovec){ t->fp, sizeof(t->fp) };
	t->fplen =
		ptrace(PTRACE_GETREGSET, t->tid, (void *)NT_PRFPREG, &iov) == 0 ? iov.iov_len : 0;
#if defined(__x86_64__)
	iov = (struct iovec){ t->xstate, sizeof(t->xstate) };
	t->xlen = ptrace(PTRACE_GETREGSET, t->tid, (void *)NT_X86_XSTATE, &iov) == 0 ? iov.iov_len :
										       0;
#endif
	sigstate(pid, t->tid, &t->sigpend, &t->sighold);
}

/* Seize every thread not yet in ts; returns how many were new, or -errno. */
static int seize_new(pid_t pid, struct tstate **ts, size_t *n, size_t *cap)
{
	char path[64];
	struct dirent *d;
	int added = 0;
	DIR *dir;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	dir = opendir(path);
	if (!dir)
		return errno == ENOENT ? -ESRCH : -errno;
	while ((d = readdir(dir))) {
		pid_t tid = (pid_t)atoi(d->d_name);
		bool known = false;

		if (tid <= 0)
			continue;
		for (size_t i = 0; i < *n; i++)
			known |= (*ts)[i].tid == tid;
		if (known)
			continue;
		if (ptrace(PTRACE_SEIZE, tid, NULL, NULL) < 0) {
			if (errno == ESRCH)
				continue; /* exited meanwhile */
			closedir(dir);
			return -errno;
		}
		if (*n == *cap) {
			size_t c = *cap ? *cap * 2 : 16;
			struct tstate *p = realloc(*ts, c * sizeof(*p));

			if (!p) {
				ptrace(PTRACE_DETACH, tid, NULL, NULL);
				closedir(dir);
				return -ENOMEM;
			}
			*ts = p;
			*cap = c;
		}
		(*ts)[(*n)++] = (struct tstate){ tid, 0 };
		added++;
		if (ptrace(PTRACE_INTERRUPT, tid, NULL, NULL) < 0 && errno != ESRCH) {
			closedir(dir);
			return -errno;
		}
	}
	closedir(dir);
	return added;
}

/* Wait until every seized thread is stopped or gone; pass on signals. */
static int wait_stops(struct tstate *ts, size_t n, long deadline)
{
	sigset_t chld;

	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	for (;;) {
		size_t running = 0;
		int st;
		pid_t r;

		for (size_t i = 0; i < n; i++)
			running += ts[i].state == 0;
		if (!running)
			return 0;
		r = waitpid(-1, &st, __WALL | WNOHANG);
		if (r < 0 && errno != EINTR)
			return -errno;
		if (r > 0) {
			for (size_t i = 0; i < n; i++) {
				if (ts[i].tid != r)
					continue;
				if (!WIFSTOPPED(st))
					ts[i].state = 2;
				else if ((st >> 16) == PTRACE_EVENT_STOP)
					ts[i].state = 1; /* ours, or a group-stop */
				else if ((st >> 16) == 0)
					/* a signal got there first: deliver it */
					ptrace(PTRACE_CONT, r, NULL, (void *)(long)WSTOPSIG(st));
				else
					ptrace(PTRACE_CONT, r, NULL, NULL);
			}
			continue;
		}
		if (r == 0) {
			long left = deadline - now_ms();
			struct timespec to;

			if (left <= 0)
				return -ETIMEDOUT;
			to.tv_sec = left / 1000;
			to.tv_nsec = (left % 1000) * 1000000L;
			sigtimedwait(&chld, NULL, &to);
		}
	}
}

static void send_msg(int sock, const void *d, size_t n)
{
	while (send(sock, d, n, MSG_NOSIGNAL) < 0 && errno == EINTR)
		;
}

static void detach_all(struct tstate *ts, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (ts[i].state == 1)
			ptrace(PTRACE_DETACH, ts[i].tid, NULL, NULL);
}

static void close_others(int keep)
{
#ifdef SYS_close_range
	if (syscall(SYS_close_range, 3, keep - 1, 0) == 0 &&
	    syscall(SYS_close_range, keep + 1, ~0U, 0) == 0)
		return;
#endif
	for (int fd = 3; fd < 65536; fd++)
		if (fd != keep)
			close(fd);
}

static void helper(pid_t pid, int sock, int limit_ms)
{
	struct msg m = { .kind = MSG_STOPPED };
	struct tstate *ts = NULL;
	size_t n = 0, cap = 0;
	long deadline;
	struct ec_thread *t = NULL;
	struct pollfd pfd = { .fd = sock, .events = POLLIN };
	int err, stopped_at;

	setsid();
	/* Hold nothing of the caller's (its userfaultfd above all: the
	 * target's registrations must die with the caller). */
	close_others(sock);
	/* Forked ahead of the freeze: wait for "stop" (or the caller's end). */
	{
		char c;
		ssize_t r;

		do
			r = recv(sock, &c, 1, 0);
		while (r < 0 && errno == EINTR);
		if (r != 1)
			_exit(0);
	}
	deadline = now_ms() + STOP_TIMEOUT_MS;
	/* New threads can only come from threads still running: seize until
	 * a scan of the task list finds nothing new. */
	for (;;) {
		err = seize_new(pid, &ts, &n, &cap);
		if (err < 0) {
			why_set(&m, err,
				err == -EPERM ? "no permission to ptrace process %ld" :
						"cannot seize the threads of process %ld",
				(long)pid);
			goto out;
		}
		if (!err)
			break;
		err = wait_stops(ts, n, deadline);
		if (err) {
			why_set(&m, err,
				err == -ETIMEDOUT ? "process %ld did not stop within 3 s "
						    "(uninterruptible sleep?)" :
						    "waiting for process %ld to stop",
				(long)pid);
			goto out;
		}
	}
	if (getenv("WW_DUMP_TIMING"))
		fprintf(stderr, "writewatch dump: helper: %zu threads stopped in %ld ms\n", n,
			now_ms() - (deadline - STOP_TIMEOUT_MS));
	t = malloc(sizeof(*t));
	if (!t) {
		why_set(&m, -ENOMEM, "out of memory (process %ld)", (long)pid);
		goto out;
	}
	/* the thread group leader first: gdb selects the first thread */
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < n; i++) {
			if (ts[i].state != 1 || (pass == 0) != (ts[i].tid == pid))
				continue;
			memset(t, 0, sizeof(*t));
			t->tid = ts[i].tid;
			read_regs(pid, t);
			m.eintr += fix_eintr(pid, t);
			m.n++;
			send_msg(sock, t, sizeof(*t));
		}
	}
	if (!m.n)
		why_set(&m, -ESRCH, "process %ld exited", (long)pid);
out:
	stopped_at = (int)now_ms();
	send_msg(sock, &m, sizeof(m));
	if (!m.err) {
		/* Wait for "release", the caller's end (its death closes the
		 * socket), or the time limit. */
		int left = limit_ms, r;

		for (;;) {
			r = poll(&pfd, 1, left);
			if (r > 0 || (r < 0 && errno != EINTR))
				break;
			left = limit_ms - ((int)now_ms() - stopped_at);
			if (r == 0 || left <= 0) {
				r = 0;
				break;
			}
		}
		detach_all(ts, n);
		/* consume "release": unread data at close would reset the
		 * connection and lose our answer */
		if (r > 0) {
			char c;

			recv(sock, &c, 1, MSG_DONTWAIT);
		}
		m.kind = MSG_RELEASED;
		m.err = r == 0 ? -ETIMEDOUT : 0;
		send_msg(sock, &m, sizeof(m));
	} else {
		detach_all(ts, n);
	}
	free(t);
	free(ts);
	_exit(0);
}

static ssize_t recv_msg(int sock, void *d, size_t n)
{
	ssize_t r;

	do
		r = recv(sock, d, n, 0);
	while (r < 0 && errno == EINTR);
	return r;
}

int fz_spawn(struct freeze *f, pid_t pid, int limit_ms, char *why, size_t whylen)
{
	sigset_t all, old;
	int sv[2], err;

	memset(f, 0, sizeof(*f));
	f->sock = -1;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		snprintf(why, whylen, "socketpair: %s", strerror(errno));
		return -errno;
	}
	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, &old);
	f->helper = fork();
	if (f->helper == 0) {
		close(sv[0]);
		helper(pid, sv[1], limit_ms);
	}
	err = f->helper < 0 ? -errno : 0;
	sigprocmask(SIG_SETMASK, &old, NULL);
	close(sv[1]);
	if (err) {
		close(sv[0]);
		snprintf(why, whylen, "fork: %s", strerror(-err));
		return err;
	}
	f->sock = sv[0];
	return 0;
}

int fz_stop(struct freeze *f, char *why, size_t whylen)
{
	size_t cap = 0;
	struct ec_thread *buf = malloc(sizeof(*buf));
	char c = 'S';
	int err = 0;

	if (!buf) {
		snprintf(why, whylen, "out of memory");
		err = -ENOMEM;
		goto out;
	}
	send_msg(f->sock, &c, 1);
	for (;;) {
		ssize_t r = recv_msg(f->sock, buf, sizeof(*buf));

		if (r == (ssize_t)sizeof(*buf)) {
			if (f->n == cap) {
				size_t nc = cap ? cap * 2 : 8;
				struct ec_thread *p = realloc(f->th, nc * sizeof(*p));

				if (!p) {
					err = -ENOMEM;
					snprintf(why, whylen, "out of memory");
					break;
				}
				f->th = p;
				cap = nc;
			}
			f->th[f->n++] = *buf;
		} else if (r == (ssize_t)sizeof(struct msg)) {
			struct msg m;

			memcpy(&m, buf, sizeof(m));
			err = m.err;
			f->eintr_fixed = m.eintr;
			if (err)
				snprintf(why, whylen, "%s: %s", m.why, strerror(-err));
			break;
		} else {
			err = -EIO;
			snprintf(why, whylen, "the freeze helper died without an answer");
			break;
		}
	}
out:
	free(buf);
	if (err) {
		fz_release(f);
		fz_free(f);
	}
	return err;
}

int fz_release(struct freeze *f)
{
	struct msg m = { 0 };
	char c = 'R';
	int err = -EIO;

	if (f->sock < 0)
		return 0;
	send_msg(f->sock, &c, 1);
	if (recv_msg(f->sock, &m, sizeof(m)) == (ssize_t)sizeof(m) && m.kind == MSG_RELEASED)
		err = m.err;
	close(f->sock);
	f->sock = -1;
	return err;
}

void fz_free(struct freeze *f)
{
	if (f->sock >= 0) {
		close(f->sock); /* a helper never told to stop exits */
		f->sock = -1;
	}
	if (f->helper > 0)
		while (waitpid(f->helper, NULL, 0) < 0 && errno == EINTR)
			;
	f->helper = 0;
	free(f->th);
	f->th = NULL;
	f->n = 0;
}
