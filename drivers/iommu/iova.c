// SPDX-License-Identifier: GPL-2.0-only
/*
 * IOVA allocator: coalescing extents in a gap-augmented rbtree, with
 * per-CPU caches of freed fast-path ranges and per-CPU pools.
 *
 * Note for the userspace harness (tools/testing/iova/), which compiles this
 * file unchanged: besides rbtree, spinlocks, atomics, kmem_cache, percpu,
 * cpuhp, debugfs, seq_file, sort() and module_param_cb, it relies on
 * raw_cpu_ptr()/per_cpu_ptr() over every possible CPU (each CPU's cache
 * and pool have their own locks and are also touched by other CPUs), on
 * the lock order "per-CPU cache, depot, iova_rbtree_lock, pool" (a pool is
 * a struct iova_domain of its own inside the per-CPU cache), and on a
 * seqcount_spinlock_t per tree (write sections under the tree's lock,
 * lockless readers in free_iova_fast()). Those readers may touch a node
 * that was just freed: the node cache is SLAB_TYPESAFE_BY_RCU, so freed
 * nodes must stay readable memory while the domain lives. They never
 * follow a link into memory that is not a node or the walked domain's
 * own: each link is checked against the domain's count before it is
 * followed (see iova_lookup()). iova_lookup_child() is the one place a
 * KUnit static stub may run other work in the middle of such a walk.
 */

/**
 * DOC: IOVA allocator design
 *
 * A domain is one rbtree of allocated ranges ordered by address. Each node
 * owns the free gap just below it, and the anchor node, which sits at the
 * top of the address space (pfn ~0UL), owns the gap above every range::
 *
 *   start_pfn                                                    ~0UL
 *   |  gap  [A]  gap  [R]  gap  [F===========]  gap   [F==]  gap [anchor]
 *   |<----->   <--->      <--->                <---->      <----->
 *   gap(n) = [ max(prev(n)->pfn_hi + 1, start_pfn), n->pfn_lo - 1 ]
 *
 *   A: alloc_iova() allocation     one node, exactly one allocation
 *   R: reserve_iova() reservation  one node, never merged
 *   F: fast-path extent            abutting alloc_iova_fast() ranges
 *                                  coalesced into one node
 *
 * Every node also holds the summary of the gaps of its subtree (struct
 * iova_gapsum): the longest gap, and the largest "fit key", which tells
 * exactly whether some gap of the subtree can hold a naturally aligned
 * range of a given size. The tree is an augmented rbtree, so the summaries
 * are kept up to date along one root path per change::
 *
 *                     [F  | sub: gap 9, fit k]
 *                     /                      \
 *         [A | sub: gap 9]              [anchor | sub: gap 2^40]
 *          /          \                  /
 *        [R]         [F]               [F]
 *
 * Allocation walks down from the root once along the path of the limit
 * pfn, remembers the deepest node whose own gap or left subtree can take
 * the request, then descends into that subtree, always preferring the
 * right (higher) side: the highest fitting range below the limit is found
 * in O(log n), and an impossible request is rejected from the root summary
 * in O(1). There is no linear walk on any allocation path.
 *
 * Fast-path ranges (alloc_iova_fast()/free_iova_fast()) are extents: an
 * allocation that abuts a fast-path extent of its own size (a power of
 * two, the extent's unit) joins it, and one that bridges two fuses them,
 * so a device's thousands of static mappings stay a few nodes. As every
 * allocation is naturally aligned, the unit tells where each one starts
 * and ends: free_iova_fast() of a start or size that is not an allocation
 * of the extent warns and frees nothing, and otherwise carves exactly the
 * freed range back out, splitting the extent when the range lies inside
 * it. Splits take a node from
 * the domain's spare list, which banks one node for every allocation that
 * joined an extent instead of taking a node of its own: a split always
 * finds one, so freeing never needs memory and never fails. An allocation
 * takes a node or banks one, as stock's takes a node; merging saves the
 * tree's height and walks, not the nodes' memory.
 * Setting iova.merge=0 gives every fast-path allocation its own node, as
 * before.
 *
 * Fast-path sizes below 32 pages round up to a power of two, as stock
 * iova.c rounds them (dma-iommu passes sizes unrounded), so that a cached
 * range serves every request of its order. Larger ranges take exactly
 * their size, naturally aligned to the next power of two as in stock: the
 * rest of that block still serves smaller mappings, which keeps a 32-bit
 * space as full as stock keeps it: each tree (the domain's, or a CPU's
 * pool) puts the ranges below 32 pages it gives out in the rest of the
 * block of the last such range it gave out first (see iova_search_rest()).
 * With pools, a CPU's small ranges use the rest in its own pool and take
 * no shared lock for it; only after its pool could not serve a range of
 * an exact size do they follow that range to the domain's tree or another
 * CPU's pool (see iova_rest_alloc()). Freed fast-path ranges of up to 32
 * pages, and of the powers of two from 64 to 1024 pages, first go to
 * per-CPU caches, one bounded stack per order; up to
 * 16 ranges of the other sizes from 33 to 1024 pages sit in a small
 * per-CPU list with their sizes, each serving a request of its size or of
 * up to a third less, trimmed to it (see iova_xc_alloc()). Cached ranges
 * stay allocated in the tree. Each order above 32 pages holds half as many
 * ranges as the one below it, so no order holds more than 8192 pages per
 * CPU::
 *
 *   CPU0 cache: 1p [p1 p2 p3 ..]  2p [p4 ..]  ..  1024p [..]  lock, hits
 *   CPU1 cache: 1p [p5 ..]        2p [..]     ..  1024p [..]  lock, hits
 *                      |  ^
 *       full: oldest   |  |  empty: take a batch
 *       half moves     v  |
 *   depot:      1p [batch ..]     2p [..]     ..  1024p [..]  lock
 *                      |  full: the batch goes back to the tree,
 *                      v  sorted, abutting ranges carved as one
 *   tree (iova_rbtree_lock)
 *
 * The caches (their lists of exact sizes included) and the depot of a
 * domain hold at most 1/16 of its 32-bit space together, plus a floor of
 * min(4096, 1/256 of that space rounded up) pages per possible CPU (4096
 * for a domain with no 32-bit space):
 * each CPU's cache counts its pages under its own lock against a budget
 * of its floor and what it takes from the shared bound in pieces of 1024
 * pages as it grows, and the depot (used only without pools) has half of
 * the shared bound; a cache at its budget moves a batch on to the depot
 * (or the tree) to make room, and a free that still finds none is not
 * cached; a cache takes budget only for ranges it is given. Idle caches
 * decay: every 100 ms while anything is cached, a delayed work makes each
 * cache that served no allocation for the last 10 ticks give back half of
 * its ranges (of every order and of its list), and an unused depot a
 * batch of each order, so an idle domain's caches are empty within about
 * two seconds.
 *
 * Per-CPU pools (iova.pools=1): each CPU also owns chunks of address space,
 * extents of kind POOL + cpu in the domain's tree, and allocates fast-path
 * ranges of up to 1024 pfns, of any size, inside them from a tree of its
 * own, where the space it does not own is FOREIGN. The domain's tree lock
 * is then taken only to get or give back a chunk::
 *
 *   domain:  [F..] gap [POOL cpu0 =========] gap [POOL cpu1 ==] [anchor]
 *   cpu0:    [FOREIGN ......][F==] gap [F=] [FOREIGN .................]
 *
 * Locking: iova_rbtree_lock (taken with interrupts off) protects the tree,
 * the spare list and the tree counters; every change of the
 * tree is also a write section of the domain's sequence count, which lets
 * free_iova_fast() check a range without the lock: it walks the tree of
 * the domain, or of one of its pools, in an RCU read section, and reads
 * the count again after every link it reads, before following it. So it
 * only ever follows links of the tree it walks: to nodes of the
 * SLAB_TYPESAFE_BY_RCU node cache, which stay struct iova memory even if
 * freed meanwhile, or to that tree's own anchor, which lives as long as
 * the domain the caller holds. A node freed and reused by another domain
 * may point at that domain's anchor, memory freed with it; the count has
 * changed before such a link can be read, and the walk starts again
 * instead of following it. No shared lock is taken: a pool's count is
 * written only by its own writers. Each per-CPU cache, the
 * depot and each pool have their own locks; the order is CPU cache, depot,
 * tree, pool: a pool's lock is taken inside the domain's tree lock where
 * space moves between the two (see iova_pool_wlock()), and the tree lock
 * is never taken with a pool's lock held. A CPU's cache and pool locks
 * are also taken by other CPUs that drain them or free into them.
 */

#define pr_fmt(fmt) "iova: " fmt

#include <linux/iova.h>
#include <linux/atomic.h>
#include <linux/bitops.h>
#include <linux/cpu.h>
#include <linux/cpuhotplug.h>
#include <linux/debugfs.h>
#include <linux/kstrtox.h>
#include <linux/log2.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/mutex.h>
#include <linux/percpu.h>
#include <linux/rbtree_augmented.h>
#include <linux/rcupdate.h>
#include <linux/seq_file.h>
#include <linux/seqlock.h>
#include <linux/slab.h>
#include <linux/smp.h>
#include <linux/sort.h>
#include <linux/workqueue.h>
#include <kunit/static_stub.h>
#include <kunit/visibility.h>

#define CREATE_TRACE_POINTS
#include <trace/events/iova.h>

/* The anchor node sits above the top of the usable address space */
#define IOVA_ANCHOR		(~0UL)

/*
 * Per-CPU caches: ranges of 1 << order pages, order < IOVA_CACHE_ORDERS.
 * The orders below IOVA_CACHE_SMALL_ORDERS hold up to IOVA_CACHE_DEPTH
 * ranges each; every larger order holds half as many as the one below it,
 * so that no order holds more pages than the largest small one.
 */
#define IOVA_CACHE_ORDERS	11
#define IOVA_CACHE_SMALL_ORDERS	6
#define IOVA_CACHE_DEPTH	256
/* Slots of all orders together: 6 * 256 + 128 + 64 + 32 + 16 + 8 */
#define IOVA_CACHE_SLOTS	(IOVA_CACHE_SMALL_ORDERS * IOVA_CACHE_DEPTH + \
				 IOVA_CACHE_DEPTH - (IOVA_CACHE_DEPTH >> \
				 (IOVA_CACHE_ORDERS - IOVA_CACHE_SMALL_ORDERS)))
/*
 * What a CPU's frees found of the fast-path extents of small units (see
 * iova_cc_vouched()): blocks of IOVA_BLOCK_PFNS pfns, IOVA_BLOCKS of them,
 * a block in the slot its number gives, a nibble per pfn.
 */
#define IOVA_BLOCK_SHIFT	IOVA_CACHE_SMALL_ORDERS
#define IOVA_BLOCK_PFNS		BIT(IOVA_BLOCK_SHIFT)
#define IOVA_BLOCKS		128
/* The domain's shared depot holds twice a cache's depth of each order */
#define IOVA_DEPOT_MAX		(2 * IOVA_CACHE_DEPTH)

/*
 * The caches and the depot of a domain share at most 1 / 2^IOVA_CACHE_SHARE
 * of its 32-bit space (dma_32bit_pfn - start_pfn), however many CPUs are
 * possible, beyond the floor of each CPU's cache (IOVA_CACHE_FLOOR). The
 * depot, when there is one in use (no pools), has half of it; the CPUs'
 * caches take the rest in pieces of at least IOVA_BUDGET_BATCH pages as
 * they need them, and idle ones give it back.
 */
#define IOVA_CACHE_SHARE	4
#define IOVA_BUDGET_BATCH	1024

/*
 * Beyond that bound, each CPU's cache may always hold a floor of its own:
 * IOVA_CACHE_FLOOR pages, or 1 / 2^IOVA_FLOOR_SHARE of the 32-bit space
 * if that is less (a domain with no 32-bit space gets the whole floor).
 * A batch of 32-page ranges fits it, so that CPUs that map and CPUs that
 * unmap keep their ranges off the tree however many cache at once.
 */
#define IOVA_CACHE_FLOOR	4096
#define IOVA_FLOOR_SHARE	8

/* Idle caches and an idle depot give back part of their ranges per tick */
#define IOVA_DECAY_DELAY	msecs_to_jiffies(100)
/* A cache gives ranges back only after this many idle ticks in a row */
#define IOVA_DECAY_IDLE		10

/*
 * Fast-path sizes below this round up to a power of two, as stock iova.c
 * rounds them, so that a cached range of an order serves any size of that
 * order. Larger sizes take exactly their size, aligned to the next power
 * of two, and leave the rest of that block to smaller ranges.
 */
#define IOVA_FAST_ROUND_LIMIT	(1UL << (IOVA_CACHE_SMALL_ORDERS - 1))
/* Largest range the caches hold: above 32 pages, powers of two only */
#define IOVA_CACHE_MAX_PAGES	(1UL << (IOVA_CACHE_ORDERS - 1))
/*
 * Freed ranges of the other sizes from 33 to 1024 pages a per-CPU cache
 * holds, each with its size; one serves a request of its size or of up to
 * a third less, trimmed to the request's size.
 */
#define IOVA_XCACHE_SLOTS	16
#define IOVA_XCACHE_SLACK	1	/* best fit: up to size + size / 2 */
/*
 * The listed ranges are found by size class: each power-of-two interval
 * of sizes from 33 to 1024 is split into 2^IOVA_XCACHE_CLASS_BITS classes
 * of equal width, so a best fit and a check for a range freed twice look
 * only at the few slots of the classes the size can match.
 */
#define IOVA_XCACHE_CLASS_BITS	2
#define IOVA_XCACHE_CLASSES	\
	((IOVA_CACHE_ORDERS - IOVA_CACHE_SMALL_ORDERS) << IOVA_XCACHE_CLASS_BITS)

/*
 * Fit keys: a gap's key is ((k + 1) << IOVA_FIT_SHIFT) | tail, where k is
 * the largest order of a naturally aligned block inside the gap and tail
 * is the length from the highest multiple of 2^(k + 1) in the gap to its
 * end (0 if there is none). A request of size s, aligned to 2^k with
 * 2^(k - 1) < s <= 2^k, fits in the gap exactly when the gap's key is at
 * least (k << IOVA_FIT_SHIFT) | s, so one maximum per subtree answers the
 * question for every aligned size. Orders above IOVA_FIT_MAX_ORDER
 * saturate the key.
 */
#define IOVA_FIT_SHIFT		57
#define IOVA_FIT_MAX_ORDER	55

/* Per-CPU pools: chunks of address space that one CPU allocates from */
#define IOVA_CHUNK_PAGES	4096UL
#define IOVA_POOL_MAX_PAGES	1024	/* larger ranges come from the tree */
#define IOVA_SHRINK_BATCH	8	/* free ranges a pool gives back at once */
/* Frees into a pool per window of its working-set estimate */
#define IOVA_POOL_WINDOW	1024

enum iova_kind {
	IOVA_KIND_ANCHOR,
	IOVA_KIND_ALLOC,	/* alloc_iova(): exactly one allocation */
	IOVA_KIND_RESERVED,	/* reserve_iova() */
	IOVA_KIND_FAST,		/* extent of alloc_iova_fast() ranges */
	IOVA_KIND_FOREIGN,	/* pool tree: space its CPU does not own */
	IOVA_KIND_POOL,		/* domain tree: chunks of CPU n, kind POOL + n */
};

static unsigned int iova_pool_kind(unsigned int cpu)
{
	return IOVA_KIND_POOL + cpu;
}

static bool iova_is_pool(unsigned int kind)
{
	return kind >= IOVA_KIND_POOL;
}

/* Abutting nodes of such a kind are one node */
static bool iova_mergeable(const struct iova_domain *iovad, unsigned int kind)
{
	return kind == IOVA_KIND_FAST ? iovad->merge : kind >= IOVA_KIND_FOREIGN;
}

/*
 * The unit of a fast-path extent: every allocation it holds is a naturally
 * aligned block of 1 << unit pfns, so the extent's boundaries and the
 * unit tell where each allocation starts and ends, and a free whose start
 * or size is not an allocation's can be refused. Only extents of one unit
 * merge. An allocation whose size is not a power of two has a node of its
 * own (IOVA_UNIT_EXACT). Other kinds have unit 0.
 */
#define IOVA_UNIT_EXACT		BITS_PER_LONG

static unsigned int iova_unit(unsigned int kind, unsigned long pages)
{
	if (kind != IOVA_KIND_FAST)
		return 0;
	return is_power_of_2(pages) ? ilog2(pages) : IOVA_UNIT_EXACT;
}

/**
 * struct iova_seen - a fast-path extent a lookup found
 * @tree: the tree in which [@lo, @hi] was seen to be a fast-path extent;
 *	NULL: nothing seen yet
 * @releases: @tree's count of releases then (see iova_count_release())
 * @lo: first pfn of that extent
 * @room: pfns from @lo to the first pfn of the extent's last allocation
 */
struct iova_seen {
	struct iova_domain *tree;
	s64		releases;
	unsigned long	lo;
	unsigned long	room;
};

/**
 * struct iova_block - the small units of a block of pfns of a tree, as seen
 * @key: the block's number, shifted left by two, with a bit for the
 *	domain's tree (else the CPU's own pool) and one that tells a used slot
 * @releases: the tree's count of releases when the units were seen
 * @units: by pfn, a nibble each: one more than the unit of the fast-path
 *	extent of a power-of-two unit below IOVA_BLOCK_SHIFT that holds it,
 *	0 if not seen or none
 */
struct iova_block {
	unsigned long	key;
	s64		releases;
	u8		units[IOVA_BLOCK_PFNS / 2];
};

/**
 * struct iova_cpu_cache - one CPU's cache of freed fast-path ranges
 * @lock: protects this structure
 * @nr: number of cached ranges of each order
 * @pages: pages of the ranges cached, of all orders
 * @budget: most pages this cache may hold: the floor, and what it took
 *	from the domain's bound (see iova_cc_grow())
 * @hits: allocations served from this cache
 * @misses: cacheable allocations this cache could not serve
 * @seen: by order, the fast-path extent of that unit a free on this CPU
 *	last found (see iova_cc_known())
 * @decay_mark: @hits + @misses at the last decay tick
 * @idle: decay ticks in a row that found @decay_mark unchanged
 * @remembers: @seen or @block holds what a lookup found (see
 *	iova_cc_decay())
 * @pfns: the cached ranges by order, a stack each (the top is the newest),
 *	order after order (see iova_cache_first())
 * @block: the units of the fast-path extents that frees on this CPU found
 *	in blocks of its pool or the domain's tree (see iova_cc_vouched())
 * @xnr: number of cached ranges of exact sizes
 * @xnext: slot of the next such range to give back when all are taken
 * @xused: the slots that hold such a range, a bit each
 * @xclasses: the size classes that have a slot, a bit each
 * @xmask: by size class (see iova_xc_class()), the slots of that class
 * @xclass: the size class of each slot's range
 * @xsize: the sizes of the ranges of exact sizes, by slot
 * @xpfn: the first pfns of those ranges
 * @rest: the tree (the domain's, or another CPU's pool) of the last range
 *	of an exact size that fell back there from this CPU's pool, whose
 *	block's rest takes the small ranges that follow while it is still
 *	this CPU's (see iova_rest_alloc()); NULL if none. A hint, read and
 *	written without the lock
 * @cpu: the CPU this is
 * @pool_pages: pages of the chunks this CPU's pool owns
 * @refills: chunks the pool took from the domain's tree
 * @returns: chunks the pool gave back
 * @remote_frees: frees into the pool made by other CPUs
 * @peak: most pages in use in the pool during this window of frees
 * @prev_peak: the same for the window before
 * @window: frees into the pool in this window
 * @pool: this CPU's pool: a tree of its own over the domain's address
 *	space, where what the CPU does not own is one FOREIGN extent and its
 *	chunks are free space and fast-path extents (its lock is the pool's)
 */
struct iova_cpu_cache {
	spinlock_t	lock;		/* protects the cache part */
	unsigned int	nr[IOVA_CACHE_ORDERS];
	unsigned long	pages;
	unsigned long	budget;
	struct iova_seen seen[IOVA_CACHE_ORDERS];
	unsigned long	hits;
	unsigned long	misses;
	unsigned long	decay_mark;
	unsigned int	idle;
	bool		remembers;
	unsigned long	pfns[IOVA_CACHE_SLOTS];
	struct iova_block block[IOVA_BLOCKS];
	unsigned int	xnr;
	unsigned int	xnext;
	unsigned int	xused;
	unsigned long	xclasses;
	unsigned int	xmask[IOVA_XCACHE_CLASSES];
	u8		xclass[IOVA_XCACHE_SLOTS];
	u16		xsize[IOVA_XCACHE_SLOTS];
	unsigned long	xpfn[IOVA_XCACHE_SLOTS];
	struct iova_domain *rest;
	unsigned int	cpu;
	unsigned long	pool_pages;
	unsigned long	refills;
	unsigned long	returns;
	unsigned long	remote_frees;
	unsigned long	peak;
	unsigned long	prev_peak;
	unsigned int	window;
	struct iova_domain pool;
};

