// SPDX-License-Identifier: GPL-2.0-only
/*
 * KUnit tests for batched IOTLB invalidation (drivers/iommu/iotlb-batch.c).
 *
 * A fake domain stands in for an IOMMU driver: its iotlb_sync and
 * flush_iotlb_all count and log every invalidation, and its release callback
 * checks that the IOVA it is handed back was covered by an invalidation that
 * began after the unmap. Run with iotlb_batch_kunit.seed=N to repeat the
 * random cases.
 */

#include <kunit/test.h>
#include <linux/delay.h>
#include <linux/kthread.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/prandom.h>
#include <linux/random.h>
#include <linux/scatterlist.h>
#include <linux/slab.h>
#include <linux/sort.h>
#include <linux/vmalloc.h>

#include "../iommu-pages.h"
#include "../iotlb-batch.h"

static u64 seed;
module_param(seed, ullong, 0444);
MODULE_PARM_DESC(seed, "random seed (0: pick one and print it)");

#define PG		4096UL
#define SHIFT		12

struct fake_inv {
	bool all;
	bool tables;
	unsigned long start;
	unsigned long end;
	size_t pgsize;
	u64 seq;	/* taken when the invalidation began */
};

/* One tracked unmap of the ordering tests. */
struct fake_ent {
	u64 seq;		/* taken after the "page-table update" */
	struct page *page;	/* memory the owner drops after the unmap */
	atomic_t released;
};

struct fake_domain {
	struct iotlb_batcher b;
	struct kunit *test;
	bool frees_tables;	/* iotlb_sync frees the freelist, as VT-d */
	spinlock_t lock;
	atomic64_t seq;
	unsigned int nr_sync;
	unsigned int nr_ranges_calls;	/* flush_ranges calls */
	unsigned int ranges_max;	/* most ranges in one of them */
	unsigned int nr_flush_all;
	unsigned int nr_release;
	unsigned int nr_release_calls;
	unsigned long last_release;	/* jiffies */
	unsigned int log_len;
	unsigned int log_cap;
	struct fake_inv *log;
	/* ordering tests */
	unsigned long ent_base;
	unsigned long ent_stride;
	unsigned int nr_ents;
	struct fake_ent *ents;
	atomic_t bad_order;
	/* a page that must still be allocated when an invalidation runs */
	struct page *watch;
	int watch_min_ref;
	bool watch_tables;	/* @watch is a page-table page */
	atomic_t watch_bad;
	/* an unmap that the next flush_iotlb_all makes while it runs */
	unsigned long during_flush_iova;
	/* a domain that the next flush_ranges flushes while it runs */
	struct fake_domain *nest;
	/* where releases run */
	bool check_release;
	unsigned int release_locked;	/* with interrupts off */
	unsigned int release_early;	/* before any invalidation */
};

static struct fake_domain *to_fake(struct iotlb_batcher *b)
{
	return container_of(b, struct fake_domain, b);
}

static void fake_log(struct fake_domain *fd, const struct fake_inv *inv)
{
	unsigned long flags;

	spin_lock_irqsave(&fd->lock, flags);
	if (inv->all)
		fd->nr_flush_all++;
	else
		fd->nr_sync++;
	if (fd->log_len < fd->log_cap)
		fd->log[fd->log_len++] = *inv;
	spin_unlock_irqrestore(&fd->lock, flags);
}

static void fake_check_watch(struct fake_domain *fd)
{
	if (fd->watch && page_ref_count(fd->watch) < fd->watch_min_ref)
		atomic_inc(&fd->watch_bad);
}

/* The ops->iotlb_sync of the fake domain: one page-range invalidation. */
static void fake_iotlb_sync(struct iotlb_batcher *b, unsigned long start,
			    unsigned long end, size_t pgsize,
			    struct list_head *freelist)
{
	struct fake_domain *fd = to_fake(b);
	struct fake_inv inv = {
		.start = start, .end = end, .pgsize = pgsize,
		.tables = !list_empty(freelist),
		.seq = atomic64_inc_return(&fd->seq),
	};

	/* Page-table pages need only live until their range's invalidation. */
	if (inv.tables || !fd->watch_tables)
		fake_check_watch(fd);
	if (fd->frees_tables)
		iommu_put_pages_list(freelist);
	fake_log(fd, &inv);
}

/*
 * The ops->flush_ranges of the fake domain: every range invalidated by one
 * call, which completes once for all of them.
 */
static void fake_iotlb_sync_ranges(struct iotlb_batcher *b,
				   struct iotlb_batch_range *ranges,
				   unsigned int n)
{
	struct fake_domain *fd = to_fake(b);
	struct fake_domain *nest = fd->nest;
	u64 seq = atomic64_inc_return(&fd->seq);
	bool tables = false;
	unsigned long flags;
	unsigned int i;

	/*
	 * Another domain's flush, on this CPU, while this one is in the
	 * driver: what an interrupt does, or on PREEMPT_RT a task preempting
	 * the flush. The two batch locks share a lock class; lockdep would
	 * call their nesting recursion.
	 */
	if (nest) {
		fd->nest = NULL;
		lockdep_off();
		iotlb_batch_flush(&nest->b);
		lockdep_on();
	}
	for (i = 0; i < n; i++)
		tables |= !list_empty(&ranges[i].freelist);
	if (tables || !fd->watch_tables)
		fake_check_watch(fd);
	for (i = 0; i < n; i++) {
		struct fake_inv inv = {
			.start = ranges[i].start, .end = ranges[i].end,
			.pgsize = ranges[i].pgsize,
			.tables = !list_empty(&ranges[i].freelist),
			.seq = seq,
		};

		if (fd->frees_tables)
			iommu_put_pages_list(&ranges[i].freelist);
		fake_log(fd, &inv);
	}
	spin_lock_irqsave(&fd->lock, flags);
	fd->nr_ranges_calls++;
	fd->ranges_max = max(fd->ranges_max, n);
	spin_unlock_irqrestore(&fd->lock, flags);
}

/* The ops->flush_iotlb_all of the fake domain. */
static void fake_flush_iotlb_all(struct iotlb_batcher *b)
{
	struct fake_domain *fd = to_fake(b);
	struct fake_inv inv = {
		.all = true,
		.seq = atomic64_inc_return(&fd->seq),
	};

	fake_check_watch(fd);
	fake_log(fd, &inv);
	if (fd->during_flush_iova) {
		unsigned long iova = fd->during_flush_iova;
		struct iotlb_batch_unmap u = {
			.iova = iova, .size = PG,
			.start = iova, .end = iova + PG - 1, .pgsize = PG,
		};

		fd->during_flush_iova = 0;
		fd->ents[(iova - fd->ent_base) / fd->ent_stride].seq =
			atomic64_inc_return(&fd->seq);
		KUNIT_EXPECT_EQ(fd->test, iotlb_batch_unmap(b, &u), 0);
	}
}

static bool fake_covered(struct fake_domain *fd, unsigned long iova,
			 size_t size, u64 seq)
{
	unsigned long last = iova + size - 1;
	unsigned int i;

	for (i = 0; i < fd->log_len; i++) {
		const struct fake_inv *inv = &fd->log[i];

		if (inv->seq <= seq)
			continue;
		if (inv->all || (inv->start <= iova && inv->end >= last))
			return true;
	}
	return false;
}

static void fake_release_one(struct fake_domain *fd, unsigned long iova,
			     size_t size)
{
	fd->nr_release++;
	if (fd->ents && iova >= fd->ent_base) {
		unsigned long idx = (iova - fd->ent_base) / fd->ent_stride;

		if (idx >= fd->nr_ents ||
		    !fake_covered(fd, iova, size, fd->ents[idx].seq) ||
		    atomic_xchg(&fd->ents[idx].released, 1))
			atomic_inc(&fd->bad_order);
	}
}

static void fake_release(struct iotlb_batcher *b,
			 const struct iotlb_batch_ent *ents, unsigned int n)
{
	struct fake_domain *fd = to_fake(b);
	unsigned long flags;
	unsigned int i;

	if (fd->check_release) {
		int cpu;

		if (irqs_disabled())
			fd->release_locked++;
		for_each_possible_cpu(cpu)
			lockdep_assert_not_held(&per_cpu_ptr(b->cpu, cpu)->lock);
		if (!fd->nr_sync && !fd->nr_flush_all)
			fd->release_early++;
		/* the memory is held until after the IOVAs went back */
		fake_check_watch(fd);
	}
	spin_lock_irqsave(&fd->lock, flags);
	fd->nr_release_calls++;
	fd->last_release = jiffies;
	for (i = 0; i < n; i++)
		fake_release_one(fd, ents[i].iova, ents[i].size);
	spin_unlock_irqrestore(&fd->lock, flags);
}

static const struct iotlb_batch_ops fake_ops = {
	.flush_range	= fake_iotlb_sync,
	.flush_all	= fake_flush_iotlb_all,
	.release	= fake_release,
};

/* A domain whose driver invalidates several ranges behind one wait. */
static const struct iotlb_batch_ops fake_ranges_ops = {
	.flush_range	= fake_iotlb_sync,
	.flush_ranges	= fake_iotlb_sync_ranges,
	.flush_all	= fake_flush_iotlb_all,
	.release	= fake_release,
};

static const struct iotlb_batch_params test_params = {
	.max_ranges	= 4,
	.max_pages	= 64,
	.depth		= 16,
	.timeout_ms	= 10000,
};

static void fake_destroy(void *data)
{
	struct fake_domain *fd = data;

	iotlb_batcher_destroy(&fd->b);
	kvfree(fd->log);
}

static struct fake_domain *
fake_domain_new_ops(struct kunit *test, const struct iotlb_batch_params *p,
		    const struct iotlb_batch_ops *ops)
{
	struct fake_domain *fd;

	fd = kunit_kzalloc(test, sizeof(*fd), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, fd);
	fd->test = test;
	spin_lock_init(&fd->lock);
	fd->log_cap = 16384;
	fd->log = kvcalloc(fd->log_cap, sizeof(*fd->log), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, fd->log);
	KUNIT_ASSERT_EQ(test, iotlb_batcher_init(&fd->b, ops, p, SHIFT), 0);
	/* It invalidates any range: the cases give the ranges themselves. */
	iotlb_batcher_set_range_sync(&fd->b, PG);
	KUNIT_ASSERT_EQ(test, kunit_add_action_or_reset(test, fake_destroy, fd),
			0);
	return fd;
}

static struct fake_domain *fake_domain_new(struct kunit *test,
					   const struct iotlb_batch_params *p)
{
	return fake_domain_new_ops(test, p, &fake_ops);
}

