#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The device workloads stock against ours: boot each kernel in every mode
# with only selftests/iova/devices.sh in its bench mode (timed fio jobs of
# 4 KiB random and 1 MiB sequential I/O on the NVMe disk, iperf3 each way
# and sockperf request/response between the two NICs), QEMU counting the
# IOTLB and device-TLB invalidations of each workload, and write one table
# of throughput and invalidations per GB moved, the median of the boots
# with their spread.
#
#   mk/guest/devbench.sh ARCH
#
# Environment: DEVBENCH_ROUNDS (3: boots of each kernel and mode, stock and
# ours taking turns to go first), DEVBENCH_MODES ("strict lazy safedefer
# passthrough"; stock has no safe deferred mode: its safedefer row is
# stock booted without a mode parameter, its default mode (lazy on x86,
# strict on Arm), as in mk/guest/compare.sh), DEVBENCH_SECONDS (8: seconds of each timed
# workload), DEVBENCH_ATS (x86_64: 1, the NICs with ATS behind an IOMMU
# with device-iotlb=on, so that device-TLB invalidations are counted too,
# see boot.sh; 0: without; arm64: always 0), DEVBENCH_ICOUNT (3: also boot
# each kernel in each mode DEVBENCH_ICOUNT_ROUNDS (3) times more under
# QEMU's -icount shift=N with one vCPU, untraced, for a figure in
# instructions: instructions per KiB moved, from the guest's CPU busy time
# as its periodic tick samples it (see devtable.py); 0: none),
# CMDLINE (kernel parameters added to every boot). The devices.sh checks (domain types, fio's crc32c
# verification, TCP, request/response) run in every boot, so a boot whose
# data went wrong fails. Writes build/results/devbench-ARCH.json and
# devbench-ARCH.md (mk/guest/devtable.py); exits non-zero if a guest
# failed (the table then has the boots that did come back).
set -e -o pipefail
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/lib.sh"

[ $# -eq 1 ] || die "usage: $0 ARCH"
guest_arch "$1"
rounds=${DEVBENCH_ROUNDS:-3}
modes=${DEVBENCH_MODES:-strict lazy safedefer passthrough}
secs=${DEVBENCH_SECONDS:-8}
ats=0
[ "$GARCH" != x86_64 ] || ats=${DEVBENCH_ATS:-1}
icount=${DEVBENCH_ICOUNT:-3}
irounds=${DEVBENCH_ICOUNT_ROUNDS:-3}
case "$icount$irounds" in
*[!0-9]*) die "DEVBENCH_ICOUNT=$icount DEVBENCH_ICOUNT_ROUNDS=$irounds: numbers only" ;;
esac
icount=$((icount))
[ "$GUEST_KVM" != 1 ] || icount=0	# boot.sh has no -icount under KVM
if [ "$icount" = 0 ] || [ "$irounds" = 0 ]; then
	icount=
	irounds=0
fi
for m in $modes; do
	mode_param "$m" > /dev/null
done

# No table of an earlier run may stand for this one if it fails.
rm -f "$RESULTS/devbench-$GARCH.json" "$RESULTS/devbench-$GARCH.md"

t0=$(date +%s)
step "devbench $GARCH: stock against ours, $rounds round(s) and $irounds -icount${icount:+ (shift=$icount)}, ${secs}s per workload, modes $modes, ATS $ats"
k_stock=$("$GUEST_DIR/kernel.sh" "$GARCH" stock | tail -n 1)
k_ours=$(GUEST_NO_TREE=1 "$GUEST_DIR/kernel.sh" "$GARCH" ours | tail -n 1)
initrd=$(GUEST_NO_TREE=1 "$GUEST_DIR/initramfs.sh" "$GARCH" | tail -n 1)
t_kernels=$(date +%s)

# pick FLAVOR MODE: the kernel and mode parameter of one boot. Stock has
# no safe deferred mode: its row is stock's default mode, booted as such,
# so that devices.sh checks the domain type it asks for.
pick() {
	kernel=$k_ours
	param=$(mode_param "$2")
	if [ "$1" = stock ]; then
		kernel=$k_stock
		[ "$2" != safedefer ] || param=
	fi
}

