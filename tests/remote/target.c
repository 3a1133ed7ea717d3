/* SPDX-License-Identifier: MIT */
/*
 * The process the remote tests watch. It maps PAGES pages, prints
 * "ADDR PAGES" on stdout, then obeys one-line commands on stdin:
 * "w K" writes the next K distinct pages of the mapping and answers "ok",
 * "c" answers "c N", N the SIGRTMIN signals handled so far (SA_RESTART),
 * "u" registers the mapping with a userfaultfd of its own, answers "u E"
 * (E: 0 or the errno of UFFDIO_REGISTER) and closes it again, "U" does the
 * same but keeps it registered,
 * "q" exits 0. While it waits for a command it sits where the test asked
 * (argv[1]): "read" blocks in read(2), "sleep" polls and sleeps in
 * nanosleep(2), "spin" computes in user space between polls, "ppoll" waits
 * in ppoll(2) with a temporary empty signal mask (SIGUSR2 stays blocked
 * outside it: exit 6 if that changes). Every mode
 * checks its own work, so an injection that corrupts a register, a syscall
 * result or a restart shows up as a wrong exit status: 3 (spin result
 * wrong), 4 (a syscall failed that must not), 5 (bad command).
 *
 * Modes in the calls a stop makes fail with EINTR (signal(7)): "epoll"
 * (epoll_wait, no timeout), "epoll-timeout" (epoll_wait, 10 s), "epoll_pwait"
 * (temporary empty mask, checked like ppoll), "sigwait" (sigwaitinfo on
 * SIGIO, which stdin raises), "sigtimedwait" (10 s), "semop", "recv"
 * (recv(2) with SO_RCVTIMEO 10 s) and "sockread" (read(2) on that socket;
 * these three fed by a second thread that reads stdin), "threads" (epoll_wait, and a second thread waits forever in
 * epoll_wait on nothing), "aio" (io_getevents(2) for an IOCB_CMD_POLL on
 * stdin), "uring" (io_uring_enter(2) waiting for a poll on stdin; exit 77
 * when io_uring is not available),
 * "uring-mask" (the same with a temporary empty signal mask, checked like
 * ppoll's), "splice" (splice(2) from that socket into a pipe: fails with
 * EINTR after a stop too, and is a call the injector does not restart).
 * An EINTR that no handled signal explains is
 * counted, not fatal: "c" answers "c N E", E that count.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/ipc.h>
#include <linux/aio_abi.h>
#include <linux/io_uring.h>
#include <linux/userfaultfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/sem.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SPIN 2000000

/* Handled SIGRTMIN signals (by the main thread only: start_thread). Atomic
 * all the same, so that a handler run on any thread is never lost: a plain
 * ++ on two CPUs at once loses a count (it did, once in 3000, in CI). */
static long rt_count;

static long rt_handled(void)
{
	return __atomic_load_n(&rt_count, __ATOMIC_SEQ_CST);
}
static volatile long eintr_spurious; /* EINTRs no handled signal explains */

/* After a wait that failed with err: count an EINTR that no handler run
 * since `before` explains. */
static void check_eintr(int err, long before)
{
	if (err == EINTR && rt_handled() == before)
		__atomic_add_fetch(&eintr_spurious, 1, __ATOMIC_SEQ_CST);
}

static void fail(const char *what)
{
	fprintf(stderr, "target: %s: %s\n", what, strerror(errno));
	exit(4);
}

/* The feeder of semop and recv modes: stdin's bytes go to a buffer, and
 * each chunk is announced by the mode's wake-up (a semaphore operation, a
 * byte on a socket). */
static pthread_mutex_t feed_lock = PTHREAD_MUTEX_INITIALIZER;
static char feed_buf[4096];
static size_t feed_len, feed_at;
static int feed_eof, feed_sem = -1, feed_sock[2] = { -1, -1 };

