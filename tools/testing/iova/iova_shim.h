/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The one shim that lets drivers/iommu/iova.c (ours or stock 6.12) build in
 * userspace unchanged. Every <linux/...> header iova.c asks for is a
 * generated one-line file that includes this header; the kernel's own
 * rbtree headers are included from the tree under test.
 *
 * Rules: empty inlines where the kernel facility has no observable effect
 * here; state only where a test needs it (allocation accounting and fault
 * injection, WARN counts, CPU hotplug callbacks, delayed work). Per-CPU data
 * really has one copy per simulated CPU, the CPU id is thread-local, and
 * locks are real pthread locks that know their owner.
 */
#ifndef IOVA_SHIM_H
#define IOVA_SHIM_H

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Which implementation this translation unit holds (0: harness code). */
#ifndef HARNESS_IMPL_ID
#define HARNESS_IMPL_ID 0
#endif

/* ---- configuration ------------------------------------------------------ */

#define CONFIG_IOMMU_IOVA 1
#define CONFIG_64BIT 1
#define CONFIG_SMP 1
#define CONFIG_HOTPLUG_CPU 1
#define CONFIG_NR_CPUS 64
#define NR_CPUS CONFIG_NR_CPUS

#define __ARG_PLACEHOLDER_1 0,
#define __take_second_arg(__ignored, val, ...) val
#define __is_defined(x) ___is_defined(x)
#define ___is_defined(val) ____is_defined(__ARG_PLACEHOLDER_##val)
#define ____is_defined(arg1_or_junk) __take_second_arg(arg1_or_junk 1, 0)
#define IS_BUILTIN(option) __is_defined(option)
#define IS_MODULE(option) __is_defined(option##_MODULE)
#define IS_ENABLED(option) (IS_BUILTIN(option) || IS_MODULE(option))
#define IS_REACHABLE(option) IS_ENABLED(option)

/* ---- types ---------------------------------------------------------------- */

typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef uint64_t u64;
typedef int8_t s8;
typedef int16_t s16;
typedef int32_t s32;
typedef int64_t s64;
typedef u64 dma_addr_t;
typedef u64 phys_addr_t;
typedef unsigned int gfp_t;
typedef unsigned int slab_flags_t;
typedef unsigned short umode_t;

typedef struct { int counter; } atomic_t;
typedef struct { long counter; } atomic_long_t;
typedef struct { s64 counter; } atomic64_t;

struct list_head {
	struct list_head *next, *prev;
};

struct hlist_node {
	struct hlist_node *next, **pprev;
};

struct hlist_head {
	struct hlist_node *first;
};

/* ---- compiler ------------------------------------------------------------- */

#undef __always_inline
#define __always_inline		inline __attribute__((__always_inline__))
#define noinline		__attribute__((__noinline__))
#define __maybe_unused		__attribute__((__unused__))
#define __always_unused		__attribute__((__unused__))
#define __must_check		__attribute__((__warn_unused_result__))
#define __aligned(x)		__attribute__((__aligned__(x)))
#define __packed		__attribute__((__packed__))
#define __printf(a, b)		__attribute__((__format__(printf, a, b)))
#define __cold			__attribute__((__cold__))
#define __init
#define __exit
#define __initdata
#define __read_mostly
#define __ro_after_init
#define __percpu
#define __rcu
#define __iomem
#define __user
#define __force
#define __acquires(x)
#define __releases(x)
#define __must_hold(x)
#define __cacheline_aligned		__aligned(SMP_CACHE_BYTES)
#define ____cacheline_aligned		__aligned(SMP_CACHE_BYTES)
#define ____cacheline_aligned_in_smp	__aligned(SMP_CACHE_BYTES)
#define __cacheline_aligned_in_smp	__aligned(SMP_CACHE_BYTES)
#define fallthrough		__attribute__((__fallthrough__))
#define likely(x)		__builtin_expect(!!(x), 1)
#define unlikely(x)		__builtin_expect(!!(x), 0)
#define barrier()		__asm__ __volatile__("" ::: "memory")
#define __stringify_1(x...)	#x
#define __stringify(x...)	__stringify_1(x)
#define __same_type(a, b)	__builtin_types_compatible_p(typeof(a), typeof(b))
#define __is_constexpr(x)	__builtin_constant_p(x)
#define ARRAY_SIZE(a)		(sizeof(a) / sizeof((a)[0]))
#define BUILD_BUG_ON(c)		((void)sizeof(char[1 - 2 * !!(c)]))
#define BUILD_BUG_ON_ZERO(c)	((int)(sizeof(struct { int : (-!!(c)); })))
#define __static_assert(expr, msg, ...) _Static_assert(expr, msg)
#undef static_assert
#define static_assert(expr, ...) __static_assert(expr, ##__VA_ARGS__, #expr)

#define container_of(ptr, type, member) ({				\
	void *__mptr = (void *)(ptr);					\
	((type *)((char *)__mptr - offsetof(type, member))); })
#define container_of_const(ptr, type, member) container_of(ptr, type, member)
#define typeof_member(T, m)	typeof(((T *)0)->m)
#define sizeof_field(T, m)	sizeof(((T *)0)->m)

/*
 * Marked accesses are relaxed atomics, so ThreadSanitizer treats them as the
 * kernel memory model (and KCSAN) does: intentional, not a data race.
 */
#define READ_ONCE(x)		__atomic_load_n(&(x), __ATOMIC_RELAXED)
#define WRITE_ONCE(x, v)	__atomic_store_n(&(x), (v), __ATOMIC_RELAXED)
#define data_race(expr)		(expr)
#define smp_mb()		__atomic_thread_fence(__ATOMIC_SEQ_CST)
#define smp_rmb()		__atomic_thread_fence(__ATOMIC_ACQUIRE)
#define smp_wmb()		__atomic_thread_fence(__ATOMIC_RELEASE)
#define smp_mb__before_atomic()	smp_mb()
#define smp_mb__after_atomic()	smp_mb()
#define smp_load_acquire(p)	__atomic_load_n((p), __ATOMIC_ACQUIRE)
#define smp_store_release(p, v)	__atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define cpu_relax()		barrier()

/* ---- arithmetic and bits -------------------------------------------------- */

