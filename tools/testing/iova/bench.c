// SPDX-License-Identifier: GPL-2.0
/*
 * iova_bench: stock 6.12 iova.c against ours, same binary, same run.
 *
 *   boot_trace     a NIC's boot: 30,000 single-page fast-path mappings that
 *                  stay, then churn of mixed sizes on top of them; rbtree
 *                  nodes and depth, node memory, ns per operation
 *   large_allocs   33-1024 page ranges (beyond the per-CPU caches) with the
 *                  30,000 mappings live
 *   fragmented32   a fragmented 32-bit space where a request that cannot
 *                  fit and one that can alternate (the soft-lockup pattern)
 *   threads        alloc/free throughput with 1, 2, 4, 8, 16 threads, each
 *                  playing its own CPU, a quarter of the frees cross-CPU
 *   cache_hit      a single page allocated and freed at once, over and
 *                  over: the per-CPU cache's hit, which is all a strict
 *                  mode map/unmap asks of the allocator
 *   capacity32     pages a device limited to 32 bits maps before its first
 *                  failure (capacity.h), single sizes and a mix, with and
 *                  without one-page mappings in between and churn on 16
 *                  CPUs before; "full" goes on past the sizes that no
 *                  longer fit: % of the space, stock beside ours
 *   shared_lock    acquisitions of the domain-wide locks per million
 *                  map/unmap operations in a steady state, per size class
 *                  (1, 16, 64, 256, 1024 pages), 2 threads: the shim's
 *                  locks count them (see lock_counts in harness.h)
 *
 * Each measurement is repeated; ns/op is reported as the median with the
 * minimum and maximum. Loop counts are calibrated on this machine so that
 * one repetition takes about --ms milliseconds. With --instructions the
 * single-threaded measurements (threads_1 among them) are also run once
 * under valgrind's callgrind, which counts instructions per operation: a
 * figure a busy or shared machine cannot disturb. Results go to stdout as
 * a table and, with --json FILE, as JSON.
 *
 * Options: --quick  --json FILE  --reps N  --ms N  --only NAME  --seed N
 *          --instructions
 */
#include <dirent.h>
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#if __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
#define HAVE_CALLGRIND 1
#else
#define CALLGRIND_ZERO_STATS do { } while (0)
#define CALLGRIND_DUMP_STATS_AT(l) do { (void)(l); } while (0)
#define HAVE_CALLGRIND 0
#endif

#include "capacity.h"
#include "harness.h"

#define LIMIT32		((1UL << 20) - 1)	/* 4 KiB pages below 4 GiB */
#define BOOT_PAGES	30000
#define MAX_REPS	15
#define MAX_SERIES	64

static struct {
	bool quick;
	int reps;
	double ms;
	const char *json;
	const char *only;
	unsigned long long seed;
	bool instructions;	/* also count instructions under callgrind */
	bool ir_child;		/* we are that callgrind run */
	const char *self;
} opt = { .reps = 5, .ms = 200, .seed = 42 };

/*
 * Instruction counting: in the callgrind run each measured loop is framed
 * by a reset of the counters and a dump labelled "bench|impl|ops"; the
 * parent reads the dumps back. Outside valgrind these are no-ops.
 */
static void ir_start(void)
{
	CALLGRIND_ZERO_STATS;
}

static void ir_stop(const char *bench, const char *impl, long ops)
{
	char label[128];

	snprintf(label, sizeof(label), "%s|%s|%ld", bench, impl, ops);
	CALLGRIND_DUMP_STATS_AT(label);
}

struct sample {
	double ns_per_op;
	long ops;
};

struct result {
	const char *impl;
	struct sample s[MAX_REPS];
	int n;
	double median, min, max;
	long ops;
	struct hstats st;	/* at the end of the last repetition */
	long slab_bytes;	/* live objects of the node cache, slab-rounded */
	long series[MAX_SERIES][2];
	int nr_series;
	double ir_per_op;	/* instructions per operation, 0 if not counted */
	char note[128];
};

struct bench {
	const char *name;
	const char *what;
	const char *target;
	struct result r[2];	/* stock, ours */
	double ratio;		/* stock ns/op over ours */
	double ir_ratio;	/* stock instructions over ours */
	int threads;		/* for the thread sweep */
};

static struct bench benches[16];
static int nr_benches;

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void summarise(struct result *r)
{
	double v[MAX_REPS];

	for (int i = 0; i < r->n; i++)
		v[i] = r->s[i].ns_per_op;
	qsort(v, r->n, sizeof(v[0]), cmp_double);
	r->min = v[0];
	r->max = v[r->n - 1];
	r->median = r->n % 2 ? v[r->n / 2] : (v[r->n / 2 - 1] + v[r->n / 2]) / 2;
	r->ops = r->s[0].ops;
}

static long node_cache_bytes(void)
{
	long bytes;

	harness_cache_objects("iommu_iova", &bytes);
	return bytes;
}

static struct hdom *open_domain(const struct iova_impl *im, unsigned long start)
{
	struct hdom *d;

	if (im->cache_get())
		abort();
	d = im->create(4096, start, true, -1);
	if (!d)
		abort();
	return d;
}

static void close_domain(const struct iova_impl *im, struct hdom *d)
{
	im->destroy(d);
	im->cache_put();
}

/* The tree and the node memory at the end of a run into @r, then close. */
static void close_measured(const struct iova_impl *im, struct hdom *d, struct result *r)
{
	im->stats(d, &r->st);
	r->slab_bytes = node_cache_bytes();
	close_domain(im, d);
}

/* Mixed sizes of streaming DMA: mostly single pages, a tail up to 64. */
static unsigned long churn_size(unsigned long long *rng)
{
	unsigned long r = hrand_range(rng, 0, 99);

	if (r < 60)
		return 1;
	if (r < 80)
		return hrand_range(rng, 2, 8);
	if (r < 95)
		return hrand_range(rng, 9, 32);
	return hrand_range(rng, 33, 64);
}

/* ---- (a) boot trace + churn ---------------------------------------------- */

struct churn_slot {
	unsigned long pfn, size;
};

/*
 * 30,000 single-page mappings, kept; @churn map/unmap pairs of mixed sizes
 * on top with 512 in flight. Returns ns per operation of the boot part in
 * *boot_ns and of the churn part as the result.
 */