/* Unmap [iova, iova + size) with nothing to hold; return the batcher's answer. */
static int fake_unmap(struct fake_domain *fd, unsigned long iova, size_t size,
		      size_t pgsize)
{
	struct iotlb_batch_unmap u = {
		.iova = iova, .size = size,
		.start = iova, .end = iova + size - 1, .pgsize = pgsize,
	};

	return iotlb_batch_unmap(&fd->b, &u);
}

static int cmp_inv(const void *a, const void *b)
{
	const struct fake_inv *x = a, *y = b;

	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	return 0;
}

/* ---- policy ------------------------------------------------------------ */

struct decide_case {
	const char *name;
	unsigned int ranges;
	unsigned long pages;
	bool unknown;
	unsigned int elsewhere;
	enum iotlb_batch_decision want;
};

/* test_params: max_ranges 4, max_pages 64, depth 16 (half a batch: 8) */
static const struct decide_case decide_cases[] = {
	{ "1 range 1 page", 1, 1, false, 0, IOTLB_BATCH_RANGES },
	{ "ranges max-1", 3, 10, false, 0, IOTLB_BATCH_RANGES },
	{ "ranges at max", 4, 10, false, 0, IOTLB_BATCH_RANGES },
	{ "ranges max+1", 5, 10, false, 0, IOTLB_BATCH_FULL_RANGES },
	{ "pages max-1", 1, 63, false, 0, IOTLB_BATCH_RANGES },
	{ "pages at max", 1, 64, false, 0, IOTLB_BATCH_RANGES },
	{ "pages max+1", 1, 65, false, 0, IOTLB_BATCH_FULL_PAGES },
	{ "both over: ranges reported", 5, 65, false, 0,
	  IOTLB_BATCH_FULL_RANGES },
	{ "both at max", 4, 64, false, 0, IOTLB_BATCH_RANGES },
	{ "unknown range", 1, 1, true, 0, IOTLB_BATCH_FULL_UNKNOWN },
	{ "unknown beats ranges", 5, 1, true, 0, IOTLB_BATCH_FULL_UNKNOWN },
	{ "elsewhere 1", 1, 1, false, 1, IOTLB_BATCH_RANGES },
	{ "elsewhere half-1", 1, 1, false, 7, IOTLB_BATCH_RANGES },
	{ "elsewhere half", 1, 1, false, 8, IOTLB_BATCH_FULL_SHARED },
	{ "elsewhere half+1", 4, 64, false, 9, IOTLB_BATCH_FULL_SHARED },
	{ "elsewhere full", 1, 1, false, 16, IOTLB_BATCH_FULL_SHARED },
	{ "ranges beat elsewhere", 5, 1, false, 16, IOTLB_BATCH_FULL_RANGES },
	{ "pages beat elsewhere", 1, 65, false, 16, IOTLB_BATCH_FULL_PAGES },
	{ "unknown beats elsewhere", 1, 1, true, 16,
	  IOTLB_BATCH_FULL_UNKNOWN },
};

KUNIT_ARRAY_PARAM_DESC(decide, decide_cases, name);

/* The policy of a driver that declared no cost. */
static enum iotlb_batch_decision decide(const struct iotlb_batch_params *p,
					unsigned int ranges,
					unsigned long pages, bool unknown,
					unsigned int elsewhere)
{
	static const struct iotlb_batch_cost c = {
		.kind = IOTLB_BATCH_COST_RANGE,
	};
	struct iotlb_batch_shape s = {
		.nr_ranges = ranges,
		.pages = pages,
		.cmds = ranges,
		.unknown = unknown,
		.elsewhere = elsewhere,
	};

	return iotlb_batch_decide(p, &c, &s);
}

static void iotlb_batch_test_decide(struct kunit *test)
{
	const struct decide_case *c = test->param_value;

	KUNIT_EXPECT_EQ(test, decide(&test_params, c->ranges, c->pages,
				     c->unknown, c->elsewhere),
			c->want);
}

static void iotlb_batch_test_decide_zero(struct kunit *test)
{
	struct iotlb_batch_params p = test_params;

	/* max_ranges 0: every batch is one full flush, as the flush queue. */
	p.max_ranges = 0;
	KUNIT_EXPECT_EQ(test, decide(&p, 1, 1, false, 0),
			IOTLB_BATCH_FULL_RANGES);
	p = test_params;
	p.max_pages = 0;
	KUNIT_EXPECT_EQ(test, decide(&p, 1, 1, false, 0),
			IOTLB_BATCH_FULL_PAGES);
	/* depth 1: any unmap waiting elsewhere is half a batch; none is not. */
	p = test_params;
	p.depth = 1;
	KUNIT_EXPECT_EQ(test, decide(&p, 1, 1, false, 0),
			IOTLB_BATCH_RANGES);
	KUNIT_EXPECT_EQ(test, decide(&p, 1, 1, false, 1),
			IOTLB_BATCH_FULL_SHARED);
	/* An odd depth rounds half a batch up. */
	p.depth = 15;
	KUNIT_EXPECT_EQ(test, decide(&p, 1, 1, false, 7),
			IOTLB_BATCH_RANGES);
	KUNIT_EXPECT_EQ(test, decide(&p, 1, 1, false, 8),
			IOTLB_BATCH_FULL_SHARED);
}

/* The policy per declared cost (test_params: max_pages 64, depth 16). */
static void iotlb_batch_test_decide_cost(struct kunit *test)
{
	struct iotlb_batch_params p = test_params;
	struct iotlb_batch_cost c = { .kind = IOTLB_BATCH_COST_PER_PAGE };
	struct iotlb_batch_shape s = { .nr_ranges = 1, .pages = 1 };

	/* Per page: promoted by commands beyond min(max_pages, 16). */
	s.cmds = IOTLB_BATCH_MAX_PAGE_CMDS;
	s.pages = 512 * IOTLB_BATCH_MAX_PAGE_CMDS;	/* 2 MiB leaves */
	KUNIT_EXPECT_EQ(test, iotlb_batch_decide(&p, &c, &s),
			IOTLB_BATCH_RANGES);
	s.cmds++;
	KUNIT_EXPECT_EQ(test, iotlb_batch_decide(&p, &c, &s),
			IOTLB_BATCH_FULL_CMDS);
	p.max_pages = 8;
	s.cmds = 9;
	s.pages = 9;
	KUNIT_EXPECT_EQ(test, iotlb_batch_decide(&p, &c, &s),
			IOTLB_BATCH_FULL_CMDS);
	p = test_params;

	/* One command per range: never promoted by size. */
	c.kind = IOTLB_BATCH_COST_ONE;
	s = (struct iotlb_batch_shape) { .nr_ranges = 1, .pages = 1UL << 30,
					 .cmds = 1 };
	KUNIT_EXPECT_EQ(test, iotlb_batch_decide(&p, &c, &s),
			IOTLB_BATCH_RANGES);
	c.kind = IOTLB_BATCH_COST_POW2;
	KUNIT_EXPECT_EQ(test, iotlb_batch_decide(&p, &c, &s),
			IOTLB_BATCH_RANGES);
	/* but still for ranges, unknown ranges and the other CPUs */
	s.nr_ranges = p.max_ranges + 1;
	KUNIT_EXPECT_EQ(test, iotlb_batch_decide(&p, &c, &s),
			IOTLB_BATCH_FULL_RANGES);
	s.nr_ranges = 1;
	s.elsewhere = p.depth / 2;
	KUNIT_EXPECT_EQ(test, iotlb_batch_decide(&p, &c, &s),
			IOTLB_BATCH_FULL_SHARED);
	s.elsewhere = 0;
	s.unknown = true;
	KUNIT_EXPECT_EQ(test, iotlb_batch_decide(&p, &c, &s),
			IOTLB_BATCH_FULL_UNKNOWN);
	s.unknown = false;

	/* A range the driver widens is a full flush, whatever else. */
	s.wide = true;
	KUNIT_EXPECT_EQ(test, iotlb_batch_decide(&p, &c, &s),
			IOTLB_BATCH_FULL_WIDE);
	c.kind = IOTLB_BATCH_COST_RANGE;
	s.pages = 1;
	KUNIT_EXPECT_EQ(test, iotlb_batch_decide(&p, &c, &s),
			IOTLB_BATCH_FULL_WIDE);
}

/*
 * The batcher computes the commands and the widening: per page of the
 * range's leaf size, and the aligned block of a POW2 driver against its
 * largest mask. An unknown kind is refused and the old cost kept.
 */
static void iotlb_batch_test_set_cost(struct kunit *test)
{
	struct fake_domain *fd = fake_domain_new(test, &test_params);
	struct iotlb_batch_cost c = { .kind = IOTLB_BATCH_COST_POW2,
				      .max_order = 2 };
	struct iotlb_batch_stats st0, st1;

	iotlb_batcher_set_range_sync(&fd->b, PG | (PG << 9));
	iotlb_batcher_set_cost(&fd->b, &c);
	KUNIT_EXPECT_EQ(test, fd->b.cost.kind, IOTLB_BATCH_COST_POW2);
	c.kind = 99;
	iotlb_batcher_set_cost(&fd->b, &c);
	KUNIT_EXPECT_EQ(test, fd->b.cost.kind, IOTLB_BATCH_COST_POW2);

	/* pages 3..4: an aligned block of 2^3 pages, wider than 2^2 */
	iotlb_batch_read_stats(&st0);
	fake_unmap(fd, 3 * PG, 2 * PG, PG);
	iotlb_batch_flush(&fd->b);
	/* pages 4..7: a block of 2^2, invalidated by range */
	fake_unmap(fd, 4 * PG, 4 * PG, PG);
	iotlb_batch_flush(&fd->b);
	iotlb_batch_read_stats(&st1);
	KUNIT_EXPECT_EQ(test, st1.decision[IOTLB_BATCH_FULL_WIDE] -
			st0.decision[IOTLB_BATCH_FULL_WIDE], 1);
	KUNIT_EXPECT_EQ(test, fd->nr_flush_all, 1);
	KUNIT_EXPECT_EQ(test, fd->nr_sync, 1);
}

struct param_case {
	const char *name;
	const char *str;
	int ret;
	unsigned int val;
};

