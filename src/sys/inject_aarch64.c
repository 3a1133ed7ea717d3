/* SPDX-License-Identifier: MIT */
/*
 * aarch64 register handling for syscall injection (see inject.h): registers
 * through PTRACE_GETREGSET/SETREGSET with NT_PRSTATUS, the instruction
 * `svc #0` (0xd4000001), number in x8, arguments in x0-x5, result in x0.
 *
 * Two things differ from x86-64 and shape this file:
 * - The kernel applies its syscall restart before a ptrace stop in the
 *   signal path can see the registers (arch/arm64/kernel/signal.c,
 *   do_signal(): "so that a debugger will see the already changed PC"): a
 *   tracee interrupted inside a restartable syscall stops with pc already
 *   back on its `svc`, x0 holding the first argument again, and the syscall
 *   number forgotten (NT_ARM_SYSTEM_CALL reads -1). The restart code itself
 *   is gone, so whether the kernel would have turned the call into
 *   restart_syscall (nanosleep and the like) cannot be told here: such a
 *   tracee is let run to its syscall-entry stop first
 *   (WW_INJECT_RESTART_AT_ENTRY), where the kernel has done all of it.
 * - The syscall the kernel is running is pt_regs->syscallno, reachable only
 *   through NT_ARM_SYSTEM_CALL; at a syscall-entry stop it, not x8, decides
 *   what runs, and -1 skips the call. Every register set written here sets
 *   it to -1, as x86-64 sets orig_rax: the kernel's restart logic stays out
 *   of injected and restored registers, and a pending entry is skipped.
 * At syscall stops the kernel shows x7 as 0 (entry) or 1 (exit) and ignores
 * writes to it, restoring the real value itself; registers are only ever
 * written back at such stops or at the first (signal-path) stop, whose x7 is
 * the real one, so x7 survives.
 */
#define _GNU_SOURCE
#include <elf.h>
#include <errno.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>

#include "inject.h"

#ifndef NT_ARM_SYSTEM_CALL
#define NT_ARM_SYSTEM_CALL 0x404
#endif

#define SVC_0 0xd4000001u
/* PSTATE.nRW: set for an AArch32 (compat) task */
#define PSR_MODE32_BIT 0x10

const unsigned char ww__syscall_insn[] = { 0x01, 0x00, 0x00, 0xd4 };
const size_t ww__syscall_insn_len = sizeof(ww__syscall_insn);

int ww__inject_supported(void)
{
	return 0;
}

/* Is the instruction at addr in the tracee `svc #0`? */
static bool svc_at(pid_t tid, unsigned long long addr)
{
	uint32_t insn;
	long word;

	errno = 0;
	word = ptrace(PTRACE_PEEKTEXT, tid, (void *)(uintptr_t)addr, NULL);
	if (errno)
		return false;
	memcpy(&insn, &word, sizeof(insn)); /* little-endian: the first 4 bytes */
	return insn == SVC_0;
}

int ww__regs_get(pid_t tid, ww__regs *r)
{
	struct iovec iov = { &r->r, sizeof(r->r) };
	int scno = -1;

	if (ptrace(PTRACE_GETREGSET, tid, (void *)NT_PRSTATUS, &iov) < 0)
		return -errno;
	iov = (struct iovec){ &scno, sizeof(scno) };
	if (ptrace(PTRACE_GETREGSET, tid, (void *)NT_ARM_SYSTEM_CALL, &iov) < 0)
		return -errno;
	r->syscallno = scno;
	r->at_svc = !(r->r.pstate & PSR_MODE32_BIT) && svc_at(tid, r->r.pc);
	r->eintr_nr = -1;
	return 0;
}

int ww__regs_set(pid_t tid, const ww__regs *r)
{
	struct iovec iov = { (void *)&r->r, sizeof(r->r) };
	int scno = r->syscallno;

	if (ptrace(PTRACE_SETREGSET, tid, (void *)NT_PRSTATUS, &iov) < 0)
		return -errno;
	iov = (struct iovec){ &scno, sizeof(scno) };
	if (ptrace(PTRACE_SETREGSET, tid, (void *)NT_ARM_SYSTEM_CALL, &iov) < 0)
		return -errno;
	return 0;
}

