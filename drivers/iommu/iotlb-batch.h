/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Batched IOTLB invalidation for DMA domains: unmapped ranges are gathered
 * per domain and per CPU, merged, and invalidated together; the IOVAs and the
 * memory behind them are released only after that invalidation completed.
 */
#ifndef __IOMMU_IOTLB_BATCH_H
#define __IOMMU_IOTLB_BATCH_H

#include <linux/atomic.h>
#include <linux/iommu.h>
#include <linux/list.h>
#include <linux/spinlock.h>
#include <linux/timer.h>
#include <linux/types.h>

struct folio;
struct scatterlist;
struct iotlb_batcher;
struct iotlb_batch_ent;

/*
 * A merged range of a batch. It is the gather a driver's iotlb_sync takes
 * (start, end, pgsize and freelist; never queued), so that the batch's own
 * array goes to iotlb_sync_ranges as it is. Without the IOMMU API (the
 * KUnit build of the batcher) that gather is empty, and the batcher keeps
 * the same fields in a struct of its own.
 */
#ifdef CONFIG_IOMMU_API
#define iotlb_batch_range iommu_iotlb_gather
#else
struct iotlb_batch_range {
	unsigned long start;
	unsigned long end;
	size_t pgsize;
	struct list_head freelist;
	bool queued;
};
#endif

/**
 * struct iotlb_batch_params - thresholds of the batching policy
 * @max_ranges: distinct ranges a batch may invalidate one by one; one more
 *	joins the two closest across their gap if @max_pages allows, or
 *	promotes the batch to a full-domain flush (0: always promote)
 * @max_pages: pages (of the domain's granule) a batch may invalidate by
 *	range; more and the batch is promoted to a full-domain flush
 * @depth: unmaps a per-CPU batch holds; the unmap that fills it flushes it
 * @timeout_ms: the longest an unmap waits for its invalidation
 *
 * The defaults come from the iommu.batch_* boot parameters.
 */
struct iotlb_batch_params {
	unsigned int max_ranges;
	unsigned int max_pages;
	unsigned int depth;
	unsigned int timeout_ms;
};

/**
 * struct iotlb_batch_ops - what a batcher asks of its domain
 * @flush_range: invalidate the inclusive byte range [@start, @end], whose
 *	leaves were @pgsize bytes. @freelist holds the page-table pages freed
 *	when the range was unmapped (the paging-structure caches must be
 *	invalidated too when it is not empty); the callee may free them, and
 *	the batcher frees what is left on return. Unless the batcher was told
 *	that this invalidates any range (iotlb_batcher_set_range_sync()), it
 *	is only called with the range a driver gathered itself, right after
 *	that unmap and on its CPU, as strict mode syncs it.
 * @flush_ranges: optional: invalidate the @n (more than one) ranges of
 *	@ranges, each as @flush_range would, and return once all of them have
 *	completed, having waited for completion once where the driver can.
 *	@ranges is the batch's own array of gathers (start, end, pgsize and
 *	freelist set, never queued), ready for a driver's iotlb_sync_ranges;
 *	it stays the batch's, under its lock, until the call returns. Each
 *	range's freelist is as for @flush_range. Only called with range
 *	sync (iotlb_batcher_set_range_sync()); without it a flush of several
 *	ranges calls @flush_range for each.
 * @flush_all: invalidate everything the domain may have cached, device
 *	TLBs included.
 * @release: the invalidation covering the @n IOVA ranges in @ents completed:
 *	hand them back to their allocator. One call per flush, not per range,
 *	keeps the indirect call off the per-unmap cost.
 *
 * They are called from the unmap path and from the batcher's timer, the
 * flushes with a batch lock held and interrupts disabled: they must not
 * sleep. @release runs after the lock is dropped, except for the IOVAs of a
 * batch that a full flush covered only in part, a flush that finds the
 * batch's spare arrays still out, and the batcher's teardown.
 */
struct iotlb_batch_ops {
	void (*flush_range)(struct iotlb_batcher *b, unsigned long start,
			    unsigned long end, size_t pgsize,
			    struct list_head *freelist);
	void (*flush_ranges)(struct iotlb_batcher *b,
			     struct iotlb_batch_range *ranges, unsigned int n);
	void (*flush_all)(struct iotlb_batcher *b);
	void (*release)(struct iotlb_batcher *b,
			const struct iotlb_batch_ent *ents, unsigned int n);
};