static void *feeder(void *arg)
{
	char buf[256];

	(void)arg;
	for (;;) {
		ssize_t n = read(0, buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		pthread_mutex_lock(&feed_lock);
		if (n <= 0) {
			feed_eof = 1;
		} else {
			if (feed_at == feed_len)
				feed_at = feed_len = 0;
			if (feed_len + (size_t)n > sizeof(feed_buf))
				exit(5);
			memcpy(feed_buf + feed_len, buf, (size_t)n);
			feed_len += (size_t)n;
		}
		pthread_mutex_unlock(&feed_lock);
		if (feed_sem >= 0) {
			struct sembuf up = { 0, 1, 0 };

			while (semop(feed_sem, &up, 1) < 0)
				if (errno != EINTR)
					fail("semop +1");
		} else if (send(feed_sock[1], "x", 1, MSG_NOSIGNAL) < 0) {
			fail("send");
		}
		if (n <= 0)
			return NULL;
	}
}

/* The next fed byte, or -1 at the end; waits in semop or recv. */
static int feed_read; /* "sockread": read(2) on the socket instead of recv,
			* 2 for "splice": splice(2) from it into a pipe */
static int splice_pipe[2] = { -1, -1 };

/* "splice": what splice(2) moves from the socket into a pipe, drained. */
static ssize_t splice_once(void)
{
	char x[64];
	ssize_t n = splice(feed_sock[0], NULL, splice_pipe[1], NULL, sizeof(x), 0);

	if (n > 0 && read(splice_pipe[0], x, (size_t)n) != n)
		fail("read from the splice pipe");
	return n;
}

static int fed_byte(int sem)
{
	for (;;) {
		long before = rt_handled();
		int c = -2;

		pthread_mutex_lock(&feed_lock);
		if (feed_at < feed_len)
			c = (unsigned char)feed_buf[feed_at++];
		else if (feed_eof)
			c = -1;
		pthread_mutex_unlock(&feed_lock);
		if (c != -2)
			return c;
		if (sem) {
			struct sembuf down = { 0, -1, 0 };

			if (semop(feed_sem, &down, 1) < 0) {
				if (errno != EINTR)
					fail("semop -1");
				check_eintr(errno, before);
			}
		} else {
			char x[64];

			if ((feed_read == 2 ? splice_once() :
			     feed_read	    ? read(feed_sock[0], x, sizeof(x)) :
					      recv(feed_sock[0], x, sizeof(x), 0)) < 0) {
				if (errno != EINTR && errno != EAGAIN)
					fail("recv");
				check_eintr(errno, before);
			}
		}
	}
}

/* Start fn in a thread that never takes SIGRTMIN: only the main thread
 * handles the counted signals, so an EINTR in either thread is explained by
 * a handler run in the main thread or by nothing. (A process-directed signal
 * wakes one waiting thread, which fails its call with EINTR; when another
 * thread that also takes it dequeues it first, the woken one returns EINTR
 * with no handler run anywhere yet: the kernel does that without any
 * tracer, and it made the oracle count false positives.) */
static void start_thread(void *(*fn)(void *))
{
	sigset_t rt, old;
	pthread_t th;

	sigemptyset(&rt);
	sigaddset(&rt, SIGRTMIN);
	pthread_sigmask(SIG_BLOCK, &rt, &old);
	if (pthread_create(&th, NULL, fn, NULL))
		exit(4);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

static void feed_start(const char *mode)
{
	if (!strcmp(mode, "semop")) {
		feed_sem = semget(IPC_PRIVATE, 1, IPC_CREAT | 0600);
		if (feed_sem < 0)
			fail("semget");
	} else {
		struct timeval tv = { 10, 0 };

		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, feed_sock) ||
		    setsockopt(feed_sock[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)))
			fail("socketpair");
	}
	start_thread(feeder);
}

static void feed_stop(void)
{
	if (feed_sem >= 0)
		semctl(feed_sem, 0, IPC_RMID);
}

/* "threads": a second thread waits forever in epoll_wait on an empty set. */
static void *idle_waiter(void *arg)
{
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev;

	(void)arg;
	if (ep < 0)
		fail("epoll_create1");
	for (;;) {
		long before = rt_handled();

		if (epoll_wait(ep, &ev, 1, -1) < 0) {
			if (errno != EINTR)
				fail("epoll_wait");
			check_eintr(errno, before);
		}
	}
	return NULL;
}

/* "aio": an IOCB_CMD_POLL on stdin, waited for with io_getevents. */
static void wait_aio(void)
{
	static aio_context_t ctx;
	static int pending;
	static struct iocb cb;
	struct iocb *cbs[1] = { &cb };
	struct io_event ev;
	long before = rt_handled();

	if (!ctx && syscall(SYS_io_setup, 1, &ctx))
		fail("io_setup");
	if (!pending) {
		memset(&cb, 0, sizeof(cb));
		cb.aio_lio_opcode = IOCB_CMD_POLL;
		cb.aio_fildes = 0;
		cb.aio_buf = POLLIN;
		if (syscall(SYS_io_submit, ctx, 1, cbs) != 1)
			fail("io_submit");
		pending = 1;
	}
	if (syscall(SYS_io_getevents, ctx, 1, 1, &ev, NULL) == 1) {
		pending = 0;
	} else {
		if (errno != EINTR)
			fail("io_getevents");
		check_eintr(errno, before);
	}
}

