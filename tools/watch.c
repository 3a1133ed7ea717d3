/* SPDX-License-Identifier: MIT */
/*
 * `writewatch run -- CMD...` and `writewatch attach PID`: watch another
 * process's writes, interval by interval, as a live view, plain lines or
 * JSON Lines, then a summary with the write working set, dirty rates and a
 * pre-copy live-migration estimate; optionally an SVG heatmap.
 *
 * `run` starts CMD stopped at its first instruction (tools/spawn.c) and
 * stays its ptrace tracer for event stops only (fork, vfork, clone, exec,
 * exit; no syscall stops): the kernel then tells exit and exec apart for
 * certain, a new program image is watched from its first instruction, each
 * child process is watched as its own process, and the last interval of an
 * exiting process is collected at its exit stop, before its address space
 * goes. `attach` does not trace: it tells exit from exec by the pidfd and
 * the presence of a new address space.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "procwatch.h"
#include "spawn.h"
#include "util.h"
#include "watch.h"
#include "writewatch.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_kcmp
#define SYS_kcmp 312
#endif
#ifndef PTRACE_EVENT_STOP
#define PTRACE_EVENT_STOP 128
#endif
#ifndef PTRACE_LISTEN
#define PTRACE_LISTEN 0x4208
#endif
#define KCMP_VM_ 1

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
	(void)sig;
	interrupted = 1;
}

/* ---- bookkeeping -------------------------------------------------------- */

static char *read_cmdline(pid_t pid)
{
	char path[64], buf[512];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return strdup("?");
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return strdup("?");
	while (n > 0 && buf[n - 1] == '\0')
		n--;
	for (ssize_t i = 0; i < n; i++)
		if (buf[i] == '\0')
			buf[i] = ' ';
	buf[n] = '\0';
	return strdup(buf);
}

static struct wproc *proc_new(struct session *s, pid_t pid, pid_t ppid)
{
	struct wproc *p = calloc(1, sizeof(*p)), **v;

	if (!p)
		return NULL;
	v = realloc(s->procs, (s->nprocs + 1) * sizeof(*v));
	if (!v) {
		free(p);
		return NULL;
	}
	s->procs = v;
	p->s = s;
	p->idx = (int)s->nprocs;
	p->pid = pid;
	p->ppid = ppid;
	p->cmd = read_cmdline(pid);
	p->end = "exited";
	p->t_last = now_s();
	p->w.pagemap = -1;
	p->pidfd = -1;
	s->procs[s->nprocs++] = p;
	return p;
}

static struct wproc *by_tid(struct session *s, pid_t tid)
{
	for (size_t i = 0; i < s->ntids; i++)
		if (s->tids[i].tid == tid)
			return s->tids[i].p;
	return NULL;
}

static void tid_add(struct session *s, pid_t tid, struct wproc *p)
{
	if (by_tid(s, tid))
		return;
	if (s->ntids == s->captids) {
		size_t c = s->captids ? s->captids * 2 : 64;
		struct tid *v = realloc(s->tids, c * sizeof(*v));

		if (!v)
			return;
		s->tids = v;
		s->captids = c;
	}
	s->tids[s->ntids++] = (struct tid){ tid, p, false };
	p->nthreads++;
}

static void tid_del(struct session *s, pid_t tid)
{
	for (size_t i = 0; i < s->ntids; i++) {
		if (s->tids[i].tid == tid) {
			s->tids[i].p->nthreads--;
			s->tids[i] = s->tids[--s->ntids];
			return;
		}
	}
}

