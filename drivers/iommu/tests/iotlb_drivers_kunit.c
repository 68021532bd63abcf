// SPDX-License-Identifier: GPL-2.0-only
/*
 * KUnit tests: is every unmapped IOVA invalidated before its IOVA and the
 * memory behind it are released, on every kind of IOMMU driver, in strict,
 * lazy and safe deferred mode?
 *
 * A mock IOMMU domain models where each driver family invalidates:
 *
 *   smmu-v2         TLBIVA posted by tlb_add_page while unmapping (skipped
 *                   for a queued gather); iotlb_sync only waits (TLBSYNC)
 *   vt-d            iotlb_sync invalidates the smallest aligned power-of-two
 *                   block holding the gather's range with one command, or
 *                   the whole domain when that block is wider than its
 *                   largest address mask (second-level PSI)
 *   smmu-v3         iotlb_sync invalidates the range with range TLBIs;
 *                   nothing without a pgsize
 *   smmu-v3-norange the same, one TLBI per pgsize step
 *   amd             every unmap gathers its range, queued or not, with no
 *                   pgsize; iotlb_sync invalidates any range with one
 *                   command
 *   virtio          every unmap posts an UNMAP request; iotlb_sync waits
 *
 * and flush_iotlb_all invalidates everything on all of them, with one
 * command. Each iotlb_sync and flush_iotlb_all is one completion wait, and
 * what they invalidate completes only at that wait. The vt-d and smmu-v3
 * families also have iotlb_sync_ranges: the commands of several ranges,
 * completed by one wait (vt-d: one more each time its queue of 16
 * descriptors fills up). The
 * families that declare IOMMU_CAP_IOTLB_SYNC_RANGE also declare what a
 * range costs them (iotlb_batcher_set_cost()), as their drivers do. Every page an
 * unmap clears stays "stale" (the device may still use a cached
 * translation) until an invalidation covering it has completed. Strict and
 * lazy mode are modelled on stock dma-iommu's unmap (sync right away; a
 * queued gather, then a flush queue of flush_iotlb_all()). The safe mode
 * runs the batcher, with the decisions dma-iommu takes from it: whether the
 * gather is queued (iotlb_batch_gather_queued()), and the range, if any, a
 * batch or an unmap that cannot wait is invalidated by. Releasing an IOVA,
 * and releasing the memory (the last reference on a page dropped, a slab
 * object or memory the caller frees once the unmap returns), while a page
 * of that unmap is stale counts as a failure. Lazy mode must show memory
 * released before its invalidation: that proves the check can see it.
 */

#include <kunit/test.h>
#include <linux/io.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/prandom.h>
#include <linux/sizes.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>

#include "../iotlb-batch.h"

#define MPG		4096UL
#define MSHIFT		12
#define MBLOCK		SZ_2M
#define MNPAGES		16384		/* 64 MiB of IOVA space */
#define MNOPS		256		/* unmaps per case */
#define MNBLOCKS	8		/* of which 2 MiB blocks, at most */
#define MFQ		32		/* lazy mode's flush queue */
#define MVTD_MAMV	9		/* VT-d mock: largest PSI address mask */
#define MVTD_QI_BATCH	16		/* VT-d mock: descriptors per submission */

enum mock_family {
	MOCK_SMMU_V2,
	MOCK_VTD,
	MOCK_SMMU_V3,
	MOCK_SMMU_V3_NORANGE,
	MOCK_AMD,
	MOCK_VIRTIO,
};

enum mock_mode {
	MOCK_STRICT,
	MOCK_LAZY,
	MOCK_SAFE,
};

/* What is behind an unmapped range, and when its owner lets it go. */
enum mock_mem {
	MEM_PAGE,	/* a page: the owner drops its reference after the unmap */
	MEM_SLAB,	/* a slab object: kfree() after the unmap */
	MEM_NONE,	/* freed by the caller itself (coherent memory, bounce) */
};

/*
 * What struct mock_gather carries (it is empty without
 * CONFIG_IOMMU_API, as under UML).
 */
struct mock_gather {
	unsigned long start;
	unsigned long end;
	size_t pgsize;
	bool queued;
	struct list_head freelist;
};

static void mock_gather_init(struct mock_gather *g)
{
	*g = (struct mock_gather) { .start = ULONG_MAX };
	INIT_LIST_HEAD(&g->freelist);
}

struct mock_family_desc {
	const char *name;
	unsigned long pgsize_bitmap;
	bool sync_range;	/* declares IOMMU_CAP_IOTLB_SYNC_RANGE */
	struct iotlb_batch_cost cost;	/* what its driver declares */
	bool sync_ranges;	/* has iotlb_sync_ranges */
};

static const struct mock_family_desc families[] = {
	[MOCK_SMMU_V2] = { "smmu-v2", SZ_4K | SZ_2M | SZ_1G, false },
	[MOCK_VTD] = { "vt-d", SZ_4K | SZ_2M | SZ_1G, true,
		       { IOTLB_BATCH_COST_POW2, MVTD_MAMV }, true },
	[MOCK_SMMU_V3] = { "smmu-v3", SZ_4K | SZ_2M | SZ_1G, true,
			   { IOTLB_BATCH_COST_RANGE }, true },
	[MOCK_SMMU_V3_NORANGE] = { "smmu-v3-norange", SZ_4K | SZ_2M | SZ_1G,
				   true, { IOTLB_BATCH_COST_PER_PAGE }, true },
	[MOCK_AMD] = { "amd", GENMASK(30, 12), true,
		       { IOTLB_BATCH_COST_ONE } },
	[MOCK_VIRTIO] = { "virtio", SZ_4K, false },
};

static const char * const mode_names[] = { "strict", "lazy", "safe" };

struct mock_ent {
	unsigned long iova;
	size_t size;
	enum mock_mem mem;
	struct page *page;	/* MEM_PAGE: the test keeps a reference too */
	void *obj;		/* MEM_SLAB */
	bool iova_released;
	bool mem_released;
};

