/* SPDX-License-Identifier: MIT */
/*
 * Replays fuzz inputs without libFuzzer: `fuzz_replay BACKEND [FILE...]` runs
 * each file, or with none the seed corpus built in (fuzz/corpus, embedded by
 * fuzz/embed.py), through the fuzz harness once, so the corpus (and any crash
 * input added to it) is a regression test in the ordinary meson test suite,
 * built by any compiler. Exit 0 clean, 77 backend unavailable, abort on a
 * finding (the harness's own checks).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "seeds.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int main(int argc, char **argv)
{
	static uint8_t buf[1 << 16];

	if (argc < 2) {
		fprintf(stderr, "usage: %s BACKEND [FILE...]\n", argv[0]);
		return 2;
	}
	setenv("FUZZ_BACKEND", argv[1], 1);
	LLVMFuzzerInitialize(&argc, &argv);
	if (argc == 2) {
		for (size_t i = 0; i < fuzz_nseeds; i++)
			LLVMFuzzerTestOneInput(fuzz_seeds[i].data, fuzz_seeds[i].len);
		printf("ok: %s: %zu built-in seeds replayed\n", argv[1], fuzz_nseeds);
		return 0;
	}
	for (int i = 2; i < argc; i++) {
		FILE *f = fopen(argv[i], "rb");
		size_t n;

		if (!f) {
			perror(argv[i]);
			return 1;
		}
		n = fread(buf, 1, sizeof(buf), f);
		fclose(f);
		LLVMFuzzerTestOneInput(buf, n);
	}
	printf("ok: %s: %d inputs replayed\n", argv[1], argc - 2);
	return 0;
}
