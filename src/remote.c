/* SPDX-License-Identifier: MIT */
/*
 * Getting a userfaultfd out of another process. A short-lived helper process
 * (forked here, in its own session, with every catchable signal blocked)
 * seizes the target with ptrace, interrupts it, saves its registers and
 * signal mask, makes it execute userfaultfd(2) and, after we copied the new
 * descriptor with pidfd_getfd(2), close(2); then it puts the registers and
 * mask back, detaches, and passes our copy to the caller over a socketpair.
 * The helper, not the caller, borrows the target's registers, so killing the
 * caller at any moment (SIGKILL included) cannot leave the target running on
 * half-injected registers: the helper finishes the sequence regardless and
 * then exits. The architecture-specific part lives in src/sys/inject_*.c.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/elf.h>

#include "internal.h"
#include "remote.h"
#include "sys/inject.h"
#include "sys/sys.h"

#ifndef PTRACE_EVENT_STOP
#define PTRACE_EVENT_STOP 128
#endif
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif
#define AT_SYSINFO_EHDR_ 33

/* Where the helper stopped, for the caller's message. */
enum stage {
	ST_OK,
	ST_SEIZE,
	ST_INTERRUPT,
	ST_STOP,
	ST_REGS,
	ST_ARCH,
	ST_NOINSN,
	ST_INJECT,
	ST_UFFD,
	ST_GETFD,
	ST_CLOSE,
	ST_RESTORE,
};

struct helper_result {
	int err; /* 0 or negative errno */
	int stage;
	int restored; /* 1: registers and mask were put back, target detached */
	long restarted; /* a call that failed with EINTR because of our stop
			 * only, and was made to restart: its number, or -1 */
	long eintr_left; /* such a call we could not restart, or -1 */
};

/* Syscalls that install a temporary signal mask and restore it on return
 * (TIF_RESTORE_SIGMASK): touching the mask with PTRACE_SETSIGMASK while one
 * of them is interrupted would lose the saved mask, so we leave it alone. */
static bool sigmask_syscall(long nr)
{
	switch (nr) {
#ifdef SYS_rt_sigsuspend
	case SYS_rt_sigsuspend:
#endif
#ifdef SYS_ppoll
	case SYS_ppoll:
#endif
#ifdef SYS_pselect6
	case SYS_pselect6:
#endif
#ifdef SYS_epoll_pwait
	case SYS_epoll_pwait:
#endif
#ifdef SYS_epoll_pwait2
	case SYS_epoll_pwait2:
#endif
#ifdef SYS_io_pgetevents
	case SYS_io_pgetevents:
#endif
		return true;
	default:
		return false;
	}
}

/*
 * Calls that fail with EINTR, not a restart code, when the thread is merely
 * stopped (a ptrace interrupt included) with no signal handler run: signal(7),
 * "Interruption of system calls and library functions by stop signals". The
 * socket calls do so only with a timeout (SO_RCVTIMEO, SO_SNDTIMEO), and so
 * do read(2) and write(2) on a socket; io_getevents(2) and io_uring_enter(2)
 * too, though signal(7) does not say so. Each returns EINTR only when it did
 * nothing (no bytes, no events, no submissions, no signal taken, no
 * semaphore changed), so
 * executing it again with the same arguments is the restart the kernel does
 * for the others. A relative timeout starts again from its full length: the
 * call may return that much later than it would have, as if the process had
 * been descheduled meanwhile, never earlier and never with EINTR.
 */
static bool fd_is_socket(pid_t pid, unsigned long fd);

static bool stop_eintr_syscall(pid_t pid, const ww__regs *r)
{
	switch (ww__regs_in_syscall(r)) {
#ifdef SYS_epoll_wait
	case SYS_epoll_wait:
#endif
#ifdef SYS_epoll_pwait
	case SYS_epoll_pwait:
#endif
#ifdef SYS_epoll_pwait2
	case SYS_epoll_pwait2:
#endif
#ifdef SYS_rt_sigtimedwait
	case SYS_rt_sigtimedwait:
#endif
#ifdef SYS_semop
	case SYS_semop:
#endif
#ifdef SYS_io_getevents
	case SYS_io_getevents:
#endif
#ifdef SYS_io_pgetevents
	case SYS_io_pgetevents:
#endif
#ifdef SYS_io_uring_enter
	case SYS_io_uring_enter:
#endif
#ifdef SYS_semtimedop
	case SYS_semtimedop:
#endif
#ifdef SYS_accept
	case SYS_accept:
#endif
#ifdef SYS_accept4
	case SYS_accept4:
#endif
#ifdef SYS_connect
	case SYS_connect:
#endif
#ifdef SYS_recvfrom
	case SYS_recvfrom:
#endif
#ifdef SYS_recvmsg
	case SYS_recvmsg:
#endif
#ifdef SYS_recvmmsg
	case SYS_recvmmsg:
#endif
#ifdef SYS_sendto
	case SYS_sendto:
#endif
#ifdef SYS_sendmsg
	case SYS_sendmsg:
#endif
#ifdef SYS_sendmmsg
	case SYS_sendmmsg:
#endif
		return true;
#ifdef SYS_read
	case SYS_read:
#endif
#ifdef SYS_readv
	case SYS_readv:
#endif
#ifdef SYS_write
	case SYS_write:
#endif
#ifdef SYS_writev
	case SYS_writev:
#endif
		return fd_is_socket(pid, ww__regs_arg(r, 0));
	default:
		return false;
	}
}

