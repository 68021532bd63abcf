/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * IOVA allocator: allocated ranges of I/O virtual page frames kept in an
 * rbtree whose nodes carry the largest free gap of their subtree, with
 * abutting fast-path allocations coalesced into extents and per-CPU caches
 * of freed ranges. See Documentation/core-api/iova.rst.
 */

#ifndef _IOVA_H_
#define _IOVA_H_

#include <linux/types.h>
#include <linux/kernel.h>
#include <linux/moduleparam.h>
#include <linux/rbtree.h>
#include <linux/seqlock.h>
#include <linux/spinlock.h>
#include <linux/string.h>
#include <linux/dma-mapping.h>

struct dentry;

/**
 * struct iova_gapsum - the best free gap below one node or in a subtree
 * @gap: length in pfns of the largest gap
 * @fit: largest aligned-fit key of the gaps (see iova.c)
 */
struct iova_gapsum {
	unsigned long	gap;
	u64		fit;
};

/**
 * struct iova - a range of allocated IOVA page frames
 * @node: link in the domain's rbtree, ordered by address
 * @pfn_hi: highest pfn of the range
 * @pfn_lo: lowest pfn of the range
 *
 * A node returned by alloc_iova(), reserve_iova() or find_iova() on such a
 * range is exactly one allocation or reservation. Ranges allocated with
 * alloc_iova_fast() may share one node (an extent) with abutting ones of
 * the same power-of-two size.
 */
struct iova {
	struct rb_node	node;
	unsigned long	pfn_hi;
	unsigned long	pfn_lo;
	/* private: owned by iova.c */
	unsigned long	gap_lo;
	struct iova_gapsum own;
	struct iova_gapsum sub;
	unsigned int	kind;
	unsigned int	unit;
};

struct iova_cpu_cache;
struct iova_depot;

/* Spare nodes a domain keeps beyond those it owes its extents (see iova.c) */
#define IOVA_SPARE_NODES	8

/**
 * struct iova_domain - an IOVA address space
 * @iova_rbtree_lock: protects the tree, the spare nodes and the tree
 *	counters
 * @rbroot: the allocated ranges, ordered by address
 * @granule: size in bytes of one pfn, a power of two no larger than PAGE_SIZE
 * @start_pfn: lowest pfn that may be allocated
 * @dma_32bit_pfn: first pfn above the 32-bit DMA space
 * @anchor: node at the top of the space; owns the gap above all ranges
 *
 * Only @granule and @start_pfn may be read outside iova.c (a non-zero value
 * means the domain is initialised).
 */
struct iova_domain {
	spinlock_t	iova_rbtree_lock;	/* protects the tree */
	struct rb_root	rbroot;
	unsigned long	granule;
	unsigned long	start_pfn;
	unsigned long	dma_32bit_pfn;
	struct iova	anchor;
	/* private: owned by iova.c */
	seqcount_spinlock_t seq;
	atomic64_t	releases;
	bool		merge;
	bool		pools;
	atomic_t	fail_node_allocs;
	atomic_t	fail_node_skip;
	unsigned long	nr_spare;
	unsigned long	nr_fast_units;
	unsigned long	nr_fast_nodes;
	struct iova	*spares;
	unsigned long	nr_extents;
	unsigned long	nr_pool_nodes;
	unsigned long	nr_allocs;
	unsigned long	nr_pages;
	unsigned long	nr_merges;
	unsigned long	nr_splits;
	unsigned long	nr_lost;
	unsigned long	nr_tree_locks;
	unsigned long	nr_fast_allocs;
	unsigned long	rest_lo;
	unsigned long	rest_hi;
	unsigned int	rest_cpu;
	struct iova_cpu_cache __percpu *caches;
	struct iova_depot *depot;
	struct hlist_node cpuhp_dead;
	struct dentry	*debugfs;
};

/**
 * struct iova_stats - a snapshot of a domain's counters
 * @extents: nodes in the tree (allocations, extents, reservations)
 * @allocs_live: allocations held by callers (not counting cached ranges)
 * @pages_live: pages of those allocations
 * @merges: allocations that joined an existing extent, and extents fused
 * @splits: extents split in two by a free from their middle
 * @cache_hits: fast-path allocations served by a per-CPU cache
 * @cache_misses: cacheable fast-path allocations that went to the tree
 * @cached: ranges held in the per-CPU caches and the depot
 * @cached_pages: pages of those ranges
 * @banked: spare nodes owed to the extents, one per allocation that
 *	joined an extent instead of taking a node of its own
 * @lost: pages a free could not give back for want of a node (never, as
 *	long as the spare nodes the extents are owed are there)
 * @shared_locks: acquisitions of the domain-wide locks (tree and depot)
 * @cache_bytes: memory of the per-CPU caches, pools and the depot
 * @pool_allocs: fast-path allocations served by a CPU's pool
 * @pool_pages: pages of the chunks the pools own
 * @chunk_refills: chunks the pools took from the domain's tree
 * @chunk_returns: chunks the pools gave back
 * @remote_frees: frees into a pool made by another CPU
 * @node_bytes: memory of the tree nodes and spare nodes
 * @depth: height of the rbtree
 */
