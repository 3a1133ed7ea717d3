/* SPDX-License-Identifier: MIT */
/*
 * The process tests/dump/test_dump.py dumps: known data in several kinds of
 * mapping, written all the time by threads whose every step is determined by
 * a counter, so that a core taken at any one instant can be checked word by
 * word from the counters it holds (tests/dump/coreread.py does the check).
 *
 * Thread w (0..NW-1) runs write_loop() on its own region: step k stores k in
 * word idx(k) = (k % P) * 512 + (k / P) % 512 of the region, then sets
 * progress[w] = k. Region 0 is private anonymous memory, 1 is shared
 * anonymous (shmem), 2 is a private mapping of a file whose words start as
 * FILE_PATTERN | index; file2 maps 4 pages of the same file privately and
 * only its first word is written (0x5ca1ab1e). One more thread waits in epoll_wait and one in
 * sigtimedwait: either returning EINTR is a failure (a stop is not to be
 * seen), unless DUMP_TARGET_EINTR_OK is set (where the stop's EINTR cannot
 * be undone). The main thread reads commands on stdin:
 *   "q\n": stop the writers, check every region against the counters
 *          (the memory was left untouched), report, exit 0 if all good.
 *   "p\n": print the counters.
 *   "g\n": print and reset the longest pause a writer saw (bench/dump_bench.py).
 * On start it prints one line "ready KEY=VALUE..." with the addresses.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#define NW 3
#define FILE_PATTERN 0xf11e000000000000ULL

volatile unsigned long progress[NW];
char data_string[64] = "writewatch dump: initialised data";
char bss_buf[4096];
static atomic_int stop_writers;
static atomic_int eintr_seen;
static unsigned long *region[NW];
static size_t pages[NW];
static int evfd;
static char *reserve;
static unsigned long *file2; /* 4 pages of the file, only word 0 written */
static _Atomic long max_gap_ns; /* longest pause seen by a writer */
static unsigned long pace_steps = 256; /* steps between two sleeps */
static long pace_ns = 200000;

static unsigned long idx_of(unsigned long k, size_t p)
{
	return (k % p) * 512 + (k / p) % 512;
}

static __attribute__((noinline)) void write_loop(int w, unsigned long *buf, size_t p)
{
	volatile unsigned long k = 0;
	struct timespec last, now;

	clock_gettime(CLOCK_MONOTONIC, &last);

	while (!atomic_load_explicit(&stop_writers, memory_order_relaxed)) {
		k = k + 1;
		buf[idx_of(k, p)] = k;
		__asm__ volatile("" ::: "memory");
		progress[w] = k;
		__asm__ volatile("" ::: "memory");
		if (k % pace_steps == 0) {
			/* a paced writer: a loaded machine stays usable */
			struct timespec ts = { 0, pace_ns };

			long gap;

			nanosleep(&ts, NULL);
			/* the longest stretch without progress: a freeze, as the
			 * process sees it (benchmarks only, never asserted) */
			clock_gettime(CLOCK_MONOTONIC, &now);
			gap = (now.tv_sec - last.tv_sec) * 1000000000L + now.tv_nsec -
			      last.tv_nsec - ts.tv_nsec;
			last = now;
			if (gap > atomic_load(&max_gap_ns))
				atomic_store(&max_gap_ns, gap);
		}
	}
}

static __attribute__((noinline)) void *writer_anon(void *a)
{
	write_loop(0, region[0], pages[0]);
	return a;
}

static __attribute__((noinline)) void *writer_shmem(void *a)
{
	write_loop(1, region[1], pages[1]);
	return a;
}

static __attribute__((noinline)) void *writer_file(void *a)
{
	write_loop(2, region[2], pages[2]);
	return a;
}

static __attribute__((noinline)) void *waiter_epoll(void *a)
{
	struct epoll_event ev = { .events = EPOLLIN }, out;
	int ep = epoll_create1(0);

	epoll_ctl(ep, EPOLL_CTL_ADD, evfd, &ev);
	for (;;) {
		int n = epoll_wait(ep, &out, 1, -1);

		if (n < 0 && errno == EINTR) {
			atomic_store(&eintr_seen, 1);
			continue;
		}
		if (n == 1)
			break;
	}
	return a;
}

static __attribute__((noinline)) void *waiter_sigwait(void *a)
{
	sigset_t s;

	sigemptyset(&s);
	sigaddset(&s, SIGUSR1);
	for (;;) {
		struct timespec to = { 3600, 0 };
		int r = sigtimedwait(&s, NULL, &to);

		if (r < 0 && errno == EINTR) {
			atomic_store(&eintr_seen, 2);
			continue;
		}
		if (r == SIGUSR1)
			break;
	}
	return a;
}

/* Every word of region w as the counters say. */
static int check(int w)
{
	unsigned long k = progress[w], bad = 0;
	size_t words = pages[w] * 512;
	unsigned long *exp = calloc(words, sizeof(*exp));

	if (!exp)
		return 1;
	for (size_t i = 0; i < words; i++)
		exp[i] = w == 2 ? (FILE_PATTERN | i) : 0;
	for (unsigned long j = 1; j <= k; j++)
		exp[idx_of(j, pages[w])] = j;
	for (size_t i = 0; i < words; i++)
		bad += region[w][i] != exp[i];
	free(exp);
	if (bad)
		printf("region %d: %lu words differ from the counter %lu\n", w, bad, k);
	return bad != 0;
}