/* "uring": an IORING_OP_POLL_ADD on stdin, waited for in io_uring_enter;
 * "uring-mask": with a temporary empty signal mask (IORING_ENTER_EXT_ARG),
 * checked like ppoll's. */
static void wait_uring(bool mask)
{
	static int fd = -1, pending;
	static struct io_uring_params p;
	static char *sq, *cq;
	static struct io_uring_sqe *sqes;
	long before = rt_handled();

	if (fd < 0) {
		fd = (int)syscall(SYS_io_uring_setup, 4, &p);
		if (fd < 0)
			exit(77);
		sq = mmap(NULL, p.sq_off.array + p.sq_entries * sizeof(unsigned),
			  PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd,
			  IORING_OFF_SQ_RING);
		cq = mmap(NULL, p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe),
			  PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd,
			  IORING_OFF_CQ_RING);
		sqes = mmap(NULL, p.sq_entries * sizeof(struct io_uring_sqe),
			    PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_SQES);
		if (sq == MAP_FAILED || cq == MAP_FAILED || sqes == MAP_FAILED)
			fail("io_uring mmap");
	}
	{
		unsigned *cqh = (unsigned *)(cq + p.cq_off.head);
		unsigned *cqt = (unsigned *)(cq + p.cq_off.tail);
		unsigned head = *cqh;

		if (head != __atomic_load_n(cqt, __ATOMIC_ACQUIRE)) {
			__atomic_store_n(cqh, head + 1, __ATOMIC_RELEASE);
			pending = 0;
			return;
		}
	}
	if (!pending) {
		unsigned *tail = (unsigned *)(sq + p.sq_off.tail);
		unsigned *arr = (unsigned *)(sq + p.sq_off.array);
		unsigned t = *tail, i = t & *(unsigned *)(sq + p.sq_off.ring_mask);

		memset(&sqes[i], 0, sizeof(sqes[i]));
		sqes[i].opcode = IORING_OP_POLL_ADD;
		sqes[i].fd = 0;
		sqes[i].poll32_events = POLLIN;
		arr[i] = i;
		__atomic_store_n(tail, t + 1, __ATOMIC_RELEASE);
		if (syscall(SYS_io_uring_enter, fd, 1, 0, 0, NULL, 0) != 1)
			fail("io_uring_enter submit");
		pending = 1;
	}
	if (mask) {
		sigset_t none, now;
		struct io_uring_getevents_arg arg = { 0 };
		long r;

		if (!(p.features & IORING_FEAT_EXT_ARG))
			exit(77);
		sigemptyset(&none);
		arg.sigmask = (unsigned long)&none;
		arg.sigmask_sz = 8; /* the kernel's sigset_t */
		r = syscall(SYS_io_uring_enter, fd, 0, 1,
			    IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG, &arg, sizeof(arg));
		if (r < 0 && errno != EINTR)
			fail("io_uring_enter");
		if (r < 0)
			check_eintr(errno, before);
		sigprocmask(SIG_SETMASK, NULL, &now);
		if (!sigismember(&now, SIGUSR2) || sigismember(&now, SIGRTMIN)) {
			fprintf(stderr, "target: signal mask changed\n");
			exit(6);
		}
	} else if (syscall(SYS_io_uring_enter, fd, 0, 1, IORING_ENTER_GETEVENTS, NULL, 0) < 0) {
		if (errno != EINTR)
			fail("io_uring_enter");
		check_eintr(errno, before);
	}
}