#define BITS_PER_LONG		64
#define BITS_PER_BYTE		8
#define PAGE_SHIFT		12
#define PAGE_SIZE		(1UL << PAGE_SHIFT)
#define PAGE_MASK		(~(PAGE_SIZE - 1))
#define SMP_CACHE_BYTES		64
#define L1_CACHE_BYTES		64
#define U8_MAX			((u8)~0U)
#define U16_MAX			((u16)~0U)
#define U32_MAX			((u32)~0U)
#define U64_MAX			((u64)~0ULL)
#define S64_MAX			((s64)(U64_MAX >> 1))
#define BIT(n)			(1UL << (n))
#define BIT_ULL(n)		(1ULL << (n))
#define GENMASK(h, l)		((~0UL << (l)) & (~0UL >> (BITS_PER_LONG - 1 - (h))))
#define BITS_TO_LONGS(n)	(((n) + BITS_PER_LONG - 1) / BITS_PER_LONG)
#define DIV_ROUND_UP(n, d)	(((n) + (d) - 1) / (d))
#define __ALIGN_MASK(x, m)	(((x) + (m)) & ~(m))
#define ALIGN(x, a)		__ALIGN_MASK(x, (typeof(x))(a) - 1)
#define ALIGN_DOWN(x, a)	((x) & ~((typeof(x))(a) - 1))
#define IS_ALIGNED(x, a)	(((x) & ((typeof(x))(a) - 1)) == 0)
#define PTR_ALIGN(p, a)		((typeof(p))ALIGN((unsigned long)(p), (a)))
#define round_up(x, y)		((((x) - 1) | ((typeof(x))(y) - 1)) + 1)
#define round_down(x, y)	((x) & ~((typeof(x))(y) - 1))
#define PFN_DOWN(x)		((x) >> PAGE_SHIFT)
#define PFN_UP(x)		(((x) + PAGE_SIZE - 1) >> PAGE_SHIFT)

#define min(a, b)	({ typeof(a) _a = (a); typeof(b) _b = (b); _a < _b ? _a : _b; })
#define max(a, b)	({ typeof(a) _a = (a); typeof(b) _b = (b); _a > _b ? _a : _b; })
#define min_t(t, a, b)	({ t _a = (a); t _b = (b); _a < _b ? _a : _b; })
#define max_t(t, a, b)	({ t _a = (a); t _b = (b); _a > _b ? _a : _b; })
#define umin(a, b)	min_t(unsigned long long, a, b)
#define umax(a, b)	max_t(unsigned long long, a, b)
#define min3(a, b, c)	min(min(a, b), c)
#define max3(a, b, c)	max(max(a, b), c)
#define clamp(v, lo, hi) min(max(v, lo), hi)
#define clamp_t(t, v, lo, hi) min_t(t, max_t(t, v, lo), hi)
#define swap(a, b) \
	do { typeof(a) __tmp = (a); (a) = (b); (b) = __tmp; } while (0)
#define check_add_overflow(a, b, d)	__builtin_add_overflow(a, b, d)
#define check_sub_overflow(a, b, d)	__builtin_sub_overflow(a, b, d)
#define check_mul_overflow(a, b, d)	__builtin_mul_overflow(a, b, d)

static inline unsigned long __ffs(unsigned long x)
{
	return __builtin_ctzl(x);
}

static inline unsigned long __fls(unsigned long x)
{
	return BITS_PER_LONG - 1 - __builtin_clzl(x);
}

static inline int fls(unsigned int x)
{
	return x ? 32 - __builtin_clz(x) : 0;
}

static inline int fls64(u64 x)
{
	return x ? 64 - __builtin_clzll(x) : 0;
}

#define ffs(x)			__builtin_ffs(x)

static inline unsigned long ffz(unsigned long x)
{
	return __ffs(~x);
}

static inline unsigned int fls_long(unsigned long x)
{
	return x ? BITS_PER_LONG - __builtin_clzl(x) : 0;
}

static inline bool is_power_of_2(unsigned long n)
{
	return n != 0 && (n & (n - 1)) == 0;
}

static inline unsigned long roundup_pow_of_two(unsigned long n)
{
	return 1UL << fls_long(n - 1);
}

static inline unsigned long rounddown_pow_of_two(unsigned long n)
{
	return 1UL << (fls_long(n) - 1);
}

/* Non-atomic bit operations on unsigned long bitmaps. */
#define BIT_WORD(nr)		((nr) / BITS_PER_LONG)
#define BIT_MASK(nr)		(1UL << ((nr) % BITS_PER_LONG))

static inline void __set_bit(unsigned long nr, unsigned long *addr)
{
	addr[BIT_WORD(nr)] |= BIT_MASK(nr);
}

static inline void __clear_bit(unsigned long nr, unsigned long *addr)
{
	addr[BIT_WORD(nr)] &= ~BIT_MASK(nr);
}

static inline bool test_bit(unsigned long nr, const unsigned long *addr)
{
	return addr[BIT_WORD(nr)] & BIT_MASK(nr);
}

static inline bool __test_and_set_bit(unsigned long nr, unsigned long *addr)
{
	bool old = test_bit(nr, addr);

	__set_bit(nr, addr);
	return old;
}

static inline bool __test_and_clear_bit(unsigned long nr, unsigned long *addr)
{
	bool old = test_bit(nr, addr);

	__clear_bit(nr, addr);
	return old;
}

#define ilog2(n)	((int)__fls((unsigned long)(n)))
#define order_base_2(n)	((n) > 1 ? ilog2((n) - 1) + 1 : 0)
#define hweight_long(x)	__builtin_popcountl(x)

/* ---- errors, printing, assertions ---------------------------------------- */

#define ENOTSUPP	524
#define MAX_ERRNO	4095
#define IS_ERR_VALUE(x)	unlikely((unsigned long)(void *)(x) >= (unsigned long)-MAX_ERRNO)

static inline void *ERR_PTR(long error)
{
	return (void *)error;
}

static inline long PTR_ERR(const void *ptr)
{
	return (long)ptr;
}

static inline bool IS_ERR(const void *ptr)
{
	return IS_ERR_VALUE((unsigned long)ptr);
}

static inline bool IS_ERR_OR_NULL(const void *ptr)
{
	return !ptr || IS_ERR(ptr);
}

/* Messages go to stderr; a test can silence them. WARNs are counted. */
extern bool harness_quiet;
extern long harness_warn_count(void);
void harness_printk(const char *fmt, ...) __printf(1, 2);
void harness_warn(const char *file, int line, const char *fmt, ...) __printf(3, 4);
void __attribute__((__noreturn__)) harness_bug(const char *file, int line, const char *what);

