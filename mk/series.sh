#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# make series: turn patches/series into a git format-patch series with a
# cover letter under build/series/. "check" instead verifies that the series
# applies with git am on a fresh unpack of the pristine tarball, and builds
# every commit that changes the IOVA allocator (iova.o with W=1 in a UML
# build directory; the harness, with its tests, from the commit that adds it).
set -e
export LC_ALL=C
. "$(dirname "$0")/lib.sh"
. "$TOP/mk/steps.sh"

OUT=$BUILD/series

entries() {
	grep -v '^[[:space:]]*\(#\|$\)' "$TOP/patches/series"
}

# Map a repo path to its place in the kernel tree.
kpath() {
	case $1 in
	Kconfig) echo drivers/iommu/Kconfig.iova ;;
	*) echo "$1" ;;
	esac
}

check_coverage() {
	local listed owned missing
	listed=$(entries | awk '$1 == "files" || $1 == "step" {
		for (i = 3; i <= NF; i++) print $i }' | sort)
	owned=$( (cd "$TOP" && git ls-files -co --exclude-standard -- drivers include tools Documentation; echo Kconfig) | sort)
	missing=$(comm -13 <(echo "$listed") <(echo "$owned"))
	[ -z "$missing" ] || die "owned files in no 'files' entry of patches/series: $missing"
	dup=$(echo "$listed" | uniq -d)
	[ -z "$dup" ] || die "files named twice in patches/series: $dup"
}

# Commit the series without a work tree: a private index starts at the
# baseline, patches go in with "git apply --cached", owned files with
# "git update-index", each commit made by "git commit-tree". Seconds
# instead of a checkout of the whole tree.
build_series() {
	[ -d "$KSRC/.git" ] || bash "$TOP/mk/tree.sh"
	check_coverage
	step "series: committing the series on the baseline"
	local idx=$BUILD/.series-index tmp=$BUILD/.series-tmp
	local head n=0 k=0 kind name rest tree f src snap staged=" "
	rm -rf "$tmp"; mkdir -p "$tmp"
	# Files that land in stages: their version at every step.
	steps_unpack "$tmp/steps"
	export GIT_INDEX_FILE=$idx
	git -C "$KSRC" read-tree baseline
	head=$(git -C "$KSRC" rev-parse baseline)
	while read -r kind name rest; do
		n=$((n + 1))
		case $kind in
		patch)
			git -C "$KSRC" mailinfo "$tmp/msg" "$tmp/diff" \
				< "$TOP/patches/$name" > "$tmp/info"
			(cd "$KSRC" && git apply --cached "$TOP/patches/$name") ||
				die "patches/$name does not apply"
			export GIT_AUTHOR_NAME GIT_AUTHOR_EMAIL
			GIT_AUTHOR_NAME=$(sed -n 's/^Author: //p' "$tmp/info")
			GIT_AUTHOR_EMAIL=$(sed -n 's/^Email: //p' "$tmp/info")
			{ sed -n 's/^Subject: //p' "$tmp/info"; echo; cat "$tmp/msg"; } > "$tmp/commit"
			;;
		files|step)
			if [ "$kind" = step ]; then
				k=$((k + 1))
				snap=$(ls -d "$tmp/steps/$(printf '%02d' $k)-"*)
				for f in $(cd "$snap" && find . -type f | sed 's|^\./||'); do
					case $staged in *" $f "*) ;; *)
						die "step $name changes $f, which no earlier 'files' entry adds" ;;
					esac
					rest="$rest $f"
				done
			else
				snap=$tmp/steps/00-base
			fi
			for f in $rest; do
				src=$TOP/$f
				[ ! -f "$snap/$f" ] || src=$snap/$f
				staged="$staged$f "
				git -C "$KSRC" update-index --add --cacheinfo \
					"100644,$(git -C "$KSRC" hash-object -w "$src"),$(kpath "$f")"
			done
			export GIT_AUTHOR_NAME="IOVA rework" GIT_AUTHOR_EMAIL="iova@localhost"
			{ cat "$TOP/patches/msg/$name"; echo;
			  echo "Signed-off-by: $GIT_AUTHOR_NAME <$GIT_AUTHOR_EMAIL>"; } > "$tmp/commit"
			;;
		*) die "patches/series: bad entry '$kind $name'" ;;
		esac
		tree=$(git -C "$KSRC" write-tree)
		[ "$tree" != "$(git -C "$KSRC" rev-parse "$head^{tree}")" ] ||
			die "series entry $n ($kind $name) changes nothing"
		head=$(git -C "$KSRC" commit-tree "$tree" -p "$head" -F "$tmp/commit")
	done < <(entries)
	unset GIT_INDEX_FILE
	git -C "$KSRC" update-ref refs/heads/series "$head"
	rm -rf "$OUT" "$tmp" "$idx"
	mkdir -p "$OUT"
	local subject="iommu: Merged-range IOVA allocator, per-CPU pools and batched IOTLB invalidation"
	git -C "$KSRC" format-patch -q --cover-letter --thread -o "$OUT" \
		--subject-prefix="PATCH" baseline..series
	# Fill in the cover letter from the project's own text and the
	# figures of the committed report (results/, BENCH_PUBLISH=1 make
	# bench), or of the last make bench where none is committed. The
	# attack results (bench_report.py's attack.md) go to @ATTACK@, not
	# twice.
	local figs=$TOP/results
	[ -s "$figs/summary.md" ] || figs=$BUILD/bench
	python3 - "$OUT"/0000-cover-letter.patch "$TOP/patches/cover-letter.txt" \
		"$figs/summary.md" "$subject" "$figs/attack.md" <<'PY'
