#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Stale IOTLB DMA attack: can a device still write to memory through a
# cached translation after its driver unmapped and freed it, once the
# kernel has handed the memory to somebody else? Needs the iotlb_attack
# test driver (CONFIG_IOMMU_IOTLB_ATTACK_TEST) and QEMU's edu device
# (1234:11e8, or the PCI address in IOVA_TEST_DEVICE), bound through
# driver_override. See drivers/iommu/tests/iotlb_attack_test.c for one
# trial and for the counts it reports.
#
# The runs, in a domain that translates (strict DMA, lazy DMA-FQ, safe
# deferred DMA-SAFE; an identity domain is a SKIP):
#
#   control     the positive control: the driver's unmap=noinval (clear
#               the page-table entries, never invalidate, free the memory)
#               must let a write land in reused memory, or the attack path
#               is silent and the test fails;
#   release     after the unmap and the release of the page (past
#               iommu.batch_timeout and the flush queue's timeout), before
#               the IOVA is handed out again, a write through the old IOVA
#               must fault and land nowhere (an implementation that delays
#               the release and never invalidates fails here); the same
#               write through the mapping just before must land;
#   page        IOVA_ATTACK_TRIALS trials with order-0 pages;
#   control-KIND
#               the positive control of each of the other victim kinds
#               (high, compound, kmalloc, sg: unmap=noinval as above;
#               coherent memory, which cannot be freed behind the DMA
#               API's back: unmap=keep, the victim stays mapped and owned
#               and the write must land in it): a control that lands
#               nothing fails;
#   KIND        IOVA_ATTACK_KIND_TRIALS trials of the kind, right after its
#               control;
#   load        the control and the page trials again under concurrent
#               map/unmap load: IOVA_ATTACK_LOAD kernel threads of the test
#               driver mapping and unmapping pages of the same device (same
#               domain) all along, and, where the guest has another PCI
#               device without a driver in a domain of the same type
#               (QEMU's VGA or NIC), dma_map_benchmark running on it.
#
# A trial counts where the victim was unmapped before the write fired
# (valid) and it tested what the mode promises:
#
#   DMA (strict)     the victim's memory was handed out again (reused):
#                    no write may land anywhere;
#   DMA-SAFE         the write landed in the victim while the deferred
#                    unmap held it (the translation was live, the held
#                    reference is what protected reused memory), or, for
#                    memory that cannot be held, the memory was reused
#                    (then invalidated at once): no write may land in
#                    reused memory;
#   DMA-FQ (lazy)    writes land in reused memory: the known weakness, and
#                    the attack path's second positive control: a quiet
#                    page run that lands nothing fails; a run of another
#                    kind that lands nothing is no evidence (a SKIP, never
#                    a PASS): its control is what shows its path live.
#
# A strict or safe run that lands nothing is a PASS only where the kind's
# control landed: with a silent control it is no evidence, a SKIP (the
# control itself fails). A quiet run with fewer counted trials than half
# those asked for (a quarter for the kinds other than page) tested too
# little and fails.
# Under load a run that counted too few, or whose control landed nothing
# (the load's invalidations drop the stale entry before the write), is no
# evidence: it says so and is a SKIP, never a
# PASS; a write landing in reused memory fails under load too. Each run
# prints one line for the result collectors (on one line):
#
#   # iova-attack: type=T run=R test=T kind=K unmap=U load=N trials=N
#     valid=N reused=N held=N landed=N landed_victim=N hit_victim=N
#     reused_valid=N counted=N live=N flushed=N late=N stray=N faults=N
#     timeouts=N lead_us=N load_ops=N delay_us=N tries=N bench=DEV|none
#     verdict=pass|fail|skip
#
# run is control, release, page, control-KIND, the kind's name,
# load-control or load-page; landed counts the trials whose write landed in reused memory
# (for the release run: in the released page); faults the IOMMU fault
# reports in the kernel log during the run (rate limited by the IOMMU
# drivers: a lower bound); flushed the trials whose victim memory was
# neither reallocated by the driver nor held by the unmap's own reference,
# which the driver invalidated at once so that their write cannot reach
# memory somebody else may own; late those whose write had come before
# that invalidation (where it went is unknown); stray those whose write
# was found all the same in the victim, held by somebody (a failure in
# any mode); tries the runs of the driver a control took (1 for the
# others).
#
# Knobs: IOVA_ATTACK_TRIALS (20), IOVA_ATTACK_KIND_TRIALS (4),
# IOVA_ATTACK_CONTROL_TRIALS (3), IOVA_ATTACK_KIND_CONTROL_TRIALS (6: a
# high-order free is handed back less reliably, and only a reused victim
# can show a landed write), IOVA_ATTACK_CONTROL_TRIES (3, runs of an
# unmap=noinval control in a lazy domain without load before it fails),
# IOVA_ATTACK_PROBES (2, release trials),
# IOVA_ATTACK_KINDS ("high compound kmalloc sg coherent"),
# IOVA_ATTACK_LEAD_US (5000, how long before the write fires the victim is
# unmapped, at first; 50000 at most), IOVA_ATTACK_LOAD_LEAD_US (20000, the
# same under load, where the guest and QEMU's timer both run late by
# milliseconds; in a DMA-SAFE domain both stay 2 ms under
# iommu.batch_timeout, or the release would precede every write),
# IOVA_ATTACK_LOAD (2), IOVA_ATTACK_REUSE (64 allocations after each free),
# IOVA_ATTACK_UNMAP (dma; noinval runs the release run and the attack runs
# of every kind but coherent with the driver's never-invalidating unmap: a
# demonstration that they fail).

