#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Run last: the kernel log since boot must hold no sign of a kernel bug
# (WARNING, BUG, Oops, lockdep, KASAN, UBSAN, list corruption) and no
# IOMMU translation fault: dma_map_benchmark and the tests before this one
# only ever touch mapped addresses, so a fault means a mapping went missing
# or was torn down too early. A test that provokes faults on purpose writes
# "iova-selftest: expect-faults begin" and "... end" to /dev/kmsg around
# them; faults between the two are allowed, bugs are not.

DIR=$(dirname "$0")
. "$DIR/../kselftest/ktap_helpers.sh"

BUGS='WARNING:|BUG:|Oops|Kernel panic|general protection fault|'
BUGS="${BUGS}"'possible recursive locking|possible circular locking|'
BUGS="${BUGS}"'inconsistent lock state|UBSAN:|KASAN:|'
BUGS="${BUGS}"'list_add corruption|list_del corruption'
# Intel VT-d, AMD-Vi and Arm SMMUv3 fault reports.
FAULTS='DMAR: \[DMA (Read|Write)|DMAR: DRHD: handling fault|'
FAULTS="${FAULTS}"'AMD-Vi: Event logged|'
FAULTS="${FAULTS}"'arm-smmu-v3.*event 0x|Unhandled context fault'

ktap_print_header
log=$(dmesg 2>/dev/null)
if [ -z "$log" ]; then
	ktap_skip_all "kernel log not readable"
	exit "$KSFT_SKIP"
fi
ktap_set_plan 2

bugs=$(echo "$log" | grep -E "$BUGS")
if [ -z "$bugs" ]; then
	ktap_test_pass "no kernel warnings or bugs"
else
	echo "$bugs" | head -n 20 | sed 's/^/# /'
	ktap_test_fail "no kernel warnings or bugs"
fi

faults=$(echo "$log" | awk '
	/iova-selftest: expect-faults begin/ { allowed = 1; next }
	/iova-selftest: expect-faults end/ { allowed = 0; next }
	!allowed' | grep -E "$FAULTS")
if [ -z "$faults" ]; then
	ktap_test_pass "no unexpected IOMMU faults"
else
	echo "$faults" | head -n 20 | sed 's/^/# /'
	ktap_test_fail "no unexpected IOMMU faults"
fi

ktap_finished