struct mock_iommu {
	struct iotlb_batcher b;
	struct kunit *test;
	const struct mock_family_desc *fam;
	enum mock_family family;
	enum mock_mode mode;
	spinlock_t lock;	/* the mock "hardware" state below */
	u8 *mapped;
	u8 *stale;		/* a translation the device may still use */
	u8 *posted;		/* an invalidation posted, done at the next sync */
	u16 *owner;		/* 1 + the entry that unmapped the page */
	struct mock_ent ents[MNOPS];
	unsigned int nr_ents;
	unsigned int fq[MFQ];
	unsigned int nr_fq;
	/* what the "driver" issued */
	unsigned long cmds;	/* invalidation commands */
	unsigned long waits;	/* completion waits */
	unsigned long fulls;	/* of the commands, whole-domain flushes */
	unsigned int queued;	/* commands not yet behind a wait */
	unsigned long multi;	/* iotlb_sync_ranges calls of several */
	/* what the checks found */
	unsigned int bad_iova;	/* IOVA released with a stale page */
	unsigned int bad_mem;	/* memory released with a stale page */
	unsigned int bad_state;	/* unmapped twice, IOVA released twice */
	unsigned int iovas_released;
};

static struct mock_iommu *to_mock(struct iotlb_batcher *b)
{
	return container_of(b, struct mock_iommu, b);
}

static unsigned long pfn_of(unsigned long iova)
{
	return iova >> MSHIFT;
}

/* ---- the checks ---------------------------------------------------------- */

/* Memory of entry @e is back with its allocator, or about to be. */
static bool mem_gone(const struct mock_ent *e)
{
	if (e->mem != MEM_PAGE)
		return e->mem_released;
	return page_ref_count(e->page) <= 1;	/* only the test's reference */
}

static bool range_stale(struct mock_iommu *m, unsigned long iova, size_t size)
{
	unsigned long i;

	for (i = pfn_of(iova); i < pfn_of(iova + size); i++)
		if (m->stale[i])
			return true;
	return false;
}

/* Called with m->lock held: a completed invalidation of page @i. */
static void mock_clear(struct mock_iommu *m, unsigned long i)
{
	if (m->stale[i] && m->owner[i]) {
		struct mock_ent *e = &m->ents[m->owner[i] - 1];

		/* The memory went back before this invalidation. */
		if (mem_gone(e) && !e->mem_released) {
			e->mem_released = true;
			m->bad_mem++;
		}
	}
	m->stale[i] = 0;
	m->posted[i] = 0;
}

/*
 * After any call: memory that went back must not be reachable through a
 * stale translation. Counted once per entry.
 */
static void mock_scan(struct mock_iommu *m)
{
	unsigned long flags;
	unsigned int i;

	spin_lock_irqsave(&m->lock, flags);
	for (i = 0; i < m->nr_ents; i++) {
		struct mock_ent *e = &m->ents[i];

		if (e->mem != MEM_PAGE || e->mem_released || !mem_gone(e))
			continue;
		e->mem_released = true;
		if (range_stale(m, e->iova, e->size))
			m->bad_mem++;
	}
	spin_unlock_irqrestore(&m->lock, flags);
}

/* The IOVA of entry @e goes back to the allocator. */
static void mock_release_iova(struct mock_iommu *m, unsigned long iova,
			      size_t size)
{
	unsigned long flags;
	unsigned int i;

	spin_lock_irqsave(&m->lock, flags);
	if (range_stale(m, iova, size))
		m->bad_iova++;
	for (i = 0; i < m->nr_ents; i++) {
		if (m->ents[i].iova != iova)
			continue;
		if (m->ents[i].iova_released || m->ents[i].size != size)
			m->bad_state++;
		m->ents[i].iova_released = true;
		m->iovas_released++;
	}
	spin_unlock_irqrestore(&m->lock, flags);
}

/* ---- the mock driver ----------------------------------------------------- */

static void gather_add(struct mock_gather *g, unsigned long iova,
		       size_t size, size_t pgsize)
{
	g->start = min(g->start, iova);
	g->end = max(g->end, iova + size - 1);
	g->pgsize = pgsize;
}

static void complete_posted(struct mock_iommu *m)
{
	unsigned long i;

	for (i = 0; i < MNPAGES; i++)
		if (m->posted[i])
			mock_clear(m, i);
}

/* io-pgtable and the driver's unmap_pages, for each family. */
static void mock_unmap(struct mock_iommu *m, unsigned int idx,
		       struct mock_gather *g)
{
	const struct mock_ent *e = &m->ents[idx];
	bool block = (m->fam->pgsize_bitmap & MBLOCK) &&
		     IS_ALIGNED(e->iova | e->size, MBLOCK);
	size_t leaf = block ? MBLOCK : MPG;
	unsigned long flags, i, a;

	spin_lock_irqsave(&m->lock, flags);
	for (i = pfn_of(e->iova); i < pfn_of(e->iova + e->size); i++) {
		if (!m->mapped[i])
			m->bad_state++;
		m->mapped[i] = 0;
		m->stale[i] = 1;
		m->owner[i] = idx + 1;
	}
	switch (m->family) {
	case MOCK_SMMU_V2:
		/* tlb_add_page: TLBIVA per leaf, completed by TLBSYNC */
		if (g->queued)
			break;
		for (a = e->iova; a < e->iova + e->size; a += leaf) {
			for (i = pfn_of(a); i < pfn_of(a + leaf); i++)
				m->posted[i] = 1;
			m->cmds++;
		}
		break;
	case MOCK_VTD:
		if (!g->queued)
			gather_add(g, e->iova, e->size, leaf);
		break;
	case MOCK_SMMU_V3:
	case MOCK_SMMU_V3_NORANGE:
		if (g->queued)
			break;
		for (a = e->iova; a < e->iova + e->size; a += leaf)
			gather_add(g, a, leaf, leaf);
		break;
	case MOCK_AMD:
		/*
		 * amd_iommu_iotlb_gather_add_page() gathers by range and
		 * leaves pgsize 0, queued or not; the batcher gives a
		 * queued unmap the granule as its pgsize.
		 */
		gather_add(g, e->iova, e->size, 0);
		break;
	case MOCK_VIRTIO:
		/* an UNMAP request, completed by the next sync */
		for (i = pfn_of(e->iova); i < pfn_of(e->iova + e->size); i++)
			m->posted[i] = 1;
		m->cmds++;
		break;
	}
	spin_unlock_irqrestore(&m->lock, flags);
}

/* Called with m->lock held: post the invalidation of [start, end]. */
static void post_range(struct mock_iommu *m, unsigned long start,
		       unsigned long end)
{
	unsigned long i;

	for (i = pfn_of(start); i <= pfn_of(end) && i < MNPAGES; i++)
		m->posted[i] = 1;
}

