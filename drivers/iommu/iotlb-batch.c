// SPDX-License-Identifier: GPL-2.0-only
/*
 * Batched IOTLB invalidation for DMA domains.
 *
 * DOC: IOTLB batching
 *
 * Every domain that uses batching owns one &struct iotlb_batcher, and the
 * batcher one &struct iotlb_batch per CPU. An unmap clears the page-table
 * entries first, then hands the batcher what the driver recorded: the range
 * to invalidate, its leaf size and the page-table pages it freed. The batch
 * of the CPU doing the unmap keeps::
 *
 *   ranges[]  merged invalidation ranges, in no order, at most
 *             max_ranges of them; abutting or overlapping ranges of the
 *             same leaf size become one, and one range too many joins
 *             the two closest of a leaf size across their gap while the
 *             pages to invalidate stay within max_pages (where a range
 *             costs the driver one command, the leaf size does not
 *             matter and max_pages does not cap the join)
 *   ents[]    the IOVA ranges to release, at most depth of them
 *   held[]    one reference per folio behind the unmapped memory, each
 *             folio once however many of the batch's unmaps it backs
 *             (a small hash set finds it)
 *
 * A batch is flushed when it holds depth unmaps, when its held[] is full,
 * or timeout_ms after the first unmap it got since its last flush,
 * whichever comes first: the timer flushes only batches that old and
 * comes back for the others when they will be, so that under a steady
 * stream of unmaps, which fills batches sooner, it flushes nothing. A
 * flush invalidates the merged ranges (all of them with one flush_ranges
 * call, sharing completion waits, where the domain has it, each with its
 * own flush_range otherwise),
 * or, when they could not be kept to max_ranges or cost the driver more
 * than a full flush is worth (see iotlb_batch_decide() and
 * iotlb_batcher_set_cost()), promotes the batch to one flush of the whole
 * domain. Only once every invalidation of the flush has returned are
 * the IOVAs given back to their allocator, the page-table pages freed and
 * the folio references dropped; so neither the address nor the memory
 * behind it can be reused while a device may still hold a stale
 * translation. The flush runs under the batch lock with interrupts off;
 * the release does not: the flush hands the batch's arrays and page-table
 * pages out of the locked section (the batch goes on with spare arrays)
 * and they are released once the lock is dropped.
 *
 * A full flush covers the batches of every CPU: each unmap remembers how many
 * full flushes had started when it was added, and a batch whose last unmap
 * preceded the start of a completed full flush is released without an
 * invalidation of its own (the same counting as the flush queue in
 * dma-iommu.c). When only its older unmaps did (the others came while the
 * flush ran), their IOVAs are released and the batch goes on with the rest;
 * the memory and page-table pages it holds wait for its own flush. That is
 * why a batch whose ranges would do is promoted all the same when the other
 * CPUs' batches hold half a batch or more.
 *
 * Memory a page reference cannot hold back from reuse is invalidated at
 * once: slab objects (the object can be freed and handed out again while
 * its page lives on), memory without a struct page, ZONE_DEVICE and CMA
 * memory, pages with no reference to add to (the tail pages of a
 * non-compound high-order allocation), and unmaps with more folios than a
 * batch can hold (counted before anything is flushed for them: the batch
 * they find is flushed to make room only when they would fit an empty
 * one). The caller also asks for an immediate invalidation when
 * it frees the memory itself right after the unmap (coherent allocations,
 * bounce buffers).
 */

#define pr_fmt(fmt) "iommu: " fmt

#include <kunit/visibility.h>
#include <linux/cpumask.h>
#include <linux/debugfs.h>
#include <linux/hash.h>
#include <linux/init.h>
#include <linux/jiffies.h>
#include <linux/kernel.h>
#include <linux/mm.h>
#include <linux/mmzone.h>
#include <linux/percpu.h>
#include <linux/scatterlist.h>
#include <linux/seq_file.h>
#include <linux/slab.h>

#include "iommu-pages.h"
#include "iotlb-batch.h"

#define CREATE_TRACE_POINTS
#include <trace/events/iotlb_batch.h>

/* The trace header prints these codes by number. */
static_assert(IOTLB_BATCH_SYNC_CALLER == 0 && IOTLB_BATCH_SYNC_SLAB == 1 &&
	      IOTLB_BATCH_SYNC_NOPAGE == 2 && IOTLB_BATCH_SYNC_UNREF == 3 &&
	      IOTLB_BATCH_SYNC_LARGE == 4);
static_assert(IOTLB_BATCH_TRIG_DEPTH == 0 && IOTLB_BATCH_TRIG_HOLD == 1 &&
	      IOTLB_BATCH_TRIG_TIMER == 2 && IOTLB_BATCH_TRIG_EXPLICIT == 3 &&
	      IOTLB_BATCH_TRIG_COVERED == 4);
static_assert(IOTLB_BATCH_RANGES == 0 && IOTLB_BATCH_FULL_RANGES == 1 &&
	      IOTLB_BATCH_FULL_PAGES == 2 && IOTLB_BATCH_FULL_UNKNOWN == 3 &&
	      IOTLB_BATCH_FULL_SHARED == 4 && IOTLB_BATCH_FULL_CMDS == 5 &&
	      IOTLB_BATCH_FULL_WIDE == 6);

#define IOTLB_BATCH_MAX_RANGES	64
#define IOTLB_BATCH_MAX_PAGES	4194304U
#define IOTLB_BATCH_MAX_DEPTH	32768
#define IOTLB_BATCH_MAX_TIMEOUT	10000
#define IOTLB_BATCH_MIN_HOLD	64
#define IOTLB_BATCH_MAX_HOLD	4096

struct iotlb_batch_params iotlb_batch_default_params __read_mostly = {
	.max_ranges	= 1,
	.max_pages	= 512,
	.depth		= 256,
	.timeout_ms	= 10,
};
EXPORT_SYMBOL_IF_KUNIT(iotlb_batch_default_params);

static DEFINE_PER_CPU(struct iotlb_batch_stats, iotlb_batch_stats);

/*
 * What a flush took out of a batch under its lock, to release after it:
 * the batch's ents[] and held[] arrays themselves, and its page-table pages.
 */
struct iotlb_batch_rel {
	struct iotlb_batch *bt;		/* NULL: nothing handed out */
	struct iotlb_batch_ent *ents;
	unsigned int nr_ents;
	struct folio **held;
	unsigned int nr_held;
	unsigned long held_pages;
	struct list_head freelist;
};

/*
 * Whole per-CPU updates, with or without a batch lock: on PREEMPT_RT that
 * spinlock_t leaves the holder preemptible, and a load-add-store update
 * (arm64's __this_cpu_add()) that another task on the CPU interrupts
 * loses that task's update.
 */
#define stat_inc(field)		this_cpu_inc(iotlb_batch_stats.field)
#define stat_add(field, n)	this_cpu_add(iotlb_batch_stats.field, n)

/**
 * iotlb_batch_parse_param() - parse one threshold given on the command line
 * @name: the parameter's name, for the warning
 * @str: the value as given
 * @min: smallest accepted value
 * @max: largest accepted value
 * @val: where the value goes; left alone when @str is not valid
 *
 * Context: any; used by the iommu.batch_* early parameters.
 * Return: 0, or -EINVAL after a warning when @str is not a number in
 * [@min, @max].
 */
int iotlb_batch_parse_param(const char *name, const char *str,
			    unsigned int min, unsigned int max,
			    unsigned int *val)
{
	unsigned int v;

	if (!str || kstrtouint(str, 0, &v) || v < min || v > max) {
		pr_warn("%s=%s is not in [%u, %u], keeping %u\n", name,
			str ?: "", min, max, *val);
		return -EINVAL;
	}
	*val = v;
	return 0;
}
EXPORT_SYMBOL_IF_KUNIT(iotlb_batch_parse_param);

static int __init iotlb_batch_ranges_setup(char *str)
{
	iotlb_batch_parse_param("iommu.batch_ranges", str, 0,
				IOTLB_BATCH_MAX_RANGES,
				&iotlb_batch_default_params.max_ranges);
	return 0;
}
early_param("iommu.batch_ranges", iotlb_batch_ranges_setup);

