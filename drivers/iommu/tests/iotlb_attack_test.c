// SPDX-License-Identifier: GPL-2.0-only
/*
 * Stale IOTLB DMA attack test: QEMU's "edu" device plays a device that
 * keeps writing to a DMA address after its driver unmapped it.
 *
 * Test-only driver, bound to edu (PCI 1234:11e8) through driver_override and
 * driven through debugfs by tools/testing/selftests/iova/iotlb_attack.sh.
 * Never enable it on a machine that matters: in a lazy (DMA-FQ) domain, and
 * with unmap=noinval in any domain, it lets a device write into freed
 * memory, which is the point.
 *
 * One attack trial (test=attack):
 *
 *   1. allocate the victim memory (see the kinds below), fill it with a
 *      pattern unique to the trial, map it, have edu read it into its
 *      buffer: the IOMMU now caches the translation in its IOTLB and edu
 *      holds the pattern; then overwrite the victim with a second pattern,
 *      so that the trial's pattern can only come back through a write;
 *   2. start an edu transfer from its buffer to the victim's IOVA; edu
 *      performs it 100 ms later on QEMU's virtual clock;
 *   3. LEAD_US before that, unmap the victim the way a driver would, free
 *      it, and at once, on the same CPU, allocate memory of the same kind
 *      and size (the per-CPU free lists hand freed memory back first; for
 *      the high kind, every order up to its own in turn), filling it with
 *      a known pattern: this memory now belongs to somebody else;
 *   4. where the victim's memory is neither among the reallocated memory
 *      nor held by a reference the unmap took, invalidate the domain's
 *      IOTLB at once: whoever owns that memory now is not the test, and
 *      the write must fault rather than land in it (the trial counts for
 *      nothing);
 *   5. wait for the transfer, look for the trial's pattern in the
 *      reallocated memory and, where the victim was not handed out again
 *      but something still holds its pages, in the victim itself.
 *
 * A trial tells which of these happened: the victim's memory was among
 * the reallocated memory (reused), or was still held by somebody when the
 * reallocation was done (held: the safe deferred mode holds a reference to
 * each page until the invalidation has completed); the write landed in the
 * reallocated memory (landed_reused: the attack succeeded) or in the held
 * victim (landed_victim: the translation was still live when the write
 * came, and the held reference is what kept it from somebody else's data).
 * Strict mode invalidates before the unmap returns: the memory is reused
 * and the write faults. Lazy mode lets the write land in the reused
 * memory. The safe deferred mode either holds the pages (the write lands
 * in the held victim, never in reused memory) or, for memory a reference
 * cannot hold back, invalidates at once as strict mode does.
 *
 * The victim kinds (kind=):
 *
 *   page      one order-0 page, dma_map_page();
 *   high      an order-2 allocation that is not compound, all four pages
 *             mapped, the write aimed at the last page (its tail pages
 *             have no reference to hold);
 *   compound  an order-2 compound page (one folio), the write aimed at
 *             its last page;
 *   kmalloc   a 2 KiB kmalloc() object, dma_map_single() (slab memory);
 *   sg        two order-0 pages through dma_map_sg(), the write aimed at
 *             the second;
 *   coherent  one page of dma_alloc_coherent(), freed with
 *             dma_free_coherent() (unmap and free in one call).
 *
 * The positive controls, one per kind, show that the attack path of the
 * kind is live: that the write goes out, through the victim's translation,
 * at the moment the trial aims it at, and that it is seen where it lands.
 *
 *   unmap=noinval (every kind but coherent) replaces the driver's unmap by
 *             one that never invalidates: the test clears the page-table
 *             entries of the mapping itself with iommu_unmap_fast() and a
 *             gather marked queued, never syncs, and frees the memory at
 *             once. The write must land in reused memory in every domain
 *             that translates.
 *   unmap=keep (every kind; the one control of coherent memory, which
 *             cannot be freed behind the DMA API's back) leaves the victim
 *             mapped and owned until the write is done: the write must
 *             land in the victim (hit_victim).
 *
 * One release trial (test=release, kind=page): the test keeps its own
 * reference to the victim page throughout. After edu has read the page,
 * a first write through the IOVA checks that the translation is live and
 * cached; the page is then unmapped, the test waits until nothing but its
 * own reference holds the page any more (the safe deferred mode released
 * it) and RELEASE_MS more (past the batch and flush queue timeouts), and
 * has edu write through the old IOVA again. That write must fault and land
 * nowhere: an implementation that only delays the release, and never
 * invalidates, lets it land in the page.
 *
 * The debugfs file iotlb_attack/run takes KEY=VALUE words (trials=N
 * lead_us=N max_lead_us=N load=N reuse=N release_ms=N kind=K
 * unmap=dma|noinval|keep test=attack|release), runs trials until TRIALS of them
 * counted (under load: were valid; five times as many trials at most) and
 * reads back one line:
 *
 *   test=T kind=K unmap=U trials=N valid=N reused=N held=N
 *   landed_victim=N landed_reused=N hit_victim=N reused_valid=N live=N
 *   flushed=N late=N stray=N timeouts=N load_ops=N delay_us=N lead_us=N
 *   control=ok|FAIL err=N
 *
 * valid: trials whose transfer had not started when the victim was
 * unmapped (the others tested nothing); hit_victim: valid trials whose
 * write landed in the held victim (unmap=keep: in the victim, still
 * mapped); reused_valid: valid trials whose victim memory was
 * reallocated; an attack trial counts where it was one of these two, a
 * release trial where it was valid. flushed: trials whose victim memory
 * was neither reallocated nor held by the unmap's own reference (step 4),
 * whose write therefore had to fault; late: valid flushed trials whose
 * write had come already, before the invalidation (where it landed is
 * unknown); stray: valid flushed trials, not late, whose write was found
 * all the same in the victim's page, held by somebody (the invalidation
 * did not stop it). For test=release, landed_victim counts the
 * writes after the release that landed, and live the trials whose first
 * write did. LOAD kernel threads map and unmap pages of the same device,
 * in the same domain, while the trials run; the trials themselves run at
 * real-time priority. delay_us is how long edu's 100 ms took on the
 * guest's clock, measured on each trial's read; the shortest so far times
 * the writes. A guest whose timers run late (a TCG guest on a busy host)
 * can wake up after edu has already written: each trial that finds the
 * transfer done grows the lead by half, up to MAX_LEAD_US; lead_us is the
 * lead the last trial used. Before the trials a control transfer checks
 * that edu's DMA through the IOMMU works at all.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/debugfs.h>
#include <linux/delay.h>
#include <linux/dma-mapping.h>
#include <linux/gfp.h>
#include <linux/io.h>
#include <linux/io-64-nonatomic-lo-hi.h>
#include <linux/iommu.h>
#include <linux/kthread.h>
#include <linux/ktime.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/math64.h>
#include <linux/pci.h>
#include <linux/scatterlist.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uaccess.h>
#include <linux/vmalloc.h>

#define DRV_NAME		"iotlb_attack"

#define EDU_VENDOR_ID		0x1234
#define EDU_DEVICE_ID		0x11e8

/* edu registers (BAR0) and its DMA engine */
#define EDU_DMA_SRC		0x80
#define EDU_DMA_DST		0x88
#define EDU_DMA_CNT		0x90
#define EDU_DMA_CMD		0x98
#define EDU_CMD_RUN		BIT(0)
#define EDU_CMD_TO_RAM		BIT(1)
/* Address of edu's own buffer as its DMA registers name it. */
#define EDU_BUF_ADDR		0x40000
/* Half the 4 KiB buffer: clear of QEMU's range checks at the buffer end. */
#define EDU_XFER_LEN		2048
/* edu masks DMA addresses to 28 bits. */
#define EDU_DMA_BITS		28
/* edu starts a transfer this long after the command, virtual clock. */
#define EDU_DMA_DELAY_US	100000
#define EDU_DMA_TIMEOUT_MS	2000

