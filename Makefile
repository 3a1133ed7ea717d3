# Thin wrapper over Meson for the commands README gives. Everything real is
# in meson.build; these targets only install missing packages, configure and
# call meson.
BUILD ?= build
MESON_ARGS ?=

.PHONY: all deps setup build run test test-kernels bench fuzz install clean

all: build

deps:
	@scripts/deps.sh

$(BUILD)/build.ninja:
	@scripts/deps.sh
	meson setup $(BUILD) $(MESON_ARGS)

setup: $(BUILD)/build.ninja

build: setup
	meson compile -C $(BUILD)

# The main job: what works on this machine, the two-minute example, then
# writewatch watching a demo workload (hot set, cold set, streaming buffer)
# from its first instruction, with the live-migration estimate at the end.
run: build
	$(BUILD)/tools/writewatch probe
	@echo
	$(BUILD)/examples/track_buffer
	@echo
	$(BUILD)/tools/writewatch run --bandwidth 100M -- $(BUILD)/examples/demo_workload 5

# Every test: the behavioural suite once per backend, the probe test, then
# the installed-library contract check; ends with a per-backend summary.
test: build
	meson test -C $(BUILD) --print-errorlogs --num-processes 2 || true
	tests/install/check.sh $(BUILD) || true
	python3 tests/summary.py $(BUILD)

# The suite on six Debian kernels booted under qemu (x86-64 and arm64, 6.1,
# 6.12, 7.3) and on this one: a kernel x arch x backend x test matrix;
# fails on any failure (README, "Tested kernels"). Downloads the kernels.
test-kernels:
	@scripts/deps.sh qemu-system-x86 qemu-system-arm gcc-aarch64-linux-gnu libc6-dev-arm64-cross busybox-static cpio e2fsprogs
	tests/vm/run.sh

# Every benchmark, side by side, a few minutes; not part of `make test`.
# ww-bench's first-write-remote starts build/bench/ww-bench-target (built
# with the rest) and tracks it from outside (BENCHMARKS.md, section 8).
bench: build
	@scripts/deps.sh gdb
	$(BUILD)/bench/ww-bench --json=$(BUILD)/bench-results.jsonl
	python3 bench/cli_slowdown.py $(BUILD)/tools/writewatch --json $(BUILD)/bench-results.jsonl
	python3 bench/dump_bench.py $(BUILD) --json=$(BUILD)/bench-dump.jsonl
	python3 bench/goals.py $(BUILD)/bench-results.jsonl

# The libFuzzer harness on every backend that works here (clang, ASan+UBSan).
fuzz:
	@scripts/deps.sh libclang-rt-14-dev llvm
	fuzz/run.sh 60

install: build
	meson install -C $(BUILD)

clean:
	rm -rf $(BUILD)