static int __init iotlb_batch_pages_setup(char *str)
{
	iotlb_batch_parse_param("iommu.batch_pages", str, 0,
				IOTLB_BATCH_MAX_PAGES,
				&iotlb_batch_default_params.max_pages);
	return 0;
}
early_param("iommu.batch_pages", iotlb_batch_pages_setup);

static int __init iotlb_batch_depth_setup(char *str)
{
	iotlb_batch_parse_param("iommu.batch_depth", str, 1,
				IOTLB_BATCH_MAX_DEPTH,
				&iotlb_batch_default_params.depth);
	return 0;
}
early_param("iommu.batch_depth", iotlb_batch_depth_setup);

static int __init iotlb_batch_timeout_setup(char *str)
{
	iotlb_batch_parse_param("iommu.batch_timeout", str, 1,
				IOTLB_BATCH_MAX_TIMEOUT,
				&iotlb_batch_default_params.timeout_ms);
	return 0;
}
early_param("iommu.batch_timeout", iotlb_batch_timeout_setup);

/**
 * iotlb_batch_decide() - the cost policy: ranges, or one full flush
 * @p: thresholds
 * @c: what a range invalidation costs the driver
 * @s: what the ranges of the flush would be
 *
 * A page-range invalidation keeps the rest of the domain's IOTLB entries
 * but costs commands and a completion wait (one for all the ranges of a
 * flush where the domain has flush_ranges); a full flush costs one command
 * and the refill of every live translation afterwards. How many commands a
 * range costs depends on the driver (@c):
 *
 * - %IOTLB_BATCH_COST_RANGE (a driver that says nothing): up to
 *   @p->max_ranges ranges and @p->max_pages pages the ranges win.
 * - %IOTLB_BATCH_COST_PER_PAGE (no range invalidation: a command per page
 *   of the range's leaf size): the batch is promoted by its commands, when
 *   they exceed @p->max_pages or %IOTLB_BATCH_MAX_PAGE_CMDS, whichever is
 *   less, not by the pages they cover.
 * - %IOTLB_BATCH_COST_ONE and %IOTLB_BATCH_COST_POW2 (one command however
 *   large the range): never promoted by size, which would only throw the
 *   rest of the IOTLB away.
 *
 * A range the driver would widen to a flush of the whole domain
 * (%IOTLB_BATCH_COST_POW2 beyond its largest mask, or
 * %IOTLB_BATCH_COST_DOMAIN) makes the flush a full one, which the batcher
 * then counts as such and which releases the other CPUs' batches it covers.
 * Otherwise the ranges also lose when the other CPUs' batches hold half a
 * batch (@p->depth / 2 unmaps) or more between them: one full flush then
 * also spares them an invalidation of their own, and when every CPU unmaps
 * at the same rate a domain issues one invalidation per depth unmaps of all
 * its CPUs together instead of one per depth unmaps of each.
 *
 * Context: any.
 * Return: %IOTLB_BATCH_RANGES, or the reason for promoting to a full flush.
 */
enum iotlb_batch_decision
iotlb_batch_decide(const struct iotlb_batch_params *p,
		   const struct iotlb_batch_cost *c,
		   const struct iotlb_batch_shape *s)
{
	if (s->unknown)
		return IOTLB_BATCH_FULL_UNKNOWN;
	if (s->wide)
		return IOTLB_BATCH_FULL_WIDE;
	if (s->nr_ranges > p->max_ranges)
		return IOTLB_BATCH_FULL_RANGES;
	switch (c->kind) {
	case IOTLB_BATCH_COST_PER_PAGE:
		if (s->cmds > min(p->max_pages, IOTLB_BATCH_MAX_PAGE_CMDS))
			return IOTLB_BATCH_FULL_CMDS;
		break;
	case IOTLB_BATCH_COST_ONE:
	case IOTLB_BATCH_COST_POW2:
	case IOTLB_BATCH_COST_DOMAIN:
		break;
	default:
		if (s->pages > p->max_pages)
			return IOTLB_BATCH_FULL_PAGES;
		break;
	}
	if (s->elsewhere && s->elsewhere >= DIV_ROUND_UP(p->depth, 2))
		return IOTLB_BATCH_FULL_SHARED;
	return IOTLB_BATCH_RANGES;
}
EXPORT_SYMBOL_IF_KUNIT(iotlb_batch_decide);

static unsigned long range_pages(const struct iotlb_batcher *b,
				 unsigned long start, unsigned long end)
{
	return ((end - start) >> b->granule_shift) + 1;
}

/*
 * Add what invalidating [start, end] at leaf size @pgsize costs the driver
 * to @s: its commands, and whether the driver would flush the whole domain
 * for it instead.
 */
static void range_cost(const struct iotlb_batcher *b, unsigned long start,
		       unsigned long end, size_t pgsize,
		       struct iotlb_batch_shape *s)
{
	unsigned long first = start >> b->granule_shift;
	unsigned long last = end >> b->granule_shift;
	unsigned int order;

	switch (b->cost.kind) {
	case IOTLB_BATCH_COST_PER_PAGE:
		if (!pgsize)
			pgsize = 1UL << b->granule_shift;
		s->cmds += (end - start) / pgsize + 1;
		break;
	case IOTLB_BATCH_COST_POW2:
		/* The smallest aligned block holding both ends. */
		order = first == last ? 0 : fls_long(first ^ last);
		if (order > b->cost.max_order)
			s->wide = true;
		s->cmds++;
		break;
	case IOTLB_BATCH_COST_DOMAIN:
		s->wide = true;
		s->cmds++;
		break;
	default:
		s->cmds++;
		break;
	}
}

/* Do [s1, e1] and [s2, e2] overlap or abut? */
static bool ranges_touch(unsigned long s1, unsigned long e1,
			 unsigned long s2, unsigned long e2)
{
	if (e1 < s2)
		return s2 - e1 == 1;
	if (e2 < s1)
		return s1 - e2 == 1;
	return true;
}

/*
 * May ranges gathered with leaf sizes @p1 and @p2 become one? The leaf
 * size is a hint that a driver's invalidation may depend on (SMMUv3's TTL
 * and range granule, a per-page loop), so ranges of different sizes stay
 * apart, except where a range costs one command whatever it holds: AMD
 * gathers by range and records no leaf size at all (0), while the batcher
 * gives a queued unmap the granule, and its iotlb_sync ignores the hint.
 */
static bool pgsize_joins(const struct iotlb_batcher *b, size_t p1, size_t p2)
{
	return p1 == p2 || b->cost.kind == IOTLB_BATCH_COST_ONE;
}

/* The leaf size of a range joined from two: the smaller, 0 if unknown. */
static size_t pgsize_join(size_t p1, size_t p2)
{
	return min(p1, p2);
}

static void range_move(struct iotlb_batch_range *dst,
		       struct iotlb_batch_range *src)
{
	dst->start = src->start;
	dst->end = src->end;
	dst->pgsize = src->pgsize;
	dst->queued = false;
	INIT_LIST_HEAD(&dst->freelist);
	list_splice_init(&src->freelist, &dst->freelist);
}

/* Stop tracking ranges: the batch will be promoted anyway. */
static void batch_drop_ranges(struct iotlb_batch *bt)
{
	unsigned int i;

	for (i = 0; i < bt->nr_ranges; i++)
		list_splice_init(&bt->ranges[i].freelist, &bt->freelist);
	bt->nr_ranges = 0;
}

/* Pages between two disjoint ranges, rounded up to whole pages. */
static unsigned long gap_pages(const struct iotlb_batcher *b,
			       unsigned long s1, unsigned long e1,
			       unsigned long s2, unsigned long e2)
{
	unsigned long gap = e1 < s2 ? s2 - e1 - 1 : s1 - e2 - 1;
	unsigned long mask = (1UL << b->granule_shift) - 1;

	return (gap >> b->granule_shift) + !!(gap & mask);
}

static void batch_remove_range(struct iotlb_batch *bt, unsigned int i)
{
	if (i != --bt->nr_ranges)
		range_move(&bt->ranges[i], &bt->ranges[bt->nr_ranges]);
}

