#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""The device benchmark of mk/guest/devbench.sh: read the boots' JSON lines
(mk/guest/boot.sh, one per devices.sh workload and one per boot) on stdin,
summarise every kernel, mode, workload and figure as the median of the
boots with their spread (min-max), and write the JSON and a Markdown table.

Figures per workload: throughput (fio MB/s and IOPS, iperf3 Gbit/s,
sockperf transactions/s) and, from QEMU's trace between the workload's
marks, IOTLB invalidation commands (x86_64: page-range + domain + global
descriptors; arm64: SMMUv3 TLBI commands), device-TLB invalidation
descriptors (x86_64 with ATS) and completion waits, each per GB moved
(10^9 bytes: fio read + written, iperf3 received) and, for sockperf, whose
64-byte messages move next to nothing, per thousand transactions; and
each per second of the workload's window, which in the deferred modes
says more than per GB (see render()).

A run whose rc, err or ok says it failed, that moved nothing, or whose
boot's NVMe group was not in the domain type its mode asks for (stock's
safedefer row: stock's default mode) is left out of the medians and
listed under the table; a cell of fewer boots than the rounds asked for
says how many (n=N).

With -icount boots (devbench.sh's DEVBENCH_ICOUNT; lines tagged "icount":
N), a third figure: the guest's instructions per KiB moved (sockperf: per
transaction), from its CPU busy time between the workload's marks (one
vCPU, whose clock advances 2^N ns per instruction while it runs), from
those boots alone; their throughput, in the guest's clock, is not
reported. See cpu_lines() for what the figure leaves out.

A ratio of medians whose two spreads overlap is marked "~": not
distinguishable at this noise. One without is not significant on its own
either: with 3 boots each, two samples of one distribution give spreads
that do not overlap 1 time in 10 (2 * n1! * n2! / (n1 + n2)!). The
module also renders the tables for mk/bench_report.py (render(),
plots())."""

import argparse
import fractions
import json
import math
import os
import statistics
import sys

WORKLOADS = ["fio-4k", "fio-large", "iperf3-up", "iperf3-down", "sockperf"]
THROUGHPUT = {
    "fio-4k": [("mb_per_s", "MB/s"), ("iops", "IOPS")],
    "fio-large": [("mb_per_s", "MB/s"), ("iops", "IOPS")],
    "iperf3-up": [("gbit_per_s", "Gbit/s")],
    "iperf3-down": [("gbit_per_s", "Gbit/s")],
    "sockperf": [("transactions_per_second", "transactions/s")],
}
INV_CLASSES = {
    "x86_64": {"iotlb": ("pages", "domain", "global"), "devtlb": ("devtlb",),
               "wait": ("wait",)},
    "arm64": {"iotlb": ("tlbi",), "devtlb": (), "wait": ("sync",)},
}
INV_LABEL = {"iotlb": "IOTLB inv.", "devtlb": "dev-TLB inv.",
             "wait": "waits"}
# devices.sh ends a timed workload's window (its end mark) a second after
# the workload, so that a deferred flush lands inside it.
SETTLE = 1
UNIT_LABEL = {"per_gb": "/GB", "per_ktrans": "/1k trans.", "per_s": "/s"}
# The figure of the -icount boots (cpu_figures())
CPU_FIGS = {"instr_per_kib": "instructions/KiB",
            "instr_per_trans": "instructions/trans."}
# The IOMMU group type (sysfs) of each mode, as devices.sh reports it
MODE_TYPE = {"strict": "DMA", "lazy": "DMA-FQ", "safedefer": "DMA-SAFE",
             "passthrough": "identity"}
# The safe deferred mode's batcher over a workload's window (batch_figures())
BATCH_FIGS = ("batch_unmaps_per_gb", "batch_unmaps_per_ktrans",
              "batch_now_pct", "batch_slab_pct")
BATCH_REASONS = ("caller", "slab", "nopage", "unref", "large")
# Stock has no safe deferred mode: devbench.sh boots its safedefer row
# without a mode parameter, in the kernel's default mode.
STOCK_DEFAULT = {"x86_64": "lazy", "arm64": "strict"}
# The fields of a timed workload's line that say it went right
# (selftests/iova/devices.sh), and their values when it did.
RUN_OK = {
    "fio-4k": (("rc", 0), ("err", 0)),
    "fio-large": (("rc", 0), ("err", 0)),
    "iperf3-up": (("rc", 0),),
    "iperf3-down": (("rc", 0),),
    "sockperf": (("ok", 1),),
}


def wanted_mode(arch, flavor, mode):
    """The mode a boot of @flavor in @mode really runs in."""
    if flavor == "stock" and mode == "safedefer":
        return STOCK_DEFAULT.get(arch, mode)
    return mode


def run_problem(r):
    """Why the workload run @r cannot count, or None when it can."""
    w = r.get("workload")
    for k, good in RUN_OK.get(w, ()):
        v = r.get(k)
        if v is None:
            return f"no {k}"
        try:
            bad = float(v) != good
        except (TypeError, ValueError):
            bad = True
        if bad:
            return f"{k}={v}"
    size = r.get("transactions" if w == "sockperf" else "bytes")
    if not isinstance(size, (int, float)) or size <= 0:
        return "moved nothing"
    return None


def type_problem(arch, r):
    """Why the domain type of run @r is not the one its mode asks for."""
    flavor, mode = r.get("flavor"), r.get("mode")
    want = MODE_TYPE.get(wanted_mode(arch, flavor, mode))
    t = r.get("type")
    if want is None or t == want:
        return None
    asks = f"{mode} asks for {want}"
    if wanted_mode(arch, flavor, mode) != mode:
        asks = (f"stock's default mode ({wanted_mode(arch, flavor, mode)}) "
                f"gives {want}")
    return f"{'no domain type' if t is None else 'type ' + str(t)}, {asks}"


def inv_figures(arch, run, seconds):
    """Invalidation figures of one workload run: per GB, or per 1000
    transactions for sockperf, and per second of the run's window between
    its marks: the seconds devices.sh measured between them, or else its
    @seconds and the settling second after it (runs from before devices.sh
    measured it)."""
    inv = run.get("inv")
    if not isinstance(inv, dict):
        return {}
    if run.get("workload") == "sockperf":
        unit, div = "per_ktrans", (run.get("transactions") or 0) / 1000
    else:
        unit, div = "per_gb", (run.get("bytes") or 0) / 1e9
    secs = run.get("seconds")
    if not isinstance(secs, (int, float)) or secs <= 0:
        secs = seconds
    window = run.get("window")
    if not isinstance(window, (int, float)) or window <= 0:
        window = secs + SETTLE
    out = {}
    for k, classes in INV_CLASSES[arch].items():
        if not classes or not any(c in inv for c in classes):
            continue
        n = sum(inv.get(c, 0) for c in classes)
        if div:
            out[f"{k}_{unit}"] = n / div
        out[f"{k}_per_s"] = n / window
        out[f"{k}_count"] = n
    return out


def cpu_figures(run):
    """Instructions per KiB moved (sockperf: per transaction) of an
    -icount run: its CPU busy seconds, all CPUs together, at 2^N ns of the
    guest's clock per instruction."""
    shift, busy = run.get("icount"), run.get("cpu_busy")
    if not isinstance(shift, int) or not isinstance(busy, (int, float)) \
            or busy <= 0 or run.get("cpus") != 1:
        return {}
    instr = busy * 1e9 / (1 << shift)
    if run.get("workload") == "sockperf":
        n = run.get("transactions") or 0
        return {"instr_per_trans": instr / n} if n else {}
    kib = (run.get("bytes") or 0) / 1024
    return {"instr_per_kib": instr / kib} if kib else {}


