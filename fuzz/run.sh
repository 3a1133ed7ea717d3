#!/bin/sh
# Build the libFuzzer harness (clang, ASan + UBSan) straight from the library
# sources and run it on every backend that works here, for a fixed time each.
#   fuzz/run.sh [SECONDS_TOTAL]   (default 60, split over the working backends)
# Environment: CC (default clang), FUZZ_OUT (build dir, default build-fuzz),
# FUZZ_SKIP (backends not to fuzz: one with an open bug in known-bugs/, or
# to spend the time on the others).
# Exit status: 0 if every backend that works ran clean, 1 on a finding, 77 if
# no backend works. (-error_exitcode=1: libFuzzer's default, 77, means skip.)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
total=${1:-60}
out=${FUZZ_OUT:-$root/build-fuzz}
cc=${CC:-clang}
mkdir -p "$out"

# The library from its own meson build (so the source list is meson's), with
# clang, ASan + UBSan, and libFuzzer's coverage instrumentation.
if [ ! -f "$out/build.ninja" ]; then
    CC=$cc meson setup "$out" -Db_sanitize=address,undefined -Db_lundef=false \
        -Dc_args=-fsanitize=fuzzer-no-link -Ddefault_library=static >/dev/null
fi
ninja -C "$out" libwritewatch.a >/dev/null
$cc -std=c11 -g -O1 -fno-omit-frame-pointer \
    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -I"$root/include" -Wall -Wextra \
    -o "$out/fuzz_tracker" "$here/fuzz_tracker.c" "$out/libwritewatch.a" -lpthread

# The mprotect backend takes SIGSEGV for its own faults and chains the rest
# to the handler it found (ASan's). ASan's handle_segv stays on, so real
# crashes are still reported; allow_user_segv_handler=1 lets the backend's
# sigaction through (it is the default; spelled out because it must be).
export ASAN_OPTIONS="${ASAN_OPTIONS:-allow_user_segv_handler=1:detect_leaks=1:abort_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

works=""
status=0
for b in $(FUZZ_LIST_BACKENDS=1 "$out/fuzz_tracker"); do
    # FUZZ_SKIP: backends not to fuzz (one with an open bug the fuzzer finds
    # at once goes in fuzz/known-bugs/README.md); said out loud, never silent.
    case " ${FUZZ_SKIP:-} " in
    *" $b "*)
        echo "fuzz: SKIPPED $b: named in FUZZ_SKIP (open bugs: fuzz/known-bugs/README.md)"
        continue
        ;;
    esac
    # One pass over the seed corpus: exit 77 means the backend does not
    # work here (skipped, with the reason); any other failure is a finding.
    rc=0
    FUZZ_BACKEND=$b "$out/fuzz_tracker" -error_exitcode=1 -runs=0 "$here/corpus" >"$out/seed-$b.log" 2>&1 || rc=$?
    if [ "$rc" -eq 0 ]; then
        works="$works $b"
    elif [ "$rc" -eq 77 ]; then
        echo "fuzz: skip $b: $(grep -m1 -E '^SKIP|fuzz_tracker' "$out/seed-$b.log")"
    else
        echo "fuzz: $b FAILED on the seed corpus, log $out/seed-$b.log:"
        grep -m1 'fuzz_tracker (' "$out/seed-$b.log" || tail -n 20 "$out/seed-$b.log"
        status=1
    fi
done
[ -n "$works" ] || { echo "fuzz: no backend ran"; [ "$status" -ne 0 ] && exit 1; exit 77; }
n=$(echo $works | wc -w)
each=$((total / n)); [ "$each" -ge 5 ] || each=5
for b in $works; do
    echo "fuzz: $b for ${each}s"
    mkdir -p "$out/corpus-$b"
    # New inputs go to a scratch corpus; the seed corpus in the repo is read only.
    if ! FUZZ_BACKEND=$b "$out/fuzz_tracker" -max_total_time="$each" -timeout=20 -error_exitcode=1 \
            -rss_limit_mb=2048 -artifact_prefix="$out/$b-" -print_final_stats=1 \
            "$out/corpus-$b" "$here/corpus" >"$out/fuzz-$b.log" 2>&1; then
        echo "fuzz: $b FAILED, log $out/fuzz-$b.log, crash input $out/$b-*"
        tail -n 30 "$out/fuzz-$b.log"
        status=1
    else
        grep -E "stat::number_of_executed_runs|Done" "$out/fuzz-$b.log" | tr '\n' ' '; echo
    fi
done
exit $status