static double boot_and_churn(const struct iova_impl *im, long churn, double *boot_ns,
			     struct result *r, struct result *rc, bool record)
{
	unsigned long long rng = opt.seed;
	struct churn_slot ring[512] = { 0 };
	struct hdom *d = open_domain(im, 1);
	double t0, t1, t2;
	struct hstats st;

	ir_start();
	t0 = harness_now_ns();
	for (long i = 0; i < BOOT_PAGES; i++) {
		if (!im->alloc_fast(d, 1, LIMIT32, true))
			abort();
		if (record && (i + 1) % (BOOT_PAGES / 20) == 0 && r->nr_series < MAX_SERIES) {
			t1 = harness_now_ns();
			im->stats(d, &st);
			r->series[r->nr_series][0] = i + 1;
			r->series[r->nr_series][1] = st.nodes;
			r->nr_series++;
			t0 += harness_now_ns() - t1;	/* not timed */
		}
	}
	t1 = harness_now_ns();
	ir_stop("boot_trace", im->name, BOOT_PAGES);
	/* the tree right after the boot trace (not timed) */
	im->stats(d, &r->st);
	r->slab_bytes = node_cache_bytes();
	ir_start();
	t1 = harness_now_ns();
	for (long i = 0; i < churn; i++) {
		struct churn_slot *s = &ring[i % 512];

		if (s->pfn)
			im->free_fast(d, s->pfn, s->size);
		s->size = churn_size(&rng);
		s->pfn = im->alloc_fast(d, s->size, LIMIT32, true);
		if (!s->pfn)
			abort();
	}
	t2 = harness_now_ns();
	ir_stop("boot_churn", im->name, 2 * churn);
	*boot_ns = (t1 - t0) / BOOT_PAGES;
	close_measured(im, d, rc);
	return (t2 - t1) / (2.0 * churn);
}

/* ---- (b) large allocations with 30,000 mappings live ------------------- */

static double large_allocs(const struct iova_impl *im, long n, struct result *r)
{
	unsigned long long rng = opt.seed;
	struct churn_slot ring[64] = { 0 };
	struct hdom *d = open_domain(im, 1);
	double t0, t1;

	for (long i = 0; i < BOOT_PAGES; i++)
		if (!im->alloc_fast(d, 1, LIMIT32, true))
			abort();
	ir_start();
	t0 = harness_now_ns();
	for (long i = 0; i < n; i++) {
		struct churn_slot *s = &ring[i % 64];

		if (s->pfn)
			im->free_fast(d, s->pfn, s->size);
		s->size = hrand_range(&rng, 33, 1024);
		s->pfn = im->alloc_fast(d, s->size, LIMIT32, true);
		if (!s->pfn)
			abort();
	}
	t1 = harness_now_ns();
	ir_stop("large_allocs", im->name, 2 * n);
	close_measured(im, d, r);
	return (t1 - t0) / (2.0 * n);
}

/* ---- (c) fragmented 32-bit space ------------------------------------------ */

/*
 * Every 128-page block of the 32-bit space holds four single-page
 * allocations in its upper half, so a 64-page aligned hole is left in
 * each and no 128-page range fits anywhere. (They are made top-down with
 * alloc_iova() and a limit at each pfn, which costs stock O(1) each; its
 * reserve_iova() walks the whole tree every time.) A 128-page request fails, a
 * 64-page one succeeds and is freed again (beyond the caches, so the free
 * reaches the tree): stock walks every node on each failure.
 * @blocks: how many 128-page blocks are fragmented (the rest of the space
 * below them is one reservation).
 */
static double fragmented(const struct iova_impl *im, long blocks, long n, struct result *r)
{
	unsigned long top = LIMIT32 + 1, base = top - blocks * 128;
	struct hdom *d = open_domain(im, 1);
	double t0, t1;
	long fails = 0;

	for (unsigned long b = top - 128;; b -= 128) {
		for (int k = 3; k >= 0; k--) {
			unsigned long p = b + 64 + 16 * k, lo, hi;
			struct hnode *node = im->alloc(d, 1, p, false);

			if (!node)
				abort();
			im->node_range(node, &lo, &hi);
			if (lo != p)
				abort();
		}
		if (b == base)
			break;
	}
	if (base > 1 && !im->reserve(d, 1, base - 1))
		abort();
	ir_start();
	t0 = harness_now_ns();
	for (long i = 0; i < n; i++) {
		unsigned long pfn;

		if (im->alloc_fast(d, 128, LIMIT32, false))
			abort();
		fails++;
		pfn = im->alloc_fast(d, 64, LIMIT32, false);
		if (!pfn)
			abort();
		im->free_fast(d, pfn, 64);
	}
	t1 = harness_now_ns();
	ir_stop("fragmented32", im->name, n);
	im->stats(d, &r->st);
	r->slab_bytes = node_cache_bytes();
	snprintf(r->note, sizeof(r->note), "%ld nodes, %ld failing requests", r->st.nodes, fails);
	close_domain(im, d);
	/* one "operation" is a failing request + a succeeding one + its free */
	return (t1 - t0) / n;
}

/* ---- (c2) the cache hit ---------------------------------------------------- */

/*
 * One page allocated and freed at once, @n times, after a warm-up: what a
 * strict-mode dma_map_page()/dma_unmap_page() pair asks of the allocator.
 */
static void hit_pairs(const struct iova_impl *im, struct hdom *d, long n)
{
	for (long i = 0; i < n; i++) {
		unsigned long pfn = im->alloc_fast(d, 1, LIMIT32, true);

		if (!pfn)
			abort();
		im->free_fast(d, pfn, 1);
	}
}

static double cache_hit(const struct iova_impl *im, long n, struct result *r)
{
	struct hdom *d = open_domain(im, 1);
	double t0, t1;

	hit_pairs(im, d, 1000);
	ir_start();
	t0 = harness_now_ns();
	hit_pairs(im, d, n);
	t1 = harness_now_ns();
	ir_stop("cache_hit", im->name, 2 * n);
	close_measured(im, d, r);
	return (t1 - t0) / (2.0 * n);
}

/* ---- (c3) small sizes on top of a boot ------------------------------------ */