import sys, os
path, body_file, bench, subject, attack = sys.argv[1:6]
s = open(path).read()
body = open(body_file).read() if os.path.exists(body_file) else ""
table = open(attack).read().strip() if os.path.exists(attack) else ""
if os.path.exists(bench):
    body = body.replace("@BENCH@", open(bench).read().replace(table, "").strip())
else:
    body = body.replace("@BENCH@", "(run 'make bench' to fill in the numbers)")
if table:
    body = body.replace("@ATTACK@", table)
else:
    body = body.replace("@ATTACK@", "(run 'make check', then 'make bench', for the counts per\narchitecture and mode)")
s = s.replace("*** SUBJECT HERE ***", subject)
s = s.replace("*** BLURB HERE ***", body.strip() + "\n")
open(path, "w").write(s)
PY
	step "series: $(ls "$OUT" | wc -l) files in ${OUT#$TOP/}"
}

check_series() {
	[ -d "$OUT" ] || build_series
	local d=$BUILD/series-check
	step "series-check: fresh unpack of the files the series touches"
	rm -rf "$d"
	mkdir -p "$d"
	local top touched
	top=$(tar -tf "$TARBALL" | head -n 1 | cut -d/ -f1)
	touched=$(for p in "$OUT"/0*-*.patch; do
		git apply --numstat "$p" 2>/dev/null | cut -f3
	done | sort -u)
	# Members that do not exist in the tarball are files the series adds.
	tar -C "$d" -xf "$TARBALL" --ignore-failed-read \
		$(echo "$touched" | sed "s|^|$top/|") 2>/dev/null || true
	d=$d/$top
	mkdir -p "$d"
	git -C "$d" init -q
	git -C "$d" config user.name check; git -C "$d" config user.email check@localhost
	git -C "$d" add -A -f
	git -C "$d" commit -q --allow-empty -m "pristine files the series touches"
	step "series-check: git am"
	if git -C "$d" am -q $(ls "$OUT"/0*-*.patch | grep -v 0000-cover-letter) 2>&1 | grep -v '^$'; then :; fi
	local want got
	want=$(ls "$OUT"/0*-*.patch | grep -vc 0000-cover-letter)
	got=$(( $(git -C "$d" rev-list --count HEAD) - 1 ))
	if [ -d "$d/.git/rebase-apply" ] || [ "$got" != "$want" ]; then
		die "series does not apply with git am on a pristine tree"
	fi
	# The applied tree must equal build/linux's project files.
	local bad=0
	while read -r kind name rest; do
		[ "$kind" = files ] || continue
		for f in $rest; do
			cmp -s "$TOP/$f" "$d/$(kpath "$f")" || { echo "differs: $f"; bad=1; }
		done
	done < <(entries)
	for f in $touched; do
		cmp -s "$KSRC/$f" "$d/$f" || { echo "differs from build/linux: $f"; bad=1; }
	done
	[ $bad = 0 ] || die "applied series differs from the repository"
	step "series-check: $want patches apply with git am on pristine $(cat "$BUILD/KERNEL_VERSION")"
	rm -rf "$BUILD/series-check"
	check_steps
}

