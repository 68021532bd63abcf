#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Stock against ours in one run: build both guest kernels, boot each in
# every mode with only dma_map_bench.sh, QEMU counting IOTLB invalidations,
# and print one table of map/unmap latency and invalidations side by side.
#
#   mk/guest/compare.sh ARCH
#
# Environment: BENCH_SECONDS (5) seconds per benchmark run, BENCH_THREADS
# ("1,2"), BENCH_GRANULE (1), BENCH_REPEAT (1: runs per thread count and
# boot, the table shows the median), BENCH_ROUNDS (1: boots of each kernel
# and mode, stock and ours alternating which goes first), GUEST_MODES ("strict lazy safedefer
# passthrough"; a stock kernel ignores iommu.safedefer=1 and runs its
# default mode, so that row compares stock's default with ours), CMDLINE
# (kernel parameters added to every boot), BENCH_COUNT (1: count each
# run's unmaps exactly in a second run of it, for invalidations per
# million unmaps; 0: estimate them from the latencies), COMPARE_ICOUNT
# (3: also boot each kernel once per translated mode under QEMU's -icount
# shift=3 for a 1-second one-thread run, whose latencies are instructions
# per map and unmap, exact where wall time under TCG is not; 0: skip).
# Wall-time ratios within the noise between boots are marked "~" in the
# table (mk/guest/table.py). Writes build/results/compare-ARCH.json and
# compare-ARCH.txt; exits non-zero if a guest failed (the table then shows
# the runs that did come back; an -icount boot that stalls twice is only
# reported).
set -e -o pipefail
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/lib.sh"

[ $# -eq 1 ] || die "usage: $0 ARCH"
guest_arch "$1"
secs=${BENCH_SECONDS:-5}
threads=${BENCH_THREADS:-1,2}
granule=${BENCH_GRANULE:-1}
repeat=${BENCH_REPEAT:-1}
rounds=${BENCH_ROUNDS:-1}
modes=${GUEST_MODES:-strict lazy safedefer passthrough}
count=${BENCH_COUNT:-1}
icount=${COMPARE_ICOUNT:-3}
[ "$icount" = 0 ] && icount=


t0=$(date +%s)
step "compare $GARCH: stock against ours, ${secs}s per run, threads $threads, granule $granule, $repeat run(s) in each of $rounds boot(s)"
k_stock=$("$GUEST_DIR/kernel.sh" "$GARCH" stock | tail -n 1)
k_ours=$(GUEST_NO_TREE=1 "$GUEST_DIR/kernel.sh" "$GARCH" ours | tail -n 1)
initrd=$(GUEST_NO_TREE=1 "$GUEST_DIR/initramfs.sh" "$GARCH" | tail -n 1)
t_kernels=$(date +%s)

bad=
names=
round=0
while [ "$round" -lt "$rounds" ]; do
	round=$((round + 1))
	# Alternate which flavour boots first, so that a change of the host's load
	# over time does not always favour the same one.
	order="stock ours"
	[ $((round % 2)) = 0 ] && order="ours stock"
	for mode in $modes; do
		for flavor in $order; do
			name=compare-$GARCH-$mode-$flavor
			[ "$rounds" = 1 ] || name=$name-r$round
			names="$names $name"
			kernel=$k_ours
			[ "$flavor" = stock ] && kernel=$k_stock
			GUEST_TRACE=1 GUEST_FLAVOR=$flavor GUEST_MODE=$mode \
				"$GUEST_DIR/boot.sh" "$GARCH" "$name" "$kernel" "$initrd" \
				"$(mode_param "$mode")" iovatest.run=iova:dma_map_bench.sh \
				iovatest.seconds="$secs" iovatest.threads="$threads" \
				iovatest.granule="$granule" iovatest.repeat="$repeat" \
				iovatest.count="$count" \
				$CMDLINE || bad="$bad $name"
		done
	done
done

# The exact measure: one boot of each kernel per translated mode under
# -icount, one thread, no counted run. QEMU 7.2 stalls such a guest now
# and then: a boot that fails is run once more.
t_boots=$(date +%s)
inames=
if [ -n "$icount" ]; then
	step "compare $GARCH: instructions per operation (-icount shift=$icount)"
	for mode in $modes; do
		[ "$mode" = passthrough ] && continue
		for flavor in stock ours; do
			name=compare-$GARCH-$mode-$flavor-icount
			inames="$inames $name"
			kernel=$k_ours
			[ "$flavor" = stock ] && kernel=$k_stock
			for _ in 1 2; do
				if GUEST_ICOUNT=$icount \
				   GUEST_TIMEOUT=${GUEST_TIMEOUT:-150} \
				   GUEST_FLAVOR=$flavor GUEST_MODE=$mode \
				   "$GUEST_DIR/boot.sh" "$GARCH" "$name" "$kernel" \
				   "$initrd" "$(mode_param "$mode")" \
				   iovatest.run=iova:dma_map_bench.sh \
				   iovatest.seconds=1 iovatest.threads=1 \
				   iovatest.granule="$granule" iovatest.repeat=1 \
				   iovatest.count=0 $CMDLINE; then
					break
				fi
			done
		done
	done
fi

t_end=$(date +%s)
qemu_version=$($QEMU --version | head -n 1)
kver=$(cat "$BUILD/KERNEL_VERSION" 2>/dev/null || echo unknown)
{
	for n in $names; do
		cat "$RESULTS/guest/$n.json"
	done
	# Tag the -icount runs for the table.
	for n in $inames; do
		if [ -f "$RESULTS/guest/$n.json" ]; then
			sed "s/^{/{\"icount\":$icount,/" "$RESULTS/guest/$n.json"
		fi
	done
} | python3 "$GUEST_DIR/table.py" --arch "$GARCH" --modes "$modes" \
	--seconds "$secs" --granule "$granule" --qemu "$qemu_version" \
	--kernel "$kver" --json "$RESULTS/compare-$GARCH.json" \
	--text "$RESULTS/compare-$GARCH.txt" || bad="$bad (table incomplete)"

# What this comparison took, measured here.
took="Run time: $((t_end - t0)) s in all; kernels and initramfs $((t_kernels - t0)) s,"
took="$took $(echo $names | wc -w) boots $((t_boots - t_kernels)) s"
[ -z "$inames" ] ||
	took="$took, $(echo $inames | wc -w) -icount boots $((t_end - t_boots)) s"
echo "$took" | tee -a "$RESULTS/compare-$GARCH.txt"

if [ -n "$bad" ]; then
	step "compare $GARCH: failed boots:$bad (logs in $RESULTS/guest/)"
	exit 1
fi
step "compare $GARCH: table in $RESULTS/compare-$GARCH.txt and .json"