/* Parsed with min 1, max 100, previous value 7. */
static const struct param_case param_cases[] = {
	{ "plain", "42", 0, 42 },
	{ "at min", "1", 0, 1 },
	{ "at max", "100", 0, 100 },
	{ "hex", "0x10", 0, 16 },
	{ "below min", "0", -EINVAL, 7 },
	{ "above max", "101", -EINVAL, 7 },
	{ "negative", "-1", -EINVAL, 7 },
	{ "garbage", "lots", -EINVAL, 7 },
	{ "trailing junk", "12ms", -EINVAL, 7 },
	{ "empty", "", -EINVAL, 7 },
	{ "missing", NULL, -EINVAL, 7 },
};

KUNIT_ARRAY_PARAM_DESC(param, param_cases, name);

static void iotlb_batch_test_param(struct kunit *test)
{
	const struct param_case *c = test->param_value;
	unsigned int v = 7;

	KUNIT_EXPECT_EQ(test, iotlb_batch_parse_param("iommu.batch_test",
						      c->str, 1, 100, &v),
			c->ret);
	KUNIT_EXPECT_EQ(test, v, c->val);
}

static void iotlb_batch_test_init_rejects(struct kunit *test)
{
	struct iotlb_batch_params p = test_params;
	struct iotlb_batcher b = {};

	p.depth = 0;
	KUNIT_EXPECT_EQ(test, iotlb_batcher_init(&b, &fake_ops, &p, SHIFT),
			-EINVAL);
	p = test_params;
	p.timeout_ms = 0;
	KUNIT_EXPECT_EQ(test, iotlb_batcher_init(&b, &fake_ops, &p, SHIFT),
			-EINVAL);
	p = test_params;
	p.max_ranges = 65;
	KUNIT_EXPECT_EQ(test, iotlb_batcher_init(&b, &fake_ops, &p, SHIFT),
			-EINVAL);
	KUNIT_EXPECT_EQ(test, iotlb_batcher_init(&b, &fake_ops, &test_params,
						 BITS_PER_LONG), -EINVAL);
}

/* ---- merging ----------------------------------------------------------- */

struct merge_in {
	unsigned long start;	/* in pages */
	unsigned long npages;
	size_t pgsize;
};

struct merge_case {
	const char *name;
	unsigned int nr_in;
	struct merge_in in[6];
	unsigned int nr_out;	/* 0: expect one full flush */
	struct merge_in out[6];	/* sorted by start */
	unsigned int merged;
	unsigned int coalesced;
};

#define M(s, n)		{ (s), (n), PG }
#define MP(s, n, p)	{ (s), (n), (p) }

static const struct merge_case merge_cases[] = {
	{ "abutting ascending", 3, { M(10, 1), M(11, 1), M(12, 2) },
	  1, { M(10, 4) }, 2 },
	{ "abutting descending", 3, { M(12, 1), M(11, 1), M(10, 1) },
	  1, { M(10, 3) }, 2 },
	{ "overlapping", 2, { M(10, 4), M(12, 4) }, 1, { M(10, 6) }, 1 },
	{ "contained", 2, { M(10, 8), M(12, 2) }, 1, { M(10, 8) }, 1 },
	{ "bridge joins two", 3, { M(10, 2), M(14, 2), M(12, 2) },
	  1, { M(10, 6) }, 2 },
	{ "one-page gap stays apart", 2, { M(10, 1), M(12, 1) },
	  2, { M(10, 1), M(12, 1) }, 0 },
	{ "other leaf size stays apart", 2, { M(0, 16), MP(16, 16, 16 * PG) },
	  2, { M(0, 16), MP(16, 16, 16 * PG) }, 0 },
	{ "at max ranges", 4, { M(0, 1), M(2, 1), M(4, 1), M(6, 1) },
	  4, { M(0, 1), M(2, 1), M(4, 1), M(6, 1) }, 0 },
	{ "one over max ranges coalesces", 5, { M(0, 1), M(2, 1), M(4, 1),
	  M(6, 1), M(8, 1) }, 4, { M(0, 3), M(4, 1), M(6, 1), M(8, 1) }, 0, 1 },
	{ "coalesce the closest pair", 5, { M(0, 1), M(10, 1), M(12, 1),
	  M(30, 1), M(50, 1) }, 4, { M(0, 1), M(10, 3), M(30, 1), M(50, 1) },
	  0, 1 },
	{ "coalesce with the new range", 5, { M(0, 1), M(100, 1), M(200, 1),
	  M(300, 1), M(302, 1) }, 4, { M(0, 1), M(100, 1), M(200, 1),
	  M(300, 3) }, 0, 1 },
	{ "coalescing skips other leaf sizes", 5, { M(0, 1), M(30, 1),
	  M(60, 1), MP(62, 2, 2 * PG), M(65, 1) }, 4, { M(0, 1), M(30, 1),
	  M(60, 6), MP(62, 2, 2 * PG) }, 0, 1 },
	{ "coalescing past max pages promotes", 5, { M(0, 1), M(1000, 1),
	  M(2000, 1), M(3000, 1), M(4000, 1) }, 0, {}, 0, 0 },
	{ "merging keeps under max", 6, { M(0, 1), M(2, 1), M(4, 1), M(6, 1),
	  M(1, 1), M(8, 1) }, 4, { M(0, 3), M(4, 1), M(6, 1), M(8, 1) }, 2 },
	{ "pages at max", 2, { M(0, 32), M(100, 32) },
	  2, { M(0, 32), M(100, 32) }, 0 },
	{ "pages over max", 2, { M(0, 32), M(100, 33) }, 0, {}, 0 },
	{ "overlap counts pages once", 2, { M(0, 60), M(4, 60) },
	  1, { M(0, 64) }, 1 },
	{ "overlap over max", 2, { M(0, 60), M(5, 60) }, 0, {}, 1 },
	{ "overlap under max", 2, { M(0, 40), M(4, 40) },
	  1, { M(0, 44) }, 1 },
};

KUNIT_ARRAY_PARAM_DESC(merge, merge_cases, name);

static void iotlb_batch_test_merge(struct kunit *test)
{
	const struct merge_case *c = test->param_value;
	struct iotlb_batch_stats st0, st1;
	struct fake_domain *fd;
	unsigned int i;

	fd = fake_domain_new(test, &test_params);
	iotlb_batch_read_stats(&st0);
	for (i = 0; i < c->nr_in; i++)
		KUNIT_EXPECT_EQ(test, fake_unmap(fd, c->in[i].start * PG,
						 c->in[i].npages * PG,
						 c->in[i].pgsize), 0);
	KUNIT_EXPECT_EQ(test, fd->nr_sync + fd->nr_flush_all, 0);
	iotlb_batch_flush(&fd->b);
	iotlb_batch_read_stats(&st1);

	KUNIT_EXPECT_EQ(test, fd->nr_release, c->nr_in);
	KUNIT_EXPECT_EQ(test, st1.merged - st0.merged, c->merged);
	KUNIT_EXPECT_EQ(test, st1.coalesced - st0.coalesced, c->coalesced);
	if (!c->nr_out) {
		KUNIT_EXPECT_EQ(test, fd->nr_flush_all, 1);
		KUNIT_EXPECT_EQ(test, fd->nr_sync, 0);
		return;
	}
	KUNIT_EXPECT_EQ(test, fd->nr_flush_all, 0);
	KUNIT_ASSERT_EQ(test, fd->nr_sync, c->nr_out);
	sort(fd->log, fd->log_len, sizeof(*fd->log), cmp_inv, NULL);
	for (i = 0; i < c->nr_out; i++) {
		KUNIT_EXPECT_EQ(test, fd->log[i].start, c->out[i].start * PG);
		KUNIT_EXPECT_EQ(test, fd->log[i].end,
				(c->out[i].start + c->out[i].npages) * PG - 1);
		KUNIT_EXPECT_EQ(test, fd->log[i].pgsize, c->out[i].pgsize);
	}
}

static void iotlb_batch_test_merge_edges(struct kunit *test)
{
	struct fake_domain *fd = fake_domain_new(test, &test_params);

	/* The top of the address space must not wrap into "abutting 0". */
	fake_unmap(fd, ULONG_MAX - PG + 1, PG, PG);
	fake_unmap(fd, 0, PG, PG);
	iotlb_batch_flush(&fd->b);
	KUNIT_EXPECT_EQ(test, fd->nr_sync, 2);

	fake_unmap(fd, ULONG_MAX - 2 * PG + 1, PG, PG);
	fake_unmap(fd, ULONG_MAX - PG + 1, PG, PG);
	iotlb_batch_flush(&fd->b);
	KUNIT_EXPECT_EQ(test, fd->nr_sync, 3);
	KUNIT_EXPECT_EQ(test, fd->log[2].start, ULONG_MAX - 2 * PG + 1);
	KUNIT_EXPECT_EQ(test, fd->log[2].end, ULONG_MAX);
}

/* ---- thresholds through the batcher ------------------------------------ */

static void iotlb_batch_test_depth(struct kunit *test)
{
	struct fake_domain *fd = fake_domain_new(test, &test_params);
	struct iotlb_batch_stats st0, st1;
	unsigned int i;

	iotlb_batch_read_stats(&st0);
	for (i = 0; i < test_params.depth - 1; i++)
		fake_unmap(fd, i * PG, PG, PG);
	KUNIT_EXPECT_EQ(test, fd->nr_sync + fd->nr_flush_all, 0);
	KUNIT_EXPECT_EQ(test, fd->nr_release, 0);

	/* The unmap that fills the batch flushes it: one merged range. */
	fake_unmap(fd, i * PG, PG, PG);
	KUNIT_EXPECT_EQ(test, fd->nr_sync, 1);
	KUNIT_EXPECT_EQ(test, fd->nr_flush_all, 0);
	KUNIT_EXPECT_EQ(test, fd->nr_release, test_params.depth);
	/* Handed back in one call. */
	KUNIT_EXPECT_EQ(test, fd->nr_release_calls, 1);
	KUNIT_EXPECT_EQ(test, fd->log[0].start, 0);
	KUNIT_EXPECT_EQ(test, fd->log[0].end, test_params.depth * PG - 1);

	/* The next one starts a fresh batch. */
	fake_unmap(fd, 1000 * PG, PG, PG);
	KUNIT_EXPECT_EQ(test, fd->nr_release, test_params.depth);
	iotlb_batch_read_stats(&st1);
	KUNIT_EXPECT_EQ(test, st1.trigger[IOTLB_BATCH_TRIG_DEPTH] -
			st0.trigger[IOTLB_BATCH_TRIG_DEPTH], 1);
	KUNIT_EXPECT_EQ(test, st1.hist[4] - st0.hist[4], 1);	/* 16 unmaps */
	KUNIT_EXPECT_EQ(test, st1.merged - st0.merged, test_params.depth - 1);
}

