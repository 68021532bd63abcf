#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Run inside the Debian guest (make debian-guest SCRIPT=mk/guest/debian-nvme.sh,
# or mk/guest/debian.sh run mk/guest/debian-nvme.sh [SECONDS]): fio on the
# NVMe disk behind the IOMMU while perf stat counts the IOVA and
# invalidation batch tracepoints and bcc's stackcount counts the kernel
# stacks of the unmap path. Output in the current directory (/host/out,
# which becomes build/results/debian/), one file per tool, and on the
# console:
#
#   nvme.txt        the disk, its PCI device and IOMMU group type
#   fio.txt         fio's report (4 KiB random and 1 MiB sequential jobs,
#                   reads and writes, O_DIRECT, libaio)
#   perf-stat.txt   perf stat -e 'iova:*,iotlb_batch:*' -a for SECONDS,
#                   and iova:iova_lock apart for the tree and the depot
#   stackcount.txt  stackcount-bpfcc -K of the unmap path for SECONDS
#
#   debian-nvme.sh [SECONDS]
#
# SECONDS each tool watches (default 10); fio runs from before the first
# tool starts until after the last one ends. The unmap path is whichever of
# iommu_dma_unmap_page, iommu_dma_unmap_sg and __iommu_unmap the kernel has
# as a symbol (the NVMe driver maps a small request as a page and a larger
# one as a scatterlist; both end in __iommu_unmap unless it is inlined).

SECS=${1:-10}
OUT=$(pwd)
rc=0

nvme=
for b in /sys/block/nvme*n1; do
	[ -e "$b" ] && nvme=$(basename "$b") && break
done
[ -n "$nvme" ] || { echo "no NVMe namespace"; exit 1; }
dev=$(readlink -f "/sys/block/$nvme/device/device")
type=$(cat "$dev/iommu_group/type" 2>/dev/null || echo none)
echo "# $nvme: PCI $(basename "$dev"), IOMMU group type $type" | tee "$OUT/nvme.txt"
[ "$type" != none ] || { echo "$nvme is not behind an IOMMU"; exit 1; }
command -v fio > /dev/null || { echo "no fio in the root filesystem"; exit 1; }

# fio for as long as the tools watch, and the ~30 s bcc takes to compile its
# program under TCG: two jobs of each pattern, each in a region of its own.
# fio runs until the tools are done: stackcount compiles its BPF program
# first, which takes minutes under TCG.
runtime=1800
fio --name=rand4k --filename="/dev/$nvme" --direct=1 --ioengine=libaio \
	--rw=randrw --bs=4k --iodepth=16 --numjobs=2 --size=64m \
	--offset_increment=64m --time_based --runtime="$runtime" \
	--name=seq1m --filename="/dev/$nvme" --direct=1 --ioengine=libaio \
	--rw=rw --bs=1m --iodepth=4 --numjobs=1 --size=64m --offset=128m \
	--time_based --runtime="$runtime" > "$OUT/fio.txt" 2>&1 &
fio_pid=$!
sleep 5

# run NAME CMD...: one tool, output in NAME.txt, timed.
run() {
	name=$1
	shift
	echo "### $name: $*"
	t0=$(date +%s)
	"$@" > "$OUT/$name.txt" 2>&1 || { echo "### $name failed: $?"; rc=1; }
	cat "$OUT/$name.txt"
	echo "### $name: $(($(date +%s) - t0))s"
}

run perf-stat perf stat -e 'iova:*,iotlb_batch:*' \
	-e iova:iova_lock --filter 'lock == 0' \
	-e iova:iova_lock --filter 'lock == 1' -a sleep "$SECS"

syms=
for f in iommu_dma_unmap_page iommu_dma_unmap_sg __iommu_unmap; do
	grep -q " [tT] $f\$" /proc/kallsyms && syms="$syms${syms:+|}$f"
done
if [ -n "$syms" ]; then
	run stackcount stackcount-bpfcc -K -r -D "$SECS" "^($syms)\$"
	# A stack of the unmap path has a line naming one of its functions.
	if ! grep -Eq "^ *($syms)\$" "$OUT/stackcount.txt"; then
		echo "### stackcount: no unmap seen while fio ran"
		rc=1
	fi
else
	echo "### stackcount: none of the unmap functions is a symbol"
	rc=1
fi

kill -INT "$fio_pid" 2>/dev/null
wait "$fio_pid"
# Stopped by the signal, fio still reports every job; each must have had
# no error.
jobs=$(grep -c 'groupid=' "$OUT/fio.txt")
if [ "$jobs" != 3 ] || [ "$(grep -c 'err= 0:' "$OUT/fio.txt")" != "$jobs" ]; then
	echo "### fio failed"
	rc=1
fi
echo "### fio:"
cat "$OUT/fio.txt"
exit $rc
