#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Build a minimal guest kernel for the QEMU boot tests.
#
#   mk/guest/kernel.sh ARCH FLAVOR
#
# ARCH is x86_64 or arm64. FLAVOR is "ours" (build/linux, the patched tree),
# "stock" (build/stock/linux, the pristine baseline), "ours-debug" (ours
# with the allocator's invariant checks and lock debugging) or "debian"
# (ours plus debian.config: the kernel of mk/guest/debian.sh). The kernel is
# configured as allnoconfig plus mk/guest/ARCH.config (plus ours.config and
# ours-ARCH.config where there is one, or debug.config), built with
# O=build/guest/ARCH-FLAVOR, incrementally and through ccache.
# EXTRA_CONFIG=FILE adds a fragment of one's own. Progress goes to stderr;
# the path of the boot image is printed on stdout.
set -e
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/lib.sh"

[ $# -eq 2 ] || die "usage: $0 ARCH FLAVOR (ARCH x86_64|arm64, FLAVOR ours|stock|ours-debug|debian)"
guest_arch "$1"
flavor=$2
clean_make_env
setup_ccache

frags=$GUEST_DIR/$GARCH.config
case "$flavor" in
ours)
	src=$KSRC
	frags="$frags $GUEST_DIR/ours.config"
	# Options of ours for one architecture only.
	[ ! -f "$GUEST_DIR/ours-$GARCH.config" ] ||
		frags="$frags $GUEST_DIR/ours-$GARCH.config"
	;;
ours-debug)
	src=$KSRC
	frags="$frags $GUEST_DIR/debug.config"
	;;
debian)
	src=$KSRC
	frags="$frags $GUEST_DIR/ours.config"
	[ ! -f "$GUEST_DIR/ours-$GARCH.config" ] ||
		frags="$frags $GUEST_DIR/ours-$GARCH.config"
	frags="$frags $GUEST_DIR/debian.config"
	;;
stock)
	src=$STOCK
	;;
*)
	die "unknown flavor '$flavor' (ours, stock, ours-debug or debian)"
	;;
esac
if [ -n "$EXTRA_CONFIG" ]; then
	[ -f "$EXTRA_CONFIG" ] || die "EXTRA_CONFIG=$EXTRA_CONFIG: no such file"
	frags="$frags $EXTRA_CONFIG"
fi

# Keep build/linux in step with the repository unless the caller (the
# Makefile) has just done it.
if [ -z "$GUEST_NO_TREE" ] || [ ! -f "$src/Makefile" ]; then
	bash "$TOP/mk/tree.sh" >&2
fi
[ -f "$src/Makefile" ] || die "$src missing: run 'make tree'"

out=$GUEST/$GARCH-$flavor
mkdir -p "$out"
kmake() {
	nice -n 10 make -C "$src" O="$out" ARCH="$KARCH" ${CROSS:+CROSS_COMPILE=$CROSS} \
		CC="ccache $GCC" -j"$(nproc)" "$@"
}

# Configure when the fragments changed (kbuild itself follows Kconfig
# changes of the tree through syncconfig).
cat $frags > "$out/fragment.config.new"
if [ ! -f "$out/.config" ] || ! cmp -s "$out/fragment.config.new" "$out/fragment.config"; then
	step_err "guest $GARCH-$flavor: configure (allnoconfig + $(echo "$frags" | wc -w) fragments)"
	mv "$out/fragment.config.new" "$out/fragment.config"
	run_logged "$out/config.log" kmake KCONFIG_ALLCONFIG="$out/fragment.config" allnoconfig
	# Every option the fragments ask for must have made it: a dependency
	# that is not met drops an option silently otherwise.
	bad=
	while IFS= read -r line; do
		case "$line" in
		CONFIG_*=n)
			sym=${line%%=*}
			grep -q "^$sym=" "$out/.config" && bad="$bad $line"
			;;
		CONFIG_*=*)
			grep -qxF "$line" "$out/.config" || bad="$bad $line"
			;;
		"# CONFIG_"*" is not set")
			sym=${line#\# }
			sym=${sym%% *}
			grep -q "^$sym=" "$out/.config" && bad="$bad $sym=n"
			;;
		esac
	done < "$out/fragment.config"
	if [ -n "$bad" ]; then
		rm -f "$out/fragment.config"
		die "guest $GARCH-$flavor: options not taken (unmet dependencies?):$bad"
	fi
else
	rm -f "$out/fragment.config.new"
fi

t0=$(date +%s)
step_err "guest $GARCH-$flavor: build ($(basename "$IMAGE"), log $out/build.log)"
run_logged "$out/build.log" kmake "$(basename "$IMAGE")"
step_err "guest $GARCH-$flavor: built in $(($(date +%s) - t0))s"
echo "$out/$IMAGE"
