/* SPDX-License-Identifier: MIT */
/*
 * The architecture-specific half of syscall injection (src/remote.c holds the
 * rest): how to read and write a stopped tracee's registers, how to point it
 * at one syscall instruction with a syscall number and arguments, how to read
 * the result, and how to turn "interrupted inside a syscall" into registers
 * that simply re-execute that syscall when restored. One file per
 * architecture implements this; src/sys/inject_none.c says "not supported".
 *
 * aarch64 plan (not built yet): registers through PTRACE_GETREGSET/SETREGSET
 * with NT_PRSTATUS (struct user_pt_regs), the instruction is `svc #0`
 * (0xd4000001, searched for in the vDSO like x86-64's `syscall`), number in
 * x8, arguments x0-x5, result in x0. Restart: the kernel keeps the original
 * x0 in orig_x0, which ptrace reaches only through NT_ARM_SYSTEM_CALL; an
 * interrupted syscall (x0 = -ERESTART*) is restored as pc -= 4 and x0 =
 * orig_x0 (read from the saved x0 before the syscall clobbered it: the
 * syscall-entry stop shows it), and NT_ARM_SYSTEM_CALL set to -1 while the
 * injected syscalls run so the kernel's own restart logic stays out of it.
 */
#ifndef WW_SYS_INJECT_H
#define WW_SYS_INJECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#if defined(__x86_64__)
#include <sys/user.h>
typedef struct user_regs_struct ww__regs;
#define WW_INJECT_ARCH "x86-64"
#else
typedef struct {
	unsigned long unused;
} ww__regs;
#define WW_INJECT_ARCH NULL
#endif

/* The syscall instruction's bytes (empty when not supported). */
extern const unsigned char ww__syscall_insn[];
extern const size_t ww__syscall_insn_len;

/* 0 if injection is implemented for this build's architecture. */
int ww__inject_supported(void);

int ww__regs_get(pid_t tid, ww__regs *r);
int ww__regs_set(pid_t tid, const ww__regs *r);

/* 0 if the tracee runs in the mode we inject into (x86-64: not a 32-bit
 * compat task), else -EOPNOTSUPP. */
int ww__regs_check(const ww__regs *r);

/* The number of the syscall the tracee was inside when it stopped, or -1. */
long ww__regs_in_syscall(const ww__regs *r);

/* Rewrite saved registers of a tracee stopped inside an interrupted syscall
 * (result -ERESTART*) so that restoring them re-executes the syscall, as the
 * kernel itself would have done had no tracer intervened. Returns true if it
 * changed anything. */
bool ww__regs_restart_fixup(ww__regs *r);

/* A tracee stopped inside a syscall that returned -EINTR (no restart code):
 * turn the result into the restart code the kernel uses for calls that are
 * restarted unless a signal handler runs (-ERESTARTNOHAND), so that
 * ww__regs_restart_fixup(), or the kernel itself when the registers are put
 * back at a ptrace stop in its signal path, re-executes the call. Returns
 * true if it changed anything. */
bool ww__regs_eintr_to_restart(ww__regs *r);

/* Argument i (0-5) of the syscall the tracee is inside. */
unsigned long ww__regs_arg(const ww__regs *r, int i);

/* Registers of a tracee at a syscall-entry stop, rewritten so that
 * restoring them (after other syscalls ran) executes that syscall afresh. */
void ww__regs_rewind_entry(ww__regs *r);

/* Registers that execute syscall nr(args) at the instruction at insn. */
void ww__regs_syscall(ww__regs *r, uintptr_t insn, long nr, const unsigned long args[6]);

/* The program counter. */
uintptr_t ww__regs_pc(const ww__regs *r);

/* The injected syscall's return value (negative errno on failure). */
long ww__regs_result(const ww__regs *r);

#endif /* WW_SYS_INJECT_H */