#define ATTACK_MAGIC		0x4154544b00000000ULL	/* "ATTK" */
#define VICTIM_MAGIC		0x5649435400000000ULL	/* "VICT" */
#define REUSE_MAGIC		0x5245555345000000ULL	/* "REUSE" */

#define MAX_TRIALS		10000
/*
 * Trials run until TRIALS counted, or ATTEMPTS times as many ran. A TCG
 * guest that shares its host with other busy guests can miss the unmap's
 * moment in more than half of the trials.
 */
#define ATTEMPTS		5
#define MAX_LOAD_THREADS	8
#define MAX_REUSE		1024
#define DEF_LEAD_US		5000
/* Half of edu's delay: the unmap still comes well before the write. */
#define MAX_LEAD_US		(EDU_DMA_DELAY_US / 2)
#define DEF_REUSE		64
#define DEF_RELEASE_MS		50
#define MAX_RELEASE_MS		10000
/* How long a release trial waits for the last foreign reference to go. */
#define RELEASE_WAIT_MS		2000
/* Map/unmap pairs a load thread does between two short sleeps. */
#define LOAD_BURST		256

#define VICTIM_ORDER		2
#define VICTIM_SG_PAGES		2
#define VICTIM_KMALLOC_SIZE	EDU_XFER_LEN

enum victim_kind {
	VICTIM_PAGE,
	VICTIM_HIGH,
	VICTIM_COMPOUND,
	VICTIM_KMALLOC,
	VICTIM_SG,
	VICTIM_COHERENT,
};

static const char * const kind_names[] = {
	[VICTIM_PAGE]		= "page",
	[VICTIM_HIGH]		= "high",
	[VICTIM_COMPOUND]	= "compound",
	[VICTIM_KMALLOC]	= "kmalloc",
	[VICTIM_SG]		= "sg",
	[VICTIM_COHERENT]	= "coherent",
};

static const char * const test_names[] = { "attack", "release" };

enum unmap_mode {
	UNMAP_DMA,
	UNMAP_NOINVAL,
	UNMAP_KEEP,
};

static const char * const unmap_names[] = {
	[UNMAP_DMA]	= "dma",
	[UNMAP_NOINVAL]	= "noinval",
	[UNMAP_KEEP]	= "keep",
};

struct attack_params {
	unsigned int trials;
	unsigned int lead_us;
	unsigned int max_lead_us;
	unsigned int nr_load;
	unsigned int nr_reuse;
	unsigned int release_ms;
	unsigned int kind;
	unsigned int test;	/* index into test_names */
	unsigned int unmap;	/* enum unmap_mode */
};

struct attack_result {
	struct attack_params p;
	unsigned int trials;
	unsigned int valid;
	unsigned int reused;
	unsigned int held;
	unsigned int landed_victim;
	unsigned int landed_reused;
	unsigned int hit_victim;
	unsigned int reused_valid;
	unsigned int live;
	unsigned int flushed;
	unsigned int late;
	unsigned int stray;
	unsigned int timeouts;
	unsigned int lead_us;
	unsigned long load_ops;
	s64 delay_us_sum;
	bool control_ok;
	int err;
};

/* Memory somebody else got after the victim was freed. */
struct reuse_mem {
	void *addr;
	size_t size;
	unsigned int order;
};

/* The memory under attack, as mapped for one trial. */
struct victim {
	unsigned int kind;
	struct page *page;		/* first page of page-backed kinds */
	struct page *sg_page[VICTIM_SG_PAGES];
	struct scatterlist sgl[VICTIM_SG_PAGES];
	int sg_mapped;
	void *cpu;			/* kmalloc and coherent kinds */
	size_t size;
	dma_addr_t dma;			/* handle to unmap */
	dma_addr_t target;		/* IOVA edu writes to */
	void *target_cpu;		/* kernel address behind @target */
	struct page *target_page;	/* page behind @target */
	void *target_lin;		/* @target_cpu in the linear map */
	/* Can its pages be held by a reference and looked at in place? */
	bool checkable;
	/* unmap=noinval: the page-table entries were cleared, never flushed. */
	bool noinval;
	dma_addr_t noinval_iova;	/* first page of what was cleared */
	size_t noinval_size;
	struct iommu_iotlb_gather gather;
};

