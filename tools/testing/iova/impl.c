// SPDX-License-Identifier: GPL-2.0
/*
 * One IOVA implementation as one translation unit: the real iova.c (ours
 * from KSRC or stock 6.12 from STOCK, chosen by the Makefile through
 * IOVA_C and the include path of its linux/iova.h) compiled unchanged
 * against iova_shim.h, plus the operations table the harness programs use.
 * The Makefile links each into a relocatable object whose only global
 * symbol is the table, so both live in one binary.
 */
#include IOVA_C

#include "harness.h"

#ifdef HARNESS_WITH_KUNIT
#include "kunit/test.h"
#include IOVA_KUNIT_C
#endif

#define IMPL_TABLE	__PASTE(iova_impl_, HARNESS_IMPL_NAME)
#define __PASTE(a, b)	___PASTE(a, b)
#define ___PASTE(a, b)	a##b

struct hdom {
	struct iova_domain iovad;
	bool rcaches;
};

static int h_cache_get(void)
{
	return iova_cache_get();
}

static void h_cache_put(void)
{
	iova_cache_put();
}

static unsigned long h_rcache_range(void)
{
	return iova_rcache_range();
}

static struct hdom *h_create(unsigned long granule, unsigned long start_pfn,
			     bool rcaches, int merge)
{
	struct hdom *d = calloc(1, sizeof(*d));

	if (!d)
		return NULL;
	init_iova_domain(&d->iovad, granule, start_pfn);
#ifdef HARNESS_OURS_API
	if (merge >= 0)
		iova_domain_set_merge(&d->iovad, merge);
#else
	(void)merge;
#endif
	if (rcaches) {
		if (iova_domain_init_rcaches(&d->iovad)) {
			put_iova_domain(&d->iovad);
			free(d);
			return NULL;
		}
		d->rcaches = true;
	}
	return d;
}

static void h_destroy(struct hdom *d)
{
	put_iova_domain(&d->iovad);
	free(d);
}

static unsigned long h_alloc_fast(struct hdom *d, unsigned long size,
				  unsigned long limit_pfn, bool flush)
{
	return alloc_iova_fast(&d->iovad, size, limit_pfn, flush);
}

static void h_free_fast(struct hdom *d, unsigned long pfn, unsigned long size)
{
	free_iova_fast(&d->iovad, pfn, size);
}

static struct hnode *h_alloc(struct hdom *d, unsigned long size,
			     unsigned long limit_pfn, bool size_aligned)
{
	return (struct hnode *)alloc_iova(&d->iovad, size, limit_pfn, size_aligned);
}

static struct hnode *h_reserve(struct hdom *d, unsigned long lo, unsigned long hi)
{
	return (struct hnode *)reserve_iova(&d->iovad, lo, hi);
}

static struct hnode *h_find(struct hdom *d, unsigned long pfn)
{
	return (struct hnode *)find_iova(&d->iovad, pfn);
}

static void h_free_pfn(struct hdom *d, unsigned long pfn)
{
	free_iova(&d->iovad, pfn);
}

static void h_free_node(struct hdom *d, struct hnode *n)
{
	__free_iova(&d->iovad, (struct iova *)n);
}

static void h_node_range(struct hnode *n, unsigned long *lo, unsigned long *hi)
{
	struct iova *iova = (struct iova *)n;

	*lo = iova->pfn_lo;
	*hi = iova->pfn_hi;
}

static unsigned long *h_node_pfn_hi(struct hnode *n)
{
	return &((struct iova *)n)->pfn_hi;
}

static unsigned long h_granule(struct hdom *d)
{
	return d->iovad.granule;
}

static unsigned long h_start_pfn(struct hdom *d)
{
	return d->iovad.start_pfn;
}

/*
 * Red-black properties of any tree: no red node with a red child, the same
 * number of black nodes on every path, parent pointers consistent. Returns
 * the black height, or -1.
 */
static int rb_check(const struct rb_node *n, const struct rb_node *parent,
		    long *count, long *depth, long level)
{
	int lh, rh;

	if (!n) {
		if (level > *depth)
			*depth = level;
		return 1;
	}
	(*count)++;
	if (rb_parent(n) != parent)
		return -1;
	if (rb_is_red(n) && ((n->rb_left && rb_is_red(n->rb_left)) ||
			     (n->rb_right && rb_is_red(n->rb_right))))
		return -1;
	lh = rb_check(n->rb_left, n, count, depth, level + 1);
	rh = rb_check(n->rb_right, n, count, depth, level + 1);
	if (lh < 0 || rh < 0 || lh != rh)
		return -1;
	return lh + rb_is_black(n);
}

#ifdef HARNESS_OURS_API

static int h_validate(struct hdom *d)
{
	return iova_validate(&d->iovad);
}