def batch_figures(run):
    """What the safe deferred mode's batcher did in one workload run (its
    debugfs counts over the run's window, devices.sh's batch_* keys): its
    unmaps per GB moved (sockperf: per 1000 transactions), the percentage
    of them it invalidated at once, and the percentage of those that were
    at once because the memory was slab memory."""
    counts = [run.get("batch_unmaps")] + \
        [run.get(f"batch_now_{r}") for r in BATCH_REASONS]
    if not all(isinstance(c, (int, float)) and c >= 0 for c in counts) \
            or counts[0] <= 0:
        return {}
    unmaps, now = counts[0], sum(counts[1:])
    slab = run["batch_now_slab"]
    out = {"batch_now_pct": 100 * now / unmaps}
    if now:
        out["batch_slab_pct"] = 100 * slab / now
    if run.get("workload") == "sockperf":
        n = (run.get("transactions") or 0) / 1000
        if n:
            out["batch_unmaps_per_ktrans"] = unmaps / n
    elif run.get("bytes"):
        out["batch_unmaps_per_gb"] = unmaps / (run["bytes"] / 1e9)
    return out


def summary(values):
    values = [v for v in values if v is not None]
    if not values:
        return None
    return {"median": statistics.median(values), "min": min(values),
            "max": max(values), "n": len(values), "values": values}


def add_summaries(figs, per):
    """Into @figs, the summary of each figure that the dicts @per (one per
    run) have."""
    for k in sorted({k for p in per for k in p}):
        s = summary([p.get(k) for p in per])
        if s:
            figs[k] = s