static void on_run(const struct pw_map *m, size_t page, size_t n, void *ctx)
{
	struct wproc *p = ctx;
	struct session *s = p->s;
	int id = p->map_base + m->id;

	p->iv_written += n;
	if ((size_t)id >= p->nmaps) {
		size_t c = (size_t)id + 64;
		struct mapinfo *v = realloc(p->maps, c * sizeof(*v));

		if (!v)
			return;
		memset(v + p->nmaps, 0, (c - p->nmaps) * sizeof(*v));
		p->maps = v;
		p->nmaps = c;
	}
	if (!p->maps[id].name) {
		p->maps[id].start = m->start;
		p->maps[id].pages = (m->end - m->start) / p->w.ps;
		p->maps[id].name = strdup(m->name ? m->name : "");
	}
	p->maps[id].written = true;
	if (!s->o.svg)
		return;
	if (s->nrecs == s->caprecs) {
		size_t c = s->caprecs ? s->caprecs * 2 : 1024;
		struct rec *v = realloc(s->recs, c * sizeof(*v));

		if (!v)
			return;
		s->recs = v;
		s->caprecs = c;
	}
	s->recs[s->nrecs++] = (struct rec){ s->tick, p->idx, id, page, n };
}

/* ---- watching ----------------------------------------------------------- */

static void account(struct wproc *p, double t, double dt, bool last)
{
	struct session *s = p->s;

	p->total += p->iv_written;
	if (dt > 0 && (double)p->iv_written * (double)p->w.ps / dt > p->peak_rate)
		p->peak_rate = (double)p->iv_written * (double)p->w.ps / dt;
	p->intervals++;
	print_interval(s, p, t - s->t0, dt, last);
	p->iv_written = 0;
	pw_clear_written(&p->w);
}

/* Close the tracker of p's current image; its working set stays counted. */
static void close_image(struct wproc *p)
{
	if (!p->open)
		return;
	pw_close(&p->w);
	p->ws_done += p->w.ws_forgotten;
	p->w.ws_forgotten = 0;
	p->open = false;
	p->map_base = (int)p->nmaps;
}

static int open_watch(struct session *s, struct wproc *p, bool quiet)
{
	char why[1024] = "";
	int err = pw_open(&p->w, p->pid, s->o.backend, 0, why, sizeof(why));

	if (err) {
		fprintf(stderr, "writewatch: cannot watch process %d (", (int)p->pid);
		text_str(stderr, p->cmd);
		fprintf(stderr, "): %s\n", strerror(-err));
		/* say why, per mechanism tried: the reasons name what is missing */
		for (char *l = why, *nl; !quiet && *l; l = nl ? nl + 1 : l + strlen(l)) {
			nl = strchr(l, '\n');
			if (nl)
				*nl = '\0';
			fputs("  ", stderr);
			text_str(stderr, l);
			fputc('\n', stderr);
		}
		return err;
	}
	p->open = true;
	if (!s->mechanism)
		s->mechanism = ww_backend_name(ww_tracker_backend(p->w.t));
	p->w.max_bytes = (size_t)s->o.max_mapping;
	p->w.ex = &s->o.ex;
	return 0;
}

#define TRACE_OPTS                                                                            \
	(PTRACE_O_TRACEEXEC | PTRACE_O_TRACEEXIT | PTRACE_O_TRACECLONE | PTRACE_O_TRACEFORK | \
	 PTRACE_O_TRACEVFORK)

/*
 * p is stopped (or has a SIGSTOP pending), not traced, and held by the
 * watchdog: register its mappings, report what they hold (its interval 0),
 * then trace it for its events (run) and let it go. For the root, a failed
 * registration leaves it stopped and returns the error.
 */
