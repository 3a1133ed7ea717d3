/* SPDX-License-Identifier: MIT */
/*
 * Writing an ELF core file the way gdb's gcore and the kernel do
 * (tools/elfcore.c): the caller puts each segment's bytes into the file at
 * offsets it chose (sparse: never-populated pages are left as holes), then
 * ec_finish() appends the notes (one NT_PRSTATUS per thread, NT_PRPSINFO,
 * NT_SIGINFO, NT_AUXV, NT_FILE, FP and vector registers) and the program
 * header table, and writes the ELF header at offset 0.
 */
#ifndef WW_TOOLS_ELFCORE_H
#define WW_TOOLS_ELFCORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/procfs.h>
#include <sys/types.h>

/* Room for the largest register set we save (x86 XSAVE with AMX is ~11 KiB). */
#define EC_XSTATE_MAX 16384
#define EC_FP_MAX 1024

/* One thread's state, as PTRACE_GETREGSET gives it. */
struct ec_thread {
	pid_t tid;
	elf_gregset_t regs;
	unsigned long long sigpend, sighold;
	size_t fplen; /* NT_PRFPREG bytes, 0: none */
	size_t xlen; /* NT_X86_XSTATE bytes, 0: none */
	unsigned char fp[EC_FP_MAX];
	unsigned char xstate[EC_XSTATE_MAX];
};

/* One PT_LOAD: [start, end) in the process, its bytes at file offset off
 * (filesz of them; the rest of the range reads as zero or, for filesz 0,
 * comes from the mapped file). */
struct ec_seg {
	uintptr_t start, end;
	unsigned long long off;
	size_t filesz;
	int prot; /* PROT_* */
};

/* One file-backed mapping, for NT_FILE. */
struct ec_file {
	uintptr_t start, end;
	unsigned long long offset; /* bytes */
	const char *name;
};

struct ec_proc {
	pid_t pid, ppid, pgrp, sid;
	unsigned int uid, gid;
	char state; /* /proc/PID/stat state letter */
	int nice;
	unsigned long flags;
	char fname[16];
	char psargs[80];
	const void *auxv;
	size_t auxv_len;
};

/* Where the data part of a core starts: the ELF header gets one page. */
unsigned long long ec_data_start(size_t page_size);

/*
 * Write notes and program headers at file offset at (page aligned, after
 * every segment's data) and the ELF header at 0. th[0] is the thread gdb
 * selects first. 0 or a negative errno.
 */
int ec_finish(int fd, unsigned long long at, const struct ec_proc *p, const struct ec_thread *th,
	      size_t nth, const struct ec_seg *segs, size_t nseg, const struct ec_file *files,
	      size_t nfiles, size_t page_size);

#endif
