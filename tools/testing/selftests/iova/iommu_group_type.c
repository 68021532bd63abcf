// SPDX-License-Identifier: GPL-2.0
/*
 * The IOMMU domain type of a PCI device's group against the boot parameters,
 * and DMA through every domain type the group can be switched to at run time.
 *
 * The device under test is QEMU's "edu" (PCI 1234:11e8) unless
 * IOVA_TEST_DEVICE names another one (a PCI address such as 0000:00:03.0);
 * it must have no driver bound. Without such a device the tests skip, or
 * fail when IOVA_TEST_REQUIRE_DEVICE=1 (the QEMU harness sets it). DMA is
 * driven through the kernel's dma_map_benchmark driver
 * (CONFIG_DMA_MAP_BENCHMARK), bound with driver_override.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/klog.h>
#include <linux/types.h>

#define NSEC_PER_MSEC	1000000L
#include <linux/map_benchmark.h>

#include "../kselftest_harness.h"

#define EDU_VENDOR	0x1234
#define EDU_DEVICE	0x11e8
#define PCI_DEVICES	"/sys/bus/pci/devices"
#define BENCH_DEBUGFS	"/sys/kernel/debug/dma_map_benchmark"
#define BENCH_DRIVER	"dma_map_benchmark"

static int read_line(const char *path, char *buf, size_t len)
{
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}

static int write_str(const char *path, const char *str)
{
	ssize_t n;
	int fd, ret = 0;

	fd = open(path, O_WRONLY);
	if (fd < 0)
		return -errno;
	n = write(fd, str, strlen(str));
	if (n < 0)
		ret = -errno;
	else if ((size_t)n != strlen(str))
		ret = -EIO;
	close(fd);
	return ret;
}

static int dev_attr(const char *dev, const char *attr, char *buf, size_t len)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), PCI_DEVICES "/%s/%s", dev, attr);
	return read_line(path, buf, len);
}

static int set_dev_attr(const char *dev, const char *attr, const char *val)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), PCI_DEVICES "/%s/%s", dev, attr);
	return write_str(path, val);
}

/* The device under test: IOVA_TEST_DEVICE, or the first edu device. */
static int find_device(char *dev, size_t len)
{
	const char *env = getenv("IOVA_TEST_DEVICE");
	struct dirent *de;
	char buf[32];
	DIR *dir;
	int ret = -ENODEV;

	if (env && *env) {
		snprintf(dev, len, "%s", env);
		return dev_attr(dev, "vendor", buf, sizeof(buf));
	}
	dir = opendir(PCI_DEVICES);
	if (!dir)
		return -errno;
	while ((de = readdir(dir))) {
		if (de->d_name[0] == '.')
			continue;
		if (dev_attr(de->d_name, "vendor", buf, sizeof(buf)) ||
		    strtoul(buf, NULL, 16) != EDU_VENDOR)
			continue;
		if (dev_attr(de->d_name, "device", buf, sizeof(buf)) ||
		    strtoul(buf, NULL, 16) != EDU_DEVICE)
			continue;
		snprintf(dev, len, "%s", de->d_name);
		ret = 0;
		break;
	}
	closedir(dir);
	return ret;
}

/* Without the device the tests skip, unless the caller insists on it. */
static bool device_required(void)
{
	const char *req = getenv("IOVA_TEST_REQUIRE_DEVICE");

	return req && !strcmp(req, "1");
}

static bool has_driver(const char *dev)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), PCI_DEVICES "/%s/driver", dev);
	return access(path, F_OK) == 0;
}

