#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The userspace harness (tools/testing/iova): build every variant against
# the prepared tree (ours) and the stock worktree, run the tests, record
# the counts as the "harness" part of make check.
. "$(dirname "$0")/lib.sh"
clean_make_env

log=$RESULTS/harness.log
mkdir -p "$RESULTS"
rm -f "$RESULTS/harness.counts" "$BUILD/harness/results.counts"
[ -f "$KSRC/drivers/iommu/iova.c" ] || die "$KSRC not prepared: run 'make tree'"
[ -f "$STOCK/drivers/iommu/iova.c" ] || die "$STOCK missing: run 'make tree'"

step "harness: build (plain, ASan+UBSan, TSan, libFuzzer) and run"
nice -n 10 make -s -C "$TOP/tools/testing/iova" test KSRC="$KSRC" STOCK="$STOCK" \
	O="$BUILD/harness" -j"$(jobs)" 2>&1 | tee "$log" |
	grep -E '^(not ok|#   |# (plain|asan|tsan|fuzz):)|passed, [0-9]+ failed$|error'
if [ -s "$BUILD/harness/results.counts" ]; then
	read -r pass fail < "$BUILD/harness/results.counts"
else
	pass=0
	fail=1
fi
record_result harness "$pass" "$fail"
step "harness: $pass passed, $fail failed (log: ${log#$TOP/})"
[ "$fail" = 0 ]
