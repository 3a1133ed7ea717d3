/* SPDX-License-Identifier: MIT */
/*
 * Page bitmaps shared by the backends that keep one bit per page (uffd-wp,
 * mprotect): words of 64 atomic bits, read relaxed. Async-signal-safe.
 */
#ifndef WW_SYS_BITMAP_H
#define WW_SYS_BITMAP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WW_WORD_BITS 64

/* Next index >= i below n whose bit is v, or n. */
static inline size_t ww__bit_next(_Atomic uint64_t *bits, size_t i, size_t n, bool v)
{
	while (i < n) {
		uint64_t w = atomic_load_explicit(&bits[i / WW_WORD_BITS], memory_order_relaxed);

		if (!v)
			w = ~w;
		w &= ~0ULL << (i % WW_WORD_BITS);
		if (w) {
			i = i - i % WW_WORD_BITS + (size_t)__builtin_ctzll(w);
			return i < n ? i : n;
		}
		i = i - i % WW_WORD_BITS + WW_WORD_BITS;
	}
	return n;
}

#endif /* WW_SYS_BITMAP_H */
