#!/usr/bin/env bash
# Run the whole test suite on the kernels our users run, each booted under
# qemu (TCG, no KVM needed), and on this host's kernel, and print one
# kernel x arch x backend x test matrix of pass/skip/fail. Exits non-zero if
# any test failed anywhere, if a VM did not boot or did not finish, or if a
# backend was skipped where the probe says it works or where the table
# below says it must.
#
#   VM (WW_VM_KERNELS)  kernel, from Debian's archive       backends that must run
#   amd64:6.1           bookworm-security, 6.1 cloud        uffd-wp soft-dirty mprotect
#   amd64:6.12          bookworm-security, 6.12 cloud       all four
#   amd64:7.3           trixie-backports, 7.3 cloud         all four
#   arm64:6.1           bookworm-security, 6.1 cloud        mprotect
#   arm64:6.12          bookworm-security, 6.12 cloud       pagemap-scan uffd-wp mprotect
#   arm64:7.3           trixie-backports, 7.3 cloud         pagemap-scan uffd-wp mprotect
#
# 6.1 has synchronous uffd-wp (x86-64 only: arm64 got it in 6.10) and
# soft-dirty (x86-64 only, never arm64) but no PAGEMAP_SCAN; this host's
# kernel has no soft-dirty, so the VMs are where soft-dirty, uffd-wp's
# pre-6.4 path, arm64 and remote tracking on arm64 are really tested.
#
# Steps: resolve the newest package of each series with a private apt
# configuration (.vm-cache/apt: its own sources list and state, so the
# machine's apt setup is not touched and no `dpkg --add-architecture` is
# needed), apt-get download it and busybox-static for arm64, dpkg -x them
# (cached in .vm-cache/); build the library, tests and tool statically, for
# x86-64 natively (.vm-cache/build-static) and for arm64 with
# cross/aarch64-linux-gnu.ini (.vm-cache/build-static-arm64; named targets
# only: a plain ninja of that build fails on the shared library); pack them
# with busybox into one initramfs per arch whose /init runs
# tests/vm/runtests.sh over the list `meson introspect --tests` gives; boot
# each kernel (WW_VM_JOBS at a time); parse the consoles; tests/vm/matrix.py
# prints the matrix. Without network the newest kernel of each series
# already in the cache is used.
#
# Environment:
#   WW_VM_KERNELS      arch:series list (default: the six above)
#   WW_VM_KERNEL_PKG   a kernel package to boot for every amd64 entry
#                      (with WW_VM_KERNELS=amd64:6.1, say)
#   WW_VM_JOBS         VMs booted at once (default 2; each is one TCG vCPU)
#   WW_VM_TIMEOUT      seconds each VM may run (default 1500)
#   WW_VM_ORACLE_SECONDS  oracle duration inside the VM (default 1; TCG is slow)
#   WW_VM_TIMEOUT_MULT    factor on each test's meson timeout in the VM (default 4)
#   WW_VM_EXPECT       backends that must run (not skip) in every VM,
#                      instead of the table above
#   WW_VM_HOST=0       skip the host column
#   WW_VM_FILTER       extended regex: run only the tests whose names match
#   WW_VM_SUITE=ci     the subset CI runs (VM_SUITE below) instead of every test
#   WW_VM_REPEAT=N     run each test N times (hunting a rare failure; the
#                      copies are named TEST@2/BACKEND .. TEST@N/BACKEND)
#   WW_VM_EXCLUDE      extended regex: tests not run in the VM (default:
#                      discard-oracle, whose fixed 200000 madvise rounds take
#                      about 5 minutes under TCG, and hostile/many_spans,
#                      thousands of tracks under faulting writers: over 4
#                      minutes per backend under TCG, and the VM's
#                      vm.max_map_count of 8192 leaves it a fifth of its
#                      ranges; both run on the host)
#   WW_VM_SMP          vCPUs (default 1: under TCG a fault handed between two
#                      vCPUs costs 10-50x more, uffd-wp tests took minutes)
#   WW_VM_BENCH=1      also run `ww-bench --quick` once in each arm64 VM,
#                      after the tests: its JSON Lines stream to the console
#                      as WWB lines (kept if the VM times out), go to
#                      .vm-cache/bench-arm64-SERIES.jsonl and are printed at
#                      the end with each section's time. All of --quick fits
#                      the default timeout under TCG: 163-246 s on 6.12 and
#                      7.3, two VMs at once on 2 shared CPUs (2026-12-04),
#                      plus 22-37 s for the rollback section added since, so
#                      no subset is needed. Ratios only: BENCHMARKS.md
#                      section 10.
#   WW_VM_BENCH_ARGS   more ww-bench arguments, e.g. "--bench first-write
#                      --backend bare-kernel,pagemap-scan" (default none)
#   WW_VM_OFFLINE=1    no apt-get update: use the package index as cached
#
# A disk file system for the file-backed memory kinds (kind/disk-file,
# kind/private-file, life/dontneed-private-file): a fresh ext4 image made
# here with mke2fs, attached as an NVMe disk (the cloud kernels have NVMe and
# ext4 built in, no modules needed), mounted at /mnt/disk in the VM and
# named to the tests by MEMKIND_DIR. A VM that cannot mount it says so
# (WWDISK line) and those tests skip, which the matrix counts as a problem.
# Needs: qemu-system-x86, qemu-system-arm, gcc-aarch64-linux-gnu,
# libc6-dev-arm64-cross, busybox-static, cpio, e2fsprogs, meson,
# ninja-build, gcc, apt, network access to deb.debian.org (first run).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CACHE=${WW_VM_CACHE:-$ROOT/.vm-cache}
TIMEOUT=${WW_VM_TIMEOUT:-1500}
ORACLE_SECONDS=${WW_VM_ORACLE_SECONDS:-1}
BENCH_ARGS=${WW_VM_BENCH_ARGS-}
TIMEOUT_MULT=${WW_VM_TIMEOUT_MULT:-4}
JOBS=${WW_VM_JOBS:-2}
KERNELS=${WW_VM_KERNELS:-amd64:6.1 amd64:6.12 amd64:7.3 arm64:6.1 arm64:6.12 arm64:7.3}
# The subset CI may run (WW_VM_SUITE=ci): the behavioural suite, the memory
# kinds (tests/memkinds: kind, sparse, life), the win32 suite,
# reset_dropped, the fuzz seed replay, the remote suite and the snapshot
# tests (plain and copy-before-write, per backend and per memory kind). Not here: the
# discard oracle and many_spans (WW_VM_EXCLUDE).
VM_SUITE="clean|write|reset|subrange|continuation|errors|untrack|kernel_write|sigchain|multi|oracle|many_runs|fork_inert|no_stale_report|discard_rewrite|read_not_write|opts|caps|probe|fork|isolation|dontneed|soft_dirty_vma|soft_dirty_remote"
VM_SUITE="$VM_SUITE|kind/[a-z-]+|life/[a-z-]+|sparse|win32_[a-z_]+|reset_dropped"
VM_SUITE="$VM_SUITE|discard_mixed_range|discard_during_reset|fuzz-corpus/[a-z-]+|remote/[a-z-]+|remote-fallback|dump/[a-z-]+-c"
# the adversarial group's per-backend tests (issue 16): soft-dirty runs only here
VM_SUITE="$VM_SUITE|hostile/[a-z0-9_]+"
# snapshots: mprotect copies before a write only where the zero page is mapped
VM_SUITE="$VM_SUITE|snapshot|snapshot_cow"
mkdir -p "$CACHE"

