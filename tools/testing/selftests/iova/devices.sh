#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Real devices through the IOMMU, with their data checked: fio writes an
# NVMe disk at random with block sizes from 4 KiB to 1 MiB (O_DIRECT,
# libaio, several jobs, queue depth 8) and reads every block back against
# its crc32c; iperf3 moves TCP streams both ways between two NICs that sit
# in network namespaces of their own, so that every byte crosses both
# devices' DMA, and sends a file of random bytes each way that must arrive
# unchanged; sockperf runs request/response over several connections.
# Then the IOMMU group of every device must still have the domain type the
# kernel command line asks for. Where AMD-Vi under a hypervisor booted the
# domains strict instead, they are switched to the asked-for type first,
# and the output says so.
#
# Needs fio, iperf3, sockperf, iproute2's ip, OpenBSD's netcat and cmp, an
# NVMe namespace and two network interfaces other than lo on one link
# (QEMU: a hub with no host backend; the addresses are from the RFC 2544
# benchmarking range and never leave it). Missing devices or programs
# skip the test, or fail it with IOVA_TEST_REQUIRE_DEVICES=1.
#
# Knobs: IOVA_DEV_FIO_MB (16, MiB written and verified per fio job),
# IOVA_DEV_FIO_JOBS (2), IOVA_DEV_SECONDS (3, per iperf3 and sockperf run),
# IOVA_DEV_STREAMS (4), IOVA_DEV_RR (4, sockperf connections),
# IOVA_DEV_XFER_MB (8, MiB of random bytes sent each way and compared).
# Each workload prints one line for the result collectors:
#
#   # iova-devices: workload=W type=T key=value ...
#
# IOVA_DEV_BENCH=1 (mk/guest/devbench.sh) adds two timed fio jobs after the
# verified one, IOVA_DEV_SECONDS each: 4 KiB random reads and writes
# (fio-4k) and 1 MiB sequential ones (fio-large). Then each timed workload
# (fio-4k, fio-large, iperf3-up, iperf3-down, sockperf) also prints
#
#   # iova-bench: id=N workload=W bytes=B seconds=S key=value ...
#
# bytes being what it moved through the devices, window the seconds
# between the two marks below, cpu_busy the CPU seconds (all CPUs
# together) spent meanwhile outside idle and iowait, where the kernel has
# the safe deferred mode's batcher its counts over the window
# (batch_unmaps, batch_deferred, and batch_now_R for those it invalidated
# at once for reason R: caller, slab, nopage, unref, large), and with
# IOVA_BENCH_MARK=1
# writes N into the config space of QEMU's edu device at 0xf0 before it
# and at 0xf4 after it, so that QEMU's trace can attribute IOTLB
# invalidations to each workload (as dma_map_bench.sh does for its runs).
# IOVA_DEV_ONLY=W runs only workload W: fio-4k or fio-large (bench mode
# only), or net (iperf3, the transfers and sockperf); the tests of the
# others are skipped, and any other value fails the test.
# mk/guest/steptrace.sh uses it to step one workload's DMA calls.

DIR=$(dirname "$0")
. "$DIR/../kselftest/ktap_helpers.sh"
. "$DIR/edu_lib.sh"

FIO_MB=${IOVA_DEV_FIO_MB:-16}
FIO_JOBS=${IOVA_DEV_FIO_JOBS:-2}
SECS=${IOVA_DEV_SECONDS:-3}
STREAMS=${IOVA_DEV_STREAMS:-4}
RR=${IOVA_DEV_RR:-4}
XFER_MB=${IOVA_DEV_XFER_MB:-8}
[ "$XFER_MB" -ge 1 ] 2>/dev/null || XFER_MB=8
ADDR_A=198.18.0.1
ADDR_B=198.18.0.2
TMP=/tmp/iova-devices
NSPID=
BENCH=${IOVA_DEV_BENCH:-0}
ONLY=${IOVA_DEV_ONLY:-}
EDU=
NCPU=$(grep -c '^cpu[0-9]' /proc/stat)

