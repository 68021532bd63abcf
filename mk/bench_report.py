#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Merge the benchmark outputs under build/bench/ into results.json, the
report REPORT.md (tables, plots, the exact commands, QEMU and kernel
versions, machine, date), summary.md (its headline figures, which the
cover letter quotes) and gnuplot PNG plots.

  bench_report.py DIR [--publish RESULTS_DIR --readme README.md --top REPO]

--publish copies REPORT.md, results.json, summary.md, attack.md and the
plots to RESULTS_DIR (the cover letter quotes its summary.md and
attack.md) and
rewrites the headline block of README.md (between its "bench:headline"
markers) from the same figures, only when both parts of the run (see
PARTS) measured the code of REPO as it is, on a clean tree; otherwise it
says why and exits with status 3 after writing the report in DIR."""

import argparse
import datetime
import glob
import json
import os
import platform
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "guest"))
import devtable  # noqa: E402  (mk/guest/devtable.py)


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


def load_attack(d, top):
    """The stale IOTLB attack runs (attack-*.json, one JSON line each) of
    make check runs whose tree (attack-*.tree) had @top's code; and the
    names of the files left out, with why."""
    runs, left = [], []
    for p in sorted(glob.glob(os.path.join(d, "attack-*.json"))):
        try:
            with open(p[:-len(".json")] + ".tree") as f:
                tree = f.read().strip()
        except OSError:
            tree = ""
        why = code_differs(top, tree)
        if why:
            left.append(f"{os.path.basename(p)}: {why}")
            continue
        with open(p) as f:
            for line in f:
                line = line.strip()
                if line:
                    try:
                        runs.append(json.loads(line))
                    except ValueError:
                        pass
    return runs, left


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
                 if not r.get("run", "").startswith(("control",
                                                     "load-control")))
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


def capacity_table(harness):
    """32-bit capacity: % of the space below 4 GiB mapped, stock and ours."""
    cap = (harness or {}).get("capacity32") or {}
    rows = cap.get("rows") or []
    if not rows:
        return []
    md = ["## 32-bit capacity", "",
          "Userspace harness: a device limited to 32 bits maps a scenario"
          " (sizes in pages; +31x1: 31 one-page mappings after each large"
          " one; mix: 100, 1, 1, 1, 33, 1, 500, 1, 65, 2, 1, 4) on a fresh"
          " domain until its first failure, or, full, until no size of the"
          " scenario fits any more; churn: %s CPUs first map and unmap a mix"
          " of sizes. Percent of the %s pages below 4 GiB. Target: ours >="
          " stock in every row." % (
              max((r.get("churn_cpus") or 0) for r in rows) or "-",
              "{:,}".format(cap.get("space_pages", 0))), "",
          "| scenario | churn | full | stock % | ours % | ours - stock (pages) |",
          "|---|---|---|---|---|---|"]
    for r in rows:
        md.append("| %s | %s | %s | %.1f | %.1f | %s |" % (
            r["scenario"], r.get("churn_cpus") or "-",
            "yes" if r.get("full") else "no", r["stock_pct"], r["ours_pct"],
            "{:,}".format(r["ours_pages"] - r["stock_pages"])))
    return md + [""]


def read_first(path, pattern):
    """The first match of @pattern's group 1 in @path, or None."""
    try:
        with open(path) as f:
            m = re.search(pattern, f.read(), re.M)
            return m.group(1).strip() if m else None
    except OSError:
        return None


def host_info():
    """The machine the benchmarks ran on."""
    mem = read_first("/proc/meminfo", r"^MemTotal:\s+(\d+)")
    return {
        "cpus": os.cpu_count(),
        "machine": platform.machine(),
        "cpu_model": read_first("/proc/cpuinfo", r"^model name\s*:\s*(.*)$"),
        "memory_gib": round(int(mem) / 1048576, 1) if mem else None,
        "host_kernel": platform.release(),
        "os": read_first("/etc/os-release", r'^PRETTY_NAME="?([^"\n]*)'),
    }


# The parts of `make bench` (BENCH_ONLY runs one of them): "allocator" is
# the harness, the UML benchmark, the dma_map_benchmark guests and the
# IRQs-off measure; "devices" the NVMe and NIC workloads.
PARTS = ("allocator", "devices")
# The architectures a published report covers.
ARCHES = ("x86_64", "arm64")

