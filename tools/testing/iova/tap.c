// SPDX-License-Identifier: GPL-2.0
/* TAP output shared by the harness programs. */
#include <stdarg.h>
#include <stdio.h>

#include "tap.h"

int tap_passed, tap_failed, tap_skipped;
bool tap_verbose;
static int tap_n;

void tap_result(bool ok, const char *name, const char *why)
{
	tap_n++;
	if (ok)
		tap_passed++;
	else
		tap_failed++;
	printf("%sok %d - %s%s%s\n", ok ? "" : "not ", tap_n, name,
	       why ? " # " : "", why ? why : "");
	fflush(stdout);
}

void tap_skip(const char *name, const char *why)
{
	tap_n++;
	tap_skipped++;
	printf("ok %d - %s # SKIP %s\n", tap_n, name, why ? why : "");
	fflush(stdout);
}

void tap_diag(const char *fmt, ...)
{
	va_list ap;

	fputs("# ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

int tap_finish(void)
{
	printf("1..%d\n", tap_n);
	printf("# %d passed, %d failed, %d skipped\n", tap_passed, tap_failed,
	       tap_skipped);
	fflush(stdout);
	return tap_failed ? 1 : 0;
}