# bench_mark OFFSET ID: one byte into the edu device's config space, for
# QEMU's trace (see above); nothing outside bench mode.
bench_mark()
{
	[ "$BENCH" = 1 ] && [ "$IOVA_BENCH_MARK" = 1 ] && [ -n "$EDU" ] ||
		return 0
	printf "$(printf '\\%03o' $(($2 % 256)))" |
		dd of="$PCI/$EDU/config" bs=1 seek="$1" conv=notrunc 2>/dev/null
}

# bench_begin ID / bench_end ID: around timed workload ID. The end waits a
# second, so that a lazy mode's deferred flush lands inside the marks.
# WINDOW: the seconds from one mark to the other (/proc/uptime); BUSY: the
# CPU seconds of all CPUs together spent meanwhile in user, nice, system,
# irq, softirq and steal time (/proc/stat, in USER_HZ = 100 units): every
# task's and interrupt's, the workload's own user space too, neither idle
# nor iowait.
cpu_busy()
{
	read -r _ u n s _ _ q sq st _ < /proc/stat
	echo $((u + n + s + q + sq + st))
}

# The safe deferred mode's batcher, where it exists (debugfs): its unmaps
# since boot, those it deferred and those it invalidated at once, by
# reason, as "unmaps deferred caller slab nopage unref large"; nothing
# without it.
BATCH_STATS=/sys/kernel/debug/iommu/iotlb_batch/stats
grep -q " /sys/kernel/debug debugfs " /proc/mounts ||
	mount -t debugfs none /sys/kernel/debug 2>/dev/null
batch_counts()
{
	[ -r "$BATCH_STATS" ] || return 0
	awk '{ v[$1] = $2 }
	END {
		printf "%.0f %.0f", v["unmaps"], v["deferred"]
		n = split("caller slab nopage unref large", r, " ")
		for (i = 1; i <= n; i++)
			printf " %.0f", v["sync_" r[i]]
		print ""
	}' "$BATCH_STATS"
}

# batch_delta BEFORE AFTER: batch_counts() from before and after a
# workload as the result line's keys for what happened in between
# (batch_unmaps=N batch_deferred=N batch_now_caller=N ...); nothing where
# either is empty.
batch_delta()
{
	[ -n "$1" ] && [ -n "$2" ] || return 0
	echo "$1 $2" | awk '{
		n = split("unmaps deferred now_caller now_slab now_nopage now_unref now_large", k, " ")
		for (i = 1; i <= n; i++)
			printf "%sbatch_%s=%.0f", (i > 1 ? " " : ""), k[i], $(i + n) - $i
		print ""
	}'
}

bench_begin()
{
	bench_mark 240 "$1"
	read -r T0 _ < /proc/uptime
	B0=$(cpu_busy)
	C0=$(batch_counts)
}

bench_end()
{
	[ "$BENCH" = 1 ] || return 0
	sleep 1
	read -r T1 _ < /proc/uptime
	B1=$(cpu_busy)
	C1=$(batch_counts)
	bench_mark 244 "$1"
	WINDOW=$(awk -v a="$T0" -v b="$T1" 'BEGIN { printf "%.2f", b - a }')
	BUSY=$(awk -v a="$B0" -v b="$B1" 'BEGIN { printf "%.2f", (b - a) / 100 }')
	BATCH=$(batch_delta "$C0" "$C1")
}

# bench_line ID WORKLOAD KEY=VALUE...: the result line of a timed workload.
bench_line()
{
	[ "$BENCH" = 1 ] || return 0
	id=$1
	shift
	echo "# iova-bench: id=$id workload=$* window=$WINDOW cpu_busy=$BUSY cpus=$NCPU type=$TYPE${BATCH:+ $BATCH}"
}

