// SPDX-License-Identifier: GPL-2.0-only
/*
 * KUnit tests of the IOVA allocator (drivers/iommu/iova.c): the contract
 * its users rely on (dma-iommu's fast path, and alloc_iova()/find_iova()
 * users such as ipu3, ipu6 and tegra-vde), alignment, limits,
 * reservations, exhaustion and recovery, and the coalescing of fast-path
 * extents with its counters, switch and failure paths.
 *
 * The contract cases also build against stock 6.12's iova.c: define
 * IOVA_KUNIT_STOCK and the cases that need the new allocator's counters,
 * validator and test hooks are left out. tools/testing/iova runs this file
 * against both implementations in userspace.
 */

#include <kunit/static_stub.h>
#include <kunit/test.h>
#include <linux/cpumask.h>
#include <linux/iova.h>
#include <linux/log2.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/slab.h>
#include <linux/workqueue.h>

/* Small domains: every pfn of them can be checked. */
#define IOVA_TEST_START		1UL
#define IOVA_TEST_LIMIT		1023UL
/* The top of the 32-bit space in 4 KiB pages, for tests that need room */
#define IOVA_TEST_LIMIT32	((1UL << 20) - 1)

struct iova_test_ctx {
	struct iova_domain iovad;
	bool live;
};

static int iova_test_init(struct kunit *test)
{
	struct iova_test_ctx *ctx;

	ctx = kunit_kzalloc(test, sizeof(*ctx), GFP_KERNEL);
	if (!ctx)
		return -ENOMEM;
	if (iova_cache_get())
		return -ENOMEM;
	test->priv = ctx;
	return 0;
}

static void iova_test_exit(struct kunit *test)
{
	struct iova_test_ctx *ctx = test->priv;

	if (ctx->live)
		put_iova_domain(&ctx->iovad);
	iova_cache_put();
}

/*
 * The test's domain: granule PAGE_SIZE, @start_pfn, per-CPU caches when
 * @rcaches, coalescing on or off (ours only; -1 keeps iova.merge).
 */
static struct iova_domain *iova_test_domain(struct kunit *test,
					    unsigned long start_pfn,
					    bool rcaches, int merge)
{
	struct iova_test_ctx *ctx = test->priv;

	init_iova_domain(&ctx->iovad, PAGE_SIZE, start_pfn);
	ctx->live = true;
#ifndef IOVA_KUNIT_STOCK
	if (merge >= 0)
		iova_domain_set_merge(&ctx->iovad, merge);
#endif
	if (rcaches)
		KUNIT_ASSERT_EQ(test, iova_domain_init_rcaches(&ctx->iovad), 0);
	return &ctx->iovad;
}

/* The domain's invariants hold (CONFIG_IOVA_DEBUG, new allocator only). */
static void iova_test_check(struct kunit *test, struct iova_domain *iovad)
{
#ifndef IOVA_KUNIT_STOCK
	KUNIT_EXPECT_EQ(test, iova_validate(iovad), 0);
#endif
}

/*
 * Drain every per-CPU cache: a request that cannot fit makes
 * alloc_iova_fast() flush the caches before it gives up.
 */
static void iova_test_drain(struct kunit *test, struct iova_domain *iovad,
			    unsigned long limit)
{
	KUNIT_EXPECT_EQ(test, alloc_iova_fast(iovad, limit + 1, limit, true), 0UL);
}

/* ---- alloc_iova_fast() ---------------------------------------------------- */

struct iova_fast_case {
	unsigned long size;
	unsigned long span;	/* pfns really taken: small sizes round up */
	const char *desc;
};

static const struct iova_fast_case iova_fast_cases[] = {
	{ 1, 1, "1 page" },
	{ 2, 2, "2 pages" },
	{ 3, 4, "3 pages round to 4" },
	{ 5, 8, "5 pages round to 8" },
	{ 16, 16, "16 pages" },
	{ 17, 32, "17 pages round to 32" },
	{ 31, 32, "31 pages round to 32" },
	{ 32, 32, "32 pages" },
	/* larger sizes are not rounded, only aligned */
	{ 33, 33, "33 pages stay 33, aligned to 64" },
	{ 64, 64, "64 pages" },
	{ 100, 100, "100 pages stay 100, aligned to 128" },
	{ 257, 257, "257 pages stay 257, aligned to 512" },
	{ 1024, 1024, "1024 pages" },
	{ 1025, 1025, "1025 pages stay 1025, aligned to 2048" },
};

KUNIT_ARRAY_PARAM_DESC(iova_fast, iova_fast_cases, desc);

/*
 * Sizes below 32 pages round up to a power of two, larger ones take
 * exactly their size (as stock iova.c does), every range is naturally
 * aligned to roundup_pow_of_two(size) (dma-iommu's map_sg relies on it),
 * and the rounded tail is really taken.
 */
static void iova_alloc_fast_rounds_and_aligns(struct kunit *test)
{
	const struct iova_fast_case *p = test->param_value;
	unsigned long align = roundup_pow_of_two(p->size);
	struct iova_domain *iovad;
	unsigned long pfn, next;
	int i;

	iovad = iova_test_domain(test, IOVA_TEST_START, true, -1);
	for (i = 0; i < 3; i++) {
		pfn = alloc_iova_fast(iovad, p->size, IOVA_TEST_LIMIT32, false);
		KUNIT_ASSERT_NE(test, pfn, 0UL);
		KUNIT_EXPECT_EQ(test, pfn & (align - 1), 0UL);
		KUNIT_EXPECT_LE(test, pfn + p->span - 1, IOVA_TEST_LIMIT32);
		KUNIT_EXPECT_GE(test, pfn, IOVA_TEST_START);
		KUNIT_EXPECT_NOT_NULL(test, find_iova(iovad, pfn + p->span - 1));
		/* the rest of the aligned block stays free for smaller ranges */
		if (p->span < align)
			KUNIT_EXPECT_NULL(test, find_iova(iovad, pfn + p->span));
		/* a single page never lands in the rounded-up tail */
		next = alloc_iova_fast(iovad, 1, IOVA_TEST_LIMIT32, false);
		KUNIT_ASSERT_NE(test, next, 0UL);
		KUNIT_EXPECT_TRUE(test, next < pfn || next >= pfn + p->span);
		iova_test_check(test, iovad);
	}
}

struct iova_limit_case {
	unsigned long start;
	unsigned long size;
	unsigned long limit;
	unsigned long expect;	/* 0: must fail */
	const char *desc;
};

static const struct iova_limit_case iova_limit_cases[] = {
	{ 1, 1, 1, 1, "limit == start, one page" },
	{ 16, 16, 31, 16, "exactly one aligned fit" },
	{ 16, 16, 30, 0, "one pfn short" },
	{ 16, 9, 31, 16, "rounded 9 -> 16 fits exactly" },
	{ 17, 16, 47, 32, "alignment skips the start" },
	{ 17, 16, 46, 0, "no aligned fit" },
	{ 64, 64, 127, 64, "64 pages at the limit" },
	{ 1, 40, 63, 0, "40 pages need 64-alignment" },
	{ 1, 40, 127, 64, "40 pages at 64" },
};

KUNIT_ARRAY_PARAM_DESC(iova_limit, iova_limit_cases, desc);

/* The limit is inclusive, and failure is reported as 0. */
static void iova_alloc_fast_limit_inclusive(struct kunit *test)
{
	const struct iova_limit_case *p = test->param_value;
	struct iova_domain *iovad;
	unsigned long pfn;

	iovad = iova_test_domain(test, p->start, true, -1);
	pfn = alloc_iova_fast(iovad, p->size, p->limit, true);
	KUNIT_EXPECT_EQ(test, pfn, p->expect);
	if (pfn)
		free_iova_fast(iovad, pfn, p->size);
	iova_test_check(test, iovad);
}

/*
 * Ranges freed into this CPU's cache hold space a request of another size
 * cannot use: with flush_rcache the caches are drained and the retry
 * succeeds. Stock fails the request without flush_rcache; the new
 * allocator drains and retries all the same.
 */
static void iova_alloc_fast_flush_rcache_retries(struct kunit *test)
{
	const unsigned long start = 16, limit = 31;
	unsigned long pfn[16], got;
	struct iova_domain *iovad;
	int i, n;

	iovad = iova_test_domain(test, start, true, -1);
	for (n = 0; n < 16; n++) {
		pfn[n] = alloc_iova_fast(iovad, 1, limit, false);
		if (!pfn[n])
			break;
	}
	KUNIT_ASSERT_EQ(test, n, 16);
	KUNIT_EXPECT_EQ(test, alloc_iova_fast(iovad, 1, limit, false), 0UL);
	for (i = 0; i < n; i++)
		free_iova_fast(iovad, pfn[i], 1);

#ifdef IOVA_KUNIT_STOCK
	KUNIT_EXPECT_EQ(test, alloc_iova_fast(iovad, 2, limit, false), 0UL);
#else
	got = alloc_iova_fast(iovad, 2, limit, false);
	KUNIT_EXPECT_NE(test, got, 0UL);
	if (got)
		free_iova_fast(iovad, got, 2);
	/* the 2-page range went to the cache: drain it again */
#endif
	got = alloc_iova_fast(iovad, 16, limit, true);
	KUNIT_EXPECT_EQ(test, got, start);
	if (got)
		free_iova_fast(iovad, got, 16);
	iova_test_check(test, iovad);
}

/* free_iova_fast() gives the range back: it is the only room and is found. */
static void iova_free_fast_returns_range(struct kunit *test)
{
	const unsigned long limit = 255;
	struct iova_domain *iovad;
	unsigned long pfn, victim = 0, got;
	int n = 0;

	iovad = iova_test_domain(test, IOVA_TEST_START, true, -1);
	/* 3 pages take 4: the space fills up in 4-page slots */
	while ((pfn = alloc_iova_fast(iovad, 3, limit, false))) {
		if (++n == 20)
			victim = pfn;
	}
	KUNIT_ASSERT_NE(test, victim, 0UL);
	KUNIT_EXPECT_EQ(test, alloc_iova_fast(iovad, 4, limit, true), 0UL);
	free_iova_fast(iovad, victim, 3);	/* the caller's unrounded size */
	got = alloc_iova_fast(iovad, 3, limit, true);
	KUNIT_EXPECT_EQ(test, got, victim);
	iova_test_check(test, iovad);
}

