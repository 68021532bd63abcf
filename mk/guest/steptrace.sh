#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Where the instructions of one DMA unmap (or any kernel function) go,
# stock against ours: boot the guest with QEMU's gdbstub while
# dma_map_benchmark runs, single-step whole calls of the function
# through the stub (mk/guest/steptrace.py) and count the instructions per function from each
# kernel's symbols (mk/guest/steptable.py). Exact and repeatable, unlike
# time under TCG: the benchmark's -icount figures say how many instructions
# an operation takes, this says where they are.
#
#   mk/guest/steptrace.sh [FUNCTION]      (default iommu_dma_unmap_page)
#
# Environment: STEP_WORKLOAD (dma_map_bench, the default: the guest runs
# dma_map_benchmark on QEMU's edu device; or a workload of
# selftests/iova/devices.sh on the devices of mk/guest/boot.sh: net (iperf3
# from the first NIC to the second), fio-4k or fio-large (the NVMe disk), with
# one vCPU and, on x86_64, ATS on the NICs, as mk/guest/devbench.sh's
# -icount boots have them; the calls are stepped STEP_SETTLE (40) seconds
# after the workload started; STEP_ATS=0 takes ATS off), STEP_MODES
# ("strict lazy safedefer"; a stock kernel ignores iommu.safedefer=1, so
# ours in that mode is set against stock's lazy mode), STEP_SAMPLES (6
# calls per kernel and mode), STEP_SKIP (300 calls let by before each
# traced one, see steptrace.py), BENCH_GRANULE (1), STEP_PORT (1241, the
# gdbstub's TCP port), GUEST_ARCH (x86_64 or arm64, as make's ARCH=). Uses
# the guest kernels and initramfs that mk/guest/compare.sh builds. Writes
# build/results/steptrace-ARCH-FUNCTION.txt (-WORKLOAD.txt for a device
# workload).
set -e -o pipefail
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/lib.sh"

func=${1:-iommu_dma_unmap_page}
modes=${STEP_MODES:-strict lazy safedefer}
samples=${STEP_SAMPLES:-6}
granule=${BENCH_GRANULE:-1}
port=${STEP_PORT:-1241}
workload=${STEP_WORKLOAD:-dma_map_bench}
case $workload in
dma_map_bench|net|fio-4k|fio-large) ;;
*) die "STEP_WORKLOAD=$workload: dma_map_bench, net, fio-4k or fio-large" ;;
esac
guest_arch "${GUEST_ARCH:-x86_64}"
case $GARCH in
x86_64)
	machine=(-machine "q35,kernel-irqchip=split" -device "intel-iommu,intremap=on")
	params="console=ttyS0 no_timer_check tsc=reliable"
	;;
arm64)
	machine=(-machine "virt,iommu=smmuv3,gic-version=3" -cpu cortex-a57)
	params="console=ttyAMA0"
	;;