# Five timed workloads and the verified fio job, each with a second of
# settling, plus a slow TCG boot.
timeout=${GUEST_TIMEOUT:-$((300 + 12 * secs))}
bad=
names=
round=0
while [ "$round" -lt "$rounds" ]; do
	round=$((round + 1))
	# Alternate which flavour boots first, so that a change of the host's
	# load over time does not always favour the same one.
	order="stock ours"
	[ $((round % 2)) = 0 ] && order="ours stock"
	for mode in $modes; do
		for flavor in $order; do
			name=devbench-$GARCH-$mode-$flavor-r$round
			names="$names $name"
			pick "$flavor" "$mode"
			GUEST_TRACE=1 GUEST_ATS=$ats GUEST_DEVICES=1 \
				GUEST_TIMEOUT=$timeout GUEST_FLAVOR=$flavor \
				GUEST_MODE=$mode \
				"$GUEST_DIR/boot.sh" "$GARCH" "$name" "$kernel" \
				"$initrd" $param \
				iovatest.run=iova:devices.sh iovatest.devbench=1 \
				iovatest.devsecs="$secs" $CMDLINE || bad="$bad $name"
		done
	done
done
t_boots=$(date +%s)

# The figure in instructions: instructions per KiB, from boots under
# -icount with one vCPU (whose busy time then counts instructions, as the
# periodic tick samples it). QEMU 7.2 stalls such a guest now and then: a
# boot that stalled (timed out, or never finished its TAP) is run once
# more, and said so; one that failed a check is not.
inames=
retried=
round=0
while [ "$round" -lt "$irounds" ]; do
	round=$((round + 1))
	order="stock ours"
	[ $((round % 2)) = 0 ] && order="ours stock"
	for mode in $modes; do
		for flavor in $order; do
			name=devbench-$GARCH-$mode-$flavor-icount-r$round
			inames="$inames $name"
			pick "$flavor" "$mode"
			ok=
			for try in 1 2; do
				if GUEST_ICOUNT=$icount GUEST_SMP=1 GUEST_ATS=$ats \
				   GUEST_DEVICES=1 GUEST_TIMEOUT=$timeout \
				   GUEST_FLAVOR=$flavor GUEST_MODE=$mode \
				   "$GUEST_DIR/boot.sh" "$GARCH" "$name" "$kernel" \
				   "$initrd" $param \
				   iovatest.run=iova:devices.sh iovatest.devbench=1 \
				   iovatest.devsecs="$secs" $CMDLINE; then
					ok=1
					break
				fi
				[ "$try" = 1 ] && grep -Eq '"error":"(timed out|guest did not finish|incomplete TAP)' \
					"$RESULTS/guest/$name.json" 2>/dev/null || break
				retried="$retried $name"
			done
			[ -n "$ok" ] || bad="$bad $name"
		done
	done
done
t_end=$(date +%s)

qemu_version=$($QEMU --version | head -n 1)
kver=$(cat "$BUILD/KERNEL_VERSION" 2>/dev/null || echo unknown)
mkdir -p "$RESULTS"
took="$((t_end - t0)) s in all: kernels and initramfs $((t_kernels - t0)) s, $(echo $names | wc -w) boots $((t_boots - t_kernels)) s"
[ -z "$inames" ] ||
	took="$took, $(echo $inames | wc -w) -icount boots $((t_end - t_boots)) s"
[ -z "$retried" ] || took="$took (booted again after a stall:$retried)"
{
	for n in $names; do
		[ ! -f "$RESULTS/guest/$n.json" ] || cat "$RESULTS/guest/$n.json"
	done
	# Tag the -icount boots' lines for the table.
	for n in $inames; do
		[ ! -f "$RESULTS/guest/$n.json" ] ||
			sed "s/^{/{\"icount\":$icount,/" "$RESULTS/guest/$n.json"
	done
} | python3 "$GUEST_DIR/devtable.py" --arch "$GARCH" --modes "$modes" \
	--rounds "$rounds" --seconds "$secs" --ats "$ats" \
	${icount:+--icount "$icount" --icount-rounds "$irounds"} \
	--qemu "$qemu_version" --kernel "$kver" \
	--took "$took" \
	--json "$RESULTS/devbench-$GARCH.json" \
	--md "$RESULTS/devbench-$GARCH.md" || bad="$bad (table incomplete)"

if [ -n "$bad" ]; then
	step "devbench $GARCH: failed boots:$bad (logs in $RESULTS/guest/)"
	exit 1
fi
step "devbench $GARCH: $(echo $names $inames | wc -w) boots in $((t_end - t0)) s; table in $RESULTS/devbench-$GARCH.md and .json"