/* "/proc/PID/SUFFIX" into buf, async-signal-safe. */
static void proc_path(char *buf, pid_t pid, const char *mid, unsigned long n, const char *suffix)
{
	char digits[24];
	size_t at = 0, k = 0;
	unsigned long v = (unsigned long)pid;

	for (const char *p = "/proc/"; *p; p++)
		buf[at++] = *p;
	do
		digits[k++] = (char)('0' + v % 10);
	while ((v /= 10));
	while (k)
		buf[at++] = digits[--k];
	for (const char *p = mid; *p; p++)
		buf[at++] = *p;
	if (mid[0]) {
		k = 0;
		do
			digits[k++] = (char)('0' + n % 10);
		while ((n /= 10));
		while (k)
			buf[at++] = digits[--k];
	}
	for (const char *p = suffix; *p; p++)
		buf[at++] = *p;
	buf[at] = '\0';
}

/*
 * The call the thread pid is blocked in, from /proc/PID/syscall ("nr a0 ..
 * a5 sp pc", hexadecimal after nr): its number (-1 if none or unreadable),
 * arguments and the pc after its syscall instruction. Async-signal-safe.
 * Read before the stop, for architectures whose registers lose a returned
 * call's first argument (see ww__regs_note_blocked()).
 */
static long blocked_call(pid_t pid, unsigned long args[6], uintptr_t *pc)
{
	char path[96], text[256];
	unsigned long v[9] = { 0 };
	ssize_t n;
	long nr = 0;
	int fd, k = -1;
	bool neg = false, any = false;

	proc_path(path, pid, "", 0, "/syscall");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, text, sizeof(text) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	text[n] = '\0';
	for (char *p = text; *p && k < 9; p++) {
		if (*p == ' ' || *p == '\n') {
			if (!any)
				return -1;
			k++;
			any = false;
			continue;
		}
		if (k < 0) { /* the number, decimal */
			if (*p == '-' && !any)
				neg = true;
			else if (*p >= '0' && *p <= '9')
				nr = nr * 10 + (*p - '0');
			else
				return -1; /* "running" */
			any = true;
		} else if (*p == 'x' && v[k] == 0) {
			continue; /* the 0x prefix */
		} else {
			int d = *p >= '0' && *p <= '9' ? *p - '0' :
				*p >= 'a' && *p <= 'f' ? *p - 'a' + 10 :
							 -1;

			if (d < 0)
				return -1;
			v[k] = v[k] << 4 | (unsigned long)d;
			any = true;
		}
	}
	if (neg || k < 8)
		return -1;
	for (int i = 0; i < 6; i++)
		args[i] = v[i];
	*pc = (uintptr_t)v[7];
	return nr;
}

static bool fd_is_socket(pid_t pid, unsigned long fd)
{
	char path[96], link[16];
	ssize_t n;

	if (fd > 0x7fffffffUL)
		return false;
	proc_path(path, pid, "/fd/", fd, "");
	n = readlink(path, link, sizeof(link));
	return n >= 8 && !memcmp(link, "socket:[", 8);
}

/* Signals held back while the registers are borrowed (see inject()). */
#define HOLD_MAX 64
struct held {
	int n;
	siginfo_t si[HOLD_MAX];
};

/* The hexadecimal set after "key:" in a /proc status text, or ~0 (as if
 * everything were set) when it is missing. */
static uint64_t status_set(const char *text, const char *key)
{
	size_t kl = strlen(key);
	uint64_t v = 0;

	for (const char *p = text; *p; p++) {
		if ((p == text || p[-1] == '\n') && !strncmp(p, key, kl) && p[kl] == ':') {
			p += kl + 1;
			while (*p == ' ' || *p == '\t')
				p++;
			for (;; p++) {
				int d = *p >= '0' && *p <= '9' ? *p - '0' :
					*p >= 'a' && *p <= 'f' ? *p - 'a' + 10 :
								 -1;

				if (d < 0)
					return v;
				v = v << 4 | (uint64_t)d;
			}
		}
	}
	return ~0ULL;
}

/* Would signal sig (1-64) interrupt a call of the thread under mask, given
 * its dispositions: not blocked, not ignored, and either caught or with a
 * default action other than ignoring it (stopping or ending the process). */
static bool interrupts(int sig, uint64_t mask, uint64_t ign, uint64_t cgt)
{
	uint64_t bit = 1ULL << (sig - 1);

	if (sig < 1 || sig > 64 || (mask & bit) || (ign & bit))
		return false;
	if (cgt & bit)
		return true;
	return sig != SIGCHLD && sig != SIGURG && sig != SIGWINCH && sig != SIGCONT;
}