/* Filling the space, emptying it and filling it again. */
static void iova_exhaustion_and_recovery(struct kunit *test)
{
	struct iova_domain *iovad;
	unsigned long *pfns, pfn;
	int n = 0, i, round;

	pfns = kunit_kcalloc(test, IOVA_TEST_LIMIT, sizeof(*pfns), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, pfns);
	iovad = iova_test_domain(test, IOVA_TEST_START, true, -1);
	for (round = 0; round < 2; round++) {
		n = 0;
		while (n < IOVA_TEST_LIMIT &&
		       (pfn = alloc_iova_fast(iovad, 1, IOVA_TEST_LIMIT, true)))
			pfns[n++] = pfn;
		KUNIT_EXPECT_EQ(test, n, (int)(IOVA_TEST_LIMIT - IOVA_TEST_START + 1));
		KUNIT_EXPECT_EQ(test, alloc_iova_fast(iovad, 1, IOVA_TEST_LIMIT, true), 0UL);
		KUNIT_EXPECT_NULL(test, alloc_iova(iovad, 1, IOVA_TEST_LIMIT, false));
		iova_test_check(test, iovad);
		for (i = 0; i < n; i++)
			free_iova_fast(iovad, pfns[i], 1);
		iova_test_check(test, iovad);
	}
	/* everything is free again: the largest aligned block fits */
	pfn = alloc_iova_fast(iovad, 512, IOVA_TEST_LIMIT, true);
	KUNIT_EXPECT_EQ(test, pfn, 512UL);
	iova_test_check(test, iovad);
}

/* ---- alloc_iova(), find_iova(), free_iova() ----------------------------- */

struct iova_node_case {
	unsigned long size;
	bool aligned;
	const char *desc;
};

static const struct iova_node_case iova_node_cases[] = {
	{ 1, false, "1 page" },
	{ 3, false, "3 pages, unaligned, not rounded" },
	{ 3, true, "3 pages aligned to 4, not rounded" },
	{ 24, true, "24 pages aligned to 32" },
	{ 33, false, "33 pages" },
	{ 100, true, "100 pages aligned to 128" },
};

KUNIT_ARRAY_PARAM_DESC(iova_node, iova_node_cases, desc);

/*
 * alloc_iova() returns exactly one allocation of exactly @size pfns (ipu3,
 * ipu6 and tegra-vde unmap iova_size() of it), aligned when asked, and
 * find_iova() of any pfn inside returns that very node.
 */
static void iova_alloc_iova_exact_node(struct kunit *test)
{
	const struct iova_node_case *p = test->param_value;
	struct iova *iova[4];
	struct iova_domain *iovad;
	unsigned long fast;
	int i;

	iovad = iova_test_domain(test, IOVA_TEST_START, true, -1);
	for (i = 0; i < ARRAY_SIZE(iova); i++) {
		/* fast-path ranges right next to it must not join it */
		fast = alloc_iova_fast(iovad, p->size, IOVA_TEST_LIMIT32, false);
		KUNIT_EXPECT_NE(test, fast, 0UL);
		iova[i] = alloc_iova(iovad, p->size, IOVA_TEST_LIMIT32, p->aligned);
		KUNIT_ASSERT_NOT_NULL(test, iova[i]);
		KUNIT_EXPECT_EQ(test, iova_size(iova[i]), p->size);
		KUNIT_EXPECT_LE(test, iova[i]->pfn_hi, IOVA_TEST_LIMIT32);
		KUNIT_EXPECT_GE(test, iova[i]->pfn_lo, IOVA_TEST_START);
		if (p->aligned)
			KUNIT_EXPECT_EQ(test, iova[i]->pfn_lo &
					(roundup_pow_of_two(p->size) - 1), 0UL);
		KUNIT_EXPECT_PTR_EQ(test, find_iova(iovad, iova[i]->pfn_lo), iova[i]);
		KUNIT_EXPECT_PTR_EQ(test, find_iova(iovad, iova[i]->pfn_hi), iova[i]);
		KUNIT_EXPECT_PTR_EQ(test, find_iova(iovad, iova[i]->pfn_lo + p->size / 2),
				    iova[i]);
		iova_test_check(test, iovad);
	}
	for (i = 0; i < ARRAY_SIZE(iova); i++) {
		KUNIT_EXPECT_EQ(test, iova_size(iova[i]), p->size);
		__free_iova(iovad, iova[i]);
	}
	iova_test_check(test, iovad);
}

/* find_iova() of space never allocated is NULL; free_iova() of it a no-op. */
static void iova_find_and_free_unallocated(struct kunit *test)
{
	struct iova_domain *iovad;
	struct iova *iova;
	unsigned long lo, hi;

	iovad = iova_test_domain(test, IOVA_TEST_START, true, -1);
	KUNIT_EXPECT_NULL(test, find_iova(iovad, 100));
	free_iova(iovad, 100);
	iova = alloc_iova(iovad, 8, IOVA_TEST_LIMIT, true);
	KUNIT_ASSERT_NOT_NULL(test, iova);
	lo = iova->pfn_lo;
	hi = iova->pfn_hi;
	KUNIT_EXPECT_NULL(test, find_iova(iovad, lo - 1));
	KUNIT_EXPECT_NULL(test, find_iova(iovad, IOVA_TEST_START));
	free_iova(iovad, IOVA_TEST_START);	/* nothing there */
	KUNIT_EXPECT_PTR_EQ(test, find_iova(iovad, lo), iova);
	KUNIT_EXPECT_EQ(test, iova->pfn_lo, lo);
	KUNIT_EXPECT_EQ(test, iova->pfn_hi, hi);
	free_iova(iovad, lo);
	KUNIT_EXPECT_NULL(test, find_iova(iovad, lo));
	KUNIT_EXPECT_NULL(test, find_iova(iovad, hi));
	iova_test_check(test, iovad);
}

/* Limits below 4 GiB are honoured even when all space above is free. */
static void iova_alloc_iova_respects_limit(struct kunit *test)
{
	const unsigned long limit32 = (1UL << (32 - PAGE_SHIFT)) - 1;
	struct iova_domain *iovad;
	struct iova *iova;
	unsigned long limit;

	iovad = iova_test_domain(test, IOVA_TEST_START, true, -1);
	for (limit = 63; limit <= limit32; limit = limit * 4 + 3) {
		iova = alloc_iova(iovad, 16, limit, true);
		KUNIT_ASSERT_NOT_NULL(test, iova);
		KUNIT_EXPECT_LE(test, iova->pfn_hi, limit);
		KUNIT_EXPECT_EQ(test, iova->pfn_lo & 15, 0UL);
	}
	iova = alloc_iova(iovad, 16, 14, true);
	KUNIT_EXPECT_NULL(test, iova);
	iova_test_check(test, iovad);
}

/* ---- reserve_iova() --------------------------------------------------------- */

/*
 * Overlapping reservations are accepted (PCI windows, reserved regions);
 * nothing inside any of them is handed out, and each node returned can be
 * given to __free_iova() once.
 */
static void iova_reserve_overlapping(struct kunit *test)
{
	static const unsigned long r[][2] = {
		{ 100, 199 }, { 150, 249 }, { 120, 130 }, { 90, 260 }, { 500, 500 },
	};
	struct iova *res[ARRAY_SIZE(r)];
	struct iova_domain *iovad;
	unsigned long pfn;
	int i, j, n = 0;

	iovad = iova_test_domain(test, IOVA_TEST_START, true, -1);
	for (i = 0; i < ARRAY_SIZE(r); i++) {
		res[i] = reserve_iova(iovad, r[i][0], r[i][1]);
		KUNIT_ASSERT_NOT_NULL(test, res[i]);
		KUNIT_EXPECT_LE(test, res[i]->pfn_lo, r[i][1]);
		KUNIT_EXPECT_GE(test, res[i]->pfn_hi, r[i][0]);
		iova_test_check(test, iovad);
	}
	for (pfn = 90; pfn <= 260; pfn++)
		KUNIT_EXPECT_NOT_NULL(test, find_iova(iovad, pfn));

	while ((pfn = alloc_iova_fast(iovad, 1, IOVA_TEST_LIMIT, false))) {
		n++;
		for (i = 0; i < ARRAY_SIZE(r); i++)
			KUNIT_EXPECT_TRUE_MSG(test, pfn < r[i][0] || pfn > r[i][1],
					      "pfn %lu inside reservation %d", pfn, i);
	}
	KUNIT_EXPECT_EQ(test, n, (int)(IOVA_TEST_LIMIT - 171 - 1));
	iova_test_check(test, iovad);

	/* the distinct nodes go back with __free_iova() */
	for (i = 0; i < ARRAY_SIZE(r); i++) {
		for (j = 0; j < i; j++)
			if (res[j] == res[i])
				break;
		if (j == i)
			__free_iova(iovad, res[i]);
	}
	iova_test_check(test, iovad);
}

/* A reservation given back with __free_iova() can be allocated. */
static void iova_free_reserved_node(struct kunit *test)
{
	struct iova_domain *iovad;
	struct iova *res, *iova;

	iovad = iova_test_domain(test, IOVA_TEST_START, false, -1);
	res = reserve_iova(iovad, 64, 127);
	KUNIT_ASSERT_NOT_NULL(test, res);
	KUNIT_EXPECT_EQ(test, iova_size(res), 64UL);
	KUNIT_EXPECT_PTR_EQ(test, find_iova(iovad, 100), res);
	KUNIT_EXPECT_NULL(test, alloc_iova(iovad, 64, 127, true));
	__free_iova(iovad, res);
	KUNIT_EXPECT_NULL(test, find_iova(iovad, 100));
	iova = alloc_iova(iovad, 64, 127, true);
	KUNIT_ASSERT_NOT_NULL(test, iova);
	KUNIT_EXPECT_EQ(test, iova->pfn_lo, 64UL);
	iova_test_check(test, iovad);
}

/* ---- domains ---------------------------------------------------------------- */

