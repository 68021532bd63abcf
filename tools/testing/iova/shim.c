// SPDX-License-Identifier: GPL-2.0
/*
 * Out-of-line half of iova_shim.h: the state the simulated machine keeps
 * (allocation accounting and fault injection, CPUs and hotplug callbacks,
 * owner-tracking locks, delayed work, module parameters).
 */
#include <time.h>
#include <unistd.h>

#include "iova_shim.h"
#include "harness.h"

static_assert(HARNESS_NR_CPUS == NR_CPUS);

/* ---- printing and WARN ------------------------------------------------------ */

bool harness_quiet;
static long warn_count;
char harness_debugfs_dummy;

void harness_set_quiet(bool quiet)
{
	harness_quiet = quiet;
}

long harness_warnings(void)
{
	return __atomic_load_n(&warn_count, __ATOMIC_RELAXED);
}

long harness_warn_count(void)
{
	return harness_warnings();
}

void harness_printk(const char *fmt, ...)
{
	va_list ap;

	if (harness_quiet)
		return;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
}

void harness_warn(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	__atomic_add_fetch(&warn_count, 1, __ATOMIC_RELAXED);
	if (harness_quiet)
		return;
	fprintf(stderr, "WARNING: %s:%d: ", file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

void harness_bug(const char *file, int line, const char *what)
{
	fprintf(stderr, "BUG: %s:%d: %s\n", file, line, what);
	abort();
}

double harness_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

/* ---- CPUs, preemption, sleeping ------------------------------------------- */

unsigned int nr_cpu_ids = 8;
bool harness_cpu_online_map[NR_CPUS];
static __thread int this_cpu;
__thread int harness_preempt_count;
__thread int harness_rcu_depth;
__thread bool harness_seq_ignoring;
__thread char harness_thread_marker;
static __thread int spin_depth;
static long percpu_live;

static void __attribute__((__constructor__)) harness_cpus_init(void)
{
	for (int i = 0; i < NR_CPUS; i++)
		harness_cpu_online_map[i] = true;
}

void harness_set_cpu(unsigned int cpu)
{
	BUG_ON(cpu >= nr_cpu_ids);
	this_cpu = cpu;
}

unsigned int harness_get_cpu(void)
{
	return this_cpu;
}

unsigned int harness_this_cpu(void)
{
	WARN(!cpu_online(this_cpu), "running on offline CPU %d", this_cpu);
	return this_cpu;
}

unsigned int harness_num_online_cpus(void)
{
	unsigned int cpu, n = 0;

	for_each_online_cpu(cpu)
		n++;
	return n;
}

int harness_set_possible_cpus(unsigned int n)
{
	if (n == 0 || n > NR_CPUS)
		return -EINVAL;
	if (__atomic_load_n(&percpu_live, __ATOMIC_RELAXED))
		return -EBUSY;
	nr_cpu_ids = n;
	return 0;
}

unsigned int harness_possible_cpus(void)
{
	return nr_cpu_ids;
}

void harness_might_sleep(const char *file, int line)
{
	if (spin_depth || harness_preempt_count || harness_rcu_depth)
		harness_warn(file, line,
			     "sleeping function called from invalid context (spinlocks %d, preempt %d, rcu %d)",
			     spin_depth, harness_preempt_count, harness_rcu_depth);
}

/* ---- locks ----------------------------------------------------------------- */

void harness_lock_init(struct harness_lock *l, bool spin)
{
	pthread_mutexattr_t a;

	pthread_mutexattr_init(&a);
#ifdef PTHREAD_ADAPTIVE_MUTEX_INITIALIZER_NP
	/* spin a little before sleeping, like a contended spinlock would */
	pthread_mutexattr_settype(&a, PTHREAD_MUTEX_ADAPTIVE_NP);
#endif
	pthread_mutex_init(&l->m, &a);
	pthread_mutexattr_destroy(&a);
	l->owner = NULL;
	l->is_spin = spin;
	l->acquisitions = 0;
}

/* Yield before taking a lock, which widens race windows (tests only) */
static bool harness_lock_yield;

void harness_set_lock_yield(bool on)
{
	__atomic_store_n(&harness_lock_yield, on, __ATOMIC_RELAXED);
}

void harness_lock(struct harness_lock *l)
{
	if (harness_lock_held(l))
		harness_bug(__FILE__, __LINE__, "recursive locking");
	if (unlikely(__atomic_load_n(&harness_lock_yield, __ATOMIC_RELAXED)))
		sched_yield();
	pthread_mutex_lock(&l->m);
	__atomic_store_n(&l->owner, &harness_thread_marker, __ATOMIC_RELAXED);
	l->acquisitions++;
	if (l->is_spin)
		spin_depth++;
}

bool harness_trylock(struct harness_lock *l)
{
	if (pthread_mutex_trylock(&l->m))
		return false;
	__atomic_store_n(&l->owner, &harness_thread_marker, __ATOMIC_RELAXED);
	l->acquisitions++;
	if (l->is_spin)
		spin_depth++;
	return true;
}

void harness_unlock(struct harness_lock *l)
{
	if (!harness_lock_held(l))
		harness_bug(__FILE__, __LINE__, "unlocking a lock this thread does not hold");
	if (l->is_spin)
		spin_depth--;
	__atomic_store_n(&l->owner, NULL, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&l->m);
}

bool harness_lock_held(const struct harness_lock *l)
{
	return __atomic_load_n(&l->owner, __ATOMIC_RELAXED) == &harness_thread_marker;
}

/* ---- KUnit static stubs -------------------------------------------------- */

#define MAX_STUBS 8

static __thread struct {
	const void *real;
	void *replacement;
} stubs[MAX_STUBS];

void *harness_static_stub(const void *real_fn)
{
	for (int i = 0; i < MAX_STUBS; i++)
		if (stubs[i].real == real_fn)
			return stubs[i].replacement;
	return NULL;
}

void harness_activate_static_stub(const void *real_fn, void *replacement)
{
	int free_slot = -1;

	for (int i = 0; i < MAX_STUBS; i++) {
		if (stubs[i].real == real_fn) {
			stubs[i].replacement = replacement;
			return;
		}
		if (!stubs[i].real && free_slot < 0)
			free_slot = i;
	}
	if (free_slot < 0)
		harness_bug(__FILE__, __LINE__, "too many static stubs");
	stubs[free_slot].real = real_fn;
	stubs[free_slot].replacement = replacement;
}

void harness_deactivate_static_stubs(void)
{
	memset(stubs, 0, sizeof(stubs));
}

/* ---- memory -------------------------------------------------------------- */

#define HDR_MAGIC_KMALLOC 0x6b6d616c6c6f6321ULL
#define HDR_MAGIC_SLAB    0x736c61626f626a21ULL
#define HDR_MAGIC_FREED   0x6672656564212121ULL
#define HDR_MAGIC_STABLE  0x7479706573616665ULL	/* freed, type-stable */
#define HDR_SIZE 64		/* keeps objects 64-byte aligned */

struct hdr {
	unsigned long long magic;
	struct kmem_cache *cache;
	size_t size;		/* requested */
	size_t charged;		/* as the kernel would round it */
	struct hdr *next;	/* on a type-stable cache's free list */
};

struct kmem_cache {
	char name[64];
	unsigned int size;
	unsigned int objsize;
	slab_flags_t flags;
	void (*ctor)(void *);
	long live;
	/*
	 * Freed objects kept for reuse, per CPU like the slab's own free
	 * lists: always for SLAB_TYPESAFE_BY_RCU (their memory must stay
	 * readable), and for every cache in the benchmark build
	 * (HARNESS_SLAB_RECYCLE), where malloc() would cost more than the
	 * slab's fast path. Sanitizer builds free everything else at once.
	 */
	bool recycle;
	struct {
		pthread_mutex_t lock;
		struct hdr *head;
	} cpu[NR_CPUS];
	struct kmem_cache *next;
};

static pthread_mutex_t caches_lock = PTHREAD_MUTEX_INITIALIZER;
static struct kmem_cache *caches;
static long fail_after = -1;
static bool fail_nonblocking;
static long failed_allocs;
static long total_allocs;
static long kmalloc_live, kmalloc_live_bytes;
static long slab_live, slab_live_bytes;
static long percpu_bytes;

void harness_fail_alloc_after(long n)
{
	__atomic_store_n(&fail_after, n, __ATOMIC_SEQ_CST);
}

void harness_fail_nonblocking(bool on)
{
	__atomic_store_n(&fail_nonblocking, on, __ATOMIC_SEQ_CST);
}

long harness_failed_allocs(void)
{
	return __atomic_load_n(&failed_allocs, __ATOMIC_RELAXED);
}

static bool should_fail(gfp_t gfp)
{
	long n;

	__atomic_add_fetch(&total_allocs, 1, __ATOMIC_RELAXED);
	if (gfpflags_allow_blocking(gfp))
		harness_might_sleep(__FILE__, __LINE__);
	if (gfp & __GFP_NOFAIL)
		return false;
	if (!gfpflags_allow_blocking(gfp) &&
	    __atomic_load_n(&fail_nonblocking, __ATOMIC_RELAXED))
		goto fail;
	n = __atomic_load_n(&fail_after, __ATOMIC_RELAXED);
	while (n >= 0) {
		if (__atomic_compare_exchange_n(&fail_after, &n, n - 1, false,
						__ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
			if (n == 0)
				goto fail;
			break;
		}
	}
	return false;
fail:
	__atomic_add_fetch(&failed_allocs, 1, __ATOMIC_RELAXED);
	return true;
}

/* The kernel's kmalloc size classes. */
static size_t kmalloc_charge(size_t size)
{
	static const size_t cls[] = { 8, 16, 32, 64, 96, 128, 192, 256, 512,
				      1024, 2048, 4096, 8192 };

	for (size_t i = 0; i < ARRAY_SIZE(cls); i++)
		if (size <= cls[i])
			return cls[i];
	return roundup_pow_of_two(size);
}

static void *hdr_alloc(size_t size, bool zero)
{
	void *p;

	if (posix_memalign(&p, HDR_SIZE, HDR_SIZE + (size ? size : 1)))
		return NULL;
	if (zero)
		memset((char *)p + HDR_SIZE, 0, size);
	return p;
}

static struct hdr *to_hdr(const void *obj)
{
	return (struct hdr *)((char *)obj - HDR_SIZE);
}

void *kmalloc(size_t size, gfp_t gfp)
{
	struct hdr *h;

	if (should_fail(gfp))
		return NULL;
	h = hdr_alloc(size, gfp & __GFP_ZERO);
	if (!h)
		return NULL;
	h->magic = HDR_MAGIC_KMALLOC;
	h->cache = NULL;
	h->size = size;
	h->charged = kmalloc_charge(size);
	__atomic_add_fetch(&kmalloc_live, 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&kmalloc_live_bytes, h->charged, __ATOMIC_RELAXED);
	return (char *)h + HDR_SIZE;
}

void *kzalloc(size_t size, gfp_t gfp)
{
	return kmalloc(size, gfp | __GFP_ZERO);
}

void *kmalloc_array(size_t n, size_t size, gfp_t gfp)
{
	size_t bytes;

	if (check_mul_overflow(n, size, &bytes))
		return NULL;
	return kmalloc(bytes, gfp);
}

void *kcalloc(size_t n, size_t size, gfp_t gfp)
{
	return kmalloc_array(n, size, gfp | __GFP_ZERO);
}

void kfree(const void *p)
{
	struct hdr *h;

	if (ZERO_OR_NULL_PTR(p))
		return;
	h = to_hdr(p);
	if (h->magic != HDR_MAGIC_KMALLOC)
		harness_bug(__FILE__, __LINE__,
			    h->magic == HDR_MAGIC_FREED ? "kfree: double free" :
			    "kfree of memory not from kmalloc");
	h->magic = HDR_MAGIC_FREED;
	__atomic_sub_fetch(&kmalloc_live, 1, __ATOMIC_RELAXED);
	__atomic_sub_fetch(&kmalloc_live_bytes, h->charged, __ATOMIC_RELAXED);
	free(h);
}

void kfree_sensitive(const void *p)
{
	kfree(p);
}

size_t ksize(const void *p)
{
	return to_hdr(p)->charged;
}

void *krealloc(const void *p, size_t size, gfp_t gfp)
{
	void *n;

	if (!p)
		return kmalloc(size, gfp);
	n = kmalloc(size, gfp);
	if (!n)
		return NULL;
	memcpy(n, p, min(size, to_hdr(p)->size));
	kfree(p);
	return n;
}

struct kmem_cache *kmem_cache_create(const char *name, unsigned int size,
				     unsigned int align, slab_flags_t flags,
				     void (*ctor)(void *))
{
	struct kmem_cache *s;
	unsigned int a = max(align, 8u);

	might_sleep();
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	snprintf(s->name, sizeof(s->name), "%s", name);
	for (int c = 0; c < NR_CPUS; c++)
		pthread_mutex_init(&s->cpu[c].lock, NULL);
#ifdef HARNESS_SLAB_RECYCLE
	s->recycle = true;
#else
	s->recycle = flags & SLAB_TYPESAFE_BY_RCU;
#endif
	s->size = size;
	s->flags = flags;
	s->ctor = ctor;
	/* the slab allocator's alignment rule for SLAB_HWCACHE_ALIGN */
	if (flags & SLAB_HWCACHE_ALIGN) {
		unsigned int ralign = SMP_CACHE_BYTES;

		while (size <= ralign / 2)
			ralign /= 2;
		a = max(a, ralign);
	}
	s->objsize = ALIGN(size, a);
	pthread_mutex_lock(&caches_lock);
	s->next = caches;
	caches = s;
	pthread_mutex_unlock(&caches_lock);
	return s;
}

void kmem_cache_destroy(struct kmem_cache *s)
{
	struct kmem_cache **pp;

	if (!s)
		return;
	might_sleep();
	WARN(__atomic_load_n(&s->live, __ATOMIC_RELAXED),
	     "kmem_cache_destroy %s: %ld objects remaining", s->name, s->live);
	pthread_mutex_lock(&caches_lock);
	for (pp = &caches; *pp; pp = &(*pp)->next) {
		if (*pp == s) {
			*pp = s->next;
			break;
		}
	}
	pthread_mutex_unlock(&caches_lock);
	for (int c = 0; c < NR_CPUS; c++) {
		while (s->cpu[c].head) {
			struct hdr *h = s->cpu[c].head;

			s->cpu[c].head = h->next;
			free(h);
		}
	}
	free(s);
}

void *kmem_cache_alloc(struct kmem_cache *s, gfp_t gfp)
{
	struct hdr *h;
	void *obj;

	if (should_fail(gfp))
		return NULL;
	h = NULL;
	if (s->recycle) {
		unsigned int c = this_cpu;

		pthread_mutex_lock(&s->cpu[c].lock);
		h = s->cpu[c].head;
		if (h)
			s->cpu[c].head = h->next;
		pthread_mutex_unlock(&s->cpu[c].lock);
		if (h && (gfp & __GFP_ZERO))
			memset((char *)h + HDR_SIZE, 0, s->size);
	}
	if (!h)
		h = hdr_alloc(s->size, gfp & __GFP_ZERO);
	if (!h)
		return NULL;
	h->magic = HDR_MAGIC_SLAB;
	h->cache = s;
	h->size = s->size;
	h->charged = s->objsize;
	obj = (char *)h + HDR_SIZE;
	if (s->ctor && !(gfp & __GFP_ZERO))
		s->ctor(obj);
	__atomic_add_fetch(&s->live, 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&slab_live, 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&slab_live_bytes, s->objsize, __ATOMIC_RELAXED);
	return obj;
}

void *kmem_cache_zalloc(struct kmem_cache *s, gfp_t gfp)
{
	return kmem_cache_alloc(s, gfp | __GFP_ZERO);
}

void kmem_cache_free(struct kmem_cache *s, void *p)
{
	struct hdr *h;

	if (!p)
		return;
	h = to_hdr(p);
	if (h->magic != HDR_MAGIC_SLAB)
		harness_bug(__FILE__, __LINE__,
			    h->magic == HDR_MAGIC_FREED || h->magic == HDR_MAGIC_STABLE ?
			    "kmem_cache_free: double free" :
			    "kmem_cache_free of memory not from a cache");
	if (h->cache != s)
		harness_bug(__FILE__, __LINE__, "kmem_cache_free to the wrong cache");
	__atomic_sub_fetch(&s->live, 1, __ATOMIC_RELAXED);
	__atomic_sub_fetch(&slab_live, 1, __ATOMIC_RELAXED);
	__atomic_sub_fetch(&slab_live_bytes, s->objsize, __ATOMIC_RELAXED);
	if (s->recycle) {
		unsigned int c = this_cpu;

		/* contents stay as they were: RCU readers may still look */
		h->magic = HDR_MAGIC_STABLE;
		pthread_mutex_lock(&s->cpu[c].lock);
		h->next = s->cpu[c].head;
		s->cpu[c].head = h;
		pthread_mutex_unlock(&s->cpu[c].lock);
		return;
	}
	h->magic = HDR_MAGIC_FREED;
	free(h);
}

unsigned int kmem_cache_size(struct kmem_cache *s)
{
	return s->size;
}

void harness_mem(struct harness_mem *m)
{
	m->kmalloc_objects = __atomic_load_n(&kmalloc_live, __ATOMIC_RELAXED);
	m->kmalloc_bytes = __atomic_load_n(&kmalloc_live_bytes, __ATOMIC_RELAXED);
	m->slab_objects = __atomic_load_n(&slab_live, __ATOMIC_RELAXED);
	m->slab_bytes = __atomic_load_n(&slab_live_bytes, __ATOMIC_RELAXED);
	m->percpu_bytes = __atomic_load_n(&percpu_bytes, __ATOMIC_RELAXED);
	m->objects = m->kmalloc_objects + m->slab_objects;
	m->bytes = m->kmalloc_bytes + m->slab_bytes;
	m->allocs = __atomic_load_n(&total_allocs, __ATOMIC_RELAXED);
}

long harness_cache_objects(const char *name, long *bytes)
{
	struct kmem_cache *s;
	long n = 0, b = 0;

	pthread_mutex_lock(&caches_lock);
	for (s = caches; s; s = s->next) {
		if (strcmp(s->name, name))
			continue;
		n += __atomic_load_n(&s->live, __ATOMIC_RELAXED);
		b += __atomic_load_n(&s->live, __ATOMIC_RELAXED) * (long)s->objsize;
	}
	pthread_mutex_unlock(&caches_lock);
	if (bytes)
		*bytes = b;
	return n;
}

/* ---- per-CPU areas ------------------------------------------------------------ */

#define PCPU_MAGIC 0x7065726370752121ULL

struct pcpu_hdr {
	unsigned long long magic;
	size_t stride;
};

void *__alloc_percpu_gfp(size_t size, size_t align, gfp_t gfp)
{
	size_t stride = ALIGN(max(size, (size_t)1), max(align, (size_t)SMP_CACHE_BYTES));
	struct pcpu_hdr *h;
	void *p;

	if (should_fail(gfp))
		return NULL;
	if (posix_memalign(&p, SMP_CACHE_BYTES, SMP_CACHE_BYTES + NR_CPUS * stride))
		return NULL;
	memset(p, 0, SMP_CACHE_BYTES + NR_CPUS * stride);
	h = p;
	h->magic = PCPU_MAGIC;
	h->stride = stride;
	__atomic_add_fetch(&percpu_live, 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&percpu_bytes, stride * nr_cpu_ids, __ATOMIC_RELAXED);
	return (char *)p + SMP_CACHE_BYTES;
}

void *__alloc_percpu(size_t size, size_t align)
{
	return __alloc_percpu_gfp(size, align, GFP_KERNEL);
}

void free_percpu(void *p)
{
	struct pcpu_hdr *h;

	if (!p)
		return;
	h = (struct pcpu_hdr *)((char *)p - SMP_CACHE_BYTES);
	if (h->magic != PCPU_MAGIC)
		harness_bug(__FILE__, __LINE__, "free_percpu of a non-percpu pointer");
	h->magic = HDR_MAGIC_FREED;
	__atomic_sub_fetch(&percpu_live, 1, __ATOMIC_RELAXED);
	__atomic_sub_fetch(&percpu_bytes, h->stride * nr_cpu_ids, __ATOMIC_RELAXED);
	free(h);
}

void *harness_per_cpu_ptr(const void *p, unsigned int cpu)
{
	const struct pcpu_hdr *h = (const void *)((const char *)p - SMP_CACHE_BYTES);

	if (h->magic != PCPU_MAGIC)
		harness_bug(__FILE__, __LINE__, "per_cpu_ptr on a non-percpu pointer");
	if (cpu >= nr_cpu_ids)
		harness_bug(__FILE__, __LINE__, "per_cpu_ptr beyond nr_cpu_ids");
	return (char *)p + (size_t)cpu * h->stride;
}

/* ---- CPU hotplug ---------------------------------------------------------- */

#define MAX_IMPLS 4
#define MAX_INSTANCES 256

struct cpuhp_slot {
	bool set;
	harness_cpuhp_fn startup, teardown;
	struct hlist_node *inst[MAX_INSTANCES];
	int nr;
};

static pthread_mutex_t cpuhp_lock = PTHREAD_MUTEX_INITIALIZER;
static struct cpuhp_slot cpuhp[MAX_IMPLS][CPUHP_NR_STATES];

int harness_cpuhp_setup_multi(int impl, enum cpuhp_state state,
			      harness_cpuhp_fn startup, harness_cpuhp_fn teardown)
{
	struct cpuhp_slot *s = &cpuhp[impl][state];
	int ret = 0;

	might_sleep();
	pthread_mutex_lock(&cpuhp_lock);
	if (s->set) {
		ret = -EBUSY;
	} else {
		s->set = true;
		s->startup = startup;
		s->teardown = teardown;
		s->nr = 0;
	}
	pthread_mutex_unlock(&cpuhp_lock);
	return ret;
}

void harness_cpuhp_remove_multi(int impl, enum cpuhp_state state)
{
	struct cpuhp_slot *s = &cpuhp[impl][state];

	might_sleep();
	pthread_mutex_lock(&cpuhp_lock);
	WARN(s->nr, "removing cpuhp state %d which has %d instances left", state, s->nr);
	s->set = false;
	pthread_mutex_unlock(&cpuhp_lock);
}

int harness_cpuhp_add_instance(int impl, enum cpuhp_state state,
			       struct hlist_node *node, bool invoke)
{
	struct cpuhp_slot *s = &cpuhp[impl][state];
	unsigned int cpu;
	int ret = 0;

	might_sleep();
	pthread_mutex_lock(&cpuhp_lock);
	if (!s->set || s->nr == MAX_INSTANCES) {
		ret = s->set ? -ENOSPC : -EINVAL;
		goto out;
	}
	if (invoke && s->startup) {
		for_each_online_cpu(cpu) {
			ret = s->startup(cpu, node);
			if (ret)
				goto out;
		}
	}
	s->inst[s->nr++] = node;
	node->pprev = &node->next;	/* hashed */
out:
	pthread_mutex_unlock(&cpuhp_lock);
	return ret;
}

int harness_cpuhp_remove_instance(int impl, enum cpuhp_state state,
				  struct hlist_node *node, bool invoke)
{
	struct cpuhp_slot *s = &cpuhp[impl][state];
	unsigned int cpu;
	int i;

	might_sleep();
	pthread_mutex_lock(&cpuhp_lock);
	for (i = 0; i < s->nr; i++)
		if (s->inst[i] == node)
			break;
	if (WARN(i == s->nr, "removing an unregistered cpuhp instance")) {
		pthread_mutex_unlock(&cpuhp_lock);
		return -ENOENT;
	}
	if (invoke && s->teardown) {
		for_each_online_cpu(cpu)
			s->teardown(cpu, node);
	}
	s->inst[i] = s->inst[--s->nr];
	node->pprev = NULL;
	pthread_mutex_unlock(&cpuhp_lock);
	return 0;
}

static int cpuhp_run(unsigned int cpu, bool up)
{
	int ret = 0;

	pthread_mutex_lock(&cpuhp_lock);
	for (int impl = 0; impl < MAX_IMPLS; impl++) {
		for (int st = 0; st < CPUHP_NR_STATES; st++) {
			struct cpuhp_slot *s = &cpuhp[impl][st];
			harness_cpuhp_fn fn = up ? s->startup : s->teardown;

			if (!s->set || !fn)
				continue;
			for (int i = 0; i < s->nr; i++) {
				int r = fn(cpu, s->inst[i]);

				if (r && !ret)
					ret = r;
			}
		}
	}
	pthread_mutex_unlock(&cpuhp_lock);
	return ret;
}

int harness_cpu_offline(unsigned int cpu)
{
	if (cpu >= nr_cpu_ids || !cpu_online(cpu) || (int)cpu == this_cpu)
		return -EINVAL;
	WRITE_ONCE(harness_cpu_online_map[cpu], false);
	/* the DEAD callbacks run on a surviving CPU once @cpu is gone */
	return cpuhp_run(cpu, false);
}

int harness_cpu_online(unsigned int cpu)
{
	if (cpu >= nr_cpu_ids || cpu_online(cpu))
		return -EINVAL;
	WRITE_ONCE(harness_cpu_online_map[cpu], true);
	return cpuhp_run(cpu, true);
}

/* ---- work_on_cpu ----------------------------------------------------------- */

struct work_on_cpu_arg {
	int cpu;
	long (*fn)(void *);
	void *arg;
	long ret;
};

static void *work_on_cpu_thread(void *p)
{
	struct work_on_cpu_arg *w = p;

	harness_set_cpu(w->cpu);
	w->ret = w->fn(w->arg);
	return NULL;
}

long harness_work_on_cpu(int cpu, long (*fn)(void *), void *arg)
{
	struct work_on_cpu_arg w = { .cpu = cpu, .fn = fn, .arg = arg };
	pthread_t t;

	might_sleep();
	if (cpu < 0 || (unsigned int)cpu >= nr_cpu_ids || !cpu_online(cpu))
		return -ENODEV;
	if (pthread_create(&t, NULL, work_on_cpu_thread, &w))
		return -ENOMEM;
	pthread_join(t, NULL);
	return w.ret;
}

/* ---- delayed work ------------------------------------------------------------ */

#define WORK_QUEUED	1
#define WORK_RUNNING	2

struct workqueue_struct {
	int unused;
};

static struct workqueue_struct system_wq_storage;
struct workqueue_struct *system_wq = &system_wq_storage;
struct workqueue_struct *system_unbound_wq = &system_wq_storage;

struct work_ext {
	struct work_struct *work;
	unsigned int cpu;
};

static pthread_mutex_t wq_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wq_cond = PTHREAD_COND_INITIALIZER;
static LIST_HEAD(wq_pending);
static unsigned long virt_jiffies = 1000;
static bool wq_threaded, wq_stop;
static pthread_t wq_thread;
static double wq_t0;

unsigned long harness_jiffies(void)
{
	if (__atomic_load_n(&wq_threaded, __ATOMIC_RELAXED))
		return 1000 + (unsigned long)((harness_now_ns() - wq_t0) / 1e6);
	return __atomic_load_n(&virt_jiffies, __ATOMIC_RELAXED);
}

void harness_jiffies_advance(unsigned long ms)
{
	__atomic_add_fetch(&virt_jiffies, ms, __ATOMIC_RELAXED);
}

void harness_init_work(struct work_struct *work, work_func_t func)
{
	work->func = func;
	INIT_LIST_HEAD(&work->entry);
	work->due = 0;
	work->state = 0;
}

bool harness_queue_work(struct work_struct *work, unsigned long delay)
{
	bool queued = false;

	pthread_mutex_lock(&wq_lock);
	if (!(work->state & WORK_QUEUED)) {
		work->state |= WORK_QUEUED;
		work->due = harness_jiffies() + delay;
		list_add_tail(&work->entry, &wq_pending);
		queued = true;
		pthread_cond_broadcast(&wq_cond);
	}
	pthread_mutex_unlock(&wq_lock);
	return queued;
}

/* Called with wq_lock held; runs @work unlocked. */
static void run_one(struct work_struct *work)
{
	list_del_init(&work->entry);
	work->state = (work->state & ~WORK_QUEUED) | WORK_RUNNING;
	pthread_mutex_unlock(&wq_lock);
	work->func(work);
	pthread_mutex_lock(&wq_lock);
	work->state &= ~WORK_RUNNING;
	pthread_cond_broadcast(&wq_cond);
}

bool harness_cancel_work_sync(struct work_struct *work)
{
	bool was_pending = false;

	might_sleep();
	pthread_mutex_lock(&wq_lock);
	if (work->state & WORK_QUEUED) {
		list_del_init(&work->entry);
		work->state &= ~WORK_QUEUED;
		was_pending = true;
	}
	while (work->state & WORK_RUNNING)
		pthread_cond_wait(&wq_cond, &wq_lock);
	/* a running instance may have queued itself again */
	if (work->state & WORK_QUEUED) {
		list_del_init(&work->entry);
		work->state &= ~WORK_QUEUED;
	}
	pthread_mutex_unlock(&wq_lock);
	return was_pending;
}

bool harness_flush_work(struct work_struct *work)
{
	bool ran = false;

	might_sleep();
	pthread_mutex_lock(&wq_lock);
	if ((work->state & WORK_QUEUED) && !wq_threaded) {
		run_one(work);
		ran = true;
	}
	while (work->state & (WORK_RUNNING | (wq_threaded ? WORK_QUEUED : 0)))
		pthread_cond_wait(&wq_cond, &wq_lock);
	pthread_mutex_unlock(&wq_lock);
	return ran;
}

int harness_run_delayed_work(bool all)
{
	int n = 0;
	struct work_struct *w;

	pthread_mutex_lock(&wq_lock);
	for (int guard = 0; guard < 1000000; guard++) {
		bool found = false;

		list_for_each_entry(w, &wq_pending, entry) {
			if (all || time_after_eq(harness_jiffies(), w->due)) {
				found = true;
				break;
			}
		}
		if (!found)
			break;
		run_one(w);
		n++;
	}
	pthread_mutex_unlock(&wq_lock);
	return n;
}

int harness_pending_work(void)
{
	struct work_struct *w;
	int n = 0;

	pthread_mutex_lock(&wq_lock);
	list_for_each_entry(w, &wq_pending, entry)
		n++;
	pthread_mutex_unlock(&wq_lock);
	return n;
}

static void *wq_worker(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&wq_lock);
	while (!wq_stop) {
		struct work_struct *w, *next = NULL;
		unsigned long now = harness_jiffies();

		list_for_each_entry(w, &wq_pending, entry)
			if (!next || time_before(w->due, next->due))
				next = w;
		if (next && time_after_eq(now, next->due)) {
			run_one(next);
			continue;
		}
		if (next) {
			struct timespec ts;
			long ms = (long)(next->due - now);

			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += ms / 1000;
			ts.tv_nsec += (ms % 1000) * 1000000L;
			if (ts.tv_nsec >= 1000000000L) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000L;
			}
			pthread_cond_timedwait(&wq_cond, &wq_lock, &ts);
		} else {
			pthread_cond_wait(&wq_cond, &wq_lock);
		}
	}
	pthread_mutex_unlock(&wq_lock);
	return NULL;
}

void harness_wq_threaded(bool on)
{
	if (on == wq_threaded)
		return;
	if (on) {
		wq_t0 = harness_now_ns() - (virt_jiffies - 1000) * 1e6;
		wq_stop = false;
		__atomic_store_n(&wq_threaded, true, __ATOMIC_SEQ_CST);
		pthread_create(&wq_thread, NULL, wq_worker, NULL);
	} else {
		pthread_mutex_lock(&wq_lock);
		wq_stop = true;
		pthread_cond_broadcast(&wq_cond);
		pthread_mutex_unlock(&wq_lock);
		pthread_join(wq_thread, NULL);
		virt_jiffies = harness_jiffies();
		__atomic_store_n(&wq_threaded, false, __ATOMIC_SEQ_CST);
	}
}

/* ---- strings and module parameters --------------------------------------- */

int kstrtobool(const char *s, bool *res)
{
	if (!s)
		return -EINVAL;
	switch (s[0]) {
	case 'y': case 'Y': case 't': case 'T': case '1':
		*res = true;
		return 0;
	case 'n': case 'N': case 'f': case 'F': case '0':
		*res = false;
		return 0;
	case 'o': case 'O':
		if (s[1] == 'n' || s[1] == 'N') {
			*res = true;
			return 0;
		}
		if (s[1] == 'f' || s[1] == 'F') {
			*res = false;
			return 0;
		}
		break;
	}
	return -EINVAL;
}

static int parse_ull(const char *s, unsigned int base, unsigned long long max,
		     unsigned long long *res)
{
	char *end;
	unsigned long long v;

	if (!s || !*s || *s == '-' || *s == ' ')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, base);
	if (errno == ERANGE || v > max)
		return -ERANGE;
	if (*end == '\n')
		end++;
	if (end == s || *end)
		return -EINVAL;
	*res = v;
	return 0;
}

