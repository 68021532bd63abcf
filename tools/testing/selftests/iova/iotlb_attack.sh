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
# Two runs of IOVA_ATTACK_TRIALS valid trials each (valid: the page was
# unmapped before the transfer started; the driver tries up to five times
# as many): one quiet, one under
# concurrent map/unmap load: IOVA_ATTACK_LOAD kernel threads of the test
# driver mapping and unmapping pages of the same device (same domain) all
# along, and, where the guest has another PCI device without a driver in a
# domain of the same type (QEMU's VGA or NIC), dma_map_benchmark running on
# it meanwhile. Expected, by the device's domain type:
#
#   DMA (strict)          no write lands;
#   DMA-SAFE (safedefer)  no write lands, ever;
#   DMA-FQ (lazy)         writes may land: counted and reported as the
#                         known weakness of lazy mode (SKIP, never a
#                         failure);
#   identity              nothing to test (SKIP).
#
# A run whose control transfer fails, or that got fewer than half the
# valid trials it asked for (a quarter under load), tested too little and
# fails. Each run prints one line for the result collectors:
#
#   # iova-attack: type=T load=N trials=N valid=N landed=N reused=N
#     faults=N timeouts=N lead_us=N load_ops=N delay_us=N bench=DEV|none
#                                                          (on one line)
#
# faults counts the IOMMU fault reports in the kernel log during the run
# (rate limited by the IOMMU drivers: a lower bound).
#
# lead_us is the lead the driver ended with: it starts from the knob below
# and grows by half after each trial that woke up after the transfer.
#
# Knobs: IOVA_ATTACK_TRIALS (20), IOVA_ATTACK_LEAD_US (5000, how long
# before the transfer fires the page is unmapped, at first; 50000 at most),
# IOVA_ATTACK_LOAD_LEAD_US (20000, the same under load, where the guest and
# QEMU's timer both run late by milliseconds), IOVA_ATTACK_LOAD (2), IOVA_ATTACK_REUSE (64 pages
# reallocated after each free).

DIR=$(dirname "$0")
. "$DIR/../kselftest/ktap_helpers.sh"
. "$DIR/edu_lib.sh"

DRIVER=iotlb_attack
RUN=/sys/kernel/debug/$DRIVER/run
TRIALS=${IOVA_ATTACK_TRIALS:-20}
LEAD_US=${IOVA_ATTACK_LEAD_US:-5000}
LOAD_LEAD_US=${IOVA_ATTACK_LOAD_LEAD_US:-20000}
LOAD=${IOVA_ATTACK_LOAD:-2}
REUSE=${IOVA_ATTACK_REUSE:-64}

# The domain type of DEVICE's IOMMU group, "none" without one.
group_type()
{
	cat "$PCI/$1/iommu_group/type" 2>/dev/null || echo none
}