# What the parts measure: the kernel code, patches and tests, and the
# scripts that build and boot them (not those of make check's boots and
# of the Debian guest). Text, the published copy and the
# scripts that only report or package (this one, mk/bench.sh, whose
# commands each part records as run, mk/series.sh) may change between
# two parts of one report.
MEASURED = ("drivers", "include", "tools", "Kconfig", "Makefile",
            "patches/series", "patches/*.patch", "mk/guest",
            ":(exclude)mk/guest/selftests.sh", ":(exclude)mk/guest/debian*",
            "mk/lib.sh", "mk/tree.sh",
            "mk/deps.sh", "mk/harness.sh", "mk/kunit.sh", "mk/kunit-bench.sh")


def read_lines(path):
    try:
        with open(path) as f:
            return [l.rstrip("\n") for l in f if l.strip()]
    except OSError:
        return []


def load_meta(d):
    """What mk/bench.sh recorded for each part it ran: dates, load,
    commit, environment (meta-PART.json) and commands (commands-PART.txt)."""
    parts = {}
    for p in PARTS:
        m = load(os.path.join(d, f"meta-{p}.json"))
        if m:
            m["commands"] = read_lines(os.path.join(d, f"commands-{p}.txt"))
            parts[p] = m
    return parts


def code_differs(top, tree):
    """Why the code measured at @tree (a tree_id of mk/bench.sh) is not
    @top's as it is now, or None when it is."""
    if not tree or tree == "unknown":
        return "no record of the tree it ran on"
    if tree.endswith("-dirty") or tree.endswith("-untracked"):
        return f"it ran on a modified tree ({tree})"
    r = subprocess.run(["git", "-C", top, "diff", "--quiet", tree, "--",
                        *MEASURED], capture_output=True)
    if r.returncode == 1:
        return f"it measured {tree}, whose code is not this tree's"
    if r.returncode:
        return f"{tree} is not a commit of this repository"
    r = subprocess.run(["bash", os.path.join(top, "mk", "tree-id.sh"), top],
                       capture_output=True, text=True)
    if r.stdout.strip().endswith("-untracked"):
        return "this tree has untracked files that make tree would use"
    return None


def unpublishable(parts, top, guests, devbench):
    """Why the parts in @parts are not one run of the code at @top (a list
    of reasons; empty when they are): every part must have run, passed,
    on both architectures, on a clean tree whose measured files are
    @top's."""
    why = []
    for p in PARTS:
        m = parts.get(p)
        if not m:
            why.append(f"the {p} part has not run")
            continue
        if "failed" not in m:
            why.append(f"the {p} part did not record whether it passed")
        elif m["failed"]:
            why.append(f"the {p} part failed: {' '.join(m['failed'])}")
        w = code_differs(top, m.get("commit"))
        if w:
            why.append(f"the {p} part: {w}")
    for p, have in (("allocator", {g.get("arch") for g in guests.values()}),
                    ("devices", set(devbench))):
        missing = sorted(set(ARCHES) - have)
        if missing:
            why.append(f"the {p} part has no {' and '.join(missing)} figures")
    return why


def bench_by_name(harness):
    return {b.get("name"): b for b in (harness or {}).get("benchmarks", [])}


def med(r):
    return ((r or {}).get("ns_per_op") or {}).get("median")


def x(v, digits=2):
    return "-" if v is None else f"{v:.{digits}f}x"


def harness_table(harness):
    """Every harness benchmark: stock and ours ns/op (median), the ratio,
    instructions where counted, and the target."""
    benches = (harness or {}).get("benchmarks", [])
    if not benches:
        return []
    cfg = harness.get("config") or {}
    mach = harness.get("machine") or {}
    md = ["## Userspace harness (tools/testing/iova)", "",
          "The real iova.c of stock and of this series, compiled into one "
          "harness, real threads standing in for CPUs; median of %s "
          "repetitions, %s CPUs (%s). Ratios are stock/ours: above 1, ours "
          "is faster." % (cfg.get("reps", "?"), mach.get("online_cpus", "?"),
                          mach.get("cpu", "?")), "",
          "| benchmark | what | stock ns/op | ours ns/op | stock/ours |"
          " instructions stock / ours | nodes stock / ours | target |",
          "|---|---|---|---|---|---|---|---|"]
    for b in benches:
        s, o = b.get("stock") or {}, b.get("ours") or {}
        ins = "-"
        if s.get("instructions_per_op") and o.get("instructions_per_op"):
            ins = "%.0f / %.0f" % (s["instructions_per_op"],
                                   o["instructions_per_op"])
        md.append("| %s | %s | %s | %s | %s | %s | %s | %s |" % (
            b.get("name"), b.get("what", ""),
            "-" if med(s) is None else f"{med(s):,.1f}",
            "-" if med(o) is None else f"{med(o):,.1f}",
            x(b.get("stock_over_ours")), ins,
            f"{s.get('nodes', '-'):,} / {o.get('nodes', '-'):,}"
            if isinstance(s.get("nodes"), int) and
            isinstance(o.get("nodes"), int) else "-",
            b.get("target", "")))
    return md + [""]