static void iotlb_batch_test_depth_one(struct kunit *test)
{
	struct iotlb_batch_params p = test_params;
	struct fake_domain *fd;

	p.depth = 1;
	fd = fake_domain_new(test, &p);
	KUNIT_EXPECT_EQ(test, fake_unmap(fd, 0, PG, PG), 0);
	KUNIT_EXPECT_EQ(test, fd->nr_sync, 1);
	KUNIT_EXPECT_EQ(test, fd->nr_release, 1);
}

static void iotlb_batch_test_unknown_range(struct kunit *test)
{
	struct fake_domain *fd = fake_domain_new(test, &test_params);
	struct iotlb_batch_unmap u = {
		.iova = 50 * PG, .size = PG, .start = 1, .end = 0,
	};

	fake_unmap(fd, 0, PG, PG);
	KUNIT_EXPECT_EQ(test, iotlb_batch_unmap(&fd->b, &u), 0);
	fake_unmap(fd, 2 * PG, PG, PG);
	iotlb_batch_flush(&fd->b);
	KUNIT_EXPECT_EQ(test, fd->nr_sync, 0);
	KUNIT_EXPECT_EQ(test, fd->nr_flush_all, 1);
	KUNIT_EXPECT_EQ(test, fd->nr_release, 3);
}

static void iotlb_batch_test_timeout(struct kunit *test)
{
	struct iotlb_batch_params p = test_params;
	struct iotlb_batch_stats st0, st1;
	struct fake_domain *fd;
	int i;

	p.timeout_ms = 20;
	fd = fake_domain_new(test, &p);
	iotlb_batch_read_stats(&st0);
	fake_unmap(fd, 0, PG, PG);
	KUNIT_EXPECT_EQ(test, fd->nr_release, 0);
	for (i = 0; i < 100 && !READ_ONCE(fd->nr_release); i++)
		msleep(20);
	KUNIT_EXPECT_EQ(test, fd->nr_sync, 1);
	KUNIT_EXPECT_EQ(test, fd->nr_release, 1);
	iotlb_batch_read_stats(&st1);
	KUNIT_EXPECT_EQ(test, st1.trigger[IOTLB_BATCH_TRIG_TIMER] -
			st0.trigger[IOTLB_BATCH_TRIG_TIMER], 1);

	/* The timer re-arms for the next unmap. */
	fake_unmap(fd, 8 * PG, PG, PG);
	for (i = 0; i < 100 && READ_ONCE(fd->nr_release) < 2; i++)
		msleep(20);
	KUNIT_EXPECT_EQ(test, fd->nr_release, 2);
}

/*
 * The timer flushes a batch only once its first unmap is timeout_ms old:
 * an unmap into a batch emptied since the timer was armed waits its own
 * full timeout, however soon the timer fires.
 */
static void iotlb_batch_test_timeout_age(struct kunit *test)
{
	struct iotlb_batch_params p = test_params;
	struct iotlb_batch_stats st0, st1;
	struct fake_domain *fd;
	unsigned long t, tmo;
	int i;

	p.timeout_ms = 200;
	tmo = msecs_to_jiffies(p.timeout_ms);
	fd = fake_domain_new(test, &p);
	iotlb_batch_read_stats(&st0);
	/* Arms the timer, for about 200 ms from now. */
	fake_unmap(fd, 0, PG, PG);
	msleep(100);
	iotlb_batch_flush(&fd->b);
	KUNIT_EXPECT_EQ(test, fd->nr_release, 1);

	/* Half-way through: this one must still wait 200 ms. */
	t = jiffies;
	fake_unmap(fd, 8 * PG, PG, PG);
	for (i = 0; i < 200 && READ_ONCE(fd->nr_release) < 2; i++)
		msleep(20);
	KUNIT_ASSERT_EQ(test, fd->nr_release, 2);
	KUNIT_EXPECT_GE_MSG(test, (long)(fd->last_release - t), (long)tmo,
			    "released after %ld of %lu jiffies",
			    (long)(fd->last_release - t), tmo);
	iotlb_batch_read_stats(&st1);
	KUNIT_EXPECT_GE(test, st1.trigger[IOTLB_BATCH_TRIG_TIMER] -
			st0.trigger[IOTLB_BATCH_TRIG_TIMER], 1);
}

static void iotlb_batch_test_sync_policy(struct kunit *test)
{
	struct fake_domain *fd = fake_domain_new(test, &test_params);
	struct iotlb_batch_unmap u = {
		.iova = 0, .size = 64 * PG, .start = 0, .end = 64 * PG - 1,
		.pgsize = PG, .sync = true,
	};
	struct iotlb_batch_stats st0, st1;

	iotlb_batch_read_stats(&st0);
	/* At max_pages an immediate invalidation is a range... */
	KUNIT_EXPECT_EQ(test, iotlb_batch_unmap(&fd->b, &u), 1);
	KUNIT_EXPECT_EQ(test, fd->nr_sync, 1);
	KUNIT_EXPECT_EQ(test, fd->nr_release, 1);
	/* ...one page more and it is promoted. */
	u.iova = 128 * PG;
	u.start = u.iova;
	u.size = 65 * PG;
	u.end = u.start + u.size - 1;
	KUNIT_EXPECT_EQ(test, iotlb_batch_unmap(&fd->b, &u), 1);
	KUNIT_EXPECT_EQ(test, fd->nr_sync, 1);
	KUNIT_EXPECT_EQ(test, fd->nr_flush_all, 1);
	KUNIT_EXPECT_EQ(test, fd->nr_release, 2);
	iotlb_batch_read_stats(&st1);
	KUNIT_EXPECT_EQ(test, st1.sync[IOTLB_BATCH_SYNC_CALLER] -
			st0.sync[IOTLB_BATCH_SYNC_CALLER], 2);
	KUNIT_EXPECT_EQ(test, st1.inv_range - st0.inv_range, 1);
	KUNIT_EXPECT_EQ(test, st1.inv_full - st0.inv_full, 1);
}

/* A full flush done for one unmap also releases what was queued before. */
static void iotlb_batch_test_covered(struct kunit *test)
{
	struct fake_domain *fd = fake_domain_new(test, &test_params);
	struct iotlb_batch_unmap u = {
		.iova = 500 * PG, .size = PG, .start = 1, .end = 0, .sync = true,
	};
	struct iotlb_batch_stats st0, st1;

	iotlb_batch_read_stats(&st0);
	fake_unmap(fd, 0, PG, PG);
	fake_unmap(fd, 10 * PG, PG, PG);
	KUNIT_EXPECT_EQ(test, iotlb_batch_unmap(&fd->b, &u), 1);
	KUNIT_EXPECT_EQ(test, fd->nr_flush_all, 1);
	KUNIT_EXPECT_EQ(test, fd->nr_release, 1);
	/* The next unmap finds the batch covered and releases it first. */
	fake_unmap(fd, 20 * PG, PG, PG);
	KUNIT_EXPECT_EQ(test, fd->nr_release, 3);
	iotlb_batch_flush(&fd->b);
	KUNIT_EXPECT_EQ(test, fd->nr_release, 4);
	KUNIT_EXPECT_EQ(test, fd->nr_sync, 1);
	KUNIT_EXPECT_EQ(test, fd->nr_flush_all, 1);
	iotlb_batch_read_stats(&st1);
	KUNIT_EXPECT_EQ(test, st1.trigger[IOTLB_BATCH_TRIG_COVERED] -
			st0.trigger[IOTLB_BATCH_TRIG_COVERED], 1);
}

/*
 * A flush counts the unmaps waiting in other CPUs' batches only on the CPUs
 * whose batch holds some (and at most IOTLB_BATCH_SCAN_CPUS of them): the
 * mask follows the batch, set by the unmap that finds it empty, cleared
 * when a flush, a depth flush or a covering full flush empties it. UML runs
 * one CPU, so the scan is also run as from no CPU at all (nr_cpu_ids),
 * which makes this CPU's batch one of the others.
 */
static void iotlb_batch_test_pending_mask(struct kunit *test)
{
	struct fake_domain *fd = fake_domain_new(test, &test_params);
	struct iotlb_batch_unmap u = {
		.iova = 500 * PG, .size = PG, .start = 1, .end = 0, .sync = true,
	};
	unsigned int cpu, i, none = nr_cpu_ids;

	KUNIT_EXPECT_TRUE(test, cpumask_empty(fd->b.pending));
	/* This CPU's batch, this CPU's bit. */
	migrate_disable();
	cpu = smp_processor_id();
	fake_unmap(fd, 0, PG, PG);
	fake_unmap(fd, 10 * PG, PG, PG);
	KUNIT_EXPECT_TRUE(test, cpumask_test_cpu(cpu, fd->b.pending));
	KUNIT_EXPECT_EQ(test, cpumask_weight(fd->b.pending), 1);
	KUNIT_EXPECT_EQ(test, iotlb_batch_pending_elsewhere(&fd->b, none, 16),
			2);
	KUNIT_EXPECT_EQ(test, iotlb_batch_pending_elsewhere(&fd->b, cpu, 16),
			0);
	iotlb_batch_flush(&fd->b);
	KUNIT_EXPECT_TRUE(test, cpumask_empty(fd->b.pending));
	KUNIT_EXPECT_EQ(test, iotlb_batch_pending_elsewhere(&fd->b, none, 16),
			0);

	/*
	 * A full flush for an unmap that cannot wait covers the batch: it
	 * counts no more, and the next unmap on the CPU releases it and
	 * starts a new batch.
	 */
	fake_unmap(fd, 0, PG, PG);
	KUNIT_EXPECT_EQ(test, iotlb_batch_unmap(&fd->b, &u), 1);
	KUNIT_EXPECT_EQ(test, fd->nr_flush_all, 1);
	KUNIT_EXPECT_EQ(test, iotlb_batch_pending_elsewhere(&fd->b, none, 16),
			0);
	fake_unmap(fd, 20 * PG, PG, PG);
	KUNIT_EXPECT_EQ(test, fd->nr_release, 4);
	KUNIT_EXPECT_TRUE(test, cpumask_test_cpu(cpu, fd->b.pending));
	KUNIT_EXPECT_EQ(test, iotlb_batch_pending_elsewhere(&fd->b, none, 16),
			1);

	/* The unmap that fills the batch flushes it: the bit goes too. */
	for (i = 1; i < test_params.depth; i++)
		fake_unmap(fd, (100 + 2 * i) * PG, PG, PG);
	migrate_enable();
	KUNIT_EXPECT_EQ(test, fd->nr_release, 4 + test_params.depth);
	KUNIT_EXPECT_TRUE(test, cpumask_empty(fd->b.pending));
}

