#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# make series: turn patches/series into a git format-patch series with a
# cover letter under build/series/. "check" instead verifies that the series
# applies with git am on a fresh unpack of the pristine tarball.
set -e
. "$(dirname "$0")/lib.sh"

OUT=$BUILD/series
WT=$BUILD/series-wt
AUTHOR="IOVA rework <iova@localhost>"

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
	listed=$(entries | awk '$1 == "files" { for (i = 3; i <= NF; i++) print $i }' | sort)
	owned=$( (cd "$TOP" && git ls-files -co --exclude-standard -- drivers include tools Documentation; echo Kconfig) | sort)
	missing=$(comm -13 <(echo "$listed") <(echo "$owned"))
	[ -z "$missing" ] || die "owned files in no 'files' entry of patches/series: $missing"
	dup=$(echo "$listed" | uniq -d)
	[ -z "$dup" ] || die "files named twice in patches/series: $dup"
}

build_series() {
	[ -d "$KSRC/.git" ] || bash "$TOP/mk/tree.sh"
	check_coverage
	step "series: committing the series on a worktree of the baseline"
	git -C "$KSRC" worktree remove --force "$WT" 2>/dev/null || rm -rf "$WT"
	git -C "$KSRC" worktree prune
	git -C "$KSRC" worktree add -q --detach "$WT" baseline
	local n=0 kind name
	while read -r kind name rest; do
		n=$((n + 1))
		case $kind in
		patch)
			git -C "$WT" am -q --committer-date-is-author-date "$TOP/patches/$name" ||
				die "patches/$name does not apply"
			;;
		files)
			for f in $rest; do
				mkdir -p "$WT/$(dirname "$(kpath "$f")")"
				cp "$TOP/$f" "$WT/$(kpath "$f")"
				git -C "$WT" add -f "$(kpath "$f")"
			done
			git -C "$WT" commit -q --author="$AUTHOR" -s \
				-F "$TOP/patches/msg/$name" ||
				die "series entry $n (files $name) committed nothing"
			;;
		*) die "patches/series: bad entry '$kind $name'" ;;
		esac
	done < <(entries)
	rm -rf "$OUT"
	mkdir -p "$OUT"
	local subject="iommu: Merged-range IOVA allocator, per-CPU pools and batched IOTLB invalidation"
	git -C "$WT" format-patch -q --cover-letter --thread -o "$OUT" \
		--subject-prefix="PATCH" baseline..HEAD
	# Fill in the cover letter from the project's own text.
	python3 - "$OUT"/0000-cover-letter.patch "$TOP/patches/cover-letter.txt" \
		"$BUILD/bench/summary.md" "$subject" <<'PY'
import sys, os
path, body_file, bench, subject = sys.argv[1:5]
s = open(path).read()
body = open(body_file).read() if os.path.exists(body_file) else ""
if os.path.exists(bench):
    body = body.replace("@BENCH@", open(bench).read())
else:
    body = body.replace("@BENCH@", "(run 'make bench' to fill in the numbers)")
s = s.replace("*** SUBJECT HERE ***", subject)
s = s.replace("*** BLURB HERE ***", body.strip() + "\n")
open(path, "w").write(s)
PY
	step "series: $(ls "$OUT" | wc -l) files in ${OUT#$TOP/}"
}

check_series() {
	[ -d "$OUT" ] || build_series
	local d=$BUILD/series-check
	step "series-check: fresh unpack of the pristine tarball"
	rm -rf "$d"
	mkdir -p "$d"
	tar -C "$d" -xf "$TARBALL"
	d=$(echo "$d"/linux-source-*)
	git -C "$d" init -q
	git -C "$d" config user.name check; git -C "$d" config user.email check@localhost
	git -C "$d" config core.looseCompression 1
	# git am only needs the files the series touches to be tracked: add
	# those (as unpacked) instead of hashing the whole tree.
	local touched
	touched=$(for p in "$OUT"/0*-*.patch; do
		git apply --numstat "$p" 2>/dev/null | cut -f3
	done | sort -u | (cd "$d" && while read -r f; do [ ! -e "$f" ] || echo "$f"; done))
	git -C "$d" commit -q --allow-empty -m pristine
	[ -z "$touched" ] || (cd "$d" && echo "$touched" | xargs git add -f -- &&
		git commit -q -m "pristine files the series touches")
	step "series-check: git am"
	if git -C "$d" am -q $(ls "$OUT"/0*-*.patch | grep -v 0000-cover-letter) 2>&1 | grep -v '^$'; then :; fi
	local want got
	want=$(ls "$OUT"/0*-*.patch | grep -vc 0000-cover-letter)
	got=$(git -C "$d" rev-list --count HEAD --grep=^pristine --invert-grep)
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
	[ $bad = 0 ] || die "applied series differs from the repository"
	step "series-check: $want patches apply with git am on pristine $(cat "$BUILD/KERNEL_VERSION")"
	rm -rf "$BUILD/series-check"
}

case ${1:-build} in
build) build_series ;;
check) check_series ;;
*) die "usage: $0 [build|check]" ;;
esac
