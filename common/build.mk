# common/: libappfw-common, the wire protocol and daemon plumbing.

COMMON_SRCS := $(wildcard common/*.c)
COMMON_LIB := $(BUILD)/lib/libappfw-common.a
CPPFLAGS_common := $(JSONC_CFLAGS)
CPPFLAGS_tests := $(JSONC_CFLAGS)

$(COMMON_LIB): $(COMMON_SRCS:%.c=$(BUILD)/%.o)

COMMON_TESTS := $(patsubst common/tests/%.c,$(BUILD)/common/tests/%,\
                  $(wildcard common/tests/test-*.c))
UNIT_TESTS += $(COMMON_TESTS)

$(COMMON_TESTS): $(BUILD)/common/tests/%: $(BUILD)/common/tests/%.o \
                 $(COMMON_LIB)
	$(CC) $(LDFLAGS) $^ -o $@ $(CMOCKA_LIBS) $(JSONC_LIBS) $(CRYPTO_LIBS)

# test-file sees every fsync() of common/file.c (see the test).
$(BUILD)/common/tests/test-file: LDFLAGS += -Wl,--wrap=fsync