/*
 * Per-page invalidation commands a flush may issue before a full flush is
 * preferred: one 256-byte burst of 16-byte queue commands. A guess at where
 * the commands cost more than refilling a flushed IOTLB, not a measurement.
 */
#define IOTLB_BATCH_MAX_PAGE_CMDS	16UL

/* What one range invalidation costs the domain's driver. */
enum iotlb_batch_cost_kind {
	IOTLB_BATCH_COST_RANGE,		/* a few commands, whatever the size */
	IOTLB_BATCH_COST_PER_PAGE,	/* one command per page of its pgsize */
	IOTLB_BATCH_COST_ONE,		/* one command, whatever the size */
	IOTLB_BATCH_COST_POW2,		/* one command for the aligned block */
	IOTLB_BATCH_COST_DOMAIN,	/* a flush of the whole domain */
};

/**
 * struct iotlb_batch_cost - what the domain's driver does for a range
 * @kind: how the commands of one flush_range grow with the range
 *	(%IOTLB_BATCH_COST_RANGE, the default, is what the batcher assumes
 *	of a driver that says nothing)
 * @max_order: for %IOTLB_BATCH_COST_POW2: the driver invalidates the
 *	smallest naturally aligned block of 2^order granules that holds the
 *	range, and the whole domain instead when order exceeds @max_order
 *
 * Each flush_range call is one completion wait, whatever its kind; a
 * flush_ranges call is one for all its ranges. A driver of
 * %IOTLB_BATCH_COST_ONE must not depend on the leaf size it is handed:
 * ranges gathered with different leaf sizes are joined, and the joined
 * range carries the smallest of them (0 where one was not recorded).
 */
struct iotlb_batch_cost {
	enum iotlb_batch_cost_kind kind;
	unsigned int max_order;
};

/* Why an unmap was invalidated at once instead of being batched. */
enum iotlb_batch_sync_reason {
	IOTLB_BATCH_SYNC_CALLER,	/* the caller frees the memory at once */
	IOTLB_BATCH_SYNC_SLAB,		/* slab object: a page ref cannot hold it */
	IOTLB_BATCH_SYNC_NOPAGE,	/* no struct page, ZONE_DEVICE or CMA */
	IOTLB_BATCH_SYNC_UNREF,		/* page with no reference to add to */
	IOTLB_BATCH_SYNC_LARGE,		/* more folios than a batch can hold */
	IOTLB_BATCH_SYNC_NR
};

/* Why a batch was flushed. */
enum iotlb_batch_trigger {
	IOTLB_BATCH_TRIG_DEPTH,		/* it held params.depth unmaps */
	IOTLB_BATCH_TRIG_HOLD,		/* no room left for held folios */
	IOTLB_BATCH_TRIG_TIMER,		/* params.timeout_ms elapsed */
	IOTLB_BATCH_TRIG_EXPLICIT,	/* iotlb_batch_flush() */
	IOTLB_BATCH_TRIG_COVERED,	/* a full flush elsewhere covered it */
	IOTLB_BATCH_TRIG_NR
};

/* What a flush invalidates. */
enum iotlb_batch_decision {
	IOTLB_BATCH_RANGES,		/* each merged range on its own */
	IOTLB_BATCH_FULL_RANGES,	/* promoted: too many ranges */
	IOTLB_BATCH_FULL_PAGES,		/* promoted: too many pages */
	IOTLB_BATCH_FULL_UNKNOWN,	/* promoted: a range was not recorded */
	IOTLB_BATCH_FULL_SHARED,	/* promoted: it releases other CPUs too */
	IOTLB_BATCH_FULL_CMDS,		/* promoted: too many per-page commands */
	IOTLB_BATCH_FULL_WIDE,		/* the driver would flush the domain */
	IOTLB_BATCH_DECISION_NR
};

#define IOTLB_BATCH_HIST	10	/* log2 buckets of unmaps per batch */
#define IOTLB_BATCH_SPANS	4	/* memory ranges a batch remembers */

