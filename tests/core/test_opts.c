/* SPDX-License-Identifier: MIT */
/* struct ww_opts as an ABI: sz says which fields the caller has. A struct
 * from an older caller (smaller sz) opens with defaults for what it lacks; a
 * struct from a newer caller (larger sz) opens when the bytes this library
 * does not know are zero, and fails with E2BIG otherwise; the struct has no
 * padding, so a 4-byte field added later changes sz (regression: sizeof was
 * 24 with the last field ending at 20, so such a field was invisible). */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "harness.h"

#define OPEN_ERR(opts, e)                                       \
	do {                                                    \
		struct ww_tracker *t_ = (struct ww_tracker *)1; \
		errno = 0;                                      \
		CHECK_EQ(ww_open((opts), &t_), -(e));           \
		CHECK_EQ(errno, (e));                           \
		CHECK(t_ == NULL);                              \
	} while (0)

/* Opens, and the tracker uses backend b. */
static void opens_as(const struct ww_opts *o, enum ww_backend b)
{
	struct ww_tracker *t = NULL;

	CHECK_EQ(ww_open(o, &t), 0);
	CHECK(t != NULL);
	if (b != WW_BACKEND_AUTO)
		CHECK_EQ(ww_tracker_backend(t), b);
	ww_close(t);
}

int main(void)
{
	enum ww_backend b = WW_BACKEND_MPROTECT; /* works on every kernel */
	_Alignas(struct ww_opts) unsigned char store[64];
	struct ww_opts *o = (struct ww_opts *)(void *)store;

	/* Every byte is a named field: the last one ends at sizeof. */
	CHECK_EQ(offsetof(struct ww_opts, caps) + sizeof(o->caps), sizeof(struct ww_opts));

	/* The macro zero-fills and sets sz. */
	{
		WW_OPTS(m, .backend = b);
		CHECK_EQ(m.sz, sizeof(struct ww_opts));
		CHECK_EQ(m.pid, 0);
		CHECK_EQ(m.flags, 0);
		CHECK_EQ(m.caps, 0);
		opens_as(&m, b);
	}

	/* An older, smaller struct: fields past sz are not read. Poison them
	 * to prove it. */
	memset(store, 0xa5, sizeof(store));
	o->backend = b;
	o->sz = offsetof(struct ww_opts, pid); /* sz and backend only */
	opens_as(o, b);
	o->sz = offsetof(struct ww_opts, flags); /* and pid */
	o->pid = 0;
	opens_as(o, b);
	o->sz = offsetof(struct ww_opts, caps); /* and flags */
	o->flags = 0;
	opens_as(o, b);
	o->sz = sizeof(o->sz); /* nothing but sz: all defaults (AUTO) */
	opens_as(o, WW_BACKEND_AUTO);
	o->sz = sizeof(o->sz) - 1; /* not even sz */
	OPEN_ERR(o, EINVAL);

	/* The current size: caps this version does not know are refused. */
	memset(store, 0, sizeof(store));
	o->sz = sizeof(struct ww_opts);
	o->backend = b;
	o->caps = 0x80000000u;
	OPEN_ERR(o, EINVAL);
	o->caps = 0;
	opens_as(o, b);

	/* A newer, larger struct: its unknown tail must be zero, byte by byte;
	 * a 4-byte field right after the last known one is seen too. */
	o->sz = sizeof(store);
	opens_as(o, b);
	for (size_t i = sizeof(struct ww_opts); i < sizeof(store); i++) {
		store[i] = 1;
		OPEN_ERR(o, E2BIG);
		store[i] = 0;
	}
	opens_as(o, b);
	printf("opts: old, current and future sizes handled\n");
	return 0;
}
