#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# The IOVA allocator's tracepoints (events/iova in tracefs), seen from a
# booted kernel: give the test device (QEMU's edu, 1234:11e8, unless
# IOVA_TEST_DEVICE names a PCI address) a fresh DMA domain by switching its
# group's type (DMA -> DMA-FQ happens in place, so a DMA group goes through
# DMA-FQ back to a new DMA domain), record every iova event during a short
# dma_map_benchmark run, switch back, and check the events:
#
#   - allocations: size > 0, a known path (cache, pool, steal, tree, node,
#     fail), a failure has pfn 0, a range ends at or below its limit and a
#     fast-path range is naturally aligned to its size rounded up to a
#     power of two;
#   - frees: size > 0 and a known path (cache, pool, tree, node);
#   - a fresh domain takes chunks for its pools (iova.pools=1, chunks
#     aligned to their size) or allocates from its tree (iova.pools=0);
#   - merges and splits describe a range inside its extent;
#   - in a second run, in another fresh domain (DMA-FQ), with only the
#     merge, split and refill events on (few enough for the ring buffer to keep them
#     all), the events agree with the domains' counters (debugfs
#     iova/*/stats): as many refill and split events as chunk_refills and
#     splits grew by, and merge events (a fused one counting twice) as
#     merges grew by;
#   - lock events name a known lock and the tree lock is among them.
#
# The ring buffer stops when full rather than overwriting, so the first
# events of the fresh domain are kept. Skipped in a kernel without the
# iova events or tracefs, and for an identity domain.

DIR=$(dirname "$0")
. "$DIR/../kselftest/ktap_helpers.sh"
. "$DIR/edu_lib.sh"

TRACEFS=/sys/kernel/tracing
EV=$TRACEFS/events/iova
PARAMS=/sys/module/iova/parameters
STATS=/sys/kernel/debug/iova
BUF_KB=${IOVA_TRACE_BUFFER_KB:-1024}

# bind/unbind: the test device to and from dma_map_benchmark
bind()
{
	edu_bind "$DEV" dma_map_benchmark
}

unbind()
{
	edu_unbind "$DEV"
}

# stat NAME: counter NAME summed over every domain's debugfs stats.
stat()
{
	cat "$STATS"/*/stats 2>/dev/null |
		awk -v k="$1:" '$1 == k { s += $2 } END { print s + 0 }'
}

# dropped: events the ring buffer had no room for.
dropped()
{
	cat "$TRACEFS"/per_cpu/cpu*/stats 2>/dev/null |
		awk '/^dropped events:/ { s += $3 } END { print s + 0 }'
}

# agree NAME EVENTS DELTA: with nothing dropped the event count must equal
# the counter's growth, otherwise neither may be 0 without the other.
# agree NAME EVENTS "LO HI": the counter grew by LO while the trace surely
# ran and by HI while it may have run; every change traces one event.
agree()
{
	ag_lo=${3% *}
	ag_hi=${3#* }
	ktap_print_msg "$1: $2 events, counter grew by $ag_lo to $ag_hi, $DROPPED events dropped"
	if [ "$DROPPED" -eq 0 ]; then
		[ "$2" -ge "$ag_lo" ] && [ "$2" -le "$ag_hi" ]
	else
		[ "$2" -le "$ag_hi" ] && { [ "$2" -gt 0 ] || [ "$ag_hi" -eq 0 ]; }
	fi
}

# param NAME DEFAULT: an iova module parameter as 0 or 1.
param()
{
	case "$(cat "$PARAMS/$1" 2>/dev/null)" in
	Y | y | 1) echo 1 ;;
	N | n | 0) echo 0 ;;
	*) echo "$2" ;;
	esac
}

trace_off()
{
	echo 0 > "$EV/enable" 2>/dev/null
	echo 1 > "$TRACEFS/options/overwrite" 2>/dev/null
	[ -z "$OLD_BUF" ] || echo "$OLD_BUF" > "$TRACEFS/buffer_size_kb" 2>/dev/null
}