DIR=$(dirname "$0")
. "$DIR/../kselftest/ktap_helpers.sh"
. "$DIR/edu_lib.sh"

DRIVER=iotlb_attack
RUN=/sys/kernel/debug/$DRIVER/run
TRIALS=${IOVA_ATTACK_TRIALS:-20}
KIND_TRIALS=${IOVA_ATTACK_KIND_TRIALS:-4}
CONTROL_TRIALS=${IOVA_ATTACK_CONTROL_TRIALS:-3}
KIND_CONTROL_TRIALS=${IOVA_ATTACK_KIND_CONTROL_TRIALS:-6}
CONTROL_TRIES=${IOVA_ATTACK_CONTROL_TRIES:-3}
TRIES=
PROBES=${IOVA_ATTACK_PROBES:-2}
KINDS=${IOVA_ATTACK_KINDS:-high compound kmalloc sg coherent}
LEAD_US=${IOVA_ATTACK_LEAD_US:-5000}
LOAD_LEAD_US=${IOVA_ATTACK_LOAD_LEAD_US:-20000}
LOAD=${IOVA_ATTACK_LOAD:-2}
REUSE=${IOVA_ATTACK_REUSE:-64}
UNMAP=${IOVA_ATTACK_UNMAP:-dma}
MAX_LEAD_US=50000
SETTLE=0.2

# The safe deferred mode's batch timeout in ms (iommu.batch_timeout).
batch_timeout()
{
	t=$(tr ' ' '\n' < /proc/cmdline | sed -n 's/^iommu.batch_timeout=//p' |
		tail -n 1)
	case "$t" in
	'' | *[!0-9]*) echo 10 ;;
	*) echo "$t" ;;
	esac
}

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

