#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# make bench: every benchmark, stock and ours in one run. The userspace
# harness (tools/testing/iova) and the guest comparisons (mk/guest/compare.sh)
# for each architecture and granule, then one report from their JSON:
# build/bench/REPORT.md (tables, plots, the exact commands, QEMU and kernel
# versions, machine, date), results.json, summary.md (the headline, which
# the cover letter quotes) and PNG plots (gnuplot).
#
# Environment: BENCH_ARCHES ("x86_64 arm64"), BENCH_GRANULES ("1": the
# pages of each dma_map_benchmark mapping; "1 16 64" adds the multi-page
# sweep, about 40 minutes per granule and architecture), BENCH_SECONDS (3), BENCH_THREADS ("1,2"),
# BENCH_ROUNDS (2: boots of each kernel and mode, stock and ours taking
# turns to go first), BENCH_QUICK=1 (short harness run), KBENCH_RUNS (7:
# runs of each UML kernel of mk/kunit-bench.sh), COMPARE_ICOUNT
# (mk/guest/compare.sh), BENCH_IRQSOFF_ARCHES (x86_64: the architectures
# whose longest IRQs-off section of a flush mk/guest/irqsoff.sh measures,
# "none" for none; IRQSOFF_GRANULES, IRQSOFF_FLUSHES and IRQSOFF_BUDGET
# go to it),
# BENCH_DEVICES (1: the device workloads stock against ours in every mode,
# mk/guest/devbench.sh, for each architecture of BENCH_ARCHES; 0: skip;
# DEVBENCH_ROUNDS, DEVBENCH_MODES, DEVBENCH_SECONDS, DEVBENCH_ATS,
# DEVBENCH_ICOUNT and DEVBENCH_ICOUNT_ROUNDS go to
# it), BENCH_ONLY=devices or BENCH_ONLY=allocator (one part of the run
# and the report: the device workloads, or everything else; what the other
# part left in build/bench stays and is reported again with its own dates
# and commit; BENCH_ONLY=report: only the report, from what is there),
# BENCH_PUBLISH=1 (copy the report, its JSON and plots to
# results/ and rewrite README.md's headline from them, for a commit; not
# done when a part failed, nor unless both parts, in one run or two,
# measured this tree's code on a clean tree: mk/bench_report.py).
set -e -o pipefail
. "$(dirname "$0")/lib.sh"
clean_make_env
setup_ccache

OUTB=$BUILD/bench
mkdir -p "$OUTB"
only=${BENCH_ONLY:-}
case "$only" in
"") parts="allocator devices"
	[ "${BENCH_DEVICES:-1}" != 0 ] || parts=allocator ;;
devices | allocator) parts=$only ;;
report) parts= ;;
*) die "BENCH_ONLY=$only: 'devices', 'allocator' or 'report'" ;;
esac
# No table, plot or record of a part that runs now may be left from an
# earlier run; the other part's stay.
for p in $parts; do
	rm -f "$OUTB/meta-$p.json" "$OUTB/commands-$p.txt"
	case $p in
	allocator)
		rm -f "$OUTB"/compare-*.json "$OUTB"/compare-*.txt \
			"$OUTB"/harness.json "$OUTB"/harness.txt \
			"$OUTB"/kunit-bench.json "$OUTB"/irqsoff-*.json \
			"$OUTB"/irqsoff-*.txt ;;
	devices)
		rm -f "$OUTB"/devbench-*.json "$OUTB"/devbench-*.md ;;
	esac