/* Called with m->lock held: a completion wait. */
static void mock_wait(struct mock_iommu *m)
{
	complete_posted(m);
	m->waits++;
	m->queued = 0;
}

/* Called with m->lock held: @n more commands queued for the next wait. */
static void mock_queue(struct mock_iommu *m, unsigned long n)
{
	m->cmds += n;
	m->queued += n;
	/* VT-d's qi_batch is submitted, with a wait, when it fills up. */
	if (m->family == MOCK_VTD && m->queued >= MVTD_QI_BATCH)
		mock_wait(m);
}

/*
 * Called with m->lock held: queue what the driver's iotlb_sync issues for
 * one gather; it completes at the next mock_wait().
 */
static void mock_post(struct mock_iommu *m, unsigned long start,
		      unsigned long end, size_t pgsize)
{
	unsigned long a, first, last;
	unsigned int order;

	switch (m->family) {
	case MOCK_SMMU_V2:
	case MOCK_VIRTIO:
		break;		/* posted while unmapping */
	case MOCK_VTD:
		if (start > end)
			break;
		first = pfn_of(start);
		last = pfn_of(end);
		order = first == last ? 0 : fls_long(first ^ last);
		if (order > MVTD_MAMV) {
			/* a domain-selective flush, inside the driver */
			for (a = 0; a < MNPAGES; a++)
				if (m->stale[a])
					m->posted[a] = 1;
			m->fulls++;
		} else {
			first &= ~((1UL << order) - 1);
			post_range(m, first << MSHIFT,
				   ((first + (1UL << order)) << MSHIFT) - 1);
		}
		mock_queue(m, 1);
		break;
	case MOCK_AMD:
		if (start > end)
			break;
		post_range(m, start, end);
		mock_queue(m, 1);
		break;
	case MOCK_SMMU_V3:
		if (!pgsize)
			break;
		post_range(m, start, end);
		/* a range TLBI covers up to 31 << scale pages */
		mock_queue(m, DIV_ROUND_UP((end - start + 1) >> MSHIFT,
					   31 * 32));
		break;
	case MOCK_SMMU_V3_NORANGE:
		if (!pgsize)
			break;
		for (a = start; a <= end && a >= start; a += pgsize) {
			post_range(m, a, a + pgsize - 1);
			mock_queue(m, 1);
		}
		break;
	}
}

/* The driver's iotlb_sync: one gather, one wait. */
static void mock_iotlb_sync(struct mock_iommu *m, unsigned long start,
			    unsigned long end, size_t pgsize)
{
	unsigned long flags;

	spin_lock_irqsave(&m->lock, flags);
	mock_post(m, start, end, pgsize);
	/* SMMU v2 and virtio wait for what they posted while unmapping. */
	if (m->queued || m->family == MOCK_SMMU_V2 ||
	    m->family == MOCK_VIRTIO)
		mock_wait(m);
	spin_unlock_irqrestore(&m->lock, flags);
}

/* The driver's iotlb_sync_ranges: every gather queued, one wait. */
static void mock_iotlb_sync_ranges(struct mock_iommu *m,
				   const struct iotlb_batch_range *r,
				   unsigned int n)
{
	unsigned long flags;
	unsigned int i;

	spin_lock_irqsave(&m->lock, flags);
	for (i = 0; i < n; i++)
		mock_post(m, r[i].start, r[i].end, r[i].pgsize);
	if (m->queued)
		mock_wait(m);
	if (n > 1)
		m->multi++;
	spin_unlock_irqrestore(&m->lock, flags);
}

/* The driver's flush_iotlb_all: the same on every family. */
static void mock_flush_all(struct mock_iommu *m)
{
	unsigned long flags, i;

	spin_lock_irqsave(&m->lock, flags);
	for (i = 0; i < MNPAGES; i++)
		if (m->stale[i] || m->posted[i])
			mock_clear(m, i);
	m->cmds++;
	m->fulls++;
	m->waits++;
	spin_unlock_irqrestore(&m->lock, flags);
}

/* ---- the safe mode: the batcher's callbacks, as dma-iommu's --------------- */

static void mock_batch_flush_range(struct iotlb_batcher *b,
				   unsigned long start, unsigned long end,
				   size_t pgsize, struct list_head *freelist)
{
	mock_iotlb_sync(to_mock(b), start, end, pgsize);
}

static void mock_batch_flush_ranges(struct iotlb_batcher *b,
				    struct iotlb_batch_range *ranges,
				    unsigned int n)
{
	mock_iotlb_sync_ranges(to_mock(b), ranges, n);
}

static void mock_batch_flush_all(struct iotlb_batcher *b)
{
	mock_flush_all(to_mock(b));
}

static void mock_batch_release(struct iotlb_batcher *b,
			       const struct iotlb_batch_ent *ents,
			       unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++)
		mock_release_iova(to_mock(b), ents[i].iova, ents[i].size);
}

static const struct iotlb_batch_ops mock_batch_ops = {
	.flush_range	= mock_batch_flush_range,
	.flush_all	= mock_batch_flush_all,
	.release	= mock_batch_release,
};

/* As dma-iommu's for a driver with iotlb_sync_ranges. */
static const struct iotlb_batch_ops mock_batch_ranges_ops = {
	.flush_range	= mock_batch_flush_range,
	.flush_ranges	= mock_batch_flush_ranges,
	.flush_all	= mock_batch_flush_all,
	.release	= mock_batch_release,
};

static const struct iotlb_batch_params mock_params = {
	.max_ranges	= 4,
	.max_pages	= 1024,
	.depth		= 16,
	.timeout_ms	= 10000,
};

/* ---- the three modes' unmap ------------------------------------------- */

static void owner_lets_go(struct mock_iommu *m, struct mock_ent *e)
{
	unsigned long flags;

	switch (e->mem) {
	case MEM_PAGE:
		put_page(e->page);	/* the owner's reference */
		break;
	case MEM_SLAB:
	case MEM_NONE:
		/* gone now: nothing may still reach it */
		spin_lock_irqsave(&m->lock, flags);
		e->mem_released = true;
		if (range_stale(m, e->iova, e->size))
			m->bad_mem++;
		spin_unlock_irqrestore(&m->lock, flags);
		kfree(e->obj);
		e->obj = NULL;
		break;
	}
}

