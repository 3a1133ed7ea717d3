#!/usr/bin/env bash
# Run the whole test suite on a second kernel, Debian 12's 6.1 cloud kernel,
# under qemu (TCG), and on this host's kernel, and print a kernel x backend x
# test matrix of pass/skip/fail. Exits non-zero if any test failed anywhere,
# if the VM did not finish, or if a backend expected to work on a kernel was
# skipped there (a skip is never a pass).
#
# The 6.1 kernel has synchronous uffd-wp (without WP_UNPOPULATED) and
# soft-dirty but no PAGEMAP_SCAN: the kernel these machines run has no
# soft-dirty, so this is where the soft-dirty backend and uffd-wp's pre-6.4
# path are really tested.
#
# Steps: apt-get download the kernel package (cached in .vm-cache/), dpkg -x
# it; build the library, tests and tool statically (.vm-cache/build-static);
# pack them with busybox-static into an initramfs whose /init runs
# tests/vm/runtests.sh over the list `meson introspect --tests` gives; boot
# it; parse the console.
#
# Environment:
#   WW_VM_KERNEL_PKG   kernel package (default: newest linux-image-6.1.0-*-cloud-amd64-unsigned)
#   WW_VM_TIMEOUT      seconds the VM may run (default 840)
#   WW_VM_ORACLE_SECONDS  oracle duration inside the VM (default 1; TCG is slow)
#   WW_VM_TIMEOUT_MULT    factor on each test's meson timeout in the VM (default 4)
#   WW_VM_EXPECT       backends that must pass (not skip) in the VM
#                      (default: "uffd-wp soft-dirty mprotect")
#   WW_VM_HOST=0       skip the host column
#   WW_VM_FILTER       extended regex: run only the tests whose names match
#   WW_VM_ALL=1        every test in the VM (adds the remote suite, which
#                      needs pagemap-scan and so skips on 6.1)
#   WW_VM_EXCLUDE      extended regex: tests not run in the VM (default:
#                      discard-oracle, whose fixed 200000 madvise rounds take
#                      about 5 minutes under TCG; it runs on the host)
#   WW_VM_SMP          vCPUs (default 1: under TCG a fault handed between two
#                      vCPUs costs 10-50x more, uffd-wp tests took minutes)
#
# A disk file system for the file-backed memory kinds (kind/disk-file,
# kind/private-file, life/dontneed-private-file): a fresh ext4 image made
# here with mke2fs, attached as an NVMe disk (the cloud kernel has NVMe and
# ext4 built in, no modules needed), mounted at /mnt/disk in the VM and
# named to the tests by MEMKIND_DIR. A VM that cannot mount it says so
# (WWDISK line) and those tests skip, which the matrix counts as a problem.
# Needs: qemu-system-x86, busybox-static, cpio, e2fsprogs, meson, ninja-build, gcc, apt.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CACHE=${WW_VM_CACHE:-$ROOT/.vm-cache}
BUILD=$CACHE/build-static
TIMEOUT=${WW_VM_TIMEOUT:-840}
ORACLE_SECONDS=${WW_VM_ORACLE_SECONDS:-1}
TIMEOUT_MULT=${WW_VM_TIMEOUT_MULT:-4}
EXPECT=${WW_VM_EXPECT:-uffd-wp soft-dirty mprotect}
# What CI runs in the VM: the behavioural suite, the memory kinds
# (tests/memkinds: kind, sparse, life), the win32 suite, reset_dropped and
# the fuzz seed replay; about 45 s of VM time under TCG (measured). Not
# here: the remote suite (needs pagemap-scan, all skips on 6.1) and the
# discard oracle (WW_VM_EXCLUDE).
VM_SUITE="clean|write|reset|subrange|continuation|errors|untrack|kernel_write|sigchain|multi|oracle|many_runs|fork_inert|no_stale_report|discard_rewrite|read_not_write|opts|probe|fork|isolation|dontneed|soft_dirty_vma|soft_dirty_remote"
VM_SUITE="$VM_SUITE|kind/[a-z-]+|life/[a-z-]+|sparse|win32_[a-z_]+|reset_dropped"
VM_SUITE="$VM_SUITE|discard_mixed_range|discard_during_reset|fuzz-corpus/[a-z-]+"
# the adversarial group's per-backend tests (issue 16): soft-dirty runs only here
VM_SUITE="$VM_SUITE|hostile/[a-z0-9_]+"
mkdir -p "$CACHE"