/*
 * The batch has max_ranges ranges and one more, [*start, *end], to add:
 * join the two closest ranges of the same leaf size (the new one included)
 * into one that also covers the gap between them, if the pages to
 * invalidate stay within max_pages. Invalidating the gap is harmless, its
 * live translations are just walked again; one range costs less than two.
 * The closest pair of a leaf size has no range of that size between them,
 * so the joined range touches no other. Return false to promote instead.
 *
 * Where a range costs one command whatever its size (%IOTLB_BATCH_COST_ONE)
 * any two ranges may join, and max_pages does not cap the join: such a
 * batch is never promoted by its pages (iotlb_batch_decide()), so the only
 * alternative to joining is promotion for too many ranges, a full flush
 * that throws away every translation the joined range would have kept.
 * The join is not free either: AMD invalidates the aligned block holding
 * the joined range, most of the domain for a low and a high IOVA, without
 * it counting as a full flush, and with amd_iommu_np_cache one command per
 * aligned piece. The closest pair is chosen, so that the least is thrown
 * away.
 */
static bool batch_coalesce(struct iotlb_batcher *b, struct iotlb_batch *bt,
			   unsigned long *start, unsigned long *end,
			   size_t *pgsize, struct list_head *list)
{
	bool capped = b->cost.kind != IOTLB_BATCH_COST_ONE;
	unsigned int n = bt->nr_ranges, i, j, bi = 0, bj = 0;
	unsigned long best = ULONG_MAX, sj, ej, g;
	struct iotlb_batch_range *ri, *rj;

	/* Index n stands for the new range. */
	for (i = 0; i < n; i++) {
		ri = &bt->ranges[i];
		for (j = i + 1; j <= n; j++) {
			if (j < n) {
				rj = &bt->ranges[j];
				if (!pgsize_joins(b, rj->pgsize, ri->pgsize))
					continue;
				sj = rj->start;
				ej = rj->end;
			} else {
				if (!pgsize_joins(b, *pgsize, ri->pgsize))
					continue;
				sj = *start;
				ej = *end;
			}
			g = gap_pages(b, ri->start, ri->end, sj, ej);
			if (g < best) {
				best = g;
				bi = i;
				bj = j;
			}
		}
	}
	if (best == ULONG_MAX ||
	    (capped && bt->pages + range_pages(b, *start, *end) + best >
		       b->params.max_pages))
		return false;

	ri = &bt->ranges[bi];
	if (bj == n) {
		*start = min(*start, ri->start);
		*end = max(*end, ri->end);
		*pgsize = pgsize_join(*pgsize, ri->pgsize);
		list_splice_init(&ri->freelist, list);
		bt->pages -= range_pages(b, ri->start, ri->end);
		batch_remove_range(bt, bi);
	} else {
		rj = &bt->ranges[bj];
		bt->pages -= range_pages(b, ri->start, ri->end) +
			     range_pages(b, rj->start, rj->end);
		ri->start = min(ri->start, rj->start);
		ri->end = max(ri->end, rj->end);
		ri->pgsize = pgsize_join(ri->pgsize, rj->pgsize);
		list_splice_init(&rj->freelist, &ri->freelist);
		bt->pages += range_pages(b, ri->start, ri->end);
		batch_remove_range(bt, bj);
	}
	stat_inc(coalesced);
	return true;
}

/* Add one unmap's range; return how many queued ranges it absorbed. */
static unsigned int batch_add_range(struct iotlb_batcher *b,
				    struct iotlb_batch *bt,
				    const struct iotlb_batch_unmap *u,
				    unsigned long pages, struct list_head *fl)
{
	unsigned long start = u->start, end = u->end;
	size_t pgsize = u->pgsize;
	struct iotlb_batch_range *r, *into = NULL;
	unsigned int i, merged = 0;
	LIST_HEAD(list);

	if (start > end && !bt->unknown) {
		bt->unknown = true;
		batch_drop_ranges(bt);
	}
	if (bt->unknown || bt->overflow) {
		list_splice_init(fl, &bt->freelist);
		bt->pages += pages;
		return 0;
	}
	/*
	 * The first range the unmap touches grows in place to take it, and
	 * any other it then touches; most unmaps stop there.
	 */
	for (i = 0; i < bt->nr_ranges; ) {
		r = &bt->ranges[i];
		if (!pgsize_joins(b, r->pgsize, pgsize) ||
		    !ranges_touch(start, end, r->start, r->end)) {
			i++;
			continue;
		}
		start = min(start, r->start);
		end = max(end, r->end);
		pgsize = pgsize_join(pgsize, r->pgsize);
		bt->pages -= range_pages(b, r->start, r->end);
		merged++;
		if (!into) {
			into = r;
			i++;
			continue;
		}
		/* @into sits before @i: removing @i leaves it in place. */
		list_splice_init(&r->freelist, &into->freelist);
		batch_remove_range(bt, i);
	}
	if (into) {
		into->start = start;
		into->end = end;
		into->pgsize = pgsize;
		list_splice_init(fl, &into->freelist);
		bt->pages += range_pages(b, start, end);
		return merged;
	}

	list_splice_init(fl, &list);
	if (bt->nr_ranges == b->params.max_ranges &&
	    (!b->params.max_ranges ||
	     !batch_coalesce(b, bt, &start, &end, &pgsize, &list))) {
		bt->overflow = true;
		batch_drop_ranges(bt);
		list_splice_init(&list, &bt->freelist);
	} else {
		r = &bt->ranges[bt->nr_ranges++];
		r->start = start;
		r->end = end;
		r->pgsize = pgsize;
		r->queued = false;
		INIT_LIST_HEAD(&r->freelist);
		list_splice_init(&list, &r->freelist);
	}
	bt->pages += range_pages(b, start, end);
	return merged;
}

/*
 * The folios a batch holds are also in an open-addressing hash set, so that
 * a buffer unmapped again and again within one batch (a ring, a benchmark)
 * costs one reference, not one per unmap. Entries leave the set only in the
 * reverse order of their insertion (undo) or all at once (release), which
 * linear probing allows without tombstones.
 */
static u32 *held_lookup(struct iotlb_batcher *b, struct iotlb_batch *bt,
			struct folio *folio)
{
	u32 i = hash_ptr(folio, 32) & b->table_mask;

	while (bt->table[i] && bt->held[bt->table[i] - 1] != folio)
		i = (i + 1) & b->table_mask;
	return &bt->table[i];
}

static void batch_unhold(struct iotlb_batch *bt, unsigned int first)
{
	while (bt->nr_held > first) {
		struct folio *folio = bt->held[--bt->nr_held];

		bt->table[bt->held_slot[bt->nr_held]] = 0;
		bt->held_pages -= folio_nr_pages(folio);
		folio_put(folio);
	}
}

/*
 * Whether the batch holds every folio behind [phys, phys + len) already: a
 * buffer unmapped again within the batch. Also give the bounds of the IOMMU
 * pages the mapping covered (the device reached all of those), which is
 * what the batch holds and remembers.
 */
static inline bool batch_span_held(const struct iotlb_batcher *b,
				   const struct iotlb_batch *bt,
				   phys_addr_t phys, size_t len,
				   phys_addr_t *start, phys_addr_t *end)
{
	phys_addr_t gmask = ((phys_addr_t)1 << b->granule_shift) - 1;
	unsigned int i;

	*start = phys & ~gmask;
	*end = (phys + len - 1) | gmask;
	for (i = 0; i < bt->nr_spans; i++)
		if (bt->span[i].start <= *start && bt->span[i].end >= *end)
			return true;
	return false;
}

/*
 * Take one reference per folio behind the pages from @pfn to @last. On
 * failure, say why; the references this call took stay in held[] for the
 * caller to drop. Inlined, so that a scatterlist pays no call per entry.
 */