static void lazy_flush(struct mock_iommu *m)
{
	unsigned int i;

	if (!m->nr_fq)
		return;
	mock_flush_all(m);
	for (i = 0; i < m->nr_fq; i++)
		mock_release_iova(m, m->ents[m->fq[i]].iova,
				  m->ents[m->fq[i]].size);
	m->nr_fq = 0;
}

static void mock_dma_unmap(struct mock_iommu *m, unsigned int idx)
{
	struct mock_ent *e = &m->ents[idx];
	struct mock_gather g;
	struct iotlb_batch_unmap u;
	bool sync = e->mem == MEM_NONE;

	mock_gather_init(&g);
	switch (m->mode) {
	case MOCK_STRICT:
		mock_unmap(m, idx, &g);
		mock_iotlb_sync(m, g.start, g.end, g.pgsize);
		mock_release_iova(m, e->iova, e->size);
		break;
	case MOCK_LAZY:
		g.queued = true;
		mock_unmap(m, idx, &g);
		if (m->nr_fq == MFQ)
			lazy_flush(m);
		m->fq[m->nr_fq++] = idx;
		break;
	case MOCK_SAFE:
		/* as iommu_dma_unmap_batched() */
		g.queued = iotlb_batch_gather_queued(&m->b, e->size, sync);
		mock_unmap(m, idx, &g);
		u = (struct iotlb_batch_unmap) {
			.iova = e->iova, .size = e->size,
			.start = g.start, .end = g.end, .pgsize = g.pgsize,
			.freelist = &g.freelist,
			.queued = g.queued, .sync = sync,
		};
		if (e->mem == MEM_PAGE) {
			u.phys = page_to_phys(e->page);
			u.len = PAGE_SIZE;
		} else if (e->mem == MEM_SLAB) {
			u.phys = virt_to_phys(e->obj);
			u.len = 64;
		}
		iotlb_batch_unmap(&m->b, &u);
		break;
	}
	owner_lets_go(m, e);
	mock_scan(m);
}

/* ---- the cases ----------------------------------------------------------- */

struct mock_case {
	enum mock_family family;
	enum mock_mode mode;
};

static const struct mock_case mock_cases[] = {
	{ MOCK_SMMU_V2, MOCK_STRICT }, { MOCK_SMMU_V2, MOCK_LAZY }, { MOCK_SMMU_V2, MOCK_SAFE },
	{ MOCK_VTD, MOCK_STRICT }, { MOCK_VTD, MOCK_LAZY }, { MOCK_VTD, MOCK_SAFE },
	{ MOCK_SMMU_V3, MOCK_STRICT }, { MOCK_SMMU_V3, MOCK_LAZY }, { MOCK_SMMU_V3, MOCK_SAFE },
	{ MOCK_SMMU_V3_NORANGE, MOCK_STRICT }, { MOCK_SMMU_V3_NORANGE, MOCK_LAZY },
	{ MOCK_SMMU_V3_NORANGE, MOCK_SAFE },
	{ MOCK_AMD, MOCK_STRICT }, { MOCK_AMD, MOCK_LAZY }, { MOCK_AMD, MOCK_SAFE },
	{ MOCK_VIRTIO, MOCK_STRICT }, { MOCK_VIRTIO, MOCK_LAZY }, { MOCK_VIRTIO, MOCK_SAFE },
};

static void mock_case_desc(const struct mock_case *c, char *desc)
{
	snprintf(desc, KUNIT_PARAM_DESC_SIZE, "%s/%s",
		 families[c->family].name, mode_names[c->mode]);
}

KUNIT_ARRAY_PARAM(mock, mock_cases, mock_case_desc);

static void mock_free(struct mock_iommu *m)
{
	unsigned int i;

	for (i = 0; i < m->nr_ents; i++) {
		if (m->ents[i].mem == MEM_PAGE && m->ents[i].page)
			put_page(m->ents[i].page);	/* the test's */
		kfree(m->ents[i].obj);
	}
	vfree(m->mapped);
	vfree(m->stale);
	vfree(m->posted);
	vfree(m->owner);
}

static void mock_destroy(void *data)
{
	struct mock_iommu *m = data;

	if (m->mode == MOCK_SAFE)
		iotlb_batcher_destroy(&m->b);
	mock_free(m);
}

/* Map the next entry: sizes and memory kinds of a mixed workload. */
static int mock_map_next(struct mock_iommu *m, struct rnd_state *rnd,
			 unsigned long *next, unsigned int *blocks)
{
	struct mock_ent *e = &m->ents[m->nr_ents];
	u32 r = prandom_u32_state(rnd) % 100;
	unsigned long i;

	if (r < 60)
		e->size = MPG;
	else if (r < 95 || *blocks >= MNBLOCKS)
		e->size = (2 + prandom_u32_state(rnd) % 15) * MPG;
	else
		e->size = MBLOCK;
	if (e->size == MBLOCK) {
		*next = ALIGN(*next, MBLOCK);
		(*blocks)++;
	}
	if (pfn_of(*next + e->size) > MNPAGES)
		return -ENOSPC;
	e->iova = *next;
	*next += e->size;

	r = prandom_u32_state(rnd) % 100;
	e->mem = r < 70 ? MEM_PAGE : r < 85 ? MEM_SLAB : MEM_NONE;
	if (e->mem == MEM_PAGE) {
		e->page = alloc_page(GFP_KERNEL);
		if (!e->page)
			return -ENOMEM;
		get_page(e->page);	/* the test's, to watch it */
	} else if (e->mem == MEM_SLAB) {
		e->obj = kmalloc(64, GFP_KERNEL);
		if (!e->obj)
			return -ENOMEM;
	}
	for (i = pfn_of(e->iova); i < pfn_of(e->iova + e->size); i++)
		m->mapped[i] = 1;
	m->nr_ents++;
	return 0;
}

/*
 * A mock domain of @family in @mode, torn down with the test; @ranges:
 * the batcher uses the family's iotlb_sync_ranges, if it has one.
 */
static struct mock_iommu *mock_new_ranges(struct kunit *test,
					  enum mock_family family,
					  enum mock_mode mode, bool ranges)
{
	const struct iotlb_batch_ops *ops = &mock_batch_ops;
	struct mock_iommu *m;

