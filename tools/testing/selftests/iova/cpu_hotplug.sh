#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# CPU hotplug under DMA load: while dma_map_benchmark maps and unmaps
# through the test device (QEMU's edu, 1234:11e8, unless IOVA_TEST_DEVICE
# names a PCI address) with two threads, take a CPU offline and bring it
# back, again and again. Each time the CPU dies, the IOVA allocator's
# hotplug callback gives its per-CPU cache and the free space of its pool
# back to the domain, while the benchmark's threads, moved to the CPUs
# left, keep mapping and unmapping in the same domain and free ranges the
# dead CPU mapped. Checks:
#
#   - the CPU went offline and online again every time, and is online at
#     the end;
#   - the benchmark ran to its end and reported its latencies;
#   - the kernel log of the run holds no warning, bug, lockdep report,
#     KASAN or UBSAN report, and no IOMMU fault.
#
# The allocator's counters (debugfs iova/*/stats) are printed before and
# after for the record. Knobs: IOVA_HOTPLUG_CPU (1), IOVA_HOTPLUG_SECONDS
# (3, how long the benchmark runs), IOVA_HOTPLUG_PAUSE (0.1 seconds between
# transitions), IOVA_BENCH_GRANULE (1 page per mapping).

DIR=$(dirname "$0")
. "$DIR/../kselftest/ktap_helpers.sh"
. "$DIR/edu_lib.sh"

HCPU=${IOVA_HOTPLUG_CPU:-1}
SECS=${IOVA_HOTPLUG_SECONDS:-3}
PAUSE=${IOVA_HOTPLUG_PAUSE:-0.1}
GRANULE=${IOVA_BENCH_GRANULE:-1}
ONLINE=/sys/devices/system/cpu/cpu$HCPU/online
DEBUGFS=/sys/kernel/debug
OUT=/tmp/iova-hotplug.$$

BUGS='WARNING:|BUG:|Oops|Kernel panic|general protection fault|'
BUGS="${BUGS}"'possible recursive locking|possible circular locking|'
BUGS="${BUGS}"'inconsistent lock state|suspicious RCU usage|UBSAN:|KASAN:|'
BUGS="${BUGS}"'list_add corruption|list_del corruption|'
BUGS="${BUGS}"'sleeping function called from invalid context'
FAULTS='DMAR: \[DMA (Read|Write)|DMAR: DRHD: handling fault|'
FAULTS="${FAULTS}"'arm-smmu-v3.*event 0x|Unhandled context fault|'
FAULTS="${FAULTS}"'AMD-Vi: Event logged \[IO_PAGE_FAULT'

# pool_counters: the sum over every IOVA domain of a few counters.
pool_counters()
{
	cat "$DEBUGFS"/iova/*/stats 2>/dev/null | awk '
		$1 ~ /^(pool_pages|chunk_refills|chunk_returns|remote_frees|cached):$/ {
			sum[$1] += $2
		}
		END {
			printf "pool_pages=%d chunk_refills=%d chunk_returns=%d",
				sum["pool_pages:"], sum["chunk_refills:"],
				sum["chunk_returns:"]
			printf " remote_frees=%d cached=%d\n", sum["remote_frees:"],
				sum["cached:"]
		}'
}

cleanup()
{
	[ -z "$BENCH" ] || wait "$BENCH" 2>/dev/null
	[ ! -w "$ONLINE" ] || echo 1 > "$ONLINE" 2>/dev/null
	[ -z "$DEV" ] || edu_unbind "$DEV" 2>/dev/null
	rm -f "$OUT"
}

ktap_print_header

TOOL=$(edu_find_tool)
DEV=$(edu_find_device)
if [ ! -w "$ONLINE" ]; then
	DEV=
	ktap_skip_all "CPU $HCPU cannot be taken offline (no CONFIG_HOTPLUG_CPU or one CPU)"
	exit "$KSFT_SKIP"
fi
if [ -z "$TOOL" ]; then
	DEV=
	ktap_skip_all "dma_map_benchmark tool not found"
	exit "$KSFT_SKIP"
fi
[ -n "$DEV" ] || edu_missing "the edu device (1234:11e8) or IOVA_TEST_DEVICE"
grep -q " $DEBUGFS debugfs " /proc/mounts ||
	mount -t debugfs none "$DEBUGFS" 2>/dev/null
if [ -e "$PCI/$DEV/driver" ]; then
	DEV=
	ktap_skip_all "the test device already has a driver"
	exit "$KSFT_SKIP"
fi
trap cleanup EXIT
ktap_set_plan 5

if [ "$(cat "$ONLINE")" != 1 ]; then
	echo 1 > "$ONLINE"
fi
if edu_bind "$DEV" dma_map_benchmark; then
	ktap_test_pass "bind $DEV to dma_map_benchmark"
else
	ktap_test_fail "bind $DEV to dma_map_benchmark"
	ktap_exit_fail_msg "cannot bind $DEV"
fi
TYPE=$(cat "$PCI/$DEV/iommu_group/type" 2>/dev/null || echo none)
ktap_print_msg "device $DEV, IOMMU domain $TYPE, CPU $HCPU of $(nproc) online," \
	"$SECS s of dma_map_benchmark, granule $GRANULE"
ktap_print_msg "before: $(pool_counters)"

before=$(dmesg | wc -l)
"$TOOL" -t 2 -s "$SECS" -g "$GRANULE" > "$OUT" 2>&1 &
BENCH=$!
cycles=0
bad=0
while kill -0 "$BENCH" 2>/dev/null; do
	if echo 0 > "$ONLINE" 2>/dev/null &&
	   [ "$(cat "$ONLINE")" = 0 ]; then
		sleep "$PAUSE"
		if echo 1 > "$ONLINE" 2>/dev/null &&
		   [ "$(cat "$ONLINE")" = 1 ]; then
			cycles=$((cycles + 1))
		else
			bad=$((bad + 1))
		fi
	else
		bad=$((bad + 1))
	fi
	sleep "$PAUSE"
done
wait "$BENCH"
rc=$?
BENCH=
[ "$(cat "$ONLINE")" = 1 ] || { bad=$((bad + 1)); echo 1 > "$ONLINE"; }

ktap_print_msg "after: $(pool_counters)"
if [ "$cycles" -ge 2 ] && [ "$bad" -eq 0 ]; then
	ktap_test_pass "CPU $HCPU offline and online $cycles times during the run"
else
	ktap_test_fail "CPU $HCPU offline and online: $cycles cycles, $bad failed transitions"
fi

sed 's/^/# /' "$OUT"
if [ "$rc" -eq 0 ] && grep -q '^average map latency' "$OUT" &&
   grep -q '^average unmap latency' "$OUT"; then
	ktap_test_pass "dma_map_benchmark ran to its end"
else
	ktap_test_fail "dma_map_benchmark ran to its end (exit $rc)"
fi
edu_unbind "$DEV"
DEV=

log=$(dmesg | tail -n +$((before + 1)))
bugs=$(echo "$log" | grep -E "$BUGS")
if [ -z "$bugs" ]; then
	ktap_test_pass "no kernel warnings, bugs or lockdep reports"
else
	echo "$bugs" | head -n 20 | sed 's/^/# /'
	ktap_test_fail "no kernel warnings, bugs or lockdep reports"
fi
faults=$(echo "$log" | grep -E "$FAULTS")
if [ -z "$faults" ]; then
	ktap_test_pass "no IOMMU faults"
else
	echo "$faults" | head -n 20 | sed 's/^/# /'
	ktap_test_fail "no IOMMU faults"
fi

ktap_finished
