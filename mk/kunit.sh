#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Run the project's KUnit suites under UML. $1: "plain" or "debug" (KASAN,
# lockdep, atomic-sleep checks). Every *.kunitconfig / .kunitconfig under
# drivers/iommu/tests/ is merged into one configuration.
set -e
. "$(dirname "$0")/lib.sh"
variant=${1:-plain}
clean_make_env
setup_ccache

part=kunit
bdir=$BUILD/kunit
extra=
if [ "$variant" = debug ]; then
	part=kunit-debug
	bdir=$BUILD/kunit-debug
	extra="--kconfig_add CONFIG_DEBUG_KERNEL=y --kconfig_add CONFIG_KASAN=y --kconfig_add CONFIG_KASAN_VMALLOC=y
		--kconfig_add CONFIG_PROVE_LOCKING=y --kconfig_add CONFIG_DEBUG_ATOMIC_SLEEP=y
		--kconfig_add CONFIG_DEBUG_LIST=y --kconfig_add CONFIG_DEBUG_OBJECTS=y"
fi
rm -f "$RESULTS/$part.counts"
mkdir -p "$RESULTS" "$bdir"

configs=
for f in "$KSRC"/drivers/iommu/tests/.kunitconfig "$KSRC"/drivers/iommu/tests/*.kunitconfig; do
	[ -f "$f" ] && configs="$configs --kunitconfig=${f#$KSRC/}"
done
[ -n "$configs" ] || die "no .kunitconfig under drivers/iommu/tests"

step "kunit ($variant): build and run under UML"
json=$RESULTS/$part.json
log=$RESULTS/$part.log
set +e
(cd "$KSRC" && nice -n 5 python3 tools/testing/kunit/kunit.py run \
	--build_dir="$bdir" $configs $extra \
	--make_options "CC=ccache gcc" --jobs="$(nproc)" --timeout=600 \
	--json="$json") > "$log" 2>&1
rc=$?
set -e

# Count leaf test cases (parameterised cases count once per parameter).
read -r pass fail < <(python3 - "$json" <<'PY'
import json, sys
try:
    d = json.load(open(sys.argv[1]))
except Exception:
    print(0, 1); sys.exit()
p = f = 0
def walk(t):
    global p, f
    subs = t.get("sub_groups", [])
    cases = t.get("test_cases", [])
    for c in cases:
        s = c.get("status")
        if s == "PASS": p += 1
        elif s == "SKIP": pass
        else: f += 1
    for g in subs: walk(g)
walk(d)
if p + f == 0: f = 1
print(p, f)
PY
)
[ "$rc" = 0 ] || [ "$fail" != 0 ] || fail=1
grep -E "^\s*(ok|not ok) [0-9]+ " "$log" | sed 's/^[[:space:]]*//' | grep -E "^(ok|not ok)" | tail -n 40 || true
record_result "$part" "$pass" "$fail"
step "kunit ($variant): $pass passed, $fail failed (log: ${log#$TOP/})"
[ "$fail" = 0 ]