def ratio(a, b):
    """@a / @b (summaries): the ratio of the medians, and whether the two
    spreads overlap (then it is not distinguishable at this noise). Where
    @b's median is 0 the ratio is None and "zero" says what the medians
    hide: "den" (@a's median is not 0), "max" (both are 0, a maximum is
    not) or "all" (nothing counted)."""
    if not a or not b:
        return None
    n = [a["n"], b["n"]]
    noise = a["min"] <= b["max"] and b["min"] <= a["max"]
    if b["median"] == 0:
        zero = "den" if a["median"] else \
            "max" if a["max"] or b["max"] else "all"
        return {"ratio": None, "noise": noise, "n": n, "zero": zero}
    return {"ratio": a["median"] / b["median"], "noise": noise, "n": n}


def shown(r):
    """Whether ratio @r says anything: a ratio, or a count that a zero
    median hides."""
    return bool(r) and (r["ratio"] is not None or
                        r.get("zero") in ("den", "max"))


def apart(n1, n2):
    """How often two samples of @n1 and @n2 values from one distribution
    have spreads that do not overlap: 2 of the (n1+n2)!/(n1!n2!) orders of
    their values put one sample's all below the other's, as a phrase."""
    p = fractions.Fraction(2 * math.factorial(n1) * math.factorial(n2),
                           math.factorial(n1 + n2))
    if p >= 1:
        return "every time"
    if p.numerator == 1:
        return f"1 time in {p.denominator}"
    return f"{p.numerator} times in {p.denominator}"


def noise_note(doc):
    """What a ratio without "~" says, for the numbers of boots the
    ratios of @doc were taken from."""
    rounds = doc["rounds"]
    pairs = {tuple(sorted(r["n"], reverse=True))
             for r in doc["ratios"].values()
             if r.get("n") and r.get("ratio") is not None}
    boots = f"{rounds} boot{'' if rounds == 1 else 's'}"
    note = (f"a ratio without ~ is a difference {boots} cannot call "
            "significant on its own: same-distribution samples give "
            f"non-overlapping spreads {apart(rounds, rounds)} at {boots} "
            "each")
    others = [f"{apart(a, b)} at {a} and {b}" for a, b in sorted(pairs)
              if (a, b) != (rounds, rounds)]
    if others:
        note += " (where fewer boots counted: " + ", ".join(others) + ")"
    return note + "."


def build(lines, args):
    runs, boots = [], []
    for line in lines:
        line = line.strip()
        if not line.startswith("{"):
            continue
        r = json.loads(line)
        (boots if r.get("boot") else runs).append(r)
    modes = args.modes.split()
    icount_rounds = args.icount_rounds if args.icount is not None else 0
    # Runs that cannot count: failed, moved nothing, or from a boot whose
    # domain type was not its mode's (every run of that boot then goes).
    wrong_type = {}
    for r in runs:
        why = type_problem(args.arch, r)
        if why and r.get("workload") in WORKLOADS:
            wrong_type.setdefault(r.get("name"), why)
    dropped, kept, seen = [], [], {}
    for r in runs:
        w = r.get("workload")
        if w not in WORKLOADS:
            continue
        ic = "/icount" if r.get("icount") is not None else ""
        key = f"{r.get('flavor')}/{r.get('mode')}/{w}{ic}"
        seen[key] = seen.get(key, 0) + 1
        why = run_problem(r) or wrong_type.get(r.get("name"))
        if ic and not why and not cpu_figures(r):
            why = "no CPU busy time, or not one vCPU"
        if why:
            dropped.append({"name": r.get("name"), "workload": w,
                            "flavor": r.get("flavor"),
                            "mode": r.get("mode"), "reason": why})
        else:
            kept.append(r)
    iruns = [r for r in kept if r.get("icount") is not None]
    runs = [r for r in kept if r.get("icount") is None]
    missing = {}
    for flavor in ("stock", "ours"):
        for mode in modes:
            for w in WORKLOADS:
                for ic, want in (("", args.rounds),
                                 ("/icount", icount_rounds)):
                    key = f"{flavor}/{mode}/{w}{ic}"
                    if seen.get(key, 0) < want:
                        missing[key] = want - seen.get(key, 0)
    cells = {}
    for flavor in ("stock", "ours"):
        for mode in modes:
            for w in WORKLOADS:
                rs = [r for r in runs if r.get("flavor") == flavor and
                      r.get("mode") == mode and r.get("workload") == w]
                figs = {}
                keys = [k for k, _ in THROUGHPUT[w]]
                per = [inv_figures(args.arch, r, args.seconds) for r in rs]
                keys += sorted({k for p in per for k in p})
                for k in keys:
                    vals = [r.get(k) for r in rs] if k in dict(THROUGHPUT[w]) \
                        else [p.get(k) for p in per]
                    s = summary(vals)
                    if s:
                        figs[k] = s
                def mine(rs):
                    return [r for r in rs if r.get("flavor") == flavor and
                            r.get("mode") == mode and r.get("workload") == w]
                # The exact figure, from the -icount boots alone.
                add_summaries(figs, [cpu_figures(r) for r in mine(iruns)])
                # The batcher's counts, from every boot that has them.
                add_summaries(figs, [batch_figures(r)
                                     for r in mine(runs + iruns)])
                cells[f"{flavor}/{mode}/{w}"] = figs
    ratios = {}
    for mode in modes:
        for w in WORKLOADS:
            o, s = cells[f"ours/{mode}/{w}"], cells[f"stock/{mode}/{w}"]
            for k in o:
                if k.endswith("_count"):
                    continue
                r = ratio(o.get(k), s.get(k))
                if r:
                    ratios[f"ours_stock/{mode}/{w}/{k}"] = r
    if "safedefer" in modes:
        for other in ("lazy", "strict", "passthrough"):
            if other not in modes:
                continue
            for w in WORKLOADS:
                a = cells[f"ours/safedefer/{w}"]
                b = cells[f"ours/{other}/{w}"]
                for k in a:
                    if k.endswith("_count"):
                        continue
                    r = ratio(a.get(k), b.get(k))
                    if r:
                        ratios[f"safe_{other}/{w}/{k}"] = r
    return {
        "arch": args.arch, "modes": modes, "rounds": args.rounds,
        "seconds": args.seconds, "ats": args.ats, "qemu": args.qemu,
        "icount": args.icount, "icount_rounds": icount_rounds,
        "kernel": args.kernel, "took": args.took,
        "boots": [{k: b.get(k) for k in ("name", "flavor", "mode", "seconds",
                                         "passed", "failed", "error")}
                  for b in boots],
        "cells": cells, "ratios": ratios,
        "dropped": dropped, "missing": missing,
        "stock_default": STOCK_DEFAULT.get(args.arch),
        "windows": sum(isinstance(r.get("window"), (int, float))
                       for r in runs),
        "runs": len(runs),
    }