/* tegra-vde: start_pfn 0, alloc_iova() only, pfn 0 is a valid result. */
static void iova_domain_start_pfn_zero(struct kunit *test)
{
	struct iova_domain *iovad;
	struct iova *iova, *zero = NULL;
	int n = 0;

	iovad = iova_test_domain(test, 0, false, -1);
	KUNIT_EXPECT_EQ(test, iovad->start_pfn, 0UL);
	KUNIT_EXPECT_NE(test, iovad->granule, 0UL);
	while ((iova = alloc_iova(iovad, 1, 63, false))) {
		if (iova->pfn_lo == 0)
			zero = iova;
		n++;
	}
	KUNIT_EXPECT_EQ(test, n, 64);
	KUNIT_ASSERT_NOT_NULL(test, zero);
	KUNIT_EXPECT_PTR_EQ(test, find_iova(iovad, 0), zero);
	__free_iova(iovad, zero);
	KUNIT_EXPECT_NULL(test, find_iova(iovad, 0));
	iova_test_check(test, iovad);
}

/*
 * put_iova_domain() copes with live fast-path ranges, nodes, reservations
 * and cached ranges (KASAN and kmemleak see any leak), and with a domain
 * that never had caches.
 */
static void iova_put_domain_with_live_allocations(struct kunit *test)
{
	struct iova_test_ctx *ctx = test->priv;
	struct iova_domain *iovad;
	unsigned long pfn;
	int i;

	iovad = iova_test_domain(test, IOVA_TEST_START, true, -1);
	for (i = 0; i < 100; i++) {
		pfn = alloc_iova_fast(iovad, 1 + i % 40, IOVA_TEST_LIMIT, false);
		if (pfn && i % 3 == 0)
			free_iova_fast(iovad, pfn, 1 + i % 40);
	}
	KUNIT_EXPECT_NOT_NULL(test, alloc_iova(iovad, 5, IOVA_TEST_LIMIT, false));
	KUNIT_EXPECT_NOT_NULL(test, reserve_iova(iovad, 2, 3));
	put_iova_domain(iovad);
	ctx->live = false;

	iovad = iova_test_domain(test, IOVA_TEST_START, false, -1);
	for (i = 0; i < 10; i++)
		KUNIT_EXPECT_NOT_NULL(test, alloc_iova(iovad, 7, IOVA_TEST_LIMIT, true));
	KUNIT_EXPECT_NOT_NULL(test, reserve_iova(iovad, 2, 3));
}

struct iova_granule_case {
	unsigned long granule;
	const char *desc;
};

static const struct iova_granule_case iova_granule_cases[] = {
	{ PAGE_SIZE, "PAGE_SIZE" },
	{ PAGE_SIZE / 2, "PAGE_SIZE / 2" },
	{ 512, "512 bytes" },
};

KUNIT_ARRAY_PARAM_DESC(iova_granule, iova_granule_cases, desc);

/* The inline helpers dma-iommu uses, for each granule. */
static void iova_granule_helpers(struct kunit *test)
{
	const struct iova_granule_case *p = test->param_value;
	struct iova_test_ctx *ctx = test->priv;
	struct iova_domain *iovad = &ctx->iovad;
	unsigned long shift = ilog2(p->granule);
	dma_addr_t addr = ((dma_addr_t)37 << shift) + 5;
	struct iova *iova;

	init_iova_domain(iovad, p->granule, 1);
	ctx->live = true;
	KUNIT_EXPECT_EQ(test, iova_shift(iovad), shift);
	KUNIT_EXPECT_EQ(test, iova_mask(iovad), p->granule - 1);
	KUNIT_EXPECT_EQ(test, iova_offset(iovad, addr), (size_t)5);
	KUNIT_EXPECT_EQ(test, iova_pfn(iovad, addr), 37UL);
	KUNIT_EXPECT_EQ(test, iova_align(iovad, p->granule + 1), (size_t)(2 * p->granule));
	KUNIT_EXPECT_EQ(test, iova_align_down(iovad, 2 * p->granule - 1), (size_t)p->granule);
	/* 32-bit limit in this granule */
	iova = alloc_iova(iovad, 1, (1UL << (32 - shift)) - 1, false);
	KUNIT_ASSERT_NOT_NULL(test, iova);
	KUNIT_EXPECT_EQ(test, iova_dma_addr(iovad, iova), (dma_addr_t)iova->pfn_lo << shift);
	KUNIT_EXPECT_LE(test, iova_dma_addr(iovad, iova) + p->granule - 1, (dma_addr_t)U32_MAX);
	KUNIT_EXPECT_TRUE(test, is_power_of_2(iova_rcache_range()));
	KUNIT_EXPECT_GE(test, iova_rcache_range(), PAGE_SIZE);
}

/* ---- random operations against a bitmap (slow) --------------------------- */

#define IOVA_RAND_PAGES	4096
#define IOVA_RAND_OPS	20000

struct iova_rand_live {
	unsigned long pfn;
	unsigned long size;
	struct iova *node;	/* alloc_iova(), or NULL for the fast path */
};

/* Pages the fast path takes for @size. */
static unsigned long iova_test_span(unsigned long size)
{
	return size < 32 ? roundup_pow_of_two(size) : size;
}

/*
 * Random fast-path and alloc_iova() traffic over a 4096-page domain; a
 * bitmap of owned pages catches any overlap, every range is checked for
 * alignment and limit, and the domain is validated throughout.
 */
static void iova_random_against_bitmap(struct kunit *test)
{
	struct iova_rand_live *live;
	unsigned long *owned, pfn, size, span, i;
	struct iova_domain *iovad;
	u32 seed = 0x1011a;
	int nr = 0, op, j;

	live = kunit_kcalloc(test, IOVA_RAND_PAGES, sizeof(*live), GFP_KERNEL);
	owned = kunit_kcalloc(test, BITS_TO_LONGS(IOVA_RAND_PAGES), sizeof(long), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, live);
	KUNIT_ASSERT_NOT_NULL(test, owned);
	iovad = iova_test_domain(test, IOVA_TEST_START, true, -1);

	for (op = 0; op < IOVA_RAND_OPS; op++) {
		seed = seed * 1103515245 + 12345;
		if (nr && (nr >= 256 || (seed >> 16) % 2)) {
			j = (seed >> 8) % nr;
			span = live[j].node ? live[j].size : iova_test_span(live[j].size);
			for (i = 0; i < span; i++)
				__clear_bit(live[j].pfn + i, owned);
			if (live[j].node)
				__free_iova(iovad, live[j].node);
			else
				free_iova_fast(iovad, live[j].pfn, live[j].size);
			live[j] = live[--nr];
			continue;
		}
		size = (seed >> 20) % 8 ? 1 + (seed >> 12) % 8 : 1 + (seed >> 12) % 200;
		if ((seed >> 24) % 4) {
			pfn = alloc_iova_fast(iovad, size, IOVA_RAND_PAGES - 1, true);
			if (!pfn)
				continue;
			live[nr].node = NULL;
			span = iova_test_span(size);
			KUNIT_EXPECT_EQ(test, pfn & (roundup_pow_of_two(size) - 1), 0UL);
		} else {
			live[nr].node = alloc_iova(iovad, size, IOVA_RAND_PAGES - 1,
						   (seed >> 4) & 1);
			if (!live[nr].node)
				continue;
			pfn = live[nr].node->pfn_lo;
			span = size;
			KUNIT_EXPECT_EQ(test, iova_size(live[nr].node), size);
		}
		KUNIT_ASSERT_LE(test, pfn + span, (unsigned long)IOVA_RAND_PAGES);
		KUNIT_ASSERT_GE(test, pfn, IOVA_TEST_START);
		for (i = 0; i < span; i++)
			KUNIT_ASSERT_FALSE_MSG(test, __test_and_set_bit(pfn + i, owned),
					       "pfn %lu handed out twice", pfn + i);
		live[nr].pfn = pfn;
		live[nr].size = size;
		nr++;
		if (op % 64 == 0)
			iova_test_check(test, iovad);
	}
	iova_test_check(test, iovad);
}

#ifndef IOVA_KUNIT_STOCK
/* ---- coalescing (the new allocator only) ------------------------------------ */

/* Ranges of this size are beyond the per-CPU caches and pools */
#define IOVA_TEST_UNCACHED	2048UL

/*
 * Ranges beyond the per-CPU caches reach the tree at once: abutting ones
 * join one extent, freeing the middle one splits it.
 */
static void iova_merge_and_split(struct kunit *test)
{
	const unsigned long sz = IOVA_TEST_UNCACHED;
	struct iova_stats st0, st;
	struct iova_domain *iovad;
	unsigned long p[3];
	int i;

	iovad = iova_test_domain(test, IOVA_TEST_START, true, 1);
	iova_domain_stats(iovad, &st0);
	for (i = 0; i < 3; i++) {
		p[i] = alloc_iova_fast(iovad, sz, IOVA_TEST_LIMIT32, false);
		KUNIT_ASSERT_NE(test, p[i], 0UL);
		iova_test_check(test, iovad);
	}
	KUNIT_EXPECT_EQ(test, p[1] + sz, p[0]);
	KUNIT_EXPECT_EQ(test, p[2] + sz, p[1]);
	iova_domain_stats(iovad, &st);
	KUNIT_EXPECT_EQ(test, st.extents, st0.extents + 1);
	KUNIT_EXPECT_EQ(test, st.merges - st0.merges, 2UL);
	KUNIT_EXPECT_EQ(test, st.allocs_live, 3UL);
	KUNIT_EXPECT_EQ(test, st.pages_live, 3 * sz);

	free_iova_fast(iovad, p[1], sz);
	iova_test_check(test, iovad);
	iova_domain_stats(iovad, &st);
	KUNIT_EXPECT_EQ(test, st.splits - st0.splits, 1UL);
	KUNIT_EXPECT_EQ(test, st.extents, st0.extents + 2);
	KUNIT_EXPECT_NULL(test, find_iova(iovad, p[1]));

	free_iova_fast(iovad, p[0], sz);
	free_iova_fast(iovad, p[2], sz);
	iova_test_check(test, iovad);
	iova_domain_stats(iovad, &st);
	KUNIT_EXPECT_EQ(test, st.extents, st0.extents);
	KUNIT_EXPECT_EQ(test, st.allocs_live, 0UL);
	KUNIT_EXPECT_EQ(test, st.pages_live, 0UL);
}

struct iova_mismatch_case {
	unsigned long size;
	unsigned long off;
	unsigned long bad;
	int merge;
	const char *desc;
};