/* The stopped thread pid's pending, blocked, ignored and caught signal
 * sets from /proc; false if they cannot be read. */
static bool read_sigs(pid_t pid, uint64_t *pnd, uint64_t *blk, uint64_t *ign, uint64_t *cgt)
{
	char path[96], text[8192];
	ssize_t n = 0, r;
	int fd;

	proc_path(path, pid, "/task/", (unsigned long)pid, "/status");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	while (n < (ssize_t)sizeof(text) - 1 &&
	       (r = read(fd, text + n, sizeof(text) - 1 - (size_t)n)) > 0)
		n += r;
	close(fd);
	text[n] = '\0';
	*pnd = status_set(text, "SigPnd") | status_set(text, "ShdPnd");
	*blk = status_set(text, "SigBlk");
	*ign = status_set(text, "SigIgn");
	*cgt = status_set(text, "SigCgt");
	return *pnd != ~0ULL && *blk != ~0ULL && *ign != ~0ULL && *cgt != ~0ULL;
}

/*
 * Is a signal pending for the stopped thread pid (or held back by us, h)
 * that would interrupt its call under mask (use_mask) or under its current
 * mask? If so, its EINTR is not only ours: the call would have failed with
 * EINTR without us, and is left to. Signals it ignores do not count: they
 * reach it only because it is traced. Any doubt (status unreadable) counts
 * as a signal.
 */
static bool signal_waiting(pid_t pid, bool use_mask, uint64_t mask, const struct held *h)
{
	uint64_t pnd, blk, ign, cgt;

	if (!read_sigs(pid, &pnd, &blk, &ign, &cgt))
		return true;
	if (!use_mask)
		mask = blk;
	for (int s = 1; s <= 64; s++)
		if ((pnd & (1ULL << (s - 1))) && interrupts(s, mask, ign, cgt))
			return true;
	for (int i = 0; h && i < h->n; i++)
		if (interrupts(h->si[i].si_signo, mask, ign, cgt))
			return true;
	return false;
}

static int wait_tracee(pid_t pid, int *st)
{
	for (;;) {
		pid_t r = waitpid(pid, st, __WALL);

		if (r == pid)
			return WIFSTOPPED(*st) ? 0 : -ESRCH;
		if (r < 0 && errno != EINTR)
			return -errno;
	}
}

/* At a syscall stop: PTRACE_SYSCALL_INFO_ENTRY or _EXIT, or -1 when the
 * kernel cannot tell (before 5.3; then stops simply alternate). */
static int syscall_op(pid_t pid)
{
	struct __ptrace_syscall_info info;

	if (ptrace(PTRACE_GET_SYSCALL_INFO, pid, (void *)sizeof(info), &info) <= 0)
		return -1;
	return info.op;
}

/*
 * Run one syscall in the stopped tracee: from any ptrace-stop, through its
 * syscall-entry stop, to its syscall-exit stop. A signal that gets through
 * meanwhile (SIGSTOP always; any signal when the target's mask could not be
 * touched) must not be delivered onto the injected registers: its stop is
 * suppressed and its siginfo kept in *h, to be sent again after detach.
 */
static int inject(pid_t pid, const ww__regs *base, uintptr_t insn, long nr,
		  const unsigned long args[6], long *ret, struct held *h)
{
	ww__regs r = *base;
	int st, err, entered = 0, op;

	ww__regs_syscall(&r, insn, nr, args);
	err = ww__regs_set(pid, &r);
	if (err)
		return err;
	for (;;) {
		if (ptrace(PTRACE_SYSCALL, pid, NULL, NULL) < 0)
			return -errno;
		err = wait_tracee(pid, &st);
		if (err)
			return err;
		if (WSTOPSIG(st) == (SIGTRAP | 0x80)) {
			/* The first stop may be the exit of a syscall the
			 * tracee was entering when we took over: ask. */
			op = syscall_op(pid);
			if (op == PTRACE_SYSCALL_INFO_ENTRY || (op < 0 && !entered)) {
				entered = 1;
				continue;
			}
			if (entered) {
				err = ww__regs_get(pid, &r);
				if (err)
					return err;
				*ret = ww__regs_result(&r);
				return 0;
			}
			/* an exit before our entry: the syscall we skipped */
		} else if ((st >> 16) == 0 && h->n < HOLD_MAX) {
			/* signal-delivery-stop */
			if (ptrace(PTRACE_GETSIGINFO, pid, NULL, &h->si[h->n]) == 0)
				h->n++;
		}
		/* Group-stops and other event stops: just keep going. */
	}
}

/* Wait for the stop PTRACE_INTERRUPT asked for, passing on any signal that
 * gets there first exactly as it would have been delivered. A task in an
 * uninterruptible sleep does not stop until it wakes: give up after
 * STOP_TIMEOUT_S rather than hang the caller (nothing has been changed in
 * the target yet, and our exit detaches it). SIGCHLD is blocked in the
 * helper, so sigtimedwait sees each stop notification. */
