/* SPDX-License-Identifier: MIT */
/*
 * Backend names, functional probes and the AUTO choice. A probe result for
 * this process is computed once per backend and remembered (yes, or no with
 * its reason); probes of another process are never cached, since they depend
 * on that process and on our permission over it.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "backend/backend.h"
#include "internal.h"
#include "remote.h"
#include "sys/sys.h"

/* AUTO's order of preference: DESIGN.md. soft-dirty is never picked for this
 * process: its reset is process-wide and not atomic against writers. */
static const enum ww_backend auto_local[] = { WW_BACKEND_PAGEMAP_SCAN, WW_BACKEND_UFFD_WP,
					      WW_BACKEND_MPROTECT };
static const enum ww_backend auto_remote[] = { WW_BACKEND_PAGEMAP_SCAN, WW_BACKEND_SOFT_DIRTY };

struct probe_cache {
	int state; /* 0 unknown, 1 done */
	int err;
	char why[256];
};

static pthread_mutex_t probe_lock = PTHREAD_MUTEX_INITIALIZER;
static struct probe_cache cache[WW__BACKEND_SLOTS];

/* Names are the backends' own (ops->name): the table is the one list. */
WW_API const char *ww_backend_name(enum ww_backend b)
{
	if (b == WW_BACKEND_AUTO)
		return "auto";
	return ww__backend((int)b) ? ww__backend((int)b)->name : NULL;
}

WW_API int ww_backend_from_name(const char *name, enum ww_backend *out)
{
	if (!name || !out)
		return (int)ww__ret(-EINVAL);
	for (int i = 0; i < WW__BACKEND_SLOTS; i++) {
		if (ww_backend_name((enum ww_backend)i) &&
		    !strcmp(name, ww_backend_name((enum ww_backend)i))) {
			*out = (enum ww_backend)i;
			return 0;
		}
	}
	return (int)ww__ret(-EINVAL);
}

static bool transient(int err)
{
	return err == -EMFILE || err == -ENFILE || err == -ENOMEM || err == -EAGAIN ||
	       err == -EINTR;
}

static int probe_one(enum ww_backend b, pid_t pid, char *why, size_t whylen)
{
	const struct ww__backend_ops *ops = ww__backends[b];
	struct probe_cache *c = &cache[b];
	int err;

	if (pid) {
		if (!(ops->caps & WW_CAP_REMOTE))
			return ww__why(why, whylen, -EOPNOTSUPP, "%s cannot track another process",
				       ops->name);
		/* what is wrong with the process, before what is missing here */
		err = ww__remote_target(pid, why, whylen);
		return err ? err : ops->probe(pid, why, whylen);
	}
	pthread_mutex_lock(&probe_lock);
	if (!c->state) {
		c->why[0] = '\0';
		c->err = ops->probe(0, c->why, sizeof(c->why));
		if (!c->err)
			snprintf(c->why, sizeof(c->why), "works");
		/* A shortage of descriptors or memory says nothing about the
		 * kernel: ask again next time rather than disable the backend
		 * for the life of the process. */
		c->state = !transient(c->err);
		ww__info("probe %s: %s", ops->name, c->why);
	}
	err = c->err;
	if (why && whylen)
		snprintf(why, whylen, "%s", c->why);
	pthread_mutex_unlock(&probe_lock);
	return err;
}

/* How much an error says about the process watched rather than about this
 * kernel (higher: more): the one AUTO reports when nothing works for it. */
static int target_rank(int err)
{
	switch (err) {
	case -ESRCH:
		return 4;
	case -EPERM:
	case -EACCES:
		return 3;
	case -EBUSY:
	case -ETIMEDOUT:
		return 2;
	default:
		return 0;
	}
}

WW_API const char *ww_cap_name(unsigned int cap)
{
	static const char *const names[] = {
		"WW_CAP_REMOTE",       "WW_CAP_NO_MISSED_WRITES", "WW_CAP_EXACT",
		"WW_CAP_ATOMIC_RESET", "WW_CAP_RANGE_RESET",	  "WW_CAP_KERNEL_WRITES",
		"WW_CAP_DISCARDS",     "WW_CAP_HUGETLB",	  "WW_CAP_PROTECTS",
		"WW_CAP_PREWRITE",
	};

	for (unsigned int i = 0; i < sizeof(names) / sizeof(*names); i++)
		if (cap == 1u << i)
			return names[i];
	return NULL;
}

