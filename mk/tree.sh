#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Prepare build/linux: the pristine tarball committed as "baseline", the
# project's patches applied in series order, the project's own files laid
# over it, all committed. Incremental: only files whose content changed are
# rewritten, so kbuild recompiles only what changed. Also keeps
# build/stock/linux, a pristine worktree of the baseline, for comparisons.
set -e
export LC_ALL=C
. "$(dirname "$0")/lib.sh"

OVERLAY_DIRS="drivers include tools Documentation"
G="git -C $KSRC"

[ -f "$TARBALL" ] || die "$TARBALL missing: run 'make deps' (apt-get install linux-source-6.12)"

if [ ! -f "$KSRC/.git/refs/tags/baseline" ] && ! $G rev-parse -q --verify baseline >/dev/null 2>&1; then
	step "tree: unpacking $(basename "$TARBALL")"
	rm -rf "$KSRC" "$BUILD/unpack"
	mkdir -p "$BUILD/unpack"
	tar -C "$BUILD/unpack" -xf "$TARBALL"
	mv "$BUILD/unpack"/linux-source-* "$KSRC"
	rmdir "$BUILD/unpack"
	step "tree: committing the baseline"
	$G init -q -b main
	$G config user.name "iova build"
	$G config user.email "iova-build@localhost"
	$G config gc.auto 0
	$G config core.looseCompression 1
	# Debian's top-level .gitignore ignores everything: add by force.
	$G add -A -f
	$G commit -q -m "Linux $(make -s -C "$KSRC" kernelversion 2>/dev/null) (Debian linux-source-6.12)"
	$G tag baseline
	rm -f "$BUILD/.patches-stamp" "$BUILD/.overlay-files"
fi

kver=$(make -s -C "$KSRC" kernelversion 2>/dev/null)
pkgver=$(dpkg-query -W -f='${Version}' linux-source-6.12 2>/dev/null || echo unknown)
echo "$kver (Debian linux-source-6.12 $pkgver)" > "$BUILD/KERNEL_VERSION"

# --- patches ---------------------------------------------------------------
series=$(grep -v '^[[:space:]]*\(#\|$\)' "$TOP/patches/series" | awk '$1 == "patch" {print $2}')
stamp=$(cd "$TOP/patches" && cat series $series | sha1sum | cut -d' ' -f1)
if [ "$stamp" != "$(cat "$BUILD/.patches-stamp" 2>/dev/null)" ]; then
	step "tree: applying patches"
	bak=$BUILD/.patch-bak
	rm -rf "$bak"; mkdir -p "$bak"
	old=$(cat "$BUILD/.patched-files" 2>/dev/null || true)
	new=
	for p in $series; do
		new="$new $(git apply --numstat "$TOP/patches/$p" | cut -f3)"
	done
	files=$(echo $old $new | tr ' ' '\n' | sort -u)
	for f in $files; do
		if [ -e "$KSRC/$f" ]; then
			mkdir -p "$bak/$(dirname "$f")"
			cp -p "$KSRC/$f" "$bak/$f"
		fi
		if $G cat-file -e "baseline:$f" 2>/dev/null; then
			$G checkout -q baseline -- "$f"
		else
			rm -f "$KSRC/$f"
		fi
	done
	for p in $series; do
		(cd "$KSRC" && git apply --whitespace=nowarn "$TOP/patches/$p") ||
			die "patch $p does not apply"
	done
	# Keep the old timestamp of a file whose content did not change.
	for f in $files; do
		if [ -e "$bak/$f" ] && [ -e "$KSRC/$f" ] && cmp -s "$bak/$f" "$KSRC/$f"; then
			touch -r "$bak/$f" "$KSRC/$f"
		fi
	done
	rm -rf "$bak"
	echo $new | tr ' ' '\n' | sort -u > "$BUILD/.patched-files"
	echo "$stamp" > "$BUILD/.patches-stamp"
fi

# --- overlay ---------------------------------------------------------------
list=$BUILD/.overlay-files.new
{ (cd "$TOP" && git ls-files -co --exclude-standard -- $OVERLAY_DIRS)
  echo "Kconfig:drivers/iommu/Kconfig.iova"; } | sort > "$list"
# Files the project no longer has go back to the baseline (or away);
# done first, so that the copy below always wins.
if [ -f "$BUILD/.overlay-files" ]; then
	comm -23 "$BUILD/.overlay-files" "$list" | while IFS= read -r ent; do
		dst=${ent#*:}
		if $G cat-file -e "baseline:$dst" 2>/dev/null; then
			$G checkout -q baseline -- "$dst"
		else
			rm -f "$KSRC/$dst"
		fi
	done
fi
while IFS= read -r ent; do
	src=${ent%%:*}; dst=${ent#*:}
	[ -f "$TOP/$src" ] || continue
	if ! cmp -s "$TOP/$src" "$KSRC/$dst"; then
		mkdir -p "$KSRC/$(dirname "$dst")"
		cp "$TOP/$src" "$KSRC/$dst"
	fi
done < <(sed '/:/!s/.*/&:&/' "$list")
mv "$list" "$BUILD/.overlay-files"

$G add -u
(sed 's/.*://' "$BUILD/.overlay-files"; cat "$BUILD/.patched-files") |
	(cd "$KSRC" && xargs -r sh -c 'for f; do [ -e "$f" ] && echo "$f"; done' sh) |
	(cd "$KSRC" && xargs -r git add -f --)
if [ -n "$($G status --porcelain --untracked-files=no)" ]; then
	$G commit -q -m "iova project: patches and overlay" || true
	step "tree: build/linux updated ($kver)"
fi

# --- stock worktree ---------------------------------------------------------
if [ ! -d "$STOCK" ]; then
	step "tree: checking out the stock worktree"
	mkdir -p "$(dirname "$STOCK")"
	$G worktree prune
	$G worktree add -q --detach "$STOCK" baseline
fi