	m = kunit_kzalloc(test, sizeof(*m), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, m);
	m->test = test;
	m->family = family;
	m->fam = &families[family];
	m->mode = mode;
	spin_lock_init(&m->lock);
	m->mapped = vzalloc(MNPAGES);
	m->stale = vzalloc(MNPAGES);
	m->posted = vzalloc(MNPAGES);
	m->owner = vzalloc(MNPAGES * sizeof(*m->owner));
	if (!m->mapped || !m->stale || !m->posted || !m->owner) {
		mock_free(m);
		KUNIT_FAIL_AND_ABORT(test, "out of memory");
	}
	if (m->mode == MOCK_SAFE) {
		/* as iommu_dma_init_safe() */
		if (ranges && m->fam->sync_range && m->fam->sync_ranges)
			ops = &mock_batch_ranges_ops;
		if (iotlb_batcher_init(&m->b, ops, &mock_params, MSHIFT)) {
			mock_free(m);
			KUNIT_FAIL_AND_ABORT(test, "iotlb_batcher_init failed");
		}
		if (m->fam->sync_range) {
			iotlb_batcher_set_range_sync(&m->b,
						     m->fam->pgsize_bitmap);
			iotlb_batcher_set_cost(&m->b, &m->fam->cost);
		}
	}
	KUNIT_ASSERT_EQ(test, kunit_add_action_or_reset(test, mock_destroy, m),
			0);
	return m;
}

static struct mock_iommu *mock_new(struct kunit *test,
				   enum mock_family family, enum mock_mode mode)
{
	return mock_new_ranges(test, family, mode, true);
}

/* Everything unmapped was invalidated before it was released. */
static void mock_expect_safe(struct kunit *test, struct mock_iommu *m)
{
	mock_scan(m);
	KUNIT_EXPECT_EQ(test, m->iovas_released, m->nr_ents);
	KUNIT_EXPECT_EQ(test, m->bad_state, 0);
	KUNIT_EXPECT_EQ(test, m->bad_iova, 0);
	KUNIT_EXPECT_EQ(test, m->bad_mem, 0);
	KUNIT_EXPECT_FALSE(test, range_stale(m, 0, MNPAGES * MPG));
}

/* Map an entry of @size bytes at @iova, backed by @mem. */
static unsigned int mock_map_at(struct kunit *test, struct mock_iommu *m,
				unsigned long iova, size_t size,
				enum mock_mem mem)
{
	struct mock_ent *e = &m->ents[m->nr_ents];
	unsigned long i;

	KUNIT_ASSERT_LT(test, m->nr_ents, MNOPS);
	KUNIT_ASSERT_LE(test, pfn_of(iova + size), MNPAGES);
	/* Counted first, so that the teardown frees what a failure left. */
	m->nr_ents++;
	e->iova = iova;
	e->size = size;
	e->mem = mem;
	if (mem == MEM_PAGE) {
		e->page = alloc_page(GFP_KERNEL);
		KUNIT_ASSERT_NOT_NULL(test, e->page);
		get_page(e->page);	/* the test's, to watch it */
	} else if (mem == MEM_SLAB) {
		e->obj = kmalloc(64, GFP_KERNEL);
		KUNIT_ASSERT_NOT_NULL(test, e->obj);
	}
	for (i = pfn_of(iova); i < pfn_of(iova + size); i++)
		m->mapped[i] = 1;
	return m->nr_ents - 1;
}

static void iotlb_drivers_test_release_order(struct kunit *test)
{
	const struct mock_case *c = test->param_value;
	unsigned long next = 0, done = 0;
	unsigned int i, blocks = 0;
	struct iotlb_batch_stats st0, st1;
	struct rnd_state rnd;
	struct mock_iommu *m = mock_new(test, c->family, c->mode);

	iotlb_batch_read_stats(&st0);

	/* The same workload for every family and mode. */
	prandom_seed_state(&rnd, 0x10771b);
	for (i = 0; i < MNOPS; i++) {
		KUNIT_ASSERT_EQ(test, mock_map_next(m, &rnd, &next, &blocks),
				0);
		/*
		 * Unmap a few behind the mapping, in a shuffled order, so
		 * that batches hold ranges with gaps between them.
		 */
		if (i >= 4) {
			unsigned int j = done + prandom_u32_state(&rnd) % 4;

			if (j != done && j < m->nr_ents)
				swap(m->ents[j], m->ents[done]);
			mock_dma_unmap(m, done++);
		}
	}
	while (done < m->nr_ents)
		mock_dma_unmap(m, done++);

	if (m->mode == MOCK_SAFE)
		iotlb_batch_flush(&m->b);
	else if (m->mode == MOCK_LAZY)
		lazy_flush(m);
	mock_scan(m);

	kunit_info(test,
		   "%u unmaps: %lu commands (%lu full), %lu waits (%lu for several ranges); %u IOVAs, %u buffers released early\n",
		   m->nr_ents, m->cmds, m->fulls, m->waits, m->multi,
		   m->bad_iova, m->bad_mem);
	/*
	 * Every flush of several ranges went to iotlb_sync_ranges, and the
	 * workload leaves several ranges in some batches where a range costs
	 * a command or a few (per-page TLBIs promote them instead).
	 */
	iotlb_batch_read_stats(&st1);
	if (m->mode == MOCK_SAFE && m->fam->sync_ranges) {
		KUNIT_EXPECT_EQ(test, m->multi,
				st1.inv_ranges_calls - st0.inv_ranges_calls);
		if (m->family != MOCK_SMMU_V3_NORANGE)
			KUNIT_EXPECT_GT(test, m->multi, 0);
	}
	KUNIT_EXPECT_EQ(test, m->iovas_released, m->nr_ents);
	KUNIT_EXPECT_EQ(test, m->bad_state, 0);
	KUNIT_EXPECT_EQ_MSG(test, m->bad_iova, 0,
			    "IOVAs released before their invalidation");
	KUNIT_EXPECT_FALSE(test, range_stale(m, 0, MNPAGES * MPG));
	if (m->mode == MOCK_LAZY)
		/* Lazy mode holds no memory: the check must see that. */
		KUNIT_EXPECT_GT_MSG(test, m->bad_mem, 0,
				    "lazy mode showed no early release: the check is blind");
	else
		KUNIT_EXPECT_EQ_MSG(test, m->bad_mem, 0,
				    "memory released before its invalidation");
}