int kstrtoul(const char *s, unsigned int base, unsigned long *res)
{
	unsigned long long v;
	int ret = parse_ull(s, base, ULONG_MAX, &v);

	if (!ret)
		*res = v;
	return ret;
}

int kstrtouint(const char *s, unsigned int base, unsigned int *res)
{
	unsigned long long v;
	int ret = parse_ull(s, base, UINT_MAX, &v);

	if (!ret)
		*res = v;
	return ret;
}

int kstrtoint(const char *s, unsigned int base, int *res)
{
	unsigned long long v;
	bool neg = s && *s == '-';
	int ret = parse_ull(neg ? s + 1 : s, base, neg ? (unsigned long long)INT_MAX + 1 : INT_MAX, &v);

	if (!ret)
		*res = neg ? -(long long)v : (long long)v;
	return ret;
}

int param_set_bool(const char *val, const struct kernel_param *kp)
{
	if (!val)
		val = "1";
	return kstrtobool(val, kp->arg);
}

int param_get_bool(char *buffer, const struct kernel_param *kp)
{
	return sprintf(buffer, "%c\n", *(bool *)kp->arg ? 'Y' : 'N');
}

int param_set_int(const char *val, const struct kernel_param *kp)
{
	return kstrtoint(val, 0, kp->arg);
}

