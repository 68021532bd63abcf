/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The part of <kunit/test.h> that drivers/iommu/tests/iova_kunit.c uses,
 * so the same suite runs in the harness against both implementations.
 * Expectations record a failure and go on; assertions end the case
 * (longjmp back to the runner in kunit_run.c).
 */
#ifndef HARNESS_KUNIT_TEST_H
#define HARNESS_KUNIT_TEST_H

#include <setjmp.h>
#include "iova_shim.h"

#define KUNIT_PARAM_DESC_SIZE 128

enum kunit_status {
	KUNIT_SUCCESS,
	KUNIT_FAILURE,
	KUNIT_SKIPPED,
};

enum kunit_speed {
	KUNIT_SPEED_UNSET,
	KUNIT_SPEED_VERY_SLOW,
	KUNIT_SPEED_SLOW,
	KUNIT_SPEED_NORMAL,
};

struct kunit_attributes {
	enum kunit_speed speed;
};

struct kunit {
	void *priv;
	const char *name;
	const void *param_value;
	enum kunit_status status;
	char status_comment[256];
	jmp_buf abort;
	int expectations_failed;
};

struct kunit_case {
	void (*run_case)(struct kunit *test);
	const char *name;
	const void *(*generate_params)(const void *prev, char *desc);
	struct kunit_attributes attr;
};

struct kunit_suite {
	const char name[256];
	int (*suite_init)(struct kunit_suite *suite);
	void (*suite_exit)(struct kunit_suite *suite);
	int (*init)(struct kunit *test);
	void (*exit)(struct kunit *test);
	struct kunit_case *test_cases;
	struct kunit_attributes attr;
};

