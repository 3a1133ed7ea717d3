/* SPDX-License-Identifier: MIT */
/* The shared test helpers declared in harness.h. */
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

size_t PS;
enum ww_backend harness_backend;

enum ww_backend harness_backend_arg(int argc, char **argv)
{
	char why[256];
	int err;

	PS = (size_t)sysconf(_SC_PAGESIZE);
	if (argc < 2 || ww_backend_from_name(argv[1], &harness_backend) < 0) {
		fprintf(stderr, "usage: %s BACKEND (pagemap-scan, uffd-wp, soft-dirty, mprotect)\n",
			argv[0]);
		exit(2);
	}
	err = ww_backend_probe(harness_backend, 0, why, sizeof(why));
	if (err) {
		printf("SKIP: backend %s does not work here: %s\n", argv[1], why);
		exit(SKIP);
	}
	return harness_backend;
}

bool harness_has(unsigned int caps)
{
	unsigned int have = 0;

	/* a test that never named its backend has none to ask about */
	CHECK(harness_backend != WW_BACKEND_AUTO);
	CHECK_EQ(ww_backend_caps(harness_backend, &have), 0);
	return (have & caps) == caps;
}

struct ww_tracker *harness_open(int argc, char **argv)
{
	struct ww_opts o = { .sz = sizeof(o) };
	struct ww_tracker *t = NULL;

	o.backend = harness_backend_arg(argc, argv);
	CHECK_EQ(ww_open(&o, &t), 0);
	CHECK(t != NULL);
	CHECK_EQ(ww_tracker_backend(t), o.backend);
	return t;
}

