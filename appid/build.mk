# appid/: libappid (the signature database) and the appid tool.

APPID_LIB_SRCS := appid/appid.c appid/index.c appid/pattern.c \
                  appid/curated.c appid/dpkg.c appid/feed.c
APPID_LIB := $(BUILD)/lib/libappid.a
APPID_DATA_DIR ?= $(CURDIR)/appid/data
CPPFLAGS_appid := -Iappid/include $(JSONC_CFLAGS) \
                  -DAPPID_DATA_DIR='"$(APPID_DATA_DIR)"'
APPID_LIBS := $(APPID_LIB) $(COMMON_LIB) $(call pkg,--libs sqlite3) \
              $(JSONC_LIBS) $(call pkg,--libs libcrypto)

$(APPID_LIB): $(APPID_LIB_SRCS:%.c=$(BUILD)/%.o)

PROGRAMS += $(BUILD)/appid/appid
$(BUILD)/appid/appid: $(BUILD)/appid/main.o $(APPID_LIB) $(COMMON_LIB)
	$(CC) $(LDFLAGS) $< -o $@ $(APPID_LIBS)

APPID_TESTS := $(patsubst appid/tests/%.c,$(BUILD)/appid/tests/%,\
                 $(wildcard appid/tests/test-*.c))
UNIT_TESTS += $(APPID_TESTS)

$(APPID_TESTS): $(BUILD)/appid/tests/%: $(BUILD)/appid/tests/%.o \
                $(APPID_LIB) $(COMMON_LIB)
	$(CC) $(LDFLAGS) $< -o $@ $(APPID_LIBS) $(CMOCKA_LIBS)
