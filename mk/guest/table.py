#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Turn the JSON lines of the comparison boots (mk/guest/boot.sh) into one
table of stock against ours, printed and written as text and JSON."""

import argparse
import datetime
import json
import os
import statistics
import sys

MODE_PARAM = {
    "strict": "iommu.strict=1",
    "lazy": "iommu.strict=0",
    "safedefer": "iommu.safedefer=1",
    "passthrough": "iommu.passthrough=1",
}
INV_CLASSES = ("pages", "domain", "global")


def num(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def fmt(v, digits=1):
    return "-" if v is None else f"{v:.{digits}f}"


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def inv_per_m(rec):
    """Invalidations (every class) per million unmaps of one run.

    dma_map_benchmark reports mean latencies, not how many unmaps its
    threads made; each thread maps and unmaps in a loop, so a run of S
    seconds with T threads made about T * S / (map + unmap) unmaps. The
    loop's own overhead (its clock reads) is left out, so this slightly
    overestimates the unmaps, alike for stock and ours."""
    inv, m, u = rec.get("inv"), num(rec.get("map_us")), num(rec.get("unmap_us"))
    t, secs = num(rec.get("threads")), num(rec.get("seconds"))
    if not inv or not m or not u or not t or not secs:
        return None
    unmaps = t * secs * 1e6 / (m + u)
    return sum(inv.get(c, 0) for c in INV_CLASSES) * 1e6 / unmaps


def counted_inv_per_m(rec):
    """Invalidations (every class) per million unmaps of a run's counted
    run (dma_map_bench.sh IOVA_BENCH_COUNT): the same benchmark again with
    the iommu:unmap tracepoint counting its unmaps exactly."""
    inv, n = rec.get("inv_counted"), num(rec.get("unmaps"))
    if not inv or not n:
        return None
    return sum(inv.get(c, 0) for c in INV_CLASSES) * 1e6 / n


def summarise(recs):
    """The median of repeated runs of one configuration."""
    out = {"type": recs[0].get("type"), "runs": len(recs)}
    for k in ("map_us", "map_sd", "unmap_us", "unmap_sd"):
        out[k] = median([num(r.get(k)) for r in recs])
    out["inv_per_m_unmaps"] = median([inv_per_m(r) for r in recs])
    counted = [counted_inv_per_m(r) for r in recs]
    out["inv_per_m_counted"] = (median(counted)
                                if all(v is not None for v in counted)
                                else None)
    invs = [r["inv"] for r in recs if r.get("inv")]
    out["inv"] = None
    if invs:
        out["inv"] = {c: int(median([i.get(c, 0) for i in invs]))
                      for c in invs[0]}
    out["samples"] = [{k: r.get(k) for k in
                       ("map_us", "unmap_us", "inv", "unmaps",
                        "count_map_us", "count_unmap_us",
                        "inv_counted")} for r in recs]
    return out


# dma_map_benchmark reports in units of 0.1 us: below two units a ratio
# says nothing.
RATIO_MIN_US = 0.2


def ratio(stock, ours):
    """stock / ours: above 1 means ours is faster."""
    if stock is None or ours is None or min(stock, ours) < RATIO_MIN_US:
        return None
    return stock / ours


def per_m_str(v):
    return "-" if v is None else f"{v:,.0f}"


def per_m_of(summary):
    """The counted figure where every run has one, else the estimate
    marked with a "~"."""
    if summary.get("inv_per_m_counted") is not None:
        return per_m_str(summary["inv_per_m_counted"])
    est = summary.get("inv_per_m_unmaps")
    return "-" if est is None else "~" + per_m_str(est)


def inv_str(inv):
    if not inv:
        return "-"
    return "/".join(str(inv.get(c, 0)) for c in INV_CLASSES)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--arch", required=True)
    ap.add_argument("--modes", required=True)
    ap.add_argument("--seconds", type=int, required=True)
    ap.add_argument("--granule", type=int, required=True)
    ap.add_argument("--qemu", default="")
    ap.add_argument("--kernel", default="")
    ap.add_argument("--json", required=True)
    ap.add_argument("--text", required=True)
    args = ap.parse_args()

    runs = {}
    boots = []
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        rec = json.loads(line)
        if rec.get("boot"):
            boots.append(rec)
            continue
        key = (rec["mode"], int(rec["threads"]), rec["flavor"])
        runs.setdefault(key, []).append(rec)

    rows = []
    modes = args.modes.split()
    threads = sorted({k[1] for k in runs})
    for mode in modes:
        for t in threads:
            row = {"mode": mode, "param": MODE_PARAM.get(mode, mode),
                   "threads": t}
            for flavor in ("stock", "ours"):
                recs = runs.get((mode, t, flavor))
                row[flavor] = summarise(recs) if recs else None
            s, o = row["stock"] or {}, row["ours"] or {}
            row["ratio"] = {
                "map": ratio(s.get("map_us"), o.get("map_us")),
                "unmap": ratio(s.get("unmap_us"), o.get("unmap_us")),
            }
            rows.append(row)

    def domains(s, o):
        st, ot = s.get("type") or "-", o.get("type") or "-"
        return st if st == ot else f"{st} / {ot}"

    head = ["mode", "domain", "threads", "stock map/unmap us", "ours map/unmap us",
            "stock/ours map", "stock/ours unmap",
            "inv stock pages/dom/glob", "inv ours pages/dom/glob",
            "inv per M unmaps stock / ours"]
    table = []
    for r in rows:
        s, o = r["stock"] or {}, r["ours"] or {}
        table.append([
            r["param"], domains(s, o), str(r["threads"]),
            f"{fmt(s.get('map_us'))} / {fmt(s.get('unmap_us'))}",
            f"{fmt(o.get('map_us'))} / {fmt(o.get('unmap_us'))}",
            fmt(r["ratio"]["map"], 2), fmt(r["ratio"]["unmap"], 2),
            inv_str(s.get("inv")), inv_str(o.get("inv")),
            f"{per_m_of(s)} / {per_m_of(o)}",
        ])
    widths = [max(len(x) for x in col) for col in zip(head, *table)]

    def line(cells):
        return "| " + " | ".join(c.ljust(w) for c, w in
                                 zip(cells, widths)) + " |"

    nruns = sorted({len(v) for v in runs.values()})
    rep = "/".join(str(n) for n in nruns) or "0"
    out = [
        f"dma_map_benchmark, {args.arch} guest under "
        f"{args.qemu or 'QEMU'}, {args.seconds}s per run, "
        f"granule {args.granule} page(s), median of {rep} run(s); "
        f"kernel {args.kernel}",
        line(head),
        "|" + "|".join("-" * (w + 2) for w in widths) + "|",
    ]
    out += [line(r) for r in table]
    out.append("stock/ours above 1: ours is faster ('-' where a latency is "
               "below 0.2 us, the benchmark's resolution being 0.1 us). "
               "Domain: the IOMMU "
               "group type, stock / ours where they differ. Invalidations: "
               "QEMU trace events counted during each run (page-range / "
               "domain / global); per million unmaps, all classes: "
               "counted in a second run of the same benchmark with the "
               "iommu:unmap tracepoint counting its unmaps, or, marked "
               "'~', with the unmaps of the run estimated as threads x "
               "seconds / (map + unmap latency).")
    failed = [b["name"] for b in boots if b.get("error") or b.get("failed")]
    if failed:
        out.append("FAILED boots: " + ", ".join(failed))
    text = "\n".join(out) + "\n"
    sys.stdout.write(text)

    os.makedirs(os.path.dirname(args.text) or ".", exist_ok=True)
    with open(args.text, "w") as f:
        f.write(text)
    doc = {
        "arch": args.arch,
        "kernel": args.kernel,
        "qemu": args.qemu,
        "seconds": args.seconds,
        "granule": args.granule,
        "host_cpus": os.cpu_count(),
        "date": datetime.datetime.now(datetime.timezone.utc)
                .isoformat(timespec="seconds"),
        "ratio": "stock/ours, above 1 means ours is faster",
        "rows": rows,
        "boots": boots,
    }
    with open(args.json, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    return 1 if failed or not rows else 0


if __name__ == "__main__":
    sys.exit(main())
