/* appfw-vmctl: puts an existing libvirt domain under appfw, or takes it
 * back out, through the libvirt API.
 *
 *   appfw-vmctl [OPTIONS] [--address [MAC=]ADDR]... attach DOMAIN
 *       adds the virtio-serial channel org.appfw.agent.0 (a unix socket)
 *       and, on each interface on the integration bridge, the Open vSwitch
 *       virtualport, to the domain's persistent definition; a running
 *       domain also gets the channel at once (hotplug).  --address gives
 *       the VM's addresses for port security, kept in the domain's
 *       <metadata> (<appfw:vm><appfw:interface mac=... addresses=.../>),
 *       which the libvirt hook hands to appfw-switchd at each start
 *   appfw-vmctl [OPTIONS] detach DOMAIN
 *       removes the channel and the addresses (interfaces stay on the
 *       bridge)
 *   appfw-vmctl [OPTIONS] show DOMAIN
 *       says whether the domain is under appfw
 *
 * Idempotent: attaching an attached domain changes nothing.  The only
 * module that talks to libvirt. */
#include <arpa/inet.h>
#include <errno.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xpath.h>
#include <libxml/xpathInternals.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/util.h"

#define CHANNEL_NAME "org.appfw.agent.0"
#define METADATA_NS "urn:x-appfw:libvirt:1"
#define MAX_ADDRS 16

struct opts {
    const char *uri, *bridge, *channel_dir;
    bool dump;
    const char *addrs[MAX_ADDRS];   /* --address: "ADDR" or "MAC=ADDR" */
    size_t n_addrs;
};

static void
usage(void)
{
    printf("Usage: appfw-vmctl [OPTIONS] attach|detach|show DOMAIN\n"
           "Puts a libvirt domain under appfw (the %s channel and the Open\n"
           "vSwitch virtualport on the integration bridge), or takes it "
           "back out.\n\n"
           "  --connect URI        libvirt connection (default: "
           "qemu:///system)\n"
           "  --bridge BRIDGE      the integration bridge (default: "
           "br-int)\n"
           "  --channel-dir DIR    put the channel's socket in DIR as "
           "UUID.sock\n"
           "                       (default: libvirt chooses the path)\n"
           "  --address [MAC=]ADDR the VM's IPv4/IPv6 address or prefix on "
           "its interface\n"
           "                       with MAC (MAC= may be left out if it "
           "has one on\n"
           "                       the bridge), for port security; "
           "repeatable (default:\n"
           "                       appfw-switchd learns them)\n"
           "  --dump               print the resulting definition\n"
           "  -h, --help           this help\n", CHANNEL_NAME);
}

static char *
last_error(void)
{
    virErrorPtr e = virGetLastError();
    return xstrdup(e && e->message ? e->message : "unknown libvirt error");
}

/* The 'attr' attribute of 'node''s first child element named 'child'
 * (malloc'd), or NULL. */
static char *
xpath_prop(xmlNodePtr node, const char *child, const char *attr)
{
    for (xmlNodePtr k = node->children; k; k = k->next) {
        if (k->type == XML_ELEMENT_NODE
            && !xmlStrcmp(k->name, (const xmlChar *) child)) {
            xmlChar *v = xmlGetProp(k, (const xmlChar *) attr);
            char *r = v ? xstrdup((const char *) v) : NULL;
            xmlFree(v);
            return r;
        }
    }
    return NULL;
}

static xmlXPathObjectPtr
find(xmlXPathContextPtr ctx, const char *expr)
{
    return xmlXPathEvalExpression((const xmlChar *) expr, ctx);
}

static int
count(xmlXPathObjectPtr o)
{
    return o && o->nodesetval ? o->nodesetval->nodeNr : 0;
}

static const char channel_xpath[] =
    "/domain/devices/channel[@type='unix'][target/@name='" CHANNEL_NAME
    "']";

/* The channel element to add, as XML text. */
static char *
channel_xml(const struct opts *o, const char *uuid)
{
    if (o->channel_dir) {
        return xasprintf("<channel type='unix'><source mode='bind' "
                         "path='%s/%s.sock'/><target type='virtio' "
                         "name='" CHANNEL_NAME "'/></channel>",
                         o->channel_dir, uuid);
    }
    return xstrdup("<channel type='unix'><source mode='bind'/>"
                   "<target type='virtio' name='" CHANNEL_NAME "'/>"
                   "</channel>");
}

