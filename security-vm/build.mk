# security-vm/: appfw-secd (decisions, policy, store) and appfwctl.

SECVM_LIB_SRCS := security-vm/policy.c security-vm/store.c \
                  security-vm/secd.c security-vm/console.c \
                  security-vm/admin.c security-vm/quota.c \
                  security-vm/naming.c security-vm/resolver.c \
                  security-vm/console-naming.c security-vm/sites.c \
                  security-vm/events.c security-vm/hypervisor.c
SECVM_LIB := $(BUILD)/lib/libsecvm.a
CPPFLAGS_security-vm := -Iappid/include $(JSONC_CFLAGS)
SECVM_LIBS := $(SECVM_LIB) $(APPID_LIBS) -lnng -lpthread

$(SECVM_LIB): $(SECVM_LIB_SRCS:%.c=$(BUILD)/%.o)

SECVM_TESTS := $(patsubst security-vm/tests/%.c,$(BUILD)/security-vm/tests/%,\
                 $(wildcard security-vm/tests/test-*.c))
UNIT_TESTS += $(SECVM_TESTS)

$(SECVM_TESTS): $(BUILD)/security-vm/tests/%: \
                $(BUILD)/security-vm/tests/%.o $(SECVM_LIB) $(APPID_LIB) \
                $(COMMON_LIB)
	$(CC) $(LDFLAGS) $< -o $@ $(SECVM_LIBS) $(CMOCKA_LIBS)

PROGRAMS += $(BUILD)/security-vm/appfw-secd $(BUILD)/security-vm/appfwctl
$(BUILD)/security-vm/appfw-secd: $(BUILD)/security-vm/main.o $(SECVM_LIB) \
                                 $(APPID_LIB) $(COMMON_LIB)
	$(CC) $(LDFLAGS) $< -o $@ $(SECVM_LIBS)

$(BUILD)/security-vm/appfwctl: $(BUILD)/security-vm/appfwctl.o \
                               $(SECVM_LIB) $(APPID_LIB) $(COMMON_LIB)
	$(CC) $(LDFLAGS) $< -o $@ $(SECVM_LIBS)