/* Unmap entry @i of the tracked entries, batched. */
static void fake_unmap_ent(struct fake_domain *fd, unsigned int i)
{
	fd->ents[i].seq = atomic64_inc_return(&fd->seq);
	fake_unmap(fd, fd->ent_base + i * fd->ent_stride, PG, PG);
}

static void iotlb_batch_test_covered_partly(struct kunit *test)
{
	struct fake_domain *fd = fake_domain_new(test, &test_params);
	struct iotlb_batch_unmap u = {
		.iova = 500 * PG, .size = PG, .start = 1, .end = 0, .sync = true,
	};
	struct iotlb_batch_stats st0, st1;
	unsigned int i;

	/* Tracked entries sit above the other unmaps' IOVAs. */
	fd->ent_base = 2000 * PG;
	fd->ent_stride = 10 * PG;
	fd->nr_ents = 5;
	fd->ents = kunit_kcalloc(test, fd->nr_ents, sizeof(*fd->ents),
				 GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, fd->ents);

	iotlb_batch_read_stats(&st0);
	fake_unmap_ent(fd, 0);
	fake_unmap_ent(fd, 1);
	/* A full flush elsewhere, during which this CPU unmaps entry 2. */
	fd->during_flush_iova = fd->ent_base + 2 * fd->ent_stride;
	KUNIT_EXPECT_EQ(test, iotlb_batch_unmap(&fd->b, &u), 1);
	KUNIT_EXPECT_EQ(test, fd->nr_flush_all, 1);
	KUNIT_EXPECT_EQ(test, fd->nr_release, 1);
	/* The next unmap releases 0 and 1, which the flush covered, not 2. */
	fake_unmap_ent(fd, 3);
	KUNIT_EXPECT_EQ(test, fd->nr_release, 3);
	KUNIT_EXPECT_EQ(test, atomic_read(&fd->ents[0].released), 1);
	KUNIT_EXPECT_EQ(test, atomic_read(&fd->ents[1].released), 1);
	KUNIT_EXPECT_EQ(test, atomic_read(&fd->ents[2].released), 0);
	KUNIT_EXPECT_EQ(test, atomic_read(&fd->ents[3].released), 0);
	/* The batch goes on: two unmaps left, the depth counts those. */
	for (i = 0; i < test_params.depth - 3; i++)
		fake_unmap(fd, (1000 + 2 * i) * PG, PG, PG);
	KUNIT_EXPECT_EQ(test, fd->nr_release, 3);
	fake_unmap_ent(fd, 4);
	/* The depth-th unmap flushed the rest, ranges as before. */
	KUNIT_EXPECT_EQ(test, fd->nr_release, 3 + test_params.depth);
	for (i = 0; i < fd->nr_ents; i++)
		KUNIT_EXPECT_EQ(test, atomic_read(&fd->ents[i].released), 1);
	KUNIT_EXPECT_EQ(test, atomic_read(&fd->bad_order), 0);
	iotlb_batch_read_stats(&st1);
	KUNIT_EXPECT_EQ(test, st1.trigger[IOTLB_BATCH_TRIG_COVERED] -
			st0.trigger[IOTLB_BATCH_TRIG_COVERED], 1);
	KUNIT_EXPECT_EQ(test, st1.batched_unmaps - st0.batched_unmaps,
			2 + test_params.depth);
}

static void iotlb_batch_test_destroy(struct kunit *test)
{
	struct fake_domain *fd = kunit_kzalloc(test, sizeof(*fd), GFP_KERNEL);
	struct page *page = alloc_page(GFP_KERNEL);
	struct iotlb_batch_unmap u = {
		.iova = 0, .size = PG, .start = 0, .end = PG - 1, .pgsize = PG,
	};

	KUNIT_ASSERT_NOT_NULL(test, fd);
	KUNIT_ASSERT_NOT_NULL(test, page);
	spin_lock_init(&fd->lock);
	KUNIT_ASSERT_EQ(test, iotlb_batcher_init(&fd->b, &fake_ops,
						 &test_params, SHIFT), 0);
	iotlb_batcher_set_range_sync(&fd->b, PG);
	u.phys = page_to_phys(page);
	u.len = PG;
	KUNIT_EXPECT_EQ(test, iotlb_batch_unmap(&fd->b, &u), 0);
	fake_unmap(fd, 4 * PG, PG, PG);
	KUNIT_EXPECT_EQ(test, page_ref_count(page), 2);
	iotlb_batcher_destroy(&fd->b);
	KUNIT_EXPECT_EQ(test, fd->nr_release, 2);
	KUNIT_EXPECT_EQ(test, fd->nr_sync + fd->nr_flush_all, 0);
	KUNIT_EXPECT_EQ(test, page_ref_count(page), 1);
	__free_page(page);
}

/* ---- memory held until the flush ---------------------------------------- */

static int hold_unmap(struct fake_domain *fd, unsigned long iova,
		      phys_addr_t phys, size_t len)
{
	struct iotlb_batch_unmap u = {
		.iova = iova, .size = PAGE_ALIGN(len),
		.start = iova, .end = iova + PAGE_ALIGN(len) - 1, .pgsize = PG,
		.phys = phys, .len = len,
	};

	return iotlb_batch_unmap(&fd->b, &u);
}

/*
 * A flush releases outside its IRQs-off section: the IOVAs go back, then
 * the folio references are dropped, after the invalidation, with no batch
 * lock held and, for an unmap made with interrupts on, interrupts on.
 */
static void iotlb_batch_test_release_unlocked(struct kunit *test)
{
	struct fake_domain *fd = fake_domain_new(test, &test_params);
	struct page *page = alloc_page(GFP_KERNEL);
	unsigned int i;

	KUNIT_ASSERT_NOT_NULL(test, page);
	fd->check_release = true;
	fd->watch = page;
	fd->watch_min_ref = 2;	/* the owner's and the batch's */
	/* The unmap that fills the batch flushes it, then releases. */
	for (i = 0; i < test_params.depth; i++) {
		struct iotlb_batch_unmap u = {
			.iova = i * 2 * PG, .size = PG,
			.start = i * 2 * PG, .end = i * 2 * PG + PG - 1,
			.pgsize = PG, .phys = page_to_phys(page), .len = PG,
		};

		KUNIT_EXPECT_EQ(test, iotlb_batch_unmap(&fd->b, &u), 0);
	}
	KUNIT_EXPECT_EQ(test, fd->nr_release, test_params.depth);
	KUNIT_EXPECT_EQ(test, page_ref_count(page), 1);
	/* And the explicit flush of every CPU's batch. */
	KUNIT_EXPECT_EQ(test, hold_unmap(fd, 0, page_to_phys(page), PG), 0);
	KUNIT_EXPECT_EQ(test, page_ref_count(page), 2);
	iotlb_batch_flush(&fd->b);
	KUNIT_EXPECT_EQ(test, fd->nr_release, test_params.depth + 1);
	KUNIT_EXPECT_EQ(test, page_ref_count(page), 1);

	KUNIT_EXPECT_EQ(test, fd->release_locked, 0);
	KUNIT_EXPECT_EQ(test, fd->release_early, 0);
	KUNIT_EXPECT_EQ(test, atomic_read(&fd->watch_bad), 0);
	/* The teardown releases under the lock, and may. */
	fd->check_release = false;
	fd->watch = NULL;
	__free_page(page);
}

static void iotlb_batch_test_hold_page(struct kunit *test)
{
	struct fake_domain *fd = fake_domain_new(test, &test_params);
	struct iotlb_batch_stats st0, st1;
	struct page *page = alloc_page(GFP_KERNEL);

	KUNIT_ASSERT_NOT_NULL(test, page);
	iotlb_batch_read_stats(&st0);
	KUNIT_EXPECT_EQ(test, hold_unmap(fd, 0, page_to_phys(page) + 100, 200),
			0);
	KUNIT_EXPECT_EQ(test, page_ref_count(page), 2);
	iotlb_batch_read_stats(&st1);
	KUNIT_EXPECT_EQ(test, st1.held_now - st0.held_now, 1);

	/*
	 * The owner frees the page right after the unmap: the batch's
	 * reference keeps it allocated until the invalidation has run.
	 */
	get_page(page);		/* the test's own, to look at it afterwards */
	put_page(page);		/* the owner's */
	KUNIT_EXPECT_EQ(test, page_ref_count(page), 2);
	fd->watch = page;
	fd->watch_min_ref = 2;
	iotlb_batch_flush(&fd->b);
	KUNIT_EXPECT_EQ(test, atomic_read(&fd->watch_bad), 0);
	KUNIT_EXPECT_EQ(test, fd->nr_sync, 1);
	KUNIT_EXPECT_EQ(test, page_ref_count(page), 1);
	iotlb_batch_read_stats(&st1);
	KUNIT_EXPECT_EQ(test, st1.held_now - st0.held_now, 0);
	fd->watch = NULL;
	put_page(page);
}

static void iotlb_batch_test_hold_compound(struct kunit *test)
{
	struct fake_domain *fd = fake_domain_new(test, &test_params);
	struct iotlb_batch_stats st0, st1;
	struct page *page = alloc_pages(GFP_KERNEL | __GFP_COMP, 2);

	KUNIT_ASSERT_NOT_NULL(test, page);
	iotlb_batch_read_stats(&st0);
	/* Pages 1..3 of a compound folio: one reference on the folio. */
	KUNIT_EXPECT_EQ(test, hold_unmap(fd, 0, page_to_phys(page) + PG,
					 3 * PG), 0);
	KUNIT_EXPECT_EQ(test, folio_ref_count(page_folio(page)), 2);
	iotlb_batch_read_stats(&st1);
	KUNIT_EXPECT_EQ(test, st1.held_now - st0.held_now, 4);
	iotlb_batch_flush(&fd->b);
	KUNIT_EXPECT_EQ(test, folio_ref_count(page_folio(page)), 1);
	__free_pages(page, 2);
}

