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

record_result lint "$pass" "$fail"
step "lint: $pass passed, $fail failed"
[ "$fail" = 0 ]
