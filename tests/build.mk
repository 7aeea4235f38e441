# tests/: fuzz targets and benchmarks that span components.

FUZZ_CFLAGS := -std=c11 -D_GNU_SOURCE -I. -g -O1 \
               -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all

# Fuzz targets compile the protocol code itself, without the nng adapter.
FUZZ_COMMON_SRCS := $(filter-out common/rpc.c,$(COMMON_SRCS))

FUZZ_TARGETS += $(BUILD_ROOT)/fuzz/fuzz-msg
$(BUILD_ROOT)/fuzz/fuzz-msg: tests/fuzz/fuzz-msg.c $(FUZZ_COMMON_SRCS) \
                             $(wildcard common/*.h)
	@mkdir -p $(@D)
	$(CLANG) $(FUZZ_CFLAGS) $(JSONC_CFLAGS) $(filter %.c,$^) -o $@ \
	    $(JSONC_LIBS) $(CRYPTO_LIBS)


FUZZ_TARGETS += $(BUILD_ROOT)/fuzz/fuzz-secd
$(BUILD_ROOT)/fuzz/fuzz-secd: tests/fuzz/fuzz-secd.c tests/fuzz/rpc-mem.c \
                              $(FUZZ_COMMON_SRCS) $(APPID_LIB_SRCS) \
                              $(SECVM_LIB_SRCS) tests/fuzz/rpc-mem.h \
                              $(wildcard common/*.h appid/*.h security-vm/*.h)
	@mkdir -p $(@D)
	$(CLANG) $(FUZZ_CFLAGS) -Iappid/include $(JSONC_CFLAGS) \
	    $(filter %.c,$^) -o $@ $(JSONC_LIBS) $(CRYPTO_LIBS) \
	    $(call pkg,--libs sqlite3) -lpthread

# appfw-switchd's core with OVS and secd in memory: libopenvswitch gives
# the x* allocators (common/xalloc.c stays out, as in appfw-switchd), and
# time_msec() is the target's own clock.  The target's own code (its
# oracles and in-memory peers) is not instrumented for coverage: only
# switchd's branches guide the fuzzer.
FUZZ_SWITCHD_OWN := fuzz-switchd rpc-mem ofctrl-mem ovsdb-mem
FUZZ_SWITCHD_OBJS := $(FUZZ_SWITCHD_OWN:%=$(BUILD_ROOT)/fuzz/obj/%.o)
FUZZ_SWITCHD_SRCS := $(filter-out ovs-plugin/ofctrl.c ovs-plugin/ovsdb.c,\
                                  $(SWITCHD_SRCS)) \
                     $(filter-out common/xalloc.c,$(FUZZ_COMMON_SRCS))
FUZZ_SWITCHD_CFLAGS = -std=gnu11 $(OVS_CFLAGS) $(JSONC_CFLAGS)
$(FUZZ_SWITCHD_OBJS): $(BUILD_ROOT)/fuzz/obj/%.o: tests/fuzz/%.c \
                      $(wildcard common/*.h ovs-plugin/*.h tests/fuzz/*.h)
	@mkdir -p $(@D)
	$(CLANG) $(filter-out -fsanitize=%,$(FUZZ_CFLAGS)) \
	    -fsanitize=address,undefined $(FUZZ_SWITCHD_CFLAGS) -c $< -o $@
FUZZ_TARGETS += $(BUILD_ROOT)/fuzz/fuzz-switchd
$(BUILD_ROOT)/fuzz/fuzz-switchd: $(FUZZ_SWITCHD_OBJS) $(FUZZ_SWITCHD_SRCS) \
                                 $(BUILD)/lib/libopenvswitch-appfw.a \
                                 $(wildcard common/*.h ovs-plugin/*.h)
	@mkdir -p $(@D)
	$(CLANG) $(FUZZ_CFLAGS) $(FUZZ_SWITCHD_CFLAGS) $(filter %.o %.c,$^) \
	    -o $@ -Wl,--wrap=time_msec $(OVS_LIBS) $(JSONC_LIBS) $(CRYPTO_LIBS)

BENCHES += $(BUILD)/tests/bench/bench-msg
$(BUILD)/tests/bench/bench-msg: $(BUILD)/tests/bench/bench-msg.o \
                                $(BUILD)/tests/bench/bench.o $(APPID_LIB) \
                                $(COMMON_LIB)
	$(CC) $(LDFLAGS) $< $(BUILD)/tests/bench/bench.o -o $@ $(APPID_LIBS) -lm

FUZZ_TARGETS += $(BUILD_ROOT)/fuzz/fuzz-feed
$(BUILD_ROOT)/fuzz/fuzz-feed: tests/fuzz/fuzz-feed.c $(FUZZ_COMMON_SRCS) \
                              $(APPID_LIB_SRCS) $(wildcard common/*.h appid/*.h)
	@mkdir -p $(@D)
	$(CLANG) $(FUZZ_CFLAGS) -Iappid/include $(JSONC_CFLAGS) \
	    $(filter %.c,$^) -o $@ $(JSONC_LIBS) $(CRYPTO_LIBS) \
	    $(call pkg,--libs sqlite3)

BENCHES += $(BUILD)/tests/bench/bench-appid
CPPFLAGS_tests += -Iappid/include
$(BUILD)/tests/bench/bench-appid: $(BUILD)/tests/bench/bench-appid.o \
                                  $(BUILD)/tests/bench/bench.o $(APPID_LIB) \
                                  $(COMMON_LIB)
	$(CC) $(LDFLAGS) $< $(BUILD)/tests/bench/bench.o -o $@ $(APPID_LIBS) -lm

BENCHES += $(BUILD)/tests/bench/bench-policy tests/bench/bench-secd.sh \
           tests/bench/bench-flood.sh
$(BUILD)/tests/bench/bench-policy: $(BUILD)/tests/bench/bench-policy.o \
                                   $(BUILD)/tests/bench/bench.o $(SECVM_LIB) \
                                   $(APPID_LIB) $(COMMON_LIB)
	$(CC) $(LDFLAGS) $< $(BUILD)/tests/bench/bench.o -o $@ $(SECVM_LIBS) -lm

# The nng client for secd's integration test and benchmark.
SECD_LOAD := $(BUILD)/tests/secd/secd-load
PROGRAMS += $(SECD_LOAD)
$(SECD_LOAD): $(BUILD)/tests/secd/secd-load.o $(BUILD)/tests/bench/bench.o \
              $(SECVM_LIB) $(APPID_LIB) $(COMMON_LIB)
	$(CC) $(LDFLAGS) $< $(BUILD)/tests/bench/bench.o -o $@ $(SECVM_LIBS) -lm

PROGRAMS += $(BUILD)/tests/switchd/guest-sim
$(BUILD)/tests/switchd/guest-sim: $(BUILD)/tests/switchd/guest-sim.o \
                                  $(BUILD)/tests/bench/bench.o $(APPID_LIB) \
                                  $(COMMON_LIB)
	$(CC) $(LDFLAGS) $^ -o $@ $(APPID_LIBS) -lm

# The guest agent's test tools: the host's side of its channel, a client
# that connects through raw system calls and one that connects and then
# executes another program (static).
PROGRAMS += $(BUILD)/tests/agent/host-sim $(BUILD)/tests/agent/rawconnect \
            $(BUILD)/tests/agent/fetch $(BUILD)/tests/agent/connexec \
            $(BUILD)/tests/agent/protoconnect
$(BUILD)/tests/agent/host-sim: $(BUILD)/tests/agent/host-sim.o $(COMMON_LIB)
	$(CC) $(LDFLAGS) $^ -o $@ $(JSONC_LIBS) $(CRYPTO_LIBS)
# Static even in SAN=1 builds (the sanitizers do not link statically).
$(BUILD)/tests/agent/rawconnect: tests/agent/rawconnect.c
	@mkdir -p $(@D)
	$(CC) -std=c11 -D_GNU_SOURCE -O2 $(WARN) -static $< -o $@
$(BUILD)/tests/agent/protoconnect: tests/agent/protoconnect.c
	@mkdir -p $(@D)
	$(CC) -std=c11 -D_GNU_SOURCE -O2 $(WARN) -static $< -o $@
$(BUILD)/tests/agent/fetch: tests/agent/fetch.c
	@mkdir -p $(@D)
	$(CC) -std=c11 -D_GNU_SOURCE -O2 $(WARN) -static $< -o $@
$(BUILD)/tests/agent/connexec: tests/agent/connexec.c
	@mkdir -p $(@D)
	$(CC) -std=c11 -D_GNU_SOURCE -O2 $(WARN) -static $< -o $@
BENCHES += tests/bench/bench-agent.sh tests/bench/bench-agent-qemu.sh
PROGRAMS += $(BUILD)/tests/agent/connbench
$(BUILD)/tests/agent/connbench: $(BUILD)/tests/agent/connbench.o \
                                $(BUILD)/tests/bench/bench.o \
                                $(BUILD)/guest-agent/identity.o $(APPID_LIB) \
                                $(COMMON_LIB)
	$(CC) $(LDFLAGS) $^ -o $@ $(APPID_LIBS) -lm

# connbench for the test guest's benchmark (static: the guest has no libc).
ifneq ($(SAN),1)
PROGRAMS += $(BUILD_ROOT)/static/connbench
$(BUILD_ROOT)/static/connbench: $(BUILD)/tests/agent/connbench.o \
                                $(BUILD)/tests/bench/bench.o \
                                $(BUILD)/guest-agent/identity.o $(APPID_LIB) \
                                $(COMMON_LIB)
	@mkdir -p $(@D)
	$(CC) -static $(filter %.o %.a,$^) -o $@ -lsqlite3 -ljson-c -lcrypto \
	    -lm -lpthread 2>$@.log || { cat $@.log; rm -f $@.log; exit 1; }
	@rm -f $@.log

# A compromised guest's tools, for the end-to-end tests (static too).
PROGRAMS += $(BUILD_ROOT)/static/hostile
$(BUILD_ROOT)/static/hostile: $(BUILD)/tests/deploy/hostile.o $(COMMON_LIB)
	@mkdir -p $(@D)
	$(CC) -static $(filter %.o %.a,$^) -o $@ -ljson-c -lcrypto -lm \
	    -lpthread 2>$@.log || { cat $@.log; rm -f $@.log; exit 1; }
	@rm -f $@.log
endif

# appfw-agent's core (guest-agent/agent.c, unchanged) over a guest kernel in
# memory: tests/fuzz/agent-fakes.c stands in for the modules that talk to
# the kernel or read /proc, and for common/util.c's clocks.
FUZZ_AGENT_FAKED := $(patsubst %,guest-agent/%.c,\
                      hooks nfq sockdiag rules pingsock identity) common/util.c
FUZZ_AGENT_SRCS := $(filter-out $(FUZZ_AGENT_FAKED),\
                     $(GA_LIB_SRCS) $(FUZZ_COMMON_SRCS))
FUZZ_TARGETS += $(BUILD_ROOT)/fuzz/fuzz-agent
$(BUILD_ROOT)/fuzz/fuzz-agent: tests/fuzz/fuzz-agent.c tests/fuzz/agent-fakes.c \
                               $(FUZZ_AGENT_SRCS) tests/fuzz/agent-fakes.h \
                               $(wildcard common/*.h guest-agent/*.h \
                                 guest-agent/bpf/*.h)
	@mkdir -p $(@D)
	$(CLANG) $(FUZZ_CFLAGS) $(JSONC_CFLAGS) $(filter %.c,$^) -o $@ \
	    $(JSONC_LIBS) $(CRYPTO_LIBS)
