// SPDX-License-Identifier: GPL-2.0
/*
 * Runs KUnit suites compiled against the harness's kunit/test.h: one TAP
 * line per case (per parameter for parameterised cases).
 */
#include "kunit/test.h"
#include "harness.h"
#include "tap.h"

#define MAX_RES 256

static void *resources[MAX_RES];
static int nr_resources;

void *kunit_kmalloc(struct kunit *test, size_t size, gfp_t gfp)
{
	void *p;

	if (nr_resources == MAX_RES)
		return NULL;
	p = kmalloc(size, gfp);
	if (p)
		resources[nr_resources++] = p;
	return p;
}

static void free_resources(void)
{
	while (nr_resources)
		kfree(resources[--nr_resources]);
}

void kunit_log_msg(struct kunit *test, const char *fmt, ...)
{
	va_list ap;

	if (!tap_verbose)
		return;
	printf("    # %s: ", test->name);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

void kunit_fail(struct kunit *test, bool abort, const char *file, int line,
		const char *fmt, ...)
{
	va_list ap;

	test->status = KUNIT_FAILURE;
	test->expectations_failed++;
	printf("    # %s: %s:%d: ", test->name, file, line);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	if (abort)
		kunit_abort(test);
}

void kunit_abort(struct kunit *test)
{
	longjmp(test->abort, 1);
}

static void run_one(const char *prefix, struct kunit_suite *suite,
		    struct kunit_case *c, const void *param, const char *desc)
{
	char name[512];
	struct kunit test;

	memset(&test, 0, sizeof(test));
	snprintf(name, sizeof(name), "%s: %s.%s%s%s", prefix, suite->name, c->name,
		 desc ? " " : "", desc ? desc : "");
	test.name = name;
	test.param_value = param;
	test.status = KUNIT_SUCCESS;
	harness_set_cpu(0);
	if (suite->init && suite->init(&test)) {
		tap_result(false, name, "init failed");
		free_resources();
		return;
	}
	if (!setjmp(test.abort))
		c->run_case(&test);
	harness_deactivate_static_stubs();
	if (suite->exit)
		suite->exit(&test);
	free_resources();
	harness_fail_alloc_after(-1);
	harness_fail_nonblocking(false);
	if (test.status == KUNIT_SKIPPED)
		tap_skip(name, test.status_comment);
	else
		tap_result(test.status == KUNIT_SUCCESS, name, NULL);
}

int harness_kunit_run(const char *prefix, struct kunit_suite **suites, int nr,
		      bool slow)
{
	int fails_before = tap_failed;

	for (int s = 0; s < nr; s++) {
		struct kunit_suite *suite = suites[s];

		if (suite->suite_init && suite->suite_init(suite)) {
			tap_result(false, suite->name, "suite_init failed");
			continue;
		}
		for (struct kunit_case *c = suite->test_cases; c->run_case; c++) {
			if (!slow && c->attr.speed == KUNIT_SPEED_SLOW) {
				char name[512];

				snprintf(name, sizeof(name), "%s: %s.%s", prefix,
					 suite->name, c->name);
				tap_skip(name, "slow case (run without -q)");
				continue;
			}
			if (!c->generate_params) {
				run_one(prefix, suite, c, NULL, NULL);
				continue;
			}
			char desc[KUNIT_PARAM_DESC_SIZE];
			const void *p = NULL;

			for (;;) {
				desc[0] = 0;
				p = c->generate_params(p, desc);
				if (!p)
					break;
				run_one(prefix, suite, c, p, desc);
			}
		}
		if (suite->suite_exit)
			suite->suite_exit(suite);
	}
	return tap_failed - fails_before;
}
