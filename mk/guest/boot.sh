#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Boot one test guest under QEMU and judge it by its serial output.
#
#   mk/guest/boot.sh ARCH NAME KERNEL INITRAMFS [KERNEL-PARAMETER...]
#
# The guest's /init runs the kselftests and prints TAP on the console. The
# boot passes when every TAP plan printed is complete, every test is "ok",
# the guest reports that it is done, and no panic shows; a guest that dies,
# hangs past the timeout or prints no plan fails. Files, under
# build/results/guest/: NAME.log (the serial console), NAME.json (one JSON
# line per dma_map_benchmark run and one for the whole boot, with QEMU's
# invalidation counts when traced), NAME.counts ("PASSED FAILED").
# Prints one summary line; the exit status says pass (0) or fail (1).
#
# Environment: GUEST_TRACE=1 counts IOTLB invalidations with QEMU's trace
# events; GUEST_TIMEOUT (seconds, default from the benchmark length);
# GUEST_KVM=1 uses KVM where a probe boot shows that it really works
# (timings then are not comparable with TCG ones); GUEST_SMP (2),
# GUEST_MEM (512M); KEEP_TRACE=1 keeps QEMU's trace log (NAME.qemu.log,
# large); GUEST_FLAVOR and GUEST_MODE only label the JSON;
# GUEST_ICOUNT=N (TCG only) runs QEMU with -icount shift=N: the guest's
# clock then advances 2^N ns per instruction executed, so dma_map_benchmark
# reports instructions per map and unmap (times 2^N ns), the same in every
# run and whatever the host's load, instead of wall time (one vCPU thread
# runs both CPUs; two-thread runs then measure interleaving, not speed).
# QEMU 7.2 has been seen to stall such a guest now and then (stock kernel
# too): the boot then fails on its timeout. The guest has the device
# workloads' hardware unless GUEST_DEVICES=0: an NVMe disk backed by a scratch
# image under build/guest/, and two NICs on one QEMU hub with no host
# backend: virtio-net with iommu_platform=on on x86_64, e1000e on arm64);
# the machine's own default NIC is kept, driverless, as before.
# GUEST_IOMMU=amd uses q35 + amd-iommu instead of intel-iommu (x86_64).
# GUEST_ATS=1 (x86_64, intel-iommu, with the device workloads): the IOMMU
# gets device-iotlb=on and the two NICs ats=on, each behind a PCIe root
# port of its own (QEMU gives a virtio device ATS only there), so that the
# kernel also sends device-TLB invalidations; with GUEST_TRACE=1 they are
# counted as class "devtlb" beside the IOTLB ones, and a traced boot that
# counts none fails. GUEST_GDB=PORT serves QEMU's gdbstub on
# 127.0.0.1:PORT (mk/guest/steptrace.sh steps the guest through it).
set -e
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/lib.sh"

[ $# -ge 4 ] || die "usage: $0 ARCH NAME KERNEL INITRAMFS [KERNEL-PARAMETER...]"
guest_arch "$1"
name=$2
kernel=$3
initrd=$4
shift 4
[ -f "$kernel" ] || die "no kernel $kernel"
[ -f "$initrd" ] || die "no initramfs $initrd"

out=$RESULTS/guest
mkdir -p "$out"
log=$out/$name.log
qlog=$out/$name.qemu.log
json=$out/$name.json
rm -f "$log" "$qlog" "$json" "$out/$name.counts"

params="panic=-1 oops=panic $*"

# Long enough for a slow TCG boot plus the benchmark runs the guest was
# asked for (dma_map_bench.sh sleeps a second after each run, the group
# type test runs four one-second benchmarks).
if [ -z "$GUEST_TIMEOUT" ]; then
	secs=1
	threads="1 2"
	repeat=1
	types=1
	count=1
	for p in $params; do
		case "$p" in
		iovatest.seconds=*) secs=${p#*=} ;;
		iovatest.threads=*) threads=$(echo "${p#*=}" | tr ',' ' ') ;;
		iovatest.repeat=*) repeat=${p#*=} ;;
		iovatest.types=*) types=$(echo "${p#*=}" | tr ',' ' ' | wc -w) ;;
		iovatest.count=1) count=2 ;;
		esac
	done
	GUEST_TIMEOUT=$((240 + $(echo $threads | wc -w) * repeat * types * count * (secs + 3) * 2 + 10))
	! guest_devices || GUEST_TIMEOUT=$((GUEST_TIMEOUT + 180))