struct attack_dev {
	struct pci_dev *pdev;
	void __iomem *regs;
	struct dentry *dir;
	struct mutex lock;		/* one run at a time; @last */
	struct attack_result last;
	bool ran;
	u32 seq;
	atomic_long_t load_ops;
};

static inline u64 attack_word(u32 seq, unsigned int i)
{
	return ATTACK_MAGIC ^ ((u64)seq << 12) ^ i;
}

static void fill_words(void *addr, size_t len, u64 magic)
{
	u64 *p = addr;
	size_t i;

	for (i = 0; i < len / sizeof(u64); i++)
		p[i] = magic ^ i;
}

static void fill_attack(void *addr, u32 seq)
{
	fill_words(addr, EDU_XFER_LEN, attack_word(seq, 0));
}

/* Does [@addr, @addr + @len) hold any word of trial @seq's pattern? */
static bool holds_attack(const void *addr, size_t len, u32 seq)
{
	const u64 *p = addr;
	u64 base = attack_word(seq, 0);
	size_t i;

	for (i = 0; i < len / sizeof(u64); i++)
		if ((READ_ONCE(p[i]) ^ base) < EDU_XFER_LEN / sizeof(u64))
			return true;
	return false;
}

static void edu_start(struct attack_dev *ad, u64 src, u64 dst, bool to_ram)
{
	writeq(src, ad->regs + EDU_DMA_SRC);
	writeq(dst, ad->regs + EDU_DMA_DST);
	writeq(EDU_XFER_LEN, ad->regs + EDU_DMA_CNT);
	writeq(EDU_CMD_RUN | (to_ram ? EDU_CMD_TO_RAM : 0),
	       ad->regs + EDU_DMA_CMD);
}

static bool edu_busy(struct attack_dev *ad)
{
	return readq(ad->regs + EDU_DMA_CMD) & EDU_CMD_RUN;
}

/*
 * Wait for the transfer in flight, polling every 50-100 us; false if edu
 * never finished it. @done (may be NULL) gets the time it was seen done.
 */
static bool edu_wait(struct attack_dev *ad, ktime_t *done)
{
	unsigned long end = jiffies + msecs_to_jiffies(EDU_DMA_TIMEOUT_MS);

	while (edu_busy(ad)) {
		if (time_after(jiffies, end))
			return false;
		usleep_range(50, 100);
	}
	if (done)
		*done = ktime_get();
	return true;
}

/* One transfer, waited for: false on a timeout. */
static bool edu_xfer(struct attack_dev *ad, u64 src, u64 dst, bool to_ram)
{
	edu_start(ad, src, dst, to_ram);
	return edu_wait(ad, NULL);
}

/*
 * The control: page A to edu's buffer, buffer to page B, through the
 * IOMMU. Proves that edu's DMA reaches memory through translations at all.
 */
static bool attack_control(struct attack_dev *ad)
{
	struct device *dev = &ad->pdev->dev;
	struct page *a, *b;
	dma_addr_t da, db;
	bool ok = false;

	a = alloc_page(GFP_KERNEL);
	b = alloc_page(GFP_KERNEL);
	if (!a || !b)
		goto out_free;
	fill_attack(page_address(a), ++ad->seq);
	memset(page_address(b), 0, PAGE_SIZE);
	da = dma_map_page(dev, a, 0, PAGE_SIZE, DMA_TO_DEVICE);
	if (dma_mapping_error(dev, da))
		goto out_free;
	db = dma_map_page(dev, b, 0, PAGE_SIZE, DMA_FROM_DEVICE);
	if (dma_mapping_error(dev, db))
		goto out_unmap_a;
	if (edu_xfer(ad, da, EDU_BUF_ADDR, false))
		ok = edu_xfer(ad, EDU_BUF_ADDR, db, true);
	dma_unmap_page(dev, db, PAGE_SIZE, DMA_FROM_DEVICE);
	ok = ok && holds_attack(page_address(b), EDU_XFER_LEN, ad->seq) &&
	     !memcmp(page_address(a), page_address(b), EDU_XFER_LEN);
out_unmap_a:
	dma_unmap_page(dev, da, PAGE_SIZE, DMA_TO_DEVICE);
out_free:
	if (a)
		__free_page(a);
	if (b)
		__free_page(b);
	return ok;
}

/* Map/unmap load on the device under attack, until stopped. */
static int attack_load_fn(void *data)
{
	struct attack_dev *ad = data;
	struct device *dev = &ad->pdev->dev;
	struct page *page;
	unsigned long n = 0;
	dma_addr_t dma;

	page = alloc_page(GFP_KERNEL);
	if (!page)
		return -ENOMEM;
	while (!kthread_should_stop()) {
		dma = dma_map_page(dev, page, 0, PAGE_SIZE, DMA_TO_DEVICE);
		if (!dma_mapping_error(dev, dma)) {
			dma_unmap_page(dev, dma, PAGE_SIZE, DMA_TO_DEVICE);
			atomic_long_inc(&ad->load_ops);
		}
		/*
		 * Bursts with pauses: a guest whose vCPUs never idle gets its
		 * timers, and QEMU its own, late by more than the window.
		 */
		if (!(++n % LOAD_BURST))
			usleep_range(500, 1000);
		else
			cond_resched();
	}
	__free_page(page);
	return 0;
}

static void victim_free_pages(struct victim *v)
{
	unsigned int i;

	switch (v->kind) {
	case VICTIM_PAGE:
		__free_page(v->page);
		break;
	case VICTIM_HIGH:
	case VICTIM_COMPOUND:
		__free_pages(v->page, VICTIM_ORDER);
		break;
	case VICTIM_KMALLOC:
		kfree(v->cpu);
		break;
	case VICTIM_SG:
		for (i = 0; i < VICTIM_SG_PAGES; i++)
			__free_page(v->sg_page[i]);
		break;
	case VICTIM_COHERENT:
		/* dma_free_coherent() in victim_unmap() freed it. */
		break;
	}
}

