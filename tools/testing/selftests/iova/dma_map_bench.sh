#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Streaming DMA map/unmap latency through the device's IOMMU domain, with
# the upstream dma_map_benchmark tool: bind the test device (QEMU's edu,
# 1234:11e8, unless IOVA_TEST_DEVICE names a PCI address) to the
# dma_map_benchmark driver through driver_override, run the tool once per
# thread count, give the device back. Every run prints one line
#
#   # iova-bench: id=N type=T threads=N granule=N seconds=N map_us=X
#     map_sd=X unmap_us=X unmap_sd=X        (on one line)
#
# for the tools that compare kernels. Knobs (environment):
#   IOVA_BENCH_THREADS  thread counts, space or comma separated ("1 2")
#   IOVA_BENCH_SECONDS  seconds per run (1)
#   IOVA_BENCH_GRANULE  pages per mapping (1)
#   IOVA_BENCH_REPEAT   runs per thread count (1), interleaved
#   IOVA_BENCH_TYPES    IOMMU group types to take turns with, space or comma
#                       separated ("DMA-FQ DMA-SAFE"): every run is done
#                       once in each, the group switched through its sysfs
#                       type with no driver bound, so that modes compare
#                       within one boot; empty (default): the booted type
#   IOVA_BENCH_COUNT=1  after each run, run it again with the iommu:unmap
#                       tracepoint enabled, to count its unmaps exactly
#                       (dma_map_benchmark reports only mean latencies); the
#                       tracepoint's cost lands in that second run alone,
#                       whose line is
#
#   # iova-count: id=N threads=N unmaps=N map_us=X unmap_us=X
#
#   IOVA_TEST_REQUIRE_DEVICE=1  fail rather than skip without the device
#   IOVA_BENCH_MARK=1   write the run id (modulo 256) into the device's
#                       config space at 0xf0 before and 0xf4 after each run
#                       (0xf8 and 0xfc around its counted run), so that an
#                       emulator's trace (QEMU pci_cfg_write) can attribute
#                       IOTLB invalidations to runs. Only for QEMU's edu,
#                       where nothing lives at those offsets.

DIR=$(dirname "$0")
. "$DIR/../kselftest/ktap_helpers.sh"
. "$DIR/edu_lib.sh"

THREADS=$(echo "${IOVA_BENCH_THREADS:-1 2}" | tr ',' ' ')
SECONDS_PER_RUN=${IOVA_BENCH_SECONDS:-1}
GRANULE=${IOVA_BENCH_GRANULE:-1}
REPEAT=${IOVA_BENCH_REPEAT:-1}
DEBUGFS=/sys/kernel/debug
TRACEFS=/sys/kernel/tracing

# mark OFFSET ID: one byte into the device's config space (see above).
mark()
{
	[ "$IOVA_BENCH_MARK" = 1 ] || return 0
	printf "$(printf '\\%03o' $(($2 % 256)))" |
		dd of="$PCI/$DEV/config" bs=1 seek="$1" conv=notrunc 2>/dev/null
}

# unmaps_written: the iommu:unmap events the trace buffer took since it
# was last cleared, kept, overwritten or dropped.
unmaps_written()
{
	cat "$TRACEFS"/per_cpu/cpu*/stats | awk -F': *' '
	$1 == "entries" || $1 == "overrun" || $1 == "commit overrun" ||
	$1 == "dropped events" { n += $2 }
	END { print n + 0 }'
}

# count_run ID THREADS: the run again, counting its unmaps (see above).
count_run()
{
	echo 0 > "$TRACEFS/tracing_on"
	echo > "$TRACEFS/trace"
	echo 1 > "$TRACEFS/events/iommu/unmap/enable"
	echo 1 > "$TRACEFS/tracing_on"
	mark 248 "$1"
	c_out=$("$TOOL" -t "$2" -s "$SECONDS_PER_RUN" -g "$GRANULE" 2>&1)
	c_rc=$?
	sleep 1
	mark 252 "$1"
	echo 0 > "$TRACEFS/tracing_on"
	echo 0 > "$TRACEFS/events/iommu/unmap/enable"
	c_n=$(unmaps_written)
	echo > "$TRACEFS/trace"
	echo 1 > "$TRACEFS/tracing_on"
	c_map=$(echo "$c_out" | sed -n 's/^average map latency(us):\([0-9.]*\) .*$/\1/p')
	c_unmap=$(echo "$c_out" | sed -n 's/^average unmap latency(us):\([0-9.]*\) .*$/\1/p')
	if [ $c_rc -ne 0 ] || [ -z "$c_map" ] || [ -z "$c_unmap" ] || [ "$c_n" = 0 ]; then
		echo "$c_out" | sed 's/^/# /'
		return 1
	fi
	echo "# iova-count: id=$1 threads=$2 unmaps=$c_n map_us=$c_map" \
		"unmap_us=$c_unmap"
}

# bind/unbind: the test device to and from dma_map_benchmark
bind()
{
	edu_bind "$DEV" dma_map_benchmark
}

unbind()
{
	edu_unbind "$DEV"
}

ktap_print_header

