#!/bin/sh
# Runs every test of a list and prints one parseable line per test:
#   WWT|<kernel release>|<test name>|pass|skip|fail|<exit code>|<reason>|<secs>s
# (the reason is the test's SKIP line for a skip, else its last line), then
# `writewatch probe` as WWP lines, its --json as one WWJ line, and a final
# WWDONE line. Used inside the
# VM (busybox sh, run by /init) and on the host, so both columns of the
# matrix come from the same code.
# usage: runtests.sh LIST BINDIR
# LIST lines: name<TAB>timeout<TAB>executable (relative to BINDIR)<TAB>args
list=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
bindir=$2
# meson runs tests from the build directory; some name helpers relative to it
cd "$bindir" || exit 1
kernel=$(uname -r)
tab=$(printf '\t')
out=${TMPDIR:-/tmp}/wwt.$$
while IFS="$tab" read -r name tmo exe args; do
	[ -n "$name" ] || continue
	t0=$(date +%s)
	# shellcheck disable=SC2086 # args is a word list on purpose
	timeout "$tmo" "./$exe" $args >"$out" 2>&1
	rc=$?
	secs=$(($(date +%s) - t0))
	case $rc in
	0) st=pass reason=$(tail -n 1 "$out") ;;
	77) st=skip reason=$(grep -m1 '^SKIP' "$out" | sed 's/^SKIP: *//') ;;
	*)
		st=fail reason=$(tail -n 1 "$out")
		[ "$rc" -eq 124 ] || [ "$rc" -eq 143 ] && reason="timed out after ${tmo}s"
		sed "s/^/  | /" "$out"
		;;
	esac
	echo "WWT|$kernel|$name|$st|$rc|$(echo "$reason" | tr '|' '/')|${secs}s"
done <"$list"
rm -f "$out"
if [ -x tools/writewatch ]; then
	tools/writewatch probe 2>&1 | sed "s/^/WWP|$kernel|/"
	echo "WWJ|$kernel|$(tools/writewatch probe --json 2>/dev/null | tr -d '\n')"
fi
echo "WWDONE|$kernel"
