#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# make bench: every benchmark, stock and ours in one run. The userspace
# harness (tools/testing/iova) and the guest comparisons (mk/guest/compare.sh)
# for each architecture and granule, then one report: build/bench/results.json,
# build/bench/summary.md and PNG plots (gnuplot).
#
# Environment: BENCH_ARCHES ("x86_64 arm64"), BENCH_GRANULES (x86_64:
# "1 16 64", arm64: "1 16"), BENCH_SECONDS (3), BENCH_THREADS ("1,2"),
# BENCH_ROUNDS (2: boots of each kernel and mode, stock and ours taking
# turns to go first), BENCH_QUICK=1 (short harness run).
set -e -o pipefail
. "$(dirname "$0")/lib.sh"
clean_make_env
setup_ccache

OUTB=$BUILD/bench
mkdir -p "$OUTB"
arches=${BENCH_ARCHES:-x86_64 arm64}
bad=

step "bench: userspace harness, stock vs ours ($(nproc) CPUs)"
hargs=
[ -z "$BENCH_QUICK" ] || hargs=--quick
if ! make -s -C "$TOP/tools/testing/iova" bench BENCH_JSON="$OUTB/harness.json" \
	BENCH_ARGS="$hargs" | tee "$OUTB/harness.txt"; then
	bad="$bad harness"
fi

export BENCH_SECONDS=${BENCH_SECONDS:-3}
export BENCH_ROUNDS=${BENCH_ROUNDS:-2}
for a in $arches; do
	granules=$BENCH_GRANULES
	if [ -z "$granules" ]; then
		granules="1 16"
		[ "$a" = x86_64 ] && granules="1 16 64"
	fi
	for g in $granules; do
		step "bench: $a guests, granule $g"
		if BENCH_GRANULE=$g bash "$TOP/mk/guest/compare.sh" "$a"; then
			:
		else
			bad="$bad $a-g$g"
		fi
		[ -f "$RESULTS/compare-$a.json" ] &&
			cp "$RESULTS/compare-$a.json" "$OUTB/compare-$a-g$g.json"
		[ -f "$RESULTS/compare-$a.txt" ] &&
			cp "$RESULTS/compare-$a.txt" "$OUTB/compare-$a-g$g.txt"
	done
done

# The stale IOTLB attack runs of the last boot selftests (make check).
rm -f "$OUTB"/attack-*.json
for f in "$RESULTS"/attack-*.json; do
	if [ -s "$f" ]; then
		cp "$f" "$OUTB/"
	fi
done

step "bench: report"
python3 "$TOP/mk/bench_report.py" "$OUTB"
step "bench: wrote ${OUTB#$TOP/}/results.json, summary.md and plots"
cat "$OUTB/summary.md"
[ -z "$bad" ] || die "benchmarks that failed:$bad"