/**
 * struct iotlb_batch_stats - counters, summed over every CPU and domain
 * @unmaps: unmaps handed to iotlb_batch_unmap() (@deferred plus @sync)
 * @deferred: of those, batched (invalidated later)
 * @sync: of those, invalidated at once, by reason
 * @inv_range: page-range invalidations issued
 * @inv_ranges_calls: flushes that issued several of them with one
 *	flush_ranges call (one completion wait where the driver can)
 * @inv_full: full-domain flushes issued
 * @merged: unmapped ranges merged into an abutting or overlapping one
 * @coalesced: pairs of ranges joined across a gap to stay within max_ranges
 * @decision: batch flushes by decision (ranges, or promotion and why)
 * @trigger: batch flushes by what started them
 * @batched_unmaps: unmaps released by batch flushes, their own or (covered)
 *	a full flush of another batch
 * @hist: batch flushes by unmaps in the batch, bucket i holds 2^i..2^(i+1)-1
 * @held_total: pages ever held waiting for a flush
 * @held_now: pages held waiting for a flush now
 */
struct iotlb_batch_stats {
	u64 unmaps;
	u64 deferred;
	u64 sync[IOTLB_BATCH_SYNC_NR];
	u64 inv_range;
	u64 inv_ranges_calls;
	u64 inv_full;
	u64 merged;
	u64 coalesced;
	u64 decision[IOTLB_BATCH_DECISION_NR];
	u64 trigger[IOTLB_BATCH_TRIG_NR];
	u64 batched_unmaps;
	u64 hist[IOTLB_BATCH_HIST];
	u64 held_total;
	s64 held_now;
};

struct iotlb_batch_ent {
	unsigned long iova;
	size_t size;
	u64 gen;		/* full flushes started before it was added */
};

/* One CPU's batch for one domain. */
struct iotlb_batch {
	spinlock_t lock;	/* protects the batch; taken with irqs off */
	unsigned int cpu;	/* whose batch it is */
	unsigned int nr_ents;
	unsigned int nr_ranges;
	unsigned int nr_held;
	unsigned long since;	/* jiffies: first unmap into the empty batch */
	bool overflow;		/* more than max_ranges: ranges not kept */
	bool unknown;		/* an unmap had no recorded range */
	unsigned long pages;	/* pages to invalidate */
	unsigned long held_pages;
	unsigned int nr_spans;	/* valid entries of @span */
	unsigned int span_next;	/* the one to replace next */
	struct {		/* memory whose folios the batch holds */
		phys_addr_t start;
		phys_addr_t end;
	} span[IOTLB_BATCH_SPANS];
	struct list_head freelist;	/* page-table pages of dropped ranges */
	/*
	 * Merged ranges, as the gathers a driver's iotlb_sync takes (never
	 * marked queued): flush_ranges passes this array itself, which no
	 * other flush touches while the batch lock is held.
	 */
	struct iotlb_batch_range *ranges;
	struct iotlb_batch_ent *ents;
	struct folio **held;
	u32 *held_slot;		/* where held[i] sits in @table */
	u32 *table;		/* 1 + index in held[], or 0: a folio set */
	/*
	 * A flush hands its ents[] and held[] out, to be released after the
	 * lock is dropped, and goes on with these; NULL while they are out.
	 */
	struct iotlb_batch_ent *spare_ents;
	struct folio **spare_held;
};

/**
 * struct iotlb_batcher - batched invalidation state of one domain
 * @ops: the domain's invalidation and release callbacks
 * @params: thresholds, fixed at init
 * @granule_shift: log2 of the domain's smallest page size
 * @hold_cap: distinct folios one CPU's batch can hold
 * @table_mask: size - 1 of each batch's folio hash table
 * @cpu: the per-CPU batches
 * @pending: the CPUs whose batch holds unmaps: set by the unmap that finds
 *	the batch empty, cleared when it is emptied, both under its lock;
 *	read without it (see iotlb_batch_pending_elsewhere()). A line of its
 *	own, written once per batch filled, not once per unmap
 * @full_started: full flushes started
 * @full_done: full flushes completed
 * @timer: flushes each CPU's batch once its first unmap is
 *	@params.timeout_ms old
 * @timer_on: @timer is pending
 * @range_sync: @ops->flush_range invalidates whatever range it is given,
 *	whether or not the driver recorded it at unmap time (see
 *	iotlb_batcher_set_range_sync())
 * @leaf_max: with @range_sync, unmaps smaller than this hold only leaves of
 *	the granule and may be gathered queued
 * @cost: what a range invalidation costs the driver, with @range_sync (see
 *	iotlb_batcher_set_cost())
 */