static int adopt(struct session *s, struct wproc *p, bool root)
{
	int err = open_watch(s, p, !root);

	if (!err) {
		double t = now_s();

		p->t_last = t;
		err = pw_step(&p->w, on_run, p);
		account(p, t, 0, false);
		if (err) {
			close_image(p);
			fprintf(stderr, "writewatch: watching process %d failed: %s\n", (int)p->pid,
				strerror(-err));
		}
	}
	if (err && root)
		return err;
	if (s->run) {
		long o = s->o.children ?
				 TRACE_OPTS :
				 PTRACE_O_TRACEEXEC | PTRACE_O_TRACEEXIT | PTRACE_O_TRACECLONE;

		if (ptrace(PTRACE_SEIZE, p->pid, NULL, (void *)o) == 0) {
			p->traced = true;
			tid_add(s, p->pid, p);
		}
	}
	/* The SIGSTOP we held it with may be pending still (the injection
	 * helper sends a stop it held back again after its detach): taken
	 * after this SIGCONT it would stop the process for good, so it is
	 * suppressed when it shows up (see reap()). */
	p->our_stop = p->traced;
	kill(p->pid, SIGCONT);
	watchdog_release(s->dog, p->pid);
	if (s->run && !p->traced && !p->open && p != s->root) {
		/* Neither watched nor traced (it is gone already, or could
		 * not be seized): no tick, stop or exit of it will ever come,
		 * and waiting for one would keep the session from ending.
		 * (The command's exit still reaches us as its parent.) */
		p->gone = true;
		p->end = "unwatched";
		if (s->multi)
			print_proc_end(s, p);
	}
	return 0;
}

/* A process ended: its status is known (run) or not (attach). */
static void finish(struct session *s, struct wproc *p)
{
	if (p->open) {
		/* killed, or its last thread ended without an exit stop */
		p->unobserved++;
		close_image(p);
	} else if (!p->unobserved && !p->intervals) {
		p->last_seen = true; /* never had memory of its own (vfork) */
	}
	if (p->exited && WIFSIGNALED(p->status))
		p->end = "killed";
	p->done = true;
	if (s->multi)
		print_proc_end(s, p);
}

static bool status_line(const char *path, const char *key, char *val, size_t len)
{
	FILE *f = fopen(path, "re");
	char line[256];
	size_t kl = strlen(key);
	bool found = false;

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		if (!strncmp(line, key, kl) && line[kl] == ':') {
			char *v = line + kl + 1;

			v += strspn(v, " \t");
			v[strcspn(v, "\n")] = '\0';
			snprintf(val, len, "%s", v);
			found = true;
		}
	}
	fclose(f);
	return found;
}

static bool exit_stopped(struct session *s, pid_t t)
{
	for (size_t i = 0; i < s->ntids; i++)
		if (s->tids[i].tid == t)
			return s->tids[i].exiting;
	return false;
}

/* Thread t is exiting: a zombie, or PF_EXITING set (it took its SIGKILL
 * already: its SigPnd no longer shows it). */
static bool exiting(pid_t pid, pid_t t)
{
	char path[96], buf[512], *p;
	unsigned long flags = 0;
	char state = 0;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", (int)pid, (int)t);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return true; /* gone */
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return true;
	buf[n] = '\0';
	p = strrchr(buf, ')'); /* the name may hold anything */
	if (!p || sscanf(p + 1, " %c %*d %*d %*d %*d %*d %lu", &state, &flags) != 2)
		return false;
	return state == 'Z' || state == 'X' || (flags & 0x4); /* PF_EXITING */
}

/*
 * Is thread tid, stopped at its exit, the last of its process to run? True
 * when every other thread is gone, at its own exit stop (seen before
 * this one), exiting, or has SIGKILL pending (exit_group(2) and fatal
 * signals kill the others that way; some kernels give them no exit stop).
 * Each thread of a dying process stops at its exit in turn, so the last
 * of them to do so collects.
 */
static bool last_thread(struct session *s, pid_t pid, pid_t tid)
{
	char path[64], val[64];
	struct dirent *e;
	DIR *d;
	bool last = true;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	d = opendir(path);
	if (!d)
		return true;
	while (last && (e = readdir(d))) {
		pid_t t = (pid_t)atoi(e->d_name);
		char sp[96];

		if (t <= 0 || t == tid)
			continue;
		if (exit_stopped(s, t) || exiting(pid, t))
			continue;
		snprintf(sp, sizeof(sp), "/proc/%d/task/%d/status", (int)pid, (int)t);
		if (!status_line(sp, "SigPnd", val, sizeof(val)))
			continue; /* gone meanwhile */
		if (!(strtoull(val, NULL, 16) & (1ULL << (SIGKILL - 1))))
			last = false;
	}
	closedir(d);
	return last;
}

