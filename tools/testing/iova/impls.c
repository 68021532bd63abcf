// SPDX-License-Identifier: GPL-2.0
/* The implementations linked into this binary, in reporting order. */
#include <string.h>

#include "harness.h"

const struct iova_impl *const iova_impls[] = {
	&iova_impl_stock,
	&iova_impl_ours,
};

const int nr_iova_impls = sizeof(iova_impls) / sizeof(iova_impls[0]);

const struct iova_impl *iova_impl_by_name(const char *name)
{
	for (int i = 0; i < nr_iova_impls; i++)
		if (!strcmp(iova_impls[i]->name, name))
			return iova_impls[i];
	return NULL;
}