fi

# kvm_works: whether this guest really boots and finishes under KVM here
# (/dev/kvm can be present and still fail: MSRs a nested host refuses, a
# guest that never prints). Probed once per architecture, answer cached in
# build/guest/kvm-ARCH; remove that file to probe again.
kvm_works() {
	local cache=$GUEST/kvm-$GARCH plog=$GUEST/kvm-$GARCH.log
	if [ ! -f "$cache" ]; then
		mkdir -p "$GUEST"
		echo no > "$cache"
		if [ "$GARCH" = "$(uname -m | sed 's/aarch64/arm64/')" ] &&
		   [ -w /dev/kvm ]; then
			step "boot: probing KVM (60s at most)"
			timeout -k 5 60 $QEMU -accel kvm -cpu host "${machine[@]}" \
				-device edu -smp 2 -m 512M -nographic -no-reboot \
				-kernel "$kernel" -initrd "$initrd" -append \
				"console=$console $archparams panic=-1 iovatest.run=iova:dmesg_clean.sh" \
				< /dev/null > "$plog" 2>&1 || true
			tr -d '\r' < "$plog" | grep -q '^# iova-guest: done' &&
				echo yes > "$cache"
		fi
		step "boot: KVM $(sed 's/yes/works/; s/no/does not work here, using TCG/' "$cache")"
	fi
	[ "$(cat "$cache")" = yes ]
}

case "$GARCH" in
x86_64)
	# The IOMMU must be created before the devices behind it.
	if [ "$GUEST_IOMMU" = amd ]; then
		machine=(-machine q35,kernel-irqchip=split -device amd-iommu,intremap=on)
	elif [ "$GUEST_ATS" = 1 ]; then
		machine=(-machine q35,kernel-irqchip=split
			 -device intel-iommu,intremap=on,device-iotlb=on)
	else
		machine=(-machine q35,kernel-irqchip=split -device intel-iommu,intremap=on)
	fi
	# The IO-APIC timer check is timing-based: on a loaded host TCG
	# misses it and the kernel panics ("timer doesn't work through
	# Interrupt-remapped IO-APIC").
	# The clocksource watchdog, too, misreads a loaded host's delays as
	# TSC skew and moves the kernel to the HPET, whose every read is an
	# emulated MMIO access: dma_map_benchmark times each map and unmap,
	# so its latencies would jump by microseconds in the middle of a run.
	console=ttyS0
	archparams="no_timer_check tsc=reliable"
	;;
arm64)
	machine=(-machine virt,iommu=smmuv3,gic-version=3)
	console=ttyAMA0
	archparams=
	;;
esac

accel=(-accel tcg)
if [ "$GUEST_KVM" = 1 ] && kvm_works; then
	accel=(-accel kvm -cpu host)
elif [ "$GARCH" = arm64 ]; then
	accel+=(-cpu cortex-a57)
fi
if [ -n "$GUEST_ICOUNT" ] && [ "${accel[1]}" = tcg ]; then
	accel+=(-icount "shift=$GUEST_ICOUNT")
fi

trace=()
if [ "$GUEST_TRACE" = 1 ]; then
	{
		inv_events | awk '!seen[$2]++ { print $2 }'
		echo pci_cfg_write
	} > "$out/$name.events"
	trace=(-trace "events=$out/$name.events" -D "$qlog")
	params="$params iovatest.mark=1"