/**
 * struct iova_depot - a domain's shared store of freed fast-path ranges
 * @lock: protects this structure
 * @nr: number of ranges of each order
 * @locks: times @lock was taken to move ranges
 * @pages: pages of the ranges held, of all orders
 * @budget: most pages the depot may hold (see IOVA_CACHE_SHARE)
 * @cc_spare: pages of the bound that no CPU's cache has taken
 * @cc_floor: pages each CPU's cache may hold without taking any of the
 *	bound (see IOVA_CACHE_FLOOR)
 * @used: a batch moved in or out since the last decay tick
 * @decay_on: @decay is queued or running and will look at every cache
 * @iovad: the domain
 * @decay: gives back what idle caches and the idle depot hold
 * @pfns: the ranges by order, a stack each, order after order
 *
 * A CPU whose cache is full moves its oldest batch here, and a CPU whose
 * cache has nothing to give takes a batch back, so ranges freed on one
 * CPU serve allocations on another without the tree lock.
 */
struct iova_depot {
	spinlock_t	lock;		/* protects the depot */
	unsigned int	nr[IOVA_CACHE_ORDERS];
	unsigned long	locks;
	unsigned long	pages;
	unsigned long	budget;
	atomic_long_t	cc_spare;
	unsigned long	cc_floor;
	bool		used;
	bool		decay_on;
	struct iova_domain *iovad;
	struct delayed_work decay;
	unsigned long	pfns[2 * IOVA_CACHE_SLOTS];
};

/* Depth of an order from IOVA_CACHE_SMALL_ORDERS on, and its first slot */
#define IOVA_DEPTH_LARGE(order)						\
	(IOVA_CACHE_DEPTH >> ((order) - IOVA_CACHE_SMALL_ORDERS + 1))
#define IOVA_FIRST_LARGE(order)						\
	(IOVA_CACHE_SMALL_ORDERS * IOVA_CACHE_DEPTH + IOVA_CACHE_DEPTH -	\
	 (IOVA_CACHE_DEPTH >> ((order) - IOVA_CACHE_SMALL_ORDERS)))

/*
 * Both by order, looked up rather than worked out, as every allocation and
 * free from a cache needs them: the ranges a per-CPU cache holds at most,
 * and the index of the first slot of that order in its pfns[] (the
 * orders' stacks follow each other).
 */
static const u16 iova_cache_depths[IOVA_CACHE_ORDERS] = {
	[0 ... IOVA_CACHE_SMALL_ORDERS - 1] = IOVA_CACHE_DEPTH,
	IOVA_DEPTH_LARGE(6), IOVA_DEPTH_LARGE(7), IOVA_DEPTH_LARGE(8),
	IOVA_DEPTH_LARGE(9), IOVA_DEPTH_LARGE(10),
};

static const u16 iova_cache_firsts[IOVA_CACHE_ORDERS] = {
	0, IOVA_CACHE_DEPTH, 2 * IOVA_CACHE_DEPTH, 3 * IOVA_CACHE_DEPTH,
	4 * IOVA_CACHE_DEPTH, 5 * IOVA_CACHE_DEPTH, IOVA_FIRST_LARGE(6),
	IOVA_FIRST_LARGE(7), IOVA_FIRST_LARGE(8), IOVA_FIRST_LARGE(9),
	IOVA_FIRST_LARGE(10),
};

/* The tables list orders 0-10, the last of them ending the slots */
static_assert(IOVA_CACHE_SMALL_ORDERS == 6 && IOVA_CACHE_ORDERS == 11);
static_assert(IOVA_FIRST_LARGE(IOVA_CACHE_ORDERS - 1) +
	      IOVA_DEPTH_LARGE(IOVA_CACHE_ORDERS - 1) == IOVA_CACHE_SLOTS);

/* Ranges of @order a per-CPU cache holds at most */
static unsigned int iova_cache_depth(unsigned int order)
{
	return iova_cache_depths[order];
}

/* Ranges of @order a cache moves to or from the depot at once */
static unsigned int iova_cache_batch(unsigned int order)
{
	return iova_cache_depth(order) / 2;
}

/* Index of the first slot of @order in a cache's pfns[] */
static unsigned int iova_cache_first(unsigned int order)
{
	return iova_cache_firsts[order];
}

static unsigned long *iova_cc_stack(struct iova_cpu_cache *cc,
				    unsigned int order)
{
	return &cc->pfns[iova_cache_first(order)];
}

/* The depot holds twice a cache's depth of each order */
static unsigned long *iova_depot_stack(struct iova_depot *dp,
				       unsigned int order)
{
	return &dp->pfns[2 * iova_cache_first(order)];
}

static struct iova_domain *iova_pool_of(struct iova_domain *iovad,
					unsigned int cpu)
{
	return &per_cpu_ptr(iovad->caches, cpu)->pool;
}

static void iova_pools_shrink(struct iova_domain *iovad);

/* Whether @iovad has per-CPU pools (they come with the caches) */
static bool iova_pooled(const struct iova_domain *iovad)
{
	return iovad->pools && iovad->caches;
}

/* --- switches ------------------------------------------------------------ */

static bool iova_merge_enabled = true;
static bool iova_pools_enabled = true;

static int iova_param_set_bool(const char *val, const struct kernel_param *kp)
{
	bool *flag = kp->arg;
	bool v;

	if (!val) {
		*flag = true;
		return 0;
	}
	if (kstrtobool(val, &v)) {
		pr_warn("invalid value '%s' for %s, keeping %d\n", val,
			kp->name, *flag);
		return -EINVAL;
	}
	*flag = v;
	return 0;
}

VISIBLE_IF_KUNIT const struct kernel_param_ops iova_merge_param_ops = {
	.set = iova_param_set_bool,
	.get = param_get_bool,
};
EXPORT_SYMBOL_IF_KUNIT(iova_merge_param_ops);

module_param_cb(merge, &iova_merge_param_ops, &iova_merge_enabled, 0644);
MODULE_PARM_DESC(merge,
		 "Coalesce abutting fast-path allocations into one node (default 1; applies to domains created afterwards)");
module_param_cb(pools, &iova_merge_param_ops, &iova_pools_enabled, 0644);
MODULE_PARM_DESC(pools,
		 "Give each CPU chunks of address space to allocate from alone (default 1; applies to domains created afterwards)");

/* --- node memory --------------------------------------------------------- */

static struct kmem_cache *iova_cache;
static unsigned int iova_cache_users;
static DEFINE_MUTEX(iova_cache_mutex);
static struct dentry *iova_debugfs_root;

static struct iova *to_iova(struct rb_node *node)
{
	return rb_entry(node, struct iova, node);
}

/* Whether an injected failure takes this node allocation (test hooks) */
static bool iova_node_fails(struct iova_domain *iovad)
{
	if (atomic_add_unless(&iovad->fail_node_skip, -1, 0))
		return false;
	return atomic_add_unless(&iovad->fail_node_allocs, -1, 0);
}

static struct iova *iova_node_alloc(struct iova_domain *iovad)
{
	if (unlikely(atomic_read(&iovad->fail_node_allocs)) &&
	    iova_node_fails(iovad))
		return NULL;
	return kmem_cache_zalloc(iova_cache, GFP_ATOMIC | __GFP_NOWARN);
}

static void iova_node_free(struct iova *iova)
{
	kmem_cache_free(iova_cache, iova);
}

/* Spare nodes, a list linked through node.rb_right; tree lock held. */
static struct iova *iova_take_spare(struct iova_domain *iovad)
{
	struct iova *n = iovad->spares;

	if (n) {
		iovad->spares = n->node.rb_right ? to_iova(n->node.rb_right) : NULL;
		/* read unlocked by iova_prealloc() */
		WRITE_ONCE(iovad->nr_spare, iovad->nr_spare - 1);
		memset(n, 0, sizeof(*n));
	}
	return n;
}

static void iova_add_spare(struct iova_domain *iovad, struct iova *n)
{
	n->node.rb_right = iovad->spares ? &iovad->spares->node : NULL;
	iovad->spares = n;
	WRITE_ONCE(iovad->nr_spare, iovad->nr_spare + 1);
}

/*
 * Spare nodes the tree owes its fast-path extents: one for each allocation
 * that joined an extent instead of taking a node of its own (allocations
 * in fast-path extents less the extents). A free from the middle of an
 * extent splits it in two with one of them, and as the extent holds at
 * least one allocation on each side of the freed ones, which are owed
 * nodes of their own, the spare list is never empty when a split needs a
 * node: no free ever needs memory. Other uses of a spare node must leave
 * this many. Exact under the tree lock; a hint without it.
 */
static unsigned long iova_owed(const struct iova_domain *iovad)
{
	unsigned long units = READ_ONCE(iovad->nr_fast_units);
	unsigned long nodes = READ_ONCE(iovad->nr_fast_nodes);

	return units > nodes ? units - nodes : 0;
}

/* Whether a spare node is left beyond those owed; tree lock held. */
static bool iova_spare_ok(const struct iova_domain *iovad)
{
	return iovad->nr_spare > iova_owed(iovad);
}

/* A node that left the tree: keep it as a spare or give it back. */
static void iova_put_node(struct iova_domain *iovad, struct iova *n)
{
	if (iovad->nr_spare < iova_owed(iovad) + IOVA_SPARE_NODES)
		iova_add_spare(iovad, n);
	else
		iova_node_free(n);
}

/*
 * Nodes allocated before the tree lock is taken, so that the spare list
 * holds @extra nodes beyond those owed once iova_stash() has run under the
 * lock. The unlocked reads are only a hint: iova_stash() keeps what it is
 * given, and at most @extra nodes are allocated.
 */
struct iova_prealloc {
	struct iova	*list;
};

static void iova_prealloc(struct iova_domain *iovad, struct iova_prealloc *pre,
			  unsigned long extra)
{
	unsigned long have = READ_ONCE(iovad->nr_spare);
	unsigned long want = iova_owed(iovad) + extra;
	struct iova *n;

	pre->list = NULL;
	if (want > have + extra)
		have = want - extra;
	for (; have < want; have++) {
		n = iova_node_alloc(iovad);
		if (!n)
			break;
		n->node.rb_right = pre->list ? &pre->list->node : NULL;
		pre->list = n;
	}
}

static void iova_stash(struct iova_domain *iovad, struct iova_prealloc *pre)
{
	struct iova *n;

	while (pre->list) {
		n = pre->list;
		pre->list = n->node.rb_right ? to_iova(n->node.rb_right) : NULL;
		iova_add_spare(iovad, n);
	}
}

/* Give back spare nodes beyond those owed and IOVA_SPARE_NODES; locked. */
static void iova_trim_spares(struct iova_domain *iovad)
{
	while (iovad->nr_spare > iova_owed(iovad) + IOVA_SPARE_NODES)
		iova_node_free(iova_take_spare(iovad));
}

/*
 * Every change of the tree happens under the tree lock inside a write
 * section of iovad->seq, so that free_iova_fast() can check a range
 * against the tree without the lock (see iova_range_is_fast()).
 */
static void iova_wlock(struct iova_domain *iovad, unsigned long *flags)
	__acquires(&iovad->iova_rbtree_lock)
{
	spin_lock_irqsave(&iovad->iova_rbtree_lock, *flags);
	iovad->nr_tree_locks++;
	trace_iova_lock(iovad, IOVA_TRACE_LOCK_TREE);
	write_seqcount_begin(&iovad->seq);
}

static void iova_wunlock(struct iova_domain *iovad, unsigned long flags)
	__releases(&iovad->iova_rbtree_lock)
{
	write_seqcount_end(&iovad->seq);
	spin_unlock_irqrestore(&iovad->iova_rbtree_lock, flags);
}

/*
 * A pool's lock taken inside its domain's tree lock (interrupts are off
 * already): the only nesting of the two, so that a pool and the domain
 * change together where space moves between them.
 */
static void iova_pool_wlock(struct iova_domain *pool)
	__acquires(&pool->iova_rbtree_lock)
{
	spin_lock_nested(&pool->iova_rbtree_lock, SINGLE_DEPTH_NESTING);
	write_seqcount_begin(&pool->seq);
}

static void iova_pool_wunlock(struct iova_domain *pool)
	__releases(&pool->iova_rbtree_lock)
{
	write_seqcount_end(&pool->seq);
	spin_unlock(&pool->iova_rbtree_lock);
}

/* A spare node beyond those owed, allocated now if need be; locked. */
static bool iova_have_spare(struct iova_domain *iovad)
{
	struct iova *n;

	if (iova_spare_ok(iovad))
		return true;
	n = iova_node_alloc(iovad);
	if (n)
		iova_add_spare(iovad, n);
	return n;
}

/* --- gap summaries --------------------------------------------------------- */

/* Fit key of the gap [lo, hi], lo <= hi <= IOVA_ANCHOR - 1. */
static u64 iova_fit_key(unsigned long lo, unsigned long hi)
{
	unsigned long len = hi - lo + 1;
	unsigned int order = __fls(len);
	unsigned long start = ALIGN(lo, 1UL << order);
	u64 top, tail;

	/* len >= 2^order, so ALIGN() cannot wrap and lo..start is in the gap */
	if (start > hi || hi - start < (1UL << order) - 1)
		order--;
	if (order > IOVA_FIT_MAX_ORDER)
		return U64_MAX;
	top = (u64)hi & ~((2ULL << order) - 1);
	tail = top >= lo ? (u64)hi - top + 1 : 0;
	return ((u64)(order + 1) << IOVA_FIT_SHIFT) | tail;
}

static u64 iova_fit_query(unsigned long size)
{
	return ((u64)order_base_2(size) << IOVA_FIT_SHIFT) | size;
}

/* Summary of the gap below @n alone, from its gap_lo and pfn_lo. */
static void iova_own_gap(const struct iova *n, struct iova_gapsum *sum)
{
	if (n->pfn_lo <= n->gap_lo) {
		sum->gap = 0;
		sum->fit = 0;
		return;
	}
	sum->gap = n->pfn_lo - n->gap_lo;
	sum->fit = iova_fit_key(n->gap_lo, n->pfn_lo - 1);
}

static void iova_sum_child(struct iova_gapsum *sum, struct rb_node *child)
{
	struct iova *c;

	if (!child)
		return;
	c = to_iova(child);
	sum->gap = max(sum->gap, c->sub.gap);
	sum->fit = max(sum->fit, c->sub.fit);
}

/* Summary of @n's subtree, from its cached own gap and its children. */
static void iova_gap_sum(const struct iova *n, struct iova_gapsum *sum)
{
	*sum = n->own;
	iova_sum_child(sum, n->node.rb_left);
	iova_sum_child(sum, n->node.rb_right);
}

static bool iova_gap_compute(struct iova *n, bool exit)
{
	struct iova_gapsum sum;

	iova_gap_sum(n, &sum);
	if (exit && sum.gap == n->sub.gap && sum.fit == n->sub.fit)
		return true;
	n->sub = sum;
	return false;
}

RB_DECLARE_CALLBACKS(static, iova_gap_callbacks, struct iova, node, sub,
		     iova_gap_compute);

/* --- tree primitives (tree lock held) ------------------------------------ */

/* Node containing @pfn, the anchor included, or NULL. */
static struct iova *iova_find_node(struct iova_domain *iovad, unsigned long pfn)
{
	struct rb_node *rb = iovad->rbroot.rb_node;

	while (rb) {
		struct iova *n = to_iova(rb);

		if (pfn < n->pfn_lo)
			rb = rb->rb_left;
		else if (pfn > n->pfn_hi)
			rb = rb->rb_right;
		else
			return n;
	}
	return NULL;
}

/* First node whose pfn_hi is at least @pfn (the anchor at worst). */
static struct iova *iova_find_ceil(struct iova_domain *iovad, unsigned long pfn)
{
	struct rb_node *rb = iovad->rbroot.rb_node;
	struct iova *best = &iovad->anchor;

	while (rb) {
		struct iova *n = to_iova(rb);

		if (n->pfn_hi >= pfn) {
			best = n;
			rb = rb->rb_left;
		} else {
			rb = rb->rb_right;
		}
	}
	return best;
}

static struct iova *iova_prev(struct iova *n)
{
	struct rb_node *rb = rb_prev(&n->node);

	return rb ? to_iova(rb) : NULL;
}

/* Every node but the anchor has a successor. */
static struct iova *iova_next(struct iova *n)
{
	return to_iova(rb_next(&n->node));
}

/* Own gap of @n changed: refresh it and the summaries up to the root. */
static void iova_update(struct iova *n)
{
	iova_own_gap(n, &n->own);
	iova_gap_callbacks_propagate(&n->node, NULL);
}

static void iova_set_gap_lo(struct iova_domain *iovad, struct iova *n,
			    unsigned long lo)
{
	n->gap_lo = max(lo, iovad->start_pfn);
	iova_update(n);
}

/*
 * Link @nw, whose pfn_lo, pfn_hi and kind are set, just below @next; the
 * gap below @nw is what was below @next down to @nw->pfn_hi.
 */
static void iova_link_before(struct iova_domain *iovad, struct iova *nw,
			     struct iova *next)
{
	struct rb_node **link = &next->node.rb_left, *parent = &next->node;

	nw->gap_lo = next->gap_lo;
	next->gap_lo = max(nw->pfn_hi + 1, iovad->start_pfn);
	iova_own_gap(next, &next->own);

	while (*link) {
		parent = *link;
		link = &parent->rb_right;
	}
	rb_link_node(&nw->node, parent, link);
	iova_own_gap(nw, &nw->own);
	iova_gap_compute(nw, false);
	/* @nw hangs below @next, whose own gap changed too */
	iova_gap_callbacks_propagate(parent, &next->node);
	iova_gap_callbacks_propagate(&next->node, NULL);
	rb_insert_augmented(&nw->node, &iovad->rbroot, &iova_gap_callbacks);
	iovad->nr_extents++;
	iovad->nr_pool_nodes += nw->kind >= IOVA_KIND_FOREIGN;
	if (nw->kind == IOVA_KIND_FAST)
		WRITE_ONCE(iovad->nr_fast_nodes, iovad->nr_fast_nodes + 1);
}

/* Erase @n; the caller then hands its gap to the next node. */
static void iova_erase(struct iova_domain *iovad, struct iova *n)
{
	rb_erase_augmented(&n->node, &iovad->rbroot, &iova_gap_callbacks);
	RB_CLEAR_NODE(&n->node);
	iovad->nr_extents--;
	iovad->nr_pool_nodes -= n->kind >= IOVA_KIND_FOREIGN;
	if (n->kind == IOVA_KIND_FAST)
		WRITE_ONCE(iovad->nr_fast_nodes, iovad->nr_fast_nodes - 1);
}

/* @delta fast-path allocations joined (or left) the tree; locked. */
static void iova_fast_units_add(struct iova_domain *iovad, long delta)
{
	WRITE_ONCE(iovad->nr_fast_units, iovad->nr_fast_units + delta);
}

/* Take @n out of the tree; its range becomes part of the next node's gap. */
static void iova_unlink(struct iova_domain *iovad, struct iova *n)
{
	struct iova *next = iova_next(n);

	iova_erase(iovad, n);
	next->gap_lo = n->gap_lo;
	iova_update(next);
}

/* --- invariants ---------------------------------------------------------- */

