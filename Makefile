# SPDX-License-Identifier: GPL-2.0
#
# IOVA rework for Linux 6.12: top-level driver. See README.md.
#
#   make            build stock and patched guest kernels, boot them under
#                   QEMU with an emulated IOMMU and print the comparison
#   make check      every test: harness, KUnit (plain + debug), guest selftests
#   make debian-guest  the tracing tools in a Debian guest (CMD='...')
#   make devbench   NVMe and NIC workloads, stock against ours, every mode
#
# Variables: ARCH=x86_64|arm64 (guest targets), CMDLINE="..." (extra kernel
# parameters for the guest), V=1.

SHELL := /bin/bash
TOP := $(CURDIR)
export TOP
MK_T0 := $(shell date +%s)
export MK_T0

# ARCH names the guest; it must not leak into kernel builds for other
# architectures (the mk/ scripts clear it before calling kbuild).
GUEST_ARCH := $(if $(filter arm64 aarch64,$(ARCH)),arm64,x86_64)
export GUEST_ARCH CMDLINE

.PHONY: all compare deps tree series series-check kunit kunit-debug \
	harness selftests guest-kernel check bench kunit-bench debian-guest \
	devbench \
	steptrace irqsoff \
	clean distclean help

all: compare

help:
	@sed -n '3,12p' Makefile | sed 's/^# \{0,1\}//'

deps:
	@bash mk/deps.sh

tree: deps
	@bash mk/tree.sh

compare: tree
	@bash mk/guest/compare.sh $(GUEST_ARCH)

# The device workloads (fio, iperf3, sockperf), stock against ours in every
# mode, with invalidations per GB moved (part of bench).
devbench: tree
	@bash mk/guest/devbench.sh $(GUEST_ARCH)

series: tree
	@bash mk/series.sh build

series-check: series
	@bash mk/series.sh check

kunit: tree
	@bash mk/kunit.sh plain

kunit-debug: tree
	@bash mk/kunit.sh debug

harness: tree
	@bash mk/harness.sh

guest-kernel: tree
	@bash mk/guest/kernel.sh $(GUEST_ARCH) ours

selftests: tree
	@bash mk/guest/selftests.sh $(GUEST_ARCH) $(CMDLINE)

check: tree
	@bash mk/check.sh

bench: tree
	@bash mk/bench.sh

# The fast-path KUnit benchmark under UML, stock against ours (part of bench).
kunit-bench: tree
	@bash mk/kunit-bench.sh

# Where one unmap's instructions go, stock against ours, by single-stepping
# it in the guest (FUNC=kernel function, default the page unmap).
steptrace: tree
	@bash mk/guest/steptrace.sh $(FUNC)

# The longest IRQs-off section of a flush, stock lazy against safe deferred
# mode, single-stepped in the x86_64 guest (part of bench).
irqsoff: tree
	@bash mk/guest/irqsoff.sh x86_64

# Debian guest with perf, bcc and bpftrace (x86_64, slow; not in make check):
# CMD='shell command' or SCRIPT=file runs inside; by default the tracing
# tools demo (mk/guest/debian-tools.sh); SCRIPT=mk/guest/debian-nvme.sh:
# fio on the guest's NVMe disk under perf stat and bcc's stackcount of the
# unmap path. Output: build/results/debian/.
debian-guest: tree
	@GUEST_NO_TREE=1 bash mk/guest/debian.sh \
		$(if $(CMD),cmd '$(subst ','\'',$(CMD))',run $(or $(SCRIPT),mk/guest/debian-tools.sh))

clean:
	rm -rf build/results build/bench build/series build/harness build/series-steps/harness

distclean:
	rm -rf build