/*
 * 30,000 single-page mappings that stay, then @n map/unmap pairs of 1 to 16
 * pages, each freed at once, on one CPU: a strict-mode NIC or disk whose
 * ring holds buffers of a few pages beside the boot's static mappings.
 */
static double small_pairs(const struct iova_impl *im, long n, struct result *r)
{
	unsigned long long rng = opt.seed;
	struct hdom *d = open_domain(im, 1);
	double t0, t1;

	for (long i = 0; i < BOOT_PAGES; i++)
		if (!im->alloc_fast(d, 1, LIMIT32, true))
			abort();
	for (int warm = 0; warm < 2; warm++) {
		if (warm)
			ir_start();
		t0 = harness_now_ns();
		for (long i = 0; i < (warm ? n : 1000); i++) {
			unsigned long size = hrand_range(&rng, 1, 16);
			unsigned long pfn = im->alloc_fast(d, size, LIMIT32, true);

			if (!pfn)
				abort();
			im->free_fast(d, pfn, size);
		}
		t1 = harness_now_ns();
	}
	ir_stop("small_pairs", im->name, 2 * n);
	close_measured(im, d, r);
	return (t1 - t0) / (2.0 * n);
}

/* ---- (d) threads ---------------------------------------------------------- */

struct tb {
	const struct iova_impl *im;
	struct hdom *d;
	int threads;
	long ops;
	pthread_barrier_t start;
	struct {
		pthread_mutex_t lock;
		unsigned long v[256][2];
		int nr;
	} mbox[16];
};

struct tb_arg {
	struct tb *tb;
	int cpu;
	double ns;
};

static void *tb_thread(void *arg)
{
	struct tb_arg *a = arg;
	struct tb *tb = a->tb;
	unsigned long long rng = opt.seed + a->cpu;
	struct churn_slot ring[64] = { 0 };
	double t0;

	harness_set_cpu(a->cpu);
	pthread_barrier_wait(&tb->start);
	/* one thread alone is counted like the other single-threaded loops */
	if (tb->threads == 1)
		ir_start();
	t0 = harness_now_ns();
	for (long i = 0; i < tb->ops; i++) {
		struct churn_slot *s = &ring[i % 64];

		if (s->pfn) {
			int other = hrand_range(&rng, 0, tb->threads - 1);

			/* a quarter of the frees happen on another CPU */
			if (other != a->cpu && hrand_range(&rng, 0, 3) == 0) {
				pthread_mutex_lock(&tb->mbox[other].lock);
				if (tb->mbox[other].nr < 256) {
					tb->mbox[other].v[tb->mbox[other].nr][0] = s->pfn;
					tb->mbox[other].v[tb->mbox[other].nr][1] = s->size;
					tb->mbox[other].nr++;
					s->pfn = 0;
				}
				pthread_mutex_unlock(&tb->mbox[other].lock);
			}
			if (s->pfn)
				tb->im->free_fast(tb->d, s->pfn, s->size);
		}
		if (i % 16 == 0) {
			pthread_mutex_lock(&tb->mbox[a->cpu].lock);
			while (tb->mbox[a->cpu].nr) {
				unsigned long *e = tb->mbox[a->cpu].v[--tb->mbox[a->cpu].nr];

				tb->im->free_fast(tb->d, e[0], e[1]);
			}
			pthread_mutex_unlock(&tb->mbox[a->cpu].lock);
		}
		s->size = hrand_range(&rng, 0, 15) ? churn_size(&rng) : hrand_range(&rng, 33, 256);
		s->pfn = tb->im->alloc_fast(tb->d, s->size, LIMIT32, true);
		if (!s->pfn)
			abort();
	}
	a->ns = harness_now_ns() - t0;
	if (tb->threads == 1)
		ir_stop("threads_1", tb->im->name, 2 * tb->ops);
	for (int i = 0; i < 64; i++)
		if (ring[i].pfn)
			tb->im->free_fast(tb->d, ring[i].pfn, ring[i].size);
	return NULL;
}

/* Returns ns per operation of the whole machine (wall time / all ops). */
static double threads_run(const struct iova_impl *im, int threads, long ops, struct result *r)
{
	struct tb tb = { .im = im, .threads = threads, .ops = ops };
	struct tb_arg args[16];
	pthread_t th[16];
	double wall = 0;

	tb.d = open_domain(im, 1);
	pthread_barrier_init(&tb.start, NULL, threads);
	for (int i = 0; i < threads; i++) {
		pthread_mutex_init(&tb.mbox[i].lock, NULL);
		args[i].tb = &tb;
		args[i].cpu = i;
		pthread_create(&th[i], NULL, tb_thread, &args[i]);
	}
	for (int i = 0; i < threads; i++) {
		pthread_join(th[i], NULL);
		if (args[i].ns > wall)
			wall = args[i].ns;
	}
	for (int i = 0; i < threads; i++)
		while (tb.mbox[i].nr) {
			unsigned long *e = tb.mbox[i].v[--tb.mbox[i].nr];

			im->free_fast(tb.d, e[0], e[1]);
		}
	pthread_barrier_destroy(&tb.start);
	im->stats(tb.d, &r->st);
	r->slab_bytes = node_cache_bytes();
	close_domain(im, tb.d);
	return wall / (2.0 * ops * threads);
}

/* ---- (e) shared-lock acquisitions in a steady state ---------------------- */

static const struct iova_impl *impl_k(int k);

#define SL_THREADS	2
#define SL_RING		256	/* ranges in flight per thread, at most */

static const unsigned long sl_sizes[] = { 1, 16, 64, 256, 1024 };
#define SL_CLASSES	(sizeof(sl_sizes) / sizeof(sl_sizes[0]))

/*
 * How unmaps follow maps. ring: the oldest range in flight is unmapped and
 * a new one mapped (a queue that completes in order); random: a random one
 * of those in flight (completions out of order); burst: SL_RING ranges
 * mapped, then all unmapped in random order (a batch of I/O).
 */
enum sl_pattern { SL_RING_ORDER, SL_RANDOM, SL_BURST, SL_PATTERNS };
static const char *const sl_pattern_names[] = { "ring", "random", "burst" };

struct sl_impl {
	unsigned long tree, shared;	/* acquisitions while measured */
	double per_m, tree_per_m;	/* per million operations */
	double ns_per_op;		/* wall time over all operations */
};