say() { printf '[vm] %s\n' "$*" >&2; }
die() {
	say "error: $*"
	exit 1
}

# Backends that must run on a kernel (the table above; what the probe says
# is checked as well, by matrix.py).
expect_for() {
	if [ -n "${WW_VM_EXPECT:-}" ]; then
		echo "$WW_VM_EXPECT"
		return
	fi
	case $1 in
	amd64:6.1) echo "uffd-wp soft-dirty mprotect" ;;
	amd64:*) echo "pagemap-scan uffd-wp soft-dirty mprotect" ;;
	arm64:6.1) echo "mprotect" ;;
	arm64:*) echo "pagemap-scan uffd-wp mprotect" ;;
	esac
}

export PATH=$PATH:/sbin:/usr/sbin # mke2fs, for a user whose PATH lacks them
archs=$(for k in $KERNELS; do echo "${k%%:*}"; done | sort -u)
need="cpio meson ninja apt-get dpkg python3 mke2fs"
for a in $archs; do
	case $a in
	amd64) need="$need qemu-system-x86_64" ;;
	arm64) need="$need qemu-system-aarch64 aarch64-linux-gnu-gcc" ;;
	*) die "unknown arch $a in WW_VM_KERNELS (amd64, arm64)" ;;
	esac
done
for tool in $need; do
	command -v "$tool" >/dev/null ||
		die "$tool not found (apt-get install qemu-system-x86 qemu-system-arm gcc-aarch64-linux-gnu libc6-dev-arm64-cross cpio meson ninja-build python3 e2fsprogs busybox-static)"