/* Wait for stdin in one of the stop-EINTR modes; false if mode is not one. */
static bool wait_eintr_mode(const char *mode)
{
	static int ep = -1;
	struct epoll_event ev = { .events = EPOLLIN };
	long before = rt_handled();
	sigset_t none, now, io;
	int r;

	if (ep < 0 && (!strncmp(mode, "epoll", 5) || !strcmp(mode, "threads"))) {
		ep = epoll_create1(EPOLL_CLOEXEC);
		if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, 0, &ev))
			fail("epoll");
	}
	if (!strcmp(mode, "epoll") || !strcmp(mode, "threads")) {
		r = epoll_wait(ep, &ev, 1, -1);
	} else if (!strcmp(mode, "epoll-timeout")) {
		r = epoll_wait(ep, &ev, 1, 10000);
	} else if (!strcmp(mode, "epoll_pwait")) {
		sigemptyset(&none);
		r = epoll_pwait(ep, &ev, 1, -1, &none);
		sigprocmask(SIG_SETMASK, NULL, &now);
		if (!sigismember(&now, SIGUSR2) || sigismember(&now, SIGRTMIN)) {
			fprintf(stderr, "target: signal mask changed\n");
			exit(6);
		}
	} else if (!strcmp(mode, "aio")) {
		wait_aio();
		return true;
	} else if (!strcmp(mode, "uring") || !strcmp(mode, "uring-mask")) {
		wait_uring(!strcmp(mode, "uring-mask"));
		return true;
	} else if (!strcmp(mode, "sigwait") || !strcmp(mode, "sigtimedwait")) {
		struct timespec ts = { 10, 0 };

		sigemptyset(&io);
		sigaddset(&io, SIGIO);
		r = !strcmp(mode, "sigwait") ? sigwaitinfo(&io, NULL) :
					       sigtimedwait(&io, NULL, &ts);
		if (r < 0 && errno == EAGAIN)
			return true;
	} else {
		return false;
	}
	if (r < 0) {
		if (errno != EINTR)
			fail(mode);
		check_eintr(errno, before);
	}
	return true;
}

static uint64_t spin(uint64_t x)
{
	for (int i = 0; i < SPIN; i++)
		x = x * 6364136223846793005ULL + 1442695040888963407ULL + (x >> 29);
	return x;
}

/* One byte from stdin, waiting the way the mode says. */
static int next_byte(const char *mode, uint64_t want)
{
	char c;

	if (!strcmp(mode, "semop") || !strcmp(mode, "recv") || !strcmp(mode, "sockread") ||
	    !strcmp(mode, "splice"))
		return fed_byte(!strcmp(mode, "semop"));
	for (;;) {
		ssize_t n = read(0, &c, 1);

		if (n == 1)
			return (unsigned char)c;
		if (n == 0)
			return -1;
		if (errno != EAGAIN) {
			fprintf(stderr, "target: read: %s\n", strerror(errno));
			exit(4);
		}
		if (wait_eintr_mode(mode))
			continue;
		if (!strcmp(mode, "ppoll")) {
			struct pollfd pfd = { 0, POLLIN, 0 };
			sigset_t none, now;

			/* wait with every signal allowed; outside, SIGUSR2 stays
			 * blocked: an injection that loses the mask ppoll saved
			 * shows up here */
			sigemptyset(&none);
			if (ppoll(&pfd, 1, NULL, &none) < 0 && errno != EINTR) {
				fprintf(stderr, "target: ppoll: %s\n", strerror(errno));
				exit(4);
			}
			sigprocmask(SIG_SETMASK, NULL, &now);
			if (!sigismember(&now, SIGUSR2) || sigismember(&now, SIGRTMIN)) {
				fprintf(stderr, "target: signal mask changed\n");
				exit(6);
			}
		} else if (!strcmp(mode, "sleep")) {
			struct timespec ts = { 0, 2000000 };

			/* restarted transparently after a ptrace stop: EINTR
			 * here means a restart was lost */
			if (nanosleep(&ts, NULL)) {
				fprintf(stderr, "target: nanosleep: %s\n", strerror(errno));
				exit(4);
			}
		} else if (spin(42) != want) {
			fprintf(stderr, "target: spin result changed\n");
			exit(3);
		}
	}
}

/* "u"/"U": the target's own userfaultfd on [m, m + len); the errno of
 * UFFDIO_REGISTER or 0. */
static int own_uffd(char *m, size_t len, bool keep)
{
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg = {
		.range = { (unsigned long)m, len },
		.mode = UFFDIO_REGISTER_MODE_MISSING,
	};
	int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | 1 /* USER_MODE_ONLY */);
	int err = 0;

	if (fd < 0 && errno == EINVAL)
		fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (fd < 0 || ioctl(fd, UFFDIO_API, &api))
		return 1000 + errno; /* cannot even try: the test skips */
	if (ioctl(fd, UFFDIO_REGISTER, &reg))
		err = errno;
	if (!keep || err)
		close(fd);
	return err;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts))
		;
}

