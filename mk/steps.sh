#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Files that land in stages. A "step" entry of patches/series is the forward
# diff patches/steps/MSG.diff from the files as the entries before it leave
# them to the files after it; the last step ends at the repository's files.
# The earlier versions ("snapshots") exist only when derived: each diff, from
# the last one back, is applied in reverse to the files after it.
#
#   mk/steps.sh unpack DIR [REV]  write the snapshots to DIR/NN-MSG/ (00-base:
#                                 the files as their "files" entry commits
#                                 them); with REV, derive them from REV's
#                                 files and diffs and put the working files in
#                                 the last one, for a change to port by hand
#   mk/steps.sh pack DIR          write patches/steps/*.diff from the
#                                 snapshots in DIR and their last one to the
#                                 repository
#   mk/steps.sh list              the steps and the lines each one adds
#
# mk/series.sh sources this file for steps_unpack.
set -e
export LC_ALL=C
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# read_rev REV PATH: PATH at commit REV, or the working file without REV.
read_rev() {
	if [ -n "$1" ]; then
		git -C "$TOP" show "$1:$2"
	else
		cat "$TOP/$2"
	fi
}

# steps_names [REV]: the messages of the step entries, in order.
steps_names() {
	read_rev "$1" patches/series | grep -v '^[[:space:]]*\(#\|$\)' |
		awk '$1 == "step" { print $2 }'
}

# The files the step diffs change, from their "+++ b/PATH" lines.
steps_files() {
	local rev=$1 name
	for name in $(steps_names "$rev"); do
		read_rev "$rev" "patches/steps/$name.diff" |
			sed -n 's|^+++ b/||p'
	done | sort -u
}

# steps_unpack DIR [REV]: the snapshots, DIR/00-base to DIR/NN-LASTMSG.
steps_unpack() {
	local dir=$1 rev=$2 names files name n k f d prev
	names=$(steps_names "$rev")
	[ -n "$names" ] || return 0
	files=$(steps_files "$rev")
	n=$(echo "$names" | wc -l)
	rm -rf "$dir"
	mkdir -p "$dir"
	# DIR/k is the state after step k; DIR/0 the one before the first.
	d=$dir/$(printf '%02d' "$n")-$(echo "$names" | sed -n "${n}p")
	for f in $files; do
		mkdir -p "$d/$(dirname "$f")"
		read_rev "$rev" "$f" > "$d/$f" || die "$f: not in ${rev:-the working tree}"
	done
	for ((k = n; k >= 1; k--)); do
		name=$(echo "$names" | sed -n "${k}p")
		if [ "$k" = 1 ]; then
			prev=$dir/00-base
		else
			prev=$dir/$(printf '%02d' $((k - 1)))-$(echo "$names" | sed -n "$((k - 1))p")
		fi
		cp -a "$d" "$prev"
		read_rev "$rev" "patches/steps/$name.diff" > "$dir/.diff"
		if ! (cd "$prev" && git apply -R "$dir/.diff") 2> "$dir/.err"; then
			sed 's/^/  /' "$dir/.err" >&2
			die "patches/steps/$name.diff no longer applies in reverse to the files after it.
  Regenerate the step diffs: bash mk/steps.sh unpack DIR HEAD (the
  snapshots of the last commit, with today's files as the last one), port
  the change to the snapshots of the steps it belongs to, then
  bash mk/steps.sh pack DIR (see patches/steps/README)."
		fi
		d=$prev
	done
	rm -f "$dir/.diff" "$dir/.err"
	if [ -n "$rev" ]; then
		d=$dir/$(printf '%02d' "$n")-$(echo "$names" | sed -n "${n}p")
		for f in $files; do
			cp "$TOP/$f" "$d/$f"
		done
	fi
}

# steps_pack DIR: the diffs between consecutive snapshots of DIR.
steps_pack() {
	local dir=$1 names n k prev cur f out name
	names=$(steps_names)
	n=$(echo "$names" | wc -l)
	prev=$dir/00-base
	[ -d "$prev" ] || die "$prev: no such snapshot"
	for ((k = 1; k <= n; k++)); do
		name=$(echo "$names" | sed -n "${k}p")
		cur=$dir/$(printf '%02d' "$k")-$name
		[ -d "$cur" ] || die "$cur: no such snapshot (patches/series has step $name)"
		out=$TOP/patches/steps/$name.diff
		: > "$out.tmp"
		for f in $(cd "$cur" && find . -type f | sed 's|^\./||' | sort); do
			[ -f "$prev/$f" ] ||
				die "$prev/$f missing: a step adds a new file whole (a PATH of its entry), not in its diff"
			diff -u --label "a/$f" --label "b/$f" "$prev/$f" "$cur/$f" >> "$out.tmp" || true
		done
		[ -s "$out.tmp" ] || die "step $name changes nothing"
		if cmp -s "$out.tmp" "$out"; then
			rm "$out.tmp"
		else
			mv "$out.tmp" "$out"
			echo "wrote ${out#$TOP/}"
		fi
		prev=$cur
	done
	for f in $(cd "$prev" && find . -type f | sed 's|^\./||' | sort); do
		if ! cmp -s "$prev/$f" "$TOP/$f"; then
			cp "$prev/$f" "$TOP/$f"
			echo "updated $f from ${prev#$dir/}"
		fi
	done
}

steps_list() {
	local name
	for name in $(steps_names); do
		awk -v name="$name" '/^(\+\+\+ b|--- a)\// { next }
			/^\+/ { a++ } /^-/ { d++ }
			END { printf "%-24s +%d -%d\n", name, a, d }' \
			"$TOP/patches/steps/$name.diff"
	done
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	case $1 in
	unpack) [ -n "$2" ] || die "usage: $0 unpack DIR [REV]"
		steps_unpack "$(realpath -m "$2")" "$3"
		echo "snapshots in $2: $(ls "$2" | tr '\n' ' ')" ;;
	pack) [ -n "$2" ] || die "usage: $0 pack DIR"
		steps_pack "$(realpath -m "$2")" ;;
	list) steps_list ;;
	*) die "usage: $0 unpack DIR [REV] | pack DIR | list" ;;
	esac
fi
