# SPDX-License-Identifier: GPL-2.0
#
# kpf: one entry point. Everything is built under build/; the debug kernel
# is cached outside the checkout (KPF_CACHE, default /var/cache/kpf).
#
#   make                 kpf.ko for KDIR + libkpf (= make kmod ulib)
#   make kmod KDIR=...   kpf.ko, built in build/kmod/<kernel release>/
#   make ulib            libkpf.a / libkpf.so in build/ulib/, libkpf_pool in
#                        build/ulib/pool/
#   make selftests       module selftests (static) in build/selftests/
#   make tests           library tests: build/tests/native/, build/tests/static/
#   make lint            checkpatch --strict, sparse (C=2), W=1; warnings fail
#   make check-native    library tests on this machine (signal backend)
#   make check-guest     every test in QEMU on Debian's and the debug kernel
#   make check           lint, check-native, check-guest; last line "N passed, N failed"
#   make vm              interactive shell in the guest (KERNEL=stock|debug)
#   make debug-kernel    build (once) the KASAN/KMEMLEAK/lockdep kernel
#   make install         libkpf and headers (PREFIX=/usr/local DESTDIR=)
#   make load            insmod build/kmod/$(uname -r)/kpf.ko on this machine
#   make dkms-install    register kpf.ko with DKMS (KVER=... for one kernel)
#   make run | bench     tools/kpf-bench-run.sh (QUICK=1: smoke test)
#   make bench-icount    the same in the deterministic -icount guest
#   make fuzz            selftests/kpf_fuzz for FUZZ_SECONDS (1800) on the
#                        debug kernel (FUZZ_SEED=... replays a run)
#
# Guest knobs: KERNELS="stock stock-icount debug", TESTS='glob', ICOUNT=1,
# KPF_TEST_TIMEOUT=300 (per test), KPF_GUEST_TIMEOUT=2700 (per boot).

SHELL := /bin/bash
.DEFAULT_GOAL := all

BUILD := $(CURDIR)/build
GUEST := $(CURDIR)/tools/guest
LINUX_SOURCE := /usr/src/linux-source-6.1.tar.xz
DEPS_STAMP := $(BUILD)/.deps-stamp
KSRC_STAMP := $(BUILD)/.ksrc-stamp

# The kernel to build kpf.ko against: the running kernel's headers, else the
# newest Debian headers (the host may run a kernel without headers).
newest_headers = $(lastword $(shell ls -d /usr/src/linux-headers-*-amd64 2>/dev/null | sort -V))
KDIR ?= $(if $(wildcard /lib/modules/$(shell uname -r)/build),/lib/modules/$(shell uname -r)/build,$(newest_headers))
# the guest kernels: Debian's 6.1 (newest with a matching vmlinuz) and the
# debug kernel's build tree
STOCK_KDIR = $(lastword $(foreach h,$(shell ls -d /usr/src/linux-headers-6.1.0-*-amd64 2>/dev/null | sort -V),$(if $(wildcard /boot/vmlinuz-$(patsubst /usr/src/linux-headers-%,%,$(h))),$(h))))
DEBUG_KDIR = $(shell $(GUEST)/build-debug-kernel.sh --print-dir)

KERNELS ?= stock stock-icount debug
KERNEL ?= stock
TESTS ?= *
# TESTS='glob' picks guest tests; it must not reach the sub-makes, where
# TESTS is the list of programs to build (selftests/, tests/)
MAKEOVERRIDES := $(filter-out TESTS=%,$(MAKEOVERRIDES))
ICOUNT ?=
PREFIX ?= /usr/local
DESTDIR ?=

# $(call submake,dir,targets): make in a sub-directory with O=build/<dir>
define submake
	$(MAKE) -C $(1) O=$(BUILD)/$(1) $(2)
endef