#define KUNIT_CASE(f)		{ .run_case = f, .name = #f }
#define KUNIT_CASE_SLOW(f)	{ .run_case = f, .name = #f, .attr.speed = KUNIT_SPEED_SLOW }
#define KUNIT_CASE_PARAM(f, g)	{ .run_case = f, .name = #f, .generate_params = g }
#define KUNIT_CASE_PARAM_ATTR(f, g, a) \
	{ .run_case = f, .name = #f, .generate_params = g, .attr = a }

#define KUNIT_ARRAY_PARAM(name, array, get_desc)			\
	static const void *name##_gen_params(const void *prev, char *desc) \
	{								\
		typeof((array)[0]) *__next = prev ?			\
			((typeof(__next))prev) + 1 : (array);		\
		if (__next - (array) < (long)ARRAY_SIZE((array))) {	\
			void (*__get_desc)(typeof(__next), char *) = get_desc; \
			if (__get_desc)					\
				__get_desc(__next, desc);		\
			return __next;					\
		}							\
		return NULL;						\
	}
#define KUNIT_ARRAY_PARAM_DESC(name, array, desc_member)		\
	static const void *name##_gen_params(const void *prev, char *desc) \
	{								\
		typeof((array)[0]) *__next = prev ?			\
			((typeof(__next))prev) + 1 : (array);		\
		if (__next - (array) < (long)ARRAY_SIZE((array))) {	\
			strscpy_desc(desc, __next->desc_member);	\
			return __next;					\
		}							\
		return NULL;						\
	}

static inline void strscpy_desc(char *dst, const char *src)
{
	snprintf(dst, KUNIT_PARAM_DESC_SIZE, "%s", src);
}

/* The TU's suites, picked up by impl.c's operations table. */
#define kunit_test_suites(__suites...)					\
	static struct kunit_suite *harness_kunit_suites[] = { __suites }
#define kunit_test_suite(suite)	kunit_test_suites(&suite)
#define kunit_test_init_section_suites(__suites...) kunit_test_suites(__suites)

void kunit_fail(struct kunit *test, bool abort, const char *file, int line,
		const char *fmt, ...) __printf(5, 6);
void __attribute__((__noreturn__)) kunit_abort(struct kunit *test);
void *kunit_kmalloc(struct kunit *test, size_t size, gfp_t gfp);
void kunit_log_msg(struct kunit *test, const char *fmt, ...) __printf(2, 3);

#define kunit_kzalloc(t, s, g)		kunit_kmalloc(t, s, (g) | __GFP_ZERO)
#define kunit_kmalloc_array(t, n, s, g)	kunit_kmalloc(t, (n) * (s), g)
#define kunit_kcalloc(t, n, s, g)	kunit_kzalloc(t, (n) * (s), g)
#define kunit_info(t, fmt, ...)		kunit_log_msg(t, fmt, ##__VA_ARGS__)
#define kunit_warn(t, fmt, ...)		kunit_log_msg(t, fmt, ##__VA_ARGS__)
#define kunit_err(t, fmt, ...)		kunit_log_msg(t, fmt, ##__VA_ARGS__)
#define kunit_log(lvl, t, fmt, ...)	kunit_log_msg(t, fmt, ##__VA_ARGS__)
#define kunit_mark_skipped(t, fmt, ...) do {				\
	(t)->status = KUNIT_SKIPPED;					\
	snprintf((t)->status_comment, sizeof((t)->status_comment),	\
		 fmt, ##__VA_ARGS__);					\
} while (0)
#define kunit_skip(t, fmt, ...) do {					\
	kunit_mark_skipped(t, fmt, ##__VA_ARGS__);			\
	kunit_abort(t);							\
} while (0)

/* static stubs: in the case's thread, until the case ends */
#define kunit_activate_static_stub(test, real_fn_addr, replacement_addr) \
	harness_activate_static_stub((const void *)(real_fn_addr),	\
				     (void *)(replacement_addr))
#define kunit_deactivate_static_stub(test, real_fn_addr)		\
	harness_activate_static_stub((const void *)(real_fn_addr), NULL)

#define __KUNIT_CHECK(test, abort, cond, fmt, ...) do {			\
	if (!(cond))							\
		kunit_fail(test, abort, __FILE__, __LINE__, fmt, ##__VA_ARGS__); \
} while (0)

#define __KUNIT_BINARY(test, abort, l, op, r, fmt, ...) do {		\
	typeof(l) __l = (l);						\
	typeof(r) __r = (r);						\
	if (!(__l op __r))						\
		kunit_fail(test, abort, __FILE__, __LINE__,		\
			   "Expected %s %s %s, but %s == %lld (0x%llx), %s == %lld (0x%llx) " fmt, \
			   #l, #op, #r, #l, (long long)__l, (unsigned long long)__l, \
			   #r, (long long)__r, (unsigned long long)__r, ##__VA_ARGS__); \
} while (0)

#define __KUNIT_PTR(test, abort, l, op, r, fmt, ...) do {		\
	const void *__l = (l), *__r = (r);				\
	if (!(__l op __r))						\
		kunit_fail(test, abort, __FILE__, __LINE__,		\
			   "Expected %s %s %s, but %s == %p, %s == %p " fmt, \
			   #l, #op, #r, #l, __l, #r, __r, ##__VA_ARGS__); \
} while (0)

#define KUNIT_FAIL(t, fmt, ...) \
	kunit_fail(t, false, __FILE__, __LINE__, fmt, ##__VA_ARGS__)
#define KUNIT_EXPECT_TRUE_MSG(t, c, fmt, ...) \
	__KUNIT_CHECK(t, false, c, "Expected %s to be true " fmt, #c, ##__VA_ARGS__)
#define KUNIT_EXPECT_FALSE_MSG(t, c, fmt, ...) \
	__KUNIT_CHECK(t, false, !(c), "Expected %s to be false " fmt, #c, ##__VA_ARGS__)
#define KUNIT_ASSERT_TRUE_MSG(t, c, fmt, ...) \
	__KUNIT_CHECK(t, true, c, "Expected %s to be true " fmt, #c, ##__VA_ARGS__)
#define KUNIT_ASSERT_FALSE_MSG(t, c, fmt, ...) \
	__KUNIT_CHECK(t, true, !(c), "Expected %s to be false " fmt, #c, ##__VA_ARGS__)
#define KUNIT_EXPECT_TRUE(t, c)		KUNIT_EXPECT_TRUE_MSG(t, c, "")
#define KUNIT_EXPECT_FALSE(t, c)	KUNIT_EXPECT_FALSE_MSG(t, c, "")
#define KUNIT_ASSERT_TRUE(t, c)		KUNIT_ASSERT_TRUE_MSG(t, c, "")
#define KUNIT_ASSERT_FALSE(t, c)	KUNIT_ASSERT_FALSE_MSG(t, c, "")

#define KUNIT_EXPECT_EQ_MSG(t, l, r, fmt, ...) __KUNIT_BINARY(t, false, l, ==, r, fmt, ##__VA_ARGS__)
#define KUNIT_EXPECT_NE_MSG(t, l, r, fmt, ...) __KUNIT_BINARY(t, false, l, !=, r, fmt, ##__VA_ARGS__)
#define KUNIT_EXPECT_LT_MSG(t, l, r, fmt, ...) __KUNIT_BINARY(t, false, l, <, r, fmt, ##__VA_ARGS__)
#define KUNIT_EXPECT_LE_MSG(t, l, r, fmt, ...) __KUNIT_BINARY(t, false, l, <=, r, fmt, ##__VA_ARGS__)
#define KUNIT_EXPECT_GT_MSG(t, l, r, fmt, ...) __KUNIT_BINARY(t, false, l, >, r, fmt, ##__VA_ARGS__)
#define KUNIT_EXPECT_GE_MSG(t, l, r, fmt, ...) __KUNIT_BINARY(t, false, l, >=, r, fmt, ##__VA_ARGS__)
#define KUNIT_ASSERT_EQ_MSG(t, l, r, fmt, ...) __KUNIT_BINARY(t, true, l, ==, r, fmt, ##__VA_ARGS__)
#define KUNIT_ASSERT_NE_MSG(t, l, r, fmt, ...) __KUNIT_BINARY(t, true, l, !=, r, fmt, ##__VA_ARGS__)
#define KUNIT_ASSERT_LT_MSG(t, l, r, fmt, ...) __KUNIT_BINARY(t, true, l, <, r, fmt, ##__VA_ARGS__)
#define KUNIT_ASSERT_LE_MSG(t, l, r, fmt, ...) __KUNIT_BINARY(t, true, l, <=, r, fmt, ##__VA_ARGS__)
#define KUNIT_ASSERT_GT_MSG(t, l, r, fmt, ...) __KUNIT_BINARY(t, true, l, >, r, fmt, ##__VA_ARGS__)
#define KUNIT_ASSERT_GE_MSG(t, l, r, fmt, ...) __KUNIT_BINARY(t, true, l, >=, r, fmt, ##__VA_ARGS__)
#define KUNIT_EXPECT_EQ(t, l, r)	KUNIT_EXPECT_EQ_MSG(t, l, r, "")
#define KUNIT_EXPECT_NE(t, l, r)	KUNIT_EXPECT_NE_MSG(t, l, r, "")
#define KUNIT_EXPECT_LT(t, l, r)	KUNIT_EXPECT_LT_MSG(t, l, r, "")
#define KUNIT_EXPECT_LE(t, l, r)	KUNIT_EXPECT_LE_MSG(t, l, r, "")
#define KUNIT_EXPECT_GT(t, l, r)	KUNIT_EXPECT_GT_MSG(t, l, r, "")
#define KUNIT_EXPECT_GE(t, l, r)	KUNIT_EXPECT_GE_MSG(t, l, r, "")
#define KUNIT_ASSERT_EQ(t, l, r)	KUNIT_ASSERT_EQ_MSG(t, l, r, "")
#define KUNIT_ASSERT_NE(t, l, r)	KUNIT_ASSERT_NE_MSG(t, l, r, "")
#define KUNIT_ASSERT_LT(t, l, r)	KUNIT_ASSERT_LT_MSG(t, l, r, "")
#define KUNIT_ASSERT_LE(t, l, r)	KUNIT_ASSERT_LE_MSG(t, l, r, "")
#define KUNIT_ASSERT_GT(t, l, r)	KUNIT_ASSERT_GT_MSG(t, l, r, "")
#define KUNIT_ASSERT_GE(t, l, r)	KUNIT_ASSERT_GE_MSG(t, l, r, "")

#define KUNIT_EXPECT_PTR_EQ_MSG(t, l, r, fmt, ...) __KUNIT_PTR(t, false, l, ==, r, fmt, ##__VA_ARGS__)
#define KUNIT_EXPECT_PTR_NE_MSG(t, l, r, fmt, ...) __KUNIT_PTR(t, false, l, !=, r, fmt, ##__VA_ARGS__)
#define KUNIT_ASSERT_PTR_EQ_MSG(t, l, r, fmt, ...) __KUNIT_PTR(t, true, l, ==, r, fmt, ##__VA_ARGS__)
#define KUNIT_ASSERT_PTR_NE_MSG(t, l, r, fmt, ...) __KUNIT_PTR(t, true, l, !=, r, fmt, ##__VA_ARGS__)
#define KUNIT_EXPECT_PTR_EQ(t, l, r)	KUNIT_EXPECT_PTR_EQ_MSG(t, l, r, "")
#define KUNIT_EXPECT_PTR_NE(t, l, r)	KUNIT_EXPECT_PTR_NE_MSG(t, l, r, "")
#define KUNIT_ASSERT_PTR_EQ(t, l, r)	KUNIT_ASSERT_PTR_EQ_MSG(t, l, r, "")
#define KUNIT_ASSERT_PTR_NE(t, l, r)	KUNIT_ASSERT_PTR_NE_MSG(t, l, r, "")
#define KUNIT_EXPECT_NULL_MSG(t, p, fmt, ...) __KUNIT_PTR(t, false, p, ==, NULL, fmt, ##__VA_ARGS__)
#define KUNIT_EXPECT_NOT_NULL_MSG(t, p, fmt, ...) __KUNIT_PTR(t, false, p, !=, NULL, fmt, ##__VA_ARGS__)
#define KUNIT_ASSERT_NULL_MSG(t, p, fmt, ...) __KUNIT_PTR(t, true, p, ==, NULL, fmt, ##__VA_ARGS__)
#define KUNIT_ASSERT_NOT_NULL_MSG(t, p, fmt, ...) __KUNIT_PTR(t, true, p, !=, NULL, fmt, ##__VA_ARGS__)
#define KUNIT_EXPECT_NULL(t, p)		KUNIT_EXPECT_NULL_MSG(t, p, "")
#define KUNIT_EXPECT_NOT_NULL(t, p)	KUNIT_EXPECT_NOT_NULL_MSG(t, p, "")
#define KUNIT_ASSERT_NULL(t, p)		KUNIT_ASSERT_NULL_MSG(t, p, "")
#define KUNIT_ASSERT_NOT_NULL(t, p)	KUNIT_ASSERT_NOT_NULL_MSG(t, p, "")
#define KUNIT_EXPECT_NOT_ERR_OR_NULL(t, p) KUNIT_EXPECT_FALSE(t, IS_ERR_OR_NULL(p))
#define KUNIT_ASSERT_NOT_ERR_OR_NULL(t, p) KUNIT_ASSERT_FALSE(t, IS_ERR_OR_NULL(p))

/* Run every suite of @suites; returns failures, adds to the counters. */
int harness_kunit_run(const char *prefix, struct kunit_suite **suites, int nr,
		      bool slow);

#endif /* HARNESS_KUNIT_TEST_H */
