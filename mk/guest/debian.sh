#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# A Debian 12 guest with the real tracing tools (perf, bcc, bpftrace), for
# looking at the patched kernel with them. Not part of make check: it is
# slow under TCG. x86_64 only (q35 + intel-iommu + edu, like the busybox
# guest).
#
#   mk/guest/debian.sh build            root filesystem and kernel
#   mk/guest/debian.sh run SCRIPT [ARG...]
#                                       boot, run SCRIPT inside as root
#                                       with ARGs, power off
#   mk/guest/debian.sh cmd 'COMMAND'    the same with a shell command
#
# The root filesystem is made once with debootstrap (bookworm, from the
# archive apt uses on this machine, or DEBIAN_MIRROR) and cached as an ext4 image in
# build/guest/debian-x86_64/ (remove that directory to make it again). It
# carries linux-perf, bpfcc-tools and bpftrace. The guest boots it as a
# throw-away snapshot, with /sbin/iova-init as init (no systemd): it mounts
# the pseudo file systems, the host directory build/guest/debian-x86_64/io
# at /host (SCRIPT is copied there) and the busybox guest's kselftests at
# /kselftest (read-only), runs the script and powers off. Whatever the
# script writes under /host/out lands in build/results/debian/, with the
# serial console as console.log (DEBIAN_RESULTS=NAME: build/results/NAME/
# instead).
#
# The kernel is build/guest/x86_64-debian: the "ours" guest kernel plus
# mk/guest/debian.config (BPF, kprobes, uprobes, BTF, in-kernel headers,
# ext4, virtio, 9p).
#
# Besides its root disk (virtio, which bypasses the IOMMU) the guest has
# an NVMe disk behind the IOMMU, a blank scratch image of DEBIAN_NVME_MB
# (256) MiB made for each boot (fio in the root filesystem exercises it:
# mk/guest/debian-nvme.sh runs fio on it under perf stat and bcc's
# stackcount of the unmap path).
#
# Environment: CMDLINE (extra kernel parameters, e.g. iommu.strict=1),
# DEBIAN_TIMEOUT (seconds, default 1800), GUEST_SMP (2), GUEST_MEM (2G),
# DEBIAN_MIRROR, DEBIAN_NVME_MB (256).
set -e
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/lib.sh"

guest_arch x86_64
DEB=$GUEST/debian-$GARCH
IMG=$DEB/rootfs.ext4
SUITE=bookworm
PKGS=linux-perf,bpfcc-tools,bpftrace,python3,procps,kmod,less,xz-utils,fio