done

# 1. Kernels and arm64's busybox, through a private apt configuration.
APTDIR=$CACHE/apt
mkdir -p "$APTDIR"/state/lists/partial "$APTDIR"/cache/archives/partial \
	"$APTDIR"/etc/sources.list.d "$APTDIR"/etc/preferences.d
touch "$APTDIR/state/status"
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
cat >"$APTDIR/etc/sources.list" <<EOF
deb [arch=amd64,arm64 signed-by=$keyring] http://deb.debian.org/debian-security bookworm-security main
deb [arch=amd64,arm64 signed-by=$keyring] http://deb.debian.org/debian trixie-backports main
deb [arch=arm64 signed-by=$keyring] http://deb.debian.org/debian bookworm main
EOF
cat >"$APTDIR/apt.conf" <<EOF
Dir::State "$APTDIR/state";
Dir::State::status "$APTDIR/state/status";
Dir::Cache "$APTDIR/cache";
Dir::Etc::SourceList "$APTDIR/etc/sources.list";
Dir::Etc::SourceParts "$APTDIR/etc/sources.list.d";
Dir::Etc::Preferences "$APTDIR/etc/preferences";
Dir::Etc::PreferencesParts "$APTDIR/etc/preferences.d";
APT::Architecture "amd64";
APT::Architectures { "amd64"; "arm64"; };
APT::Sandbox::User "root";
Acquire::Languages "none";
Acquire::Retries "3";
EOF
papt() { APT_CONFIG=$APTDIR/apt.conf "$@"; }
online=0
if [ "${WW_VM_OFFLINE:-0}" != 1 ]; then
	if papt apt-get update -qq >"$CACHE/apt-update.log" 2>&1; then
		online=1
	else
		say "apt-get update failed (no network?): using the kernels already in $CACHE"
	fi
fi

# The package of the newest kernel of a series: 6.1 is linux-image-6.1.0-N,
# 6.12 linux-image-6.12.N+deb12, later backports ship the image alone in
# linux-binary-unsigned-X.Y.N+debNN.
kernel_pkg() { # arch series
	local a=$1 s=$2 re
	case $s in
	6.1) re="^linux-image-6\.1\.0-[0-9]+-cloud-$a-unsigned\$" ;;
	*)
		re="^(linux-image-${s//./\\.}\.[0-9]+\+deb[0-9]+-cloud-$a-unsigned"
		re="$re|linux-binary-unsigned-${s//./\\.}\.[0-9]+\+deb[0-9]+-cloud-$a)\$"
		;;
	esac
	papt apt-cache search --names-only "$re" 2>/dev/null | awk '{print $1}' | sort -V | tail -n 1
}