/* Allocate the victim memory of @v->kind, unmapped. */
static int victim_alloc(struct attack_dev *ad, struct victim *v)
{
	struct device *dev = &ad->pdev->dev;
	unsigned int i;

	switch (v->kind) {
	case VICTIM_PAGE:
		v->page = alloc_page(GFP_KERNEL);
		v->size = PAGE_SIZE;
		v->target_page = v->page;
		break;
	case VICTIM_HIGH:
	case VICTIM_COMPOUND:
		v->page = alloc_pages(GFP_KERNEL | (v->kind == VICTIM_COMPOUND ?
						    __GFP_COMP : 0),
				      VICTIM_ORDER);
		v->size = PAGE_SIZE << VICTIM_ORDER;
		if (v->page)
			v->target_page = v->page + (1 << VICTIM_ORDER) - 1;
		break;
	case VICTIM_KMALLOC:
		v->cpu = kmalloc(VICTIM_KMALLOC_SIZE, GFP_KERNEL);
		v->size = VICTIM_KMALLOC_SIZE;
		if (v->cpu) {
			v->target_cpu = v->cpu;
			v->target_page = virt_to_page(v->cpu);
		}
		return v->cpu ? 0 : -ENOMEM;
	case VICTIM_SG:
		sg_init_table(v->sgl, VICTIM_SG_PAGES);
		for (i = 0; i < VICTIM_SG_PAGES; i++) {
			v->sg_page[i] = alloc_page(GFP_KERNEL);
			if (!v->sg_page[i]) {
				while (i--)
					__free_page(v->sg_page[i]);
				return -ENOMEM;
			}
			sg_set_page(&v->sgl[i], v->sg_page[i], PAGE_SIZE, 0);
		}
		v->page = v->sg_page[0];
		v->size = PAGE_SIZE * VICTIM_SG_PAGES;
		v->target_page = v->sg_page[VICTIM_SG_PAGES - 1];
		break;
	case VICTIM_COHERENT:
		v->cpu = dma_alloc_coherent(dev, PAGE_SIZE, &v->dma, GFP_KERNEL);
		if (!v->cpu)
			return -ENOMEM;
		v->size = PAGE_SIZE;
		v->target = v->dma;
		v->target_cpu = v->cpu;
		v->target_page = is_vmalloc_addr(v->cpu) ?
				 vmalloc_to_page(v->cpu) : virt_to_page(v->cpu);
		return 0;
	}
	if (!v->page)
		return -ENOMEM;
	v->target_cpu = page_address(v->target_page);
	v->checkable = true;
	return 0;
}

/* Map @v (coherent memory came mapped); sets @v->dma and @v->target. */
static int victim_map(struct attack_dev *ad, struct victim *v)
{
	struct device *dev = &ad->pdev->dev;
	struct scatterlist *sg, *last = NULL;
	int i;

	switch (v->kind) {
	case VICTIM_PAGE:
	case VICTIM_HIGH:
	case VICTIM_COMPOUND:
		v->dma = dma_map_page(dev, v->page, 0, v->size,
				      DMA_BIDIRECTIONAL);
		if (dma_mapping_error(dev, v->dma))
			return -ENOMEM;
		v->target = v->dma + v->size - PAGE_SIZE;
		return 0;
	case VICTIM_KMALLOC:
		v->dma = dma_map_single(dev, v->cpu, v->size,
					DMA_BIDIRECTIONAL);
		if (dma_mapping_error(dev, v->dma))
			return -ENOMEM;
		v->target = v->dma;
		return 0;
	case VICTIM_SG:
		v->sg_mapped = dma_map_sg(dev, v->sgl, VICTIM_SG_PAGES,
					  DMA_BIDIRECTIONAL);
		if (!v->sg_mapped)
			return -ENOMEM;
		for_each_sg(v->sgl, sg, v->sg_mapped, i)
			last = sg;
		/* Pages are whole: the last page ends the last segment. */
		v->target = sg_dma_address(last) + sg_dma_len(last) - PAGE_SIZE;
		v->dma = sg_dma_address(v->sgl);
		return 0;
	case VICTIM_COHERENT:
		return 0;
	}
	return -EINVAL;
}

/* Unmap @v as its owner would (coherent memory: free it as well). */
static void victim_dma_unmap(struct attack_dev *ad, struct victim *v,
			     unsigned long attrs)
{
	struct device *dev = &ad->pdev->dev;

	switch (v->kind) {
	case VICTIM_PAGE:
	case VICTIM_HIGH:
	case VICTIM_COMPOUND:
		dma_unmap_page_attrs(dev, v->dma, v->size, DMA_BIDIRECTIONAL,
				     attrs);
		break;
	case VICTIM_KMALLOC:
		dma_unmap_single_attrs(dev, v->dma, v->size, DMA_BIDIRECTIONAL,
				       attrs);
		break;
	case VICTIM_SG:
		dma_unmap_sg_attrs(dev, v->sgl, VICTIM_SG_PAGES,
				   DMA_BIDIRECTIONAL, attrs);
		break;
	case VICTIM_COHERENT:
		dma_free_coherent(dev, v->size, v->cpu, v->dma);
		break;
	}
}

/*
 * The IOVA pages a streaming mapping of @v took: *@iova and the size.
 * dma-iommu maps a scatterlist into one run of IOVA, from the first
 * segment to the end of the last one.
 */
static size_t victim_iova_range(const struct victim *v, dma_addr_t *iova)
{
	*iova = ALIGN_DOWN(v->dma, PAGE_SIZE);
	switch (v->kind) {
	case VICTIM_KMALLOC:
		return PAGE_ALIGN((v->dma - *iova) + v->size);
	case VICTIM_SG:
		return v->target + PAGE_SIZE - *iova;
	default:
		return v->size;
	}
}

/*
 * Unmap @v as its owner would; with @noinval (every kind but coherent)
 * clear its page-table entries behind the DMA API's back and invalidate
 * nothing.
 */