fi

# The device workloads' hardware. Giving -netdev drops the machine's
# default NIC: it comes back on a hub of its own, so that the guest has the
# same driverless device as without the workloads.
devices=()
disk=
mem=${GUEST_MEM:-512M}
if guest_devices; then
	disk=$GUEST/nvme-$name.img
	mkdir -p "$GUEST"
	rm -f "$disk"
	truncate -s 256M "$disk"
	case "$GARCH" in
	x86_64)
		nic=virtio-net-pci,iommu_platform=on,disable-legacy=on
		defnic=e1000e
		;;
	arm64)
		nic=e1000e
		defnic=virtio-net-pci
		;;
	esac
	busa=
	busb=
	if [ "$GUEST_ATS" = 1 ]; then
		[ "$GARCH" = x86_64 ] && [ "$GUEST_IOMMU" != amd ] ||
			die "GUEST_ATS=1 needs the x86_64 guest on intel-iommu"
		nic="$nic,ats=on"
		busa=,bus=rpa
		busb=,bus=rpb
		devices=(-device pcie-root-port,id=rpa,chassis=1,slot=1
			 -device pcie-root-port,id=rpb,chassis=2,slot=2)
	fi
	devices+=(-drive "file=$disk,if=none,id=nvm,format=raw,cache=unsafe"
		-device nvme,serial=iova0,drive=nvm
		-netdev hubport,id=wa,hubid=0 -device "$nic,netdev=wa$busa"
		-netdev hubport,id=wb,hubid=0 -device "$nic,netdev=wb$busb"
		-nic "hubport,hubid=1,model=$defnic")
	mem=${GUEST_MEM:-1G}
	params="$params iovatest.devices=1"
fi

step "boot $name: $QEMU (${accel[1]^^}, timeout ${GUEST_TIMEOUT}s)"
t0=$(date +%s)
set +e
timeout -k 10 "$GUEST_TIMEOUT" $QEMU "${accel[@]}" "${machine[@]}" -device edu \
	"${devices[@]}" -smp "${GUEST_SMP:-2}" -m "$mem" -nographic -no-reboot \
	-kernel "$kernel" -initrd "$initrd" \
	-append "console=$console $archparams $params" "${trace[@]}" \
	${GUEST_GDB:+-gdb tcp:127.0.0.1:$GUEST_GDB} \
	< /dev/null > "$log" 2>&1
qrc=$?
set -e
[ -z "$disk" ] || rm -f "$disk"
secs=$(($(date +%s) - t0))

