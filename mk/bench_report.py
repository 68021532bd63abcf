#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Merge the benchmark outputs under build/bench/ into results.json, a
Markdown summary and gnuplot PNG plots."""

import glob
import json
import os
import platform
import shutil
import subprocess
import sys


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def gnuplot(script, out):
    if not shutil.which("gnuplot"):
        return False
    r = subprocess.run(["gnuplot"], input=script, text=True,
                       capture_output=True)
    if r.returncode != 0:
        sys.stderr.write(r.stderr)
    return r.returncode == 0 and os.path.exists(out)


def guest_plots(d, guests, plots):
    """Latency against threads per mode, and invalidations per run."""
    for name, doc in sorted(guests.items()):
        rows = doc.get("rows", [])
        if not rows:
            continue
        # enhanced text: an underscore would start a subscript
        title = name.replace("_", "\\_")
        dat = os.path.join(d, f"{name}.dat")
        modes = []
        with open(dat, "w") as f:
            for mode in dict.fromkeys(r["mode"] for r in rows):
                modes.append(mode)
                f.write(f"# {mode}\n")
                for r in rows:
                    if r["mode"] != mode:
                        continue
                    s, o = r.get("stock") or {}, r.get("ours") or {}
                    vals = [s.get("map_us"), s.get("unmap_us"),
                            o.get("map_us"), o.get("unmap_us")]
                    f.write(f"{r['threads']} " + " ".join(
                        "NaN" if v is None else str(v) for v in vals) + "\n")
                f.write("\n\n")
        png = os.path.join(d, f"{name}-latency.png")
        plot = []
        for i, mode in enumerate(modes):
            plot += [
                f"'{dat}' index {i} using 1:3 with linespoints title '{mode} stock unmap'",
                f"'{dat}' index {i} using 1:5 with linespoints title '{mode} ours unmap'",
                f"'{dat}' index {i} using 1:2 with linespoints dt 2 title '{mode} stock map'",
                f"'{dat}' index {i} using 1:4 with linespoints dt 2 title '{mode} ours map'",
            ]
        script = (f"set terminal png size 900,560\nset output '{png}'\n"
                  f"set title 'dma\\_map\\_benchmark latency, {title}'\n"
                  "set xlabel 'threads'\nset ylabel 'us per operation'\n"
                  "set logscale y\n"
                  "set key outside right\nset xtics 1\nset grid\n"
                  "plot " + ", \\\n  ".join(plot) + "\n")
        if gnuplot(script, png):
            plots.append(os.path.basename(png))

        dat = os.path.join(d, f"{name}-inv.dat")
        with open(dat, "w") as f:
            for r in rows:
                s, o = r.get("stock") or {}, r.get("ours") or {}
                label = f"{r['mode']}-{r['threads']}t"
                f.write(f"{label} {per_m(s) or 0} {per_m(o) or 0}\n")
        png = os.path.join(d, f"{name}-invalidations.png")
        script = (f"set terminal png size 900,560\nset output '{png}'\n"
                  "set title 'IOTLB invalidations per million unmaps "
                  f"(QEMU trace), {title}'\n"
                  "set style data histogram\nset style histogram cluster gap 1\n"
                  "set style fill solid 0.8\nset logscale y\nset yrange [1:*]\n"
                  "set xtics rotate by -30\nset key outside right\n"
                  f"plot '{dat}' using ($2+1):xtic(1) title 'stock', "
                  f"'' using ($3+1) title 'ours'\n")
        if gnuplot(script, png):
            plots.append(os.path.basename(png))


def per_m(summary):
    """Invalidations per million unmaps: counted where the runs were, else
    the estimate (mk/guest/table.py)."""
    v = summary.get("inv_per_m_counted")
    return v if v is not None else summary.get("inv_per_m_unmaps")


def harness_plots(d, harness, plots):
    """Tree nodes over the boot trace, if the harness recorded a series."""
    series = {}
    for b in (harness or {}).get("benchmarks", []):
        for impl in ("stock", "ours"):
            s = (b.get(impl) or {}).get("nodes_series")
            if s:
                series[impl] = s
    if not series:
        return
    dat = os.path.join(d, "boot-trace-nodes.dat")
    with open(dat, "w") as f:
        for impl, s in series.items():
            f.write(f"# {impl}\n")
            for x, y in s:
                f.write(f"{x} {y}\n")
            f.write("\n\n")
    png = os.path.join(d, "boot-trace-nodes.png")
    plot = [f"'{dat}' index {i} using 1:2 with lines title '{impl}'"
            for i, impl in enumerate(series)]
    script = (f"set terminal png size 900,560\nset output '{png}'\n"
              "set title 'rbtree nodes during a NIC-like boot trace'\n"
              "set xlabel 'mappings made'\nset ylabel 'rbtree nodes'\n"
              "set logscale y\nset grid\nplot " + ", ".join(plot) + "\n")
    if gnuplot(script, png):
        plots.append(os.path.basename(png))


def load_attack(d):
    """The stale IOTLB attack runs (attack-*.json, one JSON line each)."""
    runs = []
    for p in sorted(glob.glob(os.path.join(d, "attack-*.json"))):
        with open(p) as f:
            for line in f:
                line = line.strip()
                if line:
                    try:
                        runs.append(json.loads(line))
                    except ValueError:
                        pass
    return runs


def attack_cell(r):
    """One run: landed of counted (valid, trials), faults; "-" if none."""
    if not r:
        return "-"
    return "%s landed, %s counted of %s valid (%s trials), %s faults" % tuple(
        r.get(k, "?") for k in ("landed", "counted", "valid", "trials",
                                "faults"))


def attack_verdict(runs):
    """What the runs of one boot show against what the mode promises."""
    dtype = runs[0].get("type", "")
    if dtype not in ("DMA", "DMA-FQ", "DMA-SAFE"):
        return "nothing to attack"
    failed = [r.get("run", "?") for r in runs if r.get("verdict") == "fail"]
    skipped = [r.get("run", "?") for r in runs if r.get("verdict") == "skip"]
    if failed:
        return "BROKEN: %s failed" % ", ".join(failed)
    landed = sum(r.get("landed", 0) for r in runs
                 if r.get("run") not in ("control", "load-control"))
    text = "open: %d landed (known)" % landed if dtype == "DMA-FQ" \
        else "closed"
    if skipped:
        text += "; no evidence: %s" % ", ".join(skipped)
    return text


def attack_table(runs):
    """Per architecture, kernel and mode: the quiet order-0 run and the run
    under map/unmap load side by side, the other runs (controls, release,
    victim kinds) in the verdict."""
    md = ["## Stale IOTLB attack (selftests/iova/iotlb_attack.sh)", "",
          "A device (QEMU's edu) writes through an IOTLB entry left from a",
          "mapping its driver has unmapped and freed; a write *lands* when",
          "it reaches memory the kernel has handed to somebody else. Cells",
          "(order-0 pages): writes landed, trials counted (strict: memory",
          "reused; safe: write hit the held victim or memory reused; lazy:",
          "landed) of valid trials, IOMMU fault reports (rate-limited: a",
          "lower bound). The verdict covers every run of the boot: the",
          "never-invalidating control, the write after the release, each",
          "victim kind.", "",
          "| arch | kernel | mode | domain | quiet | under load | verdict |",
          "|---|---|---|---|---|---|---|"]
    groups = {}
    for r in runs:
        key = (r.get("arch", ""), r.get("flavor", ""), r.get("mode", ""))
        groups.setdefault(key, []).append(r)
    for key, g in groups.items():
        q = [r for r in g if r.get("run") == "page" or
             ("run" not in r and not r.get("load", 0))]
        ld = [r for r in g if r.get("run") == "load-page" or
              ("run" not in r and r.get("load", 0))]
        q = q[-1] if q else None
        ld = ld[-1] if ld else None
        md.append("| %s | %s | %s | %s | %s | %s | %s |" % (
            key[0], key[1], key[2], g[0].get("type", ""),
            attack_cell(q), attack_cell(ld), attack_verdict(g)))
    return md + [""]


def shared_lock_table(harness):
    """Domain-wide lock acquisitions per million operations, per size."""
    sl = (harness or {}).get("shared_locks") or {}
    classes = sl.get("classes") or []
    if not classes:
        return []
    patterns = []
    for c in classes:
        for k in c:
            if k.startswith("ours."):
                p = k[len("ours."):]
                if p not in patterns:
                    patterns.append(p)
    md = ["## Shared-lock acquisitions per million map/unmap operations", "",
          "Userspace harness, %s threads (one simulated CPU each), up to %s"
          " ranges in flight per thread, counted after a warm-up: the"
          " domain's tree lock plus its other domain-wide locks (ours: the"
          " depot; stock: the per-size rcache locks). Target: ours <= 1,000"
          " for every size up to 1024 pages. The figures"
          " `ours.shared_lock_per_m_ops.pages_N` and"
          " `stock.shared_lock_per_m_ops.pages_N` in results.json are the"
          " worst pattern of each size." % (sl.get("threads"),
                                             sl.get("in_flight_per_thread")),
          "",
          "| pages | " + " | ".join("stock %s | ours %s" % (p, p) for p in patterns)
          + " | ours worst |",
          "|---|" + "---|---|" * len(patterns) + "---|"]
    for c in classes:
        row = ["%d" % c["pages"]]
        worst = 0.0
        for p in patterns:
            s = (c.get("stock." + p) or {}).get("shared_lock_per_m_ops")
            o = (c.get("ours." + p) or {}).get("shared_lock_per_m_ops")
            row += ["-" if s is None else "{:,.0f}".format(s),
                    "-" if o is None else "{:,.0f}".format(o)]
            worst = max(worst, o or 0.0)
        row.append("{:,.0f}".format(worst))
        md.append("| " + " | ".join(row) + " |")
    return md + [""]


def main():
    d = sys.argv[1]
    harness = load(os.path.join(d, "harness.json"))
    guests = {}
    for p in sorted(glob.glob(os.path.join(d, "compare-*.json"))):
        name = os.path.basename(p)[:-5]
        doc = load(p)
        if doc:
            guests[name] = doc
    plots = []
    guest_plots(d, guests, plots)
    harness_plots(d, harness, plots)

    results = {
        "host": {"cpus": os.cpu_count(), "machine": platform.machine()},
        "harness": harness,
        "guests": guests,
        "plots": plots,
        "attack": load_attack(d),
    }
    # Flat figures other tools quote ("ours.X" / "stock.X").
    figures = {}
    for k, v in ((harness or {}).get("figures") or {}).items():
        figures[k] = v
    # Guests: e.g. ours.x86_64-g1.lazy.t2.map_us (compare-x86_64-g1.json)
    for name, doc in guests.items():
        tag = name[len("compare-"):]
        for r in doc.get("rows", []):
            for flavor in ("stock", "ours"):
                v = r.get(flavor) or {}
                for k in ("map_us", "unmap_us", "inv_per_m_unmaps",
                          "inv_per_m_counted"):
                    if v.get(k) is not None:
                        figures[f"{flavor}.{tag}.{r['mode']}.t{r['threads']}.{k}"] = v[k]
    results["figures"] = figures
    with open(os.path.join(d, "results.json"), "w") as f:
        json.dump(results, f, indent=1)
        f.write("\n")

    md = ["# Benchmarks: stock 6.12 against this series, same run", ""]
    txt = os.path.join(d, "harness.txt")
    if os.path.exists(txt):
        md += ["## Userspace harness (tools/testing/iova)", "", "```",
               open(txt).read().rstrip(), "```", ""]
    md += shared_lock_table(harness)
    for name in sorted(guests):
        t = os.path.join(d, f"{name}.txt")
        if os.path.exists(t):
            md += [f"## Guest: {name}", "", open(t).read().rstrip(), ""]
    if results["attack"]:
        # Also on its own, for the cover letter (mk/series.sh).
        table = attack_table(results["attack"])
        with open(os.path.join(d, "attack.md"), "w") as f:
            f.write("\n".join(table))
        md += table
    elif os.path.exists(os.path.join(d, "attack.md")):
        os.remove(os.path.join(d, "attack.md"))
    if plots:
        md += ["## Plots", ""] + [f"![{p}]({p})" for p in plots] + [""]
    with open(os.path.join(d, "summary.md"), "w") as f:
        f.write("\n".join(md))


if __name__ == "__main__":
    main()