#ifndef pr_fmt
#define pr_fmt(fmt) fmt
#endif
#define KERN_ERR	""
#define KERN_WARNING	""
#define KERN_INFO	""
#define KERN_DEBUG	""
#define printk(fmt, ...)	harness_printk(fmt, ##__VA_ARGS__)
#define pr_emerg(fmt, ...)	harness_printk(pr_fmt(fmt), ##__VA_ARGS__)
#define pr_err(fmt, ...)	harness_printk(pr_fmt(fmt), ##__VA_ARGS__)
#define pr_warn(fmt, ...)	harness_printk(pr_fmt(fmt), ##__VA_ARGS__)
#define pr_notice(fmt, ...)	harness_printk(pr_fmt(fmt), ##__VA_ARGS__)
#define pr_info(fmt, ...)	harness_printk(pr_fmt(fmt), ##__VA_ARGS__)
#define pr_debug(fmt, ...)	do { if (0) harness_printk(pr_fmt(fmt), ##__VA_ARGS__); } while (0)
#define pr_devel(fmt, ...)	pr_debug(fmt, ##__VA_ARGS__)
#define pr_warn_once(fmt, ...)	pr_warn(fmt, ##__VA_ARGS__)
#define pr_err_once(fmt, ...)	pr_err(fmt, ##__VA_ARGS__)
#define pr_info_once(fmt, ...)	pr_info(fmt, ##__VA_ARGS__)
#define pr_err_ratelimited(fmt, ...) pr_err(fmt, ##__VA_ARGS__)
#define pr_warn_ratelimited(fmt, ...) pr_warn(fmt, ##__VA_ARGS__)

#define WARN(cond, fmt...) ({						\
	bool __c = !!(cond);						\
	if (unlikely(__c))						\
		harness_warn(__FILE__, __LINE__, fmt);			\
	unlikely(__c); })