static const struct iova_mismatch_case iova_mismatch_cases[] = {
	{ IOVA_TEST_UNCACHED, 0, 2 * IOVA_TEST_UNCACHED, 1, "twice the size, merged" },
	{ IOVA_TEST_UNCACHED, 0, 2 * IOVA_TEST_UNCACHED, 0, "twice the size, unmerged" },
	{ IOVA_TEST_UNCACHED, IOVA_TEST_UNCACHED / 2, IOVA_TEST_UNCACHED / 2, 1,
	  "the upper half" },
	{ 4, 0, 8, 1, "a cached size, twice over" },
	{ 4, 2, 2, 1, "a cached size, from its middle" },
	{ 64, 0, 32, 1, "half a cached size" },
};

KUNIT_ARRAY_PARAM_DESC(iova_mismatch, iova_mismatch_cases, desc);

/*
 * free_iova_fast() of a start or size that is not an allocation's frees
 * nothing (and warns once): two abutting ranges a and b, b freed with a
 * wrong size or start, must both stay allocated.
 */
static void iova_free_fast_mismatched(struct kunit *test)
{
	const struct iova_mismatch_case *p = test->param_value;
	struct iova_domain *iovad;
	struct iova_stats st0, st;
	unsigned long a, b, q;

	iovad = iova_test_domain(test, IOVA_TEST_START, true, p->merge);
	a = alloc_iova_fast(iovad, p->size, IOVA_TEST_LIMIT32, false);
	b = alloc_iova_fast(iovad, p->size, IOVA_TEST_LIMIT32, false);
	KUNIT_ASSERT_NE(test, a, 0UL);
	KUNIT_ASSERT_EQ(test, b, a - p->size);
	iova_domain_stats(iovad, &st0);
	free_iova_fast(iovad, b + p->off, p->bad);
	iova_test_check(test, iovad);
	iova_domain_stats(iovad, &st);
	KUNIT_EXPECT_EQ(test, st.allocs_live, st0.allocs_live);
	KUNIT_EXPECT_EQ(test, st.pages_live, st0.pages_live);
	/* neither a nor b is handed out again */
	q = alloc_iova_fast(iovad, p->size, IOVA_TEST_LIMIT32, false);
	KUNIT_EXPECT_LE(test, q + p->size, b);
	free_iova_fast(iovad, q, p->size);
	q = alloc_iova_fast(iovad, p->bad, IOVA_TEST_LIMIT32, false);
	KUNIT_EXPECT_LE(test, q + p->bad, b);
	free_iova_fast(iovad, q, p->bad);
	free_iova_fast(iovad, a, p->size);
	free_iova_fast(iovad, b, p->size);
	iova_test_check(test, iovad);
	iova_domain_stats(iovad, &st);
	KUNIT_EXPECT_EQ(test, st.allocs_live, 0UL);
}

struct iova_stale_case {
	bool other;
	const char *desc;
};

static const struct iova_stale_case iova_stale_cases[] = {
	{ false, "the extent a free found" },
	{ true, "the block a free found, another extent seen since" },
};

KUNIT_ARRAY_PARAM_DESC(iova_stale, iova_stale_cases, desc);

#define IOVA_STALE_TRIES	64

/*
 * What a CPU remembers of the frees it checked vouches for nothing once
 * that space went back to the tree: a one-page range a is freed (and so
 * checked), all caches are drained to the tree, two-page ranges are taken
 * until one, c, holds a; free_iova_fast(a, 1) is then a mismatched free of
 * c, which must stay allocated. With @other, a second one-page range of
 * another extent is freed after a, so that only a's block still tells of a.
 */
static void iova_free_fast_stale_record(struct kunit *test)
{
	const struct iova_stale_case *p = test->param_value;
	unsigned long a, d = 0, x = 0, c[IOVA_STALE_TRIES], q;
	struct iova_domain *iovad;
	struct iova_stats st0, st;
	unsigned int i, n, hit = IOVA_STALE_TRIES;

	iovad = iova_test_domain(test, IOVA_TEST_START, true, 1);
	a = alloc_iova_fast(iovad, 1, IOVA_TEST_LIMIT32, false);
	KUNIT_ASSERT_NE(test, a, 0UL);
	if (p->other) {
		/* a range of another unit between a and d keeps them apart */
		x = alloc_iova_fast(iovad, 4, IOVA_TEST_LIMIT32, false);
		d = alloc_iova_fast(iovad, 1, IOVA_TEST_LIMIT32, false);
		KUNIT_ASSERT_NE(test, x, 0UL);
		KUNIT_ASSERT_NE(test, d, 0UL);
	}
	free_iova_fast(iovad, a, 1);
	if (p->other) {
		free_iova_fast(iovad, d, 1);
		free_iova_fast(iovad, x, 4);
	}
	iova_test_drain(test, iovad, IOVA_TEST_LIMIT32);
	for (n = 0; n < IOVA_STALE_TRIES && hit == IOVA_STALE_TRIES; n++) {
		c[n] = alloc_iova_fast(iovad, 2, IOVA_TEST_LIMIT32, false);
		KUNIT_ASSERT_NE(test, c[n], 0UL);
		if (c[n] <= a && a <= c[n] + 1)
			hit = n;
	}
	KUNIT_ASSERT_LT(test, hit, IOVA_STALE_TRIES);
	/*
	 * A large range cached gives the drained cache room again, and
	 * changes nothing a free remembered of small ranges.
	 */
	q = alloc_iova_fast(iovad, 64, IOVA_TEST_LIMIT32, false);
	KUNIT_ASSERT_NE(test, q, 0UL);
	free_iova_fast(iovad, q, 64);
	iova_domain_stats(iovad, &st0);
	free_iova_fast(iovad, a, 1);
	iova_domain_stats(iovad, &st);
	KUNIT_EXPECT_EQ(test, st.pages_live, st0.pages_live);
	q = alloc_iova_fast(iovad, 1, IOVA_TEST_LIMIT32, false);
	KUNIT_EXPECT_TRUE(test, q < c[hit] || q > c[hit] + 1);
	if (q)
		free_iova_fast(iovad, q, 1);
	for (i = 0; i < n; i++)
		free_iova_fast(iovad, c[i], 2);
	iova_test_check(test, iovad);
	iova_domain_stats(iovad, &st);
	KUNIT_EXPECT_EQ(test, st.allocs_live, 0UL);
}

struct iova_merge_case {
	int merge;
	unsigned long extents;
	const char *desc;
};

static const struct iova_merge_case iova_merge_cases[] = {
	{ 1, 1, "merge on: one extent" },
	{ 0, 100, "merge off: one node each" },
};

KUNIT_ARRAY_PARAM_DESC(iova_merge, iova_merge_cases, desc);

/* The switch both ways: 100 abutting ranges become 1 node or 100. */
static void iova_merge_switch(struct kunit *test)
{
	const struct iova_merge_case *p = test->param_value;
	struct iova_domain *iovad;
	struct iova_stats st;
	unsigned long pfn;
	int i;

	iovad = iova_test_domain(test, IOVA_TEST_START, true, p->merge);
	for (i = 0; i < 100; i++) {
		pfn = alloc_iova_fast(iovad, 64, IOVA_TEST_LIMIT32, false);
		KUNIT_ASSERT_NE(test, pfn, 0UL);
	}
	iova_test_check(test, iovad);
	iova_domain_stats(iovad, &st);
	KUNIT_EXPECT_EQ(test, st.extents, p->extents);
	KUNIT_EXPECT_EQ(test, st.merges, p->merge ? 99UL : 0UL);
	KUNIT_EXPECT_EQ(test, st.allocs_live, 100UL);
}

struct iova_param_case {
	const char *val;
	int ret;
	bool result;
	const char *desc;
};

static const struct iova_param_case iova_param_cases[] = {
	{ "0", 0, false, "0 turns merging off" },
	{ "1", 0, true, "1 turns it on" },
	{ "n", 0, false, "n" },
	{ "Y", 0, true, "Y" },
	{ "bogus", -EINVAL, true, "a bad value keeps the old one" },
	{ "", -EINVAL, true, "empty keeps the old one" },
};

KUNIT_ARRAY_PARAM_DESC(iova_param, iova_param_cases, desc);

/* iova.merge= parses like iommu.strict=; bad values warn and change nothing. */
static void iova_merge_param_parses(struct kunit *test)
{
	const struct iova_param_case *p = test->param_value;
	bool flag = true;
	struct kernel_param kp = { .name = "merge", .arg = &flag };

	KUNIT_EXPECT_EQ(test, iova_merge_param_ops.set(p->val, &kp), p->ret);
	KUNIT_EXPECT_EQ(test, flag, p->result);
}

/*
 * Node allocations fail while ranges are freed from the middle of an
 * extent: every free happens at once with a node the extent banked when
 * it grew, so nothing is lost, nothing waits, and each hole comes back.
 */
static void iova_split_without_memory(struct kunit *test)
{
	const unsigned long sz = IOVA_TEST_UNCACHED;
	struct iova_domain *iovad;
	struct iova_stats st;
	unsigned long p[40], got;
	int i;

	iovad = iova_test_domain(test, IOVA_TEST_START, true, 1);
	for (i = 0; i < ARRAY_SIZE(p); i++) {
		p[i] = alloc_iova_fast(iovad, sz, IOVA_TEST_LIMIT32, false);
		KUNIT_ASSERT_NE(test, p[i], 0UL);
	}
	iova_inject_node_failures(iovad, UINT_MAX);
	for (i = 1; i + 1 < ARRAY_SIZE(p); i += 2) {
		free_iova_fast(iovad, p[i], sz);
		iova_test_check(test, iovad);
	}
	iova_domain_stats(iovad, &st);
	KUNIT_EXPECT_EQ(test, st.lost, 0UL);
	KUNIT_EXPECT_EQ(test, st.pages_live, (ARRAY_SIZE(p) / 2 + 1) * sz);
	/* nor does freeing the rest need memory */
	for (i = 0; i < ARRAY_SIZE(p); i += 2)
		free_iova_fast(iovad, p[i], sz);
	free_iova_fast(iovad, p[ARRAY_SIZE(p) - 1], sz);
	iova_inject_node_failures(iovad, 0);
	iova_test_check(test, iovad);
	iova_domain_stats(iovad, &st);
	KUNIT_EXPECT_EQ(test, st.lost, 0UL);
	KUNIT_EXPECT_EQ(test, st.pages_live, 0UL);
	KUNIT_EXPECT_EQ(test, st.banked, 0UL);
	/* the whole space is one free range again */
	got = alloc_iova_fast(iovad, IOVA_TEST_LIMIT32 + 1, IOVA_TEST_LIMIT32, true);
	KUNIT_EXPECT_EQ(test, got, 0UL);
	got = alloc_iova_fast(iovad, (IOVA_TEST_LIMIT32 + 1) / 2, IOVA_TEST_LIMIT32,
			      false);
	KUNIT_EXPECT_EQ(test, got, (IOVA_TEST_LIMIT32 + 1) / 2);
	if (got)
		free_iova_fast(iovad, got, (IOVA_TEST_LIMIT32 + 1) / 2);
	iova_test_check(test, iovad);
}