static __always_inline bool
batch_hold_pfns(struct iotlb_batcher *b, struct iotlb_batch *bt,
		unsigned long pfn, unsigned long last,
		enum iotlb_batch_sync_reason *why)
{
	while (pfn <= last) {
		struct folio *folio;
		struct page *page;
		u32 *slot;

		if (!pfn_valid(pfn)) {
			*why = IOTLB_BATCH_SYNC_NOPAGE;
			return false;
		}
		page = pfn_to_page(pfn);
		if (is_zone_device_page(page) || is_migrate_cma_page(page)) {
			*why = IOTLB_BATCH_SYNC_NOPAGE;
			return false;
		}
		if (PageSlab(page)) {
			*why = IOTLB_BATCH_SYNC_SLAB;
			return false;
		}
		folio = page_folio(page);
		slot = held_lookup(b, bt, folio);
		if (*slot)
			goto next;	/* the batch holds it already */
		if (bt->nr_held == b->hold_cap) {
			*why = IOTLB_BATCH_SYNC_LARGE;
			return false;
		}
		if (!folio_try_get(folio)) {
			*why = IOTLB_BATCH_SYNC_UNREF;
			return false;
		}
		/* A split between page_folio() and the get: not ours. */
		if (unlikely(page_folio(page) != folio)) {
			folio_put(folio);
			*why = IOTLB_BATCH_SYNC_UNREF;
			return false;
		}
		bt->held[bt->nr_held] = folio;
		bt->held_slot[bt->nr_held] = slot - bt->table;
		*slot = ++bt->nr_held;
		bt->held_pages += folio_nr_pages(folio);
next:
		/* past the folio; a small one is this page alone */
		if (folio_test_large(folio))
			pfn = folio_pfn(folio) + folio_nr_pages(folio);
		else
			pfn++;
	}
	return true;
}

/*
 * The first and last pfn of the IOMMU pages of the buffer [phys, phys +
 * len), @len not 0: the device reached all of them.
 */
static void granule_pfns(const struct iotlb_batcher *b, phys_addr_t phys,
			 size_t len, unsigned long *pfn, unsigned long *last)
{
	phys_addr_t gmask = ((phys_addr_t)1 << b->granule_shift) - 1;

	*pfn = PHYS_PFN(phys & ~gmask);
	*last = PHYS_PFN((phys + len - 1) | gmask);
}

/*
 * The same for the IOMMU pages of the buffer [phys, phys + len). A zero
 * length holds nothing.
 */
static bool batch_hold_range(struct iotlb_batcher *b, struct iotlb_batch *bt,
			     phys_addr_t phys, size_t len,
			     enum iotlb_batch_sync_reason *why)
{
	unsigned long pfn, last;

	if (!len)
		return true;
	granule_pfns(b, phys, len, &pfn, &last);
	return batch_hold_pfns(b, bt, pfn, last, why);
}

/*
 * The same for a buffer the batch then remembers as a span, so that
 * unmapping it again within the batch costs no lookup of its folios.
 */
static bool batch_hold_span(struct iotlb_batcher *b, struct iotlb_batch *bt,
			    phys_addr_t phys, size_t len,
			    enum iotlb_batch_sync_reason *why)
{
	phys_addr_t start, end;

	if (!len || batch_span_held(b, bt, phys, len, &start, &end))
		return true;
	if (!batch_hold_pfns(b, bt, PHYS_PFN(start), PHYS_PFN(end), why))
		return false;

	bt->span[bt->span_next].start = start;
	bt->span[bt->span_next].end = end;
	bt->span_next = (bt->span_next + 1) % IOTLB_BATCH_SPANS;
	if (bt->nr_spans < IOTLB_BATCH_SPANS)
		bt->nr_spans++;
	return true;
}

/*
 * Hold what @u unmaps: its single buffer or the entries of its
 * scatterlist. A list of one entry is a single buffer; the entries of a
 * longer list are not remembered as spans: each would push a single
 * buffer's span out, and such a list is seldom unmapped twice within one
 * batch (its folios are found in held[] all the same).
 */
static bool batch_hold(struct iotlb_batcher *b, struct iotlb_batch *bt,
		       const struct iotlb_batch_unmap *u,
		       enum iotlb_batch_sync_reason *why)
{
	unsigned int first = bt->nr_held;
	struct scatterlist *s;
	int i;

	if (!batch_hold_span(b, bt, u->phys, u->len, why))
		goto fail;
	if (u->sg && u->nents == 1) {
		if (!batch_hold_span(b, bt, sg_phys(u->sg), u->sg->length, why))
			goto fail;
		return true;
	}
	for_each_sg(u->sg, s, u->sg ? u->nents : 0, i)
		if (!batch_hold_range(b, bt, sg_phys(s), s->length, why))
			goto fail;
	return true;
fail:
	batch_unhold(bt, first);
	/* Spans of this unmap may have lost folios: forget them all. */
	bt->nr_spans = 0;
	bt->span_next = 0;
	return false;
}

/* Nothing to hold, or a single buffer the batch holds already. */
static inline bool batch_holds_all(const struct iotlb_batcher *b,
				   const struct iotlb_batch *bt,
				   const struct iotlb_batch_unmap *u)
{
	phys_addr_t start, end;

	return !u->sg &&
	       (!u->len || batch_span_held(b, bt, u->phys, u->len, &start, &end));
}

/*
 * Folios behind one span of an unmap, as batch_hold() would take them
 * into an empty batch, added to @n; @prev is the first PFN of the folio
 * counted last, so that entries sharing a folio with the one before them
 * count it once. Takes no reference and stops once @n exceeds hold_cap.
 */
static unsigned int span_folios(const struct iotlb_batcher *b,
				phys_addr_t phys, size_t len,
				unsigned long *prev, unsigned int n)
{
	unsigned long pfn, last;

	if (!len)
		return n;
	granule_pfns(b, phys, len, &pfn, &last);
	while (pfn <= last && n <= b->hold_cap) {
		unsigned long head = pfn, next = pfn + 1;

		if (pfn_valid(pfn)) {
			struct folio *folio = page_folio(pfn_to_page(pfn));

			head = folio_pfn(folio);
			next = max(head + folio_nr_pages(folio), next);
		}
		if (head != *prev)
			n++;
		*prev = head;
		pfn = next;
	}
	return n;
}

/*
 * Whether @u has more folios than even an empty batch can hold: then
 * flushing the batch it found would not let it in. The count is an upper
 * bound (a folio that two entries of a list not next to each other share
 * counts twice), so an unmap it passes fits an empty batch.
 */
static bool unmap_never_fits(const struct iotlb_batcher *b,
			     const struct iotlb_batch_unmap *u)
{
	unsigned long prev = ULONG_MAX;
	struct scatterlist *s;
	unsigned int n;
	int i;

	n = span_folios(b, u->phys, u->len, &prev, 0);
	for_each_sg(u->sg, s, u->sg ? u->nents : 0, i) {
		if (n > b->hold_cap)
			break;
		n = span_folios(b, sg_phys(s), s->length, &prev, n);
	}
	return n > b->hold_cap;
}

static void full_flush(struct iotlb_batcher *b)
{
	u64 gen = atomic64_inc_return(&b->full_started);

	trace_iotlb_batch_inv_all(b, gen);
	b->ops->flush_all(b);
	/* Count the flush done only after it is; pairs with batch_reap() */
	smp_mb__before_atomic();
	atomic64_inc(&b->full_done);
	stat_inc(inv_full);
}

/* The caller frees what is left on @fl once the invalidation returned. */
static void range_flush(struct iotlb_batcher *b, unsigned long start,
			unsigned long end, size_t pgsize, struct list_head *fl)
{
	trace_iotlb_batch_inv_range(b, start, end, pgsize, !list_empty(fl));
	b->ops->flush_range(b, start, end, pgsize, fl);
	stat_inc(inv_range);
}

/*
 * The @n ranges of a batch, with one flush_ranges call where the domain
 * has it: one completion wait instead of @n. The caller frees what is left
 * on their freelists once it returned.
 */
static void ranges_flush(struct iotlb_batcher *b,
			 struct iotlb_batch_range *ranges, unsigned int n)
{
	unsigned int i;

	if (n < 2 || !b->range_sync || !b->ops->flush_ranges) {
		for (i = 0; i < n; i++)
			range_flush(b, ranges[i].start, ranges[i].end,
				    ranges[i].pgsize, &ranges[i].freelist);
		return;
	}
	for (i = 0; i < n; i++)
		trace_iotlb_batch_inv_range(b, ranges[i].start, ranges[i].end,
					    ranges[i].pgsize,
					    !list_empty(&ranges[i].freelist));
	b->ops->flush_ranges(b, ranges, n);
	stat_add(inv_range, n);
	stat_inc(inv_ranges_calls);
}