def num(v):
    if v is None:
        return "n/a"
    if v == 0:
        return "0"
    a = abs(v)
    if a >= 1000:
        return f"{v:.0f}"
    if a >= 10:
        return f"{v:.1f}"
    if a >= 0.1:
        return f"{v:.2f}"
    return f"{v:.3g}"


def cell(s, rounds=None):
    """median [min-max] of summary @s, and n=N where @rounds boots were
    asked for and another number of them counted."""
    if not s:
        return "n/a"
    n = f" n={s['n']}" if rounds and s["n"] != rounds else ""
    if s["n"] == 1 or s["min"] == s["max"]:
        return f"{num(s['median'])}{n}"
    return f"{num(s['median'])} [{num(s['min'])}-{num(s['max'])}]{n}"


def rcell(r, names=("ours", "stock")):
    """Ratio @r as a cell; @names: its numerator's and denominator's."""
    if not r:
        return "n/a"
    if r["ratio"] is None:
        zero = r.get("zero")
        if zero == "den":
            return f"{names[1]} 0, {names[0]} >0"
        if zero == "max":
            return "medians 0, max >0"
        return "0/0"
    return ("~" if r["noise"] else "") + f"{r['ratio']:.2f}"


def figure_rows(doc, figs, rounds):
    """Table rows "| workload | figure | mode | stock | ours | ours/stock |"
    of each workload's figures @figs(workload) ((key, label) pairs), in
    every mode either kernel has them; @rounds: the boots asked for."""
    cells, ratios, rows = doc["cells"], doc["ratios"], []
    for w in WORKLOADS:
        for k, label in figs(w):
            for mode in doc["modes"]:
                s = cells.get(f"stock/{mode}/{w}", {}).get(k)
                o = cells.get(f"ours/{mode}/{w}", {}).get(k)
                if not s and not o:
                    continue
                r = ratios.get(f"ours_stock/{mode}/{w}/{k}")
                rows.append(f"| {w} | {label} | {mode} | "
                            f"{cell(s, rounds)} | {cell(o, rounds)} | "
                            f"{rcell(r)} |")
    return rows


def icount_note(iround):
    """What a ratio of the -icount table without "~" says."""
    boots = f"{iround} boot{'' if iround == 1 else 's'}"
    return ("a ratio without ~ is a difference that same-distribution "
            f"samples of {boots} each would show "
            f"{apart(iround, iround)}.")