#define WARN_ON(cond)		WARN(cond, "%s", "WARN_ON(" #cond ")")
#define WARN_ONCE(cond, fmt...)	WARN(cond, fmt)
#define WARN_ON_ONCE(cond)	WARN_ON(cond)
#define BUG()			harness_bug(__FILE__, __LINE__, "BUG()")
#define BUG_ON(cond)							\
	do { if (unlikely(cond)) harness_bug(__FILE__, __LINE__, #cond); } while (0)
#define VM_BUG_ON(cond)		BUG_ON(cond)
#define dump_stack()		do { } while (0)

/* ---- gfp and memory ------------------------------------------------------- */

#define ___GFP_HIGH		0x20u
#define ___GFP_IO		0x40u
#define ___GFP_FS		0x80u
#define ___GFP_ZERO		0x100u
#define ___GFP_DIRECT_RECLAIM	0x400u
#define ___GFP_KSWAPD_RECLAIM	0x800u
#define ___GFP_NOWARN		0x2000u
#define ___GFP_RETRY_MAYFAIL	0x4000u
#define ___GFP_NOFAIL		0x8000u
#define ___GFP_NORETRY		0x10000u
#define ___GFP_ACCOUNT		0x400000u
#define __GFP_HIGH		((gfp_t)___GFP_HIGH)
#define __GFP_IO		((gfp_t)___GFP_IO)
#define __GFP_FS		((gfp_t)___GFP_FS)
#define __GFP_ZERO		((gfp_t)___GFP_ZERO)
#define __GFP_DIRECT_RECLAIM	((gfp_t)___GFP_DIRECT_RECLAIM)
#define __GFP_KSWAPD_RECLAIM	((gfp_t)___GFP_KSWAPD_RECLAIM)
#define __GFP_RECLAIM		(__GFP_DIRECT_RECLAIM | __GFP_KSWAPD_RECLAIM)
#define __GFP_NOWARN		((gfp_t)___GFP_NOWARN)
#define __GFP_RETRY_MAYFAIL	((gfp_t)___GFP_RETRY_MAYFAIL)
#define __GFP_NOFAIL		((gfp_t)___GFP_NOFAIL)
#define __GFP_NORETRY		((gfp_t)___GFP_NORETRY)
#define __GFP_ACCOUNT		((gfp_t)___GFP_ACCOUNT)
#define GFP_ATOMIC		(__GFP_HIGH | __GFP_KSWAPD_RECLAIM)
#define GFP_NOWAIT		(__GFP_KSWAPD_RECLAIM)
#define GFP_NOIO		(__GFP_RECLAIM)
#define GFP_NOFS		(__GFP_RECLAIM | __GFP_IO)
#define GFP_KERNEL		(__GFP_RECLAIM | __GFP_IO | __GFP_FS)
#define GFP_KERNEL_ACCOUNT	(GFP_KERNEL | __GFP_ACCOUNT)

static inline bool gfpflags_allow_blocking(gfp_t gfp)
{
	return !!(gfp & __GFP_DIRECT_RECLAIM);
}

#define SLAB_HWCACHE_ALIGN	((slab_flags_t)0x2000u)
#define SLAB_PANIC		((slab_flags_t)0x40000u)
#define SLAB_ACCOUNT		((slab_flags_t)0x4000000u)
#define SLAB_TYPESAFE_BY_RCU	((slab_flags_t)0x80000u)
#define ZERO_SIZE_PTR		((void *)16)
#define ZERO_OR_NULL_PTR(x)	((unsigned long)(x) <= (unsigned long)ZERO_SIZE_PTR)

struct kmem_cache;

/*
 * Allocations are real malloc()s, counted per cache with the object size
 * the kernel's slab would use, so benchmarks can report node memory and
 * tests can find leaks. harness_fail_* make chosen allocations fail.
 */
void *kmalloc(size_t size, gfp_t gfp);
void *kzalloc(size_t size, gfp_t gfp);
void *kcalloc(size_t n, size_t size, gfp_t gfp);
void *kmalloc_array(size_t n, size_t size, gfp_t gfp);
void *krealloc(const void *p, size_t size, gfp_t gfp);
void kfree(const void *p);
void kfree_sensitive(const void *p);
size_t ksize(const void *p);
#define kvmalloc(s, g)		kmalloc(s, g)
#define kvzalloc(s, g)		kzalloc(s, g)
#define kvcalloc(n, s, g)	kcalloc(n, s, g)
#define kvmalloc_array(n, s, g)	kmalloc_array(n, s, g)
#define kvfree(p)		kfree(p)
#define kmalloc_obj(p, g)	kmalloc(sizeof(*(p)), g)
#define kfree_rcu(p, f)		kfree(p)

struct kmem_cache *kmem_cache_create(const char *name, unsigned int size,
				     unsigned int align, slab_flags_t flags,
				     void (*ctor)(void *));
#define KMEM_CACHE(s, f)						\
	kmem_cache_create(#s, sizeof(struct s), __alignof__(struct s), (f), NULL)
void kmem_cache_destroy(struct kmem_cache *s);
void *kmem_cache_alloc(struct kmem_cache *s, gfp_t gfp);
void *kmem_cache_zalloc(struct kmem_cache *s, gfp_t gfp);
void kmem_cache_free(struct kmem_cache *s, void *p);
unsigned int kmem_cache_size(struct kmem_cache *s);

static inline void kmemleak_not_leak(const void *p) { (void)p; }
static inline void kmemleak_ignore(const void *p) { (void)p; }
static inline void kmemleak_transient_leak(const void *p) { (void)p; }

/* ---- simulated CPUs ------------------------------------------------------- */

/*
 * Each thread plays one CPU (harness_set_cpu()). nr_cpu_ids CPUs are
 * possible; a CPU goes offline through harness_cpu_offline(), which runs the
 * registered hotplug teardown callbacks like the kernel's CPUHP_*_DEAD
 * states do.
 */
extern unsigned int nr_cpu_ids;
extern bool harness_cpu_online_map[NR_CPUS];
unsigned int harness_this_cpu(void);
unsigned int harness_num_online_cpus(void);

#define smp_processor_id()	harness_this_cpu()
#define raw_smp_processor_id()	harness_this_cpu()
#define get_cpu()		({ preempt_disable(); harness_this_cpu(); })
#define put_cpu()		preempt_enable()
#define num_online_cpus()	harness_num_online_cpus()
#define num_possible_cpus()	nr_cpu_ids
#define cpu_online(cpu)		(READ_ONCE(harness_cpu_online_map[(cpu)]))
#define cpu_possible(cpu)	((unsigned int)(cpu) < nr_cpu_ids)
#define for_each_possible_cpu(cpu) \
	for ((cpu) = 0; (cpu) < nr_cpu_ids; (cpu)++)
#define for_each_online_cpu(cpu) \
	for ((cpu) = 0; (cpu) < nr_cpu_ids; (cpu)++) if (!cpu_online(cpu)) {} else
#define for_each_present_cpu(cpu) for_each_possible_cpu(cpu)
#define cpus_read_lock()	do { } while (0)
#define cpus_read_unlock()	do { } while (0)
#define cache_line_size()	SMP_CACHE_BYTES

/* Preemption and interrupts: threads never migrate, so these only count. */
extern __thread int harness_preempt_count;
#define preempt_disable()	do { harness_preempt_count++; barrier(); } while (0)
#define preempt_enable()	do { barrier(); harness_preempt_count--; } while (0)
#define preempt_enable_no_resched() preempt_enable()
#define migrate_disable()	preempt_disable()
#define migrate_enable()	preempt_enable()
#define local_irq_save(f)	do { (f) = 0; preempt_disable(); } while (0)
#define local_irq_restore(f)	do { (void)(f); preempt_enable(); } while (0)
#define local_irq_disable()	preempt_disable()
#define local_irq_enable()	preempt_enable()
#define local_bh_disable()	preempt_disable()
#define local_bh_enable()	preempt_enable()
#define in_atomic()		(harness_preempt_count > 0)
#define irqs_disabled()		(harness_preempt_count > 0)
void harness_might_sleep(const char *file, int line);
#define might_sleep()		harness_might_sleep(__FILE__, __LINE__)
#define might_sleep_if(c)	do { if (c) might_sleep(); } while (0)
#define cond_resched()		({ might_sleep(); 0; })

/* Dynamic per-CPU areas: NR_CPUS real copies, one per simulated CPU. */
#define PCPU_MIN_UNIT_SIZE	(32UL << 10)
void *__alloc_percpu(size_t size, size_t align);
void *__alloc_percpu_gfp(size_t size, size_t align, gfp_t gfp);
void free_percpu(void *p);
void *harness_per_cpu_ptr(const void *p, unsigned int cpu);
#define alloc_percpu(type) \
	((type *)__alloc_percpu(sizeof(type), __alignof__(type)))
#define alloc_percpu_gfp(type, gfp) \
	((type *)__alloc_percpu_gfp(sizeof(type), __alignof__(type), gfp))
#define per_cpu_ptr(p, cpu)	((typeof(p))harness_per_cpu_ptr((p), (cpu)))
#define raw_cpu_ptr(p)		per_cpu_ptr(p, harness_this_cpu())
#define this_cpu_ptr(p)		per_cpu_ptr(p, harness_this_cpu())
#define get_cpu_ptr(p)		({ preempt_disable(); this_cpu_ptr(p); })
#define put_cpu_ptr(p)		do { (void)(p); preempt_enable(); } while (0)
#define this_cpu_read(pcp)	READ_ONCE(*this_cpu_ptr(&(pcp)))
#define this_cpu_write(pcp, v)	WRITE_ONCE(*this_cpu_ptr(&(pcp)), v)
#define this_cpu_add(pcp, v)	(*this_cpu_ptr(&(pcp)) += (v))
#define this_cpu_inc(pcp)	this_cpu_add(pcp, 1)
#define this_cpu_dec(pcp)	this_cpu_add(pcp, -1)
#define __this_cpu_add(pcp, v)	this_cpu_add(pcp, v)
#define __this_cpu_inc(pcp)	this_cpu_inc(pcp)

/* CPU hotplug: callbacks are recorded per implementation. */
enum cpuhp_state {
	CPUHP_INVALID = -1,
	CPUHP_OFFLINE = 0,
	CPUHP_IOMMU_IOVA_DEAD,
	CPUHP_IOMMU_IOVA_POOL_DEAD,
	CPUHP_AP_ONLINE_DYN,
	CPUHP_NR_STATES,
};

typedef int (*harness_cpuhp_fn)(unsigned int cpu, struct hlist_node *node);
int harness_cpuhp_setup_multi(int impl, enum cpuhp_state state,
			      harness_cpuhp_fn startup, harness_cpuhp_fn teardown);
void harness_cpuhp_remove_multi(int impl, enum cpuhp_state state);
int harness_cpuhp_add_instance(int impl, enum cpuhp_state state,
			       struct hlist_node *node, bool invoke);
int harness_cpuhp_remove_instance(int impl, enum cpuhp_state state,
				  struct hlist_node *node, bool invoke);
#define cpuhp_setup_state_multi(s, name, up, down) \
	harness_cpuhp_setup_multi(HARNESS_IMPL_ID, (s), (up), (down))
#define cpuhp_remove_multi_state(s) \
	harness_cpuhp_remove_multi(HARNESS_IMPL_ID, (s))
#define cpuhp_state_add_instance_nocalls(s, n) \
	harness_cpuhp_add_instance(HARNESS_IMPL_ID, (s), (n), false)
#define cpuhp_state_add_instance(s, n) \
	harness_cpuhp_add_instance(HARNESS_IMPL_ID, (s), (n), true)
#define cpuhp_state_remove_instance_nocalls(s, n) \
	harness_cpuhp_remove_instance(HARNESS_IMPL_ID, (s), (n), false)
#define cpuhp_state_remove_instance(s, n) \
	harness_cpuhp_remove_instance(HARNESS_IMPL_ID, (s), (n), true)

/* ---- locks ---------------------------------------------------------------- */

/*
 * One owner-tracking lock type behind spinlock_t, raw_spinlock_t and struct
 * mutex: assert_spin_locked()/lockdep_assert_held() check that the calling
 * thread holds the lock (as lockdep does), and sleeping while holding a
 * spinlock is reported like CONFIG_DEBUG_ATOMIC_SLEEP would.
 */
struct harness_lock {
	pthread_mutex_t m;
	const void *owner;
	bool is_spin;
	unsigned long acquisitions;	/* counted while held */
};

extern __thread char harness_thread_marker;
void harness_lock_init(struct harness_lock *l, bool spin);
void harness_lock(struct harness_lock *l);
bool harness_trylock(struct harness_lock *l);
void harness_unlock(struct harness_lock *l);
bool harness_lock_held(const struct harness_lock *l);

typedef struct harness_lock spinlock_t;
typedef struct harness_lock raw_spinlock_t;
struct mutex {
	struct harness_lock l;
};

#define __HARNESS_LOCK_INIT(spin) { PTHREAD_MUTEX_INITIALIZER, NULL, spin, 0 }
#define DEFINE_SPINLOCK(x)	spinlock_t x = __HARNESS_LOCK_INIT(true)
#define DEFINE_RAW_SPINLOCK(x)	raw_spinlock_t x = __HARNESS_LOCK_INIT(true)
#define DEFINE_MUTEX(x)		struct mutex x = { __HARNESS_LOCK_INIT(false) }
#define __SPIN_LOCK_UNLOCKED(x)	__HARNESS_LOCK_INIT(true)

#define spin_lock_init(l)	harness_lock_init((l), true)
#define raw_spin_lock_init(l)	harness_lock_init((l), true)
#define spin_lock(l)		harness_lock(l)
#define SINGLE_DEPTH_NESTING	1
#define spin_lock_nested(l, sub) harness_lock(l)
#define spin_unlock(l)		harness_unlock(l)
#define spin_trylock(l)		harness_trylock(l)
#define spin_lock_irq(l)	harness_lock(l)
#define spin_unlock_irq(l)	harness_unlock(l)
#define spin_lock_bh(l)		harness_lock(l)
#define spin_unlock_bh(l)	harness_unlock(l)
#define spin_lock_irqsave(l, f)	do { (f) = 0; harness_lock(l); } while (0)
#define spin_unlock_irqrestore(l, f) do { (void)(f); harness_unlock(l); } while (0)
#define spin_trylock_irqsave(l, f) ({ (f) = 0; harness_trylock(l); })
#define raw_spin_lock(l)	harness_lock(l)
#define raw_spin_unlock(l)	harness_unlock(l)
#define raw_spin_lock_irqsave(l, f) spin_lock_irqsave(l, f)
#define raw_spin_unlock_irqrestore(l, f) spin_unlock_irqrestore(l, f)
#define spin_is_locked(l)	(READ_ONCE((l)->owner) != NULL)
#define assert_spin_locked(l)						\
	WARN(!harness_lock_held(l), "lock %s not held", #l)
#define lockdep_assert_held(l)						\
	WARN(!harness_lock_held((const struct harness_lock *)(l)),	\
	     "lock %s not held", #l)
#define lockdep_assert_not_held(l)					\
	WARN(harness_lock_held((const struct harness_lock *)(l)),	\
	     "lock %s held", #l)
#define lockdep_assert_irqs_disabled()	do { } while (0)
#define lockdep_assert_preemption_disabled() do { } while (0)

#define mutex_init(m)		harness_lock_init(&(m)->l, false)
#define mutex_destroy(m)	do { (void)(m); } while (0)
#define mutex_lock(m)		do { might_sleep(); harness_lock(&(m)->l); } while (0)
#define mutex_trylock(m)	harness_trylock(&(m)->l)
#define mutex_unlock(m)		harness_unlock(&(m)->l)
#define mutex_is_locked(m)	(READ_ONCE((m)->l.owner) != NULL)

/* ---- atomics ------------------------------------------------------------- */

#define ATOMIC_INIT(i)		{ (i) }
#define atomic_read(v)		__atomic_load_n(&(v)->counter, __ATOMIC_RELAXED)
#define atomic_set(v, i)	__atomic_store_n(&(v)->counter, (i), __ATOMIC_RELAXED)
#define atomic_add(i, v)	((void)__atomic_add_fetch(&(v)->counter, (i), __ATOMIC_RELAXED))
#define atomic_sub(i, v)	((void)__atomic_sub_fetch(&(v)->counter, (i), __ATOMIC_RELAXED))
#define atomic_inc(v)		atomic_add(1, v)
#define atomic_dec(v)		atomic_sub(1, v)
#define atomic_add_return(i, v)	__atomic_add_fetch(&(v)->counter, (i), __ATOMIC_SEQ_CST)
#define atomic_sub_return(i, v)	__atomic_sub_fetch(&(v)->counter, (i), __ATOMIC_SEQ_CST)
#define atomic_inc_return(v)	atomic_add_return(1, v)
#define atomic_dec_return(v)	atomic_sub_return(1, v)
#define atomic_dec_and_test(v)	(atomic_dec_return(v) == 0)
#define atomic_fetch_add_unless(v, a, u) ({				\
	typeof((v)->counter) __c = atomic_read(v);			\
	while (__c != (u) &&						\
	       !__atomic_compare_exchange_n(&(v)->counter, &__c, __c + (a), \
					    false, __ATOMIC_SEQ_CST,	\
					    __ATOMIC_SEQ_CST))		\
		;							\
	__c; })
#define atomic_add_unless(v, a, u) (atomic_fetch_add_unless(v, a, u) != (u))
#define atomic_inc_not_zero(v)	atomic_add_unless(v, 1, 0)
#define atomic_xchg(v, n)	__atomic_exchange_n(&(v)->counter, (n), __ATOMIC_SEQ_CST)
#define atomic_cmpxchg(v, o, n) ({					\
	typeof((v)->counter) __old = (o);				\
	__atomic_compare_exchange_n(&(v)->counter, &__old, (n), false,	\
				    __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);	\
	__old; })
#define atomic_long_read	atomic_read
#define atomic_long_set		atomic_set
#define atomic_long_add		atomic_add
#define atomic_long_sub		atomic_sub
#define atomic_long_inc		atomic_inc
#define atomic_long_dec		atomic_dec
#define atomic_long_add_return	atomic_add_return
#define atomic_long_inc_return	atomic_inc_return
#define atomic_long_dec_return	atomic_dec_return
#define atomic_long_xchg	atomic_xchg
#define atomic_long_cmpxchg	atomic_cmpxchg
#define atomic64_read		atomic_read
#define atomic64_set		atomic_set
#define atomic64_add		atomic_add
#define atomic64_sub		atomic_sub
#define atomic64_inc		atomic_inc
#define atomic64_dec		atomic_dec
#define atomic64_add_return	atomic_add_return
#define atomic64_inc_return	atomic_inc_return
#define xchg(p, n)		__atomic_exchange_n((p), (n), __ATOMIC_SEQ_CST)
#define cmpxchg(p, o, n) ({						\
	typeof(*(p)) __old = (o);					\
	__atomic_compare_exchange_n((p), &__old, (n), false,		\
				    __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);	\
	__old; })