#if IS_ENABLED(CONFIG_IOVA_DEBUG)
static const char *iova_check_node(struct iova_domain *iovad,
				   struct iova *prev, struct iova *n,
				   unsigned long *pages)
{
	unsigned long gap_lo = iovad->start_pfn;
	struct iova_gapsum sum;

	if (n->pfn_lo > n->pfn_hi)
		return "inverted range";
	if (prev) {
		if (prev->pfn_hi >= n->pfn_lo)
			return "overlap or disorder";
		gap_lo = max(gap_lo, prev->pfn_hi + 1);
		if (iova_mergeable(iovad, n->kind) && prev->kind == n->kind &&
		    prev->unit == n->unit && n->unit != IOVA_UNIT_EXACT &&
		    prev->pfn_hi + 1 == n->pfn_lo)
			return "abutting extents of one kind not merged";
	}
	if (n->kind == IOVA_KIND_FAST && n->unit != IOVA_UNIT_EXACT &&
	    ((n->pfn_lo | (n->pfn_hi + 1)) & ((1UL << n->unit) - 1)))
		return "fast-path extent not made of whole units";
	if (n->kind != IOVA_KIND_FAST && n->unit)
		return "unit on a node that is not fast-path";
	if (n->gap_lo != gap_lo)
		return "wrong gap start";
	iova_own_gap(n, &sum);
	if (sum.gap != n->own.gap || sum.fit != n->own.fit)
		return "wrong own gap";
	iova_gap_sum(n, &sum);
	if (sum.gap != n->sub.gap || sum.fit != n->sub.fit)
		return "wrong gap summary";
	if (n->kind == IOVA_KIND_ALLOC || n->kind == IOVA_KIND_FAST)
		*pages += iova_size(n);
	else if (n->kind != IOVA_KIND_RESERVED &&
		 n->kind != IOVA_KIND_FOREIGN &&
		 !(iova_is_pool(n->kind) &&
		   n->kind - IOVA_KIND_POOL < nr_cpu_ids) &&
		 !(n == &iovad->anchor && n->kind == IOVA_KIND_ANCHOR))
		return "bad node kind";
	return NULL;
}

/*
 * After a change next to @n, tree lock held: check @n, its neighbours and
 * the summaries on its path to the root. O(log n); iova_validate() checks
 * the whole tree.
 */
static void iova_debug_check(struct iova_domain *iovad, struct iova *n)
{
	struct iova *prev = iova_prev(n);
	unsigned long pages = 0;
	struct iova_gapsum sum;
	const char *err;
	struct rb_node *rb;

	err = iova_check_node(iovad, prev, n, &pages);
	if (!err && prev)
		err = iova_check_node(iovad, iova_prev(prev), prev, &pages);
	if (!err && n != &iovad->anchor)
		err = iova_check_node(iovad, n, iova_next(n), &pages);
	for (rb = rb_parent(&n->node); !err && rb; rb = rb_parent(rb)) {
		iova_gap_sum(to_iova(rb), &sum);
		if (sum.gap != to_iova(rb)->sub.gap ||
		    sum.fit != to_iova(rb)->sub.fit)
			err = "stale gap summary above a change";
	}
	WARN_ONCE(err, "iova: %s near %#lx-%#lx\n", err, n->pfn_lo, n->pfn_hi);
}
#else
static inline void iova_debug_check(struct iova_domain *iovad, struct iova *n)
{
}
#endif

/* --- allocation ---------------------------------------------------------- */

/**
 * struct iova_req - what an allocation looks for
 * @size: pages
 * @align_mask: ~0UL, or ~(alignment - 1) for naturally aligned requests
 * @limit: highest pfn the range may use
 * @min_pfn: lowest pfn the range may use
 * @key: fit key to compare with the subtree summaries (aligned requests)
 * @aligned: whether the range must be naturally aligned
 */
struct iova_req {
	unsigned long	size;
	unsigned long	align_mask;
	unsigned long	limit;
	unsigned long	min_pfn;
	u64		key;
	bool		aligned;
};

static bool iova_req_init(struct iova_req *req, struct iova_domain *iovad,
			  unsigned long size, unsigned long limit_pfn,
			  bool aligned, bool fast)
{
	if (!size || limit_pfn < iovad->start_pfn)
		return false;
	req->size = size;
	req->limit = min(limit_pfn, IOVA_ANCHOR - 1);
	/* pfn 0 would read as failure from alloc_iova_fast() */
	req->min_pfn = max(iovad->start_pfn, fast ? 1UL : 0UL);
	req->aligned = aligned;
	req->align_mask = ~0UL;
	req->key = 0;
	if (aligned) {
		if (order_base_2(size) > IOVA_FIT_MAX_ORDER ||
		    order_base_2(size) >= BITS_PER_LONG)
			return false;
		req->align_mask = ~((1UL << order_base_2(size)) - 1);
		req->key = iova_fit_query(size);
	}
	return true;
}

static bool iova_sub_fits(struct rb_node *rb, const struct iova_req *req)
{
	const struct iova *n;

	if (!rb)
		return false;
	n = to_iova(rb);
	return req->aligned ? n->sub.fit >= req->key : n->sub.gap >= req->size;
}

/* Highest place for @req in the gap below @n, clipped to the limit. */
static bool iova_gap_place(const struct iova *n, const struct iova_req *req,
			   unsigned long *pfn)
{
	unsigned long lo = max(n->gap_lo, req->min_pfn), hi, start;

	if (!n->pfn_lo)
		return false;
	hi = min(n->pfn_lo - 1, req->limit);
	if (hi < lo || hi - lo < req->size - 1)
		return false;
	start = (hi - (req->size - 1)) & req->align_mask;
	if (start < lo)
		return false;
	*pfn = start;
	return true;
}

/*
 * Whether the gap below @n can take @req: from its cached summary when the
 * whole gap lies within the request's bounds, else by placing it.
 */
static bool iova_own_fits(const struct iova *n, const struct iova_req *req)
{
	unsigned long pfn;

	if (n->pfn_lo && n->pfn_lo - 1 <= req->limit &&
	    n->gap_lo >= req->min_pfn)
		return req->aligned ? n->own.fit >= req->key :
				      n->own.gap >= req->size;
	return iova_gap_place(n, req, &pfn);
}

/*
 * Find the highest place for @req; returns the node whose gap holds it,
 * or NULL. Nodes whose gap starts at or below the limit form a prefix of
 * the address order; walking the limit's path, they are the path nodes we
 * go right from, with their left subtrees, and deeper ones are higher.
 * Left subtrees lie wholly below the limit, so their summaries are exact.
 */
static struct iova *iova_search(struct iova_domain *iovad,
				const struct iova_req *req, unsigned long *pfn)
{
	struct rb_node *rb = iovad->rbroot.rb_node;
	struct iova *n, *cand = NULL;
	bool cand_own = false;

	if (!iova_sub_fits(rb, req))
		return NULL;

	while (rb) {
		n = to_iova(rb);
		if (n->gap_lo > req->limit) {
			rb = rb->rb_left;
			continue;
		}
		if (iova_own_fits(n, req)) {
			cand = n;
			cand_own = true;
		} else if (iova_sub_fits(rb->rb_left, req)) {
			cand = n;
			cand_own = false;
		}
		rb = rb->rb_right;
	}
	if (!cand)
		return NULL;
	if (cand_own)
		return iova_gap_place(cand, req, pfn) ? cand : NULL;

	rb = cand->node.rb_left;
	while (rb) {
		n = to_iova(rb);
		if (iova_sub_fits(rb->rb_right, req)) {
			rb = rb->rb_right;
			continue;
		}
		if (iova_own_fits(n, req))
			return iova_gap_place(n, req, pfn) ? n : NULL;
		rb = rb->rb_left;
	}
	/* Only with saturated keys or the pfn 0 exclusion */
	return NULL;
}

/*
 * Put [pfn, pfn + size - 1], found in the gap below @next, into the tree:
 * as @nw (or a spare node) of @kind, or, for a fast-path range in a merging
 * domain, by growing an abutting extent. Returns false if a node was
 * needed and none was left.
 */
static bool __iova_place(struct iova_domain *iovad, struct iova *next,
			 unsigned long pfn, unsigned long size,
			 unsigned int kind, struct iova *nw)
{
	unsigned int fast = kind == IOVA_KIND_FAST, unit = iova_unit(kind, size);
	unsigned long end = pfn + size - 1;
	struct iova *prev;

	if (iova_mergeable(iovad, kind) && unit != IOVA_UNIT_EXACT) {
		bool join_next = next->kind == kind && next->unit == unit &&
				 end + 1 == next->pfn_lo;

		prev = iova_prev(next);
		if (!(prev && prev->kind == kind && prev->unit == unit &&
		      prev->pfn_hi + 1 == pfn))
			prev = NULL;
		if (join_next && prev) {
			/* bridge: fuse prev into next */
			iova_erase(iovad, prev);
			next->gap_lo = prev->gap_lo;
			next->pfn_lo = prev->pfn_lo;
			iova_update(next);
			iova_put_node(iovad, prev);
			iovad->nr_merges += 2 * fast;
			if (fast)
				trace_iova_merge(iovad, pfn, size, next->pfn_lo,
						 next->pfn_hi, true);
			return true;
		}
		if (join_next) {
			next->pfn_lo = pfn;
			iova_update(next);
			iovad->nr_merges += fast;
			if (fast)
				trace_iova_merge(iovad, pfn, size, next->pfn_lo,
						 next->pfn_hi, false);
			return true;
		}
		if (prev) {
			prev->pfn_hi = end;
			iova_set_gap_lo(iovad, next, end + 1);
			iovad->nr_merges += fast;
			if (fast)
				trace_iova_merge(iovad, pfn, size, prev->pfn_lo,
						 prev->pfn_hi, false);
			return true;
		}
	}

	if (!nw) {
		/* a fast-path range takes one node or banks one: see callers */
		if (!fast && !iova_spare_ok(iovad))
			return false;
		nw = iova_take_spare(iovad);
		if (!nw)
			return false;
	}
	nw->pfn_lo = pfn;
	nw->pfn_hi = end;
	nw->kind = kind;
	nw->unit = unit;
	iova_link_before(iovad, nw, next);
	return true;
}

static bool iova_place(struct iova_domain *iovad, struct iova *next,
		       unsigned long pfn, unsigned long size,
		       unsigned int kind, struct iova *nw)
{
	if (!__iova_place(iovad, next, pfn, size, kind, nw))
		return false;
	if (IS_ENABLED(CONFIG_IOVA_DEBUG))
		iova_debug_check(iovad, iova_find_node(iovad, pfn));
	return true;
}

/* --- freeing fast-path ranges (tree lock held) ------------------------------ */

/*
 * Whether [pfn, pfn + pages - 1], @units allocations of equal size, are
 * whole allocations of the fast-path extent @n, as far as its unit tells.
 */
static bool iova_whole_units(const struct iova *n, unsigned long pfn,
			     unsigned long pages, unsigned long units)
{
	unsigned long each = pages / units;

	if (!units || each * units != pages ||
	    n->unit != iova_unit(IOVA_KIND_FAST, each))
		return false;
	if (n->unit == IOVA_UNIT_EXACT)
		return n->pfn_lo == pfn && n->pfn_hi == pfn + pages - 1;
	return !(pfn & (each - 1));
}

/*
 * Count, in @iovad->releases, a change that frees space of a fast-path
 * extent of a power-of-two unit; tree lock held. What frees on a CPU found
 * allocated in a tree (see iova_cc_known() and iova_cc_vouched()) stays
 * so while this count does not move, as only iova_carve() and
 * iova_remove_node() free such space, and call this as they do: an
 * allocation takes free space and joins extents of its own kind and unit
 * alone, a reservation takes free space, and an exact node is trimmed by
 * itself (see iova_trim_exact()), so none of them shrinks or changes an
 * extent of a power-of-two unit.
 */
static void iova_count_release(struct iova_domain *iovad)
{
	/* 64 bits, read whole even on 32-bit: the count never comes round */
	atomic64_set(&iovad->releases, atomic64_read(&iovad->releases) + 1);
}

/*
 * Carve [pfn, pfn + pages - 1] out of the extents of @kind holding it; for
 * fast-path extents the range is @units allocations of equal size, and
 * must be whole allocations of extents of that unit. Returns -ENOENT,
 * changing nothing, if such extents do not cover the whole range, and
 * -ENOMEM, changing nothing, if the range lies inside one extent and no
 * spare node is left to split it.
 */
static int iova_carve(struct iova_domain *iovad, unsigned long pfn,
		      unsigned long pages, unsigned long units,
		      unsigned int kind)
{
	unsigned long end = pfn + pages - 1, lo, hi;
	struct iova *first, *n, *next;

	if (!pages || end < pfn)
		return -ENOENT;
	first = iova_find_node(iovad, pfn);
	if (!first || first->kind != kind)
		return -ENOENT;
	if (kind == IOVA_KIND_FAST && !iova_whole_units(first, pfn, pages, units))
		return -ENOENT;
	for (n = first; n->pfn_hi < end; n = next) {
		next = iova_next(n);
		if (next->kind != kind || next->pfn_lo != n->pfn_hi + 1 ||
		    next->unit != first->unit)
			return -ENOENT;
	}
	if (kind == IOVA_KIND_FAST && first->unit != IOVA_UNIT_EXACT)
		iova_count_release(iovad);

	if (n == first && pfn > first->pfn_lo && end < first->pfn_hi) {
		struct iova *low;

		/* a fast-path extent is owed the node (see iova_owed()) */
		if (kind != IOVA_KIND_FAST && !iova_spare_ok(iovad))
			return -ENOMEM;
		low = iova_take_spare(iovad);
		if (!low)
			return -ENOMEM;
		low->pfn_lo = first->pfn_lo;
		low->pfn_hi = pfn - 1;
		low->kind = kind;
		low->unit = first->unit;
		/* iova_link_before() refreshes @first's own gap */
		first->pfn_lo = end + 1;
		iova_link_before(iovad, low, first);
		iovad->nr_splits += kind == IOVA_KIND_FAST;
		if (kind == IOVA_KIND_FAST)
			trace_iova_split(iovad, pfn, pages, low->pfn_lo,
					 first->pfn_hi);
		goto out;
	}

	for (n = first; ; n = next) {
		lo = max(pfn, n->pfn_lo);
		hi = min(end, n->pfn_hi);
		next = hi == end ? NULL : iova_next(n);
		if (lo == n->pfn_lo && hi == n->pfn_hi) {
			iova_unlink(iovad, n);
			iova_put_node(iovad, n);
		} else if (lo == n->pfn_lo) {
			n->pfn_lo = hi + 1;
			iova_update(n);
		} else {
			n->pfn_hi = lo - 1;
			iova_set_gap_lo(iovad, next ?: iova_next(n), lo);
		}
		if (!next)
			break;
	}
out:
	if (kind == IOVA_KIND_FAST) {
		iovad->nr_allocs -= units;
		iovad->nr_pages -= pages;
		iova_fast_units_add(iovad, -units);
	}
	if (IS_ENABLED(CONFIG_IOVA_DEBUG))
		iova_debug_check(iovad, iova_find_ceil(iovad, pfn));
	return 0;
}

/*
 * A free that found no node to split an extent with: it cannot happen while
 * the extents' spare nodes are there (see iova_owed()), so say so and keep
 * the range allocated rather than corrupt the tree.
 */
static void iova_lose(struct iova_domain *iovad, unsigned long pfn,
		      unsigned long pages)
{
	iovad->nr_lost += pages;
	WARN_ONCE(1, "iova: no spare node to free pfn %#lx, %lu pages kept\n",
		  pfn, pages);
}

/*
 * Free @pages at @pfn given to free_iova_fast() that did not go to a
 * cache. Tree lock held, spares stashed. For compatibility, a node from
 * alloc_iova() starting at @pfn is freed whole.
 */
static void iova_free_fast_locked(struct iova_domain *iovad, unsigned long pfn,
				  unsigned long pages)
{
	struct iova *n;
	int ret;

	ret = iova_carve(iovad, pfn, pages, 1, IOVA_KIND_FAST);
	if (ret == -ENOMEM) {
		iova_lose(iovad, pfn, pages);
		return;
	}
	if (!ret)
		return;
	n = iova_find_node(iovad, pfn);
	if (n && n->kind == IOVA_KIND_ALLOC && n->pfn_lo == pfn) {
		iovad->nr_allocs--;
		iovad->nr_pages -= iova_size(n);
		iova_unlink(iovad, n);
		iova_put_node(iovad, n);
		return;
	}
	WARN_ONCE(1, "iova: free_iova_fast() of pfn %#lx, %lu pages: not allocated\n",
		  pfn, pages);
}

/* --- domain and tree API --------------------------------------------------- */

/**
 * init_iova_domain - initialise an IOVA domain
 * @iovad: domain to initialise
 * @granule: bytes per pfn, a power of two no larger than PAGE_SIZE
 * @start_pfn: lowest pfn that may be allocated (may be 0)
 *
 * The domain starts empty; fast-path allocations coalesce when the
 * iova.merge parameter is set at this point. Call iova_domain_init_rcaches()
 * to add per-CPU caches, and put_iova_domain() to tear it down.
 *
 * Context: any context; allocates nothing.
 */
void init_iova_domain(struct iova_domain *iovad, unsigned long granule,
		      unsigned long start_pfn)
{
	/* the granule must represent every CPU page exactly */
	if (WARN_ON(granule > PAGE_SIZE || !is_power_of_2(granule)))
		granule = PAGE_SIZE;

	spin_lock_init(&iovad->iova_rbtree_lock);
	seqcount_spinlock_init(&iovad->seq, &iovad->iova_rbtree_lock);
	iovad->rbroot = RB_ROOT;
	iovad->granule = granule;
	iovad->start_pfn = start_pfn;
	iovad->dma_32bit_pfn = 1UL << (32 - iova_shift(iovad));
	iovad->merge = READ_ONCE(iova_merge_enabled);
	iovad->pools = READ_ONCE(iova_pools_enabled);
	atomic_set(&iovad->fail_node_allocs, 0);
	atomic_set(&iovad->fail_node_skip, 0);
	iovad->spares = NULL;
	iovad->nr_spare = 0;
	iovad->nr_fast_units = 0;
	iovad->nr_fast_nodes = 0;
	iovad->nr_extents = 0;
	iovad->nr_pool_nodes = 0;
	iovad->nr_fast_allocs = 0;
	iovad->rest_lo = 1;
	iovad->rest_hi = 0;
	iovad->nr_allocs = 0;
	iovad->nr_pages = 0;
	iovad->nr_merges = 0;
	iovad->nr_splits = 0;
	iovad->nr_lost = 0;
	iovad->nr_tree_locks = 0;
	atomic64_set(&iovad->releases, 0);
	iovad->caches = NULL;
	iovad->depot = NULL;
	iovad->debugfs = NULL;

	memset(&iovad->anchor, 0, sizeof(iovad->anchor));
	iovad->anchor.pfn_lo = IOVA_ANCHOR;
	iovad->anchor.pfn_hi = IOVA_ANCHOR;
	iovad->anchor.gap_lo = start_pfn;
	iovad->anchor.kind = IOVA_KIND_ANCHOR;
	iova_own_gap(&iovad->anchor, &iovad->anchor.own);
	iova_gap_compute(&iovad->anchor, false);
	rb_link_node(&iovad->anchor.node, NULL, &iovad->rbroot.rb_node);
	rb_insert_augmented(&iovad->anchor.node, &iovad->rbroot,
			    &iova_gap_callbacks);
}
EXPORT_SYMBOL_GPL(init_iova_domain);

/**
 * alloc_iova - allocate a range of IOVA pfns
 * @iovad: domain
 * @size: number of pfns
 * @limit_pfn: highest pfn the range may use
 * @size_aligned: align the range naturally to roundup_pow_of_two(@size)
 *
 * Finds the highest free range of @size pfns between the domain's
 * start_pfn and @limit_pfn in O(log n). The node returned is exactly this
 * allocation and is never merged with a neighbour.
 *
 * Context: any context; takes the domain's tree lock with interrupts off.
 * Return: the new node, or NULL if there is no room or no memory.
 */
struct iova *alloc_iova(struct iova_domain *iovad, unsigned long size,
			unsigned long limit_pfn, bool size_aligned)
{
	struct iova_req req;
	struct iova *nw, *next;
	unsigned long flags, pfn;
	bool shrunk = false;

	if (!iova_req_init(&req, iovad, size, limit_pfn, size_aligned, false))
		return NULL;
	nw = iova_node_alloc(iovad);
	if (!nw)
		return NULL;

	for (;;) {
		iova_wlock(iovad, &flags);
		next = iova_search(iovad, &req, &pfn);
		if (next) {
			iova_place(iovad, next, pfn, size, IOVA_KIND_ALLOC, nw);
			iovad->nr_allocs++;
			iovad->nr_pages += size;
		}
		iova_wunlock(iovad, flags);
		if (next) {
			trace_iova_alloc(iovad, size, limit_pfn, pfn,
					 IOVA_TRACE_NODE);
			return nw;
		}
		/* the room may be in the pools' chunks */
		if (!iova_pooled(iovad) || shrunk) {
			iova_node_free(nw);
			trace_iova_alloc(iovad, size, limit_pfn, 0,
					 IOVA_TRACE_FAIL);
			return NULL;
		}
		iova_pools_shrink(iovad);
		shrunk = true;
	}
}
EXPORT_SYMBOL_GPL(alloc_iova);

