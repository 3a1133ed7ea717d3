/* SPDX-License-Identifier: MIT */
/* Untrack leaves the memory exactly as it was: the same protections in
 * /proc/self/maps, no userfaultfd registration (no "uw" in smaps VmFlags),
 * writable without any fault being recorded, and a second tracker can take
 * it. Partial untrack splits the tracked range and the rest keeps working.
 * ww_close does the same for every range it still tracks. */
#include <string.h>
#include <sys/mman.h>

#include "harness.h"

/* The perms and VmFlags of the mapping holding addr, as text. */
static void vma_state(void *addr, char *perms, char *flags, size_t flen)
{
	FILE *f = fopen("/proc/self/smaps", "re");
	char line[256];
	int in = 0;

	CHECK(f != NULL);
	perms[0] = flags[0] = '\0';
	while (fgets(line, sizeof(line), f)) {
		unsigned long s, e;
		char p[8];

		if (sscanf(line, "%lx-%lx %7s", &s, &e, p) == 3 && strchr(line, ':')) {
			in = (uintptr_t)addr >= s && (uintptr_t)addr < e;
			if (in)
				strcpy(perms, p);
		} else if (in && !strncmp(line, "VmFlags:", 8)) {
			snprintf(flags, flen, "%s", line + 8);
			in = 0;
		}
	}
	fclose(f);
}

static void check_pristine(void *addr, const char *perms_before)
{
	char perms[8], flags[256];

	vma_state(addr, perms, flags, sizeof(flags));
	CHECK(!strcmp(perms, perms_before));
	CHECK(strstr(flags, " uw") == NULL); /* uffd-wp registration */
	CHECK(strstr(flags, " um") == NULL);
}

int main(int argc, char **argv)
{
	struct ww_tracker *t = harness_open(argc, argv), *t2;
	struct ww_opts o = { .sz = sizeof(o), .backend = harness_backend };
	size_t pages = 16;
	char *m = harness_map(pages), perms0[8], flags0[256];
	struct iovec out[16];
	void *next;

	vma_state(m, perms0, flags0, sizeof(flags0));
	CHECK_EQ(ww_track(t, m, pages * PS), 0);
	m[3 * PS] = 1;
	CHECK_EQ(ww_untrack(t, m, pages * PS), 0);
	check_pristine(m, perms0);
	memset(m, 7, pages * PS); /* writable everywhere, no fault */
	CHECK_EQ(ww_collect(t, m, PS, 0, out, 16, &next), -ENOENT);

	/* a second tracker can take it now */
	CHECK_EQ(ww_open(&o, &t2), 0);
	CHECK_EQ(ww_track(t2, m, pages * PS), 0);
	m[2 * PS] = 1;
	CHECK_EQ(ww_collect(t2, m, pages * PS, WW_RESET, out, 16, &next), 1);
	ww_close(t2);
	check_pristine(m, perms0);

	/* partial untrack: the middle goes, both ends keep tracking */
	CHECK_EQ(ww_track(t, m, pages * PS), 0);
	m[1 * PS] = m[14 * PS] = 1;
	CHECK_EQ(ww_untrack(t, m + 4 * PS, 8 * PS), 0);
	m[6 * PS] = 1; /* no longer tracked: no fault, not reported */
	CHECK_EQ(ww_collect(t, m + 4 * PS, PS, 0, out, 16, &next), -ENOENT);
	CHECK_EQ(ww_collect(t, m, 4 * PS, 0, out, 16, &next), 1);
	CHECK(out[0].iov_base == m + 1 * PS);
	CHECK_EQ(ww_collect(t, m + 12 * PS, 4 * PS, 0, out, 16, &next), 1);
	CHECK(out[0].iov_base == m + 14 * PS);
	m[13 * PS] = 1;
	CHECK_EQ(ww_collect(t, m + 12 * PS, 4 * PS, WW_RESET, out, 16, &next), 1);
	CHECK(out[0].iov_base == m + 13 * PS && out[0].iov_len == 2 * PS);

	/* ww_close untracks the rest */
	ww_close(t);
	check_pristine(m, perms0);
	check_pristine(m + 14 * PS, perms0);
	memset(m, 9, pages * PS);

	/* read-only memory keeps its protection through track/untrack */
	{
		char *ro = harness_map(4), p1[8], f1[256];

		CHECK_EQ(mprotect(ro, 4 * PS, PROT_READ), 0);
		vma_state(ro, p1, f1, sizeof(f1));
		CHECK_EQ(ww_open(&o, &t), 0);
		if (ww_track(t, ro, 4 * PS) == 0) {
			CHECK_EQ(ww_collect(t, ro, 4 * PS, 0, out, 4, &next), 0);
			CHECK_EQ(ww_untrack(t, ro, 4 * PS), 0);
		}
		ww_close(t);
		check_pristine(ro, p1);
	}
	printf("ok: %s: untrack leaves memory as it was\n", argv[1]);
	return 0;
}
