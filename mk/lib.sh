# SPDX-License-Identifier: GPL-2.0
# Shared helpers for the mk/ scripts: paths, progress lines, result files.

TOP=${TOP:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
BUILD=${BUILD:-$TOP/build}
KSRC=$BUILD/linux		# patched tree (always here)
STOCK=$BUILD/stock/linux	# pristine tree, a git worktree of "baseline"
RESULTS=$BUILD/results
TARBALL=${TARBALL:-/usr/src/linux-source-6.12.tar.xz}

: "${MK_T0:=$(date +%s)}"
export MK_T0

# step "text": one progress line with the time since the top-level make began.
step() {
	local now
	now=$(date +%s)
	printf '[%4ds] %s\n' "$((now - MK_T0))" "$*"
}

die() {
	echo "error: $*" >&2
	exit 1
}

# record_result PART PASSED FAILED: the counts make check adds up.
record_result() {
	mkdir -p "$RESULTS"
	echo "$2 $3" > "$RESULTS/$1.counts"
}

# Never let an ARCH= or MAKEFLAGS given to the top-level make leak into a
# kernel build that wants another architecture.
clean_make_env() {
	unset MAKEFLAGS MAKEOVERRIDES MFLAGS MAKELEVEL ARCH CROSS_COMPILE
}

jobs() {
	nproc
}

setup_ccache() {
	if command -v ccache >/dev/null 2>&1; then
		# The user's ccache directory (not build/), so that a fresh
		# clone on the same machine, like CI's, starts warm.
		export CCACHE_BASEDIR=$BUILD
		export CCACHE_NOHASHDIR=1
		export CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-8G}
		export CCACHE_SLOPPINESS=time_macros,include_file_mtime,include_file_ctime
	fi
}