static void iotlb_batch_test_hold_unref(struct kunit *test)
{
	struct fake_domain *fd = fake_domain_new(test, &test_params);
	struct iotlb_batch_stats st0, st1;
	struct page *page = alloc_pages(GFP_KERNEL, 2);

	KUNIT_ASSERT_NOT_NULL(test, page);
	iotlb_batch_read_stats(&st0);
	/*
	 * A non-compound order-2 block: page 0 holds the reference, the tail
	 * pages none; memory spanning them is invalidated at once and no
	 * reference is left behind.
	 */
	KUNIT_EXPECT_EQ(test, hold_unmap(fd, 0, page_to_phys(page), 2 * PG), 1);
	KUNIT_EXPECT_EQ(test, fd->nr_sync, 1);
	KUNIT_EXPECT_EQ(test, fd->nr_release, 1);
	KUNIT_EXPECT_EQ(test, page_ref_count(page), 1);
	KUNIT_EXPECT_EQ(test, page_ref_count(page + 1), 0);
	/* Page 0 alone can be held. */
	KUNIT_EXPECT_EQ(test, hold_unmap(fd, 8 * PG, page_to_phys(page), PG),
			0);
	KUNIT_EXPECT_EQ(test, page_ref_count(page), 2);
	iotlb_batch_flush(&fd->b);
	KUNIT_EXPECT_EQ(test, page_ref_count(page), 1);
	iotlb_batch_read_stats(&st1);
	KUNIT_EXPECT_EQ(test, st1.sync[IOTLB_BATCH_SYNC_UNREF] -
			st0.sync[IOTLB_BATCH_SYNC_UNREF], 1);
	__free_pages(page, 2);
}

static void iotlb_batch_test_hold_slab(struct kunit *test)
{
	struct fake_domain *fd = fake_domain_new(test, &test_params);
	struct iotlb_batch_stats st0, st1;
	void *obj = kmalloc(128, GFP_KERNEL);

	KUNIT_ASSERT_NOT_NULL(test, obj);
	iotlb_batch_read_stats(&st0);
	KUNIT_EXPECT_EQ(test, hold_unmap(fd, 0, virt_to_phys(obj), 128), 1);
	KUNIT_EXPECT_EQ(test, fd->nr_sync, 1);
	KUNIT_EXPECT_EQ(test, fd->nr_release, 1);
	iotlb_batch_read_stats(&st1);
	KUNIT_EXPECT_EQ(test, st1.sync[IOTLB_BATCH_SYNC_SLAB] -
			st0.sync[IOTLB_BATCH_SYNC_SLAB], 1);
	KUNIT_EXPECT_EQ(test, st1.held_now - st0.held_now, 0);
	kfree(obj);
}

static void iotlb_batch_test_hold_nopage(struct kunit *test)
{
	struct fake_domain *fd = fake_domain_new(test, &test_params);
	struct iotlb_batch_stats st0, st1;
	phys_addr_t phys = (phys_addr_t)-1 - 4 * PG + 1;

	KUNIT_ASSERT_FALSE(test, pfn_valid(PHYS_PFN(phys)));
	iotlb_batch_read_stats(&st0);
	KUNIT_EXPECT_EQ(test, hold_unmap(fd, 0, phys, PG), 1);
	iotlb_batch_read_stats(&st1);
	KUNIT_EXPECT_EQ(test, st1.sync[IOTLB_BATCH_SYNC_NOPAGE] -
			st0.sync[IOTLB_BATCH_SYNC_NOPAGE], 1);
	KUNIT_EXPECT_EQ(test, fd->nr_release, 1);
}

static void free_page_array(struct page **pages, unsigned int n)
{
	while (n--)
		if (pages[n])
			__free_page(pages[n]);
}

static void iotlb_batch_test_hold_sg(struct kunit *test)
{
	struct fake_domain *fd = fake_domain_new(test, &test_params);
	struct iotlb_batch_unmap u = {
		.iova = 0, .size = 4 * PG, .start = 0, .end = 4 * PG - 1,
		.pgsize = PG,
	};
	struct page *pages[3] = {};
	struct scatterlist sg[4];
	unsigned int i;
	void *obj;

	for (i = 0; i < 3; i++) {
		pages[i] = alloc_page(GFP_KERNEL);
		KUNIT_ASSERT_NOT_NULL(test, pages[i]);
	}
	sg_init_table(sg, 4);
	sg_set_page(&sg[0], pages[0], 512, 0);
	sg_set_page(&sg[1], pages[0], 512, 1024);	/* same page again */
	sg_set_page(&sg[2], pages[1], PG, 0);
	sg_set_page(&sg[3], pages[2], 100, 8);
	u.sg = sg;
	u.nents = 4;
	KUNIT_EXPECT_EQ(test, iotlb_batch_unmap(&fd->b, &u), 0);
	KUNIT_EXPECT_EQ(test, page_ref_count(pages[0]), 2);
	KUNIT_EXPECT_EQ(test, page_ref_count(pages[1]), 2);
	KUNIT_EXPECT_EQ(test, page_ref_count(pages[2]), 2);
	iotlb_batch_flush(&fd->b);
	for (i = 0; i < 3; i++)
		KUNIT_EXPECT_EQ(test, page_ref_count(pages[i]), 1);

	/* One slab segment in the list: the whole unmap is invalidated now. */
	obj = kmalloc(64, GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, obj);
	sg_set_buf(&sg[3], obj, 64);
	KUNIT_EXPECT_EQ(test, iotlb_batch_unmap(&fd->b, &u), 1);
	for (i = 0; i < 3; i++)
		KUNIT_EXPECT_EQ(test, page_ref_count(pages[i]), 1);
	kfree(obj);
	free_page_array(pages, 3);
}

/* A folio the batch holds already costs no second reference. */
static void iotlb_batch_test_hold_dedup(struct kunit *test)
{
	struct fake_domain *fd = fake_domain_new(test, &test_params);
	struct iotlb_batch_unmap u = {
		.iova = 100 * PG, .size = 3 * PG, .start = 100 * PG,
		.end = 103 * PG - 1, .pgsize = PG,
	};
	struct iotlb_batch_stats st0, st1;
	struct page *a = alloc_page(GFP_KERNEL);
	struct page *b = alloc_page(GFP_KERNEL);
	struct scatterlist sg[3];
	unsigned int i;
	void *obj = kmalloc(64, GFP_KERNEL);

	if (!a || !b || !obj) {
		if (a)
			__free_page(a);
		if (b)
			__free_page(b);
		kfree(obj);
		KUNIT_FAIL_AND_ABORT(test, "out of memory");
	}
	iotlb_batch_read_stats(&st0);
	for (i = 0; i < 10; i++)
		KUNIT_EXPECT_EQ(test, hold_unmap(fd, i * 2 * PG,
						 page_to_phys(a), PG), 0);
	KUNIT_EXPECT_EQ(test, page_ref_count(a), 2);
	iotlb_batch_read_stats(&st1);
	KUNIT_EXPECT_EQ(test, st1.held_now - st0.held_now, 1);

	/*
	 * An unmap that fails half way drops the references it took and
	 * none of those the batch held before it.
	 */
	sg_init_table(sg, 3);
	sg_set_page(&sg[0], a, PG, 0);
	sg_set_page(&sg[1], b, PG, 0);
	sg_set_buf(&sg[2], obj, 64);
	u.sg = sg;
	u.nents = 3;
	KUNIT_EXPECT_EQ(test, iotlb_batch_unmap(&fd->b, &u), 1);
	KUNIT_EXPECT_EQ(test, page_ref_count(a), 2);
	KUNIT_EXPECT_EQ(test, page_ref_count(b), 1);

	/* Both found again: b is new to the set after the undo. */
	u.nents = 2;
	u.iova = 200 * PG;
	u.start = u.iova;
	u.end = u.start + u.size - 1;
	KUNIT_EXPECT_EQ(test, iotlb_batch_unmap(&fd->b, &u), 0);
	KUNIT_EXPECT_EQ(test, page_ref_count(a), 2);
	KUNIT_EXPECT_EQ(test, page_ref_count(b), 2);
	iotlb_batch_flush(&fd->b);
	KUNIT_EXPECT_EQ(test, page_ref_count(a), 1);
	KUNIT_EXPECT_EQ(test, page_ref_count(b), 1);
	KUNIT_EXPECT_EQ(test, fd->nr_release, 12);

	/* The next batch takes its own reference. */
	KUNIT_EXPECT_EQ(test, hold_unmap(fd, 0, page_to_phys(a), PG), 0);
	KUNIT_EXPECT_EQ(test, page_ref_count(a), 2);
	iotlb_batch_flush(&fd->b);
	KUNIT_EXPECT_EQ(test, page_ref_count(a), 1);
	iotlb_batch_read_stats(&st1);
	KUNIT_EXPECT_EQ(test, st1.held_now - st0.held_now, 0);
	kfree(obj);
	__free_page(a);
	__free_page(b);
}

static void iotlb_batch_test_hold_capacity(struct kunit *test)
{
	struct fake_domain *fd = fake_domain_new(test, &test_params);
	struct iotlb_batch_stats st0, st1;
	const unsigned int n = 65;	/* hold_cap is 64 for depth 16 */
	struct scatterlist *sg;
	struct page **pages;
	unsigned int i;

	KUNIT_ASSERT_EQ(test, fd->b.hold_cap, 64);
	pages = kunit_kcalloc(test, n, sizeof(*pages), GFP_KERNEL);
	sg = kunit_kcalloc(test, n, sizeof(*sg), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, pages);
	KUNIT_ASSERT_NOT_NULL(test, sg);
	sg_init_table(sg, n);
	for (i = 0; i < n; i++) {
		pages[i] = alloc_page(GFP_KERNEL);
		if (!pages[i]) {
			free_page_array(pages, i);
			KUNIT_FAIL_AND_ABORT(test, "out of memory");
		}
		sg_set_page(&sg[i], pages[i], PG, 0);
	}
	iotlb_batch_read_stats(&st0);

	/*
	 * 40 folios fit; 40 more, 15 of them held already, do not: the batch
	 * is flushed first.
	 */
	{
		struct iotlb_batch_unmap u = {
			.iova = 0, .size = 40 * PG, .start = 0,
			.end = 40 * PG - 1, .pgsize = PG, .sg = sg, .nents = 40,
		};

		KUNIT_EXPECT_EQ(test, iotlb_batch_unmap(&fd->b, &u), 0);
		u.iova = 100 * PG;
		u.start = u.iova;
		u.end = u.start + u.size - 1;
		u.sg = sg + 25;
		KUNIT_EXPECT_EQ(test, iotlb_batch_unmap(&fd->b, &u), 0);
		KUNIT_EXPECT_EQ(test, fd->nr_sync, 1);
		KUNIT_EXPECT_EQ(test, fd->nr_release, 1);
		KUNIT_EXPECT_EQ(test, page_ref_count(pages[0]), 1);
		KUNIT_EXPECT_EQ(test, page_ref_count(pages[30]), 2);
		iotlb_batch_flush(&fd->b);
	}
	/* 65 folios never fit: invalidated at once, nothing left held. */
	{
		struct iotlb_batch_unmap u = {
			.iova = 0, .size = n * PG, .start = 0,
			.end = n * PG - 1, .pgsize = PG, .sg = sg, .nents = n,
		};

		KUNIT_EXPECT_EQ(test, iotlb_batch_unmap(&fd->b, &u), 1);
	}
	for (i = 0; i < n; i++)
		KUNIT_EXPECT_EQ(test, page_ref_count(pages[i]), 1);
	iotlb_batch_read_stats(&st1);
	KUNIT_EXPECT_EQ(test, st1.trigger[IOTLB_BATCH_TRIG_HOLD] -
			st0.trigger[IOTLB_BATCH_TRIG_HOLD], 1);
	KUNIT_EXPECT_EQ(test, st1.sync[IOTLB_BATCH_SYNC_LARGE] -
			st0.sync[IOTLB_BATCH_SYNC_LARGE], 1);
	KUNIT_EXPECT_EQ(test, st1.held_now - st0.held_now, 0);
	free_page_array(pages, n);
}

