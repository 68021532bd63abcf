// SPDX-License-Identifier: GPL-2.0
/*
 * iova_test: the harness's tests, run against every implementation linked
 * in (stock 6.12 and ours).
 *
 *   internals     merge/split counters, node counts, depth, the split
 *                 failure path, the validator itself (ours only where the
 *                 test needs iova_domain_stats())
 *   differential  random operation sequences checked against a bitmap
 *                 model (model.c), with a printed seed
 *   threads       real threads as CPUs: cross-CPU frees, concurrent
 *                 allocation with an ownership map, CPU offline draining,
 *                 flush_rcache retry across CPUs
 *   kunit         drivers/iommu/tests/iova_kunit.c through kunit/test.h
 *
 * Options: -s SEED  -n OPS (differential ops per run)  -q (quick)
 *          -t (threaded tests only)  -k (KUnit only)  -f SUBSTRING  -v
 */
#include <getopt.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sched.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "capacity.h"
#include "harness.h"
#include "kunit/test.h"
#include "model.h"
#include "tap.h"

#define T_THREADED	0x1	/* also run in the TSan build (-t) */
#define T_STATS		0x2	/* needs iova_domain_stats() */
#define T_SLOW		0x4	/* skipped with -q */
#define T_OURS		0x8	/* a guarantee stock 6.12 does not give */
#define T_VS_STOCK	0x10	/* compares ours against stock */

struct opts {
	unsigned long long seed;
	long ops;
	bool quick;
	bool threads_only;
	bool kunit_only;
	const char *filter;
};

static struct opts opt;
static char why[1024];

static int failf(const char *fmt, ...) __printf(1, 2);

static int failf(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	return -1;
}

#define CHECK(cond, fmt, ...) do {					\
	if (!(cond))							\
		return failf("%s:%d: %s: " fmt, __FILE__, __LINE__, #cond, \
			     ##__VA_ARGS__);				\
} while (0)

/* A domain and its cache reference, torn down with a leak check. */
struct dom {
	const struct iova_impl *im;
	struct hdom *d;
	struct harness_mem mem0;
	long warn0;
};

static int dom_open(struct dom *x, const struct iova_impl *im, unsigned long start,
		    bool rcaches, int merge)
{
	x->im = im;
	harness_set_cpu(0);
	harness_mem(&x->mem0);
	x->warn0 = harness_warnings();
	CHECK(im->cache_get() == 0, "iova_cache_get");
	x->d = im->create(4096, start, rcaches, merge);
	CHECK(x->d, "domain creation");
	return 0;
}

/* dom_open() of a merging domain with caches, pools set to @pools for it */
static int dom_open_pools(struct dom *x, const struct iova_impl *im,
			  const char *pools)
{
	int ret;

	harness_param_set(im->name, "pools", pools);
	ret = dom_open(x, im, 1, true, 1);
	harness_param_set(im->name, "pools", "1");
	return ret;
}

static int dom_close(struct dom *x)
{
	struct harness_mem m;

	x->im->destroy(x->d);
	x->im->cache_put();
	harness_mem(&m);
	CHECK(m.objects == x->mem0.objects && m.percpu_bytes == x->mem0.percpu_bytes,
	      "leak: %ld objects, %ld per-CPU bytes (before: %ld, %ld)", m.objects,
	      m.percpu_bytes, x->mem0.objects, x->mem0.percpu_bytes);
	CHECK(harness_warnings() == x->warn0, "%ld WARNs", harness_warnings() - x->warn0);
	return 0;
}

static struct hstats stats_of(struct dom *x)
{
	struct hstats s;

	x->im->stats(x->d, &s);
	return s;
}

/* ---- internals ---------------------------------------------------------- */

#define LIMIT32 ((1UL << 20) - 1)	/* 4 GiB of 4 KiB pages, inclusive */
#define UNCACHED 2048UL			/* beyond every per-CPU cache and pool */

/*
 * A NIC's boot: 30,000 single-page streaming mappings that stay. With
 * merging they coalesce into a handful of extents; without, one node each.
 */
static int nic_boot(const struct iova_impl *im, int merge, long n, long max_nodes,
		    long min_nodes)
{
	struct dom x;
	struct hstats s;
	unsigned long *pfn = calloc(n, sizeof(*pfn));

	if (!pfn || dom_open(&x, im, 1, true, merge))
		return -1;
	for (long i = 0; i < n; i++) {
		pfn[i] = im->alloc_fast(x.d, 1, LIMIT32, true);
		CHECK(pfn[i], "allocation %ld failed", i);
		if ((merge || i % 1000 == 0) && im->validate(x.d))
			return failf("validate failed after allocation %ld", i);
	}
	s = stats_of(&x);
	CHECK(s.nodes <= max_nodes && s.nodes >= min_nodes,
	      "%ld nodes after %ld single-page allocations", s.nodes, n);
	CHECK(s.allocs_live == n && s.pages_live == n, "live %ld allocations / %ld pages",
	      s.allocs_live, s.pages_live);
	if (merge)
		CHECK(s.merges >= n - max_nodes, "%ld merges", s.merges);
	else
		CHECK(s.merges == 0 && s.splits == 0, "%ld merges, %ld splits with merging off",
		      s.merges, s.splits);
	for (long i = 0; i < n; i++)
		im->free_fast(x.d, pfn[i], 1);
	CHECK(im->validate(x.d) == 0, "validate after freeing");
	s = stats_of(&x);
	CHECK(s.allocs_live == 0 && s.pages_live == 0, "after freeing all: %ld / %ld live",
	      s.allocs_live, s.pages_live);
	free(pfn);
	return dom_close(&x);
}

static int t_nic_boot_merged(const struct iova_impl *im)
{
	return nic_boot(im, 1, 30000, 16, 1);
}

static int t_nic_boot_unmerged(const struct iova_impl *im)
{
	return nic_boot(im, 0, 30000, 30000, 30000);
}

/*
 * Ranges beyond the per-CPU caches go straight to the tree: three abutting
 * ones form one extent; freeing the middle one splits it.
 */
static int t_merge_split(const struct iova_impl *im)
{
	const unsigned long sz = UNCACHED;
	unsigned long p[3];
	struct hstats s0, s;
	struct dom x;

	if (dom_open(&x, im, 1, true, 1))
		return -1;
	s0 = stats_of(&x);
	for (int i = 0; i < 3; i++) {
		p[i] = im->alloc_fast(x.d, sz, LIMIT32, false);
		CHECK(p[i], "allocation %d", i);
		CHECK(im->validate(x.d) == 0, "validate");
	}
	CHECK(p[1] + sz == p[0] && p[2] + sz == p[1], "not abutting: %lx %lx %lx",
	      p[0], p[1], p[2]);
	s = stats_of(&x);
	CHECK(s.extents == s0.extents + 1, "%ld extents", s.extents);
	CHECK(s.merges - s0.merges == 2, "%ld merges", s.merges - s0.merges);
	CHECK(im->find(x.d, p[1] + 7), "find inside the extent");

	im->free_fast(x.d, p[1], sz);
	CHECK(im->validate(x.d) == 0, "validate after split");
	s = stats_of(&x);
	CHECK(s.splits - s0.splits == 1, "%ld splits", s.splits - s0.splits);
	CHECK(s.extents == s0.extents + 2, "%ld extents after split", s.extents);
	CHECK(s.pages_live == 2 * sz, "%ld pages live", s.pages_live);
	CHECK(!im->find(x.d, p[1] + 7), "freed middle still found");

	/* the hole is taken again and the extent fuses back into one */
	CHECK(im->alloc_fast(x.d, sz, p[0] - 1, false) == p[1], "hole not reused");
	s = stats_of(&x);
	CHECK(s.extents == s0.extents + 1, "%ld extents after refill", s.extents);
	for (int i = 0; i < 3; i++)
		im->free_fast(x.d, p[i], sz);
	CHECK(im->validate(x.d) == 0, "validate");
	s = stats_of(&x);
	CHECK(s.extents == s0.extents && s.pages_live == 0, "%ld extents, %ld pages",
	      s.extents, s.pages_live);
	return dom_close(&x);
}

/* alloc_iova nodes next to extents stay exact and never join them. */
static int t_exact_nodes_apart(const struct iova_impl *im)
{
	struct hnode *n[4];
	unsigned long lo, hi, f;
	struct dom x;

	if (dom_open(&x, im, 1, true, 1))
		return -1;
	for (int i = 0; i < 4; i++) {
		f = im->alloc_fast(x.d, 64, LIMIT32, false);
		CHECK(f, "fast allocation");
		n[i] = im->alloc(x.d, 64, LIMIT32, true);
		CHECK(n[i], "alloc_iova");
		im->node_range(n[i], &lo, &hi);
		CHECK(hi - lo + 1 == 64, "node [%lx, %lx]", lo, hi);
		CHECK(im->find(x.d, lo + 3) == n[i], "find_iova inside the node");
		CHECK(im->validate(x.d) == 0, "validate");
	}
	for (int i = 0; i < 4; i++) {
		im->node_range(n[i], &lo, &hi);
		CHECK(hi - lo + 1 == 64, "node %d grew to [%lx, %lx]", i, lo, hi);
		im->free_node(x.d, n[i]);
	}
	CHECK(im->validate(x.d) == 0, "validate");
	return dom_close(&x);
}

/*
 * Splits need a node; make every node allocation fail while ranges are
 * freed from the middle of an extent. Each free must happen at once (a
 * split takes a node the extent banked when it grew), corrupt nothing,
 * lose nothing and warn about nothing.
 */
static int split_failure(const struct iova_impl *im, unsigned long n)
{
	const unsigned long sz = UNCACHED;
	unsigned long p[64], q;
	struct hstats s;
	struct dom x;

	if (dom_open(&x, im, 1, true, 1))
		return -1;
	for (unsigned long i = 0; i < n; i++) {
		p[i] = im->alloc_fast(x.d, sz, LIMIT32, false);
		CHECK(p[i] && (i == 0 || p[i] + sz == p[i - 1]), "allocation %lu", i);
	}
	CHECK(stats_of(&x).extents == 1, "not one extent");
	/* every other range: (n - 2) / 2 splits, no memory to be had */
	harness_fail_nonblocking(true);
	im->fail_nodes(x.d, true);
	for (unsigned long i = 1; i + 1 < n; i += 2) {
		im->free_fast(x.d, p[i], sz);
		CHECK(im->validate(x.d) == 0, "validate after split %lu", i);
	}
	im->fail_nodes(x.d, false);
	harness_fail_nonblocking(false);
	s = stats_of(&x);
	CHECK(s.lost == 0, "%ld pages lost", s.lost);
	CHECK(s.pages_live == (long)(n - (n - 1) / 2) * (long)sz, "%ld pages live",
	      s.pages_live);
	im->free_fast(x.d, p[n - 1], sz);
	CHECK(im->validate(x.d) == 0, "validate");
	s = stats_of(&x);
	CHECK(s.pages_live == (long)(n / 2) * (long)sz, "%ld pages live", s.pages_live);
	/* each freed hole can be allocated again, exactly where it was */
	for (unsigned long i = 1; i < n; i += 2) {
		q = im->alloc_fast(x.d, sz, p[i] + sz - 1, false);
		CHECK(q == p[i], "hole %lu: got %lx, want %lx", i, q, p[i]);
	}
	CHECK(im->validate(x.d) == 0, "validate");
	return dom_close(&x);
}

static int t_split_failure(const struct iova_impl *im)
{
	return split_failure(im, 12);
}

/* Many: more splits than any fixed reserve of nodes would hold */
static int t_split_failure_storm(const struct iova_impl *im)
{
	return split_failure(im, 64);
}

/*
 * Allocation fault injection in the style of iommufd's fail_nth: for n = 1,
 * 2, ... the n-th memory allocation from the start of a workload fails,
 * until the workload makes fewer than n. The workload: 40 abutting
 * 2048-page ranges below 4 GiB and 64 ranges of 1, 4 and 64 pages on each
 * of CPUs 0 and 1, every other one freed while no non-blocking allocation
 * succeeds, then the rest, then CPU 1 goes offline and comes back. After
 * it nothing may be live, nothing lost, no WARN fired, and the whole space
 * must be allocatable as one range again, as on a new domain.
 */
#define FAIL_NTH_BIG	40
#define FAIL_NTH_SMALL	64