# AMD-Vi that has never logged an IO page fault event: QEMU's AMD-Vi model
# blocks a write through a released IOVA but raises no event the driver
# sees, so there the release run can check only that nothing landed.
amd_no_events()
{
	dmesg | grep -q 'AMD-Vi: ' &&
		! dmesg | grep -q 'AMD-Vi: Event logged \[IO_PAGE_FAULT'
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

# run NAME LOAD ARGS...: one run of the driver with ARGS (KEY=VALUE
# words); sets RES (its result line) and NF (fault reports meanwhile).
# False when the driver refused or failed the run.
run()
{
	shift 2
	f0=$(faults)
	expect_faults begin
	ok=0
	echo "$*" > "$RUN" || ok=1
	# The fault reports come from an interrupt: let the last ones in
	# (a second where the count decides, else a moment).
	sleep "$SETTLE" 2>/dev/null || sleep 1
	expect_faults end
	RES=$(cat "$RUN")
	NF=$(($(faults) - f0))
	return $ok
}

# report RUN LOAD VERDICT: the result collectors' line of the last run.
report()
{
	set -- "$1" "$2" "$3" "$RES"
	ktap_print_msg "iova-attack: type=$TYPE run=$1" \
		"test=$(field test "$4") kind=$(field kind "$4")" \
		"unmap=$(field unmap "$4") load=$2 trials=$(field trials "$4")" \
		"valid=$(field valid "$4") reused=$(field reused "$4")" \
		"held=$(field held "$4") landed=$(field landed_reused "$4")" \
		"landed_victim=$(field landed_victim "$4")" \
		"hit_victim=$(field hit_victim "$4")" \
		"reused_valid=$(field reused_valid "$4") counted=$COUNTED" \
		"live=$(field live "$4") flushed=$(field flushed "$4")" \
		"late=$(field late "$4") stray=$(field stray "$4")" \
		"faults=$NF" \
		"timeouts=$(field timeouts "$4") lead_us=$(field lead_us "$4")" \
		"load_ops=$(field load_ops "$4") delay_us=$(field delay_us "$4")" \
		"tries=${TRIES:-1} bench=${BENCHDEV:-none} verdict=$3"
}

# verdict RUN LOAD pass|fail|skip MESSAGE: report, then the KTAP line. A
# run whose write landed after the driver's own invalidation (stray) fails
# whatever else it showed: the test itself may have written into memory
# that was not its own.
verdict()
{
	stray=$(field stray "$RES")
	if [ "${stray:-0}" -gt 0 ] && [ "$3" != fail ]; then
		set -- "$1" "$2" fail "$4; $stray writes landed after the test's own invalidation"
	fi
	report "$1" "$2" "$3"
	case "$3" in
	pass) ktap_test_pass "$4" ;;
	fail) ktap_test_fail "$4" ;;
	*) ktap_test_skip "$4" ;;
	esac
}

# control KIND LOAD LEAD: the positive control of KIND. The never-
# invalidating unmap (unmap=noinval) must let a write land in reused
# memory; coherent memory, which cannot be freed behind the DMA API's
# back, has unmap=keep instead: the write must land in the victim, still
# mapped. A control that lands nothing fails: the attack path of the kind
# is dead, and its attack run is no evidence. In a lazy (DMA-FQ) domain
# without load, an unmap=noinval control that landed nothing runs again,
# CONTROL_TRIES times in all: on a loaded host the guest's timers can run
# late enough for the flush queue's timeout to flush the whole domain,
# and the stale entry with it, before the write, while a dead path lands
# nothing however often it runs; and there the page run that follows is a
# second positive control of its own. In the other domains, and for
# coherent memory (whose victim stays mapped), the control runs once.
# Sets CONTROL_LANDED, and CONTROL_OK (1 when it passed).
control()
{
	kind=$1
	unmap=noinval
	[ "$kind" != coherent ] || unmap=keep
	name="$TYPE: control, $kind, unmap=$unmap, load $2"
	rname=control
	[ "$kind" = page ] || rname=control-$kind
	[ "$2" -eq 0 ] || rname=load-$rname
	trials=$CONTROL_TRIALS
	[ "$kind" = page ] || trials=$KIND_CONTROL_TRIALS
	COUNTED=0
	CONTROL_LANDED=0
	CONTROL_OK=0
	try=1
	while :; do
		if ! run "$name" "$2" test=attack kind="$kind" \
			unmap="$unmap" trials="$trials" lead_us="$3" \
			max_lead_us="$MAX_LEAD_US" load="$2" reuse="$REUSE"; then
			TRIES=$try
			verdict "$rname" "$2" fail "$name: run failed: $RES"
			TRIES=
			return
		fi
		if [ "$unmap" = keep ]; then
			CONTROL_LANDED=$(field hit_victim "$RES")
			where="in the victim"
		else
			CONTROL_LANDED=$(field landed_reused "$RES")
			where="in reused memory ($(field reused_valid "$RES") reused)"
		fi
		msg="$name: $CONTROL_LANDED of $(field valid "$RES") writes landed $where"
		[ "$try" -gt 1 ] && msg="$msg (run $try of $CONTROL_TRIES)"
		[ "$CONTROL_LANDED" -eq 0 ] && [ "$2" -eq 0 ] &&
			[ "$TYPE" = DMA-FQ ] && [ "$unmap" = noinval ] &&
			[ "$try" -lt "$CONTROL_TRIES" ] &&
			[ "$(field control "$RES")" = ok ] || break
		ktap_print_msg "$msg, delay_us=$(field delay_us "$RES"): running the control again"
		try=$((try + 1))
	done
	COUNTED=$CONTROL_LANDED
	TRIES=$try
	if [ "$(field control "$RES")" != ok ]; then
		verdict "$rname" "$2" fail "$name: control transfer failed"
	elif [ "$CONTROL_LANDED" -gt 0 ]; then
		CONTROL_OK=1
		verdict "$rname" "$2" pass "$msg"
	elif [ "$2" -eq 0 ]; then
		verdict "$rname" "$2" fail "$msg: attack path silent"
	else
		verdict "$rname" "$2" skip "$msg: attack path silent under load, the load run is no evidence"
	fi
	TRIES=
}