missing()
{
	if [ "$IOVA_TEST_REQUIRE_DEVICES" = 1 ]; then
		ktap_print_header
		ktap_set_plan 1
		ktap_test_fail "$1"
		ktap_finished
	fi
	ktap_print_header
	ktap_skip_all "$1"
	exit "$KSFT_SKIP"
}

cleanup()
{
	[ -z "$NSPID" ] || kill "$NSPID" 2>/dev/null
	killall iperf3 sockperf nc.openbsd 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT

# The domain type the command line asks for ("" where it does not say).
wanted_type()
{
	want=
	for a in $(cat /proc/cmdline); do
		case "$a" in
		iommu.strict=1) want=DMA ;;
		iommu.strict=0) want=DMA-FQ ;;
		iommu.safedefer=1) want=DMA-SAFE ;;
		iommu.passthrough=1) want=identity; break ;;
		esac
	done
	echo "$want"
}

# The IOMMU group type of a device's sysfs directory, "none" without one.
dev_type()
{
	cat "$1/iommu_group/type" 2>/dev/null || echo none
}

# The PCI device of a network interface (a virtio NIC's is its parent).
nic_dev()
{
	d=/sys/class/net/$1/device
	[ "$(basename "$(readlink "$d/subsystem")")" = virtio ] && d=$d/..
	echo "$d"
}

# AMD-Vi under a hypervisor that caches non-present entries boots every
# DMA domain strict, whatever the command line says ("Using strict mode
# due to virtualization"). A strict domain becomes a flush-queue or a
# safe deferred one in place, drivers bound: do that for every device's
# group, so that the workloads run in the mode that was asked for.
amd_strict_switch()
{
	case "$WANT" in
	DMA-FQ | DMA-SAFE) ;;
	*) return 0 ;;
	esac
	[ "$TYPE" = DMA ] || return 0
	dmesg | grep -q "AMD-Vi: Using strict mode due to virtualization" ||
		return 0
	for d in "/sys/block/$NVME/device/device" $(nic_dev "$NIC_A") \
		 $(nic_dev "$NIC_B"); do
		[ "$(dev_type "$d")" = DMA ] || continue
		echo "$WANT" > "$d/iommu_group/type" || return 1
	done
	TYPE=$(dev_type "/sys/block/$NVME/device/device")
	echo "# AMD-Vi kept the boot-time domains strict under virtualization: switched them from DMA to $TYPE through sysfs"
}

for t in fio iperf3 sockperf ip nc.openbsd cmp timeout netstat; do
	command -v $t > /dev/null || missing "no $t"
done
NVME=
for b in /sys/block/nvme*n1; do
	[ -e "$b" ] && NVME=$(basename "$b") && break