#define STOP_TIMEOUT_S 3
/* waitpid for a stop of pid, for at most *left (which is decreased). */
static int wait_timed(pid_t pid, int *st, struct timespec *left)
{
	sigset_t chld;

	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	for (;;) {
		pid_t r = waitpid(pid, st, __WALL | WNOHANG);
		struct timespec t0, t1;

		if (r < 0 && errno != EINTR)
			return -errno;
		if (r == pid)
			return WIFSTOPPED(*st) ? 0 : -ESRCH;
		if (r != 0)
			continue;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		if (sigtimedwait(&chld, NULL, left) < 0 && errno == EAGAIN)
			return -ETIMEDOUT;
		clock_gettime(CLOCK_MONOTONIC, &t1);
		left->tv_sec -= t1.tv_sec - t0.tv_sec;
		left->tv_nsec -= t1.tv_nsec - t0.tv_nsec;
		while (left->tv_nsec < 0) {
			left->tv_nsec += 1000000000L;
			left->tv_sec--;
		}
		if (left->tv_sec < 0)
			return -ETIMEDOUT;
	}
}

/* *other is set when something besides our interrupt stopped or interrupted
 * the tracee meanwhile: a signal passed on that it does not ignore (an
 * ignored one reaches it only because it is traced), or a group-stop
 * (SIGSTOP, then *stopped too): an EINTR it brings back is then not ours
 * alone. */
static int wait_interrupt(pid_t pid, bool *other, bool *stopped)
{
	struct timespec left = { STOP_TIMEOUT_S, 0 };
	int st, err;

	for (;;) {
		err = wait_timed(pid, &st, &left);
		if (err)
			return err;
		if ((st >> 16) == PTRACE_EVENT_STOP) {
			if (WSTOPSIG(st) != SIGTRAP)
				*other = *stopped = true; /* it was group-stopped */
			return 0;
		}
		if (!*other) {
			uint64_t pnd, blk, ign, cgt;

			*other = !read_sigs(pid, &pnd, &blk, &ign, &cgt) ||
				 interrupts(WSTOPSIG(st), 0, ign, cgt);
		}
		if (ptrace(PTRACE_CONT, pid, NULL, (void *)(long)WSTOPSIG(st)) < 0)
			return -errno;
	}
}

/*
 * The tracee was interrupted inside a syscall that installed a temporary
 * signal mask (ppoll, pselect, sigsuspend, epoll_pwait): the kernel restores
 * the real mask only when the tracee resumes, and PTRACE_SETSIGMASK would
 * lose it. So let it resume as it would have (restart, mask restored,
 * signals delivered) up to its next syscall entry, normally the restarted
 * call itself: there the mask is the real one and the registers can be
 * rewound to re-execute that call. 0 at an entry stop, else a negative
 * errno (-ETIMEDOUT: the tracee was stopped again and may be detached).
 */
static int step_to_entry(pid_t pid)
{
	struct timespec left = { STOP_TIMEOUT_S, 0 };
	long sig = 0;
	int st, err;

	for (;;) {
		if (ptrace(PTRACE_SYSCALL, pid, NULL, (void *)sig) < 0)
			return -errno;
		sig = 0;
		err = wait_timed(pid, &st, &left);
		if (err == -ETIMEDOUT) {
			struct timespec again = { STOP_TIMEOUT_S, 0 };

			if (ptrace(PTRACE_INTERRUPT, pid, NULL, NULL) < 0)
				return -errno;
			do
				err = wait_timed(pid, &st, &again);
			while (!err && (st >> 16) != PTRACE_EVENT_STOP &&
			       ptrace(PTRACE_CONT, pid, NULL, (void *)(long)WSTOPSIG(st)) == 0);
			return err ? err : -ETIMEDOUT;
		}
		if (err)
			return err;
		if (WSTOPSIG(st) == (SIGTRAP | 0x80)) {
			int op = syscall_op(pid);

			if (op == PTRACE_SYSCALL_INFO_ENTRY)
				return 0;
			if (op < 0)
				return -ENOSYS;
		} else if ((st >> 16) == 0) {
			sig = WSTOPSIG(st); /* deliver it, as it would have been */
		}
	}
}

/* Does the tracee have the syscall instruction at addr? */
static bool insn_at(pid_t pid, uintptr_t addr)
{
	long word;

	if (!ww__syscall_insn_len)
		return false;
	errno = 0;
	word = ptrace(PTRACE_PEEKTEXT, pid, (void *)addr, NULL);
	if (errno)
		return false;
	return !memcmp(&word, ww__syscall_insn, ww__syscall_insn_len);
}

/* The helper: everything between SEIZE and DETACH. Async-signal-safe only
 * (it runs in a child forked from a possibly multithreaded caller). */
