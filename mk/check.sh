#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# make check: run every test part, keep going past a failing part, add up
# the counts each part recorded, print "N passed, N failed" last.
. "$(dirname "$0")/lib.sh"

parts=${CHECK_PARTS:-"series harness kunit kunit-debug selftests-x86_64 selftests-x86_64-amd selftests-x86_64-ats lint selftests-arm64"}
mkdir -p "$RESULTS"
declare -A secs notes

run_part() {
	case $1 in
	harness)		bash "$TOP/mk/harness.sh" ;;
	kunit)			bash "$TOP/mk/kunit.sh" plain ;;
	kunit-debug)		bash "$TOP/mk/kunit.sh" debug ;;
	selftests-x86_64)	bash "$TOP/mk/guest/selftests.sh" x86_64 ;;
	selftests-x86_64-amd)	GUEST_IOMMU=amd bash "$TOP/mk/guest/selftests.sh" x86_64 ;;
	# ATS: the device workloads alone, traced, strict and safe deferred;
	# four ranges per batch, so that VT-d's several-ranges-one-wait
	# invalidation runs with device TLBs behind it.
	selftests-x86_64-ats)	GUEST_ATS=1 GUEST_MODES=${GUEST_ATS_MODES:-"strict safedefer"} \
				bash "$TOP/mk/guest/selftests.sh" x86_64 \
				iovatest.run=iova:devices.sh,iova:dmesg_clean.sh \
				iommu.batch_ranges=4 ;;
	# arm64: four ranges per batch (the x86_64 part keeps the default
	# of one), so that the safe deferred boot runs SMMUv3's several-
	# ranges-one-CMD_SYNC invalidation under the device workloads.
	selftests-arm64)	bash "$TOP/mk/guest/selftests.sh" arm64 iommu.batch_ranges=4 ;;
	lint)			bash "$TOP/mk/lint.sh" ;;
	# series.sh check records its counts: one for git am, one per W=1
	# build of a commit, every KUnit case of every commit, one per
	# harness run.
	series)			bash "$TOP/mk/series.sh" build && bash "$TOP/mk/series.sh" check ;;
	*)			echo "unknown part $1"; return 1 ;;
	esac
}

for p in $parts; do
	rm -f "$RESULTS/$p.counts"
	t0=$(date +%s)
	step "check: $p"
	run_part "$p" 2>&1 | tee "$RESULTS/$p.out"
	rc=${PIPESTATUS[0]}
	secs[$p]=$(( $(date +%s) - t0 ))
	if [ ! -s "$RESULTS/$p.counts" ]; then
		notes[$p]="recorded no counts (exit $rc): counted as 1 failure"
		echo "check: $p ${notes[$p]}"
		record_result "$p" 0 1
	elif [ "$rc" != 0 ] && [ "$(cut -d' ' -f2 "$RESULTS/$p.counts")" = 0 ]; then
		notes[$p]="exited $rc with no failed test: counted as 1 failure"
		echo "check: $p ${notes[$p]}"
		read -r a _ < "$RESULTS/$p.counts"
		record_result "$p" "$a" 1
	fi
done

total_p=0
total_f=0
echo
printf '%-20s %8s %8s %8s\n' part passed failed seconds
for p in $parts; do
	read -r a b < "$RESULTS/$p.counts"
	printf '%-20s %8d %8d %8d\n' "$p" "$a" "$b" "${secs[$p]}"
	total_p=$((total_p + a))
	total_f=$((total_f + b))
done

# Name what failed, so that the tail of a CI log says it.
for p in $parts; do
	read -r _ b < "$RESULTS/$p.counts"
	[ "$b" != 0 ] || continue
	echo "failed in $p:${notes[$p]:+ ${notes[$p]}}"
	logs=$RESULTS/$p.out
	case $p in selftests-*) logs="$logs $(ls "$RESULTS/guest/$p"-*.log 2>/dev/null)" ;; esac
	# shellcheck disable=SC2086
	grep -a -h -E '^(# )*not ok|^FAIL|FAILED|error:' $logs 2>/dev/null |
		grep -v ' # SKIP' | sort -u | head -n 20 | sed 's/^/  /'
done
echo
echo "$total_p passed, $total_f failed"
[ "$total_f" = 0 ] && [ "$total_p" -gt 0 ]
