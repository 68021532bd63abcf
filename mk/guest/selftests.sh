#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The boot selftests: build the guest kernel and initramfs if needed, boot
# the guest once per IOMMU mode, run the kselftest collection
# tools/testing/selftests/iova in it, add up the TAP results.
#
#   mk/guest/selftests.sh ARCH [KERNEL-PARAMETER...]
#
# Kernel parameters given here (or in $CMDLINE when none are given) are
# added to every boot. Modes (GUEST_MODES, default "strict lazy
# safedefer passthrough", no safedefer for stock): strict = iommu.strict=1,
# lazy = iommu.strict=0, safedefer = iommu.safedefer=1, passthrough =
# iommu.passthrough=1. GUEST_IOMMU=amd boots the x86_64 guest on q35 +
# amd-iommu (part selftests-x86_64-amd). GUEST_ATS=1 boots it with ATS on
# the NICs and device-iotlb=on (part selftests-x86_64-ats, see boot.sh),
# traced: each boot's IOTLB and device-TLB invalidations, and per GiB that
# the device workloads moved, go to build/results/ats-x86_64.json, one JSON
# line per mode. GUEST_FLAVOR picks the kernel (ours,
# the default; ours-debug; stock). GUEST_TRACE=1 also counts IOTLB
# invalidations (build/results/guest/*.json). The stale IOTLB attack's
# results (trials, landed writes, faults per mode and load) go to
# build/results/attack-ARCH.json, one JSON line per run. The counts go to
# build/results/selftests-ARCH.counts; the exit status is non-zero when any
# test failed or any guest panicked, hung or printed no complete TAP plan.
set -e -o pipefail
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/lib.sh"

[ $# -ge 1 ] || die "usage: $0 ARCH [KERNEL-PARAMETER...]"
guest_arch "$1"
shift
if [ $# -gt 0 ]; then
	extra="$*"
else
	extra=$CMDLINE
fi
flavor=${GUEST_FLAVOR:-ours}
part=selftests-$GARCH
# GUEST_IOMMU=amd: the x86_64 guest on QEMU's AMD-Vi model (same kernel).
if [ "$GUEST_IOMMU" = amd ]; then
	[ "$GARCH" = x86_64 ] || die "GUEST_IOMMU=amd needs the x86_64 guest"
	part=selftests-$GARCH-amd
fi
export GUEST_IOMMU
if [ "$GUEST_ATS" = 1 ]; then
	[ "$GARCH" = x86_64 ] && [ "$GUEST_IOMMU" != amd ] ||
		die "GUEST_ATS=1 needs the x86_64 guest on intel-iommu"
	part=selftests-$GARCH-ats
	export GUEST_TRACE=1
fi
export GUEST_ATS


fail_setup() {
	record_result "$part" 0 1
	die "$part: $1"
}

kernel=$("$GUEST_DIR/kernel.sh" "$GARCH" "$flavor" | tail -n 1) ||
	fail_setup "guest kernel build failed"
initrd=$(GUEST_NO_TREE=1 "$GUEST_DIR/initramfs.sh" "$GARCH" | tail -n 1) ||
	fail_setup "initramfs build failed"

modes=${GUEST_MODES:-strict lazy safedefer passthrough}
[ "$flavor" = stock ] && [ -z "$GUEST_MODES" ] && modes="strict lazy passthrough"

# result_json NAME MODE TAG: the "# TAG: key=value ..." result lines of one
# boot (iova-attack: selftests/iova/iotlb_attack.sh; iova-devices:
# selftests/iova/devices.sh), one JSON object per line.
result_json() {
	tr -d '\r' < "$RESULTS/guest/$1.log" | sed -n "s/.*# $3: //p" |
		awk -v arch="$GARCH" -v part="$part" -v flavor="$flavor" -v mode="$2" '{
			printf "{\"arch\": \"%s\", \"part\": \"%s\", \"flavor\": \"%s\", \"mode\": \"%s\"", arch, part, flavor, mode
			for (i = 1; i <= NF; i++) {
				k = $i; sub(/=.*/, "", k)
				v = $i; sub(/^[^=]*=/, "", v)
				if (v ~ /^[0-9]+(\.[0-9]+)?(e\+[0-9]+)?$/)
					printf ", \"%s\": %s", k, v
				else
					printf ", \"%s\": \"%s\"", k, v
			}
			print "}"
		}'
}
attack=$RESULTS/attack-$GARCH.json
devjson=$RESULTS/devices-$GARCH.json
if [ "$flavor" != ours ]; then
	attack=${attack%.json}-$flavor.json
	devjson=${devjson%.json}-$flavor.json
fi
if [ "$GUEST_IOMMU" = amd ]; then
	attack=${attack%.json}-amd.json
	devjson=${devjson%.json}-amd.json
fi
atsjson=$RESULTS/ats-$GARCH.json
if [ "$GUEST_ATS" = 1 ]; then
	attack=${attack%.json}-ats.json
	devjson=${devjson%.json}-ats.json
	[ "$flavor" = ours ] || atsjson=${atsjson%.json}-$flavor.json
fi
mkdir -p "$RESULTS"
: > "$attack"
# The tree these runs test, for the report that shows them (make bench).
bash "$TOP/mk/tree-id.sh" "$TOP" > "${attack%.json}.tree"
: > "$devjson"
[ "$GUEST_ATS" != 1 ] || : > "$atsjson"

# ats_json NAME MODE: a boot's invalidations by class (QEMU's trace), the
# bytes its device workloads moved (fio written + read, what iperf3 and
# netcat received) and the invalidations per GiB of them.
ats_json() {
	python3 - "$RESULTS/guest/$1.json" "$devjson" "$2" "$flavor" <<'PY'
import json, sys
boot = [json.loads(l) for l in open(sys.argv[1]) if '"boot":true' in l][-1]
moved = 0
for l in open(sys.argv[2]):
    r = json.loads(l)
    if r.get("mode") != sys.argv[3]:
        continue
    moved += (r.get("write_kib", 0) + r.get("read_kib", 0)) * 1024
    moved += r.get("received_bytes", 0)
inv = boot.get("inv") or {}
gib = moved / 2**30
out = {"mode": sys.argv[3], "flavor": sys.argv[4], "name": boot["name"],
       "passed": boot["passed"], "failed": boot["failed"], "inv": inv,
       "moved_bytes": moved}
if gib:
    out["per_gib"] = {k: round(v / gib, 1) for k, v in inv.items()}
print(json.dumps(out))
PY
}

passed=0
failed=0
bad=
for mode in $modes; do
	name=$part-$mode
	[ "$flavor" = ours ] || name=$part-$flavor-$mode
	GUEST_FLAVOR=$flavor GUEST_MODE=$mode \
		"$GUEST_DIR/boot.sh" "$GARCH" "$name" "$kernel" "$initrd" \
		"$(mode_param "$mode")" iovatest.seconds=1 iovatest.threads=1,2 \
		$extra || bad="$bad $mode"
	result_json "$name" "$mode" iova-attack >> "$attack"
	result_json "$name" "$mode" iova-devices >> "$devjson"
	[ "$GUEST_ATS" != 1 ] || ats_json "$name" "$mode" >> "$atsjson" || true
	read -r p f < "$RESULTS/guest/$name.counts"
	passed=$((passed + p))
	failed=$((failed + f))
done

record_result "$part" "$passed" "$failed"
if [ -n "$bad" ]; then
	step "$part: $passed passed, $failed failed (failing modes:$bad; logs in $RESULTS/guest/)"
	exit 1
fi
step "$part: $passed passed, $failed failed"