/* A NIC's boot: 30,000 single-page mappings stay a handful of nodes. */
static void iova_many_pages_few_nodes(struct kunit *test)
{
	const unsigned long n = 30000;
	struct iova_domain *iovad;
	struct iova_stats st;
	unsigned long i;

	iovad = iova_test_domain(test, IOVA_TEST_START, true, 1);
	for (i = 0; i < n; i++)
		KUNIT_ASSERT_NE(test, alloc_iova_fast(iovad, 1, IOVA_TEST_LIMIT32, true), 0UL);
	iova_test_check(test, iovad);
	iova_domain_stats(iovad, &st);
	KUNIT_EXPECT_LE(test, st.extents, 16UL);
	KUNIT_EXPECT_EQ(test, st.allocs_live, n);
	KUNIT_EXPECT_EQ(test, st.pages_live, n);
}

/* ---- per-CPU pools (the new allocator only) ------------------------------ */

/* Pages of one pool chunk: IOVA_CHUNK_PAGES of iova.c */
#define IOVA_TEST_CHUNK		4096UL

/* A domain with per-CPU pools, whatever iova.pools says. */
static struct iova_domain *iova_test_pool_domain(struct kunit *test,
						 unsigned long start_pfn)
{
	struct iova_test_ctx *ctx = test->priv;

	init_iova_domain(&ctx->iovad, PAGE_SIZE, start_pfn);
	ctx->live = true;
	iova_domain_set_pools(&ctx->iovad, true);
	KUNIT_ASSERT_EQ(test, iova_domain_init_rcaches(&ctx->iovad), 0);
	return &ctx->iovad;
}

/*
 * Two CPUs to play "this CPU" and "another CPU": the first two online
 * ones, or the only one twice (UML). Work for one of them runs there
 * through work_on_cpu(), so that the allocator's per-CPU state is that
 * CPU's whatever CPU the test itself runs on.
 */
static void iova_test_two_cpus(unsigned int *a, unsigned int *b)
{
	unsigned int cpu, n = 0;

	*a = 0;
	*b = 0;
	for_each_online_cpu(cpu) {
		if (n++ == 0) {
			*a = cpu;
			*b = cpu;
		} else {
			*b = cpu;
			break;
		}
	}
}

struct iova_test_job {
	struct iova_domain *iovad;
	unsigned long size;
	unsigned long limit;
	bool flush;
	unsigned long *pfns;
	unsigned long nr;	/* allocate up to nr, or free pfns[first..nr) */
	unsigned long first;
	unsigned long step;
	unsigned long done;
};

/* Allocate until job->nr ranges are held or an allocation fails. */
static long iova_test_alloc_job(void *arg)
{
	struct iova_test_job *job = arg;
	unsigned long pfn;

	while (job->done < job->nr) {
		pfn = alloc_iova_fast(job->iovad, job->size, job->limit, job->flush);
		if (!pfn)
			break;
		job->pfns[job->done++] = pfn;
	}
	return 0;
}

/* Free pfns[first], pfns[first + step], ... below nr. */
static long iova_test_free_job(void *arg)
{
	struct iova_test_job *job = arg;
	unsigned long i;

	for (i = job->first; i < job->nr; i += job->step ?: 1) {
		free_iova_fast(job->iovad, job->pfns[i], job->size);
		job->done++;
	}
	return 0;
}

static void iova_test_on_cpu(struct kunit *test, unsigned int cpu,
			     long (*fn)(void *), struct iova_test_job *job)
{
	job->done = 0;
	KUNIT_ASSERT_EQ(test, work_on_cpu(cpu, fn, job), 0L);
}

/* Steady state: job->first times, free the oldest range, allocate anew. */
static long iova_test_ring_job(void *arg)
{
	struct iova_test_job *job = arg;
	unsigned long i, k;

	for (k = 0; k < job->first; k++) {
		i = k % job->nr;
		free_iova_fast(job->iovad, job->pfns[i], job->size);
		job->pfns[i] = alloc_iova_fast(job->iovad, job->size, job->limit,
					       job->flush);
		if (!job->pfns[i])
			return -ENOSPC;
		job->done++;
	}
	return 0;
}

/*
 * A CPU's first fast-path range takes one chunk from the domain's tree
 * (one shared-lock acquisition); the next ones come from that chunk
 * without the shared lock; a full chunk takes another. A steady stream
 * of frees and allocations then takes no shared lock at all, and once
 * everything was freed the same ranges fit in the same two chunks.
 */
static void iova_pool_refill_from_tree(struct kunit *test)
{
	const unsigned long sz = 64, per_chunk = IOVA_TEST_CHUNK / sz;
	struct iova_test_job job = { .size = sz, .limit = IOVA_TEST_LIMIT32 };
	struct iova_stats st0, st;
	struct iova_domain *iovad;
	unsigned int a, b;

	iova_test_two_cpus(&a, &b);
	iovad = iova_test_pool_domain(test, IOVA_TEST_START);
	job.iovad = iovad;
	job.pfns = kunit_kcalloc(test, per_chunk + 1, sizeof(*job.pfns), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, job.pfns);
	iova_domain_stats(iovad, &st0);
	KUNIT_EXPECT_EQ(test, st0.chunk_refills, 0UL);
	KUNIT_EXPECT_EQ(test, st0.pool_pages, 0UL);

	job.nr = per_chunk;
	iova_test_on_cpu(test, a, iova_test_alloc_job, &job);
	KUNIT_ASSERT_EQ(test, job.done, per_chunk);
	iova_domain_stats(iovad, &st);
	KUNIT_EXPECT_EQ(test, st.chunk_refills, 1UL);
	KUNIT_EXPECT_EQ(test, st.pool_pages, IOVA_TEST_CHUNK);
	KUNIT_EXPECT_EQ(test, st.pool_allocs, per_chunk);
	KUNIT_EXPECT_EQ(test, st.shared_locks - st0.shared_locks, 1UL);
	KUNIT_EXPECT_EQ(test, st.allocs_live, per_chunk);
	iova_test_check(test, iovad);

	/* the chunk is full: one more range takes a second chunk */
	job.nr = 1;
	job.pfns += per_chunk;
	iova_test_on_cpu(test, a, iova_test_alloc_job, &job);
	job.pfns -= per_chunk;
	KUNIT_ASSERT_EQ(test, job.done, 1UL);
	iova_domain_stats(iovad, &st);
	KUNIT_EXPECT_EQ(test, st.chunk_refills, 2UL);
	KUNIT_EXPECT_EQ(test, st.pool_pages, 2 * IOVA_TEST_CHUNK);
	KUNIT_EXPECT_EQ(test, st.shared_locks - st0.shared_locks, 2UL);
	KUNIT_EXPECT_EQ(test, st.pages_live, (per_chunk + 1) * sz);
	iova_test_check(test, iovad);

	/* steady state: ten rounds of free-oldest-then-allocate, no shared lock */
	job.nr = per_chunk + 1;
	job.first = 10 * job.nr;
	iova_test_on_cpu(test, a, iova_test_ring_job, &job);
	KUNIT_EXPECT_EQ(test, job.done, job.first);
	iova_domain_stats(iovad, &st0);
	KUNIT_EXPECT_EQ(test, st0.shared_locks - st.shared_locks, 0UL);
	KUNIT_EXPECT_EQ(test, st0.chunk_refills, 2UL);
	KUNIT_EXPECT_EQ(test, st0.pages_live, (per_chunk + 1) * sz);
	iova_test_check(test, iovad);

	/* all freed and allocated again: the same two chunks serve */
	job.first = 0;
	job.step = 1;
	iova_test_on_cpu(test, a, iova_test_free_job, &job);
	iova_domain_stats(iovad, &st);
	KUNIT_EXPECT_EQ(test, st.allocs_live, 0UL);
	KUNIT_EXPECT_EQ(test, st.pages_live, 0UL);
	iova_test_check(test, iovad);
	iova_test_on_cpu(test, a, iova_test_alloc_job, &job);
	KUNIT_EXPECT_EQ(test, job.done, per_chunk + 1);
	iova_domain_stats(iovad, &st);
	KUNIT_EXPECT_EQ(test, st.pool_pages, 2 * IOVA_TEST_CHUNK);
	KUNIT_EXPECT_LE(test, st.shared_locks - st0.shared_locks, 2UL);
	KUNIT_EXPECT_EQ(test, st.chunk_refills - st0.chunk_refills,
			st.chunk_returns - st0.chunk_returns);
	iova_test_check(test, iovad);
}

/*
 * A domain of exactly one chunk, all of it in CPU a's pool: once a has
 * filled it and another CPU b has freed half of it (into b's cache, or
 * home to a's pool as remote frees) and b's cache has sent what it holds
 * home, b can allocate the freed half, even without flush_rcache, and no
 * more: b's pool has no room and the tree has no chunk for it, so the
 * ranges come from a's pool. Then all is freed and a range as large as
 * the domain, which only the tree can give, needs the pools to give their
 * space back.
 */