/* Hand back the IOVAs of the first @n unmaps of @bt; they are covered. */
static void batch_release_ents(struct iotlb_batcher *b, struct iotlb_batch *bt,
			       unsigned int n, unsigned long held)
{
	trace_iotlb_batch_release(b, n, held);
	b->ops->release(b, bt->ents, n);
}

/* Reset @bt to empty once what it held is released or handed out. */
static void batch_reset(struct iotlb_batcher *b, struct iotlb_batch *bt)
{
	if (bt->nr_ents)
		cpumask_clear_cpu(bt->cpu, b->pending);
	bt->nr_spans = 0;
	bt->span_next = 0;
	batch_drop_ranges(bt);
	bt->nr_ents = 0;
	bt->nr_held = 0;
	bt->held_pages = 0;
	bt->overflow = false;
	bt->unknown = false;
	bt->pages = 0;
}

/* Hand back everything in @bt now: its invalidation has completed. */
static void batch_release_now(struct iotlb_batcher *b, struct iotlb_batch *bt)
{
	batch_release_ents(b, bt, bt->nr_ents, bt->held_pages);
	stat_add(held_now, -(s64)bt->held_pages);
	batch_unhold(bt, 0);
	batch_drop_ranges(bt);
	iommu_put_pages_list(&bt->freelist);
	batch_reset(b, bt);
}

/*
 * Everything in @bt, invalidated: take it out of the batch, under its lock,
 * into @rel, for iotlb_batch_release_out() to hand back once the lock is
 * dropped. So the IRQs-off section pays neither the IOVA frees nor the
 * folio_put() calls (which may free pages, uncharge memcg and take the
 * lruvec lock). The batch goes on with its spare arrays; while they are
 * out (a flush on this batch, from an interrupt or a second flush of the
 * same call, before the release of the first one), it releases in place.
 */
static void batch_release(struct iotlb_batcher *b, struct iotlb_batch *bt,
			  struct iotlb_batch_rel *rel)
{
	unsigned int i;

	if (!rel || rel->bt || !bt->spare_ents) {
		batch_release_now(b, bt);
		return;
	}
	rel->bt = bt;
	rel->ents = bt->ents;
	rel->nr_ents = bt->nr_ents;
	rel->held = bt->held;
	rel->nr_held = bt->nr_held;
	rel->held_pages = bt->held_pages;
	stat_add(held_now, -(s64)bt->held_pages);
	for (i = 0; i < bt->nr_held; i++)
		bt->table[bt->held_slot[i]] = 0;
	bt->ents = bt->spare_ents;
	bt->held = bt->spare_held;
	bt->spare_ents = NULL;
	bt->spare_held = NULL;
	batch_drop_ranges(bt);
	list_splice_init(&bt->freelist, &rel->freelist);
	batch_reset(b, bt);
}

/**
 * iotlb_batch_release_out() - release what a flush handed out of its lock
 * @b: the domain's batcher
 * @rel: filled by the flush, under the batch lock now dropped
 *
 * Hand the IOVAs back through @b->ops->release, drop the folio references
 * and free the page-table pages, with the batch lock not held (and, from
 * process context, interrupts on), then give the arrays back to the batch.
 *
 * Context: any context that may call iotlb_batch_unmap().
 */
static void iotlb_batch_release_out(struct iotlb_batcher *b,
				    struct iotlb_batch_rel *rel)
{
	struct iotlb_batch *bt = rel->bt;
	unsigned long flags;
	unsigned int i;

	if (!bt)
		return;
	trace_iotlb_batch_release(b, rel->nr_ents, rel->held_pages);
	if (rel->nr_ents)
		b->ops->release(b, rel->ents, rel->nr_ents);
	for (i = 0; i < rel->nr_held; i++)
		folio_put(rel->held[i]);
	iommu_put_pages_list(&rel->freelist);

	spin_lock_irqsave(&bt->lock, flags);
	bt->spare_ents = rel->ents;
	bt->spare_held = rel->held;
	spin_unlock_irqrestore(&bt->lock, flags);
	rel->bt = NULL;
}

/*
 * Unmaps waiting in the batches of @b of CPUs other than @self (which may
 * be nr_cpu_ids: none) that a full flush now would release, counted up to
 * @enough. Read without their locks: a stale count only makes the policy
 * pick the other kind of flush, never releases anything early.
 *
 * The caller holds a batch lock with interrupts off, so the scan is
 * bounded whatever the number of CPUs: it visits only the CPUs whose batch
 * is not empty (@b->pending; finding them reads one word per BITS_PER_LONG
 * CPUs) and at most %IOTLB_BATCH_SCAN_CPUS of them, starting after @self
 * so that different CPUs look at different batches. Busy batches past the
 * cap go uncounted: the flush may then keep its ranges where a full flush
 * would also have released them, and they are flushed by their own CPUs.
 */
VISIBLE_IF_KUNIT unsigned int
iotlb_batch_pending_elsewhere(struct iotlb_batcher *b, unsigned int self,
			      unsigned int enough)
{
	u64 done = atomic64_read(&b->full_done);
	unsigned int n = 0, seen = 0;
	int cpu;

	for_each_cpu_wrap(cpu, b->pending, self < nr_cpu_ids ? self : 0) {
		struct iotlb_batch *bt = per_cpu_ptr(b->cpu, cpu);
		unsigned int nr;

		if ((unsigned int)cpu == self)
			continue;
		if (++seen > IOTLB_BATCH_SCAN_CPUS)
			break;
		/* Racy on purpose: a hint for the policy, see above. */
		nr = data_race(bt->nr_ents);
		/* A batch a full flush already covered needs none. */
		if (!nr || data_race(bt->ents[nr - 1].gen) < done) /* racy */
			continue;
		n += nr;
		if (n >= enough)
			break;
	}
	return n;
}
EXPORT_SYMBOL_IF_KUNIT(iotlb_batch_pending_elsewhere);

static void batch_flush(struct iotlb_batcher *b, struct iotlb_batch *bt,
			enum iotlb_batch_trigger trig,
			struct iotlb_batch_rel *rel)
{
	unsigned int i, half = DIV_ROUND_UP(b->params.depth, 2);
	struct iotlb_batch_shape s = {
		.nr_ranges = bt->overflow ? b->params.max_ranges + 1 :
					    bt->nr_ranges,
		.pages = bt->pages,
		.unknown = bt->unknown,
	};
	enum iotlb_batch_decision d;

	lockdep_assert_held(&bt->lock);
	if (!bt->nr_ents)
		return;

	for (i = 0; i < bt->nr_ranges; i++)
		range_cost(b, bt->ranges[i].start, bt->ranges[i].end,
			   bt->ranges[i].pgsize, &s);
	d = iotlb_batch_decide(&b->params, &b->cost, &s);
	/* Only a flush that would not be full anyway needs the count. */
	if (d == IOTLB_BATCH_RANGES && num_online_cpus() > 1) {
		s.elsewhere = iotlb_batch_pending_elsewhere(b, bt->cpu, half);
		d = iotlb_batch_decide(&b->params, &b->cost, &s);
	}
	trace_iotlb_batch_flush(b, trig, d, bt->nr_ents, s.nr_ranges, bt->pages,
				bt->held_pages);
	stat_inc(decision[d]);
	stat_inc(trigger[trig]);
	stat_add(batched_unmaps, bt->nr_ents);
	stat_inc(hist[min_t(unsigned int, ilog2(bt->nr_ents),
			    IOTLB_BATCH_HIST - 1)]);

	if (d == IOTLB_BATCH_RANGES)
		ranges_flush(b, bt->ranges, bt->nr_ranges);
	else
		full_flush(b);
	batch_release(b, bt, rel);
}

