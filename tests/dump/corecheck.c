/* SPDX-License-Identifier: MIT */
/*
 * Checks a core of tests/dump/dump_target.c word by word, reading the ELF
 * core directly (not through gdb): the counters progress[] in the core say
 * what every word of the three written regions holds at that instant (see
 * dump_target.c); the one word a writer may have stored before publishing
 * its counter may hold the next value. Also: the heap and data strings,
 * that the never-touched 1 GiB reservation reads as zero, and that the file
 * is sparse. Prints "progress K0 K1 K2" and "threads N". Exit 0 good, 1 bad.
 *
 * usage: corecheck CORE pid=N progress=A anon=A shmem=A file=A reserve=A
 *                   heap=A data=A pages=P0,P1,P2 file2=A [maxdisk=BYTES]
 */
#define _GNU_SOURCE
#include <elf.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/procfs.h>
#include <sys/stat.h>
#include <unistd.h>

#define NW 3
#define FILE_PATTERN 0xf11e000000000000ULL

static unsigned char *core;
static size_t core_len;
static Elf64_Phdr *ph;
static size_t nph;

/* Read n bytes at addr from the core; false if not all covered by PT_LOADs. */
static bool rd(uint64_t addr, void *out, size_t n)
{
	unsigned char *o = out;

	while (n) {
		bool found = false;

		for (size_t i = 0; i < nph; i++) {
			Elf64_Phdr *p = &ph[i];
			uint64_t in, k;

			if (p->p_type != PT_LOAD || addr < p->p_vaddr ||
			    addr >= p->p_vaddr + p->p_memsz)
				continue;
			in = addr - p->p_vaddr;
			k = p->p_vaddr + p->p_memsz - addr;
			if (k > n)
				k = n;
			for (uint64_t j = 0; j < k; j++)
				o[j] = in + j < p->p_filesz && p->p_offset + in + j < core_len ?
					       core[p->p_offset + in + j] :
					       0;
			o += k;
			addr += k;
			n -= k;
			found = true;
			break;
		}
		if (!found)
			return false;
	}
	return true;
}

static unsigned long idx_of(unsigned long k, size_t p)
{
	return (k % p) * 512 + (k / p) % 512;
}

static uint64_t arg_or(int argc, char **argv, const char *key, const uint64_t *dflt)
{
	size_t kl = strlen(key);

	for (int i = 2; i < argc; i++)
		if (!strncmp(argv[i], key, kl) && argv[i][kl] == '=')
			return strtoull(argv[i] + kl + 1, NULL, 0);
	if (dflt)
		return *dflt;
	fprintf(stderr, "corecheck: missing %s=\n", key);
	exit(1);
}

static uint64_t arg(int argc, char **argv, const char *key)
{
	return arg_or(argc, argv, key, NULL);
}