/*
 * The decision itself: where iotlb_sync does not invalidate a range it is
 * handed, a queued gather is only ever followed by a full flush.
 */
static void iotlb_drivers_test_gather_queued(struct kunit *test)
{
	struct iotlb_batcher b;

	KUNIT_ASSERT_EQ(test, iotlb_batcher_init(&b, &mock_batch_ops,
						 &mock_params, MSHIFT), 0);
	/* No range sync: every batched unmap queued, none to sync now. */
	KUNIT_EXPECT_TRUE(test, iotlb_batch_gather_queued(&b, MPG, false));
	KUNIT_EXPECT_TRUE(test, iotlb_batch_gather_queued(&b, MBLOCK, false));
	KUNIT_EXPECT_FALSE(test, iotlb_batch_gather_queued(&b, MPG, true));
	/* Range sync: below the second page size, whatever the caller. */
	iotlb_batcher_set_range_sync(&b, SZ_4K | SZ_2M);
	KUNIT_EXPECT_TRUE(test, iotlb_batch_gather_queued(&b, MPG, false));
	KUNIT_EXPECT_TRUE(test, iotlb_batch_gather_queued(&b, MPG, true));
	KUNIT_EXPECT_TRUE(test, iotlb_batch_gather_queued(&b, MBLOCK - MPG,
							  false));
	KUNIT_EXPECT_FALSE(test, iotlb_batch_gather_queued(&b, MBLOCK, false));
	iotlb_batcher_set_range_sync(&b, SZ_4K);
	KUNIT_EXPECT_TRUE(test, iotlb_batch_gather_queued(&b, SZ_1G, false));
	iotlb_batcher_destroy(&b);
}

/*
 * No range invalidation (SMMUv3 without RANGE_INV): a range costs one TLBI
 * per page. Back-to-back unmaps merge into one range of 128 pages per
 * batch; invalidating it page by page would cost 128 commands where a full
 * flush costs one. A flush must never cost more than a full flush plus
 * IOTLB_BATCH_MAX_PAGE_CMDS.
 */
static void iotlb_drivers_test_cost_per_page(struct kunit *test)
{
	struct mock_iommu *m = mock_new(test, MOCK_SMMU_V3_NORANGE, MOCK_SAFE);
	struct iotlb_batch_stats st0, st1;
	unsigned int i, n = 4 * mock_params.depth, flushes;

	for (i = 0; i < n; i++)
		mock_map_at(test, m, i * 8 * MPG, 8 * MPG, MEM_PAGE);
	iotlb_batch_read_stats(&st0);
	for (i = 0; i < n; i++)
		mock_dma_unmap(m, i);
	iotlb_batch_flush(&m->b);
	iotlb_batch_read_stats(&st1);

	flushes = n / mock_params.depth;
	kunit_info(test, "%u unmaps, %u flushes: %lu commands (%lu full), %lu waits\n",
		   n, flushes, m->cmds, m->fulls, m->waits);
	KUNIT_EXPECT_LE(test, m->cmds,
			flushes * (1 + IOTLB_BATCH_MAX_PAGE_CMDS));
	KUNIT_EXPECT_EQ(test, st1.decision[IOTLB_BATCH_FULL_CMDS] -
			st0.decision[IOTLB_BATCH_FULL_CMDS], flushes);
	KUNIT_EXPECT_EQ(test, st1.decision[IOTLB_BATCH_FULL_PAGES] -
			st0.decision[IOTLB_BATCH_FULL_PAGES], 0);
	mock_expect_safe(test, m);
}

/*
 * Few pages still go by range on the same family: a batch of single-page
 * unmaps of one buffer costs one command, not a full flush.
 */
static void iotlb_drivers_test_cost_per_page_small(struct kunit *test)
{
	struct mock_iommu *m = mock_new(test, MOCK_SMMU_V3_NORANGE, MOCK_SAFE);
	unsigned int i, n = mock_params.depth;

	for (i = 0; i < n; i++)
		mock_map_at(test, m, (i % 4) * MPG + (i / 4) * MBLOCK, MPG,
			    MEM_PAGE);
	for (i = 0; i < n; i++)
		mock_dma_unmap(m, i);
	iotlb_batch_flush(&m->b);
	/* four ranges of four pages, apart: 16 commands, no full flush */
	KUNIT_EXPECT_EQ(test, m->fulls, 0);
	KUNIT_EXPECT_LE(test, m->cmds, IOTLB_BATCH_MAX_PAGE_CMDS);
	mock_expect_safe(test, m);
}

/*
 * AMD invalidates any range with one command: a batch whose pages exceed
 * max_pages is still invalidated by its range, not promoted to a flush of
 * the whole IOTLB.
 */
static void iotlb_drivers_test_cost_one(struct kunit *test)
{
	struct mock_iommu *m = mock_new(test, MOCK_AMD, MOCK_SAFE);
	struct iotlb_batch_stats st0, st1;
	unsigned int i, n = mock_params.depth;
	size_t size = 128 * MPG;

	/* 16 x 128 pages = 2048 > max_pages, in one merged range */
	for (i = 0; i < n; i++)
		mock_map_at(test, m, i * size, size, MEM_PAGE);
	iotlb_batch_read_stats(&st0);
	for (i = 0; i < n; i++)
		mock_dma_unmap(m, i);
	iotlb_batch_flush(&m->b);
	iotlb_batch_read_stats(&st1);

	KUNIT_EXPECT_EQ(test, m->fulls, 0);
	KUNIT_EXPECT_EQ(test, m->cmds, 1);
	KUNIT_EXPECT_EQ(test, m->waits, 1);
	KUNIT_EXPECT_EQ(test, st1.decision[IOTLB_BATCH_FULL_PAGES] -
			st0.decision[IOTLB_BATCH_FULL_PAGES], 0);
	KUNIT_EXPECT_EQ(test, st1.decision[IOTLB_BATCH_RANGES] -
			st0.decision[IOTLB_BATCH_RANGES], 1);
	mock_expect_safe(test, m);
}

/* A mock AMD domain whose batcher keeps one range, as by default. */
static struct mock_iommu *mock_new_amd_one_range(struct kunit *test)
{
	struct iotlb_batch_params p = mock_params;
	struct mock_iommu *m = mock_new(test, MOCK_AMD, MOCK_SAFE);

