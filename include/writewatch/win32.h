/* SPDX-License-Identifier: MIT */
/*
 * writewatch/win32.h - the Win32 write-watch calls (VirtualAlloc with
 * MEM_WRITE_WATCH, GetWriteWatch, ResetWriteWatch) and the allocation calls
 * they need, with Windows semantics, on top of libwritewatch. For programs
 * ported from Windows: the names are the Win32 names prefixed ww_, the
 * constants have the Windows SDK's values prefixed WW_, and the Windows types
 * are fixed-width C types (DWORD/ULONG/UINT: uint32_t, ULONG_PTR: uintptr_t,
 * SIZE_T: size_t, BOOL: int). Define WW_WIN32_NAMES before including this
 * header to also get the unprefixed Win32 names (as macros).
 *
 * Failures set a per-thread error code read with ww_GetLastError(), as on
 * Windows; errno is left alone. Reference: ww_GetWriteWatch(3).
 */
#ifndef WRITEWATCH_WIN32_H
#define WRITEWATCH_WIN32_H

#include <stddef.h>
#include <stdint.h>

#include "../writewatch.h"

#ifdef __cplusplus
extern "C" {
#endif

/* VirtualAlloc / VirtualFree types. */
#define WW_MEM_COMMIT 0x00001000u
#define WW_MEM_RESERVE 0x00002000u
#define WW_MEM_DECOMMIT 0x00004000u
#define WW_MEM_RELEASE 0x00008000u
#define WW_MEM_WRITE_WATCH 0x00200000u

/* Page protections (PAGE_WRITECOPY and the modifiers GUARD, NOCACHE and
 * WRITECOMBINE are not supported: ERROR_INVALID_PARAMETER). */
#define WW_PAGE_NOACCESS 0x01u
#define WW_PAGE_READONLY 0x02u
#define WW_PAGE_READWRITE 0x04u
#define WW_PAGE_EXECUTE 0x10u
#define WW_PAGE_EXECUTE_READ 0x20u
#define WW_PAGE_EXECUTE_READWRITE 0x40u

/* GetWriteWatch flags. */
#define WW_WRITE_WATCH_FLAG_RESET 0x01u

/* ww_GetLastError() codes (Windows values). */
#define WW_ERROR_SUCCESS 0u
#define WW_ERROR_NOT_ENOUGH_MEMORY 8u
#define WW_ERROR_GEN_FAILURE 31u /* the mechanism failed unexpectedly */
#define WW_ERROR_NOT_SUPPORTED 50u
#define WW_ERROR_INVALID_PARAMETER 87u
#define WW_ERROR_INVALID_ADDRESS 487u
#define WW_ERROR_NOACCESS 998u

/* Reserve and/or commit pages. Returns the (page-aligned) base, or NULL with
 * the error in ww_GetLastError(). MEM_WRITE_WATCH needs MEM_RESERVE. */
WW_API void *ww_VirtualAlloc(void *addr, size_t size, uint32_t type, uint32_t protect);

/* MEM_RELEASE (addr: the allocation base, size 0) or MEM_DECOMMIT (pages
 * become reserved, their write-watch state clean). Returns nonzero on success. */
WW_API int ww_VirtualFree(void *addr, size_t size, uint32_t type);

/* Change the protection of committed pages; *oldprot gets the first page's
 * previous protection. Never dirties or resets write-watch state. */
WW_API int ww_VirtualProtect(void *addr, size_t size, uint32_t newprot, uint32_t *oldprot);

/* Store the addresses of the pages of [base, base+size) written since the
 * allocation or the last reset, lowest first, at most *count of them; *count
 * becomes the number found, *granularity the page size. flags: 0 or
 * WW_WRITE_WATCH_FLAG_RESET (reset exactly the pages returned, atomically).
 * Returns 0, or ~0u with the error in ww_GetLastError(). */
WW_API uint32_t ww_GetWriteWatch(uint32_t flags, void *base, size_t size, void **addresses,
				 uintptr_t *count, uint32_t *granularity);

/* Reset the write-watch state of [base, base+size). Returns 0 or ~0u. */
WW_API uint32_t ww_ResetWriteWatch(void *base, size_t size);

/* The calling thread's last error code from the calls above. */
WW_API uint32_t ww_GetLastError(void);

#ifdef WW_WIN32_NAMES
#define MEM_COMMIT WW_MEM_COMMIT
#define MEM_RESERVE WW_MEM_RESERVE
#define MEM_DECOMMIT WW_MEM_DECOMMIT
#define MEM_RELEASE WW_MEM_RELEASE
#define MEM_WRITE_WATCH WW_MEM_WRITE_WATCH
#define PAGE_NOACCESS WW_PAGE_NOACCESS
#define PAGE_READONLY WW_PAGE_READONLY
#define PAGE_READWRITE WW_PAGE_READWRITE
#define PAGE_EXECUTE WW_PAGE_EXECUTE
#define PAGE_EXECUTE_READ WW_PAGE_EXECUTE_READ
#define PAGE_EXECUTE_READWRITE WW_PAGE_EXECUTE_READWRITE
#define WRITE_WATCH_FLAG_RESET WW_WRITE_WATCH_FLAG_RESET
#define ERROR_SUCCESS WW_ERROR_SUCCESS
#define ERROR_NOT_ENOUGH_MEMORY WW_ERROR_NOT_ENOUGH_MEMORY
#define ERROR_GEN_FAILURE WW_ERROR_GEN_FAILURE
#define ERROR_NOT_SUPPORTED WW_ERROR_NOT_SUPPORTED
#define ERROR_INVALID_PARAMETER WW_ERROR_INVALID_PARAMETER
#define ERROR_INVALID_ADDRESS WW_ERROR_INVALID_ADDRESS
#define ERROR_NOACCESS WW_ERROR_NOACCESS
#define VirtualAlloc ww_VirtualAlloc
#define VirtualFree ww_VirtualFree
#define VirtualProtect ww_VirtualProtect
#define GetWriteWatch ww_GetWriteWatch
#define ResetWriteWatch ww_ResetWriteWatch
#define GetLastError ww_GetLastError
#endif

#ifdef __cplusplus
}
#endif

#endif /* WRITEWATCH_WIN32_H */
