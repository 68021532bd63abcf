// SPDX-License-Identifier: GPL-2.0-only
/*
 * Stale IOTLB DMA attack test: QEMU's "edu" device plays a device that
 * keeps writing to a DMA address after its driver unmapped it.
 *
 * Test-only driver, bound to edu (PCI 1234:11e8) through driver_override and
 * driven through debugfs by tools/testing/selftests/iova/iotlb_attack.sh.
 * Never enable it on a machine that matters: in a lazy (DMA-FQ) domain it
 * lets a device write into freed memory, which is the point.
 *
 * One trial:
 *
 *   1. fill a page (the victim) with a pattern unique to the trial, map it,
 *      have edu read it into its buffer: the IOMMU now caches the
 *      translation in its IOTLB and edu holds the pattern;
 *   2. start an edu transfer from its buffer to the victim's IOVA; edu
 *      performs it 100 ms later on QEMU's virtual clock;
 *   3. a few milliseconds before that, unmap the victim the way a driver
 *      would, free the page, and reallocate pages on the same CPU at once
 *      (the per-CPU free lists hand the freed page back first), filling
 *      them with a known pattern: these pages now belong to somebody else;
 *   4. wait for the transfer and look for the trial's pattern in them.
 *
 * In strict mode the unmap invalidated the IOTLB before it returned, so the
 * transfer faults. In the safe deferred mode the page is not handed back
 * before the invalidation has completed, so it is never among the
 * reallocated pages while a stale translation may still reach it. In lazy
 * mode the page is reused at once while the IOTLB still translates the old
 * IOVA to it: the write lands in memory that now belongs to somebody else.
 *
 * The debugfs file iotlb_attack/run takes "TRIALS [LEAD_US [LOAD_THREADS
 * [REUSE_PAGES]]]", runs trials until TRIALS of them were valid (five
 * times as many at most) and reads back one line of counts:
 *
 *   trials=N valid=N landed=N reused=N timeouts=N load_ops=N delay_us=N
 *   lead_us=N control=ok|FAIL err=N
 *
 * valid: trials whose transfer had not started when the victim was
 * unmapped (the others tested nothing); landed: trials in which the
 * pattern turned up in a reallocated page; reused: trials in which the
 * victim page itself was among the reallocated pages. LOAD_THREADS kernel
 * threads map and unmap pages of the same device, in the same domain,
 * while the trials run; the trials themselves run at real-time priority.
 * delay_us is how long edu's 100 ms took on the guest's clock, measured on
 * each trial's read; the shortest so far times the writes. A guest whose
 * timers run late (a TCG guest on a busy host) can wake up after edu has
 * already written: each trial that finds the transfer done grows the lead
 * by half, up to MAX_LEAD_US; lead_us is the lead the last trial used.
 * Before the trials a
 * control transfer checks that edu's DMA through the IOMMU works at all:
 * without it no trial could land.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/debugfs.h>
#include <linux/delay.h>
#include <linux/dma-mapping.h>
#include <linux/gfp.h>
#include <linux/io.h>
#include <linux/io-64-nonatomic-lo-hi.h>
#include <linux/kthread.h>
#include <linux/ktime.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/math64.h>
#include <linux/pci.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

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
#define REUSE_MAGIC		0x5245555345000000ULL	/* "REUSE" */

#define MAX_TRIALS		10000
/*
 * Trials run until TRIALS were valid, or ATTEMPTS times as many ran. A
 * TCG guest that shares its host with other busy guests can miss the
 * unmap's moment in more than half of the trials.
 */
#define ATTEMPTS		5
#define MAX_LOAD_THREADS	8
#define MAX_REUSE_PAGES		1024
#define DEF_LEAD_US		5000
/* Half of edu's delay: the unmap still comes well before the write. */
#define MAX_LEAD_US		(EDU_DMA_DELAY_US / 2)
#define DEF_REUSE_PAGES		64
/* Map/unmap pairs a load thread does between two short sleeps. */
#define LOAD_BURST		256