esac
out=$RESULTS/steptrace-$GARCH
[ "$workload" = dma_map_bench ] || out=$out-$workload
mkdir -p "$out"
rm -f "$out"/*.trace

k_stock=$("$GUEST_DIR/kernel.sh" "$GARCH" stock | tail -n 1)
k_ours=$(GUEST_NO_TREE=1 "$GUEST_DIR/kernel.sh" "$GARCH" ours | tail -n 1)
initrd=$(GUEST_NO_TREE=1 "$GUEST_DIR/initramfs.sh" "$GARCH" | tail -n 1)

# trace FLAVOR MODE: the calls' addresses into $out/FLAVOR-MODE.trace
trace() {
	local kernel=$k_ours vmlinux=$GUEST/$GARCH-ours/vmlinux addr log
	if [ "$1" = stock ]; then
		kernel=$k_stock
		vmlinux=$GUEST/$GARCH-stock/vmlinux
	fi
	addr=$(vmlinux_addr "$vmlinux" "$func")
	[ -n "$addr" ] || die "steptrace: no $func in $vmlinux"
	log=$out/$1-$2.log
	step "steptrace: $func in $1 kernel, $2 mode, $samples calls, $workload"
	if [ "$workload" = dma_map_bench ]; then
		# The same machine as boot.sh's guest; the benchmark runs long
		# enough for the stepping and is cut short afterwards.
		gdb_guest_boot "$log" "$port" "$kernel" "$initrd" \
			"$params $(mode_param "$2") iovatest.run=iova:dma_map_bench.sh iovatest.seconds=300 iovatest.threads=1 iovatest.granule=$granule" \
			"${machine[@]}"
		# The runner prints the test's output only when it ends: wait
		# for its start, then for the benchmark to be under way.
		gdb_guest_wait "$log" "selftests: iova: dma_map_bench.sh" 180 || true
		sleep 12
	else
		# boot.sh's guest with the devices, as devbench.sh's -icount
		# boots have it, the one workload running far longer than the
		# stepping takes. GDB_QEMU is boot.sh's PID here: it lives as
		# long as its QEMU does.
		ats=0
		[ "$GARCH" != x86_64 ] || ats=${STEP_ATS:-1}
		rm -f "$RESULTS/guest/steptrace-$1-$2-$workload.log"
		GUEST_GDB=$port GUEST_SMP=1 GUEST_ATS=$ats GUEST_DEVICES=1 \
			GUEST_KVM=0 GUEST_ICOUNT= GUEST_TRACE=0 GUEST_IOMMU= \
			GUEST_TIMEOUT=3600 "$GUEST_DIR/boot.sh" "$GARCH" \
			"steptrace-$1-$2-$workload" "$kernel" "$initrd" \
			$(mode_param "$2") iovatest.run=iova:devices.sh \
			iovatest.devbench=1 iovatest.devsecs=3000 \
			iovatest.devonly="$workload" > "$log" 2>&1 &
		GDB_QEMU=$!
		gdb_guest_wait "$RESULTS/guest/steptrace-$1-$2-$workload.log" \
			"selftests: iova: devices.sh" 300 ||
			die "steptrace: the guest did not start devices.sh, see $log"
		sleep "${STEP_SETTLE:-40}"
	fi
	STEP_ARCH=$GARCH STEP_ADDR=$addr STEP_PORT=$port \
		STEP_SAMPLES=$samples STEP_SKIP=${STEP_SKIP:-300} \
		STEP_OUT=$out/$1-$2.trace timeout --foreground 600 \
		python3 "$GUEST_DIR/steptrace.py" \
		< /dev/null > "$out/$1-$2.step.log" 2>&1 ||
		step "steptrace: stepping failed, see $out/$1-$2.step.log"
	stop_guest
}

# stop_guest: end the stepped guest (boot.sh puts its QEMU in a process
# group of its own: find it by its gdbstub)
stop_guest() {
	[ -n "$GDB_QEMU" ] || return 0
	if [ "$workload" = dma_map_bench ]; then
		gdb_guest_stop
	else
		# boot.sh then removes its scratch disk and returns
		pkill -f -- "-gdb tcp:127.0.0.1:$port( |\$)" || true
		wait "$GDB_QEMU" 2> /dev/null || true
	fi
	GDB_QEMU=
}
trap stop_guest EXIT

txt=$RESULTS/steptrace-$GARCH-$func.txt
what="dma_map_benchmark, granule $granule"
if [ "$workload" != dma_map_bench ]; then
	txt=${txt%.txt}-$workload.txt
	what="devices.sh $workload"
fi
: > "$txt"
for mode in $modes; do
	smode=$mode
	[ "$mode" = safedefer ] && smode=lazy
	[ -s "$out/stock-$smode.trace" ] && [ "$smode" != "$mode" ] ||
		trace stock "$smode"
	trace ours "$mode"
	python3 "$GUEST_DIR/steptable.py" \
		--title "$GARCH $func, $what, ours $mode against stock $smode" \
		"$GUEST/$GARCH-stock/vmlinux" "$out/stock-$smode.trace" \
		"$GUEST/$GARCH-ours/vmlinux" "$out/ours-$mode.trace" | tee -a "$txt"
done
step "steptrace: $txt"