/* "auto PAGES K ROUNDS MS": no commands; a fresh mapping between two
 * PROT_NONE guards (so it never merges with a neighbour), its address on
 * stderr, quiet for 3 periods, then K new pages per period for ROUNDS
 * periods, quiet for 5 periods, exit 0. The pages are never touched before
 * their round, so a tracker must report exactly K * ROUNDS of them. */
static int auto_mode(char **argv)
{
	size_t pages = strtoul(argv[2], NULL, 0), k = strtoul(argv[3], NULL, 0);
	size_t rounds = strtoul(argv[4], NULL, 0), next = 0;
	long ms = strtol(argv[5], NULL, 0);
	size_t ps = (size_t)sysconf(_SC_PAGESIZE);
	char *g = mmap(NULL, (pages + 2) * ps, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), *m;

	if (g == MAP_FAILED)
		return 4;
	m = g + ps;
	if (mprotect(m, pages * ps, PROT_READ | PROT_WRITE))
		return 4;
	madvise(m, pages * ps, MADV_NOHUGEPAGE);
	fprintf(stderr, "target: mapping %p %zu\n", (void *)m, pages);
	sleep_ms(3 * ms);
	for (size_t r = 0; r < rounds; r++) {
		for (size_t i = 0; i < k; i++, next++)
			m[(next % pages) * ps] = 1;
		sleep_ms(ms);
	}
	sleep_ms(5 * ms);
	return 0;
}

/* A fresh guarded mapping of n pages (see auto_mode). */
static char *guarded(size_t n, size_t ps)
{
	char *g = mmap(NULL, (n + 2) * ps, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (g == MAP_FAILED || mprotect(g + ps, n * ps, PROT_READ | PROT_WRITE))
		exit(4);
	madvise(g + ps, n * ps, MADV_NOHUGEPAGE);
	return g + ps;
}

/* "churn MS": the address-space changes a live process makes, each
 * announced on stderr: a mapping A of 16 pages written whole; a fork whose
 * child writes 4 pages of its copy of A; then 2 pages of A written by us;
 * A moved and grown to 32 pages by mremap, 3 pages written at the new place;
 * a new mapping C with 5 pages written; A unmapped; then exec of
 * `sleep 1`. Quiet periods between the steps let a watcher see each. */
static int churn_mode(char **argv)
{
	long ms = strtol(argv[2], NULL, 0);
	size_t ps = (size_t)sysconf(_SC_PAGESIZE);
	char *a = guarded(16, ps), *b = guarded(32, ps), *c;
	pid_t child;
	int st;

	memset(a, 1, 16 * ps);
	fprintf(stderr, "target: A %p 16\n", (void *)a);
	sleep_ms(3 * ms);
	child = fork();
	if (child == 0) {
		for (int i = 0; i < 4; i++)
			a[i * ps] = 2;
		_exit(0);
	}
	if (child < 0 || waitpid(child, &st, 0) != child || !WIFEXITED(st) || WEXITSTATUS(st))
		return 4;
	a[10 * ps] = 3;
	a[11 * ps] = 3;
	fprintf(stderr, "target: forked, wrote 2 pages of A\n");
	sleep_ms(3 * ms);
	b = mremap(a, 16 * ps, 32 * ps, MREMAP_MAYMOVE | MREMAP_FIXED, b);
	if (b == MAP_FAILED)
		return 4;
	b[0] = 4;
	b[20 * ps] = 4;
	b[31 * ps] = 4;
	fprintf(stderr, "target: B %p 32\n", (void *)b);
	sleep_ms(3 * ms);
	c = guarded(8, ps);
	for (int i = 0; i < 5; i++)
		c[i * ps] = 5;
	fprintf(stderr, "target: C %p 8\n", (void *)c);
	sleep_ms(3 * ms);
	munmap(b, 32 * ps);
	fprintf(stderr, "target: unmapped B\n");
	sleep_ms(3 * ms);
	execlp("sleep", "sleep", "1", (char *)NULL);
	return 4;
}

/* "vfork SECS": after printing the usual line, stay for SECS seconds in
 * vfork(2), an uninterruptible wait a ptrace interrupt cannot stop, then
 * exit 0. */
static int vfork_mode(char **argv)
{
	struct timespec ts = { strtol(argv[2], NULL, 0), 0 };
	pid_t c;

	printf("%p 0\n", (void *)&ts);
	fflush(stdout);
	c = vfork();
	if (c == 0) {
		/* only raw syscalls in a vfork child */
		syscall(SYS_nanosleep, &ts, NULL);
		_exit(0);
	}
	return c < 0 ? 4 : 0;
}

static void on_rt(int sig)
{
	(void)sig;
	__atomic_add_fetch(&rt_count, 1, __ATOMIC_SEQ_CST);
}

/* LeakSanitizer stops the world with ptrace at exit, which it cannot do in a
 * process that is being traced: `writewatch run` stays the tracer of the
 * command it runs (exec, fork and exit events), so an ASan-built target
 * would fail its exit with "LeakSanitizer has encountered a fatal error".
 * LSan asks this hook; leak checks stay on whenever nobody traces us. */
int __lsan_is_turned_off(void);
int __lsan_is_turned_off(void)
{
	char line[256];
	long tracer = 0;
	FILE *f = fopen("/proc/self/status", "re");

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "TracerPid: %ld", &tracer) == 1)
			break;
	if (f)
		fclose(f);
	return tracer != 0;
}