static const char metadata_xpath[] = "/domain/metadata/appfw:vm";

/* Removes appfw's metadata element from 'ctx''s document; returns true if
 * there was one. */
static bool
remove_metadata(xmlXPathContextPtr ctx)
{
    xmlXPathObjectPtr o = find(ctx, metadata_xpath);
    bool found = count(o) > 0;
    for (int i = 0; i < count(o); i++) {
        xmlUnlinkNode(o->nodesetval->nodeTab[i]);
        xmlFreeNode(o->nodesetval->nodeTab[i]);
    }
    xmlXPathFreeObject(o);
    return found;
}

/* Whether 's' is an IPv4 or IPv6 address, or one with "/LEN". */
static bool
is_address(const char *s)
{
    char buf[64];
    unsigned char bin[16];
    size_t len = strcspn(s, "/");
    if (len >= sizeof buf) {
        return false;
    }
    memcpy(buf, s, len);
    buf[len] = '\0';
    return (inet_pton(AF_INET, buf, bin) == 1
            || inet_pton(AF_INET6, buf, bin) == 1);
}

/* Puts --address into the domain's <metadata>: one <appfw:interface> per
 * MAC, replacing what was there.  'ifaces' are the domain's interfaces on
 * the bridge.  Returns NULL or a malloc'd error. */
static char *
set_metadata(const struct opts *o, xmlDocPtr doc, xmlXPathContextPtr ctx,
             xmlXPathObjectPtr ifaces)
{
    char *macs[MAX_ADDRS], *lists[MAX_ADDRS];
    size_t n = 0;
    char *error = NULL;
    for (size_t i = 0; !error && i < o->n_addrs; i++) {
        const char *a = o->addrs[i];
        const char *eq = strchr(a, '=');
        char *mac;
        if (eq) {
            mac = xasprintf("%.*s", (int) (eq - a), a);
            a = eq + 1;
        } else if (count(ifaces) == 1) {
            mac = xpath_prop(ifaces->nodesetval->nodeTab[0], "mac",
                             "address");
            if (!mac) {
                error = xstrdup("the interface on the bridge has no MAC");
                break;
            }
        } else {
            error = xasprintf("--address %s: the domain has %d interfaces "
                              "on %s: say which (MAC=ADDR)", a,
                              count(ifaces), o->bridge);
            break;
        }
        if (!is_address(a)) {
            error = xasprintf("--address %s: not an IPv4 or IPv6 address "
                              "or prefix", a);
            free(mac);
            break;
        }
        size_t j = 0;
        while (j < n && strcasecmp(macs[j], mac)) {
            j++;
        }
        if (j == n) {
            macs[n] = mac;
            lists[n++] = xstrdup(a);
        } else {
            char *t = xasprintf("%s %s", lists[j], a);
            free(lists[j]);
            lists[j] = t;
            free(mac);
        }
    }
    if (!error) {
        remove_metadata(ctx);
        xmlXPathObjectPtr md = find(ctx, "/domain/metadata");
        xmlNodePtr parent = (count(md) ? md->nodesetval->nodeTab[0]
                             : xmlNewChild(xmlDocGetRootElement(doc), NULL,
                                           (const xmlChar *) "metadata",
                                           NULL));
        xmlXPathFreeObject(md);
        xmlNodePtr vm = xmlNewChild(parent, NULL, (const xmlChar *) "vm",
                                    NULL);
        xmlNsPtr ns = xmlNewNs(vm, (const xmlChar *) METADATA_NS,
                               (const xmlChar *) "appfw");
        xmlSetNs(vm, ns);
        for (size_t j = 0; j < n; j++) {
            xmlNodePtr e = xmlNewChild(vm, ns,
                                       (const xmlChar *) "interface", NULL);
            xmlNewProp(e, (const xmlChar *) "mac", (const xmlChar *) macs[j]);
            xmlNewProp(e, (const xmlChar *) "addresses",
                       (const xmlChar *) lists[j]);
        }
    }
    for (size_t j = 0; j < n; j++) {
        free(macs[j]);
        free(lists[j]);
    }
    return error;
}

/* Edits 'xml' (a domain definition): adds or removes what appfw needs.
 * Sets '*out' to the new definition (NULL if unchanged) and '*notes' to
 * what was done.  Returns NULL or a malloc'd error. */