/* p's thread tid is at its exit stop, its memory still there: if the
 * process is ending, collect its last interval now. */
static void exit_stop(struct session *s, struct wproc *p, pid_t tid)
{
	double t;
	int err;

	for (size_t i = 0; i < s->ntids; i++)
		if (s->tids[i].tid == tid)
			s->tids[i].exiting = true;
	if (!p->open || !last_thread(s, p->pid, tid))
		return;
	t = now_s();
	/* the leader may be dead already (exit_group from another thread) */
	p->w.maps_tid = tid;
	err = pw_step(&p->w, on_run, p);
	p->w.maps_tid = 0;
	account(p, t, t - p->t_last, true);
	p->t_last = t;
	if (!err)
		p->last_seen = true;
	close_image(p);
}

/* p executed a new program (we are at its exec stop): the old address
 * space is gone; watch the new one from its first instruction. */
static void exec_stop(struct session *s, struct wproc *p)
{
	if (p->open) {
		/* what the old image wrote since the last collect went with it */
		p->unobserved++;
		close_image(p);
	}
	p->shares_mm = false;
	p->execs++;
	free(p->cmd);
	p->cmd = read_cmdline(p->pid);
	print_event(s, p, "exec");
	for (size_t i = 0; i < s->ntids;)
		if (s->tids[i].p == p)
			tid_del(s, s->tids[i].tid);
		else
			i++;
	watchdog_hold(s->dog, p->pid);
	kill(p->pid, SIGSTOP);
	ptrace(PTRACE_DETACH, p->pid, NULL, NULL);
	p->traced = false;
	adopt(s, p, false);
}

/* The first stop of a task we did not know: a new thread or process. */
static void new_task(struct session *s, pid_t tid)
{
	char path[64], val[64];
	pid_t tgid = 0, ppid = 0;
	struct wproc *p, *parent;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)tid);
	if (status_line(path, "Tgid", val, sizeof(val)))
		tgid = (pid_t)atoi(val);
	if (status_line(path, "PPid", val, sizeof(val)))
		ppid = (pid_t)atoi(val);
	if (tgid && tgid != tid) {
		/* a thread: its process's exit is seen at the last one */
		p = by_tid(s, tgid);
		if (p)
			tid_add(s, tid, p);
		ptrace(PTRACE_CONT, tid, NULL, NULL);
		return;
	}
	if (!s->o.children) {
		ptrace(PTRACE_DETACH, tid, NULL, NULL);
		return;
	}
	p = proc_new(s, tid, ppid);
	if (!p) {
		ptrace(PTRACE_DETACH, tid, NULL, NULL);
		return;
	}
	print_event(s, p, "fork");
	parent = by_tid(s, ppid);
	if (parent && syscall(SYS_kcmp, ppid, tid, KCMP_VM_, 0, 0) == 0) {
		/* vfork(2) or clone(CLONE_VM): its parent's memory, already
		 * watched there, until it executes a program of its own */
		p->shares_mm = true;
		p->traced = true;
		tid_add(s, tid, p);
		ptrace(PTRACE_CONT, tid, NULL, NULL);
		return;
	}
	watchdog_hold(s->dog, tid);
	kill(tid, SIGSTOP);
	ptrace(PTRACE_DETACH, tid, NULL, NULL);
	adopt(s, p, false);
}

static bool stop_signal(int sig)
{
	return sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU;
}

