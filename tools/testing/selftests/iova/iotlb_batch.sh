#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Batched IOTLB invalidation and the safe deferred mode (iommu.safedefer=1),
# seen from a booted kernel: run dma_map_benchmark through the test device
# (QEMU's edu, 1234:11e8, unless IOVA_TEST_DEVICE names a PCI address) and
# check the batcher's counters in /sys/kernel/debug/iommu/iotlb_batch/:
#
#   - the thresholds in force are those of the command line (or defaults);
#   - in a DMA-SAFE domain every unmap of the benchmark's page-backed buffer
#     is batched, none falls back to an immediate invalidation, far fewer
#     invalidations than unmaps are issued, and once the timer has run no
#     page is held any more; the same with 16-page mappings;
#   - with two threads on two CPUs the same holds, and a batch promoted to
#     a full flush to release the other CPU's batch (flush_promote_shared)
#     does release it (trigger_covered);
#   - in DMA, DMA-FQ and identity domains the batcher is not used at all;
#   - a group booted strict can be switched to DMA-SAFE and back with no
#     driver bound, and batches once switched;
#   - the iotlb_batch tracepoints fire, where the kernel has tracing.
#
# Without the counters (a kernel without the rework) everything is skipped,
# unless the command line asks for the safe deferred mode.

DIR=$(dirname "$0")
. "$DIR/../kselftest/ktap_helpers.sh"
. "$DIR/edu_lib.sh"

DEBUGFS=/sys/kernel/debug
STATS=$DEBUGFS/iommu/iotlb_batch/stats
PARAMS=$DEBUGFS/iommu/iotlb_batch/params
TRACEFS=/sys/kernel/tracing
SECONDS_PER_RUN=${IOVA_BENCH_SECONDS:-1}

# counter NAME [FILE]: one counter (or parameter) by name.
counter()
{
	awk -v k="$1" '$1 == k { print $2; found = 1 } END { if (!found) print "" }' \
		"${2:-$STATS}"
}

snapshot()
{
	cat "$STATS" > "$1"
}

# delta NAME: counter NAME in $AFTER minus $BEFORE.
delta()
{
	echo $(($(counter "$1" "$AFTER") - $(counter "$1" "$BEFORE")))
}

# cmdline_param NAME DEFAULT: the value of NAME= on the command line.
cmdline_param()
{
	v=
	for arg in $(cat /proc/cmdline); do
		case "$arg" in
		"$1"=*) v=${arg#*=} ;;
		esac
	done
	echo "${v:-$2}"
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

# bench GRANULE [THREADS]: one benchmark run, with counters before and after.
bench()
{
	snapshot "$BEFORE"
	if ! bind; then
		unbind
		return 1
	fi
	out=$("$TOOL" -t "${2:-1}" -s "$SECONDS_PER_RUN" -g "$1" 2>&1)
	rc=$?
	unbind
	# Let the batch timer (iommu.batch_timeout, 10 ms) release the rest.
	sleep 1
	snapshot "$AFTER"
	echo "$out" | grep latency | sed 's/^/# /'
	return $rc
}

# safe_ok NAME: did the last run through a DMA-SAFE domain batch every
# unmap, fall back for none, issue far fewer invalidations than unmaps, and
# leave no page held once the timer ran?
safe_ok()
{
	u=$(delta unmaps)
	d=$(delta deferred)
	sync=$(($(delta sync_caller) + $(delta sync_slab) + $(delta sync_nopage) + \
		$(delta sync_unref) + $(delta sync_large)))
	inv=$(($(delta inv_range) + $(delta inv_full)))
	b=$(delta batched_unmaps)
	held=$(counter held_now "$AFTER")
	ktap_print_msg "$1: unmaps=$u deferred=$d sync=$sync invalidations=$inv" \
		"(range $(delta inv_range), full $(delta inv_full))" \
		"merged=$(delta merged) batched=$b held_now=$held" \
		"promoted=$(($(delta flush_promote_ranges) + $(delta flush_promote_pages)))" \
		"shared=$(delta flush_promote_shared) covered=$(delta trigger_covered)"
	[ "$u" -gt 0 ] && [ "$d" -eq "$u" ] && [ "$sync" -eq 0 ] &&
		[ "$inv" -gt 0 ] && [ $((inv * 4)) -lt "$u" ] &&
		[ "$b" -ge "$d" ] && [ "$held" -eq 0 ]
}

check_safe()
{
	if safe_ok "$1"; then
		ktap_test_pass "$1"
	else
		ktap_test_fail "$1"
	fi
}

# check_unused NAME: the batcher saw none of the run's unmaps.
check_unused()
{
	u=$(delta unmaps)
	ktap_print_msg "$1: unmaps through the batcher: $u"
	if [ "$u" -eq 0 ]; then
		ktap_test_pass "$1"
	else
		ktap_test_fail "$1"
	fi
}

ktap_print_header

[ -d "$DEBUGFS/iommu" ] || mount -t debugfs none "$DEBUGFS" 2>/dev/null
if [ ! -r "$STATS" ]; then
	case " $(cat /proc/cmdline) " in
	*" iommu.safedefer=1 "*)
		ktap_set_plan 1
		ktap_test_fail "$STATS exists with iommu.safedefer=1"
		ktap_finished
		;;
	esac
	ktap_skip_all "no $STATS: kernel without batched IOTLB invalidation"
	exit "$KSFT_SKIP"