static char *
edit(const struct opts *o, bool attach, const char *xml, const char *uuid,
     char **out, char **notes)
{
    *out = NULL;
    *notes = NULL;
    xmlDocPtr doc = xmlReadMemory(xml, strlen(xml), "domain.xml", NULL,
                                  XML_PARSE_NONET | XML_PARSE_NOERROR);
    if (!doc) {
        return xstrdup("libvirt's domain XML does not parse");
    }
    xmlXPathContextPtr ctx = xmlXPathNewContext(doc);
    xmlXPathRegisterNs(ctx, (const xmlChar *) "appfw",
                       (const xmlChar *) METADATA_NS);
    xmlXPathObjectPtr devs = find(ctx, "/domain/devices");
    xmlXPathObjectPtr chans = find(ctx, channel_xpath);
    char *error = NULL;
    bool changed = false;
    char *bridge_xpath = xasprintf("/domain/devices/interface[@type="
                                   "'bridge'][source/@bridge='%s']",
                                   o->bridge);
    xmlXPathObjectPtr ifaces = find(ctx, bridge_xpath);
    free(bridge_xpath);
    char *n = xstrdup("");

    if (!count(devs)) {
        error = xstrdup("the domain has no <devices>");
    } else if (attach) {
        if (count(chans)) {
            char *t = xasprintf("%schannel %s already there; ", n,
                                CHANNEL_NAME);
            free(n);
            n = t;
        } else {
            char *cx = channel_xml(o, uuid);
            xmlDocPtr cdoc = xmlReadMemory(cx, strlen(cx), "c.xml", NULL, 0);
            free(cx);
            xmlNodePtr c = xmlDocCopyNode(xmlDocGetRootElement(cdoc), doc, 1);
            xmlAddChild(devs->nodesetval->nodeTab[0], c);
            xmlFreeDoc(cdoc);
            changed = true;
            char *t = xasprintf("%sadded channel %s; ", n, CHANNEL_NAME);
            free(n);
            n = t;
        }
        int added = 0;
        for (int i = 0; i < count(ifaces); i++) {
            xmlNodePtr ifc = ifaces->nodesetval->nodeTab[i];
            bool has = false;
            for (xmlNodePtr k = ifc->children; k; k = k->next) {
                if (k->type == XML_ELEMENT_NODE
                    && !xmlStrcmp(k->name, (const xmlChar *) "virtualport")) {
                    has = true;
                }
            }
            if (!has) {
                xmlNodePtr vp = xmlNewChild(ifc, NULL,
                                            (const xmlChar *) "virtualport",
                                            NULL);
                xmlNewProp(vp, (const xmlChar *) "type",
                           (const xmlChar *) "openvswitch");
                added++;
                changed = true;
            }
        }
        char *t = (count(ifaces)
                   ? xasprintf("%s%d of %d interfaces on %s got the Open "
                               "vSwitch virtualport", n, added,
                               count(ifaces), o->bridge)
                   : xasprintf("%sno interface on bridge %s: the VM's "
                               "traffic does not pass appfw-switchd", n,
                               o->bridge));
        free(n);
        n = t;
        if (o->n_addrs) {
            error = set_metadata(o, doc, ctx, ifaces);
            changed = true;
            t = xasprintf("%s; addresses for port security set", n);
            free(n);
            n = t;
        }
    } else {
        if (remove_metadata(ctx)) {
            changed = true;
        }
        for (int i = 0; i < count(chans); i++) {
            xmlNodePtr c = chans->nodesetval->nodeTab[i];
            xmlUnlinkNode(c);
            xmlFreeNode(c);
            changed = true;
        }
        free(n);
        n = xstrdup(changed ? "removed channel " CHANNEL_NAME
                    : "no appfw channel to remove");
    }
    if (!error && changed) {
        xmlChar *mem;
        int len;
        xmlDocDumpMemory(doc, &mem, &len);
        *out = xstrdup((const char *) mem);
        xmlFree(mem);
    }
    xmlXPathFreeObject(ifaces);
    xmlXPathFreeObject(chans);
    xmlXPathFreeObject(devs);
    xmlXPathFreeContext(ctx);
    xmlFreeDoc(doc);
    if (error) {
        free(n);
    } else {
        *notes = n;
    }
    return error;
}