/* kstrtobool() as the kernel parses iommu.strict= and iommu.passthrough= */
static int parse_bool(const char *s, bool *res)
{
	switch (s[0]) {
	case 'y': case 'Y': case '1':
		*res = true;
		return 0;
	case 'n': case 'N': case '0':
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

/*
 * The default domain type the kernel command line asks for: "identity",
 * "DMA", "DMA-FQ" or "DMA-SAFE", or NULL when it leaves the choice to the
 * kernel's configuration. Later parameters override earlier ones, as in
 * the kernel; iommu.strict=1 wins over iommu.safedefer=1 in any order.
 */
static const char *expected_type(const char *cmdline)
{
	int passthrough = -1, strict = -1, safedefer = -1;
	char *copy, *tok, *save;
	bool b;

	copy = strdup(cmdline);
	if (!copy)
		return NULL;
	for (tok = strtok_r(copy, " \t\n", &save); tok;
	     tok = strtok_r(NULL, " \t\n", &save)) {
		if (!strncmp(tok, "iommu.passthrough=", 18)) {
			if (!parse_bool(tok + 18, &b))
				passthrough = b;
		} else if (!strncmp(tok, "iommu.strict=", 13)) {
			if (!parse_bool(tok + 13, &b))
				strict = b;
		} else if (!strncmp(tok, "iommu.safedefer=", 16)) {
			if (!parse_bool(tok + 16, &b))
				safedefer = b;
		} else if (!strcmp(tok, "iommu=pt")) {
			passthrough = 1;
		} else if (!strcmp(tok, "iommu=nopt")) {
			passthrough = 0;
		}
	}
	free(copy);

	if (passthrough == 1)
		return "identity";
	if (strict == 1)
		return "DMA";
	if (safedefer == 1)
		return "DMA-SAFE";
	if (strict == 0)
		return "DMA-FQ";
	return NULL;
}

/*
 * AMD-Vi under a hypervisor that caches non-present entries boots every
 * DMA domain strict whatever the command line asks for, and says so in
 * the kernel log.
 */
#define AMD_STRICT_MSG	"AMD-Vi: Using strict mode due to virtualization"
#define SYSLOG_READ_ALL	3
#define SYSLOG_SIZE	10

static bool amd_strict_virt(void)
{
	bool found = false;
	int size, n;
	char *buf;

	size = klogctl(SYSLOG_SIZE, NULL, 0);
	if (size <= 0)
		return false;
	buf = malloc(size + 1);
	if (!buf)
		return false;
	n = klogctl(SYSLOG_READ_ALL, buf, size);
	if (n > 0) {
		buf[n] = '\0';
		found = !!strstr(buf, AMD_STRICT_MSG);
	}
	free(buf);
	return found;
}

static int bind_bench(const char *dev)
{
	int ret;

	ret = set_dev_attr(dev, "driver_override", BENCH_DRIVER);
	if (ret)
		return ret;
	ret = write_str("/sys/bus/pci/drivers_probe", dev);
	if (!ret && !has_driver(dev))
		ret = -ENXIO;
	if (ret)
		set_dev_attr(dev, "driver_override", "\n");
	return ret;
}

static int unbind_bench(const char *dev)
{
	char path[PATH_MAX];
	int ret, err;

	snprintf(path, sizeof(path), PCI_DEVICES "/%s/driver/unbind", dev);
	ret = write_str(path, dev);
	err = set_dev_attr(dev, "driver_override", "\n");
	return ret ? ret : err;
}

/* One short dma_map_benchmark run through the device's current domain. */
static int bench_once(const char *dev, struct map_benchmark *map)
{
	int fd, ret, err;

	ret = bind_bench(dev);
	if (ret)
		return ret;

	fd = open(BENCH_DEBUGFS, O_RDWR);
	if (fd < 0) {
		ret = -errno;
	} else {
		memset(map, 0, sizeof(*map));
		map->seconds = 1;
		map->threads = 1;
		map->node = -1;
		map->dma_bits = 32;
		map->dma_dir = DMA_MAP_BIDIRECTIONAL;
		map->granule = 1;
		if (ioctl(fd, DMA_MAP_BENCHMARK, map))
			ret = -errno;
		close(fd);
	}

	err = unbind_bench(dev);
	return ret ? ret : err;
}

/*
 * On device-tree systems Linux 6.12 attaches a PCI device to its IOMMU
 * only when a driver first binds to it (of_dma_configure() runs at probe
 * time), so a device that never had a driver has no group yet. Bind the
 * benchmark driver once to get one; the group stays after the unbind.
 */
static int ensure_group(const char *dev)
{
	char path[PATH_MAX];
	int ret;

	snprintf(path, sizeof(path), PCI_DEVICES "/%s/iommu_group", dev);
	if (!access(path, F_OK) || has_driver(dev))
		return 0;
	ret = bind_bench(dev);
	if (ret)
		return ret;
	return unbind_bench(dev);
}

FIXTURE(edu)
{
	char dev[NAME_MAX + 1];
};

FIXTURE_SETUP(edu)
{
	if (find_device(self->dev, sizeof(self->dev))) {
		ASSERT_FALSE(device_required())
			TH_LOG("no edu device (1234:11e8)");
		SKIP(return, "no edu device and no IOVA_TEST_DEVICE");
	}
	ASSERT_EQ(0, ensure_group(self->dev));
}

FIXTURE_TEARDOWN(edu)
{
}

TEST_F(edu, device_present)
{
	char type[32];

	ASSERT_EQ(0, dev_attr(self->dev, "iommu_group/type", type,
			      sizeof(type)))
		TH_LOG("%s is not behind an IOMMU", self->dev);
	TH_LOG("%s: IOMMU group type %s", self->dev, type);
}

TEST_F(edu, type_matches_cmdline)
{
	char type[32], cmdline[4096];
	const char *want;

	ASSERT_EQ(0, read_line("/proc/cmdline", cmdline, sizeof(cmdline)));
	ASSERT_EQ(0, dev_attr(self->dev, "iommu_group/type", type,
			      sizeof(type)));

	want = expected_type(cmdline);
	if (want && (!strcmp(want, "DMA-FQ") || !strcmp(want, "DMA-SAFE")) &&
	    amd_strict_virt()) {
		TH_LOG("%s asked for, AMD-Vi boots strict under a hypervisor",
		       want);
		TH_LOG("expecting DMA; the group tests switch to %s", want);
		want = "DMA";
	}
	if (want) {
		ASSERT_STREQ(want, type)
			TH_LOG("command line: %s", cmdline);
	} else {
		/* The IOMMU is on by default: only the DMA flavour is open. */
		ASSERT_TRUE(!strcmp(type, "DMA") || !strcmp(type, "DMA-FQ"))
			TH_LOG("type %s, command line: %s", type, cmdline);
	}
}

FIXTURE(group)
{
	char dev[NAME_MAX + 1];
	char path[PATH_MAX];
	char orig[32];
};

FIXTURE_VARIANT(group)
{
	const char *type;
	/* A type that only kernels with the IOVA rework know. */
	bool optional;
};

FIXTURE_VARIANT_ADD(group, dma)
{
	.type = "DMA",
};

FIXTURE_VARIANT_ADD(group, dma_fq)
{
	.type = "DMA-FQ",
};

FIXTURE_VARIANT_ADD(group, identity)
{
	.type = "identity",
};

FIXTURE_VARIANT_ADD(group, dma_safe)
{
	.type = "DMA-SAFE",
	.optional = true,
};

FIXTURE_SETUP(group)
{
	if (find_device(self->dev, sizeof(self->dev))) {
		ASSERT_FALSE(device_required())
			TH_LOG("no edu device (1234:11e8)");
		SKIP(return, "no edu device and no IOVA_TEST_DEVICE");
	}
	if (has_driver(self->dev))
		SKIP(return, "%s has a driver bound", self->dev);
	if (access(BENCH_DEBUGFS, F_OK) == 0)
		SKIP(return, BENCH_DEBUGFS " is taken by another device");
	ASSERT_EQ(0, ensure_group(self->dev));
	snprintf(self->path, sizeof(self->path),
		 PCI_DEVICES "/%s/iommu_group/type", self->dev);
	ASSERT_EQ(0, read_line(self->path, self->orig, sizeof(self->orig)));
}

FIXTURE_TEARDOWN(group)
{
	char type[32];

	if (!self->orig[0] || read_line(self->path, type, sizeof(type)))
		return;
	/* Give the next test the type the command line asked for. */
	if (strcmp(type, self->orig))
		EXPECT_EQ(0, write_str(self->path, self->orig));
}

/* Switch the group to the variant's type, read it back, run DMA through it. */
TEST_F(group, switch_and_map)
{
	struct map_benchmark map;
	char type[32];
	int ret;

	ret = write_str(self->path, variant->type);
	if (ret == -EINVAL && variant->optional)
		SKIP(return, "this kernel has no %s domains", variant->type);
	ASSERT_EQ(0, ret) TH_LOG("writing %s to %s: %s", variant->type,
				 self->path, strerror(-ret));
	ASSERT_EQ(0, read_line(self->path, type, sizeof(type)));
	ASSERT_STREQ(variant->type, type);

	ret = bench_once(self->dev, &map);
	ASSERT_EQ(0, ret) TH_LOG("dma_map_benchmark on %s: %s", self->dev,
				 strerror(-ret));
	/* Latencies are in units of 100 ns and 0.0 is printed for < 50 ns */
	TH_LOG("%s: map %.1f us unmap %.1f us", variant->type,
	       map.avg_map_100ns / 10.0, map.avg_unmap_100ns / 10.0);
	ASSERT_FALSE(has_driver(self->dev));

	/* The type must survive the driver's bind and unbind. */
	ASSERT_EQ(0, read_line(self->path, type, sizeof(type)));
	ASSERT_STREQ(variant->type, type);
}

TEST_HARNESS_MAIN