def kunit_table(kb):
    """The fast-path KUnit benchmark under UML, stock and ours in turn."""
    if not kb:
        return []
    st, ou = kb.get("stock_ns_per_pair") or [], kb.get("ours_ns_per_pair") or []
    rng = lambda v: "%.1f-%.1f" % (min(v), max(v)) if v else "-"
    return ["## KUnit benchmark under UML (drivers/iommu/tests/iova_bench_kunit.c)",
            "", "%s. The same test file built into stock 6.12 and into this "
            "series, one UML configuration, %d runs of each taking turns; "
            "ns per alloc+free pair, median (range). Above 1, ours is "
            "faster." % (kb.get("what", ""), len(st)), "",
            "| benchmark | stock ns/pair | ours ns/pair | stock/ours |",
            "|---|---|---|---|",
            "| %s | %.1f (%s) | %.1f (%s) | %s |" % (
                kb.get("bench"), kb.get("stock_median", 0), rng(st),
                kb.get("ours_median", 0), rng(ou), x(kb.get("stock_over_ours"))),
            ""]


def guest_row(doc, mode, threads):
    for r in doc.get("rows", []):
        if r.get("mode") == mode and r.get("threads") == threads:
            return r
    return None


def headline(harness, guests, cost=(), irqsoff=()):
    """A few ratios that say what the series buys and costs, each from
    the JSON of this run."""
    lines = []
    b = bench_by_name(harness)
    if ((harness or {}).get("config") or {}).get("quick"):
        lines.append("- (the harness ran its short --quick variant)")
    bt = b.get("boot_trace")
    if bt:
        lines.append("- rbtree nodes after a NIC-like boot trace of 30,000 "
                     "single-page mappings: stock {:,}, ours {:,}".format(
                         (bt.get("stock") or {}).get("nodes", 0),
                         (bt.get("ours") or {}).get("nodes", 0)))
    for name, label in (("large_allocs", "33-1024-page map+unmap"),
                        ("fragmented32", "allocation in a fragmented 32-bit space"),
                        ("boot_churn", "1-64-page churn on top of the boot trace"),
                        ("threads_16", "mixed sizes, 16 threads")):
        if name in b and b[name].get("stock_over_ours") is not None:
            lines.append(f"- harness, {label}: ours "
                         f"{x(b[name]['stock_over_ours'])} stock's throughput")
    ch = b.get("cache_hit")
    if ch:
        s, o = ch.get("stock") or {}, ch.get("ours") or {}
        if s.get("instructions_per_op") and o.get("instructions_per_op"):
            lines.append("- harness, a 1-page allocation and free (the "
                         "strict-mode path): stock %.0f, ours %.0f "
                         "instructions" % (s["instructions_per_op"],
                                           o["instructions_per_op"]))
    for name, doc in sorted(guests.items()):
        tag = "%s guest, granule %s" % (doc.get("arch", "?"),
                                        doc.get("granule", "?"))
        strict, safe = guest_row(doc, "strict", 1), guest_row(doc, "safedefer", 1)
        if strict and safe and (strict.get("stock") or {}).get("unmap_us") \
                and (safe.get("ours") or {}).get("unmap_us"):
            rs = strict["stock"]["unmap_us"] / safe["ours"]["unmap_us"]
            lines.append(f"- {tag}, 1 thread: safe deferred unmap "
                         f"{x(rs)} as fast as stock strict "
                         f"({strict['stock']['unmap_us']:.1f} / "
                         f"{safe['ours']['unmap_us']:.1f} us, wall time)")
        v = safe_over_stock_lazy(doc)
        if v:
            lines.append(f"- {tag}: safe deferred unmap costs {v[0]:.2f}x "
                         f"the instructions of stock lazy's ({v[1]:.0f} / "
                         f"{v[2]:.0f}, exact under -icount)")
        for t in (1, 2):
            lz, sf = guest_row(doc, "lazy", t), guest_row(doc, "safedefer", t)
            if not lz or not sf:
                continue
            a = per_m(lz.get("stock") or {})
            o = per_m(sf.get("ours") or {})
            if a and o:
                lines.append(f"- {tag}, {t} thread{'s' if t > 1 else ''}: "
                             f"safe deferred "
                             f"issues {o / a:.2f}x stock lazy's IOTLB "
                             f"invalidations per unmap ({o:,.0f} / "
                             f"{a:,.0f} per million)")
    for r in cost:
        if r["threads"] != 1 or r["safe_over_stock_lazy_waits"] is None:
            continue
        lines.append("- %s guest, granule %s: safe deferred issues %s stock "
                     "lazy's invalidation commands and %s its completion "
                     "waits per unmap (QEMU trace, counted unmaps)" % (
                         r["arch"], r["granule"],
                         x(r["safe_over_stock_lazy_cmds"]),
                         x(r["safe_over_stock_lazy_waits"])))
    for r in irqsoff:
        s, o = (r.get("stock") or {}).get("all") or {}, \
            (r.get("ours") or {}).get("all") or {}
        if s.get("max") and o.get("max"):
            lines.append("- %s guest, granule %s: longest IRQs-off section "
                         "of the flush code, safe deferred %d against stock "
                         "lazy's %d instructions (exact, single-stepped)" % (
                             r["arch"], r["granule"], o["max"], s["max"]))
    return lines


