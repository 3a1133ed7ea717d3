/* SPDX-License-Identifier: MIT */
/*
 * The hugetlb reset rule, on every backend: a re-arming call (ww_collect
 * with WW_RESET, ww_reset, ww_snapshot_take) whose start or end falls inside
 * a 2 MiB hugetlb page fails with -EINVAL and changes nothing: the pages
 * written before are still reported afterwards. It does so whether the page
 * it would split is written or clean (a clean one is what a backend lets
 * through when the rule is left to the kernel), and a call that does not
 * re-arm, or one on hugetlb page boundaries, works. The core applies the
 * rule for every backend (src/tracker.c, ww__rearm_check). Tracking a range
 * that splits one is -EINVAL on every backend too.
 *
 * argv[1]: the backend; argv[2]: "local" (this process's memory) or
 * "remote" (a child's, tracked from outside: backends with WW_CAP_REMOTE).
 */
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "memkind.h"

#define H (2UL << 20)
#define NH 3 /* hugetlb pages: H0 written, H1 and H2 clean at the refusals */
#define LEN (NH * H)
#define MAXRUNS 16

static char *m; /* the tracked memory (in the child's address space if remote) */
static pid_t child;
static int to_child = -1, from_child = -1;

/* Write one byte at page k of the tracked memory. */
static void poke(size_t k)
{
	char ack;

	if (!child) {
		m[k * PS]++;
		return;
	}
	CHECK(write(to_child, &k, sizeof(k)) == (ssize_t)sizeof(k));
	CHECK(read(from_child, &ack, 1) == 1 && ack == 'k');
}

/* The child of the remote case: maps the memory, reports where, then
 * writes what it is told, blocked in read(2) in between. */