/**
 * find_iova - find the node holding a pfn
 * @iovad: domain
 * @pfn: any pfn of the range
 *
 * For alloc_iova() and reserve_iova() ranges the node is exactly that
 * allocation or reservation. A pfn of a fast-path allocation yields the
 * extent holding it (in a CPU's pool, with pools on), which may be larger
 * than the allocation and may change or go away at the next fast-path
 * call; do not take its size as the allocation's.
 *
 * Context: any context; takes the domain's tree lock with interrupts off.
 * Return: the node, or NULL if @pfn is not allocated.
 */
struct iova *find_iova(struct iova_domain *iovad, unsigned long pfn)
{
	unsigned int kind = IOVA_KIND_ANCHOR;
	unsigned long flags;
	struct iova *n;

	spin_lock_irqsave(&iovad->iova_rbtree_lock, flags);
	iovad->nr_tree_locks++;
	trace_iova_lock(iovad, IOVA_TRACE_LOCK_TREE);
	n = iova_find_node(iovad, pfn);
	if (n)
		kind = n->kind;
	if (kind == IOVA_KIND_ANCHOR || kind == IOVA_KIND_FOREIGN)
		n = NULL;
	spin_unlock_irqrestore(&iovad->iova_rbtree_lock, flags);
	/* in a pool's chunk: the pool's extent, if the pfn is allocated */
	if (n && iova_is_pool(kind) && iovad->caches)
		return find_iova(iova_pool_of(iovad, kind - IOVA_KIND_POOL), pfn);
	return n;
}
EXPORT_SYMBOL_GPL(find_iova);

/* Whether @n is a node of @iovad's tree (not of a pool's) */
static bool iova_in_tree(struct iova_domain *iovad, struct iova *n)
{
	struct rb_node *rb = &n->node;

	if (RB_EMPTY_NODE(rb))
		return false;
	while (rb_parent(rb))
		rb = rb_parent(rb);
	return rb == iovad->rbroot.rb_node;
}

/*
 * Remove a node given to __free_iova()/free_iova(); tree lock held.
 * Returns the node to free after unlocking, or NULL.
 */
static struct iova *iova_remove_node(struct iova_domain *iovad, struct iova *n)
{
	switch (n->kind) {
	case IOVA_KIND_ALLOC:
		iovad->nr_allocs--;
		iovad->nr_pages -= iova_size(n);
		break;
	case IOVA_KIND_RESERVED:
		break;
	case IOVA_KIND_FAST:
		/* only an unmerged node is known to be one allocation */
		if (WARN_ONCE(iovad->merge || !iova_in_tree(iovad, n),
			      "iova: free_iova() of fast-path extent %#lx-%#lx, use free_iova_fast()\n",
			      n->pfn_lo, n->pfn_hi))
			return NULL;
		iovad->nr_allocs--;
		iovad->nr_pages -= iova_size(n);
		iova_fast_units_add(iovad, -1);
		iova_count_release(iovad);
		break;
	default:
		return NULL;
	}
	trace_iova_free(iovad, n->pfn_lo, iova_size(n), IOVA_TRACE_NODE);
	iova_unlink(iovad, n);
	if (IS_ENABLED(CONFIG_IOVA_DEBUG))
		iova_debug_check(iovad, iova_find_ceil(iovad, n->pfn_lo));
	return n;
}

/**
 * __free_iova - free a node returned by alloc_iova() or reserve_iova()
 * @iovad: domain
 * @iova: the node
 *
 * Context: any context; takes the domain's tree lock with interrupts off.
 */
void __free_iova(struct iova_domain *iovad, struct iova *iova)
{
	unsigned long flags;

	iova_wlock(iovad, &flags);
	iova = iova_remove_node(iovad, iova);
	iova_wunlock(iovad, flags);
	if (iova)
		iova_node_free(iova);
}
EXPORT_SYMBOL_GPL(__free_iova);

/**
 * free_iova - free the alloc_iova() or reserve_iova() range holding a pfn
 * @iovad: domain
 * @pfn: any pfn of the range
 *
 * Nothing happens if @pfn is not allocated.
 *
 * Context: any context; takes the domain's tree lock with interrupts off.
 */
void free_iova(struct iova_domain *iovad, unsigned long pfn)
{
	unsigned long flags;
	struct iova *n;

	iova_wlock(iovad, &flags);
	n = iova_find_node(iovad, pfn);
	if (n)
		n = iova_remove_node(iovad, n);
	iova_wunlock(iovad, flags);
	if (n)
		iova_node_free(n);
}
EXPORT_SYMBOL_GPL(free_iova);

/*
 * [lo, hi] lies in an extent of CPU @cpu's pool in the domain's tree: the
 * pool gives up each free gap there and the gap is carved out of the
 * extent in the same step, to become free space of the domain's tree.
 * What the pool has allocated there stays. Tree lock held; takes the
 * pool's lock inside it. Returns how many gaps came back, or -ENOMEM when
 * a node was missing; the gaps given up before that are consistent in
 * both trees (free space of the domain), the rest stay the pool's.
 */
static int iova_pool_cede(struct iova_domain *iovad, unsigned int cpu,
			  unsigned long lo, unsigned long hi)
{
	struct iova_cpu_cache *cc = per_cpu_ptr(iovad->caches, cpu);
	struct iova_domain *pool = &cc->pool;
	unsigned long cur, s, e;
	int ret = 0;
	struct iova *m;

	iova_pool_wlock(pool);
	for (cur = lo; ; cur = m->pfn_hi + 1) {
		m = iova_find_ceil(pool, cur);
		s = max(m->gap_lo, cur);
		if (s > hi)
			break;
		if (m->pfn_lo > s) {
			e = min(m->pfn_lo - 1, hi);
			/*
			 * The pool gives the gap up and the domain takes it
			 * back in one step, or neither: space the pool marks
			 * foreign while the domain still counts it as the
			 * pool's would belong to nobody for good.
			 */
			if (!iova_have_spare(pool) || !iova_have_spare(iovad)) {
				ret = -ENOMEM;
				break;
			}
			iova_place(pool, m, s, e - s + 1, IOVA_KIND_FOREIGN, NULL);
			WRITE_ONCE(cc->pool_pages, cc->pool_pages - (e - s + 1));
			cc->returns++;
			if (!WARN_ON_ONCE(iova_carve(iovad, s, e - s + 1, 0,
						     iova_pool_kind(cpu))))
				ret++;
		}
		if (m->pfn_hi >= hi)
			break;
	}
	iova_trim_spares(pool);
	iova_pool_wunlock(pool);
	return ret;
}

/**
 * reserve_iova - keep a range of pfns from ever being allocated
 * @iovad: domain
 * @pfn_lo: first pfn
 * @pfn_hi: last pfn
 *
 * Reservations may overlap each other and live allocations. A reservation
 * overlapping an earlier one grows it downwards and continues above it;
 * the free parts around other ranges get reservation nodes of their own.
 * With per-CPU pools, the pools give up their free space in the range in
 * the same section of the tree lock, so nothing in it is handed out.
 *
 * Context: any context; takes the domain's tree lock with interrupts off.
 * Return: the last reservation node this call added or grew, or, if the
 * range lies wholly inside allocated ranges, the last of them (for ranges
 * of a CPU's pool, what find_iova() gives); a node this call added or grew
 * may be given to __free_iova(). NULL on bad arguments or no memory.
 */
struct iova *reserve_iova(struct iova_domain *iovad, unsigned long pfn_lo,
			  unsigned long pfn_hi)
{
	unsigned long flags, cur = pfn_lo, ret_pfn = 0;
	struct iova *n, *nw, *ret = NULL;
	bool in_pool;
	int ceded;

	/* Don't allow nonsensical pfns */
	if (WARN_ON((pfn_hi | pfn_lo) > (ULLONG_MAX >> iova_shift(iovad))))
		return NULL;
	pfn_hi = min(pfn_hi, IOVA_ANCHOR - 1);
	if (pfn_lo > pfn_hi)
		return NULL;

	iova_wlock(iovad, &flags);
	n = iova_find_ceil(iovad, cur);
	for (;;) {
		if (cur < n->pfn_lo) {
			if (n->kind == IOVA_KIND_RESERVED &&
			    n->pfn_lo <= pfn_hi) {
				n->pfn_lo = cur;
				iova_update(n);
			} else {
				nw = iova_node_alloc(iovad);
				if (!nw) {
					ret = NULL;
					break;
				}
				nw->pfn_lo = cur;
				nw->pfn_hi = min(pfn_hi, n->pfn_lo - 1);
				nw->kind = IOVA_KIND_RESERVED;
				iova_link_before(iovad, nw, n);
				ret = nw;
				if (nw->pfn_hi == pfn_hi)
					break;
			}
		}
		if (iova_is_pool(n->kind) && iovad->caches) {
			ceded = iova_pool_cede(iovad, n->kind - IOVA_KIND_POOL,
					       max(cur, n->pfn_lo),
					       min(pfn_hi, n->pfn_hi));
			if (ceded < 0) {
				ret = NULL;
				break;
			}
			if (ceded) {
				/* free space again: reserve it from @cur on */
				n = iova_find_ceil(iovad, cur);
				continue;
			}
		}
		if (n->kind == IOVA_KIND_RESERVED || !ret) {
			ret = n;
			ret_pfn = max(cur, n->pfn_lo);
		}
		if (n->pfn_hi >= pfn_hi)
			break;
		cur = n->pfn_hi + 1;
		n = iova_next(n);
	}
	if (IS_ENABLED(CONFIG_IOVA_DEBUG))
		iova_debug_check(iovad, iova_find_ceil(iovad, pfn_lo));
	in_pool = ret && iova_is_pool(ret->kind);
	iova_wunlock(iovad, flags);
	/* a pool's chunk is not an allocation: give the pool's extent */
	if (in_pool)
		ret = find_iova(iovad, ret_pfn);
	return ret;
}
EXPORT_SYMBOL_GPL(reserve_iova);

/* Pages a fast-path range of @size takes: sizes below 32 round up */
static unsigned long iova_fast_pages(unsigned long size)
{
	return size < IOVA_FAST_ROUND_LIMIT ? roundup_pow_of_two(size) : size;
}

/*
 * Place @req in [@iovad->rest_lo, @iovad->rest_hi], the free rest of the
 * naturally aligned block of the last fast-path range of an exact size
 * (see iova_fast_pages()) this tree gave out. Ranges below 32 pfns look
 * there first: a device that maps a large buffer and then small ones
 * packs them into that block, as stock packs them just below it, instead
 * of into the highest small gaps elsewhere, which would leave the rests
 * of its blocks empty and, once the space runs short, the gaps around the
 * ranges that caches and pools give back too small for a large range.
 * The rest fills from the top and looks no further than its top gap. A
 * request that does not fit there, by its size or its limit, leaves the
 * rest to the next one; the rest is emptied only once its top gap has no
 * free page. Tree lock held; NULL if @req does not fit.
 */
static struct iova *iova_search_rest(struct iova_domain *iovad,
				     const struct iova_req *req,
				     unsigned long *pfn)
{
	struct iova_req rest = *req;
	unsigned long top;
	struct iova *n;

	/* a hint only: whatever the rest holds now, the gap decides */
	rest.min_pfn = max(req->min_pfn, iovad->rest_lo);
	rest.limit = min(req->limit, iovad->rest_hi);
	if (rest.min_pfn <= rest.limit) {
		n = iova_find_ceil(iovad, rest.limit);
		if (iova_gap_place(n, &rest, pfn)) {
			/* what is above is taken */
			iovad->rest_hi = *pfn - 1;
			return n;
		}
	}
	/* the highest free page of the rest, whatever the caller's limit */
	rest.size = 1;
	rest.aligned = false;
	rest.align_mask = ~0UL;
	rest.limit = iovad->rest_hi;
	if (iova_gap_place(iova_find_ceil(iovad, rest.limit), &rest, &top)) {
		iovad->rest_hi = top;
	} else {
		iovad->rest_lo = 1;
		iovad->rest_hi = 0;
	}
	return NULL;
}

static unsigned long iova_fast_tree_alloc(struct iova_domain *iovad,
					  unsigned long size,
					  unsigned long limit_pfn,
					  bool rest_only)
{
	struct iova_prealloc pre;
	struct iova_req req;
	struct iova *next = NULL;
	unsigned long flags, pfn = 0;

	if (!iova_req_init(&req, iovad, size, limit_pfn, true, true))
		return 0;
	iova_prealloc(iovad, &pre, 1);
	iova_wlock(iovad, &flags);
	iova_stash(iovad, &pre);
	/* the range takes a node, or banks one for the split that frees it */
	if (iova_have_spare(iovad)) {
		/* a caller that asks for the rest alone uses only its own */
		if (size < IOVA_FAST_ROUND_LIMIT &&
		    iovad->rest_lo <= iovad->rest_hi &&
		    (!rest_only || iovad->rest_cpu == raw_smp_processor_id()))
			next = iova_search_rest(iovad, &req, &pfn);
		if (!next && !rest_only)
			next = iova_search(iovad, &req, &pfn);
	}
	if (next && iova_place(iovad, next, pfn, size, IOVA_KIND_FAST, NULL)) {
		iovad->nr_allocs++;
		iovad->nr_pages += size;
		iovad->nr_fast_allocs++;
		iova_fast_units_add(iovad, 1);
		if (!is_power_of_2(size)) {
			iovad->rest_lo = pfn + size;
			iovad->rest_hi = pfn + roundup_pow_of_two(size) - 1;
			iovad->rest_cpu = raw_smp_processor_id();
		}
	} else {
		pfn = 0;
	}
	iova_trim_spares(iovad);
	iova_wunlock(iovad, flags);
	return pfn;
}

/* --- per-CPU pools ---------------------------------------------------------- */

/*
 * With pools, each CPU owns chunks of IOVA_CHUNK_PAGES pages, aligned to
 * their size, that the domain's tree holds as extents of kind POOL + cpu.
 * The CPU allocates inside them from a tree of its own (cc->pool), the
 * same allocator over the same address space, in which everything it does
 * not own is covered by FOREIGN extents: its lock is taken by no other CPU
 * in the steady state. The domain's tree lock is taken only to get or give
 * back a chunk. The pool's lock is taken inside the domain's tree lock
 * where space moves between them (a refill, a chunk or a shrink's
 * space given back, a reservation), and the tree
 * lock is never taken with a pool's lock held.
 */

/**
 * iova_lookup_child - one step of a lockless lookup
 * @iovad: the domain whose tree is walked
 * @n: the node the walk stands on
 * @right: take the right (higher) child, else the left one
 *
 * A KUnit test may run other work here, between a step's read of a link
 * and the walk's use of it, through a static stub. Not for other callers.
 *
 * Context: inside iova_lookup()'s RCU read section.
 * Return: the child link of @n, as read now (it may be NULL).
 */
VISIBLE_IF_KUNIT struct rb_node *iova_lookup_child(struct iova_domain *iovad,
						   struct iova *n, bool right)
{
	KUNIT_STATIC_STUB_REDIRECT(iova_lookup_child, iovad, n, right);
	return right ? READ_ONCE(n->node.rb_right) : READ_ONCE(n->node.rb_left);
}
EXPORT_SYMBOL_IF_KUNIT(iova_lookup_child);

/*
 * Kind of the node of @iovad that holds [pfn, end] whole, looked up
 * without the tree lock, or -1. Also gives the node's range and unit, and
 * the sequence count the answer is valid for.
 *
 * Every pointer the walk dereferences is @iovad's anchor or a node of the
 * node cache, never memory of another domain. The root pointer lives in
 * @iovad, and every value it ever holds is a node of @iovad's tree. Each
 * child link is read and then, before it is followed, @iovad's sequence
 * count is read again (read_seqcount_retry(): smp_rmb(), then the count):
 * if it is still the count the walk began with, the node the link was read
 * from was in @iovad's tree when it was read (taking it out is a write
 * section), so the link is a link of @iovad's tree: a node of the cache or
 * @iovad's anchor. A node that left @iovad and joined another domain, whose
 * links may point at that domain's anchor (memory freed with that domain),
 * only does so after a write section of @iovad began: the writer raised the
 * count and issued smp_wmb() before unlinking the node, the node reached
 * the other domain through the tree lock's release and the slab's own
 * ordering, so a reader that read a link the other domain stored reads a
 * changed count after its smp_rmb() and starts again without following it.
 * A node read this way may still be freed (and reused) at any time after
 * the check: the cache is SLAB_TYPESAFE_BY_RCU, so inside the RCU read
 * section its memory stays a struct iova; what is read from it is only
 * trusted once the count is checked at the end.
 */
static int iova_lookup(struct iova_domain *iovad, unsigned long pfn,
		       unsigned long end, unsigned long *lop,
		       unsigned long *hip, s64 *releasesp,
		       unsigned int *unitp)
{
	unsigned int seq, steps, unit = 0;
	s64 releases;
	unsigned long lo = 0, hi = 0;
	struct rb_node *rb;
	struct iova *n;
	int kind;

	rcu_read_lock();
retry:
	seq = read_seqcount_begin(&iovad->seq);
	releases = atomic64_read(&iovad->releases);
	kind = -1;
	rb = READ_ONCE(iovad->rbroot.rb_node);
	for (steps = 0; rb && steps < 2 * BITS_PER_LONG; steps++) {
		n = to_iova(rb);
		lo = READ_ONCE(n->pfn_lo);
		hi = READ_ONCE(n->pfn_hi);
		if (pfn >= lo && pfn <= hi) {
			if (end <= hi) {
				kind = READ_ONCE(n->kind);
				unit = READ_ONCE(n->unit);
			}
			break;
		}
		rb = iova_lookup_child(iovad, n, pfn > hi);
		if (read_seqcount_retry(&iovad->seq, seq))
			goto retry;
	}
	if (read_seqcount_retry(&iovad->seq, seq))
		goto retry;
	rcu_read_unlock();
	*lop = lo;
	*hip = hi;
	*releasesp = releases;
	*unitp = unit;
	return kind;
}

/* CPU whose pool holds [pfn, end], or -1 if the domain's tree does. */
static int iova_pool_owner(struct iova_domain *iovad, unsigned long pfn,
			   unsigned long end)
{
	unsigned long lo, hi;
	unsigned int unit;
	s64 releases;
	int kind;

	if (!iova_pooled(iovad) || end < pfn)
		return -1;
	kind = iova_lookup(iovad, pfn, end, &lo, &hi, &releases, &unit);
	return kind >= 0 && iova_is_pool(kind) ? kind - IOVA_KIND_POOL : -1;
}

/*
 * Give [pfn, pfn + pages - 1], free space of @cc's pool, back to the
 * domain's tree: foreign in the pool, carved out of the pool's extent in
 * the domain, both in one section (the domain's tree lock and the pool's
 * lock inside it are held), so that the space is never owned by both or
 * neither. False, changing nothing, if the range is not free in the pool
 * or a node it might need is not spare: the pool keeps the space then,
 * and gives it back another time.
 */
static bool iova_pool_give(struct iova_domain *iovad, struct iova_cpu_cache *cc,
			   unsigned long pfn, unsigned long pages)
{
	struct iova_domain *pool = &cc->pool;
	struct iova *n = iova_find_ceil(pool, pfn);

	if (n->gap_lo > pfn || n->pfn_lo <= pfn + pages - 1 ||
	    !iova_spare_ok(pool) || !iova_spare_ok(iovad))
		return false;
	iova_place(pool, n, pfn, pages, IOVA_KIND_FOREIGN, NULL);
	WARN_ON_ONCE(iova_carve(iovad, pfn, pages, 0, iova_pool_kind(cc->cpu)));
	WRITE_ONCE(cc->pool_pages, cc->pool_pages - pages);
	cc->returns++;
	trace_iova_pool_return(iovad, cc->cpu, pfn, pages);
	return true;
}

/* Give CPU @cpu's chunk at @pfn back to the domain if it is still free. */
static void iova_return_chunk(struct iova_domain *iovad, unsigned int cpu,
			      unsigned long pfn)
{
	struct iova_cpu_cache *cc = per_cpu_ptr(iovad->caches, cpu);
	struct iova_prealloc pre, pool_pre;
	unsigned long flags;

	iova_prealloc(&cc->pool, &pool_pre, 1);
	iova_prealloc(iovad, &pre, 1);
	iova_wlock(iovad, &flags);
	iova_stash(iovad, &pre);
	iova_pool_wlock(&cc->pool);
	iova_stash(&cc->pool, &pool_pre);
	iova_pool_give(iovad, cc, pfn, IOVA_CHUNK_PAGES);
	iova_trim_spares(&cc->pool);
	iova_pool_wunlock(&cc->pool);
	iova_trim_spares(iovad);
	iova_wunlock(iovad, flags);
}

