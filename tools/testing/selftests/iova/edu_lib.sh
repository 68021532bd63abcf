#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Shared by the selftests that drive DMA through a PCI test device with no
# driver of its own: QEMU's edu (1234:11e8), or the device at the PCI
# address in IOVA_TEST_DEVICE. Source it after setting DIR to the
# directory of the sourcing script:
#
#   DIR=$(dirname "$0")
#   . "$DIR/edu_lib.sh"
#
#   edu_find_tool        path of the upstream dma_map_benchmark tool
#                        (IOVA_DMA_MAP_BENCHMARK, or next to the tests)
#   edu_find_device      PCI address of the test device, or nothing
#   edu_bind DEV DRIVER  bind DEV to DRIVER through driver_override;
#                        true when DRIVER is bound
#   edu_unbind DEV       unbind DEV and clear its driver_override
#   edu_set_type DEV T   give DEV's IOMMU group (no driver bound) a new
#                        domain of type T; true when the group has it
#   edu_missing WHAT     end the test: WHAT was not found (a failure with
#                        IOVA_TEST_REQUIRE_DEVICE=1, else a skip)
#   edu_unclaimed DEV    end the test with a skip if DEV has a driver

PCI=/sys/bus/pci/devices

edu_find_tool()
{
	for t in "$IOVA_DMA_MAP_BENCHMARK" "$DIR/dma_map_benchmark" \
		 "$DIR/../dma/dma_map_benchmark"; do
		if [ -n "$t" ] && [ -x "$t" ]; then
			echo "$t"
			return 0
		fi
	done
	command -v dma_map_benchmark
}

edu_find_device()
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

edu_bind()
{
	echo "$2" > "$PCI/$1/driver_override" &&
		echo "$1" > /sys/bus/pci/drivers_probe 2>/dev/null
	[ "$(basename "$(readlink "$PCI/$1/driver")")" = "$2" ]
}

edu_unbind()
{
	[ -e "$PCI/$1/driver" ] && echo "$1" > "$PCI/$1/driver/unbind"
	echo > "$PCI/$1/driver_override"
}

edu_set_type()
{
	echo "$2" > "$PCI/$1/iommu_group/type" 2>/dev/null
	[ "$(cat "$PCI/$1/iommu_group/type")" = "$2" ]
}

edu_missing()
{
	if [ "$IOVA_TEST_REQUIRE_DEVICE" = 1 ]; then
		ktap_set_plan 1
		ktap_test_fail "find $1"
		ktap_finished
	fi
	ktap_skip_all "$1 not found"
	exit "$KSFT_SKIP"
}

edu_unclaimed()
{
	if [ -e "$PCI/$1/driver" ]; then
		ktap_skip_all "$1 already has a driver"
		exit "$KSFT_SKIP"
	fi
}