static void iova_pool_steal_from_other_cpu(struct kunit *test)
{
	const unsigned long sz = 64, n = IOVA_TEST_CHUNK / sz;
	const unsigned long start = IOVA_TEST_CHUNK, limit = 2 * IOVA_TEST_CHUNK - 1;
	struct iova_test_job ja = { .size = sz, .limit = limit, .flush = true };
	struct iova_test_job jb = { .size = sz, .limit = limit };
	unsigned long i, slot, got, seen = 0;
	struct iova_stats st0, st;
	struct iova_domain *iovad;
	unsigned int a, b;

	iova_test_two_cpus(&a, &b);
	kunit_info(test, "filling on CPU %u, stealing on CPU %u\n", a, b);
	iovad = iova_test_pool_domain(test, start);
	ja.iovad = iovad;
	jb.iovad = iovad;
	ja.pfns = kunit_kcalloc(test, n + 1, sizeof(*ja.pfns), GFP_KERNEL);
	jb.pfns = kunit_kcalloc(test, n + 1, sizeof(*jb.pfns), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, ja.pfns);
	KUNIT_ASSERT_NOT_NULL(test, jb.pfns);

	ja.nr = n + 1;
	iova_test_on_cpu(test, a, iova_test_alloc_job, &ja);
	KUNIT_ASSERT_EQ(test, ja.done, n);
	iova_domain_stats(iovad, &st);
	KUNIT_EXPECT_EQ(test, st.chunk_refills, 1UL);
	KUNIT_EXPECT_EQ(test, st.pool_pages, IOVA_TEST_CHUNK);

	/* the other CPU frees every second range */
	ja.first = 1;
	ja.step = 2;
	ja.nr = n;
	iova_test_on_cpu(test, b, iova_test_free_job, &ja);
	/* each went to b's cache, or home to a's pool as a remote free */
	iova_domain_stats(iovad, &st);
	if (a != b)
		KUNIT_EXPECT_EQ(test, st.cached + st.remote_frees, n / 2);
	else
		KUNIT_EXPECT_TRUE(test, st.cached == 0 || st.cached == n / 2);
	KUNIT_EXPECT_EQ(test, st.allocs_live, n / 2);
	iova_test_check(test, iovad);

	/*
	 * b's cache sends its ranges home. (With one CPU, a's pool gives its
	 * free space to the tree too, which then serves b.)
	 */
	iova_domain_cpu_dead(iovad, b);
	iova_domain_stats(iovad, &st0);
	KUNIT_EXPECT_EQ(test, st0.cached, 0UL);
	KUNIT_EXPECT_EQ(test, st0.allocs_live, n / 2);

	jb.nr = n + 1;
	iova_test_on_cpu(test, b, iova_test_alloc_job, &jb);
	KUNIT_EXPECT_EQ(test, jb.done, n / 2);
	for (i = 0; i < jb.done; i++) {
		got = jb.pfns[i];
		KUNIT_ASSERT_GE(test, got, start);
		KUNIT_ASSERT_LE(test, got + sz - 1, limit);
		KUNIT_EXPECT_EQ(test, got % sz, 0UL);
		/* a's ranges were handed out top down: slot i is pfns[i] */
		slot = (limit + 1 - got) / sz - 1;
		KUNIT_EXPECT_EQ_MSG(test, slot % 2, 1UL, "pfn %#lx was not freed", got);
		seen |= 1UL << (slot / 2 % BITS_PER_LONG);
	}
	KUNIT_EXPECT_EQ(test, (unsigned long)hweight_long(seen),
			min(n / 2, (unsigned long)BITS_PER_LONG));
	iova_domain_stats(iovad, &st);
	KUNIT_EXPECT_EQ(test, st.chunk_refills, 1UL);
	KUNIT_EXPECT_EQ(test, st.allocs_live, n);
	if (a != b)
		KUNIT_EXPECT_EQ(test, st.pool_allocs - st0.pool_allocs, n / 2);
	iova_test_check(test, iovad);

	/*
	 * All free again, but held by a's pool: a request that does not fit
	 * otherwise takes it back, with or without flush_rcache.
	 */
	ja.first = 0;
	ja.step = 2;
	iova_test_on_cpu(test, b, iova_test_free_job, &ja);
	jb.first = 0;
	jb.step = 1;
	jb.nr = n / 2;
	iova_test_on_cpu(test, b, iova_test_free_job, &jb);
	iova_domain_stats(iovad, &st);
	KUNIT_EXPECT_EQ(test, st.allocs_live, 0UL);
	KUNIT_EXPECT_EQ(test, alloc_iova_fast(iovad, IOVA_TEST_CHUNK, limit, false), start);
	iova_domain_stats(iovad, &st);
	KUNIT_EXPECT_EQ(test, st.pool_pages, 0UL);
	KUNIT_EXPECT_GE(test, st.chunk_returns, 1UL);
	iova_test_check(test, iovad);
}

/*
 * Two chunks' worth of single pages, all allocated on CPU a and freed on
 * CPU b: b's cache keeps some of them and a's pool the rest. A range the
 * size of the whole domain fails without flush_rcache and succeeds with
 * it; after that the domain fills up exactly as the first time.
 */
static void iova_pool_exhaustion_and_recovery(struct kunit *test)
{
	const unsigned long n = 2 * IOVA_TEST_CHUNK;
	const unsigned long start = n, limit = 2 * n - 1;
	struct iova_test_job job = { .size = 1, .limit = limit, .flush = true };
	struct iova_domain *iovad;
	struct iova_stats st;
	unsigned int a, b;
	int round;

	iova_test_two_cpus(&a, &b);
	iovad = iova_test_pool_domain(test, start);
	job.iovad = iovad;
	job.pfns = kunit_kcalloc(test, n + 1, sizeof(*job.pfns), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, job.pfns);

	for (round = 0; round < 2; round++) {
		job.nr = n + 1;
		iova_test_on_cpu(test, a, iova_test_alloc_job, &job);
		KUNIT_ASSERT_EQ(test, job.done, n);
		iova_domain_stats(iovad, &st);
		KUNIT_EXPECT_EQ(test, st.pages_live, n);
		KUNIT_EXPECT_EQ(test, st.pool_pages, n);
		KUNIT_EXPECT_EQ(test, alloc_iova_fast(iovad, 1, limit, true), 0UL);
		KUNIT_EXPECT_NULL(test, alloc_iova(iovad, 1, limit, false));
		iova_test_check(test, iovad);

		job.first = 0;
		job.step = 1;
		job.nr = n;
		iova_test_on_cpu(test, b, iova_test_free_job, &job);
		iova_domain_stats(iovad, &st);
		KUNIT_EXPECT_EQ(test, st.allocs_live, 0UL);
		KUNIT_EXPECT_GT(test, st.cached, 0UL);
		iova_test_check(test, iovad);

		/* cached and pooled space comes back even without a flush */
		KUNIT_ASSERT_EQ(test, alloc_iova_fast(iovad, n, limit, false), start);
		iova_domain_stats(iovad, &st);
		KUNIT_EXPECT_EQ(test, st.cached, 0UL);
		KUNIT_EXPECT_EQ(test, st.pool_pages, 0UL);
		KUNIT_EXPECT_EQ(test, st.pages_live, n);
		iova_test_check(test, iovad);
		free_iova_fast(iovad, start, n);
	}
}

/*
 * The CPU hotplug teardown of a CPU gives its cached ranges back and all
 * the free space of its pool, keeping only the pages of live allocations;
 * once those are freed too, a second teardown leaves the pool empty and
 * the whole space is the tree's again.
 */
static void iova_pool_cpu_dead_returns_space(struct kunit *test)
{
	const unsigned long big = 64, nbig = 10, nsmall = 100;
	struct iova_test_job small = { .size = 1, .limit = IOVA_TEST_LIMIT32 };
	struct iova_test_job large = { .size = big, .limit = IOVA_TEST_LIMIT32 };
	struct iova_stats st0, st;
	struct iova_domain *iovad;
	unsigned int a, b;

	iova_test_two_cpus(&a, &b);
	iovad = iova_test_pool_domain(test, IOVA_TEST_START);
	small.iovad = iovad;
	large.iovad = iovad;
	small.pfns = kunit_kcalloc(test, nsmall, sizeof(*small.pfns), GFP_KERNEL);
	large.pfns = kunit_kcalloc(test, nbig, sizeof(*large.pfns), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, small.pfns);
	KUNIT_ASSERT_NOT_NULL(test, large.pfns);

	small.nr = nsmall;
	iova_test_on_cpu(test, b, iova_test_alloc_job, &small);
	KUNIT_ASSERT_EQ(test, small.done, nsmall);
	large.nr = nbig;
	iova_test_on_cpu(test, b, iova_test_alloc_job, &large);
	KUNIT_ASSERT_EQ(test, large.done, nbig);
	small.first = 0;
	small.step = 1;
	iova_test_on_cpu(test, b, iova_test_free_job, &small);
	large.first = 0;
	large.step = 2;
	iova_test_on_cpu(test, b, iova_test_free_job, &large);

	iova_domain_stats(iovad, &st0);
	/* the large ranges may have been cached too, or gone home at once */
	KUNIT_EXPECT_TRUE(test, st0.cached == nsmall ||
			  st0.cached == nsmall + nbig / 2);
	KUNIT_EXPECT_EQ(test, st0.chunk_refills, 1UL);
	KUNIT_EXPECT_EQ(test, st0.pool_pages, IOVA_TEST_CHUNK);
	KUNIT_EXPECT_EQ(test, st0.pages_live, nbig / 2 * big);

	iova_domain_cpu_dead(iovad, b);
	iova_domain_stats(iovad, &st);
	KUNIT_EXPECT_EQ(test, st.cached, 0UL);
	KUNIT_EXPECT_EQ(test, st.cached_pages, 0UL);
	KUNIT_EXPECT_EQ(test, st.pool_pages, nbig / 2 * big);
	KUNIT_EXPECT_GT(test, st.chunk_returns, st0.chunk_returns);
	KUNIT_EXPECT_EQ(test, st.pages_live, nbig / 2 * big);
	iova_test_check(test, iovad);

	/*
	 * The survivors are freed from the other CPU, then both CPUs go (a's
	 * cache may hold them), b last.
	 */
	large.first = 1;
	iova_test_on_cpu(test, a, iova_test_free_job, &large);
	iova_domain_cpu_dead(iovad, a);
	iova_domain_cpu_dead(iovad, b);
	iova_domain_stats(iovad, &st);
	KUNIT_EXPECT_EQ(test, st.pool_pages, 0UL);
	KUNIT_EXPECT_EQ(test, st.allocs_live, 0UL);
	KUNIT_EXPECT_EQ(test, st.pages_live, 0UL);
	iova_test_check(test, iovad);
	/* the upper half of the 32-bit space is whole again, no flush needed */
	KUNIT_EXPECT_EQ(test, alloc_iova_fast(iovad, (IOVA_TEST_LIMIT32 + 1) / 2,
					      IOVA_TEST_LIMIT32, false),
			(IOVA_TEST_LIMIT32 + 1) / 2);
	iova_test_check(test, iovad);
}