static struct sl_result {
	unsigned long pages;
	long steps;			/* operations per thread, measured */
	long ops;			/* operations measured, all threads */
	struct sl_impl r[SL_PATTERNS][2];	/* stock, ours */
	double worst[2];		/* per million, the worst pattern */
} sl_results[SL_CLASSES];
static int nr_sl_results;

struct sl_run {
	const struct iova_impl *im;
	struct hdom *d;
	unsigned long pages;
	enum sl_pattern pattern;
	long warm, steps;		/* operations per thread */
	pthread_barrier_t bar;
};

struct sl_arg {
	struct sl_run *run;
	int cpu;
};

static void sl_map(struct sl_run *run, unsigned long *slot)
{
	*slot = run->im->alloc_fast(run->d, run->pages, LIMIT32, true);
	if (!*slot)
		abort();
}

static void sl_unmap(struct sl_run *run, unsigned long *slot)
{
	run->im->free_fast(run->d, *slot, run->pages);
	*slot = 0;
}

/* @ops operations of @run's pattern on @ring, whose ranges stay mapped. */
static void sl_ops(struct sl_run *run, unsigned long *ring, long ops,
		   unsigned long long *rng, long *at)
{
	unsigned long *slot;
	long done = 0;

	while (done < ops) {
		if (run->pattern == SL_BURST) {
			for (int k = 0; k < SL_RING; k++)
				sl_map(run, &ring[k]);
			for (int k = SL_RING - 1; k > 0; k--) {
				int j = hrand_range(rng, 0, k);
				unsigned long t = ring[k];

				ring[k] = ring[j];
				ring[j] = t;
			}
			for (int k = 0; k < SL_RING; k++)
				sl_unmap(run, &ring[k]);
			done += 2 * SL_RING;
			continue;
		}
		if (run->pattern == SL_RING_ORDER)
			slot = &ring[(*at)++ % SL_RING];
		else
			slot = &ring[hrand_range(rng, 0, SL_RING - 1)];
		if (*slot) {
			sl_unmap(run, slot);
			done++;
		}
		sl_map(run, slot);
		done++;
	}
}

static void *sl_thread(void *arg)
{
	struct sl_arg *a = arg;
	struct sl_run *run = a->run;
	unsigned long ring[SL_RING] = { 0 };
	unsigned long long rng = opt.seed + a->cpu;
	long at = 0;

	harness_set_cpu(a->cpu);
	sl_ops(run, ring, run->warm, &rng, &at);
	pthread_barrier_wait(&run->bar);	/* counters read */
	pthread_barrier_wait(&run->bar);
	sl_ops(run, ring, run->steps, &rng, &at);
	pthread_barrier_wait(&run->bar);	/* counters read */
	pthread_barrier_wait(&run->bar);
	for (int i = 0; i < SL_RING; i++)
		if (ring[i])
			sl_unmap(run, &ring[i]);
	return NULL;
}

/*
 * SL_THREADS threads, each on its own CPU, map and unmap ranges of @pages
 * in @pattern. After a warm-up long enough to fill every pool and cache
 * (and a pool's working-set windows), the locks are counted over @ops
 * operations per thread, read while every thread is parked.
 */
static void sl_measure(const struct iova_impl *im, unsigned long pages,
		       enum sl_pattern pattern, long ops, struct sl_impl *out)
{
	struct sl_run run = { .im = im, .pages = pages, .pattern = pattern, .steps = ops };
	unsigned long tree0, shared0, tree1, shared1;
	struct sl_arg args[SL_THREADS];
	pthread_t th[SL_THREADS];
	double t0, t1;

	run.warm = 2 * 2048 + ops / 4;
	run.d = open_domain(im, 1);
	pthread_barrier_init(&run.bar, NULL, SL_THREADS + 1);
	for (int i = 0; i < SL_THREADS; i++) {
		args[i].run = &run;
		args[i].cpu = i;
		pthread_create(&th[i], NULL, sl_thread, &args[i]);
	}
	pthread_barrier_wait(&run.bar);
	im->lock_counts(run.d, &tree0, &shared0);
	t0 = harness_now_ns();
	pthread_barrier_wait(&run.bar);
	pthread_barrier_wait(&run.bar);
	t1 = harness_now_ns();
	im->lock_counts(run.d, &tree1, &shared1);
	pthread_barrier_wait(&run.bar);
	for (int i = 0; i < SL_THREADS; i++)
		pthread_join(th[i], NULL);
	pthread_barrier_destroy(&run.bar);
	close_domain(im, run.d);

	ops *= SL_THREADS;
	out->tree = tree1 - tree0;
	out->shared = shared1 - shared0;
	out->per_m = out->shared * 1e6 / ops;
	out->tree_per_m = out->tree * 1e6 / ops;
	out->ns_per_op = (t1 - t0) / ops;
}

static void run_shared_locks(void)
{
	long ops = opt.quick ? 2 * 8192 : 2 * 65536;	/* a multiple of 2 * SL_RING */

	for (size_t c = 0; c < SL_CLASSES; c++) {
		struct sl_result *r = &sl_results[nr_sl_results++];

		r->pages = sl_sizes[c];
		r->steps = ops;
		r->ops = ops * SL_THREADS;
		for (int p = 0; p < SL_PATTERNS; p++)
			for (int k = 0; k < 2; k++) {
				sl_measure(impl_k(k), sl_sizes[c], p, ops, &r->r[p][k]);
				if (r->r[p][k].per_m > r->worst[k])
					r->worst[k] = r->r[p][k].per_m;
			}
	}
}