def cpu_lines(doc):
    """The table of instructions per KiB (sockperf: per transaction) of
    the -icount boots, where there were any."""
    if doc.get("icount") is None:
        return []
    iround = doc.get("icount_rounds") or 0
    md = [f"Instructions the guest executed per KiB moved (sockperf: per "
          f"transaction), all of them (the workload's user space, the "
          f"network and block stacks, the drivers, the IOMMU layer), from "
          f"{iround} more boot{'' if iround == 1 else 's'} of each kernel "
          f"and mode under QEMU's -icount shift={doc['icount']} with one "
          f"vCPU (client and server share it: a configuration of its own), "
          f"whose clock advances {1 << doc['icount']} ns per instruction "
          "while it runs: its CPU busy time between the workload's marks "
          "(/proc/stat: user, nice, system, irq, softirq, steal) "
          "counts instructions. Limits: the periodic tick (4 ms) samples "
          "that time, and work that a timer starts on an otherwise idle "
          "CPU and finishes before the next tick (a lazy flush queue's or "
          "a safe deferred batch's timeout flush) is missed, which favours "
          "those modes against strict; idle time runs at the host's pace, "
          "and with it the timers and the order of packets and "
          "completions, so that boots of one kernel have been seen to "
          "differ by up to 8% (more than one boot's spread shows); and "
          "QEMU's emulation of the devices and the IOMMU costs the guest "
          "no instruction, so waiting for an invalidation is not in it. "
          "Cells: median [min-max] of those boots. ours/stock above 1: "
          "ours executes more; "
          f"{icount_note(iround)}", "",
          "| workload | figure | mode | stock | ours | ours/stock |",
          "|---|---|---|---:|---:|---:|"]
    md += figure_rows(doc, lambda w: CPU_FIGS.items(), iround)
    return md + [""]


def passthrough_lines(doc):
    """Passthrough workloads that invalidated anything: an identity domain
    has no translations of its own to invalidate."""
    cells = doc["cells"]
    found = []
    for flavor in ("stock", "ours"):
        for w in WORKLOADS:
            figs = cells.get(f"{flavor}/passthrough/{w}", {})
            for k in ("iotlb", "devtlb", "wait"):
                s = figs.get(f"{k}_count")
                if s and s["max"] > 0:
                    runs = sum(1 for v in s["values"] if v > 0)
                    found.append(f"{flavor} {w} {INV_LABEL[k]} in {runs} "
                                 f"of {s['n']} runs (at most "
                                 f"{s['max']:.0f} in one)")
    if not found:
        return []
    return ["**Passthrough boots that invalidated** (an identity domain "
            "should need no invalidation): " + "; ".join(found) + ".", ""]


def pct_cell(s):
    """A percentage's summary @s as a cell, as cell() writes one."""
    if not s:
        return "-"
    lo, hi = f"{s['min']:.1f}", f"{s['max']:.1f}"
    if lo == hi:
        return f"{s['median']:.1f}%"
    return f"{s['median']:.1f}% [{lo}-{hi}]"


def batch_lines(doc):
    """The table of what the safe deferred mode's batcher did, where a
    boot reported it (ours, in that mode)."""
    cells = doc["cells"]
    rows = []
    for mode in doc["modes"]:
        for w in WORKLOADS:
            figs = cells.get(f"ours/{mode}/{w}", {})
            if not any(k in figs for k in BATCH_FIGS):
                continue
            unit = "batch_unmaps_per_ktrans" if w == "sockperf" \
                else "batch_unmaps_per_gb"
            pct = [figs.get(k) for k in ("batch_now_pct", "batch_slab_pct")]
            rows.append(f"| {w} | {mode} | {cell(figs.get(unit))} | " +
                        " | ".join(pct_cell(p) for p in pct) + " |")
    if not rows:
        return []
    return ["Ours, the safe deferred mode's unmaps, from its batcher's "
            "counts (debugfs iommu/iotlb_batch/stats) over each workload's "
            "window, median [min-max] of every boot in the mode, the "
            "-icount ones too: unmaps per GB moved (sockperf: per 1000 "
            "transactions); the share it invalidated before the unmap "
            "returned instead of deferring it; and of those, the share "
            "whose memory was slab memory, which a page reference cannot "
            "keep from being handed out again (the others: memory without "
            "a struct page or with no reference to add to, unmaps with "
            "more folios than a batch holds, and those the caller asked "
            "to invalidate at once).", "",
            "| workload | mode | unmaps /GB (sockperf: /1k trans.) | "
            "invalidated at once | of them slab memory |",
            "|---|---|---:|---:|---:|"] + rows + [""]


def dropped_lines(doc):
    """What was left out of the medians: dropped and missing runs."""
    md = []
    dropped = doc.get("dropped") or []
    if dropped:
        by = {}
        for d in dropped:
            names = by.setdefault(d["reason"], {})
            names.setdefault(d["name"], []).append(d["workload"])
        why = "; ".join(f"{reason}: " + ", ".join(
            f"{name} {' '.join(ws)}" for name, ws in names.items())
            for reason, names in by.items())
        plural = "s" if len(dropped) > 1 else ""
        md.append(f"dropped: {len(dropped)} run{plural} ({why})")
    missing = doc.get("missing") or {}
    if missing:
        n = sum(missing.values())
        which = ", ".join(f"{k} {v}" for k, v in sorted(missing.items()))
        plural = "s" if n > 1 else ""
        md.append(f"missing: {n} run{plural} that no boot reported "
                  f"({which})")
    return md + [""] if md else []