cleanup()
{
	trace_off
	unbind 2>/dev/null
	[ -z "$SWITCHED" ] || [ "$(cat "$GROUP_TYPE")" = "$TYPE" ] ||
		edu_set_type "$DEV" "$TYPE"
	rm -rf "$TMP"
}

# check EVENT: awk over the recorded trace, one line per event of EVENT
# with its key=value fields in f[]. Prints "count bad first-bad-line".
# The programs below set ok = 0 for a bad event. Numbers are parsed by
# hand: neither busybox awk nor mawk reads hex.
check()
{
	awk -v ev="$1:" '
	function num(s,    i, c, v) {
		v = 0
		if (s ~ /^0x/) {
			s = substr(s, 3)
			for (i = 1; i <= length(s); i++) {
				c = index("0123456789abcdef", substr(s, i, 1))
				if (!c)
					return -1
				v = v * 16 + c - 1
			}
			return v
		}
		return s ~ /^[0-9]+$/ ? s + 0 : -1
	}
	function p2(n,    v) {
		v = 1
		while (v < n)
			v *= 2
		return v
	}
	# a % b for values beyond 2^31, which some awks truncate in %
	function mod(a, b) {
		return a - int(a / b) * b
	}
	{
		for (i = 1; i <= NF; i++)
			if ($i == ev)
				break
		if (i > NF)
			next
		delete f
		for (i++; i <= NF; i++)
			if ((j = index($i, "=")))
				f[substr($i, 1, j - 1)] = substr($i, j + 1)
		ok = 1
		n++
		'"$2"'
		if (!ok && !bad++)
			first = $0
	}
	END { printf "%d %d %s\n", n, bad, first }' "$TRACE"
}

# verdict NAME RESULT [MIN]: pass when RESULT (from check) names no bad
# event and at least MIN (default 1) events.
verdict()
{
	set -- "$1" "$2" "${3:-1}"
	n=${2%% *}
	rest=${2#* }
	bad=${rest%% *}
	first=${rest#* }
	[ "$bad" -eq 0 ] || ktap_print_msg "first bad event: $first"
	if [ "$bad" -eq 0 ] && [ "$n" -ge "$3" ]; then
		ktap_test_pass "$1 ($n events)"
	else
		ktap_test_fail "$1 ($n events, $bad bad)"
	fi
}

ktap_print_header

[ -d "$TRACEFS/events" ] || mount -t tracefs none "$TRACEFS" 2>/dev/null
if [ ! -d "$TRACEFS/events" ]; then
	ktap_skip_all "no tracefs in this kernel"
	exit "$KSFT_SKIP"
fi
if [ ! -d "$EV" ]; then
	ktap_skip_all "no iova tracepoints: kernel without the IOVA rework"
	exit "$KSFT_SKIP"
fi

TOOL=$(edu_find_tool)
DEV=$(edu_find_device)
[ -n "$TOOL" ] && [ -n "$DEV" ] ||
	edu_missing "dma_map_benchmark and the edu device (1234:11e8)"
edu_unclaimed "$DEV"
GROUP_TYPE=$PCI/$DEV/iommu_group/type
TYPE=$(cat "$GROUP_TYPE" 2>/dev/null || echo none)
case "$TYPE" in
DMA) OTHER="DMA-FQ DMA" ;;
DMA-FQ | DMA-SAFE) OTHER=DMA ;;
*)
	ktap_skip_all "IOMMU domain $TYPE allocates no IOVA"
	exit "$KSFT_SKIP"
	;;
esac

TMP=$(mktemp -d)
TRACE=$TMP/trace
SWITCHED=
OLD_BUF=
trap cleanup EXIT
POOLS=$(param pools 1)
MERGE=$(param merge 1)
ktap_print_msg "device $DEV, IOMMU domain $TYPE, iova.pools=$POOLS iova.merge=$MERGE"

[ -d "$STATS" ] || mount -t debugfs none /sys/kernel/debug 2>/dev/null
ktap_set_plan 8

