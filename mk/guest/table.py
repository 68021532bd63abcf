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
import textwrap

MODE_PARAM = {
    "strict": "iommu.strict=1",
    "lazy": "iommu.strict=0",
    "safedefer": "iommu.safedefer=1",
    "passthrough": "iommu.passthrough=1",
}
INV_CLASSES = ("pages", "domain", "global")
# What the invalidations cost, by QEMU's trace (mk/guest/lib.sh
# inv_events): the invalidation commands the IOMMU consumed (VT-d IOTLB
# and device-TLB descriptors; SMMUv3 TLBI commands) and the completion
# waits (VT-d invalidation wait descriptors; SMMUv3 CMD_SYNC).
CMD_CLASSES = {"x86_64": ("pages", "domain", "global", "devtlb"),
               "arm64": ("tlbi",)}
WAIT_CLASSES = {"x86_64": ("wait",), "arm64": ("sync",)}


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


def counted_per_m(rec, classes):
    """Trace events of @classes per million unmaps of a run's counted run;
    None where the run was not counted or traced no class of them (a
    trace of an older event list)."""
    inv, n = rec.get("inv_counted"), num(rec.get("unmaps"))
    if not inv or not n or not any(c in inv for c in classes):
        return None
    return sum(inv.get(c, 0) for c in classes) * 1e6 / n


def summarise(recs, arch):
    """The median of repeated runs of one configuration."""
    out = {"type": recs[0].get("type"), "runs": len(recs)}
    for k in ("map_us", "map_sd", "unmap_us", "unmap_sd"):
        out[k] = median([num(r.get(k)) for r in recs])
    out["inv_per_m_unmaps"] = median([inv_per_m(r) for r in recs])
    counted = [counted_inv_per_m(r) for r in recs]
    out["inv_per_m_counted"] = (median(counted)
                                if all(v is not None for v in counted)
                                else None)
    # Commands and completion waits, counted runs only: an estimate of
    # the unmaps is too rough for a cost per unmap.
    for key, classes in (("cmds_per_m_unmaps", CMD_CLASSES),
                         ("waits_per_m_unmaps", WAIT_CLASSES)):
        vals = [counted_per_m(r, classes.get(arch, ())) for r in recs]
        out[key] = (median(vals) if vals and
                    all(v is not None for v in vals) else None)
    unmaps = [num(r.get("unmaps")) for r in recs]
    out["unmaps_counted"] = (int(sum(unmaps)) if unmaps and
                             all(u is not None for u in unmaps) else None)
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

# Wall time of the same kernel in the same mode differs by this much from
# one TCG boot to the next (measured across this project's comparison
# runs): the band a ratio must leave to mean something when a run has too
# few boots to measure its own spread.
NOISE_ASSUMED = 0.30

# dma_map_benchmark's resolution, 0.1 us, in ns.
BENCH_RES_NS = 100.0


def boot_medians(recs, key):
    """The median of each boot's runs: repeats within a boot agree far
    better than boots do, so only boots measure the noise."""
    per_boot = {}
    for r in recs:
        v = num(r.get(key))
        if v is not None:
            per_boot.setdefault(r.get("name"), []).append(v)
    return [statistics.median(v) for v in per_boot.values()]


def spread(recs, key):
    """(max - min) / median over the boots, or None below two boots."""
    vals = boot_medians(recs or [], key)
    if len(vals) < 2 or not statistics.median(vals):
        return None
    return (max(vals) - min(vals)) / statistics.median(vals)


def noise(stock_recs, ours_recs, key):
    """The band around 1 inside which a stock/ours ratio of @key is noise:
    the larger spread between boots of the two kernels where both were
    booted at least twice (at least one step of the benchmark's
    resolution), else NOISE_ASSUMED. Returns (band, measured)."""
    s, o = spread(stock_recs, key), spread(ours_recs, key)
    if s is None or o is None:
        return NOISE_ASSUMED, False
    # Never finer than the benchmark's 0.1 us resolution.
    vals = boot_medians(stock_recs, key) + boot_medians(ours_recs, key)
    res = BENCH_RES_NS / 1000 / min(vals) if min(vals) > 0 else 0
    return max(s, o, res), True


def within(r, band):
    return r is not None and 1 / (1 + band) <= r <= 1 + band


def ratio_str(r, band):
    """A ratio, marked "~" when it lies inside the noise band."""
    if r is None:
        return "-"
    return ("~" if within(r, band) else "") + f"{r:.2f}"


