# ovs-plugin/: appfw-switchd, the hypervisor's flow programmer and channel
# relay, linked against libopenvswitch (built by `make deps`).

# flowgen, reset and zone are pure: their tests link neither OVS nor nng.
OVSP_PURE_OBJS := $(BUILD)/ovs-plugin/flowgen.o $(BUILD)/ovs-plugin/reset.o \
                  $(BUILD)/ovs-plugin/zone.o

# OVS's headers go in as system headers: our warnings are for our code.
OVS_CFLAGS := -isystem $(OVS_DIR) -isystem $(OVS_DIR)/include \
              -isystem $(OVS_DIR)/lib
OVS_LIBS := $(BUILD)/lib/libopenvswitch-appfw.a -latomic -lm -lssl \
            -lcrypto -lpthread

# OVS's JSON library has a json_object_put() of its own, and json-c's
# would be interposed by it (json-c calls its own through the PLT).
# appfw's copy of the archive renames OVS's.
$(BUILD)/lib/libopenvswitch-appfw.a: $(OVS_DIR)/lib/.libs/libopenvswitch.a
	@mkdir -p $(@D)
	objcopy --redefine-sym json_object_put=ovs_json_object_put $< $@
# OVS's list macros need typeof: GNU C for this component.
CPPFLAGS_ovs-plugin := -std=gnu11 $(OVS_CFLAGS) $(JSONC_CFLAGS)

OVSP_TESTS := $(patsubst ovs-plugin/tests/%.c,$(BUILD)/ovs-plugin/tests/%,\
                $(wildcard ovs-plugin/tests/test-*.c))
UNIT_TESTS += $(OVSP_TESTS)

$(OVSP_TESTS): $(BUILD)/ovs-plugin/tests/%: $(BUILD)/ovs-plugin/tests/%.o \
               $(OVSP_PURE_OBJS) $(COMMON_LIB)
	$(CC) $(LDFLAGS) $^ -o $@ $(CMOCKA_LIBS) $(JSONC_LIBS) $(CRYPTO_LIBS)

# libopenvswitch comes before libappfw-common on the link line: OVS defines
# the x* allocators too, and the linker then leaves common/xalloc.o out.
SWITCHD_SRCS := ovs-plugin/switchd.c ovs-plugin/ofctrl.c ovs-plugin/ovsdb.c \
                ovs-plugin/relay.c ovs-plugin/reset.c ovs-plugin/flowgen.c \
                ovs-plugin/zone.c
PROGRAMS += $(BUILD)/ovs-plugin/appfw-switchd
$(BUILD)/ovs-plugin/appfw-switchd: $(BUILD)/ovs-plugin/main.o \
                                   $(SWITCHD_SRCS:%.c=$(BUILD)/%.o) \
                                   $(BUILD)/lib/libopenvswitch-appfw.a \
                                   $(COMMON_LIB)
	$(CC) $(LDFLAGS) $(filter %.o,$^) -o $@ $(OVS_LIBS) $(COMMON_LIB) \
	    $(JSONC_LIBS) -lnng -lpthread $(CRYPTO_LIBS)

# The baseline of the switchd benchmark (tests/bench/bench-switchd.sh).
PROGRAMS += $(BUILD)/ovs-plugin/tests/ofmod-bench
BENCHES += tests/bench/bench-switchd.sh tests/bench/bench-pipeline.sh \
    tests/bench/bench-revoke.sh
$(BUILD)/ovs-plugin/tests/ofmod-bench: \
        $(BUILD)/ovs-plugin/tests/ofmod-bench.o $(BUILD)/tests/bench/bench.o \
        $(BUILD)/lib/libopenvswitch-appfw.a $(APPID_LIB) $(COMMON_LIB)
	$(CC) $(LDFLAGS) $(filter %.o,$^) -o $@ $(OVS_LIBS) $(APPID_LIBS) -lm

# Colliding VM UUIDs for the switchd integration test (zone.h).
PROGRAMS += $(BUILD)/ovs-plugin/tests/zone-hash
$(BUILD)/ovs-plugin/tests/zone-hash: $(BUILD)/ovs-plugin/tests/zone-hash.o \
                                     $(BUILD)/lib/libopenvswitch-appfw.a
	$(CC) $(LDFLAGS) $< -o $@ $(OVS_LIBS)
