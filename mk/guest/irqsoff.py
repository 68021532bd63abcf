#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Summarise the IRQs-off sections mk/guest/irqsoff.sh stepped, stock
against ours, in instructions run with interrupts disabled, maximum and
median per kernel: the sections that ran the driver's invalidation submit
(a flush inside the lock: stock's full flush queue, ours' batch), those
of the flush timer (stock frees there, under each CPU's queue lock, what
its flush covered; ours flushes each CPU's batch that is due) and every
section stepped. Prints a table and writes the figures as JSON."""

import argparse
import json
import statistics

# The flush timers' functions.
TIMER = ("fq_flush_timeout", "fq_ring_free", "batch_flush_cpus")


def load(path):
    out = []
    try:
        with open(path) as f:
            for line in f:
                p = line.split()
                if len(p) == 4 and p[0] == "section":
                    out.append((p[1], int(p[2]), p[3] == "1"))
    except OSError:
        pass
    return out


def stats(vals):
    return {"sections": len(vals), "max": max(vals) if vals else None,
            "median": statistics.median(vals) if vals else None}


def summary(secs):
    by = {}
    for c, n, f in secs:
        by.setdefault(c, []).append(n)
    return {"submit": stats([n for _, n, f in secs if f]),
            "timer": stats([n for c, n, _ in secs if c in TIMER]),
            "all": stats([n for _, n, _ in secs]),
            "by_caller": {c: stats(v) for c, v in sorted(by.items())}}


def cell(s):
    if not s["sections"]:
        return "-"
    return "%d / %g (%d)" % (s["max"], s["median"], s["sections"])


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--arch", required=True)
    ap.add_argument("--granule", type=int, required=True)
    ap.add_argument("--json", required=True)
    ap.add_argument("stock")
    ap.add_argument("ours")
    args = ap.parse_args()
    doc = {"arch": args.arch, "granule": args.granule,
           "stock_mode": "lazy", "mode": "safedefer",
           "stock": summary(load(args.stock)),
           "ours": summary(load(args.ours))}
    print("%s, granule %d: IRQs-off sections, instructions max / median "
          "(sections); stock lazy, ours safe deferred" % (args.arch,
                                                         args.granule))
    for k, what in (("submit", "with the submit"), ("timer", "of the timer"),
                    ("all", "every one stepped")):
        print("  %-18s stock %-22s ours %s" % (
            what, cell(doc["stock"][k]), cell(doc["ours"][k])))
    for fl in ("stock", "ours"):
        for c, s in doc[fl]["by_caller"].items():
            print("  %s %s: %s" % (fl, c, cell(s)))
    with open(args.json, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    return 0 if doc["stock"]["all"]["sections"] and \
        doc["ours"]["all"]["sections"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