def safe_over_stock_lazy(doc):
    """Ours' safe deferred unmap over stock's lazy one, in instructions
    (exact, -icount, one thread), or None. The icount row of mode
    safedefer holds stock in its default mode, which is strict on arm64,
    so stock's figure is taken from the lazy row."""
    rows = {r.get("mode"): r for r in doc.get("icount_rows", [])
            if r.get("threads", 1) == 1}
    s = ((rows.get("lazy") or {}).get("stock") or {}).get("unmap_insn")
    o = ((rows.get("safedefer") or {}).get("ours") or {}).get("unmap_insn")
    return (o / s, o, s) if s and o else None


def short_headline(harness, guests, cost, irqsoff, devbench):
    """The few figures the README and the cover letter quote: one line per
    source, from the same JSON as the report's full headline."""
    lines = []
    b = bench_by_name(harness)
    parts = []
    for name, label in (("cache_hit", "1-page allocation and free (the "
                         "strict-mode path)"),
                        ("boot_churn", "1-64-page churn"),
                        ("large_allocs", "33-1024-page map+unmap"),
                        ("threads_1", "mixed sizes, one thread")):
        s_ = ((b.get(name) or {}).get("stock") or {}).get("instructions_per_op")
        o_ = ((b.get(name) or {}).get("ours") or {}).get("instructions_per_op")
        if s_ and o_:
            parts.append(f"{label} {x(s_ / o_)}")
    if parts:
        lines.append("- Allocator, userspace harness (the real iova.c, "
                     "stock and ours), instructions per operation (exact, "
                     "callgrind), stock/ours (above 1: ours is cheaper): " +
                     ", ".join(parts))
    parts = []
    v = (b.get("fragmented32") or {}).get("stock_over_ours")
    if v is not None:
        parts.append(f"allocation in a fragmented 32-bit space {x(v)} "
                     "stock's throughput")
    bt = b.get("boot_trace") or {}
    if bt:
        parts.append("rbtree nodes after a NIC-like boot trace of 30,000 "
                     "single-page mappings: stock {:,}, ours {:,}".format(
                         (bt.get("stock") or {}).get("nodes", 0),
                         (bt.get("ours") or {}).get("nodes", 0)))
    if parts:
        lines.append("- Allocator, harness: " + "; ".join(parts))
    for name, doc in sorted(guests.items()):
        if str(doc.get("granule")) != "1":
            continue
        arch = doc.get("arch", "?")
        said = []
        v = safe_over_stock_lazy(doc)
        if v:
            said.append(f"safe deferred unmap {v[0]:.2f}x stock lazy's "
                        f"instructions ({v[1]:.0f} / {v[2]:.0f}, exact, "
                        "-icount)")
        for r in cost:
            if r["arch"] == arch and str(r["granule"]) == "1" and \
                    r["threads"] == 1 and \
                    r["safe_over_stock_lazy_cmds"] is not None:
                said.append("%s its invalidation commands and %s its "
                            "completion waits per unmap" % (
                                x(r["safe_over_stock_lazy_cmds"]),
                                x(r["safe_over_stock_lazy_waits"])))
        for r in irqsoff:
            s2 = ((r.get("stock") or {}).get("all") or {}).get("max")
            o2 = ((r.get("ours") or {}).get("all") or {}).get("max")
            if r["arch"] == arch and str(r["granule"]) == "1" and s2 and o2:
                said.append(f"longest IRQs-off section of a flush {o2} "
                            f"instructions against stock lazy's {s2}")
        if said:
            lines.append(f"- {arch} guest ({DEV_IOMMU.get(arch, 'IOMMU')}), "
                         "dma_map_benchmark, 1 page, 1 thread: " +
                         "; ".join(said))
    for arch, doc in sorted(devbench.items()):
        tag = f"- {arch} guest ({DEV_IOMMU.get(arch, 'IOMMU')}), NVMe and NICs"
        spans = [f"{m} {v}" for m in ("strict", "lazy", "passthrough")
                 for v in [dev_span(doc, [f"ours_stock/{m}"], "instr")] if v]
        if spans:
            lines.append(f"{tag}, guest instructions per KiB moved, ours/"
                         f"stock (median of {doc.get('icount_rounds')} "
                         "-icount boots): " + "; ".join(spans))
        said = [f"{what} {v}" for what, pre, fig in (
            ("instructions against ours' lazy", "safe_lazy", "instr"),
            ("against ours' strict", "safe_strict", "instr"),
            ("IOTLB invalidations per GB against lazy", "safe_lazy", "iotlb"))
            for v in [dev_span(doc, [pre], fig)] if v]
        if said:
            lines.append(f"{tag}, safe deferred: " + "; ".join(said))
    return lines