static struct helper_result helper(pid_t pid, uintptr_t insn, int *ourfd)
{
	struct helper_result res = { .restarted = -1, .eintr_left = -1 };
	ww__regs saved, fixed;
	uint64_t oldmask = 0, allmask = ~0ULL;
	bool masked = false, at_entry = false, other = false, eintr = false, stopped = false;
	struct held held = { 0 };
	int err, pidfd;
	long nr_in, fd = -1, rc, bl_nr = -1;
	unsigned long a[6] = { 0 }, bl_args[6] = { 0 };
	uintptr_t bl_pc = 0;

	if (ptrace(PTRACE_SEIZE, pid, NULL, (void *)(long)PTRACE_O_TRACESYSGOOD) < 0) {
		res.err = -errno;
		res.stage = ST_SEIZE;
		res.restored = 1;
		return res;
	}
	if (WW_INJECT_NOTE_BLOCKED)
		bl_nr = blocked_call(pid, bl_args, &bl_pc);
	if (ptrace(PTRACE_INTERRUPT, pid, NULL, NULL) < 0) {
		res.err = -errno;
		res.stage = ST_INTERRUPT;
		goto detach;
	}
	err = wait_interrupt(pid, &other, &stopped);
	if (err) {
		res.err = err;
		res.stage = ST_STOP;
		/* not stopped: it cannot be detached, our exit releases it */
		res.restored = 1;
		return res;
	}
	err = ww__regs_get(pid, &saved);
	if (err) {
		res.err = err;
		res.stage = ST_REGS;
		goto detach;
	}
	err = ww__regs_check(&saved);
	if (err) {
		res.err = err;
		res.stage = ST_ARCH;
		goto detach;
	}
	ww__regs_note_blocked(&saved, bl_nr, bl_args, bl_pc);
	nr_in = ww__regs_in_syscall(&saved);
	/* Interrupted by our stop alone, in a call that then fails with EINTR
	 * instead of restarting (see stop_eintr_syscall): it is restarted like
	 * the others, unless a signal is there that would have interrupted it
	 * anyway. Decided here for calls with a temporary signal mask (they
	 * are let run into the restart just below), after the injections for
	 * the rest (signals that come meanwhile count too). */
	if (nr_in >= 0 && ww__regs_result(&saved) == -EINTR && !other) {
		if (!stop_eintr_syscall(pid, &saved)) {
			res.eintr_left = nr_in;
		} else if (!sigmask_syscall(nr_in)) {
			eintr = true;
		} else if (!signal_waiting(pid, false, 0, NULL)) {
			ww__regs tmp = saved;

			/* at this ptrace stop the kernel restarts it itself */
			ww__regs_eintr_to_restart(&tmp);
			if (ww__regs_set(pid, &tmp) == 0) {
				saved = tmp;
				res.restarted = nr_in;
			}
		}
	}
	fixed = saved;
	if ((ww__regs_restart_fixup(&fixed) &&
	     (WW_INJECT_RESTART_AT_ENTRY || sigmask_syscall(nr_in))) ||
	    (ww__regs_result(&saved) == -EINTR && !stopped && sigmask_syscall(nr_in))) {
		/* see step_to_entry(); the rewound registers re-execute
		 * whichever syscall it is entering. An EINTR that was not
		 * ours leaves the saved mask to restore too: the tracee then
		 * takes its EINTR and runs on to its next call, as it would
		 * have (injecting with its mask untouched instead would hold
		 * back every signal that comes meanwhile, and the holding
		 * space is bounded); not for a group-stopped tracee, which
		 * must not run its own code before it is continued. */
		err = step_to_entry(pid);
		if (!err)
			err = ww__regs_get(pid, &saved);
		if (err) {
			/* nothing changed; -ETIMEDOUT: stopped again, detachable */
			res.err = err;
			res.stage = ST_STOP;
			goto detach;
		}
		fixed = saved;
		ww__regs_rewind_entry(&fixed);
		nr_in = -1; /* at an entry, the mask is the real one */
		at_entry = true;
	}
	if (!insn) {
		/* No syscall instruction in the vDSO: the one the tracee is
		 * stopped in will do, if it is stopped in one. */
		ww__regs tmp = saved;

		if (eintr)
			ww__regs_eintr_to_restart(&tmp);
		if (at_entry && insn_at(pid, ww__regs_pc(&fixed)))
			insn = ww__regs_pc(&fixed);
		else if (ww__regs_restart_fixup(&tmp) && insn_at(pid, ww__regs_pc(&tmp)))
			insn = ww__regs_pc(&tmp);
		if (!insn) {
			res.err = -ENOEXEC;
			res.stage = ST_NOINSN;
			goto detach;
		}
	}
	/* Block every signal while the registers are borrowed, so none is
	 * delivered onto injected state; they stay pending until we restore. */
	if (!sigmask_syscall(nr_in) &&
	    ptrace(PTRACE_GETSIGMASK, pid, (void *)sizeof(oldmask), &oldmask) == 0 &&
	    ptrace(PTRACE_SETSIGMASK, pid, (void *)sizeof(allmask), &allmask) == 0)
		masked = true;