static void print_shared_locks(void)
{
	if (!nr_sl_results)
		return;
	printf("\nshared_lock: domain-wide lock acquisitions per million map/unmap operations,\n"
	       "%d threads (one CPU each), up to %d ranges in flight per thread, after a warm-up\n",
	       SL_THREADS, SL_RING);
	printf("%-6s %-7s %9s %13s %13s %13s %13s %9s %9s\n", "pages", "pattern", "ops",
	       "stock/M ops", "ours/M ops", "stock tree/M", "ours tree/M", "stock ns",
	       "ours ns");
	for (int i = 0; i < nr_sl_results; i++) {
		struct sl_result *r = &sl_results[i];

		for (int p = 0; p < SL_PATTERNS; p++)
			printf("%-6lu %-7s %9ld %13.1f %13.1f %13.1f %13.1f %9.1f %9.1f\n",
			       r->pages, sl_pattern_names[p], r->ops, r->r[p][0].per_m,
			       r->r[p][1].per_m, r->r[p][0].tree_per_m, r->r[p][1].tree_per_m,
			       r->r[p][0].ns_per_op, r->r[p][1].ns_per_op);
	}
	printf("  target: ours <= 1,000 per million operations for every size up to 1024 pages\n"
	       "  (figure ours/stock.shared_lock_per_m_ops.pages_N: the worst pattern)\n");
}

/* ---- 32-bit capacity ------------------------------------------------------ */

#define CAP_ROWS	(4 * CAP_NR_SCENARIOS)	/* churn or not, full or not */

static struct cap_row {
	const char *scenario;
	unsigned int churn_cpus;
	bool full;
	long pages[2];		/* stock, ours */
} cap_rows[CAP_ROWS];
static int nr_cap_rows;

static void run_capacity(void)
{
	for (int churn = 0; churn < 2; churn++)
		for (int full = 0; full < 2; full++)
			for (size_t i = 0; i < CAP_NR_SCENARIOS; i++) {
				const struct cap_scenario *sc = &cap_scenarios[i];
				struct cap_row *r;

				/* with one size and nothing between, full is the same */
				if ((full && !sc->smalls && sc->sizes[1] == 0) ||
				    nr_cap_rows == CAP_ROWS)
					continue;
				r = &cap_rows[nr_cap_rows++];
				r->scenario = sc->name;
				r->churn_cpus = churn ? harness_possible_cpus() : 0;
				r->full = full;
				for (int k = 0; k < 2; k++)
					r->pages[k] = cap_fill(impl_k(k), sc, r->churn_cpus,
							       full);
			}
}

static double cap_pct(long pages)
{
	return 100.0 * pages / CAP_SPACE;
}

static void print_capacity(void)
{
	if (!nr_cap_rows)
		return;
	printf("\ncapacity32: pages mapped below 4 GiB (%lu pages) at the first failure,\n"
	       "or with \"full\" when no size of the scenario fits any more\n", CAP_SPACE);
	printf("%-12s %-6s %-5s %9s %7s %9s %7s %8s\n", "scenario", "churn", "full",
	       "stock", "%", "ours", "%", "ours-st");
	for (int i = 0; i < nr_cap_rows; i++) {
		struct cap_row *r = &cap_rows[i];

		printf("%-12s %-6u %-5s %9ld %7.1f %9ld %7.1f %8ld\n", r->scenario,
		       r->churn_cpus, r->full ? "yes" : "no", r->pages[0],
		       cap_pct(r->pages[0]), r->pages[1], cap_pct(r->pages[1]),
		       r->pages[1] - r->pages[0]);
	}
	printf("  target: ours >= stock in every row\n");
}

static void json_capacity(FILE *f)
{
	fprintf(f, " \"capacity32\": {\"space_pages\": %lu, \"what\": \"pages mapped "
		"below 4 GiB at the first failure (full: when no size fits any more)\", "
		"\"rows\": [", CAP_SPACE);
	for (int i = 0; i < nr_cap_rows; i++) {
		struct cap_row *r = &cap_rows[i];

		fprintf(f, "%s\n  {\"scenario\": \"%s\", \"churn_cpus\": %u, "
			"\"full\": %s, \"stock_pages\": %ld, \"ours_pages\": %ld, "
			"\"stock_pct\": %.2f, \"ours_pct\": %.2f}", i ? "," : "",
			r->scenario, r->churn_cpus, r->full ? "true" : "false",
			r->pages[0], r->pages[1], cap_pct(r->pages[0]),
			cap_pct(r->pages[1]));
	}
	fprintf(f, "]},\n");
}

/* ---- driver --------------------------------------------------------------- */

/* Scale @n so that one run of @fn takes about opt.ms milliseconds. */
static long calibrate(double (*probe)(const struct iova_impl *, long), const struct iova_impl *im,
		      long n)
{
	double ns = probe(im, n) * 2 * n;	/* probes return ns per half-pair */

	if (ns <= 0)
		return n;
	n = (long)(n * (opt.ms * 1e6 / ns));
	return n < 100 ? 100 : n;
}

static double probe_churn(const struct iova_impl *im, long n)
{
	struct result r = { 0 }, rc = { 0 };
	double boot;

	return boot_and_churn(im, n, &boot, &r, &rc, false);
}

static double probe_large(const struct iova_impl *im, long n)
{
	struct result r = { 0 };

	return large_allocs(im, n, &r);
}

static double probe_hit(const struct iova_impl *im, long n)
{
	struct result r = { 0 };

	return cache_hit(im, n, &r);
}

static double probe_small(const struct iova_impl *im, long n)
{
	struct result r = { 0 };

	return small_pairs(im, n, &r);
}

static struct bench *new_bench(const char *name, const char *what, const char *target)
{
	struct bench *b = &benches[nr_benches++];

	memset(b, 0, sizeof(*b));
	b->name = name;
	b->what = what;
	b->target = target;
	return b;
}

static bool wanted(const char *name)
{
	return !opt.only || strstr(name, opt.only);
}

static void finish(struct bench *b)
{
	for (int k = 0; k < 2; k++)
		summarise(&b->r[k]);
	b->ratio = b->r[0].median / b->r[1].median;
}

static const struct iova_impl *impl_k(int k)
{
	return iova_impl_by_name(k ? "ours" : "stock");
}

static void run_boot(void)
{
	struct bench *boot = new_bench("boot_trace",
				       "30,000 single-page fast-path maps that stay",
				       "ours <= 16 nodes (stock: 30,000)");
	struct bench *churn = new_bench("boot_churn",
					"mixed 1-64 page map+unmap, 512 in flight, on top of the boot trace",
					"no slower than stock");
	long n = calibrate(probe_churn, impl_k(0), opt.quick ? 2000 : 10000);

	for (int rep = 0; rep < opt.reps; rep++) {
		for (int k = 0; k < 2; k++) {
			const struct iova_impl *im = impl_k(k);
			double boot_ns, churn_ns;

			boot->r[k].impl = churn->r[k].impl = im->name;
			churn_ns = boot_and_churn(im, n, &boot_ns, &boot->r[k], &churn->r[k],
						  rep == 0);
			boot->r[k].s[rep] = (struct sample){ boot_ns, BOOT_PAGES };
			churn->r[k].s[rep] = (struct sample){ churn_ns, 2 * n };
			boot->r[k].n = churn->r[k].n = rep + 1;
		}
	}
	finish(boot);
	finish(churn);
}