struct attack_result {
	unsigned int trials;
	unsigned int valid;
	unsigned int landed;
	unsigned int reused;
	unsigned int timeouts;
	unsigned int lead_us;
	unsigned long load_ops;
	s64 delay_us_sum;
	bool control_ok;
	int err;
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

static inline u64 reuse_word(unsigned int i)
{
	return REUSE_MAGIC ^ i;
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

static void fill_attack(struct page *page, u32 seq)
{
	u64 *p = page_address(page);
	unsigned int i;

	for (i = 0; i < PAGE_SIZE / sizeof(u64); i++)
		p[i] = attack_word(seq, i);
}

/* Does @page hold any word of trial @seq's pattern where edu wrote it? */
static bool holds_attack(struct page *page, u32 seq)
{
	const u64 *p = page_address(page);
	unsigned int i;

	for (i = 0; i < EDU_XFER_LEN / sizeof(u64); i++)
		if (READ_ONCE(p[i]) == attack_word(seq, i))
			return true;
	return false;
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
	fill_attack(a, ++ad->seq);
	memset(page_address(b), 0, PAGE_SIZE);
	da = dma_map_page(dev, a, 0, PAGE_SIZE, DMA_TO_DEVICE);
	if (dma_mapping_error(dev, da))
		goto out_free;
	db = dma_map_page(dev, b, 0, PAGE_SIZE, DMA_FROM_DEVICE);
	if (dma_mapping_error(dev, db))
		goto out_unmap_a;
	edu_start(ad, da, EDU_BUF_ADDR, false);
	if (edu_wait(ad, NULL)) {
		edu_start(ad, EDU_BUF_ADDR, db, true);
		ok = edu_wait(ad, NULL);
	}
	dma_unmap_page(dev, db, PAGE_SIZE, DMA_FROM_DEVICE);
	ok = ok && holds_attack(b, ad->seq) &&
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

/*
 * One trial, as in the comment at the top of the file. Returns 0 or a
 * negative errno; counts into @res, grows @res->lead_us after a trial that
 * woke up too late.
 */
static int attack_trial(struct attack_dev *ad, struct attack_result *res,
			struct page **reuse, unsigned int nr_reuse,
			s64 *min_delay_us)
{
	unsigned int lead_us = res->lead_us;
	struct device *dev = &ad->pdev->dev;
	struct page *victim;
	unsigned int i, got = 0;
	bool valid, reused = false, landed = false;
	ktime_t start, done;
	s64 delay_us, left_us;
	dma_addr_t iova;
	u32 seq = ++ad->seq;

	victim = alloc_page(GFP_KERNEL);
	if (!victim)
		return -ENOMEM;
	fill_attack(victim, seq);
	iova = dma_map_page(dev, victim, 0, PAGE_SIZE, DMA_BIDIRECTIONAL);
	if (dma_mapping_error(dev, iova)) {
		__free_page(victim);
		return -ENOMEM;
	}

	/*
	 * The device uses the mapping: the IOTLB caches it, edu keeps data.
	 * Time it: the guest's clock and QEMU's virtual clock need not agree
	 * on how long edu's 100 ms are.
	 */
	start = ktime_get();
	edu_start(ad, iova, EDU_BUF_ADDR, false);
	if (!edu_wait(ad, &done)) {
		dma_unmap_page(dev, iova, PAGE_SIZE, DMA_BIDIRECTIONAL);
		__free_page(victim);
		res->timeouts++;
		return -ETIMEDOUT;
	}
	/*
	 * edu never fires early, but often late (QEMU's main loop runs
	 * behind under load): aim at the earliest it has fired yet.
	 */
	delay_us = ktime_us_delta(done, start);
	res->delay_us_sum += delay_us;
	*min_delay_us = min(*min_delay_us, delay_us);
	delay_us = *min_delay_us;

	/* The write to the old IOVA, 100 ms from now. */
	start = ktime_get();
	edu_start(ad, EDU_BUF_ADDR, iova, true);
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

	/* The driver is done with the buffer: unmap, free. */
	valid = edu_busy(ad);
	dma_unmap_page(dev, iova, PAGE_SIZE, DMA_BIDIRECTIONAL);

	/*
	 * Somebody else gets memory: on this CPU, with no chance for anyone
	 * in between, so that a page freed straight to the per-CPU lists is
	 * the first one handed out again.
	 */
	preempt_disable();
	__free_page(victim);
	for (i = 0; i < nr_reuse; i++) {
		u64 *p;
		unsigned int j;

		reuse[i] = alloc_page(GFP_ATOMIC | __GFP_NOWARN);
		if (!reuse[i])
			break;
		p = page_address(reuse[i]);
		for (j = 0; j < PAGE_SIZE / sizeof(u64); j++)
			p[j] = reuse_word(j);
		if (reuse[i] == victim)
			reused = true;
	}
	got = i;
	preempt_enable();

	if (!edu_wait(ad, NULL))
		res->timeouts++;

	for (i = 0; i < got; i++) {
		if (holds_attack(reuse[i], seq))
			landed = true;
		__free_page(reuse[i]);
	}

	res->trials++;
	if (valid)
		res->valid++;
	else
		res->lead_us = min_t(unsigned int, lead_us + lead_us / 2 + 1,
				     MAX_LEAD_US);
	if (reused)
		res->reused++;
	if (landed) {
		res->landed++;
		dev_info(dev, "trial %u: stale IOTLB write to IOVA %pad landed in reused memory\n",
			 seq, &iova);
	}
	return 0;
}

static void attack_run(struct attack_dev *ad, unsigned int trials,
		       unsigned int lead_us, unsigned int nr_load,
		       unsigned int nr_reuse, struct attack_result *res)
{
	struct task_struct *load[MAX_LOAD_THREADS] = { };
	s64 min_delay_us = S64_MAX;
	struct page **reuse;
	unsigned int i;
	int nice, err = 0;

	memset(res, 0, sizeof(*res));
	res->lead_us = lead_us;
	reuse = kcalloc(nr_reuse, sizeof(*reuse), GFP_KERNEL);
	if (!reuse) {
		res->err = -ENOMEM;
		return;
	}

	res->control_ok = attack_control(ad);
	if (!res->control_ok) {
		res->err = -EIO;
		goto out;
	}

	atomic_long_set(&ad->load_ops, 0);
	for (i = 0; i < nr_load; i++) {
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
	for (i = 0; !err && res->valid < trials && i < ATTEMPTS * trials; i++) {
		err = attack_trial(ad, res, reuse, nr_reuse, &min_delay_us);
		if (fatal_signal_pending(current))
			err = -EINTR;
	}
	sched_set_normal(current, nice);

	for (i = 0; i < nr_load; i++)
		if (load[i])
			kthread_stop(load[i]);
	res->load_ops = atomic_long_read(&ad->load_ops);
	res->err = err;
out:
	kfree(reuse);
}

static ssize_t run_write(struct file *file, const char __user *ubuf,
			 size_t len, loff_t *ppos)
{
	struct attack_dev *ad = file->private_data;
	unsigned int trials, lead_us = DEF_LEAD_US, nr_load = 0;
	unsigned int nr_reuse = DEF_REUSE_PAGES;
	struct attack_result res;
	char buf[64];
	int n;

	if (len >= sizeof(buf))
		return -EINVAL;
	if (copy_from_user(buf, ubuf, len))
		return -EFAULT;
	buf[len] = '\0';
	n = sscanf(buf, "%u %u %u %u", &trials, &lead_us, &nr_load, &nr_reuse);
	if (n < 1 || !trials || trials > MAX_TRIALS ||
	    lead_us > MAX_LEAD_US || nr_load > MAX_LOAD_THREADS ||
	    !nr_reuse || nr_reuse > MAX_REUSE_PAGES)
		return -EINVAL;

	if (mutex_lock_interruptible(&ad->lock))
		return -EINTR;
	attack_run(ad, trials, lead_us, nr_load, nr_reuse, &res);
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
	char buf[192];
	int n;

	mutex_lock(&ad->lock);
	res = ad->last;
	n = ad->ran;
	mutex_unlock(&ad->lock);
	if (!n)
		return simple_read_from_buffer(ubuf, len, ppos, "none\n", 5);
	n = scnprintf(buf, sizeof(buf),
		      "trials=%u valid=%u landed=%u reused=%u timeouts=%u load_ops=%lu delay_us=%lld lead_us=%u control=%s err=%d\n",
		      res.trials, res.valid, res.landed, res.reused,
		      res.timeouts, res.load_ops,
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
