/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Tracepoints of batched IOTLB invalidation (drivers/iommu/iotlb-batch.c).
 *
 * The numeric codes printed symbolically below are the values of the enums
 * in drivers/iommu/iotlb-batch.h; iotlb-batch.c asserts that they match.
 */
#undef TRACE_SYSTEM
#define TRACE_SYSTEM iotlb_batch

#if !defined(_TRACE_IOTLB_BATCH_H) || defined(TRACE_HEADER_MULTI_READ)
#define _TRACE_IOTLB_BATCH_H

#include <linux/tracepoint.h>

#define show_iotlb_batch_sync(r)					\
	__print_symbolic(r, { -1, "deferred" }, { 0, "caller" },	\
			 { 1, "slab" }, { 2, "nopage" }, { 3, "unref" },\
			 { 4, "large" })

#define show_iotlb_batch_trigger(t)					\
	__print_symbolic(t, { 0, "depth" }, { 1, "hold" },		\
			 { 2, "timer" }, { 3, "explicit" },		\
			 { 4, "covered" })

#define show_iotlb_batch_decision(d)					\
	__print_symbolic(d, { -1, "none" }, { 0, "ranges" },		\
			 { 1, "full-ranges" }, { 2, "full-pages" },	\
			 { 3, "full-unknown" }, { 4, "full-shared" },	\
			 { 5, "full-cmds" }, { 6, "full-wide" })

TRACE_EVENT(iotlb_batch_unmap,

	TP_PROTO(const void *batcher, unsigned long iova, size_t size,
		 unsigned long start, unsigned long end, size_t pgsize,
		 int sync, unsigned int merged, unsigned long held),

	TP_ARGS(batcher, iova, size, start, end, pgsize, sync, merged, held),

	TP_STRUCT__entry(
		__field(const void *, batcher)
		__field(unsigned long, iova)
		__field(size_t, size)
		__field(unsigned long, start)
		__field(unsigned long, end)
		__field(size_t, pgsize)
		__field(int, sync)
		__field(unsigned int, merged)
		__field(unsigned long, held)
	),

	TP_fast_assign(
		__entry->batcher = batcher;
		__entry->iova = iova;
		__entry->size = size;
		__entry->start = start;
		__entry->end = end;
		__entry->pgsize = pgsize;
		__entry->sync = sync;
		__entry->merged = merged;
		__entry->held = held;
	),

	TP_printk("batcher=%p iova=0x%lx size=0x%zx inv=0x%lx-0x%lx pgsize=0x%zx %s merged=%u held=%lu",
		  __entry->batcher, __entry->iova, __entry->size,
		  __entry->start, __entry->end, __entry->pgsize,
		  show_iotlb_batch_sync(__entry->sync), __entry->merged,
		  __entry->held)
);

TRACE_EVENT(iotlb_batch_flush,

	TP_PROTO(const void *batcher, int trigger, int decision,
		 unsigned int unmaps, unsigned int ranges, unsigned long pages,
		 unsigned long held),

	TP_ARGS(batcher, trigger, decision, unmaps, ranges, pages, held),

	TP_STRUCT__entry(
		__field(const void *, batcher)
		__field(int, trigger)
		__field(int, decision)
		__field(unsigned int, unmaps)
		__field(unsigned int, ranges)
		__field(unsigned long, pages)
		__field(unsigned long, held)
	),

	TP_fast_assign(
		__entry->batcher = batcher;
		__entry->trigger = trigger;
		__entry->decision = decision;
		__entry->unmaps = unmaps;
		__entry->ranges = ranges;
		__entry->pages = pages;
		__entry->held = held;
	),

	TP_printk("batcher=%p trigger=%s decision=%s unmaps=%u ranges=%u pages=%lu held=%lu",
		  __entry->batcher, show_iotlb_batch_trigger(__entry->trigger),
		  show_iotlb_batch_decision(__entry->decision),
		  __entry->unmaps, __entry->ranges, __entry->pages,
		  __entry->held)
);

TRACE_EVENT(iotlb_batch_inv_range,

	TP_PROTO(const void *batcher, unsigned long start, unsigned long end,
		 size_t pgsize, bool tables),

	TP_ARGS(batcher, start, end, pgsize, tables),

	TP_STRUCT__entry(
		__field(const void *, batcher)
		__field(unsigned long, start)
		__field(unsigned long, end)
		__field(size_t, pgsize)
		__field(bool, tables)
	),

	TP_fast_assign(
		__entry->batcher = batcher;
		__entry->start = start;
		__entry->end = end;
		__entry->pgsize = pgsize;
		__entry->tables = tables;
	),

	TP_printk("batcher=%p range=0x%lx-0x%lx pgsize=0x%zx tables=%d",
		  __entry->batcher, __entry->start, __entry->end,
		  __entry->pgsize, __entry->tables)
);

TRACE_EVENT(iotlb_batch_inv_all,

	TP_PROTO(const void *batcher, u64 gen),

	TP_ARGS(batcher, gen),

	TP_STRUCT__entry(
		__field(const void *, batcher)
		__field(u64, gen)
	),

	TP_fast_assign(
		__entry->batcher = batcher;
		__entry->gen = gen;
	),

	TP_printk("batcher=%p gen=%llu", __entry->batcher, __entry->gen)
);

TRACE_EVENT(iotlb_batch_release,

	TP_PROTO(const void *batcher, unsigned int unmaps, unsigned long held),

	TP_ARGS(batcher, unmaps, held),

	TP_STRUCT__entry(
		__field(const void *, batcher)
		__field(unsigned int, unmaps)
		__field(unsigned long, held)
	),

	TP_fast_assign(
		__entry->batcher = batcher;
		__entry->unmaps = unmaps;
		__entry->held = held;
	),

	TP_printk("batcher=%p unmaps=%u held=%lu",
		  __entry->batcher, __entry->unmaps, __entry->held)
);

#endif /* _TRACE_IOTLB_BATCH_H */

/* This part must be outside protection */
#include <trace/define_trace.h>