/*
 * An unmap with more folios than any batch can hold is invalidated at once
 * without flushing the batch it finds: that flush would not make it fit.
 * (An unmap that fits an empty batch flushes the batch first: see
 * iotlb_batch_test_hold_capacity.)
 */
static void iotlb_batch_test_hold_large_innocent(struct kunit *test)
{
	struct fake_domain *fd = fake_domain_new(test, &test_params);
	const unsigned int n = 65;	/* hold_cap is 64 for depth 16 */
	struct iotlb_batch_stats st0, st1;
	struct iotlb_batch_unmap u = {
		.iova = 0, .size = n * PG, .start = 0, .end = n * PG - 1,
		.pgsize = PG, .nents = n,
	};
	struct page **pages, *one;
	struct scatterlist *sg;
	unsigned int i;

	KUNIT_ASSERT_EQ(test, fd->b.hold_cap, 64);
	pages = kunit_kcalloc(test, n, sizeof(*pages), GFP_KERNEL);
	sg = kunit_kcalloc(test, n, sizeof(*sg), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, pages);
	KUNIT_ASSERT_NOT_NULL(test, sg);
	one = alloc_page(GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, one);
	sg_init_table(sg, n);
	for (i = 0; i < n; i++) {
		pages[i] = alloc_page(GFP_KERNEL);
		if (!pages[i]) {
			free_page_array(pages, i);
			__free_page(one);
			KUNIT_FAIL_AND_ABORT(test, "out of memory");
		}
		sg_set_page(&sg[i], pages[i], PG, 0);
	}

	KUNIT_EXPECT_EQ(test, hold_unmap(fd, 256 * PG, page_to_phys(one), PG), 0);
	iotlb_batch_read_stats(&st0);
	u.sg = sg;
	KUNIT_EXPECT_EQ(test, iotlb_batch_unmap(&fd->b, &u), 1);
	iotlb_batch_read_stats(&st1);
	/* The held page's batch is untouched: not flushed, still holding. */
	KUNIT_EXPECT_EQ(test, st1.trigger[IOTLB_BATCH_TRIG_HOLD] -
			st0.trigger[IOTLB_BATCH_TRIG_HOLD], 0);
	KUNIT_EXPECT_EQ(test, st1.sync[IOTLB_BATCH_SYNC_LARGE] -
			st0.sync[IOTLB_BATCH_SYNC_LARGE], 1);
	KUNIT_EXPECT_EQ(test, page_ref_count(one), 2);
	for (i = 0; i < n; i++)
		KUNIT_EXPECT_EQ(test, page_ref_count(pages[i]), 1);

	iotlb_batch_flush(&fd->b);
	KUNIT_EXPECT_EQ(test, page_ref_count(one), 1);
	free_page_array(pages, n);
	__free_page(one);
}

/* ---- page-table pages ---------------------------------------------------- */

static void tables_case(struct kunit *test, bool frees_tables, bool promote)
{
	struct fake_domain *fd = fake_domain_new(test, &test_params);
	struct iotlb_batch_unmap u = {
		.iova = 0, .size = PG, .start = 0, .end = PG - 1, .pgsize = PG,
	};
	void *va = iommu_alloc_page(GFP_KERNEL);
	struct page *table;
	LIST_HEAD(fl);
	unsigned int i;

	fd->frees_tables = frees_tables;
	KUNIT_ASSERT_NOT_NULL(test, va);
	table = virt_to_page(va);
	get_page(table);	/* ours, to watch it */
	list_add(&table->lru, &fl);
	u.freelist = &fl;
	KUNIT_EXPECT_EQ(test, iotlb_batch_unmap(&fd->b, &u), 0);
	KUNIT_EXPECT_TRUE(test, list_empty(&fl));
	fake_unmap(fd, 1000 * PG, PG, PG);
	/* Too far apart to coalesce within max_pages: promoted. */
	if (promote)
		for (i = 0; i < test_params.max_ranges; i++)
			fake_unmap(fd, (2000 + 1000 * i) * PG, PG, PG);
	fd->watch = table;
	fd->watch_tables = true;
	fd->watch_min_ref = 2;
	KUNIT_EXPECT_EQ(test, page_ref_count(table), 2);
	iotlb_batch_flush(&fd->b);
	KUNIT_EXPECT_EQ(test, atomic_read(&fd->watch_bad), 0);
	KUNIT_EXPECT_EQ(test, page_ref_count(table), 1);
	if (promote) {
		KUNIT_EXPECT_EQ(test, fd->nr_flush_all, 1);
	} else {
		/* Only the range whose unmap freed the table says so. */
		KUNIT_ASSERT_EQ(test, fd->nr_sync, 2);
		sort(fd->log, fd->log_len, sizeof(*fd->log), cmp_inv, NULL);
		KUNIT_EXPECT_TRUE(test, fd->log[0].tables);
		KUNIT_EXPECT_FALSE(test, fd->log[1].tables);
	}
	fd->watch = NULL;
	put_page(table);
}

static void iotlb_batch_test_tables(struct kunit *test)
{
	tables_case(test, false, false);
}

static void iotlb_batch_test_tables_sync_frees(struct kunit *test)
{
	tables_case(test, true, false);
}

static void iotlb_batch_test_tables_promoted(struct kunit *test)
{
	tables_case(test, false, true);
}

/* ---- several ranges behind one wait -------------------------------------- */

/*
 * With flush_ranges, a flush of several ranges is one call that gets every
 * range, each with its own page-table pages, and nothing is released
 * before it returned; a flush of one range still goes through flush_range.
 */
static void iotlb_batch_test_ranges_one_call(struct kunit *test)
{
	struct fake_domain *fd = fake_domain_new_ops(test, &test_params,
						     &fake_ranges_ops);
	struct iotlb_batch_unmap u = {
		.iova = 0, .size = PG, .start = 0, .end = PG - 1, .pgsize = PG,
	};
	struct iotlb_batch_stats st0, st1;
	void *va = iommu_alloc_page(GFP_KERNEL);
	struct page *table;
	LIST_HEAD(fl);
	unsigned int i;

	KUNIT_ASSERT_NOT_NULL(test, va);
	table = virt_to_page(va);
	list_add(&table->lru, &fl);
	u.freelist = &fl;
	fd->check_release = true;
	iotlb_batch_read_stats(&st0);
	KUNIT_EXPECT_EQ(test, iotlb_batch_unmap(&fd->b, &u), 0);
	for (i = 1; i < test_params.max_ranges; i++)
		fake_unmap(fd, 1000 * i * PG, 2 * PG, PG);
	KUNIT_EXPECT_EQ(test, fd->nr_release, 0);
	iotlb_batch_flush(&fd->b);
	iotlb_batch_read_stats(&st1);

	KUNIT_EXPECT_EQ(test, fd->nr_ranges_calls, 1);
	KUNIT_EXPECT_EQ(test, fd->ranges_max, test_params.max_ranges);
	KUNIT_EXPECT_EQ(test, fd->nr_sync, test_params.max_ranges);
	KUNIT_EXPECT_EQ(test, fd->nr_flush_all, 0);
	KUNIT_EXPECT_EQ(test, fd->nr_release, test_params.max_ranges);
	KUNIT_EXPECT_EQ(test, fd->release_early, 0);
	KUNIT_EXPECT_EQ(test, st1.inv_range - st0.inv_range,
			test_params.max_ranges);
	KUNIT_EXPECT_EQ(test, st1.inv_ranges_calls - st0.inv_ranges_calls, 1);
	/* Every range as unmapped; only the first one freed a table. */
	KUNIT_ASSERT_EQ(test, fd->log_len, test_params.max_ranges);
	sort(fd->log, fd->log_len, sizeof(*fd->log), cmp_inv, NULL);
	for (i = 0; i < fd->log_len; i++) {
		unsigned long start = 1000 * i * PG;

		KUNIT_EXPECT_EQ(test, fd->log[i].start, start);
		KUNIT_EXPECT_EQ(test, fd->log[i].end,
				start + (i ? 2 : 1) * PG - 1);
		KUNIT_EXPECT_EQ(test, fd->log[i].tables, i == 0);
	}

	/* One range: flush_range, as before. */
	fake_unmap(fd, 0, PG, PG);
	iotlb_batch_flush(&fd->b);
	KUNIT_EXPECT_EQ(test, fd->nr_ranges_calls, 1);
	KUNIT_EXPECT_EQ(test, fd->nr_sync, test_params.max_ranges + 1);
}

/*
 * A flush of several ranges that another flush interrupts on the same CPU
 * (nested here; an interrupt, or a preempting task on PREEMPT_RT) still
 * hands the driver its own ranges, unchanged: each flush_ranges gets its
 * batch's array, not storage it shares with other flushes.
 */