static void victim_unmap(struct attack_dev *ad, struct victim *v,
			 bool noinval)
{
	struct iommu_domain *domain;
	dma_addr_t iova;
	size_t size;

	if (noinval && v->kind != VICTIM_COHERENT) {
		domain = iommu_get_domain_for_dev(&ad->pdev->dev);
		size = victim_iova_range(v, &iova);
		iommu_iotlb_gather_init(&v->gather);
		/* "A full flush follows": it never does. */
		v->gather.queued = true;
		if (domain &&
		    iommu_unmap_fast(domain, iova, size, &v->gather) == size) {
			v->noinval = true;
			v->noinval_iova = iova;
			v->noinval_size = size;
			return;
		}
	}
	victim_dma_unmap(ad, v, 0);
}

/*
 * After an unmap=noinval trial: give the DMA layer back IOVA whose
 * page-table entries it still believes in (every page mapped to @scratch,
 * so that its unmap finds what it expects), and have it unmapped, and
 * invalidated, the ordinary way. The memory behind it is long freed: no
 * CPU sync may touch it.
 */
static void victim_noinval_done(struct attack_dev *ad, struct victim *v,
				struct page *scratch)
{
	struct device *dev = &ad->pdev->dev;
	struct iommu_domain *domain = iommu_get_domain_for_dev(dev);
	size_t off;

	if (!v->noinval)
		return;
	for (off = 0; off < v->noinval_size; off += PAGE_SIZE)
		if (iommu_map(domain, v->noinval_iova + off,
			      page_to_phys(scratch), PAGE_SIZE,
			      IOMMU_READ | IOMMU_WRITE, GFP_KERNEL))
			break;
	if (off == v->noinval_size) {
		victim_dma_unmap(ad, v, DMA_ATTR_SKIP_CPU_SYNC);
	} else {
		if (off)
			iommu_unmap(domain, v->noinval_iova, off);
		dev_warn(dev, "IOVA %pad lost after an unmap=noinval trial\n",
			 &v->noinval_iova);
	}
	iommu_iotlb_sync(domain, &v->gather);
	v->noinval = false;
}

/* Allocate, fill and map the victim; on failure nothing is left over. */
static int victim_get(struct attack_dev *ad, struct victim *v,
		      unsigned int kind, u32 seq)
{
	int ret;

	memset(v, 0, sizeof(*v));
	v->kind = kind;
	ret = victim_alloc(ad, v);
	if (ret)
		return ret;
	v->target_lin = page_address(v->target_page) +
			offset_in_page(v->target_cpu);
	fill_attack(v->target_cpu, seq);
	ret = victim_map(ad, v);
	if (ret) {
		victim_free_pages(v);
		return ret;
	}
	return 0;
}

/*
 * What somebody else allocates next, in memory of @kind, as the @i-th
 * allocation after the free. A high-order allocation that is not compound
 * can come back in pieces (its head page held, its tail pages freed at
 * once): ask for every order up to its own in turn.
 */
static bool reuse_alloc(unsigned int kind, unsigned int i, struct reuse_mem *r)
{
	const gfp_t gfp = GFP_ATOMIC | __GFP_NOWARN;
	struct page *page;

	switch (kind) {
	case VICTIM_KMALLOC:
		r->order = 0;
		r->size = VICTIM_KMALLOC_SIZE;
		r->addr = kmalloc(VICTIM_KMALLOC_SIZE, gfp);
		return r->addr;
	case VICTIM_HIGH:
		r->order = VICTIM_ORDER - i % (VICTIM_ORDER + 1);
		page = alloc_pages(gfp, r->order);
		break;
	case VICTIM_COMPOUND:
		r->order = VICTIM_ORDER;
		page = alloc_pages(gfp | __GFP_COMP, r->order);
		break;
	default:
		r->order = 0;
		page = alloc_page(gfp);
		break;
	}
	r->size = PAGE_SIZE << r->order;
	r->addr = page ? page_address(page) : NULL;
	return r->addr;
}

static void reuse_free(unsigned int kind, struct reuse_mem *r)
{
	if (kind == VICTIM_KMALLOC)
		kfree(r->addr);
	else
		free_pages((unsigned long)r->addr, r->order);
}

/*
 * Did the write land in the victim, which nobody reallocated? Only
 * page-backed victims are looked at, and only while something (the
 * deferred unmap's reference) still holds the page: never freed memory.
 */
static bool victim_landed(struct victim *v, u32 seq)
{
	struct folio *folio = page_folio(v->target_page);
	bool landed;

	if (!folio_try_get(folio))
		return false;
	/* Split or freed and reused in between: not the folio we hold. */
	if (page_folio(v->target_page) != folio) {
		folio_put(folio);
		return false;
	}
	landed = holds_attack(v->target_cpu, EDU_XFER_LEN, seq);
	folio_put(folio);
	return landed;
}

/* Sleep until @lead_us before edu's transfer started at @start fires. */
static void sleep_until_lead(ktime_t start, s64 delay_us,
			     unsigned int lead_us)
{
	s64 left_us;

	/*
	 * msleep() rounds up to whole jiffies (4 ms at HZ=250): sleep the
	 * bulk with it, the last stretch on an hrtimer.
	 */
	left_us = delay_us - lead_us - ktime_us_delta(ktime_get(), start);
	if (left_us > 20000)
		msleep((left_us - 20000) / USEC_PER_MSEC);
	left_us = delay_us - lead_us - ktime_us_delta(ktime_get(), start);
	if (left_us > 0)
		usleep_range(left_us, left_us + 50);
}

/*
 * One attack trial, as in the comment at the top of the file. Returns 0
 * or a negative errno; counts into @res, grows @res->lead_us after a trial
 * that woke up too late.
 */