fi

TOOL=$(edu_find_tool)
DEV=$(edu_find_device)
[ -n "$TOOL" ] && [ -n "$DEV" ] ||
	edu_missing "dma_map_benchmark and the edu device (1234:11e8)"
edu_unclaimed "$DEV"

TMP=$(mktemp -d)
BEFORE=$TMP/before
AFTER=$TMP/after
trap 'unbind 2>/dev/null; rm -rf "$TMP"' EXIT
GROUP_TYPE=$PCI/$DEV/iommu_group/type
TYPE=$(cat "$GROUP_TYPE" 2>/dev/null || echo none)
ktap_print_msg "device $DEV, IOMMU domain $TYPE"

ktap_set_plan 6

# 1. The thresholds in force.
bad=
for p in ranges:max_ranges:1 pages:max_pages:512 depth:depth:256 \
	 timeout:timeout_ms:10; do
	name=${p%%:*}
	rest=${p#*:}
	key=${rest%%:*}
	def=${rest#*:}
	want=$(cmdline_param "iommu.batch_$name" "$def")
	got=$(counter "$key" "$PARAMS")
	[ "$got" = "$want" ] || bad="$bad $key=$got(want $want)"
done
if [ -z "$bad" ]; then
	ktap_test_pass "thresholds as on the command line"
else
	ktap_test_fail "thresholds as on the command line:$bad"
fi

# 2, 3. A run with 1-page and one with 16-page mappings.
for g in 1 16; do
	name="granule $g through $TYPE"
	if ! bench "$g"; then
		ktap_test_fail "$name: dma_map_benchmark failed"
		continue
	fi
	case "$TYPE" in
	DMA-SAFE) check_safe "$name: batched, no fallback, pages released" ;;
	*) check_unused "$name: batcher unused" ;;
	esac
done

# 4. Two threads: another CPU's batch released by a shared promotion.
name="granule 1, 2 threads through $TYPE"
if ! bench 1 2; then
	ktap_test_fail "$name: dma_map_benchmark failed"
elif [ "$TYPE" != DMA-SAFE ]; then
	check_unused "$name: batcher unused"
elif ! safe_ok "$name"; then
	ktap_test_fail "$name: batched, no fallback, pages released"
elif [ "$(delta flush_promote_shared)" -ge 3 ] &&
     [ "$(delta trigger_covered)" -eq 0 ]; then
	# One promotion may race with the other CPU flushing its own batch;
	# not every one of them.
	ktap_test_fail "$name: shared promotions released no other batch"
else
	ktap_test_pass "$name: batched, pages released, shared flushes cover"
fi

# 5. Switching a strict group to DMA-SAFE and back, no driver bound.
if [ "$TYPE" != DMA ]; then
	ktap_test_skip "switch DMA -> DMA-SAFE -> DMA (booted $TYPE)"
elif ! edu_set_type "$DEV" DMA-SAFE; then
	ktap_test_fail "switch DMA -> DMA-SAFE"
else
	ok=1
	if ! bench 1 || ! safe_ok "switched to DMA-SAFE"; then
		ok=
	fi
	edu_set_type "$DEV" DMA || ok=
	if [ -n "$ok" ]; then
		ktap_test_pass "switch DMA -> DMA-SAFE -> DMA and batch in between"
	else
		ktap_test_fail "switch DMA -> DMA-SAFE -> DMA and batch in between"
	fi
fi

# 6. Tracepoints, where the kernel has tracefs.
[ -d "$TRACEFS/events" ] || mount -t tracefs none "$TRACEFS" 2>/dev/null
EV=$TRACEFS/events/iotlb_batch
if [ ! -d "$EV" ]; then
	ktap_test_skip "iotlb_batch tracepoints (no tracefs in this kernel)"
elif [ "$TYPE" != DMA-SAFE ]; then
	ktap_test_skip "iotlb_batch tracepoints (domain is $TYPE)"
else
	echo > "$TRACEFS/trace"
	echo 1 > "$EV/iotlb_batch_flush/enable"
	echo 1 > "$EV/iotlb_batch_release/enable"
	bench 1
	echo 0 > "$EV/iotlb_batch_flush/enable"
	echo 0 > "$EV/iotlb_batch_release/enable"
	flushes=$(grep -c "iotlb_batch_flush:" "$TRACEFS/trace")
	releases=$(grep -c "iotlb_batch_release:" "$TRACEFS/trace")
	grep -m 2 "iotlb_batch_flush:" "$TRACEFS/trace" | sed 's/^/# /'
	if [ "$flushes" -gt 0 ] && [ "$releases" -ge "$flushes" ]; then
		ktap_test_pass "iotlb_batch tracepoints ($flushes flushes)"
	else
		ktap_test_fail "iotlb_batch tracepoints ($flushes flushes, $releases releases)"
	fi
fi

ktap_finished
