#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Stale IOTLB DMA attack: can a device still write to a page through a
# cached translation after its driver unmapped and freed it, once the kernel
# has handed the page to somebody else? Needs the iotlb_attack test driver
# (CONFIG_IOMMU_IOTLB_ATTACK_TEST) and QEMU's edu device (1234:11e8, or the
# PCI address in IOVA_TEST_DEVICE), bound through driver_override. See
# drivers/iommu/tests/iotlb_attack_test.c for one trial.
#
# Two runs of IOVA_ATTACK_TRIALS trials each: one quiet, one with
# IOVA_ATTACK_LOAD kernel threads mapping and unmapping pages of the same
# device (same domain) all along. Expected, by the device's domain type:
#
#   DMA (strict)          no write lands;
#   DMA-SAFE (safedefer)  no write lands, ever;
#   DMA-FQ (lazy)         writes may land: counted and reported as the
#                         known weakness of lazy mode (SKIP, never a
#                         failure);
#   identity              nothing to test (SKIP).
#
# A run whose control transfer fails, or in which fewer than half the
# trials unmapped the page before the transfer started, tested nothing and
# fails. Each run prints one line for the result collectors:
#
#   # iova-attack: type=T load=N trials=N valid=N landed=N reused=N
#     faults=N timeouts=N lead_us=N load_ops=N            (on one line)
#
# faults counts the IOMMU fault reports in the kernel log during the run
# (rate limited by the IOMMU drivers: a lower bound).
#
# Knobs: IOVA_ATTACK_TRIALS (30), IOVA_ATTACK_LEAD_US (4000, how long
# before the transfer fires the page is unmapped), IOVA_ATTACK_LOAD (2),
# IOVA_ATTACK_REUSE (64 pages reallocated after each free).

DIR=$(dirname "$0")
. "$DIR/../kselftest/ktap_helpers.sh"

PCI=/sys/bus/pci/devices
DRIVER=iotlb_attack
RUN=/sys/kernel/debug/$DRIVER/run
TRIALS=${IOVA_ATTACK_TRIALS:-30}
LEAD_US=${IOVA_ATTACK_LEAD_US:-4000}
LOAD=${IOVA_ATTACK_LOAD:-2}
REUSE=${IOVA_ATTACK_REUSE:-64}

find_device()
{
	if [ -n "$IOVA_TEST_DEVICE" ]; then
		[ -e "$PCI/$IOVA_TEST_DEVICE" ] && echo "$IOVA_TEST_DEVICE"
		return
	fi
	for d in "$PCI"/*; do
		[ "$(cat "$d/vendor" 2>/dev/null)" = 0x1234 ] || continue
		[ "$(cat "$d/device" 2>/dev/null)" = 0x11e8 ] || continue
		basename "$d"
		return
	done
}

bind()
{
	echo "$DRIVER" > "$PCI/$DEV/driver_override" &&
		echo "$DEV" > /sys/bus/pci/drivers_probe 2>/dev/null
	[ "$(basename "$(readlink "$PCI/$DEV/driver")")" = "$DRIVER" ]
}

unbind()
{
	[ -e "$PCI/$DEV/driver" ] && echo "$DEV" > "$PCI/$DEV/driver/unbind"
	echo > "$PCI/$DEV/driver_override"
}

# IOMMU fault reports so far: Intel VT-d, AMD-Vi, Arm SMMUv3.
faults()
{
	dmesg | grep -c -e 'DMAR: \[DMA Write' -e 'AMD-Vi: Event logged \[IO_PAGE_FAULT' \
		-e 'arm-smmu-v3.*event 0x1[0-9a-f]'
}

# field NAME LINE: the value of NAME= in a result line.
field()
{
	echo "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"
}

# attack NAME NR_LOAD: one run, judged by the domain type.
attack()
{
	f0=$(faults)
	if ! echo "$TRIALS $LEAD_US $2 $REUSE" > "$RUN"; then
		ktap_print_msg "$1: run failed: $(cat "$RUN")"
		ktap_test_fail "$1"
		return
	fi
	res=$(cat "$RUN")
	nf=$(($(faults) - f0))
	t=$(field trials "$res")
	v=$(field valid "$res")
	l=$(field landed "$res")
	ktap_print_msg "iova-attack: type=$TYPE load=$2 trials=$t valid=$v" \
		"landed=$l reused=$(field reused "$res") faults=$nf" \
		"timeouts=$(field timeouts "$res") lead_us=$LEAD_US" \
		"load_ops=$(field load_ops "$res")"
	if [ "$(field control "$res")" != ok ] || [ "$t" -ne "$TRIALS" ]; then
		ktap_test_fail "$1: control transfer or trials incomplete"
		return
	fi
	if [ $((v * 2)) -lt "$t" ]; then
		ktap_test_fail "$1: only $v of $t trials unmapped before the transfer"
		return
	fi
	case "$TYPE" in
	DMA-FQ)
		ktap_test_skip "$1: lazy mode let $l of $v writes land in reused memory (known weakness)"
		;;
	*)
		if [ "$l" -eq 0 ]; then
			ktap_test_pass "$1: no write of $v landed"
		else
			ktap_test_fail "$1: $l of $v writes landed in reused memory"
		fi
		;;
	esac
}

ktap_print_header

DEV=$(find_device)
if [ -z "$DEV" ]; then
	if [ "$IOVA_TEST_REQUIRE_DEVICE" = 1 ]; then
		ktap_set_plan 1
		ktap_test_fail "find the edu device"
		ktap_finished
	fi
	ktap_skip_all "no edu device"
	exit "$KSFT_SKIP"
fi
if [ ! -d /sys/bus/pci/drivers/$DRIVER ]; then
	ktap_skip_all "no $DRIVER driver (CONFIG_IOMMU_IOTLB_ATTACK_TEST)"
	exit "$KSFT_SKIP"
fi
if [ -e "$PCI/$DEV/driver" ]; then
	ktap_skip_all "$DEV already has a driver"
	exit "$KSFT_SKIP"
fi
TYPE=$(cat "$PCI/$DEV/iommu_group/type" 2>/dev/null || echo none)
case "$TYPE" in
DMA | DMA-FQ | DMA-SAFE) ;;
*)
	ktap_skip_all "device $DEV in a $TYPE domain: no translation to attack"
	exit "$KSFT_SKIP"
	;;
esac

[ -d /sys/kernel/debug/iommu ] || mount -t debugfs none /sys/kernel/debug 2>/dev/null
trap unbind EXIT
if ! bind || [ ! -w "$RUN" ]; then
	ktap_set_plan 1
	ktap_test_fail "bind $DEV to $DRIVER"
	ktap_finished
fi
ktap_print_msg "device $DEV, IOMMU domain $TYPE, $TRIALS trials per run"

ktap_set_plan 2
attack "$TYPE: $TRIALS trials" 0
attack "$TYPE: $TRIALS trials, $LOAD map/unmap threads" "$LOAD"
ktap_finished
