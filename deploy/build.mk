# deploy/: the libvirt hook (C, libxml2 for the domain XML).

XML_CFLAGS := $(call pkg,--cflags libxml-2.0)
XML_LIBS := $(call pkg,--libs libxml-2.0)
CPPFLAGS_deploy := $(XML_CFLAGS)

PROGRAMS += $(BUILD)/deploy/appfw-libvirt-hook
$(BUILD)/deploy/appfw-libvirt-hook: $(BUILD)/deploy/libvirt/hook.o \
                                    $(COMMON_LIB)
	$(CC) $(LDFLAGS) $^ -o $@ $(XML_LIBS) $(JSONC_LIBS)
