/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Tracepoints of the IOVA allocator (drivers/iommu/iova.c).
 *
 * @domain is the struct iova_domain the caller passed in, except in
 * iova_merge, iova_split and iova_lock, which name the tree where it
 * happened: the domain's, or a CPU's pool, which is a struct iova_domain
 * of its own. The domain's tree lock and depot lock are shared by every
 * CPU, a pool's lock is not. Sizes and pfns are in units of the domain's
 * granule.
 */
#undef TRACE_SYSTEM
#define TRACE_SYSTEM iova

#ifndef _TRACE_IOVA_ENUMS
#define _TRACE_IOVA_ENUMS
/* Where an allocation came from, or where a freed range went */
enum iova_trace_path {
	IOVA_TRACE_FAIL,	/* allocation failed */
	IOVA_TRACE_CACHE,	/* a per-CPU cache of freed ranges */
	IOVA_TRACE_POOL,	/* this CPU's pool of address space */
	IOVA_TRACE_STEAL,	/* another CPU's pool */
	IOVA_TRACE_TREE,	/* the domain's tree, under the shared lock */
	IOVA_TRACE_NODE,	/* alloc_iova()/free_iova(): one node */
};

/* Which lock iova_lock reports */
enum iova_trace_lock {
	IOVA_TRACE_LOCK_TREE,	/* a tree's lock (domain's or pool's) */
	IOVA_TRACE_LOCK_DEPOT,	/* the domain's depot of cached ranges */
};
#endif

#if !defined(_TRACE_IOVA_H) || defined(TRACE_HEADER_MULTI_READ)
#define _TRACE_IOVA_H

#include <linux/tracepoint.h>

TRACE_DEFINE_ENUM(IOVA_TRACE_FAIL);
TRACE_DEFINE_ENUM(IOVA_TRACE_CACHE);
TRACE_DEFINE_ENUM(IOVA_TRACE_POOL);
TRACE_DEFINE_ENUM(IOVA_TRACE_STEAL);
TRACE_DEFINE_ENUM(IOVA_TRACE_TREE);
TRACE_DEFINE_ENUM(IOVA_TRACE_NODE);
TRACE_DEFINE_ENUM(IOVA_TRACE_LOCK_TREE);
TRACE_DEFINE_ENUM(IOVA_TRACE_LOCK_DEPOT);

#define show_iova_path(p)						\
	__print_symbolic(p, { IOVA_TRACE_FAIL, "fail" },		\
			 { IOVA_TRACE_CACHE, "cache" },			\
			 { IOVA_TRACE_POOL, "pool" },			\
			 { IOVA_TRACE_STEAL, "steal" },			\
			 { IOVA_TRACE_TREE, "tree" },			\
			 { IOVA_TRACE_NODE, "node" })

#define show_iova_lock(l)						\
	__print_symbolic(l, { IOVA_TRACE_LOCK_TREE, "tree" },		\
			 { IOVA_TRACE_LOCK_DEPOT, "depot" })

/*
 * An allocation: @size pfns (fast path: after rounding up to a power of
 * two below 32) at or below @limit_pfn, at @pfn (0: none), served by
 * @path.
 */
TRACE_EVENT(iova_alloc,

	TP_PROTO(const void *domain, unsigned long size,
		 unsigned long limit_pfn, unsigned long pfn, int path),

	TP_ARGS(domain, size, limit_pfn, pfn, path),

	TP_STRUCT__entry(
		__field(const void *, domain)
		__field(unsigned long, size)
		__field(unsigned long, limit_pfn)
		__field(unsigned long, pfn)
		__field(int, path)
	),

	TP_fast_assign(
		__entry->domain = domain;
		__entry->size = size;
		__entry->limit_pfn = limit_pfn;
		__entry->pfn = pfn;
		__entry->path = path;
	),

	TP_printk("domain=%p size=%lu limit=0x%lx pfn=0x%lx path=%s",
		  __entry->domain, __entry->size, __entry->limit_pfn,
		  __entry->pfn, show_iova_path(__entry->path))
);

/* A free of @size pfns at @pfn; @path tells where the range went. */
TRACE_EVENT(iova_free,

	TP_PROTO(const void *domain, unsigned long pfn, unsigned long size,
		 int path),

	TP_ARGS(domain, pfn, size, path),

	TP_STRUCT__entry(
		__field(const void *, domain)
		__field(unsigned long, pfn)
		__field(unsigned long, size)
		__field(int, path)
	),

	TP_fast_assign(
		__entry->domain = domain;
		__entry->pfn = pfn;
		__entry->size = size;
		__entry->path = path;
	),

	TP_printk("domain=%p pfn=0x%lx size=%lu path=%s",
		  __entry->domain, __entry->pfn, __entry->size,
		  show_iova_path(__entry->path))
);

