/* SPDX-License-Identifier: MIT */
/*
 * The ELF core writer (see elfcore.h). Layout: the ELF header in the first
 * page, then the segments' data wherever the caller put it (page aligned,
 * holes for pages never populated), then the PT_NOTE data and the program
 * header table at the end, so that the data can be written before the
 * number of threads or mappings is known. The notes follow the kernel's
 * order (fs/binfmt_elf.c): the first thread's NT_PRSTATUS, then the
 * process-wide notes, then its FP/vector state; then each other thread's.
 * More than 65534 program headers use the PN_XNUM escape, as the kernel does.
 */
#define _GNU_SOURCE
#include <elf.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "elfcore.h"

#ifndef NT_X86_XSTATE
#define NT_X86_XSTATE 0x202
#endif
#ifndef NT_SIGINFO
#define NT_SIGINFO 0x53494749
#endif
#ifndef NT_FILE
#define NT_FILE 0x46494c45
#endif

struct buf {
	unsigned char *p;
	size_t len, cap;
	bool oom;
};

static void put(struct buf *b, const void *d, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n > b->cap) {
		size_t c = b->cap ? b->cap : 4096;
		unsigned char *q;

		while (c < b->len + n)
			c *= 2;
		q = realloc(b->p, c);
		if (!q) {
			b->oom = true;
			return;
		}
		b->p = q;
		b->cap = c;
	}
	memcpy(b->p + b->len, d, n);
	b->len += n;
}

static void pad4(struct buf *b)
{
	static const unsigned char z[4];

	if (b->len % 4)
		put(b, z, 4 - b->len % 4);
}

static void note(struct buf *b, const char *name, unsigned int type, const void *desc, size_t n)
{
	Elf64_Nhdr h = { .n_namesz = (Elf64_Word)strlen(name) + 1,
			 .n_descsz = (Elf64_Word)n,
			 .n_type = type };

	put(b, &h, sizeof(h));
	put(b, name, h.n_namesz);
	pad4(b);
	put(b, desc, n);
	pad4(b);
}

unsigned long long ec_data_start(size_t page_size)
{
	return page_size;
}

static void thread_prstatus(struct buf *b, const struct ec_proc *p, const struct ec_thread *t)
{
	struct elf_prstatus s;

	memset(&s, 0, sizeof(s));
	s.pr_sigpend = (unsigned long)t->sigpend;
	s.pr_sighold = (unsigned long)t->sighold;
	s.pr_pid = t->tid;
	s.pr_ppid = p->ppid;
	s.pr_pgrp = p->pgrp;
	s.pr_sid = p->sid;
	memcpy(&s.pr_reg, &t->regs, sizeof(s.pr_reg));
	s.pr_fpvalid = t->fplen != 0;
	note(b, "CORE", NT_PRSTATUS, &s, sizeof(s));
}

static void thread_fp(struct buf *b, const struct ec_thread *t)
{
	if (t->fplen)
		note(b, "CORE", NT_FPREGSET, t->fp, t->fplen);
	if (t->xlen)
		note(b, "LINUX", NT_X86_XSTATE, t->xstate, t->xlen);
}

static void process_notes(struct buf *b, const struct ec_proc *p, const struct ec_file *files,
			  size_t nfiles, size_t page_size)
{
	struct elf_prpsinfo ps;
	siginfo_t si;
	struct buf f = { 0 };
	static const char states[] = "RSDTZW";
	const char *st = strchr(states, p->state);

	memset(&ps, 0, sizeof(ps));
	ps.pr_state = (char)(st && p->state ? st - states : 0);
	ps.pr_sname = p->state ? p->state : '.';
	ps.pr_zomb = p->state == 'Z';
	ps.pr_nice = (char)p->nice;
	ps.pr_flag = p->flags;
	ps.pr_uid = p->uid;
	ps.pr_gid = p->gid;
	ps.pr_pid = p->pid;
	ps.pr_ppid = p->ppid;
	ps.pr_pgrp = p->pgrp;
	ps.pr_sid = p->sid;
	memcpy(ps.pr_fname, p->fname, sizeof(ps.pr_fname));
	memcpy(ps.pr_psargs, p->psargs, sizeof(ps.pr_psargs));
	note(b, "CORE", NT_PRPSINFO, &ps, sizeof(ps));

	/* A live process was not stopped by a signal: an empty siginfo. */
	memset(&si, 0, sizeof(si));
	note(b, "CORE", NT_SIGINFO, &si, sizeof(si));

	if (p->auxv_len)
		note(b, "CORE", NT_AUXV, p->auxv, p->auxv_len);

	/* NT_FILE: count, page size, (start, end, offset in pages)..., names */
	{
		unsigned long long hdr[2] = { nfiles, page_size };

		put(&f, hdr, sizeof(hdr));
		for (size_t i = 0; i < nfiles; i++) {
			unsigned long long e[3] = { files[i].start, files[i].end,
						    files[i].offset / page_size };

			put(&f, e, sizeof(e));
		}
		for (size_t i = 0; i < nfiles; i++)
			put(&f, files[i].name, strlen(files[i].name) + 1);
	}
	if (f.oom)
		b->oom = true;
	else if (nfiles)
		note(b, "CORE", NT_FILE, f.p, f.len);
	free(f.p);
}