/* opt.reps runs of @fn with @n alloc/free pairs, stock and ours in turn */
static void run_pairs(struct bench *b,
		      double (*fn)(const struct iova_impl *, long, struct result *), long n)
{
	for (int rep = 0; rep < opt.reps; rep++)
		for (int k = 0; k < 2; k++) {
			b->r[k].impl = impl_k(k)->name;
			b->r[k].s[rep] = (struct sample){ fn(impl_k(k), n, &b->r[k]), 2 * n };
			b->r[k].n = rep + 1;
		}
	finish(b);
}

static void run_large(void)
{
	struct bench *b = new_bench("large_allocs",
				    "33-1024 page map+unmap, 64 in flight, 30,000 pages live",
				    "ours >= 3x stock throughput");

	run_pairs(b, large_allocs, calibrate(probe_large, impl_k(0), opt.quick ? 500 : 2000));
}

static void run_fragmented(void)
{
	struct bench *b = new_bench("fragmented32",
				    "128-page request fails, 64-page one fits (and is freed), alternately",
				    "ours >= 100x stock");
	long blocks = opt.quick ? 1024 : 8192;	/* x4 nodes */
	long n = opt.quick ? 50 : 200;
	struct result probe = { 0 };
	double ns = fragmented(impl_k(0), blocks, 10, &probe);

	/* stock's cost per iteration grows with the tree; keep its run bounded */
	if (ns > 0) {
		long want = (long)(opt.ms * 1e6 / ns);

		n = want < 20 ? 20 : (want > n * 10 ? n * 10 : want);
	}
	for (int rep = 0; rep < opt.reps; rep++)
		for (int k = 0; k < 2; k++) {
			b->r[k].impl = impl_k(k)->name;
			b->r[k].s[rep] = (struct sample){ fragmented(impl_k(k), blocks, n, &b->r[k]), n };
			b->r[k].n = rep + 1;
		}
	finish(b);
}

static void run_hit(void)
{
	struct bench *b = new_bench("cache_hit",
				    "1-page alloc+free at once, the per-CPU cache's hit",
				    "no slower than stock");

	run_pairs(b, cache_hit, calibrate(probe_hit, impl_k(0), opt.quick ? 20000 : 100000));
}

static void run_small(void)
{
	struct bench *b = new_bench("small_pairs",
				    "1-16 page alloc+free at once, on top of 30,000 pages that stay",
				    "no slower than stock");

	run_pairs(b, small_pairs, calibrate(probe_small, impl_k(0), opt.quick ? 20000 : 100000));
}

static void run_threads(void)
{
	static const int counts[] = { 1, 2, 4, 8, 16 };
	long ops = opt.quick ? 20000 : 100000;
	struct result probe = { 0 };
	double ns = threads_run(impl_k(0), 1, 5000, &probe);

	if (ns > 0)
		ops = (long)(opt.ms * 1e6 / ns / 2);
	for (size_t c = 0; c < sizeof(counts) / sizeof(counts[0]); c++) {
		char *name = malloc(32);
		struct bench *b;

		snprintf(name, 32, "threads_%d", counts[c]);
		b = new_bench(name, "alloc/free pairs of mixed sizes, each thread a CPU, 1/4 frees cross-CPU",
			      "scales with threads");
		b->threads = counts[c];
		for (int rep = 0; rep < opt.reps; rep++)
			for (int k = 0; k < 2; k++) {
				b->r[k].impl = impl_k(k)->name;
				b->r[k].s[rep] = (struct sample){
					threads_run(impl_k(k), counts[c], ops / counts[c], &b->r[k]),
					2 * (ops / counts[c]) * counts[c] };
				b->r[k].n = rep + 1;
			}
		finish(b);
	}
}

/* ---- instruction counts under callgrind ------------------------------------ */

/* The callgrind run: every single-threaded loop once per implementation. */
static void ir_child(void)
{
	long churn = opt.quick ? 5000 : 20000, large = opt.quick ? 500 : 2000;
	long blocks = opt.quick ? 1024 : 8192;

	for (int k = 0; k < 2; k++) {
		const struct iova_impl *im = iova_impl_by_name(k ? "ours" : "stock");
		struct result r = { 0 }, rc = { 0 };
		double boot;

		boot_and_churn(im, churn, &boot, &r, &rc, false);
		large_allocs(im, large, &r);
		fragmented(im, blocks, 20, &r);
		cache_hit(im, churn, &r);
		small_pairs(im, churn, &r);
		threads_run(im, 1, churn, &r);
	}
}

static struct result *find_result(const char *bench, const char *impl)
{
	for (int i = 0; i < nr_benches; i++)
		if (!strcmp(benches[i].name, bench))
			return &benches[i].r[strcmp(impl, "stock") ? 1 : 0];
	return NULL;
}

