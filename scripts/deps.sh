#!/usr/bin/env bash
# Installs what building and testing writewatch needs on Debian 12, as root
# (or through sudo), and only what is missing. Used by `make` and .ci/run.
set -euo pipefail
pkgs=(meson ninja-build pkg-config gcc clang python3 libc6-dev gdb "$@")
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "installing: ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