/*
 * Whether @cc's pool, which has just had @freed pages freed, keeps all its
 * chunks. A pool keeps enough chunks for its working set, the most pages
 * it had in use during this window of IOVA_POOL_WINDOW frees or the one
 * before, plus one spare chunk: a CPU that maps and unmaps in bursts then
 * finds its chunks again at the next burst instead of giving them back
 * and taking them anew under the domain's lock every time, and a pool
 * whose CPU needs less gives the rest back within two windows of frees.
 * A pool that sees no frees keeps what it has until the domain runs short
 * (a failing fast-path allocation or alloc_iova() shrinks every pool), its
 * CPU goes offline or the domain is put: what it keeps is address space
 * and a few nodes, not memory. The maximum is seen at a free, as only
 * frees lower the count. Pool lock held.
 */
static bool iova_pool_keeps(struct iova_cpu_cache *cc, unsigned long freed)
{
	unsigned long used = cc->pool.nr_pages, need;

	cc->peak = max(cc->peak, used + freed);
	if (++cc->window >= IOVA_POOL_WINDOW) {
		cc->prev_peak = cc->peak;
		cc->peak = used;
		cc->window = 0;
	}
	need = round_up(max(cc->peak, cc->prev_peak), IOVA_CHUNK_PAGES);
	return cc->pool_pages < need + 2 * IOVA_CHUNK_PAGES;
}

/*
 * With @cc's pool lock held, after @freed pages around @pfn were freed
 * into the pool: if the free space around @pfn holds the whole chunk of
 * @pfn, and the pool may part with it (beyond what it keeps, see
 * iova_pool_keeps(), or @all), return its first pfn, for the caller to
 * hand to iova_return_chunk() once the pool lock is dropped; else 0.
 */
static unsigned long iova_pool_take_chunk(struct iova_cpu_cache *cc,
					  unsigned long pfn, unsigned long freed,
					  bool all)
{
	struct iova_domain *pool = &cc->pool;
	unsigned long start = ALIGN_DOWN(pfn, IOVA_CHUNK_PAGES);
	struct iova *n;

	/* the working set is tracked on every free, even a CPU's last ones */
	if ((iova_pool_keeps(cc, freed) && !all) ||
	    cc->pool_pages - pool->nr_pages < IOVA_CHUNK_PAGES)
		return 0;
	n = iova_find_ceil(pool, start);
	if (n->gap_lo > start || n->pfn_lo <= start + IOVA_CHUNK_PAGES - 1)
		return 0;
	return start;
}

/* Take a chunk below @limit_pfn from the domain's tree for @cc's pool. */
static bool iova_pool_refill(struct iova_domain *iovad,
			     struct iova_cpu_cache *cc, unsigned long limit_pfn)
{
	struct iova_domain *pool = &cc->pool;
	struct iova_prealloc pre, pool_pre;
	unsigned long flags, pfn = 0;
	struct iova_req req;
	struct iova *next;
	int ret;

	if (!iova_req_init(&req, iovad, IOVA_CHUNK_PAGES, limit_pfn, true, true))
		return false;
	iova_prealloc(pool, &pool_pre, 1);
	iova_prealloc(iovad, &pre, 1);
	/*
	 * The domain's tree and the pool change in one section, so that no
	 * one (reserve_iova() above all) sees the chunk owned by the pool in
	 * the domain's tree but not yet in the pool's.
	 */
	iova_wlock(iovad, &flags);
	iova_stash(iovad, &pre);
	iova_pool_wlock(pool);
	iova_stash(pool, &pool_pre);
	/* the chunk's carve out of the foreign space may need a node */
	next = iova_spare_ok(pool) && iova_spare_ok(iovad) ?
	       iova_search(iovad, &req, &pfn) : NULL;
	if (!next || !iova_place(iovad, next, pfn, IOVA_CHUNK_PAGES,
				 iova_pool_kind(cc->cpu), NULL))
		pfn = 0;
	if (pfn) {
		ret = iova_carve(pool, pfn, IOVA_CHUNK_PAGES, 0, IOVA_KIND_FOREIGN);
		/* the chunk was free in the domain, so foreign in the pool */
		if (WARN_ON_ONCE(ret))
			pfn = 0;
	}
	if (pfn) {
		WRITE_ONCE(cc->pool_pages, cc->pool_pages + IOVA_CHUNK_PAGES);
		cc->refills++;
		trace_iova_pool_refill(iovad, cc->cpu, pfn, IOVA_CHUNK_PAGES);
	}
	iova_trim_spares(pool);
	iova_pool_wunlock(pool);
	iova_trim_spares(iovad);
	iova_wunlock(iovad, flags);
	return pfn;
}

/* Allocate from this CPU's pool, taking a new chunk if it has no room. */
static unsigned long iova_pool_alloc(struct iova_domain *iovad,
				     unsigned long size, unsigned long limit_pfn)
{
	struct iova_cpu_cache *cc = raw_cpu_ptr(iovad->caches);
	unsigned long pfn;

	pfn = iova_fast_tree_alloc(&cc->pool, size, limit_pfn, false);
	if (!pfn && iova_pool_refill(iovad, cc, limit_pfn))
		pfn = iova_fast_tree_alloc(&cc->pool, size, limit_pfn, false);
	return pfn;
}

/*
 * Allocate from any CPU's pool: the room left in chunks others own. Gives
 * the pool it came from in @tree.
 */
static unsigned long iova_pool_steal(struct iova_domain *iovad,
				     unsigned long size, unsigned long limit_pfn,
				     struct iova_domain **tree)
{
	unsigned long pfn;
	unsigned int cpu;

	for_each_possible_cpu(cpu) {
		/* a pool that owns no chunk has no room (a hint, unlocked) */
		if (!READ_ONCE(per_cpu_ptr(iovad->caches, cpu)->pool_pages))
			continue;
		*tree = iova_pool_of(iovad, cpu);
		pfn = iova_fast_tree_alloc(*tree, size, limit_pfn, false);
		if (pfn) {
			trace_iova_pool_steal(iovad, cpu, pfn, size);
			return pfn;
		}
	}
	return 0;
}

/* Free [pfn, pfn + pages - 1], a range of CPU @cpu's pool. */
static void iova_pool_free(struct iova_domain *iovad, unsigned int cpu,
			   unsigned long pfn, unsigned long pages)
{
	struct iova_cpu_cache *cc = per_cpu_ptr(iovad->caches, cpu);
	struct iova_domain *pool = &cc->pool;
	unsigned long flags, chunk;

	iova_wlock(pool, &flags);
	iova_free_fast_locked(pool, pfn, pages);
	if (cpu != raw_smp_processor_id())
		cc->remote_frees++;
	chunk = iova_pool_take_chunk(cc, pfn, pages, !cpu_online(cpu));
	iova_trim_spares(pool);
	iova_wunlock(pool, flags);
	if (chunk)
		iova_return_chunk(iovad, cpu, chunk);
}

/*
 * Give all the free space of CPU @cpu's pool back to the domain, so that
 * the domain's tree sees every free pfn again: for flush_rcache retries, a
 * failed alloc_iova() and CPU hotplug. Walks the pool's tree.
 */
static void iova_pool_shrink(struct iova_domain *iovad, unsigned int cpu)
{
	struct iova_cpu_cache *cc = per_cpu_ptr(iovad->caches, cpu);
	struct iova_domain *pool = &cc->pool;
	struct iova_prealloc pre, pool_pre;
	unsigned long flags, resume = 0;
	unsigned int nr;
	bool stuck;
	struct iova *n;

	do {
		iova_prealloc(pool, &pool_pre, IOVA_SHRINK_BATCH);
		iova_prealloc(iovad, &pre, IOVA_SHRINK_BATCH);
		iova_wlock(iovad, &flags);
		iova_stash(iovad, &pre);
		iova_pool_wlock(pool);
		iova_stash(pool, &pool_pre);
		nr = 0;
		stuck = false;
		n = iova_find_ceil(pool, resume);
		while (nr < IOVA_SHRINK_BATCH) {
			if (n->pfn_lo > n->gap_lo) {
				/* @n stays in the pool's tree */
				stuck = !iova_pool_give(iovad, cc, n->gap_lo,
							n->pfn_lo - n->gap_lo);
				if (stuck)
					break;
				nr++;
			}
			if (n == &pool->anchor)
				break;
			resume = n->pfn_hi + 1;
			n = iova_next(n);
		}
		iova_trim_spares(pool);
		iova_pool_wunlock(pool);
		iova_trim_spares(iovad);
		iova_wunlock(iovad, flags);
	} while (nr == IOVA_SHRINK_BATCH && !stuck);
}

static void iova_pools_shrink(struct iova_domain *iovad)
{
	unsigned int cpu;

	for_each_possible_cpu(cpu)
		iova_pool_shrink(iovad, cpu);
}

/* --- per-CPU caches -------------------------------------------------------- */

static int iova_cmp_pfn(const void *a, const void *b)
{
	unsigned long x = *(const unsigned long *)a;
	unsigned long y = *(const unsigned long *)b;

	return x < y ? -1 : x > y;
}

static void iova_set_bits(unsigned long *map, unsigned int from, unsigned int to)
{
	while (from < to)
		__set_bit(from++, map);
}

/* Index of the next run after the one that starts at @i (see starts) */
static unsigned int iova_run_end(const unsigned long *starts, unsigned int i,
				 unsigned int count)
{
	for (i++; i < count && !test_bit(i, starts); i++)
		;
	return i;
}

/*
 * Return the @count oldest of the *@nrp ranges of @order in the stack
 * @pfns to the trees holding them (the domain's or a pool's), abutting
 * ones carved as one. Ranges that would need a node when none is left
 * stay. Called with the lock of the stack held and interrupts off.
 */
static void iova_release(struct iova_domain *iovad, unsigned long *pfns,
			 unsigned int *nrp, unsigned int order,
			 unsigned int count)
{
	unsigned long keep[BITS_TO_LONGS(IOVA_DEPOT_MAX)] = { 0 };
	unsigned long pooled[BITS_TO_LONGS(IOVA_DEPOT_MAX)] = { 0 };
	unsigned long starts[BITS_TO_LONGS(IOVA_DEPOT_MAX)] = { 0 };
	unsigned long pages = 1UL << order, chunk, flags, lo, hi = 0;
	unsigned int i, j, unit, runs = 0, kept = 0, nr = *nrp;
	s64 releases;
	struct iova_cpu_cache *cc;
	int ret, cpu, kind = -1;

	count = min3(count, nr, (unsigned int)IOVA_DEPOT_MAX);
	if (!count)
		return;
	sort(pfns, count, sizeof(*pfns), iova_cmp_pfn, NULL);
	/*
	 * Runs: abutting ranges in one node of the domain's tree, so that a
	 * run lies in the domain's tree or in one pool, not across both.
	 */
	for (i = 0; i < count; i++) {
		if (i && pfns[i] == pfns[i - 1] + pages &&
		    pfns[i] + pages - 1 <= hi)
			continue;
		__set_bit(i, starts);
		if (iova_pooled(iovad))
			kind = iova_lookup(iovad, pfns[i], pfns[i] + pages - 1,
					   &lo, &hi, &releases, &unit);
		else
			hi = ULONG_MAX;
		if (kind >= 0 && iova_is_pool(kind))
			__set_bit(i, pooled);
		else
			runs++;
	}

	if (runs) {
		spin_lock(&iovad->iova_rbtree_lock);
		iovad->nr_tree_locks++;
		trace_iova_lock(iovad, IOVA_TRACE_LOCK_TREE);
		write_seqcount_begin(&iovad->seq);
		for (i = 0; i < count; i = j) {
			j = iova_run_end(starts, i, count);
			if (test_bit(i, pooled))
				continue;
			ret = iova_carve(iovad, pfns[i], (j - i) * pages, j - i,
					 IOVA_KIND_FAST);
			if (ret == -ENOMEM)
				iova_set_bits(keep, i, j);
			else
				WARN_ONCE(ret, "iova: cached pfn %#lx is not allocated\n",
					  pfns[i]);
		}
		iova_trim_spares(iovad);
		write_seqcount_end(&iovad->seq);
		spin_unlock(&iovad->iova_rbtree_lock);
	}

	/* ranges of pools go back to their pool, one run at a time */
	for (i = 0; i < count; i = j) {
		j = iova_run_end(starts, i, count);
		if (!test_bit(i, pooled))
			continue;
		cpu = iova_pool_owner(iovad, pfns[i], pfns[i] + pages - 1);
		if (WARN_ON_ONCE(cpu < 0))
			continue;
		cc = per_cpu_ptr(iovad->caches, cpu);
		iova_wlock(&cc->pool, &flags);
		ret = iova_carve(&cc->pool, pfns[i], (j - i) * pages, j - i,
				 IOVA_KIND_FAST);
		chunk = 0;
		if (ret == -ENOMEM)
			iova_set_bits(keep, i, j);
		else if (!WARN_ONCE(ret, "iova: cached pfn %#lx is not allocated\n",
				    pfns[i]))
			chunk = iova_pool_take_chunk(cc, pfns[i], (j - i) * pages,
						     !cpu_online(cpu));
		if (cpu != raw_smp_processor_id())
			cc->remote_frees += j - i;
		iova_trim_spares(&cc->pool);
		iova_wunlock(&cc->pool, flags);
		if (chunk)
			iova_return_chunk(iovad, cpu, chunk);
	}

	for (i = 0; i < count; i++)
		if (test_bit(i, keep))
			pfns[kept++] = pfns[i];
	memmove(&pfns[kept], &pfns[count], (nr - count) * sizeof(*pfns));
	WRITE_ONCE(*nrp, kept + nr - count);
}

static void iova_cc_release(struct iova_domain *iovad, struct iova_cpu_cache *cc,
			    unsigned int order, unsigned int count)
{
	unsigned int nr = cc->nr[order];

	iova_release(iovad, iova_cc_stack(cc, order), &cc->nr[order], order,
		     count);
	cc->pages -= (unsigned long)(nr - cc->nr[order]) << order;
}

/* The same for the depot; @iovad->depot->lock held */
static void iova_depot_release(struct iova_domain *iovad, unsigned int order,
			       unsigned int count)
{
	struct iova_depot *dp = iovad->depot;
	unsigned int nr = dp->nr[order];

	iova_release(iovad, iova_depot_stack(dp, order), &dp->nr[order], order,
		     count);
	dp->pages -= (unsigned long)(nr - dp->nr[order]) << order;
}

/*
 * Let @cc hold @need more pages than its budget: take at least that from
 * the part of the domain's bound no cache has taken, in pieces of
 * IOVA_BUDGET_BATCH so that the shared count is touched only once in a
 * while. Returns false if there is not enough left. @cc->lock held.
 */
static bool iova_cc_grow(struct iova_domain *iovad, struct iova_cpu_cache *cc,
			 unsigned long need)
{
	atomic_long_t *spare = &iovad->depot->cc_spare;
	long left = atomic_long_read(spare), grab, old;

	for (;;) {
		if (left < 0 || (unsigned long)left < need)
			return false;
		grab = min_t(long, left, max_t(unsigned long, need,
					       IOVA_BUDGET_BATCH));
		old = atomic_long_cmpxchg(spare, left, left - grab);
		if (old == left)
			break;
		left = old;
	}
	WRITE_ONCE(cc->budget, cc->budget + grab);
	return true;
}

/*
 * Give back what @cc's budget has beyond its floor and the batches its
 * pages past the floor need; @cc->lock held
 */
static void iova_cc_trim_budget(struct iova_domain *iovad,
				struct iova_cpu_cache *cc)
{
	unsigned long keep = iovad->depot->cc_floor;

	if (cc->pages > keep)
		keep += round_up(cc->pages - keep, IOVA_BUDGET_BATCH);

	if (cc->budget <= keep)
		return;
	atomic_long_add(cc->budget - keep, &iovad->depot->cc_spare);
	WRITE_ONCE(cc->budget, keep);
}

/*
 * Make sure the decay work will look at every cache after a range is put
 * in one. Called with the lock of that cache held: the work clears
 * @decay_on before it takes each cache's lock, so either it finds the
 * range or this sees the flag clear and queues it again.
 */
static void iova_decay_arm(struct iova_domain *iovad)
{
	struct iova_depot *dp = iovad->depot;

	if (READ_ONCE(dp->decay_on))
		return;
	WRITE_ONCE(dp->decay_on, true);
	schedule_delayed_work(&dp->decay, IOVA_DECAY_DELAY);
}

/*
 * @cc is full: move its oldest batch of @order to the depot, or to the
 * tree if the depot is full too. Called with @cc->lock held.
 */
static noinline void iova_cc_spill(struct iova_domain *iovad,
				   struct iova_cpu_cache *cc, unsigned int order)
{
	unsigned int batch = iova_cache_batch(order);
	unsigned long *pfns = iova_cc_stack(cc, order);
	struct iova_depot *dp = iovad->depot;
	bool moved = false;

	/* with pools, ranges go home to their pool instead */
	if (iova_pooled(iovad)) {
		iova_cc_release(iovad, cc, order, batch);
		return;
	}
	spin_lock(&dp->lock);
	dp->locks++;
	trace_iova_lock(iovad, IOVA_TRACE_LOCK_DEPOT);
	if (!dp->used)
		dp->used = true;
	if (dp->nr[order] + batch <= 2 * iova_cache_depth(order) &&
	    dp->pages + ((unsigned long)batch << order) <= dp->budget) {
		memcpy(iova_depot_stack(dp, order) + dp->nr[order], pfns,
		       batch * sizeof(*pfns));
		/* read unlocked by iova_cc_fill() */
		WRITE_ONCE(dp->nr[order], dp->nr[order] + batch);
		dp->pages += (unsigned long)batch << order;
		moved = true;
	}
	spin_unlock(&dp->lock);
	if (!moved) {
		iova_cc_release(iovad, cc, order, batch);
		return;
	}
	WRITE_ONCE(cc->nr[order], cc->nr[order] - batch);
	cc->pages -= (unsigned long)batch << order;
	memmove(pfns, &pfns[batch], cc->nr[order] * sizeof(*pfns));
}

/*
 * Move up to a batch of @order from the depot on top of @cc, if @cc has
 * room for it. Returns how many came. Called with @cc->lock held.
 */
static unsigned int iova_cc_fill(struct iova_domain *iovad,
				 struct iova_cpu_cache *cc, unsigned int order)
{
	unsigned int take, batch = iova_cache_batch(order);
	struct iova_depot *dp = iovad->depot;

	/* an empty depot must not cost this cache any of the bound */
	batch = min(batch, READ_ONCE(dp->nr[order]));
	if (!batch || cc->nr[order] > iova_cache_depth(order) - batch)
		return 0;
	/* the depot's ranges must fit this cache's budget too */
	if (cc->pages + ((unsigned long)batch << order) > cc->budget)
		iova_cc_grow(iovad, cc, cc->pages +
			     ((unsigned long)batch << order) - cc->budget);
	batch = min_t(unsigned long, batch, (cc->budget - cc->pages) >> order);
	if (!batch)
		return 0;
	spin_lock(&dp->lock);
	dp->locks++;
	trace_iova_lock(iovad, IOVA_TRACE_LOCK_DEPOT);
	if (!dp->used)
		dp->used = true;
	take = min(batch, dp->nr[order]);
	WRITE_ONCE(dp->nr[order], dp->nr[order] - take);
	dp->pages -= (unsigned long)take << order;
	memcpy(iova_cc_stack(cc, order) + cc->nr[order],
	       iova_depot_stack(dp, order) + dp->nr[order],
	       take * sizeof(unsigned long));
	spin_unlock(&dp->lock);
	WRITE_ONCE(cc->nr[order], cc->nr[order] + take);
	cc->pages += (unsigned long)take << order;
	if (take)
		iova_decay_arm(iovad);
	else
		iova_cc_trim_budget(iovad, cc);
	return take;
}

static void iova_depot_drain(struct iova_domain *iovad)
{
	struct iova_depot *dp = iovad->depot;
	unsigned long flags;
	unsigned int order;

	spin_lock_irqsave(&dp->lock, flags);
	dp->locks++;
	trace_iova_lock(iovad, IOVA_TRACE_LOCK_DEPOT);
	for (order = 0; order < IOVA_CACHE_ORDERS; order++)
		iova_depot_release(iovad, order, dp->nr[order]);
	spin_unlock_irqrestore(&dp->lock, flags);
}