# 1. The events exist and can be enabled.
missing=
for e in iova_alloc iova_free iova_merge iova_split iova_pool_refill \
	 iova_pool_return iova_pool_steal iova_lock; do
	[ -d "$EV/$e" ] || missing="$missing $e"
done
# "7 (expanded: 1408)" before the buffer was first used
OLD_BUF=$(sed 's/.*expanded: *//; s/[^0-9].*//' "$TRACEFS/buffer_size_kb")
echo 0 > "$TRACEFS/tracing_on"
echo > "$TRACEFS/trace"
echo "$BUF_KB" > "$TRACEFS/buffer_size_kb"
echo 0 > "$TRACEFS/options/overwrite"
if [ -z "$missing" ] && echo 1 > "$EV/enable" &&
   [ "$(cat "$EV/iova_alloc/enable")" = 1 ]; then
	ktap_test_pass "iova events present and enabled"
else
	ktap_test_fail "iova events present and enabled (missing:$missing)"
fi

# A fresh domain, so that its pools start empty, then one short run.
fresh=1
for t in $OTHER; do
	SWITCHED=1
	if ! edu_set_type "$DEV" "$t"; then
		ktap_print_msg "cannot switch the group to $t: using the $(cat "$GROUP_TYPE") domain"
		fresh=
		break
	fi
done
echo 1 > "$TRACEFS/tracing_on"
ran=
if bind; then
	"$TOOL" -t 1 -s 1 -g 1 2>&1 | grep latency | sed 's/^/# /'
	ran=1
fi
unbind
echo 0 > "$TRACEFS/tracing_on"
cat "$TRACEFS/trace" > "$TRACE"

# The second run, for the counters: the low-rate events only, in a fresh
# domain again (the group is DMA now when the switches worked), with a
# flush queue, which holds many ranges at once, so that abutting ones are
# allocated and merge.
if [ -n "$fresh" ]; then
	edu_set_type "$DEV" DMA-FQ && edu_set_type "$DEV" DMA &&
		edu_set_type "$DEV" DMA-FQ ||
		ktap_print_msg "no fresh DMA-FQ domain for the second run"
fi
echo 0 > "$EV/enable"
for e in iova_merge iova_split iova_pool_refill; do
	echo 1 > "$EV/$e/enable"
done
echo > "$TRACEFS/trace"
# Other work (a domain's caches decaying) may change the counters at any
# time: read them on both sides of each switch of the trace. The events
# traced lie between what changed while tracing surely ran and what
# changed while it may have run (see agree()).
REFILLS0=$(stat chunk_refills)
MERGES0=$(stat merges)
SPLITS0=$(stat splits)
echo 1 > "$TRACEFS/tracing_on"
REFILLS1=$(stat chunk_refills)
MERGES1=$(stat merges)
SPLITS1=$(stat splits)
ran2=
if bind; then
	"$TOOL" -t 2 -s 1 -g 1 > /dev/null 2>&1 && ran2=1
fi
unbind
# The flush queue frees its last ranges (and splits extents) up to 10 ms
# after the unmaps: trace those frees too.
sleep 1
REFILLS2=$(stat chunk_refills)
MERGES2=$(stat merges)
SPLITS2=$(stat splits)
echo 0 > "$TRACEFS/tracing_on"
DROPPED=$(dropped)
REFILLS="$((REFILLS2 - REFILLS1)) $(($(stat chunk_refills) - REFILLS0))"
MERGES="$((MERGES2 - MERGES1)) $(($(stat merges) - MERGES0))"
SPLITS="$((SPLITS2 - SPLITS1)) $(($(stat splits) - SPLITS0))"
cat "$TRACEFS/trace" > "$TMP/trace2"
trace_off
if [ -n "$SWITCHED" ]; then
	[ "$(cat "$GROUP_TYPE")" = "$TYPE" ] || edu_set_type "$DEV" "$TYPE" ||
		ktap_print_msg "cannot switch the group back to $TYPE"
	SWITCHED=