static void h_stats(struct hdom *d, struct hstats *s)
{
	struct iova_stats st;

	iova_domain_stats(&d->iovad, &st);
	memset(s, 0, sizeof(*s));
	s->nodes = st.extents;
	s->depth = st.depth;
	s->node_bytes = st.node_bytes;
	s->extents = st.extents;
	s->allocs_live = st.allocs_live;
	s->pages_live = st.pages_live;
	s->merges = st.merges;
	s->splits = st.splits;
	s->cache_hits = st.cache_hits;
	s->cache_misses = st.cache_misses;
	s->cached = st.cached;
	s->cached_pages = st.cached_pages;
	s->banked = st.banked;
	s->lost = st.lost;
}

static void h_fail_nodes(struct hdom *d, bool on)
{
	iova_inject_node_failures(&d->iovad, on ? UINT_MAX : 0);
}

static void h_lock_counts(struct hdom *d, unsigned long *tree, unsigned long *shared)
{
	struct iova_domain *iovad = &d->iovad;

	*tree = iovad->iova_rbtree_lock.acquisitions;
	*shared = *tree;
	if (iovad->depot)
		*shared += iovad->depot->lock.acquisitions;
}

#else /* stock 6.12 */

/*
 * Stock has no validator: check what its design promises. Nodes in address
 * order without overlap, the anchor last, both cached nodes in the tree,
 * and a sound red-black tree.
 */
static int h_validate(struct hdom *d)
{
	struct iova_domain *iovad = &d->iovad;
	struct rb_node *n, *last = NULL;
	bool c32 = false, c = false;
	long count = 0, depth = 0, walked = 0;
	unsigned long flags;
	int ret = 0;

	spin_lock_irqsave(&iovad->iova_rbtree_lock, flags);
	for (n = rb_first(&iovad->rbroot); n; n = rb_next(n)) {
		struct iova *iova = to_iova(n);

		walked++;
		if (iova->pfn_lo > iova->pfn_hi)
			ret = -EINVAL;
		if (last && to_iova(last)->pfn_hi >= iova->pfn_lo)
			ret = -EINVAL;
		if (n == iovad->cached32_node)
			c32 = true;
		if (n == iovad->cached_node)
			c = true;
		last = n;
	}
	if (!last || last != &iovad->anchor.node || !c32 || !c)
		ret = -EINVAL;
	if (rb_check(iovad->rbroot.rb_node, NULL, &count, &depth, 0) < 0 ||
	    count != walked)
		ret = -EINVAL;
	spin_unlock_irqrestore(&iovad->iova_rbtree_lock, flags);
	return ret;
}

static void h_stats(struct hdom *d, struct hstats *s)
{
	struct iova_domain *iovad = &d->iovad;
	unsigned long flags;

	memset(s, 0, sizeof(*s));
	spin_lock_irqsave(&iovad->iova_rbtree_lock, flags);
	rb_check(iovad->rbroot.rb_node, NULL, &s->nodes, &s->depth, 0);
	spin_unlock_irqrestore(&iovad->iova_rbtree_lock, flags);
	s->nodes--;		/* the anchor is embedded in the domain */
	/* what the slab charges per node: iova_cache is SLAB_HWCACHE_ALIGN */
	s->node_bytes = s->nodes * (long)ALIGN(sizeof(struct iova), SMP_CACHE_BYTES);
}

static void h_lock_counts(struct hdom *d, unsigned long *tree, unsigned long *shared)
{
	struct iova_domain *iovad = &d->iovad;

	*tree = iovad->iova_rbtree_lock.acquisitions;
	*shared = *tree;
	if (iovad->rcaches)
		for (int i = 0; i < IOVA_RANGE_CACHE_MAX_SIZE; i++)
			*shared += iovad->rcaches[i].lock.acquisitions;
}

#endif

const struct iova_impl IMPL_TABLE = {
	.name = __stringify(HARNESS_IMPL_NAME),
	.id = HARNESS_IMPL_ID,
#ifdef HARNESS_OURS_API
	.has_stats = true,
	.exact_failure = true,
	.has_merge_switch = true,
	.has_node_fail = true,
	.fail_nodes = h_fail_nodes,
#endif
	.fast_round_max = 31,		/* sizes below 32 round up */
	.cache_get = h_cache_get,
	.cache_put = h_cache_put,
	.rcache_range = h_rcache_range,
	.create = h_create,
	.destroy = h_destroy,
	.alloc_fast = h_alloc_fast,
	.free_fast = h_free_fast,
	.alloc = h_alloc,
	.reserve = h_reserve,
	.find = h_find,
	.free_pfn = h_free_pfn,
	.free_node = h_free_node,
	.node_range = h_node_range,
	.node_pfn_hi = h_node_pfn_hi,
	.granule = h_granule,
	.start_pfn = h_start_pfn,
	.validate = h_validate,
	.stats = h_stats,
	.lock_counts = h_lock_counts,
#ifdef HARNESS_WITH_KUNIT
	.kunit_suites = harness_kunit_suites,
	.nr_kunit_suites = ARRAY_SIZE(harness_kunit_suites),
#endif
};
