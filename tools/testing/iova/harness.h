/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the harness programs (tests, benchmarks, fuzzer) see: the controls
 * of the simulated machine that iova_shim.h provides to the kernel code,
 * and one operations table per IOVA implementation built into the binary
 * (ours from KSRC, stock 6.12 from STOCK), so every program can run the
 * same workload against both.
 */
#ifndef IOVA_HARNESS_H
#define IOVA_HARNESS_H

#include <stdbool.h>
#include <stddef.h>

/* ---- the simulated machine ------------------------------------------------ */

#define HARNESS_NR_CPUS 64

/* The calling thread plays CPU @cpu from now on. */
void harness_set_cpu(unsigned int cpu);
unsigned int harness_get_cpu(void);
/* Number of possible CPUs; only while no per-CPU area is allocated. */
int harness_set_possible_cpus(unsigned int n);
unsigned int harness_possible_cpus(void);
/* Run the hotplug teardown (dead) or startup callbacks of every instance. */
int harness_cpu_offline(unsigned int cpu);
int harness_cpu_online(unsigned int cpu);

/* Every lock acquisition yields the CPU first: wider race windows. */
void harness_set_lock_yield(bool on);

/* Silence printk/WARN output (WARNs are still counted). */
void harness_set_quiet(bool quiet);
long harness_warnings(void);

/* Allocation fault injection. */
void harness_fail_alloc_after(long n);	/* n-th next allocation fails; -1 off */
void harness_fail_nonblocking(bool on);	/* GFP_ATOMIC/GFP_NOWAIT fail */
long harness_failed_allocs(void);

struct harness_mem {
	long objects;		/* live kmalloc + slab objects */
	long bytes;		/* their size as the kernel's slab would round */
	long slab_objects;	/* live objects of kmem caches */
	long slab_bytes;
	long kmalloc_objects;
	long kmalloc_bytes;
	long percpu_bytes;
	long allocs;		/* allocation calls since start */
};
void harness_mem(struct harness_mem *m);
/* Live objects and bytes of the kmem caches called @name (all impls). */
long harness_cache_objects(const char *name, long *bytes);

/* Delayed work: manual (default) or run by a worker thread on real time. */
void harness_wq_threaded(bool on);
void harness_jiffies_advance(unsigned long ms);
int harness_run_delayed_work(bool all);	/* manual mode; returns works run */
int harness_pending_work(void);		/* works queued and not yet run */

/* Module parameters of one implementation, e.g. ("ours", "merge", "0"). */
int harness_param_set(const char *impl, const char *name, const char *val);
int harness_param_get(const char *impl, const char *name, char *buf, size_t len);

/* ---- implementations ------------------------------------------------------- */

struct hdom;		/* one iova_domain of one implementation */
struct hnode;		/* a struct iova returned by alloc_iova/reserve/find */

struct hstats {
	long nodes;		/* rbtree nodes (stock: struct iova; ours: extents) */
	long depth;		/* rbtree height */
	long node_bytes;	/* node memory, slab-rounded */
	/* ours only (zero for stock) */
	long extents;
	long allocs_live;
	long pages_live;
	long merges;
	long splits;
	long cache_hits;
	long cache_misses;
	long cached;		/* ranges sitting in per-CPU caches */
	long cached_pages;	/* their pages */
	long banked;		/* spare nodes owed to extents */
	long lost;		/* frees dropped: leaked space */
};

struct kunit_suite;

struct iova_impl {
	const char *name;		/* "ours" or "stock" */
	int id;
	bool has_stats;			/* iova_domain_stats() and merging */
	bool exact_failure;		/* a failed alloc (after flush) means no room */
	unsigned long fast_round_max;	/* fast-path sizes up to this take a power of two */
	bool has_merge_switch;
	bool has_node_fail;		/* can fail the next internal node allocation */

	int (*cache_get)(void);
	void (*cache_put)(void);
	unsigned long (*rcache_range)(void);

	/* init_iova_domain (+ iova_domain_init_rcaches when @rcaches) */
	struct hdom *(*create)(unsigned long granule, unsigned long start_pfn,
			       bool rcaches, int merge);
	void (*destroy)(struct hdom *d);	/* put_iova_domain + free */

	unsigned long (*alloc_fast)(struct hdom *d, unsigned long size,
				    unsigned long limit_pfn, bool flush);
	void (*free_fast)(struct hdom *d, unsigned long pfn, unsigned long size);
	struct hnode *(*alloc)(struct hdom *d, unsigned long size,
			       unsigned long limit_pfn, bool size_aligned);
	struct hnode *(*reserve)(struct hdom *d, unsigned long lo, unsigned long hi);
	struct hnode *(*find)(struct hdom *d, unsigned long pfn);
	void (*free_pfn)(struct hdom *d, unsigned long pfn);
	void (*free_node)(struct hdom *d, struct hnode *n);
	void (*node_range)(struct hnode *n, unsigned long *lo, unsigned long *hi);
	unsigned long *(*node_pfn_hi)(struct hnode *n);	/* to corrupt a tree */
	unsigned long (*granule)(struct hdom *d);
	unsigned long (*start_pfn)(struct hdom *d);

	/* 0 when the tree is sound; ours: iova_validate(), stock: a walk */
	int (*validate)(struct hdom *d);
	void (*stats)(struct hdom *d, struct hstats *s);
	/* ours: make internal node allocations of @d fail until turned off */
	void (*fail_nodes)(struct hdom *d, bool on);
	/*
	 * Acquisitions so far, counted by the shim's locks, of the domain's
	 * tree lock (iova_rbtree_lock) and of all its domain-wide locks (the
	 * tree lock plus the depot lock, ours, or the per-size rcache locks,
	 * stock); the per-CPU locks are not counted.
	 */
	void (*lock_counts)(struct hdom *d, unsigned long *tree,
			    unsigned long *shared);

	/* the KUnit suite compiled against this implementation (or NULL) */
	struct kunit_suite **kunit_suites;
	int nr_kunit_suites;
};

extern const struct iova_impl iova_impl_ours;
extern const struct iova_impl iova_impl_stock;
extern const struct iova_impl *const iova_impls[];
extern const int nr_iova_impls;
const struct iova_impl *iova_impl_by_name(const char *name);

/* ---- small shared helpers --------------------------------------------------- */

/* xorshift64*: reproducible from a printed seed. */
static inline unsigned long long hrand_next(unsigned long long *s)
{
	unsigned long long x = *s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545F4914F6CDD1DULL;
}

static inline unsigned long hrand_range(unsigned long long *s, unsigned long lo,
					unsigned long hi)
{
	return lo + hrand_next(s) % (hi - lo + 1);
}

double harness_now_ns(void);

#endif /* IOVA_HARNESS_H */
