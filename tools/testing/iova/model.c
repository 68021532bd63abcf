// SPDX-License-Identifier: GPL-2.0
/*
 * The reference model behind the differential test and the fuzzer. One
 * byte per pfn records who owns it; every call into the implementation is
 * checked against that, and the implementation's own invariant check runs
 * after each step.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"

enum { FREE = 0, FAST, NODE, RESV };

struct rec {
	unsigned long lo, hi;	/* pfns the allocation owns */
	unsigned long size;	/* size passed by the caller */
	struct hnode *n;	/* alloc_iova / reserve_iova node */
};

struct recs {
	struct rec *v;
	long nr, cap;
};

struct model {
	const struct iova_impl *impl;
	struct model_cfg cfg;
	struct hdom *d;
	uint8_t *owner;
	uint8_t *touched;	/* ever handed out by the fast path */
	struct recs fast, nodes, resv;
	long ops;
	long live_pages;
	long resv_pages;
	long warn_base;
	struct harness_mem mem_base;
	bool failed;
	bool cache_ref;		/* iova_cache_get() taken */
	bool fault_next;	/* the next operation runs with an injected fault */
	bool fault_node_next;
	bool trace;		/* IOVA_MODEL_TRACE=1: log every operation */
	char err[512];
};

static bool fail(struct model *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static bool fail(struct model *m, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (m->failed)
		return false;
	m->failed = true;
	n = snprintf(m->err, sizeof(m->err), "%s op %ld: ", m->impl->name, m->ops);
	va_start(ap, fmt);
	vsnprintf(m->err + n, sizeof(m->err) - n, fmt, ap);
	va_end(ap);
	return false;
}

const char *model_error(const struct model *m)
{
	return m->failed ? m->err : NULL;
}

long model_ops(const struct model *m)
{
	return m->ops;
}

long model_live_pages(const struct model *m)
{
	return m->live_pages;
}

void model_counts(const struct model *m, long *fast, long *nodes, long *reserved)
{
	*fast = m->fast.nr;
	*nodes = m->nodes.nr;
	*reserved = m->resv.nr;
}

static void recs_add(struct recs *r, struct rec e)
{
	if (r->nr == r->cap) {
		r->cap = r->cap ? r->cap * 2 : 64;
		r->v = realloc(r->v, r->cap * sizeof(*r->v));
		if (!r->v)
			abort();
	}
	r->v[r->nr++] = e;
}

static struct rec recs_take(struct recs *r, long i)
{
	struct rec e = r->v[i];

	r->v[i] = r->v[--r->nr];
	return e;
}

static unsigned long pow2_up(unsigned long n)
{
	unsigned long p = 1;

	while (p < n)
		p <<= 1;
	return p;
}

/* Pages the fast path hands out for @size (small sizes round up). */
static unsigned long fast_span(const struct model *m, unsigned long size)
{
	return size <= m->impl->fast_round_max ? pow2_up(size) : size;
}

static bool range_is(struct model *m, unsigned long lo, unsigned long hi, int kind)
{
	for (unsigned long p = lo; p <= hi; p++)
		if (m->owner[p] != kind)
			return false;
	return true;
}

static void mark(struct model *m, unsigned long lo, unsigned long hi, int kind)
{
	memset(m->owner + lo, kind, hi - lo + 1);
	if (kind == FAST)
		memset(m->touched + lo, 1, hi - lo + 1);
	m->live_pages += (kind == FREE ? -1L : 1L) * (long)(hi - lo + 1);
}

/*
 * Is there a run of @span pages aligned to @align in [start_pfn, limit]
 * that is free (and, with @untouched, never given out by the fast path,
 * so certainly not sitting in a cache)?
 */
static bool room_for(struct model *m, unsigned long span, unsigned long align,
		     unsigned long limit, bool untouched)
{
	unsigned long lo = m->cfg.start_pfn;

	if (limit > m->cfg.max_pfn)
		limit = m->cfg.max_pfn;
	if (span == 0 || limit + 1 < span)
		return false;
	for (unsigned long s = ((limit + 1 - span) / align) * align;; s -= align) {
		unsigned long p;

		if (s < lo)
			break;
		for (p = s; p < s + span; p++)
			if (m->owner[p] != FREE || (untouched && m->touched[p]))
				break;
		if (p == s + span)
			return true;
		if (s < align)
			break;
	}
	return false;
}

struct model *model_new(const struct iova_impl *impl, const struct model_cfg *cfg)
{
	struct model *m = calloc(1, sizeof(*m));

	if (!m)
		abort();
	m->impl = impl;
	m->cfg = *cfg;
	m->trace = getenv("IOVA_MODEL_TRACE") != NULL;
	if (!m->cfg.cpus)
		m->cfg.cpus = 1;
	if (m->cfg.cpus > harness_possible_cpus())
		m->cfg.cpus = harness_possible_cpus();
	m->owner = calloc(cfg->max_pfn + 1, 1);
	m->touched = calloc(cfg->max_pfn + 1, 1);
	if (!m->owner || !m->touched)
		abort();
	harness_mem(&m->mem_base);
	m->warn_base = harness_warnings();
	if (impl->cache_get()) {
		fail(m, "iova_cache_get failed");
		return m;
	}
	m->cache_ref = true;
	m->d = impl->create(cfg->granule, cfg->start_pfn, cfg->rcaches, cfg->merge);
	if (!m->d)
		fail(m, "domain creation failed");
	return m;
}

void model_free(struct model *m)
{
	if (!m)
		return;
	harness_fail_alloc_after(-1);
	if (m->d)
		m->impl->destroy(m->d);
	if (m->cache_ref)
		m->impl->cache_put();
	free(m->owner);
	free(m->touched);
	free(m->fast.v);
	free(m->nodes.v);
	free(m->resv.v);
	free(m);
}

static bool check_found(struct model *m, unsigned long pfn, struct hnode *n)
{
	unsigned long lo, hi;
	int kind = m->owner[pfn];

	if (!n) {
		if (kind == NODE || kind == RESV || kind == FAST)
			return fail(m, "find_iova(%lu) NULL inside a live %s", pfn,
				    kind == NODE ? "alloc_iova node" :
				    kind == RESV ? "reservation" : "fast allocation");
		return true;
	}
	m->impl->node_range(n, &lo, &hi);
	if (pfn < lo || pfn > hi)
		return fail(m, "find_iova(%lu) returned [%lu, %lu]", pfn, lo, hi);
	if (kind == NODE) {
		for (long i = 0; i < m->nodes.nr; i++) {
			struct rec *r = &m->nodes.v[i];

			if (pfn < r->lo || pfn > r->hi)
				continue;
			if (r->n != n || lo != r->lo || hi != r->hi)
				return fail(m, "find_iova(%lu) returned [%lu, %lu], not its alloc_iova node [%lu, %lu]",
					    pfn, lo, hi, r->lo, r->hi);
			return true;
		}
		return fail(m, "model lost node at %lu", pfn);
	}
	if (kind == FREE && !m->touched[pfn])
		return fail(m, "find_iova(%lu) found [%lu, %lu] in never allocated space",
			    pfn, lo, hi);
	if (kind == FREE || kind == FAST) {
		/* an extent or cached range never spans exact nodes */
		for (unsigned long p = lo; p <= hi && p <= m->cfg.max_pfn; p++)
			if (m->owner[p] == NODE || m->owner[p] == RESV)
				return fail(m, "find_iova(%lu) range [%lu, %lu] covers exact node at %lu",
					    pfn, lo, hi, p);
	}
	return true;
}

static bool do_alloc_fast(struct model *m, unsigned long size, unsigned long limit,
			  bool flush, bool faulty)
{
	unsigned long span = fast_span(m, size), align = pow2_up(size), pfn;

	pfn = m->impl->alloc_fast(m->d, size, limit, flush);
	if (!pfn) {
		if (faulty || !m->impl->exact_failure)
			return true;
		if (room_for(m, span, align, limit, !flush))
			return fail(m, "alloc_iova_fast(%lu, %lu, %d) failed with room", size,
				    limit, flush);
		return true;
	}
	if (pfn < m->cfg.start_pfn || pfn + span - 1 > limit)
		return fail(m, "alloc_iova_fast(%lu, %lu) = %lu outside [%lu, %lu]",
			    size, limit, pfn, m->cfg.start_pfn, limit);
	if (pfn % align)
		return fail(m, "alloc_iova_fast(%lu) = %lu not aligned to %lu", size, pfn, align);
	if (!range_is(m, pfn, pfn + span - 1, FREE))
		return fail(m, "alloc_iova_fast(%lu) = %lu overlaps a live range", size, pfn);
	mark(m, pfn, pfn + span - 1, FAST);
	recs_add(&m->fast, (struct rec){ pfn, pfn + span - 1, size, NULL });
	return true;
}

static bool do_alloc(struct model *m, unsigned long size, unsigned long limit,
		     bool aligned, bool faulty)
{
	unsigned long lo, hi, align = aligned ? pow2_up(size) : 1;
	struct hnode *n;

	n = m->impl->alloc(m->d, size, limit, aligned);
	if (!n) {
		if (faulty || !m->impl->exact_failure)
			return true;
		/* cached fast ranges may hold the only room */
		if (room_for(m, size, align, limit, true))
			return fail(m, "alloc_iova(%lu, %lu, %d) failed with room", size,
				    limit, aligned);
		return true;
	}
	m->impl->node_range(n, &lo, &hi);
	if (hi - lo + 1 != size)
		return fail(m, "alloc_iova(%lu) node [%lu, %lu] has the wrong size", size, lo, hi);
	if (lo < m->cfg.start_pfn || hi > limit)
		return fail(m, "alloc_iova(%lu, %lu) = [%lu, %lu] outside the limits", size,
			    limit, lo, hi);
	if (lo % align)
		return fail(m, "alloc_iova(%lu, aligned) = %lu not aligned", size, lo);
	if (!range_is(m, lo, hi, FREE))
		return fail(m, "alloc_iova(%lu) = [%lu, %lu] overlaps a live range", size, lo, hi);
	mark(m, lo, hi, NODE);
	recs_add(&m->nodes, (struct rec){ lo, hi, size, n });
	return true;
}

static bool do_reserve(struct model *m, unsigned long lo, unsigned long len, bool faulty)
{
	unsigned long hi = lo + len - 1, rlo, rhi;
	struct hnode *n;

	if (len == 0 || hi > m->cfg.max_pfn)
		return true;
	for (unsigned long p = lo; p <= hi; p++)
		if (m->owner[p] != FREE || m->touched[p])
			return true;	/* only reserve space nobody has used */
	n = m->impl->reserve(m->d, lo, hi);
	if (!n) {
		if (faulty)
			return true;
		return fail(m, "reserve_iova(%lu, %lu) failed", lo, hi);
	}
	m->impl->node_range(n, &rlo, &rhi);
	if (rlo != lo || rhi != hi)
		return fail(m, "reserve_iova(%lu, %lu) returned [%lu, %lu]", lo, hi, rlo, rhi);
	mark(m, lo, hi, RESV);
	m->resv_pages += len;
	recs_add(&m->resv, (struct rec){ lo, hi, len, n });
	return true;
}

static bool do_flush(struct model *m)
{
	unsigned long pfn;

	/* more than the whole space: fails, after draining every cache */
	pfn = m->impl->alloc_fast(m->d, m->cfg.max_pfn + 1, m->cfg.max_pfn, true);
	if (pfn)
		return fail(m, "impossible alloc_iova_fast returned %lu", pfn);
	return true;
}

bool model_step(struct model *m, enum model_op op, unsigned long a,
		unsigned long b, unsigned long c)
{
	bool faulty = false, ok = true;
	struct rec r;

	if (m->failed || !m->d)
		return false;
	m->ops++;
	if (m->trace)
		fprintf(stderr, "%s op %ld: %d(%lu, %lu, %lu)\n", m->impl->name, m->ops,
			op, a, b, c);
	if (m->fault_next) {
		m->fault_next = false;
		harness_fail_alloc_after(0);
		faulty = true;
	}
	if (m->fault_node_next) {
		m->fault_node_next = false;
		m->impl->fail_nodes(m->d, true);
		faulty = true;
	}

	switch (op) {
	case MOP_ALLOC_FAST:
		if (!m->cfg.rcaches)
			break;	/* the fast path needs the caches */
		a = a ? a : 1;
		b = b < m->cfg.start_pfn ? m->cfg.start_pfn : b;
		b = b > m->cfg.max_pfn ? m->cfg.max_pfn : b;
		ok = do_alloc_fast(m, a, b, c & 1, faulty);
		break;
	case MOP_FREE_FAST:
		if (!m->fast.nr)
			break;
		r = recs_take(&m->fast, a % m->fast.nr);
		m->impl->free_fast(m->d, r.lo, r.size);
		mark(m, r.lo, r.hi, FREE);
		break;
	case MOP_ALLOC:
		a = a ? a : 1;
		b = b < m->cfg.start_pfn ? m->cfg.start_pfn : b;
		b = b > m->cfg.max_pfn ? m->cfg.max_pfn : b;
		ok = do_alloc(m, a, b, c & 1, faulty);
		break;
	case MOP_FREE_NODE:
		if (!m->nodes.nr)
			break;
		r = recs_take(&m->nodes, a % m->nodes.nr);
		if (c % 3 == 0)
			m->impl->free_node(m->d, r.n);
		else if (c % 3 == 1)
			m->impl->free_pfn(m->d, r.lo);
		else
			m->impl->free_pfn(m->d, r.lo + (b % (r.hi - r.lo + 1)));
		mark(m, r.lo, r.hi, FREE);
		if (m->impl->find(m->d, r.lo) && !m->touched[r.lo])
			ok = fail(m, "node [%lu, %lu] still found after free", r.lo, r.hi);
		break;
	case MOP_RESERVE:
		ok = do_reserve(m, a % (m->cfg.max_pfn + 1), b, faulty);
		break;
	case MOP_FREE_RESERVED:
		if (!m->resv.nr)
			break;
		r = recs_take(&m->resv, a % m->resv.nr);
		m->impl->free_node(m->d, r.n);
		mark(m, r.lo, r.hi, FREE);
		m->resv_pages -= r.hi - r.lo + 1;
		if (m->impl->find(m->d, r.lo))
			ok = fail(m, "reservation [%lu, %lu] still found after __free_iova",
				  r.lo, r.hi);
		break;
	case MOP_FIND:
		a %= m->cfg.max_pfn + 1;
		ok = check_found(m, a, m->impl->find(m->d, a));
		break;
	case MOP_FREE_UNALLOCATED:
		a %= m->cfg.max_pfn + 1;
		if (m->owner[a] != FREE || m->touched[a])
			break;
		m->impl->free_pfn(m->d, a);
		if (m->impl->find(m->d, a))
			ok = fail(m, "free_iova(%lu) of free space left a node", a);
		break;
	case MOP_FLUSH:
		if (m->cfg.rcaches)
			ok = do_flush(m);
		break;
	case MOP_CPU:
		harness_set_cpu(a % m->cfg.cpus);
		break;
	case MOP_FAIL_NEXT_ALLOC:
		m->fault_next = true;
		break;
	case MOP_FAIL_NEXT_NODE:
		if (m->impl->has_node_fail)
			m->fault_node_next = true;
		break;
	default:
		break;
	}
	if (faulty) {
		harness_fail_alloc_after(-1);
		if (m->impl->fail_nodes)
			m->impl->fail_nodes(m->d, false);
	}
	if (!ok)
		return false;
	if ((m->cfg.validate_every || op == MOP_FLUSH) && m->impl->validate(m->d))
		return fail(m, "validate failed after op %d(%lu, %lu, %lu)", op, a, b, c);
	if (m->cfg.validate_every && m->impl->has_stats) {
		struct hstats st;

		/* the counters agree with the model (unless a free was lost) */
		m->impl->stats(m->d, &st);
		if (!st.lost &&
		    (st.pages_live != m->live_pages - m->resv_pages ||
		     st.allocs_live != m->fast.nr + m->nodes.nr))
			return fail(m, "stats say %ld allocations / %ld pages live, model %ld / %ld",
				    st.allocs_live, st.pages_live, m->fast.nr + m->nodes.nr,
				    m->live_pages - m->resv_pages);
	}
	if (harness_warnings() != m->warn_base)
		return fail(m, "a WARN fired during op %d(%lu, %lu, %lu)", op, a, b, c);
	return true;
}

static unsigned long random_size(unsigned long long *rng, unsigned long max)
{
	unsigned long r = hrand_range(rng, 0, 99), s;

	if (r < 55)
		s = hrand_range(rng, 1, 4);
	else if (r < 80)
		s = hrand_range(rng, 5, 32);
	else if (r < 95)
		s = hrand_range(rng, 33, 128);
	else
		s = hrand_range(rng, 129, 1024);
	return s > max ? max : s;
}

bool model_random_step(struct model *m, unsigned long long *rng)
{
	unsigned long max = m->cfg.max_pfn, span = max - m->cfg.start_pfn + 1;
	unsigned long limit, r = hrand_range(rng, 0, 999);
	/* keep the space between half and nearly full */
	bool want_alloc = (unsigned long)m->live_pages < span / 2 ||
			  ((unsigned long)m->live_pages < span * 15 / 16 && hrand_next(rng) & 1);

	limit = hrand_range(rng, 0, 3) ? max :
		hrand_range(rng, m->cfg.start_pfn + span / 8, max);
	if (r < 5)
		return model_step(m, MOP_CPU, hrand_next(rng), 0, 0);
	if (r < 8)
		return model_step(m, MOP_FAIL_NEXT_ALLOC, 0, 0, 0);
	if (r < 10)
		return model_step(m, MOP_FAIL_NEXT_NODE, 0, 0, 0);
	if (r < 12)
		return model_step(m, MOP_FLUSH, 0, 0, 0);
	if (r < 14)
		return model_step(m, MOP_RESERVE, hrand_next(rng), hrand_range(rng, 1, 16), 0);
	if (r < 16)
		return model_step(m, MOP_FREE_RESERVED, hrand_next(rng), 0, 0);
	if (r < 60)
		return model_step(m, MOP_FIND, hrand_next(rng), 0, 0);
	if (r < 62)
		return model_step(m, MOP_FREE_UNALLOCATED, hrand_next(rng), 0, 0);
	if (want_alloc) {
		if (hrand_range(rng, 0, 4))
			return model_step(m, MOP_ALLOC_FAST, random_size(rng, span), limit,
					  hrand_range(rng, 0, 3) == 0);
		return model_step(m, MOP_ALLOC, random_size(rng, span), limit,
				  hrand_next(rng) & 1);
	}
	if (m->fast.nr && (!m->nodes.nr || hrand_range(rng, 0, 4)))
		return model_step(m, MOP_FREE_FAST, hrand_next(rng), 0, 0);
	return model_step(m, MOP_FREE_NODE, hrand_next(rng), hrand_next(rng),
			  hrand_next(rng));
}

bool model_finish(struct model *m)
{
	struct harness_mem mem;
	struct hstats st;
	unsigned long big, lo = 0, pfn;

	if (m->failed || !m->d)
		return false;
	harness_set_cpu(0);
	while (m->fast.nr && model_step(m, MOP_FREE_FAST, 0, 0, 0))
		;
	while (m->nodes.nr && model_step(m, MOP_FREE_NODE, 0, 0, 0))
		;
	while (m->resv.nr && model_step(m, MOP_FREE_RESERVED, 0, 0, 0))
		;
	if (m->failed || !model_step(m, MOP_FLUSH, 0, 0, 0))
		return false;
	/*
	 * The largest naturally aligned block that fits must now be
	 * allocatable: a failure drains every cache and retries. (Stock may
	 * still refuse it below 4 GiB after an earlier failure: its
	 * max32_alloc_size shortcut is only reset by a free.)
	 */
	for (big = 1UL << 40; big; big >>= 1) {
		lo = (m->cfg.start_pfn + big - 1) & ~(big - 1);
		if (lo + big - 1 <= m->cfg.max_pfn)
			break;
	}
	if (big && m->cfg.rcaches) {
		pfn = m->impl->alloc_fast(m->d, big, m->cfg.max_pfn, true);
		if (pfn != lo && (pfn || m->impl->exact_failure))
			return fail(m, "alloc_iova_fast(%lu) of an empty domain = %lu, not %lu",
				    big, pfn, lo);
		if (pfn)
			m->impl->free_fast(m->d, pfn, big);
		/* the free may have gone to a cache: empty them again */
		if (pfn && !do_flush(m))
			return false;
	}
	m->impl->stats(m->d, &st);
	if (m->impl->has_stats && (st.allocs_live || st.pages_live))
		return fail(m, "empty domain reports %ld allocations, %ld pages live",
			    st.allocs_live, st.pages_live);
	/* every fast range went back to the tree: nothing left to find */
	for (unsigned long p = 0; p <= m->cfg.max_pfn; p++)
		if (m->impl->find(m->d, p))
			return fail(m, "pfn %lu still allocated after freeing everything", p);
	m->impl->destroy(m->d);
	m->d = NULL;
	m->impl->cache_put();
	m->cache_ref = false;
	harness_mem(&mem);
	if (mem.objects != m->mem_base.objects || mem.percpu_bytes != m->mem_base.percpu_bytes)
		return fail(m, "leak: %ld objects / %ld per-CPU bytes live, %ld / %ld before",
			    mem.objects, mem.percpu_bytes, m->mem_base.objects,
			    m->mem_base.percpu_bytes);
	if (harness_warnings() != m->warn_base)
		return fail(m, "a WARN fired while tearing down");
	return true;
}