/* The names of the WW_CAP_* bits in caps, "WW_CAP_A, WW_CAP_B", in buf. */
const char *ww__caps_names(unsigned int caps, char *buf, size_t len)
{
	size_t at = 0;

	buf[0] = '\0';
	for (unsigned int i = 0; i < 32 && at < len; i++) {
		const char *n = ww_cap_name(1u << i);

		if (caps & (1u << i))
			at += n ? (size_t)snprintf(buf + at, len - at, "%s%s", at ? ", " : "", n) :
				  (size_t)snprintf(buf + at, len - at, "%s%#x", at ? ", " : "",
						   1u << i);
	}
	return buf;
}

void ww__reason(struct ww__reasons *r, const char *name, const char *fmt, ...)
{
	size_t at;
	va_list ap;

	if (!r || !r->buf || !r->len)
		return;
	at = strlen(r->buf);
	if (at && at + 1 < r->len)
		r->buf[at++] = '\n';
	if (name && at < r->len)
		at += (size_t)snprintf(r->buf + at, r->len - at, "%s: ", name);
	if (at < r->len) {
		va_start(ap, fmt);
		vsnprintf(r->buf + at, r->len - at, fmt, ap);
		va_end(ap);
	}
}

/* AUTO's choice for pid among backends with every cap in caps, after the
 * one at position `after` of its order (0: from the start); the backends
 * passed over go into all (may be NULL). */
static int pick_auto(pid_t pid, unsigned int caps, int after, char *why, size_t whylen,
		     struct ww__reasons *all)
{
	char best_why[256] = "";
	int best = 0;
	const char *forced = secure_getenv("WRITEWATCH_BACKEND");
	const enum ww_backend *order = pid ? auto_remote : auto_local;
	size_t n = pid ? sizeof(auto_remote) / sizeof(*order) : sizeof(auto_local) / sizeof(*order);
	size_t i = 0;
	enum ww_backend b;
	int err;

	if (pid) {
		/* a missing process or a kernel thread is that, on any kernel */
		err = ww__remote_target(pid, why, whylen);
		if (err)
			return err;
	}
	if (forced && *forced && strcmp(forced, "auto")) {
		if (ww_backend_from_name(forced, &b) < 0)
			return ww__why(why, whylen, -EINVAL,
				       "WRITEWATCH_BACKEND=%s is not a backend name", forced);
		if (after)
			return ww__why(why, whylen, -EOPNOTSUPP,
				       "%s (forced by WRITEWATCH_BACKEND) lacks what was asked for",
				       ww_backend_name(b));
		err = probe_one(b, pid, why, whylen);
		if (err)
			return err;
		if ((ww__backends[b]->caps & caps) != caps)
			return ww__why(why, whylen, -EOPNOTSUPP,
				       "%s (forced by WRITEWATCH_BACKEND) lacks %s",
				       ww_backend_name(b),
				       ww__caps_names(caps & ~ww__backends[b]->caps, best_why,
						      sizeof(best_why)));
		ww__why(why, whylen, 0, "%s (forced by WRITEWATCH_BACKEND)", ww_backend_name(b));
		return (int)b;
	}
	if (after)
		while (i < n && order[i++] != (enum ww_backend)after)
			;
	for (; i < n; i++) {
		char one[256] = "";
		unsigned int lacks = caps & ~ww__backends[order[i]]->caps;

		if (lacks) {
			char cn[200];

			if (lacks & ~WW_CAP_REMOTE)
				ww__reason(all, ww_backend_name(order[i]), "lacks %s",
					   ww__caps_names(lacks, cn, sizeof(cn)));
			continue;
		}
		err = probe_one(order[i], pid, one, sizeof(one));
		if (err == 0) {
			ww__why(why, whylen, 0, "%s", ww_backend_name(order[i]));
			return (int)order[i];
		}
		ww__reason(all, ww_backend_name(order[i]), "%s", one);
		/* For another process, what is wrong with it or with our
		 * permission over it beats "not supported": ESRCH, EPERM. */
		if (pid && target_rank(err) > target_rank(best)) {
			best = err == -EACCES ? -EPERM : err;
			snprintf(best_why, sizeof(best_why), "%s", one);
		}
	}
	if (best)
		return ww__why(why, whylen, best, "%s", best_why);
	return ww__why(why, whylen, -EOPNOTSUPP, "no write-tracking mechanism works here%s%s",
		       pid ? " for another process" : "",
		       caps & ~WW_CAP_REMOTE ? " with the capabilities asked for" : "");
}

