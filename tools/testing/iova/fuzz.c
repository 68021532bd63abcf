// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target: the input is a sequence of 4-byte operations run on a
 * small domain of our allocator (and stock's with IOVA_FUZZ_STOCK=1) and
 * checked against the reference model after every step, with the
 * implementation's validator, fault injection and CPU switches in the mix.
 * Any divergence aborts with the model's message.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "harness.h"
#include "model.h"

#define FUZZ_MAX_PFN 511UL

static const struct model_cfg fuzz_cfg = {
	.start_pfn = 1,
	.max_pfn = FUZZ_MAX_PFN,
	.granule = 4096,
	.rcaches = true,
	.merge = -1,
	.validate_every = true,
	.cpus = 4,
};

static bool fuzz_stock;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	harness_set_possible_cpus(8);
	harness_set_quiet(true);
	fuzz_stock = getenv("IOVA_FUZZ_STOCK") != NULL;
	return 0;
}

static void run(const struct iova_impl *im, const uint8_t *data, size_t size,
		int merge)
{
	struct model_cfg cfg = fuzz_cfg;
	struct model *m;

	cfg.merge = merge;
	harness_set_cpu(0);
	m = model_new(im, &cfg);
	for (size_t i = 0; i + 4 <= size && !model_error(m); i += 4) {
		unsigned int op = data[i] % MOP_NR;
		unsigned long b1 = data[i + 1], b2 = data[i + 2], b3 = data[i + 3];
		unsigned long big = (b3 & 0x80) ? 600 : 40;
		unsigned long limit = FUZZ_MAX_PFN - ((b2 & 7) == 0 ? b2 : 0);
		unsigned long pfn = b1 | (b2 & 1) << 8;

		switch (op) {
		case MOP_ALLOC_FAST:
		case MOP_ALLOC:
			model_step(m, op, 1 + b1 % big, limit, b3 & 1);
			break;
		case MOP_RESERVE:
			model_step(m, op, pfn, 1 + b3 % 16, 0);
			break;
		case MOP_FIND:
		case MOP_FREE_UNALLOCATED:
			model_step(m, op, pfn, 0, 0);
			break;
		default:
			model_step(m, op, b1 | b2 << 8, b2, b3);
			break;
		}
	}
	if (!model_error(m))
		model_finish(m);
	if (model_error(m)) {
		fprintf(stderr, "iova_fuzz: %s\n", model_error(m));
		abort();
	}
	model_free(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct iova_impl *ours = iova_impl_by_name("ours");

	/* the first byte picks merging on or off where there is a switch */
	run(ours, data, size, ours->has_merge_switch && size && (data[0] & 0x40) ? 0 : -1);
	if (fuzz_stock)
		run(iova_impl_by_name("stock"), data, size, -1);
	return 0;
}
