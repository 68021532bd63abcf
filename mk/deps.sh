#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Install whatever the targets need and is missing. Debian 12 packages only.
set -e
. "$(dirname "$0")/lib.sh"

PKGS="linux-source-6.12 qemu-system-x86 qemu-system-arm gcc-aarch64-linux-gnu
libc6-dev-arm64-cross busybox-static cpio flex bison bc libelf-dev libssl-dev
ccache sparse python3 rsync xz-utils git make gcc perl kmod gnuplot-nox jq
dwarves valgrind clang llvm"

missing=
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0

step "deps: installing$missing"
if [ "$(id -u)" != 0 ]; then
	sudo=
	command -v sudo >/dev/null && sudo=sudo
	[ -n "$sudo" ] || die "not root: run as root: apt-get install$missing"
else
	sudo=
fi
$sudo apt-get update -qq || die "apt-get update failed; run: apt-get update && apt-get install$missing"
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null ||
	die "apt-get install failed; run: apt-get install$missing"
step "deps: done"