static int attack_trial(struct attack_dev *ad, struct attack_result *res,
			struct reuse_mem *reuse, struct page *scratch,
			s64 *min_delay_us)
{
	const struct attack_params *p = &res->p;
	unsigned int lead_us = res->lead_us;
	struct device *dev = &ad->pdev->dev;
	struct iommu_domain *domain = iommu_get_domain_for_dev(dev);
	bool valid, reused = false, held = false, unmap_held = false;
	bool landed_reused = false, landed_victim = false;
	bool flushed = false, late = false;
	struct page *decoy;
	int refs = 0;
	unsigned int i, got;
	ktime_t start, done;
	struct victim v;
	s64 delay_us;
	u32 seq = ++ad->seq;
	int ret;

	if (!domain)
		return -ENODEV;
	ret = victim_get(ad, &v, p->kind, seq);
	if (ret)
		return ret;

	/*
	 * The device uses the mapping: the IOTLB caches it, edu keeps data.
	 * Time it: the guest's clock and QEMU's virtual clock need not agree
	 * on how long edu's 100 ms are.
	 */
	start = ktime_get();
	edu_start(ad, v.target, EDU_BUF_ADDR, false);
	if (!edu_wait(ad, &done)) {
		victim_unmap(ad, &v, false);
		victim_free_pages(&v);
		res->timeouts++;
		return -ETIMEDOUT;
	}
	/* From now on the trial's pattern can only come from edu. */
	fill_words(v.target_cpu, EDU_XFER_LEN, VICTIM_MAGIC);
	/*
	 * edu never fires early, but often late (QEMU's main loop runs
	 * behind under load): aim at the earliest it has fired yet.
	 */
	delay_us = ktime_us_delta(done, start);
	res->delay_us_sum += delay_us;
	*min_delay_us = min(*min_delay_us, delay_us);

	/* The write to the old IOVA, 100 ms from now. */
	start = ktime_get();
	edu_start(ad, EDU_BUF_ADDR, v.target, true);
	sleep_until_lead(start, *min_delay_us, lead_us);

	valid = edu_busy(ad);
	if (p->unmap == UNMAP_KEEP) {
		/*
		 * The live control: the victim stays mapped and owned, the
		 * write must land in it.
		 */
		if (!edu_wait(ad, NULL)) {
			res->timeouts++;
			ret = -ETIMEDOUT;
		}
		landed_victim = holds_attack(v.target_cpu, EDU_XFER_LEN, seq);
		victim_unmap(ad, &v, false);
		/* A write still to come must fault, not land in freed memory. */
		if (ret)
			iommu_flush_iotlb_all(domain);
		victim_free_pages(&v);
		goto count;
	}

	/*
	 * The driver is done with the buffer: unmap, free. A reference that
	 * the unmap took on the page the write aims at is the safe deferred
	 * mode's: nobody else can have the page while it lasts.
	 */
	if (v.checkable)
		refs = folio_ref_count(page_folio(v.target_page));
	victim_unmap(ad, &v, p->unmap == UNMAP_NOINVAL);
	unmap_held = v.checkable &&
		     folio_ref_count(page_folio(v.target_page)) > refs;

	/*
	 * Somebody else gets memory: on this CPU, with no chance for anyone
	 * in between, so that memory freed straight to the per-CPU lists is
	 * the first handed out again. The order-0 free just before the
	 * victim's keeps a high-order victim on those lists: freed right
	 * after a burst of high-order frees (the last trial's reallocated
	 * memory), it would go on to the buddy lists, where the next
	 * allocation of its order rarely finds it. The reallocated memory is
	 * filled at once: a write that came before it (through the mapping,
	 * just before the unmap) must not count as landed there.
	 */
	preempt_disable();
	decoy = alloc_page(GFP_ATOMIC | __GFP_NOWARN);
	if (decoy)
		__free_page(decoy);
	victim_free_pages(&v);
	for (i = 0; i < p->nr_reuse; i++) {
		if (!reuse_alloc(p->kind, i, &reuse[i]))
			break;
		fill_words(reuse[i].addr, reuse[i].size, REUSE_MAGIC);
		if (v.target_lin >= reuse[i].addr &&
		    v.target_lin < reuse[i].addr + reuse[i].size)
			reused = true;
	}
	got = i;
	/* Not handed out again, yet not free: somebody holds it. */
	if (!reused && v.checkable)
		held = folio_ref_count(page_folio(v.target_page)) > 0;
	preempt_enable();

	/*
	 * The write must never land in memory that belongs to somebody the
	 * trial does not know. Where the victim's memory is neither among
	 * the reallocated memory nor held by the unmap's own reference,
	 * whoever gets it next, or got it already, would take the write:
	 * invalidate the domain's IOTLB entries now, so that the write
	 * faults. Such a trial counts for nothing. A valid trial whose write
	 * came already (between the unmap and now) is late: where it landed
	 * is unknown.
	 */
	if (!reused && !(held && unmap_held)) {
		flushed = true;
		late = valid && !edu_busy(ad);
		iommu_flush_iotlb_all(domain);
	}

	if (!edu_wait(ad, NULL)) {
		/* The write may still come: let it fault, never land. */
		iommu_flush_iotlb_all(domain);
		res->timeouts++;
		ret = -ETIMEDOUT;
	}

	if (held)
		landed_victim = victim_landed(&v, seq);
	/* Landed all the same: in memory that may not be the test's own. */
	if (valid && flushed && !late && landed_victim) {
		res->stray++;
		dev_warn(dev, "trial %u (%s): write to IOVA %pad landed although invalidated before it\n",
			 seq, kind_names[p->kind], &v.target);
	}
	for (i = 0; i < got; i++) {
		if (holds_attack(reuse[i].addr, reuse[i].size, seq))
			landed_reused = true;
		reuse_free(p->kind, &reuse[i]);
	}
	victim_noinval_done(ad, &v, scratch);

count:
	res->trials++;
	if (valid)
		res->valid++;
	else
		res->lead_us = min(lead_us + lead_us / 2 + 1, p->max_lead_us);
	res->reused += reused;
	res->held += held;
	res->landed_victim += landed_victim;
	res->hit_victim += valid && landed_victim && !flushed;
	res->reused_valid += valid && reused;
	res->flushed += flushed;
	res->late += late;
	if (landed_reused) {
		res->landed_reused++;
		dev_info(dev, "trial %u (%s): stale IOTLB write to IOVA %pad landed in reused memory\n",
			 seq, kind_names[p->kind], &v.target);
	}
	return ret;
}

/*
 * One release trial, as in the comment at the top of the file: the write
 * through the old IOVA after the release must land nowhere.
 */