static void iotlb_batch_test_ranges_nested(struct kunit *test)
{
	struct fake_domain *fa = fake_domain_new_ops(test, &test_params,
						     &fake_ranges_ops);
	struct fake_domain *fb = fake_domain_new_ops(test, &test_params,
						     &fake_ranges_ops);
	struct fake_domain *fds[] = { fa, fb };
	unsigned int d, i;

	for (d = 0; d < ARRAY_SIZE(fds); d++)
		for (i = 0; i < test_params.max_ranges; i++)
			fake_unmap(fds[d], (1000 * i + 100 * d) * PG,
				   (d + 1) * PG, PG);
	fa->nest = fb;
	iotlb_batch_flush(&fa->b);

	for (d = 0; d < ARRAY_SIZE(fds); d++) {
		struct fake_domain *fd = fds[d];

		KUNIT_EXPECT_EQ(test, fd->nr_ranges_calls, 1);
		KUNIT_EXPECT_EQ(test, fd->nr_release, test_params.max_ranges);
		KUNIT_ASSERT_EQ(test, fd->log_len, test_params.max_ranges);
		sort(fd->log, fd->log_len, sizeof(*fd->log), cmp_inv, NULL);
		for (i = 0; i < fd->log_len; i++) {
			unsigned long start = (1000 * i + 100 * d) * PG;

			KUNIT_EXPECT_EQ_MSG(test, fd->log[i].start, start,
					    "domain %u range %u", d, i);
			KUNIT_EXPECT_EQ_MSG(test, fd->log[i].end,
					    start + (d + 1) * PG - 1,
					    "domain %u range %u", d, i);
		}
	}
	KUNIT_EXPECT_EQ(test, atomic_read(&fa->bad_order), 0);
	KUNIT_EXPECT_EQ(test, atomic_read(&fb->bad_order), 0);
}

/* ---- ordering under concurrent queuing ---------------------------------- */

#define ORDER_THREADS	4
#define ORDER_PER	400
#define ORDER_STRIDE	(4 * PG)

struct order_arg {
	struct fake_domain *fd;
	unsigned int t;
	u64 seed;
	atomic_t *left;
	struct completion *done;
	unsigned int bad_ref;
};

static void order_check_refs(struct fake_domain *fd, unsigned int first,
			     unsigned int last, unsigned int *bad)
{
	unsigned int i;

	for (i = first; i < last; i++) {
		struct fake_ent *e = &fd->ents[i];
		int ref = page_ref_count(e->page);

		/*
		 * The test holds one reference of its own; a count of one
		 * means the batch dropped its reference, which it may only do
		 * after the release. Pairs with the fully ordered folio_put().
		 */
		smp_rmb();
		if (ref < 2 && !atomic_read(&e->released))
			(*bad)++;
	}
}

static int order_thread(void *data)
{
	struct order_arg *a = data;
	struct fake_domain *fd = a->fd;
	unsigned int first = a->t * ORDER_PER, i;
	struct rnd_state rnd;

	prandom_seed_state(&rnd, a->seed + a->t);
	for (i = first; i < first + ORDER_PER; i++) {
		struct fake_ent *e = &fd->ents[i];
		u32 r = prandom_u32_state(&rnd);
		struct iotlb_batch_unmap u = {
			.iova = fd->ent_base + i * ORDER_STRIDE,
			.size = (1 + r % 4) * PG,
			.pgsize = PG,
			.phys = page_to_phys(e->page),
			.len = PG,
		};

		u.start = u.iova;
		u.end = u.iova + u.size - 1;
		if (r % 29 == 0)
			u.start = u.end + 1;	/* not recorded: promoted */
		if (r % 13 == 0) {
			/* Invalidated now, sometimes by a full flush. */
			u.sync = true;
			if (r & 1)
				u.start = u.end + 1;
		}
		/* The "page-table update" precedes the unmap's sequence. */
		e->seq = atomic64_inc_return(&fd->seq);
		iotlb_batch_unmap(&fd->b, &u);
		put_page(e->page);	/* the owner lets go */
		if (r % 7 == 0)
			usleep_range(10, 200);
		else if (r % 3 == 0)
			cond_resched();
		if (i % 16 == 15)
			order_check_refs(fd, first, i + 1, &a->bad_ref);
	}
	if (atomic_dec_and_test(a->left))
		complete(a->done);
	return 0;
}

static const bool order_ranges_cases[] = { false, true };

static void order_ranges_desc(const bool *ranges, char *desc)
{
	snprintf(desc, KUNIT_PARAM_DESC_SIZE, "%s",
		 *ranges ? "flush_ranges" : "flush_range");
}

KUNIT_ARRAY_PARAM(order_ranges, order_ranges_cases, order_ranges_desc);

static void iotlb_batch_test_order_concurrent(struct kunit *test)
{
	const bool *ranges = test->param_value;
	struct iotlb_batch_params p = {
		.max_ranges = 3, .max_pages = 24, .depth = 32, .timeout_ms = 1,
	};
	const unsigned int n = ORDER_THREADS * ORDER_PER;
	struct order_arg args[ORDER_THREADS];
	DECLARE_COMPLETION_ONSTACK(done);
	struct iotlb_batch_stats st0, st1;
	struct fake_domain *fd;
	atomic_t left;
	unsigned int i, bad_ref = 0;
	u64 s = seed ?: get_random_u64();

	kunit_info(test, "seed %llu (iotlb_batch_kunit.seed=%llu repeats it)\n",
		   s, s);
	fd = fake_domain_new_ops(test, &p,
				 *ranges ? &fake_ranges_ops : &fake_ops);
	fd->ent_base = 1UL << 30;
	fd->ent_stride = ORDER_STRIDE;
	fd->nr_ents = n;
	fd->ents = kvcalloc(n, sizeof(*fd->ents), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, fd->ents);
	for (i = 0; i < n; i++) {
		fd->ents[i].page = alloc_page(GFP_KERNEL);
		if (!fd->ents[i].page) {
			while (i--)
				__free_page(fd->ents[i].page);
			kvfree(fd->ents);
			KUNIT_FAIL_AND_ABORT(test, "out of memory");
		}
		get_page(fd->ents[i].page);	/* ours, to watch it */
	}
	iotlb_batch_read_stats(&st0);

	atomic_set(&left, ORDER_THREADS);
	for (i = 0; i < ORDER_THREADS; i++) {
		struct task_struct *tsk;

		args[i] = (struct order_arg){
			.fd = fd, .t = i, .seed = s, .left = &left,
			.done = &done,
		};
		tsk = kthread_run(order_thread, &args[i], "iotlb-batch-%u", i);
		KUNIT_ASSERT_FALSE(test, IS_ERR(tsk));
	}
	wait_for_completion(&done);
	for (i = 0; i < ORDER_THREADS; i++)
		bad_ref += args[i].bad_ref;
	iotlb_batch_flush(&fd->b);

	KUNIT_EXPECT_EQ(test, atomic_read(&fd->bad_order), 0);
	KUNIT_EXPECT_EQ(test, bad_ref, 0);
	KUNIT_EXPECT_LT(test, fd->log_len, fd->log_cap);
	for (i = 0; i < n; i++) {
		KUNIT_EXPECT_EQ(test, atomic_read(&fd->ents[i].released), 1);
		KUNIT_EXPECT_EQ(test, page_ref_count(fd->ents[i].page), 1);
		put_page(fd->ents[i].page);
	}
	iotlb_batch_read_stats(&st1);
	KUNIT_EXPECT_EQ(test, st1.held_now - st0.held_now, 0);
	KUNIT_EXPECT_EQ(test, st1.unmaps - st0.unmaps, n);
	KUNIT_EXPECT_EQ(test, (st1.deferred - st0.deferred) +
			(st1.sync[IOTLB_BATCH_SYNC_CALLER] -
			 st0.sync[IOTLB_BATCH_SYNC_CALLER]), n);
	kunit_info(test, "%u unmaps: %u range (%u calls of several) and %u full invalidations, %llu merged\n",
		   n, fd->nr_sync, fd->nr_ranges_calls, fd->nr_flush_all,
		   st1.merged - st0.merged);
	if (*ranges)
		KUNIT_EXPECT_GT(test, fd->nr_ranges_calls, 0);
	kvfree(fd->ents);
	fd->ents = NULL;
}

static struct kunit_case iotlb_batch_test_cases[] = {
	KUNIT_CASE_PARAM(iotlb_batch_test_decide, decide_gen_params),
	KUNIT_CASE(iotlb_batch_test_decide_zero),
	KUNIT_CASE(iotlb_batch_test_decide_cost),
	KUNIT_CASE(iotlb_batch_test_set_cost),
	KUNIT_CASE_PARAM(iotlb_batch_test_param, param_gen_params),
	KUNIT_CASE(iotlb_batch_test_init_rejects),
	KUNIT_CASE_PARAM(iotlb_batch_test_merge, merge_gen_params),
	KUNIT_CASE(iotlb_batch_test_merge_edges),
	KUNIT_CASE(iotlb_batch_test_depth),
	KUNIT_CASE(iotlb_batch_test_depth_one),
	KUNIT_CASE(iotlb_batch_test_unknown_range),
	KUNIT_CASE(iotlb_batch_test_timeout),
	KUNIT_CASE(iotlb_batch_test_timeout_age),
	KUNIT_CASE(iotlb_batch_test_sync_policy),
	KUNIT_CASE(iotlb_batch_test_covered),
	KUNIT_CASE(iotlb_batch_test_covered_partly),
	KUNIT_CASE(iotlb_batch_test_pending_mask),
	KUNIT_CASE(iotlb_batch_test_destroy),
	KUNIT_CASE(iotlb_batch_test_release_unlocked),
	KUNIT_CASE(iotlb_batch_test_hold_page),
	KUNIT_CASE(iotlb_batch_test_hold_compound),
	KUNIT_CASE(iotlb_batch_test_hold_unref),
	KUNIT_CASE(iotlb_batch_test_hold_slab),
	KUNIT_CASE(iotlb_batch_test_hold_nopage),
	KUNIT_CASE(iotlb_batch_test_hold_sg),
	KUNIT_CASE(iotlb_batch_test_hold_dedup),
	KUNIT_CASE(iotlb_batch_test_hold_capacity),
	KUNIT_CASE(iotlb_batch_test_hold_large_innocent),
	KUNIT_CASE(iotlb_batch_test_tables),
	KUNIT_CASE(iotlb_batch_test_tables_sync_frees),
	KUNIT_CASE(iotlb_batch_test_tables_promoted),
	KUNIT_CASE(iotlb_batch_test_ranges_one_call),
	KUNIT_CASE(iotlb_batch_test_ranges_nested),
	KUNIT_CASE_PARAM_ATTR(iotlb_batch_test_order_concurrent,
			      order_ranges_gen_params, { .speed = KUNIT_SPEED_SLOW }),
	{}
};

static struct kunit_suite iotlb_batch_test_suite = {
	.name = "iotlb_batch",
	.test_cases = iotlb_batch_test_cases,
};

kunit_test_suite(iotlb_batch_test_suite);

MODULE_DESCRIPTION("KUnit tests for batched IOTLB invalidation");
MODULE_LICENSE("GPL");
MODULE_IMPORT_NS(EXPORTED_FOR_KUNIT_TESTING);