/* Handle every pending ptrace stop and death (run). */
static void reap(struct session *s)
{
	for (;;) {
		int st;
		pid_t tid = waitpid(-1, &st, __WALL | WNOHANG);
		struct wproc *p;
		int ev, sig;

		if (tid <= 0)
			return;
		p = by_tid(s, tid);
		if (WIFEXITED(st) || WIFSIGNALED(st)) {
			/* our own child (the command) may be untraced: its
			 * seize after an exec failed */
			for (size_t i = 0; !p && i < s->nprocs; i++)
				if (s->procs[i]->pid == tid && !s->procs[i]->done)
					p = s->procs[i];
			if (!p)
				continue; /* the watchdog, a helper, an untraced task */
			tid_del(s, tid);
			if (tid == p->pid && !p->done) {
				p->exited = true;
				p->status = st;
				finish(s, p);
			}
			continue;
		}
		if (!WIFSTOPPED(st))
			continue;
		ev = st >> 16;
		sig = WSTOPSIG(st);
		if (!p) {
			if (ev == PTRACE_EVENT_STOP)
				new_task(s, tid);
			else
				ptrace(PTRACE_CONT, tid, NULL, (void *)(long)(ev ? 0 : sig));
			continue;
		}
		switch (ev) {
		case PTRACE_EVENT_EXEC:
			exec_stop(s, p);
			break;
		case PTRACE_EVENT_EXIT:
			exit_stop(s, p, tid);
			ptrace(PTRACE_CONT, tid, NULL, NULL);
			break;
		case PTRACE_EVENT_STOP:
			/* a group-stop (Ctrl-Z, SIGSTOP): stay stopped, as
			 * without us; other traps: go on */
			if (stop_signal(sig))
				ptrace(PTRACE_LISTEN, tid, NULL, NULL);
			else
				ptrace(PTRACE_CONT, tid, NULL, NULL);
			break;
		case 0:
			if (sig == SIGSTOP && p->our_stop && tid == p->pid) {
				sig = 0; /* ours, overtaken by our SIGCONT */
			} else if (sig == SIGCONT && tid == p->pid) {
				p->our_stop = false; /* ours arrived: no stop of ours after it */
			}
			ptrace(PTRACE_CONT, tid, NULL, (void *)(long)sig);
			break;
		default: /* fork, vfork, clone: the new task stops on its own */
			ptrace(PTRACE_CONT, tid, NULL, NULL);
			break;
		}
	}
}

/* Stop tracing every task, each left as it would be without us. */
static void detach_all(struct session *s)
{
	double until = now_s() + 5;

	for (size_t i = 0; i < s->ntids; i++)
		ptrace(PTRACE_INTERRUPT, s->tids[i].tid, NULL, NULL);
	while (s->ntids && now_s() < until) {
		bool any = false;

		for (size_t i = 0; i < s->ntids;) {
			pid_t tid = s->tids[i].tid;
			int st, ev;
			pid_t r = waitpid(tid, &st, __WALL | WNOHANG);

			if (r == 0) {
				i++;
				continue;
			}
			any = true;
			if (r < 0 || WIFEXITED(st) || WIFSIGNALED(st)) {
				tid_del(s, tid);
				continue;
			}
			ev = st >> 16;
			ptrace(PTRACE_DETACH, tid, NULL, (void *)(long)(ev ? 0 : WSTOPSIG(st)));
			tid_del(s, tid);
		}
		if (!any)
			usleep(1000);
	}
	/* a task we could not stop is detached by our exit */
}

/* attach: the address space is gone. Exit or exec, for certain: an exited
 * process's pidfd is readable; an exec'd one has a new, non-empty one. */
