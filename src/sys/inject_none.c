/* SPDX-License-Identifier: MIT */
/*
 * Syscall injection on an architecture without an implementation (see the
 * aarch64 plan in inject.h): every entry point says "not supported", so a
 * remote pagemap-scan tracker fails cleanly with -EOPNOTSUPP.
 */
#include <errno.h>

#include "inject.h"

const unsigned char ww__syscall_insn[] = { 0 };
const size_t ww__syscall_insn_len = 0;

int ww__inject_supported(void)
{
	return -EOPNOTSUPP;
}

int ww__regs_get(pid_t tid, ww__regs *r)
{
	(void)tid;
	(void)r;
	return -EOPNOTSUPP;
}

int ww__regs_set(pid_t tid, const ww__regs *r)
{
	(void)tid;
	(void)r;
	return -EOPNOTSUPP;
}

int ww__regs_check(const ww__regs *r)
{
	(void)r;
	return -EOPNOTSUPP;
}

long ww__regs_in_syscall(const ww__regs *r)
{
	(void)r;
	return -1;
}

bool ww__regs_restart_fixup(ww__regs *r)
{
	(void)r;
	return false;
}

void ww__regs_syscall(ww__regs *r, uintptr_t insn, long nr, const unsigned long args[6])
{
	(void)r;
	(void)insn;
	(void)nr;
	(void)args;
}

long ww__regs_result(const ww__regs *r)
{
	(void)r;
	return -EOPNOTSUPP;
}

uintptr_t ww__regs_pc(const ww__regs *r)
{
	(void)r;
	return 0;
}

void ww__regs_rewind_entry(ww__regs *r)
{
	(void)r;
}

bool ww__regs_eintr_to_restart(ww__regs *r)
{
	(void)r;
	return false;
}

unsigned long ww__regs_arg(const ww__regs *r, int i)
{
	(void)r;
	(void)i;
	return 0;
}
