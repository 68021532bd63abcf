/* SPDX-License-Identifier: GPL-2.0 */
/*
 * 32-bit capacity: how much of the space below 4 GiB a device can map
 * before its first failed fast-path allocation, for one implementation.
 * Shared by the tests (ours must never map less than stock) and the
 * benchmark's capacity rows.
 *
 * A scenario is a cycle of sizes mapped in turn, optionally each followed
 * by a number of single-page mappings, with nothing unmapped, until an
 * allocation fails. With churn, every simulated CPU first maps and unmaps
 * a mix of sizes, so that the caches (and pools) hold freed ranges when
 * the fill starts, and the fill then moves to the next CPU each round.
 * A full fill goes on past failures, skipping what does not fit, until a
 * whole round fails.
 * Allocations pass flush_rcache=true, as dma-iommu's only attempt for a
 * device limited to 32 bits does.
 */
#ifndef IOVA_CAPACITY_H
#define IOVA_CAPACITY_H

#include "harness.h"

#define CAP_LIMIT32	((1UL << 20) - 1)	/* last 4 KiB pfn below 4 GiB */
#define CAP_START	1UL			/* pfn 0 is never allocated */
#define CAP_SPACE	(CAP_LIMIT32 - CAP_START + 1)
#define CAP_MAX_SIZES	16
#define CAP_CHURN_EACH	16	/* ranges of each churn size a CPU maps */

struct cap_scenario {
	const char *name;
	unsigned long sizes[CAP_MAX_SIZES];	/* the cycle, 0-terminated */
	unsigned int smalls;	/* one-page mappings after each size */
};

static const struct cap_scenario cap_scenarios[] = {
	{ "33", { 33 }, 0 },
	{ "33+31x1", { 33 }, 31 },
	{ "65", { 65 }, 0 },
	{ "65+31x1", { 65 }, 31 },
	{ "100", { 100 }, 0 },
	{ "100+31x1", { 100 }, 31 },
	{ "500", { 500 }, 0 },
	{ "500+31x1", { 500 }, 31 },
	{ "mix", { 100, 1, 1, 1, 33, 1, 500, 1, 65, 2, 1, 4 }, 0 },
};

#define CAP_NR_SCENARIOS (sizeof(cap_scenarios) / sizeof(cap_scenarios[0]))

/* What each CPU maps, then unmaps, before a fill with churn */
static const unsigned long cap_churn_sizes[] = {
	1, 3, 8, 16, 32, 33, 64, 65, 100, 256, 500, 1024,
};

#define CAP_NR_CHURN (sizeof(cap_churn_sizes) / sizeof(cap_churn_sizes[0]))

static inline void cap_churn(const struct iova_impl *im, struct hdom *d,
			     unsigned int cpus)
{
	static unsigned long pfn[CAP_NR_CHURN][CAP_CHURN_EACH];

	for (unsigned int cpu = 0; cpu < cpus; cpu++) {
		harness_set_cpu(cpu);
		for (unsigned int s = 0; s < CAP_NR_CHURN; s++)
			for (int i = 0; i < CAP_CHURN_EACH; i++)
				pfn[s][i] = im->alloc_fast(d, cap_churn_sizes[s],
							   CAP_LIMIT32, true);
		for (unsigned int s = 0; s < CAP_NR_CHURN; s++)
			for (int i = 0; i < CAP_CHURN_EACH; i++)
				if (pfn[s][i])
					im->free_fast(d, pfn[s][i], cap_churn_sizes[s]);
	}
	harness_set_cpu(0);
}

/*
 * Pages mapped (as asked, not as rounded) below 4 GiB on a fresh domain of
 * @im: until the first allocation of @sc fails, or with @full until every
 * size of it has failed (nothing is freed, so a size that failed once is
 * skipped from then on while the others go on filling the holes). With @churn_cpus, after
 * that many CPUs churned, and the fill rotates over them. Returns -1 if
 * no domain could be made. The domain is destroyed with everything in it.
 */
static inline long cap_fill(const struct iova_impl *im,
			    const struct cap_scenario *sc,
			    unsigned int churn_cpus, bool full)
{
	unsigned int nr = 0, cpu = 0, per, live = 0;
	unsigned long pages = 0, dead[CAP_MAX_SIZES + 1];
	struct hdom *d;

	while (nr < CAP_MAX_SIZES && sc->sizes[nr])
		nr++;
	per = nr * (sc->smalls + 1);
	harness_set_cpu(0);
	if (im->cache_get())
		return -1;
	d = im->create(4096, CAP_START, true, -1);
	if (!d) {
		im->cache_put();
		return -1;
	}
	if (churn_cpus)
		cap_churn(im, d, churn_cpus);
	for (unsigned long i = 0; ; i++) {
		unsigned int k = i % per;
		unsigned long size = k % (sc->smalls + 1) ? 1 :
				     sc->sizes[k / (sc->smalls + 1)];

		unsigned int j;

		if (churn_cpus && k == 0) {
			harness_set_cpu(cpu);
			cpu = (cpu + 1) % churn_cpus;
		}
		for (j = 0; j < live && dead[j] != size; j++)
			;
		if (j < live)
			continue;
		if (im->alloc_fast(d, size, CAP_LIMIT32, true)) {
			pages += size;
			continue;
		}
		if (!full)
			break;
		dead[live++] = size;
		for (j = 0; j < per; j++) {
			size = j % (sc->smalls + 1) ? 1 :
			       sc->sizes[j / (sc->smalls + 1)];
			for (k = 0; k < live && dead[k] != size; k++)
				;
			if (k == live)
				break;
		}
		if (j == per)
			break;
	}
	harness_set_cpu(0);
	im->destroy(d);
	im->cache_put();
	return pages;
}

#endif /* IOVA_CAPACITY_H */