# --- judge the console output ---------------------------------------------
# The runner's TAP is at the top level; each test's own TAP is indented
# with "# ". Count the subtests of a test where it has them, the test
# itself where it has none; a failed test counts at least once, and the
# subtests its plan promised but never reported count as failed.
read -r passed failed skipped planned seen blocks finished panic < <(
	tr -d '\r' < "$log" | awk '
	function sub_reset() { sp = 0; sf = 0; ss = 0; splan = 0; sseen = 0 }
	BEGIN { sub_reset() }
	/^TAP version/ { blocks++; sub_reset(); next }
	/^1\.\.[0-9]+/ { plan += substr($1, 4); next }
	/^# 1\.\.[0-9]+/ { splan = substr($2, 4) + 0; next }
	/^# ok [0-9]+/ { sseen++; if (/# SKIP/) ss++; else sp++; next }
	/^# not ok [0-9]+/ { sseen++; sf++; next }
	/^ok [0-9]+/ {
		seen++
		n = sp + ss
		if (n == 0) { n = 1; if (/# SKIP/) ss = 1 }
		pass += n; skip += ss; fail += sf
		sub_reset(); next
	}
	/^not ok [0-9]+/ {
		seen++
		f = sf + (splan > sseen ? splan - sseen : 0)
		fail += f > 0 ? f : 1
		pass += sp + ss; skip += ss
		sub_reset(); next
	}
	/^# iova-guest: done/ { done = 1 }
	/Kernel panic - not syncing/ { panic = 1 }
	END { printf "%d %d %d %d %d %d %d %d\n",
		pass, fail, skip, plan, seen, blocks, done, panic }')

why=
if [ "$qrc" = 124 ] || [ "$qrc" = 137 ]; then
	why="timed out after ${GUEST_TIMEOUT}s"
elif [ "$panic" = 1 ]; then
	why="kernel panic"
elif [ "$blocks" = 0 ] || [ "$planned" = 0 ]; then
	why="no TAP plan (qemu exit $qrc)"
elif [ "$seen" != "$planned" ]; then
	why="incomplete TAP: $seen of $planned results"
elif [ "$finished" != 1 ]; then
	why="guest did not finish"
elif [ "$qrc" != 0 ]; then
	why="qemu exit $qrc"
fi
if [ -n "$why" ]; then
	# The boot itself counts as a failed test, and so does every test of
	# a plan that never reported.
	missing=$((planned > seen ? planned - seen : 0))
	failed=$((failed + missing + 1))
fi
echo "$passed $failed" > "$out/$name.counts"

# --- benchmark runs and invalidation counts ----------------------------------
tr -d '\r' < "$log" | sed -n 's/.*iova-bench: //p' > "$out/$name.bench"
tr -d '\r' < "$log" | sed -n 's/.*iova-count: //p' > "$out/$name.count"
if [ "$GUEST_TRACE" = 1 ] && [ -f "$qlog" ]; then
	inv_events > "$out/$name.classes"
	# Invalidations between the marks of run N (pci_cfg_write of N at
	# 0xf0 and at 0xf4) belong to run N, those between 0xf8 and 0xfc to
	# its counted run cN; the total covers the whole boot. An event counts
	# in every class whose rule (inv_events) it matches.
	awk -v classes="$out/$name.classes" '
	function hex(s,  i, v) {
		v = 0
		s = tolower(s)
		sub(/^0x/, "", s)
		for (i = 1; i <= length(s); i++)
			v = v * 16 + index("0123456789abcdef", substr(s, i, 1)) - 1
		return v
	}
	BEGIN {
		while ((getline l < classes) > 0) {
			split(l, a, " ")
			nr++
			cls[nr] = a[1]
			re[nr] = a[3]
			rules[a[2]] = rules[a[2]] " " nr
		}
	}
	{ sub(/^[0-9]+@[0-9.]+:/, ""); ev = $1 }
	ev == "pci_cfg_write" && $2 == "edu" {
		if ($4 == "@0xf0") { run = hex($6); next }
		if ($4 == "@0xf4") { run = 0; next }
		if ($4 == "@0xf8") { run = "c" hex($6); next }
		if ($4 == "@0xfc") { run = 0; next }
	}
	ev in rules {
		k = split(rules[ev], idx, " ")
		for (i = 1; i <= k; i++) {
			c = cls[idx[i]]
			if (re[idx[i]] != "" && $0 !~ re[idx[i]])
				continue
			total[c]++
			if (run)
				n[run, c]++
		}
	}
	END {
		for (c in total) printf "0 %s %d\n", c, total[c]
		for (k in n) { split(k, a, SUBSEP); printf "%s %s %d\n", a[1], a[2], n[k] }
	}' "$qlog" > "$out/$name.inv"
	[ "$KEEP_TRACE" = 1 ] || rm -f "$qlog"
	# An ATS boot whose kernel never invalidated a device TLB did not
	# test what it was for (a passthrough one has nothing to invalidate).
	if [ "$GUEST_ATS" = 1 ] && [ -z "$why" ] &&
	   [ "$GUEST_MODE" != passthrough ] &&
	   ! grep -q '^0 devtlb [1-9]' "$out/$name.inv"; then
		why="no device-TLB invalidation traced"
		failed=$((failed + 1))
		echo "$passed $failed" > "$out/$name.counts"
	fi
else
	: > "$out/$name.inv"
fi

# A safe deferred boot with the device workloads and several ranges per
# batch, on an IOMMU whose driver invalidates several ranges behind one
# wait (VT-d, SMMUv3; not AMD-Vi), must have done so at least once (the
# batcher's counters, printed by devices.sh): else it did not test that
# path.
if [ -z "$why" ] && [ "$GUEST_MODE" = safedefer ] && [ "$GUEST_IOMMU" != amd ] &&
   guest_devices &&
   echo " $params " | grep -q ' iommu\.batch_ranges=\([2-9]\|[1-9][0-9]\) ' &&
   ! tr -d '\r' < "$log" | grep -q 'iotlb-batch: .* inv_ranges_calls=[1-9]'; then
	why="no invalidation of several ranges behind one wait"
	failed=$((failed + 1))
	echo "$passed $failed" > "$out/$name.counts"
fi

# inv_json RUN: {"pages":N,...} for run RUN (0 = the whole boot, cN = the
# counted run of run N)
inv_json() {
	if [ "$GUEST_TRACE" != 1 ]; then
		echo null
		return
	fi
	inv_events | awk -v run="$1" -v inv="$out/$name.inv" '
	BEGIN { while ((getline l < inv) > 0) { split(l, a, " "); if (a[1] == run) n[a[2]] = a[3] } }
	!($1 in seen) { seen[$1] = 1; s = s (s ? "," : "") "\"" $1 "\":" (n[$1] + 0) }
	END { print "{" s "}" }'
}

{
	while read -r line; do
		id=
		fields=
		for kv in $line; do
			k=${kv%%=*}
			v=${kv#*=}
			[ "$k" = id ] && id=$v
			case "$v" in
			*[!0-9.]* | "") v="\"$v\"" ;;
			esac
			fields="$fields,\"$k\":$v"
		done
		[ -n "$id" ] || continue
		# The counted run's unmaps and latencies, and its invalidations.
		count=$(awk -v id="$id" '{
			for (i = 1; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
			if (f["id"] == id && f["unmaps"] ~ /^[0-9]+$/)
				printf ",\"unmaps\":%s,\"count_map_us\":%s,\"count_unmap_us\":%s", f["unmaps"], f["map_us"] + 0, f["unmap_us"] + 0
		}' "$out/$name.count")
		[ -z "$count" ] || count="$count,\"inv_counted\":$(inv_json "c$id")"
		echo "{\"name\":\"$name\",\"arch\":\"$GARCH\",\"flavor\":\"${GUEST_FLAVOR:-}\",\"mode\":\"${GUEST_MODE:-}\"$fields$count,\"inv\":$(inv_json "$id")}"
	done < "$out/$name.bench"
	echo "{\"name\":\"$name\",\"arch\":\"$GARCH\",\"flavor\":\"${GUEST_FLAVOR:-}\",\"mode\":\"${GUEST_MODE:-}\",\"boot\":true,\"params\":\"$params\",\"seconds\":$secs,\"passed\":$passed,\"failed\":$failed,\"error\":\"$why\",\"inv\":$(inv_json 0)}"
} > "$json"
rm -f "$out/$name.bench" "$out/$name.count" "$out/$name.inv" "$out/$name.classes" "$out/$name.events"

if [ -n "$why" ]; then
	step "boot $name: FAILED ($why) after ${secs}s: $passed passed, $failed failed; log $log"
	tr -d '\r' < "$log" | grep -E '^not ok|Kernel panic|BUG:|WARNING:' | head -n 10 >&2 || true
	exit 1
fi
[ "$skipped" = 0 ] && skipped= || skipped=" ($skipped skipped)"
step "boot $name: ${secs}s, $passed passed, $failed failed$skipped"
[ "$failed" = 0 ]