	a[0] = O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY;
	err = inject(pid, &fixed, insn, SYS_userfaultfd, a, &fd, &held);
	if (!err && fd == -EINVAL) {
		/* before 5.11: no user-mode-only flag */
		a[0] = O_CLOEXEC | O_NONBLOCK;
		err = inject(pid, &fixed, insn, SYS_userfaultfd, a, &fd, &held);
	}
	if (err) {
		res.err = err;
		res.stage = ST_INJECT;
		goto restore;
	}
	if (fd < 0) {
		res.err = (int)fd;
		res.stage = ST_UFFD;
		goto restore;
	}
	pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (pidfd >= 0) {
		*ourfd = (int)syscall(SYS_pidfd_getfd, pidfd, (int)fd, 0);
		if (*ourfd < 0)
			res.err = -errno;
		close(pidfd);
	} else {
		res.err = -errno;
	}
	if (res.err)
		res.stage = ST_GETFD;
	a[0] = (unsigned long)fd;
	err = inject(pid, &fixed, insn, SYS_close, a, &rc, &held);
	if (!err && rc)
		err = (int)rc;
	if (err && !res.err) {
		res.err = err;
		res.stage = ST_CLOSE;
	}
restore:
	if (eintr && !signal_waiting(pid, masked, oldmask, &held)) {
		ww__regs_eintr_to_restart(&fixed);
		ww__regs_restart_fixup(&fixed);
		res.restarted = nr_in;
	}
	err = ww__regs_set(pid, &fixed);
	if (masked && ptrace(PTRACE_SETSIGMASK, pid, (void *)sizeof(oldmask), &oldmask) < 0 && !err)
		err = -errno;
	if (err && !res.err) {
		res.err = err;
		res.stage = ST_RESTORE;
	}
detach:
	/* Held signals go back now, onto the restored registers, while the
	 * tracee is still in its ptrace-stop: they are pending when the
	 * detach resumes it, so it takes them before a single instruction of
	 * its own (a SIGSTOP that holds it stopped most of all). Sent after
	 * the detach, they left it running freely in between: a process held
	 * for writewatch could run on, even to its exit. Queued ones go with
	 * their siginfo (the kernel lets another process queue si_code < 0
	 * except SI_TKILL), the rest by tgkill (sender fields become ours). */
	for (int i = 0; i < held.n; i++) {
		siginfo_t *si = &held.si[i];

		if (si->si_code < 0 && si->si_code != SI_TKILL &&
		    syscall(SYS_rt_tgsigqueueinfo, pid, pid, si->si_signo, si) == 0)
			continue;
		syscall(SYS_tgkill, pid, pid, si->si_signo);
	}
	if (ptrace(PTRACE_DETACH, pid, NULL, NULL) == 0 || errno == ESRCH)
		res.restored = 1;
	if (res.err && *ourfd >= 0) {
		close(*ourfd);
		*ourfd = -1;
	}
	return res;
}

static void helper_main(pid_t pid, uintptr_t insn, int sock)
{
	struct helper_result res;
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov;
	struct msghdr msg = { 0 };
	int fd = -1;

	/* Out of the caller's session and process group: a Ctrl-C or a kill of
	 * the group does not reach us, and every catchable signal is already
	 * blocked (inherited from the caller's fork). */
	setsid();
	res = helper(pid, insn, &fd);
	iov.iov_base = &res;
	iov.iov_len = sizeof(res);
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	if (fd >= 0) {
		struct cmsghdr *c;

		memset(&u, 0, sizeof(u));
		msg.msg_control = u.buf;
		msg.msg_controllen = sizeof(u.buf);
		c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	/* If the caller is gone this fails, and our copy dies with us. */
	sendmsg(sock, &msg, MSG_NOSIGNAL);
	_exit(0);
}

/* Field "key:\tvalue" of /proc/PID/status as a long, or -1. */
static long status_field(pid_t pid, const char *key, char *state)
{
	char path[64], line[256];
	size_t kl = strlen(key);
	long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (state && !strncmp(line, "State:", 6)) {
			char *p = line + 6;

			while (*p == ' ' || *p == '\t')
				p++;
			*state = *p;
		}
		if (!strncmp(line, key, kl) && line[kl] == ':')
			v = strtol(line + kl + 1, NULL, 10);
	}
	fclose(f);
	return v;
}