# The device workloads by kind, and the figure each is compared on.
DEV_KINDS = (("NVMe", ("fio-4k", "fio-large")),
             ("NICs", ("iperf3-up", "iperf3-down", "sockperf")))
DEV_IOMMU = {"x86_64": "VT-d", "arm64": "SMMUv3"}


def dev_key(w, what):
    """@w's figure of @what ("instr" or "iotlb") in a devbench JSON."""
    if w == "sockperf":
        return {"instr": "instr_per_trans", "iotlb": "iotlb_per_ktrans"}[what]
    return {"instr": "instr_per_kib", "iotlb": "iotlb_per_gb"}[what]


def dev_span(doc, prefixes, what):
    """The lowest and highest ratio of @doc's ratios named PREFIX/W/FIGURE
    for each of @prefixes and each workload, by kind, with how many of
    them lie inside the noise: "NVMe 0.93-1.04x, NICs ..."."""
    out = []
    for kind, works in DEV_KINDS:
        rs = [doc["ratios"].get(f"{p}/{w}/{dev_key(w, what)}")
              for p in prefixes for w in works]
        rs = [r for r in rs if r and r.get("ratio") is not None]
        if not rs:
            continue
        lo = min(r["ratio"] for r in rs)
        hi = max(r["ratio"] for r in rs)
        noisy = sum(1 for r in rs if r["noise"])
        span = f"{lo:.2f}x" if f"{lo:.2f}" == f"{hi:.2f}" else \
            f"{lo:.2f}-{hi:.2f}x"
        out.append(f"{kind} {span} ({noisy}/{len(rs)} in noise)")
    return ", ".join(out)


# The columns of the cost table: (label, flavour, mode).
COST_COLUMNS = (("stock strict", "stock", "strict"),
                ("stock lazy", "stock", "lazy"),
                ("ours strict", "ours", "strict"),
                ("ours lazy", "ours", "lazy"),
                ("ours safe", "ours", "safedefer"))


def cost_rows(guests):
    """Per architecture, granule and threads: invalidation commands and
    completion waits per million unmaps of each kernel and mode, and safe
    mode's against stock lazy's (mk/guest/table.py)."""
    out = []
    for doc in guests.values():
        for t in sorted({r.get("threads") for r in doc.get("rows", [])}):
            row = {"arch": doc.get("arch"), "granule": doc.get("granule"),
                   "threads": t}
            for label, flavor, mode in COST_COLUMNS:
                v = (guest_row(doc, mode, t) or {}).get(flavor) or {}
                row[label.replace(" ", "_")] = {
                    "cmds_per_m_unmaps": v.get("cmds_per_m_unmaps"),
                    "waits_per_m_unmaps": v.get("waits_per_m_unmaps")}
            safe, lazy = row["ours_safe"], row["stock_lazy"]
            for k in ("cmds", "waits"):
                a, b = safe[k + "_per_m_unmaps"], lazy[k + "_per_m_unmaps"]
                row[f"safe_over_stock_lazy_{k}"] = a / b if a and b else None
            if any(row[c[0].replace(" ", "_")]["cmds_per_m_unmaps"]
                   is not None for c in COST_COLUMNS):
                out.append(row)
    return sorted(out, key=lambda r: (r["arch"] or "", r["granule"] or 0,
                                      r["threads"] or 0))


