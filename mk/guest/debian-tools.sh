#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Run inside the Debian guest (mk/guest/debian.sh run mk/guest/debian-tools.sh):
# the tracing tools on the IOVA allocator while dma_map_benchmark keeps the
# edu device busy. Each tool's output goes to a file of its own in the
# current directory (/host/out, which becomes build/results/debian/), and
# to the console.
#
#   debian-tools.sh [SECONDS [TOOL...]]
#
# SECONDS each tool watches (default 5); TOOLs: only these of perf-stat,
# iovatop, funclatency, stackcount, bpftrace, perf-record.
#
# Tools: perf stat -e 'iova:*' (and iotlb_batch:*), tools/iova/iovatop.py,
# bcc funclatency on alloc_iova_fast, bcc stackcount on free_iova_fast,
# bpftrace counting iova_alloc by path, perf record -g of iova_alloc.

SECS=${1:-5}
[ $# -gt 0 ] && shift
ONLY=$*
PCI=/sys/bus/pci/devices
TOOLS=/host/tools
BENCH=/kselftest/iova/dma_map_benchmark
OUT=$(pwd)

dev=
for d in "$PCI"/*; do
	[ "$(cat "$d/vendor")" = 0x1234 ] && [ "$(cat "$d/device")" = 0x11e8 ] &&
		dev=$(basename "$d")
done
[ -n "$dev" ] || { echo "no edu device"; exit 1; }
echo dma_map_benchmark > "$PCI/$dev/driver_override"
echo "$dev" > /sys/bus/pci/drivers_probe
[ -e "$PCI/$dev/driver" ] || { echo "cannot bind $dev"; exit 1; }
echo "# device $dev, IOMMU domain $(cat "$PCI/$dev/iommu_group/type")"

# The benchmark runs in the background, 2 threads, for as long as needed.
(
	while [ ! -e /tmp/stop ]; do
		"$BENCH" -t 2 -s 10 -g 1 > /tmp/bench.out 2>&1
		grep latency /tmp/bench.out
	done
) > "$OUT/bench.txt" 2>&1 &
sleep 2

rc=0
# run NAME CMD...: one tool, output in NAME.txt, timed.
run() {
	name=$1
	shift
	case " ${ONLY:-$name} " in
	*" $name "*) ;;
	*) return 0 ;;
	esac
	echo "### $name: $*"
	t0=$(date +%s)
	"$@" > "$OUT/$name.txt" 2>&1 || { echo "### $name failed: $?"; rc=1; }
	cat "$OUT/$name.txt"
	echo "### $name: $(($(date +%s) - t0))s"
}

run perf-stat perf stat -e 'iova:*' -e 'iotlb_batch:*' -a sleep "$SECS"
run iovatop python3 "$TOOLS/iovatop.py" -c "$SECS"
run funclatency funclatency-bpfcc -d "$SECS" alloc_iova_fast
run stackcount stackcount-bpfcc -K -D "$SECS" free_iova_fast
run bpftrace bpftrace -e "tracepoint:iova:iova_alloc { @[args->path] = count(); } interval:s:$SECS { exit(); }"
run perf-record sh -c "perf record -q -g -a -e iova:iova_alloc -o /tmp/perf.data sleep $SECS &&
	perf report -i /tmp/perf.data --stdio --no-children --sort sym 2>/dev/null | head -n 60"

touch /tmp/stop
wait
echo "$dev" > "$PCI/$dev/driver/unbind"
echo "### benchmark runs meanwhile:"
cat "$OUT/bench.txt"
exit $rc