static int release_trial(struct attack_dev *ad, struct attack_result *res,
			 struct page *scratch)
{
	const struct attack_params *p = &res->p;
	struct device *dev = &ad->pdev->dev;
	unsigned long end;
	bool live, landed;
	struct victim v;
	u32 seq = ++ad->seq;
	int ret;

	ret = victim_get(ad, &v, VICTIM_PAGE, seq);
	if (ret)
		return ret;
	if (!edu_xfer(ad, v.target, EDU_BUF_ADDR, false))
		goto timeout;
	/* The translation works and is cached: a write goes through. */
	fill_words(v.target_cpu, EDU_XFER_LEN, VICTIM_MAGIC);
	if (!edu_xfer(ad, EDU_BUF_ADDR, v.target, true))
		goto timeout;
	live = holds_attack(v.target_cpu, EDU_XFER_LEN, seq);
	fill_words(v.target_cpu, EDU_XFER_LEN, VICTIM_MAGIC);

	/* Unmapped, and released: the page is the test's own again. */
	victim_unmap(ad, &v, p->unmap == UNMAP_NOINVAL);
	end = jiffies + msecs_to_jiffies(RELEASE_WAIT_MS);
	while (page_ref_count(v.page) > 1 && time_before(jiffies, end))
		usleep_range(500, 1000);
	if (page_ref_count(v.page) > 1)
		res->timeouts++;
	msleep(p->release_ms);

	/* Nothing has mapped the IOVA again: nothing may reach the page. */
	if (!edu_xfer(ad, EDU_BUF_ADDR, v.target, true))
		res->timeouts++;
	landed = holds_attack(v.target_cpu, EDU_XFER_LEN, seq);
	__free_page(v.page);
	victim_noinval_done(ad, &v, scratch);

	res->trials++;
	res->valid++;
	res->live += live;
	if (landed) {
		res->landed_victim++;
		dev_info(dev, "trial %u: write to IOVA %pad after its release landed\n",
			 seq, &v.target);
	}
	return 0;

timeout:
	victim_unmap(ad, &v, false);
	victim_free_pages(&v);
	res->timeouts++;
	return -ETIMEDOUT;
}

/*
 * Trials that tested something: a release trial whose unmap came before
 * the write; an attack trial whose unmap came before the write and whose
 * victim memory was reallocated or held (the others say nothing about
 * where a stale write goes). Under load the load's own invalidations
 * often drop the stale entry before the write: there a valid trial is
 * enough, or most runs would spend five times the trials to no purpose.
 */
static unsigned int run_counted(const struct attack_result *res)
{
	if (res->p.test || res->p.nr_load)
		return res->valid;
	return res->reused_valid + res->hit_victim;
}

static void attack_run(struct attack_dev *ad, const struct attack_params *p,
		       struct attack_result *res)
{
	struct task_struct *load[MAX_LOAD_THREADS] = { };
	s64 min_delay_us = S64_MAX;
	struct reuse_mem *reuse;
	struct page *scratch;
	unsigned int i;
	int nice, err = 0;

	memset(res, 0, sizeof(*res));
	res->p = *p;
	res->lead_us = min(p->lead_us, p->max_lead_us);
	reuse = kcalloc(p->nr_reuse, sizeof(*reuse), GFP_KERNEL);
	scratch = alloc_page(GFP_KERNEL);
	if (!reuse || !scratch) {
		res->err = -ENOMEM;
		goto out;
	}

	res->control_ok = attack_control(ad);
	if (!res->control_ok) {
		res->err = -EIO;
		goto out;
	}

	atomic_long_set(&ad->load_ops, 0);
	for (i = 0; i < p->nr_load; i++) {
		load[i] = kthread_run(attack_load_fn, ad, DRV_NAME "/%u", i);
		if (IS_ERR(load[i])) {
			err = PTR_ERR(load[i]);
			load[i] = NULL;
			break;
		}
	}

	/*
	 * The unmap must come within a few milliseconds of the transfer: do
	 * not let the load threads (or anything else of normal priority) make
	 * this thread late.
	 */
	nice = task_nice(current);
	sched_set_fifo_low(current);
	for (i = 0; !err && run_counted(res) < p->trials &&
	     i < ATTEMPTS * p->trials; i++) {
		if (p->test)
			err = release_trial(ad, res, scratch);
		else
			err = attack_trial(ad, res, reuse, scratch,
					   &min_delay_us);
		if (fatal_signal_pending(current))
			err = -EINTR;
	}
	sched_set_normal(current, nice);

	for (i = 0; i < p->nr_load; i++)
		if (load[i])
			kthread_stop(load[i]);
	res->load_ops = atomic_long_read(&ad->load_ops);
	res->err = err;
out:
	if (scratch)
		__free_page(scratch);
	kfree(reuse);
}

/* KEY=VALUE words into @p; -EINVAL on anything unknown or out of range. */
static int parse_params(char *buf, struct attack_params *p)
{
	static const struct {
		const char *name;
		size_t off;
		unsigned int max;
	} nums[] = {
		{ "trials", offsetof(struct attack_params, trials), MAX_TRIALS },
		{ "lead_us", offsetof(struct attack_params, lead_us), MAX_LEAD_US },
		{ "max_lead_us", offsetof(struct attack_params, max_lead_us), MAX_LEAD_US },
		{ "load", offsetof(struct attack_params, nr_load), MAX_LOAD_THREADS },
		{ "reuse", offsetof(struct attack_params, nr_reuse), MAX_REUSE },
		{ "release_ms", offsetof(struct attack_params, release_ms), MAX_RELEASE_MS },
	};
	char *word, *val;
	unsigned int i;
	int ret;

	while ((word = strsep(&buf, " \t\n"))) {
		if (!*word)
			continue;
		val = strchr(word, '=');
		if (!val)
			return -EINVAL;
		*val++ = '\0';
		if (!strcmp(word, "kind")) {
			ret = match_string(kind_names, ARRAY_SIZE(kind_names), val);
			p->kind = ret;
		} else if (!strcmp(word, "test")) {
			ret = match_string(test_names, ARRAY_SIZE(test_names), val);
			p->test = ret;
		} else if (!strcmp(word, "unmap")) {
			ret = match_string(unmap_names, ARRAY_SIZE(unmap_names), val);
			p->unmap = ret;
		} else {
			ret = -EINVAL;
			for (i = 0; i < ARRAY_SIZE(nums); i++) {
				unsigned int *u = (void *)p + nums[i].off;

				if (strcmp(word, nums[i].name))
					continue;
				ret = kstrtouint(val, 0, u);
				if (!ret && *u > nums[i].max)
					ret = -EINVAL;
				break;
			}
		}
		if (ret < 0)
			return -EINVAL;
	}
	if (!p->trials || !p->nr_reuse)
		return -EINVAL;
	/*
	 * The release test knows order-0 pages; coherent memory cannot be
	 * freed behind the DMA API's back; unmap=keep is an attack control.
	 */
	if (p->test && (p->kind != VICTIM_PAGE || p->unmap == UNMAP_KEEP))
		return -EINVAL;
	if (p->unmap == UNMAP_NOINVAL && p->kind == VICTIM_COHERENT)
		return -EINVAL;
	if (p->test)
		p->nr_load = 0;
	return 0;
}