#define try_cmpxchg(p, po, n)						\
	__atomic_compare_exchange_n((p), (po), (n), false,		\
				    __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)

/*
 * ---- RCU and sequence counts ----------------------------------------------
 *
 * Read sections only count (sleeping inside one is reported). Memory a
 * reader may still see is kept alive by the allocator instead of by grace
 * periods: SLAB_TYPESAFE_BY_RCU caches never give freed objects back to
 * malloc() before kmem_cache_destroy(), as the slab keeps their pages.
 *
 * Under ThreadSanitizer the reads of a seqcount read section are not
 * recorded, the way KCSAN treats seqlock readers as atomic: a racing writer
 * is what the retry is for. A reader may check the count several times in
 * one section (iova.c does before following each link); inside an RCU read
 * section the reads stay ignored until rcu_read_unlock(), outside one
 * until the first read_seqcount_retry().
 */
extern __thread int harness_rcu_depth;
#define rcu_assign_pointer(p, v)	smp_store_release(&(p), (v))
#define RCU_INIT_POINTER(p, v)		WRITE_ONCE(p, v)
#define rcu_dereference(p)		READ_ONCE(p)
#define rcu_dereference_raw(p)		READ_ONCE(p)
#define rcu_dereference_check(p, c)	READ_ONCE(p)
#define rcu_dereference_protected(p, c)	(p)
#define rcu_access_pointer(p)		READ_ONCE(p)
#define rcu_read_lock()			do { harness_rcu_depth++; barrier(); } while (0)
#define rcu_read_unlock() do {					\
	barrier();							\
	if (!--harness_rcu_depth)					\
		__harness_seq_ignore(false);				\
} while (0)
#define rcu_read_lock_held()		(harness_rcu_depth > 0)
#define synchronize_rcu()		might_sleep()
#define rcu_barrier()			might_sleep()