/* Run ourselves under callgrind and read the labelled dumps back. */
static int count_instructions(void)
{
	char dir[] = "/tmp/iova_bench_cg.XXXXXX", out[512], path[600], line[128];
	char label[128] = "";
	struct dirent *e;
	int status, found = 0;
	pid_t pid;
	DIR *dp;

	if (!HAVE_CALLGRIND || !mkdtemp(dir))
		return -1;
	snprintf(out, sizeof(out), "--callgrind-out-file=%s/cg.out", dir);
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		const char *argv[] = { "valgrind", "--tool=callgrind", "-q", out, opt.self,
				       "--ir-child", opt.quick ? "--quick" : "--seed",
				       opt.quick ? NULL : "42", NULL };
		char seed[32];

		snprintf(seed, sizeof(seed), "%llu", opt.seed);
		if (!opt.quick)
			argv[7] = seed;
		execvp("valgrind", (char **)argv);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) ||
	    WEXITSTATUS(status))
		return -1;
	dp = opendir(dir);
	while (dp && (e = readdir(dp))) {
		FILE *f;

		if (strncmp(e->d_name, "cg.out.", 7))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		f = fopen(path, "r");
		while (f && fgets(line, sizeof(line), f)) {
			char *b, *i, *o;
			struct result *r;

			if (!strncmp(line, "desc: Trigger: Client Request: ", 31)) {
				snprintf(label, sizeof(label), "%s", line + 31);
				label[strcspn(label, "\n")] = 0;
			} else if (!strncmp(line, "totals: ", 8) && label[0]) {
				b = strtok(label, "|");
				i = strtok(NULL, "|");
				o = strtok(NULL, "|");
				r = b && i && o ? find_result(b, i) : NULL;
				if (r && atol(o) > 0) {
					r->ir_per_op = strtod(line + 8, NULL) / atol(o);
					found++;
				}
				label[0] = 0;
			}
		}
		if (f)
			fclose(f);
		unlink(path);
	}
	if (dp)
		closedir(dp);
	snprintf(path, sizeof(path), "%s/cg.out", dir);
	unlink(path);
	rmdir(dir);
	for (int i = 0; i < nr_benches; i++)
		if (benches[i].r[1].ir_per_op > 0)
			benches[i].ir_ratio = benches[i].r[0].ir_per_op / benches[i].r[1].ir_per_op;
	return found ? 0 : -1;
}

static void print_table(void)
{
	printf("\n%-14s %-6s %11s %10s %11s %9s %7s %5s %9s %8s %9s %8s\n", "benchmark",
	       "impl", "ns/op(med)", "min", "max", "ops", "nodes", "depth", "node_mem",
	       "stock/x", "instr/op", "stock/x");
	for (int i = 0; i < nr_benches; i++) {
		struct bench *b = &benches[i];

		for (int k = 0; k < 2; k++) {
			struct result *r = &b->r[k];
			char ir[16] = "-", irr[16] = "-";

			if (r->ir_per_op > 0) {
				snprintf(ir, sizeof(ir), "%.0f", r->ir_per_op);
				snprintf(irr, sizeof(irr), "%.2f", k ? b->ir_ratio : 1.0);
			}
			printf("%-14s %-6s %11.1f %10.1f %11.1f %9ld %7ld %5ld %9ld %8.2f %9s %8s\n",
			       k ? "" : b->name, r->impl, r->median, r->min, r->max, r->ops,
			       r->st.nodes, r->st.depth, r->slab_bytes,
			       k ? b->ratio : 1.0, ir, irr);
		}
	}
	printf("\n");
	for (int i = 0; i < nr_benches; i++)
		printf("  %-14s %s; target: %s\n", benches[i].name, benches[i].what,
		       benches[i].target);
}

static void json_result(FILE *f, const struct result *r)
{
	fprintf(f, "{\"ns_per_op\": {\"median\": %.2f, \"min\": %.2f, \"max\": %.2f}, ",
		r->median, r->min, r->max);
	fprintf(f, "\"samples\": [");
	for (int i = 0; i < r->n; i++)
		fprintf(f, "%s%.2f", i ? ", " : "", r->s[i].ns_per_op);
	fprintf(f, "], \"ops\": %ld, \"nodes\": %ld, \"depth\": %ld, \"node_bytes\": %ld, ",
		r->ops, r->st.nodes, r->st.depth, r->slab_bytes);
	fprintf(f, "\"merges\": %ld, \"splits\": %ld, \"cache_hits\": %ld, \"cache_misses\": %ld",
		r->st.merges, r->st.splits, r->st.cache_hits, r->st.cache_misses);
	if (r->ir_per_op > 0)
		fprintf(f, ", \"instructions_per_op\": %.1f", r->ir_per_op);
	if (r->nr_series) {
		fprintf(f, ", \"nodes_series\": [");
		for (int i = 0; i < r->nr_series; i++)
			fprintf(f, "%s[%ld, %ld]", i ? ", " : "", r->series[i][0], r->series[i][1]);
		fprintf(f, "]");
	}
	if (r->note[0])
		fprintf(f, ", \"note\": \"%s\"", r->note);
	fprintf(f, "}");
}