done
[ -n "$NVME" ] || missing "no NVMe namespace"
NICS=
for n in /sys/class/net/*; do
	[ -e "$n/device" ] || continue
	NICS="$NICS $(basename "$n")"
done
set -- $NICS
[ $# -ge 2 ] || missing "fewer than two network interfaces ($NICS)"
NIC_A=$1
NIC_B=$2

TYPE=$(dev_type "/sys/block/$NVME/device/device")
WANT=$(wanted_type)
mkdir -p "$TMP"

EDU=$(edu_find_device)
ktap_print_header
case "$BENCH:$ONLY" in
?:|?:net|1:fio-4k|1:fio-large) ;;
*) ktap_exit_fail_msg "IOVA_DEV_ONLY=$ONLY: net, or fio-4k or fio-large with IOVA_DEV_BENCH=1" ;;
esac
if [ "$BENCH" = 1 ]; then
	ktap_set_plan 6
else
	ktap_set_plan 5
fi

amd_strict_switch || echo "# AMD-Vi: switching the groups from DMA to $WANT failed"

# --- domain types ---------------------------------------------------------
types="$NVME=$TYPE"
ok=1
for n in $NIC_A $NIC_B; do
	t=$(dev_type "$(nic_dev "$n")")
	types="$types $n=$t"
	[ "$t" = "$TYPE" ] || ok=0
done
[ -z "$WANT" ] || [ "$TYPE" = "$WANT" ] || ok=0
echo "# domain types: $types (command line asks for ${WANT:-the default})"
if [ "$TYPE" = none ]; then
	ktap_test_fail "devices are behind an IOMMU"
elif [ $ok = 1 ]; then
	ktap_test_pass "devices are in $TYPE domains"
else
	ktap_test_fail "devices are in $TYPE domains"
fi

# fio_terse FILE: the error and the read and write KiB, KiB/s and IOPS of
# the last terse v3 line of FILE (fields 5, 6-8 and 47-49), in err, rkb,
# rbw, riops, wkb, wbw and wiops.
fio_terse()
{
	line=$(grep '^3;' "$1" | tail -n 1)
	err=$(echo "$line" | cut -d';' -f5)
	rkb=$(echo "$line" | cut -d';' -f6)
	rbw=$(echo "$line" | cut -d';' -f7)
	riops=$(echo "$line" | cut -d';' -f8)
	wkb=$(echo "$line" | cut -d';' -f47)
	wbw=$(echo "$line" | cut -d';' -f48)
	wiops=$(echo "$line" | cut -d';' -f49)
}

# --- fio: random writes, verified reads -------------------------------------
# Each job writes its own FIO_MB region (offset_increment), so that one
# job's verification never reads another's blocks.
if [ -n "$ONLY" ]; then
	ktap_test_skip "fio: verified writes (IOVA_DEV_ONLY=$ONLY)"
else
	fio --name=verify --filename="/dev/$NVME" --direct=1 --ioengine=libaio \
		--iodepth=8 --numjobs="$FIO_JOBS" --thread --rw=randwrite \
		--bsrange=4k-1m --bs_unaligned=0 --size="${FIO_MB}m" \
		--offset_increment="${FIO_MB}m" --verify=crc32c --do_verify=1 \
		--verify_fatal=1 --verify_backlog=0 --group_reporting \
		--output-format=terse --terse-version=3 > "$TMP/fio.out" 2> "$TMP/fio.err"
	rc=$?
	fio_terse "$TMP/fio.out"
	want_kb=$((FIO_MB * 1024 * FIO_JOBS))
	echo "# iova-devices: workload=fio type=$TYPE rc=$rc err=${err:-?} write_kib=${wkb:-0} read_kib=${rkb:-0} write_kibs=${wbw:-0} read_kibs=${rbw:-0} write_iops=${wiops:-0} read_iops=${riops:-0}"
	if [ "$rc" = 0 ] && [ "$err" = 0 ] && [ "${wkb:-0}" -ge "$want_kb" ] &&
	   [ "${rkb:-0}" -ge "$want_kb" ] && ! grep -qi "verify" "$TMP/fio.err"; then
		ktap_test_pass "fio: $want_kb KiB written at random and verified (crc32c)"
	else
		sed 's/^/# fio: /' "$TMP/fio.err" | head -n 20
		ktap_test_fail "fio: $want_kb KiB written at random and verified (crc32c)"
	fi
fi

# --- bench mode: timed fio jobs, 4 KiB random and 1 MiB sequential ------------
# fio_timed ID NAME RW BS IODEPTH: IOVA_DEV_SECONDS of one job pattern, two
# jobs each in a region of its own; true when fio ran without error and
# moved data.
fio_timed()
{
	[ -z "$ONLY" ] || [ "$ONLY" = "$2" ] || return 0
	bench_begin "$1"
	fio --name="$2" --filename="/dev/$NVME" --direct=1 --ioengine=libaio \
		--iodepth="$5" --numjobs=2 --thread --rw="$3" --bs="$4" \
		--size=64m --offset_increment=64m --time_based \
		--runtime="$SECS" --group_reporting --output-format=terse \
		--terse-version=3 > "$TMP/$2.out" 2> "$TMP/$2.err"
	rc=$?
	bench_end "$1"
	fio_terse "$TMP/$2.out"
	kib=$((${rkb:-0} + ${wkb:-0}))
	iops=$((${riops:-0} + ${wiops:-0}))
	bench_line "$1" "$2 rc=$rc err=${err:-?} bytes=$((kib * 1024))" \
		"seconds=$SECS mb_per_s=$(awk -v k="$kib" -v s="$SECS" 'BEGIN { printf "%.3f", k * 1024 / s / 1e6 }')" \
		"kib_per_s=$((kib / SECS)) iops=$((iops))"
	if [ "$rc" != 0 ] || [ "${err:-1}" != 0 ] || [ "$kib" -le 0 ]; then
		sed "s/^/# $2: /" "$TMP/$2.err" | head -n 10
		return 1
	fi
}

if [ "$BENCH" = 1 ] && [ "$ONLY" = net ]; then
	ktap_test_skip "fio: timed jobs (IOVA_DEV_ONLY=$ONLY)"
elif [ "$BENCH" = 1 ]; then
	what="4 KiB random and 1 MiB sequential jobs"
	[ -z "$ONLY" ] || what="$ONLY job"
	if fio_timed 1 fio-4k randrw 4k 16 && fio_timed 2 fio-large rw 1m 4; then
		ktap_test_pass "fio: timed $what"
	else
		ktap_test_fail "fio: timed $what"
	fi
fi

# --- the two NICs, one in a namespace of its own -----------------------------
net_setup()
{
	unshare -n sleep 100000 &
	NSPID=$!
	sleep 0.2
	ip link set dev "$NIC_B" netns "$NSPID" || return 1
	nsenter -t "$NSPID" -n ip link set lo up || return 1
	nsenter -t "$NSPID" -n ip addr add "$ADDR_B/24" dev "$NIC_B" || return 1
	nsenter -t "$NSPID" -n ip link set "$NIC_B" up || return 1
	ip addr add "$ADDR_A/24" dev "$NIC_A" || return 1
	ip link set "$NIC_A" up || return 1
	i=0
	while [ $i -lt 50 ]; do
		ping -c 1 -W 1 "$ADDR_B" > /dev/null 2>&1 && return 0
		i=$((i + 1))
	done
	return 1
}

# json_sum FILE KEY: the value of "KEY" in iperf3's "end" section.
iperf_bytes()
{
	# sum_sent / sum_received come last in the "end" object
	sed -n "/\"$2\"/,/}/s/.*\"bytes\":[[:space:]]*\([0-9]*\).*/\1/p" "$1" | tail -n 1
}
iperf_bps()
{
	sed -n "/\"$2\"/,/}/s/.*\"bits_per_second\":[[:space:]]*\([0-9.e+]*\).*/\1/p" "$1" | tail -n 1
}