/*
 * Release what a completed full flush covered: all of @bt if that flush
 * started after its last unmap, otherwise the IOVAs of the unmaps queued
 * before it started. Those are the oldest ones (their generations never
 * decrease along ents[]); unmaps added while the flush ran keep the batch
 * going. The memory the batch holds and the page-table pages it keeps wait
 * for the batch's own flush (at the latest the timer's): they are not
 * recorded per unmap, and holding them longer is safe.
 */
static noinline void batch_reap_covered(struct iotlb_batcher *b,
					struct iotlb_batch *bt, u64 done,
					struct iotlb_batch_rel *rel)
{
	unsigned int n = bt->nr_ents;

	if (bt->ents[n - 1].gen >= done)
		for (n = 1; bt->ents[n].gen < done; n++)
			;
	stat_inc(trigger[IOTLB_BATCH_TRIG_COVERED]);
	stat_add(batched_unmaps, n);
	if (n == bt->nr_ents) {
		trace_iotlb_batch_flush(b, IOTLB_BATCH_TRIG_COVERED, -1, n,
					bt->nr_ranges, bt->pages,
					bt->held_pages);
		batch_release(b, bt, rel);
		return;
	}
	trace_iotlb_batch_flush(b, IOTLB_BATCH_TRIG_COVERED, -1, n, 0, 0, 0);
	batch_release_ents(b, bt, n, 0);
	bt->nr_ents -= n;
	memmove(bt->ents, bt->ents + n, bt->nr_ents * sizeof(*bt->ents));
}

/* The check, inline: most unmaps find nothing covered. */
static inline void batch_reap(struct iotlb_batcher *b, struct iotlb_batch *bt,
			      struct iotlb_batch_rel *rel)
{
	u64 done = atomic64_read_acquire(&b->full_done);

	if (bt->nr_ents && bt->ents[0].gen < done)
		batch_reap_covered(b, bt, done, rel);
}

static unsigned long batch_timeout_jiffies(struct iotlb_batcher *b)
{
	return max(1UL, msecs_to_jiffies(b->params.timeout_ms));
}

/*
 * Flush every CPU's batch or, with @next, only those whose first unmap is
 * timeout_ms old. Returns whether a batch was left to wait, and in @next
 * when the first of them is due.
 */
static bool batch_flush_cpus(struct iotlb_batcher *b,
			     enum iotlb_batch_trigger trig, unsigned long *next)
{
	unsigned long flags, due, tmo = batch_timeout_jiffies(b);
	bool waiting = false;
	int cpu;

	for_each_possible_cpu(cpu) {
		struct iotlb_batch *bt = per_cpu_ptr(b->cpu, cpu);
		struct iotlb_batch_rel rel = {
			.freelist = LIST_HEAD_INIT(rel.freelist),
		};

		spin_lock_irqsave(&bt->lock, flags);
		batch_reap(b, bt, &rel);
		due = bt->since + tmo;
		if (next && bt->nr_ents && time_before(jiffies, due)) {
			if (!waiting || time_before(due, *next))
				*next = due;
			waiting = true;
		} else {
			batch_flush(b, bt, trig, &rel);
		}
		spin_unlock_irqrestore(&bt->lock, flags);
		iotlb_batch_release_out(b, &rel);
	}
	return waiting;
}

static void iotlb_batch_timeout(struct timer_list *t)
{
	struct iotlb_batcher *b = from_timer(b, t, timer);
	unsigned long next = 0;

	atomic_set(&b->timer_on, 0);
	/* An unmap meanwhile may have armed it already: keep the earlier. */
	if (batch_flush_cpus(b, IOTLB_BATCH_TRIG_TIMER, &next)) {
		atomic_set(&b->timer_on, 1);
		timer_reduce(&b->timer, next);
	}
}

/**
 * iotlb_batcher_set_range_sync() - the domain's flush_range invalidates ranges
 * @b: the domain's batcher
 * @pgsize_bitmap: the page sizes the domain maps with
 *
 * Declare that @b->ops->flush_range invalidates every translation of the
 * range it is given, including ranges the driver did not record while
 * unmapping (a gather marked queued) and ranges merged from several
 * unmaps, and that it may be called from any CPU after the unmap. Without
 * this, which is the default, the batcher relies on nothing but a full
 * flush for what it batches: a driver may post its invalidation while
 * unmapping (and skip it for a queued gather) and only wait for it in its
 * iotlb_sync, as Arm SMMU v2 does.
 *
 * Context: process context, before the first unmap.
 */
void iotlb_batcher_set_range_sync(struct iotlb_batcher *b,
				  unsigned long pgsize_bitmap)
{
	unsigned long big = pgsize_bitmap & (pgsize_bitmap - 1);

	/*
	 * An unmap never spans a leaf larger than itself: below the second
	 * smallest page size every leaf is of the smallest.
	 */
	b->leaf_max = big ? 1UL << __ffs(big) : SIZE_MAX;
	b->range_sync = true;
}
EXPORT_SYMBOL_IF_KUNIT(iotlb_batcher_set_range_sync);

/**
 * iotlb_batcher_set_cost() - say what a range invalidation costs the driver
 * @b: the domain's batcher, with range sync (iotlb_batcher_set_range_sync())
 * @cost: how the driver's commands grow with a range, and when it flushes
 *	the whole domain instead (see &struct iotlb_batch_cost); copied
 *
 * iotlb_batch_decide() weighs a flush's ranges by it. A batcher told
 * nothing assumes %IOTLB_BATCH_COST_RANGE. Without range sync the batcher
 * flushes batches whole and the cost is not used. An unknown kind is
 * warned about once and ignored.
 *
 * Context: process context, before the first unmap.
 */
void iotlb_batcher_set_cost(struct iotlb_batcher *b,
			    const struct iotlb_batch_cost *cost)
{
	if (WARN_ONCE(cost->kind > IOTLB_BATCH_COST_DOMAIN,
		      "unknown IOTLB invalidation cost %d\n", cost->kind))
		return;
	b->cost = *cost;
}
EXPORT_SYMBOL_IF_KUNIT(iotlb_batcher_set_cost);

/**
 * iotlb_batch_gather_queued() - whether an unmap's gather may be queued
 * @b: the domain's batcher
 * @size: bytes to unmap
 * @sync: the caller wants the unmap invalidated before it returns
 *
 * A gather marked queued tells the driver that a flush of the whole domain
 * will follow, so it may skip recording, or posting, a per-page
 * invalidation. Where flush_range invalidates any range, an unmap that can
 * only hold leaves of the granule is queued and invalidated by its IOVA
 * range, which spares the driver gathering it page by page. Elsewhere every
 * batched unmap is queued and the batch is invalidated by a full flush; an
 * unmap to invalidate at once is not, and its driver-gathered range is synced
 * right after the unmap, as in strict mode. An unmap queued here that the
 * batcher cannot batch after all (memory it cannot hold) gets a full flush.
 *
 * Context: any.
 * Return: the value for the gather's @queued.
 */
bool iotlb_batch_gather_queued(const struct iotlb_batcher *b, size_t size,
			       bool sync)
{
	if (b->range_sync)
		return size < b->leaf_max;
	return !sync;
}
EXPORT_SYMBOL_IF_KUNIT(iotlb_batch_gather_queued);

/*
 * The range the batcher may invalidate @u by: the IOVA range itself for a
 * queued gather, or what the driver recorded, where flush_range invalidates
 * any range; elsewhere only what the driver recorded, and only for an unmap
 * invalidated at once (see unmap_now()). Otherwise none: only a full flush
 * covers it.
 */
static void unmap_set_range(const struct iotlb_batcher *b,
			    struct iotlb_batch_unmap *u)
{
	if (!b->range_sync && (u->queued || !u->sync)) {
		u->start = ULONG_MAX;
		u->end = 0;
		u->pgsize = 0;
	} else if (u->queued) {
		u->start = u->iova;
		u->end = u->iova + u->size - 1;
		u->pgsize = 1UL << b->granule_shift;
	}
}

/* Invalidate one unmap now and release it. */
static void unmap_now(struct iotlb_batcher *b, struct iotlb_batch_unmap *u,
		      struct list_head *fl, unsigned long pages,
		      enum iotlb_batch_sync_reason why)
{
	struct iotlb_batch_ent ent = { .iova = u->iova, .size = u->size };
	struct iotlb_batch_shape s = {
		.nr_ranges = 1,
		.pages = pages,
		.unknown = u->start > u->end,
	};
	enum iotlb_batch_decision d;

