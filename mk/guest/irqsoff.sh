#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The longest IRQs-off section of a flush, stock lazy mode against ours in
# safe deferred mode, counted exactly in instructions. Boots each kernel
# under QEMU (-icount, so that the guest's clock advances with the
# instructions it runs and not while it is stopped: its flush timers fall
# due as in a benchmark run) while dma_map_benchmark runs one thread;
# mk/guest/steptrace.py then stops at every _raw_spin_lock_irqsave() taken
# by the flush queue's or the batch's code (the unmap, the flush timer, the
# release) and single-steps the section through the gdbstub, reading the
# guest's interrupt flag at each instruction, until IRQSOFF_FLUSHES
# sections that ran the driver's invalidation submit were seen.
#
#   mk/guest/irqsoff.sh ARCH     (x86_64 only: arm64 inlines its spinlocks)
#
# Environment: IRQSOFF_GRANULES ("1 16"), IRQSOFF_FLUSHES (3),
# IRQSOFF_BUDGET (150: seconds of stepping per kernel and granule),
# STEP_PORT (1241). Writes build/results/irqsoff-ARCH-gGRANULE.json and
# .txt (mk/guest/irqsoff.py).
set -e -o pipefail
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/lib.sh"

[ $# -eq 1 ] || die "usage: $0 ARCH"
guest_arch "$1"
# arm64 builds spin_lock_irqsave() inline (ARCH_INLINE_SPIN_LOCK_IRQSAVE
# without preemption): there is no one function to stop at.
[ "$GARCH" = x86_64 ] || die "irqsoff: x86_64 only"
port=${STEP_PORT:-1241}
out=$RESULTS/irqsoff-$GARCH
mkdir -p "$out"

k_stock=$("$GUEST_DIR/kernel.sh" "$GARCH" stock | tail -n 1)
k_ours=$(GUEST_NO_TREE=1 "$GUEST_DIR/kernel.sh" "$GARCH" ours | tail -n 1)
initrd=$(GUEST_NO_TREE=1 "$GUEST_DIR/initramfs.sh" "$GARCH" | tail -n 1)

# The functions whose IRQs-off sections are the flush queue's (stock, and
# ours' lazy mode) or the batch's, where the kernel has them out of line.
callers="iommu_dma_unmap_page iommu_dma_unmap_batched __iommu_dma_unmap
	iommu_dma_free_iova queue_iova fq_flush_timeout fq_ring_free
	iotlb_batch_unmap batch_flush_cpus iotlb_batch_release_out"

# ranges VMLINUX: "NAME:START:END,..." of the callers present
ranges() {
	nm -n "$1" | awk -v want="$callers" '
	BEGIN { n = split(want, w); for (i = 1; i <= n; i++) c[w[i]] = 1 }
	$2 ~ /^[tTwW]$/ {
		if (open) { printf "%s%s:%s:%s", sep, open, start, $1; sep = ","; open = "" }
		if ($3 in c && !(seen[$3]++)) { open = $3; start = $1 }
	}'
}

# measure FLAVOR MODE GRANULE: the sections into $out/FLAVOR-gGRANULE.txt
measure() {
	local kernel=$k_ours vmlinux=$GUEST/$GARCH-ours/vmlinux log
	if [ "$1" = stock ]; then
		kernel=$k_stock
		vmlinux=$GUEST/$GARCH-stock/vmlinux
	fi
	log=$out/$1-g$3.log
	step "irqsoff: $1 kernel, $2 mode, granule $3"
	gdb_guest_boot "$log" "$port" "$kernel" "$initrd" \
		"console=ttyS0 no_timer_check tsc=reliable $(mode_param "$2") iovatest.run=iova:dma_map_bench.sh iovatest.seconds=300 iovatest.threads=1 iovatest.granule=$3" \
		-icount shift=1 -machine q35,kernel-irqchip=split \
		-device intel-iommu,intremap=on
	gdb_guest_wait "$log" "ok 1 bind" 300 || true
	sleep 5
	STEP_ARCH=$GARCH STEP_PORT=$port STEP_OUT=$out/$1-g$3.txt \
		STEP_LOCK=$(vmlinux_addr "$vmlinux" _raw_spin_lock_irqsave) \
		STEP_AFTER=$(vmlinux_addr "$vmlinux" qi_submit_sync) \
		STEP_CALLERS=$(ranges "$vmlinux") \
		STEP_FLUSHES=${IRQSOFF_FLUSHES:-3} \
		STEP_BUDGET=${IRQSOFF_BUDGET:-150} \
		timeout --foreground 600 python3 "$GUEST_DIR/steptrace.py" \
		< /dev/null > "$out/$1-g$3.step.log" 2>&1 ||
		step "irqsoff: stepping failed, see $out/$1-g$3.step.log"
	gdb_guest_stop
}

for g in ${IRQSOFF_GRANULES:-1 16}; do
	rm -f "$out/stock-g$g.txt" "$out/ours-g$g.txt"
	measure stock lazy "$g"
	measure ours safedefer "$g"
	python3 "$GUEST_DIR/irqsoff.py" --arch "$GARCH" --granule "$g" \
		--json "$RESULTS/irqsoff-$GARCH-g$g.json" \
		"$out/stock-g$g.txt" "$out/ours-g$g.txt" |
		tee "$RESULTS/irqsoff-$GARCH-g$g.txt"
done