	iotlb_batcher_destroy(&m->b);
	p.max_ranges = 1;
	p.max_pages = 512;
	KUNIT_ASSERT_EQ(test, iotlb_batcher_init(&m->b, &mock_batch_ops, &p,
						 MSHIFT), 0);
	iotlb_batcher_set_range_sync(&m->b, m->fam->pgsize_bitmap);
	iotlb_batcher_set_cost(&m->b, &m->fam->cost);
	return m;
}

/*
 * AMD's gathers carry no pgsize, except the granule the batcher gives a
 * queued (smaller than 8 KiB) unmap. The hint means nothing to a driver
 * whose range costs one command: a 4 KiB unmap and an abutting 8 KiB one
 * merge into one range, one command, not a full flush.
 */
static void iotlb_drivers_test_cost_one_pgsize(struct kunit *test)
{
	struct mock_iommu *m = mock_new_amd_one_range(test);
	struct iotlb_batch_stats st0, st1;

	mock_map_at(test, m, 0, MPG, MEM_PAGE);
	mock_map_at(test, m, MPG, 2 * MPG, MEM_PAGE);
	KUNIT_EXPECT_TRUE(test, iotlb_batch_gather_queued(&m->b, MPG, false));
	KUNIT_EXPECT_FALSE(test, iotlb_batch_gather_queued(&m->b, 2 * MPG,
							   false));
	iotlb_batch_read_stats(&st0);
	mock_dma_unmap(m, 0);
	mock_dma_unmap(m, 1);
	iotlb_batch_flush(&m->b);
	iotlb_batch_read_stats(&st1);

	kunit_info(test, "%lu commands (%lu full), %lu waits\n", m->cmds,
		   m->fulls, m->waits);
	KUNIT_EXPECT_EQ(test, m->fulls, 0);
	KUNIT_EXPECT_EQ(test, m->cmds, 1);
	KUNIT_EXPECT_EQ(test, st1.merged - st0.merged, 1);
	KUNIT_EXPECT_EQ(test, st1.decision[IOTLB_BATCH_RANGES] -
			st0.decision[IOTLB_BATCH_RANGES], 1);
	mock_expect_safe(test, m);
}

/*
 * Two ranges of one batch far apart (a gap of more than max_pages) on a
 * driver whose range costs one command: joined into one range across the
 * gap, one command, where a full flush would throw away every translation
 * the joined range keeps.
 */
static void iotlb_drivers_test_cost_one_gap(struct kunit *test)
{
	struct mock_iommu *m = mock_new_amd_one_range(test);
	struct iotlb_batch_stats st0, st1;

	mock_map_at(test, m, 0, 2 * MPG, MEM_PAGE);
	mock_map_at(test, m, 1000 * MPG, 2 * MPG, MEM_PAGE);
	iotlb_batch_read_stats(&st0);
	mock_dma_unmap(m, 0);
	mock_dma_unmap(m, 1);
	iotlb_batch_flush(&m->b);
	iotlb_batch_read_stats(&st1);

	KUNIT_EXPECT_EQ(test, m->fulls, 0);
	KUNIT_EXPECT_EQ(test, m->cmds, 1);
	KUNIT_EXPECT_EQ(test, st1.coalesced - st0.coalesced, 1);
	KUNIT_EXPECT_EQ(test, st1.decision[IOTLB_BATCH_FULL_RANGES] -
			st0.decision[IOTLB_BATCH_FULL_RANGES], 0);
	mock_expect_safe(test, m);
}

/*
 * VT-d (second level) turns a range whose aligned block is wider than its
 * largest address mask into a domain-selective flush. Two pages on either
 * side of a 4 MiB boundary need an 8 MiB block, 2^11 pages, above
 * MVTD_MAMV. An
 * unmap to invalidate at once that does so is a full flush, counted as
 * one, and the batch queued before it (any CPU's) is released by it, with
 * no invalidation of its own.
 */
static void iotlb_drivers_test_cost_wide_now(struct kunit *test)
{
	struct mock_iommu *m = mock_new(test, MOCK_VTD, MOCK_SAFE);
	struct iotlb_batch_stats st0, st1;
	unsigned int i, wide;

	for (i = 0; i < 3; i++)
		mock_map_at(test, m, i * 100 * MPG, MPG, MEM_PAGE);
	wide = mock_map_at(test, m, 2 * MBLOCK - MPG, 2 * MPG, MEM_NONE);
	iotlb_batch_read_stats(&st0);
	for (i = 0; i < 3; i++)
		mock_dma_unmap(m, i);
	mock_dma_unmap(m, wide);
	iotlb_batch_flush(&m->b);
	iotlb_batch_read_stats(&st1);

	kunit_info(test, "%lu commands (%lu full), %lu waits\n", m->cmds,
		   m->fulls, m->waits);
	KUNIT_EXPECT_EQ(test, st1.inv_full - st0.inv_full, 1);
	KUNIT_EXPECT_EQ(test, st1.inv_range - st0.inv_range, 0);
	KUNIT_EXPECT_EQ(test, st1.trigger[IOTLB_BATCH_TRIG_COVERED] -
			st0.trigger[IOTLB_BATCH_TRIG_COVERED], 1);
	KUNIT_EXPECT_EQ(test, m->cmds, 1);
	KUNIT_EXPECT_EQ(test, m->fulls, 1);
	mock_expect_safe(test, m);
}

/* The same range, batched: the batch's flush is a full one, counted so. */
static void iotlb_drivers_test_cost_wide_batch(struct kunit *test)
{
	struct mock_iommu *m = mock_new(test, MOCK_VTD, MOCK_SAFE);
	struct iotlb_batch_stats st0, st1;
	unsigned int i;

	for (i = 0; i < 2; i++)
		mock_map_at(test, m, i * 100 * MPG, MPG, MEM_PAGE);
	mock_map_at(test, m, 2 * MBLOCK - MPG, 2 * MPG, MEM_PAGE);
	iotlb_batch_read_stats(&st0);
	for (i = 0; i < 3; i++)
		mock_dma_unmap(m, i);
	iotlb_batch_flush(&m->b);
	iotlb_batch_read_stats(&st1);

	KUNIT_EXPECT_EQ(test, st1.decision[IOTLB_BATCH_FULL_WIDE] -
			st0.decision[IOTLB_BATCH_FULL_WIDE], 1);
	KUNIT_EXPECT_EQ(test, st1.inv_full - st0.inv_full, 1);
	KUNIT_EXPECT_EQ(test, st1.inv_range - st0.inv_range, 0);
	KUNIT_EXPECT_EQ(test, m->cmds, 1);
	KUNIT_EXPECT_EQ(test, m->fulls, 1);
	mock_expect_safe(test, m);
}