/* ---- fault injection sweep (the new allocator only) ---------------------- */

#define IOVA_FAIL_NTH_BIG	16
#define IOVA_FAIL_NTH_SMALL	32
#define IOVA_FAIL_NTH_SLOW	8

struct iova_fail_nth {
	unsigned long big[IOVA_FAIL_NTH_BIG];
	unsigned long small[3][IOVA_FAIL_NTH_SMALL];
	struct iova *slow[IOVA_FAIL_NTH_SLOW];
};

static const unsigned long iova_fail_nth_sizes[3] = { 1, 4, 64 };

/*
 * One run of the workload with the @nth node allocation failing: abutting
 * uncached ranges that merge into extents and split again as every other
 * one is freed, cached and pooled ones of three sizes, half of them freed
 * on another CPU, and alloc_iova() ranges between them. Whatever failed,
 * once everything is freed and every CPU's cache and pool given back, the
 * domain must be sound, nothing lost, and the whole space free again.
 * Tells whether the failure happened.
 */
static bool iova_fail_nth_run(struct kunit *test, unsigned int nth,
			      struct iova_fail_nth *w)
{
	const unsigned long big = IOVA_TEST_UNCACHED;
	struct iova_test_ctx *ctx = test->priv;
	struct iova_domain *iovad = &ctx->iovad;
	struct iova_test_job job = { .limit = IOVA_TEST_LIMIT32 };
	unsigned int a, b, k, i, pending;
	struct iova_stats st;
	struct iova *all;

	iova_test_two_cpus(&a, &b);
	memset(w, 0, sizeof(*w));
	iovad = iova_test_domain(test, IOVA_TEST_START, true, 1);
	job.iovad = iovad;
	iova_inject_node_failure_nth(iovad, nth);

	/* abutting: one extent, banking a node for each range that joined */
	for (i = 0; i < IOVA_FAIL_NTH_BIG; i++)
		w->big[i] = alloc_iova_fast(iovad, big, IOVA_TEST_LIMIT32, false);
	for (i = 0; i < IOVA_FAIL_NTH_SLOW; i++)
		w->slow[i] = alloc_iova(iovad, 3, IOVA_TEST_LIMIT32, false);
	for (k = 0; k < 3; k++) {
		job.size = iova_fail_nth_sizes[k];
		job.pfns = w->small[k];
		job.nr = IOVA_FAIL_NTH_SMALL;
		iova_test_on_cpu(test, a, iova_test_alloc_job, &job);
	}
	KUNIT_EXPECT_EQ_MSG(test, iova_validate(iovad), 0, "fail_nth %u", nth);
	/* every other range first: extents split, and then fuse again */
	for (i = 0; i < IOVA_FAIL_NTH_BIG; i += 2)
		if (w->big[i])
			free_iova_fast(iovad, w->big[i], big);
	for (k = 0; k < 3; k++) {
		job.size = iova_fail_nth_sizes[k];
		job.pfns = w->small[k];
		for (job.nr = 0; job.nr < IOVA_FAIL_NTH_SMALL && job.pfns[job.nr];)
			job.nr++;
		job.first = 0;
		job.step = 2;
		iova_test_on_cpu(test, b, iova_test_free_job, &job);
		job.first = 1;
		iova_test_on_cpu(test, a, iova_test_free_job, &job);
	}
	KUNIT_EXPECT_EQ_MSG(test, iova_validate(iovad), 0, "fail_nth %u", nth);
	for (i = 1; i < IOVA_FAIL_NTH_BIG; i += 2)
		if (w->big[i])
			free_iova_fast(iovad, w->big[i], big);
	for (i = 0; i < IOVA_FAIL_NTH_SLOW; i++)
		if (w->slow[i])
			__free_iova(iovad, w->slow[i]);

	pending = iova_inject_node_failures(iovad, 0);
	iova_domain_cpu_dead(iovad, a);
	iova_domain_cpu_dead(iovad, b);
	iova_test_drain(test, iovad, IOVA_TEST_LIMIT32);
	KUNIT_EXPECT_EQ_MSG(test, iova_validate(iovad), 0, "fail_nth %u", nth);
	iova_domain_stats(iovad, &st);
	KUNIT_EXPECT_EQ_MSG(test, st.allocs_live, 0UL, "fail_nth %u", nth);
	KUNIT_EXPECT_EQ_MSG(test, st.pages_live, 0UL, "fail_nth %u", nth);
	KUNIT_EXPECT_EQ_MSG(test, st.lost, 0UL, "fail_nth %u", nth);
	KUNIT_EXPECT_EQ_MSG(test, st.pool_pages, 0UL, "fail_nth %u", nth);
	/* the space a new domain has: all of it, as one range */
	all = alloc_iova(iovad, IOVA_TEST_LIMIT32 - IOVA_TEST_START + 1,
			 IOVA_TEST_LIMIT32, false);
	KUNIT_EXPECT_NOT_NULL_MSG(test, all, "fail_nth %u: space lost", nth);
	if (all)
		__free_iova(iovad, all);
	put_iova_domain(iovad);
	ctx->live = false;
	return pending < 1 + num_possible_cpus();
}

/*
 * Fault injection in the style of iommufd's fail_nth: for n = 1, 2, ...
 * the n-th node allocation of the domain (and of each pool) fails during
 * the workload, until the workload makes fewer than n.
 */
static void iova_fail_nth_sweep(struct kunit *test)
{
	struct iova_fail_nth *w;
	unsigned int nth;

	w = kunit_kzalloc(test, sizeof(*w), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, w);
	for (nth = 1; nth < 10000; nth++) {
		if (!iova_fail_nth_run(test, nth, w))
			break;
		if (test->status == KUNIT_FAILURE)
			return;
	}
	kunit_info(test, "%u node allocations made to fail in turn", nth - 1);
	KUNIT_EXPECT_GT(test, nth, 10U);
	KUNIT_EXPECT_LT(test, nth, 10000U);
}

/* ---- lockless lookups (the new allocator only) --------------------------- */

/*
 * What the stub of iova_lookup_child() does while free_iova_fast() walks
 * the test's domain: once the walk stands on @node about to go right, it
 * frees @node, has another domain take the node from the cache with its
 * right link at that domain's anchor, and destroys that domain.
 */
struct iova_test_reuse {
	struct iova_domain *iovad;	/* the domain being walked */
	struct iova_domain *other;	/* caller's memory, freed midway */
	struct iova *node;
	struct rb_node *other_anchor;	/* only compared, never followed */
	bool reused;
	bool strayed;
};

static struct iova_test_reuse *iova_test_reuse;

static struct rb_node *iova_test_lookup_child(struct iova_domain *iovad,
					      struct iova *n, bool right)
{
	struct iova_test_reuse *r = iova_test_reuse;
	struct iova *a, *b;

	if (&n->node == r->other_anchor)
		r->strayed = true;
	if (iovad == r->iovad && n == r->node && right && r->other) {
		__free_iova(r->iovad, n);
		/* a node the other domain takes is @n, if the slab reuses it */
		a = reserve_iova(r->other, 100, 100);
		b = reserve_iova(r->other, 50, 50);
		r->reused = a == n && b &&
			    READ_ONCE(n->node.rb_right) == r->other_anchor;
		put_iova_domain(r->other);
		kfree(r->other);
		r->other = NULL;
	}
	return right ? READ_ONCE(n->node.rb_right) : READ_ONCE(n->node.rb_left);
}

/*
 * free_iova_fast() checks a range with a lockless walk of the tree. A node
 * the walk stands on can be freed meanwhile and reused by another domain,
 * whose links lead to that domain's anchor: memory that is not the node
 * cache's, and is freed with that domain. The walk must start again rather
 * than follow such a link (KASAN or the harness's ASan build reports the
 * read if it does; without them, the stub sees the walk step onto it).
 */
static void iova_lookup_never_leaves_domain(struct kunit *test)
{
	struct iova_test_ctx *ctx = test->priv;
	struct iova_domain *iovad = &ctx->iovad;
	struct iova_test_reuse r = {};
	struct iova *n, *m;
	unsigned long pfn;

	init_iova_domain(iovad, PAGE_SIZE, IOVA_TEST_START);
	ctx->live = true;
	iova_domain_set_pools(iovad, false);
	KUNIT_ASSERT_EQ(test, iova_domain_init_rcaches(iovad), 0);
	/* n at the root, the range to free in its right subtree */
	n = alloc_iova(iovad, 1, 100, false);
	KUNIT_ASSERT_NOT_NULL(test, n);
	m = alloc_iova(iovad, 1, 50, false);
	KUNIT_ASSERT_NOT_NULL(test, m);
	pfn = alloc_iova_fast(iovad, 1, 200, false);
	KUNIT_ASSERT_EQ(test, pfn, 200UL);
	KUNIT_ASSERT_PTR_EQ(test, iovad->rbroot.rb_node, &n->node);

	r.iovad = iovad;
	r.node = n;
	r.other = kzalloc(sizeof(*r.other), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, r.other);
	init_iova_domain(r.other, PAGE_SIZE, IOVA_TEST_START);
	r.other_anchor = &r.other->anchor.node;
	iova_test_reuse = &r;
	kunit_activate_static_stub(test, iova_lookup_child,
				   iova_test_lookup_child);
	free_iova_fast(iovad, pfn, 1);
	kunit_deactivate_static_stub(test, iova_lookup_child);
	iova_test_reuse = NULL;
	if (r.other) {
		put_iova_domain(r.other);
		kfree(r.other);
	}

	KUNIT_EXPECT_FALSE(test, r.strayed);
	/* the range was freed all the same */
	iova_test_drain(test, iovad, IOVA_TEST_LIMIT);
	KUNIT_EXPECT_NULL(test, find_iova(iovad, pfn));
	iova_test_check(test, iovad);
	if (!r.reused)
		kunit_skip(test, "the slab did not hand the node to the other domain at once");
}

/*
 * The same race, many times over and at random points of the walks: while
 * free_iova_fast() walks the test's domain, the stub frees alloc_iova()
 * ranges of that domain (the node the walk stands on when it is one of
 * them), and short-lived domains take nodes from the cache, link them to
 * their anchors and are destroyed, their memory freed.
 */
#define IOVA_CHURN_HELD		32
#define IOVA_CHURN_GONE		16