struct iova_stats {
	unsigned long	extents;
	unsigned long	allocs_live;
	unsigned long	pages_live;
	unsigned long	merges;
	unsigned long	splits;
	unsigned long	cache_hits;
	unsigned long	cache_misses;
	unsigned long	cached;
	unsigned long	cached_pages;
	unsigned long	banked;
	unsigned long	lost;
	unsigned long	shared_locks;
	unsigned long	cache_bytes;
	unsigned long	pool_allocs;
	unsigned long	pool_pages;
	unsigned long	chunk_refills;
	unsigned long	chunk_returns;
	unsigned long	remote_frees;
	unsigned long	node_bytes;
	unsigned int	depth;
};

static inline unsigned long iova_size(struct iova *iova)
{
	return iova->pfn_hi - iova->pfn_lo + 1;
}

static inline unsigned long iova_shift(struct iova_domain *iovad)
{
	return __ffs(iovad->granule);
}

static inline unsigned long iova_mask(struct iova_domain *iovad)
{
	return iovad->granule - 1;
}

static inline size_t iova_offset(struct iova_domain *iovad, dma_addr_t iova)
{
	return iova & iova_mask(iovad);
}

static inline size_t iova_align(struct iova_domain *iovad, size_t size)
{
	return ALIGN(size, iovad->granule);
}

static inline size_t iova_align_down(struct iova_domain *iovad, size_t size)
{
	return ALIGN_DOWN(size, iovad->granule);
}

static inline dma_addr_t iova_dma_addr(struct iova_domain *iovad,
				       struct iova *iova)
{
	return (dma_addr_t)iova->pfn_lo << iova_shift(iovad);
}

static inline unsigned long iova_pfn(struct iova_domain *iovad, dma_addr_t iova)
{
	return iova >> iova_shift(iovad);
}

#if IS_REACHABLE(CONFIG_IOMMU_IOVA)
int iova_cache_get(void);
void iova_cache_put(void);

unsigned long iova_rcache_range(void);

void free_iova(struct iova_domain *iovad, unsigned long pfn);
void __free_iova(struct iova_domain *iovad, struct iova *iova);
struct iova *alloc_iova(struct iova_domain *iovad, unsigned long size,
			unsigned long limit_pfn, bool size_aligned);
void free_iova_fast(struct iova_domain *iovad, unsigned long pfn,
		    unsigned long size);
unsigned long alloc_iova_fast(struct iova_domain *iovad, unsigned long size,
			      unsigned long limit_pfn, bool flush_rcache);
struct iova *reserve_iova(struct iova_domain *iovad, unsigned long pfn_lo,
			  unsigned long pfn_hi);
void init_iova_domain(struct iova_domain *iovad, unsigned long granule,
		      unsigned long start_pfn);
int iova_domain_init_rcaches(struct iova_domain *iovad);
struct iova *find_iova(struct iova_domain *iovad, unsigned long pfn);
void put_iova_domain(struct iova_domain *iovad);

/* Counters and checks, for debugfs and exported to KUnit tests only */
void iova_domain_stats(struct iova_domain *iovad, struct iova_stats *st);
#if IS_ENABLED(CONFIG_IOVA_DEBUG)
int iova_validate(struct iova_domain *iovad);
#else
static inline int iova_validate(struct iova_domain *iovad)
{
	return 0;
}
#endif

/* Test hooks, exported to KUnit tests only */
void iova_domain_set_merge(struct iova_domain *iovad, bool merge);
void iova_domain_set_pools(struct iova_domain *iovad, bool pools);
unsigned int iova_inject_node_failures(struct iova_domain *iovad,
				       unsigned int count);
void iova_inject_node_failure_nth(struct iova_domain *iovad, unsigned int nth);
void iova_domain_cpu_dead(struct iova_domain *iovad, unsigned int cpu);
#if IS_ENABLED(CONFIG_KUNIT)
extern const struct kernel_param_ops iova_merge_param_ops;
struct rb_node *iova_lookup_child(struct iova_domain *iovad, struct iova *n,
				  bool right);
#endif

#else
static inline int iova_cache_get(void)
{
	return -ENOTSUPP;
}

static inline void iova_cache_put(void)
{
}

static inline void free_iova(struct iova_domain *iovad, unsigned long pfn)
{
}

static inline void __free_iova(struct iova_domain *iovad, struct iova *iova)
{
}

static inline struct iova *alloc_iova(struct iova_domain *iovad,
				      unsigned long size,
				      unsigned long limit_pfn,
				      bool size_aligned)
{
	return NULL;
}

static inline void free_iova_fast(struct iova_domain *iovad,
				  unsigned long pfn,
				  unsigned long size)
{
}

static inline unsigned long alloc_iova_fast(struct iova_domain *iovad,
					    unsigned long size,
					    unsigned long limit_pfn,
					    bool flush_rcache)
{
	return 0;
}

static inline struct iova *reserve_iova(struct iova_domain *iovad,
					unsigned long pfn_lo,
					unsigned long pfn_hi)
{
	return NULL;
}

static inline void init_iova_domain(struct iova_domain *iovad,
				    unsigned long granule,
				    unsigned long start_pfn)
{
}

static inline struct iova *find_iova(struct iova_domain *iovad,
				     unsigned long pfn)
{
	return NULL;
}

static inline void put_iova_domain(struct iova_domain *iovad)
{
}

static inline void iova_domain_stats(struct iova_domain *iovad,
				     struct iova_stats *st)
{
	memset(st, 0, sizeof(*st));
}

static inline int iova_validate(struct iova_domain *iovad)
{
	return 0;
}

#endif

#endif
