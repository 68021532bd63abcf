#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# make test: run the harness programs of every build variant, prefix their
# TAP lines with the variant, count the results and end with
# "N passed, N failed". The counts also go to $O/results.counts.
#
#   plain   all tests, both implementations, KUnit suites included
#   asan    the same, quick sizes, under AddressSanitizer + UBSan
#   tsan    the threaded tests under ThreadSanitizer
#   fuzz    libFuzzer for FUZZ_SECONDS on a corpus kept in $O/fuzz-corpus
set -u
O=${O:?}
FUZZ_SECONDS=${FUZZ_SECONDS:-20}
TEST_ARGS=${TEST_ARGS:-}
SEED=${SEED:-$(date +%s)}
passed=0
failed=0

# stage NAME CMD...: run, relabel and count its TAP lines
stage() {
	local name=$1 out rc p f
	shift
	out=$(mktemp)
	echo "# $name: $*"
	"$@" > "$out" 2>&1
	rc=$?
	sed -e "s/^\(\(not \)\{0,1\}ok\) [0-9]* - /\1 - [$name] /" "$out" |
		grep -v -e '^1\.\.[0-9]*$' -e '^# [0-9]* passed'
	p=$(grep -c '^ok [0-9]* - ' "$out" | tr -d ' ')
	s=$(grep -c '^ok [0-9]* - .* # SKIP' "$out" | tr -d ' ')
	f=$(grep -c '^not ok ' "$out" | tr -d ' ')
	p=$((p - s))
	if [ "$rc" != 0 ] && [ "$f" = 0 ]; then
		echo "not ok - [$name] exited with status $rc"
		{
			grep -E 'SUMMARY:|runtime error|^BUG:|^WARNING:' "$out" | head -n 8
			tail -n 5 "$out"
		} | sed 's/^/#   /'
		f=1
	fi
	passed=$((passed + p))
	failed=$((failed + f))
	rm -f "$out"
}

# fuzz: one TAP line from the exit status
fuzz() {
	local corpus=$O/fuzz-corpus log=$O/fuzz.log
	mkdir -p "$corpus" "$O/fuzz-crashes"
	echo "# fuzz: $O/fuzz/iova_fuzz -max_total_time=$FUZZ_SECONDS -seed=$SEED"
	if "$O/fuzz/iova_fuzz" -max_total_time="$FUZZ_SECONDS" -seed="$SEED" \
		-max_len=4096 -artifact_prefix="$O/fuzz-crashes/" \
		-print_final_stats=1 "$corpus" > "$log" 2>&1; then
		echo "ok - [fuzz] libFuzzer, $(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" |
			grep -o '[0-9]*$') inputs, seed $SEED"
		passed=$((passed + 1))
	else
		echo "not ok - [fuzz] libFuzzer found a failure (seed $SEED, log $log)"
		grep -E 'iova_fuzz:|ERROR|SUMMARY|Test unit written' "$log" | head -n 10 | sed 's/^/#   /'
		failed=$((failed + 1))
	fi
}

export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

stage plain "$O/plain/iova_test" -s "$SEED" $TEST_ARGS
stage asan "$O/asan/iova_test" -q -s "$SEED" $TEST_ARGS
stage tsan "$O/tsan/iova_test" -t -q -s "$SEED" $TEST_ARGS
fuzz

echo "$passed $failed" > "$O/results.counts"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