static void attach_gone(struct session *s, struct wproc *p, int pidfd)
{
	char path[64], c;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)p->pid);
	while (!interrupted) {
		struct pollfd pfd = { pidfd, POLLIN, 0 };
		int fd;
		ssize_t n;

		if (pidfd >= 0 && poll(&pfd, 1, 0) == 1)
			break;
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			break;
		n = read(fd, &c, 1);
		close(fd);
		if (n == 1) {
			/* a new program: watch it (its writes until now are
			 * reported as first sight) */
			p->unobserved++;
			close_image(p);
			p->execs++;
			free(p->cmd);
			p->cmd = read_cmdline(p->pid);
			fprintf(stderr,
				"writewatch: process %d executed a new program: ", (int)p->pid);
			text_str(stderr, p->cmd);
			fputc('\n', stderr);
			print_event(s, p, "exec");
			if (open_watch(s, p, true) == 0) {
				double t = now_s();

				p->t_last = t;
				if (pw_step(&p->w, on_run, p) == 0) {
					account(p, t, 0, false);
					return;
				}
				close_image(p);
			}
			p->end = "exec";
			p->gone = true;
			return;
		}
		if (n < 0)
			break;
		/* empty: exiting, its memory released; the pidfd follows */
		if (pidfd < 0)
			break;
		poll(&pfd, 1, 100);
	}
	p->gone = true;
	p->end = "exited";
	if (p->open) {
		p->unobserved++;
		close_image(p);
	}
}

static bool watched(const struct session *s, pid_t pid)
{
	for (size_t i = 0; i < s->nprocs; i++)
		if (s->procs[i]->pid == pid && !s->procs[i]->gone && !s->procs[i]->done)
			return true;
	return false;
}

/* attach --children: watch every new child of a watched process, found in
 * /proc (not traced: one started and ended between two looks is missed,
 * and one is watched from when it is found, its writes until then counted
 * as first sight). */
static void find_children(struct session *s)
{
	DIR *d = opendir("/proc");
	struct dirent *e;

	while (d && (e = readdir(d))) {
		pid_t pid = (pid_t)atoi(e->d_name), ppid = 0;
		char path[64], buf[512], *p;
		struct wproc *c;
		ssize_t n;
		int fd;

		if (pid <= 0 || watched(s, pid))
			continue;
		snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n <= 0)
			continue;
		buf[n] = '\0';
		p = strrchr(buf, ')');
		if (!p || sscanf(p + 1, " %*c %d", &ppid) != 1 || !watched(s, ppid))
			continue;
		c = proc_new(s, pid, ppid);
		if (!c)
			continue;
		c->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
		print_event(s, c, "fork");
		if (open_watch(s, c, true) == 0) {
			double t = now_s();

			c->t_last = t;
			if (pw_step(&c->w, on_run, c) == 0) {
				account(c, t, 0, false);
				continue;
			}
			close_image(c);
		}
		c->gone = true;
		c->end = "unwatched";
		print_proc_end(s, c);
	}
	if (d)
		closedir(d);
}

/* One interval of every live process. */
static int tick(struct session *s)
{
	double t = now_s();
	int ret = 0;

	if (!s->run && s->o.attach_children)
		find_children(s);

	for (size_t i = 0; i < s->nprocs; i++) {
		struct wproc *p = s->procs[i];
		int err;

		if (p->done || p->gone || !p->open)
			continue;
		err = pw_step(&p->w, on_run, p);
		t = now_s();
		account(p, t, t - p->t_last, false);
		p->t_last = t;
		if (err == -ESRCH && !p->traced) {
			attach_gone(s, p, p->pidfd);
			if (p->gone && s->multi)
				print_proc_end(s, p);
		} else if (err && err != -ESRCH) {
			fprintf(stderr, "writewatch: watching process %d failed: %s\n", (int)p->pid,
				strerror(-err));
			ret = err;
		}
	}
	if (s->live)
		print_live(s, t - s->t0, s->o.interval);
	s->tick++;
	return ret;
}

static bool all_done(const struct session *s)
{
	for (size_t i = 0; i < s->nprocs; i++)
		if (!s->procs[i]->done && !s->procs[i]->gone)
			return false;
	return true;
}