static ssize_t run_write(struct file *file, const char __user *ubuf,
			 size_t len, loff_t *ppos)
{
	struct attack_dev *ad = file->private_data;
	struct attack_params p = {
		.lead_us = DEF_LEAD_US,
		.max_lead_us = MAX_LEAD_US,
		.nr_reuse = DEF_REUSE,
		.release_ms = DEF_RELEASE_MS,
	};
	struct attack_result res;
	char buf[192];

	if (len >= sizeof(buf))
		return -EINVAL;
	if (copy_from_user(buf, ubuf, len))
		return -EFAULT;
	buf[len] = '\0';
	if (parse_params(buf, &p))
		return -EINVAL;

	if (mutex_lock_interruptible(&ad->lock))
		return -EINTR;
	attack_run(ad, &p, &res);
	ad->last = res;
	ad->ran = true;
	mutex_unlock(&ad->lock);
	return res.err ? res.err : len;
}

static ssize_t run_read(struct file *file, char __user *ubuf, size_t len,
			loff_t *ppos)
{
	struct attack_dev *ad = file->private_data;
	struct attack_result res;
	char buf[416];
	int n;

	mutex_lock(&ad->lock);
	res = ad->last;
	n = ad->ran;
	mutex_unlock(&ad->lock);
	if (!n)
		return simple_read_from_buffer(ubuf, len, ppos, "none\n", 5);
	n = scnprintf(buf, sizeof(buf),
		      "test=%s kind=%s unmap=%s trials=%u valid=%u reused=%u held=%u landed_victim=%u landed_reused=%u hit_victim=%u reused_valid=%u live=%u flushed=%u late=%u stray=%u timeouts=%u load_ops=%lu delay_us=%lld lead_us=%u control=%s err=%d\n",
		      test_names[res.p.test], kind_names[res.p.kind],
		      unmap_names[res.p.unmap], res.trials, res.valid,
		      res.reused, res.held, res.landed_victim,
		      res.landed_reused, res.hit_victim, res.reused_valid,
		      res.live, res.flushed, res.late, res.stray, res.timeouts,
		      res.load_ops,
		      res.trials ? div_s64(res.delay_us_sum, res.trials) : 0,
		      res.lead_us, res.control_ok ? "ok" : "FAIL", res.err);
	return simple_read_from_buffer(ubuf, len, ppos, buf, n);
}

static const struct file_operations run_fops = {
	.owner = THIS_MODULE,
	.open = simple_open,
	.read = run_read,
	.write = run_write,
	.llseek = default_llseek,
};

static int attack_probe(struct pci_dev *pdev, const struct pci_device_id *id)
{
	struct device *dev = &pdev->dev;
	struct attack_dev *ad;
	int ret;

	if (pdev->vendor != EDU_VENDOR_ID || pdev->device != EDU_DEVICE_ID)
		return dev_err_probe(dev, -ENODEV, "not QEMU's edu device\n");

	ad = devm_kzalloc(dev, sizeof(*ad), GFP_KERNEL);
	if (!ad)
		return -ENOMEM;
	ad->pdev = pdev;
	ret = devm_mutex_init(dev, &ad->lock);
	if (ret)
		return ret;

	ret = pcim_enable_device(pdev);
	if (ret)
		return ret;
	ad->regs = pcim_iomap(pdev, 0, 0);
	if (!ad->regs)
		return -ENOMEM;
	/*
	 * Fails without translation where no RAM lies below 256 MiB (arm64
	 * virt in an identity domain): nothing to attack there anyway.
	 */
	ret = dma_set_mask_and_coherent(dev, DMA_BIT_MASK(EDU_DMA_BITS));
	if (ret)
		return dev_err_probe(dev, ret, "no memory within edu's %u-bit DMA reach\n",
				     EDU_DMA_BITS);
	pci_set_master(pdev);

	ad->dir = debugfs_create_dir(DRV_NAME, NULL);
	if (IS_ERR(ad->dir))
		return dev_err_probe(dev, PTR_ERR(ad->dir),
				     "debugfs directory (one device only)\n");
	debugfs_create_file("run", 0600, ad->dir, ad, &run_fops);
	pci_set_drvdata(pdev, ad);
	return 0;
}

static void attack_remove(struct pci_dev *pdev)
{
	struct attack_dev *ad = pci_get_drvdata(pdev);

	/* Waits for a run in progress through the file's removal. */
	debugfs_remove_recursive(ad->dir);
	/* Nothing may be in flight any more: wait for edu to go idle. */
	edu_wait(ad, NULL);
	pci_clear_master(pdev);
}

/* No ID table: bound only on request, through driver_override. */
static struct pci_driver attack_driver = {
	.name = DRV_NAME,
	.probe = attack_probe,
	.remove = attack_remove,
};
module_pci_driver(attack_driver);

MODULE_DESCRIPTION("Stale IOTLB DMA attack test with QEMU's edu device");
MODULE_LICENSE("GPL");
