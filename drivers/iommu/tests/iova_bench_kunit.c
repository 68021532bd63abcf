// SPDX-License-Identifier: GPL-2.0-only
/*
 * KUnit benchmark of the IOVA allocator's fast path through its exported
 * API only, so that the same file builds against stock 6.12's iova.c and
 * the two can be timed in kernels of one configuration (make bench builds
 * both under UML and runs them in turn).
 *
 * small_pairs: 30,000 single-page mappings that stay (a boot's static
 * mappings), then pairs of alloc_iova_fast()/free_iova_fast() of 1 to 16
 * pages, each range freed at once, on one CPU: what a strict-mode NIC or
 * disk asks of the allocator. Each case prints one line
 *
 *   # iova-bench: small_pairs pairs=N ns_per_pair=X
 *
 * and fails only if the allocator fails; the timing is not asserted.
 */

#include <kunit/test.h>
#include <linux/iova.h>
#include <linux/ktime.h>
#include <linux/module.h>
#include <linux/prandom.h>
#include <linux/sizes.h>
#include <linux/slab.h>

#define BENCH_STATIC		30000UL
#define BENCH_LIMIT32		((1UL << 20) - 1)	/* 4 GiB in 4 KiB pages */

static unsigned long bench_pairs = 4000000;
module_param(bench_pairs, ulong, 0444);
MODULE_PARM_DESC(bench_pairs, "alloc/free pairs small_pairs times");

/* @n pairs of 1 to 16 pages, each freed at once; returns the pairs done */
static unsigned long iova_bench_pairs(struct iova_domain *iovad,
				      struct rnd_state *rnd, unsigned long n)
{
	unsigned long i, pfn, size;

	for (i = 0; i < n; i++) {
		size = 1 + prandom_u32_state(rnd) % 16;
		pfn = alloc_iova_fast(iovad, size, BENCH_LIMIT32, true);
		if (unlikely(!pfn))
			break;
		free_iova_fast(iovad, pfn, size);
	}
	return i;
}

static void iova_bench_small_pairs(struct kunit *test)
{
	struct rnd_state rnd;
	struct iova_domain *iovad;
	unsigned long i;
	u64 t0, t1;

	iovad = kunit_kzalloc(test, sizeof(*iovad), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, iovad);
	KUNIT_ASSERT_EQ(test, iova_cache_get(), 0);
	init_iova_domain(iovad, SZ_4K, 1);
	KUNIT_ASSERT_EQ(test, iova_domain_init_rcaches(iovad), 0);

	for (i = 0; i < BENCH_STATIC; i++) {
		if (!alloc_iova_fast(iovad, 1, BENCH_LIMIT32, true)) {
			KUNIT_FAIL(test, "static mapping %lu failed", i);
			goto out;
		}
	}

	prandom_seed_state(&rnd, 42);
	/* warm the caches: the same sizes, not timed */
	i = iova_bench_pairs(iovad, &rnd, 10000);
	if (i != 10000) {
		KUNIT_FAIL(test, "warm-up pair %lu failed", i);
		goto out;
	}

	t0 = ktime_get_ns();
	i = iova_bench_pairs(iovad, &rnd, bench_pairs);
	t1 = ktime_get_ns();
	KUNIT_EXPECT_EQ_MSG(test, i, bench_pairs, "pair %lu failed", i);
	if (i == bench_pairs && i)
		kunit_info(test, "# iova-bench: small_pairs pairs=%lu ns_per_pair=%llu.%02llu\n",
			   i, div64_u64(t1 - t0, i),
			   div64_u64((t1 - t0) % i * 100, i));
out:
	put_iova_domain(iovad);
	iova_cache_put();
}

static struct kunit_case iova_bench_cases[] = {
	KUNIT_CASE(iova_bench_small_pairs),
	{}
};

static struct kunit_suite iova_bench_suite = {
	.name = "iova_bench",
	.test_cases = iova_bench_cases,
};

kunit_test_suite(iova_bench_suite);

MODULE_DESCRIPTION("KUnit benchmark of the IOVA allocator's fast path");
MODULE_LICENSE("GPL");
