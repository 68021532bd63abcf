#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The device workloads' programs for the test guest, from Debian's packages
# of the guest's architecture: fio, iperf3, sockperf, iproute2's ip and
# OpenBSD's netcat, with the shared libraries they load and the dynamic
# loader.
#
#   mk/guest/tools.sh ARCH
#
# The packages are fetched with "apt-get download" (the arm64 ones through
# multiarch), unpacked under build/guest/tools-ARCH/pkgs, and only the
# programs and the closure of their DT_NEEDED libraries are staged in
# build/guest/tools-ARCH/root. Prints the path of a gen_init_cpio list of
# the staged files on stdout. Cached for the same packages and programs:
# remove build/guest/tools-ARCH to fetch again.
set -e
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/lib.sh"

[ $# -eq 1 ] || die "usage: $0 ARCH (x86_64 or arm64)"
guest_arch "$1"

case "$GARCH" in
x86_64)
	DARCH=amd64
	TRIPLET=x86_64-linux-gnu
	LOADER=/lib64/ld-linux-x86-64.so.2
	;;
arm64)
	DARCH=arm64
	TRIPLET=aarch64-linux-gnu
	LOADER=/lib/ld-linux-aarch64.so.1
	;;
esac

TOOLS="fio iperf3 sockperf iproute2 netcat-openbsd"
BINS="usr/bin/fio usr/bin/iperf3 usr/bin/sockperf bin/ip bin/nc.openbsd"
dir=$GUEST/tools-$GARCH
list=$dir/cpio.list
if [ -s "$list" ] && [ "$(cat "$dir/.done" 2>/dev/null)" = "$TOOLS $BINS" ]; then
	echo "$list"
	exit 0
fi

rm -rf "$dir"
mkdir -p "$dir/dl" "$dir/pkgs" "$dir/root"

if [ "$DARCH" != "$(dpkg --print-architecture)" ] &&
   ! dpkg --print-foreign-architectures | grep -qx "$DARCH"; then
	[ "$(id -u)" = 0 ] || die "run as root: dpkg --add-architecture $DARCH && apt-get update"
	dpkg --add-architecture "$DARCH"
	apt-get update -qq
fi

# The packages of the programs and every library package they depend on,
# for the guest's architecture; the unpacked tree is searched below for
# exactly the libraries the programs load.
want() {
	local t
	for t in $TOOLS; do
		echo "$t:$DARCH"
	done
	apt-cache depends --recurse --no-recommends --no-suggests \
		--no-conflicts --no-breaks --no-replaces --no-enhances \
		$(for t in $TOOLS; do echo "$t:$DARCH"; done) 2>/dev/null |
		grep -v '^[[:space:]<]' | sed "s/:$DARCH\$//" | grep -v : |
		sort -u | grep -E '^(lib|zlib)' |
		grep -vE '^lib(perl|python)|-(common|perl)$' | sed "s/\$/:$DARCH/"
}
pkgs=$(want | sort -u)
if [ "$(echo "$pkgs" | grep -c "^fio:")" = 0 ] || [ "$(echo "$pkgs" | wc -l)" -lt 10 ]; then
	apt-get update -qq || true
	pkgs=$(want | sort -u)
fi
step_err "guest tools $GARCH: fetching $(echo "$pkgs" | wc -l) Debian packages"
# One call for all; where that fails (a package of another architecture
# only, say), one call each: a library package missing here fails below
# only if a program needs a library from it.
if ! (cd "$dir/dl" && apt-get download -q $pkgs > "$dir/download.log" 2>&1); then
	for p in $pkgs; do
		(cd "$dir/dl" && apt-get download -q "$p" >> "$dir/download.log" 2>&1) ||
			echo "$p" >> "$dir/missing"
	done
fi
for t in $TOOLS; do
	ls "$dir"/dl/"${t}"_*.deb > /dev/null 2>&1 ||
		die "apt-get download $t:$DARCH failed (log: $dir/download.log)"
done
for deb in "$dir"/dl/*.deb; do
	dpkg-deb -x "$deb" "$dir/pkgs"
done

# find_lib SONAME: the library's path in the unpacked packages.
find_lib() {
	local d
	for d in lib/$TRIPLET usr/lib/$TRIPLET lib usr/lib; do
		if [ -e "$dir/pkgs/$d/$1" ]; then
			echo "$d/$1"
			return 0
		fi
	done
	# A private directory a library names in its RUNPATH (ceph's).
	d=$(cd "$dir/pkgs" && find . -name "$1" | sort | head -n 1)
	[ -n "$d" ] || return 1
	echo "${d#./}"
}

# needed FILE: the DT_NEEDED entries of an ELF file.
needed() {
	readelf -d "$1" 2>/dev/null | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'
}

staged=
stage() {
	local src=$dir/pkgs/$1 real
	case " $staged " in *" $1 "*) return 0 ;; esac
	staged="$staged $1"
	mkdir -p "$dir/root/$(dirname "$1")"
	real=$(readlink -f "$src")
	cp "$real" "$dir/root/$1"
}

queue=
for b in $BINS; do
	[ -f "$dir/pkgs/$b" ] || die "guest tools $GARCH: $b not in the packages"
	stage "$b"
	queue="$queue $b"
done
# The loader: the path every program names as its interpreter.
ld=$(find_lib "$(basename "$LOADER")") || die "guest tools $GARCH: no $(basename "$LOADER")"
stage "$ld"
while [ -n "$queue" ]; do
	set -- $queue
	f=$1
	shift
	queue="$*"
	for so in $(needed "$dir/root/$f"); do
		p=$(find_lib "$so") || die "guest tools $GARCH: $f needs $so, not found in the packages"
		case " $staged " in *" $p "*) continue ;; esac
		stage "$p"
		queue="$queue $p"
	done
done

{
	(cd "$dir/root" && find . -mindepth 1 -type d | sort) | while IFS= read -r p; do
		echo "dir /${p#./} 0755 0 0"
	done
	# The interpreter path the programs ask for.
	case "$LOADER" in
	/lib64/*) echo "dir /lib64 0755 0 0" ;;
	esac
	[ -e "$dir/root$LOADER" ] || echo "slink $LOADER /$ld 0777 0 0"
	(cd "$dir/root" && find . -type f | sort) | while IFS= read -r p; do
		echo "file /${p#./} $dir/root/${p#./} 0755 0 0"
	done
} > "$list"
rm -rf "$dir/dl"
echo "$TOOLS $BINS" > "$dir/.done"
step_err "guest tools $GARCH: $(echo $staged | wc -w) files, $(du -sh "$dir/root" | cut -f1)"
echo "$list"