# $(call kmod_build,KDIR,build dir prefix,extra make args): build kmod/ out
# of tree in <prefix>/<kernel release>/ (symlinks to the sources, so no
# object is ever written into kmod/)
define kmod_build
	@set -e; kdir='$(strip $(1))'; \
	rel=$$(sed -n 's/^#define UTS_RELEASE "\(.*\)"$$/\1/p' \
		"$$kdir/include/generated/utsrelease.h" 2>/dev/null); \
	if [ -z "$$rel" ]; then \
		echo "error: '$$kdir' is not a prepared kernel tree (KDIR=...)" >&2; exit 1; \
	fi; \
	dir=$(2)/$$rel; mkdir -p "$$dir"; \
	find "$$dir" -maxdepth 1 -type l -delete; \
	for f in kmod/*.c kmod/*.h kmod/*.S kmod/Kbuild; do \
		[ -e "$$f" ] && ln -sf "$(CURDIR)/$$f" "$$dir/"; \
	done; \
	echo "  KMOD    $$dir/kpf.ko ($$kdir)"; \
	$(MAKE) -C "$$kdir" M="$$dir" KPF_INCLUDE=$(CURDIR)/include W=1 $(3) modules
endef

.PHONY: all deps kmod kmod-guest ulib selftests tests lint check check-native \
	check-guest debug-kernel install load dkms-install dkms-uninstall vm run bench bench-icount clean ksrc fuzz

all: kmod ulib

# Debian packages (QEMU, kernel source and headers, ...): tools/deps.sh.
# Only the targets that run things need them installed (check*, run,
# bench, vm); building and installing libkpf and kpf.ko does not.
deps: $(DEPS_STAMP)
$(DEPS_STAMP): tools/deps.sh
	@mkdir -p $(BUILD)
	tools/deps.sh
	@touch $@

# kselftest harness and checkpatch from Debian's kernel source package
ksrc: $(KSRC_STAMP)
$(KSRC_STAMP):
	@[ -f $(LINUX_SOURCE) ] || { echo "error: $(LINUX_SOURCE) is missing: make deps (tools/deps.sh) installs it" >&2; exit 1; }
	@echo "  EXTRACT kselftest_harness.h kselftest.h checkpatch.pl from $(LINUX_SOURCE)"
	@rm -rf $(BUILD)/.ksrc && mkdir -p $(BUILD)/.ksrc $(BUILD)/include $(BUILD)/scripts
	@tar -xJf $(LINUX_SOURCE) -C $(BUILD)/.ksrc --wildcards \
		'*/tools/testing/selftests/kselftest_harness.h' \
		'*/tools/testing/selftests/kselftest.h' \
		'*/scripts/checkpatch.pl' '*/scripts/spelling.txt' \
		'*/scripts/const_structs.checkpatch'
	@cp $(BUILD)/.ksrc/*/tools/testing/selftests/kselftest_harness.h \
		$(BUILD)/.ksrc/*/tools/testing/selftests/kselftest.h $(BUILD)/include/
	@cp $(BUILD)/.ksrc/*/scripts/checkpatch.pl $(BUILD)/.ksrc/*/scripts/spelling.txt \
		$(BUILD)/.ksrc/*/scripts/const_structs.checkpatch $(BUILD)/scripts/
	@rm -rf $(BUILD)/.ksrc
	@touch $@

kmod:
	$(call kmod_build,$(KDIR),$(BUILD)/kmod)

debug-kernel:
	@$(GUEST)/build-debug-kernel.sh >/dev/null

# kpf.ko for both guest kernels
kmod-guest: debug-kernel
	$(call kmod_build,$(STOCK_KDIR),$(BUILD)/kmod)
	$(call kmod_build,$(DEBUG_KDIR),$(BUILD)/kmod)

ulib:
	$(call submake,ulib,)
	$(call submake,ulib/pool,ULIB_O=$(BUILD)/ulib)

selftests: $(KSRC_STAMP)
	$(call submake,selftests,)

tests: ulib $(KSRC_STAMP)
	$(call submake,tests,)

lint: $(KSRC_STAMP)
	@set -e; \
	echo "  CHECKPATCH --strict kmod/ include/uapi/linux/kpf.h"; \
	$(BUILD)/scripts/checkpatch.pl --strict --no-tree --quiet --show-types \
		-f $$(ls kmod/*.c kmod/*.h kmod/*.S kmod/Kbuild 2>/dev/null) include/uapi/linux/kpf.h; \
	rm -rf $(BUILD)/lint; \
	log=$(BUILD)/lint.log; \
	$(MAKE) --no-print-directory lint-build >$$log 2>&1 || { cat $$log; exit 1; }; \
	if grep -E 'warning:|error:' $$log; then \
		echo "lint: sparse/W=1 warnings (full log: $$log)" >&2; exit 1; \
	fi; \
	echo "lint: clean"
.PHONY: lint-build
lint-build:
	$(call kmod_build,$(KDIR),$(BUILD)/lint,C=2)

check-native: $(DEPS_STAMP)
	@$(MAKE) --no-print-directory tests
	@mkdir -p $(BUILD); \
	$(MAKE) -C tests O=$(BUILD)/tests check-native 2>&1 | tee $(BUILD)/check-native.log; \
	rc=$${PIPESTATUS[0]}; \
	echo $$rc >$(BUILD)/check-native.rc; exit $$rc

# everything a guest boot needs
.PHONY: guest-prereqs
guest-prereqs: kmod-guest selftests tests

check-guest: $(DEPS_STAMP)
	@$(MAKE) --no-print-directory guest-prereqs
	@$(GUEST)/check.sh $(if $(ICOUNT),--icount) --tests '$(TESTS)' $(KERNELS)

# native failures do not stop the guests; the summary counts all of them
check: $(DEPS_STAMP)
	@$(MAKE) --no-print-directory lint guest-prereqs
	@rc=0; \
	$(MAKE) --no-print-directory check-native || rc=1; \
	$(GUEST)/check.sh --native $(BUILD)/check-native $(if $(ICOUNT),--icount) \
		--tests '$(TESTS)' $(KERNELS) || rc=1; \
	exit $$rc

# The long fuzz run (make check runs the same program for 60 s).
FUZZ_SECONDS ?= 1800
fuzz: $(DEPS_STAMP)
	@$(MAKE) --no-print-directory guest-prereqs
	KPF_FUZZ_SECONDS=$(FUZZ_SECONDS) KPF_FUZZ_SEED=$(FUZZ_SEED) \
	KPF_TEST_TIMEOUT=$$(($(FUZZ_SECONDS) + 300)) \
	KPF_GUEST_TIMEOUT=$$(($(FUZZ_SECONDS) + 900)) \
		$(GUEST)/run.sh --kernel debug --tests kpf_fuzz

vm: $(DEPS_STAMP)
	@$(MAKE) --no-print-directory guest-prereqs
	$(GUEST)/run.sh --kernel $(KERNEL) $(if $(ICOUNT),--icount) --shell

install: ulib
	$(call submake,ulib,install PREFIX=$(PREFIX) DESTDIR=$(DESTDIR))
	$(call submake,ulib/pool,install ULIB_O=$(BUILD)/ulib PREFIX=$(PREFIX) DESTDIR=$(DESTDIR))

load: kmod
	insmod $(BUILD)/kmod/$$(uname -r)/kpf.ko

# DKMS: rebuild kpf.ko for every installed kernel. The tree DKMS builds from
# is kmod/ and include/ with kmod/dkms.conf at its top.
KPF_VERSION := 0.1
DKMS_SRC := $(DESTDIR)/usr/src/kpf-$(KPF_VERSION)
dkms-install:
	@command -v dkms >/dev/null || { echo "error: dkms is not installed (apt-get install dkms)" >&2; exit 1; }
	rm -rf $(DKMS_SRC) && mkdir -p $(DKMS_SRC)/kmod $(DKMS_SRC)/include/uapi/linux
	cp kmod/*.c kmod/*.h kmod/Kbuild $(DKMS_SRC)/kmod/
	cp include/uapi/linux/kpf.h $(DKMS_SRC)/include/uapi/linux/
	sed 's/@VERSION@/$(KPF_VERSION)/' kmod/dkms.conf >$(DKMS_SRC)/dkms.conf
	dkms add -m kpf -v $(KPF_VERSION)
	dkms build -m kpf -v $(KPF_VERSION) $(if $(KVER),-k $(KVER))
	dkms install -m kpf -v $(KPF_VERSION) $(if $(KVER),-k $(KVER))

dkms-uninstall:
	-dkms remove -m kpf -v $(KPF_VERSION) --all
	rm -rf $(DKMS_SRC)

run bench: | $(DEPS_STAMP)
	@tools/kpf-bench-run.sh $(if $(QUICK),--quick) $(if $(ICOUNT),--icount)

bench-icount: | $(DEPS_STAMP)
	@tools/kpf-bench-run.sh --icount $(if $(QUICK),--quick)

clean:
	rm -rf $(BUILD)