static int fail_nth_workload(const struct iova_impl *im, long nth, bool *hit)
{
	static const unsigned long sizes[] = { 1, 4, 64 };
	unsigned long big[FAIL_NTH_BIG], small[2][3][FAIL_NTH_SMALL];
	struct hnode *all;
	long failed;
	struct dom x;

	if (dom_open(&x, im, 1, true, 1))
		return -1;
	failed = harness_failed_allocs();
	harness_fail_alloc_after(nth);
	for (int i = 0; i < FAIL_NTH_BIG; i++)
		big[i] = im->alloc_fast(x.d, UNCACHED, LIMIT32, false);
	for (int cpu = 0; cpu < 2; cpu++) {
		harness_set_cpu(cpu);
		for (int k = 0; k < 3; k++)
			for (int i = 0; i < FAIL_NTH_SMALL; i++)
				small[cpu][k][i] = im->alloc_fast(x.d, sizes[k], LIMIT32,
								  false);
	}
	for (int pass = 0; pass < 2; pass++) {
		harness_fail_nonblocking(pass == 0);
		for (int i = pass; i < FAIL_NTH_BIG; i += 2)
			if (big[i])
				im->free_fast(x.d, big[i], UNCACHED);
		for (int cpu = 0; cpu < 2; cpu++) {
			harness_set_cpu(cpu);
			for (int k = 0; k < 3; k++)
				for (int i = pass; i < FAIL_NTH_SMALL; i += 2)
					if (small[cpu][k][i])
						im->free_fast(x.d, small[cpu][k][i], sizes[k]);
		}
	}
	harness_set_cpu(0);
	harness_fail_nonblocking(false);
	harness_cpu_offline(1);
	harness_cpu_online(1);
	*hit = harness_failed_allocs() != failed;
	harness_fail_alloc_after(-1);
	CHECK(im->validate(x.d) == 0, "fail_nth %ld: validate", nth);
	if (im->has_stats) {
		struct hstats s = stats_of(&x);

		CHECK(s.allocs_live == 0 && s.pages_live == 0 && s.lost == 0,
		      "fail_nth %ld: %ld allocations, %ld pages live, %ld lost", nth,
		      s.allocs_live, s.pages_live, s.lost);
	}
	/* a request that cannot fit drains every cache; then all of it is free */
	CHECK(!im->alloc_fast(x.d, LIMIT32 + 1, LIMIT32, true), "fail_nth %ld: drain", nth);
	all = im->alloc(x.d, LIMIT32, LIMIT32, false);
	CHECK(all, "fail_nth %ld: the space is not whole again", nth);
	im->free_node(x.d, all);
	CHECK(harness_warnings() == x.warn0, "fail_nth %ld: %ld WARNs", nth,
	      harness_warnings() - x.warn0);
	return dom_close(&x);
}

static int t_fail_nth(const struct iova_impl *im)
{
	bool hit = true;
	long nth;

	for (nth = 1; hit && nth < 100000; nth++)
		if (fail_nth_workload(im, nth, &hit))
			return -1;
	CHECK(nth > 10, "only %ld allocations in the workload", nth);
	return 0;
}

/*
 * A free whose start or size is not the allocation's: ranges a and b of
 * @sz pages abut (one extent when merging); free_iova_fast(b + @off,
 * @bad) must leave a allocated, and ours warns and frees nothing at all.
 * Stock frees b's node whatever the size (the tree case) and caches what
 * it is given (the cached cases, which are ours only).
 */
static int mismatched_free(const struct iova_impl *im, unsigned long sz,
			   unsigned long off, unsigned long bad, int merge)
{
	bool ours = im->has_stats;
	unsigned long a, b, q;
	struct hstats s0, s;
	struct dom x;
	long w, warned;

	if (dom_open(&x, im, 1, true, merge))
		return -1;
	a = im->alloc_fast(x.d, sz, LIMIT32, false);
	b = im->alloc_fast(x.d, sz, LIMIT32, false);
	CHECK(a && b == a - sz, "a %lx, b %lx", a, b);
	if (ours)
		s0 = stats_of(&x);
	w = harness_warnings();
	harness_set_quiet(true);
	im->free_fast(x.d, b + off, bad);
	harness_set_quiet(false);
	warned = harness_warnings() - w;
	x.warn0 += warned;
	CHECK(im->validate(x.d) == 0, "validate");
	if (ours) {
		s = stats_of(&x);
		CHECK(s.allocs_live == s0.allocs_live && s.pages_live == s0.pages_live,
		      "live %ld allocations / %ld pages, before %ld / %ld",
		      s.allocs_live, s.pages_live, s0.allocs_live, s0.pages_live);
	}
	/* a is still allocated: the next allocations of either size avoid it */
	q = im->alloc_fast(x.d, sz, LIMIT32, false);
	CHECK(q && (q + sz <= a || q > a + sz - 1), "got %lx inside a %lx", q, a);
	CHECK(!ours || q + sz <= b, "got %lx inside b %lx", q, b);
	im->free_fast(x.d, q, sz);
	q = im->alloc_fast(x.d, bad, LIMIT32, false);
	CHECK(q && (q + bad <= a || q > a + sz - 1), "got %lx (%lu pages) inside a %lx",
	      q, bad, a);
	im->free_fast(x.d, q, bad);
	im->free_fast(x.d, a, sz);
	if (ours)
		im->free_fast(x.d, b, sz);
	CHECK(im->validate(x.d) == 0, "validate");
	CHECK(warned == (ours ? 1 : 0), "%ld WARNs", warned);
	return dom_close(&x);
}

/* The tree: free_iova_fast(b, 2 * size) of two 2048-page ranges */
static int t_mismatched_free_oversized(const struct iova_impl *im)
{
	return mismatched_free(im, UNCACHED, 0, 2 * UNCACHED, 1);
}

static int t_mismatched_free_oversized_unmerged(const struct iova_impl *im)
{
	return mismatched_free(im, UNCACHED, 0, 2 * UNCACHED, 0);
}

/* The caches: an 8-page free of a 4-page range covers its neighbour */
static int t_mismatched_free_cached(const struct iova_impl *im)
{
	return mismatched_free(im, 4, 0, 8, 1);
}

/* A start inside the range, and a size smaller than the allocation's */
static int t_mismatched_free_inside(const struct iova_impl *im)
{
	return mismatched_free(im, 4, 2, 2, 1) ?:
	       mismatched_free(im, 64, 0, 32, 1) ?:
	       mismatched_free(im, UNCACHED, UNCACHED / 2, UNCACHED / 2, 1);
}

/*
 * Sizes above 32 pages are not rounded: a 33-page range freed as 64 pages
 * (the size its alignment block has, a cacheable one) and a 64-page range
 * freed as 33 pages are both refused with a warning, and both stay
 * allocated, whether the range sits in a pool or in the domain's tree.
 */
static int mismatched_unrounded(const struct iova_impl *im, const char *pools)
{
	unsigned long a, b;
	struct hstats s0, s;
	struct dom x;
	long w;

	if (dom_open_pools(&x, im, pools))
		return -1;
	a = im->alloc_fast(x.d, 33, LIMIT32, false);
	b = im->alloc_fast(x.d, 64, LIMIT32, false);
	CHECK(a && b && !(a & 63) && !(b & 63), "a %lx, b %lx", a, b);
	s0 = stats_of(&x);
	CHECK(s0.pages_live == 33 + 64, "%ld pages live", s0.pages_live);
	w = harness_warnings();
	harness_set_quiet(true);
	im->free_fast(x.d, a, 64);
	im->free_fast(x.d, b, 33);
	harness_set_quiet(false);
	x.warn0 += harness_warnings() - w;
	CHECK(harness_warnings() > w, "no WARN");
	CHECK(im->validate(x.d) == 0, "validate");
	s = stats_of(&x);
	CHECK(s.allocs_live == s0.allocs_live && s.pages_live == s0.pages_live,
	      "live %ld allocations / %ld pages, before %ld / %ld",
	      s.allocs_live, s.pages_live, s0.allocs_live, s0.pages_live);
	im->free_fast(x.d, a, 33);
	im->free_fast(x.d, b, 64);
	s = stats_of(&x);
	CHECK(s.pages_live == 0, "%ld pages live", s.pages_live);
	CHECK(im->validate(x.d) == 0, "validate");
	return dom_close(&x);
}

static int t_mismatched_free_unrounded(const struct iova_impl *im)
{
	return mismatched_unrounded(im, "1") ?: mismatched_unrounded(im, "0");
}

/*
 * Abutting fast-path ranges of sizes that are not a power of two and too
 * large to round (as dma-iommu asks for 6144 and 1536 pages): each keeps
 * a node of its own, the tree is sound, nothing warns, and both free.
 */
static int t_exact_fast_abutting(const struct iova_impl *im)
{
	unsigned long a, b;
	struct dom x;
	long w;

	if (dom_open(&x, im, 1, true, 1))
		return -1;
	w = harness_warnings();
	a = im->alloc_fast(x.d, 6144, LIMIT32, false);
	b = im->alloc_fast(x.d, 1536, LIMIT32, false);
	CHECK(a && b, "a %lx, b %lx", a, b);
	CHECK(im->validate(x.d) == 0, "validate with [%lx, %lx] and [%lx, %lx]",
	      a, a + 6143, b, b + 1535);
	im->free_fast(x.d, b, 1536);
	im->free_fast(x.d, a, 6144);
	CHECK(im->validate(x.d) == 0, "validate after the frees");
	CHECK(harness_warnings() == w, "%ld WARNs", harness_warnings() - w);
	return dom_close(&x);
}

/*
 * Sizes from 33 to 1024 pages that are not a power of two are kept per
 * CPU once freed, still allocated, and serve the next request of their
 * size or of up to a third less, trimmed to it. The range handed out must
 * be exactly the request (the tail free again, the counts right, a free
 * of the old size refused), and a range freed twice must be refused, not
 * cached twice and handed out to two callers.
 */
static int exact_cache(const struct iova_impl *im, const char *pools)
{
	unsigned long a, b, c, d, e;
	struct hstats s;
	struct dom x;
	long w;

	if (dom_open_pools(&x, im, pools))
		return -1;
	w = harness_warnings();
	a = im->alloc_fast(x.d, 100, LIMIT32, false);
	CHECK(a && !(a & 127), "a %lx", a);
	im->free_fast(x.d, a, 100);
	s = stats_of(&x);
	CHECK(s.pages_live == 0 && s.allocs_live == 0, "%ld allocations / %ld pages live",
	      s.allocs_live, s.pages_live);
	b = im->alloc_fast(x.d, 80, LIMIT32, false);
	CHECK(b && !(b & 127), "b %lx", b);
	CHECK(im->validate(x.d) == 0, "validate with [%lx, +80]", b);
	s = stats_of(&x);
	CHECK(s.pages_live == 80 && s.allocs_live == 1, "%ld allocations / %ld pages live",
	      s.allocs_live, s.pages_live);
	/* the rest of b's block serves smaller ranges */
	c = im->alloc_fast(x.d, 16, b + 127, false);
	CHECK(c >= b + 80 && c + 15 <= b + 127, "16 pages at %lx, not after b %lx", c, b);
	im->free_fast(x.d, c, 16);
	harness_set_quiet(true);
	im->free_fast(x.d, b, 100);	/* the size b had in the cache */
	harness_set_quiet(false);
	CHECK(harness_warnings() == w + 1, "%ld WARNs", harness_warnings() - w);
	im->free_fast(x.d, b, 80);
	harness_set_quiet(true);
	im->free_fast(x.d, b, 80);	/* freed twice */
	harness_set_quiet(false);
	CHECK(harness_warnings() == w + 2, "%ld WARNs", harness_warnings() - w);
	x.warn0 += 2;
	d = im->alloc_fast(x.d, 80, LIMIT32, false);
	e = im->alloc_fast(x.d, 80, LIMIT32, false);
	CHECK(d && e && (d + 79 < e || e + 79 < d), "d %lx, e %lx overlap", d, e);
	CHECK(im->validate(x.d) == 0, "validate");
	im->free_fast(x.d, d, 80);
	im->free_fast(x.d, e, 80);
	s = stats_of(&x);
	CHECK(s.pages_live == 0 && s.allocs_live == 0, "%ld allocations / %ld pages live",
	      s.allocs_live, s.pages_live);
	CHECK(im->validate(x.d) == 0, "validate after the frees");
	return dom_close(&x);
}

