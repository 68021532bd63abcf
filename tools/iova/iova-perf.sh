#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# perf recipes for the IOVA allocator and batched IOTLB invalidation.
#
#   iova-perf.sh stat [SECONDS | -- COMMAND...]
#       count every iova and iotlb_batch event, system wide:
#       perf stat -e 'iova:*' -e 'iotlb_batch:*' -a sleep SECONDS
#   iova-perf.sh record [SECONDS | -- COMMAND...]
#       call graphs of the allocation and lock events and a CPU profile
#       (perf record -g), then the report of each, into ./iova-perf/
#   iova-perf.sh paths [SECONDS | -- COMMAND...]
#       allocations and frees by path, from the iova_alloc and iova_free
#       events (perf record + perf script)
#
# SECONDS defaults to 5. COMMAND runs instead of sleeping, e.g.
#   iova-perf.sh stat -- dma_map_benchmark -t 2 -s 3
# Needs root and perf (Debian: linux-perf). The CPU profile samples
# cpu-clock, which also works where there is no hardware PMU (QEMU TCG).

PERF=${PERF:-perf}
OUT=${IOVA_PERF_OUT:-iova-perf}

usage()
{
	sed -n '4,19p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit 2
}

# workload ARGS...: the command perf watches.
workload()
{
	if [ "$1" = -- ]; then
		shift
		[ $# -gt 0 ] || usage
		echo "$@"
	else
		echo "sleep ${1:-5}"
	fi
}

# events: the events this kernel has, as -e options.
events()
{
	ev="-e iova:*"
	$PERF list 2>/dev/null | grep -q 'iotlb_batch:' && ev="$ev -e iotlb_batch:*"
	echo "$ev"
}

cmd=$1
[ -n "$cmd" ] || usage
shift
$PERF list 2>/dev/null | grep -q 'iova:iova_alloc' ||
	{ echo "iova-perf: no iova tracepoints (perf list)" >&2; exit 1; }
w=$(workload "$@")

case "$cmd" in
stat)
	# shellcheck disable=SC2046,SC2086
	exec $PERF stat $(events) -a $w
	;;
record)
	mkdir -p "$OUT"
	# shellcheck disable=SC2086
	$PERF record -q -g -a -o "$OUT/events.data" \
		-e iova:iova_alloc -e iova:iova_lock -e iova:iova_pool_refill $w ||
		exit 1
	$PERF report -i "$OUT/events.data" --stdio --no-children \
		--sort sym > "$OUT/events.txt" 2>/dev/null
	# shellcheck disable=SC2086
	$PERF record -q -g -a -F 999 -e cpu-clock -o "$OUT/cpu.data" $w ||
		exit 1
	$PERF report -i "$OUT/cpu.data" --stdio --no-children \
		--sort sym > "$OUT/cpu.txt" 2>/dev/null
	echo "# call graphs of iova_alloc, iova_lock, iova_pool_refill: $OUT/events.txt"
	echo "# CPU profile: $OUT/cpu.txt; IOVA and IOMMU functions in it:"
	grep -E '\[k\] .*(iova|iommu|iotlb)' "$OUT/cpu.txt" | head -n 20
	;;
paths)
	mkdir -p "$OUT"
	# shellcheck disable=SC2086
	$PERF record -q -a -o "$OUT/paths.data" \
		-e iova:iova_alloc -e iova:iova_free $w || exit 1
	$PERF script -i "$OUT/paths.data" 2>/dev/null |
		awk '{
			for (i = 1; i <= NF; i++) {
				if ($i ~ /^iova:iova_(alloc|free):$/)
					ev = substr($i, 6, length($i) - 6)
				if ($i ~ /^path=/)
					n[ev " " substr($i, 6)]++
			}
		}
		END { for (k in n) printf "%-20s %d\n", k, n[k] }' | sort
	;;
*)
	usage
	;;
esac