#if defined(__SANITIZE_THREAD__)
void AnnotateIgnoreReadsBegin(const char *file, int line);
void AnnotateIgnoreReadsEnd(const char *file, int line);
#define __seq_ignore_reads_begin()	AnnotateIgnoreReadsBegin(__FILE__, __LINE__)
#define __seq_ignore_reads_end()	AnnotateIgnoreReadsEnd(__FILE__, __LINE__)
#else
#define __seq_ignore_reads_begin()	do { } while (0)
#define __seq_ignore_reads_end()	do { } while (0)
#endif

typedef struct {
	unsigned int sequence;
} seqcount_t;

typedef struct {
	seqcount_t seqcount;
	struct harness_lock *lock;
} seqcount_spinlock_t;

typedef struct {
	seqcount_spinlock_t seqcount;
	struct harness_lock lock;
} seqlock_t;

#define SEQCNT_ZERO(name)		{ .sequence = 0 }
#define seqcount_init(s)		do { (s)->sequence = 0; } while (0)
#define seqcount_spinlock_init(s, l)	do { (s)->seqcount.sequence = 0; (s)->lock = (l); } while (0)
#define seqcount_raw_spinlock_init(s, l) seqcount_spinlock_init(s, l)
#define __seqcount_ptr(s) _Generic((s),					\
	seqcount_t *: (seqcount_t *)(s),				\
	seqcount_spinlock_t *: &((seqcount_spinlock_t *)(s))->seqcount)
#define __seqcount_assert_held(s) _Generic((s),				\
	seqcount_t *: 0,						\
	seqcount_spinlock_t *: WARN(!harness_lock_held(((seqcount_spinlock_t *)(s))->lock), \
				    "seqcount write section without its lock"))

extern __thread bool harness_seq_ignoring;

static inline void __harness_seq_ignore(bool on)
{
	if (on == harness_seq_ignoring)
		return;
	harness_seq_ignoring = on;
	if (on)
		__seq_ignore_reads_begin();
	else
		__seq_ignore_reads_end();
}

static inline unsigned int __harness_read_seqcount_begin(seqcount_t *s)
{
	unsigned int seq;

	while ((seq = __atomic_load_n(&s->sequence, __ATOMIC_ACQUIRE)) & 1)
		cpu_relax();
	__harness_seq_ignore(true);
	return seq;
}

/* Writers bump the sequence with full read-modify-writes. */
static inline bool __harness_read_seqcount_retry(seqcount_t *s, unsigned int start)
{
	if (!harness_rcu_depth)
		__harness_seq_ignore(false);
#if defined(__SANITIZE_THREAD__)
	/* TSan does not model the fence below */
	return __atomic_fetch_add(&s->sequence, 0, __ATOMIC_SEQ_CST) != start;
#else
	smp_rmb();
	return __atomic_load_n(&s->sequence, __ATOMIC_RELAXED) != start;
#endif
}

static inline void __harness_write_seqcount(seqcount_t *s, bool begin)
{
	__atomic_fetch_add(&s->sequence, 1, __ATOMIC_SEQ_CST);
}

#define read_seqcount_begin(s)		__harness_read_seqcount_begin(__seqcount_ptr(s))
#define raw_read_seqcount_begin(s)	read_seqcount_begin(s)
/* One look at the count, no wait for a writer: an odd count is returned. */
#define raw_read_seqcount(s)		__atomic_load_n(&__seqcount_ptr(s)->sequence, __ATOMIC_ACQUIRE)
#define read_seqcount_retry(s, start)	__harness_read_seqcount_retry(__seqcount_ptr(s), start)
#define write_seqcount_begin(s) do {					\
	(void)__seqcount_assert_held(s);				\
	__harness_write_seqcount(__seqcount_ptr(s), true);		\
} while (0)
#define write_seqcount_end(s)		__harness_write_seqcount(__seqcount_ptr(s), false)
#define raw_write_seqcount_begin(s)	__harness_write_seqcount(__seqcount_ptr(s), true)
#define raw_write_seqcount_end(s)	__harness_write_seqcount(__seqcount_ptr(s), false)
#define seqlock_init(sl) do {						\
	harness_lock_init(&(sl)->lock, true);				\
	seqcount_spinlock_init(&(sl)->seqcount, &(sl)->lock);		\
} while (0)
#define read_seqbegin(sl)		read_seqcount_begin(&(sl)->seqcount)
#define read_seqretry(sl, start)	read_seqcount_retry(&(sl)->seqcount, start)
#define write_seqlock(sl) do {						\
	harness_lock(&(sl)->lock);					\
	write_seqcount_begin(&(sl)->seqcount);				\
} while (0)
#define write_sequnlock(sl) do {					\
	write_seqcount_end(&(sl)->seqcount);				\
	harness_unlock(&(sl)->lock);					\
} while (0)