static int t_exact_cache(const struct iova_impl *im)
{
	return exact_cache(im, "1") ?: exact_cache(im, "0");
}

/*
 * The cache of exact sizes gives the smallest listed range that fits, in
 * whichever size class: a class that holds only smaller ranges is passed
 * over, and a range above the limit is left for a later request.
 */
static int exact_best_fit(const struct iova_impl *im, const char *pools)
{
	static const unsigned long sizes[] = { 70, 110, 100, 140 };
	unsigned long p[4], q[5], lim;
	struct hstats s;
	struct dom x;
	int i;

	if (dom_open_pools(&x, im, pools))
		return -1;
	for (i = 0; i < 4; i++) {
		p[i] = im->alloc_fast(x.d, sizes[i], LIMIT32, false);
		CHECK(p[i], "%lu pages", sizes[i]);
	}
	for (i = 0; i < 4; i++)
		im->free_fast(x.d, p[i], sizes[i]);
	/* 70 is too small, 100 and 110 fit, 140 is more than half again */
	q[0] = im->alloc_fast(x.d, 75, LIMIT32, false);
	CHECK(q[0] == p[2], "75 pages at %lx, not in the 100-page range %lx", q[0], p[2]);
	/* only the 140-page range fits 120, and it ends above this limit */
	lim = p[3] + 118;
	q[1] = im->alloc_fast(x.d, 120, lim, false);
	CHECK(q[1] && q[1] != p[3] && q[1] + 119 <= lim, "120 pages at %lx, limit %lx",
	      q[1], lim);
	q[2] = im->alloc_fast(x.d, 65, LIMIT32, false);
	CHECK(q[2] == p[0], "65 pages at %lx, not in the 70-page range %lx", q[2], p[0]);
	q[3] = im->alloc_fast(x.d, 120, LIMIT32, false);
	CHECK(q[3] == p[3], "120 pages at %lx, not in the 140-page range %lx", q[3], p[3]);
	q[4] = im->alloc_fast(x.d, 100, LIMIT32, false);
	CHECK(q[4] == p[1], "100 pages at %lx, not in the 110-page range %lx", q[4], p[1]);
	CHECK(im->validate(x.d) == 0, "validate");
	im->free_fast(x.d, q[0], 75);
	im->free_fast(x.d, q[1], 120);
	im->free_fast(x.d, q[2], 65);
	im->free_fast(x.d, q[3], 120);
	im->free_fast(x.d, q[4], 100);
	s = stats_of(&x);
	CHECK(s.pages_live == 0 && s.allocs_live == 0, "%ld allocations / %ld pages live",
	      s.allocs_live, s.pages_live);
	CHECK(im->validate(x.d) == 0, "validate after the frees");
	return dom_close(&x);
}

static int t_exact_best_fit(const struct iova_impl *im)
{
	return exact_best_fit(im, "1") ?: exact_best_fit(im, "0");
}

/* 100 abutting 64-page ranges in a new domain: how many nodes? */
static long extents_after_100(const struct iova_impl *im)
{
	struct dom x;
	long n;

	if (dom_open(&x, im, 1, true, -1))
		return -1;
	for (int i = 0; i < 100; i++)
		if (!im->alloc_fast(x.d, 64, LIMIT32, false))
			return -1;
	n = stats_of(&x).extents;
	if (dom_close(&x))
		return -1;
	return n;
}

/*
 * The iova.merge module parameter, set through its registered ops as the
 * kernel command line would: it decides for domains created afterwards;
 * a bad value is refused and changes nothing.
 */
static int t_merge_param(const struct iova_impl *im)
{
	char val[16];

	CHECK(harness_param_get(im->name, "merge", val, sizeof(val)) > 0, "no merge parameter");
	CHECK(val[0] == 'Y', "default is %s", val);
	CHECK(harness_param_set(im->name, "merge", "0") == 0, "merge=0");
	CHECK(extents_after_100(im) == 100, "merge=0 gave %ld nodes", extents_after_100(im));
	harness_set_quiet(true);
	CHECK(harness_param_set(im->name, "merge", "maybe") != 0, "merge=maybe accepted");
	harness_set_quiet(false);
	harness_param_get(im->name, "merge", val, sizeof(val));
	CHECK(val[0] == 'N', "a bad value changed merge to %s", val);
	CHECK(harness_param_set(im->name, "merge", "1") == 0, "merge=1");
	CHECK(extents_after_100(im) == 1, "merge=1 gave %ld nodes", extents_after_100(im));
	return 0;
}

/* An rbtree of n nodes is never deeper than 2 log2(n + 1). */
static int t_depth_bound(const struct iova_impl *im)
{
	const long n = opt.quick ? 4096 : 16384;
	struct hstats s;
	struct dom x;
	long bound = 0;

	if (dom_open(&x, im, 1, false, 0))
		return -1;
	for (long i = 0; i < n; i++)
		CHECK(im->alloc(x.d, 1 + i % 3, LIMIT32, false), "allocation %ld", i);
	s = stats_of(&x);
	while ((1L << bound) < n + 1)
		bound++;
	CHECK(s.nodes >= n, "%ld nodes", s.nodes);
	CHECK(s.depth <= 2 * bound, "depth %ld for %ld nodes", s.depth, s.nodes);
	CHECK(im->validate(x.d) == 0, "validate");
	return dom_close(&x);
}

/* The validator must catch a broken tree (else every other test is moot). */
static int t_validator_catches(const struct iova_impl *im)
{
	struct hnode *a, *b;
	unsigned long lo, hi;
	struct dom x;
	long w;
	int ret;

	if (dom_open(&x, im, 1, false, 0))
		return -1;
	a = im->alloc(x.d, 8, LIMIT32, true);
	b = im->alloc(x.d, 8, LIMIT32, true);
	CHECK(a && b, "allocations");
	CHECK(im->validate(x.d) == 0, "validate of a sound tree");
	im->node_range(b, &lo, &hi);
	/* b below a: grow b over a's first page */
	w = harness_warnings();
	harness_set_quiet(true);
	*im->node_pfn_hi(b) = hi + 1;
	ret = im->validate(x.d);
	*im->node_pfn_hi(b) = hi;
	harness_set_quiet(false);
	CHECK(ret != 0, "overlap not detected");
	CHECK(im->validate(x.d) == 0, "validate after repair");
	x.warn0 += harness_warnings() - w;	/* the validator may WARN */
	im->free_node(x.d, a);
	im->free_node(x.d, b);
	return dom_close(&x);
}

/* ---- differential --------------------------------------------------------- */

struct diff_cfg {
	const char *name;
	struct model_cfg m;
	long ops;
	bool ours_only;
};

static const struct diff_cfg diff_cfgs[] = {
	{ "4k-pages-4cpus", { 1, 4095, 4096, true, -1, true, 4 }, 20000 },
	{ "small-1cpu", { 1, 1023, 4096, true, -1, true, 1 }, 10000 },
	/*
	 * tegra-vde: start_pfn 0, alloc_iova() only. (With the fast path a
	 * range at pfn 0 would read as failure, so no user combines them.)
	 */
	{ "start0-no-rcaches", { 0, 2047, 4096, false, -1, true, 1 }, 10000 },
	{ "merge-off", { 1, 4095, 4096, true, 0, true, 4 }, 20000, true },
	{ "tight-64k", { 1, 65535, 4096, true, -1, false, 8 }, 60000 },
};

static int run_diff(const struct iova_impl *im, const struct diff_cfg *c,
		    unsigned long long seed)
{
	unsigned long long rng = seed;
	long ops = opt.ops ? opt.ops : (opt.quick ? c->ops / 4 : c->ops);
	struct model *m;
	int ret = 0;

	harness_set_cpu(0);
	m = model_new(im, &c->m);
	for (long i = 0; i < ops && !model_error(m); i++)
		model_random_step(m, &rng);
	if (!model_error(m))
		model_finish(m);
	if (model_error(m))
		ret = failf("seed %llu: %s", seed, model_error(m));
	model_free(m);
	return ret;
}

/* ---- threads -------------------------------------------------------------- */

/*
 * A producer on CPU 0 allocates, a consumer on CPU 1 frees what it gets:
 * every free lands in another CPU's cache than the allocation came from.
 */
struct xfer {
	const struct iova_impl *im;
	struct hdom *d;
	unsigned long ring[256][2];
	unsigned int head, tail;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	long n;
	bool done;
	long failures;
};

static void *xfer_producer(void *arg)
{
	struct xfer *x = arg;
	unsigned long long rng = 7;

	harness_set_cpu(0);
	for (long i = 0; i < x->n; i++) {
		unsigned long size = hrand_range(&rng, 1, 40);
		unsigned long pfn = x->im->alloc_fast(x->d, size, LIMIT32, true);

		if (!pfn) {
			__atomic_add_fetch(&x->failures, 1, __ATOMIC_RELAXED);
			continue;
		}
		pthread_mutex_lock(&x->lock);
		while (x->head - x->tail == 256)
			pthread_cond_wait(&x->cond, &x->lock);
		x->ring[x->head % 256][0] = pfn;
		x->ring[x->head % 256][1] = size;
		x->head++;
		pthread_cond_broadcast(&x->cond);
		pthread_mutex_unlock(&x->lock);
	}
	pthread_mutex_lock(&x->lock);
	x->done = true;
	pthread_cond_broadcast(&x->cond);
	pthread_mutex_unlock(&x->lock);
	return NULL;
}

static void *xfer_consumer(void *arg)
{
	struct xfer *x = arg;

	harness_set_cpu(1);
	pthread_mutex_lock(&x->lock);
	for (;;) {
		unsigned long pfn, size;

		while (x->head == x->tail && !x->done)
			pthread_cond_wait(&x->cond, &x->lock);
		if (x->head == x->tail)
			break;
		pfn = x->ring[x->tail % 256][0];
		size = x->ring[x->tail % 256][1];
		x->tail++;
		pthread_cond_broadcast(&x->cond);
		pthread_mutex_unlock(&x->lock);
		x->im->free_fast(x->d, pfn, size);
		pthread_mutex_lock(&x->lock);
	}
	pthread_mutex_unlock(&x->lock);
	return NULL;
}

static int t_cross_cpu_free(const struct iova_impl *im)
{
	struct xfer x = { .im = im, .n = opt.quick ? 20000 : 200000 };
	pthread_t a, b;
	struct dom dx;
	struct hstats s;

	if (dom_open(&dx, im, 1, true, -1))
		return -1;
	x.d = dx.d;
	pthread_mutex_init(&x.lock, NULL);
	pthread_cond_init(&x.cond, NULL);
	pthread_create(&a, NULL, xfer_producer, &x);
	pthread_create(&b, NULL, xfer_consumer, &x);
	pthread_join(a, NULL);
	pthread_join(b, NULL);
	CHECK(x.failures == 0, "%ld allocations failed", x.failures);
	CHECK(im->validate(dx.d) == 0, "validate");
	s = stats_of(&dx);
	if (im->has_stats)
		CHECK(s.allocs_live == 0 && s.pages_live == 0, "%ld allocations live",
		      s.allocs_live);
	/* the consumer's cache took everything; an empty domain must be whole */
	CHECK(im->alloc_fast(dx.d, 1UL << 19, LIMIT32, true) == 1UL << 19,
	      "the upper half of the 32-bit space is not free again");
	return dom_close(&dx);
}

/*
 * Threads on their own CPUs allocate and free concurrently; each claims the
 * pages it gets in a shared map, so two threads ever holding the same page
 * is caught at once. A quarter of the frees go through another thread.
 */
#define OWN_PAGES (1UL << 16)

struct stress {
	const struct iova_impl *im;
	struct hdom *d;
	unsigned int threads;
	long iters;
	uint8_t *owner;
	struct {
		pthread_mutex_t lock;
		unsigned long v[64][3];
		int nr;
	} mbox[16];
	long errors;
	char err[256];
};

struct stress_arg {
	struct stress *s;
	unsigned int cpu;
};

static void stress_error(struct stress *s, const char *fmt, unsigned long a, unsigned long b)
{
	if (__atomic_fetch_add(&s->errors, 1, __ATOMIC_SEQ_CST) == 0)
		snprintf(s->err, sizeof(s->err), fmt, a, b);
}