fi
[ -n "$ran" ] || ktap_print_msg "dma_map_benchmark could not be bound"
grep -m 3 ' iova_alloc:' "$TRACE" | sed 's/^/# /'

# 2. Allocations.
r=$(check iova_alloc '
	s = num(f["size"]); l = num(f["limit"]); p = num(f["pfn"])
	path = f["path"]
	if (s <= 0 || l < 0 || p < 0)
		ok = 0
	else if (path == "fail")
		ok = p == 0
	else if (path !~ /^(cache|pool|steal|tree|node)$/)
		ok = 0
	else if (p == 0 || p + s - 1 > l)
		ok = 0
	else if (path != "node" && mod(p, p2(s)))
		ok = 0')
verdict "iova_alloc: size, limit, pfn and path sane" "$r"

# 3. Frees.
r=$(check iova_free '
	s = num(f["size"]); p = num(f["pfn"])
	ok = s > 0 && p > 0 && f["path"] ~ /^(cache|pool|tree|node)$/')
verdict "iova_free: size, pfn and path sane" "$r"

# 4. The fresh domain's first allocations.
if [ -z "$fresh" ]; then
	ktap_test_skip "fresh domain (no second DMA domain type)"
elif [ "$POOLS" = 1 ]; then
	r=$(check iova_pool_refill '
		g = num(f["pages"]); p = num(f["pfn"])
		ok = g > 0 && p >= 0 && !mod(p, p2(g))')
	verdict "fresh domain: pools take aligned chunks" "$r"
else
	r=$(check iova_alloc 'ok = f["path"] == "tree"')
	n=${r%% *}
	if [ "$n" -gt 0 ]; then
		ktap_test_pass "fresh domain: allocations from the tree ($n)"
	else
		ktap_test_fail "fresh domain: allocations from the tree"
	fi
fi

# 5. Merges: the range lies inside the extent it joined.
r=$(check iova_merge '
	s = num(f["size"]); p = num(f["pfn"])
	split(f["extent"], e, "-"); lo = num(e[1]); hi = num(e[2])
	ok = s > 0 && lo >= 0 && hi >= 0 && lo <= p && p + s - 1 <= hi &&
		hi - lo + 1 > s')
verdict "iova_merge: ranges join abutting extents" "$r" 0

# 6. Splits: the freed range lies strictly inside the extent.
r=$(check iova_split '
	s = num(f["size"]); p = num(f["pfn"])
	split(f["extent"], e, "-"); lo = num(e[1]); hi = num(e[2])
	ok = s > 0 && lo >= 0 && lo < p && p + s - 1 < hi')
verdict "iova_split: freed range inside its extent" "$r" 0

# 7. The events of the second run against the counters.
REFILL_EVENTS=$(grep -c ' iova_pool_refill: ' "$TMP/trace2")
MERGE_EVENTS=$(($(grep -c ' iova_merge: ' "$TMP/trace2") +
		$(grep -c ' iova_merge: .* fused=1' "$TMP/trace2")))
SPLIT_EVENTS=$(grep -c ' iova_split: ' "$TMP/trace2")
if [ ! -d "$STATS" ]; then
	ktap_test_skip "events agree with the counters (no $STATS)"
elif [ -z "$ran2" ]; then
	ktap_test_fail "events agree with the counters: dma_map_benchmark failed"
elif agree "refills" "$REFILL_EVENTS" "$REFILLS" &&
     agree "merges (fused twice)" "$MERGE_EVENTS" "$MERGES" &&
     agree "splits" "$SPLIT_EVENTS" "$SPLITS"; then
	ktap_test_pass "events agree with the counters"
else
	ktap_test_fail "events agree with the counters"
fi

# 8. Locks.
r=$(check iova_lock 'ok = f["lock"] ~ /^(tree|depot)$/')
trees=$(grep -c ' iova_lock: .* lock=tree' "$TRACE")
if [ "$trees" -gt 0 ]; then
	verdict "iova_lock: known locks, tree lock taken" "$r"
else
	ktap_test_fail "iova_lock: no tree lock taken"
fi

ktap_finished