TOOL=$(edu_find_tool)
DEV=$(edu_find_device)
if [ -z "$TOOL" ]; then
	ktap_skip_all "dma_map_benchmark tool not found"
	exit "$KSFT_SKIP"
fi
[ -n "$DEV" ] || edu_missing "the edu device (1234:11e8) or IOVA_TEST_DEVICE"
grep -q " $DEBUGFS debugfs " /proc/mounts ||
	mount -t debugfs none "$DEBUGFS" 2>/dev/null
edu_unclaimed "$DEV"
if [ -e "$DEBUGFS/dma_map_benchmark" ]; then
	ktap_skip_all "dma_map_benchmark is bound to another device"
	exit "$KSFT_SKIP"
fi

# stats ID: the allocator's counters of every IOVA domain after run ID,
# one line each (kernels with the IOVA rework only).
stats()
{
	for f in "$DEBUGFS"/iova/*/stats; do
		[ -r "$f" ] || continue
		echo "# iova-stats: run=$1 domain=$(basename "$(dirname "$f")")" \
			"$(tr -d ' ' < "$f" | tr ':\n' '= ')"
	done
}

TYPES=$(echo "${IOVA_BENCH_TYPES:-}" | tr ',' ' ')
RUNS=
r=0
while [ $r -lt "$REPEAT" ]; do
	for t in $THREADS; do
		if [ -z "$TYPES" ]; then
			RUNS="$RUNS $t"
			continue
		fi
		for ty in $TYPES; do
			RUNS="$RUNS $t:$ty"
		done
	done
	r=$((r + 1))
done
set -- $RUNS
COUNT=
if [ "$IOVA_BENCH_COUNT" = 1 ]; then
	[ -d "$TRACEFS/events" ] ||
		mount -t tracefs none "$TRACEFS" 2>/dev/null
	[ -e "$TRACEFS/events/iommu/unmap/enable" ] && COUNT=1
	[ -n "$COUNT" ] ||
		ktap_print_msg "no iommu:unmap tracepoint: unmaps not counted"
fi
ktap_set_plan $(($# * (${COUNT:-0} + 1) + 1))

if bind; then
	ktap_test_pass "bind $DEV to dma_map_benchmark"
else
	ktap_test_fail "bind $DEV to dma_map_benchmark"
	unbind
	ktap_exit_fail_msg "cannot bind $DEV"
fi
# Read the type once bound: on device-tree systems a PCI device meets its
# IOMMU only when a driver first binds to it.
TYPE=$(cat "$PCI/$DEV/iommu_group/type" 2>/dev/null || echo none)
BOOTED=$TYPE
ktap_print_msg "device $DEV, IOMMU domain $TYPE, granule $GRANULE," \
	"$SECONDS_PER_RUN s per run"

# retype TYPE: move the device's group to TYPE, the device unbound meanwhile
retype()
{
	[ "$(cat "$PCI/$DEV/iommu_group/type")" = "$1" ] && return 0
	unbind
	edu_set_type "$DEV" "$1"
	bind && [ "$(cat "$PCI/$DEV/iommu_group/type")" = "$1" ]
}

id=0
for t in $RUNS; do
	id=$((id + 1))
	case "$t" in
	*:*)
		TYPE=${t#*:}
		t=${t%%:*}
		if ! retype "$TYPE"; then
			ktap_test_fail "run $id: cannot switch the group to $TYPE"
			continue
		fi
		;;
	esac
	desc="run $id: threads=$t granule=$GRANULE type=$TYPE"
	mark 240 $id
	out=$("$TOOL" -t "$t" -s "$SECONDS_PER_RUN" -g "$GRANULE" 2>&1)
	rc=$?
	# Let a lazy-mode flush (10 ms timer) land before the end mark.
	sleep 1
	mark 244 $id
	echo "$out" | sed 's/^/# /'
	stats "$id"
	map=$(echo "$out" | sed -n 's/^average map latency(us):\([0-9.]*\) standard deviation:\([0-9.]*\)$/\1 \2/p')
	unmap=$(echo "$out" | sed -n 's/^average unmap latency(us):\([0-9.]*\) standard deviation:\([0-9.]*\)$/\1 \2/p')
	if [ $rc -ne 0 ] || [ -z "$map" ] || [ -z "$unmap" ]; then
		ktap_test_fail "$desc (exit $rc)"
		continue
	fi
	set -- $map $unmap
	echo "# iova-bench: id=$id type=$TYPE threads=$t granule=$GRANULE" \
		"seconds=$SECONDS_PER_RUN map_us=$1 map_sd=$2 unmap_us=$3" \
		"unmap_sd=$4"
	ktap_test_pass "$desc"
	[ -n "$COUNT" ] || continue
	case "$TYPE" in
	DMA*) ;;
	*)
		ktap_test_skip "$desc, unmaps counted: no DMA domain to count in"
		continue
		;;
	esac
	if count_run "$id" "$t"; then
		ktap_test_pass "$desc, unmaps counted"
	else
		ktap_test_fail "$desc, unmaps counted"
	fi
done

# Leave the group as the tests after this one expect it.
[ -z "$TYPES" ] || retype "$BOOTED" || ktap_print_msg "group left as $TYPE"
unbind
ktap_finished
