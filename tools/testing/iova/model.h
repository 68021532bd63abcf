/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Reference model for differential testing: a byte per pfn says who owns
 * it, and every operation on a real implementation is checked against it
 * (alignment, limits, no overlap, exact node sizes, find/free semantics,
 * and, where the implementation promises it, that a failure really means
 * there was no room).
 */
#ifndef IOVA_MODEL_H
#define IOVA_MODEL_H

#include <stdbool.h>
#include "harness.h"

enum model_op {
	MOP_ALLOC_FAST,		/* a = size, b = limit, c = flush */
	MOP_FREE_FAST,		/* a = index of a live fast allocation */
	MOP_ALLOC,		/* a = size, b = limit, c = size_aligned */
	MOP_FREE_NODE,		/* a = index; c % 3: __free_iova, free_iova(lo), */
				/* free_iova(b-th pfn inside) */
	MOP_RESERVE,		/* a = lo, b = length */
	MOP_FREE_RESERVED,	/* a = index */
	MOP_FIND,		/* a = pfn */
	MOP_FREE_UNALLOCATED,	/* a = pfn */
	MOP_FLUSH,		/* drain every cache through a failing flush */
	MOP_CPU,		/* a = cpu the thread plays from now on */
	MOP_FAIL_NEXT_ALLOC,	/* the next memory allocation fails */
	MOP_FAIL_NEXT_NODE,	/* ours: the next node allocation fails */
	MOP_NR,
};

struct model_cfg {
	unsigned long start_pfn;
	unsigned long max_pfn;	/* highest pfn any request may use */
	unsigned long granule;
	bool rcaches;
	int merge;		/* -1 default, 0 or 1 */
	bool validate_every;	/* validate after every operation */
	unsigned int cpus;	/* CPUs MOP_CPU may pick */
};

struct model;

struct model *model_new(const struct iova_impl *impl, const struct model_cfg *cfg);
/* Returns false (and keeps the message) on the first divergence. */
bool model_step(struct model *m, enum model_op op, unsigned long a,
		unsigned long b, unsigned long c);
/* A random step chosen to keep the space busy but not always full. */
bool model_random_step(struct model *m, unsigned long long *rng);
/* Free everything, drain, check the tree is empty and nothing leaked. */
bool model_finish(struct model *m);
void model_free(struct model *m);
const char *model_error(const struct model *m);
long model_ops(const struct model *m);
long model_live_pages(const struct model *m);
void model_counts(const struct model *m, long *fast, long *nodes, long *reserved);

#endif /* IOVA_MODEL_H */