# The Debian archive apt uses on this machine: DEBIAN_MIRROR, else the first
# enabled "deb" source for $SUITE in /etc/apt/sources.list.d/*.sources
# (deb822), /etc/apt/sources.list.d/*.list or /etc/apt/sources.list. No
# archive is built in: without one the build stops and says so.
mirror() {
	local m f
	[ -z "$DEBIAN_MIRROR" ] || { echo "$DEBIAN_MIRROR"; return; }
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -r "$f" ] || continue
		m=$(awk -v suite="$SUITE" '
			function check() {
				if (!found && deb && on && hit && uri != "") {
					print uri
					found = 1
					exit
				}
				deb = 0; on = 1; hit = 0; uri = ""
			}
			BEGIN { on = 1 }
			/^[ \t]*#/ { next }
			/^[ \t]*$/ { check(); next }
			{
				k = tolower($1)
				if (k == "types:")
					for (i = 2; i <= NF; i++) deb += ($i == "deb")
				else if (k == "uris:")
					uri = $2
				else if (k == "suites:")
					for (i = 2; i <= NF; i++) hit += ($i == suite)
				else if (k == "enabled:")
					on = (tolower($2) != "no")
			}
			END { check() }' "$f")
		[ -z "$m" ] || { echo "$m"; return; }
	done
	for f in /etc/apt/sources.list.d/*.list /etc/apt/sources.list; do
		[ -r "$f" ] || continue
		m=$(sed -E 's/^deb +\[[^]]*\] +/deb /' "$f" |
			awk -v suite="$SUITE" '$1 == "deb" && $3 == suite { print $2; exit }')
		[ -z "$m" ] || { echo "$m"; return; }
	done
	return 1
}

# The init of the guest: no service manager, one script, power off.
write_init() {
	cat > "$1" <<'EOF'
#!/bin/sh
# /sbin/iova-init of the Debian tool guest (written by mk/guest/debian.sh)
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root LANG=C.UTF-8 TERM=dumb
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
mount -t debugfs debugfs /sys/kernel/debug
mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null
mount -t bpf bpf /sys/fs/bpf 2>/dev/null
ln -sf /proc/self/fd /dev/fd
mkdir -p /host /kselftest
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 host /host
mount -t 9p -o trans=virtio,version=9p2000.L,ro kselftest /kselftest
hostname iova-debian
mkdir -p /host/out
echo "# iova-debian: Linux $(uname -r), $(nproc) CPUs, $(cat /proc/cmdline)"
t0=$(date +%s)
rc=0
if [ -f /host/cmd/run ]; then
	(cd /host/out && sh /host/cmd/run $(cat /host/cmd/args)) 2>&1 || rc=$?
else
	echo "# iova-debian: no script"
	rc=1
fi
echo "# iova-debian: done rc=$rc after $(($(date +%s) - t0))s"
echo "$rc" > /host/out/rc
sync
umount /host /kselftest 2>/dev/null
echo o > /proc/sysrq-trigger
sleep 10
EOF
	chmod 755 "$1"
}

build_rootfs() {
	local root=$DEB/root m
	if [ -f "$IMG" ] && [ -f "$DEB/packages" ] &&
	   [ "$(cat "$DEB/packages")" = "$SUITE $PKGS" ]; then
		return
	fi
	[ "$(id -u)" = 0 ] || die "debootstrap needs root"
	command -v debootstrap >/dev/null || {
		step "debian: installing debootstrap"
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			--no-install-recommends debootstrap >/dev/null ||
			die "apt-get install debootstrap failed"
	}
	m=$(mirror) || die "no Debian archive for $SUITE in the apt configuration (/etc/apt/sources.list, /etc/apt/sources.list.d/); set DEBIAN_MIRROR to one"
	rm -rf "$DEB/root" "$IMG" "$DEB/packages"
	mkdir -p "$DEB"
	t0=$(date +%s)
	step "debian: debootstrap $SUITE from $m (log $DEB/debootstrap.log)"
	run_logged "$DEB/debootstrap.log" debootstrap --variant=minbase \
		--include="$PKGS" "$SUITE" "$root" "$m"
	step "debian: debootstrap took $(($(date +%s) - t0))s, $(du -sh "$root" | cut -f1)"
	write_init "$root/sbin/iova-init"
	echo iova-debian > "$root/etc/hostname"
	printf '/dev/vda / ext4 rw 0 1\n' > "$root/etc/fstab"
	rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*_Packages
	step "debian: ext4 image"
	run_logged "$DEB/mkfs.log" mkfs.ext4 -q -F -L iova-debian -d "$root" "$IMG" 4G
	echo "$SUITE $PKGS" > "$DEB/packages"
}

build_kernel() {
	GUEST_NO_TREE=$GUEST_NO_TREE bash "$TOP/mk/guest/kernel.sh" x86_64 debian
}

build_kselftests() {
	# The busybox guest's initramfs build also builds and installs the
	# kselftests (dma_map_benchmark among them).
	[ -x "$GUEST/kselftest-$GARCH/install/iova/dma_map_benchmark" ] ||
		GUEST_NO_TREE=1 bash "$TOP/mk/guest/initramfs.sh" "$GARCH" >/dev/null
}

run_script() {
	local script=$1 kernel out io rc
	shift
	[ -f "$script" ] || die "no script $script"
	build_rootfs
	kernel=$(build_kernel)
	build_kselftests
	out=$RESULTS/${DEBIAN_RESULTS:-debian}
	io=$DEB/io
	rm -rf "$io"
	rm -rf "$out"
	mkdir -p "$io/cmd" "$io/out" "$out"
	cp "$script" "$io/cmd/run"
	echo "$*" > "$io/cmd/args"
	# Tools of this repository the script may want.
	cp -r "$TOP/tools/iova" "$io/tools"
	# The NVMe disk behind the IOMMU: blank for every boot.
	rm -f "$DEB/nvme.img"
	truncate -s "${DEBIAN_NVME_MB:-256}M" "$DEB/nvme.img"
	step "debian: boot and run $(basename "$script") $* (console: $out/console.log)"
	t0=$(date +%s)
	rc=0
	# One TCG thread for all vCPUs: with one thread per vCPU, a CPU could
	# still run the int3 of a kprobe that bcc had just removed (seen once
	# as an "Oops: int3" at the probed function's entry while both CPUs ran
	# dma_map_benchmark).
	timeout -k 10 "${DEBIAN_TIMEOUT:-1800}" $QEMU -accel tcg,thread=single \
		-machine q35,kernel-irqchip=split -device intel-iommu,intremap=on \
		-device edu -smp "${GUEST_SMP:-2}" -m "${GUEST_MEM:-2G}" \
		-nographic -no-reboot \
		-drive "file=$IMG,if=virtio,format=raw,snapshot=on" \
		-drive "file=$DEB/nvme.img,if=none,id=nvm,format=raw,cache=unsafe" \
		-device nvme,serial=iova0,drive=nvm \
		-virtfs "local,path=$io,mount_tag=host,security_model=none" \
		-virtfs "local,path=$GUEST/kselftest-$GARCH/install,mount_tag=kselftest,security_model=none,readonly=on" \
		-kernel "$kernel" \
		-append "console=ttyS0 no_timer_check root=/dev/vda rw rootfstype=ext4 init=/sbin/iova-init panic=-1 $CMDLINE" \
		< /dev/null > "$out/console.raw" 2>&1 || rc=$?
	rm -f "$DEB/nvme.img"
	tr -d '\r' < "$out/console.raw" > "$out/console.log"
	rm -f "$out/console.raw"
	cp -r "$io/out/." "$out/"
	step "debian: guest ran $(($(date +%s) - t0))s (qemu rc=$rc, script rc=$(cat "$out/rc" 2>/dev/null || echo none))"
	[ "$rc" = 0 ] && [ "$(cat "$out/rc" 2>/dev/null)" = 0 ]
}

case "$1" in
build)
	build_rootfs
	build_kernel >/dev/null
	;;
rootfs)
	build_rootfs
	;;
run)
	shift
	[ $# -ge 1 ] || die "usage: $0 run SCRIPT [ARG...]"
	run_script "$@"
	;;
cmd)
	shift
	[ $# -ge 1 ] || die "usage: $0 cmd 'COMMAND'"
	mkdir -p "$DEB"
	printf '#!/bin/sh\n%s\n' "$*" > "$DEB/cmd.sh"
	run_script "$DEB/cmd.sh"
	;;
*)
	die "usage: $0 build | rootfs | run SCRIPT [ARG...] | cmd 'COMMAND'"
	;;
esac
