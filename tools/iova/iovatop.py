#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
#
# iovatop: a live table of the IOVA allocator and of batched IOTLB
# invalidation, one line per interval, from the kernel's iova and
# iotlb_batch tracepoints (bcc, BPF).
#
#   iovatop.py [-i SECONDS] [-c COUNT] [--json]
#
# Columns, per second over the interval:
#   alloc: cache pool steal tree node fail  allocations by the path that
#                                           served them (iova_alloc)
#   free: cache pool tree node              frees by where the range went
#   merge split                             fast-path extents joined, split
#   refill return steal                     pool chunks taken, space given
#                                           back, allocations from another
#                                           CPU's pool
#   lock: shared depot pool                 lock acquisitions (iova_lock):
#                                           a domain's tree lock, a domain's
#                                           depot lock (both shared by all
#                                           CPUs), a CPU pool's tree lock
#   flush: rng full cov inv inv_all         batch flushes by decision
#                                           (page ranges, promoted to a full
#                                           flush, already covered), range
#                                           and full invalidations issued
#   wait: pages                             at the end of the interval:
#                                           pages (safe deferred mode) held
#                                           back from reuse until a flush
#
# The "wait" column is the batcher's held_now counter in debugfs
# (iommu/iotlb_batch/stats) where it is readable; otherwise it comes from
# the tracepoints, counted from the moment the tool starts, so that batches
# already open then are not in it. Needs
# root, bcc (python3-bpfcc) and a kernel with the iova tracepoints; the
# iotlb_batch columns stay 0 on a kernel or domain without batched
# invalidation.

import argparse
import json
import sys
import time

try:
    from bcc import BPF
except ImportError:
    sys.exit("iovatop: needs bcc's Python module (Debian: python3-bpfcc)")

# Indexes of the counter array, shared by the BPF program and the table.
ALLOC = 0       # + path: fail cache pool steal tree node (trace enum order)
FREE = 6        # + path
MERGE, SPLIT, REFILL, RETURN, STEAL = 12, 13, 14, 15, 16
LOCK_SHARED, LOCK_DEPOT, LOCK_POOL = 17, 18, 19
FL_RANGES, FL_FULL, FL_COVERED, INV_RANGE, INV_ALL = 20, 21, 22, 23, 24
HELD, RELEASED_PAGES = 25, 26
NR = 32

PATHS = ["fail", "cache", "pool", "steal", "tree", "node"]
BATCH_STATS = "/sys/kernel/debug/iommu/iotlb_batch/stats"


def batch_waiting():
    """Pages held waiting for a flush now, from debugfs, or None."""
    try:
        with open(BATCH_STATS) as f:
            st = dict(line.split()[:2] for line in f if line.strip())
        return int(st["held_now"])
    except (OSError, KeyError, ValueError):
        return None

BPF_TEXT = r"""
#define NR %(NR)d
BPF_ARRAY(counts, u64, NR);
/* domains seen by allocations and frees: their tree lock is shared */
BPF_HASH(domains, u64, u8, 1024);

static inline void add(int i, u64 v)
{
    u64 *c = counts.lookup(&i);

    if (c)
        __sync_fetch_and_add(c, v);
}

static inline void note_domain(const void *d)
{
    u64 key = (u64)d;
    u8 one = 1;

    domains.update(&key, &one);
}

TRACEPOINT_PROBE(iova, iova_alloc)
{
    if (args->path >= 0 && args->path < 6)
        add(%(ALLOC)d + args->path, 1);
    note_domain(args->domain);
    return 0;
}

TRACEPOINT_PROBE(iova, iova_free)
{
    if (args->path >= 0 && args->path < 6)
        add(%(FREE)d + args->path, 1);
    note_domain(args->domain);
    return 0;
}

TRACEPOINT_PROBE(iova, iova_merge) { add(%(MERGE)d, 1); return 0; }
TRACEPOINT_PROBE(iova, iova_split) { add(%(SPLIT)d, 1); return 0; }
TRACEPOINT_PROBE(iova, iova_pool_refill) { add(%(REFILL)d, 1); return 0; }
TRACEPOINT_PROBE(iova, iova_pool_return) { add(%(RETURN)d, 1); return 0; }
TRACEPOINT_PROBE(iova, iova_pool_steal) { add(%(STEAL)d, 1); return 0; }

TRACEPOINT_PROBE(iova, iova_lock)
{
    u64 key = (u64)args->domain;

    if (args->lock == 1)
        add(%(LOCK_DEPOT)d, 1);
    else if (domains.lookup(&key))
        add(%(LOCK_SHARED)d, 1);
    else
        add(%(LOCK_POOL)d, 1);
    return 0;
}
"""