def render(doc, level="###"):
    """Markdown tables of one devbench JSON document."""
    arch, modes = doc["arch"], doc["modes"]
    cells, ratios = doc["cells"], doc["ratios"]
    rounds = doc["rounds"]
    bad = [b for b in doc["boots"] if b.get("error") or b.get("failed")]
    ok = len(doc["boots"]) - len(bad)
    iround = doc.get("icount_rounds") or 0
    asked = 2 * len(modes) * (rounds + iround)
    ns = {s["n"] for c in cells.values() for k, s in c.items()
          if k not in CPU_FIGS and k not in BATCH_FIGS}
    default = doc.get("stock_default") or STOCK_DEFAULT.get(arch)
    verified = not bad and not doc.get("dropped") and \
        not doc.get("missing") and len(doc["boots"]) == asked
    head = [f"{len(doc['boots'])} boots"
            f"{'' if len(doc['boots']) == asked else f' of {asked}'}"
            f" ({ok} passed): {rounds} per "
            f"kernel and mode, stock and ours taking turns to go first"
            f"{f', and {iround} more under -icount (see below)' if iround else ''}; "
            f"{doc['seconds']} s per timed workload; "
            f"ATS {'on (NICs, device-iotlb=on)' if doc['ats'] else 'off'}; "
            "TCG. Cells: median [min-max] of the boots" +
            (f"; n=N where fewer than {rounds} counted (failed, dropped or "
             "missing runs, listed under the tables)"
             if any(n != rounds for n in ns) else "") + "." +
            (" Of an even number of boots the median is the mean of the "
             "middle two." if any(n % 2 == 0 for n in ns) else ""),
            "Ratios are of the medians; \"~\": the two spreads (min-max) "
            "overlap, not distinguishable at this noise; " + noise_note(doc) +
            (" \"X 0, Y >0\": no ratio, X's median is 0 and Y's is not; "
             "\"medians 0, max >0\": both medians are 0 but some boot "
             "counted (see the cells' [min-max])."
             if any(r.get("zero") in ("den", "max")
                    for r in ratios.values()) else ""),
            "Stock has no safe deferred mode: "
            f"its safedefer row is stock booted in its default mode "
            f"({default} on {arch}, its domain type checked to be "
            f"{MODE_TYPE.get(default)}).",
            "fio-large: fio's 1 MiB blocks go to the disk as 128 KiB NVMe "
            "commands through the IOMMU (nvme caps a command at "
            "dma_opt_mapping_size(), the size the IOVA fast path serves at "
            "its best, iova_rcache_range(): strict's 7629 invalidations per GB are "
            "10^9 / 131072) and as commands of up to 512 KiB in passthrough, "
            "so safe/passthrough for fio-large compares different command "
            "sizes.",
            "Runs that failed (rc, err, ok) or whose boot was not in its "
            "mode's domain type are left out of the medians."]
    if verified:
        head.append("Every boot also verified its fio data (crc32c) and a "
                    "file of random bytes sent each way between the NICs "
                    "(compared byte for byte; selftests/iova/devices.sh).")
    else:
        head.append("Not every boot passed devices.sh's checks (fio data "
                    "verified by crc32c, a file sent each way between the NICs "
                    "compared byte for byte, domain types) and "
                    "reported all its runs: see under the tables.")
    md = [f"{level} Device workloads, {arch}: stock against ours", "",
          " ".join(head),
          "", f"{doc.get('qemu') or ''}; kernel {doc.get('kernel')}; "
          f"run time {doc.get('took')}.", ""]
    md += ["Throughput:", "",
           "| workload | figure | mode | stock | ours | ours/stock |",
           "|---|---|---|---:|---:|---:|"]
    md += figure_rows(doc, lambda w: THROUGHPUT[w], rounds)
    md.append("")
    md += cpu_lines(doc)
    kinds = [k for k in ("iotlb", "devtlb", "wait")
             if INV_CLASSES.get(arch, {}).get(k)]
    if not doc["ats"]:
        kinds = [k for k in kinds if k != "devtlb"]
    head = "| workload | unit | mode |"
    sep = "|---|---|---|"
    for k in kinds:
        head += f" stock {INV_LABEL[k]} | ours {INV_LABEL[k]} | ours/stock |"
        sep += "---:|---:|---:|"
    if doc.get("windows") and doc.get("windows") == doc.get("runs"):
        window = ("the seconds between its marks, measured in the guest: "
                  f"its {doc['seconds']} s, its start and end, and the "
                  "settling second before its end mark")
    elif doc.get("windows"):
        window = ("the seconds between its marks, measured in the guest "
                  "where the run recorded them, else its "
                  f"{doc['seconds']} s and the settling second (which leave "
                  "out its start and end, so overstate the rate)")
    else:
        window = (f"{doc['seconds']} s and the settling second before its "
                  "end mark; the run did not record the time between its "
                  "marks, which also holds its start and end, so the rate "
                  "is overstated")
    md += ["Invalidation commands from QEMU's trace, per GB moved (sockperf: "
           "per 1000 transactions) and per second of the workload's window "
           f"({window}). " + (
               "IOTLB: page-range, domain and global VT-d descriptors; "
               "dev-TLB: device-TLB descriptors; waits: invalidation wait "
               "descriptors." if arch == "x86_64" else
               "IOTLB: SMMUv3 TLBI commands; waits: CMD_SYNCs.") +
           " Both are shown because in lazy and safedefer modes one "
           "invalidation covers the unmaps gathered until the flush queue "
           "or the batch filled or its timer fired: at the throughput of "
           "these guests the timer sets much of the rate, so per GB there "
           "is largely that rate over the throughput (a slower run shows "
           "more per GB), which the per-second row gives apart; in strict "
           "mode every unmap is invalidated and per GB is the cost of the "
           "traffic.", "",
           head, sep]
    for w in WORKLOADS:
        unit = "per_ktrans" if w == "sockperf" else "per_gb"
        for mode in modes:
            for u in (unit, "per_s"):
                row = f"| {w} | {UNIT_LABEL[u]} | {mode} |"
                for k in kinds:
                    key = f"{k}_{u}"
                    s = cells.get(f"stock/{mode}/{w}", {}).get(key)
                    o = cells.get(f"ours/{mode}/{w}", {}).get(key)
                    r = ratios.get(f"ours_stock/{mode}/{w}/{key}")
                    row += (f" {cell(s, rounds)} | {cell(o, rounds)} | "
                            f"{rcell(r)} |")
                md.append(row)
    md.append("")
    md += passthrough_lines(doc)
    others = [m for m in ("lazy", "strict", "passthrough") if m in modes]
    if "safedefer" in modes and others:
        md += ["Ours, safe deferred mode against the others (ratio of the "
               "medians, safedefer/other):", "",
               "| workload | figure | " +
               " | ".join(f"safe/{m}" for m in others) + " |",
               "|---|---|" + "---:|" * len(others)]
        for w in WORKLOADS:
            unit = "per_ktrans" if w == "sockperf" else "per_gb"
            figs = list(THROUGHPUT[w]) + [
                (f"{k}_{u}", f"{INV_LABEL[k]} {UNIT_LABEL[u]}")
                for k in kinds for u in (unit, "per_s")] + [
                (k, label) for k, label in CPU_FIGS.items()]
            for k, label in figs:
                rs = [ratios.get(f"safe_{m}/{w}/{k}") for m in others]
                # none measured, or none of them counted anything
                if not any(shown(r) for r in rs):
                    continue
                md.append(f"| {w} | {label} | " +
                          " | ".join(rcell(r, ("safe", m))
                                     for r, m in zip(rs, others)) + " |")
        md.append("")
    md += batch_lines(doc)
    md += dropped_lines(doc)
    if bad:
        md += ["Failed boots (their workloads that ran are counted unless "
               "dropped above): " +
               ", ".join(f"{b['name']} ({b.get('error') or '%s failed' % b.get('failed')})"
                         for b in bad), ""]
    return md