int main(int argc, char **argv)
{
	size_t sizes[NW] = { 8u << 20, 2u << 20, 2u << 20 };
	pthread_t th[NW + 2];
	char path[] = "/tmp/ww-dump-target-XXXXXX", cmd[16];
	sigset_t s;
	int fd, bad = 0;
	char *heap;

	(void)argc;
	(void)argv;
	if (getenv("DUMP_TARGET_SECCOMP")) {
		/* an allow-everything filter: enough for writewatch to refuse
		 * injecting a userfaultfd (tests the stop-and-copy fallback) */
		struct sock_filter allow = BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
		struct sock_fprog prog = { 1, &allow };

		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) ||
		    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog))
			return 3;
	}
	/* a hostile name: /proc/PID/stat must be parsed from the last ')' */
	prctl(PR_SET_NAME, "dump) t (x", 0, 0, 0);
	/* SIGUSR1 is for the sigtimedwait thread only */
	sigemptyset(&s);
	sigaddset(&s, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &s, NULL);
	setvbuf(stdout, NULL, _IOLBF, 0);
	/* DUMP_TARGET_ANON_MB: size of the anonymous region (populated
	 * whole at start); DUMP_TARGET_PACE=STEPS,NS: sleep NS every STEPS */
	if (getenv("DUMP_TARGET_ANON_MB"))
		sizes[0] = strtoul(getenv("DUMP_TARGET_ANON_MB"), NULL, 10) << 20;
	if (getenv("DUMP_TARGET_PACE") &&
	    sscanf(getenv("DUMP_TARGET_PACE"), "%lu,%ld", &pace_steps, &pace_ns) != 2)
		return 2;
	if (!pace_steps || pace_ns < 0 || pace_ns > 999999999 || sizes[0] < 4096)
		return 2;
	for (int w = 0; w < NW; w++)
		pages[w] = sizes[w] / 4096;
	region[0] =
		mmap(NULL, sizes[0], PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	region[1] = mmap(NULL, sizes[1], PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	fd = mkstemp(path);
	if (fd < 0)
		return 1;
	unlink(path);
	{
		unsigned long *init = malloc(sizes[2]);

		for (size_t i = 0; i < sizes[2] / 8; i++)
			init[i] = FILE_PATTERN | i;
		if (write(fd, init, sizes[2]) != (ssize_t)sizes[2])
			return 1;
		free(init);
	}
	region[2] = mmap(NULL, sizes[2], PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	file2 = mmap(NULL, 4 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	if (file2 == MAP_FAILED)
		return 1;
	file2[0] = 0x5ca1ab1e;
	/* a big reservation never touched: the core must stay small */
	reserve = mmap(NULL, 1UL << 30, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (region[0] == MAP_FAILED || region[1] == MAP_FAILED || region[2] == MAP_FAILED ||
	    reserve == MAP_FAILED)
		return 1;
	if (getenv("DUMP_TARGET_ANON_MB"))
		memset(region[0], 0, sizes[0]);
	heap = malloc(256);
	snprintf(heap, 256, "heap string of process %d", (int)getpid());
	memset(bss_buf, 'b', sizeof(bss_buf) - 1);
	evfd = eventfd(0, 0);
	pthread_create(&th[0], NULL, writer_anon, NULL);
	pthread_create(&th[1], NULL, writer_shmem, NULL);
	pthread_create(&th[2], NULL, writer_file, NULL);
	pthread_create(&th[3], NULL, waiter_epoll, NULL);
	pthread_create(&th[4], NULL, waiter_sigwait, NULL);
	/* some progress before anyone looks */
	while (progress[0] < 1000 || progress[1] < 1000 || progress[2] < 1000)
		usleep(1000);
	printf("ready pid=%d progress=%p anon=%p shmem=%p file=%p reserve=%p heap=%p data=%p "
	       "pages=%zu,%zu,%zu file2=%p\n",
	       (int)getpid(), (void *)progress, (void *)region[0], (void *)region[1],
	       (void *)region[2], (void *)reserve, (void *)heap, (void *)data_string, pages[0],
	       pages[1], pages[2], (void *)file2);
	while (fgets(cmd, sizeof(cmd), stdin)) {
		if (cmd[0] == 'p') {
			printf("progress %lu %lu %lu\n", progress[0], progress[1], progress[2]);
		} else if (cmd[0] == 'g') {
			printf("gap_us %ld\n", atomic_exchange(&max_gap_ns, 0) / 1000);
		} else if (cmd[0] == 'q') {
			break;
		}
	}
	atomic_store(&stop_writers, 1);
	for (int w = 0; w < NW; w++)
		pthread_join(th[w], NULL);
	for (int w = 0; w < NW; w++)
		bad |= check(w);
	{
		uint64_t one = 1;

		if (write(evfd, &one, sizeof(one)) != sizeof(one))
			bad = 1;
	}
	pthread_kill(th[4], SIGUSR1);
	pthread_join(th[3], NULL);
	pthread_join(th[4], NULL);
	if (eintr_seen) {
		printf("a blocking call returned EINTR (%s)\n",
		       eintr_seen == 1 ? "epoll_wait" : "sigtimedwait");
		/* DUMP_TARGET_EINTR_OK: where the tool cannot rewind them
		 * (arm64: the first argument is gone from the registers), the
		 * test says so and checks the rest */
		if (!getenv("DUMP_TARGET_EINTR_OK"))
			bad = 1;
	}
	free(heap);
	printf("%s\n", bad ? "target: FAILED" : "target: ok");
	return bad;
}
