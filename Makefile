# appfw top-level Makefile.
#
#   make            build everything into build/
#   make deps       install missing Debian packages, build libopenvswitch.a
#   make check      deps + build + every test (plain, ASan+UBSan, fuzz smoke)
#   make bench      deps + build + benchmarks
#   make demo       deps + build + the end-to-end demo
#   make fuzz       run each fuzz target for FUZZ_SECONDS (default 60)
#   make install    programs, units, configuration, man pages (DESTDIR, PREFIX)
#   make deb        the guest agent's Debian package (build/deb/)
#
# Each component adds its sources, programs and tests in its build.mk.
# SAN=1 builds into build/asan with AddressSanitizer and UBSan.

NPROC := $(shell nproc 2>/dev/null || echo 2)
BUILD_ROOT := build
OVS_BUILD_DIR := $(CURDIR)/.deps/ovs
OVS_DIR := $(OVS_BUILD_DIR)/openvswitch

ifeq ($(SAN),1)
BUILD := $(BUILD_ROOT)/asan
OPT := -O1 -fsanitize=address,undefined -fno-sanitize-recover=all \
       -fno-omit-frame-pointer
else
BUILD := $(BUILD_ROOT)
OPT := -O2
endif

CC := gcc
CLANG := clang
WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
        -Wmissing-prototypes -Wpointer-arith -Wformat=2
CFLAGS := -std=c11 -D_GNU_SOURCE -I. -g $(OPT) $(WARN) -MMD -MP
LDFLAGS := $(if $(filter 1,$(SAN)),-fsanitize=address -fsanitize=undefined)

pkg = $(shell pkg-config $(1) 2>/dev/null)
JSONC_CFLAGS := $(call pkg,--cflags json-c)
JSONC_LIBS := $(call pkg,--libs json-c)
CMOCKA_LIBS := $(call pkg,--libs cmocka)
CRYPTO_LIBS := $(call pkg,--libs libcrypto)

# Filled by the components' build.mk files.
PROGRAMS :=
UNIT_TESTS :=
FUZZ_TARGETS :=
BENCHES :=

.PHONY: all deps check bench demo fuzz clean distclean \
        unit-tests run-unit-tests fuzz-targets _check _bench _demo _fuzz
.DEFAULT_GOAL := all

include common/build.mk
include appid/build.mk
include security-vm/build.mk
include ovs-plugin/build.mk
include guest-agent/build.mk
include deploy/build.mk
include tests/build.mk

# Aggregates: after every build.mk, since make expands prerequisites as it
# reads a rule.
all: $(PROGRAMS) unit-tests

unit-tests: $(UNIT_TESTS)

fuzz-targets: $(FUZZ_TARGETS)

$(BUILD)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(CPPFLAGS_$(firstword $(subst /, ,$<))) -c $< -o $@

$(BUILD)/lib/%.a:
	@mkdir -p $(@D)
	rm -f $@
	ar rcs $@ $^

deps:
	@OVS_BUILD_DIR=$(OVS_BUILD_DIR) deploy/deps.sh

# The public targets install what is missing first, then re-enter make so
# that pkg-config sees the freshly installed libraries.
check: deps
	@$(MAKE) --no-print-directory -j$(NPROC) all
	@$(MAKE) --no-print-directory _check

bench: deps
	@$(MAKE) --no-print-directory -j$(NPROC) all $(BENCHES)
	@$(MAKE) --no-print-directory _bench

demo: deps
	@$(MAKE) --no-print-directory -j$(NPROC) all
	@$(MAKE) --no-print-directory _demo

fuzz: deps
	@$(MAKE) --no-print-directory _fuzz

_check:
	tests/run-unit.sh "unit" $(UNIT_TESTS)
	tests/appid/test-cli.sh $(BUILD)
	tests/secd/test-secd.sh $(BUILD)
	tests/secd/test-secd-tls.sh $(BUILD)
	tests/secd/test-admin.sh $(BUILD)
	tests/secd/test-quota.sh $(BUILD)
	tests/secd/test-naming.sh $(BUILD)
	tests/secd/test-peers.sh $(BUILD)
	tests/switchd/test-switchd.sh $(BUILD)
	tests/fleet/test-fleet.sh $(BUILD)
	APPFW_AGENT=$(BUILD_ROOT)/static/appfw-agent tests/agent/test-agent.sh $(BUILD)
	tests/agent/test-agent-qemu.sh $(BUILD)
	tests/deploy/test-hook.sh $(BUILD)
	tests/deploy/test-vmctl.sh $(BUILD)
	tests/deploy/test-install.sh
	tests/deploy/test-deb.sh
	tests/deploy/test-libvirt.sh $(BUILD)
	tests/deploy/test-secvm.sh $(BUILD)
	tests/deploy/test-demo.sh $(BUILD)
	@$(MAKE) --no-print-directory -j$(NPROC) SAN=1 all
	tests/run-unit.sh "unit (ASan+UBSan)" \
	    $(patsubst $(BUILD_ROOT)/%,$(BUILD_ROOT)/asan/%,$(UNIT_TESTS))
	ASAN_OPTIONS=detect_leaks=1 tests/secd/test-secd.sh $(BUILD_ROOT)/asan
	ASAN_OPTIONS=detect_leaks=1 tests/secd/test-admin.sh $(BUILD_ROOT)/asan
	ASAN_OPTIONS=detect_leaks=1 tests/secd/test-quota.sh $(BUILD_ROOT)/asan
	ASAN_OPTIONS=detect_leaks=1 tests/secd/test-naming.sh $(BUILD_ROOT)/asan
	ASAN_OPTIONS=detect_leaks=1 tests/secd/test-peers.sh $(BUILD_ROOT)/asan
	ASAN_OPTIONS=detect_leaks=1 tests/switchd/test-switchd.sh $(BUILD_ROOT)/asan
	ASAN_OPTIONS=detect_leaks=1 tests/fleet/test-fleet.sh $(BUILD_ROOT)/asan
	ASAN_OPTIONS=detect_leaks=1 tests/agent/test-agent.sh $(BUILD_ROOT)/asan
	ASAN_OPTIONS=detect_leaks=1 tests/deploy/test-hook.sh $(BUILD_ROOT)/asan
	ASAN_OPTIONS=detect_leaks=1 tests/deploy/test-vmctl.sh $(BUILD_ROOT)/asan
	@$(MAKE) --no-print-directory _fuzz FUZZ_SECONDS=$(CHECK_FUZZ_SECONDS)

FUZZ_SECONDS ?= 60
CHECK_FUZZ_SECONDS ?= 10
_fuzz: fuzz-targets
	tests/fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ_TARGETS)

_bench:
	tests/bench/run.sh $(BENCHES)

_demo:
	@deploy/demo.sh

clean:
	rm -rf $(BUILD_ROOT)

# Also drops the cached libopenvswitch build.
distclean: clean
	rm -rf .deps

-include $(shell find $(BUILD_ROOT) -name '*.d' 2>/dev/null)