/* Newest of the ranges of @order in @cc from index @from that fit @limit_pfn */
static unsigned long iova_cc_take(struct iova_cpu_cache *cc, unsigned int order,
				  unsigned int from, unsigned long limit_pfn)
{
	unsigned long last = (1UL << order) - 1, pfn;
	unsigned long *pfns = iova_cc_stack(cc, order);
	unsigned int i;

	if (limit_pfn < last)
		return 0;
	for (i = cc->nr[order]; i-- > from; ) {
		pfn = pfns[i];
		if (pfn <= limit_pfn - last) {
			WRITE_ONCE(cc->nr[order], cc->nr[order] - 1);
			cc->pages -= 1UL << order;
			pfns[i] = pfns[cc->nr[order]];
			return pfn;
		}
	}
	return 0;
}

/*
 * iova_cc_alloc() when the top of @cc's stack of @order could not serve:
 * the rest of the stack or a batch from the depot. Called with @cc->lock
 * held; 0 if neither could. A cached range of a larger order is not split:
 * its halves would not be whole allocations of their extent.
 */
static noinline unsigned long iova_cc_alloc_miss(struct iova_domain *iovad,
						 struct iova_cpu_cache *cc,
						 unsigned int order,
						 unsigned long limit_pfn)
{
	unsigned long pfn;
	unsigned int nr;

	pfn = iova_cc_take(cc, order, 0, limit_pfn);
	if (!pfn) {
		nr = cc->nr[order];
		if (iova_cc_fill(iovad, cc, order))
			pfn = iova_cc_take(cc, order, nr, limit_pfn);
	}
	if (pfn)
		cc->hits++;
	else
		cc->misses++;
	return pfn;
}

/*
 * A cached range of @order that ends at or below @limit_pfn, from this
 * CPU's cache or else from a batch taken from the depot; 0 if none.
 */
static inline unsigned long iova_cc_alloc(struct iova_domain *iovad,
					  unsigned int order,
					  unsigned long limit_pfn)
{
	unsigned long last = (1UL << order) - 1, flags, pfn;
	struct iova_cpu_cache *cc;
	unsigned int nr;

	cc = raw_cpu_ptr(iovad->caches);
	spin_lock_irqsave(&cc->lock, flags);
	/*
	 * The newest range, on top, nearly always fits. Its last pfn is an
	 * allocated one, so adding @last to its first does not wrap around.
	 */
	nr = cc->nr[order];
	if (likely(nr)) {
		pfn = iova_cc_stack(cc, order)[nr - 1];
		if (likely(pfn + last <= limit_pfn)) {
			WRITE_ONCE(cc->nr[order], nr - 1);
			cc->pages -= 1UL << order;
			cc->hits++;
			goto out;
		}
	}
	pfn = iova_cc_alloc_miss(iovad, cc, order, limit_pfn);
out:
	spin_unlock_irqrestore(&cc->lock, flags);
	return pfn;
}

/* Key of the block of @pfn of the domain's tree or this CPU's pool */
static unsigned long iova_block_key(unsigned long pfn, bool domain)
{
	return (pfn >> IOVA_BLOCK_SHIFT) << 2 | (unsigned long)domain << 1 | 1;
}

static struct iova_block *iova_block_slot(struct iova_cpu_cache *cc,
					  unsigned long pfn)
{
	return &cc->block[(pfn >> IOVA_BLOCK_SHIFT) & (IOVA_BLOCKS - 1)];
}

/* The nibble of the @i-th pfn of @b: one more than its unit, or 0 */
static unsigned int iova_block_unit(const struct iova_block *b,
				    unsigned long i)
{
	return b->units[i / 2] >> (i % 2 * 4) & 15;
}

static void iova_block_set_unit(struct iova_block *b, unsigned long i,
				unsigned int unit)
{
	unsigned int shift = i % 2 * 4;

	b->units[i / 2] = (b->units[i / 2] & ~(15 << shift)) |
			  (unit + 1) << shift;
}

/*
 * Note in @cc what a lookup found: [@lo, @hi], a fast-path extent of unit
 * @unit of @tree holding @pfn, @tree's count of releases being @releases.
 */
static void iova_cc_vouch(struct iova_domain *iovad, struct iova_cpu_cache *cc,
			  struct iova_domain *tree, unsigned long pfn,
			  unsigned long lo, unsigned long hi, unsigned int unit,
			  s64 releases)
{
	struct iova_block *b = iova_block_slot(cc, pfn);
	unsigned long key = iova_block_key(pfn, tree == iovad), first, i;

	if (unit >= IOVA_BLOCK_SHIFT || (tree != iovad && tree != &cc->pool))
		return;
	if (b->key != key || b->releases != releases) {
		b->key = key;
		b->releases = releases;
		memset(b->units, 0, sizeof(b->units));
	}
	first = pfn & ~(IOVA_BLOCK_PFNS - 1);
	lo = max(lo, first) - first;
	hi = min(hi, first + IOVA_BLOCK_PFNS - 1) - first;
	for (i = lo; i <= hi; i++)
		iova_block_set_unit(b, i, unit);
}

/*
 * Whether the range of 1 << @order pfns at @pfn, @order being below
 * IOVA_BLOCK_SHIFT, is in a fast-path extent of unit @order that a free on
 * @cc found (see iova_range_is_fast()), nothing of its tree having been
 * released since: then, aligned to its unit, it is an allocation. The
 * ranges a CPU frees come from more extents than one can remember by unit,
 * but they lie in few blocks. @cc->lock held.
 */
static inline bool iova_cc_vouched(struct iova_domain *iovad,
				   struct iova_cpu_cache *cc,
				   unsigned long pfn, unsigned int order)
{
	struct iova_block *b = iova_block_slot(cc, pfn);
	unsigned long key = b->key, i = pfn & (IOVA_BLOCK_PFNS - 1);
	struct iova_domain *tree;

	if ((key | 2) != iova_block_key(pfn, true) ||
	    (pfn & ((1UL << order) - 1)) ||
	    iova_block_unit(b, i) != order + 1)
		return false;
	tree = key & 2 ? iovad : &cc->pool;
	return atomic64_read(&tree->releases) == b->releases;
}

/*
 * Whether [pfn, end], a naturally aligned block of 1 << @order pfns, is an
 * allocation of a fast-path extent of that unit, checked without the tree
 * lock: lookups under the sequence count of the tree walked (the pool's
 * or the domain's), retried if the tree changed meanwhile. iova_lookup()
 * follows a link only after checking the count again, so it only reaches
 * nodes of the SLAB_TYPESAFE_BY_RCU node cache (struct iova memory until
 * the RCU read section ends, even if freed or reused meanwhile) and the
 * walked tree's own anchor, never another domain's memory. Every tree
 * walked belongs to @iovad, which the caller holds. The walk is bounded.
 * The extent found, and the units of its part of the range's block, are
 * remembered in @cc with the tree's count of releases, so that while
 * nothing of the tree is released, frees into that extent or into what the
 * block tells need no lookup at all.
 */
static noinline bool iova_range_is_fast(struct iova_domain *iovad,
					unsigned long pfn, unsigned long end,
					unsigned int order,
					struct iova_cpu_cache *cc)
{
	struct iova_domain *tree = iovad;
	unsigned int unit = 0;
	struct iova_seen *v;
	s64 releases;
	unsigned long lo, hi;
	int kind = -1;

	if (pfn & ((1UL << order) - 1))
		return false;

	/*
	 * Most frees are of ranges this CPU's own pool handed out, and a
	 * pool's tree alone tells whether a range of its chunks is
	 * allocated: look there first.
	 */
	if (iova_pooled(iovad)) {
		tree = &cc->pool;
		kind = iova_lookup(tree, pfn, end, &lo, &hi, &releases, &unit);
	}
	if (kind != IOVA_KIND_FAST) {
		tree = iovad;
		kind = iova_lookup(tree, pfn, end, &lo, &hi, &releases, &unit);
		if (iova_pooled(iovad) && kind >= 0 && iova_is_pool(kind)) {
			tree = iova_pool_of(iovad, kind - IOVA_KIND_POOL);
			kind = iova_lookup(tree, pfn, end, &lo, &hi, &releases,
					   &unit);
		}
	}
	if (kind != IOVA_KIND_FAST || unit != order)
		return false;
	v = &cc->seen[order];
	v->tree = tree;
	v->releases = releases;
	v->lo = lo;
	v->room = hi - lo + 1 - (1UL << order);
	iova_cc_vouch(iovad, cc, tree, pfn, lo, hi, unit, releases);
	/* the decay work runs until the CPU forgets this (iova_cc_decay()) */
	cc->remembers = true;
	iova_decay_arm(iovad);
	return true;
}

/*
 * Whether the block of 1 << @order pfns at @pfn is an allocation of the
 * extent of unit @order that a free on @cc found last, nothing of the tree
 * having been released since, @pfn being aligned to the unit. One extent is
 * remembered per order, as a CPU that maps several sizes frees into several
 * extents in turn. Nothing of the tree is read but its count of releases,
 * which alone tells whether all that was seen allocated then still is:
 * allocations since may have grown the extent, never shrunk it. A release
 * is counted before the tree changes, so a writer in progress fails this.
 */
static inline bool iova_cc_known(const struct iova_cpu_cache *cc,
				 unsigned long pfn, unsigned int order)
{
	const struct iova_seen *v = &cc->seen[order];

	return pfn - v->lo <= v->room && !(pfn & ((1UL << order) - 1)) &&
	       v->tree && atomic64_read(&v->tree->releases) == v->releases;
}

/*
 * Whether a free of the block of 1 << @order pfns at @pfn is of an
 * allocation, as far as what @cc remembers tells without a lookup: the
 * extent of its unit, or else the units of its block (small units).
 */
static inline bool iova_cc_checked(struct iova_domain *iovad,
				   struct iova_cpu_cache *cc, unsigned long pfn,
				   unsigned int order)
{
	if (iova_cc_known(cc, pfn, order))
		return true;
	return order < IOVA_BLOCK_SHIFT && iova_cc_vouched(iovad, cc, pfn, order);
}

static void iova_free_uncached(struct iova_domain *iovad, unsigned long pfn,
			       unsigned long size);
static void __iova_free_uncached(struct iova_domain *iovad, unsigned long pfn,
				 unsigned long size);

/* Push @pfn on @cc's stack of @order, which has room; @cc->lock held. */
static inline void iova_cc_put(struct iova_domain *iovad,
			       struct iova_cpu_cache *cc, unsigned int order,
			       unsigned int nr, unsigned long pfn)
{
	iova_cc_stack(cc, order)[nr] = pfn;
	WRITE_ONCE(cc->nr[order], nr + 1);
	cc->pages += 1UL << order;
	trace_iova_free(iovad, pfn, 1UL << order, IOVA_TRACE_CACHE);
}

/*
 * The rest of free_iova_fast() when the inline test could not push the range
 * on @cc, whose lock the caller took with @flags: look the range up unless
 * the caller found it @checked (see iova_cc_checked()), make room as
 * needed, or else free it to its pool or the tree. Drops the lock.
 */
static noinline void iova_cc_free_miss(struct iova_domain *iovad,
				       struct iova_cpu_cache *cc,
				       unsigned long pfn, unsigned long size,
				       bool checked, unsigned long flags)
	__releases(&cc->lock)
{
	unsigned int order = order_base_2(size), nr;
	unsigned long end = pfn + (1UL << order) - 1;

	if (!checked &&
	    (end < pfn || !iova_range_is_fast(iovad, pfn, end, order, cc)))
		goto uncached;
	/*
	 * Past the bound, make room by moving a batch on as a full cache
	 * does, so that a CPU that only frees still feeds the depot; with
	 * too few of this size cached, the range is not cached.
	 */
	if (cc->pages + (1UL << order) > cc->budget &&
	    !iova_cc_grow(iovad, cc, cc->pages + (1UL << order) - cc->budget)) {
		if (cc->nr[order] < iova_cache_batch(order))
			goto uncached;
		iova_cc_spill(iovad, cc, order);
		if (cc->pages + (1UL << order) > cc->budget)
			goto uncached;
	}
	nr = cc->nr[order];
	if (nr == iova_cache_depth(order)) {
		iova_cc_spill(iovad, cc, order);
		nr = cc->nr[order];
		if (nr == iova_cache_depth(order))
			goto uncached;
	}
	iova_cc_put(iovad, cc, order, nr, pfn);
	iova_decay_arm(iovad);
	spin_unlock_irqrestore(&cc->lock, flags);
	return;
uncached:
	spin_unlock_irqrestore(&cc->lock, flags);
	iova_free_uncached(iovad, pfn, size);
}

/*
 * Size class of a range of exact size, 33 to 1024 pfns: which of the
 * 2^IOVA_XCACHE_CLASS_BITS equal parts of its interval (2^k, 2^(k + 1)]
 * @size falls in, the intervals counted from (32, 64]. Larger sizes give
 * larger classes.
 */
static unsigned int iova_xc_class(unsigned long size)
{
	unsigned long v = size - 1;
	unsigned int k = __fls(v);

	return (k - (IOVA_CACHE_SMALL_ORDERS - 1)) << IOVA_XCACHE_CLASS_BITS |
	       ((v >> (k - IOVA_XCACHE_CLASS_BITS)) &
		((1U << IOVA_XCACHE_CLASS_BITS) - 1));
}

/*
 * List [pfn, pfn + size - 1], of size class @c, in @cc's free slot @i.
 * @cc->lock held.
 */
static void iova_xc_list(struct iova_cpu_cache *cc, unsigned int i,
			 unsigned long pfn, unsigned long size, unsigned int c)
{
	BUILD_BUG_ON(IOVA_XCACHE_SLOTS > 8 * sizeof(cc->xused));
	BUILD_BUG_ON(IOVA_XCACHE_CLASSES > BITS_PER_LONG);
	cc->xpfn[i] = pfn;
	cc->xsize[i] = size;
	cc->xclass[i] = c;
	cc->xused |= 1U << i;
	cc->xmask[c] |= 1U << i;
	cc->xclasses |= 1UL << c;
	WRITE_ONCE(cc->xnr, cc->xnr + 1);
	cc->pages += size;
}

/* Take the range of @cc's slot @i off its list. @cc->lock held. */
static void iova_xc_unlist(struct iova_cpu_cache *cc, unsigned int i)
{
	unsigned int c = cc->xclass[i];

	cc->xused &= ~(1U << i);
	cc->xmask[c] &= ~(1U << i);
	if (!cc->xmask[c])
		cc->xclasses &= ~(1UL << c);
	WRITE_ONCE(cc->xnr, cc->xnr - 1);
	cc->pages -= cc->xsize[i];
}

/*
 * Give @count of @cc's ranges of exact sizes, the highest slot first, back
 * to their pool or the tree. Called with @cc->lock held.
 */
static void iova_xc_release(struct iova_domain *iovad,
			    struct iova_cpu_cache *cc, unsigned int count)
{
	unsigned long pfn, size;
	unsigned int i;

	while (count-- && cc->xused) {
		i = __fls(cc->xused);
		pfn = cc->xpfn[i];
		size = cc->xsize[i];
		iova_xc_unlist(cc, i);
		__iova_free_uncached(iovad, pfn, size);
	}
}

static void iova_cc_drain(struct iova_domain *iovad, unsigned int cpu)
{
	struct iova_cpu_cache *cc = per_cpu_ptr(iovad->caches, cpu);
	unsigned long flags;
	unsigned int order;

	spin_lock_irqsave(&cc->lock, flags);
	for (order = 0; order < IOVA_CACHE_ORDERS; order++)
		iova_cc_release(iovad, cc, order, cc->nr[order]);
	iova_xc_release(iovad, cc, cc->xnr);
	iova_cc_trim_budget(iovad, cc);
	spin_unlock_irqrestore(&cc->lock, flags);
}

/*
 * One decay tick of @cc, whose lock is held: a cache that served or
 * missed no allocation for IOVA_DECAY_IDLE ticks in a row gives back half
 * of each order's ranges per tick, the oldest first, so that a cache
 * keeps its ranges between bursts of mappings yet an idle one is empty
 * about two seconds after its last, and every cache gives back the
 * budget it does not use.
 * An empty cache forgets the extents and blocks it knew, once, so that
 * its next free takes the path that queues the decay work again: a free
 * that what it knew vouches for is cached without queueing it, and a
 * lookup that taught it queued it, so the work stops only once every CPU
 * forgot. Returns the pages left.
 */
static unsigned long iova_cc_decay(struct iova_domain *iovad,
				   struct iova_cpu_cache *cc)
{
	unsigned long used = cc->hits + cc->misses;
	unsigned int order;

	if (used != cc->decay_mark)
		cc->idle = 0;
	else if (cc->idle < IOVA_DECAY_IDLE)
		cc->idle++;
	if (cc->idle == IOVA_DECAY_IDLE) {
		for (order = 0; order < IOVA_CACHE_ORDERS; order++)
			iova_cc_release(iovad, cc, order,
					DIV_ROUND_UP(cc->nr[order], 2));
		iova_xc_release(iovad, cc, DIV_ROUND_UP(cc->xnr, 2));
	}
	cc->decay_mark = used;
	iova_cc_trim_budget(iovad, cc);
	if (!cc->pages && cc->remembers) {
		memset(cc->seen, 0, sizeof(cc->seen));
		memset(cc->block, 0, sizeof(cc->block));
		cc->remembers = false;
	}
	return cc->pages;
}

/*
 * One decay tick of the depot: unless a batch moved in or out since the
 * last tick, a batch of each order goes back to the tree. Returns the
 * pages left.
 */
static unsigned long iova_depot_decay(struct iova_domain *iovad)
{
	struct iova_depot *dp = iovad->depot;
	unsigned long flags, left;
	unsigned int order;

	spin_lock_irqsave(&dp->lock, flags);
	if (!dp->used) {
		for (order = 0; order < IOVA_CACHE_ORDERS; order++)
			iova_depot_release(iovad, order,
					   iova_cache_batch(order));
	}
	dp->used = false;
	left = dp->pages;
	spin_unlock_irqrestore(&dp->lock, flags);
	return left;
}

/*
 * Every IOVA_DECAY_DELAY while anything is cached: idle caches and the
 * idle depot give ranges back (see iova_cc_decay()), so that space a burst
 * of mappings left in the caches returns to the tree, where alloc_iova()
 * and every other CPU can find it. The work queues itself again while
 * something is cached; once all is empty it stops, and the next range
 * cached queues it (iova_decay_arm()).
 */
static void iova_decay_work(struct work_struct *work)
{
	struct iova_depot *dp = container_of(to_delayed_work(work),
					     struct iova_depot, decay);
	struct iova_domain *iovad = dp->iovad;
	struct iova_cpu_cache *cc;
	unsigned long flags, left = 0;
	unsigned int cpu;

	WRITE_ONCE(dp->decay_on, false);
	/* order the store before every cache lock: see iova_decay_arm() */
	smp_mb();
	for_each_possible_cpu(cpu) {
		cc = per_cpu_ptr(iovad->caches, cpu);
		spin_lock_irqsave(&cc->lock, flags);
		left += iova_cc_decay(iovad, cc);
		spin_unlock_irqrestore(&cc->lock, flags);
	}
	left += iova_depot_decay(iovad);
	if (left)
		iova_decay_arm(iovad);
}

static int iova_cpuhp_dead(unsigned int cpu, struct hlist_node *node)
{
	struct iova_domain *iovad;

	iovad = hlist_entry_safe(node, struct iova_domain, cpuhp_dead);
	iova_cc_drain(iovad, cpu);
	if (iova_pooled(iovad))
		iova_pool_shrink(iovad, cpu);
	return 0;
}

/* --- fast path ------------------------------------------------------------ */

/*
 * Whether alloc_iova_fast()/free_iova_fast() of @size pfns go through the
 * per-CPU caches: 1 to 32 pfns (rounded up, 0 wraps around), and the
 * powers of two up to IOVA_CACHE_MAX_PAGES, the sizes whose ranges serve
 * every request of their order. Other sizes above 32 take exactly their
 * size, which no cached range of an order would match.
 */
static inline bool iova_cached_size(const struct iova_domain *iovad,
				    unsigned long size)
{
	return (size - 1 < IOVA_FAST_ROUND_LIMIT ||
		(is_power_of_2(size) && size <= IOVA_CACHE_MAX_PAGES)) &&
	       iovad->caches;
}