struct iova_test_churn {
	struct iova_domain *iovad;
	struct iova *held[IOVA_CHURN_HELD];
	struct rb_node *gone[IOVA_CHURN_GONE];	/* only compared */
	unsigned int nr_gone;
	unsigned long churns;
	u64 rnd;
	bool strayed;
};

static struct iova_test_churn *iova_test_churn;

static u32 iova_test_churn_rand(struct iova_test_churn *c)
{
	c->rnd ^= c->rnd << 13;
	c->rnd ^= c->rnd >> 7;
	c->rnd ^= c->rnd << 17;
	return c->rnd >> 32;
}

/* A domain that takes nodes from the cache, then is destroyed and freed */
static void iova_test_churn_other(struct iova_test_churn *c)
{
	struct iova_domain *other = kzalloc(sizeof(*other), GFP_ATOMIC);
	unsigned long pfn = 1000 + iova_test_churn_rand(c) % 1000;

	if (!other)
		return;
	init_iova_domain(other, PAGE_SIZE, IOVA_TEST_START);
	/* each insertion below the last rotates the anchor to the right */
	reserve_iova(other, pfn, pfn);
	reserve_iova(other, pfn / 2, pfn / 2);
	reserve_iova(other, pfn / 4, pfn / 4);
	c->gone[c->nr_gone++ % IOVA_CHURN_GONE] = &other->anchor.node;
	put_iova_domain(other);
	kfree(other);
	c->churns++;
}

static struct rb_node *iova_test_churn_child(struct iova_domain *iovad,
					     struct iova *n, bool right)
{
	struct iova_test_churn *c = iova_test_churn;
	unsigned int i, r;

	for (i = 0; i < min_t(unsigned int, c->nr_gone, IOVA_CHURN_GONE); i++)
		if (&n->node == c->gone[i])
			c->strayed = true;
	r = iova_test_churn_rand(c);
	if (iovad == c->iovad && r % 3 == 0) {
		for (i = 0; i < IOVA_CHURN_HELD && c->held[i] != n; i++)
			;
		if (i == IOVA_CHURN_HELD)
			i = (r / 3) % IOVA_CHURN_HELD;
		if (c->held[i]) {
			__free_iova(iovad, c->held[i]);
			c->held[i] = NULL;
		}
		iova_test_churn_other(c);
	}
	return right ? READ_ONCE(n->node.rb_right) : READ_ONCE(n->node.rb_left);
}

static void iova_lookup_domain_churn(struct kunit *test)
{
	struct iova_test_ctx *ctx = test->priv;
	struct iova_domain *iovad = &ctx->iovad;
	struct iova_test_churn *c;
	unsigned long pfn, size;
	unsigned int round, i;

	c = kunit_kzalloc(test, sizeof(*c), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, c);
	init_iova_domain(iovad, PAGE_SIZE, IOVA_TEST_START);
	ctx->live = true;
	iova_domain_set_pools(iovad, false);
	KUNIT_ASSERT_EQ(test, iova_domain_init_rcaches(iovad), 0);
	c->iovad = iovad;
	c->rnd = 0x9e3779b97f4a7c15ULL;
	iova_test_churn = c;
	kunit_activate_static_stub(test, iova_lookup_child,
				   iova_test_churn_child);
	for (round = 0; round < 2000 && !c->strayed; round++) {
		/*
		 * Free a fast-path range to the tree each round: that counts
		 * a release, so the free below cannot rely on what a free
		 * found before and walks the tree. Replace one held range,
		 * so that the tree changes under the walk too.
		 */
		pfn = alloc_iova_fast(iovad, IOVA_TEST_UNCACHED, IOVA_TEST_LIMIT32,
				      false);
		if (pfn)
			free_iova_fast(iovad, pfn, IOVA_TEST_UNCACHED);
		i = round % IOVA_CHURN_HELD;
		if (c->held[i]) {
			__free_iova(iovad, c->held[i]);
			c->held[i] = NULL;
		}
		for (i = 0; i < IOVA_CHURN_HELD; i++)
			if (!c->held[i])
				c->held[i] = alloc_iova(iovad, 1 + round % 4,
							IOVA_TEST_LIMIT32, true);
		size = 1UL << (round % 4);
		pfn = alloc_iova_fast(iovad, size, IOVA_TEST_LIMIT32, false);
		if (pfn)
			free_iova_fast(iovad, pfn, size);
	}
	kunit_deactivate_static_stub(test, iova_lookup_child);
	iova_test_churn = NULL;
	KUNIT_EXPECT_FALSE(test, c->strayed);
	KUNIT_EXPECT_GT(test, c->churns, 100UL);
	for (i = 0; i < IOVA_CHURN_HELD; i++)
		if (c->held[i])
			__free_iova(iovad, c->held[i]);
	iova_test_check(test, iovad);
}

/*
 * Cached space is bounded: every online CPU allocates and frees twice a
 * cache's depth of every cached size, 1 to 1024 pages, twice over, above
 * the 32-bit space so that no allocation fails; without pools a full
 * cache spills to the depot. The caches and the depot hold at most 1/16
 * of the 32-bit space together, whatever num_possible_cpus() is.
 */
#define IOVA_TEST_FILL		512
#define IOVA_TEST_HIGH		((1UL << 28) - 1)

static long iova_test_fill_job(void *arg)
{
	struct iova_test_job *job = arg;
	unsigned long size;
	unsigned long i;
	int round;

	for (round = 0; round < 2; round++) {
		for (size = 1; size <= 1024; size *= 2) {
			job->size = size;
			job->done = 0;
			iova_test_alloc_job(job);
			if (job->done < job->nr)
				return -ENOSPC;
			for (i = 0; i < job->nr; i++)
				free_iova_fast(job->iovad, job->pfns[i], size);
		}
	}
	return 0;
}

static void iova_cache_bound(struct kunit *test)
{
	/* 1/16 of the 32-bit space, and per CPU 4096 pages or 1/256 of it */
	const unsigned long space = (1UL << (32 - PAGE_SHIFT)) - IOVA_TEST_START;
	const unsigned long bound = (space >> 4) + num_possible_cpus() *
		min(4096UL, DIV_ROUND_UP(space, 256));
	struct iova_test_job job = { .nr = IOVA_TEST_FILL,
				     .limit = IOVA_TEST_HIGH };
	struct iova_test_ctx *ctx = test->priv;
	struct iova_stats st;
	unsigned int cpu;
	int pools;

	job.pfns = kunit_kcalloc(test, IOVA_TEST_FILL, sizeof(*job.pfns),
				 GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, job.pfns);
	for (pools = 0; pools < 2; pools++) {
		init_iova_domain(&ctx->iovad, PAGE_SIZE, IOVA_TEST_START);
		ctx->live = true;
		iova_domain_set_pools(&ctx->iovad, pools);
		KUNIT_ASSERT_EQ(test, iova_domain_init_rcaches(&ctx->iovad), 0);
		job.iovad = &ctx->iovad;
		for_each_online_cpu(cpu)
			KUNIT_ASSERT_EQ(test,
					work_on_cpu(cpu, iova_test_fill_job, &job),
					0L);
		iova_domain_stats(&ctx->iovad, &st);
		KUNIT_EXPECT_GT_MSG(test, st.cached_pages, 0UL, "pools %d", pools);
		KUNIT_EXPECT_LE_MSG(test, st.cached_pages, bound,
				    "pools %d, %u possible CPUs", pools,
				    num_possible_cpus());
		iova_test_check(test, &ctx->iovad);
		put_iova_domain(&ctx->iovad);
		ctx->live = false;
	}
}
#endif /* !IOVA_KUNIT_STOCK */

static struct kunit_case iova_test_cases[] = {
	KUNIT_CASE_PARAM(iova_alloc_fast_rounds_and_aligns, iova_fast_gen_params),
	KUNIT_CASE_PARAM(iova_alloc_fast_limit_inclusive, iova_limit_gen_params),
	KUNIT_CASE(iova_alloc_fast_flush_rcache_retries),
	KUNIT_CASE(iova_free_fast_returns_range),
	KUNIT_CASE(iova_exhaustion_and_recovery),
	KUNIT_CASE_PARAM(iova_alloc_iova_exact_node, iova_node_gen_params),
	KUNIT_CASE(iova_find_and_free_unallocated),
	KUNIT_CASE(iova_alloc_iova_respects_limit),
	KUNIT_CASE(iova_reserve_overlapping),
	KUNIT_CASE(iova_free_reserved_node),
	KUNIT_CASE(iova_domain_start_pfn_zero),
	KUNIT_CASE(iova_put_domain_with_live_allocations),
	KUNIT_CASE_PARAM(iova_granule_helpers, iova_granule_gen_params),
	KUNIT_CASE_SLOW(iova_random_against_bitmap),
#ifndef IOVA_KUNIT_STOCK
	KUNIT_CASE(iova_merge_and_split),
	KUNIT_CASE_PARAM(iova_free_fast_mismatched, iova_mismatch_gen_params),
	KUNIT_CASE_PARAM(iova_free_fast_stale_record, iova_stale_gen_params),
	KUNIT_CASE_PARAM(iova_merge_switch, iova_merge_gen_params),
	KUNIT_CASE_PARAM(iova_merge_param_parses, iova_param_gen_params),
	KUNIT_CASE(iova_split_without_memory),
	KUNIT_CASE_SLOW(iova_many_pages_few_nodes),
	KUNIT_CASE(iova_pool_refill_from_tree),
	KUNIT_CASE(iova_pool_steal_from_other_cpu),
	KUNIT_CASE(iova_pool_exhaustion_and_recovery),
	KUNIT_CASE(iova_pool_cpu_dead_returns_space),
	KUNIT_CASE(iova_fail_nth_sweep),
	KUNIT_CASE(iova_lookup_never_leaves_domain),
	KUNIT_CASE(iova_lookup_domain_churn),
	KUNIT_CASE(iova_cache_bound),
#endif
	{}
};

static struct kunit_suite iova_test_suite = {
	.name = "iova",
	.init = iova_test_init,
	.exit = iova_test_exit,
	.test_cases = iova_test_cases,
};

kunit_test_suite(iova_test_suite);

MODULE_DESCRIPTION("KUnit tests for the IOVA allocator");
MODULE_LICENSE("GPL");
MODULE_IMPORT_NS(EXPORTED_FOR_KUNIT_TESTING);
