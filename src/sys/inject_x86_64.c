/* SPDX-License-Identifier: MIT */
/*
 * x86-64 register handling for syscall injection (see inject.h): the
 * `syscall` instruction (0f 05), number in rax, arguments in rdi, rsi, rdx,
 * r10, r8, r9, result in rax; orig_rax holds the number of the syscall the
 * tracee was inside, or -1.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>

#include "inject.h"

/* The kernel's internal restart codes (include/linux/errno.h): user space
 * sees them only in a ptrace stop inside an interrupted syscall. */
#define K_ERESTARTSYS 512
#define K_ERESTARTNOINTR 513
#define K_ERESTARTNOHAND 514
#define K_ERESTART_RESTARTBLOCK 516

/* User code segment of a 64-bit task; 0x23 is a 32-bit compat task. */
#define USER_CS_64 0x33

const unsigned char ww__syscall_insn[] = { 0x0f, 0x05 };
const size_t ww__syscall_insn_len = sizeof(ww__syscall_insn);

int ww__inject_supported(void)
{
	return 0;
}

int ww__regs_get(pid_t tid, ww__regs *r)
{
	return ptrace(PTRACE_GETREGS, tid, NULL, r) < 0 ? -errno : 0;
}

int ww__regs_set(pid_t tid, const ww__regs *r)
{
	return ptrace(PTRACE_SETREGS, tid, NULL, r) < 0 ? -errno : 0;
}

int ww__regs_check(const ww__regs *r)
{
	return r->cs == USER_CS_64 ? 0 : -EOPNOTSUPP;
}

long ww__regs_in_syscall(const ww__regs *r)
{
	return (long)r->orig_rax;
}

bool ww__regs_restart_fixup(ww__regs *r)
{
	long ret = (long)r->rax;

	if ((long)r->orig_rax < 0)
		return false;
	/* No signal is delivered at a ptrace interrupt, so the kernel would
	 * restart every one of these: the syscall instruction is 2 bytes
	 * (syscall and int $0x80 alike) and rax gets the number back. */
	switch (-ret) {
	case K_ERESTARTSYS:
	case K_ERESTARTNOINTR:
	case K_ERESTARTNOHAND:
		r->rax = r->orig_rax;
		break;
	case K_ERESTART_RESTARTBLOCK:
		/* The thread's restart_block is untouched by the injected
		 * userfaultfd and close, so restart_syscall resumes the
		 * sleep where it was. */
		r->rax = SYS_restart_syscall;
		break;
	default:
		return false;
	}
	r->rip -= 2;
	r->orig_rax = (unsigned long)-1;
	return true;
}

bool ww__regs_eintr_to_restart(ww__regs *r)
{
	if ((long)r->orig_rax < 0 || (long)r->rax != -EINTR)
		return false;
	r->rax = (unsigned long)-K_ERESTARTNOHAND;
	return true;
}

unsigned long ww__regs_arg(const ww__regs *r, int i)
{
	switch (i) {
	case 0:
		return r->rdi;
	case 1:
		return r->rsi;
	case 2:
		return r->rdx;
	case 3:
		return r->r10;
	case 4:
		return r->r8;
	case 5:
		return r->r9;
	default:
		return 0;
	}
}

void ww__regs_syscall(ww__regs *r, uintptr_t insn, long nr, const unsigned long args[6])
{
	r->rip = insn;
	r->rax = (unsigned long)nr;
	/* -1: the kernel must not apply its restart logic to these registers. */
	r->orig_rax = (unsigned long)-1;
	r->rdi = args[0];
	r->rsi = args[1];
	r->rdx = args[2];
	r->r10 = args[3];
	r->r8 = args[4];
	r->r9 = args[5];
}

long ww__regs_result(const ww__regs *r)
{
	return (long)r->rax;
}

uintptr_t ww__regs_pc(const ww__regs *r)
{
	return (uintptr_t)r->rip;
}

void ww__regs_rewind_entry(ww__regs *r)
{
	/* at entry rax reads -ENOSYS; the number is in orig_rax */
	r->rax = r->orig_rax;
	r->rip -= 2;
	r->orig_rax = (unsigned long)-1;
}