static int watch(struct session *s)
{
	double next = s->t0 + s->o.interval;
	int pidfd = s->root->pidfd, err = 0;

	s->end = "exited";
	for (;;) {
		struct pollfd pfd = { s->run ? s->sigfd : pidfd, POLLIN, 0 };
		double t = now_s(), wake = next;
		bool readable = false;

		if (all_done(s))
			break;
		if (s->o.duration > 0 && s->t0 + s->o.duration < wake)
			wake = s->t0 + s->o.duration;
		if (wake > t && !interrupted) {
			/* at most a second per wait: any interval length is fine */
			double ms = fmin((wake - t) * 1000, 1000);

			readable = poll(&pfd, 1, (int)ceil(ms)) == 1;
		}
		if (s->run) {
			struct signalfd_siginfo si;

			while (read(s->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
				;
			reap(s);
		}
		t = now_s();
		if (interrupted) {
			s->end = "interrupted";
			err = tick(s);
			break;
		}
		if (s->o.duration > 0 && t >= s->t0 + s->o.duration) {
			s->end = "duration";
			err = tick(s);
			break;
		}
		if (t >= next || (!s->run && readable)) {
			err = tick(s);
			if (err) {
				s->end = "error";
				break;
			}
			next += s->o.interval;
			if (next < t)
				next = t + s->o.interval;
		}
	}
	s->elapsed = now_s() - s->t0;
	if (s->run)
		detach_all(s);
	if (!s->run && s->root->gone && !strcmp(s->end, "exited"))
		s->end = s->root->end;
	else if (s->run && !strcmp(s->end, "exited") && s->root->done)
		s->end = s->root->end;
	for (size_t i = 0; i < s->nprocs; i++) {
		struct wproc *p = s->procs[i];

		close_image(p);
		if (s->multi && !p->done && !p->gone) {
			p->end = s->end;
			p->last_seen = false;
			print_proc_end(s, p);
		}
	}
	for (size_t i = 0; i < s->nprocs; i++)
		if (s->procs[i]->pidfd >= 0)
			close(s->procs[i]->pidfd);
	print_summary(s);
	if (s->o.svg) {
		if (write_svg(s))
			err = -EIO;
		else if (!s->o.json && !s->live)
			fprintf(s->out, "  heatmap written to %s\n", s->o.svg);
	}
	flush(s);
	return err ? 1 : 0;
}

/* The report's destination: --output, else standard output for attach
 * and standard error for run (standard output is the command's). Fully
 * buffered and flushed per record: one write(2) each. */
static int open_output(struct session *s)
{
	int fd;

	if (s->o.output && strcmp(s->o.output, "-"))
		s->out = fopen(s->o.output, "we");
	else if (s->o.output || !s->run)
		s->out = stdout;
	else if ((fd = fcntl(2, F_DUPFD_CLOEXEC, 3)) >= 0)
		s->out = fdopen(fd, "w");
	if (!s->out) {
		fprintf(stderr, "writewatch: cannot write %s: %s\n",
			s->o.output ? s->o.output : "the report", strerror(errno));
		return -1;
	}
	setvbuf(s->out, NULL, _IOFBF, 1 << 16);
	s->live = !s->o.json && !s->o.plain && isatty(fileno(s->out));
	return 0;
}

/* 0, or 1 when the report could not be written (a full disk, a closed
 * standard output): the report is the result, its loss a failure. */
static int close_output(struct session *s)
{
	bool bad = s->out_failed;

	if (s->out == stdout)
		bad |= fflush(stdout) != 0 || ferror(stdout);
	else
		bad |= fclose(s->out) != 0;
	s->out = NULL;
	if (bad)
		fprintf(stderr, "writewatch: cannot write the report%s%s\n",
			s->o.output ? " to " : "", s->o.output ? s->o.output : "");
	return bad ? 1 : 0;
}

static void free_session(struct session *s)
{
	for (size_t i = 0; i < s->nprocs; i++) {
		struct wproc *p = s->procs[i];

		for (size_t j = 0; j < p->nmaps; j++)
			free(p->maps[j].name);
		free(p->maps);
		free(p->cmd);
		free(p);
	}
	free(s->procs);
	free(s->tids);
	free(s->recs);
	free(s->o.ex.lo);
	free(s->o.ex.hi);
	free(s->o.ex.names);
}

static void signals(struct sigaction *old_int, struct sigaction *old_term, bool restore)
{
	struct sigaction sa = { .sa_handler = on_sigint };

	if (restore) {
		sigaction(SIGINT, old_int, NULL);
		sigaction(SIGTERM, old_term, NULL);
		return;
	}
	sigaction(SIGINT, &sa, old_int);
	sigaction(SIGTERM, &sa, old_term);
}

int cmd_attach(int argc, char **argv)
{
	struct session s = { 0 };
	struct sigaction oi, ot;
	char *end;
	long pid;
	int r = parse(argc, argv, &s.o, "attach");

	if (r)
		return r > 0 ? 0 : 2;
	if (optind != argc - 1) {
		usage(stderr, "attach");
		free_session(&s);
		return 2;
	}
	errno = 0;
	pid = strtol(argv[optind], &end, 10);
	if (errno || *end || pid <= 0 || pid > INT_MAX || pid == getpid()) {
		fprintf(stderr, "writewatch attach: '%s' is not another process's id\n",
			argv[optind]);
		free_session(&s);
		return 2;
	}
	if (open_output(&s)) {
		free_session(&s);
		return 1;
	}
	s.multi = s.o.attach_children;
	s.root = proc_new(&s, (pid_t)pid, 0);
	if (s.root)
		s.root->pidfd = (int)syscall(SYS_pidfd_open, s.root->pid, 0);
	if (!s.root || open_watch(&s, s.root, false)) {
		close_output(&s);
		free_session(&s);
		return 1;
	}
	signals(&oi, &ot, false);
	s.t0 = now_s();
	s.root->t_last = s.t0;
	/* interval 0: what the mappings held when first seen */
	r = pw_step(&s.root->w, on_run, s.root);
	account(s.root, s.t0, 0, false);
	if (s.live)
		print_live(&s, 0, 0);
	s.tick++;
	if (r == -ESRCH)
		attach_gone(&s, s.root, s.root->pidfd);
	r = watch(&s);
	signals(&oi, &ot, true);
	r |= close_output(&s);
	free_session(&s);
	return r ? 1 : 0;
}

int cmd_run(int argc, char **argv)
{
	struct session s = { 0 };
	struct sigaction oi, ot;
	sigset_t chld, old;
	pid_t pid;
	int r = parse(argc, argv, &s.o, "run"), st;

	if (r)
		return r > 0 ? 0 : 2;
	if (optind >= argc) {
		usage(stderr, "run");
		free_session(&s);
		return 2;
	}
	s.run = true;
	s.multi = true;
	if (open_output(&s)) {
		free_session(&s);
		return 1;
	}
	/* ptrace stops and deaths arrive as SIGCHLD on a signalfd */
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, &old);
	s.sigfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
	s.dog = watchdog_start();
	if (s.sigfd < 0 || !s.dog) {
		fprintf(stderr, "writewatch run: cannot start: %s\n", strerror(errno));
		r = 1;
		goto out;
	}
	pid = spawn_stopped(argv + optind, s.dog, &old);
	if (pid < 0) {
		r = 1;
		goto out;
	}
	s.root = proc_new(&s, pid, getpid());
	signals(&oi, &ot, false);
	s.t0 = now_s();
	if (!s.root || adopt(&s, s.root, true)) {
		/* it has not run a single instruction: end it rather than run
		 * it unwatched */
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
		watchdog_release(s.dog, pid);
		signals(&oi, &ot, true);
		r = 1;
		goto out;
	}
	if (s.live)
		print_live(&s, 0, 0);
	s.tick++;
	r = watch(&s);
	signals(&oi, &ot, true);
	if (!r && s.root->exited)
		r = WIFEXITED(s.root->status) ? WEXITSTATUS(s.root->status) :
						128 + WTERMSIG(s.root->status);
out:
	watchdog_stop(s.dog);
	if (s.sigfd > 0)
		close(s.sigfd);
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (close_output(&s))
		r = 1;
	free_session(&s);
	return r;
}