def plots(doc, d, gnuplot):
    """PNGs in @d: ours/stock throughput per workload and mode, ours/stock
    instructions per KiB where -icount boots gave them, and IOTLB
    invalidations per GB, stock and ours; the keys say that stock's
    safedefer bars are its default mode. @gnuplot(script, png) runs
    gnuplot. Returns the file names written."""
    arch, modes = doc["arch"], doc["modes"]
    cells, ratios = doc["cells"], doc["ratios"]
    out = []
    # enhanced text: an underscore would start a subscript
    title = arch.replace("_", "\\_")
    figs = [(w, k, label) for w in WORKLOADS for k, label in THROUGHPUT[w]]
    dat = os.path.join(d, f"devbench-{arch}-throughput.dat")
    with open(dat, "w") as f:
        f.write("figure " + " ".join(modes) + "\n")
        for w, k, label in figs:
            vals = []
            for mode in modes:
                r = ratios.get(f"ours_stock/{mode}/{w}/{k}")
                vals.append("NaN" if not r or r["ratio"] is None
                            else f"{r['ratio']:.4f}")
            f.write(f"{w}:{label.replace(' ', '_').replace('/', '_per_')} "
                    + " ".join(vals) + "\n")
    png = os.path.join(d, f"devbench-{arch}-throughput.png")
    # Stock's safedefer bars are stock's default mode: say which
    default = doc.get("stock_default") or STOCK_DEFAULT.get(arch, "default")
    key = {"safedefer": f"safedefer (stock: its default, {default})"}
    plot = [f"'{dat}' using {i + 2}:xtic(1) title '{key.get(m, m)}'"
            for i, m in enumerate(modes)]
    script = (f"set terminal png size 900,560\nset output '{png}'\n"
              f"set title 'Device workloads, {title}: throughput ours/stock "
              f"(median of {doc['rounds']} boots)'\n"
              "set style data histogram\nset style histogram cluster gap 1\n"
              "set style fill solid 0.8\nset key autotitle columnhead "
              "tmargin center horizontal\nset xtics rotate by -30 "
              "noenhanced\n"
              "set grid ytics\nset yrange [0:*]\n"
              "set arrow from graph 0, first 1 to graph 1, first 1 nohead "
              "dt 2\nplot " + ", ".join(plot) + "\n")
    if gnuplot(script, png):
        out.append(os.path.basename(png))

    # The exact figure, where -icount boots gave it.
    figs = [(w, k) for w in WORKLOADS for k in CPU_FIGS
            if any(cells.get(f"{f}/{m}/{w}", {}).get(k)
                   for f in ("stock", "ours") for m in modes)]
    if figs:
        dat = os.path.join(d, f"devbench-{arch}-instructions.dat")
        with open(dat, "w") as f:
            f.write("figure " + " ".join(modes) + "\n")
            for w, k in figs:
                vals = []
                for mode in modes:
                    r = ratios.get(f"ours_stock/{mode}/{w}/{k}")
                    vals.append("NaN" if not r or r["ratio"] is None
                                else f"{r['ratio']:.4f}")
                f.write(f"{w} " + " ".join(vals) + "\n")
        png = os.path.join(d, f"devbench-{arch}-instructions.png")
        plot = [f"'{dat}' using {i + 2}:xtic(1) title '{key.get(m, m)}'"
                for i, m in enumerate(modes)]
        script = (f"set terminal png size 900,560\nset output '{png}'\n"
                  f"set title 'Device workloads, {title}: instructions "
                  "per KiB (sockperf: per transaction), ours/stock, "
                  "-icount'\n"
                  "set style data histogram\nset style histogram cluster "
                  "gap 1\nset style fill solid 0.8\nset key autotitle "
                  "columnhead tmargin center horizontal\nset xtics rotate "
                  "by -30 noenhanced\nset grid ytics\nset yrange [0:*]\n"
                  "set arrow from graph 0, first 1 to graph 1, first 1 "
                  "nohead dt 2\nplot " + ", ".join(plot) + "\n")
        if gnuplot(script, png):
            out.append(os.path.basename(png))

    dat = os.path.join(d, f"devbench-{arch}-invalidations.dat")
    with open(dat, "w") as f:
        for w in WORKLOADS[:-1]:
            for mode in modes:
                if mode == "passthrough":
                    continue
                s = cells.get(f"stock/{mode}/{w}", {}).get("iotlb_per_gb")
                o = cells.get(f"ours/{mode}/{w}", {}).get("iotlb_per_gb")
                f.write(f"{w}-{mode} {(s or {}).get('median', 0)} "
                        f"{(o or {}).get('median', 0)}\n")
    png = os.path.join(d, f"devbench-{arch}-invalidations.png")
    script = (f"set terminal png size 900,560\nset output '{png}'\n"
              f"set title 'Device workloads, {title}: IOTLB invalidation "
              "commands per GB moved (QEMU trace)'\n"
              "set style data histogram\nset style histogram cluster gap 1\n"
              "set style fill solid 0.8\nset logscale y\nset yrange [1:*]\n"
              "set xtics rotate by -30 noenhanced\n"
              "set key tmargin center horizontal\nset rmargin 10\n"
              f"plot '{dat}' using ($2+1):xtic(1) title 'stock ("
              f"safedefer: its default, {default})', "
              "'' using ($3+1) title 'ours'\n")
    if gnuplot(script, png):
        out.append(os.path.basename(png))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--arch", required=True)
    ap.add_argument("--modes", required=True)
    ap.add_argument("--rounds", type=int, required=True)
    ap.add_argument("--seconds", type=int, required=True)
    ap.add_argument("--ats", type=int, default=0)
    ap.add_argument("--icount", type=int, default=None,
                    help="shift of the -icount boots, if any")
    ap.add_argument("--icount-rounds", type=int, default=0,
                    help="-icount boots of each kernel and mode")
    ap.add_argument("--qemu", default="")
    ap.add_argument("--kernel", default="")
    ap.add_argument("--took", default="")
    ap.add_argument("--json", required=True)
    ap.add_argument("--md", required=True)
    args = ap.parse_args()
    doc = build(sys.stdin, args)
    with open(args.json, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    md = render(doc)
    with open(args.md, "w") as f:
        f.write("\n".join(md) + "\n")
    print("\n".join(md))
    runs = sum(len(v) for v in doc["cells"].values())
    return 0 if runs else 1


if __name__ == "__main__":
    sys.exit(main())