/* ---- lists ---------------------------------------------------------------- */

#define LIST_HEAD_INIT(name)	{ &(name), &(name) }
#define LIST_HEAD(name)		struct list_head name = LIST_HEAD_INIT(name)
#define HLIST_HEAD_INIT		{ .first = NULL }

static inline void INIT_LIST_HEAD(struct list_head *l)
{
	l->next = l;
	l->prev = l;
}

static inline void __list_add(struct list_head *n, struct list_head *prev,
			      struct list_head *next)
{
	next->prev = n;
	n->next = next;
	n->prev = prev;
	prev->next = n;
}

static inline void list_add(struct list_head *n, struct list_head *head)
{
	__list_add(n, head, head->next);
}

static inline void list_add_tail(struct list_head *n, struct list_head *head)
{
	__list_add(n, head->prev, head);
}

static inline void list_del(struct list_head *e)
{
	e->next->prev = e->prev;
	e->prev->next = e->next;
	e->next = NULL;
	e->prev = NULL;
}

static inline void list_del_init(struct list_head *e)
{
	e->next->prev = e->prev;
	e->prev->next = e->next;
	INIT_LIST_HEAD(e);
}

static inline bool list_empty(const struct list_head *head)
{
	return READ_ONCE(head->next) == head;
}

#define list_entry(p, type, member)	container_of(p, type, member)
#define list_first_entry(p, type, member) list_entry((p)->next, type, member)
#define list_first_entry_or_null(p, type, member) \
	(list_empty(p) ? NULL : list_first_entry(p, type, member))
#define list_next_entry(pos, member) \
	list_entry((pos)->member.next, typeof(*(pos)), member)
#define list_for_each_entry(pos, head, member)				\
	for (pos = list_first_entry(head, typeof(*pos), member);	\
	     &pos->member != (head);					\
	     pos = list_next_entry(pos, member))
#define list_for_each_entry_safe(pos, n, head, member)			\
	for (pos = list_first_entry(head, typeof(*pos), member),	\
	     n = list_next_entry(pos, member);				\
	     &pos->member != (head);					\
	     pos = n, n = list_next_entry(n, member))

static inline void INIT_HLIST_NODE(struct hlist_node *h)
{
	h->next = NULL;
	h->pprev = NULL;
}

static inline bool hlist_unhashed(const struct hlist_node *h)
{
	return !h->pprev;
}

#define hlist_entry(ptr, type, member) container_of(ptr, type, member)
#define hlist_entry_safe(ptr, type, member) ({				\
	typeof(ptr) ____ptr = (ptr);					\
	____ptr ? hlist_entry(____ptr, type, member) : NULL; })

/* ---- time and delayed work ------------------------------------------------ */

/*
 * HZ is 1000. In manual mode (the default, deterministic) jiffies only move
 * through harness_jiffies_advance() and due work runs from
 * harness_run_delayed_work(); in threaded mode a worker thread runs delayed
 * work on wall-clock time as the kernel's system workqueue would.
 */
#define HZ 1000
unsigned long harness_jiffies(void);
#define jiffies			harness_jiffies()
#define msecs_to_jiffies(m)	((unsigned long)(m))
#define usecs_to_jiffies(u)	((unsigned long)(u) / 1000)
#define jiffies_to_msecs(j)	((unsigned int)(j))
#define time_after(a, b)	((long)((b) - (a)) < 0)
#define time_before(a, b)	time_after(b, a)
#define time_after_eq(a, b)	((long)((a) - (b)) >= 0)

struct work_struct;
typedef void (*work_func_t)(struct work_struct *work);

struct work_struct {
	work_func_t func;
	struct list_head entry;
	unsigned long due;
	int state;		/* 0 idle, 1 queued, 2 running */
};

struct timer_list {
	int unused;
};

struct delayed_work {
	struct work_struct work;
	struct timer_list timer;
};

struct workqueue_struct;
extern struct workqueue_struct *system_wq;
extern struct workqueue_struct *system_unbound_wq;

static inline struct delayed_work *to_delayed_work(struct work_struct *work)
{
	return container_of(work, struct delayed_work, work);
}

void harness_init_work(struct work_struct *work, work_func_t func);
bool harness_queue_work(struct work_struct *work, unsigned long delay);
bool harness_cancel_work_sync(struct work_struct *work);
bool harness_flush_work(struct work_struct *work);
#define INIT_WORK(w, f)		harness_init_work((w), (f))
#define INIT_DELAYED_WORK(w, f)	harness_init_work(&(w)->work, (f))
#define schedule_work(w)	harness_queue_work((w), 0)
#define queue_work(wq, w)	((void)(wq), harness_queue_work((w), 0))
#define schedule_delayed_work(w, d) harness_queue_work(&(w)->work, (d))
#define queue_delayed_work(wq, w, d) ((void)(wq), harness_queue_work(&(w)->work, (d)))
#define mod_delayed_work(wq, w, d) ((void)(wq), harness_queue_work(&(w)->work, (d)))
#define cancel_work_sync(w)	harness_cancel_work_sync(w)
#define cancel_delayed_work_sync(w) harness_cancel_work_sync(&(w)->work)
#define cancel_delayed_work(w)	harness_cancel_work_sync(&(w)->work)
#define flush_work(w)		harness_flush_work(w)
#define flush_delayed_work(w)	harness_flush_work(&(w)->work)
#define delayed_work_pending(w)	(READ_ONCE((w)->work.state) == 1)

/*
 * work_on_cpu(): @fn runs in a thread of its own that plays @cpu, and the
 * caller waits for it, as the kernel runs it in a kworker bound to @cpu.
 */
long harness_work_on_cpu(int cpu, long (*fn)(void *), void *arg);
#define work_on_cpu(cpu, fn, arg)	harness_work_on_cpu((cpu), (fn), (arg))
#define work_on_cpu_safe(cpu, fn, arg)	harness_work_on_cpu((cpu), (fn), (arg))

/* ---- strings and parameters ---------------------------------------------- */

int kstrtobool(const char *s, bool *res);
int kstrtouint(const char *s, unsigned int base, unsigned int *res);
int kstrtoint(const char *s, unsigned int base, int *res);
int kstrtoul(const char *s, unsigned int base, unsigned long *res);

struct kernel_param;
struct kernel_param_ops {
	unsigned int flags;
	int (*set)(const char *val, const struct kernel_param *kp);
	int (*get)(char *buffer, const struct kernel_param *kp);
	void (*free)(void *arg);
};

/* Module parameters are registered per implementation; see harness_param_set(). */
struct kernel_param {
	const char *name;
	const struct kernel_param_ops *ops;
	unsigned short perm;
	void *arg;
	int impl;
	struct kernel_param *next;
};