static int child_main(int in, int out)
{
	int rw = PROT_READ | PROT_WRITE;
	char *c = mmap(NULL, LEN, rw, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
	size_t k;

	if (c != MAP_FAILED)
		memset(c, 1, LEN);
	if (write(out, &c, sizeof(c)) != (ssize_t)sizeof(c) || c == MAP_FAILED)
		return 1;
	while (read(in, &k, sizeof(k)) == (ssize_t)sizeof(k)) {
		c[k * PS]++;
		if (write(out, "k", 1) != 1)
			return 1;
	}
	return 0;
}

static void remote_start(void)
{
	int a[2], b[2];

	CHECK(pipe2(a, O_CLOEXEC) == 0 && pipe2(b, O_CLOEXEC) == 0);
	child = fork();
	CHECK(child >= 0);
	if (child == 0) {
		close(a[1]); /* so that our close is its end of input */
		close(b[0]);
		_exit(child_main(a[0], b[1]));
	}
	close(a[0]);
	close(b[1]);
	to_child = a[1];
	from_child = b[0];
	CHECK(read(from_child, &m, sizeof(m)) == (ssize_t)sizeof(m));
	if (m == MAP_FAILED) {
		printf("SKIP: the child could not map %lu MiB of hugetlb memory\n", LEN >> 20);
		exit(SKIP);
	}
}

static void remote_stop(void)
{
	int st;

	if (!child)
		return;
	close(to_child);
	CHECK(waitpid(child, &st, 0) == child);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static void skip(const char *why)
{
	printf("SKIP: %s\n", why);
	if (child) {
		kill(child, SIGKILL);
		waitpid(child, NULL, 0);
	}
	exit(SKIP);
}

/* Collect [m, m+LEN) without re-arming; fail unless exactly the hugetlb
 * pages in want (a bit per page) are reported, each whole. */
static void expect(struct ww_tracker *t, unsigned int want, const char *what)
{
	struct iovec runs[MAXRUNS];
	size_t n = harness_collect_all(t, m, LEN, 0, runs, MAXRUNS), r = 0;

	for (unsigned int i = 0; i < NH; i++) {
		char *a = m + i * H, *b = a;

		if (!(want & 1u << i))
			continue;
		/* adjacent written pages come merged */
		while (i < NH && want & 1u << i)
			b = m + ++i * H;
		if (r >= n || runs[r].iov_base != a ||
		    (char *)runs[r].iov_base + runs[r].iov_len != b)
			fprintf(stderr, "%s: want %p+%#lx as run %zu of %zu\n", what, (void *)a,
				(unsigned long)(b - a), r, n);
		CHECK(r < n && runs[r].iov_base == a && runs[r].iov_len == (size_t)(b - a));
		r++;
	}
	if (r != n)
		fprintf(stderr, "%s: %zu runs, want %zu; first %p+%#zx\n", what, n, r,
			runs[0].iov_base, runs[0].iov_len);
	CHECK_EQ(n, r);
}

/* One refused call: -EINVAL with errno set. */
#define REFUSED(call)                    \
	do {                             \
		errno = 0;               \
		CHECK_EQ(call, -EINVAL); \
		CHECK_EQ(errno, EINVAL); \
	} while (0)

int main(int argc, char **argv)
{
	bool remote = argc > 2 && !strcmp(argv[2], "remote");
	WW_OPTS(o, .backend = harness_backend_arg(argc, argv));
	struct ww_tracker *t;
	struct iovec out[MAXRUNS];
	struct mk_mem mm;
	char why[256];
	void *next;
	size_t hp;
	int err;

	CHECK(argc == 3 && (remote || !strcmp(argv[2], "local")));
	hp = H / PS; /* base pages per hugetlb page */
	if (remote && !harness_has(WW_CAP_REMOTE))
		skip("this backend cannot track another process (no WW_CAP_REMOTE)");
	/* the pool (mk_map raises it as root, or skips saying why) */
	m = mk_map(MK_HUGETLB, LEN, &mm);
	if (remote) {
		CHECK(munmap(m, LEN) == 0); /* the pages go back to the pool */
		remote_start();
		o.pid = child;
		err = ww_backend_probe(o.backend, child, why, sizeof(why));
		if (err)
			skip(why);
	} else {
		memset(m, 1, LEN);
	}
	CHECK_EQ(ww_open(&o, &t), 0);
	/* tracking a range that splits one: -EINVAL on every backend, even
	 * those that track no hugetlb memory at all */
	REFUSED(ww_track(t, m + PS, LEN - PS));
	REFUSED(ww_track(t, m, LEN - PS));
	err = ww_track(t, m, LEN);
	if (err == -EOPNOTSUPP && !harness_has(WW_CAP_HUGETLB))
		skip("this backend refuses hugetlb memory (no WW_CAP_HUGETLB: ww_track gives "
		     "-EOPNOTSUPP, checked), so no reset can split a hugetlb page");
	CHECK_EQ(err, 0);
	expect(t, 0, "clean at track");

	/* H0 written (its page 1); H1 and H2 clean */
	poke(1);
	expect(t, 1u << 0, "H0 written");

	/* refused: either end inside a written or a clean hugetlb page */
	REFUSED(ww_collect(t, m + PS, PS, WW_RESET, out, MAXRUNS, &next));
	REFUSED(ww_collect(t, m, H + PS, WW_RESET, out, MAXRUNS, &next)); /* end in clean H1 */
	REFUSED(ww_collect(t, m + H + PS, H, WW_RESET, out, MAXRUNS, &next));
	REFUSED(ww_reset(t, m + PS, LEN - PS)); /* start in written H0 */
	REFUSED(ww_reset(t, m + H + PS, H - PS)); /* start in clean H1 */
	REFUSED(ww_reset(t, m + 2 * H, H - PS)); /* end in clean H2 */
	REFUSED(ww_reset(t, m, 1)); /* one byte: a page, rounded; inside H0 */
	if (!remote) { /* taking a snapshot re-arms its range */
		struct ww_snapshot *snap = NULL;

		REFUSED(ww_snapshot_take(t, m + PS, PS, 0, &snap));
		CHECK(snap == NULL);
	}
	/* ...and changed nothing: H0 still written, the rest still clean */
	expect(t, 1u << 0, "after the refused calls");
	poke(hp + 3); /* a write into H1 after them is seen too */
	expect(t, 1u << 0 | 1u << 1, "a write after the refused calls");

	/* a collect that does not re-arm may split one */
	CHECK_EQ(ww_collect(t, m + PS, PS, 0, out, MAXRUNS, &next), 1);
	CHECK(out[0].iov_base == m + PS && out[0].iov_len == PS);

	/* on hugetlb page boundaries it works: H0 collected and re-armed */
	CHECK_EQ(ww_collect(t, m, H, WW_RESET, out, MAXRUNS, &next), 1);
	CHECK(out[0].iov_base == m && out[0].iov_len == H && next == m + H);
	expect(t, 1u << 1, "H0 re-armed");
	/* H1 reset, H2 written and left alone */
	poke(2 * hp + 7);
	CHECK_EQ(ww_reset(t, m + H, H), 0);
	expect(t, 1u << 2, "H1 reset");
	CHECK_EQ(ww_reset(t, m, LEN), 0);
	expect(t, 0, "all reset");
	/* re-armed for real: the next writes are seen */
	poke(hp - 1);
	poke(hp + 5);
	expect(t, 1u << 0 | 1u << 1, "written after the resets");
	CHECK_EQ(ww_collect(t, m + H, 2 * H, WW_RESET, out, MAXRUNS, &next), 1);
	expect(t, 1u << 0, "H1 collected");

	CHECK_EQ(ww_untrack(t, m, LEN), 0);
	ww_close(t);
	remote_stop();
	printf("ok: %s%s: a re-arm that splits a hugetlb page is refused (-EINVAL) and "
	       "changes nothing; on its boundaries it works\n",
	       argv[1], remote ? " (another process)" : "");
	return 0;
}