	trace_iotlb_batch_unmap(b, u->iova, u->size, u->start, u->end,
				u->pgsize, why, 0, 0);
	stat_inc(sync[why]);
	/*
	 * Where flush_range is not known to invalidate any range, an unmap
	 * that the driver gathered itself and that the caller wants
	 * invalidated now is synced as strict mode syncs it, with whatever
	 * the driver recorded: Arm SMMU v2 records no range, its TLBIVAs are
	 * posted already and its iotlb_sync waits for them.
	 */
	if (!b->range_sync && !u->queued && u->sync) {
		range_flush(b, u->start, u->end, u->pgsize, fl);
		goto release;
	}
	if (!s.unknown)
		range_cost(b, u->start, u->end, u->pgsize, &s);
	d = iotlb_batch_decide(&b->params, &b->cost, &s);
	if (d == IOTLB_BATCH_RANGES)
		range_flush(b, u->start, u->end, u->pgsize, fl);
	else
		full_flush(b);
release:
	iommu_put_pages_list(fl);
	b->ops->release(b, &ent, 1);
}

/**
 * iotlb_batch_unmap() - hand an unmapped range to the batcher
 * @b: the domain's batcher
 * @u: the unmap: IOVA range, what the driver recorded, memory to hold
 *
 * The page-table entries must already be cleared. The unmap joins this
 * CPU's batch, holding a reference on every folio behind @u->phys/@u->len
 * and @u->sg, or, when that memory cannot be held (see the DOC comment) or
 * @u->sync is set, is invalidated before this returns. Either way the IOVA
 * range goes back through @b->ops->release only after an invalidation that
 * covers it has completed, and @u->freelist is taken over. @u's range
 * becomes the one the batcher may invalidate it by (see
 * iotlb_batch_gather_queued()), or none.
 *
 * Context: any context that may call the domain's unmap; takes the
 * per-CPU batch lock with interrupts disabled.
 * Return: 0 if the unmap was batched, 1 if it was invalidated at once.
 */
int iotlb_batch_unmap(struct iotlb_batcher *b, struct iotlb_batch_unmap *u)
{
	enum iotlb_batch_sync_reason why = IOTLB_BATCH_SYNC_CALLER;
	unsigned long pages, flags, held;
	struct iotlb_batch_ent *ent;
	struct iotlb_batch_rel rel = {
		.freelist = LIST_HEAD_INIT(rel.freelist),
	};
	struct iotlb_batch *bt;
	unsigned int merged;
	bool arm, unknown;
	LIST_HEAD(none);
	struct list_head *fl = u->freelist ?: &none;

	unmap_set_range(b, u);
	unknown = u->start > u->end;
	if (unknown)
		pages = DIV_ROUND_UP(u->size, 1UL << b->granule_shift);
	else
		pages = range_pages(b, u->start, u->end);
	if (u->sync)
		goto now;

	/*
	 * Order the caller's page-table update against reading full_started
	 * below, so that a full flush counted as later than this unmap also
	 * sees the update; pairs with the barriers in full_flush().
	 */
	smp_mb();
	bt = raw_cpu_ptr(b->cpu);
	spin_lock_irqsave(&bt->lock, flags);
	batch_reap(b, bt, &rel);

	held = bt->held_pages;
	if (!batch_holds_all(b, bt, u) && !batch_hold(b, bt, u, &why)) {
		/* Flush the batch only if that makes room enough. */
		if (why != IOTLB_BATCH_SYNC_LARGE || !bt->nr_ents ||
		    unmap_never_fits(b, u))
			goto unlock_now;
		batch_flush(b, bt, IOTLB_BATCH_TRIG_HOLD, &rel);
		held = bt->held_pages;
		if (!batch_hold(b, bt, u, &why))
			goto unlock_now;
	}
	held = bt->held_pages - held;
	if (held) {
		stat_add(held_now, held);
		stat_add(held_total, held);
	}

	if (!bt->nr_ents) {
		bt->since = jiffies;
		cpumask_set_cpu(bt->cpu, b->pending);
	}
	merged = batch_add_range(b, bt, u, pages, fl);
	ent = &bt->ents[bt->nr_ents++];
	ent->iova = u->iova;
	ent->size = u->size;
	ent->gen = atomic64_read(&b->full_started);
	stat_inc(deferred);
	if (merged)
		stat_add(merged, merged);
	trace_iotlb_batch_unmap(b, u->iova, u->size, u->start, u->end,
				u->pgsize, -1, merged, held);

	if (bt->nr_ents >= b->params.depth)
		batch_flush(b, bt, IOTLB_BATCH_TRIG_DEPTH, &rel);
	arm = bt->nr_ents;
	spin_unlock_irqrestore(&bt->lock, flags);
	iotlb_batch_release_out(b, &rel);

	/* Keep the shared flag's cache line clean in the common case. */
	if (arm && !atomic_read(&b->timer_on) &&
	    !atomic_xchg(&b->timer_on, 1))
		mod_timer(&b->timer, jiffies + batch_timeout_jiffies(b));
	return 0;

unlock_now:
	spin_unlock_irqrestore(&bt->lock, flags);
	iotlb_batch_release_out(b, &rel);
now:
	unmap_now(b, u, fl, pages, why);
	return 1;
}
EXPORT_SYMBOL_IF_KUNIT(iotlb_batch_unmap);

/**
 * iotlb_batch_flush() - flush every CPU's batch of a domain now
 * @b: the domain's batcher
 *
 * Context: any; takes each CPU's batch lock in turn.
 */
void iotlb_batch_flush(struct iotlb_batcher *b)
{
	batch_flush_cpus(b, IOTLB_BATCH_TRIG_EXPLICIT, NULL);
}
EXPORT_SYMBOL_IF_KUNIT(iotlb_batch_flush);

static void batcher_free_arrays(struct iotlb_batcher *b)
{
	int cpu;

	for_each_possible_cpu(cpu) {
		struct iotlb_batch *bt = per_cpu_ptr(b->cpu, cpu);

		kfree(bt->ranges);
		kfree(bt->ents);
		kfree(bt->held);
		kfree(bt->spare_ents);
		kfree(bt->spare_held);
		kfree(bt->held_slot);
		kfree(bt->table);
	}
	free_percpu(b->cpu);
	b->cpu = NULL;
	kfree(b->pending);
	b->pending = NULL;
}

/**
 * iotlb_batcher_init() - set up batched invalidation for a domain
 * @b: the batcher, embedded in the domain's state
 * @ops: the domain's invalidation and release callbacks
 * @params: thresholds (usually &iotlb_batch_default_params); copied
 * @granule_shift: log2 of the domain's smallest page size
 *
 * Context: process context, may sleep.
 * Return: 0, -EINVAL for thresholds out of range, or -ENOMEM.
 */