def cost_table(rows):
    """The cost rows as one markdown table per architecture."""
    if not rows:
        return []
    pm = lambda v: "-" if v is None else "{:,.0f}".format(v)
    md = ["## Invalidation commands and completion waits per million unmaps",
          "", "QEMU's invalidation trace during the counted run of each "
          "dma_map_benchmark run (mk/guest/compare.sh; the iommu:unmap "
          "tracepoint counts its unmaps exactly), median over the boots. "
          "Cells: commands / waits. Commands: every IOTLB invalidation "
          "command the IOMMU consumed (x86_64, VT-d: page, domain and "
          "global IOTLB descriptors, device-TLB ones where there are; "
          "arm64, SMMUv3: TLBI commands). Waits: completion waits (VT-d "
          "invalidation wait descriptors; SMMUv3 CMD_SYNC). A granule is "
          "the pages of each mapping. safe/lazy: ours in safe deferred "
          "mode over stock lazy, commands and waits.", ""]
    for arch in dict.fromkeys(r["arch"] for r in rows):
        md += ["### %s" % arch, "",
               "| granule | threads | " +
               " | ".join(c[0] for c in COST_COLUMNS) +
               " | safe/lazy cmds | safe/lazy waits |",
               "|---|---|" + "---|" * (len(COST_COLUMNS) + 2)]
        for r in rows:
            if r["arch"] != arch:
                continue
            cells = ["%s / %s" % (pm(r[c[0].replace(" ", "_")]
                                     ["cmds_per_m_unmaps"]),
                                  pm(r[c[0].replace(" ", "_")]
                                     ["waits_per_m_unmaps"]))
                     for c in COST_COLUMNS]
            md.append("| %s | %s | %s | %s | %s |" % (
                r["granule"], r["threads"], " | ".join(cells),
                x(r["safe_over_stock_lazy_cmds"]),
                x(r["safe_over_stock_lazy_waits"])))
        md.append("")
    return md


def load_irqsoff(d):
    """mk/guest/irqsoff.sh's figures, one document per arch and granule."""
    docs = [load(p) for p in sorted(glob.glob(os.path.join(d,
                                                           "irqsoff-*.json")))]
    return sorted([x for x in docs if x],
                  key=lambda r: (r.get("arch") or "", r.get("granule") or 0))


def irqsoff_table(docs):
    if not docs:
        return []
    md = ["## Longest IRQs-off section of a flush", "",
          "Counted exactly by `mk/guest/irqsoff.sh`: each kernel boots "
          "under QEMU -icount while dma_map_benchmark runs one thread; "
          "every time the flush queue's (stock, lazy mode) or the batch's "
          "code (ours, safe deferred mode: the unmap, the flush timer, "
          "the release) takes a spinlock with interrupts off, QEMU's "
          "gdbstub single-steps the section and reads the guest's "
          "interrupt flag (EFLAGS.IF) at every instruction, until three "
          "sections with the driver's invalidation submit (qi_submit_sync) "
          "in them were seen or the time budget ran out. Cells: "
          "instructions run with interrupts off, max / median (sections "
          "stepped). *submit*: sections with the invalidation inside "
          "(stock: the flush queue full, flushed and freed in "
          "queue_iova(); ours: a batch flushed at its depth or by the "
          "timer); *timer*: the flush timer's sections (stock "
          "fq_flush_timeout(), which frees what its flush covered, ours "
          "batch_flush_cpus()); *all*: every section stepped. A '-': no such "
          "section within the time budget (a flush queue that its timer "
          "flushes before it fills never flushes in queue_iova()).", "",
          "| arch | granule | stock lazy submit | ours safe submit | "
          "stock lazy timer | ours safe timer | stock lazy all | "
          "ours safe all | ours/stock max |",
          "|---|---|---|---|---|---|---|---|---|"]
    for r in docs:
        s, o = r.get("stock") or {}, r.get("ours") or {}

        def cell(v):
            if not v or not v.get("sections"):
                return "-"
            return "%d / %g (%d)" % (v["max"], v["median"], v["sections"])
        sa, oa = s.get("all") or {}, o.get("all") or {}
        ratio = "-"
        if sa.get("max") and oa.get("max") is not None:
            ratio = "%.2fx" % (oa["max"] / sa["max"])
        md.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            r.get("arch"), r.get("granule"),
            cell(s.get("submit")), cell(o.get("submit")),
            cell(s.get("timer")), cell(o.get("timer")),
            cell(sa), cell(oa), ratio))
    return md + [""]