int ww__auto_next(pid_t pid, unsigned int caps, int after, struct ww__reasons *r)
{
	char why[256] = "";
	int b = pick_auto(pid, caps, after, why, sizeof(why), r);

	/* a reason about the process, or WRITEWATCH_BACKEND's, or none works:
	 * no backend line says it */
	if (b < 0 && r && r->buf && r->len && !r->buf[0])
		ww__reason(r, NULL, "%s", why);
	return b;
}

WW_API int ww_backend_caps(enum ww_backend b, unsigned int *caps)
{
	if (!ww__backend((int)b) || !caps)
		return (int)ww__ret(-EINVAL);
	*caps = ww__backends[b]->caps;
	return 0;
}

WW_API int ww_backend_auto(pid_t pid)
{
	ww__log_init();
	return (int)ww__ret(pick_auto(pid, 0, 0, NULL, 0, NULL));
}

WW_API int ww_backend_probe(enum ww_backend b, pid_t pid, char *why, size_t whylen)
{
	int r;

	ww__log_init();
	if ((b != WW_BACKEND_AUTO && !ww__backend((int)b)) || pid < 0)
		return (int)ww__ret(ww__why(why, whylen, -EINVAL, "unknown backend %d", (int)b));
	if (b == WW_BACKEND_AUTO) {
		r = pick_auto(pid, 0, 0, why, whylen, NULL);
		return (int)ww__ret(r < 0 ? r : 0);
	}
	return (int)ww__ret(probe_one(b, pid, why, whylen));
}

/* ---- how this kernel answers a read fault ---- */

/* pagemap entry bits (Documentation/admin-guide/mm/pagemap.rst) */
#define PM_PRESENT (1ull << 63)
#define PM_FILE (1ull << 61) /* file page or shared anon: here, not anonymous */
#define PM_EXCLUSIVE (1ull << 56) /* mapped exactly once (4.2+) */

/* Whether a read of the untouched anonymous page at p maps a zero page:
 * 1 yes, 0 no (a fresh anonymous page, mapped only here, was allocated),
 * negative errno if pagemap cannot say. The zero page, like the huge zero
 * page, is no anonymous page mapped once: the kernel shows it present but
 * not exclusive (or as not anonymous). */
static int read_maps_zero_page(int pm, volatile const char *p)
{
	uint64_t ent;
	int err;

	(void)*p;
	err = ww__pagemap_read(pm, (uintptr_t)p, &ent, 1);
	if (err)
		return err;
	if (!(ent & PM_PRESENT))
		return -EIO;
	return !(ent & PM_EXCLUSIVE) || (ent & PM_FILE);
}

static pthread_once_t facts_once = PTHREAD_ONCE_INIT;
static int facts_err;
static unsigned int facts;

/* Read one byte of untouched anonymous memory and look at what the kernel
 * mapped: once with small pages, once in a 2 MiB-aligned stretch that may be
 * backed by a transparent huge page (where use_zero_page decides). Some
 * kernels never map the zero page (s390 guests, mm_forbids_zeropage, some
 * paravirtualised kernels): a page only read then looks like a page written
 * unless it was write-protected before the read. */
static void facts_probe(void)
{
	size_t ps = ww__page_size(), thp = ww__thp_size(), len = 2 * (thp > ps ? thp : ps);
	int pm = ww__pagemap_open(0), small, huge = 1;
	char *m, *h;

	if (pm < 0) {
		facts_err = pm;
		return;
	}
	m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED) {
		facts_err = -ENOMEM;
		close(pm);
		return;
	}
	madvise(m, ps, MADV_NOHUGEPAGE);
	small = read_maps_zero_page(pm, m);
	if (thp > ps) {
		h = (char *)(((uintptr_t)m + ps + thp - 1) & ~(uintptr_t)(thp - 1));
		madvise(h, thp, MADV_HUGEPAGE); /* may fail: THP off, then 4 KiB */
		huge = read_maps_zero_page(pm, h);
	}
	munmap(m, len);
	close(pm);
	if (small < 0 || huge < 0)
		facts_err = small < 0 ? small : huge;
	else if (small && huge)
		facts = WW_FACT_ZERO_PAGE;
	ww__info("read faults %s the zero page", facts & WW_FACT_ZERO_PAGE ? "map" : "do not map");
}

unsigned int ww__facts(void)
{
	pthread_once(&facts_once, facts_probe);
	return facts;
}

WW_API int ww_kernel_facts(unsigned int *out)
{
	ww__log_init();
	if (!out)
		return (int)ww__ret(-EINVAL);
	pthread_once(&facts_once, facts_probe);
	*out = facts;
	return (int)ww__ret(facts_err);
}