struct iotlb_batcher {
	const struct iotlb_batch_ops *ops;
	struct iotlb_batch_params params;
	unsigned int granule_shift;
	bool range_sync;
	size_t leaf_max;
	struct iotlb_batch_cost cost;
	unsigned int hold_cap;
	unsigned int table_mask;
	struct iotlb_batch __percpu *cpu;
	struct cpumask *pending;
	atomic64_t full_started;
	atomic64_t full_done;
	struct timer_list timer;
	atomic_t timer_on;
};

/**
 * struct iotlb_batch_unmap - one unmap handed to the batcher
 * @iova: start of the IOVA range to release after the invalidation
 * @size: its length in bytes
 * @start: first byte to invalidate, as the driver recorded it
 * @end: last byte to invalidate; @start > @end means "not recorded"
 * @pgsize: leaf size the driver recorded for the range
 * @freelist: page-table pages the unmap freed (taken over, may be NULL)
 * @phys: start of the memory behind a single-range mapping
 * @len: its length (0 when @sg is used or nothing needs holding)
 * @sg: the scatterlist of a mapped list, or NULL
 * @nents: its length, as passed to the unmap
 * @queued: the driver's gather was marked queued (as
 *	iotlb_batch_gather_queued() said): it recorded no range, and may have
 *	skipped the invalidation it would have posted while unmapping
 * @sync: the caller will reuse the memory at once: invalidate now
 */
struct iotlb_batch_unmap {
	unsigned long iova;
	size_t size;
	unsigned long start;
	unsigned long end;
	size_t pgsize;
	struct list_head *freelist;
	phys_addr_t phys;
	size_t len;
	struct scatterlist *sg;
	int nents;
	bool queued;
	bool sync;
};

extern struct iotlb_batch_params iotlb_batch_default_params;

int iotlb_batcher_init(struct iotlb_batcher *b,
		       const struct iotlb_batch_ops *ops,
		       const struct iotlb_batch_params *params,
		       unsigned int granule_shift);
void iotlb_batcher_destroy(struct iotlb_batcher *b);
void iotlb_batcher_set_range_sync(struct iotlb_batcher *b,
				  unsigned long pgsize_bitmap);
void iotlb_batcher_set_cost(struct iotlb_batcher *b,
			    const struct iotlb_batch_cost *cost);
bool iotlb_batch_gather_queued(const struct iotlb_batcher *b, size_t size,
			       bool sync);
int iotlb_batch_unmap(struct iotlb_batcher *b, struct iotlb_batch_unmap *u);
void iotlb_batch_flush(struct iotlb_batcher *b);
void iotlb_batch_read_stats(struct iotlb_batch_stats *st);
/**
 * struct iotlb_batch_shape - what a flush would invalidate by range
 * @nr_ranges: distinct ranges
 * @pages: granules they cover
 * @cmds: invalidation commands they cost the driver (see
 *	&struct iotlb_batch_cost)
 * @wide: the driver would turn one of them into a flush of the domain
 * @unknown: some unmap recorded no range
 * @elsewhere: unmaps waiting in the domain's other batches, which a full
 *	flush would release too
 */
struct iotlb_batch_shape {
	unsigned int nr_ranges;
	unsigned long pages;
	unsigned long cmds;
	bool wide;
	bool unknown;
	unsigned int elsewhere;
};

enum iotlb_batch_decision
iotlb_batch_decide(const struct iotlb_batch_params *p,
		   const struct iotlb_batch_cost *c,
		   const struct iotlb_batch_shape *s);
int iotlb_batch_parse_param(const char *name, const char *str,
			    unsigned int min, unsigned int max,
			    unsigned int *val);

/* CPUs' batches a flush looks at to count the unmaps waiting elsewhere. */
#define IOTLB_BATCH_SCAN_CPUS	16

#if IS_ENABLED(CONFIG_KUNIT)
unsigned int iotlb_batch_pending_elsewhere(struct iotlb_batcher *b,
					   unsigned int self,
					   unsigned int enough);
#endif

#endif /* __IOMMU_IOTLB_BATCH_H */