# Bind dma_map_benchmark, for its load, to a device with no driver, not a
# bridge, in a domain of the same type as the device under attack; set
# LOADDEV. The type is read once bound: on device-tree systems (arm64) a
# PCI device gets its IOMMU group only when a driver first binds to it.
bind_load_device()
{
	for d in "$PCI"/*; do
		b=$(basename "$d")
		[ "$b" != "$DEV" ] || continue
		[ ! -e "$d/driver" ] || continue
		case "$(cat "$d/class")" in
		0x06*) continue ;;
		esac
		t=$(group_type "$b")
		[ "$t" = none ] || [ "$t" = "$TYPE" ] || continue
		edu_bind "$b" dma_map_benchmark || {
			edu_unbind "$b"
			continue
		}
		if [ "$(group_type "$b")" = "$TYPE" ]; then
			LOADDEV=$b
			return 0
		fi
		edu_unbind "$b"
	done
	return 1
}

cleanup()
{
	[ -z "$LOADER" ] || kill "$LOADER" 2>/dev/null
	edu_unbind "$DEV"
	[ -z "$LOADDEV" ] || edu_unbind "$LOADDEV"
	rm -f "$STOP"
}

# dma_map_benchmark on $LOADDEV, one-second runs until $STOP exists.
start_bench_load()
{
	rm -f "$STOP"
	(
		while [ ! -e "$STOP" ]; do
			"$TOOL" -t 1 -s 1 -g 1 > /dev/null 2>&1 || break
		done
	) &
	LOADER=$!
}

stop_bench_load()
{
	touch "$STOP"
	wait "$LOADER"
	LOADER=
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

# Tell dmesg_clean.sh that the faults in between are on purpose.
expect_faults()
{
	echo "iova-selftest: expect-faults $1" > /dev/kmsg
}

# attack NAME NR_LOAD LEAD_US: one run, judged by the domain type.
attack()
{
	f0=$(faults)
	expect_faults begin
	if ! echo "$TRIALS $3 $2 $REUSE" > "$RUN"; then
		expect_faults end
		ktap_print_msg "$1: run failed: $(cat "$RUN")"
		ktap_test_fail "$1"
		return
	fi
	# The fault reports come from an interrupt: let the last ones in.
	sleep 1
	expect_faults end
	res=$(cat "$RUN")
	nf=$(($(faults) - f0))
	t=$(field trials "$res")
	v=$(field valid "$res")
	l=$(field landed "$res")
	ktap_print_msg "iova-attack: type=$TYPE load=$2 trials=$t valid=$v" \
		"landed=$l reused=$(field reused "$res") faults=$nf" \
		"timeouts=$(field timeouts "$res") lead_us=$(field lead_us "$res")" \
		"load_ops=$(field load_ops "$res") delay_us=$(field delay_us "$res")" \
		"bench=${BENCHDEV:-none}"
	if [ "$(field control "$res")" != ok ]; then
		ktap_test_fail "$1: control transfer failed"
		return
	fi
	# Under load fewer trials time out right: ask for a quarter of them.
	need=$((TRIALS / 2))
	[ "$2" -eq 0 ] || need=$((TRIALS / 4))
	if [ "$v" -lt "$need" ]; then
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

DEV=$(edu_find_device)
[ -n "$DEV" ] || edu_missing "the edu device (1234:11e8)"
if [ ! -d /sys/bus/pci/drivers/$DRIVER ]; then
	ktap_skip_all "no $DRIVER driver (CONFIG_IOMMU_IOTLB_ATTACK_TEST)"
	exit "$KSFT_SKIP"
fi
edu_unclaimed "$DEV"

# skip_untranslated: skip the test unless $TYPE translates.
skip_untranslated()
{
	case "$TYPE" in
	DMA | DMA-FQ | DMA-SAFE | none) ;;
	*)
		ktap_skip_all "device $DEV in a $TYPE domain: no translation to attack"
		exit "$KSFT_SKIP"
		;;
	esac
}

[ -d /sys/kernel/debug/iommu ] || mount -t debugfs none /sys/kernel/debug 2>/dev/null
STOP=/tmp/iotlb_attack.stop.$$
LOADER=
LOADDEV=
trap cleanup EXIT
# "none" before the first bind on device-tree systems (bind_load_device).
# An identity domain can fail the bind: edu's 28-bit DMA mask reaches no
# memory without translation where RAM starts above 256 MiB (arm64 virt).
TYPE=$(group_type "$DEV")
skip_untranslated
if ! edu_bind "$DEV" "$DRIVER" || [ ! -w "$RUN" ]; then
	TYPE=$(group_type "$DEV")
	[ "$TYPE" = none ] || skip_untranslated
	ktap_set_plan 1
	ktap_test_fail "bind $DEV to $DRIVER"
	ktap_finished
fi
TYPE=$(group_type "$DEV")
[ "$TYPE" != none ] || TYPE=no-group
skip_untranslated
ktap_print_msg "device $DEV, IOMMU domain $TYPE, $TRIALS trials per run"

ktap_set_plan 2
attack "$TYPE: $TRIALS trials" 0 "$LEAD_US"

TOOL=$(edu_find_tool)
if [ -n "$TOOL" ] && bind_load_device; then
	start_bench_load
	BENCHDEV=$LOADDEV
	attack "$TYPE: $TRIALS trials, $LOAD map/unmap threads, dma_map_benchmark on $LOADDEV" \
		"$LOAD" "$LOAD_LEAD_US"
	stop_bench_load
else
	ktap_print_msg "no device or tool for dma_map_benchmark: driver threads only"
	attack "$TYPE: $TRIALS trials, $LOAD map/unmap threads" "$LOAD" \
		"$LOAD_LEAD_US"
fi
ktap_finished
