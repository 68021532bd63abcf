#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Print which tree a measurement or a test runs on: the commit (git
# describe), "-dirty" with changes to tracked files, "-untracked" with
# files that make tree would lay over the kernel but git does not track.
# mk/bench_report.py compares it with the tree it reports on.
#
#   mk/tree-id.sh TOP
top=${1:-.}
id=$(git -C "$top" describe --always --dirty 2>/dev/null) || id=unknown
[ -z "$(git -C "$top" ls-files -o --exclude-standard -- \
	drivers include tools Documentation 2>/dev/null)" ] || id=$id-untracked
echo "$id"
