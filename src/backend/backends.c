/* SPDX-License-Identifier: MIT */
/*
 * The backend table: one line per mechanism, indexed by enum ww_backend.
 * Adding a mechanism is a new file in this folder and one line here.
 */
#include "../internal.h"
#include "backend.h"

unsigned int ww__caps_pagemap_discards(void *priv)
{
	(void)priv;
	return ww__facts() & WW_FACT_ZERO_PAGE ? ~0u : ~WW_CAP_DISCARDS;
}

const struct ww__backend_ops *const ww__backends[WW__BACKEND_SLOTS] = {
	[WW_BACKEND_AUTO] = 0,
	[WW_BACKEND_PAGEMAP_SCAN] = &ww__pagemap_scan_ops,
	[WW_BACKEND_UFFD_WP] = &ww__uffd_wp_ops,
	[WW_BACKEND_SOFT_DIRTY] = &ww__soft_dirty_ops,
	[WW_BACKEND_MPROTECT] = &ww__mprotect_ops,
#ifdef WW_TEST_BACKEND
	[WW__BACKEND_TEST] = &ww__brute_ops, /* meson -Dtest_backend=true: src/backend/brute.c */
#endif
};