done
rm -f "$OUTB"/*.png "$OUTB"/*.dat "$OUTB"/REPORT.md "$OUTB"/summary.md
arches=${BENCH_ARCHES:-x86_64 arm64}
bad=

# What the report says about each part: the commands as run, in order.
now() { date -u +%Y-%m-%dT%H:%M:%SZ; }
load1() { cut -d' ' -f1 /proc/loadavg; }
tree_id() { bash "$TOP/mk/tree-id.sh" "$TOP"; }
start=$(now)
load_start=$(load1)
tree_start=$(tree_id)
# cmd PART COMMAND...: record a command of PART.
cmd() {
	local p=$1
	shift
	echo "$*" >> "$OUTB/commands-$p.txt"
}

# devbench ARCH: the device workloads of ARCH, stock against ours.
devbench() {
	step "bench: $1 guests, device workloads"
	cmd devices "DEVBENCH_ROUNDS=${DEVBENCH_ROUNDS:-3}" \
		"DEVBENCH_SECONDS=${DEVBENCH_SECONDS:-8}" \
		"DEVBENCH_ICOUNT=${DEVBENCH_ICOUNT:-3}" \
		"DEVBENCH_ICOUNT_ROUNDS=${DEVBENCH_ICOUNT_ROUNDS:-3}" \
		"${DEVBENCH_MODES:+DEVBENCH_MODES=\"$DEVBENCH_MODES\" }${DEVBENCH_ATS:+DEVBENCH_ATS=$DEVBENCH_ATS }bash mk/guest/devbench.sh $1"
	# Only this run's table, and only when the run passed: a devbench
	# that failed must not leave an earlier table, nor a partial one, to
	# be reported and published (devbench.sh removes its own first).
	rm -f "$OUTB/devbench-$1.json" "$OUTB/devbench-$1.md"
	if bash "$TOP/mk/guest/devbench.sh" "$1" &&
	   [ -s "$RESULTS/devbench-$1.json" ]; then
		cp "$RESULTS/devbench-$1.json" "$RESULTS/devbench-$1.md" "$OUTB/"
	else
		bad="$bad $1-devices"
	fi
}

# has PART: whether this run measures PART.
has() { case " $parts " in *" $1 "*) ;; *) return 1 ;; esac; }
has devices || BENCH_DEVICES=0
# Without the allocator part no guest boots but the device workloads'.
if ! has allocator; then
	if has devices; then
		for a in $arches; do
			devbench "$a"
		done
	fi
	arches=
fi

if has allocator; then
	step "bench: userspace harness, stock vs ours ($(nproc) CPUs)"
	hargs=
	[ -z "$BENCH_QUICK" ] || hargs=--quick
	cmd allocator "make -C tools/testing/iova bench BENCH_JSON=build/bench/harness.json BENCH_ARGS=$hargs"
	if ! make -s -C "$TOP/tools/testing/iova" bench BENCH_JSON="$OUTB/harness.json" \
		BENCH_ARGS="$hargs" | tee "$OUTB/harness.txt"; then
		bad="$bad harness"
	fi

	step "bench: KUnit fast-path benchmark under UML, stock vs ours"
	rm -f "$OUTB/kunit-bench.json"
	cmd allocator "KBENCH_RUNS=${KBENCH_RUNS:-7} bash mk/kunit-bench.sh"
	bash "$TOP/mk/kunit-bench.sh" || bad="$bad kunit-bench"
fi

export BENCH_SECONDS=${BENCH_SECONDS:-3}
export BENCH_ROUNDS=${BENCH_ROUNDS:-2}
for a in $arches; do
	for g in ${BENCH_GRANULES:-1}; do
		step "bench: $a guests, granule $g"
		# No table of an earlier granule or run may stand for this one.
		rm -f "$RESULTS/compare-$a.json" "$RESULTS/compare-$a.txt"
		cmd allocator "BENCH_SECONDS=$BENCH_SECONDS BENCH_ROUNDS=$BENCH_ROUNDS" \
			"BENCH_THREADS=${BENCH_THREADS:-1,2} BENCH_GRANULE=$g" \
			"COMPARE_ICOUNT=${COMPARE_ICOUNT:-3}" \
			"${GUEST_MODES:+GUEST_MODES=\"$GUEST_MODES\" }bash mk/guest/compare.sh $a"
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
	[ "${BENCH_DEVICES:-1}" = 0 ] || devbench "$a"
done

# The longest IRQs-off section of a flush, stock lazy against safe mode:
# exact instruction counts from single-stepping (mk/guest/irqsoff.sh).
# Only the granules measured now are reported.
for a in ${BENCH_IRQSOFF_ARCHES:-x86_64}; do
	[ "$a" != none ] || continue
	case " $arches " in *" $a "*) ;; *) continue ;; esac
	step "bench: $a guests, longest IRQs-off section of a flush"
	ig=${IRQSOFF_GRANULES:-1}
	for g in $ig; do
		rm -f "$RESULTS/irqsoff-$a-g$g.json" "$RESULTS/irqsoff-$a-g$g.txt"
	done
	cmd allocator "IRQSOFF_GRANULES=\"$ig\"" \
		"IRQSOFF_FLUSHES=${IRQSOFF_FLUSHES:-3}" \
		"IRQSOFF_BUDGET=${IRQSOFF_BUDGET:-150} bash mk/guest/irqsoff.sh $a"
	IRQSOFF_GRANULES=$ig bash "$TOP/mk/guest/irqsoff.sh" "$a" ||
		bad="$bad $a-irqsoff"
	for g in $ig; do
		f=$RESULTS/irqsoff-$a-g$g.json
		[ ! -s "$f" ] || cp "$f" "$OUTB/"
	done
done

# The stale IOTLB attack runs of the last boot selftests (make check),
# with the tree each ran on (attack-*.tree); the report shows them as
# this run's only where that tree's code is this run's.
rm -f "$OUTB"/attack-*.json "$OUTB"/attack-*.tree
for f in "$RESULTS"/attack-*.json; do
	if [ -s "$f" ]; then
		cp "$f" "$OUTB/"
		[ ! -f "${f%.json}.tree" ] || cp "${f%.json}.tree" "$OUTB/"
	fi
done

step "bench: report"
[ -z "$parts" ] || [ -z "$(ls "$OUTB"/attack-*.json 2>/dev/null)" ] ||
	cmd "${parts%% *}" "# stale IOTLB attack: build/results/attack-*.json of the last make check"
# Whether each part passed: what failed, and whether the tree changed
# while it ran (then its figures are of no one commit).
tree_end=$(tree_id)
for p in $parts; do
	failed=
	for b in $bad; do
		case $p:$b in
		devices:*-devices) failed="$failed $b" ;;
		allocator:*-devices) ;;
		allocator:*) failed="$failed $b" ;;
		esac
	done
	[ "$tree_start" = "$tree_end" ] ||
		failed="$failed tree-changed($tree_start->$tree_end)"
M_START=$start M_END=$(now) M_LOAD_START=$load_start M_LOAD_END=$(load1) \
M_TREE=$tree_start M_FAILED=$failed \
python3 - "$OUTB/meta-$p.json" "$TOP" "$BUILD/KERNEL_VERSION" <<'PY'
import json, os, sys
out, top, kfile = sys.argv[1:4]
e = os.environ
json.dump({
    "start": e["M_START"], "end": e["M_END"],
    "load_start": e["M_LOAD_START"], "load_end": e["M_LOAD_END"],
    "kernel": open(kfile).read().strip() if os.path.exists(kfile) else None,
    "commit": e["M_TREE"],
    "failed": e["M_FAILED"].split(),
    "environment": " ".join(sorted(
        f"{k}={v}" for k, v in e.items()
        if k.split("_")[0] in ("BENCH", "GUEST", "COMPARE", "DEVBENCH"))),
}, open(out, "w"), indent=1)
PY
done
# A run with a failed part is reported in build/bench, never published.
publish=()
if [ "$BENCH_PUBLISH" = 1 ] && [ -z "$bad" ]; then
	publish=(--publish "$TOP/results" --readme "$TOP/README.md" --top "$TOP")
fi
rc=0
python3 "$TOP/mk/bench_report.py" "$OUTB" "${publish[@]}" || rc=$?
[ "$rc" = 0 ] || [ "$rc" = 3 ] || die "mk/bench_report.py failed"
step "bench: wrote ${OUTB#$TOP/}/REPORT.md, results.json, summary.md and plots"
if [ "$BENCH_PUBLISH" = 1 ]; then
	if [ -n "$bad" ]; then
		step "bench: BENCH_PUBLISH=1, but parts failed:$bad; results/ and README.md left as they were"
	elif [ "$rc" = 3 ]; then
		bad="$bad publish"
		step "bench: BENCH_PUBLISH=1, but the report is not of this tree (above); results/ and README.md left as they were"
	else
		step "bench: copied the report to results/ and the headline to README.md"
	fi
fi
cat "$OUTB/summary.md"
[ -z "$bad" ] || die "benchmarks that failed:$bad"