int ww__regs_check(const ww__regs *r)
{
	return r->r.pstate & PSR_MODE32_BIT ? -EOPNOTSUPP : 0;
}

long ww__regs_in_syscall(const ww__regs *r)
{
	if (r->syscallno >= 0)
		return r->syscallno; /* at a syscall stop */
	/* Interrupted and already rewound by the kernel (or about to enter
	 * it, which comes to the same): the number is still in x8. */
	if (r->at_svc)
		return (long)r->r.regs[8];
	return r->eintr_nr; /* returned -EINTR (ww__regs_note_blocked), or -1 */
}

bool ww__regs_restart_fixup(ww__regs *r)
{
	/* The kernel did the rewinding (see the top of this file): the
	 * registers re-execute the syscall as they are. True tells the caller
	 * that they do, so that it lets the tracee run to that syscall's
	 * entry stop (WW_INJECT_RESTART_AT_ENTRY) to learn the rest. */
	if (r->syscallno >= 0 || !r->at_svc)
		return false;
	r->syscallno = -1;
	return true;
}

void ww__regs_note_blocked(ww__regs *r, long nr, const unsigned long args[6], uintptr_t pc)
{
	/* The same call, just returned with -EINTR: x8 still holds its
	 * number and pc is where /proc said it would return to. (The tracee
	 * could have left that call and entered it again at the same place
	 * between the read and the stop: then its first argument may differ.
	 * A loop calling it again with another first argument at the same
	 * instruction, within those microseconds, is the price.) */
	if (nr < 0 || r->syscallno >= 0 || r->at_svc || (long)r->r.regs[0] != -EINTR ||
	    r->r.regs[8] != (unsigned long long)nr || r->r.pc != pc)
		return;
	r->eintr_nr = nr;
	for (int i = 0; i < 6; i++)
		r->eintr_args[i] = args[i];
}

/* A call that returned -EINTR has put it in x0, where its first argument
 * was, and no regset holds the kernel's copy (orig_x0): only a call noted by
 * ww__regs_note_blocked() can be rebuilt. Rebuilt means re-executing it
 * afresh, the arm64 kernel's own restart (see the top of this file). */
bool ww__regs_eintr_to_restart(ww__regs *r)
{
	if (r->eintr_nr < 0 || (long)r->r.regs[0] != -EINTR)
		return false;
	r->r.regs[0] = r->eintr_args[0]; /* x1-x5 survive a syscall */
	r->r.pc -= 4;
	r->syscallno = -1;
	r->at_svc = true;
	r->eintr_nr = -1;
	return true;
}

/* x0-x5; for a call noted as returned with -EINTR, its arguments. */
unsigned long ww__regs_arg(const ww__regs *r, int i)
{
	if (i < 0 || i >= 6)
		return 0;
	if (r->eintr_nr >= 0)
		return r->eintr_args[i];
	return (unsigned long)r->r.regs[i];
}

void ww__regs_syscall(ww__regs *r, uintptr_t insn, long nr, const unsigned long args[6])
{
	r->r.pc = insn;
	r->r.regs[8] = (unsigned long long)nr;
	for (int i = 0; i < 6; i++)
		r->r.regs[i] = args[i];
	/* -1: no restart logic on these registers; at an entry stop, the
	 * pending syscall is skipped and ours runs from insn instead. */
	r->syscallno = -1;
}

long ww__regs_result(const ww__regs *r)
{
	return (long)r->r.regs[0];
}

uintptr_t ww__regs_pc(const ww__regs *r)
{
	return (uintptr_t)r->r.pc;
}

void ww__regs_rewind_entry(ww__regs *r)
{
	/* At entry x0 still holds the first argument (the kernel keeps its
	 * copy in orig_x0 and clobbers x0 only on the way out), and the
	 * syscall about to run is syscallno: restart_syscall when the kernel
	 * turned an interrupted sleep into one, which x8 then holds too. */
	if (r->syscallno >= 0)
		r->r.regs[8] = (unsigned long long)r->syscallno;
	r->r.pc -= 4;
	r->syscallno = -1;
	r->at_svc = true;
}