int main(int argc, char **argv)
{
	/* counts queued real-time signals: "c" answers "c N" */
	struct sigaction sa = { .sa_handler = on_rt, .sa_flags = SA_RESTART };

	sigaction(SIGRTMIN, &sa, NULL);
	{
		sigset_t usr2;

		sigemptyset(&usr2);
		sigaddset(&usr2, SIGUSR2);
		sigprocmask(SIG_BLOCK, &usr2, NULL);
	}
	if (argc == 3 && !strcmp(argv[1], "vfork"))
		return vfork_mode(argv);
	if (argc == 3 && !strcmp(argv[1], "churn"))
		return churn_mode(argv);
	if (argc == 6 && !strcmp(argv[1], "auto"))
		return auto_mode(argv);
	const char *mode = argc > 1 ? argv[1] : "read";
	size_t pages = argc > 2 ? strtoul(argv[2], NULL, 0) : 64, ps = 4096, next = 0;
	uint64_t want = spin(42);
	char line[64];
	char *m;

	ps = (size_t)sysconf(_SC_PAGESIZE);
	m = guarded(pages, ps);
	memset(m, 1, pages * ps);
	if (!strcmp(mode, "semop") || !strcmp(mode, "recv") || !strcmp(mode, "sockread") ||
	    !strcmp(mode, "splice")) {
		feed_read = !strcmp(mode, "sockread") ? 1 : !strcmp(mode, "splice") ? 2 : 0;
		if (feed_read == 2 && pipe2(splice_pipe, O_CLOEXEC))
			fail("pipe");
		feed_start(mode);
	} else if (strcmp(mode, "read")) {
		fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK);
	}
	if (!strcmp(mode, "sigwait") || !strcmp(mode, "sigtimedwait")) {
		sigset_t io;

		/* stdin raises SIGIO, blocked, whenever input arrives */
		sigemptyset(&io);
		sigaddset(&io, SIGIO);
		sigprocmask(SIG_BLOCK, &io, NULL);
		if (fcntl(0, F_SETOWN, getpid()) ||
		    fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_ASYNC | O_NONBLOCK))
			fail("O_ASYNC");
	}
	if (!strcmp(mode, "threads"))
		start_thread(idle_waiter);
	printf("%p %zu\n", (void *)m, pages);
	fflush(stdout);
	for (;;) {
		size_t len = 0;
		int c;

		while ((c = next_byte(mode, want)) >= 0 && c != '\n')
			if (len < sizeof(line) - 1)
				line[len++] = (char)c;
		line[len] = '\0';
		if (c < 0 || !strcmp(line, "q"))
			break;
		if (!strcmp(line, "c")) {
			printf("c %ld %ld\n", rt_handled(),
			       __atomic_load_n(&eintr_spurious, __ATOMIC_SEQ_CST));
			fflush(stdout);
			continue;
		}
		if (!strcmp(line, "u") || !strcmp(line, "U")) {
			printf("u %d\n", own_uffd(m, pages * ps, line[0] == 'U'));
			fflush(stdout);
			continue;
		}
		if (line[0] == 'm') { /* "m A N": munmap N pages from page A */
			char *end;
			size_t a = strtoul(line + 1, &end, 10), n = strtoul(end, NULL, 10);

			printf("%s\n", a + n <= pages && !munmap(m + a * ps, n * ps) ? "ok" : "no");
			fflush(stdout);
			continue;
		}
		if (line[0] != 'w')
			return 5;
		for (size_t k = strtoul(line + 1, NULL, 10); k; k--, next++)
			m[(next % pages) * ps] = 2;
		printf("ok\n");
		fflush(stdout);
	}
	feed_stop();
	return 0;
}