int param_get_int(char *buffer, const struct kernel_param *kp)
{
	return sprintf(buffer, "%d\n", *(int *)kp->arg);
}

int param_set_uint(const char *val, const struct kernel_param *kp)
{
	return kstrtouint(val, 0, kp->arg);
}

int param_get_uint(char *buffer, const struct kernel_param *kp)
{
	return sprintf(buffer, "%u\n", *(unsigned int *)kp->arg);
}

int param_set_ulong(const char *val, const struct kernel_param *kp)
{
	return kstrtoul(val, 0, kp->arg);
}

int param_get_ulong(char *buffer, const struct kernel_param *kp)
{
	return sprintf(buffer, "%lu\n", *(unsigned long *)kp->arg);
}

const struct kernel_param_ops param_ops_bool = { .set = param_set_bool, .get = param_get_bool };
const struct kernel_param_ops param_ops_int = { .set = param_set_int, .get = param_get_int };
const struct kernel_param_ops param_ops_uint = { .set = param_set_uint, .get = param_get_uint };
const struct kernel_param_ops param_ops_ulong = { .set = param_set_ulong, .get = param_get_ulong };

static struct kernel_param *params;

void harness_register_param(struct kernel_param *kp)
{
	kp->next = params;
	params = kp;
}

static struct kernel_param *find_param(const char *impl, const char *name)
{
	const struct iova_impl *im = iova_impl_by_name(impl);

	if (!im)
		return NULL;
	for (struct kernel_param *kp = params; kp; kp = kp->next)
		if (kp->impl == im->id && !strcmp(kp->name, name))
			return kp;
	return NULL;
}

int harness_param_set(const char *impl, const char *name, const char *val)
{
	struct kernel_param *kp = find_param(impl, name);

	if (!kp)
		return -ENOENT;
	return kp->ops->set(val, kp);
}

int harness_param_get(const char *impl, const char *name, char *buf, size_t len)
{
	struct kernel_param *kp = find_param(impl, name);
	char tmp[4096];
	int n;

	if (!kp || !kp->ops->get)
		return -ENOENT;
	n = kp->ops->get(tmp, kp);
	if (n < 0)
		return n;
	snprintf(buf, len, "%s", tmp);
	return n;
}

/* ---- seq_file ----------------------------------------------------------------- */

int seq_printf(struct seq_file *m, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(m->buf + m->count, m->size - m->count, fmt, ap);
	va_end(ap);
	if (n > 0)
		m->count = min(m->count + n, m->size);
	return 0;
}
