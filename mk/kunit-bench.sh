#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The fast-path KUnit benchmark (drivers/iommu/tests/iova_bench_kunit.c)
# under UML, ours against stock 6.12 in kernels of one configuration: the
# same test file is built into a copy of the pristine tree (hard links;
# the two files it changes are replaced, not edited) and into the patched
# one, then the two kernels run in turn, KBENCH_RUNS times each (7).
# Writes $BUILD/bench/kunit-bench.json and prints one line per run.
set -e -o pipefail
. "$(dirname "$0")/lib.sh"
clean_make_env
setup_ccache

runs=${KBENCH_RUNS:-7}
out=$BUILD/bench
kb=$BUILD/kunit-bench
mkdir -p "$out" "$kb"
src=$TOP/drivers/iommu/tests/iova_bench_kunit.c

# A stock tree that also builds the benchmark.
ssrc=$kb/stock-src
if [ ! -f "$ssrc/.bench-ready" ] || [ "$src" -nt "$ssrc/.bench-ready" ]; then
	step "kunit-bench: stock tree with the benchmark"
	rm -rf "$ssrc"
	cp -al "$STOCK" "$ssrc"
	rm -rf "$ssrc/.git"
	for f in drivers/iommu/Kconfig drivers/iommu/Makefile; do
		cp --remove-destination "$STOCK/$f" "$ssrc/$f"
	done
	cat >> "$ssrc/drivers/iommu/Kconfig" <<'KC'

config IOVA_BENCH_KUNIT
	tristate "KUnit benchmark of the IOVA allocator's fast path"
	depends on KUNIT
	select IOMMU_IOVA
KC
	echo 'obj-$(CONFIG_IOVA_BENCH_KUNIT) += tests/iova_bench_kunit.o' \
		>> "$ssrc/drivers/iommu/Makefile"
	mkdir -p "$ssrc/drivers/iommu/tests"
	cp "$src" "$ssrc/drivers/iommu/tests/"
	touch "$ssrc/.bench-ready"
fi

printf 'CONFIG_KUNIT=y\nCONFIG_IOVA_BENCH_KUNIT=y\n' > "$kb/kunitconfig"
for impl in stock ours; do
	tree=$KSRC
	[ "$impl" = stock ] && tree=$ssrc
	step "kunit-bench: build the $impl UML kernel"
	(cd "$tree" && nice -n 5 python3 tools/testing/kunit/kunit.py build \
		--build_dir="$kb/$impl" --kunitconfig="$kb/kunitconfig" \
		--make_options "CC=ccache gcc" --jobs="$(nproc)") \
		> "$kb/build-$impl.log" 2>&1 ||
		die "kunit-bench: $impl build failed (${kb#$TOP/}/build-$impl.log)"
done

# One run: prints ns per pair, or nothing if the case did not pass.
run_one() {
	local tree=$KSRC
	[ "$1" = stock ] && tree=$ssrc
	(cd "$tree" && python3 tools/testing/kunit/kunit.py exec \
		--build_dir="$kb/$1" --timeout=600 --raw_output=all iova_bench) 2>&1 |
		tee -a "$kb/exec-$1.log" |
		sed -n 's/.*# iova-bench: small_pairs pairs=[0-9]* ns_per_pair=\([0-9.]*\).*/\1/p' |
		head -n 1
}

rm -f "$kb"/exec-*.log
stock_ns=
ours_ns=
for i in $(seq 1 "$runs"); do
	# take turns to go first
	order="stock ours"
	[ $((i % 2)) = 0 ] && order="ours stock"
	for impl in $order; do
		ns=$(run_one "$impl")
		[ -n "$ns" ] || die "kunit-bench: $impl run $i failed (${kb#$TOP/}/exec-$impl.log)"
		step "kunit-bench: run $i $impl: $ns ns per pair"
		if [ "$impl" = stock ]; then
			stock_ns="$stock_ns $ns"
		else
			ours_ns="$ours_ns $ns"
		fi
	done
done

python3 - "$out/kunit-bench.json" "$stock_ns" "$ours_ns" <<'PY'
import json, statistics, sys
path, stock, ours = sys.argv[1], sys.argv[2].split(), sys.argv[3].split()
stock = [float(v) for v in stock]
ours = [float(v) for v in ours]
ms, mo = statistics.median(stock), statistics.median(ours)
doc = {
    "bench": "small_pairs",
    "what": "30,000 single pages that stay, then alloc_iova_fast()/"
            "free_iova_fast() pairs of 1-16 pages, one CPU, UML",
    "stock_ns_per_pair": stock, "ours_ns_per_pair": ours,
    "stock_median": ms, "ours_median": mo,
    "stock_over_ours": ms / mo if mo else None,
}
json.dump(doc, open(path, "w"), indent=1)
print("kunit-bench small_pairs: stock median %.1f ns (%.1f-%.1f), ours median %.1f ns"
      " (%.1f-%.1f), stock/ours %.2f" % (ms, min(stock), max(stock), mo, min(ours),
                                          max(ours), ms / mo if mo else 0))
PY