# Build and test every commit of the series that changes the allocator or
# its KUnit suite, in one worktree of the series, build/series-steps/linux,
# kept between runs with its UML build directories: kunit (the KUnit
# kernel) and w1 (iova.o and iova_kunit.o with W=1, apart, so that the
# flags of one build never make the other recompile). They sit as
# build/linux and build/kunit do, so that ccache serves the objects of
# one to the other. At each such commit, once the Kconfig that builds
# them is sourced: the W=1 build, then the iova KUnit suite under UML
# (kunit.py keeps the configuration: a commit recompiles what it changes
# and relinks); from the commit that adds it on, the userspace harness
# and its tests (the KUnit suites it compiles included). A commit that
# fails is counted and named, and the commits after it still run.
# SERIES_KUNIT=0 leaves the UML runs out.
STEP_FILES='^(drivers/iommu/Kconfig|drivers/iommu/iova\.c|include/linux/iova\.h|include/trace/events/iova\.h'
STEP_FILES+='|drivers/iommu/tests/iova_kunit\.c|tools/testing/iova/.*)$'
SERIES_WT=$BUILD/series-steps/linux
SERIES_OBJ=$BUILD/series-steps/kunit
SERIES_W1=$BUILD/series-steps/w1
SERIES_HARNESS=$BUILD/series-steps/harness

# step_env CMD...: CMD without git's view of the worktree, so that the
# kernel release (CONFIG_LOCALVERSION_AUTO, which the UML defaults set)
# does not name each commit and rebuild what includes it every commit.
step_env() {
	GIT_DIR=/nonexistent "$@"
}

# step_make TARGET...: a W=1 build of TARGETs at the commit checked out.
step_make() {
	local out
	cmp -s "$SERIES_OBJ/.config" "$SERIES_W1/.config" ||
		cp "$SERIES_OBJ/.config" "$SERIES_W1/.config"
	out=$(step_env nice make -s -C "$SERIES_WT" ARCH=um O="$SERIES_W1" \
		CC="ccache gcc" -j"$(jobs)" W=1 "$@" 2>&1) ||
		{ echo "$out" | tail -n 20; echo "error: $* does not build"; return 1; }
	out=$(echo "$out" | grep -E 'warning|error' || true)
	[ -z "$out" ] || { echo "$out" | head -n 20; echo "error: $* builds with warnings (W=1)"; return 1; }
}