static void claim(struct stress *s, unsigned long pfn, unsigned long pages, uint8_t who)
{
	for (unsigned long p = pfn; p < pfn + pages; p++) {
		uint8_t zero = 0;

		if (p >= OWN_PAGES ||
		    !__atomic_compare_exchange_n(&s->owner[p], &zero, who, false,
						 __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
			stress_error(s, "pfn %lu handed out twice (size %lu)", p, pages);
	}
}

static void unclaim(struct stress *s, unsigned long pfn, unsigned long pages)
{
	for (unsigned long p = pfn; p < pfn + pages && p < OWN_PAGES; p++)
		__atomic_store_n(&s->owner[p], 0, __ATOMIC_SEQ_CST);
}

/* Pages the fast path of @im hands out for @size: small sizes round up. */
static unsigned long fast_span(const struct iova_impl *im, unsigned long size)
{
	unsigned long p = 1;

	if (size > im->fast_round_max)
		return size;
	while (p < size)
		p <<= 1;
	return p;
}

/* Alignment of a fast-path range of @size: its size rounded up to a power of two. */
static unsigned long fast_align(unsigned long size)
{
	unsigned long p = 1;

	while (p < size)
		p <<= 1;
	return p;
}

/* kind 0: fast (pfn, size), kind 1: node */
static void stress_free(struct stress *s, unsigned long *e)
{
	if (e[2] == 0) {
		unclaim(s, e[0], fast_span(s->im, e[1]));
		s->im->free_fast(s->d, e[0], e[1]);
	} else {
		struct hnode *n = (struct hnode *)e[0];
		unsigned long lo, hi;

		s->im->node_range(n, &lo, &hi);
		if (hi - lo + 1 != e[1])
			stress_error(s, "alloc_iova node changed size to %lu (was %lu)",
				     hi - lo + 1, e[1]);
		unclaim(s, lo, hi - lo + 1);
		s->im->free_node(s->d, n);
	}
}

/* Leave @e for thread @other to free; false when its mailbox is full. */
static bool stress_pass_on(struct stress *s, unsigned int other, const unsigned long *e)
{
	bool room;

	pthread_mutex_lock(&s->mbox[other].lock);
	room = s->mbox[other].nr < 64;
	if (room)
		memcpy(s->mbox[other].v[s->mbox[other].nr++], e,
		       sizeof(s->mbox[other].v[0]));
	pthread_mutex_unlock(&s->mbox[other].lock);
	return room;
}

static void *stress_thread(void *arg)
{
	struct stress_arg *a = arg;
	struct stress *s = a->s;
	unsigned long held[128][3];
	unsigned long long rng = 0x9e3779b97f4a7c15ULL * (a->cpu + 1);
	int nr = 0;

	harness_set_cpu(a->cpu);
	for (long i = 0; i < s->iters && !__atomic_load_n(&s->errors, __ATOMIC_RELAXED); i++) {
		unsigned int other;
		unsigned long *e;

		/* frees other threads left for us */
		pthread_mutex_lock(&s->mbox[a->cpu].lock);
		while (s->mbox[a->cpu].nr) {
			e = s->mbox[a->cpu].v[--s->mbox[a->cpu].nr];
			stress_free(s, e);
		}
		pthread_mutex_unlock(&s->mbox[a->cpu].lock);

		if (nr < 128 && (nr < 16 || hrand_range(&rng, 0, 1))) {
			unsigned long size = hrand_range(&rng, 0, 9) ? hrand_range(&rng, 1, 16) :
					     hrand_range(&rng, 17, 300);
			unsigned long *h = held[nr];

			if (hrand_range(&rng, 0, 4)) {
				unsigned long pfn = s->im->alloc_fast(s->d, size,
								      OWN_PAGES - 1, true);
				if (!pfn)
					continue;
				claim(s, pfn, fast_span(s->im, size), a->cpu + 1);
				h[0] = pfn;
				h[1] = size;
				h[2] = 0;
			} else {
				struct hnode *n = s->im->alloc(s->d, size, OWN_PAGES - 1,
							       hrand_next(&rng) & 1);
				unsigned long lo, hi;

				if (!n)
					continue;
				s->im->node_range(n, &lo, &hi);
				claim(s, lo, hi - lo + 1, a->cpu + 1);
				h[0] = (unsigned long)n;
				h[1] = size;
				h[2] = 1;
			}
			nr++;
			continue;
		}
		if (!nr)
			continue;
		e = held[hrand_range(&rng, 0, nr - 1)];
		other = hrand_range(&rng, 0, s->threads - 1);
		if (other == a->cpu || hrand_range(&rng, 0, 3) ||
		    !stress_pass_on(s, other, e))
			stress_free(s, e);
		memcpy(e, held[--nr], sizeof(held[0]));
	}
	while (nr)
		stress_free(s, held[--nr]);
	return NULL;
}

static int t_concurrent_stress(const struct iova_impl *im)
{
	struct stress s = { .im = im, .threads = 4, .iters = opt.quick ? 20000 : 100000 };
	struct stress_arg args[16];
	pthread_t th[16];
	struct dom x;

	s.owner = calloc(OWN_PAGES, 1);
	if (!s.owner || dom_open(&x, im, 1, true, -1))
		return -1;
	s.d = x.d;
	for (unsigned int i = 0; i < s.threads; i++)
		pthread_mutex_init(&s.mbox[i].lock, NULL);
	for (unsigned int i = 0; i < s.threads; i++) {
		args[i].s = &s;
		args[i].cpu = i;
		pthread_create(&th[i], NULL, stress_thread, &args[i]);
	}
	for (unsigned int i = 0; i < s.threads; i++)
		pthread_join(th[i], NULL);
	/* leftovers in mailboxes */
	for (unsigned int i = 0; i < s.threads; i++)
		while (s.mbox[i].nr)
			stress_free(&s, s.mbox[i].v[--s.mbox[i].nr]);
	CHECK(s.errors == 0, "%ld errors, first: %s", s.errors, s.err);
	CHECK(im->validate(x.d) == 0, "validate");
	if (im->has_stats) {
		struct hstats st = stats_of(&x);

		CHECK(st.allocs_live == 0 && st.pages_live == 0 && st.lost == 0,
		      "%ld allocations, %ld pages live, %ld lost", st.allocs_live,
		      st.pages_live, st.lost);
	}
	CHECK(im->alloc_fast(x.d, OWN_PAGES / 2, OWN_PAGES - 1, true) == OWN_PAGES / 2,
	      "space not whole after all frees");
	free(s.owner);
	return dom_close(&x);
}

/*
 * The per-CPU pools under ThreadSanitizer: four threads on CPUs 1-4 map
 * and unmap ranges of every size class (1 to 1024 pages, the pools' and
 * caches' range, and some beyond), under three limits (the whole space,
 * its lower half, its lowest 4096 pages), a quarter of the frees handed
 * to another thread, some alloc_iova() nodes; meanwhile CPU 0 takes the
 * workers' CPUs offline one at a time and back, as the kernel would: the
 * worker is parked (its CPU runs nothing), the hotplug callbacks give its
 * cache and pool back while the others run on and free ranges it mapped,
 * then it comes back. Every page is claimed in a shared map, so a range
 * handed out twice is caught at once; at the end nothing is live or lost,
 * the domain validates and all of it can be allocated again.
 */
#define PS_WORKERS	4

struct pool_stress {
	struct stress s;
	int park[PS_WORKERS + 1];	/* CPU 0 asks CPU n to stop: 1, it did: 2 */
	int done;
	long cycles;
};

static const unsigned long ps_limits[] = { OWN_PAGES - 1, OWN_PAGES / 2 - 1, 4095 };

static void ps_park_point(struct pool_stress *ps, unsigned int cpu)
{
	if (__atomic_load_n(&ps->park[cpu], __ATOMIC_ACQUIRE) != 1)
		return;
	__atomic_store_n(&ps->park[cpu], 2, __ATOMIC_RELEASE);
	while (__atomic_load_n(&ps->park[cpu], __ATOMIC_ACQUIRE) == 2)
		sched_yield();
}

static void *ps_worker(void *arg)
{
	struct stress_arg *a = arg;
	struct pool_stress *ps = (struct pool_stress *)a->s;	/* s comes first */
	struct stress *s = a->s;
	unsigned long held[128][3];
	unsigned long long rng = opt.seed * 0x9e3779b97f4a7c15ULL + a->cpu;
	int nr = 0;

	harness_set_cpu(a->cpu);
	for (long i = 0; i < s->iters && !__atomic_load_n(&s->errors, __ATOMIC_RELAXED); i++) {
		unsigned int other;
		unsigned long *e;

		ps_park_point(ps, a->cpu);
		pthread_mutex_lock(&s->mbox[a->cpu].lock);
		while (s->mbox[a->cpu].nr)
			stress_free(s, s->mbox[a->cpu].v[--s->mbox[a->cpu].nr]);
		pthread_mutex_unlock(&s->mbox[a->cpu].lock);

		if (nr < 128 && (nr < 8 || hrand_range(&rng, 0, 1))) {
			unsigned long r = hrand_range(&rng, 0, 99), size, lo, hi, pfn;
			unsigned long limit = ps_limits[hrand_range(&rng, 0, 2)];
			unsigned long *h = held[nr];
			struct hnode *n;

			if (r < 50)
				size = hrand_range(&rng, 1, 32);
			else if (r < 90)
				size = hrand_range(&rng, 33, 1024);
			else
				size = hrand_range(&rng, 1025, 2048);
			if (hrand_range(&rng, 0, 9)) {
				pfn = s->im->alloc_fast(s->d, size, limit, true);
				if (!pfn)
					continue;
				if (pfn + fast_span(s->im, size) - 1 > limit ||
				    pfn & (fast_align(size) - 1))
					stress_error(s, "pfn %#lx breaks its limit or alignment (size %lu)",
						     pfn, size);
				claim(s, pfn, fast_span(s->im, size), a->cpu + 1);
				h[0] = pfn;
				h[1] = size;
				h[2] = 0;
			} else {
				n = s->im->alloc(s->d, size, limit, hrand_next(&rng) & 1);
				if (!n)
					continue;
				s->im->node_range(n, &lo, &hi);
				if (hi > limit)
					stress_error(s, "node ends at %#lx above its limit %#lx", hi,
						     limit);
				claim(s, lo, hi - lo + 1, a->cpu + 1);
				h[0] = (unsigned long)n;
				h[1] = size;
				h[2] = 1;
			}
			nr++;
			continue;
		}
		if (!nr)
			continue;
		e = held[hrand_range(&rng, 0, nr - 1)];
		other = hrand_range(&rng, 1, PS_WORKERS);
		if (other == a->cpu || hrand_range(&rng, 0, 3) ||
		    !stress_pass_on(s, other, e))
			stress_free(s, e);
		memcpy(e, held[--nr], sizeof(held[0]));
	}
	while (nr)
		stress_free(s, held[--nr]);
	__atomic_store_n(&ps->park[a->cpu], 3, __ATOMIC_RELEASE);	/* finished */
	return NULL;
}

static int t_pool_stress_hotplug(const struct iova_impl *im)
{
	struct pool_stress ps = { .s = { .im = im, .threads = PS_WORKERS + 1,
					 .iters = opt.quick ? 20000 : 80000 } };
	struct stress *s = &ps.s;
	struct stress_arg args[PS_WORKERS + 1];
	pthread_t th[PS_WORKERS + 1];
	unsigned long long rng = opt.seed;
	unsigned int cpu;
	int live, want;
	struct dom x;

	s->owner = calloc(OWN_PAGES, 1);
	if (!s->owner || dom_open(&x, im, 1, true, -1))
		return -1;
	s->d = x.d;
	for (cpu = 0; cpu <= PS_WORKERS; cpu++)
		pthread_mutex_init(&s->mbox[cpu].lock, NULL);
	for (cpu = 1; cpu <= PS_WORKERS; cpu++) {
		args[cpu].s = s;
		args[cpu].cpu = cpu;
		pthread_create(&th[cpu], NULL, ps_worker, &args[cpu]);
	}
	/* CPU 0: one worker's CPU down and up again, over and over */
	do {
		live = 0;
		for (cpu = 1; cpu <= PS_WORKERS; cpu++)
			live += __atomic_load_n(&ps.park[cpu], __ATOMIC_ACQUIRE) != 3;
		cpu = hrand_range(&rng, 1, PS_WORKERS);
		if (!live)
			continue;
		/* a worker that has finished stays at 3 */
		want = 0;
		if (!__atomic_compare_exchange_n(&ps.park[cpu], &want, 1, false,
						 __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
			continue;
		while (__atomic_load_n(&ps.park[cpu], __ATOMIC_ACQUIRE) == 1)
			sched_yield();
		if (__atomic_load_n(&ps.park[cpu], __ATOMIC_ACQUIRE) == 3)
			continue;	/* it finished instead */
		if (harness_cpu_offline(cpu))
			stress_error(s, "CPU %lu would not go offline (%lu)",
				     (unsigned long)cpu, 0);
		usleep(200);
		if (harness_cpu_online(cpu))
			stress_error(s, "CPU %lu would not come back (%lu)",
				     (unsigned long)cpu, 0);
		ps.cycles++;
		__atomic_store_n(&ps.park[cpu], 0, __ATOMIC_RELEASE);
		usleep(200);
	} while (live);
	for (cpu = 1; cpu <= PS_WORKERS; cpu++)
		pthread_join(th[cpu], NULL);
	for (cpu = 0; cpu <= PS_WORKERS; cpu++)
		while (s->mbox[cpu].nr)
			stress_free(s, s->mbox[cpu].v[--s->mbox[cpu].nr]);
	CHECK(s->errors == 0, "%ld errors, first: %s", s->errors, s->err);
	CHECK(ps.cycles > 0, "no CPU went offline");
	CHECK(im->validate(x.d) == 0, "validate");
	if (im->has_stats) {
		struct hstats st = stats_of(&x);

		CHECK(st.allocs_live == 0 && st.pages_live == 0 && st.lost == 0,
		      "%ld allocations, %ld pages live, %ld lost", st.allocs_live,
		      st.pages_live, st.lost);
	}
	CHECK(im->alloc_fast(x.d, OWN_PAGES / 2, OWN_PAGES - 1, true) == OWN_PAGES / 2,
	      "space not whole after all frees (%ld hotplug cycles)", ps.cycles);
	free(s->owner);
	return dom_close(&x);
}

/*
 * Ranges a CPU freed sit in its cache; when the CPU goes offline the
 * hotplug callback must return them to the tree.
 */
struct offline_arg {
	const struct iova_impl *im;
	struct hdom *d;
	unsigned long pfn[100];
};

static void *offline_worker(void *arg)
{
	struct offline_arg *o = arg;

	harness_set_cpu(3);
	for (int i = 0; i < 100; i++)
		o->pfn[i] = o->im->alloc_fast(o->d, 1, LIMIT32, false);
	for (int i = 0; i < 100; i++)
		if (o->pfn[i])
			o->im->free_fast(o->d, o->pfn[i], 1);
	return NULL;
}

static int t_cpu_offline_drains(const struct iova_impl *im)
{
	struct offline_arg o = { .im = im };
	struct hstats s;
	struct dom x;
	pthread_t t;
	long cached = 0;

	if (dom_open(&x, im, 1, true, -1))
		return -1;
	o.d = x.d;
	pthread_create(&t, NULL, offline_worker, &o);
	pthread_join(t, NULL);
	for (int i = 0; i < 100; i++) {
		CHECK(o.pfn[i], "allocation %d on CPU 3", i);
		cached += im->find(x.d, o.pfn[i]) != NULL;
	}
	s = stats_of(&x);
	if (im->has_stats)
		CHECK(s.cached == 100 && s.allocs_live == 0, "%ld cached, %ld live", s.cached,
		      s.allocs_live);
	else
		CHECK(cached == 100, "only %ld of 100 freed ranges cached", cached);
	CHECK(harness_cpu_offline(3) == 0, "offline");
	for (int i = 0; i < 100; i++)
		CHECK(!im->find(x.d, o.pfn[i]), "pfn %lx still held after CPU 3 died", o.pfn[i]);
	CHECK(im->validate(x.d) == 0, "validate");
	if (im->has_stats)
		CHECK(stats_of(&x).cached == 0, "%ld still cached", stats_of(&x).cached);
	CHECK(harness_cpu_online(3) == 0, "online");
	/* CPU 3 works again */
	pthread_create(&t, NULL, offline_worker, &o);
	pthread_join(t, NULL);
	CHECK(im->validate(x.d) == 0, "validate");
	return dom_close(&x);
}

/*
 * CPU 1 leaves a small domain's whole space in its cache. CPU 0 cannot get
 * it without flush_rcache, and must with it.
 */
struct fill_arg {
	const struct iova_impl *im;
	struct hdom *d;
	unsigned long lo, hi;
	long got;
};

static void *fill_worker(void *arg)
{
	struct fill_arg *f = arg;
	unsigned long pfn[64];
	int n = 0;

	harness_set_cpu(1);
	while (n < 64 && (pfn[n] = f->im->alloc_fast(f->d, 1, f->hi, false)))
		n++;
	f->got = n;
	while (n)
		f->im->free_fast(f->d, pfn[--n], 1);
	return NULL;
}

static int t_flush_rcache_retry(const struct iova_impl *im)
{
	struct fill_arg f = { .im = im, .lo = 16, .hi = 31 };
	unsigned long pfn;
	struct dom x;
	pthread_t t;

	if (dom_open(&x, im, f.lo, true, -1))
		return -1;
	f.d = x.d;
	pthread_create(&t, NULL, fill_worker, &f);
	pthread_join(t, NULL);
	CHECK(f.got == 16, "CPU 1 got %ld of 16 pages", f.got);
	/* ours reclaims other CPUs' caches before failing, whatever the flag */
	pfn = im->alloc_fast(x.d, 1, f.hi, false);
	CHECK(im->has_stats ? pfn != 0 : pfn == 0,
	      "CPU 0 without flush_rcache: %lu", pfn);
	if (pfn)
		im->free_fast(x.d, pfn, 1);
	pfn = im->alloc_fast(x.d, 16, f.hi, true);
	CHECK(pfn == f.lo, "with flush_rcache: %lu", pfn);
	im->free_fast(x.d, pfn, 16);
	CHECK(im->validate(x.d) == 0, "validate");
	return dom_close(&x);
}

/*
 * Space the caches hold is not lost to a 32-bit device: eight CPUs each map
 * and unmap 64 ranges of each size from 64 to 1024 pages below 4 GiB
 * (nearly the whole space passes through their caches), then CPU 0 maps
 * one page at a time with flush_rcache false, as dma-iommu's first 32-bit
 * attempt does, until that fails: every pfn of the space must be mapped,
 * as stock maps them all.
 */
static int t_cached_space_reclaimed(const struct iova_impl *im)
{
	static unsigned long pfn[64];
	unsigned long n = 0;
	struct dom x;

	if (dom_open(&x, im, 1, true, 1))
		return -1;
	for (unsigned int cpu = 0; cpu < harness_possible_cpus(); cpu++) {
		harness_set_cpu(cpu);
		for (unsigned long size = 64; size <= 1024; size *= 2) {
			for (int i = 0; i < 64; i++) {
				pfn[i] = im->alloc_fast(x.d, size, LIMIT32, false);
				if (!pfn[i])
					break;
			}
			for (int i = 0; i < 64 && pfn[i]; i++)
				im->free_fast(x.d, pfn[i], size);
		}
	}
	harness_set_cpu(0);
	while (im->alloc_fast(x.d, 1, LIMIT32, false))
		n++;
	CHECK(n == LIMIT32, "%lu of %lu pages mapped", n, LIMIT32);
	CHECK(im->validate(x.d) == 0, "validate");
	return dom_close(&x);
}

/*
 * 32-bit capacity: a device limited to 4 GiB maps one scenario of
 * capacity.h until its first failure, on a fresh domain of ours and one
 * of stock; ours must map at least as many pages as stock. Ranges of 33
 * pages or more take exactly their size in stock (aligned to the next
 * power of two), so the rest of their block serves smaller mappings.
 * With churn, 16 CPUs first map and unmap a mix of sizes, so their caches
 * and pools hold freed space when the fill starts. A full fill goes on
 * past a size that no longer fits until nothing of the cycle does.
 */
static int capacity32(const struct iova_impl *im, unsigned int idx,
		      unsigned int churn_cpus, bool full)
{
	const struct cap_scenario *sc = &cap_scenarios[idx];
	unsigned int cpus = harness_possible_cpus();
	long ours, stock;

	CHECK(idx < CAP_NR_SCENARIOS, "scenario %u", idx);
	if (churn_cpus)
		CHECK(harness_set_possible_cpus(churn_cpus) == 0, "%u CPUs", churn_cpus);
	ours = cap_fill(im, sc, churn_cpus, full);
	stock = cap_fill(&iova_impl_stock, sc, churn_cpus, full);
	if (churn_cpus)
		CHECK(harness_set_possible_cpus(cpus) == 0, "%u CPUs", cpus);
	CHECK(ours > 0 && stock > 0, "domains: ours %ld, stock %ld", ours, stock);
	tap_diag("capacity32 %s%s%s: ours %ld pages (%.1f%%), stock %ld (%.1f%%)",
		 churn_cpus ? "churn16 " : "", sc->name, full ? " full" : "", ours,
		 100.0 * ours / CAP_SPACE, stock, 100.0 * stock / CAP_SPACE);
	CHECK(ours >= stock, "%s: ours %ld pages (%.1f%%), stock %ld (%.1f%%)",
	      sc->name, ours, 100.0 * ours / CAP_SPACE, stock,
	      100.0 * stock / CAP_SPACE);
	return 0;
}

#define CAPACITY32(fn, idx, cpus, full)				\
static int fn(const struct iova_impl *im)			\
{								\
	return capacity32(im, idx, cpus, full);			\
}

CAPACITY32(t_capacity32_33, 0, 0, false)
CAPACITY32(t_capacity32_33_small, 1, 0, false)
CAPACITY32(t_capacity32_65, 2, 0, false)
CAPACITY32(t_capacity32_65_small, 3, 0, false)
CAPACITY32(t_capacity32_100, 4, 0, false)
CAPACITY32(t_capacity32_100_small, 5, 0, false)
CAPACITY32(t_capacity32_500, 6, 0, false)
CAPACITY32(t_capacity32_500_small, 7, 0, false)
CAPACITY32(t_capacity32_mix, 8, 0, false)
CAPACITY32(t_capacity32_churn_33, 0, 16, false)
CAPACITY32(t_capacity32_churn_33_small, 1, 16, false)
CAPACITY32(t_capacity32_churn_65, 2, 16, false)
CAPACITY32(t_capacity32_churn_65_small, 3, 16, false)
CAPACITY32(t_capacity32_churn_100, 4, 16, false)
CAPACITY32(t_capacity32_churn_100_small, 5, 16, false)
CAPACITY32(t_capacity32_churn_500, 6, 16, false)
CAPACITY32(t_capacity32_churn_500_small, 7, 16, false)
CAPACITY32(t_capacity32_churn_mix, 8, 16, false)
CAPACITY32(t_capacity32_33_small_full, 1, 0, true)
CAPACITY32(t_capacity32_65_small_full, 3, 0, true)
CAPACITY32(t_capacity32_100_small_full, 5, 0, true)
CAPACITY32(t_capacity32_500_small_full, 7, 0, true)
CAPACITY32(t_capacity32_mix_full, 8, 0, true)
CAPACITY32(t_capacity32_churn_33_small_full, 1, 16, true)
CAPACITY32(t_capacity32_churn_65_small_full, 3, 16, true)
CAPACITY32(t_capacity32_churn_100_small_full, 5, 16, true)
CAPACITY32(t_capacity32_churn_500_small_full, 7, 16, true)
CAPACITY32(t_capacity32_churn_mix_full, 8, 16, true)

/*
 * reserve_iova() against allocating CPUs: seven threads (CPUs 1-7) allocate
 * 1-4-page fast ranges and free none, while CPU 0 reserves free space just
 * below the lowest of them, at the top of the next chunk down, which is
 * where a pool that has just given its space back takes its next chunk
 * from. Every event
 * takes a ticket; an allocation whose call began after a reservation's
 * call returned must not lie in that reservation's range (ranges allocated
 * before stay, as reservations may overlap live allocations).
 */
#define RSV_THREADS	7
#define RSV_ALLOCS	1500
#define RSV_MAX		1024
#define RSV_CHUNK	4096UL	/* a pool's chunk (ours) */

struct rsv_alloc {
	unsigned long pfn, pages, ticket;
};

struct rsv {
	const struct iova_impl *im;
	struct hdom *d;
	unsigned long ticket;		/* atomic */
	unsigned long low;		/* atomic: lowest pfn allocated */
	int done;			/* atomic: allocating threads finished */
	int go;				/* atomic: start */
	struct rsv_alloc allocs[RSV_THREADS][RSV_ALLOCS];
	unsigned long nr[RSV_THREADS];
};

struct rsv_arg {
	struct rsv *r;
	unsigned int cpu;
};

static void *rsv_thread(void *arg)
{
	struct rsv_arg *a = arg;
	struct rsv *r = a->r;
	unsigned long long rng = 0x2545f4914f6cdd1dULL * (a->cpu + 1);
	struct rsv_alloc *e;
	unsigned long size, low;

	harness_set_cpu(a->cpu);
	while (!__atomic_load_n(&r->go, __ATOMIC_ACQUIRE))
		sched_yield();
	for (int i = 0; i < RSV_ALLOCS; i++) {
		if (!(i & 15))
			sched_yield();
		e = &r->allocs[a->cpu - 1][r->nr[a->cpu - 1]];
		size = hrand_range(&rng, 1, 4);
		e->ticket = __atomic_fetch_add(&r->ticket, 1, __ATOMIC_SEQ_CST);
		e->pfn = r->im->alloc_fast(r->d, size, LIMIT32, false);
		if (!e->pfn)
			break;
		e->pages = fast_span(r->im, size);
		r->nr[a->cpu - 1]++;
		low = __atomic_load_n(&r->low, __ATOMIC_RELAXED);
		while (e->pfn < low &&
		       !__atomic_compare_exchange_n(&r->low, &low, e->pfn, false,
						    __ATOMIC_RELAXED, __ATOMIC_RELAXED))
			;
	}
	__atomic_fetch_add(&r->done, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

static int reserve_race(const struct iova_impl *im, unsigned long long seed)
{
	static unsigned long q[RSV_MAX][3];	/* lo, hi, ticket after return */
	struct rsv_arg args[RSV_THREADS];
	pthread_t t[RSV_THREADS];
	unsigned long long rng = seed;
	unsigned long low, lo, hi;
	long nq = 0, failed = 0;
	struct rsv *r;
	struct dom x;

	r = calloc(1, sizeof(*r));
	CHECK(r, "memory");
	if (dom_open(&x, im, 1, true, 1))
		return -1;
	r->im = im;
	r->d = x.d;
	r->low = ~0UL;
	for (int i = 0; i < RSV_THREADS; i++) {
		args[i].r = r;
		args[i].cpu = i + 1;
		pthread_create(&t[i], NULL, rsv_thread, &args[i]);
	}
	__atomic_store_n(&r->go, 1, __ATOMIC_RELEASE);
	while (__atomic_load_n(&r->done, __ATOMIC_SEQ_CST) < RSV_THREADS && nq < RSV_MAX) {
		low = __atomic_load_n(&r->low, __ATOMIC_RELAXED);
		if (low == ~0UL || low < 2 * RSV_CHUNK)
			continue;
		hi = (low & ~(RSV_CHUNK - 1)) - hrand_range(&rng, 1, 8);
		lo = hi - hrand_range(&rng, 0, 7);
		if (!im->reserve(x.d, lo, hi)) {
			failed++;
			continue;
		}
		q[nq][0] = lo;
		q[nq][1] = hi;
		q[nq][2] = __atomic_fetch_add(&r->ticket, 1, __ATOMIC_SEQ_CST);
		nq++;
	}
	for (int i = 0; i < RSV_THREADS; i++)
		pthread_join(t[i], NULL);
	CHECK(nq > 0, "no reservation made (%ld failed)", failed);
	for (int c = 0; c < RSV_THREADS; c++) {
		for (unsigned long i = 0; i < r->nr[c]; i++) {
			struct rsv_alloc *e = &r->allocs[c][i];

			for (long k = 0; k < nq; k++)
				CHECK(e->ticket < q[k][2] || e->pfn + e->pages - 1 < q[k][0] ||
				      e->pfn > q[k][1],
				      "CPU %d allocated [%lx, %lx] inside reservation [%lx, %lx] made before",
				      c + 1, e->pfn, e->pfn + e->pages - 1, q[k][0], q[k][1]);
		}
	}
	CHECK(im->validate(x.d) == 0, "validate");
	free(r);
	return dom_close(&x);
}

/*
 * reserve_iova() over a CPU's pool chunk whose free gaps it must take back
 * from the pool, with no memory to be had: whatever it manages or not,
 * every page stays owned by the pool or by the domain, so once everything
 * is freed the whole space can be allocated again.
 */
#define RSV_FAIL_N	2048

static int t_reserve_pool_nomem(const struct iova_impl *im)
{
	unsigned long *pfn, lo, hi;
	struct hnode *all;
	struct dom x;

	if (im->has_stats)
		CHECK(harness_param_set(im->name, "pools", "1") == 0, "pools=1");
	pfn = calloc(RSV_FAIL_N, sizeof(*pfn));
	CHECK(pfn, "memory");
	if (dom_open(&x, im, 1, true, 1))
		return -1;
	for (int i = 0; i < RSV_FAIL_N; i++) {
		pfn[i] = im->alloc_fast(x.d, 1, LIMIT32, false);
		CHECK(pfn[i], "allocation %d", i);
	}
	/* enough frees to overflow the cache and the depot into the pool */
	for (int i = 0; i < RSV_FAIL_N; i += 2)
		im->free_fast(x.d, pfn[i], 1);
	lo = pfn[RSV_FAIL_N - 2];
	hi = pfn[2];
	if (lo > hi) {
		unsigned long t = lo;

		lo = hi;
		hi = t;
	}
	harness_set_quiet(true);
	harness_fail_nonblocking(true);
	im->reserve(x.d, lo, hi);
	harness_fail_nonblocking(false);
	harness_set_quiet(false);
	CHECK(im->validate(x.d) == 0, "validate after reserve_iova(%lx, %lx)", lo, hi);
	for (int i = 1; i < RSV_FAIL_N; i += 2)
		im->free_fast(x.d, pfn[i], 1);
	free(pfn);
	CHECK(!im->alloc_fast(x.d, LIMIT32 + 1, LIMIT32, true), "drain");
	/* the reservation, if made, stays: all space below it must be whole */
	all = im->alloc(x.d, lo - 1, lo - 1, false);
	CHECK(all, "the space below the reservation is not whole again");
	im->free_node(x.d, all);
	CHECK(im->validate(x.d) == 0, "validate");
	return dom_close(&x);
}

static int t_reserve_vs_pools(const struct iova_impl *im)
{
	int rounds = opt.quick ? 2 : 4, ret = 0;

	if (im->has_stats)
		CHECK(harness_param_set(im->name, "pools", "1") == 0, "pools=1");
	harness_set_lock_yield(true);
	for (int i = 0; i < rounds && !ret; i++)
		ret = reserve_race(im, opt.seed + i);
	harness_set_lock_yield(false);
	return ret;
}

/* ---- registry ------------------------------------------------------------- */

struct test {
	const char *name;
	int (*fn)(const struct iova_impl *im);
	unsigned int flags;
};

/*
 * Each of @cpus CPUs in turn allocates up to 64 ranges of every cached size,
 * 1 to 1024 pages, below 4 GiB and frees them again; *@peak is the most
 * pages the caches held after any size.
 */
static void fill_caches(struct dom *x, unsigned int cpus, long *peak)
{
	static unsigned long pfn[64];
	const struct iova_impl *im = x->im;
	struct hstats s;
	int i;

	for (unsigned int cpu = 0; cpu < cpus; cpu++) {
		harness_set_cpu(cpu);
		for (unsigned long size = 1; size <= 1024; size *= 2) {
			for (i = 0; i < 64; i++) {
				pfn[i] = im->alloc_fast(x->d, size, LIMIT32, false);
				if (!pfn[i])
					break;
			}
			while (i--)
				im->free_fast(x->d, pfn[i], size);
			im->stats(x->d, &s);
			if (s.cached_pages > *peak)
				*peak = s.cached_pages;
		}
	}
	harness_set_cpu(0);
}

/*
 * What a domain's caches and depot hold together is bounded by 1/16 of its
 * 32-bit space and a floor per possible CPU (4096 pages, or 1/256 of the
 * space if less): 64 CPUs each fill their cache with every size, with
 * pools (no depot) and without (the depot in use). The shared part is not
 * split evenly: CPU 0, filling its cache first, keeps far more than a 64th
 * of it.
 */
#define BOUND_CPUS	64
#define CACHE_FLOOR	4096UL	/* 1/256 of the space, rounded up */
/* start_pfn 1: the space is LIMIT32 */
#define CACHE_BOUND	((LIMIT32 >> 4) + BOUND_CPUS * CACHE_FLOOR)

static int cache_bound_run(const struct iova_impl *im, const char *pools)
{
	long peak = 0;
	struct dom x;
	int ret = 0;

	CHECK(harness_param_set(im->name, "pools", pools) == 0, "pools=%s", pools);
	if (dom_open(&x, im, 1, true, 1))
		return -1;
	fill_caches(&x, 1, &peak);
	if (peak < (long)(LIMIT32 >> 4) / 4)
		ret = failf("pools=%s: one CPU alone cached only %ld pages", pools,
			    peak);
	fill_caches(&x, BOUND_CPUS, &peak);
	if (!ret && peak > (long)CACHE_BOUND)
		ret = failf("pools=%s: %ld pages cached, bound %lu", pools, peak,
			    CACHE_BOUND);
	CHECK(im->validate(x.d) == 0, "validate");
	return dom_close(&x) ? -1 : ret;
}

/*
 * @run with BOUND_CPUS possible CPUs, pools set to @first then @second;
 * pools on and the possible CPUs as they were afterwards.
 */
static int on_bound_cpus(const struct iova_impl *im,
			 int (*run)(const struct iova_impl *, const char *),
			 const char *first, const char *second)
{
	unsigned int cpus = harness_possible_cpus();
	int ret;

	CHECK(harness_set_possible_cpus(BOUND_CPUS) == 0, "%d possible CPUs",
	      BOUND_CPUS);
	ret = run(im, first);
	if (!ret)
		ret = run(im, second);
	harness_param_set(im->name, "pools", "1");
	harness_set_possible_cpus(cpus);
	return ret;
}

static int t_cache_bound(const struct iova_impl *im)
{
	return on_bound_cpus(im, cache_bound_run, "1", "0");
}

/*
 * Idle caches decay: after every CPU filled its cache, a CPU that keeps
 * allocating keeps a cache, and once no CPU allocates, a few 100 ms ticks
 * of the delayed work empty every cache and the depot, the work stops
 * queueing itself, and alloc_iova(), which never looks into the caches,
 * finds the whole 32-bit space free.
 */
#define DECAY_TICKS	30

/*
 * DECAY_TICKS idle ticks of the decay work empty every cache of @x and the
 * work stops queueing itself; alloc_iova(), which never looks into the
 * caches, then finds the whole 32-bit space free. Closes @x.
 */
static int idle_then_whole_space(struct dom *x, const char *pools)
{
	const struct iova_impl *im = x->im;
	struct hnode *all;
	struct hstats s;
	int tick;

	for (tick = 0; tick < DECAY_TICKS; tick++) {
		harness_jiffies_advance(100);
		harness_run_delayed_work(false);
	}
	im->stats(x->d, &s);
	CHECK(s.cached_pages == 0, "pools=%s: %ld pages (%ld ranges) cached after %d idle ticks",
	      pools, s.cached_pages, s.cached, DECAY_TICKS);
	CHECK(harness_pending_work() == 0, "pools=%s: the decay work runs on with nothing cached",
	      pools);
	all = im->alloc(x->d, LIMIT32, LIMIT32, false);
	CHECK(all, "pools=%s: alloc_iova() of the whole 32-bit space failed", pools);
	im->free_node(x->d, all);
	CHECK(im->validate(x->d) == 0, "validate");
	return dom_close(x);
}

static int decay_run(const struct iova_impl *im, const char *pools)
{
	struct hstats s;
	unsigned long pfn;
	long peak = 0;
	struct dom x;
	int tick;

	CHECK(harness_param_set(im->name, "pools", pools) == 0, "pools=%s", pools);
	if (dom_open(&x, im, 1, true, 1))
		return -1;
	fill_caches(&x, harness_possible_cpus(), &peak);
	CHECK(peak > 0, "pools=%s: nothing was cached", pools);
	for (tick = 0; tick < DECAY_TICKS; tick++) {
		pfn = im->alloc_fast(x.d, 1, LIMIT32, false);
		CHECK(pfn, "alloc_fast");
		im->free_fast(x.d, pfn, 1);
		harness_jiffies_advance(100);
		harness_run_delayed_work(false);
	}
	im->stats(x.d, &s);
	CHECK(s.cached_pages > 0, "pools=%s: a busy CPU's cache decayed", pools);
	return idle_then_whole_space(&x, pools);
}

/* @run with pools on, then off; pools on again afterwards */
static int pools_on_off(const struct iova_impl *im,
			int (*run)(const struct iova_impl *, const char *))
{
	int ret = run(im, "1");

	if (!ret)
		ret = run(im, "0");
	harness_param_set(im->name, "pools", "1");
	return ret;
}

static int t_cache_decay(const struct iova_impl *im)
{
	return pools_on_off(im, decay_run);
}

/*
 * A cache that emptied and let the decay work stop must queue it again
 * with its next range, even one that what the CPU remembered of its
 * earlier frees lets it cache without a lookup: a one-page range is freed
 * (checked), taken back, idle ticks stop the work, and the range freed
 * again must be gone after DECAY_TICKS idle ticks.
 */
static int decay_rearm_run(const struct iova_impl *im, const char *pools)
{
	unsigned long pfn, again;
	struct dom x;
	int tick;

	CHECK(harness_param_set(im->name, "pools", pools) == 0, "pools=%s", pools);
	if (dom_open(&x, im, 1, true, 1))
		return -1;
	pfn = im->alloc_fast(x.d, 1, LIMIT32, false);
	CHECK(pfn, "alloc_fast");
	im->free_fast(x.d, pfn, 1);
	again = im->alloc_fast(x.d, 1, LIMIT32, false);
	CHECK(again == pfn, "pools=%s: the cache gave %#lx, not %#lx", pools, again, pfn);
	for (tick = 0; tick < 3; tick++) {
		harness_jiffies_advance(100);
		harness_run_delayed_work(false);
	}
	CHECK(harness_pending_work() == 0, "pools=%s: the decay work runs on with nothing cached",
	      pools);
	im->free_fast(x.d, pfn, 1);
	return idle_then_whole_space(&x, pools);
}

static int t_cache_decay_rearm(const struct iova_impl *im)
{
	return pools_on_off(im, decay_rearm_run);
}

/*
 * A cache miss with an empty depot costs no part of the bound: 8 CPUs
 * each allocate one 32-page range and keep it (a miss of a batch of 4096
 * pages each, more than the caches' whole share without pools), and a
 * ninth CPU that allocates and frees one page over and over is then still
 * served from its cache, before and after a while of decay ticks.
 */
#define HOG_CPUS	8
#define HOG_LOOPS	1000

static int hog_loop(struct dom *x, unsigned int cpu, const char *pools)
{
	const struct iova_impl *im = x->im;
	struct hstats a, b;
	unsigned long pfn;
	int i;

	harness_set_cpu(cpu);
	im->stats(x->d, &a);
	for (i = 0; i < HOG_LOOPS; i++) {
		pfn = im->alloc_fast(x->d, 1, LIMIT32, false);
		CHECK(pfn, "alloc_fast");
		im->free_fast(x->d, pfn, 1);
	}
	im->stats(x->d, &b);
	harness_set_cpu(0);
	CHECK(b.cache_hits - a.cache_hits >= HOG_LOOPS - 2,
	      "pools=%s: cpu %u: %ld cache hits of %d", pools, cpu,
	      b.cache_hits - a.cache_hits, HOG_LOOPS);
	return 0;
}

static int budget_hog_run(const struct iova_impl *im, const char *pools)
{
	struct dom x;
	unsigned int cpu;
	int tick;

	CHECK(harness_param_set(im->name, "pools", pools) == 0, "pools=%s", pools);
	if (dom_open(&x, im, 1, true, 1))
		return -1;
	for (cpu = 0; cpu < HOG_CPUS; cpu++) {
		harness_set_cpu(cpu);
		CHECK(im->alloc_fast(x.d, 32, LIMIT32, false), "alloc_fast(32)");
	}
	if (hog_loop(&x, HOG_CPUS + 1, pools))
		return -1;
	for (tick = 0; tick < DECAY_TICKS; tick++) {
		harness_jiffies_advance(100);
		harness_run_delayed_work(false);
	}
	if (hog_loop(&x, HOG_CPUS + 2, pools))
		return -1;
	return dom_close(&x);
}

static int t_cache_budget_hog(const struct iova_impl *im)
{
	return on_bound_cpus(im, budget_hog_run, "0", "1");
}

/*
 * Freed ranges of exact sizes (33 to 1024 pages, not a power of two) that
 * the caches list count against the same bound and decay with the rest:
 * every CPU maps and unmaps 16 ranges of 1000 pages; the caches never hold
 * more than the bound, an idle domain's caches are empty after the decay
 * ticks, and alloc_iova() then finds the whole 32-bit space.
 */
static int exact_bound_run(const struct iova_impl *im, const char *pools)
{
	unsigned long pfn[16];
	struct hstats s;
	long peak = 0;
	struct dom x;
	int i;

	if (dom_open_pools(&x, im, pools))
		return -1;
	for (unsigned int cpu = 0; cpu < BOUND_CPUS; cpu++) {
		harness_set_cpu(cpu);
		for (i = 0; i < 16; i++)
			pfn[i] = im->alloc_fast(x.d, 1000, LIMIT32, false);
		for (i = 0; i < 16; i++)
			if (pfn[i])
				im->free_fast(x.d, pfn[i], 1000);
		im->stats(x.d, &s);
		if (s.cached_pages > peak)
			peak = s.cached_pages;
	}
	harness_set_cpu(0);
	CHECK(peak <= (long)CACHE_BOUND, "pools=%s: %ld pages cached, bound %lu",
	      pools, peak, CACHE_BOUND);
	return idle_then_whole_space(&x, pools);
}

static int t_cache_bound_exact(const struct iova_impl *im)
{
	return on_bound_cpus(im, exact_bound_run, "0", "1");
}

/*
 * Each CPU's cache keeps a floor of its own beyond the shared bound, and a
 * cache at its budget moves a batch on to the depot: 8 CPUs map 32-page
 * ranges and 8 others unmap them, without pools, and most pairs stay off
 * the tree lock (the depot takes only half of the 8 batches that arrive at
 * once in this lockstep pattern); a domain that starts above the
 * 32-bit space, where the shared bound is empty, still caches.
 */
#define XCPU_PAIRS	8
#define XCPU_ROUNDS	2000

static int cache_floor_xcpu(const struct iova_impl *im)
{
	unsigned long t0, s0, t1, s1, pfn[XCPU_PAIRS];
	struct dom x;
	int round, a;

	CHECK(harness_param_set(im->name, "pools", "0") == 0, "pools=0");
	if (dom_open(&x, im, 1, true, 1))
		return -1;
	im->lock_counts(x.d, &t0, &s0);
	for (round = 0; round < XCPU_ROUNDS; round++) {
		for (a = 0; a < XCPU_PAIRS; a++) {
			harness_set_cpu(a);
			pfn[a] = im->alloc_fast(x.d, 32, LIMIT32, false);
			CHECK(pfn[a], "alloc_fast(32)");
		}
		for (a = 0; a < XCPU_PAIRS; a++) {
			harness_set_cpu(XCPU_PAIRS + a);
			im->free_fast(x.d, pfn[a], 32);
		}
		if (round % 500 == 499) {
			harness_jiffies_advance(100);
			harness_run_delayed_work(false);
		}
	}
	harness_set_cpu(0);
	im->lock_counts(x.d, &t1, &s1);
	/* before the floor, more than 1.8 per pair; stock 6.12 about 0.01 */
	CHECK((t1 - t0) * 4 < 3 * XCPU_ROUNDS * XCPU_PAIRS,
	      "%lu tree locks for %d map/unmap pairs on different CPUs",
	      t1 - t0, XCPU_ROUNDS * XCPU_PAIRS);
	return dom_close(&x);
}

static int cache_floor_high(const struct iova_impl *im)
{
	struct hstats a, b;
	unsigned long pfn;
	struct dom x;
	int i;

	if (dom_open(&x, im, LIMIT32 + 1, true, 1))
		return -1;
	im->stats(x.d, &a);
	for (i = 0; i < HOG_LOOPS; i++) {
		pfn = im->alloc_fast(x.d, 32, ~0UL, false);
		CHECK(pfn, "alloc_fast(32) above 4 GiB");
		im->free_fast(x.d, pfn, 32);
	}
	im->stats(x.d, &b);
	CHECK(b.cache_hits - a.cache_hits >= HOG_LOOPS - 2,
	      "start above the 32-bit space: %ld cache hits of %d",
	      b.cache_hits - a.cache_hits, HOG_LOOPS);
	return dom_close(&x);
}

static int t_cache_floor(const struct iova_impl *im)
{
	unsigned int cpus = harness_possible_cpus();
	int ret;

	CHECK(harness_set_possible_cpus(BOUND_CPUS) == 0, "%d possible CPUs",
	      BOUND_CPUS);
	ret = cache_floor_xcpu(im);
	harness_param_set(im->name, "pools", "1");
	if (!ret)
		ret = cache_floor_high(im);
	harness_set_possible_cpus(cpus);
	return ret;
}

/*
 * With pools, a CPU's small ranges that miss its cache come from its own
 * pool whatever it mapped before: a mapping of more than
 * IOVA_POOL_MAX_PAGES pages (from the domain's tree) must not send the
 * small ones that follow to the domain's tree lock, neither on this CPU
 * alone nor while another CPU keeps mapping such buffers. Only pool
 * refills (one per 4096 pages) may take it.
 */
#define REST_MISSES	900
#define REST_ROUNDS	50

static int rest_locks_alone(const struct iova_impl *im)
{
	unsigned long t0, s0, t1, s1;
	struct dom x;
	int i;

	if (dom_open_pools(&x, im, "1"))
		return -1;
	CHECK(im->alloc_fast(x.d, 1100, LIMIT32, false), "alloc_fast(1100)");
	/* the first small one fills the pool */
	CHECK(im->alloc_fast(x.d, 1, LIMIT32, false), "alloc_fast(1)");
	im->lock_counts(x.d, &t0, &s0);
	for (i = 0; i < REST_MISSES; i++)
		CHECK(im->alloc_fast(x.d, 1, LIMIT32, false), "alloc_fast(1)");
	im->lock_counts(x.d, &t1, &s1);
	CHECK(t1 - t0 <= 1,
	      "%d one-page misses after a 1100-page mapping took the tree lock %lu times",
	      REST_MISSES, t1 - t0);
	CHECK(im->validate(x.d) == 0, "validate");
	return dom_close(&x);
}

static int rest_locks_shared(const struct iova_impl *im)
{
	unsigned long t0, s0, t1, s1, taken = 0;
	struct dom x;
	int r, i;

	if (dom_open_pools(&x, im, "1"))
		return -1;
	harness_set_cpu(1);
	CHECK(im->alloc_fast(x.d, 1, LIMIT32, false), "alloc_fast(1)");
	CHECK(im->alloc_fast(x.d, 1100, LIMIT32, false), "alloc_fast(1100)");
	for (r = 0; r < REST_ROUNDS; r++) {
		harness_set_cpu(0);
		CHECK(im->alloc_fast(x.d, 1100, LIMIT32, false),
		      "alloc_fast(1100)");
		harness_set_cpu(1);
		im->lock_counts(x.d, &t0, &s0);
		for (i = 0; i < 100; i++)
			CHECK(im->alloc_fast(x.d, 1, LIMIT32, false),
			      "alloc_fast(1)");
		im->lock_counts(x.d, &t1, &s1);
		taken += t1 - t0;
	}
	harness_set_cpu(0);
	/* 5000 pages: at most two refills */
	CHECK(taken <= 2,
	      "CPU 1's %d one-page misses took the tree lock %lu times while CPU 0 mapped 1100 pages",
	      REST_ROUNDS * 100, taken);
	CHECK(im->validate(x.d) == 0, "validate");
	return dom_close(&x);
}

/*
 * A small range whose limit keeps it out of the rest of the last odd-sized
 * block leaves that rest to the next one: after a 33-page range, a page
 * limited to below it goes elsewhere, and the next page without that
 * limit still goes to the rest, not to the free space above the block.
 */
static int t_rest_kept_by_limit(const struct iova_impl *im)
{
	unsigned long big, low, pfn;
	struct dom x;

	if (dom_open_pools(&x, im, "0"))
		return -1;
	big = im->alloc_fast(x.d, 33, LIMIT32 - 1024, false);
	CHECK(big, "alloc_fast(33)");
	low = im->alloc_fast(x.d, 1, big - 1, false);
	CHECK(low && low < big, "page below %#lx: %#lx", big, low);
	pfn = im->alloc_fast(x.d, 1, LIMIT32, false);
	CHECK(pfn >= big + 33 && pfn < big + 64,
	      "page at %#lx, not in the rest [%#lx, %#lx]", pfn, big + 33,
	      big + 63);
	CHECK(im->validate(x.d) == 0, "validate");
	return dom_close(&x);
}

static int t_rest_own_pool(const struct iova_impl *im)
{
	int ret = rest_locks_alone(im);

	return ret ? ret : rest_locks_shared(im);
}

/*
 * A cache keeps its ranges between bursts of mappings: one CPU maps 200
 * 32-page ranges and unmaps them every 500 ms, without pools, and after
 * the first burst the tree lock is hardly taken.
 */
#define BURSTS		5
#define BURST_SIZE	200

static int t_cache_decay_burst(const struct iova_impl *im)
{
	static unsigned long pfn[BURST_SIZE];
	unsigned long t0, s0, t1, s1;
	struct dom x;
	int burst, i;

	CHECK(harness_param_set(im->name, "pools", "0") == 0, "pools=0");
	if (dom_open(&x, im, 1, true, 1))
		return -1;
	harness_set_cpu(1);
	for (burst = 0; burst < BURSTS; burst++) {
		if (burst == 1)
			im->lock_counts(x.d, &t0, &s0);
		for (i = 0; i < BURST_SIZE; i++) {
			pfn[i] = im->alloc_fast(x.d, 32, LIMIT32, false);
			CHECK(pfn[i], "alloc_fast(32)");
		}
		for (i = 0; i < BURST_SIZE; i++)
			im->free_fast(x.d, pfn[i], 32);
		for (i = 0; i < 5; i++) {
			harness_jiffies_advance(100);
			harness_run_delayed_work(false);
		}
	}
	harness_set_cpu(0);
	im->lock_counts(x.d, &t1, &s1);
	harness_param_set(im->name, "pools", "1");
	CHECK((t1 - t0) * 10 < (BURSTS - 1) * BURST_SIZE,
	      "%lu tree locks for %d bursts of %d maps 500 ms apart",
	      t1 - t0, BURSTS - 1, BURST_SIZE);
	return dom_close(&x);
}

/*
 * put_iova_domain() with the decay work queued cancels it before freeing:
 * nothing is left to run on the freed domain (the ASan build would see it
 * touch freed memory).
 */
static int t_cache_decay_put(const struct iova_impl *im)
{
	long peak = 0;
	struct dom x;

	if (dom_open(&x, im, 1, true, 1))
		return -1;
	fill_caches(&x, 2, &peak);
	CHECK(harness_pending_work() == 1, "%d works queued with %ld pages cached",
	      harness_pending_work(), peak);
	if (dom_close(&x))
		return -1;
	CHECK(harness_pending_work() == 0, "work left queued by put_iova_domain()");
	CHECK(harness_run_delayed_work(true) == 0, "work ran after put_iova_domain()");
	return 0;
}

static const struct test tests[] = {
	{ "nic_boot_merged", t_nic_boot_merged, T_STATS },
	{ "nic_boot_unmerged", t_nic_boot_unmerged, T_STATS | T_SLOW },
	{ "merge_split", t_merge_split, T_STATS },
	{ "exact_nodes_apart", t_exact_nodes_apart, 0 },
	{ "split_failure", t_split_failure, T_STATS },
	{ "fail_nth", t_fail_nth, 0 },
	{ "mismatched_free_oversized", t_mismatched_free_oversized, 0 },
	{ "mismatched_free_oversized_unmerged", t_mismatched_free_oversized_unmerged, 0 },
	{ "mismatched_free_cached", t_mismatched_free_cached, T_OURS },
	{ "mismatched_free_inside", t_mismatched_free_inside, T_OURS },
	{ "mismatched_free_unrounded", t_mismatched_free_unrounded, T_STATS },
	{ "exact_cache", t_exact_cache, T_STATS },
	{ "exact_best_fit", t_exact_best_fit, T_OURS },
	{ "exact_fast_abutting", t_exact_fast_abutting, 0 },
	{ "split_failure_storm", t_split_failure_storm, T_STATS },
	{ "merge_param", t_merge_param, T_STATS },
	{ "depth_bound", t_depth_bound, 0 },
	{ "validator_catches", t_validator_catches, 0 },
	{ "cross_cpu_free", t_cross_cpu_free, T_THREADED },
	{ "concurrent_stress", t_concurrent_stress, T_THREADED },
	{ "pool_stress_hotplug", t_pool_stress_hotplug, T_THREADED },
	{ "cpu_offline_drains", t_cpu_offline_drains, T_THREADED },
	{ "flush_rcache_retry", t_flush_rcache_retry, T_THREADED },
	{ "cached_space_reclaimed", t_cached_space_reclaimed, 0 },
	{ "reserve_vs_pools", t_reserve_vs_pools, T_THREADED },
	{ "reserve_pool_nomem", t_reserve_pool_nomem, 0 },
	{ "cache_bound", t_cache_bound, T_OURS },
	{ "cache_bound_exact", t_cache_bound_exact, T_OURS },
	{ "cache_decay", t_cache_decay, T_OURS },
	{ "cache_decay_rearm", t_cache_decay_rearm, T_OURS },
	{ "cache_decay_put", t_cache_decay_put, T_OURS },
	{ "cache_budget_hog", t_cache_budget_hog, T_OURS },
	{ "cache_floor", t_cache_floor, T_OURS },
	{ "rest_own_pool", t_rest_own_pool, T_OURS },
	{ "rest_kept_by_limit", t_rest_kept_by_limit, T_OURS },
	{ "cache_decay_burst", t_cache_decay_burst, T_OURS },
	{ "capacity32_33", t_capacity32_33, T_VS_STOCK },
	{ "capacity32_33+31x1", t_capacity32_33_small, T_VS_STOCK },
	{ "capacity32_65", t_capacity32_65, T_VS_STOCK },
	{ "capacity32_65+31x1", t_capacity32_65_small, T_VS_STOCK },
	{ "capacity32_100", t_capacity32_100, T_VS_STOCK },
	{ "capacity32_100+31x1", t_capacity32_100_small, T_VS_STOCK },
	{ "capacity32_500", t_capacity32_500, T_VS_STOCK },
	{ "capacity32_500+31x1", t_capacity32_500_small, T_VS_STOCK },
	{ "capacity32_mix", t_capacity32_mix, T_VS_STOCK },
	{ "capacity32_churn16_33", t_capacity32_churn_33, T_VS_STOCK },
	{ "capacity32_churn16_33+31x1", t_capacity32_churn_33_small, T_VS_STOCK },
	{ "capacity32_churn16_65", t_capacity32_churn_65, T_VS_STOCK },
	{ "capacity32_churn16_65+31x1", t_capacity32_churn_65_small, T_VS_STOCK },
	{ "capacity32_churn16_100", t_capacity32_churn_100, T_VS_STOCK },
	{ "capacity32_churn16_100+31x1", t_capacity32_churn_100_small, T_VS_STOCK },
	{ "capacity32_churn16_500", t_capacity32_churn_500, T_VS_STOCK },
	{ "capacity32_churn16_500+31x1", t_capacity32_churn_500_small, T_VS_STOCK },
	{ "capacity32_churn16_mix", t_capacity32_churn_mix, T_VS_STOCK },
	{ "capacity32_33+31x1_full", t_capacity32_33_small_full, T_VS_STOCK },
	{ "capacity32_65+31x1_full", t_capacity32_65_small_full, T_VS_STOCK },
	{ "capacity32_100+31x1_full", t_capacity32_100_small_full, T_VS_STOCK },
	{ "capacity32_500+31x1_full", t_capacity32_500_small_full, T_VS_STOCK },
	{ "capacity32_mix_full", t_capacity32_mix_full, T_VS_STOCK },
	{ "capacity32_churn16_33+31x1_full", t_capacity32_churn_33_small_full, T_VS_STOCK },
	{ "capacity32_churn16_65+31x1_full", t_capacity32_churn_65_small_full, T_VS_STOCK },
	{ "capacity32_churn16_100+31x1_full", t_capacity32_churn_100_small_full, T_VS_STOCK },
	{ "capacity32_churn16_500+31x1_full", t_capacity32_churn_500_small_full, T_VS_STOCK },
	{ "capacity32_churn16_mix_full", t_capacity32_churn_mix_full, T_VS_STOCK },
};

static bool selected(const char *name)
{
	return !opt.filter || strstr(name, opt.filter);
}

static void run_test(const struct iova_impl *im, const struct test *t)
{
	char name[256];
	bool ok;

	snprintf(name, sizeof(name), "%s: %s", im->name, t->name);
	if (!selected(name))
		return;
	if (opt.threads_only && !(t->flags & T_THREADED))
		return;
	if ((t->flags & T_STATS) && !im->has_stats) {
		tap_skip(name, "needs iova_domain_stats()");
		return;
	}
	if ((t->flags & T_OURS) && !im->has_stats) {
		tap_skip(name, "not a guarantee of stock 6.12");
		return;
	}
	if ((t->flags & T_VS_STOCK) && !im->has_stats) {
		tap_skip(name, "compares ours against stock");
		return;
	}
	if ((t->flags & T_SLOW) && opt.quick) {
		tap_skip(name, "slow (run without -q)");
		return;
	}
	why[0] = 0;
	harness_set_cpu(0);
	ok = t->fn(im) == 0;
	tap_result(ok, name, why[0] ? why : NULL);
	harness_fail_alloc_after(-1);
	harness_fail_nonblocking(false);
}

int main(int argc, char **argv)
{
	int c;

	opt.seed = (unsigned long long)time(NULL);
	while ((c = getopt(argc, argv, "s:n:qtkf:v")) != -1) {
		switch (c) {
		case 's':
			opt.seed = strtoull(optarg, NULL, 0);
			break;
		case 'n':
			opt.ops = strtol(optarg, NULL, 0);
			break;
		case 'q':
			opt.quick = true;
			break;
		case 't':
			opt.threads_only = true;
			break;
		case 'k':
			opt.kunit_only = true;
			break;
		case 'f':
			opt.filter = optarg;
			break;
		case 'v':
			tap_verbose = true;
			break;
		default:
			fprintf(stderr, "usage: %s [-s seed] [-n ops] [-q] [-t] [-k] [-f filter] [-v]\n",
				argv[0]);
			return 2;
		}
	}
	harness_set_possible_cpus(8);
	tap_diag("seed: %llu (rerun with -s %llu)", opt.seed, opt.seed);
	for (int i = 0; i < nr_iova_impls; i++)
		tap_diag("implementation %s: %s", iova_impls[i]->name,
			 iova_impls[i]->has_stats ? "merging allocator with stats" :
			 "stock 6.12 semantics");

	for (int i = 0; i < nr_iova_impls; i++) {
		const struct iova_impl *im = iova_impls[i];

		if (!opt.kunit_only)
			for (size_t t = 0; t < ARRAY_SIZE(tests); t++)
				run_test(im, &tests[t]);
		if (!opt.kunit_only && !opt.threads_only) {
			for (size_t k = 0; k < ARRAY_SIZE(diff_cfgs); k++) {
				const struct diff_cfg *dc = &diff_cfgs[k];
				char name[256];
				bool ok;

				snprintf(name, sizeof(name), "%s: differential %s", im->name,
					 dc->name);
				if (!selected(name))
					continue;
				if (dc->ours_only && !im->has_merge_switch) {
					tap_skip(name, "needs the merge switch");
					continue;
				}
				why[0] = 0;
				ok = run_diff(im, dc, opt.seed + k) == 0;
				tap_result(ok, name, why[0] ? why : NULL);
			}
		}
		if (!opt.threads_only && im->nr_kunit_suites && selected(im->name))
			harness_kunit_run(im->name, im->kunit_suites, im->nr_kunit_suites,
					  !opt.quick);
	}
	return tap_finish();
}