char *harness_map(size_t pages)
{
	char *m;

	if (!harness_has(WW_CAP_EXACT)) {
		/* soft-dirty reports whole VMAs that grew by a merge with a
		 * later mapping, and whole transparent huge pages: documented
		 * false positives, tested on their own (test_soft_dirty_vma).
		 * Here a PROT_NONE guard page on each side keeps later maps
		 * from merging, and the memory stays in 4 KiB pages. */
		m = mmap(NULL, (pages + 2) * PS, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		CHECK(m != MAP_FAILED);
		m += PS;
		CHECK(mprotect(m, pages * PS, PROT_READ | PROT_WRITE) == 0);
		CHECK(madvise(m, pages * PS, MADV_NOHUGEPAGE) == 0);
	} else {
		m = mmap(NULL, pages * PS, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
			 0);
		CHECK(m != MAP_FAILED);
	}
	memset(m, 0, pages * PS);
	return m;
}

size_t harness_collect_all(struct ww_tracker *t, void *addr, size_t len, unsigned int flags,
			   struct iovec *out, size_t max)
{
	char *p = addr, *end = (char *)addr + len;
	size_t n = 0;

	while (p < end) {
		void *next = NULL;
		ssize_t r;

		CHECK(n < max);
		r = ww_collect(t, p, (size_t)(end - p), flags, out + n, max - n, &next);
		CHECK(r >= 0);
		CHECK(next != NULL && (char *)next > p && (char *)next <= end);
		/* a run continued from the previous call merges back */
		if (r > 0 && n > 0 &&
		    (char *)out[n - 1].iov_base + out[n - 1].iov_len == out[n].iov_base) {
			out[n - 1].iov_len += out[n].iov_len;
			memmove(&out[n], &out[n + 1], (size_t)(r - 1) * sizeof(*out));
			r--;
		}
		n += (size_t)r;
		p = next;
	}
	return n;
}

void harness_pages(const struct iovec *runs, size_t n, const char *base, size_t pages, bool *dirty)
{
	const char *prev_end = NULL;

	memset(dirty, 0, pages);
	for (size_t i = 0; i < n; i++) {
		const char *s = runs[i].iov_base;

		CHECK(((uintptr_t)s % PS) == 0);
		CHECK(runs[i].iov_len > 0 && runs[i].iov_len % PS == 0);
		CHECK(s >= base && s + runs[i].iov_len <= base + pages * PS);
		CHECK(prev_end == NULL || s > prev_end); /* ascending, merged */
		for (size_t off = 0; off < runs[i].iov_len; off += PS)
			dirty[(size_t)(s + off - base) / PS] = true;
		prev_end = s + runs[i].iov_len;
	}
}

bool harness_more(long done, long min, long max)
{
	static double budget = -1, start;
	struct timespec ts;
	double now;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
	if (budget < 0) {
		const char *e = getenv("WW_TEST_BUDGET");

		budget = e && atof(e) > 0 ? atof(e) : 5.0;
		start = now;
	}
	if (done < min)
		return true;
	return done < max && now - start < budget;
}

bool harness_zero_page_kernel(void)
{
	unsigned int facts = 0;

	CHECK_EQ(ww_kernel_facts(&facts), 0);
	return facts & WW_FACT_ZERO_PAGE;
}

bool harness_sees_discard_read_back(void)
{
	WW_OPTS(o, .backend = harness_backend);
	struct ww_tracker *t;
	bool yes;

	/* WW_CAP_DISCARDS as a tracker has it here: the library takes it
	 * away where a read-back would hide a discard */
	CHECK_EQ(ww_open(&o, &t), 0);
	yes = ww_tracker_caps(t) & WW_CAP_DISCARDS;
	ww_close(t);
	return yes;
}

/* Async-signal-safe string building for harness_hang. */
struct line {
	char b[3072];
	size_t n;
};

static void put(struct line *l, const char *s, size_t n)
{
	for (size_t i = 0; i < n && l->n < sizeof(l->b) - 1; i++)
		l->b[l->n++] = s[i] == '\n' ? ' ' : s[i];
}

static void puts_(struct line *l, const char *s)
{
	put(l, s, strlen(s));
}

static void putnum(struct line *l, unsigned long v, unsigned int base)
{
	char d[24];
	size_t k = sizeof(d);

	do
		d[--k] = "0123456789abcdef"[v % base];
	while ((v /= base) && k);
	put(l, d + k, sizeof(d) - k);
}

/* Read /proc/self/task/<tid>/<file> into buf (NUL-ended, trailing
 * newline dropped); 0 on failure. */
static size_t task_file(const char *tid, const char *file, char *buf, size_t len)
{
	struct line p = { .n = 0 };
	ssize_t r;
	int fd;

	puts_(&p, "/proc/self/task/");
	puts_(&p, tid);
	puts_(&p, "/");
	puts_(&p, file);
	p.b[p.n] = 0;
	fd = open(p.b, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	r = read(fd, buf, len - 1);
	close(fd);
	if (r <= 0)
		return 0;
	if (buf[r - 1] == '\n')
		r--;
	buf[r] = 0;
	return (size_t)r;
}

static const char *sys_name(long nr)
{
	static const struct {
		long nr;
		const char *name;
	} t[] = {
		{ SYS_ioctl, "ioctl" },
		{ SYS_madvise, "madvise" },
		{ SYS_munmap, "munmap" },
		{ SYS_mmap, "mmap" },
		{ SYS_mprotect, "mprotect" },
		{ SYS_read, "read" },
		{ SYS_write, "write" },
		{ SYS_pread64, "pread64" },
		{ SYS_futex, "futex" },
		{ SYS_ppoll, "ppoll" },
		{ SYS_sched_yield, "sched_yield" },
		{ SYS_clock_nanosleep, "clock_nanosleep" },
		{ SYS_nanosleep, "nanosleep" },
		{ SYS_rt_sigtimedwait, "rt_sigtimedwait" },
#ifdef SYS_poll
		{ SYS_poll, "poll" },
#endif
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (t[i].nr == nr)
			return t[i].name;
	return NULL;
}

void harness_hang(const char *why)
{
	static struct line l;
	char buf[512];
	int dir = open("/proc/self/task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	l.n = 0;
	puts_(&l, "FAIL: ");
	puts_(&l, why);
	puts_(&l, "; threads:");
	for (;;) {
		char ents[2048];
		long n = dir < 0 ? 0 : syscall(SYS_getdents64, dir, ents, sizeof(ents));

		if (n <= 0)
			break;
		for (long at = 0; at < n;) {
			struct {
				uint64_t ino;
				int64_t off;
				unsigned short reclen;
				unsigned char type;
				char name[];
			} *d = (void *)(ents + at);
			const char *tid = d->name, *st;

			at += d->reclen;
			if (tid[0] < '0' || tid[0] > '9')
				continue;
			puts_(&l, " [");
			puts_(&l, tid);
			/* stat: "tid (comm) S ...": the state after the last ')' */
			if (task_file(tid, "stat", buf, sizeof(buf)) && (st = strrchr(buf, ')')) &&
			    st[1] == ' ' && st[2]) {
				puts_(&l, " ");
				put(&l, st + 2, 1);
			}
			if (task_file(tid, "wchan", buf, sizeof(buf)) && strcmp(buf, "0")) {
				puts_(&l, " in ");
				puts_(&l, buf);
			}
			/* syscall: "nr arg1 .. arg6 sp pc", or "running", "-1 ..." */
			if (task_file(tid, "syscall", buf, sizeof(buf))) {
				char *p = buf;
				long nr = 0;
				const char *name;

				while (*p >= '0' && *p <= '9')
					nr = nr * 10 + (*p++ - '0');
				if (p != buf && *p == ' ') {
					name = sys_name(nr);
					puts_(&l, " ");
					if (name) {
						puts_(&l, name);
					} else {
						puts_(&l, "syscall ");
						putnum(&l, (unsigned long)nr, 10);
					}
					/* ioctl's request, e.g. which UFFDIO_ */
					if (nr == SYS_ioctl) {
						char *a = strchr(p + 1, ' ');

						puts_(&l, "(");
						if (a)
							put(&l, a + 1, strcspn(a + 1, " "));
						puts_(&l, ")");
					}
				} else if (buf[0] != '-') {
					puts_(&l, " ");
					puts_(&l, buf); /* "running" */
				}
			}
			puts_(&l, "]");
		}
	}
	if (dir >= 0)
		close(dir);
	l.b[l.n++] = '\n'; /* room kept by put */
	(void)!write(2, l.b, l.n);
	_exit(1);
}