# step_configs: kunit.py's --kunitconfig options, as mk/kunit.sh gives
# them, so that the configuration (and ccache's objects) match its own.
step_configs() {
	local f
	for f in "$SERIES_WT"/drivers/iommu/tests/.kunitconfig "$SERIES_WT"/drivers/iommu/tests/*.kunitconfig; do
		[ ! -f "$f" ] || echo "--kunitconfig=${f#"$SERIES_WT"/}"
	done
}

# step_kunit N: run the iova suite under UML at the commit checked out
# (log and JSON in build/series-steps/kunit/kunit-N.*); prints the cases
# that passed and failed, "0 1" for a run that reports none.
step_kunit() {
	local log=$SERIES_OBJ/kunit-$1.log json=$SERIES_OBJ/kunit-$1.json rc
	rm -f "$json"
	# shellcheck disable=SC2046
	(cd "$SERIES_WT" && step_env nice python3 tools/testing/kunit/kunit.py run \
		--build_dir="$SERIES_OBJ" $(step_configs) \
		--make_options "CC=ccache gcc" --jobs="$(jobs)" --timeout=600 \
		--json="$json" iova) > "$log" 2>&1 && rc=0 || rc=$?
	python3 - "$json" "$rc" <<'PY'
import json, sys
p = f = 0
def walk(t):
    global p, f
    for c in t.get("test_cases", []):
        s = c.get("status")
        if s == "PASS":
            p += 1
        elif s != "SKIP":
            f += 1
    for g in t.get("sub_groups", []):
        walk(g)
try:
    walk(json.load(open(sys.argv[1])))
except Exception:
    pass
if f == 0 and (p == 0 or sys.argv[2] != "0"):
    f = 1
print(p, f)
PY
}

check_steps() {
	local c changed subject objs i=0 built=0 kunits=0 tested=0 t0 ts
	local pass=1 fail=0 failed="" kp kf line out
	local kunit=${SERIES_KUNIT:-1}
	rm -f "$RESULTS/series.counts"
	clean_make_env
	setup_ccache
	t0=$(date +%s)
	# The directories of the layout before build/series-steps.
	rm -rf "$BUILD/series-tree" "$BUILD/series-build" "$BUILD/series-harness"
	git -C "$KSRC" worktree prune
	if [ ! -e "$SERIES_WT/.git" ]; then
		step "series-check: a worktree of the series in ${SERIES_WT#"$TOP"/} (once)"
		rm -rf "$SERIES_WT"
		mkdir -p "$(dirname "$SERIES_WT")"
		git -C "$KSRC" worktree add -q --detach "$SERIES_WT" series
	fi
	mkdir -p "$SERIES_OBJ" "$SERIES_W1"
	step "series-check: build and test every commit that changes the allocator"
	# The worktree stays at the last commit built, not the series' head:
	# the next run's first checkout then touches the files the steps
	# change, not every file the later patches change.
	for c in $(git -C "$KSRC" rev-list --reverse baseline..series); do
		i=$((i + 1))
		changed=$(git -C "$KSRC" diff-tree --no-commit-id --name-only -r "$c")
		echo "$changed" | grep -qE "$STEP_FILES" || continue
		subject=$(git -C "$KSRC" log -1 --format=%s "$c")
		git -C "$SERIES_WT" checkout -q --detach "$c"
		line=
		objs=
		[ ! -f "$SERIES_WT/drivers/iommu/iova.c" ] || objs=drivers/iommu/iova.o
		[ ! -f "$SERIES_WT/drivers/iommu/tests/iova_kunit.c" ] ||
			objs="$objs drivers/iommu/tests/iova_kunit.o"
		# Before the commit that sources the rework's Kconfig the suite
		# has no option to build it: that commit builds it.
		grep -qs 'Kconfig\.iova' "$SERIES_WT/drivers/iommu/Kconfig" || objs=
		if [ -n "$objs" ]; then
			if [ ! -f "$SERIES_OBJ/.config" ]; then
				step "series-check: UML configuration of the KUnit suites in ${SERIES_OBJ#"$TOP"/} (once)"
				# shellcheck disable=SC2046
				(cd "$SERIES_WT" && step_env python3 tools/testing/kunit/kunit.py config \
					--build_dir="$SERIES_OBJ" $(step_configs)) > "$SERIES_OBJ/config.log" 2>&1 ||
					die "UML configuration failed (${SERIES_OBJ#"$TOP"/}/config.log)"
			fi
			ts=$(date +%s)
			# shellcheck disable=SC2086
			if step_make $objs; then
				built=$((built + 1))
				pass=$((pass + 1))
				line="W=1 ok ($(($(date +%s) - ts)) s)"
			else
				fail=$((fail + 1))
				failed="$failed $i"
				line="W=1 FAILED"
			fi
			if [ "$kunit" = 1 ] && [ -f "$SERIES_WT/drivers/iommu/tests/iova_kunit.c" ]; then
				ts=$(date +%s)
				read -r kp kf < <(step_kunit "$i")
				kunits=$((kunits + 1))
				pass=$((pass + kp))
				fail=$((fail + kf))
				line="$line, KUnit iova $kp passed $kf failed ($(($(date +%s) - ts)) s)"
				if [ "$kf" != 0 ]; then
					grep -a -E 'not ok|FAILED|error|Missing' "$SERIES_OBJ/kunit-$i.log" |
						head -n 20
					echo "error: patch $i ($subject): the iova KUnit suite fails (${SERIES_OBJ#"$TOP"/}/kunit-$i.log)"
					case " $failed " in *" $i "*) ;; *) failed="$failed $i" ;; esac
				fi
			fi
		fi
		if [ -f "$SERIES_WT/tools/testing/iova/Makefile" ]; then
			ts=$(date +%s)
			if ! out=$(nice make -s -C "$SERIES_WT/tools/testing/iova" all KSRC="$SERIES_WT" \
				STOCK="$STOCK" O="$SERIES_HARNESS" -j"$(jobs)" 2>&1); then
				echo "$out" | tail -n 20
				echo "error: patch $i ($subject): the harness does not build"
				out=FAILED
			elif ! out=$("$SERIES_HARNESS/plain/iova_test" -q 2>&1); then
				echo "$out" | grep -E '^not ok|^#' | head -n 20
				echo "error: patch $i ($subject): harness tests fail"
				out=FAILED
			else
				out=ok
			fi
			if [ "$out" = ok ]; then
				tested=$((tested + 1))
				pass=$((pass + 1))
			else
				fail=$((fail + 1))
				case " $failed " in *" $i "*) ;; *) failed="$failed $i" ;; esac
			fi
			line="${line:+$line, }harness $out ($(($(date +%s) - ts)) s)"
		fi
		step "series-check: patch $i: ${line:-nothing built yet (no Kconfig for it)}: $subject"
	done
	record_result series "$pass" "$fail"
	step "series-check: $built commits built the allocator (W=1), $kunits ran its KUnit suite," \
		"$tested ran the harness, in $(($(date +%s) - t0)) s: $pass passed, $fail failed"
	[ "$fail" = 0 ] || die "series-check: patches$failed fail"
}

case ${1:-build} in
build) build_series ;;
check) check_series ;;
*) die "usage: $0 [build|check]" ;;
esac