# After the release, before the IOVA is reused, a write must land nowhere.
release()
{
	bt=$(batch_timeout)
	[ "$bt" -ge 10 ] || bt=10
	name="$TYPE: write after the release, unmap=$UNMAP"
	COUNTED=0
	SETTLE=1
	if ! run "$name" 0 test=release kind=page unmap="$UNMAP" \
		trials="$PROBES" release_ms=$((bt * 2 + 20)) reuse="$REUSE"; then
		SETTLE=0.2
		verdict release 0 fail "$name: run failed: $RES"
		return
	fi
	SETTLE=0.2
	t=$(field trials "$RES")
	l=$(field landed_victim "$RES")
	live=$(field live "$RES")
	COUNTED=$live
	if [ "$(field control "$RES")" != ok ]; then
		verdict release 0 fail "$name: control transfer failed"
	elif [ "$l" -gt 0 ]; then
		verdict release 0 fail "$name: $l of $t writes through the released IOVA landed"
	elif [ "$live" -lt "$t" ]; then
		verdict release 0 fail "$name: the write before the unmap landed in only $live of $t trials"
	elif [ "$NF" -eq 0 ] && amd_no_events; then
		verdict release 0 skip "$name: none of $t writes landed; AMD-Vi logged no IO_PAGE_FAULT event (none does under QEMU's model)"
	elif [ "$NF" -eq 0 ]; then
		verdict release 0 fail "$name: no IOMMU fault reported for $t writes"
	elif [ "$(field timeouts "$RES")" -gt 0 ]; then
		verdict release 0 fail "$name: page or transfer not released in time"
	else
		verdict release 0 pass "$name: $t writes faulted ($NF fault reports), none landed"
	fi
}