static int yama_scope(void)
{
	FILE *f = fopen("/proc/sys/kernel/yama/ptrace_scope", "re");
	int v = -1;

	if (f) {
		if (fscanf(f, "%d", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

/* The one message for "no ptrace permission": what is missing and why. */
static int perm_why(pid_t pid, int err, char *why, size_t whylen)
{
	char path[64];
	int yama = yama_scope();
	char ybuf[160] = "";
	long uid = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	if (f) {
		char line[256];

		while (fgets(line, sizeof(line), f))
			if (!strncmp(line, "Uid:", 4))
				uid = strtol(line + 4, NULL, 10);
		fclose(f);
	}
	if (yama > 0)
		snprintf(ybuf, sizeof(ybuf), "; Yama ptrace_scope is %d (%s)", yama,
			 yama == 1 ? "only ancestors may trace: set it to 0 or use CAP_SYS_PTRACE" :
			 yama == 2 ? "only CAP_SYS_PTRACE may trace" :
				     "ptrace is disabled entirely");
	return ww__why(why, whylen, err,
		       "no permission to ptrace process %d (owned by uid %ld, we are uid %d): "
		       "needs the same user id and a dumpable target, or CAP_SYS_PTRACE%s",
		       (int)pid, uid, (int)getuid(), ybuf);
}

/* task->flags bit of a kernel thread (include/linux/sched.h) */
#define PF_KTHREAD_ 0x00200000UL

int ww__remote_target(pid_t pid, char *why, size_t whylen)
{
	char path[64], buf[1024], *p, state = 0;
	unsigned long flags = 0;
	ssize_t n;
	int fd;

	if (pid <= 0)
		return ww__why(why, whylen, -EINVAL, "bad process id %d", (int)pid);
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (kill(pid, 0) == 0 || errno != EPERM)
			return ww__why(why, whylen, -ESRCH, "no process %d", (int)pid);
		return ww__why(why, whylen, -EPERM,
			       "process %d exists but /proc does not show it to us (hidepid): "
			       "no permission to watch it",
			       (int)pid);
	}
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return ww__why(why, whylen, -ESRCH, "process %d has exited", (int)pid);
	buf[n] = '\0';
	/* "PID (COMM) S PPID PGRP SESSION TTY TPGID FLAGS ...": the process
	 * names itself, ')' included, so the last ')' ends COMM */
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 1, " %c %*d %*d %*d %*d %*d %lu", &state, &flags) != 2)
		return ww__why(why, whylen, -ESRCH, "process %d has exited", (int)pid);
	if (state == 'Z' || state == 'X')
		return ww__why(why, whylen, -ESRCH, "process %d has exited (zombie)", (int)pid);
	if (flags & PF_KTHREAD_)
		return ww__why(why, whylen, -EINVAL,
			       "process %d is a kernel thread: it has no user memory to watch",
			       (int)pid);
	return 0;
}

int ww__remote_check(pid_t pid, char *why, size_t whylen)
{
	char path[64], state = 0;
	long tracer, seccomp;
	int fd, err;

	if (ww__inject_supported())
		return ww__why(why, whylen, -EOPNOTSUPP,
			       "getting a userfaultfd out of another process is implemented "
			       "for x86-64 and aarch64 only");
	err = ww__remote_target(pid, why, whylen);
	if (err)
		return err;
	tracer = status_field(pid, "TracerPid", &state);
	if (state == 'Z' || state == 'X')
		return ww__why(why, whylen, -ESRCH, "process %d has exited (zombie)", (int)pid);
	if (tracer > 0)
		return ww__why(why, whylen, -EBUSY,
			       "process %d is already traced by process %ld (a debugger?)",
			       (int)pid, tracer);
	seccomp = status_field(pid, "Seccomp", NULL);
	if (seccomp > 0)
		return ww__why(why, whylen, -EOPNOTSUPP,
			       "process %d runs under seccomp (mode %ld): an injected "
			       "userfaultfd call could kill it, so writewatch does not try",
			       (int)pid, seccomp);
	/* Opening /proc/PID/mem takes the same ptrace access check (and the
	 * same Yama hook) as PTRACE_SEIZE, without touching the target. */
	snprintf(path, sizeof(path), "/proc/%d/mem", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == EACCES || errno == EPERM)
			return perm_why(pid, -EPERM, why, whylen);
		if (errno == ENOENT)
			return ww__why(why, whylen, -ESRCH, "no process %d", (int)pid);
		return ww__why(why, whylen, -errno, "cannot open %s: %s", path, strerror(errno));
	}
	close(fd);
	return 0;
}

/* The vDSO's address, from the target's auxiliary vector. */
static uintptr_t vdso_base(pid_t pid)
{
	char path[64];
	unsigned long av[2];
	uintptr_t base = 0;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/auxv", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	while (read(fd, av, sizeof(av)) == (ssize_t)sizeof(av) && av[0]) {
		if (av[0] == AT_SYSINFO_EHDR_) {
			base = av[1];
			break;
		}
	}
	close(fd);
	return base;
}

/* A syscall instruction in the target's vDSO (always mapped, never
 * written, present in every process of a kernel with a vDSO), or 0. */
static uintptr_t find_insn(pid_t pid)
{
	size_t ps = ww__page_size(), len = 4 * ps;
	uintptr_t base = vdso_base(pid);
	struct iovec local, remote;
	unsigned char *buf;
	ssize_t n;

	if (!base || !ww__syscall_insn_len)
		return 0;
	buf = malloc(len);
	if (!buf)
		return 0;
	local = (struct iovec){ buf, len };
	remote = (struct iovec){ (void *)base, len };
	n = process_vm_readv(pid, &local, 1, &remote, 1, 0);
	for (ssize_t i = 0; n > 0 && i + (ssize_t)ww__syscall_insn_len <= n;
	     i += WW_INJECT_INSN_ALIGN) {
		if (!memcmp(buf + i, ww__syscall_insn, ww__syscall_insn_len)) {
			free(buf);
			return base + (uintptr_t)i;
		}
	}
	free(buf);
	return 0;
}