int iotlb_batcher_init(struct iotlb_batcher *b,
		       const struct iotlb_batch_ops *ops,
		       const struct iotlb_batch_params *params,
		       unsigned int granule_shift)
{
	int cpu;

	if (params->max_ranges > IOTLB_BATCH_MAX_RANGES ||
	    params->max_pages > IOTLB_BATCH_MAX_PAGES || !params->depth ||
	    params->depth > IOTLB_BATCH_MAX_DEPTH || !params->timeout_ms ||
	    params->timeout_ms > IOTLB_BATCH_MAX_TIMEOUT ||
	    granule_shift >= BITS_PER_LONG)
		return -EINVAL;

	b->ops = ops;
	b->params = *params;
	b->granule_shift = granule_shift;
	b->range_sync = false;
	b->leaf_max = 0;
	b->cost = (struct iotlb_batch_cost) { .kind = IOTLB_BATCH_COST_RANGE };
	b->hold_cap = clamp_t(unsigned int, 2 * params->depth,
			      IOTLB_BATCH_MIN_HOLD, IOTLB_BATCH_MAX_HOLD);
	/* At most half full, so that probes stay short. */
	b->table_mask = roundup_pow_of_two(2 * b->hold_cap) - 1;
	atomic64_set(&b->full_started, 0);
	atomic64_set(&b->full_done, 0);
	atomic_set(&b->timer_on, 0);
	timer_setup(&b->timer, iotlb_batch_timeout, 0);

	/* Whole cache lines, apart from the fields every unmap reads. */
	b->pending = kzalloc(ALIGN(cpumask_size(), SMP_CACHE_BYTES),
			     GFP_KERNEL);
	if (!b->pending)
		return -ENOMEM;
	b->cpu = alloc_percpu(struct iotlb_batch);
	if (!b->cpu) {
		kfree(b->pending);
		b->pending = NULL;
		return -ENOMEM;
	}
	for_each_possible_cpu(cpu) {
		struct iotlb_batch *bt = per_cpu_ptr(b->cpu, cpu);
		int node = cpu_to_node(cpu);

		spin_lock_init(&bt->lock);
		bt->cpu = cpu;
		INIT_LIST_HEAD(&bt->freelist);
		bt->ranges = kcalloc_node(max(params->max_ranges, 1U),
					  sizeof(*bt->ranges), GFP_KERNEL, node);
		bt->ents = kcalloc_node(params->depth, sizeof(*bt->ents),
					GFP_KERNEL, node);
		bt->held = kcalloc_node(b->hold_cap, sizeof(*bt->held),
					GFP_KERNEL, node);
		bt->spare_ents = kcalloc_node(params->depth,
					      sizeof(*bt->spare_ents),
					      GFP_KERNEL, node);
		bt->spare_held = kcalloc_node(b->hold_cap,
					      sizeof(*bt->spare_held),
					      GFP_KERNEL, node);
		bt->held_slot = kcalloc_node(b->hold_cap,
					     sizeof(*bt->held_slot),
					     GFP_KERNEL, node);
		bt->table = kcalloc_node(b->table_mask + 1, sizeof(*bt->table),
					 GFP_KERNEL, node);
		if (!bt->ranges || !bt->ents || !bt->held || !bt->held_slot ||
		    !bt->table || !bt->spare_ents || !bt->spare_held) {
			batcher_free_arrays(b);
			return -ENOMEM;
		}
	}
	return 0;
}
EXPORT_SYMBOL_IF_KUNIT(iotlb_batcher_init);

/**
 * iotlb_batcher_destroy() - tear down a domain's batcher
 * @b: the batcher
 *
 * The domain must have no device attached any more (detaching invalidates
 * its translations), so what is still queued is released without another
 * invalidation: IOVAs through @b->ops->release, page-table pages and folio
 * references dropped.
 *
 * Context: process context, may sleep (waits for the timer).
 */
void iotlb_batcher_destroy(struct iotlb_batcher *b)
{
	unsigned long flags;
	int cpu;

	if (!b->cpu)
		return;
	timer_shutdown_sync(&b->timer);
	for_each_possible_cpu(cpu) {
		struct iotlb_batch *bt = per_cpu_ptr(b->cpu, cpu);

		spin_lock_irqsave(&bt->lock, flags);
		batch_release_now(b, bt);
		spin_unlock_irqrestore(&bt->lock, flags);
	}
	batcher_free_arrays(b);
}
EXPORT_SYMBOL_IF_KUNIT(iotlb_batcher_destroy);

/**
 * iotlb_batch_read_stats() - sum the counters of every CPU
 * @st: filled with the totals since boot
 *
 * Context: any; the totals are not a snapshot taken at one instant.
 */
void iotlb_batch_read_stats(struct iotlb_batch_stats *st)
{
	int cpu, i;

	memset(st, 0, sizeof(*st));
	for_each_possible_cpu(cpu) {
		const struct iotlb_batch_stats *c;

		c = per_cpu_ptr(&iotlb_batch_stats, cpu);
		st->deferred += c->deferred;
		for (i = 0; i < IOTLB_BATCH_SYNC_NR; i++)
			st->sync[i] += c->sync[i];
		st->inv_range += c->inv_range;
		st->inv_ranges_calls += c->inv_ranges_calls;
		st->inv_full += c->inv_full;
		st->merged += c->merged;
		st->coalesced += c->coalesced;
		for (i = 0; i < IOTLB_BATCH_DECISION_NR; i++)
			st->decision[i] += c->decision[i];
		for (i = 0; i < IOTLB_BATCH_TRIG_NR; i++)
			st->trigger[i] += c->trigger[i];
		st->batched_unmaps += c->batched_unmaps;
		for (i = 0; i < IOTLB_BATCH_HIST; i++)
			st->hist[i] += c->hist[i];
		st->held_total += c->held_total;
		st->held_now += c->held_now;
	}
	/* Every unmap is either deferred or invalidated at once. */
	st->unmaps = st->deferred;
	for (i = 0; i < IOTLB_BATCH_SYNC_NR; i++)
		st->unmaps += st->sync[i];
}
EXPORT_SYMBOL_IF_KUNIT(iotlb_batch_read_stats);

#ifdef CONFIG_DEBUG_FS
static const char * const sync_names[IOTLB_BATCH_SYNC_NR] = {
	"caller", "slab", "nopage", "unref", "large",
};

static const char * const decision_names[IOTLB_BATCH_DECISION_NR] = {
	"ranges", "promote_ranges", "promote_pages", "promote_unknown",
	"promote_shared", "promote_cmds", "promote_wide",
};

static const char * const trigger_names[IOTLB_BATCH_TRIG_NR] = {
	"depth", "hold", "timer", "explicit", "covered",
};

static int stats_show(struct seq_file *m, void *v)
{
	struct iotlb_batch_stats st;
	int i;

	iotlb_batch_read_stats(&st);
	seq_printf(m, "unmaps %llu\n", st.unmaps);
	seq_printf(m, "deferred %llu\n", st.deferred);
	for (i = 0; i < IOTLB_BATCH_SYNC_NR; i++)
		seq_printf(m, "sync_%s %llu\n", sync_names[i], st.sync[i]);
	seq_printf(m, "inv_range %llu\n", st.inv_range);
	seq_printf(m, "inv_ranges_calls %llu\n", st.inv_ranges_calls);
	seq_printf(m, "inv_full %llu\n", st.inv_full);
	seq_printf(m, "merged %llu\n", st.merged);
	seq_printf(m, "coalesced %llu\n", st.coalesced);
	for (i = 0; i < IOTLB_BATCH_DECISION_NR; i++)
		seq_printf(m, "flush_%s %llu\n", decision_names[i],
			   st.decision[i]);
	for (i = 0; i < IOTLB_BATCH_TRIG_NR; i++)
		seq_printf(m, "trigger_%s %llu\n", trigger_names[i],
			   st.trigger[i]);
	seq_printf(m, "batched_unmaps %llu\n", st.batched_unmaps);
	for (i = 0; i < IOTLB_BATCH_HIST; i++)
		seq_printf(m, "batch_size_%u %llu\n", 1U << i, st.hist[i]);
	seq_printf(m, "held_total %llu\n", st.held_total);
	seq_printf(m, "held_now %lld\n", st.held_now);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(stats);

static int params_show(struct seq_file *m, void *v)
{
	const struct iotlb_batch_params *p = &iotlb_batch_default_params;

	seq_printf(m, "max_ranges %u\n", p->max_ranges);
	seq_printf(m, "max_pages %u\n", p->max_pages);
	seq_printf(m, "depth %u\n", p->depth);
	seq_printf(m, "timeout_ms %u\n", p->timeout_ms);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(params);

/* After iommu_init() made /sys/kernel/debug/iommu, if it did. */
static int __init iotlb_batch_debugfs_init(void)
{
	struct dentry *parent, *dir;

	parent = debugfs_lookup("iommu", NULL);
	if (parent) {
		dir = debugfs_create_dir("iotlb_batch", parent);
		dput(parent);
	} else {
		parent = debugfs_create_dir("iommu", NULL);
		dir = debugfs_create_dir("iotlb_batch", parent);
	}
	debugfs_create_file("stats", 0444, dir, NULL, &stats_fops);
	debugfs_create_file("params", 0444, dir, NULL, &params_fops);
	return 0;
}
late_initcall(iotlb_batch_debugfs_init);
#endif
