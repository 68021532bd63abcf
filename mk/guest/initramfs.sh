#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Build the test guest's initramfs.
#
#   mk/guest/initramfs.sh ARCH
#
# Contents: a static busybox (Debian's busybox-static; for arm64 the arm64
# package fetched through multiarch), mk/guest/init as /init, and the
# kselftest collection tools/testing/selftests/iova of build/linux built
# statically and installed with run_kselftest.sh, and the device
# workloads' programs with their libraries (mk/guest/tools.sh). The cpio is written by
# the kernel's own usr/gen_init_cpio, so no root rights are needed for the
# device nodes. Prints the path of the (gzipped) initramfs on stdout.
set -e
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/lib.sh"

[ $# -eq 1 ] || die "usage: $0 ARCH (x86_64 or arm64)"
guest_arch "$1"
clean_make_env

# The tests come from build/linux: keep it in step with the repository
# unless the caller (the Makefile) has just done it.
if [ -z "$GUEST_NO_TREE" ] || [ ! -f "$KSRC/Makefile" ]; then
	bash "$TOP/mk/tree.sh" >&2
fi
[ -f "$KSRC/Makefile" ] || die "$KSRC missing: run 'make tree'"
mkdir -p "$GUEST/bin" "$GUEST/pkgs"

# --- busybox ---------------------------------------------------------------
bb_check() {
	local want
	case "$GARCH" in
	x86_64) want="x86-64" ;;
	arm64) want="ARM aarch64" ;;
	esac
	file -L "$1" 2>/dev/null | grep -q "$want.*statically linked"
}

case "$GARCH" in
x86_64)
	BUSYBOX=/bin/busybox
	bb_check "$BUSYBOX" || die "$BUSYBOX is not a static x86-64 busybox: apt-get install busybox-static"
	;;
arm64)
	BUSYBOX=$GUEST/pkgs/busybox-arm64/bin/busybox
	if ! bb_check "$BUSYBOX"; then
		step_err "initramfs arm64: fetching Debian's busybox-static:arm64"
		if ! dpkg --print-foreign-architectures | grep -qx arm64; then
			[ "$(id -u)" = 0 ] || die "run as root: dpkg --add-architecture arm64 && apt-get update"
			dpkg --add-architecture arm64
			apt-get update -qq
		fi
		rm -rf "$GUEST/pkgs/dl" "$GUEST/pkgs/busybox-arm64"
		mkdir -p "$GUEST/pkgs/dl"
		(cd "$GUEST/pkgs/dl" && apt-get download -q busybox-static:arm64 >/dev/null 2>&1) ||
			(apt-get update -qq && cd "$GUEST/pkgs/dl" && apt-get download -q busybox-static:arm64 >/dev/null) ||
			die "cannot download busybox-static:arm64 (apt-get download busybox-static:arm64)"
		dpkg-deb -x "$GUEST"/pkgs/dl/busybox-static_*_arm64.deb "$GUEST/pkgs/busybox-arm64"
		rm -rf "$GUEST/pkgs/dl"
		bb_check "$BUSYBOX" || die "$BUSYBOX: not a static arm64 binary"
	fi
	;;
esac

# --- kselftests ------------------------------------------------------------
KST=$GUEST/kselftest-$GARCH
step_err "initramfs $GARCH: kselftests (static, $GCC)"
rm -rf "$KST/install"
# CFLAGS/LDFLAGS from the environment: the test Makefiles append to them.
run_logged "$KST.log" env CFLAGS="-static" LDFLAGS="-static" \
	make -C "$KSRC/tools/testing/selftests" ARCH="$KARCH" \
	${CROSS:+CROSS_COMPILE=$CROSS} TARGETS=iova O="$KST" \
	INSTALL_PATH="$KST/install" -j"$(nproc)" install
for f in iommu_group_type dma_map_benchmark; do
	file "$KST/install/iova/$f" | grep -q "statically linked" ||
		die "$KST/install/iova/$f is not a static binary"
done

# --- the device workloads' programs (Debian's, of the guest's architecture)
tools=/dev/null
if guest_devices; then
	tools=$("$GUEST_DIR/tools.sh" "$GARCH" | tail -n 1) ||
		die "guest tools for $GARCH could not be staged"
fi

# --- cpio --------------------------------------------------------------------
GEN=$GUEST/bin/gen_init_cpio
if [ ! -x "$GEN" ] || [ "$KSRC/usr/gen_init_cpio.c" -nt "$GEN" ]; then
	gcc -O2 -o "$GEN" "$KSRC/usr/gen_init_cpio.c"
fi

list=$GUEST/initramfs-$GARCH.list
{
	for d in /bin /sbin /usr /usr/bin /usr/sbin /dev /proc /sys /tmp /root /kselftest; do
		echo "dir $d 0755 0 0"
	done
	echo "nod /dev/console 0600 0 0 c 5 1"
	echo "nod /dev/null 0666 0 0 c 1 3"
	echo "file /bin/busybox $BUSYBOX 0755 0 0"
	echo "slink /bin/sh busybox 0777 0 0"
	echo "file /init $GUEST_DIR/init 0755 0 0"
	# The programs' directories that the list above already has.
	grep -vE '^dir /(bin|sbin|usr|usr/bin|usr/sbin)( |$)' "$tools" || true
	(cd "$KST/install" && find . -mindepth 1 | sort) | while IFS= read -r p; do
		p=${p#./}
		src=$KST/install/$p
		if [ -L "$src" ]; then
			echo "slink /kselftest/$p $(readlink "$src") 0777 0 0"
		elif [ -d "$src" ]; then
			echo "dir /kselftest/$p 0755 0 0"
		else
			echo "file /kselftest/$p $src $(stat -c %a "$src") 0 0"
		fi
	done
} > "$list"

img=$GUEST/initramfs-$GARCH.cpio.gz
"$GEN" "$list" | gzip -n -6 > "$img.tmp"
mv "$img.tmp" "$img"
step_err "initramfs $GARCH: $(du -h "$img" | cut -f1) $img"
echo "$img"