def run_section(parts, host, harness, guests, devbench):
    qemu = sorted({g.get("qemu") for g in
                   list(guests.values()) + list(devbench.values())
                   if g.get("qemu")})
    kernels = sorted({g.get("kernel") for g in
                      list(guests.values()) + list(devbench.values())
                      if g.get("kernel")})
    md = ["## The run", "",
          "- machine: %s, %s CPUs, %s GiB, %s, host kernel %s" % (
              host.get("cpu_model") or host.get("machine"), host.get("cpus"),
              host.get("memory_gib"), host.get("os") or "-",
              host.get("host_kernel")),
          "- guest kernels: %s, stock and patched" % (
              ", ".join(kernels) or "?"),
          "- QEMU: %s (TCG)" % (", ".join(qemu) or "-"),
          "- absolute figures on a loaded host are upper bounds; ratios "
          "taken in the same run are what count", ""]
    for p in PARTS:
        m = parts.get(p)
        if not m:
            md += [f"Part `{p}`: not run.", ""]
            continue
        md += [f"Part `{p}`: {m.get('start', '?')} to {m.get('end', '?')} "
               f"(UTC), load average (1 min) {m.get('load_start', '?')} at "
               f"the start, {m.get('load_end', '?')} at the end, this "
               f"repository at {m.get('commit', '?')}. Commands:", "", "```"]
        md += m.get("commands") or ["make bench"]
        md += ["```", ""]
        if m.get("environment"):
            md += ["Environment given: `%s`" % m["environment"], ""]
    return md


