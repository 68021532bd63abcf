#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Check that the text says what the code does: every boot switch has its
kernel-parameters entry and README row, with the range and default the
code parses and starts from, and the table of what each invalidation mode
guarantees reads the same in the README, the Documentation page, the
kernel-parameters entry and the cover letter. One "ok"/"not ok" line per
check, as lint prints them; exit status 1 when one fails.

  doccheck.py TOP KSRC

KSRC is the patched kernel tree (make tree), whose kernel-parameters.txt
and iommu.c are what the series makes of them, applied in order."""

import os
import re
import sys

if len(sys.argv) != 3:
    sys.exit(__doc__)
TOP, KSRC = sys.argv[1:3]
results = []


def read(path):
    with open(os.path.join(TOP, path)) as f:
        return f.read()


def check(name, problems):
    results.append((name, problems))
    if problems:
        print(f"not ok - {name}")
        for p in problems:
            print(f"#   {p}")
    else:
        print(f"ok - {name}")


def read_ksrc(path):
    try:
        with open(os.path.join(KSRC, path)) as f:
            return f.read()
    except OSError:
        return ""


readme = read("README.md")
params = read_ksrc("Documentation/admin-guide/kernel-parameters.txt")
iommu_c = read_ksrc("drivers/iommu/iommu.c")
if not params or not iommu_c:
    check(f"{KSRC}: the patched tree (make tree)", ["not found"])
    sys.exit(1)
rst = read("Documentation/core-api/dma-iommu-invalidation.rst")
batch_c = read("drivers/iommu/iotlb-batch.c")
iova_c = read("drivers/iommu/iova.c")


def param_entry(name):
    """@name's kernel-parameters entry: its line and the indented ones
    under it."""
    m = re.search(r"^\t" + re.escape(name) + r"=.*\n((?:\t\t.*\n|\n(?=\t\t))*)",
                  params, re.M)
    return m.group(0) if m else None


def readme_row(name):
    m = re.search(r"^\| `" + re.escape(name) + r"=` \|([^\n]*)$", readme, re.M)
    return [c.strip() for c in m.group(1).strip(" |").split("|")] if m else None


# --- numeric switches: iommu.batch_* -------------------------------------
FIELD = {"ranges": "max_ranges", "pages": "max_pages", "depth": "depth",
         "timeout": "timeout_ms"}
for short, field in FIELD.items():
    name = f"iommu.batch_{short}"
    why = []
    m = re.search(r'iotlb_batch_parse_param\("' + re.escape(name) +
                  r'", str, (\d+),\s*(\w+),', batch_c)
    if not m:
        check(f"{name}: parsed in iotlb-batch.c", ["no iotlb_batch_parse_param() call"])
        continue
    lo = int(m.group(1))
    mx = re.search(r"#define\s+" + m.group(2) + r"\s+(\d+)", batch_c)
    hi = int(mx.group(1)) if mx else None
    md = re.search(r"\." + field + r"\s*=\s*(\d+),", batch_c)
    default = int(md.group(1)) if md else None
    if not re.search(r'early_param\("' + re.escape(name) + '"', batch_c):
        why.append("no early_param()")
    e = param_entry(name)
    if not e:
        why.append("no kernel-parameters entry")
    else:
        f = re.search(r"Format: <integer> from (\d+) to (\d+)", e)
        d = re.search(r"Default: (\d+)", e)
        if not f or (int(f.group(1)), int(f.group(2))) != (lo, hi):
            why.append(f"kernel-parameters range {f.groups() if f else None}, code [{lo}, {hi}]")
        if not d or int(d.group(1)) != default:
            why.append(f"kernel-parameters default {d.group(1) if d else None}, code {default}")
    t = re.search(r"^``" + re.escape(name) + r"``\s+(\d+)\s+(\d+) - (\d+)\s",
                  rst, re.M)
    if not t:
        why.append("no row in the switch table of dma-iommu-invalidation.rst")
    elif tuple(int(v) for v in t.groups()) != (default, lo, hi):
        why.append(f"dma-iommu-invalidation.rst: default {t.group(1)}, range "
                   f"{t.group(2)} - {t.group(3)}; code {default}, {lo} - {hi}")
    row = readme_row(name)
    if not row:
        why.append("no README row")
    else:
        r = re.match(r"(\d+)\.\.(\d+)", row[0])
        if not r or (int(r.group(1)), int(r.group(2))) != (lo, hi):
            why.append(f"README range '{row[0]}', code {lo}..{hi}")
        if row[1].strip("`") != str(default):
            why.append(f"README default '{row[1]}', code {default}")
    check(f"{name}: range {lo}..{hi}, default {default} in code, "
          "kernel-parameters, dma-iommu-invalidation.rst and README", why)
    if short == "timeout":
        timeout = default

# --- on/off switches -------------------------------------------------------
SWITCHES = (
    ("iova.merge", re.search(r"static bool iova_merge_enabled = (\w+);", iova_c)),
    ("iova.pools", re.search(r"static bool iova_pools_enabled = (\w+);", iova_c)),
    ("iommu.safedefer", None),
)
for name, m in SWITCHES:
    why = []
    if name.startswith("iova."):
        default = {"true": "1", "false": "0"}.get(m.group(1)) if m else None
        if not re.search(r"module_param_cb\(" + name.split(".")[1] + ",", iova_c):
            why.append("no module_param_cb() in iova.c")
    else:
        d = re.search(r"static bool iommu_dma_safedefer __read_mostly"
                      r"(?: = (\w+))?;", iommu_c)
        default = {None: "0", "false": "0", "true": "1"}.get(
            d.group(1)) if d else None
        if not re.search(r'early_param\("' + re.escape(name) + '"', iommu_c):
            why.append("no early_param() in iommu.c")
    e = param_entry(name)
    if not e:
        why.append("no kernel-parameters entry")
    elif not re.search(r'Format: \{ "0" \| "1" \}', e):
        why.append("kernel-parameters format is not { \"0\" | \"1\" }")
    elif default == "1" and not re.search(r"1 - .*\(default\)", e):
        why.append("kernel-parameters does not mark 1 the default")
    elif default == "0" and not re.search(r"unset - Same as 0|0 - .*\(default\)", e):
        why.append("kernel-parameters does not make 0 the default")
    row = readme_row(name)
    if not row:
        why.append("no README row")
    elif row[1].strip("`") != default:
        why.append(f"README default '{row[1]}', code {default}")
    check(f"{name}: on/off, default {default} in code, kernel-parameters "
          "and README", why)


# --- the guarantee table ---------------------------------------------------
START = "hat a device can still reach after"  # W or w
END = "instead of range invalidations."


def norm(s):
    s = s.replace("`", "")
    s = re.sub(r"^\s*- ", "", s, flags=re.M)
    return re.sub(r"\s+", " ", s).strip()


def ascii_table(text):
    """(rows, notes) of the table as the Documentation page, the
    kernel-parameters entry and the cover letter draw it."""
    a = text.index(START)
    b = text.index(END, a) + len(END)
    lines = text[a:b].splitlines()
    rows, cur, notes = [], None, []
    for i, l in enumerate(lines):
        s = l.strip()
        if re.match(r"\([a-z]\) ", s):
            parts = re.split(r"\s{2,}", s)
            cur = [parts[0], parts[1:]]
            rows.append(cur)
        elif re.match(r"T: ", s):
            notes = lines[i:]
            break
        elif cur and s:
            cur[0] += " " + s
    return [(norm(r[0]), r[1]) for r in rows], norm("\n".join(notes))


def ascii_header(text):
    """The mode columns of the drawn table: the two lines after the blank
    one below its title, words joined by the column they start in
    ("safe" + "deferred", "pass-" + "through")."""
    lines = text[text.index(START):].splitlines()
    i = next(k for k in range(1, len(lines)) if not lines[k].strip())
    i = next(k for k in range(i, len(lines)) if lines[k].strip())
    indent = min(len(l) - len(l.lstrip()) for l in lines[i:i + 2])
    cols = {}
    for line in lines[i:i + 2]:
        for m in re.finditer(r"\S+", line[indent:]):
            cols[m.start()] = (cols.get(m.start(), "") + " " + m.group(0))
    return [re.sub(r"- ", "", cols[c].strip()) for c in sorted(cols)]


def readme_table():
    a = readme.index(START)
    b = readme.index(END, a) + len(END)
    block = readme[a:b]
    rows = []
    for m in re.finditer(r"^\| (\([a-z]\) [^|]*)\|(.*)\|$", block, re.M):
        rows.append((norm(m.group(1)), [c.strip() for c in m.group(2).split("|")]))
    n = re.search(r"^- T: ", block, re.M)
    return rows, norm(block[n.start():]) if n else ""


def readme_header():
    a = readme.rindex("\n", 0, readme.index(START)) + 1
    line = readme[a:readme.index("\n", a)]
    return [c.strip() for c in line.strip(" |").split("|")][1:]


docs = {
    "Documentation/core-api/dma-iommu-invalidation.rst":
        read("Documentation/core-api/dma-iommu-invalidation.rst"),
    "kernel-parameters (iommu.safedefer=)": param_entry("iommu.safedefer") or "",
    "patches/cover-letter.txt": read("patches/cover-letter.txt"),
}
ref_rows, ref_notes = readme_table()
ref_head = readme_header()
if ref_head != ["strict", "safe deferred", "lazy", "passthrough"]:
    check("README: the guarantee table's columns", [f"{ref_head}"])
if len(ref_rows) != 4 or not ref_notes:
    check("README: the guarantee table and its notes", ["not found"])
for where, text in docs.items():
    why = []
    if START not in text or END not in text:
        why.append("no guarantee table")
    else:
        rows, notes = ascii_table(text)
        head = ascii_header(text)
        if head != ref_head:
            why.append(f"columns {head} != README's {ref_head}")
        if rows != ref_rows:
            why.append(f"rows {rows} != README's {ref_rows}")
        if notes != ref_notes:
            k = next((i for i, (x, y) in enumerate(zip(notes, ref_notes))
                      if x != y), min(len(notes), len(ref_notes)))
            why.append(f"notes differ from README's at ...{notes[max(0, k - 40):k + 40]}... "
                       f"/ ...{ref_notes[max(0, k - 40):k + 40]}...")
    check(f"guarantee table: {where} reads as the README's", why)

# Every "default N ms" the documents give is iommu.batch_timeout's.
why = []
for where, text in [("README.md", readme), ("dma-iommu-invalidation.rst", rst),
                    ("kernel-parameters.txt", params),
                    ("patches/cover-letter.txt", read("patches/cover-letter.txt"))]:
    for m in re.finditer(r"default\s+(\d+)\s*ms", text):
        if int(m.group(1)) != timeout:
            why.append(f"{where}: '{m.group(0)}', code {timeout} ms")
check(f"every 'default N ms' is iommu.batch_timeout's {timeout} ms", why)

sys.exit(1 if any(p for _, p in results) else 0)