# Download and unpack package $1 for arch $2 into $CACHE/pkg/$1; prints the dir.
fetch_pkg() {
	local p=$1 a=$2 dir=$CACHE/pkg/$1 deb
	if [ ! -d "$dir" ]; then
		deb=$(ls "$CACHE/deb/${p}"_*_"$a".deb 2>/dev/null | tail -n 1 || true)
		if [ -z "$deb" ]; then
			say "downloading $p ($a)"
			mkdir -p "$CACHE/deb"
			(cd "$CACHE/deb" && papt apt-get download -q "$p:$a" >/dev/null 2>"$CACHE/deb/$p.err") ||
				die "apt-get download $p:$a failed: $(tail -n 2 "$CACHE/deb/$p.err")"
			deb=$(ls "$CACHE/deb/${p}"_*_"$a".deb | tail -n 1)
		fi
		rm -rf "$dir.tmp"
		mkdir -p "$CACHE/pkg"
		dpkg -x "$deb" "$dir.tmp"
		mv "$dir.tmp" "$dir"
	fi
	echo "$dir"
}

# The kernel image of arch:series, as a path; cached kernels when offline.
kernel_image() { # arch series
	local a=$1 s=$2 pkg dir
	pkg=
	if [ "$a" = amd64 ] && [ -n "${WW_VM_KERNEL_PKG:-}" ]; then
		pkg=$WW_VM_KERNEL_PKG
	elif ls "$APTDIR"/state/lists/*_Packages* >/dev/null 2>&1; then
		pkg=$(kernel_pkg "$a" "$s")
	fi
	if [ -z "$pkg" ]; then
		# offline and never indexed: the newest of the series in the cache
		pkg=$(ls "$CACHE/pkg" 2>/dev/null | grep -E "^linux-(image|binary-unsigned)-${s//./\\.}[.-].*cloud-$a" |
			sort -V | tail -n 1 || true)
	fi
	[ -n "$pkg" ] || return 1
	dir=$(fetch_pkg "$pkg" "$a") || return 1
	{ find "$dir/boot" "$dir/usr/lib/modules" -maxdepth 2 -name 'vmlinuz*' 2>/dev/null || true; } |
		sort | head -n 1
}

# 2. Static test programs per arch: the tests meson knows, built without the .so.
build_dir() { [ "$1" = amd64 ] && echo "$CACHE/build-static" || echo "$CACHE/build-static-$1"; }
list_tests() { # arch -> $CACHE/tests-ARCH.list, and builds what it names
	local a=$1 build list extra targets cross=()
	build=$(build_dir "$a")
	list=$CACHE/tests-$a.list
	[ "$a" = arm64 ] && cross=(--cross-file "$ROOT/cross/aarch64-linux-gnu.ini")
	if [ ! -f "$build/build.ninja" ]; then
		meson setup "$build" "$ROOT" "${cross[@]}" -Ddefault_library=static -Dc_link_args=-static \
			-Dbench="$([ "${WW_VM_BENCH:-0}" = 1 ] && echo true || echo false)" \
			-Dbuildtype=debugoptimized >"$CACHE/setup-$a.log" 2>&1 ||
			die "meson setup for $a failed: $(tail -n 5 "$CACHE/setup-$a.log")"
	fi
	if [ "${WW_VM_BENCH:-0}" = 1 ]; then
		meson configure "$build" -Dbench=true >/dev/null
	fi
	ninja -C "$build" build.ninja >/dev/null # pick up new tests before introspecting
	meson introspect --tests "$build" >"$CACHE/tests-$a.json"
	python3 - "$CACHE/tests-$a.json" "$build" "$TIMEOUT_MULT" >"$list" <<'EOF'
import json, os, sys
tests, build, mult = json.load(open(sys.argv[1])), os.path.realpath(sys.argv[2]), int(sys.argv[3])
for t in tests:
    exe = os.path.realpath(t["cmd"][0])
    if not exe.startswith(build + "/"):
        continue  # scripts and host tools: not for the VM
    tmo = (t.get("timeout") or 30) * mult
    print("\t".join([t["name"], str(tmo), os.path.relpath(exe, build), " ".join(t["cmd"][1:])]))
EOF
	local EXCLUDE=${WW_VM_EXCLUDE-discard-oracle|hostile/many_spans}
	if [ -n "$EXCLUDE" ]; then
		[ "$a" = amd64 ] && say "not run in the VM (WW_VM_EXCLUDE): $(grep -E "^[^	]*(${EXCLUDE})" "$list" | cut -f1 | tr '\n' ' ')"
		grep -vE "^[^	]*(${EXCLUDE})" "$list" >"$list.f" || true
		mv "$list.f" "$list"
	fi
	if [ -n "${WW_VM_FILTER:-}" ]; then
		grep -E "^[^	]*(${WW_VM_FILTER})" "$list" >"$list.f" || die "WW_VM_FILTER matches no test"
		mv "$list.f" "$list"
	elif [ "${WW_VM_SUITE:-all}" = ci ]; then
		grep -E "^(${VM_SUITE})(/|	)" "$list" >"$list.f" || die "no behavioural test in the list"
		mv "$list.f" "$list"
	fi
	if [ "${WW_VM_REPEAT:-1}" -gt 1 ]; then
		awk -F '\t' -v OFS='\t' -v n="$WW_VM_REPEAT" \
			'{ print; x = $1; k = match(x, /\/[^\/]*$/)
			   for (i = 2; i <= n; i++) { $1 = k ? substr(x, 1, k - 1) "@" i substr(x, k) : x "@" i; print } }' "$list" >"$list.f"
		mv "$list.f" "$list"
	fi
	targets=$(cut -f3 "$list" | sort -u)
	# helper programs a test names by a path relative to the build directory
	extra=$(cut -f4 "$list" | tr ' ' '\n' | sort -u | while read -r x; do
		case $x in tests/* | tools/*) echo "$x" ;; esac
	done)
	[ "${WW_VM_BENCH:-0}" = 1 ] && [ "$a" = arm64 ] && extra="$extra bench/ww-bench bench/ww-bench-target"
	# shellcheck disable=SC2086 # word lists on purpose
	ninja -C "$build" $targets $extra tools/writewatch >"$CACHE/build-$a.log" 2>&1 ||
		die "static build for $a failed: $(tail -n 20 "$CACHE/build-$a.log")"
	echo "$targets $extra" >"$CACHE/targets-$a"
	say "$a: $(wc -l <"$list") tests built"
}

# 3. One initramfs per arch.
make_initrd() { # arch
	local a=$1 build rd busybox
	build=$(build_dir "$a")
	rd=$CACHE/initramfs-$a
	if [ "$a" = amd64 ]; then
		busybox=$(command -v busybox || true)
		[ -n "$busybox" ] && file -L "$busybox" 2>/dev/null | grep -q 'statically linked' ||
			busybox=/bin/busybox
		[ -x "$busybox" ] || die "busybox not found (apt-get install busybox-static)"
	else
		local bdir
		bdir=$(fetch_pkg busybox-static arm64) || die "no busybox-static for arm64"
		busybox=$bdir/bin/busybox
	fi
	rm -rf "$rd"
	mkdir -p "$rd"/{bin,proc,sys,dev,tmp,t/tools}
	cp "$busybox" "$rd/bin/busybox"
	for exe in $(cat "$CACHE/targets-$a"); do
		mkdir -p "$rd/t/$(dirname "$exe")"
		cp "$build/$exe" "$rd/t/$exe"
	done
	cp "$build/tools/writewatch" "$rd/t/tools/writewatch"
	cp "$CACHE/tests-$a.list" "$rd/tests.list"
	cp "$ROOT/tests/vm/runtests.sh" "$rd/runtests.sh"
	cat >"$rd/init" <<EOF
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp
mkdir -p /dev/shm && mount -t tmpfs shm /dev/shm
echo "WWBOOT|\$(uname -r)"
# The disk: NVMe probes asynchronously, so wait for the device node.
mkdir -p /mnt/disk
for i in 1 2 3 4 5 6 7 8 9 10; do [ -b /dev/nvme0n1 ] && break; sleep 1; done
if mount -t ext4 /dev/nvme0n1 /mnt/disk 2>/tmp/mount.err; then
	export MEMKIND_DIR=/mnt/disk
	echo "WWDISK|\$(grep ' /mnt/disk ' /proc/mounts)"
else
	echo "WWDISK|none: \$(cat /tmp/mount.err)"
fi
# test_many_runs dirties more pages than this many mappings: a smaller
# limit tests the same thing in a sixth of the time under TCG.
echo 8192 >/proc/sys/vm/max_map_count
# hugetlb memory kinds: a few 2 MiB pages
echo 16 >/proc/sys/vm/nr_hugepages 2>/dev/null
export WW_ORACLE_SECONDS=$ORACLE_SECONDS
export WW_TEST_SLOW=1
sh /runtests.sh /tests.list /t
if [ -x /t/bench/ww-bench ]; then
	# JSON Lines straight to the console as they come (a VM that times
	# out still shows the benchmarks that finished); the table's
	# "(NAME took N s)" lines afterwards, as WWBT lines.
	echo "WWBSTART|\$(uname -r)|\$(date +%s)|$BENCH_ARGS"
	(cd /t && ./bench/ww-bench --quick --json $BENCH_ARGS 2>/tmp/bench.out; echo \$? >/tmp/bench.rc) |
		sed "s/^/WWB|\$(uname -r)|/"
	echo "WWBRC|\$(uname -r)|\$(cat /tmp/bench.rc)|\$(date +%s)"
	grep '^(.* took ' /tmp/bench.out | sed "s/^/WWBT|\$(uname -r)|/"
	[ "\$(cat /tmp/bench.rc)" = 0 ] || tail -n 5 /tmp/bench.out | sed "s/^/WWBE|\$(uname -r)|/"
fi
echo "WWEND|\$(uname -r)"
poweroff -f
EOF
	chmod +x "$rd/init" "$rd/runtests.sh"
	(cd "$rd" && find . | cpio -o -H newc --quiet) >"$CACHE/initrd-$a.cpio"
}

# 4. Boot one VM; its WW lines go to $CACHE/vm-LABEL.txt.
run_vm() { # arch series image
	local a=$1 s=$2 img=$3 label=$1-$2 disk console t0 attempt
	disk=$CACHE/disk-$label.img
	console=$CACHE/console-$label.log
	rm -f "$disk"
	mke2fs -q -F -t ext4 -L wwdisk "$disk" 128M >/dev/null || die "mke2fs failed"
	for attempt in 1 2; do
		t0=$(date +%s)
		case $a in
		amd64)
			# no_timer_check: under TCG on a busy host the kernel's
			# IO-APIC timer test can time out and panic ("IO-APIC +
			# timer doesn't work"); the timer is fine.
			timeout "$TIMEOUT" qemu-system-x86_64 -accel tcg -cpu max -smp "${WW_VM_SMP:-1}" -m 2048 \
				-nographic -no-reboot -kernel "$img" -initrd "$CACHE/initrd-$a.cpio" \
				-drive file="$disk",if=none,id=wwdisk,format=raw -device nvme,drive=wwdisk,serial=wwdisk \
				-append "console=ttyS0 quiet panic=-1 no_timer_check" </dev/null >"$console" 2>&1 || true
			;;
		arm64)
			# pauth-impdef: the same pointer authentication at half
			# the TCG cost of the architected algorithm.
			timeout "$TIMEOUT" qemu-system-aarch64 -M virt -cpu max,pauth-impdef=on -accel tcg \
				-smp "${WW_VM_SMP:-1}" -m 2048 -nographic -no-reboot \
				-kernel "$img" -initrd "$CACHE/initrd-$a.cpio" \
				-drive file="$disk",if=none,id=wwdisk,format=raw -device nvme,drive=wwdisk,serial=wwdisk \
				-append "console=ttyAMA0 quiet panic=-1" </dev/null >"$console" 2>&1 || true
			;;
		esac
		# Terminal escapes and kernel messages may share a line with ours.
		tr -d '\r' <"$console" | sed 's/^.*\(WW[A-Z]*|\)/\1/' >"$console.txt"
		say "$label: VM ran $(($(date +%s) - t0))s"
		grep -q '^WWBOOT|' "$console.txt" && break
		say "$label: the VM did not reach init (attempt $attempt): $(grep -m1 -i 'panic' "$console.txt" || echo 'no panic message')"
	done
	rm -f "$disk"
	{
		echo "WWVM|$label|$(grep -m1 '^WWBOOT|' "$console.txt" | cut -d'|' -f2 || true)|$(expect_for "$a:$s")"
		grep -E '^(WWT|WWP|WWJ|WWDONE|WWDISK|WWB|WWBSTART|WWBRC|WWBT|WWBE)\|' "$console.txt" || true
	} >"$CACHE/vm-$label.txt"
	if [ "${WW_VM_BENCH:-0}" = 1 ] && [ "$a" = arm64 ]; then
		# the benchmark's JSON Lines alone, as goals.py reads them
		sed -n 's/^WWB|[^|]*|//p' "$console.txt" >"$CACHE/bench-$label.jsonl"
	fi
	grep '^  | ' "$console.txt" | sed "s/^/$label/" >&2 || true
}

for a in $archs; do
	list_tests "$a"
	make_initrd "$a"
done
rm -f "$CACHE"/vm-*.txt
vms=()
for k in $KERNELS; do
	a=${k%%:*} s=${k#*:}
	img=$(kernel_image "$a" "$s") || img=
	if [ -z "$img" ]; then
		say "$k: no kernel (package not found, or no vmlinuz in it)"
		echo "WWVM|$a-$s||$(expect_for "$k")" >"$CACHE/vm-$a-$s.txt"
		continue
	fi
	say "$k: ${img#"$CACHE"/pkg/}"
	vms+=("$a $s $img")
done
say "booting ${#vms[@]} VMs under qemu (TCG, $JOBS at a time, timeout ${TIMEOUT}s each)"
t_all=$(date +%s)
for v in "${vms[@]}"; do
	# shellcheck disable=SC2086 # three words
	set -- $v
	while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n || true; done
	run_vm "$1" "$2" "$3" &
done

# 5. The host column, with the same amd64 binaries and runner, meanwhile.
if [ "${WW_VM_HOST:-1}" != 0 ] && [ "$(uname -m)" = x86_64 ] && [ -f "$CACHE/tests-amd64.list" ]; then
	say "running the same tests on this host ($(uname -r))"
	sh "$ROOT/tests/vm/runtests.sh" "$CACHE/tests-amd64.list" "$(build_dir amd64)" >"$CACHE/host.txt" 2>&1 || true
	grep '^  | ' "$CACHE/host.txt" | sed 's/^/host/' >&2 || true
	{
		echo "WWHOST|$(uname -r)"
		grep -E '^(WWT|WWP|WWJ|WWDONE)\|' "$CACHE/host.txt" || true
	} >"$CACHE/vm-host.txt"
fi
wait
say "all VMs done in $(($(date +%s) - t_all))s"

# 6. The matrix.
results=$CACHE/results.txt
cat "$CACHE"/vm-*.txt >"$results"
rc=0
python3 "$ROOT/tests/vm/matrix.py" --markdown "$CACHE/matrix.md" "$CACHE"/vm-*.txt || rc=$?

# 7. The benchmarks (WW_VM_BENCH=1): how long each ran, its JSON Lines.
if [ "${WW_VM_BENCH:-0}" = 1 ]; then
	for f in "$CACHE"/vm-arm64-*.txt; do
		[ -f "$f" ] || continue
		label=$(basename "$f" .txt)
		label=${label#vm-}
		start=$(grep -m1 '^WWBSTART|' "$f" | cut -d'|' -f3 || true)
		end=$(grep -m1 '^WWBRC|' "$f" | cut -d'|' -f4 || true)
		if [ -z "$start" ]; then
			say "$label: ww-bench did not start"
		elif [ -z "$end" ]; then
			say "$label: ww-bench did not finish (VM timeout?); last result: $(grep '^WWB|' "$f" | tail -n 1 | cut -c1-120)"
		else
			say "$label: ww-bench exit $(grep -m1 '^WWBRC|' "$f" | cut -d'|' -f3) after $((end - start))s; $(grep '^WWBT|' "$f" | cut -d'|' -f3 | tr -d '()' | tr '\n' ';')"
		fi
		grep '^WWBE|' "$f" | sed "s/^/$label /" >&2 || true
		say "$label: $(grep -c '^WWB|' "$f") benchmark lines in $CACHE/bench-$label.jsonl"
		grep '^WWB|' "$f" || true
	done
fi
exit "$rc"