def publish(d, dest, readme, summary_lines):
    """Copy the report to @dest and put its headline into @readme."""
    os.makedirs(dest, exist_ok=True)
    for old in glob.glob(os.path.join(dest, "*.png")):
        os.remove(old)
    for old in ("summary.md", "attack.md"):
        if os.path.exists(os.path.join(dest, old)):
            os.remove(os.path.join(dest, old))
    for f in ["REPORT.md", "results.json", "summary.md", "attack.md"] + \
            [os.path.basename(p) for p in glob.glob(os.path.join(d, "*.png"))]:
        if os.path.exists(os.path.join(d, f)):
            shutil.copy(os.path.join(d, f), os.path.join(dest, f))
    if not readme or not os.path.exists(readme):
        return
    with open(readme) as f:
        text = f.read()
    begin, end = "<!-- bench:headline -->", "<!-- /bench:headline -->"
    if begin not in text or end not in text:
        sys.stderr.write(f"{readme}: no {begin} block, not updated\n")
        return
    a = text.index(begin) + len(begin)
    b = text.index(end)
    text = text[:a] + "\n" + "\n".join(summary_lines) + "\n" + text[b:]
    with open(readme, "w") as f:
        f.write(text)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("dir")
    ap.add_argument("--publish", help="copy the report to this directory")
    ap.add_argument("--readme", help="README whose headline block to rewrite")
    ap.add_argument("--top", default=".",
                    help="the repository whose HEAD the parts must have "
                    "measured to be published")
    args = ap.parse_args()
    d = args.dir
    harness = load(os.path.join(d, "harness.json"))
    kbench = load(os.path.join(d, "kunit-bench.json"))
    guests = {}
    for p in sorted(glob.glob(os.path.join(d, "compare-*.json"))):
        name = os.path.basename(p)[:-5]
        doc = load(p)
        if doc:
            guests[name] = doc
    devbench = {}
    for p in sorted(glob.glob(os.path.join(d, "devbench-*.json"))):
        doc = load(p)
        if doc and doc.get("cells"):
            devbench[doc["arch"]] = doc
    plots = []
    guest_plots(d, guests, plots)
    harness_plots(d, harness, plots)
    devplots = {a: devtable.plots(doc, d, gnuplot)
                for a, doc in sorted(devbench.items())}

    parts = load_meta(d)
    host = host_info()
    attack, attack_left = load_attack(d, args.top)
    results = {
        "host": host,
        "run": parts,
        "harness": harness,
        "kunit_bench": kbench,
        "guests": guests,
        "plots": plots + [p for v in devplots.values() for p in v],
        "attack": attack,
        "attack_left_out": attack_left,
        "devices": devbench,
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
    results["cost"] = cost_rows(guests)
    results["irqsoff"] = load_irqsoff(d)
    for r in results["irqsoff"]:
        for flavor in ("stock", "ours"):
            for k, v in (r.get(flavor) or {}).items():
                if k != "by_caller" and v.get("max") is not None:
                    figures["%s.%s-g%s.irqsoff.%s.max" % (
                        flavor, r["arch"], r["granule"], k)] = v["max"]
    for r in results["cost"]:
        tag = "%s-g%s" % (r["arch"], r["granule"])
        for label, flavor, mode in COST_COLUMNS:
            v = r[label.replace(" ", "_")]
            for k in ("cmds_per_m_unmaps", "waits_per_m_unmaps"):
                if v[k] is not None:
                    figures[f"{flavor}.{tag}.{mode}.t{r['threads']}.{k}"] = v[k]
    # Device workloads: e.g. ours.devices-x86_64.lazy.fio-4k.mb_per_s
    for arch, doc in devbench.items():
        for key, figs in doc["cells"].items():
            flavor, mode, w = key.split("/")
            for k, v in figs.items():
                figures[f"{flavor}.devices-{arch}.{mode}.{w}.{k}"] = v["median"]
    results["figures"] = figures
    with open(os.path.join(d, "results.json"), "w") as f:
        json.dump(results, f, indent=1)
        f.write("\n")

    kver = next((m["kernel"] for m in parts.values() if m.get("kernel")),
                None) or next((g.get("kernel") for g in guests.values()
                               if g.get("kernel")), "6.12")
    head = headline(harness, guests, results["cost"], results["irqsoff"])
    short = short_headline(harness, guests, results["cost"],
                           results["irqsoff"], devbench)
    ends = [m["end"] for m in parts.values() if m.get("end")]
    date = (max(ends) if ends else datetime.datetime.now(
        datetime.timezone.utc).isoformat(timespec="seconds"))[:10]
    summary = ["Headline of `make bench`, %s, %s (%s CPUs): stock %s and "
               "ours measured in the same run, in TCG guests and the "
               "userspace harness; each line says which way its ratios go." % (
                   date, host.get("cpu_model") or host.get("machine"),
                   host.get("cpus"), kver.split()[0]), ""] + \
        (short or ["- (no figures)"]) + \
        ["", "(k/n in noise): k of the n ratios behind a range have "
         "overlapping boot-to-boot spreads. Full report: results/REPORT.md "
         "(regenerated by `make bench`)."]
    with open(os.path.join(d, "summary.md"), "w") as f:
        f.write("\n".join(summary) + "\n")

    md = [f"# Stock Linux {kver} against the IOVA rework: benchmark report",
          "", "Written by `make bench` (mk/bench_report.py) from "
          "build/bench/results.json; nothing in it is typed by hand.", ""]
    md += ["## Headline", ""] + (short or ["- (no figures)"]) + [""]
    if head:
        md += ["### More figures (ratios stock/ours unless a line says "
               "otherwise)", ""] + head + [""]
    md += run_section(parts, host, harness, guests, devbench)
    md += harness_table(harness)
    md += shared_lock_table(harness)
    md += kunit_table(kbench)
    md += capacity_table(harness)
    txt = os.path.join(d, "harness.txt")
    if os.path.exists(txt):
        md += ["### Harness output", "", "```",
               open(txt).read().rstrip(), "```", ""]
    md += cost_table(results["cost"])
    md += irqsoff_table(results["irqsoff"])
    if devbench:
        md += ["## Device workloads (mk/guest/devbench.sh)", ""]
        for arch, doc in sorted(devbench.items()):
            md += devtable.render(doc)
            md += [f"![{p}]({p})" for p in devplots[arch]] + [""]
    for name in sorted(guests):
        t = os.path.join(d, f"{name}.txt")
        if os.path.exists(t):
            md += [f"## Guest: {name}", "", "```",
                   open(t).read().rstrip(), "```", ""]
    if results["attack"]:
        # Also on its own, for the cover letter (mk/series.sh).
        table = attack_table(results["attack"])
        with open(os.path.join(d, "attack.md"), "w") as f:
            f.write("\n".join(table))
        md += table
    elif os.path.exists(os.path.join(d, "attack.md")):
        os.remove(os.path.join(d, "attack.md"))
    if attack_left:
        md += ["Stale IOTLB attack runs left out of this report, since they "
               "are not of its code:", ""] + \
            [f"- {w}" for w in attack_left] + [""]
    if plots:
        md += ["## Plots", ""] + [f"![{p}]({p})" for p in plots] + [""]
    with open(os.path.join(d, "REPORT.md"), "w") as f:
        f.write("\n".join(md))
    if args.publish:
        why = unpublishable(parts, args.top, guests, devbench)
        if why:
            sys.stderr.write("not published: " + "; ".join(why) + "\n")
            sys.exit(3)
        publish(d, args.publish, args.readme, summary)


if __name__ == "__main__":
    main()
