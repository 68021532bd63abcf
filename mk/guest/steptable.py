#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Per-function instruction counts of the calls mk/guest/steptrace.py
traced, stock against ours, from each kernel's symbol table.

Calls of one function differ: one that starts a batch or a flush queue,
arms a timer or merges ranges across a gap does more. Each kernel's
breakdown is that of its call with the fewest instructions, the path a
steady stream of unmaps takes most, and every call's count is listed, so
that the others are in view too."""

import argparse
import bisect
import collections
import subprocess
import sys


def symbols(vmlinux):
    syms = []
    out = subprocess.run(["nm", "-n", vmlinux], capture_output=True,
                         text=True, check=True).stdout
    for line in out.splitlines():
        p = line.split()
        if len(p) >= 3 and p[1] in "tTwW":
            syms.append((int(p[0], 16), p[2]))
    return [a for a, _ in syms], [n for _, n in syms]


def calls(trace):
    with open(trace) as f:
        lines = f.read().split("\n")
    out = []
    for i in range(0, len(lines) - 1, 2):
        if lines[i].startswith("sample "):
            out.append([int(x, 16) for x in lines[i + 1].split()])
    return out


def fewest(traces):
    """The call with the fewest instructions."""
    return min(traces, key=len)


def by_function(trace, syms):
    addrs, names = syms
    return collections.Counter(names[bisect.bisect_right(addrs, pc) - 1]
                               for pc in trace)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--title", required=True)
    ap.add_argument("stock_vmlinux")
    ap.add_argument("stock_trace")
    ap.add_argument("ours_vmlinux")
    ap.add_argument("ours_trace")
    args = ap.parse_args()

    st, ot = calls(args.stock_trace), calls(args.ours_trace)
    if not st or not ot:
        print(f"{args.title}: no calls traced", file=sys.stderr)
        return 1
    s = by_function(fewest(st), symbols(args.stock_vmlinux))
    o = by_function(fewest(ot), symbols(args.ours_vmlinux))
    ns, no = sum(s.values()), sum(o.values())
    print(f"{args.title}: stock {ns}, ours {no} instructions "
          f"({no / ns:.3f}x); every call: stock "
          f"{', '.join(str(len(t)) for t in st)}; ours "
          f"{', '.join(str(len(t)) for t in ot)}")
    print(f"  {'stock':>6} {'ours':>6} {'diff':>6}  function")
    for f in sorted(set(s) | set(o), key=lambda f: (-(o[f] - s[f]), f)):
        print(f"  {s[f]:6d} {o[f]:6d} {o[f] - s[f]:+6d}  {f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
