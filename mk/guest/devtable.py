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
64-byte messages move next to nothing, per thousand transactions.

A ratio of medians whose two spreads overlap is within the noise between
boots: it is marked "~". The module also renders the tables for
mk/bench_report.py (render(), plots())."""

import argparse
import json
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


def inv_figures(arch, run):
    """Invalidation figures of one workload run: per GB, or per 1000
    transactions for sockperf."""
    inv = run.get("inv")
    if not isinstance(inv, dict):
        return {}
    if run.get("workload") == "sockperf":
        unit, div = "per_ktrans", (run.get("transactions") or 0) / 1000
    else:
        unit, div = "per_gb", (run.get("bytes") or 0) / 1e9
    if not div:
        return {}
    out = {}
    for k, classes in INV_CLASSES[arch].items():
        if not classes or not any(c in inv for c in classes):
            continue
        n = sum(inv.get(c, 0) for c in classes)
        out[f"{k}_{unit}"] = n / div
        out[f"{k}_count"] = n
    return out


def summary(values):
    values = [v for v in values if v is not None]
    if not values:
        return None
    return {"median": statistics.median(values), "min": min(values),
            "max": max(values), "n": len(values), "values": values}


def ratio(a, b):
    """@a / @b (summaries): the ratio of the medians, and whether the two
    spreads overlap (then the ratio is noise)."""
    if not a or not b:
        return None
    if b["median"] == 0:
        return None if a["median"] else {"ratio": None, "noise": True}
    return {"ratio": a["median"] / b["median"],
            "noise": a["min"] <= b["max"] and b["min"] <= a["max"]}


def build(lines, args):
    runs, boots = [], []
    for line in lines:
        line = line.strip()
        if not line.startswith("{"):
            continue
        r = json.loads(line)
        (boots if r.get("boot") else runs).append(r)
    modes = args.modes.split()
    cells = {}
    for flavor in ("stock", "ours"):
        for mode in modes:
            for w in WORKLOADS:
                rs = [r for r in runs if r.get("flavor") == flavor and
                      r.get("mode") == mode and r.get("workload") == w]
                figs = {}
                keys = [k for k, _ in THROUGHPUT[w]]
                per = [inv_figures(args.arch, r) for r in rs]
                keys += sorted({k for p in per for k in p})
                for k in keys:
                    vals = [r.get(k) for r in rs] if k in dict(THROUGHPUT[w]) \
                        else [p.get(k) for p in per]
                    s = summary(vals)
                    if s:
                        figs[k] = s
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
        "kernel": args.kernel, "took": args.took,
        "boots": [{k: b.get(k) for k in ("name", "flavor", "mode", "seconds",
                                         "passed", "failed", "error")}
                  for b in boots],
        "cells": cells, "ratios": ratios,
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


def cell(s):
    if not s:
        return "n/a"
    if s["n"] == 1 or s["min"] == s["max"]:
        return f"{num(s['median'])}"
    return f"{num(s['median'])} [{num(s['min'])}-{num(s['max'])}]"


def rcell(r):
    if not r:
        return "n/a"
    if r["ratio"] is None:
        return "0/0"
    return ("~" if r["noise"] else "") + f"{r['ratio']:.2f}"


def render(doc, level="###"):
    """Markdown tables of one devbench JSON document."""
    arch, modes = doc["arch"], doc["modes"]
    cells, ratios = doc["cells"], doc["ratios"]
    bad = [b for b in doc["boots"] if b.get("error") or b.get("failed")]
    ok = len(doc["boots"]) - len(bad)
    md = [f"{level} Device workloads, {arch}: stock against ours", "",
          f"{len(doc['boots'])} boots ({ok} passed): {doc['rounds']} per "
          f"kernel and mode, stock and ours taking turns to go first; "
          f"{doc['seconds']} s per timed workload; "
          f"ATS {'on (NICs, device-iotlb=on)' if doc['ats'] else 'off'}; "
          "TCG. Cells: median [min-max] of the boots. Ratios are of the "
          "medians; \"~\": the two spreads overlap, the ratio is within the "
          "noise between boots. Stock has no safe deferred mode: "
          "its safedefer row is stock booted in its default mode (lazy on "
          "x86, strict on Arm). Every boot also verified "
          "its fio data (crc32c) and TCP streams (selftests/iova/devices.sh).",
          "", f"{doc.get('qemu') or ''}; kernel {doc.get('kernel')}; "
          f"run time {doc.get('took')}.", ""]
    md += ["Throughput:", "",
           "| workload | figure | mode | stock | ours | ours/stock |",
           "|---|---|---|---:|---:|---:|"]
    for w in WORKLOADS:
        for k, label in THROUGHPUT[w]:
            for mode in modes:
                s = cells.get(f"stock/{mode}/{w}", {}).get(k)
                o = cells.get(f"ours/{mode}/{w}", {}).get(k)
                if not s and not o:
                    continue
                r = ratios.get(f"ours_stock/{mode}/{w}/{k}")
                md.append(f"| {w} | {label} | {mode} | {cell(s)} | "
                          f"{cell(o)} | {rcell(r)} |")
    md.append("")
    kinds = [k for k in ("iotlb", "devtlb", "wait")
             if INV_CLASSES.get(arch, {}).get(k)]
    if not doc["ats"]:
        kinds = [k for k in kinds if k != "devtlb"]
    head = "| workload | unit | mode |"
    sep = "|---|---|---|"
    for k in kinds:
        head += f" stock {INV_LABEL[k]} | ours {INV_LABEL[k]} | ours/stock |"
        sep += "---:|---:|---:|"
    md += ["Invalidation commands from QEMU's trace, per GB moved (sockperf: "
           "per 1000 transactions). " + (
               "IOTLB: page-range, domain and global VT-d descriptors; "
               "dev-TLB: device-TLB descriptors; waits: invalidation wait "
               "descriptors." if arch == "x86_64" else
               "IOTLB: SMMUv3 TLBI commands; waits: CMD_SYNCs."), "",
           head, sep]
    for w in WORKLOADS:
        unit = "per_ktrans" if w == "sockperf" else "per_gb"
        for mode in modes:
            row = f"| {w} | {'/1k trans.' if unit == 'per_ktrans' else '/GB'} | {mode} |"
            for k in kinds:
                key = f"{k}_{unit}"
                s = cells.get(f"stock/{mode}/{w}", {}).get(key)
                o = cells.get(f"ours/{mode}/{w}", {}).get(key)
                r = ratios.get(f"ours_stock/{mode}/{w}/{key}")
                row += f" {cell(s)} | {cell(o)} | {rcell(r)} |"
            md.append(row)
    md.append("")
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
                (f"{k}_{unit}", f"{INV_LABEL[k]} {'/1k trans.' if unit == 'per_ktrans' else '/GB'}")
                for k in kinds]
            for k, label in figs:
                rs = [ratios.get(f"safe_{m}/{w}/{k}") for m in others]
                # none measured, or none of them counted anything
                if not any(r and r["ratio"] is not None for r in rs):
                    continue
                md.append(f"| {w} | {label} | " +
                          " | ".join(rcell(r) for r in rs) + " |")
        md.append("")
    if bad:
        md += ["Failed boots (their workloads that ran are counted): " +
               ", ".join(f"{b['name']} ({b.get('error') or '%s failed' % b.get('failed')})"
                         for b in bad), ""]
    return md


def plots(doc, d, gnuplot):
    """Two PNGs in @d: ours/stock throughput per workload and mode, and
    IOTLB invalidations per GB, stock and ours. @gnuplot(script, png) runs
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
    plot = [f"'{dat}' using {i + 2}:xtic(1) title '{m}'"
            for i, m in enumerate(modes)]
    script = (f"set terminal png size 900,560\nset output '{png}'\n"
              f"set title 'Device workloads, {title}: throughput ours/stock "
              f"(median of {doc['rounds']} boots)'\n"
              "set style data histogram\nset style histogram cluster gap 1\n"
              "set style fill solid 0.8\nset key autotitle columnhead "
              "outside right\nset xtics rotate by -30 noenhanced\n"
              "set grid ytics\nset yrange [0:*]\n"
              "set arrow from graph 0, first 1 to graph 1, first 1 nohead "
              "dt 2\nplot " + ", ".join(plot) + "\n")
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
              "set xtics rotate by -30 noenhanced\nset key outside right\n"
              f"plot '{dat}' using ($2+1):xtic(1) title 'stock', "
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