extern const struct kernel_param_ops param_ops_bool;
extern const struct kernel_param_ops param_ops_int;
extern const struct kernel_param_ops param_ops_uint;
extern const struct kernel_param_ops param_ops_ulong;
int param_set_bool(const char *val, const struct kernel_param *kp);
int param_get_bool(char *buffer, const struct kernel_param *kp);
int param_set_int(const char *val, const struct kernel_param *kp);
int param_get_int(char *buffer, const struct kernel_param *kp);
int param_set_uint(const char *val, const struct kernel_param *kp);
int param_get_uint(char *buffer, const struct kernel_param *kp);
int param_set_ulong(const char *val, const struct kernel_param *kp);
int param_get_ulong(char *buffer, const struct kernel_param *kp);
void harness_register_param(struct kernel_param *kp);

#define module_param_cb(_name, _ops, _arg, _perm)			\
	static struct kernel_param __harness_param_##_name = {		\
		.name = #_name, .ops = (_ops), .perm = (_perm),		\
		.arg = (void *)(_arg), .impl = HARNESS_IMPL_ID };	\
	static void __attribute__((__constructor__)) __harness_param_reg_##_name(void) \
	{ harness_register_param(&__harness_param_##_name); }
#define module_param_named(_name, _value, _type, _perm)			\
	module_param_cb(_name, &param_ops_##_type, &(_value), _perm)
#define module_param(_name, _type, _perm)				\
	module_param_named(_name, _name, _type, _perm)
#define core_param(_name, _var, _type, _perm)				\
	module_param_named(_name, _var, _type, _perm)
#define MODULE_PARM_DESC(p, d)
#define __setup(str, fn)
#define early_param(str, fn)

/*
 * ---- KUnit static stubs ---------------------------------------------------
 *
 * As in the kernel, a function that begins with KUNIT_STATIC_STUB_REDIRECT()
 * calls the replacement a KUnit case activated, in that case's thread only.
 * The benchmarks' build ("release", a production kernel: no KUnit) has no
 * stubs at all.
 */
#ifdef HARNESS_NO_STATIC_STUBS
#define KUNIT_STATIC_STUB_REDIRECT(real_fn_name, args...) do { } while (0)
#else
void *harness_static_stub(const void *real_fn);
#define KUNIT_STATIC_STUB_REDIRECT(real_fn_name, args...) do {		\
	typeof(&real_fn_name) __stub_repl =				\
		harness_static_stub((const void *)&real_fn_name);	\
	if (unlikely(__stub_repl))					\
		return __stub_repl(args);				\
} while (0)
#endif
void harness_activate_static_stub(const void *real_fn, void *replacement);
void harness_deactivate_static_stubs(void);

/* ---- modules and exports -------------------------------------------------- */

#define EXPORT_SYMBOL(s)
#define EXPORT_SYMBOL_GPL(s)
#define EXPORT_SYMBOL_NS_GPL(s, ns)
#define EXPORT_SYMBOL_IF_KUNIT(s)
#define VISIBLE_IF_KUNIT
#define MODULE_AUTHOR(x)
#define MODULE_DESCRIPTION(x)
#define MODULE_LICENSE(x)
#define MODULE_IMPORT_NS(x)
#define THIS_MODULE		((struct module *)NULL)
#define module_init(fn)
#define module_exit(fn)
#define subsys_initcall(fn)
#define device_initcall(fn)
#define late_initcall(fn)
#define arch_initcall(fn)
struct module;

/* ---- debugfs: no filesystem here; creation succeeds with a dummy ------- */

struct dentry;
struct file;
struct inode;

struct seq_file {
	char *buf;
	size_t size;
	size_t count;
	void *private;
};
struct file_operations {
	struct module *owner;
	int (*show)(struct seq_file *m, void *data);
};
#define DEBUGFS_DUMMY		((struct dentry *)&harness_debugfs_dummy)
extern char harness_debugfs_dummy;

static inline struct dentry *debugfs_create_dir(const char *name, struct dentry *parent)
{
	return DEBUGFS_DUMMY;
}

static inline struct dentry *debugfs_create_file(const char *name, umode_t mode,
						 struct dentry *parent, void *data,
						 const struct file_operations *fops)
{
	return DEBUGFS_DUMMY;
}

#define debugfs_create_u64(n, m, p, v)	do { (void)(p); (void)(v); } while (0)
#define debugfs_create_u32(n, m, p, v)	do { (void)(p); (void)(v); } while (0)
#define debugfs_create_ulong(n, m, p, v) do { (void)(p); (void)(v); } while (0)
#define debugfs_create_bool(n, m, p, v)	do { (void)(p); (void)(v); } while (0)
#define debugfs_remove(d)		do { (void)(d); } while (0)
#define debugfs_remove_recursive(d)	do { (void)(d); } while (0)
#define debugfs_lookup_and_remove(n, p)	do { (void)(p); } while (0)
int seq_printf(struct seq_file *m, const char *fmt, ...) __printf(2, 3);
#define seq_puts(m, s)		seq_printf(m, "%s", s)
#define DEFINE_SHOW_ATTRIBUTE(name)					\
	static const struct file_operations name##_fops __maybe_unused = {	\
		.show = name##_show,					\
	}

/* ---- sort ------------------------------------------------------------------ */

typedef int (*cmp_func_t)(const void *a, const void *b);
typedef void (*swap_func_t)(void *a, void *b, int size);

static inline void sort(void *base, size_t num, size_t size, cmp_func_t cmp,
			swap_func_t swap_fn)
{
	(void)swap_fn;
	qsort(base, num, size, cmp);
}

/* ---- tracepoints ------------------------------------------------------------ */

/*
 * <trace/events/iova.h> is the kernel's own header (see the Makefile): each
 * event becomes an empty inline trace_<event>() with the event's prototype,
 * so the calls in iova.c compile to nothing and are still type-checked.
 * The declarations only swallow the semicolon after each macro.
 */
#define PARAMS(args...)		args
#define TP_PROTO(args...)	args
#define TP_ARGS(args...)	args
#define TRACE_DEFINE_ENUM(x)	extern int harness_trace_enum_##x
#define DECLARE_EVENT_CLASS(name, proto, args, tstruct, assign, print)	\
	extern int harness_trace_class_##name
#define DEFINE_EVENT(tmpl, name, proto, args)				\
	static inline void trace_##name(proto) { }			\
	extern int harness_trace_event_##name
#define TRACE_EVENT(name, proto, args, tstruct, assign, print)		\
	DEFINE_EVENT(name, name, PARAMS(proto), PARAMS(args))

/* ---- the kernel's own rbtree, from the tree under test ------------------ */

#include KSRC_RBTREE_TYPES_H
#include KSRC_RBTREE_H
#include KSRC_RBTREE_AUGMENTED_H

#endif /* IOVA_SHIM_H */