BATCH_TEXT = r"""
TRACEPOINT_PROBE(iotlb_batch, iotlb_batch_flush)
{
    if (args->decision == 0)
        add(%(FL_RANGES)d, 1);
    else if (args->decision > 0)
        add(%(FL_FULL)d, 1);
    else
        add(%(FL_COVERED)d, 1);
    return 0;
}

TRACEPOINT_PROBE(iotlb_batch, iotlb_batch_inv_range)
{
    add(%(INV_RANGE)d, 1);
    return 0;
}

TRACEPOINT_PROBE(iotlb_batch, iotlb_batch_inv_all)
{
    add(%(INV_ALL)d, 1);
    return 0;
}

/* pages held back from reuse (sync >= 0: invalidated at once, none held) */
TRACEPOINT_PROBE(iotlb_batch, iotlb_batch_unmap)
{
    if (args->sync < 0)
        add(%(HELD)d, args->held);
    return 0;
}

TRACEPOINT_PROBE(iotlb_batch, iotlb_batch_release)
{
    add(%(RELEASED_PAGES)d, args->held);
    return 0;
}
"""


def main():
    ap = argparse.ArgumentParser(
        description="Live table of IOVA allocations, locks and IOTLB flushes")
    ap.add_argument("-i", "--interval", type=float, default=1.0,
                    help="seconds per line (default 1)")
    ap.add_argument("-c", "--count", type=int, default=0,
                    help="stop after this many lines (default: never)")
    ap.add_argument("--json", action="store_true",
                    help="one JSON object per line instead of the table")
    args = ap.parse_args()

    names = dict(NR=NR, ALLOC=ALLOC, FREE=FREE, MERGE=MERGE, SPLIT=SPLIT,
                 REFILL=REFILL, RETURN=RETURN, STEAL=STEAL,
                 LOCK_SHARED=LOCK_SHARED, LOCK_DEPOT=LOCK_DEPOT,
                 LOCK_POOL=LOCK_POOL, FL_RANGES=FL_RANGES, FL_FULL=FL_FULL,
                 FL_COVERED=FL_COVERED, INV_RANGE=INV_RANGE,
                 INV_ALL=INV_ALL, HELD=HELD, RELEASED_PAGES=RELEASED_PAGES)
    if not BPF.tracepoint_exists("iova", "iova_alloc"):
        sys.exit("iovatop: no iova tracepoints in this kernel")
    text = BPF_TEXT % names
    batch = BPF.tracepoint_exists("iotlb_batch", "iotlb_batch_flush")
    if batch:
        text += BATCH_TEXT % names
    b = BPF(text=text)
    counts = b["counts"]

    def snap():
        return [counts[counts.Key(i)].value for i in range(NR)]

    cols = ([("alloc", p) for p in PATHS[1:]] + [("alloc", "fail")] +
            [("free", p) for p in ("cache", "pool", "tree", "node")] +
            [("", "merge"), ("", "split"), ("", "refill"), ("", "return"),
             ("", "steal"),
             ("lock", "shared"), ("lock", "depot"), ("lock", "pool"),
             ("flush", "rng"), ("flush", "full"), ("flush", "cov"),
             ("flush", "inv"), ("flush", "inv_all"),
             ("wait", "pages")])
    idx = ([ALLOC + PATHS.index(p) for p in PATHS[1:]] + [ALLOC] +
           [FREE + PATHS.index(p) for p in ("cache", "pool", "tree", "node")] +
           [MERGE, SPLIT, REFILL, RETURN, STEAL,
            LOCK_SHARED, LOCK_DEPOT, LOCK_POOL,
            FL_RANGES, FL_FULL, FL_COVERED, INV_RANGE, INV_ALL])
    width = 7

    if not args.json:
        print("iovatop: per-second rates; iotlb_batch tracepoints %s; "
              "waiting from %s" %
              ("found" if batch else "absent (no batched invalidation)",
               "the tracepoints" if batch_waiting() is None else "debugfs"))
        groups, last = "", None
        for g, _ in cols:
            groups += (g if g != last else "").ljust(width + 1)
            last = g
        print(" " * 9 + groups.rstrip())
        print("TIME".ljust(9) +
              " ".join(n.rjust(width) for _, n in cols))
    prev = snap()
    t_prev = time.monotonic()
    lines = 0
    try:
        while not args.count or lines < args.count:
            time.sleep(args.interval)
            cur = snap()
            now = time.monotonic()
            dt = now - t_prev
            rates = [(cur[i] - prev[i]) / dt for i in idx]
            wait_p = batch_waiting()
            if wait_p is None:
                wait_p = max(cur[HELD] - cur[RELEASED_PAGES], 0)
            prev, t_prev = cur, now
            lines += 1
            if args.json:
                row = {"time": time.strftime("%H:%M:%S"), "interval": dt}
                for (g, n), r in zip(cols, rates):
                    row[(g + "_" if g else "") + n] = round(r, 1)
                row["wait_pages"] = wait_p
                print(json.dumps(row))
            else:
                vals = ["%.0f" % r for r in rates] + [str(wait_p)]
                print(time.strftime("%H:%M:%S").ljust(9) +
                      " ".join(v.rjust(width) for v in vals))
            sys.stdout.flush()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