def instructions(us, shift):
    """Instructions per operation of a run under -icount shift=N: the
    guest clock advanced 2^N ns per instruction executed."""
    return None if us is None else us * 1000.0 / (1 << shift)


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
    iruns = {}
    boots = []
    iboots = []
    shift = None
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        rec = json.loads(line)
        if rec.get("boot"):
            (iboots if rec.get("icount") is not None else boots).append(rec)
            continue
        key = (rec["mode"], int(rec["threads"]), rec["flavor"])
        if rec.get("icount") is not None:
            shift = int(rec["icount"])
            iruns.setdefault(key, []).append(rec)
        else:
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
                row[flavor] = summarise(recs, args.arch) if recs else None
            s, o = row["stock"] or {}, row["ours"] or {}
            row["ratio"] = {
                "map": ratio(s.get("map_us"), o.get("map_us")),
                "unmap": ratio(s.get("unmap_us"), o.get("unmap_us")),
            }
            row["noise"] = {}
            for k in ("map", "unmap"):
                band, measured = noise(runs.get((mode, t, "stock")),
                                       runs.get((mode, t, "ours")),
                                       k + "_us")
                row["noise"][k] = {
                    "band": band, "measured": measured,
                    "within": within(row["ratio"][k], band)}
            rows.append(row)

    # The exact measure: instructions per operation under -icount.
    irows = []
    for mode in modes:
        for t in sorted({k[1] for k in iruns}):
            row = {"mode": mode, "param": MODE_PARAM.get(mode, mode),
                   "threads": t, "icount_shift": shift}
            for flavor in ("stock", "ours"):
                recs = iruns.get((mode, t, flavor))
                if not recs:
                    row[flavor] = None
                    continue
                row[flavor] = {
                    "type": recs[0].get("type"), "runs": len(recs),
                    "map_insn": instructions(
                        median([num(r.get("map_us")) for r in recs]), shift),
                    "unmap_insn": instructions(
                        median([num(r.get("unmap_us")) for r in recs]), shift),
                }
            s, o = row["stock"] or {}, row["ours"] or {}
            if not s and not o:
                continue
            row["ratio"] = {
                k: (s[k + "_insn"] / o[k + "_insn"]
                    if s.get(k + "_insn") and o.get(k + "_insn") else None)
                for k in ("map", "unmap")}
            irows.append(row)

    def domains(s, o):
        st, ot = s.get("type") or "-", o.get("type") or "-"
        return st if st == ot else f"{st} / {ot}"

    head = ["mode", "domain", "threads", "stock map/unmap us", "ours map/unmap us",
            "stock/ours map", "stock/ours unmap",
            "inv stock pages/dom/glob", "inv ours pages/dom/glob",
            "inv per M unmaps stock / ours", "unmap noise"]
    table = []
    for r in rows:
        s, o = r["stock"] or {}, r["ours"] or {}
        table.append([
            r["param"], domains(s, o), str(r["threads"]),
            f"{fmt(s.get('map_us'))} / {fmt(s.get('unmap_us'))}",
            f"{fmt(o.get('map_us'))} / {fmt(o.get('unmap_us'))}",
            ratio_str(r["ratio"]["map"], r["noise"]["map"]["band"]),
            ratio_str(r["ratio"]["unmap"], r["noise"]["unmap"]["band"]),
            inv_str(s.get("inv")), inv_str(o.get("inv")),
            f"{per_m_of(s)} / {per_m_of(o)}",
            "±%.0f%%%s" % (100 * r["noise"]["unmap"]["band"],
                           "" if r["noise"]["unmap"]["measured"] else "*"),
        ])
    def render(head, table):
        widths = [max(len(x) for x in col) for col in zip(head, *table)]

        def line(cells):
            return "| " + " | ".join(c.ljust(w) for c, w in
                                     zip(cells, widths)) + " |"
        return ([line(head),
                 "|" + "|".join("-" * (w + 2) for w in widths) + "|"] +
                [line(r) for r in table])

    nruns = sorted({len(v) for v in runs.values()})
    rep = "/".join(str(n) for n in nruns) or "0"
    out = [
        f"dma_map_benchmark, {args.arch} guest under "
        f"{args.qemu or 'QEMU'}, {args.seconds}s per run, "
        f"granule {args.granule} page(s), median of {rep} run(s); "
        f"kernel {args.kernel}",
    ]
    out += render(head, table)
    bands = [n for r in rows for n in r["noise"].values()]
    if bands and all(n["measured"] for n in bands):
        how = ("the larger spread between boots of stock and ours in "
               "this run, per row and measure (the unmap's in the last "
               "column)")
    else:
        how = ("the spread between boots of stock and ours in this run "
               "where both were booted twice or more, else (marked '*') "
               "%.0f%%, the spread measured between single boots of one "
               "kernel in one mode (BENCH_ROUNDS=2 or more measures "
               "this run's own)" % (100 * NOISE_ASSUMED))
    out.append("stock/ours above 1: ours is faster ('-' where a latency is "
               "below 0.2 us, the benchmark's resolution being 0.1 us); "
               "'~': within the noise of wall time under TCG, " + how +
               ", so the two are not told apart. "
               "Domain: the IOMMU "
               "group type, stock / ours where they differ. Invalidations: "
               "QEMU trace events counted during each run (page-range / "
               "domain / global); per million unmaps, all classes: "
               "counted in a second run of the same benchmark with the "
               "iommu:unmap tracepoint counting its unmaps, or, marked "
               "'~', with the unmaps of the run estimated as threads x "
               "seconds / (map + unmap latency).")
    chead = ["mode", "threads", "stock cmds / waits", "ours cmds / waits",
             "unmaps counted stock / ours"]
    ctable = []
    for r in rows:
        s, o = r["stock"] or {}, r["ours"] or {}
        if s.get("cmds_per_m_unmaps") is None and \
                o.get("cmds_per_m_unmaps") is None:
            continue
        ctable.append([
            r["param"], str(r["threads"]),
            f"{per_m_str(s.get('cmds_per_m_unmaps'))} / "
            f"{per_m_str(s.get('waits_per_m_unmaps'))}",
            f"{per_m_str(o.get('cmds_per_m_unmaps'))} / "
            f"{per_m_str(o.get('waits_per_m_unmaps'))}",
            f"{per_m_str(s.get('unmaps_counted'))} / "
            f"{per_m_str(o.get('unmaps_counted'))}"])
    if ctable:
        cmd, wait = ("IOTLB invalidation descriptors (page, domain, "
                     "global, device-TLB)", "invalidation wait "
                     "descriptors") if args.arch == "x86_64" else (
                     "TLBI commands", "CMD_SYNCs")
        out += ["", "Invalidation commands and completion waits per "
                f"million unmaps (QEMU trace of the counted runs: {cmd}; "
                f"{wait})"]
        out += render(chead, ctable)
    if irows:
        ihead = ["mode", "domain", "threads", "stock map/unmap insn",
                 "ours map/unmap insn", "stock/ours map", "stock/ours unmap"]
        itable = []
        for r in irows:
            s, o = r["stock"] or {}, r["ours"] or {}
            itable.append([
                r["param"], domains(s, o), str(r["threads"]),
                f"{fmt(s.get('map_insn'), 0)} / {fmt(s.get('unmap_insn'), 0)}",
                f"{fmt(o.get('map_insn'), 0)} / {fmt(o.get('unmap_insn'), 0)}",
                fmt(r["ratio"]["map"], 2), fmt(r["ratio"]["unmap"], 2)])
        res = BENCH_RES_NS / (1 << shift)
        out += ["", "Instructions per map and unmap (exact: QEMU -icount "
                f"shift={shift}, the guest clock counting {1 << shift} ns "
                "per instruction executed; the same in every boot, to "
                f"{res:g} instructions, the benchmark's 0.1 us)"]
        out += render(ihead, itable)
        out.append("These ratios are exact, not subject to the wall-time "
                   "noise. A stock kernel ignores iommu.safedefer=1: its "
                   "row is stock's lazy mode.")
    failed = [b["name"] for b in boots if b.get("error") or b.get("failed")]
    if failed:
        out.append("FAILED boots: " + ", ".join(failed))
    ifailed = [b["name"] for b in iboots if b.get("error") or b.get("failed")]
    if ifailed:
        out.append("-icount boots that did not finish (QEMU 7.2 stalls such "
                   "a guest now and then; their rows are missing): " +
                   ", ".join(ifailed))
    # Notes on one line each in out[]: wrapped for a terminal.
    text = "\n".join(l if l.startswith("|") else
                     textwrap.fill(l, 100, break_on_hyphens=False)
                     for l in out) + "\n"
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
        "noise_assumed": NOISE_ASSUMED,
        "icount_rows": irows,
        "boots": boots,
        "icount_boots": iboots,
    }
    with open(args.json, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    return 1 if failed or not rows else 0


if __name__ == "__main__":
    sys.exit(main())