# attack KIND LOAD TRIALS: one run of attack trials, judged by the domain
# type.
attack()
{
	kind=$1
	lead=$LEAD_US
	[ "$2" -eq 0 ] || lead=$LOAD_LEAD_US
	maxlead=$MAX_LEAD_US
	if [ "$TYPE" = DMA-SAFE ]; then
		maxlead=$(($(batch_timeout) * 1000 - 2000))
		[ "$maxlead" -gt 1000 ] || maxlead=1000
		[ "$lead" -le "$maxlead" ] || lead=$maxlead
	fi
	unmap=dma
	[ "$kind" = coherent ] || unmap=$UNMAP
	rname=$kind
	[ "$2" -eq 0 ] || rname=load-$kind
	name="$TYPE: $kind, $3 trials, unmap=$unmap, load $2${BENCHDEV:+, dma_map_benchmark on $BENCHDEV}"
	COUNTED=0
	if ! run "$name" "$2" test=attack kind="$kind" unmap="$unmap" \
		trials="$3" lead_us="$lead" max_lead_us="$maxlead" load="$2" \
		reuse="$REUSE"; then
		verdict "$rname" "$2" fail "$name: run failed: $RES"
		return
	fi
	t=$(field trials "$RES")
	v=$(field valid "$RES")
	l=$(field landed_reused "$RES")
	lv=$(field landed_victim "$RES")
	hv=$(field hit_victim "$RES")
	rv=$(field reused_valid "$RES")
	# Quiet runs must count half the trials asked for; a quarter for the
	# other kinds, whose freed memory the per-CPU lists hand back less
	# reliably (a high-order free can go on to the buddy lists).
	need=$(($3 / 2))
	[ "$kind" = page ] || need=$(($3 / 4))
	[ "$need" -gt 0 ] || need=1
	case "$TYPE" in
	DMA-FQ) COUNTED=$l ;;
	DMA-SAFE) COUNTED=$((hv + rv)) ;;
	*) COUNTED=$rv ;;
	esac
	what="$COUNTED counted of $t trials ($v valid, $rv reused, $hv hit the held victim), $l landed in reused memory, $lv in the victim, $NF faults"
	if [ "$(field control "$RES")" != ok ]; then
		verdict "$rname" "$2" fail "$name: control transfer failed"
		return
	fi
	case "$TYPE" in
	DMA-FQ)
		if [ "$l" -gt 0 ]; then
			verdict "$rname" "$2" pass "$name: lazy mode let $l of $v writes land in reused memory (known weakness; attack path live)"
		elif [ "$2" -eq 0 ] && [ "$kind" = page ]; then
			verdict "$rname" "$2" fail "$name: attack path silent: $what"
		else
			verdict "$rname" "$2" skip "$name: no write landed, no evidence for $kind: $what"
		fi
		return
		;;
	DMA)
		if [ "$l" -gt 0 ] || [ "$lv" -gt 0 ]; then
			verdict "$rname" "$2" fail "$name: $what"
			return
		fi
		;;
	*)
		if [ "$l" -gt 0 ]; then
			verdict "$rname" "$2" fail "$name: $what"
			return
		fi
		;;
	esac
	# Nothing landed: that says something only where the kind's control
	# showed the write going out and being seen.
	if [ "$CONTROL_OK" -ne 1 ] && [ "$2" -eq 0 ]; then
		verdict "$rname" "$2" skip "$name: the $kind control landed nothing, no evidence: $what"
	elif [ "$CONTROL_OK" -ne 1 ]; then
		verdict "$rname" "$2" skip "$name: the control landed nothing under this load, no evidence: $what"
	elif [ "$COUNTED" -lt "$need" ] && [ "$2" -eq 0 ]; then
		verdict "$rname" "$2" fail "$name: tested too little: $what"
	elif [ "$COUNTED" -lt "$need" ]; then
		verdict "$rname" "$2" skip "$name: too few trials counted under load, no evidence: $what"
	else
		verdict "$rname" "$2" pass "$name: $what"
	fi
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

nk=$(echo "$KINDS" | wc -w)
ktap_set_plan $((2 * nk + 5))
BENCHDEV=
control page 0 "$LEAD_US"
PAGE_CONTROL_OK=$CONTROL_OK
release
CONTROL_OK=$PAGE_CONTROL_OK
attack page 0 "$TRIALS"
for k in $KINDS; do
	control "$k" 0 "$LEAD_US"
	attack "$k" 0 "$KIND_TRIALS"
done

TOOL=$(edu_find_tool)
if [ -n "$TOOL" ] && bind_load_device; then
	start_bench_load
	BENCHDEV=$LOADDEV
else
	ktap_print_msg "no device or tool for dma_map_benchmark: driver threads only"
fi
control page "$LOAD" "$LOAD_LEAD_US"
attack page "$LOAD" "$TRIALS"
[ -z "$LOADER" ] || stop_bench_load
ktap_finished
