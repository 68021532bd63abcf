# SPDX-License-Identifier: GPL-2.0
# Helpers shared by the guest scripts (kernel, initramfs, boot, compare).
# Sourced after mk/lib.sh.

GUEST=$BUILD/guest
GUEST_DIR=$TOP/mk/guest

# guest_arch ARCH: validate and normalise the architecture name; sets
# KARCH (kernel ARCH=), CROSS (CROSS_COMPILE=), GCC, IMAGE (path of the
# boot image inside the build directory) and QEMU.
guest_arch() {
	case "$1" in
	x86_64 | x86 | amd64 | "")
		GARCH=x86_64
		KARCH=x86_64
		CROSS=
		GCC=gcc
		IMAGE=arch/x86/boot/bzImage
		QEMU=qemu-system-x86_64
		;;
	arm64 | aarch64)
		GARCH=arm64
		KARCH=arm64
		CROSS=aarch64-linux-gnu-
		GCC=aarch64-linux-gnu-gcc
		IMAGE=arch/arm64/boot/Image
		QEMU=qemu-system-aarch64
		;;
	*)
		die "unknown guest architecture '$1' (x86_64 or arm64)"
		;;
	esac
}

# Send progress to stderr where stdout carries a result (a path).
step_err() {
	step "$@" >&2
}

# run_logged LOG CMD...: run a command with its output in LOG; on failure
# show the end of the log and fail.
run_logged() {
	local log=$1
	shift
	if ! "$@" >"$log" 2>&1; then
		tail -n 40 "$log" >&2
		die "failed: $* (full log: $log)"
	fi
}

# The trace events that count the guest's IOTLB invalidations, one rule a
# line: "CLASS EVENT [REGEX]", the event counted in CLASS where its trace
# line matches REGEX (no spaces), or always. Classes: "pages" (page-range),
# "domain" (whole domain / ASID), "global"; and what they cost: "wait"
# (VT-d invalidation wait descriptors, the completion waits of queued
# invalidation: Linux's qi_submit_sync() asks for a status write,
# interrupt-remapping ones included), "tlbi" and "sync" (the SMMUv3 TLBI
# commands and the CMD_SYNCs consumed: QEMU 7.2 traces every command as
# smmuv3_cmdq_opcode with its name, and none of CMD_SYNC on its own) and
# "cmds" (every SMMUv3 command). Invalidation commands per unmap are
# pages + domain + global (+ devtlb) on x86_64, tlbi on arm64
# (mk/guest/table.py); completion waits are wait, or sync.
inv_events() {
	case "$GARCH" in
	x86_64)
		echo "pages vtd_inv_desc_iotlb_pages"
		echo "pages vtd_inv_desc_iotlb_pasid_pages"
		echo "domain vtd_inv_desc_iotlb_domain"
		echo "domain vtd_inv_desc_iotlb_pasid"
		echo "global vtd_inv_desc_iotlb_global"
		echo "wait vtd_inv_desc_wait_sw"
		echo "wait vtd_inv_desc_wait_irq"
		# QEMU 7.2 traces a device-TLB invalidation descriptor only
		# as vtd_inv_desc of type "device".
		[ "$GUEST_ATS" != 1 ] || echo "devtlb vtd_inv_desc type.device"
		;;
	arm64)
		# The classes count commands, by their names in
		# smmuv3_cmdq_opcode. QEMU 7.2 traces a range TLBI once
		# per power-of-two chunk of its range as
		# smmuv3_s1_range_inval (so more often than the commands),
		# and smmu_iotlb_inv_iova only on some paths: both kept apart.
		echo "pages smmuv3_cmdq_opcode SMMU_CMD_TLBI_(NH_VA|NH_VAA|EL2_VA|EL2_VAA|S2_IPA)$"
		echo "pages_chunks smmuv3_s1_range_inval"
		echo "pages_iotlb smmu_iotlb_inv_iova"
		echo "domain smmuv3_cmdq_opcode SMMU_CMD_TLBI_(NH_ASID|EL2_ASID|S12_VMALL)$"
		echo "global smmuv3_cmdq_opcode SMMU_CMD_TLBI_(NH_ALL|EL2_ALL|NSNH_ALL)$"
		echo "cmds smmuv3_cmdq_opcode"
		echo "tlbi smmuv3_cmdq_opcode SMMU_CMD_TLBI_"
		echo "sync smmuv3_cmdq_opcode SMMU_CMD_SYNC$"
		;;
	esac
}

# mode_param MODE: the kernel parameter that selects an IOMMU DMA mode.
# "safedefer" is the rework's safe deferred mode: a stock kernel ignores
# the parameter and boots in its default mode (lazy on x86, strict on Arm).
mode_param() {
	case "$1" in
	strict) echo iommu.strict=1 ;;
	lazy) echo iommu.strict=0 ;;
	safedefer) echo iommu.safedefer=1 ;;
	passthrough) echo iommu.passthrough=1 ;;
	*) die "unknown mode '$1' (strict, lazy, safedefer, passthrough)" ;;
	esac
}

# guest_devices: whether the guest gets the device workloads' hardware
# and programs (selftests/iova/devices.sh): GUEST_DEVICES=0/1, on by
# default on every architecture.
guest_devices() {
	[ "${GUEST_DEVICES:-1}" != 0 ]
}

# The guest of mk/guest/steptrace.sh and irqsoff.sh, stepped over QEMU's
# gdbstub while dma_map_bench.sh runs in it.
# gdb_guest_boot LOG PORT KERNEL INITRD APPEND [QEMU-ARG...]: boot it in
# the background (QEMU's PID in GDB_QEMU), the gdbstub on PORT, the
# console in LOG.
gdb_guest_boot() {
	local log=$1 port=$2 kernel=$3 initrd=$4 append=$5
	shift 5
	$QEMU -accel tcg "$@" -device edu -smp 2 -m 512M \
		-nographic -no-reboot -kernel "$kernel" -initrd "$initrd" \
		-append "$append" -gdb "tcp:127.0.0.1:$port" < /dev/null > "$log" 2>&1 &
	GDB_QEMU=$!
}

# gdb_guest_wait LOG PATTERN SECONDS: until LOG has PATTERN; non-zero when
# QEMU ended or SECONDS passed first.
gdb_guest_wait() {
	local i
	for ((i = 0; i < $3; i++)); do
		grep -qs "$2" "$1" && return 0
		kill -0 "$GDB_QEMU" 2> /dev/null || return 1
		sleep 1
	done
	return 1
}

# gdb_guest_stop: end the guest of gdb_guest_boot.
gdb_guest_stop() {
	kill "$GDB_QEMU" 2> /dev/null || true
	wait "$GDB_QEMU" 2> /dev/null || true
}

# vmlinux_addr VMLINUX FUNCTION: the address of FUNCTION's first symbol.
vmlinux_addr() {
	nm "$1" | awk -v f="$2" '$3 == f && !n++ { print $1 }'
}