static const char *stage_name(int s)
{
	static const char *const names[] = {
		[ST_OK] = "done",
		[ST_SEIZE] = "ptrace(PTRACE_SEIZE)",
		[ST_INTERRUPT] = "ptrace(PTRACE_INTERRUPT)",
		[ST_STOP] = "waiting for the target to stop",
		[ST_REGS] = "reading registers",
		[ST_ARCH] = "checking the target's mode (32-bit processes are not supported)",
		[ST_NOINSN] = "finding a syscall instruction in the target",
		[ST_INJECT] = "running a syscall in the target",
		[ST_UFFD] = "userfaultfd() in the target",
		[ST_GETFD] = "pidfd_getfd()",
		[ST_CLOSE] = "close() in the target",
		[ST_RESTORE] = "restoring the target's registers",
	};

	return s >= 0 && s <= ST_RESTORE ? names[s] : "?";
}

int ww__remote_uffd(pid_t pid, char *why, size_t whylen)
{
	struct helper_result res = { .err = -EIO, .stage = ST_OK };
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = { &res, sizeof(res) };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	sigset_t all, old;
	uintptr_t insn;
	int sv[2], fd = -1, err;
	ssize_t n;
	pid_t h;

	err = ww__remote_check(pid, why, whylen);
	if (err)
		return err;
	insn = find_insn(pid);
	ww__dbg("remote %d: syscall instruction %s %#lx", (int)pid,
		insn ? "in the vDSO at" : "not found, falling back to the interrupted one",
		(unsigned long)insn);
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return ww__why(why, whylen, -errno, "socketpair: %s", strerror(errno));
	/* The helper is born with every catchable signal blocked, so nothing
	 * aimed at us (or our process group) interrupts it mid-injection. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	h = fork();
	if (h == 0) {
		close(sv[0]);
		helper_main(pid, insn, sv[1]);
	}
	err = h < 0 ? -errno : 0;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	close(sv[1]);
	if (err) {
		close(sv[0]);
		return ww__why(why, whylen, err, "fork: %s", strerror(-err));
	}
	memset(&u, 0, sizeof(u));
	msg.msg_control = u.buf;
	msg.msg_controllen = sizeof(u.buf);
	do
		n = recvmsg(sv[0], &msg, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	close(sv[0]);
	while (waitpid(h, NULL, 0) < 0 && errno == EINTR)
		;
	if (n == (ssize_t)sizeof(res)) {
		struct cmsghdr *c = CMSG_FIRSTHDR(&msg);

		if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
			memcpy(&fd, CMSG_DATA(c), sizeof(int));
	} else {
		res.err = -EIO;
		res.stage = ST_OK;
		res.restored = 0;
	}
	if (!res.err && fd < 0)
		res.err = -EIO;
	if (res.err) {
		if (fd >= 0)
			close(fd);
		if (res.stage == ST_SEIZE && (res.err == -EPERM || res.err == -EACCES))
			return perm_why(pid, -EPERM, why, whylen);
		if (res.stage == ST_STOP && res.err == -ESRCH)
			return ww__why(why, whylen, -ESRCH, "process %d exited", (int)pid);
		if (res.stage == ST_STOP && res.err == -ETIMEDOUT)
			return ww__why(why, whylen, -ETIMEDOUT,
				       "process %d did not stop within %d s (uninterruptible "
				       "sleep?); it was left running untouched",
				       (int)pid, STOP_TIMEOUT_S);
		if (res.stage == ST_UFFD)
			return ww__why(why, whylen, res.err,
				       "process %d may not create a userfaultfd: %s (allow with "
				       "sysctl vm.unprivileged_userfaultfd=1 or give it "
				       "CAP_SYS_PTRACE)",
				       (int)pid, strerror(-res.err));
		if (res.stage == ST_OK)
			return ww__why(why, whylen, -EIO,
				       "the injection helper for process %d died without an answer",
				       (int)pid);
		return ww__why(why, whylen, res.err, "injecting into process %d failed at %s: %s%s",
			       (int)pid, stage_name(res.stage), strerror(-res.err),
			       res.restored ? "" : " (and detaching failed)");
	}
	if (res.restarted >= 0)
		ww__info("remote %d: its system call %ld, interrupted by the injection, was "
			 "restarted",
			 (int)pid, res.restarted);
	if (res.eintr_left >= 0)
		ww__warn("remote %d: its system call %ld was interrupted by the injection and "
			 "returns EINTR to it (not a call writewatch knows how to restart)",
			 (int)pid, res.eintr_left);
	ww__dbg("remote %d: got its userfaultfd as our fd %d", (int)pid, fd);
	return fd;
}