/*
 * A fast-path range [pfn, pfn + size - 1] joined an abutting extent, which
 * now spans [lo, hi]; @fused: it bridged two extents into one.
 */
TRACE_EVENT(iova_merge,

	TP_PROTO(const void *domain, unsigned long pfn, unsigned long size,
		 unsigned long lo, unsigned long hi, bool fused),

	TP_ARGS(domain, pfn, size, lo, hi, fused),

	TP_STRUCT__entry(
		__field(const void *, domain)
		__field(unsigned long, pfn)
		__field(unsigned long, size)
		__field(unsigned long, lo)
		__field(unsigned long, hi)
		__field(bool, fused)
	),

	TP_fast_assign(
		__entry->domain = domain;
		__entry->pfn = pfn;
		__entry->size = size;
		__entry->lo = lo;
		__entry->hi = hi;
		__entry->fused = fused;
	),

	TP_printk("domain=%p pfn=0x%lx size=%lu extent=0x%lx-0x%lx fused=%d",
		  __entry->domain, __entry->pfn, __entry->size, __entry->lo,
		  __entry->hi, __entry->fused)
);

/*
 * Freeing [pfn, pfn + size - 1] from the middle of the fast-path extent
 * [lo, hi] split it in two.
 */
TRACE_EVENT(iova_split,

	TP_PROTO(const void *domain, unsigned long pfn, unsigned long size,
		 unsigned long lo, unsigned long hi),

	TP_ARGS(domain, pfn, size, lo, hi),

	TP_STRUCT__entry(
		__field(const void *, domain)
		__field(unsigned long, pfn)
		__field(unsigned long, size)
		__field(unsigned long, lo)
		__field(unsigned long, hi)
	),

	TP_fast_assign(
		__entry->domain = domain;
		__entry->pfn = pfn;
		__entry->size = size;
		__entry->lo = lo;
		__entry->hi = hi;
	),

	TP_printk("domain=%p pfn=0x%lx size=%lu extent=0x%lx-0x%lx",
		  __entry->domain, __entry->pfn, __entry->size, __entry->lo,
		  __entry->hi)
);

DECLARE_EVENT_CLASS(iova_pool_chunk,

	TP_PROTO(const void *domain, unsigned int cpu, unsigned long pfn,
		 unsigned long pages),

	TP_ARGS(domain, cpu, pfn, pages),

	TP_STRUCT__entry(
		__field(const void *, domain)
		__field(unsigned int, cpu)
		__field(unsigned long, pfn)
		__field(unsigned long, pages)
	),

	TP_fast_assign(
		__entry->domain = domain;
		__entry->cpu = cpu;
		__entry->pfn = pfn;
		__entry->pages = pages;
	),

	TP_printk("domain=%p cpu=%u pfn=0x%lx pages=%lu",
		  __entry->domain, __entry->cpu, __entry->pfn, __entry->pages)
);

/* CPU @cpu's pool took a chunk of address space from the domain's tree */
DEFINE_EVENT(iova_pool_chunk, iova_pool_refill,

	TP_PROTO(const void *domain, unsigned int cpu, unsigned long pfn,
		 unsigned long pages),

	TP_ARGS(domain, cpu, pfn, pages)
);

/* CPU @cpu's pool gave free address space back to the domain's tree */
DEFINE_EVENT(iova_pool_chunk, iova_pool_return,

	TP_PROTO(const void *domain, unsigned int cpu, unsigned long pfn,
		 unsigned long pages),

	TP_ARGS(domain, cpu, pfn, pages)
);

/* An allocation of @pages pfns came from CPU @cpu's pool, not this CPU's */
DEFINE_EVENT(iova_pool_chunk, iova_pool_steal,

	TP_PROTO(const void *domain, unsigned int cpu, unsigned long pfn,
		 unsigned long pages),

	TP_ARGS(domain, cpu, pfn, pages)
);

/* The lock of a tree, or a domain's depot lock, was taken */
TRACE_EVENT(iova_lock,

	TP_PROTO(const void *domain, int lock),

	TP_ARGS(domain, lock),

	TP_STRUCT__entry(
		__field(const void *, domain)
		__field(int, lock)
	),

	TP_fast_assign(
		__entry->domain = domain;
		__entry->lock = lock;
	),

	TP_printk("domain=%p lock=%s", __entry->domain,
		  show_iova_lock(__entry->lock))
);

#endif /* _TRACE_IOVA_H */

/* This part must be outside protection */
#include <trace/define_trace.h>