/*
 * Per-CPU caches of ranges of exact sizes: the sizes from 33 to 1024 pfns
 * that are not a power of two, which take exactly their size (see
 * iova_fast_pages()). A freed range that this CPU's pool (or, without
 * pools, the domain's tree) holds as an exact fast-path node of that size
 * is kept in the cache, still allocated in its tree, and serves the next
 * request of its size or of up to a third less on this CPU: the node is
 * then trimmed to the request's size, which gives the tail back at once.
 * So a range handed out is always exactly an allocation of its tree, and
 * a free is checked against the tree as strictly as without the cache.
 */
static bool iova_xcached_size(const struct iova_domain *iovad,
			      unsigned long size)
{
	return size > IOVA_FAST_ROUND_LIMIT && size <= IOVA_POOL_MAX_PAGES &&
	       !is_power_of_2(size) && iovad->caches;
}

/* The tree whose exact nodes @cc's cache of exact sizes holds */
static struct iova_domain *iova_xc_tree(struct iova_domain *iovad,
					struct iova_cpu_cache *cc)
{
	return iova_pooled(iovad) ? &cc->pool : iovad;
}

/*
 * Trim the exact node [pfn, pfn + from - 1] of @tree to @to pfns. False,
 * changing nothing, if @tree holds no such node. Tree lock held.
 */
static bool iova_trim_exact(struct iova_domain *tree, unsigned long pfn,
			    unsigned long from, unsigned long to)
{
	struct iova *n = iova_find_node(tree, pfn);

	if (!n || n->kind != IOVA_KIND_FAST || n->unit != IOVA_UNIT_EXACT ||
	    n->pfn_lo != pfn || n->pfn_hi != pfn + from - 1)
		return false;
	n->pfn_hi = pfn + to - 1;
	iova_set_gap_lo(tree, iova_next(n), pfn + to);
	tree->nr_pages -= from - to;
	if (IS_ENABLED(CONFIG_IOVA_DEBUG))
		iova_debug_check(tree, n);
	return true;
}

/*
 * A cached range of exact size for @size pfns ending at or below
 * @limit_pfn: the smallest that fits, of @size up to @size plus a half,
 * trimmed to @size; 0 if none.
 */
static unsigned long iova_xc_alloc(struct iova_domain *iovad,
				   unsigned long size, unsigned long limit_pfn)
{
	struct iova_cpu_cache *cc = raw_cpu_ptr(iovad->caches);
	unsigned long most = size + (size >> IOVA_XCACHE_SLACK);
	unsigned long flags, tflags, classes, got = 0, pfn = 0, x;
	unsigned int i, slots, best = 0;
	struct iova_domain *tree;

	if (limit_pfn < size - 1)
		return 0;
	most = min(most, IOVA_CACHE_MAX_PAGES);
	spin_lock_irqsave(&cc->lock, flags);
	classes = cc->xclasses & GENMASK(iova_xc_class(most),
					 iova_xc_class(size));
	/* the first class with a fit holds the best: later ones are larger */
	for (; classes && !got; classes &= classes - 1) {
		slots = cc->xmask[__ffs(classes)];
		for (; slots; slots &= slots - 1) {
			i = __ffs(slots);
			x = cc->xsize[i];
			if (x >= size && x <= most && (!got || x < got) &&
			    cc->xpfn[i] <= limit_pfn - (size - 1)) {
				best = i;
				got = x;
			}
		}
	}
	if (!got) {
		cc->misses++;
		goto out;
	}
	pfn = cc->xpfn[best];
	iova_xc_unlist(cc, best);
	if (got != size) {
		tree = iova_xc_tree(iovad, cc);
		iova_wlock(tree, &tflags);
		if (WARN_ONCE(!iova_trim_exact(tree, pfn, got, size),
			      "iova: cached range at pfn %#lx is not allocated\n",
			      pfn))
			pfn = 0;
		iova_wunlock(tree, tflags);
	}
	if (pfn)
		cc->hits++;
out:
	spin_unlock_irqrestore(&cc->lock, flags);
	return pfn;
}

/*
 * Keep [pfn, pfn + size - 1] in this CPU's cache of exact sizes if it is
 * an exact node of that size of this CPU's pool (or the domain's tree
 * without pools). A full cache gives its next slot's range back. False if
 * the range is not such a node: the caller frees it the long way.
 */
static bool iova_xc_free(struct iova_domain *iovad, unsigned long pfn,
			 unsigned long size)
{
	struct iova_cpu_cache *cc = raw_cpu_ptr(iovad->caches);
	unsigned long end = pfn + size - 1, lo, hi, flags, vpfn = 0, vsize = 0;
	unsigned int i, unit, slots, c;
	s64 releases;
	int kind;

	if (end < pfn)
		return false;
	spin_lock_irqsave(&cc->lock, flags);
	kind = iova_lookup(iova_xc_tree(iovad, cc), pfn, end, &lo, &hi,
			   &releases, &unit);
	if (kind != IOVA_KIND_FAST || unit != IOVA_UNIT_EXACT || lo != pfn ||
	    hi != end) {
		spin_unlock_irqrestore(&cc->lock, flags);
		return false;
	}
	/*
	 * A range freed twice on this CPU while it is listed: the node is
	 * exactly the listed range, so it was listed with this size, in this
	 * size's class. A second free on another CPU is not caught here, as
	 * with the caches of power-of-two sizes.
	 */
	c = iova_xc_class(size);
	for (slots = cc->xmask[c]; slots; slots &= slots - 1) {
		if (cc->xpfn[__ffs(slots)] != pfn)
			continue;
		spin_unlock_irqrestore(&cc->lock, flags);
		WARN_ONCE(1, "iova: free_iova_fast() of pfn %#lx, %lu pages: freed already\n",
			  pfn, size);
		return true;
	}
	/* listed ranges count against the cached-space bound */
	if (cc->pages + size > cc->budget &&
	    !iova_cc_grow(iovad, cc, cc->pages + size - cc->budget)) {
		spin_unlock_irqrestore(&cc->lock, flags);
		return false;
	}
	if (cc->xnr == IOVA_XCACHE_SLOTS) {
		i = cc->xnext;
		cc->xnext = (i + 1) % IOVA_XCACHE_SLOTS;
		vpfn = cc->xpfn[i];
		vsize = cc->xsize[i];
		iova_xc_unlist(cc, i);
	} else {
		i = __ffs(~cc->xused);
	}
	iova_xc_list(cc, i, pfn, size, c);
	trace_iova_free(iovad, pfn, size, IOVA_TRACE_CACHE);
	iova_decay_arm(iovad);
	spin_unlock_irqrestore(&cc->lock, flags);
	if (!vpfn)
		return true;
	/* the range is an allocation of the pool it was cached from */
	if (iova_pooled(iovad)) {
		trace_iova_free(iovad, vpfn, vsize, IOVA_TRACE_POOL);
		iova_pool_free(iovad, cc->cpu, vpfn, vsize);
	} else {
		__iova_free_uncached(iovad, vpfn, vsize);
	}
	return true;
}

/*
 * Give back what the caches, the depot and the pools hold, for a request
 * the tree could not serve; with @all every one of them, else only those
 * that hold something by an unlocked look (only the failing request pays
 * for it). Returns whether anything may have come back.
 */
static bool iova_reclaim(struct iova_domain *iovad, bool all)
{
	struct iova_cpu_cache *cc;
	unsigned int cpu, order;
	bool any = all;

	for_each_possible_cpu(cpu) {
		cc = per_cpu_ptr(iovad->caches, cpu);
		for (order = 0; order < IOVA_CACHE_ORDERS; order++)
			if (all || READ_ONCE(cc->nr[order]))
				break;
		if (order < IOVA_CACHE_ORDERS || READ_ONCE(cc->xnr) ||
		    READ_ONCE(cc->budget) > iovad->depot->cc_floor) {
			iova_cc_drain(iovad, cpu);
			any = true;
		}
	}
	for (order = 0; order < IOVA_CACHE_ORDERS; order++)
		if (all || READ_ONCE(iovad->depot->nr[order]))
			break;
	if (order < IOVA_CACHE_ORDERS) {
		iova_depot_drain(iovad);
		any = true;
	}
	/* after the caches: their ranges of a pool went home to it */
	if (!iova_pooled(iovad))
		return any;
	for_each_possible_cpu(cpu) {
		if (all || READ_ONCE(per_cpu_ptr(iovad->caches, cpu)->pool_pages)) {
			iova_pool_shrink(iovad, cpu);
			any = true;
		}
	}
	return any;
}

/*
 * A range of fewer than 32 pfns in the rest of the block of this CPU's
 * last range of an exact size, when that range fell back from this CPU's
 * pool to the domain's tree or to another CPU's pool (see
 * iova_alloc_uncached()), and only while that rest is still the one this
 * CPU made: see iova_search_rest(). 0 if there is none or it has no room
 * for this request, which drops the hint.
 */
static unsigned long iova_rest_alloc(struct iova_domain *iovad,
				     unsigned long size, unsigned long limit_pfn)
{
	struct iova_cpu_cache *cc = raw_cpu_ptr(iovad->caches);
	struct iova_domain *tree = READ_ONCE(cc->rest);
	enum iova_trace_path path;
	unsigned long pfn;

	/* its own pool looks at its rest first anyway */
	if (!tree || tree == &cc->pool)
		return 0;
	pfn = iova_fast_tree_alloc(tree, size, limit_pfn, true);
	if (!pfn) {
		WRITE_ONCE(cc->rest, NULL);
		return 0;
	}
	path = tree == iovad ? IOVA_TRACE_TREE : tree == &cc->pool ?
	       IOVA_TRACE_POOL : IOVA_TRACE_STEAL;
	trace_iova_alloc(iovad, size, limit_pfn, pfn, path);
	return pfn;
}

/* alloc_iova_fast() past this CPU's cache: its pool, the tree, stealing */
static noinline unsigned long iova_alloc_uncached(struct iova_domain *iovad,
						  unsigned long size,
						  unsigned long limit_pfn,
						  bool flush_rcache)
{
	struct iova_domain *tree = iovad;
	enum iova_trace_path path;
	bool reclaimed = false;
	unsigned long pfn;

	if (!size)
		return 0;
	size = iova_fast_pages(size);
	if (iova_xcached_size(iovad, size)) {
		pfn = iova_xc_alloc(iovad, size, limit_pfn);
		if (pfn) {
			trace_iova_alloc(iovad, size, limit_pfn, pfn,
					 IOVA_TRACE_CACHE);
			return pfn;
		}
	}
	if (size < IOVA_FAST_ROUND_LIMIT && iovad->caches) {
		pfn = iova_rest_alloc(iovad, size, limit_pfn);
		if (pfn)
			return pfn;
	}
	if (iova_pooled(iovad) && size <= IOVA_POOL_MAX_PAGES) {
		pfn = iova_pool_alloc(iovad, size, limit_pfn);
		if (pfn) {
			trace_iova_alloc(iovad, size, limit_pfn, pfn,
					 IOVA_TRACE_POOL);
			return pfn;
		}
	}

	for (;;) {
		path = IOVA_TRACE_TREE;
		tree = iovad;
		pfn = iova_fast_tree_alloc(iovad, size, limit_pfn, false);
		if (!pfn && iova_pooled(iovad) && size <= IOVA_POOL_MAX_PAGES) {
			path = IOVA_TRACE_STEAL;
			pfn = iova_pool_steal(iovad, size, limit_pfn, &tree);
		}
		/*
		 * Cached ranges and the pools' free space are free space the
		 * tree cannot see: give them back and retry once before
		 * failing, whatever @flush_rcache says. dma-iommu's first,
		 * 32-bit attempt passes false and turns its 32-bit workaround
		 * off for good when it fails, so space held by the caches
		 * must not make it fail where stock would not. Without the
		 * flag only caches and pools that hold something are visited.
		 */
		if (pfn || reclaimed || !iovad->caches ||
		    !iova_reclaim(iovad, flush_rcache))
			break;
		reclaimed = true;
	}
	if (!pfn) {
		trace_iova_alloc(iovad, size, limit_pfn, 0, IOVA_TRACE_FAIL);
		return 0;
	}
	/*
	 * A range of an exact size that this CPU's pool should have served
	 * but could not: the small ranges that follow go to the rest of its
	 * block first, as they would in the pool. A larger range (which the
	 * domain's tree always serves) leaves them to the pool, and without
	 * pools the domain's tree looks at its rest first anyway.
	 */
	if (iova_pooled(iovad) && size <= IOVA_POOL_MAX_PAGES &&
	    !is_power_of_2(size))
		WRITE_ONCE(raw_cpu_ptr(iovad->caches)->rest, tree);
	trace_iova_alloc(iovad, size, limit_pfn, pfn, path);
	return pfn;
}

/**
 * alloc_iova_fast - allocate a range of IOVA pfns on the fast path
 * @iovad: domain
 * @size: number of pfns; below 32 it is rounded up to a power of two
 * @limit_pfn: highest pfn the range may use
 * @flush_rcache: on failure, visit every CPU's cache and pool, not only
 *	those that hold something (a request the tree cannot serve always
 *	takes back the space the caches and pools hold and retries once)
 *
 * The range is naturally aligned to roundup_pow_of_two(@size). Sizes
 * below 32 pfns take that whole power of two, as with stock iova.c, so
 * that a cached range serves every size of its order; larger ones take
 * exactly @size pfns. A range of up to 32 pfns, or of a power of two up
 * to 1024, comes from this CPU's cache if it holds one of that order
 * below the limit, and one of another size up to 1024 pfns from this
 * CPU's cache of exact sizes if it holds one of that size or up to half
 * as large again, trimmed to @size; otherwise it comes from this CPU's
 * pool (up to 1024 pfns) or the tree, where a power-of-two range joins an
 * abutting fast-path extent of its size.
 *
 * Context: any context; takes this CPU's cache lock and on a miss the
 * domain's tree lock, with interrupts off.
 * Return: the first pfn of the range, or 0 on failure.
 */
unsigned long alloc_iova_fast(struct iova_domain *iovad, unsigned long size,
			      unsigned long limit_pfn, bool flush_rcache)
{
	unsigned long pfn;
	unsigned int order;

	if (likely(iova_cached_size(iovad, size))) {
		order = order_base_2(size);
		pfn = iova_cc_alloc(iovad, order, limit_pfn);
		if (likely(pfn)) {
			trace_iova_alloc(iovad, 1UL << order, limit_pfn, pfn,
					 IOVA_TRACE_CACHE);
			return pfn;
		}
	}
	return iova_alloc_uncached(iovad, size, limit_pfn, flush_rcache);
}
EXPORT_SYMBOL_GPL(alloc_iova_fast);

/* Free a fast-path range to its pool or the domain's tree */
static void __iova_free_uncached(struct iova_domain *iovad, unsigned long pfn,
				 unsigned long size)
{
	unsigned long flags, pages;
	int cpu;

	pages = iova_fast_pages(size);
	cpu = iova_pool_owner(iovad, pfn, pfn + pages - 1);
	if (cpu >= 0) {
		trace_iova_free(iovad, pfn, pages, IOVA_TRACE_POOL);
		iova_pool_free(iovad, cpu, pfn, pages);
		return;
	}
	trace_iova_free(iovad, pfn, pages, IOVA_TRACE_TREE);

	iova_wlock(iovad, &flags);
	iova_free_fast_locked(iovad, pfn, pages);
	iova_trim_spares(iovad);
	iova_wunlock(iovad, flags);
}

/* free_iova_fast() of a range the caches of orders did not take */
static noinline void iova_free_uncached(struct iova_domain *iovad,
					unsigned long pfn, unsigned long size)
{
	if (WARN_ONCE(!size, "iova: free_iova_fast() of 0 pages\n"))
		return;
	if (iova_xcached_size(iovad, size) && iova_xc_free(iovad, pfn, size))
		return;
	__iova_free_uncached(iovad, pfn, size);
}

/**
 * free_iova_fast - free a range allocated by alloc_iova_fast()
 * @iovad: domain
 * @pfn: first pfn of the range
 * @size: the size given to alloc_iova_fast()
 *
 * The range goes to this CPU's cache when it is small enough, otherwise it
 * is carved out of its extent. A range that was never allocated triggers a
 * warning and changes nothing.
 *
 * Context: any context; takes this CPU's cache lock and the domain's tree
 * lock, with interrupts off. Never allocates memory under the tree lock.
 */
void free_iova_fast(struct iova_domain *iovad, unsigned long pfn,
		    unsigned long size)
{
	struct iova_cpu_cache *cc;
	unsigned int order, nr;
	unsigned long flags;
	bool checked;

	if (unlikely(!iova_cached_size(iovad, size))) {
		iova_free_uncached(iovad, pfn, size);
		return;
	}
	cc = raw_cpu_ptr(iovad->caches);
	spin_lock_irqsave(&cc->lock, flags);
	/*
	 * Most frees fall in an extent or block seen before, with room to
	 * spare. A range known there does not wrap around: it ends in it.
	 */
	order = order_base_2(size);
	nr = cc->nr[order];
	checked = iova_cc_checked(iovad, cc, pfn, order);
	if (unlikely(!checked || nr >= iova_cache_depth(order) ||
		     cc->pages + (1UL << order) > cc->budget)) {
		iova_cc_free_miss(iovad, cc, pfn, size, checked, flags);
		return;
	}
	iova_cc_put(iovad, cc, order, nr, pfn);
	spin_unlock_irqrestore(&cc->lock, flags);
}
EXPORT_SYMBOL_GPL(free_iova_fast);

/**
 * iova_rcache_range - largest size the fast path serves at its best
 *
 * dma-iommu reports this as the optimal DMA mapping size. The caches also
 * hold larger ranges, the powers of two up to 1024 pfns, but no other
 * size above 32, so the figure stays that of 32 pfns, as before.
 *
 * Context: any context.
 * Return: the size in bytes of 32 PAGE_SIZE pfns.
 */
unsigned long iova_rcache_range(void)
{
	return PAGE_SIZE << (IOVA_CACHE_SMALL_ORDERS - 1);
}

static void iova_debugfs_add(struct iova_domain *iovad);

/* Make all of @pool's address space foreign: the pool owns no chunk yet. */
static int iova_pool_init(struct iova_domain *pool)
{
	struct iova *n = kmem_cache_zalloc(iova_cache, GFP_KERNEL);

	if (!n)
		return -ENOMEM;
	n->pfn_lo = 0;
	n->pfn_hi = IOVA_ANCHOR - 1;
	n->kind = IOVA_KIND_FOREIGN;
	iova_link_before(pool, n, &pool->anchor);
	return 0;
}

/**
 * iova_domain_init_rcaches - add per-CPU caches of freed ranges to a domain
 * @iovad: domain initialised by init_iova_domain()
 *
 * With the iova.pools switch set, also gives each CPU a pool of address
 * space of its own. Registers the domain for CPU hotplug draining and
 * creates its debugfs directory (iova/<id>/stats).
 *
 * Context: process context, may sleep.
 * Return: 0, or -ENOMEM or a CPU hotplug error.
 */
int iova_domain_init_rcaches(struct iova_domain *iovad)
{
	unsigned long share = 0;
	struct iova_depot *dp;
	int ret = -ENOMEM;
	unsigned int cpu;

	dp = kzalloc(sizeof(*dp), GFP_KERNEL);
	if (!dp)
		return -ENOMEM;
	iovad->depot = dp;
	spin_lock_init(&dp->lock);
	dp->iovad = iovad;
	INIT_DELAYED_WORK(&dp->decay, iova_decay_work);
	/*
	 * The bound on cached space. With pools, full caches send their
	 * ranges home to the pools and the depot stays empty; without, it
	 * gets half of the bound.
	 */
	dp->cc_floor = IOVA_CACHE_FLOOR;
	if (iovad->dma_32bit_pfn > iovad->start_pfn) {
		share = iovad->dma_32bit_pfn - iovad->start_pfn;
		dp->cc_floor = min(dp->cc_floor,
				   DIV_ROUND_UP(share, 1UL << IOVA_FLOOR_SHARE));
		share >>= IOVA_CACHE_SHARE;
	}
	if (!iovad->pools) {
		dp->budget = share / 2;
		share -= dp->budget;
	}
	atomic_long_set(&dp->cc_spare, share);

	/* alloc_percpu() refuses more than the smallest unit holds */
	BUILD_BUG_ON(sizeof(struct iova_cpu_cache) > PCPU_MIN_UNIT_SIZE);
	iovad->caches = alloc_percpu(struct iova_cpu_cache);
	if (!iovad->caches)
		goto out_depot;
	for_each_possible_cpu(cpu) {
		struct iova_cpu_cache *cc = per_cpu_ptr(iovad->caches, cpu);

		spin_lock_init(&cc->lock);
		cc->budget = dp->cc_floor;
		cc->cpu = cpu;
		/* an empty tree even without pools, for the counters */
		init_iova_domain(&cc->pool, iovad->granule, iovad->start_pfn);
		cc->pool.merge = iovad->merge;
		cc->pool.pools = false;
		if (iovad->pools && iova_pool_init(&cc->pool))
			goto out_pools;
	}
	ret = cpuhp_state_add_instance_nocalls(CPUHP_IOMMU_IOVA_DEAD,
					       &iovad->cpuhp_dead);
	if (ret)
		goto out_pools;
	iova_debugfs_add(iovad);
	return 0;

out_pools:
	for_each_possible_cpu(cpu)
		put_iova_domain(iova_pool_of(iovad, cpu));
	free_percpu(iovad->caches);
	iovad->caches = NULL;
out_depot:
	kfree(iovad->depot);
	iovad->depot = NULL;
	return ret;
}
EXPORT_SYMBOL_GPL(iova_domain_init_rcaches);

