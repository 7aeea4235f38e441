# guest-agent/: appfw-agent, the in-guest socket interceptor.
#
# The kernel half is one eBPF object (guest-agent/bpf/agent.bpf.c), built
# with clang and embedded in the agent through a bpftool skeleton; only
# hooks.c includes the skeleton and libbpf.

GA_LIB_SRCS := $(filter-out guest-agent/main.c,$(wildcard guest-agent/*.c))
GA_LIB := $(BUILD)/lib/libappfw-agent.a
CPPFLAGS_guest-agent := $(JSONC_CFLAGS) -I$(BUILD)/guest-agent
GA_LIBS := $(GA_LIB) $(COMMON_LIB) $(JSONC_LIBS) $(CRYPTO_LIBS) \
           $(call pkg,--libs libbpf)

$(GA_LIB): $(GA_LIB_SRCS:%.c=$(BUILD)/%.o)

# The BPF object does not depend on SAN: it runs in the kernel.
GA_BPF_OBJ := $(BUILD)/guest-agent/agent.bpf.o
GA_SKEL := $(BUILD)/guest-agent/agent.skel.h
$(GA_BPF_OBJ): guest-agent/bpf/agent.bpf.c $(wildcard guest-agent/bpf/*.h)
	@mkdir -p $(@D)
	$(CLANG) -g -O2 -target bpf -D__TARGET_ARCH_x86 -Wall -Werror \
	    -I/usr/include/x86_64-linux-gnu -c $< -o $@
$(GA_SKEL): $(GA_BPF_OBJ)
	bpftool gen skeleton $< name appfw_agent_bpf >$@.tmp && mv $@.tmp $@
$(BUILD)/guest-agent/hooks.o: $(GA_SKEL)

GA_TESTS := $(patsubst guest-agent/tests/%.c,$(BUILD)/guest-agent/tests/%,\
              $(wildcard guest-agent/tests/test-*.c))
UNIT_TESTS += $(GA_TESTS)
$(GA_TESTS): $(BUILD)/guest-agent/tests/%: $(BUILD)/guest-agent/tests/%.o \
             $(GA_LIB) $(COMMON_LIB)
	$(CC) $(LDFLAGS) $< -o $@ $(GA_LIBS) $(CMOCKA_LIBS)

PROGRAMS += $(BUILD)/guest-agent/appfw-agent
$(BUILD)/guest-agent/appfw-agent: $(BUILD)/guest-agent/main.o $(GA_LIB) \
                                  $(COMMON_LIB)
	$(CC) $(LDFLAGS) $< -o $@ $(GA_LIBS)

# The self-contained agent for guest images: statically linked (glibc,
# libbpf, libelf, zlib, json-c, libcrypto), so a busybox initramfs needs
# nothing else.  Not in SAN=1 builds: the sanitizers do not link
# statically.
ifneq ($(SAN),1)
GA_STATIC := $(BUILD_ROOT)/static/appfw-agent
PROGRAMS += $(GA_STATIC)
$(GA_STATIC): $(BUILD)/guest-agent/main.o $(GA_LIB) $(COMMON_LIB)
	@mkdir -p $(@D)
	$(CC) -static $< -o $@ $(GA_LIB) $(COMMON_LIB) -ljson-c -lcrypto \
	    -lbpf -lelf -lz 2>$@.log || { cat $@.log; rm -f $@.log; exit 1; }
	@# libcrypto warns about resolver functions the agent never calls.
	@grep -v -e 'statically linked applications' -e 'in function' \
	    $@.log || true
	@rm -f $@.log
endif