static int pwrite_all(int fd, const void *d, size_t n, unsigned long long off)
{
	const unsigned char *p = d;

	while (n) {
		ssize_t w = pwrite(fd, p, n, (off_t)off);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (w == 0)
			return -EIO;
		p += w;
		n -= (size_t)w;
		off += (unsigned long long)w;
	}
	return 0;
}

int ec_finish(int fd, unsigned long long at, const struct ec_proc *p, const struct ec_thread *th,
	      size_t nth, const struct ec_seg *segs, size_t nseg, const struct ec_file *files,
	      size_t nfiles, size_t page_size)
{
	struct buf nb = { 0 };
	Elf64_Ehdr eh;
	Elf64_Phdr *ph;
	Elf64_Shdr sh;
	size_t nph = nseg + 1;
	unsigned long long phoff, shoff;
	int err;

	if (!nth)
		return -EINVAL;
	thread_prstatus(&nb, p, &th[0]);
	process_notes(&nb, p, files, nfiles, page_size);
	thread_fp(&nb, &th[0]);
	for (size_t i = 1; i < nth; i++) {
		thread_prstatus(&nb, p, &th[i]);
		thread_fp(&nb, &th[i]);
	}
	if (nb.oom) {
		free(nb.p);
		return -ENOMEM;
	}
	phoff = (at + nb.len + 7) & ~7ULL;
	shoff = phoff + nph * sizeof(Elf64_Phdr);
	ph = calloc(nph, sizeof(*ph));
	if (!ph) {
		free(nb.p);
		return -ENOMEM;
	}
	ph[0] = (Elf64_Phdr){ .p_type = PT_NOTE, .p_offset = at, .p_filesz = nb.len, .p_align = 4 };
	for (size_t i = 0; i < nseg; i++) {
		const struct ec_seg *s = &segs[i];

		ph[i + 1] = (Elf64_Phdr){
			.p_type = PT_LOAD,
			.p_flags = ((s->prot & PROT_READ) ? PF_R : 0) |
				   ((s->prot & PROT_WRITE) ? PF_W : 0) |
				   ((s->prot & PROT_EXEC) ? PF_X : 0),
			.p_offset = s->off,
			.p_vaddr = s->start,
			.p_filesz = s->filesz,
			.p_memsz = s->end - s->start,
			.p_align = page_size,
		};
	}
	memset(&eh, 0, sizeof(eh));
	memcpy(eh.e_ident, ELFMAG, SELFMAG);
	eh.e_ident[EI_CLASS] = ELFCLASS64;
	eh.e_ident[EI_DATA] = ELFDATA2LSB;
	eh.e_ident[EI_VERSION] = EV_CURRENT;
	eh.e_ident[EI_OSABI] = ELFOSABI_NONE;
	eh.e_type = ET_CORE;
#if defined(__x86_64__)
	eh.e_machine = EM_X86_64;
#elif defined(__aarch64__)
	eh.e_machine = EM_AARCH64;
#else
#error "elfcore: unknown machine"
#endif
	eh.e_version = EV_CURRENT;
	eh.e_phoff = phoff;
	eh.e_ehsize = sizeof(eh);
	eh.e_phentsize = sizeof(Elf64_Phdr);
	if (nph >= PN_XNUM) {
		/* the real count goes in section header 0's sh_info */
		eh.e_phnum = PN_XNUM;
		eh.e_shoff = shoff;
		eh.e_shentsize = sizeof(Elf64_Shdr);
		eh.e_shnum = 1;
		memset(&sh, 0, sizeof(sh));
		sh.sh_info = (Elf64_Word)nph;
	} else {
		eh.e_phnum = (Elf64_Half)nph;
	}
	err = pwrite_all(fd, nb.p, nb.len, at);
	if (!err)
		err = pwrite_all(fd, ph, nph * sizeof(*ph), phoff);
	if (!err && nph >= PN_XNUM)
		err = pwrite_all(fd, &sh, sizeof(sh), shoff);
	if (!err)
		err = pwrite_all(fd, &eh, sizeof(eh), 0);
	free(ph);
	free(nb.p);
	return err;
}