/**
 * put_iova_domain - tear down an IOVA domain
 * @iovad: domain
 *
 * Frees every node, live allocations included, and the caches.
 *
 * Context: process context, may sleep when the domain has caches.
 */
void put_iova_domain(struct iova_domain *iovad)
{
	struct iova *n, *tmp;
	unsigned int cpu;

	if (iovad->caches) {
		/* before anything the work reads is freed */
		cancel_delayed_work_sync(&iovad->depot->decay);
		debugfs_remove_recursive(iovad->debugfs);
		iovad->debugfs = NULL;
		cpuhp_state_remove_instance_nocalls(CPUHP_IOMMU_IOVA_DEAD,
						    &iovad->cpuhp_dead);
		for_each_possible_cpu(cpu)
			put_iova_domain(iova_pool_of(iovad, cpu));
		free_percpu(iovad->caches);
		iovad->caches = NULL;
		kfree(iovad->depot);
		iovad->depot = NULL;
	}
	rbtree_postorder_for_each_entry_safe(n, tmp, &iovad->rbroot, node)
		if (n != &iovad->anchor)
			iova_node_free(n);
	iovad->rbroot = RB_ROOT;
	while (iovad->nr_spare)
		iova_node_free(iova_take_spare(iovad));
	iovad->nr_fast_units = 0;
	iovad->nr_fast_nodes = 0;
}
EXPORT_SYMBOL_GPL(put_iova_domain);

/* --- counters -------------------------------------------------------------- */

static unsigned int iova_tree_depth(struct rb_root *root)
{
	struct rb_node *rb = root->rb_node, *prev = NULL, *next;
	unsigned int depth = 0, deepest = 0;

	while (rb) {
		if (prev == rb_parent(rb)) {
			deepest = max(deepest, ++depth);
			if (rb->rb_left)
				next = rb->rb_left;
			else if (rb->rb_right)
				next = rb->rb_right;
			else
				next = rb_parent(rb);
		} else if (prev == rb->rb_left && rb->rb_right) {
			next = rb->rb_right;
		} else {
			next = rb_parent(rb);
		}
		if (next == rb_parent(rb))
			depth--;
		prev = rb;
		rb = next;
	}
	return deepest;
}

/* Add the counters of one tree (the domain's or a pool's) to @st. */
static void iova_tree_stats(struct iova_domain *tree, struct iova_stats *st,
			    unsigned long *allocs, unsigned long *pages)
{
	st->extents += tree->nr_extents - tree->nr_pool_nodes;
	*allocs += tree->nr_allocs;
	*pages += tree->nr_pages;
	st->merges += tree->nr_merges;
	st->splits += tree->nr_splits;
	st->banked += iova_owed(tree);
	st->lost += tree->nr_lost;
	st->node_bytes += (tree->nr_extents + tree->nr_spare) *
			  sizeof(struct iova);
}

/**
 * iova_domain_stats - read a domain's counters
 * @iovad: domain
 * @st: filled with the counters
 *
 * The snapshot is exact when no other CPU uses the domain. Counts cover
 * the domain's tree and the CPUs' pools; extents count the nodes that hold
 * allocations or reservations, node_bytes all nodes. The depth, of the
 * domain's tree, is measured by a walk of the whole tree.
 *
 * Used by the debugfs files and by KUnit tests, to which alone it is
 * exported.
 *
 * Context: any context; takes every CPU's cache and pool locks, then the
 * tree lock.
 */
void iova_domain_stats(struct iova_domain *iovad, struct iova_stats *st)
{
	unsigned long flags, cached_pages = 0, allocs = 0, pages = 0;
	unsigned int cpu, order, slots;

	memset(st, 0, sizeof(*st));
	if (iovad->caches) {
		for_each_possible_cpu(cpu) {
			struct iova_cpu_cache *cc = per_cpu_ptr(iovad->caches, cpu);
			struct iova_domain *pool = &cc->pool;

			spin_lock_irqsave(&cc->lock, flags);
			st->cache_hits += cc->hits;
			st->cache_misses += cc->misses;
			for (order = 0; order < IOVA_CACHE_ORDERS; order++) {
				st->cached += cc->nr[order];
				cached_pages += (unsigned long)cc->nr[order] << order;
			}
			st->cached += cc->xnr;
			for (slots = cc->xused; slots; slots &= slots - 1)
				cached_pages += cc->xsize[__ffs(slots)];
			spin_unlock_irqrestore(&cc->lock, flags);

			spin_lock_irqsave(&pool->iova_rbtree_lock, flags);
			iova_tree_stats(pool, st, &allocs, &pages);
			st->pool_allocs += pool->nr_fast_allocs;
			st->pool_pages += cc->pool_pages;
			st->chunk_refills += cc->refills;
			st->chunk_returns += cc->returns;
			st->remote_frees += cc->remote_frees;
			spin_unlock_irqrestore(&pool->iova_rbtree_lock, flags);
		}
		spin_lock_irqsave(&iovad->depot->lock, flags);
		for (order = 0; order < IOVA_CACHE_ORDERS; order++) {
			st->cached += iovad->depot->nr[order];
			cached_pages += (unsigned long)iovad->depot->nr[order] << order;
		}
		st->shared_locks += iovad->depot->locks;
		spin_unlock_irqrestore(&iovad->depot->lock, flags);
		st->cache_bytes = sizeof(struct iova_depot) +
			num_possible_cpus() * sizeof(struct iova_cpu_cache);
	}

	spin_lock_irqsave(&iovad->iova_rbtree_lock, flags);
	iova_tree_stats(iovad, st, &allocs, &pages);
	st->shared_locks += iovad->nr_tree_locks;
	st->depth = iova_tree_depth(&iovad->rbroot);
	spin_unlock_irqrestore(&iovad->iova_rbtree_lock, flags);
	st->cached_pages = cached_pages;
	st->allocs_live = allocs - st->cached;
	st->pages_live = pages - cached_pages;
}
EXPORT_SYMBOL_IF_KUNIT(iova_domain_stats);

static int iova_stats_show(struct seq_file *m, void *unused)
{
	struct iova_domain *iovad = m->private;
	struct iova_stats st;

	iova_domain_stats(iovad, &st);
	seq_printf(m, "extents: %lu\n", st.extents);
	seq_printf(m, "allocs_live: %lu\n", st.allocs_live);
	seq_printf(m, "pages_live: %lu\n", st.pages_live);
	seq_printf(m, "merges: %lu\n", st.merges);
	seq_printf(m, "splits: %lu\n", st.splits);
	seq_printf(m, "cache_hits: %lu\n", st.cache_hits);
	seq_printf(m, "cache_misses: %lu\n", st.cache_misses);
	seq_printf(m, "cached: %lu\n", st.cached);
	seq_printf(m, "cached_pages: %lu\n", st.cached_pages);
	seq_printf(m, "shared_locks: %lu\n", st.shared_locks);
	seq_printf(m, "cache_bytes: %lu\n", st.cache_bytes);
	seq_printf(m, "pool_allocs: %lu\n", st.pool_allocs);
	seq_printf(m, "pool_pages: %lu\n", st.pool_pages);
	seq_printf(m, "chunk_refills: %lu\n", st.chunk_refills);
	seq_printf(m, "chunk_returns: %lu\n", st.chunk_returns);
	seq_printf(m, "remote_frees: %lu\n", st.remote_frees);
	seq_printf(m, "banked: %lu\n", st.banked);
	seq_printf(m, "lost: %lu\n", st.lost);
	seq_printf(m, "depth: %u\n", st.depth);
	seq_printf(m, "node_bytes: %lu\n", st.node_bytes);
	seq_printf(m, "merge: %d\n", iovad->merge);
	seq_printf(m, "pools: %d\n", iova_pooled(iovad));
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(iova_stats);

static void iova_debugfs_add(struct iova_domain *iovad)
{
	static atomic_t next_id = ATOMIC_INIT(0);
	char name[16];

	snprintf(name, sizeof(name), "%d", atomic_inc_return(&next_id));
	iovad->debugfs = debugfs_create_dir(name, iova_debugfs_root);
	debugfs_create_file("stats", 0444, iovad->debugfs, iovad,
			    &iova_stats_fops);
}

/* --- full check ------------------------------------------------------------ */

#if IS_ENABLED(CONFIG_IOVA_DEBUG)
static int iova_validate_tree(struct iova_domain *iovad)
{
	unsigned long flags, count = 0, pages = 0, pool_nodes = 0, fast = 0;
	struct iova *n, *prev = NULL, *last = NULL;
	const char *err = NULL;
	struct rb_node *rb;

	spin_lock_irqsave(&iovad->iova_rbtree_lock, flags);
	for (rb = rb_first(&iovad->rbroot); rb && !err; rb = rb_next(rb)) {
		n = to_iova(rb);
		if (n == &iovad->anchor) {
			last = n;
			if (rb_next(rb))
				err = "anchor is not the last node";
			else if (iova_check_node(iovad, prev, n, &pages))
				err = "anchor gap";
			break;
		}
		err = iova_check_node(iovad, prev, n, &pages);
		pool_nodes += n->kind >= IOVA_KIND_FOREIGN;
		fast += n->kind == IOVA_KIND_FAST;
		prev = n;
		count++;
	}
	if (!err && (!last || last->pfn_lo != IOVA_ANCHOR ||
		     last->pfn_hi != IOVA_ANCHOR))
		err = "anchor missing or moved";
	if (!err && count != iovad->nr_extents)
		err = "node count";
	if (!err && pool_nodes != iovad->nr_pool_nodes)
		err = "pool node count";
	if (!err && pages != iovad->nr_pages)
		err = "page count";
	if (!err && fast != iovad->nr_fast_nodes)
		err = "fast-path extent count";
	if (!err && iovad->nr_spare < iova_owed(iovad))
		err = "fewer spare nodes than the extents are owed";
	spin_unlock_irqrestore(&iovad->iova_rbtree_lock, flags);

	if (err) {
		WARN_ONCE(1, "iova: domain %p invalid: %s (node %#lx-%#lx)\n",
			  iovad, err, prev ? prev->pfn_lo : 0,
			  prev ? prev->pfn_hi : 0);
		return -EINVAL;
	}
	return 0;
}

/*
 * The space CPU @cpu's pool owns (what is not foreign in its tree) must be
 * exactly the extents of kind POOL + @cpu of the domain's tree.
 */
static int iova_validate_pool(struct iova_domain *iovad, unsigned int cpu)
{
	struct iova_cpu_cache *cc = per_cpu_ptr(iovad->caches, cpu);
	unsigned long flags, lo, hi, owned = 0, regions = 0, start = 0;
	struct iova_domain *pool = &cc->pool;
	const char *err = NULL;
	struct rb_node *rb;
	unsigned int unit;
	struct iova *n;
	s64 releases;

	spin_lock_irqsave(&pool->iova_rbtree_lock, flags);
	for (rb = rb_first(&pool->rbroot); rb && !err; rb = rb_next(rb)) {
		n = to_iova(rb);
		if (n->kind != IOVA_KIND_FOREIGN) {
			if (n->kind != IOVA_KIND_FAST && n != &pool->anchor)
				err = "pool holds a node that is not fast-path";
			continue;
		}
		if (n->pfn_lo > start) {
			if (iova_lookup(iovad, start, n->pfn_lo - 1, &lo, &hi,
					&releases, &unit) != iova_pool_kind(cpu) ||
			    lo != start || hi != n->pfn_lo - 1)
				err = "pool space is not the domain's pool extent";
			owned += n->pfn_lo - start;
			regions++;
		}
		start = n->pfn_hi + 1;
	}
	if (!err && owned != cc->pool_pages)
		err = "pool page count";
	spin_unlock_irqrestore(&pool->iova_rbtree_lock, flags);

	spin_lock_irqsave(&iovad->iova_rbtree_lock, flags);
	for (rb = rb_first(&iovad->rbroot); rb && !err; rb = rb_next(rb))
		regions -= to_iova(rb)->kind == iova_pool_kind(cpu);
	if (!err && regions)
		err = "domain holds pool extents the pool does not own";
	spin_unlock_irqrestore(&iovad->iova_rbtree_lock, flags);

	if (err) {
		WARN_ONCE(1, "iova: pool of CPU %u of domain %p invalid: %s\n",
			  cpu, iovad, err);
		return -EINVAL;
	}
	return 0;
}

/**
 * iova_validate - check a domain's invariants
 * @iovad: domain
 *
 * Checks address order and no overlap, the gap below each node and the
 * gap summaries of every subtree, that abutting extents of one kind are
 * merged (fast-path ones when merging is on), the anchor, and the node and
 * page counts, for the domain's tree and each CPU's pool; and that the
 * space each pool owns is the domain's pool extents of that CPU. Reports
 * the first violation once with WARN_ONCE. Walks every tree.
 *
 * Context: any context; takes the tree and pool locks with interrupts off.
 * Return: 0 if the domain is consistent, -EINVAL otherwise.
 */
int iova_validate(struct iova_domain *iovad)
{
	unsigned int cpu;
	int ret;

	ret = iova_validate_tree(iovad);
	if (ret || !iovad->caches)
		return ret;
	for_each_possible_cpu(cpu) {
		ret = iova_validate_tree(iova_pool_of(iovad, cpu));
		if (!ret && iova_pooled(iovad))
			ret = iova_validate_pool(iovad, cpu);
		if (ret)
			return ret;
	}
	return 0;
}
EXPORT_SYMBOL_IF_KUNIT(iova_validate);
#endif

/* --- test hooks ------------------------------------------------------------ */

/**
 * iova_domain_set_merge - turn coalescing of a domain on or off
 * @iovad: domain, right after init_iova_domain()
 * @merge: coalesce abutting fast-path allocations
 *
 * Context: before the domain's first allocation.
 */
void iova_domain_set_merge(struct iova_domain *iovad, bool merge)
{
	iovad->merge = merge;
}
EXPORT_SYMBOL_IF_KUNIT(iova_domain_set_merge);

/**
 * iova_domain_set_pools - give a domain per-CPU pools or not
 * @iovad: domain, right after init_iova_domain()
 * @pools: give each CPU chunks of address space of its own
 *
 * Context: before iova_domain_init_rcaches().
 */
void iova_domain_set_pools(struct iova_domain *iovad, bool pools)
{
	iovad->pools = pools;
}
EXPORT_SYMBOL_IF_KUNIT(iova_domain_set_pools);

/**
 * iova_domain_cpu_dead - run a domain's CPU hotplug teardown for one CPU
 * @iovad: domain with per-CPU caches
 * @cpu: the CPU whose cache and pool are given back
 *
 * Does for @iovad what the CPUHP_IOMMU_IOVA_DEAD callback does once @cpu
 * is dead: its cached ranges and the free space of its pool go back to the
 * trees they came from. Lets a test check that path on a machine with one
 * CPU (UML) or without taking a CPU down.
 *
 * Context: process context; nothing may use @iovad on @cpu meanwhile.
 */
void iova_domain_cpu_dead(struct iova_domain *iovad, unsigned int cpu)
{
	if (iovad->caches && cpu < nr_cpu_ids && cpu_possible(cpu))
		iova_cpuhp_dead(cpu, &iovad->cpuhp_dead);
}
EXPORT_SYMBOL_IF_KUNIT(iova_domain_cpu_dead);

/* Arm @tree's failures: the next @skip node allocations succeed, then @count fail */
static unsigned int iova_tree_inject(struct iova_domain *tree,
				     unsigned int skip, unsigned int count)
{
	unsigned int pending = atomic_xchg(&tree->fail_node_allocs, 0);

	atomic_set(&tree->fail_node_skip, skip);
	atomic_set(&tree->fail_node_allocs, count);
	return pending;
}

static unsigned int iova_inject(struct iova_domain *iovad, unsigned int skip,
				unsigned int count)
{
	unsigned int cpu, pending;

	pending = iova_tree_inject(iovad, skip, count);
	if (iovad->caches)
		for_each_possible_cpu(cpu)
			pending += iova_tree_inject(iova_pool_of(iovad, cpu),
						    skip, count);
	return pending;
}

/**
 * iova_inject_node_failures - make node allocations fail
 * @iovad: domain
 * @count: how many of the domain's next node allocations fail (and of
 *	each of its pools'); 0 stops injecting
 *
 * Context: any context.
 * Return: the failures of the previous injection that have not happened,
 * over the domain's tree and its pools'.
 */
unsigned int iova_inject_node_failures(struct iova_domain *iovad,
				       unsigned int count)
{
	return iova_inject(iovad, 0, count);
}
EXPORT_SYMBOL_IF_KUNIT(iova_inject_node_failures);

/**
 * iova_inject_node_failure_nth - make one node allocation fail
 * @iovad: domain
 * @nth: which of the domain's next node allocations fails, from 1 (and
 *	which of each of its pools')
 *
 * For fault-injection sweeps: for n = 1, 2, ... until no failure happens,
 * run a workload with the n-th node allocation failing, and check that
 * the domain is whole afterwards. iova_inject_node_failures(@iovad, 0)
 * ends the injection and tells whether it happened.
 *
 * Context: any context.
 */
void iova_inject_node_failure_nth(struct iova_domain *iovad, unsigned int nth)
{
	iova_inject(iovad, nth ? nth - 1 : 0, nth ? 1 : 0);
}
EXPORT_SYMBOL_IF_KUNIT(iova_inject_node_failure_nth);

/* --- module-wide setup ------------------------------------------------------ */

/**
 * iova_cache_get - take a reference on the IOVA allocator's global state
 *
 * Creates the node cache, the CPU hotplug state and the debugfs directory
 * on first use.
 *
 * Context: process context, may sleep.
 * Return: 0, or a negative errno.
 */
int iova_cache_get(void)
{
	int err = -ENOMEM;

	mutex_lock(&iova_cache_mutex);
	if (!iova_cache_users) {
		iova_cache = kmem_cache_create("iommu_iova", sizeof(struct iova),
					       0, SLAB_TYPESAFE_BY_RCU, NULL);
		if (!iova_cache)
			goto out_err;

		err = cpuhp_setup_state_multi(CPUHP_IOMMU_IOVA_DEAD,
					      "iommu/iova:dead", NULL,
					      iova_cpuhp_dead);
		if (err) {
			pr_err("couldn't register cpuhp handler: %pe\n",
			       ERR_PTR(err));
			goto out_err;
		}
		iova_debugfs_root = debugfs_create_dir("iova", NULL);
	}

	iova_cache_users++;
	mutex_unlock(&iova_cache_mutex);
	return 0;

out_err:
	kmem_cache_destroy(iova_cache);
	iova_cache = NULL;
	mutex_unlock(&iova_cache_mutex);
	return err;
}
EXPORT_SYMBOL_GPL(iova_cache_get);

/**
 * iova_cache_put - drop a reference taken by iova_cache_get()
 *
 * Context: process context, may sleep.
 */
void iova_cache_put(void)
{
	mutex_lock(&iova_cache_mutex);
	if (WARN_ON(!iova_cache_users)) {
		mutex_unlock(&iova_cache_mutex);
		return;
	}
	iova_cache_users--;
	if (!iova_cache_users) {
		debugfs_remove_recursive(iova_debugfs_root);
		iova_debugfs_root = NULL;
		cpuhp_remove_multi_state(CPUHP_IOMMU_IOVA_DEAD);
		kmem_cache_destroy(iova_cache);
		iova_cache = NULL;
	}
	mutex_unlock(&iova_cache_mutex);
}
EXPORT_SYMBOL_GPL(iova_cache_put);

MODULE_DESCRIPTION("IOMMU I/O virtual address allocator");
MODULE_LICENSE("GPL");