say() { printf '[vm] %s\n' "$*" >&2; }
die() {
	say "error: $*"
	exit 1
}

export PATH=$PATH:/sbin:/usr/sbin # mke2fs, for a user whose PATH lacks them
for tool in qemu-system-x86_64 cpio meson ninja apt-get dpkg python3 mke2fs; do
	command -v "$tool" >/dev/null || die "$tool not found (apt-get install qemu-system-x86 cpio meson ninja-build python3 e2fsprogs)"
done
BUSYBOX=$(command -v busybox || true)
[ -n "$BUSYBOX" ] && file -L "$BUSYBOX" 2>/dev/null | grep -q 'statically linked' ||
	BUSYBOX=/bin/busybox
[ -x "$BUSYBOX" ] || die "busybox not found (apt-get install busybox-static)"

# 1. The kernel.
pkg=${WW_VM_KERNEL_PKG:-}
if [ -z "$pkg" ]; then
	pkg=$(apt-cache search --names-only '^linux-image-6\.1\.0-[0-9]+-cloud-amd64-unsigned$' |
		awk '{print $1}' | sort -V | tail -n 1)
	if [ -z "$pkg" ]; then
		apt-get update -qq || true
		pkg=$(apt-cache search --names-only '^linux-image-6\.1\.0-[0-9]+-cloud-amd64-unsigned$' |
			awk '{print $1}' | sort -V | tail -n 1)
	fi
	[ -n "$pkg" ] || die "no linux-image-6.1.0-*-cloud-amd64-unsigned package in the apt sources"
fi
kdir=$CACHE/$pkg
if [ ! -d "$kdir/boot" ]; then
	deb=$(ls "$CACHE/${pkg}"_*.deb 2>/dev/null | head -n 1 || true)
	if [ -z "$deb" ]; then
		say "downloading $pkg"
		(cd "$CACHE" && apt-get download "$pkg" >/dev/null) ||
			(apt-get update -qq && cd "$CACHE" && apt-get download "$pkg" >/dev/null) ||
			die "apt-get download $pkg failed"
		deb=$(ls "$CACHE/${pkg}"_*.deb | head -n 1)
	fi
	rm -rf "$kdir.tmp"
	dpkg -x "$deb" "$kdir.tmp"
	mv "$kdir.tmp" "$kdir"
fi
vmlinuz=$(ls "$kdir"/boot/vmlinuz-* | head -n 1)
[ -f "$vmlinuz" ] || die "no vmlinuz in $pkg"
say "kernel: $(basename "$vmlinuz")"

# 2. Static test programs: the tests meson knows, built without the .so.
if [ ! -f "$BUILD/build.ninja" ]; then
	meson setup "$BUILD" "$ROOT" -Ddefault_library=static -Dc_link_args=-static \
		-Dbench=false -Dbuildtype=debugoptimized >/dev/null
fi
ninja -C "$BUILD" build.ninja >/dev/null # pick up new tests before introspecting
meson introspect --tests "$BUILD" >"$CACHE/tests.json"
list=$CACHE/tests.list
python3 - "$CACHE/tests.json" "$BUILD" "$TIMEOUT_MULT" >"$list" <<'EOF'
import json, os, sys
tests, build, mult = json.load(open(sys.argv[1])), os.path.realpath(sys.argv[2]), int(sys.argv[3])
for t in tests:
    exe = os.path.realpath(t["cmd"][0])
    if not exe.startswith(build + "/"):
        continue  # scripts and host tools: not for the VM
    tmo = (t.get("timeout") or 30) * mult
    print("\t".join([t["name"], str(tmo), os.path.relpath(exe, build), " ".join(t["cmd"][1:])]))
EOF
EXCLUDE=${WW_VM_EXCLUDE-discard-oracle}
if [ -n "$EXCLUDE" ]; then
	say "not run in the VM (WW_VM_EXCLUDE): $(grep -E "^[^\t]*(${EXCLUDE})" "$list" | cut -f1 | tr '\n' ' ')"
	grep -vE "^[^\t]*(${EXCLUDE})" "$list" >"$list.f" || true
	mv "$list.f" "$list"
fi
if [ -n "${WW_VM_FILTER:-}" ]; then
	grep -E "^[^	]*(${WW_VM_FILTER})" "$list" >"$list.f" || die "WW_VM_FILTER matches no test"
	mv "$list.f" "$list"
