/* SPDX-License-Identifier: MIT */
/*
 * The architecture-specific half of syscall injection (src/remote.c holds the
 * rest): how to read and write a stopped tracee's registers, how to point it
 * at one syscall instruction with a syscall number and arguments, how to read
 * the result, and how to turn "interrupted inside a syscall" into registers
 * that simply re-execute that syscall when restored. One file per
 * architecture implements this; src/sys/inject_none.c says "not supported".
 *
 * aarch64 (inject_aarch64.c): registers through PTRACE_GETREGSET/SETREGSET
 * with NT_PRSTATUS, the syscall number the kernel is in through
 * NT_ARM_SYSTEM_CALL, the instruction `svc #0`; the kernel rewinds an
 * interrupted syscall before a ptrace stop can see it (see that file).
 */
#ifndef WW_SYS_INJECT_H
#define WW_SYS_INJECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* WW_INJECT_INSN_ALIGN: where the syscall instruction may start.
 * WW_INJECT_RESTART_AT_ENTRY: 1 when an interrupted syscall must always be
 * let run to its entry stop before injecting (ww__regs_restart_fixup() can
 * not tell everything the kernel's restart would do), not only for the
 * calls with a temporary signal mask. */
#if defined(__x86_64__)
#include <sys/user.h>
typedef struct user_regs_struct ww__regs;
#define WW_INJECT_ARCH "x86-64"
#define WW_INJECT_INSN_ALIGN 1
#define WW_INJECT_RESTART_AT_ENTRY 0
#define WW_INJECT_NOTE_BLOCKED 0
#elif defined(__aarch64__)
#include <sys/user.h>
typedef struct {
	struct user_regs_struct r; /* NT_PRSTATUS: x0-x30, sp, pc, pstate */
	int syscallno; /* NT_ARM_SYSTEM_CALL: the syscall being run, or -1 */
	bool at_svc; /* pc points at `svc #0` (read by ww__regs_get) */
	long eintr_nr; /* a call that returned -EINTR here, or -1 */
	unsigned long eintr_args[6]; /* and its arguments */
} ww__regs;
#define WW_INJECT_ARCH "aarch64"
#define WW_INJECT_INSN_ALIGN 4
#define WW_INJECT_RESTART_AT_ENTRY 1
#define WW_INJECT_NOTE_BLOCKED 1
#else
typedef struct {
	unsigned long unused;
} ww__regs;
#define WW_INJECT_ARCH NULL
#define WW_INJECT_INSN_ALIGN 1
#define WW_INJECT_RESTART_AT_ENTRY 0
#define WW_INJECT_NOTE_BLOCKED 0
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

/* What /proc/PID/syscall said just before the stop (WW_INJECT_NOTE_BLOCKED):
 * the call the tracee was blocked in (nr, -1 if none), its arguments and the
 * pc after its syscall instruction. An architecture whose registers lose the
 * first argument of a call that returned (arm64) keeps them when the
 * registers show that very call returning -EINTR, so that
 * ww__regs_in_syscall(), ww__regs_arg() and ww__regs_eintr_to_restart() work
 * there as on x86-64. Elsewhere it does nothing. */
#if WW_INJECT_NOTE_BLOCKED
void ww__regs_note_blocked(ww__regs *r, long nr, const unsigned long args[6], uintptr_t pc);
#else
static inline void ww__regs_note_blocked(ww__regs *r, long nr, const unsigned long args[6],
					 uintptr_t pc)
{
	(void)r;
	(void)nr;
	(void)args;
	(void)pc;
}
#endif

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
