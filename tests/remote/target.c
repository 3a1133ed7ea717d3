/* SPDX-License-Identifier: MIT */
/*
 * The process the remote tests watch. It maps PAGES pages, prints
 * "ADDR PAGES" on stdout, then obeys one-line commands on stdin:
 * "w K" writes the next K distinct pages of the mapping and answers "ok",
 * "c" answers "c N", N the SIGRTMIN signals handled so far (SA_RESTART),
 * "q" exits 0. While it waits for a command it sits where the test asked
 * (argv[1]): "read" blocks in read(2), "sleep" polls and sleeps in
 * nanosleep(2), "spin" computes in user space between polls, "ppoll" waits
 * in ppoll(2) with a temporary empty signal mask (SIGUSR2 stays blocked
 * outside it: exit 6 if that changes). Every mode
 * checks its own work, so an injection that corrupts a register, a syscall
 * result or a restart shows up as a wrong exit status: 3 (spin result
 * wrong), 4 (a syscall failed that must not), 5 (bad command).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SPIN 2000000

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

static volatile sig_atomic_t rt_count;

static void on_rt(int sig)
{
	(void)sig;
	rt_count++;
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
	if (strcmp(mode, "read"))
		fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK);
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
			printf("c %ld\n", (long)rt_count);
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
	return 0;
}