elif [ "${WW_VM_ALL:-0}" != 1 ]; then
	# By default VM_SUITE (above): every backend's behaviour, memory
	# kinds, lifecycle and win32 tests, what the second kernel is for.
	grep -E "^(${VM_SUITE})(/|	)" "$list" >"$list.f" || die "no behavioural test in the list"
	mv "$list.f" "$list"
fi
targets=$(cut -f3 "$list" | sort -u)
# helper programs a test names by a path relative to the build directory
extra=$(cut -f4 "$list" | tr ' ' '\n' | sort -u | while read -r a; do
	case $a in tests/* | tools/*) echo "$a" ;; esac
done)
targets="$targets $extra"
ninja -C "$BUILD" $targets tools/writewatch >/dev/null || die "static build failed"
say "$(wc -l <"$list") tests"

# 3. The initramfs.
rd=$CACHE/initramfs
rm -rf "$rd"
mkdir -p "$rd"/{bin,proc,sys,dev,tmp,t/tools}
cp "$BUSYBOX" "$rd/bin/busybox"
for exe in $targets; do
	mkdir -p "$rd/t/$(dirname "$exe")"
	cp "$BUILD/$exe" "$rd/t/$exe"
done
cp "$BUILD/tools/writewatch" "$rd/t/tools/writewatch"
cp "$list" "$rd/tests.list"
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
export WW_ORACLE_SECONDS=$ORACLE_SECONDS
export WW_TEST_SLOW=1
echo "WWBOOT|\$(uname -r)"
sh /runtests.sh /tests.list /t
poweroff -f
EOF
chmod +x "$rd/init" "$rd/runtests.sh"
(cd "$rd" && find . | cpio -o -H newc --quiet) >"$CACHE/initrd.cpio"

# The disk file system, made afresh each run (a second or less).
disk=$CACHE/disk.img
rm -f "$disk"
mke2fs -q -F -t ext4 -L wwdisk "$disk" 128M >/dev/null || die "mke2fs failed"

# 4. Boot it.
console=$CACHE/console.log
say "booting under qemu (TCG, timeout ${TIMEOUT}s)"
# no_timer_check: under TCG on a busy host the kernel's IO-APIC timer test
# can time out and panic ("IO-APIC + timer doesn't work"); the timer is fine.
# A boot that never reaches our init (no WWBOOT line) is tried once more.
for attempt in 1 2; do
	t0=$(date +%s)
	timeout "$TIMEOUT" qemu-system-x86_64 -accel tcg -cpu max -smp "${WW_VM_SMP:-1}" -m 2048 -nographic -no-reboot \
		-kernel "$vmlinuz" -initrd "$CACHE/initrd.cpio" \
		-drive file="$disk",if=none,id=wwdisk,format=raw -device nvme,drive=wwdisk,serial=wwdisk \
		-append "console=ttyS0 quiet panic=-1 no_timer_check" </dev/null >"$console" 2>&1 || true
	# Terminal escapes and kernel messages may share a line with ours.
	tr -d '\r' <"$console" | sed 's/^.*\(WW[A-Z]*|\)/\1/' >"$console.txt"
	say "VM ran $(($(date +%s) - t0))s; console in $console.txt"
	grep -q '^WWBOOT|' "$console.txt" && break
	say "the VM did not reach init (attempt $attempt): $(grep -m1 -i 'panic' "$console.txt" || echo 'no panic message')"
done
grep '^  | ' "$console.txt" >&2 || true
say "disk in the VM: $(grep -m1 '^WWDISK|' "$console.txt" | cut -d'|' -f2- || echo 'no WWDISK line')"

# 5. The host column, with the same binaries and runner.
results=$CACHE/results.txt
grep -E '^(WWT|WWP|WWDONE|WWBOOT)\|' "$console.txt" >"$results" || true
if [ "${WW_VM_HOST:-1}" != 0 ]; then
	say "running the same tests on this host ($(uname -r))"
	sh "$ROOT/tests/vm/runtests.sh" "$list" "$BUILD" >"$CACHE/host.txt" 2>&1 || true
	grep '^  | ' "$CACHE/host.txt" >&2 || true
	grep -E '^(WWT|WWP|WWDONE)\|' "$CACHE/host.txt" >>"$results" || true
fi

# 6. The matrix.
python3 "$ROOT/tests/vm/matrix.py" "$results" "$(grep -m1 '^WWBOOT|' "$console.txt" | cut -d'|' -f2)" "$EXPECT"
