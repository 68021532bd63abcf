#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Check that the text says what the code does: every boot switch has its
kernel-parameters entry and README row, with the range and default the
code parses and starts from, and the table of what each invalidation mode
guarantees reads the same in the README, the Documentation page, the
kernel-parameters entry and the cover letter. One "ok"/"not ok" line per
check, as lint prints them; exit status 1 when one fails.

  doccheck.py TOP"""

import os
import re
import sys

TOP = sys.argv[1] if len(sys.argv) > 1 else "."
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


def added(patch):
    """The lines a patch adds, without their "+"."""
    return "\n".join(l[1:] for l in read(patch).splitlines()
                     if l.startswith("+") and not l.startswith("+++"))


PATCHES = [os.path.join("patches", p)
           for p in sorted(os.listdir(os.path.join(TOP, "patches")))
           if p.endswith(".patch")]
readme = read("README.md")
# What the patches add to kernel-parameters.txt, and all they add.
params = "\n".join(added(p) for p in PATCHES
                   if "kernel-parameters.txt" in read(p))
patched = "\n".join(added(p) for p in PATCHES)
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
          "kernel-parameters and README", why)

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
        default = "0"
        if not re.search(r'early_param\("' + re.escape(name) + '"', patched):
            why.append("no early_param() in the patches")
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


def readme_table():
    a = readme.index(START)
    b = readme.index(END, a) + len(END)
    block = readme[a:b]
    rows = []
    for m in re.finditer(r"^\| (\([a-z]\) [^|]*)\|(.*)\|$", block, re.M):
        rows.append((norm(m.group(1)), [c.strip() for c in m.group(2).split("|")]))
    n = re.search(r"^- T: ", block, re.M)
    return rows, norm(block[n.start():]) if n else ""


docs = {
    "Documentation/core-api/dma-iommu-invalidation.rst":
        read("Documentation/core-api/dma-iommu-invalidation.rst"),
    "kernel-parameters (iommu.safedefer=)": param_entry("iommu.safedefer") or "",
    "patches/cover-letter.txt": read("patches/cover-letter.txt"),
}
ref_rows, ref_notes = readme_table()
if len(ref_rows) != 4 or not ref_notes:
    check("README: the guarantee table and its notes", ["not found"])
for where, text in docs.items():
    why = []
    if START not in text or END not in text:
        why.append("no guarantee table")
    else:
        rows, notes = ascii_table(text)
        if rows != ref_rows:
            why.append(f"rows {rows} != README's {ref_rows}")
        if notes != ref_notes:
            k = next((i for i, (x, y) in enumerate(zip(notes, ref_notes))
                      if x != y), min(len(notes), len(ref_notes)))
            why.append(f"notes differ from README's at ...{notes[max(0, k - 40):k + 40]}... "
                       f"/ ...{ref_notes[max(0, k - 40):k + 40]}...")
    check(f"guarantee table: {where} reads as the README's", why)

sys.exit(1 if any(p for _, p in results) else 0)