if [ -n "$ONLY" ] && [ "$ONLY" != net ]; then
	ktap_test_skip "iperf3: TCP both ways (IOVA_DEV_ONLY=$ONLY)"
	ktap_test_skip "sockperf: request/response (IOVA_DEV_ONLY=$ONLY)"
elif ! net_setup; then
	ip addr 2>&1 | sed 's/^/# /'
	ktap_test_fail "iperf3: TCP both ways between $NIC_A and $NIC_B"
	ktap_test_fail "sockperf: request/response between $NIC_A and $NIC_B"
else
	nsenter -t "$NSPID" -n iperf3 -s -D -B "$ADDR_B" > /dev/null 2>&1
	sleep 0.5
	ok=1
	for dir in up down; do
		r=
		[ $dir = down ] && r=-R
		id=3
		[ $dir = down ] && id=4
		bench_begin $id
		iperf3 -c "$ADDR_B" -t "$SECS" -P "$STREAMS" $r -J > "$TMP/iperf-$dir.json" 2>&1
		rc=$?
		bench_end $id
		sent=$(iperf_bytes "$TMP/iperf-$dir.json" sum_sent)
		recv=$(iperf_bytes "$TMP/iperf-$dir.json" sum_received)
		bps=$(iperf_bps "$TMP/iperf-$dir.json" sum_received)
		echo "# iova-devices: workload=iperf3-$dir type=$TYPE rc=$rc streams=$STREAMS sent_bytes=${sent:-0} received_bytes=${recv:-0} bits_per_second=${bps:-0}"
		bench_line $id "iperf3-$dir rc=$rc bytes=${recv:-0} seconds=$SECS" \
			"streams=$STREAMS" \
			"gbit_per_s=$(awk -v b="${bps:-0}" 'BEGIN { printf "%.6f", b / 1e9 }')"
		# The receiver counts what TCP delivered to it, checksummed
		# and in order: something must have arrived, and never more
		# than the sender wrote (what was still in flight when the
		# test ended is dropped with the connection).
		if [ "$rc" != 0 ] || [ "${recv:-0}" -le 0 ] || [ "${sent:-0}" -lt "${recv:-0}" ]; then
			grep -i error "$TMP/iperf-$dir.json" | head -n 5 | sed 's/^/# /'
			ok=0
		fi
	done
	# A NIC that computes TCP's checksum itself (QEMU's e1000e does)
	# computes it over what it read by DMA, so bytes a stale or wrong
	# translation made it read arrive with a valid checksum. Send a file
	# of random bytes each way with netcat and compare what arrived byte
	# for byte.
	dd if=/dev/urandom of="$TMP/xfer.src" bs=1M count="$XFER_MB" \
		2>/dev/null
	want=$((XFER_MB * 1048576))
	[ "$(wc -c < "$TMP/xfer.src")" -eq "$want" ] ||
		echo "# xfer: $TMP/xfer.src is not $want bytes"
	# listening PID ADDR:PORT: wait up to 10 s for a listener at
	# ADDR:PORT in the network namespace of PID.
	listening()
	{
		n=0
		while [ $n -lt 50 ]; do
			nsenter -t "$1" -n netstat -ltn 2>/dev/null |
				grep -q " $2 " && return 0
			sleep 0.2
			n=$((n + 1))
		done
		return 1
	}
	# xfer DIR FROM TO ADDR PORT: send the file from the network
	# namespace of PID FROM to a listener at ADDR:PORT in that of PID TO
	# (PID 1: the first NIC's, the initial one) and compare what arrived.
	xfer()
	{
		rm -f "$TMP/xfer.$1"
		nsenter -t "$3" -n timeout 120 nc.openbsd -d -l "$4" "$5" \
			> "$TMP/xfer.$1" 2> "$TMP/xfer-$1.out" &
		srv=$!
		listening "$3" "$4:$5"
		nsenter -t "$2" -n timeout 120 nc.openbsd -N "$4" "$5" \
			< "$TMP/xfer.src" >> "$TMP/xfer-$1.out" 2>&1
		rc=$?
		# the listener ends when the sender shuts its side down
		[ "$rc" = 0 ] || kill $srv 2>/dev/null
		wait $srv || rc=1
		got=$(wc -c < "$TMP/xfer.$1" 2>/dev/null || echo 0)
		if [ "$rc" = 0 ] && [ "$got" -eq "$want" ] &&
		   cmp -s "$TMP/xfer.src" "$TMP/xfer.$1"; then
			echo "# iova-devices: workload=xfer-$1 type=$TYPE rc=$rc same=1 received_bytes=$got"
			return 0
		fi
		echo "# iova-devices: workload=xfer-$1 type=$TYPE rc=$rc same=0 received_bytes=$got"
		cmp "$TMP/xfer.src" "$TMP/xfer.$1" 2>&1 | sed 's/^/# /'
		tail -n 3 "$TMP/xfer-$1.out" | sed 's/^/# /'
		return 1
	}
	xfer up 1 "$NSPID" "$ADDR_B" 5202 || ok=0
	xfer down "$NSPID" 1 "$ADDR_A" 5203 || ok=0
	if [ $ok = 1 ]; then
		ktap_test_pass "iperf3: TCP both ways between $NIC_A and $NIC_B, $XFER_MB MiB each way arrived unchanged"
	else
		ktap_test_fail "iperf3: TCP both ways between $NIC_A and $NIC_B, $XFER_MB MiB each way arrived unchanged"
	fi

	# sockperf: RR connections, one server port each
	ok=1
	i=0
	while [ $i -lt "$RR" ]; do
		nsenter -t "$NSPID" -n sockperf server --tcp -i "$ADDR_B" \
			-p $((11111 + i)) > /dev/null 2>&1 &
		i=$((i + 1))
	done
	sleep 1
	bench_begin 5
	i=0
	pids=
	while [ $i -lt "$RR" ]; do
		sockperf ping-pong --tcp -i "$ADDR_B" -p $((11111 + i)) \
			-t "$SECS" --msg-size 64 > "$TMP/rr-$i.out" 2>&1 &
		pids="$pids $!"
		i=$((i + 1))
	done
	# sockperf ends by itself after SECS seconds
	wait $pids
	bench_end 5
	# The whole run of each connection, warm-up included, as QEMU's
	# trace counts the invalidations of all of it: its messages and its
	# own run time, from sockperf's "[Total Run]" line.
	sent=0
	recv=0
	tps=0
	i=0
	while [ $i -lt "$RR" ]; do
		line=$(grep '\[Total Run\]' "$TMP/rr-$i.out" | tail -n 1)
		s=$(echo "$line" | sed -n 's/.*SentMessages=\([0-9]*\).*/\1/p')
		r=$(echo "$line" | sed -n 's/.*ReceivedMessages=\([0-9]*\).*/\1/p')
		t=$(echo "$line" | sed -n 's/.*RunTime=\([0-9.]*\) sec.*/\1/p')
		if [ -z "$r" ] || [ "$r" -le 0 ] || [ -z "$t" ]; then
			sed 's/^/# sockperf: /' "$TMP/rr-$i.out" | tail -n 5
			ok=0
		else
			tps=$(awk -v a="$tps" -v r="$r" -v t="$t" 'BEGIN { printf "%.1f", a + (t > 0 ? r / t : 0) }')
		fi
		sent=$((sent + ${s:-0}))
		recv=$((recv + ${r:-0}))
		i=$((i + 1))
	done
	echo "# iova-devices: workload=sockperf type=$TYPE connections=$RR seconds=$SECS sent=$sent received=$recv transactions_per_second=$tps"
	# 64-byte messages each way: the payload moved, headers not counted.
	bench_line 5 "sockperf ok=$ok bytes=$((recv * 128)) seconds=$SECS" \
		"connections=$RR transactions=$recv" \
		"transactions_per_second=$tps"
	if [ $ok = 1 ]; then
		ktap_test_pass "sockperf: request/response between $NIC_A and $NIC_B"
	else
		ktap_test_fail "sockperf: request/response between $NIC_A and $NIC_B"
	fi
fi

# --- what the safe deferred mode's batcher did, where it exists -------------
# One line, since boot: unmaps, deferred ones, those invalidated at once
# and why, range invalidations, calls that invalidated several ranges
# behind one wait, full flushes.
if [ -r "$BATCH_STATS" ]; then
	echo "# iotlb-batch: $(awk '$1 ~ /^(unmaps|deferred|sync_[a-z]+|inv_range|inv_ranges_calls|inv_full)$/ { printf "%s%s=%s", sep, $1, $2; sep = " " }' "$BATCH_STATS")"
fi

# --- the domains after the traffic -----------------------------------------
t=$(dev_type "/sys/block/$NVME/device/device")
if [ "$t" = "$TYPE" ]; then
	ktap_test_pass "domain type unchanged after the workloads"
else
	ktap_test_fail "domain type unchanged after the workloads ($TYPE -> $t)"
fi

ktap_finished