static char *
run(const struct opts *o, const char *cmd, const char *name)
{
    virConnectPtr conn = virConnectOpen(o->uri);
    if (!conn) {
        char *e = last_error();
        char *m = xasprintf("connecting to %s: %s", o->uri, e);
        free(e);
        return m;
    }
    char *error = NULL;
    virDomainPtr dom = virDomainLookupByName(conn, name);
    if (!dom) {
        dom = virDomainLookupByUUIDString(conn, name);
    }
    if (!dom) {
        error = xasprintf("no domain %s", name);
        virConnectClose(conn);
        return error;
    }
    char uuid[VIR_UUID_STRING_BUFLEN];
    virDomainGetUUIDString(dom, uuid);
    char *xml = virDomainGetXMLDesc(dom, VIR_DOMAIN_XML_INACTIVE);
    if (!xml) {
        char *e = last_error();
        error = xasprintf("reading %s: %s", name, e);
        free(e);
        goto out;
    }
    if (!strcmp(cmd, "show")) {
        char *out, *notes;
        error = edit(o, true, xml, uuid, &out, &notes);
        if (!error) {
            printf("%s: %s\n", name, out ? "not under appfw" : "under appfw");
            free(out);
            free(notes);
        }
        goto out;
    }
    bool attach = !strcmp(cmd, "attach");
    char *out, *notes;
    error = edit(o, attach, xml, uuid, &out, &notes);
    if (error) {
        goto out;
    }
    if (out) {
        virDomainPtr def = virDomainDefineXML(conn, out);
        if (!def) {
            char *e = last_error();
            error = xasprintf("defining %s: %s", name, e);
            free(e);
        } else {
            virDomainFree(def);
        }
    }
    if (!error && attach && out && virDomainIsActive(dom) == 1) {
        /* The channel at once, too; the virtualport needs a restart. */
        char *cx = channel_xml(o, uuid);
        if (virDomainAttachDeviceFlags(dom, cx, VIR_DOMAIN_AFFECT_LIVE)) {
            char *e = last_error();
            fprintf(stderr, "appfw-vmctl: %s is running and the channel "
                    "could not be added live (%s): it comes with the next "
                    "start\n", name, e);
            free(e);
        }
        free(cx);
    }
    if (!error) {
        printf("%s: %s%s\n", name, notes, out ? "" : " (nothing changed)");
        if (o->dump) {
            char *now = virDomainGetXMLDesc(dom, VIR_DOMAIN_XML_INACTIVE);
            if (now) {
                fputs(now, stdout);
                free(now);
            }
        }
    }
    free(out);
    free(notes);

out:
    free(xml);
    virDomainFree(dom);
    virConnectClose(conn);
    return error;
}

/* libvirt prints its errors itself unless told otherwise. */
static void
quiet(void *aux, virErrorPtr e)
{
    (void) aux;
    (void) e;
}

int
main(int argc, char **argv)
{
    struct opts o = { .uri = "qemu:///system", .bridge = "br-int" };
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage();
            return 0;
        } else if (!strcmp(a, "--dump")) {
            o.dump = true;
        } else if (i + 1 < argc && !strcmp(a, "--connect")) {
            o.uri = argv[++i];
        } else if (i + 1 < argc && !strcmp(a, "--bridge")) {
            o.bridge = argv[++i];
        } else if (i + 1 < argc && !strcmp(a, "--channel-dir")) {
            o.channel_dir = argv[++i];
        } else if (i + 1 < argc && !strcmp(a, "--address")) {
            if (o.n_addrs >= MAX_ADDRS) {
                fprintf(stderr, "appfw-vmctl: at most %d --address\n",
                        MAX_ADDRS);
                return 2;
            }
            o.addrs[o.n_addrs++] = argv[++i];
        } else {
            fprintf(stderr, "appfw-vmctl: unknown or incomplete option %s "
                    "(see --help)\n", a);
            return 2;
        }
    }
    if (argc - i != 2 || (strcmp(argv[i], "attach")
                          && strcmp(argv[i], "detach")
                          && strcmp(argv[i], "show"))) {
        fprintf(stderr, "appfw-vmctl: expected attach|detach|show DOMAIN "
                "(see --help)\n");
        return 2;
    }
    if (o.channel_dir && o.channel_dir[0] != '/') {
        fprintf(stderr, "appfw-vmctl: --channel-dir must be absolute\n");
        return 2;
    }
    virSetErrorFunc(NULL, quiet);
    char *error = run(&o, argv[i], argv[i + 1]);
    xmlCleanupParser();
    if (error) {
        fprintf(stderr, "appfw-vmctl: %s\n", error);
        free(error);
        return 1;
    }
    return 0;
}
