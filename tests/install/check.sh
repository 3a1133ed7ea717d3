#!/usr/bin/env bash
# Installs the build into a scratch prefix, compiles tests/install/contract.c
# with nothing but `pkg-config --cflags --libs writewatch`, and runs it on
# every backend AUTO can be forced to that works here. Prints one
# "install-contract/BACKEND: OK|FAIL|SKIP" line per backend.
set -uo pipefail
exec > >(tee "${1:-build}/install-contract.log")
build=${1:-build}
src=$(cd "$(dirname "$0")" && pwd)
dest=$(mktemp -d)
trap 'rm -rf "$dest"' EXIT
meson install -C "$build" --destdir "$dest" --quiet >/dev/null || { echo "install-contract/install: FAIL"; exit 1; }
prefix=$(meson introspect "$build" --buildoptions | python3 -c 'import json,sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"]=="prefix"))')
libdir=$(meson introspect "$build" --buildoptions | python3 -c 'import json,sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"]=="libdir"))')
export PKG_CONFIG_SYSROOT_DIR="$dest"
export PKG_CONFIG_PATH="$dest$prefix/$libdir/pkgconfig"
exe="$dest/contract"
# shellcheck disable=SC2046
if ! cc -std=c11 -D_DEFAULT_SOURCE -Wall -Werror -o "$exe" "$src/contract.c" $(pkg-config --cflags --libs writewatch); then
	echo "install-contract/compile: FAIL"
	exit 1
fi
status=0
# AUTO, then every mechanism the library has (its own list, from the probe)
backends=$("$build/tools/writewatch" probe --json |
	python3 -c "import json,sys; print(' '.join(b['name'] for b in json.load(sys.stdin)['backends']))")
for b in auto $backends; do
	if [ "$b" != auto ] && ! "$build/tools/writewatch" probe --json | python3 -c "import json,sys; sys.exit(0 if any(x['name']=='$b' and x['works'] for x in json.load(sys.stdin)['backends']) else 1)"; then
		echo "install-contract/$b: SKIP (backend does not work here)"
		continue
	fi
	if out=$(WRITEWATCH_BACKEND=$b LD_LIBRARY_PATH="$dest$prefix/$libdir" "$exe" 2>&1); then
		echo "install-contract/$b: OK ($out)"
	else
		echo "install-contract/$b: FAIL ($out)"
		status=1
	fi
done
exit $status
