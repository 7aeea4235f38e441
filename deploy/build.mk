# deploy/: the libvirt hook (C, libxml2 for the domain XML).

XML_CFLAGS := $(call pkg,--cflags libxml-2.0)
XML_LIBS := $(call pkg,--libs libxml-2.0)
CPPFLAGS_deploy := $(XML_CFLAGS)

VIRT_LIBS := $(call pkg,--libs libvirt)

PROGRAMS += $(BUILD)/deploy/appfw-vmctl
$(BUILD)/deploy/appfw-vmctl: $(BUILD)/deploy/libvirt/vmctl.o $(COMMON_LIB)
	$(CC) $(LDFLAGS) $^ -o $@ $(VIRT_LIBS) $(XML_LIBS) $(JSONC_LIBS)

PROGRAMS += $(BUILD)/deploy/appfw-libvirt-hook
$(BUILD)/deploy/appfw-libvirt-hook: $(BUILD)/deploy/libvirt/hook.o \
                                    $(COMMON_LIB)
	$(CC) $(LDFLAGS) $^ -o $@ $(XML_LIBS) $(JSONC_LIBS)

# --- make install [DESTDIR=...] [PREFIX=/usr/local]
# Binaries, the libvirt hook, systemd units, default configuration
# (never over an existing file), man pages (help2man, from --help) and
# the docs.  The agent installed is the static build (for guests).
PREFIX ?= /usr/local
SBINDIR := $(PREFIX)/sbin
BINDIR := $(PREFIX)/bin
LIBEXECDIR := $(PREFIX)/libexec/appfw
MANDIR := $(PREFIX)/share/man
DOCDIR := $(PREFIX)/share/doc/appfw
SYSCONFDIR := $(if $(filter /usr,$(PREFIX)),/etc,$(PREFIX)/etc)
UNITDIR := $(if $(filter /usr,$(PREFIX)),/lib/systemd/system,$(PREFIX)/lib/systemd/system)

MAN8 := appfw-secd appfw-switchd appfw-agent appfw-libvirt-hook appfw-vmctl
MAN1 := appfwctl appid
MAN_PAGES := $(MAN8:%=$(BUILD_ROOT)/man/%.8) $(MAN1:%=$(BUILD_ROOT)/man/%.1)
man_bin = $(firstword $(filter %/$(1),$(PROGRAMS)))

$(BUILD_ROOT)/man/%.8 $(BUILD_ROOT)/man/%.1: all
	@mkdir -p $(@D)
	help2man --no-info --no-discard-stderr --version-string=0.1 \
	    --section=$(subst .,,$(suffix $@)) \
	    --name="$$($(call man_bin,$*) --help | sed -n 2p | sed 's/[.:]$$//')" \
	    $(call man_bin,$*) >$@.tmp && mv $@.tmp $@

.PHONY: install
install: all $(MAN_PAGES)
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR) \
	    $(DESTDIR)$(LIBEXECDIR) $(DESTDIR)$(MANDIR)/man8 \
	    $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(DOCDIR) \
	    $(DESTDIR)$(SYSCONFDIR)/appfw $(DESTDIR)$(UNITDIR) \
	    $(DESTDIR)$(SYSCONFDIR)/libvirt/hooks/qemu.d
	install -m 755 $(BUILD)/security-vm/appfw-secd \
	    $(BUILD)/ovs-plugin/appfw-switchd $(BUILD_ROOT)/static/appfw-agent \
	    $(BUILD)/deploy/appfw-vmctl $(DESTDIR)$(SBINDIR)
	install -m 755 $(BUILD)/security-vm/appfwctl $(BUILD)/appid/appid \
	    $(DESTDIR)$(BINDIR)
	install -m 755 $(BUILD)/deploy/appfw-libvirt-hook $(DESTDIR)$(LIBEXECDIR)
	ln -sf $(LIBEXECDIR)/appfw-libvirt-hook \
	    $(DESTDIR)$(SYSCONFDIR)/libvirt/hooks/qemu.d/appfw
	for u in appfw-secd appfw-switchd appfw-agent; do \
	    sed -e 's|@SBINDIR@|$(SBINDIR)|g' \
	        -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' \
	        -e 's|@DOCDIR@|$(DOCDIR)|g' deploy/$$u.service \
	        >$(DESTDIR)$(UNITDIR)/$$u.service; \
	done
	for c in secd switchd agent libvirt-hook; do \
	    f=$(DESTDIR)$(SYSCONFDIR)/appfw/$$c.conf; \
	    [ -e $$f ] || install -m 644 deploy/$$c.conf $$f; \
	done
	install -m 644 $(MAN8:%=$(BUILD_ROOT)/man/%.8) $(DESTDIR)$(MANDIR)/man8
	install -m 644 $(MAN1:%=$(BUILD_ROOT)/man/%.1) $(DESTDIR)$(MANDIR)/man1
	install -m 644 README.md docs/*.md deploy/policy-example.json \
	    $(DESTDIR)$(DOCDIR)

# --- make deb: the guest agent's Debian package, in build/deb/.
.PHONY: deb
deb: all $(BUILD_ROOT)/man/appfw-agent.8
	deploy/agent-deb.sh $(BUILD_ROOT)/static/appfw-agent $(BUILD_ROOT)/deb
