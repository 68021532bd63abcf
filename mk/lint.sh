#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Kernel conventions as tests: checkpatch --strict and kernel-doc on every
# owned kernel C file, the documents against the code (mk/doccheck.py),
# and a W=1 + sparse build of the owned objects in the x86_64 guest
# kernel's build directory. One result per file and check.
. "$(dirname "$0")/lib.sh"
clean_make_env
setup_ccache

pass=0
fail=0
log=$RESULTS/lint.log
mkdir -p "$RESULTS"
: > "$log"

ok() { pass=$((pass + 1)); echo "ok - $*"; }
nok() { fail=$((fail + 1)); echo "not ok - $*"; }

files=$(cd "$TOP" && git ls-files -co --exclude-standard -- \
	'drivers/*.c' 'drivers/*.h' 'include/*.h')

step "lint: checkpatch --strict and kernel-doc"
for f in $files; do
	# TRACE_EVENT() bodies are laid out the way every trace header is,
	# which checkpatch's alignment checks do not understand.
	ign=
	case $f in include/trace/events/*)
		ign=--ignore=OPEN_ENDED_LINE,PARENTHESIS_ALIGNMENT ;;
	esac
	out=$(cd "$KSRC" && perl scripts/checkpatch.pl --strict --no-tree $ign \
		--terse --show-types -f "$f" 2>&1 | grep -E 'ERROR|WARNING|CHECK')
	if [ -z "$out" ]; then ok "checkpatch $f"; else nok "checkpatch $f"; echo "$out" | tee -a "$log" | head -5; fi
	out=$(cd "$KSRC" && perl scripts/kernel-doc -none -Wall "$f" 2>&1)
	if [ -z "$out" ]; then ok "kernel-doc $f"; else nok "kernel-doc $f"; echo "$out" | tee -a "$log" | head -5; fi
done

# The text against the code: each switch's range and default in the code,
# kernel-parameters and the README, and the table of what each
# invalidation mode guarantees, the same in every document that has it.
step "lint: the documents against the code (mk/doccheck.py)"
rc=0
out=$(python3 "$TOP/mk/doccheck.py" "$TOP" "$KSRC" 2>&1) || rc=$?
bad=0
while IFS= read -r line; do
	case $line in
	"ok - "*) ok "${line#ok - }" ;;
	"not ok - "*) nok "${line#not ok - }"; bad=1 ;;
	*) echo "$line" | tee -a "$log" ;;
	esac
done <<< "$out"
# A run that stopped without naming a failed check still fails.
[ "$rc" = 0 ] || [ "$bad" = 1 ] || nok "mk/doccheck.py ran to its end (status $rc)"

# W=1 and sparse on the objects built from owned .c files.
obj=$BUILD/guest/x86_64-ours
if [ -f "$obj/.config" ] && command -v sparse >/dev/null; then
	step "lint: W=1 and sparse in ${obj#$TOP/}"
	for f in $(echo "$files" | grep '\.c$'); do
		o=${f%.c}.o
		# Only objects the guest configuration builds.
		[ -f "$obj/$o" ] || continue
		touch "$KSRC/$f"
		out=$(nice make -s -C "$KSRC" O="$obj" CC="ccache gcc" W=1 C=1 "$o" 2>&1 |
			grep -E 'warning|error' | grep -v '^make')
		if [ -z "$out" ]; then ok "W=1 sparse $f"; else nok "W=1 sparse $f"; echo "$out" | tee -a "$log" | head -5; fi
	done
else
	echo "lint: no x86_64 guest build yet: W=1/sparse skipped"
fi

# The device benchmark's table of the safe deferred mode's unmaps, on one
# made-up run whose shares are known: 2000 unmaps per GB, 1000 of them
# invalidated at once, 900 of those for slab memory.
step "lint: mk/guest/devtable.py on a known run"
dt=$(mktemp -d)
cat > "$dt/in" <<'EOF'
{"name":"t","arch":"x86_64","flavor":"ours","mode":"safedefer","id":3,"workload":"iperf3-up","rc":0,"bytes":1000000000,"seconds":8,"gbit_per_s":0.3,"window":9,"type":"DMA-SAFE","batch_unmaps":2000,"batch_deferred":1000,"batch_now_caller":0,"batch_now_slab":900,"batch_now_nopage":100,"batch_now_unref":0,"batch_now_large":0,"inv":null}
{"name":"t","boot":true,"passed":1,"failed":0,"error":"","seconds":1}
EOF
if python3 "$TOP/mk/guest/devtable.py" --arch x86_64 --modes safedefer \
	--rounds 1 --seconds 8 --json "$dt/json" --md "$dt/md" \
	< "$dt/in" > /dev/null 2>> "$log" &&
   grep -qF '| iperf3-up | safedefer | 2000 | 50.0% | 90.0% |' "$dt/md"; then
	ok "devtable: the safe deferred mode's unmaps"
else
	nok "devtable: the safe deferred mode's unmaps"
	grep -F '| iperf3-up | safedefer' "$dt/md" 2>/dev/null | tee -a "$log"
fi
rm -rf "$dt"

# devices.sh's own batcher counting, under busybox (the guest's sh and
# awk), on a made-up debugfs stats file read before and after a workload.
step "lint: devices.sh's batcher counts under busybox"
bb=$(command -v busybox || true)
if [ -n "$bb" ]; then
	dt=$(mktemp -d)
	sed -n '/^batch_counts()/,/^}/p; /^batch_delta()/,/^}/p' \
		"$TOP/tools/testing/selftests/iova/devices.sh" > "$dt/f.sh"
	printf 'unmaps 1000\ndeferred 900\nsync_slab 90\nsync_nopage 10\ninv_range 5\n' > "$dt/s0"
	printf 'unmaps 3000\ndeferred 1900\nsync_caller 1\nsync_slab 989\nsync_nopage 110\ninv_range 9\n' > "$dt/s1"
	got=$(cd "$dt" && "$bb" sh -c '. ./f.sh
		BATCH_STATS=s0; a=$(batch_counts)
		BATCH_STATS=s1; b=$(batch_counts)
		BATCH_STATS=none; c=$(batch_counts)
		batch_delta "$a" "$b"; echo "[$c][$(batch_delta "$a" "$c")]"' 2>&1)
	want="batch_unmaps=2000 batch_deferred=1000 batch_now_caller=1 batch_now_slab=899 batch_now_nopage=100 batch_now_unref=0 batch_now_large=0
[][]"
	# Nothing but the two lines, and no stray file (an unbracketed ">"
	# in an awk print is a redirection).
	if [ "$got" = "$want" ] && [ "$(ls "$dt" | wc -l)" = 3 ]; then
		ok "devices.sh: the batcher's counts of a workload"
	else
		nok "devices.sh: the batcher's counts of a workload"
		{ echo "$got"; ls "$dt"; } | tee -a "$log"
	fi
	rm -rf "$dt"
else
	nok "devices.sh: the batcher's counts of a workload (no busybox)"
fi

record_result lint "$pass" "$fail"
step "lint: $pass passed, $fail failed"
[ "$fail" = 0 ]
