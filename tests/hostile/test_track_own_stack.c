/* SPDX-License-Identifier: MIT */
/*
 * Issue 16 item 8: tracking the calling thread's own stack deadlocked
 * (uffd-wp, every signal blocked, only SIGKILL ended it) or killed the
 * process (mprotect: the SIGSEGV frame goes onto the protected stack).
 * ww_track refuses it with -EDEADLK on every backend: the current frame,
 * another page of the main thread's [stack] (argv's strings, at its top),
 * a pthread's own stack (its lowest page too), and a stack the application
 * gave a thread (pthread_attr_setstack). Memory that is not a stack of the
 * caller still tracks. Each attempt runs in a child, so that the code
 * before the fix shows as a failure (a hang is killed after a bound) and
 * not as a hung test.
 */
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

static struct ww_tracker *t;

static int try_track(void *addr, size_t len)
{
	int r = ww_track(t, addr, len);

	if (r == 0)
		ww_untrack(t, addr, len);
	return r == -EDEADLK && errno == EDEADLK ? 0 : 1;
}

static int frame_case(void)
{
	volatile char buf[3 * 4096];

	buf[0] = 1;
	return try_track((void *)buf, sizeof(buf));
}

static void *thread_frame(void *arg)
{
	(void)arg;
	return (void *)(intptr_t)frame_case();
}

static void *thread_low(void *arg)
{
	pthread_attr_t a;
	void *lo;
	size_t sz;

	(void)arg;
	if (pthread_getattr_np(pthread_self(), &a) || pthread_attr_getstack(&a, &lo, &sz))
		return (void *)2;
	pthread_attr_destroy(&a);
	return (void *)(intptr_t)try_track(lo, PS);
}

static int in_thread(void *(*fn)(void *), void *stack, size_t size)
{
	pthread_attr_t a;
	pthread_t th;
	void *ret;

	pthread_attr_init(&a);
	if (stack)
		pthread_attr_setstack(&a, stack, size);
	if (pthread_create(&th, &a, fn, NULL))
		return 3;
	pthread_join(th, &ret);
	pthread_attr_destroy(&a);
	return (int)(intptr_t)ret;
}

/* One case in a child with its own tracker; 0 if refused properly. */
static void run_case(const char *name, int which, char **argv)
{
	int status = 0;
	pid_t pid = fork();

	CHECK(pid >= 0);
	if (pid == 0) {
		struct ww_opts o = { .sz = sizeof(o), .backend = harness_backend };
		size_t ssz = 256 * 1024;
		void *stk;
		int r = 0;

		alarm(20);
		if (ww_open(&o, &t))
			_exit(4);
		switch (which) {
		case 0:
			r = frame_case();
			break;
		case 1:
			/* argv's strings sit at the top of the main stack */
			r = try_track(argv[0], 1);
			break;
		case 2:
			r = in_thread(thread_frame, NULL, 0);
			break;
		case 3:
			r = in_thread(thread_low, NULL, 0);
			break;
		case 4:
			stk = mmap(NULL, ssz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
				   -1, 0);
			if (stk == MAP_FAILED)
				_exit(5);
			r = in_thread(thread_frame, stk, ssz);
			/* not the main thread's stack: it may track it */
			if (!r && ww_track(t, (char *)stk + PS, PS))
				r = 6;
			break;
		}
		ww_close(t);
		_exit(r);
	}
	/* A deadlocked child blocks every signal: bound the wait, then kill. */
	for (int i = 0; i < 600; i++) {
		struct timespec ts = { 0, 50 * 1000 * 1000 };

		if (waitpid(pid, &status, WNOHANG) == pid)
			break;
		if (i == 599) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			fprintf(stderr, "%s: %s: hung in ww_track (killed)\n", argv[1], name);
			exit(1);
		}
		nanosleep(&ts, NULL);
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status)) {
		fprintf(stderr, "%s: %s: %s %d\n", argv[1], name,
			WIFSIGNALED(status) ? "killed by signal" : "exit",
			WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
		exit(1);
	}
}

int main(int argc, char **argv)
{
	char *m;

	t = harness_open(argc, argv);
	/* the refusal is about stacks only */
	m = harness_map(4);
	CHECK_EQ(ww_track(t, m, 4 * PS), 0);
	ww_close(t);

	run_case("current frame, main thread", 0, argv);
	run_case("top of the main stack", 1, argv);
	run_case("current frame, pthread", 2, argv);
	run_case("lowest page of a pthread's stack", 3, argv);
	run_case("a stack given with pthread_attr_setstack", 4, argv);
	printf("ok: %s: ww_track refuses the caller's own stack with EDEADLK\n", argv[1]);
	return 0;
}