/*
 * A flush of n ranges waits once where the driver has iotlb_sync_ranges and
 * n times where it has not (or the batcher is not given it), and every page
 * of every range is invalidated before its IOVA and its page are released.
 */
struct waits_case {
	enum mock_family family;
	bool ranges;
};

static const struct waits_case waits_cases[] = {
	{ MOCK_VTD, true }, { MOCK_VTD, false },
	{ MOCK_SMMU_V3, true }, { MOCK_SMMU_V3, false },
	{ MOCK_SMMU_V3_NORANGE, true }, { MOCK_SMMU_V3_NORANGE, false },
	{ MOCK_AMD, true },
};

static void waits_case_desc(const struct waits_case *c, char *desc)
{
	snprintf(desc, KUNIT_PARAM_DESC_SIZE, "%s/%s",
		 families[c->family].name,
		 c->ranges ? "sync_ranges" : "sync_each");
}

KUNIT_ARRAY_PARAM(waits, waits_cases, waits_case_desc);

static void iotlb_drivers_test_waits(struct kunit *test)
{
	const struct waits_case *c = test->param_value;
	struct mock_iommu *m = mock_new_ranges(test, c->family, MOCK_SAFE,
					       c->ranges);
	unsigned int i, n = mock_params.max_ranges;
	bool one = c->ranges && m->fam->sync_ranges;
	struct iotlb_batch_stats st0, st1;

	/* n ranges of two pages, each in its own 2 MiB block */
	for (i = 0; i < n; i++)
		mock_map_at(test, m, i * MBLOCK + 8 * MPG, 2 * MPG, MEM_PAGE);
	iotlb_batch_read_stats(&st0);
	for (i = 0; i < n; i++)
		mock_dma_unmap(m, i);
	KUNIT_EXPECT_EQ(test, m->waits, 0);
	KUNIT_EXPECT_EQ(test, m->iovas_released, 0);
	iotlb_batch_flush(&m->b);
	iotlb_batch_read_stats(&st1);

	kunit_info(test, "%u ranges: %lu commands, %lu waits\n", n, m->cmds,
		   m->waits);
	KUNIT_EXPECT_EQ(test, st1.decision[IOTLB_BATCH_RANGES] -
			st0.decision[IOTLB_BATCH_RANGES], 1);
	KUNIT_EXPECT_EQ(test, st1.inv_range - st0.inv_range, n);
	KUNIT_EXPECT_EQ(test, st1.inv_ranges_calls - st0.inv_ranges_calls,
			one ? 1 : 0);
	KUNIT_EXPECT_EQ(test, m->fulls, 0);
	KUNIT_EXPECT_EQ(test, m->waits, one ? 1 : n);
	KUNIT_EXPECT_EQ(test, m->multi, one ? 1 : 0);
	mock_expect_safe(test, m);
}

/*
 * VT-d's queue holds 16 descriptors: a flush whose ranges need more waits
 * once more each time it fills, still far fewer times than one per range,
 * and still releases nothing before the last wait.
 */
static void iotlb_drivers_test_waits_vtd_queue(struct kunit *test)
{
	struct iotlb_batch_params p = mock_params;
	struct mock_iommu *m;
	unsigned int i, n = 20;

	m = mock_new(test, MOCK_VTD, MOCK_SAFE);
	/* a batcher that keeps 20 ranges in a batch */
	iotlb_batcher_destroy(&m->b);
	p.max_ranges = n;
	p.depth = n;
	KUNIT_ASSERT_EQ(test, iotlb_batcher_init(&m->b, &mock_batch_ranges_ops,
						 &p, MSHIFT), 0);
	iotlb_batcher_set_range_sync(&m->b, m->fam->pgsize_bitmap);
	iotlb_batcher_set_cost(&m->b, &m->fam->cost);

	for (i = 0; i < n; i++)
		mock_map_at(test, m, i * 64 * MPG, MPG, MEM_PAGE);
	for (i = 0; i < n - 1; i++)
		mock_dma_unmap(m, i);
	KUNIT_EXPECT_EQ(test, m->waits, 0);
	/* the 20th unmap fills the batch: it is flushed */
	mock_dma_unmap(m, n - 1);
	KUNIT_EXPECT_EQ(test, m->cmds, n);
	KUNIT_EXPECT_EQ(test, m->waits, DIV_ROUND_UP(n, MVTD_QI_BATCH));
	KUNIT_EXPECT_EQ(test, m->multi, 1);
	mock_expect_safe(test, m);
}

static struct kunit_case iotlb_drivers_test_cases[] = {
	KUNIT_CASE(iotlb_drivers_test_gather_queued),
	KUNIT_CASE(iotlb_drivers_test_cost_per_page),
	KUNIT_CASE(iotlb_drivers_test_cost_per_page_small),
	KUNIT_CASE(iotlb_drivers_test_cost_one),
	KUNIT_CASE(iotlb_drivers_test_cost_one_pgsize),
	KUNIT_CASE(iotlb_drivers_test_cost_one_gap),
	KUNIT_CASE(iotlb_drivers_test_cost_wide_now),
	KUNIT_CASE(iotlb_drivers_test_cost_wide_batch),
	KUNIT_CASE_PARAM(iotlb_drivers_test_release_order, mock_gen_params),
	KUNIT_CASE_PARAM(iotlb_drivers_test_waits, waits_gen_params),
	KUNIT_CASE(iotlb_drivers_test_waits_vtd_queue),
	{}
};

static struct kunit_suite iotlb_drivers_test_suite = {
	.name = "iotlb_batch_drivers",
	.test_cases = iotlb_drivers_test_cases,
};

kunit_test_suite(iotlb_drivers_test_suite);

MODULE_DESCRIPTION("KUnit tests: invalidation before release on every IOMMU driver family");
MODULE_LICENSE("GPL");
MODULE_IMPORT_NS(EXPORTED_FOR_KUNIT_TESTING);