static void write_json(const char *path)
{
	FILE *f = fopen(path, "w");
	char cpu[256] = "unknown", line[512];
	FILE *ci = fopen("/proc/cpuinfo", "r");

	if (!f) {
		perror(path);
		exit(1);
	}
	while (ci && fgets(line, sizeof(line), ci))
		if (!strncmp(line, "model name", 10)) {
			char *p = strchr(line, ':');

			snprintf(cpu, sizeof(cpu), "%.200s", p ? p + 2 : line);
			cpu[strcspn(cpu, "\n")] = 0;
			break;
		}
	if (ci)
		fclose(ci);
	fprintf(f, "{\n \"tool\": \"tools/testing/iova/iova_bench\",\n");
	fprintf(f, " \"machine\": {\"online_cpus\": %ld, \"cpu\": \"%.200s\", \"simulated_cpus\": %u},\n",
		sysconf(_SC_NPROCESSORS_ONLN), cpu, harness_possible_cpus());
	fprintf(f, " \"config\": {\"quick\": %s, \"reps\": %d, \"target_ms\": %.0f, ",
		opt.quick ? "true" : "false", opt.reps, opt.ms);
	fprintf(f, "\"seed\": %llu, \"granule\": 4096, \"instructions\": %s},\n",
		opt.seed, opt.instructions ? "\"callgrind\"" : "null");
	fprintf(f, " \"benchmarks\": [\n");
	for (int i = 0; i < nr_benches; i++) {
		struct bench *b = &benches[i];

		fprintf(f, "  {\"name\": \"%s\", \"what\": \"%s\", \"target\": \"%s\", ",
			b->name, b->what, b->target);
		if (b->threads)
			fprintf(f, "\"threads\": %d, ", b->threads);
		fprintf(f, "\"stock_over_ours\": %.3f,\n   \"stock\": ", b->ratio);
		json_result(f, &b->r[0]);
		fprintf(f, ",\n   \"ours\": ");
		json_result(f, &b->r[1]);
		fprintf(f, "}%s\n", i + 1 < nr_benches ? "," : "");
	}
	fprintf(f, " ],\n");
	json_capacity(f);
	fprintf(f, " \"shared_locks\": {\"threads\": %d, \"in_flight_per_thread\": %d, "
		"\"what\": \"domain-wide lock acquisitions per million map/unmap operations "
		"after a warm-up\", \"classes\": [", SL_THREADS, SL_RING);
	for (int i = 0; i < nr_sl_results; i++) {
		struct sl_result *r = &sl_results[i];

		fprintf(f, "%s\n  {\"pages\": %lu, \"ops_per_thread\": %ld, \"ops\": %ld",
			i ? "," : "", r->pages, r->steps, r->ops);
		for (int p = 0; p < SL_PATTERNS; p++)
			for (int k = 0; k < 2; k++)
				fprintf(f, ",\n   \"%s.%s\": {\"shared_locks\": %lu, "
					"\"tree_locks\": %lu, \"shared_lock_per_m_ops\": %.1f, "
					"\"tree_lock_per_m_ops\": %.1f, \"ns_per_op\": %.2f}",
					k ? "ours" : "stock", sl_pattern_names[p],
					r->r[p][k].shared, r->r[p][k].tree, r->r[p][k].per_m,
					r->r[p][k].tree_per_m, r->r[p][k].ns_per_op);
		fprintf(f, "}");
	}
	fprintf(f, "]},\n \"figures\": {");
	for (int i = 0; i < nr_sl_results; i++) {
		struct sl_result *r = &sl_results[i];

		fprintf(f, "%s\n  \"stock.shared_lock_per_m_ops.pages_%lu\": %.1f, "
			"\"ours.shared_lock_per_m_ops.pages_%lu\": %.1f", i ? "," : "",
			r->pages, r->worst[0], r->pages, r->worst[1]);
	}
	for (int i = 0; i < nr_benches; i++) {
		struct bench *b = &benches[i];

		fprintf(f, "%s\n  \"stock.%s.ns_per_op\": %.2f, \"ours.%s.ns_per_op\": %.2f, ",
			i || nr_sl_results ? "," : "", b->name, b->r[0].median, b->name,
			b->r[1].median);
		fprintf(f, "\"stock.%s.nodes\": %ld, \"ours.%s.nodes\": %ld, ",
			b->name, b->r[0].st.nodes, b->name, b->r[1].st.nodes);
		fprintf(f, "\"%s.stock_over_ours\": %.3f", b->name, b->ratio);
		if (b->ir_ratio > 0)
			fprintf(f, ", \"%s.stock_over_ours_instructions\": %.3f", b->name,
				b->ir_ratio);
	}
	for (int i = 0; i < nr_cap_rows; i++) {
		struct cap_row *r = &cap_rows[i];
		char key[96];

		snprintf(key, sizeof(key), "capacity32.%s%s%s.pct", r->scenario,
			 r->churn_cpus ? ".churn" : "", r->full ? ".full" : "");
		fprintf(f, "%s\n  \"stock.%s\": %.2f, \"ours.%s\": %.2f",
			i || nr_benches || nr_sl_results ? "," : "", key,
			cap_pct(r->pages[0]), key, cap_pct(r->pages[1]));
	}
	fprintf(f, "\n }\n}\n");
	fclose(f);
}

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "quick", no_argument, NULL, 'q' },
		{ "json", required_argument, NULL, 'j' },
		{ "reps", required_argument, NULL, 'r' },
		{ "ms", required_argument, NULL, 'm' },
		{ "only", required_argument, NULL, 'o' },
		{ "seed", required_argument, NULL, 's' },
		{ "instructions", no_argument, NULL, 'i' },
		{ "ir-child", no_argument, NULL, 'I' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "qj:r:m:o:s:", lopts, NULL)) != -1) {
		switch (c) {
		case 'q':
			opt.quick = true;
			break;
		case 'j':
			opt.json = optarg;
			break;
		case 'r':
			opt.reps = atoi(optarg);
			break;
		case 'm':
			opt.ms = atof(optarg);
			break;
		case 'o':
			opt.only = optarg;
			break;
		case 's':
			opt.seed = strtoull(optarg, NULL, 0);
			break;
		case 'i':
			opt.instructions = true;
			break;
		case 'I':
			opt.ir_child = true;
			break;
		default:
			fprintf(stderr,
				"usage: %s [--quick] [--json FILE] [--reps N] [--ms N] [--only NAME]\n"
				"          [--seed N] [--instructions]\n", argv[0]);
			return 2;
		}
	}
	if (opt.quick) {
		opt.reps = opt.reps > 3 ? 3 : opt.reps;
		opt.ms = opt.ms > 50 ? 50 : opt.ms;
	}
	if (opt.reps < 1 || opt.reps > MAX_REPS)
		opt.reps = 5;
	opt.self = realpath("/proc/self/exe", NULL);
	if (!opt.self)
		opt.self = argv[0];
	harness_set_possible_cpus(16);
	harness_set_quiet(true);
	if (opt.ir_child) {
		ir_child();
		return 0;
	}
	/* delayed work (stock's depot trimming) runs as the kernel's would */
	harness_wq_threaded(true);

	printf("iova_bench: stock 6.12 vs ours, %ld online CPUs, %u simulated, %d reps, ~%.0f ms each%s\n",
	       sysconf(_SC_NPROCESSORS_ONLN), harness_possible_cpus(), opt.reps, opt.ms,
	       opt.quick ? " (quick)" : "");
	fflush(stdout);
	if (wanted("boot"))
		run_boot();
	if (wanted("large"))
		run_large();
	if (wanted("fragmented"))
		run_fragmented();
	if (wanted("cache_hit"))
		run_hit();
	if (wanted("small_pairs"))
		run_small();
	if (wanted("threads"))
		run_threads();
	if (wanted("shared_lock"))
		run_shared_locks();
	harness_wq_threaded(false);
	if (wanted("capacity32"))
		run_capacity();
	if (opt.instructions && count_instructions())
		printf("(no instruction counts: valgrind's callgrind did not run)\n");
	print_table();
	print_shared_locks();
	print_capacity();
	if (opt.json) {
		write_json(opt.json);
		printf("\nJSON: %s\n", opt.json);
	}
	return 0;
}