int main(int argc, char **argv)
{
	const char *names[NW] = { "anon", "shmem", "file" };
	unsigned long prog[NW];
	size_t pages[NW];
	Elf64_Ehdr *eh;
	struct stat st;
	int fd, bad = 0, threads = 0, prpsinfo = 0;
	char buf[256], want[256];
	const char *pg;

	if (argc < 2)
		return 1;
	fd = open(argv[1], O_RDONLY);
	if (fd < 0 || fstat(fd, &st) < 0) {
		perror(argv[1]);
		return 1;
	}
	core_len = (size_t)st.st_size;
	core = mmap(NULL, core_len, PROT_READ, MAP_PRIVATE, fd, 0);
	if (core == MAP_FAILED)
		return 1;
	eh = (Elf64_Ehdr *)core;
	if (memcmp(eh->e_ident, ELFMAG, SELFMAG) || eh->e_type != ET_CORE) {
		fprintf(stderr, "not an ELF core\n");
		return 1;
	}
	nph = eh->e_phnum;
	if (nph == PN_XNUM)
		nph = ((Elf64_Shdr *)(core + eh->e_shoff))->sh_info;
	ph = (Elf64_Phdr *)(core + eh->e_phoff);
	for (size_t i = 0; i < nph; i++) {
		size_t at;

		if (ph[i].p_type != PT_NOTE)
			continue;
		at = ph[i].p_offset;
		while (at + sizeof(Elf64_Nhdr) <= ph[i].p_offset + ph[i].p_filesz) {
			Elf64_Nhdr *n = (Elf64_Nhdr *)(core + at);

			threads += n->n_type == NT_PRSTATUS;
			if (n->n_type == NT_PRPSINFO) {
				const struct elf_prpsinfo *ps =
					(const void *)(core + at + sizeof(*n) +
						       ((n->n_namesz + 3) & ~3u));

				/* the name the target gave itself, ')' and all */
				if (strncmp(ps->pr_fname, "dump) t (x", 16) ||
				    ps->pr_pid != (int)arg(argc, argv, "pid")) {
					printf("NT_PRPSINFO: name '%.16s' pid %d\n", ps->pr_fname,
					       ps->pr_pid);
					bad = 1;
				}
				prpsinfo = 1;
			}
			at += sizeof(*n) + ((n->n_namesz + 3) & ~3u) + ((n->n_descsz + 3) & ~3u);
		}
	}
	printf("threads %d\n", threads);
	if (!prpsinfo) {
		printf("no NT_PRPSINFO\n");
		bad = 1;
	}
	pg = strchr(argv[argc - 1], '=');
	for (int i = 2; i < argc; i++)
		if (!strncmp(argv[i], "pages=", 6))
			pg = argv[i] + 6;
	if (!pg || sscanf(pg, "%zu,%zu,%zu", &pages[0], &pages[1], &pages[2]) != 3) {
		fprintf(stderr, "corecheck: pages=P0,P1,P2\n");
		return 1;
	}
	if (!rd(arg(argc, argv, "progress"), prog, sizeof(prog))) {
		fprintf(stderr, "progress[] is not in the core\n");
		return 1;
	}
	printf("progress %lu %lu %lu\n", prog[0], prog[1], prog[2]);
	for (int w = 0; w < NW; w++) {
		uint64_t base = arg(argc, argv, names[w]);
		size_t words = pages[w] * 512, wrong = 0;
		unsigned long *got = malloc(words * 8), *exp = malloc(words * 8);
		unsigned long next;

		if (!got || !exp || !rd(base, got, words * 8)) {
			fprintf(stderr, "region %s is not in the core\n", names[w]);
			return 1;
		}
		for (size_t i = 0; i < words; i++)
			exp[i] = w == 2 ? (FILE_PATTERN | i) : 0;
		for (unsigned long j = 1; j <= prog[w]; j++)
			exp[idx_of(j, pages[w])] = j;
		next = idx_of(prog[w] + 1, pages[w]);
		for (size_t i = 0; i < words; i++) {
			if (got[i] == exp[i] || (i == next && got[i] == prog[w] + 1))
				continue;
			if (wrong++ < 5)
				printf("%s: word %zu (page %zu) is %#lx, expected %#lx\n", names[w],
				       i, i / 512, got[i], exp[i]);
		}
		if (wrong) {
			printf("%s: %zu of %zu words wrong\n", names[w], wrong, words);
			bad = 1;
		}
		free(got);
		free(exp);
	}
	{
		/* a private file mapping mostly never written: the file's bytes */
		uint64_t f2 = arg(argc, argv, "file2");
		unsigned long w2[4 * 512];
		size_t wrong = 0;

		if (!rd(f2, w2, sizeof(w2))) {
			printf("file2 is not in the core\n");
			bad = 1;
		} else {
			for (size_t i = 0; i < 4 * 512; i++)
				wrong += w2[i] != (i ? (FILE_PATTERN | i) : 0x5ca1ab1e);
			if (wrong) {
				printf("file2: %zu words differ from the file (pages never "
				       "written must read as the file)\n",
				       wrong);
				bad = 1;
			}
		}
	}
	snprintf(want, sizeof(want), "heap string of process %d", (int)arg(argc, argv, "pid"));
	if (!rd(arg(argc, argv, "heap"), buf, strlen(want) + 1) || strcmp(buf, want)) {
		printf("heap string wrong\n");
		bad = 1;
	}
	strcpy(want, "writewatch dump: initialised data");
	if (!rd(arg(argc, argv, "data"), buf, strlen(want) + 1) || strcmp(buf, want)) {
		printf("data string wrong\n");
		bad = 1;
	}
	{
		uint64_t r = arg(argc, argv, "reserve");
		unsigned long z[512];
		bool zero = true;

		for (uint64_t off = 0; off < (1ULL << 30); off += 64ULL << 20) {
			if (!rd(r + off, z, sizeof(z))) {
				printf("the reservation is not in the core\n");
				bad = 1;
				break;
			}
			for (int i = 0; i < 512; i++)
				zero &= z[i] == 0;
		}
		if (!zero) {
			printf("the reservation does not read as zero\n");
			bad = 1;
		}
	}
	printf("core: %lld bytes, %lld on disk\n", (long long)st.st_size,
	       (long long)st.st_blocks * 512);
	if ((uint64_t)st.st_blocks * 512 >
	    arg_or(argc, argv, "maxdisk", &(uint64_t){ 256ULL << 20 })) {
		printf("the core is not sparse\n");
		bad = 1;
	}
	return bad;
}
